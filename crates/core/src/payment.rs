//! A payment with a registration code (seed 000 claim 9, seed 002): its states, its legs at the
//! banks, its verification code and its refunds.
//!
//! ```text
//! requires_verification ──code ok──▶ processing ──payer's bank debited (+ payee's bank credited)──▶ succeeded
//!        │  5 wrong codes ─▶ blocked          │ the bank refused ─▶ failed (insufficient_funds, …)
//!        └─ never verified ─▶ expired         │ no answer: stays processing; the hub asks again
//!                                             └ payee's bank refused the credit ─▶ reversal ─▶ failed
//! succeeded ─▶ refunds (each: processing ─▶ succeeded | failed), never above what was paid;
//!              between banks, a refund whose credit the payer's bank refused is reversed to the
//!              payee, then failed
//! ```
//!
//! A payment moves money through *legs*: ledger transfers at banks, each with an id chosen when
//! the payment is made, so asking a bank again is always safe (the bank's ledger answers a known
//! id with its original outcome). A payment between customers of one bank has one leg (payer →
//! payee); between two banks it has two (payer → payer bank's clearing account, then payee bank's
//! clearing account → payee). A leg whose answer did not arrive stays `pending` and the hub asks
//! again until it has one: a payment is debited exactly once or not at all.
//!
//! Like the registration session, a payment changes only through its methods here, which take
//! `now_ms` and the results of the hub's I/O; the hub saves it with optimistic locking.
//!
//! Deliberately not here: the code's MAC (the hub holds the key), how banks are asked.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Wrong verification codes before the payment is blocked.
pub const VERIFICATION_TRIES_MAX: u32 = 5;
/// Codes sent for one payment, the first included.
pub const VERIFICATION_SENDS_MAX: u32 = 3;
/// A code may be sent again only this long after the previous one (or once it expired).
pub const VERIFICATION_RESEND_INTERVAL_MS: i64 = 30_000;
/// A payment not verified within this long expires.
pub const VERIFICATION_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Refunds of one payment, at most (failed ones included).
pub const REFUNDS_MAX: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    RequiresVerification,
    Processing,
    Succeeded,
    Failed,
    Blocked,
    Expired,
}

impl State {
    pub fn code(self) -> &'static str {
        match self {
            State::RequiresVerification => "requires_verification",
            State::Processing => "processing",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::Blocked => "blocked",
            State::Expired => "expired",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Succeeded | State::Failed | State::Blocked | State::Expired
        )
    }

    pub fn parse(code: &str) -> Option<State> {
        [
            State::RequiresVerification,
            State::Processing,
            State::Succeeded,
            State::Failed,
            State::Blocked,
            State::Expired,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// Who pays or is paid: a hub caller with an account at a bank.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub caller_id: Uuid,
    /// `wallet` or `merchant`.
    pub kind: String,
    pub name: String,
    pub bank_id: String,
    pub account_id: Uuid,
}

/// What a leg's bank said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "code")]
pub enum LegState {
    /// Not asked yet, or asked without an answer.
    Pending,
    Done,
    /// The bank refused, with its code (`insufficient_funds`, `terminal_mismatch`, …).
    Refused(String),
}

/// One ledger transfer at one bank.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    pub transfer_id: Uuid,
    pub bank_id: String,
    pub state: LegState,
    /// When the hub learnt that the bank applied it; none before, and for legs recorded before
    /// this was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at_ms: Option<i64>,
}

impl Leg {
    pub fn new(transfer_id: Uuid, bank_id: &str) -> Leg {
        Leg {
            transfer_id,
            bank_id: bank_id.to_string(),
            state: LegState::Pending,
            done_at_ms: None,
        }
    }

    fn done(&mut self, now_ms: i64) {
        self.state = LegState::Done;
        self.done_at_ms = Some(now_ms);
    }
}

