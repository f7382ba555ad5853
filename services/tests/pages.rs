//! The citizen pages over HTTP: the booking flow from the start page to
//! "check your mail", its German error pages, the mail-link pages on the
//! same layout, and the accessibility basics every page must meet.

mod support;

use chrono::{DateTime, Days, NaiveDate, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use terminagent_domain::{LocalTime, OfficeTimeZone};
use terminagent_eventstore::Backend;

const BERLIN: &str = "Europe/Berlin";

fn day(ahead: u64) -> NaiveDate {
    Utc::now().date_naive() + Days::new(ahead)
}

/// `hh:mm` on the office-local day `ahead` days from now, as an instant.
fn at(ahead: u64, hhmm: &str) -> DateTime<Utc> {
    let zone = OfficeTimeZone::parse(BERLIN).unwrap();
    zone.instant(day(ahead), LocalTime::parse(hhmm).unwrap()).unwrap()
}

/// Two offices, three services (one named with characters HTML must
/// escape), and one lane of 12-minute units from 08:00 to 09:00 at
/// Stadtmitte a week from now: starts 08:00, 08:12, 08:24, 08:36, 08:48.
async fn catalogue(app: &TestApp) {
    for (id, name, address) in [
        ("stadtmitte", "Bürgerbüro Stadtmitte", "Sonnenwall 73"),
        ("hamborn", "Bürgerbüro Hamborn", "Duisburger Straße 213"),
    ] {
        let office = json!({"name": name, "address": address, "timezone": BERLIN});
        let (status, answer) = app.staff(Method::PUT, &format!("/api/v1/offices/{id}"), office).await;
        assert!(status.is_success(), "{answer}");
    }
    for (id, name) in [
        ("personalausweis", "Personalausweis"),
        ("reisepass", "Reisepass"),
        ("fuehrerschein", "Führerschein & <Umschreibung>"),
    ] {
        let service = json!({"name": name, "duration_minutes": 12});
        let (status, answer) = app.staff(Method::PUT, &format!("/api/v1/services/{id}"), service).await;
        assert!(status.is_success(), "{answer}");
    }
    let capacity = json!({"date": day(7).to_string(), "from": "08:00", "to": "09:00", "unit_minutes": 12, "lanes": 1});
    let (status, answer) = app
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
    let status = response.status();
    assert_html(&response);
    (status, response.text().await.unwrap())
}

/// Posts the booking form; a booking is answered 303 to its page (post,
/// redirect, get), which comes back with the 303.
async fn post_form(app: &TestApp, fields: &Form) -> (StatusCode, String) {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = browser
        .post(format!("{}/termin/buchen", app.base))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::SEE_OTHER {
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("/termin/angefragt/"), "{location}");
        let (shown, html) = page(app, &location).await;
        assert_eq!(shown, StatusCode::OK, "{html}");
        return (status, html);
    }
    assert_html(&response);
    (status, response.text().await.unwrap())
}

fn assert_html(response: &reqwest::Response) {
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
}

