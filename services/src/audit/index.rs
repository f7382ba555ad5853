//! The audit's index for tracing proposals: snapshots of the trace's own
//! fold (the why-queue of `why.rs` and the offices' time zones) at log
//! positions, so that `audit trace` of a proposal late in a long log folds
//! only the log after the newest snapshot before it instead of the whole
//! log (issue 15: < 100 ms in a log of 1,000,000 events).
//!
//! The snapshots are the audit's fold of the log — the same code the trace
//! runs, not the matcher's state — so the audit still checks the engine
//! instead of repeating it; `audit verify` does not read them. They live in
//! `consumer_snapshots` under `audit-why/{FORMAT_VERSION}/{slot}`: one slot per
//! bucket of [`EVERY_EVENTS`] positions, [`SLOTS`] of them in turn, so the
//! newest few are kept and the space stays bounded. A snapshot of another
//! format (older code) is never read; without a usable snapshot the trace
//! folds the whole log, as before.
//!
//! A snapshot at position S can start the trace of proposal X only when no
//! event up to S belongs to X's trace: it records every proposal a wish
//! event up to S is about (`referenced`), and whether a folded event up to
//! S did not decode (then it could be about any proposal, and the snapshot
//! starts no trace). X's booking stream begins with the `proposal.accepted`
//! about X, so its events up to S would have put X in `referenced` too.
//!
//! [`WhyIndexer`] keeps the snapshots: `terminagent serve` runs it beside
//! the matcher (the roles `all` and `matcher`), `terminagent audit index`
//! brings them up to the head by hand.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use terminagent_domain::ProposalId;
use terminagent_eventstore::{EventStore, LogEvent, Snapshot, StorageError};

use super::events::{Known, decode, folded};
use super::sentences::Zones;
use super::trace::proposal_of;
use super::why::Queue;

/// The version of the snapshots' shape and of the fold that made them: bump
/// it when `why::Queue`, `sentences::Zones`, [`WhyFold`] or what they fold
/// changes, and the snapshots of older code are left unread.
const FORMAT_VERSION: u32 = 1;
/// Names the encoding in the snapshots' `format` column.
pub const FORMAT: &str = "audit-why/postcard/1";
/// A snapshot is taken once per this many positions.
pub const EVERY_EVENTS: u64 = 10_000;
/// How many snapshots are kept, newest first (older buckets are overwritten).
pub const SLOTS: u64 = 4;
/// Events read per page while catching up.
const PAGE: usize = 1000;

/// The name (in `consumer_snapshots`) of snapshot slot `slot` (0..[`SLOTS`]).
pub fn slot_name(slot: u64) -> String {
    format!("audit-why/{FORMAT_VERSION}/{slot}")
}

/// Which slot holds the newest snapshot: where a trace looks first.
fn latest_name() -> String {
    format!("audit-why/{FORMAT_VERSION}/latest")
}

/// The trace's fold as it stands after some position of the log.
#[derive(Default, Clone, Serialize, Deserialize)]
pub(super) struct WhyFold {
    pub(super) queue: Queue,
    pub(super) zones: Zones,
    /// Every proposal a wish event folded so far is about.
    referenced: HashSet<ProposalId>,
    /// A folded event did not decode: it may have been about any proposal.
    undecodable: bool,
}

impl WhyFold {
    /// Folds one event as the trace's loop does (only the types the fold needs).
    pub(super) fn apply(&mut self, logged: &LogEvent) {
        let event_type = logged.event.event_type.as_str();
        if !folded(event_type) {
            return;
        }
        match decode(event_type, logged.event.data.as_str()) {
            Ok(Some(known)) => {
                if let Known::Wish(event) = &known
                    && let Some(proposal) = proposal_of(event)
                {
                    self.referenced.insert(proposal);
                }
                self.queue.apply(logged.position, &known);
                self.zones.apply(&known);
            }
            Ok(None) => {}
            Err(_) => self.undecodable = true,
        }
    }

