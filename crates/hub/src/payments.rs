//! Payments with a registration code (seed 000 claim 9, seed 002): the hub's side of
//! `scanpay_core::payment`.
//!
//! `create` checks the code and the terminal, picks the payee's account, and decides whether a
//! verification code is needed (a new payee, a larger amount, another terminal). If so, it sends
//! one to the wallet's notification stream and answers `requires_verification`; `verify` takes the
//! payment back with the code. Then [`drive`] asks the banks for each leg and saves each answer
//! before asking the next. A leg a bank did not answer stays pending; the resolver
//! ([`resolve_forever`]) asks again with the same transfer id until the bank answers, so a payment
//! is debited once or not at all, whatever crashes in between.
//!
//! Ids: the payment's id is derived from the caller and its `Idempotency-Key`, and each leg's
//! transfer id from the payment's id, so a retried request finds the same payment and sends the
//! same transfers.
//!
//! The payer's registration code is needed at the payer's bank (it checks the binding itself), and
//! the hub keeps only its keyed hash: the payment keeps a sealed copy of the code until the bank
//! has answered the debit, then drops it.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use scanpay_core::payment::{
    BankSums, CodeCheck, DAY_MS, Earlier, Leg, LegState, Party, Payment, PaymentError, Reason,
    RefundState, State as Status, Work, code_needed, day_of,
};
use scanpay_http::{ApiError, Json, Path, Query, now_ms};
use scanpay_proto::ErrorCode;
use scanpay_proto::bank::{
    ClearingTransferRequest, PaymentDebitRequest, TransferRequest, TransferResult, amount_minor,
    rfc3339,
};
use scanpay_proto::hub::{
    CallerKind, CreatePayment, CreateRefund, MerchantView, NextAction, NotificationPage,
    NotificationView, PartyView, PayeeView, PaymentPage, PaymentView, RefundView, VerifyPayment,
};
use scanpay_store::vault::Purpose;
use scanpay_store::{Announcements, HubStore, NotificationRow, PaymentRow, StoreError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::{BankConnector, ConnectorError, Hub};

type ApiResult<T> = Result<T, ApiError>;

/// Earlier payments the exemption rule looks at (more than its count limit; an older payee is
/// treated as new, which only asks for a code), and the payee guide lists from.
const HISTORY_MAX: u32 = 20;
/// A page of payment history holds at most this many.
const PAYMENTS_PAGE_MAX: u32 = 100;
const PAYMENTS_PAGE_DEFAULT: u32 = 20;
/// A terminal id, a reference: bounded text.
const TEXT_LENGTH_MAX: usize = 128;
/// The resolver looks at payments this often…
const RESOLVE_INTERVAL: Duration = Duration::from_millis(500);
/// …and at most this many at a time.
const RESOLVE_BATCH_MAX: u32 = 100;
/// A payment whose bank did not answer is asked again after this long.
const RETRY_AFTER_MS: i64 = 2_000;
/// A payment being worked on by a request is left to it this long before the resolver helps.
/// Longer than a bank call can take (three tries of up to 5 s, with backoff).
const GRACE_MS: i64 = 20_000;
/// A resolver claims a payment for this long before it asks the banks (other hubs skip it).
const RESOLVER_CLAIM_MS: i64 = 30_000;
/// Answers already in are saved before the next leg is asked once asking took this long: the
/// next call may take a whole bank call's time, and the save must come within [`GRACE_MS`] (or
/// the resolver's claim) of the last one, so that nobody else starts asking meanwhile.
const ANSWERS_HELD_MAX: std::time::Duration = std::time::Duration::from_secs(2);
/// Payments a resolver pass works on at once.
const RESOLVE_AT_ONCE_MAX: usize = 8;
/// Notifications are kept this long.
pub const NOTIFICATION_RETENTION_MS: i64 = 24 * 3600 * 1000;
/// A long poll for notifications waits at most this long.
const NOTIFICATION_WAIT_MAX_S: u64 = 25;
const NOTIFICATIONS_PAGE_MAX: u32 = 100;
/// Saving a payment that another writer changed meanwhile: reload and retry this many times.
const SAVE_TRIES_MAX: u32 = 5;

/// What the hub stores for a payment.
#[derive(Clone, Serialize, Deserialize)]
struct Stored {
    payment: Payment,
    /// The payer's registration code, sealed by the vault, until the payer's bank answered.
    sealed_code: Option<Vec<u8>>,
    /// The bound terminal's public key, while a verification code may be sent: codes are sealed
    /// to it, so only that phone reads them.
    #[serde(default)]
    terminal_key: Option<[u8; 32]>,
}

fn derived_id(parts: &[&[u8]]) -> Uuid {
    scanpay_proto::derived_uuid(parts)
}

fn leg_ids(id: Uuid) -> (Uuid, Uuid) {
    (
        derived_id(&[id.as_bytes(), b"debit"]),
        derived_id(&[id.as_bytes(), b"credit"]),
    )
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
    crate::idempotency::key_of(headers)
}

fn payment_error(error: PaymentError) -> ApiError {
    let code = ErrorCode::parse(error.code()).unwrap_or(ErrorCode::PaymentStateInvalid);
    let message = match error {
        PaymentError::VerificationFailed => {
            "The verification failed. Check the code and the payment, or ask for a new code."
                .to_string()
        }
        PaymentError::VerificationBlocked => {
            "Too many wrong codes: the payment is blocked. Start a new payment.".to_string()
        }
        other => scanpay_http::sentence(other),
    };
    ApiError::new(code, message)
}

fn text_ok(field: &str, value: &str, required: bool) -> ApiResult<()> {
    if (required && value.is_empty())
        || value.len() > TEXT_LENGTH_MAX
        || value.chars().any(char::is_control)
    {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            format!(
                "`{field}` is {} at most {TEXT_LENGTH_MAX} bytes, without control characters.",
                if required { "1 to" } else { "" }
            ),
        ));
    }
    Ok(())
}

fn amount(number: &serde_json::Number) -> ApiResult<i64> {
    amount_minor(number).map_err(|code| {
        ApiError::new(
            code,
            "`amount_minor` must be a whole positive number of minor units, at most 10^15.",
        )
    })
}

fn currency(text: &str) -> ApiResult<&'static str> {
    scanpay_core::money::Currency::parse(text)
        .map(|c| c.code())
        .map_err(|_| {
            ApiError::new(
                ErrorCode::CurrencyUnknown,
                format!("`{text}` is not a currency we know (ISO 4217)."),
            )
        })
}

/// The row for a payment. `retry_at`: when the resolver should ask the banks again if legs are
/// pending (default: a grace period after the last change, left to the request at work).
fn seal_row(stored: &Stored, version: i64, retry_at: Option<i64>) -> ApiResult<PaymentRow> {
    let p = &stored.payment;
    // The registration code is kept only while the payer's bank may still be asked to debit.
    let keep_code = p.debit.state == LegState::Pending && !p.state.is_final();
    let dropped;
    let stored = if stored.sealed_code.is_some() && !keep_code {
        dropped = Stored {
            payment: p.clone(),
            sealed_code: None,
            terminal_key: stored.terminal_key,
        };
        &dropped
    } else {
        stored
    };
    let next_check_ms = if p.state == Status::RequiresVerification {
        Some(p.created_at_ms + scanpay_core::payment::VERIFICATION_WINDOW_MS)
    } else if p.needs_work() {
        Some(retry_at.unwrap_or(p.updated_at_ms + GRACE_MS))
    } else {
        None
    };
    Ok(PaymentRow {
        id: p.id,
        payer_id: p.payer.caller_id,
        payee_id: p.payee.caller_id,
        state: p.state.code().to_string(),
        version,
        next_check_ms,
        data: serde_json::to_vec(stored).map_err(ApiError::internal)?,
        created_at_ms: p.created_at_ms,
        updated_at_ms: p.updated_at_ms,
        amount_minor: p.amount_minor,
        exempted: p.exempted(),
        held: p.holds_money_in_clearing(),
        // A payment within one bank never has any: its saves leave the books table alone.
        books: p.is_interbank().then(|| p.book_entries()),
    })
}

fn unseal(row: &PaymentRow) -> ApiResult<Stored> {
    serde_json::from_slice(&row.data).map_err(ApiError::internal)
}

async fn load<S: HubStore, B>(hub: &Hub<S, B>, id: Uuid) -> ApiResult<(Stored, i64)> {
    let row = hub
        .store
        .payment(id)
        .await
        .map_err(scanpay_http::store_unavailable)?
        .ok_or_else(|| ApiError::new(ErrorCode::PaymentNotFound, "No payment has that id."))?;
    Ok((unseal(&row)?, row.version))
}

/// Saves a payment read at `version`; `Ok(None)` when another writer changed it first.
async fn save<S: HubStore, B>(
    hub: &Hub<S, B>,
    stored: &Stored,
    version: i64,
) -> ApiResult<Option<i64>> {
    save_step(hub, stored, version, None, Announcements::default()).await
}

/// Saves a payment read at `version` with what its step tells the wallets and the merchant, in
/// one transaction; `Ok(None)` when another writer changed it first (and nothing is told).
/// `retry_at`: when the resolver should ask the banks again (see [`seal_row`]).
async fn save_step<S: HubStore, B>(
    hub: &Hub<S, B>,
    stored: &Stored,
    version: i64,
    retry_at: Option<i64>,
    news: Announcements,
) -> ApiResult<Option<i64>> {
    let row = seal_row(stored, version + 1, retry_at)?;
    let saved = hub
        .store
        .update_payment(row, news)
        .await
        .map_err(scanpay_http::store_unavailable)?;
    Ok(saved.then_some(version + 1))
}

fn party_view(party: &Party) -> PartyView {
    PartyView {
        id: party.caller_id,
        kind: party.kind.clone(),
        name: party.name.clone(),
        bank_id: party.bank_id.clone(),
    }
}

