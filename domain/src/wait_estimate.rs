//! The walk-in ticket's estimated wait (issue 13, the kiosk's "Terminmarke"):
//! how many visitors are ahead of a ticket and, as a range of minutes, when
//! it will probably be called. ZMS prints a wait from a fixed average per
//! visitor; here the day's own processing times so far are the measure, and
//! before anyone was served today the services' catalogue durations.
//!
//! Plain data in, no clock: the caller passes `now`, the ticket's place,
//! the floor's queue, who is still expected, the open counters and the
//! processing times ([`processing_times`] and [`open_counters`] read the
//! latter two from a [`FloorDay`]). Nothing here decides anything: the
//! answer is printed on the ticket; only the kiosk's check-in records its
//! call window (`visit.checked_in`'s `estimate`, for the statistics).
//!
//! **Who is ahead.** A visitor is *ahead* of the ticket when "next" would
//! call them first as far as can be told now. "Next" calls by (start,
//! check-in); the ticket has not checked in yet, so among equal starts the
//! lower waiting number (handed out earlier) is taken to check in first. So
//! a visitor is ahead when their (start, waiting number) comes before the
//! ticket's and they are either
//! - *waiting*: checked in (or back from parking) and not called yet, or
//! - *expected*: a confirmed booking or ticket of the same office day,
//!   neither checked in nor marked missed, that may still check in (its
//!   start + `--check-in-late` has not passed).
//!
//! Not ahead: whoever is called, being served, parked, finished or missed,
//! cancelled bookings, and every start after the ticket's. Expected
//! visitors may never come; counting them makes the estimate err on the
//! long side, which a visitor forgives more easily than the other.
//!
//! **The range.** With `n` visitors ahead and `c` open counters (at least
//! one: before the first counter opens, one is assumed), the work ahead is
//! shared by the counters: from `n × q1 / c` to `n × q3 / c`, where q1 and q3
//! are the lower and upper quartiles (nearest rank) of the processing
//! times — started → finished of today's finished visits. Before any visit
//! finished today, the quartiles of the planned durations (summed service
//! time) of the visitors ahead stand in, and [`EstimateBasis`] says so. The
//! low end is rounded down to 5 minutes, the high end up; neither lies
//! before the ticket's own start (that bound is rounded up), and the high
//! end is at least 5 minutes after the low one, so the answer is always a
//! range. On the clock both ends go to the nearest 5-minute mark, the
//! earliest again not before the ticket's start.

use chrono::{DateTime, Duration, Utc};

use crate::booking::WaitingNumber;
use crate::floor::{CounterStatus, FloorDay};

/// Minutes the range is rounded to.
pub const ROUNDING_MINUTES: u32 = 5;

/// A visitor's place in the day, as the estimate weighs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePlace {
    /// The start of the booking's (or ticket's) slot.
    pub start: DateTime<Utc>,
    pub number: WaitingNumber,
    /// How long its services take by the catalogue (the slot's end − start).
    pub planned: Duration,
}

impl QueuePlace {
    /// Called before `other` as far as can be told before check-in: earlier
    /// start, or the same start and a lower waiting number.
    pub fn comes_before(&self, other: &QueuePlace) -> bool {
        (self.start, self.number) < (other.start, other.number)
    }
}

/// Everything the estimate looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitQuestion {
    pub now: DateTime<Utc>,
    /// The ticket whose wait is asked for.
    pub ticket: QueuePlace,
    /// The floor's queue: checked in or back from parking, not called.
    pub waiting: Vec<QueuePlace>,
    /// Confirmed bookings and tickets of the office day neither checked in
    /// nor marked missed (the ticket itself may be among them).
    pub expected: Vec<QueuePlace>,
    /// `--check-in-late`: an expected visitor whose start + this has passed
    /// can no longer check in and is not counted.
    pub check_in_late: Duration,
    /// Counters open now (not paused, not closed).
    pub open_counters: usize,
    /// Started → finished of the day's finished visits.
    pub processing: Vec<Duration>,
}

