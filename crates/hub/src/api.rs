//! The hub's handlers and its OpenAPI document (generated from the types and these annotations).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use scanpay_core::card::Pan;
use scanpay_core::routing::RouteError;
use scanpay_http::{ApiError, Json, Query, now_ms};
use scanpay_proto::hub::{
    BankView, CallerCreated, CallerKind, CallerPage, CardAccountView, CardNumber, CardRangeView,
    CardRoute, CreateCaller, Health, HealthCheck, PayoutAccount,
};
use scanpay_proto::{ErrorBody, ErrorCode, hub};
use scanpay_store::{CallerRow, HubStore, MerchantRow};
use serde::Deserialize;
use utoipa::OpenApi;
use uuid::Uuid;

use crate::auth::{Caller, require_operator};
use crate::connector::ConnectorError;
use crate::{BankConnector, BankLink, Hub};

type ApiResult<T> = Result<T, ApiError>;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "scanpay hub",
        description = "The platform API: callers, card routing, registration by scanning, payments with a registration code, refunds, notifications and settlement. Every error body is `ErrorBody`; see docs/errors.md for the codes."
    ),
    paths(
        healthz, readyz, me, create_caller, list_callers, banks, route_card, lookup_card, metrics,
        crate::registration::sign_up, crate::registration::start, crate::registration::get,
        crate::registration::list, crate::registration::fields, crate::registration::images,
        crate::registration::confirm, crate::registration::sealing_key,
        crate::registration::cancel, crate::registration::revoke, crate::payments::create,
        crate::payments::verify,
        crate::payments::resend, crate::payments::get, crate::payments::list,
        crate::payments::refund, crate::payments::merchants, crate::payments::payees,
        crate::payments::notifications, crate::payments::settlement, crate::webhooks::set,
        crate::webhooks::rotate, crate::webhooks::get, crate::webhooks::deliveries,
        crate::payments::enroll_totp, crate::payments::reset_totp,
        crate::payments::notification_stream
    ),
    components(schemas(
        ErrorBody, CreateCaller, hub::Caller, CallerCreated, CallerKind, CallerPage, CardNumber,
        CardRoute, CardAccountView, BankView, CardRangeView, Health, HealthCheck, hub::SignUp,
        hub::StartRegistration, hub::IdentityInput, hub::CardInput, hub::RegistrationFields,
        hub::CodeChoice, hub::ConfirmRegistration, hub::CardFieldsView, hub::FieldSource,
        hub::RegistrationView, hub::RegistrationList, hub::PayoutAccount, hub::CreatePayment,
        hub::VerifyPayment, hub::CreateRefund, hub::PartyView, hub::NextAction, hub::RefundView,
        hub::PaymentView, hub::PaymentPage, hub::MerchantView, hub::PayeeView,
        hub::NotificationView, hub::NotificationPage, hub::SettlementPosition,
        hub::SettlementReport, hub::ClearingCheck, hub::HeldInClearing, hub::WebhookSetup, hub::WebhookSecretView,
        hub::WebhookView, hub::DeliveryView, hub::TotpEnrollment, hub::EnrollTotp, hub::TotpReset, hub::SealingKeyView
    )),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3.1 document of this API.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub async fn openapi() -> Response {
    Json(openapi_document()).into_response()
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the store and every bank answer.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "ready", body = Health),
    (status = 503, description = "a dependency is down", body = Health),
))]
pub async fn readyz<S: HubStore, B: BankConnector>(State(hub): State<Hub<S, B>>) -> Response {
    let mut checks = Vec::new();
    let store = hub.store.ping().await;
    checks.push(HealthCheck {
        name: "store".to_string(),
        ok: store.is_ok(),
        detail: store.err().map(|e| e.to_string()),
    });
    for (link, bank) in hub.banks.iter() {
        let answer = bank.healthy().await;
        checks.push(HealthCheck {
            name: format!("bank:{}", link.id),
            ok: answer.is_ok(),
            detail: answer.err().map(|e| e.to_string()),
        });
    }
    let ok = checks.iter().all(|c| c.ok);
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let health = Health {
        status: if ok { "ok" } else { "degraded" }.to_string(),
        checks,
    };
    (status, Json(health)).into_response()
}

/// Prometheus metrics (operators only).
#[utoipa::path(get, path = "/metrics", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text format", body = String)))]
pub async fn metrics<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    require_operator(&caller)?;
    if let Some(writer) = hub.store.writer_stats() {
        hub.metrics.set_counters(writer.series());
    }
    Ok((
        [("content-type", "text/plain; version=0.0.4")],
        hub.metrics.render(),
    )
        .into_response())
}

fn caller_view(row: &CallerRow) -> ApiResult<hub::Caller> {
    Ok(hub::Caller {
        id: row.id,
        kind: CallerKind::parse(&row.kind)
            .ok_or_else(|| ApiError::internal("unknown caller kind"))?,
        name: row.name.clone(),
        created_at: scanpay_proto::bank::rfc3339(row.created_at_ms),
    })
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/v1/me", security(("bearer" = [])), responses(
    (status = 200, body = hub::Caller), (status = 401, body = ErrorBody)))]
