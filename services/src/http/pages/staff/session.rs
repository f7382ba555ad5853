//! Who is at the staff pages: a session cookie, its CSRF token, and the
//! checks every staff request passes.
//!
//! - The cookie `terminagent_staff` holds 256 random bits; the database keeps
//!   only their SHA-256 (`staff_sessions`), so a copy of it opens nothing.
//!   `HttpOnly; SameSite=Strict; Path=/staff`, `Secure` under an https
//!   `--public-url`; a session lasts [`SESSION_HOURS`] from sign-in.
//! - Each request looks the session up and asks the staff view for the
//!   account's principal *now*: a disabled account's sessions stop at once,
//!   and changed roles apply at once.
//! - A session opened with a one-time password reaches only the page that
//!   replaces it ([`Signed`] with `PENDING_OK = true`).
//! - Every POST carries the session's CSRF token in a hidden field
//!   ([`Posted`]); a request whose `Origin` is another site is refused before
//!   anything else (SameSite already keeps the cookie off such requests; the
//!   Origin check also covers the sign-in form, which has no session yet).

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use terminagent_domain::{EmailAddress, Principal, StaffId};
use terminagent_eventstore::{StaffSession, StorageError};

use super::super::PageForm;
use super::{Pairs, field, forbidden_page, internal_page};
use crate::application::staff::{BearerToken, hash_token};
use crate::http::AppState;

/// The session cookie's name.
pub(super) const COOKIE: &str = "terminagent_staff";
/// How long a session lasts from sign-in (a working day).
pub(super) const SESSION_HOURS: i64 = 8;
/// The form field every staff POST carries.
pub(super) const CSRF_FIELD: &str = "csrf";

/// A signed-in staff member, as of this request.
#[derive(Debug, Clone)]
pub(super) struct Member {
    pub staff: StaffId,
    pub principal: Principal,
    pub name: String,
    pub email: EmailAddress,
    /// "Leitung, Bürgerbüro Mitte": the roles as the page header shows them.
    pub roles_label: String,
    /// The token this session's forms carry.
    pub csrf: String,
    /// The SHA-256 of the session cookie (to close it).
    pub session_hash: String,
    /// Signed in with a one-time password that is still to be replaced.
    pub must_change_password: bool,
}

impl Member {
    pub fn may(
        &self,
        permission: terminagent_domain::Permission,
        office: Option<&terminagent_domain::OfficeId>,
    ) -> bool {
        self.principal.may(permission, office)
    }
}

/// The value of our cookie among the request's `Cookie` headers.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    super::super::cookie(headers, COOKIE)
}

/// The member whose session cookie the request carries, if it is a live
/// session of an enabled account.
pub(super) async fn member_of(headers: &HeaderMap, state: &AppState) -> Result<Option<Member>, StorageError> {
    let Some(cookie) = session_cookie(headers) else {
        return Ok(None);
    };
    let session_hash = hash_token(cookie).as_str().to_owned();
    let credentials = state.executor.store().staff_credentials();
    let Some(session) = credentials.session(&session_hash, state.executor.now()).await? else {
        return Ok(None);
    };
    let Ok(staff) = StaffId::parse(&session.staff_id) else {
        return Ok(None);
    };
    let (principal, name, email, roles) = {
        let directory = state.staff.read();
        let Some(principal) = directory.principal_of(&staff) else {
            // Disabled (or unknown): the session ends here.
            return Ok(None);
        };
        let Some(account) = directory.account(&staff) else {
            return Ok(None);
        };
        (
            principal,
            account.account.name.to_string(),
            account.account.email.clone(),
            account.account.roles.clone(),
        )
    };
    let roles_label = {
        let catalogue = state.catalogue.read();
        let labels: Vec<String> = roles
            .iter()
            .map(|grant| match &grant.office {
                Some(office) => {
                    let office = catalogue
                        .office(office)
                        .map_or_else(|| office.to_string(), |entry| entry.name.clone());
                    format!("{}, {office}", grant.role.german())
                }
                None => grant.role.german().to_owned(),
            })
            .collect();
        labels.join("; ")
    };
    // No password (never set, or removed): nothing vouches for the session.
    let Some((_, one_time)) = credentials.password(&session.staff_id).await? else {
        return Ok(None);
    };
    Ok(Some(Member {
        staff,
        principal,
        name,
        email,
        roles_label,
        csrf: session.csrf_token,
        session_hash,
        must_change_password: one_time,
    }))
}

/// A signed-in member; without a session the request is sent to the sign-in
/// page (and back here afterwards, for a GET). `PENDING_OK`: also a session
/// whose one-time password is still to be replaced (else it is sent to do that).
pub(super) struct Signed<const PENDING_OK: bool = false>(pub Member);

impl<const PENDING_OK: bool> FromRequestParts<AppState> for Signed<PENDING_OK> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let member = member_of(&parts.headers, state)
            .await
            .map_err(|error| internal_page(None, &error))?;
        match member {
            None => Err(to_sign_in(parts)),
            Some(member) if member.must_change_password && !PENDING_OK => Err(see_other("/staff/passwort")),
            Some(member) => Ok(Signed(member)),
        }
    }
}

/// A staff form, posted from our own pages by a signed-in member: Origin
/// checked, session required, CSRF token matched. `fields` is the form.
pub(super) struct Posted<const PENDING_OK: bool = false> {
    pub member: Member,
    pub fields: Pairs,
}

