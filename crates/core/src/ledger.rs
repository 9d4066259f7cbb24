//! The bank ledger's decision step: a batch of transfer commands against a snapshot of accounts.
//!
//! The shape follows TigerBeetle. A [`Transfer`] debits one account and credits another by the
//! same amount, so every movement is a balanced pair of postings by construction. Accounts keep
//! four running sums (`debits_pending`, `debits_posted`, `credits_pending`, `credits_posted`);
//! a balance is derived from them. A *hold* is a pending transfer that reserves funds; a later
//! transfer posts it (in full or in part) or voids it, or it expires.
//!
//! [`decide_batch`] is pure: the store loads the accounts and the already known transfers a batch
//! names, calls it with `now_ms`, and persists the [`BatchEffects`] in one database transaction.
//! Commands in a batch are decided in order and each sees the effects of the ones before it.
//!
//! Every command ends with exactly one [`Outcome`]; rejected commands are recorded too, so that a
//! retry with the same id returns the original outcome instead of being decided again (a retry of
//! a transfer refused for insufficient funds must not succeed later by surprise).
//!
//! Deliberately not here: persistence, the wire format, authentication.

use std::collections::HashMap;

use uuid::Uuid;

use crate::money::{AMOUNT_MINOR_MAX, Currency};

/// At most this many commands are decided (and committed) together.
pub const BATCH_COMMANDS_MAX: usize = 8_190;
/// A hold may be kept at most this long before it expires.
pub const HOLD_TIMEOUT_SECONDS_MAX: u32 = 30 * 24 * 3600;
/// A free-text reference on a transfer (an order number, a payment id) is at most this long.
pub const REFERENCE_LENGTH_MAX: usize = 128;

/// An account of the bank: a customer's deposit account, or one of the bank's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub currency: Currency,
    /// How far debits may exceed credits. `None`: without limit (the bank's own funding and
    /// clearing accounts); `Some(0)`: no overdraft (a plain deposit account).
    pub overdraft_limit_minor: Option<i64>,
    pub debits_pending: i64,
    pub debits_posted: i64,
    pub credits_pending: i64,
    pub credits_posted: i64,
    /// When a [`TransferKind::CloseAccount`] closed it; a closed account takes no new transfer.
    pub closed_at_ms: Option<i64>,
}

impl Account {
    pub fn new(id: Uuid, currency: Currency, overdraft_limit_minor: Option<i64>) -> Account {
        Account {
            id,
            currency,
            overdraft_limit_minor,
            debits_pending: 0,
            debits_posted: 0,
            credits_pending: 0,
            credits_posted: 0,
            closed_at_ms: None,
        }
    }

    /// Nothing owned, nothing owed, nothing held: what an account must be to be closed.
    pub fn is_empty(&self) -> bool {
        self.debits_posted == self.credits_posted
            && self.debits_pending == 0
            && self.credits_pending == 0
    }

    /// Posted credits minus posted debits: what the customer owns (negative in overdraft).
    pub fn balance_minor(&self) -> i64 {
        self.credits_posted - self.debits_posted
    }

    /// The balance less what holds reserve: what a new debit may use before any overdraft.
    pub fn available_minor(&self) -> i64 {
        self.credits_posted - self.debits_posted - self.debits_pending
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// Moves money at once.
    Single,
    /// Reserves money on the debit account until it is posted, voided or expires.
    Pending,
    /// Completes a hold, moving up to its amount; the rest is released.
    PostPending,
    /// Releases a hold without moving money.
    VoidPending,
    /// Closes the account named as the debit account, which must be empty (no balance, no
    /// holds); moves no money. Closing is final: a closed account takes no new transfer.
    CloseAccount,
}

impl TransferKind {
    pub fn code(self) -> &'static str {
        match self {
            TransferKind::Single => "single",
            TransferKind::Pending => "pending",
            TransferKind::PostPending => "post_pending",
            TransferKind::VoidPending => "void_pending",
            TransferKind::CloseAccount => "close_account",
        }
    }