pub async fn me(Extension(caller): Extension<Caller>) -> Json<hub::Caller> {
    Json(hub::Caller {
        id: caller.id,
        kind: caller.kind,
        name: caller.name,
        created_at: scanpay_proto::bank::rfc3339(caller.created_at_ms),
    })
}

/// A caller's name is at most this long.
const CALLER_NAME_LENGTH_MAX: usize = 128;

/// Issues a token to a new wallet, merchant or operator (operators only). Needs an
/// `Idempotency-Key`: a retry returns the same token.
#[utoipa::path(post, path = "/v1/callers", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "makes the request safe to retry")),
    request_body = CreateCaller,
    responses(
        (status = 201, body = CallerCreated),
        (status = 403, body = ErrorBody),
        (status = 409, description = "idempotency_key_reused", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_caller<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Json(request): Json<CreateCaller>,
) -> ApiResult<Response> {
    require_operator(&caller)?;
    let payout = match &request.payout {
        None => None,
        Some(_) if request.kind != CallerKind::Merchant => {
            return Err(ApiError::new(
                ErrorCode::RequestInvalid,
                "Only a merchant has a payout account.",
            ));
        }
        Some(payout) => Some(checked_payout(&hub, payout).await?),
    };
    let created = create_caller_row(&hub, request.kind, &request.name).await?;
    if let Some((bank_id, account_id)) = payout {
        hub.store
            .insert_merchant(MerchantRow {
                caller_id: created.caller.id,
                name: created.caller.name.clone(),
                bank_id,
                account_id,
                created_at_ms: now_ms(),
                webhook_url: None,
                webhook_secrets: Vec::new(),
            })
            .await
            .map_err(scanpay_http::store_unavailable)?;
    }
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// A payout account must be a customer account at one of the hub's banks.
async fn checked_payout<S: HubStore, B: BankConnector>(
    hub: &Hub<S, B>,
    payout: &PayoutAccount,
) -> ApiResult<(String, Uuid)> {
    let invalid = |why: &str| ApiError::new(ErrorCode::PayoutAccountInvalid, why.to_string());
    let (_, bank) = hub
        .banks
        .iter()
        .find(|(link, _)| link.id == payout.bank_id)
        .ok_or_else(|| invalid("No bank of the hub has that id."))?;
    match bank.account(payout.account_id).await {
        Ok(account) if account.kind == "customer" => {
            Ok((payout.bank_id.clone(), payout.account_id))
        }
        Ok(_) => Err(invalid("A payout account must be a customer account.")),
        Err(ConnectorError::Refused(_)) => Err(invalid("The bank has no account with that id.")),
        Err(error) => Err(connector_error(error)),
    }
}

/// Makes a caller of `kind` and issues its token (shown once; only its hash is stored).
pub async fn create_caller_row<S: HubStore, B>(
    hub: &Hub<S, B>,
    kind: CallerKind,
    name: &str,
) -> ApiResult<CallerCreated> {
    let name = name.trim();
    if name.is_empty() || name.len() > CALLER_NAME_LENGTH_MAX {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            format!("`name` is 1 to {CALLER_NAME_LENGTH_MAX} bytes."),
        ));
    }
    let token = crate::auth::new_token();
    let row = CallerRow {
        id: Uuid::now_v7(),
        kind: kind.code().to_string(),
        name: name.to_string(),
        token_hash: crate::auth::token_hash(&token),
        created_at_ms: now_ms(),
    };
    hub.store
        .insert_caller(row.clone())
        .await
        .map_err(scanpay_http::store_unavailable)?;
    Ok(CallerCreated {
        caller: caller_view(&row)?,
        token,
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// From `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 500; 50 when absent.
    limit: Option<u32>,
}

const CALLERS_PAGE_DEFAULT: u32 = 50;

/// Reads a `created_at_ms`_`id` cursor of a listing.
pub(crate) fn parse_cursor(text: &str) -> ApiResult<(i64, Uuid)> {
    let invalid = || ApiError::new(ErrorCode::CursorInvalid, "The cursor is not one we gave.");
    let (ms, id) = text.split_once('_').ok_or_else(invalid)?;
    Ok((
        ms.parse().map_err(|_| invalid())?,
        id.parse().map_err(|_| invalid())?,
    ))
}

/// Callers, oldest first, a page at a time (operators only).
#[utoipa::path(get, path = "/v1/callers", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = CallerPage), (status = 400, body = ErrorBody)))]
pub async fn list_callers<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<CallerPage>> {
    require_operator(&caller)?;
    let after = page.cursor.as_deref().map(parse_cursor).transpose()?;
    let limit = page
        .limit
        .unwrap_or(CALLERS_PAGE_DEFAULT)
        .clamp(1, scanpay_store::CALLERS_PAGE_MAX);
    let rows = hub
        .store
        .callers(after, limit)
        .await
        .map_err(scanpay_http::store_unavailable)?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| format!("{}_{}", r.created_at_ms, r.id)))
        .flatten();
    Ok(Json(CallerPage {
        items: rows.iter().map(caller_view).collect::<ApiResult<_>>()?,
        next_cursor,
    }))
}

