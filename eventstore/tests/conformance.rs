//! The event store contract, checked on both backends. Every case is a plain
//! async function over an `EventStore`; the macro at the bottom runs each one
//! once on a fresh Postgres database and once on a fresh SQLite file.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;
use terminagent_eventstore::testing::{TestDatabase, UncommittedAppend};
use terminagent_eventstore::{
    AppendError, Backend, Condition, EventStore, ExpectedVersion, MailClaim, NewEvent, Opened, StoreOptions, Upcasters,
};
use ulid::Ulid;

fn event(streams: &[&str], data: serde_json::Value) -> NewEvent {
    NewEvent {
        event_id: Ulid::new(),
        event_type: "test.happened".into(),
        schema_version: 1,
        streams: streams.iter().map(|s| s.to_string()).collect(),
        recorded_at: Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap(),
        correlation_id: Some(Ulid::new()),
        causation_id: None,
        actor: Some("operator".into()),
        data,
    }
}

/// Everything readable once every committed event is numbered.
async fn read_everything(store: &EventStore) -> Vec<terminagent_eventstore::LogEvent> {
    store.catch_up().await.unwrap();
    read_readable(store).await
}

/// Everything readable now, without waiting for running writers.
async fn read_readable(store: &EventStore) -> Vec<terminagent_eventstore::LogEvent> {
    store.sequence_ready().await.unwrap();
    let mut all = Vec::new();
    loop {
        let page = store
            .read_all(
                all.last().map_or(0, |e: &terminagent_eventstore::LogEvent| e.position),
                333,
            )
            .await
            .unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

fn assert_dense(events: &[terminagent_eventstore::LogEvent]) {
    for (index, event) in events.iter().enumerate() {
        assert_eq!(
            event.position,
            index as u64 + 1,
            "positions must be 1, 2, 3, … without gaps"
        );
    }
}

async fn append_then_read_back_from_stream_and_log(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let first = event(&["office:a"], json!({"n": 1}));
    let second = event(&["office:a", "office-day:a:2026-12-01"], json!({"n": 2}));
    let outcome = store.append(&[first.clone(), second.clone()], &[]).await.unwrap();
    assert_eq!(
        outcome.stream_versions,
        vec![("office-day:a:2026-12-01".into(), 1), ("office:a".into(), 2)]
    );
    assert!(!outcome.already_appended);

    let stream = store.read_stream("office:a", 0).await.unwrap();
    assert_eq!(stream.iter().map(|e| e.version).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(stream[0].event.event_id, first.event_id);
    assert_eq!(stream[1].event.data.to_value(), json!({"n": 2}));
    assert_eq!(
        stream[1].event.streams,
        vec!["office-day:a:2026-12-01".to_string(), "office:a".to_string()]
    );
    assert_eq!(stream[1].event.recorded_at, second.recorded_at);
    assert_eq!(stream[1].event.correlation_id, second.correlation_id);
    assert_eq!(store.read_stream("office:a", 1).await.unwrap().len(), 1);
    assert_eq!(
        store.read_stream("office-day:a:2026-12-01", 0).await.unwrap()[0].version,
        1
    );
    assert_eq!(store.stream_version("office:a").await.unwrap(), 2);
    assert_eq!(store.stream_version("nobody").await.unwrap(), 0);
    let several = store
        .read_streams(&[
            ("nobody", 0),
            ("office:a", 1),
            ("office-day:a:2026-12-01", 0),
            ("office:a", 0),
        ])
        .await
        .unwrap();
    let versions: Vec<Vec<u64>> = several
        .iter()
        .map(|events| events.iter().map(|e| e.version).collect())
        .collect();
    assert_eq!(
        versions,
        vec![vec![], vec![2], vec![1], vec![1, 2]],
        "several at once, in the order asked"
    );
    assert_eq!(
        several[2][0].event, stream[1].event,
        "an event read through its second stream is whole"
    );

    let log = read_everything(&store).await;
    assert_dense(&log);
    assert_eq!(
        log.iter().map(|e| e.event.event_id).collect::<Vec<_>>(),
        vec![first.event_id, second.event_id]
    );
    assert_eq!(store.head().await.unwrap(), 2);
    assert_eq!(store.read_all(1, 10).await.unwrap().len(), 1);
    assert!(store.read_all(2, 10).await.unwrap().is_empty());
}

/// The audit API reads from any position: every page must be the same slice
/// of the log, wherever it starts (several sequencer runs make several segments).
async fn reading_from_any_position_gives_the_same_slice(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    for round in 0..3 {
        let batch: Vec<NewEvent> = (0..7)
            .map(|n| event(&["slices"], json!({ "round": round, "n": n })))
            .collect();
        store.append(&batch, &[]).await.unwrap();
        store
            .append(&[event(&["other"], json!({ "round": round }))], &[])
            .await
            .unwrap();
        store.catch_up().await.unwrap();
    }
    let everything = read_everything(&store).await;
    assert_eq!(everything.len(), 24);
    assert_dense(&everything);
    for after in 0..=24u64 {
        for limit in [1, 3, 10, 100] {
            let page = store.read_all(after, limit).await.unwrap();
            let expected: Vec<_> = everything.iter().skip(after as usize).take(limit).cloned().collect();
            assert_eq!(page, expected, "read_all({after}, {limit})");
        }
    }
    assert!(
        store.read_all(1000, 10).await.unwrap().is_empty(),
        "beyond the head: nothing"
    );
}

async fn failed_condition_appends_nothing_and_names_the_stream(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    store
        .append(
            &[event(&["unit:x"], json!({}))],
            &[Condition::new("unit:x", ExpectedVersion::NoStream)],
        )
        .await
        .unwrap();

    let batch = [event(&["unit:y"], json!({})), event(&["unit:x", "unit:y"], json!({}))];
    let conditions = [
        Condition::new("unit:y", ExpectedVersion::NoStream),
        Condition::new("unit:x", ExpectedVersion::NoStream),
    ];
    match store.append(&batch, &conditions).await {
        Err(AppendError::Conflict(conflict)) => {
            assert_eq!(conflict.stream, "unit:x");
            assert_eq!((conflict.expected, conflict.actual), (0, 1));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        store.stream_version("unit:y").await.unwrap(),
        0,
        "nothing of the batch is written"
    );
    assert_eq!(read_everything(&store).await.len(), 1);

    // Expecting a version the stream has not reached is a conflict too (no gaps in versions).
    let ahead = store
        .append(
            &[event(&["unit:x"], json!({}))],
            &[Condition::new("unit:x", ExpectedVersion::Exact(5))],
        )
        .await;
    assert!(matches!(ahead, Err(AppendError::Conflict(c)) if c.actual == 1 && c.expected == 5));

    let ok = store
        .append(&batch, &[Condition::new("unit:x", ExpectedVersion::Exact(1))])
        .await
        .unwrap();
    assert_eq!(ok.version_of("unit:x"), Some(2));
    assert_eq!(ok.version_of("unit:y"), Some(2));

    // A batch wholly in one stream (a statement of its own on Postgres).
    let import = [event(&["unit:x"], json!({"n": 1})), event(&["unit:x"], json!({"n": 2}))];
    let stale = store
        .append(&import, &[Condition::new("unit:x", ExpectedVersion::Exact(1))])
        .await;
    assert!(matches!(stale, Err(AppendError::Conflict(c)) if c.stream == "unit:x" && c.actual == 2 && c.expected == 1));
    assert_eq!(
        store.stream_version("unit:x").await.unwrap(),
        2,
        "nothing of the batch is written"
    );
    let imported = store
        .append(&import, &[Condition::new("unit:x", ExpectedVersion::Exact(2))])
        .await
        .unwrap();
    assert_eq!(imported.stream_versions, vec![("unit:x".to_owned(), 4)]);
    let stream = store.read_stream("unit:x", 2).await.unwrap();
    let numbers: Vec<_> = stream
        .iter()
        .map(|e| (e.version, e.event.data.to_value()["n"].clone()))
        .collect();
    assert_eq!(
        numbers,
        vec![(3, json!(1)), (4, json!(2))],
        "versions follow the batch order"
    );
}

async fn retried_append_is_not_stored_twice(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let batch = [event(&["wish:1"], json!({"a": 1})), event(&["wish:1"], json!({"a": 2}))];
    let conditions = [Condition::new("wish:1", ExpectedVersion::NoStream)];
    let first = store.append(&batch, &conditions).await.unwrap();
    let again = store.append(&batch, &conditions).await.unwrap();
    assert!(again.already_appended);
    assert_eq!(again.stream_versions, first.stream_versions);
    assert_eq!(read_everything(&store).await.len(), 2);

    let mixed = [batch[0].clone(), event(&["wish:1"], json!({}))];
    assert!(matches!(store.append(&mixed, &[]).await, Err(AppendError::Invalid(_))));
    assert_eq!(read_everything(&store).await.len(), 2);

    // Without a condition the retry is found by its event ids alone: one
    // event in one stream, and one event in several.
    for streams in [&["audit"][..], &["booking:2", "unit:x", "citizen:c"][..]] {
        let single = [event(streams, json!({}))];
        let first = store.append(&single, &[]).await.unwrap();
        let again = store.append(&single, &[]).await.unwrap();
        assert!(again.already_appended, "{streams:?}");
        assert_eq!(again.stream_versions, first.stream_versions, "{streams:?}");
    }
    assert_eq!(read_everything(&store).await.len(), 4);
    assert_eq!(store.read_stream("unit:x", 0).await.unwrap().len(), 1);
}

async fn invalid_batches_are_refused(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    assert!(matches!(store.append(&[], &[]).await, Err(AppendError::Invalid(_))));
    let lonely = [event(&["a"], json!({}))];
    let elsewhere = [Condition::new("b", ExpectedVersion::NoStream)];
    assert!(matches!(
        store.append(&lonely, &elsewhere).await,
        Err(AppendError::Invalid(_))
    ));
    let twice = [lonely[0].clone(), lonely[0].clone()];
    assert!(matches!(store.append(&twice, &[]).await, Err(AppendError::Invalid(_))));
    let long_name = "s".repeat(201);
    assert!(matches!(
        store.append(&[event(&[&long_name], json!({}))], &[]).await,
        Err(AppendError::Invalid(_))
    ));
    assert_eq!(read_everything(&store).await.len(), 0);
}

/// Invariant 1's foundation: 64 racers at one expected version, one winner.
async fn sixty_four_racers_on_one_stream_one_wins(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    store
        .append(&[event(&["unit:hot"], json!({"published": true}))], &[])
        .await
        .unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(64));
    let racers: Vec<_> = (0..64)
        .map(|racer| {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                store
                    .append(
                        &[event(
                            &["unit:hot", &format!("booking:{racer}")],
                            json!({ "racer": racer }),
                        )],
                        &[Condition::new("unit:hot", ExpectedVersion::Exact(1))],
                    )
                    .await
            })
        })
        .collect();
    let (mut wins, mut conflicts) = (0, 0);
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => wins += 1,
            Err(AppendError::Conflict(conflict)) => {
                assert_eq!(
                    (conflict.stream.as_str(), conflict.expected, conflict.actual),
                    ("unit:hot", 1, 2)
                );
                conflicts += 1
            }
            Err(other) => panic!("a racer failed with {other}"),
        }
    }
    assert_eq!((wins, conflicts), (1, 63));
    assert_eq!(store.stream_version("unit:hot").await.unwrap(), 2);
    assert_eq!(read_everything(&store).await.len(), 2, "losers wrote nothing");
}

