//! The bank's handlers. Each reads as a script: decode → load → decide → commit → respond.

use crate::batcher::Queued;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use scanpay_core::card::Pan;
use scanpay_core::ledger::{Decision, Outcome, Transfer, TransferCommand, TransferKind};
use scanpay_core::money::Currency;
use scanpay_http::{ApiError, Json, Path, Query, now_ms};
use scanpay_proto::ErrorCode;
use scanpay_proto::bank::{
    AccountView, BindRequest, Binding, BindingsRevoked, CardAccount, CardNumberRequest, CardView,
    ClearingTransferRequest, CreateAccount, CreateCard, CreateCustomer, Customer, LedgerTotalsView,
    PAYMENTS_PER_BATCH_MAX, PaymentDebitBatch, PaymentDebitBatchResult, PaymentDebitOutcome,
    PaymentDebitRequest, RevokeBindings, SavedIdentity, StatementLineView, StatementPage,
    TransferBatchRequest, TransferBatchResponse, TransferRequest, TransferResult, TransferView,
    VerifyBindingRequest, amount_minor, rfc3339,
};
use scanpay_proto::signing;
use scanpay_store::vault::Purpose;
use scanpay_store::{
    AccountKind, AccountRow, BankStore, BindingRow, CardRow, CustomerRow, Record, StoreError,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{Bank, TRANSFERS_PER_REQUEST_MAX};

type ApiResult<T> = Result<T, ApiError>;

fn store_error(error: StoreError) -> ApiError {
    scanpay_http::store_unavailable(error)
}

fn code_error(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(
        ErrorCode::parse(code).unwrap_or(ErrorCode::RequestInvalid),
        message,
    )
}

/// Refuses every `/v1` request that the hub did not sign with this bank's secret.
pub async fn authenticate<S: BankStore>(
    State(bank): State<Bank<S>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, crate::BODY_BYTES_MAX).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(ErrorCode::PayloadTooLarge, "The body is too large.")
                .into_response();
        }
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    if let Err(error) = signing::verify(
        &bank.config.hub_secret,
        header(signing::HEADER_TIMESTAMP),
        header(signing::HEADER_SIGNATURE),
        parts.method.as_str(),
        path,
        &bytes,
        now_ms() / 1000,
    ) {
        return ApiError::new(
            ErrorCode::SignatureInvalid,
            format!("Only the hub may call this bank: {error}."),
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz<S: BankStore>(State(bank): State<Bank<S>>) -> Response {
    match bank.store.customer_count().await {
        Ok(_) => "ready".into_response(),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            ApiError::new(
                ErrorCode::StoreUnavailable,
                "The bank's database is not reachable.",
            )
            .into_response()
        }
    }
}

/// Prometheus text. Only what is counted as it happens: the ledger's totals are a scan of every
/// account and transfer, for the auditor to ask for (`/v1/ledger/totals`), not for every scrape.
pub async fn metrics<S: BankStore>(State(bank): State<Bank<S>>) -> Response {
    if let Some(writer) = bank.store.writer_stats() {
        bank.metrics.set_counters(writer.series());
    }
    (
        [("content-type", "text/plain; version=0.0.4")],
        bank.metrics.render(),
    )
        .into_response()
}

fn customer_view(bank: &Bank<impl BankStore>, row: &CustomerRow) -> ApiResult<Customer> {
    let number = bank
        .vault
        .open(Purpose::IdNumber, row.id, &row.id_number_ciphertext)
        .map_err(ApiError::internal)?;
    Ok(Customer {
        id: row.id,
        full_name: row.full_name.clone(),
        id_document_type: row.id_document_type.clone(),
        id_document_number_masked: scanpay_core::matching::masked_number(&String::from_utf8_lossy(
            &number,
        )),
        birth_date: row.birth_date.clone(),
        address: row.address.clone(),
        phone: row.phone.clone(),
        created_at: rfc3339(row.created_at_ms),
    })
}

const ID_DOCUMENT_TYPES: [&str; 3] = ["passport", "id_card", "driver_license"];
/// Names, addresses and document numbers are at most this long.
const TEXT_LENGTH_MAX: usize = 256;

fn check_text(field: &str, value: &str, required: bool) -> ApiResult<()> {
    if required && value.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            format!("`{field}` is required."),
        ));
    }
    if value.len() > TEXT_LENGTH_MAX {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            format!("`{field}` is longer than {TEXT_LENGTH_MAX} bytes."),
        ));
    }
    Ok(())
}

/// Builds the row for a new customer, encrypting the ID number. Also used by seeding.
pub fn customer_row(
    vault: &crate::Vault,
    request: &CreateCustomer,
    now_ms: i64,
) -> ApiResult<CustomerRow> {
    check_text("full_name", &request.full_name, true)?;
    check_text("id_document_number", &request.id_document_number, true)?;
    check_text("address", &request.address, false)?;
    check_text("phone", &request.phone, false)?;
    if !ID_DOCUMENT_TYPES.contains(&request.id_document_type.as_str()) {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            "`id_document_type` must be passport, id_card or driver_license.",
        ));
    }
    if time::Date::parse(
        &request.birth_date,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .is_err()
    {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            "`birth_date` must be a date as YYYY-MM-DD.",
        ));
    }
    let id = request.id.unwrap_or_else(Uuid::now_v7);
    let number = request.id_document_number.trim();
    Ok(CustomerRow {
        id,
        full_name: request.full_name.trim().to_string(),
        id_document_type: request.id_document_type.clone(),
        id_number_ciphertext: vault.seal(Purpose::IdNumber, id, number.as_bytes()),
        id_number_lookup: vault.lookup(Purpose::IdNumber.name(), number),
        birth_date: request.birth_date.clone(),
        address: request.address.clone(),
        phone: request.phone.clone(),
        created_at_ms: now_ms,
    })
}

/// The answer to a create whose id names another record already.
fn taken_id(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ExistsWithDifferentFields,
        format!("A {what} with this id exists with other fields; use a new id."),
    )
}

pub async fn create_customer<S: BankStore>(
    State(bank): State<Bank<S>>,
    Json(request): Json<CreateCustomer>,
) -> ApiResult<Response> {
    let row = customer_row(&bank.vault, &request, now_ms())?;
    let id = row.id;
    let asked = row.clone();
    let inserted = bank.store.insert_records(vec![Record::Customer(row)]).await;
    if let Err(error @ (StoreError::Database(_) | StoreError::Abandoned(_))) = inserted {
        return Err(store_error(error));
    }
    let row = bank
        .store
        .customer(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::internal("customer vanished after insert"))?;
    match inserted {
        Ok(()) => {}
        // A retry with the same id is answered with the customer; another customer under an id
        // already taken is refused, as a transfer's would be.
        Err(StoreError::Duplicate(_))
            if (
                &row.full_name,
                &row.id_document_type,
                &row.id_number_lookup,
                &row.birth_date,
            ) == (
                &asked.full_name,
                &asked.id_document_type,
                &asked.id_number_lookup,
                &asked.birth_date,
            ) => {}
        Err(StoreError::Duplicate(_)) => return Err(taken_id("customer")),
        Err(error) => return Err(store_error(error)),
    }
    Ok((StatusCode::CREATED, Json(customer_view(&bank, &row)?)).into_response())
}

