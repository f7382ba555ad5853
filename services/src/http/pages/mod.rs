//! Pages for people: the booking flow under `/termin` and the mail-link pages
//! under `/links`. Server-rendered German HTML from the askama templates in
//! `services/templates/`, one layout for all; plain forms, so every step
//! works without JavaScript. Handlers stay thin: parse, call the application
//! layer or a view, render.

mod booking;
pub(super) mod floor;
mod legal;
pub(super) mod links;
mod offices;
mod overview;
pub(super) mod staff;
mod wish;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{Datelike, NaiveDate};

pub(super) use booking::{
    book, choose_day_page, choose_office_page, choose_services_page, choose_time_page, contact_page, requested_page,
};
pub(super) use legal::{
    COLOUR_STYLESHEET_PATH, LOGO_PATH, accessibility_page, colour_stylesheet, data_protection_page, imprint_page, logo,
    with_site,
};
pub(super) use links::{press_link_page, show_link_page};
pub(super) use offices::{office_page, offices_page};
pub(super) use overview::{
    SENT_PATH as OVERVIEW_SENT_PATH, overview_request_page, overview_sent_page, request_overview_page,
    resend_confirmation_page, show_overview_page,
};
pub(super) use wish::{register_wish_page, wish_page};

/// Where the layout finds its stylesheet.
pub(super) const STYLESHEET_PATH: &str = "/assets/site.css";

/// Nothing on these pages needs frames or foreign origins, and no script but
/// our own files (the forms' proof of work, which fetches its challenge from
/// us); saying so keeps a framed "confirm" button (clickjacking) and injected
/// scripts out.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The value of cookie `name` among the request's `Cookie` headers.
pub(super) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// A citizen's name as a form gives it, or the German message for its field.
fn parse_name(raw: &str) -> Result<terminagent_domain::CitizenName, String> {
    use terminagent_domain::TextError;
    terminagent_domain::CitizenName::parse(raw).map_err(|error| match error {
        TextError::Empty => "Bitte geben Sie Ihren Namen an.".to_owned(),
        TextError::TooLong { max, .. } => format!("Der Name darf höchstens {max} Zeichen lang sein."),
        TextError::ControlCharacter => "Der Name enthält unzulässige Steuerzeichen.".to_owned(),
        TextError::WebAddress => "Der Name darf keine Internetadresse enthalten.".to_owned(),
        TextError::InvisibleCharacter => {
            "Der Name enthält unsichtbare Formatierungszeichen (z. B. für die Schreibrichtung). Bitte tippen Sie \
             ihn noch einmal ein."
                .to_owned()
        }
    })
}

/// An e-mail address as a form gives it, or the German message for its field.
fn parse_email(raw: &str) -> Result<terminagent_domain::EmailAddress, String> {
    if raw.is_empty() {
        return Err("Bitte geben Sie Ihre E-Mail-Adresse an.".to_owned());
    }
    terminagent_domain::EmailAddress::parse(raw)
        .map_err(|_| "Bitte geben Sie eine gültige E-Mail-Adresse an, zum Beispiel name@beispiel.de.".to_owned())
}

/// A link on a page, e.g. back to the previous step.
#[derive(Debug, Clone)]
pub(super) struct PageLink {
    pub href: String,
    pub label: String,
}

impl PageLink {
    pub fn new(href: impl Into<String>, label: impl Into<String>) -> Self {
        PageLink {
            href: href.into(),
            label: label.into(),
        }
    }
}

/// A page that only tells something: not found, an error, a limit reached.
#[derive(Template)]
#[template(path = "message.html")]
pub(super) struct MessagePage {
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub link: Option<PageLink>,
}

impl MessagePage {
    pub fn new(heading: impl Into<String>) -> Self {
        MessagePage {
            heading: heading.into(),
            paragraphs: Vec::new(),
            link: None,
        }
    }

    pub fn paragraph(mut self, text: impl Into<String>) -> Self {
        self.paragraphs.push(text.into());
        self
    }

    pub fn link(mut self, link: PageLink) -> Self {
        self.link = Some(link);
        self
    }

    pub fn respond(&self, status: StatusCode) -> Response {
        render(status, self)
    }
}

/// The page for an address that leads nowhere.
pub(super) fn not_found_page() -> Response {
    MessagePage::new("Seite nicht gefunden")
        .paragraph("Unter dieser Adresse gibt es keine Seite. Vielleicht hat sich ein Tippfehler eingeschlichen.")
        .link(PageLink::new("/", "Zur Startseite"))
        .respond(StatusCode::NOT_FOUND)
}

