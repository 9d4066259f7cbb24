//! The SQLite backend: one file per service, WAL, `synchronous=FULL` (a commit is on disk when it
//! returns).
//!
//! One writer thread owns the only writing connection, so writers never meet `SQLITE_BUSY`, and it
//! commits in groups: it takes every write waiting in its queue, runs each inside a savepoint of
//! one transaction (a write that fails rolls back alone), commits once — one fsync for the group —
//! and only then answers each. Under load that turns thousands of small writes a second into a
//! few hundred commits; alone, a write waits for nobody. Readers take connections from a small
//! pool on tokio's blocking pool and run beside the writer (WAL lets them).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, Row, params};
use scanpay_core::ledger::{
    self, Account, Decision, HoldState, Outcome, Snapshot, Transfer, TransferCommand, TransferKind,
};
use scanpay_core::money::Currency;
use scanpay_core::payment::{BankSums, BookEntry};
use uuid::Uuid;

use crate::UNDELIVERED_MERCHANTS;
use crate::vault::Vault;
use crate::{
    AccountKind, AccountRow, Announcements, BankStore, BindingRow, CallerRow, CardRow, Claim,
    CodeConflict, CodeRow, CustomerRow, DeliveryRow, HubStore, IdempotencyRecord, LedgerTotals,
    MerchantRow, NotificationRow, PERSONAL_DATA, PaymentRow, PaymentSummary, Rebound, Record,
    RegistrationRow, Result, StatementLine, StoreError, WriterStats, reseal, schema,
};

/// Readers kept open for reuse; more may be opened under load and are closed after use.
const READERS_KEPT_MAX: usize = 8;
/// Writes committed together, at most.
const WRITES_PER_COMMIT_MAX: usize = 1_024;

/// A write for the writer thread: it runs against the connection inside the group's transaction
/// and says whether it succeeded and how to answer once the group's commit is known (with its
/// result, or with the commit's error).
type Job = Box<dyn FnOnce(&mut Connection) -> Ran + Send>;

struct Ran {
    ok: bool,
    answer: Box<dyn FnOnce(Result<()>) + Send>,
}

struct Db {
    path: PathBuf,
    writer: Mutex<mpsc::Sender<Job>>,
    readers: Mutex<Vec<Connection>>,
    busy: Arc<Busy>,
}

/// The writer thread's counts, for [`WriterStats`].
#[derive(Default)]
struct Busy {
    groups: AtomicU64,
    writes: AtomicU64,
    running_us: AtomicU64,
    committing_us: AtomicU64,
}

impl Busy {
    fn stats(&self) -> WriterStats {
        WriterStats {
            groups: self.groups.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            running_us: self.running_us.load(Ordering::Relaxed),
            committing_us: self.committing_us.load(Ordering::Relaxed),
        }
    }
}

/// The writer thread: group commits until every sender is gone.
fn write_groups(mut connection: Connection, jobs: mpsc::Receiver<Job>, busy: &Busy) {
    while let Ok(first) = jobs.recv() {
        let started = Instant::now();
        let mut group = vec![first];
        while group.len() < WRITES_PER_COMMIT_MAX {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Err(error) = control(&connection, "BEGIN IMMEDIATE") {
            // Nothing of the group runs; dropping a job answers its caller with an error.
            tracing::error!(%error, writes = group.len(), "a group commit could not begin");
            continue;
        }
        let mut answers = Vec::with_capacity(group.len());
        let mut lost = false;
        for job in group {
            if lost {
                // Dropped unrun: its caller is answered with an error.
                continue;
            }
            answers.push(run_job(&mut connection, job));
            // Some errors (a full disk, I/O, out of memory) make SQLite roll back the whole
            // transaction, not just the statement: then nothing of the group stands, and a later
            // job's savepoint would start a transaction of its own.
            lost = connection.is_autocommit();
        }
        let ran = Instant::now();
        let committed = if lost {
            Err(StoreError::Database(
                "SQLite rolled back the group's transaction".to_string(),
            ))
        } else {
            control(&connection, "COMMIT").map_err(|e| StoreError::Database(format!("commit: {e}")))
        };
        if committed.is_err() && !connection.is_autocommit() {
            let _ = connection.execute_batch("ROLLBACK");
        }
        let micros = |d: std::time::Duration| d.as_micros() as u64;
        busy.groups.fetch_add(1, Ordering::Relaxed);
        busy.writes
            .fetch_add(answers.len() as u64, Ordering::Relaxed);
        busy.running_us
            .fetch_add(micros(ran - started), Ordering::Relaxed);
        busy.committing_us
            .fetch_add(micros(ran.elapsed()), Ordering::Relaxed);
        for answer in answers {
            answer(match &committed {
                Ok(()) => Ok(()),
                Err(error) => Err(StoreError::Database(error.to_string())),
            });
        }
    }
}

/// Runs one job inside its own savepoint: its failure (or panic) rolls back only its own writes.
fn run_job(connection: &mut Connection, job: Job) -> Box<dyn FnOnce(Result<()>) + Send> {
    if let Err(error) = control(connection, "SAVEPOINT job") {
        // The job is dropped unrun: its caller is answered with an error.
        tracing::error!(%error, "a savepoint failed");
        return Box::new(|_| {});
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(connection)));
    let (ok, answer) = match outcome {
        Ok(ran) => (ran.ok, ran.answer),
        // A panic: the caller is answered with an error (its reply was dropped).
        Err(_) => (
            false,
            Box::new(|_| {}) as Box<dyn FnOnce(Result<()>) + Send>,
        ),
    };
    if !ok {
        let _ = control(connection, "ROLLBACK TO job");
    }
    let _ = control(connection, "RELEASE job");
    answer
}

/// A transaction-control statement, prepared once per connection (the writer runs a few of them
/// for every write; parsing them each time showed in profiles).
fn control(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Writes a webhook delivery if its merchant has a webhook now (checked in the same
/// transaction: no read before, and no race with the merchant setting one).
fn insert_delivery(c: &Connection, row: &DeliveryRow) -> Result<()> {
    c.prepare_cached(&format!(
        "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
         WHERE EXISTS (SELECT 1 FROM merchants WHERE caller_id = ?2 AND webhook_url IS NOT NULL)"
    ))?
    .execute(params![
        row.id,
        row.merchant_id,
        row.event_type,
        row.payload,
        row.state,
        row.attempts,
        row.next_attempt_ms,
        row.last_status,
        row.last_error,
        row.created_at_ms,
        row.updated_at_ms
    ])
    .map_err(|e| duplicate(e, "delivery"))?;
    Ok(())
}

/// Appends a message to its caller's stream (its `seq` is the next rowid).
fn insert_notification(c: &Connection, row: &NotificationRow) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO notifications (caller_id, data, created_at_ms) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![row.caller_id, row.data, row.created_at_ms])?;
    Ok(())
}

fn open_connection(path: &Path) -> Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    // Plans that do not depend on bound values (the query planner stability guarantee). Without
    // it SQLite marks a statement whose plan might depend on a parameter's value (here: whether
    // a partial index of `payments` applies) to be parsed and planned again whenever that value
    // changes, so `prepare_cached` saved nothing for the payer's summaries, read by every
    // payment (~5% of the payment bench's CPU in `perf`). No query of ours binds a value that a
    // partial index's condition or a LIKE needs to see.
    connection.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    connection.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -65536;",
    )?;
    Ok(connection)
}

impl Db {
    fn open(path: &Path, migrations: &[&str]) -> Result<Arc<Db>> {
        make_parent(path)?;
        let mut writer = open_connection(path)?;
        migrate(&mut writer, migrations)?;
        let (sender, jobs) = mpsc::channel::<Job>();
        let busy = Arc::new(Busy::default());
        let counts = busy.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".to_string())
            .spawn(move || write_groups(writer, jobs, &counts))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(Arc::new(Db {
            path: path.to_path_buf(),
            writer: Mutex::new(sender),
            readers: Mutex::new(Vec::new()),
            busy,
        }))
    }

