//! Statistics over HTTP (API.md "Statistics", issue 14) on both backends:
//! a small office day made through the API as citizens, kiosks and clerks
//! make it, at known times on the test's clock ([`ManualClock`]), and every
//! figure of `GET /api/v1/statistics` held to numbers worked out by hand
//! below; who may read them; bad parameters; the CSV's total against the
//! JSON; the live view against its replay; and the figures after the
//! citizens' keys are shredded.

mod support;

use std::sync::Arc;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ManualClock, TOKEN, TestApp};
use terminagent_eventstore::Backend;

struct Day {
    app: TestApp,
    clock: Arc<ManualClock>,
    day: NaiveDate,
    secret: terminagent::links::LinkSecret,
    clerk: String,
    kiosk: String,
    lead_mitte: String,
    lead_nord: String,
    auditor: String,
}

impl Day {
    /// `hh:mm[:ss]` of the test's day (the offices are on UTC).
    fn t(&self, time: &str) -> DateTime<Utc> {
        let time = NaiveTime::parse_from_str(time, "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
            .unwrap();
        self.day.and_time(time).and_utc()
    }

    fn at(&self, time: &str) {
        self.clock.set(self.t(time));
    }

    async fn post(&self, token: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.app.send(Method::POST, path, Some(token), body).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }

    /// Presses a mail link (as the citizen) and expects it done.
    async fn press(&self, subject: &str, action: &str) -> Value {
        let token = self.secret.token(subject, action);
        let (status, answer) = self
            .app
            .send(Method::POST, &format!("/api/v1/links/{}", token.as_str()), None, None)
            .await;
        assert_eq!(
            (status, &answer["outcome"]),
            (StatusCode::OK, &json!("done")),
            "{answer}"
        );
        answer
    }

    /// A booking requested at `start` as a citizen; its id.
    async fn request(&self, start: &str, email: &str) -> String {
        let body = json!({"office": "mitte", "services": ["ausweis"],
                          "start": self.t(start).to_rfc3339(),
                          "citizen": {"name": "Erika Mustermann", "email": email}});
        let (status, requested) = self.app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{requested}");
        requested["booking_id"].as_str().unwrap().to_owned()
    }

    /// A booking requested and confirmed by its link: (id, check-in code).
    async fn book(&self, start: &str, email: &str) -> (String, String) {
        let id = self.request(start, email).await;
        let pressed = self.press(&id, "confirm_booking").await;
        (id, pressed["booking"]["check_in_code"].as_str().unwrap().to_owned())
    }

    async fn register_wish(&self, email: &str) -> String {
        let weekday =
            ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self.day.weekday().num_days_from_monday() as usize];
        let body = json!({"offices": ["mitte"], "services": ["ausweis"], "windows": {weekday: [10]},
                          "citizen": {"name": "Erika Mustermann", "email": email}});
        let (status, answer) = self.app.send(Method::POST, "/api/v1/wishes", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let wish = answer["wish_id"].as_str().unwrap().to_owned();
        // Double opt-in: the wish waits once its confirm link is pressed.
        let token = self.app.link_token(&wish, "confirm_wish").await;
        let (status, answer) = self
            .app
            .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
            .await;
        assert_eq!(
            (status, &answer["outcome"]),
            (StatusCode::OK, &json!("done")),
            "{answer}"
        );
        wish
    }

    async fn check_in(&self, code: &str) {
        self.post(
            &self.kiosk,
            "/api/v1/offices/mitte/check-ins",
            Some(json!({"code": code})),
        )
        .await;
    }

    /// A walk-in ticket from the kiosk: (id, check-in code, start).
    async fn ticket(&self) -> (String, String, String) {
        let ticket = self
            .post(
                &self.kiosk,
                "/api/v1/offices/mitte/tickets",
                Some(json!({"services": ["ausweis"]})),
            )
            .await;
        let text = |key: &str| ticket[key].as_str().unwrap().to_owned();
        (text("booking_id"), text("check_in_code"), text("start"))
    }

    /// Counter `counter` calls the next visitor; who it was.
    async fn next(&self, counter: &str) -> String {
        let called = self
            .post(
                &self.clerk,
                &format!("/api/v1/offices/mitte/counters/{counter}/next"),
                None,
            )
            .await;
        called["booking_id"].as_str().unwrap().to_owned()
    }

    async fn visit(&self, booking: &str, action: &str) {
        self.post(&self.clerk, &format!("/api/v1/visits/{booking}/{action}"), None)
            .await;
    }

    async fn counter(&self, counter: &str, change: &str, body: Option<Value>) {
        self.post(
            &self.clerk,
            &format!("/api/v1/offices/mitte/counters/{counter}/{change}"),
            body,
        )
        .await;
    }

    /// Waits until `/metrics` shows every line of `expected` (the gauges
    /// follow the views, which follow the log).
    async fn metrics_show(&self, expected: &[&str]) {
        let mut text = String::new();
        for _ in 0..200 {
            let response = self
                .app
                .client
                .get(format!("{}/metrics", self.app.base))
                .send()
                .await
                .unwrap();
            text = response.text().await.unwrap();
            if expected.iter().all(|line| text.lines().any(|shown| shown == *line)) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("{expected:?} not all in:\n{text}");
    }

    async fn statistics(&self, token: &str, query: &str) -> (StatusCode, Value) {
        self.app
            .send(Method::GET, &format!("/api/v1/statistics?{query}"), Some(token), None)
            .await
    }

    /// A staff member with `roles` and a token of theirs.
    async fn staff_token(app: &TestApp, email: &str, roles: Value) -> String {
        let (status, entry) = app
            .staff(
                Method::PUT,
                &format!("/api/v1/staff/{email}"),
                json!({"name": "Sabine Amt", "roles": roles}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{entry}");
        let (status, issued) = app
            .send(
                Method::POST,
                &format!("/api/v1/staff/{email}/tokens"),
                Some(TOKEN),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{issued}");
        issued["token"].as_str().unwrap().to_owned()
    }
}

/// Offices `mitte` and `nord` (UTC) ten days ahead; a walk-in service of
/// 12 minutes; `mitte` 09:00–10:00 on 3 lanes (15 units), `nord` 09:00–10:00
/// on 1 lane (5 units); a clerk, a kiosk, leads of both offices, an
/// auditor; the clock at 07:00 of that day.
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
    let clerk = Day::staff_token(
        &app,
        "karl@stadt.example",
        json!([{"role": "clerk", "office": "mitte"}]),
    )
    .await;
    let lead_mitte = Day::staff_token(&app, "lena@stadt.example", json!([{"role": "lead", "office": "mitte"}])).await;
    let lead_nord = Day::staff_token(&app, "nils@stadt.example", json!([{"role": "lead", "office": "nord"}])).await;
    let auditor = Day::staff_token(&app, "anke@stadt.example", json!([{"role": "auditor"}])).await;
    let (status, kiosk) = app
        .staff(
            Method::POST,
            "/api/v1/offices/mitte/devices",
            json!({"kind": "kiosk", "name": "Kiosk"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{kiosk}");
    let secret = app.link_secret().await;
    Day {
        clock,
        day,
        secret,
        clerk,
        kiosk: kiosk["token"].as_str().unwrap().to_owned(),
        lead_mitte,
        lead_nord,
        auditor,
        app,
    }
}

/// The answer without what names the query (office, range) and the days:
/// the figures themselves.
fn figures(answer: &Value) -> Value {
    let mut figures = answer.clone();
    for key in ["office", "from", "to", "days", "date", "by_hour", "by_service"] {
        figures.as_object_mut().unwrap().remove(key);
    }
    figures
}

/// CSV column → where the JSON has the same figure.
const CSV_TO_JSON: &[(&str, &str)] = &[
    ("online", "/bookings/online"),
    ("walk_in", "/bookings/walk_in"),
    ("confirmed", "/bookings/confirmed"),
    ("cancelled", "/bookings/cancelled"),
    ("lapsed", "/bookings/lapsed"),
    ("served", "/bookings/served"),
    ("missed", "/bookings/missed"),
    ("from_waitlist", "/bookings/from_waitlist"),
    ("cancelled_by_citizen", "/cancelled_by/citizen"),
    ("cancelled_by_office", "/cancelled_by/office"),
    ("missed_no_show", "/missed_by/no_show"),
    ("missed_absent_when_called", "/missed_by/absent_when_called"),
    ("no_show_rate", "/no_show_rate"),
    ("waiting_count", "/waiting_minutes/count"),
    ("waiting_mean_minutes", "/waiting_minutes/mean"),
    ("waiting_p50_minutes", "/waiting_minutes/p50"),
    ("waiting_p90_minutes", "/waiting_minutes/p90"),
    ("waiting_max_minutes", "/waiting_minutes/max"),
    ("processing_count", "/processing_minutes/count"),
    ("processing_mean_minutes", "/processing_minutes/mean"),
    ("processing_p50_minutes", "/processing_minutes/p50"),
    ("processing_p90_minutes", "/processing_minutes/p90"),
    ("processing_max_minutes", "/processing_minutes/max"),
    ("utilisation", "/utilisation"),
    ("published_units", "/published_units"),
    ("booked_units", "/booked_units"),
    ("served_units", "/served_units"),
    ("counter_open_minutes", "/counters/open_minutes"),
    ("counter_paused_minutes", "/counters/paused_minutes"),
    ("wishes_registered", "/waitlist/registered"),
    ("proposals", "/waitlist/proposals"),
    ("proposals_accepted", "/waitlist/accepted"),
    ("proposals_declined", "/waitlist/declined"),
    ("proposals_expired", "/waitlist/expired"),
    ("proposals_withdrawn", "/waitlist/withdrawn"),
    ("wishes_ended", "/waitlist/ended"),
    ("wishes_ended_by_citizen", "/waitlist/ended_by/citizen"),
    (
        "wishes_ended_unanswered_proposals",
        "/waitlist/ended_by/unanswered_proposals",
    ),
    ("wishes_ended_until_passed", "/waitlist/ended_by/until_passed"),
    (
        "median_hours_to_first_proposal",
        "/waitlist/median_hours_to_first_proposal",
    ),
    ("p90_hours_to_first_proposal", "/waitlist/p90_hours_to_first_proposal"),
    ("wishes_left", "/waitlist/left"),
    ("refilled_units_from_waitlist", "/refilled_units/from_waitlist"),
    ("refilled_units_public", "/refilled_units/public"),
    ("estimates", "/kiosk_estimates/estimated"),
    ("estimates_inside", "/kiosk_estimates/inside"),
    ("estimates_below", "/kiosk_estimates/below"),
    ("estimates_above", "/kiosk_estimates/above"),
    ("estimates_inside_rate", "/kiosk_estimates/inside_rate"),
];

/// `by=hour|service` CSV column → where each JSON slice has the same figure.
const SLICE_CSV_TO_JSON: &[(&str, &str)] = &[
    ("online", "/bookings/online"),
    ("walk_in", "/bookings/walk_in"),
    ("confirmed", "/bookings/confirmed"),
    ("cancelled", "/bookings/cancelled"),
    ("cancelled_by_citizen", "/cancelled_by/citizen"),
    ("cancelled_by_office", "/cancelled_by/office"),
    ("lapsed", "/bookings/lapsed"),
    ("served", "/bookings/served"),
    ("missed", "/bookings/missed"),
    ("missed_no_show", "/missed_by/no_show"),
    ("missed_absent_when_called", "/missed_by/absent_when_called"),
    ("from_waitlist", "/bookings/from_waitlist"),
    ("no_show_rate", "/no_show_rate"),
    ("waiting_count", "/waiting_seconds/count"),
    ("waiting_mean_seconds", "/waiting_seconds/mean"),
    ("waiting_p50_seconds", "/waiting_seconds/p50"),
    ("waiting_p90_seconds", "/waiting_seconds/p90"),
    ("waiting_max_seconds", "/waiting_seconds/max"),
    ("processing_count", "/processing_seconds/count"),
    ("processing_mean_seconds", "/processing_seconds/mean"),
    ("processing_p50_seconds", "/processing_seconds/p50"),
    ("processing_p90_seconds", "/processing_seconds/p90"),
    ("processing_max_seconds", "/processing_seconds/max"),
];

/// Each CSV field against the JSON's figure (an empty field is `null`).
fn csv_line_equals(header: &[&str], line: &str, json: &Value) {
    columns_equal(CSV_TO_JSON, header, line, json);
}

fn columns_equal(columns: &[(&str, &str)], header: &[&str], line: &str, json: &Value) {
    let fields: Vec<&str> = line.split(',').collect();
    assert_eq!(fields.len(), header.len(), "{line}");
    assert_eq!(header.len(), columns.len() + 1, "every column is compared");
    for (column, pointer) in columns {
        let index = header
            .iter()
            .position(|name| name == column)
            .unwrap_or_else(|| panic!("{column}"));
        let expected = json.pointer(pointer).unwrap_or_else(|| panic!("{pointer} in {json}"));
        let field = fields[index];
        match expected.as_f64() {
            Some(number) => assert_eq!(field.parse::<f64>().ok(), Some(number), "{column}: {line}"),
            None => assert!(
                expected.is_null() && field.is_empty(),
                "{column}: {field:?} vs {expected}"
            ),
        }
    }
}

/// The day, step by step, and every figure worked out by hand.
async fn a_day_in_figures(backend: Backend) {
    let d = office_day(backend).await;
    let date = d.day.to_string();

    // 07:00 — six online bookings at `mitte` (lanes by order: 09:00 anna
    // lane 1, bert lane 2; 09:12 carl 1, dora 2; 09:24 emil 1; 09:48 fina 1).
    // Emil never confirms: his confirm-by is min(07:00 + 2 h, 09:24) = 09:00.
    let (anna, anna_code) = d.book("09:00", "anna@example.org").await;
    let (bert, bert_code) = d.book("09:00", "bert@example.org").await;
    let (carl, _) = d.book("09:12", "carl@example.org").await;
    let (dora, _) = d.book("09:12", "dora@example.org").await;
    let _emil = d.request("09:24", "emil@example.org").await;
    let (_fina, _) = d.book("09:48", "fina@example.org").await;
    // Two wishes for 10:xx at `mitte`, where nothing is published yet.
    let wanda = d.register_wish("wanda@example.org").await;
    let walter = d.register_wish("walter@example.org").await;
    // Business gauges: two wishes waiting, both naming `mitte`; `nord` is
    // listed (from the catalogue) with none.
    d.metrics_show(&[
        "terminagent_waitlist_waiting_wishes 2",
        r#"terminagent_office_waiting_wishes{office="mitte"} 2"#,
        r#"terminagent_office_waiting_wishes{office="nord"} 0"#,
    ])
    .await;

    // 07:30 — 10:00–10:24 on lane 1 (2 units): one at a time to the first
    // wish that fits — 10:00 to Wanda, 10:12 to Walter, both made at 07:30,
    // 30 minutes after their registration.
    d.at("07:30");
    let capacity = json!({"date": date, "from": "10:00", "to": "10:24", "unit_minutes": 12, "lanes": 1});
    let (status, _) = d
        .app
        .staff(Method::POST, "/api/v1/offices/mitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let made = d.app.wait_for_events("proposal.made", 2).await;
    let proposal_of = |wish: &str| {
        let event = made.iter().find(|event| event["data"]["wish"] == wish).unwrap();
        (
            event["data"]["proposal"].as_str().unwrap().to_owned(),
            event["data"]["units"][0]["start"].clone(),
        )
    };
    let (wanda_proposal, wanda_start) = proposal_of(&wanda);
    let (walter_proposal, walter_start) = proposal_of(&walter);
    assert_eq!((wanda_start, walter_start), (json!("10:00"), json!("10:12")));

    // 07:40 — Wanda accepts (an online booking from the waitlist, born
    // confirmed), Walter declines and then ends his search.
    d.at("07:40");
    d.press(&wanda_proposal, "accept_proposal").await;
    d.press(&walter_proposal, "decline_proposal").await;
    d.press(&walter, "end_wish").await;

    // 08:00 — Dora cancels by her link; the office closes 09:48–10:00
    // (3 units, one per lane), which cancels Fina's booking with a reason.
    d.at("08:00");
    d.press(&dora, "cancel_booking").await;
    let closure = json!({"date": date, "from": "09:48", "to": "10:00", "reason": "Stromausfall"});
    let closed = d.post(TOKEN, "/api/v1/offices/mitte/closures", Some(closure)).await;
    assert_eq!(closed, json!({"cancelled_bookings": 1, "withdrawn_units": 3}));

    // The floor. Check-in opens 15 minutes before the start.
    d.at("08:50");
    d.check_in(&anna_code).await;
    d.at("08:55");
    let (t1, t1_code, t1_start) = d.ticket().await; // 09:00, lane 3
    let (t2, t2_code, t2_start) = d.ticket().await; // 09:12, the first start with a free lane
    assert_eq!(
        (t1_start, t2_start),
        (format!("{date}T09:00:00+00:00"), format!("{date}T09:12:00+00:00"))
    );
    d.check_in(&t1_code).await;
    d.at("09:01");
    d.check_in(&t2_code).await;
    // Emil's booking lapses (timer, past 09:00).
    d.app.wait_for_events("booking.lapsed", 1).await;
    // Gauges at 09:01: today's bookings at `mitte` = 7 online + 2 tickets − dora and
    // fina cancelled − emil lapsed = 6; anna, T1 and T2 wait; no wish waits any more.
    d.metrics_show(&[
        "terminagent_waitlist_waiting_wishes 0",
        r#"terminagent_office_bookings_today{office="mitte"} 6"#,
        r#"terminagent_office_visitors_waiting{office="mitte"} 3"#,
        r#"terminagent_office_bookings_today{office="nord"} 0"#,
        r#"terminagent_office_visitors_waiting{office="nord"} 0"#,
    ])
    .await;
    d.at("09:02");
    assert_eq!(
        d.next("1").await,
        anna,
        "due: anna (checked in 08:50) before T1 (08:55)"
    );
    d.at("09:03");
    d.visit(&anna, "start").await;
    d.at("09:04");
    d.check_in(&bert_code).await;
    d.at("09:05");
    assert_eq!(d.next("2").await, t1);
    d.at("09:06");
    d.visit(&t1, "start").await;
    d.at("09:10");
    d.visit(&anna, "finish").await;
    assert_eq!(d.next("1").await, bert);
    d.at("09:11");
    d.visit(&bert, "start").await;
    d.at("09:14");
    d.visit(&t1, "finish").await;
    d.at("09:15");
    assert_eq!(d.next("2").await, t2);
    d.at("09:16");
    d.visit(&t2, "start").await;
    // Carl never comes: the timer marks him missed after 09:12 + 5 minutes.
    d.at("09:17:01");
    let missed = d.app.wait_for_events("visit.missed", 1).await;
    assert_eq!(
        (&missed[0]["data"]["booking"], &missed[0]["data"]["reason"]),
        (&json!(carl), &json!("no_show"))
    );
    d.at("09:25");
    d.visit(&bert, "finish").await;
    d.at("09:29");
    d.visit(&t2, "finish").await;
    d.at("09:30");
    d.counter("1", "pause", Some(json!({"reason": "Mittagspause"}))).await;
    d.at("09:40");
    d.counter("2", "close", None).await;
    d.at("09:45");
    d.counter("1", "open", None).await;
    d.at("09:50");
    d.counter("1", "close", None).await;

    // By hand, for `mitte` on the day:
    // bookings: online = 6 requested + Wanda's accepted proposal = 7 (1 from the waitlist);
    //   walk_in = 2 tickets; confirmed = anna, bert, carl, dora, fina + 2 tickets + Wanda = 8;
    //   cancelled = dora (citizen) + fina (office, closure) = 2; lapsed = emil = 1;
    //   served = anna, bert, T1, T2 = 4; missed = carl (no-show) = 1.
    // no_show_rate = missed / (served + missed) = 1 / 5 = 0.2.
    // waiting = first call − max(check-in, start):
    //   anna 09:02 − 09:00 = 2:00; T1 09:05 − 09:00 = 5:00; bert 09:10 − 09:04 = 6:00;
    //   T2 09:15 − 09:12 = 3:00 → sorted 2, 3, 5, 6 min: mean 16/4 = 4.0,
    //   p50 rank ⌈0.5·4⌉ = 2 → 3.0, p90 rank ⌈0.9·4⌉ = 4 → 6.0, max 6.0.
    // processing = finish − first start:
    //   anna 09:10 − 09:03 = 7; T1 09:14 − 09:06 = 8; bert 09:25 − 09:11 = 14;
    //   T2 09:29 − 09:16 = 13 → sorted 7, 8, 13, 14: mean 42/4 = 10.5, p50 8.0, p90 14.0, max 14.0.
    // units: published 3 × 5 + 2 = 17, withdrawn 3 → 14; booked = 8 confirmed bookings' units
    //   − dora's and fina's given back = 6 (carl's missed unit had begun: nothing released);
    //   utilisation 6 / 14 = 0.4286 → 0.429; served units 4.
    // counters: 1 open 09:02–09:30 (28) and 09:45–09:50 (5), paused 09:30–09:45 (15);
    //   2 open 09:05–09:40 (35) → open 68.0, paused 15.0 minutes.
    // waitlist: registered 2, proposals 2, accepted 1, declined 1, expired 0, withdrawn 0,
    //   ended 1 (by the citizen); to first proposal 07:00 → 07:30 for both: 0.5 h;
    //   left the queue 2 (Wanda by accepting, Walter by ending, both on the day).
    // refilled units: dora's 09:12 unit on lane 2 (cancelled at 08:00) is the first
    //   free lane at 09:12 when T2 is drawn → 1 public, 0 from the waitlist (Wanda's
    //   units were new capacity; fina's were withdrawn; emil's lapsed 09:24 stays free).
    // kiosk estimates: every check-in here went through the JSON API, which shows none: 0.
    let expected = json!({
        "bookings": {"online": 7, "walk_in": 2, "confirmed": 8, "cancelled": 2, "lapsed": 1,
                     "served": 4, "missed": 1, "from_waitlist": 1},
        "cancelled_by": {"citizen": 1, "office": 1},
        "missed_by": {"no_show": 1, "absent_when_called": 0},
        "no_show_rate": 0.2,
        "waiting_minutes": {"count": 4, "mean": 4.0, "p50": 3.0, "p90": 6.0, "max": 6.0},
        "processing_minutes": {"count": 4, "mean": 10.5, "p50": 8.0, "p90": 14.0, "max": 14.0},
        "utilisation": 0.429,
        "published_units": 14,
        "booked_units": 6,
        "served_units": 4,
        "counters": {"open_minutes": 68.0, "paused_minutes": 15.0},
        "waitlist": {"registered": 2, "proposals": 2, "accepted": 1, "declined": 1, "expired": 0,
                     "withdrawn": 0, "ended": 1,
                     "ended_by": {"citizen": 1, "unanswered_proposals": 0, "until_passed": 0},
                     "median_hours_to_first_proposal": 0.5, "p90_hours_to_first_proposal": 0.5,
                     "left": 2},
        "refilled_units": {"from_waitlist": 0, "public": 1},
        "kiosk_estimates": {"estimated": 0, "inside": 0, "below": 0, "above": 0, "inside_rate": null},
    });
    // By hour (office-local hour of the start) and service, figure by figure:
    // hour 9: anna, bert, carl, dora, emil, fina online, T1, T2 walk-in; confirmed all
    //   but emil = 7; dora (citizen) and fina (office) cancelled; emil lapsed; anna,
    //   bert, T1, T2 served; carl missed → no-show rate 1 / 5 = 0.2; every wait and
    //   processing time of the day, in seconds: waits 120, 180, 300, 360 (mean 240.0,
    //   p50 rank 2 → 180, p90 rank 4 → 360), processing 420, 480, 780, 840 (mean 630.0,
    //   p50 480, p90 840).
    // hour 10: Wanda's accepted proposal (10:00): online, from the waitlist, confirmed.
    // service ausweis: every booking names it — the day's figures, waits in seconds.
    let waits = json!({"count": 4, "mean": 240.0, "p50": 180, "p90": 360, "max": 360});
    let processing = json!({"count": 4, "mean": 630.0, "p50": 480, "p90": 840, "max": 840});
    let none = json!({"count": 0, "mean": null, "p50": null, "p90": null, "max": null});
    let expected_by_hour = json!([
        {"hour": 9,
         "bookings": {"online": 6, "walk_in": 2, "confirmed": 7, "cancelled": 2, "lapsed": 1,
                      "served": 4, "missed": 1, "from_waitlist": 0},
         "cancelled_by": {"citizen": 1, "office": 1},
         "missed_by": {"no_show": 1, "absent_when_called": 0},
         "no_show_rate": 0.2, "waiting_seconds": waits, "processing_seconds": processing},
        {"hour": 10,
         "bookings": {"online": 1, "walk_in": 0, "confirmed": 1, "cancelled": 0, "lapsed": 0,
                      "served": 0, "missed": 0, "from_waitlist": 1},
         "cancelled_by": {"citizen": 0, "office": 0},
         "missed_by": {"no_show": 0, "absent_when_called": 0},
         "no_show_rate": null, "waiting_seconds": none, "processing_seconds": none},
    ]);
    let expected_by_service = json!([
        {"service": "ausweis",
         "bookings": {"online": 7, "walk_in": 2, "confirmed": 8, "cancelled": 2, "lapsed": 1,
                      "served": 4, "missed": 1, "from_waitlist": 1},
         "cancelled_by": {"citizen": 1, "office": 1},
         "missed_by": {"no_show": 1, "absent_when_called": 0},
         "no_show_rate": 0.2, "waiting_seconds": waits, "processing_seconds": processing},
    ]);
    let one_day = format!("office=mitte&from={date}&to={date}");
    let (status, answer) = d.statistics(&d.lead_mitte, &one_day).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(figures(&answer), expected, "{answer:#}");
    assert_eq!(answer["by_hour"], expected_by_hour, "{:#}", answer["by_hour"]);
    assert_eq!(answer["by_service"], expected_by_service, "{:#}", answer["by_service"]);
    assert_eq!(
        (&answer["office"], &answer["from"], &answer["to"]),
        (&json!("mitte"), &json!(date), &json!(date))
    );
    assert_eq!(answer["days"].as_array().unwrap().len(), 1);
    assert_eq!(answer["days"][0]["date"], date);
    assert_eq!(figures(&answer["days"][0]), expected, "the one day is the total");

    // Three days around it: the day between two empty ones, the same total.
    let (before, after) = (d.day.pred_opt().unwrap(), d.day.succ_opt().unwrap());
    let (status, around) = d
        .statistics(&d.auditor, &format!("office=mitte&from={before}&to={after}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{around}");
    assert_eq!(figures(&around), expected);
    let days = around["days"].as_array().unwrap();
    let dates: Vec<&str> = days.iter().map(|day| day["date"].as_str().unwrap()).collect();
    assert_eq!(dates, [before.to_string(), date.clone(), after.to_string()]);
    assert_eq!(figures(&days[1]), expected);
    for empty in [&days[0], &days[2]] {
        assert_eq!(empty["bookings"]["online"], 0);
        assert_eq!(empty["published_units"], 0);
        assert_eq!(empty["utilisation"], Value::Null, "nothing published: no ratio");
        assert_eq!(
            empty["waiting_minutes"],
            json!({"count": 0, "mean": null, "p50": null, "p90": null, "max": null})
        );
        assert_eq!(empty["waitlist"]["median_hours_to_first_proposal"], Value::Null);
    }

    // All offices (auditor): `nord` adds its 5 published units and nothing else:
    // utilisation 6 / 19 = 0.3158 → 0.316.
    let (status, all) = d.statistics(&d.auditor, &format!("from={date}&to={date}")).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let mut expected_all = expected.clone();
    expected_all["published_units"] = json!(19);
    expected_all["utilisation"] = json!(0.316);
    assert_eq!(figures(&all), expected_all);
    assert_eq!(all["office"], Value::Null);
    let (status, nord) = d
        .statistics(&d.lead_nord, &format!("office=nord&from={date}&to={date}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{nord}");
    assert_eq!(
        (
            &nord["published_units"],
            &nord["utilisation"],
            &nord["bookings"]["online"],
            &nord["waitlist"]["registered"]
        ),
        (&json!(5), &json!(0.0), &json!(0), &json!(0))
    );

    // The CSV: a header, one line per day, a total line equal to the JSON.
    let response = d
        .app
        .client
        .get(format!(
            "{}/api/v1/statistics?office=mitte&from={before}&to={after}&format=csv",
            d.app.base
        ))
        .bearer_auth(&d.lead_mitte)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 3 + 1, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header[0], "date");
    for (line, day) in lines[1..4].iter().zip(days) {
        assert!(
            line.starts_with(&format!("{},", day["date"].as_str().unwrap())),
            "{line}"
        );
        csv_line_equals(&header, line, day);
    }
    assert!(lines[4].starts_with("total,"), "{csv}");
    csv_line_equals(&header, lines[4], &around);

    // By hour and by service as CSV: a line per slice, equal to the JSON's.
    assert_eq!(around["by_hour"], expected_by_hour, "the empty days add nothing");
    for (by, first, expected) in [
        ("hour", "hour", &expected_by_hour),
        ("service", "service", &expected_by_service),
    ] {
        let csv = d
            .app
            .client
            .get(format!(
                "{}/api/v1/statistics?office=mitte&from={before}&to={after}&format=csv&by={by}",
                d.app.base
            ))
            .bearer_auth(&d.lead_mitte)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        let slices = expected.as_array().unwrap();
        assert_eq!(lines.len(), 1 + slices.len(), "{csv}");
        let header: Vec<&str> = lines[0].split(',').collect();
        assert_eq!(header[0], first);
        for (line, slice) in lines[1..].iter().zip(slices) {
            let key = slice[first].to_string().trim_matches('"').to_owned();
            assert!(line.starts_with(&format!("{key},")), "{line}");
            columns_equal(SLICE_CSV_TO_JSON, &header, line, slice);
        }
    }
    let (status, problem) = d
        .statistics(
            &d.auditor,
            &format!("office=mitte&from={date}&to={date}&format=csv&by=week"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    // The live view equals its replay (invariant 6).
    let (status, check) = d.app.get("/api/v1/projections").await;
    assert_eq!(status, StatusCode::OK);
    let statistics = check["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|view| view["name"] == "statistics")
        .unwrap_or_else(|| panic!("statistics is checked: {check}"));
    assert_eq!(statistics["equal"], true, "{check}");

    // Erasure. `POST /api/v1/erasures` is not built yet; what it will do to
    // the vault is: shred every citizen's key (crypto-shredding). The
    // figures do not change, and the view still equals its replay.
    let store = terminagent_eventstore::EventStore::connect(d.app.db.url(), Default::default())
        .await
        .unwrap();
    let mut erased = 0;
    for event in d.app.all_events().await {
        if let Some(envelope) = event["data"]["citizen"]["envelope_id"].as_str() {
            erased += usize::from(store.vault().erase(envelope.parse().unwrap()).await.unwrap());
        }
    }
    store.close().await;
    assert_eq!(erased, 8, "six bookers and two wishers, each their own key");
    let (status, after_erasure) = d.statistics(&d.lead_mitte, &one_day).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after_erasure, answer, "the figures survive erasure");
    let (_, check) = d.app.get("/api/v1/projections").await;
    assert!(
        check["projections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|view| view["equal"] == true),
        "{check}"
    );
}

/// Leads read their own office only, auditors and admins every office and
/// all together; clerks and devices not at all.
async fn who_may_read_statistics(backend: Backend) {
    let d = office_day(backend).await;
    let date = d.day.to_string();
    let mitte = format!("office=mitte&from={date}&to={date}");
    let all = format!("from={date}&to={date}");
    for (token, query, expected) in [
        (&d.lead_mitte, &mitte, StatusCode::OK),
        (&d.lead_nord, &mitte, StatusCode::FORBIDDEN),
        (&d.lead_mitte, &all, StatusCode::FORBIDDEN),
        (&d.auditor, &mitte, StatusCode::OK),
        (&d.auditor, &all, StatusCode::OK),
        (&d.clerk, &mitte, StatusCode::FORBIDDEN),
        (&d.kiosk, &mitte, StatusCode::FORBIDDEN),
        (&TOKEN.to_owned(), &all, StatusCode::OK),
    ] {
        let (status, answer) = d.statistics(token, query).await;
        assert_eq!(status, expected, "{query}: {answer}");
        if status == StatusCode::FORBIDDEN {
            assert_eq!(answer["type"], "/problems/forbidden");
        }
    }
    let (status, _) = d
        .app
        .send(Method::GET, &format!("/api/v1/statistics?{mitte}"), None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Bad parameters are 422 problems; an unknown office 404.
async fn bad_parameters_are_refused(backend: Backend) {
    let d = office_day(backend).await;
    let date = d.day.to_string();
    let long_after = d.day + Days::new(366);
    for query in [
        format!("office=mitte&from={date}"),
        format!("office=mitte&to={date}"),
        format!("office=mitte&from=2026-13-01&to={date}"),
        format!("office=mitte&from={date}&to=tomorrow"),
        format!("office=mitte&from={date}&to={}", d.day.pred_opt().unwrap()),
        format!("office=mitte&from={date}&to={long_after}"),
        format!("office=Not_A_Slug&from={date}&to={date}"),
        format!("office=mitte&from={date}&to={date}&format=xml"),
    ] {
        let (status, problem) = d.statistics(&d.auditor, &query).await;
        assert_eq!(
            (status, problem["type"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("/problems/invalid-request")),
            "{query}: {problem}"
        );
    }
    let longest = format!("office=mitte&from={date}&to={}", long_after.pred_opt().unwrap());
    let (status, answer) = d.statistics(&d.auditor, &longest).await;
    assert_eq!(
        (status, answer["days"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(366))
    );
    let (status, problem) = d
        .statistics(&d.auditor, &format!("office=west&from={date}&to={date}"))
        .await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (StatusCode::NOT_FOUND, Some("/problems/not-found"))
    );
}

/// The kiosk records the call window it shows at check-in; the statistics
/// hold each against the first call. Windows by `domain::wait_estimate`'s
/// rules (nobody has been served yet, so each visitor ahead counts the 12
/// minutes of their service; no counter open counts as one; both ends to
/// 5-minute marks, never before the start):
/// - anna (09:00, #1) at 08:50: nobody ahead; low = the 10 minutes to her
///   start, high = low + 5 → 09:00–09:05;
/// - bert (09:00, #2) at 08:55: anna ahead, 12 min → low 10 (down), high 15
///   (up) → 09:05–09:10;
/// - carl (09:12, #3) at 09:00: anna and bert ahead, 24 min → low 20, high
///   25 → 09:20–09:25.
///
/// Calls: anna 09:02 (inside), bert 09:03 (below: before 09:05), carl 09:30
/// (above: after 09:25). Dora, checked in by the JSON API, has no estimate.
async fn kiosk_estimates_meet_the_calls(backend: Backend) {
    let d = office_day(backend).await;
    let date = d.day.to_string();
    let (anna, anna_code) = d.book("09:00", "anna@example.org").await;
    let (bert, bert_code) = d.book("09:00", "bert@example.org").await;
    let (carl, carl_code) = d.book("09:12", "carl@example.org").await;
    let (_dora, dora_code) = d.book("09:12", "dora@example.org").await;
    let kiosk = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed = kiosk
        .get(format!("{}/kiosk/mitte?token={}", d.app.base, d.kiosk))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    let check_in = |code: String| {
        let kiosk = kiosk.clone();
        let url = format!("{}/kiosk/mitte", d.app.base);
        async move {
            let response = kiosk.post(url).form(&[("code", code)]).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.text().await.unwrap()
        }
    };
    d.at("08:50");
    let page = check_in(anna_code).await;
    assert!(page.contains("Aufruf etwa 09:00 bis 09:05 Uhr."), "{page}");
    d.at("08:55");
    let page = check_in(bert_code).await;
    assert!(page.contains("Aufruf etwa 09:05 bis 09:10 Uhr."), "{page}");
    d.at("09:00");
    let page = check_in(carl_code).await;
    assert!(page.contains("Aufruf etwa 09:20 bis 09:25 Uhr."), "{page}");
    d.check_in(&dora_code).await;

    // The windows are in the log, on each kiosk check-in; none on dora's.
    let checked_in = d.app.wait_for_events("visit.checked_in", 4).await;
    let window = |booking: &str| {
        let event = checked_in
            .iter()
            .find(|event| event["data"]["booking"] == booking)
            .unwrap();
        let at = |end: &str| {
            DateTime::parse_from_rfc3339(event["data"]["estimate"][end].as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc)
        };
        (at("earliest"), at("latest"))
    };
    assert_eq!(window(&anna), (d.t("09:00"), d.t("09:05")));
    assert_eq!(window(&bert), (d.t("09:05"), d.t("09:10")));
    assert_eq!(window(&carl), (d.t("09:20"), d.t("09:25")));
    assert_eq!(
        checked_in
            .iter()
            .filter(|event| event["data"].get("estimate").is_none())
            .count(),
        1,
        "dora's check-in carries none"
    );

    d.at("09:02");
    assert_eq!(d.next("1").await, anna);
    d.at("09:03");
    assert_eq!(d.next("2").await, bert);
    d.at("09:30");
    assert_eq!(d.next("3").await, carl);
    let (status, answer) = d
        .statistics(&d.lead_mitte, &format!("office=mitte&from={date}&to={date}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["kiosk_estimates"],
        json!({"estimated": 3, "inside": 1, "below": 1, "above": 1, "inside_rate": 0.333})
    );
    // Old check-ins (without the field) and new ones replay alike.
    let (_, check) = d.app.get("/api/v1/projections").await;
    let statistics = check["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|view| view["name"] == "statistics")
        .unwrap();
    assert_eq!(statistics["equal"], true, "{check}");
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    a_day_in_figures,
    who_may_read_statistics,
    bad_parameters_are_refused,
    kiosk_estimates_meet_the_calls
);
