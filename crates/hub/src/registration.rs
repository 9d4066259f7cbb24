//! Registration by scanning (seed 000): the hub's side of the session in
//! `scanpay_core::registration`.
//!
//! Each handler loads the session (checking it belongs to the caller), applies events to it and
//! saves it with optimistic locking, so two hubs never overwrite each other's step. The session
//! is stored as one encrypted blob: it holds a card number and an ID number.
//!
//! `confirm` is the long script: validate → route to the bank → ask the bank for the identity it
//! saved → compare → issue the code → bind it at the bank. Every step is saved before the next
//! one starts, so a bank that times out leaves a session that a retried `confirm` resumes where
//! it stopped. The plain code is kept (encrypted, in the session) only until the bank has bound
//! it; after that only its keyed hash exists.
//!
//! Photos and fields may come sealed to the hub's public key (`GET /v1/sealing-key`,
//! `scanpay_proto::seal`), bound to the session and the endpoint.
//!
//! The code is random, the person's own, their phone number, or a user name with a password
//! (`scanpay_core::code`); of a password the hub keeps only an argon2id hash.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use scanpay_core::card::Pan;
use scanpay_core::matching::{IdentityToMatch, compare};
use scanpay_core::registration::{
    CardFields, Day, Event, FieldError, IdentityFields, Policy, Registration, State as Step,
    StepError, validate_card, validate_identity,
};
use scanpay_http::{ApiError, Json, Path, now_ms};
use scanpay_proto::ErrorCode;
use scanpay_proto::bank::{BindRequest, RevokeBindings, rfc3339};
use scanpay_proto::hub::{
    CallerCreated, CallerKind, CardFieldsView, CardInput, CodeChoice, ConfirmRegistration,
    FieldSource, IdentityInput, RegistrationFields, RegistrationList, RegistrationView,
    SealingKeyView, SignUp, StartRegistration,
};
use scanpay_store::{CodeConflict, CodeRow, HubStore, RegistrationRow};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{connector_error, route};
use crate::auth::Caller;
use crate::{BankConnector, ConnectorError, Hub};

type ApiResult<T> = Result<T, ApiError>;

/// A session left unfinished this long expires.
pub const SESSION_LIFETIME_MS: i64 = 30 * 60 * 1000;
/// A caller's list of registrations shows at most this many, newest first.
const LISTED_MAX: u32 = 100;
/// Terminal identifiers are opaque but bounded.
const TERMINAL_ID_LENGTH_MAX: usize = 128;
/// Failed identity verifications of one card, across sessions and wallets, before the card is
/// refused for the rest of the window: the bank's saved identity cannot be probed without end.
const CARD_FAILURES_MAX: i64 = 10;
const CARD_FAILURE_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// Draws of a random code before giving up (a collision among 10^10 codes is rare).
const CODE_DRAWS_MAX: u32 = 8;
/// Codes of the person's choosing found taken before a session ends.
const CODE_CHOICES_TAKEN_MAX: u32 = 5;

/// What the hub stores for a session (encrypted).
#[derive(Clone, Serialize, Deserialize)]
struct Stored {
    registration: Registration,
    /// Per field: where it came from and how sure.
    fields: BTreeMap<String, FieldSource>,
    /// The issued code until the bank has bound it, so a retried bind can send it again.
    pending_code: Option<String>,
    /// For a user-name code: the password's argon2id hash (PHC string). Never the password.
    #[serde(default)]
    password_hash: Option<String>,
    /// The terminal's X25519 public key, when it gave one: verification codes are sealed to it.
    #[serde(default)]
    terminal_key: Option<[u8; 32]>,
    /// Of a revoked registration: whether the bank has removed its binding too.
    #[serde(default)]
    revoked_at_bank: bool,
    /// Codes of the person's choosing found taken in this session: at `CODE_CHOICES_TAKEN_MAX`
    /// the session ends, so that a session cannot test without end whether a phone number or a
    /// user name is someone's code.
    #[serde(default)]
    codes_taken: u32,
}

fn today() -> Day {
    Day::from_unix_ms(now_ms())
}

fn step_error(error: StepError) -> ApiError {
    let code = ErrorCode::parse(error.code()).unwrap_or(ErrorCode::RegistrationStepOutOfOrder);
    ApiError::new(code, format!("{error}."))
}

fn field_error(error: FieldError) -> ApiError {
    let message = match &error {
        FieldError::IdentityDocumentExpired => {
            "The identity document has expired; scan a valid one.".to_string()
        }
        FieldError::CardExpired => "The card has expired; use another card.".to_string(),
        FieldError::Card(_) => {
            "The card number does not check out; re-scan the card or correct the number."
                .to_string()
        }
        other => format!("{other}; re-scan the document or correct the field."),
    };
    ApiError::new(
        ErrorCode::parse(error.code()).unwrap_or(ErrorCode::IdentityFieldInvalid),
        message,
    )
}

fn seal<S, B>(hub: &Hub<S, B>, stored: &Stored) -> ApiResult<Vec<u8>> {
    let json = serde_json::to_vec(stored).map_err(ApiError::internal)?;
    Ok(hub.vault.encrypt(&json, stored.registration.id.as_bytes()))
}

/// Loads a session of `caller`; another caller's is 403.
async fn load<S: HubStore, B>(
    hub: &Hub<S, B>,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<(Stored, i64)> {
    load_if(hub, id, |owner| owner == caller.id).await
}

/// Loads a session if `may(owner)`; otherwise 403.
async fn load_if<S: HubStore, B>(
    hub: &Hub<S, B>,
    id: Uuid,
    may: impl FnOnce(Uuid) -> bool,
) -> ApiResult<(Stored, i64)> {
    let row = hub
        .store
        .registration(id)
        .await
        .map_err(scanpay_http::store_unavailable)?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::RegistrationNotFound,
                "No registration has that id.",
            )
        })?;
    if !may(row.caller_id) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "This registration belongs to someone else.",
        ));
    }
    let json = hub
        .vault
        .decrypt(&row.data, id.as_bytes())
        .map_err(ApiError::internal)?;
    let stored: Stored = serde_json::from_slice(&json).map_err(ApiError::internal)?;
    Ok((stored, row.version))
}

/// The identity a bound registration was verified with (for a payment's optional identity check).
pub(crate) async fn identity_of<S: HubStore, B>(
    hub: &Hub<S, B>,
    id: Uuid,
) -> ApiResult<IdentityFields> {
    stored_of(hub, id)
        .await?
        .registration
        .identity
        .ok_or_else(|| ApiError::internal("a bound registration without identity"))
}