    /// Runs `f` on the writer thread in the next group commit; answers after the commit.
    async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |connection: &mut Connection| {
            let result = f(connection);
            Ran {
                ok: result.is_ok(),
                answer: Box::new(move |committed: Result<()>| {
                    let _ = reply.send(committed.and(result));
                }),
            }
        });
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| StoreError::Database("the writer thread stopped".to_string()))?;
        // Dropped unanswered: the job panicked (the writer caught it and went on), or its
        // savepoint failed before it ran.
        answer
            .await
            .map_err(|_| StoreError::Abandoned("the write was dropped".to_string()))?
    }

    /// Runs a bounded read (a row by key, a page with a limit) on the calling thread: a read of
    /// a WAL database never waits for the writer, and it costs less than the two thread switches
    /// of handing it to a blocking thread (measured: most of a payment's kernel time was futex
    /// wake-ups). Whole-table reads use [`Db::scan`].
    async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.read_here(f)
    }

    fn read_here<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let connection = match pooled {
            Some(c) => c,
            None => open_connection(&self.path)?,
        };
        let result = f(&connection);
        let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if readers.len() < READERS_KEPT_MAX {
            readers.push(connection);
        }
        result
    }

    /// Runs a read whose time grows with the database (totals, counts) on a blocking thread.
    async fn scan<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_here(f))
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?
    }
}

fn migrate(connection: &mut Connection, migrations: &[&str]) -> Result<()> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)",
    )?;
    let done: i64 = connection.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?;
    for (index, sql) in migrations.iter().enumerate().skip(done as usize) {
        let tx = connection.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES (?1)",
            [index as i64 + 1],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// The bank's ledger and records in one SQLite file.
#[derive(Clone)]
pub struct SqliteBank {
    db: Arc<Db>,
    /// Held (an exclusive `flock` on `<file>.lock`, `bank-north.db.lock`) while the store
    /// lives: one process writes a bank's ledger, as PostgreSQL's advisory lock ensures there.
    _writer: Arc<std::fs::File>,
}

/// How long opening waits for a bank file's lock (a restarting process's predecessor ending).
const WRITER_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl SqliteBank {
    pub fn open(path: &Path) -> Result<SqliteBank> {
        let writer = writer_lock(path)?;
        Ok(SqliteBank {
            db: Db::open(path, schema::BANK_SQLITE)?,
            _writer: Arc::new(writer),
        })
    }
}

/// Makes the directory `path` is in (private: it holds personal data).
fn make_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => crate::files::create_private_dir(parent)
            .map_err(|e| StoreError::Database(e.to_string())),
        _ => Ok(()),
    }
}

fn writer_lock(path: &Path) -> Result<std::fs::File> {
    let mut lock_name = path.file_name().unwrap_or_default().to_os_string();
    lock_name.push(".lock");
    let lock_path = path.with_file_name(lock_name);
    make_parent(&lock_path)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::Database(format!("{}: {e}", lock_path.display())))?;
    let deadline = std::time::Instant::now() + WRITER_LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Database(format!(
                    "another bank process is the writer of {}; run one process per bank",
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::Database(format!(
                    "{}: {e}",
                    lock_path.display()
                )));
            }
        }
    }
}

const TRANSFER_COLUMNS: &str = "id, kind, debit_account_id, credit_account_id, amount_minor, \
    currency, pending_id, timeout_seconds, reference, outcome, requested_amount_minor, \
    requested_debit_account_id, requested_credit_account_id, hold_state, expires_at_ms, \
    created_at_ms";

const ACCOUNT_COLUMNS: &str = "id, kind, customer_id, currency, overdraft_limit_minor, \
    debits_pending, debits_posted, credits_pending, credits_posted, created_at_ms, closed_at_ms";

fn corrupt(what: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnName(format!("unreadable {what}"))
}

fn currency_from(text: String) -> rusqlite::Result<Currency> {
    Currency::parse(&text).map_err(|_| corrupt("currency"))
}

fn transfer_from_row(row: &Row<'_>, offset: usize) -> rusqlite::Result<Transfer> {
    let kind: String = row.get(offset + 1)?;
    let outcome: String = row.get(offset + 9)?;
    let hold_state: Option<String> = row.get(offset + 13)?;
    let timeout: Option<i64> = row.get(offset + 7)?;
    Ok(Transfer {
        id: row.get(offset)?,
        kind: TransferKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
        debit_account_id: row.get(offset + 2)?,
        credit_account_id: row.get(offset + 3)?,
        amount_minor: row.get(offset + 4)?,
        currency: currency_from(row.get(offset + 5)?)?,
        pending_id: row.get(offset + 6)?,
        timeout_seconds: timeout.map(|t| t as u32),
        reference: row.get(offset + 8)?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("outcome"))?,
        requested_amount_minor: row.get(offset + 10)?,
        requested_debit_account_id: row.get(offset + 11)?,
        requested_credit_account_id: row.get(offset + 12)?,
        hold_state: match hold_state {
            Some(s) => Some(HoldState::parse(&s).ok_or_else(|| corrupt("hold state"))?),
            None => None,
        },
        expires_at_ms: row.get(offset + 14)?,
        created_at_ms: row.get(offset + 15)?,
    })
}

fn account_from_row(row: &Row<'_>) -> rusqlite::Result<AccountRow> {
    let kind: String = row.get(1)?;
    Ok(AccountRow {
        account: Account {
            id: row.get(0)?,
            currency: currency_from(row.get(3)?)?,
            overdraft_limit_minor: row.get(4)?,
            debits_pending: row.get(5)?,
            debits_posted: row.get(6)?,
            credits_pending: row.get(7)?,
            credits_posted: row.get(8)?,
            closed_at_ms: row.get(10)?,
        },
        kind: AccountKind::parse(&kind).ok_or_else(|| corrupt("account kind"))?,
        customer_id: row.get(2)?,
        created_at_ms: row.get(9)?,
    })
}

fn load_accounts(tx: &Connection, ids: &[Uuid], snapshot: &mut Snapshot) -> Result<()> {
    let mut statement = tx.prepare_cached(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"
    ))?;
    for id in ids {
        if let Some(row) = statement.query_row([id], account_from_row).optional()? {
            snapshot.accounts.insert(*id, row.account);
        }
    }
    Ok(())
}

fn insert_transfer(tx: &Connection, t: &Transfer) -> Result<()> {
    let mut statement = tx.prepare_cached(&format!(
        "INSERT INTO transfers ({TRANSFER_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
    ))?;
    statement.execute(params![
        t.id,
        t.kind.code(),
        t.debit_account_id,
        t.credit_account_id,
        t.amount_minor,
        t.currency.code(),
        t.pending_id,
        t.timeout_seconds.map(i64::from),
        t.reference,
        t.outcome.code(),
        t.requested_amount_minor,
        t.requested_debit_account_id,
        t.requested_credit_account_id,
        t.hold_state.map(HoldState::code),
        t.expires_at_ms,
        t.created_at_ms,
    ])?;
    Ok(())
}

