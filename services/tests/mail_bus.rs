//! Stale notices on a shared JetStream stream never delay fresh mail: an
//! installation publishes under subjects of its own log and its mailers
//! consume only those, terminate a notice that names another log, and give
//! up (recorded in the ledger) on one ahead of the log's head after a
//! bounded wait.

mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::smtp::SmtpReceiver;
use support::{TestApp, berlin_at as at, stadtmitte_a_week_ahead};
use terminagent::config::{BusConfig, MailTransport, Role};
use terminagent::mail::LogId;
use terminagent_eventstore::{Backend, EventStore, StoreOptions};

const NATS: &str = "nats://127.0.0.1:4222";

/// A notice as the relay writes it, of an event no log of this test holds.
fn notice(position: u64, log: Option<&str>) -> Vec<u8> {
    let mut notice = json!({
        "event_id": ulid::Ulid::new().to_string(),
        "position": position,
        "event_type": "booking.requested",
        "recorded_at": Utc::now().to_rfc3339(),
        "data": {"booking": ulid::Ulid::new().to_string()},
    });
    if let Some(log) = log {
        notice["log"] = json!(log);
    }
    serde_json::to_vec(&notice).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_mail_goes_out_within_a_second_past_100_stale_notices() {
    let stream = format!("TEST_MAIL_{}", ulid::Ulid::new());
    let bus = BusConfig::Nats {
        url: NATS.into(),
        stream: stream.clone(),
    };
    let api = TestApp::spawn_configured(Backend::Postgres, |config| {
        config.role = Role::Api;
        config.bus = bus.clone();
    })
    .await;
    let store = EventStore::connect(api.db.url(), StoreOptions::default())
        .await
        .unwrap();
    let ours = LogId::of(&store).await.unwrap();

    // Before any mailer of this log runs, the stream fills with what other
    // installations and older versions left there, and with notices ahead
    // of this log's head (a log restored from a backup).
    let jetstream = async_nats::jetstream::new(async_nats::connect(NATS).await.unwrap());
    jetstream
        .get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{stream}.>")],
            ..Default::default()
        })
        .await
        .unwrap();
    let foreign = "00000000deadbeef";
    let mut stale = Vec::new();
    for _ in 0..30 {
        stale.push((
            format!("{stream}.{foreign}.booking.requested"),
            notice(1, Some(foreign)),
        ));
        stale.push((format!("{stream}.booking.requested"), notice(1, None)));
    }
    for _ in 0..20 {
        // On this log's subjects but naming another log (a misconfigured publisher).
        stale.push((format!("{stream}.{ours}.booking.requested"), notice(1, Some(foreign))));
        stale.push((
            format!("{stream}.{ours}.booking.requested"),
            notice(1_000_000_000, Some(ours.as_str())),
        ));
    }
    assert_eq!(stale.len(), 100);
    for (subject, payload) in stale {
        jetstream.publish(subject, payload.into()).await.unwrap().await.unwrap();
    }

    let receiver = SmtpReceiver::start().await;
    let _mailer = TestApp::start_on(api.db.clone(), |config| {
        config.role = Role::Mailer;
        config.bus = bus.clone();
        config.mail = MailTransport::Smtp {
            host: "127.0.0.1".into(),
            port: receiver.port(),
            implicit_tls: false,
        };
    })
    .await;

    stadtmitte_a_week_ahead(&api).await;
    let mut waits = Vec::new();
    for (n, start) in ["08:00", "08:12", "08:24"].into_iter().enumerate() {
        let body = json!({"office": "stadtmitte", "services": ["reisepass"], "start": at(7, start).to_rfc3339(),
                          "citizen": {"name": "Erika Mustermann", "email": format!("fresh{n}@example.org")}});
        let (status, answer) = api.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let booked = Instant::now();
        receiver.wait_for_within(n + 1, Duration::from_secs(10)).await;
        waits.push(booked.elapsed());
    }
    assert!(
        waits.iter().all(|wait| *wait < Duration::from_secs(1)),
        "each fresh mail within a second of its booking: {waits:?}"
    );
    // None of the stale notices became a mail.
    let to: Vec<String> = receiver
        .received()
        .iter()
        .flat_map(|mail| mail.to.iter().map(|to| to.trim_matches(['<', '>']).to_owned()))
        .collect();
    assert_eq!(to, ["fresh0@example.org", "fresh1@example.org", "fresh2@example.org"]);

    // The notices ahead of the head are given up after their wait, each
    // recorded in the ledger.
    let progress = store.progress();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let consumer_info = jetstream
            .get_stream(&stream)
            .await
            .unwrap()
            .consumer_info(format!("mailer-{ours}"))
            .await
            .unwrap();
        if consumer_info.num_pending == 0 && consumer_info.num_ack_pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stale notices are dealt with: {consumer_info:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let given_up = progress.mails_given_up().await.unwrap();
    assert_eq!(given_up.len(), 20, "{given_up:?}");
    assert!(
        given_up.iter().all(|why| why.contains("ahead of the log's head")),
        "{given_up:?}"
    );

    store.close().await;
    jetstream.delete_stream(&stream).await.unwrap();
}
