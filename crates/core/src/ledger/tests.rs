//! Ledger rules as scripts. Each script line is one of:
//!
//! ```text
//! account NAME [limit=N|unlimited] [currency=XXX]   open an account (default: USD, no overdraft)
//! at MS                                             set the clock for the following lines
//! batch                                             start collecting commands into one batch
//! end                                               decide the collected batch
//! ID KIND [DEBIT->CREDIT] [AMOUNT] [pending=ID] [timeout=S] [currency=XXX] => OUTCOME
//! ID close_account [account=NAME] [AMOUNT] … => OUTCOME   (the account goes in as the debit)
//! balance NAME POSTED_DEBITS/POSTED_CREDITS PENDING_DEBITS/PENDING_CREDITS
//! closed NAME yes|no
//! hold ID STATE
//! expire => N                                       sweep expired holds, N released
//! ```
//!
//! Outside `batch … end` every command is its own batch. After every step the auditor checks that
//! the books balance: total debits equal total credits, posted and pending alike.

use uuid::Uuid;

use super::*;

fn id(name: &str) -> Uuid {
    let mut bytes = [0u8; 16];
    for (i, b) in name.bytes().enumerate() {
        bytes[i % 16] ^= b.wrapping_add(i as u8);
    }
    bytes[15] ^= name.len() as u8;
    Uuid::from_bytes(bytes)
}

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

struct Script {
    snapshot: Snapshot,
    now_ms: i64,
    pending: Vec<(TransferCommand, Outcome, usize)>,
    batching: bool,
}

impl Script {
    fn run(&mut self, line_no: usize) {
        let batch: Vec<_> = std::mem::take(&mut self.pending);
        let commands: Vec<TransferCommand> = batch.iter().map(|(c, _, _)| c.clone()).collect();
        let (decisions, effects) = decide_batch(self.now_ms, &commands, &mut self.snapshot);
        for ((_, expected, line), decision) in batch.iter().zip(&decisions) {
            assert_eq!(
                decision.outcome.code(),
                expected.code(),
                "line {line}: outcome"
            );
        }
        let inserted = decisions
            .iter()
            .filter(|d| {
                !matches!(
                    d.outcome,
                    Outcome::Exists | Outcome::ExistsWithDifferentFields
                )
            })
            .count();
        assert_eq!(effects.inserted.len(), inserted, "line {line_no}: rows");
        self.audit(line_no);
    }

    fn audit(&self, line_no: usize) {
        let sum = |f: fn(&Account) -> i64| self.snapshot.accounts.values().map(f).sum::<i64>();
        assert_eq!(
            sum(|a| a.debits_posted),
            sum(|a| a.credits_posted),
            "line {line_no}: posted books balance"
        );
        assert_eq!(
            sum(|a| a.debits_pending),
            sum(|a| a.credits_pending),
            "line {line_no}: pending books balance"
        );
        let held: i64 = self
            .snapshot
            .transfers
            .values()
            .filter(|t| t.hold_state == Some(HoldState::Pending))
            .map(|t| t.amount_minor)
            .sum();
        assert_eq!(held, sum(|a| a.debits_pending), "line {line_no}: holds");
    }
}

