//! A payment step and what it announces are one write; the exemption rule's summaries come from
//! the payments' own columns, including for payments stored before those columns existed.

mod common;

use scanpay_store::{Announcements, DeliveryRow, HubStore, MerchantRow, PaymentRow, SqliteHub};
use uuid::Uuid;

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

/// Settlement reads every payment a page at a time after a cursor (`created_at_ms`, `id`):
/// across pages, and across payments made in the same millisecond, each comes once, in order.
async fn payments_page_by_their_creation(store: &impl HubStore) {
    let (payer, payee) = (Uuid::now_v7(), Uuid::now_v7());
    let mut made = Vec::new();
    for i in 0..40 {
        let id = Uuid::new_v4();
        // Four payments a millisecond, their ids in no order.
        let at = 1_000 + i / 4;
        store
            .insert_payment(payment(id, payer, payee, 1, at))
            .await
            .unwrap();
        made.push((at, id));
    }
    made.sort();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .payments_created(i64::MIN, i64::MAX, after, 7)
            .await
            .unwrap();
        seen.extend(page.iter().map(|p| (p.created_at_ms, p.id)));
        match page.last() {
            Some(last) if page.len() == 7 => after = Some((last.created_at_ms, last.id)),
            _ => break,
        }
    }
    assert_eq!(seen, made);
    let window = store
        .payments_created(1_002, 1_004, None, 100)
        .await
        .unwrap();
    assert_eq!(window.len(), 8, "two milliseconds of four");
}

#[tokio::test]
async fn sqlite_payments_page_by_their_creation() {
    common::on_sqlite(|store| async move { payments_page_by_their_creation(&store).await }).await;
}

#[tokio::test]
async fn postgres_payments_page_by_their_creation() {
    common::on_postgres(|store| async move { payments_page_by_their_creation(&store).await }).await;
}

/// A hub database from before the summary columns: its payments get them from their documents.
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
}
