//! `terminagent audit head` and `terminagent audit verify [--anchor POS:HASH]`
//! against the real binary, on both backends, over logs corrupted on purpose
//! in SQL: an event's data or type edited, an event deleted, two events
//! swapped, the chain rewritten to match an edit (only an anchor catches
//! that), a log written before the chain, and an erasure (which must not
//! break the chain).

use std::process::Stdio;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use terminagent_eventstore::chain::{ChainFields, ChainTip, EventHash, hash_event};
use terminagent_eventstore::testing::{SqlValue, TestDatabase};
use terminagent_eventstore::{Backend, EventStore, NewEvent, StoreOptions};
use ulid::Ulid;

/// Events in the log [`written`] builds.
const EVENTS: u64 = 25;

fn event(n: u64, streams: &[&str], data: Value) -> NewEvent {
    NewEvent {
        event_id: Ulid::new(),
        event_type: format!("test.step.{}", n % 4),
        schema_version: 1,
        streams: streams.iter().map(|s| s.to_string()).collect(),
        recorded_at: Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap()
            + chrono::Duration::microseconds(n as i64 * 1_001),
        correlation_id: Some(Ulid::new()),
        causation_id: None,
        actor: Some("operator".into()),
        data,
    }
}

/// A log of [`EVENTS`] events: positions 1–10 one batch (one transaction),
/// 11–20 single appends (15 carries a citizen's sealed envelope), 21–25 a
/// batch indexed under several streams. Returns the store, the envelope and
/// the chain's head.
async fn written(db: &TestDatabase) -> (EventStore, Ulid, ChainTip) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    let batch: Vec<NewEvent> = (1..=10).map(|n| event(n, &["batch"], json!({"n": n}))).collect();
    store.append(&batch, &[]).await.unwrap();
    let envelope = Ulid::new();
    for n in 11..=20 {
        let data = if n == 15 {
            let sealed = store
                .vault()
                .seal(
                    envelope,
                    &json!({"name": "Berta Beispiel", "email": "berta@example.org"}),
                )
                .await
                .unwrap();
            json!({"n": n, "citizen": sealed})
        } else {
            json!({"n": n, "text": "Grüße"})
        };
        store.append(&[event(n, &["single"], data)], &[]).await.unwrap();
    }
    let mixed: Vec<NewEvent> = (21..=EVENTS)
        .map(|n| event(n, &["mixed", "batch", &format!("unit:{n}")], json!({"n": n})))
        .collect();
    store.append(&mixed, &[]).await.unwrap();
    let head = store.chain_head().await.unwrap();
    assert_eq!(head.position, EVENTS);
    (store, envelope, head)
}

