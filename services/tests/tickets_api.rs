//! Walk-in tickets over HTTP (API.md "The office floor"): the earliest free
//! start from now on today, confirmed at once with the day's next number,
//! only for walk-in services, and racing kiosks never share a unit or a
//! number (invariant 1). The app's clock is the test's.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ManualClock, TestApp};
use terminagent_eventstore::Backend;

fn day() -> NaiveDate {
    Utc::now().date_naive() + Days::new(10)
}

fn at(time: &str) -> DateTime<Utc> {
    day()
        .and_time(NaiveTime::parse_from_str(time, "%H:%M").unwrap())
        .and_utc()
}

fn local(time: &str) -> String {
    at(time).format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// An office in UTC with 09:00–10:00 on one lane (five 12-minute units),
/// a walk-in service and one that is not, and a kiosk; the clock at 08:00.
async fn office(backend: Backend) -> (TestApp, Arc<ManualClock>, String) {
    let clock = ManualClock::at(at("08:00"));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    let body = json!({"name": "Bürgerbüro Mitte", "address": "Markt 1", "timezone": "UTC"});
    app.staff(Method::PUT, "/api/v1/offices/mitte", body).await;
    for (id, walk_in) in [("melde", true), ("pass", false)] {
        let body = json!({"name": id, "duration_minutes": 12, "walk_in": walk_in});
        let (status, entry) = app.staff(Method::PUT, &format!("/api/v1/services/{id}"), body).await;
        assert_eq!(status, StatusCode::CREATED, "{entry}");
        assert_eq!(entry["walk_in"], walk_in);
    }
    let body = json!({"date": day().to_string(), "from": "09:00", "to": "10:00", "unit_minutes": 12, "lanes": 1});
    let (status, _) = app.staff(Method::POST, "/api/v1/offices/mitte/capacity", body).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, device) = app
        .staff(
            Method::POST,
            "/api/v1/offices/mitte/devices",
            json!({"kind": "kiosk", "name": "Eingang"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    (app, clock, device["token"].as_str().unwrap().to_owned())
}

async fn ticket(app: &TestApp, kiosk: &str, services: &[&str]) -> (StatusCode, Value) {
    app.send(
        Method::POST,
        "/api/v1/offices/mitte/tickets",
        Some(kiosk),
        Some(json!({"services": services})),
    )
    .await
}

async fn a_ticket_takes_the_next_free_start_today_and_checks_in(backend: Backend) {
    let (app, clock, kiosk) = office(backend).await;
    // A citizen holds 09:00 (pending: no number yet).
    let body = json!({"office": "mitte", "services": ["pass"], "start": local("09:00"),
                      "citizen": {"name": "Erika Mustermann", "email": "erika@example.org"}});
    let (status, answer) = app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    clock.set(at("08:50"));
    let (status, first) = ticket(&app, &kiosk, &["melde"]).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["start"], local("09:12"), "09:00 is taken");
    assert_eq!(first["end"], local("09:24"));
    assert_eq!(first["number"], "1");
    let code = first["check_in_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 8);

    // The ticket checks in like any booking, from 15 minutes before its start.
    clock.set(at("08:57"));
    let (status, checked) = app
        .send(
            Method::POST,
            "/api/v1/offices/mitte/check-ins",
            Some(&kiosk),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    assert_eq!(
        (&checked["booking_id"], &checked["number"]),
        (&first["booking_id"], &first["number"])
    );

    let (status, second) = ticket(&app, &kiosk, &["melde"]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (second["start"].as_str(), second["number"].as_str()),
        (Some(local("09:24").as_str()), Some("2"))
    );

    // Only walk-in services; an unknown one is not found.
    let (status, problem) = ticket(&app, &kiosk, &["melde", "pass"]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(problem["type"].as_str().unwrap().ends_with("/not-walk-in"), "{problem}");
    let (status, _) = ticket(&app, &kiosk, &["nix"]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = ticket(&app, &kiosk, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The rest of the day, then nothing.
    for start in ["09:36", "09:48"] {
        let (status, next) = ticket(&app, &kiosk, &["melde"]).await;
        assert_eq!(
            (status, next["start"].as_str()),
            (StatusCode::CREATED, Some(local(start).as_str()))
        );
    }
    let (status, problem) = ticket(&app, &kiosk, &["melde"]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        problem["type"].as_str().unwrap().ends_with("/no-slot-today"),
        "{problem}"
    );

    // The log: four tickets under the kiosk, no citizen; the day list shows them without a name.
    let events = app.all_events().await;
    let tickets: Vec<&Value> = events.iter().filter(|e| e["type"] == "booking.ticket_issued").collect();
    assert_eq!(tickets.len(), 4);
    assert!(tickets.iter().all(|e| e["actor"]["kind"] == "device"));
    assert!(tickets.iter().all(|e| !e["streams"].to_string().contains("citizen:")));
    let (_, list) = app.get(&format!("/api/v1/offices/mitte/days/{}", day())).await;
    let walk_ins: Vec<&Value> = list["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["name"].is_null())
        .collect();
    assert_eq!(walk_ins.len(), 4);
    // The first is checked in (the day list follows the floor), the rest wait for their time.
    for walk_in in &walk_ins {
        let expected = if walk_in["booking_id"] == first["booking_id"] {
            "checked_in"
        } else {
            "confirmed"
        };
        assert_eq!(walk_in["status"], expected, "{walk_in}");
        assert!(walk_in["number"].is_string(), "{walk_in}");
    }
    let (_, check) = app.get("/api/v1/projections").await;
    assert!(
        check["projections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|view| view["equal"] == true),
        "{check}"
    );
}

/// Twenty kiosks draw at once for five units: five tickets, each its own
/// unit and number; the rest hear that nothing is left today.
async fn racing_kiosks_never_share_a_unit_or_a_number(backend: Backend) {
    let (app, clock, kiosk) = office(backend).await;
    clock.set(at("08:30"));
    let answers = join_all((0..20).map(|_| ticket(&app, &kiosk, &["melde"]))).await;
    let issued: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .map(|(_, ticket)| ticket)
        .collect();
    assert_eq!(issued.len(), 5, "{answers:?}");
    assert!(
        answers.iter().all(|(status, body)| *status == StatusCode::CREATED
            || (*status == StatusCode::CONFLICT && body["type"].as_str().unwrap().ends_with("/no-slot-today"))),
        "{answers:?}"
    );
    let starts: BTreeSet<&str> = issued.iter().map(|t| t["start"].as_str().unwrap()).collect();
    let numbers: BTreeSet<&str> = issued.iter().map(|t| t["number"].as_str().unwrap()).collect();
    assert_eq!(starts.len(), 5);
    assert_eq!(numbers, ["1", "2", "3", "4", "5"].into_iter().collect());
    let (_, check) = app.get("/api/v1/projections").await;
    assert!(
        check["projections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|view| view["equal"] == true),
        "{check}"
    );
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    a_ticket_takes_the_next_free_start_today_and_checks_in,
    racing_kiosks_never_share_a_unit_or_a_number,
);
