//! Crashes (SIGKILL) against DESIGN.md invariant 9: a booking's mail is
//! sent from the log, so a process killed while sending leaves the mail to
//! the next process, which sends it exactly once, within seconds of its
//! start (the dead process's claim is taken over once its heartbeat stops,
//! not after the claim lease). Both backends.

use std::time::Duration;

use serde_json::{Value, json};
use terminagent_eventstore::Backend;
use terminagent_eventstore::testing::TestDatabase;
use terminagent_tests::{HoldingSmtpReceiver, Running, Scratch, mails_settled};

const TOKEN: &str = "crash-test-token-of-32-characters-at-least";

/// The outcomes in the sent-mail ledger of the database at `url`
/// (`sending` while a mailer holds its claim, `sent` once handed over).
async fn ledger(url: &str) -> Vec<String> {
    use sqlx::Connection;
    const LEDGER: &str = "SELECT outcome FROM sent_mails ORDER BY mail_key";
    if url.starts_with("postgres") {
        let mut connection = sqlx::PgConnection::connect(url).await.expect("the database opens");
        sqlx::query_scalar(LEDGER)
            .fetch_all(&mut connection)
            .await
            .expect("the ledger reads")
    } else {
        let mut connection = sqlx::SqliteConnection::connect(url).await.expect("the database opens");
        sqlx::query_scalar(LEDGER)
            .fetch_all(&mut connection)
            .await
            .expect("the ledger reads")
    }
}

