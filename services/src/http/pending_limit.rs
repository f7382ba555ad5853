//! `--max-pending-bookings-per-network`: unconfirmed bookings one client
//! network (/24, /64) may hold at once. A pending booking holds its units
//! until it is confirmed or lapses (`--confirm-ttl`), with no proof that
//! anyone reads the mailbox; invented addresses from one network must not
//! hold a release of appointments.
//!
//! Kept at the HTTP edge: the log knows no client addresses (and should
//! not, they are personal data), and the booking decision stays about
//! e-mail addresses. Each booking requested from a network is noted with
//! its id, in this process and in the store's `pending_by_network` (the
//! network prefix only, until the booking's confirm-by time), so every API
//! process of an installation counts the others' too; a booking stops
//! counting when the links view shows it confirmed, cancelled or lapsed, or
//! when its time to confirm is over. Two processes admitting one network's
//! requests at the same instant may each let one through past the bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use terminagent_domain::{BookingId, BookingStatus};

use super::AppState;
use super::problem::Problem;
use super::rate_limit::{ClientAddress, ClientNetwork, StaffRequest};
use crate::projections::LinksView;

/// Requests that create a booking (POST only).
const BOOKING_PATHS: [&str; 2] = ["/termin/buchen", "/api/v1/bookings"];

/// What the booking form's handler attaches to its answer (a redirect to the
/// booking's page): the booking it requested. The JSON API's answer (201)
/// names it in its body.
#[derive(Debug, Clone, Copy)]
pub struct RequestedBookingId(pub BookingId);

/// The bookings each network has requested and not yet confirmed.
pub struct PendingBookingsPerNetwork {
    max: usize,
    confirm_ttl: chrono::Duration,
    networks: Mutex<HashMap<ClientNetwork, NetworkHolds>>,
}

#[derive(Debug, Default)]
struct NetworkHolds {
    /// Requested bookings and until when they may be confirmed.
    requested: Vec<(BookingId, DateTime<Utc>)>,
    /// Booking requests of this network being decided right now.
    in_flight: usize,
}

impl NetworkHolds {
    /// Forgets bookings that no longer hold anything.
    fn forget_settled(&mut self, links: &LinksView, now: DateTime<Utc>) {
        self.requested
            .retain(|(booking, confirm_by)| match links.booking(booking) {
                Some(summary) => summary.status == BookingStatus::PendingConfirmation && summary.confirm_by > now,
                // Not in the view yet: it counts until its time to confirm is over.
                None => *confirm_by > now,
            });
    }

    fn held(&self) -> usize {
        self.requested.len() + self.in_flight
    }
}

impl PendingBookingsPerNetwork {
    pub fn new(max: u32, confirm_ttl: chrono::Duration) -> Self {
        PendingBookingsPerNetwork {
            max: max as usize,
            confirm_ttl,
            networks: Mutex::new(HashMap::new()),
        }
    }

    /// A place for one more booking request of `network`, or when the
    /// earliest of its bookings stops holding (`Err`).
    /// `noted` are the network's bookings the store knows (other processes' too).
    fn admit(
        self: &Arc<Self>,
        network: ClientNetwork,
        noted: &[(BookingId, DateTime<Utc>)],
        links: &LinksView,
        now: DateTime<Utc>,
    ) -> Result<InFlight, DateTime<Utc>> {
        let mut networks = self.networks.lock().expect("pending bookings");
        if networks.len() > 10_000 {
            networks.retain(|_, holds| {
                holds.forget_settled(links, now);
                holds.held() > 0
            });
        }
        let holds = networks.entry(network).or_default();
        for (booking, confirm_by) in noted {
            if !holds.requested.iter().any(|(known, _)| known == booking) {
                holds.requested.push((*booking, *confirm_by));
            }
        }
        holds.forget_settled(links, now);
        if holds.held() >= self.max {
            let earliest = holds.requested.iter().map(|(_, confirm_by)| *confirm_by).min();
            return Err(earliest.unwrap_or(now + chrono::Duration::seconds(1)));
        }
        holds.in_flight += 1;
        Ok(InFlight {
            limit: self.clone(),
            network,
        })
    }

