//! What a simulation reports. Figures about what the system did (proposals,
//! expiries, no-shows, where freed capacity went) are folded from the log
//! itself ([`LogTally`]), so they say what a replay would; what only the
//! citizens know (how many tried, what they answered) is counted by the
//! driver ([`DriverCounts`]). Wall time and throughput are kept apart
//! ([`Performance`]): everything else is a function of the seed.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use terminagent_domain::{
    BookingEvent, BookingId, BookingInput, CatalogueEvent, DomainEvent, FloorEvent, HoldChange, MissedReason,
    OfficeTimeZone, UnitRef, WishEndReason, WishEvent, WishId, percentile,
};
use terminagent_eventstore::LogEvent;

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub outcome: Outcome,
    pub performance: Performance,
}

/// Everything a seed determines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub run: RunFacts,
    /// Events appended to the log, every one through the application layer.
    pub events: u64,
    pub events_by_type: BTreeMap<String, u64>,
    pub contacts: Contacts,
    /// What the application layer answered the driver (to hold against the log).
    pub driver: DriverCounts,
    pub bookings: Bookings,
    pub wishes: Wishes,
    pub proposals: Proposals,
    pub capacity: Capacity,
    pub time_to_first_proposal_hours: Spread,
    pub floor: Floor,
    pub invariants: Invariants,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFacts {
    pub seed: u64,
    pub backend: String,
    pub start: NaiveDate,
    pub days: u32,
    pub offices: usize,
    pub contacts_per_year: u64,
    pub wishes_per_year: u64,
    pub capacity_percent: u32,
    pub proposal_ttl_hours: f64,
    pub max_unanswered_proposals: u32,
    pub floor: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Contacts {
    pub total: u64,
    pub online_booking_attempts: u64,
    pub walk_ins: u64,
    pub wish_registrations: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bookings {
    /// Booking requests the decision accepted (`booking.requested`).
    pub requested: u64,
    /// Citizens who found no free start within the horizon at their office.
    pub no_slot_found: u64,
    /// Requests refused by the decision (the slot went meanwhile, limits).
    pub refused: u64,
    pub confirmed: u64,
    pub lapsed: u64,
    pub cancelled_by_citizen: u64,
    pub tickets_issued: u64,
    pub tickets_refused: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Wishes {
    pub registered: u64,
    /// Refused registrations (a second waiting wish for the same services).
    pub refused: u64,
    /// Fulfilled by an accepted proposal.
    pub fulfilled: u64,
    pub ended_by_citizen: u64,
    pub ended_unanswered: u64,
    pub ended_until_passed: u64,
    pub waiting_at_end: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Proposals {
    pub made: u64,
    pub accepted: u64,
    pub declined: u64,
    pub expired: u64,
    /// Taken back because the units were booked first or the wish ended.
    pub withdrawn_or_void: u64,
    pub open_at_end: u64,
    pub declined_or_expired_percent: f64,
}

/// Where capacity went: newly published units and units freed again
/// (cancelled, lapsed, missed, declined, expired), each until its start.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Capacity {
    pub units_published: u64,
    pub published_to_wish: u64,
    pub published_to_public: u64,
    pub published_left_free: u64,
    pub freed_units: u64,
    pub freed_to_wish: u64,
    pub freed_to_public: u64,
    pub freed_left_free: u64,
    /// Freed, not taken yet, start still ahead when the run ended.
    pub freed_still_ahead: u64,
    /// Of the freed units whose start has passed: the share taken again.
    pub freed_fill_percent: f64,
}

/// p50/p90 of a list (nearest rank).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Spread {
    pub count: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Floor {
    /// Confirmed bookings and tickets whose check-in window closed.
    pub appointments_due: u64,
    pub checked_in: u64,
    pub called: u64,
    pub finished: u64,
    pub no_shows: u64,
    pub no_show_percent: f64,
    pub wait_minutes: Spread,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Invariants {
    /// `None`: the independent checker is not wired in (see `audit.rs`).
    pub first_come_violations: Option<u64>,
    pub quiescence_violations: Option<u64>,
    pub other_violations: Option<u64>,
    pub first_violation: Option<String>,
    pub checker: String,
    /// Quiet points checked (end of each simulated day, matcher caught up).
    pub quiet_points: u64,
    /// The matching engine's own brute-force quiescence check at the same
    /// points (not independent of it, but cheap to keep).
    pub engine_quiescence_violations: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Performance {
    pub wall_seconds: f64,
    pub events_per_second: f64,
    pub decisions: u64,
    /// Where the wall time went.
    pub phases: Phases,
}

/// Wall seconds by phase of the driver's loop, and how often each ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Phases {
    /// The actions' decisions through the application layer.
    pub actions_seconds: f64,
    /// Waiting until committed events are readable (Postgres numbers them).
    pub catch_up_seconds: f64,
    pub catch_ups: u64,
    /// The matcher's steps (folding, proposing, its timers).
    pub matcher_seconds: f64,
    pub matcher_steps: u64,
    /// Reading the new events into the report's tally and the audit.
    pub log_seconds: f64,
}

/// What the driver saw the application layer answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DriverCounts {
    /// Reported as [`Outcome::contacts`].
    #[serde(skip)]
    pub contacts: Contacts,
    pub bookings_requested: u64,
    pub no_slot_found: u64,
    pub booking_refused: u64,
    pub confirmed: u64,
    pub cancelled: u64,
    pub tickets_issued: u64,
    pub tickets_refused: u64,
    pub wishes_registered: u64,
    pub wishes_refused: u64,
    pub answers_accepted: u64,
    pub answers_declined: u64,
    pub wishes_confirmed: u64,
    pub wishes_ended_by_citizen: u64,
    pub decisions: u64,
}

/// The log folded into the report's figures, event by event in log order.
pub struct LogTally {
    zone: OfficeTimeZone,
    pub events: u64,
    pub by_type: BTreeMap<String, u64>,
    pending: HashMap<UnitRef, Origin>,
    capacity: Capacity,
    registered_at: HashMap<WishId, DateTime<Utc>>,
    first_proposal_hours: Vec<f64>,
    open_wishes: HashSet<WishId>,
    open_proposals: HashSet<WishId>,
    checked_in: HashMap<BookingId, DateTime<Utc>>,
    waits: Vec<f64>,
    no_shows: u64,
    wishes: Wishes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Published,
    Freed,
}

impl LogTally {
    pub fn new(zone: OfficeTimeZone) -> Self {
        LogTally {
            zone,
            events: 0,
            by_type: BTreeMap::new(),
            pending: HashMap::new(),
            capacity: Capacity::default(),
            registered_at: HashMap::new(),
            first_proposal_hours: Vec::new(),
            open_wishes: HashSet::new(),
            open_proposals: HashSet::new(),
            checked_in: HashMap::new(),
            waits: Vec::new(),
            no_shows: 0,
            wishes: Wishes::default(),
        }
    }

    fn count(&self, event_type: &str) -> u64 {
        self.by_type.get(event_type).copied().unwrap_or(0)
    }

    fn unit_start(&self, unit: &UnitRef) -> Option<DateTime<Utc>> {
        self.zone.instant(NaiveDate::from(unit.date), unit.start).ok()
    }

    pub fn observe(&mut self, event: &LogEvent) {
        let stored = &event.event;
        let event_type = stored.event_type.as_str();
        let at = stored.recorded_at;
        self.events += 1;
        *self.by_type.entry(event_type.to_owned()).or_default() += 1;
        if BookingInput::EVENT_TYPES.contains(&event_type) {
            let Ok(input) = BookingInput::from_stored_json(event_type, stored.data.as_str()) else {
                return;
            };
            self.booking_input(&input, at);
        } else if FloorEvent::EVENT_TYPES.contains(&event_type) {
            let Ok(floor) = FloorEvent::from_stored_json(event_type, stored.data.as_str()) else {
                return;
            };
            match floor {
                FloorEvent::CheckedIn(visit) => {
                    // The statistics' wait: from check-in, or the start when early.
                    self.checked_in
                        .insert(visit.booking, visit.checked_in_at.max(visit.start));
                }
                FloorEvent::Called(called) => {
                    if let Some(from) = self.checked_in.remove(&called.booking) {
                        self.waits.push((called.called_at - from).num_seconds() as f64 / 60.0);
                    }
                }
                FloorEvent::Missed(missed) if missed.reason == MissedReason::NoShow => self.no_shows += 1,
                _ => {}
            }
        }
    }

    fn booking_input(&mut self, input: &BookingInput, at: DateTime<Utc>) {
        match input.hold_change() {
            HoldChange::Hold(units) => {
                let to_wish = matches!(input, BookingInput::Wish(WishEvent::ProposalMade(_)));
                for unit in units {
                    let Some(origin) = self.pending.remove(unit) else {
                        continue;
                    };
                    let capacity = &mut self.capacity;
                    match (origin, to_wish) {
                        (Origin::Published, true) => capacity.published_to_wish += 1,
                        (Origin::Published, false) => capacity.published_to_public += 1,
                        (Origin::Freed, true) => capacity.freed_to_wish += 1,
                        (Origin::Freed, false) => capacity.freed_to_public += 1,
                    }
                }
            }
            HoldChange::Release(units) => {
                for unit in units {
                    if self.unit_start(unit).is_some_and(|start| start > at) {
                        self.capacity.freed_units += 1;
                        self.pending.insert(unit.clone(), Origin::Freed);
                    }
                }
            }
            HoldChange::Unchanged => {}
        }
        match input {
            BookingInput::Catalogue(CatalogueEvent::CapacityPublished(published)) => {
                for unit in published.units() {
                    self.capacity.units_published += 1;
                    self.pending.insert(unit, Origin::Published);
                }
            }
            BookingInput::Wish(WishEvent::Registered(registered)) => {
                self.registered_at.insert(registered.wish, registered.registered_at);
                self.open_wishes.insert(registered.wish);
            }
            BookingInput::Wish(WishEvent::ProposalMade(made)) => {
                self.open_proposals.insert(made.wish);
                if let Some(registered) = self.registered_at.remove(&made.wish) {
                    self.first_proposal_hours
                        .push((at - registered).num_seconds() as f64 / 3600.0);
                }
            }
            BookingInput::Wish(WishEvent::ProposalAccepted(accepted)) => {
                self.open_proposals.remove(&accepted.wish);
                self.open_wishes.remove(&accepted.wish);
                self.wishes.fulfilled += 1;
            }
            BookingInput::Wish(
                WishEvent::ProposalDeclined(closed)
                | WishEvent::ProposalExpired(closed)
                | WishEvent::ProposalWithdrawn(closed),
            ) => {
                self.open_proposals.remove(&closed.wish);
            }
            BookingInput::Wish(WishEvent::Ended(ended)) => {
                self.open_proposals.remove(&ended.wish);
                self.open_wishes.remove(&ended.wish);
                self.registered_at.remove(&ended.wish);
                match ended.reason {
                    WishEndReason::Citizen => self.wishes.ended_by_citizen += 1,
                    WishEndReason::UnansweredProposals => self.wishes.ended_unanswered += 1,
                    WishEndReason::UntilPassed => self.wishes.ended_until_passed += 1,
                    WishEndReason::Unconfirmed => {}
                }
            }
            BookingInput::Booking(BookingEvent::Requested(_) | BookingEvent::TicketIssued(_)) => {}
            _ => {}
        }
    }

    /// The report's figures at `end` (the virtual clock's last instant).
    pub fn finish(&self, end: DateTime<Utc>, driver: &DriverCounts) -> TallyFigures {
        let mut capacity = self.capacity.clone();
        for (unit, origin) in &self.pending {
            let ahead = self.unit_start(unit).is_none_or(|start| start > end);
            match (origin, ahead) {
                (Origin::Freed, true) => capacity.freed_still_ahead += 1,
                (Origin::Freed, false) => capacity.freed_left_free += 1,
                (Origin::Published, false) => capacity.published_left_free += 1,
                (Origin::Published, true) => {}
            }
        }
        let settled = capacity.freed_units - capacity.freed_still_ahead;
        capacity.freed_fill_percent = share(capacity.freed_to_wish + capacity.freed_to_public, settled);

        let made = self.count("proposal.made");
        let declined = self.count("proposal.declined");
        let expired = self.count("proposal.expired");
        let accepted = self.count("proposal.accepted");
        let open_at_end = self.open_proposals.len() as u64;
        let proposals = Proposals {
            made,
            accepted,
            declined,
            expired,
            withdrawn_or_void: made - accepted - declined - expired - open_at_end,
            open_at_end,
            declined_or_expired_percent: share(declined + expired, accepted + declined + expired),
        };
        let mut wishes = self.wishes.clone();
        wishes.registered = self.count("wish.registered");
        wishes.refused = driver.wishes_refused;
        wishes.waiting_at_end = self.open_wishes.len() as u64;

        let checked_in = self.count("visit.checked_in");
        let due = checked_in + self.no_shows;
        let floor = Floor {
            appointments_due: due,
            checked_in,
            called: self.count("visit.called"),
            finished: self.count("visit.finished"),
            no_shows: self.no_shows,
            no_show_percent: share(self.no_shows, due),
            wait_minutes: spread(&self.waits),
        };
        let bookings = Bookings {
            requested: self.count("booking.requested"),
            no_slot_found: driver.no_slot_found,
            refused: driver.booking_refused,
            confirmed: self.count("booking.confirmed"),
            lapsed: self.count("booking.lapsed"),
            cancelled_by_citizen: self.count("booking.cancelled"),
            tickets_issued: self.count("booking.ticket_issued"),
            tickets_refused: driver.tickets_refused,
        };
        TallyFigures {
            events: self.events,
            events_by_type: self.by_type.clone(),
            bookings,
            wishes,
            proposals,
            capacity,
            time_to_first_proposal_hours: spread(&self.first_proposal_hours),
            floor,
        }
    }
}

/// The log-derived part of the outcome.
pub struct TallyFigures {
    pub events: u64,
    pub events_by_type: BTreeMap<String, u64>,
    pub bookings: Bookings,
    pub wishes: Wishes,
    pub proposals: Proposals,
    pub capacity: Capacity,
    pub time_to_first_proposal_hours: Spread,
    pub floor: Floor,
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round1(part as f64 * 100.0 / whole as f64)
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn spread(values: &[f64]) -> Spread {
    // Tenths of a unit as integers: the nearest-rank percentile the
    // statistics use, on a total order.
    let mut tenths: Vec<u32> = values
        .iter()
        .map(|value| (value.max(0.0) * 10.0).round().min(f64::from(u32::MAX)) as u32)
        .collect();
    tenths.sort_unstable();
    let at = |p| percentile(&tenths, p).map(|value| value as f64 / 10.0);
    Spread {
        count: values.len() as u64,
        p50: at(50),
        p90: at(90),
    }
}

impl Report {
    /// The report for people: one figure a line, German office terms kept.
    pub fn to_text(&self) -> String {
        let o = &self.outcome;
        let p = &self.performance;
        let opt = |value: Option<u64>| value.map_or_else(|| "not checked".to_owned(), |v| v.to_string());
        let hours = |spread: &Spread| match (spread.p50, spread.p90) {
            (Some(p50), Some(p90)) => format!("p50 {p50} h, p90 {p90} h (of {} wishes)", spread.count),
            _ => "no proposals".to_owned(),
        };
        let minutes = |spread: &Spread| match (spread.p50, spread.p90) {
            (Some(p50), Some(p90)) => format!("p50 {p50} min, p90 {p90} min (of {} calls)", spread.count),
            _ => "no calls".to_owned(),
        };
        let r = &o.run;
        let c = &o.capacity;
        let mut lines = vec![
            format!(
                "terminagent simulate: seed {}, {} days from {}, {} offices, {} backend",
                r.seed, r.days, r.start, r.offices, r.backend
            ),
            format!(
                "  policy: proposal ttl {} h, max unanswered proposals {}, capacity {} %, floor {}",
                r.proposal_ttl_hours,
                r.max_unanswered_proposals,
                r.capacity_percent,
                if r.floor { "on" } else { "off" }
            ),
            format!(
                "  volume per year: {} contacts, {} wishes",
                r.contacts_per_year, r.wishes_per_year
            ),
            format!(
                "events appended: {} in {:.1} s = {:.0} events/s through the application layer ({} decisions)",
                o.events, p.wall_seconds, p.events_per_second, p.decisions
            ),
            format!(
                "  wall time: actions {:.1} s, log made readable {:.1} s ({}×), matcher {:.1} s ({} steps), tally and audit {:.1} s",
                p.phases.actions_seconds,
                p.phases.catch_up_seconds,
                p.phases.catch_ups,
                p.phases.matcher_seconds,
                p.phases.matcher_steps,
                p.phases.log_seconds
            ),
            format!(
                "contacts: {} (online booking attempts {}, walk-ins {}, wish registrations {})",
                o.contacts.total,
                o.contacts.online_booking_attempts,
                o.contacts.walk_ins,
                o.contacts.wish_registrations
            ),
            format!(
                "bookings: {} requested, {} confirmed, {} lapsed, {} cancelled, {} refused, {} found no slot; tickets {} issued, {} refused",
                o.bookings.requested,
                o.bookings.confirmed,
                o.bookings.lapsed,
                o.bookings.cancelled_by_citizen,
                o.bookings.refused,
                o.bookings.no_slot_found,
                o.bookings.tickets_issued,
                o.bookings.tickets_refused
            ),
            format!(
                "wishes: {} registered ({} refused), {} fulfilled, ended: {} by citizen, {} unanswered, {} past their date; {} waiting at the end",
                o.wishes.registered,
                o.wishes.refused,
                o.wishes.fulfilled,
                o.wishes.ended_by_citizen,
                o.wishes.ended_unanswered,
                o.wishes.ended_until_passed,
                o.wishes.waiting_at_end
            ),
            format!(
                "proposals: {} made, {} accepted, {} declined, {} expired ({} % declined or expired), {} withdrawn, {} open",
                o.proposals.made,
                o.proposals.accepted,
                o.proposals.declined,
                o.proposals.expired,
                o.proposals.declined_or_expired_percent,
                o.proposals.withdrawn_or_void,
                o.proposals.open_at_end
            ),
            format!(
                "published units: {}; to wishes {}, booked publicly {}, left free {}",
                c.units_published, c.published_to_wish, c.published_to_public, c.published_left_free
            ),
            format!(
                "freed units: {}; to a wish {}, public booking {}, left free {}, still ahead {}: fill rate {} %",
                c.freed_units,
                c.freed_to_wish,
                c.freed_to_public,
                c.freed_left_free,
                c.freed_still_ahead,
                c.freed_fill_percent
            ),
            format!("time to first proposal: {}", hours(&o.time_to_first_proposal_hours)),
            format!(
                "floor: {} due, {} checked in, {} called, {} finished, {} no-shows ({} %); wait {}",
                o.floor.appointments_due,
                o.floor.checked_in,
                o.floor.called,
                o.floor.finished,
                o.floor.no_shows,
                o.floor.no_show_percent,
                minutes(&o.floor.wait_minutes)
            ),
            format!(
                "FIRST-COME VIOLATIONS: {}   UNITS LEFT FREE WHILE A MATCHING WISH WAITED: {}   other violations: {}  ({}; {} quiet points)",
                opt(o.invariants.first_come_violations),
                opt(o.invariants.quiescence_violations),
                opt(o.invariants.other_violations),
                o.invariants.checker,
                o.invariants.quiet_points
            ),
            format!(
                "matching engine's own quiescence check: {} violations",
                o.invariants.engine_quiescence_violations
            ),
        ];
        if let Some(first) = &o.invariants.first_violation {
            lines.push(format!("first violation: {first}"));
        }
        lines.push(
            "the statistics fold from this log: `terminagent serve --database-url <this database>` shows the run at /staff/statistik"
                .to_owned(),
        );
        lines.join("\n")
    }
}
