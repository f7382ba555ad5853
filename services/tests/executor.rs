//! The executor's first attempt on remembered streams (`FirstRead::Remembered`)
//! against the log on both backends: memory that is behind never decides in
//! its place. Given a stream another process moved meanwhile, when a decision
//! starts from memory, then its append conflicts and it is made again on the
//! log; a refusal or an assumed-new stream is checked on the log too.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use terminagent::application::{ExecuteError, Executor, FirstRead, SystemClock};
use terminagent_domain::{Actor, Cause, CorrelationId, Decider, DomainEvent, OfficeId, StreamName};
use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, StoreOptions};

/// Numbered tickets of a counter that must be opened first and may be closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
enum TicketEvent {
    #[serde(rename = "test.counter_opened")]
    Opened { counter: OfficeId },
    #[serde(rename = "test.ticket_taken")]
    Taken { counter: OfficeId, number: u64 },
    #[serde(rename = "test.counter_closed")]
    Closed { counter: OfficeId },
}

impl DomainEvent for TicketEvent {
    const EVENT_TYPES: &'static [&'static str] = &["test.counter_opened", "test.ticket_taken", "test.counter_closed"];

    fn event_type(&self) -> &'static str {
        match self {
            TicketEvent::Opened { .. } => "test.counter_opened",
            TicketEvent::Taken { .. } => "test.ticket_taken",
            TicketEvent::Closed { .. } => "test.counter_closed",
        }
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn streams(&self) -> Vec<StreamName> {
        match self {
            TicketEvent::Opened { counter } | TicketEvent::Taken { counter, .. } | TicketEvent::Closed { counter } => {
                vec![StreamName::office(counter)]
            }
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    opened: bool,
    closed: Vec<OfficeId>,
    last_number: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
enum TicketError {
    #[error("the counter is not open")]
    NotOpen,
    #[error("a counter it depends on is closed")]
    Closed,
}

/// Takes the next ticket of `counter` (opened first if `needs_open`), unless
/// `unless_closed` is closed.
struct TakeTicket {
    counter: OfficeId,
    needs_open: bool,
    unless_closed: Option<OfficeId>,
}

struct TicketDecider;

impl Decider for TicketDecider {
    type Command = TakeTicket;
    type Event = TicketEvent;
    type State = Counters;
    type Error = TicketError;

    fn decide(command: &TakeTicket, state: &Counters) -> Result<Vec<TicketEvent>, TicketError> {
        if command
            .unless_closed
            .as_ref()
            .is_some_and(|other| state.closed.contains(other))
        {
            return Err(TicketError::Closed);
        }
        if command.needs_open && !state.opened {
            return Err(TicketError::NotOpen);
        }
        Ok(vec![TicketEvent::Taken {
            counter: command.counter.clone(),
            number: state.last_number + 1,
        }])
    }

    fn evolve(mut state: Counters, event: &TicketEvent) -> Counters {
        match event {
            TicketEvent::Opened { .. } => state.opened = true,
            TicketEvent::Taken { number, .. } => state.last_number = state.last_number.max(*number),
            TicketEvent::Closed { counter } => state.closed.push(counter.clone()),
        }
        state
    }
}

/// A ticket of an open `counter`, nothing else asked.
fn ticket(counter: &OfficeId) -> TakeTicket {
    TakeTicket {
        counter: counter.clone(),
        needs_open: true,
        unless_closed: None,
    }
}

fn counter(name: &str) -> OfficeId {
    OfficeId::parse(name).unwrap()
}

/// Two processes' executors on one store: each with its own memory.
async fn two_executors(db: &TestDatabase) -> (Executor, Executor) {
    let store = db.store(StoreOptions::default()).await.unwrap();
    (
        Executor::new(store.clone(), Arc::new(SystemClock)),
        Executor::new(store, Arc::new(SystemClock)),
    )
}

async fn append(executor: &Executor, event: TicketEvent) {
    let stream = event.streams();
    executor
        .store()
        .append(
            &[terminagent_eventstore::NewEvent {
                event_id: executor.new_id(),
                event_type: event.event_type().to_owned(),
                schema_version: 1,
                streams: stream.iter().map(|s| s.as_str().to_owned()).collect(),
                recorded_at: executor.now(),
                correlation_id: None,
                causation_id: None,
                actor: None,
                data: event.to_data(),
            }],
            &[],
        )
        .await
        .unwrap();
}

async fn take(
    executor: &Executor,
    streams: &[StreamName],
    first_read: FirstRead<'_>,
    command: impl Fn() -> TakeTicket,
) -> Result<Vec<TicketEvent>, ExecuteError<TicketError>> {
    executor
        .execute_on_state::<TicketDecider>(
            streams,
            first_read,
            Cause::new(CorrelationId::from_ulid(ulid::Ulid::new()), Actor::Operator),
            |_, _| command(),
        )
        .await
}

async fn numbers_taken(executor: &Executor, stream: &StreamName) -> Vec<u64> {
    executor
        .store()
        .read_stream(stream.as_str(), 0)
        .await
        .unwrap()
        .iter()
        .filter_map(|stored| stored.event.data.to_value()["number"].as_u64())
        .collect()
}

async fn memory_behind_the_log_conflicts_and_decides_again(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let (here, elsewhere) = two_executors(&db).await;
    let desk = counter("desk");
    let stream = StreamName::office(&desk);
    append(&here, TicketEvent::Opened { counter: desk.clone() }).await;
    let remembered = here
        .state_of::<TicketDecider>(std::slice::from_ref(&stream))
        .await
        .unwrap();
    assert_eq!(remembered.last_number, 0);

    // Another process takes two tickets; this one's memory has not seen them.
    for _ in 0..2 {
        take(&elsewhere, std::slice::from_ref(&stream), FirstRead::Log, || {
            ticket(&desk)
        })
        .await
        .unwrap();
    }
    let decided = take(
        &here,
        std::slice::from_ref(&stream),
        FirstRead::Remembered { new_streams: &[] },
        || ticket(&desk),
    )
    .await
    .unwrap();
    assert_eq!(
        decided,
        [TicketEvent::Taken {
            counter: desk.clone(),
            number: 3
        }],
        "decided again on the log, not on memory's number 1"
    );
    assert_eq!(numbers_taken(&here, &stream).await, [1, 2, 3]);
}

async fn a_refusal_from_memory_is_confirmed_on_the_log(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let (here, elsewhere) = two_executors(&db).await;
    let desk = counter("desk");
    let stream = StreamName::office(&desk);
    // Memory has the counter as not open yet.
    here.state_of::<TicketDecider>(std::slice::from_ref(&stream))
        .await
        .unwrap();
    append(&elsewhere, TicketEvent::Opened { counter: desk.clone() }).await;

    let decided = take(
        &here,
        std::slice::from_ref(&stream),
        FirstRead::Remembered { new_streams: &[] },
        || ticket(&desk),
    )
    .await;
    assert!(decided.is_ok(), "the log says open: {decided:?}");
    assert_eq!(numbers_taken(&here, &stream).await, [1]);
}

async fn an_assumed_new_stream_is_checked_by_the_log(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let (here, elsewhere) = two_executors(&db).await;
    let (desk, annex) = (counter("desk"), counter("annex"));
    let streams = [StreamName::office(&desk), StreamName::office(&annex)];
    append(&here, TicketEvent::Opened { counter: desk.clone() }).await;
    here.state_of::<TicketDecider>(&streams[..1]).await.unwrap();
    append(&elsewhere, TicketEvent::Closed { counter: annex.clone() }).await;

    // Taken as new, the annex would look open; the decision does not write
    // it, so no condition would check it, and the log decides instead.
    let new_streams = [streams[1].clone()];
    let decided = take(
        &here,
        &streams,
        FirstRead::Remembered {
            new_streams: &new_streams,
        },
        || TakeTicket {
            counter: desk.clone(),
            needs_open: true,
            unless_closed: Some(annex.clone()),
        },
    )
    .await;
    assert!(
        matches!(decided, Err(ExecuteError::Rejected(TicketError::Closed))),
        "{decided:?}"
    );

    // A written stream taken as new that another process started meanwhile
    // fails its condition, and the decision is made again on the log.
    let booth = counter("booth");
    let booth_stream = [StreamName::office(&booth)];
    let walk_in = || TakeTicket {
        counter: booth.clone(),
        needs_open: false,
        unless_closed: None,
    };
    take(&elsewhere, &booth_stream, FirstRead::Log, walk_in).await.unwrap();
    let decided = take(
        &here,
        &booth_stream,
        FirstRead::Remembered {
            new_streams: &booth_stream,
        },
        walk_in,
    )
    .await
    .unwrap();
    assert_eq!(
        decided,
        [TicketEvent::Taken {
            counter: booth.clone(),
            number: 2
        }],
        "not number 1 again"
    );
    assert_eq!(numbers_taken(&here, &booth_stream[0]).await, [1, 2]);
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    memory_behind_the_log_conflicts_and_decides_again,
    a_refusal_from_memory_is_confirmed_on_the_log,
    an_assumed_new_stream_is_checked_by_the_log,
);
