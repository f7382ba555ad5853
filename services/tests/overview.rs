//! "Meine Termine" (issue 16): the form mails an address a link to its open
//! bookings and wishes and answers the same whether or not the address is
//! known; the link lists exactly the citizen's open bookings and wishes with
//! the existing cancel / end link pages; a booking awaiting confirmation can
//! have its confirm-request mail sent again (same confirm link, a new mail,
//! at most three times); an expired link says so, GET changes nothing, and
//! after an erasure the link shows nothing and nothing is mailed. Over HTTP
//! against an app on port 0, on both backends.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Days, NaiveDate, Utc};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use terminagent_eventstore::Backend;

mod support;

use support::audit::{assert_log_keeps_the_invariants, log_of};
use support::{ManualClock, TOKEN, TestApp};

const ERIKA: &str = "erika@example.org";
const MAX: &str = "max@example.org";
const OVERVIEW_SUBJECT: &str = "Ihr Link zu „Meine Termine“";
const CONFIRM_SUBJECT: &str = "Bitte bestätigen Sie Ihren Termin";

/// A day a week or more ahead (no opening hours are set, any day works).
fn day() -> NaiveDate {
    Utc::now().date_naive() + Days::new(8)
}

fn at(time: &str) -> String {
    // The test's office is in UTC, so a local time is the instant's clock.
    format!("{}T{time}:00+00:00", day())
}

/// A client that shows redirects instead of following them.
fn browser() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn office(app: &TestApp) {
    let body = json!({"name": "Bürgerbüro Mitte", "address": "Markt 1", "timezone": "UTC"});
    let (status, _) = app.staff(Method::PUT, "/api/v1/offices/mitte", body).await;
    assert_eq!(status, StatusCode::CREATED);
    let body = json!({"name": "Personalausweis", "duration_minutes": 12});
    app.staff(Method::PUT, "/api/v1/services/ausweis", body).await;
    let body = json!({"date": day().to_string(), "from": "08:00", "to": "12:00", "unit_minutes": 12, "lanes": 1});
    let (status, answer) = app.staff(Method::POST, "/api/v1/offices/mitte/capacity", body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

/// Books `start` for `email`; the booking's id.
async fn book(app: &TestApp, start: &str, email: &str) -> String {
    let body = json!({"office": "mitte", "services": ["ausweis"], "start": at(start),
                      "citizen": {"name": "Erika Mustermann", "email": email}});
    let (status, answer) = app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["booking_id"].as_str().unwrap().to_owned()
}

/// A weekday other than [`day`]'s: wishes for it match no capacity here.
fn other_weekday() -> &'static str {
    use chrono::Datelike;
    let next = (day() + Days::new(1)).weekday().num_days_from_monday() as usize;
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][next]
}

/// Registers a wish for `email`; its id.
async fn wish(app: &TestApp, email: &str, hours: &[u32]) -> String {
    let mut windows = serde_json::Map::new();
    windows.insert(other_weekday().to_owned(), json!(hours));
    let body = json!({"offices": ["mitte"], "services": ["ausweis"], "windows": windows,
                      "citizen": {"name": "Erika Mustermann", "email": email}});
    let (status, answer) = app.send(Method::POST, "/api/v1/wishes", None, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["wish_id"].as_str().unwrap().to_owned()
}

async fn press(app: &TestApp, subject: &str, action: &str) -> Value {
    let token = app.link_token(subject, action).await;
    let (status, answer) = app
        .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{action}: {answer}");
    answer
}

/// Posts the form of `/meine-termine`: (status, Location).
async fn ask_by_form(app: &TestApp, email: &str) -> (StatusCode, String) {
    let response = browser()
        .post(format!("{}/meine-termine", app.base))
        .form(&[("email", email)])
        .send()
        .await
        .unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status(), location)
}

