//! `GET /staff`: the start page. It lists what this member may do, asking
//! [`Principal::may`](terminagent_domain::Principal::may) per office and
//! task, so a role's page is exactly its permissions.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use terminagent_domain::{OfficeId, Permission};

use super::super::PageLink;
use super::render;
use super::session::Signed;
use super::{Frame, Pairs, field};
use crate::http::AppState;

/// An office with the member's tasks there.
struct OfficeTasks {
    name: String,
    links: Vec<PageLink>,
}

#[derive(Template)]
#[template(path = "staff/start.html")]
struct StartPage {
    frame: Frame,
    name: String,
    password_changed: bool,
    offices: Vec<OfficeTasks>,
    administration: Vec<PageLink>,
    /// Auditors: the audit pages are still to come.
    auditor: bool,
    /// The statistics of all offices, for who may read them.
    statistics: Option<PageLink>,
}

/// The office tasks of the start page, in the order of a working day.
const OFFICE_TASKS: [(Permission, &str, &str); 5] = [
    (Permission::ReadDayList, "tag", "Tagesliste"),
    (Permission::PublishCapacity, "kapazitaet", "Kapazität veröffentlichen"),
    (
        Permission::EditOpeningHours,
        "oeffnungszeiten",
        "Öffnungszeiten und Schließtage",
    ),
    (
        Permission::CloseOffice,
        "schliessen",
        "Einen Tag oder Teil davon schließen",
    ),
    (Permission::ManageDevices, "geraete", "Kiosks und Aufrufanzeigen"),
];

pub(super) async fn start_page(
    State(state): State<AppState>,
    Signed(member): Signed,
    Query(query): Query<Pairs>,
) -> Response {
    let offices = {
        let catalogue = state.catalogue.read();
        catalogue
            .offices()
            .filter_map(|office| {
                let id = OfficeId::parse(&office.id).ok()?;
                let mut links: Vec<PageLink> = OFFICE_TASKS
                    .iter()
                    .filter(|(permission, _, _)| member.may(*permission, Some(&id)))
                    .map(|(_, path, label)| PageLink::new(format!("/staff/{id}/{path}"), *label))
                    .collect();
                // Who reads every office finds the statistics once, below.
                if member.may(Permission::ReadStatistics, Some(&id)) && !member.may(Permission::ReadStatistics, None) {
                    links.push(PageLink::new(format!("/staff/statistik?buero={id}"), "Statistik"));
                }
                (!links.is_empty()).then(|| OfficeTasks {
                    name: office.name.clone(),
                    links,
                })
            })
            .collect()
    };
    let mut administration = Vec::new();
    if member.may(Permission::ManageStaff, None) {
        administration.push(PageLink::new("/staff/admin/personal", "Personal und Zugänge"));
    }
    if member.may(Permission::ManageCatalogue, None) {
        administration.push(PageLink::new("/staff/admin/standorte", "Bürgerbüros (Standorte)"));
        administration.push(PageLink::new("/staff/admin/dienstleistungen", "Dienstleistungen"));
    }
    let auditor = member.may(Permission::Audit, None) && !member.may(Permission::ManageStaff, None);
    let page = StartPage {
        frame: Frame::of(Some(&member)),
        name: member.name.clone(),
        password_changed: !field(&query, "passwort").is_empty(),
        offices,
        administration,
        auditor,
        statistics: member
            .may(Permission::ReadStatistics, None)
            .then(|| PageLink::new("/staff/statistik", "Statistik aller Bürgerbüros")),
    };
    render(StatusCode::OK, &page)
}
