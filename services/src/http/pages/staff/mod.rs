//! The staff pages under `/staff` (API.md "Staff, roles and devices"):
//! German, server-rendered on the citizen pages' layout and stylesheet, no
//! JavaScript. Sign-in with e-mail and password opens a session
//! ([`session`]); each page asks [`Principal::may`](terminagent_domain::Principal::may)
//! what the member may do there, and acts through the same decisions as the
//! JSON API, under the member's actor.
//!
//! - `login.rs` — sign in, sign out, replace a one-time password.
//! - `home.rs` — the start page: what this member may do, by role.
//! - `day.rs` — a clerk's day list (each read of names recorded as the JSON
//!   endpoint records it) and cancelling a booking on a citizen's behalf.
//! - `capacity.rs`, `hours.rs`, `devices.rs`, `closure.rs` — a lead's week
//!   template of capacity, opening hours and holidays, kiosks and displays,
//!   closing a day or part of it.
//! - `admin.rs` — an admin's staff accounts, offices and services.
//! - `desk.rs` — a clerk's desk at a counter (call, recall, missed, start,
//!   finish, park, return; pause, close) kept live by `/assets/schalter.js`,
//!   and the call display for signed-in staff.
//! - `statistics.rs`, `charts.rs` — the statistics of leads, auditors and
//!   admins (`/staff/statistik`): tables, SVG charts, CSV and XLSX.

mod admin;
mod capacity;
mod charts;
mod closure;
mod day;
mod desk;
mod devices;
mod home;
mod hours;
mod login;
mod session;
mod statistics;

use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::NaiveDate;
use terminagent_domain::{OfficeId, OfficeTimeZone, Permission};

use super::PageLink;
use crate::http::AppState;
use crate::http::problem::Problem;
use session::Member;

/// The staff pages' routes; `http::router` merges them.
pub(in crate::http) fn routes() -> Router<AppState> {
    Router::new()
        .route("/staff", get(home::start_page))
        .route("/staff/login", get(login::sign_in_page).post(login::sign_in))
        .route("/staff/logout", post(login::sign_out))
        .route(
            "/staff/passwort",
            get(login::password_page).post(login::change_password),
        )
        .route(
            "/staff/admin/personal",
            get(admin::accounts_page).post(admin::put_account),
        )
        .route(
            "/staff/admin/personal/einmalpasswort",
            post(admin::issue_one_time_password),
        )
        .route("/staff/admin/personal/deaktivieren", post(admin::disable_account))
        .route(
            "/staff/admin/standorte",
            get(admin::offices_page).post(admin::put_office),
        )
        .route(
            "/staff/admin/dienstleistungen",
            get(admin::services_page).post(admin::put_service),
        )
        .route("/staff/statistik", get(statistics::statistics_page))
        .route("/staff/{office}/tag", get(day::day_list_page))
        .route(
            "/staff/{office}/absagen/{booking}",
            get(day::cancel_page).post(day::cancel_booking),
        )
        .route(
            "/staff/{office}/kapazitaet",
            get(capacity::capacity_page).post(capacity::publish_week),
        )
        .route(
            "/staff/{office}/oeffnungszeiten",
            get(hours::hours_page).post(hours::save_hours),
        )
        .route(
            "/staff/{office}/schliessen",
            get(closure::closure_page).post(closure::close),
        )
        .route(
            "/staff/{office}/geraete",
            get(devices::devices_page).post(devices::register_device),
        )
        .route(
            "/staff/{office}/geraete/{device}/widerrufen",
            post(devices::revoke_device),
        )
        .route(
            "/staff/{office}/schalter/{counter}",
            get(desk::desk_page).post(desk::desk_action),
        )
        .route("/staff/{office}/schalter/{counter}/stream", get(desk::desk_stream))
        .route("/staff/{office}/anzeige", get(desk::display_page))
        .route("/staff/{office}/anzeige/stream", get(desk::display_stream))
}

/// Whether a form came from our own pages (the kiosk's check-in form asks too).
pub(in crate::http::pages) fn same_origin_request(
    headers: &axum::http::HeaderMap,
    uri: &axum::http::Uri,
    state: &AppState,
) -> bool {
    session::same_origin(headers, uri, state)
}

/// A rendered staff page: the citizen pages' headers, but the Referer goes
/// to our own origin. Browsers send `Origin: null` on a form posted from a
/// `no-referrer` page, and the Origin check needs the real one; staff URLs
/// carry nothing secret, and no Referer ever leaves for other sites.
fn render(status: StatusCode, page: &impl Template) -> Response {
    let mut response = super::render(status, page);
    response
        .headers_mut()
        .insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// A form or query string as name/value pairs: checkboxes repeat their name.
type Pairs = Vec<(String, String)>;

/// The last value of `name`, trimmed; empty when absent.
fn field<'a>(pairs: &'a Pairs, name: &str) -> &'a str {
    pairs
        .iter()
        .rev()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.trim())
}

