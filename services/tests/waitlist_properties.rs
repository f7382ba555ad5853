//! Random sequences of wishes, capacity, bookings, cancellations, answers and
//! the passing of time, run through the real application layer, store and
//! matcher on SQLite, then checked against DESIGN.md invariants 1, 3, 5, 6, 10:
//!
//! Invariants 1, 3, 5 and 10 are judged by `terminagent-audit-checker`, which
//! shares no code with the matching engine (issue "test honesty"): it folds
//! the whole log by hand and checks that no unit is held twice, that every
//! proposal fits its wish, went to the earliest-queued idle wish that fitted
//! its units and never re-offers a declined or expired unit, that waiting
//! numbers are unique, that each event has an actor allowed to cause it, and
//! that at rest no idle wish fits a free unit.
//!
//! Invariant 6 compares the engine with itself, as it must: a fresh replay of
//! the log plans exactly the proposals the log holds, holds exactly its open
//! proposals, and rebuilds the availability and the matcher's waitlist the
//! live ones show.
//!
//! The driver ignores only the domain's refusals (a duplicate wish, a taken
//! unit, an answer too late); a storage or vault error, or contention in this
//! sequential run, fails the test.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Days, Duration, Utc};
use proptest::prelude::*;
use terminagent::application::{
    BookingRequest, Clock, ExecuteError, Executor, RegisterWishError, RegisteredWish, RequestBookingError, WishAnswer,
    WishRequest, answer_wish, register_wish, request_booking,
};
use terminagent::links::LinkSecret;
use terminagent::matcher::MatcherService;
use terminagent::projections::{AvailabilityView, LiveProjection, rebuild};
use terminagent::waitlist::Waitlist;
use terminagent_audit_checker::{CheckSummary, Checker, LoggedEvent, ViolationKind};
use terminagent_domain::Actor;
use terminagent_domain::{
    BookingCommand, BookingDecider, BookingId, BookingInput, CancelBooking, CapacityDecider, CatalogueName,
    CitizenName, DomainEvent, EmailAddress, LocalDate, LocalTime, OfficeAddress, OfficeDecider, OfficeId,
    OfficeTimeZone, PersonalData, ProposalId, PublishCapacity, RegisterOffice, RegisterService, ServiceDecider,
    ServiceId, StreamName, UnitRef, WeeklyWindows, WishDecider, WishEvent, WishId, WishPolicy,
};
use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, EventStore, LogEvent, StoreOptions};

struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Wish {
        citizen: u8,
        offices: u8,
        hours: u8,
        long: bool,
        /// Press its confirm link at once; otherwise a later `Confirm` may,
        /// so wishes join the queue in another order than they registered.
        confirm: bool,
    },
    Confirm {
        pick: usize,
    },
    Publish {
        office: u8,
        lane: u16,
        hour: u32,
        units: u32,
    },
    Book {
        office: u8,
        hour: u32,
        slot: u32,
        citizen: u8,
    },
    Cancel {
        pick: usize,
    },
    Decline {
        pick: usize,
    },
    Accept {
        pick: usize,
    },
    End {
        pick: usize,
    },
    Advance {
        minutes: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..5, 1u8..=3, 1u8..=3, any::<bool>(), any::<bool>())
            .prop_map(|(citizen, offices, hours, long, confirm)| Op::Wish { citizen, offices, hours, long, confirm }),
        2 => any::<usize>().prop_map(|pick| Op::Confirm { pick }),
        3 => (0u8..2, 1u16..=2, 8u32..=9, 1u32..=3)
            .prop_map(|(office, lane, hour, units)| Op::Publish { office, lane, hour, units }),
        2 => (0u8..2, 8u32..=9, 0u32..5, 0u8..5)
            .prop_map(|(office, hour, slot, citizen)| Op::Book { office, hour, slot, citizen }),
        1 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        2 => any::<usize>().prop_map(|pick| Op::Decline { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Accept { pick }),
        1 => any::<usize>().prop_map(|pick| Op::End { pick }),
        1 => (1i64..=90).prop_map(|minutes| Op::Advance { minutes }),
    ]
}