pub fn view(p: &Payment) -> PaymentView {
    let next_action = match (&p.state, &p.verification) {
        (Status::RequiresVerification, Some(v)) => {
            let resend_after =
                (v.sends < scanpay_core::payment::VERIFICATION_SENDS_MAX).then(|| {
                    rfc3339(
                        v.last_sent_at_ms + scanpay_core::payment::VERIFICATION_RESEND_INTERVAL_MS,
                    )
                });
            Some(NextAction {
                action_type: "verification_code".to_string(),
                reason: v.reason.code().to_string(),
                sent_to: "the notification stream of the bound terminal".to_string(),
                code_expires_at: rfc3339(v.code_expires_at_ms),
                tries_left: scanpay_core::payment::VERIFICATION_TRIES_MAX
                    .saturating_sub(v.wrong_tries),
                resend_after,
            })
        }
        _ => None,
    };
    let refunded_minor = p
        .refunds
        .iter()
        .filter(|r| r.state == RefundState::Succeeded)
        .map(|r| r.amount_minor)
        .sum();
    PaymentView {
        id: p.id,
        status: p.state.code().to_string(),
        failure_code: p.failure_code.clone(),
        amount_minor: p.amount_minor,
        currency: p.currency.clone(),
        payer: party_view(&p.payer),
        payee: party_view(&p.payee),
        reference: p.reference.clone(),
        next_action,
        interbank: p.is_interbank(),
        exempted: p.exempted(),
        refunded_minor,
        refundable_minor: p.refundable_minor(),
        refunds: p
            .refunds
            .iter()
            .map(|r| RefundView {
                id: r.id,
                status: r.state.code().to_string(),
                amount_minor: r.amount_minor,
                failure_code: r.failure_code.clone(),
                created_at: rfc3339(r.created_at_ms),
            })
            .collect(),
        created_at: rfc3339(p.created_at_ms),
        updated_at: rfc3339(p.updated_at_ms),
    }
}

/// The answer for a payment after a step: the HTTP status follows the state, and a payment that
/// failed is an error with its code (the payment in `details`).
fn answer(p: &Payment, created: bool) -> ApiResult<Response> {
    let body = view(p);
    match p.state {
        Status::Succeeded => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(body)).into_response())
        }
        Status::RequiresVerification => Ok((StatusCode::ACCEPTED, Json(body)).into_response()),
        Status::Processing if p.debit.state == LegState::Pending => Err(ApiError::new(
            ErrorCode::BankUnavailable,
            "The payer's bank did not answer; the payment is processing and will be settled once \
             it does. Retry the request or check the payment's status.",
        )
        .with_details(serde_json::json!({ "payment": body }))),
        // Debited; the payee's bank is still to be credited (the hub keeps asking).
        Status::Processing => Ok((StatusCode::ACCEPTED, Json(body)).into_response()),
        Status::Failed | Status::Blocked | Status::Expired => {
            let failure = p.failure_code.as_deref().unwrap_or("transfer_rejected");
            let code = failure_error(failure);
            let reversed = p
                .reversal
                .as_ref()
                .is_some_and(|r| r.state == LegState::Done);
            let message = match code {
                _ if reversed => {
                    "The payee's bank refused the credit; the payer's money was given back."
                }
                ErrorCode::InsufficientFunds => "The payer's account cannot cover this payment.",
                ErrorCode::VerificationBlocked => {
                    "The payment is blocked after too many wrong codes."
                }
                ErrorCode::PaymentExpired => "The payment was not verified in time.",
                ErrorCode::TerminalMismatch => {
                    "The payer's bank refused: the code is bound to another terminal."
                }
                ErrorCode::RegistrationCodeUnknown => {
                    "The payer's bank does not know this registration code."
                }
                ErrorCode::AccountClosed if failure == "debit_account_closed" => {
                    "The payer's account at its bank is closed."
                }
                ErrorCode::AccountClosed => "The payee's account at its bank is closed.",
                _ => "The payer's bank refused the payment.",
            };
            Err(ApiError::new(code, message).with_details(serde_json::json!({ "payment": body })))
        }
    }
}

/// The error a failed payment or refund is answered with. Its failure code is the bank's
/// ledger outcome where it gave one: the two closed-account outcomes are answered as
/// `account_closed`, other outcomes that are no error code of their own as `transfer_rejected`.
fn failure_error(failure_code: &str) -> ErrorCode {
    match failure_code {
        "debit_account_closed" | "credit_account_closed" => ErrorCode::AccountClosed,
        code => ErrorCode::parse(code).unwrap_or(ErrorCode::TransferRejected),
    }
}

/// Finds the payee's party: a merchant's payout account, or a wallet's bound account.
async fn payee_party<S: HubStore, B>(hub: &Hub<S, B>, payee_id: Uuid) -> ApiResult<Party> {
    let unknown = || {
        ApiError::new(
            ErrorCode::PayeeUnknown,
            "No merchant or registered wallet has that id.",
        )
    };
    if let Some(known) = hub.merchant_payees.get(&payee_id) {
        return Ok(known);
    }
    if let Some(m) = hub
        .store
        .merchant(payee_id)
        .await
        .map_err(scanpay_http::store_unavailable)?
    {
        let party = Party {
            caller_id: m.caller_id,
            kind: "merchant".to_string(),
            name: m.name,
            bank_id: m.bank_id,
            account_id: m.account_id,
        };
        // A merchant's name and payout account are fixed when it is made (see `remembered`).
        hub.merchant_payees.keep(payee_id, party.clone());
        return Ok(party);
    }
    let caller = hub
        .store
        .caller(payee_id)
        .await
        .map_err(scanpay_http::store_unavailable)?
        .filter(|c| c.kind == CallerKind::Wallet.code())
        .ok_or_else(unknown)?;
    for code in hub
        .store
        .codes_of_caller(payee_id, 10)
        .await
        .map_err(scanpay_http::store_unavailable)?
    {
        if registration_bound(hub, code.registration_id).await? {
            return Ok(Party {
                caller_id: caller.id,
                kind: "wallet".to_string(),
                name: caller.name,
                bank_id: code.bank_id,
                account_id: code.account_id,
            });
        }
    }
    Err(unknown())
}

async fn registration_bound<S: HubStore, B>(hub: &Hub<S, B>, id: Uuid) -> ApiResult<bool> {
    Ok(hub
        .store
        .registration(id)
        .await
        .map_err(scanpay_http::store_unavailable)?
        .is_some_and(|r| r.state == "bound"))
}

/// Wrong passwords of a user-name code, within the window, before it is locked for the rest of it.
const PASSWORD_FAILURES_MAX: i64 = 5;
const PASSWORD_FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;

fn require_wallet(caller: &Caller) -> ApiResult<()> {
    crate::auth::require_wallet(caller, "Only a wallet pays with a registration code.")
}

/// Folds an ID number for comparison: letters and digits, upper case.
fn folded(id_number: &str) -> String {
    id_number
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Pays with a registration code. 201 when paid; 202 when a verification code was sent (see
/// `next_action`) or the payee's bank is still to be credited; an error with the outcome's code
/// otherwise (`insufficient_funds`, `registration_code_unknown`, `terminal_mismatch`, …).
#[utoipa::path(post, path = "/v1/payments", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "the payment's id derives from it")),
    request_body = CreatePayment,
    responses(
        (status = 201, body = PaymentView),
        (status = 202, description = "requires_verification, or processing", body = PaymentView),
        (status = 404, description = "registration_code_unknown", body = scanpay_proto::ErrorBody),
        (status = 429, description = "password_attempts_limited", body = scanpay_proto::ErrorBody),
        (status = 422, description = "insufficient_funds, payee_unknown, …", body = scanpay_proto::ErrorBody),
        (status = 502, description = "bank_unavailable: the payment is processing", body = scanpay_proto::ErrorBody)))]
pub async fn create<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Json(request): Json<CreatePayment>,
) -> ApiResult<Response> {
    require_wallet(&caller)?;
    let key = idempotency_key(&headers)?;
    // Idempotent by construction rather than through the stored-answer layer: the payment's id
    // derives from the key, so a retry's insert meets the payment (below) and answers it as it
    // stands.
    let id = derived_id(&[b"payment", caller.id.as_bytes(), key.as_bytes()]);
    text_ok("registration_code", &request.registration_code, true)?;
    text_ok("terminal_id", &request.terminal_id, true)?;
    if let Some(reference) = &request.reference {
        text_ok("reference", reference, false)?;
    }
    let amount_minor = amount(&request.amount_minor)?;
    let currency = currency(&request.currency)?;
    let unknown_code = || {
        ApiError::new(
            ErrorCode::RegistrationCodeUnknown,
            "No active registration code of this wallet matches.",
        )
    };
    // The code as hub and bank know it: a phone number normalised, a user name as `user:…`.
    let canonical =
        scanpay_core::code::for_payment(&request.registration_code, request.password.is_some())
            .ok_or_else(unknown_code)?;
    let code_hash = hub.vault.lookup("registration_code", &canonical);
    let code = hub
        .store
        .code_by_hash(code_hash)
        .await
        .map_err(scanpay_http::store_unavailable)?
        // Another wallet's code answers as an unknown one: codes cannot be probed.
        .filter(|c| c.caller_id == caller.id)
        .ok_or_else(unknown_code)?;
    let registration = crate::registration::payer_registration(&hub, code.registration_id).await?;
    if !registration.bound {
        return Err(unknown_code());
    }
    // A user-name code pays with its password; a wrong one answers as an unknown code, and five
    // within the window lock the code for the rest of it. Each attempt is counted in the store
    // *before* the password is checked (so a burst of guesses cannot all slip past the count
    // while argon2 works through them), and a right password clears the count.
    if scanpay_core::code::needs_password(&canonical) {
        let password = request.password.as_deref().ok_or_else(unknown_code)?;
        let attempts_key = hub
            .vault
            .lookup("password_failures", &code.registration_id.to_string());
        let attempts = hub
            .store
            .record_failure(attempts_key.clone(), now_ms(), PASSWORD_FAILURE_WINDOW_MS)
            .await
            .map_err(scanpay_http::store_unavailable)?;
        if attempts > PASSWORD_FAILURES_MAX {
            return Err(ApiError::new(
                ErrorCode::PasswordAttemptsLimited,
                "Too many wrong passwords for this user name; try again in 15 minutes.",
            ));
        }
        if !registration.password_matches(password).await? {
            return Err(unknown_code());
        }
        hub.store
            .clear_failures(attempts_key)
            .await
            .map_err(scanpay_http::store_unavailable)?;
    }
    if let Some(id_number) = &request.id_number {
        let identity = crate::registration::identity_of(&hub, code.registration_id).await?;
        if folded(id_number) != folded(&identity.document_number) {
            return Err(ApiError::new(
                ErrorCode::IdentityCheckFailed,
                "The ID number does not match the identity registered with this code.",
            ));
        }
    }
    if request.payee_id == caller.id {
        return Err(ApiError::new(
            ErrorCode::PayeeIsPayer,
            "A wallet cannot pay itself.",
        ));
    }
    let payee = payee_party(&hub, request.payee_id).await?;
    let payer = Party {
        caller_id: caller.id,
        kind: "wallet".to_string(),
        name: caller.name.clone(),
        bank_id: code.bank_id.clone(),
        account_id: code.account_id,
    };
    // The bound terminal is the one that names itself and, when it gave a key at registration,
    // proves it holds that key; a terminal id alone is no secret (the wallet's views show it).
    let proven = match (&registration.terminal_key, &request.terminal_proof) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(terminal), Some(proof)) => {
            use base64::Engine;
            let message = scanpay_proto::seal::proof_message(
                &key,
                &request.terminal_id,
                request.payee_id,
                amount_minor,
                currency,
            );
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(proof)
                .is_ok_and(|proof| hub.sealing.proof_holds(terminal, &message, &proof))
        }
    };
    let same_terminal = request.terminal_id == code.terminal_id && proven;
    if !same_terminal && !hub.payment_policy.step_up_other_terminal {
        return Err(ApiError::new(
            ErrorCode::TerminalMismatch,
            "This registration code is bound to another terminal.",
        ));
    }
    let earlier: Vec<Earlier> = hub
        .store
        .payment_summaries(caller.id, HISTORY_MAX)
        .await
        .map_err(scanpay_http::store_unavailable)?
        .into_iter()
        .filter_map(|s| {
            Some(Earlier {
                payee: s.payee_id,
                amount_minor: s.amount_minor,
                state: Status::parse(&s.state)?,
                exempted: s.exempted,
            })
        })
        .collect();
    let reason = code_needed(
        &hub.payment_policy,
        same_terminal,
        payee.caller_id,
        amount_minor,
        &earlier,
    );
    let now = now_ms();
    let payment = Payment::new(
        id,
        payer,
        payee,
        amount_minor,
        currency,
        &request.terminal_id,
        request.reference.clone(),
        reason,
        leg_ids(id),
        now,
    );
    // A code will be sent: to the bound terminal's key, if it gave one.
    let terminal_key = reason.and(registration.terminal_key);
    let stored = Stored {
        terminal_key,
        sealed_code: Some(hub.vault.encrypt(canonical.as_bytes(), id.as_bytes())),
        payment,
    };
    match hub.store.insert_payment(seal_row(&stored, 1, None)?).await {
        Ok(()) => {}
        // A retry: the same payment, as it stands (it may have moved on).
        Err(StoreError::Duplicate(_)) => {
            let (stored, version) = load(&hub, id).await?;
            same_request(&stored.payment, &request)?;
            return continue_payment(&hub, stored, version).await;
        }
        Err(error) => return Err(scanpay_http::store_unavailable(error)),
    }
    continue_payment(&hub, stored, 1).await
}

