//! The PostgreSQL backend. Each service keeps its tables in its own schema (`search_path`), so one
//! database can hold the hub and several banks.
//!
//! A batch of transfers costs a fixed number of round trips whatever its size: the rows it needs
//! are loaded with `= ANY($1)` (accounts locked `FOR UPDATE` in id order, so concurrent batches
//! cannot deadlock), decided in `core`, and written back with `UNNEST` arrays.

use std::future::Future;
use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use scanpay_core::ledger::{
    self, Account, Decision, HoldState, Outcome, Snapshot, Transfer, TransferCommand, TransferKind,
};
use scanpay_core::money::Currency;
use scanpay_core::payment::{BankSums, BookEntry};
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use crate::UNDELIVERED_MERCHANTS;
use crate::vault::Vault;
use crate::{
    AccountKind, AccountRow, Announcements, BankStore, BindingRow, CallerRow, CardRow, Claim,
    CodeConflict, CodeRow, CustomerRow, DeliveryRow, HubStore, IdempotencyRecord, LedgerTotals,
    MerchantRow, NotificationRow, PERSONAL_DATA, PaymentRow, PaymentSummary, Rebound, Record,
    RegistrationRow, Result, StatementLine, StoreError, reseal, schema,
};

/// Connections a service keeps to PostgreSQL.
const POOL_SIZE_MAX: usize = 16;

/// How PostgreSQL plans the prepared statements of a pool.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Plans {
    /// PostgreSQL's default: after five runs a statement may keep one generic plan, which saves
    /// planning each point query (the hub's reads).
    Cached,
    /// Planned for each run's values: the ledger's `= ANY($1)` and `UNNEST` statements got a
    /// generic plan that made batched transfers ten times slower (measured: 3,660 against
    /// 35,550 transfers/s).
    Custom,
}

async fn connect(url: &str, schema_name: &str, migrations: &[&str], plans: Plans) -> Result<Pool> {
    if !schema_name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StoreError::Database(format!(
            "schema name {schema_name:?} must be lowercase letters, digits and _"
        )));
    }
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Database(format!("database url: {e}")))?;
    let mut options = format!("-c search_path={schema_name}");
    if plans == Plans::Custom {
        options.push_str(" -c plan_cache_mode=force_custom_plan");
    }
    config.options(options);
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(POOL_SIZE_MAX)
        .build()
        .map_err(|e| StoreError::Database(e.to_string()))?;
    let mut client = pool.get().await.map_err(pool_error)?;
    let tx = client.transaction().await?;
    // Two processes starting at once on one database migrate one after the other.
    tx.execute(
        &tx.prepare_cached("SELECT pg_advisory_xact_lock(7263001)")
            .await?,
        &[],
    )
    .await?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema_name};
         CREATE TABLE IF NOT EXISTS {schema_name}.schema_migrations (version bigint PRIMARY KEY);"
    ))
    .await?;
    let done: i64 = tx
        .query_one(
            &tx.prepare_cached("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                .await?,
            &[],
        )
        .await?
        .get(0);
    for (index, sql) in migrations.iter().enumerate().skip(done as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            &tx.prepare_cached("INSERT INTO schema_migrations (version) VALUES ($1)")
                .await?,
            &[&(index as i64 + 1)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(pool)
}

fn pool_error(error: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Database(format!("connection pool: {error}"))
}

/// A statement's parameters.
type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

// One statement on a connection from the pool, prepared once per connection (deadpool's
// statement cache): what most store methods are.

async fn execute(pool: &Pool, sql: &str, params: Params<'_>) -> Result<u64> {
    let client = pool.get().await.map_err(pool_error)?;
    let statement = client.prepare_cached(sql).await?;
    Ok(client.execute(&statement, params).await?)
}

async fn query(pool: &Pool, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
    let client = pool.get().await.map_err(pool_error)?;
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, params).await?)
}

async fn query_opt(pool: &Pool, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
    let client = pool.get().await.map_err(pool_error)?;
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_opt(&statement, params).await?)
}

async fn query_one(pool: &Pool, sql: &str, params: Params<'_>) -> Result<Row> {
    let client = pool.get().await.map_err(pool_error)?;
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_one(&statement, params).await?)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("unreadable {what} in the database"))
}

/// The bank's ledger and records in a PostgreSQL schema.
#[derive(Clone)]
pub struct PgBank {
    pool: Pool,
    /// The session holding this schema's writer lock: a bank is the single writer of its ledger
    /// (the batch step reads holds before it locks accounts), so a second bank process on the
    /// same schema is refused instead of racing. Dropped with the last clone, freeing the lock.
    _writer_lock: Arc<tokio_postgres::Client>,
    /// Taken by every ledger transaction as well (`pg_advisory_xact_lock`): should the writer
    /// lock's session end unnoticed (a dropped connection, a server restart) and a second process
    /// start, their batches still run one at a time, each reading what the other committed.
    batch_lock_key: i64,
}

/// How long a starting bank waits for the writer lock (a killed predecessor's session takes a
/// moment to end on the server).
const WRITER_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A stable 64-bit key from the schema name (FNV-1a), for the writer lock; the key after it is the
/// batches' lock.
fn writer_key(schema_name: &str) -> i64 {
    schema_name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) as i64
}

const BATCH_LOCK: &str = "SELECT pg_advisory_xact_lock($1)";

async fn writer_lock(url: &str, schema_name: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "the ledger writer-lock session ended");
        }
    });
    let key = writer_key(schema_name);
    let deadline = std::time::Instant::now() + WRITER_LOCK_WAIT;
    loop {
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await?
            .get(0);
        if locked {
            return Ok(client);
        }
        if std::time::Instant::now() >= deadline {
            return Err(StoreError::Database(format!(
                "another bank process is the writer of schema {schema_name}; run one process \
                 per bank"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

impl PgBank {
    pub async fn connect(url: &str, schema_name: &str) -> Result<PgBank> {
        let pool = connect(url, schema_name, schema::BANK_POSTGRES, Plans::Custom).await?;
        let lock = writer_lock(url, schema_name).await?;
        Ok(PgBank {
            pool,
            _writer_lock: Arc::new(lock),
            batch_lock_key: writer_key(schema_name).wrapping_add(1),
        })
    }
}

const TRANSFER_COLUMNS: &str = "id, kind, debit_account_id, credit_account_id, amount_minor, \
    currency, pending_id, timeout_seconds, reference, outcome, requested_amount_minor, \
    requested_debit_account_id, requested_credit_account_id, hold_state, expires_at_ms, \
    created_at_ms";

const ACCOUNT_COLUMNS: &str = "id, kind, customer_id, currency, overdraft_limit_minor, \
    debits_pending, debits_posted, credits_pending, credits_posted, created_at_ms, closed_at_ms";

fn transfer_from_row(row: &Row, offset: usize) -> Result<Transfer> {
    let kind: &str = row.get(offset + 1);
    let currency: &str = row.get(offset + 5);
    let outcome: &str = row.get(offset + 9);
    let hold_state: Option<&str> = row.get(offset + 13);
    let timeout: Option<i64> = row.get(offset + 7);
    Ok(Transfer {
        id: row.get(offset),
        kind: TransferKind::parse(kind).ok_or_else(|| corrupt("kind"))?,
        debit_account_id: row.get(offset + 2),
        credit_account_id: row.get(offset + 3),
        amount_minor: row.get(offset + 4),
        currency: Currency::parse(currency).map_err(|_| corrupt("currency"))?,
        pending_id: row.get(offset + 6),
        timeout_seconds: timeout.map(|t| t as u32),
        reference: row.get(offset + 8),
        outcome: Outcome::parse(outcome).ok_or_else(|| corrupt("outcome"))?,
        requested_amount_minor: row.get(offset + 10),
        requested_debit_account_id: row.get(offset + 11),
        requested_credit_account_id: row.get(offset + 12),
        hold_state: match hold_state {
            Some(s) => Some(HoldState::parse(s).ok_or_else(|| corrupt("hold state"))?),
            None => None,
        },
        expires_at_ms: row.get(offset + 14),
        created_at_ms: row.get(offset + 15),
    })
}

fn account_from_row(row: &Row) -> Result<AccountRow> {
    let kind: &str = row.get(1);
    let currency: &str = row.get(3);
    Ok(AccountRow {
        account: Account {
            id: row.get(0),
            currency: Currency::parse(currency).map_err(|_| corrupt("currency"))?,
            overdraft_limit_minor: row.get(4),
            debits_pending: row.get(5),
            debits_posted: row.get(6),
            credits_pending: row.get(7),
            credits_posted: row.get(8),
            closed_at_ms: row.get(10),
        },
        kind: AccountKind::parse(kind).ok_or_else(|| corrupt("account kind"))?,
        customer_id: row.get(2),
        created_at_ms: row.get(9),
    })
}

async fn load_accounts(
    tx: &deadpool_postgres::Transaction<'_>,
    ids: &[Uuid],
    snapshot: &mut Snapshot,
) -> Result<()> {
    for account in read_accounts(tx, ids).await? {
        snapshot.accounts.insert(account.id, account);
    }
    Ok(())
}

/// The accounts `ids` (sorted), locked for the rest of the transaction.
async fn read_accounts(
    tx: &deadpool_postgres::Transaction<'_>,
    ids: &[Uuid],
) -> Result<Vec<Account>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = tx
        .query(
            &tx.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE"
            ))
            .await?,
            &[&ids],
        )
        .await?;
    rows.iter()
        .map(|row| Ok(account_from_row(row)?.account))
        .collect()
}

async fn persist(
    tx: &deadpool_postgres::Transaction<'_>,
    effects: &ledger::BatchEffects,
) -> Result<()> {
    // Prepared first, all three: a statement executes on the server in the order its request
    // went out, and a cache miss would hold the insert back for its own round trip while the
    // hold updates went ahead — and found no row for a hold made in the same batch.
    let (insert, holds, accounts) = futures_util::future::try_join3(
        tx.prepare_cached(&INSERT_TRANSFERS),
        tx.prepare_cached(UPDATE_HOLDS),
        tx.prepare_cached(UPDATE_ACCOUNTS),
    )
    .await?;
    // Then issued together, in this order, pipelined on the connection (one round trip
    // instead of three): each request goes out when its future is first polled.
    futures_util::future::try_join3(
        insert_transfers(tx, &insert, &effects.inserted),
        update_holds(tx, &holds, &effects.holds_changed),
        update_accounts(tx, &accounts, &effects.accounts_changed),
    )
    .await?;
    Ok(())
}

static INSERT_TRANSFERS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO transfers ({TRANSFER_COLUMNS}) SELECT * FROM UNNEST( \
         $1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::int8[], $6::text[], \
         $7::uuid[], $8::int8[], $9::text[], $10::text[], $11::int8[], $12::uuid[], \
         $13::uuid[], $14::text[], $15::int8[], $16::int8[])"
    )
});