/// Why a verification code was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The payment needs the user's confirmation (seed 002).
    Verification,
    /// The request came from a terminal other than the bound one (seed 000, claim 9).
    StepUp,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::Verification => "verification_required",
            Reason::StepUp => "step_up_required",
        }
    }
}

/// The verification code of a payment, as a MAC over the code, the payment, its amount and
/// payee (the hub computes it): a code is good for this payment as it was when the code was sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub reason: Reason,
    /// Hex MAC of the current code; empty until a code was sent.
    pub code_mac: String,
    pub code_expires_at_ms: i64,
    pub wrong_tries: u32,
    pub sends: u32,
    pub last_sent_at_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    Processing,
    Succeeded,
    Failed,
}

impl RefundState {
    pub fn code(self) -> &'static str {
        match self {
            RefundState::Processing => "processing",
            RefundState::Succeeded => "succeeded",
            RefundState::Failed => "failed",
        }
    }
}

/// Money back from payee to payer. The first leg debits the payee; between banks a second leg
/// credits the payer from the payer bank's clearing account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: Uuid,
    pub amount_minor: i64,
    pub state: RefundState,
    pub failure_code: Option<String>,
    pub debit: Leg,
    pub credit: Option<Leg>,
    /// Gives the payee the money back from its bank's clearing account when the payer's bank
    /// refused the credit (between banks only).
    #[serde(default)]
    pub reversal: Option<Leg>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: Uuid,
    pub payer: Party,
    pub payee: Party,
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// The terminal the payment was requested from.
    pub terminal_id: String,
    pub reference: Option<String>,
    pub state: State,
    /// Why it failed, was blocked or expired.
    pub failure_code: Option<String>,
    /// The code the payment waits or waited for; `None`: it needed none (the exemption).
    pub verification: Option<Verification>,
    /// Debits the payer (at the payer's bank).
    pub debit: Leg,
    /// Credits the payee at the payee's bank; only between two banks.
    pub credit: Option<Leg>,
    /// Gives the payer the money back from its bank's clearing account when the payee's bank
    /// refused the credit (between banks only).
    #[serde(default)]
    pub reversal: Option<Leg>,
    pub refunds: Vec<Refund>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Why a step was refused. Stable codes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The code was wrong, expired, used, or the amount or payee differ. One answer for all, so
    /// that an attacker learns nothing about which part was wrong.
    #[error("the verification failed")]
    VerificationFailed,
    /// The last of the allowed wrong codes: the payment is blocked.
    #[error("too many wrong codes: the payment is blocked")]
    VerificationBlocked,
    #[error("a new code can be sent only after a while, and only a few times")]
    ResendLimited,
    #[error("the payment is {0}, not waiting for this step")]
    NotAllowed(&'static str),
    #[error("the refund is above what is left to refund")]
    RefundTooLarge,
    #[error("the payment has too many refunds")]
    RefundsExhausted,
}

impl PaymentError {
    pub fn code(&self) -> &'static str {
        match self {
            PaymentError::VerificationFailed => "verification_failed",
            PaymentError::VerificationBlocked => "verification_blocked",
            PaymentError::ResendLimited => "verification_resend_limited",
            PaymentError::NotAllowed(_) => "payment_state_invalid",
            PaymentError::RefundTooLarge => "refund_exceeds_payment",
            PaymentError::RefundsExhausted => "refunds_exhausted",
        }
    }
}

/// The hub's rules for when a payment needs a code; configurable per deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// A request from another terminal than the bound one: `true` asks for a code sent to the
    /// bound terminal (step-up), `false` refuses it (`terminal_mismatch`).
    pub step_up_other_terminal: bool,
    /// A repeat payment to a known payee up to this much needs no code…
    pub exemption_single_max_minor: i64,
    /// …while the exempted payments since the last verified one stay within this sum…
    pub exemption_cumulative_max_minor: i64,
    /// …and this count (PSD2 RTS art. 16: €30, €100 or 5 in a row).
    pub exemption_count_max: u32,
    /// How long a sent code is good for.
    pub code_lifetime_ms: i64,
    /// Registrations must give the terminal's public key, so that every code is sealed to the
    /// bound phone and every payment proves it comes from there.
    pub terminal_key_required: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            step_up_other_terminal: true,
            exemption_single_max_minor: 3_000,
            exemption_cumulative_max_minor: 10_000,
            exemption_count_max: 5,
            code_lifetime_ms: 5 * 60 * 1000,
            terminal_key_required: false,
        }
    }
}