/// A payment found by the id its `Idempotency-Key` derives to must be the one asked for (the hub
/// forgets keys after 24 hours; a key reused later for another payment is refused).
fn same_request(p: &Payment, request: &CreatePayment) -> ApiResult<()> {
    let same = amount_minor(&request.amount_minor).ok() == Some(p.amount_minor)
        && request.currency.trim().eq_ignore_ascii_case(&p.currency)
        && request.payee_id == p.payee.caller_id
        && request.terminal_id == p.terminal_id;
    if same {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "This Idempotency-Key made another payment; use a new key.",
        ))
    }
}

/// Takes a payment as far as it goes now: sends the first code, or asks the banks.
async fn continue_payment<S: HubStore, B: BankConnector>(
    hub: &Hub<S, B>,
    mut stored: Stored,
    mut version: i64,
) -> ApiResult<Response> {
    if stored.payment.expire(now_ms())
        && let Some(saved) = save(hub, &stored, version).await?
    {
        version = saved;
    }
    if stored.payment.state == Status::RequiresVerification
        && stored
            .payment
            .verification
            .as_ref()
            .is_some_and(|v| v.sends == 0)
    {
        let id = stored.payment.id;
        match send_code(hub, stored, version).await {
            Ok(sent) => (stored, version) = sent,
            // A concurrent retry of the same request sent it first.
            Err(error) if error.code == ErrorCode::VerificationResendLimited => {
                (stored, version) = load(hub, id).await?;
            }
            Err(error) => return Err(error),
        }
    }
    let stored = drive(hub, stored, version).await?;
    answer(&stored.payment, true)
}

fn code_mac<S, B>(
    hub: &Hub<S, B>,
    p: &Payment,
    amount: i64,
    currency: &str,
    payee: Uuid,
    code: &str,
) -> String {
    hex::encode(hub.vault.lookup(
        "payment_code",
        &format!("{}|{amount}|{currency}|{payee}|{code}", p.id),
    ))
}

/// Draws a code, records its MAC on the payment and sends it to the payer's terminal.
async fn send_code<S: HubStore, B>(
    hub: &Hub<S, B>,
    mut stored: Stored,
    mut version: i64,
) -> ApiResult<(Stored, i64)> {
    let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000u32));
    for _ in 0..SAVE_TRIES_MAX {
        let p = &stored.payment;
        let mac = code_mac(
            hub,
            p,
            p.amount_minor,
            &p.currency,
            p.payee.caller_id,
            &code,
        );
        stored
            .payment
            .code_sent(mac, &hub.payment_policy, now_ms())
            .map_err(payment_error)?;
        let p = &stored.payment;
        let what = format!(
            "{} to {}",
            scanpay_core::money::display(p.amount_minor, &p.currency),
            p.payee.name
        );
        let text = format!("Your code to pay {what}: {code}");
        // Sealed to the bound terminal when it gave a key: the stream is the wallet's, and any
        // device holding the wallet's token reads it.
        let note = match stored.terminal_key {
            Some(key) => {
                use base64::Engine;
                let mut random = [0u8; 44];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
                let aad = scanpay_proto::seal::verification_code_aad(p.id);
                let sealed = scanpay_proto::seal::seal(&key, &aad, code.as_bytes(), random);
                Note {
                    kind: "verification_code",
                    message: format!(
                        "A code to pay {what} was sent, sealed to the phone the card is bound to."
                    ),
                    payment: Some(p),
                    verification_code: None,
                    sealed_verification_code: Some(
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed),
                    ),
                }
            }
            None => Note {
                kind: "verification_code",
                message: text.clone(),
                payment: Some(p),
                verification_code: Some(code.clone()),
                sealed_verification_code: None,
            },
        };
        // The code is in the wallet's stream when the answer says it was sent.
        let news = Announcements {
            notifications: vec![note_row(hub, p.payer.caller_id, note)],
            deliveries: Vec::new(),
        };
        if let Some(saved) = save_step(hub, &stored, version, None, news).await? {
            let p = &stored.payment;
            if let Some(sender) = &hub.code_sender {
                let message = crate::senders::CodeMessage {
                    wallet_id: p.payer.caller_id,
                    payment_id: p.id,
                    text: &text,
                };
                if let Err(error) = sender.send(message).await {
                    // The in-app stream still has the code; the failure is the channel's.
                    tracing::warn!(payment = %p.id, %error, "a code was not sent on the extra channel");
                }
            }
            return Ok((stored, saved));
        }
        (stored, version) = load(hub, stored.payment.id).await?;
    }
    Err(changed())
}

fn changed() -> ApiError {
    ApiError::new(
        ErrorCode::PaymentChanged,
        "The payment changed while this step ran; fetch it and retry.",
    )
}

/// Loads a payment the caller may act on as payer.
async fn load_as_payer<S: HubStore, B>(
    hub: &Hub<S, B>,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<(Stored, i64)> {
    let (stored, version) = load(hub, id).await?;
    if stored.payment.payer.caller_id != caller.id {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "This payment belongs to someone else.",
        ));
    }
    Ok((stored, version))
}

/// The payment sent again with its verification code. A wrong code, an expired or used one, or
/// another amount, currency or payee than the code was sent for all get `verification_failed`;
/// the fifth blocks the payment (`verification_blocked`).
#[utoipa::path(post, path = "/v1/payments/{id}/verify", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = String, Header, description = "makes the request safe to retry")),
    request_body = VerifyPayment,
    responses(
        (status = 200, body = PaymentView),
        (status = 422, description = "verification_failed, verification_blocked, insufficient_funds, …", body = scanpay_proto::ErrorBody)))]
pub async fn verify<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<Uuid>,
    Json(request): Json<VerifyPayment>,
) -> ApiResult<Response> {
    require_wallet(&caller)?;
    let (mut stored, mut version) = load_as_payer(&hub, &caller, id).await?;
    let amount = amount(&request.amount_minor)?;
    let code = request.verification_code.trim();
    let restated = {
        let p = &stored.payment;
        amount == p.amount_minor
            && request.currency.trim() == p.currency
            && request.payee_id == p.payee.caller_id
    };
    // A retry of a verify that went through (its answer was lost, or the bank did not answer):
    // the payment as it stands, not a second check of a code that is used by now.
    if restated
        && matches!(
            stored.payment.state,
            Status::Processing | Status::Succeeded | Status::Failed
        )
    {
        let stored = drive(&hub, stored, version).await?;
        return answer(&stored.payment, false);
    }
    // The wallet's authenticator code, for the payment exactly as it stands: checked once (a
    // used time step is recorded at once, so it is not checked again on a retried save). Never
    // for a step-up, which only the code sent to the bound terminal answers
    // (`Payment::check_code`): not checked, so the time step is not spent.
    let step_up = stored
        .payment
        .verification
        .as_ref()
        .is_some_and(|v| v.reason == Reason::StepUp);
    let sent_code_matches = |p: &Payment| {
        let presented = code_mac(
            &hub,
            p,
            amount,
            request.currency.trim(),
            request.payee_id,
            code,
        );
        p.verification
            .as_ref()
            .is_some_and(|v| constant_time_eq(v.code_mac.as_bytes(), presented.as_bytes()))
    };
    // The code that was sent is not an authenticator guess (which would count against them).
    let totp = if stored.payment.state == Status::RequiresVerification
        && restated
        && !step_up
        && !sent_code_matches(&stored.payment)
    {
        check_totp(&hub, caller.id, code, now_ms()).await?
    } else {
        Totp::Rejected
    };
    let authenticator = totp == Totp::Accepted;
    for _ in 0..SAVE_TRIES_MAX {
        let now = now_ms();
        let expired = stored.payment.expire(now);
        let waiting = stored.payment.state == Status::RequiresVerification;
        let sent_code = sent_code_matches(&stored.payment);
        let check = if sent_code {
            CodeCheck::SentCode { mac_matches: true }
        } else if authenticator {
            CodeCheck::Authenticator
        } else {
            CodeCheck::Wrong
        };
        let outcome = stored.payment.check_code(check, now);
        if waiting || expired {
            match save(&hub, &stored, version).await? {
                Some(saved) => version = saved,
                None => {
                    (stored, version) = load(&hub, id).await?;
                    continue;
                }
            }
        }
        return match outcome {
            Ok(()) => {
                let stored = drive(&hub, stored, version).await?;
                answer(&stored.payment, false)
            }
            Err(error) => {
                let tries_left = stored.payment.verification.as_ref().map(|v| {
                    scanpay_core::payment::VERIFICATION_TRIES_MAX.saturating_sub(v.wrong_tries)
                });
                // Over the authenticator's limit the code was not checked, yet it spent one of
                // the payment's tries as any wrong code does (else the sent code could be
                // guessed without end); the answer says why it was not taken.
                let error = match (totp, error) {
                    (Totp::Limited, PaymentError::VerificationFailed) => totp_limited(),
                    (_, error) => payment_error(error),
                };
                Err(error.with_details(serde_json::json!({
                    "status": stored.payment.state.code(),
                    "tries_left": tries_left,
                })))
            }
        };
    }
    Err(changed())
}

