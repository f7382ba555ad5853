//! Statistics over a year (issue targets: one office's statistics of a
//! year via HTTP p99 < 50 ms; the whole year's statistics folded from the
//! log < 10 s), on Postgres.
//!
//! A year of office days is written straight into the log (one append per
//! office day, the events the deciders would have made, without their
//! conditions: the statistics read the log, not the decisions): 11 offices
//! (Düsseldorf's count) in Europe/Berlin, Monday to Friday 08:00–16:00 on
//! 7 lanes of 12-minute units; per office day about 230 visits (Düsseldorf's
//! ~700,000 contacts a year), four in five booked online and confirmed, one
//! in five a walk-in ticket; of the bookings 8 % cancelled by the citizen,
//! 2 % lapsed, 15 % no-shows; the rest checked in (at the kiosk, with an
//! estimate), called, served; three services, 1–2 per booking. Each visit
//! is 6 events or fewer.
//!
//! Then:
//! - **fold**: `projections::rebuild::<StatisticsView>` over the whole log,
//!   in this process (read + decode + fold), best of three;
//! - **HTTP**: the release binary on that database; after one warm-up
//!   request (which waits for the view to catch up), `GET
//!   /api/v1/statistics?office=…&from=…&to=…` over the whole year, one
//!   office after another, sequentially, p50/p99 of the answer's time.
//!
//! `cargo build --release -p terminagent && cargo bench -p terminagent-benches --bench statistics [-- --quick]`
//! (`--quick`: a tenth of the visits per day and 100 requests instead of
//! 500). Exits 1 on a missed target.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use chrono::{Datelike, Days, NaiveDate, NaiveTime, Utc, Weekday};
use serde_json::json;
use terminagent::projections::{StatisticsView, rebuild};
use terminagent_benches::{Report, percentile, process_cpu_seconds, start_server, thousands};
use terminagent_domain::floor::{EstimatedCall, VisitCalled, VisitCheckedIn, VisitFinished, VisitMissed, VisitStarted};
use terminagent_domain::{
    BookingCancelled, BookingConfirmed, BookingEvent, BookingId, BookingLapsed, BookingRequested, CapacityPublished,
    CatalogueEvent, CounterId, DomainEvent, EnvelopeId, FloorEvent, LocalDate, LocalTime, MissedReason, OfficeId,
    OfficeTimeZone, SealedPersonalData, ServiceId, TicketIssued, UnitRef, WaitingNumber,
};
use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, EventStore, NewEvent};
use ulid::Ulid;

const TOKEN: &str = "bench-admin-token-of-32-characters-at-least";
const OFFICES: usize = 11;
const LANES: u16 = 7;
const UNIT_MINUTES: u32 = 12;
/// Units per lane from 08:00 to 16:00.
const SLOTS: u32 = 40;
const VISITS_PER_DAY: usize = 230;
const SERVICES: [&str; 3] = ["personalausweis", "reisepass", "meldebescheinigung"];
const HTTP_TARGET_P99_MS: f64 = 50.0;
const FOLD_TARGET_S: f64 = 10.0;