/// Only a pending hold ends (and the caller checks that each one did): a hold two writers both
/// decided to post is posted once, the other batch rolls back.
const UPDATE_HOLDS: &str = "UPDATE transfers SET hold_state = u.state \
     FROM UNNEST($1::uuid[], $2::text[]) AS u(id, state) \
     WHERE transfers.id = u.id AND transfers.hold_state = 'pending'";

const UPDATE_ACCOUNTS: &str = "UPDATE accounts SET debits_pending = u.dq, debits_posted = u.dp, \
     credits_pending = u.cq, credits_posted = u.cp, closed_at_ms = u.closed \
     FROM UNNEST($1::uuid[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[]) \
     AS u(id, dq, dp, cq, cp, closed) WHERE accounts.id = u.id";

async fn insert_transfers(
    tx: &deadpool_postgres::Transaction<'_>,
    statement: &tokio_postgres::Statement,
    rows: &[Transfer],
) -> Result<()> {
    if !rows.is_empty() {
        let ids: Vec<Uuid> = rows.iter().map(|t| t.id).collect();
        let kinds: Vec<&str> = rows.iter().map(|t| t.kind.code()).collect();
        let debits: Vec<Option<Uuid>> = rows.iter().map(|t| t.debit_account_id).collect();
        let credits: Vec<Option<Uuid>> = rows.iter().map(|t| t.credit_account_id).collect();
        let amounts: Vec<i64> = rows.iter().map(|t| t.amount_minor).collect();
        let currencies: Vec<&str> = rows.iter().map(|t| t.currency.code()).collect();
        let pending: Vec<Option<Uuid>> = rows.iter().map(|t| t.pending_id).collect();
        let timeouts: Vec<Option<i64>> = rows
            .iter()
            .map(|t| t.timeout_seconds.map(i64::from))
            .collect();
        let references: Vec<Option<&str>> = rows.iter().map(|t| t.reference.as_deref()).collect();
        let outcomes: Vec<&str> = rows.iter().map(|t| t.outcome.code()).collect();
        let requested_amounts: Vec<Option<i64>> =
            rows.iter().map(|t| t.requested_amount_minor).collect();
        let requested_debits: Vec<Option<Uuid>> =
            rows.iter().map(|t| t.requested_debit_account_id).collect();
        let requested_credits: Vec<Option<Uuid>> =
            rows.iter().map(|t| t.requested_credit_account_id).collect();
        let hold_states: Vec<Option<&str>> = rows
            .iter()
            .map(|t| t.hold_state.map(HoldState::code))
            .collect();
        let expires: Vec<Option<i64>> = rows.iter().map(|t| t.expires_at_ms).collect();
        let created: Vec<i64> = rows.iter().map(|t| t.created_at_ms).collect();
        tx.execute(
            statement,
            &[
                &ids,
                &kinds,
                &debits,
                &credits,
                &amounts,
                &currencies,
                &pending,
                &timeouts,
                &references,
                &outcomes,
                &requested_amounts,
                &requested_debits,
                &requested_credits,
                &hold_states,
                &expires,
                &created,
            ],
        )
        .await?;
    }
    Ok(())
}

async fn update_holds(
    tx: &deadpool_postgres::Transaction<'_>,
    statement: &tokio_postgres::Statement,
    holds_changed: &[(Uuid, HoldState)],
) -> Result<()> {
    if !holds_changed.is_empty() {
        let ids: Vec<Uuid> = holds_changed.iter().map(|(id, _)| *id).collect();
        let states: Vec<&str> = holds_changed.iter().map(|(_, s)| s.code()).collect();
        let changed = tx.execute(statement, &[&ids, &states]).await?;
        // A hold ends once, so each appears once; one not found would stay pending for ever.
        if changed as usize != holds_changed.len() {
            return Err(StoreError::Database(format!(
                "{changed} of {} changed holds found",
                holds_changed.len()
            )));
        }
    }
    Ok(())
}

async fn update_accounts(
    tx: &deadpool_postgres::Transaction<'_>,
    statement: &tokio_postgres::Statement,
    accounts: &[Account],
) -> Result<()> {
    if !accounts.is_empty() {
        let ids: Vec<Uuid> = accounts.iter().map(|a| a.id).collect();
        let dq: Vec<i64> = accounts.iter().map(|a| a.debits_pending).collect();
        let dp: Vec<i64> = accounts.iter().map(|a| a.debits_posted).collect();
        let cq: Vec<i64> = accounts.iter().map(|a| a.credits_pending).collect();
        let cp: Vec<i64> = accounts.iter().map(|a| a.credits_posted).collect();
        let closed: Vec<Option<i64>> = accounts.iter().map(|a| a.closed_at_ms).collect();
        let changed = tx
            .execute(statement, &[&ids, &dq, &dp, &cq, &cp, &closed])
            .await?;
        assert_eq!(
            changed as usize,
            accounts.len(),
            "every changed account exists"
        );
    }
    Ok(())
}

fn customer_from_row(row: &Row) -> CustomerRow {
    CustomerRow {
        id: row.get(0),
        full_name: row.get(1),
        id_document_type: row.get(2),
        id_number_ciphertext: row.get(3),
        id_number_lookup: row.get(4),
        birth_date: row.get(5),
        address: row.get(6),
        phone: row.get(7),
        created_at_ms: row.get(8),
    }
}

fn card_from_row(row: &Row) -> CardRow {
    let month: i16 = row.get(5);
    let year: i32 = row.get(6);
    CardRow {
        id: row.get(0),
        account_id: row.get(1),
        pan_ciphertext: row.get(2),
        pan_lookup: row.get(3),
        last4: row.get(4),
        expiry_month: month as u8,
        expiry_year: year as u16,
        holder_name: row.get(7),
        network: row.get(8),
        created_at_ms: row.get(9),
    }
}

fn duplicate(error: impl Into<StoreError>, what: &'static str) -> StoreError {
    match error.into() {
        StoreError::Duplicate(_) => StoreError::Duplicate(what),
        other => other,
    }
}

