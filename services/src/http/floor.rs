//! The office floor's JSON API (API.md "The office floor"): check-in at the
//! kiosk, calling the next visitor to a counter, moving a visit on, the
//! counters themselves (open, pause, close: extensions), and the call
//! display with its event stream. Thin: parse, ask [`Access::require`], call
//! `application::floor`, map the result.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};
use terminagent_domain::{
    BookingId, Call, CounterId, CounterStatus, FloorDay, FloorError, OfficeId, OfficeTimeZone, PauseReason, Permission,
    VisitAction,
};
use tokio::sync::watch;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use super::AppState;
use super::auth::Access;
use super::bookings::local_instant;
use super::extract::{JsonBody, PathParam, QueryParams};
use super::openapi::{
    BODY_TOO_LARGE, CONTENDED, FORBIDDEN, INTERNAL, MALFORMED_JSON_OR_PATH, PROBLEM, THROTTLED, UNAUTHORIZED,
    UNSUPPORTED_MEDIA_TYPE,
};
use super::problem::Problem;
use crate::application::display_presence::DisplayWatch;
use crate::application::floor::{self as floor, CheckInRefusal, CounterChange};
use crate::links::code_hash;
use crate::projections::{FeedCall, FloorView, LiveProjection};

/// How often an idle display stream sends a comment, so proxies keep it open.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// The floor's routes, merged into the API's router.
pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/offices/{office}/tickets", post(super::tickets::issue))
        .route("/api/v1/offices/{office}/check-ins", post(check_in))
        .route("/api/v1/offices/{office}/counters/{counter}/next", post(call_next))
        .route("/api/v1/offices/{office}/counters/{counter}/open", post(open_counter))
        .route("/api/v1/offices/{office}/counters/{counter}/pause", post(pause_counter))
        .route("/api/v1/offices/{office}/counters/{counter}/close", post(close_counter))
        .route("/api/v1/visits/{booking}/{action}", post(move_visit))
        .route("/api/v1/offices/{office}/display", get(display))
        .route("/api/v1/offices/{office}/display/stream", get(display_stream))
}

// --- bodies and answers ------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    /// The check-in code from the confirmation mail (also its QR code's
    /// content), 8 characters; case, spaces and dashes do not matter, nor
    /// O for 0 or I and L for 1.
    #[schema(example = "7K3M9QXD")]
    code: String,
}

/// A visitor checked in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckInAnswer {
    #[schema(pattern = "^[0-9A-HJKMNP-TV-Z]{26}$", example = "01JE5Q3K8Y2X4N6P7R9S0T1V2W")]
    booking_id: String,
    /// The waiting number the display will call.
    #[schema(pattern = "^[0-9]{1,4}$", example = "1112")]
    number: String,
    #[schema(format = DateTime, example = "2026-12-01T09:00:00+01:00")]
    start: String,
    #[schema(schema_with = checked_in)]
    status: &'static str,
}

/// The visitor "next" called.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NextCall {
    #[schema(pattern = "^[0-9A-HJKMNP-TV-Z]{26}$", example = "01JE5Q3K8Y2X4N6P7R9S0T1V2W")]
    booking_id: String,
    #[schema(pattern = "^[0-9]{1,4}$", example = "1112")]
    number: String,
    #[schema(pattern = "^[a-z0-9-]{1,16}$", example = "6")]
    counter: String,
    #[schema(format = DateTime, example = "2026-12-01T09:02:00+01:00")]
    called_at: String,
}

/// A visit after a move.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VisitAnswer {
    #[schema(pattern = "^[0-9A-HJKMNP-TV-Z]{26}$", example = "01JE5Q3K8Y2X4N6P7R9S0T1V2W")]
    booking_id: String,
    #[schema(schema_with = visit_status)]
    status: &'static str,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// Why, 1–200 characters, one line; staff see it.
    #[schema(example = "Mittagspause")]
    reason: String,
}

/// A counter as it is now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CounterAnswer {
    #[schema(pattern = "^[a-z0-9-]{1,16}$", example = "6")]
    counter: String,
    #[schema(schema_with = counter_status)]
    status: &'static str,
    /// Why it pauses (only when `paused`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, example = "Mittagspause")]
    reason: Option<String>,
}

