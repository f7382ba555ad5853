//! Races where the product races, between citizens' bookings and the
//! matcher (DESIGN.md invariants 1, 3 and 4), on both backends:
//! - a booking storm while capacity is published for waiting wishes, and
//!   while booked units are cancelled under them: the storm never gets a
//!   unit a waiting wish fits, it does get the units no wish wants, and no
//!   unit is held twice; nobody waits for the proposals before storming;
//! - two more matchers acting on the running app's office (as a paused
//!   owner would, past its lease): one open proposal per wish, each unit
//!   once, first come;
//! - a wish's links (confirm, decline, accept, end) pressed twelve times at
//!   once act once, and an acceptance racing the proposal's expiry timer in
//!   another process has one outcome that every answer agrees with.
//!
//! Each log is judged by the audit's checker, which shares no code with the
//! engine, plus counts written here from the rules themselves.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, Days, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::ManualClock;
use support::TestApp;
use support::audit::{assert_log_keeps_the_invariants, log_of};
use terminagent::application::{Clock, ExecuteError, Executor, SystemClock, expire_proposal, propose_units};
use terminagent::waitlist::Waitlist;
use terminagent_domain::{LocalTime, OfficeTimeZone, WishPolicy};
use terminagent_eventstore::{Backend, EventStore};

const DAYS_AHEAD: u64 = 7;

fn day() -> chrono::NaiveDate {
    Utc::now().date_naive() + Days::new(DAYS_AHEAD)
}

fn at(hhmm: &str) -> DateTime<Utc> {
    OfficeTimeZone::parse("Europe/Berlin")
        .unwrap()
        .instant(day(), LocalTime::parse(hhmm).unwrap())
        .unwrap()
}

/// The five 12-minute local starts of the hour `hour` on the test day.
fn starts_in_hour(hour: u32) -> Vec<String> {
    (0..5).map(|n| format!("{hour:02}:{:02}", n * 12)).collect()
}

fn weekday_key() -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day().weekday().num_days_from_monday() as usize]
}

async fn catalogue(app: &TestApp) {
    let office = json!({"name": "Stadtmitte", "address": "Sonnenwall 73", "timezone": "Europe/Berlin"});
    let (status, _) = app.staff(Method::PUT, "/api/v1/offices/stadtmitte", office).await;
    assert_eq!(status, StatusCode::CREATED);
    let service = json!({"name": "Reisepass", "duration_minutes": 12});
    let (status, _) = app.staff(Method::PUT, "/api/v1/services/reisepass", service).await;
    assert_eq!(status, StatusCode::CREATED);
}