/// An earlier payment of the same payer, as the exemption rule sees it (newest first). A payment
/// still `processing` counts like a succeeded one, so that payments queued while a bank is slow
/// cannot pass the exemption's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Earlier {
    pub payee: Uuid,
    pub amount_minor: i64,
    pub state: State,
    pub exempted: bool,
}

/// Whether a new payment needs a code, and why; `None`: it may go straight to the bank.
///
/// A code is needed for a payment from another terminal (step-up), for the first payment to a
/// payee, above the single-payment limit, and when the exempted payments since the last verified
/// one would pass the cumulative limits. `earlier` is the payer's history, newest first.
pub fn code_needed(
    policy: &Policy,
    same_terminal: bool,
    payee: Uuid,
    amount_minor: i64,
    earlier: &[Earlier],
) -> Option<Reason> {
    if !same_terminal {
        return Some(Reason::StepUp);
    }
    let known_payee = earlier
        .iter()
        .any(|e| e.payee == payee && e.state == State::Succeeded);
    if !known_payee || amount_minor > policy.exemption_single_max_minor {
        return Some(Reason::Verification);
    }
    let mut count = 0u32;
    let mut sum = 0i64;
    // Payments that never moved money (failed, blocked, expired) neither count nor reset.
    for e in earlier
        .iter()
        .filter(|e| matches!(e.state, State::Succeeded | State::Processing))
    {
        if !e.exempted {
            break;
        }
        count += 1;
        sum = sum.saturating_add(e.amount_minor);
    }
    if count + 1 > policy.exemption_count_max
        || sum.saturating_add(amount_minor) > policy.exemption_cumulative_max_minor
    {
        return Some(Reason::Verification);
    }
    None
}

