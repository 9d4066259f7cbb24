//! `scanpay`: one binary for every role. See `scanpay --help` and the README.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use scanpay::settings::{FileSettings, seed_text};
use scanpay::system;
use scanpay_bank::seed::SeedFile;

/// mimalloc: the request path allocates many small short-lived buffers (JSON, headers); measured
/// in `scanpay bench ledger`, see docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (v3, which libmimalloc-sys builds; the enum has no
/// binding there, so the test below pins the index by the option's default of 1,000 ms).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps the memory the process frees instead of handing it back to the system (mimalloc purges
/// it after a delay). The OCR models' activations, up to 20 MB each, are freed at the end of
/// every run and were faulted in afresh by the next, the kernel zeroing every page: measured
/// with `scanpay bench extract` on the 38 specimens, p50 median 308 → 290 ms (ten runs and nine,
/// better in every pair), for 15–30 MB more resident memory after a burst.
/// `MIMALLOC_PURGE_DELAY` in the environment still decides when set.
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // Safety: sets an option of the allocator in use; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

#[derive(Parser)]
#[command(
    name = "scanpay",
    version,
    about = "A self-hostable mobile payment platform."
)]
struct Cli {
    /// A TOML file with settings (data_dir, database_url, host, port, seed, log_format).
    #[arg(long, global = true, env = "SCANPAY_CONFIG")]
    config: Option<PathBuf>,
    /// `text` (default) or `json` logs on stderr. The level comes from RUST_LOG (default info).
    #[arg(long, global = true, env = "SCANPAY_LOG_FORMAT")]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// Where SQLite files, secrets and the operator token live.
    #[arg(long, env = "SCANPAY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL instead of SQLite files in the data directory.
    #[arg(long, env = "SCANPAY_DATABASE_URL")]
    database_url: Option<String>,
    /// The seed file with the banks and their demo customers (default: the built-in demo).
    #[arg(long, env = "SCANPAY_SEED")]
    seed: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the hub and the banks of the seed file on loopback, seeding demo data on first start.
    Up {
        #[command(flatten)]
        common: Common,
        /// The address to listen on.
        #[arg(long, env = "SCANPAY_HOST")]
        host: Option<IpAddr>,
        /// The hub's port; the banks take the next ones. 0 picks free ports.
        #[arg(long, env = "SCANPAY_PORT")]
        port: Option<u16>,
    },
    /// Run the hub alone.
    Hub {
        #[command(subcommand)]
        command: HubCommand,
    },
    /// Run one bank alone.
    Bank {
        #[command(subcommand)]
        command: BankCommand,
    },
    /// Read identity and card fields from photos (JPEG, PNG).
    Extract {
        /// The photos.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// One JSON document on stdout with every field found.
        #[arg(long)]
        json: bool,
        /// The OCR models directory (default: $SCANPAY_MODELS, else ./models).
        #[arg(long)]
        models: Option<PathBuf>,
        /// Read barcodes only.
        #[arg(long)]
        no_ocr: bool,
        /// Print card numbers in full (they are masked otherwise).
        #[arg(long)]
        show_card_numbers: bool,
        /// Refuse photos with more pixels than this.
        #[arg(long, default_value_t = scanpay_extract::photo::IMAGE_PIXELS_MAX_DEFAULT)]
        pixels_max: u64,
    },
    /// The phone's side: register a card, list registrations.
    Wallet {
        /// The hub: for a new profile (default: where `scanpay up` listens); an existing profile
        /// talks to the hub it signed up with, and another one given here is refused.
        #[arg(long, env = "SCANPAY_HUB")]
        hub: Option<String>,
        /// Where the wallet keeps its token and terminal identifier (default ~/.scanpay).
        #[arg(long, env = "SCANPAY_PROFILE")]
        profile: Option<PathBuf>,
        /// The owner's name, used when a fresh profile signs up.
        #[arg(long, default_value = "wallet")]
        owner: String,
        #[command(subcommand)]
        command: WalletCommand,
    },
    /// A merchant's side: its payments and refunds.
    Merchant {
        /// The hub (default: where `scanpay up` listens).
        #[arg(long, env = "SCANPAY_HUB", default_value = "http://127.0.0.1:7080")]
        hub: String,
        /// The merchant's bearer token (default: a seeded merchant's token file).
        #[arg(long, env = "SCANPAY_MERCHANT_TOKEN")]
        token: Option<String>,
        /// A seeded merchant's id (`data/merchants/ID.token`); needed when there are several.
        #[arg(long)]
        merchant: Option<String>,
        /// Where `scanpay up` keeps its data (default: the config file's `data_dir`, else `data`).
        #[arg(long, env = "SCANPAY_DATA_DIR")]
        data_dir: Option<PathBuf>,
        #[command(subcommand)]
        command: MerchantCommand,
    },
    /// Benchmarks that print numbers.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Things to try the platform with.
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Render the seed file's named customers' identity documents (valid ten years from today)
    /// and cards as PNG images.
    Documents {
        /// The directory to write them to.
        #[arg(long, default_value = "demo-documents")]
        out: PathBuf,
        /// The seed file (default: the built-in demo).
        #[arg(long, env = "SCANPAY_SEED")]
        seed: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum HubCommand {
    /// Serve the hub API.
    Serve {
        #[command(flatten)]
        common: Common,
        /// The address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:7080")]
        listen: String,
        /// A bank to route to, as ID=URL (repeat for each bank of the seed file).
        #[arg(long = "bank", value_name = "ID=URL")]
        banks: Vec<String>,
    },
    /// Each bank's net interbank position for a day, and whether the books reconcile.
    Settlement {
        /// `YYYY-MM-DD` (UTC); today when absent.
        #[arg(long)]
        date: Option<String>,
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// Revoke a registration's code for its user (a lost phone, the user cannot sign in).
    Revoke {
        /// The registration's id.
        registration: String,
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// Forget a wallet's authenticator (the user lost it); the wallet may then enroll a new one.
    ResetAuthenticator {
        /// The wallet's id.
        wallet: String,
        #[command(flatten)]
        operator: OperatorArgs,
    },
}

/// How an operator's command reaches the hub.
#[derive(Args)]
struct OperatorArgs {
    /// The hub (default: where `scanpay up` listens).
    #[arg(long, env = "SCANPAY_HUB", default_value = "http://127.0.0.1:7080")]
    hub: String,
    /// An operator token (default: the data directory's operator.token).
    #[arg(long, env = "SCANPAY_TOKEN")]
    token: Option<String>,
    /// Where `scanpay up` keeps its data (default: the config file's `data_dir`, else `data`).
    #[arg(long, env = "SCANPAY_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

/// A data directory from the flag or environment, else the config file, else `data`.
fn data_dir_of(given: Option<PathBuf>, file: &FileSettings) -> PathBuf {
    given
        .or(file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("data"))
}

impl OperatorArgs {
    fn client(&self, file: &FileSettings) -> anyhow::Result<scanpay::merchant::Client> {
        let token = match &self.token {
            Some(token) => token.clone(),
            None => {
                let path = system::operator_token_path(&data_dir_of(self.data_dir.clone(), file));
                std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {} (or pass --token)", path.display()))?
                    .trim()
                    .to_string()
            }
        };
        scanpay::merchant::Client::new(&self.hub, token)
    }
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Refund a payment: all that is left, or `--amount`.
    Refund {
        /// The payment's id.
        payment: String,
        /// In major units, e.g. 2.50.
        #[arg(long)]
        amount: Option<String>,
    },
    /// The merchant's payments, newest first.
    Payments,
}

#[derive(Subcommand)]
enum BankCommand {
    /// Serve one bank of the seed file.
    Serve {
        #[command(flatten)]
        common: Common,
        /// The bank's id in the seed file.
        #[arg(long)]
        id: String,
        /// The address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Do not write the seed file's customers (start an empty bank).
        #[arg(long)]
        no_demo_customers: bool,
    },
}

#[derive(Args)]
struct RegisterArgs {
    /// A photo of the ID document (passport, ID card, driver licence).
    #[arg(long = "id")]
    id_photo: Option<PathBuf>,
    /// A photo of the payment card.
    #[arg(long = "card")]
    card_photo: Option<PathBuf>,
    #[command(flatten)]
    fields: scanpay::wallet::FieldFlags,
    /// Confirm the fields without asking (for scripts).
    #[arg(long)]
    yes: bool,
}

#[derive(Subcommand)]
enum WalletCommand {
    /// Register a card: photos of an ID document and the card, or the fields read from them.
    Register(Box<RegisterArgs>),
    /// List this wallet's registrations.
    Registrations,
    /// Revoke a registration's code (a lost or replaced phone): it pays no more, and the card
    /// can be registered again.
    Revoke {
        /// The registration's id (`scanpay wallet registrations` shows it).
        registration: String,
    },
    /// Pay a merchant or another wallet with the registration code (asks when flags are missing).
    Pay {
        /// A merchant's name or id, or a wallet's id; without it, choose from recent payees.
        #[arg(long)]
        to: Option<String>,
        /// In major units, e.g. 12.34; without it, the last amount paid to the payee.
        #[arg(long)]
        amount: Option<String>,
        #[arg(long, default_value = "USD")]
        currency: String,
        /// Another registration code than the newest one in the profile.
        #[arg(long)]
        code: Option<String>,
        /// Pretend to be another terminal (the hub then asks for a step-up).
        #[arg(long)]
        terminal: Option<String>,
        /// Do not ask: confirm, and use the code that arrives on this phone.
        #[arg(long)]
        yes: bool,
    },
    /// This wallet's payments, made and received.
    History,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Durable transfers into a bank over its HTTP API: transfers/s, p50, p99.
    Ledger {
        /// Seconds for each phase (one transfer a request, then batched requests).
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Omit for a fresh SQLite file; `postgres://…` for a fresh schema there (and pgbench).
        #[arg(long, env = "SCANPAY_DATABASE_URL")]
        database_url: Option<String>,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 200)]
        accounts: usize,
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
        /// How long pgbench runs on PostgreSQL.
        #[arg(long, default_value_t = 30)]
        pgbench_seconds: u64,
    },
    /// Registered wallets paying a merchant end to end: payments/s, p50, p99, p99.9.
    Pay {
        /// Seconds for each phase (as fast as possible, then paced at 70% of that).
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Omit for a fresh SQLite data directory; `postgres://…` for fresh schemas there (and pgbench).
        #[arg(long, env = "SCANPAY_DATABASE_URL")]
        database_url: Option<String>,
        #[arg(long, default_value_t = 64)]
        wallets: usize,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// How long pgbench runs on PostgreSQL.
        #[arg(long, default_value_t = 30)]
        pgbench_seconds: u64,
        /// Payers at bank south pay the merchant at bank north (a debit and a clearing credit a
        /// payment); the day's settlement must reconcile after.
        #[arg(long)]
        across_banks: bool,
        /// Hubs sharing the PostgreSQL database (needs --database-url); the connections take
        /// them in turn.
        #[arg(long, default_value_t = 1)]
        hubs: usize,
    },
    /// Settlement's reads over a hub's history of interbank payments: ms per read.
    Settlement {
        /// Interbank payments to fill the store with.
        #[arg(long, default_value_t = 200_000)]
        payments: usize,
        /// Days they are spread over.
        #[arg(long, default_value_t = 30)]
        days: usize,
        /// Omit for a fresh SQLite file; `postgres://…` for a fresh schema there.
        #[arg(long, env = "SCANPAY_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Whole registrations from concurrent wallets (fields path): registrations/s, p50, p99.
    Register {
        #[arg(long, default_value_t = 200)]
        count: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Document extraction over a directory of photos: per-image time and fields, a summary.
    Extract {
        /// A directory of JPEG and PNG photos (an `expected.json` in it is checked too).
        #[arg(long, required_unless_present = "synthetic")]
        dataset: Option<PathBuf>,
        /// Instead of a directory: this many synthetic zones (TD1, TD2, TD3 in turn) at each of
        /// five levels of damage (noise, blur, slant, perspective), drawn in OCR-B.
        #[arg(long, conflicts_with = "dataset")]
        synthetic: Option<usize>,
        /// With `--synthetic`: save the photo of each zone not read exactly in this directory
        /// (`level<L>-<index>.png`; its zone, what differed and whether its check digits passed
        /// in `level<L>-<index>.txt`) to look at.
        #[arg(long, requires = "synthetic")]
        keep_misses: Option<PathBuf>,
        /// The OCR models directory (default: $SCANPAY_MODELS, else ./models).
        #[arg(long)]
        models: Option<PathBuf>,
        /// A transcription of each photo's MRZ (tab-separated: file, format, readable, checks,
        /// lines joined by `|`), to compare the fields read with, e.g.
        /// crates/extract/tests/data/mrz-truth.tsv.
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Read each photo's visual zone (the labelled printed fields) instead, whatever else
        /// it has, and compare it field by field with `--truth` (the MRZ's fields).
        #[arg(long, requires = "truth", requires = "dataset")]
        visual_zone: bool,
    },
}

fn init_logging(format: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == Some("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

struct Resolved {
    data_dir: PathBuf,
    database_url: Option<String>,
    seed: SeedFile,
}

fn resolve(common: &Common, file: &FileSettings) -> anyhow::Result<Resolved> {
    let seed_path = common.seed.clone().or(file.seed.clone());
    Ok(Resolved {
        data_dir: data_dir_of(common.data_dir.clone(), file),
        database_url: common.database_url.clone().or(file.database_url.clone()),
        seed: SeedFile::parse(&seed_text(seed_path.as_deref())?)?,
    })
}

fn payment_policy(file: &FileSettings) -> anyhow::Result<scanpay_core::payment::Policy> {
    match &file.payments {
        Some(settings) => settings.policy(),
        None => Ok(scanpay_core::payment::Policy::default()),
    }
}

fn webhooks_to_private_networks(file: &FileSettings) -> bool {
    file.webhooks
        .as_ref()
        .and_then(|w| w.allow_private_networks)
        .unwrap_or(false)
}

/// Errors are for people: the message and its causes, no backtrace; exit code 1.
fn main() -> std::process::ExitCode {
    keep_freed_memory();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = FileSettings::load(cli.config.as_deref())?;
    let log_format = cli.log_format.clone().or(file.log_format.clone());
    let quiet = matches!(
        cli.command,
        Command::Bench { .. }
            | Command::Wallet { .. }
            | Command::Extract { .. }
            | Command::Merchant { .. }
            | Command::Demo { .. }
            | Command::Hub {
                command: HubCommand::Settlement { .. }
                    | HubCommand::Revoke { .. }
                    | HubCommand::ResetAuthenticator { .. }
            }
    );
    if !quiet {
        init_logging(log_format.as_deref());
    }
    match cli.command {
        Command::Up { common, host, port } => {
            let resolved = resolve(&common, &file)?;
            let host = match (host, &file.host) {
                (Some(h), _) => h,
                (None, Some(h)) => h.parse().context("host in the config file")?,
                (None, None) => IpAddr::from([127, 0, 0, 1]),
            };
            let config = system::SystemConfig {
                data_dir: resolved.data_dir.clone(),
                database_url: resolved.database_url.clone(),
                host,
                port: port.or(file.port).unwrap_or(7080),
                seed: resolved.seed,
                schema_prefix: String::new(),
                payment_policy: payment_policy(&file)?,
                code_command: file.payments.as_ref().and_then(|p| p.code_command.clone()),
                webhooks_to_private_networks: webhooks_to_private_networks(&file),
            };
            let running = system::start(&config).await?;
            print_welcome(&running, &config);
            scanpay_http::shutdown_signal().await;
            println!("stopping…");
            running.stop().await;
            println!("stopped; data kept in {}", config.data_dir.display());
        }
        Command::Hub {
            command:
                HubCommand::Serve {
                    common,
                    listen,
                    banks,
                },
        } => {
            let resolved = resolve(&common, &file)?;
            let mut bank_urls = Vec::new();
            for bank in banks {
                let (id, url) = bank.split_once('=').context("--bank takes ID=URL")?;
                bank_urls.push((id.to_string(), url.to_string()));
            }
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            println!("hub listening on http://{}", listener.local_addr()?);
            let (stop, stop_rx) = tokio::sync::watch::channel(false);
            let (task, _) = system::start_hub(
                system::HubLaunch {
                    seed: &resolved.seed,
                    data_dir: &resolved.data_dir,
                    database_url: resolved.database_url.as_deref(),
                    listener,
                    bank_urls,
                    schema_prefix: "",
                    payment_policy: payment_policy(&file)?,
                    code_command: file.payments.as_ref().and_then(|p| p.code_command.clone()),
                    webhooks_to_private_networks: webhooks_to_private_networks(&file),
                },
                stop_rx,
            )
            .await?;
            scanpay_http::shutdown_signal().await;
            let _ = stop.send(true);
            let _ = task.await;
        }
        Command::Bank {
            command:
                BankCommand::Serve {
                    common,
                    id,
                    listen,
                    no_demo_customers,
                },
        } => {
            let resolved = resolve(&common, &file)?;
            let seed = resolved
                .seed
                .bank
                .iter()
                .find(|b| b.id == id)
                .with_context(|| format!("bank {id} is not in the seed file"))?;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            let address = listener.local_addr()?;
            let (stop, stop_rx) = tokio::sync::watch::channel(false);
            let task = system::start_bank(
                system::BankLaunch {
                    seed,
                    data_dir: &resolved.data_dir,
                    database_url: resolved.database_url.as_deref(),
                    listener,
                    seed_customers: !no_demo_customers,
                    schema_prefix: "",
                },
                stop_rx,
            )
            .await?;
            println!("bank {id} listening on http://{address}");
            scanpay_http::shutdown_signal().await;
            let _ = stop.send(true);
            let _ = task.await;
        }
        Command::Extract {
            images,
            json,
            models,
            no_ocr,
            show_card_numbers,
            pixels_max,
        } => {
            let all_found = scanpay::extract::run(scanpay::extract::ExtractCommand {
                images,
                json,
                models,
                no_ocr,
                show_card_numbers,
                pixels_max,
            })?;
            if !all_found {
                anyhow::bail!("some photos had no readable document (see above)");
            }
        }
        Command::Wallet {
            hub,
            profile,
            owner,
            command,
        } => {
            let dir = profile.unwrap_or_else(scanpay::wallet::default_profile_dir);
            let mut wallet = scanpay::wallet::Wallet::open(&dir, hub.as_deref(), &owner).await?;
            match command {
                WalletCommand::Register(arguments) => {
                    let RegisterArgs {
                        id_photo,
                        card_photo,
                        fields,
                        yes,
                    } = *arguments;
                    let fields = fields.to_fields()?;
                    if id_photo.is_none() && card_photo.is_none() && fields.is_none() {
                        anyhow::bail!(
                            "give photos (--id, --card) or fields (--fields or the field flags)"
                        );
                    }
                    wallet
                        .register(
                            &dir,
                            (id_photo.as_deref(), card_photo.as_deref()),
                            fields,
                            yes,
                        )
                        .await?;
                }
                WalletCommand::Registrations => wallet.registrations().await?,
                WalletCommand::Revoke { registration } => {
                    wallet.revoke(&dir, &registration).await?
                }
                WalletCommand::Pay {
                    to,
                    amount,
                    currency,
                    code,
                    terminal,
                    yes,
                } => {
                    wallet
                        .pay(scanpay::wallet::PayArgs {
                            to,
                            amount,
                            currency,
                            code,
                            terminal,
                            yes,
                        })
                        .await?;
                }
                WalletCommand::History => wallet.history().await?,
            }
        }
        Command::Demo {
            command: DemoCommand::Documents { out, seed },
        } => {
            let seed = SeedFile::parse(&seed_text(seed.as_deref().or(file.seed.as_deref()))?)?;
            let today = scanpay_core::registration::Day::from_unix_ms(scanpay_http::now_ms());
            for rendered in scanpay::demo::documents(&out, &seed, today)? {
                println!("{}  {}", rendered.path.display(), rendered.what);
            }
            println!(
                "Register with them: scanpay wallet register --id {dir}/<name>-passport.png --card {dir}/<name>-card.png",
                dir = out.display()
            );
        }
        Command::Merchant {
            hub,
            token,
            merchant,
            data_dir,
            command,
        } => {
            let data_dir = data_dir_of(data_dir, &file);
            let token = scanpay::merchant::merchant_token(token, &data_dir, merchant.as_deref())?;
            let client = scanpay::merchant::Client::new(&hub, token)?;
            match command {
                MerchantCommand::Refund { payment, amount } => {
                    scanpay::merchant::refund(&client, &payment, amount.as_deref()).await?
                }
                MerchantCommand::Payments => scanpay::merchant::payments(&client).await?,
            }
        }
        Command::Hub {
            command: HubCommand::Settlement { date, operator },
        } => {
            let date = date.unwrap_or_else(|| {
                scanpay_proto::bank::rfc3339(scanpay_http::now_ms())[..10].to_string()
            });
            scanpay::merchant::settlement(&operator.client(&file)?, &date).await?;
        }
        Command::Hub {
            command:
                HubCommand::Revoke {
                    registration,
                    operator,
                },
        } => {
            scanpay::merchant::revoke(&operator.client(&file)?, &registration).await?;
        }
        Command::Hub {
            command: HubCommand::ResetAuthenticator { wallet, operator },
        } => {
            scanpay::merchant::reset_authenticator(&operator.client(&file)?, &wallet).await?;
        }
        Command::Bench {
            command:
                BenchCommand::Settlement {
                    payments,
                    days,
                    database_url,
                },
        } => {
            scanpay::bench_settlement::settlement(scanpay::bench_settlement::SettlementBench {
                payments,
                days,
                database_url,
            })
            .await?;
        }
        Command::Bench {
            command: BenchCommand::Register { count, concurrency },
        } => {
            scanpay::bench::register(scanpay::bench::RegisterBench {
                count: count.max(1),
                concurrency: concurrency.max(1),
            })
            .await?;
        }
        Command::Bench {
            command:
                BenchCommand::Pay {
                    duration,
                    database_url,
                    wallets,
                    connections,
                    pgbench_seconds,
                    across_banks,
                    hubs,
                },
        } => {
            scanpay::bench_pay::pay(scanpay::bench_pay::PayBench {
                duration: Duration::from_secs(duration.max(1)),
                database_url,
                wallets: wallets.max(1),
                connections: connections.max(1),
                pgbench_seconds,
                across_banks,
                hubs: hubs.max(1),
            })
            .await?;
        }
        Command::Bench {
            command:
                BenchCommand::Extract {
                    dataset,
                    synthetic,
                    keep_misses,
                    models,
                    truth,
                    visual_zone,
                },
        } => {
            tokio::task::block_in_place(|| match (dataset, synthetic, truth) {
                (_, Some(count), _) => scanpay::bench::extract_synthetic(
                    count,
                    models.as_deref(),
                    keep_misses.as_deref(),
                ),
                (Some(dataset), None, Some(truth)) if visual_zone => {
                    scanpay::bench::extract_visual_zone(&dataset, models.as_deref(), &truth)
                }
                (Some(dataset), None, truth) => {
                    scanpay::bench::extract(&dataset, models.as_deref(), truth.as_deref())
                }
                (None, None, _) => anyhow::bail!("--dataset or --synthetic"),
            })?;
        }
        Command::Bench {
            command:
                BenchCommand::Ledger {
                    duration,
                    database_url,
                    connections,
                    accounts,
                    batch_size,
                    pgbench_seconds,
                },
        } => {
            scanpay::bench::ledger(scanpay::bench::LedgerBench {
                duration: Duration::from_secs(duration),
                database_url,
                connections: connections.max(1),
                accounts: accounts.max(2),
                batch_size: batch_size.clamp(1, scanpay_bank::TRANSFERS_PER_REQUEST_MAX),
                pgbench_seconds,
            })
            .await?;
        }
    }
    Ok(())
}

fn print_welcome(running: &system::RunningSystem, config: &system::SystemConfig) {
    println!("scanpay is up (data in {}):", config.data_dir.display());
    println!("  hub   {}", running.hub_url());
    for (id, url) in &running.bank_urls {
        println!("  bank  {url}  ({id})");
    }
    let token_path = system::operator_token_path(&config.data_dir);
    println!();
    println!(
        "Open the web app (the wallet; the merchant console at #/merchant): {}/",
        running.hub_url()
    );
    println!();
    println!(
        "Or try the API (the operator token is in {}):",
        token_path.display()
    );
    println!("  TOKEN=$(cat {})", token_path.display());
    println!("  curl -s {}/readyz", running.hub_url());
    println!(
        "  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'content-type: application/json' \\\n       -d '{{\"card_number\":\"4242 4242 4242 4242\"}}' {}/v1/cards/lookup",
        running.hub_url()
    );
    println!("  curl -s {}/openapi.json", running.hub_url());
    println!("Press Ctrl-C to stop; a restart keeps everything.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // Read before `keep_freed_memory` runs (tests do not call `main`): mimalloc's default,
        // 1,000 ms, or the environment's value. Another option at this index reads otherwise.
        let expected = std::env::var("MIMALLOC_PURGE_DELAY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000);
        // Safety: reads an option of the linked allocator.
        let value = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(value, expected);
    }
}
