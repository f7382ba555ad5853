//! The binary as operators run it (API.md "Running").

use serde_json::Value;
use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, EventStore, StoreOptions};
use terminagent_tests::{Running, Scratch, closed_port, run_to_end, wait_until_ready};

async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

fn check<'a>(readiness: &'a Value, component: &str) -> &'a Value {
    readiness["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == component)
        .unwrap()
}

#[tokio::test]
async fn serve_on_port_zero_answers_health_and_stops_cleanly_on_sigterm() {
    let dir = Scratch::new();
    let app = Running::start(dir.path(), &["serve", "--bind", "127.0.0.1:0"]).await;
    assert!(!app.base_url.ends_with(":0"), "the log names the bound port, not 0");

    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    let (status, readiness) = get_json(&app.url("/readyz")).await;
    assert_eq!(status, 200, "{readiness}");
    assert_eq!(readiness["ready"], true);
    assert_eq!(check(&readiness, "store")["detail"], "sqlite reachable");

    let missing = reqwest::get(app.url("/no/such/thing")).await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "application/problem+json");
    let problem: Value = missing.json().await.unwrap();
    assert_eq!(
        (problem["status"].as_u64(), problem["title"].as_str()),
        (Some(404), Some("Not found"))
    );

    let status = app.terminate().await;
    assert!(status.success(), "SIGTERM ends with exit code 0, got {status:?}");
    assert!(
        dir.path().join("terminagent.db").exists(),
        "the embedded default database was created"
    );
    assert!(
        dir.path().join("outbox").is_dir(),
        "the default mail outbox was created"
    );
}

#[tokio::test]
async fn serve_on_postgres_with_json_logs_is_ready() {
    let db = TestDatabase::new(Backend::Postgres).await.unwrap();
    let dir = Scratch::new();
    let app = Running::start(
        dir.path(),
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            db.url(),
            "--log-format",
            "json",
        ],
    )
    .await;
    let (status, readiness) = get_json(&app.url("/readyz")).await;
    assert_eq!(status, 200, "{readiness}");
    assert_eq!(check(&readiness, "store")["detail"], "postgres reachable");
    assert!(app.terminate().await.success());
}

#[tokio::test]
async fn migrate_applies_the_schema_and_exits() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let db = TestDatabase::new(backend).await.unwrap();
        let dir = Scratch::new();
        let (status, log) = run_to_end(dir.path(), &["migrate", "--database-url", db.url()]).await;
        assert!(status.success(), "{log}");
        assert!(log.contains("migrations applied"), "{log}");
        let (again, log) = run_to_end(dir.path(), &["migrate", "--database-url", db.url()]).await;
        assert!(again.success(), "migrating twice is harmless: {log}");
        let store = EventStore::connect(db.url(), StoreOptions::default()).await.unwrap();
        assert_eq!(store.head().await.unwrap(), 0, "the log tables exist");
        store.close().await;
    }
}

#[tokio::test]
async fn split_process_with_nats_reports_the_bus_and_survives_its_absence() {
    let dir = Scratch::new();
    let app = Running::start(
        dir.path(),
        &["api", "--bind", "127.0.0.1:0", "--nats-url", "nats://127.0.0.1:4222"],
    )
    .await;
    let readiness = wait_until_ready(&app).await;
    assert_eq!(check(&readiness, "bus")["detail"], "nats connected");
    assert!(app.terminate().await.success());

    let nowhere = format!("nats://127.0.0.1:{}", closed_port());
    let app = Running::start(dir.path(), &["api", "--bind", "127.0.0.1:0", "--nats-url", &nowhere]).await;
    assert_eq!(
        reqwest::get(app.url("/healthz")).await.unwrap().status(),
        200,
        "alive without the bus"
    );
    let (status, readiness) = get_json(&app.url("/readyz")).await;
    assert_eq!(status, 503);
    assert_eq!(check(&readiness, "bus")["ok"], false);
    assert_eq!(check(&readiness, "store")["ok"], true);
    assert!(app.terminate().await.success());
}

/// The store's check is real: a database that goes away makes the process
/// unready (alive all the same), and SIGTERM still ends it cleanly.
#[tokio::test]
async fn a_lost_database_makes_the_process_unready() {
    let db = TestDatabase::new(Backend::Postgres).await.unwrap();
    let dir = Scratch::new();
    let app = Running::start(
        dir.path(),
        &["serve", "--bind", "127.0.0.1:0", "--database-url", db.url()],
    )
    .await;
    let (status, readiness) = get_json(&app.url("/readyz")).await;
    assert_eq!(status, 200, "{readiness}");

    let name = db
        .url()
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let admin = db.url().replace(&format!("/{name}"), "/postgres");
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();

    let (status, readiness) = get_json(&app.url("/readyz")).await;
    assert_eq!(status, 503, "{readiness}");
    assert_eq!(check(&readiness, "store")["ok"], false, "{readiness}");
    assert_eq!(
        reqwest::get(app.url("/healthz")).await.unwrap().status(),
        200,
        "still alive"
    );
    assert!(app.terminate().await.success());
}

#[tokio::test]
async fn unreachable_smtp_makes_the_process_unready() {
    let dir = Scratch::new();
    let mail = format!("smtp://127.0.0.1:{}", closed_port());
    let app = Running::start(dir.path(), &["serve", "--bind", "127.0.0.1:0", "--mail", &mail]).await;
    let (status, readiness) = get_json(&app.url("/readyz")).await;
    assert_eq!(status, 503);
    assert_eq!(readiness["ready"], false);
    assert_eq!(check(&readiness, "mail")["ok"], false);
    assert!(app.terminate().await.success());
}

#[tokio::test]
async fn bad_command_lines_get_one_readable_line() {
    let dir = Scratch::new();
    let (status, log) = run_to_end(dir.path(), &["serve", "--mail", "ftp://x"]).await;
    assert_eq!(status.code(), Some(2), "usage errors exit 2");
    assert!(
        log.contains("expected file:DIR, smtp://host:port or smtps://host:port"),
        "{log}"
    );

    let (status, log) = run_to_end(dir.path(), &["matcher"]).await;
    assert_eq!(status.code(), Some(1));
    assert!(log.contains("give --nats-url"), "{log}");

    let (status, log) = run_to_end(dir.path(), &["migrate", "--database-url", "mysql://db/x"]).await;
    assert_eq!(status.code(), Some(1));
    assert_eq!(log.lines().count(), 1, "one line, no backtrace: {log}");
    assert!(log.contains("use sqlite://PATH or postgres://"), "{log}");

    let missing_key = dir.path().join("links.key");
    let args = [
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--link-secret-file",
        missing_key.to_str().unwrap(),
    ];
    let (status, log) = run_to_end(dir.path(), &args).await;
    assert_eq!(status.code(), Some(1));
    assert!(log.contains("openssl rand -hex 32"), "says how to make one: {log}");

    let refused = format!("postgres://postgres@127.0.0.1:{}/x", closed_port());
    let (status, log) = run_to_end(dir.path(), &["migrate", "--database-url", &refused]).await;
    assert_eq!(status.code(), Some(1));
    assert!(log.contains("Connection refused"), "{log}");
}
