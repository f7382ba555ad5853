//! The HTTP surface. Handlers are thin: parse, call the application layer,
//! map the result.

mod audit;
pub mod auth;
mod availability;
mod bookable;
mod bookings;
mod catalogue;
mod closures;
mod day_list;
mod erasures;
mod extract;
mod floor;
mod links;
pub mod openapi;
mod overview;
mod pages;
pub mod pending_limit;
pub mod problem;
pub mod proof_of_work;
pub mod rate_limit;
mod staff;
mod statistics;
mod tickets;
mod wishes;

use axum::Router;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use std::sync::Arc;
use terminagent_domain::{Actor, Cause};

use crate::application::{ExecuteError, Executor};
use crate::config::AdminToken;
use crate::metrics::Metrics;
use crate::projections::{
    AvailabilityView, CatalogueView, DayListView, FloorView, LinksView, LiveProjection, StaffView, StatisticsView,
};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::readiness::Dependencies;
use problem::Problem;

/// Longest request body accepted (API.md: 413 beyond).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The largest refused body still read to its end before the 413 goes out.
const DRAINED_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub dependencies: Dependencies,
    pub executor: Executor,
    pub catalogue: Arc<LiveProjection<CatalogueView>>,
    pub links: Arc<LiveProjection<LinksView>>,
    pub availability: Arc<LiveProjection<AvailabilityView>>,
    pub staff: Arc<LiveProjection<StaffView>>,
    pub day_list: Arc<LiveProjection<DayListView>>,
    /// Today's confirmed bookings not yet reminded (API processes only).
    pub reminders: Option<Arc<LiveProjection<crate::projections::RemindersView>>>,
    /// The office floor: each day's visits and counters, check-in codes, calls.
    pub floor: Arc<LiveProjection<FloorView>>,
    /// Statistics per office day (API.md "Statistics").
    pub statistics: Arc<LiveProjection<StatisticsView>>,
    /// `--check-in-early`, `--check-in-late`, `--recall-after`.
    pub floor_policy: terminagent_domain::FloorPolicy,
    /// Turns true when the server begins to shut down: endless answers (the
    /// call display's event stream) end then, or shutdown would wait for them.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Failed sign-ins and bearer checks, per client address and account.
    pub failed_auth: Arc<auth::FailedAttempts>,
    pub admin_token: Option<AdminToken>,
    /// `--metrics-token`: what `/metrics` asks for; `None`: it is open.
    pub metrics_token: Option<AdminToken>,
    pub metrics: Arc<Metrics>,
    pub booking_policy: terminagent_domain::BookingPolicy,
    pub link_secret: crate::links::LinkSecret,
    /// `--rate-limit`; `None`: public writes are not limited.
    pub rate_limit: Option<Arc<rate_limit::PublicWriteLimit>>,
    /// `--trusted-proxies`: whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<rate_limit::TrustedProxies>,
    /// `--proof-of-work`; `None`: bookings and wishes cost no work.
    pub proof_of_work: Option<Arc<proof_of_work::ProofOfWork>>,
    /// `--max-pending-bookings-per-network`; `None`: no limit.
    pub pending_bookings: Option<Arc<pending_limit::PendingBookingsPerNetwork>>,
    /// `--public-url`: the staff pages' cookie is `Secure` when it is https,
    /// and a form posted from its origin is ours.
    pub public_url: crate::config::PublicUrl,
    /// `--site-config`: the city's name, logo, colours and legal texts on every page.
    pub site: Arc<crate::site::Site>,
}

impl AppState {
    /// A fresh cause for the events of one request made by `actor`.
    pub fn new_cause(&self, actor: Actor) -> Cause {
        self.executor.new_cause(actor)
    }

    /// Read-your-writes: waits until the views reflect every event committed so far.
    pub async fn catch_up_views(&self) -> Result<(), Problem> {
        let head = self
            .executor
            .store()
            .catch_up()
            .await
            .map_err(|e| Problem::internal(&e))?;
        self.catalogue.caught_up_to(head).await;
        self.links.caught_up_to(head).await;
        self.availability.caught_up_to(head).await;
        self.staff.caught_up_to(head).await;
        self.day_list.caught_up_to(head).await;
        self.floor.caught_up_to(head).await;
        Ok(())
    }

