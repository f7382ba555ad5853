//! The OpenAPI document (`GET /api/v1/openapi.json`), the complete reference
//! of the HTTP interface (API.md). Each handler carries its own
//! `#[utoipa::path]`; this module gathers them, adds the bearer scheme and
//! holds what the annotations share: problem descriptions and string enums.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Media type of every error answer (RFC 9457).
pub(super) const PROBLEM: &str = "application/problem+json";

// Error answers shared by several operations; the `type` of each is named
// in its description.
pub(super) const MALFORMED_JSON: &str = "`/problems/malformed-json`: the body is not JSON, \
     or `/problems/bad-request` when it cannot be read at all.";
pub(super) const UNAUTHORIZED: &str = "`/problems/unauthorized`: no bearer token, or one that is neither \
     the operator's `--admin-token` nor a live staff or device token. Carries `WWW-Authenticate: Bearer`.";
pub(super) const FORBIDDEN: &str = "`/problems/forbidden`: the token is valid but its roles, office or \
     device kind do not reach this far.";
pub(super) const THROTTLED: &str = "`/problems/too-many-failed-attempts`: too many failed bearer checks \
     from this client address within 15 minutes; `Retry-After` says how many seconds to wait.";
pub(super) const BAD_QUERY: &str = "`/problems/bad-query`: a parameter is given twice, or the query string \
     cannot be read.";
pub(super) const MALFORMED_JSON_OR_PATH: &str = "`/problems/malformed-json`: the body is not JSON; \
     `/problems/bad-request` when it cannot be read at all; `/problems/bad-path` when the path's slug is not \
     UTF-8.";
pub(super) const BODY_TOO_LARGE: &str = "`/problems/body-too-large`: the body is larger than 64 KiB.";
pub(super) const UNSUPPORTED_MEDIA_TYPE: &str =
    "`/problems/unsupported-media-type`: the body is not sent as `Content-Type: application/json`.";
pub(super) const RATE_LIMITED: &str = "`/problems/rate-limited`: more public writes from this client \
     address than `--rate-limit` allows per minute (default 60; `0` turns it off), or (bookings) from a \
     client network holding `--max-pending-bookings-per-network` unconfirmed bookings \
     (`/problems/too-many-pending-bookings`). `Retry-After` says how many seconds to wait.";
pub(super) const PROOF_OF_WORK_REFUSED: &str = "`/problems/proof-of-work`: no `X-Proof-Of-Work` header, or \
     one whose solution is wrong, not issued by this installation, expired or already used (`--proof-of-work`, \
     on by default; requests with a staff, device or operator token need none). Fetch a challenge from \
     `GET /api/v1/challenge`.";
pub(super) const CONTENDED: &str = "`/problems/contended`: too many concurrent changes to the same data; \
     try again after `Retry-After` seconds.";
pub(super) const INTERNAL: &str = "`/problems/internal`: the server could not complete the request \
     (e.g. the store is unreachable); details go to the server log, never to the client. \
     Bad input never answers 5xx.";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Terminagent",
        description = "Online-Terminvergabe und Warteliste (\"Terminagent\") für Bürgerbüros — \
online booking of appointment slots at citizen offices, with mail links to confirm and cancel.

