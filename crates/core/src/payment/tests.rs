use super::*;

/// Each bank's position from the pairs of interbank legs completed on the days in
/// `[from_ms, to_ms)` (see [`Payment::book_entries`]): the banks with one, sorted by bank and
/// currency; per currency the nets sum to zero.
fn net_positions<'a>(
    payments: impl IntoIterator<Item = &'a Payment>,
    from_ms: i64,
    to_ms: i64,
) -> Vec<BankSums> {
    let mut sums = bank_sums(payments, from_ms, to_ms);
    sums.retain(BankSums::has_position);
    sums
}

/// What the hub expects in each bank's clearing account (bank, currency → balance) from the
/// interbank legs that are done, whenever.
fn expected_clearing<'a>(
    payments: impl IntoIterator<Item = &'a Payment>,
) -> BTreeMap<(String, String), i64> {
    bank_sums(payments, i64::MIN, i64::MAX)
        .into_iter()
        .map(|s| ((s.bank_id, s.currency), s.clearing_minor))
        .collect()
}

fn party(n: u128, bank: &str) -> Party {
    Party {
        caller_id: Uuid::from_u128(n),
        kind: "wallet".to_string(),
        name: format!("party {n}"),
        bank_id: bank.to_string(),
        account_id: Uuid::from_u128(1000 + n),
    }
}

fn payment(payee_bank: &str, reason: Option<Reason>) -> Payment {
    Payment::new(
        Uuid::from_u128(7),
        party(1, "north"),
        party(2, payee_bank),
        1_234,
        "USD",
        "terminal-1",
        None,
        reason,
        (Uuid::from_u128(70), Uuid::from_u128(71)),
        1_000,
    )
}

fn earlier(payee: u128, amount: i64, exempted: bool) -> Earlier {
    Earlier {
        payee: Uuid::from_u128(payee),
        amount_minor: amount,
        state: State::Succeeded,
        exempted,
    }
}

#[test]
fn a_code_is_needed_for_a_new_payee_a_large_amount_and_another_terminal() {
    let policy = Policy::default();
    let payee = Uuid::from_u128(2);
    let known = [earlier(2, 5_000, false)];
    assert_eq!(
        code_needed(&policy, true, payee, 100, &[]),
        Some(Reason::Verification)
    );
    assert_eq!(code_needed(&policy, true, payee, 100, &known), None);
    assert_eq!(code_needed(&policy, true, payee, 3_000, &known), None);
    assert_eq!(
        code_needed(&policy, true, payee, 3_001, &known),
        Some(Reason::Verification)
    );
    assert_eq!(
        code_needed(&policy, false, payee, 100, &known),
        Some(Reason::StepUp)
    );
    // A failed payment does not make a payee known.
    let failed = [Earlier {
        state: State::Failed,
        ..earlier(2, 100, false)
    }];
    assert_eq!(
        code_needed(&policy, true, payee, 100, &failed),
        Some(Reason::Verification)
    );
}

#[test]
fn the_exemption_stops_at_five_in_a_row_or_the_cumulative_sum() {
    let policy = Policy::default();
    let payee = Uuid::from_u128(2);
    // Newest first: four exempted payments after a verified one.
    let mut history = vec![earlier(2, 1_000, true); 4];
    history.push(earlier(2, 1_000, false));
    assert_eq!(code_needed(&policy, true, payee, 1_000, &history), None);
    history.insert(0, earlier(2, 1_000, true));
    assert_eq!(
        code_needed(&policy, true, payee, 1_000, &history),
        Some(Reason::Verification),
        "a sixth in a row"
    );
    let sums = vec![
        earlier(2, 3_000, true),
        earlier(2, 3_000, true),
        earlier(2, 3_000, true),
        earlier(2, 100, false),
    ];
    assert_eq!(code_needed(&policy, true, payee, 1_000, &sums), None);
    assert_eq!(
        code_needed(&policy, true, payee, 1_001, &sums),
        Some(Reason::Verification),
        "9,000 + 1,001 passes 10,000"
    );
}

