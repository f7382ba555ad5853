//! Statistics of office days (issue 14, API.md "Statistics"): the plain
//! data a statistics view keeps per office and office-local date, how days
//! add up over a range and over offices, and the arithmetic of the figures
//! (mean, nearest-rank percentiles, rates). No events and no clock here:
//! the view that folds the log (`services/src/projections/statistics.rs`)
//! says what each event adds; this module only counts and sums.
//!
//! Everything is kept as counters that only grow, and durations as lists
//! of whole seconds, so that days merge by adding (counters) and
//! concatenating (durations) — a range's percentile is taken over all its
//! days' durations, never averaged from daily figures. Differences
//! (units published minus withdrawn, booked minus given back) and ratios
//! are taken only when a figure is asked for.
//!
//! **Percentiles** are nearest-rank: of `n` values sorted ascending, the
//! `p`-th percentile is the value at rank `⌈p·n/100⌉` (at least 1), so it
//! is always one of the values (the median of an even count is the lower
//! middle one). **Means** are exact (the sum of the seconds over the
//! count); figures without any value are `None`, never 0.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::floor::{EstimatedCall, MissedReason};
use crate::ids::ServiceId;
use crate::wish::WishEndReason;

/// The `percent`-th percentile (0–100; above 100 counts as 100) of `sorted`
/// by nearest rank: the value at rank `⌈percent·n/100⌉`, at least rank 1.
/// `None` for no values. `sorted` must be ascending.
pub fn percentile(sorted: &[u32], percent: u32) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let percent = percent.min(100) as usize;
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// The arithmetic mean of `values`; `None` for none.
pub fn mean(values: &[u32]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let sum: u64 = values.iter().map(|value| u64::from(*value)).sum();
    Some(sum as f64 / values.len() as f64)
}

/// `part ÷ whole`; `None` when `whole` is 0.
pub fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Durations in whole seconds, in the order they were recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durations(Vec<u32>);

impl Durations {
    /// Records `to − from`, truncated to whole seconds; a negative span
    /// (e.g. a visitor called before their start) counts as 0.
    pub fn record_between(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.record_seconds((to - from).num_seconds());
    }

    /// Records `seconds`, clamped to `0..=u32::MAX`.
    pub fn record_seconds(&mut self, seconds: i64) {
        self.0.push(u32::try_from(seconds.max(0)).unwrap_or(u32::MAX));
    }

    /// Adds another day's (or office's) durations.
    pub fn merge(&mut self, other: &Durations) {
        self.0.extend_from_slice(&other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Count, mean, median, 90th percentile and maximum; `None` without any.
    pub fn summary(&self) -> Option<DurationSummary> {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        Some(DurationSummary {
            count: sorted.len(),
            mean: mean(&sorted)?,
            p50: percentile(&sorted, 50)?,
            p90: percentile(&sorted, 90)?,
            max: *sorted.last()?,
        })
    }
}

/// What [`Durations::summary`] answers, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DurationSummary {
    pub count: usize,
    pub mean: f64,
    pub p50: u32,
    pub p90: u32,
    pub max: u32,
}

/// Bookings of an office day (the office-local date of their start), by
/// what became of them. A booking is counted once in `online` or
/// `walk_in` when it is placed, and once more for each stage it reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookingCounts {
    /// Booked online: requested through the API or the pages
    /// (`booking.requested`), or placed by accepting a waitlist proposal
    /// (`proposal.accepted`, also counted in `from_waitlist`).
    pub online: u64,
    /// Of `online`, placed by accepting a proposal.
    pub from_waitlist: u64,
    /// Walk-in tickets (`booking.ticket_issued`).
    pub walk_in: u64,
    /// Reached confirmed: confirmed by link, and every ticket and accepted
    /// proposal (born confirmed). Later cancellations do not undo it.
    pub confirmed: u64,
    /// Cancelled by the citizen (cancel link; `booking.cancelled` without a reason).
    pub cancelled_by_citizen: u64,
    /// Cancelled by the office: staff on the citizen's behalf or a closure
    /// (`booking.cancelled` with a reason).
    pub cancelled_by_office: u64,
    /// Never confirmed in time (`booking.lapsed`).
    pub lapsed: u64,
    /// Served to the end (`visit.finished`).
    pub served: u64,
    /// Never checked in (`visit.missed`, reason `no_show`).
    pub no_shows: u64,
    /// Called and recalled in vain (`visit.missed`, reason `absent_when_called`).
    pub absent_when_called: u64,
}

