//! Load → fold → decide → append under conditions → on conflict, again.
//!
//! A decision reads the streams its consistency boundary spans and appends
//! with a condition on every read stream it writes to, so two decisions
//! conflict only when they touch the same streams. A lost race is re-decided
//! on fresh state, never retried blindly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use terminagent_domain::{Actor, Cause, CorrelationId, Decider, DomainEvent, StreamName};
use terminagent_eventstore::{AppendError, Condition, EventStore, ExpectedVersion, NewEvent, StorageError};

use super::stream_memory::{REMEMBERED_STREAMS, StreamMemory, StreamSnapshot};

/// A decision that loses races is made again until it has tried this often
/// *and* this long. Each lost race is another decision on the same streams
/// that went through, so the streams move on; giving up is for streams that
/// truly do not. Neither bound alone will do: a hot stream (an office-day's
/// waiting numbers, which every confirmation of that day takes the next of)
/// may see dozens of decisions at once, so one may lose many times within
/// moments; and a log whose writes queue (SQLite's one writer in a storm) may
/// take seconds for a few attempts.
const MIN_ATTEMPTS: usize = 8;
const CONTENTION_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// The current time, as an argument the domain never reads itself.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Whether a decision is made for `Cause` and appended, or only tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Make(Cause),
    DryRun,
}

/// Monotonic ULIDs: ids made in one process sort in the order they were made.
#[derive(Default)]
pub struct IdSource(Mutex<ulid::Generator>);

