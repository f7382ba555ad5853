//! Offices and services as the public lists show them.

use std::collections::BTreeMap;

use serde::Serialize;
use terminagent_domain::{CatalogueEvent, DomainEvent, OfficeDetails, OfficeId, OpeningHours, ServiceId};
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
    /// Weekly opening hours; capacity is published only inside them. `null`:
    /// no fixed hours, capacity at any time.
    #[schema(value_type = Option<OpeningHoursSchema>, required = true)]
    pub opening_hours: Option<OpeningHours>,
    /// Holiday region (ISO 3166-2 code of a German state) whose public
    /// holidays close the office; `null`: none.
    #[schema(pattern = "^DE-[A-Z]{2}$", example = "DE-NW", required = true)]
    pub holidays: Option<String>,
    /// The office's own closed days beyond its hours and public holidays, ascending.
    #[schema(value_type = Vec<String>, format = Date, max_items = 366, example = json!(["2026-12-24", "2026-12-31"]))]
    pub closed_days: Vec<String>,
}

impl From<&OfficeDetails> for OfficeEntry {
    fn from(details: &OfficeDetails) -> Self {
        OfficeEntry {
            id: details.office.to_string(),
            name: details.name.to_string(),
            address: details.address.to_string(),
            timezone: details.timezone.to_string(),
            opening_hours: details.opening_hours.clone(),
            holidays: details.holidays.map(|region| region.code().to_owned()),
            closed_days: details.closed_days.iter().map(|day| day.to_string()).collect(),
        }
    }
}

/// Office-local weekly opening hours: weekday (`mon` … `sun`) → up to 4
/// intervals, sorted, neither overlapping nor touching. A weekday left out is
/// closed; at least one weekday is open.
///
/// Documents the JSON of `terminagent_domain::OpeningHours`, which does the parsing.
#[derive(utoipa::ToSchema)]
#[schema(as = OpeningHours, example = json!({"mon": [["08:00", "12:00"], ["14:00", "16:00"]], "thu": [["08:00", "18:00"]]}))]
#[allow(dead_code)]
pub struct OpeningHoursSchema {
    #[schema(required = false, max_items = 4)]
    mon: Vec<OpeningIntervalSchema>,
    #[schema(required = false, max_items = 4)]
    tue: Vec<OpeningIntervalSchema>,
    #[schema(required = false, max_items = 4)]
    wed: Vec<OpeningIntervalSchema>,
    #[schema(required = false, max_items = 4)]
    thu: Vec<OpeningIntervalSchema>,
    #[schema(required = false, max_items = 4)]
    fri: Vec<OpeningIntervalSchema>,
    #[schema(required = false, max_items = 4)]
    sat: Vec<OpeningIntervalSchema>,
    #[schema(required = false, max_items = 4)]
    sun: Vec<OpeningIntervalSchema>,
}

/// `["from", "to"]`, local `HH:MM` each, `from` before `to`: open from `from`
/// up to (not including) `to`. Written by hand: a two-string array is beyond
/// what the derive describes.
pub struct OpeningIntervalSchema;

impl utoipa::PartialSchema for OpeningIntervalSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-2][0-9]:[0-5][0-9]$")),
            )
            .min_items(Some(2))
            .max_items(Some(2))
            .description(Some(
                "`[from, to]`, local `HH:MM` each, `from` before `to`: open from `from` up to (not including) `to`.",
            ))
            .examples([serde_json::json!(["08:00", "12:00"])])
            .build()
            .into()
    }
}

impl utoipa::ToSchema for OpeningIntervalSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "OpeningInterval".into()
    }
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
    /// A kiosk may issue walk-in tickets for it.
    pub walk_in: bool,
    /// What a citizen brings ("Was Sie mitbringen müssen"), plain text; a
    /// blank line separates paragraphs. `null`: none given.
    #[schema(max_length = 2000, example = "Personalausweis\nein Passfoto", required = true)]
    pub description: Option<String>,
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
                let entry = OfficeEntry::from(&details);
                self.offices.insert(details.office, entry);
            }
            CatalogueEvent::ServiceRegistered(details) | CatalogueEvent::ServiceDetailsChanged(details) => {
                let entry = ServiceEntry {
                    id: details.service.to_string(),
                    name: details.name.to_string(),
                    duration_minutes: details.duration_minutes,
                    walk_in: details.walk_in,
                    description: details.description.map(String::from),
                };
                self.services.insert(details.service, entry);
            }
            CatalogueEvent::CapacityPublished(_) | CatalogueEvent::CapacityWithdrawn(_) => {}
        }
    }
}
