//! The office floor's pages for devices (issue 13): the waiting room's call
//! display `/anzeige/{office}` and the kiosk's screen `/kiosk/{office}`
//! (check-in, and walk-in tickets); and the floor's live feeds the display
//! and the clerk's desk page (`staff/desk.rs`) listen to.
//!
//! - **Device sign-in.** A device's bearer token cannot sensibly be typed
//!   into a URL bar on every start: `GET /anzeige/{office}?token=…` (or
//!   `/kiosk/{office}?token=…`) checks it once and answers 303 to the clean
//!   URL with the cookie `terminagent_device` (`HttpOnly; SameSite=Strict`,
//!   `Path` the device's own page: the display's stream lies under it). Each
//!   later request looks the token up again, so a revoked device stops at
//!   once. Wrong tokens count towards the same per-address limit as wrong
//!   bearer tokens. The JSON API's [`Access`](crate::http::auth::Access) is
//!   not involved.
//! - **Scripts.** Only these pages and the desk page run JavaScript, and only
//!   our own static files (`/assets/anzeige.js`, `/assets/schalter.js`,
//!   `/assets/kiosk.js`): their CSP adds `script-src 'self'` (and
//!   `connect-src 'self'` for the event streams), never inline script.
//! - **Feeds.** [`FloorFeed`] follows the live floor view (no log reads per
//!   listener): the display gets one `call` event per call or recall (`id`:
//!   its log position, so `Last-Event-ID` resumes where it was, as
//!   `/api/v1/offices/{office}/display/stream` does) and a `waiting` event
//!   when the number of waiting visitors changes; the desk page a `changed`
//!   event whenever the office day's floor changed.
//! - **Walk-in tickets** (Düsseldorf's "Terminmarke"). The kiosk's screen
//!   offers the catalogue's walk-in services; `POST /kiosk/{office}/marke`
//!   (the check-in form's protections: our Origin, the device cookie)
//!   draws the ticket through `application::tickets::issue_ticket`, the
//!   JSON API's own path, under the kiosk's actor, and answers 303 to
//!   `/kiosk/{office}/marke/{booking}`: number, time, office, how many are
//!   ahead and the estimated wait (`domain::wait_estimate`, from the day
//!   list and the floor view), the check-in code (re-derived from the
//!   booking id by the link secret) and its QR image (`…/qr.png`, the
//!   mails' PNG), laid out by `site.css` for an 80 mm receipt printer. Only
//!   today's tickets of the office have a page. A refusal shows the screen
//!   again with the choice kept and a German message.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Datelike;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use terminagent_domain::floor::EstimatedCall;
use terminagent_domain::wait_estimate::{self, EstimateBasis, QueuePlace, WaitQuestion, estimate_wait};
use terminagent_domain::{
    BookingId, Call, DeviceKind, FloorDay, FloorError, HolidayRegion, OfficeId, OfficeTimeZone, Permission, Principal,
    ServiceId, TicketError, WaitingNumber,
};
use tokio::sync::watch;

use super::{MessagePage, PageForm, render};
use crate::application::Executor;
use crate::application::display_presence::DisplayWatch;
use crate::application::floor::{self as floor, CheckInRefusal};
use crate::application::staff::hash_token;
use crate::application::tickets::issue_ticket;
use crate::http::AppState;
use crate::projections::{DayListEntry, DayListStatus, FeedCall, FloorView, LiveProjection};

/// The device cookie's name.
const DEVICE_COOKIE: &str = "terminagent_device";
/// How long a device stays signed in without opening `?token=` again (a year).
const DEVICE_COOKIE_SECONDS: i64 = 365 * 24 * 3600;
/// How often an idle stream sends a comment, so proxies keep it open.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// What the pages' streams ask browsers to wait before reconnecting.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// Previous calls the display lists below the latest.
const PREVIOUS_CALLS: usize = 8;

/// The pages' CSP with our own scripts and same-origin event streams allowed.
const SCRIPT_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The device pages' routes and their scripts; `http::router` merges them.
pub(in crate::http) fn routes() -> Router<AppState> {
    Router::new()
        .route("/anzeige/{office}", get(display_page))
        .route("/anzeige/{office}/stream", get(display_stream))
        .route("/kiosk/{office}", get(kiosk_page).post(kiosk_check_in))
        .route("/kiosk/{office}/marke", post(kiosk_draw_ticket))
        .route("/kiosk/{office}/marke/{booking}", get(kiosk_ticket_page))
        .route("/kiosk/{office}/marke/{booking}/qr.png", get(kiosk_ticket_qr))
        .route(
            "/assets/anzeige.js",
            get(|| script(include_str!("../../../templates/anzeige.js"))),
        )
        .route(
            "/assets/schalter.js",
            get(|| script(include_str!("../../../templates/schalter.js"))),
        )
        .route(
            "/assets/kiosk.js",
            get(|| script(include_str!("../../../templates/kiosk.js"))),
        )
}

async fn script(source: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        source,
    )
        .into_response()
}

/// A page that runs our own scripts: the CSP allows `'self'` scripts and streams.
pub(super) fn with_scripts(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SCRIPT_CONTENT_SECURITY_POLICY),
    );
    response
}

// --- device sign-in ----------------------------------------------------------------

/// Which device page: where its cookie applies and what its token must allow.
#[derive(Debug, Clone, Copy)]
enum DevicePage {
    Display,
    Kiosk,
}

impl DevicePage {
    fn prefix(self) -> &'static str {
        match self {
            DevicePage::Display => "/anzeige",
            DevicePage::Kiosk => "/kiosk",
        }
    }

    fn permission(self) -> Permission {
        match self {
            DevicePage::Display => Permission::ReadDisplay,
            DevicePage::Kiosk => Permission::CheckIn,
        }
    }

    fn path(self, office: &OfficeId) -> String {
        format!("{}/{office}", self.prefix())
    }
}

