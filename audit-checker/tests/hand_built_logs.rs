//! Small logs written by hand as the log stores them (type, actor, JSON data):
//! a clean one passes, and each corruption is found at its position with its kind.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use terminagent_audit_checker::{Checker, LoggedEvent, Violation, ViolationKind};

/// 2026-12-10 is a Thursday; Berlin is UTC+1 in December.
const DAY: &str = "2026-12-10";

fn now() -> DateTime<Utc> {
    "2026-12-01T10:00:00Z".parse().unwrap()
}

struct Entry {
    position: u64,
    event_type: &'static str,
    actor: Option<String>,
    data: String,
    recorded_at: DateTime<Utc>,
}

#[derive(Default)]
struct Log {
    entries: Vec<Entry>,
}

impl Log {
    /// Appends at the next position; returns it.
    fn push(&mut self, event_type: &'static str, actor: &str, data: Value) -> u64 {
        let position = self.entries.last().map_or(1, |entry| entry.position + 1);
        self.entries.push(Entry {
            position,
            event_type,
            actor: Some(actor.to_owned()),
            data: data.to_string(),
            recorded_at: now() + Duration::minutes(position as i64),
        });
        position
    }

    fn check(&self) -> Checker {
        let mut checker = Checker::new();
        let streams: Vec<String> = Vec::new();
        for entry in &self.entries {
            checker.observe(&LoggedEvent {
                position: entry.position,
                event_type: entry.event_type,
                streams: &streams,
                recorded_at: entry.recorded_at,
                actor: entry.actor.as_deref(),
                data: &entry.data,
            });
        }
        checker
    }

    /// The catalogue: office alpha, a 12-minute service, three units 08:00–08:36 on lane 1.
    fn catalogue() -> Log {
        let mut log = Log::default();
        log.push(
            "office.registered",
            "operator",
            json!({"office": "alpha", "name": "Alpha", "address": "Rathausplatz 1", "timezone": "Europe/Berlin"}),
        );
        log.push(
            "service.registered",
            "operator",
            json!({"service": "short", "name": "Short", "duration_minutes": 12}),
        );
        log.push(
            "capacity.published",
            "operator",
            json!({"office": "alpha", "date": DAY, "from": "08:00", "to": "08:36", "unit_minutes": 12,
                   "lanes": 1, "first_lane": 1, "units": 3}),
        );
        log.push(
            "staff.registered",
            "operator",
            json!({"staff": "clerk1", "email": "c@example.org", "name": "Clerk",
                   "roles": [{"role": "clerk", "office": "alpha"}]}),
        );
        log
    }

    fn wish(&mut self, wish: &str) -> u64 {
        self.push(
            "wish.registered",
            "citizen",
            json!({"wish": wish, "offices": ["alpha"], "services": ["short"], "windows": {"thu": [8]},
                   "until": null, "lapses_at": null, "citizen": sealed(), "links": [],
                   "registered_at": "2026-12-01T10:00:00Z"}),
        )
    }

    /// A wish registered since double opt-in: it waits for its confirmation.
    fn wish_pending(&mut self, wish: &str) -> u64 {
        self.push(
            "wish.registered",
            "citizen",
            json!({"wish": wish, "offices": ["alpha"], "services": ["short"], "windows": {"thu": [8]},
                   "until": null, "lapses_at": null, "citizen": sealed(), "links": [],
                   "registered_at": "2026-12-01T10:00:00Z", "confirm_by": "2026-12-01T10:30:00Z"}),
        )
    }

    fn confirm_wish(&mut self, wish: &str) -> u64 {
        self.push(
            "wish.confirmed",
            "citizen",
            json!({"wish": wish, "citizen": "env", "confirmed_at": "2026-12-01T10:05:00Z"}),
        )
    }

    fn propose(&mut self, proposal: &str, wish: &str, start: &str) -> u64 {
        self.propose_as("system:matcher", proposal, wish, start)
    }