/// What a payment needs of its payer's registration, from one read.
pub(crate) struct PayerRegistration {
    pub bound: bool,
    /// The terminal's public key, if it gave one: it must prove it holds it, and codes are
    /// sealed to it.
    pub terminal_key: Option<[u8; 32]>,
    password_hash: Option<String>,
}

/// Bound registrations as payments read them, kept in memory once read: the payment path then
/// reads and decrypts no session. What is kept never changes but `bound`, which a revocation
/// ends; a kept `bound` may then be stale (on this hub or another), and it does not matter: a
/// payment first finds its code's row, and the revocation deleted that row in the same write.
/// At most this many are kept.
pub(crate) const PAYERS_CACHED_MAX: usize = 65_536;

pub(crate) async fn payer_registration<S: HubStore, B>(
    hub: &Hub<S, B>,
    id: Uuid,
) -> ApiResult<std::sync::Arc<PayerRegistration>> {
    if let Some(known) = hub.bound_payers.get(&id) {
        return Ok(known);
    }
    let stored = stored_of(hub, id).await?;
    let payer = std::sync::Arc::new(PayerRegistration {
        bound: stored.registration.state == Step::Bound,
        terminal_key: stored.terminal_key,
        password_hash: stored.password_hash,
    });
    if payer.bound {
        hub.bound_payers.keep(id, payer.clone());
    }
    Ok(payer)
}

/// Argon2id hashes running at once, at most: each takes ~19 MiB and tens of milliseconds, so
/// unbounded they would let one wallet exhaust the hub's memory and blocking threads.
static PASSWORD_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

impl PayerRegistration {
    /// Whether `password` is the one chosen with this user-name code (argon2id, off the async
    /// threads, at most two at once).
    pub(crate) async fn password_matches(&self, password: &str) -> ApiResult<bool> {
        let Some(hash) = self.password_hash.clone() else {
            return Ok(false);
        };
        let password = password.to_string();
        let slot = PASSWORD_SLOTS.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || {
            // Held by the work itself: a request dropped by its client does not free the slot
            // while the hash still runs.
            let _slot = slot;
            use argon2::password_hash::{PasswordHash, PasswordVerifier};
            let parsed = PasswordHash::new(&hash).map_err(ApiError::internal)?;
            Ok(argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .map_err(ApiError::internal)?
    }
}

/// The identity the hub saved with this wallet's first bound registration (other than `this`),
/// even if its code was revoked since: a lost phone does not make the wallet someone else's.
async fn wallet_identity<S: HubStore, B>(
    hub: &Hub<S, B>,
    caller_id: Uuid,
    this: Uuid,
) -> ApiResult<Option<IdentityFields>> {
    let first = hub
        .store
        .first_bound_registration(caller_id, this)
        .await
        .map_err(scanpay_http::store_unavailable)?;
    match first {
        Some(row) => Ok(stored_of(hub, row.id).await?.registration.identity),
        None => Ok(None),
    }
}

async fn stored_of<S: HubStore, B>(hub: &Hub<S, B>, id: Uuid) -> ApiResult<Stored> {
    let row = hub
        .store
        .registration(id)
        .await
        .map_err(scanpay_http::store_unavailable)?
        .ok_or_else(|| ApiError::internal("a code's registration is missing"))?;
    let json = hub
        .vault
        .decrypt(&row.data, id.as_bytes())
        .map_err(ApiError::internal)?;
    serde_json::from_slice(&json).map_err(ApiError::internal)
}

/// Saves a session read at `version`; returns the new version.
async fn save<S: HubStore, B>(hub: &Hub<S, B>, stored: &Stored, version: i64) -> ApiResult<i64> {
    save_with(hub, stored, version, Saving::Step).await
}

/// What a save writes besides the session.
enum Saving {
    Step,
    /// The session's code is deleted and its owner told, in the same transaction.
    Revoked(scanpay_store::NotificationRow),
}

async fn save_with<S: HubStore, B>(
    hub: &Hub<S, B>,
    stored: &Stored,
    version: i64,
    saving: Saving,
) -> ApiResult<i64> {
    let r = &stored.registration;
    let row = RegistrationRow {
        id: r.id,
        caller_id: r.caller_id,
        state: r.state.code().to_string(),
        version: version + 1,
        data: seal(hub, stored)?,
        created_at_ms: r.created_at_ms,
        updated_at_ms: r.updated_at_ms,
    };
    let saved = match saving {
        // A session that ended before it was bound gives back a code it reserved (a failure may
        // have stopped it between its code's row and the step after).
        Saving::Step if matches!(r.state, Step::Cancelled | Step::Expired | Step::Rejected) => {
            hub.store.end_registration(row, None).await
        }
        Saving::Step => hub.store.update_registration(row).await,
        Saving::Revoked(note) => hub.store.end_registration(row, Some(note)).await,
    };
    if saved.map_err(scanpay_http::store_unavailable)? {
        Ok(version + 1)
    } else {
        Err(ApiError::new(
            ErrorCode::RegistrationChanged,
            "The registration changed while this step ran; fetch it and retry.",
        ))
    }
}

fn masked_card(pan: &str) -> String {
    let digits: String = pan.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 8 {
        return "•".repeat(digits.len());
    }
    format!("{} •••• •••• {}", &digits[..4], &digits[digits.len() - 4..])
}

fn view(stored: &Stored, code: Option<String>) -> RegistrationView {
    let r = &stored.registration;
    RegistrationView {
        id: r.id,
        state: r.state.code().to_string(),
        carriers_needed: r.carriers_needed().iter().map(|c| c.to_string()).collect(),
        identity: r.identity.as_ref().map(|i| {
            serde_json::json!({
                "full_name": i.full_name, "document_type": i.document_type,
                "document_number": i.document_number, "birth_date": i.birth_date,
                "expiry_date": i.expiry_date, "nationality": i.nationality, "address": i.address,
            })
        }),
        card: r.card.as_ref().map(|c| CardFieldsView {
            card_masked: masked_card(&c.card_number),
            network: Pan::parse(&c.card_number)
                .ok()
                .and_then(|p| p.network())
                .map(|n| n.code().to_string()),
            expiry_month: c.expiry_month,
            expiry_year: c.expiry_year,
            holder_name: c.holder_name.clone(),
        }),
        fields: stored.fields.clone(),
        bank_id: r.bank_id.clone(),
        fields_to_check: r
            .last_match
            .as_ref()
            .filter(|_| r.state == Step::AwaitingConfirmation)
            .map(|m| m.fields_to_check().iter().map(|f| f.to_string()).collect())
            .unwrap_or_default(),
        rejection: r.rejection.clone(),
        registration_code: code,
        terminal_id: r.terminal_id.clone(),
        created_at: rfc3339(r.created_at_ms),
        expires_at: rfc3339(r.expires_at_ms),
    }
}

fn require_wallet(caller: &Caller) -> ApiResult<()> {
    crate::auth::require_wallet(caller, "Only a wallet registers cards.")
}

/// The hub's public key for sealed photos and fields. Open: a wallet fetches it before it has
/// a token, and it is no secret.
#[utoipa::path(get, path = "/v1/sealing-key", responses((status = 200, body = SealingKeyView)))]
pub async fn sealing_key<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
) -> Json<SealingKeyView> {
    use base64::Engine;
    Json(SealingKeyView {
        algorithm: scanpay_proto::seal::ALGORITHM.to_string(),
        public_key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hub.sealing.public()),
        media_type: scanpay_proto::seal::MEDIA_TYPE.to_string(),
    })
}