    /// `booking` was requested from `network` just now (a form sent twice
    /// with its one-time key answers with the same booking: counted once);
    /// noted in the store too, for the other API processes.
    async fn record(&self, state: &AppState, network: ClientNetwork, booking: BookingId, now: DateTime<Utc>) {
        let confirm_by = now + self.confirm_ttl;
        {
            let mut networks = self.networks.lock().expect("pending bookings");
            let requested = &mut networks.entry(network).or_default().requested;
            if !requested.iter().any(|(known, _)| *known == booking) {
                requested.push((booking, confirm_by));
            }
        }
        let noted = state
            .executor
            .store()
            .progress()
            .note_pending_booking(&booking.to_string(), &network.to_string(), confirm_by)
            .await;
        if let Err(error) = noted {
            tracing::warn!(%error, "a pending booking could not be noted for the other API processes");
        }
    }
}

/// A booking request being decided; leaves the count when dropped (also when
/// the client goes away meanwhile).
struct InFlight {
    limit: Arc<PendingBookingsPerNetwork>,
    network: ClientNetwork,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut networks = self.limit.networks.lock().expect("pending bookings");
        if let Some(holds) = networks.get_mut(&self.network) {
            holds.in_flight = holds.in_flight.saturating_sub(1);
            if holds.held() == 0 {
                networks.remove(&self.network);
            }
        }
    }
}

/// Refuses a booking request from a network that holds its maximum of
/// unconfirmed bookings (429), and remembers each booking requested.
pub async fn limit_pending_bookings(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (Some(limit), Some(client)) = (
        state.pending_bookings.clone(),
        request.extensions().get::<ClientAddress>(),
    ) else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if request.method() != Method::POST
        || !BOOKING_PATHS.contains(&path)
        || request.extensions().get::<StaffRequest>().is_some()
    {
        return next.run(request).await;
    }
    let (network, for_programs) = (client.network(), super::answers_programs(path));
    let now = state.executor.now();
    let noted: Vec<(BookingId, DateTime<Utc>)> = match state
        .executor
        .store()
        .progress()
        .pending_bookings_of(&network.to_string(), now)
        .await
    {
        Ok(noted) => noted
            .into_iter()
            .filter_map(|(booking, until)| Some((booking.parse().ok()?, until)))
            .collect(),
        Err(error) => {
            // The store answers the booking itself too: this process's own count still holds.
            tracing::warn!(%error, "the other API processes' pending bookings cannot be read");
            Vec::new()
        }
    };
    let mut admitted = limit.admit(network, &noted, &state.links.read(), now);
    if admitted.is_err() {
        // Refuse only on what the log says now: a booking confirmed a moment
        // ago may not be in the view yet.
        if let Err(problem) = state.catch_up_views().await {
            return problem.into_response();
        }
        admitted = limit.admit(network, &noted, &state.links.read(), now);
    }
    let _in_flight = match admitted {
        Ok(in_flight) => in_flight,
        Err(free_at) => {
            let seconds = u64::try_from((free_at - now).num_seconds()).unwrap_or(0).max(1);
            return too_many_pending(limit.max, seconds, for_programs);
        }
    };
    let response = next.run(request).await;
    // The form's answer (a redirect to the booking's page) says which booking it requested.
    if let Some(RequestedBookingId(booking)) = response.extensions().get::<RequestedBookingId>().copied() {
        limit.record(&state, network, booking, now).await;
        return response;
    }
    if response.status() != StatusCode::CREATED {
        return response;
    }
    // The API's answer names the booking in its body.
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, super::MAX_BODY_BYTES).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let booking = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|answer| answer.get("booking_id")?.as_str()?.parse::<BookingId>().ok());
    match booking {
        Some(booking) => limit.record(&state, network, booking, now).await,
        None => tracing::warn!("a booking answer without booking_id: not counted for its network"),
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

fn too_many_pending(max: usize, retry_after_seconds: u64, for_programs: bool) -> Response {
    let mut response = if for_programs {
        Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-pending-bookings",
            "Too many unconfirmed bookings",
            format!(
                "your network already holds {max} unconfirmed bookings; confirm them or wait until they lapse \
                 (the first in {retry_after_seconds} s)"
            ),
        )
        .into_response()
    } else {
        let minutes = retry_after_seconds.div_ceil(60);
        super::pages::MessagePage::new("Zu viele unbestätigte Buchungen")
            .paragraph(format!(
                "Aus Ihrem Netz warten schon {max} Buchungen darauf, über den Link in der E-Mail bestätigt zu \
                 werden. Bitte bestätigen Sie zuerst diese Buchungen. Sonst ist in spätestens {minutes} Minuten \
                 wieder eine Buchung möglich."
            ))
            .paragraph("Es wurde nichts gebucht.")
            .link(super::pages::PageLink::new("/", "Zur Startseite"))
            .respond(StatusCode::TOO_MANY_REQUESTS)
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
    response
}
