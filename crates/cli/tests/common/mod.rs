//! What the black-box tests share: backends, a test system started as `scanpay up` starts it,
//! and HTTP clients that talk to it the way the hub and a wallet do.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use scanpay::system;
use scanpay_bank::seed::SeedFile;
use serde::Serialize;

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL, as
/// `sqlite::NAME` and `postgres::NAME`.
#[allow(unused_macros)] // processes.rs starts processes per backend itself.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}

use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests use. Not reachable is a failure, never a skip.
pub fn postgres_url() -> String {
    std::env::var("SCANPAY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

impl Backend {
    pub fn database_url(self) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(postgres_url()),
        }
    }
}

/// A seed file with two small banks (unique ids, so PostgreSQL schemas never meet) and the two
/// named demo customers.
pub fn test_seed(generated: u32) -> SeedFile {
    let mut seed = SeedFile::parse(scanpay_bank::seed::DEMO).unwrap();
    for bank in &mut seed.bank {
        bank.generated_customers = generated;
    }
    seed
}

pub struct TestSystem {
    pub running: Option<system::RunningSystem>,
    pub data_dir: tempfile::TempDir,
    pub backend: Backend,
    pub schema_prefix: String,
    pub seed: SeedFile,
    pub payment_policy: scanpay_core::payment::Policy,
    /// On in tests (their webhook receivers listen on loopback), unlike the product's default.
    pub webhooks_to_private_networks: bool,
    /// Set once `stop` has dropped the test's PostgreSQL schemas (else `drop` does).
    schemas_dropped: bool,
}

/// A test that fails never reaches `stop`: its services are stopped and its PostgreSQL schemas
/// dropped here, so a failed run leaves nothing behind in the shared server.
impl Drop for TestSystem {
    fn drop(&mut self) {
        drop(self.running.take());
        if self.backend == Backend::Postgres && !self.schemas_dropped {
            run_psql_now(&drop_schemas_sql(&self.schema_prefix));
        }
    }
}

impl TestSystem {
    pub async fn start(backend: Backend) -> TestSystem {
        Self::start_with(backend, test_seed(5)).await
    }

    pub async fn start_with(backend: Backend, seed: SeedFile) -> TestSystem {
        Self::start_with_policy(backend, seed, Default::default()).await
    }

    pub async fn start_with_policy(
        backend: Backend,
        seed: SeedFile,
        payment_policy: scanpay_core::payment::Policy,
    ) -> TestSystem {
        Self::start_full(backend, seed, payment_policy, true).await
    }

    /// A system with the product's default for webhooks: public addresses only.
    pub async fn start_screening_webhooks(backend: Backend) -> TestSystem {
        Self::start_full(backend, test_seed(5), Default::default(), false).await
    }

    async fn start_full(
        backend: Backend,
        seed: SeedFile,
        payment_policy: scanpay_core::payment::Policy,
        webhooks_to_private_networks: bool,
    ) -> TestSystem {
        let data_dir = tempfile::tempdir().unwrap();
        let schema_prefix = unique("t");
        let running = try_start_system(
            backend,
            data_dir.path(),
            &schema_prefix,
            &seed,
            payment_policy,
            webhooks_to_private_networks,
        )
        .await
        .expect("the system starts (is PostgreSQL running for the postgres tests?)");
        TestSystem {
            running: Some(running),
            data_dir,
            backend,
            schema_prefix: format!("{schema_prefix}_"),
            seed,
            payment_policy,
            webhooks_to_private_networks,
            schemas_dropped: false,
        }
    }

    pub fn running(&self) -> &system::RunningSystem {
        self.running.as_ref().unwrap()
    }

    pub fn hub(&self) -> Hub {
        Hub::new(
            self.running().hub_url(),
            Some(&self.running().operator_token),
        )
    }

    pub fn bank(&self, id: &str) -> BankClient {
        let url = &self
            .running()
            .bank_urls
            .iter()
            .find(|(i, _)| i == id)
            .unwrap()
            .1;
        let secret = system::secret(&system::secret_path(self.data_dir.path(), id)).unwrap();
        BankClient::new(url, secret)
    }