/// TOTP steps either side of now that a code may come from (clock drift).
const TOTP_DRIFT_STEPS: i64 = 1;
const TOTP_STEP_S: i64 = 30;
const TOTP_DIGITS: u32 = 6;
/// Authenticator codes checked against one wallet's seed within the window, at most (right ones
/// clear the count).
const TOTP_FAILURES_MAX: i64 = 5;
const TOTP_FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;

const TOTP_SEED_LENGTH: usize = 20;

/// A wallet's TOTP seed, sealed for its purpose (`Purpose::TotpSeed`): not under the wallet's
/// id alone, which its notifications are sealed under too, so that one of those (a fixed, known
/// text) copied into the seed's row by someone who can write the database but has no key does
/// not open as a seed they know. Seeds sealed before the binding named its purpose (under the
/// wallet's id alone) still open, if they are a seed's length — which no notification is.
fn open_totp_seed(
    vault: &scanpay_store::vault::Vault,
    sealed: &[u8],
    caller_id: Uuid,
) -> Result<Vec<u8>, scanpay_store::vault::DecryptError> {
    vault
        .open(Purpose::TotpSeed, caller_id, sealed)
        .or_else(|_| {
            vault
                .decrypt(sealed, caller_id.as_bytes())
                .and_then(|seed| {
                    (seed.len() == TOTP_SEED_LENGTH)
                        .then_some(seed)
                        .ok_or(scanpay_store::vault::DecryptError)
                })
        })
}

/// What the wallet's authenticator said of a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Totp {
    /// Its code now (±1 step), not used before; the step is now used.
    Accepted,
    /// Not its code (or no authenticator, or a code used before).
    Rejected,
    /// Not checked: too many wrong codes lately.
    Limited,
}

fn totp_limited() -> ApiError {
    ApiError::new(
        ErrorCode::AuthenticatorAttemptsLimited,
        "Too many wrong authenticator codes for this wallet; try again in 15 minutes, or use the \
         code that was sent.",
    )
}

/// Checks `code` against the wallet's authenticator. A used step is recorded so the same code
/// cannot be replayed.
///
/// Every code checked against a seed is counted first (as passwords are): past
/// [`TOTP_FAILURES_MAX`] within the window none is checked ([`Totp::Limited`]), so that a
/// million codes cannot be tried, one payment or one re-enrolment at a time, by whoever holds
/// the wallet's token. A right code clears the count; a right one used before is taken back
/// from it.
async fn check_totp<S: HubStore, B>(
    hub: &Hub<S, B>,
    caller_id: Uuid,
    code: &str,
    now_ms: i64,
) -> ApiResult<Totp> {
    let Some((sealed, last_step)) = hub
        .store
        .totp_seed(caller_id)
        .await
        .map_err(scanpay_http::store_unavailable)?
    else {
        return Ok(Totp::Rejected);
    };
    let attempts_key = hub.vault.lookup("totp_failures", &caller_id.to_string());
    let attempts = hub
        .store
        .record_failure(attempts_key.clone(), now_ms, TOTP_FAILURE_WINDOW_MS)
        .await
        .map_err(scanpay_http::store_unavailable)?;
    if attempts > TOTP_FAILURES_MAX {
        return Ok(Totp::Limited);
    }
    if code.len() != TOTP_DIGITS as usize {
        return Ok(Totp::Rejected);
    }
    let seed = open_totp_seed(&hub.vault, &sealed, caller_id).map_err(ApiError::internal)?;
    let now_step = now_ms / 1000 / TOTP_STEP_S;
    for step in (now_step - TOTP_DRIFT_STEPS)..=(now_step + TOTP_DRIFT_STEPS) {
        let expected = scanpay_proto::otp::hotp(
            scanpay_proto::otp::Algorithm::Sha1,
            &seed,
            step as u64,
            TOTP_DIGITS,
        );
        if !constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            continue;
        }
        let fresh = step > last_step
            && hub
                .store
                .use_totp_step(caller_id, step)
                .await
                .map_err(scanpay_http::store_unavailable)?;
        if fresh {
            hub.store
                .clear_failures(attempts_key)
                .await
                .map_err(scanpay_http::store_unavailable)?;
        } else {
            // The right code, used before (two payments in one step): refused, but no guess.
            hub.store
                .forgive_failure(attempts_key)
                .await
                .map_err(scanpay_http::store_unavailable)?;
        }
        return Ok(if fresh {
            Totp::Accepted
        } else {
            Totp::Rejected
        });
    }
    Ok(Totp::Rejected)
}

/// Gives the wallet a new TOTP seed for its authenticator. Shown once. A wallet that has one
/// replaces it only with a current code of it (`verification_failed` otherwise): whoever holds
/// the token alone must not be able to make the codes.
#[utoipa::path(post, path = "/v1/totp", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "makes the request safe to retry")),
    request_body = scanpay_proto::hub::EnrollTotp,
    responses((status = 201, body = scanpay_proto::hub::TotpEnrollment),
        (status = 422, description = "verification_failed", body = scanpay_proto::ErrorBody),
        (status = 429, description = "authenticator_attempts_limited", body = scanpay_proto::ErrorBody)))]
pub async fn enroll_totp<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Json(request): Json<scanpay_proto::hub::EnrollTotp>,
) -> ApiResult<Response> {
    require_wallet(&caller)?;
    let has_seed = hub
        .store
        .totp_seed(caller.id)
        .await
        .map_err(scanpay_http::store_unavailable)?
        .is_some();
    if has_seed {
        let code = request.current_code.as_deref().unwrap_or_default();
        match check_totp(&hub, caller.id, code, now_ms()).await? {
            Totp::Accepted => {}
            Totp::Limited => return Err(totp_limited()),
            Totp::Rejected => {
                return Err(ApiError::new(
                    ErrorCode::VerificationFailed,
                    "This wallet has an authenticator: give a current code of it in \
                     `current_code` to replace it.",
                ));
            }
        }
    }
    let mut seed = [0u8; TOTP_SEED_LENGTH];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut seed);
    hub.store
        .set_totp_seed(
            caller.id,
            hub.vault.seal(Purpose::TotpSeed, caller.id, &seed),
            now_ms(),
        )
        .await
        .map_err(scanpay_http::store_unavailable)?;
    let secret = scanpay_proto::otp::base32(&seed);
    let label: String = caller
        .name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let enrollment = scanpay_proto::hub::TotpEnrollment {
        otpauth_uri: format!(
            "otpauth://totp/scanpay:{label}?secret={secret}&issuer=scanpay&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_S}"
        ),
        secret,
        algorithm: "SHA1".to_string(),
        digits: TOTP_DIGITS,
        period: TOTP_STEP_S as u32,
    };
    Ok((StatusCode::CREATED, Json(enrollment)).into_response())
}

/// Forgets a wallet's authenticator, for a user who lost it: replacing it would need a code of
/// it. Operators only; the support desk checks who is asking before it resets.
#[utoipa::path(post, path = "/v1/callers/{id}/totp/reset", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = String, Header, description = "makes the request safe to retry")),
    responses((status = 200, body = scanpay_proto::hub::TotpReset),
        (status = 403, body = scanpay_proto::ErrorBody), (status = 404, body = scanpay_proto::ErrorBody)))]
pub async fn reset_totp<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Path(wallet_id): Path<Uuid>,
) -> ApiResult<Json<scanpay_proto::hub::TotpReset>> {
    crate::auth::require_operator(&caller)?;
    let wallet = hub
        .store
        .caller(wallet_id)
        .await
        .map_err(scanpay_http::store_unavailable)?
        .filter(|c| c.kind == CallerKind::Wallet.code())
        .ok_or_else(|| ApiError::new(ErrorCode::WalletNotFound, "No wallet has that id."))?;
    // The wallet hears of it: a reset it did not ask for is a reason to call support.
    let note = Note::account(
        "authenticator_reset",
        "Support reset your authenticator: codes for your payments are sent to this app again. \
         Enroll a new authenticator to use one."
            .to_string(),
    );
    let had_authenticator = hub
        .store
        .delete_totp_seed(wallet.id, note_row(&hub, wallet.id, note))
        .await
        .map_err(scanpay_http::store_unavailable)?;
    tracing::info!(wallet_id = %wallet.id, operator_id = %caller.id, had_authenticator,
        "authenticator reset");
    Ok(Json(scanpay_proto::hub::TotpReset { had_authenticator }))
}

/// Equal, in time that does not depend on where two MACs or codes differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

/// Sends a new verification code (the old one stops working). At most three codes a payment,
/// 30 seconds apart (`verification_resend_limited`).
#[utoipa::path(post, path = "/v1/payments/{id}/resend", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = String, Header, description = "makes the request safe to retry")),
    responses((status = 202, body = PaymentView), (status = 429, body = scanpay_proto::ErrorBody)))]
pub async fn resend<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    require_wallet(&caller)?;
    let (mut stored, version) = load_as_payer(&hub, &caller, id).await?;
    if stored.payment.expire(now_ms()) {
        save(&hub, &stored, version).await?;
        return answer(&stored.payment, false);
    }
    let (stored, _) = send_code(&hub, stored, version).await?;
    answer(&stored.payment, false)
}

