//! The hub service: the platform that wallets, merchants and operators call.
//!
//! It holds no state of its own beyond its store, so several hub processes can share one
//! PostgreSQL database. Start reading at [`router`]: it lists every endpoint and which layers
//! guard it. `auth.rs` authenticates callers, `idempotency.rs` makes creating POSTs safe to
//! retry, `connector.rs` is the seam to the banks, `api.rs` holds the handlers.
//!
//! Deliberately not here: money movement rules (the banks' ledgers decide), SQL.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use scanpay_core::routing::{RangeEntry, RoutingTable};
use scanpay_extract::document::TextReader;
use scanpay_http::Metrics;
use scanpay_store::HubStore;
use scanpay_store::vault::Vault;
use uuid::Uuid;

use crate::remembered::Remembered;

pub mod api;
pub mod auth;
pub mod connector;
pub mod idempotency;
pub mod payments;
pub mod registration;
mod remembered;
pub mod senders;
pub mod web;
pub mod webhooks;

pub use connector::{BankConnector, ConnectorError, HttpBank};

/// A request body to the hub is at most this large, photos aside.
const BODY_BYTES_MAX: usize = 1024 * 1024;
/// A photo upload is at most this large (the extractor refuses a larger image file anyway).
const PHOTO_BODY_BYTES_MAX: usize = scanpay_extract::photo::IMAGE_BYTES_MAX + 1024;
/// Photos read at once, at most (one a core on the 2-core machine).
const EXTRACTIONS_AT_ONCE_MAX: usize = 2;
/// Callers and merchants kept in memory, at most (see `remembered`).
const CALLERS_CACHED_MAX: usize = 65_536;
const MERCHANTS_CACHED_MAX: usize = 4_096;

/// A bank the hub routes to.
#[derive(Clone)]
pub struct BankLink {
    pub id: String,
    pub name: String,
    pub url: String,
    /// The secret the hub signs this bank's requests with.
    pub secret: Vec<u8>,
    /// Card-number ranges (inclusive prefixes) the bank issues in.
    pub ranges: Vec<(String, String)>,
}

impl std::fmt::Debug for BankLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BankLink")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Everything a handler needs; cheap to clone.
pub struct Hub<S, B> {
    pub store: Arc<S>,
    pub banks: Arc<Vec<(BankLink, B)>>,
    /// Card-number ranges → index into `banks`.
    pub routing: Arc<RoutingTable<usize>>,
    pub metrics: Arc<Metrics>,
    /// Encrypts stored idempotent answers: some carry a secret shown once (a new token).
    pub vault: Arc<Vault>,
    /// Opens what wallets seal to the hub (photos, fields); derived from the vault's master key.
    pub sealing: Arc<scanpay_proto::seal::SealingKey>,
    /// Reads text off photos (OCR); `None` reads barcodes only.
    pub reader: Option<Arc<dyn TextReader + Send + Sync>>,
    /// Photos being read at once, at most: extraction takes a core for up to a second.
    pub extraction_slots: Arc<tokio::sync::Semaphore>,
    /// When a payment needs a verification code.
    pub payment_policy: scanpay_core::payment::Policy,
    /// Another channel for verification codes, besides the wallet's stream (an SMS gateway).
    pub code_sender: Option<Arc<dyn senders::CodeSender>>,
    /// Whether merchants' webhooks may reach loopback and private networks (off: public
    /// addresses only; see `webhooks`).
    pub webhooks_to_private_networks: bool,
    /// What payments read of bound registrations, kept once read (see
    /// `registration::payer_registration`).
    pub(crate) bound_payers: Arc<Remembered<Uuid, Arc<registration::PayerRegistration>>>,
    /// Callers by their token's hash, kept once read (every request reads one).
    pub(crate) callers: Arc<Remembered<Vec<u8>, auth::Caller>>,
    /// Merchants as payees (name, bank, payout account), kept once read.
    pub(crate) merchant_payees: Arc<Remembered<Uuid, scanpay_core::payment::Party>>,
}

impl<S, B> Clone for Hub<S, B> {
    fn clone(&self) -> Self {
        Hub {
            store: self.store.clone(),
            banks: self.banks.clone(),
            routing: self.routing.clone(),
            metrics: self.metrics.clone(),
            vault: self.vault.clone(),
            sealing: self.sealing.clone(),
            reader: self.reader.clone(),
            extraction_slots: self.extraction_slots.clone(),
            payment_policy: self.payment_policy,
            code_sender: self.code_sender.clone(),
            webhooks_to_private_networks: self.webhooks_to_private_networks,
            bound_payers: self.bound_payers.clone(),
            callers: self.callers.clone(),
            merchant_payees: self.merchant_payees.clone(),
        }
    }
}

impl<S: HubStore, B: BankConnector> Hub<S, B> {
    /// Builds the hub over `store` and `banks`; fails when the routing table is invalid.
    pub fn new(store: S, banks: Vec<(BankLink, B)>, vault: Vault) -> anyhow::Result<Hub<S, B>> {
        let mut entries = Vec::new();
        for (index, (link, _)) in banks.iter().enumerate() {
            for (low, high) in &link.ranges {
                entries.push(RangeEntry {
                    low: low.clone(),
                    high: high.clone(),
                    bank: index,
                });
            }
        }
        let routing =
            RoutingTable::new(entries).map_err(|e| anyhow::anyhow!("routing table: {e}"))?;
        Ok(Hub {
            store: Arc::new(store),
            banks: Arc::new(banks),
            routing: Arc::new(routing),
            metrics: Arc::new(Metrics::default()),
            sealing: Arc::new(scanpay_proto::seal::SealingKey::from_secret(
                vault.sealing_secret(),
            )),
            vault: Arc::new(vault),
            reader: None,
            extraction_slots: Arc::new(tokio::sync::Semaphore::new(EXTRACTIONS_AT_ONCE_MAX)),
            payment_policy: scanpay_core::payment::Policy::default(),
            code_sender: None,
            webhooks_to_private_networks: false,
            bound_payers: Arc::new(Remembered::new(registration::PAYERS_CACHED_MAX)),
            callers: Arc::new(Remembered::new(CALLERS_CACHED_MAX)),
            merchant_payees: Arc::new(Remembered::new(MERCHANTS_CACHED_MAX)),
        })
    }

