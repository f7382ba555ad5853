//! The waitlist's matching engine (`terminagent_domain::matching::Matcher`) at
//! scale: 1,000,000 waiting wishes over 7 offices and the 60 weekday hours
//! Mon–Fri 08–20 (each wish 1–3 offices, 3–8 of those hours, 1–3 services of
//! 12 minutes, one in ten with an end date), drawn from a seeded PRNG so
//! every run is the same. Then:
//! - loading the wishes (what a restart from a snapshot costs) and the memory
//!   they take, counted by a counting global allocator;
//! - publishing 100,800 units (7 offices × 15 weekdays × 16 lanes × 60 units
//!   of 12 minutes, one office-day per call), each offered to the earliest
//!   wish that fits it: freed units matched per second;
//! - declining 30 % of the proposals one at a time (the Düsseldorf share of
//!   declined or expired proposals): each decline hands the units to the next
//!   wish and may give the decliner other free units.
//!
//! `cargo bench -p terminagent-benches --bench matcher` (full run), or
//! `cargo bench -p terminagent-benches --bench matcher -- --quick`
//! (`--quick` or `TERMINAGENT_BENCH_QUICK=1`: 10× fewer wishes and units, a
//! smoke test).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use terminagent_benches::{Report, thousands};

use chrono::{Days, Weekday};
use terminagent_domain::matching::{Matcher, NewUnit, OfficeIndex, OfficeSet, Proposal, Unit, WaitingWish};
use terminagent_domain::{LocalDate, LocalTime, OfficeId, WeeklyWindows, WishId};
use ulid::Ulid;

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is kept beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

const OFFICES: usize = 7;
const FIRST_HOUR: u32 = 8;
/// Mon–Fri 08–20: 12 start hours a day.
const HOURS_PER_DAY: u32 = 12;
const WEEKDAYS: [Weekday; 5] = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
const UNIT_MINUTES: u32 = 12;
const SERVICE_MINUTES: u32 = 12;
const WEEKS: u64 = 3;
const DECLINE_PERCENT: u64 = 30;

const LOAD_TARGET_SECONDS: f64 = 3.0;
const BYTES_TARGET: f64 = 256.0;
const MATCH_TARGET: f64 = 200_000.0;

struct Plan {
    wishes: usize,
    lanes: u16,
}

