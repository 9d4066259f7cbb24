//! `scanpay bench settlement`: what settlement's sums cost over a hub's history.
//!
//! Fills a fresh hub store (a SQLite file, or a schema on PostgreSQL) with interbank payments
//! spread over days and banks, each saved the way the hub saves it (its document and its
//! `payment_books` share), some with a refund; then times the store reads settlement makes: one
//! day's positions, the held payments, every day's clearing sums (from every row, then with the
//! days before the last rolled up, and the roll-up itself). The sums are checked against
//! the same payments summed in memory, so a wrong table fails the run rather than a fast one
//! passing.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use scanpay_core::payment::{BankSums, DAY_MS, Party, Payment, bank_sums};
use scanpay_store::{DatabaseUrl, HubStore, PaymentRow, PgHub, SqliteHub};
use uuid::Uuid;

pub struct SettlementBench {
    pub payments: usize,
    pub days: usize,
    pub database_url: Option<String>,
}

/// Banks the payments go between.
const BANKS: [&str; 4] = ["north", "south", "east", "west"];
/// Saves in flight while filling (the store's writer groups them).
const FILL_AT_ONCE: usize = 64;
/// Each read is timed this many times; the median is printed.
const READS: usize = 5;

pub async fn settlement(options: SettlementBench) -> anyhow::Result<()> {
    let (url, temp) = crate::bench::bench_store(options.database_url.as_deref())?;
    let result = match url {
        None | Some(DatabaseUrl::Sqlite(_)) => {
            let path = match url {
                Some(DatabaseUrl::Sqlite(path)) => path,
                _ => temp.join("hub-bench.db"),
            };
            run(SqliteHub::open(&path)?, "sqlite", &options).await
        }
        Some(DatabaseUrl::Postgres(url)) => {
            let schema = format!("hub_settle_{}", &Uuid::new_v4().simple().to_string()[..8]);
            let store = PgHub::connect(&url, &schema).await?;
            let result = run(store, "postgres", &options).await;
            crate::bench_pay::drop_schemas(&url, &schema).await;
            result
        }
    };
    let _ = std::fs::remove_dir_all(&temp);
    result
}

/// The `n`th payment: between two of [`BANKS`], done on its day, every tenth refunded in part
/// the day after, every hundredth with its credit refused and the reversal too (held).
fn payment(n: usize, days: usize) -> Payment {
    let id = |k: u128| Uuid::from_u128(((n as u128) << 8) | k);
    let party = |k: u128, bank: &str| Party {
        caller_id: id(k),
        kind: "wallet".to_string(),
        name: format!("party {n}"),
        bank_id: bank.to_string(),
        account_id: id(k + 1),
    };
    let (from, to) = (BANKS[n % 4], BANKS[(n % 4 + 1 + (n / 4) % 3) % 4]);
    let day = (n % days) as i64;
    let at = day * DAY_MS + (n as i64 * 7_919) % DAY_MS;
    let amount = 100 + (n as i64 * 37) % 10_000;
    let mut p = Payment::new(
        id(1),
        party(2, from),
        party(4, to),
        amount,
        "EUR",
        "terminal-1",
        None,
        None,
        (id(6), id(7)),
        at,
    );
    p.debit_answered(Ok(()), at + 50);
    if n % 100 == 99 {
        p.credit_answered(Err("credit_account_not_found".into()), id(8), at + 90);
        p.reversal_answered(Err("debit_account_not_found".into()), at + 120);
        return p;
    }
    p.credit_answered(Ok(()), id(8), at + 90);
    if n % 10 == 3 {
        let (refund, later) = (id(9), at + DAY_MS);
        p.request_refund(refund, amount / 2, (id(10), id(11)), later)
            .expect("a payment that succeeded");
        p.refund_debit_answered(refund, Ok(()), later + 40);
        p.refund_credit_answered(refund, Ok(()), id(12), later + 80);
    }
    p
}

fn row(p: &Payment) -> anyhow::Result<PaymentRow> {
    Ok(PaymentRow {
        id: p.id,
        payer_id: p.payer.caller_id,
        payee_id: p.payee.caller_id,
        state: p.state.code().to_string(),
        version: 1,
        next_check_ms: None,
        data: serde_json::to_vec(&serde_json::json!({ "payment": p }))?,
        created_at_ms: p.created_at_ms,
        updated_at_ms: p.updated_at_ms,
        amount_minor: p.amount_minor,
        exempted: p.exempted(),
        held: p.holds_money_in_clearing(),
        books: Some(p.book_entries()),
    })
}