    fn propose_as(&mut self, actor: &str, proposal: &str, wish: &str, start: &str) -> u64 {
        let (begin, end) = instants(start);
        self.push(
            "proposal.made",
            actor,
            json!({"proposal": proposal, "wish": wish, "office": "alpha", "units": [unit(start)],
                   "start": begin, "end": end, "expires_at": begin, "links": []}),
        )
    }

    fn close(&mut self, event_type: &'static str, actor: &str, proposal: &str, wish: &str, start: &str) -> u64 {
        self.push(
            event_type,
            actor,
            json!({"proposal": proposal, "wish": wish, "units": [unit(start)]}),
        )
    }

    fn book(&mut self, booking: &str, start: &str) -> u64 {
        let (begin, end) = instants(start);
        self.push(
            "booking.requested",
            "citizen",
            json!({"booking": booking, "office": "alpha", "services": ["short"], "units": [unit(start)],
                   "start": begin, "end": end, "citizen": sealed(), "confirm_by": begin, "links": []}),
        )
    }

    fn confirm(&mut self, booking: &str, number: &str) -> u64 {
        self.push(
            "booking.confirmed",
            "citizen",
            json!({"booking": booking, "office": "alpha", "date": DAY, "number": number,
                   "checkin_code_hash": "00", "links": []}),
        )
    }

    fn end_wish(&mut self, wish: &str) -> u64 {
        self.push(
            "wish.ended",
            "citizen",
            json!({"wish": wish, "reason": "citizen", "citizen": "env", "proposal": null, "units": []}),
        )
    }
}

fn sealed() -> Value {
    json!({"envelope_id": "env", "nonce": "00", "ciphertext": "00"})
}

fn unit(start: &str) -> Value {
    json!({"office": "alpha", "date": DAY, "lane": 1, "start": start})
}

/// UTC start and end of the 12-minute unit starting at local `start`.
fn instants(start: &str) -> (String, String) {
    let (hour, minute): (i64, i64) = (start[..2].parse().unwrap(), start[3..].parse().unwrap());
    let begin: DateTime<Utc> =
        format!("{DAY}T00:00:00Z").parse::<DateTime<Utc>>().unwrap() + Duration::minutes((hour - 1) * 60 + minute);
    (begin.to_rfc3339(), (begin + Duration::minutes(12)).to_rfc3339())
}

fn kinds(violations: &[Violation]) -> Vec<(u64, ViolationKind)> {
    violations
        .iter()
        .map(|violation| (violation.position, violation.kind))
        .collect()
}

/// A whole small day: proposals, a decline and a new proposal, a booking, an
/// acceptance with the next waiting number, a check-in by the office's clerk,
/// a cancellation.
fn clean_log() -> Log {
    let mut log = Log::catalogue();
    log.wish("w1");
    log.wish("w2");
    log.propose("p1", "w1", "08:00");
    log.propose("p2", "w2", "08:12");
    log.close("proposal.declined", "citizen", "p1", "w1", "08:00");
    // w1 declined 08:00, so 08:24 is its next fitting unit.
    log.propose("p3", "w1", "08:24");
    log.book("b1", "08:00");
    log.confirm("b1", "1");
    log.push(
        "proposal.accepted",
        "citizen",
        json!({"proposal": "p2", "wish": "w2", "booking": "b2", "office": "alpha", "services": ["short"],
               "units": [unit("08:12")], "start": instants("08:12").0, "end": instants("08:12").1,
               "date": DAY, "number": "2", "citizen": sealed(), "checkin_code_hash": "00", "links": []}),
    );
    log.push(
        "visit.checked_in",
        "staff:clerk1",
        json!({"booking": "b1", "office": "alpha", "date": DAY, "number": "1",
               "start": instants("08:00").0, "checked_in_at": instants("08:00").0}),
    );
    log.push(
        "booking.cancelled",
        "citizen",
        json!({"booking": "b1", "units": [unit("08:00")], "citizen": "env"}),
    );
    log
}