#[tokio::main]
async fn main() -> Result<std::process::ExitCode> {
    let quick = std::env::args().any(|arg| arg == "--quick")
        || std::env::var("TERMINAGENT_BENCH_QUICK").is_ok_and(|value| value == "1");
    let (visits_per_day, requests) = if quick {
        (VISITS_PER_DAY / 10, 100)
    } else {
        (VISITS_PER_DAY, 500)
    };
    let db = TestDatabase::new(Backend::Postgres).await?;
    let mut report = Report::default();
    println!(
        "statistics of a year, Postgres{}: {OFFICES} offices, {visits_per_day} visits per office day",
        if quick { " (quick)" } else { "" }
    );

    // The catalogue through the API (so the server knows the offices), then the year into the log.
    let outbox = std::env::temp_dir().join(format!("terminagent-bench-statistics-{}", Ulid::new()));
    let (server, base) = start_server(&[
        "--admin-token".to_owned(),
        TOKEN.to_owned(),
        "--database-url".to_owned(),
        db.url().to_owned(),
        "--mail".to_owned(),
        format!("file:{}", outbox.display()),
    ])
    .await?;
    let client = reqwest::Client::new();
    let offices: Vec<OfficeId> = (1..=OFFICES)
        .map(|n| OfficeId::parse(&format!("buergerbuero-{n:02}")))
        .collect::<Result<_, _>>()?;
    for office in &offices {
        let body = json!({"name": format!("Bürgerbüro {office}"), "address": "Markt 1", "timezone": "Europe/Berlin"});
        let status = client
            .put(format!("{base}/api/v1/offices/{office}"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await?
            .status();
        ensure!(status.is_success(), "PUT office: {status}");
    }
    for service in SERVICES {
        let body = json!({"name": service, "duration_minutes": 12, "walk_in": true});
        let status = client
            .put(format!("{base}/api/v1/services/{service}"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await?
            .status();
        ensure!(status.is_success(), "PUT service: {status}");
    }
    let store = EventStore::connect(db.url(), Default::default()).await?;
    let today = Utc::now().date_naive();
    let (first, last) = (today - Days::new(365), today - Days::new(1));
    let started = Instant::now();
    let mut events = 0usize;
    let mut generator = Generator::new(visits_per_day);
    for date in first.iter_days().take_while(|date| *date <= last) {
        if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            continue;
        }
        for office in &offices {
            let day = generator.office_day(office, date)?;
            events += day.len();
            store.append(&day, &[]).await.context("appending an office day")?;
        }
    }
    report.info(
        "year written to the log",
        &format!(
            "{} events in {:.1} s ({first} to {last})",
            thousands(events as f64),
            started.elapsed().as_secs_f64()
        ),
    );

    // The fold: read, decode and fold the whole log, best of three.
    let mut folds = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let (view, position) = rebuild::<StatisticsView>(&store).await?;
        folds.push(started.elapsed().as_secs_f64());
        ensure!(position as usize >= events, "the fold reached {position} of {events}");
        let days = view.days(Some(&offices[0]), first, last);
        ensure!(
            days.iter().map(|(_, day)| day.bookings.served).sum::<u64>() > 0,
            "the fold counted nothing"
        );
    }
    folds.sort_by(f64::total_cmp);
    report.check(
        "year folded from the log (best of 3)",
        format!("{:.2} s", folds[0]),
        format!("< {FOLD_TARGET_S} s"),
        folds[0] < FOLD_TARGET_S,
        &format!("(slowest {:.2} s; {} events)", folds[2], thousands(events as f64)),
    );

    // HTTP: one office's year.
    let query = |office: &OfficeId| format!("{base}/api/v1/statistics?office={office}&from={first}&to={last}");
    let started = Instant::now();
    let warm = client.get(query(&offices[0])).bearer_auth(TOKEN).send().await?;
    ensure!(warm.status().is_success(), "statistics: {}", warm.status());
    let answer: serde_json::Value = warm.json().await?;
    ensure!(
        answer["bookings"]["served"].as_u64().unwrap_or(0) > 0,
        "the server counted nothing: {}",
        answer["bookings"]
    );
    report.info(
        "first request (view catching up)",
        &format!("{:.2} s", started.elapsed().as_secs_f64()),
    );
    // The server's other consumers (mail relay and mailer, timers) read the
    // new year too; measure once they are quiet (under 10 % of a core for a
    // second), so the figure is the statistics' own.
    let pid = server.id().context("the server's pid")?;
    let settling = Instant::now();
    while settling.elapsed() < Duration::from_secs(300) {
        let before = process_cpu_seconds(pid)?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        if process_cpu_seconds(pid)? - before < 0.1 {
            break;
        }
    }
    report.info(
        "server quiet after",
        &format!("{:.0} s", settling.elapsed().as_secs_f64()),
    );
    let mut times = Vec::with_capacity(requests);
    let mut bytes = 0;
    for n in 0..requests {
        let started = Instant::now();
        let response = client
            .get(query(&offices[n % OFFICES]))
            .bearer_auth(TOKEN)
            .send()
            .await?;
        ensure!(response.status().is_success(), "statistics: {}", response.status());
        bytes = response.bytes().await?.len();
        times.push(ms(started.elapsed()));
    }
    times.sort_by(f64::total_cmp);
    let p99 = percentile(&times, 0.99);
    report.check(
        "one office's year via HTTP, p99",
        format!("{p99:.1} ms"),
        format!("< {HTTP_TARGET_P99_MS} ms"),
        p99 < HTTP_TARGET_P99_MS,
        &format!(
            "(p50 {:.1} ms, max {:.1} ms, {requests} requests, {} bytes each)",
            percentile(&times, 0.5),
            times.last().copied().unwrap_or(0.0),
            thousands(bytes as f64)
        ),
    );
    drop(server);
    store.close().await;
    std::fs::remove_dir_all(&outbox).ok();
    Ok(report.summary())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Makes office days of events, deterministically (a small LCG, no clock).
struct Generator {
    visits_per_day: usize,
    seed: u64,
    zone: OfficeTimeZone,
    services: Vec<ServiceId>,
}

impl Generator {
    fn new(visits_per_day: usize) -> Self {
        Generator {
            visits_per_day,
            seed: 0x5eed,
            zone: OfficeTimeZone::parse("Europe/Berlin").expect("a zone"),
            services: SERVICES.iter().map(|s| ServiceId::parse(s).expect("a slug")).collect(),
        }
    }

    /// 0..n, pseudo-random.
    fn next(&mut self, n: u64) -> u64 {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.seed >> 33) % n
    }

    fn office_day(&mut self, office: &OfficeId, date: NaiveDate) -> Result<Vec<NewEvent>> {
        let local_date = LocalDate::from_ymd(date.year(), date.month(), date.day()).context("a date")?;
        let zone = self.zone;
        let at = |minutes: u32| -> Result<chrono::DateTime<Utc>> {
            let time = NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0).context("a time")?;
            Ok(zone.instant(date, time)?)
        };
        let opening = 8 * 60;
        // Capacity published four weeks before, then the day's own events.
        let published_at = at(opening)? - chrono::Duration::days(28);
        let mut events: Vec<(chrono::DateTime<Utc>, Entry)> = Vec::new();
        let mut push = |when: chrono::DateTime<Utc>, event: Entry| events.push((when, event));
        push(
            published_at,
            Entry::Catalogue(CatalogueEvent::CapacityPublished(CapacityPublished {
                office: office.clone(),
                date: local_date,
                from: LocalTime::from_hm(8, 0).context("08:00")?,
                to: LocalTime::from_hm(16, 0).context("16:00")?,
                unit_minutes: UNIT_MINUTES,
                lanes: LANES,
                first_lane: 1,
                units: u32::from(LANES) * SLOTS,
            })),
        );
        let visits = self.visits_per_day.min(usize::from(LANES) * SLOTS as usize);
        for visit in 0..visits {
            let lane = (visit % usize::from(LANES)) as u16 + 1;
            let slot = (visit / usize::from(LANES)) as u32;
            let start_minutes = opening + slot * UNIT_MINUTES;
            let start = at(start_minutes)?;
            let end = start + chrono::Duration::minutes(i64::from(UNIT_MINUTES));
            let unit = UnitRef {
                office: office.clone(),
                date: local_date,
                lane,
                start: LocalTime::from_minutes_since_midnight(start_minutes).context("a unit")?,
            };
            let first = self.next(3) as usize;
            let mut services = vec![self.services[first].clone()];
            if self.next(4) == 0 {
                let other = self.next(3) as usize;
                let other = self.services[other].clone();
                if other != services[0] {
                    services.push(other);
                }
            }
            let booking =
                BookingId::from_ulid(Ulid::from_parts(start.timestamp_millis() as u64, u128::from(self.seed)));
            self.next(2);
            let number = WaitingNumber::nth(visit as u32 + 1).context("a number")?;
            let walk_in = self.next(5) == 0;
            if walk_in {
                let issued_at = start - chrono::Duration::minutes(self.next(40) as i64 + 5);
                push(
                    issued_at,
                    Entry::Booking(BookingEvent::TicketIssued(TicketIssued {
                        booking,
                        office: office.clone(),
                        services: services.clone(),
                        units: vec![unit.clone()],
                        start,
                        end,
                        date: local_date,
                        number,
                        checkin_code_hash: "0".repeat(64),
                    })),
                );
            } else {
                let requested_at = start - chrono::Duration::hours(self.next(24 * 20) as i64 + 2);
                push(
                    requested_at,
                    Entry::Booking(BookingEvent::Requested(BookingRequested {
                        booking,
                        office: office.clone(),
                        services: services.clone(),
                        units: vec![unit.clone()],
                        start,
                        end,
                        citizen: SealedPersonalData {
                            envelope_id: EnvelopeId::from_ulid(Ulid::from_parts(
                                requested_at.timestamp_millis() as u64,
                                u128::from(self.seed),
                            )),
                            nonce: "00".repeat(12),
                            ciphertext: "00".repeat(48),
                        },
                        confirm_by: requested_at + chrono::Duration::minutes(30),
                        links: Vec::new(),
                    })),
                );
                match self.next(100) {
                    0..=1 => {
                        push(
                            requested_at + chrono::Duration::minutes(30),
                            Entry::Booking(BookingEvent::Lapsed(BookingLapsed {
                                booking,
                                units: vec![unit.clone()],
                                citizen: None,
                            })),
                        );
                        continue;
                    }
                    _ => push(
                        requested_at + chrono::Duration::minutes(3),
                        Entry::Booking(BookingEvent::Confirmed(BookingConfirmed {
                            booking,
                            office: office.clone(),
                            date: local_date,
                            number,
                            checkin_code_hash: "0".repeat(64),
                            links: Vec::new(),
                        })),
                    ),
                }
                match self.next(100) {
                    0..=7 => {
                        push(
                            requested_at + chrono::Duration::hours(1),
                            Entry::Booking(BookingEvent::Cancelled(BookingCancelled {
                                booking,
                                units: vec![unit.clone()],
                                citizen: None,
                                reason: None,
                            })),
                        );
                        continue;
                    }
                    8..=22 => {
                        push(
                            start + chrono::Duration::minutes(5),
                            Entry::Floor(FloorEvent::Missed(VisitMissed {
                                booking,
                                office: office.clone(),
                                date: local_date,
                                number,
                                start,
                                reason: MissedReason::NoShow,
                                counter: None,
                                missed_at: start + chrono::Duration::minutes(5),
                            })),
                        );
                        continue;
                    }
                    _ => {}
                }
            }
            // On the floor: checked in with an estimate, called, served.
            let checked_in_at = start - chrono::Duration::minutes(self.next(12) as i64);
            let called_at = start + chrono::Duration::seconds(self.next(25 * 60) as i64);
            let started_at = called_at + chrono::Duration::seconds(30 + self.next(90) as i64);
            let finished_at = started_at + chrono::Duration::seconds(300 + self.next(900) as i64);
            let counter = CounterId::parse(&lane.to_string())?;
            push(
                checked_in_at,
                Entry::Floor(FloorEvent::CheckedIn(VisitCheckedIn {
                    booking,
                    office: office.clone(),
                    date: local_date,
                    number,
                    start,
                    checked_in_at,
                    estimate: Some(EstimatedCall {
                        earliest: start,
                        latest: start + chrono::Duration::minutes(15),
                    }),
                })),
            );
            push(
                called_at,
                Entry::Floor(FloorEvent::Called(VisitCalled {
                    booking,
                    office: office.clone(),
                    date: local_date,
                    number,
                    counter: counter.clone(),
                    called_at,
                })),
            );
            push(
                started_at,
                Entry::Floor(FloorEvent::Started(VisitStarted {
                    booking,
                    office: office.clone(),
                    date: local_date,
                    counter: counter.clone(),
                    started_at,
                })),
            );
            push(
                finished_at,
                Entry::Floor(FloorEvent::Finished(VisitFinished {
                    booking,
                    office: office.clone(),
                    date: local_date,
                    counter,
                    finished_at,
                })),
            );
        }
        // In the order they happened (the log's order within the day).
        events.sort_by_key(|(when, _)| *when);
        Ok(events
            .into_iter()
            .map(|(recorded_at, entry)| {
                let (event_type, schema_version, streams, data) = entry.parts();
                NewEvent {
                    event_id: Ulid::from_parts(recorded_at.timestamp_millis() as u64, u128::from(self.bump())),
                    event_type,
                    schema_version,
                    streams,
                    recorded_at,
                    correlation_id: None,
                    causation_id: None,
                    actor: Some("system".to_owned()),
                    data,
                }
            })
            .collect())
    }

    fn bump(&mut self) -> u64 {
        self.next(u64::MAX)
    }
}

/// One event of any family the generator writes.
enum Entry {
    Catalogue(CatalogueEvent),
    Booking(BookingEvent),
    Floor(FloorEvent),
}

impl Entry {
    fn parts(&self) -> (String, u32, Vec<String>, serde_json::Value) {
        fn of(event: &impl DomainEvent) -> (String, u32, Vec<String>, serde_json::Value) {
            (
                event.event_type().to_owned(),
                event.schema_version(),
                event
                    .streams()
                    .iter()
                    .map(|stream| stream.as_str().to_owned())
                    .collect(),
                event.to_data(),
            )
        }
        match self {
            Entry::Catalogue(event) => of(event),
            Entry::Booking(event) => of(event),
            Entry::Floor(event) => of(event),
        }
    }
}
