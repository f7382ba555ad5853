//! The Terminagent event log.
//!
//! One contract ([`EventStore`]) over two backends: Postgres (production) and
//! SQLite (the embedded default). What every backend guarantees, and what the
//! conformance suite in `tests/` checks on both:
//!
//! - an append is atomic; each condition (stream at an expected version) holds
//!   or nothing is written and a typed [`Conflict`] comes back; appends contend
//!   only when they touch the same stream;
//! - a retried append (same event ids) is not stored twice;
//! - reading the whole log after a position never skips an event, even when
//!   writers commit out of order; positions are dense (1, 2, 3, …);
//! - old event shapes are upcast on read ([`Upcasters`]);
//! - personal data lives in sealed envelopes whose keys live outside the log
//!   ([`PersonalDataVault`]): erasing a key erases the data, not the events;
//! - every event's hash chains it to its predecessor ([`chain`]), recorded
//!   as the log is numbered, so a rewritten log no longer matches a published
//!   head hash.

pub mod chain;
mod credentials;
mod model;
mod pg_connections;
mod postgres;
mod presence;
mod progress;
mod side;
mod sqlite;
mod store;
mod subscription;
mod transfer;
mod upcast;
mod vault;

#[cfg(feature = "testing")]
pub mod testing;

pub use chain::{ChainTip, EventHash};
pub use credentials::{StaffCredentials, StaffSession};
pub use model::{
    AppendError, AppendOutcome, ChainedEvent, Condition, Conflict, EventData, ExpectedVersion, LogEvent,
    MAX_STREAM_NAME_LEN, NewEvent, StorageError, StoredEvent, StreamEvent,
};
pub use postgres::{PgEventStore, PgStoreOptions};
pub use presence::{DevicePresence, DevicePresences};
pub use progress::{ConsumerProgress, MailClaim, Snapshot, SnapshotInfo};
pub use sqlite::SqliteEventStore;
pub use store::{Backend, Durability, EventStore, StoreOptions};
pub use subscription::Subscription;
pub use transfer::{SideTablesCopied, copy_side_tables};
pub use upcast::{UpcastFn, Upcasters};
pub use vault::{INDEX_SECRET, Opened, PersonalDataVault, SealedEnvelope, VaultError, email_hash, keyed_index};
