//! One person, one time (issue 16, point 1): the booking form sent twice —
//! back and send again, a double click, a reload of the result page, or the
//! same form answered by another process — books once and mails once; and a
//! citizen's bookings may not overlap, also when two overlapping requests of
//! one citizen race, and also when a proposal is accepted.

mod support;

use std::time::Duration;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use reqwest::redirect::Policy;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use terminagent_domain::{LocalTime, OfficeTimeZone};
use terminagent_eventstore::Backend;

const BERLIN: &str = "Europe/Berlin";
const LANES: u32 = 4;

fn day() -> NaiveDate {
    Utc::now().date_naive() + Days::new(7)
}

fn at(hhmm: &str) -> DateTime<Utc> {
    let zone = OfficeTimeZone::parse(BERLIN).unwrap();
    zone.instant(day(), LocalTime::parse(hhmm).unwrap()).unwrap()
}

/// One office, two 12-minute services and [`LANES`] lanes of 12-minute
/// units 08:00–09:00 a week from now: every start has several free lanes,
/// so a second booking of the same start is not stopped by the units.
async fn catalogue(app: &TestApp) {
    let office = json!({"name": "Bürgerbüro Stadtmitte", "address": "Sonnenwall 73", "timezone": BERLIN});
    let (status, answer) = app.staff(Method::PUT, "/api/v1/offices/stadtmitte", office).await;
    assert!(status.is_success(), "{answer}");
    for (id, name) in [("personalausweis", "Personalausweis"), ("reisepass", "Reisepass")] {
        let service = json!({"name": name, "duration_minutes": 12});
        let (status, answer) = app.staff(Method::PUT, &format!("/api/v1/services/{id}"), service).await;
        assert!(status.is_success(), "{answer}");
    }
    let capacity =
        json!({"date": day().to_string(), "from": "08:00", "to": "09:00", "unit_minutes": 12, "lanes": LANES});
    let (status, answer) = app
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The contact form for Personalausweis at `time`, as the browser gets it:
/// its fields with the hidden ones (the one-time key among them) and the
/// citizen's details filled in.
async fn filled_form(app: &TestApp, time: &str, email: &str) -> Vec<(String, String)> {
    let path = format!(
        "/termin/angaben?services=personalausweis&office=stadtmitte&date={}&time={time}",
        day()
    );
    let html = browser()
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = hidden_fields(&html);
    assert!(
        form.iter().any(|(name, _)| name == "einmalschluessel"),
        "the form carries a one-time key: {html}"
    );
    form.extend([
        ("name".to_owned(), "Erika Mustermann".to_owned()),
        ("email".to_owned(), email.to_owned()),
        ("phone".to_owned(), String::new()),
    ]);
    form
}

/// (name, value) of every `<input type="hidden">` of `html`.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = start + tag[start..].find('"')?;
        Some(tag[start..end].replace("&#x2b;", "+").replace("&#43;", "+"))
    };
    html.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

/// Posts `form` to `/termin/buchen` on `app`: (status, `Location`, body).
async fn send_form(app: &TestApp, form: &[(String, String)]) -> (StatusCode, Option<String>, String) {
    let response = browser()
        .post(format!("{}/termin/buchen", app.base))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, location, response.text().await.unwrap())
}