/// Asks the banks for every leg still pending, one after another, and saves their answers with
/// what they tell in one write once no leg is left to ask or a bank did not answer. Returns the
/// payment as it stands (legs a bank did not answer stay pending).
///
/// Answers are not saved between questions: every leg's transfer id is fixed when the payment is
/// made, so a hub that stops before the save asks again (the resolver) and a bank answers a
/// transfer it decided with its first outcome. An interbank payment is thus one write after its
/// two legs, not two — unless asking took [`ANSWERS_HELD_MAX`], when what is known is saved
/// before the next question.
async fn drive<S: HubStore, B: BankConnector>(
    hub: &Hub<S, B>,
    mut stored: Stored,
    mut version: i64,
) -> ApiResult<Stored> {
    let mut conflicts = 0;
    loop {
        let mut news = Announcements::default();
        let (mut answered, mut more) = (false, false);
        let asking = std::time::Instant::now();
        while let Some(work) = stored.payment.pending_work().first().copied() {
            if answered && asking.elapsed() >= ANSWERS_HELD_MAX {
                more = true;
                break;
            }
            let Some(result) = ask_bank(hub, &stored, work).await else {
                // The bank did not answer: the leg stays pending for the resolver.
                break;
            };
            let now = now_ms();
            let before = stored.payment.state;
            let p = &mut stored.payment;
            match work {
                Work::Debit => p.debit_answered(result, now),
                Work::Credit => {
                    p.credit_answered(result, derived_id(&[p.id.as_bytes(), b"reversal"]), now)
                }
                Work::Reversal => p.reversal_answered(result, now),
                Work::RefundDebit(id) => p.refund_debit_answered(id, result, now),
                Work::RefundCredit(id) => {
                    let reversal_id = derived_id(&[id.as_bytes(), b"refund reversal"]);
                    p.refund_credit_answered(id, result, reversal_id, now)
                }
                Work::RefundReversal(id) => p.refund_reversal_answered(id, result, now),
            }
            if p.debit.state != LegState::Pending {
                stored.sealed_code = None;
            }
            let told = announcements(hub, &stored.payment, before, work);
            news.notifications.extend(told.notifications);
            news.deliveries.extend(told.deliveries);
            answered = true;
        }
        if !answered {
            return Ok(stored);
        }
        match save_step(hub, &stored, version, None, news).await? {
            Some(saved) if more => version = saved,
            Some(_) => return Ok(stored),
            None => {
                // Another hub (or the resolver) moved it: take its version and go on from there
                // (what this one was told is asked again; the banks answer the same).
                conflicts += 1;
                if conflicts > SAVE_TRIES_MAX {
                    return Err(changed());
                }
                (stored, version) = load(hub, stored.payment.id).await?;
            }
        }
    }
}

/// Asks one bank for one leg: `Some(Ok)` done, `Some(Err(code))` refused, `None` no answer.
async fn ask_bank<S: HubStore, B: BankConnector>(
    hub: &Hub<S, B>,
    stored: &Stored,
    work: Work,
) -> Option<Result<(), String>> {
    let p = &stored.payment;
    let bank_of = |bank_id: &str| hub.banks.iter().find(|(link, _)| link.id == bank_id);
    let amount_number = serde_json::Number::from(p.amount_minor);
    let reference = Some(format!("scanpay payment {}", p.id));
    let result: Result<TransferResult, ConnectorError> = match work {
        Work::Debit => {
            let (_, bank) = bank_of(&p.payer.bank_id)?;
            let code = stored
                .sealed_code
                .as_ref()
                .and_then(|sealed| hub.vault.decrypt(sealed, p.id.as_bytes()).ok())
                .and_then(|plain| String::from_utf8(plain).ok());
            let Some(code) = code else {
                // Not a decision: an earlier request may have reached the bank (its answer lost),
                // so the leg stays pending for an operator rather than failing a debited payment.
                tracing::error!(payment = %p.id, "the payer's code is gone before the debit");
                return None;
            };
            let step_up = p
                .verification
                .as_ref()
                .is_some_and(|v| v.reason == Reason::StepUp);
            bank.pay(&PaymentDebitRequest {
                transfer_id: p.debit.transfer_id,
                registration_code: code,
                terminal_id: p.terminal_id.clone(),
                terminal_verified: step_up,
                amount_minor: amount_number,
                currency: p.currency.clone(),
                credit_account_id: (!p.is_interbank()).then_some(p.payee.account_id),
                reference,
            })
            .await
        }
        Work::Credit => {
            let leg = p.credit.as_ref()?;
            let (_, bank) = bank_of(&p.payee.bank_id)?;
            let credit = from_clearing(leg, &p.payee, p.amount_minor, &p.currency, reference);
            bank.clearing_transfer(&credit).await
        }
        Work::Reversal => {
            let leg = p.reversal.as_ref()?;
            let (_, bank) = bank_of(&p.payer.bank_id)?;
            let reference = Some(format!("scanpay reversal of payment {}", p.id));
            let credit = from_clearing(leg, &p.payer, p.amount_minor, &p.currency, reference);
            bank.clearing_transfer(&credit).await
        }
        Work::RefundDebit(id) => {
            let refund = p.refunds.iter().find(|r| r.id == id)?;
            let (_, bank) = bank_of(&p.payee.bank_id)?;
            let amount_minor = serde_json::Number::from(refund.amount_minor);
            let reference = Some(format!("scanpay refund {} of {}", refund.id, p.id));
            if p.is_interbank() {
                bank.clearing_transfer(&ClearingTransferRequest {
                    id: refund.debit.transfer_id,
                    direction: "out".to_string(),
                    account_id: p.payee.account_id,
                    amount_minor,
                    currency: p.currency.clone(),
                    reference,
                })
                .await
            } else {
                bank.transfer(&TransferRequest {
                    id: refund.debit.transfer_id,
                    kind: None,
                    debit_account_id: Some(p.payee.account_id),
                    credit_account_id: Some(p.payer.account_id),
                    amount_minor: Some(amount_minor),
                    currency: p.currency.clone(),
                    pending_id: None,
                    timeout_seconds: None,
                    reference,
                })
                .await
            }
        }
        Work::RefundCredit(id) => {
            let refund = p.refunds.iter().find(|r| r.id == id)?;
            let leg = refund.credit.as_ref()?;
            let (_, bank) = bank_of(&p.payer.bank_id)?;
            let reference = Some(format!("scanpay refund {} of {}", refund.id, p.id));
            let credit = from_clearing(leg, &p.payer, refund.amount_minor, &p.currency, reference);
            bank.clearing_transfer(&credit).await
        }
        Work::RefundReversal(id) => {
            let refund = p.refunds.iter().find(|r| r.id == id)?;
            let leg = refund.reversal.as_ref()?;
            let (_, bank) = bank_of(&p.payee.bank_id)?;
            let reference = Some(format!(
                "scanpay reversal of refund {} of {}",
                refund.id, p.id
            ));
            let credit = from_clearing(leg, &p.payee, refund.amount_minor, &p.currency, reference);
            bank.clearing_transfer(&credit).await
        }
    };
    match result {
        Ok(r) if r.outcome == "created" => Some(Ok(())),
        Ok(r) => Some(Err(r.outcome)),
        Err(ConnectorError::Refused(body)) if !crate::connector::is_decision(&body) => {
            // Not the bank deciding on the payment (our credentials, a route, a server that is
            // not the bank): keep the leg pending and ask again; an operator must look.
            tracing::error!(payment = %p.id, ?work, code = %body.code, message = %body.message,
                "the bank refused the hub's request itself; will ask again");
            None
        }
        Err(ConnectorError::Refused(body)) => {
            let code = crate::connector::ledger_outcome(&body).unwrap_or(body.code);
            Some(Err(code))
        }
        Err(ConnectorError::Unavailable(detail)) => {
            tracing::warn!(payment = %p.id, ?work, %detail, "bank unavailable; will ask again");
            None
        }
    }
}

/// A leg crediting `party` from its bank's clearing account: a payment's or refund's credit
/// between banks, or the reversal that gives money back after one was refused.
fn from_clearing(
    leg: &Leg,
    party: &Party,
    amount_minor: i64,
    currency: &str,
    reference: Option<String>,
) -> ClearingTransferRequest {
    ClearingTransferRequest {
        id: leg.transfer_id,
        direction: "in".to_string(),
        account_id: party.account_id,
        amount_minor: serde_json::Number::from(amount_minor),
        currency: currency.to_string(),
        reference,
    }
}

/// What a step tells payer and payee (saved with the step).
fn announcements<S, B>(hub: &Hub<S, B>, p: &Payment, before: Status, work: Work) -> Announcements {
    let money = |amount: i64| scanpay_core::money::display(amount, &p.currency);
    let mut news = Announcements::default();
    let mut tell = |caller_id: Uuid, note: Note<'_>| {
        news.notifications.push(note_row(hub, caller_id, note));
    };
    let mut event = None;
    if before != p.state {
        match p.state {
            Status::Succeeded => {
                if p.payee.kind == "merchant" {
                    let data = serde_json::json!({ "payment": view(p) });
                    event = Some(("payment.succeeded", data));
                }
                let paid = format!("You paid {} to {}.", money(p.amount_minor), p.payee.name);
                tell(p.payer.caller_id, Note::about(p, "payment_succeeded", paid));
                let got = format!("{} paid you {}.", p.payer.name, money(p.amount_minor));
                tell(p.payee.caller_id, Note::about(p, "payment_received", got));
            }
            Status::Failed => {
                let text = format!(
                    "Your payment of {} to {} failed: {}.",
                    money(p.amount_minor),
                    p.payee.name,
                    p.failure_code.as_deref().unwrap_or("refused")
                );
                tell(p.payer.caller_id, Note::about(p, "payment_failed", text));
            }
            _ => {}
        }
    }
    if let Work::RefundDebit(id) | Work::RefundCredit(id) | Work::RefundReversal(id) = work
        && let Some(r) = p.refunds.iter().find(|r| r.id == id)
    {
        // The payer and the payee are told in their own words.
        let amount = money(r.amount_minor);
        let (kind, to_payer, to_payee) = match r.state {
            RefundState::Succeeded => (
                "refund_succeeded",
                format!("{} refunded you {amount}.", p.payee.name),
                format!("You refunded {amount} to {}.", p.payer.name),
            ),
            RefundState::Failed => {
                let why = r.failure_code.as_deref().unwrap_or("refused");
                let text = format!("A refund of {amount} failed: {why}.");
                ("refund_failed", text.clone(), text)
            }
            RefundState::Processing => return news,
        };
        if p.payee.kind == "merchant" {
            let name = if r.state == RefundState::Succeeded {
                "refund.succeeded"
            } else {
                "refund.failed"
            };
            let data = serde_json::json!({ "refund_id": r.id, "payment": view(p) });
            event = Some((name, data));
        }
        tell(p.payer.caller_id, Note::about(p, kind, to_payer));
        tell(p.payee.caller_id, Note::about(p, kind, to_payee));
    }
    if let Some((name, data)) = event {
        news.deliveries
            .push(crate::webhooks::event(p.payee.caller_id, name, data));
    }
    news
}

