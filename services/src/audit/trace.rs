//! `terminagent audit trace ID` and `GET /api/v1/audit/trace/{id}`: every
//! event of one booking, wish, proposal, stream or office day in log order,
//! each with a sentence, and for each proposal why its wish was chosen.
//!
//! What `ID` may be:
//! - the ULID of a booking (`booking:{id}`: request, confirmation, visit, …),
//!   a wish (`wish:{id}`: registration, proposals, answers, end) or a
//!   proposal (its events in its wish's stream; an accepted proposal's
//!   booking has the proposal's id, and its events follow);
//! - a stream name, e.g. `unit:mitte:2026-12-01:1:0900` (one capacity unit's
//!   holds and releases), `office:mitte`, `numbers:mitte:2026-12-01`;
//! - an office day, `OFFICE/DATE` (e.g. `mitte/2026-12-01`): its capacity,
//!   every unit of it, its waiting numbers, its floor and the reads of its
//!   day list.
//!
//! The log has no index from an event to its position, so the trace reads
//! the log page by page up to the last event of the subject (an office day
//! or a proposal: up to the head); on the way it folds the waitlist for the
//! explanations (`why.rs`) and the offices' time zones for the sentences.
//! It reads from the start, except for a proposal when the audit's index
//! (`index.rs`) has a snapshot of that fold taken before every event of the
//! proposal: then from the snapshot on, with the same answer.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;
use terminagent_domain::{
    ActorView, BookingId, DomainEvent, LocalDate, OfficeId, ProposalId, StreamName, WishEvent, WishId,
};
use terminagent_eventstore::{EventStore, LogEvent, StorageError};
use ulid::Ulid;

use super::Lang;
use super::events::{Known, decode, folded};
use super::sentences::{self, Zones};
use super::why::{Queue, Reason, Why};

/// Events read per page of the log.
const PAGE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(
        "{0:?} is neither the ULID of a booking, wish or proposal, nor a stream name (such as \
         unit:mitte:2026-12-01:1:0900), nor an office day (such as mitte/2026-12-01)"
    )]
    InvalidId(String),
    #[error("{0}")]
    InvalidOfficeDay(String),
    /// Nothing in the log has the id (exit code 1, HTTP 404).
    #[error("{0}")]
    NotFound(String),
    #[error("reading the log: {0}")]
    Storage(#[from] StorageError),
}

/// A trace: the subject, and its events in log order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Trace {
    pub subject: TracedSubject,
    /// The sentences' language: `de` or `en`.
    #[schema(example = "de")]
    pub lang: &'static str,
    /// The log's head when the trace was read: later events are not in it.
    #[schema(minimum = 0, example = 120)]
    pub head: u64,
    pub events: Vec<TracedEvent>,
}

/// What was traced.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TracedSubject {
    /// `booking`, `wish`, `proposal`, `stream` or `office_day`.
    #[schema(example = "booking")]
    pub kind: &'static str,
    /// The id as traced (a ULID, a stream name, or `OFFICE/DATE`).
    #[schema(example = "01JE5Q3K8Y2X4N6P7R9S0T1V2W")]
    pub id: String,
}

/// One event of the trace.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TracedEvent {
    #[schema(minimum = 1, example = 17)]
    pub position: u64,
    #[serde(rename = "type")]
    #[schema(example = "booking.confirmed")]
    pub event_type: String,
    pub event_id: String,
    /// When the event was recorded, UTC.
    #[schema(format = DateTime, example = "2026-11-28T10:00:00.000Z")]
    pub recorded_at: String,
    /// Who caused it: `{"kind","id"?}` as in `GET /api/v1/events`.
    #[schema(value_type = Object)]
    pub actor: ActorView,
    pub streams: Vec<String>,
    /// What happened, in one sentence of the trace's language.
    pub sentence: String,
    /// The event's data without personal data (envelopes as their id).
    #[schema(value_type = Object)]
    pub data: Value,
    /// For a `proposal.made`: why its wish was the one chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub why: Option<Why>,
}