fn account_view(row: &AccountRow) -> AccountView {
    let a = &row.account;
    AccountView {
        id: a.id,
        kind: row.kind.code().to_string(),
        customer_id: row.customer_id,
        currency: a.currency.code().to_string(),
        balance_minor: a.balance_minor(),
        available_minor: a.available_minor(),
        overdraft_limit_minor: a.overdraft_limit_minor,
        debits_pending_minor: a.debits_pending,
        debits_posted_minor: a.debits_posted,
        credits_pending_minor: a.credits_pending,
        credits_posted_minor: a.credits_posted,
        created_at: rfc3339(row.created_at_ms),
        closed_at: a.closed_at_ms.map(rfc3339),
    }
}

fn parse_currency(text: &str) -> ApiResult<Currency> {
    Currency::parse(text).map_err(|e| {
        code_error(
            e.code(),
            format!("`{text}` is not a currency we support (ISO 4217, e.g. USD)."),
        )
    })
}

pub async fn create_account<S: BankStore>(
    State(bank): State<Bank<S>>,
    Json(request): Json<CreateAccount>,
) -> ApiResult<Response> {
    let currency = parse_currency(&request.currency)?;
    let overdraft = match &request.overdraft_limit_minor {
        None => 0,
        Some(n) => match n.as_i64() {
            Some(0) => 0,
            _ => amount_minor(n).map_err(|code| {
                ApiError::new(
                    code,
                    "`overdraft_limit_minor` must be 0 or a positive amount.",
                )
            })?,
        },
    };
    if bank
        .store
        .customer(request.customer_id)
        .await
        .map_err(store_error)?
        .is_none()
    {
        return Err(ApiError::new(
            ErrorCode::CustomerNotFound,
            "No customer has that id.",
        ));
    }
    let id = request.id.unwrap_or_else(Uuid::now_v7);
    let row = AccountRow {
        account: scanpay_core::ledger::Account::new(id, currency, Some(overdraft)),
        kind: AccountKind::Customer,
        customer_id: Some(request.customer_id),
        created_at_ms: now_ms(),
    };
    let inserted = bank.store.insert_records(vec![Record::Account(row)]).await;
    if let Err(error @ (StoreError::Database(_) | StoreError::Abandoned(_))) = inserted {
        return Err(store_error(error));
    }
    let row = bank.store.account(id).await.map_err(store_error)?;
    let row = row.ok_or_else(|| ApiError::internal("account vanished after insert"))?;
    match inserted {
        Ok(()) => {}
        Err(StoreError::Duplicate(_))
            if row.customer_id == Some(request.customer_id)
                && row.account.currency == currency
                && row.account.overdraft_limit_minor == Some(overdraft) => {}
        Err(StoreError::Duplicate(_)) => return Err(taken_id("account")),
        Err(error) => return Err(store_error(error)),
    }
    Ok((StatusCode::CREATED, Json(account_view(&row))).into_response())
}

/// The bank keeps a handful of own accounts (one funding and one clearing account a currency).
const BANK_ACCOUNTS_LISTED_MAX: u32 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindQuery {
    kind: String,
}

/// The bank's own accounts of one kind (`funding` or `clearing`); customers' accounts are not
/// listed.
pub async fn bank_accounts<S: BankStore>(
    State(bank): State<Bank<S>>,
    Query(query): Query<KindQuery>,
) -> ApiResult<Json<Vec<AccountView>>> {
    let kind = match AccountKind::parse(&query.kind) {
        Some(kind @ (AccountKind::Funding | AccountKind::Clearing)) => kind,
        _ => {
            return Err(ApiError::new(
                ErrorCode::RequestInvalid,
                "`kind` must be funding or clearing.",
            ));
        }
    };
    let rows = bank
        .store
        .accounts_of_kind(kind, BANK_ACCOUNTS_LISTED_MAX)
        .await
        .map_err(store_error)?;
    Ok(Json(rows.iter().map(account_view).collect()))
}

/// The account `id`, open or closed.
async fn account_row<S: BankStore>(bank: &Bank<S>, id: Uuid) -> ApiResult<AccountRow> {
    let row = bank.store.account(id).await.map_err(store_error)?;
    row.ok_or_else(|| ApiError::new(ErrorCode::AccountNotFound, "No account has that id."))
}

/// The account `id` for a new card or binding: it must exist and be open. (A close may still
/// commit between this read and the insert; the card or binding then exists on a closed
/// account, where the ledger refuses every transfer, so nothing can be paid with it.)
async fn open_account<S: BankStore>(bank: &Bank<S>, id: Uuid) -> ApiResult<AccountRow> {
    let row = account_row(bank, id).await?;
    refuse_closed(&row)?;
    Ok(row)
}

fn refuse_closed(row: &AccountRow) -> ApiResult<()> {
    match row.account.closed_at_ms {
        Some(_) => Err(ApiError::new(
            ErrorCode::AccountClosed,
            "This account is closed.",
        )),
        None => Ok(()),
    }
}

