//! Persistence for the bank and the hub, on SQLite (the embedded default) and PostgreSQL.
//!
//! Each service sees one narrow trait: [`BankStore`] and [`HubStore`]. Both backends implement
//! both, and the same test suite runs against each. Start reading at [`BankStore::commit_transfers`]:
//! it is the group-commit step — a whole batch of transfer commands is loaded, decided by
//! `scanpay_core::ledger::decide_batch` and persisted in one database transaction, so one fsync
//! covers thousands of transfers.
//!
//! Encryption at rest is in [`vault`]: the services encrypt personal data before it reaches the
//! store, which keeps only ciphertext and keyed lookup hashes.
//!
//! Deliberately not here: HTTP, decisions.

use std::future::Future;
use std::path::PathBuf;

use scanpay_core::ledger::{Account, Decision, Transfer, TransferCommand};
use scanpay_core::payment::{BankSums, BookEntry};
use uuid::Uuid;

pub mod files;
mod postgres;
pub mod schema;
mod sqlite;
pub mod vault;

pub use postgres::{PgBank, PgHub};
pub use sqlite::{SqliteBank, SqliteHub};

/// A statement page holds at most this many lines.
pub const STATEMENT_PAGE_MAX: u32 = 1_000;

/// `merchants(merchant)`: the merchants with an undelivered webhook row, one probe each of the
/// index `webhook_deliveries_merchant_due` (a loose index scan), and a last row of NULL. Both
/// backends' `deliveries_due` read from it when they skip a merchant, so a skipped merchant's
/// backlog is never walked.
const UNDELIVERED_MERCHANTS: &str = "WITH RECURSIVE merchants(merchant) AS ( \
         SELECT (SELECT merchant_id FROM webhook_deliveries \
                 WHERE next_attempt_ms IS NOT NULL ORDER BY merchant_id LIMIT 1) \
         UNION ALL \
         SELECT (SELECT merchant_id FROM webhook_deliveries \
                 WHERE next_attempt_ms IS NOT NULL AND merchant_id > merchant \
                 ORDER BY merchant_id LIMIT 1) \
         FROM merchants WHERE merchant IS NOT NULL)";
/// A listing of callers holds at most this many rows a page.
pub const CALLERS_PAGE_MAX: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same unique key exists (an id, a card number, a registration code).
    #[error("{0} already exists")]
    Duplicate(&'static str),
    #[error("database: {0}")]
    Database(String),
    /// The write was given up while it ran: its job panicked (the writer went on without it).
    /// Something in that job, not the database, is what failed.
    #[error("the write was abandoned: {0}")]
    Abandoned(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(e, _) = &error
            && e.code == rusqlite::ErrorCode::ConstraintViolation
        {
            return StoreError::Duplicate("row");
        }
        StoreError::Database(error.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        if error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            return StoreError::Duplicate("row");
        }
        StoreError::Database(format!("{error:#}"))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where a service keeps its data, from `--database-url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite:PATH` or `sqlite://PATH` or a plain path.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, passed to the driver as it is.
    Postgres(String),
}

impl DatabaseUrl {
    /// A typo'd scheme (`postgress://`) or libpq's `host=… user=…` form is refused, not taken
    /// for the name of an SQLite file to make.
    pub fn parse(url: &str) -> std::result::Result<DatabaseUrl, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() || path.contains("://") || path.contains('=') {
            return Err(format!(
                "`{url}` is neither a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE) nor an \
                 SQLite file (sqlite:PATH)"
            ));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }
}

/// What kind of account: a customer's, or one the bank keeps for itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    Customer,
    /// The bank's own funding account, debited when money enters the bank (seeded deposits).
    Funding,
    /// Money owed to or by other banks, settled between them.
    Clearing,
}

