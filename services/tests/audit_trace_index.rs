//! The audit's index (`terminagent::audit::index`): a proposal traced from
//! a snapshot of the trace's fold gives exactly the trace of the whole
//! fold, on both backends; without a usable snapshot (none yet, one of
//! another format, or one taken after an event of the proposal) the trace
//! folds the whole log. And `GET /api/v1/audit/head`, the HTTP twin of
//! `terminagent audit head`.

mod support;

use std::collections::BTreeMap;
use std::process::Stdio;

use chrono::{DateTime, Duration, Utc, Weekday};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TOKEN, TestApp};
use terminagent::audit::Lang;
use terminagent::audit::index::{FORMAT, WhyIndexer, slot_name};
use terminagent::audit::trace::{Fold, trace_folding};
use terminagent_domain::{
    CapacityPublished, CatalogueEvent, CatalogueName, DomainEvent, EnvelopeId, LocalDate, LocalTime, OfficeAddress,
    OfficeDetails, OfficeId, OfficeTimeZone, ProposalClosed, ProposalId, ProposalMade, SealedPersonalData,
    ServiceDetails, ServiceId, UnitRef, WeeklyWindows, WishConfirmed, WishEndReason, WishEnded, WishEvent, WishId,
    WishRegistered,
};
use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, EventStore, NewEvent, Snapshot};
use ulid::Ulid;

const OFFICES: [&str; 2] = ["mitte", "nord"];
/// Wishes registered between a wish's registration and its first proposal.
const WAITING: usize = 12;

/// A waitlist's log, written event by event: wishes for one or both
/// offices at one of two hours (every third needing a confirmation), each
/// proposed a unit `WAITING` wishes later — now and then out of turn, so
/// some explanations find a wish passed over — and declined, expired,
/// ended or left open.
struct Log {
    store: EventStore,
    now: DateTime<Utc>,
    wishes: Vec<WishId>,
    open: BTreeMap<usize, (ProposalId, UnitRef)>,
    proposals: Vec<ProposalId>,
    /// The wishes ended so far.
    ended: std::collections::BTreeSet<usize>,
}

fn office(slug: &str) -> OfficeId {
    OfficeId::parse(slug).unwrap()
}

fn date() -> LocalDate {
    LocalDate::parse("2026-12-01").unwrap() // a Tuesday
}

impl Log {
    async fn new(store: EventStore) -> Log {
        let mut log = Log {
            store,
            now: "2026-11-20T08:00:00Z".parse().unwrap(),
            wishes: Vec::new(),
            open: BTreeMap::new(),
            proposals: Vec::new(),
            ended: Default::default(),
        };
        for slug in OFFICES {
            log.append(&CatalogueEvent::OfficeRegistered(OfficeDetails {
                office: office(slug),
                name: CatalogueName::parse("Bürgerbüro").unwrap(),
                address: OfficeAddress::parse("Markt 1").unwrap(),
                timezone: OfficeTimeZone::parse("Europe/Berlin").unwrap(),
                opening_hours: None,
                holidays: None,
                closed_days: Default::default(),
            }))
            .await;
        }
        log.append(&CatalogueEvent::ServiceRegistered(ServiceDetails {
            service: ServiceId::parse("ausweis").unwrap(),
            name: CatalogueName::parse("Personalausweis").unwrap(),
            duration_minutes: 12,
            walk_in: false,
            description: None,
        }))
        .await;
        for slug in OFFICES {
            log.append(&CatalogueEvent::CapacityPublished(CapacityPublished {
                office: office(slug),
                date: date(),
                from: LocalTime::parse("09:00").unwrap(),
                to: LocalTime::parse("11:00").unwrap(),
                unit_minutes: 12,
                lanes: 2,
                first_lane: 1,
                units: 20,
            }))
            .await;
        }
        log
    }

    async fn append(&mut self, event: &impl DomainEvent) {
        self.now += Duration::seconds(7);
        let new = NewEvent {
            event_id: Ulid::new(),
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            streams: event.streams().iter().map(ToString::to_string).collect(),
            recorded_at: self.now,
            correlation_id: None,
            causation_id: None,
            actor: Some("system:matcher".to_owned()),
            data: event.to_data(),
        };
        self.store.append(&[new], &[]).await.expect("appended");
    }

    fn envelope(n: usize) -> EnvelopeId {
        EnvelopeId::from_ulid(Ulid::from_parts(n as u64 + 1, 2))
    }

    fn hour(n: usize) -> u32 {
        9 + (n / 3 % 2) as u32
    }

