//! The embedded default backend: SQLite via sqlx, so `terminagent serve` needs
//! nothing installed.
//!
//! SQLite lets one writer in at a time; this store funnels every append
//! through one pooled connection, so positions (AUTOINCREMENT) are handed out
//! in commit order and readers on other connections never skip an event.
//!
//! Writes (appends, migrations, the side tables) go through sqlx. Reads of the
//! log run on rusqlite connections on tokio's blocking threads: they step rows
//! where they decode them, where sqlx steps on a worker thread and hands each
//! row over (the handover and a copy of every value cost ten times what the
//! read itself does).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
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
    readers: ReadConnections,
    upcasters: Upcasters,
    head: watch::Sender<u64>,
}

/// Connections that only read the log; r2d2 hands one out without testing it
/// (an in-process file connection does not die while idle).
type ReadConnections = r2d2::Pool<r2d2_sqlite::SqliteConnectionManager>;

/// The most log reads that run at once (each on a blocking thread).
const READERS: u32 = 8;

impl std::fmt::Debug for SqliteEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEventStore").finish_non_exhaustive()
    }
}

impl SqliteEventStore {
    /// Opens (and creates, if missing) the database file named by `url`
    /// (`sqlite://PATH`); does not migrate.
    pub async fn connect(url: &str, upcasters: Upcasters) -> Result<Self, StorageError> {
        let options = SqliteConnectOptions::from_str(url)?;
        // Readers open the file by its name, and an in-memory database has none.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StorageError::UnsupportedUrl(url.to_owned()));
        }
        let path = options.get_filename().to_owned();
        let options = options
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
        // The writer created the file. WAL readers wait only in rare moments
        // (recovery, a checkpoint restarting the WAL); as long as the writer would.
        let readers = r2d2::Pool::builder()
            .max_size(READERS)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .build(
                r2d2_sqlite::SqliteConnectionManager::file(path)
                    .with_flags(rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX)
                    .with_init(|connection| connection.busy_timeout(Duration::from_secs(10))),
            )?;
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

    /// Both the writer and a reader answer.
    pub async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.inner.writer).await?;
        self.reading(|connection, _| Ok(connection.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    /// Closes the writer; readers close with the last handle of the store.
    pub async fn close(&self) {
        self.inner.writer.close().await;
    }

    /// Runs `read` on a reader connection on a blocking thread.
    async fn reading<T: Send + 'static>(
        &self,
        read: impl FnOnce(&rusqlite::Connection, &Upcasters) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || read(&*inner.readers.get()?, &inner.upcasters))
            .await
            .map_err(|e| StorageError::corrupt("log read", e))?
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
        let stream = stream.to_owned();
        self.reading(move |connection, _| {
            let version: Option<i64> = connection
                .prepare_cached("SELECT max(version) FROM stream_events WHERE stream = ?1")?
                .query_row([&stream], |row| row.get(0))?;
            Ok(version.unwrap_or(0) as u64)
        })
        .await
    }

    /// All streams in one trip to a blocking thread, one after the other there.
    pub async fn read_streams(&self, reads: &[(&str, u64)]) -> Result<Vec<Vec<StreamEvent>>, StorageError> {
        let reads: Vec<(String, u64)> = reads
            .iter()
            .map(|(stream, after)| ((*stream).to_owned(), *after))
            .collect();
        self.reading(move |connection, upcasters| {
            reads
                .iter()
                .map(|(stream, after)| read_stream_on(connection, upcasters, stream, *after))
                .collect()
        })
        .await
    }

    pub async fn read_stream(&self, stream: &str, after_version: u64) -> Result<Vec<StreamEvent>, StorageError> {
        let stream = stream.to_owned();
        self.reading(move |connection, upcasters| read_stream_on(connection, upcasters, &stream, after_version))
            .await
    }

    pub async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<LogEvent>, StorageError> {
        self.reading(move |connection, upcasters| {
            let mut statement = connection.prepare_cached(
                "SELECT position, event_id, event_type, schema_version, streams, recorded_at, correlation_id, \
                        causation_id, data, actor \
                 FROM events WHERE position > ?1 ORDER BY position LIMIT ?2",
            )?;
            let mut rows = statement.query((after as i64, limit as i64))?;
            let mut events = Vec::with_capacity(limit.min(PAGE_CAPACITY));
            while let Some(row) = rows.next()? {
                events.push(LogEvent {
                    position: row.get::<_, i64>(0)? as u64,
                    event: decode(upcasters, row)?,
                });
            }
            Ok(events)
        })
        .await
    }

    pub async fn head(&self) -> Result<u64, StorageError> {
        self.reading(|connection, _| {
            let head: Option<i64> = connection
                .prepare_cached("SELECT max(position) FROM events")?
                .query_row([], |row| row.get(0))?;
            Ok(head.unwrap_or(0) as u64)
        })
        .await
    }

    /// Changes after every local append. Appends by other processes on the same
    /// file are found by the subscribers' polling.
    pub fn head_changes(&self) -> watch::Receiver<u64> {
        self.inner.head.subscribe()
    }
}