    pub fn parse(code: &str) -> Option<TransferKind> {
        Some(match code {
            "single" => TransferKind::Single,
            "pending" => TransferKind::Pending,
            "post_pending" => TransferKind::PostPending,
            "void_pending" => TransferKind::VoidPending,
            "close_account" => TransferKind::CloseAccount,
            _ => return None,
        })
    }
}

/// Where a hold stands. Only transfers of kind [`TransferKind::Pending`] have one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HoldState {
    Pending,
    Posted,
    Voided,
    Expired,
}

impl HoldState {
    pub fn code(self) -> &'static str {
        match self {
            HoldState::Pending => "pending",
            HoldState::Posted => "posted",
            HoldState::Voided => "voided",
            HoldState::Expired => "expired",
        }
    }

    pub fn parse(code: &str) -> Option<HoldState> {
        Some(match code {
            "pending" => HoldState::Pending,
            "posted" => HoldState::Posted,
            "voided" => HoldState::Voided,
            "expired" => HoldState::Expired,
            _ => return None,
        })
    }
}

/// What a client asks for. The id is chosen by the client and makes the command idempotent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferCommand {
    pub id: Uuid,
    pub kind: TransferKind,
    /// For post and void: may be `None` (taken from the hold); when given, must match it.
    pub debit_account_id: Option<Uuid>,
    pub credit_account_id: Option<Uuid>,
    /// For post: `None` posts the whole hold. For void: must be `None` or the hold's amount.
    pub amount_minor: Option<i64>,
    pub currency: Currency,
    /// The hold that a post or void acts on.
    pub pending_id: Option<Uuid>,
    /// For a hold: seconds until it expires; `None` keeps it until posted or voided.
    pub timeout_seconds: Option<u32>,
    pub reference: Option<String>,
}

/// A decided command as the ledger records it: applied (`outcome == Created`) or rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub id: Uuid,
    pub kind: TransferKind,
    /// As resolved (for post and void, copied from the hold); as asked when rejected.
    pub debit_account_id: Option<Uuid>,
    pub credit_account_id: Option<Uuid>,
    pub amount_minor: i64,
    pub currency: Currency,
    pub pending_id: Option<Uuid>,
    pub timeout_seconds: Option<u32>,
    pub reference: Option<String>,
    pub outcome: Outcome,
    /// The command exactly as it came, kept to tell a replay from a different request.
    pub requested_amount_minor: Option<i64>,
    pub requested_debit_account_id: Option<Uuid>,
    pub requested_credit_account_id: Option<Uuid>,
    /// For holds: where the hold stands now, and when it expires.
    pub hold_state: Option<HoldState>,
    pub expires_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

impl Transfer {
    fn answers(&self, command: &TransferCommand) -> bool {
        self.kind == command.kind
            && self.requested_debit_account_id == command.debit_account_id
            && self.requested_credit_account_id == command.credit_account_id
            && self.requested_amount_minor == command.amount_minor
            && self.currency == command.currency
            && self.pending_id == command.pending_id
            && self.timeout_seconds == command.timeout_seconds
            && self.reference == command.reference
    }
}

/// The result of one command, in precedence order: when several apply, the first one listed is
/// reported. Codes are stable: add new ones, never rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Created,
    /// A replay of a command already decided; the original transfer is returned with it.
    Exists,
    ExistsWithDifferentFields,
    AmountInvalid,
    ReferenceTooLong,
    TimeoutInvalid,
    AccountsMustBeDifferent,
    AccountRequired,
    PendingIdRequired,
    PendingIdNotAllowed,
    DebitAccountNotFound,
    CreditAccountNotFound,
    DebitAccountClosed,
    CreditAccountClosed,
    CurrencyMismatch,
    /// A close of an account that still has a balance or holds.
    AccountNotEmpty,
    PendingTransferNotFound,
    PendingTransferNotPending,
    PendingTransferHasDifferentAccounts,
    PendingTransferHasDifferentCurrency,
    PendingTransferAlreadyPosted,
    PendingTransferAlreadyVoided,
    PendingTransferExpired,
    ExceedsPendingTransferAmount,
    PendingTransferHasDifferentAmount,
    OverflowsBalance,
    InsufficientFunds,
}

