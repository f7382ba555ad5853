//! `terminagent audit trace` and `terminagent audit export` (API.md
//! "Operations (CLI)") against the real binary, on both backends, over a
//! history built through the HTTP API as citizens, staff, a kiosk and the
//! matcher make it: a booking requested, confirmed and cancelled; four
//! wishes, a proposal declined, its unit passed on, another accepted, a
//! search ended; a walk-in ticket checked in, called, served. And the HTTP
//! twin `GET /api/v1/audit/trace/{id}` for auditors.

mod support;

use std::process::Stdio;

use chrono::{DateTime, Datelike, Days, NaiveDate, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ManualClock, TOKEN, TestApp};
use terminagent_domain::{DomainEvent, LocalTime, OfficeTimeZone};
use terminagent_eventstore::Backend;

const ZONE: &str = "Europe/Berlin";

/// Every citizen's and staff member's name and address the history uses:
/// none may leave through an export.
const PERSONAL: &[&str] = &[
    "berta@example.org",
    "Berta Beispiel",
    "nora@example.org",
    "Nora Nord",
    "fenja@example.org",
    "Fenja Fenster",
    "wilma@example.org",
    "Wilma Erst",
    "walter@example.org",
    "Walter Zweit",
    "karl@stadt.example",
    "Karl Kasse",
    "aud@stadt.example",
    "Audrey Prüf",
];

/// What the history made, by id.
struct History {
    app: TestApp,
    clerk: String,
    auditor: String,
    booking: String,
    ticket: String,
    wish_nord: String,
    wish_window: String,
    wish_first: String,
    wish_second: String,
    /// Wilma's first (declined), Walter's (withdrawn when he ended), Wilma's second (accepted).
    declined: String,
    passed_on: String,
    accepted: String,
    /// The day of the booking and the ticket; the wishes' day is the next.
    day: NaiveDate,
}

fn zone() -> OfficeTimeZone {
    OfficeTimeZone::parse(ZONE).unwrap()
}

fn instant(day: NaiveDate, hhmm: &str) -> DateTime<Utc> {
    zone().instant(day, LocalTime::parse(hhmm).unwrap()).unwrap()
}

fn weekday_key(day: NaiveDate) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day.weekday().num_days_from_monday() as usize]
}

fn german_weekday(day: NaiveDate) -> &'static str {
    ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"][day.weekday().num_days_from_monday() as usize]
}