    /// Registers wishes `from..to`; the proposals and answers due follow each.
    async fn wishes(&mut self, from: usize, to: usize) {
        for n in from..to {
            let wish = WishId::from_ulid(Ulid::from_parts(n as u64 + 1, 1));
            self.wishes.push(wish);
            let offices = match n % 5 {
                0 => vec![office("mitte"), office("nord")],
                1 | 2 => vec![office("mitte")],
                _ => vec![office("nord")],
            };
            let needs_confirmation = n % 3 == 2;
            self.append(&WishEvent::Registered(WishRegistered {
                wish,
                offices,
                services: vec![ServiceId::parse("ausweis").unwrap()],
                windows: WeeklyWindows::new([(Weekday::Tue, Self::hour(n))]).unwrap(),
                until: None,
                lapses_at: None,
                citizen: SealedPersonalData {
                    envelope_id: Self::envelope(n),
                    nonce: "00".into(),
                    ciphertext: "00".into(),
                },
                links: Vec::new(),
                registered_at: self.now,
                confirm_by: needs_confirmation.then(|| self.now + Duration::minutes(30)),
            }))
            .await;
            if n >= 2 && (n - 2) % 3 == 2 && n % 7 != 0 {
                // An earlier wish confirmed now (some never are).
                let earlier = n - 2;
                self.append(&WishEvent::Confirmed(WishConfirmed {
                    wish: self.wishes[earlier],
                    citizen: Self::envelope(earlier),
                    confirmed_at: self.now,
                }))
                .await;
            }
            if n >= WAITING {
                // Mostly in turn; every eleventh goes one wish ahead.
                let chosen = if n % 11 == 0 { n - WAITING + 1 } else { n - WAITING };
                if !self.open.contains_key(&chosen) {
                    self.propose(chosen, n).await;
                }
            }
            if n >= WAITING + 4
                && let Some(&answered) = self.open.keys().next()
                && answered + WAITING + 4 <= n
            {
                self.answer(answered, n).await;
            }
        }
    }

    async fn propose(&mut self, n: usize, round: usize) {
        let slug = if n % 5 >= 3 { "nord" } else { "mitte" };
        let minute = 12 * (round % 5) as u32;
        let unit = UnitRef {
            office: office(slug),
            date: date(),
            lane: 1 + (round % 2) as u16,
            start: LocalTime::from_hm(Self::hour(n), minute).unwrap(),
        };
        // Made as the matcher makes it: the id's time is the decision's,
        // at or before the time the proposal is recorded.
        let made_at = (self.now + Duration::seconds(1)).timestamp_millis() as u64;
        let proposal = ProposalId::from_ulid(Ulid::from_parts(made_at, ((n as u128) << 8) + round as u128));
        let start = date().as_naive().and_time(unit.start.as_naive()).and_utc() - Duration::hours(1);
        self.open.insert(n, (proposal, unit.clone()));
        self.proposals.push(proposal);
        self.append(&WishEvent::ProposalMade(ProposalMade {
            proposal,
            wish: self.wishes[n],
            office: unit.office.clone(),
            units: vec![unit],
            start,
            end: start + Duration::minutes(12),
            expires_at: self.now + Duration::days(2),
            links: Vec::new(),
        }))
        .await;
    }

    async fn answer(&mut self, n: usize, round: usize) {
        let (proposal, unit) = self.open.remove(&n).unwrap();
        let wish = self.wishes[n];
        let closed = ProposalClosed {
            proposal,
            wish,
            units: vec![unit.clone()],
        };
        let event = match round % 4 {
            0 => WishEvent::ProposalDeclined(closed),
            1 => WishEvent::ProposalExpired(closed),
            2 => {
                self.ended.insert(n);
                WishEvent::Ended(WishEnded {
                    wish,
                    reason: WishEndReason::Citizen,
                    citizen: Self::envelope(n),
                    proposal: Some(proposal),
                    units: vec![unit],
                })
            }
            _ => WishEvent::ProposalWithdrawn(closed),
        };
        self.append(&event).await;
    }
}

/// A proposal's trace both ways, as JSON: (from the index, whole fold, the position the first began after).
async fn both_ways(store: &EventStore, proposal: &ProposalId, lang: Lang) -> (Value, Value, u64) {
    let id = proposal.to_string();
    let (indexed, from) = trace_folding(store, &id, lang, Fold::FromIndex).await.unwrap();
    let (whole, whole_from) = trace_folding(store, &id, lang, Fold::Whole).await.unwrap();
    assert_eq!(whole_from, 0, "the whole fold reads the log from its start");
    (
        serde_json::to_value(indexed).unwrap(),
        serde_json::to_value(whole).unwrap(),
        from,
    )
}

fn made_at(trace: &Value) -> u64 {
    trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == "proposal.made")
        .and_then(|event| event["position"].as_u64())
        .expect("the proposal's proposal.made")
}

