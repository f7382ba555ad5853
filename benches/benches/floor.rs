//! The office floor under load, against the release binary on Postgres
//! (issue targets: 50 display streams connected, clerks calling at 20 calls/s
//! across 10 counters: call committed → event received by every display,
//! p99 < 100 ms; check-in request p99 < 20 ms).
//!
//! One office with a walk-in service and today's capacity; 10 clerks (one
//! per counter), a kiosk and a display device. The kiosk alone fills a
//! queue at the call rate (its check-ins are shown as the floor's quiet
//! baseline), the counters are opened and warmed up by one call each, then
//! 50 streams of `GET …/display/stream` connect. For the measured period a
//! pacer hands 20 calls a second to whichever counter is free (`next`, then
//! `start` and `finish` of that visit so the counter may call again), while
//! the kiosk issues a ticket and checks it in at the same rate, so the queue
//! stays about as long as it began. Every call must reach every display.
//!
//! The office's time zone is chosen at run time (an `Etc/GMT±N` zone) so its
//! clocks show about 10:00: tickets are "today from now on", and the run
//! must not depend on the hour it starts. The server runs with a check-in
//! window of ±24 h, so every ticket of today checks in at once and no ticket
//! is marked missed meanwhile.
//!
//! `cargo build --release -p terminagent && cargo bench -p terminagent-benches --bench floor [-- --quick]`
//! (`--quick`: 5 s of filling and 10 s of calls instead of 15 s and 60 s). The binary is
//! `target/release/terminagent` (or `TERMINAGENT_BIN`). Exits 1 on a missed target.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, Timelike, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use terminagent_benches::{Report, percentile, process_cpu_seconds, start_server, thousands};
use terminagent_domain::OfficeTimeZone;
use terminagent_eventstore::Backend;
use terminagent_eventstore::testing::TestDatabase;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