impl Outcome {
    pub const ALL: [Outcome; 27] = [
        Outcome::Created,
        Outcome::Exists,
        Outcome::ExistsWithDifferentFields,
        Outcome::AmountInvalid,
        Outcome::ReferenceTooLong,
        Outcome::TimeoutInvalid,
        Outcome::AccountsMustBeDifferent,
        Outcome::AccountRequired,
        Outcome::PendingIdRequired,
        Outcome::PendingIdNotAllowed,
        Outcome::DebitAccountNotFound,
        Outcome::CreditAccountNotFound,
        Outcome::DebitAccountClosed,
        Outcome::CreditAccountClosed,
        Outcome::CurrencyMismatch,
        Outcome::AccountNotEmpty,
        Outcome::PendingTransferNotFound,
        Outcome::PendingTransferNotPending,
        Outcome::PendingTransferHasDifferentAccounts,
        Outcome::PendingTransferHasDifferentCurrency,
        Outcome::PendingTransferAlreadyPosted,
        Outcome::PendingTransferAlreadyVoided,
        Outcome::PendingTransferExpired,
        Outcome::ExceedsPendingTransferAmount,
        Outcome::PendingTransferHasDifferentAmount,
        Outcome::OverflowsBalance,
        Outcome::InsufficientFunds,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Exists => "exists",
            Outcome::ExistsWithDifferentFields => "exists_with_different_fields",
            Outcome::AmountInvalid => "amount_invalid",
            Outcome::ReferenceTooLong => "reference_too_long",
            Outcome::TimeoutInvalid => "timeout_invalid",
            Outcome::AccountsMustBeDifferent => "accounts_must_be_different",
            Outcome::AccountRequired => "account_required",
            Outcome::PendingIdRequired => "pending_id_required",
            Outcome::PendingIdNotAllowed => "pending_id_not_allowed",
            Outcome::DebitAccountNotFound => "debit_account_not_found",
            Outcome::CreditAccountNotFound => "credit_account_not_found",
            Outcome::DebitAccountClosed => "debit_account_closed",
            Outcome::CreditAccountClosed => "credit_account_closed",
            Outcome::CurrencyMismatch => "currency_mismatch",
            Outcome::AccountNotEmpty => "account_not_empty",
            Outcome::PendingTransferNotFound => "pending_transfer_not_found",
            Outcome::PendingTransferNotPending => "pending_transfer_not_pending",
            Outcome::PendingTransferHasDifferentAccounts => {
                "pending_transfer_has_different_accounts"
            }
            Outcome::PendingTransferHasDifferentCurrency => {
                "pending_transfer_has_different_currency"
            }
            Outcome::PendingTransferAlreadyPosted => "pending_transfer_already_posted",
            Outcome::PendingTransferAlreadyVoided => "pending_transfer_already_voided",
            Outcome::PendingTransferExpired => "pending_transfer_expired",
            Outcome::ExceedsPendingTransferAmount => "exceeds_pending_transfer_amount",
            Outcome::PendingTransferHasDifferentAmount => "pending_transfer_has_different_amount",
            Outcome::OverflowsBalance => "overflows_balance",
            Outcome::InsufficientFunds => "insufficient_funds",
        }
    }

    pub fn parse(code: &str) -> Option<Outcome> {
        Outcome::ALL
            .into_iter()
            .find(|outcome| outcome.code() == code)
    }

    /// True for the outcomes that leave the ledger as it was.
    pub fn is_rejection(self) -> bool {
        !matches!(self, Outcome::Created | Outcome::Exists)
    }
}

/// The answer to one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The transfer as recorded: new, or the original one for a replay (`Exists`,
    /// `ExistsWithDifferentFields`).
    pub transfer: Transfer,
}

