//! The matcher process: folds the log into the [`Waitlist`] in order and,
//! whenever it has caught up, makes the proposals the engine planned and runs
//! the waitlist's timers (proposal expiry, wishes past their last date).
//!
//! It appends only through the wish decisions, under the store's conditions:
//! a proposal that lost a unit to a booking, or whose wish ended meanwhile,
//! is refused, and the event that won tells the engine what happened instead.
//! Running two matchers is safe (a proposal is made once; the second attempt
//! finds the wish busy); it only doubles the work.

use std::collections::BTreeMap;
use std::time::Duration;

use terminagent_domain::{WishError, WishId, WishPolicy};
use terminagent_eventstore::{StorageError, Subscription};

use crate::application::{ExecuteError, Executor, expire_proposal, lapse_wish, propose_units};
use crate::links::LinkSecret;
use crate::waitlist::{PlannedProposal, Waitlist};

/// How often the timers look while the log is quiet.
pub const MATCHER_TICK: Duration = Duration::from_secs(1);

pub struct MatcherService {
    pub executor: Executor,
    pub links: LinkSecret,
    pub policy: WishPolicy,
}

/// What the matcher carries from one step to the next: the waitlist folded
/// so far, where it reads the log, and the plans it has acted on.
pub struct MatcherProgress {
    pub waitlist: Waitlist,
    subscription: Subscription,
    /// Plans already acted on: tried once, the log tells the outcome.
    tried: BTreeMap<WishId, PlannedProposal>,
}

impl MatcherService {
    /// A matcher that has read nothing yet.
    pub fn start(&self) -> MatcherProgress {
        MatcherProgress {
            waitlist: Waitlist::default(),
            subscription: self.executor.store().subscribe(0),
            tried: BTreeMap::new(),
        }
    }

    /// Folds every event readable now, then makes the planned proposals and
    /// runs the timers. Returns how many events it read.
    pub async fn step(&self, progress: &mut MatcherProgress) -> Result<usize, StorageError> {
        let mut read = 0;
        while let Some(event) = progress.subscription.try_next().await? {
            progress.waitlist.apply(&event);
            read += 1;
        }
        self.act(&progress.waitlist, &mut progress.tried).await;
        Ok(read)
    }

    /// Follows the log until the process ends.
    pub async fn run(self) {
        let mut progress = self.start();
        loop {
            if let Err(error) = self.step(&mut progress).await {
                tracing::warn!(%error, "the matcher cannot read the log; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            match tokio::time::timeout(MATCHER_TICK, progress.subscription.next()).await {
                Ok(Ok(event)) => progress.waitlist.apply(&event),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "the matcher cannot read the log; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(_quiet) => {}
            }
        }
    }

    /// Caught up: make what the engine planned, expire and lapse what is due.
    async fn act(&self, waitlist: &Waitlist, tried: &mut BTreeMap<WishId, PlannedProposal>) {
        let planned: Vec<PlannedProposal> = waitlist.planned().cloned().collect();
        tried.retain(|wish, plan| planned.iter().any(|p| p.wish == *wish && p == plan));
        for plan in planned {
            if tried.contains_key(&plan.wish) {
                continue;
            }
            match propose_units(&self.executor, &self.links, self.policy, &plan).await {
                Ok(events) => {
                    tracing::info!(wish = %plan.wish, office = %plan.office, start = %plan.start, lane = plan.lane,
                        made = !events.is_empty(), "proposal made")
                }
                // The log holds what won (a booking, an answer, an end); the
                // engine hears it and plans anew.
                Err(ExecuteError::Rejected(reason)) => {
                    tracing::info!(wish = %plan.wish, %reason, "planned proposal refused")
                }
                Err(error) => {
                    tracing::warn!(wish = %plan.wish, %error, "making a proposal failed; trying again");
                    continue;
                }
            }
            tried.insert(plan.wish, plan);
        }
        let now = self.executor.now();
        for (wish, proposal) in waitlist.expiry_due(now) {
            match expire_proposal(&self.executor, self.policy, wish, proposal).await {
                Ok(events) if !events.is_empty() => tracing::info!(%wish, %proposal, "proposal expired"),
                Ok(_) => {}
                Err(error) => log_timer_failure("expiring a proposal", wish, error),
            }
        }
        for wish in waitlist.lapse_due(now) {
            match lapse_wish(&self.executor, wish).await {
                Ok(events) if !events.is_empty() => tracing::info!(%wish, "wish past its last date ended"),
                Ok(_) => {}
                Err(error) => log_timer_failure("ending a wish past its last date", wish, error),
            }
        }
    }
}

fn log_timer_failure(what: &str, wish: WishId, error: ExecuteError<WishError>) {
    match error {
        ExecuteError::Rejected(reason) => tracing::debug!(%wish, %reason, "{what}: nothing to do"),
        other => tracing::warn!(%wish, error = %other, "{what} failed; trying again"),
    }
}