impl AccountKind {
    pub fn code(self) -> &'static str {
        match self {
            AccountKind::Customer => "customer",
            AccountKind::Funding => "funding",
            AccountKind::Clearing => "clearing",
        }
    }

    pub fn parse(code: &str) -> Option<AccountKind> {
        Some(match code {
            "customer" => AccountKind::Customer,
            "funding" => AccountKind::Funding,
            "clearing" => AccountKind::Clearing,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRow {
    pub account: Account,
    pub kind: AccountKind,
    pub customer_id: Option<Uuid>,
    pub created_at_ms: i64,
}

/// A customer's identity as the bank keeps it. The ID number is encrypted by the bank service;
/// `id_number_lookup` is a keyed hash so it can be found without decrypting.
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerRow {
    pub id: Uuid,
    pub full_name: String,
    pub id_document_type: String,
    pub id_number_ciphertext: Vec<u8>,
    pub id_number_lookup: Vec<u8>,
    pub birth_date: String,
    pub address: String,
    pub phone: String,
    pub created_at_ms: i64,
}

impl std::fmt::Debug for CustomerRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerRow")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A payment card. The number is encrypted by the bank service; `pan_lookup` is a keyed hash of
/// it, unique, so a card is found by number without decrypting every row. No CVV, ever.
#[derive(Clone, PartialEq, Eq)]
pub struct CardRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub pan_ciphertext: Vec<u8>,
    pub pan_lookup: Vec<u8>,
    pub last4: String,
    pub expiry_month: u8,
    pub expiry_year: u16,
    pub holder_name: String,
    pub network: String,
    pub created_at_ms: i64,
}

impl std::fmt::Debug for CardRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardRow")
            .field("id", &self.id)
            .field("last4", &self.last4)
            .finish_non_exhaustive()
    }
}

/// A registration code bound at the bank to a terminal and an account. The code itself is kept
/// only as a keyed hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingRow {
    pub code_hash: Vec<u8>,
    pub terminal_id: String,
    pub account_id: Uuid,
    /// The hub's registration the code was issued in; none for bindings made before the hub
    /// sent it. The hub revokes a binding by it.
    pub registration_id: Option<Uuid>,
    pub created_at_ms: i64,
}

/// A bank's sealed personal data: table, column, the column of its keyed lookup hash, and what
/// its values are.
const PERSONAL_DATA: [(&str, &str, &str, vault::Purpose); 2] = [
    (
        "customers",
        "id_number_ciphertext",
        "id_number_lookup",
        vault::Purpose::IdNumber,
    ),
    (
        "cards",
        "pan_ciphertext",
        "pan_lookup",
        vault::Purpose::CardNumber,
    ),
];

/// What [`BankStore::bind_personal_data`] did: values sealed again, and values it could not
/// (opened under neither binding — a bank started with another's key opens none — or not the
/// value their row's lookup names). Those are left as they were, and the store is not marked
/// done while any is left: the next start tries again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rebound {
    pub resealed: usize,
    pub unreadable: usize,
}

/// The value `data` of the row `id`, whose keyed lookup hash is `lookup`, sealed for
/// `purpose` (`vault::Vault::rebind`), counted in `rebound`: `Some` when it must be written.
fn reseal(
    vault: &vault::Vault,
    (purpose, id, data, lookup): (vault::Purpose, Uuid, &[u8], &[u8]),
    rebound: &mut Rebound,
) -> Option<Vec<u8>> {
    match vault.rebind(purpose, id, data, lookup) {
        Ok(Some(sealed)) => {
            rebound.resealed += 1;
            Some(sealed)
        }
        Ok(None) => None,
        Err(_) => {
            rebound.unreadable += 1;
            // The first few rows by id (no personal data), for the operator to look at; a
            // wrong key would name every row.
            if rebound.unreadable <= UNREADABLE_NAMED_MAX {
                tracing::error!(%id, kind = purpose.name(),
                    "a sealed value opens with neither binding or is not its row's: left as it was");
            }
            None
        }
    }
}

/// Rows a call of [`reseal`] names in the log when it cannot seal their value.
const UNREADABLE_NAMED_MAX: usize = 10;

/// Rows written together in one transaction (used by seeding and by the admin endpoints).
#[derive(Clone, Debug)]
pub enum Record {
    Customer(CustomerRow),
    Account(AccountRow),
    Card(CardRow),
}

/// One line of a statement: a transfer applied to the account, with its position for the cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    pub seq: i64,
    pub transfer: Transfer,
}

/// How busy a store's single writer has been since the store opened (the SQLite backend: one
/// thread owns the only writing connection and commits in groups). Busy time near the elapsed
/// time means every write waits for the writer: it sets the pace of the service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Group commits, one transaction each.
    pub groups: u64,
    /// Writes run in them.
    pub writes: u64,
    /// Time running the writes, inside the group's transaction.
    pub running_us: u64,
    /// Time in `COMMIT`: the log written and synced, and the checkpoints it triggers.
    pub committing_us: u64,
}

