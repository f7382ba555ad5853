//! Closing a day or part of it (API.md "Opening hours, closures and the day
//! list"), over HTTP against an app on port 0, on both backends: bookings
//! cancelled and mailed with the reason, units withdrawn for good, open
//! proposals withdrawn while their wishes keep their place — and a closure
//! racing a booking storm leaves no booking on a withdrawn unit.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use terminagent_eventstore::Backend;

mod support;

use support::{TOKEN, TestApp};

/// A weekday a week or more ahead (no opening hours are set, any day works).
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
    let body = json!({"date": day().to_string(), "from": "08:00", "to": "10:00", "unit_minutes": 12, "lanes": 2});
    let (status, answer) = app.staff(Method::POST, "/api/v1/offices/mitte/capacity", body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

async fn book(app: &TestApp, start: &str, email: &str) -> (StatusCode, Value) {
    let body = json!({"office": "mitte", "services": ["ausweis"], "start": at(start),
                      "citizen": {"name": "Erika Mustermann", "email": email}});
    app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await
}

async fn lead_token(app: &TestApp) -> (String, String) {
    let body = json!({"name": "Lea Leitung", "roles": [{"role": "lead", "office": "mitte"}]});
    let (status, entry) = app.staff(Method::PUT, "/api/v1/staff/lea@stadt.example", body).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    let (_, issued) = app
        .send(
            Method::POST,
            "/api/v1/staff/lea@stadt.example/tokens",
            Some(TOKEN),
            None,
        )
        .await;
    (
        issued["token"].as_str().unwrap().to_owned(),
        entry["staff_id"].as_str().unwrap().to_owned(),
    )
}

async fn a_closure_cancels_withdraws_and_keeps_wishes_in_place(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    office(&app).await;
    // In the span 09:00–10:00: anna on lane 1 at 09:12; ben outside at 08:00.
    let (status, _) = book(&app, "09:12", "anna@example.org").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = book(&app, "08:00", "ben@example.org").await;
    assert_eq!(status, StatusCode::CREATED);
    // A wish for the 9 o'clock hour gets a proposal in the span.
    let wish = json!({"offices": ["mitte"], "services": ["ausweis"], "windows": {weekday_key(): [9]},
                      "citizen": {"name": "Wilma Wunsch", "email": "wilma@example.org"}});
    let (status, answer) = app.send(Method::POST, "/api/v1/wishes", None, Some(wish)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // Double opt-in: confirmed, it joins the queue.
    let token = app
        .link_token(answer["wish_id"].as_str().unwrap(), "confirm_wish")
        .await;
    let (status, answer) = app
        .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(
        (status, &answer["outcome"]),
        (StatusCode::OK, &json!("done")),
        "{answer}"
    );
    let made = app.wait_for_events("proposal.made", 1).await;
    let proposal_start = made[0]["data"]["start"].as_str().unwrap().to_owned();
    assert!(proposal_start.contains("T09:"), "{proposal_start}");

    let (lead, lead_id) = lead_token(&app).await;
    let close = |body: Value| app.send(Method::POST, "/api/v1/offices/mitte/closures", Some(&lead), Some(body));
    for (bad, needle) in [
        (
            json!({"date": day().to_string(), "from": "09:00", "reason": "x"}),
            "both",
        ),
        (
            json!({"date": day().to_string(), "from": "10:00", "to": "09:00", "reason": "x"}),
            "after",
        ),
        (json!({"date": day().to_string(), "reason": ""}), "reason"),
        (json!({"date": "2020-01-01", "reason": "x"}), "past"),
        (json!({"date": "morgen", "reason": "x"}), "date"),
    ] {
        let (status, problem) = close(bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(needle),
            "{needle}: {problem}"
        );
    }
    let head = app.all_events().await.len();
    let reason = "Wegen eines Wasserschadens bleibt das Bürgerbüro ab 9 Uhr geschlossen.";
    let (status, answer) =
        close(json!({"date": day().to_string(), "from": "09:00", "to": "10:00", "reason": reason})).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer, json!({"cancelled_bookings": 1, "withdrawn_units": 10}));

    // The log: anna's booking cancelled with the reason, then the withdrawal,
    // then the proposal's withdrawal; all under the lead's name.
    let events = app.all_events().await;
    let closure: Vec<&Value> = events[head..].iter().collect();
    let types: Vec<&str> = closure.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        &types[..3],
        ["booking.cancelled", "capacity.withdrawn", "proposal.withdrawn"],
        "{types:?}"
    );
    for event in &closure[..3] {
        assert_eq!(event["actor"], json!({"kind": "staff", "id": lead_id}));
    }
    assert_eq!(closure[0]["data"]["reason"], reason);
    assert_eq!(closure[1]["data"]["units"].as_array().unwrap().len(), 10);

    // Nothing in the span is offered or bookable again, nor published anew.
    let (_, slots) = app
        .get(&format!(
            "/api/v1/availability?office=mitte&services=ausweis&from={}&to={}",
            day(),
            day()
        ))
        .await;
    let starts: Vec<&str> = slots["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap())
        .collect();
    assert!(starts.iter().all(|start| start.contains("T08:")), "{starts:?}");
    assert!(!starts.is_empty());
    let (status, problem) = book(&app, "09:24", "carl@example.org").await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let again = json!({"date": day().to_string(), "from": "09:00", "to": "10:00", "unit_minutes": 12, "lanes": 1});
    let (status, _) = app.staff(Method::POST, "/api/v1/offices/mitte/capacity", again).await;
    assert_eq!(status, StatusCode::CONFLICT, "the closed span is not published anew");

    // Anna hears why, with links to book anew and to register a wish.
    let mail = app.wait_for_mail("anna@example.org", "Ihr Termin wurde abgesagt").await;
    assert!(mail.contains("Wasserschadens"), "{mail}");
    assert!(mail.contains("/suche"), "{mail}");
    // Wilma's proposal is void, her wish still waits.
    let mail = app
        .wait_for_mail("wilma@example.org", "Der Terminvorschlag entfällt")
        .await;
    assert!(mail.contains("behält ihren Platz"), "{mail}");
    let (_, wishes) = app.get("/api/v1/projections").await;
    assert!(
        wishes["projections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|view| view["equal"] == true),
        "every view equals its replay: {wishes}"
    );
    let ended: Vec<&Value> = events.iter().filter(|e| e["type"] == "wish.ended").collect();
    assert!(ended.is_empty(), "the wish keeps its place");

    // A second closure of the same span has nothing left to close.
    let (status, answer) =
        close(json!({"date": day().to_string(), "from": "09:00", "to": "10:00", "reason": reason})).await;
    assert_eq!(
        (status, answer),
        (
            StatusCode::CREATED,
            json!({"cancelled_bookings": 0, "withdrawn_units": 0})
        )
    );

    // The whole day: ben's booking goes too.
    let (status, answer) = close(json!({"date": day().to_string(), "reason": "Personalversammlung"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(answer["cancelled_bookings"], 1);
    assert_eq!(answer["withdrawn_units"], 10);
}

/// Bookings storm one office day while a lead closes most of it: afterwards
/// no booking that is not cancelled holds a withdrawn unit, and no booking
/// was requested for one after the withdrawal.
async fn a_closure_racing_a_booking_storm_leaves_no_booking_on_a_withdrawn_unit(backend: Backend) {
    // The closure lands before, amid and after the storm's bookings.
    for delay in [0, 5, 10, 20, 40] {
        storm_against_closure(backend, Duration::from_millis(delay)).await;
    }
}

async fn storm_against_closure(backend: Backend, delay: Duration) {
    let app = TestApp::spawn(backend).await;
    office(&app).await;
    let (lead, _) = lead_token(&app).await;
    let starts: Vec<String> = (0..10)
        .map(|i| format!("{:02}:{:02}", 8 + i * 12 / 60, i * 12 % 60))
        .collect();
    let storm = (0..60).map(|i| {
        let app = &app;
        let start = starts[i % starts.len()].clone();
        async move { book(app, &start, &format!("sturm{i}@example.org")).await.0 }
    });
    let closure = async {
        tokio::time::sleep(delay).await;
        app.send(
            Method::POST,
            "/api/v1/offices/mitte/closures",
            Some(&lead),
            Some(json!({"date": day().to_string(), "from": "08:24", "to": "10:00", "reason": "Stromausfall"})),
        )
        .await
    };
    let (statuses, (status, answer)) = tokio::join!(futures::future::join_all(storm), closure);
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );

    // Fold the log in order, by hand.
    let events = app.all_events().await;
    let mut withdrawn: BTreeSet<String> = BTreeSet::new();
    let mut holding: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let unit_key = |unit: &Value| format!("{}-{}", unit["lane"], unit["start"]);
    for event in &events {
        let data = &event["data"];
        match event["type"].as_str().unwrap() {
            "booking.requested" => {
                let units: Vec<String> = data["units"].as_array().unwrap().iter().map(unit_key).collect();
                assert!(
                    units.iter().all(|unit| !withdrawn.contains(unit)),
                    "a booking took a withdrawn unit at position {}",
                    event["position"]
                );
                holding.insert(data["booking"].as_str().unwrap().to_owned(), units);
            }
            "booking.cancelled" | "booking.lapsed" => {
                holding.remove(data["booking"].as_str().unwrap());
            }
            "capacity.withdrawn" => {
                withdrawn.extend(data["units"].as_array().unwrap().iter().map(unit_key));
                for (booking, units) in &holding {
                    assert!(
                        units.iter().all(|unit| !withdrawn.contains(unit)),
                        "booking {booking} still holds a withdrawn unit"
                    );
                }
            }
            _ => {}
        }
    }
    assert_eq!(withdrawn.len(), 16, "08:24 to 10:00 on two lanes");
    let cancelled_by_closure = events
        .iter()
        .filter(|e| e["type"] == "booking.cancelled" && e["data"]["reason"] == "Stromausfall")
        .count();
    eprintln!(
        "storm, closure after {delay:?}: {} booked, {} refused, {cancelled_by_closure} cancelled by the closure",
        statuses.iter().filter(|s| **s == StatusCode::CREATED).count(),
        statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count()
    );
    assert!(holding.values().flatten().all(|unit| !withdrawn.contains(unit)));
    assert!(!holding.is_empty(), "08:00 and 08:12 stay bookable");
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    a_closure_cancels_withdraws_and_keeps_wishes_in_place,
    a_closure_racing_a_booking_storm_leaves_no_booking_on_a_withdrawn_unit,
);
