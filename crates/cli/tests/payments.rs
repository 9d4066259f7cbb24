//! Payments with a registration code (seed 000 claim 9, seed 002), over HTTP with the real hub
//! and banks, on both stores: verification codes, step-up, the low-value exemption, outcome
//! codes, refunds, interbank settlement, and concurrency on one account.

#[macro_use]
mod common;

use common::{
    Answer, Backend, BankClient, Hub, Payer, TestSystem, code_for, letters, net_of, pay, pay_from,
    refund, settlement_today, unique, verify,
};
use serde_json::{Value, json};

on_both_backends!(
    pays_a_merchant_with_a_code_then_repeats_without_one,
    every_outcome_has_its_code,
    codes_are_bound_single_use_and_block_after_five_wrong,
    another_terminal_needs_a_step_up,
    an_expired_code_fails_and_a_new_one_works,
    interbank_payments_refund_and_settle_to_zero,
    concurrent_payments_spend_exactly_the_balance,
    webhooks_are_signed_retried_and_rotated,
    webhooks_reach_public_addresses_only,
    a_receiver_that_never_answers_holds_up_only_its_merchant,
    a_bank_decides_a_batch_of_payments_one_by_one,
    an_authenticator_code_verifies_a_payment_once,
    the_code_arrives_as_a_server_sent_event,
    a_credit_the_payee_bank_refuses_is_given_back,
    a_refund_credit_the_payer_bank_refuses_is_given_back,
    a_refused_refund_reversal_is_held_for_an_operator,
    phone_and_password_codes_pay,
    codes_sealed_to_the_bound_terminal_open_only_there,
    a_revoked_code_pays_no_more_and_the_card_registers_again,
    a_session_tests_five_taken_codes_at_most,
    an_operator_resets_a_lost_authenticator,
    a_hub_may_require_terminal_keys,
    a_closed_account_neither_pays_nor_is_paid,
);

async fn sign_up(system: &TestSystem, name: &str) -> Hub {
    common::sign_up(system.running().hub_url(), name).await
}

async fn registered(system: &TestSystem, bank_id: &str, balance: i64) -> Payer {
    common::register_payer(
        system.running().hub_url(),
        &system.bank(bank_id),
        bank_id,
        balance,
    )
    .await
}