/// A message for one caller.
pub(crate) struct Note<'a> {
    kind: &'static str,
    message: String,
    payment: Option<&'a Payment>,
    verification_code: Option<String>,
    sealed_verification_code: Option<String>,
}

impl<'a> Note<'a> {
    fn about(payment: &'a Payment, kind: &'static str, message: String) -> Note<'a> {
        Note {
            kind,
            message,
            payment: Some(payment),
            verification_code: None,
            sealed_verification_code: None,
        }
    }

    /// A message about the caller's account, not about a payment (a code revoked, an
    /// authenticator reset).
    pub(crate) fn account(kind: &'static str, message: String) -> Note<'static> {
        Note {
            kind,
            message,
            payment: None,
            verification_code: None,
            sealed_verification_code: None,
        }
    }
}

/// What the hub keeps of a notification (encrypted: it may hold a verification code).
#[derive(Serialize, Deserialize)]
struct StoredNote {
    kind: String,
    message: String,
    payment_id: Option<Uuid>,
    amount_minor: Option<i64>,
    currency: Option<String>,
    verification_code: Option<String>,
    #[serde(default)]
    sealed_verification_code: Option<String>,
}

/// A message for a caller's notification stream, encrypted (it may hold a verification code).
pub(crate) fn note_row<S, B>(hub: &Hub<S, B>, caller_id: Uuid, note: Note<'_>) -> NotificationRow {
    let stored = StoredNote {
        kind: note.kind.to_string(),
        message: note.message,
        payment_id: note.payment.map(|p| p.id),
        amount_minor: note.payment.map(|p| p.amount_minor),
        currency: note.payment.map(|p| p.currency.clone()),
        verification_code: note.verification_code,
        sealed_verification_code: note.sealed_verification_code,
    };
    let json = serde_json::to_vec(&stored).expect("a note serialises");
    NotificationRow {
        seq: 0,
        caller_id,
        data: hub.vault.encrypt(&json, caller_id.as_bytes()),
        created_at_ms: now_ms(),
    }
}

/// Works on payments whose banks still owe an answer, and expires unverified ones, forever (the
/// hub aborts it on shutdown). Several hubs may run it at once: bank calls are idempotent and
/// saves are optimistic.
pub async fn resolve_forever<S: HubStore, B: BankConnector>(hub: Hub<S, B>) {
    let mut interval = tokio::time::interval(RESOLVE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut purged_at = 0;
    loop {
        interval.tick().await;
        if let Err(error) = resolve_once(&hub).await {
            tracing::warn!(code = error.code.code(), message = %error.message, "resolving payments failed");
        }
        let now = now_ms();
        if now - purged_at > 600_000 {
            purged_at = now;
            if let Err(error) = hub
                .store
                .purge_notifications(now - NOTIFICATION_RETENTION_MS)
                .await
            {
                tracing::warn!(%error, "purging notifications failed");
            }
        }
    }
}

/// One pass of the resolver; returns how many payments it looked at.
pub async fn resolve_once<S: HubStore, B: BankConnector>(hub: &Hub<S, B>) -> ApiResult<usize> {
    let now = now_ms();
    let due = hub
        .store
        .payments_due(now, RESOLVE_BATCH_MAX)
        .await
        .map_err(scanpay_http::store_unavailable)?;
    let count = due.len();
    use futures_util::StreamExt;
    futures_util::stream::iter(due)
        .for_each_concurrent(RESOLVE_AT_ONCE_MAX, |row| async move {
            let id = row.id;
            if let Err(error) = resolve_row(hub, row).await {
                // One payment's trouble must not stop the others: log it and look again later.
                tracing::warn!(payment = %id, code = error.code.code(), message = %error.message,
                    "resolving a payment failed; will look again");
            }
        })
        .await;
    Ok(count)
}

/// Claims one due payment (its next check moves forward, so other hubs leave it), then expires
/// it or asks its banks again.
async fn resolve_row<S: HubStore, B: BankConnector>(
    hub: &Hub<S, B>,
    row: PaymentRow,
) -> ApiResult<()> {
    let now = now_ms();
    let claimed = PaymentRow {
        version: row.version + 1,
        next_check_ms: Some(now + RESOLVER_CLAIM_MS),
        ..row.clone()
    };
    if !hub
        .store
        .update_payment(claimed, Announcements::default())
        .await
        .map_err(scanpay_http::store_unavailable)?
    {
        return Ok(()); // another hub, or the request itself, moved it
    }
    let mut version = row.version + 1;
    let mut stored = unseal(&row)?;
    if stored.payment.expire(now) {
        save(hub, &stored, version).await?;
        return Ok(());
    }
    if stored.payment.needs_work() {
        stored = drive(hub, stored, version).await?;
        if stored.payment.needs_work() {
            // Still waiting on a bank: look again soon.
            (stored, version) = load(hub, stored.payment.id).await?;
            let retry_at = Some(now_ms() + RETRY_AFTER_MS);
            save_step(hub, &stored, version, retry_at, Announcements::default()).await?;
        }
    }
    Ok(())
}

/// A payment, to its payer, its payee or an operator.
#[utoipa::path(get, path = "/v1/payments/{id}", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PaymentView), (status = 404, body = scanpay_proto::ErrorBody)))]
pub async fn get<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<PaymentView>> {
    let (stored, _) = load(&hub, id).await?;
    let p = &stored.payment;
    if caller.kind != CallerKind::Operator
        && p.payer.caller_id != caller.id
        && p.payee.caller_id != caller.id
    {
        return Err(ApiError::new(
            ErrorCode::PaymentNotFound,
            "No payment has that id.",
        ));
    }
    Ok(Json(view(p)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PaymentPageQuery {
    /// From `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 100; 20 when absent.
    limit: Option<u32>,
}

/// The caller's payments, made and received, newest first.
#[utoipa::path(get, path = "/v1/payments", security(("bearer" = [])), params(PaymentPageQuery),
    responses((status = 200, body = PaymentPage)))]
pub async fn list<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Query(page): Query<PaymentPageQuery>,
) -> ApiResult<Json<PaymentPage>> {
    let before = page
        .cursor
        .as_deref()
        .map(crate::api::parse_cursor)
        .transpose()?;
    let limit = page
        .limit
        .unwrap_or(PAYMENTS_PAGE_DEFAULT)
        .clamp(1, PAYMENTS_PAGE_MAX);
    let rows = hub
        .store
        .payments_of(caller.id, before, limit)
        .await
        .map_err(scanpay_http::store_unavailable)?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| format!("{}_{}", r.created_at_ms, r.id)))
        .flatten();
    let items = rows
        .iter()
        .map(|row| unseal(row).map(|s| view(&s.payment)))
        .collect::<ApiResult<_>>()?;
    Ok(Json(PaymentPage { items, next_cursor }))
}

/// Refunds a payment, in full or in part, several times, never above what was paid (the payee or
/// an operator). The refund's id derives from the `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/payments/{id}/refunds", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = String, Header, description = "the refund's id derives from it")),
    request_body = CreateRefund,
    responses(
        (status = 201, body = PaymentView),
        (status = 202, description = "processing: a bank has not answered, or refused a reversal (the settlement's `held`)", body = PaymentView),
        (status = 422, description = "refund_exceeds_payment, insufficient_funds, transfer_rejected (the refund failed: `failure_code` is the bank's)", body = scanpay_proto::ErrorBody),
        (status = 502, description = "bank_unavailable: the payee's bank did not answer; the refund is processing", body = scanpay_proto::ErrorBody)))]
pub async fn refund<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(request): Json<CreateRefund>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let (mut stored, mut version) = load(&hub, id).await?;
    if caller.kind != CallerKind::Operator && stored.payment.payee.caller_id != caller.id {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Only the payee or an operator refunds a payment.",
        ));
    }
    let refund_id = derived_id(&[
        b"refund",
        id.as_bytes(),
        caller.id.as_bytes(),
        key.as_bytes(),
    ]);
    let wanted = request.amount_minor.as_ref().map(amount).transpose()?;
    for _ in 0..SAVE_TRIES_MAX {
        let existed = stored.payment.refunds.iter().any(|r| r.id == refund_id);
        let amount_minor = wanted.unwrap_or_else(|| stored.payment.refundable_minor());
        stored
            .payment
            .request_refund(refund_id, amount_minor, leg_ids(refund_id), now_ms())
            .map_err(payment_error)?;
        if !existed {
            match save(&hub, &stored, version).await? {
                Some(saved) => version = saved,
                None => {
                    (stored, version) = load(&hub, id).await?;
                    continue;
                }
            }
        }
        let stored = drive(&hub, stored, version).await?;
        let refund = stored
            .payment
            .refunds
            .iter()
            .find(|r| r.id == refund_id)
            .expect("requested above");
        let body = view(&stored.payment);
        return match refund.state {
            RefundState::Succeeded => Ok((StatusCode::CREATED, Json(body)).into_response()),
            RefundState::Processing if refund.debit.state == LegState::Pending => {
                Err(ApiError::new(
                    ErrorCode::BankUnavailable,
                    "The payee's bank did not answer; the refund is processing.",
                )
                .with_details(serde_json::json!({ "payment": body, "refund_id": refund_id })))
            }
            RefundState::Processing => Ok((StatusCode::ACCEPTED, Json(body)).into_response()),
            RefundState::Failed => {
                let code = refund
                    .failure_code
                    .as_deref()
                    .unwrap_or("transfer_rejected");
                let message = if refund.reversal.is_some() {
                    format!(
                        "The payer's bank refused to credit the refund ({code}); the money went \
                         back to the payee."
                    )
                } else {
                    format!("The payee's bank refused the refund: {code}.")
                };
                Err(ApiError::new(failure_error(code), message)
                    .with_details(serde_json::json!({ "payment": body, "refund_id": refund_id })))
            }
        };
    }
    Err(changed())
}

/// Merchants that take payments, by name.
#[utoipa::path(get, path = "/v1/merchants", security(("bearer" = [])),
    responses((status = 200, body = Vec<MerchantView>)))]
pub async fn merchants<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
) -> ApiResult<Json<Vec<MerchantView>>> {
    let rows = hub
        .store
        .merchants(500)
        .await
        .map_err(scanpay_http::store_unavailable)?;
    Ok(Json(
        rows.into_iter()
            .map(|m| MerchantView {
                id: m.caller_id,
                name: m.name,
                bank_id: m.bank_id,
            })
            .collect(),
    ))
}