    /// Reads text off photos with `reader` (the OCR engine).
    pub fn with_reader(mut self, reader: Arc<dyn TextReader + Send + Sync>) -> Hub<S, B> {
        self.reader = Some(reader);
        self
    }
}

/// The hub's HTTP API and its web app. Open: the app (`/`, `/app/…`), `/healthz`, `/readyz`,
/// `/openapi.json`, `GET /v1/sealing-key`, and `POST /v1/wallets` (a new phone's sign-up). Everything else needs a
/// bearer token; POSTs that create or move something also need an `Idempotency-Key`.
pub fn router<S: HubStore, B: BankConnector>(hub: Hub<S, B>) -> Router {
    let creating = Router::new()
        .route("/v1/callers", post(api::create_caller::<S, B>))
        .route("/v1/registrations", post(registration::start::<S, B>))
        .route(
            "/v1/registrations/{id}/fields",
            post(registration::fields::<S, B>),
        )
        .route(
            "/v1/registrations/{id}/images",
            post(registration::images::<S, B>).layer(DefaultBodyLimit::max(PHOTO_BODY_BYTES_MAX)),
        )
        .route(
            "/v1/registrations/{id}/confirm",
            post(registration::confirm::<S, B>),
        )
        .route(
            "/v1/registrations/{id}/cancel",
            post(registration::cancel::<S, B>),
        )
        .route(
            "/v1/registrations/{id}/revoke",
            post(registration::revoke::<S, B>),
        )
        .route("/v1/payments/{id}/verify", post(payments::verify::<S, B>))
        .route("/v1/payments/{id}/resend", post(payments::resend::<S, B>))
        .route("/v1/payments/{id}/refunds", post(payments::refund::<S, B>))
        .route("/v1/webhooks", post(webhooks::set::<S, B>))
        .route("/v1/totp", post(payments::enroll_totp::<S, B>))
        .route(
            "/v1/callers/{id}/totp/reset",
            post(payments::reset_totp::<S, B>),
        )
        .route("/v1/webhooks/rotate", post(webhooks::rotate::<S, B>))
        .route_layer(axum::middleware::from_fn_with_state(
            hub.clone(),
            idempotency::idempotent::<S, B>,
        ));
    let authenticated = Router::new()
        .merge(creating)
        .route("/v1/me", get(api::me))
        .route("/v1/callers", get(api::list_callers::<S, B>))
        .route("/v1/banks", get(api::banks::<S, B>))
        .route("/v1/cards/route", post(api::route_card::<S, B>))
        .route("/v1/cards/lookup", post(api::lookup_card::<S, B>))
        .route("/v1/registrations", get(registration::list::<S, B>))
        .route("/v1/registrations/{id}", get(registration::get::<S, B>))
        // Idempotent by its own key-derived id, not through the stored-answer layer.
        .route(
            "/v1/payments",
            get(payments::list::<S, B>).post(payments::create::<S, B>),
        )
        .route("/v1/payments/{id}", get(payments::get::<S, B>))
        .route("/v1/payees", get(payments::payees::<S, B>))
        .route("/v1/merchants", get(payments::merchants::<S, B>))
        .route("/v1/notifications", get(payments::notifications::<S, B>))
        .route(
            "/v1/notifications/stream",
            get(payments::notification_stream::<S, B>),
        )
        .route("/v1/settlement", get(payments::settlement::<S, B>))
        .route("/v1/webhooks", get(webhooks::get::<S, B>))
        .route("/v1/webhooks/deliveries", get(webhooks::deliveries::<S, B>))
        .route("/metrics", get(api::metrics::<S, B>))
        .route_layer(axum::middleware::from_fn_with_state(
            hub.clone(),
            auth::authenticate::<S, B>,
        ));
    let metrics = hub.metrics.clone();
    Router::new()
        .merge(authenticated)
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz::<S, B>))
        .route("/openapi.json", get(api::openapi))
        .route("/v1/wallets", post(registration::sign_up::<S, B>))
        .route("/v1/sealing-key", get(registration::sealing_key::<S, B>))
        .route("/", get(web::index))
        .route("/app/{name}", get(web::asset))
        .fallback(scanpay_http::route_not_found)
        .method_not_allowed_fallback(scanpay_http::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .layer(axum::middleware::from_fn(move |request, next| {
            scanpay_http::observe(metrics.clone(), request, next)
        }))
        .with_state(hub)
}

/// Serves the hub on `listener` until `shutdown` resolves, draining requests in flight.
pub async fn run<S: HubStore, B: BankConnector>(
    listener: tokio::net::TcpListener,
    hub: Hub<S, B>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, "hub listening");
    let purge = tokio::spawn(idempotency::purge_expired(hub.store.clone()));
    let resolver = tokio::spawn(payments::resolve_forever(hub.clone()));
    let deliverer = tokio::spawn(webhooks::deliver_forever(hub.clone()));
    let result =
        scanpay_http::serve(listener, router(hub), shutdown, Duration::from_secs(10)).await;
    purge.abort();
    resolver.abort();
    deliverer.abort();
    result
}
