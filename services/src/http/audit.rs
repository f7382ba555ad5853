//! The audit trail (API.md "Audit"): the log in order, never skipping, with
//! personal data shown only as envelope ids; the check that every live
//! view equals its replay of the log (invariant 6); and the trace of one
//! booking, wish, proposal, stream or office day (`crate::audit::trace`,
//! the JSON twin of `terminagent audit trace --json`).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use terminagent_domain::{Actor, ActorView, Permission};

use super::AppState;
use super::auth::Access;
use super::extract::{PathParam, QueryParams};
use super::openapi::{BAD_QUERY, FORBIDDEN, INTERNAL, PROBLEM, THROTTLED, UNAUTHORIZED};
use super::problem::Problem;
use crate::audit::as_of::{AsOf, AsOfError, OfficeDayAsOf, office_day_as_of};
use crate::audit::trace::{Trace, TraceError};
use crate::audit::{Lang, redact_personal_data};
use crate::projections::live_equals_replay;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// A page of the log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsPage {
    /// Events after `after`, in log order, never skipping one.
    events: Vec<AuditEvent>,
    /// Position of the last event returned, or `after` when none was: the `after` of the next page.
    #[schema(minimum = 0, example = 100)]
    next: u64,
}

/// One event of the log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Position in the log: 1, 2, 3, … without gaps.
    #[schema(minimum = 1, example = 1)]
    position: u64,
    #[serde(rename = "type")]
    #[schema(example = "booking.requested")]
    event_type: String,
    #[schema(minimum = 1, example = 1)]
    schema_version: u32,
    /// ULID of the event.
    event_id: String,
    /// The streams (tags) the event is indexed under.
    #[schema(example = json!(["booking:01JE5Q3K8Y2X4N6P7R9S0T1V2W"]))]
    streams: Vec<String>,
    /// When the event was recorded, UTC.
    #[schema(format = DateTime, example = "2026-11-28T10:00:00.000Z")]
    recorded_at: String,
    /// ULID shared by the events of one request.
    correlation_id: Option<String>,
    /// ULID of the event that caused this one, if any.
    causation_id: Option<String>,
    /// Who caused the event; events recorded before actors were read as `system`.
    actor: AuditActor,
    /// The event's data; a sealed personal-data envelope appears only as `{"envelope_id"}`.
    #[schema(value_type = Object)]
    data: Value,
}

/// Who caused an event (API.md "Staff, roles and devices").
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditActor {
    /// `staff`, `device`, `operator`, `citizen` or `system`.
    #[schema(example = "staff")]
    kind: String,
    /// The staff account or device (ULID), or the system process (`matcher`, `timer`, `demo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

impl AuditActor {
    fn of(stored: Option<&str>) -> Self {
        match Actor::from_log(stored) {
            Ok(actor) => {
                let view = ActorView::from(actor);
                AuditActor {
                    kind: view.kind,
                    id: view.id,
                }
            }
            // Never written by this code: show what is there rather than hide it.
            Err(_) => AuditActor {
                kind: "unreadable".to_owned(),
                id: stored.map(str::to_owned),
            },
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "audit",
    summary = "Read the event log",
    description = "The log in order, never skipping an event; personal data appears only as an envelope id.",
    params(
        ("after" = Option<u64>, Query, description = "Position after which to start; 0 (the default) is the start.",
         minimum = 0, example = 0),
        ("limit" = Option<u16>, Query, description = "Most events to return: 1–1000, default 100.",
         minimum = 1, maximum = 1000, example = 100),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Up to `limit` events after `after`.", body = EventsPage),
        (status = 400, description = BAD_QUERY, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM,
         headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: `after` is not a position or `limit` \
            is not 1–1000.", body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn list_events(
    access: Access,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<EventsQuery>,
) -> Result<Json<EventsPage>, Problem> {
    access.require(Permission::Audit, None)?;
    let after = match query.after.as_deref() {
        None => 0,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| Problem::invalid(format!("after must be a position (0, 1, 2, …), not {text:?}")))?,
    };
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
            _ => {
                return Err(Problem::invalid(format!(
                    "limit must be 1 to {MAX_LIMIT}, not {text:?}"
                )));
            }
        },
    };
    let store = state.executor.store();
    // Every acknowledged event shows: wait until the log has numbered them.
    store.catch_up().await.map_err(|e| Problem::internal(&e))?;
    let events = store.read_all(after, limit).await.map_err(|e| Problem::internal(&e))?;
    let next = events.last().map_or(after, |event| event.position);
    let events = events
        .into_iter()
        .map(|logged| {
            let mut data = logged.event.data.to_value();
            redact_personal_data(&mut data);
            AuditEvent {
                position: logged.position,
                event_type: logged.event.event_type,
                schema_version: logged.event.schema_version,
                event_id: logged.event.event_id.to_string(),
                streams: logged.event.streams,
                recorded_at: logged
                    .event
                    .recorded_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                correlation_id: logged.event.correlation_id.map(|id| id.to_string()),
                causation_id: logged.event.causation_id.map(|id| id.to_string()),
                actor: AuditActor::of(logged.event.actor.as_deref()),
                data,
            }
        })
        .collect();
    Ok(Json(EventsPage { events, next }))
}

/// The live views, each compared with its rebuild from the log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayCheck {
    projections: Vec<ProjectionCheck>,
}

/// One live view against its replay.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectionCheck {
    #[schema(example = "availability")]
    name: &'static str,
    /// The log position the view had reached; the replay was folded to the same one.
    #[schema(minimum = 0, example = 1234)]
    position: u64,
    /// Whether the live view equals the one rebuilt from position 0.
    equal: bool,
}