#[derive(Debug, Default, Deserialize)]
struct DeviceQuery {
    token: Option<String>,
    /// The display's stream: resume after this log position (a fresh
    /// `EventSource` cannot send `Last-Event-ID`).
    after: Option<u64>,
}

/// Who the device is, once its token (from the URL or the cookie) allows the page.
struct Device {
    principal: Principal,
    office: OfficeId,
    zone: OfficeTimeZone,
    office_name: String,
}

fn client_of(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|axum::extract::ConnectInfo(address)| address.ip())
}

fn device_cookie(headers: &HeaderMap) -> Option<&str> {
    super::cookie(headers, DEVICE_COOKIE)
}

fn device_message(status: StatusCode, heading: &str, text: &str) -> Response {
    MessagePage::new(heading).paragraph(text).respond(status)
}

fn unknown_office() -> Response {
    device_message(
        StatusCode::NOT_FOUND,
        "Dieses Bürgerbüro gibt es nicht",
        "Bitte prüfen Sie die Adresse, die im Gerät eingetragen ist.",
    )
}

/// The device behind `token`, if it may open `page` at `office`.
async fn principal_of(state: &AppState, token: &str) -> Option<Principal> {
    let hash = hash_token(token);
    let found = state.staff.read().principal_for(&hash);
    if found.is_some() {
        return found;
    }
    // Registered a moment ago, perhaps by another process.
    state.catch_up_views().await.ok()?;
    state.staff.read().principal_for(&hash)
}

/// Checks the token of the URL or the cookie. `Err` is the page to answer:
/// 429 while the address is throttled, 401 without a (valid) token, 403 for
/// a token of another office or kind, 404 for an office that does not exist.
async fn device_of(
    state: &AppState,
    page: DevicePage,
    raw_office: &str,
    token: Option<&str>,
    client: Option<IpAddr>,
) -> Result<Device, Response> {
    let Ok(office) = OfficeId::parse(raw_office) else {
        return Err(unknown_office());
    };
    if let Some(client) = client
        && let Err(wait) = state.failed_auth.check(&crate::http::auth::client_key(client))
    {
        let mut response = device_message(
            StatusCode::TOO_MANY_REQUESTS,
            "Zu viele ungültige Zugänge",
            "Von diesem Gerät kamen zu viele ungültige Zugangstoken. Bitte warten Sie einige Minuten.",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        return Err(response);
    }
    let Some(token) = token.filter(|token| !token.is_empty()) else {
        return Err(device_message(
            StatusCode::UNAUTHORIZED,
            "Gerät nicht angemeldet",
            &format!(
                "Bitte öffnen Sie einmal die Adresse {}?token=… mit dem Zugangstoken, das die Leitung beim \
                 Registrieren des Geräts erhalten hat.",
                page.path(&office)
            ),
        ));
    };
    let Some(principal) = principal_of(state, token).await else {
        if let Some(client) = client {
            state.failed_auth.record_failure(&crate::http::auth::client_key(client));
        }
        return Err(device_message(
            StatusCode::UNAUTHORIZED,
            "Zugangstoken ungültig",
            "Das Zugangstoken ist nicht (mehr) gültig. Bitte lassen Sie das Gerät von der Leitung neu registrieren.",
        ));
    };
    if !principal.may(page.permission(), Some(&office)) {
        return Err(device_message(
            StatusCode::FORBIDDEN,
            "Keine Berechtigung",
            "Dieses Gerät ist für eine andere Aufgabe oder ein anderes Bürgerbüro registriert.",
        ));
    }
    let catalogue = state.catalogue.read();
    let entry = catalogue.office(&office);
    match (
        entry,
        entry.and_then(|entry| OfficeTimeZone::parse(&entry.timezone).ok()),
    ) {
        (Some(entry), Some(zone)) => Ok(Device {
            principal,
            office_name: entry.name.clone(),
            office,
            zone,
        }),
        _ => Err(unknown_office()),
    }
}

/// `?token=` → 303 to the clean URL with the device cookie; else the cookie's device.
async fn signed_device(
    state: &AppState,
    page: DevicePage,
    raw_office: &str,
    query: &DeviceQuery,
    headers: &HeaderMap,
    client: Option<IpAddr>,
) -> Result<Device, Response> {
    if let Some(token) = query.token.as_deref() {
        let device = device_of(state, page, raw_office, Some(token), client).await?;
        let path = page.path(&device.office);
        let secure = if state.public_url.is_https() { "; Secure" } else { "" };
        let cookie = format!(
            "{DEVICE_COOKIE}={token}; Max-Age={DEVICE_COOKIE_SECONDS}; Path={path}; HttpOnly; SameSite=Strict{secure}"
        );
        let Ok(cookie) = HeaderValue::from_str(&cookie) else {
            return Err(device_message(
                StatusCode::UNAUTHORIZED,
                "Zugangstoken ungültig",
                "Das Zugangstoken enthält unzulässige Zeichen.",
            ));
        };
        let location = HeaderValue::from_str(&path).unwrap_or_else(|_| HeaderValue::from_static("/"));
        return Err((
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, cookie),
                (header::LOCATION, location),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
            ],
        )
            .into_response());
    }
    device_of(state, page, raw_office, device_cookie(headers), client).await
}

fn path_text(path: Result<Path<String>, PathRejection>) -> String {
    path.map(|Path(value)| value).unwrap_or_default()
}

/// "09:45" in the office's zone.
pub(super) fn clock_time(zone: OfficeTimeZone, instant: chrono::DateTime<chrono::Utc>) -> String {
    zone.to_local(instant).format("%H:%M").to_string()
}

/// Read-your-writes for the floor view alone.
pub(super) async fn floor_caught_up(state: &AppState) -> Result<(), terminagent_eventstore::StorageError> {
    let head = state.executor.store().catch_up().await?;
    state.floor.caught_up_to(head).await;
    Ok(())
}

// --- the call display --------------------------------------------------------------

