//! The waitlist under faults, with the real binary as separate `api`,
//! `matcher` and `mailer` processes on Postgres and a NATS server of the
//! test's own: NATS stopped and restarted, the SMTP receiver down and up, the
//! matcher killed with SIGKILL and restarted. Afterwards every proposal has
//! been mailed exactly once, none is lost, and no unit was held twice
//! (DESIGN.md invariants 1, 3 and 9).

#[path = "../../services/tests/support/smtp.rs"]
#[allow(dead_code)] // shared with the services tests, which use all of it
mod smtp;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Datelike;
use serde_json::{Value, json};
use smtp::SmtpReceiver;
use terminagent_eventstore::Backend;
use terminagent_eventstore::testing::TestDatabase;
use terminagent_tests::{NatsServer, Running, Scratch, mails_settled};

const TOKEN: &str = "fault-test-token-of-32-characters-at-least";

async fn events(api: &Running) -> Vec<Value> {
    let (mut after, mut all) = (0, Vec::new());
    loop {
        let (status, page) = api
            .call(
                TOKEN,
                reqwest::Method::GET,
                &format!("/api/v1/events?after={after}&limit=1000"),
                Value::Null,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let batch = page["events"].as_array().unwrap().clone();
        if batch.is_empty() {
            return all;
        }
        after = page["next"].as_u64().unwrap();
        all.extend(batch);
    }
}

async fn proposals(api: &Running, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let made: Vec<Value> = events(api)
            .await
            .into_iter()
            .filter(|event| event["type"] == "proposal.made")
            .collect();
        if made.len() >= count {
            return made;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} proposals within 30 s, saw {}",
            made.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One lane of 12-minute units at `office` on `day`, `from`–`to`.
async fn publish(api: &Running, office: &str, day: &str, from: &str, to: &str) {
    let capacity = json!({"date": day, "from": from, "to": to, "unit_minutes": 12, "lanes": 1});
    let (status, answer) = api
        .call(
            TOKEN,
            reqwest::Method::POST,
            &format!("/api/v1/offices/{office}/capacity"),
            capacity,
        )
        .await;
    assert_eq!(status, 201, "{answer}");
}

/// The offices (`slug`, address) and the one service every wish here asks for.
async fn register_catalogue(api: &Running, offices: &[(&str, &str)]) {
    for (office, address) in offices {
        let body = json!({"name": office, "address": address, "timezone": "Europe/Berlin"});
        let (status, answer) = api
            .call(TOKEN, reqwest::Method::PUT, &format!("/api/v1/offices/{office}"), body)
            .await;
        assert_eq!(status, 201, "{answer}");
    }
    let service = json!({"name": "Meldebescheinigung", "duration_minutes": 12});
    let (status, answer) = api
        .call(
            TOKEN,
            reqwest::Method::PUT,
            "/api/v1/services/meldebescheinigung",
            service,
        )
        .await;
    assert_eq!(status, 201, "{answer}");
}

/// Registers a wish through the API and presses its confirm link (double
/// opt-in), as the citizen would from the mail: the token is derived from the
/// installation's link secret, as the mailer derives it.
async fn register_confirmed(api: &Running, db: &TestDatabase, wish: Value) {
    let (status, answer) = api.call(TOKEN, reqwest::Method::POST, "/api/v1/wishes", wish).await;
    assert_eq!(status, 201, "{answer}");
    let id = answer["wish_id"].as_str().unwrap();
    let store = terminagent_eventstore::EventStore::connect(db.url(), Default::default())
        .await
        .expect("the store");
    let secret = store
        .vault()
        .installation_secret(terminagent::links::LinkSecret::NAME)
        .await
        .expect("the link secret");
    store.close().await;
    let token = terminagent::links::LinkSecret::new(secret).token(id, "confirm_wish");
    let path = format!("/api/v1/links/{}", token.as_str());
    let (status, answer) = api.call(TOKEN, reqwest::Method::POST, &path, json!(null)).await;
    assert_eq!((status, &answer["outcome"]), (200, &json!("done")), "{answer}");
}

/// Five days ahead: the date, and its weekday as wish windows name it.
fn day_ahead() -> (String, &'static str) {
    let date = chrono::Utc::now().date_naive() + chrono::Days::new(5);
    let weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][date.weekday().num_days_from_monday() as usize];
    (date.to_string(), weekday)
}

/// A process's command line: its role, the options every process here
/// shares, then its own.
fn role_args(role: &str, db: &TestDatabase, nats_url: &str, mail: &str, own: &[&str]) -> Vec<String> {
    [role, "--database-url", db.url(), "--nats-url", nats_url, "--mail", mail]
        .into_iter()
        .chain(["--admin-token", TOKEN, "--bind", "127.0.0.1:0"])
        .chain(own.iter().copied())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_are_mailed_once_through_nats_smtp_and_matcher_failures() {
    let dir = Scratch::new();
    let db = TestDatabase::new(Backend::Postgres)
        .await
        .expect("a Postgres test database");
    let mut nats = NatsServer::start(&dir.path().join("nats")).await;
    let mut receiver = SmtpReceiver::start().await;
    let mail = format!("smtp://127.0.0.1:{}", receiver.port());
    let nats_url = nats.url();
    let with = |role: &str, own: &[&str]| role_args(role, &db, &nats_url, &mail, own);
    let api = Running::start(dir.path(), &with("api", &[])).await;
    let public_url = api.base_url.clone();
    let mut matcher = Running::start(dir.path(), &with("matcher", &[])).await;
    let _mailer = Running::start(dir.path(), &with("mailer", &["--public-url", &public_url])).await;

    register_catalogue(&api, &[("walsum", "Friedrich-Ebert-Str. 152")]).await;
    let (day, weekday) = day_ahead();
    for n in 1..=4 {
        let wish = json!({"offices": ["walsum"], "services": ["meldebescheinigung"], "windows": {weekday: [8]},
                          "citizen": {"name": format!("Bürger {n}"), "email": format!("w{n}@example.org")}});
        register_confirmed(&api, &db, wish).await;
    }

    // Two units: the first two wishes' proposals.
    publish(&api, "walsum", &day, "08:00", "08:24").await;
    proposals(&api, 2).await;

    // SMTP and NATS go down; the matcher still proposes (it needs only the log).
    receiver.down();
    nats.down().await;
    publish(&api, "walsum", &day, "08:24", "08:36").await;
    proposals(&api, 3).await;

    // The matcher dies mid-run; a unit published meanwhile waits for its successor.
    matcher = {
        matcher.kill().await;
        publish(&api, "walsum", &day, "08:36", "08:48").await;
        // A negative check: no process is left that could propose, so there
        // is no event to wait for; a bounded look shows the API does not.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(proposals(&api, 3).await.len(), 3, "no matcher, no proposal");
        Running::start(dir.path(), &with("matcher", &[])).await
    };
    let made = proposals(&api, 4).await;

    // NATS and SMTP come back: everything queued goes out, each mail once.
    nats.up().await;
    receiver.up().await;
    receiver.wait_for_within(12, Duration::from_secs(60)).await;
    // Every mail handled: the relay's checkpoint at the log's head (every
    // notice on the bus), no claim open, twelve mails in the ledger.
    let ledger = mails_settled(db.url(), 12, Duration::from_secs(60)).await;
    assert_eq!(ledger.len(), 12, "twelve mails in the ledger: {ledger:?}");
    assert!(
        ledger.iter().all(|(_, outcome)| outcome == "sent"),
        "each recorded sent: {ledger:?}"
    );
    let mail_events: BTreeSet<String> = events(&api)
        .await
        .iter()
        .filter(|event| terminagent::mail::MAIL_EVENT_TYPES.contains(&event["type"].as_str().unwrap()))
        .map(|event| event["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ledger.iter().map(|(key, _)| key.clone()).collect::<BTreeSet<_>>(),
        mail_events,
        "one ledger row per event that calls for a mail"
    );
    let mails: Vec<String> = receiver
        .received()
        .iter()
        .map(|mail| String::from_utf8_lossy(&mail.raw).into_owned())
        .collect();
    assert_eq!(
        mails.len(),
        12,
        "four confirm requests, four registrations and four proposals, once each"
    );
    let proposal_mails: Vec<&String> = mails
        .iter()
        .filter(|mail| mail.contains("Subject: Terminvorschlag"))
        .collect();
    assert_eq!(proposal_mails.len(), 4);
    for n in 1..=4 {
        let to = format!("w{n}@example.org");
        assert_eq!(
            proposal_mails.iter().filter(|mail| mail.contains(&to)).count(),
            1,
            "one proposal mail to {to}"
        );
    }
    // A late duplicate has no event to wait for: this second look can only
    // come after a short settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 12, "still each mail once");
    assert_eq!(
        mails_settled(db.url(), 12, Duration::from_secs(5)).await,
        ledger,
        "the ledger unchanged"
    );

    // One proposal per wish, four different units, first come first served.
    let all = events(&api).await;
    assert_eq!(made.len(), 4);
    assert_eq!(
        all.iter().filter(|event| event["type"] == "proposal.made").count(),
        4,
        "the restarted matcher repeated nothing"
    );
    // The queue's order is the order of confirmation.
    let registered: Vec<&Value> = all.iter().filter(|event| event["type"] == "wish.confirmed").collect();
    let order: BTreeMap<&str, usize> = registered
        .iter()
        .enumerate()
        .map(|(n, event)| (event["data"]["wish"].as_str().unwrap(), n))
        .collect();
    let mut units = BTreeSet::new();
    for (n, proposal) in made.iter().enumerate() {
        assert_eq!(
            order[proposal["data"]["wish"].as_str().unwrap()],
            n,
            "in confirmation order"
        );
        for unit in proposal["data"]["units"].as_array().unwrap() {
            assert!(units.insert(unit.to_string()), "{unit} held twice");
        }
    }
    assert_eq!(units.len(), 4);
    drop(matcher);
}

/// Who holds each office's matcher lease now: office → owner.
async fn office_owners(db: &TestDatabase) -> BTreeMap<String, String> {
    let store = terminagent_eventstore::EventStore::connect(db.url(), Default::default())
        .await
        .expect("store");
    let leases = store
        .progress()
        .live_leases("matcher:office:", chrono::Utc::now())
        .await
        .expect("leases");
    store.close().await;
    leases
        .into_iter()
        .map(|(name, owner)| (name.trim_start_matches("matcher:office:").to_owned(), owner))
        .collect()
}

async fn wait_for_owners(db: &TestDatabase, what: &str, done: impl Fn(&BTreeMap<String, String>) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let owners = office_owners(db).await;
        if done(&owners) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what} within 30 s: {owners:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Two matcher processes share the offices, half each; when one is killed,
/// the other takes its offices over and their freed units still reach the
/// waiting wishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_matchers_share_the_offices_and_one_takes_over_when_the_other_dies() {
    let dir = Scratch::new();
    let db = TestDatabase::new(Backend::Postgres)
        .await
        .expect("a Postgres test database");
    let nats = NatsServer::start(&dir.path().join("nats")).await;
    let nats_url = nats.url();
    let outbox = format!("file:{}", dir.path().join("outbox").display());
    let args = |role: &str| role_args(role, &db, &nats_url, &outbox, &[]);
    let api = Running::start(dir.path(), &args("api")).await;
    let offices = ["hamborn", "meiderich", "sued", "walsum"];
    register_catalogue(&api, &offices.map(|office| (office, "Rathausplatz 1"))).await;

    let first = Running::start(dir.path(), &args("matcher")).await;
    wait_for_owners(&db, "one matcher owns all four offices", |owners| owners.len() == 4).await;
    let second = Running::start(dir.path(), &args("matcher")).await;
    wait_for_owners(&db, "two matchers own two offices each", |owners| {
        let distinct: BTreeSet<&String> = owners.values().collect();
        owners.len() == 4
            && distinct.len() == 2
            && distinct
                .iter()
                .all(|owner| owners.values().filter(|o| o == owner).count() == 2)
    })
    .await;

    // A wish per office; a unit per office: every office's matcher proposes.
    let (day, weekday) = day_ahead();
    let wish = |office: &str, n: usize| {
        json!({"offices": [office], "services": ["meldebescheinigung"], "windows": {weekday: [8, 9]},
               "citizen": {"name": "Bürger", "email": format!("{office}-{n}@example.org")}})
    };
    for office in offices {
        for n in 0..2 {
            register_confirmed(&api, &db, wish(office, n)).await;
        }
        publish(&api, office, &day, "08:00", "08:12").await;
    }
    proposals(&api, 4).await;

    // The first matcher dies; the second takes all four offices over, and a
    // unit freed at any office reaches that office's second wish.
    first.kill().await;
    for office in offices {
        publish(&api, office, &day, "09:00", "09:12").await;
    }
    let made = proposals(&api, 8).await;
    wait_for_owners(&db, "the survivor owns all four offices", |owners| {
        owners.len() == 4 && owners.values().collect::<BTreeSet<_>>().len() == 1
    })
    .await;
    let proposed_offices: BTreeMap<String, usize> = made.iter().fold(BTreeMap::new(), |mut count, proposal| {
        *count
            .entry(proposal["data"]["office"].as_str().unwrap().to_owned())
            .or_default() += 1;
        count
    });
    assert_eq!(
        proposed_offices,
        offices.iter().map(|office| (office.to_string(), 2)).collect(),
        "two proposals per office, none twice"
    );

    // Nothing proposed twice. A repeat has no event of its own to wait for,
    // so the survivor is made to act once more: a wish confirmed after all
    // of the above and a unit only it fits. Once its proposal is in the
    // log, the survivor has folded everything before it and acted for every
    // office (it owns all four), so a repeat would be in the log as well.
    let marker = json!({"offices": ["walsum"], "services": ["meldebescheinigung"], "windows": {weekday: [10]},
                        "citizen": {"name": "Bürger", "email": "walsum-last@example.org"}});
    register_confirmed(&api, &db, marker).await;
    let marker_wish = events(&api)
        .await
        .iter()
        .rev()
        .find(|event| event["type"] == "wish.confirmed")
        .expect("the marker's confirmation")["data"]["wish"]
        .clone();
    publish(&api, "walsum", &day, "10:00", "10:12").await;
    let all = proposals(&api, 9).await;
    assert_eq!(all.len(), 9, "nothing proposed twice");
    assert_eq!(all[8]["data"]["wish"], marker_wish, "the last proposal is the marker's");
    // A repeat made in the same round just after the marker's proposal: a short settle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        proposals(&api, 9).await.len(),
        9,
        "nothing proposed twice, also after a settle"
    );
    drop(second);
}
