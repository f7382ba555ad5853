//! Read models built from the log. Each is a plain struct that folds
//! [`LogEvent`]s; [`LiveProjection`] keeps one current by subscription, and
//! [`rebuild`] makes a fresh one from position 0 — the two must agree
//! (invariant 6).

mod availability;
mod catalogue;
mod day_list;
mod floor;
mod links;
mod reminders;
mod staff;
mod statistics;

use std::sync::{Arc, RwLock, RwLockReadGuard};

use terminagent_eventstore::{EventStore, LogEvent, StorageError};
use tokio::sync::watch;

pub use availability::{AvailabilityView, UnitUse};
pub use catalogue::{CatalogueView, OfficeEntry, OpeningHoursSchema, ServiceEntry};
pub use day_list::{DayListEntry, DayListStatus, DayListView};
pub use floor::{FeedCall, FloorView, MissedVisit};
pub use links::{BookingSummary, LinkSubject, LinkTarget, LinksView, OverviewLink, ProposalSummary, WishSummary};
pub use reminders::RemindersView;
pub use staff::StaffView;
pub use statistics::StatisticsView;

/// A read model: folds log events in order. Events it does not know are ignored.
pub trait Projection: Default + Send + Sync + 'static {
    fn apply(&mut self, event: &LogEvent);
}

/// A projection kept current by a background subscription.
pub struct LiveProjection<P> {
    view: Arc<RwLock<P>>,
    position: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl<P: Projection> LiveProjection<P> {
    /// Starts following the log from the beginning.
    pub fn spawn(store: EventStore) -> Self {
        let view = Arc::new(RwLock::new(P::default()));
        let (sender, position) = watch::channel(0);
        let task = tokio::spawn({
            let view = view.clone();
            async move {
                let mut subscription = store.subscribe(0);
                loop {
                    match subscription.next().await {
                        Ok(event) => {
                            let mut view = view.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                            view.apply(&event);
                            // Under the lock: whoever reads the view reads its position with it.
                            sender.send_replace(event.position);
                        }
                        Err(error) => {
                            tracing::warn!(%error, "projection could not read the log; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        }
                    }
                }
            }
        });
        LiveProjection { view, position, task }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, P> {
        self.view.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The log position this view reflects.
    pub fn position(&self) -> u64 {
        *self.position.borrow()
    }

    /// Announces each position the view reaches: a follower marks what it
    /// has seen, reads the view, and waits for the next change.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.position.clone()
    }

    /// Waits until the view reflects the log up to `position` (read-your-writes).
    pub async fn caught_up_to(&self, position: u64) {
        let mut receiver = self.position.clone();
        let _ = receiver.wait_for(|seen| *seen >= position).await;
    }
}

impl<P> Drop for LiveProjection<P> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fresh projection from the whole log, as an auditor's replay makes it.
pub async fn rebuild<P: Projection>(store: &EventStore) -> Result<(P, u64), StorageError> {
    let head = store.catch_up().await?;
    let mut view = P::default();
    let position = fold_until(store, &mut view, 0, head).await?;
    Ok((view, position))
}

/// Folds the log after `position` up to `until` into `view`; the position reached.
async fn fold_until<P: Projection>(
    store: &EventStore,
    view: &mut P,
    mut position: u64,
    until: u64,
) -> Result<u64, StorageError> {
    while position < until {
        let page = store.read_all(position, (until - position).min(1000) as usize).await?;
        let Some(last) = page.last() else { break };
        position = last.position;
        page.iter().for_each(|event| view.apply(event));
    }
    Ok(position)
}

/// Whether `live` equals the view rebuilt from the log at the position
/// `live` has reached (invariant 6), and that position. The live view goes
/// on following the log meanwhile; the rebuild follows it to where it is.
///
/// The live view is copied under its lock and compared off the runtime: the
/// comparison of a big view must neither hold the lock the live view's
/// follower writes under nor occupy a runtime worker.
pub async fn live_equals_replay<P: Projection + PartialEq + Clone>(
    live: &LiveProjection<P>,
    store: &EventStore,
) -> Result<(bool, u64), StorageError> {
    let mut rebuilt = P::default();
    let mut position = 0;
    loop {
        let seen = live.position();
        position = fold_until(store, &mut rebuilt, position, seen).await?;
        if position < seen {
            return Err(StorageError::Corrupt {
                at: format!("position {seen}"),
                reason: format!("a view has seen it, a replay ends at {position}"),
            });
        }
        let copy = {
            let view = live.read();
            (live.position() == position).then(|| view.clone())
        };
        if let Some(copy) = copy {
            let equal = match tokio::task::spawn_blocking(move || copy == rebuilt).await {
                Ok(equal) => equal,
                Err(failed) => std::panic::resume_unwind(failed.into_panic()),
            };
            return Ok((equal, position));
        }
    }
}