impl Payment {
    /// A new payment; it waits for a code when `reason` is given, else it is processing.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: Uuid,
        payer: Party,
        payee: Party,
        amount_minor: i64,
        currency: &str,
        terminal_id: &str,
        reference: Option<String>,
        reason: Option<Reason>,
        leg_ids: (Uuid, Uuid),
        now_ms: i64,
    ) -> Payment {
        let interbank = payer.bank_id != payee.bank_id;
        let debit = Leg::new(leg_ids.0, &payer.bank_id);
        let credit = interbank.then(|| Leg::new(leg_ids.1, &payee.bank_id));
        Payment {
            id,
            amount_minor,
            currency: currency.to_string(),
            terminal_id: terminal_id.to_string(),
            reference,
            state: if reason.is_some() {
                State::RequiresVerification
            } else {
                State::Processing
            },
            failure_code: None,
            verification: reason.map(|reason| Verification {
                reason,
                code_mac: String::new(),
                code_expires_at_ms: 0,
                wrong_tries: 0,
                sends: 0,
                last_sent_at_ms: 0,
            }),
            debit,
            credit,
            reversal: None,
            payer,
            payee,
            refunds: Vec::new(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        }
    }

    /// Went through without a code, under the low-value exemption.
    pub fn exempted(&self) -> bool {
        self.verification.is_none()
    }

    pub fn is_interbank(&self) -> bool {
        self.credit.is_some()
    }

    /// Expires a payment whose verification window passed; true when it changed.
    pub fn expire(&mut self, now_ms: i64) -> bool {
        if self.state == State::RequiresVerification
            && now_ms >= self.created_at_ms + VERIFICATION_WINDOW_MS
        {
            self.state = State::Expired;
            self.failure_code = Some("payment_expired".to_string());
            self.updated_at_ms = now_ms;
            return true;
        }
        false
    }

    /// May a (new) code be sent now? The first send is always allowed.
    pub fn may_send_code(&self, now_ms: i64) -> Result<(), PaymentError> {
        if self.state != State::RequiresVerification {
            return Err(PaymentError::NotAllowed(self.state.code()));
        }
        let v = self.verification.as_ref().expect("awaiting a code");
        if v.sends == 0 {
            return Ok(());
        }
        // Another code after the interval, or at once when the last one expired.
        let too_soon = now_ms < v.last_sent_at_ms + VERIFICATION_RESEND_INTERVAL_MS
            && now_ms < v.code_expires_at_ms;
        if v.sends >= VERIFICATION_SENDS_MAX || too_soon {
            return Err(PaymentError::ResendLimited);
        }
        Ok(())
    }

    /// Records that a code with MAC `code_mac` was sent; it replaces any earlier code.
    pub fn code_sent(
        &mut self,
        code_mac: String,
        policy: &Policy,
        now_ms: i64,
    ) -> Result<(), PaymentError> {
        self.may_send_code(now_ms)?;
        let v = self.verification.as_mut().expect("awaiting a code");
        v.code_mac = code_mac;
        v.code_expires_at_ms = now_ms + policy.code_lifetime_ms;
        v.sends += 1;
        v.last_sent_at_ms = now_ms;
        self.updated_at_ms = now_ms;
        Ok(())
    }

    /// Checks a code: `check` says whether the MAC of what the wallet sent (the code, the amount
    /// and payee it confirms) equals the stored one, or whether an authenticator's code was
    /// accepted. A good code moves the payment to processing; a wrong one counts, and the last
    /// allowed wrong one blocks the payment.
    pub fn check_code(&mut self, check: CodeCheck, now_ms: i64) -> Result<(), PaymentError> {
        if self.state != State::RequiresVerification {
            // A used code, or a payment that ended: the same answer as a wrong code.
            return Err(match self.state {
                State::Blocked => PaymentError::VerificationBlocked,
                _ => PaymentError::VerificationFailed,
            });
        }
        let v = self.verification.as_mut().expect("awaiting a code");
        let good = match check {
            CodeCheck::SentCode { mac_matches } => {
                mac_matches && !v.code_mac.is_empty() && now_ms < v.code_expires_at_ms
            }
            // The authenticator's own window and replay rule were checked by the hub. It does
            // not answer a step-up: that asks for the bound terminal, which only the code sent
            // to it proves (an authenticator app can be anywhere, and a wallet's token alone
            // enrolls its first one).
            CodeCheck::Authenticator => v.reason != Reason::StepUp,
            CodeCheck::Wrong => false,
        };
        self.updated_at_ms = now_ms;
        if good {
            v.code_mac.clear();
            self.state = State::Processing;
            return Ok(());
        }
        v.wrong_tries += 1;
        if v.wrong_tries >= VERIFICATION_TRIES_MAX {
            v.code_mac.clear();
            self.state = State::Blocked;
            self.failure_code = Some("verification_blocked".to_string());
            return Err(PaymentError::VerificationBlocked);
        }
        Err(PaymentError::VerificationFailed)
    }

    /// The payer's bank answered the debit leg.
    pub fn debit_answered(&mut self, result: Result<(), String>, now_ms: i64) {
        if self.state != State::Processing || self.debit.state != LegState::Pending {
            return;
        }
        self.updated_at_ms = now_ms;
        match result {
            Ok(()) => {
                self.debit.done(now_ms);
                if self.credit.is_none() {
                    self.state = State::Succeeded;
                }
            }
            Err(code) => {
                self.debit.state = LegState::Refused(code.clone());
                self.state = State::Failed;
                self.failure_code = Some(code);
            }
        }
    }

    /// The payee's bank credited the payee from its clearing account (between banks). If it
    /// refused (the payee's account is gone, or in another currency), the money goes back to the
    /// payer through a reversal leg with id `reversal_id`, after which the payment fails with the
    /// refusal's code.
    pub fn credit_answered(&mut self, result: Result<(), String>, reversal_id: Uuid, now_ms: i64) {
        let Some(credit) = self.credit.as_mut() else {
            return;
        };
        if self.state != State::Processing
            || self.debit.state != LegState::Done
            || credit.state != LegState::Pending
        {
            return;
        }
        self.updated_at_ms = now_ms;
        match result {
            Ok(()) => {
                credit.done(now_ms);
                self.state = State::Succeeded;
            }
            Err(code) => {
                credit.state = LegState::Refused(code.clone());
                self.failure_code = Some(code);
                self.reversal = Some(Leg::new(reversal_id, &self.payer.bank_id));
            }
        }
    }

    /// The payer's bank gave the payer the money back after a refused credit: the payment fails.
    /// A refused reversal is kept on the leg for an operator (the payment stays processing).
    pub fn reversal_answered(&mut self, result: Result<(), String>, now_ms: i64) {
        let Some(reversal) = self.reversal.as_mut() else {
            return;
        };
        if self.state != State::Processing || reversal.state != LegState::Pending {
            return;
        }
        self.updated_at_ms = now_ms;
        match result {
            Ok(()) => {
                reversal.done(now_ms);
                self.state = State::Failed;
            }
            Err(code) => reversal.state = LegState::Refused(code),
        }
    }

    /// What is left to refund: paid, less refunds that succeeded or are under way.
    pub fn refundable_minor(&self) -> i64 {
        if self.state != State::Succeeded {
            return 0;
        }
        let taken: i64 = self
            .refunds
            .iter()
            .filter(|r| r.state != RefundState::Failed)
            .map(|r| r.amount_minor)
            .sum();
        self.amount_minor - taken
    }

    /// Reserves a refund of `amount_minor` (checked against what is left); its legs are asked next.
    pub fn request_refund(
        &mut self,
        id: Uuid,
        amount_minor: i64,
        leg_ids: (Uuid, Uuid),
        now_ms: i64,
    ) -> Result<&Refund, PaymentError> {
        if let Some(index) = self.refunds.iter().position(|r| r.id == id) {
            return Ok(&self.refunds[index]);
        }
        if self.state != State::Succeeded {
            return Err(PaymentError::NotAllowed(self.state.code()));
        }
        if self.refunds.len() >= REFUNDS_MAX {
            return Err(PaymentError::RefundsExhausted);
        }
        if amount_minor <= 0 || amount_minor > self.refundable_minor() {
            return Err(PaymentError::RefundTooLarge);
        }
        let interbank = self.is_interbank();
        self.refunds.push(Refund {
            id,
            amount_minor,
            state: RefundState::Processing,
            failure_code: None,
            debit: Leg::new(leg_ids.0, &self.payee.bank_id),
            credit: interbank.then(|| Leg::new(leg_ids.1, &self.payer.bank_id)),
            reversal: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        });
        self.updated_at_ms = now_ms;
        Ok(self.refunds.last().expect("just pushed"))
    }

    /// The payee's bank answered a refund's debit leg.
    pub fn refund_debit_answered(&mut self, id: Uuid, result: Result<(), String>, now_ms: i64) {
        let Some(refund) = self.refunds.iter_mut().find(|r| r.id == id) else {
            return;
        };
        if refund.state != RefundState::Processing || refund.debit.state != LegState::Pending {
            return;
        }
        refund.updated_at_ms = now_ms;
        self.updated_at_ms = now_ms;
        match result {
            Ok(()) => {
                refund.debit.done(now_ms);
                if refund.credit.is_none() {
                    refund.state = RefundState::Succeeded;
                }
            }
            Err(code) => {
                refund.debit.state = LegState::Refused(code.clone());
                refund.state = RefundState::Failed;
                refund.failure_code = Some(code);
            }
        }
    }

    /// The payer's bank credited the payer from its clearing account (between banks). If it
    /// refused (the payer's account is gone, say), the money goes back to the payee through a
    /// reversal leg with id `reversal_id` at the payee's bank, after which the refund fails with
    /// the refusal's code and its amount can be refunded again.
    pub fn refund_credit_answered(
        &mut self,
        id: Uuid,
        result: Result<(), String>,
        reversal_id: Uuid,
        now_ms: i64,
    ) {
        let payee_bank = self.payee.bank_id.clone();
        let Some(refund) = self.refunds.iter_mut().find(|r| r.id == id) else {
            return;
        };
        let Some(credit) = refund.credit.as_mut() else {
            return;
        };
        if refund.state != RefundState::Processing
            || refund.debit.state != LegState::Done
            || credit.state != LegState::Pending
        {
            return;
        }
        refund.updated_at_ms = now_ms;
        self.updated_at_ms = now_ms;
        match result {
            Ok(()) => {
                credit.done(now_ms);
                refund.state = RefundState::Succeeded;
            }
            Err(code) => {
                credit.state = LegState::Refused(code.clone());
                refund.failure_code = Some(code);
                refund.reversal = Some(Leg::new(reversal_id, &payee_bank));
            }
        }
    }

    /// The payee's bank gave the payee the money back after the payer's bank refused a refund's
    /// credit: the refund fails. A refused reversal is kept on the leg for an operator (the
    /// refund stays processing, its amount reserved; [`Payment::held_in_clearing`] lists it).
    pub fn refund_reversal_answered(&mut self, id: Uuid, result: Result<(), String>, now_ms: i64) {
        let Some(refund) = self.refunds.iter_mut().find(|r| r.id == id) else {
            return;
        };
        let Some(reversal) = refund.reversal.as_mut() else {
            return;
        };
        if refund.state != RefundState::Processing || reversal.state != LegState::Pending {
            return;
        }
        refund.updated_at_ms = now_ms;
        self.updated_at_ms = now_ms;
        match result {
            Ok(()) => {
                reversal.done(now_ms);
                refund.state = RefundState::Failed;
            }
            Err(code) => reversal.state = LegState::Refused(code),
        }
    }

    /// Money of this payment that sits in a clearing account because a reversal was refused:
    /// the hub does not move it again on its own, an operator must. Empty for almost every
    /// payment.
    pub fn held_in_clearing(&self) -> Vec<Held> {
        let refused = |leg: &Option<Leg>| match leg.as_ref().map(|l| &l.state) {
            Some(LegState::Refused(code)) => Some(code.clone()),
            _ => None,
        };
        let mut held = Vec::new();
        if let Some(code) = refused(&self.reversal) {
            held.push(Held {
                refund_id: None,
                bank_id: self.payer.bank_id.clone(),
                owed_to: self.payer.caller_id,
                amount_minor: self.amount_minor,
                code,
            });
        }
        for refund in &self.refunds {
            // A refund whose credit was refused before reversals existed (stored without one):
            // its money is in the payee bank's clearing account all the same.
            let legacy = (refund.state == RefundState::Processing && refund.reversal.is_none())
                .then(|| refused(&refund.credit))
                .flatten();
            if let Some(code) = refused(&refund.reversal).or(legacy) {
                held.push(Held {
                    refund_id: Some(refund.id),
                    bank_id: self.payee.bank_id.clone(),
                    owed_to: self.payee.caller_id,
                    amount_minor: refund.amount_minor,
                    code,
                });
            }
        }
        held
    }

    /// Whether [`Payment::held_in_clearing`] has anything.
    pub fn holds_money_in_clearing(&self) -> bool {
        !self.held_in_clearing().is_empty()
    }

    /// Legs whose bank has not answered yet: the hub (re)asks these, in this order.
    pub fn pending_work(&self) -> Vec<Work> {
        let mut work = Vec::new();
        if self.state == State::Processing {
            if self.debit.state == LegState::Pending {
                work.push(Work::Debit);
            } else if self
                .credit
                .as_ref()
                .is_some_and(|c| c.state == LegState::Pending)
            {
                work.push(Work::Credit);
            } else if self
                .reversal
                .as_ref()
                .is_some_and(|r| r.state == LegState::Pending)
            {
                work.push(Work::Reversal);
            }
        }
        for refund in self
            .refunds
            .iter()
            .filter(|r| r.state == RefundState::Processing)
        {
            if refund.debit.state == LegState::Pending {
                work.push(Work::RefundDebit(refund.id));
            } else if refund
                .credit
                .as_ref()
                .is_some_and(|c| c.state == LegState::Pending)
            {
                work.push(Work::RefundCredit(refund.id));
            } else if refund
                .reversal
                .as_ref()
                .is_some_and(|r| r.state == LegState::Pending)
            {
                work.push(Work::RefundReversal(refund.id));
            }
        }
        work
    }

    /// True while the hub still owes this payment an answer from a bank.
    pub fn needs_work(&self) -> bool {
        !self.pending_work().is_empty()
    }
}

