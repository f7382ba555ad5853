//! Throughput of the event store on each backend: single-event appends (8 and
//! 32 writers), 100-event batch appends and reading the whole log; on Postgres
//! also a baseline of plain single-row INSERT commits into a table shaped like
//! `events`. Each figure is events (rows) per second of wall time.
//!
//! `cargo bench -p terminagent-benches --bench eventstore [-- --quick]`
//! (`--quick` or `TERMINAGENT_BENCH_QUICK=1`: 10× fewer events, a smoke test;
//! `--backend postgres` or `--backend sqlite`: that backend only).

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;
use terminagent_benches::{highlight, thousands};

use anyhow::Result;
use chrono::Utc;
use serde_json::json;
use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, Condition, EventStore, ExpectedVersion, NewEvent, PgStoreOptions, StoreOptions};
use tokio::task::JoinSet;
use ulid::Ulid;

/// Events per batch append.
const BATCH: usize = 100;
/// Events per `read_all` page.
const PAGE: usize = 5000;
/// The store's connections for appends and the baseline's connections: one
/// per writer of the largest run, plus one.
const POOL_SIZE: u32 = 33;

const SINGLE_TARGET_PERCENT: f64 = 80.0;
/// Alternating rounds of baseline and appends per concurrency level.
const ROUNDS: usize = 5;
const BATCH_TARGET: f64 = 100_000.0;
const READ_TARGET: f64 = 500_000.0;

/// How many events each measurement of one backend uses.
struct Plan {
    /// (writers, events) of the single-event runs.
    single: [(usize, usize); 2],
    batch_writers: usize,
    batch_events: usize,
    /// The log is topped up to this many events before it is read.
    log_min: usize,
    /// Untimed operations before each timed run.
    warmup: usize,
}

impl Plan {
    fn new(backend: Backend, quick: bool) -> Plan {
        let plan = match backend {
            Backend::Postgres => Plan {
                single: [(8, 20_000), (32, 40_000)],
                batch_writers: 4,
                batch_events: 200_000,
                log_min: 200_000,
                warmup: 500,
            },
            // Every SQLite commit fsyncs and there is one writer connection.
            Backend::Sqlite => Plan {
                single: [(8, 5_000), (32, 10_000)],
                batch_writers: 4,
                batch_events: 100_000,
                log_min: 200_000,
                warmup: 500,
            },
        };
        if !quick {
            return plan;
        }
        let tenth = |n: usize| (n / 10).max(1);
        Plan {
            single: plan.single.map(|(writers, events)| (writers, tenth(events))),
            batch_events: tenth(plan.batch_events),
            log_min: tenth(plan.log_min),
            warmup: tenth(plan.warmup),
            ..plan
        }
    }
}

/// The allocator the `terminagent` binary runs the store with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::process::ExitCode {
    let quick = std::env::args().any(|arg| arg == "--quick")
        || std::env::var("TERMINAGENT_BENCH_QUICK").is_ok_and(|value| value == "1");
    // Other processes on the machine skew every figure; say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "event store throughput{}; event data {} bytes of JSON; {} CPUs, load average {}",
        if quick { " (quick: 10× fewer events)" } else { "" },
        new_event("stream").data.to_string().len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace().next().unwrap_or("?"),
    );
    let only = std::env::args().skip_while(|arg| arg != "--backend").nth(1);
    let mut report = Report::default();
    for backend in [Backend::Postgres, Backend::Sqlite] {
        if only.as_deref().is_some_and(|only| only != backend_name(backend)) {
            continue;
        }
        if let Err(error) = bench_backend(backend, &Plan::new(backend, quick), &mut report).await {
            report.failed(backend, error);
        }
    }
    report.summary()
}

