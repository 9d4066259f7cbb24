//! `scanpay merchant …` and `scanpay hub settlement`: a merchant's and an operator's calls to the
//! hub, with a token from a flag, the environment, or the data directory `scanpay up` wrote.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use scanpay_core::money::{Currency, parse_major};
use serde_json::{Value, json};

pub use crate::client::HubClient as Client;

/// A merchant's token: `token` if given, else the seeded merchant's token file (`merchant`, or
/// the only one there is).
pub fn merchant_token(
    token: Option<String>,
    data_dir: &Path,
    merchant: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(token) = token {
        return Ok(token);
    }
    let path = match merchant {
        Some(id) => crate::system::merchant_token_path(data_dir, id),
        None => {
            let dir = data_dir.join("merchants");
            let files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .with_context(|| format!("no merchants in {} (pass --token)", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "token"))
                .collect();
            match files.as_slice() {
                [one] => one.clone(),
                [] => bail!("no merchant tokens in {} (pass --token)", dir.display()),
                many => bail!(
                    "several merchants in {}: pass --merchant with one of {}",
                    dir.display(),
                    many.iter()
                        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    };
    Ok(std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_string())
}

fn money(amount: i64, currency: &str) -> String {
    scanpay_core::money::display(amount, currency)
}

/// Refunds a payment, all that is left or `amount` (major units).
pub async fn refund(client: &Client, payment: &str, amount: Option<&str>) -> anyhow::Result<()> {
    let current = client
        .call(
            reqwest::Method::GET,
            &format!("/v1/payments/{payment}"),
            None,
        )
        .await?;
    let currency = current["currency"].as_str().unwrap_or("USD").to_string();
    let body = match amount {
        Some(text) => {
            let parsed = Currency::parse(&currency).map_err(|e| anyhow::anyhow!("{e}"))?;
            let minor =
                parse_major(text, parsed).map_err(|e| anyhow::anyhow!("--amount {text}: {e}"))?;
            json!({ "amount_minor": minor })
        }
        None => json!({}),
    };
    let after = client
        .call(
            reqwest::Method::POST,
            &format!("/v1/payments/{payment}/refunds"),
            Some(body),
        )
        .await?;
    let refund = after["refunds"]
        .as_array()
        .and_then(|r| r.last())
        .context("no refund in the answer")?;
    println!(
        "Refund {} of {}: {}. Refunded so far {}, left {}.",
        refund["id"].as_str().unwrap_or("?"),
        money(refund["amount_minor"].as_i64().unwrap_or(0), &currency),
        refund["status"].as_str().unwrap_or("?"),
        money(after["refunded_minor"].as_i64().unwrap_or(0), &currency),
        money(after["refundable_minor"].as_i64().unwrap_or(0), &currency),
    );
    Ok(())
}

/// The merchant's payments, newest first.
pub async fn payments(client: &Client) -> anyhow::Result<()> {
    let page = client
        .call(reqwest::Method::GET, "/v1/payments?limit=50", None)
        .await?;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("No payments yet.");
    }
    for item in items {
        let currency = item["currency"].as_str().unwrap_or("USD");
        println!(
            "{}  {:>14}  refunded {:>14}  {:<22} {:<20} {}",
            item["created_at"].as_str().unwrap_or(""),
            money(item["amount_minor"].as_i64().unwrap_or(0), currency),
            money(item["refunded_minor"].as_i64().unwrap_or(0), currency),
            item["payer"]["name"].as_str().unwrap_or("?"),
            item["status"].as_str().unwrap_or("?"),
            item["id"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// Revokes a registration's code on its user's behalf (operators).
pub async fn revoke(client: &Client, registration: &str) -> anyhow::Result<()> {
    let id = uuid::Uuid::parse_str(registration.trim()).context("a registration id")?;
    let revoked = client
        .call(
            reqwest::Method::POST,
            &format!("/v1/registrations/{id}/revoke"),
            Some(serde_json::json!({})),
        )
        .await?;
    println!(
        "Registration {id} ({} at {}) is {}: its code pays no more.",
        revoked["card"]["card_masked"].as_str().unwrap_or("?"),
        revoked["bank_id"].as_str().unwrap_or("?"),
        revoked["state"].as_str().unwrap_or("?"),
    );
    Ok(())
}

/// Forgets a wallet's authenticator (operators): the user lost it.
pub async fn reset_authenticator(client: &Client, wallet: &str) -> anyhow::Result<()> {
    let id = uuid::Uuid::parse_str(wallet.trim()).context("a wallet id")?;
    let reset = client
        .call(
            reqwest::Method::POST,
            &format!("/v1/callers/{id}/totp/reset"),
            Some(serde_json::json!({})),
        )
        .await?;
    if reset["had_authenticator"].as_bool() == Some(true) {
        println!("The wallet's authenticator is forgotten; it may enroll a new one.");
    } else {
        println!("The wallet had no authenticator; nothing changed.");
    }
    Ok(())
}

/// Each bank's net position for `date` and whether the books reconcile (operators).
pub async fn settlement(client: &Client, date: &str) -> anyhow::Result<Value> {
    let report = client
        .call(
            reqwest::Method::GET,
            &format!("/v1/settlement?date={date}"),
            None,
        )
        .await?;
    println!("Interbank settlement for {date} (UTC):");
    let positions = report["positions"].as_array().cloned().unwrap_or_default();
    if positions.is_empty() {
        println!("  no interbank payments that day");
    }
    for p in &positions {
        let currency = p["currency"].as_str().unwrap_or("USD");
        let net = p["net_minor"].as_i64().unwrap_or(0);
        println!(
            "  {:<10} paid out {:>16}  received {:>16}  net {:>16} ({})",
            p["bank_id"].as_str().unwrap_or("?"),
            money(p["paid_out_minor"].as_i64().unwrap_or(0), currency),
            money(p["received_minor"].as_i64().unwrap_or(0), currency),
            money(net, currency),
            if net > 0 {
                "owes"
            } else if net < 0 {
                "is owed"
            } else {
                "even"
            }
        );
    }
    println!("Clearing accounts against the hub's records:");
    for check in report["reconciliation"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        println!(
            "  {:<10} balance {:>14}  expected {:>14}  {}",
            check["bank_id"].as_str().unwrap_or("?"),
            check["clearing_balance_minor"].as_i64().unwrap_or(0),
            check["expected_balance_minor"].as_i64().unwrap_or(0),
            if check["agrees"] == true {
                "agrees"
            } else {
                "DIFFERS"
            }
        );
    }
    let held = report["held"].as_array().cloned().unwrap_or_default();
    if !held.is_empty() {
        println!("Held in clearing accounts after a refused reversal (an operator must move it):");
    }
    for h in &held {
        let currency = h["currency"].as_str().unwrap_or("USD");
        let what = match h["refund_id"].as_str() {
            Some(refund) => format!("refund {refund} of payment"),
            None => "payment".to_string(),
        };
        println!(
            "  {:<10} {:>16}  {what} {}  owed to {}  ({})",
            h["bank_id"].as_str().unwrap_or("?"),
            money(h["amount_minor"].as_i64().unwrap_or(0), currency),
            h["payment_id"].as_str().unwrap_or("?"),
            h["owed_to"].as_str().unwrap_or("?"),
            h["code"].as_str().unwrap_or("?"),
        );
    }
    if report["reconciled"] == true {
        println!("The books of hub and banks reconcile; the nets sum to zero.");
    } else {
        println!("The books differ (an interbank leg may be in flight): run it again in a moment.");
    }
    Ok(report)
}
