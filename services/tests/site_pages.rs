//! The installation's face (`--site-config`): the file parsed once and
//! refused with a message naming file and field; the city, logo, colours and
//! legal links on every citizen page; the legal pages from text and as
//! links elsewhere; the office pages with opening hours and what to bring,
//! and a service's description through the API.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use terminagent::config::{Cli, Command, Config, ConfigError, Role};
use terminagent::site::{Site, SiteError};
use terminagent_eventstore::Backend;

/// A complete file: the legal texts kept in it (HTML in them must show as written).
const TEXT_SITE: &str = r##"
city = "Stadt Duisburg"

[logo]
file = "wappen.svg"
alt = "Wappen der Stadt Duisburg"

[colours]
primary = "#0B4F6C"
accent = "#7a1f3d"

[impressum]
text = """
Stadt Duisburg
Burgplatz 19
47051 Duisburg

Vertreten durch den <b>Oberbürgermeister</b>.
"""

[datenschutz]
text = "Wir verarbeiten Ihre Angaben nur für Ihren Termin."

[barrierefreiheit]
stand = "teilweise"
nicht_barrierefreie_inhalte = "Die PDF-Formulare sind noch nicht barrierefrei."
erstellt_am = 2026-11-30
feedback = """
Stadt Duisburg, Bürgerservice
barrierefreiheit@stadt-duisburg.example
"""
durchsetzungsverfahren = "Ombudsstelle für barrierefreie Informationstechnik des Landes NRW"
"##;

/// The legal texts on the city's own site.
const LINKED_SITE: &str = r##"
city = "Stadt Moers"

[impressum]
url = "https://www.moers.example/impressum"

[datenschutz]
url = "https://www.moers.example/datenschutz"

[barrierefreiheit]
url = "https://www.moers.example/barrierefreiheit"
"##;

const SVG: &str =
    r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>"#;

/// A folder of its own with `site.toml` holding `text` and the logo beside it.
struct SiteDir(PathBuf);