/// Every non-empty value of `name` (checkboxes).
fn values<'a>(pairs: &'a Pairs, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    pairs
        .iter()
        .filter(move |(key, value)| key == name && !value.trim().is_empty())
        .map(|(_, value)| value.trim())
}

/// What every staff page's layout shows: who is signed in, with the sign-out
/// button (a form: it carries the CSRF token).
struct Frame {
    pub member: Option<MemberBar>,
}

struct MemberBar {
    pub name: String,
    pub roles: String,
    pub csrf: String,
}

impl Frame {
    /// The CSRF token every form of the page carries.
    pub fn csrf(&self) -> &str {
        self.member.as_ref().map_or("", |member| member.csrf.as_str())
    }

    pub fn of(member: Option<&Member>) -> Frame {
        Frame {
            member: member.map(|member| MemberBar {
                name: member.name.clone(),
                roles: member.roles_label.clone(),
                csrf: member.csrf.clone(),
            }),
        }
    }
}

/// Errors of a form: each next to its field and listed on top
/// (`_error_summary.html` reads `is_empty()` and `summary()`).
#[derive(Debug, Default)]
struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push((field.into(), message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (id of the field to jump to, message), in the order found.
    pub fn summary(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .map(|(field, message)| (field.as_str(), message.as_str()))
            .collect()
    }

    /// The first message for `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(id, _)| id == field)
            .map(|(_, message)| message.as_str())
    }
}

/// A staff page that only tells something.
#[derive(Template)]
#[template(path = "staff/message.html")]
struct StaffMessage {
    frame: Frame,
    heading: String,
    paragraphs: Vec<String>,
    link: Option<PageLink>,
}

/// A message page; `member` decides the header and where the link leads.
fn message_page(
    member: Option<&Member>,
    status: StatusCode,
    heading: &str,
    paragraphs: &[&str],
    link: Option<PageLink>,
) -> Response {
    let link = link.or_else(|| Some(home_link(member)));
    let page = StaffMessage {
        frame: Frame::of(member),
        heading: heading.to_owned(),
        paragraphs: paragraphs.iter().map(|text| (*text).to_owned()).collect(),
        link,
    };
    render(status, &page)
}

fn home_link(member: Option<&Member>) -> PageLink {
    match member {
        Some(_) => PageLink::new("/staff", "Zur Übersicht"),
        None => PageLink::new("/staff/login", "Zur Anmeldung"),
    }
}

/// 403 with a reason.
fn forbidden_page(member: Option<&Member>, heading: &str, text: &str) -> Response {
    message_page(member, StatusCode::FORBIDDEN, heading, &[text], None)
}

/// 403: the member's roles do not reach this page.
fn no_permission_page(member: &Member) -> Response {
    forbidden_page(
        Some(member),
        "Keine Berechtigung",
        "Ihr Konto darf diese Seite nicht öffnen. Wenn Sie die Aufgabe brauchen, wenden Sie sich bitte an die \
         Administration.",
    )
}

/// 404 for an office, booking or device that does not exist (here).
fn not_found_page(member: Option<&Member>, heading: &str) -> Response {
    message_page(
        member,
        StatusCode::NOT_FOUND,
        heading,
        &["Vielleicht ist der Link veraltet oder enthält einen Tippfehler."],
        None,
    )
}

/// 500 without internals: the detail goes to the log.
fn internal_page(member: Option<&Member>, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "staff page failed");
    message_page(
        member,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Das hat gerade nicht geklappt",
        &[
            "Bitte versuchen Sie es in einer Minute noch einmal. Besteht der Fehler fort, melden Sie ihn bitte dem Betrieb.",
        ],
        None,
    )
}