#[test]
fn a_good_code_moves_the_payment_on_once() {
    let policy = Policy::default();
    let mut p = payment("north", Some(Reason::Verification));
    assert_eq!(p.state, State::RequiresVerification);
    assert_eq!(
        p.check_code(CodeCheck::SentCode { mac_matches: true }, 1_001),
        Err(PaymentError::VerificationFailed),
        "no code was sent yet"
    );
    p.code_sent("mac".into(), &policy, 2_000).unwrap();
    assert_eq!(
        p.check_code(CodeCheck::SentCode { mac_matches: true }, 2_001),
        Ok(())
    );
    assert_eq!(p.state, State::Processing);
    assert_eq!(
        p.check_code(CodeCheck::SentCode { mac_matches: true }, 2_002),
        Err(PaymentError::VerificationFailed),
        "a used code"
    );
}

#[test]
fn an_expired_code_fails_like_a_wrong_one() {
    let policy = Policy::default();
    let mut p = payment("north", Some(Reason::Verification));
    p.code_sent("mac".into(), &policy, 2_000).unwrap();
    let late = 2_000 + policy.code_lifetime_ms;
    assert_eq!(
        p.check_code(CodeCheck::SentCode { mac_matches: true }, late),
        Err(PaymentError::VerificationFailed)
    );
    assert_eq!(p.verification.as_ref().unwrap().wrong_tries, 1);
}

#[test]
fn five_wrong_codes_block_the_payment() {
    let policy = Policy::default();
    let mut p = payment("north", Some(Reason::Verification));
    p.code_sent("mac".into(), &policy, 2_000).unwrap();
    for _ in 0..VERIFICATION_TRIES_MAX - 1 {
        assert_eq!(
            p.check_code(CodeCheck::SentCode { mac_matches: false }, 2_001),
            Err(PaymentError::VerificationFailed)
        );
    }
    assert_eq!(
        p.check_code(CodeCheck::SentCode { mac_matches: false }, 2_001),
        Err(PaymentError::VerificationBlocked)
    );
    assert_eq!(p.state, State::Blocked);
    assert_eq!(
        p.check_code(CodeCheck::SentCode { mac_matches: true }, 2_002),
        Err(PaymentError::VerificationBlocked),
        "even the right code"
    );
    assert!(p.may_send_code(100_000).is_err());
}

#[test]
fn resending_is_limited() {
    let policy = Policy::default();
    let mut p = payment("north", Some(Reason::Verification));
    p.code_sent("a".into(), &policy, 0).unwrap();
    assert_eq!(
        p.code_sent("b".into(), &policy, 1_000),
        Err(PaymentError::ResendLimited)
    );
    p.code_sent("b".into(), &policy, VERIFICATION_RESEND_INTERVAL_MS)
        .unwrap();
    p.code_sent("c".into(), &policy, 2 * VERIFICATION_RESEND_INTERVAL_MS)
        .unwrap();
    assert_eq!(
        p.code_sent("d".into(), &policy, 10 * VERIFICATION_RESEND_INTERVAL_MS),
        Err(PaymentError::ResendLimited)
    );
    assert_eq!(p.verification.as_ref().unwrap().code_mac, "c");

    // With codes shorter-lived than the interval, an expired code may be replaced at once.
    let short = Policy {
        code_lifetime_ms: 1_000,
        ..Policy::default()
    };
    let mut q = payment("north", Some(Reason::Verification));
    q.code_sent("a".into(), &short, 0).unwrap();
    assert_eq!(
        q.code_sent("b".into(), &short, 999),
        Err(PaymentError::ResendLimited)
    );
    q.code_sent("b".into(), &short, 1_000).unwrap();
}

#[test]
fn an_unverified_payment_expires() {
    let mut p = payment("north", Some(Reason::Verification));
    assert!(!p.expire(1_000 + VERIFICATION_WINDOW_MS - 1));
    assert!(p.expire(1_000 + VERIFICATION_WINDOW_MS));
    assert_eq!(p.state, State::Expired);
    let mut q = payment("north", None);
    assert!(!q.expire(i64::MAX / 2), "only a payment waiting for a code");
}