/// One lane of 12-minute units from `from` to `to` on the test day.
async fn publish(app: &TestApp, from: &str, to: &str) {
    let body = json!({"date": day().to_string(), "from": from, "to": to, "unit_minutes": 12, "lanes": 1});
    let (status, answer) = app
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

async fn press(app: &TestApp, subject: &str, action: &str) -> Value {
    let token = app.link_token(subject, action).await;
    let (status, answer) = app
        .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{action}: {answer}");
    answer
}

/// A wish for the local `hours` of the test day's weekday, confirmed: it waits.
async fn waiting_wish(app: &TestApp, email: &str, hours: &[u32]) -> String {
    let body = json!({"offices": ["stadtmitte"], "services": ["reisepass"], "windows": {weekday_key(): hours},
                      "citizen": {"name": "Erika Mustermann", "email": email}});
    let (status, answer) = app.send(Method::POST, "/api/v1/wishes", None, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let wish = answer["wish_id"].as_str().unwrap().to_owned();
    assert_eq!(press(app, &wish, "confirm_wish").await["outcome"], "done");
    wish
}

/// Books the unit at local `start` on the test day.
async fn book(app: &TestApp, start: &str, email: &str) -> (StatusCode, Value) {
    let body = json!({"office": "stadtmitte", "services": ["reisepass"], "start": at(start).to_rfc3339(),
                      "citizen": {"name": "Max Mustermann", "email": email}});
    app.send(Method::POST, "/api/v1/bookings", None, Some(body)).await
}

/// `citizens` citizens asking for `starts` in turn, each until it has one
/// booking or until a while after `calm` is notified; every answer.
fn booking_storm(
    app: &Arc<TestApp>,
    starts: &[String],
    citizens: usize,
    calm: &Arc<tokio::sync::Notify>,
) -> Vec<tokio::task::JoinHandle<Vec<(StatusCode, Value)>>> {
    (0..citizens)
        .map(|citizen| {
            let (app, starts, calm) = (app.clone(), starts.to_vec(), calm.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut calmed = std::pin::pin!(calm.notified());
                let mut until = None;
                for attempt in 0.. {
                    let start = &starts[(citizen * 3 + attempt) % starts.len()];
                    let answer = book(&app, start, &format!("storm{citizen}@example.org")).await;
                    let booked = answer.0 == StatusCode::CREATED;
                    answers.push(answer);
                    if booked {
                        break;
                    }
                    if until.is_none() && futures::poll!(calmed.as_mut()).is_ready() {
                        until = Some(tokio::time::Instant::now() + Duration::from_secs(2));
                    }
                    if until.is_some_and(|until| tokio::time::Instant::now() > until) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                answers
            })
        })
        .collect()
}

async fn answers_of(storm: Vec<tokio::task::JoinHandle<Vec<(StatusCode, Value)>>>) -> Vec<(StatusCode, Value)> {
    let mut answers = Vec::new();
    for citizen in storm {
        answers.extend(citizen.await.unwrap());
    }
    answers
}

/// Every answer is 201 or 409: the storm met no error, only refusals.
fn only_booked_or_refused(answers: &[(StatusCode, Value)]) {
    let other: Vec<_> = answers
        .iter()
        .filter(|(status, _)| !matches!(*status, StatusCode::CREATED | StatusCode::CONFLICT))
        .collect();
    assert!(other.is_empty(), "only 201 and 409, got {other:?}");
}

/// The local starts of the units an event holds (all on the test day).
fn unit_starts(event: &Value) -> Vec<String> {
    event["data"]["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|unit| {
            assert_eq!(unit["date"], day().to_string(), "{unit}");
            unit["start"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The unit starts of every event of `event_type` after position `after`.
fn held_by(events: &[Value], event_type: &str, after: u64) -> Vec<String> {
    events
        .iter()
        .filter(|event| event["type"] == event_type && event["position"].as_u64().unwrap() > after)
        .flat_map(unit_starts)
        .collect()
}

/// The proposals' wishes once `count` are made, after checking each unit
/// went to one wish only and no wish got two.
async fn proposed(app: &TestApp, count: usize) -> BTreeMap<String, String> {
    let made = app.wait_for_events("proposal.made", count).await;
    let mut by_unit = BTreeMap::new();
    let mut wishes = BTreeSet::new();
    for proposal in &made {
        let wish = proposal["data"]["wish"].as_str().unwrap().to_owned();
        assert!(wishes.insert(wish.clone()), "a second proposal to {wish}");
        for start in unit_starts(proposal) {
            assert!(
                by_unit.insert(start.clone(), wish.clone()).is_none(),
                "{start} proposed twice"
            );
        }
    }
    by_unit
}

async fn head(app: &TestApp) -> u64 {
    app.all_events()
        .await
        .last()
        .map_or(0, |event| event["position"].as_u64().unwrap())
}

/// Invariant 4 against a publication: eight wishes wait for 08:00–09:00 when
/// a storm of bookings for 08:00–10:00 starts; the lead publishes both hours
/// `delay` into the storm. None of the five 08:xx units goes to the storm
/// (each is proposed to a wish), all five 09:xx units do (nobody wishes
/// them: the storm could book), and nothing is held twice.
async fn a_storm_racing_a_publication_gets_no_unit_a_waiting_wish_fits(backend: Backend) {
    for delay in [0, 40, 150] {
        let app = Arc::new(TestApp::spawn(backend).await);
        catalogue(&app).await;
        for n in 0..8 {
            waiting_wish(&app, &format!("wish{n}@example.org"), &[8]).await;
        }
        let (wished, unwished) = (starts_in_hour(8), starts_in_hour(9));
        let calm = Arc::new(tokio::sync::Notify::new());
        let storm = booking_storm(&app, &[wished.clone(), unwished.clone()].concat(), 24, &calm);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        publish(&app, "08:00", "10:00").await;
        calm.notify_waiters();
        let answers = answers_of(storm).await;

        only_booked_or_refused(&answers);
        let events = app.all_events().await;
        let booked: BTreeSet<_> = held_by(&events, "booking.requested", 0).into_iter().collect();
        assert_eq!(
            booked,
            unwished.iter().cloned().collect(),
            "publication {delay} ms into the storm: the storm books exactly the units no wish fits"
        );
        let proposals = proposed(&app, 5).await;
        assert_eq!(proposals.keys().cloned().collect::<Vec<_>>(), wished);
        assert_log_keeps_the_invariants(&log_of(app.db.url()).await);
    }
}

/// Invariant 4 against cancellations: the five 08:xx units are booked, then
/// eight wishes for 08:00–09:00 wait. A storm for 08:00–10:00 starts and the
/// five bookings are cancelled `delay` into it, all at once. Every freed unit
/// goes to a wish, none back to the storm; the storm books the 09:xx units.
async fn a_storm_racing_cancellations_gets_no_unit_a_waiting_wish_fits(backend: Backend) {
    for delay in [0, 40, 150] {
        let app = Arc::new(TestApp::spawn(backend).await);
        catalogue(&app).await;
        publish(&app, "08:00", "10:00").await;
        let (wished, unwished) = (starts_in_hour(8), starts_in_hour(9));
        let mut bookings = Vec::new();
        for (n, start) in wished.iter().enumerate() {
            let (status, answer) = book(&app, start, &format!("early{n}@example.org")).await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            bookings.push(answer["booking_id"].as_str().unwrap().to_owned());
        }
        for n in 0..8 {
            waiting_wish(&app, &format!("wish{n}@example.org"), &[8]).await;
        }
        let before_storm = head(&app).await;

        let calm = Arc::new(tokio::sync::Notify::new());
        let storm = booking_storm(&app, &[wished.clone(), unwished.clone()].concat(), 24, &calm);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let cancellations = bookings.iter().map(|booking| press(&app, booking, "cancel_booking"));
        for answer in futures::future::join_all(cancellations).await {
            assert_eq!(answer["outcome"], "done", "{answer}");
        }
        calm.notify_waiters();
        let answers = answers_of(storm).await;

        only_booked_or_refused(&answers);
        let events = app.all_events().await;
        let booked: BTreeSet<_> = held_by(&events, "booking.requested", before_storm)
            .into_iter()
            .collect();
        assert_eq!(
            booked,
            unwished.iter().cloned().collect(),
            "cancellations {delay} ms into the storm: the storm books exactly the units no wish fits"
        );
        let proposals = proposed(&app, 5).await;
        assert_eq!(proposals.keys().cloned().collect::<Vec<_>>(), wished);
        assert_log_keeps_the_invariants(&log_of(app.db.url()).await);
    }
}

/// A matcher that acts on every office it sees, leases or not, as a paused
/// owner does for a moment: folds the log, makes every proposal its
/// waitlist plans, and again, until told to stop. Returns (attempts, made).
async fn rogue_matcher(app: Arc<TestApp>, stop: Arc<std::sync::atomic::AtomicBool>) -> (usize, usize) {
    let store = EventStore::connect(app.db.url(), Default::default()).await.unwrap();
    let executor = Executor::new(store.clone(), Arc::new(SystemClock));
    let links = app.link_secret().await;
    let policy = WishPolicy {
        proposal_ttl: chrono::Duration::hours(48),
        max_unanswered: 3,
    };
    let (mut waitlist, mut after, mut attempts, mut made) = (Waitlist::default(), 0, 0, 0);
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        for event in store.read_all(after, 1000).await.unwrap() {
            waitlist.apply(&event);
            after = event.position;
        }
        let plans: Vec<_> = waitlist.planned().cloned().collect();
        for plan in plans {
            attempts += 1;
            match propose_units(&executor, &links, policy, &plan).await {
                Ok(events) => made += usize::from(!events.is_empty()),
                // Lost to the other matchers: the log says who won.
                Err(ExecuteError::Rejected(_) | ExecuteError::Contended { .. }) => {}
                Err(ExecuteError::Storage(error)) => panic!("a matcher's storage failed: {error}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    store.close().await;
    (attempts, made)
}

/// Three matchers on one office (the app's own and two that ignore the
/// leases) while capacity comes out hour by hour for twelve waiting wishes:
/// twelve proposals, one per wish, each unit once, first come by
/// confirmation.
async fn three_matchers_on_one_office_make_one_proposal_per_wish(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    catalogue(&app).await;
    let mut wishes = Vec::new();
    for n in 0..12 {
        wishes.push(waiting_wish(&app, &format!("wish{n}@example.org"), &[8, 9, 10]).await);
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rogues: Vec<_> = (0..2)
        .map(|_| tokio::spawn(rogue_matcher(app.clone(), stop.clone())))
        .collect();
    for (from, to) in [("08:00", "09:00"), ("09:00", "10:00"), ("10:00", "11:00")] {
        publish(&app, from, to).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let proposals = proposed(&app, 12).await;
    // Let the matchers look again at the finished log: nothing more may come.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut tried = 0;
    for rogue in rogues {
        tried += rogue.await.unwrap().0;
    }
    assert!(tried >= 12, "the extra matchers acted: {tried} attempts");
    let events = app.all_events().await;
    assert_eq!(
        events.iter().filter(|event| event["type"] == "proposal.made").count(),
        12,
        "one proposal per wish"
    );
    let got: BTreeSet<&String> = proposals.values().collect();
    assert_eq!(got, wishes.iter().collect(), "every wish has its proposal");
    // First come by confirmation: the five earliest wishes hold 08:xx.
    let first_hour: BTreeSet<&String> = starts_in_hour(8).iter().map(|start| &proposals[start]).collect();
    assert_eq!(first_hour, wishes[..5].iter().collect());
    assert_log_keeps_the_invariants(&log_of(app.db.url()).await);
}

/// How many presses of one link go out at once.
const PRESSES: usize = 12;

/// Presses the `action` link of `subject` `PRESSES` times at once; the
/// outcome each press answered, sorted.
async fn press_at_once(app: &Arc<TestApp>, subject: &str, action: &str) -> Vec<String> {
    let token = app.link_token(subject, action).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(PRESSES));
    let presses: Vec<_> = (0..PRESSES)
        .map(|_| {
            let (app, barrier, token) = (app.clone(), barrier.clone(), token.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let (status, answer) = app
                    .send(Method::POST, &format!("/api/v1/links/{token}"), None, None)
                    .await;
                assert_eq!(status, StatusCode::OK, "{answer}");
                answer["outcome"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for press in presses {
        outcomes.push(press.await.unwrap());
    }
    outcomes.sort();
    outcomes
}

/// What the `action` link of `subject` says it would do (GET, changes nothing).
async fn looked_at(app: &TestApp, subject: &str, action: &str) -> String {
    let token = app.link_token(subject, action).await;
    let (status, answer) = app
        .send(Method::GET, &format!("/api/v1/links/{token}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["state"].as_str().unwrap().to_owned()
}

/// Looked at, the link is open; pressed twelve times at once, it acts once;
/// looked at again, it is used.
async fn press_open_link_at_once(app: &Arc<TestApp>, subject: &str, action: &str) {
    assert_eq!(looked_at(app, subject, action).await, "open", "{action} before");
    acted_once(&press_at_once(app, subject, action).await, action);
    assert_eq!(looked_at(app, subject, action).await, "used", "{action} after");
}

/// Exactly one press did it; the others were told it was already done.
fn acted_once(outcomes: &[String], what: &str) {
    let done = outcomes.iter().filter(|outcome| *outcome == "done").count();
    let again = outcomes.iter().filter(|outcome| *outcome == "already_done").count();
    assert_eq!((done, again), (1, PRESSES - 1), "{what}: {outcomes:?}");
}

/// The events of `event_type` whose data names `field` = `id`.
fn events_naming<'a>(events: &'a [Value], event_type: &str, field: &str, id: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["type"] == event_type && event["data"][field] == id)
        .collect()
}

/// The open proposal made to `wish`, once there is one: (proposal id, its event).
async fn proposal_to(app: &TestApp, wish: &str, after: u64) -> (String, Value) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let events = app.all_events().await;
        if let Some(made) = events.iter().find(|event| {
            event["type"] == "proposal.made"
                && event["data"]["wish"] == wish
                && event["position"].as_u64().unwrap() > after
        }) {
            return (made["data"]["proposal"].as_str().unwrap().to_owned(), made.clone());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no proposal to {wish} after {after}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Invariant 7 for the waitlist's links: each of confirm, decline, accept
/// and end, pressed twelve times at once, records its event once and tells
/// the other presses it was already done.
async fn presses_of_one_wish_link_at_once_act_once(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    catalogue(&app).await;
    publish(&app, "08:00", "08:24").await;
    let register = |email: &'static str| {
        let app = app.clone();
        async move {
            let body = json!({"offices": ["stadtmitte"], "services": ["reisepass"], "windows": {weekday_key(): [8]},
                              "citizen": {"name": "Erika Mustermann", "email": email}});
            let (status, answer) = app.send(Method::POST, "/api/v1/wishes", None, Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            answer["wish_id"].as_str().unwrap().to_owned()
        }
    };
    let wish = register("erika@example.org").await;
    press_open_link_at_once(&app, &wish, "confirm_wish").await;

    let (first, made) = proposal_to(&app, &wish, 0).await;
    press_open_link_at_once(&app, &first, "decline_proposal").await;
    // Declined, the wish keeps its place and gets the other unit.
    let (second, _) = proposal_to(&app, &wish, made["position"].as_u64().unwrap()).await;
    press_open_link_at_once(&app, &second, "accept_proposal").await;

    let other = register("max@example.org").await;
    press_open_link_at_once(&app, &other, "confirm_wish").await;
    press_open_link_at_once(&app, &other, "end_wish").await;

    let events = app.all_events().await;
    assert_eq!(events_naming(&events, "wish.confirmed", "wish", &wish).len(), 1);
    assert_eq!(events_naming(&events, "proposal.declined", "proposal", &first).len(), 1);
    assert_eq!(
        events_naming(&events, "proposal.accepted", "proposal", &second).len(),
        1
    );
    assert_eq!(
        events
            .iter()
            .filter(|event| event["type"] == "proposal.accepted")
            .count(),
        1,
        "one acceptance, one booking (the acceptance is the booking)"
    );
    assert_eq!(events_naming(&events, "wish.ended", "wish", &other).len(), 1);
    assert_log_keeps_the_invariants(&log_of(app.db.url()).await);
}

/// Rounds of an acceptance pressed twelve times while another process's
/// expiry timer decides on the same proposal at its deadline.
const EXPIRY_ROUNDS: usize = 6;

/// An acceptance racing the expiry timer: the log holds exactly one of
/// `proposal.accepted` and `proposal.expired`, and the presses' answers
/// agree with it (one `done` when accepted; only refusals when expired).
async fn an_acceptance_racing_the_expiry_timer_has_one_outcome(backend: Backend) {
    let now = Utc::now();
    let clock = ManualClock::at(now);
    let app = Arc::new(
        TestApp::spawn_configured_with_clock(backend, clock.clone(), |config| {
            config.proposal_ttl = Duration::from_secs(3600);
        })
        .await,
    );
    catalogue(&app).await;
    publish(&app, "08:00", "12:00").await;
    // The expiry timer of another process on the same log and clock.
    let store = EventStore::connect(app.db.url(), Default::default()).await.unwrap();
    let other = Executor::new(store.clone(), clock.clone() as Arc<dyn Clock>);
    let policy = WishPolicy {
        proposal_ttl: chrono::Duration::hours(1),
        max_unanswered: 3,
    };

    let (mut accepted, mut expired) = (0, 0);
    for round in 0..EXPIRY_ROUNDS {
        clock.set(now + chrono::Duration::hours(2 * round as i64));
        let after = head(&app).await;
        let wish = waiting_wish(&app, &format!("racer{round}@example.org"), &[8, 9, 10, 11]).await;
        let (proposal, made) = proposal_to(&app, &wish, after).await;
        let due: DateTime<Utc> = made["data"]["expires_at"].as_str().unwrap().parse().unwrap();
        clock.set(due - chrono::Duration::milliseconds(1));

        let presses = tokio::spawn({
            let (app, proposal) = (app.clone(), proposal.clone());
            async move { press_at_once(&app, &proposal, "accept_proposal").await }
        });
        // The deadline passes a little later each round (a fixed stagger,
        // not chance), so some rounds let presses decide before it and
        // some not.
        tokio::time::sleep(Duration::from_millis(4 * round as u64)).await;
        clock.set(due);
        let timer = expire_proposal(&other, policy, wish.parse().unwrap(), proposal.parse().unwrap()).await;
        let outcomes = presses.await.unwrap();

        let looked = looked_at(&app, &proposal, "accept_proposal").await;
        let events = app.all_events().await;
        let accepts = events_naming(&events, "proposal.accepted", "proposal", &proposal).len();
        let expiries = events_naming(&events, "proposal.expired", "proposal", &proposal).len();
        match (accepts, expiries) {
            (1, 0) => {
                accepted += 1;
                assert_eq!(looked, "used");
                assert_eq!(outcomes.iter().filter(|o| *o == "done").count(), 1, "{outcomes:?}");
                // A press that read the proposal still open after the
                // deadline says it expired; the page shows the booking.
                assert!(
                    outcomes
                        .iter()
                        .all(|o| ["done", "already_done", "expired"].contains(&o.as_str())),
                    "{outcomes:?}"
                );
                assert!(
                    matches!(&timer, Ok(events) if events.is_empty())
                        || matches!(timer, Err(ExecuteError::Rejected(_))),
                    "the timer found it accepted: {timer:?}"
                );
            }
            (0, 1) => {
                expired += 1;
                assert_eq!(looked, "expired");
                assert!(
                    outcomes.iter().all(|o| o != "done" && o != "already_done"),
                    "{outcomes:?}"
                );
                assert!(timer.is_ok(), "{timer:?}");
            }
            found => panic!("round {round}: {found:?} acceptances and expiries, presses {outcomes:?}"),
        }
    }
    eprintln!("{backend:?}: {accepted} accepted, {expired} expired of {EXPIRY_ROUNDS} races");
    store.close().await;
    assert_log_keeps_the_invariants(&log_of(app.db.url()).await);
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    a_storm_racing_a_publication_gets_no_unit_a_waiting_wish_fits,
    a_storm_racing_cancellations_gets_no_unit_a_waiting_wish_fits,
    three_matchers_on_one_office_make_one_proposal_per_wish,
    presses_of_one_wish_link_at_once_act_once,
    an_acceptance_racing_the_expiry_timer_has_one_outcome,
);