/// Contention only per stream: racers on distinct streams all win.
async fn racers_on_distinct_streams_all_win(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let racers: Vec<_> = (0..64)
        .map(|unit| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = format!("unit:{unit}");
                store
                    .append(
                        &[event(&[&stream], json!({}))],
                        &[Condition::new(&stream, ExpectedVersion::NoStream)],
                    )
                    .await
            })
        })
        .collect();
    for racer in racers {
        racer.await.unwrap().unwrap();
    }
    assert_dense(&read_everything(&store).await);
}

/// Appends without a condition never conflict; versions stay dense.
async fn unconditioned_appends_to_one_stream_all_land(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let writers: Vec<_> = (0..64)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.append(&[event(&["audit"], json!({}))], &[]).await })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let versions: Vec<u64> = store
        .read_stream("audit", 0)
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, (1..=64).collect::<Vec<_>>());
}

/// Invariant 2: a writer that inserted first but commits last is not skipped
/// by a reader that read in between.
async fn reader_never_skips_events_of_out_of_order_commits(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let early = event(&["a"], json!({"who": "slow writer"}));
    let late = event(&["b"], json!({"who": "fast writer"}));

    let mut slow = UncommittedAppend::begin(&store, db.url()).await.unwrap();
    slow.append(std::slice::from_ref(&early)).await.unwrap();
    // The fast writer commits while the slow one is open (on SQLite it waits for the lock).
    let fast = {
        let (store, late) = (store.clone(), late.clone());
        tokio::spawn(async move { store.append(&[late], &[]).await })
    };
    if store.backend() == Backend::Postgres {
        wait_until_finished(&fast, "the fast writer commits while the slow one is open").await;
    } else {
        // A negative: the fast writer must still be waiting after a while;
        // no event says "still waiting", so this one stays a sleep.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!fast.is_finished(), "SQLite admits one writer: the fast one waits");
    }
    let mut seen = read_readable(&store).await;
    assert!(
        seen.is_empty(),
        "nothing is readable past the open writer's event: {seen:?}"
    );
    slow.commit().await.unwrap();
    fast.await.unwrap().unwrap();
    store.catch_up().await.unwrap();
    let after = seen.last().map_or(0, |e| e.position);
    seen.extend(store.read_all(after, 100).await.unwrap());

    assert_dense(&seen);
    let ids: Vec<Ulid> = seen.iter().map(|e| e.event.event_id).collect();
    assert_eq!(ids.len(), 2, "the reader saw every event exactly once: {ids:?}");
    assert!(ids.contains(&early.event_id) && ids.contains(&late.event_id));
    assert_eq!(
        read_everything(&store).await,
        seen,
        "a fresh reader sees the same order"
    );
}

