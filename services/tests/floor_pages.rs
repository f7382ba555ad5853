//! The office floor's pages over HTTP (issue 13): the waiting room's call
//! display `/anzeige/{office}` and the kiosk's check-in screen
//! `/kiosk/{office}` with their one-time `?token=` → cookie sign-in, and a
//! clerk's desk page `/staff/{office}/schalter/{counter}` with its CSRF
//! forms. On both backends, against an app whose clock is the test's.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use regex::Regex;
use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};
use support::{ManualClock, TOKEN, TestApp};
use terminagent::application::{Executor, SystemClock};
use terminagent_domain::StaffId;
use terminagent_eventstore::Backend;

const PASSWORD: &str = "ein-langes-geheimes-Passwort";

struct Office {
    app: TestApp,
    clock: Arc<ManualClock>,
    day: NaiveDate,
    clerk_id: String,
    kiosk: String,
    kiosk_id: String,
    display: String,
    display_id: String,
    secret: terminagent::links::LinkSecret,
}

#[derive(Debug, Clone)]
struct Booked {
    id: String,
    number: String,
    code: String,
}

impl Office {
    fn t(&self, time: &str) -> DateTime<Utc> {
        let time = NaiveTime::parse_from_str(time, "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
            .unwrap();
        self.day.and_time(time).and_utc()
    }

    /// As the API writes instants of an office in UTC.
    fn local(&self, time: &str) -> String {
        self.t(time).format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    }

    fn at(&self, time: &str) {
        self.clock.set(self.t(time));
    }

    async fn book(&self, start: &str, email: &str) -> Booked {
        let start = self.t(start).format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
        let body = json!({"office": "mitte", "services": ["ausweis"], "start": start,
                          "citizen": {"name": "Erika Mustermann", "email": email}});
        let (status, requested) = self.app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{requested}");
        let id = requested["booking_id"].as_str().unwrap().to_owned();
        let confirm = self.secret.token(&id, "confirm_booking");
        let (status, pressed) = self
            .app
            .send(Method::POST, &format!("/api/v1/links/{}", confirm.as_str()), None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{pressed}");
        let booking = &pressed["booking"];
        Booked {
            id,
            number: booking["number"].as_str().unwrap().to_owned(),
            code: booking["check_in_code"].as_str().unwrap().to_owned(),
        }
    }

    async fn api_check_in(&self, booking: &Booked) {
        let (status, answer) = self
            .app
            .send(
                Method::POST,
                "/api/v1/offices/mitte/check-ins",
                Some(&self.kiosk),
                Some(json!({"code": booking.code})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    async fn events_of(&self, event_type: &str) -> Vec<Value> {
        self.app
            .all_events()
            .await
            .into_iter()
            .filter(|event| event["type"] == event_type)
            .collect()
    }
}

/// Office `mitte` (zone UTC) ten days ahead, 09:00–10:24 in 12-minute units;
/// a clerk with a password, a kiosk and a display; the clock at 07:00.
async fn office(backend: Backend) -> Office {
    let day = Utc::now().date_naive() + Days::new(10);
    let clock = ManualClock::at(day.and_hms_opt(7, 0, 0).unwrap().and_utc());
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    for (id, name) in [("mitte", "Bürgerbüro Mitte"), ("nord", "Bürgerbüro Nord")] {
        let body = json!({"name": name, "address": "Markt 1", "timezone": "UTC"});
        let (status, _) = app.staff(Method::PUT, &format!("/api/v1/offices/{id}"), body).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let service = json!({"name": "Personalausweis", "duration_minutes": 12});
    let (status, _) = app.staff(Method::PUT, "/api/v1/services/ausweis", service).await;
    assert_eq!(status, StatusCode::CREATED);
    let capacity = json!({"date": day.to_string(), "from": "09:00", "to": "10:24", "unit_minutes": 12, "lanes": 50});
    let (status, answer) = app
        .staff(Method::POST, "/api/v1/offices/mitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    let body = json!({"name": "Karl Kasse", "roles": [{"role": "clerk", "office": "mitte"}]});
    let (status, entry) = app.staff(Method::PUT, "/api/v1/staff/karl@stadt.example", body).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    let clerk_id = entry["staff_id"].as_str().unwrap().to_owned();
    let store = app.db.store(Default::default()).await.unwrap();
    let executor = Executor::new(store.clone(), Arc::new(SystemClock));
    terminagent::application::staff::set_password(&executor, StaffId::parse(&clerk_id).unwrap(), PASSWORD, false)
        .await
        .unwrap();
    store.close().await;
    let device = |kind: &'static str| {
        app.staff(
            Method::POST,
            "/api/v1/offices/mitte/devices",
            json!({"kind": kind, "name": format!("{kind} im Foyer")}),
        )
    };
    let (status, kiosk) = device("kiosk").await;
    assert_eq!(status, StatusCode::CREATED, "{kiosk}");
    let (status, display) = device("display").await;
    assert_eq!(status, StatusCode::CREATED, "{display}");
    let secret = app.link_secret().await;
    Office {
        clock,
        day,
        clerk_id,
        kiosk: kiosk["token"].as_str().unwrap().to_owned(),
        kiosk_id: kiosk["device_id"].as_str().unwrap().to_owned(),
        display: display["token"].as_str().unwrap().to_owned(),
        display_id: display["device_id"].as_str().unwrap().to_owned(),
        secret,
        app,
    }
}

/// A browser: its own cookie jar, redirects not followed.
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

    async fn page(&self, path: &str) -> (StatusCode, String) {
        let response = self.get(path).await;
        (response.status(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn signed_in(app: &TestApp, email: &str) -> Browser {
        let browser = Browser::new(app);
        let response = browser
            .client
            .post(format!("{}/staff/login", browser.base))
            .form(&[("email", email), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        browser
    }

    /// Opens an event stream with this browser's cookies.
    async fn stream(&self, path: &str, last_event_id: Option<&str>) -> EventStream {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        EventStream {
            response,
            buffer: String::new(),
        }
    }
}

fn csrf_of(html: &str) -> String {
    let pattern = Regex::new(r#"name="csrf" value="([A-Za-z0-9_-]{43})""#).unwrap();
    pattern
        .captures(html)
        .unwrap_or_else(|| panic!("no CSRF token in {html}"))[1]
        .to_owned()
}

/// The text of the page without tags, whitespace collapsed.
fn text_of(html: &str) -> String {
    let tags = Regex::new(r"<[^>]*>").unwrap();
    let text = tags.replace_all(html, " ");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct EventStream {
    response: Response,
    buffer: String,
}

/// One event: its name, id (if any) and data.
#[derive(Debug)]
struct Sent {
    event: String,
    id: Option<String>,
    data: String,
}

impl EventStream {
    async fn next(&mut self) -> Sent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block = self.buffer[..end].to_owned();
                self.buffer.drain(..end + 2);
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|line| line.strip_prefix(&format!("{name}:")))
                        .map(|value| value.trim_start().to_owned())
                };
                if let Some(event) = field("event") {
                    return Sent {
                        event,
                        id: field("id"),
                        data: field("data").unwrap_or_default(),
                    };
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("the stream sends in time")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event named `name`, skipping others.
    async fn next_named(&mut self, name: &str) -> Sent {
        loop {
            let sent = self.next().await;
            if sent.event == name {
                return sent;
            }
        }
    }
}

/// A display signs in once with `?token=`, then the cookie (scoped to its
/// page) carries it: the page shows the calls and the waiting room, its
/// stream sends each call and resumes with `Last-Event-ID`. Wrong tokens,
/// another device's token and no token are refused.
async fn the_display_signs_in_once_and_follows_the_calls(backend: Backend) {
    let office = office(backend).await;
    let anna = office.book("09:00", "anna@example.org").await;
    let bert = office.book("09:00", "bert@example.org").await;
    office.at("08:50");
    office.api_check_in(&anna).await;
    office.api_check_in(&bert).await;

    let display = Browser::new(&office.app);
    let (status, html) = display.page("/anzeige/mitte").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{html}");
    assert!(html.contains("?token="), "{html}");
    assert_eq!(
        display.page("/anzeige/mitte?token=falsch").await.0,
        StatusCode::UNAUTHORIZED
    );
    let kiosk_token = format!("/anzeige/mitte?token={}", office.kiosk);
    assert_eq!(display.page(&kiosk_token).await.0, StatusCode::FORBIDDEN);
    let other_office = format!("/anzeige/nord?token={}", office.display);
    assert_eq!(display.page(&other_office).await.0, StatusCode::FORBIDDEN);

    let response = display.get(&format!("/anzeige/mitte?token={}", office.display)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/anzeige/mitte");
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for part in [
        "terminagent_device=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/anzeige/mitte",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }

    let response = display.get("/anzeige/mitte").await;
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = response.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    let text = text_of(&html);
    assert!(text.contains("Noch kein Aufruf"), "{text}");
    assert!(text.contains("Es warten: 2"), "{text}");
    let stream_path = Regex::new(r#"data-stream="([^"]+)""#).unwrap().captures(&html).unwrap()[1].to_owned();
    assert!(stream_path.starts_with("/anzeige/mitte/stream?after="), "{stream_path}");
    let script = display.get("/assets/anzeige.js").await;
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );

    // The stream: the waiting count at once, then each call.
    let mut stream = display.stream(&stream_path, None).await;
    assert_eq!(stream.next_named("waiting").await.data, "2");
    office.at("09:01");
    let (status, call) = office
        .app
        .send(Method::POST, "/api/v1/offices/mitte/counters/6/next", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{call}");
    let sent = stream.next_named("call").await;
    let data: Value = serde_json::from_str(&sent.data).unwrap();
    assert_eq!(data["number"], call["number"]);
    assert_eq!(data["counter"], "6");
    assert_eq!(data["recall"], false);
    let first_id = sent.id.expect("a call carries its log position");
    assert_eq!(stream.next_named("waiting").await.data, "1");
    let (status, second) = office
        .app
        .send(Method::POST, "/api/v1/offices/mitte/counters/7/next", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    drop(stream);

    // A reconnect with Last-Event-ID gets the call it missed.
    let mut resumed = display.stream("/anzeige/mitte/stream", Some(&first_id)).await;
    let missed: Value = serde_json::from_str(&resumed.next_named("call").await.data).unwrap();
    assert_eq!(missed["number"], second["number"]);
    assert_eq!(missed["counter"], "7");

    // The page now shows the latest call large and the previous below.
    let text = text_of(&display.page("/anzeige/mitte").await.1);
    let latest = format!(
        "Aktueller Aufruf Nummer {} – Schalter 7",
        second["number"].as_str().unwrap()
    );
    assert!(text.contains(&latest), "{text}");
    let previous = format!("Nummer {} – Schalter 6 09:01 Uhr", call["number"].as_str().unwrap());
    assert!(text.contains(&previous), "{text}");
    assert!(
        [&anna.number, &bert.number].contains(&&call["number"].as_str().unwrap().to_owned()),
        "{call}"
    );

    // The stream without the cookie, or the cookie of a revoked display: refused.
    let stranger = Browser::new(&office.app);
    assert_eq!(
        stranger.get("/anzeige/mitte/stream").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = office
        .app
        .send(
            Method::DELETE,
            &format!("/api/v1/offices/mitte/devices/{}", office.display_id),
            Some(TOKEN),
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");
    assert_eq!(display.get("/anzeige/mitte").await.status(), StatusCode::UNAUTHORIZED);
}

/// A clerk runs counter 6 from the desk page: call next, a recall refused
/// as too soon and then made, missed, the next visitor started, parked,
/// returned, finished; pause needs a reason; a paused counter calls nobody.
/// Each step is an event under the clerk; a form without its CSRF token
/// changes nothing. The desk's stream says when the floor changed.
async fn a_clerk_runs_a_counter_from_the_desk_page(backend: Backend) {
    let office = office(backend).await;
    let anna = office.book("09:00", "anna@example.org").await;
    let bert = office.book("09:12", "bert@example.org").await;
    office.at("08:50");
    office.api_check_in(&anna).await;

    let clerk = Browser::signed_in(&office.app, "karl@stadt.example").await;
    let desk = "/staff/mitte/schalter/6";
    let response = clerk.get(desk).await;
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = response.text().await.unwrap();
    let csrf = csrf_of(&html);
    let text = text_of(&html);
    assert!(text.contains("Warteschlange (1)"), "{text}");
    assert!(
        text.contains(&format!("{} 09:00 Uhr 08:50 Uhr unter 1 Min.", anna.number)),
        "{text}"
    );
    assert!(text.contains("Nächste Person aufrufen"), "{text}");

    // The desk's stream: a check-in elsewhere changes the floor.
    let mut changes = clerk.stream(&format!("{desk}/stream"), None).await;
    office.at("09:02");
    office.api_check_in(&bert).await;
    assert_eq!(changes.next().await.event, "changed");
    let text = text_of(&clerk.page(desk).await.1);
    assert!(text.contains("Warteschlange (2)"), "{text}");
    assert!(
        text.contains(&format!("{} 09:00 Uhr 08:50 Uhr 12 Min.", anna.number)),
        "{text}"
    );

    // Without the token: nothing happens.
    let before = office.app.all_events().await.len();
    let (status, _) = clerk.post(desk, &[("aktion", "naechste")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(office.app.all_events().await.len(), before);

    let act = |fields: Vec<(&'static str, String)>| {
        let csrf = csrf.clone();
        let clerk = &clerk;
        async move {
            let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
            form.extend(fields.iter().map(|(name, value)| (*name, value.as_str())));
            let (status, html) = clerk.post(desk, &form).await;
            (status, text_of(&html))
        }
    };
    let (status, text) = act(vec![("aktion", "naechste".into())]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.contains(&format!("Nummer {} ist an Schalter 6 aufgerufen", anna.number)),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Am Schalter Nummer {} – Aufgerufen seit 09:02 Uhr",
            anna.number
        )),
        "{text}"
    );
    let (status, text) = act(vec![("aktion", "naechste".into())]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(text.contains("An diesem Schalter ist noch jemand aufgerufen"), "{text}");
    let (status, text) = act(vec![("aktion", "verpasst".into()), ("buchung", anna.id.clone())]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(text.contains("erst, wenn sie erneut aufgerufen wurde"), "{text}");
    let (status, text) = act(vec![("aktion", "erneut".into()), ("buchung", anna.id.clone())]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(
        text.contains("Zu früh für einen erneuten Aufruf: möglich ab 09:07:00 Uhr"),
        "{text}"
    );
    office.at("09:07");
    let (status, text) = act(vec![("aktion", "erneut".into()), ("buchung", anna.id.clone())]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("Erneut aufgerufen"), "{text}");
    let (status, text) = act(vec![("aktion", "verpasst".into()), ("buchung", anna.id.clone())]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("nicht erschienen vermerkt"), "{text}");

    let (status, text) = act(vec![("aktion", "naechste".into())]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.contains(&format!("Nummer {} ist an Schalter 6 aufgerufen", bert.number)),
        "{text}"
    );
    let (status, text) = act(vec![("aktion", "beginnen".into()), ("buchung", bert.id.clone())]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("In Bearbeitung"), "{text}");
    let (status, text) = act(vec![("aktion", "zurueckstellen".into()), ("buchung", bert.id.clone())]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.contains(&format!("Zurückgestellt Nummer {} , seit 09:07 Uhr", bert.number)),
        "{text}"
    );
    let (status, text) = act(vec![("aktion", "zurueckholen".into()), ("buchung", bert.id.clone())]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("Warteschlange (1)"), "{text}");
    act(vec![("aktion", "naechste".into())]).await;
    act(vec![("aktion", "beginnen".into()), ("buchung", bert.id.clone())]).await;
    let (status, text) = act(vec![("aktion", "fertig".into()), ("buchung", bert.id.clone())]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("Niemand ist an diesem Schalter"), "{text}");

    // Pause: a reason is needed; paused, nobody is called; opened again.
    let (status, text) = act(vec![("aktion", "pausieren".into()), ("grund", " ".into())]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("Bitte geben Sie einen Grund für die Pause an"), "{text}");
    let (status, text) = act(vec![("aktion", "pausieren".into()), ("grund", "Mittagspause".into())]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("Stand des Schalters: Pausiert: Mittagspause"), "{text}");
    let (status, text) = act(vec![("aktion", "naechste".into())]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(text.contains("Der Schalter ist pausiert (Mittagspause)"), "{text}");
    let (status, text) = act(vec![("aktion", "oeffnen".into())]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, text) = act(vec![("aktion", "naechste".into())]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("Gerade wartet niemand"), "{text}");
    let (status, text) = act(vec![("aktion", "schliessen".into())]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("Stand des Schalters: Geschlossen"), "{text}");

    // Every step under the clerk.
    let clerk_actor = json!({"kind": "staff", "id": office.clerk_id});
    for event_type in [
        "visit.called",
        "visit.recalled",
        "visit.missed",
        "visit.started",
        "visit.parked",
        "visit.returned",
        "visit.finished",
        "counter.paused",
        "counter.closed",
    ] {
        let events = office.events_of(event_type).await;
        assert!(!events.is_empty(), "{event_type}");
        assert!(
            events.iter().all(|event| event["actor"] == clerk_actor),
            "{event_type}: {events:?}"
        );
    }

    // A clerk of mitte has no desk at nord; a counter name must be a slug.
    assert_eq!(clerk.page("/staff/nord/schalter/6").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        clerk.page("/staff/mitte/schalter/Schalter%206").await.0,
        StatusCode::NOT_FOUND
    );
    // Signed-in staff may open the display under /staff.
    let (status, html) = clerk.page("/staff/mitte/anzeige").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"data-stream="/staff/mitte/anzeige/stream?after="#),
        "{html}"
    );
    // Without a session, the desk sends to the sign-in.
    assert_eq!(
        Browser::new(&office.app).get(desk).await.status(),
        StatusCode::SEE_OTHER
    );
}

/// The kiosk signs in once with `?token=`; a code typed (any case, with
/// dashes) checks the visitor in; too early says from when; an unknown code
/// sends to the information desk; a form from elsewhere changes nothing.
async fn the_kiosk_checks_visitors_in(backend: Backend) {
    let office = office(backend).await;
    let anna = office.book("09:00", "anna@example.org").await;

    let kiosk = Browser::new(&office.app);
    assert_eq!(kiosk.page("/kiosk/mitte").await.0, StatusCode::UNAUTHORIZED);
    let display_token = format!("/kiosk/mitte?token={}", office.display);
    assert_eq!(kiosk.page(&display_token).await.0, StatusCode::FORBIDDEN);
    let response = kiosk.get(&format!("/kiosk/mitte?token={}", office.kiosk)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/kiosk/mitte");
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("Path=/kiosk/mitte") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let (status, html) = kiosk.page("/kiosk/mitte").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"name="code""#), "{html}");

    office.at("08:40");
    let (status, html) = kiosk.post("/kiosk/mitte", &[("code", &anna.code)]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(text_of(&html).contains("Zu früh – bitte ab 08:45 wieder"), "{html}");
    let (status, html) = kiosk.post("/kiosk/mitte", &[("code", "ZZZZ-ZZZZ")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        text_of(&html).contains("Bitte wenden Sie sich an die Information"),
        "{html}"
    );
    let (status, _) = kiosk.post("/kiosk/mitte", &[("code", "")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    office.at("08:50");
    let typed = format!("{}-{}", &anna.code[..4], &anna.code[4..]).to_lowercase();
    let (status, html) = kiosk.post("/kiosk/mitte", &[("code", &typed)]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let text = text_of(&html);
    assert!(
        text.contains(&format!("Sie sind eingecheckt – Ihre Wartenummer {}", anna.number)),
        "{text}"
    );
    assert!(text.contains("Sie sind als Nächstes an der Reihe"), "{text}");
    assert!(html.contains(r#"data-zurueck="/kiosk/mitte""#), "{html}");
    let checked_in = office.events_of("visit.checked_in").await;
    assert_eq!(checked_in.len(), 1);
    assert_eq!(checked_in[0]["actor"], json!({"kind": "device", "id": office.kiosk_id}));

    // A form posted from another site: refused before anything else.
    let response = kiosk
        .client
        .post(format!("{}/kiosk/mitte", kiosk.base))
        .header("origin", "https://evil.example")
        .form(&[("code", anna.code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// Two walk-in services (a lead marks them), beside `ausweis`, which is not.
async fn walk_in_services(office: &Office) {
    for (id, name) in [("meldung", "Meldebescheinigung"), ("fuehrung", "Führungszeugnis")] {
        let body = json!({"name": name, "duration_minutes": 12, "walk_in": true});
        let (status, answer) = office
            .app
            .staff(Method::PUT, &format!("/api/v1/services/{id}"), body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
}

/// A kiosk browser signed in with its token (the cookie kept).
async fn kiosk_browser(office: &Office) -> Browser {
    let kiosk = Browser::new(&office.app);
    let response = kiosk.get(&format!("/kiosk/mitte?token={}", office.kiosk)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    kiosk
}

/// Draws a ticket on the kiosk's form: the 303's location, or the refusal's status and page.
async fn draw(kiosk: &Browser, services: &[&str]) -> Result<String, (StatusCode, String)> {
    let form: Vec<(&str, &str)> = services.iter().map(|service| ("services", *service)).collect();
    let response = kiosk
        .client
        .post(format!("{}/kiosk/mitte/marke", kiosk.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    if response.status() == StatusCode::SEE_OTHER {
        return Ok(response.headers()[LOCATION].to_str().unwrap().to_owned());
    }
    Err((response.status(), response.text().await.unwrap()))
}

/// The kiosk offers exactly the walk-in services; "Wartemarke ziehen"
/// draws a ticket (through the API's decision, under the kiosk) and shows
/// its page: number, time, office, how many are ahead, the estimated wait
/// (by the services' durations before anyone was served, by the day's
/// processing times after), the check-in code and its QR image, when to
/// check in, a print button. The next ticket has one more ahead. The
/// ticket's code checks in like a booking's.
async fn the_kiosk_draws_walk_in_tickets(backend: Backend) {
    let office = office(backend).await;
    walk_in_services(&office).await;
    let anna = office.book("09:00", "anna@example.org").await;
    let kiosk = kiosk_browser(&office).await;

    let (status, html) = kiosk.page("/kiosk/mitte").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"action="/kiosk/mitte/marke""#), "{html}");
    for offered in ["meldung", "fuehrung"] {
        assert!(
            html.contains(&format!(r#"name="services" value="{offered}""#)),
            "{html}"
        );
    }
    assert!(!html.contains(r#"value="ausweis""#), "not a walk-in service: {html}");
    let text = text_of(&html);
    assert!(text.contains("Ohne Termin: Wartemarke ziehen"), "{text}");
    assert!(text.contains("Meldebescheinigung (etwa 12 Minuten)"), "{text}");

    office.at("08:50");
    let location = draw(&kiosk, &["meldung"]).await.expect("a ticket");
    let pattern = Regex::new(r"^/kiosk/mitte/marke/([0-9A-Z]{26})$").unwrap();
    let first = pattern.captures(&location).unwrap_or_else(|| panic!("{location}"))[1].to_owned();
    let issued = office.events_of("booking.ticket_issued").await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0]["actor"], json!({"kind": "device", "id": office.kiosk_id}));
    let first_number = issued[0]["data"]["number"].as_str().unwrap().to_owned();

    let response = kiosk.get(&location).await;
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = response.text().await.unwrap();
    let text = text_of(&html);
    let code = office.secret.checkin_code(&first);
    for expected in [
        format!("Ihre Wartenummer {first_number}"),
        "Bürgerbüro Mitte Markt 1".to_owned(),
        "Ihre Uhrzeit 09:00 Uhr".to_owned(),
        "Anliegen Meldebescheinigung".to_owned(),
        // anna (09:00, an earlier number) is expected.
        "Vor Ihnen 1 Person".to_owned(),
        // 1 × 12 minutes on one counter, not before the start at 09:00.
        "Geschätzte Wartezeit 10 bis 15 Minuten Aufruf etwa 09:00 bis 09:05 Uhr".to_owned(),
        "geschätzt nach Dienstleistungsdauer".to_owned(),
        format!("Check-in-Code: {code}"),
        "Bitte checken Sie jetzt hier am Kiosk ein (bis spätestens 09:05 Uhr)".to_owned(),
        "Stand: 08:50 Uhr".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} in {text}");
    }
    assert_ne!(first_number, anna.number);
    assert!(html.contains(r#"id="drucken""#), "{html}");
    let qr_path = format!("/kiosk/mitte/marke/{first}/qr.png");
    assert!(html.contains(&format!(r#"src="{qr_path}""#)), "{html}");
    let qr = kiosk.get(&qr_path).await;
    assert_eq!(qr.status(), StatusCode::OK);
    assert_eq!(qr.headers()["content-type"], "image/png");
    assert_eq!(&qr.bytes().await.unwrap()[..8], b"\x89PNG\r\n\x1a\n");

    // The second ticket: both services, one more ahead (the first ticket).
    let second_location = draw(&kiosk, &["fuehrung", "meldung"]).await.expect("a second ticket");
    let text = text_of(&kiosk.page(&second_location).await.1);
    assert!(text.contains("Vor Ihnen 2 Personen"), "{text}");
    assert!(text.contains("Anliegen Führungszeugnis, Meldebescheinigung"), "{text}");
    assert!(text.contains("Ihre Uhrzeit 09:00 Uhr"), "{text}");

    // anna is served 08:51–09:01: the day's processing time becomes the measure.
    office.api_check_in(&anna).await;
    office.at("08:51");
    let (status, called) = office
        .app
        .send(Method::POST, "/api/v1/offices/mitte/counters/6/next", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{called}");
    assert_eq!(called["number"], anna.number.as_str());
    let app = &office.app;
    let visit = |action: &'static str| {
        let path = format!("/api/v1/visits/{}/{action}", anna.id);
        async move {
            let (status, answer) = app.send(Method::POST, &path, Some(TOKEN), None).await;
            assert_eq!(status, StatusCode::OK, "{action}: {answer}");
        }
    };
    visit("start").await;
    office.at("09:01");
    visit("finish").await;
    let text = text_of(&kiosk.page(&location).await.1);
    assert!(
        text.contains("Vor Ihnen niemand – Sie sind als Nächstes an der Reihe"),
        "{text}"
    );
    let text = text_of(&kiosk.page(&second_location).await.1);
    assert!(text.contains("Vor Ihnen 1 Person"), "{text}");
    assert!(
        text.contains("Geschätzte Wartezeit 10 bis 15 Minuten Aufruf etwa 09:10 bis 09:15 Uhr"),
        "{text}"
    );
    assert!(
        text.contains("geschätzt nach den heutigen Bearbeitungszeiten (1 Vorgang)"),
        "{text}"
    );

    // The ticket's code checks in at the same kiosk.
    let (status, html) = kiosk.post("/kiosk/mitte", &[("code", &code)]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        text_of(&html).contains(&format!("Sie sind eingecheckt – Ihre Wartenummer {first_number}")),
        "{html}"
    );
    // Checked in, the ticket keeps its page; it now waits ahead of the second.
    let (status, html) = kiosk.page(&location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text_of(&html).contains("Vor Ihnen niemand"), "{html}");
    let text = text_of(&kiosk.page(&second_location).await.1);
    assert!(text.contains("Vor Ihnen 1 Person"), "{text}");
}

/// Refusals come back on the kiosk's screen with the choice kept and a
/// German message: nothing chosen (422), an unknown service (422), a
/// service only by appointment (409), no time left today (409), the office
/// closed (409). Without the device cookie the ticket routes answer as the
/// other kiosk routes (401), a form from another site changes nothing
/// (403), and only today's tickets of the office have a page.
async fn the_kiosk_explains_refused_tickets(backend: Backend) {
    let office = office(backend).await;
    walk_in_services(&office).await;
    let anna = office.book("09:00", "anna@example.org").await;
    let kiosk = kiosk_browser(&office).await;
    office.at("08:50");

    let (status, html) = draw(&kiosk, &[]).await.unwrap_err();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text_of(&html).contains("Bitte wählen Sie mindestens ein Anliegen"),
        "{html}"
    );
    assert!(
        html.contains(r#"aria-invalid"#) || html.contains(r#"class="field-error""#),
        "{html}"
    );

    let (status, html) = draw(&kiosk, &["meldung", "ausweis"]).await.unwrap_err();
    assert_eq!(status, StatusCode::CONFLICT);
    let text = text_of(&html);
    assert!(text.contains("Nur mit Termin"), "{text}");
    assert!(
        text.contains("„Personalausweis“ erledigen wir nur mit Termin"),
        "{text}"
    );
    assert!(
        html.contains(r#"value="meldung" checked"#),
        "the choice is kept: {html}"
    );
    assert!(html.contains(r#"name="code""#), "the check-in stays: {html}");

    let (status, html) = draw(&kiosk, &["gibt-es-nicht"]).await.unwrap_err();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&html).contains("gibt es nicht (mehr)"), "{html}");

    // The last units start at 10:12: none left at 10:20.
    office.at("10:20");
    let (status, html) = draw(&kiosk, &["fuehrung"]).await.unwrap_err();
    assert_eq!(status, StatusCode::CONFLICT);
    let text = text_of(&html);
    assert!(text.contains("Heute sind keine Wartemarken mehr frei"), "{text}");
    assert!(html.contains(r#"value="fuehrung" checked"#), "{html}");

    // With opening hours that ended at 10:15, the office is closed.
    let weekday = office.day.format("%a").to_string().to_lowercase();
    let body = json!({"name": "Bürgerbüro Mitte", "address": "Markt 1", "timezone": "UTC",
                      "opening_hours": {weekday: [["08:00", "10:15"]]}});
    let (status, answer) = office.app.staff(Method::PUT, "/api/v1/offices/mitte", body).await;
    assert!(status.is_success(), "{status} {answer}");
    let (status, html) = draw(&kiosk, &["fuehrung"]).await.unwrap_err();
    assert_eq!(status, StatusCode::CONFLICT);
    let text = text_of(&html);
    assert!(text.contains("Das Bürgerbüro hat jetzt geschlossen"), "{text}");
    assert!(text.contains("die Öffnungszeiten für heute sind vorbei"), "{text}");
    assert!(office.events_of("booking.ticket_issued").await.is_empty());

    // Without the device cookie: as the other kiosk routes.
    office.at("08:50");
    let stranger = Browser::new(&office.app);
    let (status, html) = stranger.post("/kiosk/mitte/marke", &[("services", "meldung")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text_of(&html).contains("Gerät nicht angemeldet"), "{html}");
    assert_eq!(stranger.post("/kiosk/mitte", &[("code", "X")]).await.0, status);
    // A form from another site: refused before anything else.
    let response = kiosk
        .client
        .post(format!("{}/kiosk/mitte/marke", kiosk.base))
        .header("origin", "https://evil.example")
        .form(&[("services", "meldung")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(office.events_of("booking.ticket_issued").await.is_empty());

    let location = draw(&kiosk, &["meldung"]).await.expect("a ticket");
    assert_eq!(stranger.page(&location).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        stranger.page(&format!("{location}/qr.png")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A booking with a citizen, an unknown id, a malformed one: no ticket page.
    for path in [
        format!("/kiosk/mitte/marke/{}", anna.id),
        "/kiosk/mitte/marke/01ARZ3NDEKTSV4RRFFQ69G5FAV".to_owned(),
        "/kiosk/mitte/marke/kein-ticket".to_owned(),
    ] {
        let (status, html) = kiosk.page(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(text_of(&html).contains("Diese Wartemarke gibt es nicht"), "{html}");
    }
    // The next day, yesterday's ticket has no page any more.
    office.clock.set(office.t("08:50") + chrono::Duration::days(1));
    assert_eq!(kiosk.page(&location).await.0, StatusCode::NOT_FOUND);
}

/// Staff see a call display that has gone silent: never connected, or
/// unseen for over a minute (its stream gone, its network down, its
/// process dead). The display's own stream is its sign of life; a
/// reconnect is asked for after a second.
async fn staff_see_a_display_that_fell_silent(backend: Backend) {
    let office = office(backend).await;
    let clerk = Browser::signed_in(&office.app, "karl@stadt.example").await;
    let desk = "/staff/mitte/schalter/1";
    let warning = "Aufrufanzeige seit über einer Minute ohne Verbindung";
    let devices = || async {
        let (status, devices) = office.app.get("/api/v1/offices/mitte/devices").await;
        assert_eq!(status, StatusCode::OK, "{devices}");
        let display = devices
            .as_array()
            .unwrap()
            .iter()
            .find(|device| device["kind"] == "display")
            .cloned()
            .unwrap();
        let kiosk = devices
            .as_array()
            .unwrap()
            .iter()
            .find(|device| device["kind"] == "kiosk")
            .cloned()
            .unwrap();
        assert_eq!(
            (&kiosk["silent"], &kiosk["last_seen"]),
            (&Value::Null, &Value::Null),
            "{kiosk}"
        );
        display
    };

    // Registered, never connected: silent.
    let display = devices().await;
    assert_eq!(
        (&display["silent"], &display["last_seen"]),
        (&json!(true), &Value::Null),
        "{display}"
    );
    let text = text_of(&clerk.page(desk).await.1);
    assert!(
        text.contains(&format!("{warning}: „display im Foyer“ (noch nie verbunden)")),
        "{text}"
    );

    // The display's page stream is open: seen now, not silent; the stream asks for a quick reconnect.
    let screen = Browser::new(&office.app);
    let response = screen.get(&format!("/anzeige/mitte?token={}", office.display)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let mut stream = screen.get("/anzeige/mitte/stream").await;
    assert_eq!(stream.status(), StatusCode::OK);
    let first = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        std::str::from_utf8(&first).unwrap().starts_with("retry: 1000"),
        "{first:?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let display = loop {
        let display = devices().await;
        if display["last_seen"] == office.local("07:00") {
            break display;
        }
        assert!(tokio::time::Instant::now() < deadline, "{display}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(display["silent"], false, "{display}");
    assert!(!text_of(&clerk.page(desk).await.1).contains(warning));

    // Unseen for a minute and a second (its refresh comes every 15 s): silent, with when it was last seen.
    office.at("07:01:01");
    let display = devices().await;
    assert_eq!(
        (&display["silent"], &display["last_seen"]),
        (&json!(true), &json!(office.local("07:00"))),
        "{display}"
    );
    let text = text_of(&clerk.page(desk).await.1);
    assert!(
        text.contains(&format!("{warning}: „display im Foyer“ (zuletzt verbunden 07:00 Uhr)")),
        "{text}"
    );
    drop(stream);
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    the_display_signs_in_once_and_follows_the_calls,
    a_clerk_runs_a_counter_from_the_desk_page,
    the_kiosk_checks_visitors_in,
    the_kiosk_draws_walk_in_tickets,
    the_kiosk_explains_refused_tickets,
    staff_see_a_display_that_fell_silent,
);