const TOKEN: &str = "bench-admin-token-of-32-characters-at-least";
const OFFICE: &str = "bench-floor";
const SERVICE: &str = "bench-walk-in";
const DISPLAYS: usize = 50;
const COUNTERS: usize = 10;
const CALLS_PER_SECOND: f64 = 20.0;
/// Today's capacity: 1-minute units on this many lanes, for 1-minute visits.
const LANES: usize = 64;
const DELIVERY_TARGET_P99_MS: f64 = 100.0;
const CHECK_IN_TARGET_P99_MS: f64 = 20.0;
/// The load counts as held at this share of the asked call rate.
const RATE_HELD: f64 = 0.95;
/// How long the pacers go on after the last call or walk-in should have
/// been made, when the server falls behind.
const OVERTIME: Duration = Duration::from_secs(10);
/// How long the displays may take after the last call before a delivery
/// still missing counts as lost.
const DELIVERY_GRACE: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> Result<std::process::ExitCode> {
    let quick = std::env::args().any(|arg| arg == "--quick")
        || std::env::var("TERMINAGENT_BENCH_QUICK").is_ok_and(|value| value == "1");
    // Seconds of the kiosk alone filling the queue, then of calling.
    let (filling, seconds) = if quick { (5.0, 10.0) } else { (15.0, 60.0) };
    let queue = (CALLS_PER_SECOND * filling) as usize;
    let calls = (CALLS_PER_SECOND * seconds) as usize;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    let db = TestDatabase::new(Backend::Postgres).await?;
    let zone = mid_morning_zone(Utc::now())?;
    let outbox = std::env::temp_dir().join(format!("terminagent-bench-floor-{}", ulid::Ulid::new()));
    let _outbox_removed = RemovedOnDrop(outbox.clone());
    let args: Vec<String> = [
        "--admin-token",
        TOKEN,
        "--database-url",
        db.url(),
        "--mail",
        &format!("file:{}", outbox.display()),
        "--check-in-early",
        "24h",
        "--check-in-late",
        "24h",
    ]
    .map(str::to_owned)
    .to_vec();
    let (mut server, base) = start_server(&args).await?;
    let api = Api {
        client: reqwest::Client::builder().pool_max_idle_per_host(64).build()?,
        base,
    };
    println!(
        "office floor on the release binary, Postgres{}; office time zone {} ({} there); load average {}",
        if quick { " (quick)" } else { "" },
        zone.name(),
        zone.to_local(Utc::now()).format("%H:%M"),
        load.split_whitespace().next().unwrap_or("?")
    );

    // Every visitor: the queue (the warm-up calls come from it), the
    // kiosk's while calling; a tenth more, and three minutes of lanes the
    // clock may pass.
    let visitors = queue + calls;
    let staff = set_up_office(&api, zone, visitors + visitors / 10 + 3 * LANES).await?;
    let mut report = Report::default();

    // The kiosk alone at the call rate: check-ins on a floor nobody calls at.
    let alone = run_kiosk(&api, &staff.kiosk, queue).await?;
    report.info(
        &format!("check-in request, kiosk alone ({queue} at {CALLS_PER_SECOND}/s)"),
        &format!(
            "p50 {:.1} ms   p99 {:.1} ms   (tickets p50 {:.1} ms   p99 {:.1} ms)",
            percentile(&alone.check_ins, 0.5),
            percentile(&alone.check_ins, 0.99),
            percentile(&alone.tickets, 0.5),
            percentile(&alone.tickets, 0.99)
        ),
    );
    for (counter, clerk) in staff.clerks.iter().enumerate() {
        let path = format!("/api/v1/offices/{OFFICE}/counters/{}/open", counter_name(counter));
        api.expect(Method::POST, &path, clerk, None, StatusCode::OK).await?;
        // One call each, unmeasured: connections and statements warm up.
        let mut warm_up = Counter::new(&api, clerk, counter);
        ensure!(warm_up.call(Duration::ZERO).await?, "the warm-up finds nobody waiting");
    }
    report.info(
        "counters opened and warmed up",
        &format!("{COUNTERS}, one call each; {} visitors wait", queue - COUNTERS),
    );

    let displays = Displays::connect(&api, &staff.display).await?;
    report.info(
        "display streams connected",
        &format!("{DISPLAYS} (before the first call)"),
    );

    let metrics_before = api.metrics().await?;
    let window = if quick {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(10)
    };
    let server_pid = server.id().context("the server's pid")?;
    let (stop_sampling, sampled) = watch::channel(false);
    let sampler = tokio::spawn(sample_cpu(server_pid, window, sampled));
    let (calling, kiosk) = tokio::join!(
        run_calls(&api, &staff.clerks, calls),
        run_kiosk(&api, &staff.kiosk, calls)
    );
    let (calling, kiosk) = (calling?, kiosk?);
    stop_sampling.send_replace(true);
    let cpu = sampler.await??;
    let metrics_after = api.metrics().await?;
    // The server's own time per request (from its answer's start to its
    // end, without the client's side), as bucket bounds of its histogram.
    let server_time = |method: &str, route: &str| {
        let spent = |q: f64| {
            server_quantile(&metrics_before, &metrics_after, method, route, q).map_or("?".to_owned(), |bound| {
                if bound.is_finite() {
                    format!("≤ {bound} ms")
                } else {
                    "> 4096 ms".to_owned()
                }
            })
        };
        format!("p50 {}   p99 {}", spent(0.5), spent(0.99))
    };
    let delivered = displays.finish(calling.called.len()).await?;
    let logged = called_in_log(&api).await?;
    server.kill().await.ok();

    let deliveries = deliveries(&calling.called, &logged, &delivered)?;

    // The load.
    let rate = calling.rate();
    let mut next = calling.called.iter().map(|call| call.next_ms).collect::<Vec<_>>();
    next.sort_by(f64::total_cmp);
    let mut moves = calling.called.iter().map(|call| call.moves_ms).collect::<Vec<_>>();
    moves.sort_by(f64::total_cmp);
    report.info(
        "calls (next → start → finish)",
        &format!(
            "{} in {:.1} s; nobody waiting {}; pacer waited for a free counter {} times",
            thousands(calling.called.len() as f64),
            calling.elapsed.as_secs_f64(),
            calling.nobody_waiting,
            calling.pacer_waited
        ),
    );
    report.info(
        "  next request",
        &format!(
            "p50 {:.1} ms   p99 {:.1} ms",
            percentile(&next, 0.5),
            percentile(&next, 0.99)
        ),
    );
    report.info(
        "    the server's own time (/metrics buckets)",
        &server_time("POST", "/api/v1/offices/{office}/counters/{counter}/next"),
    );
    report.info(
        "  start + finish requests",
        &format!(
            "p50 {:.1} ms   p99 {:.1} ms",
            percentile(&moves, 0.5),
            percentile(&moves, 0.99)
        ),
    );
    report.info(
        "kiosk tickets (while calling)",
        &format!(
            "{} in {:.1} s   p50 {:.1} ms   p99 {:.1} ms",
            thousands(kiosk.tickets.len() as f64),
            kiosk.elapsed.as_secs_f64(),
            percentile(&kiosk.tickets, 0.5),
            percentile(&kiosk.tickets, 0.99)
        ),
    );
    report.info(
        "    the server's own time (/metrics buckets)",
        &server_time("POST", "/api/v1/offices/{office}/tickets"),
    );
    let failures: Vec<&String> = alone
        .failures
        .iter()
        .chain(&calling.failures)
        .chain(&kiosk.failures)
        .collect();
    for failure in failures.iter().take(10) {
        println!("  failed: {failure}");
    }
    report.check(
        "requests answered 5xx",
        thousands(failures.len() as f64),
        "0".to_owned(),
        failures.is_empty(),
        "(503: a decision lost its race too often; retried by clerks, not by the kiosk)",
    );
    report.check(
        &format!("calls/s across {COUNTERS} counters"),
        format!("{rate:.1}"),
        format!("≥ {:.0} (asked {CALLS_PER_SECOND})", CALLS_PER_SECOND * RATE_HELD),
        rate >= CALLS_PER_SECOND * RATE_HELD
            && calling.called.len() as f64 >= calls as f64 * RATE_HELD
            && calling.nobody_waiting == 0,
        &format!(
            "({} of {} calls made; the load the targets below are measured under)",
            thousands(calling.called.len() as f64),
            thousands(calls as f64)
        ),
    );

    // How the load went, window by window: a server whose cost per request
    // grows with the day's floor shows it here.
    println!(
        "while calling, per {} s: calls made, check-ins p50 / p99 (by when sent), server CPU in cores",
        window.as_secs()
    );
    for (index, cores) in cpu.iter().enumerate() {
        let (from, to) = (window * index as u32, window * (index as u32 + 1));
        let made = calling
            .called
            .iter()
            .filter(|call| call.at >= from && call.at < to)
            .count();
        let mut check_ins: Vec<f64> = kiosk
            .timeline
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .map(|(_, spent)| *spent)
            .collect();
        check_ins.sort_by(f64::total_cmp);
        println!(
            "  {:>4}–{:<4} s  {made:>4} calls   check-in {:>7.1} / {:>7.1} ms   CPU {cores:.2}",
            from.as_secs(),
            to.as_secs(),
            percentile(&check_ins, 0.5),
            percentile(&check_ins, 0.99)
        );
    }

    // The targets.
    let from_call = &deliveries.from_call;
    report.check(
        &format!("call committed → all {DISPLAYS} displays, p99"),
        format!("{:.1} ms", percentile(from_call, 0.99)),
        format!("< {DELIVERY_TARGET_P99_MS} ms"),
        percentile(from_call, 0.99) < DELIVERY_TARGET_P99_MS,
        &format!(
            "(p50 {:.1} ms, max {:.1} ms over {} deliveries = calls × displays)",
            percentile(from_call, 0.5),
            percentile(from_call, 1.0),
            thousands(from_call.len() as f64)
        ),
    );
    let from_answer = &deliveries.from_answer;
    report.info(
        "  the same from the call's answer arriving",
        &format!(
            "p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms (below 0: the display had it first)",
            percentile(from_answer, 0.5),
            percentile(from_answer, 0.99),
            percentile(from_answer, 1.0)
        ),
    );
    for (display, number) in deliveries.missing.iter().take(10) {
        println!("  missing: display {display} never received the call of number {number}");
    }
    report.check(
        "deliveries missing",
        thousands(deliveries.missing.len() as f64),
        "0".to_owned(),
        deliveries.missing.is_empty() && deliveries.wrong.is_empty(),
        &format!(
            "({} expected; {} other or repeated events; {} not as logged)",
            thousands((calling.called.len() * DISPLAYS) as f64),
            deliveries.extra,
            deliveries.wrong.len()
        ),
    );
    for wrong in deliveries.wrong.iter().take(10) {
        println!("  wrong: {wrong}");
    }
    let check_ins = &kiosk.check_ins;
    report.check(
        "check-in request p99 (while calling)",
        format!("{:.1} ms", percentile(check_ins, 0.99)),
        format!("< {CHECK_IN_TARGET_P99_MS} ms"),
        percentile(check_ins, 0.99) < CHECK_IN_TARGET_P99_MS,
        &format!(
            "(p50 {:.1} ms, max {:.1} ms over {} check-ins)",
            percentile(check_ins, 0.5),
            percentile(check_ins, 1.0),
            thousands(check_ins.len() as f64)
        ),
    );
    report.info(
        "    the server's own time (/metrics buckets)",
        &server_time("POST", "/api/v1/offices/{office}/check-ins"),
    );
    Ok(report.summary())
}