async fn bench_backend(backend: Backend, plan: &Plan, report: &mut Report) -> Result<()> {
    let db = TestDatabase::new(backend).await?;
    let options = StoreOptions {
        postgres: PgStoreOptions {
            max_connections: POOL_SIZE,
            ..PgStoreOptions::default()
        },
        ..StoreOptions::default()
    };
    let store = db.store(options).await?;
    let baseline = match backend {
        Backend::Postgres => Some(baseline_connections(db.url()).await?),
        Backend::Sqlite => None,
    };
    let name = backend_name(backend);

    for (writers, events) in plan.single {
        // Disk flush latency drifts on shared machines: alternate baseline and
        // append rounds and compare medians, so both see the same conditions.
        let per_round = events / ROUNDS;
        let (mut baseline_rates, mut append_rates) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            if let Some(connections) = &baseline {
                baseline_rates.push(baseline_inserts(connections, writers, plan.warmup, per_round).await?);
            }
            append_rates.push(single_appends(&store, writers, plan.warmup, per_round).await?);
        }
        let baseline_rate = (!baseline_rates.is_empty()).then(|| median(&mut baseline_rates));
        if let Some(rate) = baseline_rate {
            let what = format!("baseline INSERT commits, {writers} writers");
            report.line(name, &what, rate, "rows/s", &format!("(median of {ROUNDS} rounds)"));
        }
        let what = format!("single-event appends, {writers} writers");
        report.against_baseline(name, &what, median(&mut append_rates), baseline_rate);
    }

    let what = format!("{BATCH}-event batch appends, {} writers", plan.batch_writers);
    let rate = batch_appends(&store, plan.batch_writers, plan.warmup, plan.batch_events).await?;
    report.with_target(
        name,
        &what,
        rate,
        (backend == Backend::Postgres).then_some(BATCH_TARGET),
    );

    let head = store.catch_up().await? as usize;
    if head < plan.log_min {
        batch_appends(&store, plan.batch_writers, 0, plan.log_min - head).await?;
    }
    // The first pass right after writing shares the machine with the database's
    // own after-work (hint bits on fresh rows, autovacuum and checkpoints
    // triggered by the bulk load). A replay or an audit reads a settled log:
    // the second pass comes after that work is done.
    let (events, first_rate) = read_log(&store).await?;
    settle(&db, backend).await?;
    report.line(
        name,
        &format!("read whole log, first pass ({} events)", thousands(events as f64)),
        first_rate,
        "events/s",
        "",
    );
    let (events, rate) = read_log(&store).await?;
    report.with_target(
        name,
        &format!("read whole log, settled ({} events)", thousands(events as f64)),
        rate,
        Some(READ_TARGET),
    );

    if let Some(connections) = baseline.and_then(Arc::into_inner) {
        for connection in connections.0 {
            use sqlx::Connection;
            connection.into_inner().close().await?;
        }
    }
    store.close().await;
    Ok(())
}

fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// Times `total` operations spread evenly over `writers` concurrent tasks,
/// after `warmup` untimed ones; returns operations per second. `op(writer, i)`
/// is a writer's i-th operation, counting from its first warm-up one, so a
/// writer appending to a stream of its own knows the version to expect.
async fn measure<F, Fut>(writers: usize, warmup: usize, total: usize, op: F) -> Result<f64>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let per_writer = |count: usize| count.div_ceil(writers) as u64;
    let (warm, timed) = (per_writer(warmup), per_writer(total));
    run_writers(&op, writers, 0..warm).await?;
    let start = Instant::now();
    run_writers(&op, writers, warm..warm + timed).await?;
    Ok((timed as usize * writers) as f64 / start.elapsed().as_secs_f64())
}

