//! The waitlist in the running system, on Postgres:
//! - **freed unit → proposal committed**: a matcher (`MatcherService`, on a
//!   store connection of its own, as a separate `matcher` process has) waits
//!   with 1,000 wishes; one unit is published at a time, and the time from
//!   the publication's commit until a reader of the log sees the proposal
//!   for it is taken, p50/p99 (target p99 < 50 ms). The path needs no NATS
//!   (NATS carries only mail), so none is involved.
//! - **matcher restart** with 1,000,000 waiting wishes in the log: replaying
//!   the log from position 0, saving a snapshot, and restarting from the
//!   snapshot up to the head (target < 3 s).
//!
//! `cargo bench -p terminagent-benches --bench waitlist [-- --quick]`
//! (`--quick`: 100,000 wishes and 50 samples, a smoke run).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{Days, Utc};
use terminagent::application::{Executor, SystemClock};
use terminagent::links::LinkSecret;
use terminagent::matcher::{MatcherProgress, MatcherService, SnapshotPolicy};
use terminagent_benches::{Report, thousands};
use terminagent_domain::Actor;
use terminagent_domain::{
    CapacityDecider, CatalogueName, DomainEvent, EnvelopeId, IssuedLink, LinkAction, LocalDate, LocalTime,
    OfficeAddress, OfficeDecider, OfficeId, OfficeTimeZone, PublishCapacity, RegisterOffice, RegisterService,
    SealedPersonalData, ServiceDecider, ServiceId, StreamName, WeeklyWindows, WishEvent, WishId, WishPolicy,
    WishRegistered,
};
use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, EventStore, NewEvent, StoreOptions};
use ulid::Ulid;

const LATENCY_TARGET_P99_MS: f64 = 50.0;
const RESTART_TARGET_SECONDS: f64 = 3.0;
const LATENCY_WISHES: usize = 1_000;
const OFFICES: usize = 7;
/// Units published before the measured ones.
const WARM_UP: usize = 5;

#[tokio::main]
async fn main() -> Result<std::process::ExitCode> {
    let quick = std::env::args().any(|arg| arg == "--quick")
        || std::env::var("TERMINAGENT_BENCH_QUICK").is_ok_and(|value| value == "1");
    let (samples, wishes) = if quick { (50, 100_000) } else { (300, 1_000_000) };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "waitlist on Postgres{}; load average {}",
        if quick { " (quick)" } else { "" },
        load.split_whitespace().next().unwrap_or("?")
    );
    let mut report = Report::default();
    latency(&mut report, samples).await?;
    restart(&mut report, wishes).await?;
    Ok(report.summary())
}

struct Catalogue {
    offices: Vec<OfficeId>,
    service: ServiceId,
}

async fn open(db: &TestDatabase) -> Result<EventStore> {
    let store = EventStore::connect(db.url(), StoreOptions::default()).await?;
    store.migrate().await?;
    Ok(store)
}

async fn catalogue(executor: &Executor) -> Result<Catalogue> {
    let cause = executor.new_cause(Actor::Operator);
    let zone = OfficeTimeZone::parse("Europe/Berlin").expect("a known zone");
    let mut offices = Vec::new();
    for n in 0..OFFICES {
        let command = RegisterOffice {
            office: OfficeId::parse(&format!("bss-{n}"))?,
            name: CatalogueName::parse(&format!("Bürger-Service-Station {n}"))?,
            address: OfficeAddress::parse("Rathausplatz 1")?,
            timezone: zone,
            opening_hours: None,
            holidays: None,
            closed_days: Default::default(),
        };
        executor
            .execute::<OfficeDecider>(&[StreamName::office(&command.office)], cause, |_| command.clone())
            .await?;
        offices.push(command.office);
    }
    let service = ServiceId::parse("personalausweis")?;
    let command = RegisterService {
        service: service.clone(),
        name: CatalogueName::parse("Personalausweis")?,
        duration_minutes: 12,
        walk_in: false,
        description: None,
    };
    executor
        .execute::<ServiceDecider>(&[StreamName::service(&service)], cause, |_| command.clone())
        .await?;
    Ok(Catalogue { offices, service })
}