/// A directory removed when this goes, however the bench ends.
struct RemovedOnDrop(std::path::PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// A zone whose clocks show about 10:00 now: `Etc/GMT-N` is N hours east
/// of UTC (POSIX signs), from `Etc/GMT+12` to `Etc/GMT-14`.
fn mid_morning_zone(now: DateTime<Utc>) -> Result<OfficeTimeZone> {
    let mut east = 10 - now.hour() as i32;
    if east < -12 {
        east += 24;
    }
    let name = match east {
        0 => "Etc/GMT".to_owned(),
        east if east > 0 => format!("Etc/GMT-{east}"),
        west => format!("Etc/GMT+{}", -west),
    };
    Ok(OfficeTimeZone::parse(&name)?)
}

fn counter_name(counter: usize) -> String {
    (counter + 1).to_string()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// `later − earlier` in ms (negative when `later` is earlier).
fn ms_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> f64 {
    (later - earlier).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

// --- requests ------------------------------------------------------------------------

#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    /// One request; its status and JSON body (null when empty or not JSON).
    async fn send(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Result<(StatusCode, Value)> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// [`Api::send`], timed: its status, body and ms until the body was in.
    async fn timed(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value, f64)> {
        let started = Instant::now();
        let (status, answer) = self.send(method, path, token, body).await?;
        Ok((status, answer, ms(started.elapsed())))
    }

    /// [`Api::send`], requiring `expected`; the body.
    async fn expect(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Result<Value> {
        let (status, answer) = self.send(method.clone(), path, token, body).await?;
        ensure!(status == expected, "{method} {path} answered {status}: {answer}");
        Ok(answer)
    }
}

/// `/metrics`: each request duration histogram's cumulative bucket counts,
/// by (method, route), as (upper bound in seconds, count).
type Histograms = HashMap<(String, String), Vec<(f64, u64)>>;

impl Api {
    async fn metrics(&self) -> Result<Histograms> {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let mut histograms = Histograms::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("terminagent_http_request_duration_seconds_bucket{") else {
                continue;
            };
            let Some((labels, count)) = rest.split_once("} ") else {
                continue;
            };
            let label = |name: &str| {
                labels
                    .split(',')
                    .find_map(|pair| pair.strip_prefix(name)?.strip_prefix("=\""))
                    .map(|value| value.trim_end_matches('"').to_owned())
            };
            let (Some(method), Some(route), Some(le)) = (label("method"), label("route"), label("le")) else {
                continue;
            };
            let bound = if le == "+Inf" { f64::INFINITY } else { le.parse()? };
            let count = count.split_whitespace().next().unwrap_or("0").parse()?;
            histograms.entry((method, route)).or_default().push((bound, count));
        }
        Ok(histograms)
    }
}

/// The upper bound (ms) of the bucket holding the `q` quantile of what a
/// route's histogram gained between two scrapes.
fn server_quantile(before: &Histograms, after: &Histograms, method: &str, route: &str, q: f64) -> Option<f64> {
    let key = (method.to_owned(), route.to_owned());
    let earlier = |bound: f64| {
        before
            .get(&key)
            .and_then(|buckets| buckets.iter().find(|(le, _)| *le == bound))
            .map_or(0, |(_, count)| *count)
    };
    let gained: Vec<(f64, u64)> = after
        .get(&key)?
        .iter()
        .map(|(le, count)| (*le, count - earlier(*le)))
        .collect();
    let total = gained.last()?.1;
    let rank = ((total as f64 * q).ceil() as u64).max(1);
    gained
        .iter()
        .find(|(_, count)| *count >= rank)
        .map(|(le, _)| le * 1000.0)
}

fn text(value: &Value, field: &str) -> Result<String> {
    match &value[field] {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        _ => bail!("no {field:?} in {value}"),
    }
}

struct Staff {
    /// A clerk's token per counter.
    clerks: Vec<String>,
    kiosk: String,
    display: String,
}

/// The office in `zone` (no opening hours: capacity at any time), a walk-in
/// service of one minute, at least `units` one-minute units of today from
/// two minutes on, a clerk per counter, a kiosk and a display.
async fn set_up_office(api: &Api, zone: OfficeTimeZone, units: usize) -> Result<Staff> {
    let office = json!({"name": "Bürgerbüro Bench", "address": "Markt 1", "timezone": zone.name()});
    api.expect(
        Method::PUT,
        &format!("/api/v1/offices/{OFFICE}"),
        TOKEN,
        Some(office),
        StatusCode::CREATED,
    )
    .await?;
    let service = json!({"name": "Meldebescheinigung", "duration_minutes": 1, "walk_in": true});
    api.expect(
        Method::PUT,
        &format!("/api/v1/services/{SERVICE}"),
        TOKEN,
        Some(service),
        StatusCode::CREATED,
    )
    .await?;

    let now = zone.to_local(Utc::now());
    let from = now.hour() * 60 + now.minute() + 2;
    let to = from + units.div_ceil(LANES) as u32;
    ensure!(
        to < 24 * 60,
        "the capacity would run past midnight ({from}–{to} minutes)"
    );
    let hm = |minutes: u32| format!("{:02}:{:02}", minutes / 60, minutes % 60);
    let capacity = json!({"date": now.date_naive().to_string(), "from": hm(from), "to": hm(to),
                          "unit_minutes": 1, "lanes": LANES});
    api.expect(
        Method::POST,
        &format!("/api/v1/offices/{OFFICE}/capacity"),
        TOKEN,
        Some(capacity),
        StatusCode::CREATED,
    )
    .await?;

    let mut clerks = Vec::new();
    for counter in 0..COUNTERS {
        let email = format!("clerk{}@bench.example", counter_name(counter));
        let account = json!({"name": format!("Clerk {}", counter_name(counter)),
                             "roles": [{"role": "clerk", "office": OFFICE}]});
        api.expect(
            Method::PUT,
            &format!("/api/v1/staff/{email}"),
            TOKEN,
            Some(account),
            StatusCode::CREATED,
        )
        .await?;
        let issued = api
            .expect(
                Method::POST,
                &format!("/api/v1/staff/{email}/tokens"),
                TOKEN,
                None,
                StatusCode::CREATED,
            )
            .await?;
        clerks.push(text(&issued, "token")?);
    }
    Ok(Staff {
        clerks,
        kiosk: device(api, "kiosk").await?,
        display: device(api, "display").await?,
    })
}

/// A device token of the office: `kiosk` or `display`.
async fn device(api: &Api, kind: &str) -> Result<String> {
    let path = format!("/api/v1/offices/{OFFICE}/devices");
    let body = json!({"kind": kind, "name": format!("{kind} im Foyer")});
    let issued = api
        .expect(Method::POST, &path, TOKEN, Some(body), StatusCode::CREATED)
        .await?;
    text(&issued, "token")
}

/// A walk-in at the kiosk: its ticket and check-in.
struct WalkIn {
    /// When it came, from the kiosk's start.
    at: Duration,
    ticket_ms: f64,
    /// None when the ticket failed.
    check_in_ms: Option<f64>,
    /// What failed (an answer 5xx).
    failure: Option<String>,
}

/// A ticket, then its check-in, each request timed alone. A 5xx answer is
/// a failure of the server under load, counted, not an error of the bench.
async fn walk_in(api: &Api, kiosk: &str, at: Duration) -> Result<WalkIn> {
    let path = format!("/api/v1/offices/{OFFICE}/tickets");
    let (status, ticket, ticket_ms) = api
        .timed(Method::POST, &path, kiosk, Some(json!({"services": [SERVICE]})))
        .await?;
    if status.is_server_error() {
        return Ok(WalkIn {
            at,
            ticket_ms,
            check_in_ms: None,
            failure: Some(format!("ticket answered {status} after {ticket_ms:.0} ms")),
        });
    }
    ensure!(status == StatusCode::CREATED, "POST {path} answered {status}: {ticket}");
    let code = text(&ticket, "check_in_code")?;
    let path = format!("/api/v1/offices/{OFFICE}/check-ins");
    let (status, answer, check_in_ms) = api
        .timed(Method::POST, &path, kiosk, Some(json!({"code": code})))
        .await?;
    let failure = status
        .is_server_error()
        .then(|| format!("check-in answered {status} after {check_in_ms:.0} ms"));
    ensure!(
        failure.is_some() || status == StatusCode::OK,
        "POST {path} answered {status}: {answer}"
    );
    Ok(WalkIn {
        at,
        ticket_ms,
        check_in_ms: Some(check_in_ms),
        failure,
    })
}

// --- the clerks ----------------------------------------------------------------------

/// One call as the clerk saw it.
struct Called {
    number: String,
    /// When `next` was sent, from the pacer's start.
    at: Duration,
    /// When the `next` request was sent and when its answer arrived.
    sent: DateTime<Utc>,
    answered: DateTime<Utc>,
    next_ms: f64,
    /// `start` and `finish` of the visit together.
    moves_ms: f64,
}

/// A counter and its clerk.
struct Counter {
    api: Api,
    clerk: String,
    counter: usize,
    /// The calls it made (also one whose `start` or `finish` then failed).
    called: Vec<Called>,
    /// Answers 5xx (each retried, up to [`TRIES`] times).
    failures: Vec<String>,
}

/// How often a clerk tries a request the server answered 5xx (`next` when
/// contended has called nobody; `start` and `finish` repeat as done).
const TRIES: usize = 3;

impl Counter {
    fn new(api: &Api, clerk: &str, counter: usize) -> Counter {
        Counter {
            api: api.clone(),
            clerk: clerk.to_owned(),
            counter,
            called: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// POST `path` until it answers other than 5xx, at most [`TRIES`] times.
    async fn post(&mut self, path: &str) -> Result<(StatusCode, Value, f64)> {
        for _ in 0..TRIES {
            let (status, answer, spent) = self.api.timed(Method::POST, path, &self.clerk, None).await?;
            if !status.is_server_error() {
                return Ok((status, answer, spent));
            }
            self.failures.push(format!(
                "counter {}: {path} answered {status} after {spent:.0} ms",
                counter_name(self.counter)
            ));
        }
        bail!("POST {path} failed {TRIES} times")
    }

    /// `next`, then `start` and `finish` of the visitor it called (kept in
    /// [`Counter::called`]); false when nobody waited. `at`: from the pacer's start.
    async fn call(&mut self, at: Duration) -> Result<bool> {
        let path = format!("/api/v1/offices/{OFFICE}/counters/{}/next", counter_name(self.counter));
        let sent = Utc::now();
        let (status, call, next_ms) = self.post(&path).await?;
        let answered = Utc::now();
        match status {
            StatusCode::OK => {}
            StatusCode::NO_CONTENT => return Ok(false),
            other => bail!("POST {path} answered {other}: {call}"),
        }
        self.called.push(Called {
            number: text(&call, "number")?,
            at,
            sent,
            answered,
            next_ms,
            moves_ms: 0.0,
        });
        let booking = text(&call, "booking_id")?;
        for action in ["start", "finish"] {
            let path = format!("/api/v1/visits/{booking}/{action}");
            let (status, answer, spent) = self.post(&path).await?;
            ensure!(status == StatusCode::OK, "POST {path} answered {status}: {answer}");
            if let Some(called) = self.called.last_mut() {
                called.moves_ms += spent;
            }
        }
        Ok(true)
    }
}

struct Calling {
    called: Vec<Called>,
    nobody_waiting: usize,
    /// Ticks at which every counter was still busy with its last visitor.
    pacer_waited: usize,
    elapsed: Duration,
    /// Answers 5xx, and why a counter stopped.
    failures: Vec<String>,
}

impl Calling {
    /// Calls per second from the first `next` sent to the last one sent.
    fn rate(&self) -> f64 {
        let first = self.called.iter().map(|call| call.sent).min();
        let last = self.called.iter().map(|call| call.sent).max();
        match (first, last) {
            (Some(first), Some(last)) if last > first => {
                (self.called.len() - 1) as f64 * 1000.0 / ms_between(first, last)
            }
            _ => 0.0,
        }
    }
}

/// Up to `calls` calls at [`CALLS_PER_SECOND`], each handed to a counter
/// that is free (its clerk has finished the last visit); the pacer gives up
/// [`OVERTIME`] after the calls should have been made.
async fn run_calls(api: &Api, clerks: &[String], calls: usize) -> Result<Calling> {
    let started = Instant::now();
    let (free, mut free_counters) = mpsc::unbounded_channel::<usize>();
    let mut ticks = Vec::new();
    let mut counters = JoinSet::new();
    for (counter, clerk) in clerks.iter().enumerate() {
        let (tick, mut ticked) = mpsc::channel::<()>(1);
        ticks.push(tick);
        let mut desk = Counter::new(api, clerk, counter);
        let free = free.clone();
        free.send(counter)?;
        counters.spawn(async move {
            let mut nobody_waiting = 0;
            while ticked.recv().await.is_some() {
                match desk.call(started.elapsed()).await {
                    Ok(true) => {}
                    Ok(false) => nobody_waiting += 1,
                    // The counter stops; the others go on.
                    Err(error) => {
                        desk.failures
                            .push(format!("counter {} stopped: {error:#}", counter_name(desk.counter)));
                        break;
                    }
                }
                free.send(desk.counter).ok();
            }
            (desk.called, nobody_waiting, desk.failures)
        });
    }
    drop(free);
    let period = Duration::from_secs_f64(1.0 / CALLS_PER_SECOND);
    let mut pacer = tokio::time::interval(period);
    let mut pacer_waited = 0;
    for _ in 0..calls {
        pacer.tick().await;
        if started.elapsed() > period * calls as u32 + OVERTIME {
            break;
        }
        let counter = match free_counters.try_recv() {
            Ok(counter) => counter,
            Err(_) => {
                pacer_waited += 1;
                match free_counters.recv().await {
                    Some(counter) => counter,
                    None => break, // every counter stopped
                }
            }
        };
        ticks[counter].send(()).await.ok();
    }
    drop(ticks);
    let mut calling = Calling {
        called: Vec::new(),
        nobody_waiting: 0,
        pacer_waited,
        elapsed: Duration::ZERO,
        failures: Vec::new(),
    };
    while let Some(done) = counters.join_next().await {
        let (called, nobody_waiting, failures) = done?;
        calling.called.extend(called);
        calling.nobody_waiting += nobody_waiting;
        calling.failures.extend(failures);
    }
    calling.elapsed = started.elapsed();
    Ok(calling)
}

// --- the kiosk -----------------------------------------------------------------------

struct Kiosk {
    /// ms per request, sorted (failed check-ins too, with their time).
    tickets: Vec<f64>,
    check_ins: Vec<f64>,
    /// (when sent, ms) of each check-in.
    timeline: Vec<(Duration, f64)>,
    failures: Vec<String>,
    elapsed: Duration,
}

/// Up to `visitors` walk-ins at [`CALLS_PER_SECOND`], each its own task so
/// a slow one does not hold the pace (arrivals do not wait for the server);
/// no new ones [`OVERTIME`] after the last should have come.
async fn run_kiosk(api: &Api, kiosk: &str, visitors: usize) -> Result<Kiosk> {
    let started = Instant::now();
    let period = Duration::from_secs_f64(1.0 / CALLS_PER_SECOND);
    let mut pacer = tokio::time::interval(period);
    let mut walk_ins = JoinSet::new();
    for _ in 0..visitors {
        pacer.tick().await;
        if started.elapsed() > period * visitors as u32 + OVERTIME {
            break;
        }
        let (api, kiosk, at) = (api.clone(), kiosk.to_owned(), started.elapsed());
        walk_ins.spawn(async move { walk_in(&api, &kiosk, at).await });
    }
    let mut done = Kiosk {
        tickets: Vec::new(),
        check_ins: Vec::new(),
        timeline: Vec::new(),
        failures: Vec::new(),
        elapsed: Duration::ZERO,
    };
    while let Some(walked) = walk_ins.join_next().await {
        let walked = walked??;
        done.tickets.push(walked.ticket_ms);
        done.check_ins.extend(walked.check_in_ms);
        done.timeline.extend(walked.check_in_ms.map(|spent| (walked.at, spent)));
        done.failures.extend(walked.failure);
    }
    done.tickets.sort_by(f64::total_cmp);
    done.check_ins.sort_by(f64::total_cmp);
    done.elapsed = started.elapsed();
    Ok(done)
}

/// The server's CPU use (user + system, in cores) in each `window` until
/// told to stop; a last, partial window counts if it lasted half a window.
async fn sample_cpu(pid: u32, window: Duration, mut stop: watch::Receiver<bool>) -> Result<Vec<f64>> {
    let mut windows = Vec::new();
    let (mut since, mut before) = (Instant::now(), process_cpu_seconds(pid)?);
    loop {
        let stopped = tokio::select! {
            _ = tokio::time::sleep_until((since + window).into()) => false,
            _ = stop.wait_for(|stop| *stop) => true,
        };
        let (now, spent) = (Instant::now(), process_cpu_seconds(pid)?);
        let lasted = now - since;
        if !stopped || lasted >= window / 2 {
            windows.push((spent - before) / lasted.as_secs_f64());
        }
        if stopped {
            return Ok(windows);
        }
        (since, before) = (now, spent);
    }
}

// --- the displays --------------------------------------------------------------------

/// A `call` event as a display received it.
struct Delivery {
    /// The SSE `id`: the call's log position.
    position: u64,
    number: String,
    counter: String,
    /// When the chunk holding it arrived.
    received: DateTime<Utc>,
}

struct Displays {
    streams: JoinSet<Result<(usize, Vec<Delivery>)>>,
    stop: watch::Sender<bool>,
    /// Calls received so far, over all displays.
    received: Arc<AtomicUsize>,
}

impl Displays {
    /// Opens [`DISPLAYS`] streams; returns once each has its answer's
    /// headers, so each follows the floor from then on.
    async fn connect(api: &Api, token: &str) -> Result<Displays> {
        // Each stream holds a connection of its own for as long as it runs.
        let client = reqwest::Client::builder().build()?;
        let url = format!("{}/api/v1/offices/{OFFICE}/display/stream", api.base);
        let (stop, stopped) = watch::channel(false);
        let (ready, mut connected) = mpsc::channel(DISPLAYS);
        let received = Arc::new(AtomicUsize::new(0));
        let mut streams = JoinSet::new();
        for display in 0..DISPLAYS {
            let request = client.get(&url).bearer_auth(token);
            let (ready, stopped, received) = (ready.clone(), stopped.clone(), received.clone());
            streams.spawn(async move {
                let deliveries = follow(request, ready, stopped, received).await?;
                Ok((display, deliveries))
            });
        }
        drop(ready);
        for _ in 0..DISPLAYS {
            if connected.recv().await.is_none() {
                // A stream failed before it was ready: say why.
                while let Some(done) = streams.join_next().await {
                    done??;
                }
                bail!("a display stream ended before it was connected");
            }
        }
        Ok(Displays {
            streams,
            stop,
            received,
        })
    }

    /// Waits until every display has `calls` calls, or [`DELIVERY_GRACE`]
    /// has passed; then closes the streams and returns each display's calls.
    async fn finish(mut self, calls: usize) -> Result<Vec<Vec<Delivery>>> {
        let deadline = Instant::now() + DELIVERY_GRACE;
        while self.received.load(Ordering::Relaxed) < calls * DISPLAYS && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.stop.send_replace(true);
        let mut displays: Vec<Vec<Delivery>> = (0..DISPLAYS).map(|_| Vec::new()).collect();
        while let Some(done) = self.streams.join_next().await {
            let (display, deliveries) = done??;
            displays[display] = deliveries;
        }
        Ok(displays)
    }
}

/// Reads one display's stream until told to stop.
async fn follow(
    request: reqwest::RequestBuilder,
    ready: mpsc::Sender<()>,
    mut stopped: watch::Receiver<bool>,
    received: Arc<AtomicUsize>,
) -> Result<Vec<Delivery>> {
    let mut response = request.send().await?;
    ensure!(
        response.status() == StatusCode::OK,
        "the display stream answered {}",
        response.status()
    );
    ready.send(()).await.ok();
    let mut buffer: Vec<u8> = Vec::new();
    let mut deliveries = Vec::new();
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk?,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        // Taken before parsing: the chunk's events arrived now.
        let now = Utc::now();
        let chunk = chunk.context("the display stream ended")?;
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.windows(2).position(|pair| pair == b"\n\n") {
            let block = String::from_utf8(buffer.drain(..end + 2).collect())?;
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                    .map(|value| value.strip_prefix(' ').unwrap_or(value).to_owned())
            };
            // Heartbeats are comments (`:heartbeat`), without an event.
            if field("event").as_deref() != Some("call") {
                continue;
            }
            let data: Value = serde_json::from_str(&field("data").context("a call without data")?)?;
            deliveries.push(Delivery {
                position: field("id").context("a call without an id")?.parse()?,
                number: text(&data, "number")?,
                counter: text(&data, "counter")?,
                received: now,
            });
            received.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(deliveries)
}

// --- the log and the figures ---------------------------------------------------------

/// A `visit.called` event of the log.
struct Logged {
    position: u64,
    counter: String,
    called_at: DateTime<Utc>,
}

/// The office's `visit.called` events by waiting number (one call each: the
/// bench never recalls), read through the audit API.
async fn called_in_log(api: &Api) -> Result<HashMap<String, Logged>> {
    let mut called = HashMap::new();
    let mut after = 0;
    loop {
        let page = api
            .expect(
                Method::GET,
                &format!("/api/v1/events?after={after}&limit=1000"),
                TOKEN,
                None,
                StatusCode::OK,
            )
            .await?;
        let events = page["events"].as_array().context("events")?;
        if events.is_empty() {
            return Ok(called);
        }
        for event in events {
            after = event["position"].as_u64().context("a position")?;
            let data = &event["data"];
            if event["type"] != "visit.called" || data["office"] != OFFICE {
                continue;
            }
            let called_at = DateTime::parse_from_rfc3339(&text(data, "called_at")?)?.with_timezone(&Utc);
            let logged = Logged {
                position: after,
                counter: text(data, "counter")?,
                called_at,
            };
            ensure!(
                called.insert(text(data, "number")?, logged).is_none(),
                "a number called twice"
            );
        }
    }
}

struct Deliveries {
    /// ms from the call's decision instant to each display's receipt, sorted.
    from_call: Vec<f64>,
    /// ms from the call's answer arriving at the clerk to each receipt, sorted.
    from_answer: Vec<f64>,
    /// (display, number) of each call a display never received.
    missing: Vec<(usize, String)>,
    /// Received events that are no measured call, or a repeat of one.
    extra: usize,
    /// Received calls whose number or counter differ from the log's.
    wrong: Vec<String>,
}

/// Every (call × display) delivery.
///
/// "Committed" is not observable from outside: it lies between the call's
/// decision and its answer. The decision instant is the log's `called_at`
/// (the server's clock, which is this machine's clock, in full precision —
/// the API's answer rounds it to the second), taken before the event is
/// appended and its transaction commits, so latency measured from it counts
/// the commit as well: never less than the true latency, the honest side
/// for a target. The answer's arrival comes after the commit (the handler
/// also waits for its own floor view), so latency from it would understate;
/// it is shown for comparison only.
fn deliveries(called: &[Called], logged: &HashMap<String, Logged>, displays: &[Vec<Delivery>]) -> Result<Deliveries> {
    let mut result = Deliveries {
        from_call: Vec::new(),
        from_answer: Vec::new(),
        missing: Vec::new(),
        extra: 0,
        wrong: Vec::new(),
    };
    let by_position: HashMap<u64, &Called> = called
        .iter()
        .map(|call| {
            let logged = logged
                .get(&call.number)
                .with_context(|| format!("number {} called but not in the log", call.number))?;
            Ok((logged.position, call))
        })
        .collect::<Result<_>>()?;
    for (display, deliveries) in displays.iter().enumerate() {
        let mut seen: HashMap<u64, &Delivery> = HashMap::new();
        for delivery in deliveries {
            if !by_position.contains_key(&delivery.position) || seen.insert(delivery.position, delivery).is_some() {
                result.extra += 1;
            }
        }
        for call in called {
            let logged = &logged[&call.number];
            let Some(delivery) = seen.get(&logged.position) else {
                result.missing.push((display, call.number.clone()));
                continue;
            };
            if delivery.number != call.number || delivery.counter != logged.counter {
                result.wrong.push(format!(
                    "display {display} showed {}/{} for position {}, the log has {}/{}",
                    delivery.number, delivery.counter, logged.position, call.number, logged.counter
                ));
            }
            result.from_call.push(ms_between(logged.called_at, delivery.received));
            result.from_answer.push(ms_between(call.answered, delivery.received));
        }
    }
    result.from_call.sort_by(f64::total_cmp);
    result.from_answer.sort_by(f64::total_cmp);
    Ok(result)
}
