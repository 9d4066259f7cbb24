//! Black-box tests: the real hub and banks on loopback sockets, talked to over HTTP, once per
//! store backend (SQLite files and PostgreSQL schemas).

#[macro_use]
mod common;

use common::{Backend, BankClient, Hub, TestSystem, unique};
use serde_json::json;

on_both_backends!(
    transfers_holds_and_statements,
    transfer_replays_and_rejections,
    bad_input_is_refused_and_writes_nothing,
    bank_refuses_unsigned_requests,
    concurrent_spending_takes_exactly_what_is_affordable,
    hub_conventions,
    callers_page_with_a_cursor,
    card_routing_and_lookup,
    a_restart_keeps_everything,
    a_lost_key_is_not_replaced_over_sealed_data,
);

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn funded_account(bank: &BankClient, name: &str, amount: i64) -> String {
    let account = bank.open_account(name).await;
    let funding = bank.funding_account().await;
    let answer = bank.transfer(&id(), &funding, &account, amount).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    account
}

async fn transfers_holds_and_statements(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let bank = system.bank("north");
    let alice = funded_account(&bank, "ALICE", 10_000).await;
    let shop = bank.open_account("SHOP").await;

    let paid = bank.transfer(&id(), &alice, &shop, 2_500).await;
    assert_eq!(paid.status, 201);
    assert_eq!(paid.body["outcome"], "created");
    assert_eq!(paid.body["replayed"], false);

    // A hold reserves money; a partial post moves part of it and releases the rest.
    let hold = id();
    let held = bank
        .post(
            "/v1/transfers",
            &json!({"id": hold, "kind": "pending", "debit_account_id": alice,
                    "credit_account_id": shop, "amount_minor": 5_000, "currency": "USD",
                    "timeout_seconds": 600}),
        )
        .await;
    assert_eq!(held.status, 201, "{held:?}");
    assert_eq!(held.body["transfer"]["hold_state"], "pending");
    let account = bank.get(&format!("/v1/accounts/{alice}")).await.body;
    assert_eq!(account["balance_minor"], 7_500);
    assert_eq!(account["available_minor"], 2_500);
    let too_much = bank.transfer(&id(), &alice, &shop, 2_501).await;
    assert_eq!(too_much.status, 422);
    assert_eq!(too_much.code(), "insufficient_funds");
    let posted = bank
        .post(
            "/v1/transfers",
            &json!({"id": id(), "kind": "post_pending", "pending_id": hold,
                    "amount_minor": 3_000, "currency": "USD"}),
        )
        .await;
    assert_eq!(posted.status, 201, "{posted:?}");
    assert_eq!(bank.balance(&alice).await, 4_500);
    assert_eq!(bank.balance(&shop).await, 5_500);
    let again = bank
        .post(
            "/v1/transfers",
            &json!({"id": id(), "kind": "void_pending", "pending_id": hold, "currency": "USD"}),
        )
        .await;
    assert_eq!(again.status, 422);
    assert_eq!(
        again.body["details"]["outcome"],
        "pending_transfer_already_posted"
    );
    let hold_now = bank.get(&format!("/v1/transfers/{hold}")).await;
    assert_eq!(hold_now.body["hold_state"], "posted");

    // Statements page with a cursor and list every applied transfer once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/accounts/{alice}/statement?limit=2&cursor={c}"),
            None => format!("/v1/accounts/{alice}/statement?limit=2"),
        };
        let page = bank.get(&path).await;
        assert_eq!(page.status, 200, "{page:?}");
        for line in page.body["lines"].as_array().unwrap() {
            seen.push((
                line["side"].as_str().unwrap().to_string(),
                line["transfer"]["kind"].as_str().unwrap().to_string(),
            ));
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let kinds: Vec<(&str, &str)> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("credit", "single"),
            ("debit", "single"),
            ("debit", "pending"),
            ("debit", "post_pending")
        ]
    );
    let bad_cursor = bank
        .get(&format!("/v1/accounts/{alice}/statement?cursor=abc"))
        .await;
    assert_eq!(bad_cursor.code(), "cursor_invalid");
    bank.balanced_totals().await;
    system.stop().await;
}

