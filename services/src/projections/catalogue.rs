//! Offices and services as the public lists show them.

use std::collections::BTreeMap;

use serde::Serialize;
use terminagent_domain::{CatalogueEvent, DomainEvent, OfficeId, ServiceId};
use terminagent_eventstore::LogEvent;

use super::Projection;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfficeEntry {
    pub id: String,
    pub name: String,
    pub address: String,
    pub timezone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceEntry {
    pub id: String,
    pub name: String,
    pub duration_minutes: u32,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CatalogueView {
    offices: BTreeMap<OfficeId, OfficeEntry>,
    services: BTreeMap<ServiceId, ServiceEntry>,
}

impl CatalogueView {
    pub fn offices(&self) -> impl Iterator<Item = &OfficeEntry> {
        self.offices.values()
    }

    pub fn office(&self, id: &OfficeId) -> Option<&OfficeEntry> {
        self.offices.get(id)
    }

    pub fn services(&self) -> impl Iterator<Item = &ServiceEntry> {
        self.services.values()
    }

    pub fn service(&self, id: &ServiceId) -> Option<&ServiceEntry> {
        self.services.get(id)
    }
}

impl Projection for CatalogueView {
    fn apply(&mut self, event: &LogEvent) {
        let event_type = event.event.event_type.as_str();
        if !CatalogueEvent::EVENT_TYPES.contains(&event_type) {
            return;
        }
        let Ok(catalogue_event) = CatalogueEvent::from_stored_json(event_type, event.event.data.as_str()) else {
            tracing::error!(
                position = event.position,
                event_type,
                "catalogue event does not decode; skipped"
            );
            return;
        };
        match catalogue_event {
            CatalogueEvent::OfficeRegistered(details) | CatalogueEvent::OfficeDetailsChanged(details) => {
                let entry = OfficeEntry {
                    id: details.office.to_string(),
                    name: details.name.to_string(),
                    address: details.address.to_string(),
                    timezone: details.timezone.to_string(),
                };
                self.offices.insert(details.office, entry);
            }
            CatalogueEvent::ServiceRegistered(details) | CatalogueEvent::ServiceDetailsChanged(details) => {
                let entry = ServiceEntry {
                    id: details.service.to_string(),
                    name: details.name.to_string(),
                    duration_minutes: details.duration_minutes,
                };
                self.services.insert(details.service, entry);
            }
            CatalogueEvent::CapacityPublished(_) => {}
        }
    }
}
