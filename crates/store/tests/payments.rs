//! A payment step and what it announces are one write; the exemption rule's summaries and
//! settlement's sums come from the payments' own columns and books, including for payments stored
//! before those existed.

mod common;

use scanpay_core::payment::{BankSums, BookEntry};
use scanpay_store::{Announcements, DeliveryRow, HubStore, MerchantRow, PaymentRow, SqliteHub};
use uuid::Uuid;

const DAY: i64 = 86_400_000;

fn payment(id: Uuid, payer: Uuid, payee: Uuid, version: i64, at_ms: i64) -> PaymentRow {
    let data = serde_json::json!({"payment": {"amount_minor": 1_250, "verification": null}});
    PaymentRow {
        id,
        payer_id: payer,
        payee_id: payee,
        state: "processing".to_string(),
        version,
        next_check_ms: Some(at_ms + 20_000),
        data: serde_json::to_vec(&data).unwrap(),
        created_at_ms: at_ms,
        updated_at_ms: at_ms,
        amount_minor: 1_250,
        exempted: true,
        held: false,
        books: None,
    }
}

fn delivery(merchant_id: Uuid) -> DeliveryRow {
    DeliveryRow {
        id: Uuid::now_v7(),
        merchant_id,
        event_type: "payment.succeeded".to_string(),
        payload: "{}".to_string(),
        state: "pending".to_string(),
        attempts: 0,
        next_attempt_ms: Some(1),
        last_status: None,
        last_error: None,
        created_at_ms: 1,
        updated_at_ms: 1,
    }
}

async fn merchant(store: &impl HubStore, webhook: bool) -> Uuid {
    let id = Uuid::now_v7();
    store
        .insert_merchant(MerchantRow {
            caller_id: id,
            name: "Corner Cafe".to_string(),
            bank_id: "north".to_string(),
            account_id: Uuid::now_v7(),
            created_at_ms: 1,
            webhook_url: None,
            webhook_secrets: Vec::new(),
        })
        .await
        .unwrap();
    if webhook {
        let url = "https://shop.example/hooks".to_string();
        let stale = store.set_webhook(id, url.clone(), b"s".to_vec(), b"other".to_vec());
        assert!(
            !stale.await.unwrap(),
            "secrets changed since they were read"
        );
        let set = store.set_webhook(id, url, b"s".to_vec(), Vec::new());
        assert!(set.await.unwrap());
    }
    id
}

async fn a_step_and_its_news_are_written_together(store: &impl HubStore) {
    let (payer, id) = (Uuid::now_v7(), Uuid::now_v7());
    let payee = merchant(store, true).await;
    let quiet = merchant(store, false).await;
    store
        .insert_payment(payment(id, payer, payee, 1, 1_000))
        .await
        .unwrap();
    // An event for a merchant without a webhook is not written.
    let news = || Announcements {
        notifications: vec![common::note(payer), common::note(payee)],
        deliveries: vec![delivery(payee), delivery(quiet)],
    };
    let succeeded = PaymentRow {
        state: "succeeded".to_string(),
        next_check_ms: None,
        ..payment(id, payer, payee, 2, 1_000)
    };
    assert!(
        store
            .update_payment(succeeded.clone(), news())
            .await
            .unwrap()
    );
    // A writer that read version 1 too loses, and announces nothing.
    assert!(!store.update_payment(succeeded, news()).await.unwrap());
    assert_eq!(store.notifications(payer, 0, 10).await.unwrap().len(), 1);
    assert_eq!(store.notifications(payee, 0, 10).await.unwrap().len(), 1);
    assert_eq!(store.deliveries_of(payee, 10).await.unwrap().len(), 1);
    assert!(store.deliveries_of(quiet, 10).await.unwrap().is_empty());

    let later = Uuid::now_v7();
    store
        .insert_payment(PaymentRow {
            amount_minor: 99,
            exempted: false,
            ..payment(later, payer, payee, 1, 2_000)
        })
        .await
        .unwrap();
    let summaries = store.payment_summaries(payer, 20).await.unwrap();
    let seen: Vec<(&str, i64, bool)> = summaries
        .iter()
        .map(|s| (s.state.as_str(), s.amount_minor, s.exempted))
        .collect();
    assert_eq!(
        seen,
        [("processing", 99, false), ("succeeded", 1_250, true)],
        "newest first"
    );
    assert!(summaries.iter().all(|s| s.payee_id == payee));
}

