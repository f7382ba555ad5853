//! The application layer: runs domain decisions against the event log.
//! Handlers call in here; nothing here knows about HTTP.

mod bookings;
mod executor;
mod lapse;
mod links;
mod wishes;

pub use bookings::{BookingRequest, RequestBookingError, RequestedBooking, request_booking};

pub use executor::{Clock, ExecuteError, Executor, IdSource, SystemClock};
pub use lapse::{LAPSE_CHECK_INTERVAL, lapse_due_bookings, spawn_lapse_timer};
pub use links::{LinkContext, LinkOutcome, LinkRefusal, LinkState, follow_link, link_state};
pub use wishes::{
    RegisterWishError, WishAnswer, WishRequest, answer_wish, expire_proposal, lapse_wish, propose_units, register_wish,
};
