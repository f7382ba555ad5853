//! `--rate-limit`: public writes per client address and minute (API.md
//! "Conventions"); beyond it, 429 with `Retry-After`. Against bots that book
//! out a release of appointments to resell them.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use super::problem::Problem;

pub struct PublicWriteLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl PublicWriteLimit {
    pub fn per_minute(requests: NonZeroU32) -> Self {
        PublicWriteLimit {
            limiter: RateLimiter::keyed(Quota::per_minute(requests)),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(wait)` when `client` must wait before writing again.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets clients whose allowance is full again (keeps memory bounded).
    pub fn forget_idle_clients(&self) {
        self.limiter.retain_recent();
    }
}

/// Limits POSTs of the routes it wraps; reads are never limited.
pub async fn limit_public_writes(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if let (Some(limit), &Method::POST) = (&state.rate_limit, request.method())
        && let Err(wait) = limit.check(client.ip())
    {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        // People submitting a page's form get a page, programs a problem.
        let mut response = if super::answers_programs(request.uri().path()) {
            let detail = format!("too many requests from your address; try again in {seconds} s");
            Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                detail,
            )
            .into_response()
        } else {
            super::pages::too_many_requests_page(seconds)
        };
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        return response;
    }
    next.run(request).await
}
