//! Random sequences of wishes, capacity, bookings, cancellations, answers and
//! the passing of time, run through the real application layer, store and
//! matcher on SQLite, then checked against DESIGN.md invariants 3–6:
//!
//! - a unit is held by at most one booking or proposal at a time (1);
//! - a wish has at most one open proposal, and is never offered a unit it
//!   declined or let expire (3);
//! - once the matcher has caught up, no idle wish and free unit match (5);
//! - a fresh replay of the log plans exactly the proposals the log holds,
//!   and rebuilds the availability the live view shows (6).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Days, Duration, Utc};
use proptest::prelude::*;
use terminagent::application::{
    BookingRequest, Clock, Executor, WishAnswer, WishRequest, answer_wish, register_wish, request_booking,
};
use terminagent::links::LinkSecret;
use terminagent::matcher::MatcherService;
use terminagent::projections::{AvailabilityView, LiveProjection, rebuild};
use terminagent::waitlist::Waitlist;
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
        3 => (0u8..5, 1u8..=3, 1u8..=3, any::<bool>())
            .prop_map(|(citizen, offices, hours, long)| Op::Wish { citizen, offices, hours, long }),
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

    async fn apply(&mut self, op: &Op) {
        let cause = self.executor.new_cause(Actor::Operator);
        match *op {
            Op::Wish {
                citizen,
                offices,
                hours,
                long,
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
                    citizen: World::citizen(citizen),
                };
                // A duplicate wish is refused; that is part of the game.
                if let Ok(wish) = register_wish(&self.executor, &self.secret, cause, request).await {
                    self.wishes.push(wish);
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
                let _ = self
                    .executor
                    .execute::<CapacityDecider>(&streams, cause, |now| PublishCapacity {
                        office: office.clone(),
                        date,
                        from,
                        to,
                        unit_minutes: 12,
                        lanes: lane,
                        now,
                    })
                    .await;
            }
            Op::Book {
                office,
                hour,
                slot,
                citizen,
            } => {
                let request = BookingRequest {
                    office: OfficeId::parse(OFFICES[office as usize]).unwrap(),
                    services: vec![ServiceId::parse("short").unwrap()],
                    start: self.at(hour, slot * 12),
                    citizen: World::citizen(citizen + 10),
                };
                let policy = terminagent_domain::BookingPolicy::default();
                let _ = request_booking(
                    &self.executor,
                    &self.availability,
                    &self.secret,
                    policy,
                    cause,
                    request,
                    None,
                )
                .await;
            }
            Op::Cancel { pick } => {
                let bookings = self.bookings().await;
                if bookings.is_empty() {
                    return;
                }
                let booking = bookings[pick % bookings.len()];
                let _ = self
                    .executor
                    .execute::<BookingDecider>(&[StreamName::booking(&booking)], cause, |now| {
                        BookingCommand::Cancel(CancelBooking {
                            booking,
                            now,
                            reason: None,
                        })
                    })
                    .await;
            }
            Op::Decline { pick } | Op::Accept { pick } => {
                if self.wishes.is_empty() {
                    return;
                }
                let wish = self.wishes[pick % self.wishes.len()];
                let Some(proposal) = self.open_proposal(wish).await else {
                    return;
                };
                let answer = match op {
                    Op::Accept { .. } => WishAnswer::Accept { wish, proposal },
                    _ => WishAnswer::Decline { wish, proposal },
                };
                let _ = answer_wish(&self.executor, &self.secret, cause, answer).await;
            }
            Op::End { pick } => {
                if self.wishes.is_empty() {
                    return;
                }
                let wish = self.wishes[pick % self.wishes.len()];
                let _ = answer_wish(&self.executor, &self.secret, cause, WishAnswer::End { wish }).await;
            }
            Op::Advance { minutes } => {
                *self.clock.0.lock().unwrap() += Duration::minutes(minutes);
            }
        }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Booking(BookingId),
    Wish(WishId),
}