fn check(script: &str) {
    let mut s = Script {
        snapshot: Snapshot::default(),
        now_ms: 0,
        pending: Vec::new(),
        batching: false,
    };
    for (index, raw) in script.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, expect) = match line.split_once("=>") {
            Some((h, e)) => (h.trim(), Some(e.trim())),
            None => (line, None),
        };
        let words: Vec<&str> = head.split_whitespace().collect();
        match words[0] {
            "account" => {
                let mut limit = Some(0);
                let mut currency = usd();
                let (mut debits, mut credits) = (0, 0);
                for option in &words[2..] {
                    match option.split_once('=') {
                        Some(("limit", n)) => limit = Some(n.parse().unwrap()),
                        Some(("currency", c)) => currency = Currency::parse(c).unwrap(),
                        Some(("debits", n)) => debits = n.parse().unwrap(),
                        Some(("credits", n)) => credits = n.parse().unwrap(),
                        None if *option == "unlimited" => limit = None,
                        _ => panic!("line {line_no}: {option}"),
                    }
                }
                let mut account = Account::new(id(words[1]), currency, limit);
                account.debits_posted = debits;
                account.credits_posted = credits;
                s.snapshot.accounts.insert(account.id, account);
            }
            "at" => s.now_ms = words[1].parse().unwrap(),
            "batch" => s.batching = true,
            "end" => {
                s.batching = false;
                s.run(line_no);
            }
            "balance" => {
                let account = &s.snapshot.accounts[&id(words[1])];
                let (dp, cp) = words[2].split_once('/').unwrap();
                let (dq, cq) = words[3].split_once('/').unwrap();
                let got = (
                    account.debits_posted,
                    account.credits_posted,
                    account.debits_pending,
                    account.credits_pending,
                );
                let want = (
                    dp.parse().unwrap(),
                    cp.parse().unwrap(),
                    dq.parse().unwrap(),
                    cq.parse().unwrap(),
                );
                assert_eq!(got, want, "line {line_no}: balance of {}", words[1]);
            }
            "closed" => {
                let account = &s.snapshot.accounts[&id(words[1])];
                let want = match words[2] {
                    "yes" => Some(s.now_ms),
                    "no" => None,
                    other => panic!("line {line_no}: {other}"),
                };
                assert_eq!(account.closed_at_ms, want, "line {line_no}: {}", words[1]);
            }
            "hold" => {
                let hold = &s.snapshot.transfers[&id(words[1])];
                assert_eq!(
                    hold.hold_state.map(HoldState::code),
                    Some(words[2]),
                    "line {line_no}"
                );
            }
            "expire" => {
                let effects = expire_holds(s.now_ms, &mut s.snapshot);
                let want: usize = expect.unwrap().parse().unwrap();
                assert_eq!(effects.holds_changed.len(), want, "line {line_no}");
                s.audit(line_no);
            }
            transfer_id => {
                let kind = TransferKind::parse(words[1]).unwrap();
                let mut command = TransferCommand {
                    id: id(transfer_id),
                    kind,
                    debit_account_id: None,
                    credit_account_id: None,
                    amount_minor: None,
                    currency: usd(),
                    pending_id: None,
                    timeout_seconds: None,
                    reference: None,
                };
                for word in &words[2..] {
                    if let Some((debit, credit)) = word.split_once("->") {
                        command.debit_account_id = Some(id(debit));
                        command.credit_account_id = Some(id(credit));
                    } else if let Some((key, value)) = word.split_once('=') {
                        match key {
                            "pending" => command.pending_id = Some(id(value)),
                            "account" => command.debit_account_id = Some(id(value)),
                            "timeout" => command.timeout_seconds = Some(value.parse().unwrap()),
                            "currency" => command.currency = Currency::parse(value).unwrap(),
                            "reference" => command.reference = Some(value.to_string()),
                            "reflen" => {
                                command.reference = Some("r".repeat(value.parse().unwrap()))
                            }
                            _ => panic!("line {line_no}: {key}"),
                        }
                    } else {
                        command.amount_minor = Some(word.parse().unwrap());
                    }
                }
                let expected = Outcome::parse(expect.expect("an outcome"))
                    .unwrap_or_else(|| panic!("line {line_no}: unknown outcome"));
                s.pending.push((command, expected, line_no));
                if !s.batching {
                    s.run(line_no);
                }
            }
        }
    }
}

#[test]
fn single_transfers_and_overdraft() {
    check(
        "
        account funding unlimited
        account alice
        account bob limit=500
        t1 single funding->alice 1000 => created
        t2 single alice->bob 1001 => insufficient_funds
        t3 single alice->bob 1000 => created
        balance alice 1000/1000 0/0
        t4 single bob->alice 1500 => created
        balance bob 1500/1000 0/0
        t5 single bob->alice 1 => insufficient_funds
        balance alice 1000/2500 0/0
        ",
    );
}

#[test]
fn idempotent_replays() {
    check(
        "
        account funding unlimited
        account alice
        t1 single funding->alice 1000 => created
        t1 single funding->alice 1000 => exists
        t1 single funding->alice 999 => exists_with_different_fields
        t1 pending funding->alice 1000 => exists_with_different_fields
        balance alice 0/1000 0/0
        # a rejection is recorded: its retry says the same even when it would now succeed
        t2 single alice->funding 5000 => insufficient_funds
        t3 single funding->alice 9000 => created
        t2 single alice->funding 5000 => exists
        balance alice 0/10000 0/0
        ",
    );
}

#[test]
fn replays_inside_one_batch() {
    check(
        "
        account funding unlimited
        account alice
        batch
        t1 single funding->alice 10 => created
        t1 single funding->alice 10 => exists
        t1 single funding->alice 11 => exists_with_different_fields
        t2 single alice->funding 10 => created
        t3 single alice->funding 1 => insufficient_funds
        end
        balance alice 10/10 0/0
        ",
    );
}

#[test]
fn validation_in_precedence_order() {
    check(
        "
        account funding unlimited
        account alice
        account euro currency=EUR
        v1 single funding->alice 0 => amount_invalid
        v2 single funding->alice -5 => amount_invalid
        v3 single funding->alice 1000000000000001 => amount_invalid
        v4 single funding->funding 5 => accounts_must_be_different
        v5 single 5 => account_required
        v6 single funding->nobody 5 => credit_account_not_found
        v7 single nobody->alice 5 => debit_account_not_found
        v8 single funding->euro 5 => currency_mismatch
        v9 single funding->alice 5 currency=EUR => currency_mismatch
        v10 single funding->alice 5 timeout=10 => timeout_invalid
        v11 pending funding->alice 5 timeout=0 => timeout_invalid
        v12 single funding->alice 5 pending=v1 => pending_id_not_allowed
        v13 single funding->alice 5 reflen=129 => reference_too_long
        v14 single funding->alice 5 reflen=128 => created
        v15 single funding->alice reflen=129 => amount_invalid
        balance alice 0/5 0/0
        ",
    );
}