#[test]
fn one_bank_one_leg_two_banks_two() {
    let mut p = payment("north", None);
    assert_eq!(p.pending_work(), vec![Work::Debit]);
    p.debit_answered(Ok(()), 2_000);
    assert_eq!(p.state, State::Succeeded);
    assert!(!p.needs_work());

    let mut q = payment("south", None);
    q.debit_answered(Ok(()), 2_000);
    assert_eq!(q.state, State::Processing);
    assert_eq!(q.pending_work(), vec![Work::Credit]);
    q.credit_answered(Ok(()), Uuid::from_u128(99), 3_000);
    assert_eq!(q.state, State::Succeeded);
    assert!(!q.needs_work());
}

#[test]
fn a_refused_debit_fails_the_payment_with_the_banks_code() {
    let mut p = payment("south", None);
    p.debit_answered(Err("insufficient_funds".into()), 2_000);
    assert_eq!(p.state, State::Failed);
    assert_eq!(p.failure_code.as_deref(), Some("insufficient_funds"));
    assert!(!p.needs_work(), "no credit after a refused debit");
    // A late answer changes nothing.
    p.debit_answered(Ok(()), 3_000);
    assert_eq!(p.state, State::Failed);
}

#[test]
fn refunds_never_pass_what_was_paid() {
    let mut p = payment("north", None);
    let ids = |n: u128| (Uuid::from_u128(n), Uuid::from_u128(n + 1));
    assert_eq!(
        p.request_refund(Uuid::from_u128(100), 1, ids(200), 1).err(),
        Some(PaymentError::NotAllowed("processing"))
    );
    p.debit_answered(Ok(()), 2_000);
    p.request_refund(Uuid::from_u128(100), 1_000, ids(200), 3_000)
        .unwrap();
    assert_eq!(p.refundable_minor(), 234);
    assert_eq!(
        p.request_refund(Uuid::from_u128(101), 235, ids(202), 3_000)
            .err(),
        Some(PaymentError::RefundTooLarge)
    );
    // The same refund id again is the same refund, not a second one.
    p.request_refund(Uuid::from_u128(100), 1_000, ids(200), 3_000)
        .unwrap();
    assert_eq!(p.refunds.len(), 1);
    p.refund_debit_answered(
        Uuid::from_u128(100),
        Err("insufficient_funds".into()),
        4_000,
    );
    assert_eq!(
        p.refundable_minor(),
        1_234,
        "a failed refund gives back its room"
    );
    p.request_refund(Uuid::from_u128(101), 1_234, ids(202), 5_000)
        .unwrap();
    p.refund_debit_answered(Uuid::from_u128(101), Ok(()), 6_000);
    assert_eq!(p.refunds[1].state, RefundState::Succeeded);
    assert_eq!(p.refundable_minor(), 0);
}

/// What `payments` leave in `bank`'s clearing account in USD.
fn cleared<'a>(payments: impl IntoIterator<Item = &'a Payment>, bank: &str) -> i64 {
    expected_clearing(payments)
        .get(&(bank.to_string(), "USD".to_string()))
        .copied()
        .unwrap_or(0)
}

#[test]
fn interbank_refunds_have_two_legs_and_settle_back() {
    let mut p = payment("south", None);
    p.debit_answered(Ok(()), 2);
    p.credit_answered(Ok(()), Uuid::from_u128(99), 3);
    let refund = Uuid::from_u128(100);
    p.request_refund(
        refund,
        234,
        (Uuid::from_u128(200), Uuid::from_u128(201)),
        DAY_MS + 4,
    )
    .unwrap();
    assert_eq!(p.pending_work(), vec![Work::RefundDebit(refund)]);
    p.refund_debit_answered(refund, Ok(()), DAY_MS + 5);
    assert_eq!(p.pending_work(), vec![Work::RefundCredit(refund)]);
    p.refund_credit_answered(refund, Ok(()), Uuid::from_u128(202), DAY_MS + 6);
    assert!(!p.needs_work());
    let positions = net_positions([&p], i64::MIN, i64::MAX);
    assert_eq!(positions.len(), 2);
    assert_eq!(positions[0].currency, "USD");
    assert_eq!(positions[0].bank_id, "north");
    assert_eq!(positions[0].net_minor(), 1_234 - 234);
    assert_eq!(positions[1].net_minor(), -(1_234 - 234));
    assert_eq!(cleared([&p], "north"), 1_000);
    assert_eq!(cleared([&p], "south"), -1_000);
    // Each pair on the day its credit was done: the payment on day 0, the refund on day 1.
    let north = |from, to| {
        net_positions([&p], from, to)
            .iter()
            .find(|n| n.bank_id == "north")
            .map(BankSums::net_minor)
    };
    assert_eq!(north(0, DAY_MS), Some(1_234));
    assert_eq!(north(DAY_MS, 2 * DAY_MS), Some(-234));
    assert_eq!(north(2 * DAY_MS, 3 * DAY_MS), None);
    // The clearing accounts move on the days the legs were done.
    let day_one: Vec<_> = p
        .book_entries()
        .into_iter()
        .filter(|e| e.day_ms == DAY_MS)
        .map(|e| (e.sums.bank_id, e.sums.clearing_minor))
        .collect();
    assert_eq!(
        day_one,
        [("north".to_string(), -234), ("south".to_string(), 234)]
    );
    // A payment recorded before legs kept their completion time counts at its creation.
    let mut legacy = p.clone();
    legacy.credit.as_mut().unwrap().done_at_ms = None;
    let creation_day = day_of(legacy.created_at_ms);
    assert_eq!(
        net_positions([&legacy], creation_day, creation_day + DAY_MS)[0].net_minor(),
        1_234
    );
    // And a legacy refund on its payment's creation day too, as before.
    legacy.refunds[0].credit.as_mut().unwrap().done_at_ms = None;
    assert_eq!(
        net_positions([&legacy], creation_day, creation_day + DAY_MS)[0].net_minor(),
        1_000
    );
}

