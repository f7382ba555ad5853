//! Mail links over HTTP (API.md "Mail links", DESIGN.md invariant 7): GET
//! changes nothing, POST acts once, repeats say what already happened.

mod support;

use chrono::{DateTime, Days, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use terminagent_domain::{LocalTime, OfficeTimeZone};
use terminagent_eventstore::Backend;

fn at(ahead: u64, hhmm: &str) -> DateTime<Utc> {
    let zone = OfficeTimeZone::parse("Europe/Berlin").unwrap();
    zone.instant(
        Utc::now().date_naive() + Days::new(ahead),
        LocalTime::parse(hhmm).unwrap(),
    )
    .unwrap()
}

async fn setup(app: &TestApp) {
    let office = json!({"name": "Stadtmitte", "timezone": "Europe/Berlin"});
    app.staff(Method::PUT, "/api/v1/offices/stadtmitte", office).await;
    app.staff(
        Method::PUT,
        "/api/v1/services/reisepass",
        json!({"name": "Reisepass", "duration_minutes": 12}),
    )
    .await;
    let day = (Utc::now().date_naive() + Days::new(7)).to_string();
    let capacity = json!({"date": day, "from": "08:00", "to": "12:00", "unit_minutes": 12, "lanes": 1});
    app.staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
        .await;
}

async fn book(app: &TestApp, start: &str, email: &str) -> String {
    let body = json!({"office": "stadtmitte", "services": ["reisepass"], "start": at(7, start).to_rfc3339(),
                      "citizen": {"name": "Erika Mustermann", "email": email}});
    let (status, answer) = app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["booking_id"].as_str().unwrap().to_owned()
}

async fn link_state(app: &TestApp, token: &str) -> Value {
    let (status, answer) = app
        .send(Method::GET, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn press(app: &TestApp, token: &str) -> Value {
    let (status, answer) = app
        .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn confirm_and_cancel_links_act_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup(&app).await;
    let first = book(&app, "08:00", "erika@example.org").await;
    let confirm = app.link_token(&first, "confirm_booking").await;

    assert_eq!(
        link_state(&app, &confirm).await,
        json!({"action": "confirm_booking", "state": "open"})
    );
    // A mail scanner opening the page (GET, HEAD) changes nothing.
    let page = app
        .client
        .get(format!("{}/links/{confirm}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\">") && html.contains("bestätigen"),
        "{html}"
    );
    assert_eq!(
        app.client
            .head(format!("{}/links/{confirm}", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(link_state(&app, &confirm).await["state"], "open");

    let done = press(&app, &confirm).await;
    assert_eq!(done["outcome"], "done");
    assert_eq!(done["booking"]["status"], "confirmed");
    assert_eq!(done["booking"]["number"], "1");
    assert_eq!(done["booking"]["booking_id"], first.as_str());
    let again = press(&app, &confirm).await;
    assert_eq!(again["outcome"], "already_done");
    assert_eq!(
        again["booking"]["number"], "1",
        "the second click says what already happened"
    );
    assert_eq!(link_state(&app, &confirm).await["state"], "used");

    // Waiting numbers count up per office and day.
    let second = book(&app, "08:12", "max@example.org").await;
    let confirm_second = app.link_token(&second, "confirm_booking").await;
    assert_eq!(press(&app, &confirm_second).await["booking"]["number"], "2");

    // Cancelling frees the booking; the confirm link of a cancelled booking is void.
    let third = book(&app, "08:24", "eva@example.org").await;
    let cancel = app.link_token(&third, "cancel_booking").await;
    assert_eq!(
        link_state(&app, &cancel).await,
        json!({"action": "cancel_booking", "state": "open"})
    );
    let page = app
        .client
        .post(format!("{}/links/{cancel}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("abgesagt"));
    assert_eq!(press(&app, &cancel).await["outcome"], "already_done");
    assert_eq!(link_state(&app, &cancel).await["state"], "used");
    let confirm_third = app.link_token(&third, "confirm_booking").await;
    assert_eq!(link_state(&app, &confirm_third).await["state"], "void");
    let void = press(&app, &confirm_third).await;
    assert_eq!(
        (void["outcome"].as_str(), void["booking"]["status"].as_str()),
        (Some("void"), Some("cancelled"))
    );
    // The freed unit can be booked again.
    book(&app, "08:24", "jan@example.org").await;

    // A confirmed booking can be cancelled with the link from its confirmation mail.
    let cancel_first = app.link_token(&first, "cancel_booking").await;
    assert_eq!(press(&app, &cancel_first).await["booking"]["status"], "cancelled");
}

async fn unknown_links_are_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let unknown = terminagent::links::LinkSecret::new([7; 32]).token("01NOTHING", "confirm_booking");
    for token in [unknown.as_str(), "not-a-token", "%2e%2e%2f"] {
        let (status, _) = app
            .send(Method::GET, &format!("/api/v1/links/{token}"), None, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{token}");
        let (status, _) = app
            .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{token}");
        let page = app
            .client
            .get(format!("{}/links/{token}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        assert!(page.text().await.unwrap().contains("Link unbekannt"));
    }
}

async fn unconfirmed_bookings_lapse_and_free_their_units(backend: Backend) {
    let app = TestApp::spawn_configured(backend, |config| config.confirm_ttl = std::time::Duration::from_secs(1)).await;
    setup(&app).await;
    let booking = book(&app, "09:00", "erika@example.org").await;
    let (confirm, cancel) = (
        app.link_token(&booking, "confirm_booking").await,
        app.link_token(&booking, "cancel_booking").await,
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    // The cancel link turns void only once the lapse is recorded.
    while link_state(&app, &cancel).await["state"] != "void" {
        assert!(tokio::time::Instant::now() < deadline, "the booking did not lapse");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(link_state(&app, &confirm).await["state"], "expired");
    let late = press(&app, &confirm).await;
    assert_eq!(
        (late["outcome"].as_str(), late["booking"]["status"].as_str()),
        (Some("expired"), Some("lapsed"))
    );
    // The lapsed booking's unit is free again.
    book(&app, "09:00", "max@example.org").await;
}

/// With `--link-secret-file` the key of every link is the operator's file,
/// not the database's: links made with the file's key act, links made with
/// the key the database would hold do not.
async fn links_are_made_with_the_secret_file_when_one_is_given(backend: Backend) {
    let dir = std::env::temp_dir().join(format!("terminagent-links-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("links.key");
    std::fs::write(&path, format!("{}\n", "5c".repeat(32))).unwrap();
    let app = TestApp::spawn_configured(backend, |config| config.link_secret_file = Some(path.clone())).await;
    setup(&app).await;
    let booking = book(&app, "08:00", "erika@example.org").await;

    let from_file = terminagent::links::LinkSecret::new([0x5c; 32]).token(&booking, "confirm_booking");
    assert_eq!(
        link_state(&app, from_file.as_str()).await,
        json!({"action": "confirm_booking", "state": "open"})
    );
    let from_database = app.link_token(&booking, "confirm_booking").await;
    let (status, _) = app
        .send(Method::GET, &format!("/api/v1/links/{from_database}"), None, None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the database's key makes no working link"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    confirm_and_cancel_links_act_once,
    unknown_links_are_404,
    unconfirmed_bookings_lapse_and_free_their_units,
    links_are_made_with_the_secret_file_when_one_is_given,
);