#[test]
fn a_clean_log_passes() {
    let log = clean_log();
    let checker = log.check();
    assert_eq!(checker.violations(), &[]);
    assert_eq!(checker.first_violation(), None);
    // 08:00 is free again, but w1 declined it and holds 08:24; w2 is a booking.
    assert_eq!(checker.quiescence_violations(now()), vec![]);
    let summary = checker.summary();
    assert_eq!(
        (
            summary.events,
            summary.proposals_checked,
            summary.wishes,
            summary.waiting_numbers
        ),
        (15, 3, 2, 2)
    );
    assert_eq!(summary.violations, 0);
}

#[test]
fn a_forged_proposal_to_the_second_wish_while_the_first_fitted_is_found() {
    let mut log = Log::catalogue();
    log.wish("w1");
    log.wish("w2");
    let forged = log.propose("p1", "w2", "08:00");
    // w1's next event is no proposal of its own: the suspicion stands.
    log.end_wish("w1");
    let checker = log.check();
    assert_eq!(kinds(checker.violations()), [(forged, ViolationKind::NotFirstCome)]);
    let message = checker.violations()[0].to_string();
    assert!(message.starts_with(&format!("position {forged}: ")), "{message}");
    assert!(message.contains("wish w1"), "{message}");
}

#[test]
fn the_queue_is_in_the_order_of_confirmation_not_of_registration() {
    // w1 registered first but confirmed after w2: w2 is first in the queue.
    let mut log = Log::catalogue();
    log.wish_pending("w1");
    log.wish_pending("w2");
    log.confirm_wish("w2");
    log.confirm_wish("w1");
    log.propose("p2", "w2", "08:00");
    log.propose("p1", "w1", "08:12");
    let checker = log.check();
    assert_eq!(checker.violations(), &[]);
    assert_eq!(checker.summary().first_come_pending, 0);
    // Given to w1 first instead, while w2 (confirmed earlier) fitted: not first-come.
    let mut log = Log::catalogue();
    log.wish_pending("w1");
    log.wish_pending("w2");
    log.confirm_wish("w2");
    log.confirm_wish("w1");
    let forged = log.propose("p1", "w1", "08:00");
    log.end_wish("w2");
    let checker = log.check();
    assert_eq!(kinds(checker.violations()), [(forged, ViolationKind::NotFirstCome)]);
}

#[test]
fn an_unconfirmed_wish_is_not_queued_and_gets_nothing() {
    let mut log = Log::catalogue();
    log.wish_pending("w1");
    log.wish("w2");
    // w2 (waiting at once, a version-1 registration) may have 08:00: w1 is not queued.
    log.propose("p2", "w2", "08:00");
    let to_unconfirmed = log.propose("p1", "w1", "08:12");
    let checker = log.check();
    assert_eq!(
        kinds(checker.violations()),
        [(to_unconfirmed, ViolationKind::Inconsistent)]
    );
    assert!(checker.violations()[0].to_string().contains("never confirmed"));
    // At rest, free units beside an unconfirmed wish are no violation, and
    // its lapse (by the timer) is consistent.
    let mut log = Log::catalogue();
    log.wish_pending("w1");
    log.push(
        "wish.ended",
        "system:timer",
        json!({"wish": "w1", "reason": "unconfirmed", "citizen": "env", "proposal": null, "units": []}),
    );
    let checker = log.check();
    assert_eq!(checker.violations(), &[]);
    assert_eq!(checker.quiescence_violations(now()), vec![]);
    // A wish confirmed twice is inconsistent.
    let mut log = Log::catalogue();
    log.wish_pending("w1");
    log.confirm_wish("w1");
    let twice = log.confirm_wish("w1");
    assert_eq!(kinds(log.check().violations()), [(twice, ViolationKind::Inconsistent)]);
}

#[test]
fn an_undecided_first_come_suspicion_counts_at_rest() {
    let mut log = Log::catalogue();
    log.wish("w1");
    log.wish("w2");
    let forged = log.propose("p1", "w2", "08:00");
    let checker = log.check();
    assert_eq!(checker.violations(), &[]);
    assert_eq!(checker.summary().first_come_pending, 1);
    let at_rest = checker.quiescence_violations(now());
    // The suspicion, and w1 beside the free 08:12 (and 08:24).
    assert_eq!(at_rest[0].position, forged);
    assert_eq!(at_rest[0].kind, ViolationKind::NotFirstCome);
    assert!(
        at_rest[1..]
            .iter()
            .all(|v| v.kind == ViolationKind::FreeUnitWhileWishWaits)
    );
}

