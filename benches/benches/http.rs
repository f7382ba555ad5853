//! HTTP load against the release binary on Postgres (issue targets on this
//! 2-core machine: ≥ 2,000 booking requests/s with p99 < 50 ms; availability
//! p99 < 10 ms for an office with 3 weeks × 4 lanes).
//!
//! `cargo build --release -p terminagent && cargo bench -p terminagent-benches --bench http [-- --quick]`
//! The binary is `target/release/terminagent` (or `TERMINAGENT_BIN`).

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{Days, Utc};
use serde_json::json;
use terminagent_domain::{LocalTime, OfficeTimeZone};
use terminagent_eventstore::Backend;
use terminagent_eventstore::testing::TestDatabase;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinSet;

const TOKEN: &str = "bench-admin-token-of-32-characters-at-least";
const CLIENTS: usize = 64;
const LANES: u16 = 4;
const DAYS: u64 = 21;
const BOOKING_TARGET_RPS: f64 = 2_000.0;
const BOOKING_TARGET_P99_MS: f64 = 50.0;
const AVAILABILITY_TARGET_P99_MS: f64 = 10.0;

#[tokio::main]
async fn main() -> Result<std::process::ExitCode> {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let (bookings, queries) = if quick { (1_000, 500) } else { (8_000, 4_000) };
    let db = TestDatabase::new(Backend::Postgres).await?;
    let (mut server, base, outbox) = start_server(db.url()).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
    let starts = publish_capacity(&client, &base).await?;
    println!(
        "http load on the release binary, Postgres; {CLIENTS} clients; {} bookable units",
        starts.len() * LANES as usize
    );

    let server_pid = server.id().context("the server's pid")?;
    let cpu_before = cpu_use(server_pid, db.url()).await?;
    let booking = run_bookings(&client, &base, Arc::new(starts), bookings).await?;
    let cpu = cpu_use(server_pid, db.url()).await?.since(&cpu_before);
    // Each booking's confirm-request mail; the queries below run once they are out.
    let mails = wait_for_mails(&outbox, booking.created).await?;
    let availability = run_availability(&client, &base, queries).await?;
    server.kill().await.ok();
    std::fs::remove_dir_all(&outbox).ok();

    println!(
        "booking requests        {:>8.0} req/s   p50 {:>6.1} ms   p99 {:>6.1} ms   ({} booked, {} slot taken)",
        booking.rate, booking.p50, booking.p99, booking.created, booking.conflicts
    );
    if let Some([booked, refused]) = booking.by_outcome {
        for (what, [p50, p99, slowest]) in [("booked (201)", booked), ("slot taken (409)", refused)] {
            println!("  {what:<22}  p50 {p50:>6.1} ms   p99 {p99:>6.1} ms   slowest {slowest:>6.1} ms");
        }
    }
    // CPU time is steadier than throughput on a shared machine: it says what
    // a request costs whatever else runs beside the bench.
    let per_request = |seconds: f64| seconds * 1000.0 / (booking.created + booking.conflicts) as f64;
    println!(
        "CPU per booking request   server {:.2} ms   Postgres {:.2} ms (mail work done meanwhile included)",
        per_request(cpu.server),
        per_request(cpu.database)
    );
    println!(
        "confirm-request mails   all {} written {:.1} s after the last booking request",
        booking.created,
        mails.as_secs_f64()
    );
    println!(
        "availability (7 days)   {:>8.0} req/s   p50 {:>6.1} ms   p99 {:>6.1} ms",
        availability.rate, availability.p50, availability.p99
    );
    println!();
    let met = [
        verdict("booking requests/s", booking.rate, BOOKING_TARGET_RPS, true),
        verdict("booking p99 ms", booking.p99, BOOKING_TARGET_P99_MS, false),
        verdict(
            "availability p99 ms",
            availability.p99,
            AVAILABILITY_TARGET_P99_MS,
            false,
        ),
    ];
    // A miss exits 1, so a script can tell.
    Ok(if met.iter().all(|pass| *pass) {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

struct Measured {
    rate: f64,
    p50: f64,
    p99: f64,
    created: usize,
    conflicts: usize,
    /// p50, p99 and the slowest of the requests that booked and of those refused.
    by_outcome: Option<[[f64; 3]; 2]>,
}

/// Prints the verdict; whether the target was met.
fn verdict(what: &str, value: f64, target: f64, at_least: bool) -> bool {
    let pass = if at_least { value >= target } else { value <= target };
    let sign = if at_least { "≥" } else { "≤" };
    println!(
        "  {}  {what:<22} {value:>9.1}   (target {sign} {target})",
        if pass { "PASS" } else { "MISS" }
    );
    pass
}

/// CPU seconds (user + system) spent so far by the server process and by the
/// Postgres backends serving the bench's database, per backend.
struct CpuUse {
    server: f64,
    backends: std::collections::HashMap<i32, f64>,
}

/// What was spent between two readings.
struct CpuSpent {
    server: f64,
    database: f64,
}

impl CpuUse {
    /// Backends that ended between the readings are not counted.
    fn since(&self, before: &CpuUse) -> CpuSpent {
        CpuSpent {
            server: self.server - before.server,
            database: self
                .backends
                .iter()
                .map(|(pid, spent)| spent - before.backends.get(pid).copied().unwrap_or(0.0))
                .sum(),
        }
    }
}

async fn cpu_use(server_pid: u32, database_url: &str) -> Result<CpuUse> {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(database_url).await?;
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut connection)
    .await?;
    connection.close().await?;
    let mut backends = std::collections::HashMap::new();
    for pid in pids {
        // A backend may end between the query and this read.
        if let Ok(spent) = process_cpu_seconds(pid as u32) {
            backends.insert(pid, spent);
        }
    }
    Ok(CpuUse {
        server: process_cpu_seconds(server_pid)?,
        backends,
    })
}

/// utime + stime of a process, from `/proc/PID/stat` (in clock ticks of 1/100 s).
fn process_cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after it do not.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("a /proc stat line")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |index: usize| -> Result<f64> { Ok(fields.get(index).context("a stat field")?.parse::<f64>()?) };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// Waits until the outbox holds `expected` mails; how long that took.
async fn wait_for_mails(outbox: &std::path::Path, expected: usize) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let written = std::fs::read_dir(outbox).map_or(0, |entries| {
            entries
                .filter(|entry| entry.as_ref().is_ok_and(|entry| entry.path().is_file()))
                .count()
        });
        if written >= expected {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!("only {written} of {expected} mails written after 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start_server(database_url: &str) -> Result<(Child, String, std::path::PathBuf)> {
    let binary = std::env::var("TERMINAGENT_BIN")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/terminagent").to_owned());
    if !std::path::Path::new(&binary).exists() {
        bail!("{binary} is missing: run `cargo build --release -p terminagent` first");
    }
    let outbox = std::env::temp_dir().join(format!("terminagent-bench-{}", ulid::Ulid::new()));
    let mut child = Command::new(&binary)
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--admin-token",
            TOKEN,
            "--max-open-bookings",
            "100",
            // This measures the decision path under many citizens; the limits
            // against one client hoarding (benches/hoarding.rs measures them)
            // would refuse 64 clients on one loopback address.
            "--proof-of-work-difficulty",
            "0",
            "--rate-limit",
            "0",
            "--max-pending-bookings-per-network",
            "0",
        ])
        .args([
            "--database-url",
            database_url,
            "--mail",
            &format!("file:{}", outbox.display()),
        ])
        .env("RUST_LOG", "warn,terminagent=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {binary}"))?;
    let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(address) = line.split_whitespace().find_map(|field| field.strip_prefix("address=")) {
            let base = format!("http://{address}");
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok((child, base, outbox));
        }
    }
    bail!("the server exited before listening")
}

