//! The waitlist over HTTP (API.md "Wishes", DESIGN.md invariants 3–5): wishes
//! are registered through the API, capacity is published, and the matcher
//! running in the same process proposes it first come, first served. Answers
//! go through the mail links, as a citizen's would.

mod support;

use std::time::Duration;

use chrono::{DateTime, Datelike, Days, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use terminagent::config::{BusConfig, Role};
use terminagent_domain::{LocalTime, OfficeTimeZone};
use terminagent_eventstore::Backend;

const DAYS_AHEAD: u64 = 7;

fn day() -> chrono::NaiveDate {
    Utc::now().date_naive() + Days::new(DAYS_AHEAD)
}

fn at(hhmm: &str) -> DateTime<Utc> {
    OfficeTimeZone::parse("Europe/Berlin")
        .unwrap()
        .instant(day(), LocalTime::parse(hhmm).unwrap())
        .unwrap()
}

/// The API's weekday key of the test day.
fn weekday_key() -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day().weekday().num_days_from_monday() as usize]
}

async fn catalogue(app: &TestApp) {
    for office in ["stadtmitte", "hamborn"] {
        let body = json!({"name": office, "address": "Rathausplatz 1", "timezone": "Europe/Berlin"});
        app.staff(Method::PUT, &format!("/api/v1/offices/{office}"), body).await;
    }
    for service in ["reisepass", "personalausweis"] {
        let body = json!({"name": service, "duration_minutes": 12});
        app.staff(Method::PUT, &format!("/api/v1/services/{service}"), body)
            .await;
    }
}