/// What the ID names, once resolved.
enum Target {
    Booking(BookingId),
    Wish(WishId),
    /// A proposal; `booked`: it was accepted, and the booking it placed has
    /// its id (`booking:{id}`), whose events belong to the trace too.
    Proposal {
        proposal: ProposalId,
        booked: bool,
    },
    Stream(String),
    OfficeDay {
        office: OfficeId,
        date: LocalDate,
    },
}

impl Target {
    fn kind(&self) -> &'static str {
        match self {
            Target::Booking(_) => "booking",
            Target::Wish(_) => "wish",
            Target::Proposal { .. } => "proposal",
            Target::Stream(_) => "stream",
            Target::OfficeDay { .. } => "office_day",
        }
    }

    /// Whether an event (decoded where it had to be) belongs to the trace.
    fn holds(&self, event: &LogEvent, known: Option<&Known>) -> bool {
        let streams = &event.event.streams;
        match self {
            Target::Booking(booking) => streams.iter().any(|s| *s == StreamName::booking(booking).as_str()),
            Target::Wish(wish) => streams.iter().any(|s| *s == StreamName::wish(wish).as_str()),
            Target::Stream(name) => streams.iter().any(|s| s == name),
            Target::Proposal { proposal, booked } => {
                matches!(known, Some(Known::Wish(event)) if proposal_of(event) == Some(*proposal))
                    || *booked && {
                        let booking = StreamName::booking(&BookingId::from_ulid(proposal.as_ulid()));
                        streams.iter().any(|s| *s == booking.as_str())
                    }
            }
            Target::OfficeDay { office, date } => {
                let naive = date.as_naive();
                let day_streams = [
                    StreamName::office_day(office, naive).to_string(),
                    StreamName::waiting_numbers(office, naive).to_string(),
                    StreamName::floor(office, naive).to_string(),
                    StreamName::day_list_reads(office, naive).to_string(),
                ];
                let units = format!("unit:{office}:{date}:");
                streams.iter().any(|s| day_streams.contains(s) || s.starts_with(&units))
            }
        }
    }
}

/// The proposal a wish event is about, if any.
pub(super) fn proposal_of(event: &WishEvent) -> Option<ProposalId> {
    match event {
        WishEvent::Registered(_) | WishEvent::Confirmed(_) => None,
        WishEvent::ProposalMade(made) => Some(made.proposal),
        WishEvent::ProposalAccepted(accepted) => Some(accepted.proposal),
        WishEvent::ProposalDeclined(closed)
        | WishEvent::ProposalExpired(closed)
        | WishEvent::ProposalWithdrawn(closed) => Some(closed.proposal),
        WishEvent::Ended(ended) => ended.proposal,
    }
}

/// An ID as typed, before the log is asked what it names.
enum Query {
    Ulid(Ulid),
    Stream(String),
    OfficeDay { office: OfficeId, date: LocalDate },
}

fn parse(id: &str) -> Result<Query, TraceError> {
    let id = id.trim();
    if let Ok(ulid) = Ulid::from_string(id) {
        return Ok(Query::Ulid(ulid));
    }
    if let Some((office, date)) = id.split_once('/') {
        let office = OfficeId::parse(office)
            .map_err(|e| TraceError::InvalidOfficeDay(format!("office day {id:?}: office {office:?}: {e}")))?;
        let date = LocalDate::parse(date)
            .map_err(|_| TraceError::InvalidOfficeDay(format!("office day {id:?}: {date:?} is not YYYY-MM-DD")))?;
        return Ok(Query::OfficeDay { office, date });
    }
    if id.contains(':')
        && let Ok(stream) = StreamName::parse(id)
    {
        return Ok(Query::Stream(stream.to_string()));
    }
    Err(TraceError::InvalidId(id.to_owned()))
}

/// Checks `id` without reading the log (for usage errors before connecting).
pub fn check_id(id: &str) -> Result<(), TraceError> {
    parse(id).map(|_| ())
}

/// A matched event, kept decoded until the sentences are written.
struct Found {
    event: LogEvent,
    known: Option<Known>,
    decode_error: Option<String>,
    why: Option<Why>,
}

/// Where a trace's fold may begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// A proposal's trace from the audit's index (`index.rs`) when it has a
    /// usable snapshot, otherwise (and for every other subject) from the start.
    FromIndex,
    /// Always from the start of the log.
    Whole,
}