/// An office with 3 weeks × 4 lanes of 12-minute units, 08:00–18:00 on weekdays.
/// Returns every bookable start.
async fn publish_capacity(client: &reqwest::Client, base: &str) -> Result<Vec<chrono::DateTime<Utc>>> {
    let staff = |request: reqwest::RequestBuilder| request.bearer_auth(TOKEN);
    let office = json!({"name": "Stadtmitte", "timezone": "Europe/Berlin"});
    staff(client.put(format!("{base}/api/v1/offices/stadtmitte")))
        .json(&office)
        .send()
        .await?
        .error_for_status()?;
    let service = json!({"name": "Personalausweis", "duration_minutes": 12});
    staff(client.put(format!("{base}/api/v1/services/personalausweis")))
        .json(&service)
        .send()
        .await?
        .error_for_status()?;
    let zone = OfficeTimeZone::parse("Europe/Berlin")?;
    let today = zone.today(Utc::now());
    let mut starts = Vec::new();
    for ahead in 1..=DAYS {
        let day = today + Days::new(ahead);
        let capacity =
            json!({"date": day.to_string(), "from": "08:00", "to": "18:00", "unit_minutes": 12, "lanes": LANES});
        staff(client.post(format!("{base}/api/v1/offices/stadtmitte/capacity")))
            .json(&capacity)
            .send()
            .await?
            .error_for_status()?;
        for unit in 0..50u32 {
            let time = LocalTime::from_hm(8 + unit * 12 / 60, unit * 12 % 60).context("a unit start")?;
            starts.push(zone.instant(day, time)?);
        }
    }
    Ok(starts)
}

