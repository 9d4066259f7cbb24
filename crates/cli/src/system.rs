//! Starting the services the way a user does: banks from the seed file, then the hub that routes
//! to them, each on its own loopback socket, each with its own store.
//!
//! Where things live in the data directory:
//! - `hub.db`, `bank-<id>.db`: the SQLite files (with PostgreSQL: schemas `hub`, `bank_<id>`);
//! - `secrets/<id>.secret`: the secret the hub signs bank `<id>`'s requests with;
//! - `secrets/<id>.key`: bank `<id>`'s master key for personal data at rest;
//! - `secrets/hub.key`: the hub's key for what it keeps encrypted (stored idempotent answers);
//! - `operator.token`: the first operator's bearer token.
//!
//! All files with secrets are created with mode 0600 on first start and reused after.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use scanpay_bank::seed::{SeedBank, SeedFile};
use scanpay_bank::{Bank, BankConfig, Vault};
use scanpay_hub::{BankLink, HttpBank, Hub};
use scanpay_store::{BankStore, DatabaseUrl, HubStore, PgBank, PgHub, SqliteBank, SqliteHub};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Reads a 32-byte secret kept as hex in `path`, or makes it there.
pub fn secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    let key = scanpay_bank::vault::load_or_create_master_key(path)
        .with_context(|| format!("secret file {}", path.display()))?;
    Ok(key.to_vec())
}

/// The master key in `path`, made when absent — unless the store already holds data, sealed
/// under a key that is gone (a data directory lost or not copied beside a PostgreSQL database):
/// a new key would start a service that cannot read a card, an identity or a code it has.
fn master_key(path: &Path, store_has_data: bool, whose: &str) -> anyhow::Result<[u8; 32]> {
    if store_has_data && !path.exists() {
        anyhow::bail!(
            "{} is missing but the database of {whose} holds data sealed with it: restore the \
             key file (from the data directory it was made in), or start on an empty database",
            path.display()
        );
    }
    scanpay_bank::vault::load_or_create_master_key(path)
        .with_context(|| format!("master key {}", path.display()))
}

pub fn secret_path(data_dir: &Path, bank_id: &str) -> PathBuf {
    data_dir.join("secrets").join(format!("{bank_id}.secret"))
}

fn master_key_path(data_dir: &Path, bank_id: &str) -> PathBuf {
    data_dir.join("secrets").join(format!("{bank_id}.key"))
}

fn hub_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("secrets").join("hub.key")
}

pub fn operator_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("operator.token")
}

/// Resolves to `()` once `stop` says so.
pub async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// How to start one bank.
pub struct BankLaunch<'a> {
    pub seed: &'a SeedBank,
    pub data_dir: &'a Path,
    pub database_url: Option<&'a str>,
    pub listener: TcpListener,
    /// Write the seed file's customers on first start.
    pub seed_customers: bool,
    /// Prefixed to PostgreSQL schema names, so test runs do not meet (`""` normally).
    pub schema_prefix: &'a str,
}

/// Starts a bank; returns its task (ending when `stop` fires and requests drained).
pub async fn start_bank(
    launch: BankLaunch<'_>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let id = &launch.seed.id;
    let url = match launch.database_url {
        Some(url) => DatabaseUrl::parse(url).map_err(anyhow::Error::msg)?,
        None => DatabaseUrl::Sqlite(launch.data_dir.join(format!("bank-{id}.db"))),
    };
    match url {
        DatabaseUrl::Sqlite(path) => {
            // Opening may wait up to seconds for a bank process still stopping to release the
            // writer lock: off the runtime's workers, which the hub and the other banks of
            // `scanpay up` start on meanwhile.
            let opening = path.clone();
            let store = tokio::task::spawn_blocking(move || SqliteBank::open(&opening))
                .await
                .context("opening the bank's store")?
                .with_context(|| format!("opening {}", path.display()))?;
            launch_bank(store, launch, stop).await
        }
        DatabaseUrl::Postgres(url) => {
            let store = PgBank::connect(&url, &format!("{}bank_{id}", launch.schema_prefix))
                .await
                .context("connecting to PostgreSQL")?;
            launch_bank(store, launch, stop).await
        }
    }
}