    /// Whether a trace of `proposal` may start here: no event folded so far belongs to it.
    fn may_start(&self, proposal: ProposalId) -> bool {
        !self.undecodable && !self.referenced.contains(&proposal)
    }

    fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_stdvec(self)
    }

    fn decode(bytes: &[u8]) -> Result<WhyFold, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

/// The newest snapshot at or before `head` from which a trace of `proposal`
/// may start: its position and fold. `None`: fold the whole log.
pub(super) async fn start_for(
    store: &EventStore,
    proposal: ProposalId,
    head: u64,
) -> Result<Option<(u64, WhyFold)>, StorageError> {
    let progress = store.progress();
    let newest = progress
        .snapshot(&latest_name())
        .await?
        .and_then(|hint| hint.data.first().copied())
        .map_or(0, u64::from);
    for back in 0..SLOTS {
        let slot = (newest + SLOTS - back) % SLOTS;
        let Some(snapshot) = progress.snapshot(&slot_name(slot)).await? else {
            continue;
        };
        if snapshot.format != FORMAT || snapshot.position == 0 || snapshot.position > head {
            continue;
        }
        let position = snapshot.position;
        let decoded = tokio::task::spawn_blocking(move || WhyFold::decode(&snapshot.data)).await;
        match decoded {
            Ok(Ok(fold)) if fold.may_start(proposal) => return Ok(Some((position, fold))),
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, slot, "an audit index snapshot does not decode; skipped"),
            Err(error) => tracing::warn!(%error, slot, "decoding an audit index snapshot failed; skipped"),
        }
    }
    Ok(None)
}

/// Keeps the audit's index: folds the log as it grows and saves a snapshot
/// once per [`EVERY_EVENTS`] positions (or `every`, for tests).
pub struct WhyIndexer {
    fold: WhyFold,
    position: u64,
    saved: u64,
    every: u64,
}

impl WhyIndexer {
    /// The indexer as its newest snapshot left it, or before the first event.
    pub async fn resume(store: &EventStore, every: u64) -> Result<WhyIndexer, StorageError> {
        let progress = store.progress();
        let mut newest: Option<(u64, WhyFold)> = None;
        for slot in 0..SLOTS {
            let Some(snapshot) = progress.snapshot(&slot_name(slot)).await? else {
                continue;
            };
            if snapshot.format != FORMAT || newest.as_ref().is_some_and(|(at, _)| *at >= snapshot.position) {
                continue;
            }
            let position = snapshot.position;
            match tokio::task::spawn_blocking(move || WhyFold::decode(&snapshot.data)).await {
                Ok(Ok(fold)) => newest = Some((position, fold)),
                Ok(Err(error)) => tracing::warn!(%error, slot, "an audit index snapshot does not decode; skipped"),
                Err(error) => tracing::warn!(%error, slot, "decoding an audit index snapshot failed; skipped"),
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

    /// Saves the fold as of [`Self::position`] now (in its bucket's slot).
    pub async fn save(&mut self, store: &EventStore) -> Result<(), StorageError> {
        if self.position == 0 {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let slot = (self.position / self.every) % SLOTS;
        let data = self.fold.encode().map_err(|error| StorageError::Corrupt {
            at: "audit index snapshot".into(),
            reason: error.to_string(),
        })?;
        let bytes = data.len();
        let progress = store.progress();
        let taken_at = chrono::Utc::now();
        let snapshot = Snapshot {
            position: self.position,
            format: FORMAT.to_owned(),
            taken_at,
            data,
        };
        progress.save_snapshot(&slot_name(slot), &snapshot).await?;
        let hint = Snapshot {
            position: self.position,
            format: FORMAT.to_owned(),
            taken_at,
            data: vec![slot as u8],
        };
        progress.save_snapshot(&latest_name(), &hint).await?;
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
