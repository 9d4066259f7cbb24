//! Idempotency claims belong to the request that holds them (regression: a request that
//! outlived its lease could delete or overwrite its successor's claim).

use scanpay_store::{Claim, HubStore, IdempotencyRecord, SqliteHub};
use uuid::Uuid;

fn record(caller: Uuid, now_ms: i64, token: &[u8]) -> IdempotencyRecord {
    IdempotencyRecord {
        caller_id: caller,
        key: "key-1".to_string(),
        request_hash: vec![1; 32],
        response_status: None,
        response_body: Vec::new(),
        locked_until_ms: now_ms + 1_000,
        created_at_ms: now_ms,
        claim_token: token.to_vec(),
    }
}

#[tokio::test]
async fn a_lapsed_claim_taken_over_ignores_its_first_holder() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteHub::open(&dir.path().join("hub.db")).unwrap();
    let caller = Uuid::now_v7();
    let key = "key-1".to_string();

    assert_eq!(
        store.claim(record(caller, 0, b"first")).await.unwrap(),
        Claim::Claimed
    );
    // While the first claim holds, the same request is told it is in progress.
    assert!(matches!(
        store.claim(record(caller, 500, b"second")).await.unwrap(),
        Claim::Existing(_)
    ));
    // After the lease, a retry takes the claim over.
    assert_eq!(
        store.claim(record(caller, 2_000, b"second")).await.unwrap(),
        Claim::Claimed
    );

    // The first request finishes late: it may neither release nor answer for the successor.
    store
        .release(caller, key.clone(), b"first".to_vec())
        .await
        .unwrap();
    assert!(
        !store
            .complete(
                caller,
                key.clone(),
                b"first".to_vec(),
                200,
                b"late".to_vec()
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .complete(
                caller,
                key.clone(),
                b"second".to_vec(),
                201,
                b"kept".to_vec()
            )
            .await
            .unwrap()
    );
    match store.claim(record(caller, 3_000, b"third")).await.unwrap() {
        Claim::Existing(existing) => {
            assert_eq!(existing.response_status, Some(201));
            assert_eq!(existing.response_body, b"kept");
        }
        Claim::Claimed => panic!("an answered key is not claimed again"),
    }
}
