//! Why a proposal's wish was the one chosen (DESIGN.md invariant 3: freed
//! capacity goes to the earliest-registered waiting wish that matches it).
//!
//! A small fold of the waitlist of the audit's own, from the log alone —
//! deliberately not `domain::matching` nor `crate::waitlist`: the audit
//! checks the engine's choices instead of repeating them. For a
//! `proposal.made` at position P it looks at the chosen wish and at every
//! wish registered before it that was still in the queue when the chosen one
//! joined, and names, for each earlier one, the first reason in this order
//! why it could not take the proposed units at P:
//!
//! 1. `ended` / `fulfilled` — it no longer waited;
//! 2. `office` / `window` / `after_until` — it never wanted this office,
//!    this weekday and hour (of the first unit's office-local start), or
//!    this date;
//! 3. `busy` — it held an open proposal (a wish has at most one);
//! 4. `declined` / `expired` — it had declined one of these units before, or
//!    let a proposal of one expire (never offered again);
//! 5. `needs_longer` — its services take longer than the proposed units;
//! 6. `idle_later` — it was waiting again only after the units had become
//!    free and the chosen wish was waiting (the engine had planned them for
//!    the chosen wish by then);
//! 7. `proposed_same_round` — its next event is a proposal of its own: the
//!    engine handed out several units in one go and the log holds them one
//!    after the other (found by reading on past P);
//! 8. `unexplained` — none of these: the log contradicts first come, first
//!    served, and the trace says so.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use terminagent_domain::{
    BookingEvent, CapacityPublished, CatalogueEvent, HourOfWeek, LocalDate, OfficeId, ProposalMade, ServiceId, UnitRef,
    WeeklyWindows, WishEndReason, WishEvent, WishId,
};

use super::events::Known;

/// The most earlier wishes a proposal's explanation lists one by one (the
/// counts by reason cover all; a wish without a reason is always listed).
pub(super) const MAX_LISTED: usize = 100;

/// The waitlist as the log tells it, up to the event folded last. It is
/// saved with the audit's index (`index.rs`, postcard): a change of its
/// shape or of the fold needs a new `index::FORMAT`.
#[derive(Default, Clone, Serialize, Deserialize)]
pub(super) struct Queue {
    /// In registration order: the queue.
    wishes: Vec<QueuedWish>,
    index: HashMap<WishId, usize>,
    durations: HashMap<ServiceId, u32>,
    publications: HashMap<(OfficeId, LocalDate), Vec<(u64, CapacityPublished)>>,
    /// The position at which each unit was last let go by a holder.
    freed: HashMap<UnitRef, u64>,
    /// Registered wishes (schema version 2) not confirmed yet: not in the
    /// queue; a `wish.confirmed` puts one at its end.
    unconfirmed: HashMap<WishId, QueuedWish>,
    /// Wishes [`Queue::compact`] dropped: over before any wish still in the
    /// queue joined, so every later explanation counts them as over before
    /// its chosen wish joined.
    compacted_over: u64,
}

#[derive(Clone, Serialize, Deserialize)]
struct QueuedWish {
    wish: WishId,
    registered_at: u64,
    offices: Vec<OfficeId>,
    services: Vec<ServiceId>,
    #[serde(with = "windows_as_hours")]
    windows: WeeklyWindows,
    until: Option<LocalDate>,
    phase: Phase,
    /// Units declined (false) or let expire (true), with the answer's position.
    refused: HashMap<UnitRef, (u64, bool)>,
}

/// Windows in a snapshot: (weekday from Monday = 0, hour) pairs. Their JSON
/// form leaves empty days out, which a format without field names cannot read.
mod windows_as_hours {
    use chrono::Weekday;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use terminagent_domain::WeeklyWindows;

