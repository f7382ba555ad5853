//! Who is asking: staff and operations endpoints take `Authorization:
//! Bearer TOKEN` (the scheme in any case, RFC 9110) — the operator's
//! `--admin-token`, a staff member's token or a device's — and ask the
//! domain's one rule, [`Principal::may`], whether it reaches this far.
//! Failed checks are counted per client address; too many in a row are
//! answered 429 with `Retry-After` before any token is looked at.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use terminagent_domain::{Actor, DeviceId, DeviceKind, OfficeId, Permission, Principal};

use super::AppState;
use super::problem::Problem;
use crate::application::staff::hash_token;

/// Proof of who sent the request. Taking it as a handler argument is what
/// makes an endpoint 🔒; the handler then says what it needs with
/// [`Access::require`].
#[derive(Debug, Clone)]
pub struct Access {
    pub principal: Principal,
}

impl Access {
    /// 403 `/forbidden` unless the principal may do `permission` at `office`.
    pub fn require(&self, permission: Permission, office: Option<&OfficeId>) -> Result<(), Problem> {
        if self.principal.may(permission, office) {
            return Ok(());
        }
        let at = office.map(|o| format!(" at office {o}")).unwrap_or_default();
        Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            format!("this token may not {}{at}", permission_words(permission)),
        ))
    }

    /// The actor the events of this request are recorded under.
    pub fn actor(&self) -> Actor {
        self.principal.actor()
    }

    /// The call display device asking, if it is one.
    pub fn display_device(&self) -> Option<DeviceId> {
        match self.principal {
            Principal::Device {
                device,
                kind: DeviceKind::Display,
                ..
            } => Some(device),
            _ => None,
        }
    }
}

fn permission_words(permission: Permission) -> &'static str {
    use Permission as P;
    match permission {
        P::ManageCatalogue => "change offices or services",
        P::ManageStaff => "manage staff accounts",
        P::EditOpeningHours => "change opening hours",
        P::PublishCapacity => "publish capacity",
        P::CloseOffice => "close the office",
        P::ManageDevices => "manage devices",
        P::ReadDayList => "read the day list",
        P::CancelBooking => "cancel bookings",
        P::IssueTicket => "issue tickets",
        P::CheckIn => "check visitors in",
        P::RunFloor => "call visitors",
        P::ReadDisplay => "read the call display",
        P::ReadStatistics => "read statistics",
        P::Audit => "read the audit trail",
        P::ErasePersonalData => "erase personal data",
    }
}

/// The token of `Authorization: Bearer TOKEN`, the scheme matched in any case.
pub(crate) fn bearer_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    bearer_of(&parts.headers)
}

impl FromRequestParts<AppState> for Access {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        if let Some(client) = client
            && let Err(wait) = state.failed_auth.check(&client_key(client))
        {
            return Err(throttled(wait));
        }
        let Some(presented) = bearer_token(parts).filter(|token| !token.is_empty()) else {
            return Err(unauthorized("send Authorization: Bearer <token>"));
        };
        if state.admin_token.as_ref().is_some_and(|admin| admin.matches(presented)) {
            return Ok(Access {
                principal: Principal::Operator,
            });
        }
        let hash = hash_token(presented);
        let mut principal = state.staff.read().principal_for(&hash);
        if principal.is_none() {
            // Issued a moment ago, perhaps by another process: look once more
            // with every committed event in view.
            state.catch_up_views().await?;
            principal = state.staff.read().principal_for(&hash);
        }
        match principal {
            Some(principal) => Ok(Access { principal }),
            None => {
                if let Some(client) = client {
                    state.failed_auth.record_failure(&client_key(client));
                }
                Err(unauthorized("the bearer token is not valid"))
            }
        }
    }
}

/// The key failed checks from `client` count under (the staff and device
/// pages count under the same one).
pub(crate) fn client_key(client: IpAddr) -> String {
    format!("address:{client}")
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", detail)
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
}

/// 429 with `Retry-After` in whole seconds.
pub fn throttled(wait: Duration) -> Problem {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-failed-attempts",
        "Too many failed attempts",
        format!("too many failed sign-ins or tokens from here; try again in {seconds} s"),
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)))
}

/// Failed sign-ins and bearer checks, per key (a client address, an
/// account): after [`FailedAttempts::LIMIT`] failures within
/// [`FailedAttempts::WINDOW`], the key waits until the oldest of them has
/// left the window. A success does not wipe the count: guessing with one
/// known-good token in between gains nothing.
pub struct FailedAttempts {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
    limit: usize,
    window: Duration,
}

impl Default for FailedAttempts {
    fn default() -> Self {
        FailedAttempts::new(FailedAttempts::LIMIT, FailedAttempts::WINDOW)
    }
}

impl FailedAttempts {
    pub const LIMIT: usize = 10;
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);
    /// Keys kept at most; beyond it the quietest are forgotten first.
    const MAX_KEYS: usize = 100_000;

    pub fn new(limit: usize, window: Duration) -> Self {
        FailedAttempts {
            failures: Mutex::new(HashMap::new()),
            limit,
            window,
        }
    }

    /// `Err(wait)` while `key` has used up its failures.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = failures.get_mut(key) else {
            return Ok(());
        };
        times.retain(|at| now.duration_since(*at) < self.window);
        if times.len() < self.limit {
            return Ok(());
        }
        let oldest = times[times.len() - self.limit];
        Err(self.window.saturating_sub(now.duration_since(oldest)))
    }

    pub fn record_failure(&self, key: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= Self::MAX_KEYS && !failures.contains_key(key) {
            failures.retain(|_, times| times.last().is_some_and(|at| now.duration_since(*at) < self.window));
            if failures.len() >= Self::MAX_KEYS {
                return;
            }
        }
        let times = failures.entry(key.to_owned()).or_default();
        times.retain(|at| now.duration_since(*at) < self.window);
        times.push(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_waits_after_its_failures_and_others_do_not() {
        let attempts = FailedAttempts::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(attempts.check("address:10.0.0.1").is_ok());
            attempts.record_failure("address:10.0.0.1");
        }
        let wait = attempts.check("address:10.0.0.1").unwrap_err();
        assert!(
            wait > Duration::from_secs(58) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(attempts.check("address:10.0.0.2").is_ok());
    }

    #[test]
    fn failures_leave_the_window() {
        let attempts = FailedAttempts::new(2, Duration::from_millis(50));
        attempts.record_failure("k");
        attempts.record_failure("k");
        assert!(attempts.check("k").is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(attempts.check("k").is_ok());
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        for header in ["Bearer abc", "bearer abc", "BEARER abc", "  bEaReR   abc "] {
            let request = axum::http::Request::builder()
                .header(header::AUTHORIZATION, header)
                .body(())
                .unwrap();
            let (parts, ()) = request.into_parts();
            assert_eq!(bearer_token(&parts), Some("abc"), "{header:?}");
        }
        for header in ["Basic abc", "Bearerabc", "abc"] {
            let request = axum::http::Request::builder()
                .header(header::AUTHORIZATION, header)
                .body(())
                .unwrap();
            let (parts, ()) = request.into_parts();
            assert_eq!(bearer_token(&parts), None, "{header:?}");
        }
    }
}
