//! Erasing personal data (API.md "Operations": `POST /api/v1/erasures`,
//! `terminagent erase`, `--retention`; DESIGN.md invariant 8), over HTTP
//! against an app on port 0, on both backends: the key and the index entry
//! go, `personal_data.erased` is recorded, the log still replays and the
//! statistics do not move; a waiting wish ends and a booking awaiting
//! confirmation is cancelled in the same append, their mails skipped; a
//! mail still waiting when the data goes is skipped, not retried forever;
//! the retention timer erases only citizens idle long enough.

use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use terminagent::config::MailTransport;
use terminagent_eventstore::{Backend, EventStore, Opened, SealedEnvelope};

mod support;

use support::{ManualClock, TOKEN, TestApp};

/// A day a week or more ahead (no opening hours are set, any day works).
fn day() -> NaiveDate {
    Utc::now().date_naive() + Days::new(8)
}

fn weekday_key() -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day().weekday().num_days_from_monday() as usize]
}

fn at(time: &str) -> String {
    // The test's office is in UTC, so a local time is the instant's clock.
    format!("{}T{time}:00+00:00", day())
}

async fn office(app: &TestApp) {
    let body = json!({"name": "Bürgerbüro Mitte", "address": "Markt 1", "timezone": "UTC"});
    let (status, _) = app.staff(Method::PUT, "/api/v1/offices/mitte", body).await;
    assert_eq!(status, StatusCode::CREATED);
    let body = json!({"name": "Personalausweis", "duration_minutes": 12});
    app.staff(Method::PUT, "/api/v1/services/ausweis", body).await;
    let body = json!({"date": day().to_string(), "from": "08:00", "to": "10:00", "unit_minutes": 12, "lanes": 1});
    let (status, answer) = app.staff(Method::POST, "/api/v1/offices/mitte/capacity", body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

/// Books `start` for `email`; the booking's id.
async fn book(app: &TestApp, start: &str, email: &str) -> String {
    let body = json!({"office": "mitte", "services": ["ausweis"], "start": at(start),
                      "citizen": {"name": "Erika Mustermann", "email": email}});
    let (status, answer) = app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["booking_id"].as_str().unwrap().to_owned()
}

async fn press(app: &TestApp, booking: &str, action: &str) -> Value {
    let token = app.link_token(booking, action).await;
    let (status, answer) = app
        .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{action}: {answer}");
    answer
}

async fn erase(app: &TestApp, email: &str) -> (StatusCode, Value) {
    app.send(
        Method::POST,
        "/api/v1/erasures",
        Some(TOKEN),
        Some(json!({ "email": email })),
    )
    .await
}

/// The envelope id of the citizen who requested `booking`.
fn envelope_of(events: &[Value], booking: &str) -> String {
    events
        .iter()
        .find(|e| e["type"] == "booking.requested" && e["data"]["booking"] == booking)
        .map(|e| e["data"]["citizen"]["envelope_id"].as_str().unwrap().to_owned())
        .expect("the booking's request")
}

async fn store_of(app: &TestApp) -> EventStore {
    EventStore::connect(app.db.url(), Default::default()).await.unwrap()
}

/// Whether the envelope sealed into `booking`'s request still opens.
async fn opens(app: &TestApp, store: &EventStore, booking: &str) -> bool {
    let events = app.all_events().await;
    let envelope = envelope_of(&events, booking);
    // The audit API shows only the id; the sealed envelope is in the stored event.
    let stream = format!("booking:{}", booking.to_ascii_lowercase());
    let stored = store.read_stream(&stream, 0).await.unwrap();
    let data: Value = serde_json::from_str(stored[0].event.data.as_str()).unwrap();
    let sealed: SealedEnvelope = serde_json::from_value(data["citizen"].clone()).unwrap();
    assert_eq!(sealed.envelope_id.to_string(), envelope);
    match store.vault().open::<Value>(&sealed).await.unwrap() {
        Opened::Readable(_) => true,
        Opened::Erased => false,
    }
}

async fn every_view_equals_its_replay(app: &TestApp) {
    let (status, views) = app.get("/api/v1/projections").await;
    assert_eq!(status, StatusCode::OK);
    let views = views["projections"].as_array().unwrap();
    assert!(!views.is_empty());
    assert!(
        views.iter().all(|view| view["equal"] == true),
        "every view equals its replay: {views:?}"
    );
}

/// When `event` was recorded (the app's clock at its append).
fn recorded_at(event: &Value) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(event["recorded_at"].as_str().expect("a recorded time"))
        .unwrap()
        .to_utc()
}

/// Waits until the mail of event `event_id` is handled; its ledger record.
async fn mail_outcome(store: &EventStore, event_id: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(outcome) = store.progress().mail_outcome(event_id).await.unwrap()
            && outcome != "sending"
        {
            return outcome;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the mail of {event_id} was not handled in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_request_erases_once_and_changes_no_figure(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    office(&app).await;
    let anna = book(&app, "08:00", "anna@example.org").await;
    press(&app, &anna, "confirm_booking").await;
    app.wait_for_mail("anna@example.org", "Terminbestätigung").await;
    let ben = book(&app, "08:12", "ben@example.org").await;
    press(&app, &ben, "confirm_booking").await;
    let statistics = format!("/api/v1/statistics?office=mitte&from={}&to={}", day(), day());
    let (status, before) = app.get(&statistics).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    let (_, all_before) = app
        .get(&format!("/api/v1/statistics?from={}&to={}", day(), day()))
        .await;

    // Only admins, and only with an address.
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/erasures",
            None,
            Some(json!({"email": "anna@example.org"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let body = json!({"name": "Lea Leitung", "roles": [{"role": "lead", "office": "mitte"}]});
    let (status, _) = app.staff(Method::PUT, "/api/v1/staff/lea@stadt.example", body).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, issued) = app
        .send(
            Method::POST,
            "/api/v1/staff/lea@stadt.example/tokens",
            Some(TOKEN),
            None,
        )
        .await;
    let lead = issued["token"].as_str().unwrap();
    let (status, problem) = app
        .send(
            Method::POST,
            "/api/v1/erasures",
            Some(lead),
            Some(json!({"email": "anna@example.org"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    for bad in [
        json!({}),
        json!({"email": "keine-adresse"}),
        json!({"email": 7}),
        json!({"email": "anna@example.org", "reason": "x"}),
    ] {
        let (status, problem) = app
            .send(Method::POST, "/api/v1/erasures", Some(TOKEN), Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
        assert_eq!(problem["type"], "/problems/invalid-request", "{problem}");
    }
    let head = app.all_events().await.len();

    // The address as the citizen typed it differently still finds them.
    let (status, answer) = erase(&app, "Anna@Example.org").await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"erased": true})));
    let (status, answer) = erase(&app, "anna@example.org").await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"erased": false})),
        "nothing left to erase"
    );
    let (status, answer) = erase(&app, "nie@example.org").await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"erased": false})));

    // One event, under the operator, for anna's envelope; her confirmed
    // booking stays hers.
    let events = app.all_events().await;
    let new: Vec<&Value> = events[head..].iter().collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0]["type"], "personal_data.erased");
    assert_eq!(
        new[0]["data"],
        json!({"envelope": envelope_of(&events, &anna), "reason": "request"})
    );
    assert_eq!(new[0]["actor"], json!({"kind": "operator"}));
    assert_eq!(
        new[0]["streams"],
        json!([format!("citizen:{}", envelope_of(&events, &anna).to_ascii_lowercase())])
    );

    // The data is gone, ben's is not; the address leads nowhere.
    let store = store_of(&app).await;
    assert!(!opens(&app, &store, &anna).await);
    assert!(opens(&app, &store, &ben).await);
    assert_eq!(store.vault().find_envelope("anna@example.org").await.unwrap(), None);
    assert!(store.vault().find_envelope("ben@example.org").await.unwrap().is_some());

    // The log replays into the same views; the figures did not move.
    every_view_equals_its_replay(&app).await;
    let (_, after) = app.get(&statistics).await;
    assert_eq!(before, after, "the office's statistics are unchanged");
    let (_, all_after) = app
        .get(&format!("/api/v1/statistics?from={}&to={}", day(), day()))
        .await;
    assert_eq!(all_before, all_after, "all offices' statistics are unchanged");
    let (_, list) = app.get(&format!("/api/v1/offices/mitte/days/{}", day())).await;
    let names: Vec<&Value> = list["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["name"])
        .collect();
    assert_eq!(names, [&Value::Null, &json!("Erika Mustermann")], "{list}");

    // Coming back is a fresh start: a new envelope.
    let again = book(&app, "08:24", "anna@example.org").await;
    let events = app.all_events().await;
    assert_ne!(envelope_of(&events, &again), envelope_of(&events, &anna));
    assert!(opens(&app, &store, &again).await);
    store.close().await;
}

