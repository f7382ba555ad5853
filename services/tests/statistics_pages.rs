//! The statistics pages (`/staff/statistik`, issue 14) on both backends:
//! a small office day made through the API, then read by a lead (their
//! office only), an auditor (every office and all together) and a clerk
//! (not at all); the tables against the JSON of `GET /api/v1/statistics`,
//! the SVG charts well-formed and carrying the tables' numbers, and the CSV
//! and XLSX downloads against the API.

mod support;

use std::io::Cursor;
use std::sync::Arc;

use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Utc};
use regex::Regex;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use support::{ManualClock, TOKEN, TestApp};
use terminagent::application::{Executor, SystemClock};
use terminagent_domain::StaffId;
use terminagent_eventstore::Backend;

const PASSWORD: &str = "ein-langes-geheimes-Passwort";

/// The outcomes of the bookings chart and its table, in their order.
const OUTCOMES: [&str; 5] = ["served", "missed", "cancelled", "lapsed", "other"];

struct Day {
    app: TestApp,
    clock: Arc<ManualClock>,
    day: NaiveDate,
    secret: terminagent::links::LinkSecret,
}

impl Day {
    fn t(&self, time: &str) -> DateTime<Utc> {
        self.day
            .and_time(NaiveTime::parse_from_str(time, "%H:%M").unwrap())
            .and_utc()
    }

    fn at(&self, time: &str) {
        self.clock.set(self.t(time));
    }

