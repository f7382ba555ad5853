//! The audit's index for tracing proposals: snapshots of the trace's own
//! fold (the why-queue of `why.rs` and the offices' time zones) at log
//! positions, so that `audit trace` of a proposal folds only the log after
//! the newest snapshot before it instead of the whole log (issue 15:
//! < 100 ms in a log of 1,000,000 events).
//!
//! The snapshots are the audit's fold of the log — the same code the trace
//! runs, not the matcher's state — so the audit still checks the engine
//! instead of repeating it; `audit verify` does not read them. They live in
//! `consumer_snapshots` under `audit-why/{FORMAT_VERSION}/…`:
//! - `recent/{slot}`: one per [`EVERY_EVENTS`] positions, [`SLOTS`] in
//!   turn, for the proposals of the last few thousand events;
//! - `milestone/{n}`: one per [`MILESTONE_EVENTS`] positions, kept, so any
//!   proposal's trace folds at most that many events.
//!
//! Each is saved compacted ([`Queue::compact`]: wishes over before every
//! waiting wish joined are only counted), so its size follows the waiting
//! wishes, not the log's history. A snapshot of another format (older code)
//! is never read; without a usable snapshot the trace folds the whole log.
//!
//! Which snapshot may start the trace of proposal X: one whose log time
//! (`taken_at`: the newest `recorded_at` folded) is before X's id's time —
//! the matcher makes the id, then decides and records at that time or later,
//! so X's `proposal.made` follows every event of such a snapshot. The trace
//! checks this as it folds: if it does not meet X's `proposal.made` after
//! the snapshot, it folds the whole log instead (trace.rs), so a clock that
//! stepped back costs time, never a wrong answer.
//!
//! [`WhyIndexer`] keeps the snapshots: `terminagent serve` runs it beside
//! the matcher (the roles `all` and `matcher`), `terminagent audit index`
//! brings them up to the head by hand.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terminagent_domain::ProposalId;
use terminagent_eventstore::{EventStore, LogEvent, Snapshot, SnapshotInfo, StorageError};

use super::events::{decode, folded};
use super::sentences::Zones;
use super::why::Queue;

/// The version of the snapshots' shape and of the fold that made them: bump
/// it when `why::Queue`, `sentences::Zones`, [`WhyFold`] or what they fold
/// changes, and the snapshots of older code are left unread.
const FORMAT_VERSION: u32 = 2;
/// Names the encoding in the snapshots' `format` column.
pub const FORMAT: &str = "audit-why/postcard/2";
/// A recent snapshot is taken once per this many positions.
pub const EVERY_EVENTS: u64 = 2_000;
/// How many recent snapshots are kept, newest first (older ones are overwritten).
pub const SLOTS: u64 = 4;
/// A milestone snapshot, kept, is taken once per this many positions.
pub const MILESTONE_EVENTS: u64 = 50_000;
/// Events read per page while catching up.
const PAGE: usize = 1000;

/// What every snapshot of this format is named under.
fn prefix() -> String {
    format!("audit-why/{FORMAT_VERSION}/")
}

/// The name (in `consumer_snapshots`) of recent snapshot slot `slot` (0..[`SLOTS`]).
pub fn slot_name(slot: u64) -> String {
    format!("{}recent/{slot}", prefix())
}

/// The name of the milestone snapshot of bucket `bucket` (position ÷ [`MILESTONE_EVENTS`]).
fn milestone_name(bucket: u64) -> String {
    format!("{}milestone/{bucket}", prefix())
}

/// The trace's fold as it stands after some position of the log.
#[derive(Default, Clone, Serialize, Deserialize)]
pub(super) struct WhyFold {
    pub(super) queue: Queue,
    pub(super) zones: Zones,
    /// The newest `recorded_at` folded: the log's time at this position.
    log_time: Option<DateTime<Utc>>,
}

impl WhyFold {
    /// Folds one event as the trace's loop does (only the types the fold needs).
    pub(super) fn apply(&mut self, logged: &LogEvent) {
        let recorded_at = logged.event.recorded_at;
        if self.log_time.is_none_or(|time| recorded_at > time) {
            self.log_time = Some(recorded_at);
        }
        let event_type = logged.event.event_type.as_str();
        if !folded(event_type) {
            return;
        }
        // An event that does not decode is left out, as the trace's own loop does.
        if let Ok(Some(known)) = decode(event_type, logged.event.data.as_str()) {
            self.queue.apply(logged.position, &known);
            self.zones.apply(&known);
        }
    }

    fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_stdvec(self)
    }

    fn decode(bytes: &[u8]) -> Result<WhyFold, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

/// Whether the snapshot `info` (a usable one of this format, at or before
/// `head`) holds only events from before `proposal` was made, going by time.
fn before_proposal(info: &SnapshotInfo, proposal: ProposalId, head: u64) -> bool {
    let made_no_earlier = DateTime::<Utc>::from(proposal.as_ulid().datetime());
    info.format == FORMAT && info.position > 0 && info.position <= head && info.taken_at < made_no_earlier
}

/// The newest snapshot at or before `head` that was taken before
/// `proposal` was made: its position and fold. `None`: fold the whole log.
pub(super) async fn start_for(
    store: &EventStore,
    proposal: ProposalId,
    head: u64,
) -> Result<Option<(u64, WhyFold)>, StorageError> {
    let progress = store.progress();
    let candidates = progress.snapshots_under(&prefix()).await?;
    for info in candidates
        .iter()
        .rev()
        .filter(|info| before_proposal(info, proposal, head))
    {
        if let Some(found) = load(store, info).await? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The fold saved as `info`; `None` if it is gone or does not decode.
async fn load(store: &EventStore, info: &SnapshotInfo) -> Result<Option<(u64, WhyFold)>, StorageError> {
    let Some(snapshot) = store.progress().snapshot(&info.consumer).await? else {
        return Ok(None);
    };
    if snapshot.format != FORMAT {
        return Ok(None);
    }
    let position = snapshot.position;
    let name = info.consumer.clone();
    match tokio::task::spawn_blocking(move || WhyFold::decode(&snapshot.data)).await {
        Ok(Ok(fold)) => Ok(Some((position, fold))),
        Ok(Err(error)) => {
            tracing::warn!(%error, snapshot = name, "an audit index snapshot does not decode; skipped");
            Ok(None)
        }
        Err(error) => {
            tracing::warn!(%error, snapshot = name, "decoding an audit index snapshot failed; skipped");
            Ok(None)
        }
    }
}

/// Keeps the audit's index: folds the log as it grows and saves a snapshot
/// once per [`EVERY_EVENTS`] positions (or `every`, for tests), and a
/// milestone once per [`MILESTONE_EVENTS`].
pub struct WhyIndexer {
    fold: WhyFold,
    position: u64,
    saved: u64,
    every: u64,
}

impl WhyIndexer {
    /// The indexer as its newest snapshot left it, or before the first event.
    pub async fn resume(store: &EventStore, every: u64) -> Result<WhyIndexer, StorageError> {
        let candidates = store.progress().snapshots_under(&prefix()).await?;
        let mut newest = None;
        for info in candidates.iter().rev().filter(|info| info.format == FORMAT) {
            if let Some(found) = load(store, info).await? {
                newest = Some(found);
                break;
            }
        }
        let (position, fold) = newest.unwrap_or_default();
        Ok(WhyIndexer {
            fold,
            position,
            saved: position,
            every: every.max(1),
        })
    }

    /// How many wishes the fold holds one by one (after the last save's
    /// compaction, plus those since).
    pub fn wishes_held(&self) -> usize {
        self.fold.queue.wishes_held()
    }

    /// The position folded last.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Folds the log up to its head, saving snapshots as they fall due;
    /// returns the position reached.
    pub async fn advance(&mut self, store: &EventStore) -> Result<u64, StorageError> {
        loop {
            let page = store.read_all(self.position, PAGE).await?;
            if page.is_empty() {
                return Ok(self.position);
            }
            for logged in &page {
                self.apply(logged);
                self.save_if_due(store).await?;
            }
        }
    }

    fn apply(&mut self, logged: &LogEvent) {
        self.fold.apply(logged);
        self.position = logged.position;
    }

    /// Saves a snapshot when the fold has entered a bucket of positions it has none for yet.
    async fn save_if_due(&mut self, store: &EventStore) -> Result<(), StorageError> {
        if self.position / self.every > self.saved / self.every {
            self.save(store).await?;
        }
        Ok(())
    }

    /// Saves the fold as of [`Self::position`] now, compacted, in its
    /// bucket's recent slot, and as a milestone when it is the first save
    /// of a milestone bucket.
    pub async fn save(&mut self, store: &EventStore) -> Result<(), StorageError> {
        if self.position == 0 {
            return Ok(());
        }
        let started = std::time::Instant::now();
        self.fold.queue.compact();
        let data = self.fold.encode().map_err(|error| StorageError::Corrupt {
            at: "audit index snapshot".into(),
            reason: error.to_string(),
        })?;
        let bytes = data.len();
        let snapshot = Snapshot {
            position: self.position,
            format: FORMAT.to_owned(),
            // The log's time here, which chooses the snapshot for a trace.
            taken_at: self.fold.log_time.unwrap_or_default(),
            data,
        };
        let progress = store.progress();
        let slot = (self.position / self.every) % SLOTS;
        progress.save_snapshot(&slot_name(slot), &snapshot).await?;
        let milestone = self.position / MILESTONE_EVENTS;
        if milestone > self.saved / MILESTONE_EVENTS {
            progress.save_snapshot(&milestone_name(milestone), &snapshot).await?;
        }
        self.saved = self.position;
        tracing::debug!(
            position = self.position,
            slot,
            bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "audit index snapshot saved"
        );
        Ok(())
    }

    /// The running system's indexer: follows the log for as long as the
    /// process lives; a failure is logged and retried.
    pub async fn run(store: EventStore) {
        const RETRY: Duration = Duration::from_secs(5);
        let mut indexer = loop {
            match WhyIndexer::resume(&store, EVERY_EVENTS).await {
                Ok(indexer) => break indexer,
                Err(error) => {
                    tracing::warn!(%error, "the audit index cannot resume; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        };
        let mut subscription = store.subscribe(indexer.position);
        loop {
            match subscription.next().await {
                Ok(logged) => {
                    indexer.apply(&logged);
                    if let Err(error) = indexer.save_if_due(&store).await {
                        tracing::warn!(%error, "saving an audit index snapshot failed");
                        // Due again with the next event: try then.
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the audit index cannot read the log; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fold_survives_its_snapshot_encoding() {
        use chrono::Weekday;
        use terminagent_domain::{
            DomainEvent, EnvelopeId, LocalDate, OfficeId, SealedPersonalData, ServiceId, WeeklyWindows, WishEvent,
            WishId, WishRegistered,
        };
        let wish = WishId::from_ulid(ulid::Ulid::from_parts(1, 1));
        let mitte = OfficeId::parse("mitte").unwrap();
        let event = WishEvent::Registered(WishRegistered {
            wish,
            offices: vec![mitte.clone()],
            services: vec![ServiceId::parse("ausweis").unwrap()],
            windows: WeeklyWindows::new([(Weekday::Tue, 9), (Weekday::Tue, 10), (Weekday::Fri, 12)]).unwrap(),
            until: Some(LocalDate::parse("2026-12-24").unwrap()),
            lapses_at: None,
            citizen: SealedPersonalData {
                envelope_id: EnvelopeId::from_ulid(ulid::Ulid::from_parts(1, 3)),
                nonce: String::new(),
                ciphertext: String::new(),
            },
            links: Vec::new(),
            registered_at: "2026-11-20T08:00:00Z".parse().unwrap(),
            confirm_by: None,
        });
        let mut fold = WhyFold::default();
        fold.apply(&LogEvent {
            position: 1,
            event: terminagent_eventstore::StoredEvent {
                event_id: ulid::Ulid::new(),
                event_type: event.event_type().to_owned(),
                schema_version: event.schema_version(),
                streams: vec![format!("wish:{wish}")],
                recorded_at: chrono::Utc::now(),
                correlation_id: None,
                causation_id: None,
                actor: None,
                data: terminagent_eventstore::EventData::from_value(&event.to_data()),
            },
        });
        let bytes = fold.encode().unwrap();
        let restored = WhyFold::decode(&bytes).unwrap();
        assert_eq!(
            restored.encode().unwrap(),
            bytes,
            "the restored fold encodes as the original"
        );
        let open: Vec<_> = restored.queue.open_wishes_for(&mitte).collect();
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].0, open[0].1), (wish, 1));
    }
}
