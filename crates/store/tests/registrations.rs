//! Ending a registration (revoked, or cancelled or expired before it was bound) is one write:
//! its new state and the deletion of its code, and neither when another writer saved the
//! session first.

mod common;

use scanpay_store::{CodeRow, HubStore, RegistrationRow};
use uuid::Uuid;

fn session(id: Uuid, caller_id: Uuid, state: &str, version: i64) -> RegistrationRow {
    RegistrationRow {
        id,
        caller_id,
        state: state.to_string(),
        version,
        data: b"sealed".to_vec(),
        created_at_ms: 1,
        updated_at_ms: version,
    }
}

fn code(registration_id: Uuid, caller_id: Uuid) -> CodeRow {
    CodeRow {
        code_hash: b"code".to_vec(),
        card_lookup: b"card".to_vec(),
        registration_id,
        caller_id,
        bank_id: "north".to_string(),
        account_id: Uuid::now_v7(),
        terminal_id: "phone-1".to_string(),
        created_at_ms: 1,
    }
}

async fn a_revocation_deletes_the_code_with_the_save(store: &impl HubStore) {
    let (id, caller) = (Uuid::now_v7(), Uuid::now_v7());
    store
        .insert_registration(session(id, caller, "bound", 1))
        .await
        .unwrap();
    store.insert_code(code(id, caller)).await.unwrap();
    // A writer that read an older version loses, and the code stays.
    let stale = store
        .end_registration(
            session(id, caller, "revoked", 1),
            Some(common::note(caller)),
        )
        .await
        .unwrap();
    assert!(!stale);
    assert!(
        store
            .code_by_hash(b"code".to_vec())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.registration(id).await.unwrap().unwrap().state,
        "bound"
    );
    assert!(store.notifications(caller, 0, 10).await.unwrap().is_empty());

    assert!(
        store
            .end_registration(
                session(id, caller, "revoked", 2),
                Some(common::note(caller))
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.registration(id).await.unwrap().unwrap().state,
        "revoked"
    );
    assert_eq!(store.code_by_hash(b"code".to_vec()).await.unwrap(), None);
    assert_eq!(store.code_of_registration(id).await.unwrap(), None);
    assert_eq!(store.notifications(caller, 0, 10).await.unwrap().len(), 1);
    // The card and the code's value are free: another registration takes them.
    let again = Uuid::now_v7();
    store
        .insert_registration(session(again, caller, "bound", 1))
        .await
        .unwrap();
    store.insert_code(code(again, caller)).await.unwrap();
    let by_card = store.code_by_card(b"card".to_vec()).await.unwrap();
    assert_eq!(by_card.map(|c| c.registration_id), Some(again));
    // A session cancelled before it was bound gives its code back too, telling no one.
    assert!(
        store
            .end_registration(session(again, caller, "cancelled", 2), None)
            .await
            .unwrap()
    );
    assert_eq!(store.code_by_card(b"card".to_vec()).await.unwrap(), None);
    assert_eq!(store.notifications(caller, 0, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn sqlite_revokes_a_registration_in_one_write() {
    common::on_sqlite(
        |store| async move { a_revocation_deletes_the_code_with_the_save(&store).await },
    )
    .await;
}

#[tokio::test]
async fn postgres_revokes_a_registration_in_one_write() {
    common::on_postgres(|store| async move {
        a_revocation_deletes_the_code_with_the_save(&store).await
    })
    .await;
}

/// A card's verification attempts are counted before they are made (the count comes back from
/// the same write), an attempt the bank never answered is taken back, and a match forgets them.
async fn failures_count_atomically_and_are_forgiven(store: &impl HubStore) {
    let card = Uuid::now_v7().as_bytes().to_vec();
    let window = 86_400_000;
    let record = |now| store.record_failure(card.clone(), now, window);
    for expected in 1..=3 {
        assert_eq!(record(1_000).await.unwrap(), expected);
    }
    // Taken back one: the next attempt is the third again.
    store.forgive_failure(card.clone()).await.unwrap();
    assert_eq!(record(2_000).await.unwrap(), 3);
    store.clear_failures(card.clone()).await.unwrap();
    assert_eq!(record(3_000).await.unwrap(), 1);
    // Forgiving below zero does nothing.
    store.forgive_failure(card.clone()).await.unwrap();
    store.forgive_failure(card.clone()).await.unwrap();
    assert_eq!(record(4_000).await.unwrap(), 1);
}

#[tokio::test]
async fn sqlite_counts_failures() {
    common::on_sqlite(
        |store| async move { failures_count_atomically_and_are_forgiven(&store).await },
    )
    .await;
}

#[tokio::test]
async fn postgres_counts_failures() {
    common::on_postgres(
        |store| async move { failures_count_atomically_and_are_forgiven(&store).await },
    )
    .await;
}