/// The plaintext of a sealed body (`content-type: application/vnd.scanpay.sealed`) for the
/// session `id` and endpoint `kind`, or `None` when the body is not sealed.
fn unseal<S: HubStore, B: BankConnector>(
    hub: &Hub<S, B>,
    headers: &axum::http::HeaderMap,
    body: &[u8],
    id: Uuid,
    kind: &str,
) -> ApiResult<Option<Vec<u8>>> {
    let sealed = media_type(headers).is_some_and(|t| t == scanpay_proto::seal::MEDIA_TYPE);
    if !sealed {
        return Ok(None);
    }
    let aad = scanpay_proto::seal::registration_aad(id, kind);
    hub.sealing.open(body, &aad).map(Some).map_err(|e| {
        ApiError::new(
            ErrorCode::SealedBodyInvalid,
            format!(
                "The sealed body cannot be opened: {e}. Seal it to the key of \
                 `GET /v1/sealing-key` for this registration and endpoint."
            ),
        )
    })
}

/// The request's media type, lower case, without parameters (`; charset=…`).
fn media_type(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}

/// Signs up a wallet and issues its token. Open: it is how a new phone gets its first token.
#[utoipa::path(post, path = "/v1/wallets", request_body = SignUp,
    responses((status = 201, body = CallerCreated), (status = 422, body = scanpay_proto::ErrorBody)))]
pub async fn sign_up<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Json(request): Json<SignUp>,
) -> ApiResult<Response> {
    let created = crate::api::create_caller_row(&hub, CallerKind::Wallet, &request.name).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Starts a registration for this phone.
#[utoipa::path(post, path = "/v1/registrations", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "makes the request safe to retry")),
    request_body = StartRegistration,
    responses((status = 201, body = RegistrationView), (status = 403, body = scanpay_proto::ErrorBody)))]
pub async fn start<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Json(request): Json<StartRegistration>,
) -> ApiResult<Response> {
    require_wallet(&caller)?;
    let terminal = request.terminal_id.trim();
    if terminal.is_empty() || terminal.len() > TERMINAL_ID_LENGTH_MAX {
        return Err(ApiError::new(
            ErrorCode::TerminalIdInvalid,
            format!("`terminal_id` is 1 to {TERMINAL_ID_LENGTH_MAX} bytes."),
        ));
    }
    let terminal_key = match &request.terminal_public_key {
        None if hub.payment_policy.terminal_key_required => {
            return Err(ApiError::new(
                ErrorCode::TerminalKeyRequired,
                "This hub registers cards only on phones that give their key \
                 (`terminal_public_key`): update the wallet app.",
            ));
        }
        None => None,
        Some(text) => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok());
            let usable = bytes.filter(scanpay_proto::seal::usable_public_key);
            Some(usable.ok_or_else(|| {
                ApiError::new(
                    ErrorCode::RequestInvalid,
                    "`terminal_public_key` is an X25519 public key: 32 bytes, base64url without \
                     padding, and not a low-order point.",
                )
            })?)
        }
    };
    let now = now_ms();
    let registration = Registration::new(
        Uuid::now_v7(),
        caller.id,
        terminal.to_string(),
        now,
        SESSION_LIFETIME_MS,
    );
    let stored = Stored {
        registration,
        fields: BTreeMap::new(),
        pending_code: None,
        password_hash: None,
        terminal_key,
        revoked_at_bank: false,
        codes_taken: 0,
    };
    let r = &stored.registration;
    hub.store
        .insert_registration(RegistrationRow {
            id: r.id,
            caller_id: r.caller_id,
            state: r.state.code().to_string(),
            version: 1,
            data: seal(&hub, &stored)?,
            created_at_ms: now,
            updated_at_ms: now,
        })
        .await
        .map_err(scanpay_http::store_unavailable)?;
    Ok((StatusCode::CREATED, Json(view(&stored, None))).into_response())
}

/// A registration of the caller's.
#[utoipa::path(get, path = "/v1/registrations/{id}", security(("bearer" = [])),
    responses((status = 200, body = RegistrationView), (status = 403, body = scanpay_proto::ErrorBody),
              (status = 404, body = scanpay_proto::ErrorBody)))]
pub async fn get<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<RegistrationView>> {
    let (mut stored, version) = load(&hub, &caller, id).await?;
    if stored.registration.expire_if_due(now_ms()) {
        save(&hub, &stored, version).await?;
    }
    Ok(Json(view(&stored, None)))
}

/// The caller's registrations, newest first.
#[utoipa::path(get, path = "/v1/registrations", security(("bearer" = [])),
    responses((status = 200, body = RegistrationList)))]
pub async fn list<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<RegistrationList>> {
    let rows = hub
        .store
        .registrations_of(caller.id, LISTED_MAX)
        .await
        .map_err(scanpay_http::store_unavailable)?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let json = hub
            .vault
            .decrypt(&row.data, row.id.as_bytes())
            .map_err(ApiError::internal)?;
        let mut stored: Stored = serde_json::from_slice(&json).map_err(ApiError::internal)?;
        stored.registration.expire_if_due(now_ms());
        items.push(view(&stored, None));
    }
    Ok(Json(RegistrationList { items }))
}

fn identity_fields(input: &IdentityInput) -> IdentityFields {
    IdentityFields {
        full_name: input.full_name.trim().to_string(),
        document_type: input.document_type.trim().to_string(),
        document_number: input.document_number.trim().to_string(),
        birth_date: input.birth_date.trim().to_string(),
        expiry_date: input
            .expiry_date
            .clone()
            .unwrap_or_default()
            .trim()
            .to_string(),
        nationality: input.nationality.clone().unwrap_or_default(),
        address: input.address.clone().unwrap_or_default(),
    }
}