type Form = Vec<(&'static str, String)>;

/// The booking form's fields for one start on day 7 at Stadtmitte.
fn booking_form(services: &str, time: &str, name: &str, email: &str) -> Form {
    vec![
        ("services", services.to_owned()),
        ("office", "stadtmitte".to_owned()),
        ("date", day(7).to_string()),
        ("time", time.to_owned()),
        ("name", name.to_owned()),
        ("email", email.to_owned()),
        ("phone", String::new()),
    ]
}

async fn requested_bookings(app: &TestApp) -> Vec<Value> {
    app.all_events()
        .await
        .into_iter()
        .filter(|event| event["type"] == "booking.requested")
        .map(|event| event["data"].clone())
        .collect()
}

/// The start times the availability API lists for one Personalausweis on day 7.
async fn free_starts(app: &TestApp) -> Vec<String> {
    let path = format!(
        "/api/v1/availability?office=stadtmitte&services=personalausweis&from={0}&to={0}",
        day(7)
    );
    let (status, answer) = app.send(Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|slot| slot["start"].as_str().unwrap()[11..16].to_owned())
        .collect()
}

/// Values of `attribute` on every tag named `tag`.
fn attribute_values(html: &str, tag: &str, attribute: &str) -> Vec<Option<String>> {
    let open = format!("<{tag} ");
    html.match_indices(&open)
        .map(|(at, _)| {
            let element = &html[at..at + html[at..].find('>').unwrap()];
            let needle = format!(" {attribute}=\"");
            element.find(&needle).map(|start| {
                let value = &element[start + needle.len()..];
                value[..value.find('"').unwrap()].to_owned()
            })
        })
        .collect()
}

/// The basics every page must meet: German, on the shared layout, every
/// visible input with an id and a `<label for>`, every `aria-describedby`
/// pointing at something that exists.
fn assert_accessible(html: &str) {
    assert!(html.contains("<html lang=\"de\">"), "{html}");
    assert!(
        html.contains("<link rel=\"stylesheet\" href=\"/assets/site.css\">"),
        "{html}"
    );
    assert!(html.contains("<main id=\"inhalt\""), "{html}");
    // No JavaScript but the proof-of-work solver, which the forms do
    // without (they wait instead).
    let solver = html
        .matches(r#"<script src="/assets/proof-of-work.js" defer></script>"#)
        .count();
    assert_eq!(html.matches("<script").count(), solver, "no other JavaScript: {html}");
    let types = attribute_values(html, "input", "type");
    let ids = attribute_values(html, "input", "id");
    for (input_type, id) in types.iter().zip(&ids) {
        if input_type.as_deref() == Some("hidden") {
            continue;
        }
        let id = id
            .as_deref()
            .unwrap_or_else(|| panic!("a visible input without id: {html}"));
        assert!(
            html.contains(&format!("<label for=\"{id}\"")),
            "no label for #{id}: {html}"
        );
    }
    for tag in ["input", "fieldset"] {
        for described_by in attribute_values(html, tag, "aria-describedby").into_iter().flatten() {
            for id in described_by.split_whitespace() {
                assert!(html.contains(&format!("id=\"{id}\"")), "#{id} is missing: {html}");
            }
        }
    }
}

async fn the_whole_flow_books_a_slot(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue(&app).await;

    let (status, start) = page(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(start.contains("href=\"/termin\""), "{start}");
    assert_accessible(&start);

    let (status, services) = page(&app, "/termin").await;
    assert_eq!(status, StatusCode::OK);
    for (id, name) in [
        ("personalausweis", "Personalausweis"),
        ("reisepass", "Reisepass"),
        ("fuehrerschein", "Führerschein &#38; &#60;Umschreibung&#62;"),
    ] {
        assert!(
            services.contains(&format!(
                "<input type=\"checkbox\" id=\"anliegen-{id}\" name=\"services\" value=\"{id}\">"
            )),
            "{services}"
        );
        assert!(
            services.contains(&format!("{name} <span class=\"hint\">(etwa 12 Minuten)</span>")),
            "{name}: {services}"
        );
    }
    assert!(!services.contains("<Umschreibung>"), "data is escaped");
    assert!(services.contains("action=\"/termin/standort\""));
    assert_accessible(&services);

    // Checkboxes arrive as repeated names.
    let (status, offices) = page(&app, "/termin/standort?services=personalausweis&services=reisepass").await;
    assert_eq!(status, StatusCode::OK, "{offices}");
    assert!(offices.contains("<strong>Bürgerbüro Stadtmitte</strong><br><span class=\"hint\">Sonnenwall 73</span>"));
    assert!(
        offices.contains("<strong>Bürgerbüro Hamborn</strong><br><span class=\"hint\">Duisburger Straße 213</span>")
    );
    assert!(
        offices.contains("Personalausweis, Reisepass (etwa 24 Minuten)"),
        "{offices}"
    );
    assert!(offices.contains("name=\"services\" value=\"personalausweis,reisepass\""));
    assert_accessible(&offices);

    // Only days with a free slot: the one published day.
    let choices = "services=personalausweis,reisepass&office=stadtmitte";
    let (status, days) = page(&app, &format!("/termin/tag?{choices}")).await;
    assert_eq!(status, StatusCode::OK, "{days}");
    assert_eq!(days.matches("name=\"date\"").count(), 1, "{days}");
    assert!(days.contains(&format!("name=\"date\" value=\"{}\"", day(7))), "{days}");
    assert!(days.contains(&day(7).format("%d.%m.%Y").to_string()), "{days}");
    assert!(
        days.contains("(4 freie Uhrzeiten)"),
        "24 minutes fit at four starts: {days}"
    );
    assert_accessible(&days);
    let (_, no_days) = page(&app, "/termin/tag?services=personalausweis&office=hamborn").await;
    assert!(!no_days.contains("name=\"date\""), "{no_days}");
    assert!(no_days.contains("kein passender Termin frei"), "{no_days}");

    let (status, times) = page(&app, &format!("/termin/uhrzeit?{choices}&date={}", day(7))).await;
    assert_eq!(status, StatusCode::OK, "{times}");
    let offered: Vec<_> = attribute_values(&times, "button", "value")
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(offered, ["08:00", "08:12", "08:24", "08:36"], "{times}");
    assert_accessible(&times);

    let contact_path = format!("/termin/angaben?{choices}&date={}&time=08:12", day(7));
    let (status, contact) = page(&app, &contact_path).await;
    assert_eq!(status, StatusCode::OK, "{contact}");
    assert!(contact.contains("<form method=\"post\" action=\"/termin/buchen\""));
    for field in ["name", "email", "phone"] {
        assert!(
            contact.contains(&format!("id=\"{field}\" name=\"{field}\"")),
            "{contact}"
        );
    }
    assert!(contact.contains("name=\"time\" value=\"08:12\""));
    assert_accessible(&contact);

    let mut form = booking_form(
        "personalausweis,reisepass",
        "08:12",
        "Erika Mustermann",
        "erika@example.org",
    );
    form.retain(|(name, _)| *name != "phone");
    form.push(("phone", "+49 203 1234".into()));
    let (status, done) = post_form(&app, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{done}");
    assert!(done.contains("Bitte bestätigen Sie Ihren Termin über den Link in der E-Mail"));
    assert!(done.contains("<strong>erika@example.org</strong>"));
    assert!(done.contains("08:12 bis 08:36 Uhr"), "{done}");
    assert_accessible(&done);

    let bookings = requested_bookings(&app).await;
    assert_eq!(bookings.len(), 1, "{bookings:?}");
    let booking = &bookings[0];
    assert_eq!(booking["office"], "stadtmitte");
    assert_eq!(booking["services"], json!(["personalausweis", "reisepass"]));
    let start: DateTime<Utc> = booking["start"].as_str().unwrap().parse().unwrap();
    assert_eq!(start, at(7, "08:12"));
    // The page shows the confirm-by time in the office's local time.
    let confirm_by: DateTime<Utc> = booking["confirm_by"].as_str().unwrap().parse().unwrap();
    let local = OfficeTimeZone::parse(BERLIN).unwrap().to_local(confirm_by);
    let shown = format!("{} Uhr</strong>", local.format("%d.%m.%Y, %H:%M"));
    assert!(done.contains(&shown), "{shown} in {done}");

    // The units 08:12 and 08:24 are held: neither the API nor the pages offer them any more.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while free_starts(&app).await != ["08:00", "08:36", "08:48"] {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", free_starts(&app).await);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, times) = page(&app, &format!("/termin/uhrzeit?{choices}&date={}", day(7))).await;
    let offered: Vec<_> = attribute_values(&times, "button", "value")
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(offered, ["08:36"], "{times}");
}

async fn a_slot_taken_meanwhile_offers_the_days_free_times_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue(&app).await;
    // Someone else takes 08:00 while Erika fills in the form.
    let other = json!({"office": "stadtmitte", "services": ["personalausweis"], "start": at(7, "08:00").to_rfc3339(),
                       "citizen": {"name": "Max Mustermann", "email": "max@example.org"}});
    let (status, answer) = app.send(Method::POST, "/api/v1/bookings", None, Some(other)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    let form = booking_form("personalausweis", "08:00", "Erika Mustermann", "erika@example.org");
    let (status, taken) = post_form(&app, &form).await;
    assert_eq!(status, StatusCode::CONFLICT, "{taken}");
    assert!(taken.contains("Diese Uhrzeit wurde gerade vergeben"), "{taken}");
    // The entered data stays; the day's free times are offered, without the taken one.
    assert!(taken.contains("value=\"Erika Mustermann\""), "{taken}");
    assert!(taken.contains("value=\"erika@example.org\""), "{taken}");
    let offered: Vec<_> = attribute_values(&taken, "input", "value")
        .into_iter()
        .flatten()
        .filter(|value| value.len() == 5 && value.as_bytes()[2] == b':')
        .collect();
    assert_eq!(offered, ["08:12", "08:24", "08:36", "08:48"], "{taken}");
    assert!(taken.contains("type=\"radio\" id=\"uhrzeit-0812\" name=\"time\""));
    assert_accessible(&taken);

    // Sending the form without picking a time asks for one and keeps the values.
    let mut without_time = form.clone();
    without_time.retain(|(name, _)| *name != "time");
    let (status, again) = post_form(&app, &without_time).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{again}");
    assert!(again.contains("<a href=\"#uhrzeit\">Bitte wählen Sie eine Uhrzeit aus.</a>"));
    assert!(again.contains("value=\"Erika Mustermann\""));
    assert_accessible(&again);

    let form = booking_form("personalausweis", "08:24", "Erika Mustermann", "erika@example.org");
    let (status, done) = post_form(&app, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{done}");
    let starts: Vec<DateTime<Utc>> = requested_bookings(&app)
        .await
        .iter()
        .map(|booking| booking["start"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(starts, [at(7, "08:00"), at(7, "08:24")]);
}

async fn invalid_details_keep_the_values_and_mark_the_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue(&app).await;
    let mut form = booking_form("personalausweis", "08:12", "   ", "erika.example.org");
    form.retain(|(name, _)| *name != "phone");
    form.push(("phone", "<b>call me</b>".into()));
    let (status, html) = post_form(&app, &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("<title>Fehler: Ihre Angaben"), "{html}");
    assert!(
        html.contains("<a href=\"#name\">Bitte geben Sie Ihren Namen an.</a>"),
        "{html}"
    );
    assert!(html.contains("<p class=\"error\" id=\"name-fehler\">"), "{html}");
    assert!(
        html.contains("aria-invalid=\"true\" aria-describedby=\"name-fehler\""),
        "{html}"
    );
    assert!(html.contains("<a href=\"#email\">Bitte geben Sie eine gültige E-Mail-Adresse an"));
    assert!(html.contains("aria-describedby=\"email-hinweis email-fehler\" aria-invalid=\"true\""));
    assert!(
        html.contains("value=\"erika.example.org\""),
        "the typed address stays: {html}"
    );
    assert!(html.contains("value=\"&#60;b&#62;call me&#60;/b&#62;\""), "{html}");
    assert!(!html.contains("<b>call me"), "data is escaped");
    // The chosen time stays too.
    assert!(html.contains("name=\"time\" value=\"08:12\""));
    assert_accessible(&html);

    // Only the e-mail wrong: the name is kept, only the e-mail is marked.
    let form = booking_form("personalausweis", "08:12", "Erika Mustermann", "");
    let (status, html) = post_form(&app, &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Bitte geben Sie Ihre E-Mail-Adresse an."));
    assert!(html.contains("value=\"Erika Mustermann\""));
    assert!(!html.contains("name-fehler"), "{html}");

    // A name that would put a link or reversed text into the mail's greeting.
    for (name, message) in [
        (
            "Bitte sofort https://evil.example/x aufrufen",
            "Der Name darf keine Internetadresse enthalten.",
        ),
        (
            "Erika \u{202E}nnamretsuM",
            "Der Name enthält unsichtbare Formatierungszeichen",
        ),
    ] {
        let form = booking_form("personalausweis", "08:12", name, "erika@example.org");
        let (status, html) = post_form(&app, &form).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(html.contains(message), "{name}: {html}");
    }

    assert!(requested_bookings(&app).await.is_empty(), "nothing was booked");
}

async fn missing_or_unknown_choices_get_clear_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue(&app).await;

    // A step reached without the earlier choice shows that choice again, with the reason.
    let (status, html) = page(&app, "/termin/standort").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Bitte wählen Sie mindestens ein Anliegen aus."), "{html}");
    assert!(html.contains("name=\"services\" value=\"personalausweis\""), "{html}");
    assert_accessible(&html);
    let (status, html) = page(&app, "/termin/tag?services=personalausweis").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Bitte wählen Sie ein Bürgerbüro aus."), "{html}");
    assert!(html.contains("name=\"office\" value=\"stadtmitte\""), "{html}");
    assert_accessible(&html);
    let (status, html) = page(
        &app,
        "/termin/uhrzeit?services=personalausweis&office=stadtmitte&date=2026-13-01",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Bitte wählen Sie einen Tag aus."), "{html}");

    // More than ten services.
    for index in 0..10 {
        let service = json!({"name": format!("Anliegen {index}"), "duration_minutes": 5});
        app.staff(Method::PUT, &format!("/api/v1/services/extra-{index}"), service)
            .await;
    }
    let eleven: Vec<String> = (0..10)
        .map(|index| format!("extra-{index}"))
        .chain(["personalausweis".to_owned()])
        .collect();
    let (status, html) = page(&app, &format!("/termin/standort?services={}", eleven.join(","))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("höchstens 10 Anliegen"), "{html}");
    // The choices stay ticked.
    assert!(html.contains("value=\"extra-3\" checked"), "{html}");

    // Unknown office or service: a 404 page, for GET steps and the POST.
    for path in [
        "/termin/standort?services=nonexistent",
        "/termin/tag?services=personalausweis&office=atlantis",
        "/termin/tag?services=personalausweis&office=NOT%20A%20SLUG",
    ] {
        let (status, html) = page(&app, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("gibt es nicht"), "{html}");
        assert_accessible(&html);
    }
    let mut form = booking_form("personalausweis", "08:12", "Erika Mustermann", "erika@example.org");
    form[1] = ("office", "atlantis".into());
    let (status, html) = post_form(&app, &form).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Dieses Bürgerbüro gibt es nicht"), "{html}");
    assert!(requested_bookings(&app).await.is_empty());

    // A mistyped page address: a page for browsers, problem+json for programs.
    let mistyped = app
        .client
        .get(format!("{}/termin/vertippt", app.base))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(mistyped.status(), StatusCode::NOT_FOUND);
    assert_html(&mistyped);
    let html = mistyped.text().await.unwrap();
    assert!(
        html.contains("Seite nicht gefunden") && html.contains("href=\"/\""),
        "{html}"
    );
    assert_accessible(&html);
    let api = app
        .client
        .get(format!("{}/api/v1/vertippt", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    assert_eq!(api.headers()["content-type"], "application/problem+json");
}

async fn too_many_open_bookings_are_explained(backend: Backend) {
    let app = TestApp::spawn_configured(backend, |config| config.max_open_bookings = 1).await;
    catalogue(&app).await;
    let form = booking_form("personalausweis", "08:00", "Erika Mustermann", "erika@example.org");
    let (status, html) = post_form(&app, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    // The same person again, with the address typed differently.
    let form = booking_form("personalausweis", "08:24", "Erika Mustermann", "Erika@Example.org");
    let (status, html) = post_form(&app, &form).await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("Sie haben bereits genug offene Termine"), "{html}");
    assert!(html.contains("höchstens 1 Termine"), "{html}");
    assert_accessible(&html);
    assert_eq!(requested_bookings(&app).await.len(), 1);
}

async fn link_pages_use_the_layout_and_still_act_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue(&app).await;
    let form = booking_form("personalausweis", "08:12", "Erika Mustermann", "erika@example.org");
    let (status, html) = post_form(&app, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let booking = requested_bookings(&app).await[0]["booking"]
        .as_str()
        .unwrap()
        .to_owned();
    let confirm = app.link_token(&booking, "confirm_booking").await;

    let (status, html) = page(&app, &format!("/links/{confirm}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Termin bestätigen?</h1>"), "{html}");
    assert!(
        html.contains("<form method=\"post\"><button type=\"submit\">Termin verbindlich bestätigen</button></form>"),
        "{html}"
    );
    assert!(html.contains("Bürgerbüro Stadtmitte, Sonnenwall 73"), "{html}");
    assert!(html.contains("08:12 bis 08:24 Uhr"), "{html}");
    assert!(html.contains("<meta name=\"robots\" content=\"noindex\">"));
    assert_accessible(&html);

    let press = || async {
        let response = app
            .client
            .post(format!("{}/links/{confirm}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["referrer-policy"], "no-referrer");
        response.text().await.unwrap()
    };
    let done = press().await;
    assert!(done.contains("<h1>Ihr Termin ist bestätigt</h1>"), "{done}");
    assert!(
        done.contains("<dt>Ihre Wartenummer</dt><dd><strong>1</strong></dd>"),
        "{done}"
    );
    assert!(!done.contains("<form"), "{done}");
    assert_accessible(&done);
    let again = press().await;
    assert!(again.contains("Dieser Termin ist bereits bestätigt"), "{again}");
    let (status, state) = app
        .send(Method::GET, &format!("/api/v1/links/{confirm}"), None, None)
        .await;
    assert_eq!(
        (status, state),
        (StatusCode::OK, json!({"action": "confirm_booking", "state": "used"}))
    );

    let (status, html) = page(&app, "/links/not-a-token").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Link unbekannt"));
    assert_accessible(&html);
}

async fn the_stylesheet_is_served_with_focus_outlines(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .client
        .get(format!("{}/assets/site.css", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/css; charset=utf-8");
    let css = response.text().await.unwrap();
    assert!(css.contains(":focus-visible"), "{css}");
    assert!(css.contains("outline: 3px solid"), "{css}");
    // Pages forbid scripts and framing, so no page needs JavaScript or can be clickjacked.
    let response = app.client.get(format!("{}/termin", app.base)).send().await.unwrap();
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    let (status, html) = page(&app, "/termin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Zurzeit können keine Termine online gebucht werden"),
        "{html}"
    );
}

async fn a_form_sent_too_often_gets_a_page_saying_when_to_retry(backend: Backend) {
    let app = TestApp::spawn_configured(backend, |config| config.rate_limit_per_minute = Some(1)).await;
    catalogue(&app).await;
    let form = booking_form("personalausweis", "08:00", "Erika Mustermann", "erika@example.org");
    let (status, html) = post_form(&app, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let response = app
        .client
        .post(format!("{}/termin/buchen", app.base))
        .form(&booking_form(
            "personalausweis",
            "08:24",
            "Max Mustermann",
            "max@example.org",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_html(&response);
    let html = response.text().await.unwrap();
    assert!(html.contains("<h1>Zu viele Anfragen</h1>"), "{html}");
    assert!(
        html.contains(&format!("Bitte warten Sie {retry_after} Sekunden")),
        "{html}"
    );
    assert_accessible(&html);
    assert_eq!(requested_bookings(&app).await.len(), 1);
}

async fn a_wish_is_registered_from_its_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue(&app).await;
    let (status, start) = page(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(start.contains("href=\"/suche\""), "{start}");

    let (status, form) = page(&app, "/suche").await;
    assert_eq!(status, StatusCode::OK);
    assert_accessible(&form);
    for expected in [
        "Bürgerbüro Hamborn",
        "Führerschein &#38; &#60;Umschreibung&#62;",
        "value=\"mon-8\"",
        "value=\"sat-19\"",
    ] {
        assert!(form.contains(expected), "{expected}: {form}");
    }

    let post = |fields: Form| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(format!("{}/suche", app.base))
                .form(&fields)
                .send()
                .await
                .unwrap();
            let status = response.status();
            assert_html(&response);
            (status, response.text().await.unwrap())
        }
    };
    // Nothing chosen: every error at its field, the typed values kept.
    let (status, html) = post(vec![("name", "Erika Mustermann".into()), ("email", "erika@".into())]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_accessible(&html);
    for expected in [
        "href=\"#anliegen\"",
        "href=\"#buergerbueros\"",
        "href=\"#zeiten\"",
        "href=\"#email\"",
        "value=\"Erika Mustermann\"",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }

    // A choice the form never offered is named, not dropped: the citizen
    // would otherwise be registered for less than they asked for.
    for (name, value, anchor) in [
        ("services", "Reise Pass", "href=\"#anliegen\""),
        ("offices", "stadt/mitte", "href=\"#buergerbueros\""),
        ("hours", "monday-8", "href=\"#zeiten\""),
    ] {
        let mut fields: Form = vec![
            ("services", "reisepass".into()),
            ("offices", "stadtmitte".into()),
            ("hours", "mon-8".into()),
            ("name", "Erika Mustermann".into()),
            ("email", "erika@example.org".into()),
        ];
        fields.push((name, value.into()));
        let (status, html) = post(fields).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}={value}");
        assert!(
            html.contains("Wert, den das Formular nicht anbietet") && html.contains(anchor),
            "{html}"
        );
    }
    assert!(app.all_events().await.iter().all(|e| e["type"] != "wish.registered"));

    let fields: Form = vec![
        ("services", "reisepass".into()),
        ("offices", "stadtmitte".into()),
        ("offices", "hamborn".into()),
        ("hours", "mon-8".into()),
        ("hours", "fri-12".into()),
        ("until", "31.12.2099".into()),
        ("name", "Erika Mustermann".into()),
        ("email", "erika@example.org".into()),
    ];
    let (status, html) = post(fields.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    assert!(html.contains("Bitte bestätigen Sie Ihre Terminsuche"), "{html}");
    assert!(html.contains("innerhalb von 2 Stunden"), "{html}");
    let registered = app.wait_for_events("wish.registered", 1).await;
    let data = &registered[0]["data"];
    assert_eq!(data["offices"], json!(["stadtmitte", "hamborn"]));
    assert_eq!(data["windows"], json!({"mon": [8], "fri": [12]}));
    assert_eq!(data["until"], "2099-12-31");

    // The same search again gains nothing.
    let (status, html) = post(fields).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("Diese Suche läuft bereits"), "{html}");
}

/// Forms and link addresses the server cannot read get German pages, not a
/// browser's blank error: a form over 64 KiB, a form not form-encoded, a
/// link whose token is not even UTF-8.
async fn unreadable_forms_and_addresses_get_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue(&app).await;
    let mut huge = booking_form("personalausweis", "08:00", "Erika Mustermann", "erika@example.org");
    huge.push(("note", "x".repeat(70 * 1024)));
    let (status, html) = post_form(&app, &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(html.contains("Zu viele Angaben"), "{html}");
    assert_accessible(&html);

    for path in ["/termin/buchen", "/suche"] {
        let response = app
            .client
            .post(format!("{}{path}", app.base))
            .header("content-type", "text/plain")
            .body("name=Erika")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path}");
        assert_html(&response);
        let html = response.text().await.unwrap();
        assert!(html.contains("Formular nicht lesbar"), "{path}: {html}");
    }
    assert!(requested_bookings(&app).await.is_empty(), "nothing was booked");

    // The booking form's address from a bookmark starts the booking over;
    // another method on a page gets a German page, not JSON.
    let response = app
        .client
        .get(format!("{}/termin/buchen", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!((response.status(), response.url().path()), (StatusCode::OK, "/termin"));
    let response = app
        .client
        .delete(format!("{}/suche", app.base))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_html(&response);
    let html = response.text().await.unwrap();
    assert!(html.contains("Diese Seite gibt es so nicht"), "{html}");
    assert_accessible(&html);

    for method in [Method::GET, Method::POST] {
        let response = app
            .client
            .request(method.clone(), format!("{}/links/%FF%FE", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method}");
        assert_html(&response);
    }
}

/// A form posted from another site books nothing: a browser says so with
/// `Sec-Fetch-Site: cross-site` or a foreign `Origin`. Our own pages (same
/// origin, or `Origin: null` from a page without Referer) and programs
/// without these headers go through.
async fn forms_posted_from_other_sites_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue(&app).await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let post = |path: &'static str, fields: Form, headers: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let mut request = app.client.post(format!("{}{path}", app.base)).form(&fields);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            assert_html(&response);
            (status, response.text().await.unwrap())
        }
    };
    let wish_form: Form = vec![
        ("services", "personalausweis".to_owned()),
        ("offices", "stadtmitte".to_owned()),
        ("name", "Fritz Fremd".to_owned()),
        ("email", "fritz@example.org".to_owned()),
    ];
    for headers in [
        vec![("sec-fetch-site", "cross-site".to_owned())],
        vec![("origin", "https://evil.example".to_owned())],
        vec![
            ("origin", format!("http://{host}")),
            ("sec-fetch-site", "cross-site".to_owned()),
        ],
    ] {
        let form = booking_form("personalausweis", "08:00", "Fritz Fremd", "fritz@example.org");
        let (status, html) = post("/termin/buchen", form, headers.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(html.contains("Anfrage von fremder Seite"), "{html}");
        assert_accessible(&html);
        let (status, _) = post("/suche", wish_form.clone(), headers.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
    }
    assert!(
        app.all_events()
            .await
            .iter()
            .all(|event| event["type"] != "booking.requested" && event["type"] != "wish.registered"),
        "nothing decided"
    );

    for (n, headers) in [
        vec![
            ("origin", format!("http://{host}")),
            ("sec-fetch-site", "same-origin".to_owned()),
        ],
        vec![("origin", "null".to_owned())],
        vec![],
    ]
    .into_iter()
    .enumerate()
    {
        let times = ["08:00", "08:12", "08:24"];
        let form = booking_form(
            "personalausweis",
            times[n],
            "Olga Eigen",
            &format!("olga{n}@example.org"),
        );
        let (status, html) = post("/termin/buchen", form, headers.clone()).await;
        assert!(
            status.is_success() || status.is_redirection(),
            "{headers:?}: {status} {html}"
        );
    }
    assert_eq!(requested_bookings(&app).await.len(), 3, "our own forms book");
}

macro_rules! on_backends {
    (both: $($both:ident),* ; sqlite: $($sqlite:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $both() { super::$both(super::Backend::Postgres).await } )* }
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread")] async fn $both() { super::$both(super::Backend::Sqlite).await } )*
            $( #[tokio::test(flavor = "multi_thread")] async fn $sqlite() { super::$sqlite(super::Backend::Sqlite).await } )*
        }
    };
}

on_backends!(
    both: the_whole_flow_books_a_slot, a_slot_taken_meanwhile_offers_the_days_free_times_again,
        a_wish_is_registered_from_its_page;
    sqlite: invalid_details_keep_the_values_and_mark_the_fields,
        missing_or_unknown_choices_get_clear_pages,
        too_many_open_bookings_are_explained,
        link_pages_use_the_layout_and_still_act_once,
        the_stylesheet_is_served_with_focus_outlines,
        a_form_sent_too_often_gets_a_page_saying_when_to_retry,
        unreadable_forms_and_addresses_get_pages,
        forms_posted_from_other_sites_are_refused,
);