fn persist(tx: &Connection, effects: &ledger::BatchEffects) -> Result<()> {
    for transfer in &effects.inserted {
        insert_transfer(tx, transfer)?;
    }
    let mut hold = tx.prepare_cached(
        "UPDATE transfers SET hold_state = ?2 WHERE id = ?1 AND hold_state = 'pending'",
    )?;
    for (id, state) in &effects.holds_changed {
        // A hold ends once: one not pending here was decided from a stale read.
        if hold.execute(params![id, state.code()])? != 1 {
            return Err(StoreError::Database(format!("hold {id} is not pending")));
        }
    }
    let mut account = tx.prepare_cached(
        "UPDATE accounts SET debits_pending = ?2, debits_posted = ?3, credits_pending = ?4, \
         credits_posted = ?5, closed_at_ms = ?6 WHERE id = ?1",
    )?;
    for a in &effects.accounts_changed {
        let changed = account.execute(params![
            a.id,
            a.debits_pending,
            a.debits_posted,
            a.credits_pending,
            a.credits_posted,
            a.closed_at_ms
        ])?;
        assert_eq!(changed, 1, "a changed account exists");
    }
    Ok(())
}

fn commit_batch(
    connection: &mut Connection,
    now_ms: i64,
    commands: &[TransferCommand],
) -> Result<Vec<Decision>> {
    // A savepoint: the writer thread runs every write inside its group's transaction.
    let tx = connection.savepoint()?;
    let (account_ids, transfer_ids) = ledger::ids_to_load(commands);
    let mut snapshot = Snapshot::default();
    {
        let mut statement = tx.prepare_cached(&format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ?1"
        ))?;
        for id in &transfer_ids {
            if let Some(t) = statement
                .query_row([id], |row| transfer_from_row(row, 0))
                .optional()?
            {
                snapshot.transfers.insert(*id, t);
            }
        }
    }
    load_accounts(&tx, &account_ids, &mut snapshot)?;
    let hold_accounts = ledger::hold_accounts_to_load(&snapshot);
    load_accounts(&tx, &hold_accounts, &mut snapshot)?;
    let (decisions, effects) = ledger::decide_batch(now_ms, commands, &mut snapshot);
    persist(&tx, &effects)?;
    tx.commit()?;
    Ok(decisions)
}

fn expire_batch(connection: &mut Connection, now_ms: i64, limit: u32) -> Result<usize> {
    let tx = connection.savepoint()?;
    let mut snapshot = Snapshot::default();
    {
        let mut statement = tx.prepare_cached(&format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE hold_state = 'pending' \
             AND expires_at_ms IS NOT NULL AND expires_at_ms <= ?1 ORDER BY expires_at_ms LIMIT ?2"
        ))?;
        let rows = statement.query_map(params![now_ms, limit], |row| transfer_from_row(row, 0))?;
        for row in rows {
            let t = row?;
            snapshot.transfers.insert(t.id, t);
        }
    }
    if snapshot.transfers.is_empty() {
        return Ok(0);
    }
    let accounts = ledger::hold_accounts_to_load(&snapshot);
    load_accounts(&tx, &accounts, &mut snapshot)?;
    let effects = ledger::expire_holds(now_ms, &mut snapshot);
    persist(&tx, &effects)?;
    tx.commit()?;
    Ok(effects.holds_changed.len())
}

fn insert_record(tx: &Connection, record: &Record) -> Result<()> {
    match record {
        Record::Customer(c) => {
            tx.prepare_cached(
                "INSERT INTO customers (id, full_name, id_document_type, id_number_ciphertext, \
                 id_number_lookup, birth_date, address, phone, created_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                c.id,
                c.full_name,
                c.id_document_type,
                c.id_number_ciphertext,
                c.id_number_lookup,
                c.birth_date,
                c.address,
                c.phone,
                c.created_at_ms
            ])
            .map_err(|e| duplicate(e, "customer"))?;
        }
        Record::Account(a) => {
            let x = &a.account;
            tx.prepare_cached(&format!(
                "INSERT INTO accounts ({ACCOUNT_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))?
            .execute(params![
                x.id,
                a.kind.code(),
                a.customer_id,
                x.currency.code(),
                x.overdraft_limit_minor,
                x.debits_pending,
                x.debits_posted,
                x.credits_pending,
                x.credits_posted,
                a.created_at_ms,
                x.closed_at_ms
            ])
            .map_err(|e| duplicate(e, "account"))?;
        }
        Record::Card(c) => {
            tx.prepare_cached(
                "INSERT INTO cards (id, account_id, pan_ciphertext, pan_lookup, last4, \
                 expiry_month, expiry_year, holder_name, network, created_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                c.id,
                c.account_id,
                c.pan_ciphertext,
                c.pan_lookup,
                c.last4,
                c.expiry_month,
                c.expiry_year,
                c.holder_name,
                c.network,
                c.created_at_ms
            ])
            .map_err(|e| duplicate(e, "card"))?;
        }
    }
    Ok(())
}

/// Replaces a registration row read at `row.version - 1`; false when another writer saved first.
fn save_registration(c: &Connection, row: &RegistrationRow) -> rusqlite::Result<bool> {
    let changed = c
        .prepare_cached(
            "UPDATE registrations SET state = ?2, version = ?3, data = ?4, updated_at_ms = ?5 \
             WHERE id = ?1 AND version = ?3 - 1",
        )?
        .execute(params![
            row.id,
            row.state,
            row.version,
            row.data,
            row.updated_at_ms
        ])?;
    Ok(changed == 1)
}

fn duplicate(error: rusqlite::Error, what: &'static str) -> StoreError {
    match StoreError::from(error) {
        StoreError::Duplicate(_) => StoreError::Duplicate(what),
        other => other,
    }
}

fn customer_from_row(row: &Row<'_>) -> rusqlite::Result<CustomerRow> {
    Ok(CustomerRow {
        id: row.get(0)?,
        full_name: row.get(1)?,
        id_document_type: row.get(2)?,
        id_number_ciphertext: row.get(3)?,
        id_number_lookup: row.get(4)?,
        birth_date: row.get(5)?,
        address: row.get(6)?,
        phone: row.get(7)?,
        created_at_ms: row.get(8)?,
    })
}

fn card_from_row(row: &Row<'_>) -> rusqlite::Result<CardRow> {
    Ok(CardRow {
        id: row.get(0)?,
        account_id: row.get(1)?,
        pan_ciphertext: row.get(2)?,
        pan_lookup: row.get(3)?,
        last4: row.get(4)?,
        expiry_month: row.get(5)?,
        expiry_year: row.get(6)?,
        holder_name: row.get(7)?,
        network: row.get(8)?,
        created_at_ms: row.get(9)?,
    })
}

impl BankStore for SqliteBank {
    async fn commit_transfers(
        &self,
        now_ms: i64,
        commands: Vec<TransferCommand>,
    ) -> Result<Vec<Decision>> {
        self.db
            .write(move |c| commit_batch(c, now_ms, &commands))
            .await
    }

    async fn expire_holds(&self, now_ms: i64, limit: u32) -> Result<usize> {
        self.db.write(move |c| expire_batch(c, now_ms, limit)).await
    }