/// The card fields of `input`; without a number, the number of `before` (the card the session
/// holds, when the user corrects its expiry or name).
fn card_fields(input: &CardInput, before: Option<&CardFields>) -> ApiResult<CardFields> {
    let card_number = match (&input.card_number, before) {
        (Some(number), _) => number
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect(),
        (None, Some(before)) => before.card_number.clone(),
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::RegistrationFieldsMissing,
                "`card.card_number` is required: the session has no card yet.",
            ));
        }
    };
    Ok(CardFields {
        card_number,
        expiry_month: input.expiry_month,
        expiry_year: input.expiry_year,
        holder_name: input
            .holder_name
            .clone()
            .unwrap_or_default()
            .trim()
            .to_string(),
    })
}

/// Validates and converts fields; records where each came from. With `before` (the fields the
/// session holds, when the user modifies them), only the fields whose value changed are recorded
/// as coming from `source`: the others keep their reading's source and confidence.
fn take_fields(
    input: &RegistrationFields,
    source: &str,
    before: (Option<&IdentityFields>, Option<&CardFields>),
    fields: &mut BTreeMap<String, FieldSource>,
) -> ApiResult<(Option<IdentityFields>, Option<CardFields>)> {
    if input.identity.is_none() && input.card.is_none() {
        return Err(ApiError::new(
            ErrorCode::RegistrationFieldsMissing,
            "Send `identity`, `card`, or both.",
        ));
    }
    let today = today();
    // A field's source, or none when it was not sent.
    let mut record = |name: String, sent: bool| {
        if sent {
            fields.insert(
                name,
                FieldSource {
                    confidence: 1.0,
                    source: source.to_string(),
                },
            );
        } else {
            fields.remove(&name);
        }
    };
    let identity = input.identity.as_ref().map(identity_fields);
    if let Some(identity) = &identity {
        validate_identity(identity, today, Policy::default()).map_err(field_error)?;
        let old = before.0.map(identity_values);
        for (i, (name, value)) in identity_values(identity).into_iter().enumerate() {
            let changed = old.as_ref().is_none_or(|old| old[i].1 != value);
            if value.is_empty() && old.is_none() {
                // Not sent: an earlier reading's source no longer describes anything.
                record(format!("identity.{name}"), false);
            } else if changed {
                record(format!("identity.{name}"), true);
            }
        }
    }
    let card = input
        .card
        .as_ref()
        .map(|c| card_fields(c, before.1))
        .transpose()?;
    if let Some(card) = &card {
        validate_card(card, today).map_err(field_error)?;
        let old = before.1;
        let expiry = |c: &CardFields| (c.expiry_month, c.expiry_year);
        for (name, changed) in [
            (
                "card_number",
                old.is_none_or(|o| o.card_number != card.card_number),
            ),
            ("expiry", old.is_none_or(|o| expiry(o) != expiry(card))),
            (
                "holder_name",
                old.is_none_or(|o| o.holder_name != card.holder_name),
            ),
        ] {
            if changed {
                record(format!("card.{name}"), true);
            }
        }
    }
    Ok((identity, card))
}

/// The identity's fields by name, in a fixed order.
fn identity_values(identity: &IdentityFields) -> [(&'static str, String); 7] {
    [
        ("full_name", identity.full_name.clone()),
        ("document_type", identity.document_type.clone()),
        ("document_number", identity.document_number.clone()),
        ("birth_date", identity.birth_date.clone()),
        ("expiry_date", identity.expiry_date.clone()),
        ("nationality", identity.nationality.clone()),
        ("address", identity.address.clone()),
    ]
}

/// Fields extracted on the phone (FIG. 4), for one carrier or both. A second call re-scans.
#[utoipa::path(post, path = "/v1/registrations/{id}/fields", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "makes the request safe to retry")),
    request_body = RegistrationFields,
    responses((status = 200, body = RegistrationView), (status = 422, body = scanpay_proto::ErrorBody)))]
pub async fn fields<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<Uuid>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<RegistrationView>> {
    // Sealed or plain JSON; a sealed body is opened only for the caller's own session.
    let (mut stored, version) = load(&hub, &caller, id).await?;
    let request: RegistrationFields = match unseal(&hub, &headers, &body, id, "fields")? {
        Some(plain) => scanpay_http::json_from_bytes(&plain)?,
        None => {
            let json = media_type(&headers)
                .is_some_and(|t| t == "application/json" || t.ends_with("+json"));
            if !json {
                return Err(ApiError::new(
                    ErrorCode::ContentTypeUnsupported,
                    format!(
                        "Send the fields as `application/json`, or sealed as `{}`.",
                        scanpay_proto::seal::MEDIA_TYPE
                    ),
                ));
            }
            scanpay_http::json_from_bytes(&body)?
        }
    };
    let (identity, card) = take_fields(&request, "wallet", (None, None), &mut stored.fields)?;
    stored
        .registration
        .apply(Event::FieldsReceived { identity, card }, now_ms())
        .map_err(step_error)?;
    save(&hub, &stored, version).await?;
    Ok(Json(view(&stored, None)))
}

/// Cancels a registration that has not finished.
#[utoipa::path(post, path = "/v1/registrations/{id}/cancel", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "makes the request safe to retry")),
    responses((status = 200, body = RegistrationView), (status = 409, body = scanpay_proto::ErrorBody)))]
pub async fn cancel<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<RegistrationView>> {
    let (mut stored, version) = load(&hub, &caller, id).await?;
    stored
        .registration
        .apply(Event::Cancelled, now_ms())
        .map_err(step_error)?;
    stored.pending_code = None;
    save(&hub, &stored, version).await?;
    Ok(Json(view(&stored, None)))
}

/// Revokes the code of a bound registration: the phone was lost or replaced. The code stops
/// paying at the hub at once: its row is deleted in the same write that saves the new state.
/// Then the bank removes its binding. The card and the code's value may then be registered
/// again, from the new phone. The wallet that owns the registration or an operator (a support
/// desk, for a user who cannot sign in) may revoke it. When the bank cannot be reached, the
/// answer is `bank_unavailable` and the code is already revoked at the hub; repeating the call
/// finishes the bank's part.
#[utoipa::path(post, path = "/v1/registrations/{id}/revoke", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "makes the request safe to retry")),
    responses((status = 200, body = RegistrationView),
        (status = 403, description = "forbidden: another wallet's registration", body = scanpay_proto::ErrorBody),
        (status = 409, description = "registration_step_out_of_order: never bound; registration_finished: rejected, cancelled or expired", body = scanpay_proto::ErrorBody),
        (status = 502, description = "bank_unavailable: revoked at the hub, retry for the bank", body = scanpay_proto::ErrorBody)))]