impl IdSource {
    pub fn next(&self, now: DateTime<Utc>) -> ulid::Ulid {
        let mut generator = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Overflow needs 2^80 ids in one millisecond; a fresh random id is as good then.
        generator
            .generate_from_datetime(now.into())
            .unwrap_or_else(|_| ulid::Ulid::from_datetime(now.into()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError<E> {
    /// The domain said no.
    #[error(transparent)]
    Rejected(E),
    /// Lost the race for the same streams too often in a row.
    #[error("too much contention on {streams:?}; try again")]
    Contended { streams: Vec<String> },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Where the first attempt of a decision takes its streams from.
#[derive(Debug, Clone, Copy)]
pub enum FirstRead<'a> {
    /// The log: whatever is newer than memory is read, in one round trip.
    Log,
    /// Memory, for streams the caller has just read: a round trip saved.
    /// Streams memory lacks are read; `new_streams` are taken to have no
    /// events yet (a citizen whose envelope this request created). The
    /// append's conditions catch any written stream that moved meanwhile; a
    /// refusal, or a decision that does not write every one of `new_streams`
    /// (so no condition would check them), is made again on the log.
    Remembered { new_streams: &'a [StreamName] },
}

/// Runs decisions of any [`Decider`] against the log.
#[derive(Clone)]
pub struct Executor {
    store: EventStore,
    clock: Arc<dyn Clock>,
    ids: Arc<IdSource>,
    streams: Arc<StreamMemory>,
}

impl Executor {
    pub fn new(store: EventStore, clock: Arc<dyn Clock>) -> Self {
        Executor {
            store,
            clock,
            ids: Arc::new(IdSource::default()),
            streams: Arc::new(StreamMemory::new(REMEMBERED_STREAMS)),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn new_id(&self) -> ulid::Ulid {
        self.ids.next(self.clock.now())
    }

    /// A fresh cause: a new correlation id for what `actor` asked for now.
    pub fn new_cause(&self, actor: Actor) -> Cause {
        Cause::new(CorrelationId::from_ulid(self.new_id()), actor)
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// A decision made ([`Attempt::Make`]: [`Executor::execute`]) or only
    /// tried ([`Attempt::DryRun`]: [`Executor::decide_only`]).
    pub async fn attempt<D>(
        &self,
        attempt: Attempt,
        streams: &[StreamName],
        make_command: impl Fn(DateTime<Utc>) -> D::Command,
    ) -> Result<Vec<D::Event>, ExecuteError<D::Error>>
    where
        D: Decider,
        D::Event: DomainEvent + Send + Sync + 'static,
    {
        match attempt {
            Attempt::Make(cause) => self.execute::<D>(streams, cause, make_command).await,
            Attempt::DryRun => self.decide_only::<D>(streams, make_command).await,
        }
    }

    /// What [`Executor::execute`] would decide now on the log's state of
    /// `streams`, appending nothing: the same rules answer "what would this
    /// do?" (a mail link looked at) as do it (the link pressed).
    pub async fn decide_only<D>(
        &self,
        streams: &[StreamName],
        make_command: impl Fn(DateTime<Utc>) -> D::Command,
    ) -> Result<Vec<D::Event>, ExecuteError<D::Error>>
    where
        D: Decider,
        D::Event: DomainEvent + Send + Sync + 'static,
    {
        let state = self.state_of::<D>(streams).await?;
        D::decide(&make_command(self.clock.now()), &state).map_err(ExecuteError::Rejected)
    }

    /// Decides `command` on the state folded from `streams` and appends the
    /// result. `command` is rebuilt by `make_command` on every attempt so it can
    /// carry the current time. Returns the appended events (empty when the
    /// decision was that nothing changes).
    pub async fn execute<D>(
        &self,
        streams: &[StreamName],
        cause: Cause,
        make_command: impl Fn(DateTime<Utc>) -> D::Command,
    ) -> Result<Vec<D::Event>, ExecuteError<D::Error>>
    where
        D: Decider,
        D::Event: DomainEvent + Send + Sync + 'static,
    {
        self.execute_on_state::<D>(streams, FirstRead::Log, cause, |now, _| make_command(now))
            .await
    }

    /// [`Executor::execute`] for a command that depends on the state read:
    /// a decision whose boundary was drawn from an earlier read says what it
    /// finds beyond that boundary now.
    pub async fn execute_on_state<D>(
        &self,
        streams: &[StreamName],
        first_read: FirstRead<'_>,
        cause: Cause,
        make_command: impl Fn(DateTime<Utc>, &D::State) -> D::Command,
    ) -> Result<Vec<D::Event>, ExecuteError<D::Error>>
    where
        D: Decider,
        D::Event: DomainEvent + Send + Sync + 'static,
    {
        let began = tokio::time::Instant::now();
        for attempt in 0.. {
            if attempt >= MIN_ATTEMPTS && began.elapsed() >= CONTENTION_BUDGET {
                break;
            }
            let new_streams = match first_read {
                FirstRead::Remembered { new_streams } if attempt == 0 => Some(new_streams),
                _ => None,
            };
            let (history, versions) = match new_streams {
                Some(new_streams) => self.load_remembered::<D::Event>(streams, new_streams).await?,
                None => self.load::<D::Event>(streams).await?,
            };
            let now = self.clock.now();
            let state = fold_read::<D>(&history);
            let decided = match D::decide(&make_command(now, &state), &state) {
                Ok(decided) => decided,
                // Memory may be behind: only the log may refuse.
                Err(_) if new_streams.is_some() => continue,
                Err(refused) => return Err(ExecuteError::Rejected(refused)),
            };
            if let Some(new_streams) = new_streams {
                let unchecked = new_streams
                    .iter()
                    .any(|stream| !decided.iter().any(|event| event.streams().contains(stream)));
                // "Nothing to do" is the log's to say too.
                if unchecked || decided.is_empty() {
                    continue;
                }
            }
            if decided.is_empty() {
                return Ok(decided);
            }
            let events: Vec<NewEvent> = decided
                .iter()
                .map(|event| NewEvent {
                    event_id: self.ids.next(now),
                    event_type: event.event_type().to_owned(),
                    schema_version: event.schema_version(),
                    streams: event.streams().iter().map(|s| s.as_str().to_owned()).collect(),
                    recorded_at: now,
                    correlation_id: Some(cause.correlation_id.as_ulid()),
                    actor: Some(cause.actor.to_log()),
                    causation_id: None,
                    data: event.to_data(),
                })
                .collect();
            let conditions: Vec<Condition> = versions
                .iter()
                .filter(|(stream, _)| events.iter().any(|event| event.streams.contains(stream)))
                .map(|(stream, version)| Condition::new(stream.clone(), ExpectedVersion::after(*version)))
                .collect();
            match self.store.append(&events, &conditions).await {
                Ok(_) => return Ok(decided),
                Err(AppendError::Conflict(conflict)) => {
                    tracing::debug!(%conflict, "decision lost a race; deciding again on fresh state");
                }
                Err(AppendError::Invalid(reason)) => {
                    return Err(StorageError::Corrupt {
                        at: "append".into(),
                        reason,
                    }
                    .into());
                }
                Err(AppendError::Storage(error)) => return Err(error.into()),
            }
        }
        Err(ExecuteError::Contended {
            streams: streams.iter().map(|s| s.as_str().to_owned()).collect(),
        })
    }

    /// The state a decider would decide on, without deciding: for decisions
    /// whose consistency boundary depends on what is there (a booking reads
    /// the holds of the units the capacity offers at its start).
    pub async fn state_of<D>(&self, streams: &[StreamName]) -> Result<D::State, StorageError>
    where
        D: Decider,
        D::Event: DomainEvent + Send + Sync + 'static,
    {
        let (history, _) = self.load::<D::Event>(streams).await?;
        Ok(fold_read::<D>(&history))
    }

    /// The state a decider would decide on as far as this process remembers
    /// `streams`, without asking the log: possibly behind it, so only for
    /// planning which streams a decision reads, never for deciding.
    pub fn remembered_state_of<D>(&self, streams: &[StreamName]) -> Result<D::State, StorageError>
    where
        D: Decider,
        D::Event: DomainEvent + Send + Sync + 'static,
    {
        let names: Vec<&str> = streams.iter().map(StreamName::as_str).collect();
        let history = self
            .streams
            .as_remembered(&names)
            .iter()
            .map(|snapshot| snapshot.decoded::<D::Event>())
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
        Ok(fold_read::<D>(&history))
    }

    /// [`Executor::load`] from memory: only streams memory lacks are read,
    /// and none of `new_streams`, which are taken as empty.
    async fn load_remembered<E>(
        &self,
        streams: &[StreamName],
        new_streams: &[StreamName],
    ) -> Result<(Vec<Arc<Vec<E>>>, HashMap<String, u64>), StorageError>
    where
        E: DomainEvent + Send + Sync + 'static,
    {
        let names: Vec<&str> = streams.iter().map(StreamName::as_str).collect();
        let mut snapshots = self.streams.if_remembered(&names);
        let missing: Vec<&str> = names
            .iter()
            .zip(&snapshots)
            .filter(|(name, known)| known.is_none() && !new_streams.iter().any(|new| new.as_str() == **name))
            .map(|(name, _)| *name)
            .collect();
        let mut read = if missing.is_empty() {
            Vec::new()
        } else {
            self.streams.current(&self.store, &missing).await?
        }
        .into_iter();
        let mut versions = HashMap::new();
        let mut history = Vec::with_capacity(names.len());
        for (stream, known) in names.into_iter().zip(snapshots.iter_mut()) {
            let snapshot = match known.take() {
                Some(snapshot) => snapshot,
                None if missing.contains(&stream) => read.next().ok_or_else(|| StorageError::Corrupt {
                    at: stream.to_owned(),
                    reason: "a stream read from the log went missing".into(),
                })?,
                None => Arc::new(StreamSnapshot::new(0, Vec::new())),
            };
            versions.insert(stream.to_owned(), snapshot.version);
            history.extend(snapshot.decoded::<E>()?);
        }
        Ok((history, versions))
    }

    /// Per stream, the events of `streams` this event family knows (others
    /// are skipped), and the version each stream was read at (which is what
    /// its condition needs).
    async fn load<E>(&self, streams: &[StreamName]) -> Result<(Vec<Arc<Vec<E>>>, HashMap<String, u64>), StorageError>
    where
        E: DomainEvent + Send + Sync + 'static,
    {
        let names: Vec<&str> = streams.iter().map(StreamName::as_str).collect();
        let snapshots = self.streams.current(&self.store, &names).await?;
        let mut versions = HashMap::new();
        let mut history = Vec::with_capacity(snapshots.len());
        for (stream, snapshot) in names.into_iter().zip(snapshots) {
            versions.insert(stream.to_owned(), snapshot.version);
            history.extend(snapshot.decoded::<E>()?);
        }
        Ok((history, versions))
    }
}

/// The state folded from each stream's decoded events, in the order read.
fn fold_read<D: Decider>(history: &[Arc<Vec<D::Event>>]) -> D::State {
    D::fold(history.iter().flat_map(|events| events.iter()))
}