async fn transfer_replays_and_rejections(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let bank = system.bank("north");
    let alice = funded_account(&bank, "ALICE", 1_000).await;
    let bob = bank.open_account("BOB").await;

    let transfer_id = id();
    let first = bank.transfer(&transfer_id, &alice, &bob, 400).await;
    assert_eq!(first.status, 201);
    let replay = bank.transfer(&transfer_id, &alice, &bob, 400).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body["replayed"], true);
    assert_eq!(replay.body["transfer"], first.body["transfer"]);
    let different = bank.transfer(&transfer_id, &alice, &bob, 401).await;
    assert_eq!(different.status, 409);
    assert_eq!(different.code(), "exists_with_different_fields");
    assert_eq!(bank.balance(&alice).await, 600, "applied once");

    // Customers and accounts with a chosen id: a retry gets the same one, other fields under
    // that id are refused (not answered with someone else's record).
    let customer_id = id();
    let customer = |name: &str| {
        json!({"id": customer_id, "full_name": name, "id_document_type": "passport",
               "id_document_number": "R1234567", "birth_date": "1980-02-03"})
    };
    let made = bank.post("/v1/customers", &customer("ROSA")).await;
    assert_eq!(made.status, 201, "{made:?}");
    let again = bank.post("/v1/customers", &customer("ROSA")).await;
    assert_eq!((again.status, &again.body["id"]), (201, &made.body["id"]));
    let other = bank.post("/v1/customers", &customer("MALLORY")).await;
    assert_eq!(other.code(), "exists_with_different_fields", "{other:?}");
    let account_id = id();
    let account = |currency: &str| json!({"id": account_id, "customer_id": customer_id, "currency": currency});
    let opened = bank.post("/v1/accounts", &account("USD")).await;
    assert_eq!(opened.status, 201, "{opened:?}");
    let again = bank.post("/v1/accounts", &account("USD")).await;
    assert_eq!((again.status, &again.body["id"]), (201, &opened.body["id"]));
    let other = bank.post("/v1/accounts", &account("EUR")).await;
    assert_eq!(other.code(), "exists_with_different_fields", "{other:?}");

    // A refusal is recorded: retrying it gives the same refusal even after funds arrive.
    let refused_id = id();
    let refused = bank.transfer(&refused_id, &alice, &bob, 5_000).await;
    assert_eq!(
        (refused.status, refused.code()),
        (422, "insufficient_funds")
    );
    let funding = bank.funding_account().await;
    assert_eq!(
        bank.transfer(&id(), &funding, &alice, 10_000).await.status,
        201
    );
    let retried = bank.transfer(&refused_id, &alice, &bob, 5_000).await;
    assert_eq!(
        (retried.status, retried.code()),
        (422, "insufficient_funds")
    );
    assert_eq!(retried.body["details"]["replayed"], true);

    // Batches: one result per transfer, in order, later ones seeing earlier ones.
    let batch = bank
        .post(
            "/v1/transfers/batch",
            &json!({"transfers": [
                {"id": id(), "debit_account_id": bob, "credit_account_id": alice, "amount_minor": 400, "currency": "USD"},
                {"id": id(), "debit_account_id": bob, "credit_account_id": alice, "amount_minor": 1, "currency": "USD"},
                {"id": transfer_id, "debit_account_id": alice, "credit_account_id": bob, "amount_minor": 400, "currency": "USD"},
            ]}),
        )
        .await;
    assert_eq!(batch.status, 200, "{batch:?}");
    let outcomes: Vec<(&str, bool)> = batch.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap(),
                r["replayed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("created", false),
            ("insufficient_funds", false),
            ("created", true)
        ]
    );
    let unknown = bank
        .transfer(&id(), &alice, &uuid::Uuid::new_v4().to_string(), 1)
        .await;
    assert_eq!(
        unknown.body["details"]["outcome"],
        "credit_account_not_found"
    );
    assert_eq!(
        bank.get(&format!("/v1/transfers/{}", id())).await.code(),
        "transfer_not_found"
    );
    bank.balanced_totals().await;
    system.stop().await;
}

