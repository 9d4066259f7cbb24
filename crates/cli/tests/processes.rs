//! Tests that start `scanpay` processes the way a user does, and kill them the way a crash does.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{
    Backend, BankClient, Hub, net_of, postgres_url, scanpay_binary, settlement_today, unique,
};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts `scanpay ARGS…` and waits for the stdout line containing `marker`; returns the process
/// and every line read so far.
async fn spawn_until(args: &[&str], marker: &str) -> (Child, Vec<String>) {
    let mut child = Command::new(scanpay_binary())
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the scanpay binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.contains(marker);
            seen.push(line);
            if done {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(found, Ok(true)), "no {marker:?} in {seen:?}");
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, seen)
}

fn url_in(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string()
}

/// A PostgreSQL database of its own for a test that starts processes with fixed schema names.
/// It is dropped when this goes out of scope, also when the test fails: declare it before the
/// processes that use it, so that they are killed (dropped) first.
struct ScratchDatabase {
    url: String,
    name: String,
}

async fn fresh_database() -> ScratchDatabase {
    let name = unique("scanpay_t");
    common::run_psql(&postgres_url(), &format!("CREATE DATABASE {name}")).await;
    let base = postgres_url();
    let (head, _) = base.rsplit_once('/').unwrap();
    ScratchDatabase {
        url: format!("{head}/{name}"),
        name,
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // FORCE ends the sessions of processes that are still going.
        common::run_psql_now(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

fn write_seed(dir: &Path, bank_id: &str) -> String {
    let path = dir.join("seed.toml");
    std::fs::write(
        &path,
        format!(
            "[[bank]]\nid = \"{bank_id}\"\nname = \"Crash Bank\"\ncurrency = \"USD\"\nranges = [[\"4\", \"4\"]]\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

async fn start_bank(args: &[String]) -> (Child, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (child, lines) = spawn_until(&args, "listening on").await;
    (child, url_in(lines.last().unwrap()))
}

/// `scanpay bank serve` arguments for bank `id` with its data in `data_dir`; `seed` and
/// `database_url` when given.
fn bank_serve_args(
    id: &str,
    data_dir: &Path,
    seed: Option<&str>,
    database_url: Option<&str>,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "bank",
        "serve",
        "--id",
        id,
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(data_dir.to_str().unwrap().to_string());
    if let Some(seed) = seed {
        args.extend(["--seed".to_string(), seed.to_string()]);
    }
    if let Some(url) = database_url {
        args.extend(["--database-url".to_string(), url.to_string()]);
    }
    args
}

const ACCOUNTS: usize = 20;
const OPENING_MINOR: i64 = 10_000;
const TRANSFERS: usize = 2_000;

/// 2,000 concurrent transfers, `kill -9` in the middle, restart, every request retried with its
/// id: each ends with exactly one outcome, nothing is applied twice, and the books hold.
async fn crash_mid_load(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let bank_id = unique("crash");
    let seed = write_seed(dir.path(), &bank_id);
    let database = (backend == Backend::Postgres).then(postgres_url);
    let args = bank_serve_args(&bank_id, dir.path(), Some(&seed), database.as_deref());
    let (mut child, url) = start_bank(&args).await;
    let secret =
        scanpay::system::secret(&scanpay::system::secret_path(dir.path(), &bank_id)).unwrap();
    let bank = BankClient::new(&url, secret.clone());
    let funding = bank.funding_account().await;
    let mut accounts = Vec::new();
    for index in 0..ACCOUNTS {
        let account = bank.open_account(&format!("CUSTOMER {index}")).await;
        let answer = bank
            .transfer(
                &uuid::Uuid::now_v7().to_string(),
                &funding,
                &account,
                OPENING_MINOR,
            )
            .await;
        assert_eq!(answer.status, 201);
        accounts.push(account);
    }

    // The requests, fixed up front so that retries send exactly the same thing.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let requests: Vec<(String, usize, usize, i64)> = (0..TRANSFERS)
        .map(|_| {
            let debit = (next() % ACCOUNTS as u64) as usize;
            let credit = (debit + 1 + (next() % (ACCOUNTS as u64 - 1)) as usize) % ACCOUNTS;
            (
                uuid::Uuid::now_v7().to_string(),
                debit,
                credit,
                1 + (next() % 3_000) as i64,
            )
        })
        .collect();

    let mut tasks = Vec::new();
    for (id, debit, credit, amount) in requests.clone() {
        let bank = bank.clone();
        let (debit, credit) = (accounts[debit].clone(), accounts[credit].clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"id": id, "debit_account_id": debit, "credit_account_id": credit,
                              "amount_minor": amount, "currency": "USD"});
            bank.send_raw(
                "POST",
                "/v1/transfers",
                &serde_json::to_vec(&body).unwrap(),
                true,
            )
            .await
            .ok()
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    child.start_kill().unwrap(); // SIGKILL: no drain, no goodbye.
    child.wait().await.unwrap();
    let mut first_answers = Vec::new();
    for task in tasks {
        first_answers.push(task.await.unwrap());
    }
    let answered_before = first_answers.iter().filter(|a| a.is_some()).count();
    assert!(
        answered_before < TRANSFERS,
        "the kill landed mid-load ({answered_before} answered)"
    );

    let (_child, url) = start_bank(&args).await;
    let bank = BankClient::new(&url, secret);
    let mut balances: HashMap<usize, i64> = (0..ACCOUNTS).map(|i| (i, OPENING_MINOR)).collect();
    let mut created = 0;
    for ((id, debit, credit, amount), first) in requests.iter().zip(&first_answers) {
        let body = json!({"id": id, "debit_account_id": accounts[*debit], "credit_account_id": accounts[*credit],
                          "amount_minor": amount, "currency": "USD"});
        let retry = bank
            .send_raw(
                "POST",
                "/v1/transfers",
                &serde_json::to_vec(&body).unwrap(),
                true,
            )
            .await
            .unwrap();
        let outcome = match (retry.status, retry.code()) {
            (201 | 200, _) => "created",
            (422, "insufficient_funds") => "insufficient_funds",
            other => panic!("transfer {id}: no definite outcome: {other:?}"),
        };
        if let Some(first) = first {
            let first_outcome = match (first.status, first.code()) {
                (201, _) => "created",
                (422, "insufficient_funds") => "insufficient_funds",
                other => panic!("transfer {id}: first answer {other:?}"),
            };
            assert_eq!(
                outcome, first_outcome,
                "transfer {id}: the retry changed the outcome"
            );
            let replayed = retry.body["replayed"]
                .as_bool()
                .or(retry.body["details"]["replayed"].as_bool());
            assert_eq!(
                replayed,
                Some(true),
                "transfer {id}: answered before, so a replay"
            );
        }
        if outcome == "created" {
            created += 1;
            *balances.get_mut(debit).unwrap() -= amount;
            *balances.get_mut(credit).unwrap() += amount;
        }
    }
    // An independent auditor: balances recomputed from the answers match the bank's.
    for (index, account) in accounts.iter().enumerate() {
        assert_eq!(
            bank.balance(account).await,
            balances[&index],
            "account {index}"
        );
        assert!(balances[&index] >= 0, "no overdraft");
    }
    assert_eq!(
        balances.values().sum::<i64>(),
        ACCOUNTS as i64 * OPENING_MINOR,
        "no money created or lost"
    );
    let totals = bank.balanced_totals().await;
    assert_eq!(
        totals.transfers_created,
        created + ACCOUNTS as i64,
        "each applied once"
    );
    if backend == Backend::Postgres {
        common::drop_schemas(&format!("bank_{bank_id}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_crash_mid_load() {
    crash_mid_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_mid_load() {
    crash_mid_load(Backend::Postgres).await;
}

/// `scanpay up` as the README says: prints the hub first, answers, stops on Ctrl-C, and a
/// restart keeps the data.
async fn up_prints_urls_stops_cleanly_and_restarts(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "up".to_string(),
        "--port".to_string(),
        "0".to_string(),
        "--data-dir".to_string(),
    ];
    args.push(dir.path().to_str().unwrap().to_string());
    if let Some(url) = &database_url {
        args.extend(["--database-url".to_string(), url.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (child, lines) = spawn_until(&args, "Press Ctrl-C").await;
    let urls: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("http://127.0.0.1:"))
        .collect();
    assert!(
        urls[0].trim_start().starts_with("hub"),
        "hub first: {lines:?}"
    );
    assert!(urls[1].trim_start().starts_with("bank") && urls[2].trim_start().starts_with("bank"));
    let hub_url = url_in(urls[0]);
    let token = std::fs::read_to_string(dir.path().join("operator.token")).unwrap();
    let hub = Hub::new(&hub_url, Some(token.trim()));
    let ready = hub.get("/readyz").await;
    assert_eq!(ready.status, 200, "{ready:?}");
    let lookup = hub
        .post(
            "/v1/cards/lookup",
            &json!({"card_number": "4242 4242 4242 4242"}),
            None,
        )
        .await;
    assert_eq!(
        lookup.body["holder_name"], "ERIKSSON ANNA MARIA",
        "{lookup:?}"
    );
    let created = hub
        .post(
            "/v1/callers",
            &json!({"kind": "merchant", "name": "Kiosk"}),
            Some("up-test"),
        )
        .await;
    assert_eq!(created.status, 201);

    interrupt_and_wait(child).await;

    let (child, lines) = spawn_until(&args, "Press Ctrl-C").await;
    let hub_url = url_in(
        lines
            .iter()
            .find(|l| l.trim_start().starts_with("hub"))
            .unwrap(),
    );
    let merchant = Hub::new(&hub_url, created.body["token"].as_str());
    assert_eq!(merchant.get("/v1/me").await.body["name"], "Kiosk");
    let hub = Hub::new(&hub_url, Some(token.trim()));
    let again = hub
        .post(
            "/v1/cards/lookup",
            &json!({"card_number": "4242 4242 4242 4242"}),
            None,
        )
        .await;
    assert_eq!(
        again.body["account_id"], lookup.body["account_id"],
        "no second seeding"
    );
    interrupt_and_wait(child).await;
}

async fn interrupt_and_wait(mut child: Child) {
    let pid = child.id().unwrap().to_string();
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    let exit = exit.expect("stops within 20 s of Ctrl-C").unwrap();
    assert!(exit.success(), "exits cleanly: {exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_up_prints_urls_stops_cleanly_and_restarts() {
    up_prints_urls_stops_cleanly_and_restarts(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_up_prints_urls_stops_cleanly_and_restarts() {
    let database = fresh_database().await;
    up_prints_urls_stops_cleanly_and_restarts(Some(database.url.clone())).await;
}

/// Two banks and two hub processes on one PostgreSQL database, in `data_dir`.
struct TwoHubs {
    hubs: [String; 2],
    bank_urls: HashMap<&'static str, String>,
    children: Vec<Child>,
}

impl TwoHubs {
    async fn start(database: &str, data_dir: &Path) -> TwoHubs {
        let mut bank_args = Vec::new();
        let mut bank_urls = HashMap::new();
        let mut children = Vec::new();
        for id in ["north", "south"] {
            let args = bank_serve_args(id, data_dir, None, Some(database));
            let (child, url) = start_bank(&args).await;
            bank_args.push(format!("{id}={url}"));
            bank_urls.insert(id, url);
            children.push(child);
        }
        let mut hubs = Vec::new();
        for _ in 0..2 {
            let args = [
                "hub",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                data_dir.to_str().unwrap(),
                "--database-url",
                database,
                "--bank",
                &bank_args[0],
                "--bank",
                &bank_args[1],
            ];
            let (child, lines) = spawn_until(&args, "hub listening on").await;
            hubs.push(url_in(lines.last().unwrap()));
            children.push(child);
        }
        // Both hubs answer before the test goes on (the operator token may come later).
        for url in &hubs {
            let ready = Hub::new(url, None).get("/readyz").await;
            assert_eq!(ready.status, 200, "{ready:?}");
        }
        TwoHubs {
            hubs: hubs.try_into().unwrap(),
            bank_urls,
            children,
        }
    }

    /// The operator, at each hub (once the first hub to start has written the token).
    async fn operators(&self, data_dir: &Path) -> [Hub; 2] {
        let path = data_dir.join("operator.token");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !path.exists() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let token = std::fs::read_to_string(path).unwrap();
        self.hubs
            .each_ref()
            .map(|url| Hub::new(url, Some(token.trim())))
    }

    fn bank(&self, data_dir: &Path, id: &str) -> BankClient {
        let secret = scanpay::system::secret(&scanpay::system::secret_path(data_dir, id)).unwrap();
        BankClient::new(&self.bank_urls[id], secret)
    }

    async fn stop(self) {
        for child in self.children {
            interrupt_and_wait(child).await;
        }
    }
}

/// Two hub processes on one PostgreSQL database: idempotency and callers stay correct when
/// requests with the same key race through both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_on_one_postgres_database() {
    let database = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let two = TwoHubs::start(&database.url, dir.path()).await;
    let hubs = two.hubs.clone();
    let clients = two.operators(dir.path()).await;

    // The same key through both hubs at once: one caller, one answer.
    let mut tasks = Vec::new();
    for index in 0..40 {
        let client = clients[index % 2].clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(
                    "/v1/callers",
                    &json!({"kind": "merchant", "name": "Shared"}),
                    Some("same-key"),
                )
                .await
        }));
    }
    let mut tokens = std::collections::HashSet::new();
    for task in tasks {
        let answer = task.await.unwrap();
        match (answer.status, answer.code()) {
            (201, _) => {
                tokens.insert(answer.body["token"].as_str().unwrap().to_string());
            }
            (409, "idempotency_request_in_progress") => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(tokens.len(), 1, "every success is the same caller");
    // Distinct keys through both hubs: every caller is created once and both hubs see all.
    for index in 0..20 {
        let answer = clients[index % 2]
            .post(
                "/v1/callers",
                &json!({"kind": "wallet", "name": format!("w{index}")}),
                Some(&format!("k{index}")),
            )
            .await;
        assert_eq!(answer.status, 201);
    }
    for client in &clients {
        let page = client.get("/v1/callers?limit=500").await;
        let names: Vec<&str> = page.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.iter().filter(|n| **n == "Shared").count(), 1);
        assert_eq!(names.iter().filter(|n| n.starts_with('w')).count(), 20);
    }
    let token = tokens.into_iter().next().unwrap();
    for url in &hubs {
        assert_eq!(
            Hub::new(url, Some(&token)).get("/v1/me").await.body["name"],
            "Shared"
        );
    }
    two.stop().await;
}

/// Payments, their codes and refunds racing through two hub processes on one PostgreSQL
/// database, each step of a payment through the other hub than the step before: every request
/// gets a final answer (no deadlock between the hubs' write groups, no lost update), each
/// payment is debited once, refunds never pass what was paid, and the banks' books and both
/// hubs' settlement agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_and_refunds_race_through_two_hubs() {
    const PAYERS: usize = 6;
    const PAYMENTS: usize = 8; // each payer's, all at once
    const AMOUNT: i64 = 3_500; // above the low-value exemption: each payment needs its code
    const REFUND: i64 = 1_400; // three asked at once; two fit
    const OPENING: i64 = 100_000;
    let database = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let two = TwoHubs::start(&database.url, dir.path()).await;
    let operators = two.operators(dir.path()).await;
    let banks = ["north", "south"];

    // A merchant at each bank; its client at each hub.
    let mut merchants = Vec::new();
    for bank_id in banks {
        let account = two.bank(dir.path(), bank_id).open_account("Shop").await;
        let created = operators[0]
            .post(
                "/v1/callers",
                &json!({"kind": "merchant", "name": format!("Shop {bank_id}"),
                        "payout": {"bank_id": bank_id, "account_id": account}}),
                Some(&unique("k")),
            )
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        let token = created.body["token"].as_str().unwrap();
        let id = created.body["caller"]["id"].as_str().unwrap().to_string();
        let clients = two.hubs.each_ref().map(|url| Hub::new(url, Some(token)));
        merchants.push((id, account, clients));
    }
    let merchants = std::sync::Arc::new(merchants);
    // Payers at both banks, registered through either hub.
    let mut payers = Vec::new();
    for index in 0..PAYERS {
        let bank_id = banks[index % 2];
        let hub = &two.hubs[index / 2 % 2];
        let payer =
            common::register_payer(hub, &two.bank(dir.path(), bank_id), bank_id, OPENING).await;
        let wallets = two.hubs.each_ref().map(|url| Hub {
            url: url.clone(),
            ..payer.wallet.clone()
        });
        payers.push((payer, wallets, bank_id));
    }

    // Every payment at once: made at one hub, its code read and verified at the other.
    let mut tasks = Vec::new();
    for (index, (payer, wallets, _)) in payers.iter().enumerate() {
        for n in 0..PAYMENTS {
            let (code, terminal) = (payer.code.clone(), payer.terminal.clone());
            let [made_at, verified_at] = if n % 2 == 0 { [0, 1] } else { [1, 0] };
            let (made_at, verified_at) = (wallets[made_at].clone(), wallets[verified_at].clone());
            let payee = merchants[(index + n) % 2].0.clone();
            tasks.push(tokio::spawn(async move {
                let created = made_at
                    .post(
                        "/v1/payments",
                        &json!({"registration_code": code, "terminal_id": terminal,
                                "payee_id": payee, "amount_minor": AMOUNT, "currency": "USD"}),
                        Some(&unique("pay-")),
                    )
                    .await;
                assert_eq!(created.status, 202, "{created:?}");
                let id = created.body["id"].as_str().unwrap().to_string();
                let code = common::code_for(&verified_at, &id).await;
                let verified = verified_at
                    .post(
                        &format!("/v1/payments/{id}/verify"),
                        &json!({"verification_code": code, "amount_minor": AMOUNT,
                                "currency": "USD", "payee_id": payee}),
                        Some(&unique("k")),
                    )
                    .await;
                assert_eq!(verified.status, 200, "{verified:?}");
                assert_eq!(verified.body["status"], "succeeded", "{verified:?}");
                (id, (index + n) % 2)
            }));
        }
    }
    let mut paid = Vec::new();
    for task in tasks {
        paid.push(task.await.unwrap());
    }

    // Three refunds of each payment at once, through both hubs: two fit, the third is refused.
    let mut tasks = Vec::new();
    for &(ref id, merchant) in &paid {
        for n in 0..3 {
            let (id, merchants) = (id.clone(), merchants.clone());
            tasks.push(tokio::spawn(async move {
                let client = &merchants[merchant].2[n % 2];
                let answer = common::refund(client, &id, Some(REFUND)).await;
                match (answer.status, answer.code()) {
                    // Taken, or did not fit. A refund that lost its saves to the others is
                    // answered `payment_changed` (and that answer is what its key replays): it
                    // may have been saved and be finished by the resolver, or not. The payment
                    // says which, below.
                    (201, _) | (422, "refund_exceeds_payment") | (409, "payment_changed") => {}
                    other => panic!("unexpected {other:?}: {answer:?}"),
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Each payment: two refunds succeeded, once nothing is processing; the third did not fit.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for &(ref id, merchant) in &paid {
        loop {
            let seen = merchants[merchant].2[0]
                .get(&format!("/v1/payments/{id}"))
                .await;
            assert_eq!(seen.status, 200, "{seen:?}");
            let refunds = seen.body["refunds"].as_array().unwrap();
            if refunds.iter().any(|r| r["status"] == "processing") {
                assert!(tokio::time::Instant::now() < deadline, "{seen:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let succeeded = refunds.iter().filter(|r| r["status"] == "succeeded");
            assert_eq!(succeeded.count(), 2, "{seen:?}");
            assert_eq!(seen.body["refunded_minor"], 2 * REFUND, "{seen:?}");
            break;
        }
    }

    // The banks hold what the hubs answered, once each.
    let spent = PAYMENTS as i64 * (AMOUNT - 2 * REFUND);
    for (payer, _, bank_id) in &payers {
        let balance = two.bank(dir.path(), bank_id).balance(&payer.account).await;
        assert_eq!(balance, OPENING - spent, "{}", payer.account);
    }
    for (index, (_, account, _)) in merchants.iter().enumerate() {
        let received = paid.iter().filter(|(_, m)| *m == index).count() as i64;
        let balance = two.bank(dir.path(), banks[index]).balance(account).await;
        assert_eq!(balance, received * (AMOUNT - 2 * REFUND));
    }
    for bank_id in banks {
        let totals = two.bank(dir.path(), bank_id).balanced_totals().await;
        assert_eq!(totals.debits_pending_minor, 0, "nothing left on hold");
    }
    // Both hubs settle the day alike, and it reconciles with the banks' clearing accounts.
    let reports = [
        settlement_today(&operators[0]).await,
        settlement_today(&operators[1]).await,
    ];
    assert_eq!(reports[0].body["reconciled"], true, "{:?}", reports[0]);
    assert_eq!(reports[0].body["positions"], reports[1].body["positions"]);
    two.stop().await;
}

/// The README's registration example: from a fresh wallet profile, one command registers the
/// licence holder's card and prints a code; the ICAO specimen passport ends with
/// `identity_document_expired`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_registers_a_card_from_a_fresh_profile_and_pays() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (child, lines) = spawn_until(
        &["up", "--port", "0", "--data-dir", data.to_str().unwrap()],
        "Press Ctrl-C",
    )
    .await;
    let hub_url = url_in(
        lines
            .iter()
            .find(|l| l.trim_start().starts_with("hub"))
            .unwrap(),
    );
    let profile = dir.path().join("profile");
    let wallet = |args: &[&str]| {
        let mut command = std::process::Command::new(scanpay_binary());
        command
            .args([
                "wallet",
                "--hub",
                &hub_url,
                "--profile",
                profile.to_str().unwrap(),
            ])
            .args(args);
        command.output().unwrap()
    };
    let registered = wallet(&[
        "register",
        "--full-name",
        "SAMPLE MICHAEL JOHN",
        "--document-type",
        "driver_license",
        "--document-number",
        "T64235789",
        "--birth-date",
        "1986-06-06",
        "--document-expiry",
        "2030-12-10",
        "--card-number",
        "3023 3348 7786 1104",
        "--card-expiry",
        "07/2037",
        "--yes",
    ]);
    let out = String::from_utf8_lossy(&registered.stdout);
    assert!(
        registered.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&registered.stderr)
    );
    let code = out
        .lines()
        .find_map(|l| l.strip_prefix("Your registration code: "))
        .expect("the code is printed");
    // The profile's token goes to its own hub only.
    let elsewhere = std::process::Command::new(scanpay_binary())
        .args(["wallet", "--hub", "http://127.0.0.1:9", "--profile"])
        .arg(&profile)
        .arg("history")
        .output()
        .unwrap();
    assert!(!elsewhere.status.success());
    assert!(
        String::from_utf8_lossy(&elsewhere.stderr).contains("belongs to the hub at"),
        "{}",
        String::from_utf8_lossy(&elsewhere.stderr)
    );
    assert_eq!(code.len(), 10);
    let listed = wallet(&["registrations"]);
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listing.contains("bound") && listing.contains("3023 •••• •••• 1104"),
        "{listing}"
    );
    // The first payment to a merchant needs a code; the profile's terminal key opens it (the
    // hub sealed it to the key the profile gave at registration).
    let paid = wallet(&["pay", "--to", "Book Nook", "--amount", "12.34", "--yes"]);
    let out = String::from_utf8_lossy(&paid.stdout);
    assert!(
        paid.status.success() && out.contains("Paid 12.34 USD to Book Nook"),
        "{out}{}",
        String::from_utf8_lossy(&paid.stderr)
    );

    // A lost phone: the wallet revokes the code, the profile forgets it, and the hub refuses it.
    let registration = listing
        .lines()
        .find(|l| l.contains("bound"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap();
    let revoked = wallet(&["revoke", registration]);
    let out = String::from_utf8_lossy(&revoked.stdout);
    assert!(
        revoked.status.success() && out.contains("pays no more"),
        "{out}{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let unpaid = wallet(&["pay", "--to", "Book Nook", "--amount", "1.00", "--yes"]);
    let error = String::from_utf8_lossy(&unpaid.stderr);
    assert!(
        !unpaid.status.success() && error.contains("no registration code"),
        "{error}"
    );
    let unknown = wallet(&[
        "pay",
        "--to",
        "Book Nook",
        "--amount",
        "1.00",
        "--yes",
        "--code",
        code,
    ]);
    let error = String::from_utf8_lossy(&unknown.stderr);
    assert!(error.contains("registration_code_unknown"), "{error}");
    // An operator's command on the same registration: already revoked, still revoked.
    let by_operator = std::process::Command::new(scanpay_binary())
        .args(["hub", "revoke", registration, "--hub", &hub_url])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&by_operator.stdout);
    assert!(
        by_operator.status.success() && out.contains("is revoked"),
        "{out}{}",
        String::from_utf8_lossy(&by_operator.stderr)
    );

    let specimen = wallet(&[
        "register",
        "--full-name",
        "ERIKSSON ANNA MARIA",
        "--document-type",
        "passport",
        "--document-number",
        "L898902C3",
        "--birth-date",
        "1974-08-12",
        "--document-expiry",
        "2012-04-15",
        "--card-number",
        "4242424242424242",
        "--card-expiry",
        "12/2030",
        "--yes",
    ]);
    assert!(!specimen.status.success());
    let error = String::from_utf8_lossy(&specimen.stderr);
    assert!(error.contains("identity_document_expired"), "{error}");
    assert!(!error.contains("backtrace"), "a person reads this: {error}");
    interrupt_and_wait(child).await;
}

/// Regression: two bank processes on one PostgreSQL schema raced on holds; the second is now
/// refused while the first holds the schema's writer lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_bank_process_on_the_same_schema_is_refused() {
    let bank_id = a_second_bank_process_is_refused(Some(&postgres_url())).await;
    common::drop_schemas(&format!("bank_{bank_id}")).await;
}

/// The same on SQLite: a second process on a bank's file is refused (its lock file is held).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_bank_process_on_the_same_file_is_refused() {
    a_second_bank_process_is_refused(None).await;
}

/// Starts a bank process, then a second on the same data: it must exit, saying why. The bank's
/// id.
async fn a_second_bank_process_is_refused(database_url: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let bank_id = unique("twin");
    let seed = write_seed(dir.path(), &bank_id);
    let args = bank_serve_args(&bank_id, dir.path(), Some(&seed), database_url);
    let (first, _) = start_bank(&args).await;
    let second = Command::new(scanpay_binary())
        .args(&args)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(!second.status.success(), "the second writer must not start");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another bank process is the writer"),
        "{stderr}"
    );
    interrupt_and_wait(first).await;
    bank_id
}

/// A free loopback port (a bank restarted on it keeps the URL the hub knows).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Payments through a hub process while the payer's bank process is killed (SIGKILL) and then
/// restarted: every payment ends `succeeded` (debited once) or not debited at all, and the
/// balances, the ledger and the interbank books agree.
async fn payments_survive_a_bank_crash(backend: Backend) {
    const PAYERS: usize = 6;
    const PAYMENTS: usize = 240;
    const AMOUNT: i64 = 100;
    const OPENING: i64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_string();
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_database().await),
    };
    let database_url = database.as_ref().map(|d| d.url.clone());
    let mut bank_args = HashMap::new();
    let mut children = HashMap::new();
    let mut urls = HashMap::new();
    for id in ["north", "south"] {
        let mut args = bank_serve_args(id, dir.path(), None, database_url.as_deref());
        let listen = args.iter().position(|a| a == "127.0.0.1:0").unwrap();
        args[listen] = format!("127.0.0.1:{}", free_port());
        let (child, url) = start_bank(&args).await;
        children.insert(id, child);
        urls.insert(id, url);
        bank_args.insert(id, args);
    }
    let mut hub_args = vec![
        "hub".to_string(),
        "serve".to_string(),
        "--listen".to_string(),
        "127.0.0.1:0".to_string(),
        "--data-dir".to_string(),
        data_dir.clone(),
    ];
    for id in ["north", "south"] {
        hub_args.extend(["--bank".to_string(), format!("{id}={}", urls[id])]);
    }
    if let Some(url) = &database_url {
        hub_args.extend(["--database-url".to_string(), url.clone()]);
    }
    let hub_args: Vec<&str> = hub_args.iter().map(String::as_str).collect();
    let (hub_child, lines) = spawn_until(&hub_args, "hub listening on").await;
    let hub_url = url_in(lines.last().unwrap());
    let bank = |id: &str| {
        let secret =
            scanpay::system::secret(&scanpay::system::secret_path(dir.path(), id)).unwrap();
        BankClient::new(&urls[id], secret)
    };
    // Payers at north; payees: the seeded merchants, one at each bank.
    let mut payers = Vec::new();
    for _ in 0..PAYERS {
        payers.push(std::sync::Arc::new(
            common::register_payer(&hub_url, &bank("north"), "north", OPENING).await,
        ));
    }
    // Who loses a phone while north is down.
    let lost = common::register_payer(&hub_url, &bank("north"), "north", 0).await;
    let lost_registration = lost.wallet.get("/v1/registrations").await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let merchants = payers[0].wallet.get("/v1/merchants").await;
    let payee = |name: &str| {
        merchants
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (cafe, books) = (payee("Corner Cafe"), payee("Book Nook"));

    // Every payment waits for its code first, so the kill can land among the debits.
    let mut pending = Vec::new();
    for index in 0..PAYMENTS {
        let payer = payers[index % PAYERS].clone();
        let to = if index % 2 == 0 { &cafe } else { &books };
        let created = common::pay(&payer, to, AMOUNT, &unique("pay-")).await;
        assert_eq!(created.status, 202, "{created:?}");
        let id = created.body["id"].as_str().unwrap().to_string();
        pending.push((payer, to.clone(), id));
    }
    let mut codes = Vec::new();
    for (payer, to, id) in pending {
        let code = common::code_for(&payer.wallet, &id).await;
        codes.push((payer, to, id, code));
    }
    // A few at a time, so that payments keep flowing (group commit would answer a burst at once).
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = Vec::new();
    for (payer, to, id, code) in codes.clone() {
        let done = done.clone();
        let slots = slots.clone();
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire().await.unwrap();
            let answer = common::verify(&payer, &id, &code, AMOUNT, &to).await;
            done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            answer
        }));
    }
    while done.load(std::sync::atomic::Ordering::Relaxed) < PAYMENTS / 4 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut north = children.remove("north").unwrap();
    north.start_kill().unwrap();
    north.wait().await.unwrap();
    let mut unavailable = 0;
    for task in tasks {
        let answer = task.await.unwrap();
        match (answer.status, answer.code()) {
            (200, _) => assert_eq!(answer.body["status"], "succeeded", "{answer:?}"),
            (502, "bank_unavailable") => unavailable += 1,
            other => panic!("unexpected {other:?}: {answer:?}"),
        }
    }
    assert!(unavailable > 0, "the kill landed mid-load");
    // Revoking while the bank is down: the hub's part is done (the code pays no more), the bank's
    // is reported missing, and a repeat after the restart finishes it.
    let revoke_path = format!("/v1/registrations/{lost_registration}/revoke");
    let revoke = || async {
        let key = unique("k");
        lost.wallet.post(&revoke_path, &json!({}), Some(&key)).await
    };
    let half = revoke().await;
    assert_eq!(half.code(), "bank_unavailable", "{half:?}");
    let refused = common::pay(&lost, &payee("Book Nook"), 100, &unique("pay-")).await;
    assert_eq!(refused.code(), "registration_code_unknown", "{refused:?}");

    let args: Vec<&str> = bank_args["north"].iter().map(String::as_str).collect();
    let (north, _) = spawn_until(&args, "listening on").await;
    children.insert("north", north);
    let binding = || async {
        let body = json!({"registration_code": lost.code, "terminal_id": lost.terminal});
        bank("north").post("/v1/bindings/verify", &body).await
    };
    assert_eq!(binding().await.status, 200, "still bound at the bank");
    let whole = revoke().await;
    assert_eq!(whole.body["state"], "revoked", "{whole:?}");
    assert_eq!(binding().await.code(), "registration_code_unknown");
    // The hub's resolver asks the bank again; every payment reaches a final state.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut paid: HashMap<String, i64> = HashMap::new();
    let mut paid_to: HashMap<String, i64> = HashMap::new();
    for (payer, to, id, _) in &codes {
        let status = loop {
            let answer = payer.wallet.get(&format!("/v1/payments/{id}")).await;
            let status = answer.body["status"].as_str().unwrap().to_string();
            if status != "processing" {
                break format!("{status} {}", answer.body["failure_code"]);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} stays processing"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        assert_eq!(
            status, "succeeded null",
            "{id}: balances cover every payment"
        );
        *paid.entry(payer.account.clone()).or_default() += AMOUNT;
        *paid_to.entry(to.clone()).or_default() += AMOUNT;
    }
    let north_bank = bank("north");
    for payer in &payers {
        assert_eq!(
            north_bank.balance(&payer.account).await,
            OPENING - paid[&payer.account],
            "debited exactly once per payment"
        );
    }
    for bank_id in ["north", "south"] {
        bank(bank_id).balanced_totals().await;
    }
    // The merchants' accounts and the clearing books agree with the hub's records.
    let token = std::fs::read_to_string(dir.path().join("operator.token")).unwrap();
    let operator = Hub::new(&hub_url, Some(token.trim()));
    let report = settlement_today(&operator).await;
    assert_eq!(report.body["reconciled"], true, "{report:?}");
    assert_eq!(
        net_of(&report, "north"),
        paid_to[&books],
        "north owes south what Book Nook was paid"
    );

    interrupt_and_wait(hub_child).await;
    for (_, child) in children {
        interrupt_and_wait(child).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_payments_survive_a_bank_crash() {
    payments_survive_a_bank_crash(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_payments_survive_a_bank_crash() {
    payments_survive_a_bank_crash(Backend::Postgres).await;
}

/// A registration survives its bank and its hub being killed between and during steps: the
/// session is where it was left, and confirming again ends bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_survives_bank_and_hub_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_string();
    let mut args = bank_serve_args("south", dir.path(), None, None);
    let listen = args.iter().position(|a| a == "127.0.0.1:0").unwrap();
    args[listen] = format!("127.0.0.1:{}", free_port());
    let (mut bank, bank_url) = start_bank(&args).await;
    let (north, north_url) = start_bank(&bank_serve_args("north", dir.path(), None, None)).await;
    let hub_port = free_port();
    let hub_args: Vec<String> = [
        "hub",
        "serve",
        "--listen",
        &format!("127.0.0.1:{hub_port}"),
        "--data-dir",
        &data_dir,
        "--bank",
        &format!("south={bank_url}"),
        "--bank",
        &format!("north={north_url}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let hub_args: Vec<&str> = hub_args.iter().map(String::as_str).collect();
    let (mut hub, lines) = spawn_until(&hub_args, "hub listening on").await;
    let hub_url = url_in(lines.last().unwrap());
    let wallet = common::sign_up(&hub_url, "Michael").await;
    let started = wallet
        .post(
            "/v1/registrations",
            &json!({"terminal_id": "phone-crash"}),
            Some(&unique("k")),
        )
        .await;
    let id = started.body["id"].as_str().unwrap().to_string();
    let fields = wallet
        .post(
            &format!("/v1/registrations/{id}/fields"),
            &json!({
                "identity": {"full_name": "SAMPLE MICHAEL JOHN", "document_type": "driver_license",
                             "document_number": "T64235789", "birth_date": "1986-06-06",
                             "expiry_date": "2030-12-10"},
                "card": {"card_number": "3023 3348 7786 1104", "expiry_month": 7, "expiry_year": 2037}
            }),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(fields.body["state"], "awaiting_confirmation", "{fields:?}");

    // The hub dies between steps: the session is where it was.
    hub.start_kill().unwrap();
    hub.wait().await.unwrap();
    let (hub, _) = spawn_until(&hub_args, "hub listening on").await;
    let after = wallet.get(&format!("/v1/registrations/{id}")).await;
    assert_eq!(after.body["state"], "awaiting_confirmation", "{after:?}");

    // The card's bank is down at confirmation: a clear answer, and the session can resume.
    bank.start_kill().unwrap();
    bank.wait().await.unwrap();
    let key = unique("confirm-");
    let down = wallet
        .post(
            &format!("/v1/registrations/{id}/confirm"),
            &json!({}),
            Some(&key),
        )
        .await;
    assert_eq!(down.code(), "bank_unavailable", "{down:?}");
    let resumable = wallet.get(&format!("/v1/registrations/{id}")).await;
    assert!(
        ["confirmed", "bank_identified"].contains(&resumable.body["state"].as_str().unwrap()),
        "{resumable:?}"
    );
    let restarted: Vec<&str> = args.iter().map(String::as_str).collect();
    let (bank, _) = spawn_until(&restarted, "listening on").await;
    // Retrying with the same key runs again (a 5xx is not stored) and ends bound.
    let bound = wallet
        .post(
            &format!("/v1/registrations/{id}/confirm"),
            &json!({}),
            Some(&key),
        )
        .await;
    assert_eq!(bound.body["state"], "bound", "{bound:?}");
    assert!(bound.body["registration_code"].as_str().is_some());
    for child in [hub, bank, north] {
        interrupt_and_wait(child).await;
    }
}