pub async fn account<S: BankStore>(
    State(bank): State<Bank<S>>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<AccountView>> {
    Ok(Json(account_view(&account_row(&bank, id).await?)))
}

/// Closes a customer's account, which must be empty (no balance, no holds: move the money out
/// first). The close is a ledger command, decided in order with the transfers around it, so no
/// transfer commits on the account after it. Closing is final and idempotent: closing a closed
/// account answers as the first close did. Its cards and bindings stay, and pay nothing.
pub async fn close_account<S: BankStore>(
    State(bank): State<Bank<S>>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<AccountView>> {
    let row = account_row(&bank, id).await?;
    if row.kind != AccountKind::Customer {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            "Only a customer's account can be closed; the bank's own accounts stay open.",
        ));
    }
    // Closing is final, so a close read is a close: answered without another ledger command
    // (each would be recorded as a refused transfer).
    if row.account.closed_at_ms.is_some() {
        return Ok(Json(account_view(&row)));
    }
    // A new id each time: a refused close is recorded under its id, and a later close (once the
    // account is empty) must be decided afresh. A close of a closed account is refused as
    // `debit_account_closed`, which here means done.
    let command = TransferCommand {
        id: Uuid::now_v7(),
        kind: TransferKind::CloseAccount,
        debit_account_id: Some(id),
        credit_account_id: None,
        amount_minor: None,
        currency: row.account.currency,
        pending_id: None,
        timeout_seconds: None,
        reference: None,
    };
    let decision = submit(&bank, vec![command]).await?.remove(0);
    match decision.outcome {
        Outcome::Created | Outcome::DebitAccountClosed => {}
        Outcome::AccountNotEmpty => {
            let a = &row.account;
            return Err(ApiError::new(
                ErrorCode::AccountNotEmpty,
                "The account still holds money or has holds; move the money out, then close it.",
            )
            .with_details(serde_json::json!({
                "balance_minor": a.balance_minor(),
                "debits_pending_minor": a.debits_pending,
                "credits_pending_minor": a.credits_pending,
            })));
        }
        _ => {
            decided(&decision)?;
        }
    }
    Ok(Json(account_view(&account_row(&bank, id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

/// Statement pages hold this many lines unless the caller asks for fewer or more (up to the max).
const STATEMENT_PAGE_DEFAULT: u32 = 100;

fn side_of(account_id: Uuid, transfer: &Transfer) -> &'static str {
    if transfer.debit_account_id == Some(account_id) {
        "debit"
    } else {
        "credit"
    }
}

pub async fn statement<S: BankStore>(
    State(bank): State<Bank<S>>,
    Path(id): Path<Uuid>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<StatementPage>> {
    let after_seq = match page.cursor.as_deref() {
        None => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|seq| *seq >= 0)
            .ok_or_else(|| {
                ApiError::new(ErrorCode::CursorInvalid, "The cursor is not one we gave.")
            })?,
    };
    let limit = page
        .limit
        .unwrap_or(STATEMENT_PAGE_DEFAULT)
        .clamp(1, scanpay_store::STATEMENT_PAGE_MAX);
    if bank.store.account(id).await.map_err(store_error)?.is_none() {
        return Err(ApiError::new(
            ErrorCode::AccountNotFound,
            "No account has that id.",
        ));
    }
    let lines = bank
        .store
        .statement(id, after_seq, limit)
        .await
        .map_err(store_error)?;
    let next_cursor = (lines.len() == limit as usize)
        .then(|| lines.last().map(|l| l.seq.to_string()))
        .flatten();
    Ok(Json(StatementPage {
        lines: lines
            .iter()
            .map(|line| StatementLineView {
                side: side_of(id, &line.transfer).to_string(),
                transfer: transfer_view(&line.transfer),
            })
            .collect(),
        next_cursor,
    }))
}

fn parse_pan(text: &str) -> ApiResult<Pan> {
    Pan::parse(text).map_err(|e| {
        let message = match e.code() {
            "card_number_luhn_failed" => {
                "The card number fails its check digit: check it and re-enter."
            }
            "card_number_length_invalid" => "The card number has the wrong number of digits.",
            _ => "A card number has only digits, spaces and hyphens.",
        };
        code_error(e.code(), message)
    })
}

fn card_view(row: &CardRow) -> CardView {
    CardView {
        id: row.id,
        account_id: row.account_id,
        card_masked: format!("•••• {}", row.last4),
        last4: row.last4.clone(),
        network: row.network.clone(),
        expiry_month: row.expiry_month,
        expiry_year: row.expiry_year,
        holder_name: row.holder_name.clone(),
    }
}

/// Builds the row for a new card, encrypting its number. Also used by seeding.
pub fn card_row(
    vault: &crate::Vault,
    ranges: &scanpay_core::routing::RoutingTable<()>,
    request: &CreateCard,
    now_ms: i64,
) -> ApiResult<CardRow> {
    let pan = parse_pan(&request.card_number)?;
    if ranges.resolve(pan.digits()).is_err() {
        return Err(ApiError::new(
            ErrorCode::CardRangeUnknown,
            "The card number is outside the ranges this bank issues in.",
        ));
    }
    if !(1..=12).contains(&request.expiry_month) || !(2000..=2099).contains(&request.expiry_year) {
        return Err(ApiError::new(
            ErrorCode::CardExpiryInvalid,
            "The expiry must be a month 1–12 and a four-digit year.",
        ));
    }
    check_text("holder_name", &request.holder_name, true)?;
    let id = request.id.unwrap_or_else(Uuid::now_v7);
    Ok(CardRow {
        id,
        account_id: request.account_id,
        pan_ciphertext: vault.seal(Purpose::CardNumber, id, pan.digits().as_bytes()),
        pan_lookup: vault.lookup(Purpose::CardNumber.name(), pan.digits()),
        last4: pan.last4().to_string(),
        expiry_month: request.expiry_month,
        expiry_year: request.expiry_year,
        holder_name: request.holder_name.trim().to_string(),
        network: pan
            .network()
            .map(|n| n.code())
            .unwrap_or("unknown")
            .to_string(),
        created_at_ms: now_ms,
    })
}

pub async fn create_card<S: BankStore>(
    State(bank): State<Bank<S>>,
    Json(request): Json<CreateCard>,
) -> ApiResult<Response> {
    let row = card_row(&bank.vault, &bank.ranges, &request, now_ms())?;
    open_account(&bank, request.account_id).await?;
    let view = card_view(&row);
    match bank.store.insert_records(vec![Record::Card(row)]).await {
        Ok(()) => Ok((StatusCode::CREATED, Json(view)).into_response()),
        Err(StoreError::Duplicate(_)) => Err(ApiError::new(
            ErrorCode::CardAlreadyExists,
            "This card number is already issued.",
        )),
        Err(error) => Err(store_error(error)),
    }
}

async fn find_card<S: BankStore>(bank: &Bank<S>, card_number: &str) -> ApiResult<CardRow> {
    let pan = parse_pan(card_number)?;
    let lookup = bank.vault.lookup(Purpose::CardNumber.name(), pan.digits());
    bank.store
        .card_by_lookup(lookup)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::CardNotFound,
                "This bank has no card with that number.",
            )
        })
}

pub async fn card_lookup<S: BankStore>(
    State(bank): State<Bank<S>>,
    Json(request): Json<CardNumberRequest>,
) -> ApiResult<Json<CardAccount>> {
    let card = find_card(&bank, &request.card_number).await?;
    let account = bank
        .store
        .account(card.account_id)
        .await
        .map_err(store_error)?;
    let account = account.ok_or_else(|| ApiError::internal("card without account"))?;
    // A hub looks a card up to register it: a card whose account closed registers no more.
    refuse_closed(&account)?;
    Ok(Json(CardAccount {
        card: card_view(&card),
        account_id: card.account_id,
        customer_id: account.customer_id,
        currency: account.account.currency.code().to_string(),
    }))
}

pub async fn card_identity<S: BankStore>(
    State(bank): State<Bank<S>>,
    Json(request): Json<CardNumberRequest>,
) -> ApiResult<Json<SavedIdentity>> {
    let card = find_card(&bank, &request.card_number).await?;
    let account = bank
        .store
        .account(card.account_id)
        .await
        .map_err(store_error)?;
    if let Some(account) = &account {
        refuse_closed(account)?;
    }
    let customer_id = account
        .and_then(|a| a.customer_id)
        .ok_or_else(|| ApiError::new(ErrorCode::CustomerNotFound, "The card has no customer."))?;
    let customer = bank
        .store
        .customer(customer_id)
        .await
        .map_err(store_error)?;
    let customer = customer.ok_or_else(|| ApiError::internal("account without customer"))?;
    let number = bank
        .vault
        .open(
            Purpose::IdNumber,
            customer.id,
            &customer.id_number_ciphertext,
        )
        .map_err(ApiError::internal)?;
    Ok(Json(SavedIdentity {
        customer_id,
        full_name: customer.full_name,
        id_document_type: customer.id_document_type,
        id_document_number: String::from_utf8_lossy(&number).into_owned(),
        birth_date: customer.birth_date,
        address: customer.address,
        phone: customer.phone,
    }))
}

/// Terminal identifiers are opaque to the bank but bounded.
const TERMINAL_ID_LENGTH_MAX: usize = 128;

fn check_code_and_terminal(code: &str, terminal_id: &str) -> ApiResult<()> {
    if code.is_empty() || code.len() > TEXT_LENGTH_MAX {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            format!("`registration_code` is required and at most {TEXT_LENGTH_MAX} bytes."),
        ));
    }
    if terminal_id.is_empty() || terminal_id.len() > TERMINAL_ID_LENGTH_MAX {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            format!("`terminal_id` is required and at most {TERMINAL_ID_LENGTH_MAX} bytes."),
        ));
    }
    Ok(())
}

