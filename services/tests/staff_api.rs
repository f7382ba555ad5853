//! Staff accounts, tokens, devices and who may do what (API.md "Staff, roles
//! and devices"), over HTTP against an app on port 0, on both backends.
//!
//! The scoping test's expectations are written out here as a table of
//! endpoints and the principals each admits, not derived from the code
//! under test (`Principal::may`).

use chrono::{Days, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use terminagent_eventstore::Backend;

mod support;

use support::{TOKEN, TestApp};

fn office(name: &str) -> Value {
    json!({"name": name, "address": "Duisburg", "timezone": "Europe/Berlin"})
}

fn next_week() -> String {
    (Utc::now().date_naive() + Days::new(7)).format("%Y-%m-%d").to_string()
}

/// An office `mitte` with its staff and devices, and an office `nord`.
struct Floor {
    app: TestApp,
    tokens: Vec<(&'static str, String)>,
    /// Tokens that must not work: disabled account, revoked device, made up.
    dead: Vec<(&'static str, String)>,
    /// A device each admitted DELETE revokes (again).
    spare_id: String,
}

async fn put_staff(app: &TestApp, email: &str, roles: Value) -> (StatusCode, Value) {
    app.staff(
        Method::PUT,
        &format!("/api/v1/staff/{email}"),
        json!({"name": "Eva Muster", "roles": roles}),
    )
    .await
}

async fn token_for(app: &TestApp, email: &str) -> String {
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

async fn device(app: &TestApp, office: &str, kind: &str) -> (String, String) {
    let (status, device) = app
        .staff(
            Method::POST,
            &format!("/api/v1/offices/{office}/devices"),
            json!({"kind": kind, "name": format!("{kind} am Eingang")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    (
        device["device_id"].as_str().unwrap().to_owned(),
        device["token"].as_str().unwrap().to_owned(),
    )
}

async fn floor(backend: Backend) -> Floor {
    // Dozens of refused tokens come from one address here: no throttling.
    let app = TestApp::spawn_configured(backend, |config| config.failed_auth_limit = 100_000).await;
    for (id, name) in [("mitte", "Bürgerbüro Mitte"), ("nord", "Bürgerbüro Nord")] {
        let (status, _) = app
            .staff(Method::PUT, &format!("/api/v1/offices/{id}"), office(name))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, _) = app
        .staff(
            Method::PUT,
            "/api/v1/services/ausweis",
            json!({"name": "Personalausweis", "duration_minutes": 12}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let people = [
        ("admin", "admin@stadt.example", json!([{"role": "admin"}])),
        (
            "lead",
            "lead@stadt.example",
            json!([{"role": "lead", "office": "mitte"}]),
        ),
        (
            "clerk",
            "clerk@stadt.example",
            json!([{"role": "clerk", "office": "mitte"}]),
        ),
        ("auditor", "auditor@stadt.example", json!([{"role": "auditor"}])),
        ("gone", "gone@stadt.example", json!([{"role": "admin"}])),
    ];
    let mut tokens = vec![("operator", TOKEN.to_owned())];
    let mut dead = vec![("made up", "x".repeat(43))];
    for (label, email, roles) in people {
        let (status, entry) = put_staff(&app, email, roles).await;
        assert_eq!(status, StatusCode::CREATED, "{entry}");
        let token = token_for(&app, email).await;
        if label == "gone" {
            let (status, entry) = app
                .send(Method::DELETE, &format!("/api/v1/staff/{email}"), Some(TOKEN), None)
                .await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(entry["enabled"], false);
            dead.push(("disabled account", token));
        } else {
            tokens.push((label, token));
        }
    }
    let (_, kiosk) = device(&app, "mitte", "kiosk").await;
    let (spare_id, _) = device(&app, "mitte", "kiosk").await;
    let (_, display) = device(&app, "mitte", "display").await;
    let (revoked_id, revoked) = device(&app, "mitte", "display").await;
    let (status, _) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/offices/mitte/devices/{revoked_id}"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    tokens.push(("kiosk", kiosk));
    tokens.push(("display", display));
    dead.push(("revoked device", revoked));
    Floor {
        app,
        tokens,
        dead,
        spare_id,
    }
}

/// One staff endpoint and who it admits, at office `mitte` (own for the
/// lead, clerk and devices) and at `nord` (theirs is not).
struct Case {
    method: Method,
    path: String,
    body: Option<Value>,
    admits: &'static [&'static str],
}

fn cases(office: &str, spare_id: &str) -> Vec<Case> {
    const TOP: &[&str] = &["operator", "admin"];
    const AUDIT: &[&str] = &["operator", "admin", "auditor"];
    const LEAD_OWN: &[&str] = &["operator", "admin", "lead"];
    const CLERK_OWN: &[&str] = &["operator", "admin", "lead", "clerk"];
    let own = office == "mitte";
    let lead = if own { LEAD_OWN } else { TOP };
    let clerk = if own { CLERK_OWN } else { TOP };
    const KIOSK_OWN: &[&str] = &["operator", "admin", "lead", "clerk", "kiosk"];
    const DISPLAY_OWN: &[&str] = &["operator", "admin", "lead", "clerk", "display"];
    let kiosk = if own { KIOSK_OWN } else { TOP };
    let display = if own { DISPLAY_OWN } else { TOP };
    let case = |method: Method, path: String, body: Option<Value>, admits| Case {
        method,
        path,
        body,
        admits,
    };
    vec![
        case(
            Method::PUT,
            format!("/api/v1/offices/{office}"),
            Some(self::office(if own {
                "Bürgerbüro Mitte"
            } else {
                "Bürgerbüro Nord"
            })),
            lead,
        ),
        case(
            Method::PUT,
            "/api/v1/services/ausweis".into(),
            Some(json!({"name": "Personalausweis", "duration_minutes": 12})),
            TOP,
        ),
        case(
            Method::POST,
            format!("/api/v1/offices/{office}/capacity"),
            Some(json!({"date": next_week(), "from": "08:00", "to": "08:12", "unit_minutes": 12, "lanes": 1})),
            lead,
        ),
        case(Method::GET, "/api/v1/events".into(), None, AUDIT),
        case(
            Method::GET,
            format!("/api/v1/offices/{office}/days/{}", next_week()),
            None,
            clerk,
        ),
        case(
            Method::POST,
            format!("/api/v1/offices/{office}/tickets"),
            Some(json!({"services": ["ausweis"]})),
            kiosk,
        ),
        case(
            Method::POST,
            format!("/api/v1/offices/{office}/check-ins"),
            Some(json!({"code": "ABCD-EFGH"})),
            kiosk,
        ),
        case(
            Method::POST,
            format!("/api/v1/offices/{office}/counters/c1/next"),
            None,
            clerk,
        ),
        case(
            Method::POST,
            format!("/api/v1/offices/{office}/counters/c1/pause"),
            Some(json!({"reason": "Mittagspause"})),
            clerk,
        ),
        case(Method::GET, format!("/api/v1/offices/{office}/display"), None, display),
        case(
            Method::POST,
            format!("/api/v1/offices/{office}/closures"),
            Some(json!({"date": next_week(), "from": "17:00", "to": "18:00", "reason": "Betriebsversammlung"})),
            lead,
        ),
        case(Method::GET, "/api/v1/projections".into(), None, AUDIT),
        case(
            Method::PUT,
            "/api/v1/staff/neu@stadt.example".into(),
            Some(json!({"name": "Neu", "roles": [{"role": "clerk", "office": "mitte"}]})),
            TOP,
        ),
        case(Method::GET, "/api/v1/staff".into(), None, TOP),
        case(Method::DELETE, "/api/v1/staff/neu@stadt.example".into(), None, TOP),
        case(
            Method::POST,
            "/api/v1/staff/clerk@stadt.example/tokens".into(),
            None,
            TOP,
        ),
        case(
            Method::POST,
            format!("/api/v1/offices/{office}/devices"),
            Some(json!({"kind": "display", "name": "Wartebereich"})),
            lead,
        ),
        case(Method::GET, format!("/api/v1/offices/{office}/devices"), None, lead),
        case(
            Method::DELETE,
            format!("/api/v1/offices/{office}/devices/{spare_id}"),
            None,
            lead,
        ),
    ]
}

/// Every staff endpoint × every role × own/other office × no, wrong,
/// disabled and revoked token. Allowed requests get past the check
/// (neither 401 nor 403); others get 403 `/forbidden` (or 401) and leave
/// the log as it was.
async fn no_token_reaches_beyond_its_roles_or_office(backend: Backend) {
    let floor = floor(backend).await;
    let app = &floor.app;
    let principals: Vec<&(&str, String)> = floor.tokens.iter().filter(|(label, _)| *label != "operator").collect();
    let operator = floor.tokens.iter().find(|(label, _)| *label == "operator").unwrap();
    let mut checked = 0;
    for office in ["nord", "mitte"] {
        for case in cases(office, &floor.spare_id) {
            let what = format!("{} {}", case.method, case.path);
            for (label, token) in principals.iter().copied().chain(std::iter::once(operator)) {
                let head = app.all_events().await.len();
                let (status, body) = app
                    .send(case.method.clone(), &case.path, Some(token), case.body.clone())
                    .await;
                if case.admits.contains(label) {
                    assert!(
                        status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                        "{label} must pass {what}: {status} {body}"
                    );
                } else {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{label} must not pass {what}: {body}");
                    assert!(body["type"].as_str().unwrap().ends_with("/forbidden"), "{body}");
                    assert_eq!(
                        app.all_events().await.len(),
                        head,
                        "{label} refused at {what} wrote nothing"
                    );
                }
                checked += 1;
            }
            for (label, token) in floor
                .dead
                .iter()
                .map(|(l, t)| (*l, Some(t.as_str())))
                .chain([("no token", None)])
            {
                let (status, body) = app
                    .send(case.method.clone(), &case.path, token, case.body.clone())
                    .await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{label} at {what}: {body}");
                checked += 1;
            }
        }
    }
    // 19 endpoints at two offices; 7 live tokens, 3 dead ones and none.
    assert_eq!(checked, 2 * 19 * (7 + 3 + 1));
    // The staff view and the day list equal their replay of all that.
    let (status, check) = app.get("/api/v1/projections").await;
    assert_eq!(status, StatusCode::OK);
    let views = check["projections"].as_array().unwrap();
    assert!(views.iter().any(|view| view["name"] == "staff"), "{check}");
    assert!(views.iter().all(|view| view["equal"] == true), "{check}");
}

/// A member's token follows their roles as they are now; disabling ends it;
/// what they do is recorded under their account.
async fn a_token_carries_its_members_roles_and_acts_under_their_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.staff(Method::PUT, "/api/v1/offices/mitte", office("Bürgerbüro Mitte"))
        .await;
    let (status, entry) = put_staff(&app, "eva@stadt.example", json!([{"role": "clerk", "office": "mitte"}])).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(entry["roles"], json!([{"role": "clerk", "office": "mitte"}]));
    let staff_id = entry["staff_id"].as_str().unwrap().to_owned();
    let (status, again) = put_staff(&app, "eva@stadt.example", json!([{"role": "clerk", "office": "mitte"}])).await;
    assert_eq!(
        (status, &again["staff_id"]),
        (StatusCode::OK, &entry["staff_id"]),
        "same account"
    );
    let token = token_for(&app, "eva@stadt.example").await;
    let capacity = json!({"date": next_week(), "from": "08:00", "to": "09:00", "unit_minutes": 12, "lanes": 1});
    let publish = || {
        app.send(
            Method::POST,
            "/api/v1/offices/mitte/capacity",
            Some(&token),
            Some(capacity.clone()),
        )
    };
    let (status, _) = publish().await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a clerk publishes no capacity");

    // Promoted to lead: the same token publishes at once.
    put_staff(&app, "eva@stadt.example", json!([{"role": "lead", "office": "mitte"}])).await;
    let (status, body) = publish().await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let published = app.wait_for_events("capacity.published", 1).await;
    assert_eq!(published[0]["actor"], json!({"kind": "staff", "id": staff_id}));
    let changed = app.wait_for_events("staff.changed", 1).await;
    assert_eq!(changed[0]["actor"], json!({"kind": "operator"}));
    assert_eq!(
        changed[0]["data"]["roles"],
        json!([{"role": "lead", "office": "mitte"}])
    );

    // Disabled: every token of the account stops.
    let (status, _) = app
        .send(Method::DELETE, "/api/v1/staff/eva@stadt.example", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = publish().await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, problem) = app
        .send(
            Method::POST,
            "/api/v1/staff/eva@stadt.example/tokens",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    // The log keeps no token, only its hash.
    let events = app.all_events().await;
    assert!(!serde_json::to_string(&events).unwrap().contains(&token));
}

/// A lead changes the calendar of their own office — hours, holidays,
/// closed days — and nothing else of it; registering offices is an admin's.
async fn a_lead_changes_the_calendar_of_their_office_and_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.staff(Method::PUT, "/api/v1/offices/mitte", office("Bürgerbüro Mitte"))
        .await;
    put_staff(&app, "lea@stadt.example", json!([{"role": "lead", "office": "mitte"}])).await;
    let lead = token_for(&app, "lea@stadt.example").await;
    let calendar = json!({"name": "Bürgerbüro Mitte", "address": "Duisburg", "timezone": "Europe/Berlin",
                          "opening_hours": {"mon": [["08:00", "12:00"]]}, "holidays": "DE-NW"});
    let (status, entry) = app
        .send(Method::PUT, "/api/v1/offices/mitte", Some(&lead), Some(calendar))
        .await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    assert_eq!(entry["holidays"], "DE-NW");
    for (field, value) in [
        ("name", "Rathaus"),
        ("address", "Anderswo 1"),
        ("timezone", "Europe/Vienna"),
    ] {
        let mut changed = office("Bürgerbüro Mitte");
        changed[field] = json!(value);
        let (status, problem) = app
            .send(Method::PUT, "/api/v1/offices/mitte", Some(&lead), Some(changed))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{field}: {problem}");
    }
    let (status, _) = app
        .send(Method::PUT, "/api/v1/offices/neu", Some(&lead), Some(office("Neu")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no new offices");
    let (_, offices) = app.send(Method::GET, "/api/v1/offices", None, None).await;
    assert_eq!(offices.as_array().unwrap().len(), 1);
    assert_eq!(offices[0]["timezone"], "Europe/Berlin");
}

async fn bad_accounts_and_devices_are_refused_readably(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.staff(Method::PUT, "/api/v1/offices/mitte", office("Bürgerbüro Mitte"))
        .await;
    for (email, roles, needle) in [
        ("not-an-address", json!([{"role": "admin"}]), "e-mail"),
        ("eva@stadt.example", json!([]), "1 to 20 roles"),
        ("eva@stadt.example", json!([{"role": "boss"}]), "unknown role"),
        ("eva@stadt.example", json!([{"role": "clerk"}]), "needs an office"),
        (
            "eva@stadt.example",
            json!([{"role": "auditor", "office": "mitte"}]),
            "every office",
        ),
        (
            "eva@stadt.example",
            json!([{"role": "clerk", "office": "nirgends"}]),
            "not registered",
        ),
    ] {
        let (status, problem) = put_staff(&app, email, roles.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{roles}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(needle),
            "{needle}: {problem}"
        );
    }
    let (status, problem) = app
        .staff(
            Method::POST,
            "/api/v1/offices/mitte/devices",
            json!({"kind": "toaster", "name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _) = app
        .staff(
            Method::POST,
            "/api/v1/offices/nirgends/devices",
            json!({"kind": "kiosk", "name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .send(Method::DELETE, "/api/v1/staff/nobody@stadt.example", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        app.all_events()
            .await
            .iter()
            .all(|e| !e["type"].as_str().unwrap().starts_with("staff."))
    );
}

/// Ten wrong tokens from one address, then even the right one waits:
/// 429 with `Retry-After`. The scheme's case does not matter.
async fn failed_bearer_checks_are_throttled_per_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let request = |token: &str, scheme: &str| {
        app.client
            .get(format!("{}/api/v1/events", app.base))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
    };
    let answer = request(TOKEN, "bEaReR").await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK, "the scheme is matched in any case");
    for _ in 0..10 {
        assert_eq!(
            request("guess", "Bearer").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let answer = request(TOKEN, "Bearer").await.unwrap();
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = answer.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    let problem: Value = answer.json().await.unwrap();
    assert!(problem["type"].as_str().unwrap().ends_with("/too-many-failed-attempts"));
}

/// A clerk reads who is coming, by name, sorted by start; the read itself
/// is recorded under the clerk; an erased citizen shows no name.
async fn a_clerk_reads_the_day_list_and_the_read_is_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.staff(Method::PUT, "/api/v1/offices/mitte", office("Bürgerbüro Mitte"))
        .await;
    app.staff(
        Method::PUT,
        "/api/v1/services/ausweis",
        json!({"name": "Personalausweis", "duration_minutes": 12}),
    )
    .await;
    let date = next_week();
    let (status, _) = app
        .staff(
            Method::POST,
            "/api/v1/offices/mitte/capacity",
            json!({"date": date, "from": "08:00", "to": "09:00", "unit_minutes": 12, "lanes": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, slots) = app
        .get(&format!(
            "/api/v1/availability?office=mitte&services=ausweis&from={date}&to={date}"
        ))
        .await;
    let starts: Vec<String> = slots["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|slot| slot["start"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(starts.len(), 5);
    // Booked late slot first: the list still runs by start.
    for (start, name) in [(&starts[3], "Zora Zett"), (&starts[1], "Anton Abel")] {
        let booking = json!({"office": "mitte", "services": ["ausweis"], "start": start,
                             "citizen": {"name": name, "email": format!("{}@example.org", &name[..4].to_lowercase())}});
        let (status, body) = app.send(Method::POST, "/api/v1/bookings", None, Some(booking)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    put_staff(
        &app,
        "clerk@stadt.example",
        json!([{"role": "clerk", "office": "mitte"}]),
    )
    .await;
    let clerk = token_for(&app, "clerk@stadt.example").await;
    let path = format!("/api/v1/offices/mitte/days/{date}");
    let (status, list) = app.send(Method::GET, &path, Some(&clerk), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let bookings = list["bookings"].as_array().unwrap();
    let names: Vec<&str> = bookings.iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Anton Abel", "Zora Zett"]);
    assert_eq!(bookings[0]["start"], starts[1].as_str());
    assert_eq!(bookings[0]["lane"], 1);
    assert_eq!(bookings[0]["services"], json!(["ausweis"]));
    assert_eq!(bookings[0]["status"], "pending_confirmation");
    assert_eq!(bookings[0]["number"], Value::Null);

    let reads = app.wait_for_events("personal_data.read", 1).await;
    let (_, clerk_entry) = app.get("/api/v1/staff").await;
    let clerk_id = clerk_entry.as_array().unwrap()[0]["staff_id"].clone();
    assert_eq!(reads[0]["actor"], json!({"kind": "staff", "id": clerk_id}));
    assert_eq!(reads[0]["data"], json!({"office": "mitte", "date": date, "names": 2}));
    assert_eq!(reads[0]["streams"], json!([format!("day-list-reads:mitte:{date}")]));

    // Erased: the booking stays on the list, without a name.
    let requested = app.wait_for_events("booking.requested", 2).await;
    let envelope = requested[0]["data"]["citizen"]["envelope_id"].as_str().unwrap();
    let store = terminagent_eventstore::EventStore::connect(app.db.url(), Default::default())
        .await
        .unwrap();
    assert!(store.vault().erase(envelope.parse().unwrap()).await.unwrap());
    store.close().await;
    let (_, list) = app.send(Method::GET, &path, Some(&clerk), None).await;
    let names: Vec<&Value> = list["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["name"])
        .collect();
    assert_eq!(
        names,
        [&json!("Anton Abel"), &Value::Null],
        "Zora (booked first) is erased"
    );

    // An empty day reads no names and records nothing.
    let (status, empty) = app
        .send(Method::GET, "/api/v1/offices/mitte/days/2030-01-02", Some(&clerk), None)
        .await;
    assert_eq!((status, empty), (StatusCode::OK, json!({"bookings": []})));
    assert_eq!(app.wait_for_events("personal_data.read", 2).await.len(), 2);
    let (status, _) = app
        .send(Method::GET, "/api/v1/offices/mitte/days/morgen", Some(&clerk), None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    no_token_reaches_beyond_its_roles_or_office,
    a_token_carries_its_members_roles_and_acts_under_their_name,
    bad_accounts_and_devices_are_refused_readably,
    a_lead_changes_the_calendar_of_their_office_and_nothing_else,
    failed_bearer_checks_are_throttled_per_address,
    a_clerk_reads_the_day_list_and_the_read_is_recorded,
);