Conventions:
- JSON in and out. Every error is `application/problem+json` (RFC 9457) with `type`, `title`, \
`status` and `detail`; `type` is `/problems/{kind}` and its last segment (e.g. `slot-taken`, \
`capacity-overlap`, `invalid-request`) is meant for programs. Bad input never answers 5xx.
- Instants are RFC 3339 with the office's UTC offset (`2026-12-01T08:12:00+01:00`); dates \
`YYYY-MM-DD` and local times `HH:MM` are in the office's zone.
- Offices and services are identified by slugs `[a-z0-9-]{1,64}`; everything else by ULID strings.
- Staff and operations endpoints need `Authorization: Bearer TOKEN`: the operator's `--admin-token`, \
a staff member's token (roles admin, lead, clerk, auditor) or a device's (kiosk, display). Beyond its \
roles or office a token gets 403 `/problems/forbidden`.
- Request bodies are limited to 64 KiB (413 beyond). Public writes (`POST` of bookings, wishes and \
mail links) are limited per client address and minute by `--rate-limit` (default 60; 429 with `Retry-After`); \
behind a proxy of `--trusted-proxies` the client is the one `X-Forwarded-For` names.
- `POST /api/v1/bookings` and `POST /api/v1/wishes` need a proof of work (header `X-Proof-Of-Work`, see \
`GET /api/v1/challenge`; 403 `/problems/proof-of-work` without a valid, unspent one) unless sent with a \
staff token; a client network (/24, /64) holding `--max-pending-bookings-per-network` unconfirmed bookings \
gets 429 `/problems/too-many-pending-bookings`.
- A path that exists answers a method it does not support with 405 `/problems/method-not-allowed`; \
an unknown path answers 404 `/problems/not-found`.",
        license(name = "EUPL-1.2", identifier = "EUPL-1.2"),
    ),
    paths(
        super::healthz,
        super::readyz,
        super::metrics,
        document,
        super::catalogue::list_offices,
        super::catalogue::put_office,
        super::catalogue::publish_capacity,
        super::catalogue::list_services,
        super::catalogue::put_service,
        super::availability::availability,
        super::statistics::statistics,
        super::proof_of_work::issue_challenge,
        super::bookings::create_booking,
        super::wishes::create_wish,
        super::overview::request_overview_json,
        super::links::show_link_json,
        super::links::press_link_json,
        super::pages::links::show_link_page,
        super::pages::links::press_link_page,
        super::audit::list_events,
        super::audit::check_projections,
        super::audit::trace,
        super::audit::as_of,
        super::audit::head,
        super::staff::put_staff,
        super::staff::list_staff,
        super::staff::disable_staff,
        super::staff::issue_staff_token,
        super::staff::register_device,
        super::staff::list_devices,
        super::staff::revoke_device,
        super::day_list::day_list,
        super::closures::close,
        super::erasures::erase,
        super::tickets::issue,
        super::floor::check_in,
        super::floor::call_next,
        super::floor::open_counter,
        super::floor::pause_counter,
        super::floor::close_counter,
        super::floor::move_visit,
        super::floor::display,
        super::floor::display_stream,
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "catalogue", description = "Offices, services and the capacity staff publish."),
        (name = "availability", description = "Free slots citizens can book."),
        (name = "bookings", description = "Booking requests; confirmation and cancellation go through mail links."),
        (name = "wishes", description = "The waitlist: when nothing fits, a wish waits for capacity in first-come \
order; proposals, their answers and ending the search go through mail links."),
        (name = "links", description = "Mail links: a page with a button for people, JSON twins for programs. \
GET never changes anything (mail scanners open every link); POST acts, and repeating it is harmless."),
        (name = "floor", description = "The office floor: visitors check in at the kiosk, counters call them \
(\"Nummer 1112 Schalter 6\"), clerks move visits on; the call display and its event stream."),
        (name = "statistics", description = "Figures of office days folded from the log: bookings, the floor's \
waiting and processing times, utilisation, the waitlist; the same after a replay and after erasures."),
        (name = "audit", description = "The event log in order, personal data only as envelope ids; \
live views checked against their replay of the log."),
        (name = "operations", description = "Liveness, readiness, metrics and this document."),
    )
)]
pub struct ApiDoc;

/// Name of the security scheme of the 🔒 endpoints.
pub(super) const BEARER: &str = "bearer";

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator's `--admin-token`, or a staff member's or device's token \
                         (`POST /api/v1/staff/{email}/tokens`, `POST /api/v1/offices/{office}/devices`).",
                    ))
                    .build(),
            ),
        );
    }
}

static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| ApiDoc::openapi().to_json().expect("the OpenAPI document serialises"));

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    summary = "The OpenAPI document",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API.", content_type = "application/json", body = Object),
    )
)]
pub async fn document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str()).into_response()
}

fn string_enum(values: &[&str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// `action` of a mail link (API.md "Mail links").
pub(super) fn link_action() -> Object {
    let mut schema = string_enum(&[
        "confirm_booking",
        "cancel_booking",
        "accept_proposal",
        "decline_proposal",
        "end_wish",
        "confirm_wish",
    ]);
    schema.description = Some(
        "What the link does. Booking mails carry `confirm_booking` and `cancel_booking`; \
         `confirm_wish`, `accept_proposal`, `decline_proposal` and `end_wish` belong to wish mails."
            .to_owned(),
    );
    schema
}

/// `state` of a mail link now.
pub(super) fn link_state() -> Object {
    let mut schema = string_enum(&["open", "used", "expired", "void"]);
    schema.description = Some(
        "`open`: pressing it would act; `used`: it already did; `expired`: too late; \
         `void`: superseded (e.g. the confirm link of a cancelled booking)."
            .to_owned(),
    );
    schema
}

/// `outcome` of pressing a mail link.
pub(super) fn link_outcome() -> Object {
    let mut schema = string_enum(&["done", "already_done", "expired", "void"]);
    schema.description = Some(
        "`done`: it acted now; `already_done`: an earlier press did (repeats are harmless); \
         `expired`: too late; `void`: the action no longer applies."
            .to_owned(),
    );
    schema
}

/// `status` of a booking.
pub(super) fn booking_status() -> Object {
    string_enum(&["pending_confirmation", "confirmed", "cancelled", "lapsed"])
}

/// `status` of a booking just requested.
pub(super) fn pending_confirmation() -> Object {
    string_enum(&["pending_confirmation"])
}
