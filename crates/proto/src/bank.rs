//! The bank's HTTP API, as the hub (and the bank's operator) call it. Every request is signed
//! (see [`crate::signing`]); bodies are JSON; unknown fields are refused.
//!
//! Money is `amount_minor`, an integer in the currency's minor unit, with an ISO 4217 `currency`.
//! Requests carry amounts and currencies as raw JSON so that a negative, fractional or
//! overflowing amount and an unknown currency get their own error codes (see [`amount_minor`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ErrorCode;

/// Reads a JSON number as an amount in minor units, with the code that says what is wrong.
pub fn amount_minor(number: &serde_json::Number) -> Result<i64, ErrorCode> {
    if let Some(value) = number.as_i64() {
        return match value {
            ..=0 => Err(ErrorCode::AmountNotPositive),
            v if v > scanpay_core::money::AMOUNT_MINOR_MAX => Err(ErrorCode::AmountTooLarge),
            v => Ok(v),
        };
    }
    if number.as_u64().is_some() {
        return Err(ErrorCode::AmountTooLarge);
    }
    // Written as a float: `5.0` or `1.5` is not a whole number of minor units; an integer too
    // large for 64 bits also arrives as a float.
    match number.as_f64() {
        Some(f) if f <= 0.0 => Err(ErrorCode::AmountNotPositive),
        Some(f) if f.fract() == 0.0 && f >= 9.2e18 => Err(ErrorCode::AmountTooLarge),
        _ => Err(ErrorCode::AmountInvalid),
    }
}

/// RFC 3339 in UTC, from milliseconds since the Unix epoch.
pub fn rfc3339(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    /// Chosen by the caller to make the request idempotent; a new one is made when absent.
    #[serde(default)]
    pub id: Option<Uuid>,
    pub full_name: String,
    /// `passport`, `id_card` or `driver_license`.
    pub id_document_type: String,
    pub id_document_number: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub phone: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: Uuid,
    pub full_name: String,
    pub id_document_type: String,
    /// Masked: only the last three characters.
    pub id_document_number_masked: String,
    pub birth_date: String,
    pub address: String,
    pub phone: String,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub customer_id: Uuid,
    pub currency: String,
    /// How far the balance may go below zero; 0 (no overdraft) when absent.
    #[serde(default)]
    pub overdraft_limit_minor: Option<serde_json::Number>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub id: Uuid,
    /// `customer`, `funding` (the bank's own source of money) or `clearing` (other banks).
    pub kind: String,
    pub customer_id: Option<Uuid>,
    pub currency: String,
    /// Posted credits minus posted debits.
    pub balance_minor: i64,
    /// The balance less what holds reserve.
    pub available_minor: i64,
    /// `None`: without limit (the bank's own accounts).
    pub overdraft_limit_minor: Option<i64>,
    pub debits_pending_minor: i64,
    pub debits_posted_minor: i64,
    pub credits_pending_minor: i64,
    pub credits_posted_minor: i64,
    pub created_at: String,
    /// When the account was closed (`POST /v1/accounts/{id}/close`); absent while it is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
}

/// Personal data stays out of a `{:?}` (a log line).
impl std::fmt::Debug for CreateCustomer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateCustomer")
            .field("id", &self.id)
            .field("id_document_type", &self.id_document_type)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCard {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub account_id: Uuid,
    pub card_number: String,
    pub expiry_month: u8,
    pub expiry_year: u16,
    pub holder_name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CardView {
    pub id: Uuid,
    pub account_id: Uuid,
    /// `•••• 4242`: the number itself never leaves the bank in a card view.
    pub card_masked: String,
    pub last4: String,
    pub network: String,
    pub expiry_month: u8,
    pub expiry_year: u16,
    pub holder_name: String,
}

impl std::fmt::Debug for CreateCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateCard")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// Asks which account a card number belongs to.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardNumberRequest {
    pub card_number: String,
}

impl std::fmt::Debug for CardNumberRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardNumberRequest(..)")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CardAccount {
    pub card: CardView,
    pub account_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub currency: String,
}