/// A Prometheus series and its value: name, labels, value.
pub type Counter = (&'static str, &'static [(&'static str, &'static str)], u64);

impl WriterStats {
    /// As Prometheus counters.
    pub fn series(&self) -> [Counter; 4] {
        [
            ("store_write_groups_total", &[], self.groups),
            ("store_writes_total", &[], self.writes),
            (
                "store_writer_microseconds_total",
                &[("phase", "running")],
                self.running_us,
            ),
            (
                "store_writer_microseconds_total",
                &[("phase", "committing")],
                self.committing_us,
            ),
        ]
    }
}

/// Sums over the whole ledger, for the auditor (`/v1/ledger/totals`).
///
/// The sums are `i128`: each account's sums fit in `i64`, but their total over every account
/// need not (a bank moving 10^15 a transfer passes `i64::MAX` after ~9,200 of them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerTotals {
    pub accounts: i64,
    pub transfers_created: i64,
    pub transfers_rejected: i64,
    pub debits_posted: i128,
    pub credits_posted: i128,
    pub debits_pending: i128,
    pub credits_pending: i128,
    /// Posted sums recomputed from the transfer rows, to compare with the cached sums.
    pub posted_from_transfers: i128,
    pub pending_from_holds: i128,
}

/// The bank's persistence. Implemented by [`SqliteBank`] and [`PgBank`].
pub trait BankStore: Send + Sync + 'static {
    /// Decides and commits a batch of transfer commands in one transaction (group commit).
    /// Returns one decision per command, in order. On error nothing of the batch is written.
    fn commit_transfers(
        &self,
        now_ms: i64,
        commands: Vec<TransferCommand>,
    ) -> impl Future<Output = Result<Vec<Decision>>> + Send;
    /// Releases holds that expired by `now_ms`, at most `limit` of them; returns how many.
    fn expire_holds(&self, now_ms: i64, limit: u32) -> impl Future<Output = Result<usize>> + Send;
    fn insert_records(&self, records: Vec<Record>) -> impl Future<Output = Result<()>> + Send;
    fn account(&self, id: Uuid) -> impl Future<Output = Result<Option<AccountRow>>> + Send;
    fn customer(&self, id: Uuid) -> impl Future<Output = Result<Option<CustomerRow>>> + Send;
    fn card_by_lookup(
        &self,
        pan_lookup: Vec<u8>,
    ) -> impl Future<Output = Result<Option<CardRow>>> + Send;
    fn transfer(&self, id: Uuid) -> impl Future<Output = Result<Option<Transfer>>> + Send;
    /// Applied transfers touching `account_id` with `seq > after_seq`, oldest first.
    fn statement(
        &self,
        account_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StatementLine>>> + Send;
    /// Binds a code; a second binding of the same code hash is `Duplicate`.
    fn insert_binding(&self, binding: BindingRow) -> impl Future<Output = Result<()>> + Send;
    fn binding(
        &self,
        code_hash: Vec<u8>,
    ) -> impl Future<Output = Result<Option<BindingRow>>> + Send;
    /// The bindings of several code hashes in one read (a batch of payments), in their order.
    fn bindings(
        &self,
        code_hashes: Vec<Vec<u8>>,
    ) -> impl Future<Output = Result<Vec<Option<BindingRow>>>> + Send;
    /// Deletes the bindings made for a hub registration (its code was revoked); how many.
    fn revoke_bindings(&self, registration_id: Uuid) -> impl Future<Output = Result<u64>> + Send;
    fn customer_count(&self) -> impl Future<Output = Result<i64>> + Send;
    /// Seals every ID number and card number still bound to its row's id alone for its purpose
    /// (`vault::Purpose`), in one transaction; the store is marked done unless a value was
    /// left ([`Rebound::unreadable`]), and later calls then do nothing.
    fn bind_personal_data(
        &self,
        vault: std::sync::Arc<crate::vault::Vault>,
    ) -> impl Future<Output = Result<Rebound>> + Send;
    /// Accounts of one kind (the bank's own funding and clearing accounts are looked up so).
    fn accounts_of_kind(
        &self,
        kind: AccountKind,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AccountRow>>> + Send;
    fn totals(&self) -> impl Future<Output = Result<LedgerTotals>> + Send;
    /// The writer's work so far, where the backend has a writer of its own.
    fn writer_stats(&self) -> Option<WriterStats> {
        None
    }
}

/// Who may call the hub: a wallet, a merchant or an operator, authenticated by a bearer token
/// that the hub issued. Only the token's SHA-256 is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerRow {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub token_hash: Vec<u8>,
    pub created_at_ms: i64,
}