pub(super) struct CallRow {
    pub number: String,
    pub counter: String,
    pub time: String,
    pub recall: bool,
}

fn call_row(zone: OfficeTimeZone, call: &Call) -> CallRow {
    CallRow {
        number: call.number.to_string(),
        counter: call.counter.to_string(),
        time: clock_time(zone, call.called_at),
        recall: call.recall,
    }
}

#[derive(Template)]
#[template(path = "anzeige.html")]
pub(super) struct DisplayPage {
    pub office_name: String,
    pub latest: Option<CallRow>,
    pub previous: Vec<CallRow>,
    pub waiting: usize,
    /// The stream with `?after=` the position this page shows.
    pub stream: String,
}

impl DisplayPage {
    /// The display as of now; `stream_path` is where its events come from.
    pub fn now(state: &AppState, office: &OfficeId, zone: OfficeTimeZone, name: &str, stream_path: &str) -> Self {
        let today = zone.today(state.executor.now());
        let view = state.floor.read();
        let position = state.floor.position();
        let (mut calls, waiting) = match view.day(office, today) {
            Some(day) => (
                day.calls()
                    .iter()
                    .rev()
                    .map(|call| call_row(zone, call))
                    .collect::<Vec<_>>(),
                day.waiting_count(),
            ),
            None => (Vec::new(), 0),
        };
        calls.truncate(PREVIOUS_CALLS + 1);
        let latest = (!calls.is_empty()).then(|| calls.remove(0));
        DisplayPage {
            office_name: name.to_owned(),
            latest,
            previous: calls,
            waiting,
            stream: format!("{stream_path}?after={position}"),
        }
    }
}

/// `GET /anzeige/{office}` (display token, once as `?token=`).
async fn display_page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<DeviceQuery>, axum::extract::rejection::QueryRejection>,
    request: axum::extract::Request,
) -> Response {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    let client = client_of(request.extensions());
    let device = match signed_device(
        &state,
        DevicePage::Display,
        &path_text(path),
        &query,
        request.headers(),
        client,
    )
    .await
    {
        Ok(device) => device,
        Err(response) => return response,
    };
    if let Err(error) = floor_caught_up(&state).await {
        tracing::error!(%error, "the call display cannot catch up");
    }
    let stream = format!("/anzeige/{}/stream", device.office);
    let page = DisplayPage::now(&state, &device.office, device.zone, &device.office_name, &stream);
    with_scripts(render(StatusCode::OK, &page))
}

/// `GET /anzeige/{office}/stream`: the display's events (device cookie).
async fn display_stream(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<DeviceQuery>, axum::extract::rejection::QueryRejection>,
    request: axum::extract::Request,
) -> Response {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    let client = client_of(request.extensions());
    let raw = path_text(path);
    let cookie = device_cookie(request.headers());
    let device = match device_of(&state, DevicePage::Display, &raw, cookie, client).await {
        Ok(device) => device,
        Err(response) => return response,
    };
    // The display's own stream is its sign of life for the staff.
    let watch = match device.principal {
        Principal::Device {
            device: id,
            kind: DeviceKind::Display,
            ..
        } => Some(DisplayWatch::start(&state.executor, id, device.office.clone())),
        _ => None,
    };
    display_events(
        &state,
        device.office,
        device.zone,
        request.headers(),
        query.after,
        watch,
    )
    .await
    .into_response()
}

/// Where a stream starts: `Last-Event-ID` (a reconnect), else `after`, else now.
async fn resume_point(state: &AppState, headers: &HeaderMap, after: Option<u64>) -> u64 {
    let resume = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    match resume.or(after) {
        Some(position) => position,
        None => {
            if let Err(error) = floor_caught_up(state).await {
                tracing::warn!(%error, "a floor stream starts without catching up");
            }
            state.floor.position()
        }
    }
}

/// One call as the display's stream sends it (the JSON API's `DisplayedCall`).
#[derive(Debug, Serialize)]
struct StreamedCall {
    number: String,
    counter: String,
    called_at: String,
    recall: bool,
}

/// The display's event stream for `office`.
pub(super) async fn display_events(
    state: &AppState,
    office: OfficeId,
    zone: OfficeTimeZone,
    headers: &HeaderMap,
    after: Option<u64>,
    watch: Option<DisplayWatch>,
) -> Sse<impl Stream<Item = Result<Event, axum::Error>> + use<>> {
    let after = resume_point(state, headers, after).await;
    let feed = FloorFeed::new(state, office, zone, after, FeedKind::Display).watched_by(watch);
    let events = futures::stream::unfold(feed, |mut feed| async move {
        let item = feed.next().await?;
        let event = match item {
            FeedItem::Call(call) => {
                Event::default()
                    .event("call")
                    .id(call.position.to_string())
                    .json_data(StreamedCall {
                        number: call.call.number.to_string(),
                        counter: call.call.counter.to_string(),
                        called_at: feed.zone.to_local(call.call.called_at).to_rfc3339(),
                        recall: call.call.recall,
                    })
            }
            FeedItem::Waiting(waiting) => Ok(Event::default().event("waiting").data(waiting.to_string())),
            FeedItem::Changed(position) => Ok(Event::default().event("changed").data(position.to_string())),
        };
        Some((event, feed))
    });
    Sse::new(reconnect_soon().chain(events)).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
}

/// The browser's wait before reconnecting a dropped stream (its default is
/// about 3 s): after a restart the display shows calls again within a second.
fn reconnect_soon() -> impl Stream<Item = Result<Event, axum::Error>> {
    futures::stream::once(async { Ok(Event::default().retry(RECONNECT_AFTER)) })
}

