//! Stale notices on a shared JetStream stream never delay fresh mail: an
//! installation publishes under subjects of its own log and its mailers
//! consume only those, terminate a notice that names another log, and give
//! up (recorded in the ledger) on one ahead of the log's head after a
//! bounded wait.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::smtp::SmtpReceiver;
use support::{TestApp, berlin_at as at, stadtmitte_a_week_ahead};
use terminagent::config::{BusConfig, MailTransport, Role};
use terminagent::mail::{LogId, RELAY_CHECKPOINT};
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

/// Makes the relay's checkpoint unsavable: every write of the row
/// `mail-relay` in `consumer_checkpoints` fails, as if the relay had died
/// between publishing to JetStream and saving. Each refused save is counted
/// by a sequence, which the failed statement's rollback does not undo; the
/// relay saves only after its publish returned, so each count is one round
/// that published.
const REFUSE_RELAY_CHECKPOINT: &str = r#"
CREATE SEQUENCE mail_relay_refusals;
CREATE FUNCTION refuse_mail_relay_checkpoint() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('mail_relay_refusals');
    RAISE EXCEPTION 'test fault: the mail relay''s checkpoint is not saved';
END
$$;
CREATE TRIGGER refuse_mail_relay_checkpoint
    BEFORE INSERT OR UPDATE ON consumer_checkpoints
    FOR EACH ROW WHEN (NEW.consumer = 'mail-relay')
    EXECUTE FUNCTION refuse_mail_relay_checkpoint();
"#;

/// How many checkpoint saves the fault has refused so far.
async fn refused_saves(db: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM mail_relay_refusals")
        .fetch_one(db)
        .await
        .unwrap()
}

/// The event id of each message the JetStream stream `stream` holds, in order.
async fn stream_event_ids(jetstream: &async_nats::jetstream::Context, stream: &str) -> Vec<String> {
    let mut stream = jetstream.get_stream(stream).await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    let mut ids = Vec::new();
    if state.messages == 0 {
        return ids;
    }
    for sequence in state.first_sequence..=state.last_sequence {
        let message = stream.get_raw_message(sequence).await.unwrap();
        let notice: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        ids.push(notice["event_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len() as u64, state.messages, "no gaps in the stream");
    ids
}

/// Invariant 9 where the relay is weakest: it has published a batch to
/// JetStream, but its checkpoint is not saved (a crash between the two;
/// here a trigger refuses the save, so the fault is certain), so it
/// publishes the same notices again from its old checkpoint, round after
/// round. JetStream drops the repeats by `Nats-Msg-Id` (the event id): the
/// stream holds one message per notice, and each mail goes out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_the_relay_publishes_again_after_an_unsaved_checkpoint_are_dropped_by_message_id() {
    use sqlx::Connection;
    let stream = format!("TEST_MAIL_{}", ulid::Ulid::new());
    let bus = BusConfig::Nats {
        url: NATS.into(),
        stream: stream.clone(),
    };
    let receiver = SmtpReceiver::start().await;
    let api = TestApp::spawn_configured(Backend::Postgres, |config| {
        config.role = Role::Api;
        config.bus = bus.clone();
    })
    .await;
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
    let store = EventStore::connect(api.db.url(), StoreOptions::default())
        .await
        .unwrap();
    let progress = store.progress();
    let jetstream = async_nats::jetstream::new(async_nats::connect(NATS).await.unwrap());

    // The catalogue calls for no mail; the relay passes it and saves.
    stadtmitte_a_week_ahead(&api).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let before = loop {
        // Every event appended so far numbered and readable, not only those
        // the background sequencer has got to: else the relay might move its
        // checkpoint once more after this loop.
        let head = store.catch_up().await.unwrap();
        let relayed = progress.checkpoint(RELAY_CHECKPOINT).await.unwrap();
        if relayed >= head {
            break relayed;
        }
        assert!(
            Instant::now() < deadline,
            "the relay reaches {head}; it is at {relayed}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let mut db = sqlx::PgConnection::connect(api.db.url()).await.unwrap();
    sqlx::raw_sql(REFUSE_RELAY_CHECKPOINT).execute(&mut db).await.unwrap();
    for (n, start) in ["08:00", "08:12"].into_iter().enumerate() {
        let body = json!({"office": "stadtmitte", "services": ["reisepass"], "start": at(7, start).to_rfc3339(),
                          "citizen": {"name": "Erika Mustermann", "email": format!("again{n}@example.org")}});
        let (status, answer) = api.send(Method::POST, "/api/v1/bookings", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    // Both notices are readable now: every relay round that starts from
    // here on reads from the old checkpoint and publishes both.
    let notices: BTreeSet<String> = api
        .wait_for_events("booking.requested", 2)
        .await
        .iter()
        .map(|event| event["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(notices.len(), 2);
    // Two more refused saves: the round of the second began after the
    // first was refused, so after both notices were readable. Two rounds at
    // least published both (backoff 1 s, then 2 s, 4 s, …).
    let seen = refused_saves(&mut db).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let refused = refused_saves(&mut db).await;
        if refused >= seen + 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "two relay rounds after both notices within 30 s; {refused} saves refused, {seen} before"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        progress.checkpoint(RELAY_CHECKPOINT).await.unwrap(),
        before,
        "the relay's checkpoint stayed where it was"
    );
    let mut held = stream_event_ids(&jetstream, &stream).await;
    held.sort();
    assert_eq!(
        held,
        notices.iter().cloned().collect::<Vec<_>>(),
        "published in two rounds or more, each notice held once"
    );

    // The fault ends: the relay's next round saves its checkpoint.
    sqlx::raw_sql("DROP TRIGGER refuse_mail_relay_checkpoint ON consumer_checkpoints")
        .execute(&mut db)
        .await
        .unwrap();
    // Every mail handled: the relay's checkpoint at the log's head, no claim
    // open, both mails recorded.
    let ledger = api.mails_settled(2).await;
    assert_eq!(
        ledger,
        notices
            .iter()
            .map(|key| (key.clone(), "sent".to_owned()))
            .collect::<Vec<_>>(),
        "one mail per notice, each recorded sent once"
    );
    assert!(progress.checkpoint(RELAY_CHECKPOINT).await.unwrap() > before);
    let mut held = stream_event_ids(&jetstream, &stream).await;
    held.sort();
    assert_eq!(
        held,
        notices.iter().cloned().collect::<Vec<_>>(),
        "each notice held once after the relay's recovery"
    );
    let mut to: Vec<String> = receiver
        .received()
        .iter()
        .flat_map(|mail| mail.to.iter().map(|to| to.trim_matches(['<', '>']).to_owned()))
        .collect();
    to.sort();
    assert_eq!(to, ["again0@example.org", "again1@example.org"], "each mail once");
    // A late repeat has no event to wait for: this second look can only
    // come after a short settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 2, "each mail once, also after a settle");
    assert_eq!(stream_event_ids(&jetstream, &stream).await.len(), 2);
    assert_eq!(api.mails_settled(2).await, ledger, "the ledger unchanged");

    drop(db);
    store.close().await;
    jetstream.delete_stream(&stream).await.unwrap();
}
