//! Mail links pressed at once (DESIGN.md invariant 7: a link acts once),
//! and a confirm link pressed while the lapse timer of another process
//! decides on the same booking: whatever the interleaving, the log holds one
//! outcome and every answer agrees with it. Both backends.

mod support;

use std::sync::Arc;

use chrono::{DateTime, Days, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ManualClock, TestApp, berlin_at as at, stadtmitte_a_week_ahead as setup};
use terminagent::application::{Clock, Executor, lapse_due_bookings};
use terminagent::projections::{LinksView, LiveProjection};
use terminagent_eventstore::{Backend, EventStore};

const PRESSES: usize = 12;

async fn book(app: &TestApp, start: &str, email: &str) -> String {
    let body = json!({"office": "stadtmitte", "services": ["reisepass"], "start": at(7, start).to_rfc3339(),
                      "citizen": {"name": "Erika Mustermann", "email": email}});
    let (status, answer) = app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["booking_id"].as_str().unwrap().to_owned()
}

/// Presses `token` `PRESSES` times at once; the outcome each press answered.
async fn press_at_once(app: &Arc<TestApp>, token: &str) -> Vec<String> {
    let barrier = Arc::new(tokio::sync::Barrier::new(PRESSES));
    let presses: Vec<_> = (0..PRESSES)
        .map(|_| {
            let (app, barrier, token) = (app.clone(), barrier.clone(), token.to_owned());
            tokio::spawn(async move {
                barrier.wait().await;
                let (status, answer) = app
                    .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
                    .await;
                assert_eq!(status, StatusCode::OK, "{answer}");
                answer["outcome"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for press in presses {
        outcomes.push(press.await.unwrap());
    }
    outcomes.sort();
    outcomes
}

/// The types of the booking's events, in log order.
async fn booking_events(app: &TestApp, booking: &str) -> Vec<String> {
    app.all_events()
        .await
        .into_iter()
        .filter(|event| event["data"]["booking"] == booking)
        .map(|event| event["type"].as_str().unwrap().to_owned())
        .collect()
}

fn count(outcomes: &[String], outcome: &str) -> usize {
    outcomes.iter().filter(|found| *found == outcome).count()
}

async fn presses_of_one_link_at_once_act_once(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    setup(&app).await;
    let booking = book(&app, "08:00", "erika@example.org").await;

    let confirm = app.link_token(&booking, "confirm_booking").await;
    let outcomes = press_at_once(&app, &confirm).await;
    assert_eq!(count(&outcomes, "done"), 1, "{outcomes:?}");
    assert_eq!(count(&outcomes, "already_done"), PRESSES - 1, "{outcomes:?}");

    let cancel = app.link_token(&booking, "cancel_booking").await;
    let outcomes = press_at_once(&app, &cancel).await;
    assert_eq!(count(&outcomes, "done"), 1, "{outcomes:?}");
    assert_eq!(count(&outcomes, "already_done"), PRESSES - 1, "{outcomes:?}");

    assert_eq!(
        booking_events(&app, &booking).await,
        ["booking.requested", "booking.confirmed", "booking.cancelled"]
    );
    // The slot is free again, once.
    let day = (Utc::now().date_naive() + Days::new(7)).to_string();
    let (_, slots) = app
        .get(&format!(
            "/api/v1/availability?office=stadtmitte&services=reisepass&from={day}&to={day}"
        ))
        .await;
    let starts: Vec<&Value> = slots["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|slot| &slot["start"])
        .collect();
    assert_eq!(starts.len(), 20, "08:00–12:00 in 12-minute units, all free: {slots}");
    let first = DateTime::parse_from_rfc3339(starts[0].as_str().unwrap()).unwrap();
    assert_eq!(first, at(7, "08:00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presses_of_one_link_at_once_act_once_sqlite() {
    presses_of_one_link_at_once_act_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presses_of_one_link_at_once_act_once_postgres() {
    presses_of_one_link_at_once_act_once(Backend::Postgres).await;
}

/// Rounds of the race: each a new booking, its confirm link pressed
/// `PRESSES` times while, in a second process's executor, the lapse timer
/// runs at the instant the confirmation falls due.
const ROUNDS: usize = 6;

async fn a_confirmation_racing_the_lapse_timer_has_one_outcome(backend: Backend) {
    let now = Utc::now();
    let clock = ManualClock::at(now);
    let app = Arc::new(
        TestApp::spawn_configured_with_clock(backend, clock.clone(), |config| {
            config.confirm_ttl = std::time::Duration::from_secs(30 * 60);
        })
        .await,
    );
    setup(&app).await;
    // The lapse timer of another process on the same log and clock.
    let store = EventStore::connect(app.db.url(), Default::default()).await.unwrap();
    let other = Executor::new(store.clone(), clock.clone() as Arc<dyn Clock>);
    let links = Arc::new(LiveProjection::<LinksView>::spawn(store.clone()));

    let (mut confirmed, mut lapsed) = (0, 0);
    for round in 0..ROUNDS {
        clock.set(now + chrono::Duration::hours(round as i64));
        let start = format!("{:02}:{:02}", 8 + round * 12 / 60, round * 12 % 60);
        let booking = book(&app, &start, &format!("racer{round}@example.org")).await;
        let token = app.link_token(&booking, "confirm_booking").await;
        let due = clock.now() + chrono::Duration::minutes(30);
        clock.set(due - chrono::Duration::milliseconds(1));
        links.caught_up_to(store.catch_up().await.unwrap()).await;

        let presses = tokio::spawn({
            let (app, token) = (app.clone(), token.clone());
            async move { press_at_once(&app, &token).await }
        });
        // The deadline passes a little later each round, so some rounds let
        // presses decide before it and some not: the interleavings vary.
        // This sleep is the point of the test, not a wait for a condition:
        // it staggers the deadline against the presses by 3 ms more each
        // round (0, 3, 6, … ms), fixed by the round number and not random,
        // so every run tries the same spread of interleavings. Every
        // outcome is allowed, as long as it is one of the two below.
        tokio::time::sleep(std::time::Duration::from_millis(3 * round as u64)).await;
        clock.set(due);
        let lapses = lapse_due_bookings(&other, &links).await;
        let outcomes = presses.await.unwrap();

        let events = booking_events(&app, &booking).await;
        match count(&outcomes, "done") {
            1 => {
                confirmed += 1;
                assert_eq!(events, ["booking.requested", "booking.confirmed"], "{outcomes:?}");
                assert_eq!(lapses, 0);
                // A press that read the booking still pending after the
                // deadline had passed says so, though an earlier press
                // (in time) confirmed it meanwhile: its page shows the
                // booking confirmed.
                assert!(
                    outcomes
                        .iter()
                        .all(|o| ["done", "already_done", "expired"].contains(&o.as_str())),
                    "{outcomes:?}"
                );
            }
            0 => {
                lapsed += 1;
                assert_eq!(events, ["booking.requested", "booking.lapsed"], "{outcomes:?}");
                // This timer or the app's own (same clock) lapsed it, once.
                assert!(lapses <= 1);
                assert!(outcomes.iter().all(|o| o == "expired" || o == "void"), "{outcomes:?}");
            }
            _ => panic!("confirmed more than once: {outcomes:?}"),
        }
    }
    eprintln!("{backend:?}: {confirmed} confirmed, {lapsed} lapsed of {ROUNDS} races");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmation_racing_the_lapse_timer_has_one_outcome_sqlite() {
    a_confirmation_racing_the_lapse_timer_has_one_outcome(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmation_racing_the_lapse_timer_has_one_outcome_postgres() {
    a_confirmation_racing_the_lapse_timer_has_one_outcome(Backend::Postgres).await;
}
