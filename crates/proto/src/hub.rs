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
