//! The hub's HTTP API types. The OpenAPI document at `/openapi.json` is generated from them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Who a caller is. Wallets are the phone app, merchants take payments, operators run the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallerKind {
    Wallet,
    Merchant,
    Operator,
}

impl CallerKind {
    pub fn code(self) -> &'static str {
        match self {
            CallerKind::Wallet => "wallet",
            CallerKind::Merchant => "merchant",
            CallerKind::Operator => "operator",
        }
    }

    pub fn parse(code: &str) -> Option<CallerKind> {
        Some(match code {
            "wallet" => CallerKind::Wallet,
            "merchant" => CallerKind::Merchant,
            "operator" => CallerKind::Operator,
            _ => return None,
        })
    }
}

/// Creates a caller and issues its token (operators only).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCaller {
    pub kind: CallerKind,
    /// A name people recognise: a merchant's trading name, a wallet's owner.
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Caller {
    pub id: Uuid,
    pub kind: CallerKind,
    pub name: String,
    pub created_at: String,
}

/// A new caller with its bearer token. The token is shown once: only its hash is kept.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct CallerCreated {
    pub caller: Caller,
    pub token: String,
}

impl std::fmt::Debug for CallerCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerCreated")
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallerPage {
    pub items: Vec<Caller>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A card number to route (digits, spaces and hyphens allowed).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardNumber {
    pub card_number: String,
}

impl std::fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardNumber(..)")
    }
}

/// Which bank issued a card, and what the number says about itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CardRoute {
    pub bank_id: String,
    pub bank_name: String,
    /// `visa`, `mastercard`, `amex`, `union_pay`, `jcb`, `discover`, `diners_club`, `maestro`,
    /// `ru_pay`, `mir`; absent when the number belongs to no network we know.
    pub network: Option<String>,
    pub card_masked: String,
}

/// The account behind a card, as its bank answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CardAccountView {
    pub route: CardRoute,
    pub account_id: Uuid,
    pub currency: String,
    pub holder_name: String,
    pub expiry_month: u8,
    pub expiry_year: u16,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CardRangeView {
    pub low: String,
    pub high: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BankView {
    pub id: String,
    pub name: String,
    pub url: String,
    pub ranges: Vec<CardRangeView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` with the reasons in `checks`.
    pub status: String,
    pub checks: Vec<HealthCheck>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthCheck {
    pub name: String,
    pub ok: bool,
    pub detail: Option<String>,
}

/// Signs up a wallet: the one open endpoint that creates something. Returns its token.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    /// The wallet owner's name, as they want to be greeted.
    pub name: String,
}

/// Starts a registration for the phone `terminal_id` (the phone's stable identifier).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRegistration {
    pub terminal_id: String,
}

/// Identity fields as the wallet sends them (extracted on the phone, FIG. 4, or corrected by the
/// user on the confirmation screen).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityInput {
    pub full_name: String,
    /// `passport`, `id_card` or `driver_license`.
    pub document_type: String,
    pub document_number: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// `YYYY-MM-DD`, when the document has one.
    #[serde(default)]
    pub expiry_date: Option<String>,
    #[serde(default)]
    pub nationality: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

impl std::fmt::Debug for IdentityInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityInput")
            .field("document_type", &self.document_type)
            .finish_non_exhaustive()
    }
}

/// Card fields as the wallet sends them. There is no CVV field, on purpose.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    pub card_number: String,
    pub expiry_month: u8,
    pub expiry_year: u16,
    #[serde(default)]
    pub holder_name: Option<String>,
}

impl std::fmt::Debug for CardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardInput(..)")
    }
}

/// Fields for a registration: either part, or both.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationFields {
    #[serde(default)]
    pub identity: Option<IdentityInput>,
    #[serde(default)]
    pub card: Option<CardInput>,
}

/// How the user wants their registration code.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CodeChoice {
    /// A unique random 10-digit code (the default).
    Random,
    /// The user's own code: 6 to 32 letters, digits, `-` or `_`, unique on the platform.
    Personalised { code: String },
}

/// Confirms the fields (optionally changing some first) and asks for the code.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRegistration {
    #[serde(default)]
    pub modify: Option<RegistrationFields>,
    #[serde(default)]
    pub code: Option<CodeChoice>,
}

/// The card as the confirmation screen shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CardFieldsView {
    /// First four and last four digits: enough to check the photo was read right.
    pub card_masked: String,
    pub network: Option<String>,
    pub expiry_month: u8,
    pub expiry_year: u16,
    pub holder_name: String,
}

/// A field's reading: how sure the reader was and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldSource {
    /// 0.0–1.0.
    pub confidence: f32,
    /// `wallet` (sent by the phone), `mrz`, `barcode`, `ocr`, or `user` (corrected by hand).
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegistrationView {
    pub id: Uuid,
    /// `started`, `carriers_received`, `awaiting_confirmation`, `confirmed`, `bank_identified`,
    /// `verified`, `code_issued`, `bound`, `rejected`, `cancelled`, `expired`.
    pub state: String,
    /// What to scan next: `id_document`, `payment_card`.
    pub carriers_needed: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub identity: Option<serde_json::Value>,
    pub card: Option<CardFieldsView>,
    /// Per field: confidence and source.
    pub fields: std::collections::BTreeMap<String, FieldSource>,
    pub bank_id: Option<String>,
    /// After a near miss: the fields the user should check and correct.
    pub fields_to_check: Vec<String>,
    /// Why it was rejected (a stable code).
    pub rejection: Option<String>,
    /// The registration code, in the answer that issued it only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_code: Option<String>,
    pub terminal_id: String,
    pub created_at: String,
    pub expires_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegistrationList {
    pub items: Vec<RegistrationView>,
}