const OFFICES: [&str; 2] = ["alpha", "beta"];

/// Short, so that `Advance` lets unconfirmed wishes lapse.
fn confirm_ttl() -> Duration {
    Duration::minutes(30)
}

struct World {
    _db: TestDatabase,
    store: EventStore,
    clock: Arc<TestClock>,
    executor: Executor,
    secret: LinkSecret,
    matcher: MatcherService,
    availability: Arc<LiveProjection<AvailabilityView>>,
    day: chrono::NaiveDate,
    wishes: Vec<WishId>,
}

impl World {
    async fn new() -> World {
        let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
        let store = EventStore::connect(db.url(), StoreOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        let clock = Arc::new(TestClock(Mutex::new(Utc::now())));
        let executor = Executor::new(store.clone(), clock.clone());
        let secret = LinkSecret::new([7; 32]);
        let policy = WishPolicy {
            proposal_ttl: Duration::minutes(60),
            max_unanswered: 2,
        };
        let matcher = MatcherService {
            executor: executor.clone(),
            links: secret.clone(),
            policy,
            snapshots: terminagent::matcher::SnapshotPolicy::default(),
        };
        let cause = executor.new_cause(Actor::Operator);
        for office in OFFICES {
            let command = RegisterOffice {
                office: OfficeId::parse(office).unwrap(),
                name: CatalogueName::parse(office).unwrap(),
                address: OfficeAddress::parse("Rathausplatz 1").unwrap(),
                timezone: OfficeTimeZone::parse("Europe/Berlin").unwrap(),
                opening_hours: None,
                holidays: None,
                closed_days: Default::default(),
            };
            executor
                .execute::<OfficeDecider>(&[StreamName::office(&command.office)], cause, |_| command.clone())
                .await
                .unwrap();
        }
        for (service, minutes) in [("short", 12), ("long", 24)] {
            let command = RegisterService {
                service: ServiceId::parse(service).unwrap(),
                name: CatalogueName::parse(service).unwrap(),
                duration_minutes: minutes,
                walk_in: false,
                description: None,
            };
            executor
                .execute::<ServiceDecider>(&[StreamName::service(&command.service)], cause, |_| command.clone())
                .await
                .unwrap();
        }
        let availability = Arc::new(LiveProjection::spawn(store.clone()));
        let day = Utc::now().date_naive() + Days::new(3);
        World {
            _db: db,
            store,
            clock,
            executor,
            secret,
            matcher,
            availability,
            day,
            wishes: Vec::new(),
        }
    }

    fn at(&self, hour: u32, minute: u32) -> DateTime<Utc> {
        OfficeTimeZone::parse("Europe/Berlin")
            .unwrap()
            .instant(self.day, LocalTime::from_hm(hour, minute).unwrap())
            .unwrap()
    }

    fn citizen(n: u8) -> PersonalData {
        PersonalData {
            name: CitizenName::parse(&format!("Citizen {n}")).unwrap(),
            email: EmailAddress::parse(&format!("c{n}@example.org")).unwrap(),
            phone: None,
        }
    }

    async fn events(&self) -> Vec<LogEvent> {
        self.store.read_all(0, 1_000_000).await.unwrap()
    }

    /// The open proposal of a wish, from its stream.
    async fn open_proposal(&self, wish: WishId) -> Option<ProposalId> {
        let state = self
            .executor
            .state_of::<WishDecider>(&[StreamName::wish(&wish)])
            .await
            .unwrap();
        state.wish(&wish)?.open_proposal().map(|proposal| proposal.proposal)
    }

    /// Applies one step as the real callers do it (the citizen's forms and
    /// links under `citizen`, the catalogue under the operator). Only the
    /// domain's refusals are part of the game; anything else is an error.
    async fn apply(&mut self, op: &Op) -> Result<(), String> {
        let citizen = self.executor.new_cause(Actor::Citizen);
        let operator = self.executor.new_cause(Actor::Operator);
        match *op {
            Op::Wish {
                citizen: who,
                offices,
                hours,
                long,
                confirm,
            } => {
                let weekday = self.day.weekday();
                let request = WishRequest {
                    offices: (0..2)
                        .filter(|bit| offices & (1 << bit) != 0)
                        .map(|bit| OfficeId::parse(OFFICES[bit]).unwrap())
                        .collect(),
                    services: vec![ServiceId::parse(if long { "long" } else { "short" }).unwrap()],
                    windows: WeeklyWindows::new(
                        [8, 9]
                            .into_iter()
                            .enumerate()
                            .filter(|(bit, _)| hours & (1 << bit) != 0)
                            .map(|(_, hour)| (weekday, hour)),
                    )
                    .unwrap(),
                    until: None,
                    citizen: World::citizen(who),
                };
                // A duplicate wish is refused; that is part of the game.
                match register_wish(&self.executor, &self.secret, confirm_ttl(), citizen, request).await {
                    Ok(RegisteredWish { wish, .. }) => {
                        self.wishes.push(wish);
                        if confirm {
                            let confirmed =
                                answer_wish(&self.executor, &self.secret, citizen, WishAnswer::Confirm { wish });
                            refused_only(confirmed.await, "confirming a wish")?;
                        }
                    }
                    Err(RegisterWishError::Decision(error)) => {
                        refused_only(Err::<(), _>(error), "registering a wish")?;
                    }
                    Err(error) => return Err(format!("registering a wish: {error}")),
                }
            }
            Op::Publish {
                office,
                lane,
                hour,
                units,
            } => {
                let office = OfficeId::parse(OFFICES[office as usize]).unwrap();
                let date = LocalDate::try_from(self.day).unwrap();
                let from = LocalTime::from_hm(hour, 0).unwrap();
                let to = from.add_minutes(units * 12).unwrap();
                let streams = [StreamName::office(&office), StreamName::office_day(&office, self.day)];
                // Capacity overlapping what a lane has is refused; that is part of the game.
                let published = self
                    .executor
                    .execute::<CapacityDecider>(&streams, operator, |now| PublishCapacity {
                        office: office.clone(),
                        date,
                        from,
                        to,
                        unit_minutes: 12,
                        lanes: lane,
                        now,
                    })
                    .await;
                refused_only(published, "publishing capacity")?;
            }
            Op::Book {
                office,
                hour,
                slot,
                citizen: who,
            } => {
                let request = BookingRequest {
                    office: OfficeId::parse(OFFICES[office as usize]).unwrap(),
                    services: vec![ServiceId::parse("short").unwrap()],
                    start: self.at(hour, slot * 12),
                    citizen: World::citizen(who + 10),
                };
                let policy = terminagent_domain::BookingPolicy::default();
                // A taken, kept or unpublished slot is refused; that is part of the game.
                match request_booking(
                    &self.executor,
                    &self.availability,
                    &self.secret,
                    policy,
                    citizen,
                    request,
                    None,
                )
                .await
                {
                    Ok(_) => {}
                    Err(RequestBookingError::Decision(error)) => {
                        refused_only(Err::<(), _>(error), "requesting a booking")?;
                    }
                    Err(error) => return Err(format!("requesting a booking: {error}")),
                }
            }
            Op::Cancel { pick } => {
                let bookings = self.bookings().await;
                if bookings.is_empty() {
                    return Ok(());
                }
                let booking = bookings[pick % bookings.len()];
                // The citizen's cancel link (no reason); a second cancel is refused.
                let cancelled = self
                    .executor
                    .execute::<BookingDecider>(&[StreamName::booking(&booking)], citizen, |now| {
                        BookingCommand::Cancel(CancelBooking {
                            booking,
                            now,
                            reason: None,
                        })
                    })
                    .await;
                refused_only(cancelled, "cancelling a booking")?;
            }
            Op::Decline { pick } | Op::Accept { pick } => {
                if self.wishes.is_empty() {
                    return Ok(());
                }
                let wish = self.wishes[pick % self.wishes.len()];
                let Some(proposal) = self.open_proposal(wish).await else {
                    return Ok(());
                };
                let answer = match op {
                    Op::Accept { .. } => WishAnswer::Accept { wish, proposal },
                    _ => WishAnswer::Decline { wish, proposal },
                };
                // An answer after the proposal expired is refused.
                let answered = answer_wish(&self.executor, &self.secret, citizen, answer).await;
                refused_only(answered, "answering a proposal")?;
            }
            // The confirm link, pressed late (refused after the TTL) or again (nothing happens).
            Op::Confirm { pick } => {
                if self.wishes.is_empty() {
                    return Ok(());
                }
                let wish = self.wishes[pick % self.wishes.len()];
                let confirmed = answer_wish(&self.executor, &self.secret, citizen, WishAnswer::Confirm { wish }).await;
                refused_only(confirmed, "confirming a wish")?;
            }
            Op::End { pick } => {
                if self.wishes.is_empty() {
                    return Ok(());
                }
                let wish = self.wishes[pick % self.wishes.len()];
                // Ending a wish that was fulfilled or ended otherwise is refused.
                let ended = answer_wish(&self.executor, &self.secret, citizen, WishAnswer::End { wish }).await;
                refused_only(ended, "ending a wish")?;
            }
            Op::Advance { minutes } => {
                *self.clock.0.lock().unwrap() += Duration::minutes(minutes);
            }
        }
        Ok(())
    }

    /// Bookings placed so far (requested or accepted proposals).
    async fn bookings(&self) -> Vec<BookingId> {
        let mut bookings = Vec::new();
        for event in self.events().await {
            match decode(&event) {
                Some(BookingInput::Booking(terminagent_domain::BookingEvent::Requested(requested))) => {
                    bookings.push(requested.booking)
                }
                Some(BookingInput::Wish(WishEvent::ProposalAccepted(accepted))) => bookings.push(accepted.booking),
                _ => {}
            }
        }
        bookings
    }

    /// Runs the matcher until it reads nothing new.
    async fn settle(&self, progress: &mut terminagent::matcher::MatcherProgress) {
        while self.matcher.step(progress).await.unwrap() > 0 {}
    }
}

fn decode(event: &LogEvent) -> Option<BookingInput> {
    let event_type = event.event.event_type.as_str();
    BookingInput::EVENT_TYPES
        .contains(&event_type)
        .then(|| BookingInput::from_stored_json(event_type, event.event.data.as_str()).unwrap())
}

/// A decision's outcome with the domain's refusal as `Ok(None)`: only the
/// domain may say no; storage trouble or contention fails the test.
fn refused_only<T, E: Debug>(outcome: Result<T, ExecuteError<E>>, what: &str) -> Result<Option<T>, String> {
    match outcome {
        Ok(done) => Ok(Some(done)),
        Err(ExecuteError::Rejected(_)) => Ok(None),
        Err(error) => Err(format!("{what}: {error:?}")),
    }
}

/// The independent checker over the whole log: invariants 1, 3 and 10 event
/// by event, and at rest (the matcher caught up, the log's time = the last
/// event's) invariant 5 and every first-come suspicion decided.
fn check_log(events: &[LogEvent]) -> Result<CheckSummary, String> {
    let checker = checker_over(events);
    let now = events.last().map_or_else(Utc::now, |event| event.event.recorded_at);
    let found: Vec<String> = checker
        .violations()
        .iter()
        .chain(&checker.quiescence_violations(now))
        .map(ToString::to_string)
        .collect();
    if !found.is_empty() {
        return Err(format!("the audit checker found:\n{}", found.join("\n")));
    }
    Ok(checker.summary())
}

/// The checker, fed the whole log as the store reads it.
fn checker_over(events: &[LogEvent]) -> Checker {
    let mut checker = Checker::new();
    for event in events {
        checker.observe(&LoggedEvent {
            position: event.position,
            event_type: &event.event.event_type,
            streams: &event.event.streams,
            recorded_at: event.event.recorded_at,
            actor: event.event.actor.as_deref(),
            data: event.event.data.as_str(),
        });
    }
    checker
}

/// The open proposal of each wish at the end of the log (wish → units), as
/// the log tells it.
fn open_proposals(events: &[LogEvent]) -> BTreeMap<WishId, Vec<UnitRef>> {
    let mut open = BTreeMap::new();
    for event in events {
        match decode(event) {
            Some(BookingInput::Wish(WishEvent::ProposalMade(made))) => {
                open.insert(made.wish, made.units);
            }
            Some(BookingInput::Wish(
                WishEvent::ProposalAccepted(terminagent_domain::ProposalAccepted { wish, .. })
                | WishEvent::ProposalDeclined(terminagent_domain::ProposalClosed { wish, .. })
                | WishEvent::ProposalExpired(terminagent_domain::ProposalClosed { wish, .. })
                | WishEvent::ProposalWithdrawn(terminagent_domain::ProposalClosed { wish, .. })
                | WishEvent::Ended(terminagent_domain::WishEnded { wish, .. }),
            )) => {
                open.remove(&wish);
            }
            _ => {}
        }
    }
    open
}

/// Invariant 6 (the engine against its own replay: determinism, not
/// correctness, which is the checker's): a fresh waitlist, folding the log
/// event by event, had planned each logged proposal exactly as it was made,
/// holds exactly the log's open proposals at the end and plans nothing more.
fn check_replay(events: &[LogEvent], open: &BTreeMap<WishId, Vec<UnitRef>>) -> Result<(), String> {
    let mut replay = Waitlist::default();
    let mut wishes = Vec::new();
    for event in events {
        if let Some(BookingInput::Wish(WishEvent::ProposalMade(made))) = decode(event) {
            let planned = replay
                .planned_for(&made.wish)
                .ok_or_else(|| format!("the replay planned nothing for {} at {}", made.wish, event.position))?;
            let as_planned = (&planned.office, planned.start, &planned.units);
            if as_planned != (&made.office, made.start, &made.units) {
                return Err(format!("replay planned {planned:?}, the log holds {made:?}"));
            }
        }
        if let Some(BookingInput::Wish(WishEvent::Registered(registered))) = decode(event) {
            wishes.push(registered.wish);
        }
        replay.apply(event);
    }
    for wish in wishes {
        if replay.proposed_units(&wish).as_ref() != open.get(&wish) {
            return Err(format!(
                "the engine holds {:?} for {wish}, the log {:?}",
                replay.proposed_units(&wish),
                open.get(&wish)
            ));
        }
    }
    if let Some(planned) = replay.planned().next() {
        return Err(format!("a planned proposal never made: {planned:?}"));
    }
    Ok(())
}

/// Plays the history to rest: the matcher caught up after every step, and
/// the log's time caught up with the clock at the end.
async fn play(ops: &[Op]) -> Result<(World, terminagent::matcher::MatcherProgress), String> {
    let mut world = World::new().await;
    let mut progress = world.matcher.start().await;
    world.settle(&mut progress).await;
    for op in ops {
        world.apply(op).await?;
        world.settle(&mut progress).await;
    }
    // Let the log's time catch up with the clock, so plans whose start passed
    // meanwhile are withdrawn by the log, not only by the clock.
    world
        .apply(&Op::Wish {
            citizen: 99,
            offices: 1,
            hours: 1,
            long: false,
            confirm: true,
        })
        .await?;
    world.settle(&mut progress).await;
    Ok((world, progress))
}

/// Runs the history; returns what the checker saw of the log.
async fn run(ops: Vec<Op>) -> Result<CheckSummary, String> {
    let (world, progress) = play(&ops).await?;
    let events = world.events().await;
    let checked = check_log(&events)?;
    check_replay(&events, &open_proposals(&events))?;
    let head = world.store.catch_up().await.map_err(|e| e.to_string())?;
    world.availability.caught_up_to(head).await;
    let (rebuilt, _) = rebuild::<AvailabilityView>(&world.store)
        .await
        .map_err(|e| e.to_string())?;
    if *world.availability.read() != rebuilt {
        return Err("the rebuilt availability differs from the live one".into());
    }
    // The matcher's own waitlist is the replay's.
    let mut fresh = Waitlist::default();
    events.iter().for_each(|event| fresh.apply(event));
    if progress.waitlist != fresh {
        return Err("the live matcher's waitlist differs from a replay".into());
    }
    // A restart from a snapshot resumes exactly there.
    world
        .matcher
        .save_snapshot(&progress)
        .await
        .map_err(|e| e.to_string())?;
    let restarted = world.matcher.start().await;
    if (restarted.position, &restarted.waitlist) != (progress.position, &fresh) {
        return Err("the matcher restored from its snapshot differs from a replay".into());
    }
    Ok(checked)
}

/// 24 histories by default; `PROPTEST_CASES=500` runs more (the checker's
/// no-false-positives evidence over many real logs).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_waitlist_histories_keep_invariants_3_to_6(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let outcome = runtime.block_on(run(ops));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}

fn plain_history() -> Vec<Op> {
    vec![
        Op::Wish {
            citizen: 0,
            offices: 3,
            hours: 3,
            long: false,
            confirm: true,
        },
        Op::Wish {
            citizen: 1,
            offices: 1,
            hours: 1,
            long: true,
            confirm: true,
        },
        Op::Publish {
            office: 0,
            lane: 1,
            hour: 8,
            units: 3,
        },
        Op::Decline { pick: 0 },
        Op::Advance { minutes: 61 },
        Op::Publish {
            office: 1,
            lane: 1,
            hour: 9,
            units: 1,
        },
        Op::Accept { pick: 0 },
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The generator reaches the interesting cases: proposals are made at all.
#[test]
fn a_plain_history_makes_proposals() {
    let checked = runtime().block_on(run(plain_history())).unwrap();
    assert!(checked.proposals_checked >= 3, "{checked}");
    // Every event had its actor judged, and the first-come scans looked at earlier wishes.
    assert_eq!(checked.actors_checked, checked.events, "{checked}");
    assert!(checked.earlier_wishes_scanned > 0, "{checked}");
}

/// The checker is no rubber stamp: a real log it passes, tampered with, fails
/// at the tampered position.
#[test]
fn the_checker_finds_tampering_in_a_real_log() {
    let runtime = runtime();
    let events = runtime.block_on(async {
        let (world, _) = play(&plain_history()).await.unwrap();
        world.events().await
    });
    check_log(&events).unwrap();
    let first_found = |events: &[LogEvent]| {
        let checker = checker_over(events);
        checker.first_violation().map(|found| (found.position, found.kind))
    };
    let made = events
        .iter()
        .position(|event| event.event.event_type == "proposal.made")
        .unwrap();

    // A proposal made by someone else than the matcher.
    let mut by_citizen = events.clone();
    by_citizen[made].event.actor = Some("citizen".into());
    assert_eq!(
        first_found(&by_citizen),
        Some((events[made].position, ViolationKind::ActorNotAllowed))
    );

    // An event taken out.
    let mut gap = events.clone();
    gap.remove(made);
    assert_eq!(
        first_found(&gap),
        Some((events[made].position + 1, ViolationKind::PositionGap))
    );

    // A proposal replayed under a new id at the end: its units are held (or
    // its wish has one open, or waits no more).
    let mut replayed = events.clone();
    let mut copy = events[made].clone();
    let proposal = events[made].event.data.to_value()["proposal"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = copy
        .event
        .data
        .as_str()
        .replace(&proposal, "01JFORGEDPROPOSAL000000000");
    copy.event.data = terminagent_eventstore::EventData::from_value(&serde_json::from_str(&forged).unwrap());
    copy.position = events.last().unwrap().position + 1;
    replayed.push(copy);
    let found = first_found(&replayed).unwrap();
    assert_eq!(found.0, events.last().unwrap().position + 1, "{found:?}");
    assert!(
        matches!(
            found.1,
            ViolationKind::UnitHeldTwice | ViolationKind::SecondOpenProposal | ViolationKind::ProposalMisfit
        ),
        "{found:?}"
    );
}
