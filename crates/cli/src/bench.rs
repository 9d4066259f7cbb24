//! `scanpay bench ledger`: durable transfers driven into a real bank over its real HTTP API.
//!
//! A bank is started in this process on a loopback port, on a fresh SQLite file (default) or a
//! fresh PostgreSQL schema. Accounts are opened through the API, funded, and then many concurrent
//! clients send signed transfer requests until the time is up: first one transfer per request,
//! then batches of transfers per request. Each line printed gives transfers/s and request
//! latency percentiles. Afterwards the books are audited (debits equal credits). On PostgreSQL
//! pgbench's TPC-B-like script runs on the same server for a ratio.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use scanpay_bank::{Bank, BankConfig, Vault};
use scanpay_proto::bank::{
    AccountView, CreateAccount, CreateCustomer, Customer, LedgerTotalsView, TransferBatchRequest,
    TransferBatchResponse, TransferRequest, TransferResult,
};
use scanpay_store::{BankStore, DatabaseUrl, PgBank, SqliteBank};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use uuid::Uuid;

pub struct LedgerBench {
    pub duration: Duration,
    pub database_url: Option<String>,
    /// Concurrent client connections.
    pub connections: usize,
    pub accounts: usize,
    /// Transfers per request in the batched phase.
    pub batch_size: usize,
    pub pgbench_seconds: u64,
}

/// A signed-request client for the bank API.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    secret: Arc<Vec<u8>>,
}

impl Client {
    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<(u16, T)> {
        let bytes = serde_json::to_vec(body)?;
        let timestamp = scanpay_http::now_ms() / 1000;
        let signature = scanpay_proto::signing::sign(&self.secret, timestamp, "POST", path, &bytes);
        let response = self
            .http
            .post(format!("{}{path}", self.base))
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
        let text = response.bytes().await?;
        if status >= 500 {
            bail!(
                "{path} answered {status}: {}",
                String::from_utf8_lossy(&text)
            );
        }
        Ok((
            status,
            serde_json::from_slice(&text).with_context(|| format!("{path} answered {status}"))?,
        ))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let timestamp = scanpay_http::now_ms() / 1000;
        let signature = scanpay_proto::signing::sign(&self.secret, timestamp, "GET", path, b"");
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header(
                scanpay_proto::signing::HEADER_TIMESTAMP,
                timestamp.to_string(),
            )
            .header(scanpay_proto::signing::HEADER_SIGNATURE, signature)
            .send()
            .await?;
        Ok(response.error_for_status()?.json().await?)
    }
}

impl Client {
    /// Opens a customer (passport `document_number`) with one USD account; returns the account.
    async fn open_account(
        &self,
        full_name: String,
        document_number: String,
    ) -> anyhow::Result<Uuid> {
        let (_, customer): (u16, Customer) = self
            .post(
                "/v1/customers",
                &CreateCustomer {
                    id: None,
                    full_name,
                    id_document_type: "passport".to_string(),
                    id_document_number: document_number,
                    birth_date: "1985-05-05".to_string(),
                    address: String::new(),
                    phone: String::new(),
                },
            )
            .await?;
        let (_, account): (u16, AccountView) = self
            .post(
                "/v1/accounts",
                &CreateAccount {
                    id: None,
                    customer_id: customer.id,
                    currency: "USD".to_string(),
                    overdraft_limit_minor: None,
                },
            )
            .await?;
        Ok(account.id)
    }
}

