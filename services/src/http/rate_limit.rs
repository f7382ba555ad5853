//! `--rate-limit`: public writes per client address and minute (API.md
//! "Conventions"); beyond it, 429 with `Retry-After`. Against bots that book
//! out a release of appointments to resell them. Behind a reverse proxy the
//! client is read from `X-Forwarded-For`, but only when the proxy is one of
//! `--trusted-proxies`.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
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

/// A write sent with a valid staff, device or operator token (the counter
/// booking for a visitor): no client limit applies to it, and it needs no
/// proof of work.
#[derive(Debug, Clone, Copy)]
pub struct StaffRequest;

/// Limits POSTs of the routes it wraps; reads are never limited. Finds the
/// client first (`--trusted-proxies`) and leaves it to the later checks as a
/// [`ClientAddress`]; a POST with a valid bearer token is marked a
/// [`StaffRequest`]. An invalid token marks nothing: a staff route answers
/// it 401 itself, and a public one (a booking) treats it as anonymous, so
/// public routes never answer 401.
pub async fn limit_public_writes(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let client = state.trusted_proxies.client_address(peer.ip(), request.headers());
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ClientAddress(client));
    if parts.method == Method::POST
        && parts.headers.contains_key(header::AUTHORIZATION)
        && super::auth::Access::from_request_parts(&mut parts, &state)
            .await
            .is_ok()
    {
        parts.extensions.insert(StaffRequest);
    }
    let request = Request::from_parts(parts, body);
    if let (Some(limit), &Method::POST, None) = (
        &state.rate_limit,
        request.method(),
        request.extensions().get::<StaffRequest>(),
    ) && let Err(wait) = limit.check(client)
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

/// An address block in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or a
/// bare address for one host): `--trusted-proxies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    network: IpAddr,
    prefix: u8,
}

impl IpBlock {
    pub fn parse(text: &str) -> Result<IpBlock, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("expected an address block such as 10.0.0.0/8 or 2001:db8::/32, got {text:?}"))?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= bits)
                .ok_or_else(|| format!("the prefix length of {text:?} must be 0–{bits}"))?,
        };
        Ok(IpBlock {
            network: mask(address, prefix),
            prefix,
        })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = unmapped(address);
        address.is_ipv4() == self.network.is_ipv4() && mask(address, self.prefix) == self.network
    }
}

impl std::fmt::Display for IpBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// `address` with all but its first `prefix` bits cleared.
fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & keep).into())
        }
        IpAddr::V6(v6) => {
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & keep).into())
        }
    }
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is that IPv4 client.
fn unmapped(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed. Anyone else can
/// write that header, so from them it is ignored.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpBlock>);

impl TrustedProxies {
    pub fn new(blocks: Vec<IpBlock>) -> Self {
        TrustedProxies(blocks)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(address))
    }

    /// The client behind `peer`: `peer` itself unless it is a trusted proxy;
    /// then the right-most `X-Forwarded-For` hop that is not a trusted proxy
    /// (hops to its left were written by the client and prove nothing).
    pub fn client_address(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        let mut client = unmapped(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            // A hop that is not an address ends what can be believed.
            let Ok(address) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = unmapped(address);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// Where a public write came from, as `limit_public_writes` found it (after
/// `--trusted-proxies`); the later checks of the request read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The block one subscriber usually holds: a /24 for IPv4, a /64 for IPv6.
    pub fn network(self) -> ClientNetwork {
        let prefix = if self.0.is_ipv4() { 24 } else { 64 };
        ClientNetwork(mask(self.0, prefix))
    }
}

/// A client's /24 (IPv4) or /64 (IPv6): one household or office can get many
/// addresses out of it, so limits meant for one client count per network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientNetwork(IpAddr);

impl std::fmt::Display for ClientNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefix = if self.0.is_ipv4() { 24 } else { 64 };
        write!(f, "{}/{prefix}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> axum::http::HeaderMap {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    #[test]
    fn blocks_parse_and_contain_what_they_should() {
        let block = IpBlock::parse("10.1.2.3/8").unwrap();
        assert_eq!(block.to_string(), "10.0.0.0/8");
        assert!(block.contains("10.200.0.1".parse().unwrap()));
        assert!(block.contains("::ffff:10.9.9.9".parse().unwrap()));
        assert!(!block.contains("11.0.0.1".parse().unwrap()));
        assert!(
            IpBlock::parse("192.0.2.7")
                .unwrap()
                .contains("192.0.2.7".parse().unwrap())
        );
        assert!(
            IpBlock::parse("2001:db8::/32")
                .unwrap()
                .contains("2001:db8:1::5".parse().unwrap())
        );
        assert!(
            IpBlock::parse("0.0.0.0/0")
                .unwrap()
                .contains("203.0.113.1".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "2001:db8::/129", "proxy", "10.0.0.0/x", ""] {
            assert!(IpBlock::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxies = TrustedProxies::new(vec![IpBlock::parse("10.0.0.0/8").unwrap()]);
        let headers = forwarded("198.51.100.1, 203.0.113.9, 10.0.0.2");
        // From the proxy: the right-most hop it did not add itself.
        assert_eq!(
            proxies.client_address("10.0.0.1".parse().unwrap(), &headers),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // From anyone else: the header is the client's own claim.
        assert_eq!(
            proxies.client_address("192.0.2.1".parse().unwrap(), &headers),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        // Nothing believable in it: the proxy's own address.
        assert_eq!(
            proxies.client_address("10.0.0.1".parse().unwrap(), &forwarded("unknown")),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn clients_count_per_slash_24_and_slash_64() {
        let v4 = ClientAddress("198.51.100.77".parse().unwrap()).network();
        assert_eq!(v4, ClientAddress("198.51.100.3".parse().unwrap()).network());
        assert_eq!(v4.to_string(), "198.51.100.0/24");
        let v6 = ClientAddress("2001:db8:0:1:aaaa::1".parse().unwrap()).network();
        assert_eq!(v6.to_string(), "2001:db8:0:1::/64");
        assert_ne!(v6, ClientAddress("2001:db8:0:2::1".parse().unwrap()).network());
    }
}