    pub fn serialize<S: Serializer>(windows: &WeeklyWindows, serializer: S) -> Result<S::Ok, S::Error> {
        let hours: Vec<(u8, u8)> = windows
            .iter()
            .map(|(day, hour)| (day.num_days_from_monday() as u8, hour as u8))
            .collect();
        hours.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<WeeklyWindows, D::Error> {
        let hours = Vec::<(u8, u8)>::deserialize(deserializer)?;
        let mut days = Vec::with_capacity(hours.len());
        for (day, hour) in hours {
            let day = Weekday::try_from(day).map_err(serde::de::Error::custom)?;
            days.push((day, u32::from(hour)));
        }
        WeeklyWindows::new(days).map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Copy, Serialize, Deserialize)]
enum Phase {
    Waiting {
        since: u64,
    },
    Busy {
        proposal: terminagent_domain::ProposalId,
        since: u64,
    },
    Fulfilled {
        at: u64,
        booking: terminagent_domain::BookingId,
    },
    Ended {
        at: u64,
        reason: WishEndReason,
    },
}

impl Phase {
    fn over_at(self) -> Option<u64> {
        match self {
            Phase::Fulfilled { at, .. } | Phase::Ended { at, .. } => Some(at),
            Phase::Waiting { .. } | Phase::Busy { .. } => None,
        }
    }
}

/// Where an open wish stands in the queue (for the audit's as-of).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QueuedPhase {
    Waiting {
        since: u64,
    },
    Proposed {
        proposal: terminagent_domain::ProposalId,
        since: u64,
    },
}

/// Why one earlier wish did not get the units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// It had ended (`end_reason`: `citizen`, `unanswered_proposals`, `until_passed`).
    Ended { at: u64, end_reason: String },
    /// A proposal of it had been accepted: it was a booking.
    Fulfilled { at: u64, booking: String },
    /// It does not name the proposal's office.
    Office { offices: Vec<String> },
    /// Its windows do not hold the weekday and hour of the start.
    Window { window: String },
    /// The date is after its last date.
    AfterUntil { until: String },
    /// It held an open proposal (made at `at`).
    Busy { proposal: String, at: u64 },
    /// It had declined one of the units (at `at`).
    Declined { at: u64, unit: String },
    /// A proposal of one of the units had expired unanswered (at `at`).
    Expired { at: u64, unit: String },
    /// Its services take longer than the units proposed.
    NeedsLonger { needed_minutes: u32, run_minutes: u32 },
    /// It was waiting again only from `at`, after the units were free and
    /// the chosen wish was waiting (`planned_from`).
    IdleLater { at: u64, planned_from: u64 },
    /// Its next event is a proposal of its own (the same round of handing out).
    ProposedSameRound { proposal: String, at: u64 },
    /// No reason in the log: this contradicts first come, first served.
    Unexplained,
}

impl Reason {
    /// The key of the counts by reason.
    pub fn key(&self) -> &'static str {
        match self {
            Reason::Ended { .. } => "ended",
            Reason::Fulfilled { .. } => "fulfilled",
            Reason::Office { .. } => "office",
            Reason::Window { .. } => "window",
            Reason::AfterUntil { .. } => "after_until",
            Reason::Busy { .. } => "busy",
            Reason::Declined { .. } => "declined",
            Reason::Expired { .. } => "expired",
            Reason::NeedsLonger { .. } => "needs_longer",
            Reason::IdleLater { .. } => "idle_later",
            Reason::ProposedSameRound { .. } => "proposed_same_round",
            Reason::Unexplained => "unexplained",
        }
    }
}

/// An earlier wish passed over, and why.
#[derive(Debug, Clone, Serialize)]
pub struct PassedOver {
    pub wish: String,
    /// Position of its `wish.registered` (of its `wish.confirmed` when it
    /// needed one): its place in the queue.
    pub registered_at: u64,
    #[serde(flatten)]
    pub reason: Reason,
    /// The reason in the trace's language.
    pub sentence: String,
}