async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = browser().get(format!("{}{path}", app.base)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn requested(app: &TestApp) -> Vec<Value> {
    app.all_events()
        .await
        .into_iter()
        .filter(|event| event["type"] == "booking.requested")
        .collect()
}

/// Mails to `address` once every mail is handled: the relay passed the
/// log's head, no claim is open and the ledger holds exactly `sent` mails
/// recorded sent, each key once; the outbox holds as many. Looked at again
/// after a short settle.
async fn mails_once_settled(app: &TestApp, address: &str, sent: usize) -> Vec<String> {
    app.mails_settled_exactly(sent).await;
    assert_eq!(app.outbox_count(), sent, "one file per mail recorded sent");
    let subjects = || -> Vec<String> { app.mails_to(address).into_iter().map(|(subject, _)| subject).collect() };
    let settled = subjects();
    // Nothing more comes: a late second mail has no event to wait for, so
    // this second look can only be a short settle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(subjects(), settled, "no mail came later");
    app.mails_settled_exactly(sent).await;
    settled
}

/// Back and send again, a double click and reloads of the result page
/// book once: the form's one-time key names the booking it made.
async fn the_same_form_sent_again_books_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue(&app).await;
    let form = filled_form(&app, "08:12", "erika@example.org").await;

    let (status, location, body) = send_form(&app, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "post, redirect, get: {body}");
    let result = location.expect("a redirect names the result page");
    assert!(result.starts_with("/termin/angefragt/"), "{result}");
    assert!(
        !result.contains("erika") && !result.contains("example.org"),
        "no personal data in the address: {result}"
    );

    let (status, html) = page(&app, &result).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Fast geschafft"), "{html}");
    assert!(html.contains("erika@example.org"), "{html}");
    assert!(html.contains("08:12 bis 08:24 Uhr"), "{html}");

    // Back and send again (also with the choice changed meanwhile), twice.
    let mut changed = form.clone();
    for (name, value) in &mut changed {
        if name == "time" {
            *value = "08:36".to_owned();
        }
    }
    for again in [&form, &changed] {
        let (status, location, body) = send_form(&app, again).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        assert_eq!(location.as_deref(), Some(result.as_str()), "the booking already made");
    }
    // Reloading the result page.
    for _ in 0..3 {
        let (status, html) = page(&app, &result).await;
        assert_eq!(status, StatusCode::OK, "{html}");
    }

    let bookings = requested(&app).await;
    assert_eq!(bookings.len(), 1, "one booking: {bookings:#?}");
    let mails = mails_once_settled(&app, "erika@example.org", 1).await;
    assert_eq!(mails.len(), 1, "one mail: {mails:?}");
    // The slot's other lanes are still free for others.
    let (status, slots) = app
        .get(&format!(
            "/api/v1/availability?office=stadtmitte&services=personalausweis&from={0}&to={0}",
            day()
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let at_0812 = slots["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|slot| slot["start"].as_str().unwrap().contains("T08:12"))
        .cloned();
    assert_eq!(at_0812.unwrap()["free"], LANES - 1, "{slots}");
}

/// The key is checked in the log, not in one process's memory: the same
/// form answered by a second process on the same database books nothing.
async fn the_same_form_sent_to_another_process_books_once(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    catalogue(&first).await;
    let second = TestApp::spawn_on(first.db.clone(), false).await;
    let form = filled_form(&first, "08:24", "max@example.org").await;
    let (status, location, body) = send_form(&first, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, again, body) = send_form(&second, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(again, location);
    let result = again.unwrap();
    let (status, html) = page(&second, &result).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Fast geschafft"), "{html}");
    assert_eq!(requested(&first).await.len(), 1);
}

/// Two forms sent at once with the same key: one books, the other is sent
/// to that booking.
async fn the_same_form_sent_twice_at_once_books_once(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    catalogue(&first).await;
    let second = TestApp::spawn_on(first.db.clone(), false).await;
    let form = filled_form(&first, "08:00", "eva@example.org").await;
    let (a, b) = tokio::join!(send_form(&first, &form), send_form(&second, &form));
    for (status, _, body) in [&a, &b] {
        assert_eq!(*status, StatusCode::SEE_OTHER, "{body}");
    }
    assert_eq!(a.1, b.1, "both name the one booking");
    assert_eq!(requested(&first).await.len(), 1);
}

/// The result page answers only the address it was sent to.
async fn the_result_page_cannot_be_guessed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue(&app).await;
    let form = filled_form(&app, "08:12", "erika@example.org").await;
    let (_, location, _) = send_form(&app, &form).await;
    let result = location.unwrap();
    let (id, token) = result.trim_start_matches("/termin/angefragt/").split_once('.').unwrap();
    let key = form
        .iter()
        .find(|(name, _)| name == "einmalschluessel")
        .unwrap()
        .1
        .clone();
    let forged = format!(
        "{}{}",
        &token[..token.len() - 1],
        if token.ends_with('A') { 'B' } else { 'A' }
    );
    for guess in [
        format!("/termin/angefragt/{id}"),
        format!("/termin/angefragt/{id}.{forged}"),
        // The form's key is signed for the form, not for the page.
        format!("/termin/angefragt/{key}"),
        "/termin/angefragt/nichts".to_owned(),
    ] {
        let (status, html) = page(&app, &guess).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{guess}: {html}");
        assert!(!html.contains("erika@example.org"), "{html}");
    }
    // A forged key is not taken as one of ours, and books nothing.
    let mut forged_key = form.clone();
    for (name, value) in &mut forged_key {
        if name == "einmalschluessel" {
            let last = value.pop().unwrap();
            value.push(if last == 'A' { 'B' } else { 'A' });
        }
    }
    let (status, _, html) = send_form(&app, &forged_key).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("Dieses Formular können wir nicht zuordnen"), "{html}");
    assert!(
        html.contains("value=\"erika@example.org\""),
        "the details are kept: {html}"
    );
    assert_eq!(requested(&app).await.len(), 1);
}

/// One person, one time: on the API a 409 problem, on the page a German
/// message; touching bookings and other people's are fine.
async fn a_citizens_bookings_may_not_overlap(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue(&app).await;
    let book = |services: Vec<&'static str>, hhmm: &'static str, email: &'static str| {
        let body = json!({"office": "stadtmitte", "services": services, "start": at(hhmm).to_rfc3339(),
                          "citizen": {"name": "Erika Mustermann", "email": email}});
        let app = &app;
        async move { app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await }
    };
    let (status, first) = book(vec!["personalausweis", "reisepass"], "08:12", "erika@example.org").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    for (services, hhmm) in [
        (vec!["personalausweis"], "08:12"),
        (vec!["personalausweis"], "08:24"),
        (vec!["personalausweis", "reisepass"], "08:00"),
    ] {
        let (status, problem) = book(services, hhmm, "erika@example.org").await;
        assert_eq!(status, StatusCode::CONFLICT, "{hhmm}: {problem}");
        assert_eq!(problem["type"], "/problems/overlapping-booking", "{problem}");
    }
    // The same address written differently is the same citizen.
    let (status, problem) = book(vec!["personalausweis"], "08:12", "Erika@Example.org").await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    for (hhmm, email) in [
        ("08:00", "erika@example.org"),
        ("08:36", "erika@example.org"),
        ("08:12", "max@example.org"),
    ] {
        let (status, answer) = book(vec!["personalausweis"], hhmm, email).await;
        assert_eq!(status, StatusCode::CREATED, "{hhmm} {email}: {answer}");
    }

    // On the page: a fresh form (a new key) for a time Erika has.
    let form = filled_form(&app, "08:12", "erika@example.org").await;
    let (status, _, html) = send_form(&app, &form).await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("Sie haben zu dieser Zeit schon einen Termin"), "{html}");
    assert!(html.contains("<html lang=\"de\">"), "{html}");
    assert_eq!(requested(&app).await.len(), 4);

    // Cancelled, the time is hers to book again.
    let booking = first["booking_id"].as_str().unwrap();
    let token = app.link_token(booking, "cancel_booking").await;
    let (status, answer) = app
        .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = book(vec!["personalausweis"], "08:24", "erika@example.org").await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

/// The race: overlapping requests of one citizen at once, on disjoint units
/// and through two processes, so only the citizen's stream is common to
/// them. Its condition lets one through; the others lose the race and are
/// decided again, on a state that has the winner.
async fn overlapping_requests_of_one_citizen_at_once_book_once(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    catalogue(&first).await;
    let second = TestApp::spawn_on(first.db.clone(), false).await;
    for round in 0..4 {
        let email = format!("wettlauf{round}@example.org");
        // 08:00–08:24 and 08:12–08:24 overlap; so do all of 08:12 on each lane.
        let requests = [
            (&first, vec!["personalausweis", "reisepass"], "08:00"),
            (&second, vec!["personalausweis"], "08:12"),
            (&first, vec!["personalausweis"], "08:12"),
            (&second, vec!["personalausweis", "reisepass"], "08:00"),
        ];
        let answers = futures::future::join_all(requests.into_iter().map(|(app, services, hhmm)| {
            let body = json!({"office": "stadtmitte", "services": services, "start": at(hhmm).to_rfc3339(),
                              "citizen": {"name": "Erika Mustermann", "email": email}});
            async move { app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await }
        }))
        .await;
        let created = answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::CREATED)
            .count();
        assert_eq!(created, 1, "round {round}: {answers:#?}");
        for (status, answer) in &answers {
            if *status != StatusCode::CREATED {
                assert_eq!(*status, StatusCode::CONFLICT, "{answer}");
                assert!(
                    ["/problems/overlapping-booking", "/problems/slot-taken"]
                        .contains(&answer["type"].as_str().unwrap()),
                    "{answer}"
                );
            }
        }
        // Free the morning for the next round.
        let booking = answers
            .iter()
            .find(|(status, _)| *status == StatusCode::CREATED)
            .unwrap()
            .1["booking_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let token = first.link_token(&booking, "cancel_booking").await;
        let (status, answer) = first
            .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
}

/// Accepting a proposal books too, so it obeys the rule: a proposal at a
/// time the citizen has booked meanwhile is refused (409), and stays open.
async fn accepting_a_proposal_at_a_booked_time_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue_without_capacity(&app).await;
    let weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day().weekday().num_days_from_monday() as usize];
    let wish = json!({"offices": ["stadtmitte"], "services": ["reisepass"], "windows": {weekday: [8]},
                      "citizen": {"name": "Erika Mustermann", "email": "erika@example.org"}});
    let (status, answer) = app.send(Method::POST, "/api/v1/wishes", None, Some(wish)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let wish_id = answer["wish_id"].as_str().unwrap().to_owned();
    if answer["status"] == "pending_confirmation" {
        // Wishes wait once their registration is confirmed by mail link.
        let token = app.link_token(&wish_id, "confirm_wish").await;
        let (status, answer) = app
            .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    // Two lanes at 08:00: the wish is proposed one, the other is public.
    let capacity = json!({"date": day().to_string(), "from": "08:00", "to": "08:12", "unit_minutes": 12, "lanes": 2});
    let (status, answer) = app
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let made = app.wait_for_events("proposal.made", 1).await;
    let proposal = made[0]["data"]["proposal"].as_str().unwrap().to_owned();
    let body = json!({"office": "stadtmitte", "services": ["personalausweis"], "start": at("08:00").to_rfc3339(),
                      "citizen": {"name": "Erika Mustermann", "email": "erika@example.org"}});
    // Lane 2 is public once the waitlist has seen lane 1 proposed (moments).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, answer) = app
            .send(Method::POST, "/api/v1/bookings", None, Some(body.clone()))
            .await;
        if status == StatusCode::CREATED {
            break;
        }
        assert_eq!(answer["type"], "/problems/slot-taken", "{answer}");
        assert!(
            std::time::Instant::now() < deadline,
            "lane 2 never became public: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let token = app.link_token(&proposal, "accept_proposal").await;
    let (status, problem) = app
        .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["type"], "/problems/overlapping-booking", "{problem}");
    let (status, html) = {
        let response = browser()
            .post(format!("{}/links/{token}", app.base))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    };
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("Sie haben zu dieser Zeit schon einen Termin"), "{html}");
    let (status, state) = app
        .send(Method::GET, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["state"], "open", "the proposal stays open: {state}");
    let events = app.all_events().await;
    assert!(
        !events.iter().any(|event| event["type"] == "proposal.accepted"),
        "nothing accepted"
    );
}

async fn catalogue_without_capacity(app: &TestApp) {
    let office = json!({"name": "Bürgerbüro Stadtmitte", "address": "Sonnenwall 73", "timezone": BERLIN});
    let (status, answer) = app.staff(Method::PUT, "/api/v1/offices/stadtmitte", office).await;
    assert!(status.is_success(), "{answer}");
    for id in ["personalausweis", "reisepass"] {
        let service = json!({"name": id, "duration_minutes": 12});
        let (status, answer) = app.staff(Method::PUT, &format!("/api/v1/services/{id}"), service).await;
        assert!(status.is_success(), "{answer}");
    }
}

macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $test() { super::$test(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $test() { super::$test(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    the_same_form_sent_again_books_once,
    the_same_form_sent_to_another_process_books_once,
    the_same_form_sent_twice_at_once_books_once,
    the_result_page_cannot_be_guessed,
    a_citizens_bookings_may_not_overlap,
    overlapping_requests_of_one_citizen_at_once_book_once,
    accepting_a_proposal_at_a_booked_time_is_refused,
);