/// Traces `id` through the log up to its current head.
pub async fn trace(store: &EventStore, id: &str, lang: Lang) -> Result<Trace, TraceError> {
    trace_folding(store, id, lang, Fold::FromIndex)
        .await
        .map(|(trace, _)| trace)
}

/// Traces `id` as [`trace`] does, folding as `fold` allows; also returns
/// the position the fold began after (0: the whole log was read). Both
/// ways give the same trace.
pub async fn trace_folding(store: &EventStore, id: &str, lang: Lang, fold: Fold) -> Result<(Trace, u64), TraceError> {
    if fold == Fold::FromIndex
        && let Some(traced) = trace_once(store, id, lang, Fold::FromIndex).await?
    {
        return Ok(traced);
    }
    Ok(trace_once(store, id, lang, Fold::Whole)
        .await?
        .expect("a trace of the whole log needs no second try"))
}

/// One trace; `None` when it started from a snapshot that cannot explain
/// it: the proposal's `proposal.made` did not follow the snapshot (chosen by
/// time, and time misled), or its wish was over and compacted away before
/// it (a corrupt log). The caller folds the whole log then.
async fn trace_once(store: &EventStore, id: &str, lang: Lang, fold: Fold) -> Result<Option<(Trace, u64)>, TraceError> {
    let query = parse(id)?;
    // The head first: the streams read next hold every event up to it
    // (and perhaps later ones, which the trace leaves out).
    let head = store.catch_up().await?;
    let (target, mut expected) = resolve(store, query).await?;
    let subject = TracedSubject {
        kind: target.kind(),
        id: id.trim().to_owned(),
    };
    // A booking's stream never holds a proposal: no waitlist to fold then.
    let explains = !matches!(target, Target::Booking(_));
    // A snapshot starts only a proposal's trace: its events all follow the
    // snapshot when no event up to it is about the proposal.
    let snapshot = match (&target, fold) {
        (Target::Proposal { proposal, .. }, Fold::FromIndex) => {
            match super::index::start_for(store, *proposal, head).await {
                Ok(snapshot) => snapshot,
                Err(error) => {
                    tracing::warn!(%error, "the audit index cannot be read; folding the whole log");
                    None
                }
            }
        }
        _ => None,
    };
    let (mut queue, mut zones, mut after) = match snapshot {
        Some((position, fold)) => (fold.queue, fold.zones, position),
        None => (Queue::default(), Zones::default(), 0),
    };
    let folded_from = after;
    let mut found: Vec<Found> = Vec::new();
    // Earlier wishes without a reason yet, by wish: (found index, passed-over index).
    let mut pending: HashMap<WishId, Vec<(usize, usize)>> = HashMap::new();
    'log: while after < head {
        let page = store.read_all(after, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for logged in page {
            if logged.position > head {
                break 'log;
            }
            after = logged.position;
            let event_type = logged.event.event_type.as_str();
            // The fold's types (and the offices' zones, for the sentences);
            // a proposal's events are among the fold's.
            let needs_decoding = if explains {
                folded(event_type)
            } else {
                event_type.starts_with("office.")
            };
            let (mut known, mut decode_error) = if needs_decoding {
                decoded(event_type, logged.event.data.as_str())
            } else {
                (None, None)
            };
            if !pending.is_empty()
                && let Some(Known::Wish(event)) = &known
                && let Some(waiting) = pending.remove(&event.wish())
                && let WishEvent::ProposalMade(made) = event
            {
                for (at, passed) in waiting {
                    if let Some(why) = found[at].why.as_mut() {
                        let entry = &mut why.passed_over[passed];
                        let reason = Reason::ProposedSameRound {
                            proposal: made.proposal.to_string(),
                            at: logged.position,
                        };
                        recount(&mut why.reasons, entry.reason.key(), reason.key());
                        entry.reason = reason;
                    }
                }
            }
            let holds = target.holds(&logged, known.as_ref());
            if holds && !needs_decoding {
                (known, decode_error) = decoded(event_type, logged.event.data.as_str());
            }
            let mut why = None;
            if holds
                && explains
                && let Some(Known::Wish(WishEvent::ProposalMade(made))) = &known
            {
                if queue.may_have_compacted(&made.wish) {
                    tracing::info!(
                        folded_from,
                        "the proposal's wish was over before the index's snapshot; folding the whole log"
                    );
                    return Ok(None);
                }
                let explained = queue.explain(made);
                for (index, passed) in explained.passed_over.iter().enumerate() {
                    if passed.reason == Reason::Unexplained {
                        let wish = WishId::parse(&passed.wish).expect("ids written by the fold");
                        pending.entry(wish).or_default().push((found.len(), index));
                    }
                }
                why = Some(explained);
            }
            if let Some(event) = &known {
                if explains {
                    queue.apply(logged.position, event);
                }
                zones.apply(event);
            }
            if let (Target::Proposal { proposal, booked }, Some(Known::Wish(WishEvent::ProposalMade(made)))) =
                (&target, &known)
                && made.proposal == *proposal
            {
                expected = Some(proposal_events(store, made.wish, *proposal, *booked).await?);
            }
            if holds {
                if let Some(expected) = expected.as_mut() {
                    expected.remove(&logged.event.event_id);
                }
                found.push(Found {
                    event: logged,
                    known,
                    decode_error,
                    why,
                });
            }
            // Every event of the subject found, and every explanation complete.
            if expected.as_ref().is_some_and(HashSet::is_empty) && pending.is_empty() {
                break 'log;
            }
        }
    }
    if folded_from > 0 && matches!(target, Target::Proposal { .. }) && expected.is_none() {
        tracing::info!(
            folded_from,
            "the proposal was not made after the index's snapshot; folding the whole log"
        );
        return Ok(None);
    }
    if found.is_empty() {
        return Err(TraceError::NotFound(match &target {
            Target::Booking(_) | Target::Wish(_) | Target::Proposal { .. } => {
                format!(
                    "nothing in the log has the id {} (no booking, wish or proposal)",
                    subject.id
                )
            }
            Target::Stream(name) => format!("stream {name} has no events"),
            Target::OfficeDay { office, date } => format!("nothing in the log concerns office {office} on {date}"),
        }));
    }
    let events = found
        .into_iter()
        .map(|found| {
            let Found {
                event: logged,
                known,
                decode_error,
                mut why,
            } = found;
            if let Some(why) = why.as_mut() {
                sentences::explain(why, lang);
            }
            let mut data = logged.event.data.to_value();
            super::without_personal_data(&logged.event.event_type, &mut data);
            TracedEvent {
                position: logged.position,
                sentence: sentences::sentence(known.as_ref(), decode_error.as_deref(), lang, &zones),
                event_type: logged.event.event_type,
                event_id: logged.event.event_id.to_string(),
                recorded_at: super::recorded(logged.event.recorded_at, true),
                actor: super::actor_view(logged.event.actor.as_deref()),
                streams: logged.event.streams,
                data,
                why,
            }
        })
        .collect();
    Ok(Some((
        Trace {
            subject,
            lang: lang.as_str(),
            head,
            events,
        },
        folded_from,
    )))
}

