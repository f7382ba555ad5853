//! Shared by the HTTP tests: an app spawned in-process on port 0.
#![allow(dead_code)] // each test file uses a different part

pub mod audit;
pub mod smtp;

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::Value;
use terminagent::app::Application;
use terminagent::application::{Clock, SystemClock};
use terminagent::config::{AdminToken, BusConfig, Config, LogFormat, MailTransport, Role};
use terminagent_eventstore::Backend;
use terminagent_eventstore::testing::TestDatabase;

pub const TOKEN: &str = "staff-secret-token-of-the-test-installation";

/// A clock the test sets: the app's decisions see the time it says.
pub struct ManualClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl ManualClock {
    pub fn at(now: chrono::DateTime<chrono::Utc>) -> std::sync::Arc<ManualClock> {
        std::sync::Arc::new(ManualClock(std::sync::Mutex::new(now)))
    }

    pub fn set(&self, now: chrono::DateTime<chrono::Utc>) {
        *self.0.lock().unwrap() = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

/// An app on port 0 with its own database and outbox (zero2prod style).
pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub db: std::sync::Arc<TestDatabase>,
    _outbox: tempdir::Outbox,
}

mod tempdir {
    pub struct Outbox(pub std::path::PathBuf);
    impl Drop for Outbox {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        let db = TestDatabase::new(backend).await.expect("test database");
        TestApp::spawn_on(std::sync::Arc::new(db), false).await
    }

    /// An app whose configuration `adjust` changes first.
    pub async fn spawn_configured(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let db = TestDatabase::new(backend).await.expect("test database");
        TestApp::start(std::sync::Arc::new(db), false, adjust).await
    }

    /// Another app on an existing database (as after a restart).
    pub async fn spawn_on(db: std::sync::Arc<TestDatabase>, demo: bool) -> TestApp {
        TestApp::start(db, demo, |_| {}).await
    }

    /// Another app on an existing database, configured by `adjust` (e.g. a second process).
    pub async fn start_on(db: std::sync::Arc<TestDatabase>, adjust: impl FnOnce(&mut Config)) -> TestApp {
        TestApp::start(db, false, adjust).await
    }

    /// An app whose decisions read `clock` (e.g. a [`ManualClock`]).
    pub async fn spawn_with_clock(backend: Backend, clock: std::sync::Arc<dyn Clock>) -> TestApp {
        let db = TestDatabase::new(backend).await.expect("test database");
        TestApp::start_with_clock(std::sync::Arc::new(db), false, |_| {}, clock).await
    }

    /// An app whose decisions read `clock`, configured by `adjust` (e.g. a timer's setting).
    pub async fn spawn_configured_with_clock(
        backend: Backend,
        clock: std::sync::Arc<dyn Clock>,
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        let db = TestDatabase::new(backend).await.expect("test database");
        TestApp::start_with_clock(std::sync::Arc::new(db), false, adjust, clock).await
    }

    async fn start(db: std::sync::Arc<TestDatabase>, demo: bool, adjust: impl FnOnce(&mut Config)) -> TestApp {
        TestApp::start_with_clock(db, demo, adjust, std::sync::Arc::new(SystemClock)).await
    }