#[test]
fn the_earlier_wish_proposed_in_the_same_round_is_no_violation() {
    let mut log = Log::catalogue();
    log.wish("w1");
    log.wish("w2");
    // Logged in another order than the engine handed them out.
    log.propose("p2", "w2", "08:12");
    log.propose("p1", "w1", "08:00");
    let checker = log.check();
    assert_eq!(checker.violations(), &[]);
    assert_eq!(checker.summary().first_come_pending, 0);
}

#[test]
fn a_wish_that_fits_only_longer_runs_is_passed_over() {
    let mut log = Log::catalogue();
    log.push(
        "service.registered",
        "operator",
        json!({"service": "long", "name": "Long", "duration_minutes": 24}),
    );
    log.push(
        "wish.registered",
        "citizen",
        json!({"wish": "w0", "offices": ["alpha"], "services": ["long"], "windows": {"thu": [8]},
               "citizen": sealed(), "links": [], "registered_at": "2026-12-01T10:00:00Z"}),
    );
    // Only 08:24 is left after 08:00 and 08:12 were booked: too short for w0.
    log.book("b1", "08:00");
    log.book("b2", "08:12");
    log.wish("w1");
    log.propose("p1", "w1", "08:24");
    let checker = log.check();
    assert_eq!(checker.violations(), &[]);
    assert_eq!(checker.quiescence_violations(now()), vec![]);
}

#[test]
fn a_duplicated_waiting_number_is_found() {
    let mut log = Log::catalogue();
    log.book("b1", "08:00");
    log.book("b2", "08:12");
    log.confirm("b1", "1");
    let second = log.confirm("b2", "1");
    let checker = log.check();
    assert_eq!(
        kinds(checker.violations()),
        [(second, ViolationKind::WaitingNumberReused)]
    );
}

#[test]
fn a_unit_held_twice_is_found() {
    let mut log = Log::catalogue();
    log.book("b1", "08:00");
    let twice = log.book("b2", "08:00");
    // A proposal on a booked unit too.
    log.wish("w1");
    let proposal = log.propose("p1", "w1", "08:00");
    let checker = log.check();
    assert_eq!(
        kinds(checker.violations()),
        [
            (twice, ViolationKind::UnitHeldTwice),
            (proposal, ViolationKind::UnitHeldTwice)
        ]
    );
}

#[test]
fn a_unit_never_published_is_found() {
    let mut log = Log::catalogue();
    let off = log.book("b1", "09:00");
    let checker = log.check();
    assert_eq!(kinds(checker.violations()), [(off, ViolationKind::UnitNotInService)]);
}

#[test]
fn a_re_offer_after_a_decline_or_an_expiry_is_found() {
    let mut log = Log::catalogue();
    log.wish("w1");
    log.propose("p1", "w1", "08:00");
    log.close("proposal.declined", "citizen", "p1", "w1", "08:00");
    let again = log.propose("p2", "w1", "08:00");
    log.close("proposal.expired", "system:timer", "p2", "w1", "08:00");
    log.propose("p3", "w1", "08:12");
    log.close("proposal.expired", "system:timer", "p3", "w1", "08:12");
    let after_expiry = log.propose("p4", "w1", "08:12");
    let checker = log.check();
    assert_eq!(
        kinds(checker.violations()),
        [
            (again, ViolationKind::OfferedAgainAfterDecline),
            (after_expiry, ViolationKind::OfferedAgainAfterDecline)
        ]
    );
}

