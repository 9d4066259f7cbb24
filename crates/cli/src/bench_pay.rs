//! `scanpay bench pay`: registered wallets paying a merchant end to end — wallet → hub → bank →
//! durable commit, real HTTP on both hops — against a system started in this process on a fresh
//! SQLite data directory (default) or fresh PostgreSQL schemas.
//!
//! Setup registers the wallets through the hub (fields path) and makes one verified payment from
//! each, so the merchant is a known payee. The measured payments are repeat payments under the
//! low-value exemption (the bench raises the exemption's count and sum limits so that it can run
//! for any time; the single-payment limit stays), so each is one `POST /v1/payments`. Two phases:
//! as fast as the connections go, then paced at 70% of that rate for the latency target. Then
//! the books are audited: the merchant's balance is what the answers say was paid, and debits
//! equal credits. On PostgreSQL pgbench's TPC-B-like script runs on the same server for a ratio.
//! With `--across-banks` the payers bank at south and the merchant at north, so every payment is
//! a debit at one bank and a clearing credit at the other, and the audit also asks the hub for
//! the day's settlement, which must reconcile with both banks' clearing accounts. A payment
//! answered other than 201 (a 202, debited with its credit still to come; an error after the
//! bank was asked) counts as an error, and may still succeed: when there were any, the audit
//! waits until the hub has none of the wallets' payments processing and expects what its
//! records say succeeded instead of what the answers said.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use uuid::Uuid;

use scanpay_store::WriterStats;

use crate::bench::quantile_ms;

pub struct PayBench {
    pub duration: Duration,
    pub database_url: Option<String>,
    pub wallets: usize,
    pub connections: usize,
    pub pgbench_seconds: u64,
    /// Payers at bank south pay the merchant at bank north: every payment is a debit at one bank
    /// and a clearing credit at the other, and the day's settlement must reconcile after.
    pub across_banks: bool,
    /// Hubs on the one PostgreSQL database; the connections take them in turn.
    pub hubs: usize,
}

/// What the bench needs of one wallet.
struct BenchWallet {
    token: String,
    code: String,
    terminal: String,
}

