//! The matcher process: folds the log into the [`Waitlist`] in order and,
//! whenever it has caught up, makes the proposals the engine planned and runs
//! the waitlist's timers (proposal expiry, wishes past their last date).
//!
//! It appends only through the wish decisions, under the store's conditions:
//! a proposal that lost a unit to a booking, or whose wish ended meanwhile,
//! is refused, and the event that won tells the engine what happened instead.
//! Several matchers share the work by office: each folds the whole log (the
//! waitlist spans offices, and every matcher plans the same), but makes the
//! proposals and expires the proposals only of the offices it holds a lease
//! on (`leases`: renewed each second, valid 5 s). Each takes its fair share
//! (offices ÷ live matchers, by membership leases) and gives back the rest;
//! the offices of a matcher that dies are taken over once their leases
//! expire. Two matchers acting on one office for a moment (a paused owner)
//! do no harm: the conditions let one proposal per wish through.
//!
//! Now and then it saves its waitlist with the log position it reflects
//! (`consumer_snapshots`); a restart loads that and reads only the log after
//! it. The waitlist is a function of the log prefix, so the snapshot of a
//! position is what a replay up to there would give.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use terminagent_domain::{OfficeId, WishError, WishId, WishPolicy};
use terminagent_eventstore::{LogEvent, Snapshot, StorageError, Subscription};

use crate::application::{ExecuteError, Executor, expire_proposal, lapse_wish, propose_units};
use crate::links::LinkSecret;
use crate::waitlist::{PlannedProposal, SNAPSHOT_FORMAT, Waitlist};

/// How often the timers look while the log is quiet.
pub const MATCHER_TICK: Duration = Duration::from_secs(1);

/// The matcher's name among the log's consumers (its snapshot's key).
pub const MATCHER_CONSUMER: &str = "matcher";

/// When the matcher saves its waitlist, so a restart reads only the log
/// after the snapshot: after `every_events` new events, or after `every`
/// when anything changed at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    pub every_events: u64,
    pub every: Duration,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy {
            every_events: 50_000,
            every: Duration::from_secs(60),
        }
    }
}

pub struct MatcherService {
    pub executor: Executor,
    pub links: LinkSecret,
    pub policy: WishPolicy,
    pub snapshots: SnapshotPolicy,
}

/// How long a lease holds without renewal: a dead matcher's offices move on after this.
pub const LEASE_TTL: chrono::Duration = chrono::Duration::seconds(5);
/// How often a matcher renews its leases and rebalances.
const LEASE_RENEWAL: Duration = Duration::from_secs(1);
const MEMBER_LEASE: &str = "matcher:member:";
const OFFICE_LEASE: &str = "matcher:office:";

/// The offices this matcher acts for, by lease.
struct OfficeLeases {
    me: String,
    owned: BTreeSet<OfficeId>,
    renewed: Option<std::time::Instant>,
    offices_seen: usize,
}

impl OfficeLeases {
    fn new() -> Self {
        OfficeLeases {
            me: ulid::Ulid::new().to_string(),
            owned: BTreeSet::new(),
            renewed: None,
            offices_seen: 0,
        }
    }