#[utoipa::path(
    get,
    path = "/api/v1/projections",
    tag = "audit",
    summary = "Check that every live view equals its replay of the log",
    description = "Rebuilds each read model (catalogue, links and booking states, availability, the office floor, the staff directory, the day list, statistics, reminders) from position 0 \
        up to the position its live copy has reached, and says whether the two are equal (DESIGN.md invariant 6). \
        Reads the whole log: meant for audits, not for polling.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Each view, the position compared at, and whether it equals its replay.",
         body = ReplayCheck),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM,
         headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn check_projections(access: Access, State(state): State<AppState>) -> Result<Json<ReplayCheck>, Problem> {
    access.require(Permission::Audit, None)?;
    let store = state.executor.store();
    let checked = |(equal, position): (bool, u64), name| ProjectionCheck { name, position, equal };
    let internal = |e: terminagent_eventstore::StorageError| Problem::internal(&e);
    let mut projections = vec![
        checked(
            live_equals_replay(&state.catalogue, store).await.map_err(internal)?,
            "catalogue",
        ),
        checked(
            live_equals_replay(&state.links, store).await.map_err(internal)?,
            "links",
        ),
        checked(
            live_equals_replay(&state.availability, store).await.map_err(internal)?,
            "availability",
        ),
        checked(
            live_equals_replay(&state.floor, store).await.map_err(internal)?,
            "floor",
        ),
        checked(
            live_equals_replay(&state.staff, store).await.map_err(internal)?,
            "staff",
        ),
        checked(
            live_equals_replay(&state.day_list, store).await.map_err(internal)?,
            "day_list",
        ),
        checked(
            live_equals_replay(&state.statistics, store).await.map_err(internal)?,
            "statistics",
        ),
    ];
    if let Some(reminders) = &state.reminders {
        projections.push(checked(
            live_equals_replay(reminders, store).await.map_err(internal)?,
            "reminders",
        ));
    }
    for check in projections.iter().filter(|check| !check.equal) {
        tracing::error!(
            projection = check.name,
            position = check.position,
            "live view differs from its replay"
        );
    }
    Ok(Json(ReplayCheck { projections }))
}

