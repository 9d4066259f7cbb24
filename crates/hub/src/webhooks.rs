//! Signed webhooks to merchants: an outbox of events, delivered until acknowledged.
//!
//! A merchant sets a URL (`POST /v1/webhooks`) and gets a signing secret, shown once. Events
//! (`payment.succeeded`, `refund.succeeded`, `refund.failed`) are written to the outbox
//! (`webhook_deliveries`) in the transaction that saves the payment step causing them; the
//! deliverer ([`deliver_forever`]) POSTs each with a `scanpay-signature` header in the style of Stripe's:
//! `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, one `v1` per live secret. A 2xx answer
//! acknowledges; anything else is retried with exponential backoff (1 s doubling to 1 hour) for
//! three days, then the delivery is marked `failed`. Rotating (`POST /v1/webhooks/rotate`) makes a
//! new secret and keeps the old one signing for 24 hours, so a merchant can switch without a gap.
//! Every attempt's result is in the delivery log (`GET /v1/webhooks/deliveries`).
//!
//! A webhook reaches public addresses only, unless the operator allows private ones
//! (`Hub::webhooks_to_private_networks`, for a hub whose merchants are on its own network): a
//! merchant must not be able to make the hub POST to its database, its banks or a cloud metadata
//! service. A URL naming a private address is refused when it is set, and a host name is resolved
//! by [`PublicOnly`] when the webhook is sent, so a name that points elsewhere later is caught
//! too.
//!
//! A delivery is leased before it is sent (its `next_attempt_ms` moves forward with a
//! compare-and-set), so several hubs may run the deliverer. Delivery is at least once: a receiver
//! deduplicates on the event id.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use rand::RngCore;
use scanpay_http::{ApiError, Json, now_ms};
use scanpay_proto::ErrorCode;
use scanpay_proto::bank::rfc3339;
use scanpay_proto::hub::{CallerKind, DeliveryView, WebhookSecretView, WebhookSetup, WebhookView};
use scanpay_store::{DeliveryRow, HubStore, MerchantRow};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::auth::Caller;
use crate::{BankConnector, Hub};

type ApiResult<T> = Result<T, ApiError>;

pub const SIGNATURE_HEADER: &str = "scanpay-signature";
pub const EVENT_ID_HEADER: &str = "scanpay-event-id";
/// A replaced secret keeps signing this long after a rotation.
const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;
/// Deliveries are retried this long, then given up.
const GIVE_UP_AFTER_MS: i64 = 3 * 24 * 3600 * 1000;
const BACKOFF_FIRST_MS: i64 = 1_000;
const BACKOFF_MAX_MS: i64 = 3600 * 1000;
/// A receiver must answer within this long.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// A leased delivery is left to its deliverer this long.
const LEASE_MS: i64 = 30_000;
const DELIVER_INTERVAL: Duration = Duration::from_millis(250);
/// Sends in flight at once, over all merchants, and per merchant.
const DELIVERIES_AT_ONCE_MAX: usize = 50;
const DELIVERIES_PER_MERCHANT_MAX: usize = 4;
/// Due deliveries read at a time.
const DELIVERIES_READ_MAX: u32 = 200;
const DELIVERIES_LISTED_MAX: u32 = 100;
const URL_LENGTH_MAX: usize = 2_048;

/// A signing secret as the hub keeps it (the list is encrypted at rest).
#[derive(Clone, Serialize, Deserialize)]
struct Secret {
    secret: String,
    created_at_ms: i64,
    expires_at_ms: Option<i64>,
}

/// The hex HMAC-SHA256 of `"<timestamp>.<body>"`.
pub fn sign(secret: &str, timestamp_s: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp_s}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a `scanpay-signature` header against `secret`: a matching `v1` and a timestamp within
/// `tolerance_s` of `now_s`. What a merchant's receiver does.
pub fn verify(header: &str, secret: &str, body: &str, now_s: i64, tolerance_s: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value.to_string()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now_s - timestamp).abs() > tolerance_s {
        return false;
    }
    let expected = sign(secret, timestamp, body);
    signatures
        .iter()
        .any(|s| crate::payments::constant_time_eq(s.as_bytes(), expected.as_bytes()))
}

fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

fn secrets_of<S, B>(hub: &Hub<S, B>, merchant: &MerchantRow) -> ApiResult<Vec<Secret>> {
    if merchant.webhook_secrets.is_empty() {
        return Ok(Vec::new());
    }
    let json = hub
        .vault
        .decrypt(&merchant.webhook_secrets, merchant.caller_id.as_bytes())
        .map_err(ApiError::internal)?;
    serde_json::from_slice(&json).map_err(ApiError::internal)
}

fn sealed<S, B>(hub: &Hub<S, B>, merchant_id: Uuid, secrets: &[Secret]) -> ApiResult<Vec<u8>> {
    let json = serde_json::to_vec(secrets).map_err(ApiError::internal)?;
    Ok(hub.vault.encrypt(&json, merchant_id.as_bytes()))
}

fn view(url: Option<String>, secrets: &[Secret], shown: Option<String>) -> WebhookView {
    WebhookView {
        url,
        secret: shown,
        secrets: secrets
            .iter()
            .map(|s| WebhookSecretView {
                created_at: rfc3339(s.created_at_ms),
                expires_at: s.expires_at_ms.map(rfc3339),
            })
            .collect(),
    }
}

async fn merchant_of<S: HubStore, B>(hub: &Hub<S, B>, caller: &Caller) -> ApiResult<MerchantRow> {
    if caller.kind != CallerKind::Merchant {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Only a merchant has webhooks.",
        ));
    }
    hub.store
        .merchant(caller.id)
        .await
        .map_err(scanpay_http::store_unavailable)?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Forbidden,
                "This merchant has no payout account, so no payments and no webhooks.",
            )
        })
}

/// Saves the URL and secrets unless the merchant's secrets changed since `merchant` was read
/// (another rotation: its new secret must not be lost), and answers with the new secret (shown
/// this once).
async fn store_secrets<S: HubStore, B>(
    hub: &Hub<S, B>,
    merchant: &MerchantRow,
    url: String,
    secrets: &[Secret],
    shown: String,
) -> ApiResult<Response> {
    let merchant_id = merchant.caller_id;
    let saved = hub
        .store
        .set_webhook(
            merchant_id,
            url.clone(),
            sealed(hub, merchant_id, secrets)?,
            merchant.webhook_secrets.clone(),
        )
        .await
        .map_err(scanpay_http::store_unavailable)?;
    if !saved {
        return Err(ApiError::new(
            ErrorCode::WebhookChanged,
            "The webhook's secrets changed while this request ran; fetch them and retry.",
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(view(Some(url), secrets, Some(shown))),
    )
        .into_response())
}

/// Sets the webhook URL and makes a new signing secret (shown once; earlier secrets stop).
#[utoipa::path(post, path = "/v1/webhooks", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "makes the request safe to retry")),
    request_body = WebhookSetup,
    responses((status = 201, body = WebhookView), (status = 422, body = scanpay_proto::ErrorBody)))]
pub async fn set<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Json(request): Json<WebhookSetup>,
) -> ApiResult<Response> {
    let merchant = merchant_of(&hub, &caller).await?;
    let url = request.url.trim().to_string();
    let valid = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= URL_LENGTH_MAX
        && reqwest::Url::parse(&url).is_ok_and(|u| u.host_str().is_some());
    if !valid {
        return Err(ApiError::new(
            ErrorCode::WebhookUrlInvalid,
            format!("`url` must be an http or https URL of at most {URL_LENGTH_MAX} bytes."),
        ));
    }
    if !hub.webhooks_to_private_networks && !reaches_public(&url).await {
        return Err(ApiError::new(
            ErrorCode::WebhookUrlInvalid,
            "`url` must reach a public address: this hub does not send webhooks to loopback, \
             private or link-local networks.",
        ));
    }
    let secret = new_secret();
    let secrets = vec![Secret {
        secret: secret.clone(),
        created_at_ms: now_ms(),
        expires_at_ms: None,
    }];
    store_secrets(&hub, &merchant, url, &secrets, secret).await
}