impl BankStore for PgBank {
    async fn commit_transfers(
        &self,
        now_ms: i64,
        commands: Vec<TransferCommand>,
    ) -> Result<Vec<Decision>> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await?;
        // Prepared before anything is sent, so that the lock runs first in the pipeline below.
        let batch_lock = tx.prepare_cached(BATCH_LOCK).await?;
        let (mut account_ids, transfer_ids) = ledger::ids_to_load(&commands);
        account_ids.sort_unstable();
        account_ids.dedup();
        let mut snapshot = Snapshot::default();
        // The transfers and the accounts the commands name are read together (pipelined);
        // only the accounts of holds among those transfers must wait for them.
        let transfers = async {
            tx.query(
                &tx.prepare_cached(&format!(
                    "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ANY($1)"
                ))
                .await?,
                &[&transfer_ids],
            )
            .await
            .map_err(StoreError::from)
        };
        let locked = async {
            tx.execute(&batch_lock, &[&self.batch_lock_key])
                .await
                .map_err(StoreError::from)
        };
        let (_, rows, accounts) =
            futures_util::future::try_join3(locked, transfers, read_accounts(&tx, &account_ids))
                .await?;
        snapshot
            .accounts
            .extend(accounts.into_iter().map(|a| (a.id, a)));
        for row in &rows {
            let t = transfer_from_row(row, 0)?;
            snapshot.transfers.insert(t.id, t);
        }
        let mut holds_accounts: Vec<Uuid> = ledger::hold_accounts_to_load(&snapshot)
            .into_iter()
            .filter(|id| !snapshot.accounts.contains_key(id))
            .collect();
        holds_accounts.sort_unstable();
        holds_accounts.dedup();
        load_accounts(&tx, &holds_accounts, &mut snapshot).await?;
        let (decisions, effects) = ledger::decide_batch(now_ms, &commands, &mut snapshot);
        persist(&tx, &effects).await?;
        tx.commit().await?;
        Ok(decisions)
    }

    async fn expire_holds(&self, now_ms: i64, limit: u32) -> Result<usize> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await?;
        tx.execute(
            &tx.prepare_cached(BATCH_LOCK).await?,
            &[&self.batch_lock_key],
        )
        .await?;
        let rows = tx
            .query(
                &tx.prepare_cached(&format!(
                    "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE hold_state = 'pending' \
                     AND expires_at_ms IS NOT NULL AND expires_at_ms <= $1 \
                     ORDER BY expires_at_ms LIMIT $2 FOR UPDATE SKIP LOCKED"
                ))
                .await?,
                &[&now_ms, &i64::from(limit)],
            )
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut snapshot = Snapshot::default();
        for row in &rows {
            let t = transfer_from_row(row, 0)?;
            snapshot.transfers.insert(t.id, t);
        }
        let accounts = ledger::hold_accounts_to_load(&snapshot);
        load_accounts(&tx, &accounts, &mut snapshot).await?;
        let effects = ledger::expire_holds(now_ms, &mut snapshot);
        persist(&tx, &effects).await?;
        tx.commit().await?;
        Ok(effects.holds_changed.len())
    }

    async fn insert_records(&self, records: Vec<Record>) -> Result<()> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await?;
        for record in &records {
            match record {
                Record::Customer(c) => {
                    tx.execute(
                        &tx.prepare_cached(
                            "INSERT INTO customers (id, full_name, id_document_type, \
                         id_number_ciphertext, id_number_lookup, birth_date, address, phone, \
                         created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        )
                        .await?,
                        &[
                            &c.id,
                            &c.full_name,
                            &c.id_document_type,
                            &c.id_number_ciphertext,
                            &c.id_number_lookup,
                            &c.birth_date,
                            &c.address,
                            &c.phone,
                            &c.created_at_ms,
                        ],
                    )
                    .await
                    .map_err(|e| duplicate(e, "customer"))?;
                }
                Record::Account(a) => {
                    let x = &a.account;
                    tx.execute(
                        &tx.prepare_cached(&format!(
                            "INSERT INTO accounts ({ACCOUNT_COLUMNS}) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                        ))
                        .await?,
                        &[
                            &x.id,
                            &a.kind.code(),
                            &a.customer_id,
                            &x.currency.code(),
                            &x.overdraft_limit_minor,
                            &x.debits_pending,
                            &x.debits_posted,
                            &x.credits_pending,
                            &x.credits_posted,
                            &a.created_at_ms,
                            &x.closed_at_ms,
                        ],
                    )
                    .await
                    .map_err(|e| duplicate(e, "account"))?;
                }
                Record::Card(c) => {
                    tx.execute(
                        &tx.prepare_cached(
                            "INSERT INTO cards (id, account_id, pan_ciphertext, pan_lookup, last4, \
                         expiry_month, expiry_year, holder_name, network, created_at_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        )
                        .await?,
                        &[
                            &c.id,
                            &c.account_id,
                            &c.pan_ciphertext,
                            &c.pan_lookup,
                            &c.last4,
                            &i16::from(c.expiry_month),
                            &i32::from(c.expiry_year),
                            &c.holder_name,
                            &c.network,
                            &c.created_at_ms,
                        ],
                    )
                    .await
                    .map_err(|e| duplicate(e, "card"))?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn account(&self, id: Uuid) -> Result<Option<AccountRow>> {
        let row = query_opt(
            &self.pool,
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"),
            &[&id],
        )
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn customer(&self, id: Uuid) -> Result<Option<CustomerRow>> {
        let row = query_opt(
            &self.pool,
            "SELECT id, full_name, id_document_type, id_number_ciphertext, \
             id_number_lookup, \
             birth_date, address, phone, created_at_ms FROM customers WHERE id = $1",
            &[&id],
        )
        .await?;
        Ok(row.as_ref().map(customer_from_row))
    }

    async fn card_by_lookup(&self, pan_lookup: Vec<u8>) -> Result<Option<CardRow>> {
        let row = query_opt(
            &self.pool,
            "SELECT id, account_id, pan_ciphertext, pan_lookup, last4, expiry_month, \
             expiry_year, holder_name, network, created_at_ms FROM cards \
             WHERE pan_lookup = $1",
            &[&pan_lookup],
        )
        .await?;
        Ok(row.as_ref().map(card_from_row))
    }

    async fn transfer(&self, id: Uuid) -> Result<Option<Transfer>> {
        let row = query_opt(
            &self.pool,
            &format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = $1"),
            &[&id],
        )
        .await?;
        row.as_ref().map(|r| transfer_from_row(r, 0)).transpose()
    }

    async fn statement(
        &self,
        account_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StatementLine>> {
        let limit = i64::from(limit.min(crate::STATEMENT_PAGE_MAX));
        let rows = query(
            &self.pool,
            &format!(
                "SELECT seq, {TRANSFER_COLUMNS} FROM ( \
                 SELECT * FROM transfers WHERE debit_account_id = $1 AND seq > $2 \
                 AND outcome = 'created' \
                 UNION ALL \
                 SELECT * FROM transfers WHERE credit_account_id = $1 AND seq > $2 \
                 AND outcome = 'created' \
                 ) AS lines ORDER BY seq LIMIT $3"
            ),
            &[&account_id, &after_seq, &limit],
        )
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StatementLine {
                    seq: row.get(0),
                    transfer: transfer_from_row(row, 1)?,
                })
            })
            .collect()
    }

    async fn insert_binding(&self, binding: BindingRow) -> Result<()> {
        execute(
            &self.pool,
            "INSERT INTO bindings (code_hash, terminal_id, account_id, created_at_ms, \
             registration_id) VALUES ($1, $2, $3, $4, $5)",
            &[
                &binding.code_hash,
                &binding.terminal_id,
                &binding.account_id,
                &binding.created_at_ms,
                &binding.registration_id,
            ],
        )
        .await
        .map_err(|e| duplicate(e, "binding"))?;
        Ok(())
    }

    async fn binding(&self, code_hash: Vec<u8>) -> Result<Option<BindingRow>> {
        Ok(self.bindings(vec![code_hash]).await?.pop().flatten())
    }

    async fn bindings(&self, code_hashes: Vec<Vec<u8>>) -> Result<Vec<Option<BindingRow>>> {
        let rows = query(
            &self.pool,
            "SELECT code_hash, terminal_id, account_id, created_at_ms, registration_id \
             FROM bindings WHERE code_hash = ANY($1)",
            &[&code_hashes],
        )
        .await?;
        let found: std::collections::HashMap<Vec<u8>, BindingRow> = rows
            .iter()
            .map(|row| {
                let binding = BindingRow {
                    code_hash: row.get(0),
                    terminal_id: row.get(1),
                    account_id: row.get(2),
                    created_at_ms: row.get(3),
                    registration_id: row.get(4),
                };
                (binding.code_hash.clone(), binding)
            })
            .collect();
        // A hash asked twice (two payments with one code) gets its binding twice.
        Ok(code_hashes
            .iter()
            .map(|hash| found.get(hash).cloned())
            .collect())
    }

    async fn revoke_bindings(&self, registration_id: Uuid) -> Result<u64> {
        execute(
            &self.pool,
            "DELETE FROM bindings WHERE registration_id = $1",
            &[&registration_id],
        )
        .await
    }

    async fn customer_count(&self) -> Result<i64> {
        Ok(query_one(&self.pool, "SELECT COUNT(*) FROM customers", &[])
            .await?
            .get(0))
    }

    async fn bind_personal_data(&self, vault: Arc<Vault>) -> Result<Rebound> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await?;
        let mut rebound = Rebound::default();
        // Locked: a second process starting on the same schema waits, then finds it done.
        let done: bool = tx
            .query_one(
                "SELECT purpose_bound FROM personal_data_sealing WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?
            .get(0);
        if !done {
            // Nothing else writes either table meanwhile (the bank's writer lock keeps other
            // bank processes out; this keeps anything else out too).
            tx.batch_execute("LOCK TABLE customers, cards IN SHARE MODE")
                .await?;
            for (table, column, lookup, purpose) in PERSONAL_DATA {
                let rows = tx
                    .query(&format!("SELECT id, {column}, {lookup} FROM {table}"), &[])
                    .await?;
                let update = tx
                    .prepare(&format!("UPDATE {table} SET {column} = $2 WHERE id = $1"))
                    .await?;
                for row in rows {
                    let (id, data, lookup): (Uuid, Vec<u8>, Vec<u8>) =
                        (row.get(0), row.get(1), row.get(2));
                    let sealed = (purpose, id, data.as_slice(), lookup.as_slice());
                    if let Some(again) = reseal(&vault, sealed, &mut rebound) {
                        tx.execute(&update, &[&id, &again]).await?;
                    }
                }
            }
            // Not done while a value is left unsealed: the next start tries again.
            if rebound.unreadable == 0 {
                tx.execute(
                    "UPDATE personal_data_sealing SET purpose_bound = true WHERE id = 1",
                    &[],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(rebound)
    }

    async fn accounts_of_kind(&self, kind: AccountKind, limit: u32) -> Result<Vec<AccountRow>> {
        let rows = query(
            &self.pool,
            &format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE kind = $1 \
                 ORDER BY created_at_ms, id LIMIT $2"
            ),
            &[&kind.code(), &i64::from(limit)],
        )
        .await?;
        rows.iter().map(account_from_row).collect()
    }

    async fn totals(&self) -> Result<LedgerTotals> {
        // `SUM` of `int8` is `numeric`, exact past `i64`; it comes back as text.
        let a = query_one(
            &self.pool,
            "SELECT COUNT(*), COALESCE(SUM(debits_posted), 0)::text, \
             COALESCE(SUM(credits_posted), 0)::text, \
             COALESCE(SUM(debits_pending), 0)::text, \
             COALESCE(SUM(credits_pending), 0)::text FROM accounts",
            &[],
        )
        .await?;
        let t = query_one(
            &self.pool,
            "SELECT COUNT(*) FILTER (WHERE outcome = 'created'), \
             COUNT(*) FILTER (WHERE outcome <> 'created'), \
             COALESCE(SUM(amount_minor) FILTER (WHERE outcome = 'created' \
             AND kind IN ('single', 'post_pending')), 0)::text, \
             COALESCE(SUM(amount_minor) FILTER (WHERE hold_state = 'pending'), 0)::text \
             FROM transfers",
            &[],
        )
        .await?;
        let sum = |row: &Row, index: usize| -> Result<i128> {
            let text: &str = row.get(index);
            text.parse()
                .map_err(|_| StoreError::Database(format!("a ledger sum reads {text:?}")))
        };
        Ok(LedgerTotals {
            accounts: a.get(0),
            debits_posted: sum(&a, 1)?,
            credits_posted: sum(&a, 2)?,
            debits_pending: sum(&a, 3)?,
            credits_pending: sum(&a, 4)?,
            transfers_created: t.get(0),
            transfers_rejected: t.get(1),
            posted_from_transfers: sum(&t, 2)?,
            pending_from_holds: sum(&t, 3)?,
        })
    }
}

/// The hub's records in a PostgreSQL schema. Several hub processes may share it.
///
/// The writes on the payment path (a payment inserted, updated; a notification appended) are
/// group-committed, as every SQLite write is: one task takes whatever is queued, runs it in one
/// transaction (the statements pipelined on one connection) and commits once. If anything in the
/// group fails (a duplicate id, a deadlock with another hub), nothing of it was committed, and
/// each write runs again alone so its own outcome is answered. Each commit runs on a task of its
/// own: a panic in one (a bug) abandons that commit's writes, as a panicking job does on SQLite,
/// and the writer goes on.
#[derive(Clone)]
pub struct PgHub {
    pool: Pool,
    writer: tokio::sync::mpsc::UnboundedSender<PgJob>,
}

/// A group-committed write.
enum PgWrite {
    InsertPayment(PaymentRow),
    /// Answers 1 when the row was at the expected version (and is replaced, and the
    /// announcements written), else 0.
    UpdatePayment(PaymentRow, Announcements),
}

struct PgJob<W = PgWrite> {
    write: W,
    reply: tokio::sync::oneshot::Sender<Result<i64>>,
}

/// Writes committed together, at most.
const WRITES_PER_COMMIT_MAX: usize = 512;

impl PgHub {
    pub async fn connect(url: &str, schema_name: &str) -> Result<PgHub> {
        let pool = connect(url, schema_name, schema::HUB_POSTGRES, Plans::Cached).await?;
        let (writer, jobs) = tokio::sync::mpsc::unbounded_channel();
        let committer = pool.clone();
        tokio::spawn(write_groups(jobs, move |writes| {
            commit_group(committer.clone(), writes)
        }));
        Ok(PgHub { pool, writer })
    }

    async fn write(&self, write: PgWrite) -> Result<i64> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writer
            .send(PgJob { write, reply })
            .map_err(|_| StoreError::Database("the writer task stopped".to_string()))?;
        // The writer answers every job it takes, a panicking commit's too; a reply is dropped
        // only if the writer task itself ended (the runtime shutting down), after which the
        // write may or may not have been committed.
        answer
            .await
            .map_err(|_| StoreError::Abandoned("the write was dropped".to_string()))?
    }
}

/// The group-commit task: ends when every `PgHub` clone is dropped. `commit` runs writes in one
/// transaction and answers one number a write.
async fn write_groups<W, C, F>(mut jobs: tokio::sync::mpsc::UnboundedReceiver<PgJob<W>>, commit: C)
where
    W: Send + Sync + 'static,
    C: Fn(Vec<Arc<W>>) -> F,
    F: Future<Output = Result<Vec<i64>>> + Send + 'static,
{
    while let Some(first) = jobs.recv().await {
        let mut group = vec![first];
        while group.len() < WRITES_PER_COMMIT_MAX {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (writes, replies): (Vec<Arc<W>>, Vec<_>) = group
            .into_iter()
            .map(|job| (Arc::new(job.write), job.reply))
            .unzip();
        match on_own_task(commit(writes.clone())).await {
            Ok(answers) if answers.len() == replies.len() => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Ok(_) => {
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Database(
                        "the commit answered another number of writes".to_string(),
                    )));
                }
            }
            Err(_) => {
                // Nothing of the group stands: each write alone, with its own outcome.
                for (write, reply) in writes.into_iter().zip(replies) {
                    let answer = on_own_task(commit(vec![write])).await.and_then(|answers| {
                        answers.into_iter().next().ok_or_else(|| {
                            StoreError::Database("the commit answered no write".to_string())
                        })
                    });
                    let _ = reply.send(answer);
                }
            }
        }
    }
}

/// Runs a commit on a task of its own, so that a panic in it ends that commit, not the writer:
/// its writes are abandoned (nothing runs after `COMMIT` in [`commit_group`], so a panic comes
/// before it; the dropped transaction queues its `ROLLBACK` before the connection goes back to
/// the pool).
async fn on_own_task(
    commit: impl Future<Output = Result<Vec<i64>>> + Send + 'static,
) -> Result<Vec<i64>> {
    tokio::spawn(commit).await.unwrap_or_else(|error| {
        Err(StoreError::Abandoned(format!(
            "the commit's task ended: {error}"
        )))
    })
}

async fn commit_group(pool: Pool, group: Vec<Arc<PgWrite>>) -> Result<Vec<i64>> {
    let mut client = pool.get().await.map_err(pool_error)?;
    let transaction = client.transaction().await?;
    // The streams the group appends to, locked before any row (see `lock_streams`). Prepared
    // before (once per connection), so that the lock is the first statement sent.
    let callers = group.iter().filter_map(|write| match &**write {
        PgWrite::UpdatePayment(_, news) => Some(news.notifications.iter().map(|n| n.caller_id)),
        PgWrite::InsertPayment(_) => None,
    });
    let callers = stream_keys(callers.flatten());
    let lock_statement = if callers.is_empty() {
        None
    } else {
        Some(transaction.prepare_cached(LOCK_STREAMS).await?)
    };
    let lock_callers = async {
        if let Some(statement) = &lock_statement {
            transaction.execute(statement, &[&callers]).await?;
        }
        Ok::<_, StoreError>(())
    };
    // Issued together, the statements are pipelined on the connection, in this order.
    let (locked, answers) = futures_util::future::join(
        lock_callers,
        futures_util::future::try_join_all(
            group.iter().map(|write| run_write(&transaction, write)),
        ),
    )
    .await;
    locked?;
    let answers = answers?;
    transaction.commit().await?;
    Ok(answers)
}

async fn run_write(
    transaction: &deadpool_postgres::Transaction<'_>,
    write: &PgWrite,
) -> Result<i64> {
    match write {
        PgWrite::InsertPayment(row) => {
            transaction
                .execute(
                    &transaction
                        // A new row is booked: its books are complete (none, if not given).
                        .prepare_cached(&format!(
                            "INSERT INTO payments ({PAYMENT_COLUMNS}, booked) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, true)"
                        ))
                        .await?,
                    &[
                        &row.id,
                        &row.payer_id,
                        &row.payee_id,
                        &row.state,
                        &row.version,
                        &row.next_check_ms,
                        &row.data,
                        &row.created_at_ms,
                        &row.updated_at_ms,
                        &row.amount_minor,
                        &row.exempted,
                        &row.held,
                    ],
                )
                .await
                .map_err(|e| duplicate(e, "payment"))?;
            if let Some(books) = &row.books {
                insert_books(transaction, row.id, books).await?;
            }
            Ok(1)
        }
        PgWrite::UpdatePayment(row, news) => {
            let changed = transaction
                .execute(
                    &transaction
                        .prepare_cached(
                            "UPDATE payments SET state = $2, version = $3::int8, \
                             next_check_ms = $4, data = $5, updated_at_ms = $6, held = $7, \
                             booked = booked OR $8 WHERE id = $1 AND version = $3::int8 - 1",
                        )
                        .await?,
                    &[
                        &row.id,
                        &row.state,
                        &row.version,
                        &row.next_check_ms,
                        &row.data,
                        &row.updated_at_ms,
                        &row.held,
                        &row.books.is_some(),
                    ],
                )
                .await?;
            if changed != 1 {
                return Ok(0);
            }
            if let Some(books) = &row.books {
                replace_books(transaction, row.id, books).await?;
            }
            for note in &news.notifications {
                insert_notification(transaction, note).await?;
            }
            for delivery in &news.deliveries {
                insert_delivery(transaction, delivery).await?;
            }
            Ok(1)
        }
    }
}

fn bank_sums_from_row(r: &Row) -> BankSums {
    BankSums {
        bank_id: r.get(0),
        currency: r.get(1),
        paid_out_minor: r.get(2),
        received_minor: r.get(3),
        clearing_minor: r.get(4),
    }
}

/// Replaces a payment's [`PaymentRow::books`]: two statements whatever their number.
async fn replace_books(
    transaction: &deadpool_postgres::Transaction<'_>,
    payment_id: Uuid,
    books: &[BookEntry],
) -> Result<()> {
    transaction
        .execute(
            &transaction
                .prepare_cached("DELETE FROM payment_books WHERE payment_id = $1")
                .await?,
            &[&payment_id],
        )
        .await?;
    insert_books(transaction, payment_id, books).await
}

/// Writes a payment's [`PaymentRow::books`] where it has none yet (a new payment): one
/// statement, none when there are no entries.
async fn insert_books(
    transaction: &deadpool_postgres::Transaction<'_>,
    payment_id: Uuid,
    books: &[BookEntry],
) -> Result<()> {
    if books.is_empty() {
        return Ok(());
    }
    let days: Vec<i64> = books.iter().map(|e| e.day_ms).collect();
    let banks: Vec<&str> = books.iter().map(|e| e.sums.bank_id.as_str()).collect();
    let currencies: Vec<&str> = books.iter().map(|e| e.sums.currency.as_str()).collect();
    let paid_out: Vec<i64> = books.iter().map(|e| e.sums.paid_out_minor).collect();
    let received: Vec<i64> = books.iter().map(|e| e.sums.received_minor).collect();
    let clearing: Vec<i64> = books.iter().map(|e| e.sums.clearing_minor).collect();
    transaction
        .execute(
            &transaction
                .prepare_cached(
                    "INSERT INTO payment_books (payment_id, day_ms, bank_id, currency, \
                     paid_out_minor, received_minor, clearing_minor) \
                     SELECT $1::uuid, * FROM unnest($2::int8[], $3::text[], $4::text[], $5::int8[], \
                     $6::int8[], $7::int8[])",
                )
                .await?,
            &[
                &payment_id,
                &days,
                &banks,
                &currencies,
                &paid_out,
                &received,
                &clearing,
            ],
        )
        .await?;
    Ok(())
}

/// Locks callers' notification streams for the rest of the transaction, in one order.
///
/// A sequence hands out numbers before commit, so two inserts could commit out of order and a
/// reader past the later one would never see the earlier. One caller's inserts take turns (a
/// transaction-scoped advisory lock on the caller, which other hubs take too), so its numbers
/// commit in order; readers read one caller at a time. A transaction takes all its streams'
/// locks at once and before any row lock: taken one by one, two transactions naming the same
/// two callers the other way round would deadlock (PostgreSQL kills one after a second).
const LOCK_STREAMS: &str = "SELECT pg_advisory_xact_lock(hashtextextended(c, 0)) \
     FROM unnest($1::text[]) WITH ORDINALITY AS t(c, n) ORDER BY n";

/// The keys [`LOCK_STREAMS`] takes for `callers`: sorted, once each.
fn stream_keys(callers: impl Iterator<Item = Uuid>) -> Vec<String> {
    let mut keys: Vec<String> = callers.map(|c| c.to_string()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Takes [`LOCK_STREAMS`] for the callers of a transaction's notifications.
async fn lock_streams(
    transaction: &deadpool_postgres::Transaction<'_>,
    callers: impl Iterator<Item = Uuid>,
) -> Result<()> {
    let keys = stream_keys(callers);
    if !keys.is_empty() {
        transaction
            .execute(&transaction.prepare_cached(LOCK_STREAMS).await?, &[&keys])
            .await?;
    }
    Ok(())
}

/// Appends a message to its caller's stream, whose lock the transaction holds
/// ([`lock_streams`]).
async fn insert_notification(
    transaction: &deadpool_postgres::Transaction<'_>,
    row: &NotificationRow,
) -> Result<()> {
    transaction
        .execute(
            &transaction
                .prepare_cached(
                    "INSERT INTO notifications (caller_id, data, created_at_ms) \
                     VALUES ($1, $2, $3)",
                )
                .await?,
            &[&row.caller_id, &row.data, &row.created_at_ms],
        )
        .await?;
    Ok(())
}

/// Writes a webhook delivery if its merchant has a webhook now (checked in the same transaction).
async fn insert_delivery(
    client: &deadpool_postgres::Transaction<'_>,
    row: &DeliveryRow,
) -> Result<()> {
    client
        .execute(
            &client
                .prepare_cached(&format!(
                    "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) \
                     SELECT $1::uuid, $2::uuid, $3::text, $4::text, $5::text, $6::int8, \
                     $7::int8, $8::int8, $9::text, $10::int8, $11::int8 \
                     WHERE EXISTS (SELECT 1 FROM merchants \
                     WHERE caller_id = $2 AND webhook_url IS NOT NULL)"
                ))
                .await?,
            &[
                &row.id,
                &row.merchant_id,
                &row.event_type,
                &row.payload,
                &row.state,
                &row.attempts,
                &row.next_attempt_ms,
                &row.last_status,
                &row.last_error,
                &row.created_at_ms,
                &row.updated_at_ms,
            ],
        )
        .await
        .map_err(|e| duplicate(e, "delivery"))?;
    Ok(())
}

fn registration_from_row(row: &Row) -> RegistrationRow {
    RegistrationRow {
        id: row.get(0),
        caller_id: row.get(1),
        state: row.get(2),
        version: row.get(3),
        data: row.get(4),
        created_at_ms: row.get(5),
        updated_at_ms: row.get(6),
    }
}

fn code_from_row(r: &Row) -> CodeRow {
    CodeRow {
        code_hash: r.get(0),
        card_lookup: r.get(1),
        registration_id: r.get(2),
        caller_id: r.get(3),
        bank_id: r.get(4),
        account_id: r.get(5),
        terminal_id: r.get(6),
        created_at_ms: r.get(7),
    }
}

const CODE_COLUMNS: &str = "code_hash, card_lookup, registration_id, caller_id, bank_id, \
     account_id, terminal_id, created_at_ms";

const MERCHANT_COLUMNS: &str =
    "caller_id, name, bank_id, account_id, created_at_ms, webhook_url, webhook_secrets";

fn merchant_from_row(r: &Row) -> MerchantRow {
    MerchantRow {
        caller_id: r.get(0),
        name: r.get(1),
        bank_id: r.get(2),
        account_id: r.get(3),
        created_at_ms: r.get(4),
        webhook_url: r.get(5),
        webhook_secrets: r.get(6),
    }
}

const DELIVERY_COLUMNS: &str = "id, merchant_id, event_type, payload, state, attempts, \
     next_attempt_ms, last_status, last_error, created_at_ms, updated_at_ms";

fn delivery_from_row(r: &Row) -> DeliveryRow {
    DeliveryRow {
        id: r.get(0),
        merchant_id: r.get(1),
        event_type: r.get(2),
        payload: r.get(3),
        state: r.get(4),
        attempts: r.get(5),
        next_attempt_ms: r.get(6),
        last_status: r.get(7),
        last_error: r.get(8),
        created_at_ms: r.get(9),
        updated_at_ms: r.get(10),
    }
}

const PAYMENT_COLUMNS: &str = "id, payer_id, payee_id, state, version, next_check_ms, data, \
     created_at_ms, updated_at_ms, amount_minor, exempted, held";

fn payment_from_row(r: &Row) -> PaymentRow {
    PaymentRow {
        id: r.get(0),
        payer_id: r.get(1),
        payee_id: r.get(2),
        state: r.get(3),
        version: r.get(4),
        next_check_ms: r.get(5),
        data: r.get(6),
        created_at_ms: r.get(7),
        updated_at_ms: r.get(8),
        amount_minor: r.get(9),
        exempted: r.get(10),
        held: r.get(11),
        books: None,
    }
}

fn caller_from_row(row: &Row) -> CallerRow {
    CallerRow {
        id: row.get(0),
        kind: row.get(1),
        name: row.get(2),
        token_hash: row.get(3),
        created_at_ms: row.get(4),
    }
}

impl HubStore for PgHub {
    async fn insert_caller(&self, caller: CallerRow) -> Result<()> {
        execute(
            &self.pool,
            "INSERT INTO callers (id, kind, name, token_hash, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &caller.id,
                &caller.kind,
                &caller.name,
                &caller.token_hash,
                &caller.created_at_ms,
            ],
        )
        .await
        .map_err(|e| duplicate(e, "caller"))?;
        Ok(())
    }

    async fn caller_by_token_hash(&self, token_hash: Vec<u8>) -> Result<Option<CallerRow>> {
        let row = query_opt(
            &self.pool,
            "SELECT id, kind, name, token_hash, created_at_ms FROM callers \
             WHERE token_hash = $1",
            &[&token_hash],
        )
        .await?;
        Ok(row.as_ref().map(caller_from_row))
    }

    async fn callers(&self, after: Option<(i64, Uuid)>, limit: u32) -> Result<Vec<CallerRow>> {
        let limit = i64::from(limit.min(crate::CALLERS_PAGE_MAX));
        let (after_ms, after_id) = after.unwrap_or((i64::MIN, Uuid::nil()));
        let rows = query(
            &self.pool,
            "SELECT id, kind, name, token_hash, created_at_ms FROM callers \
             WHERE (created_at_ms, id) > ($1, $2) ORDER BY created_at_ms, id LIMIT $3",
            &[&after_ms, &after_id, &limit],
        )
        .await?;
        Ok(rows.iter().map(caller_from_row).collect())
    }

    async fn claim(&self, record: IdempotencyRecord) -> Result<Claim> {
        let client = self.pool.get().await.map_err(pool_error)?;
        // Insert, or take over a lapsed claim of the same request; otherwise report what is there.
        let claimed = client
            .execute(
                &client
                    .prepare_cached(
                        "INSERT INTO idempotency_records (caller_id, key, request_hash, \
                         response_status, \
                         response_body, locked_until_ms, created_at_ms, claim_token) \
                         VALUES ($1, $2, $3, NULL, '', $4, $5, $6) \
                         ON CONFLICT (caller_id, key) DO UPDATE SET locked_until_ms = \
                         excluded.locked_until_ms, claim_token = excluded.claim_token \
                         WHERE idempotency_records.response_status IS NULL \
                         AND idempotency_records.locked_until_ms <= excluded.created_at_ms \
                         AND idempotency_records.request_hash = excluded.request_hash",
                    )
                    .await?,
                &[
                    &record.caller_id,
                    &record.key,
                    &record.request_hash,
                    &record.locked_until_ms,
                    &record.created_at_ms,
                    &record.claim_token,
                ],
            )
            .await?;
        if claimed == 1 {
            return Ok(Claim::Claimed);
        }
        let row = client
            .query_one(
                &client
                    .prepare_cached(
                        "SELECT caller_id, key, request_hash, response_status, response_body, \
                         locked_until_ms, created_at_ms, claim_token FROM idempotency_records \
                         WHERE caller_id = $1 AND key = $2",
                    )
                    .await?,
                &[&record.caller_id, &record.key],
            )
            .await?;
        let status: Option<i32> = row.get(3);
        Ok(Claim::Existing(IdempotencyRecord {
            caller_id: row.get(0),
            key: row.get(1),
            request_hash: row.get(2),
            response_status: status.map(|s| s as u16),
            response_body: row.get(4),
            locked_until_ms: row.get(5),
            created_at_ms: row.get(6),
            claim_token: row.get(7),
        }))
    }

    async fn complete(
        &self,
        caller_id: Uuid,
        key: String,
        claim_token: Vec<u8>,
        status: u16,
        body: Vec<u8>,
    ) -> Result<bool> {
        let changed = execute(
            &self.pool,
            "UPDATE idempotency_records SET response_status = $4, response_body = $5 \
             WHERE caller_id = $1 AND key = $2 AND claim_token = $3 \
             AND response_status IS NULL",
            &[&caller_id, &key, &claim_token, &i32::from(status), &body],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn release(&self, caller_id: Uuid, key: String, claim_token: Vec<u8>) -> Result<()> {
        execute(
            &self.pool,
            "DELETE FROM idempotency_records WHERE caller_id = $1 AND key = $2 \
             AND claim_token = $3 AND response_status IS NULL",
            &[&caller_id, &key, &claim_token],
        )
        .await?;
        Ok(())
    }

    async fn insert_registration(&self, row: RegistrationRow) -> Result<()> {
        execute(
            &self.pool,
            "INSERT INTO registrations (id, caller_id, state, version, data, \
             created_at_ms, \
             updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &row.id,
                &row.caller_id,
                &row.state,
                &row.version,
                &row.data,
                &row.created_at_ms,
                &row.updated_at_ms,
            ],
        )
        .await
        .map_err(|e| duplicate(e, "registration"))?;
        Ok(())
    }

    async fn update_registration(&self, row: RegistrationRow) -> Result<bool> {
        let changed = execute(
            &self.pool,
            "UPDATE registrations SET state = $2, version = $3::int8, data = $4, \
             updated_at_ms = $5 WHERE id = $1 AND version = $3::int8 - 1",
            &[
                &row.id,
                &row.state,
                &row.version,
                &row.data,
                &row.updated_at_ms,
            ],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn registration(&self, id: Uuid) -> Result<Option<RegistrationRow>> {
        let row = query_opt(
            &self.pool,
            "SELECT id, caller_id, state, version, data, created_at_ms, updated_at_ms \
             FROM registrations WHERE id = $1",
            &[&id],
        )
        .await?;
        Ok(row.as_ref().map(registration_from_row))
    }

    async fn registrations_of(&self, caller_id: Uuid, limit: u32) -> Result<Vec<RegistrationRow>> {
        let rows = query(
            &self.pool,
            "SELECT id, caller_id, state, version, data, created_at_ms, updated_at_ms \
             FROM registrations WHERE caller_id = $1 \
             ORDER BY created_at_ms DESC, id DESC LIMIT $2",
            &[&caller_id, &i64::from(limit)],
        )
        .await?;
        Ok(rows.iter().map(registration_from_row).collect())
    }

    async fn end_registration(
        &self,
        row: RegistrationRow,
        note: Option<NotificationRow>,
    ) -> Result<bool> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let transaction = client.transaction().await?;
        lock_streams(&transaction, note.iter().map(|n| n.caller_id)).await?;
        // The code goes only if the session's save won.
        let saved: i64 = transaction
            .query_one(
                &transaction
                    .prepare_cached(
                        "WITH saved AS (UPDATE registrations SET state = $2, version = $3::int8, \
                         data = $4, updated_at_ms = $5 WHERE id = $1 AND version = $3::int8 - 1 \
                         RETURNING id), \
                         dropped AS (DELETE FROM registration_codes \
                         WHERE registration_id IN (SELECT id FROM saved)) \
                         SELECT COUNT(*) FROM saved",
                    )
                    .await?,
                &[
                    &row.id,
                    &row.state,
                    &row.version,
                    &row.data,
                    &row.updated_at_ms,
                ],
            )
            .await?
            .get(0);
        if saved == 1
            && let Some(note) = &note
        {
            insert_notification(&transaction, note).await?;
        }
        transaction.commit().await?;
        Ok(saved == 1)
    }

    async fn first_bound_registration(
        &self,
        caller_id: Uuid,
        except: Uuid,
    ) -> Result<Option<RegistrationRow>> {
        let row = query_opt(
            &self.pool,
            "SELECT id, caller_id, state, version, data, created_at_ms, updated_at_ms \
             FROM registrations WHERE caller_id = $1 AND id <> $2 \
             AND state IN ('bound', 'revoked') \
             ORDER BY created_at_ms, id LIMIT 1",
            &[&caller_id, &except],
        )
        .await?;
        Ok(row.as_ref().map(registration_from_row))
    }

    async fn insert_code(&self, row: CodeRow) -> Result<(), CodeConflict> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let outcome = client
            .execute(
                &client
                    .prepare_cached(
                        "INSERT INTO registration_codes (code_hash, card_lookup, registration_id, \
                         caller_id, bank_id, account_id, terminal_id, created_at_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .await
                    .map_err(StoreError::from)?,
                &[
                    &row.code_hash,
                    &row.card_lookup,
                    &row.registration_id,
                    &row.caller_id,
                    &row.bank_id,
                    &row.account_id,
                    &row.terminal_id,
                    &row.created_at_ms,
                ],
            )
            .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                let constraint = e
                    .as_db_error()
                    .and_then(|d| d.constraint())
                    .unwrap_or_default()
                    .to_string();
                if constraint.contains("registration_id") {
                    Err(CodeConflict::RegistrationHasCode)
                } else if constraint.contains("card_lookup") {
                    Err(CodeConflict::CardTaken)
                } else {
                    Err(CodeConflict::CodeTaken)
                }
            }
            Err(e) => Err(CodeConflict::Store(e.into())),
        }
    }

    async fn code_of_registration(&self, registration_id: Uuid) -> Result<Option<CodeRow>> {
        let row = query_opt(
            &self.pool,
            &format!("SELECT {CODE_COLUMNS} FROM registration_codes WHERE registration_id = $1"),
            &[&registration_id],
        )
        .await?;
        Ok(row.as_ref().map(code_from_row))
    }

    async fn code_by_card(&self, card_lookup: Vec<u8>) -> Result<Option<CodeRow>> {
        let row = query_opt(
            &self.pool,
            &format!("SELECT {CODE_COLUMNS} FROM registration_codes WHERE card_lookup = $1"),
            &[&card_lookup],
        )
        .await?;
        Ok(row.as_ref().map(code_from_row))
    }

    async fn code_by_hash(&self, code_hash: Vec<u8>) -> Result<Option<CodeRow>> {
        let row = query_opt(
            &self.pool,
            &format!("SELECT {CODE_COLUMNS} FROM registration_codes WHERE code_hash = $1"),
            &[&code_hash],
        )
        .await?;
        Ok(row.as_ref().map(code_from_row))
    }

    async fn codes_of_caller(&self, caller_id: Uuid, limit: u32) -> Result<Vec<CodeRow>> {
        let rows = query(
            &self.pool,
            &format!(
                "SELECT {CODE_COLUMNS} FROM registration_codes WHERE caller_id = $1 \
                 ORDER BY created_at_ms DESC LIMIT $2"
            ),
            &[&caller_id, &i64::from(limit)],
        )
        .await?;
        Ok(rows.iter().map(code_from_row).collect())
    }

    async fn caller(&self, id: Uuid) -> Result<Option<CallerRow>> {
        let row = query_opt(
            &self.pool,
            "SELECT id, kind, name, token_hash, created_at_ms FROM callers WHERE id \
             = $1",
            &[&id],
        )
        .await?;
        Ok(row.as_ref().map(caller_from_row))
    }

    async fn insert_merchant(&self, row: MerchantRow) -> Result<()> {
        execute(
            &self.pool,
            &format!(
                "INSERT INTO merchants ({MERCHANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            &[
                &row.caller_id,
                &row.name,
                &row.bank_id,
                &row.account_id,
                &row.created_at_ms,
                &row.webhook_url,
                &row.webhook_secrets,
            ],
        )
        .await
        .map_err(|e| duplicate(e, "merchant"))?;
        Ok(())
    }

    async fn merchant(&self, caller_id: Uuid) -> Result<Option<MerchantRow>> {
        let row = query_opt(
            &self.pool,
            &format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE caller_id = $1"),
            &[&caller_id],
        )
        .await?;
        Ok(row.as_ref().map(merchant_from_row))
    }

    async fn merchants(&self, limit: u32) -> Result<Vec<MerchantRow>> {
        let rows = query(
            &self.pool,
            &format!(
                "SELECT {MERCHANT_COLUMNS} FROM merchants \
                 ORDER BY name COLLATE \"C\", caller_id LIMIT $1"
            ),
            &[&i64::from(limit)],
        )
        .await?;
        Ok(rows.iter().map(merchant_from_row).collect())
    }

    async fn set_webhook(
        &self,
        caller_id: Uuid,
        url: String,
        secrets: Vec<u8>,
        read: Vec<u8>,
    ) -> Result<bool> {
        let changed = execute(
            &self.pool,
            "UPDATE merchants SET webhook_url = $2, webhook_secrets = $3 WHERE \
             caller_id = $1 AND webhook_secrets = $4",
            &[&caller_id, &url, &secrets, &read],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn deliveries_due(
        &self,
        now_ms: i64,
        limit: u32,
        per_merchant: u32,
        skip_merchants: Vec<Uuid>,
    ) -> Result<Vec<DeliveryRow>> {
        let rows = if skip_merchants.is_empty() {
            query(
                &self.pool,
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
                     WHERE next_attempt_ms IS NOT NULL AND next_attempt_ms <= $1 \
                     ORDER BY next_attempt_ms LIMIT $2"
                ),
                &[&now_ms, &i64::from(limit)],
            )
            .await?
        } else {
            // Each merchant's first due rows.
            query(
                &self.pool,
                &format!(
                    "{UNDELIVERED_MERCHANTS} \
                     SELECT first.* FROM merchants CROSS JOIN LATERAL ( \
                         SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
                         WHERE merchant_id = merchant AND next_attempt_ms IS NOT NULL \
                         AND next_attempt_ms <= $1 \
                         ORDER BY next_attempt_ms LIMIT $3) AS first \
                     WHERE merchant IS NOT NULL AND merchant <> ALL($4) \
                     ORDER BY first.next_attempt_ms LIMIT $2"
                ),
                &[
                    &now_ms,
                    &i64::from(limit),
                    &i64::from(per_merchant),
                    &skip_merchants,
                ],
            )
            .await?
        };
        Ok(rows.iter().map(delivery_from_row).collect())
    }

    async fn update_delivery(
        &self,
        row: DeliveryRow,
        seen_next_attempt_ms: Option<i64>,
    ) -> Result<bool> {
        let changed = execute(
            &self.pool,
            "UPDATE webhook_deliveries SET state = $2, attempts = $3, \
             next_attempt_ms = $4, \
             last_status = $5, last_error = $6, updated_at_ms = $7 \
             WHERE id = $1 AND next_attempt_ms IS NOT DISTINCT FROM $8",
            &[
                &row.id,
                &row.state,
                &row.attempts,
                &row.next_attempt_ms,
                &row.last_status,
                &row.last_error,
                &row.updated_at_ms,
                &seen_next_attempt_ms,
            ],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn deliveries_of(&self, merchant_id: Uuid, limit: u32) -> Result<Vec<DeliveryRow>> {
        let rows = query(
            &self.pool,
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE merchant_id = $1 \
                 ORDER BY created_at_ms DESC, id DESC LIMIT $2"
            ),
            &[&merchant_id, &i64::from(limit)],
        )
        .await?;
        Ok(rows.iter().map(delivery_from_row).collect())
    }

    async fn insert_payment(&self, row: PaymentRow) -> Result<()> {
        self.write(PgWrite::InsertPayment(row)).await.map(|_| ())
    }

    async fn update_payment(&self, row: PaymentRow, news: Announcements) -> Result<bool> {
        Ok(self.write(PgWrite::UpdatePayment(row, news)).await? == 1)
    }

    async fn payment(&self, id: Uuid) -> Result<Option<PaymentRow>> {
        let row = query_opt(
            &self.pool,
            &format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1"),
            &[&id],
        )
        .await?;
        Ok(row.as_ref().map(payment_from_row))
    }

    async fn payments_of(
        &self,
        caller_id: Uuid,
        before: Option<(i64, Uuid)>,
        limit: u32,
    ) -> Result<Vec<PaymentRow>> {
        let (at, id) = before.unwrap_or((i64::MAX, Uuid::max()));
        let rows = query(
            &self.pool,
            &format!(
                "(SELECT {PAYMENT_COLUMNS} FROM payments \
                 WHERE payer_id = $1 AND (created_at_ms, id) < ($2, $3) \
                 ORDER BY created_at_ms DESC, id DESC LIMIT $4) \
                 UNION ALL \
                 (SELECT {PAYMENT_COLUMNS} FROM payments \
                 WHERE payee_id = $1 AND payer_id IS DISTINCT FROM $1 \
                 AND (created_at_ms, id) < ($2, $3) \
                 ORDER BY created_at_ms DESC, id DESC LIMIT $4) \
                 ORDER BY created_at_ms DESC, id DESC LIMIT $4"
            ),
            &[&caller_id, &at, &id, &i64::from(limit)],
        )
        .await?;
        Ok(rows.iter().map(payment_from_row).collect())
    }

    async fn payment_summaries(&self, payer_id: Uuid, limit: u32) -> Result<Vec<PaymentSummary>> {
        let rows = query(
            &self.pool,
            "SELECT payee_id, state, amount_minor, exempted FROM payments \
             WHERE payer_id = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2",
            &[&payer_id, &i64::from(limit)],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|r| PaymentSummary {
                payee_id: r.get(0),
                state: r.get(1),
                amount_minor: r.get(2),
                exempted: r.get(3),
            })
            .collect())
    }

    async fn payments_made_by(&self, payer_id: Uuid, limit: u32) -> Result<Vec<PaymentRow>> {
        let rows = query(
            &self.pool,
            &format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE payer_id = $1 \
                 ORDER BY created_at_ms DESC, id DESC LIMIT $2"
            ),
            &[&payer_id, &i64::from(limit)],
        )
        .await?;
        Ok(rows.iter().map(payment_from_row).collect())
    }

    async fn payments_due(&self, now_ms: i64, limit: u32) -> Result<Vec<PaymentRow>> {
        let rows = query(
            &self.pool,
            &format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments \
                 WHERE next_check_ms IS NOT NULL AND next_check_ms <= $1 \
                 ORDER BY next_check_ms LIMIT $2"
            ),
            &[&now_ms, &i64::from(limit)],
        )
        .await?;
        Ok(rows.iter().map(payment_from_row).collect())
    }

    async fn bank_sums(&self, from_ms: i64, to_ms: i64) -> Result<Vec<BankSums>> {
        let rows = query(
            &self.pool,
            "SELECT bank_id, currency, SUM(paid_out_minor)::int8, SUM(received_minor)::int8, \
             SUM(clearing_minor)::int8 FROM payment_books WHERE day_ms >= $1 AND day_ms < $2 \
             GROUP BY bank_id, currency ORDER BY bank_id, currency",
            &[&from_ms, &to_ms],
        )
        .await?;
        Ok(rows.iter().map(bank_sums_from_row).collect())
    }

    async fn roll_up_books(&self, before_ms: i64) -> Result<()> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let transaction = client.transaction().await?;
        // Locked: two settlements at once sum a day once. Never past the database server's
        // yesterday: hubs sharing the database keep their own clocks, and one running a day
        // ahead must not close a day the others still write into.
        let row = transaction
            .query_one(
                "SELECT through_ms, (EXTRACT(EPOCH FROM date_trunc('day', now() AT TIME ZONE \
                 'UTC')) * 1000)::int8 - 86400000 FROM books_rolled_up WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?;
        let through: i64 = row.get(0);
        let before_ms = before_ms.min(row.get(1));
        if before_ms <= through {
            return Ok(());
        }
        transaction
            .execute(
                "INSERT INTO settled_days (day_ms, bank_id, currency, paid_out_minor, \
                 received_minor, clearing_minor) SELECT day_ms, bank_id, currency, \
                 SUM(paid_out_minor), SUM(received_minor), SUM(clearing_minor) \
                 FROM payment_books WHERE day_ms >= $1 AND day_ms < $2 \
                 GROUP BY day_ms, bank_id, currency",
                &[&through, &before_ms],
            )
            .await?;
        transaction
            .execute(
                "UPDATE books_rolled_up SET through_ms = $1 WHERE id = 1",
                &[&before_ms],
            )
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn bank_sums_ever(&self) -> Result<Vec<BankSums>> {
        // Read first, and given as a value so that the rows are found through the day index:
        // the sums of the days before it were committed with it, and no row is ever removed.
        let through: i64 = query_one(
            &self.pool,
            "SELECT through_ms FROM books_rolled_up WHERE id = 1",
            &[],
        )
        .await?
        .get(0);
        let rows = query(
            &self.pool,
            "SELECT bank_id, currency, SUM(paid_out)::int8, SUM(received)::int8, \
             SUM(clearing)::int8 FROM (\
             SELECT bank_id, currency, paid_out_minor AS paid_out, received_minor AS received, \
             clearing_minor AS clearing FROM settled_days WHERE day_ms < $1 \
             UNION ALL SELECT bank_id, currency, paid_out_minor, received_minor, clearing_minor \
             FROM payment_books WHERE day_ms >= $1) AS books \
             GROUP BY bank_id, currency ORDER BY bank_id, currency",
            &[&through],
        )
        .await?;
        Ok(rows.iter().map(bank_sums_from_row).collect())
    }

    async fn payments_held(&self) -> Result<Vec<PaymentRow>> {
        let rows = query(
            &self.pool,
            &format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE held ORDER BY id"),
            &[],
        )
        .await?;
        Ok(rows.iter().map(payment_from_row).collect())
    }

    async fn payments_unbooked(&self, limit: u32) -> Result<Vec<PaymentRow>> {
        let rows = query(
            &self.pool,
            &format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE NOT booked ORDER BY id LIMIT $1"
            ),
            &[&i64::from(limit)],
        )
        .await?;
        Ok(rows.iter().map(payment_from_row).collect())
    }

    async fn notifications(
        &self,
        caller_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<NotificationRow>> {
        let rows = query(
            &self.pool,
            "SELECT seq, caller_id, data, created_at_ms FROM notifications \
             WHERE caller_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&caller_id, &after_seq, &i64::from(limit)],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|r| NotificationRow {
                seq: r.get(0),
                caller_id: r.get(1),
                data: r.get(2),
                created_at_ms: r.get(3),
            })
            .collect())
    }

    async fn purge_notifications(&self, created_before_ms: i64) -> Result<u64> {
        execute(
            &self.pool,
            "DELETE FROM notifications WHERE created_at_ms < $1",
            &[&created_before_ms],
        )
        .await
    }

    async fn record_failure(&self, lookup: Vec<u8>, now_ms: i64, window_ms: i64) -> Result<i64> {
        let row = query_one(
            &self.pool,
            "INSERT INTO card_failures AS f (card_lookup, failures, window_start_ms) \
             VALUES ($1, 1, $2) ON CONFLICT (card_lookup) DO UPDATE SET \
             failures = CASE WHEN f.window_start_ms > $2::int8 - $3::int8 \
             THEN f.failures + 1 ELSE 1 END, \
             window_start_ms = CASE WHEN f.window_start_ms > $2::int8 - $3::int8 \
             THEN f.window_start_ms ELSE $2 END \
             RETURNING failures",
            &[&lookup, &now_ms, &window_ms],
        )
        .await?;
        Ok(row.get(0))
    }

    async fn forgive_failure(&self, lookup: Vec<u8>) -> Result<()> {
        execute(
            &self.pool,
            "UPDATE card_failures SET failures = failures - 1 \
             WHERE card_lookup = $1 AND failures > 0",
            &[&lookup],
        )
        .await?;
        Ok(())
    }

    async fn clear_failures(&self, lookup: Vec<u8>) -> Result<()> {
        execute(
            &self.pool,
            "DELETE FROM card_failures WHERE card_lookup = $1",
            &[&lookup],
        )
        .await?;
        Ok(())
    }

    async fn set_totp_seed(
        &self,
        caller_id: Uuid,
        sealed_seed: Vec<u8>,
        now_ms: i64,
    ) -> Result<()> {
        execute(
            &self.pool,
            "INSERT INTO totp_seeds (caller_id, sealed_seed, last_step, created_at_ms) \
             VALUES ($1, $2, -1, $3) ON CONFLICT (caller_id) DO UPDATE SET \
             sealed_seed = excluded.sealed_seed, last_step = -1, \
             created_at_ms = excluded.created_at_ms",
            &[&caller_id, &sealed_seed, &now_ms],
        )
        .await?;
        Ok(())
    }

    async fn delete_totp_seed(&self, caller_id: Uuid, note: NotificationRow) -> Result<bool> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let transaction = client.transaction().await?;
        lock_streams(&transaction, std::iter::once(note.caller_id)).await?;
        let deleted = transaction
            .execute(
                &transaction
                    .prepare_cached("DELETE FROM totp_seeds WHERE caller_id = $1")
                    .await?,
                &[&caller_id],
            )
            .await?;
        if deleted == 1 {
            insert_notification(&transaction, &note).await?;
        }
        transaction.commit().await?;
        Ok(deleted == 1)
    }

    async fn totp_seed(&self, caller_id: Uuid) -> Result<Option<(Vec<u8>, i64)>> {
        let row = query_opt(
            &self.pool,
            "SELECT sealed_seed, last_step FROM totp_seeds WHERE caller_id = $1",
            &[&caller_id],
        )
        .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    async fn use_totp_step(&self, caller_id: Uuid, counter: i64) -> Result<bool> {
        let changed = execute(
            &self.pool,
            "UPDATE totp_seeds SET last_step = $2 WHERE caller_id = $1 AND \
             last_step < $2",
            &[&caller_id, &counter],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn purge_idempotency(&self, created_before_ms: i64) -> Result<u64> {
        execute(
            &self.pool,
            "DELETE FROM idempotency_records WHERE created_at_ms < $1",
            &[&created_before_ms],
        )
        .await
    }

    async fn ping(&self) -> Result<()> {
        query_one(&self.pool, "SELECT 1", &[]).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic while committing abandons the writes of that commit only: the group is run again
    /// write by write, the others are answered, and the writer takes later writes.
    #[tokio::test]
    async fn a_panicking_commit_abandons_only_its_write() {
        let (sender, jobs) = tokio::sync::mpsc::unbounded_channel::<PgJob<i64>>();
        let commits = Arc::new(std::sync::Mutex::new(Vec::<Vec<i64>>::new()));
        let seen = commits.clone();
        tokio::spawn(write_groups(jobs, move |writes: Vec<Arc<i64>>| {
            let seen = seen.clone();
            async move {
                let writes: Vec<i64> = writes.iter().map(|w| **w).collect();
                seen.lock().unwrap().push(writes.clone());
                assert!(!writes.contains(&13), "a bug in a write");
                Ok(writes.iter().map(|w| w * 10).collect())
            }
        }));
        let write = |value: i64| {
            let (reply, answer) = tokio::sync::oneshot::channel();
            sender
                .send(PgJob {
                    write: value,
                    reply,
                })
                .unwrap();
            answer
        };
        // Queued before the writer runs, so that they make one group.
        let answers = [write(1), write(13), write(2)];
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.expect("every write is answered"));
        }
        assert!(matches!(results[0], Ok(10)), "{results:?}");
        assert!(
            matches!(results[1], Err(StoreError::Abandoned(_))),
            "{results:?}"
        );
        assert!(matches!(results[2], Ok(20)), "{results:?}");
        assert_eq!(
            *commits.lock().unwrap(),
            vec![vec![1, 13, 2], vec![1], vec![13], vec![2]]
        );
        assert!(
            matches!(write(3).await.unwrap(), Ok(30)),
            "the writer goes on"
        );
    }
}
