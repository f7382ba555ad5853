//! Offices and services as the public lists show them.

use std::collections::BTreeMap;

use serde::Serialize;
use terminagent_domain::{CatalogueEvent, DomainEvent, OfficeId, ServiceId};
use terminagent_eventstore::LogEvent;

use super::Projection;

/// An office as the catalogue lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Office)]
pub struct OfficeEntry {
    /// The office's slug.
    #[schema(pattern = "^[a-z0-9-]{1,64}$", example = "stadtmitte")]
    pub id: String,
    #[schema(example = "Bürger-Service-Station Stadtmitte")]
    pub name: String,
    /// Postal address; may be empty, may span several lines.
    #[schema(example = "Sonnenwall 73-75, 47051 Duisburg")]
    pub address: String,
    /// IANA time zone of the office; local dates and times are in it.
    #[schema(example = "Europe/Berlin")]
    pub timezone: String,
}

/// A service as the catalogue lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Service)]
pub struct ServiceEntry {
    /// The service's slug.
    #[schema(pattern = "^[a-z0-9-]{1,64}$", example = "personalausweis")]
    pub id: String,
    #[schema(example = "Personalausweis")]
    pub name: String,
    /// Minutes one booking of this service takes.
    #[schema(minimum = 1, maximum = 480, example = 12)]
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
