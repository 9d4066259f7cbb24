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
    /// A merchant's account, where payments to it are credited. Required to take payments.
    #[serde(default)]
    pub payout: Option<PayoutAccount>,
}

/// An account at one of the hub's banks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutAccount {
    pub bank_id: String,
    pub account_id: Uuid,
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

/// The hub's public key for sealed bodies (`proto::seal`): a wallet encrypts photos and fields
/// to it, so that nothing between the phone and the hub reads them.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SealingKeyView {
    /// `X25519-HKDF-SHA256-AES256GCM`.
    pub algorithm: String,
    /// The X25519 public key, base64url without padding (32 bytes).
    pub public_key: String,
    /// Send sealed bodies with this `content-type`.
    pub media_type: String,
}

/// Starts a registration for the phone `terminal_id` (the phone's stable identifier).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRegistration {
    pub terminal_id: String,
    /// The terminal's own X25519 public key (base64url, 32 bytes). With it, verification codes
    /// for payments with this registration's code reach the wallet sealed to the terminal
    /// (`sealed_verification_code`): only the bound phone reads them, whoever else holds the
    /// wallet's token.
    #[serde(default)]
    pub terminal_public_key: Option<String>,
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
    /// Required, except when confirming with `modify`: absent there, the number read before
    /// stays (a phone shows it masked, so it cannot send it back).
    #[serde(default)]
    pub card_number: Option<String>,
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

/// How the user wants their registration code (seed 000, claims 1 and 8).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CodeChoice {
    /// A unique random 10-digit code (the default).
    Random,
    /// The user's own code: 6 to 32 letters, digits, `-` or `_`, unique on the platform.
    Personalised { code: String },
    /// The user's phone number, in international form (`+` and 8 to 15 digits; spaces, `-`,
    /// `.` and brackets are ignored). A payment sends it as `registration_code`.
    Phone { phone: String },
    /// A user name (3 to 32 letters, digits, `.`, `-` or `_`) and a password (8 to 128
    /// characters). A payment sends the user name as `registration_code` and the `password`;
    /// the hub keeps only the password's argon2id hash.
    Password { username: String, password: String },
}

impl std::fmt::Debug for CodeChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CodeChoice::Random => "Random",
            CodeChoice::Personalised { .. } => "Personalised(..)",
            CodeChoice::Phone { .. } => "Phone(..)",
            CodeChoice::Password { .. } => "Password(..)",
        })
    }
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

#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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

/// Without the identity and the code (a `{:?}` in a log must not hold them).
impl std::fmt::Debug for RegistrationView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationView")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("card", &self.card.as_ref().map(|c| &c.card_masked))
            .field("rejection", &self.rejection)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegistrationList {
    pub items: Vec<RegistrationView>,
}

/// A payment with a registration code (wallets only). Needs an `Idempotency-Key`: the payment's
/// id is derived from it, so a retry never pays twice.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    pub registration_code: String,
    /// The terminal (phone) the request comes from; another than the bound one needs a step-up.
    pub terminal_id: String,
    /// A merchant's or another wallet's caller id (see `GET /v1/merchants`, `GET /v1/payees`).
    pub payee_id: Uuid,
    #[schema(value_type = i64)]
    pub amount_minor: serde_json::Number,
    pub currency: String,
    /// Optional identity check: the number of the ID document registered with the code.
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    /// With a user name as `registration_code` (a `password` code choice): its password.
    #[serde(default)]
    pub password: Option<String>,
    /// For a code whose terminal gave a public key: the terminal's proof that it holds the key
    /// (`proto::seal::SealingKey::proof` with the hub's sealing key over `proof_message`),
    /// base64url. Without it the request counts as coming from another terminal (step-up).
    #[serde(default)]
    pub terminal_proof: Option<String>,
}

impl std::fmt::Debug for CreatePayment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatePayment")
            .field("payee_id", &self.payee_id)
            .field("amount_minor", &self.amount_minor)
            .finish_non_exhaustive()
    }
}

/// The payment sent again with the verification code: the code is good only for the amount,
/// currency and payee it was sent for.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyPayment {
    pub verification_code: String,
    #[schema(value_type = i64)]
    pub amount_minor: serde_json::Number,
    pub currency: String,
    pub payee_id: Uuid,
}

impl std::fmt::Debug for VerifyPayment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyPayment(..)")
    }
}

/// A refund of a payment (the payee or an operator). Without `amount_minor`: all that is left.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub amount_minor: Option<serde_json::Number>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PartyView {
    pub id: Uuid,
    /// `wallet` or `merchant`.
    pub kind: String,
    pub name: String,
    pub bank_id: String,
}