async fn erasure_ends_a_waiting_wish_and_cancels_a_pending_booking(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    office(&app).await;
    // Wilma waits for 9 o'clock and gets a proposal; she has also asked for
    // 08:00 without confirming yet, and holds a confirmed booking at 08:12.
    let wish = json!({"offices": ["mitte"], "services": ["ausweis"], "windows": {weekday_key(): [9]},
                      "citizen": {"name": "Wilma Wunsch", "email": "wilma@example.org"}});
    let (status, answer) = app.send(Method::POST, "/api/v1/wishes", None, Some(wish)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    press(&app, answer["wish_id"].as_str().unwrap(), "confirm_wish").await;
    let made = app.wait_for_events("proposal.made", 1).await;
    let held = made[0]["data"]["units"].clone();
    let pending = book(&app, "08:00", "wilma@example.org").await;
    let kept = book(&app, "08:12", "wilma@example.org").await;
    press(&app, &kept, "confirm_booking").await;
    app.wait_for_mail("wilma@example.org", "Terminvorschlag:").await;
    let head = app.all_events().await.len();

    let (status, answer) = erase(&app, "wilma@example.org").await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"erased": true})));
    let events = app.all_events().await;
    let new: Vec<&Value> = events[head..]
        .iter()
        .filter(|e| e["actor"] == json!({"kind": "operator"}))
        .collect();
    let types: Vec<&str> = new.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["wish.ended", "booking.cancelled", "personal_data.erased"],
        "{new:?}"
    );
    // One append: one request, consecutive positions.
    assert!(new.iter().all(|e| e["correlation_id"] == new[0]["correlation_id"]));
    let positions: Vec<u64> = new.iter().map(|e| e["position"].as_u64().unwrap()).collect();
    assert_eq!(positions, [positions[0], positions[0] + 1, positions[0] + 2]);
    assert_eq!(new[0]["data"]["reason"], "citizen");
    assert_eq!(new[0]["data"]["units"], held, "the proposal's units are free");
    assert_eq!(new[1]["data"]["booking"], pending.as_str());
    assert_eq!(new[1]["data"]["reason"], terminagent_domain::ERASURE_CANCEL_REASON);
    assert_eq!(new[2]["data"]["reason"], "request");
    assert!(
        !events[head..]
            .iter()
            .any(|e| e["type"] == "booking.cancelled" && e["data"]["booking"] == kept.as_str()),
        "the confirmed booking stays"
    );

    // Their mails are recorded as skipped: the address is gone.
    let store = store_of(&app).await;
    for event in &new[..2] {
        let outcome = mail_outcome(&store, event["event_id"].as_str().unwrap()).await;
        assert_eq!(outcome, "skipped: personal data erased", "{event}");
    }
    assert!(
        app.mails_to("wilma@example.org")
            .iter()
            .all(|(subject, _)| !subject.starts_with("Ihr Termin wurde abgesagt")),
        "no mail went out about the erasure"
    );

    // The units are free again: someone else books 08:00 and the 9 o'clock
    // slot the proposal held.
    book(&app, "08:00", "otto@example.org").await;
    let start = held[0]["start"].as_str().unwrap();
    book(&app, start, "paula@example.org").await;
    every_view_equals_its_replay(&app).await;
    // A second erasure finds nothing; nobody is proposed to wilma again.
    assert_eq!(erase(&app, "wilma@example.org").await.1, json!({"erased": false}));
    let events = app.all_events().await;
    assert_eq!(events.iter().filter(|e| e["type"] == "proposal.made").count(), 1);
    store.close().await;
}