/// What the range was measured by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimateBasis {
    /// Today's processing times so far, of this many finished visits.
    ProcessingTimes { finished: usize },
    /// Nobody finished yet today: the services' durations by the catalogue.
    ServiceDurations,
}

/// The answer printed on the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitEstimate {
    /// Visitors ahead of the ticket (see the module's definition).
    pub ahead: usize,
    /// From `now`, rounded down to [`ROUNDING_MINUTES`], never before the
    /// ticket's start (rounded up).
    pub low_minutes: u32,
    /// From `now`, rounded up, at least [`ROUNDING_MINUTES`] after the low end.
    pub high_minutes: u32,
    /// The range on the clock: `now` + each end, to the nearest 5-minute
    /// mark ("Aufruf etwa 09:10 bis 09:25 Uhr"), the earliest never before
    /// the ticket's start, the latest at least 5 minutes after it.
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
    pub basis: EstimateBasis,
}

/// The visitors ahead of the question's ticket, earliest first (see the
/// module's definition).
pub fn ahead_of(question: &WaitQuestion) -> Vec<QueuePlace> {
    let ticket = &question.ticket;
    let still_expected = |place: &&QueuePlace| place.start + question.check_in_late >= question.now;
    let mut ahead: Vec<QueuePlace> = question
        .waiting
        .iter()
        .chain(question.expected.iter().filter(still_expected))
        .filter(|place| place.comes_before(ticket))
        .copied()
        .collect();
    ahead.sort_by_key(|place| (place.start, place.number));
    ahead
}

/// The estimated wait of the question's ticket (see the module's rules).
pub fn estimate_wait(question: &WaitQuestion) -> WaitEstimate {
    let ahead = ahead_of(question);
    let measured: Vec<Duration> = question
        .processing
        .iter()
        .copied()
        .filter(|duration| *duration >= Duration::zero())
        .collect();
    let (samples, basis) = if measured.is_empty() {
        let mut planned: Vec<Duration> = ahead.iter().map(|place| place.planned).collect();
        if planned.is_empty() {
            planned.push(question.ticket.planned);
        }
        (planned, EstimateBasis::ServiceDurations)
    } else {
        let finished = measured.len();
        (measured, EstimateBasis::ProcessingTimes { finished })
    };
    let (q1, q3) = quartiles(samples);
    let visitors = i64::try_from(ahead.len()).unwrap_or(i64::MAX);
    let counters = i64::try_from(question.open_counters.max(1)).unwrap_or(i64::MAX);
    let share = |each: Duration| each.num_seconds().max(0).saturating_mul(visitors) / counters;
    let until_start = (question.ticket.start - question.now).num_seconds().max(0);
    let low_minutes = round_down(share(q1)).max(round_up(until_start));
    let high_minutes = round_up(share(q3)).max(low_minutes.saturating_add(ROUNDING_MINUTES));
    let mark = Duration::minutes(i64::from(ROUNDING_MINUTES));
    let after = |minutes: u32| nearest_mark(question.now + Duration::minutes(i64::from(minutes)));
    let earliest = after(low_minutes).max(question.ticket.start);
    let latest = after(high_minutes).max(earliest + mark);
    WaitEstimate {
        ahead: ahead.len(),
        low_minutes,
        high_minutes,
        earliest,
        latest,
        basis,
    }
}

/// `instant` to the nearest 5-minute mark of the clock (every time zone's
/// offset is a multiple of 15 minutes, so UTC's marks are the office's).
fn nearest_mark(instant: DateTime<Utc>) -> DateTime<Utc> {
    let step = i64::from(ROUNDING_MINUTES) * 60;
    let seconds = instant.timestamp();
    let rounded = (seconds + step / 2).div_euclid(step) * step;
    DateTime::from_timestamp(rounded, 0).unwrap_or(instant)
}