    /// Renews what it holds and takes or gives offices toward its fair share;
    /// at most once a second, unless offices appeared.
    async fn maintain(&mut self, executor: &Executor, offices: &[OfficeId]) -> Result<(), StorageError> {
        let fresh = self.renewed.is_some_and(|at| at.elapsed() < LEASE_RENEWAL);
        if fresh && offices.len() == self.offices_seen {
            return Ok(());
        }
        let leases = executor.store().progress();
        let now = executor.now();
        let until = now + LEASE_TTL;
        leases
            .hold_lease(&format!("{MEMBER_LEASE}{}", self.me), &self.me, now, until)
            .await?;
        let members = leases.live_leases(MEMBER_LEASE, now).await?.len().max(1);
        let fair = offices.len().div_ceil(members);
        for office in self.owned.clone() {
            if !leases.hold_lease(&office_lease(&office), &self.me, now, until).await? {
                tracing::warn!(%office, "another matcher took this office over");
                self.owned.remove(&office);
            }
        }
        while self.owned.len() > fair {
            let Some(office) = self.owned.pop_last() else { break };
            leases.release_lease(&office_lease(&office), &self.me).await?;
            tracing::info!(%office, "office handed to another matcher");
        }
        if self.owned.len() < fair {
            let held: BTreeSet<String> = leases
                .live_leases(OFFICE_LEASE, now)
                .await?
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            for office in offices {
                if self.owned.len() >= fair {
                    break;
                }
                if self.owned.contains(office) || held.contains(&office_lease(office)) {
                    continue;
                }
                if leases.hold_lease(&office_lease(office), &self.me, now, until).await? {
                    tracing::info!(%office, "matching for this office");
                    self.owned.insert(office.clone());
                }
            }
        }
        self.renewed = Some(std::time::Instant::now());
        self.offices_seen = offices.len();
        Ok(())
    }

    fn owns(&self, office: &OfficeId) -> bool {
        self.owned.contains(office)
    }
}

fn office_lease(office: &OfficeId) -> String {
    format!("{OFFICE_LEASE}{office}")
}

/// What the matcher carries from one step to the next: the waitlist folded
/// so far, where it reads the log, and the plans it has acted on.
pub struct MatcherProgress {
    pub waitlist: Waitlist,
    /// The position of the last event folded into `waitlist`.
    pub position: u64,
    subscription: Subscription,
    /// Plans already acted on: tried once, the log tells the outcome.
    tried: BTreeMap<WishId, PlannedProposal>,
    /// Where and when the last snapshot was taken (or loaded).
    snapshot_position: u64,
    snapshot_at: std::time::Instant,
    saving: Option<tokio::task::JoinHandle<()>>,
    leases: OfficeLeases,
}

impl MatcherProgress {
    fn apply(&mut self, event: &LogEvent) {
        self.waitlist.apply(event);
        self.position = event.position;
    }
}