pub async fn bind<S: BankStore>(
    State(bank): State<Bank<S>>,
    Json(request): Json<BindRequest>,
) -> ApiResult<Response> {
    check_code_and_terminal(&request.registration_code, &request.terminal_id)?;
    open_account(&bank, request.account_id).await?;
    let code_hash = bank
        .vault
        .lookup("registration_code", &request.registration_code);
    let row = BindingRow {
        code_hash: code_hash.clone(),
        terminal_id: request.terminal_id.clone(),
        account_id: request.account_id,
        registration_id: request.registration_id,
        created_at_ms: now_ms(),
    };
    match bank.store.insert_binding(row).await {
        Ok(()) => {}
        Err(StoreError::Duplicate(_)) => {
            // A replay of the same binding succeeds; a different one is refused — also one for
            // another registration (the earlier one's revocation has not reached this bank yet):
            // else revoking the new registration would leave the binding in place.
            let existing = bank.store.binding(code_hash).await.map_err(store_error)?;
            match existing {
                Some(b)
                    if b.terminal_id == request.terminal_id
                        && b.account_id == request.account_id
                        && b.registration_id == request.registration_id => {}
                _ => {
                    return Err(ApiError::new(
                        ErrorCode::RegistrationCodeAlreadyBound,
                        "This registration code is already bound.",
                    ));
                }
            }
        }
        Err(error) => return Err(store_error(error)),
    }
    let binding = bank
        .store
        .binding(
            bank.vault
                .lookup("registration_code", &request.registration_code),
        )
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::internal("binding vanished after insert"))?;
    Ok((
        StatusCode::CREATED,
        Json(Binding {
            account_id: binding.account_id,
            terminal_id: binding.terminal_id,
            created_at: rfc3339(binding.created_at_ms),
        }),
    )
        .into_response())
}

/// Revokes the bindings of a hub registration: the code stops paying at once. Repeating it
/// revokes nothing more and still succeeds.
pub async fn revoke_bindings<S: BankStore>(
    State(bank): State<Bank<S>>,
    Json(request): Json<RevokeBindings>,
) -> ApiResult<Json<BindingsRevoked>> {
    // Exclusive: no payment is between its binding read and its place in the batcher's queue.
    let gate = bank.bindings_gate.write().await;
    let revoked = bank
        .store
        .revoke_bindings(request.registration_id)
        .await
        .map_err(store_error)?;
    drop(gate);
    // Payments whose binding was read before the revocation are queued; they may still wait to
    // commit: answer once they have, so that nothing is debited with the code after "revoked".
    bank.batcher.settle().await.map_err(submit_error)?;
    tracing::info!(registration_id = %request.registration_id, revoked, "bindings revoked");
    Ok(Json(BindingsRevoked { revoked }))
}

pub async fn verify_binding<S: BankStore>(
    State(bank): State<Bank<S>>,
    Json(request): Json<VerifyBindingRequest>,
) -> ApiResult<Json<Binding>> {
    check_code_and_terminal(&request.registration_code, &request.terminal_id)?;
    let code_hash = bank
        .vault
        .lookup("registration_code", &request.registration_code);
    let binding = bank.store.binding(code_hash).await.map_err(store_error)?;
    let binding = binding.ok_or_else(|| {
        ApiError::new(
            ErrorCode::RegistrationCodeUnknown,
            "This registration code is not bound here.",
        )
    })?;
    if binding.terminal_id != request.terminal_id {
        return Err(ApiError::new(
            ErrorCode::TerminalMismatch,
            "This registration code is bound to another terminal.",
        ));
    }
    Ok(Json(Binding {
        account_id: binding.account_id,
        terminal_id: binding.terminal_id,
        created_at: rfc3339(binding.created_at_ms),
    }))
}

/// Turns a request into a ledger command, refusing what is malformed before it reaches the
/// ledger (nothing is recorded for those).
fn transfer_command(request: &TransferRequest) -> ApiResult<TransferCommand> {
    let kind = match request.kind.as_deref() {
        None => TransferKind::Single,
        Some(code) => TransferKind::parse(code)
            .filter(|kind| *kind != TransferKind::CloseAccount)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::RequestInvalid,
                    "`kind` must be single, pending, post_pending or void_pending \
                     (accounts close with `POST /v1/accounts/{id}/close`).",
                )
            })?,
    };
    let amount = match &request.amount_minor {
        None => None,
        Some(number) => Some(amount_minor(number).map_err(|code| {
            ApiError::new(
                code,
                "`amount_minor` must be a whole positive number of minor units, at most 10^15.",
            )
        })?),
    };
    if request
        .reference
        .as_ref()
        .is_some_and(|r| r.chars().any(char::is_control))
    {
        // PostgreSQL text refuses NUL; one such command would fail its whole group commit.
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            "`reference` may not hold control characters.",
        ));
    }
    Ok(TransferCommand {
        id: request.id,
        kind,
        debit_account_id: request.debit_account_id,
        credit_account_id: request.credit_account_id,
        amount_minor: amount,
        currency: parse_currency(&request.currency)?,
        pending_id: request.pending_id,
        timeout_seconds: request.timeout_seconds,
        reference: request.reference.clone(),
    })
}

fn transfer_view(t: &Transfer) -> TransferView {
    TransferView {
        id: t.id,
        kind: t.kind.code().to_string(),
        debit_account_id: t.debit_account_id,
        credit_account_id: t.credit_account_id,
        amount_minor: t.amount_minor,
        currency: t.currency.code().to_string(),
        pending_id: t.pending_id,
        hold_state: t.hold_state.map(|s| s.code().to_string()),
        expires_at: t.expires_at_ms.map(rfc3339),
        reference: t.reference.clone(),
        outcome: t.outcome.code().to_string(),
        created_at: rfc3339(t.created_at_ms),
    }
}