/// Runs `terminagent ARGS`: exit code, stdout, stderr.
async fn terminagent(args: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_terminagent"))
        .args(args)
        .env_remove("TERMINAGENT_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("terminagent runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `terminagent audit verify [--anchor A]` on `db`: exit code and stdout.
async fn verify(db: &TestDatabase, anchor: Option<&str>) -> (i32, String) {
    let mut args = vec!["audit", "verify", "--database-url", db.url()];
    if let Some(anchor) = anchor {
        args.extend(["--anchor", anchor]);
    }
    let (code, out, err) = terminagent(&args).await;
    if code == 0 {
        assert!(err.is_empty(), "nothing on stderr off a terminal: {err}");
    }
    (code, out)
}

/// `verify` exits 1 and names `position` first on stdout, saying `what`.
async fn assert_violation(db: &TestDatabase, anchor: Option<&str>, position: u64, what: &str) {
    let (code, out) = verify(db, anchor).await;
    assert_eq!(code, 1, "verify must fail: {out}");
    assert!(
        out.starts_with(&format!("position {position}: {what}")),
        "expected position {position}: {what}…, got {out}"
    );
    assert_eq!(out.lines().count(), 1, "only the first violation: {out}");
}

async fn audit_head(db: &TestDatabase) -> String {
    let (code, out, err) = terminagent(&["audit", "head", "--database-url", db.url()]).await;
    assert_eq!(code, 0, "{err}");
    out.trim_end().to_owned()
}

/// Runs one statement with `values` on the test database, outside any store.
async fn run_sql(db: &TestDatabase, sql: &str, values: &[SqlValue<'_>]) {
    db.execute(&[(sql, values)]).await.unwrap();
}

/// The event id at `position` as Postgres reads a uuid (it stores no positions, so rows are found by id).
async fn id_at(store: &EventStore, position: u64) -> String {
    let page = store.read_all(position - 1, 1).await.unwrap();
    assert_eq!(page[0].position, position);
    format!("{:032x}", u128::from(page[0].event.event_id))
}

/// Edits a column of the event at `position`.
async fn edit(db: &TestDatabase, store: &EventStore, position: u64, column: &str, value: &str) {
    match db.url().starts_with("postgres") {
        true => {
            let id = id_at(store, position).await;
            let cast = if column == "data" { "::json" } else { "" };
            let sql = format!("UPDATE events SET {column} = $1{cast} WHERE home AND event_id = $2::uuid");
            run_sql(db, &sql, &[SqlValue::Text(value), SqlValue::Text(&id)]).await;
        }
        false => {
            let sql = format!("UPDATE events SET {column} = ?1 WHERE position = ?2");
            run_sql(db, &sql, &[SqlValue::Text(value), SqlValue::Int(position as i64)]).await;
        }
    }
}

async fn delete(db: &TestDatabase, store: &EventStore, position: u64) {
    match db.url().starts_with("postgres") {
        true => {
            let id = id_at(store, position).await;
            run_sql(
                db,
                "DELETE FROM events WHERE event_id = $1::uuid",
                &[SqlValue::Text(&id)],
            )
            .await;
        }
        false => {
            let at = [SqlValue::Int(position as i64)];
            run_sql(db, "DELETE FROM stream_events WHERE position = ?1", &at).await;
            run_sql(db, "DELETE FROM events WHERE position = ?1", &at).await;
        }
    }
}

/// Swaps the events at `position` and `position + 1` (of one batch).
async fn swap(db: &TestDatabase, store: &EventStore, position: u64) {
    match db.url().starts_with("postgres") {
        true => {
            // The log order is (transaction, seq): one batch shares the transaction.
            let (first, second) = (id_at(store, position).await, id_at(store, position + 1).await);
            run_sql(
                db,
                "UPDATE events e SET seq = o.seq FROM events o \
                 WHERE e.home AND o.home AND ((e.event_id = $1::uuid AND o.event_id = $2::uuid) \
                                           OR (e.event_id = $2::uuid AND o.event_id = $1::uuid))",
                &[SqlValue::Text(&first), SqlValue::Text(&second)],
            )
            .await;
        }
        false => {
            // Whole rows change places (hashes with them): the events are out of order.
            let (a, b) = (position as i64, position as i64 + 1);
            let moves = [(a, -1), (b, a), (-1, b)];
            let moves: Vec<[SqlValue<'_>; 2]> = moves
                .iter()
                .map(|&(from, to)| [SqlValue::Int(from), SqlValue::Int(to)])
                .collect();
            let mut statements: Vec<(&str, &[SqlValue<'_>])> = vec![("PRAGMA foreign_keys = OFF", &[])];
            for values in &moves {
                statements.push(("UPDATE events SET position = ?2 WHERE position = ?1", values));
            }
            db.execute(&statements).await.unwrap();
        }
    }
}

/// Writes `hash` as the recorded hash of `position`.
async fn record_hash(db: &TestDatabase, position: u64, hash: &EventHash) {
    let sql = if db.url().starts_with("postgres") {
        "UPDATE event_hashes SET hash = $2 WHERE position = $1"
    } else {
        "UPDATE events SET hash = ?2 WHERE position = ?1"
    };
    run_sql(
        db,
        sql,
        &[SqlValue::Int(position as i64), SqlValue::Bytes(hash.as_bytes())],
    )
    .await;
}

async fn a_sound_log_verifies_and_its_head_anchors_it(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let (store, _, head) = written(&db).await;
    let printed = audit_head(&db).await;
    assert_eq!(printed, head.to_string());
    assert_eq!(printed.parse::<ChainTip>().unwrap(), head);
    let (code, json, _) = terminagent(&["audit", "head", "--json", "--database-url", db.url()]).await;
    assert_eq!(code, 0);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json,
        json!({"position": EVENTS, "hash": head.hash.to_string(), "anchor": head.to_string()})
    );

    let (code, out) = verify(&db, None).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        format!("log sound: positions 1..={EVENTS} dense, every hash chained, every invariant held; head {head}\n")
    );
    let (code, out) = verify(&db, Some(&printed)).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("anchor {head} holds")), "{out}");

    // The log goes on: the old head still anchors it.
    store
        .append(&[event(26, &["single"], json!({"n": 26}))], &[])
        .await
        .unwrap();
    let (code, out) = verify(&db, Some(&printed)).await;
    assert_eq!(code, 0, "{out}");
    assert_ne!(audit_head(&db).await, printed);

    // An anchor whose hash is not the chain's, or beyond the head.
    let wrong = ChainTip {
        position: 20,
        hash: EventHash([7; 32]),
    };
    assert_violation(&db, Some(&wrong.to_string()), 20, "the chain's hash").await;
    let beyond = ChainTip {
        position: 99,
        hash: head.hash,
    };
    assert_violation(
        &db,
        Some(&beyond.to_string()),
        99,
        "the anchor lies beyond the log's head 26",
    )
    .await;
    for malformed in ["20", "20:abc", "x:"] {
        let (code, _, err) = terminagent(&["audit", "verify", "--anchor", malformed, "--database-url", db.url()]).await;
        assert_eq!(code, 2, "--anchor {malformed}: usage error: {err}");
    }
    store.close().await;
}

async fn edited_events_are_found_at_their_position(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let (store, _, head) = written(&db).await;
    // The anchor taken before the edit fails too: at the edit, the first violation.
    edit(&db, &store, 17, "data", r#"{"n":17,"text":"Grüße","refund":true}"#).await;
    assert_violation(&db, None, 17, "recorded hash").await;
    assert_violation(&db, Some(&head.to_string()), 17, "recorded hash").await;
    edit(&db, &store, 4, "event_type", "test.step.1").await;
    assert_violation(&db, None, 4, "recorded hash").await;
    store.close().await;
}

async fn a_deleted_event_is_found_at_its_position(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let (store, _, _) = written(&db).await;
    delete(&db, &store, 12).await;
    match backend {
        // Postgres counts positions along the log order: the next event moved up.
        Backend::Postgres => assert_violation(&db, None, 12, "recorded hash").await,
        Backend::Sqlite => assert_violation(&db, None, 12, "no event (positions skip to 13)").await,
    }
    store.close().await;
}

async fn a_deleted_last_event_is_found_against_the_anchor(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let (store, _, head) = written(&db).await;
    delete(&db, &store, EVENTS).await;
    match backend {
        // The numbered segment still ends at 25.
        Backend::Postgres => {
            assert_violation(&db, None, EVENTS, "no event (the log's head is 25)").await;
        }
        // SQLite's head is its last row: the cut log is a sound log of 24
        // events, and only the published head shows what is missing.
        Backend::Sqlite => {
            let (code, out) = verify(&db, None).await;
            assert_eq!(code, 0, "{out}");
            assert_violation(
                &db,
                Some(&head.to_string()),
                EVENTS,
                "the anchor lies beyond the log's head 24",
            )
            .await;
        }
    }
    store.close().await;
}

async fn a_swapped_pair_is_found_at_the_first_of_them(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let (store, _, _) = written(&db).await;
    swap(&db, &store, 3).await;
    assert_violation(&db, None, 3, "recorded hash").await;
    store.close().await;
}

/// Whoever rewrites an event and every hash after it makes a log that
/// verifies on its own; the head published before shows the rewrite.
async fn an_anchor_catches_a_rewritten_chain(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let (store, _, head) = written(&db).await;
    let early = audit_head(&db).await;
    edit(&db, &store, 8, "data", r#"{"n":800}"#).await;
    let mut previous = EventHash::GENESIS;
    for chained in store.read_chain(0, 100).await.unwrap() {
        previous = hash_event(&previous, chained.position, &ChainFields::of_stored(&chained.event));
        record_hash(&db, chained.position, &previous).await;
    }
    let (code, out) = verify(&db, None).await;
    assert_eq!(code, 0, "a consistent rewrite passes without an anchor: {out}");
    assert_violation(&db, Some(&early), EVENTS, "the chain's hash").await;
    let anchor_before_edit = store.read_chain(6, 1).await.unwrap();
    assert_eq!(anchor_before_edit[0].position, 7);
    let seven = ChainTip {
        position: 7,
        hash: anchor_before_edit[0].hash.unwrap(),
    };
    let (code, out) = verify(&db, Some(&seven.to_string())).await;
    assert_eq!(code, 0, "an anchor before the edit still holds: {out}");
    assert_ne!(audit_head(&db).await, head.to_string());
    store.close().await;
}

async fn a_log_from_before_the_chain_is_hashed_and_verifies(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let (store, _, head) = written(&db).await;
    store.close().await;
    drop(store);
    match backend {
        Backend::Postgres => run_sql(&db, "DELETE FROM event_hashes", &[]).await,
        Backend::Sqlite => run_sql(&db, "UPDATE events SET hash = NULL", &[]).await,
    }
    let (code, out) = verify(&db, Some(&head.to_string())).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(audit_head(&db).await, head.to_string());
}

async fn erasing_a_citizen_leaves_the_chain_intact(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let (store, envelope, head) = written(&db).await;
    assert!(store.vault().erase(envelope).await.unwrap());
    let (code, out) = verify(&db, Some(&head.to_string())).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(audit_head(&db).await, head.to_string());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_database_is_a_usage_error() {
    let (code, out, err) = terminagent(&[
        "audit",
        "verify",
        "--database-url",
        "sqlite:///nonexistent/terminagent-audit-verify.db",
    ])
    .await;
    assert_eq!(code, 2, "{out} {err}");
    assert!(err.contains("no database"), "{err}");
    let (code, _, err) = terminagent(&["audit", "head", "--database-url", "postgres://postgres@127.0.0.1:1/x"]).await;
    assert_eq!(code, 2, "{err}");
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    a_sound_log_verifies_and_its_head_anchors_it,
    edited_events_are_found_at_their_position,
    a_deleted_event_is_found_at_its_position,
    a_deleted_last_event_is_found_against_the_anchor,
    a_swapped_pair_is_found_at_the_first_of_them,
    an_anchor_catches_a_rewritten_chain,
    a_log_from_before_the_chain_is_hashed_and_verifies,
    erasing_a_citizen_leaves_the_chain_intact,
);