/// Makes a new signing secret; the current ones keep signing for 24 hours.
#[utoipa::path(post, path = "/v1/webhooks/rotate", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "makes the request safe to retry")),
    responses((status = 201, body = WebhookView), (status = 409, body = scanpay_proto::ErrorBody)))]
pub async fn rotate<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    let merchant = merchant_of(&hub, &caller).await?;
    let Some(url) = merchant.webhook_url.clone() else {
        return Err(ApiError::new(
            ErrorCode::WebhookNotSet,
            "Set a webhook URL first (POST /v1/webhooks).",
        ));
    };
    let now = now_ms();
    let mut secrets: Vec<Secret> = secrets_of(&hub, &merchant)?
        .into_iter()
        .filter(|s| s.expires_at_ms.is_none_or(|e| e > now))
        .map(|mut s| {
            s.expires_at_ms.get_or_insert(now + ROTATION_OVERLAP_MS);
            s
        })
        .collect();
    let secret = new_secret();
    secrets.insert(
        0,
        Secret {
            secret: secret.clone(),
            created_at_ms: now,
            expires_at_ms: None,
        },
    );
    store_secrets(&hub, &merchant, url, &secrets, secret).await
}

/// The merchant's webhook URL and its secrets' dates (never their values).
#[utoipa::path(get, path = "/v1/webhooks", security(("bearer" = [])),
    responses((status = 200, body = WebhookView)))]
pub async fn get<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<WebhookView>> {
    let merchant = merchant_of(&hub, &caller).await?;
    let secrets = secrets_of(&hub, &merchant)?;
    Ok(Json(view(merchant.webhook_url, &secrets, None)))
}

/// The delivery log: the merchant's events, newest first, with each one's delivery state.
#[utoipa::path(get, path = "/v1/webhooks/deliveries", security(("bearer" = [])),
    responses((status = 200, body = Vec<DeliveryView>)))]
pub async fn deliveries<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    let merchant = merchant_of(&hub, &caller).await?;
    let rows = hub
        .store
        .deliveries_of(merchant.caller_id, DELIVERIES_LISTED_MAX)
        .await
        .map_err(scanpay_http::store_unavailable)?;
    Ok(Json(
        rows.into_iter()
            .map(|r| DeliveryView {
                id: r.id,
                event_type: r.event_type,
                state: r.state,
                attempts: r.attempts,
                last_status: r.last_status,
                last_error: r.last_error,
                next_attempt_at: r.next_attempt_ms.map(rfc3339),
                created_at: rfc3339(r.created_at_ms),
                updated_at: rfc3339(r.updated_at_ms),
            })
            .collect(),
    ))
}

/// The delivery of an event to a merchant. The store writes it with the payment step it tells
/// of, and only if the merchant has a webhook then (`HubStore::update_payment`).
pub fn event(merchant_id: Uuid, event_type: &str, data: serde_json::Value) -> DeliveryRow {
    let id = Uuid::now_v7();
    let now = now_ms();
    let payload = serde_json::json!({
        "id": id,
        "type": event_type,
        "created": rfc3339(now),
        "data": data,
    })
    .to_string();
    DeliveryRow {
        id,
        merchant_id,
        event_type: event_type.to_string(),
        payload,
        state: "pending".to_string(),
        attempts: 0,
        next_attempt_ms: Some(now),
        last_status: None,
        last_error: None,
        created_at_ms: now,
        updated_at_ms: now,
    }
}