/// A small deterministic PRNG (splitmix64).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n small: the bias is negligible).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn main() -> std::process::ExitCode {
    let quick = std::env::args().any(|arg| arg == "--quick")
        || std::env::var("TERMINAGENT_BENCH_QUICK").is_ok_and(|value| value == "1");
    let plan = if quick {
        Plan {
            wishes: 100_000,
            lanes: 2,
        }
    } else {
        Plan {
            wishes: 1_000_000,
            lanes: 16,
        }
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "matching engine{}; {} wishes, {OFFICES} offices × {} weekday hours; load average {}",
        if quick {
            " (quick: 10× fewer wishes and units)"
        } else {
            ""
        },
        thousands(plan.wishes as f64),
        WEEKDAYS.len() as u32 * HOURS_PER_DAY,
        load.split_whitespace().next().unwrap_or("?"),
    );
    let mut report = Report::default();
    let mut rng = SplitMix(0x7E57_1A6E_D00D_F00D);
    let first_day = LocalDate::from_ymd(2027, 1, 4).expect("a Monday");

    let mut matcher = Matcher::new();
    let offices: Vec<OfficeIndex> = (0..OFFICES)
        .map(|n| {
            let id = OfficeId::parse(&format!("bss-{n}")).expect("a slug");
            matcher.register_office(id).expect("room for 7 offices")
        })
        .collect();
    let last_week_start = first_day.as_naive() + Days::new(7 * (WEEKS - 1));
    let until = LocalDate::try_from(last_week_start - Days::new(1)).expect("a date");
    let wishes: Vec<WaitingWish> = (0..plan.wishes)
        .map(|n| random_wish(&mut rng, n as u64, &offices, until))
        .collect();
    let keys_per_wish = wishes
        .iter()
        .map(|wish| wish.offices.len() * wish.windows.iter().count())
        .sum::<usize>() as f64
        / plan.wishes as f64;

    // Loading: what a restart from a snapshot does.
    let before = live_bytes();
    let started = Instant::now();
    for wish in &wishes {
        let decisions = matcher.register_wish(wish.clone()).expect("a valid wish");
        assert!(decisions.proposals.is_empty(), "no capacity yet");
    }
    let load_seconds = started.elapsed().as_secs_f64();
    // The input is still alive, as it was when `before` was taken.
    let loaded = live_bytes() - before;
    drop(wishes);
    let before = live_bytes() - loaded;
    report.check(
        &format!("load {} wishes", thousands(plan.wishes as f64)),
        format!("{load_seconds:.2} s"),
        format!("< {LOAD_TARGET_SECONDS} s"),
        load_seconds < LOAD_TARGET_SECONDS,
        &format!("({}/s)", thousands(plan.wishes as f64 / load_seconds)),
    );
    let per_wish = loaded as f64 / plan.wishes as f64;
    report.check(
        "memory per waiting wish",
        format!("{per_wish:.0} bytes"),
        format!("≤ {BYTES_TARGET} bytes"),
        per_wish <= BYTES_TARGET,
        &format!(
            "(live heap {} MB; record {} bytes inline in a Vec; {keys_per_wish:.1} office × hour keys per wish)",
            thousands(loaded as f64 / 1e6),
            Matcher::WISH_RECORD_BYTES
        ),
    );
    matcher.shrink_to_fit();
    let shrunk = (live_bytes() - before) as f64 / plan.wishes as f64;
    report.info(
        "memory per waiting wish after shrink_to_fit",
        &format!("{shrunk:.0} bytes"),
    );

    // Publishing: one office-day of every lane per call, days in order.
    let mut units_published = 0usize;
    let mut proposals: Vec<Proposal> = Vec::new();
    let started = Instant::now();
    for week in 0..WEEKS {
        for weekday in 0..WEEKDAYS.len() as u64 {
            let date = LocalDate::try_from(first_day.as_naive() + Days::new(week * 7 + weekday)).expect("a date");
            for &office in &offices {
                let units = office_day(office, date, plan.lanes);
                units_published += units.len();
                let decisions = matcher.publish_units(&units).expect("no overlaps");
                proposals.extend(decisions.proposals);
            }
        }
    }
    let publish_seconds = started.elapsed().as_secs_f64();
    let rate = units_published as f64 / publish_seconds;
    let proposed_units: usize = proposals.iter().map(|p| p.units.len()).sum();
    report.check(
        &format!("publish {} units", thousands(units_published as f64)),
        format!("{} units/s", thousands(rate)),
        format!("≥ {}/s", thousands(MATCH_TARGET)),
        rate >= MATCH_TARGET,
        &format!(
            "({} proposals = {}/s, {} units proposed, {} left free)",
            thousands(proposals.len() as f64),
            thousands(proposals.len() as f64 / publish_seconds),
            thousands(proposed_units as f64),
            thousands(matcher.free_units() as f64),
        ),
    );

    // Declining: 30 % of the proposals, one at a time.
    let declining: Vec<WishId> = proposals
        .iter()
        .filter(|_| rng.below(100) < DECLINE_PERCENT)
        .map(|p| p.wish)
        .collect();
    let mut next_proposals = 0usize;
    let started = Instant::now();
    for &wish in &declining {
        let decisions = matcher.proposal_declined(wish).expect("an open proposal");
        next_proposals += decisions.proposals.len();
    }
    let decline_seconds = started.elapsed().as_secs_f64();
    report.info(
        &format!("decline {} proposals one by one", thousands(declining.len() as f64)),
        &format!(
            "{} declines/s  ({} new proposals)",
            thousands(declining.len() as f64 / decline_seconds),
            thousands(next_proposals as f64)
        ),
    );
    report.info(
        "wishes still idle / units free",
        &format!(
            "{} / {}",
            thousands(matcher.idle_wishes() as f64),
            thousands(matcher.free_units() as f64)
        ),
    );
    report.summary()
}

fn random_wish(rng: &mut SplitMix, n: u64, offices: &[OfficeIndex], until: LocalDate) -> WaitingWish {
    let mut set = OfficeSet::EMPTY;
    let wanted = 1 + rng.below(3) as usize;
    while set.len() < wanted {
        set = set.with(offices[rng.below(offices.len() as u64) as usize]);
    }
    let hour_count = 3 + rng.below(6);
    let hours: Vec<(Weekday, u32)> = (0..hour_count)
        .map(|_| {
            let weekday = WEEKDAYS[rng.below(WEEKDAYS.len() as u64) as usize];
            (weekday, FIRST_HOUR + rng.below(HOURS_PER_DAY.into()) as u32)
        })
        .collect();
    // Mostly one service, some two or three.
    let services = match rng.below(10) {
        0..=6 => 1,
        7..=8 => 2,
        _ => 3,
    };
    WaitingWish {
        id: WishId::from_ulid(Ulid::from_parts(1_798_000_000_000 + n, u128::from(rng.next()))),
        offices: set,
        windows: WeeklyWindows::new(hours).expect("hours 8–19"),
        needed_minutes: services * SERVICE_MINUTES,
        until: (rng.below(10) == 0).then_some(until),
    }
}

/// Every lane of one office day, 08:00–20:00 in 12-minute units.
fn office_day(office: OfficeIndex, date: LocalDate, lanes: u16) -> Vec<NewUnit> {
    let units_per_lane = HOURS_PER_DAY * 60 / UNIT_MINUTES;
    let day_start = LocalTime::from_hm(FIRST_HOUR, 0).expect("08:00");
    (1..=lanes)
        .flat_map(|lane| {
            (0..units_per_lane).map(move |i| {
                let start = day_start.add_minutes(i * UNIT_MINUTES).expect("same day");
                NewUnit {
                    unit: Unit {
                        office,
                        date,
                        lane,
                        start,
                    },
                    end: start.add_minutes(UNIT_MINUTES).expect("same day"),
                }
            })
        })
        .collect()
}