/// Why a proposal's wish was the one chosen.
#[derive(Debug, Clone, Serialize)]
pub struct Why {
    /// The chosen wish.
    pub wish: String,
    /// Position of its `wish.registered` (`null`: the log does not hold it).
    pub registered_at: Option<u64>,
    /// Position since which it waited without an open proposal.
    pub waiting_since: Option<u64>,
    pub office: String,
    /// Office-local date and start of the first unit, and its lane.
    pub date: String,
    pub start: String,
    pub lane: u16,
    /// The weekday and hour the start falls in (`tue 9`: 09:00–09:59).
    pub window: String,
    /// What the chosen wish's services take, and what the units cover.
    pub needed_minutes: Option<u32>,
    pub run_minutes: u32,
    /// The first reason the chosen wish itself could not have had the units;
    /// `null` when it fits as the rules ask.
    pub chosen_problem: Option<Reason>,
    /// Earlier-registered wishes still in the queue when the chosen one joined.
    pub earlier: u64,
    /// Earlier-registered wishes already over when the chosen one joined (not listed).
    pub over_before: u64,
    /// How many earlier wishes were passed over for each reason.
    pub reasons: BTreeMap<&'static str, u64>,
    /// The earlier wishes in queue order: the first [`MAX_LISTED`], and every one without a reason.
    pub passed_over: Vec<PassedOver>,
    /// Whether `passed_over` leaves some out.
    pub truncated: bool,
    /// The explanation in the trace's language, one sentence a line.
    pub sentences: Vec<String>,
}

impl Queue {
    /// Folds one event (at `position`) into the queue.
    pub fn apply(&mut self, position: u64, event: &Known) {
        match event {
            Known::Catalogue(CatalogueEvent::ServiceRegistered(service))
            | Known::Catalogue(CatalogueEvent::ServiceDetailsChanged(service)) => {
                self.durations.insert(service.service.clone(), service.duration_minutes);
            }
            Known::Catalogue(CatalogueEvent::CapacityPublished(published)) => self
                .publications
                .entry((published.office.clone(), published.date))
                .or_default()
                .push((position, published.clone())),
            Known::Booking(
                BookingEvent::Cancelled(terminagent_domain::BookingCancelled { units, .. })
                | BookingEvent::Lapsed(terminagent_domain::BookingLapsed { units, .. })
                | BookingEvent::Released(terminagent_domain::BookingReleased { units, .. }),
            ) => self.freed_at(units, position),
            Known::Wish(event) => self.apply_wish(position, event),
            _ => {}
        }
    }

    fn freed_at(&mut self, units: &[UnitRef], position: u64) {
        for unit in units {
            self.freed.insert(unit.clone(), position);
        }
    }

    fn apply_wish(&mut self, position: u64, event: &WishEvent) {
        if let WishEvent::Registered(registered) = event {
            let wish = QueuedWish {
                wish: registered.wish,
                registered_at: position,
                offices: registered.offices.clone(),
                services: registered.services.clone(),
                windows: registered.windows,
                until: registered.until,
                phase: Phase::Waiting { since: position },
                refused: HashMap::new(),
            };
            if registered.waits_at_once() {
                self.join(wish);
            } else {
                self.unconfirmed.insert(registered.wish, wish);
            }
            return;
        }
        if let WishEvent::Confirmed(confirmed) = event {
            // The confirmation is the wish's place in the queue (DESIGN.md: double opt-in).
            if let Some(mut wish) = self.unconfirmed.remove(&confirmed.wish) {
                wish.registered_at = position;
                wish.phase = Phase::Waiting { since: position };
                self.join(wish);
            }
            return;
        }
        if let WishEvent::Ended(ended) = event {
            self.unconfirmed.remove(&ended.wish);
        }
        let released: &[UnitRef] = match event {
            WishEvent::ProposalDeclined(closed)
            | WishEvent::ProposalExpired(closed)
            | WishEvent::ProposalWithdrawn(closed) => &closed.units,
            WishEvent::Ended(ended) => &ended.units,
            _ => &[],
        };
        let released = released.to_vec();
        self.freed_at(&released, position);
        let Some(wish) = self.index.get(&event.wish()).and_then(|&at| self.wishes.get_mut(at)) else {
            return;
        };
        // Over is over: a later event of an ended or fulfilled wish (only a
        // corrupt log has one; `audit verify` names it) does not put it back
        // in the queue. So dropping over wishes (`compact`) changes nothing.
        if wish.phase.over_at().is_some() {
            return;
        }
        match event {
            WishEvent::Registered(_) | WishEvent::Confirmed(_) => {}
            WishEvent::ProposalMade(made) => {
                wish.phase = Phase::Busy {
                    proposal: made.proposal,
                    since: position,
                }
            }
            WishEvent::ProposalAccepted(accepted) => {
                wish.phase = Phase::Fulfilled {
                    at: position,
                    booking: accepted.booking,
                }
            }
            WishEvent::ProposalDeclined(closed) | WishEvent::ProposalExpired(closed) => {
                let expired = matches!(event, WishEvent::ProposalExpired(_));
                for unit in &closed.units {
                    wish.refused.insert(unit.clone(), (position, expired));
                }
                wish.phase = Phase::Waiting { since: position };
            }
            WishEvent::ProposalWithdrawn(_) => wish.phase = Phase::Waiting { since: position },
            WishEvent::Ended(ended) => {
                wish.phase = Phase::Ended {
                    at: position,
                    reason: ended.reason,
                }
            }
        }
    }

