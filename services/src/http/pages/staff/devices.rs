//! A lead's kiosks and call displays (`/staff/{office}/geraete`): list,
//! register (the token is shown once, on the answer page), revoke. Through
//! `application::staff`, as `POST/DELETE /api/v1/offices/{office}/devices`.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use terminagent_domain::{CatalogueName, DeviceId, DeviceKind, Permission, StaffError};

use super::render;
use super::session::{Member, Posted, Signed};
use super::{
    FieldErrors, Frame, OfficePage, execute_failure_page, field, internal_page, message_page, not_found_page,
    path_text, text_error,
};
use crate::application::display_presence;
use crate::application::staff as directory;
use crate::http::AppState;
use crate::http::pages::floor::clock_time;

struct DeviceRow {
    device: DeviceId,
    name: String,
    kind: &'static str,
    active: bool,
    revoke_action: String,
    /// A display's stream: connected, or silent since when ("" for kiosks).
    connection: String,
}

/// A token just issued, shown this once.
struct Issued {
    name: String,
    kind: &'static str,
    token: String,
}

#[derive(Template)]
#[template(path = "staff/devices.html")]
struct DevicesPage {
    frame: Frame,
    office_id: String,
    office_name: String,
    devices: Vec<DeviceRow>,
    issued: Option<Issued>,
    notice: Option<String>,
    kind: String,
    name: String,
    errors: FieldErrors,
}

fn kind_label(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Kiosk => "Kiosk (Wartenummern und Anmeldung)",
        DeviceKind::Display => "Aufrufanzeige",
    }
}

fn page(state: &AppState, member: &Member, office: &OfficePage) -> DevicesPage {
    let devices = state
        .staff
        .read()
        .devices_of(&office.id)
        .map(|device| DeviceRow {
            device: device.registered.device,
            connection: String::new(),
            name: device.registered.name.to_string(),
            kind: kind_label(device.registered.kind),
            active: !device.revoked,
            revoke_action: format!("/staff/{}/geraete/{}/widerrufen", office.id, device.registered.device),
        })
        .collect();
    DevicesPage {
        frame: Frame::of(Some(member)),
        office_id: office.id.to_string(),
        office_name: office.name.clone(),
        devices,
        issued: None,
        notice: None,
        kind: "kiosk".to_owned(),
        name: String::new(),
        errors: FieldErrors::default(),
    }
}

/// `GET /staff/{office}/geraete`.
pub(super) async fn devices_page(
    State(state): State<AppState>,
    Signed(member): Signed,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let office = match OfficePage::find(&state, &member, &path_text(path), Permission::ManageDevices) {
        Ok(office) => office,
        Err(response) => return response,
    };
    let mut devices = page(&state, &member, &office);
    let displays = match display_presence::displays_of(&state.executor, &state.staff, &office.id).await {
        Ok(displays) => displays,
        Err(error) => return internal_page(Some(&member), &error),
    };
    for row in &mut devices.devices {
        if let Some(display) = displays.iter().find(|display| display.device == row.device) {
            let at = |seen| clock_time(office.zone, seen);
            row.connection = match (display.silent, display.last_seen) {
                (_, None) => "Noch nie verbunden".to_owned(),
                (true, Some(seen)) => format!("Ohne Verbindung seit {} Uhr", at(seen)),
                (false, Some(seen)) => format!("Verbunden (zuletzt {} Uhr)", at(seen)),
            };
        }
    }
    render(StatusCode::OK, &devices)
}

fn staff_refusal(member: &Member, error: StaffError) -> Response {
    match error {
        StaffError::UnknownOffice(_) => not_found_page(Some(member), "Dieses Bürgerbüro gibt es nicht"),
        StaffError::UnknownDevice(_) => not_found_page(Some(member), "Dieses Gerät gibt es hier nicht"),
        other => message_page(
            Some(member),
            StatusCode::CONFLICT,
            "Das ging nicht",
            &[&other.to_string()],
            None,
        ),
    }
}

/// `POST /staff/{office}/geraete`: registers a kiosk or display; 201 with its token.
pub(super) async fn register_device(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    posted: Posted,
) -> Response {
    let Posted { member, fields } = posted;
    let office = match OfficePage::find(&state, &member, &path_text(path), Permission::ManageDevices) {
        Ok(office) => office,
        Err(response) => return response,
    };
    let mut form = page(&state, &member, &office);
    form.kind = field(&fields, "art").to_owned();
    form.name = field(&fields, "name").to_owned();
    let kind = match form.kind.as_str() {
        "kiosk" => Some(DeviceKind::Kiosk),
        "display" => Some(DeviceKind::Display),
        _ => {
            form.errors.add("art-kiosk", "Bitte wählen Sie die Art des Geräts.");
            None
        }
    };
    let name = match CatalogueName::parse(&form.name) {
        Ok(name) => Some(name),
        Err(error) => {
            form.errors.add(
                "name",
                text_error(
                    error,
                    "Bitte geben Sie dem Gerät einen Namen, zum Beispiel „Eingang links“.",
                ),
            );
            None
        }
    };
    let (Some(kind), Some(name)) = (kind, name) else {
        return render(StatusCode::UNPROCESSABLE_ENTITY, &form);
    };
    let cause = state.new_cause(member.principal.actor());
    let registered =
        directory::register_device(&state.executor, cause, office.id.clone(), true, kind, name.clone()).await;
    let (_, token) = match registered {
        Ok(registered) => registered,
        Err(error) => return execute_failure_page(&member, error, |refused| staff_refusal(&member, refused)),
    };
    if let Err(problem) = state.catch_up_views().await {
        return internal_page(Some(&member), &problem.detail);
    }
    let mut done = page(&state, &member, &office);
    done.issued = Some(Issued {
        name: name.to_string(),
        kind: kind_label(kind),
        token: token.as_str().to_owned(),
    });
    render(StatusCode::CREATED, &done)
}

/// `POST /staff/{office}/geraete/{device}/widerrufen`: its token stops working at once.
pub(super) async fn revoke_device(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    posted: Posted,
) -> Response {
    let member = posted.member;
    let (office, device) = path_text(path);
    let office = match OfficePage::find(&state, &member, &office, Permission::ManageDevices) {
        Ok(office) => office,
        Err(response) => return response,
    };
    let Ok(device) = DeviceId::parse(&device) else {
        return not_found_page(Some(&member), "Dieses Gerät gibt es hier nicht");
    };
    let cause = state.new_cause(member.principal.actor());
    if let Err(error) = directory::revoke_device(&state.executor, cause, office.id.clone(), device).await {
        return execute_failure_page(&member, error, |refused| staff_refusal(&member, refused));
    }
    if let Err(problem) = state.catch_up_views().await {
        return internal_page(Some(&member), &problem.detail);
    }
    let mut done = page(&state, &member, &office);
    let name = state
        .staff
        .read()
        .device(&device)
        .map(|device| device.registered.name.to_string())
        .unwrap_or_default();
    done.notice = Some(format!(
        "Das Gerät „{name}“ ist widerrufen; sein Zugang funktioniert nicht mehr."
    ));
    render(StatusCode::OK, &done)
}