/// A mail waiting for its SMTP server when the data goes is recorded as
/// skipped on its next try, instead of being retried forever.
async fn a_mail_pending_when_the_data_goes_is_skipped(backend: Backend) {
    // No SMTP server here: a listener that closes every connection it
    // accepts, so every send fails and is retried, and the test can count
    // the attempts (a closed port would refuse them without a trace).
    let closing = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closing.local_addr().unwrap().port();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let closer = tokio::spawn({
        let attempts = attempts.clone();
        async move {
            while let Ok((connection, _)) = closing.accept().await {
                attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(connection);
            }
        }
    });
    let app = TestApp::spawn_configured(backend, |config| {
        config.mail = MailTransport::Smtp {
            host: "127.0.0.1".into(),
            port,
            implicit_tls: false,
        }
    })
    .await;
    office(&app).await;
    let booking = book(&app, "08:00", "mara@example.org").await;
    let events = app.all_events().await;
    let requested = events.iter().find(|e| e["type"] == "booking.requested").unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let store = store_of(&app).await;
    // The mailer is at it, and failing: it tried twice, and nothing is recorded.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while attempts.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the mailer did not try twice in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(
        store.progress().mail_outcome(&requested).await.unwrap().as_deref(),
        Some("sent")
    );
    let (status, answer) = erase(&app, "mara@example.org").await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"erased": true})));
    assert_eq!(mail_outcome(&store, &requested).await, "skipped: personal data erased");
    let events = app.all_events().await;
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "booking.cancelled" && e["data"]["booking"] == booking.as_str())
    );
    store.close().await;
    closer.abort();
}