    /// Drops the wishes that were over (ended or fulfilled) before every
    /// wish still in the queue joined. A later proposal goes to a wish in
    /// the queue now or to one joining later, so its explanation would only
    /// count these as over before its chosen wish joined: a count is all
    /// that is kept. The audit's index snapshots a compacted queue.
    pub fn compact(&mut self) {
        let keep_from = self
            .wishes
            .iter()
            .filter(|wish| wish.phase.over_at().is_none())
            .map(|wish| wish.registered_at)
            .min()
            .unwrap_or(u64::MAX);
        let before = self.wishes.len();
        self.wishes
            .retain(|wish| wish.phase.over_at().is_none_or(|at| at >= keep_from));
        self.compacted_over += (before - self.wishes.len()) as u64;
        self.index = self
            .wishes
            .iter()
            .enumerate()
            .map(|(at, wish)| (wish.wish, at))
            .collect();
    }

    /// How many wishes the queue holds one by one (not compacted away).
    pub fn wishes_held(&self) -> usize {
        self.wishes.len()
    }

    /// Whether `wish` may have been dropped by [`Queue::compact`]: it is not
    /// held, and some were dropped. A proposal to it (a corrupt log) is
    /// explained only by the whole fold, which still holds it.
    pub fn may_have_compacted(&self, wish: &WishId) -> bool {
        self.compacted_over > 0 && !self.index.contains_key(wish)
    }

    fn join(&mut self, wish: QueuedWish) {
        self.index.insert(wish.wish, self.wishes.len());
        self.wishes.push(wish);
    }

