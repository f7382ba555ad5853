//! The staff directory as requests see it: accounts, roles, live tokens and
//! devices (`staff-directory`, folded by the domain's own rules).

use std::ops::Deref;

use terminagent_domain::{DomainEvent, StaffDirectory, StaffEvent};
use terminagent_eventstore::LogEvent;

use super::Projection;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StaffView(StaffDirectory);

impl Deref for StaffView {
    type Target = StaffDirectory;
    fn deref(&self) -> &StaffDirectory {
        &self.0
    }
}

impl Projection for StaffView {
    fn apply(&mut self, event: &LogEvent) {
        let event_type = event.event.event_type.as_str();
        if !StaffEvent::EVENT_TYPES.contains(&event_type) {
            return;
        }
        match StaffEvent::from_stored_json(event_type, event.event.data.as_str()) {
            Ok(staff_event) => self.0.apply(&staff_event),
            Err(error) => {
                tracing::error!(position = event.position, event_type, %error, "staff event does not decode; skipped")
            }
        }
    }
}