/// How a verification was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code that was sent; `mac_matches` when the MAC over it and the restated payment is the
    /// stored one (its expiry is checked here).
    SentCode {
        mac_matches: bool,
    },
    /// An authenticator's TOTP code, accepted by the hub for the payment as it stands.
    Authenticator,
    Wrong,
}

/// A leg to ask a bank for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    Debit,
    Credit,
    /// Back to the payer after the payee's bank refused the credit.
    Reversal,
    RefundDebit(Uuid),
    RefundCredit(Uuid),
    /// Back to the payee after the payer's bank refused a refund's credit.
    RefundReversal(Uuid),
}

/// Money held in a bank's clearing account after a refused reversal (see
/// [`Payment::held_in_clearing`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// `None`: the payment's own reversal; else that refund's.
    pub refund_id: Option<Uuid>,
    /// The bank whose clearing account holds it.
    pub bank_id: String,
    /// The caller whose money it is (the payer for a payment, the payee for a refund).
    pub owed_to: Uuid,
    pub amount_minor: i64,
    /// The bank's refusal of the reversal.
    pub code: String,
}

/// Settlement's days are UTC days of this many milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// The first millisecond of the UTC day of `at_ms`.
pub fn day_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(DAY_MS) * DAY_MS
}

/// What interbank payments moved at one bank in one currency.
///
/// `paid_out_minor` and `received_minor`: what the bank's customers paid out to other banks'
/// customers and received from them, counted by pairs of legs that completed (a payment's debit
/// with its credit, a refund's the other way). Positive [`BankSums::net_minor`] means the bank
/// owes the others. `clearing_minor`: the change to the bank's clearing account (credits less
/// debits) from the legs that are done, pair complete or not: the payer's bank credits it when
/// it debits the payer, the payee's bank debits it when it credits the payee; refunds and
/// reversals the other way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BankSums {
    pub bank_id: String,
    pub currency: String,
    pub paid_out_minor: i64,
    pub received_minor: i64,
    pub clearing_minor: i64,
}