    async fn insert_records(&self, records: Vec<Record>) -> Result<()> {
        self.db
            .write(move |c| {
                let tx = c.savepoint()?;
                for record in &records {
                    insert_record(&tx, record)?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn account(&self, id: Uuid) -> Result<Option<AccountRow>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"
                ))?
                .query_row([id], account_from_row)
                .optional()?)
            })
            .await
    }

    async fn customer(&self, id: Uuid) -> Result<Option<CustomerRow>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT id, full_name, id_document_type, id_number_ciphertext, \
                     id_number_lookup, birth_date, address, phone, created_at_ms \
                     FROM customers WHERE id = ?1",
                )?
                .query_row([id], customer_from_row)
                .optional()?)
            })
            .await
    }

    async fn card_by_lookup(&self, pan_lookup: Vec<u8>) -> Result<Option<CardRow>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT id, account_id, pan_ciphertext, pan_lookup, last4, expiry_month, \
                     expiry_year, holder_name, network, created_at_ms FROM cards \
                     WHERE pan_lookup = ?1",
                )?
                .query_row([pan_lookup], card_from_row)
                .optional()?)
            })
            .await
    }

    async fn transfer(&self, id: Uuid) -> Result<Option<Transfer>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ?1"
                ))?
                .query_row([id], |row| transfer_from_row(row, 0))
                .optional()?)
            })
            .await
    }

    async fn statement(
        &self,
        account_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StatementLine>> {
        let limit = limit.min(crate::STATEMENT_PAGE_MAX);
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(&format!(
                    "SELECT seq, {TRANSFER_COLUMNS} FROM ( \
                       SELECT * FROM transfers WHERE debit_account_id = ?1 AND seq > ?2 \
                         AND outcome = 'created' \
                       UNION ALL \
                       SELECT * FROM transfers WHERE credit_account_id = ?1 AND seq > ?2 \
                         AND outcome = 'created' \
                     ) ORDER BY seq LIMIT ?3"
                ))?;
                let rows = statement.query_map(params![account_id, after_seq, limit], |row| {
                    Ok(StatementLine {
                        seq: row.get(0)?,
                        transfer: transfer_from_row(row, 1)?,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn insert_binding(&self, binding: BindingRow) -> Result<()> {
        self.db
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO bindings (code_hash, terminal_id, account_id, created_at_ms, \
                     registration_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    binding.code_hash,
                    binding.terminal_id,
                    binding.account_id,
                    binding.created_at_ms,
                    binding.registration_id
                ])
                .map_err(|e| duplicate(e, "binding"))?;
                Ok(())
            })
            .await
    }

    async fn binding(&self, code_hash: Vec<u8>) -> Result<Option<BindingRow>> {
        Ok(self.bindings(vec![code_hash]).await?.pop().flatten())
    }

    async fn bindings(&self, code_hashes: Vec<Vec<u8>>) -> Result<Vec<Option<BindingRow>>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(
                    "SELECT code_hash, terminal_id, account_id, created_at_ms, registration_id \
                     FROM bindings WHERE code_hash = ?1",
                )?;
                let mut found = Vec::with_capacity(code_hashes.len());
                for code_hash in code_hashes {
                    found.push(
                        statement
                            .query_row([code_hash], |row| {
                                Ok(BindingRow {
                                    code_hash: row.get(0)?,
                                    terminal_id: row.get(1)?,
                                    account_id: row.get(2)?,
                                    created_at_ms: row.get(3)?,
                                    registration_id: row.get(4)?,
                                })
                            })
                            .optional()?,
                    );
                }
                Ok(found)
            })
            .await
    }

    async fn revoke_bindings(&self, registration_id: Uuid) -> Result<u64> {
        self.db
            .write(move |c| {
                let deleted = c
                    .prepare_cached("DELETE FROM bindings WHERE registration_id = ?1")?
                    .execute([registration_id])?;
                Ok(deleted as u64)
            })
            .await
    }

    async fn customer_count(&self) -> Result<i64> {
        self.db
            .scan(|c| Ok(c.query_row("SELECT COUNT(*) FROM customers", [], |r| r.get(0))?))
            .await
    }

    async fn bind_personal_data(&self, vault: Arc<Vault>) -> Result<Rebound> {
        self.db
            .write(move |c| {
                let tx = c.savepoint()?;
                let mut rebound = Rebound::default();
                let done: bool = tx.query_row(
                    "SELECT purpose_bound FROM personal_data_sealing WHERE id = 1",
                    [],
                    |r| r.get(0),
                )?;
                if !done {
                    for (table, column, lookup, purpose) in PERSONAL_DATA {
                        let sealed = tx
                            .prepare(&format!("SELECT id, {column}, {lookup} FROM {table}"))?
                            .query_map([], |r| {
                                Ok((r.get::<_, Uuid>(0)?, r.get::<_, Vec<u8>>(1)?, r.get(2)?))
                            })?
                            .collect::<rusqlite::Result<Vec<(Uuid, Vec<u8>, Vec<u8>)>>>()?;
                        let mut update =
                            tx.prepare(&format!("UPDATE {table} SET {column} = ?2 WHERE id = ?1"))?;
                        for (id, data, lookup) in sealed {
                            let row = (purpose, id, data.as_slice(), lookup.as_slice());
                            if let Some(again) = reseal(&vault, row, &mut rebound) {
                                update.execute(params![id, again])?;
                            }
                        }
                    }
                    // Not done while a value is left unsealed: the next start tries again.
                    if rebound.unreadable == 0 {
                        tx.execute(
                            "UPDATE personal_data_sealing SET purpose_bound = 1 WHERE id = 1",
                            [],
                        )?;
                    }
                }
                tx.commit()?;
                Ok(rebound)
            })
            .await
    }

    async fn accounts_of_kind(&self, kind: AccountKind, limit: u32) -> Result<Vec<AccountRow>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(&format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE kind = ?1 \
                     ORDER BY created_at_ms, id LIMIT ?2"
                ))?;
                let rows = statement.query_map(params![kind.code(), limit], account_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn totals(&self) -> Result<LedgerTotals> {
        self.db
            .scan(|c| {
                let sums = [
                    "debits_posted",
                    "credits_posted",
                    "debits_pending",
                    "credits_pending",
                ]
                .map(wide_sum)
                .join(", ");
                let mut totals =
                    c.query_row(&format!("SELECT COUNT(*), {sums} FROM accounts"), [], |r| {
                        Ok(LedgerTotals {
                            accounts: r.get(0)?,
                            debits_posted: wide_sum_at(r, 1)?,
                            credits_posted: wide_sum_at(r, 3)?,
                            debits_pending: wide_sum_at(r, 5)?,
                            credits_pending: wide_sum_at(r, 7)?,
                            ..LedgerTotals::default()
                        })
                    })?;
                let posted = wide_sum(
                    "CASE WHEN outcome = 'created' AND kind IN ('single', 'post_pending') \
                     THEN amount_minor ELSE 0 END",
                );
                let pending =
                    wide_sum("CASE WHEN hold_state = 'pending' THEN amount_minor ELSE 0 END");
                (
                    totals.transfers_created,
                    totals.transfers_rejected,
                    totals.posted_from_transfers,
                    totals.pending_from_holds,
                ) = c.query_row(
                    &format!(
                        "SELECT COALESCE(SUM(outcome = 'created'), 0), \
                         COALESCE(SUM(outcome <> 'created'), 0), {posted}, {pending} \
                         FROM transfers"
                    ),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, wide_sum_at(r, 2)?, wide_sum_at(r, 4)?)),
                )?;
                Ok(totals)
            })
            .await
    }

    fn writer_stats(&self) -> Option<WriterStats> {
        Some(self.db.busy.stats())
    }
}

/// Two columns that sum `expr` over a table without overflowing `i64`, which SQLite's `SUM`
/// refuses to do ("integer overflow"): the high and the low 32 bits of each value summed
/// apart, exact up to 2^31 rows; [`wide_sum_at`] joins them.
fn wide_sum(expr: &str) -> String {
    format!("COALESCE(SUM(({expr}) >> 32), 0), COALESCE(SUM(({expr}) & 4294967295), 0)")
}

