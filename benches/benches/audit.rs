//! Throughput of the audit over a long log, on each backend:
//! `terminagent audit verify` (positions, the hash chain recomputed against
//! the recorded hashes) and `terminagent audit export` (JSON lines to a file),
//! both as the CLI runs them, in events per second of wall time.
//!
//! `cargo bench -p terminagent-benches --bench audit [-- --quick]`
//! (`--quick` or `TERMINAGENT_BENCH_QUICK=1`: a log of 100,000 events instead
//! of 1,000,000; `--backend postgres` or `--backend sqlite`: that backend only).

use std::time::Instant;

use anyhow::{Result, ensure};
use chrono::Utc;
use serde_json::json;
use terminagent::audit::export::{self, Format, Range};
use terminagent::audit::verify::{self, Verdict};
use terminagent_benches::{Report, thousands};
use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, Condition, EventStore, ExpectedVersion, NewEvent, StoreOptions};
use tokio::task::JoinSet;
use ulid::Ulid;

const FULL_LOG: usize = 1_000_000;
const QUICK_LOG: usize = 100_000;
/// Events per append while the log is written (untimed).
const BATCH: usize = 1_000;
const WRITERS: usize = 2;
const VERIFY_TARGET: f64 = 500_000.0;
const EXPORT_TARGET: f64 = 300_000.0;

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
        new_event("stream").data.to_string().len(),
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
    write_log(&store, events).await?;
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
    store.close().await;
    Ok(())
}

/// `events` events in batches, by a few writers each on a stream of its own.
async fn write_log(store: &EventStore, events: usize) -> Result<()> {
    let batches = events / BATCH;
    let mut writers = JoinSet::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        let share = batches / WRITERS + usize::from(writer < batches % WRITERS);
        writers.spawn(async move {
            let stream = format!("import-{writer}");
            for i in 0..share {
                let batch: Vec<NewEvent> = (0..BATCH).map(|_| new_event(&stream)).collect();
                let condition = Condition::new(&stream, ExpectedVersion::after((i * BATCH) as u64));
                store.append(&batch, &[condition]).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(written) = writers.join_next().await {
        written??;
    }
    Ok(())
}

/// The eventstore bench's event: a booking confirmation of about 200 bytes.
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
