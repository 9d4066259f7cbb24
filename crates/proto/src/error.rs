//! The one table of error codes: each code with its type and HTTP status.
//!
//! An error body is `{code, message, type, request_id}` (plus `details` where a code has more to
//! say). `code` is for programs and is stable; `message` is for people and may change.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Coarse kind of an error, for clients that only branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// The request is wrong and will stay wrong if repeated.
    InvalidRequest,
    /// Missing or wrong credentials.
    Authentication,
    /// Authenticated, but not allowed.
    Permission,
    NotFound,
    /// The request conflicts with what exists (a reused key, a duplicate).
    Conflict,
    /// A business rule refused it (insufficient funds...).
    Rejected,
    /// A dependency (a bank, the database) cannot be reached now; retrying may help.
    Unavailable,
    /// Our fault; the request id finds it in the logs.
    Internal,
}

macro_rules! error_codes {
    ($($variant:ident => $code:literal, $kind:ident, $status:literal;)*) => {
        /// Every error code the platform answers with.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            pub fn code(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }

            pub fn error_type(self) -> ErrorType {
                match self { $(ErrorCode::$variant => ErrorType::$kind),* }
            }

            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status),* }
            }

            pub fn parse(code: &str) -> Option<ErrorCode> {
                match code { $($code => Some(ErrorCode::$variant),)* _ => None }
            }
        }
    };
}

