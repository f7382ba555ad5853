//! `terminagent migrate-log` (audit issue, "moving from SQLite to Postgres")
//! against the real binary: a working SQLite installation moves to a fresh
//! Postgres database and goes on working there (links signed before the move
//! still open, names in the vault still open, no mail sent twice); a million
//! events, the move killed halfway and resumed, end with equal head hashes.

mod support;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Days, Utc};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{TOKEN, TestApp};
use terminagent_domain::{LocalTime, OfficeTimeZone};
use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, EventStore, NewEvent};

async fn migrate_log(from: &str, to: &str) -> (i32, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_terminagent"))
        .args(["migrate-log", "--from", from, "--to", to])
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

async fn store(db: &TestDatabase) -> EventStore {
    db.store(Default::default()).await.expect("store opens")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_installation_moves_to_postgres_and_goes_on_working() {
    let source = Arc::new(TestDatabase::new(Backend::Sqlite).await.unwrap());
    let app = TestApp::spawn_on(source.clone(), false).await;
    let day = Utc::now().date_naive() + Days::new(5);
    let zone = OfficeTimeZone::parse("Europe/Berlin").unwrap();
    let office = json!({"name": "Bürgerbüro Mitte", "address": "Markt 1", "timezone": "Europe/Berlin"});
    assert!(
        app.staff(Method::PUT, "/api/v1/offices/mitte", office)
            .await
            .0
            .is_success()
    );
    let service = json!({"name": "Personalausweis", "duration_minutes": 15});
    assert!(
        app.staff(Method::PUT, "/api/v1/services/ausweis", service)
            .await
            .0
            .is_success()
    );
    let capacity = json!({"date": day.to_string(), "from": "09:00", "to": "10:00", "unit_minutes": 15, "lanes": 1});
    assert!(
        app.staff(Method::POST, "/api/v1/offices/mitte/capacity", capacity)
            .await
            .0
            .is_success()
    );
    let start = zone.instant(day, LocalTime::parse("09:15").unwrap()).unwrap();
    let body = json!({"office": "mitte", "services": ["ausweis"], "start": start.to_rfc3339(),
                      "citizen": {"name": "Mira Umzug", "email": "mira@example.org"}});
    let (status, booked) = app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
    let booking = booked["booking_id"].as_str().unwrap().to_owned();
    app.wait_for_mail("mira@example.org", "Bitte bestätigen Sie Ihren Termin")
        .await;
    // Signed with the source's installation secret: it must open on the target.
    let confirm = app.link_token(&booking, "confirm_booking").await;

    let target = Arc::new(TestDatabase::new(Backend::Postgres).await.unwrap());
    let (code, out, err) = migrate_log(source.url(), target.url()).await;
    assert_eq!(code, 0, "{err}");
    let (from, to) = (store(&source).await, store(&target).await);
    let (source_head, target_head) = (from.chain_head().await.unwrap(), to.chain_head().await.unwrap());
    assert_eq!(
        source_head, target_head,
        "the same events in the same order, chained alike"
    );
    assert!(source_head.position >= 4, "{source_head}");
    assert!(
        out.contains(&format!(
            "moved {} events (the target held 0 already)",
            source_head.position
        )),
        "{out}"
    );
    assert!(out.contains(&format!("head {source_head} on both")), "{out}");
    for position in 0..source_head.position {
        let (a, b) = (
            from.read_all(position, 1).await.unwrap(),
            to.read_all(position, 1).await.unwrap(),
        );
        assert_eq!(a, b, "position {}", position + 1);
    }

    // Again: nothing left to move, nothing changes.
    let (code, out, err) = migrate_log(source.url(), target.url()).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "moved 0 events (the target held {} already)",
            source_head.position
        )),
        "{out}"
    );
    assert_eq!(to.chain_head().await.unwrap(), target_head);

    // The installation runs on Postgres: the old link confirms, the day list
    // opens the citizen's name from the moved vault, and the mailer, whose
    // ledger and checkpoint moved, sends the confirmation but not the request again.
    let moved = TestApp::start_on(target.clone(), |_| {}).await;
    let (status, pressed) = moved
        .send(Method::POST, &format!("/api/v1/links/{confirm}"), None, None)
        .await;
    assert_eq!(
        (status, &pressed["outcome"]),
        (StatusCode::OK, &json!("done")),
        "{pressed}"
    );
    let (status, day_list) = moved
        .send(
            Method::GET,
            &format!("/api/v1/offices/mitte/days/{day}"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{day_list}");
    assert_eq!(day_list["bookings"][0]["name"], "Mira Umzug", "{day_list}");
    moved.wait_for_mail("mira@example.org", "Terminbestätigung").await;
    let subjects: Vec<String> = moved
        .mails_to("mira@example.org")
        .into_iter()
        .map(|(subject, _)| subject)
        .collect();
    assert_eq!(subjects.len(), 1, "only the confirmation: {subjects:?}");

    // Into a database that holds another log: refused, nothing written.
    let other = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let other_store = store(&other).await;
    fill(&other_store, 100).await;
    other_store.close().await;
    let before = to.chain_head().await.unwrap();
    let (code, _, err) = migrate_log(other.url(), target.url()).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the target holds another log"), "{err}");
    assert_eq!(to.chain_head().await.unwrap(), before);
    let (code, _, err) = migrate_log(source.url(), source.url()).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("same database"), "{err}");
    from.close().await;
    to.close().await;
}

/// A log of `count` events, written straight into the store ten thousand at
/// a time: what the move copies does not depend on what the events mean.
async fn fill(store: &EventStore, count: u64) {
    let recorded_at = Utc::now();
    for first in (0..count).step_by(10_000) {
        let events: Vec<NewEvent> = (first..(first + 10_000).min(count))
            .map(|n| NewEvent {
                event_id: ulid::Ulid::new(),
                event_type: "capacity.filler".to_owned(),
                schema_version: 1,
                streams: vec![format!("filler:{}", n % 97), format!("numbers:{}", n % 13)],
                recorded_at: recorded_at + chrono::Duration::microseconds(n as i64),
                correlation_id: None,
                causation_id: None,
                actor: Some("system:filler".to_owned()),
                data: json!({"n": n, "text": "ein Ereignis mit etwas Text"}),
            })
            .collect();
        store.append(&events, &[]).await.expect("filled");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_million_events_move_after_a_kill_halfway() {
    const EVENTS: u64 = 1_000_000;
    let source = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let from = store(&source).await;
    fill(&from, EVENTS).await;
    let target = TestDatabase::new(Backend::Postgres).await.unwrap();
    let to = store(&target).await;

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_terminagent"))
        .args(["migrate-log", "--from", source.url(), "--to", target.url()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("terminagent runs");
    // Kill it once half the log is across (SIGKILL: no clean-up runs).
    loop {
        if to.catch_up().await.unwrap() >= EVENTS / 2 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the move ended before it was killed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().await.unwrap();
    let held = to.catch_up().await.unwrap();
    assert!((EVENTS / 2..EVENTS).contains(&held), "killed halfway: {held}");

    let (code, out, err) = migrate_log(source.url(), target.url()).await;
    assert_eq!(code, 0, "{err}");
    let resumed_at: u64 = out
        .split("(the target held ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(resumed_at >= held, "resumed after what the killed run left: {out}");
    assert!(out.contains(&format!("moved {} events", EVENTS - resumed_at)), "{out}");
    let (source_head, target_head) = (from.chain_head().await.unwrap(), to.chain_head().await.unwrap());
    assert_eq!(source_head.position, EVENTS);
    assert_eq!(source_head, target_head);
    from.close().await;
    to.close().await;
}
