//! One contract over both backends. Callers hold an [`EventStore`] and never
//! care which database is behind it.

use std::time::Duration;

use tokio::sync::watch;

use crate::chain::ChainTip;
use crate::model::{
    AppendError, AppendOutcome, ChainedEvent, Condition, LogEvent, NewEvent, StorageError, StoredEvent, StreamEvent,
};
use crate::postgres::{PgEventStore, PgStoreOptions};
use crate::progress::ConsumerProgress;
use crate::side::SidePool;
use crate::sqlite::SqliteEventStore;
use crate::subscription::Subscription;
use crate::upcast::Upcasters;
use crate::vault::PersonalDataVault;

/// Settings that apply to whichever backend the URL names.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    pub postgres: PgStoreOptions,
    pub upcasters: Upcasters,
    pub durability: Durability,
}

/// Whether a commit waits until it is on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// An acknowledged append survives a crash or power loss (invariant 2).
    #[default]
    Flushed,
    /// Commits return before the flush (Postgres `synchronous_commit=off`,
    /// SQLite `synchronous=NORMAL`): a crash may lose the last commits, never
    /// order or consistency. Only for throwaway databases, such as a
    /// simulation's, which need no crash safety.
    Unflushed,
}

#[derive(Clone, Debug)]
pub enum EventStore {
    Postgres(PgEventStore),
    Sqlite(SqliteEventStore),
}

/// Which backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Backend, StorageError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            Err(StorageError::UnsupportedUrl(url.to_owned()))
        }
    }
}

/// Positions are stored as i64: nothing lies after `i64::MAX`, and the
/// backends' conversion must never wrap a larger `after` round to the log's
/// start. Both whole-log reads ask this first.
fn beyond_every_position(after: u64) -> bool {
    after >= i64::MAX as u64
}

macro_rules! on_backend {
    ($store:expr, $backend:ident => $body:expr) => {
        match $store {
            EventStore::Postgres($backend) => $body,
            EventStore::Sqlite($backend) => $body,
        }
    };
}

impl EventStore {
    /// Connects to `sqlite://PATH` (created if missing) or `postgres://…`.
    /// Does not migrate; call [`EventStore::migrate`].
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StorageError> {
        Ok(match Backend::of_url(url)? {
            Backend::Postgres => EventStore::Postgres(
                PgEventStore::connect(url, options.postgres, options.upcasters, options.durability).await?,
            ),
            Backend::Sqlite => {
                EventStore::Sqlite(SqliteEventStore::connect(url, options.upcasters, options.durability).await?)
            }
        })
    }

