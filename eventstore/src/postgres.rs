//! The production backend: Postgres via sqlx.
//!
//! Appends are one call of `append_events` (one round trip, no global lock).
//! Global positions are handed out by the sequencer task (`sequence_events`),
//! which every process runs and which is woken after each local append; the
//! advisory lock inside the function lets one sequencer work at a time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError, PgListener, PgPoolOptions};
use sqlx::{PgPool, Row};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use ulid::Ulid;
use uuid::Uuid;

use crate::chain::{ChainFields, ChainTip, EventHash, hash_event};
use crate::model::{
    AppendError, AppendOutcome, ChainedEvent, Condition, Conflict, EventData, LogEvent, NewEvent, PAGE_CAPACITY,
    StorageError, StoredEvent, StreamEvent, validate_batch,
};
use crate::pg_connections::{HotConnections, leaves_connection_sound};
use crate::store::Durability;
use crate::upcast::Upcasters;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Channel on which sequencers announce a new log head to other processes.
const LOG_CHANNEL: &str = "terminagent_log";
/// How many events one sequencer call numbers at most.
const SEQUENCER_BATCH: i32 = 10_000;
/// How many events one sequencer sweep hashes at most: the segment it numbered
/// (at most `SEQUENCER_BATCH`), or a share of a log numbered before the chain.
const CHAIN_BATCH: u64 = 10_000;
/// An append that loses the next version of a stream it has no condition on
/// tries again: each lost race means another append to that stream landed, so
/// the log moves on, and with many writers on one stream a single append may
/// lose many times in a row. It gives up only after losing for this long.
const UNCONDITIONED_RACE_BUDGET: Duration = Duration::from_secs(10);

/// Settings of a Postgres store.
/// A sweep numbering at least this many events means the log is busy: the
/// next sweep waits out `sequencer_min_gap` to gather a batch.
const BUSY_SWEEP: u64 = 8;
/// How long [`PostgresStore::catch_up`] waits for an older transaction
/// that holds committed events back.
pub const CATCH_UP_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct PgStoreOptions {
    /// Connections for appends and stream reads (the decisions' statements),
    /// and as many again for everything else (the log order, the sequencer,
    /// the vault, consumer progress); both sets open connections on demand.
    pub max_connections: u32,
    /// How often the sequencer looks for events it was not woken for (commits
    /// of other processes, or of writers that died before waking it).
    pub sequencer_poll: Duration,
    /// The least time between two sequencer sweeps while the log is busy. An
    /// idle log is numbered at once; under load each sweep (one commit)
    /// numbers what gathered since the last, so sweeps cost less than the
    /// appends they follow — group commit for the log order, at the price of
    /// at most this much read latency.
    pub sequencer_min_gap: Duration,
}

impl Default for PgStoreOptions {
    fn default() -> Self {
        PgStoreOptions {
            max_connections: 16,
            sequencer_poll: Duration::from_millis(50),
            sequencer_min_gap: Duration::from_millis(50),
        }
    }
}

#[derive(Clone)]
pub struct PgEventStore {
    inner: Arc<Inner>,
}

/// The end of a page read: its last position and that event's place in the log order.
#[derive(Debug, Clone, Copy)]
struct LogCursor {
    position: u64,
    tx: i64,
    seq: i64,
}

/// The last few places pages of the log ended, newest last. A position's
/// place in the log order never changes, so any of them may be reused.
#[derive(Debug, Default)]
struct RecentCursors(VecDeque<LogCursor>);

impl RecentCursors {
    /// More than the readers one process runs (views, mail relay, matcher).
    const KEPT: usize = 16;

    fn remember(&mut self, cursor: LogCursor) {
        if self.at(cursor.position).is_none() {
            if self.0.len() == Self::KEPT {
                self.0.pop_front();
            }
            self.0.push_back(cursor);
        }
    }

    fn at(&self, position: u64) -> Option<LogCursor> {
        self.0.iter().rev().find(|cursor| cursor.position == position).copied()
    }
}

struct Inner {
    pool: PgPool,
    /// Appends and stream reads, which every decision makes.
    hot: Arc<HotConnections>,
    /// Where the latest `read_all`s stopped, so the next page of each reader
    /// needs no lookup (a process has several readers of the log).
    last_reads: std::sync::Mutex<RecentCursors>,
    upcasters: Upcasters,
    sequencer_wake: Arc<Notify>,
    head: watch::Sender<u64>,
    /// The last event this process's sweeps hashed: the next segment's
    /// predecessor, unless another process has numbered one since.
    chain_tip: std::sync::Mutex<Option<ChainTip>>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    listening: std::sync::Once,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self
            .tasks
            .lock()
            .map(|mut tasks| std::mem::take(&mut *tasks))
            .unwrap_or_default()
        {
            task.abort();
        }
    }
}

impl std::fmt::Debug for PgEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventStore").finish_non_exhaustive()
    }
}

