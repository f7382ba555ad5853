//! `terminagent audit as-of (TIME|POSITION) --office O --date D` and
//! `GET /api/v1/audit/as-of`: one office day as the log stood at a past
//! instant or position — its units (free, booked, proposed, kept for a
//! waiting wish), its bookings with waiting numbers and status, and the
//! wishes waiting for the office — so an auditor can see what a citizen or a
//! clerk saw then.
//!
//! The capacity and the day list are the product's own views
//! (`AvailabilityView`, `DayListView`) folded from the log's first event up
//! to the instant: the same code that answered then answers now, given the
//! same prefix (invariant 6). The waitlist is the audit's own fold
//! (`why.rs`), not the engine's.
//!
//! "As of a time" means the log up to its last event before the first one
//! recorded after that time: a prefix of the log, never a selection out of
//! it, so the state shown is one the system really passed through.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use terminagent_domain::{LocalDate, OfficeId, OfficeTimeZone};
use terminagent_eventstore::{EventStore, StorageError};

use super::Lang;
use super::events::{decode, folded};
use super::why::{Queue, QueuedPhase};
use crate::projections::{AvailabilityView, CatalogueView, DayListView, Projection, UnitUse};

const PAGE: usize = 1000;

/// Where in the log to look: after the event at a position, or at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Position(u64),
    Time(DateTime<Utc>),
}