pub async fn revoke<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<RegistrationView>> {
    let operator = caller.kind == CallerKind::Operator;
    let (mut stored, mut version) =
        load_if(&hub, id, |owner| operator || owner == caller.id).await?;
    if stored.registration.state != Step::Revoked {
        stored
            .registration
            .apply(Event::Revoked, now_ms())
            .map_err(step_error)?;
        let r = &stored.registration;
        let card = r.card.as_ref().map(|c| masked_card(&c.card_number));
        let message = format!(
            "{} the code of card {} at {}: it pays no more. Register the card again to pay with it.",
            if operator {
                "Support revoked"
            } else {
                "You revoked"
            },
            card.as_deref().unwrap_or("?"),
            r.bank_id.as_deref().unwrap_or("?"),
        );
        let note = crate::payments::note_row(
            &hub,
            r.caller_id,
            crate::payments::Note::account("registration_revoked", message),
        );
        version = save_with(&hub, &stored, version, Saving::Revoked(note)).await?;
        tracing::info!(registration_id = %id, by = caller.kind.code(), "registration code revoked");
    }
    if !stored.revoked_at_bank {
        let bank_id = stored.registration.bank_id.as_deref();
        let (_, bank) = hub
            .banks
            .iter()
            .find(|(link, _)| Some(link.id.as_str()) == bank_id)
            .ok_or_else(|| ApiError::internal("a bound registration's bank is not configured"))?;
        bank.revoke_bindings(&RevokeBindings {
            registration_id: id,
        })
        .await
        .map_err(connector_error)?;
        stored.revoked_at_bank = true;
        save(&hub, &stored, version).await?;
    }
    let mut answer = view(&stored, None);
    if operator && stored.registration.caller_id != caller.id {
        // Support sees whose card it was, not the person's document: the number masked, no
        // birth date or address (the answer is also kept for the key's replays).
        if let Some(identity) = answer.identity.as_mut().and_then(|i| i.as_object_mut()) {
            let number = identity
                .get("document_number")
                .and_then(|n| n.as_str())
                .map(scanpay_core::matching::masked_number);
            identity.insert("document_number".to_string(), serde_json::json!(number));
            identity.remove("birth_date");
            identity.remove("address");
        }
    }
    Ok(Json(answer))
}

/// A code choice, checked: the canonical code it asks for (`None`: draw a random one) and, for
/// a user name, its password.
struct Chosen {
    code: Option<String>,
    password: Option<String>,
}

fn chosen(choice: Option<&CodeChoice>) -> ApiResult<Chosen> {
    use scanpay_core::code;
    let invalid = |e: code::CodeError| {
        ApiError::new(
            ErrorCode::RegistrationCodeInvalid,
            scanpay_http::sentence(e),
        )
    };
    let (code, password) = match choice {
        None | Some(CodeChoice::Random) => (None, None),
        Some(CodeChoice::Personalised { code }) => {
            (Some(code::personalised(code).map_err(invalid)?), None)
        }
        Some(CodeChoice::Phone { phone }) => (Some(code::phone(phone).map_err(invalid)?), None),
        Some(CodeChoice::Password { username, password }) => {
            code::password(password).map_err(invalid)?;
            (
                Some(code::username(username).map_err(invalid)?),
                Some(password.clone()),
            )
        }
    };
    Ok(Chosen { code, password })
}

fn random_code() -> String {
    format!("{:010}", rand::rngs::OsRng.gen_range(0..10_000_000_000u64))
}