/// The desk page's event stream: `changed` whenever the office day's floor changed.
pub(super) fn desk_events(
    state: &AppState,
    office: OfficeId,
    zone: OfficeTimeZone,
) -> Sse<impl Stream<Item = Result<Event, axum::Error>> + use<>> {
    let feed = FloorFeed::new(state, office, zone, state.floor.position(), FeedKind::Desk);
    let events = futures::stream::unfold(feed, |mut feed| async move {
        let event = match feed.next().await? {
            FeedItem::Changed(position) => Event::default().event("changed").data(position.to_string()),
            FeedItem::Waiting(waiting) => Event::default().event("waiting").data(waiting.to_string()),
            FeedItem::Call(call) => Event::default().event("changed").data(call.position.to_string()),
        };
        Some((Ok(event), feed))
    });
    Sse::new(reconnect_soon().chain(events)).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeedKind {
    /// Calls after a position, and the waiting count when it changes.
    Display,
    /// A mark whenever today's floor changed.
    Desk,
}

enum FeedItem {
    Call(FeedCall),
    Waiting(usize),
    Changed(u64),
}

/// An office's floor as it moves on, read from the live view.
struct FloorFeed {
    floor: Arc<LiveProjection<FloorView>>,
    changes: watch::Receiver<u64>,
    /// Ends the stream when the server shuts down.
    shutdown: watch::Receiver<bool>,
    executor: Executor,
    office: OfficeId,
    zone: OfficeTimeZone,
    kind: FeedKind,
    after: u64,
    /// The waiting count last sent (display) / the day last seen (desk).
    waiting: Option<usize>,
    day: Option<FloorDay>,
    pending: VecDeque<FeedItem>,
    /// A display's presence, held while its stream lives.
    _watch: Option<DisplayWatch>,
}

impl FloorFeed {
    fn watched_by(mut self, watch: Option<DisplayWatch>) -> Self {
        self._watch = watch;
        self
    }

    fn new(state: &AppState, office: OfficeId, zone: OfficeTimeZone, after: u64, kind: FeedKind) -> Self {
        let mut feed = FloorFeed {
            floor: state.floor.clone(),
            changes: state.floor.changes(),
            shutdown: state.shutdown.clone(),
            executor: state.executor.clone(),
            office,
            zone,
            kind,
            after,
            waiting: None,
            day: None,
            pending: VecDeque::new(),
            _watch: None,
        };
        if kind == FeedKind::Desk {
            // The page shows the day as it is: only later changes matter.
            feed.day = Some(feed.today().unwrap_or_default());
        }
        feed
    }

    /// Today's floor of the office as the view has it now.
    fn today(&self) -> Option<FloorDay> {
        let today = self.zone.today(self.executor.now());
        self.floor.read().day(&self.office, today).cloned()
    }

    /// The next item; `None` when the stream should end.
    async fn next(&mut self) -> Option<FeedItem> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            // Mark before reading: a change during the read wakes the wait below.
            self.changes.borrow_and_update();
            self.look();
            if !self.pending.is_empty() {
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

    /// Queues what changed since the last look.
    fn look(&mut self) {
        let today = self.zone.today(self.executor.now());
        let view = self.floor.read();
        let day = view.day(&self.office, today);
        match self.kind {
            FeedKind::Display => {
                let calls = view.calls_after(&self.office, self.after);
                if let Some(last) = calls.last() {
                    self.after = last.position;
                }
                self.pending.extend(calls.iter().cloned().map(FeedItem::Call));
                let waiting = day.map_or(0, FloorDay::waiting_count);
                if self.waiting != Some(waiting) {
                    self.waiting = Some(waiting);
                    self.pending.push_back(FeedItem::Waiting(waiting));
                }
            }
            FeedKind::Desk => {
                let empty = FloorDay::default();
                let day = day.unwrap_or(&empty);
                if self.day.as_ref() != Some(day) {
                    self.day = Some(day.clone());
                    self.pending.push_back(FeedItem::Changed(self.floor.position()));
                }
            }
        }
    }
}

// --- the kiosk's check-in screen ---------------------------------------------------

/// What the kiosk answers a code.
pub(super) struct KioskAnswer {
    pub heading: String,
    pub text: Option<String>,
    /// `notice` for a check-in, `alert` for anything the visitor must act on.
    pub success: bool,
}

/// A walk-in service on the kiosk's ticket form.
struct WalkInChoice {
    id: String,
    name: String,
    minutes: u32,
    chosen: bool,
}

/// Why no ticket was drawn, shown in the ticket form.
struct TicketRefusal {
    heading: String,
    text: String,
    /// The choice itself is wrong (nothing chosen, a service unknown): the
    /// message goes to the choices, else above the form.
    choice: bool,
}

#[derive(Template)]
#[template(path = "kiosk.html")]
struct KioskPage {
    office_name: String,
    action: String,
    answer: Option<KioskAnswer>,
    error: Option<String>,
    /// Where the ticket form posts.
    ticket_action: String,
    /// The office's walk-in services (none: no ticket form).
    services: Vec<WalkInChoice>,
    ticket_error: Option<TicketRefusal>,
}

impl KioskPage {
    fn ticket_choice_error(&self) -> Option<&TicketRefusal> {
        self.ticket_error.as_ref().filter(|refusal| refusal.choice)
    }
}

/// The kiosk's screen, the services named in `chosen` ticked.
fn kiosk_page_of(state: &AppState, device: &Device, chosen: &[String]) -> KioskPage {
    let mut services: Vec<WalkInChoice> = state
        .catalogue
        .read()
        .services()
        .filter(|service| service.walk_in)
        .map(|service| WalkInChoice {
            id: service.id.clone(),
            name: service.name.clone(),
            minutes: service.duration_minutes,
            chosen: chosen.contains(&service.id),
        })
        .collect();
    services.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    let action = DevicePage::Kiosk.path(&device.office);
    KioskPage {
        office_name: device.office_name.clone(),
        ticket_action: format!("{action}/marke"),
        action,
        answer: None,
        error: None,
        services,
        ticket_error: None,
    }
}

/// The kiosk's page; the Referer goes to our own origin (browsers send
/// `Origin: null` on a form posted from a `no-referrer` page, and the Origin
/// check needs the real one). Its URL carries nothing secret after sign-in.
fn kiosk_render(status: StatusCode, page: &KioskPage) -> Response {
    let mut response = with_scripts(render(status, page));
    response
        .headers_mut()
        .insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// `GET /kiosk/{office}` (kiosk token, once as `?token=`): the empty form.
async fn kiosk_page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<DeviceQuery>, axum::extract::rejection::QueryRejection>,
    request: axum::extract::Request,
) -> Response {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    let client = client_of(request.extensions());
    match signed_device(
        &state,
        DevicePage::Kiosk,
        &path_text(path),
        &query,
        request.headers(),
        client,
    )
    .await
    {
        Ok(device) => kiosk_render(StatusCode::OK, &kiosk_page_of(&state, &device, &[])),
        Err(response) => response,
    }
}

const INFORMATION: &str = "Bitte wenden Sie sich an die Information";

/// `POST /kiosk/{office}`: checks the code in (typed, or a hand scanner's input).
async fn kiosk_check_in(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    request: axum::extract::Request,
) -> Response {
    if !super::staff::same_origin_request(request.headers(), request.uri(), &state) {
        return device_message(
            StatusCode::FORBIDDEN,
            "Anfrage von fremder Seite",
            "Dieses Formular wurde nicht vom Kiosk abgeschickt. Es wurde nichts geändert.",
        );
    }
    let client = client_of(request.extensions());
    let cookie = device_cookie(request.headers()).map(str::to_owned);
    let device = match device_of(&state, DevicePage::Kiosk, &path_text(path), cookie.as_deref(), client).await {
        Ok(device) => device,
        Err(response) => return response,
    };
    let PageForm(fields) = match PageForm::<Vec<(String, String)>>::from_request(request, &state).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let code = fields
        .iter()
        .rev()
        .find(|(name, _)| name == "code")
        .map_or("", |(_, value)| value.trim());
    let mut page = kiosk_page_of(&state, &device, &[]);
    if code.is_empty() {
        page.error = Some("Bitte geben Sie Ihren Anmeldecode ein oder halten Sie den QR-Code an den Scanner.".into());
        return kiosk_render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let (status, answer) = check_in_answer(&state, &device, code).await;
    page.answer = Some(answer);
    kiosk_render(status, &page)
}

fn information(status: StatusCode, text: Option<&str>) -> (StatusCode, KioskAnswer) {
    (
        status,
        KioskAnswer {
            heading: INFORMATION.to_owned(),
            text: text.map(str::to_owned),
            success: false,
        },
    )
}

async fn check_in_answer(state: &AppState, device: &Device, code: &str) -> (StatusCode, KioskAnswer) {
    let hash = crate::links::code_hash(&crate::links::canonical_checkin_code(code));
    let mut booking = state.floor.read().booking_of_code(&hash);
    if booking.is_none() {
        if let Err(error) = floor_caught_up(state).await {
            tracing::error!(%error, "kiosk check-in cannot catch up");
        }
        booking = state.floor.read().booking_of_code(&hash);
    }
    let Some(booking) = booking else {
        return information(StatusCode::NOT_FOUND, Some("Zu diesem Code finden wir keinen Termin."));
    };
    // The call window shown below, recorded on the check-in for the statistics.
    let estimate = check_in_estimate(state, device, booking).await;
    let checked = floor::check_in_estimated(
        &state.executor,
        state.floor_policy,
        state.new_cause(device.principal.actor()),
        &device.office,
        device.zone,
        booking,
        estimate,
    )
    .await;
    match checked {
        Ok(checked) => {
            if let Err(error) = floor_caught_up(state).await {
                tracing::warn!(%error, "kiosk check-in: the floor view lags");
            }
            let today = device.zone.today(state.executor.now());
            let ahead = state
                .floor
                .read()
                .day(&device.office, today)
                .and_then(|day| day.ahead_of(&checked.booking));
            let text = match ahead {
                Some(0) => "Sie sind als Nächstes an der Reihe. Bitte achten Sie auf die Anzeige.".to_owned(),
                Some(1) => "Vor Ihnen wartet eine Person. Bitte achten Sie auf die Anzeige.".to_owned(),
                Some(n) => format!("Vor Ihnen warten {n} Personen. Bitte achten Sie auf die Anzeige."),
                None => "Bitte achten Sie auf die Anzeige.".to_owned(),
            };
            let text = match estimate {
                Some(window) => format!(
                    "{text} Aufruf etwa {} bis {} Uhr.",
                    clock_time(device.zone, window.earliest),
                    clock_time(device.zone, window.latest)
                ),
                None => text,
            };
            (
                StatusCode::OK,
                KioskAnswer {
                    heading: format!("Sie sind eingecheckt – Ihre Wartenummer {}", checked.number),
                    text: Some(text),
                    success: true,
                },
            )
        }
        Err(crate::application::ExecuteError::Rejected(CheckInRefusal::Floor(FloorError::TooEarly { from }))) => (
            StatusCode::CONFLICT,
            KioskAnswer {
                heading: format!("Zu früh – bitte ab {} wieder", clock_time(device.zone, from)),
                text: Some(format!(
                    "Die Anmeldung ist ab {} Minuten vor Ihrem Termin möglich.",
                    state.floor_policy.check_in_early.num_minutes()
                )),
                success: false,
            },
        ),
        Err(crate::application::ExecuteError::Rejected(_)) => information(StatusCode::CONFLICT, None),
        Err(crate::application::ExecuteError::Contended { .. }) => information(StatusCode::SERVICE_UNAVAILABLE, None),
        Err(crate::application::ExecuteError::Storage(error)) => {
            tracing::error!(%error, "kiosk check-in failed");
            information(StatusCode::INTERNAL_SERVER_ERROR, None)
        }
    }
}

// --- the kiosk's walk-in tickets ---------------------------------------------------

/// The kiosk's own device, from its cookie, for the ticket routes; `Err` is
/// the page to answer (as for the other kiosk routes).
async fn kiosk_device(
    state: &AppState,
    raw_office: &str,
    headers: &HeaderMap,
    client: Option<IpAddr>,
) -> Result<Device, Response> {
    device_of(state, DevicePage::Kiosk, raw_office, device_cookie(headers), client).await
}

/// `POST /kiosk/{office}/marke`: draws a walk-in ticket for the chosen
/// services through the JSON API's own decision, then 303 to its page;
/// a refusal shows the kiosk's screen again with the choice kept.
async fn kiosk_draw_ticket(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    request: axum::extract::Request,
) -> Response {
    if !super::staff::same_origin_request(request.headers(), request.uri(), &state) {
        return device_message(
            StatusCode::FORBIDDEN,
            "Anfrage von fremder Seite",
            "Dieses Formular wurde nicht vom Kiosk abgeschickt. Es wurde nichts geändert.",
        );
    }
    let client = client_of(request.extensions());
    let device = match kiosk_device(&state, &path_text(path), request.headers(), client).await {
        Ok(device) => device,
        Err(response) => return response,
    };
    if !device.principal.may(Permission::IssueTicket, Some(&device.office)) {
        return device_message(
            StatusCode::FORBIDDEN,
            "Keine Berechtigung",
            "Dieses Gerät darf keine Wartemarken ausgeben.",
        );
    }
    let PageForm(fields) = match PageForm::<Vec<(String, String)>>::from_request(request, &state).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let chosen: Vec<String> = fields
        .into_iter()
        .filter(|(name, _)| name == "services")
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .collect();
    let refused = |status: StatusCode, refusal: TicketRefusal| {
        let mut page = kiosk_page_of(&state, &device, &chosen);
        page.ticket_error = Some(refusal);
        kiosk_render(status, &page)
    };
    if chosen.is_empty() {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            choice_refusal("Bitte wählen Sie mindestens ein Anliegen."),
        );
    }
    let Ok(services) = chosen
        .iter()
        .map(|id| ServiceId::parse(id))
        .collect::<Result<Vec<_>, _>>()
    else {
        return refused(StatusCode::UNPROCESSABLE_ENTITY, unknown_service_refusal());
    };
    let issued = issue_ticket(
        &state.executor,
        &state.availability,
        &state.link_secret,
        state.new_cause(device.principal.actor()),
        device.office.clone(),
        services,
    )
    .await;
    match issued {
        Ok(issued) => {
            // Read-your-writes: the ticket page reads the day list and the floor.
            if let Err(error) = state.catch_up_views().await {
                tracing::warn!(?error, "kiosk ticket: the views lag");
            }
            let location = format!(
                "{}/marke/{}",
                DevicePage::Kiosk.path(&device.office),
                issued.ticket.booking
            );
            let location = HeaderValue::from_str(&location).unwrap_or_else(|_| HeaderValue::from_static("/"));
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, location),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
            )
                .into_response()
        }
        Err(error) => {
            let (status, refusal) = ticket_refusal(&state, &device, error);
            refused(status, refusal)
        }
    }
}