async fn created(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Value) -> Value {
    let (status, answer) = app.send(method, path, token, Some(body)).await;
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

async fn press(app: &TestApp, subject: &str, action: &str) -> Value {
    let token = app.link_token(subject, action).await;
    let (status, answer) = app
        .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(
        (status, &answer["outcome"]),
        (StatusCode::OK, &json!("done")),
        "{action}: {answer}"
    );
    answer
}

async fn wish(app: &TestApp, offices: &[&str], day: NaiveDate, name: &str, email: &str) -> String {
    let body = json!({"offices": offices, "services": ["ausweis"], "windows": {weekday_key(day): [9]},
                      "citizen": {"name": name, "email": email}});
    let answer = created(app, Method::POST, "/api/v1/wishes", None, body).await;
    let wish = answer["wish_id"].as_str().unwrap().to_owned();
    // Double opt-in: it joins the queue when its confirm link is pressed.
    let token = app.link_token(&wish, "confirm_wish").await;
    let (status, answer) = app
        .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(
        (status, &answer["outcome"]),
        (StatusCode::OK, &json!("done")),
        "{answer}"
    );
    wish
}

async fn publish(app: &TestApp, day: NaiveDate, from: &str, to: &str) {
    let body = json!({"date": day.to_string(), "from": from, "to": to, "unit_minutes": 12, "lanes": 1});
    created(app, Method::POST, "/api/v1/offices/mitte/capacity", Some(TOKEN), body).await;
}

/// The `proposal` id of the `n`th `proposal.made` (from 1), once the matcher made it.
async fn proposal(app: &TestApp, n: usize, wish: &str) -> String {
    let made = app.wait_for_events("proposal.made", n).await;
    let data = &made[n - 1]["data"];
    assert_eq!(data["wish"], wish, "proposal {n} goes to the expected wish: {data}");
    data["proposal"].as_str().unwrap().to_owned()
}

async fn history(backend: Backend) -> History {
    let day = Utc::now().date_naive() + Days::new(10);
    let wish_day = day + Days::new(1);
    let clock = ManualClock::at(instant(day, "05:00"));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    for office in ["mitte", "nord"] {
        let body = json!({"name": format!("Bürgerbüro {office}"), "address": "Markt 1", "timezone": ZONE});
        created(
            &app,
            Method::PUT,
            &format!("/api/v1/offices/{office}"),
            Some(TOKEN),
            body,
        )
        .await;
    }
    let service = json!({"name": "Personalausweis", "duration_minutes": 12, "walk_in": true});
    created(&app, Method::PUT, "/api/v1/services/ausweis", Some(TOKEN), service).await;
    let mut tokens = Vec::new();
    for (email, name, role) in [
        (
            "karl@stadt.example",
            "Karl Kasse",
            json!({"role": "clerk", "office": "mitte"}),
        ),
        ("aud@stadt.example", "Audrey Prüf", json!({"role": "auditor"})),
    ] {
        let body = json!({"name": name, "roles": [role]});
        created(&app, Method::PUT, &format!("/api/v1/staff/{email}"), Some(TOKEN), body).await;
        let (status, issued) = app
            .send(
                Method::POST,
                &format!("/api/v1/staff/{email}/tokens"),
                Some(TOKEN),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        tokens.push(issued["token"].as_str().unwrap().to_owned());
    }
    let kiosk = created(
        &app,
        Method::POST,
        "/api/v1/offices/mitte/devices",
        Some(TOKEN),
        json!({"kind": "kiosk", "name": "Kiosk im Foyer"}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The waitlist: two wishes that never fit mitte's 09:00 on the wishes' day, then two that do.
    let wish_nord = wish(&app, &["nord"], wish_day, "Nora Nord", "nora@example.org").await;
    let wish_window = wish(
        &app,
        &["mitte"],
        wish_day + Days::new(1),
        "Fenja Fenster",
        "fenja@example.org",
    )
    .await;
    let wish_first = wish(&app, &["mitte"], wish_day, "Wilma Erst", "wilma@example.org").await;
    let wish_second = wish(&app, &["mitte"], wish_day, "Walter Zweit", "walter@example.org").await;
    publish(&app, wish_day, "09:00", "09:12").await;
    let declined = proposal(&app, 1, &wish_first).await;
    press(&app, &declined, "decline_proposal").await;
    let passed_on = proposal(&app, 2, &wish_second).await;
    publish(&app, wish_day, "09:12", "09:24").await;
    let accepted = proposal(&app, 3, &wish_first).await;
    press(&app, &accepted, "accept_proposal").await;
    press(&app, &wish_second, "end_wish").await;

    // A booking on the day before, confirmed and cancelled by its links.
    publish(&app, day, "10:00", "10:24").await;
    let body = json!({"office": "mitte", "services": ["ausweis"], "start": instant(day, "10:00").to_rfc3339(),
                      "citizen": {"name": "Berta Beispiel", "email": "berta@example.org"}});
    let booking = created(&app, Method::POST, "/api/v1/bookings", None, body).await["booking_id"]
        .as_str()
        .unwrap()
        .to_owned();
    press(&app, &booking, "confirm_booking").await;
    press(&app, &booking, "cancel_booking").await;

    // A walk-in takes the freed 10:00: ticket, check-in, call, service.
    clock.set(instant(day, "09:50"));
    let ticket = created(
        &app,
        Method::POST,
        "/api/v1/offices/mitte/tickets",
        Some(&kiosk),
        json!({"services": ["ausweis"]}),
    )
    .await;
    let start = DateTime::parse_from_rfc3339(ticket["start"].as_str().unwrap()).unwrap();
    assert_eq!(start, instant(day, "10:00"), "the freed 10:00: {ticket}");
    let code = ticket["check_in_code"].as_str().unwrap();
    created(
        &app,
        Method::POST,
        "/api/v1/offices/mitte/check-ins",
        Some(&kiosk),
        json!({"code": code}),
    )
    .await;
    let ticket = ticket["booking_id"].as_str().unwrap().to_owned();
    let (status, call) = app
        .send(
            Method::POST,
            "/api/v1/offices/mitte/counters/1/next",
            Some(&tokens[0]),
            None,
        )
        .await;
    assert_eq!((status, &call["booking_id"]), (StatusCode::OK, &json!(ticket)));
    for action in ["start", "finish"] {
        let (status, moved) = app
            .send(
                Method::POST,
                &format!("/api/v1/visits/{ticket}/{action}"),
                Some(&tokens[0]),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{action}: {moved}");
    }
    History {
        app,
        clerk: tokens[0].clone(),
        auditor: tokens[1].clone(),
        booking,
        ticket,
        wish_nord,
        wish_window,
        wish_first,
        wish_second,
        declined,
        passed_on,
        accepted,
        day,
    }
}

/// Runs `terminagent ARGS`: exit code, stdout, stderr.
async fn terminagent(args: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_terminagent"))
        .args(args)
        .env_remove("TERMINAGENT_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("terminagent runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `terminagent audit ARGS --database-url …`, which must succeed: its stdout.
async fn audit(history: &History, args: &[&str]) -> String {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--database-url", history.app.db.url()]);
    let (code, out, err) = terminagent(&all).await;
    assert_eq!(code, 0, "{args:?}: {err}");
    assert!(err.is_empty(), "nothing on stderr off a terminal: {err}");
    out
}

/// The log as the audit API shows it, by position.
fn by_type<'a>(events: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    events.iter().filter(|event| event["type"] == event_type).collect()
}

/// `position type time actor` as a trace line begins.
fn head_of(event: &Value) -> String {
    let recorded = DateTime::parse_from_rfc3339(event["recorded_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let actor = match event["actor"]["id"].as_str() {
        Some(id) => format!("{}:{id}", event["actor"]["kind"].as_str().unwrap()),
        None => event["actor"]["kind"].as_str().unwrap().to_owned(),
    };
    format!(
        "{} {} {recorded} {actor}",
        event["position"],
        event["type"].as_str().unwrap()
    )
}

fn local(instant: &Value, format: &str) -> String {
    let instant: DateTime<Utc> = instant.as_str().unwrap().parse().unwrap();
    zone().to_local(instant).format(format).to_string()
}

async fn traces_explain_bookings_and_proposals(backend: Backend) {
    let history = history(backend).await;
    let events = history.app.all_events().await;
    let booking_events: Vec<&Value> = events
        .iter()
        .filter(|event| {
            event["streams"]
                .as_array()
                .unwrap()
                .contains(&json!(format!("booking:{}", history.booking.to_lowercase())))
        })
        .collect();
    assert_eq!(booking_events.len(), 3);
    let (requested, confirmed, cancelled) = (booking_events[0], booking_events[1], booking_events[2]);
    let date = history.day.format("%d.%m.%Y").to_string();
    let envelope = requested["data"]["citizen"]["envelope_id"].as_str().unwrap();
    let number = confirmed["data"]["number"].as_str().unwrap();
    let b = &history.booking;

    // The booking, in German: exactly its three events.
    let trace = audit(&history, &["trace", b]).await;
    let expected = format!(
        "{} Buchung {b} angefragt: mitte am {date} 10:00–10:12 (Spur 1), ausweis; hält 1 Einheit bis zur \
         Bestätigung, spätestens {}; Person: Umschlag {envelope}.\n\
         {} Buchung {b} bestätigt: Wartenummer {number} am {date}.\n\
         {} Buchung {b} von der Person selbst storniert; 1 Einheit wieder frei.\n",
        head_of(requested),
        local(&requested["data"]["confirm_by"], "%d.%m.%Y %H:%M"),
        head_of(confirmed),
        head_of(cancelled),
    );
    assert_eq!(trace, expected);
    assert!(head_of(confirmed).contains(" booking.confirmed ") && head_of(confirmed).ends_with(" citizen"));

    // In English.
    let trace = audit(&history, &["trace", b, "--lang", "en"]).await;
    let expected = format!(
        "{} Booking {b} requested: mitte on {} 10:00–10:12 (lane 1), ausweis; holds 1 unit until confirmed, by {} \
         at the latest; person: envelope {envelope}.\n\
         {} Booking {b} confirmed: waiting number {number} on {}.\n\
         {} Booking {b} cancelled by the citizen; 1 unit free again.\n",
        head_of(requested),
        history.day,
        local(&requested["data"]["confirm_by"], "%Y-%m-%d %H:%M"),
        head_of(confirmed),
        history.day,
        head_of(cancelled),
    );
    assert_eq!(trace, expected);

    // The proposal passed on to Walter after Wilma declined it: why Walter, and not the three before him.
    let made = by_type(&events, "proposal.made");
    // A wish's place in the queue is its confirmation's (double opt-in).
    let queued = by_type(&events, "wish.confirmed");
    let position_of = |wish: &str| {
        queued
            .iter()
            .find(|event| event["data"]["wish"] == wish)
            .map(|event| event["position"].as_u64().unwrap())
            .unwrap()
    };
    let declined_at = by_type(&events, "proposal.declined")[0]["position"].as_u64().unwrap();
    let ended = by_type(&events, "wish.ended")[0];
    let wish_day = history.day + Days::new(1);
    let unit = format!("unit:mitte:{wish_day}:1:0900");
    let trace = audit(&history, &["trace", &history.passed_on]).await;
    let weekday = german_weekday(wish_day);
    let expected = format!(
        "{} Vorschlag {p} für Wunsch {w2}: mitte am {d} 09:00–09:12 (Spur 1); Antwort bis {answer_by}.\n    \
         Warum Wunsch {w2}: eingereiht an Position {r2}, wartend seit Position {r2}; Büro, Zeitfenster \
         ({weekday} 9–10 Uhr), Datum und Dauer (12 von 12 Minuten) passen, keine dieser Einheiten vorher abgelehnt.\n    \
         3 früher eingereihte Wünsche kamen nicht in Frage:\n    \
         - Wunsch {nord} (Position {rn}): Büro passt nicht (wünscht nord).\n    \
         - Wunsch {window} (Position {rw}): Zeitfenster passt nicht ({weekday} 9–10 Uhr nicht gewünscht).\n    \
         - Wunsch {w1} (Position {r1}): hatte {unit} schon abgelehnt (Position {declined_at}).\n\
         {} Wunsch {w2} beendet, von der Person selbst; offener Vorschlag {p} zurückgezogen, 1 Einheit wieder frei.\n",
        head_of(made[1]),
        head_of(ended),
        p = history.passed_on,
        w2 = history.wish_second,
        d = wish_day.format("%d.%m.%Y"),
        answer_by = local(&made[1]["data"]["expires_at"], "%d.%m.%Y %H:%M"),
        r2 = position_of(&history.wish_second),
        nord = history.wish_nord,
        rn = position_of(&history.wish_nord),
        window = history.wish_window,
        rw = position_of(&history.wish_window),
        w1 = history.wish_first,
        r1 = position_of(&history.wish_first),
    );
    assert_eq!(trace, expected);
    assert!(head_of(made[1]).ends_with(" system:matcher"));

    // The same in English, and as JSON.
    let trace = audit(&history, &["trace", &history.passed_on, "--lang", "en"]).await;
    assert!(
        trace.contains(&format!(
            "    - wish {} (position {}): had declined {unit} before (position {declined_at}).\n",
            history.wish_first,
            position_of(&history.wish_first)
        )),
        "{trace}"
    );
    assert!(
        trace.contains("    3 wishes queued earlier could not take it:\n"),
        "{trace}"
    );
    let json: Value = serde_json::from_str(&audit(&history, &["trace", &history.passed_on, "--json"]).await)
        .expect("--json prints one JSON document");
    assert_eq!(json["subject"], json!({"kind": "proposal", "id": history.passed_on}));
    assert_eq!(json["lang"], "de");
    let traced = json["events"].as_array().unwrap();
    assert_eq!(traced.len(), 2);
    let why = &traced[0]["why"];
    assert_eq!(why["wish"], history.wish_second.as_str());
    assert_eq!(why["chosen_problem"], Value::Null);
    let reasons: Vec<&str> = why["passed_over"]
        .as_array()
        .unwrap()
        .iter()
        .map(|passed| passed["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["office", "window", "declined"]);
    assert_eq!(why["reasons"], json!({"declined": 1, "office": 1, "window": 1}));
    assert_eq!(why["passed_over"][2]["at"], declined_at);
    assert!(traced[1].get("why").is_none());
    assert_eq!(traced[1]["data"]["proposal"], history.passed_on.as_str());

    // Wilma's wish: registration, its confirmation, both proposals (each explained), her answers.
    let json: Value = serde_json::from_str(&audit(&history, &["trace", &history.wish_first, "--json"]).await).unwrap();
    let types: Vec<&str> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "wish.registered",
            "wish.confirmed",
            "proposal.made",
            "proposal.declined",
            "proposal.made",
            "proposal.accepted"
        ]
    );
    for made in [&json["events"][2], &json["events"][4]] {
        let reasons: Vec<&str> = made["why"]["passed_over"]
            .as_array()
            .unwrap()
            .iter()
            .map(|passed| passed["reason"].as_str().unwrap())
            .collect();
        assert_eq!(reasons, ["office", "window"], "{made}");
    }
    assert_eq!(json["events"][4]["data"]["proposal"], history.accepted.as_str());
    assert_eq!(json["events"][2]["data"]["proposal"], history.declined.as_str());
    let text = audit(&history, &["trace", &history.wish_first]).await;
    assert!(!text.contains("Wilma"), "no names in a trace: {text}");
    assert!(
        text.contains(&format!(
            " citizen Vorschlag {} abgelehnt: Wunsch {} behält seinen Platz und bekommt mitte am {} ab 09:00 (Spur 1) \
             nie wieder angeboten.\n",
            history.declined,
            history.wish_first,
            wish_day.format("%d.%m.%Y")
        )),
        "{text}"
    );

    // The accepted proposal placed its booking under its own id: the trace shows both.
    let json: Value = serde_json::from_str(&audit(&history, &["trace", &history.accepted, "--json"]).await).unwrap();
    assert_eq!(json["subject"]["kind"], "proposal");
    let types: Vec<&str> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["proposal.made", "proposal.accepted"]);
    assert!(json["events"][0]["why"]["wish"] == history.wish_first.as_str());
    assert_eq!(json["events"][1]["data"]["booking"], history.accepted.as_str());

    // One unit's stream: offered to Wilma, declined, offered to Walter, freed when he ended.
    let json: Value = serde_json::from_str(&audit(&history, &["trace", &unit, "--json"]).await).unwrap();
    let types: Vec<&str> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["proposal.made", "proposal.declined", "proposal.made", "wish.ended"]
    );
    assert_eq!(json["subject"]["kind"], "stream");

    // The walk-in: issued by the kiosk, checked in by it, called and served by the clerk.
    let trace = audit(&history, &["trace", &history.ticket]).await;
    let lines: Vec<(&str, &str)> = trace
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.splitn(5, ' ').collect();
            (fields[1], fields[3].split(':').next().unwrap())
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("booking.ticket_issued", "device"),
            ("visit.checked_in", "device"),
            ("visit.called", "staff"),
            ("visit.started", "staff"),
            ("visit.finished", "staff"),
        ],
        "{trace}"
    );
    assert!(trace.contains("um 09:50 eingecheckt"), "office-local times: {trace}");

    // The office day: its capacity, the booking's units, its numbers, its floor.
    let office_day = format!("mitte/{}", history.day);
    let json: Value = serde_json::from_str(&audit(&history, &["trace", &office_day, "--json"]).await).unwrap();
    let types: Vec<&str> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"capacity.published"), "{types:?}");
    for kind in [
        "booking.requested",
        "booking.confirmed",
        "booking.cancelled",
        "booking.ticket_issued",
        "visit.checked_in",
        "counter.opened",
        "visit.finished",
    ] {
        assert!(types.contains(&kind), "{kind} in {types:?}");
    }
    assert!(
        !types.contains(&"proposal.made"),
        "the wishes' day is another: {types:?}"
    );

    // What is not there, and what is not an id.
    let url = history.app.db.url().to_owned();
    let unknown = ulid::Ulid::new().to_string();
    let (code, out, err) = terminagent(&["audit", "trace", &unknown, "--database-url", &url]).await;
    assert_eq!(code, 1, "not found is 1: {err}");
    assert!(out.is_empty());
    assert_eq!(
        err,
        format!("terminagent: nothing in the log has the id {unknown} (no booking, wish or proposal)\n")
    );
    let (code, _, err) = terminagent(&["audit", "trace", "unit:mitte:2020-01-01:1:0900", "--database-url", &url]).await;
    assert_eq!(code, 1, "{err}");
    for bad in ["hallo", "mitte/morgen"] {
        let (code, _, err) = terminagent(&["audit", "trace", bad, "--database-url", &url]).await;
        assert_eq!(code, 2, "a usage error: {err}");
        assert!(err.starts_with("terminagent: ") && err.contains(bad), "{err}");
    }
    let (code, _, err) = terminagent(&["audit", "trace", b, "--lang", "fr", "--database-url", &url]).await;
    assert_eq!(code, 2, "{err}");

    // The HTTP twin: the same document, for admins and auditors only.
    let path = format!("/api/v1/audit/trace/{}", history.passed_on);
    let cli: Value = serde_json::from_str(&audit(&history, &["trace", &history.passed_on, "--json"]).await).unwrap();
    let (status, answer) = history.app.send(Method::GET, &path, Some(TOKEN), None).await;
    assert_eq!((status, &answer), (StatusCode::OK, &cli));
    let (status, answer) = history.app.send(Method::GET, &path, Some(&history.auditor), None).await;
    assert_eq!((status, &answer), (StatusCode::OK, &cli));
    let (status, answer) = history.app.send(Method::GET, &path, Some(&history.clerk), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = history
        .app
        .send(Method::GET, &format!("{path}?lang=en"), Some(&history.auditor), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["lang"], "en");
    let (status, _) = history.app.send(Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = history
        .app
        .send(
            Method::GET,
            &format!("/api/v1/audit/trace/{unknown}"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, _) = history
        .app
        .send(Method::GET, "/api/v1/audit/trace/hallo", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, answer) = history
        .app
        .send(
            Method::GET,
            &format!("/api/v1/audit/trace/mitte%2F{}", history.day),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["subject"]["kind"], "office_day");
}

async fn exports_leave_out_personal_data(backend: Backend) {
    let history = history(backend).await;
    let events = history.app.all_events().await;
    let count = events.len();
    assert!(count >= 25, "a real history: {count} events");

    let jsonl = audit(&history, &["export", "--format", "jsonl"]).await;
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), count, "one line per event of GET /api/v1/events");
    for (line, event) in lines.iter().zip(&events) {
        for field in ["position", "event_id", "type", "streams", "recorded_at", "actor"] {
            assert_eq!(line[field], event[field], "{field}");
        }
        if !matches!(event["type"].as_str(), Some("staff.registered" | "staff.changed")) {
            assert_eq!(line["data"], event["data"]);
        }
    }
    for personal in PERSONAL {
        assert!(!jsonl.contains(personal), "{personal} in the export");
    }
    assert!(!jsonl.contains("ciphertext"), "not even sealed");
    let staff = lines
        .iter()
        .find(|line| line["type"] == "staff.registered")
        .expect("staff in the history");
    assert!(
        staff["data"]["staff"].is_string() && staff["data"].get("email").is_none(),
        "{staff}"
    );
    let requested = lines.iter().find(|line| line["type"] == "booking.requested").unwrap();
    assert!(requested["data"]["citizen"]["envelope_id"].is_string(), "{requested}");

    let csv = audit(&history, &["export", "--format", "csv"]).await;
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("position,event_id,type,recorded_at,actor,streams,data")
    );
    let rows: Vec<&str> = rows.collect();
    assert_eq!(rows.len(), count);
    for personal in PERSONAL {
        assert!(!csv.contains(personal), "{personal} in the CSV export");
    }
    let first = events[0]["position"].as_u64().unwrap();
    assert!(rows[0].starts_with(&format!("{first},{},", events[0]["event_id"].as_str().unwrap())));
    let requested_row = rows.iter().find(|row| row.contains(",booking.requested,")).unwrap();
    assert!(
        requested_row.contains(",citizen,") && requested_row.contains("|unit:mitte:"),
        "{requested_row}"
    );
    assert!(
        requested_row.ends_with("}\""),
        "data as a quoted JSON string: {requested_row}"
    );

    // Bounds are inclusive positions.
    let bounded = audit(&history, &["export", "--format", "jsonl", "--from", "3", "--to", "7"]).await;
    let positions: Vec<u64> = bounded
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["position"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(positions, [3, 4, 5, 6, 7]);
    let tail = audit(&history, &["export", "--format", "csv", "--from", &count.to_string()]).await;
    assert_eq!(tail.lines().count(), 2, "the header and the last event");
    let beyond = audit(
        &history,
        &["export", "--format", "jsonl", "--from", "5", "--to", "100000"],
    )
    .await;
    assert_eq!(beyond.lines().count(), count - 4);

    // --out writes the file, and nothing to stdout.
    let dir = std::env::temp_dir().join(format!("terminagent-audit-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("log.jsonl");
    let out = audit(
        &history,
        &["export", "--format", "jsonl", "--out", file.to_str().unwrap()],
    )
    .await;
    assert!(out.is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), jsonl);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no partial file left");

    // Usage and connection errors are 2, with a readable line.
    let url = history.app.db.url().to_owned();
    for args in [
        vec![
            "audit",
            "export",
            "--format",
            "jsonl",
            "--from",
            "7",
            "--to",
            "3",
            "--database-url",
            &url,
        ],
        vec!["audit", "export", "--format", "xml", "--database-url", &url],
        vec!["audit", "export", "--database-url", &url],
        vec![
            "audit",
            "export",
            "--format",
            "csv",
            "--from",
            "0",
            "--database-url",
            &url,
        ],
    ] {
        let (code, out, err) = terminagent(&args).await;
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty() && !err.is_empty() && !err.contains("panicked"), "{err}");
    }
    let missing = dir.join("nichts.db");
    let missing_url = format!("sqlite://{}", missing.display());
    let (code, _, err) = terminagent(&["audit", "export", "--format", "jsonl", "--database-url", &missing_url]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no database at"), "{err}");
    assert!(!missing.exists(), "an audit creates no database");
    let closed = format!("postgres://postgres@127.0.0.1:{}/nichts", closed_port());
    let (code, _, err) = terminagent(&["audit", "trace", &history.booking, "--database-url", &closed]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("terminagent: event store postgres://"), "{err}");
    let unwritable = dir.join("fehlt").join("log.csv");
    let (code, _, err) = terminagent(&[
        "audit",
        "export",
        "--format",
        "csv",
        "--out",
        unwritable.to_str().unwrap(),
        "--database-url",
        &url,
    ])
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--out"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `terminagent audit as-of` and `GET /api/v1/audit/as-of`: the office day
/// at a position, at a time and at the head, each checked against what the
/// history did up to there.
async fn as_of_shows_an_office_day_as_it_was(backend: Backend) {
    let history = history(backend).await;
    let app = &history.app;
    let events = app.all_events().await;
    let wish_day = (history.day + Days::new(1)).to_string();
    let day = history.day.to_string();
    let as_of = |at: String, date: String| {
        let url = app.db.url().to_owned();
        async move {
            let (code, out, err) = terminagent(&[
                "audit",
                "as-of",
                &at,
                "--office",
                "mitte",
                "--date",
                &date,
                "--json",
                "--database-url",
                &url,
            ])
            .await;
            assert_eq!(code, 0, "as-of {at}: {err}");
            serde_json::from_str::<Value>(&out).unwrap()
        }
    };
    let states = |answer: &Value| -> Vec<(String, String)> {
        answer["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|unit| {
                (
                    unit["start"].as_str().unwrap().to_owned(),
                    unit["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let queue = |answer: &Value| -> Vec<(String, Value)> {
        answer["waitlist"]["wishes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|wish| (wish["wish"].as_str().unwrap().to_owned(), wish["proposal"].clone()))
            .collect()
    };
    let pair = |start: &str, state: &str| (start.to_owned(), state.to_owned());

    // Right after the first proposal: 09:00 is offered to Wilma, the three
    // wishes naming mitte wait in registration order (Nora names only nord).
    let first_made = by_type(&events, "proposal.made")[0];
    let position = first_made["position"].as_u64().unwrap();
    let answer = as_of(position.to_string(), wish_day.clone()).await;
    assert_eq!(answer["position"], position);
    assert_eq!(answer["recorded_at"], first_made["recorded_at"]);
    assert_eq!(states(&answer), vec![pair("09:00", "proposed")]);
    assert_eq!(
        queue(&answer),
        vec![
            (history.wish_window.clone(), Value::Null),
            (history.wish_first.clone(), json!(history.declined)),
            (history.wish_second.clone(), Value::Null),
        ]
    );
    assert_eq!(
        (
            &answer["waitlist"]["waiting"],
            &answer["waitlist"]["with_open_proposal"]
        ),
        (&json!(3), &json!(1))
    );

    // At the head: Wilma's accepted 09:12 is booked, 09:00 free again after
    // Walter ended his search; only Fenja's wish (another weekday) waits.
    let head = events.last().unwrap()["position"].as_u64().unwrap();
    let answer = as_of(head.to_string(), wish_day.clone()).await;
    assert_eq!(states(&answer), vec![pair("09:00", "free"), pair("09:12", "booked")]);
    assert_eq!(answer["bookings"].as_array().unwrap().len(), 1);
    assert_eq!(answer["bookings"][0]["booking"], json!(history.accepted));
    assert_eq!(queue(&answer), vec![(history.wish_window.clone(), Value::Null)]);
    let (status, over_http) = app
        .send(
            Method::GET,
            &format!("/api/v1/audit/as-of?at={head}&office=mitte&date={wish_day}"),
            Some(&history.auditor),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{over_http}");
    assert_eq!(over_http, answer, "the HTTP twin answers the CLI's document");
    let later = as_of("2999-01-01T00:00:00Z".to_owned(), wish_day.clone()).await;
    assert_eq!(later["position"], head, "a time after the last event answers the head");
    assert_eq!(later["units"], answer["units"]);

    // The booking day at the head: the walk-in took the freed 10:00 and was served.
    let answer = as_of(head.to_string(), day.clone()).await;
    assert_eq!(states(&answer), vec![pair("10:00", "booked"), pair("10:12", "free")]);
    let statuses: Vec<(&Value, &Value)> = answer["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|booking| (&booking["booking"], &booking["status"]))
        .collect();
    assert!(
        statuses.contains(&(&json!(history.booking), &json!("cancelled"))),
        "{answer}"
    );
    assert!(
        statuses.contains(&(&json!(history.ticket), &json!("finished"))),
        "{answer}"
    );
    assert_eq!(answer["totals"]["published"], 2);

    // As of 09:00 that morning, before the kiosk's ticket at 09:50: Berta's
    // cancelled booking only, both units free; the answer stops at the last
    // event recorded by then.
    let nine = instant(history.day, "09:00").to_rfc3339();
    let answer = as_of(nine.clone(), day.clone()).await;
    assert_eq!(states(&answer), vec![pair("10:00", "free"), pair("10:12", "free")]);
    assert_eq!(answer["bookings"].as_array().unwrap().len(), 1, "{answer}");
    let last_before: &Value = events
        .iter()
        .take_while(|event| {
            let recorded: DateTime<Utc> = event["recorded_at"].as_str().unwrap().parse().unwrap();
            recorded <= instant(history.day, "09:00")
        })
        .last()
        .unwrap();
    assert_eq!(answer["position"], last_before["position"]);
    let text = {
        let url = app.db.url().to_owned();
        let (code, out, err) = terminagent(&[
            "audit",
            "as-of",
            &nine,
            "--office",
            "mitte",
            "--date",
            &day,
            "--lang",
            "en",
            "--database-url",
            &url,
        ])
        .await;
        assert_eq!(code, 0, "{err}");
        out
    };
    assert!(text.contains("Units: 2 published, 2 free, 0 booked"), "{text}");
    assert!(text.contains(&history.booking) && text.contains("cancelled"), "{text}");

    // Refusals: readable, with exit codes and problems a script can use.
    let url = app.db.url().to_owned();
    let (code, _, err) = terminagent(&[
        "audit",
        "as-of",
        "gestern",
        "--office",
        "mitte",
        "--date",
        &day,
        "--database-url",
        &url,
    ])
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("neither a log position"), "{err}");
    let (code, _, err) = terminagent(&[
        "audit",
        "as-of",
        "1",
        "--office",
        "nowhere",
        "--date",
        &day,
        "--database-url",
        &url,
    ])
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no office nowhere"), "{err}");
    for (query, token, expected) in [
        (
            format!("at={}&office=mitte&date={day}", head + 1000),
            &history.auditor,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("office=mitte&date={day}"),
            &history.auditor,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("at=1&office=nowhere&date={day}"),
            &history.auditor,
            StatusCode::NOT_FOUND,
        ),
        (
            format!("at=1&office=mitte&date={day}"),
            &history.clerk,
            StatusCode::FORBIDDEN,
        ),
    ] {
        let (status, problem) = app
            .send(Method::GET, &format!("/api/v1/audit/as-of?{query}"), Some(token), None)
            .await;
        assert_eq!(status, expected, "{query}: {problem}");
    }
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    traces_explain_bookings_and_proposals,
    exports_leave_out_personal_data,
    as_of_shows_an_office_day_as_it_was
);

/// Appends `event` (type, data, streams) to the log as `actor` at `at`.
async fn append(store: &terminagent_eventstore::EventStore, event: &impl DomainEvent, actor: &str) {
    let new = terminagent_eventstore::NewEvent {
        event_id: ulid::Ulid::new(),
        event_type: event.event_type().to_owned(),
        schema_version: event.schema_version(),
        streams: event.streams().iter().map(ToString::to_string).collect(),
        recorded_at: "2026-11-20T08:00:00Z".parse().unwrap(),
        correlation_id: None,
        causation_id: None,
        actor: Some(actor.to_owned()),
        data: event.to_data(),
    };
    store.append(&[new], &[]).await.expect("appended");
}

/// A log written by hand, as no correct matcher would write it: two units
/// published at once went to the later wishes, the earlier one got its own
/// proposal only afterwards, and the earliest none at all. The trace names
/// the first "proposed in the same round" and flags the other as
/// contradicting first come, first served.
#[tokio::test(flavor = "multi_thread")]
async fn a_trace_flags_a_choice_the_log_cannot_explain() {
    use terminagent_domain::{
        CapacityPublished, CatalogueEvent, CatalogueName, EnvelopeId, LocalDate, OfficeId, ProposalId, ProposalMade,
        SealedPersonalData, ServiceDetails, ServiceId, UnitRef, WeeklyWindows, WishEvent, WishId, WishRegistered,
    };
    let db = terminagent_eventstore::testing::TestDatabase::new(Backend::Sqlite)
        .await
        .unwrap();
    let store = db.store(Default::default()).await.unwrap();
    let mitte = OfficeId::parse("mitte").unwrap();
    let date = LocalDate::parse("2026-12-01").unwrap(); // a Tuesday
    let unit = |hhmm: &str| UnitRef {
        office: mitte.clone(),
        date,
        lane: 1,
        start: LocalTime::parse(hhmm).unwrap(),
    };
    // In UTC, so the proposals' instants below are the units' local times.
    append(
        &store,
        &CatalogueEvent::OfficeRegistered(terminagent_domain::OfficeDetails {
            office: mitte.clone(),
            name: CatalogueName::parse("Bürgerbüro Mitte").unwrap(),
            address: terminagent_domain::OfficeAddress::parse("Markt 1").unwrap(),
            timezone: OfficeTimeZone::parse("UTC").unwrap(),
            opening_hours: None,
            holidays: None,
            closed_days: Default::default(),
        }),
        "operator",
    )
    .await;
    append(
        &store,
        &CatalogueEvent::ServiceRegistered(ServiceDetails {
            service: ServiceId::parse("ausweis").unwrap(),
            name: CatalogueName::parse("Personalausweis").unwrap(),
            duration_minutes: 12,
            walk_in: false,
            description: None,
        }),
        "operator",
    )
    .await;
    let wishes: Vec<WishId> = (0..3).map(|_| WishId::from_ulid(ulid::Ulid::new())).collect();
    for wish in &wishes {
        let registered = WishRegistered {
            wish: *wish,
            offices: vec![mitte.clone()],
            services: vec![ServiceId::parse("ausweis").unwrap()],
            windows: WeeklyWindows::new([(chrono::Weekday::Tue, 9)]).unwrap(),
            until: None,
            lapses_at: None,
            citizen: SealedPersonalData {
                envelope_id: EnvelopeId::from_ulid(ulid::Ulid::new()),
                nonce: "00".into(),
                ciphertext: "00".into(),
            },
            links: Vec::new(),
            registered_at: "2026-11-20T08:00:00Z".parse().unwrap(),
            confirm_by: None,
        };
        append(&store, &WishEvent::Registered(registered), "citizen").await;
    }
    append(
        &store,
        &CatalogueEvent::CapacityPublished(CapacityPublished {
            office: mitte.clone(),
            date,
            from: LocalTime::parse("09:00").unwrap(),
            to: LocalTime::parse("09:24").unwrap(),
            unit_minutes: 12,
            lanes: 1,
            first_lane: 1,
            units: 2,
        }),
        "operator",
    )
    .await;
    let made = |wish: WishId, hhmm: &str| {
        let start: DateTime<Utc> = format!("2026-12-01T{hhmm}:00Z").parse().unwrap();
        ProposalMade {
            proposal: ProposalId::from_ulid(ulid::Ulid::new()),
            wish,
            office: mitte.clone(),
            units: vec![unit(hhmm)],
            start,
            end: start + chrono::Duration::minutes(12),
            expires_at: start,
            links: Vec::new(),
        }
    };
    let late = made(wishes[2], "09:00");
    append(&store, &WishEvent::ProposalMade(late.clone()), "system:matcher").await;
    append(
        &store,
        &WishEvent::ProposalMade(made(wishes[1], "09:12")),
        "system:matcher",
    )
    .await;

    let trace = terminagent::audit::trace::trace(&store, &late.proposal.to_string(), terminagent::audit::Lang::En)
        .await
        .unwrap();
    let why = trace.events[0].why.as_ref().expect("a proposal is explained");
    let reasons: Vec<(String, &str)> = why
        .passed_over
        .iter()
        .map(|passed| (passed.wish.clone(), passed.reason.key()))
        .collect();
    assert_eq!(
        reasons,
        [
            (wishes[0].to_string(), "unexplained"),
            (wishes[1].to_string(), "proposed_same_round")
        ]
    );
    let text = trace.to_text();
    assert!(
        text.contains(&format!(
            "    - wish {} (position 3): no reason in the log — this contradicts first come, first served.\n",
            wishes[0]
        )),
        "{text}"
    );
    assert!(text.contains("got a proposal of its own in the same round"), "{text}");
    assert_eq!(
        serde_json::to_value(&why.reasons).unwrap(),
        json!({"proposed_same_round": 1, "unexplained": 1})
    );

    // `audit verify` finds it too, with its position: the chain is intact
    // (the events were appended, not edited), the independent checker is not.
    let log = store.read_all(0, 100).await.unwrap();
    let late_position = log
        .iter()
        .find(|event| event.event.data.as_str().contains(&late.proposal.to_string()))
        .unwrap()
        .position;
    let (code, out, err) = terminagent(&["audit", "verify", "--database-url", db.url()]).await;
    assert_eq!(code, 1, "{out} {err}");
    assert!(out.starts_with(&format!("position {late_position}: ")), "{out}");
    assert!(
        out.contains(&wishes[0].to_string()),
        "names the wish passed over: {out}"
    );
    store.close().await;
}