/// The wait before attempt `attempts + 1`: 1 s, 2 s, 4 s, … at most an hour.
pub fn backoff_ms(attempts: i64) -> i64 {
    let doublings = attempts.saturating_sub(1).clamp(0, 30) as u32;
    BACKOFF_FIRST_MS
        .saturating_mul(1i64 << doublings)
        .min(BACKOFF_MAX_MS)
}

/// Whether an address is on the public internet: not loopback, private (RFC 1918, unique
/// local), link-local (cloud metadata services live there), shared (CGNAT), unspecified,
/// multicast, documentation, benchmarking or reserved. IPv6 that carries an IPv4 address
/// (mapped, NAT64, 6to4) is judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they carry.
            let carried = |high: u16, low: u16| {
                std::net::Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
            };
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(IpAddr::V4(carried(segments[6], segments[7])));
            }
            if segments[0] == 0x2002 {
                return is_public(IpAddr::V4(carried(segments[1], segments[2])));
            }
            // IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks).
            if segments[..6] == [0; 6] {
                return is_public(IpAddr::V4(carried(segments[6], segments[7])));
            }
            let first = segments[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                // Link-local fe80::/10 and the deprecated site-local fec0::/10.
                || (first & 0xff80) == 0xfe80
                // NAT64 for local use (64:ff9b:1::/48, RFC 8215).
                || (first == 0x64 && segments[1] == 0xff9b && segments[2] == 1)
                // Documentation 2001:db8::/32, Teredo 2001::/32 (a tunnel to an IPv4 address).
                || (first == 0x2001 && (segments[1] == 0x0db8 || segments[1] == 0)))
        }
    }
}

