//! The application layer: runs domain decisions against the event log.
//! Handlers call in here; nothing here knows about HTTP.

mod executor;

pub use executor::{Clock, ExecuteError, Executor, IdSource, SystemClock};
