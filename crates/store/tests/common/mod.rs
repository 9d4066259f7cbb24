//! What the store tests share: a hub store on SQLite and on PostgreSQL, each fresh.

use scanpay_store::{NotificationRow, PgHub, SqliteHub};
use uuid::Uuid;

fn postgres_url() -> String {
    std::env::var("SCANPAY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Runs `test` on a hub store in a fresh SQLite file.
pub async fn on_sqlite<F: Future<Output = ()>>(test: impl FnOnce(SqliteHub) -> F) {
    let dir = tempfile::tempdir().unwrap();
    test(SqliteHub::open(&dir.path().join("hub.db")).unwrap()).await;
}

/// Runs `test` on a hub store in a fresh PostgreSQL schema, dropped after, also when the test
/// fails (its panic is raised again once the schema is gone).
pub async fn on_postgres<F: Future<Output = ()> + Send + 'static>(test: impl FnOnce(PgHub) -> F) {
    let url = postgres_url();
    let schema = format!("storetest_{}", Uuid::new_v4().simple());
    let store = PgHub::connect(&url, &schema).await.unwrap();
    let outcome = tokio::spawn(test(store)).await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
    if let Err(failed) = outcome {
        std::panic::resume_unwind(failed.into_panic());
    }
}

/// A message for `caller_id`'s stream (its contents are the hub's business, sealed).
pub fn note(caller_id: Uuid) -> NotificationRow {
    NotificationRow {
        seq: 0,
        caller_id,
        data: b"sealed".to_vec(),
        created_at_ms: 1,
    }
}
