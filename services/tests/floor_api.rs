//! The office floor over HTTP (API.md "The office floor", DESIGN.md
//! invariants 10 and 11), against an app on port 0 on both backends. The
//! app's clock is the test's ([`ManualClock`]): a morning is set hour by
//! hour, so check-ins at the window's edges and the recall delay are exact.
//! Bookings are made and confirmed as citizens do (form, then the confirm
//! link, whose answer carries the check-in code).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ManualClock, TOKEN, TestApp};
use terminagent::application::Executor;
use terminagent::application::floor;
use terminagent_domain::{Actor, BookingId, FloorDecider, FloorPolicy, MarkNoShow};
use terminagent_eventstore::Backend;

/// An office day with its staff and devices, and a clock set to its morning.
struct Office {
    app: TestApp,
    clock: Arc<ManualClock>,
    day: NaiveDate,
    clerk: String,
    clerk_id: String,
    kiosk: String,
    kiosk_id: String,
    display: String,
    secret: terminagent::links::LinkSecret,
}

/// A booking confirmed through its link.
#[derive(Debug, Clone)]
struct Booked {
    id: String,
    number: String,
    code: String,
}

impl Office {
    /// `hh:mm[:ss]` of the test's day, UTC (the office's zone).
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

    async fn send(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.app.send(method, path, Some(token), body).await
    }

    async fn check_in(&self, token: &str, office: &str, code: &str) -> (StatusCode, Value) {
        let path = format!("/api/v1/offices/{office}/check-ins");
        self.send(token, Method::POST, &path, Some(json!({"code": code}))).await
    }

    async fn next(&self, counter: &str) -> (StatusCode, Value) {
        let path = format!("/api/v1/offices/mitte/counters/{counter}/next");
        self.send(&self.clerk, Method::POST, &path, None).await
    }

    async fn counter(&self, counter: &str, change: &str, body: Option<Value>) -> (StatusCode, Value) {
        let path = format!("/api/v1/offices/mitte/counters/{counter}/{change}");
        self.send(&self.clerk, Method::POST, &path, body).await
    }

    async fn visit(&self, booking: &Booked, action: &str) -> (StatusCode, Value) {
        let path = format!("/api/v1/visits/{}/{action}", booking.id);
        self.send(&self.clerk, Method::POST, &path, None).await
    }

    /// Asserts a move answers 200 with the visit's new status.
    async fn moved(&self, booking: &Booked, action: &str, status: &str) {
        let (code, answer) = self.visit(booking, action).await;
        assert_eq!(
            (code, answer),
            (StatusCode::OK, json!({"booking_id": booking.id, "status": status})),
            "{action}"
        );
    }

    /// Books a slot at `start` as a citizen and confirms it by its link.
    async fn book(&self, start: &str, email: &str) -> Booked {
        self.book_at("mitte", &["ausweis"], start, email).await
    }

    /// [`Office::book`] at another office or for other services.
    async fn book_at(&self, office: &str, services: &[&str], start: &str, email: &str) -> Booked {
        let body = json!({"office": office, "services": services, "start": self.local(start),
                          "citizen": {"name": "Erika Mustermann", "email": email}});
        let (status, requested) = self.app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{requested}");
        let id = requested["booking_id"].as_str().unwrap().to_owned();
        let confirm = self.secret.token(&id, "confirm_booking");
        let (status, pressed) = self
            .app
            .send(Method::POST, &format!("/api/v1/links/{}", confirm.as_str()), None, None)
            .await;
        assert_eq!(
            (status, &pressed["outcome"]),
            (StatusCode::OK, &json!("done")),
            "{pressed}"
        );
        let booking = &pressed["booking"];
        assert_eq!(booking["status"], "confirmed");
        let code = booking["check_in_code"]
            .as_str()
            .expect("the confirm link's answer carries the code");
        assert_eq!(code, self.secret.checkin_code(&id), "the code the mail carries");
        Booked {
            id,
            number: booking["number"].as_str().unwrap().to_owned(),
            code: code.to_owned(),
        }
    }

    /// The floor's events of the log (those of office `mitte`).
    async fn floor_events(&self) -> Vec<Value> {
        self.app
            .all_events()
            .await
            .into_iter()
            .filter(|event| {
                let kind = event["type"].as_str().unwrap();
                (kind.starts_with("visit.") || kind.starts_with("counter.")) && event["data"]["office"] == "mitte"
            })
            .collect()
    }