fn choice_refusal(text: &str) -> TicketRefusal {
    TicketRefusal {
        heading: "Bitte prüfen Sie Ihre Auswahl".to_owned(),
        text: text.to_owned(),
        choice: true,
    }
}

fn unknown_service_refusal() -> TicketRefusal {
    choice_refusal("Eines der gewählten Anliegen gibt es nicht (mehr). Bitte wählen Sie erneut.")
}

/// A refused draw as the kiosk tells it, with its status.
fn ticket_refusal(
    state: &AppState,
    device: &Device,
    error: crate::application::ExecuteError<TicketError>,
) -> (StatusCode, TicketRefusal) {
    use crate::application::ExecuteError;
    let conflict = |heading: &str, text: String| {
        (
            StatusCode::CONFLICT,
            TicketRefusal {
                heading: heading.to_owned(),
                text,
                choice: false,
            },
        )
    };
    match error {
        ExecuteError::Rejected(TicketError::UnknownOffice(_)) => (
            StatusCode::NOT_FOUND,
            TicketRefusal {
                heading: "Dieses Bürgerbüro gibt es nicht".to_owned(),
                text: "Bitte wenden Sie sich an die Information.".to_owned(),
                choice: false,
            },
        ),
        ExecuteError::Rejected(TicketError::UnknownService(_)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, unknown_service_refusal())
        }
        ExecuteError::Rejected(TicketError::ServiceCount(_) | TicketError::DuplicateService(_)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            choice_refusal(&format!(
                "Bitte wählen Sie 1 bis {} verschiedene Anliegen.",
                terminagent_domain::booking::MAX_BOOKING_SERVICES
            )),
        ),
        ExecuteError::Rejected(TicketError::NotWalkIn(service)) => {
            let name = state
                .catalogue
                .read()
                .service(&service)
                .map_or_else(|| service.to_string(), |entry| entry.name.clone());
            conflict(
                "Nur mit Termin",
                format!(
                    "„{name}“ erledigen wir nur mit Termin. Bitte buchen Sie dafür einen Termin oder wählen Sie \
                     ein anderes Anliegen."
                ),
            )
        }
        ExecuteError::Rejected(
            TicketError::NoSlotToday
            | TicketError::WaitlistBehind
            | TicketError::UnreadUnits
            | TicketError::NumbersExhausted { .. },
        ) => match closed_now(state, device) {
            Some(reason) => conflict(
                "Das Bürgerbüro hat jetzt geschlossen",
                format!("Wartemarken gibt es nur während der Öffnungszeiten: {reason}. Bitte buchen Sie einen Termin."),
            ),
            None => conflict(
                "Heute sind keine Wartemarken mehr frei",
                "Für diese Anliegen ist heute keine Zeit mehr frei. Bitte buchen Sie einen Termin für einen \
                 anderen Tag oder wenden Sie sich an die Information."
                    .to_owned(),
            ),
        },
        ExecuteError::Contended { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            TicketRefusal {
                heading: "Gerade ist viel los".to_owned(),
                text: "Die Wartemarke konnte nicht ausgegeben werden. Bitte versuchen Sie es gleich noch einmal."
                    .to_owned(),
                choice: false,
            },
        ),
        ExecuteError::Storage(error) => {
            tracing::error!(%error, "kiosk ticket failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                TicketRefusal {
                    heading: INFORMATION.to_owned(),
                    text: "Die Wartemarke konnte nicht ausgegeben werden.".to_owned(),
                    choice: false,
                },
            )
        }
    }
}