#[test]
fn a_second_open_proposal_and_a_misfit_are_found() {
    let mut log = Log::catalogue();
    log.wish("w1");
    log.propose("p1", "w1", "08:00");
    let second = log.propose("p2", "w1", "08:12");
    log.push(
        "wish.registered",
        "citizen",
        json!({"wish": "w2", "offices": ["alpha"], "services": ["short"], "windows": {"fri": [8]},
               "citizen": sealed(), "links": [], "registered_at": "2026-12-01T10:00:00Z"}),
    );
    let outside_window = log.propose("p3", "w2", "08:24");
    let checker = log.check();
    assert_eq!(
        kinds(checker.violations()),
        [
            (second, ViolationKind::SecondOpenProposal),
            (outside_window, ViolationKind::ProposalMisfit)
        ]
    );
}

#[test]
fn disallowed_actors_are_found() {
    let mut log = Log::catalogue();
    log.wish("w1");
    let by_citizen = log.propose_as("citizen", "p1", "w1", "08:00");
    let by_staff = log.close("proposal.declined", "staff:clerk1", "p1", "w1", "08:00");
    log.book("b1", "08:12");
    log.push(
        "office.registered",
        "operator",
        json!({"office": "beta", "name": "Beta", "address": "Markt 2", "timezone": "Europe/Berlin"}),
    );
    let other_office = log.push(
        "visit.called",
        "staff:clerk1",
        json!({"booking": "b1", "office": "beta", "date": DAY, "number": "1", "counter": "1",
               "called_at": "2026-12-10T07:12:00Z"}),
    );
    let garbage = log.push(
        "counter.opened",
        "root",
        json!({"office": "alpha", "date": DAY, "counter": "1", "opened_at": "2026-12-10T07:00:00Z"}),
    );
    let matcher_cancels = log.push(
        "booking.cancelled",
        "system:matcher",
        json!({"booking": "b1", "units": [unit("08:12")], "citizen": "env"}),
    );
    let checker = log.check();
    assert_eq!(
        kinds(checker.violations()),
        [
            (by_citizen, ViolationKind::ActorNotAllowed),
            (by_staff, ViolationKind::ActorNotAllowed),
            (other_office, ViolationKind::ActorNotAllowed),
            (garbage, ViolationKind::ActorNotAllowed),
            (matcher_cancels, ViolationKind::ActorNotAllowed),
        ]
    );
}

#[test]
fn a_gap_in_positions_is_found() {
    let mut log = clean_log();
    log.entries.remove(5);
    let after_gap = log.entries[5].position;
    let checker = log.check();
    // Removing wish w2's proposal's predecessor also leaves its story inconsistent;
    // the gap is the first thing found, at the position after it.
    let first = checker.violations()[0].clone();
    assert_eq!((first.position, first.kind), (after_gap, ViolationKind::PositionGap));
    assert_eq!(
        first.to_string(),
        format!("position {after_gap}: positions 6..=6 are missing")
    );
}

#[test]
fn a_fitting_wish_beside_a_free_unit_breaks_quiescence() {
    let mut log = clean_log();
    // A new wish fits the free 08:00 and nothing proposes it.
    log.wish("w3");
    let checker = log.check();
    assert_eq!(checker.violations(), &[]);
    let at_rest = checker.quiescence_violations(now());
    assert_eq!(kinds(&at_rest), [(16, ViolationKind::FreeUnitWhileWishWaits)]);
    assert!(
        at_rest[0].message.contains("unit:alpha:2026-12-10:1:0800"),
        "{}",
        at_rest[0]
    );
    assert!(at_rest[0].message.contains("wish w3"), "{}", at_rest[0]);
    // Once the unit's start has passed, nothing is owed.
    let later: DateTime<Utc> = "2026-12-10T08:00:00Z".parse().unwrap();
    assert_eq!(checker.quiescence_violations(later), vec![]);
}

#[test]
fn unreadable_data_is_malformed_and_checking_goes_on() {
    let mut log = Log::catalogue();
    let broken = log.push("wish.registered", "citizen", json!({"wish": 5}));
    log.book("b1", "08:00");
    let twice = log.book("b2", "08:00");
    let checker = log.check();
    assert_eq!(
        kinds(checker.violations()),
        [
            (broken, ViolationKind::Malformed),
            (twice, ViolationKind::UnitHeldTwice)
        ]
    );
}

