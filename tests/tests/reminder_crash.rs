//! Issue: "Reminder: a day with 50 bookings, the process SIGKILLed at the
//! reminder time and restarted: 50 reminders, none twice." (API.md "The
//! office floor", last bullet; DESIGN.md invariant 9.)
//!
//! Against the real binary on its default SQLite database: 50 citizens book
//! later today and confirm by the link in their mail; at `--reminder-at` the
//! process is killed with SIGKILL while it hands the reminders to a slow mail
//! server, and a new process on the same database and mail server finishes
//! the job: every booking gets its reminder, none gets two.
//!
//! The reminder time is a whole minute of office time, so the office lives
//! in an `Etc/GMT±N` zone chosen at run time where it is about noon (no
//! opening hours nor holidays, so every weekday takes capacity), and the
//! reminder time is the first whole minute after the last confirmation: the
//! test waits at most about a minute for it, whatever the wall clock says.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{FixedOffset, NaiveDate, Timelike, Utc};
use serde_json::{Value, json};
use terminagent_eventstore::EventStore;
use terminagent_tests::{HoldingSmtpReceiver, ReceivedMail, Running, Scratch};

const TOKEN: &str = "reminder-crash-token-of-32-characters-at-least";
const BOOKINGS: usize = 50;
/// Reminders the mail server takes before it stalls and the process dies.
const DELIVERED_BEFORE_THE_KILL: usize = 25;
/// A claim of the killed process blocks its mail this long after the restart.
const CLAIM_LEASE: &str = "2s";
/// `REMINDER_CHECK_INTERVAL` of services/src/application/reminders.rs.
const TIMER_INTERVAL: Duration = Duration::from_secs(2);

fn email(n: usize) -> String {
    format!("citizen{n:02}@example.org")
}

/// The office's zone: an `Etc/GMT±N` zone (no daylight saving) in which it
/// is now 12:xx, and its offset.
fn noon_zone() -> (String, FixedOffset) {
    let hours = 12 - Utc::now().hour() as i32; // −11 … +12
    // POSIX style: Etc/GMT-2 is two hours *ahead* of UTC.
    let name = match hours {
        0 => "Etc/GMT".to_owned(),
        east if east > 0 => format!("Etc/GMT-{east}"),
        west => format!("Etc/GMT+{}", -west),
    };
    (name, FixedOffset::east_opt(hours * 3600).expect("a valid offset"))
}

/// The command line of every process here; they differ in the reminder time.
fn serve_args(mail: &str, reminder_at: &str) -> Vec<String> {
    [
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--mail",
        mail,
        "--admin-token",
        TOKEN,
        "--mail-claim-lease",
        CLAIM_LEASE,
        "--reminder-at",
        reminder_at,
        // 150 public writes from one address within a minute: no rate limit
        // should get in the way, whatever its default.
        "--rate-limit",
        "100000",
    ]
    .map(str::to_owned)
    .to_vec()
}

async fn expect_status(app: &Running, method: reqwest::Method, path: &str, body: Value, status: u16) -> Value {
    let (got, answer) = app.call(TOKEN, method.clone(), path, body).await;
    assert_eq!(got, status, "{method} {path}: {answer}");
    answer
}

/// Every event of the log, through the audit API.
async fn events(app: &Running) -> Vec<Value> {
    let (mut after, mut all) = (0, Vec::new());
    loop {
        let page = expect_status(
            app,
            reqwest::Method::GET,
            &format!("/api/v1/events?after={after}&limit=1000"),
            Value::Null,
            200,
        )
        .await;
        let batch = page["events"].as_array().expect("events").clone();
        if batch.is_empty() {
            return all;
        }
        after = page["next"].as_u64().expect("next");
        all.extend(batch);
    }
}

/// A mail-causing event of the log and what the mail ledger says of it.
struct Mailed {
    booking: String,
    /// `None` before the first claim, `sending` while claimed, then how it
    /// ended (`sent`, `skipped: …`): a mail recorded is never sent again.
    outcome: Option<String>,
}

