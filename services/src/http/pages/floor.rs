//! The office floor's pages for devices (issue 13): the waiting room's call
//! display `/anzeige/{office}` and the kiosk's check-in screen
//! `/kiosk/{office}`; and the floor's live feeds the display and the
//! clerk's desk page (`staff/desk.rs`) listen to.
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

use std::collections::VecDeque;
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
use axum::routing::get;
use futures::Stream;
use serde::{Deserialize, Serialize};
use terminagent_domain::{Call, FloorDay, FloorError, OfficeId, OfficeTimeZone, Permission, Principal};
use tokio::sync::watch;

use super::{MessagePage, PageForm, render};
use crate::application::Executor;
use crate::application::floor::{self as floor, CheckInRefusal};
use crate::application::staff::hash_token;
use crate::http::AppState;
use crate::projections::{FeedCall, FloorView, LiveProjection};

/// The device cookie's name.
const DEVICE_COOKIE: &str = "terminagent_device";
/// How long a device stays signed in without opening `?token=` again (a year).
const DEVICE_COOKIE_SECONDS: i64 = 365 * 24 * 3600;
/// How often an idle stream sends a comment, so proxies keep it open.
const HEARTBEAT: Duration = Duration::from_secs(15);
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
        let secure = if state.public_url.as_str().starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
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
    display_events(&state, device.office, device.zone, request.headers(), query.after)
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
) -> Sse<impl Stream<Item = Result<Event, axum::Error>> + use<>> {
    let after = resume_point(state, headers, after).await;
    let feed = FloorFeed::new(state, office, zone, after, FeedKind::Display);
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
    Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
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
    Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
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
}

impl FloorFeed {
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

#[derive(Template)]
#[template(path = "kiosk.html")]
struct KioskPage {
    office_name: String,
    action: String,
    answer: Option<KioskAnswer>,
    error: Option<String>,
}

fn kiosk_page_of(device: &Device) -> KioskPage {
    KioskPage {
        office_name: device.office_name.clone(),
        action: DevicePage::Kiosk.path(&device.office),
        answer: None,
        error: None,
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
        Ok(device) => kiosk_render(StatusCode::OK, &kiosk_page_of(&device)),
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
    let mut page = kiosk_page_of(&device);
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
    let checked = floor::check_in(
        &state.executor,
        state.floor_policy,
        state.new_cause(device.principal.actor()),
        &device.office,
        device.zone,
        booking,
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