/// Invariants 1 and 3 over the log, in order; returns the open proposals at
/// the end (wish → units).
fn check_holds(events: &[LogEvent]) -> Result<BTreeMap<WishId, Vec<UnitRef>>, String> {
    let mut holders: BTreeMap<UnitRef, Holder> = BTreeMap::new();
    let mut open: BTreeMap<WishId, (ProposalId, Vec<UnitRef>)> = BTreeMap::new();
    let mut let_go: BTreeMap<WishId, BTreeSet<UnitRef>> = BTreeMap::new();
    let take = |holders: &mut BTreeMap<UnitRef, Holder>, units: &[UnitRef], holder: Holder| {
        for unit in units {
            if let Some(before) = holders.insert(unit.clone(), holder) {
                return Err(format!("{unit:?} held by {before:?} taken by {holder:?}"));
            }
        }
        Ok(())
    };
    let free = |holders: &mut BTreeMap<UnitRef, Holder>, units: &[UnitRef], holder: Holder| {
        for unit in units {
            if holders.remove(unit) != Some(holder) {
                return Err(format!("{unit:?} released by {holder:?}, which did not hold it"));
            }
        }
        Ok(())
    };
    for event in events {
        use terminagent_domain::BookingEvent as B;
        match decode(event) {
            Some(BookingInput::Booking(B::Requested(requested))) => {
                take(&mut holders, &requested.units, Holder::Booking(requested.booking))?
            }
            Some(BookingInput::Booking(B::Cancelled(cancelled))) => {
                free(&mut holders, &cancelled.units, Holder::Booking(cancelled.booking))?
            }
            Some(BookingInput::Booking(B::Lapsed(lapsed))) => {
                free(&mut holders, &lapsed.units, Holder::Booking(lapsed.booking))?
            }
            Some(BookingInput::Wish(WishEvent::ProposalMade(made))) => {
                if let Some((already, _)) = open.insert(made.wish, (made.proposal, made.units.clone())) {
                    return Err(format!("{} got {} while {already} was open", made.wish, made.proposal));
                }
                if let Some(unit) = made
                    .units
                    .iter()
                    .find(|unit| let_go.get(&made.wish).is_some_and(|set| set.contains(unit)))
                {
                    return Err(format!("{} was offered {unit:?} again", made.wish));
                }
                take(&mut holders, &made.units, Holder::Wish(made.wish))?
            }
            Some(BookingInput::Wish(WishEvent::ProposalAccepted(accepted))) => {
                open.remove(&accepted.wish);
                free(&mut holders, &accepted.units, Holder::Wish(accepted.wish))?;
                take(&mut holders, &accepted.units, Holder::Booking(accepted.booking))?
            }
            Some(BookingInput::Wish(WishEvent::ProposalDeclined(closed) | WishEvent::ProposalExpired(closed))) => {
                open.remove(&closed.wish);
                let_go
                    .entry(closed.wish)
                    .or_default()
                    .extend(closed.units.iter().cloned());
                free(&mut holders, &closed.units, Holder::Wish(closed.wish))?
            }
            Some(BookingInput::Wish(WishEvent::Ended(ended))) => {
                open.remove(&ended.wish);
                free(&mut holders, &ended.units, Holder::Wish(ended.wish))?
            }
            _ => {}
        }
    }
    Ok(open.into_iter().map(|(wish, (_, units))| (wish, units)).collect())
}

/// Invariant 6: a fresh waitlist, folding the log event by event, had planned
/// each logged proposal exactly as it was made; and invariant 5 at the end.
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
    // What the engine holds for a wish is exactly its open proposal in the log.
    for wish in wishes {
        if replay.proposed_units(&wish).as_ref() != open.get(&wish) {
            return Err(format!(
                "the engine holds {:?} for {wish}, the log {:?}",
                replay.proposed_units(&wish),
                open.get(&wish)
            ));
        }
    }
    if let Some(violation) = replay.quiescence_violation() {
        return Err(format!("not quiescent: {violation:?}"));
    }
    if let Some(planned) = replay.planned().next() {
        return Err(format!("a planned proposal never made: {planned:?}"));
    }
    Ok(())
}

/// Runs the history; returns how many proposals the log holds.
async fn run(ops: Vec<Op>) -> Result<usize, String> {
    let mut world = World::new().await;
    let mut progress = world.matcher.start().await;
    world.settle(&mut progress).await;
    for op in &ops {
        world.apply(op).await;
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
        })
        .await;
    world.settle(&mut progress).await;

    let events = world.events().await;
    let open = check_holds(&events)?;
    check_replay(&events, &open)?;
    let proposals = events
        .iter()
        .filter(|event| event.event.event_type == "proposal.made")
        .count();
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
    Ok(proposals)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_waitlist_histories_keep_invariants_3_to_6(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let outcome = runtime.block_on(run(ops));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}

/// The generator reaches the interesting cases: proposals are made at all.
#[test]
fn a_plain_history_makes_proposals() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ops = vec![
        Op::Wish {
            citizen: 0,
            offices: 3,
            hours: 3,
            long: false,
        },
        Op::Wish {
            citizen: 1,
            offices: 1,
            hours: 1,
            long: true,
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
    ];
    let proposals = runtime.block_on(run(ops)).unwrap();
    assert!(proposals >= 3, "{proposals} proposals");
}