/// Waits (up to 10 s) until `task` has finished; panics saying `what` otherwise.
async fn wait_until_finished<T>(task: &tokio::task::JoinHandle<T>, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !task.is_finished() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Contention only where streams meet: while an append to one stream is
/// open, an append to another lands at once (on Postgres; SQLite admits one
/// writer at a time), and one to the same stream waits for it and then
/// meets its condition's conflict.
async fn an_open_append_holds_up_only_appends_to_its_streams(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let mut open = UncommittedAppend::begin(&store, db.url()).await.unwrap();
    open.append(&[event(&["unit:a"], json!({}))]).await.unwrap();

    let elsewhere = {
        let store = store.clone();
        tokio::spawn(async move {
            let stream = [Condition::new("unit:b", ExpectedVersion::NoStream)];
            store.append(&[event(&["unit:b"], json!({}))], &stream).await
        })
    };
    let same = {
        let store = store.clone();
        tokio::spawn(async move {
            let stream = [Condition::new("unit:a", ExpectedVersion::NoStream)];
            store.append(&[event(&["unit:a"], json!({}))], &stream).await
        })
    };
    if store.backend() == Backend::Postgres {
        wait_until_finished(&elsewhere, "an append to another stream does not wait").await;
        // A negative (still waiting after a while): a sleep by nature.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !same.is_finished(),
            "an append to the same stream waits for the open one"
        );
    }
    open.commit().await.unwrap();
    elsewhere.await.unwrap().unwrap();
    match same.await.unwrap() {
        Err(AppendError::Conflict(conflict)) => {
            assert_eq!((conflict.stream.as_str(), conflict.actual), ("unit:a", 1));
        }
        other => panic!("expected a conflict on unit:a, got {other:?}"),
    }
    assert_eq!(read_everything(&store).await.len(), 2);
}

/// A subscriber follows what another process appends (Postgres: that
/// process's sequencer announces the new head; SQLite: readers poll the file).
async fn a_subscriber_follows_appends_of_another_process(db: &TestDatabase) {
    let follower = db.store(StoreOptions::default()).await.unwrap();
    let other = db.store(StoreOptions::default()).await.unwrap();
    let mut subscription = follower.subscribe(0);
    // The subscriber says when it has read the first event: from then on
    // it waits at the head, so the next appends reach it live.
    let (following, mut at_head) = tokio::sync::oneshot::channel();
    let live = tokio::spawn(async move {
        let mut seen = vec![subscription.next().await.unwrap()];
        following.send(()).unwrap();
        while seen.len() < 3 {
            seen.push(subscription.next().await.unwrap());
        }
        seen
    });
    other
        .append(&[event(&["elsewhere"], json!({ "n": 0 }))], &[])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), &mut at_head)
        .await
        .expect("the subscriber reads the first append")
        .unwrap();
    for n in 1..3 {
        other
            .append(&[event(&["elsewhere"], json!({ "n": n }))], &[])
            .await
            .unwrap();
    }
    let seen = tokio::time::timeout(Duration::from_secs(10), live)
        .await
        .expect("the other process's appends reach the subscriber")
        .unwrap();
    assert_dense(&seen);
    let ns: Vec<u64> = seen
        .iter()
        .map(|e| e.event.data.to_value()["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, [0, 1, 2]);
}

/// Invariant 2, the harder shape: the older transaction gets the *later*
/// sequence value. Ordering by sequence value alone would skip it.
async fn reader_never_skips_an_older_transaction_that_commits_last(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let mut old = UncommittedAppend::begin(&store, db.url()).await.unwrap();
    old.take_transaction_id().await.unwrap();
    let young = {
        let store = store.clone();
        tokio::spawn(async move { store.append(&[event(&["young"], json!({}))], &[]).await })
    };
    // On SQLite the young writer waits for the lock, so the append order is
    // simply serial; on Postgres the old transaction inserts after the young one committed.
    if store.backend() == Backend::Postgres {
        wait_until_finished(&young, "the young writer commits while the old one is open").await;
    }
    let first_read = read_readable(&store).await;
    let old_event = event(&["old"], json!({}));
    old.append(std::slice::from_ref(&old_event)).await.unwrap();
    let second_read = read_readable(&store).await;
    assert!(second_read.len() <= first_read.len() + 1);
    old.commit().await.unwrap();
    young.await.unwrap().unwrap();
    let everything = read_everything(&store).await;
    assert_dense(&everything);
    assert_eq!(everything.len(), 2);
    // Whatever a reader saw earlier is a prefix of the final log: nothing was skipped.
    assert_eq!(&everything[..first_read.len()], &first_read[..]);
    assert_eq!(&everything[..second_read.len()], &second_read[..]);
}

/// Postgres only: on SQLite, with one writer at a time, nothing commits
/// behind an open transaction and positions need no sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_catch_up_covers_what_another_sweep_numbered() {
    let db = TestDatabase::new(Backend::Postgres).await.expect("Postgres for tests");
    catch_up_covers_what_another_sweep_numbered(&db).await;
}

