//! What goes into the log and what comes out of it.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;
use ulid::Ulid;

/// Longest stream name the log accepts.
pub const MAX_STREAM_NAME_LEN: usize = 200;

/// Room a backend reserves up front for a page of the log (larger pages grow).
pub(crate) const PAGE_CAPACITY: usize = 10_000;

/// An event about to be appended. Ids and times are chosen by the caller, so a
/// retried append carries the same ids and is recognised as a repeat.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_id: Ulid,
    pub event_type: String,
    pub schema_version: u32,
    /// Streams (tags) this event belongs to; it gets the next version in each.
    pub streams: Vec<String>,
    pub recorded_at: DateTime<Utc>,
    pub correlation_id: Option<Ulid>,
    pub causation_id: Option<Ulid>,
    /// Who caused the event, in the log's compact form (`staff:{id}`,
    /// `device:{id}`, `operator`, `citizen`, `system`, `system:{process}`);
    /// `None` for events written before actors were recorded.
    pub actor: Option<String>,
    pub data: Value,
}

/// An event's data as the log returns it: JSON text, parsed only by whoever
/// needs it (reading the log stays cheap; consumers parse straight into their
/// own types). The text comes from the log, which only ever stored JSON, so it
/// is not parsed again on the way out.
#[derive(Debug, Clone)]
pub struct EventData(Box<str>);

impl EventData {
    pub fn from_value(value: &Value) -> Self {
        EventData(value.to_string().into_boxed_str())
    }

    /// Text the log itself stored as JSON.
    pub(crate) fn from_stored(text: String) -> Self {
        EventData(text.into_boxed_str())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The data as a JSON value; `Value::Null` if the stored text is not JSON
    /// (which the log never stores).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

/// Equal when the JSON values are equal (backends may format the text differently).
impl PartialEq for EventData {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
    }
}

/// An event as the log holds it (after upcasting to its current shape).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub event_id: Ulid,
    pub event_type: String,
    pub schema_version: u32,
    pub streams: Vec<String>,
    pub recorded_at: DateTime<Utc>,
    pub correlation_id: Option<Ulid>,
    pub causation_id: Option<Ulid>,
    /// Who caused the event (see [`NewEvent::actor`]).
    pub actor: Option<String>,
    pub data: EventData,
}

/// An event read from the whole log, with its global position (1, 2, 3, … in
/// commit order, without gaps).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub position: u64,
    pub event: StoredEvent,
}

/// An event of the whole log as stored — data and schema version before
/// upcasting, what the hash chain covers — with the hash recorded for its
/// position (`None` where none is).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainedEvent {
    pub position: u64,
    pub event: StoredEvent,
    pub hash: Option<crate::chain::EventHash>,
}

/// An event read from one stream, with its version in that stream (1, 2, 3, …).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    pub version: u64,
    pub event: StoredEvent,
}

/// The version a stream must have for an append to go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream has no event yet.
    NoStream,
    /// The stream's last event has exactly this version (0 is the same as `NoStream`).
    Exact(u64),
}

impl ExpectedVersion {
    pub fn as_number(self) -> u64 {
        match self {
            ExpectedVersion::NoStream => 0,
            ExpectedVersion::Exact(version) => version,
        }
    }

    /// The expectation matching a stream last read at `version` (0 = empty).
    pub fn after(version: u64) -> Self {
        if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        }
    }
}

/// A consistency condition of an append: `stream` must be at `expected`.
/// Conditions may only name streams the batch appends to: the unique
/// (stream, version) index is what makes them hold under concurrency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub stream: String,
    pub expected: ExpectedVersion,
}