impl PgEventStore {
    /// Connects; does not migrate (see [`PgEventStore::migrate`]).
    pub async fn connect(
        url: &str,
        options: PgStoreOptions,
        upcasters: Upcasters,
        durability: Durability,
    ) -> Result<Self, StorageError> {
        // Parallel plans only slow the log's short range scans on small
        // machines. Every statement is prepared once per connection and run
        // with its generic plan: the planner would otherwise plan statements
        // whose generic cost it overestimates (arrays, lateral joins) on every
        // call, which cost more than running them.
        // An acknowledged append is on disk whatever the server's default
        // (invariant 2): `synchronous_commit` is set, not assumed.
        let synchronous_commit = match durability {
            Durability::Flushed => "on",
            Durability::Unflushed => "off",
        };
        let connect: PgConnectOptions = url.parse::<PgConnectOptions>()?.options([
            ("max_parallel_workers_per_gather", "0"),
            ("plan_cache_mode", "force_generic_plan"),
            ("synchronous_commit", synchronous_commit),
        ]);
        // One direct connection first: a refused or misnamed database shows as
        // itself rather than as a pool time-out.
        use sqlx::Connection;
        sqlx::PgConnection::connect_with(&connect).await?.close().await?;
        // No ping before each use: it doubled the round trips of every
        // statement. A connection that died while idle fails the one statement
        // that finds it (and is dropped); idle connections are retired anyway.
        let hot = Arc::new(HotConnections::new(connect.clone(), options.max_connections));
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false)
            .idle_timeout(Duration::from_secs(60))
            .connect_with(connect)
            .await?;
        let (head, _) = watch::channel(0);
        let store = PgEventStore {
            inner: Arc::new(Inner {
                pool,
                hot,
                last_reads: std::sync::Mutex::new(RecentCursors::default()),
                upcasters,
                sequencer_wake: Arc::new(Notify::new()),
                head,
                chain_tip: std::sync::Mutex::new(None),
                tasks: std::sync::Mutex::new(Vec::new()),
                listening: std::sync::Once::new(),
            }),
        };
        store.spawn_sequencer(options.sequencer_poll, options.sequencer_min_gap);
        Ok(store)
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Migrates, then numbers what can be numbered and hashes every numbered
    /// event without a hash (a log written before the chain).
    pub async fn migrate(&self) -> Result<(), StorageError> {
        MIGRATOR.run(&self.inner.pool).await?;
        self.sequence_now().await?;
        Ok(())
    }

    pub(crate) fn upcasters(&self) -> &Upcasters {
        &self.inner.upcasters
    }