impl BookingCounts {
    pub fn cancelled(&self) -> u64 {
        self.cancelled_by_citizen + self.cancelled_by_office
    }

    /// Visits marked missed, for either reason.
    pub fn missed(&self) -> u64 {
        self.no_shows + self.absent_when_called
    }

    pub fn count_missed(&mut self, reason: MissedReason) {
        match reason {
            MissedReason::NoShow => self.no_shows += 1,
            MissedReason::AbsentWhenCalled => self.absent_when_called += 1,
        }
    }

    /// Missed ÷ (served + missed): of the visits that ended on the floor,
    /// the share that did not come (or not when called). Bookings not yet
    /// ended (still confirmed, waiting, being served) do not count either
    /// way. `None` before any visit ended.
    pub fn no_show_rate(&self) -> Option<f64> {
        ratio(self.missed(), self.served + self.missed())
    }

    pub fn merge(&mut self, other: &BookingCounts) {
        self.online += other.online;
        self.from_waitlist += other.from_waitlist;
        self.walk_in += other.walk_in;
        self.confirmed += other.confirmed;
        self.cancelled_by_citizen += other.cancelled_by_citizen;
        self.cancelled_by_office += other.cancelled_by_office;
        self.lapsed += other.lapsed;
        self.served += other.served;
        self.no_shows += other.no_shows;
        self.absent_when_called += other.absent_when_called;
    }
}

/// Capacity units of an office day, as four counters that only grow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitCounts {
    /// Units published (`capacity.published`).
    pub published: u64,
    /// Units taken out of service by closures (`capacity.withdrawn`).
    pub withdrawn: u64,
    /// Units of bookings when they became confirmed (a confirmation by
    /// link, a ticket, an accepted proposal).
    pub booked: u64,
    /// Units confirmed bookings gave back: cancelled, or freed after a
    /// missed visit (`booking.released`).
    pub returned: u64,
    /// Units of the bookings served (at `visit.finished`).
    pub served: u64,
    /// Units a booking gave back (cancelled, lapsed, released after a
    /// missed visit) that a later booking took again: by accepting a
    /// waitlist proposal, or publicly (online or as a walk-in ticket).
    /// Each giving back and taking again counts once.
    pub refilled_from_waitlist: u64,
    pub refilled_publicly: u64,
}

impl UnitCounts {
    /// Published and not withdrawn.
    pub fn published_units(&self) -> u64 {
        self.published.saturating_sub(self.withdrawn)
    }

    /// Held by confirmed bookings: booked minus given back. A pending
    /// booking's units are not counted until it is confirmed; a missed
    /// visit keeps the units it had begun (or that lay behind it).
    pub fn booked_units(&self) -> u64 {
        self.booked.saturating_sub(self.returned)
    }

    /// Booked ÷ published units; `None` when nothing is published.
    pub fn utilisation(&self) -> Option<f64> {
        ratio(self.booked_units(), self.published_units())
    }

    pub fn merge(&mut self, other: &UnitCounts) {
        self.published += other.published;
        self.withdrawn += other.withdrawn;
        self.booked += other.booked;
        self.returned += other.returned;
        self.served += other.served;
        self.refilled_from_waitlist += other.refilled_from_waitlist;
        self.refilled_publicly += other.refilled_publicly;
    }
}

