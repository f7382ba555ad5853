//! Issue 16 point 3: what one client can still hold with the default limits
//! against hoarding (proof of work 500 000, `--rate-limit 60`,
//! `--max-pending-bookings-per-network 10`, `--confirm-ttl 30m`), measured
//! against the release binary on Postgres.
//!
//! 1. One client (one address, so one /24; eight connections) books as fast
//!    as it can for the measured time, solving challenges on every core.
//! 2. A botnet of 1000 addresses in 1000 different /24s (loopback
//!    127.x.y.1 source addresses), connecting directly (no proxy), does the
//!    same; their proofs of work are computed on this machine's cores too, so
//!    the figure is bounded by them as well as by the limits.
//!
//! `cargo build --release -p terminagent && cargo bench -p terminagent-benches --bench hoarding [-- --quick]`
//! (`--quick`: 20 s per scenario instead of 60 s). The binary is
//! `target/release/terminagent` (or `TERMINAGENT_BIN`).

use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{Days, Utc};
use serde_json::json;
use terminagent::http::proof_of_work::{Challenge, solve};
use terminagent_domain::{LocalTime, OfficeTimeZone};
use terminagent_eventstore::Backend;
use terminagent_eventstore::testing::TestDatabase;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinSet;

const TOKEN: &str = "bench-admin-token-of-32-characters-at-least";
const BOTNET: usize = 1000;
const LANES: u16 = 4;
const DAYS: u64 = 21;

#[tokio::main]
async fn main() -> Result<()> {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let window = Duration::from_secs(if quick { 20 } else { 60 });
    let per_minute = 60.0 / window.as_secs_f64();

    let cost = solving_cost().await?;
    println!(
        "proof of work at the default difficulty: {:.1} ms per solution on one core (native SHA-256)",
        cost.as_secs_f64() * 1000.0
    );

    let db = TestDatabase::new(Backend::Postgres).await?;
    let (mut server, base) = start_server(db.url()).await?;
    let starts = Arc::new(publish_capacity(&base).await?);
    let next_start = Arc::new(AtomicUsize::new(0));
    // One address, eight connections: a bot keeps every core solving.
    let one = attack(&base, &starts, &next_start, &[Ipv4Addr::LOCALHOST; 8], window).await?;
    println!(
        "one client network:   {:>6} pending units in {:>3} s ({:.0}/min); answers {}",
        one.booked,
        window.as_secs(),
        one.booked as f64 * per_minute,
        one.answers()
    );
    server.kill().await.ok();

    let db = TestDatabase::new(Backend::Postgres).await?;
    let (mut server, base) = start_server(db.url()).await?;
    let starts = Arc::new(publish_capacity(&base).await?);
    let next_start = Arc::new(AtomicUsize::new(0));
    let bots: Vec<Ipv4Addr> = (0..BOTNET)
        .map(|n| Ipv4Addr::new(127, 10 + (n / 256) as u8, (n % 256) as u8, 1))
        .collect();
    let botnet = attack(&base, &starts, &next_start, &bots, window).await?;
    println!(
        "{BOTNET}-address botnet: {:>6} pending units in {:>3} s ({:.0}/min); answers {}",
        botnet.booked,
        window.as_secs(),
        botnet.booked as f64 * per_minute,
        botnet.answers()
    );
    println!(
        "bounds by the limits alone: one network holds at most 10 pending units (per 30 min); \
         {BOTNET} networks at most {} ({} a minute by the rate limit)",
        BOTNET * 10,
        BOTNET * 60
    );
    server.kill().await.ok();
    Ok(())
}

/// The average time one core needs to solve a challenge of the default difficulty.
async fn solving_cost() -> Result<Duration> {
    let proof = terminagent::http::proof_of_work::ProofOfWork::new(b"bench", 500_000);
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        solve(&proof.issue(Utc::now())).context("solvable")?;
    }
    Ok(started.elapsed() / rounds)
}

#[derive(Debug, Default)]
struct Outcome {
    booked: usize,
    by_status: std::collections::BTreeMap<u16, usize>,
}