fn decoded(event_type: &str, data: &str) -> (Option<Known>, Option<String>) {
    match decode(event_type, data) {
        Ok(known) => (known, None),
        Err(error) => (None, Some(error.to_string())),
    }
}

/// Moves one earlier wish from one reason's count to another's.
fn recount(reasons: &mut BTreeMap<&'static str, u64>, from: &'static str, to: &'static str) {
    if let Some(count) = reasons.get_mut(from) {
        *count -= 1;
        if *count == 0 {
            reasons.remove(from);
        }
    }
    *reasons.entry(to).or_default() += 1;
}

/// What `ID` names: a booking or wish by its stream, a proposal found by
/// reading the log; the ids of the events still to find, when known.
async fn resolve(store: &EventStore, query: Query) -> Result<(Target, Option<HashSet<Ulid>>), TraceError> {
    let ids = |events: Vec<terminagent_eventstore::StreamEvent>| {
        events
            .into_iter()
            .map(|event| event.event.event_id)
            .collect::<HashSet<_>>()
    };
    Ok(match query {
        Query::Ulid(ulid) => {
            let booking = BookingId::from_ulid(ulid);
            let events = store.read_stream(StreamName::booking(&booking).as_str(), 0).await?;
            // An accepted proposal placed its booking under its own id: trace both.
            if events
                .first()
                .is_some_and(|first| first.event.event_type == "proposal.accepted")
            {
                let proposal = ProposalId::from_ulid(ulid);
                return Ok((Target::Proposal { proposal, booked: true }, None));
            }
            if !events.is_empty() {
                return Ok((Target::Booking(booking), Some(ids(events))));
            }
            let wish = WishId::from_ulid(ulid);
            let events = store.read_stream(StreamName::wish(&wish).as_str(), 0).await?;
            if !events.is_empty() {
                return Ok((Target::Wish(wish), Some(ids(events))));
            }
            let proposal = ProposalId::from_ulid(ulid);
            (
                Target::Proposal {
                    proposal,
                    booked: false,
                },
                None,
            )
        }
        Query::Stream(name) => {
            let events = store.read_stream(&name, 0).await?;
            if events.is_empty() {
                return Err(TraceError::NotFound(format!("stream {name} has no events")));
            }
            (Target::Stream(name), Some(ids(events)))
        }
        Query::OfficeDay { office, date } => (Target::OfficeDay { office, date }, None),
    })
}