/// Why the office is closed now, by its calendar (holiday, own closed day,
/// closed weekday, or today's hours over), if it is.
fn closed_now(state: &AppState, device: &Device) -> Option<String> {
    let catalogue = state.catalogue.read();
    let office = catalogue.office(&device.office)?;
    let local = device.zone.to_local(state.executor.now());
    let today = local.date_naive();
    if let Some(region) = office
        .holidays
        .as_deref()
        .and_then(|code| HolidayRegion::parse(code).ok())
        && let Some(name) = region.holiday(today)
    {
        return Some(format!("heute ist Feiertag ({name})"));
    }
    if office.closed_days.contains(&today.to_string()) {
        return Some("heute ist das Bürgerbüro geschlossen".to_owned());
    }
    let hours = office.opening_hours.as_ref()?;
    let intervals = hours.day(today.weekday());
    if intervals.is_empty() {
        return Some(format!(
            "{}s ist das Bürgerbüro geschlossen",
            crate::german::weekday(today.weekday())
        ));
    }
    let time = local.time();
    intervals
        .iter()
        .all(|interval| interval.to().as_naive() <= time)
        .then(|| "die Öffnungszeiten für heute sind vorbei".to_owned())
}

#[derive(Template)]
#[template(path = "kiosk_ticket.html")]
struct TicketPage {
    office_name: String,
    office_address: Vec<String>,
    booking: String,
    number: String,
    time: String,
    date: String,
    services: String,
    ahead_text: String,
    wait_text: String,
    call_window: String,
    basis_note: String,
    code: String,
    qr_src: String,
    check_in_hint: String,
    as_of: String,
    back: String,
}