/// A replay answers with the original outcome; a new decision with its own.
fn final_outcome(decision: &Decision) -> Outcome {
    if decision.outcome == Outcome::Exists {
        decision.transfer.outcome
    } else {
        decision.outcome
    }
}

fn transfer_result(decision: &Decision) -> TransferResult {
    TransferResult {
        outcome: final_outcome(decision).code().to_string(),
        replayed: decision.outcome == Outcome::Exists,
        transfer: transfer_view(&decision.transfer),
    }
}

fn submit_error(error: crate::batcher::SubmitError) -> ApiError {
    match error {
        crate::batcher::SubmitError::Closed => {
            ApiError::new(ErrorCode::ShuttingDown, "The bank is shutting down; retry.")
        }
        // The store's error is logged there; the caller learns only that it may retry.
        crate::batcher::SubmitError::Store(text) => scanpay_http::store_unavailable(text),
    }
}

async fn submit<S: BankStore>(
    bank: &Bank<S>,
    commands: Vec<TransferCommand>,
) -> ApiResult<Vec<Decision>> {
    let queued = bank.batcher.enqueue(commands).await.map_err(submit_error)?;
    committed(bank, queued).await
}

/// The decisions on queued commands, once committed, counted.
async fn committed<S: BankStore>(bank: &Bank<S>, queued: Queued) -> ApiResult<Vec<Decision>> {
    let decisions = queued.decisions().await.map_err(submit_error)?;
    for decision in &decisions {
        bank.metrics.count(
            "ledger_transfers_total",
            &[("outcome", final_outcome(decision).code())],
            1,
        );
    }
    Ok(decisions)
}

/// One transfer. 201 when applied, 200 for a replay of an applied one; a rejection (recorded,
/// so a retry gets it again) is an error answer with the rule's code and the transfer in
/// `details`.
pub async fn transfer<S: BankStore>(
    State(bank): State<Bank<S>>,
    Json(request): Json<TransferRequest>,
) -> ApiResult<Response> {
    let command = transfer_command(&request)?;
    submit_one(&bank, command).await
}

/// Decides one command and answers as [`transfer`] does.
async fn submit_one<S: BankStore>(bank: &Bank<S>, command: TransferCommand) -> ApiResult<Response> {
    answer_one(submit(bank, vec![command]).await?)
}

/// One decision as [`transfer`] answers it.
fn answer_one(decisions: Vec<Decision>) -> ApiResult<Response> {
    let result = decided(&decisions[0])?;
    let status = if result.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(result)).into_response())
}

/// A decision as the answer to its request: the transfer when it was applied (now or before),
/// else an error with the rule's code and the transfer in `details`.
fn decided(decision: &Decision) -> ApiResult<TransferResult> {
    let result = transfer_result(decision);
    if result.outcome == "created" {
        return Ok(result);
    }
    let code = match result.outcome.as_str() {
        "exists_with_different_fields" => ErrorCode::ExistsWithDifferentFields,
        "insufficient_funds" => ErrorCode::InsufficientFunds,
        "debit_account_closed" | "credit_account_closed" => ErrorCode::AccountClosed,
        _ => ErrorCode::TransferRejected,
    };
    let message = match code {
        ErrorCode::ExistsWithDifferentFields => {
            "A transfer with this id exists with other fields; use a new id.".to_string()
        }
        ErrorCode::InsufficientFunds => "The debit account cannot cover this amount.".to_string(),
        ErrorCode::AccountClosed if result.outcome == "debit_account_closed" => {
            "The debit account is closed.".to_string()
        }
        ErrorCode::AccountClosed => "The credit account is closed.".to_string(),
        _ => format!("The ledger refused the transfer: {}.", result.outcome),
    };
    Err(
        ApiError::new(code, message).with_details(serde_json::json!({
            "outcome": result.outcome,
            "replayed": result.replayed,
            "transfer": result.transfer,
        })),
    )
}

/// The bank's own account of `kind` in `currency`, made on first use and remembered.
pub async fn own_account<S: BankStore>(
    bank: &Bank<S>,
    kind: AccountKind,
    currency: Currency,
) -> ApiResult<Uuid> {
    let key = (kind.code(), currency.code());
    if let Some(id) = bank.own_accounts.lock().expect("not poisoned").get(&key) {
        return Ok(*id);
    }
    let rows = bank
        .store
        .accounts_of_kind(kind, BANK_ACCOUNTS_LISTED_MAX)
        .await
        .map_err(store_error)?;
    let id = match rows.iter().find(|r| r.account.currency == currency) {
        Some(row) => row.account.id,
        None => {
            // One process per bank database (an advisory lock on PostgreSQL), and one creation
            // at a time in it: concurrent first payments must not make two clearing accounts.
            let _creating = bank.own_accounts_creation.lock().await;
            let rows = bank
                .store
                .accounts_of_kind(kind, BANK_ACCOUNTS_LISTED_MAX)
                .await
                .map_err(store_error)?;
            if let Some(row) = rows.iter().find(|r| r.account.currency == currency) {
                let id = row.account.id;
                bank.own_accounts
                    .lock()
                    .expect("not poisoned")
                    .insert(key, id);
                return Ok(id);
            }
            let id = Uuid::now_v7();
            bank.store
                .insert_records(vec![Record::Account(AccountRow {
                    account: scanpay_core::ledger::Account::new(id, currency, None),
                    kind,
                    customer_id: None,
                    created_at_ms: now_ms(),
                })])
                .await
                .map_err(store_error)?;
            id
        }
    };
    bank.own_accounts
        .lock()
        .expect("not poisoned")
        .insert(key, id);
    Ok(id)
}

/// A payment's or clearing transfer's reference: refused here, before the ledger, when the
/// ledger would refuse it (and record the refusal under the transfer's id for good).
fn reference_ok(reference: Option<&String>) -> ApiResult<()> {
    let most = scanpay_core::ledger::REFERENCE_LENGTH_MAX;
    if reference.is_some_and(|r| r.chars().any(char::is_control) || r.len() > most) {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            format!("`reference` is at most {most} bytes without control characters."),
        ));
    }
    Ok(())
}

fn payment_amount(number: &serde_json::Number) -> ApiResult<i64> {
    amount_minor(number).map_err(|code| {
        ApiError::new(
            code,
            "`amount_minor` must be a whole positive number of minor units, at most 10^15.",
        )
    })
}

/// A `single` transfer command: money moves now.
fn single(
    id: Uuid,
    debit: Option<Uuid>,
    credit: Option<Uuid>,
    amount: i64,
    currency: Currency,
    reference: &Option<String>,
) -> TransferCommand {
    TransferCommand {
        id,
        kind: TransferKind::Single,
        debit_account_id: debit,
        credit_account_id: credit,
        amount_minor: Some(amount),
        currency,
        pending_id: None,
        timeout_seconds: None,
        reference: reference.clone(),
    }
}

