//! Throughput of the audit over a long log, on each backend:
//! `terminagent audit verify` (positions, the hash chain recomputed against
//! the recorded hashes) and `terminagent audit export` (JSON lines to a file),
//! both as the CLI runs them, in events per second of wall time; and the
//! time of `terminagent audit trace` of a proposal late in the log, with the
//! audit's index (`audit::index`: snapshots of the trace's fold, kept as the
//! running system keeps them) and, for comparison, folding the whole log.
//!
//! The log is a waitlist's: 7 offices, capacity on five days, one wish per
//! 20 events (50,000 in a million), each proposed a unit once about 3,000
//! later wishes have registered (so about 3,000 wait at any time), then
//! declined, expired, ended or accepted (30 / 10 / 10 / 50 %; a declined or
//! expired one is proposed again and accepts); between them booking
//! confirmations of about 200 bytes.
//!
//! `cargo bench -p terminagent-benches --bench audit [-- --quick]`
//! (`--quick` or `TERMINAGENT_BENCH_QUICK=1`: a log of 100,000 events instead
//! of 1,000,000; `--backend postgres` or `--backend sqlite`: that backend only).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Result, ensure};
use chrono::{DateTime, Duration, Utc, Weekday};
use serde_json::json;
use terminagent::audit::Lang;
use terminagent::audit::export::{self, Format, Range};
use terminagent::audit::index::WhyIndexer;
use terminagent::audit::trace::{self, Fold};
use terminagent::audit::verify::{self, Verdict};
use terminagent_benches::{Report, thousands};
use terminagent_domain::{
    BookingId, CapacityPublished, CatalogueEvent, CatalogueName, DomainEvent, EnvelopeId, LocalDate, LocalTime,
    OfficeAddress, OfficeDetails, OfficeId, OfficeTimeZone, ProposalAccepted, ProposalClosed, ProposalId, ProposalMade,
    SealedPersonalData, ServiceDetails, ServiceId, UnitRef, WaitingNumber, WeeklyWindows, WishEndReason, WishEnded,
    WishEvent, WishId, WishRegistered,
};
use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, EventStore, NewEvent, StoreOptions};
use ulid::Ulid;

const FULL_LOG: usize = 1_000_000;
const QUICK_LOG: usize = 100_000;
/// Events per append while the log is written (untimed).
const BATCH: usize = 1_000;
/// The booking confirmations between the waitlist's events go to this many streams.
const FILLER_STREAMS: usize = 2;
const VERIFY_TARGET: f64 = 500_000.0;
const EXPORT_TARGET: f64 = 300_000.0;
const TRACE_TARGET_MS: f64 = 100.0;
/// Times the indexed trace is taken (the median is reported).
const TRACE_SAMPLES: usize = 7;
/// One wish registers per this many events of the log.
const EVENTS_PER_WISH: usize = 20;
/// Wishes registered between a wish's registration and its first proposal:
/// about this many wait at any time.
const WAITING: usize = 3_000;
/// Wishes registered between a proposal and its answer.
const ANSWER_AFTER: usize = 40;
const OFFICES: usize = 7;
/// Capacity is published on this many days, Monday to Friday from 2026-12-07.
const DAYS: usize = 5;
const LANES: u16 = 3;
const UNIT_MINUTES: u32 = 12;

/// The allocator the `terminagent` binary runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::process::ExitCode {
    let quick = std::env::args().any(|arg| arg == "--quick")
        || std::env::var("TERMINAGENT_BENCH_QUICK").is_ok_and(|value| value == "1");
    let events = if quick { QUICK_LOG } else { FULL_LOG };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "audit throughput over a log of {} events{}; event data {} bytes of JSON; {} CPUs, load average {}",
        thousands(events as f64),
        if quick { " (quick)" } else { "" },
        new_event("stream", Utc::now()).data.to_string().len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace().next().unwrap_or("?"),
    );
    let only = std::env::args().skip_while(|arg| arg != "--backend").nth(1);
    let mut report = Report::default();
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let name = backend_name(backend);
        if only.as_deref().is_some_and(|only| only != name) {
            continue;
        }
        if let Err(error) = bench_backend(backend, events, &mut report).await {
            report.check(
                &format!("{name} audit"),
                format!("failed: {error:#}"),
                "none".into(),
                false,
                "",
            );
        }
    }
    report.summary()
}