/// A wish as `POST /api/v1/wishes` logs it (the sealed envelope a stand-in).
fn wish_registered(n: u64, catalogue: &Catalogue, windows: WeeklyWindows, office: usize) -> NewEvent {
    let now = Utc::now();
    let wish = WishId::from_ulid(Ulid::from_parts(now.timestamp_millis() as u64, u128::from(n) << 20 | 1));
    let envelope = EnvelopeId::from_ulid(Ulid::from_parts(now.timestamp_millis() as u64, u128::from(n) << 20 | 2));
    let event = WishEvent::Registered(WishRegistered {
        wish,
        offices: vec![catalogue.offices[office % OFFICES].clone()],
        services: vec![catalogue.service.clone()],
        windows,
        until: None,
        lapses_at: None,
        citizen: SealedPersonalData {
            envelope_id: envelope,
            nonce: "00".repeat(12),
            ciphertext: "ab".repeat(80),
        },
        links: vec![IssuedLink {
            action: LinkAction::EndWish,
            token_hash: format!("{n:064x}"),
            expires_at: now + chrono::Duration::days(3653),
        }],
        // Waiting at once (a version-1 registration): the bench measures the queue.
        registered_at: now,
        confirm_by: None,
    });
    NewEvent {
        event_id: Ulid::new(),
        event_type: event.event_type().to_owned(),
        schema_version: event.schema_version(),
        streams: event.streams().iter().map(|s| s.as_str().to_owned()).collect(),
        recorded_at: now,
        correlation_id: None,
        causation_id: None,
        actor: None,
        data: event.to_data(),
    }
}

async fn append_wishes(store: &EventStore, catalogue: &Catalogue, count: usize, windows: WeeklyWindows) -> Result<()> {
    let mut batch = Vec::with_capacity(1000);
    for n in 0..count {
        batch.push(wish_registered(n as u64, catalogue, windows, n));
        if batch.len() == 1000 || n + 1 == count {
            store.append(&batch, &[]).await.context("appending wishes")?;
            batch.clear();
        }
    }
    Ok(())
}

fn matcher(executor: Executor) -> MatcherService {
    MatcherService {
        executor,
        links: LinkSecret::new([9; 32]),
        policy: WishPolicy::default(),
        snapshots: SnapshotPolicy {
            every_events: u64::MAX,
            every: Duration::MAX,
        },
    }
}

async fn latency(report: &mut Report, samples: usize) -> Result<()> {
    let db = TestDatabase::new(Backend::Postgres).await?;
    let store = open(&db).await?;
    let executor = Executor::new(store.clone(), Arc::new(SystemClock));
    let catalogue = catalogue(&executor).await?;
    let first_day = Utc::now().date_naive() + Days::new(7);
    let weekdays = [
        chrono::Weekday::Mon,
        chrono::Weekday::Tue,
        chrono::Weekday::Wed,
        chrono::Weekday::Thu,
        chrono::Weekday::Fri,
        chrono::Weekday::Sat,
        chrono::Weekday::Sun,
    ];
    let windows = WeeklyWindows::new(
        weekdays
            .into_iter()
            .flat_map(|day| (8..20).map(move |hour| (day, hour))),
    )?;
    // All at one office, so every published unit has a taker.
    let one_office = Catalogue {
        offices: vec![catalogue.offices[0].clone(); OFFICES],
        ..catalogue
    };
    append_wishes(&store, &one_office, LATENCY_WISHES, windows).await?;

    // The matcher on a connection of its own: it hears of commits as another process would.
    let matcher_store = open(&db).await?;
    let matcher = matcher(Executor::new(matcher_store, Arc::new(SystemClock)));
    let running = tokio::spawn(matcher.run());

    let office = one_office.offices[0].clone();
    let mut subscription = store.subscribe(store.catch_up().await?);
    let cause = executor.new_cause(Actor::Operator);
    let mut latencies = Vec::with_capacity(samples);
    for sample in 0..samples + WARM_UP {
        // 60 units a day (08:00–19:48), one day after another.
        let day = first_day + Days::new((sample / 60) as u64);
        let date = LocalDate::try_from(day)?;
        let from =
            LocalTime::from_hm(8 + (sample % 60) as u32 / 5, (sample % 5) as u32 * 12).expect("within 08:00–19:48");
        let to = from.add_minutes(12).expect("same day");
        let streams = [StreamName::office(&office), StreamName::office_day(&office, day)];
        let started = Instant::now();
        executor
            .execute::<CapacityDecider>(&streams, cause, |now| PublishCapacity {
                office: office.clone(),
                date,
                from,
                to,
                unit_minutes: 12,
                lanes: 1,
                now,
            })
            .await
            .with_context(|| format!("publishing sample {sample}"))?;
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), subscription.next())
                .await
                .context("a proposal within 10 s")??;
            if event.event.event_type == "proposal.made" {
                break;
            }
        }
        // The first few warm the connections and prepared statements up.
        if sample >= WARM_UP {
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    running.abort();
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    let p99 = percentile(0.99);
    report.check(
        "freed unit → proposal committed, p99",
        format!("{p99:.1} ms"),
        format!("< {LATENCY_TARGET_P99_MS} ms"),
        p99 < LATENCY_TARGET_P99_MS,
        &format!(
            "(p50 {:.1} ms, max {:.1} ms; {samples} units after {WARM_UP} to warm up, {LATENCY_WISHES} waiting wishes; publish commit included)",
            percentile(0.5),
            latencies[latencies.len() - 1]
        ),
    );
    Ok(())
}