/// What a batch changes, for the store to persist in one transaction.
#[derive(Debug, Default)]
pub struct BatchEffects {
    /// New rows, applied and rejected, in command order.
    pub inserted: Vec<Transfer>,
    /// Holds whose state changed (posted, voided or expired): id → new state.
    pub holds_changed: Vec<(Uuid, HoldState)>,
    /// Accounts whose sums changed, with their new sums.
    pub accounts_changed: Vec<Account>,
}

/// The state a batch is decided against: the accounts and the already recorded transfers that
/// its commands name. The store fills it from the database; [`ids_to_load`] says what to load.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub accounts: HashMap<Uuid, Account>,
    pub transfers: HashMap<Uuid, Transfer>,
}

/// The account ids and transfer ids (own ids and holds named) that a batch needs loaded.
pub fn ids_to_load(commands: &[TransferCommand]) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut accounts = Vec::with_capacity(commands.len() * 2);
    let mut transfers = Vec::with_capacity(commands.len() * 2);
    for command in commands {
        accounts.extend(command.debit_account_id);
        accounts.extend(command.credit_account_id);
        transfers.push(command.id);
        transfers.extend(command.pending_id);
    }
    accounts.sort_unstable();
    accounts.dedup();
    transfers.sort_unstable();
    transfers.dedup();
    (accounts, transfers)
}