/// A payment with a registration code (seed 000, claim 9): the binding is checked again here, at
/// the bank that holds the money, then the bound account is debited in one ledger transfer.
pub async fn pay<S: BankStore>(
    State(bank): State<Bank<S>>,
    Json(request): Json<PaymentDebitRequest>,
) -> ApiResult<Response> {
    let checked = PaymentChecked::new(&bank, &request)?;
    let gate = bank.bindings_gate.read().await;
    let binding = bank
        .store
        .binding(checked.code_hash.clone())
        .await
        .map_err(store_error)?;
    let command = payment_command(&bank, &request, checked, binding, &mut false).await?;
    let queued = bank
        .batcher
        .enqueue(vec![command])
        .await
        .map_err(submit_error)?;
    drop(gate);
    answer_one(committed(&bank, queued).await?)
}

/// Payments for several payers in one request and one commit; one outcome each, in order, as
/// [`pay`] would have answered it. Always 200 once the batch itself is well formed.
pub async fn pay_batch<S: BankStore>(
    State(bank): State<Bank<S>>,
    Json(batch): Json<PaymentDebitBatch>,
) -> ApiResult<Json<PaymentDebitBatchResult>> {
    batch_size_ok(batch.payments.len(), PAYMENTS_PER_BATCH_MAX, "payments")?;
    let checked: Vec<ApiResult<PaymentChecked>> = batch
        .payments
        .iter()
        .map(|request| PaymentChecked::new(&bank, request))
        .collect();
    let gate = bank.bindings_gate.read().await;
    // Every binding the batch needs, in one read.
    let hashes = checked
        .iter()
        .flatten()
        .map(|c| c.code_hash.clone())
        .collect();
    let mut bindings = bank
        .store
        .bindings(hashes)
        .await
        .map_err(store_error)?
        .into_iter();
    let mut outcomes: Vec<Option<PaymentDebitOutcome>> = Vec::with_capacity(batch.payments.len());
    let mut commands = Vec::new();
    // The batcher is settled once for the whole request, by the first payment whose binding
    // check fails: the payments checked before it wait for one commit at most.
    let mut settled = false;
    for (request, checked) in batch.payments.iter().zip(checked) {
        let command = match checked {
            Ok(checked) => {
                let binding = bindings.next().expect("one binding read a checked payment");
                payment_command(&bank, request, checked, binding, &mut settled).await
            }
            Err(error) => Err(error),
        };
        match command {
            Ok(command) => {
                commands.push(command);
                outcomes.push(None);
            }
            Err(error) => outcomes.push(Some(PaymentDebitOutcome::new(Err(error.body())))),
        }
    }
    let mut decisions = if commands.is_empty() {
        drop(gate);
        Vec::new()
    } else {
        let queued = bank.batcher.enqueue(commands).await.map_err(submit_error)?;
        drop(gate);
        committed(&bank, queued).await?
    }
    .into_iter();
    let results = outcomes
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| {
                let decision = decisions.next().expect("one decision a command");
                PaymentDebitOutcome::new(decided(&decision).map_err(ApiError::body))
            })
        })
        .collect();
    Ok(Json(PaymentDebitBatchResult { results }))
}

/// What a payment request says, checked without the store, and the hash its binding is kept
/// under.
struct PaymentChecked {
    amount: i64,
    currency: Currency,
    code_hash: Vec<u8>,
}

impl PaymentChecked {
    fn new<S>(bank: &Bank<S>, request: &PaymentDebitRequest) -> ApiResult<PaymentChecked> {
        check_code_and_terminal(&request.registration_code, &request.terminal_id)?;
        reference_ok(request.reference.as_ref())?;
        Ok(PaymentChecked {
            amount: payment_amount(&request.amount_minor)?,
            currency: parse_currency(&request.currency)?,
            code_hash: bank
                .vault
                .lookup("registration_code", &request.registration_code),
        })
    }
}

/// The ledger transfer a payment asks for, once its code and terminal are checked against the
/// binding (read by the caller, for a whole batch at once); an error when they fail (unless the
/// ledger decided the transfer before: a retry is answered as decided).
async fn payment_command<S: BankStore>(
    bank: &Bank<S>,
    request: &PaymentDebitRequest,
    PaymentChecked {
        amount, currency, ..
    }: PaymentChecked,
    binding: Option<BindingRow>,
    settled: &mut bool,
) -> ApiResult<TransferCommand> {
    let refusal = match &binding {
        None => Some(ApiError::new(
            ErrorCode::RegistrationCodeUnknown,
            "This registration code is not bound here.",
        )),
        Some(b) if b.terminal_id != request.terminal_id && !request.terminal_verified => {
            Some(ApiError::new(
                ErrorCode::TerminalMismatch,
                "This registration code is bound to another terminal.",
            ))
        }
        Some(_) => None,
    };
    let Some(binding) = binding.filter(|_| refusal.is_none()) else {
        // Only when the binding check fails is the ledger asked first: a retry of a payment it
        // has already decided is answered as decided (the binding was checked then). Off the
        // path of every other payment, which the ledger deduplicates by id anyway. The earlier
        // attempt may still wait in the batcher (its answer timed out at the hub, then the code
        // was revoked): settle first, so that it is found rather than refused here while it
        // commits after. Once a request: a batch's later refusals look after the same commit.
        if !*settled {
            bank.batcher.settle().await.map_err(submit_error)?;
            *settled = true;
        }
        return match bank
            .store
            .transfer(request.transfer_id)
            .await
            .map_err(store_error)?
        {
            Some(existing) => Ok(single(
                request.transfer_id,
                existing.debit_account_id,
                existing.credit_account_id,
                amount,
                currency,
                &request.reference,
            )),
            None => Err(refusal.expect("refused")),
        };
    };
    let credit = match request.credit_account_id {
        Some(id) => id,
        None => own_account(bank, AccountKind::Clearing, currency).await?,
    };
    Ok(single(
        request.transfer_id,
        Some(binding.account_id),
        Some(credit),
        amount,
        currency,
        &request.reference,
    ))
}

/// One bank's side of an interbank payment or refund: money between a customer account and the
/// clearing account (see [`ClearingTransferRequest`]).
pub async fn clearing_transfer<S: BankStore>(
    State(bank): State<Bank<S>>,
    Json(request): Json<ClearingTransferRequest>,
) -> ApiResult<Response> {
    reference_ok(request.reference.as_ref())?;
    let amount = payment_amount(&request.amount_minor)?;
    let currency = parse_currency(&request.currency)?;
    let clearing = own_account(&bank, AccountKind::Clearing, currency).await?;
    let (debit, credit) = match request.direction.as_str() {
        "in" => (clearing, request.account_id),
        "out" => (request.account_id, clearing),
        _ => {
            return Err(ApiError::new(
                ErrorCode::RequestInvalid,
                "`direction` must be in or out.",
            ));
        }
    };
    submit_one(
        &bank,
        single(
            request.id,
            Some(debit),
            Some(credit),
            amount,
            currency,
            &request.reference,
        ),
    )
    .await
}