/// How long the counters of an office day were open and paused, in
/// seconds: each span from an opening to the next pause or closing counts
/// as open, each span from a pause to the next opening or closing as
/// paused. A span that has not ended (a counter still open, or left open
/// at the end of the day) is not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterTimes {
    pub open_seconds: u64,
    pub paused_seconds: u64,
}

impl CounterTimes {
    pub fn merge(&mut self, other: &CounterTimes) {
        self.open_seconds += other.open_seconds;
        self.paused_seconds += other.paused_seconds;
    }
}

/// The waitlist, counted by date: wishes by the office-local date they
/// were registered, proposals (and their answers) by the office-local date
/// the proposal was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitlistCounts {
    /// Wishes registered (`wish.registered`).
    pub registered: u64,
    /// Proposals made (`proposal.made`).
    pub proposals: u64,
    /// Of those, accepted (a booking placed).
    pub accepted: u64,
    /// Declined by the citizen.
    pub declined: u64,
    /// Expired unanswered.
    pub expired: u64,
    /// Withdrawn because a closure took their units.
    pub withdrawn: u64,
    /// Wishes of that registration date that ended without a booking, by why.
    pub ended_by_citizen: u64,
    pub ended_unanswered: u64,
    pub ended_until_passed: u64,
    /// Of the wishes registered that date that got a proposal: the time
    /// from registration to the first proposal, in seconds.
    pub to_first_proposal: Durations,
    /// Unlike the rest, by the date it happened: wishes that left the
    /// queue that date (a proposal accepted, or the wish ended). With
    /// `registered` it gives the wishes waiting at the end of each date.
    pub left: u64,
}

impl WaitlistCounts {
    /// Wishes ended without a booking, for any reason.
    pub fn ended(&self) -> u64 {
        self.ended_by_citizen + self.ended_unanswered + self.ended_until_passed
    }

    pub fn count_ended(&mut self, reason: WishEndReason) {
        match reason {
            WishEndReason::Citizen => self.ended_by_citizen += 1,
            WishEndReason::UnansweredProposals => self.ended_unanswered += 1,
            WishEndReason::UntilPassed => self.ended_until_passed += 1,
            // Never confirmed, so never in the queue: not counted as registered either.
            WishEndReason::Unconfirmed => {}
        }
    }

    pub fn merge(&mut self, other: &WaitlistCounts) {
        self.registered += other.registered;
        self.proposals += other.proposals;
        self.accepted += other.accepted;
        self.declined += other.declined;
        self.expired += other.expired;
        self.withdrawn += other.withdrawn;
        self.ended_by_citizen += other.ended_by_citizen;
        self.ended_unanswered += other.ended_unanswered;
        self.ended_until_passed += other.ended_until_passed;
        self.to_first_proposal.merge(&other.to_first_proposal);
        self.left += other.left;
    }
}

/// The figures of a slice of an office day: the bookings that start in
/// one hour of the day, or those of one service. A booking of several
/// services counts in the slice of each, so services do not add up to the
/// day; hours do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SliceFigures {
    pub bookings: BookingCounts,
    /// As [`DayFigures::waiting`], of the slice's visits.
    pub waiting: Durations,
    /// As [`DayFigures::processing`], of the slice's visits.
    pub processing: Durations,
}

impl SliceFigures {
    pub fn merge(&mut self, other: &SliceFigures) {
        self.bookings.merge(&other.bookings);
        self.waiting.merge(&other.waiting);
        self.processing.merge(&other.processing);
    }
}

/// Adds each slice of `other` to the same slice of `into`.
pub fn merge_slices<K: Ord + Clone>(into: &mut BTreeMap<K, SliceFigures>, other: &BTreeMap<K, SliceFigures>) {
    for (key, slice) in other {
        into.entry(key.clone()).or_default().merge(slice);
    }
}

/// Where a call fell against the window the kiosk estimated at check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimateOutcome {
    /// Called before the window's earliest time: the wait was shorter.
    Below,
    /// Called within the window, both ends included.
    Inside,
    /// Called after the window's latest time: the wait was longer.
    Above,
}