    async fn start_with_clock(
        db: std::sync::Arc<TestDatabase>,
        demo: bool,
        adjust: impl FnOnce(&mut Config),
        clock: std::sync::Arc<dyn Clock>,
    ) -> TestApp {
        let outbox = std::env::temp_dir().join(format!("terminagent-outbox-{}", ulid::Ulid::new()));
        let mut config = Config {
            role: Role::All,
            database_url: db.url().to_owned(),
            bus: BusConfig::InProcess,
            mail: MailTransport::Files(outbox.clone()),
            mail_from: "Bürgerservice <termine@stadt.example>".parse().unwrap(),
            mail_claim_lease: Duration::from_secs(60),
            bind: "127.0.0.1:0".parse().unwrap(),
            public_url: None,
            admin_token: Some(AdminToken::parse(TOKEN).unwrap()),
            metrics_token: None,
            link_secret_file: None,
            demo,
            site: Default::default(),
            proposal_ttl: Duration::from_secs(48 * 3600),
            confirm_ttl: Duration::from_secs(2 * 3600),
            rate_limit_per_minute: None,
            trusted_proxies: Vec::new(),
            // Off here: most tests are about something else and post from one
            // address; tests/hoarding.rs runs the defaults.
            proof_of_work_difficulty: 0,
            max_pending_bookings_per_network: 0,
            failed_auth_limit: 10,
            log_format: LogFormat::Text,
            booking_horizon_days: 21,
            max_open_bookings: 3,
            max_unanswered_proposals: 3,
            check_in_early: Duration::from_secs(15 * 60),
            check_in_late: Duration::from_secs(5 * 60),
            recall_after: Duration::from_secs(5 * 60),
            reminder_at: terminagent_domain::LocalTime::from_hm(7, 0).unwrap(),
            retention: None,
        };
        adjust(&mut config);
        let app = Application::build_with_clock(config, clock).await.expect("app starts");
        let base = format!("http://{}", app.address());
        tokio::spawn(app.run_until(std::future::pending()));
        TestApp {
            base,
            client: Client::new(),
            db,
            _outbox: tempdir::Outbox(outbox),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let is_problem = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/problem+json");
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            assert!(is_problem, "errors are problem+json: {status} {body}");
            assert_eq!(body["status"].as_u64(), Some(status.as_u16() as u64), "{body}");
        }
        (status, body)
    }

    pub async fn staff(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(method, path, Some(TOKEN), Some(body)).await
    }

    /// The installation's link secret, as the mailer reads it.
    pub async fn link_secret(&self) -> terminagent::links::LinkSecret {
        use terminagent::links::LinkSecret;
        let store = terminagent_eventstore::EventStore::connect(self.db.url(), Default::default())
            .await
            .unwrap();
        let secret = store.vault().installation_secret(LinkSecret::NAME).await.unwrap();
        store.close().await;
        LinkSecret::new(secret)
    }

    /// The token a mail link carries, derived as the mailer derives it.
    pub async fn link_token(&self, booking: &str, action: &str) -> String {
        self.link_secret().await.token(booking, action).as_str().to_owned()
    }

    /// Every event of the log, through the audit API.
    pub async fn all_events(&self) -> Vec<Value> {
        let (mut after, mut events) = (0, Vec::new());
        loop {
            let (_, page) = self.get(&format!("/api/v1/events?after={after}&limit=1000")).await;
            let batch = page["events"].as_array().unwrap().clone();
            if batch.is_empty() {
                return events;
            }
            after = page["next"].as_u64().unwrap();
            events.extend(batch);
        }
    }

    /// (subject, plain text) of each mail to `address` in the outbox so far.
    pub fn mails_to(&self, address: &str) -> Vec<(String, String)> {
        let Ok(entries) = std::fs::read_dir(self.outbox()) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
            .filter_map(|raw| {
                let message = mail_parser::MessageParser::default().parse(&raw)?;
                let to = message.to()?.first()?.address()?.to_owned();
                (to == address).then(|| {
                    (
                        message.subject().unwrap_or_default().to_owned(),
                        message.body_text(0).unwrap_or_default().into_owned(),
                    )
                })
            })
            .collect()
    }