/// The identity the bank saved for the customer behind a card, for the hub to compare with a
/// scanned document. Sent only over the signed hub channel.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedIdentity {
    pub customer_id: Uuid,
    pub full_name: String,
    pub id_document_type: String,
    pub id_document_number: String,
    pub birth_date: String,
    pub address: String,
    pub phone: String,
}

impl std::fmt::Debug for SavedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedIdentity")
            .field("customer_id", &self.customer_id)
            .finish_non_exhaustive()
    }
}

/// Binds a registration code and a terminal to an account.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindRequest {
    pub registration_code: String,
    pub terminal_id: String,
    pub account_id: Uuid,
    /// The hub's registration the code was issued in: the hub keeps no code once it is bound,
    /// so it names the binding by this when it revokes it.
    #[serde(default)]
    pub registration_id: Option<Uuid>,
}

impl std::fmt::Debug for BindRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindRequest")
            .field("terminal_id", &self.terminal_id)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// Checks a registration code and terminal against the binding.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBindingRequest {
    pub registration_code: String,
    pub terminal_id: String,
}

/// Revokes the bindings made for a hub registration (the user lost the phone): its code no
/// longer pays here. Safe to repeat.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBindings {
    pub registration_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BindingsRevoked {
    /// How many bindings this request removed (0 on a repeat).
    pub revoked: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    pub account_id: Uuid,
    pub terminal_id: String,
    pub created_at: String,
}

/// A payment with a registration code: the bank checks the binding (code and terminal) and debits
/// the bound account. The credit goes to `credit_account_id` (a payee at this bank) or, when it is
/// absent, to the bank's clearing account (a payee at another bank). Idempotent by `transfer_id`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentDebitRequest {
    pub transfer_id: Uuid,
    pub registration_code: String,
    pub terminal_id: String,
    /// The hub attests that the user confirmed this payment with a code sent to the bound
    /// terminal, so a request from another terminal is allowed (step-up).
    #[serde(default)]
    pub terminal_verified: bool,
    pub amount_minor: serde_json::Number,
    pub currency: String,
    #[serde(default)]
    pub credit_account_id: Option<Uuid>,
    #[serde(default)]
    pub reference: Option<String>,
}

impl std::fmt::Debug for PaymentDebitRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentDebitRequest")
            .field("transfer_id", &self.transfer_id)
            .field("amount_minor", &self.amount_minor)
            .field("currency", &self.currency)
            .finish_non_exhaustive()
    }
}

/// Up to [`PAYMENTS_PER_BATCH_MAX`] payments in one request (`POST /v1/payments/batch`): each is
/// checked and decided as `POST /v1/payments` would, and all are committed together. The hub
/// sends the payments waiting for the same bank together under load.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentDebitBatch {
    pub payments: Vec<PaymentDebitRequest>,
}

pub const PAYMENTS_PER_BATCH_MAX: usize = 256;

/// One answer a payment of a batch, in order: the transfer, or the error body that
/// `POST /v1/payments` would have answered (its `code`, and the rejected transfer in `details`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentDebitOutcome {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TransferResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::ErrorBody>,
}

impl PaymentDebitOutcome {
    pub fn new(answer: Result<TransferResult, crate::ErrorBody>) -> PaymentDebitOutcome {
        match answer {
            Ok(result) => PaymentDebitOutcome {
                result: Some(result),
                error: None,
            },
            Err(error) => PaymentDebitOutcome {
                result: None,
                error: Some(error),
            },
        }
    }

