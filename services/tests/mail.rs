//! Mails over a real SMTP receiver on loopback (issue: booking mails;
//! DESIGN.md invariant 9): every booking event leads to its mail, once,
//! through SMTP outages, and from the log rather than from the request.

mod support;

use std::time::Duration;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use mail_parser::{MessageParser, MimeHeaders};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::TestApp;
use support::smtp::{ReceivedMail, SmtpReceiver};
use terminagent::config::{BusConfig, MailTransport, Role};
use terminagent_domain::{LocalTime, OfficeTimeZone};
use terminagent_eventstore::{Backend, EventStore, MailClaim, StoreOptions};

fn at(ahead: u64, hhmm: &str) -> DateTime<Utc> {
    let zone = OfficeTimeZone::parse("Europe/Berlin").unwrap();
    zone.instant(
        Utc::now().date_naive() + Days::new(ahead),
        LocalTime::parse(hhmm).unwrap(),
    )
    .unwrap()
}

fn smtp(receiver: &SmtpReceiver) -> MailTransport {
    MailTransport::Smtp {
        host: "127.0.0.1".into(),
        port: receiver.port(),
        implicit_tls: false,
    }
}

async fn setup(app: &TestApp) {
    let office = json!({"name": "Bürger-Service-Station Stadtmitte", "address": "Sonnenwall 73, 47051 Duisburg",
                        "timezone": "Europe/Berlin"});
    app.staff(Method::PUT, "/api/v1/offices/stadtmitte", office).await;
    app.staff(
        Method::PUT,
        "/api/v1/services/reisepass",
        json!({"name": "Reisepass", "duration_minutes": 12}),
    )
    .await;
    let day = (Utc::now().date_naive() + Days::new(7)).to_string();
    let capacity = json!({"date": day, "from": "08:00", "to": "12:00", "unit_minutes": 12, "lanes": 1});
    let (status, _) = app
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn book(app: &TestApp, start: &str, email: &str) -> String {
    let body = json!({"office": "stadtmitte", "services": ["reisepass"], "start": at(7, start).to_rfc3339(),
                      "citizen": {"name": "Erika Mustermann", "email": email}});
    let (status, answer) = app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["booking_id"].as_str().unwrap().to_owned()
}

/// A JetStream stream of one test's own, for split processes.
struct TestStream(String);

impl TestStream {
    fn new() -> TestStream {
        TestStream(format!("TEST_MAIL_{}", ulid::Ulid::new()))
    }

    fn bus(&self) -> BusConfig {
        BusConfig::Nats {
            url: "nats://127.0.0.1:4222".into(),
            stream: self.0.clone(),
        }
    }

    async fn delete(self) {
        let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
        async_nats::jetstream::new(client).delete_stream(&self.0).await.unwrap();
    }
}

/// A received mail, parsed: subject, text part, HTML part, and its attachments as (content type, bytes).
struct Parsed {
    subject: String,
    to: String,
    message_id: String,
    text: String,
    html: String,
    parts: Vec<(String, Vec<u8>, Option<String>)>,
}

fn parse(mail: &ReceivedMail) -> Parsed {
    let message = MessageParser::default().parse(&mail.raw).expect("an RFC 5322 message");
    let parts = message
        .attachments()
        .map(|part| {
            let kind = part
                .content_type()
                .map(|t| format!("{}/{}", t.ctype(), t.subtype().unwrap_or_default()))
                .unwrap_or_default();
            (kind, part.contents().to_vec(), part.content_id().map(str::to_owned))
        })
        .collect();
    Parsed {
        subject: message.subject().unwrap_or_default().to_owned(),
        to: message
            .to()
            .and_then(|to| to.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned(),
        message_id: message.message_id().unwrap_or_default().to_owned(),
        text: message.body_text(0).unwrap_or_default().into_owned(),
        html: message.body_html(0).unwrap_or_default().into_owned(),
        parts,
    }
}

/// "Each mail once": waits until every mail is handled (the relay passed
/// the log's head, no claim open, `sent` recorded sent), then the receiver
/// holds exactly `sent` mails and the ledger `sent` rows, each key once;
/// and still `sent` after a short settle. Returns what was received.
async fn each_mail_once(app: &TestApp, receiver: &SmtpReceiver, sent: usize) -> Vec<ReceivedMail> {
    app.mails_settled_exactly(sent).await;
    let received = receiver.received();
    assert_eq!(received.len(), sent, "each mail once, and no other");
    // Nothing more comes: a late duplicate has no event to wait for, so
    // this second look can only be a short settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), sent, "each mail once, also after a settle");
    app.mails_settled_exactly(sent).await;
    received
}

/// A TCP gate in front of the SMTP receiver that counts what the mailer
/// tried: connections, and the temporary refusals (`451`) the receiver
/// answered. When the receiver is down the gate closes the connection it
/// accepted, as a proxy in front of a dead mail server would: a failed
/// attempt the test can see, where a refused connection leaves no trace.
struct Gate {
    port: u16,
    attempts: Counter,
    refusals: Counter,
    server: tokio::task::JoinHandle<()>,
}

type Counter = std::sync::Arc<std::sync::atomic::AtomicUsize>;

impl Gate {
    async fn start(receiver: &SmtpReceiver) -> Gate {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = receiver.port();
        let (attempts, refusals) = (Counter::default(), Counter::default());
        let server = tokio::spawn({
            let (attempts, refusals) = (attempts.clone(), refusals.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    let refusals = refusals.clone();
                    tokio::spawn(async move {
                        let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                            return; // the receiver is down: the attempt fails
                        };
                        let (mut client_in, mut client_out) = client.into_split();
                        let (mut server_in, mut server_out) = server.into_split();
                        let to_server = tokio::io::copy(&mut client_in, &mut server_out);
                        let to_client = async move {
                            let (mut buffer, mut line) = ([0u8; 4096], Vec::new());
                            loop {
                                let read = server_in.read(&mut buffer).await.unwrap_or(0);
                                if read == 0 || client_out.write_all(&buffer[..read]).await.is_err() {
                                    return;
                                }
                                for &byte in &buffer[..read] {
                                    line.push(byte);
                                    if byte == b'\n' {
                                        if line.starts_with(b"451 ") {
                                            refusals.fetch_add(1, Ordering::SeqCst);
                                        }
                                        line.clear();
                                    }
                                }
                            }
                        };
                        tokio::select! { _ = to_server => {}, _ = to_client => {} }
                    });
                }
            }
        });
        Gate {
            port,
            attempts,
            refusals,
            server,
        }
    }

    fn transport(&self) -> MailTransport {
        MailTransport::Smtp {
            host: "127.0.0.1".into(),
            port: self.port,
            implicit_tls: false,
        }
    }

    /// Waits until the mailer made `count` attempts; panics after 30 s.
    async fn wait_for_attempts(&self, count: usize) {
        Gate::wait_until(&self.attempts, "attempts", count).await;
    }

    /// Waits until the receiver refused `count` mails (451); panics after 30 s.
    async fn wait_for_refusals(&self, count: usize) {
        Gate::wait_until(&self.refusals, "refusals", count).await;
    }

    async fn wait_until(counter: &Counter, what: &str, count: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while counter.load(std::sync::atomic::Ordering::SeqCst) < count {
            assert!(tokio::time::Instant::now() < deadline, "no {count} {what} in 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn attempts(&self) -> usize {
        self.attempts.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn press(app: &TestApp, url: &str) -> serde_json::Value {
    let token = url.rsplit('/').next().unwrap();
    let (status, answer) = app
        .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_s_mails_go_out_through_smtp_in_german_with_links_number_calendar_and_qr() {
    let receiver = SmtpReceiver::start().await;
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| config.mail = smtp(&receiver)).await;
    setup(&app).await;
    let booking = book(&app, "08:12", "erika@example.org").await;
    let secret = app.link_secret().await;
    let confirm_url = format!(
        "{}/links/{}",
        app.base,
        secret.token(&booking, "confirm_booking").as_str()
    );
    let cancel_url = format!(
        "{}/links/{}",
        app.base,
        secret.token(&booking, "cancel_booking").as_str()
    );

    // 1. The request: confirm and cancel links, in both parts.
    let mails = receiver.wait_for(1).await;
    let request = parse(&mails[0]);
    assert_eq!(request.to, "erika@example.org");
    assert_eq!(mails[0].to, vec!["<erika@example.org>".to_owned()]);
    assert!(
        request.subject.starts_with("Bitte bestätigen Sie Ihren Termin"),
        "{}",
        request.subject
    );
    assert!(
        request.subject.contains("08:12 Uhr"),
        "local time of the office: {}",
        request.subject
    );
    for body in [&request.text, &request.html] {
        assert!(body.contains(&confirm_url), "{body}");
        assert!(body.contains(&cancel_url), "{body}");
        assert!(body.contains("Guten Tag Erika Mustermann"), "{body}");
        assert!(body.contains("Sonnenwall 73, 47051 Duisburg"), "{body}");
        assert!(body.contains("Reisepass"), "{body}");
    }
    assert!(request.html.contains("lang=\"de\""));
    assert!(request.parts.is_empty(), "no attachments before confirmation");

    // 2. Confirming: the waiting number in both parts, calendar entry, check-in code and its QR image.
    let confirmed = press(&app, &confirm_url).await;
    let number = confirmed["booking"]["number"].as_str().unwrap().to_owned();
    let mails = receiver.wait_for(2).await;
    let confirmation = parse(&mails[1]);
    assert!(
        confirmation.subject.contains(&format!("Wartenummer {number}")),
        "{}",
        confirmation.subject
    );
    assert!(
        confirmation.text.contains(&format!("Ihre Wartenummer: {number}")),
        "{}",
        confirmation.text
    );
    assert!(
        confirmation
            .html
            .contains(&format!("Ihre Wartenummer: <strong>{number}</strong>")),
        "{}",
        confirmation.html
    );
    let code = secret.checkin_code(&booking);
    assert!(confirmation.text.contains(&code) && confirmation.html.contains(&code));
    assert!(confirmation.text.contains(&cancel_url) && confirmation.html.contains(&cancel_url));
    let (_, ics, _) = confirmation
        .parts
        .iter()
        .find(|(kind, _, _)| kind == "text/calendar")
        .expect("an .ics attachment");
    let ics = String::from_utf8(ics.clone()).unwrap();
    let start = at(7, "08:12");
    assert!(
        ics.contains(&format!("DTSTART:{}", start.format("%Y%m%dT%H%M%SZ"))),
        "{ics}"
    );
    assert!(
        ics.contains(&format!(
            "DTEND:{}",
            (start + chrono::Duration::minutes(12)).format("%Y%m%dT%H%M%SZ")
        )),
        "{ics}"
    );
    assert!(ics.contains("METHOD:PUBLISH"));
    let (_, png, content_id) = confirmation
        .parts
        .iter()
        .find(|(kind, _, _)| kind == "image/png")
        .expect("the check-in QR image");
    assert_eq!(&png[..4], b"\x89PNG");
    let content_id = content_id.as_deref().expect("an inline image").trim_matches(['<', '>']);
    assert!(
        confirmation.html.contains(&format!("cid:{content_id}")),
        "the HTML shows the QR image"
    );

    // 3. Cancelling: a confirmation of that, and a calendar update removing the entry.
    press(&app, &cancel_url).await;
    let mails = receiver.wait_for(3).await;
    let cancellation = parse(&mails[2]);
    assert!(
        cancellation.subject.starts_with("Ihr Termin wurde abgesagt"),
        "{}",
        cancellation.subject
    );
    assert!(cancellation.text.contains("abgesagt") && cancellation.html.contains("abgesagt"));
    let (_, removal, _) = cancellation
        .parts
        .iter()
        .find(|(kind, _, _)| kind == "text/calendar")
        .unwrap();
    let removal = String::from_utf8(removal.clone()).unwrap();
    assert!(removal.contains("METHOD:CANCEL") && removal.contains(&format!("UID:{booking}@terminagent")));

    // Each mail once, each with its own stable Message-ID.
    let all: Vec<Parsed> = each_mail_once(&app, &receiver, 3).await.iter().map(parse).collect();
    let ids: std::collections::BTreeSet<_> = all.iter().map(|mail| mail.message_id.clone()).collect();
    assert_eq!(ids.len(), 3);
}

/// The Sunday on which Berlin next changes its clocks, from the EU rule
/// itself (the last Sundays of March and October), not from the code under
/// test; and Berlin's UTC offset in hours after the change.
fn next_clock_change() -> (NaiveDate, i64) {
    let tomorrow = Utc::now().date_naive() + Days::new(1);
    let last_sunday = |year: i32, month: u32| {
        let first_of_next = NaiveDate::from_ymd_opt(year, month + 1, 1).unwrap();
        let last = first_of_next.pred_opt().unwrap();
        last - Days::new(u64::from(last.weekday().num_days_from_sunday()))
    };
    [tomorrow.year(), tomorrow.year() + 1]
        .into_iter()
        .flat_map(|year| [(last_sunday(year, 3), 2), (last_sunday(year, 10), 1)])
        .find(|(sunday, _)| *sunday >= tomorrow)
        .unwrap()
}

/// A confirmation's calendar entry puts 08:00 office time at the right UTC
/// instant on both sides of a clock change: the Saturday before and the
/// Sunday of it differ by an hour in UTC, not in local time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_entries_keep_the_office_time_across_a_clock_change() {
    let receiver = SmtpReceiver::start().await;
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| {
        config.mail = smtp(&receiver);
        config.booking_horizon_days = 366;
    })
    .await;
    setup(&app).await;
    let (sunday, offset_after) = next_clock_change();
    let saturday = sunday.pred_opt().unwrap();
    for (n, (day, offset)) in [(saturday, 3 - offset_after), (sunday, offset_after)]
        .into_iter()
        .enumerate()
    {
        let capacity = json!({"date": day.to_string(), "from": "08:00", "to": "09:00", "unit_minutes": 12, "lanes": 1});
        let (status, answer) = app
            .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let start = format!("{day}T08:00:00+{offset:02}:00");
        let body = json!({"office": "stadtmitte", "services": ["reisepass"], "start": start,
                          "citizen": {"name": "Erika Mustermann", "email": format!("dst{n}@example.org")}});
        let (status, answer) = app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["start"], start, "answered in the office's offset of that day");
        let booking = answer["booking_id"].as_str().unwrap();
        let confirm = app.link_token(booking, "confirm_booking").await;
        press(&app, &format!("{}/links/{confirm}", app.base)).await;

        let mails = receiver.wait_for(2 * (n + 1)).await;
        let confirmation = mails
            .iter()
            .map(parse)
            .find(|mail| mail.to == format!("dst{n}@example.org") && !mail.parts.is_empty())
            .expect("the confirmation");
        assert!(
            confirmation.text.contains("08:00 bis 08:12 Uhr"),
            "{}",
            confirmation.text
        );
        let (_, ics, _) = confirmation
            .parts
            .iter()
            .find(|(kind, _, _)| kind == "text/calendar")
            .expect("an .ics attachment");
        let ics = String::from_utf8(ics.clone()).unwrap();
        let utc = day.format("%Y%m%d").to_string();
        let (start_hour, end) = (8 - offset, format!("{:02}1200Z", 8 - offset));
        assert!(
            ics.contains(&format!("DTSTART:{utc}T{start_hour:02}0000Z")),
            "{day}: {ics}"
        );
        assert!(ics.contains(&format!("DTEND:{utc}T{end}")), "{day}: {ics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfirmed_booking_lapses_with_a_notice() {
    let receiver = SmtpReceiver::start().await;
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| {
        config.mail = smtp(&receiver);
        config.confirm_ttl = Duration::from_secs(1);
    })
    .await;
    setup(&app).await;
    book(&app, "09:00", "max@example.org").await;
    let mails = receiver.wait_for(2).await;
    let lapse = parse(&mails[1]);
    assert!(
        lapse.subject.starts_with("Ihre Terminanfrage ist verfallen"),
        "{}",
        lapse.subject
    );
    assert!(lapse.text.contains("nicht rechtzeitig bestätigt"));
    assert!(lapse.html.contains(&format!("{}/", app.base)), "offers to book again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mails_wait_out_an_smtp_outage_and_then_go_once() {
    let mut receiver = SmtpReceiver::start().await;
    receiver.down();
    let gate = Gate::start(&receiver).await;
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| config.mail = gate.transport()).await;
    setup(&app).await;
    book(&app, "10:00", "a@example.org").await;
    book(&app, "10:12", "b@example.org").await;
    // The mailer tried both (and a retry) while the server was down: nothing
    // arrived, nothing is recorded sent.
    gate.wait_for_attempts(3).await;
    assert!(receiver.received().is_empty());
    let store = EventStore::connect(app.db.url(), StoreOptions::default())
        .await
        .unwrap();
    let sent_so_far =
        |ledger: Vec<(String, String)>| ledger.into_iter().filter(|(_, outcome)| outcome == "sent").count();
    assert_eq!(sent_so_far(store.progress().mail_ledger().await.unwrap()), 0);

    // Back, but refusing for a while (451): a mail reached it and was
    // refused, and still nothing is lost or recorded sent.
    receiver.refuse_temporarily(true);
    receiver.up().await;
    let before = gate.attempts();
    gate.wait_for_refusals(1).await;
    assert!(gate.attempts() > before);
    assert!(receiver.received().is_empty());
    assert_eq!(sent_so_far(store.progress().mail_ledger().await.unwrap()), 0);
    store.close().await;
    receiver.refuse_temporarily(false);

    let mails = receiver.wait_for(2).await;
    let mut to: Vec<String> = mails.iter().map(|mail| parse(mail).to).collect();
    to.sort();
    assert_eq!(to, ["a@example.org", "b@example.org"]);
    each_mail_once(&app, &receiver, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_transport_writes_one_eml_per_mail() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    setup(&app).await;
    book(&app, "11:00", "erika@example.org").await;
    let outbox = app.outbox().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let files = loop {
        let files: Vec<_> = std::fs::read_dir(&outbox)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|path| path.is_file())
                    .collect()
            })
            .unwrap_or_default();
        if !files.is_empty() || tokio::time::Instant::now() > deadline {
            break files;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(files.len(), 1, "{files:?}");
    app.mails_settled_exactly(1).await;
    assert_eq!(app.outbox_count(), 1, "one file for the one mail");
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let raw = std::fs::read(&files[0]).unwrap();
    let mail = parse(&ReceivedMail {
        from: String::new(),
        to: vec![],
        raw,
    });
    assert_eq!(mail.to, "erika@example.org");
    assert!(mail.subject.starts_with("Bitte bestätigen"));
}

/// Split processes: the API's relay publishes to JetStream, a separate
/// mailer process sends. Both read one Postgres.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_mailer_processes_talk_through_jetstream() {
    let receiver = SmtpReceiver::start().await;
    let stream = TestStream::new();
    let nats = stream.bus();
    let api = TestApp::spawn_configured(Backend::Postgres, |config| {
        config.role = Role::Api;
        config.bus = nats.clone();
        config.mail = smtp(&receiver);
    })
    .await;
    let mailer = TestApp::start_on(api.db.clone(), |config| {
        config.role = Role::Mailer;
        config.bus = nats.clone();
        config.mail = smtp(&receiver);
    })
    .await;
    let (status, _) = mailer.send(Method::GET, "/api/v1/offices", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the mailer process serves no API");

    setup(&api).await;
    book(&api, "08:00", "one@example.org").await;
    book(&api, "08:12", "two@example.org").await;
    let mails = receiver.wait_for(2).await;
    assert!(
        mails
            .iter()
            .all(|mail| parse(mail).subject.starts_with("Bitte bestätigen"))
    );
    each_mail_once(&api, &receiver, 2).await;

    stream.delete().await;
}

/// Invariant 9 under a mailer's death: a mail whose ledger claim another
/// mailer holds (it died while sending) is not taken as handled. The next
/// mailer leaves it alone while the dead mailer's heartbeat still holds and
/// sends it once within seconds after that, long before the claim lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_claimed_by_a_mailer_that_died_goes_out_once_its_heartbeat_stops() {
    let receiver = SmtpReceiver::start().await;
    let stream = TestStream::new();
    let nats = stream.bus();
    let api = TestApp::spawn_configured(Backend::Postgres, |config| {
        config.role = Role::Api;
        config.bus = nats.clone();
    })
    .await;
    setup(&api).await;
    book(&api, "09:00", "held@example.org").await;
    let requested = api.wait_for_events("booking.requested", 1).await;
    let mail_key = requested[0]["event_id"].as_str().unwrap().to_owned();

    // The mailer that died left its claim, made just now; its last
    // heartbeat holds for 3 s more.
    let store = EventStore::connect(api.db.url(), StoreOptions::default())
        .await
        .unwrap();
    let progress = store.progress();
    let claimed_at = Utc::now();
    let heartbeat = chrono::Duration::seconds(3);
    progress
        .keep_incarnation("the-dead-mailer", claimed_at, claimed_at + heartbeat)
        .await
        .unwrap();
    assert_eq!(
        progress
            .claim_mail(
                &mail_key,
                "the-dead-mailer",
                claimed_at,
                claimed_at - chrono::Duration::minutes(1)
            )
            .await
            .unwrap(),
        MailClaim::Ours
    );
    let lease = Duration::from_secs(60);
    let _mailer = TestApp::start_on(api.db.clone(), |config| {
        config.role = Role::Mailer;
        config.bus = nats.clone();
        config.mail = smtp(&receiver);
        config.mail_claim_lease = lease;
    })
    .await;

    let mails = receiver.wait_for_within(1, Duration::from_secs(40)).await;
    let waited = Utc::now() - claimed_at;
    assert!(
        waited >= heartbeat,
        "not while the dead mailer's heartbeat held: {waited}"
    );
    assert!(
        waited < chrono::Duration::from_std(lease).unwrap() / 4,
        "seconds after the heartbeat stopped, not the claim lease: {waited}"
    );
    assert_eq!(parse(&mails[0]).to, "held@example.org");
    each_mail_once(&api, &receiver, 1).await;
    assert_eq!(
        progress.mail_outcome(&mail_key).await.unwrap().as_deref(),
        Some("sent"),
        "the held mail is the one recorded sent"
    );

    store.close().await;
    stream.delete().await;
}

/// The URL printed under `label` in a mail's text part.
fn link_under(text: &str, label: &str) -> String {
    let mut lines = text.lines();
    lines
        .by_ref()
        .find(|line| line.trim_end() == format!("{label}:"))
        .unwrap_or_else(|| panic!("no {label:?} link in {text}"));
    lines.next().unwrap().trim().to_owned()
}

/// The waitlist on split processes: API, matcher and mailer each on their
/// own, over one Postgres and JetStream. Every waitlist event leads to its
/// mail once, and the links in the mails act.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waitlist_s_mails_go_out_from_split_processes() {
    let receiver = SmtpReceiver::start().await;
    let stream = TestStream::new();
    let nats = stream.bus();
    let api = TestApp::spawn_configured(Backend::Postgres, |config| {
        config.role = Role::Api;
        config.bus = nats.clone();
        config.mail = smtp(&receiver);
    })
    .await;
    let split = |role| {
        let (nats, mail) = (nats.clone(), smtp(&receiver));
        // Links in mails lead to the API process.
        let public_url = terminagent::config::PublicUrl::parse(&api.base).unwrap();
        move |config: &mut terminagent::config::Config| {
            config.role = role;
            config.bus = nats;
            config.mail = mail;
            config.public_url = Some(public_url);
        }
    };
    let _matcher = TestApp::start_on(api.db.clone(), split(Role::Matcher)).await;
    let _mailer = TestApp::start_on(api.db.clone(), split(Role::Mailer)).await;

    let office = json!({"name": "Bürger-Service-Station Stadtmitte", "address": "Sonnenwall 73, 47051 Duisburg",
                        "timezone": "Europe/Berlin"});
    api.staff(Method::PUT, "/api/v1/offices/stadtmitte", office).await;
    let service = json!({"name": "Reisepass", "duration_minutes": 12});
    api.staff(Method::PUT, "/api/v1/services/reisepass", service).await;
    let day = Utc::now().date_naive() + Days::new(7);
    let weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [chrono::Datelike::weekday(&day).num_days_from_monday() as usize];
    for who in ["first", "second"] {
        let wish = json!({"offices": ["stadtmitte"], "services": ["reisepass"], "windows": {weekday: [8]},
                          "citizen": {"name": "Erika Mustermann", "email": format!("{who}@example.org")}});
        let (status, answer) = api.send(Method::POST, "/api/v1/wishes", None, Some(wish)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    // Double opt-in: first the confirm link (and one to withdraw), valid for --confirm-ttl.
    let mails = receiver.wait_for(2).await;
    for mail in &mails {
        let mail = parse(mail);
        assert_eq!(mail.subject, "Bitte bestätigen Sie Ihre Terminsuche");
        let confirm = link_under(&mail.text, "Terminsuche bestätigen");
        assert!(mail.html.contains(&format!("href=\"{confirm}\"")), "{}", mail.html);
        assert!(link_under(&mail.text, "Terminsuche zurückziehen").contains("/links/"));
        assert_eq!(press(&api, &confirm).await["outcome"], "done");
    }
    let mails = receiver.wait_for(4).await;
    for mail in &mails[2..] {
        let mail = parse(mail);
        assert_eq!(mail.subject, "Ihre Terminsuche ist eingetragen");
        assert!(link_under(&mail.text, "Terminsuche beenden").contains("/links/"));
        // The window as registered: that weekday, 8–9 o'clock, in both parts.
        let window = format!("{}: 8–9 Uhr", german_weekday(day));
        assert!(mail.html.contains(&window), "{window}: {}", mail.html);
        assert!(mail.text.contains(&window), "{window}: {}", mail.text);
    }

    // One unit: the first wish's proposal, with accept, decline and end links.
    let capacity = json!({"date": day.to_string(), "from": "08:00", "to": "08:12", "unit_minutes": 12, "lanes": 1});
    let (status, _) = api
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mails = receiver.wait_for(5).await;
    let proposal = parse(&mails[4]);
    assert_eq!(proposal.to, "first@example.org");
    assert!(
        proposal.subject.starts_with("Terminvorschlag: "),
        "{}",
        proposal.subject
    );
    assert!(proposal.subject.ends_with("08:00 Uhr"), "{}", proposal.subject);
    assert!(proposal.text.contains("Sonnenwall 73"), "{}", proposal.text);
    let decline = link_under(&proposal.text, "Ablehnen und weiter suchen");
    assert!(decline.starts_with(&format!("{}/links/", api.base)), "{decline}");
    for label in ["Termin annehmen", "Ablehnen und weiter suchen", "Terminsuche beenden"] {
        let url = link_under(&proposal.text, label);
        assert!(
            proposal.html.contains(&format!("href=\"{url}\"")),
            "{label} in the HTML part"
        );
    }

    // Declined from the mail: the second wish's proposal; the first hears its search goes on.
    assert_eq!(press(&api, &decline).await["outcome"], "done");
    let mails = receiver.wait_for(7).await;
    let (declined, second) = {
        let (a, b) = (parse(&mails[5]), parse(&mails[6]));
        if a.to == "first@example.org" { (a, b) } else { (b, a) }
    };
    assert_eq!(declined.subject, "Ihre Terminsuche läuft weiter");
    assert_eq!(second.to, "second@example.org");
    assert!(second.subject.starts_with("Terminvorschlag: "));

    // Accepted from the mail: the confirmation, as for a booking.
    let accepted = press(&api, &link_under(&second.text, "Termin annehmen")).await;
    assert_eq!(accepted["outcome"], "done");
    let number = accepted["booking"]["number"].as_str().unwrap().to_owned();
    let mails = receiver.wait_for(8).await;
    let confirmation = parse(&mails[7]);
    assert_eq!(confirmation.to, "second@example.org");
    assert!(
        confirmation.subject.contains(&format!("Wartenummer {number}")),
        "{}",
        confirmation.subject
    );
    assert!(confirmation.parts.iter().any(|(kind, _, _)| kind == "text/calendar"));
    let cancel = link_under(&confirmation.text, "Termin absagen");
    assert_eq!(press(&api, &cancel).await["outcome"], "done");
    let mails = receiver.wait_for(9).await;
    assert!(parse(&mails[8]).subject.starts_with("Ihr Termin wurde abgesagt"));

    // The cancelled unit goes back to the waitlist: the first wish declined it,
    // so nobody gets it, and it is bookable again. The matcher reads the log
    // in order: once it has proposed a unit published after the
    // cancellation to a wish registered after it, it has read the
    // cancellation and proposed the freed unit to nobody.
    let wish = json!({"offices": ["stadtmitte"], "services": ["reisepass"], "windows": {weekday: [9]},
                      "citizen": {"name": "Erika Mustermann", "email": "third@example.org"}});
    let (status, answer) = api.send(Method::POST, "/api/v1/wishes", None, Some(wish)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let third = answer["wish_id"].as_str().unwrap().to_owned();
    let confirm = api.link_token(&third, "confirm_wish").await;
    assert_eq!(press(&api, &format!("/links/{confirm}")).await["outcome"], "done");
    let capacity = json!({"date": day.to_string(), "from": "09:00", "to": "09:12", "unit_minutes": 12, "lanes": 1});
    let (status, _) = api
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let proposals = api.wait_for_events("proposal.made", 3).await;
    assert_eq!(proposals.len(), 3, "{proposals:?}");
    assert_eq!(proposals[2]["data"]["wish"], third.as_str(), "{proposals:?}");
    assert_eq!(proposals[2]["data"]["units"][0]["start"], "09:00", "{proposals:?}");
    // Its three mails (confirm request, registered, proposal), and no other.
    let message_ids: std::collections::BTreeSet<String> = each_mail_once(&api, &receiver, 12)
        .await
        .iter()
        .map(|mail| parse(mail).message_id)
        .collect();
    assert_eq!(message_ids.len(), 12);
    assert_eq!(
        api.all_events()
            .await
            .iter()
            .filter(|event| event["type"] == "proposal.made")
            .count(),
        3,
        "the freed unit was proposed to nobody"
    );

    stream.delete().await;
}

/// The German name of `day`'s weekday, written out here rather than taken
/// from the code under test.
fn german_weekday(day: chrono::NaiveDate) -> &'static str {
    [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ][chrono::Datelike::weekday(&day).num_days_from_monday() as usize]
}