    /// The open wishes (waiting, or holding an open proposal) that name
    /// `office`, in queue order: (wish, registration position, offices, phase).
    pub fn open_wishes_for<'a>(
        &'a self,
        office: &'a OfficeId,
    ) -> impl Iterator<Item = (WishId, u64, &'a [OfficeId], QueuedPhase)> + 'a {
        self.wishes
            .iter()
            .filter(move |wish| wish.offices.contains(office))
            .filter_map(|wish| {
                let phase = match wish.phase {
                    Phase::Waiting { since } => QueuedPhase::Waiting { since },
                    Phase::Busy { proposal, since } => QueuedPhase::Proposed { proposal, since },
                    Phase::Fulfilled { .. } | Phase::Ended { .. } => return None,
                };
                Some((wish.wish, wish.registered_at, wish.offices.as_slice(), phase))
            })
    }

    /// The position from which `unit` was last free to propose: its
    /// publication or its last release, whichever came later.
    fn free_since(&self, unit: &UnitRef) -> u64 {
        let published = self
            .publications
            .get(&(unit.office.clone(), unit.date))
            .into_iter()
            .flatten()
            .filter(|(_, publication)| covers(publication, unit))
            .map(|(position, _)| *position)
            .max()
            .unwrap_or(0);
        published.max(self.freed.get(unit).copied().unwrap_or(0))
    }

    fn needed_minutes(&self, services: &[ServiceId]) -> Option<u32> {
        services
            .iter()
            .map(|service| self.durations.get(service).copied())
            .sum()
    }

    /// Why `made` (about to be folded) went to its wish.
    pub fn explain(&self, made: &ProposalMade) -> Why {
        let first = made.units.first();
        let run_minutes = u32::try_from((made.end - made.start).num_minutes()).unwrap_or(0);
        let (date, start, lane) = match first {
            Some(unit) => (unit.date.to_string(), unit.start.to_string(), unit.lane),
            None => (String::new(), String::new(), 0),
        };
        let hour = first.map(|unit| HourOfWeek::of(unit.date, unit.start));
        let chosen_at = self.index.get(&made.wish).copied();
        let chosen = chosen_at.map(|at| &self.wishes[at]);
        let waiting_since = chosen.and_then(|wish| match wish.phase {
            Phase::Waiting { since } => Some(since),
            _ => None,
        });
        let planned_from = made
            .units
            .iter()
            .map(|unit| self.free_since(unit))
            .chain(waiting_since)
            .max()
            .unwrap_or(0);
        let context = Context {
            made,
            hour,
            run_minutes,
            planned_from,
        };
        let mut why = Why {
            wish: made.wish.to_string(),
            registered_at: chosen.map(|wish| wish.registered_at),
            waiting_since,
            office: made.office.to_string(),
            date,
            start,
            lane,
            window: hour.map(window_key).unwrap_or_default(),
            needed_minutes: chosen.and_then(|wish| self.needed_minutes(&wish.services)),
            run_minutes,
            chosen_problem: match chosen {
                None => Some(Reason::Unexplained),
                // The chosen wish may have been waiting since just now: only the rules count.
                Some(wish) => self
                    .reason(wish, &context)
                    .filter(|reason| !matches!(reason, Reason::IdleLater { .. } | Reason::Unexplained)),
            },
            earlier: 0,
            over_before: 0,
            reasons: BTreeMap::new(),
            passed_over: Vec::new(),
            truncated: false,
            sentences: Vec::new(),
        };
        let Some(chosen) = chosen else {
            return why;
        };
        why.over_before += self.compacted_over;
        for wish in &self.wishes[..chosen_at.unwrap_or(0)] {
            if wish.phase.over_at().is_some_and(|at| at < chosen.registered_at) {
                why.over_before += 1;
                continue;
            }
            why.earlier += 1;
            let reason = self.reason(wish, &context).unwrap_or(Reason::Unexplained);
            *why.reasons.entry(reason.key()).or_default() += 1;
            if why.passed_over.len() < MAX_LISTED || reason == Reason::Unexplained {
                why.passed_over.push(PassedOver {
                    wish: wish.wish.to_string(),
                    registered_at: wish.registered_at,
                    reason,
                    sentence: String::new(),
                });
            } else {
                why.truncated = true;
            }
        }
        why
    }

    /// The first reason `wish` could not take the units now; `None`: it
    /// could (only `Unexplained` is left for an earlier wish then).
    fn reason(&self, wish: &QueuedWish, context: &Context<'_>) -> Option<Reason> {
        let made = context.made;
        let since = match wish.phase {
            Phase::Ended { at, reason } => {
                return Some(Reason::Ended {
                    at,
                    end_reason: end_reason(reason).to_owned(),
                });
            }
            Phase::Fulfilled { at, booking } => {
                return Some(Reason::Fulfilled {
                    at,
                    booking: booking.to_string(),
                });
            }
            Phase::Busy { .. } => None,
            Phase::Waiting { since } => Some(since),
        };
        if !wish.offices.contains(&made.office) {
            return Some(Reason::Office {
                offices: wish.offices.iter().map(ToString::to_string).collect(),
            });
        }
        if let Some(hour) = context.hour
            && !wish.windows.contains(hour)
        {
            return Some(Reason::Window {
                window: window_key(hour),
            });
        }
        if let (Some(until), Some(unit)) = (wish.until, made.units.first())
            && unit.date > until
        {
            return Some(Reason::AfterUntil {
                until: until.to_string(),
            });
        }
        if let Phase::Busy { proposal, since } = wish.phase
            && proposal != made.proposal
        {
            return Some(Reason::Busy {
                proposal: proposal.to_string(),
                at: since,
            });
        }
        if let Some((unit, (at, expired))) = made
            .units
            .iter()
            .find_map(|unit| wish.refused.get(unit).map(|refused| (unit, *refused)))
        {
            let unit = terminagent_domain::StreamName::unit(unit).to_string();
            return Some(if expired {
                Reason::Expired { at, unit }
            } else {
                Reason::Declined { at, unit }
            });
        }
        if let Some(needed) = self.needed_minutes(&wish.services)
            && needed > context.run_minutes
        {
            return Some(Reason::NeedsLonger {
                needed_minutes: needed,
                run_minutes: context.run_minutes,
            });
        }
        if let Some(since) = since
            && since > context.planned_from
        {
            return Some(Reason::IdleLater {
                at: since,
                planned_from: context.planned_from,
            });
        }
        None
    }
}