/// Read-your-writes: the head `catch_up` returns covers every event
/// committed before it began, also when another process's sweep numbers
/// them meanwhile (here: a second store sweeping in a loop, while an older
/// transaction holds the events back until moments later).
async fn catch_up_covers_what_another_sweep_numbered(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();

    let other = db.store(StoreOptions::default()).await.unwrap();
    let sweeping = tokio::spawn(async move {
        loop {
            other.catch_up().await.unwrap();
        }
    });
    for round in 0..30 {
        let mut old = UncommittedAppend::begin(&store, db.url()).await.unwrap();
        old.take_transaction_id().await.unwrap();
        let young = {
            let store = store.clone();
            tokio::spawn(async move { store.append(&[event(&["young"], json!({ "round": round }))], &[]).await })
        };
        wait_until_finished(&young, "the young writer commits while the old one is open").await;
        let catching = {
            let store = store.clone();
            tokio::spawn(async move { store.catch_up().await })
        };
        tokio::time::sleep(Duration::from_millis(3)).await;
        old.append(&[event(&["old"], json!({ "round": round }))]).await.unwrap();
        old.commit().await.unwrap();
        young.await.unwrap().unwrap();
        let head = catching.await.unwrap().unwrap();
        let young_position = read_everything(&store)
            .await
            .iter()
            .find(|e| e.event.streams == ["young"] && e.event.data.to_value()["round"] == round)
            .map(|e| e.position)
            .unwrap();
        assert!(
            head >= young_position,
            "round {round}: head {head} stops short of {young_position}"
        );
    }
    sweeping.abort();
}

/// Invariant 2 under load: 8 writers × 5,000 events, one live subscriber.
async fn subscriber_sees_each_event_of_eight_concurrent_writers_exactly_once(db: &TestDatabase) {
    const WRITERS: usize = 8;
    const EVENTS_PER_WRITER: usize = 5_000;
    let store = db.store(StoreOptions::default()).await.unwrap();
    let mut subscription = store.subscribe(0);
    let follower = tokio::spawn(async move {
        let mut seen = Vec::with_capacity(WRITERS * EVENTS_PER_WRITER);
        while seen.len() < WRITERS * EVENTS_PER_WRITER {
            let event = tokio::time::timeout(Duration::from_secs(30), subscription.next())
                .await
                .expect("no stall")
                .unwrap();
            seen.push(event);
        }
        (seen, subscription)
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = format!("writer:{writer}");
                for n in 0..EVENTS_PER_WRITER {
                    store
                        .append(&[event(&[&stream], json!({ "n": n }))], &[])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let (seen, mut subscription) = follower.await.unwrap();
    assert_dense(&seen);
    let unique: HashSet<Ulid> = seen.iter().map(|e| e.event.event_id).collect();
    assert_eq!(unique.len(), WRITERS * EVENTS_PER_WRITER);
    // Each writer's own events arrive in the order it wrote them.
    for writer in 0..WRITERS {
        let stream = format!("writer:{writer}");
        let ns: Vec<u64> = seen
            .iter()
            .filter(|e| e.event.streams[0] == stream)
            .map(|e| e.event.data.to_value()["n"].as_u64().unwrap())
            .collect();
        assert_eq!(ns, (0..EVENTS_PER_WRITER as u64).collect::<Vec<_>>());
    }
    assert_eq!(
        subscription.try_next().await.unwrap(),
        None,
        "nothing beyond what was written"
    );
}

async fn subscription_resumes_from_its_checkpoint(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    for n in 0..5 {
        store.append(&[event(&["s"], json!({ "n": n }))], &[]).await.unwrap();
    }
    let mut subscription = store.subscribe(0);
    for _ in 0..3 {
        subscription.next().await.unwrap();
    }
    let checkpoint = subscription.position();
    assert_eq!(checkpoint, 3);
    let mut resumed = store.subscribe(checkpoint);
    // It says when it has read what was there: the next append must wake it.
    let (caught_up, mut read_both) = tokio::sync::oneshot::channel();
    let live = tokio::spawn(async move {
        let mut caught_up = Some(caught_up);
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(
                resumed.next().await.unwrap().event.data.to_value()["n"]
                    .as_u64()
                    .unwrap(),
            );
            if got.len() == 2 {
                caught_up.take().map(|tell| tell.send(()));
            }
        }
        got
    });
    tokio::time::timeout(Duration::from_secs(10), &mut read_both)
        .await
        .expect("the resumed subscription reads the events after its checkpoint")
        .unwrap();
    store.append(&[event(&["s"], json!({ "n": 5 }))], &[]).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), live)
        .await
        .expect("woken by the append")
        .unwrap();
    assert_eq!(got, vec![3, 4, 5]);
}

