//! The staff pages (`/staff`) over HTTP, as a browser uses them: a cookie
//! jar, forms with their CSRF token, redirects looked at one by one. On both
//! backends. Accounts are made through the JSON API; their passwords are set
//! on the test database as `terminagent staff add` sets them.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{Days, Utc};
use regex::Regex;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER, SET_COOKIE};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};
use support::{TOKEN, TestApp};
use terminagent::application::{Executor, SystemClock};
use terminagent_domain::{LocalTime, OfficeTimeZone, StaffId};
use terminagent_eventstore::Backend;

const PASSWORD: &str = "ein-langes-geheimes-Passwort";

/// A browser: its own cookie jar; redirects are not followed, so each
/// answer can be looked at.
struct Browser {
    client: Client,
    base: String,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            client: Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
        }
    }

    async fn get(&self, path: &str) -> Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    /// A page: its status and HTML.
    async fn page(&self, path: &str) -> (StatusCode, String) {
        let response = self.get(path).await;
        page_of(response).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A form posted with the CSRF token of the page `from`.
    async fn submit(&self, from: &str, to: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let token = self.csrf(from).await;
        let mut form: Vec<(&str, &str)> = vec![("csrf", &token)];
        form.extend_from_slice(fields);
        page_of(self.post(to, &form).await).await
    }

    /// The CSRF token the forms of the page at `path` carry.
    async fn csrf(&self, path: &str) -> String {
        let (status, html) = self.page(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        csrf_of(&html)
    }

    async fn sign_in(&self, email: &str, password: &str) -> Response {
        self.post("/staff/login", &[("email", email), ("password", password)])
            .await
    }

    /// Signs in and expects to be let in (to `/staff`).
    async fn signed_in(app: &TestApp, email: &str) -> Browser {
        let browser = Browser::new(app);
        let response = browser.sign_in(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(response.headers()), "/staff");
        browser
    }
}

async fn page_of(response: Response) -> (StatusCode, String) {
    let status = response.status();
    if status != StatusCode::SEE_OTHER {
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/html"), "{status} {content_type}");
    }
    (status, response.text().await.unwrap())
}

fn location(headers: &HeaderMap) -> &str {
    headers.get(LOCATION).map_or("", |value| value.to_str().unwrap())
}

fn csrf_of(html: &str) -> String {
    let pattern = Regex::new(r#"name="csrf" value="([A-Za-z0-9_-]{43})""#).unwrap();
    pattern
        .captures(html)
        .unwrap_or_else(|| panic!("no CSRF token in {html}"))[1]
        .to_owned()
}

/// The one-time password or token a page shows once.
fn shown_secret(html: &str) -> String {
    let pattern = Regex::new(r#"<code class="token">([^<]+)</code>"#).unwrap();
    pattern
        .captures(html)
        .unwrap_or_else(|| panic!("no secret shown in {html}"))[1]
        .to_owned()
}

/// The session cookie's `Set-Cookie` header.
fn session_cookie(headers: &HeaderMap) -> String {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find(|cookie| cookie.starts_with("terminagent_staff="))
        .expect("a session cookie")
}

/// The cookie's value (`terminagent_staff=VALUE`).
fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// A request carrying exactly `cookie`, outside any jar.
async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> Response {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

fn day(ahead: u64) -> chrono::NaiveDate {
    Utc::now().date_naive() + Days::new(ahead)
}

async fn put_office(app: &TestApp, id: &str, body: Value) {
    let (status, answer) = app.staff(Method::PUT, &format!("/api/v1/offices/{id}"), body).await;
    assert!(status.is_success(), "{answer}");
}

async fn offices(app: &TestApp) {
    for (id, name) in [("mitte", "Bürgerbüro Mitte"), ("nord", "Bürgerbüro Nord")] {
        put_office(
            app,
            id,
            json!({"name": name, "address": "Duisburg", "timezone": "Europe/Berlin"}),
        )
        .await;
    }
}

/// An account with `roles` and a password (`one_time`: to be replaced at
/// the first sign-in); answers its staff id.
async fn account(app: &TestApp, email: &str, roles: Value, password: &str, one_time: bool) -> String {
    let (status, entry) = app
        .staff(
            Method::PUT,
            &format!("/api/v1/staff/{email}"),
            json!({"name": "Eva Muster", "roles": roles}),
        )
        .await;
    assert!(status.is_success(), "{entry}");
    let staff_id = entry["staff_id"].as_str().unwrap().to_owned();
    let store = app.db.store(Default::default()).await.unwrap();
    let executor = Executor::new(store.clone(), Arc::new(SystemClock));
    terminagent::application::staff::set_password(&executor, StaffId::parse(&staff_id).unwrap(), password, one_time)
        .await
        .unwrap();
    store.close().await;
    staff_id
}

async fn clerk(app: &TestApp, email: &str, office: &str) -> String {
    account(
        app,
        email,
        json!([{"role": "clerk", "office": office}]),
        PASSWORD,
        false,
    )
    .await
}

async fn lead(app: &TestApp, email: &str, office: &str) -> String {
    account(app, email, json!([{"role": "lead", "office": office}]), PASSWORD, false).await
}

async fn admin(app: &TestApp, email: &str) -> String {
    account(app, email, json!([{"role": "admin"}]), PASSWORD, false).await
}

async fn event_count(app: &TestApp) -> usize {
    app.all_events().await.len()
}

fn of_type<'a>(events: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    events.iter().filter(|event| event["type"] == event_type).collect()
}

// ------------------------------------------------------------------ tests

async fn sign_in_lets_the_right_password_in_and_tells_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    offices(&app).await;
    lead(&app, "lea@stadt.example", "mitte").await;
    let browser = Browser::new(&app);

    // No session: to the sign-in page, and back afterwards.
    let response = browser.get("/staff/mitte/tag?datum=2030-01-02").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(response.headers()),
        "/staff/login?weiter=/staff/mitte/tag%3Fdatum%3D2030-01-02"
    );
    let (status, html) = browser
        .page("/staff/login?weiter=/staff/mitte/tag%3Fdatum%3D2030-01-02")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"lang="de""#) && html.contains("Anmeldung für Mitarbeitende"),
        "{html}"
    );
    assert!(
        html.contains(r#"name="weiter" value="/staff/mitte/tag?datum=2030-01-02""#),
        "{html}"
    );

    // Nothing typed: the fields say so.
    let (status, html) = page_of(browser.sign_in("", "").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("Bitte geben Sie Ihre E-Mail-Adresse an.") && html.contains("Bitte geben Sie Ihr Passwort an.")
    );

    // A wrong password and an unknown address get the same answer.
    let mut answers = Vec::new();
    for (email, password) in [
        ("lea@stadt.example", "falsches-Passwort-1234"),
        ("niemand@stadt.example", PASSWORD),
        ("kein-adresse", PASSWORD),
    ] {
        let response = browser.sign_in(email, password).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{email}");
        assert!(response.headers().get(SET_COOKIE).is_none());
        let (_, html) = page_of(response).await;
        assert!(
            html.contains("Die E-Mail-Adresse oder das Passwort stimmt nicht."),
            "{html}"
        );
        answers.push(html.replace(email, "EMAIL"));
    }
    assert_eq!(
        answers[0], answers[1],
        "same page for a wrong password and an unknown address"
    );
    assert_eq!(browser.get("/staff").await.status(), StatusCode::SEE_OTHER);

    // The right one opens a session: a cookie only our pages get, never script.
    let response = browser
        .post(
            "/staff/login",
            &[
                ("email", "LEA@stadt.example"),
                ("password", PASSWORD),
                ("weiter", "/staff/mitte/tag?datum=2030-01-02"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(response.headers()), "/staff/mitte/tag?datum=2030-01-02");
    let cookie = session_cookie(response.headers());
    let value = cookie_value(&cookie);
    assert_eq!(value.len(), "terminagent_staff=".len() + 43, "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/staff", "Max-Age=28800"] {
        assert!(cookie.split("; ").any(|part| part == flag), "{flag} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");

    // Only the cookie's hash is stored.
    let store = app.db.store(Default::default()).await.unwrap();
    let token = value.trim_start_matches("terminagent_staff=");
    let credentials = store.staff_credentials();
    assert!(credentials.session(token, Utc::now()).await.unwrap().is_none());
    let hash = terminagent::application::staff::hash_token(token);
    assert!(credentials.session(hash.as_str(), Utc::now()).await.unwrap().is_some());
    store.close().await;

    // Never cached, never framed, no scripts; the Referer stays on our origin,
    // so forms send a real Origin (browsers send `null` from no-referrer pages).
    let response = browser.get("/staff").await;
    let headers = response.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "same-origin");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    let (status, html) = page_of(response).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Abmelden") && html.contains("Eva Muster"), "{html}");
    assert!(
        html.contains("Leitung, Bürgerbüro Mitte"),
        "the roles in the header: {html}"
    );
    assert!(html.contains(r#"href="/staff/mitte/tag""#));
    assert!(html.contains(r#"href="/staff/mitte/kapazitaet""#));
    assert!(!html.contains("/staff/nord/"), "only the lead's office: {html}");
    assert!(!html.contains("/staff/admin/"), "{html}");
    // A member already signed in goes on from the sign-in page.
    let response = browser.get("/staff/login").await;
    assert_eq!(location(response.headers()), "/staff");
    // Foreign return addresses are not followed.
    let response = Browser::new(&app)
        .post(
            "/staff/login",
            &[
                ("email", "lea@stadt.example"),
                ("password", PASSWORD),
                ("weiter", "//evil.example/staff"),
            ],
        )
        .await;
    assert_eq!(location(response.headers()), "/staff");
}

async fn the_cookie_is_secure_under_an_https_public_url(backend: Backend) {
    let app = TestApp::spawn_configured(backend, |config| {
        config.public_url = Some(terminagent::config::PublicUrl::parse("https://termine.stadt.example").unwrap());
    })
    .await;
    offices(&app).await;
    lead(&app, "lea@stadt.example", "mitte").await;
    let response = Browser::new(&app).sign_in("lea@stadt.example", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(response.headers());
    assert!(cookie.split("; ").any(|part| part == "Secure"), "{cookie}");
    // A form from the public URL's origin is ours too.
    let response = Client::new()
        .post(format!("{}/staff/login", app.base))
        .header("origin", "https://termine.stadt.example")
        .form(&[("email", "lea@stadt.example"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), StatusCode::FORBIDDEN);
}

async fn a_one_time_password_must_be_replaced_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    offices(&app).await;
    let one_time = "abcdefghjkmnpqrstuvw";
    account(
        &app,
        "neu@stadt.example",
        json!([{"role": "clerk", "office": "mitte"}]),
        one_time,
        true,
    )
    .await;
    let browser = Browser::new(&app);
    let response = browser.sign_in("neu@stadt.example", one_time).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(response.headers()), "/staff/passwort");
    let first_cookie = cookie_value(&session_cookie(response.headers()));

    // Nothing else until the password is replaced.
    for path in ["/staff", "/staff/mitte/tag"] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(response.headers()), "/staff/passwort", "{path}");
    }
    let (status, html) = browser.page("/staff/passwort").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Bitte wählen Sie Ihr eigenes Passwort"), "{html}");
    assert!(
        !html.contains(r#"name="current""#),
        "a one-time sign-in is not asked for it again"
    );

    for (new, repeat, message) in [
        ("kurz", "kurz", "mindestens 12 Zeichen"),
        (
            "ein-neues-Passwort",
            "ein-anderes-Passwort",
            "Die Wiederholung stimmt nicht",
        ),
        (one_time, one_time, "anderes als das bisherige"),
    ] {
        let (status, html) = browser
            .submit(
                "/staff/passwort",
                "/staff/passwort",
                &[("new", new), ("repeat", repeat)],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{new}");
        assert!(html.contains(message), "{message}: {html}");
    }
    let token = browser.csrf("/staff/passwort").await;
    let response = browser
        .post(
            "/staff/passwort",
            &[("csrf", &token), ("new", PASSWORD), ("repeat", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(response.headers()), "/staff?passwort=neu");
    let second_cookie = cookie_value(&session_cookie(response.headers()));
    assert_ne!(first_cookie, second_cookie, "a fresh session");
    let (status, html) = browser.page("/staff?passwort=neu").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Ihr neues Passwort ist gespeichert."));
    // The session of the one-time password is over.
    let response = get_with_cookie(&app, "/staff", &first_cookie).await;
    assert_eq!(location(response.headers()), "/staff/login");

    let again = Browser::new(&app);
    assert_eq!(
        again.sign_in("neu@stadt.example", one_time).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = again.sign_in("neu@stadt.example", PASSWORD).await;
    assert_eq!(location(response.headers()), "/staff");
}

async fn forms_without_their_token_or_from_elsewhere_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    offices(&app).await;
    let lead_id = lead(&app, "lea@stadt.example", "mitte").await;
    let browser = Browser::signed_in(&app, "lea@stadt.example").await;
    let token = browser.csrf("/staff/mitte/geraete").await;
    let head = event_count(&app).await;

    let device = [("art", "kiosk"), ("name", "Eingang links")];
    let wrong = "A".repeat(43);
    for (label, csrf) in [("no token", None), ("a wrong token", Some(wrong.as_str()))] {
        let mut form: Vec<(&str, &str)> = device.to_vec();
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        let (status, html) = page_of(browser.post("/staff/mitte/geraete", &form).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{label}");
        assert!(html.contains("Sicherheitsprüfung fehlgeschlagen"), "{label}: {html}");
        assert_eq!(event_count(&app).await, head, "{label} changed nothing");
    }
    // The right token, but sent from another site.
    let mut form: Vec<(&str, &str)> = device.to_vec();
    form.push(("csrf", &token));
    let response = browser
        .client
        .post(format!("{}/staff/mitte/geraete", app.base))
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("Anfrage von fremder Seite"));
    assert_eq!(event_count(&app).await, head, "a foreign origin changed nothing");
    // Logging out needs the token too.
    let response = browser.post("/staff/logout", &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(browser.get("/staff").await.status(), StatusCode::OK, "still signed in");
    // Sign-in from another site.
    let response = Client::new()
        .post(format!("{}/staff/login", app.base))
        .header("origin", "https://evil.example")
        .form(&[("email", "lea@stadt.example"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Our own origin and the token: done, as the lead.
    let origin = app.base.clone();
    let response = browser
        .client
        .post(format!("{}/staff/mitte/geraete", app.base))
        .header("origin", origin)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let events = app.all_events().await;
    assert_eq!(events.len(), head + 1);
    let registered = of_type(&events, "device.registered");
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0]["actor"], json!({"kind": "staff", "id": lead_id}));
}

async fn each_role_reaches_only_its_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    offices(&app).await;
    clerk(&app, "carl@stadt.example", "mitte").await;
    lead(&app, "lea@stadt.example", "mitte").await;
    admin(&app, "ada@stadt.example").await;
    account(&app, "udo@stadt.example", json!([{"role": "auditor"}]), PASSWORD, false).await;

    let clerk = Browser::signed_in(&app, "carl@stadt.example").await;
    let (_, start) = clerk.page("/staff").await;
    assert!(start.contains(r#"href="/staff/mitte/tag""#), "{start}");
    for absent in [
        "kapazitaet",
        "oeffnungszeiten",
        "geraete",
        "/staff/admin/",
        "/staff/nord/",
    ] {
        assert!(!start.contains(absent), "a clerk's start page offers no {absent}");
    }
    assert_eq!(clerk.page("/staff/mitte/tag").await.0, StatusCode::OK);
    for path in [
        "/staff/nord/tag",
        "/staff/gibt-es-nicht/tag",
        "/staff/mitte/kapazitaet",
        "/staff/mitte/oeffnungszeiten",
        "/staff/mitte/geraete",
        "/staff/admin/personal",
        "/staff/admin/standorte",
        "/staff/admin/dienstleistungen",
    ] {
        let (status, html) = clerk.page(path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "clerk at {path}");
        assert!(html.contains("Keine Berechtigung"), "{path}: {html}");
    }
    // A form of the lead's, posted by the clerk with a valid token of theirs.
    let head = event_count(&app).await;
    let (status, _) = clerk
        .submit(
            "/staff/mitte/tag",
            "/staff/mitte/kapazitaet",
            &[
                ("tage", "mon"),
                ("von", "08:00"),
                ("bis", "09:00"),
                ("schalter", "1"),
                ("minuten", "12"),
                ("wochen", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(event_count(&app).await, head);

    let lead = Browser::signed_in(&app, "lea@stadt.example").await;
    for path in [
        "/staff/mitte/tag",
        "/staff/mitte/kapazitaet",
        "/staff/mitte/oeffnungszeiten",
        "/staff/mitte/geraete",
    ] {
        assert_eq!(lead.page(path).await.0, StatusCode::OK, "lead at {path}");
    }
    for path in ["/staff/nord/tag", "/staff/nord/kapazitaet", "/staff/admin/personal"] {
        assert_eq!(lead.page(path).await.0, StatusCode::FORBIDDEN, "lead at {path}");
    }

    let admin = Browser::signed_in(&app, "ada@stadt.example").await;
    let (_, start) = admin.page("/staff").await;
    for link in [
        "/staff/admin/personal",
        "/staff/admin/standorte",
        "/staff/admin/dienstleistungen",
        "/staff/nord/geraete",
    ] {
        assert!(start.contains(link), "admin start page links {link}");
    }
    for path in ["/staff/nord/tag", "/staff/admin/personal", "/staff/admin/standorte"] {
        assert_eq!(admin.page(path).await.0, StatusCode::OK, "admin at {path}");
    }
    let (status, html) = admin.page("/staff/gibt-es-nicht/tag").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");

    let auditor = Browser::signed_in(&app, "udo@stadt.example").await;
    let (_, start) = auditor.page("/staff").await;
    assert!(
        start.contains("Prüfung und Statistik") && start.contains("/api/v1/events"),
        "{start}"
    );
    assert_eq!(auditor.page("/staff/mitte/tag").await.0, StatusCode::FORBIDDEN);
}

async fn a_disabled_account_is_out_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    offices(&app).await;
    clerk(&app, "carl@stadt.example", "mitte").await;
    clerk(&app, "cora@stadt.example", "mitte").await;
    admin(&app, "ada@stadt.example").await;

    // Disabled through the JSON API.
    let carl = Browser::signed_in(&app, "carl@stadt.example").await;
    assert_eq!(carl.page("/staff/mitte/tag").await.0, StatusCode::OK);
    let (status, _) = app
        .send(Method::DELETE, "/api/v1/staff/carl@stadt.example", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = carl.get("/staff/mitte/tag").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(response.headers()).starts_with("/staff/login"));
    assert_eq!(
        Browser::new(&app)
            .sign_in("carl@stadt.example", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "a disabled account signs in like an unknown one"
    );

    // Disabled on the admin's page.
    let cora = Browser::signed_in(&app, "cora@stadt.example").await;
    let admin = Browser::signed_in(&app, "ada@stadt.example").await;
    let (status, html) = admin
        .submit(
            "/staff/admin/personal",
            "/staff/admin/personal/deaktivieren",
            &[("email", "cora@stadt.example")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("ist deaktiviert"), "{html}");
    assert_eq!(cora.get("/staff").await.status(), StatusCode::SEE_OTHER);
    let (_, staff) = app.get("/api/v1/staff").await;
    let cora_entry = staff
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["email"] == "cora@stadt.example")
        .unwrap()
        .clone();
    assert_eq!(cora_entry["enabled"], false);
    // Not oneself.
    let (status, html) = admin
        .submit(
            "/staff/admin/personal",
            "/staff/admin/personal/deaktivieren",
            &[("email", "ada@stadt.example")],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert_eq!(admin.get("/staff").await.status(), StatusCode::OK);
}

async fn signing_out_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    offices(&app).await;
    clerk(&app, "carl@stadt.example", "mitte").await;
    let browser = Browser::new(&app);
    let response = browser.sign_in("carl@stadt.example", PASSWORD).await;
    let cookie = cookie_value(&session_cookie(response.headers()));
    let token = browser.csrf("/staff").await;
    let response = browser.post("/staff/logout", &[("csrf", &token)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(response.headers()), "/staff/login?abgemeldet=1");
    let cleared = session_cookie(response.headers());
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (status, html) = browser.page("/staff/login?abgemeldet=1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Sie sind abgemeldet."));
    // The old cookie, kept by someone, opens nothing: the session is gone.
    let response = get_with_cookie(&app, "/staff", &cookie).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(response.headers()), "/staff/login");
}

async fn ten_wrong_passwords_lock_the_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    offices(&app).await;
    clerk(&app, "carl@stadt.example", "mitte").await;
    clerk(&app, "cora@stadt.example", "mitte").await;
    let browser = Browser::new(&app);
    for attempt in 0..10 {
        let response = browser.sign_in("carl@stadt.example", "falsch-falsch-falsch").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // Now not even the right password gets in.
    let response = browser.sign_in("carl@stadt.example", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 14 * 60 && retry_after <= 15 * 60, "{retry_after}");
    assert!(response.headers().get(SET_COOKIE).is_none());
    let (_, html) = page_of(response).await;
    assert!(
        html.contains("Anmeldung vorübergehend gesperrt") && html.contains("etwa 15 Minuten"),
        "{html}"
    );
    // The address is throttled as well: another account from here waits too.
    let response = browser.sign_in("cora@stadt.example", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(page_of(response).await.1.contains("Von Ihrem Anschluss"));
}

/// One confirmed booking of Erika at Mitte, tomorrow 09:00 (services
/// `reisepass`): its id and waiting number.
async fn confirmed_booking(app: &TestApp) -> (String, String) {
    put_office(
        app,
        "mitte",
        json!({"name": "Bürgerbüro Mitte", "address": "Duisburg", "timezone": "Europe/Berlin"}),
    )
    .await;
    let (status, answer) = app
        .staff(
            Method::PUT,
            "/api/v1/services/reisepass",
            json!({"name": "Reisepass", "duration_minutes": 12}),
        )
        .await;
    assert!(status.is_success(), "{answer}");
    let date = day(1).to_string();
    let capacity = json!({"date": date, "from": "09:00", "to": "10:00", "unit_minutes": 12, "lanes": 1});
    let (status, answer) = app
        .staff(Method::POST, "/api/v1/offices/mitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let zone = OfficeTimeZone::parse("Europe/Berlin").unwrap();
    let start = zone.instant(day(1), LocalTime::parse("09:00").unwrap()).unwrap();
    let request = json!({"office": "mitte", "services": ["reisepass"], "start": start.to_rfc3339(),
        "citizen": {"name": "Erika Mustermann", "email": "erika@example.org"}});
    // The waitlist may keep a fresh unit a moment: ask until it is free.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let booking = loop {
        let (status, booking) = app
            .send(Method::POST, "/api/v1/bookings", None, Some(request.clone()))
            .await;
        if status == StatusCode::CREATED {
            break booking;
        }
        assert!(std::time::Instant::now() < deadline, "{status} {booking}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let id = booking["booking_id"].as_str().unwrap().to_owned();
    let confirm = app.link_token(&id, "confirm_booking").await;
    let (status, answer) = app
        .send(Method::POST, &format!("/api/v1/links/{confirm}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, list) = app.get(&format!("/api/v1/offices/mitte/days/{date}")).await;
    let number = list["bookings"][0]["number"].as_str().unwrap().to_owned();
    (id, number)
}

async fn a_clerk_reads_the_day_list_and_cancels_for_the_citizen(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (booking, number) = confirmed_booking(&app).await;
    let clerk_id = clerk(&app, "carl@stadt.example", "mitte").await;
    let browser = Browser::signed_in(&app, "carl@stadt.example").await;
    let date = day(1).to_string();
    let reads = |events: &[Value]| of_type(events, "personal_data.read").len();
    let before = reads(&app.all_events().await);

    let list = format!("/staff/mitte/tag?datum={date}");
    let (status, html) = browser.page(&list).await;
    assert_eq!(status, StatusCode::OK);
    for shown in ["Erika Mustermann", "Reisepass", "Bestätigt", "09:00–09:12", &number] {
        assert!(html.contains(shown), "{shown}: {html}");
    }
    assert!(html.contains(&format!("/staff/mitte/absagen/{booking}")));
    assert!(html.contains(&format!("/staff/mitte/tag?datum={}", day(2))), "next day");
    assert!(
        html.contains(&format!("/staff/mitte/tag?datum={}", day(0))),
        "previous day"
    );
    let events = app.all_events().await;
    assert_eq!(reads(&events), before + 1, "the read of names is recorded");
    let read = of_type(&events, "personal_data.read").pop().unwrap().clone();
    assert_eq!(read["actor"], json!({"kind": "staff", "id": clerk_id}));
    assert_eq!(read["data"]["names"], 1);
    assert_eq!(read["data"]["date"], date);

    // By waiting number: only that booking; another number reads no name.
    let (status, html) = browser.page(&format!("{list}&nummer={number}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Erika Mustermann"));
    let (status, html) = browser.page(&format!("{list}&nummer=999")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Erika Mustermann") && html.contains("Keine Buchung mit dieser Wartenummer"));
    assert_eq!(
        reads(&app.all_events().await),
        before + 2,
        "nothing read, nothing recorded"
    );
    let (status, html) = browser.page(&format!("{list}&nummer=12345")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Eine Wartenummer besteht aus 1 bis 4 Ziffern"));
    // By check-in code, as typed from the visitor's paper (case, dashes) or
    // scanned; an unknown code finds nothing.
    let code = app.link_secret().await.checkin_code(&booking);
    let typed = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
    let (status, html) = browser.page(&format!("{list}&nummer={typed}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Erika Mustermann"), "{typed}: {html}");
    let (status, html) = browser.page(&format!("{list}&nummer=ZZZZZZZZ")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Erika Mustermann") && html.contains("Keine Buchung mit dieser Wartenummer"));
    let (status, html) = browser.page("/staff/mitte/tag?datum=2026-02-30").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Dieses Datum gibt es nicht"));
    // Today by default.
    let (status, _) = browser.page("/staff/mitte/tag").await;
    assert_eq!(status, StatusCode::OK);

    // Cancel: a confirm form with a reason.
    let cancel = format!("/staff/mitte/absagen/{booking}");
    let (status, html) = browser.page(&cancel).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Termin absagen") && html.contains("Grund der Absage") && html.contains(&number));
    let (status, html) = browser.submit(&cancel, &cancel, &[("grund", "  ")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Bitte geben Sie den Grund der Absage an."));
    let reason = "Die Sachbearbeiterin ist erkrankt";
    let (status, html) = browser.submit(&cancel, &cancel, &[("grund", reason)]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Der Termin ist abgesagt") && html.contains(reason),
        "{html}"
    );
    let events = app.all_events().await;
    let cancelled = of_type(&events, "booking.cancelled");
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["data"]["booking"], booking);
    assert_eq!(cancelled[0]["data"]["reason"], reason);
    assert_eq!(cancelled[0]["actor"], json!({"kind": "staff", "id": clerk_id}));
    let mail = app
        .wait_for_mail("erika@example.org", "Ihr Termin wurde abgesagt")
        .await;
    assert!(mail.contains(reason), "the mail gives the reason: {mail}");

    // Once is enough.
    let (status, html) = browser.page(&cancel).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("bereits abgesagt"));
    let (_, html) = browser.page(&list).await;
    assert!(html.contains("Abgesagt") && !html.contains(&cancel));
    // Another office's clerk cannot reach it by changing the office in the path.
    put_office(
        &app,
        "nord",
        json!({"name": "Bürgerbüro Nord", "address": "Duisburg", "timezone": "Europe/Berlin"}),
    )
    .await;
    clerk(&app, "nora@stadt.example", "nord").await;
    let nora = Browser::signed_in(&app, "nora@stadt.example").await;
    assert_eq!(
        nora.page(&format!("/staff/nord/absagen/{booking}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(nora.page(&cancel).await.0, StatusCode::FORBIDDEN);
}

async fn a_lead_publishes_a_week_and_edits_the_hours(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put_office(
        &app,
        "mitte",
        json!({"name": "Bürgerbüro Mitte", "address": "Sonnenwall 73", "timezone": "Europe/Berlin",
               "opening_hours": {"mon": [["08:00", "12:00"]], "tue": [["08:00", "12:00"]], "wed": [["08:00", "12:00"]],
                                 "thu": [["08:00", "12:00"]], "fri": [["08:00", "12:00"]]},
               "holidays": "DE-NW"}),
    )
    .await;
    let lead_id = lead(&app, "lea@stadt.example", "mitte").await;
    let browser = Browser::signed_in(&app, "lea@stadt.example").await;

    let (status, html) = browser.page("/staff/mitte/kapazitaet").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"value="08:00""#) && html.contains(r#"value="12:00""#),
        "proposed from the hours"
    );
    assert!(
        html.contains(r#"id="tag-mon" name="tage" value="mon" checked"#),
        "{html}"
    );
    assert!(!html.contains(r#"value="sat" checked"#));

    let (status, html) = browser
        .submit(
            "/staff/mitte/kapazitaet",
            "/staff/mitte/kapazitaet",
            &[
                ("von", "12:00"),
                ("bis", "08:00"),
                ("schalter", "0"),
                ("minuten", "12"),
                ("wochen", "13"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for message in [
        "mindestens einen Wochentag",
        "Das Ende muss nach dem Beginn liegen.",
        "1 bis 64 Schalter",
        "1 bis 12 Wochen",
    ] {
        assert!(html.contains(message), "{message}");
    }

    let week: Vec<(&str, &str)> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| ("tage", *day))
        .chain([
            ("von", "08:00"),
            ("bis", "12:00"),
            ("schalter", "2"),
            ("minuten", "15"),
            ("wochen", "2"),
        ])
        .collect();
    let head = event_count(&app).await;
    let (status, html) = browser
        .submit("/staff/mitte/kapazitaet", "/staff/mitte/kapazitaet", &week)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    assert!(html.contains("Übersprungen") && html.contains("Samstag") && html.contains("geschlossen"));
    let events = app.all_events().await;
    let published = of_type(&events[head..], "capacity.published");
    // 10 weekdays, less public holidays in NRW; weekends refused.
    assert!((7..=10).contains(&published.len()), "{}", published.len());
    assert!(
        published
            .iter()
            .all(|event| event["actor"] == json!({"kind": "staff", "id": lead_id}))
    );
    assert!(published.iter().all(|event| event["data"]["lanes"] == 2));
    assert_eq!(
        html.matches("32 Zeiteinheiten").count(),
        published.len(),
        "2 lanes × 16 units of 15 minutes a day"
    );
    // The same again: every day overlaps or is closed, nothing published.
    let (status, html) = browser
        .submit("/staff/mitte/kapazitaet", "/staff/mitte/kapazitaet", &week)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("Es wurde nichts veröffentlicht") && html.contains("Überschneidet sich"));

    // Opening hours, holidays, closed days.
    let (status, html) = browser.page("/staff/mitte/oeffnungszeiten").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"<option value="DE-NW" selected>Nordrhein-Westfalen</option>"#),
        "{html}"
    );
    assert!(html.contains(r#"name="mon-von-1" value="08:00""#));
    let head = event_count(&app).await;
    let (status, html) = browser
        .submit(
            "/staff/mitte/oeffnungszeiten",
            "/staff/mitte/oeffnungszeiten",
            &[
                ("mon-von-1", "08:00"),
                ("mon-bis-1", "12:00"),
                ("mon-von-2", "11:00"),
                ("mon-bis-2", "13:00"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Montag: Die Zeiträume überschneiden sich"), "{html}");
    let (status, html) = browser
        .submit(
            "/staff/mitte/oeffnungszeiten",
            "/staff/mitte/oeffnungszeiten",
            &[
                ("mon-von-1", "08:00"),
                ("mon-bis-1", "12:00"),
                ("schliesstage", "24.12.2030\nmorgen"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Zeile 2: „morgen“ ist kein Datum"), "{html}");
    assert_eq!(event_count(&app).await, head, "refused forms changed nothing");
    let (status, html) = browser
        .submit(
            "/staff/mitte/oeffnungszeiten",
            "/staff/mitte/oeffnungszeiten",
            &[
                ("mon-von-1", "08:00"),
                ("mon-bis-1", "12:00"),
                ("mon-von-2", "14:00"),
                ("mon-bis-2", "18:00"),
                ("thu-von-1", "08:00"),
                ("thu-bis-1", "18:00"),
                ("sat-von-1", "09:00"),
                ("sat-bis-1", "12:00"),
                ("feiertage", "DE-BY"),
                ("schliesstage", "24.12.2030\n2030-12-31\n"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("sind gespeichert"));
    let (_, offices) = app.send(Method::GET, "/api/v1/offices", None, None).await;
    let mitte = &offices[0];
    assert_eq!(mitte["name"], "Bürgerbüro Mitte", "name and address stay");
    assert_eq!(mitte["address"], "Sonnenwall 73");
    assert_eq!(
        mitte["opening_hours"],
        json!({"mon": [["08:00", "12:00"], ["14:00", "18:00"]], "thu": [["08:00", "18:00"]], "sat": [["09:00", "12:00"]]})
    );
    assert_eq!(mitte["holidays"], "DE-BY");
    assert_eq!(mitte["closed_days"], json!(["2030-12-24", "2030-12-31"]));
    let events = app.all_events().await;
    let changed = of_type(&events[head..], "office.details_changed");
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["actor"], json!({"kind": "staff", "id": lead_id}));
    // Shown as saved, closed days as Germans write them.
    assert!(html.contains("24.12.2030\n31.12.2030"), "{html}");
    assert!(html.contains(r#"<option value="DE-BY" selected>Bayern</option>"#));
}

/// A lead closes part of a day from the page: refused forms change nothing,
/// the closure cancels the booking on it and the citizen reads the reason.
async fn a_lead_closes_part_of_a_day(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (booking, _) = confirmed_booking(&app).await;
    let lead_id = lead(&app, "lea@stadt.example", "mitte").await;
    clerk(&app, "carl@stadt.example", "mitte").await;
    let clerk_browser = Browser::signed_in(&app, "carl@stadt.example").await;
    let (status, _) = clerk_browser.page("/staff/mitte/schliessen").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a clerk does not close the office");

    let browser = Browser::signed_in(&app, "lea@stadt.example").await;
    let (status, html) = browser.page("/staff").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("/staff/mitte/schliessen"), "the start page offers it");
    let (status, html) = browser.page("/staff/mitte/schliessen").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"name="grund""#));
    let date = day(1).to_string();
    let head = event_count(&app).await;
    for (form, message) in [
        (
            vec![("datum", "morgen"), ("grund", "Krank")],
            "Bitte geben Sie das Datum an",
        ),
        (
            vec![
                ("datum", date.as_str()),
                ("von", "10:00"),
                ("bis", "09:00"),
                ("grund", "Krank"),
            ],
            "nach „Von“",
        ),
        (
            vec![("datum", date.as_str()), ("von", "09:00"), ("grund", "Krank")],
            "auch das Ende",
        ),
        (
            vec![("datum", date.as_str()), ("grund", "")],
            "Bitte nennen Sie den Grund",
        ),
    ] {
        let (status, html) = browser
            .submit("/staff/mitte/schliessen", "/staff/mitte/schliessen", &form)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form:?}");
        assert!(html.contains(message), "{message}: {html}");
    }
    assert_eq!(event_count(&app).await, head, "refused forms changed nothing");

    let (status, html) = browser
        .submit(
            "/staff/mitte/schliessen",
            "/staff/mitte/schliessen",
            &[
                ("datum", date.as_str()),
                ("von", "09:00"),
                ("bis", "09:30"),
                (
                    "grund",
                    "Wegen Krankheit bleibt das Bürgerbüro am Vormittag geschlossen.",
                ),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    assert!(
        html.contains("1 Termin(e) wurden abgesagt") && html.contains("3 Zeitfenster"),
        "{html}"
    );
    let events = app.all_events().await;
    let cancelled = of_type(&events[head..], "booking.cancelled");
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["data"]["booking"], booking.as_str());
    assert_eq!(cancelled[0]["actor"], json!({"kind": "staff", "id": lead_id}));
    let mail = app
        .wait_for_mail("erika@example.org", "Ihr Termin wurde abgesagt")
        .await;
    assert!(mail.contains("Wegen Krankheit"), "{mail}");
}

async fn a_lead_registers_and_revokes_devices(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    offices(&app).await;
    lead(&app, "lea@stadt.example", "mitte").await;
    let browser = Browser::signed_in(&app, "lea@stadt.example").await;
    let (status, html) = browser
        .submit(
            "/staff/mitte/geraete",
            "/staff/mitte/geraete",
            &[("art", "kiosk"), ("name", "")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Bitte geben Sie dem Gerät einen Namen"));

    let mut tokens = Vec::new();
    for (kind, name) in [("kiosk", "Eingang links"), ("display", "Wartebereich")] {
        let (status, html) = browser
            .submit(
                "/staff/mitte/geraete",
                "/staff/mitte/geraete",
                &[("art", kind), ("name", name)],
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{html}");
        assert!(html.contains(&format!("Das Gerät „{name}“")), "{html}");
        let token = shown_secret(&html);
        assert_eq!(token.len(), 43);
        tokens.push(token);
    }
    // The list shows both, and never a token again.
    let (_, html) = browser.page("/staff/mitte/geraete").await;
    assert!(html.contains("Eingang links") && html.contains("Wartebereich") && html.contains("Aufrufanzeige"));
    assert!(!html.contains(&tokens[0]) && !html.contains(&tokens[1]));

    // The kiosk's token is a real one (known, but not a lead's): 403, not 401.
    let (status, _) = app
        .send(Method::GET, "/api/v1/offices/mitte/devices", Some(&tokens[0]), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, devices) = app.get("/api/v1/offices/mitte/devices").await;
    let kiosk = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|device| device["kind"] == "kiosk")
        .unwrap()
        .clone();
    let revoke = format!(
        "/staff/mitte/geraete/{}/widerrufen",
        kiosk["device_id"].as_str().unwrap()
    );
    let (status, html) = browser.submit("/staff/mitte/geraete", &revoke, &[]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("„Eingang links“ ist widerrufen") && html.contains("Widerrufen"));
    let (status, _) = app
        .send(Method::GET, "/api/v1/offices/mitte/devices", Some(&tokens[0]), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked token opens nothing");
    // Another office's device id through this office's page: not here.
    let (status, _) = browser
        .submit(
            "/staff/mitte/geraete",
            "/staff/mitte/geraete/01KBS4W1YQ9X0G4T2N5M8P7R6T/widerrufen",
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn an_admin_manages_accounts_offices_and_services(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    offices(&app).await;
    let admin_id = admin(&app, "ada@stadt.example").await;
    let admin = Browser::signed_in(&app, "ada@stadt.example").await;

    // A new clerk: a one-time password, shown once.
    let (status, html) = admin
        .submit(
            "/staff/admin/personal",
            "/staff/admin/personal",
            &[
                ("email", "neu@stadt.example"),
                ("name", "Nele Neu"),
                ("rolle", "clerk"),
                ("buero", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("gehören zu einem Bürgerbüro"), "{html}");
    let (status, html) = admin
        .submit(
            "/staff/admin/personal",
            "/staff/admin/personal",
            &[
                ("email", "neu@stadt.example"),
                ("name", "Nele Neu"),
                ("rolle", "clerk"),
                ("buero", "mitte"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    let first = shown_secret(&html);
    assert_eq!(first.chars().count(), 20);
    let events = app.all_events().await;
    let registered = of_type(&events, "staff.registered");
    let nele = registered
        .iter()
        .find(|event| event["data"]["email"] == "neu@stadt.example")
        .unwrap();
    assert_eq!(nele["actor"], json!({"kind": "staff", "id": admin_id}));
    assert_eq!(nele["data"]["roles"], json!([{"role": "clerk", "office": "mitte"}]));
    let response = Browser::new(&app).sign_in("neu@stadt.example", &first).await;
    assert_eq!(location(response.headers()), "/staff/passwort");

    // Another one-time password: the first stops working.
    let (status, html) = admin
        .submit(
            "/staff/admin/personal",
            "/staff/admin/personal/einmalpasswort",
            &[("email", "neu@stadt.example")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let second = shown_secret(&html);
    assert_ne!(first, second);
    assert_eq!(
        Browser::new(&app).sign_in("neu@stadt.example", &first).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        location(Browser::new(&app).sign_in("neu@stadt.example", &second).await.headers()),
        "/staff/passwort"
    );
    // Promoted to lead of Nord: the form is filled from the list.
    let (_, html) = admin.page("/staff/admin/personal?konto=neu%40stadt.example").await;
    assert!(html.contains(r#"value="neu@stadt.example""#) && html.contains(r#"<option value="clerk" selected>"#));
    let (status, html) = admin
        .submit(
            "/staff/admin/personal",
            "/staff/admin/personal",
            &[
                ("email", "neu@stadt.example"),
                ("name", "Nele Neu"),
                ("rolle", "lead"),
                ("buero", "nord"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Leitung – Bürgerbüro Nord"), "{html}");

    // Offices: a new one, and a changed name keeping the hours.
    put_office(
        &app,
        "mitte",
        json!({"name": "Bürgerbüro Mitte", "address": "Duisburg", "timezone": "Europe/Berlin",
               "opening_hours": {"mon": [["08:00", "12:00"]]}, "holidays": "DE-NW"}),
    )
    .await;
    let (status, html) = admin
        .submit(
            "/staff/admin/standorte",
            "/staff/admin/standorte",
            &[
                ("kennung", "Süd"),
                ("name", ""),
                ("anschrift", ""),
                ("zeitzone", "Mars/Olympus"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Die Kennung besteht aus") && html.contains("Diese Zeitzone ist unbekannt"));
    let (status, html) = admin
        .submit(
            "/staff/admin/standorte",
            "/staff/admin/standorte",
            &[
                ("kennung", "sued"),
                ("name", "Bürgerbüro Süd"),
                ("anschrift", "Sittardsberger Allee 14\r\n47249 Duisburg"),
                ("zeitzone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    assert!(html.contains("/staff/sued/oeffnungszeiten"));
    let (status, html) = admin
        .submit(
            "/staff/admin/standorte",
            "/staff/admin/standorte",
            &[
                ("kennung", "mitte"),
                ("name", "Bürger-Service-Station Mitte"),
                ("anschrift", "Sonnenwall 73"),
                ("zeitzone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (_, offices) = app.send(Method::GET, "/api/v1/offices", None, None).await;
    let by_id = |id: &str| {
        offices
            .as_array()
            .unwrap()
            .iter()
            .find(|office| office["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("sued")["address"], "Sittardsberger Allee 14\n47249 Duisburg");
    assert_eq!(by_id("mitte")["name"], "Bürger-Service-Station Mitte");
    assert_eq!(
        by_id("mitte")["opening_hours"],
        json!({"mon": [["08:00", "12:00"]]}),
        "hours stay"
    );
    assert_eq!(by_id("mitte")["holidays"], "DE-NW");

    // Services.
    let (status, html) = admin
        .submit(
            "/staff/admin/dienstleistungen",
            "/staff/admin/dienstleistungen",
            &[("kennung", "reisepass"), ("name", "Reisepass"), ("minuten", "0")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("1 bis 480 Minuten"));
    let (status, html) = admin
        .submit(
            "/staff/admin/dienstleistungen",
            "/staff/admin/dienstleistungen",
            &[("kennung", "reisepass"), ("name", "Reisepass"), ("minuten", "15")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    let (_, services) = app.send(Method::GET, "/api/v1/services", None, None).await;
    assert_eq!(
        services,
        json!([{"id": "reisepass", "name": "Reisepass", "duration_minutes": 15, "walk_in": false, "description": null}])
    );
    // Offered at the kiosk, too: the checkbox.
    let (status, html) = admin
        .submit(
            "/staff/admin/dienstleistungen",
            "/staff/admin/dienstleistungen",
            &[
                ("kennung", "reisepass"),
                ("name", "Reisepass"),
                ("minuten", "15"),
                ("ohne_termin", "ja"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Ja, am Kiosk"), "{html}");
    let (_, services) = app.send(Method::GET, "/api/v1/services", None, None).await;
    assert_eq!(services[0]["walk_in"], true);
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    sign_in_lets_the_right_password_in_and_tells_nothing_else,
    the_cookie_is_secure_under_an_https_public_url,
    a_one_time_password_must_be_replaced_first,
    forms_without_their_token_or_from_elsewhere_change_nothing,
    each_role_reaches_only_its_pages,
    a_disabled_account_is_out_at_once,
    signing_out_ends_the_session,
    ten_wrong_passwords_lock_the_sign_in,
    a_clerk_reads_the_day_list_and_cancels_for_the_citizen,
    a_lead_publishes_a_week_and_edits_the_hours,
    a_lead_registers_and_revokes_devices,
    a_lead_closes_part_of_a_day,
    an_admin_manages_accounts_offices_and_services,
);
