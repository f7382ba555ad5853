//! `--demo`: Duisburg's seven Bürger-Service-Stationen, common services and
//! three weeks of weekday capacity, seeded through the same decisions staff
//! use, and only into an empty log.

use chrono::{Datelike, Days, Weekday};
use terminagent_domain::{
    CapacityDecider, CatalogueName, LocalDate, LocalTime, OfficeAddress, OfficeDecider, OfficeId, OfficeTimeZone,
    PublishCapacity, RegisterOffice, RegisterService, ServiceDecider, ServiceId, StreamName,
};
use terminagent_eventstore::StorageError;

use crate::application::{ExecuteError, Executor};

/// (slug, name, address) of each office.
const OFFICES: [(&str, &str, &str); 7] = [
    ("stadtmitte", "Bürger-Service-Station Stadtmitte", "Duisburg-Stadtmitte"),
    ("alt-homberg", "Bürger-Service-Station Alt-Homberg", "Duisburg-Homberg"),
    ("walsum", "Bürger-Service-Station Walsum", "Duisburg-Walsum"),
    ("hamborn", "Bürger-Service-Station Hamborn", "Duisburg-Hamborn"),
    (
        "meiderich-beeck",
        "Bürger-Service-Station Meiderich/Beeck",
        "Duisburg-Meiderich",
    ),
    (
        "rheinhausen",
        "Bürger-Service-Station Rheinhausen",
        "Bezirksamt Rheinhausen, Körnerplatz, Duisburg",
    ),
    ("sued", "Bürger-Service-Station Süd", "Duisburg-Süd"),
];

/// (slug, name); each takes 12 minutes, as in Duisburg.
const SERVICES: [(&str, &str); 8] = [
    ("personalausweis", "Personalausweis"),
    ("reisepass", "Reisepass"),
    ("kinderreisepass", "Kinderreisepass"),
    ("meldebescheinigung", "Meldebescheinigung"),
    ("anmeldung", "An-/Ummeldung"),
    ("fuehrerschein", "Führerschein"),
    ("gewerbeanmeldung", "Gewerbeanmeldung"),
    ("beglaubigung", "Beglaubigung"),
];

const SERVICE_MINUTES: u32 = 12;
const DAYS_AHEAD: u64 = 21;
const LANES: u16 = 3;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("demo data was refused: {0}")]
    Refused(String),
}

impl<E: std::error::Error> From<ExecuteError<E>> for SeedError {
    fn from(error: ExecuteError<E>) -> Self {
        match error {
            ExecuteError::Storage(error) => SeedError::Storage(error),
            other => SeedError::Refused(other.to_string()),
        }
    }
}

/// What was seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    pub offices: usize,
    pub services: usize,
    pub capacity_units: u32,
}

/// Seeds the demo catalogue if the log has no event yet; `None` otherwise.
pub async fn seed_if_empty(executor: &Executor) -> Result<Option<Seeded>, SeedError> {
    if executor.store().catch_up().await? > 0 {
        return Ok(None);
    }
    let cause = executor.new_cause(terminagent_domain::Actor::System(Some(
        terminagent_domain::SystemProcess::Demo,
    )));
    let zone = OfficeTimeZone::parse("Europe/Berlin").expect("a known zone");
    let valid = |what: &str, error: &dyn std::fmt::Display| SeedError::Refused(format!("{what}: {error}"));

    for (slug, name, address) in OFFICES {
        let command = RegisterOffice {
            office: OfficeId::parse(slug).map_err(|e| valid(slug, &e))?,
            name: CatalogueName::parse(name).map_err(|e| valid(name, &e))?,
            address: OfficeAddress::parse(address).map_err(|e| valid(address, &e))?,
            timezone: zone,
        };
        let streams = [StreamName::office(&command.office)];
        executor
            .execute::<OfficeDecider>(&streams, cause, |_| command.clone())
            .await?;
    }
    for (slug, name) in SERVICES {
        let command = RegisterService {
            service: ServiceId::parse(slug).map_err(|e| valid(slug, &e))?,
            name: CatalogueName::parse(name).map_err(|e| valid(name, &e))?,
            duration_minutes: SERVICE_MINUTES,
        };
        let streams = [StreamName::service(&command.service)];
        executor
            .execute::<ServiceDecider>(&streams, cause, |_| command.clone())
            .await?;
    }

    let today = zone.today(executor.now());
    let mut capacity_units = 0;
    for (slug, _, _) in OFFICES {
        let office = OfficeId::parse(slug).map_err(|e| valid(slug, &e))?;
        for date in (1..=DAYS_AHEAD).filter_map(|ahead| today.checked_add_days(Days::new(ahead))) {
            for (from, to) in opening_hours(date.weekday()) {
                let streams = [StreamName::office(&office), StreamName::office_day(&office, date)];
                let date = LocalDate::try_from(date).map_err(|e| valid("date", &e))?;
                let published = executor
                    .execute::<CapacityDecider>(&streams, cause, |now| PublishCapacity {
                        office: office.clone(),
                        date,
                        from,
                        to,
                        unit_minutes: SERVICE_MINUTES,
                        lanes: LANES,
                        now,
                    })
                    .await?;
                capacity_units += published.iter().map(|event| event.units_published()).sum::<u32>();
            }
        }
    }
    Ok(Some(Seeded {
        offices: OFFICES.len(),
        services: SERVICES.len(),
        capacity_units,
    }))
}

/// Mornings on weekdays, and a long Thursday afternoon, as many offices keep.
fn opening_hours(weekday: Weekday) -> Vec<(LocalTime, LocalTime)> {
    let at = |hour| LocalTime::from_hm(hour, 0).expect("a valid hour");
    match weekday {
        Weekday::Sat | Weekday::Sun => vec![],
        Weekday::Thu => vec![(at(8), at(12)), (at(14), at(18))],
        _ => vec![(at(8), at(12))],
    }
}