/// A batch holds 1 to `max` items (`items`: what the request's list is called).
fn batch_size_ok(len: usize, max: usize, items: &str) -> ApiResult<()> {
    if len == 0 {
        return Err(ApiError::new(
            ErrorCode::RequestInvalid,
            format!("`{items}` is empty."),
        ));
    }
    if len > max {
        return Err(ApiError::new(
            ErrorCode::BatchTooLarge,
            format!("A batch holds 1 to {max} {items}."),
        ));
    }
    Ok(())
}

/// Up to 1,000 transfers, decided in order in one commit; one result each, always 200.
pub async fn transfer_batch<S: BankStore>(
    State(bank): State<Bank<S>>,
    Json(request): Json<TransferBatchRequest>,
) -> ApiResult<Json<TransferBatchResponse>> {
    batch_size_ok(
        request.transfers.len(),
        TRANSFERS_PER_REQUEST_MAX,
        "transfers",
    )?;
    let mut commands = Vec::with_capacity(request.transfers.len());
    for (index, transfer) in request.transfers.iter().enumerate() {
        let command = transfer_command(transfer).map_err(|e| {
            let message = format!("transfers[{index}]: {}", e.message);
            ApiError::new(e.code, message).with_details(serde_json::json!({ "index": index }))
        })?;
        commands.push(command);
    }
    let decisions = submit(&bank, commands).await?;
    Ok(Json(TransferBatchResponse {
        results: decisions.iter().map(transfer_result).collect(),
    }))
}

