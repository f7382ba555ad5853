//! Mails to citizens, sent from the log (DESIGN.md invariant 9).
//!
//! ```text
//! log ──► relay ──► bus (in-process | JetStream, msg id = event id) ──► mailer ──► file | SMTP
//!                                                                        │
//!                                                        sent-ledger (one row per event)
//! ```
//! The relay keeps a checkpoint and publishes every event that calls for a
//! mail; the mailer composes it from the log, sends it, records it in the
//! ledger and only then acknowledges. A crash anywhere repeats work, and the
//! message id and the ledger make the repetition harmless.

mod bus;
mod calendar;
mod compose;
mod mailer;
pub(crate) mod qr;
mod relay;
mod templates;
mod transport;

pub use bus::{BusError, Delivery, InProcessBus, JetStreamBus, MAX_DELIVER, MailBus};
pub use compose::{ComposeError, Composed, MailComposer};
pub use mailer::{Handled, MailError, Mailer};
pub use relay::{MailRelay, RELAY_CHECKPOINT};
pub use transport::{MailSender, SendError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use terminagent_eventstore::LogEvent;
use ulid::Ulid;

/// How long to wait before the `failures`-th retry: 1 s, doubling, at most 5 min.
fn backoff(failures: u32) -> std::time::Duration {
    std::time::Duration::from_secs(1u64 << failures.saturating_sub(1).min(9)).min(std::time::Duration::from_secs(300))
}

/// Event types that lead to a mail.
pub const MAIL_EVENT_TYPES: &[&str] = &[
    "booking.requested",
    "booking.confirmed",
    "booking.cancelled",
    "booking.lapsed",
    "booking.reminder_due",
    "wish.registered",
    "wish.confirmed",
    "proposal.made",
    "proposal.accepted",
    "proposal.declined",
    "proposal.expired",
    "proposal.withdrawn",
    "wish.ended",
    "citizen.overview_requested",
    "booking.confirmation_resent",
];

/// Which log a notice comes from. Installations that share a NATS server
/// and stream name (staging beside production, test databases) publish
/// under their own subjects and consume with their own durable consumer,
/// so one never mails another's citizens, and stale notices of a log that
/// is gone never stand in front of fresh ones. Derived from an installation
/// secret: `migrate-log` carries it over, so a moved log keeps its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LogId(String);

impl LogId {
    const SECRET: &'static str = "mail-log-id";

    /// This installation's log id (16 hex digits), made on first use.
    pub async fn of(store: &terminagent_eventstore::EventStore) -> Result<LogId, terminagent_eventstore::VaultError> {
        let secret = store.vault().installation_secret(Self::SECRET).await?;
        Ok(LogId(secret[..8].iter().map(|byte| format!("{byte:02x}")).collect()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LogId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the relay puts on the bus: the event itself. The mailer reads
/// anything else it needs from the store, so the bus stays a re-derivable
/// copy of part of the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailNotice {
    pub event_id: Ulid,
    pub position: u64,
    pub event_type: String,
    pub recorded_at: DateTime<Utc>,
    pub data: Box<RawValue>,
    /// The log it comes from; set on JetStream (see [`LogId`]), absent in
    /// notices of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogId>,
}

impl MailNotice {
    /// The notice of `event`, if it calls for a mail.
    pub fn of(event: &LogEvent) -> Option<MailNotice> {
        let stored = &event.event;
        if !MAIL_EVENT_TYPES.contains(&stored.event_type.as_str()) {
            return None;
        }
        Some(MailNotice {
            event_id: stored.event_id,
            position: event.position,
            event_type: stored.event_type.clone(),
            recorded_at: stored.recorded_at,
            data: match RawValue::from_string(stored.data.as_str().to_owned()) {
                Ok(data) => data,
                Err(error) => {
                    // The log only stores JSON; if this ever happens, say so.
                    tracing::error!(position = event.position, event_type = %stored.event_type, %error,
                        "event data is not JSON; no mail for it");
                    return None;
                }
            },
            log: None,
        })
    }

    /// The sent-ledger key: one mail per event.
    pub fn mail_key(&self) -> String {
        self.event_id.to_string()
    }
}
