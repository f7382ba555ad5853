//! Staff accounts, their tokens and an office's devices (API.md "Staff,
//! roles and devices"). Thin: parse, ask [`Access::require`], call
//! `application::staff`, map the result.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use terminagent_domain::{
    CatalogueName, DeviceId, DeviceKind, EmailAddress, OfficeId, OfficeTimeZone, Permission, Role, RoleGrant,
    StaffError,
};

use super::AppState;
use super::auth::Access;
use super::bookings::local_instant;
use super::extract::{JsonBody, PathParam};
use super::openapi::{
    BODY_TOO_LARGE, CONTENDED, FORBIDDEN, INTERNAL, MALFORMED_JSON_OR_PATH, PROBLEM, THROTTLED, UNAUTHORIZED,
    UNSUPPORTED_MEDIA_TYPE,
};
use super::problem::Problem;
use crate::application::display_presence;
use crate::application::staff::{self as directory, AccountOutcome};

/// A role as requested and shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleBody {
    /// `admin`, `lead`, `clerk` or `auditor`.
    #[schema(example = "clerk")]
    role: String,
    /// The office (`lead` and `clerk` only; they need one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "stadtmitte")]
    office: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffBody {
    /// The member's name, 1–200 characters.
    #[schema(example = "Eva Muster")]
    name: String,
    /// 1–20 roles.
    roles: Vec<RoleBody>,
}

/// A staff account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffEntry {
    /// ULID of the account; events it causes name it as their actor.
    staff_id: String,
    email: String,
    name: String,
    roles: Vec<RoleBody>,
    /// False once disabled: none of its tokens or sessions work.
    enabled: bool,
}

fn entry(state: &AppState, email: &EmailAddress) -> Option<StaffEntry> {
    let directory = state.staff.read();
    let account = directory.account_by_email(email)?;
    Some(StaffEntry {
        staff_id: account.account.staff.to_string(),
        email: account.account.email.to_string(),
        name: account.account.name.to_string(),
        roles: account
            .account
            .roles
            .iter()
            .map(|grant| RoleBody {
                role: grant.role.to_string(),
                office: grant.office.as_ref().map(ToString::to_string),
            })
            .collect(),
        enabled: account.enabled,
    })
}

fn parse_email(email: &str) -> Result<EmailAddress, Problem> {
    EmailAddress::parse(email).map_err(|e| Problem::invalid(format!("e-mail address {email:?}: {e}")))
}

fn staff_problem(error: StaffError) -> Problem {
    match error {
        StaffError::UnknownAccount(email) => Problem::not_found(format!("no staff account for {email}")),
        StaffError::UnknownDevice(device) => Problem::not_found(format!("no device {device} at this office")),
        StaffError::UnknownOffice(office) => Problem::not_found(format!("no office {office}")),
        StaffError::AccountDisabled(email) => Problem::new(
            StatusCode::CONFLICT,
            "account-disabled",
            "Account disabled",
            format!("the account of {email} is disabled; PUT it again to enable it"),
        ),
        other => Problem::invalid(other.to_string()),
    }
}

#[utoipa::path(
    put,
    path = "/api/v1/staff/{email}",
    tag = "staff",
    summary = "Create a staff account or change its name and roles",
    description = "Idempotent. Admin only. A disabled account named again is enabled; its old tokens stay void.",
    params(("email" = String, Path, description = "The member's work e-mail address.", example = "eva.muster@stadt.example")),
    request_body = StaffBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account existed; it is now this.", body = StaffEntry),
        (status = 201, description = "The account is created.", body = StaffEntry),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: the address, name or a role is not \
            acceptable (lead and clerk need a registered office, admin and auditor take none).",
         body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn put_staff(
    access: Access,
    State(state): State<AppState>,
    PathParam(email): PathParam<String>,
    JsonBody(body): JsonBody<StaffBody>,
) -> Result<(StatusCode, Json<StaffEntry>), Problem> {
    access.require(Permission::ManageStaff, None)?;
    let email = parse_email(&email)?;
    let name = CatalogueName::parse(&body.name).map_err(|e| Problem::invalid(format!("name: {e}")))?;
    let mut roles = Vec::with_capacity(body.roles.len());
    for requested in &body.roles {
        let role: Role = requested
            .role
            .parse()
            .map_err(|e: StaffError| Problem::invalid(e.to_string()))?;
        let office = match &requested.office {
            None => None,
            Some(office) => {
                let office =
                    OfficeId::parse(office).map_err(|e| Problem::invalid(format!("office {office:?}: {e}")))?;
                if state.catalogue.read().office(&office).is_none() {
                    return Err(Problem::invalid(format!("office {office} is not registered")));
                }
                Some(office)
            }
        };
        roles.push(RoleGrant::new(role, office).map_err(|e| Problem::invalid(e.to_string()))?);
    }
    let outcome = directory::put_account(
        &state.executor,
        state.new_cause(access.actor()),
        email.clone(),
        name,
        roles,
    )
    .await
    .map_err(|error| state.execute_problem(error, staff_problem))?;
    state.catch_up_views().await?;
    let status = match outcome {
        AccountOutcome::Created(_) => StatusCode::CREATED,
        AccountOutcome::Updated(_) | AccountOutcome::Unchanged(_) => StatusCode::OK,
    };
    let entry = entry(&state, &email).ok_or_else(|| Problem::not_found(format!("no staff account for {email}")))?;
    Ok((status, Json(entry)))
}

