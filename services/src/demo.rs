//! `--demo`: Duisburg's seven Bürger-Service-Stationen with opening hours and
//! Nordrhein-Westfalen's public holidays, common services and three weeks of
//! capacity on the days they are open, seeded through the same decisions
//! staff use, and only into an empty log.

use chrono::{Days, Weekday};
use terminagent_domain::{
    CapacityDecider, CatalogueName, ClosedDays, HolidayRegion, LocalDate, LocalTime, OfficeAddress, OfficeDecider,
    OfficeId, OfficeTimeZone, OpeningHours, OpeningInterval, PublishCapacity, RegisterOffice, RegisterService,
    ServiceDecider, ServiceDescription, ServiceId, StreamName,
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

/// What to bring for a demo service ("Was Sie mitbringen müssen"), as the
/// office pages show it; paragraphs are separated by a blank line.
fn what_to_bring(slug: &str) -> Option<&'static str> {
    Some(match slug {
        "personalausweis" | "reisepass" | "kinderreisepass" => {
            "Ihr bisheriges Ausweisdokument (Personalausweis oder Reisepass)\n\
             ein aktuelles biometrisches Passfoto\n\n\
             Die Gebühr können Sie bar oder mit Karte bezahlen."
        }
        "anmeldung" => {
            "Ihren Personalausweis oder Reisepass\n\
             die Wohnungsgeberbestätigung Ihrer Vermieterin oder Ihres Vermieters"
        }
        "fuehrerschein" => {
            "Ihren Personalausweis oder Reisepass\nein biometrisches Passfoto\nIhren bisherigen Führerschein"
        }
        "gewerbeanmeldung" => "Ihren Personalausweis oder Reisepass\nbei Handwerksberufen die Handwerkskarte",
        "meldebescheinigung" | "beglaubigung" => "Ihren Personalausweis oder Reisepass",
        _ => return None,
    })
}

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

    let mut offices = Vec::with_capacity(OFFICES.len());
    for (slug, name, address) in OFFICES {
        let hours = opening_hours(slug).map_err(|e| valid("opening hours", &e))?;
        let command = RegisterOffice {
            office: OfficeId::parse(slug).map_err(|e| valid(slug, &e))?,
            name: CatalogueName::parse(name).map_err(|e| valid(name, &e))?,
            address: OfficeAddress::parse(address).map_err(|e| valid(address, &e))?,
            timezone: zone,
            opening_hours: Some(hours),
            holidays: Some(HolidayRegion::NordrheinWestfalen),
            closed_days: ClosedDays::default(),
        };
        let streams = [StreamName::office(&command.office)];
        executor
            .execute::<OfficeDecider>(&streams, cause, |_| command.clone())
            .await?;
        offices.push(command.details());
    }
    for (slug, name) in SERVICES {
        let command = RegisterService {
            service: ServiceId::parse(slug).map_err(|e| valid(slug, &e))?,
            name: CatalogueName::parse(name).map_err(|e| valid(name, &e))?,
            duration_minutes: SERVICE_MINUTES,
            // Short errands only may be drawn at the kiosk without an appointment.
            walk_in: matches!(slug, "meldebescheinigung" | "beglaubigung"),
            description: what_to_bring(slug)
                .map(ServiceDescription::parse)
                .transpose()
                .map_err(|e| valid(slug, &e))?,
        };
        let streams = [StreamName::service(&command.service)];
        executor
            .execute::<ServiceDecider>(&streams, cause, |_| command.clone())
            .await?;
    }

    let today = zone.today(executor.now());
    let mut capacity_units = 0;
    for details in &offices {
        let office = &details.office;
        for date in (1..=DAYS_AHEAD).filter_map(|ahead| today.checked_add_days(Days::new(ahead))) {
            let streams = [StreamName::office(office), StreamName::office_day(office, date)];
            let date = LocalDate::try_from(date).map_err(|e| valid("date", &e))?;
            // Weekends and public holidays: the office's own calendar says so,
            // the same one the capacity decision enforces.
            if details.closed_on(date).is_some() {
                continue;
            }
            let hours = details
                .opening_hours
                .as_ref()
                .map(|hours| hours.day(date.weekday()).to_vec());
            for interval in hours.unwrap_or_default() {
                let published = executor
                    .execute::<CapacityDecider>(&streams, cause, |now| PublishCapacity {
                        office: office.clone(),
                        date,
                        from: interval.from(),
                        to: interval.to(),
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

/// A station's weekly hours, after the city's announcement of its service
/// hours (Rheinische Post): the administration's core hours 08:00–16:00 on
/// weekdays, every station until 18:00 on Thursdays ("Dienstleistungs-
/// donnerstag"), and one more long day for some: Homberg on Mondays, Walsum
/// and Süd on Tuesdays, Meiderich on Wednesdays. Closed at weekends.
fn opening_hours(office: &str) -> Result<OpeningHours, terminagent_domain::OpeningHoursError> {
    let at = |hour| LocalTime::from_hm(hour, 0).expect("a valid hour");
    let long_day = match office {
        "alt-homberg" => Some(Weekday::Mon),
        "walsum" | "sued" => Some(Weekday::Tue),
        "meiderich-beeck" => Some(Weekday::Wed),
        _ => None,
    };
    let day = |weekday: Weekday| {
        let until = if weekday == Weekday::Thu || Some(weekday) == long_day {
            18
        } else {
            16
        };
        Ok((weekday, vec![OpeningInterval::new(at(8), at(until))?]))
    };
    OpeningHours::new([
        day(Weekday::Mon)?,
        day(Weekday::Tue)?,
        day(Weekday::Wed)?,
        day(Weekday::Thu)?,
        day(Weekday::Fri)?,
    ])
}