/// `--retention`: the timer erases a citizen whose last booking ended long
/// enough ago, under `system:timer` with reason `retention`, and leaves one
/// with a waiting wish or an appointment ahead alone.
async fn the_retention_timer_erases_only_citizens_idle_long_enough(backend: Backend) {
    let start = Utc::now();
    let clock = ManualClock::at(start);
    let app = TestApp::spawn_configured_with_clock(backend, clock.clone(), |config| {
        config.retention = Some(Duration::from_secs(3600));
    })
    .await;
    office(&app).await;
    // Anna cancels now; carl holds a confirmed appointment ahead; bob waits.
    let anna = book(&app, "08:00", "anna@example.org").await;
    press(&app, &anna, "cancel_booking").await;
    let carl = book(&app, "08:12", "carl@example.org").await;
    press(&app, &carl, "confirm_booking").await;
    let wish = json!({"offices": ["mitte"], "services": ["ausweis"], "windows": {weekday_key(): [20]},
                      "citizen": {"name": "Bob Warten", "email": "bob@example.org"}});
    let (status, answer) = app.send(Method::POST, "/api/v1/wishes", None, Some(wish)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    // Within the retention nothing happens. A timer tick that decides
    // nothing leaves no trace to wait for, so this must be a sleep: two and
    // a half ticks of the timer (every second) at 59 minutes. An erasure it
    // made early anyway is caught below too: each one's recorded time must
    // be after the retention.
    clock.set(start + chrono::Duration::minutes(59));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        app.all_events()
            .await
            .iter()
            .all(|e| e["type"] != "personal_data.erased")
    );

    // An hour after anna's cancellation she is erased, and only she.
    clock.set(start + chrono::Duration::minutes(61));
    let erased = app.wait_for_events("personal_data.erased", 1).await;
    let events = app.all_events().await;
    assert_eq!(erased.len(), 1);
    assert_eq!(
        erased[0]["data"],
        json!({"envelope": envelope_of(&events, &anna), "reason": "retention"})
    );
    assert_eq!(erased[0]["actor"], json!({"kind": "system", "id": "timer"}));
    assert!(
        recorded_at(&erased[0]) >= start + chrono::Duration::minutes(60),
        "erased only after the retention: {}",
        erased[0]
    );
    let store = store_of(&app).await;
    assert!(!opens(&app, &store, &anna).await);
    assert!(opens(&app, &store, &carl).await);
    assert_eq!(store.vault().find_envelope("anna@example.org").await.unwrap(), None);

    // Carl's appointment ended an hour ago: he goes too; bob still waits.
    let carl_end = chrono::DateTime::parse_from_rfc3339(&at("08:24")).unwrap().to_utc();
    clock.set(carl_end + chrono::Duration::minutes(61));
    let erased = app.wait_for_events("personal_data.erased", 2).await;
    let events = app.all_events().await;
    assert_eq!(erased.len(), 2, "{erased:?}");
    assert_eq!(erased[1]["data"]["envelope"], envelope_of(&events, &carl).as_str());
    assert!(
        recorded_at(&erased[1]) >= carl_end + chrono::Duration::minutes(60),
        "erased only after the retention: {}",
        erased[1]
    );
    assert!(store.vault().find_envelope("bob@example.org").await.unwrap().is_some());
    every_view_equals_its_replay(&app).await;
    // Nothing more comes: a second erasure would have no event to wait for,
    // so this look can only be a settle, of one and a half timer ticks.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.all_events()
            .await
            .iter()
            .filter(|e| e["type"] == "personal_data.erased")
            .count(),
        2,
        "each citizen is erased once"
    );
    store.close().await;
}