#[tokio::test]
async fn sqlite_writes_a_step_and_its_news_together() {
    common::on_sqlite(
        |store| async move { a_step_and_its_news_are_written_together(&store).await },
    )
    .await;
}

#[tokio::test]
async fn postgres_writes_a_step_and_its_news_together() {
    common::on_postgres(
        |store| async move { a_step_and_its_news_are_written_together(&store).await },
    )
    .await;
}

/// The deliverer skips a busy merchant's backlog: the other merchants' first due deliveries
/// come back, at most `per_merchant` each, soonest first; with no one to skip, the soonest.
async fn due_deliveries_skip_a_busy_merchants_backlog(store: &impl HubStore) {
    let busy = merchant(store, true).await;
    let other = merchant(store, true).await;
    let third = merchant(store, true).await;
    let at = |merchant_id, next_attempt_ms| DeliveryRow {
        next_attempt_ms,
        ..delivery(merchant_id)
    };
    let mut deliveries: Vec<DeliveryRow> = (0..20).map(|i| at(busy, Some(100 + i))).collect();
    deliveries.extend((0..6).map(|i| at(other, Some(200 + i))));
    deliveries.push(at(third, Some(150)));
    deliveries.push(at(third, Some(10_000)));
    deliveries.push(at(third, None));
    let (payer, id) = (Uuid::now_v7(), Uuid::now_v7());
    store
        .insert_payment(payment(id, payer, busy, 1, 1_000))
        .await
        .unwrap();
    let news = Announcements {
        notifications: Vec::new(),
        deliveries,
    };
    let step = store.update_payment(payment(id, payer, busy, 2, 1_000), news);
    assert!(step.await.unwrap());

    let due = |limit, skip: Vec<Uuid>| async move {
        let rows = store.deliveries_due(1_000, limit, 4, skip).await.unwrap();
        rows.iter()
            .map(|r| r.next_attempt_ms.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(due(50, vec![busy]).await, [150, 200, 201, 202, 203]);
    assert_eq!(due(3, vec![busy]).await, [150, 200, 201]);
    assert_eq!(due(50, vec![busy, other]).await, [150]);
    assert_eq!(due(50, vec![busy, other, third]).await, [0i64; 0]);
    assert_eq!(due(5, Vec::new()).await, [100, 101, 102, 103, 104]);
}

#[tokio::test]
async fn sqlite_due_deliveries_skip_a_busy_merchants_backlog() {
    common::on_sqlite(
        |store| async move { due_deliveries_skip_a_busy_merchants_backlog(&store).await },
    )
    .await;
}

#[tokio::test]
async fn postgres_due_deliveries_skip_a_busy_merchants_backlog() {
    common::on_postgres(|store| async move {
        due_deliveries_skip_a_busy_merchants_backlog(&store).await
    })
    .await;
}

fn entry(day_ms: i64, bank: &str, paid_out: i64, received: i64, clearing: i64) -> BookEntry {
    BookEntry {
        day_ms,
        sums: BankSums {
            bank_id: bank.to_string(),
            currency: "EUR".to_string(),
            paid_out_minor: paid_out,
            received_minor: received,
            clearing_minor: clearing,
        },
    }
}

/// Each bank's amounts: (bank, paid out, received, clearing).
fn amounts(sums: Vec<BankSums>) -> Vec<(String, i64, i64, i64)> {
    sums.into_iter()
        .map(|s| {
            (
                s.bank_id,
                s.paid_out_minor,
                s.received_minor,
                s.clearing_minor,
            )
        })
        .collect()
}

/// A payment's books are replaced with each save that carries them, kept by one that does not,
/// and summed by day for settlement; held payments are found by their flag.
async fn payments_keep_their_books(store: &impl HubStore) {
    let (payer, payee) = (Uuid::now_v7(), Uuid::now_v7());
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    // A: paid on day 0; its payer's bank has moved the money to clearing.
    store
        .insert_payment(PaymentRow {
            books: Some(vec![entry(0, "north", 0, 0, 500)]),
            ..payment(a, payer, payee, 1, 1_000)
        })
        .await
        .unwrap();
    // B: paid and credited on day 0, 300 between the same banks.
    store
        .insert_payment(PaymentRow {
            books: Some(vec![
                entry(0, "north", 300, 0, 300),
                entry(0, "south", 0, 300, -300),
            ]),
            ..payment(b, payer, payee, 1, 2_000)
        })
        .await
        .unwrap();
    // A's credit lands on day 1: its books are replaced, not added to.
    let credited = vec![
        entry(0, "north", 0, 0, 500),
        entry(DAY, "north", 500, 0, 0),
        entry(DAY, "south", 0, 500, -500),
    ];
    let saved = store.update_payment(
        PaymentRow {
            books: Some(credited.clone()),
            ..payment(a, payer, payee, 2, 1_000)
        },
        Announcements::default(),
    );
    assert!(saved.await.unwrap());
    // A save without books (the resolver's claim) keeps them; a lost race writes none.
    let claimed =
        store.update_payment(payment(a, payer, payee, 3, 1_000), Announcements::default());
    assert!(claimed.await.unwrap());
    let stale = store.update_payment(
        PaymentRow {
            books: Some(vec![entry(0, "north", 0, 0, 9_999)]),
            ..payment(a, payer, payee, 3, 1_000)
        },
        Announcements::default(),
    );
    assert!(!stale.await.unwrap());
    let sums = |from, to| async move { amounts(store.bank_sums(from, to).await.unwrap()) };
    let bank =
        |name: &str, paid_out, received, clearing| (name.to_string(), paid_out, received, clearing);
    assert_eq!(
        sums(0, DAY).await,
        [bank("north", 300, 0, 800), bank("south", 0, 300, -300)]
    );
    assert_eq!(
        sums(DAY, 2 * DAY).await,
        [bank("north", 500, 0, 0), bank("south", 0, 500, -500)]
    );
    assert_eq!(
        sums(i64::MIN, i64::MAX).await,
        [bank("north", 800, 0, 800), bank("south", 0, 800, -800)]
    );
    assert!(sums(2 * DAY, 3 * DAY).await.is_empty());
    // Every day's sums: the same whether day 0 is rolled up or not, rolled up once however often
    // asked; a save rewriting a rolled-up day's rows alike (A again) changes nothing.
    let ever = || async move { amounts(store.bank_sums_ever().await.unwrap()) };
    let all = sums(i64::MIN, i64::MAX).await;
    assert_eq!(ever().await, all);
    for before in [DAY, DAY, 0] {
        store.roll_up_books(before).await.unwrap();
        assert_eq!(ever().await, all);
    }
    let again = store.update_payment(
        PaymentRow {
            books: Some(credited.clone()),
            ..payment(a, payer, payee, 4, 1_000)
        },
        Announcements::default(),
    );
    assert!(again.await.unwrap());
    assert_eq!(ever().await, all);
    // A rolled-up day is read from its sums, not its rows: a row it did not have then (which
    // no save writes, a leg counting on the day it is done) is not in them.
    let late = Uuid::now_v7();
    store
        .insert_payment(PaymentRow {
            books: Some(vec![entry(0, "west", 0, 0, 1)]),
            ..payment(late, payer, payee, 1, 3_000)
        })
        .await
        .unwrap();
    assert_eq!(ever().await, all);
    assert_eq!(sums(0, DAY).await.len(), 3, "the day's rows have it");
    // Held: found by the flag, gone when it is cleared.
    assert!(store.payments_held().await.unwrap().is_empty());
    let held = store.update_payment(
        PaymentRow {
            held: true,
            ..payment(b, payer, payee, 2, 2_000)
        },
        Announcements::default(),
    );
    assert!(held.await.unwrap());
    let found: Vec<Uuid> = store
        .payments_held()
        .await
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(found, [b]);
    let released =
        store.update_payment(payment(b, payer, payee, 3, 2_000), Announcements::default());
    assert!(released.await.unwrap());
    assert!(store.payments_held().await.unwrap().is_empty());
    assert!(
        store.payments_unbooked(10).await.unwrap().is_empty(),
        "new rows are booked"
    );
}

#[tokio::test]
async fn sqlite_payments_keep_their_books() {
    common::on_sqlite(|store| async move { payments_keep_their_books(&store).await }).await;
}

#[tokio::test]
async fn postgres_payments_keep_their_books() {
    common::on_postgres(|store| async move { payments_keep_their_books(&store).await }).await;
}

/// A hub whose clock runs days ahead asks to roll up days that are not over: PostgreSQL rolls
/// up no further than the database server's yesterday, so today's later payments still count.
#[tokio::test]
async fn postgres_rolls_up_no_later_than_the_servers_yesterday() {
    common::on_postgres(|store| async move { rolls_up_no_later_than_today(&store).await }).await;
}

async fn rolls_up_no_later_than_today(store: &impl HubStore) {
    let (payer, payee) = (merchant(store, false).await, merchant(store, false).await);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let today = now_ms - now_ms.rem_euclid(DAY);
    let pay = |amount| {
        let id = Uuid::now_v7();
        PaymentRow {
            books: Some(vec![entry(today, "north", 0, 0, amount)]),
            ..payment(id, payer, payee, 1, now_ms)
        }
    };
    store.insert_payment(pay(100)).await.unwrap();
    store.roll_up_books(today + 10 * DAY).await.unwrap();
    store.insert_payment(pay(20)).await.unwrap();
    let ever = amounts(store.bank_sums_ever().await.unwrap());
    assert_eq!(ever, [("north".to_string(), 0, 0, 120)]);
}

#[tokio::test]
async fn payments_stored_before_the_summary_columns_are_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let migrations = scanpay_store::schema::HUB_SQLITE;
    let before = migrations
        .iter()
        .position(|sql| sql.contains("ADD COLUMN amount_minor"))
        .unwrap();
    let (payer, payee) = (Uuid::now_v7(), Uuid::now_v7());
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)")
            .unwrap();
        for (index, sql) in migrations[..before].iter().enumerate() {
            connection.execute_batch(sql).unwrap();
            connection
                .execute(
                    "INSERT INTO schema_migrations (version) VALUES (?1)",
                    [index as i64 + 1],
                )
                .unwrap();
        }
        for (at, amount, verification) in [
            (1, 700, serde_json::Value::Null),
            (2, 4_200, serde_json::json!({"reason": "verification"})),
        ] {
            let data = serde_json::json!({"payment": {
                "amount_minor": amount, "verification": verification}});
            connection
                .execute(
                    "INSERT INTO payments (id, payer_id, payee_id, state, version, next_check_ms, \
                     data, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, 'succeeded', 2, \
                     NULL, ?4, ?5, ?5)",
                    rusqlite::params![
                        Uuid::now_v7(),
                        payer,
                        payee,
                        serde_json::to_vec(&data).unwrap(),
                        at
                    ],
                )
                .unwrap();
        }
    }
    let store = SqliteHub::open(&path).unwrap();
    let summaries = store.payment_summaries(payer, 20).await.unwrap();
    let seen: Vec<(i64, bool)> = summaries
        .iter()
        .map(|s| (s.amount_minor, s.exempted))
        .collect();
    assert_eq!(seen, [(4_200, false), (700, true)]);
    // Stored before their books were kept: settlement books them, one save each.
    let unbooked = store.payments_unbooked(10).await.unwrap();
    assert_eq!(unbooked.len(), 2);
    let booked = store.update_payment(
        PaymentRow {
            version: unbooked[0].version + 1,
            books: Some(Vec::new()),
            ..unbooked[0].clone()
        },
        Announcements::default(),
    );
    assert!(booked.await.unwrap());
    let left: Vec<Uuid> = store
        .payments_unbooked(10)
        .await
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(left, [unbooked[1].id]);
}