fn bank_view(link: &BankLink) -> BankView {
    BankView {
        id: link.id.clone(),
        name: link.name.clone(),
        url: link.url.clone(),
        ranges: link
            .ranges
            .iter()
            .map(|(low, high)| CardRangeView {
                low: low.clone(),
                high: high.clone(),
            })
            .collect(),
    }
}

/// The banks the hub routes to, with their card ranges (operators only).
#[utoipa::path(get, path = "/v1/banks", security(("bearer" = [])),
    responses((status = 200, body = [BankView])))]
pub async fn banks<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<BankView>>> {
    require_operator(&caller)?;
    Ok(Json(
        hub.banks.iter().map(|(link, _)| bank_view(link)).collect(),
    ))
}

fn parse_pan(text: &str) -> ApiResult<Pan> {
    Pan::parse(text).map_err(|e| {
        let message = match e.code() {
            "card_number_luhn_failed" => {
                "The card number fails its check digit: check it and re-enter it."
            }
            "card_number_length_invalid" => {
                "The card number has the wrong number of digits for its network."
            }
            _ => "A card number has only digits, spaces and hyphens.",
        };
        ApiError::new(
            ErrorCode::parse(e.code()).unwrap_or(ErrorCode::CardNumberInvalid),
            message,
        )
    })
}

/// Finds the bank that issued `pan`.
pub fn route<S, B>(hub: &Hub<S, B>, pan: &Pan) -> ApiResult<usize> {
    match hub.routing.resolve(pan.digits()) {
        Ok(index) => Ok(*index),
        Err(RouteError::Ambiguous) => Err(ApiError::new(
            ErrorCode::CardRangeAmbiguous,
            "More than one bank claims this card's range; the operator must fix the routing table.",
        )),
        Err(_) => Err(ApiError::new(
            ErrorCode::CardRangeUnknown,
            "No bank on this platform issues cards in this range. Check the number or use another card.",
        )),
    }
}

fn card_route(link: &BankLink, pan: &Pan) -> CardRoute {
    CardRoute {
        bank_id: link.id.clone(),
        bank_name: link.name.clone(),
        network: pan.network().map(|n| n.code().to_string()),
        card_masked: pan.masked(),
    }
}

/// Which bank issued a card: Luhn, network and the routing table (longest prefix wins).
#[utoipa::path(post, path = "/v1/cards/route", security(("bearer" = [])), request_body = CardNumber,
    responses(
        (status = 200, body = CardRoute),
        (status = 409, description = "card_range_ambiguous", body = ErrorBody),
        (status = 422, description = "card_number_luhn_failed, card_range_unknown...", body = ErrorBody)))]
pub async fn route_card<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Json(request): Json<CardNumber>,
) -> ApiResult<Json<CardRoute>> {
    let pan = parse_pan(&request.card_number)?;
    let index = route(&hub, &pan)?;
    Ok(Json(card_route(&hub.banks[index].0, &pan)))
}

pub fn connector_error(error: ConnectorError) -> ApiError {
    match error {
        ConnectorError::Refused(body) => {
            // A bank refusing the hub's own credentials is the platform's fault, not the caller's.
            if !crate::connector::is_decision(&body) {
                return ApiError::internal(format!(
                    "bank answered {}: {}",
                    body.code, body.message
                ));
            }
            let code = ErrorCode::parse(&body.code).unwrap_or(ErrorCode::Internal);
            let error = ApiError::new(code, body.message);
            match body.details {
                Some(details) => error.with_details(details),
                None => error,
            }
        }
        ConnectorError::Unavailable(detail) => {
            tracing::warn!(%detail, "bank unavailable");
            ApiError::new(
                ErrorCode::BankUnavailable,
                "The card's bank cannot be reached right now; try again in a moment.",
            )
        }
    }
}

/// The account behind a card, asked of its bank (operators only).
#[utoipa::path(post, path = "/v1/cards/lookup", security(("bearer" = [])), request_body = CardNumber,
    responses(
        (status = 200, body = CardAccountView),
        (status = 404, description = "card_not_found", body = ErrorBody),
        (status = 502, description = "bank_unavailable", body = ErrorBody)))]
pub async fn lookup_card<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    Extension(caller): Extension<Caller>,
    Json(request): Json<CardNumber>,
) -> ApiResult<Json<CardAccountView>> {
    require_operator(&caller)?;
    let pan = parse_pan(&request.card_number)?;
    let index = route(&hub, &pan)?;
    let (link, bank) = &hub.banks[index];
    let account = bank
        .card_account(pan.digits())
        .await
        .map_err(connector_error)?;
    Ok(Json(CardAccountView {
        route: card_route(link, &pan),
        account_id: account.account_id,
        currency: account.currency,
        holder_name: account.card.holder_name,
        expiry_month: account.card.expiry_month,
        expiry_year: account.card.expiry_year,
    }))
}