async fn run_bookings(
    client: &reqwest::Client,
    base: &str,
    starts: Arc<Vec<chrono::DateTime<Utc>>>,
    total: usize,
) -> Result<Measured> {
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for worker in 0..CLIENTS {
        let (client, base, starts) = (client.clone(), base.to_owned(), starts.clone());
        tasks.spawn(async move {
            let mut samples = Vec::new();
            for n in (worker..total).step_by(CLIENTS) {
                // Spread over the released block, several clients per start.
                let start = starts[(n * 7919) % starts.len()];
                let body = json!({"office": "stadtmitte", "services": ["personalausweis"], "start": start.to_rfc3339(),
                                  "citizen": {"name": "Bench Citizen", "email": format!("citizen{}@example.org", n % 5000)}});
                let sent = Instant::now();
                let status = client.post(format!("{base}/api/v1/bookings")).json(&body).send().await?.status();
                samples.push((sent.elapsed(), status.as_u16()));
            }
            anyhow::Ok(samples)
        });
    }
    let mut samples = Vec::new();
    while let Some(done) = tasks.join_next().await {
        samples.extend(done??);
    }
    let elapsed = started.elapsed();
    let spread = |status: u16| {
        let mut latencies: Vec<Duration> = samples
            .iter()
            .filter(|(_, answered)| *answered == status)
            .map(|(latency, _)| *latency)
            .collect();
        latencies.sort();
        [
            quantile(&latencies, 0.50),
            quantile(&latencies, 0.99),
            quantile(&latencies, 1.0),
        ]
    };
    let by_outcome = Some([spread(201), spread(409)]);
    let created = samples.iter().filter(|(_, status)| *status == 201).count();
    let conflicts = samples.iter().filter(|(_, status)| *status == 409).count();
    if let Some((_, status)) = samples.iter().find(|(_, status)| !matches!(status, 201 | 409)) {
        bail!("a booking request answered {status}");
    }
    Ok(Measured {
        by_outcome,
        ..summarise(
            samples.into_iter().map(|(latency, _)| latency).collect(),
            elapsed,
            created,
            conflicts,
        )
    })
}

async fn run_availability(client: &reqwest::Client, base: &str, total: usize) -> Result<Measured> {
    let today = Utc::now().date_naive();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for worker in 0..16 {
        let (client, base) = (client.clone(), base.to_owned());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            for n in (worker..total).step_by(16) {
                let from = today + Days::new(1 + (n as u64 % 14));
                let to = from + Days::new(6);
                let url = format!(
                    "{base}/api/v1/availability?office=stadtmitte&services=personalausweis&from={from}&to={to}"
                );
                let sent = Instant::now();
                let response = client.get(url).send().await?.error_for_status()?;
                response.bytes().await?;
                latencies.push(sent.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    Ok(summarise(latencies, started.elapsed(), 0, 0))
}

/// The latency at quantile `q` of sorted `latencies`, in ms (0 for none).
fn quantile(latencies: &[Duration], q: f64) -> f64 {
    latencies
        .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
        .map_or(0.0, |latency| latency.as_secs_f64() * 1000.0)
}

fn summarise(mut latencies: Vec<Duration>, elapsed: Duration, created: usize, conflicts: usize) -> Measured {
    latencies.sort();
    Measured {
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: quantile(&latencies, 0.50),
        p99: quantile(&latencies, 0.99),
        created,
        conflicts,
        by_outcome: None,
    }
}
