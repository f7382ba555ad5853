//! The log's hash chain on both backends: every event's recorded hash is the
//! one `chain::hash_event` gives over its stored fields and its predecessor,
//! however the events arrived (batches, several processes, out-of-order
//! commits); a log from before the chain is hashed on migrate; and both
//! backends give the same hashes for the same events.

use chrono::{TimeZone, Utc};
use serde_json::json;
use sqlx::Connection;
use terminagent_eventstore::chain::{ChainFields, ChainTip, EventHash, hash_event};
use terminagent_eventstore::testing::{TestDatabase, UncommittedAppend};
use terminagent_eventstore::{Backend, ChainedEvent, EventStore, NewEvent, StoreOptions, Upcasters};
use ulid::Ulid;

/// An event with every optional field set or not by `n`, sub-microsecond
/// time, unicode and escapes in its data.
fn event(n: u64, streams: &[&str]) -> NewEvent {
    NewEvent {
        event_id: Ulid::from(0x0191_0000_0000_0000_0000_0000_0000_0000_u128 + u128::from(n)),
        event_type: format!("test.happened.{}", n % 3),
        schema_version: 1 + (n % 2) as u32,
        streams: streams.iter().map(|s| s.to_string()).collect(),
        recorded_at: Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap()
            + chrono::Duration::nanoseconds(n as i64 * 1_234_567_891),
        correlation_id: n.is_multiple_of(2).then(|| Ulid::from(u128::from(n) << 64)),
        causation_id: n.is_multiple_of(3).then(|| Ulid::from(u128::from(n) << 32)),
        actor: (!n.is_multiple_of(4)).then(|| format!("staff:{n}")),
        data: json!({"n": n, "text": "Grüße \"aus\" Köln\n\u{1F600}", "nested": {"list": [1, 2.5, null]}}),
    }
}