/// The page at `path`: (status, headers, body).
async fn page(app: &TestApp, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let response = browser()
        .get(format!("{}{path}", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

/// The token of the overview link in the newest overview mail to `email`.
async fn overview_token(app: &TestApp, email: &str) -> String {
    app.wait_for_mail(email, OVERVIEW_SUBJECT).await;
    let mails: Vec<String> = app
        .mails_to(email)
        .into_iter()
        .filter(|(subject, _)| subject.starts_with(OVERVIEW_SUBJECT))
        .map(|(_, text)| text)
        .collect();
    let text = mails.last().unwrap();
    let start = text.find("/meine-termine/").expect("the link") + "/meine-termine/".len();
    text[start..start + 43].to_owned()
}

async fn events_of(app: &TestApp, event_type: &str) -> Vec<Value> {
    app.all_events()
        .await
        .into_iter()
        .filter(|event| event["type"] == event_type)
        .collect()
}

async fn head(app: &TestApp) -> usize {
    app.all_events().await.len()
}

async fn known_and_unknown_addresses_look_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    office(&app).await;
    let pending = book(&app, "08:00", ERIKA).await;
    let confirmed = book(&app, "08:24", ERIKA).await;
    press(&app, &confirmed, "confirm_booking").await;
    let cancelled = book(&app, "08:48", ERIKA).await;
    press(&app, &cancelled, "cancel_booking").await;
    let others = book(&app, "09:12", MAX).await;
    // One search per service set at a time: the ended one first.
    let ended = wish(&app, ERIKA, &[9]).await;
    press(&app, &ended, "confirm_wish").await;
    press(&app, &ended, "end_wish").await;
    let waiting = wish(&app, ERIKA, &[8]).await;
    press(&app, &waiting, "confirm_wish").await;
    let max_wish = wish(&app, MAX, &[10]).await;
    // 4 requests, 1 confirmation, 1 cancellation; 3 wish confirm requests,
    // 2 confirmations, 1 end.
    let before = 12;
    app.mails_settled_exactly(before).await;

    // The form: the same redirect for a known and an unknown address.
    let known = ask_by_form(&app, ERIKA).await;
    let unknown = ask_by_form(&app, "nobody@example.org").await;
    assert_eq!(known, (StatusCode::SEE_OTHER, "/meine-termine/gesendet".to_owned()));
    assert_eq!(unknown, known);
    let (status, headers, sent) = page(&app, &known.1).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        sent.contains("Wenn zu dieser Adresse Termine oder Suchaufträge bestehen"),
        "{sent}"
    );
    assert_eq!(headers["cache-control"], "no-store");
    // The API: 202 for both, nothing in the body to tell them apart.
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/overview-requests",
            None,
            Some(json!({"email": "nobody@example.org"})),
        )
        .await;
    assert_eq!((status, body), (StatusCode::ACCEPTED, Value::Null));
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/overview-requests",
            None,
            Some(json!({"email": MAX})),
        )
        .await;
    assert_eq!((status, body), (StatusCode::ACCEPTED, Value::Null));
    let (status, problem) = app
        .send(
            Method::POST,
            "/api/v1/overview-requests",
            None,
            Some(json!({"email": "not an address"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    let token = overview_token(&app, ERIKA).await;
    overview_token(&app, MAX).await;
    app.mails_settled_exactly(before + 2).await;
    let requests = events_of(&app, "citizen.overview_requested").await;
    assert_eq!(
        requests.len(),
        2,
        "one for each known address, none for the unknown one"
    );
    assert!(
        requests.iter().all(|event| event["actor"]["kind"] == "citizen"),
        "{requests:?}"
    );
    assert!(app.mails_to("nobody@example.org").is_empty());

    // The page lists exactly Erika's open bookings and wishes.
    let secret = app.link_secret().await;
    let link = |subject: &str, action: &str| format!("/links/{}", secret.token(subject, action).as_str());
    let positions = head(&app).await;
    let (status, headers, list) = page(&app, &format!("/meine-termine/{token}")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(list.contains(r#"<meta name="robots" content="noindex">"#));
    for (subject, action, listed) in [
        (&pending, "cancel_booking", true),
        (&confirmed, "cancel_booking", true),
        (&cancelled, "cancel_booking", false),
        (&others, "cancel_booking", false),
        (&waiting, "end_wish", true),
        (&ended, "end_wish", false),
        (&max_wish, "end_wish", false),
    ] {
        assert_eq!(
            list.contains(&link(subject, action)),
            listed,
            "{subject} {action}: {list}"
        );
    }
    assert_eq!(
        list.matches("Bestätigungs-Mail erneut senden").count(),
        1,
        "only the pending booking"
    );
    assert!(list.contains(&format!(r#"value="{pending}""#)));
    assert_eq!(head(&app).await, positions, "looking changes nothing");

    // The listed cancel button leads to the link page, whose button cancels.
    let (status, _, link_page) = page(&app, &link(&confirmed, "cancel_booking")).await;
    assert_eq!(status, StatusCode::OK, "{link_page}");
    let response = browser()
        .post(format!("{}{}", app.base, link(&confirmed, "cancel_booking")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, _, list) = page(&app, &format!("/meine-termine/{token}")).await;
    assert!(!list.contains(&link(&confirmed, "cancel_booking")), "cancelled: {list}");
    assert!(list.contains(&link(&pending, "cancel_booking")));

    let (status, views) = app.get("/api/v1/projections").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        views["projections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|view| view["equal"] == true),
        "{views}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn known_and_unknown_addresses_look_alike_on_sqlite() {
    known_and_unknown_addresses_look_alike(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn known_and_unknown_addresses_look_alike_on_postgres() {
    known_and_unknown_addresses_look_alike(Backend::Postgres).await;
}

/// Presses the page's resend button for `booking`: where it sends the browser.
async fn resend(app: &TestApp, token: &str, booking: &str) -> String {
    let response = browser()
        .post(format!("{}/meine-termine/{token}", app.base))
        .form(&[("booking", booking)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn resends_repeat_the_confirm_link_three_times(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    office(&app).await;
    let pending = book(&app, "08:00", ERIKA).await;
    let first = app.wait_for_mail(ERIKA, CONFIRM_SUBJECT).await;
    let confirm_token = app.link_token(&pending, "confirm_booking").await;
    assert!(first.contains(&confirm_token));
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/overview-requests",
            None,
            Some(json!({"email": ERIKA})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = overview_token(&app, ERIKA).await;

    let back = format!("/meine-termine/{token}?hinweis=gesendet");
    for _ in 0..3 {
        assert_eq!(resend(&app, &token, &pending).await, back);
    }
    assert_eq!(
        resend(&app, &token, &pending).await,
        format!("/meine-termine/{token}?hinweis=grenze"),
        "a fourth is refused"
    );
    // Another citizen's or an unknown booking is nothing to resend.
    let others = book(&app, "08:24", MAX).await;
    assert_eq!(
        resend(&app, &token, &others).await,
        format!("/meine-termine/{token}?hinweis=nicht-moeglich")
    );
    // Requests of both, Erika's overview, three resends.
    app.mails_settled_exactly(2 + 1 + 3).await;
    let resent = events_of(&app, "booking.confirmation_resent").await;
    assert_eq!(resent.len(), 3);
    assert_eq!(
        resent
            .iter()
            .map(|event| event["data"]["nth"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let confirms: Vec<String> = app
        .mails_to(ERIKA)
        .into_iter()
        .filter(|(subject, _)| subject.starts_with(CONFIRM_SUBJECT))
        .map(|(_, text)| text)
        .collect();
    assert_eq!(confirms.len(), 4, "the request's mail and three more");
    assert!(
        confirms.iter().all(|text| text.contains(&confirm_token)),
        "the same confirm link"
    );
    let (_, _, list) = page(&app, &format!("/meine-termine/{token}?hinweis=grenze")).await;
    assert!(!list.contains("Bestätigungs-Mail erneut senden"), "{list}");
    assert!(list.contains("schon dreimal"), "{list}");
    // The confirm link still confirms.
    assert_eq!(press(&app, &pending, "confirm_booking").await["outcome"], "done");

    // The audit knows the new events: a sentence in the booking's trace, and
    // the independent checker finds the log clean (citizen actors only).
    let (status, trace) = app.get(&format!("/api/v1/audit/trace/{pending}")).await;
    assert_eq!(status, StatusCode::OK, "{trace}");
    assert_eq!(trace.to_string().matches("erneut angefordert").count(), 3, "{trace}");
    let summary = assert_log_keeps_the_invariants(&log_of(app.db.url()).await);
    assert!(summary.actors_checked > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn resends_repeat_the_confirm_link_three_times_on_sqlite() {
    resends_repeat_the_confirm_link_three_times(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resends_repeat_the_confirm_link_three_times_on_postgres() {
    resends_repeat_the_confirm_link_three_times(Backend::Postgres).await;
}

async fn expired_and_unknown_links_say_so(backend: Backend) {
    let start = Utc::now();
    let clock = ManualClock::at(start);
    let app = TestApp::spawn_with_clock(backend, clock.clone() as Arc<dyn terminagent::application::Clock>).await;
    office(&app).await;
    book(&app, "08:00", ERIKA).await;
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/overview-requests",
            None,
            Some(json!({"email": ERIKA})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = overview_token(&app, ERIKA).await;
    let (status, _, _) = page(&app, &format!("/meine-termine/{token}")).await;
    assert_eq!(status, StatusCode::OK);
    clock.set(start + chrono::Duration::hours(24) + chrono::Duration::seconds(1));
    let (status, headers, expired) = page(&app, &format!("/meine-termine/{token}")).await;
    assert_eq!(status, StatusCode::GONE, "{expired}");
    assert!(expired.contains("abgelaufen"), "{expired}");
    assert_eq!(headers["cache-control"], "no-store");
    let unknown = "A".repeat(43);
    let (status, _, page_text) = page(&app, &format!("/meine-termine/{unknown}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page_text}");
    assert!(page_text.contains("Diesen Link kennen wir nicht"));
    let (status, _, _) = page(&app, "/meine-termine/kurz").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_and_unknown_links_say_so_on_sqlite() {
    expired_and_unknown_links_say_so(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_and_unknown_links_say_so_on_postgres() {
    expired_and_unknown_links_say_so(Backend::Postgres).await;
}

async fn an_erased_citizen_is_shown_and_sent_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    office(&app).await;
    let pending = book(&app, "08:00", ERIKA).await;
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/overview-requests",
            None,
            Some(json!({"email": ERIKA})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = overview_token(&app, ERIKA).await;
    app.mails_settled_exactly(2).await;
    let (status, answer) = app
        .send(
            Method::POST,
            "/api/v1/erasures",
            Some(TOKEN),
            Some(json!({"email": ERIKA})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let (status, _, gone) = page(&app, &format!("/meine-termine/{token}")).await;
    assert_eq!(status, StatusCode::GONE, "{gone}");
    assert!(gone.contains("gelöscht"), "{gone}");
    assert!(!gone.contains(&pending));
    assert_eq!(
        resend(&app, &token, &pending).await,
        format!("/meine-termine/{token}?hinweis=nicht-moeglich")
    );
    assert_eq!(ask_by_form(&app, ERIKA).await.0, StatusCode::SEE_OTHER);
    tokio::time::sleep(Duration::from_millis(500)).await; // the request is recorded apart from the answer
    assert_eq!(events_of(&app, "citizen.overview_requested").await.len(), 1);
    assert!(events_of(&app, "booking.confirmation_resent").await.is_empty());
    app.mails_settled_exactly(2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_citizen_is_shown_and_sent_nothing_on_sqlite() {
    an_erased_citizen_is_shown_and_sent_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_citizen_is_shown_and_sent_nothing_on_postgres() {
    an_erased_citizen_is_shown_and_sent_nothing(Backend::Postgres).await;
}