/// The stored answer to a POST made with an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub caller_id: Uuid,
    pub key: String,
    /// SHA-256 of method, path and body: a replay must match it.
    pub request_hash: Vec<u8>,
    /// `None` while the first request is still being answered.
    pub response_status: Option<u16>,
    /// The answer, encrypted by the hub (it may hold a secret shown once, such as a new token).
    pub response_body: Vec<u8>,
    /// While in progress, another request with the key waits or is told so until then; after it,
    /// a crashed attempt's claim may be taken over.
    pub locked_until_ms: i64,
    /// Random, per claim: only the request holding the claim may complete or release it, so a
    /// request that outlived its lease cannot overwrite or delete its successor's claim.
    pub claim_token: Vec<u8>,
    pub created_at_ms: i64,
}

/// What happened when a request claimed its idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is new (or its earlier claim lapsed): go ahead, then [`HubStore::complete`].
    Claimed,
    /// The key was used before: here is what it holds.
    Existing(IdempotencyRecord),
}

/// A registration session as the hub keeps it: the session itself is one encrypted blob (it holds
/// a card number and an ID number); state and owner are columns for queries.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistrationRow {
    pub id: Uuid,
    pub caller_id: Uuid,
    pub state: String,
    /// Incremented by every update; an update names the version it read (optimistic locking, so
    /// two hubs never overwrite each other's step).
    pub version: i64,
    pub data: Vec<u8>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl std::fmt::Debug for RegistrationRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationRow")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// An issued registration code: only its keyed hash is kept. One per card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRow {
    pub code_hash: Vec<u8>,
    /// Keyed hash of the card number: a card is registered once.
    pub card_lookup: Vec<u8>,
    pub registration_id: Uuid,
    pub caller_id: Uuid,
    pub bank_id: String,
    pub account_id: Uuid,
    pub terminal_id: String,
    pub created_at_ms: i64,
}

/// Why a code could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum CodeConflict {
    #[error("the code is taken")]
    CodeTaken,
    #[error("the card is registered already")]
    CardTaken,
    /// This registration already has a code (a retried step): see `code_of_registration`.
    #[error("the registration has a code already")]
    RegistrationHasCode,
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// A merchant's payout account: where payments to the merchant are credited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerchantRow {
    pub caller_id: Uuid,
    pub name: String,
    pub bank_id: String,
    pub account_id: Uuid,
    pub created_at_ms: i64,
    /// Where the merchant's webhooks go; `None` until it sets one.
    pub webhook_url: Option<String>,
    /// The webhook signing secrets, encrypted by the hub (empty without a webhook).
    pub webhook_secrets: Vec<u8>,
}

/// One webhook event for one merchant and its delivery state: the outbox the hub's deliverer
/// works through, and the merchant's delivery log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub merchant_id: Uuid,
    /// `payment.succeeded`, `refund.succeeded`, `refund.failed`.
    pub event_type: String,
    /// The JSON body, sent as it is.
    pub payload: String,
    /// `pending`, `delivered`, `failed` (given up).
    pub state: String,
    pub attempts: i64,
    /// When to try next; `None` once delivered or given up. Doubles as a lease: a deliverer moves
    /// it forward before it sends.
    pub next_attempt_ms: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A payment as the hub keeps it: the payment itself (`scanpay_core::payment::Payment`) is one
/// JSON document; parties, state and when to look at it again are columns for queries. It holds no
/// card or ID number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRow {
    pub id: Uuid,
    pub payer_id: Uuid,
    pub payee_id: Uuid,
    pub state: String,
    /// Optimistic locking, as for registrations.
    pub version: i64,
    /// When the hub's resolver should look at the payment (a bank still owes an answer, or a code
    /// may expire); `None` once nothing is left to do.
    pub next_check_ms: Option<i64>,
    pub data: Vec<u8>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Copies of the payment's amount and whether it went without a code (neither changes after
    /// the payment is made), so that [`HubStore::payment_summaries`] reads an index alone.
    pub amount_minor: i64,
    pub exempted: bool,
    /// Whether the payment left money in a clearing account for an operator
    /// (`Payment::held_in_clearing`), so that settlement finds those few without a scan.
    pub held: bool,
    /// The payment's share of settlement (`Payment::book_entries`), kept in `payment_books`:
    /// `Some` replaces what the store has for the payment, in the same transaction as the row;
    /// `None` leaves it (a new row: it has none). Not read back: rows read have `None`.
    pub books: Option<Vec<BookEntry>>,
}

