//! `--demo` seeds Duisburg's catalogue once (API.md "Running").

mod support;

use support::TestApp;
use terminagent_eventstore::Backend;
use terminagent_eventstore::testing::TestDatabase;

async fn events_by_type(app: &TestApp, event_type: &str) -> usize {
    let (mut after, mut count) = (0, 0);
    loop {
        let (_, page) = app.get(&format!("/api/v1/events?after={after}&limit=1000")).await;
        let events = page["events"].as_array().unwrap();
        if events.is_empty() {
            return count;
        }
        count += events.iter().filter(|e| e["type"] == event_type).count();
        after = page["next"].as_u64().unwrap();
    }
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
    let published = events_by_type(&app, "capacity.published").await;
    // Three weeks: 15 weekdays, Thursdays twice (morning and afternoon), per office.
    assert!((7 * 17..=7 * 19).contains(&published), "{published} publications");

    let again = TestApp::spawn_on(db, true).await;
    assert_eq!(
        events_by_type(&again, "capacity.published").await,
        published,
        "a second start seeds nothing"
    );
    assert_eq!(events_by_type(&again, "office.registered").await, 7);
}
