//! `terminagent simulate` on a small seeded slice (three offices, two weeks)
//! on SQLite and Postgres: the invariants hold, the same seed gives the same
//! report, and the report's counts agree with the log it wrote.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use terminagent::simulate::report::Report;
use terminagent::simulate::{SimulateOptions, run, store_options};
use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, EventStore};

fn slice(seed: u64) -> SimulateOptions {
    SimulateOptions {
        seed,
        // A Monday in March: no holidays, no DST change.
        start: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        days: 14,
        offices: 3,
        scale: 0.1,
        ..SimulateOptions::default()
    }
}

async fn simulate(backend: Backend, options: SimulateOptions) -> (TestDatabase, EventStore, Report) {
    let db = TestDatabase::new(backend).await.unwrap();
    // As `terminagent simulate` opens it: commits do not wait for the disk.
    let store = EventStore::connect(db.url(), store_options()).await.unwrap();
    store.migrate().await.unwrap();
    let report = run(store.clone(), options).await.unwrap();
    eprintln!("{}", report.to_text());
    (db, store, report)
}

async fn log_counts(store: &EventStore) -> (u64, BTreeMap<String, u64>) {
    let mut counts = BTreeMap::new();
    let (mut after, mut total) = (0, 0);
    loop {
        let events = store.read_all(after, 5_000).await.unwrap();
        let Some(last) = events.last() else { break };
        after = last.position;
        for event in &events {
            total += 1;
            *counts.entry(event.event.event_type.clone()).or_insert(0) += 1;
        }
    }
    (total, counts)
}

fn assert_clean(report: &Report) {
    let invariants = &report.outcome.invariants;
    assert!(
        invariants.quiet_points > u64::from(report.outcome.run.days),
        "{invariants:?}"
    );
    assert_eq!(invariants.engine_quiescence_violations, 0, "{invariants:?}");
    // The independent checker (audit-checker) read the whole log.
    assert_eq!(invariants.first_come_violations, Some(0), "{invariants:?}");
    assert_eq!(invariants.quiescence_violations, Some(0), "{invariants:?}");
    assert_eq!(invariants.other_violations, Some(0), "{invariants:?}");
}

/// The report's figures are the log's: each count in the report is the
/// number of such events, and what the driver saw succeed is in the log.
async fn assert_agrees_with_log(store: &EventStore, report: &Report, reaches_everything: bool) {
    let (total, counts) = log_counts(store).await;
    let count = |event_type: &str| counts.get(event_type).copied().unwrap_or(0);
    let o = &report.outcome;
    assert_eq!(o.events, total);
    assert_eq!(o.events_by_type, counts);
    assert_eq!(o.proposals.made, count("proposal.made"));
    assert_eq!(o.proposals.accepted, count("proposal.accepted"));
    assert_eq!(o.proposals.declined, count("proposal.declined"));
    assert_eq!(o.proposals.expired, count("proposal.expired"));
    assert_eq!(o.driver.answers_accepted, count("proposal.accepted"));
    assert_eq!(o.driver.answers_declined, count("proposal.declined"));
    assert_eq!(o.driver.wishes_registered, count("wish.registered"));
    assert_eq!(o.driver.wishes_confirmed, count("wish.confirmed"));
    assert_eq!(o.wishes.registered, count("wish.registered"));
    assert_eq!(o.driver.bookings_requested, count("booking.requested"));
    assert_eq!(o.driver.confirmed, count("booking.confirmed"));
    assert_eq!(o.driver.cancelled, count("booking.cancelled"));
    assert_eq!(o.driver.tickets_issued, count("booking.ticket_issued"));
    assert_eq!(o.floor.checked_in, count("visit.checked_in"));
    assert_eq!(
        o.contacts.total,
        o.contacts.online_booking_attempts + o.contacts.walk_ins + o.contacts.wish_registrations
    );
    assert_eq!(o.contacts.wish_registrations, o.wishes.registered + o.wishes.refused);
    assert!(o.proposals.made > 0 && o.bookings.requested > 0, "{}", report.to_text());
    if !reaches_everything {
        return;
    }
    // The slice reaches what it is for.
    assert!(
        o.proposals.accepted > 0 && o.proposals.declined > 0,
        "{}",
        report.to_text()
    );
    assert!(
        o.bookings.requested > 0 && o.bookings.tickets_issued > 0,
        "{}",
        report.to_text()
    );
    assert!(o.floor.finished > 0 && o.floor.no_shows > 0, "{}", report.to_text());
    assert!(o.capacity.freed_units > 0, "{}", report.to_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_slice_keeps_the_invariants_and_agrees_with_its_log() {
    let (_db, store, report) = simulate(Backend::Sqlite, slice(7)).await;
    assert_clean(&report);
    assert_agrees_with_log(&store, &report, true).await;
    assert_eq!(report.outcome.run.backend, "sqlite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_slice_keeps_the_invariants_and_agrees_with_its_log() {
    // Smaller: every decision on Postgres waits for its commit and the
    // sequencer, one at a time.
    let options = SimulateOptions {
        offices: 2,
        days: 4,
        ..slice(7)
    };
    let (_db, store, report) = simulate(Backend::Postgres, options).await;
    assert_clean(&report);
    assert_agrees_with_log(&store, &report, false).await;
    assert_eq!(report.outcome.run.backend, "postgres");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_gives_the_same_report_and_another_seed_another() {
    let mut short = slice(11);
    short.days = 7;
    let (_a, _, first) = simulate(Backend::Sqlite, short.clone()).await;
    let (_b, _, second) = simulate(Backend::Sqlite, short.clone()).await;
    assert_eq!(first.outcome, second.outcome);
    short.seed = 12;
    let (_c, _, other) = simulate(Backend::Sqlite, short).await;
    assert_ne!(first.outcome, other.outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulation_refuses_a_log_that_is_not_empty() {
    let (_db, store, _) = simulate(Backend::Sqlite, {
        let mut tiny = slice(3);
        tiny.days = 1;
        tiny
    })
    .await;
    let refused = run(store, slice(3)).await.unwrap_err();
    assert!(refused.to_string().contains("not empty"), "{refused}");
}