async fn publish(app: &TestApp, from: &str, to: &str) {
    let body = json!({"date": day().to_string(), "from": from, "to": to, "unit_minutes": 12, "lanes": 1});
    let (status, answer) = app
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

fn wish_body(email: &str, hours: &[u32]) -> Value {
    json!({"offices": ["stadtmitte", "hamborn"], "services": ["reisepass"],
           "windows": {weekday_key(): hours}, "citizen": {"name": "Erika Mustermann", "email": email}})
}

/// Registers a wish and presses its confirm link: it waits from now on.
async fn register(app: &TestApp, email: &str) -> String {
    let wish = register_unconfirmed(app, email).await;
    assert_eq!(press(app, &wish, "confirm_wish").await["outcome"], "done");
    wish
}

/// Registers a wish for `hours` of the test day and confirms it.
async fn register_for_hours(app: &TestApp, email: &str, hours: &[u32]) -> String {
    let (status, answer) = app
        .send(Method::POST, "/api/v1/wishes", None, Some(wish_body(email, hours)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let wish = answer["wish_id"].as_str().unwrap().to_owned();
    assert_eq!(press(app, &wish, "confirm_wish").await["outcome"], "done");
    wish
}

/// Registers a wish; it waits for its confirmation (double opt-in).
async fn register_unconfirmed(app: &TestApp, email: &str) -> String {
    let (status, answer) = app
        .send(Method::POST, "/api/v1/wishes", None, Some(wish_body(email, &[8])))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["status"], "pending_confirmation");
    assert!(answer["confirm_by"].as_str().is_some(), "{answer}");
    answer["wish_id"].as_str().unwrap().to_owned()
}

/// (wish, proposal id, first unit's local start) of every proposal so far,
/// once there are `count`.
async fn proposals(app: &TestApp, count: usize) -> Vec<(String, String, String)> {
    app.wait_for_events("proposal.made", count)
        .await
        .iter()
        .map(|event| {
            let data = &event["data"];
            (
                data["wish"].as_str().unwrap().to_owned(),
                data["proposal"].as_str().unwrap().to_owned(),
                data["units"][0]["start"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn press(app: &TestApp, subject: &str, action: &str) -> Value {
    let token = app.link_token(subject, action).await;
    let (status, answer) = app
        .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn link_state(app: &TestApp, subject: &str, action: &str) -> String {
    let token = app.link_token(subject, action).await;
    let (status, answer) = app
        .send(Method::GET, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["action"], action);
    answer["state"].as_str().unwrap().to_owned()
}

async fn free_starts(app: &TestApp) -> Vec<String> {
    let path = format!(
        "/api/v1/availability?office=stadtmitte&services=reisepass&from={0}&to={0}",
        day()
    );
    let (status, answer) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|slot| slot["start"].as_str().unwrap().to_owned())
        .collect()
}

/// Proposals the log holds now (without waiting for more).
async fn proposals_now(app: &TestApp) -> usize {
    app.all_events()
        .await
        .iter()
        .filter(|event| event["type"] == "proposal.made")
        .count()
}

/// The API process (and, in `serve`, everything else) plus the other
/// processes of a split installation, kept alive for the test.
struct Installation {
    api: TestApp,
    _others: Vec<TestApp>,
    stream: Option<String>,
}

impl Installation {
    async fn serve(backend: Backend) -> Installation {
        Installation {
            api: TestApp::spawn(backend).await,
            _others: Vec::new(),
            stream: None,
        }
    }

    /// `api`, `matcher` and `mailer` on their own, over Postgres and JetStream.
    async fn split(adjust: impl Fn(&mut terminagent::config::Config) + Copy) -> Installation {
        let stream = format!("TEST_MAIL_{}", ulid::Ulid::new());
        let bus = BusConfig::Nats {
            url: "nats://127.0.0.1:4222".into(),
            stream: stream.clone(),
        };
        let configure = |role: Role| {
            let bus = bus.clone();
            move |config: &mut terminagent::config::Config| {
                config.role = role;
                config.bus = bus;
                adjust(config);
            }
        };
        let api = TestApp::spawn_configured(Backend::Postgres, configure(Role::Api)).await;
        let matcher = TestApp::start_on(api.db.clone(), configure(Role::Matcher)).await;
        let mailer = TestApp::start_on(api.db.clone(), configure(Role::Mailer)).await;
        Installation {
            api,
            _others: vec![matcher, mailer],
            stream: Some(stream),
        }
    }

    async fn clean_up(self) {
        if let Some(stream) = self.stream {
            let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
            let _ = async_nats::jetstream::new(client).delete_stream(&stream).await;
        }
    }
}

async fn first_come_first_served(installation: Installation) {
    let app = &installation.api;
    catalogue(app).await;
    let w1 = register(app, "w1@example.org").await;
    let w2 = register(app, "w2@example.org").await;
    let w3 = register(app, "w3@example.org").await;

    // One unit: W1's, only W1's; it never shows as bookable, and a booking cannot take it.
    publish(app, "08:00", "08:12").await;
    let made = proposals(app, 1).await;
    assert_eq!((made[0].0.as_str(), made[0].2.as_str()), (w1.as_str(), "08:00"));
    assert!(free_starts(app).await.is_empty(), "a held unit never shows");
    let booking = json!({"office": "stadtmitte", "services": ["reisepass"], "start": at("08:00").to_rfc3339(),
                         "citizen": {"name": "Max Muster", "email": "max@example.org"}});
    let (status, answer) = app.send(Method::POST, "/api/v1/bookings", None, Some(booking)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer["type"].as_str().unwrap().ends_with("/slot-taken"));
    assert_eq!(link_state(app, &made[0].1, "accept_proposal").await, "open");

    // W1 declines: W2 gets it, W3 still waits.
    let answer = press(app, &made[0].1, "decline_proposal").await;
    assert_eq!(answer["outcome"], "done");
    assert_eq!(
        press(app, &made[0].1, "decline_proposal").await["outcome"],
        "already_done"
    );
    assert_eq!(link_state(app, &made[0].1, "accept_proposal").await, "void");
    let made = proposals(app, 2).await;
    assert_eq!((made[1].0.as_str(), made[1].2.as_str()), (w2.as_str(), "08:00"));

    // W1 kept its place: the next unit is W1's, not W3's.
    publish(app, "08:12", "08:24").await;
    let made = proposals(app, 3).await;
    assert_eq!((made[2].0.as_str(), made[2].2.as_str()), (w1.as_str(), "08:12"));

    // W2 ends the search: its unit goes to W3 (W1 is busy and declined it anyway),
    // and W2's proposal links are void.
    assert_eq!(press(app, &w2, "end_wish").await["outcome"], "done");
    assert_eq!(press(app, &w2, "end_wish").await["outcome"], "already_done");
    let made = proposals(app, 4).await;
    assert_eq!((made[3].0.as_str(), made[3].2.as_str()), (w3.as_str(), "08:00"));
    assert_eq!(press(app, &made[1].1, "accept_proposal").await["outcome"], "void");

    // W1 accepts: a confirmed booking with a waiting number.
    let answer = press(app, &made[2].1, "accept_proposal").await;
    assert_eq!(answer["outcome"], "done", "{answer}");
    assert_eq!(answer["booking"]["status"], "confirmed");
    assert!(
        answer["booking"]["number"]
            .as_str()
            .is_some_and(|n| (1..=4).contains(&n.len()))
    );
    assert_eq!(
        press(app, &made[2].1, "accept_proposal").await["outcome"],
        "already_done"
    );
    assert_eq!(press(app, &made[2].1, "decline_proposal").await["outcome"], "void");
    assert_eq!(
        link_state(app, &w1, "end_wish").await,
        "void",
        "a fulfilled wish cannot end"
    );

    // Nothing else happened: four proposals, each unit held by one at a
    // time. The matcher reads the log in order, so once it has proposed a
    // unit published after W1's acceptance to a wish registered after it,
    // it has read the acceptance and planned nothing else from it.
    let w4 = register_for_hours(app, "w4@example.org", &[10]).await;
    publish(app, "10:00", "10:12").await;
    let made = proposals(app, 5).await;
    assert_eq!(made.len(), 5, "{made:?}");
    assert_eq!((made[4].0.as_str(), made[4].2.as_str()), (w4.as_str(), "10:00"));
    assert!(free_starts(app).await.is_empty());
    // Nothing more comes: a proposal that should not be has no event to
    // wait for, so this second look can only be a short settle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(proposals_now(app).await, 5);
    assert!(free_starts(app).await.is_empty());
    installation.clean_up().await;
}

#[tokio::test]
async fn first_come_first_served_on_sqlite() {
    first_come_first_served(Installation::serve(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn first_come_first_served_on_postgres() {
    first_come_first_served(Installation::serve(Backend::Postgres).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_come_first_served_on_split_processes() {
    first_come_first_served(Installation::split(|_| {}).await).await;
}

fn short_proposals(config: &mut terminagent::config::Config) {
    config.proposal_ttl = Duration::from_secs(1);
    config.max_unanswered_proposals = 2;
}

#[tokio::test]
async fn an_unanswered_proposal_expires_and_moves_on_by_itself() {
    let app = TestApp::spawn_configured(Backend::Sqlite, short_proposals).await;
    expiry_moves_on(&app).await;

    // W1 hears of its first expiry, and then once that its search ended
    // (not of the expiry that ended it as well).
    let subjects_to_w1 = || {
        std::fs::read_dir(app.outbox())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_file())
            .map(|path| std::fs::read_to_string(path).unwrap())
            .filter(|mail| mail.contains("<w1@example.org>"))
            .filter_map(|mail| {
                mail.lines()
                    .find_map(|line| line.strip_prefix("Subject: ").map(str::to_owned))
            })
            .collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !subjects_to_w1()
        .iter()
        .any(|subject| subject == "Ihre Terminsuche ist beendet")
    {
        assert!(std::time::Instant::now() < deadline, "{:?}", subjects_to_w1());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every mail of the log so far handled (the relay passed the head, which
    // holds W1's end, and no claim is open): all of W1's mails are written.
    app.mails_settled(1).await;
    let subjects = subjects_to_w1();
    let count = |subject: &str| subjects.iter().filter(|s| *s == subject).count();
    assert_eq!(count("Der Terminvorschlag ist verfallen"), 1, "{subjects:?}");
    assert_eq!(count("Ihre Terminsuche ist beendet"), 1, "{subjects:?}");
    assert_eq!(count("Ihre Terminsuche ist eingetragen"), 1, "{subjects:?}");
    // Nothing more comes to W1 (W2's timers go on): a late mail has no event
    // to wait for, so this second look can only be a short settle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(subjects_to_w1(), subjects, "no later mail to W1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_proposal_expires_and_moves_on_by_itself_on_split_processes() {
    let installation = Installation::split(short_proposals).await;
    expiry_moves_on(&installation.api).await;
    installation.clean_up().await;
}

async fn expiry_moves_on(app: &TestApp) {
    catalogue(app).await;
    let w1 = register(app, "w1@example.org").await;
    let w2 = register(app, "w2@example.org").await;
    publish(app, "08:00", "08:12").await;
    let made = proposals(app, 2).await;
    assert_eq!(made[0].0, w1);
    assert_eq!((made[1].0.as_str(), made[1].2.as_str()), (w2.as_str(), "08:00"));
    let expired = app.wait_for_events("proposal.expired", 1).await;
    assert_eq!(expired[0]["data"]["wish"], w1.as_str());
    assert_eq!(link_state(app, &made[0].1, "accept_proposal").await, "expired");
    assert_eq!(press(app, &made[0].1, "accept_proposal").await["outcome"], "expired");

    // W1 keeps its place and gets the next unit; never the one it let expire.
    publish(app, "08:12", "08:24").await;
    let made = proposals(app, 3).await;
    assert_eq!((made[2].0.as_str(), made[2].2.as_str()), (w1.as_str(), "08:12"));
    // W2 let its proposal expire too, and W1 its second: W1 has now left two
    // unanswered in a row and its search ends.
    let ended = app.wait_for_events("wish.ended", 1).await;
    assert_eq!(ended[0]["data"]["wish"], w1.as_str());
    assert_eq!(ended[0]["data"]["reason"], "unanswered_proposals");
    assert_eq!(link_state(app, &w1, "end_wish").await, "void");
}

/// Double opt-in: an unconfirmed wish is offered nothing (the unit stays
/// bookable) and lapses after `--confirm-ttl`; its link then says so.
async fn an_unconfirmed_wish_gets_nothing_and_lapses(backend: Backend) {
    let app = TestApp::spawn_configured(backend, |config| {
        config.confirm_ttl = Duration::from_secs(2);
    })
    .await;
    catalogue(&app).await;
    let wish = register_unconfirmed(&app, "nobody@example.org").await;
    let mail = app
        .wait_for_mail("nobody@example.org", "Bitte bestätigen Sie Ihre Terminsuche")
        .await;
    let token = app.link_token(&wish, "confirm_wish").await;
    assert!(mail.contains(&format!("/links/{token}")), "{mail}");
    assert_eq!(link_state(&app, &wish, "confirm_wish").await, "open");

    publish(&app, "08:00", "08:12").await;
    let ended = app.wait_for_events("wish.ended", 1).await;
    assert_eq!(ended[0]["data"]["wish"], wish.as_str());
    assert_eq!(ended[0]["data"]["reason"], "unconfirmed");
    assert_eq!(proposals_now(&app).await, 0, "an unconfirmed wish is offered nothing");
    assert_eq!(free_starts(&app).await.len(), 1, "the unit stays bookable");
    assert_eq!(link_state(&app, &wish, "confirm_wish").await, "expired");
    assert_eq!(press(&app, &wish, "confirm_wish").await["outcome"], "expired");
    // No more mail to an address nobody confirmed: every mail of the log
    // (which holds the lapse) is handled, and the one sent is the request.
    app.mails_settled_exactly(1).await;
    assert_eq!(app.mails_to("nobody@example.org").len(), 1);
    // Nothing more comes: a late mail has no event to wait for, so this
    // second look can only be a short settle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.mails_to("nobody@example.org").len(), 1);
    app.mails_settled_exactly(1).await;
}

#[tokio::test]
async fn an_unconfirmed_wish_gets_nothing_and_lapses_on_sqlite() {
    an_unconfirmed_wish_gets_nothing_and_lapses(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_unconfirmed_wish_gets_nothing_and_lapses_on_postgres() {
    an_unconfirmed_wish_gets_nothing_and_lapses(Backend::Postgres).await;
}

/// The queue is in the order of confirmation: a wish registered first but
/// confirmed later comes after one confirmed earlier. Pressing the confirm
/// link again changes nothing.
async fn the_queue_is_in_the_order_of_confirmation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue(&app).await;
    let early = register_unconfirmed(&app, "early@example.org").await;
    let late = register_unconfirmed(&app, "late@example.org").await;
    assert_eq!(press(&app, &late, "confirm_wish").await["outcome"], "done");
    assert_eq!(press(&app, &early, "confirm_wish").await["outcome"], "done");
    assert_eq!(press(&app, &late, "confirm_wish").await["outcome"], "already_done");
    assert_eq!(link_state(&app, &late, "confirm_wish").await, "used");
    let confirmed = app.wait_for_events("wish.confirmed", 2).await;
    assert_eq!(confirmed.len(), 2, "a second press appends nothing");
    // The registration mail follows the confirmation.
    let mail = app
        .wait_for_mail("late@example.org", "Ihre Terminsuche ist eingetragen")
        .await;
    let end = app.link_token(&late, "end_wish").await;
    assert!(mail.contains(&format!("/links/{end}")), "{mail}");

    publish(&app, "08:00", "08:12").await;
    let made = proposals(&app, 1).await;
    assert_eq!((made[0].0.as_str(), made[0].2.as_str()), (late.as_str(), "08:00"));
    publish(&app, "08:12", "08:24").await;
    let made = proposals(&app, 2).await;
    assert_eq!((made[1].0.as_str(), made[1].2.as_str()), (early.as_str(), "08:12"));
}

#[tokio::test]
async fn the_queue_is_in_the_order_of_confirmation_on_sqlite() {
    the_queue_is_in_the_order_of_confirmation(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_queue_is_in_the_order_of_confirmation_on_postgres() {
    the_queue_is_in_the_order_of_confirmation(Backend::Postgres).await;
}

#[tokio::test]
async fn wishes_are_checked_before_they_wait() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    catalogue(&app).await;
    register(&app, "erika@example.org").await;

    // The same services in another order are the same wish; other services are not.
    let mut again = wish_body("erika@EXAMPLE.org", &[9]);
    again["services"] = json!(["reisepass"]);
    let (status, answer) = app.send(Method::POST, "/api/v1/wishes", None, Some(again)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["type"].as_str().unwrap().ends_with("/duplicate-wish"),
        "{answer}"
    );
    let mut other = wish_body("erika@example.org", &[9]);
    other["services"] = json!(["personalausweis", "reisepass"]);
    let (status, answer) = app
        .send(Method::POST, "/api/v1/wishes", None, Some(other.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    other["services"] = json!(["reisepass", "personalausweis"]);
    let (status, _) = app.send(Method::POST, "/api/v1/wishes", None, Some(other)).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let invalid = |change: &dyn Fn(&mut Value)| {
        let mut body = wish_body("new@example.org", &[8]);
        change(&mut body);
        body
    };
    let cases: Vec<(Value, StatusCode)> = vec![
        (invalid(&|b| b["windows"] = json!({})), StatusCode::UNPROCESSABLE_ENTITY),
        (
            invalid(&|b| b["windows"] = json!({"mon": []})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            invalid(&|b| b["windows"] = json!({"monday": [8]})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            invalid(&|b| b["windows"] = json!({"mon": [24]})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (invalid(&|b| b["offices"] = json!([])), StatusCode::UNPROCESSABLE_ENTITY),
        (
            invalid(&|b| b["offices"] = json!(["stadtmitte", "stadtmitte"])),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            invalid(&|b| b["services"] = json!([])),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            invalid(&|b| b["until"] = json!("2020-01-01")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            invalid(&|b| b["until"] = json!("31.01.2027")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            invalid(&|b| b["citizen"]["email"] = json!("nope")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (invalid(&|b| b["offices"] = json!(["walsum"])), StatusCode::NOT_FOUND),
        (
            invalid(&|b| b["services"] = json!(["fischereischein"])),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = app.send(Method::POST, "/api/v1/wishes", None, Some(body.clone())).await;
        assert_eq!(status, expected, "{body} → {answer}");
    }
    let registered = app
        .all_events()
        .await
        .iter()
        .filter(|event| event["type"] == "wish.registered")
        .count();
    assert_eq!(registered, 2, "refused wishes leave nothing in the log");
}

#[tokio::test]
async fn capacity_no_wish_wants_is_bookable_at_once() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    catalogue(&app).await;
    // A wish for 09:00 leaves 08:00 to the public.
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/wishes",
            None,
            Some(wish_body("w@example.org", &[9])),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    publish(&app, "08:00", "08:12").await;
    let starts = free_starts(&app).await;
    assert_eq!(starts.len(), 1, "{starts:?}");
    let booking = json!({"office": "stadtmitte", "services": ["reisepass"], "start": at("08:00").to_rfc3339(),
                         "citizen": {"name": "Max Muster", "email": "max@example.org"}});
    let (status, answer) = app.send(Method::POST, "/api/v1/bookings", None, Some(booking)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

#[tokio::test]
async fn proposal_link_pages_show_the_appointment_and_act_once() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    catalogue(&app).await;
    let wish = register(&app, "erika@example.org").await;
    publish(&app, "08:00", "08:12").await;
    let made = proposals(&app, 1).await;
    let page = |method: reqwest::Method, subject: String, action: &'static str| {
        let app = &app;
        async move {
            let token = app.link_token(&subject, action).await;
            let response = app
                .client
                .request(method, format!("{}/links/{token}", app.base))
                .send()
                .await
                .unwrap();
            let status = response.status();
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html"),
                "a page"
            );
            (status, response.text().await.unwrap())
        }
    };

    // Looking changes nothing (mail scanners open every link): the log is
    // the same before and after (a GET that appended would have done so
    // before answering, and SQLite's appends are readable at once).
    let log_before = app.all_events().await;
    let (status, html) = page(Method::GET, made[0].1.clone(), "accept_proposal").await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        "Terminvorschlag annehmen?",
        "08:00 bis 08:12 Uhr",
        "stadtmitte",
        "<form method=\"post\">",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
    let (_, html) = page(Method::GET, wish.clone(), "end_wish").await;
    assert!(html.contains("Terminsuche beenden?"), "{html}");
    assert_eq!(app.all_events().await, log_before, "GET changes nothing");

    // Pressing acts once; pressing again says so.
    let (status, html) = page(Method::POST, made[0].1.clone(), "accept_proposal").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Ihr Termin ist gebucht"), "{html}");
    assert!(html.contains("Ihre Wartenummer"), "{html}");
    let (_, html) = page(Method::POST, made[0].1.clone(), "accept_proposal").await;
    assert!(html.contains("Dieser Vorschlag ist bereits angenommen"), "{html}");
    let (_, html) = page(Method::GET, wish, "end_wish").await;
    assert!(html.contains("Diese Terminsuche besteht nicht mehr"), "{html}");
    assert!(!html.contains("<form"), "no button for a link that no longer acts");
}

/// Invariant 6 over HTTP: after bookings pending, confirmed, cancelled and
/// lapsed, and wishes with proposals declined, accepted and withdrawn, every
/// live view (catalogue, links and booking states, availability) equals its
/// replay of the log, as the operations check reports.
async fn every_live_view_equals_its_replay(backend: Backend) {
    let app = TestApp::spawn_configured(backend, |config| {
        config.confirm_ttl = std::time::Duration::from_secs(1);
    })
    .await;
    catalogue(&app).await;
    publish(&app, "08:00", "08:24").await;
    let wish = register(&app, "w1@example.org").await;
    let made = proposals(&app, 1).await;
    press(&app, &made[0].1, "decline_proposal").await;
    let made = proposals(&app, 2).await;
    assert_eq!(made[1].0, wish);
    press(&app, &made[1].1, "accept_proposal").await;
    let ended = register(&app, "w2@example.org").await;
    proposals(&app, 3).await;
    press(&app, &ended, "end_wish").await;

    publish(&app, "09:00", "10:00").await;
    let book = |start: &str, email: &str| {
        let body = json!({"office": "stadtmitte", "services": ["reisepass"], "start": at(start).to_rfc3339(),
                          "citizen": {"name": "Max Muster", "email": email}});
        app.send(Method::POST, "/api/v1/bookings", None, Some(body))
    };
    let (status, lapsing) = book("09:00", "lapse@example.org").await;
    assert_eq!(status, StatusCode::CREATED, "{lapsing}");
    app.wait_for_events("booking.lapsed", 1).await;
    let mut bookings = Vec::new();
    for (start, email) in [
        ("09:12", "a@example.org"),
        ("09:24", "b@example.org"),
        ("09:36", "c@example.org"),
    ] {
        let (status, answer) = book(start, email).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        bookings.push(answer["booking_id"].as_str().unwrap().to_owned());
    }
    press(&app, &bookings[0], "confirm_booking").await;
    press(&app, &bookings[1], "confirm_booking").await;
    press(&app, &bookings[1], "cancel_booking").await;

    let head = app.all_events().await.len() as u64;
    let (status, check) = app.get("/api/v1/projections").await;
    assert_eq!(status, StatusCode::OK, "{check}");
    let checks = check["projections"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "catalogue",
            "links",
            "availability",
            "floor",
            "staff",
            "day_list",
            "statistics",
            "reminders"
        ]
    );
    for projection in checks {
        assert_eq!(projection["equal"], true, "{projection}");
        assert!(projection["position"].as_u64().unwrap() >= head, "{projection}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_live_view_equals_its_replay_on_sqlite() {
    every_live_view_equals_its_replay(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_live_view_equals_its_replay_on_postgres() {
    every_live_view_equals_its_replay(Backend::Postgres).await;
}