async fn traces_from_the_index_equal_the_whole_fold(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let store = db.store(Default::default()).await.unwrap();
    let mut log = Log::new(store.clone()).await;
    log.wishes(0, 60).await;

    // No index yet: the whole log is folded.
    let first = log.proposals[0];
    let (indexed, whole, from) = both_ways(&store, &first, Lang::De).await;
    assert_eq!(from, 0, "no snapshot: from the start");
    assert_eq!(indexed, whole);

    // The running system's indexer, a snapshot every 25 positions, then more log after it.
    let mut indexer = WhyIndexer::resume(&store, 25).await.unwrap();
    let indexed_to = indexer.advance(&store).await.unwrap();
    indexer.save(&store).await.unwrap();
    log.wishes(60, 110).await;
    let head = store.catch_up().await.unwrap();
    assert!(head > indexed_to + 50, "a tail of the log after the index");

    let mut from_snapshots = 0;
    let mut with_reasons = BTreeMap::<String, u64>::new();
    for (n, proposal) in log.proposals.clone().iter().enumerate() {
        let lang = if n % 2 == 0 { Lang::De } else { Lang::En };
        let (indexed, whole, from) = both_ways(&store, proposal, lang).await;
        assert_eq!(indexed, whole, "proposal {proposal}: the trace from the index differs");
        let made = made_at(&whole);
        assert!(
            from < made,
            "proposal {proposal} made at {made} traced from a snapshot at {from}"
        );
        if made > indexed_to {
            assert_eq!(
                from, indexed_to,
                "proposal {proposal} after the newest snapshot starts from it"
            );
        }
        if from > 0 {
            from_snapshots += 1;
        }
        for event in whole["events"].as_array().unwrap() {
            for (reason, count) in event["why"]["reasons"].as_object().into_iter().flatten() {
                *with_reasons.entry(reason.clone()).or_default() += count.as_u64().unwrap();
            }
        }
    }
    assert!(
        from_snapshots > log.proposals.len() / 3,
        "{from_snapshots} from snapshots"
    );
    // The log gives the explanations something to say.
    for reason in ["office", "window", "busy", "declined", "ended", "unexplained"] {
        assert!(with_reasons.contains_key(reason), "no {reason} in {with_reasons:?}");
    }

    // A proposal no snapshot can start: its events precede every snapshot kept.
    let (indexed, whole, from) = both_ways(&store, &first, Lang::En).await;
    assert_eq!(indexed, whole);
    assert!(from < made_at(&whole));

    // A proposal whose id's time misleads (a clock that stepped back): made
    // early in the log with an id from the future, so the newest snapshot is
    // chosen; the trace does not meet its proposal.made after it and folds
    // the whole log instead, with the same answer.
    let n = log.wishes.len();
    log.wishes(110, 111).await;
    let wish = log.wishes[n];
    let late_clock = ProposalId::from_ulid(Ulid::from_parts(
        (log.now + Duration::days(365)).timestamp_millis() as u64,
        1,
    ));
    let unit = UnitRef {
        office: office("mitte"),
        date: date(),
        lane: 2,
        start: LocalTime::from_hm(15, 0).unwrap(),
    };
    let start = date().as_naive().and_hms_opt(14, 0, 0).unwrap().and_utc();
    log.append(&WishEvent::ProposalMade(ProposalMade {
        proposal: late_clock,
        wish,
        office: unit.office.clone(),
        units: vec![unit],
        start,
        end: start + Duration::minutes(12),
        expires_at: log.now + Duration::days(2),
        links: Vec::new(),
    }))
    .await;
    store.catch_up().await.unwrap();
    indexer.advance(&store).await.unwrap();
    indexer.save(&store).await.unwrap();
    let (indexed, whole, from) = both_ways(&store, &late_clock, Lang::De).await;
    assert_eq!(from, 0, "misled by time, the trace folds the whole log");
    assert_eq!(indexed, whole);

    // Every wish over: the next snapshot holds none of them one by one
    // (compacted), and a later proposal's explanation still counts each
    // as over before its wish joined, as the whole fold does.
    for n in 0..log.wishes.len() {
        if log.ended.insert(n) {
            let open = log.open.remove(&n);
            log.append(&WishEvent::Ended(WishEnded {
                wish: log.wishes[n],
                reason: WishEndReason::Citizen,
                citizen: Log::envelope(n),
                proposal: open.as_ref().map(|(proposal, _)| *proposal),
                units: open.map(|(_, unit)| vec![unit]).unwrap_or_default(),
            }))
            .await;
        }
    }
    store.catch_up().await.unwrap();
    indexer.advance(&store).await.unwrap();
    indexer.save(&store).await.unwrap();
    assert_eq!(indexer.wishes_held(), 0, "nothing waits: no wish kept one by one");
    // Those that were ever in the queue: all but the ones never confirmed
    // (a wish needing confirmation is confirmed two wishes later, unless
    // that step is a multiple of 7).
    let queued = (0..log.wishes.len())
        .filter(|n| !(n % 3 == 2 && (n + 2) % 7 == 0))
        .count() as u64;
    log.wishes(111, 111 + WAITING + 2).await;
    let late = *log.proposals.last().unwrap();
    let (indexed, whole, from) = both_ways(&store, &late, Lang::En).await;
    assert!(from > 0, "traced from the compacted snapshot");
    assert_eq!(indexed, whole);
    let why = whole["events"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|event| event.get("why").filter(|why| !why.is_null()))
        .expect("the proposal's explanation");
    assert_eq!(why["over_before"].as_u64(), Some(queued), "{why}");
}

