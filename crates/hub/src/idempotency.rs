//! `Idempotency-Key` on every POST that creates or moves something.
//!
//! The first request with a key claims it (a row with the request's hash and a lock), runs, and
//! stores its answer. A retry with the same key and the same request gets that answer again,
//! marked `idempotent-replayed: true`; the same key with another request gets 409
//! `idempotency_key_reused`; a retry while the first is still running gets 409
//! `idempotency_request_in_progress`. Each claim carries a random token, and only its holder may
//! store an answer or release it. An answer that says the hub failed (5xx) is not stored: the
//! claim is released so a retry runs again — which is safe because everything a handler sends to
//! a bank carries ids derived from the key. A hub that crashes mid-request leaves a claim that
//! lapses after [`CLAIM_LOCK_MS`].
//!
//! Stored answers are encrypted (AES-256-GCM, bound to caller and key) because some carry a secret
//! shown once, such as a new caller's token; they are deleted after [`RECORD_RETENTION_MS`], after
//! which the key may be used again.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use scanpay_http::ApiError;
use scanpay_proto::ErrorCode;
use scanpay_store::{Claim, HubStore, IdempotencyRecord};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::{BankConnector, Hub};

pub const HEADER_KEY: &str = "idempotency-key";
pub const HEADER_REPLAYED: &str = "idempotent-replayed";
/// A key is 1 to this many visible ASCII characters (a UUID fits).
pub const KEY_LENGTH_MAX: usize = 255;
/// How long a claim holds before another request may take it over: longer than the slowest
/// request path (a confirm makes three bank calls of up to three 5-second tries each).
pub const CLAIM_LOCK_MS: i64 = 120_000;
/// A stored answer is at most this large.
const RESPONSE_BYTES_MAX: usize = 1024 * 1024;
/// How long a key and its answer are kept (Stripe keeps them 24 hours too).
pub const RECORD_RETENTION_MS: i64 = 24 * 3600 * 1000;
/// How often expired records are deleted.
const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes expired idempotency records, forever (the hub aborts it on shutdown).
pub async fn purge_expired<S: HubStore>(store: std::sync::Arc<S>) {
    let mut interval = tokio::time::interval(PURGE_INTERVAL);
    loop {
        interval.tick().await;
        match store
            .purge_idempotency(scanpay_http::now_ms() - RECORD_RETENTION_MS)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "purged expired idempotency records"),
            Err(error) => tracing::warn!(%error, "purging idempotency records failed"),
        }
    }
}

/// Associated data binding a stored answer to its caller and key.
fn answer_binding(caller: uuid::Uuid, key: &str) -> Vec<u8> {
    let mut binding = caller.as_bytes().to_vec();
    binding.extend_from_slice(key.as_bytes());
    binding
}

/// The request's `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn key_of(headers: &axum::http::HeaderMap) -> Result<String, ApiError> {
    headers
        .get(HEADER_KEY)
        .map(|v| v.to_str().map(str::to_string))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::IdempotencyKeyMissing,
                "Send an `Idempotency-Key` header (a UUID is a good key) so this request can be retried safely.",
            )
        })?
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= KEY_LENGTH_MAX && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::IdempotencyKeyInvalid,
                format!("An `Idempotency-Key` is 1 to {KEY_LENGTH_MAX} visible ASCII characters."),
            )
        })
}

pub async fn idempotent<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    request: Request,
    next: Next,
) -> Response {
    match run(hub, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run<S: HubStore, B: BankConnector>(
    hub: Hub<S, B>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ApiError::internal("idempotency layer runs after authentication"))?;
    let key = key_of(request.headers())?;
    let (parts, body) = request.into_parts();
    // Read here to hash it, so the route's own limit applies here: a photo's on the photo route,
    // 1 MiB elsewhere (else every creating POST would buffer and hash up to a photo's size).
    let photo = parts.uri.path().ends_with("/images");
    let (most, too_large) = if photo {
        (crate::PHOTO_BODY_BYTES_MAX, ErrorCode::ImageTooLarge)
    } else {
        (crate::BODY_BYTES_MAX, ErrorCode::PayloadTooLarge)
    };
    let bytes = axum::body::to_bytes(body, most)
        .await
        .map_err(|_| ApiError::new(too_large, "The body is too large."))?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    // The query is part of the request: `?carrier=id_document` is not `?carrier=payment_card`.
    hasher.update(
        parts
            .uri
            .path_and_query()
            .map_or(parts.uri.path(), |p| p.as_str()),
    );
    hasher.update([0]);
    hasher.update(&bytes);
    // Kept as a keyed hash: a body may hold a password or identity fields, and a plain digest of
    // a predictable body could be guessed offline from the table.
    let request_hash = hub
        .vault
        .lookup("idempotent_request", &hex::encode(hasher.finalize()));
    let now = scanpay_http::now_ms();
    let claim_token: Vec<u8> = {
        use rand::RngCore;
        let mut token = vec![0u8; 16];
        rand::thread_rng().fill_bytes(&mut token);
        token
    };
    let claim = hub
        .store
        .claim(IdempotencyRecord {
            caller_id: caller.id,
            key: key.clone(),
            request_hash: request_hash.clone(),
            response_status: None,
            response_body: Vec::new(),
            locked_until_ms: now + CLAIM_LOCK_MS,
            created_at_ms: now,
            claim_token: claim_token.clone(),
        })
        .await
        .map_err(ApiError::internal)?;
    match claim {
        Claim::Existing(record) if record.request_hash != request_hash => Err(ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "This Idempotency-Key was used for a different request; use a new key.",
        )),
        Claim::Existing(IdempotencyRecord {
            response_status: Some(status),
            response_body,
            ..
        }) => {
            let response_body = hub
                .vault
                .decrypt(&response_body, &answer_binding(caller.id, &key))
                .map_err(ApiError::internal)?;
            let mut response = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                [("content-type", "application/json")],
                response_body,
            )
                .into_response();
            response
                .headers_mut()
                .insert(HEADER_REPLAYED, HeaderValue::from_static("true"));
            Ok(response)
        }
        Claim::Existing(_) => Err(ApiError::new(
            ErrorCode::IdempotencyRequestInProgress,
            "A request with this Idempotency-Key is still being answered; retry shortly.",
        )),
        Claim::Claimed => {
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let (parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, RESPONSE_BYTES_MAX)
                .await
                .map_err(ApiError::internal)?;
            if parts.status.is_server_error() {
                if let Err(error) = hub.store.release(caller.id, key, claim_token).await {
                    tracing::warn!(%error, "could not release an idempotency claim; it lapses");
                }
            } else {
                let sealed = hub.vault.encrypt(&body, &answer_binding(caller.id, &key));
                let stored = hub
                    .store
                    .complete(caller.id, key, claim_token, parts.status.as_u16(), sealed)
                    .await;
                if let Err(error) = &stored {
                    // The work is done and committed: its answer still goes to the caller (a
                    // registration's code is in it, once). A retry with the key waits for the
                    // claim to lapse and runs again, answering as the state now stands.
                    tracing::error!(%error, "could not store an answer for its idempotency key");
                }
                if stored.is_ok_and(|stored| !stored) {
                    // This request outlived its lease and another took the claim over: its
                    // answer still goes to this caller, but the key keeps the successor's.
                    tracing::warn!(
                        "an idempotency claim was taken over before this answer was stored"
                    );
                }
            }
            Ok(Response::from_parts(parts, Body::from(body)))
        }
    }
}