/// A benchmark's `--database-url`, parsed, and a fresh temporary directory for its files.
pub(crate) fn bench_store(
    database_url: Option<&str>,
) -> anyhow::Result<(Option<DatabaseUrl>, std::path::PathBuf)> {
    let url = database_url
        .map(DatabaseUrl::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let temp = std::env::temp_dir().join(format!("scanpay-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&temp)?;
    Ok((url, temp))
}

pub async fn ledger(options: LedgerBench) -> anyhow::Result<()> {
    let (url, temp) = bench_store(options.database_url.as_deref())?;
    let result = match url {
        None | Some(DatabaseUrl::Sqlite(_)) => {
            let path = match url {
                Some(DatabaseUrl::Sqlite(path)) => path,
                _ => temp.join("bank-bench.db"),
            };
            let store = SqliteBank::open(&path)?;
            run_ledger(store, "sqlite", &options).await
        }
        Some(DatabaseUrl::Postgres(url)) => {
            let schema = format!("bank_bench_{}", &Uuid::new_v4().simple().to_string()[..8]);
            let store = PgBank::connect(&url, &schema).await?;
            let result = run_ledger(store, "postgres", &options).await;
            if let Ok(measured) = &result {
                pgbench(&url, options.pgbench_seconds, measured).await?;
            }
            result
        }
    };
    let _ = std::fs::remove_dir_all(&temp);
    result.map(|_| ())
}

/// The best transfers/s measured, for the pgbench ratio.
#[derive(Clone)]
struct Measured {
    single_per_second: f64,
    batched_per_second: f64,
}

async fn run_ledger<S: BankStore>(
    store: S,
    backend: &str,
    options: &LedgerBench,
) -> anyhow::Result<Measured> {
    let secret = vec![42u8; 32];
    let config = BankConfig {
        id: "bench".to_string(),
        name: "Bench Bank".to_string(),
        hub_secret: secret.clone(),
        ranges: vec![("4".to_string(), "4".to_string())],
    };
    let bank = Bank::new(config, store, Vault::new(&[7u8; 32]))?;
    let currency = scanpay_core::money::Currency::USD;
    let funding = scanpay_bank::seed::funding_account(&*bank.store, currency).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stop_rx) = watch::channel(false);
    let server = tokio::spawn(scanpay_bank::run(
        listener,
        bank,
        crate::system::stopped(stop_rx),
    ));
    let client = Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(options.connections)
            .timeout(Duration::from_secs(30))
            .build()?,
        base,
        secret: Arc::new(secret),
    };

    // Open and fund the accounts through the API.
    let mut accounts = Vec::with_capacity(options.accounts);
    for index in 0..options.accounts {
        let account = client
            .open_account(format!("BENCH CUSTOMER {index}"), format!("B{index:08}"))
            .await?;
        accounts.push(account);
    }
    let funding_requests: Vec<TransferRequest> = accounts
        .iter()
        .map(|account| transfer_request(funding, *account, 1_000_000_000))
        .collect();
    for chunk in funding_requests.chunks(scanpay_bank::TRANSFERS_PER_REQUEST_MAX) {
        let (_, _): (u16, TransferBatchResponse) = client
            .post(
                "/v1/transfers/batch",
                &TransferBatchRequest {
                    transfers: chunk.to_vec(),
                },
            )
            .await?;
    }
    let accounts = Arc::new(accounts);

    println!(
        "bench ledger: {backend}, {} accounts, {} connections, {:?} a phase, durable commits",
        options.accounts, options.connections, options.duration
    );
    let single = drive(&client, &accounts, options, 1).await?;
    single.print(backend, "1 transfer a request");
    let batched = drive(&client, &accounts, options, options.batch_size).await?;
    batched.print(
        backend,
        &format!("{} transfers a request", options.batch_size),
    );

    let totals: LedgerTotalsView = client.get("/v1/ledger/totals").await?;
    let balanced = totals.debits_posted_minor == totals.credits_posted_minor
        && totals.posted_from_transfers_minor == totals.debits_posted_minor;
    println!(
        "audit: {} transfers applied, {} rejected, debits {} = credits {}: {}",
        totals.transfers_created,
        totals.transfers_rejected,
        totals.debits_posted_minor,
        totals.credits_posted_minor,
        if balanced { "balanced" } else { "NOT BALANCED" }
    );
    let _ = stop.send(true);
    let _ = server.await;
    if !balanced {
        bail!("the books do not balance");
    }
    Ok(Measured {
        single_per_second: single.transfers_per_second(),
        batched_per_second: batched.transfers_per_second(),
    })
}

fn transfer_request(debit: Uuid, credit: Uuid, amount: i64) -> TransferRequest {
    TransferRequest {
        id: Uuid::now_v7(),
        kind: None,
        debit_account_id: Some(debit),
        credit_account_id: Some(credit),
        amount_minor: Some(amount.into()),
        currency: "USD".to_string(),
        pending_id: None,
        timeout_seconds: None,
        reference: None,
    }
}

struct PhaseResult {
    transfers: u64,
    errors: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl PhaseResult {
    fn transfers_per_second(&self) -> f64 {
        self.transfers as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self, backend: &str, mode: &str) {
        let mut latencies = self.latencies.clone();
        latencies.sort_unstable();
        let at = |q: f64| quantile_ms(&latencies, q);
        println!(
            "ledger {backend} ({mode}): {:.0} transfers/s, p50 {:.2} ms, p99 {:.2} ms, {} transfers, {} errors",
            self.transfers_per_second(),
            at(0.50),
            at(0.99),
            self.transfers,
            self.errors
        );
    }
}

/// Sends transfers between random accounts from `connections` clients for the phase's duration.
async fn drive(
    client: &Client,
    accounts: &Arc<Vec<Uuid>>,
    options: &LedgerBench,
    per_request: usize,
) -> anyhow::Result<PhaseResult> {
    let deadline = Instant::now() + options.duration;
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..options.connections {
        let client = client.clone();
        let accounts = accounts.clone();
        workers.push(tokio::spawn(async move {
            let mut state = (worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let (mut transfers, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
            while Instant::now() < deadline {
                let batch: Vec<TransferRequest> = (0..per_request)
                    .map(|_| {
                        let debit = accounts[(next() % accounts.len() as u64) as usize];
                        let mut credit = accounts[(next() % accounts.len() as u64) as usize];
                        if credit == debit {
                            credit = accounts[(accounts.iter().position(|a| *a == debit).unwrap()
                                + 1)
                                % accounts.len()];
                        }
                        transfer_request(debit, credit, 1 + (next() % 100) as i64)
                    })
                    .collect();
                let sent = Instant::now();
                let ok = if per_request == 1 {
                    match client
                        .post::<TransferResult>("/v1/transfers", &batch[0])
                        .await
                    {
                        Ok((201, _)) => 1,
                        _ => 0,
                    }
                } else {
                    match client
                        .post::<TransferBatchResponse>(
                            "/v1/transfers/batch",
                            &TransferBatchRequest { transfers: batch },
                        )
                        .await
                    {
                        Ok((200, response)) => response
                            .results
                            .iter()
                            .filter(|r| r.outcome == "created")
                            .count() as u64,
                        _ => 0,
                    }
                };
                latencies.push(sent.elapsed());
                transfers += ok;
                errors += per_request as u64 - ok;
            }
            (transfers, errors, latencies)
        }));
    }
    let mut result = PhaseResult {
        transfers: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for worker in workers {
        let (transfers, errors, latencies) = worker.await?;
        result.transfers += transfers;
        result.errors += errors;
        result.latencies.extend(latencies);
    }
    result.elapsed = started.elapsed();
    Ok(result)
}

/// pgbench's TPC-B-like figure next to the ledger's, as ratios.
async fn pgbench(url: &str, seconds: u64, measured: &Measured) -> anyhow::Result<()> {
    let tps = pgbench_tps(url, seconds).await?;
    println!(
        "ratio to pgbench: {:.2}x (1 transfer a request), {:.2}x (batched requests)",
        measured.single_per_second / tps,
        measured.batched_per_second / tps
    );
    Ok(())
}

/// Runs pgbench's built-in TPC-B-like script, 8 clients, on the same server, in a database of its
/// own; prints and returns its tps.
pub(crate) async fn pgbench_tps(url: &str, seconds: u64) -> anyhow::Result<f64> {
    let database = "scanpay_pgbench";
    let _ = tokio::process::Command::new("psql")
        .arg(url)
        .args(["-q", "-c", &format!("CREATE DATABASE {database}")])
        .output()
        .await
        .context("running psql (is the PostgreSQL client installed?)")?;
    let bench_url = with_database(url, database);
    let init = tokio::process::Command::new("pgbench")
        .args(["-i", "-q", "-s", "10", &bench_url])
        .output()
        .await
        .context("running pgbench")?;
    if !init.status.success() {
        bail!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    let run = tokio::process::Command::new("pgbench")
        .args(["-c", "8", "-j", "2", "-T", &seconds.to_string(), &bench_url])
        .output()
        .await?;
    let text = String::from_utf8_lossy(&run.stdout);
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .with_context(|| format!("no tps in pgbench's output: {text}"))?;
    println!("pgbench TPC-B-like (8 clients, {seconds} s): {tps:.0} tps");
    Ok(tps)
}

/// `postgres://u@h:p/db?x` with another database name.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{host_part}/{database}{query}")
}

/// `scanpay bench extract`: reads every JPEG and PNG in a directory and prints, per image, the
/// time and what was found; then a summary. An `expected.json` in the directory (file name →
/// `{"pan": "…"}`) is checked too, and so is a transcription of the MRZs (`truth`).
pub fn extract(
    dataset: &std::path::Path,
    models: Option<&std::path::Path>,
    truth: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use scanpay_extract::document::{Options, extract};
    let reader = crate::extract::load_reader(models, false)?;
    let day = scanpay_core::registration::Day::from_unix_ms(scanpay_http::now_ms());
    let options = Options {
        pixels_max: scanpay_extract::photo::IMAGE_PIXELS_MAX_DEFAULT,
        today: scanpay_extract::Date::new(day.year, day.month, day.day).expect("a civil date"),
        reader: reader.as_deref(),
    };
    let expected: serde_json::Value = std::fs::read_to_string(dataset.join("expected.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(serde_json::Value::Null);
    let truth = match truth {
        Some(path) => mrz_truth(path, options.today)?,
        None => HashMap::new(),
    };
    let (mut truths, mut truths_exact) = (0, 0);
    let mut files: Vec<_> = std::fs::read_dir(dataset)
        .with_context(|| format!("reading {}", dataset.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    files.sort();
    let (mut times, mut identities, mut mrz_all_pass, mut mrz_read) = (Vec::new(), 0, 0, 0);
    let (mut cards, mut pans_expected, mut pans_exact) = (0, 0, 0);
    println!(
        "bench extract: {} images in {}",
        files.len(),
        dataset.display()
    );
    for path in &files {
        let bytes = std::fs::read(path)?;
        let started = Instant::now();
        let result = extract(&bytes, &options);
        let elapsed = started.elapsed();
        times.push(elapsed);
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut notes = Vec::new();
        match &result {
            Ok(found) => {
                if found.identity.is_some() {
                    identities += 1;
                }
                if !found.mrz_checks.is_empty() {
                    mrz_read += 1;
                    let failed: Vec<&str> = found
                        .mrz_checks
                        .iter()
                        .filter(|c| !c.passed)
                        .map(|c| c.field)
                        .collect();
                    if failed.is_empty() {
                        mrz_all_pass += 1;
                        notes.push("mrz: all checks pass".to_string());
                    } else {
                        notes.push(format!("mrz: failed {}", failed.join(",")));
                    }
                } else if found.identity.is_some() {
                    notes.push("identity from barcode".to_string());
                }
                if let Some(card) = &found.card {
                    cards += 1;
                    notes.push(format!(
                        "card •••• {}",
                        &card.card_number.value[card.card_number.value.len() - 4..]
                    ));
                }
            }
            Err(error) => notes.push(error.code().to_string()),
        }
        if let Some(expected) = truth.get(&name) {
            truths += 1;
            let read = result.as_ref().ok().and_then(|f| f.identity.as_ref());
            match differences(read, expected) {
                None => {
                    truths_exact += 1;
                    notes.push("fields exact".to_string());
                }
                Some(differ) => notes.push(format!("FIELDS DIFFER: {differ}")),
            }
        }
        if let Some(pan) = expected[&name]["pan"].as_str() {
            pans_expected += 1;
            let read = result
                .as_ref()
                .ok()
                .and_then(|f| f.card.as_ref())
                .map(|c| c.card_number.value.as_str());
            if read == Some(pan) {
                pans_exact += 1;
                notes.push("pan exact".to_string());
            } else {
                notes.push("PAN WRONG OR MISSING".to_string());
            }
        }
        println!(
            "  {name:<28} {:>7.1} ms  {}",
            elapsed.as_secs_f64() * 1000.0,
            notes.join("; ")
        );
    }
    times.sort();
    let at = |q: f64| quantile_ms(&times, q);
    println!(
        "summary: {} images, {} with an identity, {} MRZ read, {} with every check digit passing, {} cards, PAN exact {}/{}; p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms (decode included{})",
        files.len(),
        identities,
        mrz_read,
        mrz_all_pass,
        cards,
        pans_exact,
        pans_expected,
        at(0.5),
        at(0.9),
        times
            .last()
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0),
        if reader.is_some() {
            ", OCR on"
        } else {
            ", OCR off: no models"
        }
    );
    if truths > 0 {
        println!(
            "truth: {truths_exact} of {truths} transcribed MRZs read with every field exact \
             (document type, number, countries, names, dates, sex)"
        );
    }
    Ok(())
}

/// `scanpay bench extract --visual-zone`: every photo's visual zone read (all its text, then
/// [`scanpay_extract::viz`]) whatever else the photo has, and compared field by field with the
/// transcription of its MRZ. An MRZ shortens and transliterates names, so names are compared as
/// plain words ([`scanpay_extract::viz::plain`]) and a zone's given names may be the start of
/// the printed ones.
pub fn extract_visual_zone(
    dataset: &std::path::Path,
    models: Option<&std::path::Path>,
    truth: &std::path::Path,
) -> anyhow::Result<()> {
    use scanpay_extract::viz::{self, plain};
    let reader = crate::extract::load_reader(models, false)?
        .context("the OCR models are needed: run scripts/models")?;
    let day = scanpay_core::registration::Day::from_unix_ms(scanpay_http::now_ms());
    let today = scanpay_extract::Date::new(day.year, day.month, day.day).expect("a civil date");
    let truth = mrz_truth(truth, today)?;
    let mut names: Vec<&String> = truth.keys().collect();
    names.sort();
    println!(
        "bench extract --visual-zone: {} transcribed photos in {}",
        names.len(),
        dataset.display()
    );
    // Per field: how many photos had a value read, and how many of those agree with the MRZ.
    const FIELDS: [&str; 7] = [
        "surname",
        "given_names",
        "document_number",
        "nationality",
        "birth_date",
        "sex",
        "expiry_date",
    ];
    let (mut read, mut agree) = ([0usize; FIELDS.len()], [0usize; FIELDS.len()]);
    let (mut identities, mut times) = (0, Vec::new());
    for name in names {
        let expected = &truth[name];
        let image = scanpay_extract::photo::decode(
            &std::fs::read(dataset.join(name))?,
            scanpay_extract::photo::IMAGE_PIXELS_MAX_DEFAULT,
        )?;
        let started = Instant::now();
        let lines = reader.read_lines(&image).map_err(anyhow::Error::msg)?;
        let found = viz::identity(&lines, today);
        times.push(started.elapsed());
        let mut notes = Vec::new();
        if let Some(found) = &found {
            identities += 1;
            let values = found.values();
            let truths = expected.values();
            for (index, field) in FIELDS.iter().enumerate() {
                let at = |values: &[(&str, String); 10]| {
                    values
                        .iter()
                        .find(|(f, _)| f == field)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let (got, want) = (at(&values), at(&truths));
                if got == "-" {
                    continue;
                }
                read[index] += 1;
                let same = match *field {
                    "surname" => plain(&got) == plain(&want),
                    "given_names" => {
                        let (got, want) = (plain(&got), plain(&want));
                        !want.is_empty() && (got == want || got.starts_with(&format!("{want} ")))
                    }
                    _ => got == want,
                };
                if same {
                    agree[index] += 1;
                    notes.push(format!("{field} ok"));
                } else {
                    notes.push(format!("{field} {got} (mrz {want})"));
                }
            }
        } else {
            notes.push("no identity".to_string());
        }
        println!(
            "  {name:<28} {:>3} lines {:>7.1} ms  {}",
            lines.len(),
            times.last().expect("pushed").as_secs_f64() * 1000.0,
            notes.join("; ")
        );
    }
    times.sort();
    println!(
        "summary: {identities} of {} photos with an identity from the visual zone; p50 {:.0} ms (every line read)",
        truth.len(),
        quantile_ms(&times, 0.5)
    );
    for (index, field) in FIELDS.iter().enumerate() {
        println!(
            "  {field:<16} read {:>2}, agreeing with the MRZ {:>2}",
            read[index], agree[index]
        );
    }
    Ok(())
}

/// `scanpay bench extract --synthetic N`: N synthetic zones at each level of damage (see
/// [`crate::synthetic`]), each read through `extract` and compared field by field with the
/// zone drawn; per level, how many were read with every check digit passing (listing each of
/// those with a checked field wrong), how many with every field exact, and the time. With
/// `keep_misses`, each zone not read exactly is saved there to look at.
pub fn extract_synthetic(
    count: usize,
    models: Option<&std::path::Path>,
    keep_misses: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use crate::synthetic::{self, LEVELS};
    use scanpay_extract::document::{Options, extract};
    let reader = crate::extract::load_reader(models, false)?
        .context("the OCR models are needed: run scripts/models")?;
    let today = scanpay_extract::Date::new(2026, 12, 4).expect("a civil date");
    let options = Options {
        pixels_max: scanpay_extract::photo::IMAGE_PIXELS_MAX_DEFAULT,
        today,
        reader: Some(reader.as_ref()),
    };
    if let Some(dir) = keep_misses {
        std::fs::create_dir_all(dir)?;
    }
    let (font, font_path) = synthetic::font()?;
    println!(
        "bench extract --synthetic: {count} zones at each of {LEVELS} levels of damage, drawn in {}",
        font_path.display()
    );
    for level in 0..LEVELS {
        let mut rng = synthetic::bench_rng(level, count);
        let (mut passed, mut exact, mut times) = (0, 0, Vec::new());
        // Examples of a miss, and of the worst outcome: a field a passing check digit
        // vouches for, wrong.
        let (mut misses, mut checked_wrong) = (Vec::new(), Vec::new());
        // How often a checked field was right at each confidence it was given.
        let mut calibration: std::collections::BTreeMap<u32, (u32, u32)> = Default::default();
        for index in 0..count {
            let lines = synthetic::zone(&mut rng, index);
            let photo = synthetic::photograph(&font, &lines, level, &mut rng);
            let mut png = Vec::new();
            photo.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
            let started = Instant::now();
            let result = extract(&png, &options);
            times.push(started.elapsed());
            let expected = scanpay_extract::mrz::parse(&lines.join("\n"), today)?.identity();
            let found = result.as_ref().ok();
            let read = found.and_then(|f| f.identity.as_ref());
            let example = |differ: String| format!("{} → {differ}", lines.join("|"));
            let checks_pass = found.is_some_and(|f| f.mrz_checks_pass());
            // The checked fields read otherwise than drawn.
            let checked_wrong_fields: Vec<&str> = read
                .map(|read| fields_differing(&expected, read))
                .unwrap_or_default()
                .into_iter()
                .map(|d| d.field)
                .filter(|field| scanpay_extract::mrz::CHECKED_FIELDS.contains(field))
                .collect();
            if let Some(read) = read {
                let confidences = [
                    read.document_number.as_ref().map(|f| f.confidence),
                    read.birth_date.as_ref().map(|f| f.confidence),
                    read.expiry_date.as_ref().map(|f| f.confidence),
                ];
                for (field, confidence) in
                    scanpay_extract::mrz::CHECKED_FIELDS.iter().zip(confidences)
                {
                    let Some(confidence) = confidence else {
                        continue;
                    };
                    let seen = calibration
                        .entry((confidence * 100.0).round() as u32)
                        .or_default();
                    seen.0 += 1;
                    seen.1 += u32::from(checked_wrong_fields.contains(field));
                }
            }
            if checks_pass {
                passed += 1;
                if !checked_wrong_fields.is_empty() {
                    checked_wrong.push(example(differences(read, &expected).unwrap_or_default()));
                }
            }
            match differences(read, &expected) {
                None => exact += 1,
                Some(differ) => {
                    if let Some(dir) = keep_misses {
                        let name = format!("level{level}-{index}");
                        std::fs::write(dir.join(format!("{name}.png")), &png)?;
                        std::fs::write(
                            dir.join(format!("{name}.txt")),
                            format!(
                                "{}\n{differ}{}\n",
                                lines.join("\n"),
                                if checks_pass {
                                    " (every check digit passing)"
                                } else {
                                    ""
                                }
                            ),
                        )?;
                    }
                    misses.push(example(differ));
                }
            }
        }
        times.sort();
        println!(
            "  level {level}: {passed}/{count} with every check digit passing ({} of them with a checked field wrong), {exact}/{count} every field exact; p50 {:.0} ms, p90 {:.0} ms",
            checked_wrong.len(),
            quantile_ms(&times, 0.5),
            quantile_ms(&times, 0.9)
        );
        let calibrated: Vec<String> = calibration
            .iter()
            .rev()
            .map(|(percent, (read, wrong))| format!("{percent}%: {read} read, {wrong} wrong"))
            .collect();
        println!(
            "    checked fields (number, dates) by confidence: {}",
            calibrated.join(" · ")
        );
        for miss in misses.iter().take(3) {
            println!("    e.g. {miss}");
        }
        // Every one: the outcome that matters most, and rare.
        for wrong in &checked_wrong {
            println!("    checked field wrong: {wrong}");
        }
    }
    Ok(())
}

/// The transcribed MRZs of `path`: file name → the identity its zone holds. Lines starting
/// with `#` are comments.
fn mrz_truth(
    path: &std::path::Path,
    today: scanpay_extract::Date,
) -> anyhow::Result<HashMap<String, scanpay_extract::Identity>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut truth = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let columns: Vec<&str> = line.split('\t').collect();
        let [file, _format, _readable, _checks, zone] = columns[..] else {
            anyhow::bail!(
                "{}:{}: expected five tab-separated columns",
                path.display(),
                number + 1
            );
        };
        let mrz = scanpay_extract::mrz::parse(&zone.replace('|', "\n"), today)
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), number + 1))?;
        truth.insert(file.to_string(), mrz.identity());
    }
    Ok(truth)
}

/// The fields of `read` that differ from `expected` (values only, not confidences).
fn fields_differing(
    expected: &scanpay_extract::Identity,
    read: &scanpay_extract::Identity,
) -> Vec<Difference> {
    expected
        .values()
        .into_iter()
        .zip(read.values())
        .filter(|((_, expected), (_, read))| expected != read)
        .map(|((field, expected), (_, read))| Difference {
            field,
            read,
            expected,
        })
        .collect()
}

/// One field read otherwise than expected.
struct Difference {
    field: &'static str,
    read: String,
    expected: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} (truth {})", self.field, self.read, self.expected)
    }
}

/// The differences as one line; "nothing read" when there was no identity at all.
fn differences(
    read: Option<&scanpay_extract::Identity>,
    expected: &scanpay_extract::Identity,
) -> Option<String> {
    let Some(read) = read else {
        return Some("nothing read".to_string());
    };
    let differ = fields_differing(expected, read);
    (!differ.is_empty()).then(|| {
        differ
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The `q` quantile of sorted durations, in milliseconds (0 when there are none).
pub(crate) fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    let index = ((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

pub struct RegisterBench {
    pub count: usize,
    pub concurrency: usize,
}

/// `scanpay bench register`: whole registrations (sign-up, start, fields, confirm: routing, the
/// bank's saved identity, matching, code, binding) against a system started in this process on
/// a fresh SQLite data directory. Customers with cards are opened at the bank first.
pub async fn register(options: RegisterBench) -> anyhow::Result<()> {
    let data = std::env::temp_dir().join(format!("scanpay-bench-reg-{}", Uuid::new_v4().simple()));
    let mut seed = scanpay_bank::seed::SeedFile::parse(scanpay_bank::seed::DEMO)?;
    for bank in &mut seed.bank {
        bank.generated_customers = 0;
    }
    let running = crate::system::start(&crate::system::SystemConfig {
        data_dir: data.clone(),
        database_url: None,
        host: [127, 0, 0, 1].into(),
        port: 0,
        seed,
        schema_prefix: String::new(),
        payment_policy: Default::default(),
        code_command: None,
        webhooks_to_private_networks: false,
    })
    .await?;
    let (bank_id, bank_url) = running.bank_urls[0].clone();
    let bank = Client {
        http: reqwest::Client::new(),
        base: bank_url,
        secret: Arc::new(crate::system::secret(&crate::system::secret_path(
            &data, &bank_id,
        ))?),
    };
    // Customers with Visa cards at North Bank, whose identities the wallets will present.
    let mut people = Vec::with_capacity(options.count);
    for index in 0..options.count {
        let account = bank
            .open_account(format!("BENCH PERSON {index}"), format!("B{index:08}"))
            .await?;
        let partial = format!("4{:014}", 100_000_000 + index);
        let check = scanpay_core::card::luhn_check_digit(&partial).expect("digits");
        let number = format!("{partial}{check}");
        let (status, _): (u16, serde_json::Value) = bank
            .post(
                "/v1/cards",
                &serde_json::json!({"account_id": account, "card_number": number, "expiry_month": 12,
                                    "expiry_year": 2031, "holder_name": format!("BENCH PERSON {index}")}),
            )
            .await?;
        anyhow::ensure!(status == 201, "opening card {index}: {status}");
        people.push((index, number));
    }
    let hub_url = running.hub_url().to_string();
    let http = reqwest::Client::new();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(options.concurrency));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (index, number) in people {
        let (http, hub_url, semaphore) = (http.clone(), hub_url.clone(), semaphore.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire().await.expect("open");
            let began = Instant::now();
            let post = |path: String, token: Option<String>, body: serde_json::Value| {
                let mut request = http.post(format!("{hub_url}{path}")).json(&body);
                if let Some(token) = token {
                    request = request.bearer_auth(token).header("idempotency-key", Uuid::new_v4().to_string());
                }
                async move {
                    let response = request.send().await?;
                    let status = response.status().as_u16();
                    let body: serde_json::Value = response.json().await?;
                    anyhow::ensure!(status < 300, "{status}: {body}");
                    Ok::<_, anyhow::Error>(body)
                }
            };
            let wallet = post("/v1/wallets".into(), None, serde_json::json!({"name": "bench"})).await?;
            let token = wallet["token"].as_str().unwrap_or_default().to_string();
            let session = post("/v1/registrations".into(), Some(token.clone()), serde_json::json!({"terminal_id": format!("bench-{index}")})).await?;
            let id = session["id"].as_str().unwrap_or_default().to_string();
            post(
                format!("/v1/registrations/{id}/fields"),
                Some(token.clone()),
                serde_json::json!({"identity": {"full_name": format!("BENCH PERSON {index}"), "document_type": "passport",
                    "document_number": format!("B{index:08}"), "birth_date": "1985-05-05", "expiry_date": "2032-01-01"},
                    "card": {"card_number": number, "expiry_month": 12, "expiry_year": 2031}}),
            )
            .await?;
            let confirmed = post(format!("/v1/registrations/{id}/confirm"), Some(token), serde_json::json!({})).await?;
            anyhow::ensure!(confirmed["state"] == "bound", "not bound: {confirmed}");
            Ok::<_, anyhow::Error>(began.elapsed())
        }));
    }
    let mut times = Vec::new();
    let mut errors = 0;
    for task in tasks {
        match task.await? {
            Ok(elapsed) => times.push(elapsed),
            Err(error) => {
                errors += 1;
                eprintln!("registration failed: {error:#}");
            }
        }
    }
    let wall = started.elapsed();
    times.sort();
    let at = |q: f64| quantile_ms(&times, q);
    println!(
        "bench register (fields, SQLite, {} at a time): {} registrations in {:.2} s ({:.0}/s), p50 {:.1} ms, p99 {:.1} ms, {} errors",
        options.concurrency,
        times.len(),
        wall.as_secs_f64(),
        times.len() as f64 / wall.as_secs_f64(),
        at(0.5),
        at(0.99),
        errors
    );
    running.stop().await;
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn with_database() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://h/test?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://h", "x"), "postgres://h/x");
    }
}