impl Mailed {
    fn handled(&self) -> bool {
        self.outcome.as_deref().is_some_and(|outcome| outcome != "sending")
    }
}

/// The events of `event_type` in the log (read from the database the
/// processes share), with the ledger's word on each one's mail (keyed by
/// the event id).
async fn mailed(store: &EventStore, event_type: &str) -> Vec<Mailed> {
    let (mut after, mut found) = (0, Vec::new());
    loop {
        let batch = store.read_all(after, 1000).await.expect("the log reads");
        let Some(last) = batch.last() else {
            break;
        };
        after = last.position;
        for logged in batch.iter().filter(|logged| logged.event.event_type == event_type) {
            let data: Value = serde_json::from_str(logged.event.data.as_str()).expect("JSON data");
            let key = logged.event.event_id.to_string();
            found.push(Mailed {
                booking: data["booking"].as_str().expect("a booking").to_owned(),
                outcome: store.progress().mail_outcome(&key).await.expect("the ledger reads"),
            });
        }
    }
    found
}

/// Waits until the log has `count` events of `event_type` and the ledger
/// has recorded the mail of each as handled: no process will send it again.
async fn wait_until_handled(store: &EventStore, event_type: &str, count: usize, limit: Duration) -> Vec<Mailed> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let found = mailed(store, event_type).await;
        if found.len() >= count && found.iter().all(Mailed::handled) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} {event_type} mails handled within {limit:?}: {} in the log, {} handled",
            found.len(),
            found.iter().filter(|mailed| mailed.handled()).count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_reminder(mail: &ReceivedMail) -> bool {
    mail.text().contains("\r\nSubject: Erinnerung:")
}

/// Reminder mails per recipient.
fn reminders_by_recipient(mails: &[ReceivedMail]) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for mail in mails.iter().filter(|mail| is_reminder(mail)) {
        assert_eq!(mail.to.len(), 1, "one recipient per mail");
        *count.entry(mail.to[0].clone()).or_default() += 1;
    }
    count
}

/// The mail-link tokens in a mail, its text quoted-printable or base64.
fn link_tokens(mail: &ReceivedMail) -> Vec<String> {
    let raw = mail.text();
    // Quoted-printable: undo the soft line breaks (a token has no `=`).
    let mut texts = vec![raw.replace("=\r\n", "")];
    // Base64: decode every block of base64 lines (others decode to noise).
    let mut block = String::new();
    for line in raw.split("\r\n") {
        if !line.is_empty()
            && line
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"+/=".contains(&byte))
        {
            block.push_str(line);
        } else if !block.is_empty() {
            texts.push(decode_base64(&std::mem::take(&mut block)));
        }
    }
    let mut tokens = Vec::new();
    for text in &texts {
        for (at, _) in text.match_indices("/links/") {
            let token: String = text[at + "/links/".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if token.len() == 43 && !tokens.contains(&token) {
                tokens.push(token);
            }
        }
    }
    tokens
}

