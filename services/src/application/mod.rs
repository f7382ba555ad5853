//! The application layer: runs domain decisions against the event log.
//! Handlers call in here; nothing here knows about HTTP.

mod bookings;
mod executor;

pub use bookings::{BookingRequest, RequestBookingError, RequestedBooking, request_booking};

pub use executor::{Clock, ExecuteError, Executor, IdSource, SystemClock};
