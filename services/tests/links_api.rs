//! Mail links over HTTP (API.md "Mail links", DESIGN.md invariant 7): GET
//! changes nothing, POST acts once, repeats say what already happened.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, berlin_at as at, stadtmitte_a_week_ahead as setup};
use terminagent_eventstore::Backend;

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

/// Turns connections to the test's database away (`allow`: false) and ends
/// those open, or lets them in again.
async fn allow_connections(app: &TestApp, allow: bool) {
    use sqlx::Connection;
    let name = app.db.url().rsplit('/').next().unwrap().to_owned();
    let mut admin = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .unwrap();
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}"))
        .execute(&mut admin)
        .await
        .unwrap();
    if !allow {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&name)
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

/// A link the view does not know yet is looked up in the log; when the log
/// cannot be read, the citizen hears "try again", never "no such link".
#[tokio::test(flavor = "multi_thread")]
async fn a_link_looked_up_while_the_log_is_unreadable_is_a_503_not_a_404() {
    let app = TestApp::spawn(Backend::Postgres).await;
    setup(&app).await;
    book(&app, "08:00", "erika@example.org").await;
    // A well-made token of a booking no one made: unknown to the view.
    let unknown = app.link_token(&ulid::Ulid::new().to_string(), "confirm_booking").await;

    allow_connections(&app, false).await;
    let (status, answer) = app
        .send(Method::GET, &format!("/api/v1/links/{unknown}"), None, None)
        .await;
    let page = app
        .client
        .get(format!("{}/links/{unknown}", app.base))
        .send()
        .await
        .unwrap();
    let page_status = page.status();
    let html = page.text().await.unwrap();
    allow_connections(&app, true).await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["type"], "/problems/unavailable");
    assert_eq!(page_status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        html.contains("Bitte versuchen Sie es in einer Minute noch einmal"),
        "{html}"
    );
    // Back again, the unknown link is what it is: not found.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, answer) = app
            .send(Method::GET, &format!("/api/v1/links/{unknown}"), None, None)
            .await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status} {answer}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