async fn run_writers<F, Fut>(op: &Arc<F>, writers: usize, range: Range<u64>) -> Result<()>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    for writer in 0..writers {
        let (op, range) = (op.clone(), range.clone());
        tasks.spawn(async move {
            for i in range {
                op(writer, i).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Each writer appends one event per call to its own stream, conditioned on
/// the stream's version like a command is.
async fn single_appends(store: &EventStore, writers: usize, warmup: usize, events: usize) -> Result<f64> {
    let (store, run) = (store.clone(), Ulid::new());
    measure(writers, warmup, events, move |writer, i| {
        let store = store.clone();
        async move {
            let stream = format!("booking-{run}-{writer}");
            let condition = Condition::new(&stream, ExpectedVersion::after(i));
            store.append(&[new_event(&stream)], &[condition]).await?;
            Ok(())
        }
    })
    .await
}

/// Each writer appends batches of [`BATCH`] events to its own stream (`warmup` and
/// `events` count events, not batches); events per second.
async fn batch_appends(store: &EventStore, writers: usize, warmup: usize, events: usize) -> Result<f64> {
    let (store, run) = (store.clone(), Ulid::new());
    let (warmup, batches) = (warmup.div_ceil(BATCH), events.div_ceil(BATCH));
    // The events are made before the clock starts: making them is the
    // writer's work, not the store's, and shares the same two cores.
    let per_writer = warmup.div_ceil(writers) + batches.div_ceil(writers);
    let prepared: Arc<Vec<Vec<Vec<NewEvent>>>> = Arc::new(
        (0..writers)
            .map(|writer| {
                let stream = format!("import-{run}-{writer}");
                (0..per_writer)
                    .map(|_| (0..BATCH).map(|_| new_event(&stream)).collect())
                    .collect()
            })
            .collect(),
    );
    let rate = measure(writers, warmup, batches, move |writer, i| {
        let (store, prepared) = (store.clone(), prepared.clone());
        async move {
            let batch = &prepared[writer][i as usize];
            let condition = Condition::new(&batch[0].streams[0], ExpectedVersion::after(i * BATCH as u64));
            store.append(batch, &[condition]).await?;
            Ok(())
        }
    })
    .await?;
    Ok(rate * BATCH as f64)
}

/// Makes everything readable, then pages through the whole log; returns the
/// number of events and events per second.
async fn read_log(store: &EventStore) -> Result<(u64, f64)> {
    let head = store.catch_up().await?;
    let start = Instant::now();
    let mut after = 0;
    loop {
        let page = store.read_all(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        anyhow::ensure!(last.position == after + page.len() as u64, "positions are not dense");
        after = last.position;
    }
    let elapsed = start.elapsed().as_secs_f64();
    anyhow::ensure!(after == head, "read {after} events, the head is {head}");
    Ok((after, after as f64 / elapsed))
}

/// Does now what the database would do shortly after a bulk load anyway:
/// vacuum and analyse (Postgres), checkpoint the write-ahead log (SQLite).
async fn settle(db: &TestDatabase, backend: Backend) -> Result<()> {
    use sqlx::Connection;
    match backend {
        Backend::Postgres => {
            let mut connection = sqlx::PgConnection::connect(db.url()).await?;
            sqlx::query("VACUUM (ANALYZE) events").execute(&mut connection).await?;
            sqlx::query("CHECKPOINT").execute(&mut connection).await?;
        }
        Backend::Sqlite => {
            let mut connection = sqlx::SqliteConnection::connect(db.url()).await?;
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut connection)
                .await?;
        }
    }
    Ok(())
}

/// A connection per writer, and a table of the very shape of `events`.
struct BaselineConnections(Vec<tokio::sync::Mutex<sqlx::PgConnection>>);

/// Opens the baseline's connections: the store's number, each kept by its
/// writers, so the baseline pays no round trip but its INSERT (no pool ping;
/// the store's appends pay none either).
async fn baseline_connections(url: &str) -> Result<Arc<BaselineConnections>> {
    use sqlx::Connection;
    let mut connections = Vec::new();
    for _ in 0..POOL_SIZE {
        connections.push(tokio::sync::Mutex::new(sqlx::PgConnection::connect(url).await?));
    }
    let mut first = connections[0].lock().await;
    // The very shape of `events`: its columns, defaults, keys and indexes,
    // so the ratio measures what the store does beyond storing the row.
    sqlx::query("CREATE TABLE baseline_events (LIKE events INCLUDING ALL)")
        .execute(&mut *first)
        .await?;
    drop(first);
    Ok(Arc::new(BaselineConnections(connections)))
}

/// Plain single-row INSERTs, each its own (autocommit) transaction.
async fn baseline_inserts(
    connections: &Arc<BaselineConnections>,
    writers: usize,
    warmup: usize,
    rows: usize,
) -> Result<f64> {
    let connections = connections.clone();
    // Each round's writers write streams of their own, from version 1.
    let round = Ulid::new();
    measure(writers, warmup, rows, move |writer, i| {
        let connections = connections.clone();
        async move {
            let stream = format!("booking-{round}-{writer}");
            let event = new_event(&stream);
            let mut connection = connections.0[writer % connections.0.len()].lock().await;
            sqlx::query(
                "INSERT INTO baseline_events (stream, version, home, seq, event_id, event_type, schema_version, streams, \
                 recorded_at, correlation_id, causation_id, data, actor) \
                 VALUES ($9, $10, true, nextval('events_seq'), $1, $2, $3, $4, $5, $6, $7, $8::text::json, $11)",
            )
            .bind(uuid::Uuid::from(event.event_id))
            .bind(&event.event_type)
            .bind(event.schema_version as i32)
            .bind(&event.streams)
            .bind(event.recorded_at)
            .bind(event.correlation_id.map(uuid::Uuid::from))
            .bind(event.causation_id.map(uuid::Uuid::from))
            .bind(event.data.to_string())
            .bind(&stream)
            .bind(i as i64 + 1)
            .bind(event.actor.as_deref())
            .execute(&mut *connection)
            .await?;
            Ok(())
        }
    })
    .await
}

/// A realistic event: a booking with ids, a slot and about 200 bytes of JSON.
fn new_event(stream: &str) -> NewEvent {
    NewEvent {
        event_id: Ulid::new(),
        event_type: "booking.confirmed".into(),
        schema_version: 1,
        streams: vec![stream.to_owned()],
        recorded_at: Utc::now(),
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

/// Prints one line per measurement and keeps the verdicts for the summary.
#[derive(Default)]
struct Report {
    verdicts: Vec<Verdict>,
}

struct Verdict {
    what: String,
    achieved: String,
    target: String,
    pass: bool,
}

impl Report {
    fn line(&self, backend: &str, what: &str, rate: f64, unit: &str, note: &str) {
        let line = format!("{backend:<9} {what:<40} {:>10} {unit:<9} {note}", thousands(rate));
        println!("{}", line.trim_end());
    }

    fn against_baseline(&mut self, backend: &str, what: &str, rate: f64, baseline: Option<f64>) {
        let Some(baseline) = baseline else {
            return self.line(backend, what, rate, "events/s", "");
        };
        let percent = 100.0 * rate / baseline;
        let pass = percent >= SINGLE_TARGET_PERCENT;
        let note = format!(
            "(baseline {}/s, {percent:.0} %  target ≥ {SINGLE_TARGET_PERCENT:.0} %){}",
            thousands(baseline),
            miss_mark(pass)
        );
        self.line(backend, what, rate, "events/s", &note);
        self.verdicts.push(Verdict {
            what: format!("{backend} {what}"),
            achieved: format!("{percent:.0} % of baseline"),
            target: format!("≥ {SINGLE_TARGET_PERCENT:.0} %"),
            pass,
        });
    }

    fn with_target(&mut self, backend: &str, what: &str, rate: f64, target: Option<f64>) {
        let Some(target) = target else {
            return self.line(backend, what, rate, "events/s", "");
        };
        let pass = rate >= target;
        let note = format!("(target ≥ {}/s){}", thousands(target), miss_mark(pass));
        self.line(backend, what, rate, "events/s", &note);
        self.verdicts.push(Verdict {
            what: format!("{backend} {what}"),
            achieved: format!("{} events/s", thousands(rate)),
            target: format!("≥ {}/s", thousands(target)),
            pass,
        });
    }

    fn failed(&mut self, backend: Backend, error: anyhow::Error) {
        let name = backend_name(backend);
        println!("{name:<9} FAILED: {error:#}");
        self.verdicts.push(Verdict {
            what: format!("{name} benchmark"),
            achieved: format!("failed: {error}"),
            target: "completes".into(),
            pass: false,
        });
    }

    /// Prints every verdict; a miss makes the bench exit 1.
    fn summary(&self) -> std::process::ExitCode {
        let width = self.verdicts.iter().map(|v| v.what.chars().count()).max().unwrap_or(0);
        println!("\nsummary");
        for verdict in &self.verdicts {
            let status = if verdict.pass {
                "PASS".to_owned()
            } else {
                highlight("MISS")
            };
            println!(
                "  {status}  {:<width$}  {:>22}   (target {})",
                verdict.what, verdict.achieved, verdict.target
            );
        }
        let missed = self.verdicts.iter().filter(|v| !v.pass).count();
        if missed == 0 {
            println!("all {} targets met", self.verdicts.len());
            std::process::ExitCode::SUCCESS
        } else {
            let text = format!("*** {missed} of {} targets MISSED ***", self.verdicts.len());
            println!("{}", highlight(&text));
            std::process::ExitCode::FAILURE
        }
    }
}

fn miss_mark(pass: bool) -> String {
    if pass {
        String::new()
    } else {
        format!("  {}", highlight("<-- MISS"))
    }
}