#[test]
fn a_payment_within_one_bank_has_no_share_in_settlement() {
    let mut p = payment("north", None);
    p.debit_answered(Ok(()), 2);
    assert_eq!(p.state, State::Succeeded);
    assert!(p.book_entries().is_empty());
}

#[test]
fn half_done_interbank_payments_do_not_count_in_settlement() {
    let mut p = payment("south", None);
    p.debit_answered(Ok(()), 2);
    assert!(net_positions([&p], i64::MIN, i64::MAX).is_empty());
    // The payer's bank has moved the money to its clearing account already.
    let clearing = expected_clearing([&p]);
    assert_eq!(clearing.len(), 1);
    assert_eq!(cleared([&p], "north"), 1_234);
}

#[test]
fn a_refused_credit_is_reversed_and_the_payment_fails() {
    let mut p = payment("south", None);
    p.debit_answered(Ok(()), 2);
    p.credit_answered(Err("currency_mismatch".into()), Uuid::from_u128(99), 3);
    assert_eq!(p.state, State::Processing);
    assert_eq!(p.pending_work(), vec![Work::Reversal]);
    assert_eq!(
        p.reversal.as_ref().unwrap().transfer_id,
        Uuid::from_u128(99)
    );
    p.reversal_answered(Ok(()), 4);
    assert_eq!(p.state, State::Failed);
    assert_eq!(p.failure_code.as_deref(), Some("currency_mismatch"));
    assert!(!p.needs_work());
    assert!(net_positions([&p], i64::MIN, i64::MAX).is_empty());
    assert_eq!(cleared([&p], "north"), 0, "in and back out");
}

/// A payment between banks that succeeded, and a refund of 234 of it whose debit at the payee's
/// bank is done: its credit at the payer's bank is next.
fn interbank_refund_debited() -> (Payment, Uuid) {
    let mut p = payment("south", None);
    p.debit_answered(Ok(()), 2);
    p.credit_answered(Ok(()), Uuid::from_u128(99), 3);
    let refund = Uuid::from_u128(100);
    p.request_refund(refund, 234, (Uuid::from_u128(200), Uuid::from_u128(201)), 4)
        .unwrap();
    p.refund_debit_answered(refund, Ok(()), 5);
    (p, refund)
}