/// Starts `service` (from its snapshot, if any) and steps it to the log's
/// `head`; the seconds that took. Checks it then knows all `wishes`.
async fn start_and_catch_up(service: &MatcherService, head: u64, wishes: usize) -> Result<(MatcherProgress, f64)> {
    let started = Instant::now();
    let mut progress = service.start().await;
    while service.step(&mut progress).await? > 0 {}
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(progress.position, head, "caught up");
    assert_eq!(progress.waitlist.waiting_wishes().0, wishes);
    Ok((progress, seconds))
}

async fn restart(report: &mut Report, wishes: usize) -> Result<()> {
    let db = TestDatabase::new(Backend::Postgres).await?;
    let store = open(&db).await?;
    let executor = Executor::new(store.clone(), Arc::new(SystemClock));
    let catalogue = catalogue(&executor).await?;
    let windows = WeeklyWindows::new([(chrono::Weekday::Mon, 8), (chrono::Weekday::Wed, 14)])?;
    let started = Instant::now();
    append_wishes(&store, &catalogue, wishes, windows).await?;
    report.info(
        &format!("log {} wishes (setup)", thousands(wishes as f64)),
        &format!("{:.1} s", started.elapsed().as_secs_f64()),
    );
    let head = store.catch_up().await?;

    // A matcher without a snapshot replays the log from position 0.
    let service = matcher(executor.clone());
    let (progress, replay) = start_and_catch_up(&service, head, wishes).await?;
    report.info("replay the log from position 0", &format!("{replay:.2} s"));

    let started = Instant::now();
    service.save_snapshot(&progress).await?;
    let snapshot = store
        .progress()
        .snapshot(terminagent::matcher::MATCHER_CONSUMER)
        .await?;
    let bytes = snapshot.map_or(0, |snapshot| snapshot.data.len());
    report.info(
        "save a snapshot",
        &format!(
            "{:.2} s  ({} MB, {:.0} bytes per wish)",
            started.elapsed().as_secs_f64(),
            thousands(bytes as f64 / 1e6),
            bytes as f64 / wishes as f64
        ),
    );
    drop(progress);

    // A restarted matcher: the snapshot, then the log after it.
    let restarted_store = open(&db).await?;
    let service = matcher(Executor::new(restarted_store, Arc::new(SystemClock)));
    let (_, seconds) = start_and_catch_up(&service, head, wishes).await?;
    report.check(
        &format!("matcher restart, {} wishes", thousands(wishes as f64)),
        format!("{seconds:.2} s"),
        format!("< {RESTART_TARGET_SECONDS} s"),
        seconds < RESTART_TARGET_SECONDS,
        "(snapshot loaded and decoded, log after it read)",
    );
    Ok(())
}