/// The lower and upper quartile by nearest rank; `samples` is not empty.
fn quartiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let rank = |quarters: usize| samples[(samples.len() * quarters).div_ceil(4).max(1) - 1];
    (rank(1), rank(3))
}

/// Seconds as whole minutes, rounded down to [`ROUNDING_MINUTES`].
fn round_down(seconds: i64) -> u32 {
    let minutes = u32::try_from(seconds / 60).unwrap_or(u32::MAX);
    minutes / ROUNDING_MINUTES * ROUNDING_MINUTES
}

/// Seconds as whole minutes, rounded up to [`ROUNDING_MINUTES`].
fn round_up(seconds: i64) -> u32 {
    let minutes = u32::try_from((seconds + 59) / 60).unwrap_or(u32::MAX / 2);
    minutes.div_ceil(ROUNDING_MINUTES).saturating_mul(ROUNDING_MINUTES)
}

/// Started → finished of each visit of the day that finished (a parked and
/// returned visit counts from its first start).
pub fn processing_times(day: &FloorDay) -> Vec<Duration> {
    day.visits()
        .filter_map(|visit| Some(visit.finished_at? - visit.started_at?))
        .collect()
}

/// Counters open now (not paused, not closed).
pub fn open_counters(day: &FloorDay) -> usize {
    day.counters()
        .filter(|(_, counter)| counter.status == CounterStatus::Open)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decider::Decider;
    use crate::floor::{
        CounterId, CounterOpened, CounterPaused, FloorDecider, FloorEvent, VisitCalled, VisitCheckedIn, VisitFinished,
        VisitStarted,
    };
    use crate::ids::OfficeId;
    use crate::testing::fixtures::{at, booking_id, date};

    const DAY: &str = "2026-12-07";

    fn minutes(n: i64) -> Duration {
        Duration::minutes(n)
    }

    fn number(n: u32) -> WaitingNumber {
        WaitingNumber::nth(n).unwrap()
    }

    /// A visitor starting at `hhmm` with number `n`, 10 minutes planned.
    fn place(hhmm: &str, n: u32) -> QueuePlace {
        QueuePlace {
            start: at(DAY, hhmm),
            number: number(n),
            planned: minutes(10),
        }
    }

    /// Given: a ticket (number 20) starting at 10:00, asked at 10:00, one
    /// counter open, nobody waiting or expected, nobody served yet.
    fn question() -> WaitQuestion {
        WaitQuestion {
            now: at(DAY, "10:00"),
            ticket: place("10:00", 20),
            waiting: vec![],
            expected: vec![],
            check_in_late: minutes(5),
            open_counters: 1,
            processing: vec![],
        }
    }

    #[test]
    fn nobody_ahead_and_the_start_is_now_waits_up_to_five_minutes() {
        // Given an empty floor; when asked; then nobody is ahead and the range is 0–5.
        let estimate = estimate_wait(&question());
        assert_eq!(estimate.ahead, 0);
        assert_eq!((estimate.low_minutes, estimate.high_minutes), (0, 5));
        assert_eq!(estimate.basis, EstimateBasis::ServiceDurations);
    }

    #[test]
    fn ahead_are_earlier_starts_waiting_or_still_expected_and_equal_starts_with_lower_numbers() {
        // Given a queue and expected visitors around the ticket's place (10:00, 20).
        let mut question = question();
        question.now = at(DAY, "09:50");
        question.waiting = vec![place("09:40", 5), place("10:00", 30), place("10:20", 3)];
        question.expected = vec![
            place("09:30", 2),  // start + 5 min check-in-late passed: cannot come any more
            place("09:45", 7),  // may still check in
            place("10:00", 12), // same start, lower number
            place("10:00", 20), // the ticket itself
            place("10:10", 8),  // later start
        ];
        // When the visitors ahead are listed; then exactly these, earliest first.
        let ahead = ahead_of(&question);
        assert_eq!(ahead, vec![place("09:40", 5), place("09:45", 7), place("10:00", 12)]);
        assert_eq!(estimate_wait(&question).ahead, 3);
    }

    #[test]
    fn an_expected_visitor_counts_until_the_last_minute_of_check_in() {
        // Given an expected 09:55 visitor and --check-in-late 5 min.
        let mut question = question();
        question.expected = vec![place("09:55", 1)];
        // When asked at 10:00 (still allowed) and 10:00:01 (too late); then 1 and 0 ahead.
        assert_eq!(estimate_wait(&question).ahead, 1);
        question.now += Duration::seconds(1);
        question.ticket.start = question.now;
        assert_eq!(estimate_wait(&question).ahead, 0);
    }

    #[test]
    fn the_days_processing_times_give_a_quartile_range_shared_by_the_open_counters() {
        // Given 6 ahead, 2 counters open, and eight visits served today in 4..=18 minutes.
        let mut question = question();
        question.waiting = (1..=6).map(|n| place("09:30", n)).collect();
        question.open_counters = 2;
        question.processing = [4, 6, 8, 10, 12, 14, 16, 18].into_iter().map(minutes).collect();
        // When estimated; then q1 = 6 and q3 = 14 minutes: 6 × 6 / 2 = 18 → 15, 6 × 14 / 2 = 42 → 45.
        let estimate = estimate_wait(&question);
        assert_eq!(estimate.ahead, 6);
        assert_eq!((estimate.low_minutes, estimate.high_minutes), (15, 45));
        assert_eq!(estimate.basis, EstimateBasis::ProcessingTimes { finished: 8 });
        assert_eq!(
            (estimate.earliest, estimate.latest),
            (at(DAY, "10:15"), at(DAY, "10:45"))
        );
    }

    #[test]
    fn without_finished_visits_the_services_durations_stand_in() {
        // Given two ahead planned for 10 and 30 minutes and nobody served yet.
        let mut question = question();
        let mut long = place("09:40", 2);
        long.planned = minutes(30);
        question.waiting = vec![place("09:30", 1), long];
        // When estimated; then q1 = 10 and q3 = 30 minutes over one counter: 20–60.
        let estimate = estimate_wait(&question);
        assert_eq!((estimate.low_minutes, estimate.high_minutes), (20, 60));
        assert_eq!(estimate.basis, EstimateBasis::ServiceDurations);
    }

    #[test]
    fn the_range_never_starts_before_the_tickets_own_start() {
        // Given a ticket starting in 12 minutes and a short queue.
        let mut question = question();
        question.ticket.start = at(DAY, "10:12");
        question.waiting = vec![place("09:50", 1)];
        question.processing = vec![minutes(3)];
        // When estimated; then it begins at the start (12 → 15), and is still a range.
        let estimate = estimate_wait(&question);
        assert_eq!((estimate.low_minutes, estimate.high_minutes), (15, 20));
        assert_eq!(
            (estimate.earliest, estimate.latest),
            (at(DAY, "10:15"), at(DAY, "10:20"))
        );
    }

    #[test]
    fn the_clock_times_go_to_the_nearest_five_minute_mark_but_not_before_the_start() {
        // Given a ticket starting 10:30, asked at 10:21:30 with nobody ahead.
        let mut question = question();
        question.now = at(DAY, "10:21") + Duration::seconds(30);
        question.ticket.start = at(DAY, "10:30");
        // When estimated; then 8.5 minutes to the start round up to 10, the range is
        // 10–15 minutes, and on the clock 10:31:30 → 10:30 and 10:36:30 → 10:35.
        let estimate = estimate_wait(&question);
        assert_eq!((estimate.low_minutes, estimate.high_minutes), (10, 15));
        assert_eq!(
            (estimate.earliest, estimate.latest),
            (at(DAY, "10:30"), at(DAY, "10:35"))
        );
        // Given a start at 10:32 asked at 10:22; then 10:32 → 10:30 would be before
        // the start: the earliest is the start, the latest 5 minutes later.
        question.now = at(DAY, "10:22");
        question.ticket.start = at(DAY, "10:32");
        let estimate = estimate_wait(&question);
        assert_eq!((estimate.low_minutes, estimate.high_minutes), (10, 15));
        assert_eq!(
            (estimate.earliest, estimate.latest),
            (at(DAY, "10:32"), at(DAY, "10:37"))
        );
    }

    #[test]
    fn no_counter_open_yet_counts_as_one() {
        // Given three ahead and 10-minute visits, but no counter open (early morning).
        let mut question = question();
        question.waiting = (1..=3).map(|n| place("09:30", n)).collect();
        question.processing = vec![minutes(10)];
        question.open_counters = 0;
        // When estimated; then as with one counter: 30–35.
        let estimate = estimate_wait(&question);
        assert_eq!((estimate.low_minutes, estimate.high_minutes), (30, 35));
    }

    #[test]
    fn odd_minutes_round_the_low_end_down_and_the_high_end_up() {
        // Given one ahead, one counter, visits of 7 and 13 minutes.
        let mut question = question();
        question.waiting = vec![place("09:30", 1)];
        question.processing = vec![minutes(7), minutes(13)];
        // When estimated; then 7 → 5 and 13 → 15.
        let estimate = estimate_wait(&question);
        assert_eq!((estimate.low_minutes, estimate.high_minutes), (5, 15));
    }

    #[test]
    fn the_floor_gives_processing_times_of_finished_visits_and_open_counters() {
        // Given a floor: two counters opened, one paused; a visit served 09:05–09:17, one still serving.
        let office: OfficeId = "mitte".parse().unwrap();
        let counter = |name: &str| -> CounterId { name.parse().unwrap() };
        let mut events = vec![
            FloorEvent::CounterOpened(CounterOpened {
                office: office.clone(),
                date: date(DAY),
                counter: counter("1"),
                opened_at: at(DAY, "08:00"),
            }),
            FloorEvent::CounterOpened(CounterOpened {
                office: office.clone(),
                date: date(DAY),
                counter: counter("2"),
                opened_at: at(DAY, "08:00"),
            }),
            FloorEvent::CounterOpened(CounterOpened {
                office: office.clone(),
                date: date(DAY),
                counter: counter("3"),
                opened_at: at(DAY, "08:00"),
            }),
            FloorEvent::CounterPaused(CounterPaused {
                office: office.clone(),
                date: date(DAY),
                counter: counter("3"),
                reason: "Mittagspause".parse().unwrap(),
                paused_at: at(DAY, "08:30"),
            }),
        ];
        for (n, desk, started) in [(1, "1", "09:05"), (2, "2", "09:10")] {
            events.push(FloorEvent::CheckedIn(VisitCheckedIn {
                booking: booking_id(n),
                office: office.clone(),
                date: date(DAY),
                number: number(n as u32),
                start: at(DAY, "09:00"),
                checked_in_at: at(DAY, "08:55"),
                estimate: None,
            }));
            events.push(FloorEvent::Called(VisitCalled {
                booking: booking_id(n),
                office: office.clone(),
                date: date(DAY),
                number: number(n as u32),
                counter: counter(desk),
                called_at: at(DAY, started),
            }));
            events.push(FloorEvent::Started(VisitStarted {
                booking: booking_id(n),
                office: office.clone(),
                date: date(DAY),
                counter: counter(desk),
                started_at: at(DAY, started),
            }));
        }
        events.push(FloorEvent::Finished(VisitFinished {
            booking: booking_id(1),
            office: office.clone(),
            date: date(DAY),
            counter: counter("1"),
            finished_at: at(DAY, "09:17"),
        }));
        // When the day is folded; then one processing time of 12 minutes, two counters open.
        let day = FloorDecider::fold(&events);
        assert_eq!(processing_times(&day), vec![minutes(12)]);
        assert_eq!(open_counters(&day), 2);
    }
}