/// One stream's events after `after_version`.
fn read_stream_on(
    connection: &rusqlite::Connection,
    upcasters: &Upcasters,
    stream: &str,
    after_version: u64,
) -> Result<Vec<StreamEvent>, StorageError> {
    let mut statement = connection.prepare_cached(
        "SELECT se.version, e.event_id, e.event_type, e.schema_version, e.streams, e.recorded_at, \
                e.correlation_id, e.causation_id, e.data, e.actor \
         FROM stream_events se JOIN events e ON e.position = se.position \
         WHERE se.stream = ?1 AND se.version > ?2 ORDER BY se.version",
    )?;
    let mut rows = statement.query((stream, after_version as i64))?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        events.push(StreamEvent {
            version: row.get::<_, i64>(0)? as u64,
            event: decode(upcasters, row)?,
        });
    }
    Ok(events)
}

/// The event in columns 1–9 of `row` (column 0 is its position or version).
fn decode(upcasters: &Upcasters, row: &rusqlite::Row<'_>) -> Result<StoredEvent, StorageError> {
    let text = |index: usize| -> Result<&str, StorageError> { Ok(row.get_ref(index)?.as_str()?) };
    let optional_ulid = |index: usize| -> Result<Option<Ulid>, StorageError> {
        row.get_ref(index)?.as_str_or_null()?.map(parse_ulid).transpose()
    };
    let event_id = text(1)?;
    let streams: Vec<String> =
        serde_json::from_str(text(4)?).map_err(|e| StorageError::corrupt(event_id, format!("streams: {e}")))?;
    let recorded_at = DateTime::parse_from_rfc3339(text(5)?)
        .map_err(|e| StorageError::corrupt(event_id, format!("recorded_at: {e}")))?
        .with_timezone(&Utc);
    let event_type = text(2)?.to_owned();
    let data = EventData::from_stored(text(8)?.to_owned());
    let (schema_version, data) = upcasters.upcast(&event_type, row.get::<_, i64>(3)? as u32, data)?;
    Ok(StoredEvent {
        event_id: parse_ulid(event_id)?,
        event_type,
        schema_version,
        streams,
        recorded_at,
        correlation_id: optional_ulid(6)?,
        causation_id: optional_ulid(7)?,
        actor: row.get_ref(9)?.as_str_or_null()?.map(str::to_owned),
        data,
    })
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

    // Every distinct stream's version now, in one statement.
    let mut distinct: Vec<&str> = events
        .iter()
        .flat_map(|e| e.streams.iter().map(String::as_str))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    let rows = sqlx::query(
        "SELECT s.value, coalesce((SELECT max(se.version) FROM stream_events se WHERE se.stream = s.value), 0) \
         FROM json_each(?1) s",
    )
    .bind(serde_json::to_string(&distinct).expect("strings serialise"))
    .fetch_all(&mut *tx)
    .await?;
    let mut bases = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        bases.insert(row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)? as u64);
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

    // The batch in two statements, whatever its size: the events in batch
    // order (one writer at a time, so their positions follow it), then their
    // (stream, version) links, found by event id.
    let rows: Vec<serde_json::Value> = events
        .iter()
        .map(|event| {
            serde_json::json!([
                event.event_id.to_string(),
                event.event_type,
                event.schema_version,
                sorted_streams_json(&event.streams),
                event.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                event.correlation_id.map(|id| id.to_string()),
                event.causation_id.map(|id| id.to_string()),
                event.data.to_string(),
                event.actor,
            ])
        })
        .collect();
    let inserted = sqlx::query(
        "INSERT INTO events (event_id, event_type, schema_version, streams, recorded_at, correlation_id, \
                             causation_id, data, actor) \
         SELECT e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4, e.value ->> 5, \
                e.value ->> 6, e.value ->> 7, e.value ->> 8 \
         FROM json_each(?1) e ORDER BY e.key",
    )
    .bind(serde_json::Value::from(rows).to_string())
    .execute(&mut *tx)
    .await?;
    let mut next_version = bases.clone();
    let links: Vec<serde_json::Value> = events
        .iter()
        .flat_map(|event| event.streams.iter().map(move |stream| (event, stream)))
        .map(|(event, stream)| {
            let version = next_version.get_mut(stream).expect("base read above");
            *version += 1;
            serde_json::json!([stream, *version, event.event_id.to_string()])
        })
        .collect();
    sqlx::query(
        "INSERT INTO stream_events (stream, version, position) \
         SELECT l.value ->> 0, l.value ->> 1, e.position \
         FROM json_each(?1) l JOIN events e ON e.event_id = l.value ->> 2",
    )
    .bind(serde_json::Value::from(links).to_string())
    .execute(&mut *tx)
    .await?;
    let last_position = inserted.last_insert_rowid() as u64;
    Ok((
        AppendOutcome {
            stream_versions: versions_after(events, |stream| bases[stream]),
            already_appended: false,
        },
        last_position,
    ))
}
