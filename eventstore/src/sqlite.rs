//! The embedded default backend: SQLite via sqlx, so `terminagent serve` needs
//! nothing installed.
//!
//! SQLite lets one writer in at a time; this store funnels every append
//! through one pooled connection, so positions (AUTOINCREMENT) are handed out
//! in commit order and readers on other connections never skip an event.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::watch;
use ulid::Ulid;

use crate::model::{
    AppendError, AppendOutcome, Condition, Conflict, EventData, LogEvent, NewEvent, PAGE_CAPACITY, StorageError,
    StoredEvent, StreamEvent, validate_batch, versions_after,
};
use crate::upcast::Upcasters;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

#[derive(Clone)]
pub struct SqliteEventStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: SqlitePool,
    readers: SqlitePool,
    upcasters: Upcasters,
    head: watch::Sender<u64>,
}

impl std::fmt::Debug for SqliteEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEventStore").finish_non_exhaustive()
    }
}

impl SqliteEventStore {
    /// Opens (and creates, if missing) the database file named by `url`
    /// (`sqlite://PATH`); does not migrate.
    pub async fn connect(url: &str, upcasters: Upcasters) -> Result<Self, StorageError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged append survives power loss, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // In-process connections do not die while idle: no ping before each use.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let (head, _) = watch::channel(0);
        Ok(SqliteEventStore {
            inner: Arc::new(Inner {
                writer,
                readers,
                upcasters,
                head,
            }),
        })
    }

    pub async fn migrate(&self) -> Result<(), StorageError> {
        MIGRATOR.run(&self.inner.writer).await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.inner.readers).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.inner.writer.close().await;
        self.inner.readers.close().await;
    }

    pub(crate) fn vault_pool(&self) -> SqlitePool {
        self.inner.writer.clone()
    }

    pub async fn append(&self, events: &[NewEvent], conditions: &[Condition]) -> Result<AppendOutcome, AppendError> {
        validate_batch(events, conditions)?;
        // IMMEDIATE takes the write lock up front: a deferred transaction that
        // read first could not upgrade once another process had committed.
        let mut tx = self.inner.writer.begin_with("BEGIN IMMEDIATE").await?;
        let (outcome, last_position) = append_on(&mut tx, events, conditions).await?;
        tx.commit().await?;
        self.inner.head.send_if_modified(|head| {
            let changed = last_position > *head;
            if changed {
                *head = last_position;
            }
            changed
        });
        Ok(outcome)
    }

    pub async fn stream_version(&self, stream: &str) -> Result<u64, StorageError> {
        let version: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM stream_events WHERE stream = ?1")
            .bind(stream)
            .fetch_one(&self.inner.readers)
            .await?;
        Ok(version.unwrap_or(0) as u64)
    }

    /// In-process reads cost no round trip: one stream after the other.
    pub async fn read_streams(&self, reads: &[(&str, u64)]) -> Result<Vec<Vec<StreamEvent>>, StorageError> {
        let mut read = Vec::with_capacity(reads.len());
        for (stream, after) in reads {
            read.push(self.read_stream(stream, *after).await?);
        }
        Ok(read)
    }

    pub async fn read_stream(&self, stream: &str, after_version: u64) -> Result<Vec<StreamEvent>, StorageError> {
        let rows = sqlx::query(
            "SELECT se.version, e.event_id, e.event_type, e.schema_version, e.streams, e.recorded_at, \
                    e.correlation_id, e.causation_id, e.data \
             FROM stream_events se JOIN events e ON e.position = se.position \
             WHERE se.stream = ?1 AND se.version > ?2 ORDER BY se.version",
        )
        .bind(stream)
        .bind(after_version as i64)
        .fetch_all(&self.inner.readers)
        .await?;
        rows.iter()
            .map(|row| {
                let version = row.try_get::<i64, _>(0)? as u64;
                Ok(StreamEvent {
                    version,
                    event: self.decode(row)?,
                })
            })
            .collect()
    }

    pub async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<LogEvent>, StorageError> {
        let mut rows = sqlx::query(
            "SELECT position, event_id, event_type, schema_version, streams, recorded_at, correlation_id, causation_id, data \
             FROM events WHERE position > ?1 ORDER BY position LIMIT ?2",
        )
        .bind(after as i64)
        .bind(limit as i64)
        .fetch(&self.inner.readers);
        // Rows are decoded as they arrive: SQLite steps on its worker thread
        // while this decodes.
        let mut events = Vec::with_capacity(limit.min(PAGE_CAPACITY));
        while let Some(row) = rows.try_next().await? {
            let position = row.try_get::<i64, _>(0)? as u64;
            events.push(LogEvent {
                position,
                event: self.decode(&row)?,
            });
        }
        Ok(events)
    }

    pub async fn head(&self) -> Result<u64, StorageError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events")
            .fetch_one(&self.inner.readers)
            .await?;
        Ok(head.unwrap_or(0) as u64)
    }

    /// Changes after every local append. Appends by other processes on the same
    /// file are found by the subscribers' polling.
    pub fn head_changes(&self) -> watch::Receiver<u64> {
        self.inner.head.subscribe()
    }

    fn decode(&self, row: &sqlx::sqlite::SqliteRow) -> Result<StoredEvent, StorageError> {
        let event_id: String = row.try_get(1)?;
        let event_type: String = row.try_get(2)?;
        let schema_version = row.try_get::<i64, _>(3)? as u32;
        let streams: Vec<String> = serde_json::from_str(row.try_get::<&str, _>(4)?)
            .map_err(|e| StorageError::corrupt(&event_id, format!("streams: {e}")))?;
        let recorded_at = DateTime::parse_from_rfc3339(row.try_get::<&str, _>(5)?)
            .map_err(|e| StorageError::corrupt(&event_id, format!("recorded_at: {e}")))?
            .with_timezone(&Utc);
        let data = EventData::from_stored(row.try_get::<String, _>(8)?);
        let (schema_version, data) = self.inner.upcasters.upcast(&event_type, schema_version, data)?;
        Ok(StoredEvent {
            event_id: parse_ulid(&event_id)?,
            event_type,
            schema_version,
            streams,
            recorded_at,
            correlation_id: row
                .try_get::<Option<String>, _>(6)?
                .as_deref()
                .map(parse_ulid)
                .transpose()?,
            causation_id: row
                .try_get::<Option<String>, _>(7)?
                .as_deref()
                .map(parse_ulid)
                .transpose()?,
            data,
        })
    }
}

