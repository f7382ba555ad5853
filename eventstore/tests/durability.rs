//! A store opened `Durability::Unflushed` (a simulation's) does not wait
//! for its commits to reach the disk; every other store does (invariant 2).

use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, Durability, EventStore, StoreOptions};

async fn synchronous_commit(db: &TestDatabase, durability: Durability) -> String {
    let store = db
        .store(StoreOptions {
            durability,
            ..StoreOptions::default()
        })
        .await
        .unwrap();
    let EventStore::Postgres(postgres) = &store else {
        panic!("a Postgres store")
    };
    let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(postgres.pool())
        .await
        .unwrap();
    store.close().await;
    setting
}

#[tokio::test]
async fn postgres_commits_wait_for_the_disk_unless_opened_unflushed() {
    let db = TestDatabase::new(Backend::Postgres).await.unwrap();
    assert_eq!(synchronous_commit(&db, Durability::Flushed).await, "on");
    assert_eq!(synchronous_commit(&db, Durability::Unflushed).await, "off");
}