impl EstimateOutcome {
    pub fn of(estimate: &EstimatedCall, called_at: DateTime<Utc>) -> Self {
        if called_at < estimate.earliest {
            EstimateOutcome::Below
        } else if called_at > estimate.latest {
            EstimateOutcome::Above
        } else {
            EstimateOutcome::Inside
        }
    }
}

/// The kiosk's wait estimates of an office day held against the waits
/// that followed: check-ins that carried an estimate, and of those called,
/// where the first call fell. A visit never called (missed) counts only in
/// `estimated`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EstimateCounts {
    pub estimated: u64,
    pub inside: u64,
    pub below: u64,
    pub above: u64,
}

impl EstimateCounts {
    pub fn count(&mut self, outcome: EstimateOutcome) {
        match outcome {
            EstimateOutcome::Below => self.below += 1,
            EstimateOutcome::Inside => self.inside += 1,
            EstimateOutcome::Above => self.above += 1,
        }
    }

    /// Inside ÷ the estimated visits called; `None` before any was called.
    pub fn hit_rate(&self) -> Option<f64> {
        ratio(self.inside, self.inside + self.below + self.above)
    }

    pub fn merge(&mut self, other: &EstimateCounts) {
        self.estimated += other.estimated;
        self.inside += other.inside;
        self.below += other.below;
        self.above += other.above;
    }
}

/// Everything counted for one office day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFigures {
    pub bookings: BookingCounts,
    pub units: UnitCounts,
    /// From check-in (or the booking's start, when checked in early) to
    /// the first call, of each visit called.
    pub waiting: Durations,
    /// From the first start of service to the finish, of each visit served.
    pub processing: Durations,
    pub counters: CounterTimes,
    pub waitlist: WaitlistCounts,
    /// By the office-local hour (0–23) of the booking's start.
    pub by_hour: BTreeMap<u8, SliceFigures>,
    /// By each service the booking names.
    pub by_service: BTreeMap<ServiceId, SliceFigures>,
    /// The kiosk's wait estimates against the calls.
    pub estimates: EstimateCounts,
}

impl DayFigures {
    /// Adds another day's or office's figures, waitlist included.
    pub fn merge(&mut self, other: &DayFigures) {
        self.merge_floor_and_bookings(other);
        self.waitlist.merge(&other.waitlist);
    }

