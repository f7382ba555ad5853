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

use crate::chain::{ChainFields, ChainTip, EventHash, hash_event};
use crate::model::{
    AppendError, AppendOutcome, ChainedEvent, Condition, Conflict, EventData, LogEvent, NewEvent, PAGE_CAPACITY,
    StorageError, StoredEvent, StreamEvent, validate_batch, versions_after,
};
use crate::store::Durability;
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
    /// The last event this process wrote and its hash: the next append's
    /// predecessor, unless another process has appended since (which the
    /// append finds out in its first statement).
    chain_tip: std::sync::Mutex<Option<ChainTip>>,
}

/// Events hashed per transaction when a log written before the chain is hashed.
const CHAIN_BACKFILL_BATCH: i64 = 10_000;

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
    pub async fn connect(url: &str, upcasters: Upcasters, durability: Durability) -> Result<Self, StorageError> {
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
            .synchronous(match durability {
                Durability::Flushed => SqliteSynchronous::Full,
                Durability::Unflushed => SqliteSynchronous::Normal,
            })
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
                chain_tip: std::sync::Mutex::new(None),
            }),
        })
    }

    /// Migrates, then hashes the events a log written before the chain holds.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        MIGRATOR.run(&self.inner.writer).await?;
        loop {
            let mut tx = self.inner.writer.begin_with("BEGIN IMMEDIATE").await?;
            let hashed = chain_unhashed(&mut tx, CHAIN_BACKFILL_BATCH).await?;
            tx.commit().await?;
            if hashed == 0 {
                return Ok(());
            }
        }
    }

    pub(crate) fn upcasters(&self) -> &Upcasters {
        &self.inner.upcasters
    }

    fn cached_tip(&self) -> Option<ChainTip> {
        *self
            .inner
            .chain_tip
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        let Appended {
            outcome,
            last_position,
            tip,
        } = append_on(&mut tx, events, conditions, self.cached_tip()).await?;
        tx.commit().await?;
        if let Some(tip) = tip {
            *self
                .inner
                .chain_tip
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(tip);
        }
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

    /// Up to `limit` events after `after` as stored (not upcast), with their
    /// recorded hashes, in position order. Positions are the stored ones, so a
    /// removed row shows as a gap.
    pub async fn read_chain(&self, after: u64, limit: usize) -> Result<Vec<ChainedEvent>, StorageError> {
        self.reading(move |connection, _| {
            let mut statement = connection.prepare_cached(
                "SELECT position, event_id, event_type, schema_version, streams, recorded_at, correlation_id, \
                        causation_id, data, actor, hash \
                 FROM events WHERE position > ?1 ORDER BY position LIMIT ?2",
            )?;
            let mut rows = statement.query((after as i64, limit as i64))?;
            let mut events = Vec::with_capacity(limit.min(PAGE_CAPACITY));
            let as_stored = Upcasters::new();
            while let Some(row) = rows.next()? {
                let position = row.get::<_, i64>(0)? as u64;
                events.push(ChainedEvent {
                    position,
                    event: decode(&as_stored, row)?,
                    hash: stored_hash(position, row.get_ref(10)?.as_blob_or_null()?)?,
                });
            }
            Ok(events)
        })
        .await
    }

    /// The last event's position and recorded hash (`None` for an empty log);
    /// its hash is `None` only on a log not hashed yet.
    pub async fn chain_head(&self) -> Result<Option<(u64, Option<EventHash>)>, StorageError> {
        self.reading(|connection, _| {
            let mut statement =
                connection.prepare_cached("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1")?;
            let mut rows = statement.query([])?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            let position = row.get::<_, i64>(0)? as u64;
            Ok(Some((
                position,
                stored_hash(position, row.get_ref(1)?.as_blob_or_null()?)?,
            )))
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

/// A hash column: NULL, or exactly 32 bytes.
fn stored_hash(position: u64, bytes: Option<&[u8]>) -> Result<Option<EventHash>, StorageError> {
    bytes
        .map(|bytes| {
            EventHash::from_slice(bytes)
                .ok_or_else(|| StorageError::corrupt(format!("position {position}"), "hash is not 32 bytes"))
        })
        .transpose()
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

/// What [`append_on`] did.
pub(crate) struct Appended {
    pub(crate) outcome: AppendOutcome,
    /// The position of the last event written (0 when nothing was).
    pub(crate) last_position: u64,
    /// The chain's new tip, once the transaction commits (`None` when nothing was written).
    pub(crate) tip: Option<ChainTip>,
}

/// The append inside a transaction the caller holds (the store's own, or a
/// test's). `cached_tip` is the last event the caller knows of and its hash;
/// it is used only if it is still the last one.
pub(crate) async fn append_on(
    tx: &mut sqlx::SqliteConnection,
    events: &[NewEvent],
    conditions: &[Condition],
    cached_tip: Option<ChainTip>,
) -> Result<Appended, AppendError> {
    let ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    let ids_json = serde_json::Value::from(ids.clone()).to_string();
    // The log's last position comes with the repeat check: the chain's
    // predecessor costs no statement of its own while the cache holds.
    let (already, last): (i64, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events WHERE event_id IN (SELECT value FROM json_each(?1))), \
                (SELECT max(position) FROM events)",
    )
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
        return Ok(Appended {
            outcome: AppendOutcome {
                stream_versions,
                already_appended: true,
            },
            last_position: 0,
            tip: None,
        });
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

    // One writer at a time: the batch takes the positions after the last one,
    // and each event's hash is known before it is written.
    let last = last.unwrap_or(0) as u64;
    let mut tip = match cached_tip {
        Some(tip) if tip.position == last => tip,
        _ => tip_of_log(tx, last).await?,
    };
    let first_position = last + 1;
    let data: Vec<String> = events.iter().map(|event| event.data.to_string()).collect();
    let mut hashes = Vec::with_capacity(events.len() * 32);
    for (event, data) in events.iter().zip(&data) {
        let position = tip.position + 1;
        tip = ChainTip {
            position,
            hash: hash_event(&tip.hash, position, &ChainFields::of_new(event, data)),
        };
        hashes.extend_from_slice(tip.hash.as_bytes());
    }

    // The batch in two statements, whatever its size: the events in batch
    // order at the positions chained above, then their (stream, version)
    // links, found by event id.
    let rows: Vec<serde_json::Value> = events
        .iter()
        .zip(data)
        .map(|(event, data)| {
            serde_json::json!([
                event.event_id.to_string(),
                event.event_type,
                event.schema_version,
                sorted_streams_json(&event.streams),
                event.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                event.correlation_id.map(|id| id.to_string()),
                event.causation_id.map(|id| id.to_string()),
                data,
                event.actor,
            ])
        })
        .collect();
    sqlx::query(
        "INSERT INTO events (position, event_id, event_type, schema_version, streams, recorded_at, correlation_id, \
                             causation_id, data, actor, hash) \
         SELECT ?2 + e.key, e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4, \
                e.value ->> 5, e.value ->> 6, e.value ->> 7, e.value ->> 8, substr(?3, e.key * 32 + 1, 32) \
         FROM json_each(?1) e ORDER BY e.key",
    )
    .bind(serde_json::Value::from(rows).to_string())
    .bind(first_position as i64)
    .bind(hashes)
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
    Ok(Appended {
        outcome: AppendOutcome {
            stream_versions: versions_after(events, |stream| bases[stream]),
            already_appended: false,
        },
        last_position: tip.position,
        tip: Some(tip),
    })
}

/// The chain's tip when the log's last position is `last`, read from the log
/// (after hashing whatever is not hashed yet).
async fn tip_of_log(tx: &mut sqlx::SqliteConnection, last: u64) -> Result<ChainTip, StorageError> {
    if last == 0 {
        return Ok(ChainTip::EMPTY);
    }
    let mut hashed_after_backfill = false;
    loop {
        let hash: Option<Vec<u8>> = sqlx::query_scalar("SELECT hash FROM events WHERE position = ?1")
            .bind(last as i64)
            .fetch_one(&mut *tx)
            .await?;
        if let Some(hash) = stored_hash(last, hash.as_deref())? {
            return Ok(ChainTip { position: last, hash });
        }
        if hashed_after_backfill {
            return Err(StorageError::corrupt(
                format!("position {last}"),
                "no hash after hashing the log",
            ));
        }
        // Written by a process from before the chain: hash the log first.
        while chain_unhashed(tx, CHAIN_BACKFILL_BATCH).await? > 0 {}
        hashed_after_backfill = true;
    }
}

/// Hashes up to `limit` of the first events without a hash, in position
/// order, each after its stored predecessor; returns how many it hashed.
async fn chain_unhashed(tx: &mut sqlx::SqliteConnection, limit: i64) -> Result<u64, StorageError> {
    let rows = sqlx::query(
        "SELECT position, event_id, event_type, schema_version, streams, recorded_at, correlation_id, \
                causation_id, data, actor \
         FROM events WHERE position >= (SELECT min(position) FROM events WHERE hash IS NULL) \
         ORDER BY position LIMIT ?1",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(0);
    };
    let first: i64 = first.try_get(0)?;
    let previous: Option<(i64, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT position, hash FROM events WHERE position < ?1 ORDER BY position DESC LIMIT 1")
            .bind(first)
            .fetch_optional(&mut *tx)
            .await?;
    let mut previous = match previous {
        None => EventHash::GENESIS,
        Some((position, hash)) => stored_hash(position as u64, hash.as_deref())?.ok_or_else(|| {
            StorageError::corrupt(
                format!("position {position}"),
                "unhashed event before the first unhashed",
            )
        })?,
    };
    let mut positions = Vec::with_capacity(rows.len());
    let mut hashes = Vec::with_capacity(rows.len() * 32);
    for row in &rows {
        let position = row.try_get::<i64, _>(0)? as u64;
        let event = decode_sqlx(row)?;
        previous = hash_event(&previous, position, &ChainFields::of_stored(&event));
        positions.push(position);
        hashes.extend_from_slice(previous.as_bytes());
    }
    sqlx::query(
        "UPDATE events SET hash = substr(?2, p.key * 32 + 1, 32) \
         FROM json_each(?1) p WHERE events.position = p.value",
    )
    .bind(serde_json::to_string(&positions).expect("numbers serialise"))
    .bind(hashes)
    .execute(&mut *tx)
    .await?;
    Ok(positions.len() as u64)
}

/// An event as stored (not upcast) from columns 1–9 of a sqlx row.
fn decode_sqlx(row: &sqlx::sqlite::SqliteRow) -> Result<StoredEvent, StorageError> {
    let event_id: String = row.try_get(1)?;
    let streams: String = row.try_get(4)?;
    let streams: Vec<String> =
        serde_json::from_str(&streams).map_err(|e| StorageError::corrupt(&event_id, format!("streams: {e}")))?;
    let recorded_at: String = row.try_get(5)?;
    let recorded_at = DateTime::parse_from_rfc3339(&recorded_at)
        .map_err(|e| StorageError::corrupt(&event_id, format!("recorded_at: {e}")))?
        .with_timezone(&Utc);
    let optional_ulid = |index: usize| -> Result<Option<Ulid>, StorageError> {
        row.try_get::<Option<String>, _>(index)?
            .as_deref()
            .map(parse_ulid)
            .transpose()
    };
    Ok(StoredEvent {
        event_id: parse_ulid(&event_id)?,
        event_type: row.try_get(2)?,
        schema_version: row.try_get::<i64, _>(3)? as u32,
        streams,
        recorded_at,
        correlation_id: optional_ulid(6)?,
        causation_id: optional_ulid(7)?,
        actor: row.try_get(9)?,
        data: EventData::from_stored(row.try_get(8)?),
    })
}

#[cfg(test)]
mod durability_tests {
    use super::*;

    async fn synchronous_of(durability: Durability) -> i64 {
        let dir = std::env::temp_dir().join(format!("terminagent-durability-{}", Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("log.db").display());
        let store = SqliteEventStore::connect(&url, Upcasters::default(), durability)
            .await
            .unwrap();
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&store.vault_pool())
            .await
            .unwrap();
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
        level
    }

    #[tokio::test]
    async fn a_store_flushes_every_commit_unless_opened_unflushed() {
        // SQLite's levels: 1 NORMAL, 2 FULL.
        assert_eq!(synchronous_of(Durability::Flushed).await, 2);
        assert_eq!(synchronous_of(Durability::Unflushed).await, 1);
    }
}