    async fn press(&self, subject: &str, action: &str) -> Value {
        let token = self.secret.token(subject, action);
        let (status, answer) = self
            .app
            .send(Method::POST, &format!("/api/v1/links/{}", token.as_str()), None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }

    async fn request(&self, office: &str, start: &str, email: &str) -> String {
        let body = json!({"office": office, "services": ["ausweis"], "start": self.t(start).to_rfc3339(),
                          "citizen": {"name": "Erika Mustermann", "email": email}});
        let (status, requested) = self.app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{requested}");
        requested["booking_id"].as_str().unwrap().to_owned()
    }

    /// Requested and confirmed by its link: (id, check-in code).
    async fn book(&self, office: &str, start: &str, email: &str) -> (String, String) {
        let id = self.request(office, start, email).await;
        let pressed = self.press(&id, "confirm_booking").await;
        (id, pressed["booking"]["check_in_code"].as_str().unwrap().to_owned())
    }

    async fn post(&self, token: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.app.send(Method::POST, path, Some(token), body).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }

    /// The API's JSON (as the admin token).
    async fn json(&self, query: &str) -> Value {
        let (status, answer) = self
            .app
            .send(Method::GET, &format!("/api/v1/statistics?{query}"), Some(TOKEN), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }
}

/// An account with `roles` and a password.
async fn account(app: &TestApp, email: &str, roles: Value) {
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
    terminagent::application::staff::set_password(&executor, StaffId::parse(&staff_id).unwrap(), PASSWORD, false)
        .await
        .unwrap();
    store.close().await;
}

/// A signed-in browser (cookie jar, no redirects followed).
async fn signed_in(app: &TestApp, email: &str) -> Client {
    let client = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .post(format!("{}/staff/login", app.base))
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    client
}

async fn page(app: &TestApp, client: &Client, path: &str) -> (StatusCode, String) {
    let response = client.get(format!("{}{path}", app.base)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Offices `mitte` (3 lanes, 15 units) and `nord` (1 lane, 5 units) on UTC,
/// 09:00–10:00 ten days ahead, and the day: at `mitte` Anna (09:00) served,
/// Bert (09:00) missed, Carl (09:12) cancelled by his link, Emil (09:24)
/// lapsed, Dora (09:24) confirmed and not yet due; at `nord` Fred (09:00)
/// missed. The clock ends at 09:20. Accounts: a lead of each office,
/// a clerk of `mitte`, an auditor.
async fn office_day(backend: Backend) -> Day {
    let day = Utc::now().date_naive() + Days::new(10);
    let clock = ManualClock::at(day.and_hms_opt(7, 0, 0).unwrap().and_utc());
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    for office in ["mitte", "nord"] {
        let body = json!({"name": format!("Bürgerbüro {office}"), "address": "Markt 1", "timezone": "UTC"});
        let (status, _) = app.staff(Method::PUT, &format!("/api/v1/offices/{office}"), body).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let service = json!({"name": "Personalausweis", "duration_minutes": 12, "walk_in": true});
    let (status, _) = app.staff(Method::PUT, "/api/v1/services/ausweis", service).await;
    assert_eq!(status, StatusCode::CREATED);
    for (office, lanes) in [("mitte", 3), ("nord", 1)] {
        let capacity =
            json!({"date": day.to_string(), "from": "09:00", "to": "10:00", "unit_minutes": 12, "lanes": lanes});
        let (status, answer) = app
            .staff(Method::POST, &format!("/api/v1/offices/{office}/capacity"), capacity)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    account(&app, "lena@stadt.example", json!([{"role": "lead", "office": "mitte"}])).await;
    account(&app, "nils@stadt.example", json!([{"role": "lead", "office": "nord"}])).await;
    account(
        &app,
        "karl@stadt.example",
        json!([{"role": "clerk", "office": "mitte"}]),
    )
    .await;
    account(&app, "anke@stadt.example", json!([{"role": "auditor"}])).await;
    let secret = app.link_secret().await;
    let d = Day {
        app,
        clock,
        day,
        secret,
    };

    let (anna, anna_code) = d.book("mitte", "09:00", "anna@example.org").await;
    let (_bert, _) = d.book("mitte", "09:00", "bert@example.org").await;
    let (carl, _) = d.book("mitte", "09:12", "carl@example.org").await;
    let _emil = d.request("mitte", "09:24", "emil@example.org").await;
    let _dora = d.book("mitte", "09:24", "dora@example.org").await;
    let _fred = d.book("nord", "09:00", "fred@example.org").await;
    d.at("08:00");
    d.press(&carl, "cancel_booking").await;
    d.at("08:50");
    d.post(
        TOKEN,
        "/api/v1/offices/mitte/check-ins",
        Some(json!({"code": anna_code})),
    )
    .await;
    d.at("09:02");
    d.app.wait_for_events("booking.lapsed", 1).await;
    let called = d.post(TOKEN, "/api/v1/offices/mitte/counters/1/next", None).await;
    assert_eq!(called["booking_id"], json!(anna));
    d.at("09:03");
    d.post(TOKEN, &format!("/api/v1/visits/{anna}/start"), None).await;
    d.at("09:10");
    d.post(TOKEN, &format!("/api/v1/visits/{anna}/finish"), None).await;
    d.at("09:20");
    d.app.wait_for_events("visit.missed", 1).await;
    d
}

/// The cells of the table row `<tr data-…="key">` of table `table`.
fn row_cells(html: &str, table: &str, key: &str) -> Vec<String> {
    let start = html
        .find(&format!(r#"<table class="data" id="{table}">"#))
        .or_else(|| html.find(&format!(r#"id="{table}">"#)))
        .unwrap_or_else(|| panic!("no table {table}"));
    let table_html = &html[start..start + html[start..].find("</table>").unwrap()];
    let row = Regex::new(&format!(r#"<tr data-(?:date|key)="{}">(.*?)</tr>"#, regex::escape(key))).unwrap();
    let row = row
        .captures(table_html)
        .unwrap_or_else(|| panic!("no row {key} in {table_html}"))[1]
        .to_owned();
    let cell = Regex::new(r"<t[dh][^>]*>(.*?)</t[dh]>").unwrap();
    cell.captures_iter(&row).map(|c| c[1].to_owned()).collect()
}

/// The summary's value of CSV column `key` (German, as shown).
fn summary_value(html: &str, key: &str) -> String {
    let row = Regex::new(&format!(
        r#"<tr data-key="{key}"><th scope="row">[^<]*</th><td>([^<]*)</td></tr>"#
    ))
    .unwrap();
    row.captures(html).unwrap_or_else(|| panic!("no summary {key}"))[1].to_owned()
}

/// The `<svg id="{id}">…</svg>` of the page.
fn svg<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!(r#"<svg xmlns="http://www.w3.org/2000/svg" id="{id}""#))
        .unwrap_or_else(|| panic!("no chart {id}"));
    let end = start + html[start..].find("</svg>").unwrap() + "</svg>".len();
    &html[start..end]
}

/// Well-formed enough: every tag closed in order, attributes quoted, no
/// stray `<` or `&` in text, no `style` attributes (the CSP forbids them).
fn assert_well_formed(svg: &str) {
    let tag = Regex::new(r#"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z][a-zA-Z0-9:-]*="[^"<]*")*)\s*(/?)>"#).unwrap();
    let entity = Regex::new(r"&(?:[a-z]+|#[0-9]+);").unwrap();
    let mut open: Vec<String> = Vec::new();
    let mut last = 0;
    for captures in tag.captures_iter(svg) {
        let whole = captures.get(0).unwrap();
        let text = &svg[last..whole.start()];
        assert!(!text.contains('<') && !text.contains('>'), "stray markup in {text:?}");
        assert!(entity.replace_all(text, "").find('&').is_none(), "bare & in {text:?}");
        last = whole.end();
        let name = captures[2].to_owned();
        assert!(
            !captures[3].contains(" style="),
            "style attribute in {}",
            whole.as_str()
        );
        match (&captures[1], &captures[4]) {
            (_, "/") => {}
            ("/", _) => assert_eq!(open.pop().as_deref(), Some(name.as_str()), "closing {name}"),
            _ => open.push(name),
        }
    }
    assert_eq!(last, svg.len(), "the SVG ends with a tag");
    assert!(open.is_empty(), "unclosed {open:?}");
}

/// The `data-value` of the bar (`data-x`, `data-series`); `None`: no bar.
fn bar(svg: &str, x: &str, series: &str) -> Option<f64> {
    let pattern = Regex::new(&format!(
        r#"data-x="{}" data-series="{series}" data-value="([0-9.]+)""#,
        regex::escape(x)
    ))
    .unwrap();
    pattern.captures(svg).map(|c| c[1].parse().unwrap())
}

/// Every row of `table` (keyed by `data-key`) is a column of `chart`: its
/// last `columns` cells are the bars of `series`, in order.
fn chart_carries_its_table(html: &str, chart: &str, table: &str, series: &[&str], columns: usize) {
    let start = html
        .find(&format!(r#"id="{table}">"#))
        .unwrap_or_else(|| panic!("no table {table}"));
    let table_html = &html[start..start + html[start..].find("</table>").unwrap()];
    let keys: Vec<String> = Regex::new(r#"<tr data-key="([^"]+)">"#)
        .unwrap()
        .captures_iter(table_html)
        .map(|c| c[1].to_owned())
        .collect();
    assert!(!keys.is_empty(), "{table} has rows");
    let drawn = svg(html, chart);
    for key in keys {
        let cells = row_cells(html, table, &key);
        let numbers = &cells[cells.len() - columns..];
        for (series, cell) in series.iter().zip(numbers) {
            let value = bar(drawn, &key, series).unwrap_or_else(|| panic!("{chart}: no bar {key} {series}"));
            assert_eq!(&german(value), cell, "{chart} {key} {series}");
        }
    }
}

fn german(value: f64) -> String {
    let text = if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        value.to_string()
    };
    text.replace('.', ",")
}

/// A lead reads their office: the tables hold the JSON's numbers, the
/// charts the tables'; other offices and all together are refused, and a
/// clerk reads nothing.
async fn a_lead_reads_their_office(backend: Backend) {
    let d = office_day(backend).await;
    let date = d.day.to_string();
    let lena = signed_in(&d.app, "lena@stadt.example").await;
    let (status, start) = page(&d.app, &lena, "/staff").await;
    assert_eq!(status, StatusCode::OK);
    assert!(start.contains("/staff/statistik?buero=mitte"), "{start}");

    let path = format!("/staff/statistik?buero=mitte&von={date}&bis={date}");
    let (status, html) = page(&d.app, &lena, &path).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let json = d.json(&format!("office=mitte&from={date}&to={date}")).await;
    assert_eq!(
        (
            &json["bookings"]["served"],
            &json["bookings"]["missed"],
            &json["bookings"]["cancelled"],
            &json["bookings"]["lapsed"],
            &json["bookings"]["online"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(1), &json!(5)),
        "{json}"
    );
    // The bookings' table: served, missed, cancelled, lapsed, other, together.
    assert_eq!(
        row_cells(&html, "tabelle-buchungen", &date)[1..],
        ["1", "1", "1", "1", "1", "5"]
    );
    for (key, pointer) in [
        ("online", "/bookings/online"),
        ("confirmed", "/bookings/confirmed"),
        ("served", "/bookings/served"),
        ("published_units", "/published_units"),
        ("booked_units", "/booked_units"),
        ("wishes_registered", "/waitlist/registered"),
    ] {
        assert_eq!(
            summary_value(&html, key),
            json.pointer(pointer).unwrap().to_string(),
            "{key}"
        );
    }
    let utilisation = json["utilisation"].as_f64().unwrap();
    let percent = (utilisation * 1000.0).round() / 10.0;
    assert_eq!(summary_value(&html, "utilisation"), format!("{} %", german(percent)));
    assert_eq!(
        summary_value(&html, "waiting_p50_minutes"),
        german(json["waiting_minutes"]["p50"].as_f64().unwrap())
    );

    // The charts: well-formed, named, and the table's numbers on the bars.
    let bookings = svg(&html, "diagramm-buchungen");
    assert_well_formed(bookings);
    assert!(bookings.contains(r#"role="img" aria-labelledby="diagramm-buchungen-titel""#));
    assert!(bookings.contains(r#"<title id="diagramm-buchungen-titel">Buchungen je Tag"#));
    for outcome in OUTCOMES {
        assert_eq!(bar(bookings, &date, outcome), Some(1.0), "{outcome}");
    }
    let per_day = svg(&html, "diagramm-auslastung");
    assert_well_formed(per_day);
    assert_eq!(bar(per_day, &date, "utilisation"), Some(percent));
    let utilisation_row = row_cells(&html, "tabelle-auslastung", &date);
    assert_eq!(
        utilisation_row[1..],
        [
            json["published_units"].to_string(),
            json["booked_units"].to_string(),
            format!("{} %", german(percent))
        ]
    );
    // A day without anything: no utilisation bar, "–" in the table.
    let next = d.day + Days::new(1);
    let (status, html) = page(
        &d.app,
        &lena,
        &format!("/staff/statistik?buero=mitte&von={date}&bis={next}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        bar(svg(&html, "diagramm-auslastung"), &next.to_string(), "utilisation"),
        None
    );
    assert_eq!(row_cells(&html, "tabelle-auslastung", &next.to_string())[3], "–");

    // Waiting by hour of the start: anna's, called 09:02 for 09:00 (2 minutes),
    // the only call — median and 90th percentile 2 minutes at 9 o'clock.
    let by_hour = &json["by_hour"];
    assert_eq!(
        (
            &by_hour[0]["hour"],
            &by_hour[0]["waiting_seconds"]["p50"],
            &by_hour[0]["waiting_seconds"]["p90"]
        ),
        (&json!(9), &json!(120), &json!(120)),
        "{by_hour}"
    );
    let hours = svg(&html, "diagramm-wartezeit-stunden");
    assert_well_formed(hours);
    assert!(hours.contains(r#"<title id="diagramm-wartezeit-stunden-titel">Wartezeit nach Uhrzeit"#));
    assert_eq!(row_cells(&html, "tabelle-wartezeit-stunden", "9")[1..], ["1", "2", "2"]);
    chart_carries_its_table(
        &html,
        "diagramm-wartezeit-stunden",
        "tabelle-wartezeit-stunden",
        &["p50", "p90"],
        2,
    );

    // The waitlist: a wish registered now (09:20) is the day's inflow, and
    // waits at the end of the day and the next.
    let weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][d.day.weekday().num_days_from_monday() as usize];
    let wish = json!({"offices": ["mitte"], "services": ["ausweis"], "windows": {weekday: [10]},
                      "citizen": {"name": "Wanda Wunsch", "email": "wanda@example.org"}});
    let (status, answer) = d.app.send(Method::POST, "/api/v1/wishes", None, Some(wish)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, html) = page(
        &d.app,
        &lena,
        &format!("/staff/statistik?buero=mitte&von={date}&bis={next}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let next = next.to_string();
    for (chart, table, series, on_day, on_next) in [
        (
            "diagramm-warteliste-zugang",
            "tabelle-warteliste-zugang",
            "registered",
            1.0,
            0.0,
        ),
        (
            "diagramm-warteliste-bestand",
            "tabelle-warteliste-bestand",
            "waiting",
            1.0,
            1.0,
        ),
    ] {
        let drawn = svg(&html, chart);
        assert_well_formed(drawn);
        assert_eq!(bar(drawn, &date, series), Some(on_day), "{chart}");
        assert_eq!(bar(drawn, &next, series), Some(on_next), "{chart}");
        chart_carries_its_table(&html, chart, table, &[series], 1);
    }

    // Without an office: hers.
    let (status, html) = page(&d.app, &lena, "/staff/statistik").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<p class=\"step\">Bürgerbüro mitte</p>"), "{html}");
    // Not another office, not all together.
    for path in [
        format!("/staff/statistik?buero=nord&von={date}&bis={date}"),
        format!("/staff/statistik?buero=alle&von={date}&bis={date}"),
        format!("/staff/statistik?buero=nord&von={date}&bis={date}&format=xlsx"),
        "/staff/statistik?buero=west".to_owned(),
    ] {
        let (status, html) = page(&d.app, &lena, &path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(html.contains("Keine Berechtigung"), "{html}");
    }
    // Bad ranges and formats.
    for query in [
        format!("von={date}&bis={}", d.day.pred_opt().unwrap()),
        format!("von={date}&bis={}", d.day + Days::new(366)),
        format!("von=morgen&bis={date}"),
        format!("von={date}&bis={date}&format=pdf"),
    ] {
        let (status, _) = page(&d.app, &lena, &format!("/staff/statistik?buero=mitte&{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
    }

    // A clerk has no statistics; nobody signed out either.
    let karl = signed_in(&d.app, "karl@stadt.example").await;
    let (status, start) = page(&d.app, &karl, "/staff").await;
    assert!(status == StatusCode::OK && !start.contains("/staff/statistik"));
    let (status, _) = page(&d.app, &karl, &path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = page(&d.app, &karl, "/staff/statistik").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let anonymous = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (status, _) = page(&d.app, &anonymous, &path).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

/// An auditor reads every office and all together, per office in the
/// utilisation chart, and downloads the CSV (the API's) and the XLSX (the
/// JSON's figures).
async fn an_auditor_reads_all_and_downloads(backend: Backend) {
    let d = office_day(backend).await;
    let date = d.day.to_string();
    let anke = signed_in(&d.app, "anke@stadt.example").await;
    let (status, start) = page(&d.app, &anke, "/staff").await;
    assert_eq!(status, StatusCode::OK);
    assert!(start.contains(r#"href="/staff/statistik""#), "{start}");

    // Without an office: all.
    let (status, html) = page(&d.app, &anke, &format!("/staff/statistik?von={date}&bis={date}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<p class=\"step\">Alle Bürgerbüros</p>"));
    // Fred never came to `nord` either.
    assert_eq!(
        row_cells(&html, "tabelle-buchungen", &date)[1..],
        ["1", "2", "1", "1", "1", "6"]
    );
    let bookings = svg(&html, "diagramm-buchungen");
    assert_well_formed(bookings);
    assert_eq!(bar(bookings, &date, "missed"), Some(2.0));
    let per_office = svg(&html, "diagramm-auslastung");
    assert_well_formed(per_office);
    for office in ["mitte", "nord"] {
        let json = d.json(&format!("office={office}&from={date}&to={date}")).await;
        let percent = (json["utilisation"].as_f64().unwrap() * 1000.0).round() / 10.0;
        assert_eq!(bar(per_office, office, "utilisation"), Some(percent), "{office}");
        assert_eq!(
            row_cells(&html, "tabelle-auslastung", office)[3],
            format!("{} %", german(percent))
        );
    }
    // And any one office.
    let (status, _) = page(
        &d.app,
        &anke,
        &format!("/staff/statistik?buero=nord&von={date}&bis={date}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // CSV: the API's, as a file.
    let from = d.day - Days::new(1);
    let query = format!("from={from}&to={date}");
    let response = anke
        .get(format!(
            "{}/staff/statistik?buero=alle&von={from}&bis={date}&format=csv",
            d.app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"statistik-alle-{from}-{date}.csv\"").as_str()
    );
    let csv = response.text().await.unwrap();
    let api_csv = d
        .app
        .client
        .get(format!("{}/api/v1/statistics?{query}&format=csv", d.app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv, api_csv);

    // XLSX: the totals of the JSON on "Übersicht", each date on "Tage".
    let response = anke
        .get(format!(
            "{}/staff/statistik?buero=mitte&von={from}&bis={date}&format=xlsx",
            d.app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"statistik-mitte-{from}-{date}.xlsx\"").as_str()
    );
    let bytes = response.bytes().await.unwrap().to_vec();
    let json = d.json(&format!("office=mitte&{query}")).await;
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    let overview = book.worksheet_range("Übersicht").unwrap();
    let number = |cell: &Data| match cell {
        Data::Float(value) => Some(*value),
        Data::Int(value) => Some(*value as f64),
        Data::Empty => None,
        other => panic!("not a number: {other:?}"),
    };
    let mut compared = 0;
    for row in overview.rows().skip(4) {
        let Data::String(key) = &row[1] else { panic!("{row:?}") };
        let pointer = match key.as_str() {
            "online" | "walk_in" | "confirmed" | "cancelled" | "lapsed" | "served" | "missed" => {
                format!("/bookings/{key}")
            }
            "utilisation" | "published_units" | "booked_units" | "served_units" | "no_show_rate" => {
                format!("/{key}")
            }
            "waiting_p50_minutes" => "/waiting_minutes/p50".to_owned(),
            "processing_mean_minutes" => "/processing_minutes/mean".to_owned(),
            "wishes_registered" => "/waitlist/registered".to_owned(),
            _ => continue,
        };
        assert_eq!(number(&row[2]), json.pointer(&pointer).unwrap().as_f64(), "{key}");
        compared += 1;
    }
    assert_eq!(compared, 15);
    let days = book.worksheet_range("Tage").unwrap();
    let rows: Vec<_> = days.rows().collect();
    assert_eq!(rows.len(), 3, "header and two dates");
    let header: Vec<String> = rows[0].iter().map(|cell| cell.to_string()).collect();
    assert_eq!(header[0], "date");
    let served = header.iter().position(|name| name == "served").unwrap();
    assert_eq!(rows[2][0], Data::String(date.clone()));
    assert_eq!(number(&rows[2][served]), Some(1.0));
    assert_eq!(number(&rows[1][served]), Some(0.0));
    // "Stunden" and "Dienstleistungen": the JSON's `by_hour` and `by_service`, a row each.
    for (sheet, first, slices) in [
        ("Stunden", "hour", &json["by_hour"]),
        ("Dienstleistungen", "service", &json["by_service"]),
    ] {
        let range = book.worksheet_range(sheet).unwrap();
        let rows: Vec<_> = range.rows().collect();
        let slices = slices.as_array().unwrap();
        assert_eq!(rows.len(), 1 + slices.len(), "{sheet}");
        let header: Vec<String> = rows[0].iter().map(|cell| cell.to_string()).collect();
        assert_eq!(header[0], first);
        for (row, slice) in rows[1..].iter().zip(slices) {
            for (column, pointer) in [
                ("online", "/bookings/online"),
                ("served", "/bookings/served"),
                ("waiting_p90_seconds", "/waiting_seconds/p90"),
            ] {
                let index = header.iter().position(|name| name == column).unwrap();
                assert_eq!(
                    number(&row[index]),
                    slice.pointer(pointer).unwrap().as_f64(),
                    "{sheet} {column}"
                );
            }
        }
    }
    assert_eq!(
        json["by_hour"][0]["bookings"]["online"], 5,
        "anna, bert, carl, emil and dora at 9 o'clock"
    );
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(a_lead_reads_their_office, an_auditor_reads_all_and_downloads);
