//! The reminder mail (API.md "The office floor", last bullet; DESIGN.md
//! invariants 9 and 10) against an app on port 0 on both backends, with the
//! test's clock: bookings confirmed the evening before get one reminder at
//! 07:00 office time (Europe/Berlin, so not UTC), with their number, code
//! and cancel link; a booking confirmed after 07:00 and one cancelled get
//! none; and nothing is reminded twice.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ManualClock, TestApp};
use terminagent_eventstore::Backend;

const SUBJECT: &str = "Erinnerung: Ihr Termin heute, 09:12 Uhr";

struct Office {
    app: TestApp,
    clock: Arc<ManualClock>,
    day: NaiveDate,
    secret: terminagent::links::LinkSecret,
}

struct Booked {
    id: String,
    number: String,
    code: String,
}

impl Office {
    /// The instant Berlin's clocks show `date` `hh:mm`.
    fn berlin(date: NaiveDate, time: &str) -> DateTime<Utc> {
        let time = NaiveTime::parse_from_str(time, "%H:%M").unwrap();
        terminagent_domain::OfficeTimeZone::parse("Europe/Berlin")
            .unwrap()
            .instant(date, time)
            .unwrap()
    }

    fn on_the_day(&self, time: &str) {
        self.clock.set(Self::berlin(self.day, time));
    }

    fn the_evening_before(&self) {
        self.clock.set(Self::berlin(self.day - Days::new(1), "18:00"));
    }

    async fn press(&self, booking: &str, action: &str) -> Value {
        let token = self.secret.token(booking, action);
        let (status, pressed) = self
            .app
            .send(Method::POST, &format!("/api/v1/links/{}", token.as_str()), None, None)
            .await;
        assert_eq!(
            (status, &pressed["outcome"]),
            (StatusCode::OK, &json!("done")),
            "{pressed}"
        );
        pressed
    }

    /// Books 09:12 on the day as a citizen and confirms it by its link.
    async fn book(&self, email: &str) -> Booked {
        let start = Self::berlin(self.day, "09:12").to_rfc3339();
        let body = json!({"office": "mitte", "services": ["ausweis"], "start": start,
                          "citizen": {"name": "Erika Mustermann", "email": email}});
        let (status, requested) = self.app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{requested}");
        let id = requested["booking_id"].as_str().unwrap().to_owned();
        let pressed = self.press(&id, "confirm_booking").await;
        let booking = &pressed["booking"];
        Booked {
            number: booking["number"].as_str().unwrap().to_owned(),
            code: booking["check_in_code"].as_str().unwrap().to_owned(),
            id,
        }
    }

    async fn reminders(&self) -> Vec<Value> {
        self.app
            .all_events()
            .await
            .into_iter()
            .filter(|event| event["type"] == "booking.reminder_due")
            .collect()
    }

    fn reminder_mails(&self, email: &str) -> Vec<String> {
        self.app
            .mails_to(email)
            .into_iter()
            .filter(|(subject, _)| subject.starts_with("Erinnerung"))
            .map(|(subject, _)| subject)
            .collect()
    }
}