async fn launch_bank<S: BankStore>(
    store: S,
    launch: BankLaunch<'_>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let seed = launch.seed;
    // Before any other secret is made beside it: a refused start leaves the directory as it was.
    let key_path = master_key_path(launch.data_dir, &seed.id);
    let has_data = store.customer_count().await? > 0;
    let master = master_key(&key_path, has_data, &format!("bank {}", seed.id))?;
    let config = BankConfig {
        id: seed.id.clone(),
        name: seed.name.clone(),
        hub_secret: secret(&secret_path(launch.data_dir, &seed.id))?,
        ranges: seed
            .ranges
            .iter()
            .map(|[low, high]| (low.clone(), high.clone()))
            .collect(),
    };
    let bank = Bank::new(config, store, Vault::new(&master))?;
    bank.bind_personal_data().await?;
    let mut seed = seed.clone();
    if !launch.seed_customers {
        seed.customer.clear();
        seed.generated_customers = 0;
    }
    let report = scanpay_bank::seed::seed_bank(&bank, &seed).await?;
    if report.customers_created > 0 {
        tracing::info!(bank = %seed.id, customers = report.customers_created, deposits = report.deposits_created, "seeded demo data");
    }
    let listener = launch.listener;
    Ok(tokio::spawn(async move {
        if let Err(error) = scanpay_bank::run(listener, bank, stopped(stop)).await {
            tracing::error!(%error, "bank stopped with an error");
        }
    }))
}

/// How to start the hub.
pub struct HubLaunch<'a> {
    pub seed: &'a SeedFile,
    pub data_dir: &'a Path,
    pub database_url: Option<&'a str>,
    pub listener: TcpListener,
    /// bank id → its base URL.
    pub bank_urls: Vec<(String, String)>,
    /// Prefixed to the PostgreSQL schema name (`""` normally).
    pub schema_prefix: &'a str,
    pub payment_policy: scanpay_core::payment::Policy,
    /// A program that also gets each verification code.
    pub code_command: Option<PathBuf>,
    /// Whether webhooks may reach loopback and private networks.
    pub webhooks_to_private_networks: bool,
}

/// Starts the hub; returns its task and the operator token.
pub async fn start_hub(
    launch: HubLaunch<'_>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<(JoinHandle<()>, String)> {
    let url = match launch.database_url {
        Some(url) => DatabaseUrl::parse(url).map_err(anyhow::Error::msg)?,
        None => DatabaseUrl::Sqlite(launch.data_dir.join("hub.db")),
    };
    match url {
        DatabaseUrl::Sqlite(path) => {
            let store =
                SqliteHub::open(&path).with_context(|| format!("opening {}", path.display()))?;
            launch_hub(store, launch, stop).await
        }
        DatabaseUrl::Postgres(url) => {
            let schema = format!("{}hub", launch.schema_prefix);
            let store = PgHub::connect(&url, &schema)
                .await
                .context("connecting to PostgreSQL")?;
            launch_hub(store, launch, stop).await
        }
    }
}

async fn launch_hub<S: HubStore>(
    store: S,
    launch: HubLaunch<'_>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<(JoinHandle<()>, String)> {
    // Before any other secret is made beside it: a refused start leaves the directory as it was.
    let has_data = !store.callers(None, 1).await?.is_empty();
    let master = master_key(&hub_key_path(launch.data_dir), has_data, "the hub")?;
    let mut banks = Vec::new();
    for (id, url) in &launch.bank_urls {
        let seed = launch
            .seed
            .bank
            .iter()
            .find(|b| &b.id == id)
            .with_context(|| format!("bank {id} is not in the seed file"))?;
        let secret = secret(&secret_path(launch.data_dir, id))?;
        let link = BankLink {
            id: id.clone(),
            name: seed.name.clone(),
            url: url.clone(),
            secret: secret.clone(),
            ranges: seed
                .ranges
                .iter()
                .map(|[low, high]| (low.clone(), high.clone()))
                .collect(),
        };
        banks.push((link, HttpBank::new(url, secret)));
    }
    let token =
        scanpay_hub::auth::ensure_operator_token(&store, &operator_token_path(launch.data_dir))
            .await?;
    ensure_merchants(&store, launch.seed, &launch.bank_urls, launch.data_dir).await?;
    let mut hub = Hub::new(store, banks, scanpay_bank::Vault::new(&master))?;
    hub.payment_policy = launch.payment_policy;
    hub.webhooks_to_private_networks = launch.webhooks_to_private_networks;
    if let Some(program) = launch.code_command.clone() {
        hub.code_sender = Some(std::sync::Arc::new(scanpay_hub::senders::CommandSender {
            program,
        }));
    }
    let models = scanpay_extract::ocr::default_models_dir();
    match scanpay_extract::ocr::Ocr::load(&models) {
        Ok(ocr) => hub = hub.with_reader(std::sync::Arc::new(ocr)),
        Err(error) => tracing::warn!(
            %error,
            models = %models.display(),
            "no OCR: photos are read for barcodes only (run scripts/models)"
        ),
    }
    let listener = launch.listener;
    let handle = tokio::spawn(async move {
        if let Err(error) = scanpay_hub::run(listener, hub, stopped(stop)).await {
            tracing::error!(%error, "hub stopped with an error");
        }
    });
    Ok((handle, token))
}