async fn bench_backend(backend: Backend, events: usize, report: &mut Report) -> Result<()> {
    let name = backend_name(backend);
    let db = TestDatabase::new(backend).await?;
    let store = db.store(StoreOptions::default()).await?;
    let started = Instant::now();
    let traced = write_waitlist_log(&store, events).await?;
    let head = store.catch_up().await?;
    ensure!(head as usize == events, "the log has {head} events, not {events}");
    report.info(
        &format!("{name}  log written and hashed"),
        &format!(
            "{} events/s (untimed setup)",
            thousands(events as f64 / started.elapsed().as_secs_f64())
        ),
    );

    let started = Instant::now();
    let verdict = verify::verify(&store, None, &mut [], |_| {}).await?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(
        matches!(verdict, Verdict::Sound { head: tip } if tip.position == head),
        "verify found {verdict:?}"
    );
    let rate = events as f64 / seconds;
    report.check(
        &format!("{name}  audit verify"),
        format!("{} events/s", thousands(rate)),
        format!("≥ {}/s", thousands(VERIFY_TARGET)),
        rate >= VERIFY_TARGET,
        &format!("({seconds:.2} s)"),
    );

    let dir = std::env::temp_dir().join(format!("terminagent-audit-bench-{}", Ulid::new()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("export.jsonl");
    let range = Range::new(None, None)?;
    let started = Instant::now();
    let last = export::last_position(&store, range).await?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let exported = export::export(&store, Format::Jsonl, range, last, &mut out, |_| {}).await?;
    drop(out);
    let seconds = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path)?.len();
    std::fs::remove_dir_all(&dir)?;
    ensure!(exported.events == head, "exported {} of {head} events", exported.events);
    let rate = events as f64 / seconds;
    report.check(
        &format!("{name}  audit export (JSON lines to a file)"),
        format!("{} events/s", thousands(rate)),
        format!("≥ {}/s", thousands(EXPORT_TARGET)),
        rate >= EXPORT_TARGET,
        &format!("({seconds:.2} s, {} MB)", bytes / 1_000_000),
    );

    bench_trace(&store, name, &traced, report).await?;
    store.close().await;
    Ok(())
}

/// `audit trace` of a proposal late in the log: the whole fold once (as
/// without an index), then from the index the running system keeps.
async fn bench_trace(store: &EventStore, name: &str, proposal: &ProposalId, report: &mut Report) -> Result<()> {
    let id = proposal.to_string();
    let started = Instant::now();
    let (whole, from) = trace::trace_folding(store, &id, Lang::De, Fold::Whole).await?;
    let whole_ms = started.elapsed().as_secs_f64() * 1000.0;
    ensure!(from == 0, "the whole fold began after position {from}");
    report.info(
        &format!("{name}  audit trace of a proposal, whole log folded"),
        &format!("{whole_ms:.0} ms (without an index)"),
    );

    // The running system's indexer, caught up to the head (untimed).
    let started = Instant::now();
    let mut indexer = WhyIndexer::resume(store, terminagent::audit::index::EVERY_EVENTS).await?;
    let indexed = indexer.advance(store).await?;
    report.info(
        &format!("{name}  audit index built"),
        &format!(
            "{} events/s up to position {indexed}, {} wishes held one by one at the end (untimed; the running \
             system does this as the log grows)",
            thousands(indexed as f64 / started.elapsed().as_secs_f64()),
            thousands(indexer.wishes_held() as f64),
        ),
    );

    let mut times = Vec::with_capacity(TRACE_SAMPLES);
    let mut from = 0;
    let mut indexed_trace = None;
    for _ in 0..TRACE_SAMPLES {
        let started = Instant::now();
        let (trace, began) = trace::trace_folding(store, &id, Lang::De, Fold::FromIndex).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        from = began;
        indexed_trace = Some(trace);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let indexed_trace = indexed_trace.expect("at least one sample");
    ensure!(from > 0, "the trace did not start from the index");
    ensure!(
        serde_json::to_value(&indexed_trace)? == serde_json::to_value(&whole)?,
        "the trace from the index differs from the whole fold's"
    );
    let why = whole.events.iter().find_map(|event| event.why.as_ref());
    report.check(
        &format!("{name}  audit trace of a proposal (from the index)"),
        format!("{median:.1} ms"),
        format!("< {TRACE_TARGET_MS:.0} ms"),
        median < TRACE_TARGET_MS,
        &format!(
            "(median of {TRACE_SAMPLES}; folded after position {from}; {} events traced, {} earlier wishes explained)",
            whole.events.len(),
            why.map_or(0, |why| why.earlier)
        ),
    );
    Ok(())
}

/// Writes the waitlist's log of `events` events (in batches, untimed);
/// returns the proposal to trace: the last one made before the log's last
/// `ANSWER_AFTER` wishes, so its answer is in the log too.
async fn write_waitlist_log(store: &EventStore, events: usize) -> Result<ProposalId> {
    let mut log = WaitlistLog::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut written = 0;
    let mut traced = None;
    let wishes = events / EVENTS_PER_WISH;
    let mut step = 0;
    while written < events {
        let mut step_events = if step == 0 { log.catalogue() } else { Vec::new() };
        if step < wishes {
            step_events.extend(log.step(step, &mut traced, wishes));
        }
        // Booking confirmations fill the step up to its share of the log.
        while step_events.len() < EVENTS_PER_WISH {
            step_events.push(filler_event(step % FILLER_STREAMS, log.now));
        }
        for event in step_events {
            if written == events {
                break;
            }
            batch.push(event);
            written += 1;
            if batch.len() == BATCH {
                store.append(&batch, &[]).await?;
                batch.clear();
            }
        }
        step += 1;
    }
    if !batch.is_empty() {
        store.append(&batch, &[]).await?;
    }
    traced.ok_or_else(|| anyhow::anyhow!("the log is too short to hold a proposal"))
}

/// What happens to a wish's proposal.
#[derive(Clone, Copy)]
enum Action {
    Propose { wish: usize, round: u8 },
    Answer { wish: usize, round: u8 },
}

/// The waitlist's events, step by step: one wish registers per step.
struct WaitlistLog {
    offices: Vec<OfficeId>,
    service: ServiceId,
    dates: Vec<LocalDate>,
    now: DateTime<Utc>,
    wishes: Vec<(WishId, EnvelopeId)>,
    /// The open proposal of each wish that has one.
    open: BTreeMap<usize, (ProposalId, UnitRef)>,
    due: BTreeMap<usize, Vec<Action>>,
}

impl WaitlistLog {
    fn new() -> WaitlistLog {
        // From Monday, 2026-12-07.
        WaitlistLog {
            offices: (0..OFFICES)
                .map(|n| OfficeId::parse(&format!("bss-{n}")).expect("a slug"))
                .collect(),
            service: ServiceId::parse("personalausweis").expect("a slug"),
            dates: (0..DAYS)
                .map(|day| LocalDate::from_ymd(2026, 12, 7 + day as u32).expect("a date in December"))
                .collect(),
            now: "2026-11-01T07:00:00Z".parse().expect("a time"),
            wishes: Vec::new(),
            open: BTreeMap::new(),
            due: BTreeMap::new(),
        }
    }

    /// The offices, the service and the capacity the proposals take.
    fn catalogue(&self) -> Vec<NewEvent> {
        let zone = OfficeTimeZone::parse("Europe/Berlin").expect("a zone");
        let mut events = Vec::new();
        for (n, office) in self.offices.iter().enumerate() {
            events.push(logged(
                &CatalogueEvent::OfficeRegistered(OfficeDetails {
                    office: office.clone(),
                    name: CatalogueName::parse(&format!("Bürger-Service-Station {n}")).expect("a name"),
                    address: OfficeAddress::parse("Rathausplatz 1").expect("an address"),
                    timezone: zone,
                    opening_hours: None,
                    holidays: None,
                    closed_days: Default::default(),
                }),
                self.now,
            ));
        }
        events.push(logged(
            &CatalogueEvent::ServiceRegistered(ServiceDetails {
                service: self.service.clone(),
                name: CatalogueName::parse("Personalausweis").expect("a name"),
                duration_minutes: UNIT_MINUTES,
                walk_in: false,
                description: None,
            }),
            self.now,
        ));
        for office in &self.offices {
            for date in &self.dates {
                events.push(logged(
                    &CatalogueEvent::CapacityPublished(CapacityPublished {
                        office: office.clone(),
                        date: *date,
                        from: LocalTime::parse("08:00").expect("a time"),
                        to: LocalTime::parse("16:00").expect("a time"),
                        unit_minutes: UNIT_MINUTES,
                        lanes: LANES,
                        first_lane: 1,
                        units: u32::from(LANES) * 40,
                    }),
                    self.now,
                ));
            }
        }
        events
    }

    /// Step `step`: wish `step` registers, and the proposals and answers due now follow.
    fn step(&mut self, step: usize, traced: &mut Option<ProposalId>, wishes: usize) -> Vec<NewEvent> {
        self.now += Duration::seconds(30);
        let mut events = vec![self.register(step)];
        self.due
            .entry(step + WAITING)
            .or_default()
            .push(Action::Propose { wish: step, round: 1 });
        for action in self.due.remove(&step).unwrap_or_default() {
            match action {
                Action::Propose { wish, round } => {
                    let (event, proposal) = self.propose(wish, round);
                    events.push(event);
                    if step + ANSWER_AFTER < wishes {
                        *traced = Some(proposal);
                    }
                    self.due
                        .entry(step + ANSWER_AFTER)
                        .or_default()
                        .push(Action::Answer { wish, round });
                }
                Action::Answer { wish, round } => {
                    let (event, again) = self.answer(wish, round);
                    events.push(event);
                    if again {
                        // Proposed again soon: a wish waits again only briefly.
                        self.due
                            .entry(step + 5)
                            .or_default()
                            .push(Action::Propose { wish, round: 2 });
                    }
                }
            }
        }
        events
    }

    /// Each wish wants one office, every weekday at one hour.
    fn register(&mut self, n: usize) -> NewEvent {
        let wish = WishId::from_ulid(Ulid::from_parts(n as u64 + 1, 1));
        let envelope = EnvelopeId::from_ulid(Ulid::from_parts(n as u64 + 1, 10));
        self.wishes.push((wish, envelope));
        let hour = 8 + (n / OFFICES % 8) as u32;
        let windows = WeeklyWindows::new(
            [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri].map(|day| (day, hour)),
        )
        .expect("hours of the day");
        logged(
            &WishEvent::Registered(WishRegistered {
                wish,
                offices: vec![self.offices[n % OFFICES].clone()],
                services: vec![self.service.clone()],
                windows,
                until: None,
                lapses_at: None,
                citizen: sealed(envelope),
                links: Vec::new(),
                registered_at: self.now,
                confirm_by: None,
            }),
            self.now,
        )
    }

    /// A unit in the wish's office and hour.
    fn propose(&mut self, n: usize, round: u8) -> (NewEvent, ProposalId) {
        let (wish, _) = self.wishes[n];
        // As the matcher makes it: the id's time is the decision's, the time it is recorded at.
        let proposal = ProposalId::from_ulid(Ulid::from_parts(
            self.now.timestamp_millis() as u64,
            ((n as u128) << 8) + u128::from(round),
        ));
        let hour = 8 + (n / OFFICES % 8) as u32;
        let minute = UNIT_MINUTES * (n / (OFFICES * 8) % 5) as u32;
        let unit = UnitRef {
            office: self.offices[n % OFFICES].clone(),
            date: self.dates[n % DAYS],
            lane: 1 + (n % LANES as usize) as u16,
            start: LocalTime::parse(&format!("{hour:02}:{minute:02}")).expect("a time"),
        };
        let start = self.at(&unit);
        self.open.insert(n, (proposal, unit.clone()));
        let event = logged(
            &WishEvent::ProposalMade(ProposalMade {
                proposal,
                wish,
                office: unit.office.clone(),
                units: vec![unit],
                start,
                end: start + Duration::minutes(i64::from(UNIT_MINUTES)),
                expires_at: self.now + Duration::days(2),
                links: Vec::new(),
            }),
            self.now,
        );
        (event, proposal)
    }

    /// The answer to wish `n`'s open proposal; true: it is proposed again.
    fn answer(&mut self, n: usize, round: u8) -> (NewEvent, bool) {
        let (wish, envelope) = self.wishes[n];
        let (proposal, unit) = self.open.remove(&n).expect("an open proposal");
        let closed = ProposalClosed {
            proposal,
            wish,
            units: vec![unit.clone()],
        };
        let (event, again) = match (round, n % 10) {
            (1, 0..=2) => (WishEvent::ProposalDeclined(closed), true),
            (1, 3) => (WishEvent::ProposalExpired(closed), true),
            (1, 4) => (
                WishEvent::Ended(WishEnded {
                    wish,
                    reason: WishEndReason::Citizen,
                    citizen: envelope,
                    proposal: Some(proposal),
                    units: vec![unit],
                }),
                false,
            ),
            _ => {
                let start = self.at(&unit);
                (
                    WishEvent::ProposalAccepted(ProposalAccepted {
                        proposal,
                        wish,
                        booking: BookingId::from_ulid(proposal.as_ulid()),
                        office: unit.office.clone(),
                        services: vec![self.service.clone()],
                        date: unit.date,
                        units: vec![unit],
                        start,
                        end: start + Duration::minutes(i64::from(UNIT_MINUTES)),
                        number: WaitingNumber::nth(1 + (n % 9000) as u32).expect("a number"),
                        citizen: sealed(envelope),
                        checkin_code_hash: "ab".repeat(32),
                        links: Vec::new(),
                    }),
                    false,
                )
            }
        };
        (logged(&event, self.now), again)
    }

    /// When a unit starts (its office is in Berlin: UTC+1 in December).
    fn at(&self, unit: &UnitRef) -> DateTime<Utc> {
        unit.date.as_naive().and_time(unit.start.as_naive()).and_utc() - Duration::hours(1)
    }
}

fn sealed(envelope: EnvelopeId) -> SealedPersonalData {
    SealedPersonalData {
        envelope_id: envelope,
        nonce: "00".repeat(12),
        ciphertext: "ab".repeat(80),
    }
}

/// A domain event as the application layer logs it.
fn logged<E: DomainEvent>(event: &E, at: DateTime<Utc>) -> NewEvent {
    NewEvent {
        event_id: Ulid::new(),
        event_type: event.event_type().to_owned(),
        schema_version: event.schema_version(),
        streams: event.streams().iter().map(|s| s.as_str().to_owned()).collect(),
        recorded_at: at,
        correlation_id: Some(Ulid::new()),
        causation_id: None,
        actor: Some("system:matcher".into()),
        data: event.to_data(),
    }
}

/// A booking confirmation of about 200 bytes, on one of a few streams,
/// recorded at the log's time `at`.
fn filler_event(writer: usize, at: DateTime<Utc>) -> NewEvent {
    new_event(&format!("import-{writer}"), at)
}

/// The eventstore bench's event: a booking confirmation of about 200 bytes.
fn new_event(stream: &str, at: DateTime<Utc>) -> NewEvent {
    NewEvent {
        event_id: Ulid::new(),
        event_type: "booking.confirmed".into(),
        schema_version: 1,
        streams: vec![stream.to_owned()],
        recorded_at: at,
        correlation_id: Some(Ulid::new()),
        causation_id: Some(Ulid::new()),
        actor: Some("citizen".into()),
        data: json!({
            "booking": Ulid::new().to_string(),
            "office": "buergeramt-mitte",
            "service": "passport-renewal",
            "unit": { "date": "2026-12-01", "lane": 3, "start": "09:40" },
            "citizen": format!("env:{}", Ulid::new()),
            "channel": "web",
        }),
    }
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "postgres",
        Backend::Sqlite => "sqlite",
    }
}