fn decode_base64(text: &str) -> String {
    let (mut bytes, mut bits, mut width) = (Vec::new(), 0u32, 0);
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        bits = (bits << 6) | u32::from(value);
        width += 6;
        if width >= 8 {
            width -= 8;
            bytes.push((bits >> width) as u8);
            bits &= (1 << width) - 1;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Office, service and 50 units (10 lanes, 14:00–15:00 office time) today.
async fn office_with_capacity_today(app: &Running, zone: &str, today: NaiveDate) {
    let office = json!({"name": "Bürger-Service-Station Mitte", "address": "Sonnenwall 73, 47051 Duisburg",
                        "timezone": zone});
    expect_status(app, reqwest::Method::PUT, "/api/v1/offices/mitte", office, 201).await;
    let service = json!({"name": "Meldebescheinigung", "duration_minutes": 12});
    expect_status(
        app,
        reqwest::Method::PUT,
        "/api/v1/services/meldebescheinigung",
        service,
        201,
    )
    .await;
    let capacity = json!({"date": today.to_string(), "from": "14:00", "to": "15:00", "unit_minutes": 12, "lanes": 10});
    let published = expect_status(
        app,
        reqwest::Method::POST,
        "/api/v1/offices/mitte/capacity",
        capacity,
        201,
    )
    .await;
    assert_eq!(published["units"], BOOKINGS, "{published}");
}

/// Books every free start today, one citizen each; returns the booking ids.
async fn book_all(app: &Running, today: NaiveDate) -> BTreeSet<String> {
    let slots = expect_status(
        app,
        reqwest::Method::GET,
        &format!("/api/v1/availability?office=mitte&services=meldebescheinigung&from={today}&to={today}"),
        Value::Null,
        200,
    )
    .await;
    let starts: Vec<&str> = slots["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .flat_map(|slot| {
            let start = slot["start"].as_str().expect("a start");
            std::iter::repeat_n(start, slot["free"].as_u64().expect("free") as usize)
        })
        .collect();
    assert_eq!(starts.len(), BOOKINGS, "{slots}");
    let mut bookings = BTreeSet::new();
    for (n, start) in starts.into_iter().enumerate() {
        let booking = json!({"office": "mitte", "services": ["meldebescheinigung"], "start": start,
                             "citizen": {"name": format!("Bürger {n}"), "email": email(n)}});
        let answer = expect_status(app, reqwest::Method::POST, "/api/v1/bookings", booking, 201).await;
        bookings.insert(answer["booking_id"].as_str().expect("booking_id").to_owned());
    }
    bookings
}

/// Presses the confirm link of each confirm-request mail.
async fn confirm_all(app: &Running, requests: &[ReceivedMail]) {
    for mail in requests {
        let mut confirmed = false;
        for token in link_tokens(mail) {
            let (status, link) = app
                .call(
                    TOKEN,
                    reqwest::Method::GET,
                    &format!("/api/v1/links/{token}"),
                    Value::Null,
                )
                .await;
            if status != 200 || link["action"] != "confirm_booking" {
                continue;
            }
            let pressed = expect_status(
                app,
                reqwest::Method::POST,
                &format!("/api/v1/links/{token}"),
                Value::Null,
                200,
            )
            .await;
            assert_eq!(pressed["outcome"], "done", "{pressed}");
            assert_eq!(pressed["booking"]["status"], "confirmed", "{pressed}");
            confirmed = true;
        }
        assert!(
            confirmed,
            "no confirm link in the mail to {:?}:\n{}",
            mail.to,
            mail.text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_reminders_once_each_though_the_process_dies_while_sending_them() {
    let started = std::time::Instant::now();
    let smtp = HoldingSmtpReceiver::start().await;
    let mail = format!("smtp://127.0.0.1:{}", smtp.port());
    let dir = Scratch::new();
    let (zone, offset) = noon_zone();
    let today = Utc::now().with_timezone(&offset).date_naive();

    // Booking day: a process whose reminder time has not come (it is about
    // noon there), so nothing is reminded while the citizens confirm.
    let setup = Running::start(dir.path(), &serve_args(&mail, "23:59")).await;
    office_with_capacity_today(&setup, &zone, today).await;
    let bookings = book_all(&setup, today).await;
    let requests = smtp
        .wait_until("50 confirm requests", Duration::from_secs(30), |mails| {
            mails.len() >= BOOKINGS
        })
        .await;
    confirm_all(&setup, &requests).await;
    // Every mail so far recorded in the ledger before the process stops, so
    // the only mails to come are reminders (SIGTERM does not wait for the
    // mailer: a mail sent but not yet recorded would go out again).
    let store = EventStore::connect(
        &format!("sqlite://{}", dir.path().join("terminagent.db").display()),
        Default::default(),
    )
    .await
    .expect("the test opens the processes' database");
    let limit = Duration::from_secs(30);
    wait_until_handled(&store, "booking.requested", BOOKINGS, limit).await;
    wait_until_handled(&store, "booking.confirmed", BOOKINGS, limit).await;
    assert!(setup.terminate().await.success());
    let confirmed_by = Utc::now();
    assert_eq!(smtp.received().len(), 2 * BOOKINGS, "nothing else was mailed");
    assert!(smtp.received().iter().all(|mail| !is_reminder(mail)));

    // The reminder time: the first whole minute after every confirmation (and
    // a second to spare), office time; still today, before the first booking.
    let reminder_time = {
        let local = (confirmed_by + chrono::Duration::seconds(1)).with_timezone(&offset);
        local
            .with_second(0)
            .and_then(|at| at.with_nanosecond(0))
            .expect("a whole minute")
            + chrono::Duration::minutes(1)
    };
    assert_eq!(reminder_time.date_naive(), today);
    assert!(reminder_time.hour() < 14, "before the first booking starts");
    let reminder_at = reminder_time.format("%H:%M").to_string();
    let args = serve_args(&mail, &reminder_at);

    // The mail server takes 25 reminders, then stalls on the 26th.
    smtp.hold_after(DELIVERED_BEFORE_THE_KILL);
    let doomed = Running::start(dir.path(), &args).await;
    let wait = (reminder_time.with_timezone(&Utc) - Utc::now())
        .to_std()
        .unwrap_or_default();
    eprintln!(
        "{:.1?}: 50 bookings confirmed; office zone {zone}, reminders at {reminder_at}, in {wait:.1?}",
        started.elapsed()
    );
    let deadline = tokio::time::Instant::now() + wait + Duration::from_secs(30);
    while smtp.held() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the 26th reminder within 30 s of the reminder time; {} mails",
            smtp.received().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The kill interrupts the mailer in the middle of the reminders: 25 have
    // been delivered (the server answered 250), the 26th is on the wire with
    // its DATA sent and no answer yet, the other 24 wait their turn. The
    // timer has typically decided every reminder by now (the log says below).
    doomed.kill().await;
    let before = smtp.received();
    assert_eq!(
        reminders_by_recipient(&before).values().sum::<usize>(),
        DELIVERED_BEFORE_THE_KILL
    );
    assert!(reminders_by_recipient(&before).values().all(|&count| count == 1));
    let due = mailed(&store, "booking.reminder_due").await;
    let recorded = |outcome: Option<&str>| due.iter().filter(|mailed| mailed.outcome.as_deref() == outcome).count();
    eprintln!(
        "{:.1?}: killed with {} reminders decided; ledger: {} sent, {} claimed, {} not yet claimed",
        started.elapsed(),
        due.len(),
        recorded(Some("sent")),
        recorded(Some("sending")),
        recorded(None)
    );

    // Restart on the same database and mail server, which is well again.
    smtp.pass_all();
    let restarted = Running::start(dir.path(), &args).await;
    // Done when the log has all 50 reminders and the ledger has recorded each
    // as handled; the killed process's claims hold their mails back for the
    // claim lease first.
    let due = wait_until_handled(&store, "booking.reminder_due", BOOKINGS, Duration::from_secs(45)).await;
    assert_eq!(
        due.iter().map(|mailed| mailed.booking.clone()).collect::<BTreeSet<_>>(),
        bookings,
        "one reminder for each booking"
    );
    assert_eq!(due.len(), BOOKINGS, "and only one each");
    assert!(
        due.iter().all(|mailed| mailed.outcome.as_deref() == Some("sent")),
        "every reminder sent"
    );

    eprintln!("{:.1?}: every reminder handled after the restart", started.elapsed());
    let everyone: BTreeMap<String, usize> = (0..BOOKINGS).map(|n| (email(n), 1)).collect();
    let mails = smtp.received();
    assert_eq!(reminders_by_recipient(&mails), everyone, "one reminder to each citizen");
    // Nothing more comes: the restarted timer has run again meanwhile (its
    // first run was at its start), and a reminder it decided again, or a mail
    // sent again, would show within one more of its rounds.
    tokio::time::sleep(TIMER_INTERVAL).await;
    assert_eq!(smtp.received().len(), mails.len(), "no mail after the last reminder");
    assert_eq!(
        events(&restarted)
            .await
            .iter()
            .filter(|event| event["type"] == "booking.reminder_due")
            .count(),
        BOOKINGS
    );
    store.close().await;
    assert!(restarted.terminate().await.success());
    eprintln!("{:.1?}: done", started.elapsed());
}
