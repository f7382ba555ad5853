//! `--demo` seeds Duisburg's catalogue once (API.md "Running").

mod support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate, Utc, Weekday};
use serde_json::Value;
use support::TestApp;
use terminagent_domain::{HolidayRegion, LocalDate, LocalTime, OfficeTimeZone, OpeningHours};
use terminagent_eventstore::Backend;
use terminagent_eventstore::testing::TestDatabase;

/// The data of every event of `event_type`, in log order.
async fn events_of_type(app: &TestApp, event_type: &str) -> Vec<Value> {
    let (mut after, mut found) = (0, Vec::new());
    loop {
        let (_, page) = app.get(&format!("/api/v1/events?after={after}&limit=1000")).await;
        let events = page["events"].as_array().unwrap();
        if events.is_empty() {
            return found;
        }
        found.extend(
            events
                .iter()
                .filter(|e| e["type"] == event_type)
                .map(|e| e["data"].clone()),
        );
        after = page["next"].as_u64().unwrap();
    }
}

async fn events_by_type(app: &TestApp, event_type: &str) -> usize {
    events_of_type(app, event_type).await.len()
}

/// The days after `today`, up to three weeks ahead, that are neither weekends
/// nor public holidays in Nordrhein-Westfalen.
fn open_days_after(today: NaiveDate) -> BTreeSet<NaiveDate> {
    (1..=21)
        .map(|ahead| today + Days::new(ahead))
        .filter(|day| !matches!(day.weekday(), Weekday::Sat | Weekday::Sun))
        .filter(|day| HolidayRegion::NordrheinWestfalen.holiday(*day).is_none())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_seeds_duisburg_once() {
    let db = std::sync::Arc::new(TestDatabase::new(Backend::Sqlite).await.unwrap());
    let app = TestApp::spawn_on(db.clone(), true).await;
    let (_, offices) = app.get("/api/v1/offices").await;
    let names: Vec<&str> = offices
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 7);
    for district in [
        "Stadtmitte",
        "Alt-Homberg",
        "Walsum",
        "Hamborn",
        "Meiderich/Beeck",
        "Rheinhausen",
        "Süd",
    ] {
        assert!(
            names.iter().any(|name| name.ends_with(district)),
            "{district} in {names:?}"
        );
    }
    let (_, services) = app.get("/api/v1/services").await;
    let services = services.as_array().unwrap();
    assert!(services.len() >= 6);
    assert!(services.iter().all(|s| s["duration_minutes"] == 12));
    assert!(services.iter().any(|s| s["name"] == "Personalausweis"));
    // Every office has opening hours and Nordrhein-Westfalen's holidays.
    let mut hours: BTreeMap<String, OpeningHours> = BTreeMap::new();
    for office in offices.as_array().unwrap() {
        assert_eq!(office["holidays"], "DE-NW", "{office}");
        assert_eq!(office["closed_days"], serde_json::json!([]), "{office}");
        let office_hours = serde_json::from_value(office["opening_hours"].clone()).expect("opening hours");
        hours.insert(office["id"].as_str().unwrap().to_owned(), office_hours);
    }

    let publications = events_of_type(&app, "capacity.published").await;
    let published = publications.len();
    // One publication per office and open day: three weeks less weekends and holidays.
    let dates: BTreeSet<NaiveDate> = publications
        .iter()
        .map(|p| LocalDate::parse(p["date"].as_str().unwrap()).unwrap().as_naive())
        .collect();
    let today = OfficeTimeZone::parse("Europe/Berlin").unwrap().today(Utc::now());
    assert!(
        dates == open_days_after(today) || dates == open_days_after(today - Days::new(1)),
        "published on {dates:?}"
    );
    assert_eq!(published, 7 * dates.len(), "one publication per office and open day");
    for publication in &publications {
        let date = LocalDate::parse(publication["date"].as_str().unwrap())
            .unwrap()
            .as_naive();
        assert!(
            HolidayRegion::NordrheinWestfalen.holiday(date).is_none(),
            "nothing on a public holiday: {publication}"
        );
        for holiday in ["2026-12-25", "2026-12-26", "2027-01-01"] {
            assert_ne!(date.to_string(), holiday, "{publication}");
        }
        // The units (whole ones only) lie inside one opening interval of the day.
        let from = LocalTime::parse(publication["from"].as_str().unwrap()).unwrap();
        let unit_minutes = publication["unit_minutes"].as_u64().unwrap() as u32;
        let per_lane = (publication["units"].as_u64().unwrap() / publication["lanes"].as_u64().unwrap()) as u32;
        assert_eq!(publication["lanes"], 3, "three lanes: {publication}");
        let end = from.add_minutes(per_lane * unit_minutes).unwrap();
        let office_hours = &hours[publication["office"].as_str().unwrap()];
        assert!(
            office_hours.covers(date.weekday(), from, end),
            "{from}–{end} inside the hours: {publication}"
        );
    }

    let again = TestApp::spawn_on(db, true).await;
    assert_eq!(
        events_by_type(&again, "capacity.published").await,
        published,
        "a second start seeds nothing"
    );
    assert_eq!(events_by_type(&again, "office.registered").await, 7);
}