    pub async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.inner.pool).await?;
        Ok(())
    }

    pub async fn append(&self, events: &[NewEvent], conditions: &[Condition]) -> Result<AppendOutcome, AppendError> {
        validate_batch(events, conditions)?;
        let mut racing_since = None;
        loop {
            match self.try_append(events, conditions).await {
                Ok(stream_versions) => {
                    self.inner.sequencer_wake.notify_one();
                    return Ok(AppendOutcome {
                        stream_versions,
                        already_appended: false,
                    });
                }
                Err(failure) => {
                    // A repeat of an append that went through earlier is not a conflict.
                    if let Some(outcome) = self.previous_append(events).await? {
                        return Ok(outcome);
                    }
                    match failure {
                        AppendFailure::StreamRace => {
                            if let Some(conflict) = self.failed_condition(conditions).await? {
                                return Err(conflict.into());
                            }
                            let since = *racing_since.get_or_insert_with(tokio::time::Instant::now);
                            if since.elapsed() >= UNCONDITIONED_RACE_BUDGET {
                                return Err(failure.into_append_error());
                            }
                        }
                        failure => return Err(failure.into_append_error()),
                    }
                }
            }
        }
    }

    async fn try_append(
        &self,
        events: &[NewEvent],
        conditions: &[Condition],
    ) -> Result<Vec<(String, u64)>, AppendFailure> {
        let mut lease = self.inner.hot.lease().await.map_err(AppendFailure::Storage)?;
        let appended = match events {
            [event] => call_append_one(lease.connection(), event, conditions).await,
            _ => match one_stream(events) {
                Some(stream) => call_append_stream(lease.connection(), events, stream, conditions).await,
                None => call_append_events(lease.connection(), events, conditions)
                    .await
                    .map(Some),
            },
        };
        lease.give_back_if(
            appended
                .as_ref()
                .err()
                .is_none_or(AppendFailure::leaves_connection_sound),
        );
        match appended? {
            Some(versions) => Ok(versions),
            None => self.explain_unmet_condition(conditions).await,
        }
    }

    /// Why a lean statement appended nothing: the condition that fails now, or
    /// (when a stream expected further along has reached that version since) a
    /// race to try again.
    async fn explain_unmet_condition(&self, conditions: &[Condition]) -> Result<Vec<(String, u64)>, AppendFailure> {
        match self
            .failed_condition(conditions)
            .await
            .map_err(AppendFailure::Storage)?
        {
            Some(conflict) => Err(AppendFailure::Conflict(conflict)),
            None => Err(AppendFailure::StreamRace),
        }
    }

    /// When every event of the batch is already stored, the outcome of that earlier append.
    async fn previous_append(&self, events: &[NewEvent]) -> Result<Option<AppendOutcome>, StorageError> {
        let ids: Vec<Uuid> = events.iter().map(|e| Uuid::from(e.event_id)).collect();
        let found: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE home AND event_id = ANY($1)")
            .bind(&ids)
            .fetch_one(&self.inner.pool)
            .await?;
        if found as usize != events.len() {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT stream, max(version) FROM ( \
                SELECT stream, version FROM events WHERE home AND event_id = ANY($1) \
                UNION ALL SELECT stream, version FROM events WHERE NOT home AND event_id = ANY($1)) appended \
             GROUP BY stream ORDER BY stream",
        )
        .bind(&ids)
        .fetch_all(&self.inner.pool)
        .await?;
        let stream_versions = rows
            .into_iter()
            .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)? as u64)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Some(AppendOutcome {
            stream_versions,
            already_appended: true,
        }))
    }

    async fn failed_condition(&self, conditions: &[Condition]) -> Result<Option<Conflict>, StorageError> {
        for condition in conditions {
            let actual = self.stream_version(&condition.stream).await?;
            if actual != condition.expected.as_number() {
                return Ok(Some(Conflict {
                    stream: condition.stream.clone(),
                    expected: condition.expected.as_number(),
                    actual,
                }));
            }
        }
        Ok(None)
    }

    pub async fn stream_version(&self, stream: &str) -> Result<u64, StorageError> {
        let mut lease = self.inner.hot.lease().await?;
        let version = sqlx::query_scalar::<_, Option<i64>>("SELECT max(version) FROM events WHERE stream = $1")
            .bind(stream)
            .fetch_one(lease.connection())
            .await;
        lease.give_back(&version);
        Ok(version?.unwrap_or(0) as u64)
    }

    pub async fn read_stream(&self, stream: &str, after_version: u64) -> Result<Vec<StreamEvent>, StorageError> {
        let mut lease = self.inner.hot.lease().await?;
        let rows = sqlx::query(
            "SELECT r.version, r.event_id, coalesce(h.event_type, r.event_type), \
                    coalesce(h.schema_version, r.schema_version), coalesce(h.streams, r.streams), \
                    coalesce(h.recorded_at, r.recorded_at), coalesce(h.correlation_id, r.correlation_id), \
                    coalesce(h.causation_id, r.causation_id), coalesce(h.data, r.data), \
                    coalesce(h.actor, r.actor) AS actor \
             FROM events r LEFT JOIN events h ON NOT r.home AND h.home AND h.event_id = r.event_id \
             WHERE r.stream = $1 AND r.version > $2 ORDER BY r.version",
        )
        .bind(stream)
        .bind(after_version as i64)
        .fetch_all(lease.connection())
        .await;
        lease.give_back(&rows);
        rows?
            .iter()
            .map(|row| {
                let version = row.try_get::<i64, _>(0)? as u64;
                Ok(StreamEvent {
                    version,
                    event: self.decode(row)?,
                })
            })
            .collect()
    }

    pub async fn read_streams(&self, reads: &[(&str, u64)]) -> Result<Vec<Vec<StreamEvent>>, StorageError> {
        let streams: Vec<&str> = reads.iter().map(|(stream, _)| *stream).collect();
        let after: Vec<i64> = reads.iter().map(|(_, after)| *after as i64).collect();
        // One statement, one index range per stream: a decision reads all of
        // its streams in one round trip.
        let mut lease = self.inner.hot.lease().await?;
        let mut rows = sqlx::query(
            "SELECT x.version, x.event_id, x.event_type, x.schema_version, x.streams, x.recorded_at, \
                    x.correlation_id, x.causation_id, x.data, s.ord, x.actor \
             FROM unnest($1::text[], $2::int8[]) WITH ORDINALITY AS s(stream, after, ord) \
             CROSS JOIN LATERAL ( \
                SELECT r.version, r.event_id, coalesce(h.event_type, r.event_type) AS event_type, \
                       coalesce(h.schema_version, r.schema_version) AS schema_version, \
                       coalesce(h.streams, r.streams) AS streams, coalesce(h.recorded_at, r.recorded_at) AS recorded_at, \
                       coalesce(h.correlation_id, r.correlation_id) AS correlation_id, \
                       coalesce(h.causation_id, r.causation_id) AS causation_id, coalesce(h.data, r.data) AS data, \
                       coalesce(h.actor, r.actor) AS actor \
                FROM events r LEFT JOIN events h ON NOT r.home AND h.home AND h.event_id = r.event_id \
                WHERE r.stream = s.stream AND r.version > s.after ORDER BY r.version) x \
             ORDER BY s.ord, x.version",
        )
        .bind(&streams)
        .bind(&after)
        .fetch(lease.connection());
        let mut read: Vec<Vec<StreamEvent>> = reads.iter().map(|_| Vec::new()).collect();
        while let Some(row) = rows.try_next().await? {
            let ord = row.try_get::<i64, _>(9)? as usize;
            let slot = read
                .get_mut(ord.wrapping_sub(1))
                .ok_or_else(|| StorageError::corrupt("read_streams", format!("no stream {ord}")))?;
            slot.push(StreamEvent {
                version: row.try_get::<i64, _>(0)? as u64,
                event: self.decode(&row)?,
            });
        }
        // Every row was read (an early return above closes the connection).
        drop(rows);
        lease.give_back_if(true);
        Ok(read)
    }

    pub async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<LogEvent>, StorageError> {
        self.read_log(after, limit, &self.inner.upcasters).await
    }

    /// A page of the log as stored, with each position's recorded hash.
    pub async fn read_chain(&self, after: u64, limit: usize) -> Result<Vec<ChainedEvent>, StorageError> {
        let events = self.read_log(after, limit, &Upcasters::new()).await?;
        let Some(last) = events.last().map(|logged| logged.position) else {
            return Ok(Vec::new());
        };
        let mut lease = self.inner.hot.lease().await?;
        let hashes = sqlx::query_as::<_, (i64, Vec<u8>)>(
            "SELECT position, hash FROM event_hashes WHERE position > $1 AND position <= $2 ORDER BY position",
        )
        .bind(after as i64)
        .bind(last as i64)
        .fetch_all(lease.connection())
        .await;
        lease.give_back(&hashes);
        let mut hashes = hashes?.into_iter().peekable();
        events
            .into_iter()
            .map(|logged| {
                // Both are in position order: a position without a row here has no hash.
                while hashes
                    .next_if(|(position, _)| (*position as u64) < logged.position)
                    .is_some()
                {}
                let hash = match hashes.next_if(|(position, _)| *position as u64 == logged.position) {
                    Some((_, bytes)) => Some(EventHash::from_slice(&bytes).ok_or_else(|| {
                        StorageError::corrupt(format!("position {}", logged.position), "hash is not 32 bytes")
                    })?),
                    None => None,
                };
                Ok(ChainedEvent {
                    position: logged.position,
                    event: logged.event,
                    hash,
                })
            })
            .collect()
    }

    /// The newest segment's last position and its recorded hash (`None` for an empty log).
    pub async fn chain_head(&self) -> Result<Option<(u64, Option<EventHash>)>, StorageError> {
        let head: Option<(i64, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT s.last_position, h.hash FROM log_segments s LEFT JOIN event_hashes h ON h.position = s.last_position \
             ORDER BY s.first_position DESC LIMIT 1",
        )
        .fetch_optional(&self.inner.pool)
        .await?;
        head.map(|(position, hash)| {
            let hash = hash
                .map(|bytes| {
                    EventHash::from_slice(&bytes)
                        .ok_or_else(|| StorageError::corrupt(format!("position {position}"), "hash is not 32 bytes"))
                })
                .transpose()?;
            Ok((position as u64, hash))
        })
        .transpose()
    }

    async fn read_log(&self, after: u64, limit: usize, upcasters: &Upcasters) -> Result<Vec<LogEvent>, StorageError> {
        let Some(mut cursor) = self.cursor_at(after).await? else {
            return Ok(Vec::new());
        };
        // Everything up to the newest segment's bound is numbered; the log
        // order is (tx, seq), so one ordered index scan reads a page.
        let mut lease = self.inner.hot.lease().await?;
        let mut rows = sqlx::query(
            "SELECT e.tx, e.event_id, e.event_type, e.schema_version, e.streams, e.recorded_at, \
                    e.correlation_id, e.causation_id, e.data, e.seq, e.actor \
             FROM events e \
             WHERE e.home AND (e.tx, e.seq) > ($1, $2) \
               AND (e.tx, e.seq) <= (SELECT s.last_tx, s.last_seq FROM log_segments s ORDER BY s.first_position DESC LIMIT 1) \
             ORDER BY e.tx, e.seq LIMIT $3",
        )
        .bind(cursor.tx)
        .bind(cursor.seq)
        .bind(limit as i64)
        .fetch(lease.connection());
        // Rows are decoded as they arrive: the server scans while this decodes.
        let mut events = Vec::with_capacity(limit.min(PAGE_CAPACITY));
        while let Some(row) = rows.try_next().await? {
            cursor = LogCursor {
                position: cursor.position + 1,
                tx: row.try_get(0)?,
                seq: row.try_get(9)?,
            };
            events.push(LogEvent {
                position: cursor.position,
                event: decode_with(&row, upcasters)?,
            });
        }
        drop(rows);
        lease.give_back_if(true);
        self.inner
            .last_reads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remember(cursor);
        Ok(events)
    }

    /// Where the event at `position` stands in the log order; `None` beyond the head.
    async fn cursor_at(&self, position: u64) -> Result<Option<LogCursor>, StorageError> {
        if position == 0 {
            return Ok(Some(LogCursor {
                position: 0,
                tx: 0,
                seq: 0,
            }));
        }
        let remembered = self
            .inner
            .last_reads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .at(position);
        if let Some(cursor) = remembered {
            return Ok(Some(cursor));
        }
        let segment: Option<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT first_position, last_position, first_tx, first_seq FROM log_segments \
             WHERE first_position <= $1 ORDER BY first_position DESC LIMIT 1",
        )
        .bind(position as i64)
        .fetch_optional(&self.inner.pool)
        .await?;
        let Some((first, last, first_tx, first_seq)) = segment else {
            return Ok(None);
        };
        if (last as u64) < position {
            return Ok(None);
        }
        // Within a segment the events never change, so the n-th one is stable.
        let (tx, seq): (i64, i64) = sqlx::query_as(
            "SELECT tx, seq FROM events WHERE home AND (tx, seq) >= ($1, $2) ORDER BY tx, seq OFFSET $3 LIMIT 1",
        )
        .bind(first_tx)
        .bind(first_seq)
        .bind(position as i64 - first)
        .fetch_one(&self.inner.pool)
        .await?;
        Ok(Some(LogCursor { position, tx, seq }))
    }

    /// The position of the last event readers can see.
    pub async fn head(&self) -> Result<u64, StorageError> {
        let head: Option<i64> =
            sqlx::query_scalar("SELECT last_position FROM log_segments ORDER BY first_position DESC LIMIT 1")
                .fetch_optional(&self.inner.pool)
                .await?;
        Ok(head.unwrap_or(0) as u64)
    }

    /// Numbers every event that can be numbered now; returns the new head.
    pub async fn sequence_now(&self) -> Result<u64, StorageError> {
        loop {
            let mut lease = self.inner.hot.lease().await?;
            let swept = self.sweep(lease.connection()).await;
            // A failed sweep may have left its transaction open: never reuse that connection.
            lease.give_back_if(swept.is_ok());
            let (sequenced, head, tip) = swept?;
            *self
                .inner
                .chain_tip
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(tip);
            self.inner.head.send_if_modified(|current| {
                let changed = head as u64 > *current;
                if changed {
                    *current = head as u64;
                }
                changed
            });
            if sequenced < SEQUENCER_BATCH as i64 && tip.position >= head as u64 {
                return Ok(head as u64);
            }
        }
    }

    /// One sweep, in one transaction: numbers the next segment
    /// (`sequence_events`, whose advisory lock is held to the commit) and
    /// hashes what it numbered, so a position and its hash become visible
    /// together and one sweep at a time extends the chain. Returns how many
    /// events it numbered, the head, and the chain's new tip.
    async fn sweep(&self, connection: &mut PgConnection) -> Result<(i64, i64, ChainTip), StorageError> {
        use sqlx::Connection;
        let mut tx = connection.begin().await?;
        let (sequenced, head) = sqlx::query_as::<_, (i64, i64)>("SELECT sequenced, head FROM sequence_events($1)")
            .bind(SEQUENCER_BATCH)
            .fetch_one(&mut *tx)
            .await?;
        let cached = *self
            .inner
            .chain_tip
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tip = extend_chain(&mut tx, cached, head as u64, sequenced as u64).await?;
        tx.commit().await?;
        Ok((sequenced, head, tip))
    }

    /// Waits until every event committed before this call is numbered and
    /// readable by `read_all`; returns the head. The watermark holds events back
    /// while older transactions run (on any database of the cluster), so this
    /// may take as long as the longest such transaction.
    ///
    /// Gives up with [`StorageError::HeldBack`] after [`CATCH_UP_DEADLINE`]:
    /// a reader is better told the log is held back than left waiting.
    pub async fn catch_up(&self) -> Result<u64, StorageError> {
        // The sequence's last value, not `max(seq)` over the table: that was
        // a scan of every row (0.7 s on a year's log) on every catch-up.
        // Every committed event has a seq at or below it; uncommitted ones
        // the check below cannot see, so they hold nothing back.
        let (newest, any): (i64, bool) = sqlx::query_as("SELECT last_value, is_called FROM events_seq")
            .fetch_one(&self.inner.pool)
            .await?;
        if !any {
            return self.sequence_now().await;
        }
        let started = tokio::time::Instant::now();
        loop {
            self.sequence_now().await?;
            // The head is read with the check: another sweep (the background
            // sequencer, another process) may have numbered what this one
            // could not yet, and the head this sweep saw would then stop short
            // of events the check finds numbered.
            // The first unnumbered event, in log order, with `LIMIT 1`: the
            // planner walks the log-order index from the newest segment on
            // (microseconds). Written as `EXISTS` or with the bound as one
            // record value, the cached generic plan scanned the whole table
            // (0.5–1 s on a year's log, on every read-your-writes request).
            let (waiting, head): (bool, i64) = sqlx::query_as(
                "WITH newest AS (SELECT s.last_tx, s.last_seq, s.last_position FROM log_segments s \
                                 ORDER BY s.first_position DESC LIMIT 1) \
                 SELECT (SELECT e.seq FROM events e WHERE e.home AND e.seq <= $1 \
                           AND (e.tx, e.seq) > (coalesce((SELECT n.last_tx FROM newest n), 0::bigint), \
                                                coalesce((SELECT n.last_seq FROM newest n), 0::bigint)) \
                           ORDER BY e.tx, e.seq LIMIT 1) IS NOT NULL, \
                        coalesce((SELECT n.last_position FROM newest n), 0)",
            )
            .bind(newest)
            .fetch_one(&self.inner.pool)
            .await?;
            if !waiting {
                return Ok(head as u64);
            }
            if started.elapsed() >= CATCH_UP_DEADLINE {
                return Err(StorageError::HeldBack(CATCH_UP_DEADLINE));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// A receiver that changes whenever the visible head of the log may have
    /// moved (local sequencing or a NOTIFY from another process).
    pub fn head_changes(&self) -> watch::Receiver<u64> {
        self.inner.listening.call_once(|| self.spawn_listener());
        self.inner.head.subscribe()
    }

    fn spawn_sequencer(&self, poll: Duration, min_gap: Duration) {
        let store = Arc::downgrade(&self.inner);
        let wake = self.inner.sequencer_wake.clone();
        let task = tokio::spawn(async move {
            // Only a busy log waits out the gap: when the last sweep numbered
            // a batch, the next gathers one; when it found little or nothing
            // (an idle poll, a lone commit), the next commit is numbered at once.
            let mut last_sweep = tokio::time::Instant::now();
            let mut last_batch = 0;
            let mut head = 0;
            loop {
                let _ = tokio::time::timeout(poll, wake.notified()).await;
                if last_batch >= BUSY_SWEEP {
                    tokio::time::sleep_until(last_sweep + min_gap).await;
                }
                last_sweep = tokio::time::Instant::now();
                let Some(inner) = store.upgrade() else { return };
                let store = PgEventStore { inner };
                match store.sequence_now().await {
                    Ok(now) => {
                        last_batch = now.saturating_sub(head);
                        head = head.max(now);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "sequencing the event log failed; retrying");
                        tokio::time::sleep(poll).await;
                    }
                }
            }
        });
        self.track(task);
    }

    fn spawn_listener(&self) {
        let store = Arc::downgrade(&self.inner);
        let pool = self.inner.pool.clone();
        let task = tokio::spawn(async move {
            loop {
                let listener = async {
                    let mut listener = PgListener::connect_with(&pool).await?;
                    listener.listen(LOG_CHANNEL).await?;
                    loop {
                        let notification = listener.recv().await?;
                        let Ok(head) = notification.payload().parse::<u64>() else {
                            continue;
                        };
                        let Some(inner) = store.upgrade() else {
                            return Ok::<(), sqlx::Error>(());
                        };
                        inner.head.send_if_modified(|current| {
                            let changed = head > *current;
                            if changed {
                                *current = head;
                            }
                            changed
                        });
                    }
                };
                match listener.await {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(%error, "listening for log notifications failed; reconnecting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        self.track(task);
    }

    fn track(&self, task: JoinHandle<()>) {
        if let Ok(mut tasks) = self.inner.tasks.lock() {
            tasks.push(task);
        }
    }

    fn decode(&self, row: &sqlx::postgres::PgRow) -> Result<StoredEvent, StorageError> {
        decode_with(row, &self.inner.upcasters)
    }

    pub(crate) fn hot_connections(&self) -> Arc<HotConnections> {
        self.inner.hot.clone()
    }

    pub(crate) fn vault_pool(&self) -> PgPool {
        self.inner.pool.clone()
    }
}

/// The event in columns 1–8 and `actor` of `row`, upcast by `upcasters`.
fn decode_with(row: &sqlx::postgres::PgRow, upcasters: &Upcasters) -> Result<StoredEvent, StorageError> {
    let event_id = Ulid::from(row.try_get::<Uuid, _>(1)?);
    let event_type: String = row.try_get(2)?;
    let schema_version = row.try_get::<i32, _>(3)? as u32;
    let data = EventData::from_stored(json_text(row, 8)?);
    let (schema_version, data) = upcasters.upcast(&event_type, schema_version, data)?;
    Ok(StoredEvent {
        event_id,
        event_type,
        schema_version,
        streams: row.try_get(4)?,
        recorded_at: row.try_get::<DateTime<Utc>, _>(5)?,
        correlation_id: row.try_get::<Option<Uuid>, _>(6)?.map(Ulid::from),
        causation_id: row.try_get::<Option<Uuid>, _>(7)?.map(Ulid::from),
        actor: row.try_get("actor")?,
        data,
    })
}

/// Inside a sweep's transaction (sequencer lock held): hashes the numbered
/// events after the chain's tip, at most `CHAIN_BATCH`, and records their
/// hashes; returns the new tip. `cached` (this process's last tip) is the
/// predecessor when the sweep's segment follows it directly; otherwise
/// (another process numbered since, or a log from before the chain) the tip
/// is read from `event_hashes`.
async fn extend_chain(
    tx: &mut PgConnection,
    cached: Option<ChainTip>,
    head: u64,
    sequenced: u64,
) -> Result<ChainTip, StorageError> {
    let mut tip = match cached {
        Some(tip) if tip.position == head - sequenced => tip,
        _ => recorded_chain_tip(tx).await?,
    };
    if tip.position >= head {
        return Ok(tip);
    }
    let next = tip.position + 1;
    // Where position `next` stands in the log order: its segment's first
    // event, and how many events of the segment come before it.
    let (first_position, first_tx, first_seq): (i64, i64, i64) = sqlx::query_as(
        "SELECT first_position, first_tx, first_seq FROM log_segments \
         WHERE first_position <= $1 ORDER BY first_position DESC LIMIT 1",
    )
    .bind(next as i64)
    .fetch_one(&mut *tx)
    .await?;
    let count = (head - tip.position).min(CHAIN_BATCH);
    let rows = sqlx::query(
        "SELECT e.tx, e.event_id, e.event_type, e.schema_version, e.streams, e.recorded_at, \
                e.correlation_id, e.causation_id, e.data, e.seq, e.actor \
         FROM events e \
         WHERE e.home AND (e.tx, e.seq) >= ($1, $2) \
           AND (e.tx, e.seq) <= (SELECT s.last_tx, s.last_seq FROM log_segments s ORDER BY s.first_position DESC LIMIT 1) \
         ORDER BY e.tx, e.seq OFFSET $3 LIMIT $4",
    )
    .bind(first_tx)
    .bind(first_seq)
    .bind(next as i64 - first_position)
    .bind(count as i64)
    .fetch_all(&mut *tx)
    .await?;
    if rows.len() as u64 != count {
        return Err(StorageError::corrupt(
            format!("positions {next}..={}", tip.position + count),
            format!("the log holds {} events where {count} are numbered", rows.len()),
        ));
    }
    let as_stored = Upcasters::new();
    let mut positions = Vec::with_capacity(rows.len());
    let mut hashes = Vec::with_capacity(rows.len());
    for row in &rows {
        let event = decode_with(row, &as_stored)?;
        let position = tip.position + 1;
        tip = ChainTip {
            position,
            hash: hash_event(&tip.hash, position, &ChainFields::of_stored(&event)),
        };
        positions.push(position as i64);
        hashes.push(tip.hash.as_bytes().to_vec());
    }
    sqlx::query("INSERT INTO event_hashes (position, hash) SELECT * FROM unnest($1::int8[], $2::bytea[])")
        .bind(positions)
        .bind(hashes)
        .execute(&mut *tx)
        .await?;
    Ok(tip)
}

/// The last recorded hash ([`ChainTip::EMPTY`] when none is).
async fn recorded_chain_tip(tx: &mut PgConnection) -> Result<ChainTip, StorageError> {
    let tip: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT position, hash FROM event_hashes ORDER BY position DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    match tip {
        None => Ok(ChainTip::EMPTY),
        Some((position, bytes)) => Ok(ChainTip {
            position: position as u64,
            hash: EventHash::from_slice(&bytes)
                .ok_or_else(|| StorageError::corrupt(format!("position {position}"), "hash is not 32 bytes"))?,
        }),
    }
}

/// The one-event append (`sql/pg_append_one.sql`); `None` when a condition failed.
async fn call_append_one(
    connection: &mut PgConnection,
    event: &NewEvent,
    conditions: &[Condition],
) -> Result<Option<Vec<(String, u64)>>, AppendFailure> {
    let expected: Vec<i64> = event
        .streams
        .iter()
        .map(|stream| {
            conditions
                .iter()
                .find(|c| &c.stream == stream)
                .map_or(-1, |c| c.expected.as_number() as i64)
        })
        .collect();
    let rows = if let [stream] = event.streams.as_slice() {
        bind_event(sqlx::query(include_str!("sql/pg_append_single.sql")), event)
            .bind(stream)
            .bind(expected[0])
            .bind(event.actor.as_deref())
            .fetch_all(&mut *connection)
            .await
    } else {
        let mut sorted: Vec<&str> = event.streams.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        bind_event(sqlx::query(include_str!("sql/pg_append_one.sql")), event)
            .bind(&event.streams)
            .bind(&expected)
            .bind(sorted)
            .bind(event.actor.as_deref())
            .fetch_all(&mut *connection)
            .await
    }
    .map_err(AppendFailure::from_sqlx)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut versions = rows
        .iter()
        .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)? as u64)))
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(|e| AppendFailure::Storage(e.into()))?;
    versions.sort();
    Ok(Some(versions))
}

/// The stream of a batch whose events all belong to that one stream only.
fn one_stream(events: &[NewEvent]) -> Option<&str> {
    let [stream] = events.first()?.streams.as_slice() else {
        return None;
    };
    events
        .iter()
        .all(|event| event.streams.len() == 1 && &event.streams[0] == stream)
        .then_some(stream.as_str())
}

/// A batch into one stream (`sql/pg_append_stream.sql`); `None` when the condition failed.
async fn call_append_stream(
    connection: &mut PgConnection,
    events: &[NewEvent],
    stream: &str,
    conditions: &[Condition],
) -> Result<Option<Vec<(String, u64)>>, AppendFailure> {
    let expected = conditions.first().map_or(-1, |c| c.expected.as_number() as i64);
    let rows = bind_event_columns(sqlx::query(include_str!("sql/pg_append_stream.sql")), events)
        .bind(stream)
        .bind(expected)
        .bind(actors(events))
        .fetch_all(connection)
        .await
        .map_err(AppendFailure::from_sqlx)?;
    let mut last = None;
    for row in &rows {
        let version: i64 = row.try_get(0).map_err(|e| AppendFailure::Storage(e.into()))?;
        last = last.max(Some(version as u64));
    }
    Ok(last.map(|last| vec![(stream.to_owned(), last)]))
}

/// Binds $1..$7 of the one-event statements: id, type, schema version,
/// recorded at, correlation, causation, data.
fn bind_event<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    event: &'q NewEvent,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(Uuid::from(event.event_id))
        .bind(&event.event_type)
        .bind(event.schema_version as i32)
        .bind(event.recorded_at)
        .bind(event.correlation_id.map(Uuid::from))
        .bind(event.causation_id.map(Uuid::from))
        .bind(event.data.to_string())
}

/// Binds $1..$7 of the batch statements: per event, as arrays, id, type,
/// schema version, recorded at, correlation, causation, data.
fn bind_event_columns<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    events: &[NewEvent],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(events.iter().map(|e| Uuid::from(e.event_id)).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.event_type.clone()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.schema_version as i32).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.recorded_at).collect::<Vec<_>>())
        .bind(
            events
                .iter()
                .map(|e| e.correlation_id.map(Uuid::from))
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.causation_id.map(Uuid::from))
                .collect::<Vec<_>>(),
        )
        .bind(events.iter().map(|e| e.data.to_string()).collect::<Vec<_>>())
}