    /// The display's JSON against the log: the same calls, newest first, and
    /// as many waiting as the log's check-ins and returns not called or missed.
    async fn display_agrees_with_the_log(&self) -> Value {
        let (status, display) = self
            .send(&self.display, Method::GET, "/api/v1/offices/mitte/display", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{display}");
        let instant = |text: &Value| DateTime::parse_from_rfc3339(text.as_str().unwrap()).unwrap();
        let shown: Vec<(Value, Value, DateTime<chrono::FixedOffset>, bool)> = display["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|call| {
                (
                    call["number"].clone(),
                    call["counter"].clone(),
                    instant(&call["called_at"]),
                    call["recall"].as_bool().unwrap(),
                )
            })
            .collect();
        let mut logged = Vec::new();
        let mut waiting = BTreeSet::new();
        for event in self.floor_events().await {
            let data = &event["data"];
            let booking = data["booking"].as_str().unwrap_or_default().to_owned();
            match event["type"].as_str().unwrap() {
                "visit.called" => {
                    waiting.remove(&booking);
                    logged.push((
                        data["number"].clone(),
                        data["counter"].clone(),
                        instant(&data["called_at"]),
                        false,
                    ));
                }
                "visit.recalled" => logged.push((
                    data["number"].clone(),
                    data["counter"].clone(),
                    instant(&data["recalled_at"]),
                    true,
                )),
                "visit.checked_in" | "visit.returned" => {
                    waiting.insert(booking);
                }
                "visit.missed" => {
                    waiting.remove(&booking);
                }
                _ => {}
            }
        }
        logged.reverse();
        assert_eq!(shown, logged, "the display shows the log's calls, newest first");
        assert_eq!(display["waiting"], json!(waiting.len()), "{display}");
        display
    }

    async fn projections_equal_their_replay(&self) {
        let (status, check) = self.app.get("/api/v1/projections").await;
        assert_eq!(status, StatusCode::OK);
        let views = check["projections"].as_array().unwrap();
        assert!(views.iter().any(|view| view["name"] == "floor"), "{check}");
        assert!(views.iter().all(|view| view["equal"] == true), "{check}");
    }
}

/// Office `mitte` (UTC) with 50 lanes 09:00–10:24 on a day ten days ahead,
/// office `nord`; a clerk of `mitte`, its kiosk and its display; the clock
/// at 07:00 of that day.
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
    let (_, issued) = app
        .send(
            Method::POST,
            "/api/v1/staff/karl@stadt.example/tokens",
            Some(TOKEN),
            None,
        )
        .await;
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
        clerk: issued["token"].as_str().unwrap().to_owned(),
        clerk_id: entry["staff_id"].as_str().unwrap().to_owned(),
        kiosk: kiosk["token"].as_str().unwrap().to_owned(),
        kiosk_id: kiosk["device_id"].as_str().unwrap().to_owned(),
        display: display["token"].as_str().unwrap().to_owned(),
        secret,
        app,
    }
}

fn problem_type(problem: &Value) -> &str {
    problem["type"].as_str().unwrap_or_default()
}