/// The payment flow guide (seed 002): the wallet's recent payees, from its payment records,
/// most recent first, with the last amount, so a repeat payment is one step.
#[utoipa::path(get, path = "/v1/payees", security(("bearer" = [])),
    responses((status = 200, body = Vec<PayeeView>)))]
pub async fn payees<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<PayeeView>>> {
    let rows = hub
        .store
        .payments_made_by(caller.id, HISTORY_MAX)
        .await
        .map_err(scanpay_http::store_unavailable)?;
    let mut payees: Vec<PayeeView> = Vec::new();
    for row in &rows {
        let p = unseal(row)?.payment;
        if p.state != Status::Succeeded {
            continue;
        }
        match payees.iter_mut().find(|v| v.id == p.payee.caller_id) {
            Some(v) => v.payments += 1,
            None => payees.push(PayeeView {
                id: p.payee.caller_id,
                kind: p.payee.kind.clone(),
                name: p.payee.name.clone(),
                last_amount_minor: p.amount_minor,
                currency: p.currency.clone(),
                last_paid_at: rfc3339(p.created_at_ms),
                payments: 1,
            }),
        }
    }
    Ok(Json(payees))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// The `next_after` of the previous answer; 0 for everything kept (24 hours).
    after: Option<i64>,
    /// Wait up to this many seconds (at most 25) for something new.
    wait: Option<u64>,
}

/// The caller's notification stream (verification codes, payment outcomes), as a long poll:
/// answers at once when something is newer than `after`, else waits up to `wait` seconds.
#[utoipa::path(get, path = "/v1/notifications", security(("bearer" = [])), params(NotificationQuery),
    responses((status = 200, body = NotificationPage)))]
pub async fn notifications<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<NotificationQuery>,
) -> ApiResult<Json<NotificationPage>> {
    let after = query.after.unwrap_or(0);
    let deadline = tokio::time::Instant::now()
        + Duration::from_secs(query.wait.unwrap_or(0).min(NOTIFICATION_WAIT_MAX_S));
    loop {
        let rows = hub
            .store
            .notifications(caller.id, after, NOTIFICATIONS_PAGE_MAX)
            .await
            .map_err(scanpay_http::store_unavailable)?;
        if !rows.is_empty() || tokio::time::Instant::now() >= deadline {
            let next_after = rows.last().map_or(after, |r| r.seq);
            // A row that does not open (written under another key, damaged) is skipped, as the
            // stream skips it: it would otherwise fail every read until it is purged.
            let items = rows
                .iter()
                .filter_map(|row| match notification_view(&hub, row) {
                    Ok(view) => Some(view),
                    Err(error) => {
                        tracing::error!(code = error.code.code(), "an unreadable notification");
                        None
                    }
                })
                .collect();
            return Ok(Json(NotificationPage { items, next_after }));
        }
        tokio::time::sleep(NOTIFICATION_POLL).await;
    }
}

/// How often a waiting reader of the notification stream looks in the store (every hub sharing
/// the database writes there, so the store is the only place to look).
const NOTIFICATION_POLL: Duration = Duration::from_millis(200);

fn notification_view<S, B>(
    hub: &Hub<S, B>,
    row: &scanpay_store::NotificationRow,
) -> ApiResult<NotificationView> {
    let json = hub
        .vault
        .decrypt(&row.data, row.caller_id.as_bytes())
        .map_err(ApiError::internal)?;
    let note: StoredNote = serde_json::from_slice(&json).map_err(ApiError::internal)?;
    Ok(NotificationView {
        seq: row.seq,
        kind: note.kind,
        message: note.message,
        payment_id: note.payment_id,
        amount_minor: note.amount_minor,
        currency: note.currency,
        verification_code: note.verification_code,
        sealed_verification_code: note.sealed_verification_code,
        created_at: rfc3339(row.created_at_ms),
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Start after this `seq` (or send `Last-Event-ID`); 0 for everything kept.
    after: Option<i64>,
}

/// The caller's notification stream as server-sent events: each message is an event named by its
/// kind, with its `seq` as the event id (a reconnecting `EventSource` resumes with
/// `Last-Event-ID`) and the `NotificationView` as JSON data. A comment every 15 s keeps the
/// connection open.
#[utoipa::path(get, path = "/v1/notifications/stream", security(("bearer" = [])), params(StreamQuery),
    responses((status = 200, description = "text/event-stream of NotificationView")))]
pub async fn notification_stream<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> ApiResult<Response> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = resumed.or(query.after).unwrap_or(0);
    let state = (hub, caller.id, after, std::collections::VecDeque::new());
    let events =
        futures_util::stream::unfold(state, |(hub, caller_id, mut after, mut queue)| async move {
            loop {
                if let Some(view) = queue.pop_front() {
                    let view: NotificationView = view;
                    let event = Event::default()
                        .id(view.seq.to_string())
                        .event(view.kind.clone())
                        .json_data(&view)
                        .map_err(|e| e.to_string());
                    return Some((event, (hub, caller_id, after, queue)));
                }
                let rows = match hub
                    .store
                    .notifications(caller_id, after, NOTIFICATIONS_PAGE_MAX)
                    .await
                {
                    Ok(rows) => rows,
                    Err(error) => {
                        return Some((Err(error.to_string()), (hub, caller_id, after, queue)));
                    }
                };
                if rows.is_empty() {
                    tokio::time::sleep(NOTIFICATION_POLL).await;
                    continue;
                }
                for row in &rows {
                    after = row.seq;
                    match notification_view(&hub, row) {
                        Ok(view) => queue.push_back(view),
                        Err(error) => {
                            tracing::error!(code = error.code.code(), "an unreadable notification")
                        }
                    }
                }
            }
        });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SettlementQuery {
    /// `YYYY-MM-DD` (UTC).
    date: String,
}

/// Payments stored before their books were kept are read this many at a time, and saved
/// `BOOKING_AT_ONCE` at a time (the store's writer groups them).
const BOOKING_PAGE: u32 = 1_000;
const BOOKING_AT_ONCE: usize = 32;

/// Saves with its books each payment stored before the hub kept them (a database older than
/// `payment_books`), so that settlement's sums count it: once per payment, then never again. A
/// save that loses to another writer is tried again on the next page, if that writer did not
/// book it.
async fn book_the_unbooked<S: HubStore, B>(hub: &Hub<S, B>) -> ApiResult<()> {
    loop {
        let rows = hub
            .store
            .payments_unbooked(BOOKING_PAGE)
            .await
            .map_err(scanpay_http::store_unavailable)?;
        if rows.is_empty() {
            return Ok(());
        }
        use futures_util::StreamExt;
        let mut saves = futures_util::stream::iter(rows)
            .map(|row| async move {
                let p = unseal(&row)?.payment;
                let booked = PaymentRow {
                    version: row.version + 1,
                    held: p.holds_money_in_clearing(),
                    // Within one bank too: it has none, and is booked.
                    books: Some(p.book_entries()),
                    ..row
                };
                hub.store
                    .update_payment(booked, Announcements::default())
                    .await
                    .map_err(scanpay_http::store_unavailable)
            })
            .buffer_unordered(BOOKING_AT_ONCE);
        // The first error ends the booking (the rest of the page is dropped unsaved).
        while let Some(saved) = saves.next().await {
            saved?;
        }
    }
}

/// The money that refused reversals left in clearing accounts, of any day.
async fn held_in_clearing<S: HubStore, B>(
    hub: &Hub<S, B>,
) -> ApiResult<Vec<scanpay_proto::hub::HeldInClearing>> {
    let rows = hub
        .store
        .payments_held()
        .await
        .map_err(scanpay_http::store_unavailable)?;
    let mut held = Vec::new();
    for row in &rows {
        let p = unseal(row)?.payment;
        held.extend(
            p.held_in_clearing()
                .into_iter()
                .map(|h| scanpay_proto::hub::HeldInClearing {
                    payment_id: p.id,
                    refund_id: h.refund_id,
                    bank_id: h.bank_id,
                    currency: p.currency.clone(),
                    amount_minor: h.amount_minor,
                    owed_to: h.owed_to,
                    code: h.code,
                }),
        );
    }
    Ok(held)
}

/// Each bank's net interbank position from the payments and refunds completed on `date`, and a reconciliation
/// of every bank's clearing account against the hub's records (operators only).
#[utoipa::path(get, path = "/v1/settlement", security(("bearer" = [])), params(SettlementQuery),
    responses((status = 200, body = scanpay_proto::hub::SettlementReport)))]
pub async fn settlement<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<SettlementQuery>,
) -> ApiResult<Json<scanpay_proto::hub::SettlementReport>> {
    crate::auth::require_operator(&caller)?;
    let day = scanpay_core::registration::Day::parse(&query.date)
        .ok_or_else(|| ApiError::new(ErrorCode::DateInvalid, "`date` must be YYYY-MM-DD."))?;
    let from_ms = day.to_unix_ms();
    book_the_unbooked(&hub).await?;
    // A pair settles on the day its second leg completed, whenever the payment was made.
    let day_sums = hub
        .store
        .bank_sums(from_ms, from_ms + DAY_MS)
        .await
        .map_err(scanpay_http::store_unavailable)?;
    let positions: Vec<_> = day_sums
        .into_iter()
        .filter(BankSums::has_position)
        .map(|p| scanpay_proto::hub::SettlementPosition {
            net_minor: p.net_minor(),
            bank_id: p.bank_id,
            currency: p.currency,
            paid_out_minor: p.paid_out_minor,
            received_minor: p.received_minor,
        })
        .collect();
    // The books: every clearing account against every completed interbank leg, ever. The days
    // before yesterday can no longer change (a leg counts on the day it is done): summed once.
    hub.store
        .roll_up_books(day_of(now_ms()) - DAY_MS)
        .await
        .map_err(scanpay_http::store_unavailable)?;
    let expected: std::collections::BTreeMap<(String, String), i64> = hub
        .store
        .bank_sums_ever()
        .await
        .map_err(scanpay_http::store_unavailable)?
        .into_iter()
        .map(|s| ((s.bank_id, s.currency), s.clearing_minor))
        .collect();
    let held = held_in_clearing(&hub).await?;
    let mut reconciliation = Vec::new();
    for (link, bank) in hub.banks.iter() {
        let accounts = bank
            .clearing_accounts()
            .await
            .map_err(crate::api::connector_error)?;
        let mut currencies: std::collections::BTreeSet<String> =
            accounts.iter().map(|a| a.currency.clone()).collect();
        currencies.extend(
            expected
                .keys()
                .filter(|(b, _)| *b == link.id)
                .map(|(_, c)| c.clone()),
        );
        for currency in currencies {
            let balance = accounts
                .iter()
                .filter(|a| a.currency == currency)
                .map(|a| a.balance_minor)
                .sum();
            let want = expected
                .get(&(link.id.clone(), currency.clone()))
                .copied()
                .unwrap_or(0);
            reconciliation.push(scanpay_proto::hub::ClearingCheck {
                bank_id: link.id.clone(),
                currency: currency.clone(),
                clearing_balance_minor: balance,
                expected_balance_minor: want,
                agrees: balance == want,
            });
        }
    }
    Ok(Json(scanpay_proto::hub::SettlementReport {
        date: query.date,
        net_total_minor: positions.iter().map(|p| p.net_minor).sum(),
        reconciled: reconciliation.iter().all(|c| c.agrees),
        positions,
        reconciliation,
        held,
    }))
}