#[utoipa::path(
    get,
    path = "/api/v1/staff",
    tag = "staff",
    summary = "List the staff accounts",
    description = "Admin only; disabled accounts included.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every account, by e-mail address.", body = Vec<StaffEntry>),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn list_staff(access: Access, State(state): State<AppState>) -> Result<Json<Vec<StaffEntry>>, Problem> {
    access.require(Permission::ManageStaff, None)?;
    let mut emails: Vec<EmailAddress> = state.staff.read().accounts().map(|a| a.account.email.clone()).collect();
    emails.sort();
    Ok(Json(emails.iter().filter_map(|email| entry(&state, email)).collect()))
}

#[utoipa::path(
    delete,
    path = "/api/v1/staff/{email}",
    tag = "staff",
    summary = "Disable a staff account",
    description = "Admin only. Every token and page session of the account stops working at once.",
    params(("email" = String, Path, description = "The member's work e-mail address.", example = "eva.muster@stadt.example")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account is disabled (also when it already was).", body = StaffEntry),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no account for that address.", body = Problem,
         content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn disable_staff(
    access: Access,
    State(state): State<AppState>,
    PathParam(email): PathParam<String>,
) -> Result<Json<StaffEntry>, Problem> {
    access.require(Permission::ManageStaff, None)?;
    let email = parse_email(&email)?;
    directory::disable_account(&state.executor, state.new_cause(access.actor()), email.clone())
        .await
        .map_err(|error| state.execute_problem(error, staff_problem))?;
    state.catch_up_views().await?;
    let entry = entry(&state, &email).ok_or_else(|| Problem::not_found(format!("no staff account for {email}")))?;
    state
        .executor
        .store()
        .staff_credentials()
        .close_sessions_of(&entry.staff_id)
        .await
        .map_err(|e| Problem::internal(&e))?;
    Ok(Json(entry))
}

/// A new token, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// The bearer token (43 characters). Only its hash is kept: store it now.
    token: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/staff/{email}/tokens",
    tag = "staff",
    summary = "Issue a bearer token for a staff account",
    description = "Admin only. The token carries the account's roles as they are at each use.",
    params(("email" = String, Path, description = "The member's work e-mail address.", example = "eva.muster@stadt.example")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The token, shown this once.", body = IssuedToken),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no account for that address.", body = Problem,
         content_type = PROBLEM),
        (status = 409, description = "`/problems/account-disabled`: enable the account first.", body = Problem,
         content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn issue_staff_token(
    access: Access,
    State(state): State<AppState>,
    PathParam(email): PathParam<String>,
) -> Result<(StatusCode, Json<IssuedToken>), Problem> {
    access.require(Permission::ManageStaff, None)?;
    let email = parse_email(&email)?;
    let token = directory::issue_token(&state.executor, state.new_cause(access.actor()), email)
        .await
        .map_err(|error| state.execute_problem(error, staff_problem))?;
    state.catch_up_views().await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            token: token.as_str().to_owned(),
        }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceBody {
    /// `kiosk` (tickets and check-in) or `display` (the call display).
    #[schema(example = "kiosk")]
    kind: String,
    /// What staff call it, 1–200 characters.
    #[schema(example = "Eingang links")]
    name: String,
}

/// A registered device and its token, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegisteredDevice {
    device_id: String,
    /// The device's bearer token (43 characters), shown this once.
    token: String,
}

/// A device as the office's list shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceEntry {
    device_id: String,
    #[schema(example = "display")]
    kind: String,
    name: String,
    /// False once revoked: its token no longer works.
    active: bool,
    /// Displays: when their call stream was last known open (null: never).
    #[schema(format = DateTime, example = "2026-12-01T09:14:45+01:00")]
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen: Option<String>,
    /// Displays: unseen for more than a minute, so the waiting room may not
    /// see the calls. Absent for kiosks.
    #[serde(skip_serializing_if = "Option::is_none")]
    silent: Option<bool>,
}