    /// Stops every service and starts them again on the same data.
    pub async fn restart(&mut self) {
        self.running.take().unwrap().stop().await;
        self.start_again()
            .await
            .expect("the system starts again on its data");
    }

    /// Stops every service (`start_again` starts them).
    pub async fn stop_services(&mut self) {
        self.running.take().unwrap().stop().await;
    }

    /// Starts the services again on the same data (after `stop_services`).
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        let prefix = self.schema_prefix.trim_end_matches('_').to_string();
        self.running = Some(
            try_start_system(
                self.backend,
                self.data_dir.path(),
                &prefix,
                &self.seed,
                self.payment_policy,
                self.webhooks_to_private_networks,
            )
            .await?,
        );
        Ok(())
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
        if self.backend == Backend::Postgres {
            drop_schemas(&self.schema_prefix).await;
            self.schemas_dropped = true;
        }
    }
}

/// Drops the PostgreSQL schemas a test made (their names start with `prefix`).
pub async fn drop_schemas(prefix: &str) {
    run_psql(&postgres_url(), &drop_schemas_sql(prefix)).await;
}

fn drop_schemas_sql(prefix: &str) -> String {
    assert!(
        prefix.len() >= 6
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    );
    format!(
        "DO $$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace \
         WHERE nspname LIKE '{prefix}%' LOOP EXECUTE 'DROP SCHEMA ' || quote_ident(s) || ' CASCADE'; \
         END LOOP; END $$;"
    )
}

/// `sql` on the test server from a `drop`, maybe while a failed test unwinds: blocking, and
/// never panicking (a panic there would abort the run and hide the first one). It gives up on a
/// lock held past five seconds (a transaction of a service not yet gone).
pub fn run_psql_now(sql: &str) {
    let output = std::process::Command::new("psql")
        .arg(postgres_url())
        .args(["-q", "-c", "SET lock_timeout = '5s'", "-c", sql])
        .output();
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) => eprintln!("{sql}: {}", String::from_utf8_lossy(&output.stderr)),
        Err(error) => eprintln!("{sql}: psql: {error}"),
    }
}

pub async fn run_psql(url: &str, sql: &str) {
    let output = tokio::process::Command::new("psql")
        .arg(url)
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .await
        .expect("psql runs");
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn try_start_system(
    backend: Backend,
    data_dir: &Path,
    prefix: &str,
    seed: &SeedFile,
    payment_policy: scanpay_core::payment::Policy,
    webhooks_to_private_networks: bool,
) -> anyhow::Result<system::RunningSystem> {
    system::start(&system::SystemConfig {
        data_dir: data_dir.to_path_buf(),
        database_url: backend.database_url(),
        host: [127, 0, 0, 1].into(),
        port: 0,
        seed: seed.clone(),
        schema_prefix: format!("{prefix}_"),
        payment_policy,
        code_command: None,
        webhooks_to_private_networks,
    })
    .await
}

/// An answer: status and JSON body (Null when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        headers,
    }
}

/// Talks to a bank as the hub does: every request signed.
#[derive(Clone)]
pub struct BankClient {
    pub url: String,
    pub secret: Arc<Vec<u8>>,
    pub http: reqwest::Client,
}

