//! The invariant part of `audit verify`: every event, in log order, handed to
//! the independent checker (`terminagent_audit_checker`, a crate of its own
//! that shares no code with the matching engine), whose first finding ends
//! the verification with its position.

use terminagent_audit_checker::{Checker, LoggedEvent, ViolationKind};
use terminagent_eventstore::StoredEvent;

use super::verify::EventCheck;

/// [`Checker`] as one of `verify`'s further checks.
pub struct InvariantCheck {
    checker: Checker,
}

impl Default for InvariantCheck {
    fn default() -> Self {
        InvariantCheck::new()
    }
}

impl InvariantCheck {
    pub fn new() -> Self {
        InvariantCheck {
            checker: Checker::new(),
        }
    }
}

impl EventCheck for InvariantCheck {
    fn observe(&mut self, position: u64, event: &StoredEvent) -> Result<(), (u64, String)> {
        self.checker.observe(&LoggedEvent {
            position,
            event_type: &event.event_type,
            streams: &event.streams,
            recorded_at: event.recorded_at,
            actor: event.actor.as_deref(),
            data: event.data.as_str(),
        });
        match self.checker.first_violation() {
            // A finding may name an earlier position (a first-come question
            // is decided once the earlier wish's next event shows where it stood).
            Some(violation) => Err((violation.position, violation.message.clone())),
            None => Ok(()),
        }
    }

    /// At the head, a first-come question still open is a violation: the
    /// earlier wish waited, idle, and nothing in the log excuses passing it
    /// over. (Units left free beside a waiting wish are not: a live log may
    /// end between a release and the matcher's proposal.)
    fn finish(&mut self, _head: u64) -> Result<(), (u64, String)> {
        let undecided = self
            .checker
            .quiescence_violations(chrono::Utc::now())
            .into_iter()
            .filter(|violation| violation.kind == ViolationKind::NotFirstCome)
            .min_by_key(|violation| violation.position);
        match undecided {
            Some(violation) => Err((violation.position, violation.message)),
            None => Ok(()),
        }
    }
}