#[test]
fn a_refused_refund_credit_is_reversed_to_the_payee_and_the_room_comes_back() {
    let (mut p, refund) = interbank_refund_debited();
    p.refund_credit_answered(
        refund,
        Err("credit_account_not_found".into()),
        Uuid::from_u128(202),
        6,
    );
    // Still processing, its amount still reserved, until the payee has the money back.
    assert_eq!(p.refunds[0].state, RefundState::Processing);
    assert_eq!(p.refundable_minor(), 1_234 - 234);
    assert_eq!(p.pending_work(), vec![Work::RefundReversal(refund)]);
    let reversal = p.refunds[0].reversal.as_ref().unwrap();
    assert_eq!(reversal.transfer_id, Uuid::from_u128(202));
    assert_eq!(reversal.bank_id, "south", "at the payee's bank");
    assert_eq!(
        cleared([&p], "south"),
        -1_234 + 234,
        "the refund's debit is in the payee bank's clearing account"
    );
    p.refund_reversal_answered(refund, Ok(()), 7);
    assert_eq!(p.refunds[0].state, RefundState::Failed);
    assert_eq!(
        p.refunds[0].failure_code.as_deref(),
        Some("credit_account_not_found")
    );
    assert_eq!(
        p.refundable_minor(),
        1_234,
        "a failed refund gives back its room"
    );
    assert!(!p.needs_work());
    assert!(p.held_in_clearing().is_empty());
    // Settlement: the payment counts, the refund that came back does not.
    let positions = net_positions([&p], i64::MIN, i64::MAX);
    assert_eq!(positions[0].net_minor(), 1_234);
    assert_eq!(cleared([&p], "north"), 1_234);
    assert_eq!(cleared([&p], "south"), -1_234);
}

#[test]
fn a_refused_reversal_is_held_in_clearing_for_an_operator() {
    let (mut p, refund) = interbank_refund_debited();
    p.refund_credit_answered(
        refund,
        Err("overflows_balance".into()),
        Uuid::from_u128(202),
        6,
    );
    p.refund_reversal_answered(refund, Err("credit_account_not_found".into()), 7);
    assert_eq!(p.refunds[0].state, RefundState::Processing);
    assert!(!p.needs_work(), "the hub does not ask again on its own");
    assert_eq!(
        p.held_in_clearing(),
        vec![Held {
            refund_id: Some(refund),
            bank_id: "south".to_string(),
            owed_to: p.payee.caller_id,
            amount_minor: 234,
            code: "credit_account_not_found".to_string(),
        }]
    );
    // A refund stored with its credit refused before reversals existed is listed too.
    let (mut legacy, refund) = interbank_refund_debited();
    legacy.refund_credit_answered(
        refund,
        Err("overflows_balance".into()),
        Uuid::from_u128(9),
        6,
    );
    legacy.refunds[0].reversal = None;
    let held = legacy.held_in_clearing();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].code.as_str(), held[0].bank_id.as_str()),
        ("overflows_balance", "south")
    );
    // The payment's own reversal, refused, is listed with the payer's bank.
    let mut q = payment("south", None);
    q.debit_answered(Ok(()), 2);
    q.credit_answered(Err("currency_mismatch".into()), Uuid::from_u128(99), 3);
    q.reversal_answered(Err("credit_account_not_found".into()), 4);
    assert_eq!(q.state, State::Processing);
    let held = q.held_in_clearing();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].refund_id, held[0].bank_id.as_str()),
        (None, "north")
    );
    assert_eq!(held[0].owed_to, q.payer.caller_id);
}

#[test]
fn payments_in_flight_count_toward_the_exemption() {
    let policy = Policy::default();
    let payee = Uuid::from_u128(2);
    let mut history = vec![
        Earlier {
            state: State::Processing,
            ..earlier(2, 1_000, true)
        };
        5
    ];
    history.push(earlier(2, 1_000, false));
    assert_eq!(
        code_needed(&policy, true, payee, 1_000, &history),
        Some(Reason::Verification)
    );
}

#[test]
fn an_authenticator_code_needs_no_sent_code() {
    let mut p = payment("north", Some(Reason::Verification));
    assert_eq!(p.check_code(CodeCheck::Authenticator, 1_001), Ok(()));
    assert_eq!(p.state, State::Processing);
    let mut q = payment("north", Some(Reason::Verification));
    assert_eq!(
        q.check_code(CodeCheck::Wrong, 1_001),
        Err(PaymentError::VerificationFailed)
    );
    // A step-up asks for the bound terminal: only the code sent to it answers.
    let mut r = payment("north", Some(Reason::StepUp));
    assert_eq!(
        r.check_code(CodeCheck::Authenticator, 1_001),
        Err(PaymentError::VerificationFailed)
    );
    assert_eq!(r.state, State::RequiresVerification);
}