/// One append statement (`sql/pg_append.sql`) on `executor`: a connection, or a
/// connection with a transaction held open by a test.
pub(crate) async fn call_append_events<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    events: &[NewEvent],
    conditions: &[Condition],
) -> Result<Vec<(String, u64)>, AppendFailure> {
    let mut link_events = Vec::new();
    let mut link_streams = Vec::new();
    for (index, event) in events.iter().enumerate() {
        for stream in &event.streams {
            link_events.push(index as i32 + 1);
            link_streams.push(stream.as_str());
        }
    }
    let rows = bind_event_columns(sqlx::query(include_str!("sql/pg_append.sql")), events)
        .bind(link_events)
        .bind(link_streams)
        .bind(conditions.iter().map(|c| c.stream.as_str()).collect::<Vec<_>>())
        .bind(
            conditions
                .iter()
                .map(|c| c.expected.as_number() as i64)
                .collect::<Vec<_>>(),
        )
        .bind(actors(events))
        .fetch_all(executor)
        .await
        .map_err(AppendFailure::from_sqlx)?;
    let mut versions = Vec::with_capacity(rows.len());
    for row in rows {
        let read = |row: &sqlx::postgres::PgRow| -> Result<(bool, String, i64, Option<i64>), sqlx::Error> {
            Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?))
        };
        let (conflict, stream, version, expected) = read(&row).map_err(|e| AppendFailure::Storage(e.into()))?;
        if conflict {
            return Err(AppendFailure::Conflict(Conflict {
                stream,
                expected: expected.unwrap_or_default() as u64,
                actual: version as u64,
            }));
        }
        versions.push((stream, version as u64));
    }
    versions.sort();
    Ok(versions)
}