/// The whole log as stored, with recorded hashes.
async fn read_chain(store: &EventStore) -> Vec<ChainedEvent> {
    store.catch_up().await.unwrap();
    let mut all: Vec<ChainedEvent> = Vec::new();
    loop {
        let page = store.read_chain(all.last().map_or(0, |e| e.position), 7).await.unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// The chain recomputed from the events alone, from the genesis hash.
fn recomputed(events: &[ChainedEvent]) -> Vec<EventHash> {
    let mut previous = EventHash::GENESIS;
    events
        .iter()
        .map(|chained| {
            previous = hash_event(&previous, chained.position, &ChainFields::of_stored(&chained.event));
            previous
        })
        .collect()
}

/// Every position 1..=n has a recorded hash equal to the recomputed one, and
/// the store's head is the last of them.
async fn assert_chain_holds(store: &EventStore, events: usize) -> Vec<EventHash> {
    let chain = read_chain(store).await;
    assert_eq!(chain.len(), events);
    assert_eq!(
        chain.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=events as u64).collect::<Vec<_>>()
    );
    let expected = recomputed(&chain);
    let recorded: Vec<EventHash> = chain
        .iter()
        .map(|e| e.hash.unwrap_or_else(|| panic!("position {} has no hash", e.position)))
        .collect();
    assert_eq!(recorded, expected);
    let head = store.chain_head().await.unwrap();
    assert_eq!(
        head,
        expected.last().map_or(ChainTip::EMPTY, |hash| ChainTip {
            position: events as u64,
            hash: *hash
        })
    );
    recorded
}

async fn every_event_is_chained_to_its_predecessor(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    assert_eq!(store.chain_head().await.unwrap(), ChainTip::EMPTY);
    store.append(&[event(1, &["a"])], &[]).await.unwrap();
    store.append(&[event(2, &["b", "a"])], &[]).await.unwrap();
    let batch: Vec<NewEvent> = (3..40).map(|n| event(n, &["c"])).collect();
    store.append(&batch, &[]).await.unwrap();
    let mixed: Vec<NewEvent> = (40..60).map(|n| event(n, &["d", "e", "a"])).collect();
    store.append(&mixed, &[]).await.unwrap();
    // A retried append stores nothing and leaves the chain as it was.
    let before = assert_chain_holds(&store, 59).await;
    assert!(store.append(&mixed, &[]).await.unwrap().already_appended);
    store.append(&[event(60, &["a"])], &[]).await.unwrap();
    let after = assert_chain_holds(&store, 60).await;
    assert_eq!(before[..], after[..59]);
}

async fn two_processes_extend_one_chain(db: &TestDatabase) {
    let one = db.store(StoreOptions::default()).await.unwrap();
    let other = db.store(StoreOptions::default()).await.unwrap();
    for n in 1..=30 {
        let store = if n % 3 == 0 { &other } else { &one };
        store.append(&[event(n, &["s"])], &[]).await.unwrap();
        if n % 5 == 0 {
            // Each process sweeps (Postgres) on its own; either may number next.
            store.sequence_ready().await.unwrap();
        }
    }
    assert_chain_holds(&one, 30).await;
    assert_chain_holds(&other, 30).await;
}

async fn out_of_order_commits_are_chained_in_log_order(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    store.append(&[event(1, &["a"])], &[]).await.unwrap();
    store.catch_up().await.unwrap();
    let mut open = UncommittedAppend::begin(&store, db.url()).await.unwrap();
    open.take_transaction_id().await.unwrap();
    open.append(&[event(2, &["b"]), event(3, &["b"])]).await.unwrap();
    let later = {
        let store = store.clone();
        tokio::spawn(async move { store.append(&[event(4, &["c"])], &[]).await.unwrap() })
    };
    // On SQLite the later append waits for the open writer; on Postgres it
    // commits first but is numbered after the older transaction.
    if store.backend() == Backend::Postgres {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !later.is_finished() {
            assert!(tokio::time::Instant::now() < deadline, "the later append commits first");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    open.commit().await.unwrap();
    later.await.unwrap();
    store.append(&[event(5, &["a"])], &[]).await.unwrap();
    assert_chain_holds(&store, 5).await;
}

async fn the_chain_covers_events_as_stored_not_as_upcast(db: &TestDatabase) {
    let writer = db.store(StoreOptions::default()).await.unwrap();
    let mut old = event(1, &["a"]);
    old.schema_version = 1;
    writer.append(&[old], &[]).await.unwrap();
    let recorded = assert_chain_holds(&writer, 1).await;
    fn add_field(mut data: serde_json::Value) -> Result<serde_json::Value, String> {
        data["added"] = json!(true);
        Ok(data)
    }
    let upcasting = db
        .store(StoreOptions {
            upcasters: Upcasters::new().with("test.happened.1", 1, add_field),
            ..StoreOptions::default()
        })
        .await
        .unwrap();
    let chain = read_chain(&upcasting).await;
    assert_eq!(chain[0].event.schema_version, 1, "read_chain gives the stored shape");
    assert_eq!(recomputed(&chain), recorded);
    let upcast = upcasting.upcast(chain[0].event.clone()).unwrap();
    assert_eq!(upcast.schema_version, 2);
    assert_eq!(upcast.data.to_value()["added"], json!(true));
    assert_eq!(upcasting.read_all(0, 10).await.unwrap()[0].event, upcast);
}

/// Removes every recorded hash from position `from` on, as a log written
/// before the chain (or by an older version) has none.
async fn forget_hashes(db: &TestDatabase, backend: Backend, from: u64) {
    match backend {
        Backend::Postgres => {
            let mut connection = sqlx::PgConnection::connect(db.url()).await.unwrap();
            sqlx::query("DELETE FROM event_hashes WHERE position >= $1")
                .bind(from as i64)
                .execute(&mut connection)
                .await
                .unwrap();
            connection.close().await.unwrap();
        }
        Backend::Sqlite => {
            let mut connection = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
            sqlx::query("UPDATE events SET hash = NULL WHERE position >= ?1")
                .bind(from as i64)
                .execute(&mut connection)
                .await
                .unwrap();
            connection.close().await.unwrap();
        }
    }
}

async fn a_log_from_before_the_chain_is_hashed_on_migrate(db: &TestDatabase, backend: Backend) {
    let writer = db.store(StoreOptions::default()).await.unwrap();
    for chunk in (1..=2_500).collect::<Vec<u64>>().chunks(250) {
        let batch: Vec<NewEvent> = chunk.iter().map(|&n| event(n, &["s", "t"])).collect();
        writer.append(&batch, &[]).await.unwrap();
    }
    let original = assert_chain_holds(&writer, 2_500).await;
    writer.close().await;
    drop(writer);

    for from in [1, 1_234] {
        forget_hashes(db, backend, from).await;
        assert_eq!(recorded_hashes(db, backend).await, from - 1);

        let migrated = db.store(StoreOptions::default()).await.unwrap();
        assert_eq!(assert_chain_holds(&migrated, 2_500).await, original);
        migrated.append(&[event(9_999, &["s"])], &[]).await.unwrap();
        let extended = assert_chain_holds(&migrated, 2_501).await;
        assert_eq!(extended[..2_500], original[..]);
        migrated.close().await;
        drop(migrated);
        // The next round starts from the 2,500 events again.
        forget_hashes(db, backend, 2_501).await;
        delete_last_event(db, backend).await;
    }
}

/// How many positions have a recorded hash, counted in SQL (a store would
/// hash the log as it opens).
async fn recorded_hashes(db: &TestDatabase, backend: Backend) -> u64 {
    let count: i64 = match backend {
        Backend::Postgres => {
            let mut connection = sqlx::PgConnection::connect(db.url()).await.unwrap();
            sqlx::query_scalar("SELECT count(*) FROM event_hashes")
                .fetch_one(&mut connection)
                .await
                .unwrap()
        }
        Backend::Sqlite => {
            let mut connection = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
            sqlx::query_scalar("SELECT count(*) FROM events WHERE hash IS NOT NULL")
                .fetch_one(&mut connection)
                .await
                .unwrap()
        }
    };
    count as u64
}

/// Removes the event appended after the original 2,500 (with its stream links).
async fn delete_last_event(db: &TestDatabase, backend: Backend) {
    let id = uuid::Uuid::from(Ulid::from(0x0191_0000_0000_0000_0000_0000_0000_0000_u128 + 9_999));
    match backend {
        Backend::Postgres => {
            let mut connection = sqlx::PgConnection::connect(db.url()).await.unwrap();
            sqlx::query("DELETE FROM events WHERE event_id = $1")
                .bind(id)
                .execute(&mut connection)
                .await
                .unwrap();
            // The segment that numbered it goes too: 2,500 events are numbered again.
            sqlx::query("DELETE FROM log_segments WHERE first_position > 2500")
                .execute(&mut connection)
                .await
                .unwrap();
            connection.close().await.unwrap();
        }
        Backend::Sqlite => {
            let mut connection = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
            sqlx::query("DELETE FROM stream_events WHERE position > 2500")
                .execute(&mut connection)
                .await
                .unwrap();
            sqlx::query("DELETE FROM events WHERE position > 2500")
                .execute(&mut connection)
                .await
                .unwrap();
            connection.close().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_backends_give_the_same_hashes_for_the_same_events() {
    let mut heads = Vec::new();
    let mut chains = Vec::new();
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let db = TestDatabase::new(backend).await.unwrap();
        let store = db.store(StoreOptions::default()).await.unwrap();
        store.append(&[event(1, &["z", "a"])], &[]).await.unwrap();
        let batch: Vec<NewEvent> = (2..50).map(|n| event(n, &["b"])).collect();
        store.append(&batch, &[]).await.unwrap();
        let mixed: Vec<NewEvent> = (50..80).map(|n| event(n, &["c", "b", "Ä"])).collect();
        store.append(&mixed, &[]).await.unwrap();
        chains.push(assert_chain_holds(&store, 79).await);
        heads.push(store.chain_head().await.unwrap());
        store.close().await;
    }
    assert_eq!(chains[0], chains[1]);
    assert_eq!(heads[0], heads[1]);
    assert_eq!(heads[0].position, 79);
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = super::TestDatabase::new(super::Backend::Postgres).await.expect("Postgres for tests");
                    super::$case(&db).await;
                }
            )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn a_log_from_before_the_chain_is_hashed_on_migrate() {
                let db = super::TestDatabase::new(super::Backend::Postgres).await.expect("Postgres for tests");
                super::a_log_from_before_the_chain_is_hashed_on_migrate(&db, super::Backend::Postgres).await;
            }
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = super::TestDatabase::new(super::Backend::Sqlite).await.unwrap();
                    super::$case(&db).await;
                }
            )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn a_log_from_before_the_chain_is_hashed_on_migrate() {
                let db = super::TestDatabase::new(super::Backend::Sqlite).await.unwrap();
                super::a_log_from_before_the_chain_is_hashed_on_migrate(&db, super::Backend::Sqlite).await;
            }
        }
    };
}

on_both_backends!(
    every_event_is_chained_to_its_predecessor,
    two_processes_extend_one_chain,
    out_of_order_commits_are_chained_in_log_order,
    the_chain_covers_events_as_stored_not_as_upcast,
);