async fn bad_input_is_refused_and_writes_nothing(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let bank = system.bank("north");
    let alice = funded_account(&bank, "ALICE", 1_000).await;
    let bob = bank.open_account("BOB").await;
    let before = bank.totals().await;
    let transfer = |amount: &str, currency: &str| {
        format!(
            r#"{{"id":"{}","debit_account_id":"{alice}","credit_account_id":"{bob}","amount_minor":{amount},"currency":"{currency}"}}"#,
            id()
        )
    };
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "malformed JSON",
            r#"{"id": "#.to_string(),
            400,
            "json_malformed",
        ),
        (
            "not JSON at all",
            "hello".to_string(),
            400,
            "json_malformed",
        ),
        (
            "unknown field",
            transfer("5", "USD").replace("}", r#","colour":"red"}"#),
            422,
            "request_invalid",
        ),
        (
            "missing field",
            format!(
                r#"{{"id":"{}","currency":"USD","amount_minor":5,"kind":"nonsense"}}"#,
                id()
            ),
            422,
            "request_invalid",
        ),
        (
            "negative amount",
            transfer("-5", "USD"),
            422,
            "amount_not_positive",
        ),
        (
            "zero amount",
            transfer("0", "USD"),
            422,
            "amount_not_positive",
        ),
        (
            "fractional amount",
            transfer("1.5", "USD"),
            422,
            "amount_invalid",
        ),
        (
            "amount over the maximum",
            transfer("1000000000000001", "USD"),
            422,
            "amount_too_large",
        ),
        (
            "amount overflowing 64 bits",
            transfer("99999999999999999999999", "USD"),
            422,
            "amount_too_large",
        ),
        (
            "unknown currency",
            transfer("5", "XYZ"),
            422,
            "currency_unknown",
        ),
        (
            "lowercase currency",
            transfer("5", "usd"),
            422,
            "currency_unknown",
        ),
        // Regression: a NUL in a reference made PostgreSQL fail the whole group commit.
        (
            "control character in reference",
            transfer("5", "USD").replace("}", r#","reference":"a\u0000b"}"#),
            422,
            "request_invalid",
        ),
    ];
    for (name, body, status, code) in cases {
        let answer = bank
            .send_raw("POST", "/v1/transfers", body.as_bytes(), true)
            .await
            .unwrap();
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{name}: {answer:?}"
        );
        assert_eq!(answer.body["type"], "invalid_request", "{name}");
        assert!(
            answer.body["request_id"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{name}"
        );
    }
    let card = |number: &str| json!({"account_id": alice, "card_number": number, "expiry_month": 1, "expiry_year": 2031, "holder_name": "ALICE"});
    let luhn = bank.post("/v1/cards", &card("4242 4242 4242 4241")).await;
    assert_eq!((luhn.status, luhn.code()), (422, "card_number_luhn_failed"));
    let letters = bank.post("/v1/cards", &card("4242-abcd")).await;
    assert_eq!(letters.code(), "card_number_invalid");
    let other_bank = bank.post("/v1/cards", &card("5555 5555 5555 4444")).await;
    assert_eq!(
        other_bank.code(),
        "card_range_unknown",
        "a Mastercard is South Bank's"
    );
    let batch = bank
        .post("/v1/transfers/batch", &json!({"transfers": []}))
        .await;
    assert_eq!(batch.code(), "request_invalid");
    let not_uuid = bank.get("/v1/accounts/not-a-uuid").await;
    assert_eq!((not_uuid.status, not_uuid.code()), (422, "request_invalid"));
    let float = bank
        .send_raw(
            "POST",
            "/v1/transfers",
            transfer("5.0", "USD").as_bytes(),
            true,
        )
        .await
        .unwrap();
    assert_eq!(float.code(), "amount_invalid");
    // The bank answers 413 and closes the connection; a client still sending may see the
    // close first. Either way the body is refused — what must never happen is acceptance.
    // A client of its own: the connection the bank closes must not return to the shared pool.
    let once = BankClient::new(&bank.url, bank.secret.to_vec());
    match once
        .send_raw("POST", "/v1/transfers", &vec![b' '; 3 * 1024 * 1024], true)
        .await
    {
        Ok(answer) => assert_eq!(answer.code(), "payload_too_large", "{answer:?}"),
        Err(error) => assert!(error.is_request() || error.is_body(), "{error}"),
    }
    assert_eq!(bank.totals().await, before, "nothing was written");

    let hub = system.hub();
    let unknown_field = hub
        .request(
            "POST",
            "/v1/cards/route",
            Some(br#"{"card_number":"4242424242424242","x":1}"#),
            None,
        )
        .await;
    assert_eq!(unknown_field.code(), "request_invalid");
    let no_content_type = hub
        .http
        .post(format!("{}/v1/cards/route", hub.url))
        .bearer_auth(hub.token.as_ref().unwrap())
        .body(r#"{"card_number":"4242424242424242"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(no_content_type.status().as_u16(), 415);
    assert_eq!(hub.get("/v1/nowhere").await.code(), "route_not_found");
    assert_eq!(
        hub.request("DELETE", "/v1/callers", None, None)
            .await
            .code(),
        "method_not_allowed"
    );
    system.stop().await;
}

async fn bank_refuses_unsigned_requests(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let bank = system.bank("north");
    let body = br#"{"card_number":"4242424242424242"}"#;
    let unsigned = bank
        .send_raw("POST", "/v1/cards/lookup", body, false)
        .await
        .unwrap();
    assert_eq!(
        (unsigned.status, unsigned.code()),
        (401, "signature_invalid")
    );
    let stranger = BankClient::new(&bank.url, vec![1; 32]);
    let forged = stranger
        .send_raw("POST", "/v1/cards/lookup", body, true)
        .await
        .unwrap();
    assert_eq!((forged.status, forged.code()), (401, "signature_invalid"));
    let ok = bank
        .send_raw("POST", "/v1/cards/lookup", body, true)
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["card"]["card_masked"], "•••• 4242");
    assert!(
        !ok.body.to_string().contains("4242424242424242"),
        "the number never comes back"
    );
    let health = reqwest::get(format!("{}/healthz", bank.url)).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    system.stop().await;
}

async fn concurrent_spending_takes_exactly_what_is_affordable(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let bank = system.bank("north");
    // 1,000 concurrent payments of 7 from an account holding 2,000: exactly 285 fit.
    let payer = funded_account(&bank, "PAYER", 2_000).await;
    let payee = bank.open_account("PAYEE").await;
    let mut tasks = Vec::new();
    for _ in 0..1_000 {
        let bank = bank.clone();
        let (payer, payee) = (payer.clone(), payee.clone());
        tasks.push(tokio::spawn(async move {
            bank.transfer(&id(), &payer, &payee, 7).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let answer = task.await.unwrap();
        match (answer.status, answer.code()) {
            (201, _) => created += 1,
            (422, "insufficient_funds") => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(created, 285);
    assert_eq!(bank.balance(&payer).await, 2_000 - 285 * 7);
    assert_eq!(bank.balance(&payee).await, 285 * 7);
    bank.balanced_totals().await;
    system.stop().await;
}

async fn hub_conventions(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let operator = system.hub();
    let anonymous = Hub::new(&operator.url, None);

    // Open: health and the OpenAPI document. Everything else needs a token.
    assert_eq!(anonymous.get("/healthz").await.status, 200);
    let ready = anonymous.get("/readyz").await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.body["status"], "ok");
    let openapi = anonymous.get("/openapi.json").await;
    assert_eq!(openapi.body["openapi"], "3.1.0");
    assert!(openapi.body["paths"]["/v1/callers"]["post"].is_object());
    assert!(openapi.body["components"]["schemas"]["ErrorBody"].is_object());
    for path in ["/v1/me", "/v1/callers", "/v1/banks", "/metrics"] {
        let answer = anonymous.get(path).await;
        assert_eq!(
            (answer.status, answer.code()),
            (401, "unauthenticated"),
            "{path}"
        );
    }
    // The web app: open, same-origin only, every module it imports served.
    let page = anonymous.get("/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'self'"),
        "{page:?}"
    );
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let script = anonymous.get("/app/app.js").await;
    assert_eq!(script.status, 200);
    assert!(
        script.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let missing_asset = anonymous.get("/app/nothing.js").await;
    assert_eq!(
        (missing_asset.status, missing_asset.code()),
        (404, "route_not_found")
    );

    let wrong = anonymous.with_token("sp_not_a_token").get("/v1/me").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(operator.get("/v1/me").await.body["kind"], "operator");

    // Creating needs an Idempotency-Key; a replay returns the original answer.
    let body = json!({"kind": "wallet", "name": "Anna's phone"});
    let missing = operator.post("/v1/callers", &body, None).await;
    assert_eq!(
        (missing.status, missing.code()),
        (400, "idempotency_key_missing")
    );
    let key = unique("key-");
    let created = operator.post("/v1/callers", &body, Some(&key)).await;
    assert_eq!(created.status, 201, "{created:?}");
    let replayed = operator.post("/v1/callers", &body, Some(&key)).await;
    assert_eq!(replayed.status, 201);
    assert_eq!(replayed.body, created.body);
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    let reused = operator
        .post(
            "/v1/callers",
            &json!({"kind": "wallet", "name": "other"}),
            Some(&key),
        )
        .await;
    assert_eq!(
        (reused.status, reused.code()),
        (409, "idempotency_key_reused")
    );
    // Regression: the query string is part of the request an Idempotency-Key names.
    let other_query = operator
        .post("/v1/callers?again=1", &body, Some(&key))
        .await;
    assert_eq!(other_query.code(), "idempotency_key_reused");
    let bad_key = operator.post("/v1/callers", &body, Some("has space")).await;
    assert_eq!(bad_key.code(), "idempotency_key_invalid");

    // The token is shown once: the hub keeps its hash, and the stored answer is encrypted.
    let token = created.body["token"].as_str().unwrap();
    assert!(
        !token_stored_in_clear(&system, token).await,
        "a token in clear at rest"
    );

    // A wallet may not do an operator's work, and its token works.
    let wallet = operator.with_token(token);
    assert_eq!(wallet.get("/v1/me").await.body["name"], "Anna's phone");
    let forbidden = wallet.post("/v1/callers", &body, Some(&unique("k"))).await;
    assert_eq!((forbidden.status, forbidden.code()), (403, "forbidden"));
    assert_eq!(wallet.get("/metrics").await.status, 403);

    // Metrics in the Prometheus text format, with the requests above counted.
    let text = operator.metrics().await;
    assert!(
        text.contains("# TYPE http_requests_total counter"),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/v1/callers",status="201""#),
        "{text}"
    );
    // On SQLite, how busy its one writer has been: the caller created above was one write.
    let counter = |series: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    };
    match backend {
        Backend::Sqlite => {
            assert!(counter("store_writes_total").unwrap() >= 1, "{text}");
            let groups = counter("store_write_groups_total").unwrap();
            assert!((1..=counter("store_writes_total").unwrap()).contains(&groups));
            assert!(counter(r#"store_writer_microseconds_total{phase="committing"}"#).unwrap() > 0);
        }
        Backend::Postgres => assert_eq!(counter("store_writes_total"), None, "{text}"),
    }
    // Request ids are echoed and appear in error bodies.
    let answer = anonymous.get("/v1/me").await;
    assert_eq!(
        answer.headers["x-request-id"].to_str().unwrap(),
        answer.body["request_id"].as_str().unwrap()
    );
    system.stop().await;
}

/// Whether `token` appears in clear anywhere in the hub's storage.
async fn token_stored_in_clear(system: &TestSystem, token: &str) -> bool {
    match system.backend {
        Backend::Sqlite => {
            let mut found = false;
            for entry in std::fs::read_dir(system.data_dir.path()).unwrap() {
                let path = entry.unwrap().path();
                if path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("hub.db")
                {
                    let bytes = std::fs::read(&path).unwrap();
                    found |= bytes.windows(token.len()).any(|w| w == token.as_bytes());
                }
            }
            found
        }
        Backend::Postgres => {
            let sql = format!(
                "SELECT count(*) FROM {}hub.idempotency_records \
                 WHERE position('{token}'::bytea in response_body) > 0",
                system.schema_prefix
            );
            let output = tokio::process::Command::new("psql")
                .arg(common::postgres_url())
                .args(["-tA", "-c", &sql])
                .output()
                .await
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).trim() != "0"
        }
    }
}

async fn callers_page_with_a_cursor(backend: Backend) {
    let system = TestSystem::start(backend).await;
    let operator = system.hub();
    for index in 0..7 {
        let answer = operator
            .post(
                "/v1/callers",
                &json!({"kind": "merchant", "name": format!("shop {index}")}),
                Some(&unique("k")),
            )
            .await;
        assert_eq!(answer.status, 201);
    }
    let mut names = Vec::new();
    let mut path = "/v1/callers?limit=3".to_string();
    loop {
        let page = operator.get(&path).await;
        assert_eq!(page.status, 200, "{page:?}");
        for item in page.body["items"].as_array().unwrap() {
            names.push(item["name"].as_str().unwrap().to_string());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/callers?limit=3&cursor={cursor}"),
            None => {
                assert!(page.body.get("next_cursor").is_none(), "absent, not null");
                break;
            }
        }
    }
    // The operator and the seed file's merchants come first (made in the same instant, so in
    // either order), then the shops in the order they were made.
    let mut first: Vec<String> = names[..3].to_vec();
    first.sort();
    assert_eq!(first, ["Book Nook", "Corner Cafe", "operator"]);
    let shops: Vec<String> = (0..7).map(|i| format!("shop {i}")).collect();
    assert_eq!(names[3..], shops);
    assert_eq!(
        operator.get("/v1/callers?cursor=nonsense").await.code(),
        "cursor_invalid"
    );
    for bad in ["/v1/callers?limit=abc", "/v1/callers?colour=red"] {
        let answer = operator.get(bad).await;
        assert_eq!(
            (answer.status, answer.code()),
            (422, "request_invalid"),
            "{bad}"
        );
    }
    system.stop().await;
}

async fn card_routing_and_lookup(backend: Backend) {
    let mut seed = common::test_seed(3);
    // A third bank claiming part of North Bank's range at the same prefix length: ambiguous.
    let mut rogue = seed.bank[0].clone();
    rogue.id = "rogue".to_string();
    rogue.name = "Rogue Bank".to_string();
    rogue.ranges = vec![
        ["4".to_string(), "4".to_string()],
        ["6".to_string(), "6".to_string()],
    ];
    rogue.customer.clear();
    rogue.generated_customers = 0;
    seed.bank[0]
        .ranges
        .push(["4000".to_string(), "4000".to_string()]);
    seed.bank.push(rogue);
    let system = TestSystem::start_with(backend, seed).await;
    let hub = system.hub();
    let route = |number: &str| json!({"card_number": number});

    let longest = hub
        .post("/v1/cards/route", &route("4000 0000 0000 0002"), None)
        .await;
    assert_eq!(
        longest.body["bank_id"], "north",
        "the longer prefix 4000 wins: {longest:?}"
    );
    let ambiguous = hub
        .post("/v1/cards/route", &route("4242 4242 4242 4242"), None)
        .await;
    assert_eq!(
        (ambiguous.status, ambiguous.code()),
        (409, "card_range_ambiguous")
    );
    let mastercard = hub
        .post("/v1/cards/route", &route("2223003122003222"), None)
        .await;
    assert_eq!(mastercard.body["bank_id"], "south");
    assert_eq!(mastercard.body["network"], "mastercard");
    assert_eq!(mastercard.body["card_masked"], "•••• 3222");
    let unknown = hub
        .post("/v1/cards/route", &route("378282246310005"), None)
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (422, "card_range_unknown")
    );
    let luhn = hub
        .post("/v1/cards/route", &route("2223003122003223"), None)
        .await;
    assert_eq!(luhn.code(), "card_number_luhn_failed");

    let diners = hub
        .post("/v1/cards/lookup", &route("3023 3348 7786 1104"), None)
        .await;
    assert_eq!(diners.status, 200, "{diners:?}");
    assert_eq!(diners.body["route"]["network"], "diners_club");
    assert_eq!(diners.body["holder_name"], "SAMPLE MICHAEL JOHN");
    let not_issued = hub
        .post("/v1/cards/lookup", &route("5555 5555 5555 4444"), None)
        .await;
    assert_eq!(
        (not_issued.status, not_issued.code()),
        (404, "card_not_found")
    );
    let banks = hub.get("/v1/banks").await;
    assert_eq!(banks.body.as_array().unwrap().len(), 3);
    system.stop().await;
}

/// A service whose master key is gone while its database holds data sealed with it refuses to
/// start (a new key would read none of it), and starts again once the key is back.
async fn a_lost_key_is_not_replaced_over_sealed_data(backend: Backend) {
    let mut system = TestSystem::start(backend).await;
    system.stop_services().await;
    for key in ["north.key", "hub.key"] {
        let path = system.data_dir().join("secrets").join(key);
        let kept = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let refused = system.start_again().await.expect_err("refused");
        let message = format!("{refused:#}");
        assert!(
            message.contains(key) && message.contains("restore"),
            "{message}"
        );
        assert!(!path.exists(), "no new key made");
        std::fs::write(&path, kept).unwrap();
    }
    system.start_again().await.unwrap();
    let mode = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&system.data_dir().join("secrets")), 0o700);
    system.stop().await;
}

async fn a_restart_keeps_everything(backend: Backend) {
    let mut system = TestSystem::start(backend).await;
    let bank = system.bank("south");
    let alice = funded_account(&bank, "ALICE", 900).await;
    let created = system
        .hub()
        .post(
            "/v1/callers",
            &json!({"kind": "merchant", "name": "Cafe"}),
            Some("restart-key"),
        )
        .await;
    let totals = bank.balanced_totals().await;
    system.restart().await;
    let bank = system.bank("south");
    assert_eq!(bank.balance(&alice).await, 900);
    assert_eq!(
        bank.totals().await,
        totals,
        "no second seeding, nothing lost"
    );
    let merchant = system
        .hub()
        .with_token(created.body["token"].as_str().unwrap());
    assert_eq!(merchant.get("/v1/me").await.body["name"], "Cafe");
    let replayed = system
        .hub()
        .post(
            "/v1/callers",
            &json!({"kind": "merchant", "name": "Cafe"}),
            Some("restart-key"),
        )
        .await;
    assert_eq!(
        replayed.body, created.body,
        "idempotency records survive a restart"
    );
    system.stop().await;
}