impl<const PENDING_OK: bool> FromRequest<AppState> for Posted<PENDING_OK> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        if !same_origin(&parts.headers, &parts.uri, state) {
            return Err(foreign_origin_page());
        }
        let Signed(member) = Signed::<PENDING_OK>::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let PageForm(fields) = PageForm::<Pairs>::from_request(request, state).await?;
        if !same_secret(field(&fields, CSRF_FIELD), &member.csrf) {
            return Err(forbidden_page(
                Some(&member),
                "Sicherheitsprüfung fehlgeschlagen",
                "Das Formular trug nicht das Sicherheitsmerkmal Ihrer Sitzung. Es wurde nichts geändert. \
                 Bitte öffnen Sie die Seite neu und senden Sie das Formular noch einmal.",
            ));
        }
        Ok(Posted { member, fields })
    }
}

/// Whether two secrets are equal, in time independent of where they differ.
fn same_secret(presented: &str, expected: &str) -> bool {
    // Hashing first makes both sides the same length.
    let (a, b) = (
        Sha256::digest(presented.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    a.iter().zip(b.iter()).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0 && !expected.is_empty()
}

/// Whether the request came from our own pages: no `Origin` (not a browser's
/// cross-site form), or an `Origin` naming the request's host or the public URL.
pub(super) fn same_origin(headers: &HeaderMap, uri: &Uri, state: &AppState) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let public = state.public_url.as_str();
    let public_origin = public
        .find("://")
        .and_then(|scheme| public[scheme + 3..].find('/').map(|path| &public[..scheme + 3 + path]))
        .unwrap_or(public);
    if origin.eq_ignore_ascii_case(public_origin) {
        return true;
    }
    // Behind a TLS-terminating proxy the scheme we see is not the browser's:
    // compare host and port only.
    let Some(authority) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| uri.authority().map(|authority| authority.as_str()));
    host.is_some_and(|host| host.eq_ignore_ascii_case(authority))
}

pub(super) fn foreign_origin_page() -> Response {
    forbidden_page(
        None,
        "Anfrage von fremder Seite",
        "Dieses Formular wurde nicht von den Seiten des Mitarbeiterbereichs abgeschickt. Es wurde nichts geändert.",
    )
}

/// The client's address (for throttling failed sign-ins).
pub(super) fn client_address(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

/// Opens a session for `staff` and answers the cookie that carries it.
pub(super) async fn open_session(state: &AppState, staff: StaffId) -> Result<HeaderValue, StorageError> {
    let cookie = BearerToken::generate();
    let csrf = BearerToken::generate();
    let now = state.executor.now();
    let credentials = state.executor.store().staff_credentials();
    // Sign-ins are rare: a good moment to forget sessions nobody can use any more.
    credentials.forget_expired_sessions(now).await?;
    let session = StaffSession {
        staff_id: staff.to_string(),
        csrf_token: csrf.as_str().to_owned(),
        expires_at: now + Duration::hours(SESSION_HOURS),
    };
    credentials.open_session(cookie.hash().as_str(), &session, now).await?;
    Ok(cookie_header(state, cookie.as_str(), SESSION_HOURS * 3600))
}

/// A `Set-Cookie` that removes the session cookie.
pub(super) fn cleared_cookie(state: &AppState) -> HeaderValue {
    cookie_header(state, "", 0)
}

fn cookie_header(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.public_url.is_https() { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={value}; Max-Age={max_age}; Path=/staff; HttpOnly; SameSite=Strict{secure}");
    // Base64url and ASCII attributes only.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("terminagent_staff=; Max-Age=0"))
}

/// 303 to `location` (a path of ours), never cached.
pub(super) fn see_other(location: &str) -> Response {
    let location = HeaderValue::from_str(location).unwrap_or_else(|_| HeaderValue::from_static("/staff"));
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

/// To the sign-in page; a GET comes back to where it was afterwards.
fn to_sign_in(parts: &Parts) -> Response {
    if parts.method != Method::GET {
        return see_other("/staff/login");
    }
    let here = parts.uri.path_and_query().map_or("/staff", |path| path.as_str());
    match return_path(here) {
        Some(here) if here != "/staff" => see_other(&format!("/staff/login?weiter={}", percent_encode(here))),
        _ => see_other("/staff/login"),
    }
}

/// `path` if it is a staff page to go back to after signing in (never
/// another site, never the sign-in or sign-out itself).
pub(super) fn return_path(path: &str) -> Option<&str> {
    let staff_page = path == "/staff" || path.starts_with("/staff/") || path.starts_with("/staff?");
    let plain = !path.contains(['\\', '\r', '\n']) && !path.starts_with("//");
    let loops = path.starts_with("/staff/login") || path.starts_with("/staff/logout");
    (staff_page && plain && !loops).then_some(path)
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub(super) fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; terminagent_staff=abc ; b=2"),
        );
        assert_eq!(session_cookie(&headers), Some("abc"));
        headers.insert(header::COOKIE, HeaderValue::from_static("terminagent_staffx=abc"));
        assert_eq!(session_cookie(&headers), None);
        headers.insert(header::COOKIE, HeaderValue::from_static("terminagent_staff="));
        assert_eq!(session_cookie(&headers), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("", "abc"));
        assert!(!same_secret("", ""));
    }

    #[test]
    fn only_staff_pages_are_returned_to() {
        assert_eq!(
            return_path("/staff/mitte/tag?datum=2026-12-01"),
            Some("/staff/mitte/tag?datum=2026-12-01")
        );
        assert_eq!(return_path("/staff"), Some("/staff"));
        for foreign in [
            "//evil.example/staff",
            "https://evil.example",
            "/termin",
            "/staff/login",
            "/staffx",
            "/staff/\\x",
        ] {
            assert_eq!(return_path(foreign), None, "{foreign}");
        }
        assert_eq!(percent_encode("/staff/a?b=c&d"), "/staff/a%3Fb%3Dc%26d");
    }
}
