//! The bank service: an issuing bank that the hub talks to over HTTP.
//!
//! It keeps customers (with their identity), accounts, cards inside the card-number ranges it
//! owns, registration-code bindings, and a double-entry ledger with holds. Start reading at
//! [`router`] for the API, then `api.rs` for the handlers and `batcher.rs` for group commit.
//!
//! Every `/v1` request must be signed by the hub with the bank's secret (see
//! `scanpay_proto::signing`); `/healthz`, `/readyz` and `/metrics` are open.
//!
//! Deliberately not here: ledger rules (`scanpay-core`), SQL (`scanpay-store`), seeding policy
//! beyond the demo data file (`seed.rs`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use scanpay_core::routing::{RangeEntry, RoutingTable};
use scanpay_http::Metrics;
use scanpay_store::BankStore;

mod api;
pub mod batcher;
pub mod seed;

pub use scanpay_store::vault::{self, Vault};

/// A request body is at most this large (a batch of 1,000 transfers fits).
const BODY_BYTES_MAX: usize = 2 * 1024 * 1024;
/// A batch request carries at most this many transfers.
pub const TRANSFERS_PER_REQUEST_MAX: usize = 1_000;

/// What a bank is, as configured.
#[derive(Clone)]
pub struct BankConfig {
    /// Short id used in routing tables and schema names (`north`, `south`).
    pub id: String,
    pub name: String,
    /// Shared with the hub; signs every request the hub sends.
    pub hub_secret: Vec<u8>,
    /// Card-number ranges this bank issues in: a card outside them is refused.
    pub ranges: Vec<(String, String)>,
}

impl std::fmt::Debug for BankConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BankConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("ranges", &self.ranges)
            .finish_non_exhaustive()
    }
}

/// Everything a handler needs. Cloned per request (all fields are shared).
pub struct Bank<S> {
    pub config: Arc<BankConfig>,
    pub store: Arc<S>,
    pub vault: Arc<Vault>,
    pub batcher: batcher::Batcher,
    pub metrics: Arc<Metrics>,
    /// The bank's own ranges as a routing table, to check that a new card belongs here.
    pub ranges: Arc<RoutingTable<()>>,
    /// The bank's own accounts by (kind, currency), once looked up (`api::own_account`).
    pub own_accounts:
        Arc<std::sync::Mutex<std::collections::HashMap<(&'static str, &'static str), uuid::Uuid>>>,
    /// Held while an own account is made, so that concurrent requests make one.
    pub own_accounts_creation: Arc<tokio::sync::Mutex<()>>,
    /// Read-held by a payment from its binding read until its transfer is queued, write-held by
    /// a revocation while it deletes bindings: a payment that saw a binding is queued before the
    /// revocation settles the batcher, so "revoked" is answered after its debit, never before.
    pub bindings_gate: Arc<tokio::sync::RwLock<()>>,
}

impl<S> Clone for Bank<S> {
    fn clone(&self) -> Self {
        Bank {
            config: self.config.clone(),
            store: self.store.clone(),
            vault: self.vault.clone(),
            batcher: self.batcher.clone(),
            metrics: self.metrics.clone(),
            ranges: self.ranges.clone(),
            own_accounts: self.own_accounts.clone(),
            own_accounts_creation: self.own_accounts_creation.clone(),
            bindings_gate: self.bindings_gate.clone(),
        }
    }
}

impl<S: BankStore> Bank<S> {
    /// Builds the state and starts the group-commit task. Call inside a tokio runtime.
    pub fn new(config: BankConfig, store: S, vault: Vault) -> anyhow::Result<Bank<S>> {
        let entries = config
            .ranges
            .iter()
            .map(|(low, high)| RangeEntry {
                low: low.clone(),
                high: high.clone(),
                bank: (),
            })
            .collect();
        let ranges = RoutingTable::new(entries)
            .map_err(|e| anyhow::anyhow!("bank {}: card ranges: {e}", config.id))?;
        let store = Arc::new(store);
        let metrics = Arc::new(Metrics::default());
        let batcher = batcher::Batcher::start(store.clone(), metrics.clone(), scanpay_http::now_ms);
        Ok(Bank {
            config: Arc::new(config),
            store,
            vault: Arc::new(vault),
            batcher,
            metrics,
            ranges: Arc::new(ranges),
            own_accounts: Default::default(),
            own_accounts_creation: Default::default(),
            bindings_gate: Default::default(),
        })
    }

    /// Seals the ID numbers and card numbers of a store written before their bindings named
    /// their purpose ([`vault::Purpose`]) for it; once a store, before the bank serves.
    pub async fn bind_personal_data(&self) -> anyhow::Result<scanpay_store::Rebound> {
        let rebound = self.store.bind_personal_data(self.vault.clone()).await?;
        if rebound.resealed > 0 {
            tracing::info!(bank = %self.config.id, values = rebound.resealed,
                "sealed ID numbers and card numbers for their purpose");
        }
        if rebound.unreadable > 0 {
            tracing::error!(bank = %self.config.id, values = rebound.unreadable,
                "ID numbers or card numbers that open with neither binding, or are not the \
                 number their row's lookup names, were left as they were (they do not open); \
                 the next start tries again: is this the bank's own key?");
        }
        Ok(rebound)
    }
}

/// The bank's HTTP API.
pub fn router<S: BankStore>(bank: Bank<S>) -> Router {
    let v1 = Router::new()
        .route("/v1/customers", post(api::create_customer::<S>))
        .route(
            "/v1/accounts",
            post(api::create_account::<S>).get(api::bank_accounts::<S>),
        )
        .route("/v1/accounts/{id}", get(api::account::<S>))
        .route("/v1/accounts/{id}/statement", get(api::statement::<S>))
        .route("/v1/accounts/{id}/close", post(api::close_account::<S>))
        .route("/v1/cards", post(api::create_card::<S>))
        .route("/v1/cards/lookup", post(api::card_lookup::<S>))
        .route("/v1/cards/identity", post(api::card_identity::<S>))
        .route("/v1/bindings", post(api::bind::<S>))
        .route("/v1/bindings/verify", post(api::verify_binding::<S>))
        .route("/v1/bindings/revoke", post(api::revoke_bindings::<S>))
        .route("/v1/transfers", post(api::transfer::<S>))
        .route("/v1/payments", post(api::pay::<S>))
        .route("/v1/payments/batch", post(api::pay_batch::<S>))
        .route("/v1/clearing/transfers", post(api::clearing_transfer::<S>))
        .route("/v1/transfers/batch", post(api::transfer_batch::<S>))
        .route("/v1/transfers/{id}", get(api::get_transfer::<S>))
        .route("/v1/ledger/totals", get(api::totals::<S>))
        .route_layer(axum::middleware::from_fn_with_state(
            bank.clone(),
            api::authenticate::<S>,
        ));
    let metrics = bank.metrics.clone();
    Router::new()
        .merge(v1)
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz::<S>))
        .route("/metrics", get(api::metrics::<S>))
        .fallback(scanpay_http::route_not_found)
        .method_not_allowed_fallback(scanpay_http::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .layer(axum::middleware::from_fn(move |request, next| {
            scanpay_http::observe(metrics.clone(), request, next)
        }))
        .with_state(bank)
}

/// Serves the bank on `listener` until `shutdown` resolves.
pub async fn run<S: BankStore>(
    listener: tokio::net::TcpListener,
    bank: Bank<S>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(bank = %bank.config.id, %address, "bank listening");
    scanpay_http::serve(listener, router(bank), shutdown, Duration::from_secs(10)).await
}