#[test]
fn holds_post_void_and_partial_post() {
    check(
        "
        account funding unlimited
        account alice
        account shop
        f1 single funding->alice 1000 => created
        h1 pending alice->shop 600 => created
        balance alice 0/1000 600/0
        h2 pending alice->shop 500 => insufficient_funds
        x1 single alice->shop 401 => insufficient_funds
        p1 post_pending pending=h1 450 => created
        hold h1 posted
        balance alice 450/1000 0/0
        balance shop 0/450 0/0
        p2 post_pending pending=h1 => pending_transfer_already_posted
        v1 void_pending pending=h1 => pending_transfer_already_posted
        h3 pending alice->shop 100 => created
        v2 void_pending pending=h3 99 => pending_transfer_has_different_amount
        v3 void_pending pending=h3 => created
        hold h3 voided
        p3 post_pending pending=h3 => pending_transfer_already_voided
        h4 pending alice->shop 100 => created
        p4 post_pending pending=h4 101 => exceeds_pending_transfer_amount
        p5 post_pending shop->alice pending=h4 => pending_transfer_has_different_accounts
        p6 post_pending pending=h4 currency=EUR => pending_transfer_has_different_currency
        p7 post_pending pending=f1 => pending_transfer_not_pending
        p8 post_pending pending=nothing => pending_transfer_not_found
        p9 post_pending => pending_id_required
        p10 post_pending pending=h4 => created
        balance alice 550/1000 0/0
        ",
    );
}

#[test]
fn holds_expire() {
    check(
        "
        account funding unlimited
        account alice
        account shop
        f1 single funding->alice 1000 => created
        at 1000
        h1 pending alice->shop 700 timeout=10 => created
        h2 pending alice->shop 300 timeout=20 => created
        at 10999
        expire => 0
        at 11000
        p1 post_pending pending=h1 => pending_transfer_expired
        hold h1 expired
        balance alice 0/1000 300/0
        at 25000
        expire => 1
        hold h2 expired
        balance alice 0/1000 0/0
        p2 post_pending pending=h2 => pending_transfer_expired
        ",
    );
}

#[test]
fn hold_and_post_in_one_batch() {
    check(
        "
        account funding unlimited
        account alice
        account shop
        batch
        f1 single funding->alice 100 => created
        h1 pending alice->shop 100 => created
        x1 single alice->shop 1 => insufficient_funds
        p1 post_pending pending=h1 40 => created
        x2 single alice->shop 60 => created
        end
        balance alice 100/100 0/0
        balance shop 0/100 0/0
        ",
    );
}

#[test]
fn overflow_is_refused() {
    check(
        "
        account funding unlimited debits=9223372036854775000
        account alice credits=9223372036854775000
        a1 single funding->alice 807 => created
        a2 single funding->alice 1 => overflows_balance
        h1 pending funding->alice 1 => created
        p1 post_pending pending=h1 => overflows_balance
        hold h1 pending
        ",
    );
}

#[test]
fn outcome_codes_round_trip() {
    let codes: std::collections::HashSet<_> = Outcome::ALL.iter().map(|o| o.code()).collect();
    assert_eq!(codes.len(), Outcome::ALL.len());
    for outcome in Outcome::ALL {
        assert_eq!(Outcome::parse(outcome.code()), Some(outcome));
    }
    let mut sorted = Outcome::ALL;
    sorted.sort();
    assert_eq!(
        sorted,
        Outcome::ALL,
        "ALL lists outcomes in precedence order"
    );
}

#[test]
fn only_an_empty_account_closes_and_a_closed_one_takes_nothing() {
    check(
        "
        account funding unlimited
        account alice
        account shop
        account euro currency=EUR
        f1 single funding->alice 1000 => created
        # what a close must name, in precedence order
        c1 close_account account=alice 5 => amount_invalid
        c2 close_account account=alice timeout=5 => timeout_invalid
        c3 close_account => account_required
        c4 close_account alice->shop => account_required
        c5 close_account account=alice pending=f1 => pending_id_not_allowed
        c6 close_account account=nobody => debit_account_not_found
        c7 close_account account=euro currency=USD => currency_mismatch
        # a balance, a hold taken or a hold given keeps it open
        c8 close_account account=alice => account_not_empty
        h1 pending alice->shop 1000 => created
        c9 close_account account=shop => account_not_empty
        v1 void_pending pending=h1 => created
        s2 single alice->funding 1000 => created
        at 7
        batch
        c10 close_account account=alice => created
        c10 close_account account=alice => exists
        c11 close_account account=alice => debit_account_closed
        s3 single funding->alice 5 => credit_account_closed
        end
        closed alice yes
        closed shop no
        s4 single alice->funding 1 => debit_account_closed
        h2 pending funding->alice 1 => credit_account_closed
        balance alice 1000/1000 0/0
        c12 close_account account=shop => created
        s5 single funding->shop 1 => credit_account_closed
        ",
    );
    // A hold alone (no balance either way) keeps an account open too.
    check(
        "
        account funding unlimited
        account owing limit=500
        h1 pending owing->funding 300 => created
        balance owing 0/0 300/0
        c1 close_account account=owing => account_not_empty
        v1 void_pending pending=h1 => created
        c2 close_account account=owing => created
        ",
    );
}