    /// The text of the first mail to `address` whose subject starts with
    /// `subject`, once it is written; panics after 20 s.
    pub async fn wait_for_mail(&self, address: &str, subject: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((_, text)) = self
                .mails_to(address)
                .into_iter()
                .find(|(found, _)| found.starts_with(subject))
            {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no mail {subject:?} to {address}: {:?}",
                self.mails_to(address).iter().map(|(s, _)| s).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The directory `--mail file:DIR` writes to (when the test did not choose SMTP).
    pub fn outbox(&self) -> &std::path::Path {
        &self._outbox.0
    }

    /// The events of `event_type` once there are at least `count` of them
    /// (the matcher works in the background); panics after 20 s.
    pub async fn wait_for_events(&self, event_type: &str, count: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let events: Vec<Value> = self
                .all_events()
                .await
                .into_iter()
                .filter(|event| event["type"] == event_type)
                .collect();
            if events.len() >= count {
                return events;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "waited 20 s for {count} {event_type} events, saw {}",
                events.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The sent-mail ledger (mail key, outcome) once the mail relay has
    /// passed the log's head, no claim is open and at least `sent` mails are
    /// recorded `sent`: the condition "every mail handled" instead of a
    /// sleep. Panics after 30 s. Callers assert on it, then again after a
    /// further settle, so a late duplicate is seen too.
    pub async fn mails_settled(&self, sent: usize) -> Vec<(String, String)> {
        let store = terminagent_eventstore::EventStore::connect(self.db.url(), Default::default())
            .await
            .expect("the test's store");
        let progress = store.progress();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let ledger = loop {
            let head = store.head().await.expect("the log's head");
            let relayed = progress
                .checkpoint(terminagent::mail::RELAY_CHECKPOINT)
                .await
                .expect("the relay's checkpoint");
            let ledger = progress.mail_ledger().await.expect("the sent-mail ledger");
            let done = ledger.iter().filter(|(_, outcome)| outcome == "sent").count();
            let open = ledger.iter().any(|(_, outcome)| outcome == "sending");
            if relayed >= head && done >= sent && !open {
                break ledger;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "mail not settled after 30 s: relay at {relayed} of {head}, {done} of {sent} sent, ledger {ledger:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        store.close().await;
        ledger
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, Some(TOKEN), None).await
    }

    /// The sent-mail ledger once mail has settled (see
    /// [`TestApp::mails_settled`]), checked to hold exactly `sent` mails
    /// recorded `sent` and each mail key once.
    pub async fn mails_settled_exactly(&self, sent: usize) -> Vec<(String, String)> {
        let ledger = self.mails_settled(sent).await;
        let done = ledger.iter().filter(|(_, outcome)| outcome == "sent").count();
        assert_eq!(done, sent, "exactly {sent} mails recorded sent: {ledger:?}");
        let keys: std::collections::BTreeSet<&String> = ledger.iter().map(|(key, _)| key).collect();
        assert_eq!(keys.len(), ledger.len(), "each mail key once: {ledger:?}");
        ledger
    }

    /// How many mail files the outbox holds (`--mail file:DIR`).
    pub fn outbox_count(&self) -> usize {
        std::fs::read_dir(self.outbox()).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.path().is_file())
                .count()
        })
    }
}

/// The instant of `hhmm`, Berlin time, `ahead` days from today.
pub fn berlin_at(ahead: u64, hhmm: &str) -> chrono::DateTime<chrono::Utc> {
    let zone = terminagent_domain::OfficeTimeZone::parse("Europe/Berlin").unwrap();
    zone.instant(
        chrono::Utc::now().date_naive() + chrono::Days::new(ahead),
        terminagent_domain::LocalTime::parse(hhmm).unwrap(),
    )
    .unwrap()
}

/// The office most tests book at: `stadtmitte` (Berlin time), the service
/// `reisepass` (12 minutes), and one lane 08:00–12:00 seven days ahead.
pub async fn stadtmitte_a_week_ahead(app: &TestApp) {
    use serde_json::json;
    let office = json!({"name": "Stadtmitte", "timezone": "Europe/Berlin"});
    app.staff(reqwest::Method::PUT, "/api/v1/offices/stadtmitte", office)
        .await;
    app.staff(
        reqwest::Method::PUT,
        "/api/v1/services/reisepass",
        json!({"name": "Reisepass", "duration_minutes": 12}),
    )
    .await;
    let day = (chrono::Utc::now().date_naive() + chrono::Days::new(7)).to_string();
    let capacity = json!({"date": day, "from": "08:00", "to": "12:00", "unit_minutes": 12, "lanes": 1});
    let (status, answer) = app
        .staff(reqwest::Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}