/// The argon2id hash (PHC string) of a user-name code's password, with a fresh salt.
async fn hash_password(password: String) -> ApiResult<String> {
    let slot = PASSWORD_SLOTS.acquire().await.map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Reserves a code for a verified session and moves it to `code_issued`; returns the new
/// version. The code is saved in the session *before* its row is inserted, so a retry after a
/// crash reuses the same code (the insert then answers `RegistrationHasCode`).
async fn issue_code<S: HubStore, B>(
    hub: &Hub<S, B>,
    caller: &Caller,
    stored: &mut Stored,
    mut version: i64,
    pan: &Pan,
    bank_id: String,
    chosen: &Chosen,
) -> ApiResult<i64> {
    let now = now_ms();
    let account_id = stored
        .registration
        .account_id
        .expect("verified has an account");
    let card_lookup = hub.vault.lookup("card_number", pan.digits());
    // The code is the person's choice (their own, their phone, their user name) or drawn.
    let personalised = chosen.code.is_some();
    let password_hash = match &chosen.password {
        Some(password) => Some(hash_password(password.clone()).await?),
        None => None,
    };
    if password_hash.is_some() || stored.password_hash.is_some() {
        stored.password_hash = password_hash;
        version = save(hub, stored, version).await?;
    }
    for _ in 0..CODE_DRAWS_MAX {
        let code = match (&stored.pending_code, &chosen.code) {
            (_, Some(code)) => code.clone(),
            (Some(pending), None) => pending.clone(),
            (None, None) => random_code(),
        };
        if stored.pending_code.as_deref() != Some(code.as_str()) {
            stored.pending_code = Some(code.clone());
            version = save(hub, stored, version).await?;
        }
        let code_hash = hub.vault.lookup("registration_code", &code);
        let row = CodeRow {
            code_hash: code_hash.clone(),
            card_lookup: card_lookup.clone(),
            registration_id: stored.registration.id,
            caller_id: caller.id,
            bank_id: bank_id.clone(),
            account_id,
            terminal_id: stored.registration.terminal_id.clone(),
            created_at_ms: now,
        };
        let mut outcome = hub.store.insert_code(row).await;
        if let Err(
            CodeConflict::RegistrationHasCode | CodeConflict::CardTaken | CodeConflict::CodeTaken,
        ) = outcome
        {
            // A retry re-inserts its own row, which breaks every unique key at once; which one a
            // database reports first varies. If this registration holds exactly this code, the
            // earlier attempt got that far: carry on.
            let existing = hub
                .store
                .code_of_registration(stored.registration.id)
                .await
                .map_err(scanpay_http::store_unavailable)?;
            match existing {
                Some(row) if row.code_hash == code_hash => outcome = Ok(()),
                Some(_) => {
                    return Err(ApiError::internal(
                        "a registration holds a code it did not save",
                    ));
                }
                None => {}
            }
        }
        // The card or the code may be held by a session that ended unbound without giving it
        // back (it expired unread, or stopped between its code's row and its next step).
        let holder = match &outcome {
            Err(CodeConflict::CardTaken) => hub.store.code_by_card(card_lookup.clone()).await,
            Err(CodeConflict::CodeTaken) => hub.store.code_by_hash(code_hash.clone()).await,
            _ => Ok(None),
        }
        .map_err(scanpay_http::store_unavailable)?;
        if let Some(holder) = holder
            && reclaim(hub, &holder, stored.registration.id).await?
        {
            continue;
        }
        match outcome {
            Ok(()) => {}
            Err(CodeConflict::RegistrationHasCode) => {
                return Err(ApiError::internal("a registration's code vanished"));
            }
            Err(CodeConflict::CardTaken) => {
                stored.registration.rejection = Some("card_already_registered".to_string());
                stored
                    .registration
                    .apply(Event::Cancelled, now)
                    .map_err(step_error)?;
                stored.pending_code = None;
                save(hub, stored, version).await?;
                return Err(ApiError::new(
                    ErrorCode::CardAlreadyRegistered,
                    "This card is registered already.",
                ));
            }
            Err(CodeConflict::CodeTaken) if personalised => {
                stored.pending_code = None;
                stored.codes_taken += 1;
                let last = stored.codes_taken >= CODE_CHOICES_TAKEN_MAX;
                if last {
                    stored.registration.rejection = Some("registration_code_taken".to_string());
                    stored
                        .registration
                        .apply(Event::Cancelled, now)
                        .map_err(step_error)?;
                }
                save(hub, stored, version).await?;
                return Err(ApiError::new(
                    ErrorCode::RegistrationCodeTaken,
                    if last {
                        "That code is taken too; this registration ends after five taken codes. \
                         Start again, or let the hub draw a code."
                    } else {
                        "That code is taken; choose another."
                    },
                ));
            }
            Err(CodeConflict::CodeTaken) => {
                // Another registration drew the same random code: draw again.
                stored.pending_code = None;
                continue;
            }
            Err(CodeConflict::Store(e)) => return Err(scanpay_http::store_unavailable(e)),
        }
        stored
            .registration
            .apply(Event::CodeIssued, now)
            .map_err(step_error)?;
        return save(hub, stored, version).await;
    }
    Err(ApiError::internal(
        "no free random code after several draws",
    ))
}

/// Ends the session holding `holder` if it ended unbound (cancelled, rejected, or expired —
/// perhaps only now, unread since), which deletes its code row; true when the row is gone or
/// another writer just changed that session (the insert is tried again either way).
async fn reclaim<S: HubStore, B>(hub: &Hub<S, B>, holder: &CodeRow, ours: Uuid) -> ApiResult<bool> {
    if holder.registration_id == ours {
        return Ok(false);
    }
    let (mut other, version) = match load_if(hub, holder.registration_id, |_| true).await {
        Ok(found) => found,
        Err(error) if error.code == ErrorCode::RegistrationNotFound => return Ok(false),
        Err(error) => return Err(error),
    };
    other.registration.expire_if_due(now_ms());
    if !matches!(
        other.registration.state,
        Step::Cancelled | Step::Expired | Step::Rejected
    ) {
        return Ok(false);
    }
    other.pending_code = None;
    match save(hub, &other, version).await {
        Ok(_) => Ok(true),
        Err(error) if error.code == ErrorCode::RegistrationChanged => Ok(true),
        Err(error) => Err(error),
    }
}

/// Confirms the fields (after optional changes) and runs verification with the bank, code issue
/// and binding. Answers with the code once; after a near miss, with the fields to check.
#[utoipa::path(post, path = "/v1/registrations/{id}/confirm", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "makes the request safe to retry")),
    request_body = ConfirmRegistration,
    responses(
        (status = 200, description = "bound (with the code), or back to confirmation after a near miss", body = RegistrationView),
        (status = 409, description = "card_already_registered, registration_code_taken, ...", body = scanpay_proto::ErrorBody),
        (status = 404, description = "card_not_found: the bank does not know the card; the session waits for a corrected one", body = scanpay_proto::ErrorBody),
        (status = 422, description = "identity_mismatch, card_range_unknown, ...", body = scanpay_proto::ErrorBody),
        (status = 502, description = "bank_unavailable: retry; the session resumes", body = scanpay_proto::ErrorBody)))]