/// The host of a URL as an address, when it is one (`[::1]` included).
fn literal_address(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Whether a webhook URL names, or resolves to, a public address only.
async fn reaches_public(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    if let Some(ip) = literal_address(&url) {
        return is_public(ip);
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    match tokio::net::lookup_host((host, 0)).await {
        Ok(found) => {
            let found: Vec<SocketAddr> = found.collect();
            !found.is_empty() && found.iter().all(|a| is_public(a.ip()))
        }
        // Not resolvable now: it is checked again at each delivery.
        Err(_) => true,
    }
}

/// A resolver that gives the webhook client public addresses only: the check happens on the
/// addresses the client then connects to, so a name cannot pass the check and then point
/// elsewhere.
pub struct PublicOnly;

#[derive(Debug, thiserror::Error)]
#[error("the address is not public")]
struct NotPublic;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(NotPublic) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether a send failed because the address was not public.
fn refused_as_private(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<NotPublic>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Delivers due webhooks, forever (the hub aborts it on shutdown).
pub async fn deliver_forever<S: HubStore, B: BankConnector>(hub: Hub<S, B>) {
    let mut http = reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if !hub.webhooks_to_private_networks {
        // A proxy would resolve the name itself, past the screening.
        http = http
            .no_proxy()
            .dns_resolver(std::sync::Arc::new(PublicOnly));
    }
    let http = http.build().expect("a plain HTTP client builds");
    let mut interval = tokio::time::interval(DELIVER_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Sends in flight, over all merchants and per merchant: a receiver that answers slowly (or
    // never, until the timeout) holds its own few, not the other merchants' deliveries. A
    // merchant with its share in flight is left out of the next read, so the queue's front is
    // not its backlog; its deliveries keep their order and are sent as its sends finish.
    let in_flight: InFlight = Default::default();
    // A finished send looks for the next at once, not at the next tick.
    let finished = Arc::new(tokio::sync::Notify::new());
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = finished.notified() => {}
        }
        let busy = {
            let flights = in_flight.lock().expect("in flight");
            if flights.full() {
                continue;
            }
            flights.busy_merchants()
        };
        let due = match hub
            .store
            .deliveries_due(
                now_ms(),
                DELIVERIES_READ_MAX,
                DELIVERIES_PER_MERCHANT_MAX as u32,
                busy,
            )
            .await
        {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "reading due webhooks failed");
                continue;
            }
        };
        for row in due {
            // Every send is taken, its merchant's share is (by rows earlier in this read), or
            // the row is already being sent (read again before its lease was written): it waits.
            let Some(sending) = Sending::start(&in_flight, &row) else {
                if in_flight.lock().expect("in flight").full() {
                    break;
                }
                continue;
            };
            let (hub, http, finished) = (hub.clone(), http.clone(), finished.clone());
            tokio::spawn(async move {
                let leased = lease(&hub, &row).await;
                if let Some(leased_until) = leased {
                    let timed_out = deliver(&hub, &http, row, leased_until).await;
                    sending.answered(!timed_out);
                }
                drop(sending);
                // Only a send wakes the loop early: a lease the store refused leaves the row due,
                // and reading it again at once would spin until the store recovers.
                if leased.is_some() {
                    finished.notify_one();
                }
            });
        }
    }
}

/// The sends in flight: per merchant, and which deliveries; and the merchants whose receiver
/// let its last send time out.
#[derive(Default)]
struct Flights {
    per_merchant: std::collections::HashMap<Uuid, usize>,
    deliveries: std::collections::HashSet<Uuid>,
    slow: std::collections::HashSet<Uuid>,
}

impl Flights {
    /// Whether [`DELIVERIES_AT_ONCE_MAX`] sends are in flight.
    fn full(&self) -> bool {
        self.deliveries.len() >= DELIVERIES_AT_ONCE_MAX
    }

    /// Sends a merchant may have in flight: [`DELIVERIES_PER_MERCHANT_MAX`], or one while its
    /// receiver's last send timed out (so that a dozen receivers that never answer cannot hold
    /// every slot for the timeout's length).
    fn share(&self, merchant_id: &Uuid) -> usize {
        if self.slow.contains(merchant_id) {
            1
        } else {
            DELIVERIES_PER_MERCHANT_MAX
        }
    }

    /// The merchants with their share in flight.
    fn busy_merchants(&self) -> Vec<Uuid> {
        self.per_merchant
            .iter()
            .filter(|(m, n)| **n >= self.share(m))
            .map(|(m, _)| *m)
            .collect()
    }
}

type InFlight = Arc<std::sync::Mutex<Flights>>;

/// One send, counted against its merchant's share while it lives (dropped on any end of its
/// task, a panic included).
struct Sending {
    in_flight: InFlight,
    merchant_id: Uuid,
    delivery_id: Uuid,
}

impl Sending {
    /// None when every send is taken, the merchant has its share in flight, or this delivery
    /// is in flight already.
    fn start(in_flight: &InFlight, row: &DeliveryRow) -> Option<Sending> {
        let mut flights = in_flight.lock().expect("in flight");
        let count = flights.per_merchant.get(&row.merchant_id).copied();
        if flights.full()
            || count.unwrap_or(0) >= flights.share(&row.merchant_id)
            || flights.deliveries.contains(&row.id)
        {
            return None;
        }
        *flights.per_merchant.entry(row.merchant_id).or_default() += 1;
        flights.deliveries.insert(row.id);
        Some(Sending {
            in_flight: in_flight.clone(),
            merchant_id: row.merchant_id,
            delivery_id: row.id,
        })
    }
}

impl Sending {
    /// Whether the receiver answered (anything) before the timeout.
    fn answered(&self, in_time: bool) {
        let mut flights = self.in_flight.lock().expect("in flight");
        if in_time {
            flights.slow.remove(&self.merchant_id);
        } else {
            flights.slow.insert(self.merchant_id);
        }
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        let mut flights = self.in_flight.lock().expect("in flight");
        flights.deliveries.remove(&self.delivery_id);
        if let Some(count) = flights.per_merchant.get_mut(&self.merchant_id) {
            *count -= 1;
            if *count == 0 {
                flights.per_merchant.remove(&self.merchant_id);
            }
        }
    }
}

/// Takes a due delivery for this deliverer: when its next attempt would be, or None when another
/// deliverer has it (or the store failed; it stays due).
async fn lease<S: HubStore, B>(hub: &Hub<S, B>, row: &DeliveryRow) -> Option<Option<i64>> {
    let leased_until = Some(now_ms() + LEASE_MS);
    let leased = DeliveryRow {
        next_attempt_ms: leased_until,
        ..row.clone()
    };
    match hub.store.update_delivery(leased, row.next_attempt_ms).await {
        Ok(true) => Some(leased_until),
        Ok(false) => None,
        Err(error) => {
            tracing::warn!(%error, "leasing a webhook failed");
            None
        }
    }
}

/// Sends one leased delivery and records the result. True when the receiver did not answer in
/// time.
async fn deliver<S: HubStore, B>(
    hub: &Hub<S, B>,
    http: &reqwest::Client,
    row: DeliveryRow,
    leased_until: Option<i64>,
) -> bool {
    let now = now_ms();
    let merchant = match hub.store.merchant(row.merchant_id).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            let gone = DeliveryRow {
                state: "failed".to_string(),
                next_attempt_ms: None,
                last_error: Some("the merchant is gone".to_string()),
                updated_at_ms: now_ms(),
                ..row
            };
            let _ = hub.store.update_delivery(gone, leased_until).await;
            return false;
        }
        Err(_) => return false, // the lease lapses and the delivery is tried again
    };
    let secrets = secrets_of(hub, &merchant).unwrap_or_default();
    let live: Vec<&Secret> = secrets
        .iter()
        .filter(|s| s.expires_at_ms.is_none_or(|e| e > now))
        .collect();
    let mut timed_out = false;
    let (status, error) = match (&merchant.webhook_url, live.is_empty()) {
        (Some(url), false)
            if !hub.webhooks_to_private_networks
                && reqwest::Url::parse(url)
                    .ok()
                    .and_then(|u| literal_address(&u))
                    .is_some_and(|ip| !is_public(ip)) =>
        {
            (None, Some("the address is not public".to_string()))
        }
        (Some(url), false) => {
            let timestamp = now / 1000;
            let mut header = format!("t={timestamp}");
            for secret in &live {
                header.push_str(&format!(
                    ",v1={}",
                    sign(&secret.secret, timestamp, &row.payload)
                ));
            }
            let sent = http
                .post(url)
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, header)
                .header(EVENT_ID_HEADER, row.id.to_string())
                .body(row.payload.clone())
                .send()
                .await;
            match sent {
                Ok(response) => (Some(i64::from(response.status().as_u16())), None),
                // The log says what kind of failure, not the network's details (the merchant reads
                // it; raw errors would map the hub's network for them).
                Err(error) => {
                    // Without the URL: a merchant may have put a token in its query.
                    let error = error.without_url();
                    tracing::info!(delivery = %row.id, %error, "a webhook was not delivered");
                    timed_out = error.is_timeout();
                    let kind = if refused_as_private(&error) {
                        "the address is not public"
                    } else if error.is_timeout() {
                        "timed out"
                    } else if error.is_connect() {
                        "could not connect"
                    } else {
                        "the request failed"
                    };
                    (None, Some(kind.to_string()))
                }
            }
        }
        _ => (None, Some("no webhook URL or secret".to_string())),
    };
    let attempts = row.attempts + 1;
    let delivered = status.is_some_and(|s| (200..300).contains(&s));
    let now = now_ms();
    let given_up = !delivered && now - row.created_at_ms >= GIVE_UP_AFTER_MS;
    let done = DeliveryRow {
        state: if delivered {
            "delivered"
        } else if given_up {
            "failed"
        } else {
            "pending"
        }
        .to_string(),
        attempts,
        next_attempt_ms: (!delivered && !given_up).then(|| now + backoff_ms(attempts)),
        last_status: status,
        last_error: error.or_else(|| (!delivered).then(|| "not acknowledged with a 2xx".into())),
        updated_at_ms: now,
        ..row
    };
    if let Err(error) = hub.store.update_delivery(done, leased_until).await {
        tracing::warn!(%error, "recording a webhook attempt failed");
    }
    timed_out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merchant_whose_receiver_timed_out_gets_one_send_at_a_time() {
        let in_flight: InFlight = Default::default();
        let merchant_id = Uuid::new_v4();
        let row = |id: u128| DeliveryRow {
            id: Uuid::from_u128(id),
            merchant_id,
            event_type: "payment.succeeded".into(),
            payload: "{}".into(),
            state: "pending".into(),
            attempts: 0,
            next_attempt_ms: Some(0),
            last_status: None,
            last_error: None,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        let sends: Vec<Sending> = (1..=4)
            .map(|id| Sending::start(&in_flight, &row(id)).expect("within its share"))
            .collect();
        assert!(
            Sending::start(&in_flight, &row(5)).is_none(),
            "four at most"
        );
        assert!(
            Sending::start(&in_flight, &row(1)).is_none(),
            "in flight already"
        );
        sends[0].answered(false);
        drop(sends);
        let busy = || in_flight.lock().unwrap().busy_merchants();
        assert!(busy().is_empty());
        let one = Sending::start(&in_flight, &row(6)).expect("one");
        assert_eq!(
            busy(),
            vec![merchant_id],
            "one at a time once a send timed out"
        );
        assert!(Sending::start(&in_flight, &row(7)).is_none());
        one.answered(true);
        assert!(busy().is_empty(), "its share again once it answers");
        drop(one);
        assert!(in_flight.lock().unwrap().per_merchant.is_empty());
        // Fifty at once over all merchants.
        let many: Vec<Sending> = (0..DELIVERIES_AT_ONCE_MAX as u128)
            .map(|id| {
                let other = DeliveryRow {
                    merchant_id: Uuid::from_u128(1_000 + id / 4),
                    ..row(100 + id)
                };
                Sending::start(&in_flight, &other).expect("a slot")
            })
            .collect();
        let another = DeliveryRow {
            merchant_id: Uuid::new_v4(),
            ..row(999)
        };
        assert!(
            Sending::start(&in_flight, &another).is_none(),
            "every send taken"
        );
        drop(many);
        assert!(Sending::start(&in_flight, &another).is_some());
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:a9fe:a9fe::1",
            "::7f00:1",
            "::a00:1",
            "fec0::1",
            "64:ff9b:1::a00:1",
            "2001::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
            "::808:808",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn the_resolver_gives_no_private_address() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let resolved = PublicOnly.resolve(name).await;
        let error = resolved.err().expect("localhost is loopback");
        assert!(error.is::<NotPublic>(), "{error}");
    }

    #[test]
    fn signatures_verify_with_the_secret_and_within_the_tolerance() {
        let body = r#"{"id":"e1"}"#;
        let header = format!("t=1000,v1={}", sign("whsec_a", 1000, body));
        assert!(verify(&header, "whsec_a", body, 1000, 300));
        assert!(verify(&header, "whsec_a", body, 1300, 300));
        assert!(!verify(&header, "whsec_a", body, 1301, 300), "too old");
        assert!(
            !verify(&header, "whsec_b", body, 1000, 300),
            "another secret"
        );
        assert!(
            !verify(&header, "whsec_a", r#"{"id":"e2"}"#, 1000, 300),
            "another body"
        );
        let two = format!("{header},v1={}", sign("whsec_b", 1000, body));
        assert!(
            verify(&two, "whsec_b", body, 1000, 300),
            "either secret during a rotation"
        );
        assert!(!verify("v1=00", "whsec_a", body, 1000, 300), "no timestamp");
    }

    #[test]
    fn backoff_doubles_to_an_hour() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(13), 3_600_000);
        assert_eq!(backoff_ms(1_000), 3_600_000);
    }
}