struct Phase {
    paid: u64,
    paid_minor: i64,
    errors: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn per_second(&self) -> f64 {
        self.paid as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self, backend: &str, mode: &str) {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        println!(
            "bench pay {backend} ({mode}): {:.0} payments/s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, {} payments, {} errors",
            self.per_second(),
            quantile_ms(&sorted, 0.50),
            quantile_ms(&sorted, 0.99),
            quantile_ms(&sorted, 0.999),
            self.paid,
            self.errors
        );
    }
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let mut request = http.post(url).json(body);
    if let Some(token) = token {
        request = request
            .bearer_auth(token)
            .header("idempotency-key", Uuid::new_v4().to_string());
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

async fn signed(
    http: &reqwest::Client,
    bank_url: &str,
    secret: &[u8],
    path: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let bytes = serde_json::to_vec(body)?;
    let timestamp = scanpay_http::now_ms() / 1000;
    let signature = scanpay_proto::signing::sign(secret, timestamp, "POST", path, &bytes);
    let response = http
        .post(format!("{bank_url}{path}"))
        .header(
            scanpay_proto::signing::HEADER_TIMESTAMP,
            timestamp.to_string(),
        )
        .header(scanpay_proto::signing::HEADER_SIGNATURE, signature)
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await?;
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status < 300, "{path}: {status} {answer}");
    Ok(answer)
}

async fn signed_get<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    bank_url: &str,
    secret: &[u8],
    path: &str,
) -> anyhow::Result<T> {
    let timestamp = scanpay_http::now_ms() / 1000;
    let signature = scanpay_proto::signing::sign(secret, timestamp, "GET", path, b"");
    Ok(http
        .get(format!("{bank_url}{path}"))
        .header(
            scanpay_proto::signing::HEADER_TIMESTAMP,
            timestamp.to_string(),
        )
        .header(scanpay_proto::signing::HEADER_SIGNATURE, signature)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

pub async fn pay(options: PayBench) -> anyhow::Result<()> {
    if options.hubs > 1 && options.database_url.is_none() {
        bail!("--hubs: several hubs share a PostgreSQL database; give --database-url");
    }
    let data = std::env::temp_dir().join(format!("scanpay-bench-pay-{}", Uuid::new_v4().simple()));
    let mut seed = scanpay_bank::seed::SeedFile::parse(scanpay_bank::seed::DEMO)?;
    for bank in &mut seed.bank {
        bank.generated_customers = 0;
    }
    let policy = scanpay_core::payment::Policy {
        exemption_count_max: u32::MAX,
        exemption_cumulative_max_minor: i64::MAX,
        ..Default::default()
    };
    let schema_prefix = match &options.database_url {
        Some(_) => format!("bench{}_", &Uuid::new_v4().simple().to_string()[..8]),
        None => String::new(),
    };
    let backend = if options.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let config = crate::system::SystemConfig {
        data_dir: data.clone(),
        database_url: options.database_url.clone(),
        host: [127, 0, 0, 1].into(),
        port: 0,
        seed,
        schema_prefix: schema_prefix.clone(),
        payment_policy: policy,
        code_command: None,
        webhooks_to_private_networks: false,
    };
    let mut running = crate::system::start(&config).await?;
    // The system is stopped and its data dropped below, whatever happens here.
    let result = async {
        for _ in 1..options.hubs {
            running.add_hub(&config).await?;
        }
        run(&options, &running, &data, backend).await
    }
    .await;
    running.stop().await;
    let _ = std::fs::remove_dir_all(&data);
    if let Some(url) = &options.database_url {
        drop_schemas(url, &schema_prefix).await;
    }
    let measured = result?;
    if let Some(url) = &options.database_url {
        let tps = crate::bench::pgbench_tps(url, options.pgbench_seconds).await?;
        println!(
            "ratio to pgbench: {:.2}x (target ≥ 2x)",
            measured.per_second() / tps
        );
    }
    Ok(())
}

/// Drops the schemas whose names start with `prefix`.
pub(crate) async fn drop_schemas(url: &str, prefix: &str) {
    let sql = format!(
        "DO $$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE '{prefix}%' LOOP EXECUTE 'DROP SCHEMA ' || quote_ident(s) || ' CASCADE'; END LOOP; END $$;"
    );
    let _ = tokio::process::Command::new("psql")
        .arg(url)
        .args(["-q", "-c", &sql])
        .output()
        .await;
}

async fn run(
    options: &PayBench,
    running: &crate::system::RunningSystem,
    data: &std::path::Path,
    backend: &str,
) -> anyhow::Result<Phase> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections * 2)
        .build()?;
    let hub = running.hub_url().to_string();
    let bank = |id: &str| -> anyhow::Result<(String, Vec<u8>)> {
        let (_, url) = running
            .bank_urls
            .iter()
            .find(|(bank, _)| bank == id)
            .with_context(|| format!("the demo seed has bank {id}"))?;
        let secret = crate::system::secret(&crate::system::secret_path(data, id))?;
        Ok((url.clone(), secret))
    };
    // The merchant banks at north; its payers at north too, or at south (a card range of each).
    let (bank_url, secret) = bank("north")?;
    let (payer_bank, card_prefix) = if options.across_banks {
        ("south", "52")
    } else {
        ("north", "4")
    };
    let (payer_url, payer_secret) = bank(payer_bank)?;
    let funding: Value = signed_get(
        &http,
        &payer_url,
        &payer_secret,
        "/v1/accounts?kind=funding",
    )
    .await?;
    let funding = funding[0]["id"]
        .as_str()
        .context("a funding account")?
        .to_string();
    let merchants = http
        .get(format!("{hub}/v1/merchants"))
        .bearer_auth(&running.operator_token)
        .send()
        .await?
        .json::<Value>()
        .await?;
    let merchant = merchants
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "Corner Cafe"))
        .and_then(|m| m["id"].as_str())
        .context("the seeded merchant Corner Cafe")?
        .to_string();
    let merchant_account = scanpay_bank::seed::merchant_account_id("north", "corner_cafe");

    eprintln!("setting up {} wallets …", options.wallets);
    let mut wallets = Vec::new();
    let mut setup_minor = 0i64;
    for index in 0..options.wallets {
        let name = format!("PAYER {index:05}");
        let document = format!("Q{index:08}");
        let customer = signed(
            &http,
            &payer_url,
            &payer_secret,
            "/v1/customers",
            &json!({"full_name": name, "id_document_type": "passport",
                    "id_document_number": document, "birth_date": "1985-05-05"}),
        )
        .await?;
        let account = signed(
            &http,
            &payer_url,
            &payer_secret,
            "/v1/accounts",
            &json!({"customer_id": customer["id"], "currency": "USD"}),
        )
        .await?;
        let account = account["id"].as_str().context("an account id")?.to_string();
        let partial = format!(
            "{card_prefix}{:0width$}",
            200_000_000 + index,
            width = 15 - card_prefix.len()
        );
        let check = scanpay_core::card::luhn_check_digit(&partial).context("digits")?;
        let number = format!("{partial}{check}");
        signed(
            &http,
            &payer_url,
            &payer_secret,
            "/v1/cards",
            &json!({"account_id": account, "card_number": number, "expiry_month": 12,
                    "expiry_year": 2031, "holder_name": name}),
        )
        .await?;
        signed(
            &http,
            &payer_url,
            &payer_secret,
            "/v1/transfers",
            &json!({"id": Uuid::new_v4(), "debit_account_id": funding, "credit_account_id": account,
                    "amount_minor": 1_000_000_000_000i64, "currency": "USD"}),
        )
        .await?;
        let (_, signed_up) = post(
            &http,
            format!("{hub}/v1/wallets"),
            None,
            &json!({"name": name}),
        )
        .await?;
        let token = signed_up["token"].as_str().context("a token")?.to_string();
        let terminal = format!("bench-terminal-{index}");
        let (_, session) = post(
            &http,
            format!("{hub}/v1/registrations"),
            Some(&token),
            &json!({"terminal_id": terminal}),
        )
        .await?;
        let id = session["id"]
            .as_str()
            .context("a registration")?
            .to_string();
        let (status, fields) = post(
            &http,
            format!("{hub}/v1/registrations/{id}/fields"),
            Some(&token),
            &json!({"identity": {"full_name": name, "document_type": "passport",
                                 "document_number": document, "birth_date": "1985-05-05",
                                 "expiry_date": "2032-01-01"},
                    "card": {"card_number": number, "expiry_month": 12, "expiry_year": 2031}}),
        )
        .await?;
        anyhow::ensure!(status == 200, "fields: {fields}");
        let (_, confirmed) = post(
            &http,
            format!("{hub}/v1/registrations/{id}/confirm"),
            Some(&token),
            &json!({}),
        )
        .await?;
        let code = confirmed["registration_code"]
            .as_str()
            .with_context(|| format!("no code: {confirmed}"))?
            .to_string();
        // The first payment to the merchant, with its verification code.
        let (status, created) = post(
            &http,
            format!("{hub}/v1/payments"),
            Some(&token),
            &json!({"registration_code": code, "terminal_id": terminal, "payee_id": merchant,
                    "amount_minor": 100, "currency": "USD"}),
        )
        .await?;
        anyhow::ensure!(status == 202, "first payment: {created}");
        let payment = created["id"].as_str().context("a payment id")?.to_string();
        let notes = http
            .get(format!("{hub}/v1/notifications"))
            .bearer_auth(&token)
            .send()
            .await?
            .json::<Value>()
            .await?;
        let sent = notes["items"]
            .as_array()
            .and_then(|items| items.iter().find(|n| n["payment_id"] == payment.as_str()))
            .and_then(|n| n["verification_code"].as_str())
            .context("the verification code")?
            .to_string();
        let (status, verified) = post(
            &http,
            format!("{hub}/v1/payments/{payment}/verify"),
            Some(&token),
            &json!({"verification_code": sent, "amount_minor": 100, "currency": "USD",
                    "payee_id": merchant}),
        )
        .await?;
        anyhow::ensure!(status == 200, "verify: {verified}");
        setup_minor += 100;
        wallets.push(BenchWallet {
            token,
            code,
            terminal,
        });
    }
    let wallets = Arc::new(wallets);
    let context = Driver {
        http,
        hub,
        hubs: running.hub_urls.clone(),
        merchant,
        wallets,
        connections: options.connections,
    };

    // The writers' counts around each phase, read from `/metrics` as an operator would.
    let mut writers = vec![
        (
            "hub",
            format!("{}/metrics", context.hub),
            Some(running.operator_token.as_str()),
        ),
        ("bank north", format!("{bank_url}/metrics"), None),
    ];
    if options.across_banks {
        writers.push(("bank south", format!("{payer_url}/metrics"), None));
    }
    let counts = async || {
        let mut all = Vec::new();
        for (_, url, token) in &writers {
            all.push(writer_counts(&context.http, url, *token).await?);
        }
        anyhow::Ok(all)
    };
    let before = counts().await?;
    let full = context.drive(options.duration, None).await;
    let after = counts().await?;
    let hubs = match options.hubs {
        1 => String::new(),
        n => format!(", {n} hubs"),
    };
    full.print(
        backend,
        &format!(
            "{} connections{hubs}, as fast as they go",
            options.connections
        ),
    );
    print_writers(&writers, &before, &after, &full);
    let rate = full.per_second() * 0.7;
    let paced = context.drive(options.duration, Some(rate)).await;
    paced.print(backend, &format!("paced at {rate:.0}/s{hubs}, 70% of that"));
    print_writers(&writers, &after, &counts().await?, &paced);

    // The audit: the merchant holds exactly what the answers say was paid — or, where some were
    // not answered 201, what the hub's records say succeeded once none is processing.
    let answered = setup_minor + full.paid_minor + paced.paid_minor;
    let expected = if full.errors + paced.errors == 0 {
        answered
    } else {
        let settled = context.settled_minor().await?;
        println!(
            "audit: {} payments not answered 201; the hub's records say {} more was paid",
            full.errors + paced.errors,
            settled - answered
        );
        settled
    };
    let account: Value = signed_get(
        &context.http,
        &bank_url,
        &secret,
        &format!("/v1/accounts/{merchant_account}"),
    )
    .await?;
    let balance = account["balance_minor"].as_i64().unwrap_or(-1);
    if balance != expected {
        bail!("audit failed: merchant balance {balance}, expected {expected}");
    }
    let mut banks = vec![(bank_url.as_str(), secret.as_slice())];
    if options.across_banks {
        banks.push((payer_url.as_str(), payer_secret.as_slice()));
    }
    for (url, secret) in banks {
        let totals: scanpay_proto::bank::LedgerTotalsView =
            signed_get(&context.http, url, secret, "/v1/ledger/totals").await?;
        if totals.debits_posted_minor != totals.credits_posted_minor {
            bail!("audit failed at {url}: debits and credits differ: {totals:?}");
        }
    }
    println!(
        "audit: the merchant's balance is the sum of the payments that succeeded; debits equal credits"
    );
    if options.across_banks {
        // Every payment moved through both clearing accounts: the hub's books must match them.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as i64;
        let day = scanpay_core::registration::Day::from_unix_ms(now_ms);
        let today = format!("{:04}-{:02}-{:02}", day.year, day.month, day.day);
        let started = Instant::now();
        let report = context
            .http
            .get(format!("{}/v1/settlement?date={today}", context.hub))
            .bearer_auth(&running.operator_token)
            .send()
            .await?
            .error_for_status()?
            .json::<Value>()
            .await?;
        if report["reconciled"] != true {
            bail!("audit failed: settlement does not reconcile: {report}");
        }
        println!(
            "audit: the day's settlement reconciles with both banks' clearing accounts ({:.1} ms)",
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(full)
}

/// A service's writer counts from its `/metrics`; `None` where the store has no writer of its
/// own (PostgreSQL).
async fn writer_counts(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> anyhow::Result<Option<WriterStats>> {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let text = request.send().await?.error_for_status()?.text().await?;
    let mut stats = WriterStats::default();
    let mut seen = false;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let field = match series {
            "store_write_groups_total" => &mut stats.groups,
            "store_writes_total" => &mut stats.writes,
            r#"store_writer_microseconds_total{phase="running"}"# => &mut stats.running_us,
            r#"store_writer_microseconds_total{phase="committing"}"# => &mut stats.committing_us,
            _ => continue,
        };
        *field = value.parse().context("a counter's value")?;
        seen = true;
    }
    Ok(seen.then_some(stats))
}

/// How busy each writer was over a phase: where it is near 100%, every write queued for it, and
/// it set the pace. Writes a payment do not depend on the machine's speed, as the rest does.
fn print_writers(
    writers: &[(&str, String, Option<&str>)],
    before: &[Option<WriterStats>],
    after: &[Option<WriterStats>],
    phase: &Phase,
) {
    let phase_us = phase.elapsed.as_micros().max(1) as f64;
    for ((name, _, _), (before, after)) in writers.iter().zip(before.iter().zip(after)) {
        let (Some(before), Some(after)) = (before, after) else {
            continue;
        };
        let share = |b: u64, a: u64| 100.0 * a.saturating_sub(b) as f64 / phase_us;
        let running = share(before.running_us, after.running_us);
        let committing = share(before.committing_us, after.committing_us);
        let groups = after.groups.saturating_sub(before.groups).max(1);
        let writes = after.writes.saturating_sub(before.writes) as f64;
        println!(
            "  {name}'s writer busy {:.0}% of the phase (writes {running:.0}%, commit \
             {committing:.0}%), {:.2} writes a payment, {:.1} a commit, {:.2} ms a commit",
            running + committing,
            writes / phase.paid.max(1) as f64,
            writes / groups as f64,
            (after.committing_us.saturating_sub(before.committing_us)) as f64 / groups as f64 / 1e3,
        );
    }
}

struct Driver {
    http: reqwest::Client,
    /// The first hub: setup and the audit's reads go there.
    hub: String,
    /// Every hub; worker `i` pays through hub `i % hubs.len()`.
    hubs: Vec<String>,
    merchant: String,
    wallets: Arc<Vec<BenchWallet>>,
    connections: usize,
}

impl Driver {
    /// What the wallets paid the merchant, by the hub's records, once none of their payments
    /// is processing any more (the resolver finishes those; at most a minute is waited).
    async fn settled_minor(&self) -> anyhow::Result<i64> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (mut total, mut settled) = (0, true);
            for wallet in self.wallets.iter() {
                match self.paid_by(wallet).await? {
                    Some(paid) => total += paid,
                    None => {
                        settled = false;
                        break;
                    }
                }
            }
            if settled {
                return Ok(total);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "payments still processing after a minute"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// What `wallet` paid the merchant, by the hub's records; `None` while one of its payments
    /// to it is processing.
    async fn paid_by(&self, wallet: &BenchWallet) -> anyhow::Result<Option<i64>> {
        let (mut total, mut cursor) = (0, None::<String>);
        loop {
            let mut url = format!("{}/v1/payments?limit=100", self.hub);
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let page: Value = self
                .http
                .get(url)
                .bearer_auth(&wallet.token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let items = page["items"].as_array().into_iter().flatten();
            for item in items.filter(|item| item["payee"]["id"] == self.merchant.as_str()) {
                match item["status"].as_str() {
                    Some("succeeded") => total += item["amount_minor"].as_i64().unwrap_or(0),
                    Some("processing") => return Ok(None),
                    _ => {}
                }
            }
            cursor = page["next_cursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                return Ok(Some(total));
            }
        }
    }

    /// Pays from `connections` workers for `duration`; `rate`: in all, at most this many a second.
    async fn drive(&self, duration: Duration, rate: Option<f64>) -> Phase {
        let deadline = Instant::now() + duration;
        let started = Instant::now();
        let progress = Arc::new(AtomicU64::new(0));
        let reporter = {
            let progress = progress.clone();
            tokio::spawn(async move {
                let width = 30usize;
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let elapsed = started.elapsed().as_secs_f64();
                    let done = ((elapsed / duration.as_secs_f64()) * width as f64) as usize;
                    let paid = progress.load(Ordering::Relaxed);
                    eprint!(
                        "\r[{}{}] {:>4.0}s {:>9} paid ({:.0}/s) ",
                        "#".repeat(done.min(width)),
                        " ".repeat(width - done.min(width)),
                        elapsed,
                        paid,
                        paid as f64 / elapsed
                    );
                }
            })
        };
        let interval = rate.map(|r| Duration::from_secs_f64(self.connections as f64 / r.max(1.0)));
        let connections = self.connections;
        let mut workers = Vec::new();
        for worker in 0..self.connections {
            let http = self.http.clone();
            let hub = self.hubs[worker % self.hubs.len()].clone();
            let merchant = self.merchant.clone();
            let wallets = self.wallets.clone();
            let progress = progress.clone();
            workers.push(tokio::spawn(async move {
                let wallet = &wallets[worker % wallets.len()];
                let mut phase = Phase {
                    paid: 0,
                    paid_minor: 0,
                    errors: 0,
                    elapsed: Duration::ZERO,
                    latencies: Vec::new(),
                };
                // Paced workers start spread over one interval, so that payments arrive evenly
                // (all starting at once, they arrived in bursts of `connections`, and the latency
                // measured was a burst's, not the rate's).
                let mut next_at = match interval {
                    Some(interval) => {
                        started + interval.mul_f64(worker as f64 / connections as f64)
                    }
                    None => started,
                };
                let mut amount = 1 + (worker as i64 % 97);
                while Instant::now() < deadline {
                    // Paced, a payment's latency counts from when it was due, not from when a
                    // worker held up by the previous one got to send it (no coordinated omission).
                    let sent = match interval {
                        Some(interval) => {
                            tokio::time::sleep_until(next_at.into()).await;
                            let due = next_at;
                            next_at += interval;
                            due
                        }
                        None => Instant::now(),
                    };
                    amount = amount % 2_999 + 1;
                    let answer = post(
                        &http,
                        format!("{hub}/v1/payments"),
                        Some(&wallet.token),
                        &json!({"registration_code": wallet.code, "terminal_id": wallet.terminal,
                                "payee_id": merchant, "amount_minor": amount, "currency": "USD"}),
                    )
                    .await;
                    phase.latencies.push(sent.elapsed());
                    match answer {
                        Ok((201, _)) => {
                            phase.paid += 1;
                            phase.paid_minor += amount;
                            progress.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => phase.errors += 1,
                    }
                }
                phase
            }));
        }
        let mut total = Phase {
            paid: 0,
            paid_minor: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latencies: Vec::new(),
        };
        for worker in workers {
            if let Ok(phase) = worker.await {
                total.paid += phase.paid;
                total.paid_minor += phase.paid_minor;
                total.errors += phase.errors;
                total.latencies.extend(phase.latencies);
            }
        }
        total.elapsed = started.elapsed();
        reporter.abort();
        eprintln!();
        total
    }
}