/// Confirmed, and perhaps on the floor since: neither cancelled, lapsed nor
/// waiting for its confirmation.
fn booked(entry: &DayListEntry) -> bool {
    !matches!(
        entry.status,
        DayListStatus::PendingConfirmation | DayListStatus::Cancelled | DayListStatus::Lapsed
    )
}

/// One of today's walk-in tickets of the device's office, as the day list has it.
fn todays_ticket(state: &AppState, device: &Device, booking: BookingId) -> Option<DayListEntry> {
    let today = device.zone.today(state.executor.now());
    state
        .day_list
        .read()
        .day(&device.office, today)
        .into_iter()
        .find(|entry| entry.booking == booking && entry.citizen.is_none() && booked(entry) && entry.number.is_some())
}

/// The ticket `raw` names, once the views caught up if they do not know it yet.
async fn find_ticket(state: &AppState, device: &Device, raw: &str) -> Option<DayListEntry> {
    let booking = BookingId::parse(raw).ok()?;
    if let Some(entry) = todays_ticket(state, device, booking) {
        return Some(entry);
    }
    if let Err(error) = state.catch_up_views().await {
        tracing::warn!(?error, "kiosk ticket page cannot catch up");
    }
    todays_ticket(state, device, booking)
}

fn unknown_ticket(device: &Device) -> Response {
    MessagePage::new("Diese Wartemarke gibt es nicht")
        .paragraph("Zu dieser Adresse finden wir keine Wartemarke von heute. Bitte ziehen Sie eine neue Wartemarke.")
        .link(super::PageLink::new(
            DevicePage::Kiosk.path(&device.office),
            "Zurück zum Start",
        ))
        .respond(StatusCode::NOT_FOUND)
}

/// The question for the wait estimate: the ticket's place among today's
/// visitors as the day list and the floor view have them now.
fn wait_question(state: &AppState, device: &Device, ticket: &DayListEntry) -> WaitQuestion {
    let now = state.executor.now();
    let today = device.zone.today(now);
    let place_of = |entry: &DayListEntry| {
        Some(QueuePlace {
            start: entry.start,
            number: entry.number?,
            planned: entry.end - entry.start,
        })
    };
    let places: HashMap<BookingId, QueuePlace> = state
        .day_list
        .read()
        .day(&device.office, today)
        .iter()
        .filter(|entry| booked(entry))
        .filter_map(|entry| Some((entry.booking, place_of(entry)?)))
        .collect();
    let own = place_of(ticket).unwrap_or(QueuePlace {
        start: ticket.start,
        number: WaitingNumber::nth(1).expect("1 is a waiting number"),
        planned: ticket.end - ticket.start,
    });
    let check_in_late = state.floor_policy.check_in_late;
    let floor = state.floor.read();
    let day = floor.day(&device.office, today).cloned().unwrap_or_default();
    let expected = floor
        .not_arrived(now - check_in_late, ticket.end)
        .into_iter()
        .filter_map(|booking| places.get(&booking).copied())
        .collect();
    drop(floor);
    let waiting = day
        .waiting()
        .map(|visit| {
            places.get(&visit.booking).copied().unwrap_or(QueuePlace {
                start: visit.start,
                number: visit.number,
                planned: own.planned,
            })
        })
        .collect();
    WaitQuestion {
        now,
        ticket: own,
        waiting,
        expected,
        check_in_late,
        open_counters: wait_estimate::open_counters(&day),
        processing: wait_estimate::processing_times(&day),
    }
}