impl Outcome {
    fn answers(&self) -> String {
        let parts: Vec<String> = self
            .by_status
            .iter()
            .map(|(status, n)| format!("{status}×{n}"))
            .collect();
        parts.join(" ")
    }
}

/// Every address books new units, one request after another, for `window`:
/// fetch a challenge, solve it (on the blocking pool: every core), post.
async fn attack(
    base: &str,
    starts: &Arc<Vec<chrono::DateTime<Utc>>>,
    next_start: &Arc<AtomicUsize>,
    addresses: &[Ipv4Addr],
    window: Duration,
) -> Result<Outcome> {
    let deadline = Instant::now() + window;
    let answered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = JoinSet::new();
    for (bot, address) in addresses.iter().enumerate() {
        let client = reqwest::Client::builder().local_address(IpAddr::V4(*address)).build()?;
        let (base, starts, next_start) = (base.to_owned(), starts.clone(), next_start.clone());
        let answered = answered.clone();
        tasks.spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                let challenge: Challenge = client
                    .get(format!("{base}/api/v1/challenge"))
                    .send()
                    .await?
                    .json()
                    .await?;
                let solution = tokio::task::spawn_blocking(move || solve(&challenge))
                    .await?
                    .context("solvable")?;
                if Instant::now() >= deadline {
                    break;
                }
                let start = starts[next_start.fetch_add(1, Ordering::Relaxed) % starts.len()];
                let body = json!({"office": "stadtmitte", "services": ["personalausweis"], "start": start.to_rfc3339(),
                                  "citizen": {"name": "Bot", "email": format!("bot{bot}-{n}@example.org")}});
                n += 1;
                let response = client
                    .post(format!("{base}/api/v1/bookings"))
                    .header("X-Proof-Of-Work", solution.encode())
                    .json(&body)
                    .send()
                    .await?;
                let status = response.status().as_u16();
                answered.lock().expect("answers").push(status);
                if status == 429 {
                    // What a patient bot does: waits as told, then tries again.
                    let wait = response
                        .headers()
                        .get("retry-after")
                        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok())
                        .unwrap_or(1);
                    let until = Instant::now() + Duration::from_secs(wait);
                    tokio::time::sleep_until(until.min(deadline).into()).await;
                }
            }
            anyhow::Ok(())
        });
    }
    // Solutions still being computed at the deadline would not be sent in time.
    let ended = tokio::time::timeout_at(deadline.into(), async {
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        anyhow::Ok(())
    })
    .await;
    if let Ok(finished) = ended {
        finished?;
    }
    tasks.abort_all();
    let mut outcome = Outcome::default();
    for status in answered.lock().expect("answers").iter() {
        *outcome.by_status.entry(*status).or_default() += 1;
        outcome.booked += usize::from(*status == 201);
    }
    Ok(outcome)
}

/// The release binary with the default limits (only the admin token and the
/// database are set).
async fn start_server(database_url: &str) -> Result<(Child, String)> {
    let binary = std::env::var("TERMINAGENT_BIN")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/terminagent").to_owned());
    if !std::path::Path::new(&binary).exists() {
        bail!("{binary} is missing: run `cargo build --release -p terminagent` first");
    }
    let outbox = std::env::temp_dir().join(format!("terminagent-hoarding-{}", ulid::Ulid::new()));
    let mut child = Command::new(&binary)
        .args(["serve", "--bind", "127.0.0.1:0", "--admin-token", TOKEN])
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
            return Ok((child, base));
        }
    }
    bail!("the server exited before listening")
}

/// An office with 3 weeks × 4 lanes of 12-minute units, 08:00–18:00; every
/// bookable start, once per lane.
async fn publish_capacity(base: &str) -> Result<Vec<chrono::DateTime<Utc>>> {
    let client = reqwest::Client::new();
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
            for _ in 0..LANES {
                starts.push(zone.instant(day, time)?);
            }
        }
    }
    Ok(starts)
}