#[derive(Debug, Deserialize)]
pub struct TraceQuery {
    lang: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/trace/{id}",
    tag = "audit",
    summary = "Trace a booking, wish, proposal, stream or office day through the log",
    description = "Every event of the subject in log order, each with a sentence (German or English), its actor \
        and its data without personal data; for each proposal, why its wish was the one chosen: the wishes \
        registered earlier and why each was passed over (`busy`, `declined`, `office`, `window`, `ended`, …; \
        `unexplained` would contradict first come, first served). The same document as \
        `terminagent audit trace ID --json`. Reads the log from the start (a proposal: from the audit index's \
        newest snapshot before it, when there is one): meant for audits, not for polling.",
    params(
        ("id" = String, Path, description = "The ULID of a booking, wish or proposal; a stream name such as \
            `unit:mitte:2026-12-01:1:0900`; or an office day `OFFICE/DATE` (the slash written `%2F`).",
         example = "01JE5Q3K8Y2X4N6P7R9S0T1V2W"),
        ("lang" = Option<String>, Query, description = "`de` (the default) or `en`.", example = "de"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subject's events, explained.", body = Trace),
        (status = 400, description = BAD_QUERY, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM,
         headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: nothing in the log has this id.", body = Problem,
         content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: the id is none of the forms above, or `lang` \
            is neither `de` nor `en`.", body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn trace(
    access: Access,
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
    QueryParams(query): QueryParams<TraceQuery>,
) -> Result<Json<Trace>, Problem> {
    access.require(Permission::Audit, None)?;
    let lang = match query.lang.as_deref() {
        None => Lang::De,
        Some(text) => {
            Lang::parse(text).ok_or_else(|| Problem::invalid(format!("lang must be de or en, not {text:?}")))?
        }
    };
    match crate::audit::trace::trace(state.executor.store(), &id, lang).await {
        Ok(trace) => Ok(Json(trace)),
        Err(TraceError::NotFound(what)) => Err(Problem::not_found(what)),
        Err(error @ (TraceError::InvalidId(_) | TraceError::InvalidOfficeDay(_))) => {
            Err(Problem::invalid(error.to_string()))
        }
        Err(TraceError::Storage(error)) => Err(Problem::internal(&error)),
    }
}

#[derive(Debug, Deserialize)]
pub struct AsOfQuery {
    at: Option<String>,
    office: Option<String>,
    date: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/as-of",
    tag = "audit",
    summary = "One office day as the log stood at a past time or position",
    description = "Folds the log from its first event up to `at` (a position, or the last event before the first \
        one recorded after a time) and answers the office day as it was: every published unit (`free`, `booked`, \
        `proposed`, `kept_for_wish`, `started_free`), the day's bookings with waiting number and status, and the \
        wishes naming the office that were open, in queue order. No personal data. The same document as \
        `terminagent audit as-of AT --office O --date D --json`. Reads the log from the start: meant for audits.",
    params(
        ("at" = String, Query, description = "A log position (`1234`) or an RFC 3339 time.",
         example = "2026-12-01T09:15:00+01:00"),
        ("office" = String, Query, description = "The office's id.", example = "mitte"),
        ("date" = String, Query, description = "The office-local date.", example = "2026-12-01"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The office day as it was.", body = crate::audit::as_of::OfficeDayAsOf),
        (status = 400, description = BAD_QUERY, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM,
         headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: the log knew no such office at that point.",
         body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: `at`, `office` or `date` missing or \
            unreadable, or a position beyond the head.", body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn as_of(
    access: Access,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<AsOfQuery>,
) -> Result<Json<OfficeDayAsOf>, Problem> {
    access.require(Permission::Audit, None)?;
    let required =
        |value: Option<String>, name: &str| value.ok_or_else(|| Problem::invalid(format!("{name} is required")));
    let at = AsOf::parse(&required(query.at, "at")?).map_err(|error| Problem::invalid(error.to_string()))?;
    let (office, date) = (required(query.office, "office")?, required(query.date, "date")?);
    let store = state.executor.store();
    match office_day_as_of(store, at, &office, &date).await {
        Ok(answer) => Ok(Json(answer)),
        Err(error @ AsOfError::UnknownOffice { .. }) => Err(Problem::not_found(error.to_string())),
        Err(AsOfError::Storage(error)) => Err(Problem::internal(&error)),
        Err(error) => Err(Problem::invalid(error.to_string())),
    }
}

/// The head of the log's hash chain (`terminagent audit head --json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChainHead {
    /// Position of the last event (0 for an empty log).
    #[schema(minimum = 0, example = 1234)]
    position: u64,
    /// Its chain hash, 64 hex digits (for an empty log the chain's genesis value).
    #[schema(example = "9f2c4e0b7a1d3c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6")]
    hash: String,
    /// `POSITION:HASH`, the anchor `terminagent audit verify --anchor` takes.
    #[schema(example = "1234:9f2c4e0b7a1d3c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6")]
    anchor: String,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/head",
    tag = "audit",
    summary = "The head of the log's hash chain",
    description = "The last event's position and its chain hash: publish them (or keep them apart from the \
        database), and `terminagent audit verify --anchor POSITION:HASH` later proves that the log up to there \
        was not rewritten. The same document as `terminagent audit head --json`.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The chain head.", body = ChainHead),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM,
         headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn head(access: Access, State(state): State<AppState>) -> Result<Json<ChainHead>, Problem> {
    access.require(Permission::Audit, None)?;
    let head = state
        .executor
        .store()
        .chain_head()
        .await
        .map_err(|e| Problem::internal(&e))?;
    Ok(Json(ChainHead {
        position: head.position,
        hash: head.hash.to_string(),
        anchor: head.to_string(),
    }))
}