/// The sum of [`wide_sum`]'s two columns starting at `index`.
fn wide_sum_at(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<i128> {
    let high: i64 = row.get(index)?;
    let low: i64 = row.get(index + 1)?;
    Ok(((high as i128) << 32) + low as i128)
}

/// The hub's records in one SQLite file.
#[derive(Clone)]
pub struct SqliteHub {
    db: Arc<Db>,
}

impl SqliteHub {
    pub fn open(path: &Path) -> Result<SqliteHub> {
        Ok(SqliteHub {
            db: Db::open(path, schema::HUB_SQLITE)?,
        })
    }
}

fn caller_from_row(row: &Row<'_>) -> rusqlite::Result<CallerRow> {
    Ok(CallerRow {
        id: row.get(0)?,
        kind: row.get(1)?,
        name: row.get(2)?,
        token_hash: row.get(3)?,
        created_at_ms: row.get(4)?,
    })
}

fn registration_from_row(row: &Row<'_>) -> rusqlite::Result<RegistrationRow> {
    Ok(RegistrationRow {
        id: row.get(0)?,
        caller_id: row.get(1)?,
        state: row.get(2)?,
        version: row.get(3)?,
        data: row.get(4)?,
        created_at_ms: row.get(5)?,
        updated_at_ms: row.get(6)?,
    })
}

fn code_from_row(r: &Row<'_>) -> rusqlite::Result<CodeRow> {
    Ok(CodeRow {
        code_hash: r.get(0)?,
        card_lookup: r.get(1)?,
        registration_id: r.get(2)?,
        caller_id: r.get(3)?,
        bank_id: r.get(4)?,
        account_id: r.get(5)?,
        terminal_id: r.get(6)?,
        created_at_ms: r.get(7)?,
    })
}

const CODE_COLUMNS: &str = "code_hash, card_lookup, registration_id, caller_id, bank_id, \
     account_id, terminal_id, created_at_ms";

const MERCHANT_COLUMNS: &str =
    "caller_id, name, bank_id, account_id, created_at_ms, webhook_url, webhook_secrets";

fn merchant_from_row(r: &Row<'_>) -> rusqlite::Result<MerchantRow> {
    Ok(MerchantRow {
        caller_id: r.get(0)?,
        name: r.get(1)?,
        bank_id: r.get(2)?,
        account_id: r.get(3)?,
        created_at_ms: r.get(4)?,
        webhook_url: r.get(5)?,
        webhook_secrets: r.get(6)?,
    })
}

const DELIVERY_COLUMNS: &str = "id, merchant_id, event_type, payload, state, attempts, \
     next_attempt_ms, last_status, last_error, created_at_ms, updated_at_ms";

fn delivery_from_row(r: &Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.get(0)?,
        merchant_id: r.get(1)?,
        event_type: r.get(2)?,
        payload: r.get(3)?,
        state: r.get(4)?,
        attempts: r.get(5)?,
        next_attempt_ms: r.get(6)?,
        last_status: r.get(7)?,
        last_error: r.get(8)?,
        created_at_ms: r.get(9)?,
        updated_at_ms: r.get(10)?,
    })
}

const PAYMENT_COLUMNS: &str = "id, payer_id, payee_id, state, version, next_check_ms, data, \
     created_at_ms, updated_at_ms, amount_minor, exempted, held";

fn payment_from_row(r: &Row<'_>) -> rusqlite::Result<PaymentRow> {
    Ok(PaymentRow {
        id: r.get(0)?,
        payer_id: r.get(1)?,
        payee_id: r.get(2)?,
        state: r.get(3)?,
        version: r.get(4)?,
        next_check_ms: r.get(5)?,
        data: r.get(6)?,
        created_at_ms: r.get(7)?,
        updated_at_ms: r.get(8)?,
        amount_minor: r.get(9)?,
        exempted: r.get(10)?,
        held: r.get(11)?,
        books: None,
    })
}

fn bank_sums_from_row(r: &Row<'_>) -> rusqlite::Result<BankSums> {
    Ok(BankSums {
        bank_id: r.get(0)?,
        currency: r.get(1)?,
        paid_out_minor: r.get(2)?,
        received_minor: r.get(3)?,
        clearing_minor: r.get(4)?,
    })
}

/// Replaces a payment's [`PaymentRow::books`].
fn replace_books(c: &Connection, payment_id: Uuid, books: &[BookEntry]) -> Result<()> {
    c.prepare_cached("DELETE FROM payment_books WHERE payment_id = ?1")?
        .execute([payment_id])?;
    insert_books(c, payment_id, books)
}

/// Writes a payment's [`PaymentRow::books`] where it has none yet (a new payment).
fn insert_books(c: &Connection, payment_id: Uuid, books: &[BookEntry]) -> Result<()> {
    if books.is_empty() {
        return Ok(());
    }
    let mut insert = c.prepare_cached(
        "INSERT INTO payment_books (payment_id, day_ms, bank_id, currency, paid_out_minor, \
         received_minor, clearing_minor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for entry in books {
        let sums = &entry.sums;
        insert.execute(params![
            payment_id,
            entry.day_ms,
            sums.bank_id,
            sums.currency,
            sums.paid_out_minor,
            sums.received_minor,
            sums.clearing_minor
        ])?;
    }
    Ok(())
}

/// The cursor that comes after every row (newest-first listings start below it).
fn cursor_or_end(before: Option<(i64, Uuid)>) -> (i64, Uuid) {
    before.unwrap_or((i64::MAX, Uuid::max()))
}

fn idempotency_from_row(row: &Row<'_>) -> rusqlite::Result<IdempotencyRecord> {
    let status: Option<i64> = row.get(3)?;
    Ok(IdempotencyRecord {
        caller_id: row.get(0)?,
        key: row.get(1)?,
        request_hash: row.get(2)?,
        response_status: status.map(|s| s as u16),
        response_body: row.get(4)?,
        locked_until_ms: row.get(5)?,
        created_at_ms: row.get(6)?,
        claim_token: row.get(7)?,
    })
}