/// Where a seeded merchant's token is kept.
pub fn merchant_token_path(data_dir: &Path, merchant_id: &str) -> PathBuf {
    data_dir
        .join("merchants")
        .join(format!("{merchant_id}.token"))
}

/// Makes each merchant of the seed file (at a bank this hub routes to) a merchant caller with its
/// payout account and a token in `data/merchants/ID.token`; idempotent, and safe for two hubs
/// starting at once on one data directory.
async fn ensure_merchants<S: HubStore>(
    store: &S,
    seed: &SeedFile,
    bank_urls: &[(String, String)],
    data_dir: &Path,
) -> anyhow::Result<()> {
    for bank in seed
        .bank
        .iter()
        .filter(|b| bank_urls.iter().any(|(id, _)| *id == b.id))
    {
        for merchant in &bank.merchant {
            let path = merchant_token_path(data_dir, &merchant.id);
            let account_id = scanpay_bank::seed::merchant_account_id(&bank.id, &merchant.id);
            scanpay_hub::auth::ensure_token_caller(
                store,
                &path,
                scanpay_proto::hub::CallerKind::Merchant,
                &merchant.name,
                |caller_id| async move {
                    let row = scanpay_store::MerchantRow {
                        caller_id,
                        name: merchant.name.clone(),
                        bank_id: bank.id.clone(),
                        account_id,
                        created_at_ms: scanpay_http::now_ms(),
                        webhook_url: None,
                        webhook_secrets: Vec::new(),
                    };
                    match store.insert_merchant(row).await {
                        Ok(()) | Err(scanpay_store::StoreError::Duplicate(_)) => Ok(()),
                        Err(error) => Err(error.into()),
                    }
                },
            )
            .await
            .with_context(|| format!("merchant {}", merchant.id))?;
        }
    }
    Ok(())
}

/// The whole system of `scanpay up`.
pub struct SystemConfig {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub host: std::net::IpAddr,
    /// The hub's port; banks take the next ones. 0: any free ports.
    pub port: u16,
    pub seed: SeedFile,
    /// Prefixed to PostgreSQL schema names (`""` normally; tests use their own).
    pub schema_prefix: String,
    /// When payments need a verification code.
    pub payment_policy: scanpay_core::payment::Policy,
    /// A program that also gets each verification code (`[payments] code_command`).
    pub code_command: Option<PathBuf>,
    /// Whether webhooks may reach loopback and private networks
    /// (`[webhooks] allow_private_networks`).
    pub webhooks_to_private_networks: bool,
}

impl SystemConfig {
    /// How to start a hub of this system on `listener`, talking to the banks at `bank_urls`.
    fn hub_launch<'a>(
        &'a self,
        database_url: Option<&'a str>,
        listener: TcpListener,
        bank_urls: Vec<(String, String)>,
    ) -> HubLaunch<'a> {
        HubLaunch {
            seed: &self.seed,
            data_dir: &self.data_dir,
            database_url,
            listener,
            bank_urls,
            schema_prefix: &self.schema_prefix,
            payment_policy: self.payment_policy,
            code_command: self.code_command.clone(),
            webhooks_to_private_networks: self.webhooks_to_private_networks,
        }
    }
}