/// The ids of the events of `wish`'s stream about `proposal`, and of the
/// booking it placed when `booked`.
async fn proposal_events(
    store: &EventStore,
    wish: WishId,
    proposal: ProposalId,
    booked: bool,
) -> Result<HashSet<Ulid>, TraceError> {
    let events = store.read_stream(StreamName::wish(&wish).as_str(), 0).await?;
    let booking = if booked {
        let stream = StreamName::booking(&BookingId::from_ulid(proposal.as_ulid()));
        store.read_stream(stream.as_str(), 0).await?
    } else {
        Vec::new()
    };
    Ok(events
        .into_iter()
        .filter(|event| {
            WishEvent::from_stored_json(&event.event.event_type, event.event.data.as_str())
                .ok()
                .and_then(|event| proposal_of(&event))
                == Some(proposal)
        })
        .chain(booking)
        .map(|event| event.event.event_id)
        .collect())
}

impl Trace {
    /// The text form: one line per event (`17 booking.confirmed
    /// 2026-11-28T10:00:03Z citizen Buchung … bestätigt …`), the
    /// explanation of a proposal indented below it.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for event in &self.events {
            let actor = match &event.actor.id {
                Some(id) => format!("{}:{id}", event.actor.kind),
                None => event.actor.kind.clone(),
            };
            let recorded = chrono::DateTime::parse_from_rfc3339(&event.recorded_at)
                .map(|at| super::recorded(at.with_timezone(&chrono::Utc), false))
                .unwrap_or_else(|_| event.recorded_at.clone());
            text.push_str(&format!(
                "{} {} {recorded} {actor} {}\n",
                event.position, event.event_type, event.sentence
            ));
            for line in event.why.iter().flat_map(|why| &why.sentences) {
                text.push_str("    ");
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_by_their_form() {
        assert!(matches!(parse("01JE5Q3K8Y2X4N6P7R9S0T1V2W"), Ok(Query::Ulid(_))));
        assert!(matches!(parse("01je5q3k8y2x4n6p7r9s0t1v2w"), Ok(Query::Ulid(_))));
        assert!(matches!(
            parse("unit:mitte:2026-12-01:1:0900"),
            Ok(Query::Stream(name)) if name == "unit:mitte:2026-12-01:1:0900"
        ));
        assert!(matches!(
            parse("mitte/2026-12-01"),
            Ok(Query::OfficeDay { office, date }) if office.as_str() == "mitte" && date.to_string() == "2026-12-01"
        ));
        assert!(matches!(parse("mitte/1.12.2026"), Err(TraceError::InvalidOfficeDay(_))));
        assert!(matches!(
            parse("Mitte/2026-12-01"),
            Err(TraceError::InvalidOfficeDay(_))
        ));
        assert!(matches!(parse("hallo"), Err(TraceError::InvalidId(_))));
        assert!(matches!(parse("Unit:X"), Err(TraceError::InvalidId(_))));
    }
}