impl MatcherService {
    /// The matcher as its last snapshot left it, or (without a usable one)
    /// before the first event.
    pub async fn start(&self) -> MatcherProgress {
        let started = std::time::Instant::now();
        let (waitlist, position) = match self.executor.store().progress().snapshot(MATCHER_CONSUMER).await {
            Ok(Some(snapshot)) if snapshot.format == SNAPSHOT_FORMAT => {
                let position = snapshot.position;
                match tokio::task::spawn_blocking(move || Waitlist::from_snapshot(&snapshot.data)).await {
                    Ok(Ok(waitlist)) => (waitlist, position),
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "the matcher's snapshot does not decode; replaying the log");
                        (Waitlist::default(), 0)
                    }
                    Err(error) => {
                        tracing::warn!(%error, "decoding the matcher's snapshot failed; replaying the log");
                        (Waitlist::default(), 0)
                    }
                }
            }
            Ok(Some(snapshot)) => {
                tracing::info!(
                    format = snapshot.format,
                    "the matcher's snapshot is of another format; replaying the log"
                );
                (Waitlist::default(), 0)
            }
            Ok(None) => (Waitlist::default(), 0),
            Err(error) => {
                tracing::warn!(%error, "the matcher's snapshot cannot be read; replaying the log");
                (Waitlist::default(), 0)
            }
        };
        if position > 0 {
            let (waiting, idle) = waitlist.waiting_wishes();
            tracing::info!(
                position,
                waiting,
                idle,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "matcher resumed from its snapshot"
            );
        }
        MatcherProgress {
            waitlist,
            position,
            subscription: self.executor.store().subscribe(position),
            tried: BTreeMap::new(),
            snapshot_position: position,
            snapshot_at: std::time::Instant::now(),
            saving: None,
            leases: OfficeLeases::new(),
        }
    }

    /// Folds every event readable now, then makes the planned proposals and
    /// runs the timers. Returns how many events it read.
    pub async fn step(&self, progress: &mut MatcherProgress) -> Result<usize, StorageError> {
        let mut read = 0;
        while let Some(event) = progress.subscription.try_next().await? {
            progress.apply(&event);
            read += 1;
        }
        let offices: Vec<OfficeId> = progress.waitlist.offices().cloned().collect();
        if let Err(error) = progress.leases.maintain(&self.executor, &offices).await {
            tracing::warn!(%error, "renewing the matcher's office leases failed");
        }
        self.act(&progress.waitlist, &mut progress.tried, &progress.leases)
            .await;
        self.snapshot_if_due(progress);
        Ok(read)
    }

    /// Saves the waitlist as of `progress.position` now, and waits for it.
    pub async fn save_snapshot(&self, progress: &MatcherProgress) -> Result<(), StorageError> {
        save(self.executor.clone(), progress.waitlist.clone(), progress.position).await
    }

    /// Starts saving a snapshot in the background when the policy says so;
    /// the copy is taken now, encoding and writing do not hold up matching.
    fn snapshot_if_due(&self, progress: &mut MatcherProgress) {
        let new_events = progress.position.saturating_sub(progress.snapshot_position);
        let due = new_events >= self.snapshots.every_events
            || (new_events > 0 && progress.snapshot_at.elapsed() >= self.snapshots.every);
        if !due || progress.saving.as_ref().is_some_and(|saving| !saving.is_finished()) {
            return;
        }
        progress.snapshot_position = progress.position;
        progress.snapshot_at = std::time::Instant::now();
        let (executor, waitlist, position) = (self.executor.clone(), progress.waitlist.clone(), progress.position);
        progress.saving = Some(tokio::spawn(async move {
            if let Err(error) = save(executor, waitlist, position).await {
                tracing::warn!(%error, "saving the matcher's snapshot failed; the next one will try again");
            }
        }));
    }

    /// Follows the log until the process ends.
    pub async fn run(self) {
        let mut progress = self.start().await;
        loop {
            if let Err(error) = self.step(&mut progress).await {
                tracing::warn!(%error, "the matcher cannot read the log; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            match tokio::time::timeout(MATCHER_TICK, progress.subscription.next()).await {
                Ok(Ok(event)) => progress.apply(&event),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "the matcher cannot read the log; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(_quiet) => {}
            }
        }
    }

    /// Caught up: make what the engine planned, expire and lapse what is due.
    async fn act(&self, waitlist: &Waitlist, tried: &mut BTreeMap<WishId, PlannedProposal>, leases: &OfficeLeases) {
        let planned: Vec<PlannedProposal> = waitlist
            .planned()
            .filter(|plan| leases.owns(&plan.office))
            .cloned()
            .collect();
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
        for (wish, proposal, _) in waitlist
            .expiry_due(now)
            .into_iter()
            .filter(|(_, _, office)| leases.owns(office))
        {
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

async fn save(executor: Executor, waitlist: Waitlist, position: u64) -> Result<(), StorageError> {
    let started = std::time::Instant::now();
    let data = tokio::task::spawn_blocking(move || waitlist.to_snapshot())
        .await
        .map_err(|error| StorageError::Corrupt {
            at: "matcher snapshot".into(),
            reason: error.to_string(),
        })?
        .map_err(|error| StorageError::Corrupt {
            at: "matcher snapshot".into(),
            reason: error.to_string(),
        })?;
    let bytes = data.len();
    let snapshot = Snapshot {
        position,
        format: SNAPSHOT_FORMAT.to_owned(),
        taken_at: executor.now(),
        data,
    };
    executor
        .store()
        .progress()
        .save_snapshot(MATCHER_CONSUMER, &snapshot)
        .await?;
    tracing::info!(
        position,
        bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "matcher snapshot saved"
    );
    Ok(())
}

fn log_timer_failure(what: &str, wish: WishId, error: ExecuteError<WishError>) {
    match error {
        ExecuteError::Rejected(reason) => tracing::debug!(%wish, %reason, "{what}: nothing to do"),
        other => tracing::warn!(%wish, error = %other, "{what} failed; trying again"),
    }
}