impl Condition {
    pub fn new(stream: impl Into<String>, expected: ExpectedVersion) -> Self {
        Condition {
            stream: stream.into(),
            expected,
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The last version of each stream the batch was appended to, sorted by stream.
    pub stream_versions: Vec<(String, u64)>,
    /// True when every event of the batch was already in the log (a retried
    /// append): nothing was stored twice.
    pub already_appended: bool,
}

impl AppendOutcome {
    pub fn version_of(&self, stream: &str) -> Option<u64> {
        self.stream_versions
            .iter()
            .find(|(name, _)| name == stream)
            .map(|(_, version)| *version)
    }
}

/// A failed condition: the stream moved on (or is not where the caller thought).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream {stream} is at version {actual}, expected {expected}")]
pub struct Conflict {
    pub stream: String,
    pub expected: u64,
    pub actual: u64,
}

/// Why an append did not go through. Conflicts and invalid batches are the
/// caller's to handle; storage errors are the operator's.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Conflict(#[from] Conflict),
    #[error("invalid append: {0}")]
    Invalid(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The log could not be reached, or held something it cannot read.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("no database connection: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored event at {at} is unreadable: {reason}")]
    Corrupt { at: String, reason: String },
    #[error("the log is too contended: {0}")]
    Contended(String),
    /// Committed events stayed unnumbered this long: a transaction that
    /// began before them (on any database of the cluster) is still open.
    #[error(
        "the log is held back: committed events stayed unnumbered for {0:?} because an older transaction \
         is still open (look for long transactions in pg_stat_activity)"
    )]
    HeldBack(std::time::Duration),
    #[error("unsupported database url {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
}

impl From<sqlx::Error> for AppendError {
    fn from(error: sqlx::Error) -> Self {
        AppendError::Storage(error.into())
    }
}

impl From<rusqlite::types::FromSqlError> for StorageError {
    fn from(error: rusqlite::types::FromSqlError) -> Self {
        StorageError::Sqlite(error.into())
    }
}

impl StorageError {
    pub(crate) fn corrupt(at: impl ToString, reason: impl ToString) -> Self {
        StorageError::Corrupt {
            at: at.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Checks a batch before it reaches a backend, so both reject the same input.
pub(crate) fn validate_batch(events: &[NewEvent], conditions: &[Condition]) -> Result<(), AppendError> {
    if events.is_empty() {
        return Err(AppendError::Invalid("a batch needs at least one event".into()));
    }
    let mut ids = std::collections::HashSet::new();
    for event in events {
        if !ids.insert(event.event_id) {
            return Err(AppendError::Invalid(format!(
                "event id {} appears twice in the batch",
                event.event_id
            )));
        }
        if event.event_type.is_empty() {
            return Err(AppendError::Invalid(format!("event {} has no type", event.event_id)));
        }
        if event.schema_version == 0 {
            return Err(AppendError::Invalid(format!(
                "event {} has schema version 0",
                event.event_id
            )));
        }
        if event.streams.is_empty() {
            return Err(AppendError::Invalid(format!(
                "event {} names no stream",
                event.event_id
            )));
        }
        let mut streams = std::collections::HashSet::new();
        for stream in &event.streams {
            if stream.is_empty() || stream.len() > MAX_STREAM_NAME_LEN {
                return Err(AppendError::Invalid(format!(
                    "stream name {stream:?} must have 1–{MAX_STREAM_NAME_LEN} bytes"
                )));
            }
            if !streams.insert(stream) {
                return Err(AppendError::Invalid(format!(
                    "event {} names stream {stream} twice",
                    event.event_id
                )));
            }
        }
    }
    let mut conditioned = std::collections::HashSet::new();
    for condition in conditions {
        if !conditioned.insert(&condition.stream) {
            return Err(AppendError::Invalid(format!(
                "two conditions on stream {}",
                condition.stream
            )));
        }
        if !events.iter().any(|event| event.streams.contains(&condition.stream)) {
            return Err(AppendError::Invalid(format!(
                "condition on stream {} which the batch does not append to",
                condition.stream
            )));
        }
    }
    Ok(())
}

/// Last version per stream after appending `events` on top of `bases`.
pub(crate) fn versions_after(events: &[NewEvent], base_of: impl Fn(&str) -> u64) -> Vec<(String, u64)> {
    let mut versions: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for event in events {
        for stream in &event.streams {
            let next = versions.get(stream).copied().unwrap_or_else(|| base_of(stream)) + 1;
            versions.insert(stream.clone(), next);
        }
    }
    versions.into_iter().collect()
}
