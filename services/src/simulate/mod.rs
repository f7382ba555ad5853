//! `terminagent simulate`: a synthetic year of a city's citizen offices
//! driven through the real application layer and store, on a virtual clock.
//!
//! One agenda of timed actions (a citizen books, registers a wish, answers a
//! proposal, cancels, draws a ticket; the floor checks in, calls, finishes;
//! staff publish capacity weekly; the timers lapse, expire and mark
//! no-shows) is worked off in time order. Before each action the clock is
//! set to its instant; after it the matcher is stepped until it has read the
//! log's head and appended nothing more, as the real matcher task reacts.
//! New events are then read from the log in order: they feed the report
//! ([`report::LogTally`]), the independent audit ([`audit::Audit`]), and the
//! citizens' reactions (a proposal mail gets its answer scheduled).
//!
//! Everything random comes from one generator seeded by `--seed`, drawn in
//! agenda order, and actions run one at a time, so a seed gives the same
//! log (up to ids and link tokens) and the same report.
//!
//! Known simplifications: every citizen is a new person (no hoarding, no
//! bots); staff act as the operator; the floor calls by counters the driver
//! keeps track of, one counter per lane of the day.

pub mod audit;
pub mod cli;
pub mod report;
pub mod workload;

pub use cli::SimulateArgs;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, Utc, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use terminagent_domain::{
    Actor, BookingCommand, BookingDecider, BookingFacts, BookingId, BookingInput, BookingPolicy, CancelBooking,
    CapacityDecider, CatalogueName, CitizenName, ClosedDays, ConfirmBooking, CounterId, DomainEvent, EmailAddress,
    FloorPolicy, HolidayRegion, IssuedLink, LinkAction, LocalDate, LocalTime, OfficeAddress, OfficeDecider,
    OfficeDetails, OfficeId, OfficeTimeZone, PersonalData, ProposalId, PublishCapacity, RegisterOffice,
    RegisterService, ServiceDecider, ServiceId, StreamName, VisitAction, WeeklyWindows, WishEvent, WishId, WishPolicy,
};
use terminagent_eventstore::{Durability, EventStore, StorageError, StoreOptions};

use crate::application::floor::{
    CounterChange, booking_facts, call_next, change_counter, check_in, mark_no_shows, move_visit,
};
use crate::application::tickets::issue_ticket;
use crate::application::{
    BookingRequest, Clock, ExecuteError, Executor, RegisterWishError, RegisteredWish, RequestBookingError, WishAnswer,
    WishRequest, answer_wish, lapse_due_bookings, register_wish, request_booking,
};
use crate::links::{LinkSecret, code_hash};
use crate::matcher::{MatcherProgress, MatcherService, SnapshotPolicy};
use crate::projections::{AvailabilityView, CatalogueView, FloorView, LinksView, LiveProjection};
use audit::Audit;
use report::{DriverCounts, LogTally, Outcome, Performance, Phases, Report, RunFacts};
use workload::{Behaviour, OFFICES, SERVICES, UNIT_MINUTES, Volumes};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    pub seed: u64,
    /// The first simulated day (its midnight, office time, is the clock's start).
    pub start: NaiveDate,
    pub days: u32,
    /// The first `offices` of Düsseldorf's eleven.
    pub offices: usize,
    /// Contacts and wishes per year at all offices simulated; the defaults
    /// are Düsseldorf's (700,000 and 300,000 for eleven offices), in
    /// proportion to the simulated offices' share of the capacity and times
    /// `scale`.
    pub contacts_per_year: Option<u64>,
    pub wishes_per_year: Option<u64>,
    /// Fraction of the city's volume and capacity (0.1: a tenth).
    pub scale: f64,
    /// Capacity published, in percent of the base (90, 110: what-if).
    pub capacity_percent: u32,
    pub wish_policy: WishPolicy,
    /// Capacity goes online this many weeks ahead, every Monday.
    pub weeks_ahead: u32,
    /// Run the floor (check-in, call, start, finish) for every visit.
    pub floor: bool,
    pub behaviour: Behaviour,
    /// Say on stderr how far the run got, every 30 simulated days.
    pub progress: bool,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        SimulateOptions {
            seed: 1,
            start: NaiveDate::from_ymd_opt(2026, 1, 5).expect("a valid date"),
            days: 365,
            offices: OFFICES.len(),
            contacts_per_year: None,
            wishes_per_year: None,
            scale: 1.0,
            capacity_percent: 100,
            wish_policy: WishPolicy::default(),
            weeks_ahead: 3,
            floor: true,
            behaviour: Behaviour::default(),
            progress: false,
        }
    }
}