impl AsOf {
    /// A position (digits) or an RFC 3339 instant (`2026-12-01T09:15:00+01:00`).
    pub fn parse(text: &str) -> Result<AsOf, AsOfError> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
            return match text.parse::<u64>() {
                Ok(position) if position >= 1 => Ok(AsOf::Position(position)),
                _ => Err(AsOfError::InvalidAt(text.to_owned())),
            };
        }
        DateTime::parse_from_rfc3339(text)
            .map(|instant| AsOf::Time(instant.with_timezone(&Utc)))
            .map_err(|_| AsOfError::InvalidAt(text.to_owned()))
    }

    /// Whether the event at `position`, recorded at `recorded_at`, is past the instant.
    fn is_after(&self, position: u64, recorded_at: DateTime<Utc>) -> bool {
        match *self {
            AsOf::Position(last) => position > last,
            AsOf::Time(instant) => recorded_at > instant,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AsOfError {
    #[error("{0:?} is neither a log position (1, 2, …) nor an RFC 3339 time such as 2026-12-01T09:15:00+01:00")]
    InvalidAt(String),
    #[error("{0:?} is not an office id")]
    InvalidOffice(String),
    #[error("{0:?} is not a date (YYYY-MM-DD)")]
    InvalidDate(String),
    #[error("position {asked} is beyond the log's head ({head})")]
    BeyondHead { asked: u64, head: u64 },
    #[error("the log knows no office {office} as of {at}")]
    UnknownOffice { office: String, at: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// One office day as the log stood at `position`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OfficeDayAsOf {
    pub office: String,
    pub date: String,
    /// What was asked: a position or a time (RFC 3339, UTC).
    pub asked: String,
    /// The last position folded: the answer is the log up to here.
    pub position: u64,
    /// When the event at `position` was recorded (UTC); `null` for an empty prefix.
    pub recorded_at: Option<String>,
    pub units: Vec<UnitAsOf>,
    pub totals: UnitTotals,
    pub bookings: Vec<BookingAsOf>,
    pub waitlist: WaitlistAsOf,
}

/// One published unit and what it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnitAsOf {
    pub lane: u16,
    /// Office-local `HH:MM`.
    pub start: String,
    pub end: String,
    /// `free`, `booked` (by a booking on the day list), `proposed` (held by a
    /// proposal to a wish) or `kept_for_wish` (free, but kept back for a
    /// waiting wish that fits it, invariant 4) or `started_free` (its start
    /// had passed with no one holding it).
    pub state: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnitTotals {
    pub published: usize,
    pub free: usize,
    pub booked: usize,
    pub proposed: usize,
    pub kept_for_wish: usize,
    pub started_free: usize,
}

/// One booking of the day, without personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BookingAsOf {
    pub booking: String,
    /// Office-local `HH:MM`.
    pub start: String,
    pub end: String,
    pub lane: u16,
    pub services: Vec<String>,
    /// The waiting number, once confirmed.
    pub number: Option<String>,
    /// As the day list says it (`pending_confirmation`, `confirmed`, `checked_in`, …).
    pub status: &'static str,
}

/// The wishes naming the office that were still open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WaitlistAsOf {
    /// Waiting wishes naming the office (with or without an open proposal).
    pub waiting: usize,
    /// Of them, those holding an open proposal.
    pub with_open_proposal: usize,
    /// In queue order (registration), first come first.
    pub wishes: Vec<WaitingWishAsOf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WaitingWishAsOf {
    pub wish: String,
    /// The position of its registration: its place in the queue.
    pub registered_at: u64,
    /// Every office it names.
    pub offices: Vec<String>,
    /// The open proposal, if one waited for an answer.
    pub proposal: Option<String>,
    /// Since which position it waited or held its proposal.
    pub since: u64,
}

/// The three folds an answer needs, fed the same prefix.
#[derive(Default)]
struct Folds {
    catalogue: CatalogueView,
    availability: AvailabilityView,
    day_list: DayListView,
    queue: Queue,
}

/// Folds the log up to `at` and answers for `office` on `date`.
pub async fn office_day_as_of(
    store: &EventStore,
    at: AsOf,
    office: &str,
    date: &str,
) -> Result<OfficeDayAsOf, AsOfError> {
    let office = OfficeId::parse(office).map_err(|_| AsOfError::InvalidOffice(office.to_owned()))?;
    let date = LocalDate::parse(date).map_err(|_| AsOfError::InvalidDate(date.to_owned()))?;
    let head = store.catch_up().await?;
    // A time after the log's last event answers the head: the log is all
    // there is to say about it, and the answer names the position it reflects.
    if let AsOf::Position(asked) = at
        && asked > head
    {
        return Err(AsOfError::BeyondHead { asked, head });
    }
    let mut folds = Folds::default();
    let (mut position, mut recorded_at) = (0, None);
    'log: while position < head {
        let page = store.read_all(position, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for event in &page {
            if at.is_after(event.position, event.event.recorded_at) {
                break 'log;
            }
            folds.catalogue.apply(event);
            folds.availability.apply(event);
            folds.day_list.apply(event);
            let event_type = event.event.event_type.as_str();
            if folded(event_type)
                && let Ok(Some(known)) = decode(event_type, event.event.data.as_str())
            {
                folds.queue.apply(event.position, &known);
            }
            (position, recorded_at) = (event.position, Some(event.event.recorded_at));
        }
    }
    let asked = match at {
        AsOf::Position(position) => position.to_string(),
        AsOf::Time(instant) => rfc3339(instant),
    };
    let zone = folds
        .catalogue
        .office(&office)
        .and_then(|entry| OfficeTimeZone::parse(&entry.timezone).ok())
        .ok_or_else(|| AsOfError::UnknownOffice {
            office: office.to_string(),
            at: asked.clone(),
        })?;
    Ok(answer(&folds, &office, date, &zone, asked, position, recorded_at))
}

fn answer(
    folds: &Folds,
    office: &OfficeId,
    date: LocalDate,
    zone: &OfficeTimeZone,
    asked: String,
    position: u64,
    recorded_at: Option<DateTime<Utc>>,
) -> OfficeDayAsOf {
    let local = |instant: DateTime<Utc>| zone.to_local(instant).format("%H:%M").to_string();
    let day = folds.day_list.day(office, date.as_naive());
    let bookings: Vec<BookingAsOf> = day
        .iter()
        .map(|entry| BookingAsOf {
            booking: entry.booking.to_string(),
            start: local(entry.start),
            end: local(entry.end),
            lane: entry.lane,
            services: entry.services.iter().map(ToString::to_string).collect(),
            number: entry.number.as_ref().map(ToString::to_string),
            status: entry.status.as_str(),
        })
        .collect();
    let mut totals = UnitTotals::default();
    let units = folds
        .availability
        .units_of_day(office, date)
        .into_iter()
        .map(|(span, unit_use)| {
            let (start, end) = (span.start.to_string(), span.end.to_string());
            let state = match unit_use {
                UnitUse::Free => "free",
                UnitUse::KeptForWish => "kept_for_wish",
                UnitUse::Started => "started_free",
                // A held unit is a booking's when a live booking of the day
                // list covers it; otherwise a proposal holds it.
                UnitUse::Held if booked_by_day_list(&bookings, span.lane, &start) => "booked",
                UnitUse::Held => "proposed",
            };
            totals.published += 1;
            match state {
                "free" => totals.free += 1,
                "kept_for_wish" => totals.kept_for_wish += 1,
                "booked" => totals.booked += 1,
                "started_free" => totals.started_free += 1,
                _ => totals.proposed += 1,
            }
            UnitAsOf {
                lane: span.lane,
                start,
                end,
                state,
            }
        })
        .collect();
    let wishes: Vec<WaitingWishAsOf> = folds
        .queue
        .open_wishes_for(office)
        .map(|(wish, registered_at, offices, phase)| {
            let (proposal, since) = match phase {
                QueuedPhase::Waiting { since } => (None, since),
                QueuedPhase::Proposed { proposal, since } => (Some(proposal.to_string()), since),
            };
            WaitingWishAsOf {
                wish: wish.to_string(),
                registered_at,
                offices: offices.iter().map(ToString::to_string).collect(),
                proposal,
                since,
            }
        })
        .collect();
    OfficeDayAsOf {
        office: office.to_string(),
        date: date.to_string(),
        asked,
        position,
        recorded_at: recorded_at.map(rfc3339),
        units,
        totals,
        waitlist: WaitlistAsOf {
            waiting: wishes.len(),
            with_open_proposal: wishes.iter().filter(|wish| wish.proposal.is_some()).count(),
            wishes,
        },
        bookings,
    }
}

/// Whether a booking that still holds its units (not cancelled or lapsed)
/// covers the unit of `lane` starting at `start` (`HH:MM`).
fn booked_by_day_list(bookings: &[BookingAsOf], lane: u16, start: &str) -> bool {
    bookings.iter().any(|booking| {
        booking.lane == lane
            && booking.start.as_str() <= start
            && start < booking.end.as_str()
            && !matches!(booking.status, "cancelled" | "lapsed")
    })
}

fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl OfficeDayAsOf {
    /// The answer as lines for a terminal.
    pub fn to_text(&self, lang: Lang) -> String {
        let de = lang == Lang::De;
        let mut out = String::new();
        let at = match &self.recorded_at {
            Some(time) => format!("{} ({time})", self.position),
            None => self.position.to_string(),
        };
        out.push_str(&if de {
            format!("{} am {}, Stand des Logs bis Position {at}\n", self.office, self.date)
        } else {
            format!("{} on {}, the log up to position {at}\n", self.office, self.date)
        });
        let t = &self.totals;
        out.push_str(&if de {
            format!(
                "\nEinheiten: {} veröffentlicht, {} frei, {} gebucht, {} vorgeschlagen, {} für wartende Wünsche zurückgehalten, {} ungenutzt begonnen\n",
                t.published, t.free, t.booked, t.proposed, t.kept_for_wish, t.started_free
            )
        } else {
            format!(
                "\nUnits: {} published, {} free, {} booked, {} proposed, {} kept for waiting wishes, {} started unused\n",
                t.published, t.free, t.booked, t.proposed, t.kept_for_wish, t.started_free
            )
        });
        for unit in &self.units {
            out.push_str(&format!(
                "  {}  {}–{}  {}\n",
                unit.lane, unit.start, unit.end, unit.state
            ));
        }
        out.push_str(&if de {
            format!("\nBuchungen: {}\n", self.bookings.len())
        } else {
            format!("\nBookings: {}\n", self.bookings.len())
        });
        for booking in &self.bookings {
            out.push_str(&format!(
                "  {}–{}  {}  {:<6} {:<22} {}  {}\n",
                booking.start,
                booking.end,
                booking.lane,
                booking.number.as_deref().unwrap_or("-"),
                booking.status,
                booking.booking,
                booking.services.join(",")
            ));
        }
        let w = &self.waitlist;
        out.push_str(&if de {
            format!(
                "\nWarteliste für {}: {} wartend, davon {} mit offenem Vorschlag\n",
                self.office, w.waiting, w.with_open_proposal
            )
        } else {
            format!(
                "\nWaitlist for {}: {} waiting, {} of them with an open proposal\n",
                self.office, w.waiting, w.with_open_proposal
            )
        });
        for wish in &w.wishes {
            let state = match &wish.proposal {
                Some(proposal) if de => format!("Vorschlag {proposal} seit {}", wish.since),
                Some(proposal) => format!("proposal {proposal} since {}", wish.since),
                None if de => format!("wartet seit {}", wish.since),
                None => format!("waiting since {}", wish.since),
            };
            out.push_str(&format!(
                "  {} {} {}  {}  ({})\n",
                if de { "Wunsch" } else { "wish" },
                wish.wish,
                if de { "ab Position" } else { "from position" },
                wish.registered_at,
                state
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_times_parse_and_nothing_else_does() {
        assert_eq!(AsOf::parse("17").unwrap(), AsOf::Position(17));
        assert_eq!(
            AsOf::parse("2026-12-01T09:15:00+01:00").unwrap(),
            AsOf::Time("2026-12-01T08:15:00Z".parse().unwrap())
        );
        for bad in ["0", "", "yesterday", "2026-12-01", "-3", "99999999999999999999999"] {
            assert!(matches!(AsOf::parse(bad), Err(AsOfError::InvalidAt(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_time_stops_at_the_first_event_recorded_after_it() {
        let at = AsOf::Time("2026-12-01T08:15:00Z".parse().unwrap());
        assert!(!at.is_after(9, "2026-12-01T08:15:00Z".parse().unwrap()));
        assert!(at.is_after(10, "2026-12-01T08:15:00.001Z".parse().unwrap()));
        let at = AsOf::Position(9);
        assert!(!at.is_after(9, Utc::now()));
        assert!(at.is_after(10, "2000-01-01T00:00:00Z".parse().unwrap()));
    }
}