    pub fn backend(&self) -> Backend {
        match self {
            EventStore::Postgres(_) => Backend::Postgres,
            EventStore::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Applies the backend's migrations (idempotent).
    pub async fn migrate(&self) -> Result<(), StorageError> {
        on_backend!(self, store => store.migrate().await)
    }

    pub async fn ping(&self) -> Result<(), StorageError> {
        on_backend!(self, store => store.ping().await)
    }

    /// Appends the batch atomically: all events or none. Each condition names a
    /// stream of the batch and the version it must be at; a failed condition
    /// yields [`AppendError::Conflict`]. Appending a batch whose events are
    /// already stored (a retry) stores nothing and reports `already_appended`.
    pub async fn append(&self, events: &[NewEvent], conditions: &[Condition]) -> Result<AppendOutcome, AppendError> {
        on_backend!(self, store => store.append(events, conditions).await)
    }

    /// The version of a stream's last event; 0 for a stream without events.
    pub async fn stream_version(&self, stream: &str) -> Result<u64, StorageError> {
        on_backend!(self, store => store.stream_version(stream).await)
    }

    /// The events of one stream with a version above `after_version`, in version order.
    pub async fn read_stream(&self, stream: &str, after_version: u64) -> Result<Vec<StreamEvent>, StorageError> {
        on_backend!(self, store => store.read_stream(stream, after_version).await)
    }

    /// Several streams at once, each after its own version: what
    /// [`EventStore::read_stream`] gives for each, in the order asked, in one
    /// round trip.
    pub async fn read_streams(&self, reads: &[(&str, u64)]) -> Result<Vec<Vec<StreamEvent>>, StorageError> {
        on_backend!(self, store => store.read_streams(reads).await)
    }

    /// Up to `limit` events of the whole log after `after`, in log order, never
    /// skipping one: what is returned is a gap-free prefix of what is not yet read.
    pub async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<LogEvent>, StorageError> {
        if beyond_every_position(after) {
            return Ok(Vec::new());
        }
        on_backend!(self, store => store.read_all(after, limit).await)
    }

    /// Up to `limit` events of the whole log after `after`, in log order, as
    /// stored (not upcast: what the hash chain covers) and each with the hash
    /// recorded for its position. For `audit verify`: on SQLite positions are
    /// the stored ones (a removed row leaves a gap); on Postgres they are
    /// counted along the log order, as [`EventStore::read_all`] does.
    pub async fn read_chain(&self, after: u64, limit: usize) -> Result<Vec<ChainedEvent>, StorageError> {
        if beyond_every_position(after) {
            return Ok(Vec::new());
        }
        on_backend!(self, store => store.read_chain(after, limit).await)
    }

    /// The head of the hash chain: the last readable event's position and
    /// recorded hash ([`ChainTip::EMPTY`] for an empty log), the value an
    /// operator publishes to prove later that the log up to it is unchanged.
    pub async fn chain_head(&self) -> Result<ChainTip, StorageError> {
        self.catch_up().await?;
        let head = on_backend!(self, store => store.chain_head().await)?;
        match head {
            None => Ok(ChainTip::EMPTY),
            Some((position, Some(hash))) => Ok(ChainTip { position, hash }),
            Some((position, None)) => Err(StorageError::corrupt(
                format!("position {position}"),
                "the log's last event has no hash (migrate the database)",
            )),
        }
    }

    /// An event read by [`EventStore::read_chain`] in the shape
    /// [`EventStore::read_all`] would give it (the store's upcasters applied).
    pub fn upcast(&self, event: StoredEvent) -> Result<StoredEvent, StorageError> {
        let upcasters = on_backend!(self, store => store.upcasters());
        let (schema_version, data) = upcasters.upcast(&event.event_type, event.schema_version, event.data)?;
        Ok(StoredEvent {
            schema_version,
            data,
            ..event
        })
    }

    /// The position of the last readable event (0 for an empty log).
    pub async fn head(&self) -> Result<u64, StorageError> {
        on_backend!(self, store => store.head().await)
    }

    /// Waits until every event committed before the call is readable by
    /// `read_all`; returns the head. On SQLite appends are readable at once;
    /// on Postgres this runs the sequencer until it has numbered them.
    pub async fn catch_up(&self) -> Result<u64, StorageError> {
        match self {
            EventStore::Postgres(store) => store.catch_up().await,
            EventStore::Sqlite(store) => store.head().await,
        }
    }

    /// Makes readable what can be made readable now, without waiting for
    /// transactions still running; returns the head.
    pub async fn sequence_ready(&self) -> Result<u64, StorageError> {
        match self {
            EventStore::Postgres(store) => store.sequence_now().await,
            EventStore::Sqlite(store) => store.head().await,
        }
    }

    pub(crate) fn head_changes(&self) -> watch::Receiver<u64> {
        on_backend!(self, store => store.head_changes())
    }

    /// Follows the log from `after`: first everything already there, then new
    /// events as they become readable.
    pub fn subscribe(&self, after: u64) -> Subscription {
        Subscription::new(self.clone(), after, Duration::from_millis(500))
    }

    pub fn vault(&self) -> PersonalDataVault {
        PersonalDataVault::new(self.side_pool())
    }

    /// Checkpoints of the log's consumers and the ledger of sent mails.
    pub fn progress(&self) -> ConsumerProgress {
        ConsumerProgress::new(self.side_pool())
    }

    /// Staff passwords and page sessions.
    pub fn staff_credentials(&self) -> crate::credentials::StaffCredentials {
        crate::credentials::StaffCredentials::new(self.side_pool())
    }

    /// When each call display last held its stream open.
    pub fn device_presences(&self) -> crate::presence::DevicePresences {
        crate::presence::DevicePresences::new(self.side_pool())
    }

    pub(crate) fn side_pool(&self) -> SidePool {
        match self {
            EventStore::Postgres(store) => SidePool::Postgres {
                pool: store.vault_pool(),
                hot: store.hot_connections(),
            },
            EventStore::Sqlite(store) => SidePool::Sqlite(store.vault_pool()),
        }
    }

    /// Closes the connections (waits for running queries); SQLite's log
    /// readers close when the last handle of the store is dropped.
    pub async fn close(&self) {
        match self {
            EventStore::Postgres(store) => store.pool().close().await,
            EventStore::Sqlite(store) => store.close().await,
        }
    }
}