/// A merchant with a payout account at `bank_id`: its hub client, id and account.
async fn merchant(system: &TestSystem, bank_id: &str) -> (Hub, String, String) {
    let account = system.bank(bank_id).open_account("Corner Cafe").await;
    let created = system
        .hub()
        .post(
            "/v1/callers",
            &json!({"kind": "merchant", "name": format!("Cafe {}", letters(4)),
                    "payout": {"bank_id": bank_id, "account_id": account}}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let client = system
        .hub()
        .with_token(created.body["token"].as_str().unwrap());
    let id = created.body["caller"]["id"].as_str().unwrap().to_string();
    (client, id, account)
}

/// Pays with a code: create, read the code from the notifications, verify.
async fn pay_verified(payer: &Payer, payee: &str, amount: i64) -> Answer {
    let created = pay(payer, payee, amount, &unique("pay-")).await;
    assert_eq!(created.status, 202, "{created:?}");
    let id = created.body["id"].as_str().unwrap();
    let code = code_for(&payer.wallet, id).await;
    verify(payer, id, &code, amount, payee).await
}

/// The kinds of a caller's notifications once there are `count` (outcomes are written just after
/// the answer, so they may trail it by a moment).
async fn kinds_when(caller: &Hub, count: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let page = caller.get("/v1/notifications").await;
        let kinds: Vec<String> = page.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["kind"].as_str().unwrap().to_string())
            .collect();
        if kinds.len() >= count || std::time::Instant::now() > deadline {
            return kinds;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn balance(system: &TestSystem, bank: &str, account: &str) -> i64 {
    system.bank(bank).balance(account).await
}

async fn pays_a_merchant_with_a_code_then_repeats_without_one(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let payer = registered(&system, "north", 10_000).await;
    let (shop, shop_id, shop_account) = merchant(&system, "north").await;

    // The first payment to a payee needs a code, sent to the wallet's notification stream.
    let key = unique("pay-");
    let created = pay(&payer, &shop_id, 1_234, &key).await;
    assert_eq!(created.status, 202, "{created:?}");
    assert_eq!(created.body["status"], "requires_verification");
    assert_eq!(
        created.body["next_action"]["reason"],
        "verification_required"
    );
    assert_eq!(created.body["next_action"]["tries_left"], 5);
    let id = created.body["id"].as_str().unwrap().to_string();
    let replay = pay(&payer, &shop_id, 1_234, &key).await;
    assert_eq!(
        replay.body["id"],
        id.as_str(),
        "a retried request is the same payment"
    );
    assert_eq!(balance(&system, "north", &payer.account).await, 10_000);

    let code = code_for(&payer.wallet, &id).await;
    assert_eq!(code.len(), 6);
    let paid = verify(&payer, &id, &code, 1_234, &shop_id).await;
    assert_eq!(paid.status, 200, "{paid:?}");
    assert_eq!(paid.body["status"], "succeeded");
    assert_eq!(paid.body["interbank"], false);
    assert_eq!(balance(&system, "north", &payer.account).await, 8_766);
    assert_eq!(balance(&system, "north", &shop_account).await, 1_234);

    // A small repeat payment to a known payee goes straight through (low-value exemption).
    let again = pay(&payer, &shop_id, 500, &unique("pay-")).await;
    assert_eq!(again.status, 201, "{again:?}");
    assert_eq!(again.body["exempted"], true);
    assert_eq!(balance(&system, "north", &payer.account).await, 8_266);
    // A larger one needs a code again.
    let large = pay(&payer, &shop_id, 3_001, &unique("pay-")).await;
    assert_eq!(large.status, 202, "{large:?}");

    // Records: both sides see the payment; the payee guide offers the shop with its last amount.
    let history = payer.wallet.get("/v1/payments").await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 3);
    let payees = payer.wallet.get("/v1/payees").await;
    assert_eq!(payees.body[0]["id"], shop_id.as_str());
    assert_eq!(payees.body[0]["last_amount_minor"], 500);
    assert_eq!(payees.body[0]["payments"], 2);
    let seen = shop.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(seen.body["status"], "succeeded");
    let kinds = kinds_when(&shop, 2).await;
    assert_eq!(kinds, ["payment_received", "payment_received"]);
    // Nobody else sees it.
    let stranger = sign_up(&system, "Stranger").await;
    let hidden = stranger.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(hidden.code(), "payment_not_found");

    // The hub's records survive a restart.
    let mut system = system;
    system.restart().await;
    let wallet = Hub {
        url: system.running().hub_url().to_string(),
        ..payer.wallet.clone()
    };
    let after = wallet.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(after.body["status"], "succeeded", "{after:?}");
    system.stop().await;
}

async fn every_outcome_has_its_code(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let payer = registered(&system, "north", 1_000).await;
    let other = payer_without_balance(&system).await;
    let (shop, shop_id, _) = merchant(&system, "north").await;
    let send = |body: Value| {
        let wallet = payer.wallet.clone();
        async move { wallet.post("/v1/payments", &body, Some(&unique("k"))).await }
    };
    let base = json!({"registration_code": payer.code, "terminal_id": payer.terminal,
                      "payee_id": shop_id, "amount_minor": 100, "currency": "USD"});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let cases = [
        (
            with("registration_code", json!("0000000000")),
            404,
            "registration_code_unknown",
        ),
        (
            with("registration_code", json!(other.code)),
            404,
            "registration_code_unknown",
        ),
        (
            with("payee_id", json!(uuid::Uuid::new_v4())),
            422,
            "payee_unknown",
        ),
        (with("amount_minor", json!(-5)), 422, "amount_not_positive"),
        (with("amount_minor", json!(1.5)), 422, "amount_invalid"),
        (with("currency", json!("XYZ")), 422, "currency_unknown"),
        (with("terminal_id", json!("")), 422, "request_invalid"),
        (
            with("id_number", json!("WRONG123")),
            422,
            "identity_check_failed",
        ),
    ];
    for (body, status, code) in cases {
        let answer = send(body.clone()).await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{body} → {answer:?}"
        );
    }
    let payee_self = send(with("payee_id", json!(payer_id(&payer).await))).await;
    assert_eq!(payee_self.code(), "payee_is_payer");
    let forbidden = shop.post("/v1/payments", &base, Some(&unique("k"))).await;
    assert_eq!(forbidden.code(), "forbidden");
    let unkeyed = payer.wallet.post("/v1/payments", &base, None).await;
    assert_eq!(unkeyed.code(), "idempotency_key_missing");
    let malformed = payer
        .wallet
        .request(
            "POST",
            "/v1/payments",
            Some(b"{\"amount_minor\":"),
            Some("k1"),
        )
        .await;
    assert_eq!(malformed.status, 400, "{malformed:?}");

    // The right ID number passes; more than the balance fails at the bank with its code.
    let checked = with("id_number", json!(payer.document_number.to_lowercase()));
    let ok = send(checked).await;
    assert_eq!(ok.status, 202, "{ok:?}");
    let id = ok.body["id"].as_str().unwrap();
    let code = code_for(&payer.wallet, id).await;
    assert_eq!(verify(&payer, id, &code, 100, &shop_id).await.status, 200);
    let broke = pay_verified(&payer, &shop_id, 5_000).await;
    assert_eq!(broke.code(), "insufficient_funds", "{broke:?}");
    assert_eq!(broke.body["details"]["payment"]["status"], "failed");
    let failed_id = broke.body["details"]["payment"]["id"].as_str().unwrap();
    let status = payer.wallet.get(&format!("/v1/payments/{failed_id}")).await;
    assert_eq!(status.body["failure_code"], "insufficient_funds");
    assert_eq!(balance(&system, "north", &payer.account).await, 900);
    // Codes for two payments, the first payment's outcome, then the failure.
    let kinds = kinds_when(&payer.wallet, 4).await;
    assert!(kinds.contains(&"payment_failed".to_string()), "{kinds:?}");
    system.stop().await;
}

async fn payer_without_balance(system: &TestSystem) -> Payer {
    registered(system, "north", 0).await
}

async fn payer_id(payer: &Payer) -> String {
    let me = payer.wallet.get("/v1/me").await;
    me.body["id"].as_str().unwrap().to_string()
}

async fn codes_are_bound_single_use_and_block_after_five_wrong(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let payer = registered(&system, "north", 10_000).await;
    let (_, shop_id, _) = merchant(&system, "north").await;
    let (_, other_shop, _) = merchant(&system, "north").await;

    let created = pay(&payer, &shop_id, 2_000, &unique("pay-")).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let code = code_for(&payer.wallet, &id).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    // The right code for another amount or payee fails, and so does a wrong code: one answer.
    for (code, amount, payee) in [
        (code.as_str(), 2_500, shop_id.as_str()),
        (code.as_str(), 2_000, other_shop.as_str()),
        (wrong, 2_000, shop_id.as_str()),
    ] {
        let answer = verify(&payer, &id, code, amount, payee).await;
        assert_eq!(answer.code(), "verification_failed", "{answer:?}");
        assert!(!answer.body["message"].as_str().unwrap().contains("amount"));
    }
    let status = payer.wallet.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(status.body["next_action"]["tries_left"], 2);
    // A new code cannot be asked for at once.
    let resend = payer
        .wallet
        .post(
            &format!("/v1/payments/{id}/resend"),
            &json!({}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(resend.code(), "verification_resend_limited", "{resend:?}");
    let paid = verify(&payer, &id, &code, 2_000, &shop_id).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    // Sent again (a retry whose answer was lost): the payment as it stands, nothing moves twice.
    let again = verify(&payer, &id, &code, 2_000, &shop_id).await;
    assert_eq!(again.body["status"], "succeeded", "{again:?}");
    assert_eq!(balance(&system, "north", &payer.account).await, 8_000);
    // A code is good for its own payment only.
    let next = pay(&payer, &shop_id, 3_500, &unique("pay-")).await;
    assert_eq!(next.status, 202, "{next:?}");
    let next_id = next.body["id"].as_str().unwrap().to_string();
    let reused = verify(&payer, &next_id, &code, 3_500, &shop_id).await;
    let next_code = code_for(&payer.wallet, &next_id).await;
    if next_code != code {
        assert_eq!(reused.code(), "verification_failed", "{reused:?}");
        assert_eq!(reused.body["details"]["tries_left"], 4);
    }
    assert_eq!(balance(&system, "north", &payer.account).await, 8_000);

    // Five wrong codes block the payment; then even the right one is refused.
    let created = pay(&payer, &shop_id, 4_000, &unique("pay-")).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let code = code_for(&payer.wallet, &id).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for attempt in 1..=5 {
        let answer = verify(&payer, &id, wrong, 4_000, &shop_id).await;
        let expect = if attempt < 5 {
            "verification_failed"
        } else {
            "verification_blocked"
        };
        assert_eq!(answer.code(), expect, "attempt {attempt}: {answer:?}");
    }
    let blocked = verify(&payer, &id, &code, 4_000, &shop_id).await;
    assert_eq!(blocked.code(), "verification_blocked");
    let status = payer.wallet.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(status.body["status"], "blocked");
    assert_eq!(balance(&system, "north", &payer.account).await, 8_000);
    system.stop().await;
}

async fn an_expired_code_fails_and_a_new_one_works(backend: Backend) {
    let policy = scanpay_core::payment::Policy {
        code_lifetime_ms: 1_000,
        ..Default::default()
    };
    let system = TestSystem::start_with_policy(backend, common::test_seed(5), policy).await;
    let payer = registered(&system, "north", 10_000).await;
    let (_, shop_id, _) = merchant(&system, "north").await;
    let created = pay(&payer, &shop_id, 700, &unique("pay-")).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let old = code_for(&payer.wallet, &id).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let late = verify(&payer, &id, &old, 700, &shop_id).await;
    assert_eq!(late.code(), "verification_failed", "{late:?}");
    let resent = payer
        .wallet
        .post(
            &format!("/v1/payments/{id}/resend"),
            &json!({}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(resent.status, 202, "{resent:?}");
    assert_eq!(resent.body["next_action"]["tries_left"], 4);
    let new = code_for(&payer.wallet, &id).await;
    if new != old {
        let stale = verify(&payer, &id, &old, 700, &shop_id).await;
        assert_eq!(
            stale.code(),
            "verification_failed",
            "the old code is replaced"
        );
    }
    let paid = verify(&payer, &id, &new, 700, &shop_id).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    system.stop().await;
}

async fn another_terminal_needs_a_step_up(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let payer = registered(&system, "north", 10_000).await;
    let (_, shop_id, _) = merchant(&system, "north").await;
    assert_eq!(pay_verified(&payer, &shop_id, 100).await.status, 200);
    // A known payee and a small amount, but from another phone: a code to the bound terminal.
    let created = pay_from(&payer, "new-phone", &shop_id, 100, &unique("pay-")).await;
    assert_eq!(created.status, 202, "{created:?}");
    assert_eq!(created.body["next_action"]["reason"], "step_up_required");
    let id = created.body["id"].as_str().unwrap();
    let code = code_for(&payer.wallet, id).await;
    let paid = verify(&payer, id, &code, 100, &shop_id).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    assert_eq!(balance(&system, "north", &payer.account).await, 9_800);
    // The bank itself refuses another terminal unless the hub attests the step-up.
    let direct = system
        .bank("north")
        .post(
            "/v1/payments",
            &json!({"transfer_id": uuid::Uuid::new_v4(), "registration_code": payer.code,
                    "terminal_id": "new-phone", "amount_minor": 1, "currency": "USD"}),
        )
        .await;
    assert_eq!(direct.code(), "terminal_mismatch", "{direct:?}");
    system.stop().await;
}

async fn interbank_payments_refund_and_settle_to_zero(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let payer = registered(&system, "north", 10_000).await;
    let friend = registered(&system, "south", 0).await;
    let (shop, shop_id, shop_account) = merchant(&system, "south").await;

    let paid = pay_verified(&payer, &shop_id, 5_000).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    assert_eq!(paid.body["interbank"], true);
    let id = paid.body["id"].as_str().unwrap().to_string();
    assert_eq!(balance(&system, "north", &payer.account).await, 5_000);
    assert_eq!(balance(&system, "south", &shop_account).await, 5_000);

    // Partial refunds, never above the payment; only the payee refunds.
    let first = refund(&shop, &id, Some(2_000)).await;
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(first.body["refunded_minor"], 2_000);
    let too_much = refund(&shop, &id, Some(3_001)).await;
    assert_eq!(too_much.code(), "refund_exceeds_payment");
    let not_payee = payer
        .wallet
        .post(
            &format!("/v1/payments/{id}/refunds"),
            &json!({}),
            Some(&unique("r")),
        )
        .await;
    assert_eq!(not_payee.code(), "forbidden");
    assert_eq!(balance(&system, "north", &payer.account).await, 7_000);

    // A wallet pays another wallet at the other bank.
    let friend_id = payer_id(&friend).await;
    let p2p = pay_verified(&payer, &friend_id, 1_500).await;
    assert_eq!(p2p.body["status"], "succeeded", "{p2p:?}");
    assert_eq!(balance(&system, "south", &friend.account).await, 1_500);

    // Settlement: north paid out 5,000 + 1,500 and got 2,000 back; the books agree.
    let report = settlement_today(&system.hub()).await;
    assert_eq!(report.status, 200, "{report:?}");
    assert_eq!(report.body["net_total_minor"], 0);
    assert_eq!(report.body["reconciled"], true, "{report:?}");
    let position = |bank: &str| net_of(&report, bank);
    assert_eq!(position("north"), 4_500);
    assert_eq!(position("south"), -4_500);

    // The rest of the refund, without an amount: all that is left.
    let rest = refund(&shop, &id, None).await;
    assert_eq!(rest.status, 201, "{rest:?}");
    assert_eq!(rest.body["refundable_minor"], 0);
    assert_eq!(balance(&system, "north", &payer.account).await, 8_500);
    assert_eq!(
        refund(&shop, &id, Some(1)).await.code(),
        "refund_exceeds_payment"
    );
    let wallet_report = settlement_today(&payer.wallet).await;
    assert_eq!(wallet_report.code(), "forbidden");

    // The hub saves an interbank payment once after both legs, not after each: a repeat payment
    // across banks costs it as many writes as one within a bank (SQLite counts its writes).
    if backend == Backend::Sqlite {
        let (_, home_id, _) = merchant(&system, "north").await;
        let first = pay_verified(&payer, &home_id, 100).await;
        assert_eq!(first.body["status"], "succeeded", "{first:?}");
        let mut writes = Vec::new();
        for payee in [&home_id, &shop_id] {
            let before = hub_writes(&system).await;
            let repeat = pay(&payer, payee, 100, &unique("pay-")).await;
            assert_eq!(repeat.status, 201, "{repeat:?}");
            writes.push(hub_writes(&system).await - before);
        }
        assert_eq!(
            writes[0], writes[1],
            "within a bank, then across: {writes:?}"
        );
    }
    system.stop().await;
}

/// The writes the hub's SQLite writer has run, read once the count has stood still for 100 ms
/// (a write's answer may reach its caller before the writer counts it).
async fn hub_writes(system: &TestSystem) -> u64 {
    let hub = system.hub();
    let read = async || -> u64 {
        let text = hub.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix("store_writes_total ")?.parse().ok())
            .expect("SQLite counts its writes")
    };
    let mut last = read().await;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = read().await;
        if now == last {
            return now;
        }
        last = now;
    }
}

async fn concurrent_payments_spend_exactly_the_balance(backend: Backend) {
    const PAYMENTS: usize = 1_000;
    let system = TestSystem::start(backend).await;
    let payer = registered(&system, "north", 2_000).await;
    let (_, shop_id, shop_account) = merchant(&system, "north").await;
    let payer = std::sync::Arc::new(payer);

    // Each payment is a first one to a payee with nothing paid yet: all need a code.
    let mut tasks = Vec::new();
    for _ in 0..PAYMENTS {
        let payer = payer.clone();
        let shop_id = shop_id.clone();
        tasks.push(tokio::spawn(async move {
            let created = pay(&payer, &shop_id, 7, &unique("pay-")).await;
            assert_eq!(created.status, 202, "{created:?}");
            created.body["id"].as_str().unwrap().to_string()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    let mut codes = std::collections::HashMap::new();
    let mut after = 0;
    loop {
        let page = payer
            .wallet
            .get(&format!("/v1/notifications?after={after}"))
            .await;
        let items = page.body["items"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        for item in items {
            if item["kind"] == "verification_code" {
                codes.insert(
                    item["payment_id"].as_str().unwrap().to_string(),
                    item["verification_code"].as_str().unwrap().to_string(),
                );
            }
        }
        after = page.body["next_after"].as_i64().unwrap();
    }
    let mut tasks = Vec::new();
    for id in ids {
        let payer = payer.clone();
        let shop_id = shop_id.clone();
        let code = codes[&id].clone();
        tasks.push(tokio::spawn(async move {
            verify(&payer, &id, &code, 7, &shop_id).await
        }));
    }
    let (mut paid, mut refused) = (0, 0);
    for task in tasks {
        let answer = task.await.unwrap();
        match (answer.status, answer.code()) {
            (200, _) => paid += 1,
            (_, "insufficient_funds") => refused += 1,
            other => panic!("unexpected {other:?}: {answer:?}"),
        }
    }
    assert_eq!((paid, refused), (285, PAYMENTS - 285));
    assert_eq!(balance(&system, "north", &payer.account).await, 5);
    assert_eq!(balance(&system, "north", &shop_account).await, 1_995);
    let bank: BankClient = system.bank("north");
    bank.balanced_totals().await;
    system.stop().await;
}

/// What a webhook receiver saw: (signature header, event id header, body) per request.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

/// A merchant's webhook receiver: records each request; answers 500 to the first, then 200.
async fn receiver() -> (String, Seen) {
    use axum::http::{HeaderMap, StatusCode};
    let seen: Seen = Default::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let record = record.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let mut seen = record.lock().unwrap();
                seen.push((
                    header("scanpay-signature"),
                    header("scanpay-event-id"),
                    body,
                ));
                if seen.len() == 1 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// A merchant whose receiver takes every request and never answers (until the hub's 10 s
/// timeout) gets four sends at once, and another merchant's event goes out meanwhile: the
/// deliverer used to wait for a whole batch, so every merchant waited for the slowest receiver.
async fn a_receiver_that_never_answers_holds_up_only_its_merchant(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let payer = registered(&system, "north", 100_000).await;
    let (stuck, stuck_id, _) = merchant(&system, "north").await;
    let (fine, fine_id, _) = merchant(&system, "north").await;
    let arrivals: std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>> = Default::default();
    let record = arrivals.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            record.lock().unwrap().push(std::time::Instant::now());
            std::future::pending::<()>()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stuck_url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (fine_url, seen) = receiver().await;
    for (shop, url) in [(&stuck, &stuck_url), (&fine, &fine_url)] {
        let set = shop
            .post("/v1/webhooks", &json!({"url": url}), Some(&unique("k")))
            .await;
        assert_eq!(set.status, 201, "{set:?}");
    }
    // Above the low-value exemption, so that each needs its code.
    for _ in 0..6 {
        let paid = pay_verified(&payer, &stuck_id, 4_000).await;
        assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    }
    // The other merchant's event comes once the stuck sends are under way.
    for _ in 0..100 {
        if arrivals.lock().unwrap().len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let paid = pay_verified(&payer, &fine_id, 4_000).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    received_when(&seen, 1).await;
    let stuck_sends = arrivals.lock().unwrap().clone();
    assert_eq!(stuck_sends.len(), 4, "four sends at once to one merchant");
    // The two waiting keep their place: due since they were made, not moved back.
    let log = stuck.get("/v1/webhooks/deliveries").await;
    let waiting = log
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["next_attempt_at"] == d["created_at"])
        .count();
    assert_eq!(waiting, 2, "{log:?}");
    assert!(
        stuck_sends[0].elapsed() < std::time::Duration::from_secs(10),
        "the other merchant's event went out before the stuck sends timed out"
    );
    system.stop().await;
}

async fn received_when(seen: &Seen, count: usize) -> Vec<(String, String, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let now = seen.lock().unwrap().clone();
        if now.len() >= count {
            return now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} webhooks arrived",
            now.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The hub sends payments to a bank in batches: each is checked and decided as it would be alone,
/// in order, in one commit.
async fn a_bank_decides_a_batch_of_payments_one_by_one(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let payer = registered(&system, "north", 1_000).await;
    let bank = system.bank("north");
    let shop = bank.open_account("Corner Cafe").await;
    let first = uuid::Uuid::now_v7().to_string();
    let payment = |id: &str, code: &str, terminal: &str, amount: i64| {
        json!({"transfer_id": id, "registration_code": code, "terminal_id": terminal,
               "amount_minor": amount, "currency": "USD", "credit_account_id": shop})
    };
    let other = || uuid::Uuid::now_v7().to_string();
    let batch = json!({"payments": [
        payment(&first, &payer.code, &payer.terminal, 600),
        payment(&other(), "99999999", &payer.terminal, 100),
        payment(&other(), &payer.code, &payer.terminal, 600),
        payment(&first, &payer.code, &payer.terminal, 600),
        payment(&other(), &payer.code, "another-phone", 100),
    ]});
    let answer = bank.post("/v1/payments/batch", &batch).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let results = answer.body["results"].as_array().unwrap();
    let seen: Vec<String> = results
        .iter()
        .map(|r| match (&r["result"], &r["error"]) {
            (Value::Object(result), _) => format!("{} {}", result["outcome"], result["replayed"]),
            (_, Value::Object(error)) => error["code"].as_str().unwrap().to_string(),
            _ => panic!("an outcome holds one of the two: {r}"),
        })
        .collect();
    assert_eq!(
        seen,
        [
            "\"created\" false",
            "registration_code_unknown",
            "insufficient_funds",
            "\"created\" true",
            "terminal_mismatch",
        ]
    );
    assert_eq!(balance(&system, "north", &payer.account).await, 400);
    assert_eq!(bank.balance(&shop).await, 600);
    let empty = bank
        .post("/v1/payments/batch", &json!({"payments": []}))
        .await;
    assert_eq!(empty.code(), "request_invalid", "{empty:?}");
    system.stop().await;
}

async fn webhooks_reach_public_addresses_only(backend: Backend) {
    let system = TestSystem::start_screening_webhooks(backend).await;
    let (shop, _, _) = merchant(&system, "north").await;
    for url in [
        "http://127.0.0.1:5432/",
        "http://[::1]:9/hooks",
        "http://localhost:9/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/hooks",
    ] {
        let refused = shop
            .post("/v1/webhooks", &json!({"url": url}), Some(&unique("k")))
            .await;
        assert_eq!(refused.code(), "webhook_url_invalid", "{url}: {refused:?}");
    }
    // A name that does not resolve now is taken; each delivery resolves it again.
    let set = shop
        .post(
            "/v1/webhooks",
            &json!({"url": "https://hooks.shop.invalid/scanpay"}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(set.status, 201, "{set:?}");
    system.stop().await;
}

async fn webhooks_are_signed_retried_and_rotated(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let payer = registered(&system, "north", 10_000).await;
    let (shop, shop_id, _) = merchant(&system, "north").await;
    let (url, seen) = receiver().await;
    let bad = shop
        .post(
            "/v1/webhooks",
            &json!({"url": "ftp://example"}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(bad.code(), "webhook_url_invalid");
    let not_merchant = payer
        .wallet
        .post("/v1/webhooks", &json!({"url": url}), Some(&unique("k")))
        .await;
    assert_eq!(not_merchant.code(), "forbidden");
    let set = shop
        .post("/v1/webhooks", &json!({"url": url}), Some(&unique("k")))
        .await;
    assert_eq!(set.status, 201, "{set:?}");
    let secret = set.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));

    let paid = pay_verified(&payer, &shop_id, 500).await;
    let payment_id = paid.body["id"].as_str().unwrap().to_string();
    // Refused once (500), delivered on the retry, with the same event id and a good signature.
    let got = received_when(&seen, 2).await;
    let now_s = scanpay_http::now_ms() / 1000;
    for (signature, event_id, body) in &got[..2] {
        assert!(
            scanpay_hub::webhooks::verify(signature, &secret, body, now_s, 300),
            "{signature}"
        );
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["type"], "payment.succeeded");
        assert_eq!(event["id"], event_id.as_str());
        assert_eq!(event["data"]["payment"]["id"], payment_id.as_str());
    }
    assert_eq!(got[0].1, got[1].1, "a retry is the same event");
    // The hub records the delivery once the receiver's answer is back, a moment after the
    // receiver saw the request: wait for it (up to 10 s).
    let mut log = shop.get("/v1/webhooks/deliveries").await;
    for _ in 0..100 {
        if log.body[0]["state"] == "delivered" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        log = shop.get("/v1/webhooks/deliveries").await;
    }
    assert_eq!(log.body[0]["state"], "delivered", "{log:?}");
    assert_eq!(log.body[0]["attempts"], 2);
    assert_eq!(log.body[0]["last_status"], 200);

    // Rotation: the next event is signed with the new secret and, for a day, the old one too.
    let rotated = shop
        .post("/v1/webhooks/rotate", &json!({}), Some(&unique("k")))
        .await;
    assert_eq!(rotated.status, 201, "{rotated:?}");
    let new_secret = rotated.body["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    let refund = shop
        .post(
            &format!("/v1/payments/{payment_id}/refunds"),
            &json!({"amount_minor": 100}),
            Some(&unique("r")),
        )
        .await;
    assert_eq!(refund.status, 201, "{refund:?}");
    let got = received_when(&seen, 3).await;
    let (signature, _, body) = &got[2];
    let now_s = scanpay_http::now_ms() / 1000;
    assert!(scanpay_hub::webhooks::verify(
        signature,
        &new_secret,
        body,
        now_s,
        300
    ));
    assert!(scanpay_hub::webhooks::verify(
        signature, &secret, body, now_s, 300
    ));
    assert!(body.contains("refund.succeeded"), "{body}");
    let config = shop.get("/v1/webhooks").await;
    assert_eq!(config.body["secrets"].as_array().unwrap().len(), 2);
    assert!(config.body["secrets"][1]["expires_at"].is_string());
    assert!(
        config.body.get("secret").is_none(),
        "secrets are shown once"
    );
    system.stop().await;
}

async fn an_authenticator_code_verifies_a_payment_once(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let payer = registered(&system, "north", 10_000).await;
    let (_, shop_id, _) = merchant(&system, "north").await;
    let enrolled = payer
        .wallet
        .post("/v1/totp", &json!({}), Some(&unique("k")))
        .await;
    assert_eq!(enrolled.status, 201, "{enrolled:?}");
    assert!(
        enrolled.body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let seed =
        scanpay_proto::otp::base32_decode(enrolled.body["secret"].as_str().unwrap()).unwrap();
    let now_code = || {
        scanpay_proto::otp::totp(
            scanpay_proto::otp::Algorithm::Sha1,
            &seed,
            scanpay_http::now_ms() / 1000,
            30,
            6,
        )
    };
    // Not for a step-up: another phone must show the code sent to the bound one (a stolen
    // token alone enrolls a first authenticator). At another shop, so the one below stays new.
    let (_, other_shop, _) = merchant(&system, "north").await;
    let elsewhere = pay_from(&payer, "new-phone", &other_shop, 300, &unique("pay-")).await;
    assert_eq!(elsewhere.body["next_action"]["reason"], "step_up_required");
    let elsewhere_id = elsewhere.body["id"].as_str().unwrap().to_string();
    let refused = verify(&payer, &elsewhere_id, &now_code(), 300, &other_shop).await;
    assert_eq!(refused.code(), "verification_failed", "{refused:?}");
    let sent = code_for(&payer.wallet, &elsewhere_id).await;
    let stepped_up = verify(&payer, &elsewhere_id, &sent, 300, &other_shop).await;
    assert_eq!(stepped_up.body["status"], "succeeded", "{stepped_up:?}");
    let first = pay(&payer, &shop_id, 1_500, &unique("pay-")).await;
    let first_id = first.body["id"].as_str().unwrap().to_string();
    let code = now_code();
    // The authenticator's code is good only for the payment as it stands.
    let other_amount = verify(&payer, &first_id, &code, 1_600, &shop_id).await;
    assert_eq!(other_amount.code(), "verification_failed");
    let paid = verify(&payer, &first_id, &code, 1_500, &shop_id).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    // The same code again, on another payment: a replay.
    let second = pay(&payer, &shop_id, 4_000, &unique("pay-")).await;
    let second_id = second.body["id"].as_str().unwrap().to_string();
    let replay = verify(&payer, &second_id, &code, 4_000, &shop_id).await;
    assert_eq!(replay.code(), "verification_failed", "{replay:?}");
    assert_eq!(balance(&system, "north", &payer.account).await, 8_200);
    // The token alone does not replace the authenticator; a current code of it does.
    let swap = payer
        .wallet
        .post("/v1/totp", &json!({}), Some(&unique("k")))
        .await;
    assert_eq!(swap.code(), "verification_failed", "{swap:?}");
    let wrong = payer
        .wallet
        .post(
            "/v1/totp",
            &json!({"current_code": "000000"}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(wrong.code(), "verification_failed", "{wrong:?}");
    // The step of `code` is used; the next one is within the accepted drift.
    let next_code = scanpay_proto::otp::totp(
        scanpay_proto::otp::Algorithm::Sha1,
        &seed,
        scanpay_http::now_ms() / 1000 + 30,
        30,
        6,
    );
    let replaced = payer
        .wallet
        .post(
            "/v1/totp",
            &json!({"current_code": next_code}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(replaced.status, 201, "{replaced:?}");
    assert_ne!(replaced.body["secret"], enrolled.body["secret"]);
    // Codes are not guessed one request at a time: past five wrong ones in the window, none is
    // checked, the right one neither.
    let new_seed =
        scanpay_proto::otp::base32_decode(replaced.body["secret"].as_str().unwrap()).unwrap();
    for guess in ["000001", "000002", "000003", "000004", "000005"] {
        let wrong = payer
            .wallet
            .post(
                "/v1/totp",
                &json!({"current_code": guess}),
                Some(&unique("k")),
            )
            .await;
        assert_eq!(wrong.code(), "verification_failed", "{wrong:?}");
    }
    let right = scanpay_proto::otp::totp(
        scanpay_proto::otp::Algorithm::Sha1,
        &new_seed,
        scanpay_http::now_ms() / 1000,
        30,
        6,
    );
    let locked = payer
        .wallet
        .post(
            "/v1/totp",
            &json!({"current_code": right}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(
        locked.code(),
        "authenticator_attempts_limited",
        "{locked:?}"
    );
    assert_eq!(locked.status, 429);
    // On a payment, a code over the limit is not checked but spends one of the payment's tries
    // as any wrong code does (else the sent code could be guessed without end); the code that
    // was sent still pays.
    let third = pay(&payer, &shop_id, 4_100, &unique("pay-")).await;
    let third_id = third.body["id"].as_str().unwrap().to_string();
    let guessed = verify(&payer, &third_id, "123456", 4_100, &shop_id).await;
    assert_eq!(
        guessed.code(),
        "authenticator_attempts_limited",
        "{guessed:?}"
    );
    assert_eq!(guessed.body["details"]["tries_left"], 4, "{guessed:?}");
    let sent = code_for(&payer.wallet, &third_id).await;
    let paid = verify(&payer, &third_id, &sent, 4_100, &shop_id).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    system.stop().await;
}

async fn the_code_arrives_as_a_server_sent_event(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let payer = registered(&system, "north", 10_000).await;
    let (_, shop_id, _) = merchant(&system, "north").await;
    let mut stream = payer
        .wallet
        .http
        .get(format!("{}/v1/notifications/stream", payer.wallet.url))
        .bearer_auth(payer.wallet.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let created = pay(&payer, &shop_id, 900, &unique("pay-")).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let mut text = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !text.contains("event: verification_code") || !text.ends_with("\n\n") {
        assert!(std::time::Instant::now() < deadline, "no event in {text:?}");
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let event: Value = serde_json::from_str(data).unwrap();
    assert_eq!(event["payment_id"], id.as_str());
    let code = event["verification_code"].as_str().unwrap().to_string();
    assert!(text.contains(&format!("id: {}", event["seq"])), "{text}");
    drop(stream);
    let paid = verify(&payer, &id, &code, 900, &shop_id).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    system.stop().await;
}

async fn a_credit_the_payee_bank_refuses_is_given_back(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let payer = registered(&system, "north", 10_000).await;
    // A merchant whose payout account at South Bank is in euros: South refuses a dollar credit.
    let south = system.bank("south");
    let customer = south
        .post(
            "/v1/customers",
            &json!({"full_name": "EURO SHOP", "id_document_type": "id_card",
                    "id_document_number": "EU123456", "birth_date": "2000-01-01"}),
        )
        .await;
    let account = south
        .post(
            "/v1/accounts",
            &json!({"customer_id": customer.body["id"], "currency": "EUR"}),
        )
        .await;
    let account = account.body["id"].as_str().unwrap().to_string();
    let created = system
        .hub()
        .post(
            "/v1/callers",
            &json!({"kind": "merchant", "name": "Euro Shop",
                    "payout": {"bank_id": "south", "account_id": account}}),
            Some(&unique("k")),
        )
        .await;
    let shop_id = created.body["caller"]["id"].as_str().unwrap().to_string();
    let answer = pay_verified(&payer, &shop_id, 2_500).await;
    assert_eq!(answer.code(), "transfer_rejected", "{answer:?}");
    assert_eq!(answer.body["details"]["payment"]["status"], "failed");
    assert_eq!(
        answer.body["details"]["payment"]["failure_code"],
        "currency_mismatch"
    );
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("payee's bank")
    );
    // Debited at North, refused at South, given back at North: nothing lost, nothing owed.
    assert_eq!(balance(&system, "north", &payer.account).await, 10_000);
    assert_eq!(balance(&system, "south", &account).await, 0);
    let report = settlement_today(&system.hub()).await;
    assert_eq!(report.body["reconciled"], true, "{report:?}");
    assert_eq!(report.body["positions"], json!([]));
    assert_eq!(report.body["held"], json!([]), "the reversal went through");
    system.stop().await;
}

/// Brings an account's posted credits to `target` without changing its balance: a fresh account
/// allowed to overdraw `AMOUNT_MINOR_MAX` sends it that much and takes it back, again and again,
/// a hundred transfers a request. The bank's summed postings then exceed `i64`, and its ledger
/// totals (`/v1/ledger/totals`) must still add up exactly.
async fn pile_up_credits(bank: &BankClient, account: &str, target: i64) {
    const MOST: i64 = scanpay_core::money::AMOUNT_MINOR_MAX;
    let customer = bank
        .post(
            "/v1/customers",
            &json!({"full_name": "PUMP", "id_document_type": "passport",
                    "id_document_number": format!("X{}", &unique("")[..8]),
                    "birth_date": "1990-01-01"}),
        )
        .await;
    assert_eq!(customer.status, 201, "{customer:?}");
    let pump = bank
        .post(
            "/v1/accounts",
            &json!({"customer_id": customer.body["id"], "currency": "USD",
                    "overdraft_limit_minor": MOST}),
        )
        .await;
    assert_eq!(pump.status, 201, "{pump:?}");
    let pump = pump.body["id"].as_str().unwrap().to_string();
    let posted = bank.get(&format!("/v1/accounts/{account}")).await.body["credits_posted_minor"]
        .as_i64()
        .unwrap();
    assert!(target > posted, "{posted} posted already");
    let mut left = target - posted;
    let transfer = |from: &str, to: &str, amount: i64| {
        json!({"id": uuid::Uuid::now_v7(), "debit_account_id": from, "credit_account_id": to,
               "amount_minor": amount, "currency": "USD"})
    };
    while left > 0 {
        let mut batch = Vec::new();
        while left > 0 && batch.len() < 100 {
            let amount = left.min(MOST);
            batch.push(transfer(&pump, account, amount));
            batch.push(transfer(account, &pump, amount));
            left -= amount;
        }
        let answer = bank
            .post("/v1/transfers/batch", &json!({ "transfers": batch }))
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        for result in answer.body["results"].as_array().unwrap() {
            assert_eq!(result["outcome"], "created", "{result}");
        }
    }
    let totals = bank.balanced_totals().await;
    assert!(
        totals.credits_posted_minor > i64::MAX as i128,
        "past i64: {totals:?}"
    );
}

/// A payment from a wallet at North to a merchant at South.
struct Paid {
    payer: Payer,
    shop: Hub,
    shop_id: String,
    shop_account: String,
    id: String,
}

/// A wallet at North with 10,000 that paid `amount` to a new merchant at South.
async fn paid_across_banks(system: &TestSystem, amount: i64) -> Paid {
    let payer = registered(system, "north", 10_000).await;
    let (shop, shop_id, shop_account) = merchant(system, "south").await;
    let paid = pay_verified(&payer, &shop_id, amount).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    let id = paid.body["id"].as_str().unwrap().to_string();
    Paid {
        payer,
        shop,
        shop_id,
        shop_account,
        id,
    }
}

/// A refund whose credit the payer's bank refuses goes back to the payee (a reversal at the
/// payee's bank) and fails with the bank's code: nobody loses the money, settlement still
/// reconciles, and nothing is held. The only refusal a bank gives such a credit today is an
/// account whose posted credits would overflow, so the payer's are brought to the edge first.
async fn a_refund_credit_the_payer_bank_refuses_is_given_back(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let paid = paid_across_banks(&system, 1_000).await;
    let north = system.bank("north");
    // 499 units of room left: a refund of 500 cannot be credited.
    pile_up_credits(&north, &paid.payer.account, i64::MAX - 499).await;
    assert_eq!(balance(&system, "north", &paid.payer.account).await, 9_000);

    let refused = refund(&paid.shop, &paid.id, Some(500)).await;
    assert_eq!(refused.code(), "transfer_rejected", "{refused:?}");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("went back to the payee"),
        "{refused:?}"
    );
    let refund = &refused.body["details"]["payment"]["refunds"][0];
    assert_eq!(refund["status"], "failed", "{refused:?}");
    assert_eq!(refund["failure_code"], "overflows_balance", "{refused:?}");
    // The payee has its 500 back; the payer's balance never moved.
    assert_eq!(balance(&system, "south", &paid.shop_account).await, 1_000);
    assert_eq!(balance(&system, "north", &paid.payer.account).await, 9_000);
    // The whole payment may still be refunded later: a failed refund gives back its room.
    assert_eq!(
        refused.body["details"]["payment"]["refundable_minor"],
        1_000
    );
    let report = settlement_today(&system.hub()).await;
    assert_eq!(report.body["reconciled"], true, "{report:?}");
    assert_eq!(report.body["held"], json!([]), "the reversal went through");
    assert_eq!(
        net_of(&report, "south"),
        -1_000,
        "the refund that came back does not count"
    );
    system.stop().await;
}

/// When the payee's bank refuses the reversal too, the refund stays `processing` with its money
/// in that bank's clearing account: settlement lists it under `held` (found through the
/// payments' `held` flag) and the books still reconcile.
async fn a_refused_refund_reversal_is_held_for_an_operator(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let paid = paid_across_banks(&system, 1_000).await;
    // Neither the payer's credit nor the payee's reversal of a refund of 500 can be posted.
    pile_up_credits(&system.bank("north"), &paid.payer.account, i64::MAX - 499).await;
    pile_up_credits(&system.bank("south"), &paid.shop_account, i64::MAX - 499).await;

    let stuck = refund(&paid.shop, &paid.id, Some(500)).await;
    assert_eq!(stuck.status, 202, "{stuck:?}");
    let refund = &stuck.body["refunds"][0];
    assert_eq!(refund["status"], "processing", "{stuck:?}");
    assert_eq!(
        stuck.body["refundable_minor"], 500,
        "its amount stays reserved"
    );
    let refund_id = refund["id"].as_str().unwrap().to_string();
    // Out of the payee's account, into no one's: it waits in south's clearing account.
    assert_eq!(balance(&system, "south", &paid.shop_account).await, 500);
    assert_eq!(balance(&system, "north", &paid.payer.account).await, 9_000);

    let report = settlement_today(&system.hub()).await;
    assert_eq!(report.body["reconciled"], true, "{report:?}");
    assert_eq!(
        report.body["held"],
        json!([{"payment_id": paid.id, "refund_id": refund_id, "bank_id": "south",
                "currency": "USD", "amount_minor": 500, "owed_to": paid.shop_id,
                "code": "overflows_balance"}]),
        "{report:?}"
    );
    system.stop().await;
}

/// A hub database from before payments kept their settlement books: the first settlement books
/// every payment (SQLite: the rows are made old by hand in the file while the hub is stopped).
#[tokio::test]
async fn sqlite_settlement_books_payments_saved_before_their_books() {
    let mut system = TestSystem::start(Backend::Sqlite).await;
    let payer = registered(&system, "north", 10_000).await;
    let friend = registered(&system, "south", 0).await;
    let paid = pay_verified(&payer, &payer_id(&friend).await, 1_500).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    system.stop_services().await;
    let hub_db = system.data_dir().join("hub.db");
    {
        let db = rusqlite::Connection::open(&hub_db).unwrap();
        let unbooked = db
            .execute("UPDATE payments SET booked = 0, held = 0", [])
            .unwrap();
        assert!(unbooked >= 1);
        let books = db.execute("DELETE FROM payment_books", []).unwrap();
        assert!(books >= 1, "the interbank payment had its books");
    }
    system.start_again().await.unwrap();
    let report = settlement_today(&system.hub()).await;
    assert_eq!(report.status, 200, "{report:?}");
    assert_eq!(report.body["reconciled"], true, "{report:?}");
    let nets: Vec<(String, i64)> = report.body["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["bank_id"].as_str().unwrap().to_string(),
                p["net_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        nets,
        [("north".to_string(), 1_500), ("south".to_string(), -1_500)]
    );
    let db = rusqlite::Connection::open(&hub_db).unwrap();
    let left: i64 = db
        .query_row("SELECT COUNT(*) FROM payments WHERE NOT booked", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(left, 0, "booked once, for good");
    system.stop().await;
}

/// A code may be the payer's phone number or a user name with a password (seed 000, claim 8):
/// the phone pays however it is typed; the user name only with its password, and a wrong
/// password answers like an unknown code.
async fn phone_and_password_codes_pay(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let (_, merchant_id, _) = merchant(&system, "north").await;
    let hub_url = system.running().hub_url().to_string();
    let bank = system.bank("north");
    let number = format!("+1555{:07}", rand::random::<u32>() % 10_000_000);
    let by_phone = common::register_payer_choosing(
        &hub_url,
        &bank,
        "north",
        10_000,
        Some(json!({"kind": "phone", "phone": format!("{} ({}) {}-{}", &number[..2], &number[2..5], &number[5..8], &number[8..])})),
        None,
    )
    .await;
    assert_eq!(by_phone.code, number);
    let typed = format!("{} {} {}", &number[..2], &number[2..5], &number[5..]);
    let paid = by_phone
        .wallet
        .post(
            "/v1/payments",
            &json!({"registration_code": typed, "terminal_id": by_phone.terminal,
                    "payee_id": merchant_id, "amount_minor": 500, "currency": "USD"}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(paid.status, 202, "{paid:?}");
    assert_eq!(paid.body["status"], "requires_verification");

    let name = format!("payer.{}", rand::random::<u32>());
    let by_name = common::register_payer_choosing(
        &hub_url,
        &bank,
        "north",
        10_000,
        Some(json!({"kind": "password", "username": name.to_uppercase(), "password": "correct horse battery"})),
        None,
    )
    .await;
    assert_eq!(by_name.code, format!("user:{name}"));
    let attempt = |code: &str, password: Option<&str>| {
        let mut body = json!({"registration_code": code, "terminal_id": by_name.terminal,
            "payee_id": merchant_id, "amount_minor": 500, "currency": "USD"});
        if let Some(password) = password {
            body["password"] = json!(password);
        }
        body
    };
    for (code, password) in [
        (name.as_str(), Some("wrong horse battery")),
        (name.as_str(), None),
        (by_name.code.as_str(), None),
    ] {
        let refused = by_name
            .wallet
            .post("/v1/payments", &attempt(code, password), Some(&unique("k")))
            .await;
        assert_eq!(
            (refused.status, refused.code()),
            (404, "registration_code_unknown"),
            "{code} {password:?}"
        );
    }
    let paid = by_name
        .wallet
        .post(
            "/v1/payments",
            &attempt(&name, Some("correct horse battery")),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(paid.body["status"], "requires_verification", "{paid:?}");
    let id = paid.body["id"].as_str().unwrap();
    let code = code_for(&by_name.wallet, id).await;
    let verified = verify(&by_name, id, &code, 500, &merchant_id).await;
    assert_eq!(verified.body["status"], "succeeded", "{verified:?}");
    // Five wrong passwords lock the code, even against the right one (the right one above
    // cleared the count of the earlier wrong one).
    for _ in 0..5 {
        let wrong = by_name
            .wallet
            .post(
                "/v1/payments",
                &attempt(&name, Some("wrong horse battery")),
                Some(&unique("k")),
            )
            .await;
        assert_eq!(wrong.code(), "registration_code_unknown", "{wrong:?}");
    }
    let locked = by_name
        .wallet
        .post(
            "/v1/payments",
            &attempt(&name, Some("correct horse battery")),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(
        (locked.status, locked.code()),
        (429, "password_attempts_limited"),
        "{locked:?}"
    );

    // Bad choices are refused before the bank is asked.
    let wallet = sign_up(&system, "Chooser").await;
    let started = wallet
        .post(
            "/v1/registrations",
            &json!({"terminal_id": "t"}),
            Some(&unique("k")),
        )
        .await;
    let id = started.body["id"].as_str().unwrap();
    wallet
        .post(
            &format!("/v1/registrations/{id}/fields"),
            &json!({"identity": {"full_name": "SAMPLE MICHAEL JOHN", "document_type": "driver_license",
                "document_number": "T64235789", "birth_date": "1986-06-06", "expiry_date": "2030-12-10"},
                "card": {"card_number": "3023 3348 7786 1104", "expiry_month": 7, "expiry_year": 2037}}),
            Some(&unique("k")),
        )
        .await;
    for choice in [
        json!({"kind": "phone", "phone": "555 0100"}),
        json!({"kind": "password", "username": "ok.name", "password": "short"}),
        json!({"kind": "password", "username": "no spaces", "password": "long enough"}),
    ] {
        let refused = wallet
            .post(
                &format!("/v1/registrations/{id}/confirm"),
                &json!({ "code": choice }),
                Some(&unique("k")),
            )
            .await;
        assert_eq!(refused.code(), "registration_code_invalid", "{choice}");
    }
    let still = wallet.get(&format!("/v1/registrations/{id}")).await;
    assert_eq!(still.body["state"], "awaiting_confirmation");
    system.stop().await;
}

/// A terminal that gave its public key at registration proves it holds the key when it pays,
/// and gets its verification codes sealed to it: naming the bound terminal without the proof
/// counts as another terminal (step-up); the wallet's stream (readable by anything holding the
/// wallet's token) carries no code in clear; the bound terminal's key opens it, another does not.
async fn codes_sealed_to_the_bound_terminal_open_only_there(backend: Backend) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let system = TestSystem::start(backend).await;
    let (_, merchant_id, _) = merchant(&system, "north").await;
    let phone = scanpay_proto::seal::SealingKey::from_secret(rand::random());
    let payer = common::register_payer_choosing(
        system.running().hub_url(),
        &system.bank("north"),
        "north",
        10_000,
        None,
        Some(&b64.encode(phone.public())),
    )
    .await;
    let published = payer.wallet.get("/v1/sealing-key").await;
    let hub_key: [u8; 32] = b64
        .decode(published.body["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let merchant: uuid::Uuid = merchant_id.parse().unwrap();
    // A payment from the bound terminal, with (or without) its proof.
    let pay_as = |proof_by: Option<&scanpay_proto::seal::SealingKey>, amount: i64| {
        let key = unique("k");
        let mut body = json!({"registration_code": payer.code, "terminal_id": payer.terminal,
            "payee_id": merchant_id, "amount_minor": amount, "currency": "USD"});
        if let Some(signer) = proof_by {
            let message =
                scanpay_proto::seal::proof_message(&key, &payer.terminal, merchant, amount, "USD");
            body["terminal_proof"] = json!(b64.encode(signer.proof(&hub_key, &message).unwrap()));
        }
        let wallet = &payer.wallet;
        async move { wallet.post("/v1/payments", &body, Some(&key)).await }
    };

    // Naming the bound terminal is not enough, nor a proof made with another key.
    let stranger = scanpay_proto::seal::SealingKey::from_secret(rand::random());
    for proof_by in [None, Some(&stranger)] {
        let named = pay_as(proof_by, 1_500).await;
        assert_eq!(
            named.body["next_action"]["reason"], "step_up_required",
            "{named:?}"
        );
    }
    let paid = pay_as(Some(&phone), 1_500).await;
    assert_eq!(
        paid.body["next_action"]["reason"], "verification_required",
        "{paid:?}"
    );
    let id = paid.body["id"].as_str().unwrap();
    let page = payer.wallet.get("/v1/notifications?after=0").await;
    let note = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "verification_code" && n["payment_id"] == id)
        .cloned()
        .expect("a code notification");
    assert!(note.get("verification_code").is_none(), "{note}");
    let sealed = b64
        .decode(note["sealed_verification_code"].as_str().unwrap())
        .unwrap();
    let aad = scanpay_proto::seal::verification_code_aad(id.parse().unwrap());
    assert!(stranger.open(&sealed, &aad).is_err());
    let code = String::from_utf8(phone.open(&sealed, &aad).unwrap()).unwrap();
    assert_eq!(code.len(), 6);
    assert!(!note["message"].as_str().unwrap().contains(&code));
    let verified = verify(&payer, id, &code, 1_500, &merchant_id).await;
    assert_eq!(verified.body["status"], "succeeded", "{verified:?}");
    // A small repeat payment from the proven terminal goes straight through; unproven, it does not.
    let again = pay_as(Some(&phone), 500).await;
    assert_eq!(again.body["status"], "succeeded", "{again:?}");
    assert_eq!(again.body["exempted"], true);
    let unproven = pay_as(None, 500).await;
    assert_eq!(
        unproven.body["status"], "requires_verification",
        "{unproven:?}"
    );

    // A key that is not 32 bytes, or a low-order point, is refused at the start of a registration.
    for bad_key in ["c2hvcnQ".to_string(), b64.encode([0u8; 32])] {
        let bad = payer
            .wallet
            .post(
                "/v1/registrations",
                &json!({"terminal_id": "t", "terminal_public_key": bad_key}),
                Some(&unique("k")),
            )
            .await;
        assert_eq!(bad.code(), "request_invalid", "{bad:?}");
    }
    system.stop().await;
}

/// The id of the payer's (only) registration.
async fn registration_of(payer: &Payer) -> String {
    let list = payer.wallet.get("/v1/registrations").await;
    assert_eq!(list.status, 200, "{list:?}");
    list.body["items"][0]["id"].as_str().unwrap().to_string()
}

/// Whether a phone number is someone's code cannot be asked without end: a session ends at the
/// fifth chosen code found taken.
async fn a_session_tests_five_taken_codes_at_most(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let hub_url = system.running().hub_url().to_string();
    let bank = system.bank("north");
    let number = format!("+1555{:07}", rand::random::<u32>() % 10_000_000);
    let taken = json!({"kind": "phone", "phone": number});
    common::register_payer_choosing(&hub_url, &bank, "north", 0, Some(taken.clone()), None).await;
    // Another person, whose card is free again after a revocation, tries that number.
    let other = common::register_payer_choosing(&hub_url, &bank, "north", 0, None, None).await;
    let first = registration_of(&other).await;
    let revoked = other
        .wallet
        .post(
            &format!("/v1/registrations/{first}/revoke"),
            &json!({}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(revoked.status, 200, "{revoked:?}");
    let id = common::start_with_fields(&other, None).await;
    let path = format!("/v1/registrations/{id}/confirm");
    let body = json!({ "code": taken });
    let confirm = || async { other.wallet.post(&path, &body, Some(&unique("k"))).await };
    for attempt in 1..=5 {
        let answer = confirm().await;
        assert_eq!(
            answer.code(),
            "registration_code_taken",
            "{attempt}: {answer:?}"
        );
        let session = other.wallet.get(&format!("/v1/registrations/{id}")).await;
        let state = if attempt < 5 { "verified" } else { "cancelled" };
        assert_eq!(session.body["state"], state, "{attempt}: {session:?}");
    }
    let session = other.wallet.get(&format!("/v1/registrations/{id}")).await;
    assert_eq!(session.body["rejection"], "registration_code_taken");
    assert_eq!(confirm().await.code(), "registration_finished");
    system.stop().await;
}

async fn a_revoked_code_pays_no_more_and_the_card_registers_again(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let (_, shop, _) = merchant(&system, "north").await;
    let hub_url = system.running().hub_url().to_string();
    let bank = system.bank("north");
    let phone = format!("+1555{:07}", rand::random::<u32>() % 10_000_000);
    let choice = json!({"kind": "phone", "phone": phone});
    let mut payer = common::register_payer_choosing(
        &hub_url,
        &bank,
        "north",
        10_000,
        Some(choice.clone()),
        None,
    )
    .await;
    let registration = registration_of(&payer).await;
    let revoke_path = format!("/v1/registrations/{registration}/revoke");
    // A payment waiting for its verification code when the phone is lost.
    let waiting = pay(&payer, &shop, 700, &unique("pay-")).await;
    assert_eq!(waiting.status, 202, "{waiting:?}");
    let waiting_id = waiting.body["id"].as_str().unwrap().to_string();
    let waiting_code = code_for(&payer.wallet, &waiting_id).await;

    let stranger = sign_up(&system, "Stranger").await;
    let refused = stranger
        .post(&revoke_path, &json!({}), Some(&unique("k")))
        .await;
    assert_eq!(refused.code(), "forbidden", "{refused:?}");
    let revoked = payer
        .wallet
        .post(&revoke_path, &json!({}), Some(&unique("k")))
        .await;
    assert_eq!(revoked.status, 200, "{revoked:?}");
    assert_eq!(revoked.body["state"], "revoked");
    let again = payer
        .wallet
        .post(&revoke_path, &json!({}), Some(&unique("k")))
        .await;
    assert_eq!(
        (again.status, &again.body["state"]),
        (200, &json!("revoked")),
        "{again:?}"
    );
    // The wallet is told, once (after the waiting payment's code).
    let kinds = kinds_when(&payer.wallet, 2).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "registration_revoked")
            .count(),
        1,
        "{kinds:?}"
    );

    // At the hub, the code is unknown now; at the bank, its binding is gone.
    let after = pay(&payer, &shop, 700, &unique("pay-")).await;
    assert_eq!(after.code(), "registration_code_unknown", "{after:?}");
    let binding = bank
        .post(
            "/v1/bindings/verify",
            &json!({"registration_code": phone, "terminal_id": payer.terminal}),
        )
        .await;
    assert_eq!(binding.code(), "registration_code_unknown", "{binding:?}");
    // The payment that was waiting does not go through either: the bank refuses the debit.
    let late = verify(&payer, &waiting_id, &waiting_code, 700, &shop).await;
    assert_eq!(late.code(), "registration_code_unknown", "{late:?}");
    assert_eq!(
        late.body["details"]["payment"]["status"], "failed",
        "{late:?}"
    );
    assert_eq!(balance(&system, "north", &payer.account).await, 10_000);
    let cancel = payer
        .wallet
        .post(
            &format!("/v1/registrations/{registration}/cancel"),
            &json!({}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(cancel.code(), "registration_finished", "{cancel:?}");

    // Had the revocation not reached the bank, the new phone's binding is refused there: the
    // session ends, giving the card back, and does not wait in `code_issued` for good.
    let old_terminal = payer.terminal.clone();
    payer.terminal = unique("new-phone-");
    let stale = bank
        .post(
            "/v1/bindings",
            &json!({"registration_code": phone, "terminal_id": old_terminal,
                    "account_id": payer.account, "registration_id": registration}),
        )
        .await;
    assert_eq!(stale.status, 201, "{stale:?}");
    let refused = common::register_card(&payer, Some(choice.clone()), None).await;
    assert_eq!(
        refused.code(),
        "registration_code_already_bound",
        "{refused:?}"
    );
    let sessions = payer.wallet.get("/v1/registrations").await;
    let ended = &sessions.body["items"][0];
    assert_eq!(
        (&ended["state"], &ended["rejection"]),
        (
            &json!("rejected"),
            &json!("registration_code_already_bound")
        ),
        "{sessions:?}"
    );
    // The same phone binding again for another registration is refused too (a replay is one
    // for the same registration).
    let replay = bank
        .post(
            "/v1/bindings",
            &json!({"registration_code": phone, "terminal_id": old_terminal,
                    "account_id": payer.account, "registration_id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(
        replay.code(),
        "registration_code_already_bound",
        "{replay:?}"
    );
    let removed = bank
        .post(
            "/v1/bindings/revoke",
            &json!({ "registration_id": registration }),
        )
        .await;
    assert_eq!(removed.body["revoked"], 1, "{removed:?}");

    // The new phone registers the same card with the same code, and pays with it.
    let again = common::register_card(&payer, Some(choice), None).await;
    assert_eq!(again.body["state"], "bound", "{again:?}");
    assert_eq!(again.body["registration_code"], json!(phone));
    let paid = pay_verified(&payer, &shop, 700).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    assert_eq!(balance(&system, "north", &payer.account).await, 9_300);

    // A support desk revokes for a user who cannot sign in; a registration never bound is not
    // revoked.
    let other = registered(&system, "north", 1_000).await;
    let other_registration = registration_of(&other).await;
    let by_operator = system
        .hub()
        .post(
            &format!("/v1/registrations/{other_registration}/revoke"),
            &json!({}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(by_operator.body["state"], "revoked", "{by_operator:?}");
    // Support sees the document masked, without birth date or address.
    let seen = &by_operator.body["identity"];
    let masked = seen["document_number"].as_str().unwrap();
    assert!(
        masked.ends_with(&other.document_number[other.document_number.len() - 3..])
            && !masked.contains(&other.document_number),
        "{seen}"
    );
    assert!(
        seen.get("birth_date").is_none() && seen.get("address").is_none(),
        "{seen}"
    );
    let gone = pay(&other, &shop, 100, &unique("pay-")).await;
    assert_eq!(gone.code(), "registration_code_unknown", "{gone:?}");
    // A wallet whose only card was revoked is still its person's: another person's card (free
    // again, its code revoked) is refused against the identity the wallet registered before.
    let third = registered(&system, "north", 0).await;
    let third_registration = registration_of(&third).await;
    let revoked = third
        .wallet
        .post(
            &format!("/v1/registrations/{third_registration}/revoke"),
            &json!({}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(revoked.body["state"], "revoked", "{revoked:?}");
    let someone_else = Payer {
        wallet: third.wallet.clone(),
        code: String::new(),
        terminal: third.terminal.clone(),
        account: other.account.clone(),
        document_number: other.document_number.clone(),
        name: other.name.clone(),
        card_number: other.card_number.clone(),
    };
    let foreign = common::register_card(&someone_else, None, None).await;
    assert_eq!(foreign.code(), "identity_mismatch", "{foreign:?}");
    let started = payer
        .wallet
        .post(
            "/v1/registrations",
            &json!({"terminal_id": payer.terminal}),
            Some(&unique("k")),
        )
        .await;
    let unbound = payer
        .wallet
        .post(
            &format!(
                "/v1/registrations/{}/revoke",
                started.body["id"].as_str().unwrap()
            ),
            &json!({}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(
        unbound.code(),
        "registration_step_out_of_order",
        "{unbound:?}"
    );
    system.stop().await;
}

async fn an_operator_resets_a_lost_authenticator(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let payer = registered(&system, "north", 1_000).await;
    let (shop, shop_id, _) = merchant(&system, "north").await;
    let enrolled = payer
        .wallet
        .post("/v1/totp", &json!({}), Some(&unique("k")))
        .await;
    assert_eq!(enrolled.status, 201, "{enrolled:?}");
    let wallet_id = payer.wallet.get("/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reset_path = format!("/v1/callers/{wallet_id}/totp/reset");
    // Neither the wallet itself nor a merchant resets it: a stolen token must not.
    for caller in [&payer.wallet, &shop] {
        let refused = caller
            .post(&reset_path, &json!({}), Some(&unique("k")))
            .await;
        assert_eq!(refused.code(), "forbidden", "{refused:?}");
    }
    let operator = system.hub();
    let reset = operator
        .post(&reset_path, &json!({}), Some(&unique("k")))
        .await;
    assert_eq!(reset.status, 200, "{reset:?}");
    assert_eq!(reset.body["had_authenticator"], true);
    let repeat = operator
        .post(&reset_path, &json!({}), Some(&unique("k")))
        .await;
    assert_eq!(repeat.body["had_authenticator"], false, "{repeat:?}");
    // The wallet hears of the reset (once: the repeat reset nothing).
    let kinds = kinds_when(&payer.wallet, 1).await;
    let resets = kinds.iter().filter(|k| *k == "authenticator_reset").count();
    assert_eq!(resets, 1, "{kinds:?}");
    for id in [shop_id.clone(), uuid::Uuid::new_v4().to_string()] {
        let unknown = operator
            .post(
                &format!("/v1/callers/{id}/totp/reset"),
                &json!({}),
                Some(&unique("k")),
            )
            .await;
        assert_eq!(unknown.code(), "wallet_not_found", "{unknown:?}");
    }
    // Without an authenticator, the wallet's codes are sent again, and it enrolls a new one
    // without a code of the old.
    let paid = pay_verified(&payer, &shop_id, 300).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    let new_one = payer
        .wallet
        .post("/v1/totp", &json!({}), Some(&unique("k")))
        .await;
    assert_eq!(new_one.status, 201, "{new_one:?}");
    assert_ne!(new_one.body["secret"], enrolled.body["secret"]);
    system.stop().await;
}

async fn a_hub_may_require_terminal_keys(backend: Backend) {
    use base64::Engine;
    let policy = scanpay_core::payment::Policy {
        terminal_key_required: true,
        ..Default::default()
    };
    let system = TestSystem::start_with_policy(backend, common::test_seed(5), policy).await;
    let wallet = sign_up(&system, "Keyless").await;
    let keyless = wallet
        .post(
            "/v1/registrations",
            &json!({"terminal_id": "old-phone"}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(keyless.code(), "terminal_key_required", "{keyless:?}");
    let phone = scanpay_proto::seal::SealingKey::from_secret(rand::random());
    let keyed = wallet
        .post(
            "/v1/registrations",
            &json!({"terminal_id": "new-phone",
                    "terminal_public_key": base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(phone.public())}),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(keyed.status, 201, "{keyed:?}");
    system.stop().await;
}

/// A bank closes an account only once it is empty; then the ledger refuses every transfer in or
/// out, and a payment from it or to it fails with `account_closed`.
async fn a_closed_account_neither_pays_nor_is_paid(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let bank = system.bank("north");
    let payer = registered(&system, "north", 1_000).await;
    let (_, shop_id, shop_account) = merchant(&system, "north").await;
    assert_eq!(pay_verified(&payer, &shop_id, 100).await.status, 200);

    let close = |account: String| {
        let bank = bank.clone();
        async move {
            bank.post(&format!("/v1/accounts/{account}/close"), &json!({}))
                .await
        }
    };
    let full = close(payer.account.clone()).await;
    assert_eq!(
        (full.status, full.code()),
        (422, "account_not_empty"),
        "{full:?}"
    );
    assert_eq!(full.body["details"]["balance_minor"], 900);
    let funding = bank.funding_account().await;
    let emptied = bank
        .transfer(
            &uuid::Uuid::new_v4().to_string(),
            &payer.account,
            &funding,
            900,
        )
        .await;
    assert_eq!(emptied.status, 201, "{emptied:?}");
    let closed = close(payer.account.clone()).await;
    assert_eq!(closed.status, 200, "{closed:?}");
    let closed_at = closed.body["closed_at"].as_str().unwrap().to_string();
    let recorded = bank.totals().await;
    let again = close(payer.account.clone()).await;
    assert_eq!(again.body["closed_at"], closed_at.as_str(), "{again:?}");
    let after = bank.totals().await;
    assert_eq!(
        (after.transfers_created, after.transfers_rejected),
        (recorded.transfers_created, recorded.transfers_rejected),
        "a repeated close is answered without another ledger command"
    );
    let funding_close = close(funding.clone()).await;
    assert_eq!(funding_close.code(), "request_invalid");
    let as_transfer = bank
        .post(
            "/v1/transfers",
            &json!({"id": uuid::Uuid::new_v4(), "kind": "close_account",
                    "debit_account_id": shop_account, "currency": "USD"}),
        )
        .await;
    assert_eq!(as_transfer.code(), "request_invalid", "{as_transfer:?}");

    // Nothing comes in or goes out; the close is on the statement.
    let credit = bank
        .transfer(
            &uuid::Uuid::new_v4().to_string(),
            &funding,
            &payer.account,
            5,
        )
        .await;
    assert_eq!(credit.code(), "account_closed", "{credit:?}");
    assert_eq!(credit.body["details"]["outcome"], "credit_account_closed");
    let paid = pay(&payer, &shop_id, 50, &unique("pay-")).await;
    assert_eq!(paid.code(), "account_closed", "{paid:?}");
    assert_eq!(
        paid.body["details"]["payment"]["failure_code"],
        "debit_account_closed"
    );
    let card = bank
        .post(
            "/v1/cards",
            &json!({"account_id": payer.account, "card_number": common::card_number("4"),
                    "expiry_month": 12, "expiry_year": 2031, "holder_name": payer.name}),
        )
        .await;
    assert_eq!(card.code(), "account_closed", "{card:?}");
    for path in ["/v1/cards/lookup", "/v1/cards/identity"] {
        let lookup = bank
            .post(path, &json!({"card_number": payer.card_number}))
            .await;
        assert_eq!(lookup.code(), "account_closed", "{path}: {lookup:?}");
    }
    let statement = bank
        .get(&format!("/v1/accounts/{}/statement", payer.account))
        .await;
    let last = statement.body["lines"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["transfer"]["kind"], "close_account", "{statement:?}");
    assert_eq!(last["transfer"]["amount_minor"], 0);
    assert_eq!(bank.balance(&payer.account).await, 0);

    // A payee whose account closed is paid nothing either: from its own bank, or from another
    // (debited there, the credit refused here, given back there).
    let to_shop = bank
        .transfer(
            &uuid::Uuid::new_v4().to_string(),
            &shop_account,
            &funding,
            100,
        )
        .await;
    assert_eq!(to_shop.status, 201, "{to_shop:?}");
    assert_eq!(close(shop_account.clone()).await.status, 200);
    for payer_bank in ["north", "south"] {
        let other = registered(&system, payer_bank, 1_000).await;
        let refused = pay_verified(&other, &shop_id, 100).await;
        assert_eq!(
            refused.code(),
            "account_closed",
            "{payer_bank}: {refused:?}"
        );
        assert_eq!(
            refused.body["details"]["payment"]["failure_code"],
            "credit_account_closed"
        );
        assert_eq!(balance(&system, payer_bank, &other.account).await, 1_000);
    }
    let report = settlement_today(&system.hub()).await;
    assert_eq!(report.body["reconciled"], true, "{report:?}");
    assert_eq!(report.body["held"], json!([]), "the reversal went through");
    let binding = bank
        .post(
            "/v1/bindings",
            &json!({"registration_code": "1234567890", "terminal_id": "phone-x",
                    "account_id": shop_account}),
        )
        .await;
    assert_eq!(binding.code(), "account_closed", "{binding:?}");
    bank.balanced_totals().await;
    system.bank("south").balanced_totals().await;
    system.stop().await;
}