impl BankSums {
    pub fn net_minor(&self) -> i64 {
        self.paid_out_minor - self.received_minor
    }

    /// Whether a pair of legs completed here (the bank has a position).
    pub fn has_position(&self) -> bool {
        self.paid_out_minor != 0 || self.received_minor != 0
    }

    /// Adds `other`'s amounts (same bank and currency).
    pub fn add(&mut self, other: &BankSums) {
        self.paid_out_minor += other.paid_out_minor;
        self.received_minor += other.received_minor;
        self.clearing_minor += other.clearing_minor;
    }
}

/// One payment's share of settlement: what it moved at one bank on one UTC day (`day_ms`, the
/// day's first millisecond).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookEntry {
    pub day_ms: i64,
    pub sums: BankSums,
}

impl Payment {
    /// What this payment moved between banks, by UTC day and bank, sorted; none for a payment
    /// within one bank. A pair of legs counts on the day its second leg (the credit) was done: a
    /// payment made a second before midnight whose credit lands after it counts on the next
    /// day, and a refund on its own day, not its payment's. A leg counts in its bank's clearing
    /// account on the day it was done. (Legs recorded before their completion time was kept
    /// count on their payment's creation day.) A day and bank where money went through clearing
    /// and back has an entry of zeros.
    pub fn book_entries(&self) -> Vec<BookEntry> {
        if !self.is_interbank() {
            return Vec::new();
        }
        let done_at = |leg: Option<&Leg>| {
            let leg = leg.filter(|l| l.state == LegState::Done)?;
            Some(leg.done_at_ms.unwrap_or(self.created_at_ms))
        };
        let banks = [self.payer.bank_id.as_str(), self.payee.bank_id.as_str()];
        let (payer, payee) = (0, 1);
        // (when, bank, paid out, received, clearing)
        let mut moves: Vec<(i64, &str, i64, i64, i64)> = Vec::new();
        // A transfer from bank `from` to bank `to` (of `banks`): its debit, credit and reversal
        // legs.
        let mut transfer = |from: usize, to: usize, amount: i64, legs: [Option<&Leg>; 3]| {
            let (from, to) = (banks[from], banks[to]);
            let [debit, credit, reversal] = legs.map(done_at);
            if let Some(at) = debit {
                moves.push((at, from, 0, 0, amount));
            }
            if let Some(at) = credit {
                moves.push((at, to, 0, 0, -amount));
                if debit.is_some() {
                    moves.push((at, from, amount, 0, 0));
                    moves.push((at, to, 0, amount, 0));
                }
            }
            if let Some(at) = reversal {
                moves.push((at, from, 0, 0, -amount));
            }
        };
        transfer(
            payer,
            payee,
            self.amount_minor,
            [
                Some(&self.debit),
                self.credit.as_ref(),
                self.reversal.as_ref(),
            ],
        );
        for refund in &self.refunds {
            transfer(
                payee,
                payer,
                refund.amount_minor,
                [
                    Some(&refund.debit),
                    refund.credit.as_ref(),
                    refund.reversal.as_ref(),
                ],
            );
        }
        let mut entries: BTreeMap<(i64, &str), BankSums> = BTreeMap::new();
        for (at, bank, paid_out, received, clearing) in moves {
            let sums = entries
                .entry((day_of(at), bank))
                .or_insert_with(|| BankSums {
                    bank_id: bank.to_string(),
                    currency: self.currency.clone(),
                    ..BankSums::default()
                });
            sums.paid_out_minor += paid_out;
            sums.received_minor += received;
            sums.clearing_minor += clearing;
        }
        entries
            .into_iter()
            .map(|((day_ms, _), sums)| BookEntry { day_ms, sums })
            .collect()
    }
}

/// The [`Payment::book_entries`] of `payments` on the days in `[from_ms, to_ms)` summed per
/// bank and currency, sorted by both: what a store's settlement sums must give.
pub fn bank_sums<'a>(
    payments: impl IntoIterator<Item = &'a Payment>,
    from_ms: i64,
    to_ms: i64,
) -> Vec<BankSums> {
    let mut sums: BTreeMap<(String, String), BankSums> = BTreeMap::new();
    for entry in payments.into_iter().flat_map(Payment::book_entries) {
        if !(from_ms..to_ms).contains(&entry.day_ms) {
            continue;
        }
        let e = entry.sums;
        sums.entry((e.bank_id.clone(), e.currency.clone()))
            .or_insert_with(|| BankSums {
                bank_id: e.bank_id.clone(),
                currency: e.currency.clone(),
                ..BankSums::default()
            })
            .add(&e);
    }
    sums.into_values().collect()
}

#[cfg(test)]
mod tests;