impl SimulateOptions {
    fn volumes(&self) -> Volumes {
        // The offices' share of the city's capacity: demand as tight as the city's.
        let lanes = |offices: &[(&str, &str, u32)]| offices.iter().map(|office| office.2).sum::<u32>();
        let offices = &OFFICES[..self.offices.min(OFFICES.len())];
        let share = f64::from(lanes(offices)) / f64::from(lanes(&OFFICES)) * self.scale;
        Volumes {
            contacts_per_year: self
                .contacts_per_year
                .map_or(workload::YEAR_CONTACTS * share, |contacts| contacts as f64),
            wishes_per_year: self
                .wishes_per_year
                .map_or(workload::YEAR_WISHES * share, |wishes| wishes as f64),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("invalid simulation: {0}")]
    Options(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{what} failed: {reason}")]
    Failed { what: &'static str, reason: String },
}

impl SimulateError {
    fn failed(what: &'static str, reason: impl std::fmt::Display) -> Self {
        SimulateError::Failed {
            what,
            reason: reason.to_string(),
        }
    }
}

/// How a simulation opens its database: commits do not wait for the disk
/// (Postgres `synchronous_commit=off`, SQLite `synchronous=NORMAL`). A
/// simulated year is thrown away after its report and needs no crash
/// safety; every append is still a transaction of the real store.
pub fn store_options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Unflushed,
        ..StoreOptions::default()
    }
}

/// The clock the simulation sets; every decision reads it as "now".
#[derive(Debug)]
pub struct VirtualClock(Mutex<DateTime<Utc>>);

impl VirtualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        VirtualClock(Mutex::new(at))
    }

    /// Moves the clock to `at`; never back.
    pub fn set(&self, at: DateTime<Utc>) {
        let mut now = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = (*now).max(at);
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Runs the simulation on `store` (migrated, empty) and reports.
pub async fn run(store: EventStore, options: SimulateOptions) -> Result<Report, SimulateError> {
    if options.offices == 0 || options.offices > OFFICES.len() {
        return Err(SimulateError::Options(format!(
            "--offices must be 1 to {}",
            OFFICES.len()
        )));
    }
    if options.scale.is_nan() || options.scale <= 0.0 {
        return Err(SimulateError::Options("--scale must be above 0".into()));
    }
    if store.catch_up().await? > 0 {
        return Err(SimulateError::Options(
            "the database's log is not empty; simulate into a fresh database".into(),
        ));
    }
    let began = std::time::Instant::now();
    let mut sim = Sim::new(store, options).await?;
    sim.setup().await?;
    sim.work_off().await?;
    sim.report(began.elapsed()).await
}

#[derive(Debug, Clone)]
enum Action {
    /// Midnight: the day's contacts, ticks and publication go on the agenda.
    Day(NaiveDate),
    /// Capacity of one week, at every office.
    PublishWeek(NaiveDate),
    Book,
    Wish,
    WalkIn(usize),
    Confirm(BookingId),
    Cancel(BookingId),
    Answer {
        wish: WishId,
        proposal: ProposalId,
        accept: bool,
    },
    /// The confirm link of the wish's confirm-request mail (double opt-in).
    ConfirmWish(WishId),
    EndWish(WishId),
    CheckIn(BookingId),
    Call {
        office: usize,
        date: NaiveDate,
    },
    Finish {
        facts: BookingFacts,
        office: usize,
        counter: usize,
    },
    /// The timers: lapses of unconfirmed bookings, no-shows.
    Tick,
    /// End of the day: the matcher has caught up; the audit checks quiescence.
    Quiet,
}

/// A booking the driver follows until its visit.
#[derive(Debug, Clone)]
struct Visit {
    office: usize,
    start: DateTime<Utc>,
    minutes: u32,
}

struct Office {
    id: OfficeId,
    details: OfficeDetails,
    base_lanes: u32,
}

struct Sim {
    options: SimulateOptions,
    volumes: Volumes,
    store: EventStore,
    zone: OfficeTimeZone,
    clock: Arc<VirtualClock>,
    executor: Executor,
    secret: LinkSecret,
    matcher: MatcherService,
    progress: MatcherProgress,
    availability: Arc<LiveProjection<AvailabilityView>>,
    floor_view: Arc<LiveProjection<FloorView>>,
    catalogue_view: Arc<LiveProjection<CatalogueView>>,
    links_view: Arc<LiveProjection<LinksView>>,
    rng: StdRng,
    offices: Vec<Office>,
    services: Vec<(ServiceId, u32)>,
    agenda: BTreeMap<(DateTime<Utc>, u64), Action>,
    sequence: u64,
    end: DateTime<Utc>,
    read_position: u64,
    tally: LogTally,
    audit: Audit,
    driver: DriverCounts,
    citizens: u64,
    /// The last wishes registered (citizen, services, request) for duplicates.
    recent_wishes: Vec<(u64, WishRequest)>,
    visits: HashMap<BookingId, Visit>,
    /// Per office day: lanes published (= counters), and per counter the
    /// finish of its visit (`None`: free).
    lanes: HashMap<(usize, NaiveDate), u16>,
    counters: HashMap<(usize, NaiveDate), Vec<Option<DateTime<Utc>>>>,
    quiet_points: u64,
    engine_violations: u64,
    phases: Phases,
}

impl Sim {
    async fn new(store: EventStore, options: SimulateOptions) -> Result<Sim, SimulateError> {
        let zone = OfficeTimeZone::parse("Europe/Berlin").map_err(|e| SimulateError::failed("time zone", e))?;
        let midnight = LocalTime::from_hm(0, 0).expect("midnight");
        let begin = zone
            .instant(options.start, midnight)
            .map_err(|e| SimulateError::failed("start", e))?;
        let last = options
            .start
            .checked_add_days(Days::new(u64::from(options.days)))
            .ok_or_else(|| SimulateError::Options("--days is too large".into()))?;
        let end = zone
            .instant(last, midnight)
            .map_err(|e| SimulateError::failed("end", e))?;
        let clock = Arc::new(VirtualClock::new(begin));
        let executor = Executor::new(store.clone(), clock.clone());
        // The installation's own link secret, so a served run's links work.
        let secret = store
            .vault()
            .installation_secret(LinkSecret::NAME)
            .await
            .map(LinkSecret::new)
            .map_err(|e| SimulateError::failed("the link secret", e))?;
        let matcher = MatcherService {
            executor: executor.clone(),
            links: secret.clone(),
            policy: options.wish_policy,
            // Snapshots are for restarts; one is saved at the end.
            snapshots: SnapshotPolicy {
                every_events: u64::MAX,
                every: std::time::Duration::MAX,
            },
        };
        let progress = matcher.start().await;
        let volumes = options.volumes();
        Ok(Sim {
            rng: StdRng::seed_from_u64(options.seed),
            volumes,
            zone,
            clock,
            secret,
            matcher,
            progress,
            availability: Arc::new(LiveProjection::spawn(store.clone())),
            floor_view: Arc::new(LiveProjection::spawn(store.clone())),
            catalogue_view: Arc::new(LiveProjection::spawn(store.clone())),
            links_view: Arc::new(LiveProjection::spawn(store.clone())),
            executor,
            store,
            offices: Vec::new(),
            services: Vec::new(),
            agenda: BTreeMap::new(),
            sequence: 0,
            end,
            read_position: 0,
            tally: LogTally::new(zone),
            audit: Audit::new(),
            driver: DriverCounts::default(),
            citizens: 0,
            recent_wishes: Vec::new(),
            visits: HashMap::new(),
            lanes: HashMap::new(),
            counters: HashMap::new(),
            quiet_points: 0,
            engine_violations: 0,
            phases: Phases::default(),
            options,
        })
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn schedule(&mut self, at: DateTime<Utc>, action: Action) {
        if at >= self.end {
            return;
        }
        self.sequence += 1;
        self.agenda.insert((at.max(self.now()), self.sequence), action);
    }

    fn at(&self, date: NaiveDate, minutes: u32) -> Option<DateTime<Utc>> {
        let time = LocalTime::from_hm(minutes / 60, minutes % 60)?;
        self.zone.instant(date, time).ok()
    }

    fn today(&self) -> NaiveDate {
        self.zone.today(self.now())
    }

    fn cause(&self, actor: Actor) -> terminagent_domain::Cause {
        self.executor.new_cause(actor)
    }

    /// Offices, services and the first weeks of capacity, as staff would.
    async fn setup(&mut self) -> Result<(), SimulateError> {
        let cause = self.cause(Actor::Operator);
        let hours = workload::opening_hours().map_err(|e| SimulateError::failed("opening hours", e))?;
        let invalid = |e: &dyn std::fmt::Display| SimulateError::failed("the catalogue", e);
        for &(slug, name, lanes) in &OFFICES[..self.options.offices] {
            let command = RegisterOffice {
                office: OfficeId::parse(slug).map_err(|e| invalid(&e))?,
                name: CatalogueName::parse(name).map_err(|e| invalid(&e))?,
                address: OfficeAddress::parse(&format!("{name}, Düsseldorf")).map_err(|e| invalid(&e))?,
                timezone: self.zone,
                opening_hours: Some(hours.clone()),
                holidays: Some(HolidayRegion::NordrheinWestfalen),
                closed_days: ClosedDays::default(),
            };
            self.executor
                .execute::<OfficeDecider>(&[StreamName::office(&command.office)], cause, |_| command.clone())
                .await
                .map_err(|e| SimulateError::failed("registering an office", e))?;
            self.offices.push(Office {
                id: command.office.clone(),
                details: command.details(),
                base_lanes: lanes,
            });
        }
        for &(slug, name, minutes, walk_in, _) in &SERVICES {
            let command = RegisterService {
                service: ServiceId::parse(slug).map_err(|e| invalid(&e))?,
                name: CatalogueName::parse(name).map_err(|e| invalid(&e))?,
                duration_minutes: minutes,
                walk_in,
                description: None,
            };
            self.executor
                .execute::<ServiceDecider>(&[StreamName::service(&command.service)], cause, |_| command.clone())
                .await
                .map_err(|e| SimulateError::failed("registering a service", e))?;
            self.services.push((command.service, minutes));
        }
        // Up to the week the first Monday's publication starts with.
        let start = self.options.start;
        let first_monday = (0..7)
            .filter_map(|ahead| start.checked_add_days(Days::new(ahead)))
            .find(|date| date.weekday() == Weekday::Mon)
            .unwrap_or(start);
        let until = first_monday + Days::new(7 * u64::from(self.options.weeks_ahead));
        let mut date = start;
        while date < until {
            for office in 0..self.offices.len() {
                self.publish_day(office, date).await?;
            }
            date = date + Days::new(1);
        }
        self.settle().await?;
        let first = self.now();
        self.schedule(first, Action::Day(start));
        Ok(())
    }

    /// Works off the agenda in time order until the last day ends.
    async fn work_off(&mut self) -> Result<(), SimulateError> {
        let began = std::time::Instant::now();
        let mut next_progress = self.now() + Duration::days(30);
        while let Some(((at, _), action)) = self.agenda.pop_first() {
            if self.options.progress && at >= next_progress {
                next_progress += Duration::days(30);
                eprintln!(
                    "simulate: {} reached after {:.0} s, {} events",
                    self.today(),
                    began.elapsed().as_secs_f64(),
                    self.read_position
                );
            }
            self.clock.set(at);
            let acting = std::time::Instant::now();
            self.act(action).await?;
            self.phases.actions_seconds += acting.elapsed().as_secs_f64();
            self.settle().await?;
        }
        self.clock.set(self.end);
        self.settle().await?;
        self.quiet_point().await?;
        self.matcher
            .save_snapshot(&self.progress)
            .await
            .map_err(|e| SimulateError::failed("saving the matcher's snapshot", e))?;
        Ok(())
    }

    /// Steps the matcher until it has read the head and appended nothing
    /// more, then reads the new events.
    ///
    /// A step only acts on what it folds and on the timers due now, so one
    /// is skipped when neither gives it work, and the log is asked again
    /// only when the step may have appended: the same steps' effects as
    /// stepping after every action, for a fraction of the round trips.
    async fn settle(&mut self) -> Result<(), SimulateError> {
        // Everything committed is made readable before each step, so the
        // matcher acts on the whole log as on SQLite (Postgres numbers
        // commits a moment later): what it does depends on the seed only.
        let mut head = self.catch_up().await?;
        while self.progress.position < head || self.matcher_timers_due() {
            let stepping = std::time::Instant::now();
            self.matcher.step(&mut self.progress).await?;
            self.phases.matcher_steps += 1;
            self.phases.matcher_seconds += stepping.elapsed().as_secs_f64();
            if !self.matcher_may_have_appended() {
                break;
            }
            let after = self.catch_up().await?;
            if after == head && self.progress.position >= head {
                break;
            }
            head = after;
        }
        let reading = std::time::Instant::now();
        self.read_log(head).await?;
        self.phases.log_seconds += reading.elapsed().as_secs_f64();
        Ok(())
    }

    /// Makes every committed event readable; the head.
    async fn catch_up(&mut self) -> Result<u64, SimulateError> {
        let waiting = std::time::Instant::now();
        let head = self.store.catch_up().await?;
        self.phases.catch_ups += 1;
        self.phases.catch_up_seconds += waiting.elapsed().as_secs_f64();
        Ok(head)
    }

    /// Whether a proposal's expiry or a wish's last date is due now.
    fn matcher_timers_due(&self) -> bool {
        let now = self.now();
        let waitlist = &self.progress.waitlist;
        !waitlist.expiry_due(now).is_empty() || !waitlist.lapse_due(now).is_empty()
    }

    /// Whether the last step had anything to append: a planned proposal
    /// (the log does not hold it yet) or a timer due.
    fn matcher_may_have_appended(&self) -> bool {
        self.progress.waitlist.planned().next().is_some() || self.matcher_timers_due()
    }

    async fn read_log(&mut self, head: u64) -> Result<(), SimulateError> {
        while self.read_position < head {
            let events = self.store.read_all(self.read_position, 2_000).await?;
            let Some(last) = events.last() else { break };
            self.read_position = last.position;
            for event in &events {
                self.tally.observe(event);
                self.audit.observe(event);
                if event.event.event_type == "proposal.made" {
                    let made = BookingInput::from_stored_json(&event.event.event_type, event.event.data.as_str())
                        .map_err(|e| SimulateError::failed("reading a proposal", e))?;
                    if let BookingInput::Wish(WishEvent::ProposalMade(made)) = made {
                        self.proposal_mail(made, event.event.recorded_at);
                    }
                }
            }
        }
        Ok(())
    }

    /// The citizen reads the proposal mail: accepts, declines or lets it expire.
    fn proposal_mail(&mut self, made: terminagent_domain::ProposalMade, at: DateTime<Utc>) {
        let behaviour = self.options.behaviour;
        let draw: f64 = self.rng.r#gen();
        let held = (made.expires_at - at).num_seconds().max(60);
        let after = Duration::seconds((held as f64 * self.rng.gen_range(0.02..0.9)) as i64);
        let accept = draw < behaviour.accept;
        if draw < behaviour.accept + behaviour.decline {
            self.schedule(
                at + after,
                Action::Answer {
                    wish: made.wish,
                    proposal: made.proposal,
                    accept,
                },
            );
        }
    }

    async fn act(&mut self, action: Action) -> Result<(), SimulateError> {
        match action {
            Action::Day(date) => self.day(date),
            Action::PublishWeek(monday) => {
                for ahead in 0..7 {
                    let date = monday + Days::new(ahead);
                    for office in 0..self.offices.len() {
                        self.publish_day(office, date).await?;
                    }
                }
                Ok(())
            }
            Action::Book => self.book().await,
            Action::Wish => self.wish().await,
            Action::WalkIn(office) => self.walk_in(office).await,
            Action::Confirm(booking) => self.confirm(booking).await,
            Action::Cancel(booking) => self.cancel(booking).await,
            Action::Answer { wish, proposal, accept } => self.answer(wish, proposal, accept).await,
            Action::ConfirmWish(wish) => {
                self.driver.decisions += 1;
                let cause = self.cause(Actor::Citizen);
                match answer_wish(&self.executor, &self.secret, cause, WishAnswer::Confirm { wish }).await {
                    Ok(events) if !events.is_empty() => self.driver.wishes_confirmed += 1,
                    Ok(_) | Err(ExecuteError::Rejected(_)) => {}
                    Err(error) => return Err(SimulateError::failed("confirming a wish", error)),
                }
                Ok(())
            }
            Action::EndWish(wish) => {
                self.driver.decisions += 1;
                let cause = self.cause(Actor::Citizen);
                match answer_wish(&self.executor, &self.secret, cause, WishAnswer::End { wish }).await {
                    Ok(events) if !events.is_empty() => self.driver.wishes_ended_by_citizen += 1,
                    Ok(_) | Err(ExecuteError::Rejected(_)) => {}
                    Err(error) => return Err(SimulateError::failed("ending a wish", error)),
                }
                Ok(())
            }
            Action::CheckIn(booking) => self.check_in(booking).await,
            Action::Call { office, date } => self.call(office, date).await,
            Action::Finish { facts, office, counter } => {
                self.driver.decisions += 1;
                let cause = self.cause(Actor::Operator);
                match move_visit(
                    &self.executor,
                    FloorPolicy::default(),
                    cause,
                    &facts,
                    self.zone,
                    VisitAction::Finish,
                )
                .await
                {
                    Ok(_) | Err(ExecuteError::Rejected(_)) => {}
                    Err(error) => return Err(SimulateError::failed("finishing a visit", error)),
                }
                let date: NaiveDate = facts.date.into();
                if let Some(busy) = self.counters.get_mut(&(office, date)).and_then(|c| c.get_mut(counter)) {
                    *busy = None;
                }
                Ok(())
            }
            Action::Tick => self.tick().await,
            Action::Quiet => self.quiet_point().await,
        }
    }

    /// Puts a day on the agenda: contacts at random times, the timers, the
    /// Monday publication, the quiet point at its end, the next day.
    fn day(&mut self, date: NaiveDate) -> Result<(), SimulateError> {
        let open: Vec<usize> = (0..self.offices.len())
            .filter(|&office| self.opening(office, date).is_some())
            .collect();
        let rates = self.volumes.rates(date, !open.is_empty());
        let bookings = workload::round_randomly(&mut self.rng, rates.bookings);
        let wishes = workload::round_randomly(&mut self.rng, rates.wishes);
        let walk_ins = workload::round_randomly(&mut self.rng, rates.walk_ins);
        // Online from 06:00 to 23:00.
        for action in (0..bookings)
            .map(|_| Action::Book)
            .chain((0..wishes).map(|_| Action::Wish))
        {
            let minute = self.rng.gen_range(6 * 60..23 * 60);
            if let Some(at) = self.at(date, minute) {
                self.schedule(at, action);
            }
        }
        let weights: Vec<u32> = (0..self.offices.len())
            .map(|office| {
                if open.contains(&office) {
                    self.offices[office].base_lanes
                } else {
                    0
                }
            })
            .collect();
        if !open.is_empty() {
            for _ in 0..walk_ins {
                let office = workload::pick_weighted(&mut self.rng, &weights);
                let Some((from, to)) = self.opening(office, date) else {
                    continue;
                };
                let minute = self.rng.gen_range(from..to.saturating_sub(30).max(from + 1));
                if let Some(at) = self.at(date, minute) {
                    self.schedule(at, Action::WalkIn(office));
                }
            }
        }
        // The timers: every quarter hour in office hours, hourly else.
        for minute in (0..24 * 60).step_by(15) {
            if ((7 * 60..20 * 60).contains(&minute) || minute % 60 == 0)
                && let Some(at) = self.at(date, minute)
            {
                self.schedule(at, Action::Tick);
            }
        }
        if date.weekday() == Weekday::Mon {
            let week = date + Days::new(7 * u64::from(self.options.weeks_ahead));
            if let Some(at) = self.at(date, 7 * 60) {
                self.schedule(at, Action::PublishWeek(week));
            }
        }
        if let Some(at) = self.at(date, 23 * 60 + 59) {
            self.schedule(at, Action::Quiet);
        }
        let next = date + Days::new(1);
        if let Some(at) = self.at(next, 0) {
            self.schedule(at, Action::Day(next));
        }
        Ok(())
    }

    /// An office's opening on `date` in minutes of the day; `None`: closed.
    fn opening(&self, office: usize, date: NaiveDate) -> Option<(u32, u32)> {
        let details = &self.offices[office].details;
        let local = LocalDate::try_from(date).ok()?;
        if details.closed_on(local).is_some() {
            return None;
        }
        let intervals = details.opening_hours.as_ref()?.day(date.weekday());
        let from = intervals.iter().map(|i| i.from().minutes_since_midnight()).min()?;
        let to = intervals.iter().map(|i| i.to().minutes_since_midnight()).max()?;
        Some((from, to))
    }

    async fn publish_day(&mut self, office: usize, date: NaiveDate) -> Result<(), SimulateError> {
        let Ok(local) = LocalDate::try_from(date) else {
            return Ok(());
        };
        let details = &self.offices[office].details;
        if details.closed_on(local).is_some() {
            return Ok(());
        }
        let intervals = details
            .opening_hours
            .as_ref()
            .map(|hours| hours.day(date.weekday()).to_vec())
            .unwrap_or_default();
        let wanted =
            f64::from(self.offices[office].base_lanes) * self.options.scale * f64::from(self.options.capacity_percent)
                / 100.0;
        let lanes = workload::round_randomly(&mut self.rng, wanted).min(u32::from(u16::MAX)) as u16;
        if lanes == 0 || intervals.is_empty() {
            return Ok(());
        }
        let id = self.offices[office].id.clone();
        let streams = [StreamName::office(&id), StreamName::office_day(&id, date)];
        let cause = self.cause(Actor::Operator);
        for interval in intervals {
            self.driver.decisions += 1;
            self.executor
                .execute::<CapacityDecider>(&streams, cause, |now| PublishCapacity {
                    office: id.clone(),
                    date: local,
                    from: interval.from(),
                    to: interval.to(),
                    unit_minutes: UNIT_MINUTES,
                    lanes,
                    now,
                })
                .await
                .map_err(|e| SimulateError::failed("publishing capacity", e))?;
        }
        self.lanes.insert((office, date), lanes);
        Ok(())
    }

    fn new_citizen(&mut self) -> (u64, PersonalData) {
        self.citizens += 1;
        (self.citizens, citizen(self.citizens))
    }

    fn services_of(&self, picked: &[usize]) -> (Vec<ServiceId>, u32) {
        let ids = picked.iter().map(|&i| self.services[i].0.clone()).collect();
        let minutes = picked.iter().map(|&i| self.services[i].1).sum();
        (ids, minutes)
    }

    async fn caught_up_availability(&self) -> Result<(), SimulateError> {
        self.availability.caught_up_to(self.read_position).await;
        Ok(())
    }

    /// An online booking: the citizen looks for the soonest day with a free
    /// start at their office and takes one of that day's starts.
    async fn book(&mut self) -> Result<(), SimulateError> {
        self.driver.contacts.total += 1;
        self.driver.contacts.online_booking_attempts += 1;
        let weights: Vec<u32> = self.offices.iter().map(|office| office.base_lanes).collect();
        let office = workload::pick_weighted(&mut self.rng, &weights);
        let picked = workload::pick_services(&mut self.rng, false);
        let (services, minutes) = self.services_of(&picked);
        self.caught_up_availability().await?;
        let now = self.now();
        let today = self.today();
        let horizon = BookingPolicy::default().horizon_days;
        let id = self.offices[office].id.clone();
        let mut found = Vec::new();
        for ahead in 0..=u64::from(horizon) {
            let date = today + Days::new(ahead);
            let Ok(local) = LocalDate::try_from(date) else { continue };
            found = self
                .availability
                .read()
                .slots(&id, local, minutes)
                .into_iter()
                .filter_map(|slot| self.zone.instant(date, slot.start).ok())
                .filter(|start| *start > now + Duration::minutes(30))
                .collect();
            if !found.is_empty() {
                break;
            }
        }
        if found.is_empty() {
            self.driver.no_slot_found += 1;
            return Ok(());
        }
        // Most take the soonest start; some pick a time of that day that suits them.
        let start = if self.rng.gen_bool(0.5) {
            found[0]
        } else {
            found[self.rng.gen_range(0..found.len())]
        };
        let (_, person) = self.new_citizen();
        let request = BookingRequest {
            office: id,
            services,
            start,
            citizen: person,
        };
        self.driver.decisions += 1;
        let cause = self.cause(Actor::Citizen);
        let policy = BookingPolicy::default();
        match request_booking(
            &self.executor,
            &self.availability,
            &self.secret,
            policy,
            cause,
            request,
            Some(self.zone),
        )
        .await
        {
            Ok(requested) => {
                self.driver.bookings_requested += 1;
                let booking = requested.booking.booking;
                self.visits.insert(booking, Visit { office, start, minutes });
                if self.rng.gen_bool(self.options.behaviour.confirm) {
                    let after = Duration::minutes(self.rng.gen_range(2..=90));
                    self.schedule(now + after, Action::Confirm(booking));
                }
                // Unconfirmed: the lapse timer frees it after `confirm_ttl`.
            }
            Err(RequestBookingError::Decision(ExecuteError::Rejected(_))) => self.driver.booking_refused += 1,
            Err(error) => return Err(SimulateError::failed("a booking request", error)),
        }
        Ok(())
    }

    /// The confirm link of the booking mail (its decision, as the link runs it).
    async fn confirm(&mut self, booking: BookingId) -> Result<(), SimulateError> {
        self.driver.decisions += 1;
        let booking_stream = StreamName::booking(&booking);
        let state = self
            .executor
            .state_of::<BookingDecider>(std::slice::from_ref(&booking_stream))
            .await?;
        let Some(numbers) = state.numbers_stream(&booking) else {
            return Ok(());
        };
        let Some(visit) = self.visits.get(&booking).cloned() else {
            return Ok(());
        };
        let subject = booking.to_string();
        let cancel_token = self.secret.token(&subject, LinkAction::CancelBooking.as_str());
        let checkin_code_hash = code_hash(&self.secret.checkin_code(&subject));
        let cause = self.cause(Actor::Citizen);
        let confirm = |now| {
            BookingCommand::Confirm(ConfirmBooking {
                booking,
                checkin_code_hash: checkin_code_hash.clone(),
                cancel_link: IssuedLink {
                    action: LinkAction::CancelBooking,
                    token_hash: cancel_token.hash().into(),
                    expires_at: visit.start,
                },
                now,
            })
        };
        match self
            .executor
            .execute::<BookingDecider>(&[booking_stream, numbers], cause, confirm)
            .await
        {
            Ok(events) if !events.is_empty() => {
                self.driver.confirmed += 1;
                self.plan_visit(booking, false);
            }
            Ok(_) | Err(ExecuteError::Rejected(_)) => {}
            Err(error) => return Err(SimulateError::failed("confirming a booking", error)),
        }
        Ok(())
    }

    /// A confirmed booking's future: cancelled, missed, or a visit.
    fn plan_visit(&mut self, booking: BookingId, walk_in: bool) {
        let Some(visit) = self.visits.get(&booking).cloned() else {
            return;
        };
        let now = self.now();
        let behaviour = self.options.behaviour;
        let until_start = (visit.start - now).num_minutes();
        if !walk_in && until_start > 10 && self.rng.gen_bool(behaviour.cancel) {
            let at = now + Duration::minutes(self.rng.gen_range(1..until_start));
            self.schedule(at, Action::Cancel(booking));
            return;
        }
        let no_show = if walk_in {
            behaviour.walk_in_no_show
        } else {
            behaviour.no_show
        };
        if self.rng.gen_bool(no_show) || !self.options.floor {
            // Nobody comes: the no-show timer marks it and frees what is ahead.
            self.visits.remove(&booking);
            return;
        }
        let early = Duration::minutes(self.rng.gen_range(0..=14));
        self.schedule(visit.start - early, Action::CheckIn(booking));
    }

    async fn cancel(&mut self, booking: BookingId) -> Result<(), SimulateError> {
        self.driver.decisions += 1;
        self.visits.remove(&booking);
        let cause = self.cause(Actor::Citizen);
        let cancel = |now| {
            BookingCommand::Cancel(CancelBooking {
                booking,
                now,
                reason: None,
            })
        };
        match self
            .executor
            .execute::<BookingDecider>(&[StreamName::booking(&booking)], cause, cancel)
            .await
        {
            Ok(events) if !events.is_empty() => self.driver.cancelled += 1,
            Ok(_) | Err(ExecuteError::Rejected(_)) => {}
            Err(error) => return Err(SimulateError::failed("cancelling a booking", error)),
        }
        Ok(())
    }

    /// A wish: several offices, hourly windows on some weekdays, often a last date.
    async fn wish(&mut self) -> Result<(), SimulateError> {
        self.driver.contacts.total += 1;
        self.driver.contacts.wish_registrations += 1;
        let behaviour = self.options.behaviour;
        let duplicate = !self.recent_wishes.is_empty() && self.rng.gen_bool(behaviour.duplicate_wish);
        let request = if duplicate {
            // The same citizen registers the same wish again: it gains nothing.
            let index = self.rng.gen_range(0..self.recent_wishes.len());
            self.recent_wishes[index].1.clone()
        } else {
            let weights: Vec<u32> = self.offices.iter().map(|office| office.base_lanes).collect();
            let shape = workload::wish_shape(&mut self.rng, &weights, &behaviour);
            let picked = workload::pick_services(&mut self.rng, false);
            let (services, _) = self.services_of(&picked);
            let until = match shape.until_days {
                Some(days) => Some(
                    LocalDate::try_from(self.today() + Days::new(days))
                        .map_err(|e| SimulateError::failed("a wish's last date", e))?,
                ),
                None => None,
            };
            let (number, person) = self.new_citizen();
            let request = WishRequest {
                offices: shape.offices.iter().map(|&i| self.offices[i].id.clone()).collect(),
                services,
                windows: WeeklyWindows::new(shape.windows).map_err(|e| SimulateError::failed("a wish's windows", e))?,
                until,
                citizen: person,
            };
            if self.recent_wishes.len() >= 64 {
                self.recent_wishes.remove(0);
            }
            self.recent_wishes.push((number, request.clone()));
            request
        };
        self.driver.decisions += 1;
        let cause = self.cause(Actor::Citizen);
        let confirm_ttl = BookingPolicy::default().confirm_ttl;
        match register_wish(&self.executor, &self.secret, confirm_ttl, cause, request).await {
            Ok(RegisteredWish { wish, confirm_by }) => {
                self.driver.wishes_registered += 1;
                // Most press the confirm link of the mail soon; the rest lapse unconfirmed.
                if self.rng.gen_bool(behaviour.confirm_wish) {
                    let within = (confirm_by - self.now()).num_seconds().max(2);
                    let after = Duration::seconds(self.rng.gen_range(1..within));
                    self.schedule(self.now() + after, Action::ConfirmWish(wish));
                }
                if self.rng.gen_bool(behaviour.end_wish) {
                    let after = Duration::hours(self.rng.gen_range(24..=30 * 24));
                    self.schedule(self.now() + after, Action::EndWish(wish));
                }
            }
            Err(RegisterWishError::Decision(ExecuteError::Rejected(_))) => self.driver.wishes_refused += 1,
            Err(error) => return Err(SimulateError::failed("registering a wish", error)),
        }
        Ok(())
    }

    async fn answer(&mut self, wish: WishId, proposal: ProposalId, accept: bool) -> Result<(), SimulateError> {
        self.driver.decisions += 1;
        let cause = self.cause(Actor::Citizen);
        let answer = if accept {
            WishAnswer::Accept { wish, proposal }
        } else {
            WishAnswer::Decline { wish, proposal }
        };
        // A proposal withdrawn or expired meanwhile refuses: the citizen clicked too late.
        let events = match answer_wish(&self.executor, &self.secret, cause, answer).await {
            Ok(events) => events,
            Err(ExecuteError::Rejected(_)) => return Ok(()),
            Err(error) => return Err(SimulateError::failed("answering a proposal", error)),
        };
        for event in events {
            match event {
                WishEvent::ProposalAccepted(accepted) => {
                    self.driver.answers_accepted += 1;
                    let office = self
                        .offices
                        .iter()
                        .position(|office| office.id == accepted.office)
                        .unwrap_or(0);
                    let minutes = (accepted.end - accepted.start).num_minutes().max(0) as u32;
                    self.visits.insert(
                        accepted.booking,
                        Visit {
                            office,
                            start: accepted.start,
                            minutes,
                        },
                    );
                    self.plan_visit(accepted.booking, false);
                }
                WishEvent::ProposalDeclined(_) => self.driver.answers_declined += 1,
                _ => {}
            }
        }
        Ok(())
    }

    /// A walk-in draws a ticket at the kiosk: the next free start today.
    async fn walk_in(&mut self, office: usize) -> Result<(), SimulateError> {
        self.driver.contacts.total += 1;
        self.driver.contacts.walk_ins += 1;
        let picked = workload::pick_services(&mut self.rng, true);
        let (services, minutes) = self.services_of(&picked);
        self.caught_up_availability().await?;
        self.driver.decisions += 1;
        // The kiosk draws for the walk-in; staff and kiosks cause tickets, citizens never.
        let cause = self.cause(Actor::Operator);
        let id = self.offices[office].id.clone();
        match issue_ticket(&self.executor, &self.availability, &self.secret, cause, id, services).await {
            Ok(issued) => {
                self.driver.tickets_issued += 1;
                let ticket = issued.ticket;
                self.visits.insert(
                    ticket.booking,
                    Visit {
                        office,
                        start: ticket.start,
                        minutes,
                    },
                );
                self.plan_visit(ticket.booking, true);
            }
            Err(ExecuteError::Rejected(_)) => self.driver.tickets_refused += 1,
            Err(error) => return Err(SimulateError::failed("issuing a ticket", error)),
        }
        Ok(())
    }

    async fn check_in(&mut self, booking: BookingId) -> Result<(), SimulateError> {
        let Some(visit) = self.visits.get(&booking).cloned() else {
            return Ok(());
        };
        self.driver.decisions += 1;
        // The floor is staff's (or a kiosk's), never the citizen's own act.
        let cause = self.cause(Actor::Operator);
        let id = self.offices[visit.office].id.clone();
        match check_in(&self.executor, FloorPolicy::default(), cause, &id, self.zone, booking).await {
            Ok(_) => {
                let date = self.zone.to_local(visit.start).date_naive();
                let at = visit.start.max(self.now());
                self.schedule(
                    at,
                    Action::Call {
                        office: visit.office,
                        date,
                    },
                );
            }
            // Cancelled meanwhile, or a ticket drawn for later than the window allows.
            Err(ExecuteError::Rejected(_)) => {
                self.visits.remove(&booking);
            }
            Err(error) => return Err(SimulateError::failed("checking in", error)),
        }
        Ok(())
    }

    /// A clerk whose counter is free presses "next".
    async fn call(&mut self, office: usize, date: NaiveDate) -> Result<(), SimulateError> {
        let now = self.now();
        let id = self.offices[office].id.clone();
        if !self.counters.contains_key(&(office, date)) {
            let lanes = self.lanes.get(&(office, date)).copied().unwrap_or(1).max(1);
            for counter in 0..lanes {
                self.driver.decisions += 1;
                let cause = self.cause(Actor::Operator);
                change_counter(
                    &self.executor,
                    cause,
                    &id,
                    self.zone,
                    &counter_id(usize::from(counter))?,
                    CounterChange::Open,
                )
                .await
                .map_err(|e| SimulateError::failed("opening a counter", e))?;
            }
            self.counters.insert((office, date), vec![None; usize::from(lanes)]);
        }
        let counters = &self.counters[&(office, date)];
        let Some(counter) = counters.iter().position(Option::is_none) else {
            // Every clerk is busy: the next to finish calls (after finishing).
            let soonest = counters.iter().flatten().min().copied().unwrap_or(now);
            self.schedule(soonest + Duration::seconds(1), Action::Call { office, date });
            return Ok(());
        };
        self.driver.decisions += 1;
        let cause = self.cause(Actor::Operator);
        let called = match call_next(&self.executor, cause, &id, self.zone, &counter_id(counter)?).await {
            Ok(called) => called,
            Err(ExecuteError::Rejected(_)) => None,
            Err(error) => return Err(SimulateError::failed("calling the next visitor", error)),
        };
        let Some(called) = called else { return Ok(()) };
        let facts = booking_facts(&self.executor, called.booking)
            .await?
            .ok_or_else(|| SimulateError::failed("calling", "a called booking the log does not know"))?;
        self.driver.decisions += 1;
        match move_visit(
            &self.executor,
            FloorPolicy::default(),
            self.cause(Actor::Operator),
            &facts,
            self.zone,
            VisitAction::Start,
        )
        .await
        {
            Ok(_) | Err(ExecuteError::Rejected(_)) => {}
            Err(error) => return Err(SimulateError::failed("starting a visit", error)),
        }
        let minutes = self
            .visits
            .remove(&called.booking)
            .map_or(UNIT_MINUTES, |visit| visit.minutes.max(1));
        let took = Duration::seconds((f64::from(minutes) * 60.0 * self.rng.gen_range(0.6..1.15)) as i64);
        if let Some(busy) = self.counters.get_mut(&(office, date)).and_then(|c| c.get_mut(counter)) {
            *busy = Some(now + took);
        }
        self.schedule(now + took, Action::Finish { facts, office, counter });
        Ok(())
    }

    /// The API process's timers, on the virtual clock.
    async fn tick(&mut self) -> Result<(), SimulateError> {
        let head = self.read_position;
        self.links_view.caught_up_to(head).await;
        self.driver.decisions += lapse_due_bookings(&self.executor, &self.links_view).await as u64;
        if self.options.floor {
            self.floor_view.caught_up_to(head).await;
            self.catalogue_view.caught_up_to(head).await;
            self.driver.decisions += mark_no_shows(
                &self.executor,
                FloorPolicy::default(),
                &self.floor_view,
                &self.catalogue_view,
            )
            .await as u64;
        }
        Ok(())
    }

    /// The matcher has caught up (every action ends in [`Sim::settle`]).
    async fn quiet_point(&mut self) -> Result<(), SimulateError> {
        self.quiet_points += 1;
        self.audit.quiet_point(self.now());
        if self.progress.waitlist.quiescence_violation().is_some() {
            self.engine_violations += 1;
        }
        Ok(())
    }

    async fn report(mut self, wall: std::time::Duration) -> Result<Report, SimulateError> {
        let head = self.store.catch_up().await?;
        self.read_log(head).await?;
        let figures = self.tally.finish(self.end, &self.driver);
        let findings = self.audit.findings();
        let wall_seconds = wall.as_secs_f64();
        let options = &self.options;
        let outcome = Outcome {
            run: RunFacts {
                seed: options.seed,
                backend: match self.store {
                    EventStore::Postgres(_) => "postgres".to_owned(),
                    EventStore::Sqlite(_) => "sqlite".to_owned(),
                },
                start: options.start,
                days: options.days,
                offices: options.offices,
                contacts_per_year: self.volumes.contacts_per_year.round() as u64,
                wishes_per_year: self.volumes.wishes_per_year.round() as u64,
                capacity_percent: options.capacity_percent,
                proposal_ttl_hours: options.wish_policy.proposal_ttl.num_minutes() as f64 / 60.0,
                max_unanswered_proposals: options.wish_policy.max_unanswered,
                floor: options.floor,
            },
            events: figures.events,
            events_by_type: figures.events_by_type,
            contacts: self.driver.contacts.clone(),
            driver: self.driver.clone(),
            bookings: figures.bookings,
            wishes: figures.wishes,
            proposals: figures.proposals,
            capacity: figures.capacity,
            time_to_first_proposal_hours: figures.time_to_first_proposal_hours,
            floor: figures.floor,
            invariants: report::Invariants {
                first_come_violations: findings.first_come,
                quiescence_violations: findings.quiescence,
                other_violations: findings.other,
                first_violation: findings.first,
                checker: findings.checker,
                quiet_points: self.quiet_points,
                engine_quiescence_violations: self.engine_violations,
            },
        };
        Ok(Report {
            performance: Performance {
                wall_seconds: (wall_seconds * 10.0).round() / 10.0,
                events_per_second: if wall_seconds > 0.0 {
                    (outcome.events as f64 / wall_seconds).round()
                } else {
                    0.0
                },
                decisions: self.driver.decisions,
                phases: round_phases(self.phases),
            },
            outcome,
        })
    }
}

/// Tenths of a second are enough to see where the time went.
fn round_phases(phases: Phases) -> Phases {
    let tenths = |seconds: f64| (seconds * 10.0).round() / 10.0;
    Phases {
        actions_seconds: tenths(phases.actions_seconds),
        catch_up_seconds: tenths(phases.catch_up_seconds),
        matcher_seconds: tenths(phases.matcher_seconds),
        log_seconds: tenths(phases.log_seconds),
        ..phases
    }
}

fn citizen(number: u64) -> PersonalData {
    PersonalData {
        name: CitizenName::parse(&format!("Bürgerin {number}")).expect("a valid name"),
        email: EmailAddress::parse(&format!("buerger{number}@simulation.example.org")).expect("a valid address"),
        phone: None,
    }
}

fn counter_id(counter: usize) -> Result<CounterId, SimulateError> {
    CounterId::parse(&(counter + 1).to_string()).map_err(|e| SimulateError::failed("a counter", e))
}