/// One call or recall as the display shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DisplayedCall {
    #[schema(pattern = "^[0-9]{1,4}$", example = "1112")]
    number: String,
    #[schema(pattern = "^[a-z0-9-]{1,16}$", example = "6")]
    counter: String,
    /// When it was called (or called again).
    #[schema(format = DateTime, example = "2026-12-01T09:02:00+01:00")]
    called_at: String,
    /// Called again: the visitor did not come at the first call.
    recall: bool,
}

/// The call display.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallDisplay {
    /// That day's calls and recalls up to `as_of`, newest first.
    calls: Vec<DisplayedCall>,
    /// Visitors checked in and not called yet.
    #[schema(minimum = 0, example = 4)]
    waiting: usize,
    /// The instant shown: now, or the `as_of` asked for.
    #[schema(format = DateTime, example = "2026-12-01T10:15:00+01:00")]
    as_of: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DisplayQuery {
    /// An instant in the past (RFC 3339): the display as the log had it then,
    /// rebuilt from the floor's events recorded by that instant.
    #[param(example = "2026-12-01T10:15:00+01:00")]
    as_of: Option<String>,
}

fn string_enum(values: &[&str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

fn checked_in() -> Object {
    string_enum(&["checked_in"])
}

fn visit_status() -> Object {
    string_enum(&["checked_in", "called", "serving", "parked", "finished", "missed"])
}

fn counter_status() -> Object {
    string_enum(&["open", "paused", "closed"])
}

// --- shared steps ------------------------------------------------------------------

fn office_id(office: &str) -> Result<OfficeId, Problem> {
    OfficeId::parse(office).map_err(|_| Problem::not_found(format!("no office {office:?}")))
}

fn counter_id(counter: &str) -> Result<CounterId, Problem> {
    CounterId::parse(counter).map_err(|error| Problem::not_found(format!("no counter: {error}")))
}

/// The office's zone; 404 for an office the catalogue does not know.
fn office_zone(state: &AppState, office: &OfficeId) -> Result<OfficeTimeZone, Problem> {
    state
        .catalogue
        .read()
        .office(office)
        .and_then(|entry| entry.timezone.parse().ok())
        .ok_or_else(|| Problem::not_found(format!("no office {office}")))
}

/// Read-your-writes for the floor alone: cheaper than every view.
async fn floor_caught_up(state: &AppState) -> Result<(), Problem> {
    let head = state
        .executor
        .store()
        .catch_up()
        .await
        .map_err(|e| Problem::internal(&e))?;
    state.floor.caught_up_to(head).await;
    Ok(())
}

fn floor_problem(error: FloorError, zone: OfficeTimeZone) -> Problem {
    let conflict = |kind: &str, title: &str, detail: String| Problem::new(StatusCode::CONFLICT, kind, title, detail);
    let local = |instant| local_instant(zone, instant);
    match error {
        FloorError::TooEarly { from } => {
            conflict("too-early", "Too early", format!("check-in opens at {}", local(from))).with_from(local(from))
        }
        FloorError::TooLate { until } => {
            conflict("too-late", "Too late", format!("check-in closed at {}", local(until)))
        }
        FloorError::NotCheckable(why) => conflict(
            "not-checkable",
            "Not checkable here",
            format!("this booking cannot check in here: {why}"),
        ),
        FloorError::CounterBusy { counter, booking } => conflict(
            "counter-busy",
            "Counter busy",
            format!("counter {counter} has visitor {booking}: finish, park or mark them missed first"),
        ),
        FloorError::CounterPaused { counter, reason } => conflict(
            "counter-paused",
            "Counter paused",
            format!("counter {counter} is paused ({reason}); open it first"),
        ),
        FloorError::CounterClosed { counter } => conflict(
            "counter-closed",
            "Counter closed",
            format!("counter {counter} is closed; open it first"),
        ),
        FloorError::CounterNotOpen { counter } => conflict(
            "counter-not-open",
            "Counter not open",
            format!("counter {counter} is not open"),
        ),
        FloorError::TooSoonToRecall { from } => conflict(
            "too-soon-to-recall",
            "Too soon to recall",
            format!("a recall is possible from {}", local(from)),
        )
        .with_from(local(from)),
        other @ (FloorError::NotOnTheFloor { .. } | FloorError::InvalidTransition { .. }) => {
            conflict("invalid-transition", "Invalid transition", other.to_string())
        }
    }
}

fn displayed(zone: OfficeTimeZone, call: &Call) -> DisplayedCall {
    DisplayedCall {
        number: call.number.to_string(),
        counter: call.counter.to_string(),
        called_at: local_instant(zone, call.called_at),
        recall: call.recall,
    }
}

// --- check-in ----------------------------------------------------------------------

#[utoipa::path(
    post,
    path = "/api/v1/offices/{office}/check-ins",
    tag = "floor",
    summary = "Check a visitor in",
    description = "A kiosk or clerk of the office (or an admin) checks in a confirmed booking of today by its \
        check-in code, from `--check-in-early` (15 min) before its start to `--check-in-late` (5 min) after \
        it. A repeat answers 200 with the same body. Recorded under the kiosk or clerk.",
    params(("office" = String, Path, description = "The office's slug.", example = "stadtmitte")),
    request_body = CheckInRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Checked in (now or before).", body = CheckInAnswer),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office, or no booking has this code.",
         body = Problem, content_type = PROBLEM),
        (status = 409, description = "`/problems/too-early` (with `from`: when check-in opens), \
            `/problems/too-late` (the window has closed), or `/problems/not-checkable`: a booking of another \
            office or day, not confirmed, cancelled, or whose visit is over.", body = Problem,
         content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: no `code`.", body = Problem,
         content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn check_in(
    access: Access,
    State(state): State<AppState>,
    PathParam(office): PathParam<String>,
    JsonBody(body): JsonBody<CheckInRequest>,
) -> Result<Json<CheckInAnswer>, Problem> {
    let office = office_id(&office)?;
    access.require(Permission::CheckIn, Some(&office))?;
    let zone = office_zone(&state, &office)?;
    let hash = code_hash(&crate::links::canonical_checkin_code(&body.code));
    let known = state.floor.read().booking_of_code(&hash);
    let booking = match known {
        Some(booking) => booking,
        // Confirmed a moment ago, perhaps by another process.
        None => {
            floor_caught_up(&state).await?;
            let found = state.floor.read().booking_of_code(&hash);
            found.ok_or_else(|| Problem::not_found("no booking has this check-in code"))?
        }
    };
    let checked = floor::check_in(
        &state.executor,
        state.floor_policy,
        state.new_cause(access.actor()),
        &office,
        zone,
        booking,
    )
    .await
    .map_err(|error| {
        state.execute_problem(error, |refused| match refused {
            CheckInRefusal::UnknownBooking(_) => Problem::not_found("no booking has this check-in code"),
            CheckInRefusal::Floor(error) => floor_problem(error, zone),
        })
    })?;
    floor_caught_up(&state).await?;
    Ok(Json(CheckInAnswer {
        booking_id: checked.booking.to_string(),
        number: checked.number.to_string(),
        start: local_instant(zone, checked.start),
        status: "checked_in",
    }))
}

// --- counters ----------------------------------------------------------------------

#[utoipa::path(
    post,
    path = "/api/v1/offices/{office}/counters/{counter}/next",
    tag = "floor",
    summary = "Call the next visitor to a counter",
    description = "A clerk of the office (or a lead or admin). Calls the checked-in visitor whose start has \
        come, earliest start first, then earliest check-in; when none is due, the checked-in visitor with \
        the earliest start. Two clerks pressing at once never get the same visitor. A counter never opened \
        today is opened by its first call. No request body.",
    params(
        ("office" = String, Path, description = "The office's slug.", example = "stadtmitte"),
        ("counter" = String, Path, description = "The counter, `[a-z0-9-]{1,16}`, as the display shows it.",
         pattern = "^[a-z0-9-]{1,16}$", example = "6"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Called.", body = NextCall),
        (status = 204, description = "Nobody waits."),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office, or not a counter name.",
         body = Problem, content_type = PROBLEM),
        (status = 409, description = "`/problems/counter-busy`: the counter has a visitor called or being \
            served; `/problems/counter-paused` or `/problems/counter-closed`: it was stopped on purpose and \
            must be opened first.", body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn call_next(
    access: Access,
    State(state): State<AppState>,
    PathParam((office, counter)): PathParam<(String, String)>,
) -> Result<Response, Problem> {
    let office = office_id(&office)?;
    access.require(Permission::RunFloor, Some(&office))?;
    let counter = counter_id(&counter)?;
    let zone = office_zone(&state, &office)?;
    let called = floor::call_next(
        &state.executor,
        state.new_cause(access.actor()),
        &office,
        zone,
        &counter,
    )
    .await
    .map_err(|error| state.execute_problem(error, |refused| floor_problem(refused, zone)))?;
    floor_caught_up(&state).await?;
    Ok(match called {
        Some(call) => Json(NextCall {
            booking_id: call.booking.to_string(),
            number: call.number.to_string(),
            counter: call.counter.to_string(),
            called_at: local_instant(zone, call.called_at),
        })
        .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

async fn change_counter(
    access: Access,
    state: AppState,
    office: String,
    counter: String,
    change: impl FnOnce() -> Result<CounterChange, Problem>,
) -> Result<Json<CounterAnswer>, Problem> {
    let office = office_id(&office)?;
    access.require(Permission::RunFloor, Some(&office))?;
    let counter = counter_id(&counter)?;
    let zone = office_zone(&state, &office)?;
    let change = change()?;
    let now = floor::change_counter(
        &state.executor,
        state.new_cause(access.actor()),
        &office,
        zone,
        &counter,
        change,
    )
    .await
    .map_err(|error| state.execute_problem(error, |refused| floor_problem(refused, zone)))?;
    floor_caught_up(&state).await?;
    let (status, reason) = match now.map(|counter| counter.status) {
        Some(CounterStatus::Open) => ("open", None),
        Some(CounterStatus::Paused(reason)) => ("paused", Some(reason.to_string())),
        Some(CounterStatus::Closed) | None => ("closed", None),
    };
    Ok(Json(CounterAnswer {
        counter: counter.to_string(),
        status,
        reason,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/offices/{office}/counters/{counter}/open",
    tag = "floor",
    summary = "Open a counter, or resume a paused one",
    description = "Extension. A clerk of the office (or a lead or admin). Opening an open counter changes \
        nothing. No request body.",
    params(
        ("office" = String, Path, description = "The office's slug.", example = "stadtmitte"),
        ("counter" = String, Path, description = "The counter, `[a-z0-9-]{1,16}`.",
         pattern = "^[a-z0-9-]{1,16}$", example = "6"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The counter now.", body = CounterAnswer),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office, or not a counter name.",
         body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn open_counter(
    access: Access,
    State(state): State<AppState>,
    PathParam((office, counter)): PathParam<(String, String)>,
) -> Result<Json<CounterAnswer>, Problem> {
    change_counter(access, state, office, counter, || Ok(CounterChange::Open)).await
}

#[utoipa::path(
    post,
    path = "/api/v1/offices/{office}/counters/{counter}/pause",
    tag = "floor",
    summary = "Pause a counter, with a reason",
    description = "Extension. A clerk of the office (or a lead or admin). A paused counter calls nobody until \
        opened again; pausing it again keeps the first reason. A counter with a visitor called or being \
        served cannot pause: finish, park or mark them missed first.",
    params(
        ("office" = String, Path, description = "The office's slug.", example = "stadtmitte"),
        ("counter" = String, Path, description = "The counter, `[a-z0-9-]{1,16}`.",
         pattern = "^[a-z0-9-]{1,16}$", example = "6"),
    ),
    request_body = PauseRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The counter now.", body = CounterAnswer),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office, or not a counter name.",
         body = Problem, content_type = PROBLEM),
        (status = 409, description = "`/problems/counter-not-open`: never opened today, or closed; \
            `/problems/counter-busy`: it has a visitor.", body = Problem, content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: a reason that is empty, longer than 200 \
            characters or more than one line.", body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn pause_counter(
    access: Access,
    State(state): State<AppState>,
    PathParam((office, counter)): PathParam<(String, String)>,
    JsonBody(body): JsonBody<PauseRequest>,
) -> Result<Json<CounterAnswer>, Problem> {
    change_counter(access, state, office, counter, || {
        PauseReason::parse(&body.reason)
            .map(CounterChange::Pause)
            .map_err(|error| Problem::invalid(format!("reason: {error}")))
    })
    .await
}

#[utoipa::path(
    post,
    path = "/api/v1/offices/{office}/counters/{counter}/close",
    tag = "floor",
    summary = "Close a counter",
    description = "Extension. A clerk of the office (or a lead or admin). A closed counter calls nobody until \
        opened again; closing a closed (or never opened) counter changes nothing. A counter with a visitor \
        cannot close. No request body.",
    params(
        ("office" = String, Path, description = "The office's slug.", example = "stadtmitte"),
        ("counter" = String, Path, description = "The counter, `[a-z0-9-]{1,16}`.",
         pattern = "^[a-z0-9-]{1,16}$", example = "6"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The counter now.", body = CounterAnswer),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office, or not a counter name.",
         body = Problem, content_type = PROBLEM),
        (status = 409, description = "`/problems/counter-busy`: it has a visitor.", body = Problem,
         content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn close_counter(
    access: Access,
    State(state): State<AppState>,
    PathParam((office, counter)): PathParam<(String, String)>,
) -> Result<Json<CounterAnswer>, Problem> {
    change_counter(access, state, office, counter, || Ok(CounterChange::Close)).await
}

// --- visits ------------------------------------------------------------------------

#[utoipa::path(
    post,
    path = "/api/v1/visits/{booking}/{action}",
    tag = "floor",
    summary = "Move a visit on",
    description = "A clerk of the booking's office (or a lead or admin). `recall` calls the called visitor \
        again, from `--recall-after` (5 min) after the latest call; `missed` (only after a recall) ends the \
        visit as missed; `start` and `finish` the service (`finish` needs `start`); `park` sends the visitor \
        away for a while, `return` queues them again in their old place. Repeating a move that was just \
        made (a double click) answers as done. No request body.",
    params(
        ("booking" = String, Path, description = "ULID of the booking.", pattern = "^[0-9A-HJKMNP-TV-Z]{26}$",
         example = "01JE5Q3K8Y2X4N6P7R9S0T1V2W"),
        ("action" = String, Path, description = "`recall`, `missed`, `start`, `finish`, `park` or `return`.",
         pattern = "^(recall|missed|start|finish|park|return)$", example = "start"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The visit now.", body = VisitAnswer),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such booking, or no such action.",
         body = Problem, content_type = PROBLEM),
        (status = 409, description = "`/problems/invalid-transition`: the visit's state does not allow the move \
            (also a booking not checked in today); `/problems/too-soon-to-recall` (with `from`: when a recall \
            is possible).", body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn move_visit(
    access: Access,
    State(state): State<AppState>,
    PathParam((booking, action)): PathParam<(String, String)>,
) -> Result<Json<VisitAnswer>, Problem> {
    let not_found = || Problem::not_found(format!("no booking {booking:?}"));
    let booking = BookingId::parse(&booking).map_err(|_| not_found())?;
    let action: VisitAction = action
        .parse()
        .map_err(|error: terminagent_domain::UnknownVisitAction| Problem::not_found(error.to_string()))?;
    let facts = floor::booking_facts(&state.executor, booking)
        .await
        .map_err(|e| Problem::internal(&e))?
        .ok_or_else(not_found)?;
    access.require(Permission::RunFloor, Some(&facts.office))?;
    let zone = office_zone(&state, &facts.office)?;
    let status = floor::move_visit(
        &state.executor,
        state.floor_policy,
        state.new_cause(access.actor()),
        &facts,
        zone,
        action,
    )
    .await
    .map_err(|error| state.execute_problem(error, |refused| floor_problem(refused, zone)))?;
    floor_caught_up(&state).await?;
    Ok(Json(VisitAnswer {
        booking_id: booking.to_string(),
        status: status.as_str(),
    }))
}

// --- the call display --------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/api/v1/offices/{office}/display",
    tag = "floor",
    summary = "The call display",
    description = "A display of the office, its staff, or an admin. Today's calls and recalls, newest first, \
        and how many wait; a projection of the log. With `as_of` the display as it was at that past instant \
        (of that instant's office day), rebuilt from the log.",
    params(("office" = String, Path, description = "The office's slug.", example = "stadtmitte"), DisplayQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Today's calls and the waiting room.", body = CallDisplay),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office.", body = Problem,
         content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: `as_of` is no RFC 3339 instant or lies in \
            the future.", body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn display(
    access: Access,
    State(state): State<AppState>,
    PathParam(office): PathParam<String>,
    QueryParams(query): QueryParams<DisplayQuery>,
) -> Result<Json<CallDisplay>, Problem> {
    let office = office_id(&office)?;
    access.require(Permission::ReadDisplay, Some(&office))?;
    let zone = office_zone(&state, &office)?;
    let now = state.executor.now();
    let shown = |as_of, day: Option<&FloorDay>| CallDisplay {
        calls: day.map_or_else(Vec::new, |day| {
            day.calls().iter().rev().map(|call| displayed(zone, call)).collect()
        }),
        waiting: day.map_or(0, FloorDay::waiting_count),
        as_of: local_instant(zone, as_of),
    };
    match query.as_of {
        None => {
            floor_caught_up(&state).await?;
            let view = state.floor.read();
            Ok(Json(shown(now, view.day(&office, zone.today(now)))))
        }
        Some(as_of) => {
            let as_of = DateTime::parse_from_rfc3339(&as_of)
                .map_err(|error| Problem::invalid(format!("as_of: not an RFC 3339 instant ({error})")))?
                .with_timezone(&Utc);
            if as_of > now {
                return Err(Problem::invalid("as_of: lies in the future"));
            }
            let day = floor::floor_day_as_of(&state.executor, &office, zone, as_of)
                .await
                .map_err(|error| Problem::internal(&error))?;
            Ok(Json(shown(as_of, Some(&day))))
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/offices/{office}/display/stream",
    tag = "floor",
    summary = "The call display's event stream",
    description = "A display of the office, its staff, or an admin. Server-sent events: one `call` event per \
        call or recall from now on, its data a `DisplayedCall` (`{\"number\",\"counter\",\"called_at\",\
        \"recall\"}`) and its `id` the log position of the call. With `Last-Event-ID` (which browsers send \
        when they reconnect) the stream first sends the calls after that position. A comment every 15 s \
        keeps idle connections open through proxies.",
    params(
        ("office" = String, Path, description = "The office's slug.", example = "stadtmitte"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event's id (a log position).",
         minimum = 0, example = 1234),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stream; `event: call`, `id: POSITION`, `data: DisplayedCall`.",
         content_type = "text/event-stream", body = String),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office.", body = Problem,
         content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn display_stream(
    access: Access,
    State(state): State<AppState>,
    PathParam(office): PathParam<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, axum::Error>>>, Problem> {
    let office = office_id(&office)?;
    access.require(Permission::ReadDisplay, Some(&office))?;
    let zone = office_zone(&state, &office)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let after = match resume {
        Some(position) => position,
        // A fresh display starts with what comes; it reads the JSON for what was.
        None => {
            floor_caught_up(&state).await?;
            state.floor.position()
        }
    };
    // A display's own stream is its sign of life for the staff.
    let watch = access
        .display_device()
        .map(|device| DisplayWatch::start(&state.executor, device, office.clone()));
    let feed = CallFeed {
        changes: state.floor.changes(),
        floor: state.floor.clone(),
        shutdown: state.shutdown.clone(),
        office,
        zone,
        after,
        pending: VecDeque::new(),
        _watch: watch,
    };
    let events = futures::stream::unfold(feed, |mut feed| async move {
        let call = feed.next().await?;
        let event = Event::default()
            .event("call")
            .id(call.position.to_string())
            .json_data(displayed(feed.zone, &call.call));
        Some((event, feed))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}

/// An office's calls after a log position, read from the live floor view
/// as it moves on: no log reads per display.
struct CallFeed {
    floor: Arc<LiveProjection<FloorView>>,
    changes: watch::Receiver<u64>,
    /// Ends the stream when the server shuts down (else it would wait for it).
    shutdown: watch::Receiver<bool>,
    office: OfficeId,
    zone: OfficeTimeZone,
    after: u64,
    pending: VecDeque<FeedCall>,
    /// Held while the stream lives.
    _watch: Option<DisplayWatch>,
}

impl CallFeed {
    /// The next call; `None` when the stream should end.
    async fn next(&mut self) -> Option<FeedCall> {
        loop {
            if let Some(call) = self.pending.pop_front() {
                return Some(call);
            }
            // Mark before reading: a change during the read wakes the wait below.
            self.changes.borrow_and_update();
            {
                let view = self.floor.read();
                self.pending
                    .extend(view.calls_after(&self.office, self.after).iter().cloned());
            }
            if let Some(last) = self.pending.back() {
                self.after = last.position;
                continue;
            }
            tokio::select! {
                changed = self.changes.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = self.shutdown.wait_for(|down| *down) => return None,
            }
        }
    }
}