impl HubStore for SqliteHub {
    async fn insert_caller(&self, caller: CallerRow) -> Result<()> {
        self.db
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO callers (id, kind, name, token_hash, created_at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    caller.id,
                    caller.kind,
                    caller.name,
                    caller.token_hash,
                    caller.created_at_ms
                ])
                .map_err(|e| duplicate(e, "caller"))?;
                Ok(())
            })
            .await
    }

    async fn caller_by_token_hash(&self, token_hash: Vec<u8>) -> Result<Option<CallerRow>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT id, kind, name, token_hash, created_at_ms FROM callers \
                     WHERE token_hash = ?1",
                )?
                .query_row([token_hash], caller_from_row)
                .optional()?)
            })
            .await
    }

    async fn callers(&self, after: Option<(i64, Uuid)>, limit: u32) -> Result<Vec<CallerRow>> {
        let limit = limit.min(crate::CALLERS_PAGE_MAX);
        let (after_ms, after_id) = after.unwrap_or((i64::MIN, Uuid::nil()));
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(
                    "SELECT id, kind, name, token_hash, created_at_ms FROM callers \
                     WHERE (created_at_ms, id) > (?1, ?2) ORDER BY created_at_ms, id LIMIT ?3",
                )?;
                let rows =
                    statement.query_map(params![after_ms, after_id, limit], caller_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn claim(&self, record: IdempotencyRecord) -> Result<Claim> {
        self.db
            .write(move |c| {
                let tx = c.savepoint()?;
                let existing = tx
                    .prepare_cached(
                        "SELECT caller_id, key, request_hash, response_status, response_body, \
                         locked_until_ms, created_at_ms, claim_token FROM idempotency_records \
                         WHERE caller_id = ?1 AND key = ?2",
                    )?
                    .query_row(params![record.caller_id, record.key], idempotency_from_row)
                    .optional()?;
                let claim = match existing {
                    Some(e)
                        if e.response_status.is_some()
                            || e.locked_until_ms > record.created_at_ms
                            || e.request_hash != record.request_hash =>
                    {
                        Claim::Existing(e)
                    }
                    _ => {
                        tx.prepare_cached(
                            "INSERT INTO idempotency_records (caller_id, key, request_hash, \
                             response_status, response_body, locked_until_ms, created_at_ms, \
                             claim_token) VALUES (?1, ?2, ?3, NULL, x'', ?4, ?5, ?6) \
                             ON CONFLICT (caller_id, key) DO UPDATE SET \
                             locked_until_ms = excluded.locked_until_ms, \
                             claim_token = excluded.claim_token",
                        )?
                        .execute(params![
                            record.caller_id,
                            record.key,
                            record.request_hash,
                            record.locked_until_ms,
                            record.created_at_ms,
                            record.claim_token
                        ])?;
                        Claim::Claimed
                    }
                };
                tx.commit()?;
                Ok(claim)
            })
            .await
    }

    async fn complete(
        &self,
        caller_id: Uuid,
        key: String,
        claim_token: Vec<u8>,
        status: u16,
        body: Vec<u8>,
    ) -> Result<bool> {
        self.db
            .write(move |c| {
                let changed = c
                    .prepare_cached(
                        "UPDATE idempotency_records SET response_status = ?4, response_body = ?5 \
                         WHERE caller_id = ?1 AND key = ?2 AND claim_token = ?3 \
                         AND response_status IS NULL",
                    )?
                    .execute(params![caller_id, key, claim_token, status, body])?;
                Ok(changed == 1)
            })
            .await
    }

    async fn release(&self, caller_id: Uuid, key: String, claim_token: Vec<u8>) -> Result<()> {
        self.db
            .write(move |c| {
                c.prepare_cached(
                    "DELETE FROM idempotency_records WHERE caller_id = ?1 AND key = ?2 \
                     AND claim_token = ?3 AND response_status IS NULL",
                )?
                .execute(params![caller_id, key, claim_token])?;
                Ok(())
            })
            .await
    }

    async fn insert_registration(&self, row: RegistrationRow) -> Result<()> {
        self.db
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO registrations (id, caller_id, state, version, data, \
                     created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    row.id,
                    row.caller_id,
                    row.state,
                    row.version,
                    row.data,
                    row.created_at_ms,
                    row.updated_at_ms
                ])
                .map_err(|e| duplicate(e, "registration"))?;
                Ok(())
            })
            .await
    }

    async fn update_registration(&self, row: RegistrationRow) -> Result<bool> {
        self.db
            .write(move |c| Ok(save_registration(c, &row)?))
            .await
    }

    async fn registration(&self, id: Uuid) -> Result<Option<RegistrationRow>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT id, caller_id, state, version, data, created_at_ms, updated_at_ms \
                     FROM registrations WHERE id = ?1",
                )?
                .query_row([id], registration_from_row)
                .optional()?)
            })
            .await
    }

    async fn registrations_of(&self, caller_id: Uuid, limit: u32) -> Result<Vec<RegistrationRow>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(
                    "SELECT id, caller_id, state, version, data, created_at_ms, updated_at_ms \
                     FROM registrations WHERE caller_id = ?1 \
                     ORDER BY created_at_ms DESC, id DESC LIMIT ?2",
                )?;
                let rows = statement.query_map(params![caller_id, limit], registration_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn end_registration(
        &self,
        row: RegistrationRow,
        note: Option<NotificationRow>,
    ) -> Result<bool> {
        self.db
            .write(move |c| {
                let saved = save_registration(c, &row)?;
                if saved {
                    c.prepare_cached("DELETE FROM registration_codes WHERE registration_id = ?1")?
                        .execute([row.id])?;
                    if let Some(note) = &note {
                        insert_notification(c, note)?;
                    }
                }
                Ok(saved)
            })
            .await
    }

    async fn first_bound_registration(
        &self,
        caller_id: Uuid,
        except: Uuid,
    ) -> Result<Option<RegistrationRow>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(
                    "SELECT id, caller_id, state, version, data, created_at_ms, updated_at_ms \
                     FROM registrations WHERE caller_id = ?1 AND id <> ?2 \
                     AND state IN ('bound', 'revoked') \
                     ORDER BY created_at_ms, id LIMIT 1",
                )?;
                Ok(statement
                    .query_row(params![caller_id, except], registration_from_row)
                    .optional()?)
            })
            .await
    }

    async fn insert_code(&self, row: CodeRow) -> Result<(), CodeConflict> {
        let result = self
            .db
            .write(move |c| {
                let outcome = c
                    .prepare_cached(
                        "INSERT INTO registration_codes (code_hash, card_lookup, registration_id, \
                         caller_id, bank_id, account_id, terminal_id, created_at_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )?
                    .execute(params![
                        row.code_hash,
                        row.card_lookup,
                        row.registration_id,
                        row.caller_id,
                        row.bank_id,
                        row.account_id,
                        row.terminal_id,
                        row.created_at_ms
                    ]);
                match outcome {
                    Ok(_) => Ok(None),
                    Err(rusqlite::Error::SqliteFailure(e, Some(message)))
                        if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        Ok(Some(message))
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        match result {
            None => Ok(()),
            Some(message) if message.contains("registration_id") => {
                Err(CodeConflict::RegistrationHasCode)
            }
            Some(message) if message.contains("card_lookup") => Err(CodeConflict::CardTaken),
            Some(_) => Err(CodeConflict::CodeTaken),
        }
    }

    async fn code_of_registration(&self, registration_id: Uuid) -> Result<Option<CodeRow>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {CODE_COLUMNS} FROM registration_codes WHERE registration_id = ?1"
                ))?
                .query_row([registration_id], code_from_row)
                .optional()?)
            })
            .await
    }

    async fn code_by_card(&self, card_lookup: Vec<u8>) -> Result<Option<CodeRow>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {CODE_COLUMNS} FROM registration_codes WHERE card_lookup = ?1"
                ))?
                .query_row([card_lookup], code_from_row)
                .optional()?)
            })
            .await
    }

    async fn code_by_hash(&self, code_hash: Vec<u8>) -> Result<Option<CodeRow>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {CODE_COLUMNS} FROM registration_codes WHERE code_hash = ?1"
                ))?
                .query_row([code_hash], code_from_row)
                .optional()?)
            })
            .await
    }

    async fn codes_of_caller(&self, caller_id: Uuid, limit: u32) -> Result<Vec<CodeRow>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(&format!(
                    "SELECT {CODE_COLUMNS} FROM registration_codes WHERE caller_id = ?1 \
                     ORDER BY created_at_ms DESC LIMIT ?2"
                ))?;
                let rows = statement.query_map(params![caller_id, limit], code_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn caller(&self, id: Uuid) -> Result<Option<CallerRow>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT id, kind, name, token_hash, created_at_ms FROM callers WHERE id = ?1",
                )?
                .query_row([id], caller_from_row)
                .optional()?)
            })
            .await
    }

    async fn insert_merchant(&self, row: MerchantRow) -> Result<()> {
        self.db
            .write(move |c| {
                c.prepare_cached(&format!(
                    "INSERT INTO merchants ({MERCHANT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ))?
                .execute(params![
                    row.caller_id,
                    row.name,
                    row.bank_id,
                    row.account_id,
                    row.created_at_ms,
                    row.webhook_url,
                    row.webhook_secrets
                ])
                .map_err(|e| duplicate(e, "merchant"))?;
                Ok(())
            })
            .await
    }

    async fn merchant(&self, caller_id: Uuid) -> Result<Option<MerchantRow>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {MERCHANT_COLUMNS} FROM merchants WHERE caller_id = ?1"
                ))?
                .query_row([caller_id], merchant_from_row)
                .optional()?)
            })
            .await
    }

    async fn merchants(&self, limit: u32) -> Result<Vec<MerchantRow>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(&format!(
                    "SELECT {MERCHANT_COLUMNS} FROM merchants ORDER BY name, caller_id LIMIT ?1"
                ))?;
                let rows = statement.query_map([limit], merchant_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn set_webhook(
        &self,
        caller_id: Uuid,
        url: String,
        secrets: Vec<u8>,
        read: Vec<u8>,
    ) -> Result<bool> {
        self.db
            .write(move |c| {
                Ok(c.prepare_cached(
                    "UPDATE merchants SET webhook_url = ?2, webhook_secrets = ?3 \
                     WHERE caller_id = ?1 AND webhook_secrets = ?4",
                )?
                .execute(params![caller_id, url, secrets, read])?
                    == 1)
            })
            .await
    }

    async fn deliveries_due(
        &self,
        now_ms: i64,
        limit: u32,
        per_merchant: u32,
        skip_merchants: Vec<Uuid>,
    ) -> Result<Vec<DeliveryRow>> {
        if skip_merchants.is_empty() {
            return self
                .db
                .read(move |c| {
                    let mut statement = c.prepare_cached(&format!(
                        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
                         WHERE next_attempt_ms IS NOT NULL AND next_attempt_ms <= ?1 \
                         ORDER BY next_attempt_ms LIMIT ?2"
                    ))?;
                    let rows = statement.query_map(params![now_ms, limit], delivery_from_row)?;
                    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
                })
                .await;
        }
        // A probe a merchant with an undelivered row: not bounded by `limit`, so off the async
        // threads.
        self.db
            .scan(move |c| {
                // A placeholder per merchant skipped (a handful), their count rounded up to a
                // power of two and the rest filled with the nil id, so that few statement texts
                // are cached.
                let mut skip_merchants = skip_merchants;
                let slots = skip_merchants.len().next_power_of_two();
                skip_merchants.resize(slots, Uuid::nil());
                let skip = (0..slots)
                    .map(|i| format!("?{}", i + 4))
                    .collect::<Vec<_>>()
                    .join(", ");
                // Each merchant's first due rows, by id (measured: 8–9 ms with 1,100 merchants
                // and one's 200,000 due rows skipped; repeating `merchant_id = merchant` here
                // makes SQLite walk each merchant's whole history instead, 12–16 ms).
                let mut statement = c.prepare_cached(&format!(
                    "{UNDELIVERED_MERCHANTS} \
                     SELECT {DELIVERY_COLUMNS} FROM merchants, webhook_deliveries \
                     WHERE merchant IS NOT NULL AND merchant NOT IN ({skip}) \
                     AND id IN (SELECT id FROM webhook_deliveries AS first \
                                WHERE first.merchant_id = merchant \
                                AND first.next_attempt_ms IS NOT NULL \
                                AND first.next_attempt_ms <= ?1 \
                                ORDER BY first.next_attempt_ms LIMIT ?3) \
                     ORDER BY next_attempt_ms LIMIT ?2"
                ))?;
                let mut values: Vec<&dyn rusqlite::ToSql> = vec![&now_ms, &limit, &per_merchant];
                values.extend(skip_merchants.iter().map(|m| m as &dyn rusqlite::ToSql));
                let rows = statement.query_map(values.as_slice(), delivery_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn update_delivery(
        &self,
        row: DeliveryRow,
        seen_next_attempt_ms: Option<i64>,
    ) -> Result<bool> {
        self.db
            .write(move |c| {
                Ok(c.prepare_cached(
                    "UPDATE webhook_deliveries SET state = ?2, attempts = ?3, \
                     next_attempt_ms = ?4, last_status = ?5, last_error = ?6, updated_at_ms = ?7 \
                     WHERE id = ?1 AND next_attempt_ms IS ?8",
                )?
                .execute(params![
                    row.id,
                    row.state,
                    row.attempts,
                    row.next_attempt_ms,
                    row.last_status,
                    row.last_error,
                    row.updated_at_ms,
                    seen_next_attempt_ms
                ])? == 1)
            })
            .await
    }

    async fn deliveries_of(&self, merchant_id: Uuid, limit: u32) -> Result<Vec<DeliveryRow>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE merchant_id = ?1 \
                     ORDER BY created_at_ms DESC, id DESC LIMIT ?2"
                ))?;
                let rows = statement.query_map(params![merchant_id, limit], delivery_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn insert_payment(&self, row: PaymentRow) -> Result<()> {
        self.db
            .write(move |c| {
                // A new row is booked: its books are complete (none, if not given).
                c.prepare_cached(&format!(
                    "INSERT INTO payments ({PAYMENT_COLUMNS}, booked) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 1)"
                ))?
                .execute(params![
                    row.id,
                    row.payer_id,
                    row.payee_id,
                    row.state,
                    row.version,
                    row.next_check_ms,
                    row.data,
                    row.created_at_ms,
                    row.updated_at_ms,
                    row.amount_minor,
                    row.exempted,
                    row.held
                ])
                .map_err(|e| duplicate(e, "payment"))?;
                if let Some(books) = &row.books {
                    insert_books(c, row.id, books)?;
                }
                Ok(())
            })
            .await
    }

    async fn update_payment(&self, row: PaymentRow, news: Announcements) -> Result<bool> {
        self.db
            .write(move |c| {
                let changed = c
                    .prepare_cached(
                        "UPDATE payments SET state = ?2, version = ?3, next_check_ms = ?4, \
                         data = ?5, updated_at_ms = ?6, held = ?7, booked = booked OR ?8 \
                         WHERE id = ?1 AND version = ?3 - 1",
                    )?
                    .execute(params![
                        row.id,
                        row.state,
                        row.version,
                        row.next_check_ms,
                        row.data,
                        row.updated_at_ms,
                        row.held,
                        row.books.is_some()
                    ])?;
                if changed != 1 {
                    return Ok(false);
                }
                if let Some(books) = &row.books {
                    replace_books(c, row.id, books)?;
                }
                for note in news.notifications {
                    insert_notification(c, &note)?;
                }
                for delivery in news.deliveries {
                    insert_delivery(c, &delivery)?;
                }
                Ok(true)
            })
            .await
    }

    async fn payment(&self, id: Uuid) -> Result<Option<PaymentRow>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = ?1"
                ))?
                .query_row([id], payment_from_row)
                .optional()?)
            })
            .await
    }

    async fn payments_of(
        &self,
        caller_id: Uuid,
        before: Option<(i64, Uuid)>,
        limit: u32,
    ) -> Result<Vec<PaymentRow>> {
        let (at, id) = cursor_or_end(before);
        self.db
            .read(move |c| {
                // One branch per index, each read newest first for `limit` rows at most (an
                // `OR` of the two reads every payment of the caller, then sorts).
                let mut statement = c.prepare_cached(&format!(
                    "SELECT * FROM (SELECT {PAYMENT_COLUMNS} FROM payments WHERE payer_id = ?1 \
                     AND (created_at_ms < ?2 OR (created_at_ms = ?2 AND id < ?3)) \
                     ORDER BY created_at_ms DESC, id DESC LIMIT ?4) \
                     UNION ALL \
                     SELECT * FROM (SELECT {PAYMENT_COLUMNS} FROM payments WHERE payee_id = ?1 \
                     AND payer_id IS NOT ?1 \
                     AND (created_at_ms < ?2 OR (created_at_ms = ?2 AND id < ?3)) \
                     ORDER BY created_at_ms DESC, id DESC LIMIT ?4) \
                     ORDER BY created_at_ms DESC, id DESC LIMIT ?4"
                ))?;
                let rows =
                    statement.query_map(params![caller_id, at, id, limit], payment_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn payments_made_by(&self, payer_id: Uuid, limit: u32) -> Result<Vec<PaymentRow>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(&format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payments WHERE payer_id = ?1 \
                     ORDER BY created_at_ms DESC, id DESC LIMIT ?2"
                ))?;
                let rows = statement.query_map(params![payer_id, limit], payment_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn payment_summaries(&self, payer_id: Uuid, limit: u32) -> Result<Vec<PaymentSummary>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(
                    "SELECT payee_id, state, amount_minor, exempted FROM payments \
                     WHERE payer_id = ?1 ORDER BY created_at_ms DESC, id DESC LIMIT ?2",
                )?;
                let rows = statement.query_map(params![payer_id, limit], |r| {
                    Ok(PaymentSummary {
                        payee_id: r.get(0)?,
                        state: r.get(1)?,
                        amount_minor: r.get(2)?,
                        exempted: r.get(3)?,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn payments_due(&self, now_ms: i64, limit: u32) -> Result<Vec<PaymentRow>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(&format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payments \
                     WHERE next_check_ms IS NOT NULL AND next_check_ms <= ?1 \
                     ORDER BY next_check_ms LIMIT ?2"
                ))?;
                let rows = statement.query_map(params![now_ms, limit], payment_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn bank_sums(&self, from_ms: i64, to_ms: i64) -> Result<Vec<BankSums>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(
                    "SELECT bank_id, currency, SUM(paid_out_minor), SUM(received_minor), \
                     SUM(clearing_minor) FROM payment_books WHERE day_ms >= ?1 AND day_ms < ?2 \
                     GROUP BY bank_id, currency ORDER BY bank_id, currency",
                )?;
                let rows = statement.query_map(params![from_ms, to_ms], bank_sums_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn roll_up_books(&self, before_ms: i64) -> Result<()> {
        self.db
            .write(move |c| {
                let through: i64 = c
                    .prepare_cached("SELECT through_ms FROM books_rolled_up WHERE id = 1")?
                    .query_row([], |r| r.get(0))?;
                if before_ms <= through {
                    return Ok(());
                }
                c.prepare_cached(
                    "INSERT INTO settled_days (day_ms, bank_id, currency, paid_out_minor, \
                     received_minor, clearing_minor) SELECT day_ms, bank_id, currency, \
                     SUM(paid_out_minor), SUM(received_minor), SUM(clearing_minor) \
                     FROM payment_books WHERE day_ms >= ?1 AND day_ms < ?2 \
                     GROUP BY day_ms, bank_id, currency",
                )?
                .execute(params![through, before_ms])?;
                c.prepare_cached("UPDATE books_rolled_up SET through_ms = ?1 WHERE id = 1")?
                    .execute([before_ms])?;
                Ok(())
            })
            .await
    }

    async fn bank_sums_ever(&self) -> Result<Vec<BankSums>> {
        self.db
            .read(move |c| {
                // Read first, as PostgreSQL does (the days before it were summed with it, and
                // no row is ever removed).
                let through: i64 = c
                    .prepare_cached("SELECT through_ms FROM books_rolled_up WHERE id = 1")?
                    .query_row([], |r| r.get(0))?;
                let mut statement = c.prepare_cached(
                    "SELECT bank_id, currency, SUM(paid_out), SUM(received), SUM(clearing) FROM (\
                     SELECT bank_id, currency, paid_out_minor AS paid_out, \
                     received_minor AS received, clearing_minor AS clearing FROM settled_days \
                     WHERE day_ms < ?1 UNION ALL SELECT bank_id, currency, paid_out_minor, \
                     received_minor, clearing_minor FROM payment_books WHERE day_ms >= ?1) \
                     GROUP BY bank_id, currency ORDER BY bank_id, currency",
                )?;
                let rows = statement.query_map([through], bank_sums_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn payments_held(&self) -> Result<Vec<PaymentRow>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(&format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payments WHERE held ORDER BY id"
                ))?;
                let rows = statement.query_map([], payment_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn payments_unbooked(&self, limit: u32) -> Result<Vec<PaymentRow>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(&format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payments WHERE NOT booked ORDER BY id LIMIT ?1"
                ))?;
                let rows = statement.query_map([limit], payment_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn notifications(
        &self,
        caller_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<NotificationRow>> {
        self.db
            .read(move |c| {
                let mut statement = c.prepare_cached(
                    "SELECT seq, caller_id, data, created_at_ms FROM notifications \
                     WHERE caller_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )?;
                let rows = statement.query_map(params![caller_id, after_seq, limit], |r| {
                    Ok(NotificationRow {
                        seq: r.get(0)?,
                        caller_id: r.get(1)?,
                        data: r.get(2)?,
                        created_at_ms: r.get(3)?,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn purge_notifications(&self, created_before_ms: i64) -> Result<u64> {
        self.db
            .write(move |c| {
                Ok(
                    c.prepare_cached("DELETE FROM notifications WHERE created_at_ms < ?1")?
                        .execute([created_before_ms])? as u64,
                )
            })
            .await
    }

    async fn record_failure(&self, lookup: Vec<u8>, now_ms: i64, window_ms: i64) -> Result<i64> {
        self.db
            .write(move |c| {
                Ok(c.prepare_cached(
                    "INSERT INTO card_failures (card_lookup, failures, window_start_ms) \
                     VALUES (?1, 1, ?2) ON CONFLICT (card_lookup) DO UPDATE SET \
                     failures = CASE WHEN window_start_ms > ?2 - ?3 THEN failures + 1 ELSE 1 END, \
                     window_start_ms = CASE WHEN window_start_ms > ?2 - ?3 \
                       THEN window_start_ms ELSE ?2 END \
                     RETURNING failures",
                )?
                .query_row(params![lookup, now_ms, window_ms], |r| r.get(0))?)
            })
            .await
    }

    async fn forgive_failure(&self, lookup: Vec<u8>) -> Result<()> {
        self.db
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE card_failures SET failures = failures - 1 \
                     WHERE card_lookup = ?1 AND failures > 0",
                )?
                .execute(params![lookup])?;
                Ok(())
            })
            .await
    }

    async fn clear_failures(&self, lookup: Vec<u8>) -> Result<()> {
        self.db
            .write(move |c| {
                c.prepare_cached("DELETE FROM card_failures WHERE card_lookup = ?1")?
                    .execute(params![lookup])?;
                Ok(())
            })
            .await
    }

    async fn set_totp_seed(
        &self,
        caller_id: Uuid,
        sealed_seed: Vec<u8>,
        now_ms: i64,
    ) -> Result<()> {
        self.db
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO totp_seeds (caller_id, sealed_seed, last_step, created_at_ms) \
                     VALUES (?1, ?2, -1, ?3) ON CONFLICT (caller_id) DO UPDATE SET \
                     sealed_seed = excluded.sealed_seed, last_step = -1, \
                     created_at_ms = excluded.created_at_ms",
                )?
                .execute(params![caller_id, sealed_seed, now_ms])?;
                Ok(())
            })
            .await
    }

    async fn delete_totp_seed(&self, caller_id: Uuid, note: NotificationRow) -> Result<bool> {
        self.db
            .write(move |c| {
                let deleted = c
                    .prepare_cached("DELETE FROM totp_seeds WHERE caller_id = ?1")?
                    .execute([caller_id])?;
                if deleted == 1 {
                    insert_notification(c, &note)?;
                }
                Ok(deleted == 1)
            })
            .await
    }

    async fn totp_seed(&self, caller_id: Uuid) -> Result<Option<(Vec<u8>, i64)>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT sealed_seed, last_step FROM totp_seeds WHERE caller_id = ?1",
                )?
                .query_row([caller_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
            })
            .await
    }

    async fn use_totp_step(&self, caller_id: Uuid, counter: i64) -> Result<bool> {
        self.db
            .write(move |c| {
                Ok(c.prepare_cached(
                    "UPDATE totp_seeds SET last_step = ?2 WHERE caller_id = ?1 AND last_step < ?2",
                )?
                .execute(params![caller_id, counter])?
                    == 1)
            })
            .await
    }

    async fn purge_idempotency(&self, created_before_ms: i64) -> Result<u64> {
        self.db
            .write(move |c| {
                Ok(
                    c.prepare_cached("DELETE FROM idempotency_records WHERE created_at_ms < ?1")?
                        .execute([created_before_ms])? as u64,
                )
            })
            .await
    }

    async fn ping(&self) -> Result<()> {
        self.db
            .read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    fn writer_stats(&self) -> Option<WriterStats> {
        Some(self.db.busy.stats())
    }
}