#[test]
fn a_closure_frees_and_withdraws_and_nothing_takes_its_units_again() {
    let mut log = Log::catalogue();
    log.push(
        "staff.registered",
        "operator",
        json!({"staff": "lead1", "email": "l@example.org", "name": "Lead",
               "roles": [{"role": "lead", "office": "alpha"}]}),
    );
    log.wish("w1");
    log.propose("p1", "w1", "08:00");
    log.book("b1", "08:12");
    // The closure's batch: cancellations, the withdrawal, the proposals.
    log.push(
        "booking.cancelled",
        "staff:lead1",
        json!({"booking": "b1", "units": [unit("08:12")], "citizen": "env", "reason": "Wasserschaden"}),
    );
    log.push(
        "capacity.withdrawn",
        "staff:lead1",
        json!({"office": "alpha", "date": DAY, "reason": "Wasserschaden",
               "units": [unit("08:00"), unit("08:12"), unit("08:24")]}),
    );
    log.close("proposal.withdrawn", "staff:lead1", "p1", "w1", "08:00");
    let clean = log.check();
    assert_eq!(clean.violations(), &[]);
    // w1 waits again, but nothing is in service: quiescent.
    assert_eq!(clean.quiescence_violations(now()), vec![]);
    let proposal = log.propose("p2", "w1", "08:24");
    let booking = log.book("b2", "08:00");
    assert_eq!(
        kinds(log.check().violations()),
        [
            (proposal, ViolationKind::UnitNotInService),
            (booking, ViolationKind::UnitNotInService)
        ]
    );
}

#[test]
fn erasure_and_timers_act_as_the_code_base_lets_them() {
    let mut log = Log::catalogue();
    log.book("b1", "08:00");
    log.book("b2", "08:12");
    log.book("b3", "08:24");
    log.wish("w1");
    // The retention timer erasing: a pending booking cancelled with a reason, the wish ended.
    log.push(
        "booking.cancelled",
        "system:timer",
        json!({"booking": "b1", "units": [unit("08:00")], "citizen": "env", "reason": "erased"}),
    );
    log.push(
        "wish.ended",
        "system:timer",
        json!({"wish": "w1", "reason": "citizen", "citizen": "env", "proposal": null, "units": []}),
    );
    log.push(
        "booking.lapsed",
        "system:timer",
        json!({"booking": "b2", "units": [unit("08:12")], "citizen": "env"}),
    );
    assert_eq!(log.check().violations(), &[]);
    // But a timer never cancels as the citizen does, nor does a citizen lapse a booking.
    let timer_cancel = log.push(
        "booking.cancelled",
        "system:timer",
        json!({"booking": "b3", "units": [unit("08:24")], "citizen": "env"}),
    );
    log.book("b4", "08:00");
    let citizen_lapse = log.push(
        "booking.lapsed",
        "citizen",
        json!({"booking": "b4", "units": [unit("08:00")], "citizen": "env"}),
    );
    assert_eq!(
        kinds(log.check().violations()),
        [
            (timer_cancel, ViolationKind::ActorNotAllowed),
            (citizen_lapse, ViolationKind::ActorNotAllowed)
        ]
    );
}

#[test]
fn only_the_citizen_asks_for_the_overview_link_or_a_confirm_mail_again() {
    let mut log = Log::catalogue();
    let request = json!({"request": "r1", "envelope": "env", "token_hash": "h", "expires_at": "2026-12-11T07:00:00Z",
                         "requested_at": "2026-12-10T07:00:00Z"});
    let resent = json!({"booking": "b1", "citizen": "env", "nth": 1});
    log.push("citizen.overview_requested", "citizen", request.clone());
    log.push("booking.confirmation_resent", "citizen", resent.clone());
    let by_staff = log.push("citizen.overview_requested", "staff:clerk1", request);
    let by_timer = log.push("booking.confirmation_resent", "system:timer", resent);
    let checker = log.check();
    assert_eq!(
        kinds(checker.violations()),
        [
            (by_staff, ViolationKind::ActorNotAllowed),
            (by_timer, ViolationKind::ActorNotAllowed),
        ]
    );
}