/// Erasures of one citizen racing each other record the erasure once.
async fn racing_erasures_record_it_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    office(&app).await;
    book(&app, "08:00", "rita@example.org").await;
    let races = (0..4).map(|_| erase(&app, "rita@example.org"));
    for (status, answer) in futures::future::join_all(races).await {
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let events = app.all_events().await;
    let count = |kind: &str| events.iter().filter(|e| e["type"] == kind).count();
    assert_eq!(count("personal_data.erased"), 1);
    assert_eq!(count("booking.cancelled"), 1);
    assert_eq!(erase(&app, "rita@example.org").await.1, json!({"erased": false}));
    every_view_equals_its_replay(&app).await;
}

/// Runs `terminagent ARGS`: exit code, stdout, stderr.
async fn terminagent(args: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_terminagent"))
        .args(args)
        .env_remove("TERMINAGENT_DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("terminagent runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `terminagent erase --email ADDRESS`: 0 erased, 0 nothing to erase, 2 on
/// usage or connection errors; the event is the operator's.
async fn the_erase_command_erases_and_says_so(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    office(&app).await;
    let anna = book(&app, "08:00", "anna@example.org").await;
    let url = app.db.url();

    let (code, out, err) = terminagent(&["erase", "--email", "anna@example.org", "--database-url", url]).await;
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.starts_with("erased the personal data of anna@example.org"), "{out}");
    assert!(out.contains("unconfirmed bookings cancelled: 1"), "{out}");
    let events = app.all_events().await;
    let erased: Vec<&Value> = events.iter().filter(|e| e["type"] == "personal_data.erased").collect();
    assert_eq!(erased.len(), 1);
    assert_eq!(erased[0]["actor"], json!({"kind": "operator"}));
    assert_eq!(erased[0]["data"]["envelope"], envelope_of(&events, &anna).as_str());
    let store = store_of(&app).await;
    assert!(!opens(&app, &store, &anna).await);
    store.close().await;

    let (code, out, _) = terminagent(&["erase", "--email", "ANNA@example.org", "--database-url", url]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("nothing to erase"), "{out}");

    for (args, needle) in [
        (vec!["erase", "--database-url", url], "--email"),
        (
            vec!["erase", "--email", "keine-adresse", "--database-url", url],
            "--email",
        ),
        (
            vec![
                "erase",
                "--email",
                "anna@example.org",
                "--database-url",
                "postgres://nobody@127.0.0.1:1/x",
            ],
            "event store",
        ),
    ] {
        let (code, out, err) = terminagent(&args).await;
        assert_eq!(code, 2, "{args:?}: {out} {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let events = app.all_events().await;
    assert_eq!(events.iter().filter(|e| e["type"] == "personal_data.erased").count(), 1);
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    a_request_erases_once_and_changes_no_figure,
    erasure_ends_a_waiting_wish_and_cancels_a_pending_booking,
    a_mail_pending_when_the_data_goes_is_skipped,
    the_retention_timer_erases_only_citizens_idle_long_enough,
    the_erase_command_erases_and_says_so,
    racing_erasures_record_it_once,
);