/// 405 for a page address asked for in a way it does not answer.
pub(super) fn method_not_allowed_page() -> Response {
    MessagePage::new("Diese Seite gibt es so nicht")
        .paragraph("Diese Adresse nimmt nur Formulare unserer Seiten an. Bitte beginnen Sie auf der Startseite.")
        .link(PageLink::new("/", "Zur Startseite"))
        .respond(StatusCode::METHOD_NOT_ALLOWED)
}

/// 429 for a form sent too often from one address (`--rate-limit`).
pub(super) fn too_many_requests_page(retry_after_seconds: u64) -> Response {
    MessagePage::new("Zu viele Anfragen")
        .paragraph(format!(
            "Von Ihrem Anschluss kamen in kurzer Zeit sehr viele Anfragen. Bitte warten Sie {} Sekunden \
             und senden Sie das Formular dann noch einmal.",
            retry_after_seconds.max(1)
        ))
        .respond(StatusCode::TOO_MANY_REQUESTS)
}

/// Refuses a form posted by a browser from another site: `Sec-Fetch-Site:
/// cross-site`, or an `Origin` that is neither ours nor `null` (our pages
/// send no Referer, so a browser may say `null` for our own forms). Programs
/// without these headers, and every GET, pass.
pub(in crate::http) async fn refuse_foreign_forms(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method();
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        return next.run(request).await;
    }
    let headers = request.headers();
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    let foreign_origin = headers
        .get(axum::http::header::ORIGIN)
        .is_some_and(|origin| origin != "null")
        && !staff::same_origin_request(headers, request.uri(), &state);
    if cross_site || foreign_origin {
        return MessagePage::new("Anfrage von fremder Seite")
            .paragraph(
                "Dieses Formular wurde nicht auf unseren Seiten abgeschickt. Es wurde nichts gebucht und nichts \
                 geändert. Wenn Sie einen Termin möchten, beginnen Sie bitte auf unserer Startseite.",
            )
            .link(PageLink::new("/", "Zur Startseite"))
            .respond(StatusCode::FORBIDDEN);
    }
    next.run(request).await
}

/// 413 for a form over [`super::MAX_BODY_BYTES`].
pub(super) fn body_too_large_page() -> Response {
    MessagePage::new("Zu viele Angaben")
        .paragraph(
            "Das Formular war zu umfangreich, um es anzunehmen. Bitte kürzen Sie Ihre Angaben und \
             senden Sie es noch einmal.",
        )
        .link(PageLink::new("/", "Zur Startseite"))
        .respond(StatusCode::PAYLOAD_TOO_LARGE)
}

/// `axum::Form`, but a form it cannot read (too large, not form-encoded)
/// answers with a page saying so.
pub(super) struct PageForm<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Response> {
        match axum::Form::<T>::from_request(request, state).await {
            Ok(axum::Form(value)) => Ok(PageForm(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(body_too_large_page()),
            Err(rejection) => Err(MessagePage::new("Formular nicht lesbar")
                .paragraph(
                    "Ihr Browser hat das Formular in einer Form geschickt, die wir nicht lesen können. \
                     Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.",
                )
                .link(PageLink::new("/", "Zur Startseite"))
                .respond(rejection.status())),
        }
    }
}

#[derive(Template)]
#[template(path = "start.html")]
struct StartPage;

/// `GET /`: what the service is, and the way in.
pub(super) async fn start_page() -> Response {
    render(StatusCode::OK, &StartPage)
}

/// `GET /assets/site.css`: the one stylesheet, compiled in.
pub(super) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../templates/site.css"),
    )
        .into_response()
}

/// A rendered page. Pages carry personal data or link tokens in forms and
/// URLs: never cached, never leaked to other sites through the Referer.
/// The layout finds the installation's [`Site`](crate::site::Site) (city,
/// logo, legal links) among the render's values as `site`: the one of the
/// request being answered (see [`with_site`]).
pub(super) fn render(status: StatusCode, page: &impl Template) -> Response {
    let site = legal::current_site();
    let values: (&str, &dyn std::any::Any) = ("site", &*site);
    match page.render_with_values(&values) {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            let headers = response.headers_mut();
            headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "page does not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "Interner Fehler").into_response()
        }
    }
}

/// "Dienstag, 01.12.2026": how German offices write a day.
pub(super) fn long_date(date: NaiveDate) -> String {
    format!(
        "{}, {}",
        crate::german::weekday(date.weekday()),
        date.format("%d.%m.%Y")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_in_german_letters() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(long_date(date), "Dienstag, 01.12.2026");
    }
}