/// A morning: check-ins at the window's edges, a no-show marked by the
/// timer, calls to two counters, a recall too soon and in time, a missed
/// visit, park and return, a walk-in ticket, start and finish, counters
/// paused and closed; every step in the log under its actor, the display
/// and the day list agreeing with it, and the display as it was at 09:15
/// rebuilt from the log afterwards.
async fn a_morning_on_the_floor(backend: Backend) {
    let office = office(backend).await;
    let walk_in = json!({"name": "Personalausweis", "duration_minutes": 12, "walk_in": true});
    let (status, _) = office.app.staff(Method::PUT, "/api/v1/services/ausweis", walk_in).await;
    assert_eq!(status, StatusCode::OK);
    let anna = office.book("09:00", "anna@example.org").await;
    let bert = office.book("09:00", "bert@example.org").await;
    let carl = office.book("09:00", "carl@example.org").await;
    let emil = office.book("09:00", "emil@example.org").await;
    let fina = office.book("09:00", "fina@example.org").await;
    let kiosk = office.kiosk.as_str();

    // Check-in opens 15 minutes before the start: a second early is refused, saying when.
    office.at("08:44:59");
    let (status, problem) = office.check_in(kiosk, "mitte", &anna.code).await;
    assert_eq!(
        (status, problem_type(&problem)),
        (StatusCode::CONFLICT, "/problems/too-early")
    );
    assert_eq!(problem["from"], office.local("08:45"), "{problem}");
    office.at("08:45:00");
    let (status, checked) = office.check_in(kiosk, "mitte", &anna.code).await;
    let expected = json!({"booking_id": anna.id, "number": anna.number, "start": office.local("09:00"),
                          "status": "checked_in"});
    assert_eq!((status, &checked), (StatusCode::OK, &expected));
    // A repeat (typed in lower case with a dash) answers the same.
    let typed = format!("{}-{}", &anna.code[..4], &anna.code[4..]).to_lowercase();
    office.at("08:47");
    let (status, again) = office.check_in(kiosk, "mitte", &typed).await;
    assert_eq!((status, again), (StatusCode::OK, expected));
    let (status, _) = office.check_in(kiosk, "mitte", "ZZZZZZZZ").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an unknown code");
    // The clerk checks in too.
    office.at("08:50");
    for booking in [&emil, &fina] {
        let (status, answer) = office.check_in(&office.clerk, "mitte", &booking.code).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    // Check-in closes 5 minutes after the start: at that instant still open, a second later not.
    office.at("09:05:00");
    let (status, answer) = office.check_in(kiosk, "mitte", &bert.code).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let display = office.display_agrees_with_the_log().await;
    assert_eq!(display["waiting"], 4);
    office.at("09:05:01");
    let (status, problem) = office.check_in(kiosk, "mitte", &carl.code).await;
    assert_eq!(
        (status, problem_type(&problem)),
        (StatusCode::CONFLICT, "/problems/too-late"),
        "{problem}"
    );

    // The timer marks Carl missed (and nobody else), under its own name.
    let missed = office.app.wait_for_events("visit.missed", 1).await;
    assert_eq!(missed[0]["data"]["booking"], carl.id.as_str());
    assert_eq!(missed[0]["data"]["reason"], "no_show");
    assert_eq!(missed[0]["actor"], json!({"kind": "system", "id": "timer"}));
    let (status, problem) = office.check_in(kiosk, "mitte", &carl.code).await;
    assert_eq!(
        (status, problem_type(&problem)),
        (StatusCode::CONFLICT, "/problems/too-late"),
        "{problem}"
    );

    // Counter 1 calls Anna (earliest check-in among those due) and holds her.
    office.at("09:06");
    let (status, call) = office.next("1").await;
    let expected = json!({"booking_id": anna.id, "number": anna.number, "counter": "1",
                          "called_at": office.local("09:06")});
    assert_eq!((status, call), (StatusCode::OK, expected));
    let (status, problem) = office.next("1").await;
    assert_eq!(
        (status, problem_type(&problem)),
        (StatusCode::CONFLICT, "/problems/counter-busy")
    );
    let (status, problem) = office.visit(&anna, "finish").await;
    assert_eq!(
        (status, problem_type(&problem)),
        (StatusCode::CONFLICT, "/problems/invalid-transition"),
        "finish needs start"
    );
    office.moved(&anna, "start", "serving").await;
    office.moved(&anna, "start", "serving").await; // a double click
    office.moved(&anna, "finish", "finished").await;
    let (status, problem) = office.visit(&anna, "start").await;
    assert_eq!(
        (status, problem_type(&problem)),
        (StatusCode::CONFLICT, "/problems/invalid-transition")
    );
    let (status, problem) = office.visit(&anna, "jump").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");

    // Emil (checked in with Fina, booked first) is called, does not come, is
    // recalled no sooner than 5 minutes later, then missed.
    let (status, call) = office.next("1").await;
    assert_eq!((status, &call["booking_id"]), (StatusCode::OK, &json!(emil.id)));
    let (status, problem) = office.visit(&emil, "missed").await;
    assert_eq!(
        (status, problem_type(&problem)),
        (StatusCode::CONFLICT, "/problems/invalid-transition"),
        "missed only after a recall"
    );
    office.at("09:10:59");
    let (status, problem) = office.visit(&emil, "recall").await;
    assert_eq!(
        (status, problem_type(&problem)),
        (StatusCode::CONFLICT, "/problems/too-soon-to-recall")
    );
    assert_eq!(problem["from"], office.local("09:11"), "{problem}");
    office.at("09:11");
    office.moved(&emil, "recall", "called").await;
    office.moved(&emil, "missed", "missed").await;

    // Counter 2 (opened by its first call) takes Fina, who is parked, and then Bert.
    office.at("09:12");
    let (status, call) = office.next("2").await;
    assert_eq!((status, &call["booking_id"]), (StatusCode::OK, &json!(fina.id)));
    office.moved(&fina, "park", "parked").await;
    let (_, call) = office.next("2").await;
    assert_eq!(call["booking_id"], bert.id.as_str());
    office.moved(&bert, "start", "serving").await;
    // What the waiting room saw at 09:15, to be rebuilt from the log later.
    office.at("09:15");
    let at_quarter_past = office.display_agrees_with_the_log().await;
    assert_eq!(at_quarter_past["as_of"], office.local("09:15"));
    office.at("09:20");
    office.moved(&bert, "finish", "finished").await;
    // Fina is back and first in line again.
    office.moved(&fina, "return", "checked_in").await;
    // A walk-in draws a ticket at the kiosk: the next free start, 09:24; checked in at once.
    office.at("09:21");
    let (status, ticket) = office
        .send(
            kiosk,
            Method::POST,
            "/api/v1/offices/mitte/tickets",
            Some(json!({"services": ["ausweis"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    assert_eq!(ticket["start"], office.local("09:24"), "{ticket}");
    let walk_in = Booked {
        id: ticket["booking_id"].as_str().unwrap().to_owned(),
        number: ticket["number"].as_str().unwrap().to_owned(),
        code: ticket["check_in_code"].as_str().unwrap().to_owned(),
    };
    let (status, answer) = office.check_in(kiosk, "mitte", &walk_in.code).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Fina is due (09:00), the walk-in not yet (09:24): Fina first.
    let (_, call) = office.next("1").await;
    assert_eq!(call["booking_id"], fina.id.as_str());
    office.moved(&fina, "start", "serving").await;
    office.at("09:30");
    office.moved(&fina, "finish", "finished").await;
    let (_, call) = office.next("1").await;
    assert_eq!(call["booking_id"], walk_in.id.as_str());
    office.moved(&walk_in, "start", "serving").await;
    office.at("09:38");
    office.moved(&walk_in, "finish", "finished").await;
    let (status, nobody) = office.next("1").await;
    assert_eq!((status, nobody), (StatusCode::NO_CONTENT, Value::Null));

    // Counters: paused with a reason, closed, opened again.
    let (status, paused) = office
        .counter("1", "pause", Some(json!({"reason": "Mittagspause"})))
        .await;
    assert_eq!(
        (status, paused),
        (
            StatusCode::OK,
            json!({"counter": "1", "status": "paused", "reason": "Mittagspause"})
        )
    );
    let (status, problem) = office.next("1").await;
    assert_eq!(
        (status, problem_type(&problem)),
        (StatusCode::CONFLICT, "/problems/counter-paused")
    );
    let (status, closed) = office.counter("2", "close", None).await;
    assert_eq!(
        (status, closed),
        (StatusCode::OK, json!({"counter": "2", "status": "closed"}))
    );
    let (status, problem) = office.next("2").await;
    assert_eq!(
        (status, problem_type(&problem)),
        (StatusCode::CONFLICT, "/problems/counter-closed")
    );
    let (status, opened) = office.counter("1", "open", None).await;
    assert_eq!(
        (status, opened),
        (StatusCode::OK, json!({"counter": "1", "status": "open"}))
    );
    let (status, nobody) = office.next("1").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{nobody}");

    // The display: every call and recall, newest first, as the log has them.
    let display = office.display_agrees_with_the_log().await;
    let numbers: Vec<(&str, &str, bool)> = display["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|call| {
            (
                call["number"].as_str().unwrap(),
                call["counter"].as_str().unwrap(),
                call["recall"] == true,
            )
        })
        .collect();
    assert_eq!(
        numbers,
        [
            (walk_in.number.as_str(), "1", false),
            (fina.number.as_str(), "1", false),
            (bert.number.as_str(), "2", false),
            (fina.number.as_str(), "2", false),
            (emil.number.as_str(), "1", true),
            (emil.number.as_str(), "1", false),
            (anna.number.as_str(), "1", false),
        ]
    );
    assert_eq!(display["waiting"], 0);

    // Every floor event names its actor: kiosk, clerk or timer (invariant 10).
    let kiosk_actor = json!({"kind": "device", "id": office.kiosk_id});
    let clerk_actor = json!({"kind": "staff", "id": office.clerk_id});
    let timer_actor = json!({"kind": "system", "id": "timer"});
    let events = office.floor_events().await;
    for event in &events {
        let booking = event["data"]["booking"].as_str();
        let expected = match (event["type"].as_str().unwrap(), booking) {
            ("visit.checked_in", Some(id)) if [&anna.id, &bert.id, &walk_in.id].contains(&&id.to_owned()) => {
                &kiosk_actor
            }
            ("visit.missed", Some(id)) if id == carl.id => &timer_actor,
            _ => &clerk_actor,
        };
        assert_eq!(&event["actor"], expected, "{event}");
        assert!(
            event["streams"]
                .as_array()
                .unwrap()
                .contains(&json!(format!("floor:mitte:{}", office.day))),
            "{event}"
        );
    }
    let kinds: BTreeMap<&str, usize> = events.iter().fold(BTreeMap::new(), |mut kinds, event| {
        *kinds.entry(event["type"].as_str().unwrap()).or_default() += 1;
        kinds
    });
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("counter.closed", 1),
            ("counter.opened", 3),
            ("counter.paused", 1),
            ("visit.called", 6),
            ("visit.checked_in", 5),
            ("visit.finished", 4),
            ("visit.missed", 2),
            ("visit.parked", 1),
            ("visit.recalled", 1),
            ("visit.returned", 1),
            ("visit.started", 4),
        ])
    );

    // The day list: each booking where the floor left it, the walk-in without a name.
    let path = format!("/api/v1/offices/mitte/days/{}", office.day);
    let (status, list) = office.send(&office.clerk, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed: BTreeMap<&str, (&str, &Value)> = list["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["booking_id"].as_str().unwrap(),
                (row["status"].as_str().unwrap(), &row["name"]),
            )
        })
        .collect();
    let name = json!("Erika Mustermann");
    let expected: BTreeMap<&str, (&str, &Value)> = BTreeMap::from([
        (anna.id.as_str(), ("finished", &name)),
        (bert.id.as_str(), ("finished", &name)),
        (carl.id.as_str(), ("missed", &name)),
        (emil.id.as_str(), ("missed", &name)),
        (fina.id.as_str(), ("finished", &name)),
        (walk_in.id.as_str(), ("finished", &Value::Null)),
    ]);
    assert_eq!(listed, expected);

    // The display as it was at 09:15, rebuilt from the log: what the room saw then.
    let path = format!("/api/v1/offices/mitte/display?as_of={}", office.local("09:15"));
    let (status, rebuilt) = office
        .send(&office.display, Method::GET, &path.replace('+', "%2B"), None)
        .await;
    assert_eq!((status, rebuilt), (StatusCode::OK, at_quarter_past));
    // An instant not yet come, or none at all, is refused.
    for as_of in ["2999-01-01T00:00:00Z", "quarter-past-nine"] {
        let path = format!("/api/v1/offices/mitte/display?as_of={as_of}");
        let (status, problem) = office.send(&office.display, Method::GET, &path, None).await;
        assert_eq!(
            (status, problem_type(&problem)),
            (StatusCode::UNPROCESSABLE_ENTITY, "/problems/invalid-request"),
            "{problem}"
        );
    }
    office.projections_equal_their_replay().await;
}

/// Kiosks check in at their own office only and call nobody; displays only
/// read; a clerk runs only their own office's floor.
async fn tokens_reach_only_their_part_of_the_floor(backend: Backend) {
    let office = office(backend).await;
    let anna = office.book("09:00", "anna@example.org").await;
    office.at("08:50");
    let (kiosk, display, clerk) = (office.kiosk.as_str(), office.display.as_str(), office.clerk.as_str());
    let refused = [
        (
            kiosk,
            Method::POST,
            "/api/v1/offices/nord/check-ins".to_owned(),
            Some(json!({"code": anna.code})),
        ),
        (
            kiosk,
            Method::POST,
            "/api/v1/offices/mitte/counters/1/next".to_owned(),
            None,
        ),
        (
            kiosk,
            Method::POST,
            "/api/v1/offices/mitte/counters/1/open".to_owned(),
            None,
        ),
        (kiosk, Method::POST, format!("/api/v1/visits/{}/start", anna.id), None),
        (kiosk, Method::GET, "/api/v1/offices/mitte/display".to_owned(), None),
        (
            display,
            Method::POST,
            "/api/v1/offices/mitte/check-ins".to_owned(),
            Some(json!({"code": anna.code})),
        ),
        (
            display,
            Method::POST,
            "/api/v1/offices/mitte/counters/1/next".to_owned(),
            None,
        ),
        (display, Method::GET, "/api/v1/offices/nord/display".to_owned(), None),
        (
            display,
            Method::GET,
            "/api/v1/offices/nord/display/stream".to_owned(),
            None,
        ),
        (
            clerk,
            Method::POST,
            "/api/v1/offices/nord/counters/1/next".to_owned(),
            None,
        ),
        (
            clerk,
            Method::POST,
            "/api/v1/offices/nord/check-ins".to_owned(),
            Some(json!({"code": anna.code})),
        ),
        (clerk, Method::GET, "/api/v1/offices/nord/display".to_owned(), None),
    ];
    let head = office.app.all_events().await.len();
    for (token, method, path, body) in refused {
        let (status, problem) = office.send(token, method.clone(), &path, body).await;
        assert_eq!(
            (status, problem_type(&problem)),
            (StatusCode::FORBIDDEN, "/problems/forbidden"),
            "{method} {path}"
        );
    }
    assert_eq!(
        office.app.all_events().await.len(),
        head,
        "refused requests wrote nothing"
    );
    // What each may do.
    let (status, _) = office.check_in(kiosk, "mitte", &anna.code).await;
    assert_eq!(status, StatusCode::OK);
    for token in [display, clerk, TOKEN] {
        let (status, shown) = office
            .send(token, Method::GET, "/api/v1/offices/mitte/display", None)
            .await;
        assert_eq!((status, &shown["waiting"]), (StatusCode::OK, &json!(1)));
    }
    let (status, _) = office.next("1").await;
    assert_eq!(status, StatusCode::OK);
    // A booking the log does not know, at no office.
    let (status, _) = office
        .send(
            clerk,
            Method::POST,
            "/api/v1/visits/01JE5Q3K8Y2X4N6P7R9S0T1V2W/start",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// 200 visitors checked in; two counters press "next" at the same moment,
/// then finish, again and again (100 races): never one visitor at both,
/// every visitor called exactly once, in the queue's order (invariant 11).
async fn two_counters_racing_call_every_visitor_once(backend: Backend) {
    let office = office(backend).await;
    let starts = ["09:36", "09:48", "10:00", "10:12"];
    let mut groups: Vec<Vec<Booked>> = Vec::new();
    for start in starts {
        let emails: Vec<String> = (0..50)
            .map(|n| format!("visitor-{}-{n}@example.org", start.replace(':', "")))
            .collect();
        let mut group = Vec::new();
        for chunk in emails.chunks(10) {
            group.extend(join_all(chunk.iter().map(|email| office.book(start, email))).await);
        }
        groups.push(group);
    }
    let everyone: Vec<Booked> = groups.iter().flatten().cloned().collect();
    // Check-in opens 15 minutes before each start and closes 5 after: the
    // first two groups at 09:35, the others at 09:58.
    for (time, checking_in) in [("09:35", &groups[..2]), ("09:58", &groups[2..])] {
        office.at(time);
        for chunk in checking_in.iter().flatten().collect::<Vec<_>>().chunks(10) {
            let answers = join_all(
                chunk
                    .iter()
                    .map(|booking| office.check_in(&office.kiosk, "mitte", &booking.code)),
            )
            .await;
            for (status, answer) in answers {
                assert_eq!(status, StatusCode::OK, "{answer}");
            }
        }
    }
    let display = office.display_agrees_with_the_log().await;
    assert_eq!(display["waiting"], 200);

    let by_id: BTreeMap<&str, &Booked> = everyone.iter().map(|booking| (booking.id.as_str(), booking)).collect();
    let mut called: Vec<String> = Vec::new();
    for round in 0..100 {
        let ((one, first), (two, second)) = tokio::join!(office.next("1"), office.next("2"));
        assert_eq!(
            (one, two),
            (StatusCode::OK, StatusCode::OK),
            "round {round}: {first} {second}"
        );
        let (first, second) = (
            first["booking_id"].as_str().unwrap(),
            second["booking_id"].as_str().unwrap(),
        );
        assert_ne!(first, second, "round {round}: one visitor at two counters");
        for id in [first, second] {
            assert!(!called.iter().any(|seen| seen == id), "{id} called twice");
            called.push(id.to_owned());
        }
        let (a, b) = (by_id[first], by_id[second]);
        let (started_a, started_b) = tokio::join!(office.visit(a, "start"), office.visit(b, "start"));
        assert_eq!((started_a.0, started_b.0), (StatusCode::OK, StatusCode::OK));
        let (done_a, done_b) = tokio::join!(office.visit(a, "finish"), office.visit(b, "finish"));
        assert_eq!((done_a.0, done_b.0), (StatusCode::OK, StatusCode::OK));
    }
    let ((one, _), (two, _)) = tokio::join!(office.next("1"), office.next("2"));
    assert_eq!((one, two), (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT));

    // The log: each visitor called once, the groups in the order of their starts.
    let calls: Vec<String> = office
        .floor_events()
        .await
        .into_iter()
        .filter(|event| event["type"] == "visit.called")
        .map(|event| event["data"]["booking"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(calls.len(), 200);
    assert_eq!(calls.iter().collect::<BTreeSet<_>>().len(), 200);
    for (n, group) in groups.iter().enumerate() {
        let ids: BTreeSet<&str> = group.iter().map(|booking| booking.id.as_str()).collect();
        assert!(
            calls[n * 50..(n + 1) * 50].iter().all(|id| ids.contains(id.as_str())),
            "group {n} is called {n}th: {calls:?}"
        );
    }
    let everyone_ids: BTreeSet<&str> = by_id.keys().copied().collect();
    assert_eq!(called.iter().map(String::as_str).collect::<BTreeSet<_>>(), everyone_ids);
    let display = office.display_agrees_with_the_log().await;
    assert_eq!(
        (display["calls"].as_array().unwrap().len(), &display["waiting"]),
        (200, &json!(0))
    );
    office.projections_equal_their_replay().await;
}

/// One server-sent event as read off the wire.
#[derive(Debug, PartialEq)]
struct Sent {
    event: String,
    id: u64,
    data: Value,
}

/// Reads a `text/event-stream` answer chunk by chunk.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    async fn open(office: &Office, last_event_id: Option<u64>) -> EventStream {
        let mut request = office
            .app
            .client
            .get(format!("{}/api/v1/offices/mitte/display/stream", office.app.base))
            .bearer_auth(&office.display);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        EventStream {
            response,
            buffer: String::new(),
        }
    }

    /// The next block (up to a blank line), waiting at most `within`.
    async fn block(&mut self, within: Duration) -> String {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block = self.buffer[..end].to_owned();
                self.buffer.drain(..end + 2);
                return block;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("the stream sends in time")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event (heartbeat comments skipped).
    async fn next(&mut self) -> Sent {
        loop {
            let block = self.block(Duration::from_secs(10)).await;
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|line| line.strip_prefix(&format!("{name}:")))
                    .map(|value| value.trim_start().to_owned())
            };
            if let Some(event) = field("event") {
                return Sent {
                    event,
                    id: field("id").unwrap().parse().unwrap(),
                    data: serde_json::from_str(&field("data").unwrap()).unwrap(),
                };
            }
        }
    }
}

/// The display's stream sends a `call` for each call and recall, with the
/// log position as its id; a display that reconnects with `Last-Event-ID`
/// gets what it missed; an idle stream sends a heartbeat.
async fn the_display_stream_sends_calls_and_resumes(backend: Backend) {
    let office = office(backend).await;
    let xaver = office.book("09:00", "xaver@example.org").await;
    let yvonne = office.book("09:00", "yvonne@example.org").await;
    office.at("08:50");
    for booking in [&xaver, &yvonne] {
        let (status, _) = office.check_in(&office.kiosk, "mitte", &booking.code).await;
        assert_eq!(status, StatusCode::OK);
    }
    let mut stream = EventStream::open(&office, None).await;
    let (status, _) = office.next("6").await;
    assert_eq!(status, StatusCode::OK);
    let first = stream.next().await;
    let position = |events: &[Value], kind: &str, booking: &Booked| {
        events
            .iter()
            .find(|event| event["type"] == kind && event["data"]["booking"] == booking.id.as_str())
            .map(|event| event["position"].as_u64().unwrap())
            .unwrap()
    };
    let events = office.app.all_events().await;
    assert_eq!(
        first,
        Sent {
            event: "call".into(),
            id: position(&events, "visit.called", &xaver),
            data: json!({"number": xaver.number, "counter": "6", "called_at": office.local("08:50"), "recall": false}),
        }
    );
    drop(stream);

    // While the display is away: Xaver served, Yvonne called to 7 and recalled.
    office.moved(&xaver, "start", "serving").await;
    office.moved(&xaver, "finish", "finished").await;
    office.at("08:52");
    let (_, call) = office.next("7").await;
    assert_eq!(call["booking_id"], yvonne.id.as_str());
    office.at("08:57");
    office.moved(&yvonne, "recall", "called").await;

    let mut resumed = EventStream::open(&office, Some(first.id)).await;
    let events = office.app.all_events().await;
    let call = resumed.next().await;
    let recall = resumed.next().await;
    assert_eq!(
        (call, recall),
        (
            Sent {
                event: "call".into(),
                id: position(&events, "visit.called", &yvonne),
                data: json!({"number": yvonne.number, "counter": "7", "called_at": office.local("08:52"),
                             "recall": false}),
            },
            Sent {
                event: "call".into(),
                id: position(&events, "visit.recalled", &yvonne),
                data: json!({"number": yvonne.number, "counter": "7", "called_at": office.local("08:57"),
                             "recall": true}),
            }
        )
    );
    // Idle: a comment every 15 s keeps the connection open.
    let heartbeat = resumed.block(Duration::from_secs(20)).await;
    assert!(heartbeat.starts_with(':'), "{heartbeat:?}");
}

/// Asserts the free starts for one 12-minute service at `nord` on the
/// test's day become `times` (the availability view follows the log within
/// moments).
async fn assert_free_starts(office: &Office, times: &[&str]) {
    let expected: Vec<String> = times.iter().map(|time| office.local(time)).collect();
    let path = format!(
        "/api/v1/availability?office=nord&services=ausweis&from={0}&to={0}",
        office.day
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, answer) = office.app.send(Method::GET, &path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let starts: Vec<String> = answer["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|slot| slot["start"].as_str().unwrap().to_owned())
            .collect();
        if starts == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "free starts {starts:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A missed visit's units that still lie ahead are free again (issue
/// "no-shows"): for a no-show the timer frees them, for a visitor recalled
/// in vain the clerk's "missed" does; walk-ins and online bookings can take
/// them; a unit already begun stays with the missed booking.
async fn a_missed_visit_frees_its_units_ahead(backend: Backend) {
    let office = office(backend).await;
    // Office `nord`: one lane of six 12-minute units, 09:00–10:12.
    let capacity = json!({"date": office.day.to_string(), "from": "09:00", "to": "10:12", "unit_minutes": 12,
                          "lanes": 1});
    let (status, answer) = office
        .app
        .staff(Method::POST, "/api/v1/offices/nord/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let pass = json!({"name": "Reisepass", "duration_minutes": 36});
    let (status, _) = office.app.staff(Method::PUT, "/api/v1/services/pass", pass).await;
    assert_eq!(status, StatusCode::CREATED);
    let walk_in = json!({"name": "Personalausweis", "duration_minutes": 12, "walk_in": true});
    let (status, _) = office.app.staff(Method::PUT, "/api/v1/services/ausweis", walk_in).await;
    assert_eq!(status, StatusCode::OK);
    let early = office.book_at("nord", &["pass"], "09:00", "ulla@example.org").await;
    let late = office.book_at("nord", &["pass"], "09:36", "vera@example.org").await;
    assert_free_starts(&office, &[]).await;

    // Ulla does not come: at 09:05:01 the timer marks her missed and frees 09:12 and 09:24.
    office.at("09:05:01");
    let released = office.app.wait_for_events("booking.released", 1).await;
    let unit = |start: &str| json!({"office": "nord", "date": office.day.to_string(), "lane": 1, "start": start});
    assert_eq!(released[0]["data"]["booking"], early.id.as_str());
    assert_eq!(released[0]["data"]["units"], json!([unit("09:12"), unit("09:24")]));
    assert_eq!(released[0]["actor"], json!({"kind": "system", "id": "timer"}));
    assert_free_starts(&office, &["09:12", "09:24"]).await;
    // A walk-in takes the first of them.
    office.at("09:06");
    let (status, ticket) = office
        .app
        .staff(
            Method::POST,
            "/api/v1/offices/nord/tickets",
            json!({"services": ["ausweis"]}),
        )
        .await;
    assert_eq!(
        (status, &ticket["start"]),
        (StatusCode::CREATED, &json!(office.local("09:12"))),
        "{ticket}"
    );
    assert_free_starts(&office, &["09:24"]).await;

    // Vera checks in, is called at 09:36, recalled, and missed at 09:41: 09:48 and 10:00 are free.
    office.at("09:30");
    let (status, answer) = office.check_in(TOKEN, "nord", &late.code).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    office.at("09:36");
    let (status, call) = office
        .send(TOKEN, Method::POST, "/api/v1/offices/nord/counters/1/next", None)
        .await;
    assert_eq!((status, &call["booking_id"]), (StatusCode::OK, &json!(late.id)));
    office.at("09:41");
    for (action, status) in [("recall", "called"), ("missed", "missed")] {
        let path = format!("/api/v1/visits/{}/{action}", late.id);
        let (code, answer) = office.send(TOKEN, Method::POST, &path, None).await;
        assert_eq!(
            (code, answer),
            (StatusCode::OK, json!({"booking_id": late.id, "status": status}))
        );
    }
    let released = office.app.wait_for_events("booking.released", 2).await;
    assert_eq!(released[1]["data"]["booking"], late.id.as_str());
    assert_eq!(released[1]["data"]["units"], json!([unit("09:48"), unit("10:00")]));
    assert_eq!(released[1]["actor"], json!({"kind": "operator"}));
    // (09:24 has passed meanwhile, unbooked.)
    assert_free_starts(&office, &["09:48", "10:00"]).await;
    // A citizen books one of them online.
    let again = office.book_at("nord", &["ausweis"], "09:48", "wim@example.org").await;
    assert!(!again.number.is_empty());
    assert_free_starts(&office, &["10:00"]).await;
    // The views agree with their replay. (That a repeated release frees nothing is the domain's
    // `releasing_again_frees_nothing_more…`; the sweep's own path is the next test.)
    assert_eq!(office.app.wait_for_events("booking.released", 2).await.len(), 2);
    office.projections_equal_their_replay().await;
}

/// A process that marked a visit missed and died before freeing its units
/// leaves them held; the no-show timer's sweep (every API process) frees
/// them.
async fn the_sweep_frees_units_a_crash_left_held(backend: Backend) {
    let office = office(backend).await;
    let capacity = json!({"date": office.day.to_string(), "from": "09:00", "to": "09:36", "unit_minutes": 12,
                          "lanes": 1});
    let (status, answer) = office
        .app
        .staff(Method::POST, "/api/v1/offices/nord/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let pass = json!({"name": "Reisepass", "duration_minutes": 36});
    let (status, _) = office.app.staff(Method::PUT, "/api/v1/services/pass", pass).await;
    assert_eq!(status, StatusCode::CREATED);
    let ulla = office.book_at("nord", &["pass"], "09:00", "ulla@example.org").await;
    assert_free_starts(&office, &[]).await;

    // The other process, at 09:05:01: the miss alone, as its no-show decision appends it.
    let store = office.app.db.store(Default::default()).await.unwrap();
    let executor = Executor::new(store.clone(), ManualClock::at(office.t("09:05:01")));
    let booking = BookingId::parse(&ulla.id).unwrap();
    let facts = floor::booking_facts(&executor, booking).await.unwrap().unwrap();
    let cause = executor.new_cause(Actor::TIMER);
    let missed = executor
        .execute::<FloorDecider>(&[facts.floor_stream()], cause, |now| {
            MarkNoShow {
                booking: facts.clone(),
                now,
                policy: FloorPolicy::default(),
            }
            .into()
        })
        .await
        .unwrap();
    assert_eq!(missed.len(), 1);
    store.close().await;

    // This process's clock still says 09:00 (its own no-show timer has nothing due); its sweep frees the units.
    let released = office.app.wait_for_events("booking.released", 1).await;
    assert_eq!(released[0]["data"]["booking"], ulla.id.as_str());
    assert_eq!(released[0]["data"]["missed_at"], format!("{}T09:05:01Z", office.day));
    let unit = |start: &str| json!({"office": "nord", "date": office.day.to_string(), "lane": 1, "start": start});
    assert_eq!(released[0]["data"]["units"], json!([unit("09:12"), unit("09:24")]));
    assert_eq!(released[0]["actor"], json!({"kind": "system", "id": "timer"}));
    assert_free_starts(&office, &["09:12", "09:24"]).await;
    office.projections_equal_their_replay().await;
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    a_morning_on_the_floor,
    tokens_reach_only_their_part_of_the_floor,
    two_counters_racing_call_every_visitor_once,
    the_display_stream_sends_calls_and_resumes,
    a_missed_visit_frees_its_units_ahead,
    the_sweep_frees_units_a_crash_left_held,
);