error_codes! {
    SealedBodyInvalid => "sealed_body_invalid", InvalidRequest, 400;
    JsonMalformed => "json_malformed", InvalidRequest, 400;
    RequestInvalid => "request_invalid", InvalidRequest, 422;
    ContentTypeUnsupported => "content_type_unsupported", InvalidRequest, 415;
    PayloadTooLarge => "payload_too_large", InvalidRequest, 413;
    MethodNotAllowed => "method_not_allowed", InvalidRequest, 405;
    RouteNotFound => "route_not_found", NotFound, 404;
    IdempotencyKeyMissing => "idempotency_key_missing", InvalidRequest, 400;
    IdempotencyKeyInvalid => "idempotency_key_invalid", InvalidRequest, 400;
    IdempotencyKeyReused => "idempotency_key_reused", Conflict, 409;
    IdempotencyRequestInProgress => "idempotency_request_in_progress", Conflict, 409;
    CursorInvalid => "cursor_invalid", InvalidRequest, 400;
    Unauthenticated => "unauthenticated", Authentication, 401;
    SignatureInvalid => "signature_invalid", Authentication, 401;
    Forbidden => "forbidden", Permission, 403;
    AmountInvalid => "amount_invalid", InvalidRequest, 422;
    AmountNotPositive => "amount_not_positive", InvalidRequest, 422;
    AmountTooLarge => "amount_too_large", InvalidRequest, 422;
    AmountPrecisionTooHigh => "amount_precision_too_high", InvalidRequest, 422;
    CurrencyUnknown => "currency_unknown", InvalidRequest, 422;
    CardNumberInvalid => "card_number_invalid", InvalidRequest, 422;
    CardNumberLengthInvalid => "card_number_length_invalid", InvalidRequest, 422;
    CardNumberLuhnFailed => "card_number_luhn_failed", InvalidRequest, 422;
    CardRangeUnknown => "card_range_unknown", InvalidRequest, 422;
    CardRangeAmbiguous => "card_range_ambiguous", Conflict, 409;
    CardExpiryInvalid => "card_expiry_invalid", InvalidRequest, 422;
    CardNotFound => "card_not_found", NotFound, 404;
    CardAlreadyExists => "card_already_exists", Conflict, 409;
    CustomerNotFound => "customer_not_found", NotFound, 404;
    AccountNotFound => "account_not_found", NotFound, 404;
    TransferNotFound => "transfer_not_found", NotFound, 404;
    BatchTooLarge => "batch_too_large", InvalidRequest, 422;
    BankNotFound => "bank_not_found", NotFound, 404;
    RegistrationCodeAlreadyBound => "registration_code_already_bound", Conflict, 409;
    RegistrationCodeUnknown => "registration_code_unknown", NotFound, 404;
    TerminalMismatch => "terminal_mismatch", Rejected, 403;
    TransferRejected => "transfer_rejected", Rejected, 422;
    ExistsWithDifferentFields => "exists_with_different_fields", Conflict, 409;
    InsufficientFunds => "insufficient_funds", Rejected, 422;
    AccountClosed => "account_closed", Rejected, 422;
    AccountNotEmpty => "account_not_empty", Rejected, 422;
    RegistrationNotFound => "registration_not_found", NotFound, 404;
    RegistrationStepOutOfOrder => "registration_step_out_of_order", Conflict, 409;
    RegistrationFinished => "registration_finished", Conflict, 409;
    RegistrationExpired => "registration_expired", Conflict, 409;
    RegistrationChanged => "registration_changed", Conflict, 409;
    RegistrationFieldsMissing => "registration_fields_missing", InvalidRequest, 422;
    IdentityDocumentExpired => "identity_document_expired", InvalidRequest, 422;
    IdentityFieldInvalid => "identity_field_invalid", InvalidRequest, 422;
    IdentityMismatch => "identity_mismatch", Rejected, 422;
    CardVerificationLimited => "card_verification_limited", Rejected, 429;
    PasswordAttemptsLimited => "password_attempts_limited", Rejected, 429;
    AuthenticatorAttemptsLimited => "authenticator_attempts_limited", Rejected, 429;
    CardExpired => "card_expired", InvalidRequest, 422;
    CardAlreadyRegistered => "card_already_registered", Conflict, 409;
    RegistrationCodeTaken => "registration_code_taken", Conflict, 409;
    RegistrationCodeInvalid => "registration_code_invalid", InvalidRequest, 422;
    TerminalIdInvalid => "terminal_id_invalid", InvalidRequest, 422;
    TerminalKeyRequired => "terminal_key_required", InvalidRequest, 422;
    ImageNotAnImage => "image_not_an_image", InvalidRequest, 415;
    ImageTooLarge => "image_too_large", InvalidRequest, 413;
    ImageUnreadable => "image_unreadable", InvalidRequest, 422;
    DocumentNotFound => "document_not_found", InvalidRequest, 422;
    DocumentUnreadable => "document_unreadable", InvalidRequest, 422;
    OcrFailed => "ocr_failed", Internal, 500;
    PayeeUnknown => "payee_unknown", InvalidRequest, 422;
    PayeeIsPayer => "payee_is_payer", InvalidRequest, 422;
    PaymentNotFound => "payment_not_found", NotFound, 404;
    WalletNotFound => "wallet_not_found", NotFound, 404;
    PaymentStateInvalid => "payment_state_invalid", Conflict, 409;
    PaymentChanged => "payment_changed", Conflict, 409;
    WebhookChanged => "webhook_changed", Conflict, 409;
    PaymentExpired => "payment_expired", Rejected, 422;
    VerificationFailed => "verification_failed", Rejected, 422;
    VerificationBlocked => "verification_blocked", Rejected, 422;
    VerificationResendLimited => "verification_resend_limited", Rejected, 429;
    IdentityCheckFailed => "identity_check_failed", Rejected, 422;
    RefundExceedsPayment => "refund_exceeds_payment", Rejected, 422;
    RefundsExhausted => "refunds_exhausted", Conflict, 409;
    PayoutAccountInvalid => "payout_account_invalid", InvalidRequest, 422;
    DateInvalid => "date_invalid", InvalidRequest, 422;
    WebhookUrlInvalid => "webhook_url_invalid", InvalidRequest, 422;
    WebhookNotSet => "webhook_not_set", Conflict, 409;
    BankUnavailable => "bank_unavailable", Unavailable, 502;
    StoreUnavailable => "store_unavailable", Unavailable, 503;
    ShuttingDown => "shutting_down", Unavailable, 503;
    Internal => "internal", Internal, 500;
}

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, for programs: see the table in `docs/errors.md`.
    pub code: String,
    /// For people: what went wrong and what to do.
    pub message: String,
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    /// Quote it when asking for help: it finds the request in the logs.
    pub request_id: String,
    /// More detail for some codes (the transfer a rejection is about, the fields that failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.code()), "duplicate code {}", code.code());
            assert_eq!(ErrorCode::parse(code.code()), Some(code));
            assert!((400..600).contains(&code.http_status()));
            let status_class = code.http_status() / 100;
            let server_side = matches!(
                code.error_type(),
                ErrorType::Unavailable | ErrorType::Internal
            );
            assert_eq!(status_class == 5, server_side, "{}", code.code());
        }
    }

    #[test]
    fn errors_doc_lists_every_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md");
        let doc = std::fs::read_to_string(path).expect("docs/errors.md is readable");
        let missing: Vec<&str> = ErrorCode::ALL
            .iter()
            .map(|code| code.code())
            .chain(
                scanpay_core::ledger::Outcome::ALL
                    .iter()
                    .map(|outcome| outcome.code()),
            )
            .filter(|code| !doc.contains(&format!("`{code}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/errors.md does not list {missing:?}"
        );
    }
}