/// The median of [`READS`] runs of `read`, and its last answer.
async fn timed<T, F: std::future::Future<Output = anyhow::Result<T>>>(
    mut read: impl FnMut() -> F,
) -> anyhow::Result<(Duration, T)> {
    let mut times = Vec::with_capacity(READS);
    let mut last = None;
    for _ in 0..READS {
        let started = Instant::now();
        last = Some(read().await?);
        times.push(started.elapsed());
    }
    times.sort();
    Ok((times[READS / 2], last.expect("READS > 0")))
}

async fn run<S: HubStore>(
    store: S,
    backend: &str,
    options: &SettlementBench,
) -> anyhow::Result<()> {
    let days = options.days.max(1);
    let started = Instant::now();
    let store = &store;
    let mut saves = futures_util::stream::iter(0..options.payments)
        .map(|n| async move {
            let p = payment(n, days);
            store.insert_payment(row(&p)?).await?;
            anyhow::Ok(())
        })
        .buffer_unordered(FILL_AT_ONCE);
    let mut saved = 0usize;
    while let Some(save) = saves.next().await {
        save.context("saving a payment")?;
        saved += 1;
        if saved.is_multiple_of(10_000) {
            eprint!("\r{saved:>9} payments saved ");
        }
    }
    eprintln!();
    let filled = started.elapsed();
    println!(
        "settlement on {backend}: {} interbank payments over {days} days filled in {:.1} s \
         ({:.0}/s)",
        options.payments,
        filled.as_secs_f64(),
        options.payments as f64 / filled.as_secs_f64()
    );
    let day = (days as i64 / 2) * DAY_MS;
    let (one_day, day_sums) =
        timed(|| async { Ok(store.bank_sums(day, day + DAY_MS).await?) }).await?;
    let (every_row, all_sums) =
        timed(|| async { Ok(store.bank_sums(i64::MIN, i64::MAX).await?) }).await?;
    // Every day but the last summed once (a settlement rolls up the days before yesterday).
    let started = Instant::now();
    store.roll_up_books((days as i64 - 1) * DAY_MS).await?;
    let roll_up = started.elapsed();
    let (ever, ever_sums) = timed(|| async { Ok(store.bank_sums_ever().await?) }).await?;
    let (held_time, held) = timed(|| async { Ok(store.payments_held().await?) }).await?;
    // The same sums in memory, and what settlement did before: parse every payment's document.
    let documents = (0..options.payments)
        .map(|n| serde_json::to_vec(&payment(n, days)))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let parsed = documents
        .iter()
        .map(|text| serde_json::from_slice::<Payment>(text))
        .collect::<Result<Vec<_>, _>>()?;
    let parse = started.elapsed();
    drop(documents);
    let want_day = bank_sums(&parsed, day, day + DAY_MS);
    let want_all = bank_sums(&parsed, i64::MIN, i64::MAX);
    anyhow::ensure!(
        day_sums == want_day,
        "the day's sums differ: {day_sums:?} ≠ {want_day:?}"
    );
    anyhow::ensure!(all_sums == want_all, "every day's sums differ");
    anyhow::ensure!(
        ever_sums == want_all,
        "every day's sums differ once rolled up"
    );
    let want_held = parsed
        .iter()
        .filter(|p| p.holds_money_in_clearing())
        .count();
    anyhow::ensure!(
        held.len() == want_held,
        "held: {} ≠ {want_held}",
        held.len()
    );
    let net: i64 = day_sums.iter().map(BankSums::net_minor).sum();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "one day's positions {:.1} ms, {} held payments {:.1} ms; every day's clearing sums from \
         every row {:.1} ms, rolled up {:.1} ms after summing the days before the last once in \
         {:.0} ms (medians of {READS}); sums agree with the payments, the day's nets sum to {net}",
        ms(one_day),
        held.len(),
        ms(held_time),
        ms(every_row),
        ms(ever),
        ms(roll_up),
    );
    println!(
        "for scale: parsing every payment's document, as settlement did before (without reading \
         them from the database): {:.0} ms",
        ms(parse)
    );
    Ok(())
}