pub async fn confirm<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<Uuid>,
    Json(request): Json<ConfirmRegistration>,
) -> ApiResult<Json<RegistrationView>> {
    let (mut stored, mut version) = load(&hub, &caller, id).await?;
    // A bad code choice is refused before the bank is asked anything.
    let choice = chosen(request.code.as_ref())?;
    let now = now_ms();
    if let Some(modify) = &request.modify {
        let r = &stored.registration;
        let before = (r.identity.clone(), r.card.clone());
        let (identity, card) = take_fields(
            modify,
            "user",
            (before.0.as_ref(), before.1.as_ref()),
            &mut stored.fields,
        )?;
        stored
            .registration
            .apply(Event::Modified { identity, card }, now)
            .map_err(step_error)?;
    }
    // Re-validate what will be confirmed: dates move on while a session waits.
    if stored.registration.state == Step::AwaitingConfirmation {
        let today = today();
        let r = &stored.registration;
        let (identity, card) = (r.identity.as_ref(), r.card.as_ref());
        validate_identity(
            identity.expect("awaiting confirmation has fields"),
            today,
            Policy::default(),
        )
        .map_err(field_error)?;
        validate_card(card.expect("awaiting confirmation has fields"), today)
            .map_err(field_error)?;
    }
    stored
        .registration
        .apply(Event::Confirmed, now)
        .map_err(step_error)?;
    let card = stored
        .registration
        .card
        .clone()
        .expect("confirmed has a card");
    let pan = Pan::parse(&card.card_number).map_err(|e| field_error(e.into()))?;
    let bank_index = route(&hub, &pan)?;
    let (link, bank) = &hub.banks[bank_index];

    if stored.registration.state == Step::Confirmed {
        stored
            .registration
            .apply(
                Event::BankIdentified {
                    bank_id: link.id.clone(),
                },
                now,
            )
            .map_err(step_error)?;
        version = save(&hub, &stored, version).await?;
    }
    if stored.registration.state == Step::BankIdentified {
        let card_lookup = hub.vault.lookup("card_number", pan.digits());
        // Counted before the bank is asked, in one write that returns the count: sessions
        // confirming the same card at once cannot all pass a count read before any of them
        // recorded its failure. A match forgets the count (below).
        let attempts = hub
            .store
            .record_failure(card_lookup.clone(), now, CARD_FAILURE_WINDOW_MS)
            .await
            .map_err(scanpay_http::store_unavailable)?;
        if attempts > CARD_FAILURES_MAX {
            return Err(ApiError::new(
                ErrorCode::CardVerificationLimited,
                "This card failed identity verification too often; try again tomorrow or contact the bank.",
            ));
        }
        let answers = match bank.saved_identity(pan.digits()).await {
            Ok(saved) => bank
                .card_account(pan.digits())
                .await
                .map(|account| (saved, account)),
            Err(error) => Err(error),
        };
        let (saved, account) = match answers {
            Ok(answers) => answers,
            Err(ConnectorError::Refused(body))
                if body.code == "card_not_found" || body.code == "customer_not_found" =>
            {
                // The card's bank does not know it: let the user re-enter or re-scan the card.
                stored
                    .registration
                    .apply(Event::CardNotFoundAtBank, now)
                    .map_err(step_error)?;
                save(&hub, &stored, version).await?;
                return Err(ApiError::new(
                    ErrorCode::CardNotFound,
                    "The card's bank does not know this card number; check it and confirm again.",
                ));
            }
            Err(error) => {
                // Nothing was learnt of the card: the attempt counted above is taken back.
                if !matches!(&error, ConnectorError::Refused(body) if crate::connector::is_decision(body))
                {
                    hub.store
                        .forgive_failure(card_lookup)
                        .await
                        .map_err(scanpay_http::store_unavailable)?;
                }
                return Err(connector_error(error));
            }
        };
        let identity = stored
            .registration
            .identity
            .clone()
            .expect("confirmed has an identity");
        let scanned = IdentityToMatch {
            full_name: identity.full_name,
            document_number: identity.document_number,
            birth_date: identity.birth_date,
        };
        let bank_report = compare(
            &scanned,
            &IdentityToMatch {
                full_name: saved.full_name,
                document_number: saved.id_document_number,
                birth_date: saved.birth_date,
            },
        );
        // Also against the identity the hub saved when this wallet registered before (claim 6):
        // a wallet is one person's, so its next card must be theirs too. Another kind of
        // document (a licence after a passport) has another number: then name and birth date.
        let wallet_report = wallet_identity(&hub, caller.id, id).await?.map(|earlier| {
            let same_kind = earlier.document_type == identity.document_type;
            compare(
                &scanned,
                &IdentityToMatch {
                    full_name: earlier.full_name,
                    document_number: if same_kind {
                        earlier.document_number
                    } else {
                        scanned.document_number.clone()
                    },
                    birth_date: earlier.birth_date,
                },
            )
        });
        // The message names the wallet's record only when it is what made the verdict worse.
        let against_wallet = wallet_report.as_ref().is_some_and(|w| {
            scanpay_core::matching::rank(w.verdict)
                > scanpay_core::matching::rank(bank_report.verdict)
        });
        let report = match &wallet_report {
            Some(wallet_report) => bank_report.merge(wallet_report),
            None => bank_report,
        };
        stored
            .registration
            .apply(
                Event::Verified {
                    report,
                    account_id: account.account_id,
                },
                now,
            )
            .map_err(step_error)?;
        version = save(&hub, &stored, version).await?;
        if stored.registration.state == Step::Verified {
            hub.store
                .clear_failures(card_lookup)
                .await
                .map_err(scanpay_http::store_unavailable)?;
        }
        match stored.registration.state {
            Step::Verified => {}
            Step::Rejected => {
                return Err(ApiError::new(
                    ErrorCode::IdentityMismatch,
                    if against_wallet {
                        "The document does not match the identity this wallet registered before; registration ended."
                    } else {
                        "The document does not match the card's owner at the bank; registration ended."
                    },
                ));
            }
            _ => {
                let report = stored
                    .registration
                    .last_match
                    .as_ref()
                    .expect("just verified");
                if report.verdict == scanpay_core::matching::FieldMatch::Mismatch {
                    return Err(ApiError::new(
                        ErrorCode::IdentityMismatch,
                        if against_wallet {
                            "The document does not match the identity this wallet registered before. Check the fields and confirm again."
                        } else {
                            "The document does not match the card's owner at the bank. Check the fields and confirm again."
                        },
                    )
                    .with_details(serde_json::json!({ "fields_to_check": report.fields_to_check() })));
                }
                // A near miss: back to the confirmation screen with the fields to check.
                return Ok(Json(view(&stored, None)));
            }
        }
    }
    if stored.registration.state == Step::Verified {
        version = issue_code(
            &hub,
            &caller,
            &mut stored,
            version,
            &pan,
            link.id.clone(),
            &choice,
        )
        .await?;
    }
    if stored.registration.state == Step::CodeIssued {
        let code = stored
            .pending_code
            .clone()
            .ok_or_else(|| ApiError::internal("issued code lost"))?;
        let bound = bank
            .bind(&BindRequest {
                registration_code: code.clone(),
                terminal_id: stored.registration.terminal_id.clone(),
                account_id: stored
                    .registration
                    .account_id
                    .expect("verified has an account"),
                registration_id: Some(stored.registration.id),
            })
            .await;
        match bound {
            Ok(_) => {}
            // The bank decided (the code is still bound for an earlier registration whose
            // revocation has not reached it): the session ends and gives its code and card back,
            // rather than waiting in `code_issued` for a binding that will not come.
            Err(ConnectorError::Refused(body)) if crate::connector::is_decision(&body) => {
                stored
                    .registration
                    .apply(
                        Event::BindRefused {
                            code: body.code.clone(),
                        },
                        now,
                    )
                    .map_err(step_error)?;
                stored.pending_code = None;
                save(&hub, &stored, version).await?;
                return Err(connector_error(ConnectorError::Refused(body)));
            }
            Err(error) => return Err(connector_error(error)),
        }
        stored
            .registration
            .apply(Event::Bound, now)
            .map_err(step_error)?;
        stored.pending_code = None;
        save(&hub, &stored, version).await?;
        return Ok(Json(view(&stored, Some(code))));
    }
    Ok(Json(view(&stored, None)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImageQuery {
    /// `id_document`, `payment_card`, or absent: take whatever the photo shows (both may be in
    /// one photo).
    carrier: Option<String>,
}

fn extract_error(error: scanpay_extract::document::ExtractError) -> ApiError {
    let code = ErrorCode::parse(error.code()).unwrap_or(ErrorCode::OcrFailed);
    if let scanpay_extract::document::ExtractError::Unreadable { fields } = &error {
        return ApiError::new(
            code,
            format!(
                "A document was found in the photo, but not read: {}. Take the photo again closer, flat and evenly lit — or type the fields.",
                fields.join(", ")
            ),
        )
        .with_details(serde_json::json!({ "fields": fields }));
    }
    let message = match code {
        ErrorCode::DocumentNotFound => {
            "No identity document or payment card was found in the photo. Lay it flat, light it evenly, fill the frame, and try again — or type the fields.".to_string()
        }
        ErrorCode::OcrFailed => return ApiError::internal(error),
        _ => error.to_string(),
    };
    ApiError::new(code, message)
}

/// The identity fields a photo yielded, and how sure the reader was of each.
fn identity_from_photo(
    identity: &scanpay_extract::Identity,
    fields: &mut BTreeMap<String, FieldSource>,
) -> IdentityFields {
    fn note<T>(
        fields: &mut BTreeMap<String, FieldSource>,
        name: &str,
        field: Option<&scanpay_extract::Field<T>>,
    ) {
        if let Some(field) = field {
            let source = field.source.code().to_string();
            fields.insert(
                format!("identity.{name}"),
                FieldSource {
                    confidence: field.confidence,
                    source,
                },
            );
        }
    }
    let text = |field: &Option<scanpay_extract::Field<String>>| {
        field.as_ref().map(|f| f.value.clone()).unwrap_or_default()
    };
    let date = |field: &Option<scanpay_extract::Field<scanpay_extract::Date>>| {
        field.as_ref().map(|f| f.value.iso()).unwrap_or_default()
    };
    note(fields, "full_name", identity.surname.as_ref());
    note(fields, "document_type", identity.document_type.as_ref());
    note(fields, "document_number", identity.document_number.as_ref());
    note(fields, "birth_date", identity.birth_date.as_ref());
    note(fields, "expiry_date", identity.expiry_date.as_ref());
    IdentityFields {
        full_name: format!(
            "{} {}",
            text(&identity.surname),
            text(&identity.given_names)
        )
        .trim()
        .to_string(),
        document_type: text(&identity.document_type),
        document_number: text(&identity.document_number),
        birth_date: date(&identity.birth_date),
        expiry_date: date(&identity.expiry_date),
        nationality: text(&identity.nationality),
        address: text(&identity.address),
    }
}

fn card_from_photo(
    card: &scanpay_extract::card::CardReading,
    fields: &mut BTreeMap<String, FieldSource>,
) -> CardFields {
    let ocr = |confidence: f32| FieldSource {
        confidence,
        source: "ocr".to_string(),
    };
    fields.insert(
        "card.card_number".to_string(),
        ocr(card.card_number.confidence),
    );
    // An expiry the photo did not show is 0/0: confirmation asks the user to fill it in.
    fields.insert(
        "card.expiry".to_string(),
        ocr(card.expiry_month.as_ref().map_or(0.0, |f| f.confidence)),
    );
    fields.insert(
        "card.holder_name".to_string(),
        ocr(card.holder_name.as_ref().map_or(0.0, |f| f.confidence)),
    );
    CardFields {
        card_number: card.card_number.value.clone(),
        expiry_month: card.expiry_month.as_ref().map_or(0, |f| f.value),
        expiry_year: card.expiry_year.as_ref().map_or(0, |f| f.value),
        holder_name: card
            .holder_name
            .as_ref()
            .map(|f| f.value.clone())
            .unwrap_or_default(),
    }
}

/// A photo of the ID document, the card, or both (JPEG or PNG as the raw body). The hub reads
/// it — barcode, machine-readable zone, card number — and fills the session as `fields` does,
/// with each field's confidence and source.
#[utoipa::path(post, path = "/v1/registrations/{id}/images", security(("bearer" = [])),
    params(ImageQuery, ("Idempotency-Key" = String, Header, description = "makes the request safe to retry")),
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses(
        (status = 200, body = RegistrationView),
        (status = 413, description = "image_too_large", body = scanpay_proto::ErrorBody),
        (status = 415, description = "image_not_an_image", body = scanpay_proto::ErrorBody),
        (status = 422, description = "document_not_found, identity_document_expired, ...", body = scanpay_proto::ErrorBody)))]
pub async fn images<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<Uuid>,
    scanpay_http::Query(query): scanpay_http::Query<ImageQuery>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<RegistrationView>> {
    let (want_identity, want_card) = match query.carrier.as_deref() {
        None => (true, true),
        Some("id_document") => (true, false),
        Some("payment_card") => (false, true),
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::RequestInvalid,
                "`carrier` is id_document or payment_card.",
            ));
        }
    };
    let (mut stored, version) = load(&hub, &caller, id).await?;
    let body = match unseal(&hub, &headers, &body, id, "images")? {
        Some(plain) => axum::body::Bytes::from(plain),
        None => body,
    };
    // Refuse a finished or confirmed session before spending a second on the photo.
    if !matches!(
        stored.registration.state,
        Step::Started | Step::CarriersReceived | Step::AwaitingConfirmation
    ) {
        return Err(step_error(StepError::OutOfOrder(stored.registration.state)));
    }
    let slot = hub
        .extraction_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    let reader = hub.reader.clone();
    let day = today();
    let extraction = tokio::task::spawn_blocking(move || {
        // Held by the extraction itself: a client that hangs up does not free the slot while
        // the work goes on, so at most that many run whatever clients do.
        let _slot = slot;
        let options = scanpay_extract::document::Options {
            pixels_max: scanpay_extract::photo::IMAGE_PIXELS_MAX_DEFAULT,
            today: scanpay_extract::Date::new(day.year, day.month, day.day).expect("a civil date"),
            reader: reader
                .as_deref()
                .map(|r| r as &dyn scanpay_extract::document::TextReader),
        };
        scanpay_extract::document::extract(&body, &options)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(extract_error)?;
    let mut fields = stored.fields.clone();
    let identity = extraction
        .identity
        .as_ref()
        .filter(|_| want_identity)
        .map(|i| identity_from_photo(i, &mut fields));
    let card = extraction
        .card
        .as_ref()
        .filter(|_| want_card)
        .map(|c| card_from_photo(c, &mut fields));
    if identity.is_none() && card.is_none() {
        return Err(extract_error(
            scanpay_extract::document::ExtractError::NoDocument,
        ));
    }
    let today = today();
    if let Some(identity) = &identity {
        validate_identity(identity, today, Policy::default()).map_err(field_error)?;
    }
    if let Some(card) = &card {
        // The number must check out now; a missing expiry is filled in on confirmation.
        Pan::parse(&card.card_number).map_err(|e| field_error(e.into()))?;
        if card.expiry_month != 0 {
            validate_card(card, today).map_err(field_error)?;
        }
    }
    stored.fields = fields;
    stored
        .registration
        .apply(Event::FieldsReceived { identity, card }, now_ms())
        .map_err(step_error)?;
    save(&hub, &stored, version).await?;
    Ok(Json(view(&stored, None)))
}
