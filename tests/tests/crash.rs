//! Crashes (SIGKILL) against DESIGN.md invariant 9: a booking's mail is
//! sent from the log, so a process killed before it could send leaves the
//! mail to the next process, which sends it exactly once.

#[path = "../../services/tests/support/smtp.rs"]
#[allow(dead_code)] // shared with the services tests, which use all of it
mod smtp;

use std::time::Duration;

use serde_json::{Value, json};
use smtp::SmtpReceiver;
use terminagent_tests::{Running, Scratch};

const TOKEN: &str = "crash-test-token-of-32-characters-at-least";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_the_killed_process_could_not_send_goes_out_once_after_restart() {
    let mut receiver = SmtpReceiver::start().await;
    receiver.down();
    let dir = Scratch::new();
    let mail = format!("smtp://127.0.0.1:{}", receiver.port());
    let args = [
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--mail",
        &mail,
        "--admin-token",
        TOKEN,
        "--mail-claim-lease",
        "5s",
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

    // The mailer is retrying against the dead SMTP server when the process dies.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.kill().await;
    assert!(receiver.received().is_empty());

    receiver.up().await;
    let restarted = Running::start(dir.path(), &args).await;
    // Killed between claiming the mail and giving the claim back, the first
    // process leaves a claim the next one takes over after its lease (5 s).
    let mails = receiver.wait_for_within(1, Duration::from_secs(90)).await;
    assert!(
        String::from_utf8_lossy(&mails[0].raw).contains("Subject: Bitte"),
        "the confirm request"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.received().len(), 1, "sent once");
    assert!(restarted.terminate().await.success());
}