async fn ledger_becomes(url: &str, expected: &[&str], limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let outcomes = ledger(url).await;
        if outcomes == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ledger holds {outcomes:?}, not {expected:?}, after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_mail_the_process_was_killed_sending_goes_out_once_after_restart(backend: Backend) {
    // The mail server takes the mail's DATA and never answers: the mailer
    // is mid-send, its claim in the ledger, when the process dies.
    let receiver = HoldingSmtpReceiver::start().await;
    receiver.hold_after(0);
    let dir = Scratch::new();
    let db = TestDatabase::new(backend).await.expect("a test database");
    let mail = format!("smtp://127.0.0.1:{}", receiver.port());
    // The claim lease is the default (minutes): the restarted process must
    // not wait it out.
    let args = [
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        db.url(),
        "--mail",
        &mail,
        "--admin-token",
        TOKEN,
    ];
    let app = Running::start(dir.path(), &args).await;

    let office = json!({"name": "Walsum", "address": "Friedrich-Ebert-Str. 152", "timezone": "Europe/Berlin"});
    assert_eq!(
        app.call(TOKEN, reqwest::Method::PUT, "/api/v1/offices/walsum", office)
            .await
            .0,
        201
    );
    let service = json!({"name": "Meldebescheinigung", "duration_minutes": 12});
    assert_eq!(
        app.call(
            TOKEN,
            reqwest::Method::PUT,
            "/api/v1/services/meldebescheinigung",
            service
        )
        .await
        .0,
        201
    );
    let (_, offices) = app
        .call(TOKEN, reqwest::Method::GET, "/api/v1/offices", Value::Null)
        .await;
    assert_eq!(offices[0]["id"], "walsum");
    let day = (chrono::Utc::now().date_naive() + chrono::Days::new(5)).to_string();
    let capacity = json!({"date": day, "from": "08:00", "to": "09:00", "unit_minutes": 12, "lanes": 1});
    assert_eq!(
        app.call(
            TOKEN,
            reqwest::Method::POST,
            "/api/v1/offices/walsum/capacity",
            capacity
        )
        .await
        .0,
        201
    );
    let (_, slots) = app
        .call(
            TOKEN,
            reqwest::Method::GET,
            &format!("/api/v1/availability?office=walsum&services=meldebescheinigung&from={day}&to={day}"),
            Value::Null,
        )
        .await;
    let start = slots["slots"][0]["start"].as_str().expect("a free slot").to_owned();
    let booking = json!({"office": "walsum", "services": ["meldebescheinigung"], "start": start,
                         "citizen": {"name": "Erika Mustermann", "email": "erika@example.org"}});
    let (status, answer) = app
        .call(TOKEN, reqwest::Method::POST, "/api/v1/bookings", booking)
        .await;
    assert_eq!(status, 201, "{answer}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while receiver.held() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the mailer never got to DATA");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ledger_becomes(db.url(), &["sending"], Duration::from_secs(5)).await;
    app.kill().await;
    assert!(receiver.received().is_empty());
    assert_eq!(
        ledger(db.url()).await,
        ["sending"],
        "the dead process's claim stays behind"
    );

    receiver.pass_all();
    let restarted = Running::start(dir.path(), &args).await;
    // The only way from the dead process's `sending` to `sent` is the next
    // process taking over its claim, which it may once the dead one's
    // heartbeat has stopped: seconds, not the lease.
    let mails = receiver
        .wait_until(
            "the mail goes out within 5 s of the restart",
            Duration::from_secs(5),
            |mails| !mails.is_empty(),
        )
        .await;
    assert!(
        String::from_utf8_lossy(&mails[0].raw).contains("Subject: Bitte"),
        "the confirm request"
    );
    // Every mail handled: the relay's checkpoint at the log's head (in one
    // process it moves only once the mailer has handled the notices), no
    // claim open, and the ledger holding the one mail.
    let settled = mails_settled(db.url(), 1, Duration::from_secs(10)).await;
    assert_eq!(
        settled.iter().map(|(_, outcome)| outcome.as_str()).collect::<Vec<_>>(),
        ["sent"],
        "one mail, recorded sent"
    );
    assert_eq!(receiver.received().len(), 1, "sent once");
    // A late duplicate has no event to wait for: this second look can only
    // come after a short settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1, "still sent once");
    assert_eq!(ledger(db.url()).await, ["sent"]);
    assert!(restarted.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_the_process_was_killed_sending_goes_out_once_after_restart_sqlite() {
    a_mail_the_process_was_killed_sending_goes_out_once_after_restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_the_process_was_killed_sending_goes_out_once_after_restart_postgres() {
    a_mail_the_process_was_killed_sending_goes_out_once_after_restart(Backend::Postgres).await;
}

/// Kills in a row (issue: crash-proof mail): each run books a burst, is
/// killed with `kill -9` while its mails are being written, and restarts;
/// within 5 s of the restart every confirm request is in the outbox, each
/// once (one file per Message-ID, no Message-ID twice). `TERMINAGENT_KILL_RUNS`
/// sets how many runs (default 20).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_a_row_writes_no_mail_twice_and_leaves_none_waiting() {
    const BURST: usize = 12;
    let runs: usize = std::env::var("TERMINAGENT_KILL_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(20);
    let dir = Scratch::new();
    let outbox = dir.path().join("outbox");
    let args = [
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--mail",
        "file:./outbox",
        "--admin-token",
        TOKEN,
    ];
    let app = Running::start(dir.path(), &args).await;
    let office = json!({"name": "Walsum", "timezone": "Europe/Berlin"});
    app.call(TOKEN, reqwest::Method::PUT, "/api/v1/offices/walsum", office)
        .await;
    let service = json!({"name": "Meldebescheinigung", "duration_minutes": 12});
    app.call(
        TOKEN,
        reqwest::Method::PUT,
        "/api/v1/services/meldebescheinigung",
        service,
    )
    .await;
    let mut days =
        (1..=runs as u64).map(|ahead| (chrono::Utc::now().date_naive() + chrono::Days::new(ahead)).to_string());
    let mut app = Some(app);
    let mut booked = 0;
    for run in 0..runs {
        let running = app.take().expect("a running process");
        let day = days.next().expect("a day per run");
        let capacity = json!({"date": day, "from": "08:00", "to": "12:00", "unit_minutes": 12, "lanes": 3});
        let (status, _) = running
            .call(
                TOKEN,
                reqwest::Method::POST,
                "/api/v1/offices/walsum/capacity",
                capacity,
            )
            .await;
        assert_eq!(status, 201);
        let (_, slots) = running
            .call(
                TOKEN,
                reqwest::Method::GET,
                &format!("/api/v1/availability?office=walsum&services=meldebescheinigung&from={day}&to={day}"),
                Value::Null,
            )
            .await;
        let starts: Vec<String> = slots["slots"]
            .as_array()
            .expect("slots")
            .iter()
            .take(BURST)
            .map(|slot| slot["start"].as_str().unwrap().to_owned())
            .collect();
        let requests = starts.into_iter().enumerate().map(|(n, start)| {
            let booking = json!({"office": "walsum", "services": ["meldebescheinigung"], "start": start,
                                 "citizen": {"name": "Erika Mustermann",
                                             "email": format!("run{run}-{n}@example.org")}});
            running.call(TOKEN, reqwest::Method::POST, "/api/v1/bookings", booking)
        });
        for (status, answer) in futures::future::join_all(requests).await {
            assert_eq!(status, 201, "{answer}");
        }
        booked += BURST;
        // Killed while the burst's mails are being written.
        running.kill().await;
        let restarted = Running::start(dir.path(), &args).await;
        let restart = tokio::time::Instant::now();
        loop {
            let ids = message_ids(&outbox);
            if ids.len() >= booked {
                let mut unique = ids.clone();
                unique.sort();
                unique.dedup();
                assert_eq!(unique.len(), ids.len(), "run {run}: a Message-ID written twice");
                assert_eq!(ids.len(), booked, "run {run}: more mails than bookings");
                break;
            }
            assert!(
                restart.elapsed() < Duration::from_secs(5),
                "run {run}: {} of {booked} mails 5 s after the restart",
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        app = Some(restarted);
    }
    assert!(app.take().expect("the last process").terminate().await.success());
    assert_eq!(message_ids(&outbox).len(), booked, "nothing more after the last run");
}

/// The Message-ID of every mail file in `outbox`.
fn message_ids(outbox: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(outbox) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "eml").then_some(path)
        })
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .filter_map(|mail| {
            mail.lines()
                .find_map(|line| line.strip_prefix("Message-ID: ").map(str::to_owned))
        })
        .collect()
}