fn parse_office(office: &str) -> Result<OfficeId, Problem> {
    OfficeId::parse(office).map_err(|_| Problem::not_found(format!("no office {office:?}")))
}

#[utoipa::path(
    post,
    path = "/api/v1/offices/{office}/devices",
    tag = "staff",
    summary = "Register a kiosk or call display of an office",
    description = "Admin or the office's lead. A kiosk token may only issue tickets and check in at this office; \
        a display token may only read this office's display.",
    params(("office" = String, Path, description = "The office's slug.", example = "stadtmitte")),
    request_body = DeviceBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The device and its token, shown this once.", body = RegisteredDevice),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office.", body = Problem, content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: unknown kind or bad name.", body = Problem,
         content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn register_device(
    access: Access,
    State(state): State<AppState>,
    PathParam(office): PathParam<String>,
    JsonBody(body): JsonBody<DeviceBody>,
) -> Result<(StatusCode, Json<RegisteredDevice>), Problem> {
    let office = parse_office(&office)?;
    access.require(Permission::ManageDevices, Some(&office))?;
    let kind = match body.kind.as_str() {
        "kiosk" => DeviceKind::Kiosk,
        "display" => DeviceKind::Display,
        other => {
            return Err(Problem::invalid(format!(
                "kind must be kiosk or display, not {other:?}"
            )));
        }
    };
    let name = CatalogueName::parse(&body.name).map_err(|e| Problem::invalid(format!("name: {e}")))?;
    let office_known = state.catalogue.read().office(&office).is_some();
    let (device, token) = directory::register_device(
        &state.executor,
        state.new_cause(access.actor()),
        office,
        office_known,
        kind,
        name,
    )
    .await
    .map_err(|error| state.execute_problem(error, staff_problem))?;
    state.catch_up_views().await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredDevice {
            device_id: device.to_string(),
            token: token.as_str().to_owned(),
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/offices/{office}/devices",
    tag = "staff",
    summary = "List an office's devices",
    description = "Admin or the office's lead; revoked devices included. Displays say when their call stream \
        was last known open and whether they have been silent for more than a minute.",
    params(("office" = String, Path, description = "The office's slug.", example = "stadtmitte")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The office's devices.", body = Vec<DeviceEntry>),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn list_devices(
    access: Access,
    State(state): State<AppState>,
    PathParam(office): PathParam<String>,
) -> Result<Json<Vec<DeviceEntry>>, Problem> {
    let office = parse_office(&office)?;
    access.require(Permission::ManageDevices, Some(&office))?;
    let displays = display_presence::displays_of(&state.executor, &state.staff, &office)
        .await
        .map_err(|error| Problem::internal(&error))?;
    let zone = state
        .catalogue
        .read()
        .office(&office)
        .and_then(|entry| entry.timezone.parse().ok())
        .unwrap_or_else(|| OfficeTimeZone::parse("UTC").expect("UTC is a time zone"));
    let entries = state
        .staff
        .read()
        .devices_of(&office)
        .map(|device| {
            let health = displays
                .iter()
                .find(|display| display.device == device.registered.device);
            DeviceEntry {
                device_id: device.registered.device.to_string(),
                kind: device.registered.kind.as_str().to_owned(),
                name: device.registered.name.to_string(),
                active: !device.revoked,
                last_seen: health.and_then(|h| h.last_seen).map(|seen| local_instant(zone, seen)),
                silent: health.map(|h| h.silent),
            }
        })
        .collect();
    Ok(Json(entries))
}

#[utoipa::path(
    delete,
    path = "/api/v1/offices/{office}/devices/{device}",
    tag = "staff",
    summary = "Revoke a device",
    description = "Admin or the office's lead. Its token stops working at once.",
    params(
        ("office" = String, Path, description = "The office's slug.", example = "stadtmitte"),
        ("device" = String, Path, description = "The device's ULID.", example = "01KBS4W1YQ9X0G4T2N5M8P7R6T"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked (also when it already was)."),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such device at this office.", body = Problem,
         content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn revoke_device(
    access: Access,
    State(state): State<AppState>,
    PathParam((office, device)): PathParam<(String, String)>,
) -> Result<StatusCode, Problem> {
    let office = parse_office(&office)?;
    access.require(Permission::ManageDevices, Some(&office))?;
    let device = DeviceId::parse(&device).map_err(|_| Problem::not_found(format!("no device {device:?}")))?;
    directory::revoke_device(&state.executor, state.new_cause(access.actor()), office, device)
        .await
        .map_err(|error| state.execute_problem(error, staff_problem))?;
    state.catch_up_views().await?;
    Ok(StatusCode::NO_CONTENT)
}