async fn snapshots_of_other_code_are_not_read(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let store = db.store(Default::default()).await.unwrap();
    let mut log = Log::new(store.clone()).await;
    log.wishes(0, 40).await;
    let mut indexer = WhyIndexer::resume(&store, 1000).await.unwrap();
    let position = indexer.advance(&store).await.unwrap();
    indexer.save(&store).await.unwrap();
    log.wishes(40, 60).await;
    let late = *log.proposals.last().unwrap();
    let (_, _, from) = both_ways(&store, &late, Lang::De).await;
    assert_eq!(from, position, "the snapshot is read");

    // The same slots written by code of another format: left unread.
    let progress = store.progress();
    for slot in 0..terminagent::audit::index::SLOTS {
        let name = slot_name(slot);
        if let Some(mut snapshot) = progress.snapshot(&name).await.unwrap() {
            snapshot.format = format!("{FORMAT}-older");
            progress.save_snapshot(&name, &snapshot).await.unwrap();
        }
    }
    let (indexed, whole, from) = both_ways(&store, &late, Lang::De).await;
    assert_eq!(from, 0, "a snapshot of another format is not read");
    assert_eq!(indexed, whole);

    // Of this format but not decodable: skipped too.
    progress
        .save_snapshot(
            &slot_name(0),
            &Snapshot {
                position: position + 2,
                format: FORMAT.to_owned(),
                taken_at: Utc::now(),
                data: vec![0xff; 16],
            },
        )
        .await
        .unwrap();
    let (indexed, whole, from) = both_ways(&store, &late, Lang::De).await;
    assert_eq!(from, 0, "an undecodable snapshot is skipped");
    assert_eq!(indexed, whole);
}

async fn terminagent(args: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_terminagent"))
        .args(args)
        .env_remove("TERMINAGENT_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("terminagent runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A staff member with one role, and a token of theirs.
async fn staff_token(app: &TestApp, email: &str, role: Value) -> String {
    let (status, body) = app
        .send(
            Method::PUT,
            &format!("/api/v1/staff/{email}"),
            Some(TOKEN),
            Some(json!({"name": "Prüfende Person", "roles": [role]})),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let (status, issued) = app
        .send(
            Method::POST,
            &format!("/api/v1/staff/{email}/tokens"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    issued["token"].as_str().unwrap().to_owned()
}

async fn the_chain_head_over_http_equals_the_cli(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let office = json!({"name": "Bürgerbüro Mitte", "address": "Markt 1", "timezone": "Europe/Berlin"});
    let (status, body) = app
        .send(Method::PUT, "/api/v1/offices/mitte", Some(TOKEN), Some(office))
        .await;
    assert!(status.is_success(), "{status} {body}");
    let auditor = staff_token(&app, "aud@stadt.example", json!({"role": "auditor"})).await;
    let clerk = staff_token(&app, "karl@stadt.example", json!({"role": "clerk", "office": "mitte"})).await;

    let (status, head) = app.send(Method::GET, "/api/v1/audit/head", Some(&auditor), None).await;
    assert_eq!(status, StatusCode::OK, "{head}");
    let (code, out, err) = terminagent(&["audit", "head", "--json", "--database-url", app.db.url()]).await;
    assert_eq!(code, 0, "{err}");
    let cli: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(head, cli, "the HTTP head is the CLI's");
    assert!(head["position"].as_u64().unwrap() >= 4, "the staff's events: {head}");
    assert_eq!(head["hash"].as_str().unwrap().len(), 64, "{head}");
    assert_eq!(
        head["anchor"],
        format!("{}:{}", head["position"], head["hash"].as_str().unwrap())
    );

    let (status, admin) = app.send(Method::GET, "/api/v1/audit/head", Some(TOKEN), None).await;
    assert_eq!((status, &admin), (StatusCode::OK, &head), "admins read it too");
    let (status, body) = app.send(Method::GET, "/api/v1/audit/head", Some(&clerk), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app.send(Method::GET, "/api/v1/audit/head", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = app
        .send(Method::GET, "/api/v1/audit/head", Some("not-a-token"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    traces_from_the_index_equal_the_whole_fold,
    snapshots_of_other_code_are_not_read,
    the_chain_head_over_http_equals_the_cli
);