    /// Adds everything but the waitlist: a wish names several offices and
    /// counts at each, so the waitlist of several offices is not their sum.
    pub fn merge_floor_and_bookings(&mut self, other: &DayFigures) {
        self.bookings.merge(&other.bookings);
        self.units.merge(&other.units);
        self.waiting.merge(&other.waiting);
        self.processing.merge(&other.processing);
        self.counters.merge(&other.counters);
        merge_slices(&mut self.by_hour, &other.by_hour);
        merge_slices(&mut self.by_service, &other.by_service);
        self.estimates.merge(&other.estimates);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nearest_rank_percentiles_are_values_of_the_list() {
        let sorted = [15, 20, 35, 40, 50];
        // Ranks ⌈p·5/100⌉: p30 → 2, p40 → 2, p50 → 3, p90 → 5, p100 → 5, p0 → 1 (at least rank 1).
        assert_eq!(percentile(&sorted, 30), Some(20));
        assert_eq!(percentile(&sorted, 40), Some(20));
        assert_eq!(percentile(&sorted, 50), Some(35));
        assert_eq!(percentile(&sorted, 90), Some(50));
        assert_eq!(percentile(&sorted, 100), Some(50));
        assert_eq!(percentile(&sorted, 0), Some(15));
        assert_eq!(percentile(&sorted, 250), Some(50), "above 100 is 100");
        // The median of an even count is the lower middle value.
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn means_are_exact_and_absent_for_nothing() {
        assert_eq!(mean(&[60, 90, 150]), Some(100.0));
        assert_eq!(mean(&[u32::MAX, u32::MAX]), Some(u32::MAX as f64), "no overflow");
        assert_eq!(mean(&[]), None);
        assert_eq!(ratio(1, 4), Some(0.25));
        assert_eq!(ratio(1, 0), None);
    }

    #[test]
    fn durations_clamp_and_summarise() {
        let at = |seconds: i64| DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap();
        let mut durations = Durations::default();
        durations.record_between(at(0), at(600));
        durations.record_between(at(100), at(40)); // negative: 0
        durations.record_between(at(0), at(90));
        durations.record_seconds(i64::MAX);
        assert_eq!(durations.0, [600, 0, 90, u32::MAX]);
        assert_eq!(Durations::default().summary(), None);
        let mut day = Durations::default();
        day.record_seconds(300);
        day.record_seconds(60);
        let mut other = Durations::default();
        other.record_seconds(120);
        day.merge(&other);
        assert_eq!(
            day.summary(),
            Some(DurationSummary {
                count: 3,
                mean: 160.0,
                p50: 120,
                p90: 300,
                max: 300
            })
        );
    }

    #[test]
    fn counts_derive_their_totals_and_rates() {
        let mut bookings = BookingCounts {
            served: 3,
            ..BookingCounts::default()
        };
        assert_eq!(bookings.no_show_rate(), Some(0.0));
        bookings.count_missed(MissedReason::NoShow);
        assert_eq!(bookings.missed(), 1);
        assert_eq!(bookings.no_show_rate(), Some(0.25));
        assert_eq!(BookingCounts::default().no_show_rate(), None);

        let units = UnitCounts {
            published: 10,
            withdrawn: 2,
            booked: 5,
            returned: 1,
            served: 2,
            ..UnitCounts::default()
        };
        assert_eq!((units.published_units(), units.booked_units()), (8, 4));
        assert_eq!(units.utilisation(), Some(0.5));
        assert_eq!(UnitCounts::default().utilisation(), None);

        let mut waitlist = WaitlistCounts::default();
        waitlist.count_ended(WishEndReason::Citizen);
        waitlist.count_ended(WishEndReason::UntilPassed);
        assert_eq!(waitlist.ended(), 2);
    }

    #[test]
    fn days_merge_by_adding_and_offices_without_their_waitlist() {
        let mut one = DayFigures::default();
        one.bookings.online = 2;
        one.units.published = 10;
        one.waiting.record_seconds(60);
        one.counters.open_seconds = 100;
        one.waitlist.registered = 1;
        let mut two = one.clone();
        two.waitlist.to_first_proposal.record_seconds(3600);
        let mut merged = one.clone();
        merged.merge(&two);
        assert_eq!(merged.bookings.online, 4);
        assert_eq!(merged.units.published, 20);
        assert_eq!(merged.waiting.len(), 2);
        assert_eq!(merged.counters.open_seconds, 200);
        assert_eq!(merged.waitlist.registered, 2);
        assert_eq!(merged.waitlist.to_first_proposal.len(), 1);
        let mut offices = one.clone();
        offices.merge_floor_and_bookings(&two);
        assert_eq!(offices.bookings.online, 4);
        assert_eq!(
            offices.waitlist, one.waitlist,
            "the waitlist is not summed over offices"
        );
    }

    #[test]
    fn a_call_falls_below_inside_or_above_the_estimated_window() {
        let at = |minute: i64| DateTime::from_timestamp(1_800_000_000 + 60 * minute, 0).unwrap();
        let window = EstimatedCall {
            earliest: at(10),
            latest: at(25),
        };
        assert_eq!(EstimateOutcome::of(&window, at(9)), EstimateOutcome::Below);
        assert_eq!(
            EstimateOutcome::of(&window, at(10)),
            EstimateOutcome::Inside,
            "both ends inside"
        );
        assert_eq!(EstimateOutcome::of(&window, at(25)), EstimateOutcome::Inside);
        assert_eq!(EstimateOutcome::of(&window, at(26)), EstimateOutcome::Above);
        let mut counts = EstimateCounts {
            estimated: 4,
            ..EstimateCounts::default()
        };
        assert_eq!(counts.hit_rate(), None, "none called yet");
        for minute in [9, 12, 20, 30] {
            counts.count(EstimateOutcome::of(&window, at(minute)));
        }
        assert_eq!((counts.below, counts.inside, counts.above), (1, 2, 1));
        assert_eq!(counts.hit_rate(), Some(0.5));
    }

    #[test]
    fn check_ins_recorded_before_estimates_still_parse() {
        let old = r#"{"booking":"01JF0000000000000000000000","office":"mitte","date":"2026-12-01","number":"1","start":"2026-12-01T09:00:00Z","checked_in_at":"2026-12-01T08:55:00Z"}"#;
        let parsed: Result<crate::floor::VisitCheckedIn, _> = serde_json::from_str(old);
        let event = parsed.unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(event.estimate, None);
        let again = serde_json::to_string(&event).unwrap();
        assert!(!again.contains("estimate"), "no estimate, no field: {again}");
    }

    #[test]
    fn slices_merge_per_key() {
        let mut day = DayFigures::default();
        day.by_hour.entry(9).or_default().bookings.online = 2;
        let mut other = DayFigures::default();
        other.by_hour.entry(9).or_default().waiting.record_seconds(60);
        other.by_hour.entry(10).or_default().bookings.walk_in = 1;
        day.merge_floor_and_bookings(&other);
        assert_eq!(day.by_hour[&9].bookings.online, 2);
        assert_eq!(day.by_hour[&9].waiting.len(), 1);
        assert_eq!(day.by_hour[&10].bookings.walk_in, 1);
    }

    /// The percentile by definition: the smallest value of the list such
    /// that at least `percent`% of the values are at or below it.
    fn naive_percentile(values: &[u32], percent: u32) -> Option<u32> {
        let mut candidates = values.to_vec();
        candidates.sort_unstable();
        candidates.into_iter().find(|candidate| {
            let at_or_below = values.iter().filter(|value| *value <= candidate).count();
            100 * at_or_below >= percent.min(100) as usize * values.len()
        })
    }

    proptest! {
        #[test]
        fn percentile_and_mean_agree_with_their_definitions(
            values in proptest::collection::vec(0u32..5_000, 0..60),
            percent in 0u32..=110,
        ) {
            let mut sorted = values.clone();
            sorted.sort_unstable();
            prop_assert_eq!(percentile(&sorted, percent), naive_percentile(&values, percent));
            let naive_mean = (!values.is_empty())
                .then(|| values.iter().map(|v| f64::from(*v)).sum::<f64>() / values.len() as f64);
            match (mean(&values), naive_mean) {
                (Some(exact), Some(naive)) => prop_assert!((exact - naive).abs() < 1e-9),
                (exact, naive) => prop_assert_eq!(exact, naive),
            }
        }

        #[test]
        fn a_range_summarises_like_its_days_put_together(
            days in proptest::collection::vec(proptest::collection::vec(0i64..100_000, 0..10), 0..8),
        ) {
            let mut merged = Durations::default();
            let mut all = Vec::new();
            for day in &days {
                let mut durations = Durations::default();
                day.iter().for_each(|seconds| durations.record_seconds(*seconds));
                merged.merge(&durations);
                all.extend(day.iter().map(|seconds| *seconds as u32));
            }
            all.sort_unstable();
            let summary = merged.summary();
            prop_assert_eq!(summary.map(|s| s.count), (!all.is_empty()).then_some(all.len()));
            prop_assert_eq!(summary.map(|s| s.max), all.last().copied());
            prop_assert_eq!(summary.map(|s| s.p90), naive_percentile(&all, 90));
            prop_assert_eq!(summary.map(|s| s.p50), naive_percentile(&all, 50));
        }
    }
}