/// Hold ids whose holds the loaded snapshot names (so the store can load their accounts too).
pub fn hold_accounts_to_load(snapshot: &Snapshot) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = snapshot
        .transfers
        .values()
        .filter(|t| t.kind == TransferKind::Pending && t.outcome == Outcome::Created)
        .flat_map(|t| [t.debit_account_id, t.credit_account_id])
        .flatten()
        .filter(|id| !snapshot.accounts.contains_key(id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Decides `commands` in order against `snapshot`, updating it, and returns one decision per
/// command plus the effects to persist.
pub fn decide_batch(
    now_ms: i64,
    commands: &[TransferCommand],
    snapshot: &mut Snapshot,
) -> (Vec<Decision>, BatchEffects) {
    assert!(commands.len() <= BATCH_COMMANDS_MAX);
    let mut decisions = Vec::with_capacity(commands.len());
    let mut effects = BatchEffects::default();
    let mut accounts_touched: Vec<Uuid> = Vec::new();
    for command in commands {
        let decision = decide_one(
            now_ms,
            command,
            snapshot,
            &mut effects,
            &mut accounts_touched,
        );
        decisions.push(decision);
    }
    accounts_touched.sort_unstable();
    accounts_touched.dedup();
    effects.accounts_changed = accounts_touched
        .iter()
        .map(|id| snapshot.accounts[id].clone())
        .collect();
    (decisions, effects)
}

/// Releases every hold in `snapshot` that has expired by `now_ms`. The store calls it with the
/// holds it found past their expiry (and their accounts).
pub fn expire_holds(now_ms: i64, snapshot: &mut Snapshot) -> BatchEffects {
    let mut effects = BatchEffects::default();
    let mut accounts_touched = Vec::new();
    let mut expired: Vec<Uuid> = snapshot
        .transfers
        .values()
        .filter(|t| t.hold_state == Some(HoldState::Pending))
        .filter(|t| t.expires_at_ms.is_some_and(|at| at <= now_ms))
        .map(|t| t.id)
        .collect();
    expired.sort_unstable();
    for id in expired {
        release_hold(
            snapshot,
            id,
            HoldState::Expired,
            &mut effects,
            &mut accounts_touched,
        );
    }
    accounts_touched.sort_unstable();
    accounts_touched.dedup();
    effects.accounts_changed = accounts_touched
        .iter()
        .map(|id| snapshot.accounts[id].clone())
        .collect();
    effects
}

fn decide_one(
    now_ms: i64,
    command: &TransferCommand,
    snapshot: &mut Snapshot,
    effects: &mut BatchEffects,
    accounts_touched: &mut Vec<Uuid>,
) -> Decision {
    if let Some(existing) = snapshot.transfers.get(&command.id) {
        let outcome = if existing.answers(command) {
            Outcome::Exists
        } else {
            Outcome::ExistsWithDifferentFields
        };
        return Decision {
            outcome,
            transfer: existing.clone(),
        };
    }
    let mut transfer = Transfer {
        id: command.id,
        kind: command.kind,
        debit_account_id: command.debit_account_id,
        credit_account_id: command.credit_account_id,
        amount_minor: command.amount_minor.unwrap_or(0),
        currency: command.currency,
        pending_id: command.pending_id,
        timeout_seconds: command.timeout_seconds,
        reference: command.reference.clone(),
        outcome: Outcome::Created,
        requested_amount_minor: command.amount_minor,
        requested_debit_account_id: command.debit_account_id,
        requested_credit_account_id: command.credit_account_id,
        hold_state: None,
        expires_at_ms: None,
        created_at_ms: now_ms,
    };
    let outcome = match command.kind {
        TransferKind::Single | TransferKind::Pending => {
            apply_new(now_ms, command, snapshot, &mut transfer, accounts_touched)
        }
        TransferKind::PostPending | TransferKind::VoidPending => apply_resolution(
            now_ms,
            command,
            snapshot,
            &mut transfer,
            effects,
            accounts_touched,
        ),
        TransferKind::CloseAccount => apply_close(now_ms, command, snapshot, accounts_touched),
    };
    transfer.outcome = outcome;
    snapshot.transfers.insert(transfer.id, transfer.clone());
    effects.inserted.push(transfer.clone());
    Decision { outcome, transfer }
}

fn check_common(command: &TransferCommand) -> Result<(), Outcome> {
    if let Some(amount) = command.amount_minor
        && !(1..=AMOUNT_MINOR_MAX).contains(&amount)
    {
        return Err(Outcome::AmountInvalid);
    }
    if command
        .reference
        .as_ref()
        .is_some_and(|r| r.len() > REFERENCE_LENGTH_MAX)
    {
        return Err(Outcome::ReferenceTooLong);
    }
    Ok(())
}

/// A single-phase transfer or a new hold.
fn apply_new(
    now_ms: i64,
    command: &TransferCommand,
    snapshot: &mut Snapshot,
    transfer: &mut Transfer,
    accounts_touched: &mut Vec<Uuid>,
) -> Outcome {
    let Some(amount) = command.amount_minor else {
        return Outcome::AmountInvalid;
    };
    if let Err(outcome) = check_common(command) {
        return outcome;
    }
    match (command.kind, command.timeout_seconds) {
        (TransferKind::Single, Some(_)) => return Outcome::TimeoutInvalid,
        (TransferKind::Pending, Some(t)) if t == 0 || t > HOLD_TIMEOUT_SECONDS_MAX => {
            return Outcome::TimeoutInvalid;
        }
        _ => {}
    }
    let (Some(debit_id), Some(credit_id)) = (command.debit_account_id, command.credit_account_id)
    else {
        return Outcome::AccountRequired;
    };
    if debit_id == credit_id {
        return Outcome::AccountsMustBeDifferent;
    }
    if command.pending_id.is_some() {
        return Outcome::PendingIdNotAllowed;
    }
    let Some(debit) = snapshot.accounts.get(&debit_id) else {
        return Outcome::DebitAccountNotFound;
    };
    let Some(credit) = snapshot.accounts.get(&credit_id) else {
        return Outcome::CreditAccountNotFound;
    };
    if debit.closed_at_ms.is_some() {
        return Outcome::DebitAccountClosed;
    }
    if credit.closed_at_ms.is_some() {
        return Outcome::CreditAccountClosed;
    }
    if debit.currency != command.currency || credit.currency != command.currency {
        return Outcome::CurrencyMismatch;
    }
    let pending = command.kind == TransferKind::Pending;
    let (mut debit, mut credit) = (debit.clone(), credit.clone());
    let applied = if pending {
        add(&mut debit.debits_pending, amount).and(add(&mut credit.credits_pending, amount))
    } else {
        add(&mut debit.debits_posted, amount).and(add(&mut credit.credits_posted, amount))
    };
    if applied.is_none() {
        return Outcome::OverflowsBalance;
    }
    if exceeds_overdraft(&debit) {
        return Outcome::InsufficientFunds;
    }
    if pending {
        transfer.hold_state = Some(HoldState::Pending);
        transfer.expires_at_ms = command
            .timeout_seconds
            .map(|seconds| now_ms + i64::from(seconds) * 1000);
    }
    snapshot.accounts.insert(debit.id, debit);
    snapshot.accounts.insert(credit.id, credit);
    accounts_touched.extend([debit_id, credit_id]);
    Outcome::Created
}

/// Closing an account. It names one account, as the debit account, and no amount. A hold can
/// neither be posted nor voided on a closed account: there is none, since only an empty account
/// closes.
fn apply_close(
    now_ms: i64,
    command: &TransferCommand,
    snapshot: &mut Snapshot,
    accounts_touched: &mut Vec<Uuid>,
) -> Outcome {
    if command.amount_minor.is_some() {
        return Outcome::AmountInvalid;
    }
    if let Err(outcome) = check_common(command) {
        return outcome;
    }
    if command.timeout_seconds.is_some() {
        return Outcome::TimeoutInvalid;
    }
    let (Some(account_id), None) = (command.debit_account_id, command.credit_account_id) else {
        return Outcome::AccountRequired;
    };
    if command.pending_id.is_some() {
        return Outcome::PendingIdNotAllowed;
    }
    let Some(account) = snapshot.accounts.get_mut(&account_id) else {
        return Outcome::DebitAccountNotFound;
    };
    if account.closed_at_ms.is_some() {
        return Outcome::DebitAccountClosed;
    }
    if account.currency != command.currency {
        return Outcome::CurrencyMismatch;
    }
    if !account.is_empty() {
        return Outcome::AccountNotEmpty;
    }
    account.closed_at_ms = Some(now_ms);
    accounts_touched.push(account_id);
    Outcome::Created
}

/// Posting or voiding a hold.
fn apply_resolution(
    now_ms: i64,
    command: &TransferCommand,
    snapshot: &mut Snapshot,
    transfer: &mut Transfer,
    effects: &mut BatchEffects,
    accounts_touched: &mut Vec<Uuid>,
) -> Outcome {
    if let Err(outcome) = check_common(command) {
        return outcome;
    }
    if command.timeout_seconds.is_some() {
        return Outcome::TimeoutInvalid;
    }
    let Some(pending_id) = command.pending_id else {
        return Outcome::PendingIdRequired;
    };
    let Some(hold) = snapshot.transfers.get(&pending_id) else {
        return Outcome::PendingTransferNotFound;
    };
    if hold.kind != TransferKind::Pending || hold.outcome != Outcome::Created {
        return Outcome::PendingTransferNotPending;
    }
    let (Some(debit_id), Some(credit_id)) = (hold.debit_account_id, hold.credit_account_id) else {
        unreachable!("an applied hold names both accounts");
    };
    // A hold keeps both its accounts from closing (they are not empty while it is pending).
    debug_assert!(
        hold.hold_state != Some(HoldState::Pending)
            || [debit_id, credit_id]
                .iter()
                .all(|id| snapshot.accounts[id].closed_at_ms.is_none())
    );
    if command.debit_account_id.is_some_and(|id| id != debit_id)
        || command.credit_account_id.is_some_and(|id| id != credit_id)
    {
        return Outcome::PendingTransferHasDifferentAccounts;
    }
    if command.currency != hold.currency {
        return Outcome::PendingTransferHasDifferentCurrency;
    }
    match hold.hold_state {
        Some(HoldState::Posted) => return Outcome::PendingTransferAlreadyPosted,
        Some(HoldState::Voided) => return Outcome::PendingTransferAlreadyVoided,
        Some(HoldState::Expired) => return Outcome::PendingTransferExpired,
        Some(HoldState::Pending) => {}
        None => unreachable!("an applied hold has a state"),
    }
    let hold_amount = hold.amount_minor;
    if hold.expires_at_ms.is_some_and(|at| at <= now_ms) {
        // Expired but not yet swept: release it now, and say so.
        release_hold(
            snapshot,
            pending_id,
            HoldState::Expired,
            effects,
            accounts_touched,
        );
        return Outcome::PendingTransferExpired;
    }
    let amount = match (command.kind, command.amount_minor) {
        (TransferKind::PostPending, None) => hold_amount,
        (TransferKind::PostPending, Some(a)) if a > hold_amount => {
            return Outcome::ExceedsPendingTransferAmount;
        }
        (TransferKind::PostPending, Some(a)) => a,
        (_, Some(a)) if a != hold_amount => return Outcome::PendingTransferHasDifferentAmount,
        _ => hold_amount,
    };
    let next_state = if command.kind == TransferKind::PostPending {
        HoldState::Posted
    } else {
        HoldState::Voided
    };
    // Posting moves at most what was reserved, and the reservation was within the limits; only
    // the sums can overflow, so check them before anything changes.
    let posted = if next_state == HoldState::Posted {
        let (debit, credit) = (
            &snapshot.accounts[&debit_id],
            &snapshot.accounts[&credit_id],
        );
        match (
            debit.debits_posted.checked_add(amount),
            credit.credits_posted.checked_add(amount),
        ) {
            (Some(d), Some(c)) => Some((d, c)),
            _ => return Outcome::OverflowsBalance,
        }
    } else {
        None
    };
    release_hold(snapshot, pending_id, next_state, effects, accounts_touched);
    if let Some((debits_posted, credits_posted)) = posted {
        snapshot
            .accounts
            .get_mut(&debit_id)
            .expect("loaded")
            .debits_posted = debits_posted;
        snapshot
            .accounts
            .get_mut(&credit_id)
            .expect("loaded")
            .credits_posted = credits_posted;
    }
    transfer.debit_account_id = Some(debit_id);
    transfer.credit_account_id = Some(credit_id);
    transfer.amount_minor = amount;
    Outcome::Created
}

/// Takes a hold's reservation off both accounts and records its new state.
fn release_hold(
    snapshot: &mut Snapshot,
    hold_id: Uuid,
    state: HoldState,
    effects: &mut BatchEffects,
    accounts_touched: &mut Vec<Uuid>,
) {
    let hold = snapshot.transfers.get_mut(&hold_id).expect("hold loaded");
    assert_eq!(hold.hold_state, Some(HoldState::Pending));
    hold.hold_state = Some(state);
    let amount = hold.amount_minor;
    let (Some(debit_id), Some(credit_id)) = (hold.debit_account_id, hold.credit_account_id) else {
        unreachable!("an applied hold names both accounts");
    };
    let debit = snapshot
        .accounts
        .get_mut(&debit_id)
        .expect("hold account loaded");
    debit.debits_pending -= amount;
    assert!(debit.debits_pending >= 0);
    let credit = snapshot
        .accounts
        .get_mut(&credit_id)
        .expect("hold account loaded");
    credit.credits_pending -= amount;
    assert!(credit.credits_pending >= 0);
    effects.holds_changed.push((hold_id, state));
    accounts_touched.extend([debit_id, credit_id]);
}

fn add(sum: &mut i64, amount: i64) -> Option<()> {
    *sum = sum.checked_add(amount)?;
    Some(())
}

fn exceeds_overdraft(account: &Account) -> bool {
    match account.overdraft_limit_minor {
        None => false,
        Some(limit) => {
            let debits = i128::from(account.debits_posted) + i128::from(account.debits_pending);
            debits > i128::from(account.credits_posted) + i128::from(limit)
        }
    }
}

#[cfg(test)]
mod tests;
