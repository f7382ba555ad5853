//! Catalogue, capacity and audit over HTTP (API.md "Catalogue and capacity",
//! "Audit", "Conventions"), against an app on port 0, on both backends.

use chrono::{Days, NaiveDate, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use terminagent::projections::{CatalogueView, OfficeEntry, rebuild};
use terminagent_domain::{HolidayRegion, OfficeTimeZone};
use terminagent_eventstore::{Backend, EventStore, StoreOptions};

mod support;

use support::{TOKEN, TestApp};

fn stadtmitte() -> Value {
    json!({"name": "Bürger-Service-Station Stadtmitte", "address": "Sonnenwall 73-75, 47051 Duisburg", "timezone": "Europe/Berlin"})
}

fn next_week() -> String {
    (Utc::now().date_naive() + Days::new(7)).format("%Y-%m-%d").to_string()
}

async fn offices_are_created_updated_listed_and_guarded(backend: Backend) {
    use reqwest::Method;
    let app = TestApp::spawn(backend).await;

    let (status, problem) = app
        .send(Method::PUT, "/api/v1/offices/stadtmitte", None, Some(stadtmitte()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    let (status, _) = app
        .send(
            Method::PUT,
            "/api/v1/offices/stadtmitte",
            Some("wrong"),
            Some(stadtmitte()),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, office) = app.staff(Method::PUT, "/api/v1/offices/stadtmitte", stadtmitte()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(office["id"], "stadtmitte");
    assert_eq!(office["timezone"], "Europe/Berlin");
    let (status, _) = app.staff(Method::PUT, "/api/v1/offices/stadtmitte", stadtmitte()).await;
    assert_eq!(status, StatusCode::OK, "the same PUT again changes nothing");
    let mut renamed = stadtmitte();
    renamed["name"] = json!("BSS Stadtmitte");
    let (status, _) = app.staff(Method::PUT, "/api/v1/offices/stadtmitte", renamed).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .staff(
            Method::PUT,
            "/api/v1/offices/walsum",
            json!({"name": "Walsum", "timezone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "the address may be left out");

    let (status, list) = app.send(Method::GET, "/api/v1/offices", None, None).await;
    assert_eq!(status, StatusCode::OK, "the list is public");
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["BSS Stadtmitte", "Walsum"],
        "a write is visible to the next read"
    );

    for (path, body) in [
        ("/api/v1/offices/Stadt%20Mitte", stadtmitte()),
        ("/api/v1/offices/x", json!({"name": "X", "timezone": "Mars/Olympus"})),
        ("/api/v1/offices/x", json!({"name": "", "timezone": "Europe/Berlin"})),
        ("/api/v1/offices/x", json!({"name": "X"})),
    ] {
        let (status, problem) = app.staff(Method::PUT, path, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {problem}");
    }

    // Replay equals live: a view rebuilt from the log lists the same offices.
    let store = EventStore::connect(app.db.url(), StoreOptions::default())
        .await
        .unwrap();
    let (rebuilt, _) = rebuild::<CatalogueView>(&store).await.unwrap();
    let rebuilt: Vec<OfficeEntry> = rebuilt.offices().cloned().collect();
    assert_eq!(serde_json::to_value(&rebuilt).unwrap(), list);
    store.close().await;
}

async fn services_are_registered_within_limits(backend: Backend) {
    use reqwest::Method;
    let app = TestApp::spawn(backend).await;
    let (status, service) = app
        .staff(
            Method::PUT,
            "/api/v1/services/personalausweis",
            json!({"name": "Personalausweis", "duration_minutes": 12}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        service,
        json!({
            "id": "personalausweis",
            "name": "Personalausweis",
            "duration_minutes": 12,
            "walk_in": false,
            "description": null
        }),
        "not offered for walk-ins unless said so, nothing to bring unless said"
    );
    for minutes in [json!(0), json!(481), json!(-5), json!("12")] {
        let (status, problem) = app
            .staff(
                Method::PUT,
                "/api/v1/services/reisepass",
                json!({"name": "Reisepass", "duration_minutes": minutes}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{minutes}: {problem}");
    }
    let (_, list) = app.send(Method::GET, "/api/v1/services", None, None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

async fn capacity_is_published_without_overlaps(backend: Backend) {
    use reqwest::Method;
    let app = TestApp::spawn(backend).await;
    let morning = json!({"date": next_week(), "from": "08:00", "to": "12:00", "unit_minutes": 12, "lanes": 2});

    let (status, _) = app
        .staff(Method::POST, "/api/v1/offices/nowhere/capacity", morning.clone())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.staff(Method::PUT, "/api/v1/offices/stadtmitte", stadtmitte()).await;

    let (status, published) = app
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", morning.clone())
        .await;
    assert_eq!((status, published), (StatusCode::CREATED, json!({"units": 40})));
    let (status, problem) = app
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", morning.clone())
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        problem["type"].as_str().unwrap().ends_with("/capacity-overlap"),
        "{problem}"
    );
    let afternoon = json!({"date": next_week(), "from": "13:00", "to": "15:00", "unit_minutes": 15, "lanes": 3});
    let (status, published) = app
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", afternoon)
        .await;
    assert_eq!((status, published), (StatusCode::CREATED, json!({"units": 24})));

    let yesterday = (Utc::now().date_naive() - Days::new(1)).format("%Y-%m-%d").to_string();
    for body in [
        json!({"date": yesterday, "from": "08:00", "to": "12:00", "unit_minutes": 12, "lanes": 1}),
        json!({"date": next_week(), "from": "12:00", "to": "08:00", "unit_minutes": 12, "lanes": 1}),
        json!({"date": next_week(), "from": "8:00", "to": "12:00", "unit_minutes": 12, "lanes": 1}),
        json!({"date": "2026-02-30", "from": "08:00", "to": "12:00", "unit_minutes": 12, "lanes": 1}),
        json!({"date": next_week(), "from": "16:00", "to": "17:00", "unit_minutes": 0, "lanes": 1}),
        json!({"date": next_week(), "from": "16:00", "to": "17:00", "unit_minutes": 12, "lanes": 0}),
    ] {
        let (status, problem) = app
            .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", body.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
    }
}

fn berlin_today() -> NaiveDate {
    OfficeTimeZone::parse("Europe/Berlin").unwrap().today(Utc::now())
}

/// The first day from `day` on that is no public holiday in NRW.
fn working_day(day: NaiveDate) -> NaiveDate {
    day.iter_days()
        .find(|day| HolidayRegion::NordrheinWestfalen.holiday(*day).is_none())
        .unwrap()
}

/// The next public holiday in NRW after tomorrow, and its name.
fn next_holiday() -> (NaiveDate, &'static str) {
    let today = berlin_today();
    (2..400)
        .map(|ahead| today + Days::new(ahead))
        .find_map(|day| HolidayRegion::NordrheinWestfalen.holiday(day).map(|name| (day, name)))
        .unwrap()
}

async fn opening_hours_holidays_and_closed_days_close_the_office(backend: Backend) {
    use reqwest::Method;
    let app = TestApp::spawn(backend).await;
    // Open every day (so only the holiday and the closed day close a date),
    // with a lunch break.
    let day = json!([["14:00", "18:00"], ["08:00", "12:00"]]);
    let hours = json!({"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day});
    let closed = working_day(berlin_today() + Days::new(7));
    let open = working_day(closed + Days::new(1));
    let (holiday, holiday_name) = next_holiday();
    let mut hamborn = stadtmitte();
    hamborn["opening_hours"] = hours;
    hamborn["holidays"] = json!("DE-NW");
    hamborn["closed_days"] = json!([closed.to_string(), closed.to_string()]);

    let (status, office) = app.staff(Method::PUT, "/api/v1/offices/hamborn", hamborn.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{office}");
    let sorted_day = json!([["08:00", "12:00"], ["14:00", "18:00"]]);
    assert_eq!(office["opening_hours"]["mon"], sorted_day, "intervals come back sorted");
    assert_eq!(office["holidays"], "DE-NW");
    assert_eq!(office["closed_days"], json!([closed.to_string()]), "repeats collapse");
    let (_, list) = app.send(Method::GET, "/api/v1/offices", None, None).await;
    assert_eq!(list, json!([office]), "the list shows what the PUT answered");
    let (status, _) = app.staff(Method::PUT, "/api/v1/offices/hamborn", hamborn.clone()).await;
    assert_eq!(status, StatusCode::OK, "the same calendar again changes nothing");

    let capacity = |date: NaiveDate, from: &str, to: &str| json!({"date": date.to_string(), "from": from, "to": to, "unit_minutes": 12, "lanes": 2});
    let publish = |body: Value| app.staff(Method::POST, "/api/v1/offices/hamborn/capacity", body);
    for (body, says) in [
        (
            capacity(holiday, "08:00", "12:00"),
            format!("public holiday in DE-NW ({holiday_name})"),
        ),
        (
            capacity(closed, "08:00", "12:00"),
            "one of the office's closed days".to_owned(),
        ),
        (capacity(open, "07:00", "12:00"), "07:00–07:12".to_owned()),
        (capacity(open, "08:00", "12:12"), "12:00–12:12".to_owned()),
        (capacity(open, "11:00", "15:00"), "12:00–12:12".to_owned()),
        (
            capacity(open, "17:00", "19:00"),
            "outside the opening hours 08:00–12:00, 14:00–18:00".to_owned(),
        ),
    ] {
        let (status, problem) = publish(body.clone()).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}: {problem}");
        assert!(
            problem["type"].as_str().unwrap().ends_with("/office-closed"),
            "{problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(&says),
            "{says:?} in {problem}"
        );
    }
    // Exactly the opening hours, both intervals.
    let (status, answer) = publish(capacity(open, "08:00", "12:00")).await;
    assert_eq!((status, answer), (StatusCode::CREATED, json!({"units": 40})));
    let (status, answer) = publish(capacity(open, "14:00", "18:00")).await;
    assert_eq!((status, answer), (StatusCode::CREATED, json!({"units": 40})));

    // Details are replaced as a whole: a PUT without the calendar clears it,
    // and the holiday takes capacity again.
    let (status, office) = app.staff(Method::PUT, "/api/v1/offices/hamborn", stadtmitte()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&office["opening_hours"], &office["holidays"], &office["closed_days"]),
        (&Value::Null, &Value::Null, &json!([]))
    );
    let (status, _) = publish(capacity(holiday, "08:00", "12:00")).await;
    assert_eq!(status, StatusCode::CREATED);

    let many: Vec<String> = (0..367).map(|ahead| (closed + Days::new(ahead)).to_string()).collect();
    for (field, value, says) in [
        ("holidays", json!("DE-XX"), "holidays: unknown holiday region \"DE-XX\""),
        (
            "holidays",
            json!("Nordrhein-Westfalen"),
            "expected a German state code such as DE-NW",
        ),
        (
            "opening_hours",
            json!({"mon": [["08:00", "12:00"], ["11:00", "14:00"]]}),
            "opening_hours: mon: 08:00–12:00 and 11:00–14:00 overlap or touch",
        ),
        (
            "opening_hours",
            json!({"mon": [["12:00", "08:00"]]}),
            "must end after it starts",
        ),
        ("opening_hours", json!({}), "open on no day"),
        (
            "opening_hours",
            json!({"monday": [["08:00", "12:00"]]}),
            "unknown field `monday`",
        ),
        (
            "opening_hours",
            json!([["08:00", "12:00"]]),
            "opening_hours: invalid type",
        ),
        (
            "closed_days",
            json!(["2026-02-30"]),
            "closed_days: expected a calendar date",
        ),
        ("closed_days", json!(many), "closed_days: at most 366 days, not 367"),
    ] {
        let mut body = stadtmitte();
        body[field] = value.clone();
        let (status, problem) = app.staff(Method::PUT, "/api/v1/offices/walsum", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field} {value}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{says:?} in {problem}"
        );
    }
    let (_, list) = app.send(Method::GET, "/api/v1/offices", None, None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "nothing refused was registered");
}

async fn bad_bodies_get_problems_not_crashes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = format!("{}/api/v1/offices/stadtmitte", app.base);
    let send = |body: reqwest::RequestBuilder| async move {
        let response = body.bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        response.status()
    };
    let malformed = app
        .client
        .put(&url)
        .header("content-type", "application/json")
        .body("{\"name\": ");
    assert_eq!(send(malformed).await, StatusCode::BAD_REQUEST);
    let not_json = app.client.put(&url).header("content-type", "text/plain").body("hello");
    assert_eq!(send(not_json).await, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = json!({"name": "x".repeat(70 * 1024), "timezone": "Europe/Berlin"});
    assert_eq!(
        send(app.client.put(&url).json(&huge)).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(send(app.client.delete(&url)).await, StatusCode::METHOD_NOT_ALLOWED);
}

/// What cannot be read from a query string or a path is refused with a
/// problem too: a repeated parameter, a segment that is not UTF-8, and a body
/// over 64 KiB on a route that reads none.
async fn unreadable_queries_paths_and_bodies_get_problems(backend: Backend) {
    use reqwest::Method;
    let app = TestApp::spawn(backend).await;
    let twice = "/api/v1/availability?office=a&office=b&services=x&from=2026-12-01&to=2026-12-02";
    let (status, problem) = app.send(Method::GET, twice, None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["type"], "/problems/bad-query");
    let (status, problem) = app.get("/api/v1/events?after=1&after=2").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["type"], "/problems/bad-query");

    let (status, problem) = app.staff(Method::PUT, "/api/v1/offices/%FF", stadtmitte()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["type"], "/problems/bad-path");
    for method in [Method::GET, Method::POST] {
        let (status, problem) = app.send(method, "/api/v1/links/%FF%FE", None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "not UTF-8, so no token: {problem}");
    }

    let token = "VeuTyJJN-Dw6kcFbBL1XIqmlMwCi-szvQcOhvsjGL3U";
    let response = app
        .client
        .post(format!("{}/api/v1/links/{token}", app.base))
        .body("x".repeat(70 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/body-too-large");
}

async fn audit_trail_pages_through_the_log(backend: Backend) {
    use reqwest::Method;
    let app = TestApp::spawn(backend).await;
    let (status, _) = app.send(Method::GET, "/api/v1/events", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.staff(Method::PUT, "/api/v1/offices/stadtmitte", stadtmitte()).await;
    app.staff(
        Method::PUT,
        "/api/v1/services/reisepass",
        json!({"name": "Reisepass", "duration_minutes": 12}),
    )
    .await;
    let morning = json!({"date": next_week(), "from": "08:00", "to": "12:00", "unit_minutes": 12, "lanes": 2});
    app.staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", morning)
        .await;

    let (status, page) = app.get("/api/v1/events").await;
    assert_eq!(status, StatusCode::OK);
    let types: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec!["office.registered", "service.registered", "capacity.published"]
    );
    let positions: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, vec![1, 2, 3]);
    assert_eq!(page["next"], 3);
    let first = &page["events"][0];
    assert_eq!(first["streams"], json!(["office:stadtmitte"]));
    assert_eq!(first["data"]["timezone"], "Europe/Berlin");
    assert!(first["recorded_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        first["actor"],
        json!({"kind": "operator"}),
        "the admin token is the operator's"
    );

    let (_, second) = app.get("/api/v1/events?after=1&limit=1").await;
    assert_eq!(second["events"][0]["position"], 2);
    assert_eq!(second["next"], 2);
    let (_, beyond) = app.get("/api/v1/events?after=3").await;
    assert_eq!(
        beyond,
        json!({"events": [], "next": 3}),
        "nothing after the head; next stays"
    );
    for huge in ["9223372036854775807", "9223372036854775808", "18446744073709551615"] {
        let (_, beyond) = app.get(&format!("/api/v1/events?after={huge}")).await;
        assert_eq!(beyond["events"], json!([]), "after={huge} does not wrap to the start");
    }
    for bad in [
        "?limit=0",
        "?limit=1001",
        "?after=-1",
        "?after=abc",
        "?after=18446744073709551616",
    ] {
        let (status, _) = app.get(&format!("/api/v1/events{bad}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    offices_are_created_updated_listed_and_guarded,
    services_are_registered_within_limits,
    capacity_is_published_without_overlaps,
    opening_hours_holidays_and_closed_days_close_the_office,
    bad_bodies_get_problems_not_crashes,
    unreadable_queries_paths_and_bodies_get_problems,
    audit_trail_pages_through_the_log,
);