#[cfg(test)]
mod totp_seed_tests {
    use super::*;
    use scanpay_store::vault::Vault;

    #[test]
    fn a_seed_opens_only_as_a_seed() {
        let vault = Vault::new(&[3; 32]);
        let wallet = Uuid::new_v4();
        let seed = [7u8; TOTP_SEED_LENGTH];
        let sealed = vault.seal(Purpose::TotpSeed, wallet, &seed);
        assert_eq!(open_totp_seed(&vault, &sealed, wallet).unwrap(), seed);
        // The binding is the one seeds have been sealed under since it named its purpose.
        let named = vault.encrypt(
            &seed,
            &[b"totp_seed\0".as_slice(), wallet.as_bytes()].concat(),
        );
        assert_eq!(open_totp_seed(&vault, &named, wallet).unwrap(), seed);
        assert!(open_totp_seed(&vault, &sealed, Uuid::new_v4()).is_err());
        // Sealed before the binding named its purpose: still opens.
        let legacy = vault.encrypt(&seed, wallet.as_bytes());
        assert_eq!(open_totp_seed(&vault, &legacy, wallet).unwrap(), seed);
        // A notification of the same wallet (sealed under its id alone) copied into the seed's
        // row does not open as a seed.
        let note = br#"{"kind":"authenticator_reset","message":"Your authenticator was reset."}"#;
        let moved = vault.encrypt(note, wallet.as_bytes());
        assert!(open_totp_seed(&vault, &moved, wallet).is_err());
    }
}

/// A wallet at `bank`, numbered `n`, for the tests.
#[cfg(test)]
fn party(n: u128, bank: &str) -> Party {
    Party {
        caller_id: Uuid::from_u128(n),
        kind: "wallet".to_string(),
        name: format!("party {n}"),
        bank_id: bank.to_string(),
        account_id: Uuid::from_u128(n + 10),
    }
}

#[cfg(test)]
mod row_tests {
    use super::*;

    fn payment(payee_bank: &str) -> Payment {
        let mut p = Payment::new(
            Uuid::from_u128(1),
            party(2, "north"),
            party(3, payee_bank),
            1_234,
            "USD",
            "terminal-1",
            None,
            None,
            (Uuid::from_u128(4), Uuid::from_u128(5)),
            1_000,
        );
        p.debit_answered(Ok(()), 1_100);
        p
    }

    fn row(p: Payment) -> PaymentRow {
        let stored = Stored {
            payment: p,
            sealed_code: None,
            terminal_key: None,
        };
        seal_row(&stored, 2, None).unwrap()
    }

    #[test]
    fn an_interbank_row_carries_its_share_of_settlement_and_whether_money_is_held() {
        let mut p = payment("south");
        let moved = row(p.clone());
        let books = moved.books.as_ref().unwrap();
        assert_eq!(books.len(), 1, "the debit is in north's clearing account");
        assert_eq!(
            (books[0].sums.bank_id.as_str(), books[0].sums.clearing_minor),
            ("north", 1_234)
        );
        assert!(!moved.held);
        p.credit_answered(
            Err("credit_account_not_found".into()),
            Uuid::from_u128(6),
            1_200,
        );
        p.reversal_answered(Err("debit_account_not_found".into()), 1_300);
        let held = row(p.clone());
        assert!(held.held, "the refused reversal left the money in clearing");
        assert_eq!(held.books, Some(p.book_entries()));
        // Within one bank: no share, and the books table is left alone.
        let within = row(payment("north"));
        assert_eq!(within.books, None);
        assert!(!within.held);
    }
}

#[cfg(test)]
mod drive_tests {
    //! [`drive`] against banks that answer from memory (the outside world, in a unit test):
    //! when it saves what the banks said.

    use std::sync::{Arc, Mutex, OnceLock};

    use scanpay_proto::bank::{
        AccountView, BindRequest, Binding, BindingsRevoked, CardAccount, RevokeBindings,
        SavedIdentity, TransferView, VerifyBindingRequest,
    };
    use scanpay_store::SqliteHub;
    use scanpay_store::vault::Vault;

    use super::*;
    use crate::BankLink;

    /// A bank that takes `debit_takes` to debit and, when asked for a credit, notes the payment's
    /// version and debit leg as the hub's store holds them at that moment.
    struct Bank {
        debit_takes: Duration,
        seen: Arc<Seen>,
    }

    /// What the credit's bank saw of the payment in the hub's store.
    #[derive(Default)]
    struct Seen {
        store: OnceLock<Arc<SqliteHub>>,
        payment: OnceLock<Uuid>,
        at_credit: Mutex<Option<(i64, LegState)>>,
    }

    fn created(id: Uuid) -> TransferResult {
        TransferResult {
            outcome: "created".to_string(),
            replayed: false,
            transfer: TransferView {
                id,
                kind: "transfer".to_string(),
                debit_account_id: None,
                credit_account_id: None,
                amount_minor: 1_234,
                currency: "USD".to_string(),
                pending_id: None,
                hold_state: None,
                expires_at: None,
                reference: None,
                outcome: "created".to_string(),
                created_at: "2026-12-07T00:00:00Z".to_string(),
            },
        }
    }

    impl BankConnector for Bank {
        async fn pay(
            &self,
            request: &PaymentDebitRequest,
        ) -> Result<TransferResult, ConnectorError> {
            tokio::time::sleep(self.debit_takes).await;
            Ok(created(request.transfer_id))
        }
        async fn clearing_transfer(
            &self,
            request: &ClearingTransferRequest,
        ) -> Result<TransferResult, ConnectorError> {
            let seen = &self.seen;
            let id = *seen.payment.get().expect("the payment is made");
            let row = seen
                .store
                .get()
                .unwrap()
                .payment(id)
                .await
                .unwrap()
                .unwrap();
            let debit = unseal(&row).unwrap().payment.debit.state;
            *seen.at_credit.lock().unwrap() = Some((row.version, debit));
            Ok(created(request.id))
        }
        async fn card_account(&self, _: &str) -> Result<CardAccount, ConnectorError> {
            unreachable!()
        }
        async fn saved_identity(&self, _: &str) -> Result<SavedIdentity, ConnectorError> {
            unreachable!()
        }
        async fn bind(&self, _: &BindRequest) -> Result<Binding, ConnectorError> {
            unreachable!()
        }
        async fn verify_binding(
            &self,
            _: &VerifyBindingRequest,
        ) -> Result<Binding, ConnectorError> {
            unreachable!()
        }
        async fn revoke_bindings(
            &self,
            _: &RevokeBindings,
        ) -> Result<BindingsRevoked, ConnectorError> {
            unreachable!()
        }
        async fn transfer(&self, _: &TransferRequest) -> Result<TransferResult, ConnectorError> {
            unreachable!()
        }
        async fn account(&self, _: Uuid) -> Result<AccountView, ConnectorError> {
            unreachable!()
        }
        async fn clearing_accounts(&self) -> Result<Vec<AccountView>, ConnectorError> {
            unreachable!()
        }
        async fn healthy(&self) -> Result<(), ConnectorError> {
            Ok(())
        }
    }

    /// Drives an interbank payment whose debit takes `debit_takes`; returns the payment's version
    /// and debit leg in the store when the credit was asked, and the version after.
    async fn drive_between_banks(debit_takes: Duration) -> ((i64, LegState), i64) {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(Seen::default());
        let link = |id: &str| BankLink {
            id: id.to_string(),
            name: id.to_string(),
            url: format!("http://{id}.invalid"),
            secret: vec![1; 32],
            ranges: Vec::new(),
        };
        let bank = || Bank {
            debit_takes,
            seen: seen.clone(),
        };
        let store = SqliteHub::open(&dir.path().join("hub.db")).unwrap();
        let banks = vec![(link("south"), bank()), (link("north"), bank())];
        let hub = Hub::new(store, banks, Vault::new(&[5; 32])).unwrap();
        assert!(seen.store.set(hub.store.clone()).is_ok());

        let id = Uuid::new_v4();
        let payment = Payment::new(
            id,
            party(1, "south"),
            party(2, "north"),
            1_234,
            "USD",
            "terminal-1",
            None,
            None,
            (Uuid::new_v4(), Uuid::new_v4()),
            now_ms(),
        );
        let stored = Stored {
            sealed_code: Some(hub.vault.encrypt(b"CODE-1", id.as_bytes())),
            terminal_key: None,
            payment,
        };
        hub.store
            .insert_payment(seal_row(&stored, 1, None).unwrap())
            .await
            .unwrap();
        assert!(seen.payment.set(id).is_ok());

        let driven = drive(&hub, stored, 1).await.unwrap();
        assert_eq!(driven.payment.state, Status::Succeeded);
        let (_, version) = load(&hub, id).await.unwrap();
        let at_credit = seen
            .at_credit
            .lock()
            .unwrap()
            .take()
            .expect("the credit was asked");
        (at_credit, version)
    }

    /// Both legs' answers are saved in one write (the end-to-end test
    /// `interbank_payments_refund_and_settle_to_zero` counts the writes) unless asking took
    /// [`ANSWERS_HELD_MAX`]: then the debit is saved before the credit is asked, so a resolver
    /// taking over after [`GRACE_MS`] of silence finds it.
    #[tokio::test]
    async fn a_slow_answer_is_saved_before_the_next_question() {
        let (at_credit, version) = drive_between_banks(ANSWERS_HELD_MAX).await;
        assert_eq!(at_credit, (2, LegState::Done));
        assert_eq!(version, 3);
    }
}