    /// The answer it holds; `None` when it holds neither (a malformed answer).
    pub fn into_answer(self) -> Option<Result<TransferResult, crate::ErrorBody>> {
        match (self.result, self.error) {
            (Some(result), _) => Some(Ok(result)),
            (None, Some(error)) => Some(Err(error)),
            (None, None) => None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentDebitBatchResult {
    pub results: Vec<PaymentDebitOutcome>,
}

/// Money between a customer account and the bank's clearing account, for the leg of an
/// interbank payment or refund at this bank: `in` debits clearing and credits `account_id`
/// (money arriving from another bank), `out` the reverse. Idempotent by `id`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearingTransferRequest {
    pub id: Uuid,
    /// `in` or `out`.
    pub direction: String,
    pub account_id: Uuid,
    pub amount_minor: serde_json::Number,
    pub currency: String,
    #[serde(default)]
    pub reference: Option<String>,
}

/// One transfer command. `kind` is `single` (default), `pending` (a hold), `post_pending` or
/// `void_pending`; see `docs/ledger.md`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// Chosen by the client: a replay with the same id returns the original outcome.
    pub id: Uuid,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub debit_account_id: Option<Uuid>,
    #[serde(default)]
    pub credit_account_id: Option<Uuid>,
    #[serde(default)]
    pub amount_minor: Option<serde_json::Number>,
    pub currency: String,
    #[serde(default)]
    pub pending_id: Option<Uuid>,
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
    #[serde(default)]
    pub reference: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferView {
    pub id: Uuid,
    pub kind: String,
    pub debit_account_id: Option<Uuid>,
    pub credit_account_id: Option<Uuid>,
    pub amount_minor: i64,
    pub currency: String,
    pub pending_id: Option<Uuid>,
    /// For holds: `pending`, `posted`, `voided` or `expired`.
    pub hold_state: Option<String>,
    pub expires_at: Option<String>,
    pub reference: Option<String>,
    /// `created`, or the code of the rule that refused it.
    pub outcome: String,
    pub created_at: String,
}

/// The answer to one command: `outcome` is `created` or a rejection code; `replayed` is true when
/// the id was seen before and this is the original answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferResult {
    pub outcome: String,
    pub replayed: bool,
    pub transfer: TransferView,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBatchRequest {
    pub transfers: Vec<TransferRequest>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferBatchResponse {
    pub results: Vec<TransferResult>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementLineView {
    /// `debit` or `credit`, seen from the account.
    pub side: String,
    pub transfer: TransferView,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementPage {
    pub lines: Vec<StatementLineView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Sums over the whole ledger: the auditor's view. The sums are exact JSON integers and may
/// pass 2^63 (each account's own sums cannot): read them as 128-bit integers, not doubles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerTotalsView {
    pub accounts: i64,
    pub transfers_created: i64,
    pub transfers_rejected: i64,
    pub debits_posted_minor: i128,
    pub credits_posted_minor: i128,
    pub debits_pending_minor: i128,
    pub credits_pending_minor: i128,
    pub posted_from_transfers_minor: i128,
    pub pending_from_holds_minor: i128,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_print_no_card_or_document_number() {
        let customer: CreateCustomer = serde_json::from_value(serde_json::json!({
            "full_name": "ANNA ERIKSSON", "id_document_type": "passport",
            "id_document_number": "L898902C3", "birth_date": "1974-08-12"
        }))
        .unwrap();
        let card: CreateCard = serde_json::from_value(serde_json::json!({
            "account_id": Uuid::nil(), "card_number": "4242424242424242",
            "expiry_month": 12, "expiry_year": 2031, "holder_name": "ANNA ERIKSSON"
        }))
        .unwrap();
        let lookup = CardNumberRequest {
            card_number: "4242424242424242".to_string(),
        };
        for printed in [
            format!("{customer:?}"),
            format!("{card:?}"),
            format!("{lookup:?}"),
        ] {
            assert!(
                !printed.contains("L898902C3")
                    && !printed.contains("4242424242424242")
                    && !printed.contains("ERIKSSON"),
                "{printed}"
            );
        }
    }

    #[test]
    fn amounts() {
        let check = |json: &str, expect: Result<i64, ErrorCode>| {
            let number: serde_json::Number = serde_json::from_str(json).unwrap();
            assert_eq!(amount_minor(&number), expect, "{json}");
        };
        check("1", Ok(1));
        check("1000000000000000", Ok(1_000_000_000_000_000));
        check("1000000000000001", Err(ErrorCode::AmountTooLarge));
        check("0", Err(ErrorCode::AmountNotPositive));
        check("-5", Err(ErrorCode::AmountNotPositive));
        check("18446744073709551615", Err(ErrorCode::AmountTooLarge));
        check("1e30", Err(ErrorCode::AmountTooLarge));
        check("-1e30", Err(ErrorCode::AmountNotPositive));
        check("12.5", Err(ErrorCode::AmountInvalid));
        check("5.0", Err(ErrorCode::AmountInvalid));
        check("1e3", Err(ErrorCode::AmountInvalid));
    }
}