pub async fn get_transfer<S: BankStore>(
    State(bank): State<Bank<S>>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<TransferView>> {
    let transfer = bank.store.transfer(id).await.map_err(store_error)?;
    let transfer = transfer
        .ok_or_else(|| ApiError::new(ErrorCode::TransferNotFound, "No transfer has that id."))?;
    Ok(Json(transfer_view(&transfer)))
}

pub async fn totals<S: BankStore>(
    State(bank): State<Bank<S>>,
) -> ApiResult<Json<LedgerTotalsView>> {
    let t = bank.store.totals().await.map_err(store_error)?;
    Ok(Json(LedgerTotalsView {
        accounts: t.accounts,
        transfers_created: t.transfers_created,
        transfers_rejected: t.transfers_rejected,
        debits_posted_minor: t.debits_posted,
        credits_posted_minor: t.credits_posted,
        debits_pending_minor: t.debits_pending,
        credits_pending_minor: t.credits_pending,
        posted_from_transfers_minor: t.posted_from_transfers,
        pending_from_holds_minor: t.pending_from_holds,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bank, BankConfig, Vault};
    use scanpay_store::SqliteBank;
    use std::time::Duration;

    async fn bank(dir: &std::path::Path) -> Bank<SqliteBank> {
        let config = BankConfig {
            id: "north".into(),
            name: "North".into(),
            hub_secret: vec![7; 32],
            ranges: Vec::new(),
        };
        let store = SqliteBank::open(&dir.join("bank.db")).unwrap();
        Bank::new(config, store, Vault::new(&[9; 32])).unwrap()
    }

    /// A customer and their card sharing one id, both numbers sealed the way they were before
    /// their bindings named their purpose (under the id alone), written straight to the store.
    async fn legacy_customer_and_card<S: BankStore>(bank: &Bank<S>, card_number: &str) -> Uuid {
        let id = Uuid::new_v4();
        let account_id = Uuid::new_v4();
        let mut customer = customer_row(
            &bank.vault,
            &CreateCustomer {
                id: Some(id),
                full_name: "Anna Maria Eriksson".into(),
                id_document_type: "passport".into(),
                id_document_number: "L898902C3".into(),
                birth_date: "1974-08-12".into(),
                address: String::new(),
                phone: String::new(),
            },
            1,
        )
        .unwrap();
        customer.id_number_ciphertext = bank.vault.encrypt(b"L898902C3", id.as_bytes());
        let ranges =
            scanpay_core::routing::RoutingTable::new(vec![scanpay_core::routing::RangeEntry {
                low: "4".into(),
                high: "4".into(),
                bank: (),
            }])
            .unwrap();
        let mut card = card_row(
            &bank.vault,
            &ranges,
            &CreateCard {
                id: Some(id),
                account_id,
                card_number: card_number.into(),
                expiry_month: 12,
                expiry_year: 2030,
                holder_name: "ANNA M ERIKSSON".into(),
            },
            1,
        )
        .unwrap();
        card.pan_ciphertext = bank.vault.encrypt(card_number.as_bytes(), id.as_bytes());
        let usd = Currency::parse("USD").unwrap();
        bank.store
            .insert_records(vec![
                Record::Customer(customer),
                Record::Account(AccountRow {
                    account: scanpay_core::ledger::Account::new(account_id, usd, Some(0)),
                    kind: AccountKind::Customer,
                    customer_id: Some(id),
                    created_at_ms: 1,
                }),
                Record::Card(card),
            ])
            .await
            .unwrap();
        id
    }

    /// A store written before ID numbers and card numbers were sealed for their purpose: the
    /// bank's start seals them again, once, and the identity behind the card still opens. On
    /// `other`, a store where a card's number was copied into a customer's row while both
    /// opened alike: that one is not made a valid ID number, and the store is not marked done.
    async fn older_personal_data_is_sealed_for_its_purpose<S: BankStore>(
        bank: Bank<S>,
        other: Bank<S>,
    ) {
        let id = legacy_customer_and_card(&bank, "4242424242424242").await;
        let rebound = bank.bind_personal_data().await;
        let all = scanpay_store::Rebound {
            resealed: 2,
            unreadable: 0,
        };
        assert_eq!(rebound.unwrap(), all);
        let Json(identity) = card_identity(
            State(bank.clone()),
            Json(CardNumberRequest {
                card_number: "4242 4242 4242 4242".into(),
            }),
        )
        .await
        .unwrap();
        assert_eq!(identity.id_document_number, "L898902C3");
        let customer = bank.store.customer(id).await.unwrap().unwrap();
        let lookup = bank.vault.lookup("card_number", "4242424242424242");
        let card = bank.store.card_by_lookup(lookup).await.unwrap().unwrap();
        // Each opens for its own purpose only: the card's number copied into the customer's
        // row is no ID number.
        let opens = |purpose, data: &[u8]| bank.vault.open(purpose, id, data).is_ok();
        assert!(opens(Purpose::CardNumber, &card.pan_ciphertext));
        assert!(!opens(Purpose::IdNumber, &card.pan_ciphertext));
        assert!(!opens(Purpose::CardNumber, &customer.id_number_ciphertext));
        // Done once: a later start finds nothing to do, even a row sealed the old way since
        // (none is: one process writes a bank, and it seals for the purpose).
        legacy_customer_and_card(&bank, "4000056655665556").await;
        let again = bank.store.bind_personal_data(bank.vault.clone()).await;
        assert_eq!(again.unwrap(), scanpay_store::Rebound::default());

        // The copied number: left as it was, and tried again at the next start.
        legacy_customer_and_card(&other, "4242424242424242").await;
        let forged = Uuid::new_v4();
        let mut row = customer_row(
            &other.vault,
            &CreateCustomer {
                id: Some(forged),
                full_name: "Someone Else".into(),
                id_document_type: "passport".into(),
                id_document_number: "X1234567".into(),
                birth_date: "1980-01-01".into(),
                address: String::new(),
                phone: String::new(),
            },
            1,
        )
        .unwrap();
        row.id_number_ciphertext = other.vault.encrypt(b"4242424242424242", forged.as_bytes());
        other
            .store
            .insert_records(vec![Record::Customer(row)])
            .await
            .unwrap();
        let left = scanpay_store::Rebound {
            resealed: 2,
            unreadable: 1,
        };
        let rebound = other.bind_personal_data().await;
        assert_eq!(rebound.unwrap(), left);
        let row = other.store.customer(forged).await.unwrap().unwrap();
        let opens = |purpose| {
            other
                .vault
                .open(purpose, forged, &row.id_number_ciphertext)
                .is_ok()
        };
        assert!(!opens(Purpose::IdNumber) && !opens(Purpose::CardNumber));
        let again = other.store.bind_personal_data(other.vault.clone()).await;
        let still = scanpay_store::Rebound {
            resealed: 0,
            unreadable: 1,
        };
        assert_eq!(again.unwrap(), still);
    }

    #[tokio::test]
    async fn sqlite_seals_older_personal_data_for_its_purpose() {
        let dirs = [0, 1]
            .map(|_| std::env::temp_dir().join(format!("scanpay-sealing-{}", Uuid::new_v4())));
        older_personal_data_is_sealed_for_its_purpose(bank(&dirs[0]).await, bank(&dirs[1]).await)
            .await;
        for dir in dirs {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[tokio::test]
    async fn postgres_seals_older_personal_data_for_its_purpose() {
        let url = std::env::var("SCANPAY_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let schemas = [0, 1].map(|_| format!("banktest_{}", Uuid::new_v4().simple()));
        let mut banks = Vec::new();
        for schema in &schemas {
            let store = scanpay_store::PgBank::connect(&url, schema).await.unwrap();
            let config = BankConfig {
                id: "north".into(),
                name: "North".into(),
                hub_secret: vec![7; 32],
                ranges: Vec::new(),
            };
            banks.push(Bank::new(config, store, Vault::new(&[9; 32])).unwrap());
        }
        let other = banks.pop().unwrap();
        // Run apart, so that a failure still drops the schemas (and is raised again after).
        let outcome = tokio::spawn(older_personal_data_is_sealed_for_its_purpose(
            banks.pop().unwrap(),
            other,
        ))
        .await;
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        for schema in schemas {
            client
                .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                .await
                .unwrap();
        }
        if let Err(failed) = outcome {
            std::panic::resume_unwind(failed.into_panic());
        }
    }

    fn payment(code: &str) -> PaymentDebitRequest {
        PaymentDebitRequest {
            transfer_id: Uuid::new_v4(),
            registration_code: code.into(),
            terminal_id: "phone-1".into(),
            terminal_verified: false,
            amount_minor: 100.into(),
            currency: "USD".into(),
            credit_account_id: Some(Uuid::new_v4()),
            reference: None,
        }
    }

    /// A revocation and a payment using the code: either the payment saw no binding, or it is
    /// decided before "revoked" is answered. Both sides of the gate are held by hand here, as the
    /// other side holds it between its binding read and its place in the queue.
    #[tokio::test]
    async fn a_revocation_answers_after_the_payments_that_saw_the_binding() {
        let dir = std::env::temp_dir().join(format!("scanpay-gate-{}", Uuid::new_v4()));
        let bank = bank(&dir).await;
        let registration_id = Uuid::new_v4();
        // Any account will do: the payment is decided (refused, with no money there) and
        // recorded all the same.
        let account_id = own_account(
            &bank,
            AccountKind::Clearing,
            Currency::parse("USD").unwrap(),
        )
        .await
        .unwrap();
        let bind = |code: &str| {
            bank.store.insert_binding(BindingRow {
                code_hash: bank.vault.lookup("registration_code", code),
                terminal_id: "phone-1".into(),
                account_id,
                registration_id: Some(registration_id),
                created_at_ms: 0,
            })
        };
        bind("CODE-1").await.unwrap();

        // A payment between its binding read and its queueing: the revocation waits for it.
        let early = payment("CODE-1");
        let gate = bank.bindings_gate.read().await;
        let revoke = tokio::spawn({
            let bank = bank.clone();
            async move {
                let answer = revoke_bindings(
                    State(bank.clone()),
                    Json(RevokeBindings { registration_id }),
                )
                .await;
                let seen = bank.store.transfer(early.transfer_id).await.unwrap();
                (answer.map(|Json(r)| r.revoked).ok(), seen)
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !revoke.is_finished(),
            "the revocation waits for the payment"
        );
        let command = single(
            early.transfer_id,
            Some(Uuid::new_v4()),
            early.credit_account_id,
            100,
            Currency::parse("USD").unwrap(),
            &None,
        );
        let queued = bank.batcher.enqueue(vec![command]).await.unwrap();
        drop(gate);
        let (revoked, seen) = revoke.await.unwrap();
        assert_eq!(revoked, Some(1));
        assert!(seen.is_some(), "decided before the revocation answered");
        queued.decisions().await.unwrap();

        // A payment arriving while bindings are being deleted reads after the deletion.
        bind("CODE-2").await.unwrap();
        let late = payment("CODE-2");
        let late_id = late.transfer_id;
        let gate = bank.bindings_gate.write().await;
        let pay = tokio::spawn(pay(State(bank.clone()), Json(late)));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!pay.is_finished(), "the payment waits for the revocation");
        assert!(bank.store.transfer(late_id).await.unwrap().is_none());
        assert_eq!(
            bank.store.revoke_bindings(registration_id).await.unwrap(),
            1
        );
        drop(gate);
        let refused = pay.await.unwrap().expect_err("refused");
        assert_eq!(refused.code, ErrorCode::RegistrationCodeUnknown);
        assert!(bank.store.transfer(late_id).await.unwrap().is_none());

        // The same for a batch of payments.
        bind("CODE-3").await.unwrap();
        let batch = PaymentDebitBatch {
            payments: vec![payment("CODE-3")],
        };
        let gate = bank.bindings_gate.write().await;
        let paid = tokio::spawn(pay_batch(State(bank.clone()), Json(batch)));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!paid.is_finished(), "the batch waits for the revocation");
        bank.store.revoke_bindings(registration_id).await.unwrap();
        drop(gate);
        let Json(answer) = paid.await.unwrap().unwrap();
        let error = answer.results[0].error.as_ref().expect("refused");
        assert_eq!(error.code, ErrorCode::RegistrationCodeUnknown.code());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