impl SiteDir {
    fn new(text: &str) -> SiteDir {
        let dir = std::env::temp_dir().join(format!("terminagent-site-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("wappen.svg"), SVG).unwrap();
        std::fs::write(dir.join("site.toml"), text).unwrap();
        SiteDir(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("site.toml")
    }
}

impl Drop for SiteDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn site(text: &str) -> Arc<Site> {
    let dir = SiteDir::new(text);
    Arc::new(Site::load(&dir.file()).unwrap_or_else(|error| panic!("{error}")))
}

/// What `terminagent serve --site-config FILE` makes of the file.
fn config_with(file: &Path) -> Result<Config, ConfigError> {
    let cli = Cli::try_parse_from(["terminagent", "serve", "--site-config", file.to_str().unwrap()]).unwrap();
    let Command::Serve(args) = cli.command else {
        unreachable!()
    };
    Config::from_args(Role::All, args)
}

/// The error for `text` in place of `old` in the complete file.
fn refusal(old: &str, new: &str) -> String {
    assert!(TEXT_SITE.contains(old), "{old}");
    let dir = SiteDir::new(&TEXT_SITE.replacen(old, new, 1));
    let error = config_with(&dir.file()).expect_err("refused");
    let message = error.to_string();
    assert!(
        message.contains(&dir.file().display().to_string()),
        "names the file: {message}"
    );
    message
}

#[test]
fn a_good_file_is_parsed_into_the_site() {
    let dir = SiteDir::new(TEXT_SITE);
    let config = config_with(&dir.file()).unwrap();
    let site = &config.site;
    assert_eq!(site.city(), "Stadt Duisburg");
    let logo = site.logo().expect("a logo");
    assert_eq!(
        (logo.alt(), logo.content_type()),
        ("Wappen der Stadt Duisburg", "image/svg+xml")
    );
    assert_eq!(logo.bytes(), SVG.as_bytes());
    assert_eq!(site.colours().primary.to_string(), "#0b4f6c");
    assert_eq!(site.impressum_href(), "/impressum");
    let linked = self::site(LINKED_SITE);
    assert_eq!(linked.impressum_href(), "https://www.moers.example/impressum");
    assert_eq!(
        linked.barrierefreiheit_href(),
        "https://www.moers.example/barrierefreiheit"
    );
    assert!(linked.logo().is_none());
    // No file: neutral; the environment variable names the file as the flag does.
    let cli = Cli::try_parse_from(["terminagent", "serve"]).unwrap();
    let Command::Serve(args) = cli.command else {
        unreachable!()
    };
    assert_eq!(*Config::from_args(Role::All, args).unwrap().site, Site::default());
}

#[test]
fn the_operators_example_file_holds() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/site.example.toml");
    let site = Site::load(&example).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(site.city(), "Stadt Duisburg");
    assert_eq!(site.impressum_href(), "https://www.duisburg.de/impressum");
    assert_eq!(site.datenschutz_href(), "/datenschutz");
    assert_eq!(site.barrierefreiheit_href(), "/barrierefreiheit");
}

#[test]
fn a_bad_colour_is_refused_naming_the_field() {
    let message = refusal(r##"primary = "#0B4F6C""##, r##"primary = "dunkelblau""##);
    assert!(
        message.contains("colours.primary") && message.contains("#rrggbb"),
        "{message}"
    );
    let message = refusal(r##"accent = "#7a1f3d""##, r##"accent = "#7a1f3""##);
    assert!(message.contains("colours.accent"), "{message}");
}

#[test]
fn a_colour_without_aa_contrast_to_white_is_refused() {
    let message = refusal(r##"accent = "#7a1f3d""##, r##"accent = "#ffbf47""##);
    assert!(
        message.contains("colours.accent") && message.contains("4.5:1") && message.contains("contrast of 1."),
        "{message}"
    );
    // Just below AA is below AA.
    let message = refusal(r##"primary = "#0B4F6C""##, r##"primary = "#777777""##);
    assert!(
        message.contains("colours.primary") && message.contains("4.48:1"),
        "{message}"
    );
}

#[test]
fn a_missing_field_or_section_is_named() {
    let message = refusal(r#"city = "Stadt Duisburg""#, "");
    assert!(message.contains("missing field `city`"), "{message}");
    let message = refusal(r#"stand = "teilweise""#, "");
    assert!(
        message.contains("barrierefreiheit.stand") && message.contains("missing"),
        "{message}"
    );
    let message = refusal(r#"text = "Wir verarbeiten Ihre Angaben nur für Ihren Termin.""#, "");
    assert!(
        message.contains("datenschutz") && message.contains("give url"),
        "{message}"
    );
    let message = refusal("[impressum]", "[impresum]");
    assert!(message.contains("impresum"), "a misspelt section is named: {message}");
    let message = refusal(r#"file = "wappen.svg""#, r#"file = "fehlt.svg""#);
    assert!(
        message.contains("logo.file") && message.contains("fehlt.svg"),
        "{message}"
    );
    let message = refusal("erstellt_am = 2026-11-30", r#"erstellt_am = "gestern""#);
    assert!(message.contains("erstellt_am"), "{message}");
}

#[test]
fn an_unreadable_file_is_named() {
    let missing = std::env::temp_dir().join("terminagent-site-that-does-not-exist.toml");
    let error = config_with(&missing).unwrap_err();
    assert!(
        matches!(error, ConfigError::Site(SiteError::Unreadable { .. })),
        "{error}"
    );
    assert!(
        error.to_string().contains("terminagent-site-that-does-not-exist.toml"),
        "{error}"
    );
}

async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// Two offices (one with hours, holidays and closed days), two services (one
/// with what to bring), one lane of capacity a week ahead.
async fn catalogue(app: &TestApp) {
    let next_year = chrono::Utc::now()
        .date_naive()
        .format("%Y")
        .to_string()
        .parse::<i32>()
        .unwrap()
        + 1;
    let office = json!({
        "name": "Bürger-Service-Station Stadtmitte",
        "address": "Sonnenwall 73-75\n47051 Duisburg",
        "timezone": "Europe/Berlin",
        "opening_hours": {"mon": [["08:00", "12:00"], ["14:00", "18:00"]], "thu": [["08:00", "18:00"]]},
        "holidays": "DE-NW",
        "closed_days": [format!("{next_year}-06-02"), "2020-01-02"],
    });
    let (status, answer) = app.staff(Method::PUT, "/api/v1/offices/stadtmitte", office).await;
    assert!(status.is_success(), "{answer}");
    let office = json!({"name": "Hamborn", "timezone": "Europe/Berlin"});
    let (status, answer) = app.staff(Method::PUT, "/api/v1/offices/hamborn", office).await;
    assert!(status.is_success(), "{answer}");
    let service = json!({
        "name": "Personalausweis",
        "duration_minutes": 12,
        "description": "Ihr bisheriger Ausweis\nein biometrisches Passfoto <jpg>\n\nGebühr: 37 Euro",
    });
    let (status, answer) = app
        .staff(Method::PUT, "/api/v1/services/personalausweis", service)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let service = json!({"name": "Meldebescheinigung", "duration_minutes": 12});
    let (status, answer) = app
        .staff(Method::PUT, "/api/v1/services/meldebescheinigung", service)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let day = (chrono::Utc::now().date_naive() + chrono::Days::new(7)).to_string();
    let capacity = json!({"date": day, "from": "08:00", "to": "09:00", "unit_minutes": 12, "lanes": 1});
    let (status, answer) = app
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
        .await;
    // A week ahead may fall on a closed weekday of these hours; the pages do not need it.
    assert!(
        status == StatusCode::CREATED || status == StatusCode::CONFLICT,
        "{answer}"
    );
}

/// Every page a citizen reaches without a mail link, and the error pages.
const CITIZEN_PAGES: [(&str, u16); 12] = [
    ("/", 200),
    ("/termin", 200),
    ("/termin/standort?services=personalausweis", 200),
    ("/termin/tag?services=personalausweis&office=stadtmitte", 200),
    ("/suche", 200),
    ("/standorte", 200),
    ("/standorte/stadtmitte", 200),
    ("/impressum", 200),
    ("/datenschutz", 200),
    ("/barrierefreiheit", 200),
    ("/gibt-es-nicht", 404),
    ("/links/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 404),
];

async fn configured(site: Arc<Site>) -> TestApp {
    TestApp::spawn_configured(Backend::Sqlite, move |config| config.site = site).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_citizen_page_shows_the_city_logo_colours_and_legal_footer() {
    let app = configured(site(TEXT_SITE)).await;
    catalogue(&app).await;
    for (path, status) in CITIZEN_PAGES {
        let (got, html) = page(&app, path).await;
        assert_eq!(got.as_u16(), status, "{path}: {html}");
        assert!(
            html.contains(" – Terminvergabe Stadt Duisburg</title>"),
            "{path}: title"
        );
        assert!(
            html.contains(r#"<img class="site-logo" src="/assets/logo" alt="Wappen der Stadt Duisburg">"#),
            "{path}: logo"
        );
        assert!(
            html.contains(r#"<link rel="stylesheet" href="/assets/farben.css">"#),
            "{path}: colours"
        );
        let footer = &html[html.find("<footer").unwrap_or_else(|| panic!("{path}: no footer"))..];
        for link in [
            r#"<a href="/impressum">Impressum</a>"#,
            r#"<a href="/datenschutz">Datenschutz</a>"#,
            r#"<a href="/barrierefreiheit">Barrierefreiheit</a>"#,
        ] {
            assert!(footer.contains(link), "{path}: {link}");
        }
    }
    let response = app
        .client
        .get(format!("{}/assets/farben.css", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/css; charset=utf-8");
    let css = response.text().await.unwrap();
    assert!(
        css.contains("--primary: #0b4f6c;") && css.contains("--accent: #7a1f3d;"),
        "{css}"
    );
    let response = app
        .client
        .get(format!("{}/assets/logo", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    assert_eq!(response.text().await.unwrap(), SVG);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_legal_pages_show_the_texts_kept_in_the_file_escaped() {
    let app = configured(site(TEXT_SITE)).await;
    let (status, html) = page(&app, "/impressum").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Impressum</h1>"), "{html}");
    assert!(
        html.contains("<p>Stadt Duisburg<br>Burgplatz 19<br>47051 Duisburg</p>"),
        "{html}"
    );
    assert!(
        html.contains("<p>Vertreten durch den &#60;b&#62;Oberbürgermeister&#60;/b&#62;.</p>")
            || html.contains("<p>Vertreten durch den &lt;b&gt;Oberbürgermeister&lt;/b&gt;.</p>"),
        "no raw HTML: {html}"
    );
    let (_, html) = page(&app, "/datenschutz").await;
    assert!(
        html.contains("<h1>Datenschutzerklärung</h1>") && html.contains("nur für Ihren Termin"),
        "{html}"
    );
    let (_, html) = page(&app, "/barrierefreiheit").await;
    let headings = [
        "<h1>Erklärung zur Barrierefreiheit</h1>",
        "<h2>Stand der Vereinbarkeit mit den Anforderungen</h2>",
        "teilweise vereinbar",
        "<h2>Nicht barrierefreie Inhalte</h2>",
        "Die PDF-Formulare sind noch nicht barrierefrei.",
        "<h2>Erstellung dieser Erklärung</h2>",
        "am 30.11.2026 erstellt",
        "<h2>Feedback und Kontaktangaben</h2>",
        "Stadt Duisburg, Bürgerservice<br>barrierefreiheit@stadt-duisburg.example",
        "<h2>Durchsetzungsverfahren (Schlichtungsstelle)</h2>",
        "Ombudsstelle für barrierefreie Informationstechnik des Landes NRW",
    ];
    let mut from = 0;
    for part in headings {
        let at = html[from..]
            .find(part)
            .unwrap_or_else(|| panic!("{part} (in order): {html}"));
        from += at + part.len();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn legal_texts_elsewhere_are_linked_and_our_addresses_lead_there() {
    let app = configured(site(LINKED_SITE)).await;
    let (_, html) = page(&app, "/").await;
    assert!(
        html.contains("Terminvergabe Stadt Moers</title>") && !html.contains("site-logo"),
        "{html}"
    );
    for (name, label) in [
        ("impressum", "Impressum"),
        ("datenschutz", "Datenschutz"),
        ("barrierefreiheit", "Barrierefreiheit"),
    ] {
        let url = format!("https://www.moers.example/{name}");
        assert!(
            html.contains(&format!(r#"<a href="{url}">{label}</a>"#)),
            "{label}: {html}"
        );
        let not_following = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = not_following.get(format!("{}/{name}", app.base)).send().await.unwrap();
        assert!(response.status().is_redirection(), "{name}: {}", response.status());
        assert_eq!(response.headers()["location"], url.as_str());
    }
    let response = app
        .client
        .get(format!("{}/assets/logo", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "no logo configured");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_file_the_pages_are_neutral_and_say_the_texts_are_missing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, html) = page(&app, "/").await;
    assert!(
        html.contains("Terminvergabe Bürgerbüro</title>") && !html.contains("site-logo"),
        "{html}"
    );
    assert!(html.contains(r#"<a href="/impressum">Impressum</a>"#), "{html}");
    for (path, missing) in [
        ("/impressum", "hat das Impressum noch nicht hinterlegt"),
        ("/datenschutz", "hat die Datenschutzerklärung noch nicht hinterlegt"),
        (
            "/barrierefreiheit",
            "hat die Erklärung zur Barrierefreiheit noch nicht hinterlegt",
        ),
    ] {
        let (status, html) = page(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(html.contains(missing), "{path}: {html}");
    }
    let css = app
        .client
        .get(format!("{}/assets/farben.css", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(css.contains("--primary: #00457d;"), "{css}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_office_page_shows_address_hours_and_what_to_bring() {
    let app = configured(site(TEXT_SITE)).await;
    catalogue(&app).await;
    let (status, html) = page(&app, "/standorte").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"<a href="/standorte/stadtmitte">Bürger-Service-Station Stadtmitte</a>"#)
            && html.contains(r#"<a href="/standorte/hamborn">Hamborn</a>"#),
        "{html}"
    );
    let (status, html) = page(&app, "/standorte/stadtmitte").await;
    assert_eq!(status, StatusCode::OK);
    for part in [
        "<h1>Bürger-Service-Station Stadtmitte</h1>",
        "<address>Sonnenwall 73-75<br>47051 Duisburg</address>",
        r#"<tr><th scope="row">Montag</th><td>08:00–12:00 Uhr und 14:00–18:00 Uhr</td></tr>"#,
        r#"<tr><th scope="row">Dienstag</th><td>geschlossen</td></tr>"#,
        r#"<tr><th scope="row">Donnerstag</th><td>08:00–18:00 Uhr</td></tr>"#,
        "An den gesetzlichen Feiertagen in Nordrhein-Westfalen ist das Bürgerbüro geschlossen.",
        "<h2>Was Sie mitbringen müssen</h2>",
        "<h3>Personalausweis <span class=\"hint\">(etwa 12 Minuten)</span></h3>",
        "<p>Ihr bisheriger Ausweis<br>ein biometrisches Passfoto &#60;jpg&#62;</p>",
        "<p>Gebühr: 37 Euro</p>",
        "<h3>Meldebescheinigung",
        "Hierzu sind keine Unterlagen angegeben.",
    ] {
        let part = part.replace("&#60;", "&lt;").replace("&#62;", "&gt;");
        let alt = part.replace("&lt;", "&#60;").replace("&gt;", "&#62;");
        assert!(html.contains(&part) || html.contains(&alt), "{part}: {html}");
    }
    // Closed days: the coming one, not the past one.
    assert!(html.contains("Außerdem geschlossen") && html.contains(".06."), "{html}");
    assert!(!html.contains("02.01.2020"), "{html}");
    // No fixed hours: said so.
    let (_, html) = page(&app, "/standorte/hamborn").await;
    assert!(html.contains("keine festen Öffnungszeiten"), "{html}");
    // The booking flow's office choice links to the office pages.
    let (_, html) = page(&app, "/termin/standort?services=personalausweis").await;
    assert!(html.contains(r#"<a href="/standorte/stadtmitte">"#), "{html}");
    assert!(html.contains(r#"<a href="/standorte/hamborn">"#), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_office_is_the_german_404_page() {
    let app = configured(site(TEXT_SITE)).await;
    catalogue(&app).await;
    for path in ["/standorte/atlantis", "/standorte/NICHT_GUELTIG"] {
        let (status, html) = page(&app, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("<h1>Seite nicht gefunden</h1>"), "{path}: {html}");
        assert!(
            html.contains("Terminvergabe Stadt Duisburg</title>") && html.contains("<footer"),
            "{path}"
        );
    }
}

async fn description_through_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let text = "Ihr bisheriger Ausweis\nein biometrisches Passfoto";
    let described = json!({"name": "Personalausweis", "duration_minutes": 12, "description": text});
    let (status, answer) = app
        .staff(Method::PUT, "/api/v1/services/personalausweis", described.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["description"], text);
    let (status, answer) = app
        .staff(Method::PUT, "/api/v1/services/personalausweis", described)
        .await;
    assert_eq!(status, StatusCode::OK, "the same again: {answer}");
    let (_, services) = app.get("/api/v1/services").await;
    assert_eq!(services[0]["description"], text, "{services}");
    // Too long or with control characters: refused, naming the field.
    for bad in ["x".repeat(2001), "Foto\u{7}".to_owned()] {
        let body = json!({"name": "Personalausweis", "duration_minutes": 12, "description": bad});
        let (status, answer) = app.staff(Method::PUT, "/api/v1/services/personalausweis", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(
            answer["detail"].as_str().unwrap().starts_with("description:"),
            "{answer}"
        );
    }
    let (status, _) = app
        .staff(
            Method::PUT,
            "/api/v1/services/personalausweis",
            json!({"name": "Personalausweis", "duration_minutes": 12, "description": "ü".repeat(2000)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "2000 characters are allowed");
    // Left out: none (a PUT replaces every detail); a service without one says null.
    let (status, answer) = app
        .staff(
            Method::PUT,
            "/api/v1/services/personalausweis",
            json!({"name": "Personalausweis", "duration_minutes": 12}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["description"], Value::Null);
    let (_, services) = app.get("/api/v1/services").await;
    assert_eq!(services[0]["description"], Value::Null, "{services}");
    // The log: the field only where there is a description.
    let events = app.all_events().await;
    let services: Vec<&Value> = events
        .iter()
        .filter(|event| event["type"].as_str().unwrap().starts_with("service."))
        .collect();
    assert_eq!(services.len(), 3, "{services:?}");
    assert_eq!(services[0]["type"], "service.registered");
    assert_eq!(services[0]["data"]["description"], text);
    assert!(services[2]["data"].get("description").is_none(), "{}", services[2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn description_through_the_api_sqlite() {
    description_through_the_api(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn description_through_the_api_postgres() {
    description_through_the_api(Backend::Postgres).await;
}