    /// The answer to a decision that did not go through.
    pub fn execute_problem<E>(&self, error: ExecuteError<E>, rejected: impl FnOnce(E) -> Problem) -> Problem
    where
        E: std::error::Error,
    {
        match error {
            ExecuteError::Rejected(reason) => rejected(reason),
            ExecuteError::Contended { .. } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "contended",
                "Busy",
                "too many concurrent changes; try again",
            )
            .with_header(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            ),
            ExecuteError::Storage(error) => Problem::internal(&error),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/offices", get(catalogue::list_offices))
        .route("/api/v1/offices/{office}", put(catalogue::put_office))
        .route("/api/v1/offices/{office}/capacity", post(catalogue::publish_capacity))
        .route("/api/v1/services", get(catalogue::list_services))
        .route("/api/v1/services/{service}", put(catalogue::put_service))
        .route("/api/v1/events", get(audit::list_events))
        .route("/api/v1/projections", get(audit::check_projections))
        .route("/api/v1/audit/trace/{id}", get(audit::trace))
        .route("/api/v1/audit/as-of", get(audit::as_of))
        .route("/api/v1/audit/head", get(audit::head))
        .route("/api/v1/erasures", post(erasures::erase))
        .route("/api/v1/offices/{office}/days/{date}", get(day_list::day_list))
        .route("/api/v1/offices/{office}/closures", post(closures::close))
        .route("/api/v1/staff", get(staff::list_staff))
        .route(
            "/api/v1/staff/{email}",
            put(staff::put_staff).delete(staff::disable_staff),
        )
        .route("/api/v1/staff/{email}/tokens", post(staff::issue_staff_token))
        .route(
            "/api/v1/offices/{office}/devices",
            post(staff::register_device).get(staff::list_devices),
        )
        .route(
            "/api/v1/offices/{office}/devices/{device}",
            axum::routing::delete(staff::revoke_device),
        )
        .route("/api/v1/availability", get(availability::availability))
        .route("/api/v1/statistics", get(statistics::statistics))
        .route("/", get(pages::start_page))
        .route(pages::STYLESHEET_PATH, get(pages::stylesheet))
        .route("/termin", get(pages::choose_services_page))
        .route("/termin/standort", get(pages::choose_office_page))
        .route("/termin/tag", get(pages::choose_day_page))
        .route("/termin/uhrzeit", get(pages::choose_time_page))
        .route("/termin/angaben", get(pages::contact_page))
        .route("/termin/angefragt/{reference}", get(pages::requested_page))
        .route("/suche", get(pages::wish_page))
        .route("/meine-termine", get(pages::overview_request_page))
        .route(pages::OVERVIEW_SENT_PATH, get(pages::overview_sent_page))
        // The installation's face (`--site-config`) and the office pages.
        .route(pages::COLOUR_STYLESHEET_PATH, get(pages::colour_stylesheet))
        .route(pages::LOGO_PATH, get(pages::logo))
        .route("/impressum", get(pages::imprint_page))
        .route("/datenschutz", get(pages::data_protection_page))
        .route("/barrierefreiheit", get(pages::accessibility_page))
        .route("/standorte", get(pages::offices_page))
        .route("/standorte/{office}", get(pages::office_page))
        // The staff pages (`/staff/…`): sessions, CSRF, German pages.
        .merge(pages::staff::routes())
        // The waiting room's call display and the kiosk's check-in screen (device cookies).
        .merge(pages::floor::routes())
        .merge(public_writes(state.clone()))
        // The challenge of bookings and wishes, and the forms' script that solves it.
        .merge(proof_of_work::routes())
        // --- The office floor (API.md "The office floor"): check-in, counters,
        // visits, the call display and its stream; routes in `floor.rs`. ---
        .merge(floor::routes())
        // --- end of the office floor ---
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(refuse_oversized_bodies))
        // Outside every layer that may answer with a page: they all show the site.
        .layer(axum::middleware::from_fn_with_state(state.clone(), pages::with_site))
        .layer(axum::middleware::from_fn_with_state(state.clone(), transport_security))
        .layer(axum::middleware::from_fn_with_state(state.clone(), track_request))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request
                .headers()
                .get("x-request-id")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// What a process without the API (the mailer) answers: health, readiness, metrics.
pub fn operations_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(unknown_route)
        .with_state(state)
}

/// The routes citizens write through: limited per client by `--rate-limit`
/// (outermost, it also finds the client); bookings and wishes then cost a
/// proof of work, and bookings count against their network's pending ones.
fn public_writes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/bookings", post(bookings::create_booking))
        .route("/api/v1/wishes", post(wishes::create_wish))
        .route("/api/v1/overview-requests", post(overview::request_overview_json))
        .route(
            "/api/v1/links/{token}",
            get(links::show_link_json).post(links::press_link_json),
        )
        .merge(citizen_forms(state.clone()))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pending_limit::limit_pending_bookings,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            proof_of_work::require_proof_of_work,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            rate_limit::limit_public_writes,
        ))
}

/// The citizens' form posts: a browser's post from another site is refused
/// before anything is decided (a page elsewhere must not book or register
/// wishes in a visitor's name).
fn citizen_forms(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/links/{token}",
            get(pages::show_link_page).post(pages::press_link_page),
        )
        .route("/termin/buchen", post(pages::book))
        .route("/suche", post(pages::register_wish_page))
        .route("/meine-termine", post(pages::request_overview_page))
        .route(
            "/meine-termine/{token}",
            get(pages::show_overview_page).post(pages::resend_confirmation_page),
        )
        .route_layer(axum::middleware::from_fn_with_state(state, pages::refuse_foreign_forms))
}