async fn events_survive_closing_and_reopening(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let batch: Vec<NewEvent> = (0..10).map(|n| event(&["durable"], json!({ "n": n }))).collect();
    store.append(&batch, &[]).await.unwrap();
    let before = read_everything(&store).await;
    store.close().await;
    drop(store);

    let reopened = db.store(StoreOptions::default()).await.unwrap();
    assert_eq!(read_everything(&reopened).await, before);
    assert_eq!(reopened.stream_version("durable").await.unwrap(), 10);
    let next = reopened
        .append(
            &[event(&["durable"], json!({}))],
            &[Condition::new("durable", ExpectedVersion::Exact(10))],
        )
        .await;
    assert_eq!(next.unwrap().version_of("durable"), Some(11));
}

async fn old_event_shapes_are_upcast_on_read(db: &TestDatabase) {
    let writer = db.store(StoreOptions::default()).await.unwrap();
    let mut old = event(&["office:a"], json!({"title": "Stadtmitte"}));
    old.event_type = "office.registered".into();
    writer.append(&[old.clone()], &[]).await.unwrap();
    writer.catch_up().await.unwrap();

    fn v1_to_v2(mut data: serde_json::Value) -> Result<serde_json::Value, String> {
        let title = data.as_object_mut().and_then(|o| o.remove("title")).ok_or("no title")?;
        data["name"] = title;
        Ok(data)
    }
    fn v2_to_v3(mut data: serde_json::Value) -> Result<serde_json::Value, String> {
        data["timezone"] = json!("Europe/Berlin");
        Ok(data)
    }
    let upcasters = Upcasters::new()
        .with("office.registered", 1, v1_to_v2)
        .with("office.registered", 2, v2_to_v3);
    let reader = db
        .store(StoreOptions {
            upcasters,
            ..StoreOptions::default()
        })
        .await
        .unwrap();
    let from_stream = &reader.read_stream("office:a", 0).await.unwrap()[0].event;
    assert_eq!(from_stream.schema_version, 3);
    assert_eq!(
        from_stream.data.to_value(),
        json!({"name": "Stadtmitte", "timezone": "Europe/Berlin"})
    );
    let from_log = &reader.read_all(0, 10).await.unwrap()[0].event;
    assert_eq!(from_log, from_stream);
    let together = reader.read_streams(&[("office:a", 0), ("office:b", 0)]).await.unwrap();
    assert_eq!(&together[0][0].event, from_stream, "decisions read upcast events too");
    assert!(together[1].is_empty());
    // Other types and the stored bytes are untouched.
    assert_eq!(
        writer.read_all(0, 10).await.unwrap()[0].event.data.to_value(),
        json!({"title": "Stadtmitte"})
    );
}

async fn erased_personal_data_is_gone_but_the_log_replays(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let vault = store.vault();
    let citizen = Ulid::new();
    let personal = json!({"name": "Erika Mustermann", "email": "erika@example.org"});
    let sealed = vault.seal(citizen, &personal).await.unwrap();
    let sealed_json = serde_json::to_value(&sealed).unwrap();
    assert!(!sealed_json.to_string().contains("Erika"), "the envelope is encrypted");
    store
        .append(&[event(&["booking:1"], json!({ "citizen": sealed_json }))], &[])
        .await
        .unwrap();

    let stored: terminagent_eventstore::SealedEnvelope =
        serde_json::from_value(read_everything(&store).await[0].event.data.to_value()["citizen"].clone()).unwrap();
    assert_eq!(
        vault.open::<serde_json::Value>(&stored).await.unwrap(),
        Opened::Readable(personal)
    );

    let mut tampered = stored.clone();
    tampered
        .ciphertext
        .replace_range(0..2, if &tampered.ciphertext[0..2] == "00" { "01" } else { "00" });
    assert!(
        vault.open::<serde_json::Value>(&tampered).await.is_err(),
        "tampering is detected"
    );

    assert!(vault.erase(citizen).await.unwrap());
    assert!(!vault.erase(citizen).await.unwrap(), "erasing twice is harmless");
    assert_eq!(vault.open::<serde_json::Value>(&stored).await.unwrap(), Opened::Erased);
    let replayed = read_everything(&store).await;
    assert_eq!(replayed.len(), 1, "the log still replays in full");
    assert_eq!(
        replayed[0].event.data.to_value()["citizen"],
        serde_json::to_value(&stored).unwrap()
    );

    // Another citizen's data is unaffected.
    let other = vault.seal(Ulid::new(), &json!("still here")).await.unwrap();
    assert_eq!(
        vault.open::<serde_json::Value>(&other).await.unwrap(),
        Opened::Readable(json!("still here"))
    );
}

/// Decisions about "the same citizen" need their envelope by e-mail address;
/// erasure must cut that link too.
async fn a_citizen_keeps_one_envelope_until_erased(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let vault = store.vault();
    let erika = vault.envelope_for("erika@example.org", Ulid::new()).await.unwrap();
    assert_eq!(
        vault.envelope_for("erika@example.org", Ulid::new()).await.unwrap(),
        erika,
        "same address, same envelope"
    );
    let max = vault.envelope_for("max@example.org", Ulid::new()).await.unwrap();
    assert_ne!(max, erika);

    // Two first requests of one citizen at once agree on one envelope.
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let vault = vault.clone();
            tokio::spawn(async move { vault.envelope_for("new@example.org", Ulid::new()).await.unwrap() })
        })
        .collect();
    let mut seen = HashSet::new();
    for racer in racers {
        seen.insert(racer.await.unwrap());
    }
    assert_eq!(seen.len(), 1);

    let sealed = vault.seal(erika, &json!({"name": "Erika"})).await.unwrap();
    assert!(vault.erase(erika).await.unwrap());
    assert_eq!(vault.open::<serde_json::Value>(&sealed).await.unwrap(), Opened::Erased);
    let after = vault.envelope_for("erika@example.org", Ulid::new()).await.unwrap();
    assert_ne!(
        after, erika,
        "after erasure the address leads to a new, unrelated envelope"
    );
    assert_eq!(
        vault.envelope_for("max@example.org", Ulid::new()).await.unwrap(),
        max,
        "others are untouched"
    );
}