/// Office `mitte` in Berlin with lanes 09:00–10:24 on a day ten days ahead.
async fn office(backend: Backend) -> Office {
    let day = Utc::now().date_naive() + Days::new(10);
    let clock = ManualClock::at(Office::berlin(day - Days::new(1), "17:00"));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    let body = json!({"name": "Bürgerbüro Mitte", "address": "Markt 1, 10117 Berlin", "timezone": "Europe/Berlin"});
    let (status, _) = app.staff(Method::PUT, "/api/v1/offices/mitte", body).await;
    assert_eq!(status, StatusCode::CREATED);
    let service = json!({"name": "Personalausweis", "duration_minutes": 12});
    let (status, _) = app.staff(Method::PUT, "/api/v1/services/ausweis", service).await;
    assert_eq!(status, StatusCode::CREATED);
    let capacity = json!({"date": day.to_string(), "from": "09:00", "to": "10:24", "unit_minutes": 12, "lanes": 10});
    let (status, answer) = app
        .staff(Method::POST, "/api/v1/offices/mitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let secret = app.link_secret().await;
    Office {
        app,
        clock,
        day,
        secret,
    }
}

async fn one_reminder_per_booking_confirmed_before_the_reminder_time(backend: Backend) {
    let office = office(backend).await;
    office.the_evening_before();
    let anna = office.book("anna@example.org").await;
    let bert = office.book("bert@example.org").await;
    let carl = office.book("carl@example.org").await;
    office.press(&carl.id, "cancel_booking").await;

    // A minute before 07:00 Berlin time (06:59 is 05:59 UTC): nothing yet.
    // A timer tick that decides nothing leaves no trace to wait for, so this
    // must be a sleep: two and a half ticks of the timer (every 2 s) at
    // 06:59. A reminder it made early anyway is caught below too: each
    // one's recorded time must be 07:00 or later.
    office.on_the_day("06:59");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(office.reminders().await.is_empty());

    // From 07:00 on, the timer reminds; a booking confirmed now is too late for one.
    office.on_the_day("07:00");
    let dora = office.book("dora@example.org").await;
    let reminders = office.app.wait_for_events("booking.reminder_due", 2).await;
    let mut reminded: Vec<&str> = reminders
        .iter()
        .map(|e| e["data"]["booking"].as_str().unwrap())
        .collect();
    reminded.sort_unstable();
    let mut expected = vec![anna.id.as_str(), bert.id.as_str()];
    expected.sort_unstable();
    assert_eq!(reminded, expected);
    for reminder in &reminders {
        let recorded = DateTime::parse_from_rfc3339(reminder["recorded_at"].as_str().unwrap()).unwrap();
        assert!(
            recorded >= Office::berlin(office.day, "07:00"),
            "not before 07:00: {reminder}"
        );
        assert_eq!(reminder["actor"], json!({"kind": "system", "id": "timer"}));
        assert_eq!(reminder["data"]["office"], "mitte");
        assert_eq!(reminder["data"]["date"], office.day.to_string());
    }

    for (email, booked) in [("anna@example.org", &anna), ("bert@example.org", &bert)] {
        let text = office.app.wait_for_mail(email, SUBJECT).await;
        assert!(text.contains(&format!("Ihre Wartenummer: {}", booked.number)), "{text}");
        assert!(text.contains(&booked.code), "{text}");
        let cancel = office.secret.token(&booked.id, "cancel_booking");
        assert!(text.contains(cancel.as_str()), "{text}");
        assert!(
            text.contains("Bürgerbüro Mitte") && text.contains("Markt 1, 10117 Berlin"),
            "{text}"
        );
    }

    // Later that morning the timer has run again: still one each, none for
    // the others. Again a tick that decides nothing leaves no trace, so this
    // must be a sleep of two and a half ticks at 07:30; after it, every mail
    // of the log is handled (the relay passed the head): four requests, four
    // confirmations, one cancellation and the two reminders, each once.
    office.on_the_day("07:30");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(office.reminders().await.len(), 2);
    office.app.mails_settled_exactly(11).await;
    assert_eq!(office.app.outbox_count(), 11, "one file per mail recorded sent");
    assert_eq!(office.reminder_mails("anna@example.org"), vec![SUBJECT.to_owned()]);
    assert_eq!(office.reminder_mails("bert@example.org"), vec![SUBJECT.to_owned()]);
    assert!(office.reminder_mails("carl@example.org").is_empty());
    assert!(office.reminder_mails("dora@example.org").is_empty());
    assert!(!dora.number.is_empty());
    // The reminder mail has the QR code inline, as the confirmation does.
    let raw: Vec<Vec<u8>> = std::fs::read_dir(office.app.outbox())
        .unwrap()
        .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
        .filter(|raw| String::from_utf8_lossy(raw).contains("Erinnerung"))
        .collect();
    assert_eq!(raw.len(), 2);
    assert!(
        raw.iter()
            .all(|mail| String::from_utf8_lossy(mail).contains("image/png"))
    );
    // The reminders view equals its replay, as every view does.
    let (_, check) = office.app.get("/api/v1/projections").await;
    let views = check["projections"].as_array().unwrap();
    assert!(views.iter().any(|view| view["name"] == "reminders"), "{check}");
    assert!(views.iter().all(|view| view["equal"] == true), "{check}");
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(one_reminder_per_booking_confirmed_before_the_reminder_time);