/// What the exemption rule reads of a payer's earlier payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentSummary {
    pub payee_id: Uuid,
    pub state: String,
    pub amount_minor: i64,
    pub exempted: bool,
}

/// A message for one caller (a wallet's verification code, a payment's outcome), encrypted by
/// the hub; `seq` orders a caller's messages and is the cursor of the notification stream.
#[derive(Clone, PartialEq, Eq)]
pub struct NotificationRow {
    pub seq: i64,
    pub caller_id: Uuid,
    pub data: Vec<u8>,
    pub created_at_ms: i64,
}

/// What a saved payment step tells others: messages for the wallets and webhook events for the
/// merchant. They are written in the same transaction as the step (an outbox), so a step that is
/// saved is announced, even if the hub stops right after, and a step that lost a race to another
/// writer announces nothing.
#[derive(Debug, Default)]
pub struct Announcements {
    pub notifications: Vec<NotificationRow>,
    /// Written only for a merchant that has a webhook when the step is saved.
    pub deliveries: Vec<DeliveryRow>,
}

impl std::fmt::Debug for NotificationRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationRow")
            .field("seq", &self.seq)
            .field("caller_id", &self.caller_id)
            .finish_non_exhaustive()
    }
}

/// The hub's persistence. Implemented by [`SqliteHub`] and [`PgHub`].
pub trait HubStore: Send + Sync + 'static {
    fn insert_caller(&self, caller: CallerRow) -> impl Future<Output = Result<()>> + Send;
    fn caller_by_token_hash(
        &self,
        token_hash: Vec<u8>,
    ) -> impl Future<Output = Result<Option<CallerRow>>> + Send;
    /// Callers created after the cursor (`created_at_ms`, `id`), oldest first.
    fn callers(
        &self,
        after: Option<(i64, Uuid)>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<CallerRow>>> + Send;
    /// Claims `record.key` for `record.caller_id` unless it exists and is still locked or done.
    fn claim(&self, record: IdempotencyRecord) -> impl Future<Output = Result<Claim>> + Send;
    /// Stores the answer of a key claimed with `claim_token`; false when the claim was lost
    /// (taken over after its lease) and nothing was stored.
    fn complete(
        &self,
        caller_id: Uuid,
        key: String,
        claim_token: Vec<u8>,
        status: u16,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Gives up a claim without an answer (the request failed in a way that may be retried);
    /// does nothing when the claim is no longer this one.
    fn release(
        &self,
        caller_id: Uuid,
        key: String,
        claim_token: Vec<u8>,
    ) -> impl Future<Output = Result<()>> + Send;
    fn insert_registration(&self, row: RegistrationRow) -> impl Future<Output = Result<()>> + Send;
    /// Replaces the row if its stored version is `row.version - 1`; false when another writer
    /// got there first (reload and retry).
    fn update_registration(
        &self,
        row: RegistrationRow,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn registration(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<RegistrationRow>>> + Send;
    /// A caller's registrations, newest first.
    fn registrations_of(
        &self,
        caller_id: Uuid,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RegistrationRow>>> + Send;
    /// Saves a registration that ended — revoked, or cancelled, expired or rejected before it
    /// was bound — (version-checked as `update_registration`), deletes its code if it has one,
    /// and appends `note` to its owner's notifications, in one transaction: the code pays no
    /// more, and the card and the code's value may be registered again. False (and nothing
    /// written) when another writer got there first.
    fn end_registration(
        &self,
        row: RegistrationRow,
        note: Option<NotificationRow>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// A caller's first registration that was bound, revoked since or not (the identity its
    /// wallet is for), other than `except`.
    fn first_bound_registration(
        &self,
        caller_id: Uuid,
        except: Uuid,
    ) -> impl Future<Output = Result<Option<RegistrationRow>>> + Send;
    fn insert_code(&self, row: CodeRow) -> impl Future<Output = Result<(), CodeConflict>> + Send;
    fn code_of_registration(
        &self,
        registration_id: Uuid,
    ) -> impl Future<Output = Result<Option<CodeRow>>> + Send;
    /// The code row of the card with this keyed lookup hash.
    fn code_by_card(
        &self,
        card_lookup: Vec<u8>,
    ) -> impl Future<Output = Result<Option<CodeRow>>> + Send;
    /// The code row with this keyed hash (the payer's registration code).
    fn code_by_hash(
        &self,
        code_hash: Vec<u8>,
    ) -> impl Future<Output = Result<Option<CodeRow>>> + Send;
    /// A caller's codes, newest first (a wallet paid as a payee is credited on its newest).
    fn codes_of_caller(
        &self,
        caller_id: Uuid,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<CodeRow>>> + Send;
    fn caller(&self, id: Uuid) -> impl Future<Output = Result<Option<CallerRow>>> + Send;
    fn insert_merchant(&self, row: MerchantRow) -> impl Future<Output = Result<()>> + Send;
    fn merchant(&self, caller_id: Uuid)
    -> impl Future<Output = Result<Option<MerchantRow>>> + Send;
    /// Merchants by name, at most `limit`.
    fn merchants(&self, limit: u32) -> impl Future<Output = Result<Vec<MerchantRow>>> + Send;
    /// Sets a merchant's webhook URL and (encrypted) secrets if its secrets are still `read` (the
    /// bytes read before): two rotations at once cannot both succeed and lose one's secret.
    /// False when another writer changed them first, or there is no such merchant.
    fn set_webhook(
        &self,
        caller_id: Uuid,
        url: String,
        secrets: Vec<u8>,
        read: Vec<u8>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Pending deliveries whose time has come, soonest first, none of `skip_merchants`'.
    ///
    /// With merchants to skip (those with their share of sends in flight), at most
    /// `per_merchant` of each other merchant's, read merchant by merchant: a skipped merchant's
    /// backlog is not walked (a receiver that answers slowly can pile up hundreds of thousands
    /// of due rows ahead of everyone's), at the cost of a look at each merchant with an
    /// undelivered row. With none to skip, the soonest `limit` in one walk of the due index.
    fn deliveries_due(
        &self,
        now_ms: i64,
        limit: u32,
        per_merchant: u32,
        skip_merchants: Vec<Uuid>,
    ) -> impl Future<Output = Result<Vec<DeliveryRow>>> + Send;
    /// Replaces a delivery if its `next_attempt_ms` is still `seen_next_attempt_ms` (a lease:
    /// two deliverers never send the same attempt); false otherwise.
    fn update_delivery(
        &self,
        row: DeliveryRow,
        seen_next_attempt_ms: Option<i64>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// A merchant's deliveries, newest first.
    fn deliveries_of(
        &self,
        merchant_id: Uuid,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<DeliveryRow>>> + Send;
    /// A new payment; the same id twice is `Duplicate`.
    fn insert_payment(&self, row: PaymentRow) -> impl Future<Output = Result<()>> + Send;
    /// Replaces the row if its stored version is `row.version - 1`, and then writes `news` in
    /// the same transaction; false when another writer got there first (nothing is written).
    fn update_payment(
        &self,
        row: PaymentRow,
        news: Announcements,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn payment(&self, id: Uuid) -> impl Future<Output = Result<Option<PaymentRow>>> + Send;
    /// Payments a caller made or received, newest first, before the cursor
    /// (`created_at_ms`, `id`).
    fn payments_of(
        &self,
        caller_id: Uuid,
        before: Option<(i64, Uuid)>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PaymentRow>>> + Send;
    /// Payments a caller made, newest first (the exemption rule and the payee guide read these).
    fn payments_made_by(
        &self,
        payer_id: Uuid,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PaymentRow>>> + Send;
    /// A payer's latest payments, newest first, as the exemption rule reads them (from an index,
    /// without the payments' documents).
    fn payment_summaries(
        &self,
        payer_id: Uuid,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PaymentSummary>>> + Send;
    /// Payments whose `next_check_ms` has come, soonest first.
    fn payments_due(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PaymentRow>>> + Send;
    /// The payments' [`PaymentRow::books`] on the days in `[from_ms, to_ms)` summed per bank and
    /// currency, sorted by both (settlement's positions for a day): one pass over an index of
    /// narrow rows, no payment read.
    fn bank_sums(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> impl Future<Output = Result<Vec<BankSums>>> + Send;
    /// Sums the books of the days before `before_ms` not summed yet into `settled_days`, per day,
    /// bank and currency, in one transaction: [`HubStore::bank_sums_ever`] then reads those days'
    /// sums instead of their rows. Only for days whose books can no longer change (no leg is
    /// done on a day that is over); an earlier or equal `before_ms` than the last does nothing.
    /// On PostgreSQL, which hubs with clocks of their own share, never past the start of the
    /// database server's yesterday, whatever `before_ms` says.
    fn roll_up_books(&self, before_ms: i64) -> impl Future<Output = Result<()>> + Send;
    /// [`HubStore::bank_sums`] over every day: the rolled-up days' sums and the later days' rows,
    /// read together.
    fn bank_sums_ever(&self) -> impl Future<Output = Result<Vec<BankSums>>> + Send;
    /// Every payment whose row is [`PaymentRow::held`].
    fn payments_held(&self) -> impl Future<Output = Result<Vec<PaymentRow>>> + Send;
    /// Up to `limit` payments saved before `payment_books` existed and not since with their
    /// books: settlement books them (saves each with its books) before it sums.
    fn payments_unbooked(&self, limit: u32)
    -> impl Future<Output = Result<Vec<PaymentRow>>> + Send;
    /// A caller's messages with `seq > after_seq`, oldest first.
    fn notifications(
        &self,
        caller_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<NotificationRow>>> + Send;
    /// Deletes messages created before `created_before_ms`; returns how many.
    fn purge_notifications(
        &self,
        created_before_ms: i64,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// Counts a failure under a keyed hash: a card's failed identity verification, or an attempt
    /// at a user-name code's password (the table is `card_failures`, from when it counted cards
    /// only). The count restarts when the first failure of the window is older than `window_ms`.
    /// Returns the count, this one included.
    fn record_failure(
        &self,
        lookup: Vec<u8>,
        now_ms: i64,
        window_ms: i64,
    ) -> impl Future<Output = Result<i64>> + Send;
    /// Takes back one failure counted under `lookup` (an attempt counted before it was made that
    /// could not be made: the bank did not answer).
    fn forgive_failure(&self, lookup: Vec<u8>) -> impl Future<Output = Result<()>> + Send;
    /// Forgets the failures counted under `lookup` (a user-name code paid with its password).
    fn clear_failures(&self, lookup: Vec<u8>) -> impl Future<Output = Result<()>> + Send;
    /// Sets a wallet's TOTP seed (encrypted by the hub), replacing any earlier one.
    fn set_totp_seed(
        &self,
        caller_id: Uuid,
        sealed_seed: Vec<u8>,
        now_ms: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Forgets a wallet's TOTP seed (an operator's reset of a lost authenticator) and appends
    /// `note` to its notifications, in one transaction; false (and nothing written) when it had
    /// none.
    fn delete_totp_seed(
        &self,
        caller_id: Uuid,
        note: NotificationRow,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// A wallet's sealed TOTP seed and the last time step a code of it was accepted.
    fn totp_seed(
        &self,
        caller_id: Uuid,
    ) -> impl Future<Output = Result<Option<(Vec<u8>, i64)>>> + Send;
    /// Records that the code of time step `counter` was used, if no later or equal step was:
    /// false means the code was used before (a replay).
    fn use_totp_step(
        &self,
        caller_id: Uuid,
        counter: i64,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Deletes idempotency records created before `created_before_ms`; returns how many.
    fn purge_idempotency(&self, created_before_ms: i64)
    -> impl Future<Output = Result<u64>> + Send;
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
    /// The writer's work so far, where the backend has a writer of its own.
    fn writer_stats(&self) -> Option<WriterStats> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseUrl::parse("postgres://postgres@127.0.0.1:5432/test"),
            Ok(DatabaseUrl::Postgres(
                "postgres://postgres@127.0.0.1:5432/test".into()
            ))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:data/bank.db"),
            Ok(DatabaseUrl::Sqlite("data/bank.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("data/bank.db"),
            Ok(DatabaseUrl::Sqlite("data/bank.db".into()))
        );
        for wrong in [
            "postgress://postgres@127.0.0.1/test",
            "host=localhost user=postgres",
            "mysql://root@127.0.0.1/test",
            "",
            "sqlite:",
        ] {
            assert!(DatabaseUrl::parse(wrong).is_err(), "{wrong}");
        }
    }
}