pub struct RunningSystem {
    /// Every hub's URL, the first hub's first (`hub_url`).
    pub hub_urls: Vec<String>,
    pub bank_urls: Vec<(String, String)>,
    pub operator_token: String,
    stop_hub: watch::Sender<bool>,
    hubs: Vec<JoinHandle<()>>,
    stop_banks: watch::Sender<bool>,
    banks: Vec<JoinHandle<()>>,
}

impl RunningSystem {
    /// The first hub's URL (the only one, unless `add_hub` started more).
    pub fn hub_url(&self) -> &str {
        &self.hub_urls[0]
    }

    /// Starts one more hub on the same data directory and PostgreSQL database, on a free port
    /// of `config.host` (several hubs share a database as several hub processes do; not a
    /// SQLite file, which has one writer). Returns its URL.
    pub async fn add_hub(&mut self, config: &SystemConfig) -> anyhow::Result<String> {
        let Some(database_url) = config.database_url.as_deref() else {
            anyhow::bail!("several hubs share a PostgreSQL database; give --database-url");
        };
        let listener = bind(config.host, 0).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let launch = config.hub_launch(Some(database_url), listener, self.bank_urls.clone());
        let (task, _) = start_hub(launch, self.stop_hub.subscribe())
            .await
            .context("starting another hub")?;
        self.hubs.push(task);
        self.hub_urls.push(url.clone());
        Ok(url)
    }

    /// Stops every service and waits for them to drain: the hubs first, so that the payments
    /// they are finishing still reach their banks, then the banks.
    pub async fn stop(self) {
        let _ = self.stop_hub.send(true);
        for task in self.hubs {
            let _ = task.await;
        }
        let _ = self.stop_banks.send(true);
        for task in self.banks {
            let _ = task.await;
        }
    }
}

async fn bind(host: std::net::IpAddr, port: u16) -> anyhow::Result<TcpListener> {
    let address = SocketAddr::new(host, port);
    TcpListener::bind(address)
        .await
        .with_context(|| format!("listening on {address} (is another scanpay running? try --port)"))
}

/// Starts the banks of the seed file and the hub, seeding demo data on first start.
pub async fn start(config: &SystemConfig) -> anyhow::Result<RunningSystem> {
    if let Some(url) = &config.database_url
        && let DatabaseUrl::Sqlite(_) = DatabaseUrl::parse(url).map_err(anyhow::Error::msg)?
    {
        // Every service would open that one file as its own.
        anyhow::bail!(
            "`scanpay up` keeps each service's SQLite file in the data directory; \
             --database-url takes a PostgreSQL URL (postgres://…)"
        );
    }
    scanpay_store::files::create_private_dir(&config.data_dir)
        .with_context(|| format!("making {}", config.data_dir.display()))?;
    let (stop_banks, stop_rx) = watch::channel(false);
    let (stop_hub, stop_hub_rx) = watch::channel(false);
    let hub_listener = bind(config.host, config.port).await?;
    let mut banks = Vec::new();
    let mut bank_urls = Vec::new();
    for (index, seed) in config.seed.bank.iter().enumerate() {
        let port = if config.port == 0 {
            0
        } else {
            u16::try_from(index + 1)
                .ok()
                .and_then(|i| config.port.checked_add(i))
                .context("--port leaves no room for the banks' ports after it")?
        };
        let listener = bind(config.host, port).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = start_bank(
            BankLaunch {
                seed,
                data_dir: &config.data_dir,
                database_url: config.database_url.as_deref(),
                listener,
                seed_customers: true,
                schema_prefix: &config.schema_prefix,
            },
            stop_rx.clone(),
        )
        .await
        .with_context(|| format!("starting bank {}", seed.id))?;
        banks.push(task);
        bank_urls.push((seed.id.clone(), url));
    }
    let hub_url = format!("http://{}", hub_listener.local_addr()?);
    let launch = config.hub_launch(
        config.database_url.as_deref(),
        hub_listener,
        bank_urls.clone(),
    );
    let (task, operator_token) = start_hub(launch, stop_hub_rx)
        .await
        .context("starting the hub")?;
    Ok(RunningSystem {
        hub_urls: vec![hub_url],
        bank_urls,
        operator_token,
        stop_hub,
        hubs: vec![task],
        stop_banks,
        banks,
    })
}
