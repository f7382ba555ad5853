//! Booking requests over HTTP (API.md "Bookings"), and the storm that tries to
//! break invariant 1: many concurrent requests for the same units.

mod support;

use std::collections::HashSet;

use chrono::{DateTime, Days, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use terminagent_domain::{LocalTime, OfficeTimeZone};
use terminagent_eventstore::Backend;

fn day(ahead: u64) -> chrono::NaiveDate {
    Utc::now().date_naive() + Days::new(ahead)
}

/// `hh:mm` on the office-local day `ahead` days from now, as an instant.
fn at(ahead: u64, hhmm: &str) -> DateTime<Utc> {
    let zone = OfficeTimeZone::parse("Europe/Berlin").unwrap();
    zone.instant(day(ahead), LocalTime::parse(hhmm).unwrap()).unwrap()
}

async fn office_with_capacity(app: &TestApp, lanes: u16) {
    let office = json!({"name": "Stadtmitte", "address": "Sonnenwall 73", "timezone": "Europe/Berlin"});
    app.staff(Method::PUT, "/api/v1/offices/stadtmitte", office).await;
    for service in ["personalausweis", "reisepass"] {
        app.staff(
            Method::PUT,
            &format!("/api/v1/services/{service}"),
            json!({"name": service, "duration_minutes": 12}),
        )
        .await;
    }
    let capacity =
        json!({"date": day(7).to_string(), "from": "08:00", "to": "12:00", "unit_minutes": 12, "lanes": lanes});
    let (status, _) = app
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

fn booking(services: &[&str], start: DateTime<Utc>, email: &str) -> Value {
    json!({
        "office": "stadtmitte",
        "services": services,
        "start": start.to_rfc3339(),
        "citizen": {"name": "Erika Mustermann", "email": email, "phone": "+49 203 1234"}
    })
}

async fn book(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await
}

async fn a_booking_holds_its_units_and_answers_in_office_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    office_with_capacity(&app, 2).await;

    let (status, answer) = book(
        &app,
        booking(&["personalausweis", "reisepass"], at(7, "08:12"), "erika@example.org"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["status"], "pending_confirmation");
    assert_eq!(answer["office"], "stadtmitte");
    let start = DateTime::parse_from_rfc3339(answer["start"].as_str().unwrap()).unwrap();
    let end = DateTime::parse_from_rfc3339(answer["end"].as_str().unwrap()).unwrap();
    assert_eq!(start, at(7, "08:12"));
    assert_eq!(
        end - start,
        chrono::Duration::minutes(24),
        "two services of 12 minutes take two units"
    );
    let offset = OfficeTimeZone::parse("Europe/Berlin")
        .unwrap()
        .to_local(at(7, "08:12"))
        .format("%:z")
        .to_string();
    assert!(
        answer["start"].as_str().unwrap().ends_with(&offset),
        "instants carry the office's offset: {answer}"
    );
    assert!(answer["confirm_by"].is_string());
    assert_eq!(answer["booking_id"].as_str().unwrap().len(), 26);

    // The second lane takes the same start once more; then it is gone.
    let (status, _) = book(&app, booking(&["personalausweis"], at(7, "08:12"), "max@example.org")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = book(&app, booking(&["personalausweis"], at(7, "08:12"), "eva@example.org")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(problem["type"].as_str().unwrap().ends_with("/slot-taken"), "{problem}");
    // 08:24 is held by the first booking's second unit on lane 1 only.
    let (status, _) = book(&app, booking(&["personalausweis"], at(7, "08:24"), "eva@example.org")).await;
    assert_eq!(status, StatusCode::CREATED);

    // The audit trail shows the request, with the citizen only as an envelope id.
    let events = app.all_events().await;
    let requested: Vec<&Value> = events.iter().filter(|e| e["type"] == "booking.requested").collect();
    assert_eq!(requested.len(), 3);
    assert!(requested.iter().all(|e| e["actor"] == json!({"kind": "citizen"})));
    assert_eq!(
        requested[0]["data"]["citizen"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["envelope_id"]
    );
    let text = serde_json::to_string(&events).unwrap();
    assert!(
        !text.contains("erika@example.org") && !text.contains("Mustermann"),
        "no personal data in the log"
    );
}

async fn bad_requests_are_refused_with_reasons(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    office_with_capacity(&app, 1).await;
    let good = || booking(&["personalausweis"], at(7, "09:00"), "erika@example.org");
    let with = |key: &str, value: Value| {
        let mut body = good();
        body[key] = value;
        body
    };
    let mut bad_email = good();
    bad_email["citizen"]["email"] = json!("erika@");
    let mut no_name = good();
    no_name["citizen"]["name"] = json!("");
    for (body, expected) in [
        (with("office", json!("nowhere")), StatusCode::NOT_FOUND),
        (with("services", json!(["tanzkurs"])), StatusCode::NOT_FOUND),
        (with("services", json!([])), StatusCode::UNPROCESSABLE_ENTITY),
        (
            with("services", json!(["personalausweis", "personalausweis"])),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (with("start", json!("next tuesday")), StatusCode::UNPROCESSABLE_ENTITY),
        (
            with("start", json!(at(7, "09:00").naive_utc().to_string())),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            with("start", json!((Utc::now() - chrono::Duration::hours(1)).to_rfc3339())),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            with("start", json!(at(30, "09:00").to_rfc3339())),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (with("start", json!(at(7, "09:05").to_rfc3339())), StatusCode::CONFLICT),
        (with("start", json!(at(8, "09:00").to_rfc3339())), StatusCode::CONFLICT),
        (bad_email, StatusCode::UNPROCESSABLE_ENTITY),
        (no_name, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, problem) = book(&app, body.clone()).await;
        assert_eq!(status, expected, "{body}: {problem}");
    }
    assert!(
        app.all_events().await.iter().all(|e| e["type"] != "booking.requested"),
        "nothing was booked"
    );
}

async fn a_citizen_holds_at_most_three_open_bookings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    office_with_capacity(&app, 1).await;
    for (n, start) in ["08:00", "08:12", "08:24"].into_iter().enumerate() {
        let (status, answer) = book(&app, booking(&["personalausweis"], at(7, start), "Erika@Example.org")).await;
        assert_eq!(status, StatusCode::CREATED, "booking {n}: {answer}");
    }
    // The same address, written differently, is the same citizen.
    let (status, problem) = book(&app, booking(&["personalausweis"], at(7, "08:36"), "erika@example.ORG")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        problem["type"].as_str().unwrap().ends_with("/too-many-open-bookings"),
        "{problem}"
    );
    let (status, _) = book(&app, booking(&["personalausweis"], at(7, "08:36"), "max@example.org")).await;
    assert_eq!(status, StatusCode::CREATED, "others are not affected");
}

/// Anti-hoarding and waiting numbers under concurrency: one address asking
/// for 20 slots at once gets three, the rest a clear refusal; confirmations
/// racing on one office-day get distinct waiting numbers.
async fn racing_requests_of_one_citizen_get_three_and_racing_confirmations_distinct_numbers(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    office_with_capacity(&app, 5).await;
    let start = |n: usize| at(7, &format!("{:02}:{:02}", 8 + n * 12 / 60, n * 12 % 60));
    let ask = |n: usize, email: String| {
        let app = app.clone();
        tokio::spawn(async move { book(&app, booking(&["personalausweis"], start(n), &email)).await })
    };
    let hoarding: Vec<_> = (0..20).map(|n| ask(n, "erika@example.org".into())).collect();
    let (mut booked, mut refused) = (Vec::new(), 0);
    for request in hoarding {
        let (status, answer) = request.await.unwrap();
        match status {
            StatusCode::CREATED => booked.push(answer["booking_id"].as_str().unwrap().to_owned()),
            StatusCode::CONFLICT => {
                assert!(
                    answer["type"].as_str().unwrap().ends_with("/too-many-open-bookings"),
                    "{answer}"
                );
                refused += 1;
            }
            other => panic!("{other}: {answer}"),
        }
    }
    assert_eq!((booked.len(), refused), (3, 17));

    let others: Vec<_> = (0..30)
        .map(|n| ask(n % 20, format!("citizen{n}@example.org")))
        .collect();
    for request in others {
        let (status, answer) = request.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        booked.push(answer["booking_id"].as_str().unwrap().to_owned());
    }
    let mut confirmations = Vec::new();
    for booking in &booked {
        let token = app.link_token(booking, "confirm_booking").await;
        let app = app.clone();
        confirmations.push(tokio::spawn(async move {
            app.send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
                .await
        }));
    }
    let mut numbers = HashSet::new();
    for confirmation in confirmations {
        let (status, answer) = confirmation.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["outcome"], "done", "{answer}");
        let number = answer["booking"]["number"]
            .as_str()
            .unwrap_or_else(|| panic!("a confirmed booking shows its number: {answer}"))
            .to_owned();
        assert!(
            (1..=4).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit()),
            "{number}"
        );
        assert!(numbers.insert(number.clone()), "waiting number {number} twice");
    }
    assert_eq!(numbers.len(), 33);
}

/// A request for a slot nobody could take is refused before anything of the
/// citizen is stored: the vault has no envelope for them afterwards.
async fn a_refused_request_leaves_nothing_of_the_citizen(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    office_with_capacity(&app, 1).await;
    let (status, _) = book(&app, booking(&["personalausweis"], at(7, "08:00"), "erika@example.org")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = book(&app, booking(&["personalausweis"], at(7, "08:00"), "eva@example.org")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(problem["type"].as_str().unwrap().ends_with("/slot-taken"), "{problem}");

    let store = app
        .db
        .store(terminagent_eventstore::StoreOptions::default())
        .await
        .unwrap();
    // Asking the vault for an address's envelope with a fresh id gets that
    // fresh id back only if the address had none.
    let fresh = ulid::Ulid::new();
    let eva = store.vault().envelope_for("eva@example.org", fresh).await.unwrap();
    assert_eq!(eva, fresh, "the refused citizen had no envelope");
    let fresh = ulid::Ulid::new();
    let erika = store.vault().envelope_for("erika@example.org", fresh).await.unwrap();
    assert_ne!(erika, fresh, "the booked citizen has one");
}

/// Invariant 1: 1,000 concurrent requests for 100 units (5 lanes × 20 starts).
async fn a_booking_storm_books_each_unit_exactly_once(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    office_with_capacity(&app, 5).await;
    let starts: Vec<String> = (0..20)
        .map(|n| format!("{:02}:{:02}", 8 + n * 12 / 60, n * 12 % 60))
        .collect();
    let requests: Vec<_> = (0..1000)
        .map(|n| {
            let (app, start) = (app.clone(), at(7, &starts[n % starts.len()]));
            tokio::spawn(async move {
                let body = booking(&["personalausweis"], start, &format!("citizen{n}@example.org"));
                let response = app
                    .client
                    .post(format!("{}/api/v1/bookings", app.base))
                    .json(&body)
                    .send()
                    .await;
                response.expect("every request is answered").status()
            })
        })
        .collect();
    let (mut created, mut taken, mut other) = (0, 0, Vec::new());
    for request in requests {
        match request.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => taken += 1,
            status => other.push(status),
        }
    }
    assert!(other.is_empty(), "only 201 and 409, got {other:?}");
    assert_eq!((created, taken), (100, 900));

    let events = app.all_events().await;
    let mut claimed = HashSet::new();
    for event in events.iter().filter(|e| e["type"] == "booking.requested") {
        for unit in event["data"]["units"].as_array().unwrap() {
            assert!(claimed.insert(unit.to_string()), "unit {unit} claimed twice");
        }
    }
    assert_eq!(claimed.len(), 100, "every unit booked once");
}

/// Invariant 1 in a release storm: requests for a day arrive before, while
/// and after its capacity is published (two publications, one after the
/// other, as an office puts out its morning and then its late morning).
/// Every request is answered 201 or 409, no unit is claimed twice, and once
/// the storm has passed every published unit is booked exactly once.
async fn a_release_storm_racing_the_publication_books_each_unit_once(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    let office = json!({"name": "Stadtmitte", "address": "Sonnenwall 73", "timezone": "Europe/Berlin"});
    app.staff(Method::PUT, "/api/v1/offices/stadtmitte", office).await;
    app.staff(
        Method::PUT,
        "/api/v1/services/personalausweis",
        json!({"name": "Personalausweis", "duration_minutes": 12}),
    )
    .await;
    // 08:00–09:48 in 12-minute steps: 5 lanes × 10 starts = 50 units, once both are out.
    let starts: Vec<DateTime<Utc>> = (0..10)
        .map(|n| at(7, &format!("{:02}:{:02}", 8 + n * 12 / 60, n * 12 % 60)))
        .collect();
    let publications_done = std::sync::Arc::new(tokio::sync::Notify::new());
    let citizens: Vec<_> = (0..60)
        .map(|citizen| {
            let (app, starts, done) = (app.clone(), starts.clone(), publications_done.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut settled = std::pin::pin!(done.notified());
                let mut deadline = None;
                for attempt in 0..400 {
                    let start = starts[(citizen * 7 + attempt) % starts.len()];
                    let body = booking(&["personalausweis"], start, &format!("citizen{citizen}@example.org"));
                    let (status, _) = book(&app, body).await;
                    answers.push(status);
                    if status == StatusCode::CREATED {
                        break;
                    }
                    // Keep asking until a while after the last publication.
                    if deadline.is_none() && futures::poll!(settled.as_mut()).is_ready() {
                        deadline = Some(tokio::time::Instant::now() + std::time::Duration::from_secs(3));
                    }
                    if deadline.is_some_and(|deadline| tokio::time::Instant::now() > deadline) {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                answers
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    for (from, to) in [("08:00", "09:00"), ("09:00", "10:00")] {
        let capacity = json!({"date": day(7).to_string(), "from": from, "to": to, "unit_minutes": 12, "lanes": 5});
        let (status, _) = app
            .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
            .await;
        assert_eq!(status, StatusCode::CREATED);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    publications_done.notify_waiters();
    let mut answers = Vec::new();
    for citizen in citizens {
        answers.extend(citizen.await.unwrap());
    }
    let created = answers.iter().filter(|status| **status == StatusCode::CREATED).count();
    let other: Vec<_> = answers
        .iter()
        .filter(|status| !matches!(**status, StatusCode::CREATED | StatusCode::CONFLICT))
        .collect();
    assert!(other.is_empty(), "only 201 and 409, got {other:?}");
    assert!(
        answers.len() > created,
        "some requests came before the capacity and were refused"
    );

    let events = app.all_events().await;
    let mut claimed = HashSet::new();
    for event in events.iter().filter(|e| e["type"] == "booking.requested") {
        for unit in event["data"]["units"].as_array().unwrap() {
            assert!(claimed.insert(unit.to_string()), "unit {unit} claimed twice");
        }
    }
    assert_eq!(created, 50, "every published unit is booked once the storm has passed");
    assert_eq!(claimed.len(), 50);
}

async fn availability(app: &TestApp, query: &str) -> (StatusCode, Value) {
    app.send(Method::GET, &format!("/api/v1/availability?{query}"), None, None)
        .await
}

async fn availability_shows_what_a_booking_could_take(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    office_with_capacity(&app, 2).await;
    let day = day(7).to_string();
    let query = |services: &str| format!("office=stadtmitte&services={services}&from={day}&to={day}");

    let (status, free) = availability(&app, &query("personalausweis")).await;
    assert_eq!(status, StatusCode::OK, "{free}");
    let slots = free["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 20);
    assert!(
        slots
            .iter()
            .all(|slot| slot["free"] == 2 && slot["office"] == "stadtmitte")
    );
    assert_eq!(
        DateTime::parse_from_rfc3339(slots[0]["start"].as_str().unwrap()).unwrap(),
        at(7, "08:00")
    );

    book(&app, booking(&["personalausweis"], at(7, "08:12"), "erika@example.org")).await;
    // Views follow the log a moment behind the booking's answer.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, free) = availability(&app, &query("personalausweis")).await;
        let starts_at_0812 =
            |slot: &&Value| DateTime::parse_from_rfc3339(slot["start"].as_str().unwrap()).unwrap() == at(7, "08:12");
        if free["slots"].as_array().unwrap().iter().find(starts_at_0812).unwrap()["free"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a held unit must stop being free: {free}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Two services need two consecutive units: lane 1 is cut at 08:12.
    let (_, free) = availability(&app, &query("personalausweis,reisepass")).await;
    let first = &free["slots"][0];
    assert_eq!(first["free"], 1);
    let (start, end) = (first["start"].as_str().unwrap(), first["end"].as_str().unwrap());
    let minutes = DateTime::parse_from_rfc3339(end).unwrap() - DateTime::parse_from_rfc3339(start).unwrap();
    assert_eq!(minutes, chrono::Duration::minutes(24));

    // Replay equals live: the view rebuilt from the log offers the same.
    let store = terminagent_eventstore::EventStore::connect(app.db.url(), Default::default())
        .await
        .unwrap();
    let (rebuilt, _) = terminagent::projections::rebuild::<terminagent::projections::AvailabilityView>(&store)
        .await
        .unwrap();
    let office = terminagent_domain::OfficeId::parse("stadtmitte").unwrap();
    let date = terminagent_domain::LocalDate::try_from(self::day(7)).unwrap();
    let rebuilt_free: Vec<u16> = rebuilt.slots(&office, date, 12).iter().map(|slot| slot.lanes).collect();
    let (_, live) = availability(&app, &query("personalausweis")).await;
    let live_free: Vec<u16> = live["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["free"].as_u64().unwrap() as u16)
        .collect();
    assert_eq!(rebuilt_free, live_free);
    store.close().await;

    let later = self::day(40).to_string();
    for (bad, expected) in [
        (
            "services=personalausweis&from=2026-12-01&to=2026-12-01".to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("office=stadtmitte&from={day}&to={day}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("office=stadtmitte&services=personalausweis&from={day}&to={later}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("office=stadtmitte&services=personalausweis&from={later}&to={day}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("office=stadtmitte&services=personalausweis&from=morgen&to={day}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("office=nowhere&services=personalausweis&from={day}&to={day}"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("office=stadtmitte&services=tanzkurs&from={day}&to={day}"),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, problem) = availability(&app, &bad).await;
        assert_eq!(status, expected, "{bad}: {problem}");
    }
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    a_booking_holds_its_units_and_answers_in_office_time,
    bad_requests_are_refused_with_reasons,
    a_citizen_holds_at_most_three_open_bookings,
    racing_requests_of_one_citizen_get_three_and_racing_confirmations_distinct_numbers,
    a_refused_request_leaves_nothing_of_the_citizen,
    a_booking_storm_books_each_unit_exactly_once,
    a_release_storm_racing_the_publication_books_each_unit_once,
    availability_shows_what_a_booking_could_take,
);