fn parse_ulid(text: &str) -> Result<Ulid, StorageError> {
    Ulid::from_string(text).map_err(|e| StorageError::corrupt(text, e))
}

/// Streams are stored sorted, as Postgres stores them, so both backends read back alike.
fn sorted_streams_json(streams: &[String]) -> String {
    let mut sorted: Vec<&String> = streams.iter().collect();
    sorted.sort();
    serde_json::to_string(&sorted).expect("strings serialise")
}

/// The append inside a transaction the caller holds (the store's own, or a
/// test's); returns the outcome and the position of the last event written.
pub(crate) async fn append_on(
    tx: &mut sqlx::SqliteConnection,
    events: &[NewEvent],
    conditions: &[Condition],
) -> Result<(AppendOutcome, u64), AppendError> {
    let ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    let ids_json = serde_json::Value::from(ids.clone()).to_string();
    let already: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_id IN (SELECT value FROM json_each(?1))")
            .bind(&ids_json)
            .fetch_one(&mut *tx)
            .await?;
    if already as usize == events.len() {
        let rows = sqlx::query(
            "SELECT se.stream, max(se.version) FROM stream_events se JOIN events e ON e.position = se.position \
             WHERE e.event_id IN (SELECT value FROM json_each(?1)) GROUP BY se.stream ORDER BY se.stream",
        )
        .bind(&ids_json)
        .fetch_all(&mut *tx)
        .await?;
        let stream_versions = rows
            .iter()
            .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)? as u64)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        return Ok((
            AppendOutcome {
                stream_versions,
                already_appended: true,
            },
            0,
        ));
    }
    if already > 0 {
        return Err(AppendError::Invalid(
            "some but not all event ids of the batch are already in the log".into(),
        ));
    }

    let mut bases = std::collections::HashMap::new();
    for event in events {
        for stream in &event.streams {
            if !bases.contains_key(stream) {
                let version: Option<i64> =
                    sqlx::query_scalar("SELECT max(version) FROM stream_events WHERE stream = ?1")
                        .bind(stream)
                        .fetch_one(&mut *tx)
                        .await?;
                bases.insert(stream.clone(), version.unwrap_or(0) as u64);
            }
        }
    }
    for condition in conditions {
        let actual = bases[&condition.stream];
        if actual != condition.expected.as_number() {
            return Err(Conflict {
                stream: condition.stream.clone(),
                expected: condition.expected.as_number(),
                actual,
            }
            .into());
        }
    }

    let mut next_version = bases.clone();
    let mut last_position = 0;
    for event in events {
        let position: i64 = sqlx::query_scalar(
            "INSERT INTO events (event_id, event_type, schema_version, streams, recorded_at, correlation_id, causation_id, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING position",
        )
        .bind(event.event_id.to_string())
        .bind(&event.event_type)
        .bind(event.schema_version as i64)
        .bind(sorted_streams_json(&event.streams))
        .bind(event.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .bind(event.correlation_id.map(|id| id.to_string()))
        .bind(event.causation_id.map(|id| id.to_string()))
        .bind(event.data.to_string())
        .fetch_one(&mut *tx)
        .await
        ?;
        for stream in &event.streams {
            let version = next_version.get_mut(stream).expect("base read above");
            *version += 1;
            sqlx::query("INSERT INTO stream_events (stream, version, position) VALUES (?1, ?2, ?3)")
                .bind(stream)
                .bind(*version as i64)
                .bind(position)
                .execute(&mut *tx)
                .await?;
        }
        last_position = position as u64;
    }
    Ok((
        AppendOutcome {
            stream_versions: versions_after(events, |stream| bases[stream]),
            already_appended: false,
        },
        last_position,
    ))
}