/// Whether `path` belongs to the JSON API, whose errors are problems; the
/// rest are pages for people, whose errors are German pages.
pub(crate) fn answers_programs(path: &str) -> bool {
    path.starts_with("/api/")
}

/// 413 for a body announced larger than [`MAX_BODY_BYTES`], on every route,
/// also on those that read no body; the extractors refuse a larger body that
/// was not announced.
async fn refuse_oversized_bodies(request: Request<axum::body::Body>, next: axum::middleware::Next) -> Response {
    let announced = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    if let Some(length) = announced.filter(|length| *length > MAX_BODY_BYTES as u64) {
        // People submitting a page's form get a page, programs a problem.
        let for_programs = answers_programs(request.uri().path());
        // Read what is still coming before answering: closing on unread
        // bytes resets the connection, and the client sees that instead of
        // the 413. Past a bound, the connection is not worth it.
        if length <= DRAINED_BODY_BYTES as u64 {
            let _ = axum::body::to_bytes(request.into_body(), DRAINED_BODY_BYTES).await;
        }
        return if for_programs {
            extract::body_too_large().into_response()
        } else {
            pages::body_too_large_page()
        };
    }
    next.run(request).await
}

/// HSTS when the site is https (`--public-url`): a browser that once came
/// over TLS does not let a network downgrade it to plain http later (the
/// pages carry names, e-mail addresses and staff sessions).
async fn transport_security(
    State(state): State<AppState>,
    request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    if state.public_url.is_https() {
        response.headers_mut().insert(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// Counts and times every request under its route template.
async fn track_request(
    State(state): State<AppState>,
    route: Option<axum::extract::MatchedPath>,
    request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = method_label(request.method());
    let route = route.map_or_else(|| "unmatched".to_owned(), |route| route.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.observe_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The method as a metrics label: the standard ones by name, any other as
/// `other`, so a client cannot grow the label set (and the scrape) by
/// inventing methods.
fn method_label(method: &axum::http::Method) -> String {
    use axum::http::Method;
    let known = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ];
    if known.contains(method) {
        method.as_str().to_owned()
    } else {
        "other".to_owned()
    }
}

/// Prometheus scrape endpoint (no personal data in it).
#[utoipa::path(get, path = "/metrics", tag = "operations", summary = "Metrics (OpenMetrics)",
    description = "Requests by route template and status, durations, log head and view positions, business \
        gauges. No personal data. With `--metrics-token` it asks for `Authorization: Bearer` that token.",
    responses((status = 200, description = "OpenMetrics text.",
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
        (status = 401, description = "`--metrics-token` is set and was not sent.", body = Problem,
         content_type = openapi::PROBLEM)))]
async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(token) = &state.metrics_token
        && !auth::bearer_of(&headers).is_some_and(|presented| token.matches(presented))
    {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "send Authorization: Bearer <metrics token>",
        )
        .with_header(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        )
        .into_response();
    }
    let head = state.executor.store().head().await.unwrap_or(0);
    state.metrics.set_positions(head, state.catalogue.position());
    state.metrics.set_business(&statistics::business_figures(&state));
    let content_type = [(
        axum::http::header::CONTENT_TYPE,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
    )];
    (content_type, state.metrics.render()).into_response()
}

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", summary = "Liveness",
    responses((status = 200, description = "The process answers: `ok`.", content_type = "text/plain", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// Ready: store, bus and mail are reachable (503 with the failing parts otherwise).
#[utoipa::path(get, path = "/readyz", tag = "operations", summary = "Readiness: store, bus and mail reachable",
    responses(
        (status = 200, description = "Every dependency is reachable.", body = crate::readiness::Readiness),
        (status = 503, description = "Some dependency is not; `checks` says which.", body = crate::readiness::Readiness),
    ))]
async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.dependencies.readiness().await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(readiness)).into_response()
}

async fn method_not_allowed(request: Request<axum::body::Body>) -> Response {
    let path = request.uri().path();
    if person_asking_for_a_page(&request) {
        // The booking form's address, bookmarked or reloaded after the post:
        // the booking starts over at its first step.
        if request.method() == axum::http::Method::GET && path == "/termin/buchen" {
            return axum::response::Redirect::to("/termin").into_response();
        }
        return pages::method_not_allowed_page();
    }
    let detail = format!("{} is not allowed on {}", request.method(), path);
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        detail,
    )
    .into_response()
}

/// A browser asking for HTML outside `/api/`: errors get German pages there.
fn person_asking_for_a_page(request: &Request<axum::body::Body>) -> bool {
    let wants_html = request
        .headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    wants_html && !answers_programs(request.uri().path())
}

/// Programs get problem+json; a person who mistyped a page address (outside
/// `/api/`, browser asking for HTML) gets a German page leading back to the start.
async fn unknown_route(request: Request<axum::body::Body>) -> Response {
    if person_asking_for_a_page(&request) {
        return pages::not_found_page();
    }
    let path = request.uri().path();
    Problem::not_found(format!("no resource at {path}")).into_response()
}
