//! How fast the checker folds a log shaped like a busy installation's: office
//! days of capacity, bookings confirmed, checked in, called, served, some
//! cancelled and re-booked, a waitlist with proposals, declines and acceptances.
//!
//! `cargo nextest run --release -p terminagent-audit-checker --run-ignored all throughput`
//! prints events per second over a million events (`audit verify` needs
//! 500,000/s including reading the log); the plain test runs a small log in
//! any profile and asserts it is clean.

use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use serde_json::json;
use terminagent_audit_checker::{Checker, LoggedEvent};

struct Entry {
    event_type: &'static str,
    actor: String,
    data: String,
    recorded_at: DateTime<Utc>,
}

fn unit(office: &str, date: &str, lane: u16, start: u32) -> serde_json::Value {
    json!({"office": office, "date": date, "lane": lane, "start": format!("{:02}:{:02}", start / 60, start % 60)})
}

fn instant(date: NaiveDate, minute: u32) -> DateTime<Utc> {
    Berlin
        .from_local_datetime(&date.and_hms_opt(minute / 60, minute % 60, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn push(log: &mut Vec<Entry>, event_type: &'static str, actor: &str, data: serde_json::Value, at: DateTime<Utc>) {
    log.push(Entry {
        event_type,
        actor: actor.to_owned(),
        data: data.to_string(),
        recorded_at: at,
    })
}

/// At least `events` events: office days one after another, each fully booked
/// but for a few units the waitlist takes.
fn synthetic_log(events: usize) -> Vec<Entry> {
    let recorded = |date: NaiveDate| instant(date, 0) - Duration::days(10);
    let mut log = Vec::new();
    let offices = ["mitte", "nord", "sued", "west", "ost", "hafen", "markt"];
    let start_day = NaiveDate::from_ymd_opt(2027, 1, 4).unwrap();
    let at0 = recorded(start_day);
    for office in offices {
        push(
            &mut log,
            "office.registered",
            "operator",
            json!({"office": office, "name": office, "address": "Platz 1", "timezone": "Europe/Berlin"}),
            at0,
        );
        push(
            &mut log,
            "staff.registered",
            "operator",
            json!({"staff": format!("clerk-{office}"), "email": "c@example.org", "name": "Clerk",
                   "roles": [{"role": "clerk", "office": office}]}),
            at0,
        );
        push(
            &mut log,
            "staff.registered",
            "operator",
            json!({"staff": format!("lead-{office}"), "email": "l@example.org", "name": "Lead",
                   "roles": [{"role": "lead", "office": office}]}),
            at0,
        );
    }
    push(
        &mut log,
        "service.registered",
        "operator",
        json!({"service": "ausweis", "name": "Ausweis", "duration_minutes": 12}),
        at0,
    );
    let sealed = json!({"envelope_id": "01JENVELOPE00000000000000", "nonce": "00112233445566778899aabb",
                        "ciphertext": "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6"});
    let links = json!([{"action": "confirm_booking", "token_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                        "expires_at": "2027-01-01T10:00:00Z"}]);
    let mut serial = 0u64;
    let mut day = start_day;
    while log.len() < events {
        let date = day.to_string();
        let at = recorded(day);
        for office in offices {
            let clerk = format!("staff:clerk-{office}");
            push(
                &mut log,
                "capacity.published",
                &clerk.replace("clerk", "lead"),
                json!({"office": office, "date": date, "from": "08:00", "to": "16:00", "unit_minutes": 12,
                       "lanes": 3, "first_lane": 1, "units": 120}),
                at,
            );
            // One wish per office day, proposed the last unit of lane 3, which it declines,
            // then the one before, which it accepts.
            serial += 1;
            let wish = format!("W{serial:025}");
            push(
                &mut log,
                "wish.registered",
                "citizen",
                json!({"wish": wish, "offices": [office], "services": ["ausweis"], "windows": {"mon": [15], "tue": [15], "wed": [15], "thu": [15], "fri": [15], "sat": [15], "sun": [15]},
                       "until": null, "lapses_at": null, "citizen": sealed, "links": links, "registered_at": at}),
                at,
            );
            for (lane, minute, answer) in [(3u16, 15 * 60 + 48, "declined"), (3, 15 * 60 + 36, "accepted")] {
                serial += 1;
                let proposal = format!("P{serial:025}");
                let units = json!([unit(office, &date, lane, minute)]);
                push(
                    &mut log,
                    "proposal.made",
                    "system:matcher",
                    json!({"proposal": proposal, "wish": wish, "office": office, "units": units,
                           "start": instant(day, minute), "end": instant(day, minute + 12),
                           "expires_at": instant(day, minute), "links": links}),
                    at,
                );
                if answer == "declined" {
                    push(
                        &mut log,
                        "proposal.declined",
                        "citizen",
                        json!({"proposal": proposal, "wish": wish, "units": units}),
                        at,
                    );
                } else {
                    serial += 1;
                    push(
                        &mut log,
                        "proposal.accepted",
                        "citizen",
                        json!({"proposal": proposal, "wish": wish, "booking": format!("B{serial:025}"),
                               "office": office, "services": ["ausweis"], "units": units,
                               "start": instant(day, minute), "end": instant(day, minute + 12), "date": date,
                               "number": "1", "citizen": sealed, "checkin_code_hash": "00", "links": links}),
                        at,
                    );
                }
            }
            let mut number = 1;
            for lane in 1..=3u16 {
                for slot in 0..40u32 {
                    let minute = 8 * 60 + slot * 12;
                    if lane == 3 && slot >= 38 {
                        continue;
                    }
                    serial += 1;
                    let booking = format!("B{serial:025}");
                    let units = json!([unit(office, &date, lane, minute)]);
                    push(
                        &mut log,
                        "booking.requested",
                        "citizen",
                        json!({"booking": booking, "office": office, "services": ["ausweis"], "units": units,
                               "start": instant(day, minute), "end": instant(day, minute + 12),
                               "citizen": sealed, "confirm_by": at, "links": links}),
                        at,
                    );
                    if slot % 10 == 9 {
                        // Cancelled; the waitlist has nobody for it, so it is booked again below.
                        push(
                            &mut log,
                            "booking.cancelled",
                            "citizen",
                            json!({"booking": booking, "units": units, "citizen": "01JENVELOPE00000000000000"}),
                            at,
                        );
                        serial += 1;
                        push(
                            &mut log,
                            "booking.requested",
                            "citizen",
                            json!({"booking": format!("B{serial:025}"), "office": office, "services": ["ausweis"],
                                   "units": units, "start": instant(day, minute), "end": instant(day, minute + 12),
                                   "citizen": sealed, "confirm_by": at, "links": links}),
                            at,
                        );
                        continue;
                    }
                    number += 1;
                    push(
                        &mut log,
                        "booking.confirmed",
                        "citizen",
                        json!({"booking": booking, "office": office, "date": date, "number": number.to_string(),
                               "checkin_code_hash": "00", "links": links}),
                        at,
                    );
                    let floor = |what: &str| {
                        json!({"booking": booking, "office": office, "date": date, "number": number.to_string(),
                               "counter": "3", "start": instant(day, minute), what: instant(day, minute)})
                    };
                    push(&mut log, "visit.checked_in", &clerk, floor("checked_in_at"), at);
                    push(&mut log, "visit.called", &clerk, floor("called_at"), at);
                    push(&mut log, "visit.started", &clerk, floor("started_at"), at);
                    push(&mut log, "visit.finished", &clerk, floor("finished_at"), at);
                }
            }
        }
        day += Duration::days(1);
    }
    log
}

fn check(log: &[Entry]) -> Checker {
    let streams: Vec<String> = Vec::new();
    let mut checker = Checker::new();
    for (index, entry) in log.iter().enumerate() {
        checker.observe(&LoggedEvent {
            position: index as u64 + 1,
            event_type: entry.event_type,
            streams: &streams,
            recorded_at: entry.recorded_at,
            actor: Some(&entry.actor),
            data: &entry.data,
        });
    }
    checker
}

#[test]
fn a_synthetic_busy_log_is_clean() {
    let log = synthetic_log(20_000);
    let checker = check(&log);
    assert_eq!(checker.violations(), &[], "{}", checker.summary());
    let before_any: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
    assert_eq!(checker.quiescence_violations(before_any), vec![]);
    assert!(checker.summary().proposals_checked > 0);
}

#[test]
#[ignore = "a measurement: run in release"]
fn throughput() {
    let log = synthetic_log(1_000_000);
    let bytes: usize = log.iter().map(|entry| entry.data.len()).sum();
    let started = Instant::now();
    let checker = check(&log);
    let elapsed = started.elapsed();
    let at_rest = Instant::now();
    let quiescence = checker.quiescence_violations("2026-12-01T00:00:00Z".parse().unwrap());
    let at_rest = at_rest.elapsed();
    assert_eq!(checker.violations(), &[]);
    assert_eq!(quiescence, vec![]);
    println!(
        "{} events ({} MB of data) in {:.3} s: {:.0} events/s; at rest {:.3} s; {}",
        log.len(),
        bytes / 1_000_000,
        elapsed.as_secs_f64(),
        log.len() as f64 / elapsed.as_secs_f64(),
        at_rest.as_secs_f64(),
        checker.summary()
    );
}