/// Sealing by e-mail address finds or makes the same envelope as
/// `envelope_for`; racing first seals of one citizen share envelope and key.
async fn sealing_by_address_uses_the_citizens_one_envelope(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let vault = store.vault();
    let erika = json!("Erika");
    let seal_erika = || vault.seal_for_citizen("erika@example.org", Ulid::new(), &erika);
    let known = vault.envelope_for("erika@example.org", Ulid::new()).await.unwrap();
    let sealed = seal_erika().await.unwrap();
    assert_eq!(sealed.envelope_id, known, "a returning citizen keeps the envelope");
    assert_eq!(vault.open(&sealed).await.unwrap(), Opened::Readable(json!("Erika")));

    let racers: Vec<_> = (0..16)
        .map(|n| {
            let vault = vault.clone();
            tokio::spawn(async move {
                vault
                    .seal_for_citizen("new@example.org", Ulid::new(), &json!(n))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut envelopes = HashSet::new();
    for (n, racer) in racers.into_iter().enumerate() {
        let sealed = racer.await.unwrap();
        envelopes.insert(sealed.envelope_id);
        assert_eq!(
            vault.open(&sealed).await.unwrap(),
            Opened::Readable(json!(n)),
            "every racer sealed with the one key that stayed"
        );
    }
    assert_eq!(envelopes.len(), 1);
    let new = *envelopes.iter().next().unwrap();
    assert_eq!(vault.envelope_for("new@example.org", Ulid::new()).await.unwrap(), new);

    assert!(vault.erase(known).await.unwrap());
    assert_eq!(vault.open::<serde_json::Value>(&sealed).await.unwrap(), Opened::Erased);
    let again = seal_erika().await.unwrap();
    assert_ne!(again.envelope_id, known, "after erasure a new, unrelated envelope");
    assert_eq!(vault.open(&again).await.unwrap(), Opened::Readable(json!("Erika")));
}

async fn installation_secrets_are_made_once(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let first = store.vault().installation_secret("mail-links").await.unwrap();
    let reopened = db.store(StoreOptions::default()).await.unwrap();
    assert_eq!(
        reopened.vault().installation_secret("mail-links").await.unwrap(),
        first,
        "stable across processes"
    );
    assert_ne!(store.vault().installation_secret("other").await.unwrap(), first);
    assert_ne!(first, [0u8; 32]);
}

async fn consumer_checkpoints_survive_and_never_move_back(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let progress = store.progress();
    assert_eq!(
        progress.checkpoint("mail-relay").await.unwrap(),
        0,
        "nothing processed yet"
    );
    progress.save_checkpoint("mail-relay", 40).await.unwrap();
    progress.save_checkpoint("mail-relay", 17).await.unwrap();
    progress.save_checkpoint("matcher", 3).await.unwrap();
    let reopened = db.store(StoreOptions::default()).await.unwrap().progress();
    assert_eq!(
        reopened.checkpoint("mail-relay").await.unwrap(),
        40,
        "a slower twin cannot move it back"
    );
    assert_eq!(
        reopened.checkpoint("matcher").await.unwrap(),
        3,
        "consumers are independent"
    );
}

async fn consumer_snapshots_are_replaced_only_by_newer_ones(db: &TestDatabase) {
    use chrono::{SubsecRound, Utc};
    use terminagent_eventstore::Snapshot;
    let store = db.store(StoreOptions::default()).await.unwrap();
    let progress = store.progress();
    assert_eq!(progress.snapshot("matcher").await.unwrap(), None);
    let taken_at = Utc::now().trunc_subsecs(3);
    let at = |position: u64, data: Vec<u8>| Snapshot {
        position,
        format: "waitlist/1".into(),
        taken_at,
        data,
    };
    // Large and binary, as a real waitlist is.
    let big: Vec<u8> = (0..3_000_000u32).map(|n| (n % 251) as u8).collect();
    progress.save_snapshot("matcher", &at(10, big.clone())).await.unwrap();
    progress.save_snapshot("matcher", &at(7, vec![1, 2, 3])).await.unwrap();
    let reopened = db.store(StoreOptions::default()).await.unwrap().progress();
    assert_eq!(
        reopened.snapshot("matcher").await.unwrap(),
        Some(at(10, big)),
        "an older snapshot does not replace a newer one"
    );
    reopened.save_snapshot("matcher", &at(12, vec![0, 255])).await.unwrap();
    assert_eq!(reopened.snapshot("matcher").await.unwrap(), Some(at(12, vec![0, 255])));
    assert_eq!(reopened.snapshot("other").await.unwrap(), None);
}

async fn a_lease_has_one_owner_until_it_expires(db: &TestDatabase) {
    use chrono::{Duration, Utc};
    let store = db.store(StoreOptions::default()).await.unwrap();
    let leases = store.progress();
    let now = Utc::now();
    let until = now + Duration::seconds(5);
    assert!(leases.hold_lease("office:walsum", "a", now, until).await.unwrap());
    assert!(
        !leases.hold_lease("office:walsum", "b", now, until).await.unwrap(),
        "a holds it"
    );
    assert!(
        leases.hold_lease("office:walsum", "a", now, until).await.unwrap(),
        "a renews it"
    );
    assert!(leases.hold_lease("office:hamborn", "b", now, until).await.unwrap());
    assert!(leases.hold_lease("member_x", "c", now, until).await.unwrap());
    assert_eq!(
        leases.live_leases("office:", now).await.unwrap(),
        vec![
            ("office:hamborn".into(), "b".into()),
            ("office:walsum".into(), "a".into())
        ]
    );
    assert!(
        leases.live_leases("member%", now).await.unwrap().is_empty(),
        "a prefix, not a pattern"
    );
    // a stops renewing: once expired, b may take it.
    let later = until + Duration::seconds(1);
    assert!(leases.live_leases("office:w", later).await.unwrap().is_empty());
    assert!(
        leases
            .hold_lease("office:walsum", "b", later, later + Duration::seconds(5))
            .await
            .unwrap()
    );
    leases.release_lease("office:walsum", "a").await.unwrap();
    assert_eq!(
        leases.live_leases("office:w", later).await.unwrap(),
        vec![("office:walsum".into(), "b".into())],
        "only the owner gives a lease up"
    );
    leases.release_lease("office:walsum", "b").await.unwrap();
    assert!(
        leases
            .hold_lease("office:walsum", "c", later, later + Duration::seconds(5))
            .await
            .unwrap()
    );
}

async fn a_mail_is_claimed_once_unless_its_sender_died(db: &TestDatabase) {
    use chrono::{Duration, Utc};
    let store = db.store(StoreOptions::default()).await.unwrap();
    let progress = store.progress();
    let key = Ulid::new().to_string();
    let now = Utc::now();
    let lease = Duration::minutes(5);
    // A live mailer: its incarnation beats for the whole test.
    progress
        .keep_incarnation("a", now, now + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(progress.mail_outcome(&key).await.unwrap(), None);
    assert_eq!(
        progress.claim_mail(&key, "a", now, now - lease).await.unwrap(),
        MailClaim::Ours
    );
    assert_eq!(
        progress.claim_mail(&key, "a", now, now - lease).await.unwrap(),
        MailClaim::Held,
        "a second mailer keeps its hands off a mail being sent, and knows it is not sent yet"
    );
    let later = now + Duration::minutes(6);
    assert_eq!(
        progress.claim_mail(&key, "a", later, later - lease).await.unwrap(),
        MailClaim::Ours,
        "a claim older than the lease is taken over"
    );
    progress.finish_mail(&key, "sent", later).await.unwrap();
    let much_later = later + Duration::hours(1);
    assert_eq!(
        progress
            .claim_mail(&key, "a", much_later, much_later - lease)
            .await
            .unwrap(),
        MailClaim::Finished,
        "a sent mail is never claimed again"
    );
    let reopened = db.store(StoreOptions::default()).await.unwrap().progress();
    assert_eq!(
        reopened.mail_outcome(&key).await.unwrap().as_deref(),
        Some("sent"),
        "the ledger is durable"
    );

    let failed = Ulid::new().to_string();
    assert_eq!(
        progress.claim_mail(&failed, "a", now, now - lease).await.unwrap(),
        MailClaim::Ours
    );
    progress.release_mail(&failed).await.unwrap();
    assert_eq!(
        progress.claim_mail(&failed, "a", now, now - lease).await.unwrap(),
        MailClaim::Ours,
        "a released claim is free at once"
    );
}

/// A claim names its mailer's incarnation: while that beats, the claim holds
/// for the whole lease; once it stops (the process was killed), the next
/// mailer takes the claim over at once, singly or together.
async fn a_dead_incarnations_claims_are_taken_over_at_once(db: &TestDatabase) {
    use chrono::Duration;
    let store = db.store(StoreOptions::default()).await.unwrap();
    let progress = store.progress();
    let now = chrono::Utc::now();
    let stale_before = now - Duration::minutes(5);
    let (one, two) = (Ulid::new().to_string(), Ulid::new().to_string());
    progress
        .keep_incarnation("dying", now, now + Duration::seconds(4))
        .await
        .unwrap();
    progress
        .keep_incarnation("next", now, now + Duration::days(1))
        .await
        .unwrap();
    for key in [&one, &two] {
        assert_eq!(
            progress.claim_mail(key, "dying", now, stale_before).await.unwrap(),
            MailClaim::Ours
        );
    }
    let beating = now + Duration::seconds(3);
    assert_eq!(
        progress
            .claim_mail(&one, "next", beating, beating - Duration::minutes(5))
            .await
            .unwrap(),
        MailClaim::Held,
        "a live incarnation's claim holds"
    );
    let lapsed = now + Duration::seconds(5);
    assert_eq!(
        progress
            .claim_mail(&one, "next", lapsed, lapsed - Duration::minutes(5))
            .await
            .unwrap(),
        MailClaim::Ours,
        "seconds after its heartbeat stopped, not minutes"
    );
    assert_eq!(
        progress
            .claim_mails(
                std::slice::from_ref(&two),
                "next",
                lapsed,
                lapsed - Duration::minutes(5)
            )
            .await
            .unwrap(),
        std::slice::from_ref(&two),
        "together as singly"
    );
    assert_eq!(
        progress
            .claim_mail(&one, "third", lapsed, lapsed - Duration::minutes(5))
            .await
            .unwrap(),
        MailClaim::Held,
        "taken over, the claim is the live one's"
    );
}

async fn racing_mailers_claim_a_mail_once(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let key = Ulid::new().to_string();
    let now = chrono::Utc::now();
    let racers = (0..16).map(|racer| {
        let progress = store.progress();
        let key = key.clone();
        tokio::spawn(async move {
            let racer = format!("racer-{racer}");
            progress
                .keep_incarnation(&racer, now, now + chrono::Duration::hours(1))
                .await
                .unwrap();
            progress
                .claim_mail(&key, &racer, now, now - chrono::Duration::minutes(5))
                .await
                .unwrap()
        })
    });
    let claims: Vec<MailClaim> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|claim| claim.unwrap())
        .collect();
    assert_eq!(claims.iter().filter(|claim| **claim == MailClaim::Ours).count(), 1);
    assert!(
        claims
            .iter()
            .all(|claim| matches!(claim, MailClaim::Ours | MailClaim::Held)),
        "{claims:?}"
    );
}

/// Claims for several mails at once: each mail is claimed once however
/// claims for it race, singly or together; finished mails stay claimed;
/// a stale claim (its mailer died) can be taken over.
async fn mails_claimed_together_are_claimed_once(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let progress = store.progress();
    let keys: Vec<String> = (0..6).map(|_| Ulid::new().to_string()).collect();
    let now = chrono::Utc::now();
    let stale_before = now - chrono::Duration::minutes(5);
    progress
        .keep_incarnation("a", now, now + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(
        progress.claim_mail(&keys[1], "a", now, stale_before).await.unwrap(),
        MailClaim::Ours
    );

    let racers = (0..8).map(|_| {
        let (progress, keys) = (store.progress(), keys.clone());
        tokio::spawn(async move { progress.claim_mails(&keys, "a", now, stale_before).await.unwrap() })
    });
    let mut claimed: Vec<String> = futures::future::join_all(racers)
        .await
        .into_iter()
        .flat_map(|claims| claims.unwrap())
        .collect();
    claimed.sort();
    let mut expected: Vec<String> = keys.iter().filter(|key| **key != keys[1]).cloned().collect();
    expected.sort();
    assert_eq!(claimed, expected, "each mail once, the one claimed alone not again");

    let outcomes: Vec<(String, String)> = keys[2..4].iter().map(|key| (key.clone(), "sent".to_owned())).collect();
    progress.finish_mails(&outcomes, now).await.unwrap();
    assert_eq!(progress.mail_outcome(&keys[2]).await.unwrap().as_deref(), Some("sent"));
    assert_eq!(
        progress.mail_outcome(&keys[4]).await.unwrap().as_deref(),
        Some("sending")
    );

    // Later, the unfinished claims are a dead mailer's: taken over; the
    // finished mails never are.
    let later = now + chrono::Duration::minutes(10);
    let taken_over = progress
        .claim_mails(&keys, "b", later, later - chrono::Duration::minutes(5))
        .await
        .unwrap();
    let unfinished: Vec<String> = keys.iter().filter(|key| !keys[2..4].contains(key)).cloned().collect();
    assert_eq!(taken_over, unfinished, "in the order asked");
}

/// Every path that appends (one event in one stream, one event in several,
/// a batch in one stream, a mixed batch) stores the actor, and every read
/// gives it back; an event without one reads as none.
async fn the_actor_is_stored_and_read_back_on_every_path(db: &TestDatabase) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let with = |streams: &[&str], actor: Option<&str>| NewEvent {
        actor: actor.map(str::to_owned),
        ..event(streams, json!({}))
    };
    let single = with(&["office:a"], Some("staff:01KBS4W1YQ9X0G4T2N5M8P7R6S"));
    let several = with(
        &["office:a", "office-day:a:2026-12-01"],
        Some("device:01KBS4W1YQ9X0G4T2N5M8P7R6T"),
    );
    let batch_one_stream = [with(&["wish:b"], Some("citizen")), with(&["wish:b"], None)];
    let mixed = [
        with(&["wish:c"], Some("system:timer")),
        with(&["wish:d", "citizen:e"], Some("operator")),
    ];
    store.append(std::slice::from_ref(&single), &[]).await.unwrap();
    store.append(std::slice::from_ref(&several), &[]).await.unwrap();
    store.append(&batch_one_stream, &[]).await.unwrap();
    store.append(&mixed, &[]).await.unwrap();
    let written: Vec<&NewEvent> = [&single, &several]
        .into_iter()
        .chain(batch_one_stream.iter())
        .chain(mixed.iter())
        .collect();

    let log = read_everything(&store).await;
    assert_eq!(
        log.iter().map(|e| e.event.actor.clone()).collect::<Vec<_>>(),
        written.iter().map(|e| e.actor.clone()).collect::<Vec<_>>()
    );
    for written in &written {
        for stream in &written.streams {
            let read = store.read_stream(stream, 0).await.unwrap();
            let found = read.iter().find(|e| e.event.event_id == written.event_id).unwrap();
            assert_eq!(
                found.event.actor,
                written.actor,
                "{stream} (not the home row: {})",
                stream != &written.streams[0]
            );
            let read = store.read_streams(&[(stream.as_str(), 0)]).await.unwrap();
            let found = read[0].iter().find(|e| e.event.event_id == written.event_id).unwrap();
            assert_eq!(found.event.actor, written.actor);
        }
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = super::TestDatabase::new(super::Backend::Postgres).await.expect("Postgres for tests");
                    super::$case(&db).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = super::TestDatabase::new(super::Backend::Sqlite).await.unwrap();
                    super::$case(&db).await;
                }
            )*
        }
    };
}

conformance!(
    append_then_read_back_from_stream_and_log,
    the_actor_is_stored_and_read_back_on_every_path,
    reading_from_any_position_gives_the_same_slice,
    failed_condition_appends_nothing_and_names_the_stream,
    retried_append_is_not_stored_twice,
    invalid_batches_are_refused,
    sixty_four_racers_on_one_stream_one_wins,
    racers_on_distinct_streams_all_win,
    unconditioned_appends_to_one_stream_all_land,
    reader_never_skips_events_of_out_of_order_commits,
    reader_never_skips_an_older_transaction_that_commits_last,
    an_open_append_holds_up_only_appends_to_its_streams,
    a_subscriber_follows_appends_of_another_process,
    subscriber_sees_each_event_of_eight_concurrent_writers_exactly_once,
    subscription_resumes_from_its_checkpoint,
    events_survive_closing_and_reopening,
    old_event_shapes_are_upcast_on_read,
    erased_personal_data_is_gone_but_the_log_replays,
    a_citizen_keeps_one_envelope_until_erased,
    sealing_by_address_uses_the_citizens_one_envelope,
    installation_secrets_are_made_once,
    consumer_checkpoints_survive_and_never_move_back,
    consumer_snapshots_are_replaced_only_by_newer_ones,
    a_lease_has_one_owner_until_it_expires,
    a_mail_is_claimed_once_unless_its_sender_died,
    a_dead_incarnations_claims_are_taken_over_at_once,
    racing_mailers_claim_a_mail_once,
    mails_claimed_together_are_claimed_once,
);