/// What the wallet must do before the payment goes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NextAction {
    /// `verification_code`.
    #[serde(rename = "type")]
    pub action_type: String,
    /// `verification_required` or `step_up_required` (another terminal than the bound one).
    pub reason: String,
    /// Where the code went: the notification stream of the terminal the code is bound to.
    pub sent_to: String,
    pub code_expires_at: String,
    pub tries_left: u32,
    /// A new code may be asked for from then on (`POST …/resend`), if any are left.
    pub resend_after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefundView {
    pub id: Uuid,
    /// `processing`, `succeeded`, `failed`.
    pub status: String,
    pub amount_minor: i64,
    pub failure_code: Option<String>,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    pub id: Uuid,
    /// `requires_verification`, `processing`, `succeeded`, `failed`, `blocked`, `expired`.
    pub status: String,
    /// Why it failed, was blocked or expired (a stable code).
    pub failure_code: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub payer: PartyView,
    pub payee: PartyView,
    pub reference: Option<String>,
    pub next_action: Option<NextAction>,
    /// Between customers of two banks (settled through clearing accounts).
    pub interbank: bool,
    /// Went through without a code, under the low-value exemption.
    pub exempted: bool,
    pub refunded_minor: i64,
    pub refundable_minor: i64,
    pub refunds: Vec<RefundView>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentPage {
    pub items: Vec<PaymentView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MerchantView {
    pub id: Uuid,
    pub name: String,
    pub bank_id: String,
}

/// A payee from the wallet's records, for the payment flow guide: pay again in one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PayeeView {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub last_amount_minor: i64,
    pub currency: String,
    pub last_paid_at: String,
    pub payments: u32,
}

/// A message to a caller: a verification code for its terminal, or a payment's outcome.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    pub seq: i64,
    /// `verification_code`, `payment_succeeded`, `payment_failed`, `payment_received`,
    /// `refund_succeeded`, `refund_failed`.
    pub kind: String,
    pub message: String,
    pub payment_id: Option<Uuid>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    /// For `verification_code` only, when the bound terminal gave no public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_code: Option<String>,
    /// For `verification_code` only, when the bound terminal gave a public key: the code sealed
    /// to it (`proto::seal`, associated data `verification_code_aad(payment_id)`), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_verification_code: Option<String>,
    pub created_at: String,
}

impl std::fmt::Debug for NotificationView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationView")
            .field("seq", &self.seq)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationPage {
    pub items: Vec<NotificationView>,
    /// Pass as `after` to get what comes next.
    pub next_after: i64,
}

/// One bank's interbank position for a day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SettlementPosition {
    pub bank_id: String,
    pub currency: String,
    /// What its customers paid to other banks' customers (refunds to them included).
    pub paid_out_minor: i64,
    pub received_minor: i64,
    /// Positive: the bank owes the others this much.
    pub net_minor: i64,
}

/// Each bank's net position for a day, and whether the books of hub and banks agree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SettlementReport {
    /// `YYYY-MM-DD` (UTC): payments created that day.
    pub date: String,
    pub positions: Vec<SettlementPosition>,
    /// The nets sum to this: always 0.
    pub net_total_minor: i64,
    /// Per bank: its clearing account's balance against the hub's record of every interbank leg
    /// ever completed at that bank.
    pub reconciliation: Vec<ClearingCheck>,
    pub reconciled: bool,
    /// Money left in a clearing account because a bank refused to give it back (a reversal of a
    /// payment or of a refund between banks was refused), of any day: the hub does not move it
    /// again on its own; an operator must. Usually empty.
    #[serde(default)]
    pub held: Vec<HeldInClearing>,
}

/// Money held in one bank's clearing account after a refused reversal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HeldInClearing {
    pub payment_id: Uuid,
    /// Absent: the payment's own reversal (owed to the payer); else that refund's (owed to the
    /// payee).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<Uuid>,
    /// The bank whose clearing account holds it.
    pub bank_id: String,
    pub currency: String,
    pub amount_minor: i64,
    /// The caller the money belongs to.
    pub owed_to: Uuid,
    /// The bank's refusal of the reversal.
    pub code: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClearingCheck {
    pub bank_id: String,
    pub currency: String,
    pub clearing_balance_minor: i64,
    pub expected_balance_minor: i64,
    pub agrees: bool,
}

/// Sets where a merchant's webhooks go (merchants only). A new signing secret is made and shown
/// once; it replaces earlier ones.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSetup {
    /// `https://…` or `http://…`.
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookSecretView {
    pub created_at: String,
    /// Set on a secret that a rotation replaced: it still signs until then.
    pub expires_at: Option<String>,
}

#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    pub url: Option<String>,
    /// The new signing secret (`whsec_…`), in the answer that made it only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub secrets: Vec<WebhookSecretView>,
}

impl std::fmt::Debug for WebhookView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookView")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// One webhook event and how its delivery went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    /// Also the event's id (`id` in the body, `scanpay-event-id` header).
    pub id: Uuid,
    pub event_type: String,
    /// `pending`, `delivered`, `failed` (given up after three days).
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Asks for a TOTP seed. A wallet that has one already proves it holds it: a token alone (a
/// stolen one, say) cannot swap in an authenticator of its own.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollTotp {
    /// A code of the current authenticator; required when the wallet has one.
    #[serde(default)]
    pub current_code: Option<String>,
}

impl std::fmt::Debug for EnrollTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrollTotp(..)")
    }
}

/// An operator's reset of a wallet's authenticator (the user lost it): the wallet may enroll a
/// new one without a code of the old, and until then gets its verification codes sent.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpReset {
    /// Whether the wallet had an authenticator (false: nothing was reset; safe to repeat).
    pub had_authenticator: bool,
}

/// A TOTP seed for the wallet's authenticator (RFC 6238: SHA-1, 6 digits, 30 s). Shown once; a
/// payment's verification then accepts the authenticator's code instead of the sent one, except
/// for a step-up (a payment from another terminal), which only the code sent to the bound
/// terminal answers.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct TotpEnrollment {
    /// Base32 (RFC 4648, no padding).
    pub secret: String,
    /// `otpauth://totp/…` for authenticator apps.
    pub otpauth_uri: String,
    pub algorithm: String,
    pub digits: u32,
    pub period: u32,
}

impl std::fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrollment(..)")
    }
}
