//! The installation's face (`--site-config`, see `crate::site`): the legal
//! pages `/impressum`, `/datenschutz` and `/barrierefreiheit`, the colours'
//! stylesheet and the logo; and [`with_site`], which makes the site the one
//! every page of a request is rendered with.

use std::sync::{Arc, LazyLock};

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::render;
use crate::http::AppState;
use crate::site::{Accessibility, AccessibilityStatement, LegalText, Paragraphs, Site};

tokio::task_local! {
    /// The site of the app answering the current request.
    static SITE: Arc<Site>;
}

/// Outside a request (nothing renders pages there today): the neutral site.
static NEUTRAL: LazyLock<Arc<Site>> = LazyLock::new(|| Arc::new(Site::default()));

/// Middleware, outermost on the router: every page rendered while answering
/// the request (error pages of other middleware included) shows this app's
/// site. Several apps in one process (the tests) each show their own.
pub(in crate::http) async fn with_site(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    SITE.scope(state.site.clone(), next.run(request)).await
}

/// The site pages are rendered with now.
pub(super) fn current_site() -> Arc<Site> {
    SITE.try_with(Arc::clone).unwrap_or_else(|_| NEUTRAL.clone())
}

/// Impressum or Datenschutzerklärung kept in the file, or the note that it is missing.
#[derive(Template)]
#[template(path = "legal.html")]
struct LegalPage<'a> {
    heading: &'static str,
    text: Option<&'a Paragraphs>,
    missing: &'static str,
}

fn legal_page(text: &LegalText, heading: &'static str, missing: &'static str) -> Response {
    match text {
        // A bookmark of ours still reaches the city's page.
        LegalText::External(url) => Redirect::to(url.as_str()).into_response(),
        LegalText::Text(text) => render(
            StatusCode::OK,
            &LegalPage {
                heading,
                text: Some(text),
                missing,
            },
        ),
        LegalText::Missing => render(
            StatusCode::OK,
            &LegalPage {
                heading,
                text: None,
                missing,
            },
        ),
    }
}

/// `GET /impressum`.
pub(in crate::http) async fn imprint_page(State(state): State<AppState>) -> Response {
    legal_page(
        state.site.impressum(),
        "Impressum",
        "Der Betreiber dieser Terminvergabe hat das Impressum noch nicht hinterlegt.",
    )
}

/// `GET /datenschutz`.
pub(in crate::http) async fn data_protection_page(State(state): State<AppState>) -> Response {
    legal_page(
        state.site.datenschutz(),
        "Datenschutzerklärung",
        "Der Betreiber dieser Terminvergabe hat die Datenschutzerklärung noch nicht hinterlegt.",
    )
}

/// The Erklärung zur Barrierefreiheit in the usual German order.
#[derive(Template)]
#[template(path = "barrierefreiheit.html")]
struct AccessibilityPage<'a> {
    city: &'a str,
    statement: Option<&'a AccessibilityStatement>,
}

impl AccessibilityPage<'_> {
    fn prepared_on(&self) -> String {
        self.statement
            .map(|statement| statement.prepared_on.format("%d.%m.%Y").to_string())
            .unwrap_or_default()
    }
}

/// `GET /barrierefreiheit`.
pub(in crate::http) async fn accessibility_page(State(state): State<AppState>) -> Response {
    let statement = match state.site.barrierefreiheit() {
        Accessibility::External(url) => return Redirect::to(url.as_str()).into_response(),
        Accessibility::Statement(statement) => Some(statement),
        Accessibility::Missing => None,
    };
    render(
        StatusCode::OK,
        &AccessibilityPage {
            city: state.site.city(),
            statement,
        },
    )
}

/// Where the layout finds the colours' stylesheet (after site.css, so it wins).
pub(in crate::http) const COLOUR_STYLESHEET_PATH: &str = "/assets/farben.css";
/// Where the layout finds the logo.
pub(in crate::http) const LOGO_PATH: &str = "/assets/logo";

/// `GET /assets/farben.css`: the configured colours as custom properties.
pub(in crate::http) async fn colour_stylesheet(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        state.site.colour_stylesheet(),
    )
        .into_response()
}

/// `GET /assets/logo`: the configured logo as read at start; 404 without one.
pub(in crate::http) async fn logo(State(state): State<AppState>) -> Response {
    let Some(logo) = state.site.logo() else {
        return super::not_found_page();
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, logo.content_type()),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        logo.bytes().to_vec(),
    )
        .into_response();
    // An SVG opened on its own runs no script and loads nothing.
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