/// The call window the kiosk estimates for `booking` checking in now (one
/// of today's bookings at the device's office, as the day list has it).
async fn check_in_estimate(state: &AppState, device: &Device, booking: BookingId) -> Option<EstimatedCall> {
    let today = device.zone.today(state.executor.now());
    let find = || {
        state
            .day_list
            .read()
            .day(&device.office, today)
            .into_iter()
            .find(|entry| entry.booking == booking && booked(entry) && entry.number.is_some())
    };
    let entry = match find() {
        Some(entry) => entry,
        // Booked a moment ago: the day list may lag behind the floor view.
        None => {
            if let Err(error) = state.catch_up_views().await {
                tracing::warn!(?error, "kiosk check-in: no estimate, the views lag");
            }
            find()?
        }
    };
    let estimate = estimate_wait(&wait_question(state, device, &entry));
    Some(EstimatedCall {
        earliest: estimate.earliest,
        latest: estimate.latest,
    })
}

fn ticket_page_of(state: &AppState, device: &Device, ticket: &DayListEntry) -> TicketPage {
    let question = wait_question(state, device, ticket);
    let estimate = estimate_wait(&question);
    let now = question.now;
    let zone = device.zone;
    let catalogue = state.catalogue.read();
    let office_address = catalogue
        .office(&device.office)
        .map(|office| {
            office
                .address
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let services = ticket
        .services
        .iter()
        .map(|service| {
            catalogue
                .service(service)
                .map_or_else(|| service.to_string(), |entry| entry.name.clone())
        })
        .collect::<Vec<_>>()
        .join(", ");
    drop(catalogue);
    let ahead_text = match estimate.ahead {
        0 => "niemand – Sie sind als Nächstes an der Reihe".to_owned(),
        1 => "1 Person".to_owned(),
        n => format!("{n} Personen"),
    };
    let wait_text = if estimate.low_minutes == 0 {
        format!("bis zu {} Minuten", estimate.high_minutes)
    } else {
        format!("{} bis {} Minuten", estimate.low_minutes, estimate.high_minutes)
    };
    let call_window = if estimate.low_minutes == 0 {
        format!("Aufruf bis etwa {} Uhr", clock_time(zone, estimate.latest))
    } else {
        format!(
            "Aufruf etwa {} bis {} Uhr",
            clock_time(zone, estimate.earliest),
            clock_time(zone, estimate.latest)
        )
    };
    let basis_note = match estimate.basis {
        EstimateBasis::ProcessingTimes { finished } => format!(
            "geschätzt nach den heutigen Bearbeitungszeiten ({finished} {})",
            if finished == 1 { "Vorgang" } else { "Vorgänge" }
        ),
        EstimateBasis::ServiceDurations => "geschätzt nach Dienstleistungsdauer".to_owned(),
    };
    let policy = state.floor_policy;
    let from = ticket.start - policy.check_in_early;
    let until = clock_time(zone, ticket.start + policy.check_in_late);
    let check_in_hint = if ticket.start + policy.check_in_late < now {
        "Die Zeit zum Einchecken ist vorbei. Bitte wenden Sie sich an die Information.".to_owned()
    } else if from <= now {
        format!(
            "Bitte checken Sie jetzt hier am Kiosk ein (bis spätestens {until} Uhr): QR-Code an den Scanner halten \
             oder den Code eintippen. Achten Sie danach auf die Anzeige im Wartebereich."
        )
    } else {
        format!(
            "Bitte checken Sie ab {} Uhr (bis spätestens {until} Uhr) hier am Kiosk ein: QR-Code an den Scanner \
             halten oder den Code eintippen. Achten Sie danach auf die Anzeige im Wartebereich.",
            clock_time(zone, from)
        )
    };
    let back = DevicePage::Kiosk.path(&device.office);
    let code = state.link_secret.checkin_code(&ticket.booking.to_string());
    TicketPage {
        office_name: device.office_name.clone(),
        office_address,
        booking: ticket.booking.to_string(),
        number: ticket.number.map(|number| number.to_string()).unwrap_or_default(),
        time: clock_time(zone, ticket.start),
        date: super::long_date(zone.to_local(ticket.start).date_naive()),
        services,
        ahead_text,
        wait_text,
        call_window,
        basis_note,
        qr_src: format!("{back}/marke/{}/qr.png", ticket.booking),
        code,
        check_in_hint,
        as_of: clock_time(zone, now),
        back,
    }
}

/// `GET /kiosk/{office}/marke/{booking}` (device cookie): one of today's
/// walk-in tickets, laid out for the receipt printer.
async fn kiosk_ticket_page(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    request: axum::extract::Request,
) -> Response {
    let (raw_office, raw_booking) = path.map(|Path(parts)| parts).unwrap_or_default();
    let client = client_of(request.extensions());
    let device = match kiosk_device(&state, &raw_office, request.headers(), client).await {
        Ok(device) => device,
        Err(response) => return response,
    };
    let Some(ticket) = find_ticket(&state, &device, &raw_booking).await else {
        return unknown_ticket(&device);
    };
    kiosk_render_ticket(&ticket_page_of(&state, &device, &ticket))
}

fn kiosk_render_ticket(page: &TicketPage) -> Response {
    let mut response = with_scripts(render(StatusCode::OK, page));
    response
        .headers_mut()
        .insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// `GET /kiosk/{office}/marke/{booking}/qr.png` (device cookie): the
/// ticket's check-in code as the mails' QR image.
async fn kiosk_ticket_qr(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    request: axum::extract::Request,
) -> Response {
    let (raw_office, raw_booking) = path.map(|Path(parts)| parts).unwrap_or_default();
    let client = client_of(request.extensions());
    let device = match kiosk_device(&state, &raw_office, request.headers(), client).await {
        Ok(device) => device,
        Err(response) => return response,
    };
    let Some(ticket) = find_ticket(&state, &device, &raw_booking).await else {
        return unknown_ticket(&device);
    };
    let code = state.link_secret.checkin_code(&ticket.booking.to_string());
    match crate::mail::qr::png(&code) {
        Ok(png) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            png,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "the ticket's QR code does not render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