/// Per event, its actor (the batch statements' last parameter).
fn actors(events: &[NewEvent]) -> Vec<Option<&str>> {
    events.iter().map(|e| e.actor.as_deref()).collect()
}

/// The text of a `json` column without parsing it (in the binary protocol
/// `json` is the text itself).
fn json_text(row: &sqlx::postgres::PgRow, index: usize) -> Result<String, StorageError> {
    use sqlx::ValueRef;
    let raw = row.try_get_raw(index)?;
    let corrupt = |reason: &str| StorageError::corrupt(format!("column {index}"), reason);
    if raw.is_null() {
        return Err(corrupt("data is null"));
    }
    let bytes = raw.as_bytes().map_err(|e| corrupt(&e.to_string()))?;
    String::from_utf8(bytes.to_vec()).map_err(|e| corrupt(&e.to_string()))
}

pub(crate) enum AppendFailure {
    Conflict(Conflict),
    StreamRace,
    DuplicateEventId,
    Storage(StorageError),
}

impl AppendFailure {
    /// Whether the connection the failed statement ran on can run another.
    fn leaves_connection_sound(&self) -> bool {
        match self {
            AppendFailure::Conflict(_) | AppendFailure::StreamRace | AppendFailure::DuplicateEventId => true,
            AppendFailure::Storage(StorageError::Database(error)) => leaves_connection_sound(error),
            AppendFailure::Storage(_) => false,
        }
    }

    /// The caller-facing error when no earlier identical append explains the failure.
    pub(crate) fn into_append_error(self) -> AppendError {
        match self {
            AppendFailure::Conflict(conflict) => conflict.into(),
            AppendFailure::StreamRace => StorageError::Contended(format!(
                "other appends kept taking the next version of a stream this append has no condition on for {} s",
                UNCONDITIONED_RACE_BUDGET.as_secs()
            ))
            .into(),
            AppendFailure::DuplicateEventId => {
                AppendError::Invalid("some but not all event ids of the batch are already in the log".into())
            }
            AppendFailure::Storage(error) => error.into(),
        }
    }

    fn from_sqlx(error: sqlx::Error) -> Self {
        let Some(db) = error.as_database_error() else {
            return AppendFailure::Storage(error.into());
        };
        let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() else {
            return AppendFailure::Storage(error.into());
        };
        match (pg.code(), pg.constraint()) {
            ("23505", Some("events_pkey")) => AppendFailure::StreamRace,
            ("23505", Some("events_event_id_unique")) => AppendFailure::DuplicateEventId,
            _ => AppendFailure::Storage(error.into()),
        }
    }
}
