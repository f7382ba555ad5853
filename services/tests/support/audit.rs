//! The audit's independent checker over a test app's whole log: the oracle
//! for invariants 1, 3, 5 and 10 that shares no code with the engine.

use terminagent_audit_checker::{CheckSummary, Checker, LoggedEvent};
use terminagent_eventstore::{EventStore, LogEvent};

/// Every event of the log at `database_url`, as the store reads it.
pub async fn log_of(database_url: &str) -> Vec<LogEvent> {
    let store = EventStore::connect(database_url, Default::default())
        .await
        .expect("the test's store");
    let events = store.read_all(0, 10_000_000).await.expect("the log");
    store.close().await;
    events
}

/// Feeds `events` to the checker in log order and panics with every
/// violation it found, at rest included (the log's time taken as the last
/// event's); what it checked otherwise.
pub fn assert_log_keeps_the_invariants(events: &[LogEvent]) -> CheckSummary {
    let mut checker = Checker::new();
    for event in events {
        checker.observe(&LoggedEvent {
            position: event.position,
            event_type: &event.event.event_type,
            streams: &event.event.streams,
            recorded_at: event.event.recorded_at,
            actor: event.event.actor.as_deref(),
            data: event.event.data.as_str(),
        });
    }
    let now = events
        .last()
        .map_or_else(chrono::Utc::now, |event| event.event.recorded_at);
    let found: Vec<String> = checker
        .violations()
        .iter()
        .chain(&checker.quiescence_violations(now))
        .map(ToString::to_string)
        .collect();
    assert!(found.is_empty(), "the audit checker found:\n{}", found.join("\n"));
    checker.summary()
}