/// 503 when a decision lost too many races.
fn busy_page(member: Option<&Member>) -> Response {
    let mut response = message_page(
        member,
        StatusCode::SERVICE_UNAVAILABLE,
        "Gerade ist sehr viel los",
        &["Es wurde nichts geändert. Bitte senden Sie das Formular in einem Moment noch einmal."],
        None,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The page for a [`Problem`] of a shared handler function.
fn problem_page(member: Option<&Member>, problem: &Problem) -> Response {
    match problem.status {
        404 => not_found_page(member, "Nicht gefunden"),
        503 => busy_page(member),
        _ => internal_page(member, &problem.detail),
    }
}

/// The answer to a decision that did not go through for a reason of the
/// store rather than the domain.
fn execute_failure_page<E: std::fmt::Display>(
    member: &Member,
    error: crate::application::ExecuteError<E>,
    rejected: impl FnOnce(E) -> Response,
) -> Response {
    use crate::application::ExecuteError;
    match error {
        ExecuteError::Rejected(reason) => rejected(reason),
        ExecuteError::Contended { .. } => busy_page(Some(member)),
        ExecuteError::Storage(error) => internal_page(Some(member), &error),
    }
}

/// The path segment(s) as text; an unreadable one reads as nothing.
fn path_text<T: Default>(path: Result<Path<T>, PathRejection>) -> T {
    path.map(|Path(value)| value).unwrap_or_default()
}

/// An office a page is about, once the member may do `permission` there.
struct OfficePage {
    pub id: OfficeId,
    pub name: String,
    pub zone: OfficeTimeZone,
}

impl OfficePage {
    /// 403 unless the member may do `permission` at `raw` (asked first, so
    /// nobody learns which offices exist beyond theirs), 404 when it is not
    /// registered.
    #[expect(clippy::result_large_err, reason = "the error is the page answered at once")]
    pub fn find(state: &AppState, member: &Member, raw: &str, permission: Permission) -> Result<OfficePage, Response> {
        let Ok(id) = OfficeId::parse(raw) else {
            return Err(not_found_page(Some(member), "Dieses Bürgerbüro gibt es nicht"));
        };
        if !member.may(permission, Some(&id)) {
            return Err(no_permission_page(member));
        }
        let catalogue = state.catalogue.read();
        let entry = catalogue.office(&id);
        let zone = entry.and_then(|entry| OfficeTimeZone::parse(&entry.timezone).ok());
        match (entry, zone) {
            (Some(entry), Some(zone)) => Ok(OfficePage {
                name: entry.name.clone(),
                id,
                zone,
            }),
            _ => Err(not_found_page(Some(member), "Dieses Bürgerbüro gibt es nicht")),
        }
    }
}

/// A name or address refused by the domain, in German; `empty`: what to say
/// when nothing was given.
fn text_error(error: terminagent_domain::TextError, empty: &str) -> String {
    use terminagent_domain::TextError;
    match error {
        TextError::Empty => empty.to_owned(),
        TextError::TooLong { max, .. } => format!("Bitte höchstens {max} Zeichen."),
        TextError::ControlCharacter => "Der Text enthält unzulässige Steuerzeichen.".to_owned(),
        TextError::WebAddress => "Der Text darf keine Internetadresse enthalten.".to_owned(),
        TextError::InvisibleCharacter => "Der Text enthält unsichtbare Formatierungszeichen.".to_owned(),
    }
}

/// "Dienstag, 01.12.2026".
fn day_label(date: NaiveDate) -> String {
    super::long_date(date)
}

/// A date as staff type it: `2026-12-24` (date inputs) or `24.12.2026`.
fn parse_date(raw: &str) -> Option<terminagent_domain::LocalDate> {
    if let Ok(date) = terminagent_domain::LocalDate::parse(raw) {
        return Some(date);
    }
    let date = NaiveDate::parse_from_str(raw, "%d.%m.%Y").ok()?;
    terminagent_domain::LocalDate::try_from(date).ok()
}

/// A time as staff type it: `08:00` (time inputs; also `8:00`).
fn parse_time(raw: &str) -> Option<terminagent_domain::LocalTime> {
    if let Ok(time) = terminagent_domain::LocalTime::parse(raw) {
        return Some(time);
    }
    // Some browsers send seconds (`08:00:00`); a lone digit hour is common when typed.
    let (hour, rest) = raw.split_once(':')?;
    let minute = rest.get(..2)?;
    terminagent_domain::LocalTime::from_hm(hour.parse().ok()?, minute.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_read_as_typed() {
        assert_eq!(
            parse_date("2026-12-24").map(|d| d.to_string()).as_deref(),
            Some("2026-12-24")
        );
        assert_eq!(
            parse_date("24.12.2026").map(|d| d.to_string()).as_deref(),
            Some("2026-12-24")
        );
        assert_eq!(parse_date("31.02.2026"), None);
        assert_eq!(parse_date("morgen"), None);
        assert_eq!(parse_time("08:00").map(|t| t.to_string()).as_deref(), Some("08:00"));
        assert_eq!(parse_time("8:30").map(|t| t.to_string()).as_deref(), Some("08:30"));
        assert_eq!(parse_time("08:00:00").map(|t| t.to_string()).as_deref(), Some("08:00"));
        assert_eq!(parse_time("25:00"), None);
        assert_eq!(parse_time("acht"), None);
    }

    #[test]
    fn fields_read_the_last_value_and_checkboxes_all() {
        let pairs: Pairs = vec![
            ("a".into(), " 1 ".into()),
            ("a".into(), "2".into()),
            ("b".into(), "".into()),
        ];
        assert_eq!(field(&pairs, "a"), "2");
        assert_eq!(field(&pairs, "b"), "");
        assert_eq!(field(&pairs, "c"), "");
        assert_eq!(values(&pairs, "a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(values(&pairs, "b").count(), 0);
    }
}