struct Context<'a> {
    made: &'a ProposalMade,
    hour: Option<HourOfWeek>,
    run_minutes: u32,
    planned_from: u64,
}

fn covers(publication: &CapacityPublished, unit: &UnitRef) -> bool {
    let lanes = publication.first_lane..publication.first_lane.saturating_add(publication.lanes);
    let (from, start) = (
        publication.from.minutes_since_midnight(),
        unit.start.minutes_since_midnight(),
    );
    let minutes = publication.unit_minutes.max(1);
    lanes.contains(&unit.lane)
        && start >= from
        && (start - from) % minutes == 0
        && start + minutes <= publication.to.minutes_since_midnight()
}

fn end_reason(reason: WishEndReason) -> &'static str {
    match reason {
        WishEndReason::Citizen => "citizen",
        WishEndReason::UnansweredProposals => "unanswered_proposals",
        WishEndReason::UntilPassed => "until_passed",
        WishEndReason::Unconfirmed => "unconfirmed",
    }
}

/// `tue 9`: the API's weekday key and the hour.
fn window_key(hour: HourOfWeek) -> String {
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][hour.weekday().num_days_from_monday() as usize];
    format!("{day} {}", hour.hour())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc, Weekday};
    use terminagent_domain::{
        EnvelopeId, LocalTime, ProposalClosed, ProposalId, SealedPersonalData, ServiceDetails, WishEnded,
        WishRegistered,
    };
    use ulid::Ulid;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn office(slug: &str) -> OfficeId {
        OfficeId::parse(slug).unwrap()
    }

    fn date() -> LocalDate {
        LocalDate::parse("2026-12-01").unwrap() // a Tuesday
    }

    fn unit(hhmm: &str) -> UnitRef {
        UnitRef {
            office: office("mitte"),
            date: date(),
            lane: 1,
            start: LocalTime::parse(hhmm).unwrap(),
        }
    }

    fn wish_id(n: u64) -> WishId {
        WishId::from_ulid(Ulid::from_parts(n, 1))
    }

    fn proposal_id(n: u64) -> ProposalId {
        ProposalId::from_ulid(Ulid::from_parts(n, 2))
    }

    fn register(n: u64, offices: &[&str], hours: &[(Weekday, u32)], services: &[&str]) -> Known {
        Known::Wish(WishEvent::Registered(WishRegistered {
            wish: wish_id(n),
            offices: offices.iter().map(|slug| office(slug)).collect(),
            services: services.iter().map(|s| ServiceId::parse(s).unwrap()).collect(),
            windows: WeeklyWindows::new(hours.iter().copied()).unwrap(),
            until: None,
            lapses_at: None,
            citizen: SealedPersonalData {
                envelope_id: EnvelopeId::from_ulid(Ulid::from_parts(n, 3)),
                nonce: String::new(),
                ciphertext: String::new(),
            },
            links: Vec::new(),
            registered_at: at("2026-11-20T08:00:00Z"),
            confirm_by: None,
        }))
    }

    fn made(proposal: u64, wish: u64, units: &[&str]) -> ProposalMade {
        let units: Vec<UnitRef> = units.iter().map(|hhmm| unit(hhmm)).collect();
        let start = at(&format!("2026-12-01T{}:00Z", units[0].start));
        ProposalMade {
            proposal: proposal_id(proposal),
            wish: wish_id(wish),
            office: office("mitte"),
            start,
            end: start + chrono::Duration::minutes(12 * units.len() as i64),
            expires_at: at("2026-11-30T08:00:00Z"),
            units,
            links: Vec::new(),
        }
    }

    fn service(slug: &str, minutes: u32) -> Known {
        Known::Catalogue(CatalogueEvent::ServiceRegistered(ServiceDetails {
            service: ServiceId::parse(slug).unwrap(),
            name: terminagent_domain::CatalogueName::parse(slug).unwrap(),
            duration_minutes: minutes,
            walk_in: false,
            description: None,
        }))
    }

    fn publish(from: &str, to: &str) -> Known {
        Known::Catalogue(CatalogueEvent::CapacityPublished(CapacityPublished {
            office: office("mitte"),
            date: date(),
            from: LocalTime::parse(from).unwrap(),
            to: LocalTime::parse(to).unwrap(),
            unit_minutes: 12,
            lanes: 1,
            first_lane: 1,
            units: 0,
        }))
    }

    #[test]
    fn every_earlier_wish_gets_its_reason() {
        let mut queue = Queue::default();
        let tue9 = &[(Weekday::Tue, 9)][..];
        let events = [
            service("ausweis", 12),
            service("pass", 24),
            register(1, &["nord"], tue9, &["ausweis"]),
            register(2, &["mitte"], &[(Weekday::Wed, 9)], &["ausweis"]),
            register(3, &["mitte"], tue9, &["ausweis"]),
            register(4, &["mitte"], tue9, &["pass"]),
            register(5, &["mitte"], tue9, &["ausweis"]),
            register(6, &["mitte"], tue9, &["ausweis"]),
            register(7, &["mitte"], tue9, &["ausweis"]),
            publish("09:00", "09:24"),
            Known::Wish(WishEvent::ProposalMade(made(50, 3, &["09:00"]))),
            Known::Wish(WishEvent::ProposalDeclined(ProposalClosed {
                proposal: proposal_id(50),
                wish: wish_id(3),
                units: vec![unit("09:00")],
            })),
            Known::Wish(WishEvent::ProposalMade(made(51, 5, &["09:12"]))),
            Known::Wish(WishEvent::Ended(WishEnded {
                wish: wish_id(6),
                reason: WishEndReason::Citizen,
                citizen: EnvelopeId::from_ulid(Ulid::from_parts(6, 3)),
                proposal: None,
                units: Vec::new(),
            })),
        ];
        for (position, event) in (1..).zip(&events) {
            queue.apply(position, event);
        }
        let why = queue.explain(&made(52, 7, &["09:00"]));
        assert_eq!(why.registered_at, Some(9));
        assert_eq!(why.waiting_since, Some(9));
        assert_eq!(why.chosen_problem, None, "{why:?}");
        assert_eq!(
            (why.window.as_str(), why.run_minutes, why.needed_minutes),
            ("tue 9", 12, Some(12))
        );
        let reasons: Vec<(String, Reason)> = why
            .passed_over
            .iter()
            .map(|passed| (passed.wish.clone(), passed.reason.clone()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    wish_id(1).to_string(),
                    Reason::Office {
                        offices: vec!["nord".into()]
                    }
                ),
                (wish_id(2).to_string(), Reason::Window { window: "tue 9".into() }),
                (
                    wish_id(3).to_string(),
                    Reason::Declined {
                        at: 12,
                        unit: "unit:mitte:2026-12-01:1:0900".into()
                    }
                ),
                (
                    wish_id(4).to_string(),
                    Reason::NeedsLonger {
                        needed_minutes: 24,
                        run_minutes: 12
                    }
                ),
                (
                    wish_id(5).to_string(),
                    Reason::Busy {
                        proposal: proposal_id(51).to_string(),
                        at: 13
                    }
                ),
                (
                    wish_id(6).to_string(),
                    Reason::Ended {
                        at: 14,
                        end_reason: "citizen".into()
                    }
                ),
            ]
        );
        assert_eq!(why.earlier, 6);
        assert_eq!(why.reasons.values().sum::<u64>(), 6);
    }

    #[test]
    fn an_earlier_wish_that_fits_is_unexplained_unless_it_waited_only_later() {
        let mut queue = Queue::default();
        let tue9 = &[(Weekday::Tue, 9)][..];
        for (position, event) in (1..).zip([
            service("ausweis", 12),
            register(1, &["mitte"], tue9, &["ausweis"]),
            register(2, &["mitte"], tue9, &["ausweis"]),
            publish("09:00", "09:12"),
        ]) {
            queue.apply(position, &event);
        }
        let why = queue.explain(&made(60, 2, &["09:00"]));
        assert_eq!(why.passed_over[0].reason, Reason::Unexplained);
        assert_eq!(why.reasons.get("unexplained"), Some(&1));

        // Wish 1 had a proposal elsewhere and let it go only after the unit was planned for wish 2.
        let mut queue = Queue::default();
        for (position, event) in (1..).zip([
            service("ausweis", 12),
            register(1, &["mitte"], tue9, &["ausweis"]),
            register(2, &["mitte"], tue9, &["ausweis"]),
            publish("09:12", "09:24"),
            Known::Wish(WishEvent::ProposalMade(made(61, 1, &["09:12"]))),
            publish("09:00", "09:12"),
            Known::Wish(WishEvent::ProposalDeclined(ProposalClosed {
                proposal: proposal_id(61),
                wish: wish_id(1),
                units: vec![unit("09:12")],
            })),
        ]) {
            queue.apply(position, &event);
        }
        let why = queue.explain(&made(62, 2, &["09:00"]));
        assert_eq!(why.passed_over[0].reason, Reason::IdleLater { at: 7, planned_from: 6 });
    }

    #[test]
    fn a_chosen_wish_that_does_not_fit_is_named() {
        let mut queue = Queue::default();
        queue.apply(1, &register(1, &["nord"], &[(Weekday::Tue, 9)], &["ausweis"]));
        let why = queue.explain(&made(70, 1, &["09:00"]));
        assert_eq!(
            why.chosen_problem,
            Some(Reason::Office {
                offices: vec!["nord".into()]
            })
        );
        let unknown = queue.explain(&made(71, 9, &["09:00"]));
        assert_eq!(unknown.chosen_problem, Some(Reason::Unexplained));
        assert_eq!(unknown.registered_at, None);
    }

    #[test]
    fn the_queue_place_is_the_confirmation() {
        let tue9 = &[(Weekday::Tue, 9)][..];
        let pending = |n: u64| match register(n, &["mitte"], tue9, &["ausweis"]) {
            Known::Wish(WishEvent::Registered(registered)) => Known::Wish(WishEvent::Registered(WishRegistered {
                confirm_by: Some(at("2026-11-20T08:30:00Z")),
                ..registered
            })),
            _ => unreachable!(),
        };
        let confirmed = |n: u64| {
            Known::Wish(WishEvent::Confirmed(terminagent_domain::WishConfirmed {
                wish: wish_id(n),
                citizen: EnvelopeId::from_ulid(Ulid::from_parts(n, 3)),
                confirmed_at: at("2026-11-20T08:10:00Z"),
            }))
        };
        let mut queue = Queue::default();
        // Wish 1 registered first, wish 2 confirmed first; wish 3 never confirmed.
        for (position, event) in (1..).zip([
            service("ausweis", 12),
            pending(1),
            pending(2),
            pending(3),
            confirmed(2),
            confirmed(1),
            publish("09:00", "09:12"),
        ]) {
            queue.apply(position, &event);
        }
        let to_second = queue.explain(&made(80, 2, &["09:00"]));
        assert_eq!(to_second.registered_at, Some(5), "its place is its confirmation's");
        assert!(to_second.passed_over.is_empty(), "{to_second:?}");
        let to_first = queue.explain(&made(81, 1, &["09:00"]));
        assert_eq!(to_first.registered_at, Some(6));
        let passed: Vec<(String, u64)> = to_first
            .passed_over
            .iter()
            .map(|passed| (passed.wish.clone(), passed.registered_at))
            .collect();
        assert_eq!(passed, [(wish_id(2).to_string(), 5)]);
    }
}