impl BankClient {
    pub fn new(url: &str, secret: Vec<u8>) -> BankClient {
        BankClient {
            url: url.to_string(),
            secret: Arc::new(secret),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .unwrap(),
        }
    }

    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        signed: bool,
    ) -> Result<Answer, reqwest::Error> {
        Ok(answer(self.send_signed(method, path, body, signed).await?).await)
    }

    async fn send_signed(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        signed: bool,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let method: reqwest::Method = method.parse().unwrap();
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if signed {
            let timestamp = scanpay_http::now_ms() / 1000;
            let signature =
                scanpay_proto::signing::sign(&self.secret, timestamp, method.as_str(), path, body);
            request = request
                .header(
                    scanpay_proto::signing::HEADER_TIMESTAMP,
                    timestamp.to_string(),
                )
                .header(scanpay_proto::signing::HEADER_SIGNATURE, signature);
        }
        request.send().await
    }

    pub async fn post(&self, path: &str, body: &impl Serialize) -> Answer {
        self.send_raw("POST", path, &serde_json::to_vec(body).unwrap(), true)
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send_raw("GET", path, b"", true).await.unwrap()
    }

    /// A customer with one account in USD; returns the account id.
    pub async fn open_account(&self, name: &str) -> String {
        let customer = self
            .post(
                "/v1/customers",
                &serde_json::json!({
                    "full_name": name, "id_document_type": "passport",
                    "id_document_number": format!("X{}", &unique("")[..8]), "birth_date": "1990-01-01"
                }),
            )
            .await;
        assert_eq!(customer.status, 201, "{customer:?}");
        let account = self
            .post(
                "/v1/accounts",
                &serde_json::json!({"customer_id": customer.body["id"], "currency": "USD"}),
            )
            .await;
        assert_eq!(account.status, 201, "{account:?}");
        account.body["id"].as_str().unwrap().to_string()
    }

    /// The ledger's totals, read as the typed view: its sums may pass what a JSON `Value`
    /// holds exactly.
    pub async fn totals(&self) -> scanpay_proto::bank::LedgerTotalsView {
        let response = self
            .send_signed("GET", "/v1/ledger/totals", b"", true)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// The ledger's totals, checked consistent: posted and pending debits equal credits, and
    /// the accounts' cached sums equal what the transfer rows add up to.
    pub async fn balanced_totals(&self) -> scanpay_proto::bank::LedgerTotalsView {
        let t = self.totals().await;
        assert_eq!(t.debits_posted_minor, t.credits_posted_minor, "{t:?}");
        assert_eq!(t.debits_pending_minor, t.credits_pending_minor, "{t:?}");
        assert_eq!(
            t.posted_from_transfers_minor, t.debits_posted_minor,
            "{t:?}"
        );
        assert_eq!(t.pending_from_holds_minor, t.debits_pending_minor, "{t:?}");
        t
    }

    pub async fn balance(&self, account: &str) -> i64 {
        let answer = self.get(&format!("/v1/accounts/{account}")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body["balance_minor"].as_i64().unwrap()
    }

    /// The bank's funding account: money enters the bank through it.
    pub async fn funding_account(&self) -> String {
        let answer = self.get("/v1/accounts?kind=funding").await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body[0]["id"].as_str().unwrap().to_string()
    }

    pub async fn transfer(&self, id: &str, debit: &str, credit: &str, amount: i64) -> Answer {
        self.post(
            "/v1/transfers",
            &serde_json::json!({
                "id": id, "debit_account_id": debit, "credit_account_id": credit,
                "amount_minor": amount, "currency": "USD"
            }),
        )
        .await
    }
}

/// Talks to the hub as a caller with a bearer token.
#[derive(Clone)]
pub struct Hub {
    pub url: String,
    pub token: Option<String>,
    pub http: reqwest::Client,
}

impl Hub {
    /// `/metrics` in the Prometheus text format (operators only).
    pub async fn metrics(&self) -> String {
        let mut request = self.http.get(format!("{}/metrics", self.url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.unwrap().error_for_status().unwrap();
        answer.text().await.unwrap()
    }

    pub fn new(url: &str, token: Option<&str>) -> Hub {
        Hub {
            url: url.to_string(),
            token: token.map(str::to_string),
            http: reqwest::Client::new(),
        }
    }

    pub fn with_token(&self, token: &str) -> Hub {
        Hub {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        key: Option<&str>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_vec());
        }
        answer(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.request("GET", path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value, key: Option<&str>) -> Answer {
        self.request("POST", path, Some(&serde_json::to_vec(body).unwrap()), key)
            .await
    }
}

/// A registered wallet: its hub client, code, bound terminal and bank account.
pub struct Payer {
    pub wallet: Hub,
    pub code: String,
    pub terminal: String,
    pub account: String,
    pub document_number: String,
    /// The holder's name and the card's number, to register the card again.
    pub name: String,
    pub card_number: String,
}

/// A 16-digit card number with `prefix` that passes Luhn.
pub fn card_number(prefix: &str) -> String {
    let mut digits: Vec<u32> = prefix.chars().map(|c| c.to_digit(10).unwrap()).collect();
    let random = uuid::Uuid::new_v4().as_u128();
    let mut n = random;
    while digits.len() < 15 {
        digits.push((n % 10) as u32);
        n /= 10;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    digits.push((10 - sum % 10) % 10);
    digits
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap())
        .collect()
}

pub fn letters(n: usize) -> String {
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(n)
        .map(|b| char::from(b'A' + b % 26))
        .collect()
}

pub async fn sign_up(hub_url: &str, name: &str) -> Hub {
    let open = Hub::new(hub_url, None);
    let answer = open.post("/v1/wallets", &json!({"name": name}), None).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    open.with_token(answer.body["token"].as_str().unwrap())
}

/// A customer of `bank_id` with a card and `balance`, registered through the hub (the FIG. 4
/// path) so that the bank has bound its code.
pub async fn register_payer(
    hub_url: &str,
    bank: &BankClient,
    bank_id: &str,
    balance: i64,
) -> Payer {
    register_payer_choosing(hub_url, bank, bank_id, balance, None, None).await
}

/// `register_payer` with the code `choice` (`{"kind": "phone", …}`; `code` is then the
/// canonical code the hub answered) and the terminal's public key.
pub async fn register_payer_choosing(
    hub_url: &str,
    bank: &BankClient,
    bank_id: &str,
    balance: i64,
    choice: Option<Value>,
    terminal_public_key: Option<&str>,
) -> Payer {
    let name = format!("{} {}", letters(6), letters(7));
    let document_number = format!("P{}", &uuid::Uuid::new_v4().as_u128().to_string()[..8]);
    let customer = bank
        .post(
            "/v1/customers",
            &json!({"full_name": name, "id_document_type": "passport",
                    "id_document_number": document_number, "birth_date": "1990-01-01"}),
        )
        .await;
    assert_eq!(customer.status, 201, "{customer:?}");
    let account = bank
        .post(
            "/v1/accounts",
            &json!({"customer_id": customer.body["id"], "currency": "USD"}),
        )
        .await;
    let account = account.body["id"].as_str().unwrap().to_string();
    let number = card_number(if bank_id == "north" { "4" } else { "52" });
    let card = bank
        .post(
            "/v1/cards",
            &json!({"account_id": account, "card_number": number, "expiry_month": 12,
                    "expiry_year": 2031, "holder_name": name}),
        )
        .await;
    assert_eq!(card.status, 201, "{card:?}");
    if balance > 0 {
        let funding = bank.funding_account().await;
        let deposit = bank
            .transfer(
                &uuid::Uuid::new_v4().to_string(),
                &funding,
                &account,
                balance,
            )
            .await;
        assert_eq!(deposit.status, 201, "{deposit:?}");
    }
    let wallet = sign_up(hub_url, &name).await;
    let terminal = unique("phone-");
    let mut payer = Payer {
        wallet,
        code: String::new(),
        terminal,
        account,
        document_number,
        name,
        card_number: number,
    };
    let confirmed = register_card(&payer, choice, terminal_public_key).await;
    assert_eq!(confirmed.body["state"], "bound", "{confirmed:?}");
    payer.code = confirmed.body["registration_code"]
        .as_str()
        .unwrap()
        .to_string();
    payer
}

/// Registers the payer's card from `payer.terminal` with the code `choice`: the confirmation's
/// answer.
pub async fn register_card(
    payer: &Payer,
    choice: Option<Value>,
    terminal_public_key: Option<&str>,
) -> Answer {
    let id = start_with_fields(payer, terminal_public_key).await;
    payer
        .wallet
        .post(
            &format!("/v1/registrations/{id}/confirm"),
            &choice.map_or_else(|| json!({}), |c| json!({ "code": c })),
            Some(&unique("k")),
        )
        .await
}

/// Starts a registration of the payer's card from `payer.terminal` and sends its fields: the
/// session's id, waiting for a confirm.
pub async fn start_with_fields(payer: &Payer, terminal_public_key: Option<&str>) -> String {
    let wallet = &payer.wallet;
    let mut start = json!({ "terminal_id": payer.terminal });
    if let Some(key) = terminal_public_key {
        start["terminal_public_key"] = json!(key);
    }
    let started = wallet
        .post("/v1/registrations", &start, Some(&unique("k")))
        .await;
    let id = started.body["id"].as_str().unwrap().to_string();
    let fields = wallet
        .post(
            &format!("/v1/registrations/{id}/fields"),
            &json!({
                "identity": {"full_name": payer.name, "document_type": "passport",
                             "document_number": payer.document_number, "birth_date": "1990-01-01",
                             "expiry_date": "2031-01-01"},
                "card": {"card_number": payer.card_number, "expiry_month": 12, "expiry_year": 2031}
            }),
            Some(&unique("k")),
        )
        .await;
    assert_eq!(fields.status, 200, "{fields:?}");
    id
}

/// Today's (UTC) settlement report, as `caller` gets it.
pub async fn settlement_today(caller: &Hub) -> Answer {
    let today = scanpay_proto::bank::rfc3339(scanpay_http::now_ms())[..10].to_string();
    caller.get(&format!("/v1/settlement?date={today}")).await
}

/// `bank`'s net position in a settlement report.
pub fn net_of(report: &Answer, bank: &str) -> i64 {
    report.body["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["bank_id"] == bank)
        .unwrap_or_else(|| panic!("no position for {bank}: {report:?}"))["net_minor"]
        .as_i64()
        .unwrap()
}

pub async fn pay(payer: &Payer, payee: &str, amount: i64, key: &str) -> Answer {
    pay_from(payer, &payer.terminal, payee, amount, key).await
}

pub async fn pay_from(
    payer: &Payer,
    terminal: &str,
    payee: &str,
    amount: i64,
    key: &str,
) -> Answer {
    payer
        .wallet
        .post(
            "/v1/payments",
            &json!({"registration_code": payer.code, "terminal_id": terminal,
                    "payee_id": payee, "amount_minor": amount, "currency": "USD"}),
            Some(key),
        )
        .await
}

/// The newest verification code the wallet's notification stream holds for `payment`.
pub async fn code_for(wallet: &Hub, payment: &str) -> String {
    let mut after = 0;
    let mut code = None;
    loop {
        let page = wallet
            .get(&format!("/v1/notifications?after={after}"))
            .await;
        assert_eq!(page.status, 200, "{page:?}");
        let items = page.body["items"].as_array().unwrap();
        for item in items {
            if item["kind"] == "verification_code" && item["payment_id"] == payment {
                code = Some(item["verification_code"].as_str().unwrap().to_string());
            }
        }
        if items.is_empty() {
            return code.expect("a code was sent");
        }
        after = page.body["next_after"].as_i64().unwrap();
    }
}

pub async fn verify(payer: &Payer, payment: &str, code: &str, amount: i64, payee: &str) -> Answer {
    payer
        .wallet
        .post(
            &format!("/v1/payments/{payment}/verify"),
            &json!({"verification_code": code, "amount_minor": amount, "currency": "USD",
                    "payee_id": payee}),
            Some(&unique("k")),
        )
        .await
}

/// Refunds `amount` (all that is left, if none) of payment `id`, as `payee`.
pub async fn refund(payee: &Hub, id: &str, amount: Option<i64>) -> Answer {
    let body = match amount {
        Some(a) => serde_json::json!({"amount_minor": a}),
        None => serde_json::json!({}),
    };
    payee
        .post(
            &format!("/v1/payments/{id}/refunds"),
            &body,
            Some(&unique("r")),
        )
        .await
}

/// The `scanpay` binary built for these tests.
pub fn scanpay_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_scanpay"))
}
