//! Issue 16 point 3: one address booked 80–120 units in about a second with
//! invented e-mail addresses. Each finding is a test here: bookings and
//! wishes cost a proof of work (refused without, with a wrong, expired or
//! spent solution; booked with a fresh one; forms without JavaScript wait
//! instead), the rate limit is on by default and reads `X-Forwarded-For`
//! only from trusted proxies, and one client network holds at most N
//! unconfirmed bookings.

mod support;

use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, Utc};
use clap::Parser;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ManualClock, TOKEN, TestApp};
use terminagent::config::{Cli, Command, Config, Role};
use terminagent::http::proof_of_work::{Challenge, Solution, solve};
use terminagent_domain::{LocalTime, OfficeTimeZone};
use terminagent_eventstore::Backend;

const BERLIN: &str = "Europe/Berlin";
/// Small enough to solve quickly in a debug build; the path is the default's.
const TEST_DIFFICULTY: u64 = 2_000;

fn day(ahead: u64) -> NaiveDate {
    Utc::now().date_naive() + Days::new(ahead)
}

fn at(ahead: u64, hhmm: &str) -> DateTime<Utc> {
    let zone = OfficeTimeZone::parse(BERLIN).unwrap();
    zone.instant(day(ahead), LocalTime::parse(hhmm).unwrap()).unwrap()
}

/// The limits `terminagent serve` starts with when no flag is given.
fn default_limits(config: &mut Config) {
    let Command::Serve(args) = Cli::try_parse_from(["terminagent", "serve"]).unwrap().command else {
        unreachable!("serve parses as serve")
    };
    let defaults = Config::from_args(Role::All, args).unwrap();
    config.rate_limit_per_minute = defaults.rate_limit_per_minute;
    config.trusted_proxies = defaults.trusted_proxies;
    config.proof_of_work_difficulty = defaults.proof_of_work_difficulty;
    config.max_pending_bookings_per_network = defaults.max_pending_bookings_per_network;
}

/// One office with four lanes of 12-minute units from 08:00 to 12:00 a week ahead.
async fn catalogue(app: &TestApp) {
    let office = json!({"name": "Bürgerbüro Stadtmitte", "address": "Sonnenwall 73", "timezone": BERLIN});
    let (status, answer) = app.staff(Method::PUT, "/api/v1/offices/stadtmitte", office).await;
    assert!(status.is_success(), "{answer}");
    let service = json!({"name": "Personalausweis", "duration_minutes": 12});
    let (status, answer) = app
        .staff(Method::PUT, "/api/v1/services/personalausweis", service)
        .await;
    assert!(status.is_success(), "{answer}");
    let capacity = json!({"date": day(7).to_string(), "from": "08:00", "to": "12:00", "unit_minutes": 12, "lanes": 4});
    let (status, answer) = app
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

fn booking_body(start: &str, email: &str) -> Value {
    json!({"office": "stadtmitte", "services": ["personalausweis"], "start": at(7, start).to_rfc3339(),
           "citizen": {"name": "Erika Mustermann", "email": email}})
}

fn booking_form(time: &str, email: &str) -> Vec<(&'static str, String)> {
    vec![
        ("services", "personalausweis".to_owned()),
        ("office", "stadtmitte".to_owned()),
        ("date", day(7).to_string()),
        ("time", time.to_owned()),
        ("name", "Erika Mustermann".to_owned()),
        ("email", email.to_owned()),
        ("phone", String::new()),
    ]
}

async fn challenge(app: &TestApp) -> Challenge {
    let response = app
        .client
        .get(format!("{}/api/v1/challenge", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// A fresh challenge of `app`, solved as a client solves it.
async fn solved(app: &TestApp) -> Solution {
    solve(&challenge(app).await).expect("every challenge has its number")
}

/// POST `body` to the bookings API with `proof` (an `X-Proof-Of-Work` header) and `forwarded_for`.
async fn post_booking(
    app: &TestApp,
    body: &Value,
    proof: Option<&str>,
    forwarded_for: Option<&str>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut request = app.client.post(format!("{}/api/v1/bookings", app.base)).json(body);
    if let Some(proof) = proof {
        request = request.header("X-Proof-Of-Work", proof);
    }
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("X-Forwarded-For", forwarded_for);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, response.json().await.unwrap_or(Value::Null), headers)
}

async fn post_form(
    app: &TestApp,
    path: &str,
    form: &[(&str, String)],
    forwarded_for: Option<&str>,
) -> (StatusCode, String) {
    let mut request = app.client.post(format!("{}{path}", app.base)).form(form);
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("X-Forwarded-For", forwarded_for);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// The form booked: its answer leads to the "please confirm" page.
fn assert_requested(status: StatusCode, html: &str) {
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Bitte bestätigen Sie Ihren Termin"), "{html}");
}

fn assert_refused(status: StatusCode, answer: &Value, detail: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["type"], "/problems/proof-of-work", "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains(detail), "{answer}");
}

#[tokio::test]
async fn an_api_booking_needs_a_fresh_unspent_solution() {
    let clock = ManualClock::at(Utc::now());
    let app = TestApp::spawn_configured_with_clock(Backend::Sqlite, clock.clone(), |config| {
        config.proof_of_work_difficulty = TEST_DIFFICULTY;
    })
    .await;
    catalogue(&app).await;
    let body = booking_body("08:00", "erika@example.org");

    let (status, answer, _) = post_booking(&app, &body, None, None).await;
    assert_refused(status, &answer, "no proof of work");

    let right = solved(&app).await;
    let wrong_number = Solution {
        number: right.number + 1,
        ..right.clone()
    };
    let (status, answer, _) = post_booking(&app, &body, Some(&wrong_number.encode()), None).await;
    assert_refused(status, &answer, "does not solve");
    let forged = Solution {
        signature: "00".repeat(32),
        ..right.clone()
    };
    let (status, answer, _) = post_booking(&app, &body, Some(&forged.encode()), None).await;
    assert_refused(status, &answer, "not issued by this server");
    let (status, answer, _) = post_booking(&app, &body, Some("kein base64"), None).await;
    assert_refused(status, &answer, "not base64");

    let (status, answer, _) = post_booking(&app, &body, Some(&right.encode()), None).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let again = booking_body("08:12", "erika@example.org");
    let (status, answer, _) = post_booking(&app, &again, Some(&right.encode()), None).await;
    assert_refused(status, &answer, "already used");

    // A challenge solved now and sent eleven minutes later has expired.
    let late = solved(&app).await;
    clock.set(Utc::now() + chrono::Duration::minutes(11));
    let (status, answer, _) = post_booking(&app, &again, Some(&late.encode()), None).await;
    assert_refused(status, &answer, "expired");
    let bookings: Vec<Value> = app
        .all_events()
        .await
        .into_iter()
        .filter(|event| event["type"] == "booking.requested")
        .collect();
    assert_eq!(bookings.len(), 1, "only the fresh solution booked");
}

#[tokio::test]
async fn a_wish_needs_a_solution_too_and_staff_tokens_need_none() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| {
        config.proof_of_work_difficulty = TEST_DIFFICULTY;
    })
    .await;
    catalogue(&app).await;
    let (status, answer) = app.send(Method::POST, "/api/v1/wishes", None, Some(json!({}))).await;
    assert_refused(status, &answer, "no proof of work");

    // The counter books for a visitor with its token, without computing.
    let body = booking_body("08:00", "besuch@example.org");
    let (status, answer) = app
        .send(Method::POST, "/api/v1/bookings", Some(TOKEN), Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // A token that is not valid exempts nothing: the request is a
    // citizen's like any other (public routes never answer 401).
    let (status, answer) = app
        .send(
            Method::POST,
            "/api/v1/bookings",
            Some("not-a-token-of-this-installation"),
            Some(body),
        )
        .await;
    assert_refused(status, &answer, "no proof of work");
}

#[tokio::test]
async fn the_booking_form_books_with_a_solution_refuses_a_bad_one_and_waits_without() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| {
        // Its wait without JavaScript is one second.
        config.proof_of_work_difficulty = 100_000;
    })
    .await;
    catalogue(&app).await;

    let mut form = booking_form("08:00", "erika@example.org");
    form.push(("altcha", solved(&app).await.encode()));
    let started = Instant::now();
    let (status, html) = post_form(&app, "/termin/buchen", &form, None).await;
    assert_requested(status, &html);
    assert!(started.elapsed() < Duration::from_secs(1), "a solved form is not held");

    // The same solution again: refused in German, with the form to send again.
    let mut reused = booking_form("08:12", "max@example.org");
    reused.push(("altcha", form.last().unwrap().1.clone()));
    let (status, html) = post_form(&app, "/termin/buchen", &reused, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("Sicherheitsprüfung nicht bestanden"), "{html}");
    assert!(html.contains("schon einmal verwendet"), "{html}");
    assert!(
        html.contains(r#"<input type="hidden" name="email" value="max@example.org">"#),
        "nothing typed is lost: {html}"
    );
    assert!(!html.contains(r#"name="altcha""#), "{html}");

    // Without JavaScript: no solution, the form is held for the wait, then books.
    let started = Instant::now();
    let (status, html) = post_form(&app, "/termin/buchen", &booking_form("08:12", "max@example.org"), None).await;
    assert_requested(status, &html);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "held {:?}",
        started.elapsed()
    );

    // The form page loads the script that solves the challenge; the CSP allows it.
    let query = format!("services=personalausweis&office=stadtmitte&date={}&time=08:24", day(7));
    let response = app
        .client
        .get(format!("{}/termin/angaben?{query}", app.base))
        .send()
        .await
        .unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains(r#"<script src="/assets/proof-of-work.js" defer></script>"#)
    );
    let script = app
        .client
        .get(format!("{}/assets/proof-of-work.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.text().await.unwrap().contains("/api/v1/challenge"));
}

#[tokio::test]
async fn forms_held_without_a_solution_are_limited_per_network() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| {
        config.proof_of_work_difficulty = 300_000; // three seconds' wait
    })
    .await;
    catalogue(&app).await;
    let held: Vec<_> = ["08:00", "08:12"]
        .into_iter()
        .enumerate()
        .map(|(n, time)| {
            let (base, client) = (app.base.clone(), app.client.clone());
            let form = booking_form(time, &format!("held{n}@example.org"));
            tokio::spawn(async move {
                client
                    .post(format!("{base}/termin/buchen"))
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    // Both forms must be held before the third comes. This must stay a
    // sleep: the held forms are counted in the app's memory only, with no
    // outside view, and a probe would be held itself and take one of the
    // two places (its request books, or a held form is turned away). Too
    // short a wait cannot let the test pass wrongly: the third form would
    // then be held instead of answered 429, or a form meant to be held
    // turned away; either fails the test.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, html) = post_form(
        &app,
        "/termin/buchen",
        &booking_form("08:24", "third@example.org"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{html}");
    assert!(html.contains("Bitte einen Moment Geduld"), "{html}");
    for form in held {
        assert_eq!(form.await.unwrap(), StatusCode::OK, "held, then booked");
    }
}

#[tokio::test]
async fn the_rate_limit_is_on_by_default() {
    let app = TestApp::spawn_configured(Backend::Sqlite, default_limits).await;
    // Sixty writes a minute pass the limit (and fail for want of a proof of
    // work); the sixty-first is not even looked at.
    for _ in 0..60 {
        let (status, answer, _) = post_booking(&app, &json!({}), None, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    }
    let (status, answer, headers) = post_booking(&app, &json!({}), None, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(answer["type"], "/problems/rate-limited");
    assert!(headers.contains_key("retry-after"));
    // The counter's writes, with a staff token, are not the client's.
    let (status, answer) = app
        .send(Method::POST, "/api/v1/bookings", Some(TOKEN), Some(json!({})))
        .await;
    assert!(
        status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS,
        "{answer}"
    );
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    // No trusted proxy: whatever the header says, it is one client.
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| config.rate_limit_per_minute = Some(1)).await;
    let (status, _, _) = post_booking(&app, &json!({}), None, Some("198.51.100.1")).await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = post_booking(&app, &json!({}), None, Some("203.0.113.2")).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "an untrusted peer's header is ignored"
    );

    // Behind a trusted proxy: each forwarded client has its own allowance.
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| {
        config.rate_limit_per_minute = Some(1);
        config.trusted_proxies = vec![terminagent::http::rate_limit::IpBlock::parse("127.0.0.1").unwrap()];
    })
    .await;
    let (status, _, _) = post_booking(&app, &json!({}), None, Some("198.51.100.1")).await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = post_booking(&app, &json!({}), None, Some("203.0.113.2")).await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS, "another client behind the proxy");
    // A client cannot pass itself off as another by writing the header itself:
    // the proxy appends the address it saw, and that one counts.
    let (status, _, _) = post_booking(&app, &json!({}), None, Some("192.0.2.99, 198.51.100.1")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_network_holds_at_most_n_unconfirmed_bookings() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| {
        config.proof_of_work_difficulty = TEST_DIFFICULTY;
        config.max_pending_bookings_per_network = 2;
        config.trusted_proxies = vec![terminagent::http::rate_limit::IpBlock::parse("127.0.0.0/8").unwrap()];
    })
    .await;
    catalogue(&app).await;
    // Two addresses of one /24, invented mailboxes.
    let mut booked = Vec::new();
    for (n, client) in ["198.51.100.7", "198.51.100.8"].into_iter().enumerate() {
        let body = booking_body("08:00", &format!("bot{n}@example.org"));
        let proof = solved(&app).await.encode();
        let (status, answer, _) = post_booking(&app, &body, Some(&proof), Some(client)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        booked.push(answer["booking_id"].as_str().unwrap().to_owned());
    }
    // The third from the same network: 429, problem and German page alike.
    let proof = solved(&app).await.encode();
    let body = booking_body("08:12", "bot2@example.org");
    let (status, answer, headers) = post_booking(&app, &body, Some(&proof), Some("198.51.100.200")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(answer["type"], "/problems/too-many-pending-bookings", "{answer}");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (1..=2 * 3600).contains(&retry_after),
        "until the first lapses: {retry_after}"
    );
    let mut form = booking_form("08:12", "bot3@example.org");
    form.push(("altcha", solved(&app).await.encode()));
    let (status, html) = post_form(&app, "/termin/buchen", &form, Some("198.51.100.9")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{html}");
    assert!(html.contains("Zu viele unbestätigte Buchungen"), "{html}");

    // Another network is not affected.
    let proof = solved(&app).await.encode();
    let (status, answer, _) = post_booking(&app, &body, Some(&proof), Some("203.0.113.5")).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    // A booking confirmed through its mail link stops counting.
    let confirm = app.link_token(&booked[0], "confirm_booking").await;
    let (status, answer) = app
        .send(Method::POST, &format!("/api/v1/links/{confirm}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    app.wait_for_events("booking.confirmed", 1).await;
    let proof = solved(&app).await.encode();
    let body = booking_body("08:24", "bot4@example.org");
    let (status, answer, _) = post_booking(&app, &body, Some(&proof), Some("198.51.100.7")).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    // Form bookings count as well: the network is full again.
    let mut form = booking_form("08:36", "bot5@example.org");
    form.push(("altcha", solved(&app).await.encode()));
    let (status, html) = post_form(&app, "/termin/buchen", &form, Some("198.51.100.9")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{html}");
}

#[tokio::test]
async fn form_bookings_count_for_their_network() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| {
        config.max_pending_bookings_per_network = 1;
    })
    .await;
    catalogue(&app).await;
    let (status, html) = post_form(&app, "/termin/buchen", &booking_form("08:00", "a@example.org"), None).await;
    assert_requested(status, &html);
    let (status, html) = post_form(&app, "/termin/buchen", &booking_form("08:12", "b@example.org"), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{html}");
    assert!(html.contains("Zu viele unbestätigte Buchungen") && html.contains("Es wurde nichts gebucht."));
}

/// Two API processes on one database (Postgres, as behind a balancer): a
/// solution one process accepted is refused by the other, and a network's
/// pending bookings count in both, so a balancer spreading a bot's requests
/// gains it nothing.
#[tokio::test]
async fn two_api_processes_share_spent_solutions_and_pending_counts() {
    let limits = |config: &mut Config| {
        config.proof_of_work_difficulty = TEST_DIFFICULTY;
        config.max_pending_bookings_per_network = 2;
        config.trusted_proxies = vec![terminagent::http::rate_limit::IpBlock::parse("127.0.0.0/8").unwrap()];
    };
    let one = TestApp::spawn_configured(Backend::Postgres, limits).await;
    let other = TestApp::start_on(one.db.clone(), limits).await;
    catalogue(&one).await;

    // One solution, sent to both: the second process refuses it as used.
    let proof = solved(&one).await.encode();
    let body = booking_body("08:00", "bot0@example.org");
    let (status, answer, _) = post_booking(&one, &body, Some(&proof), Some("198.51.100.7")).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let body = booking_body("08:12", "bot1@example.org");
    let (status, answer, _) = post_booking(&other, &body, Some(&proof), Some("198.51.100.8")).await;
    assert_refused(status, &answer, "already used");

    // The network's second pending booking through the other process...
    let proof = solved(&other).await.encode();
    let (status, answer, _) = post_booking(&other, &body, Some(&proof), Some("198.51.100.8")).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // ...and its third is refused by either, each counting the other's.
    for app in [&one, &other] {
        let proof = solved(app).await.encode();
        let body = booking_body("08:24", "bot2@example.org");
        let (status, answer, _) = post_booking(app, &body, Some(&proof), Some("198.51.100.9")).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    }
}
