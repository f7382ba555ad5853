//! The trace's sentences, German and English: one per event, and the
//! explanation of why a proposal's wish was chosen. Appointment times are
//! office-local (the zone the log last gave the office), like the mails.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use terminagent_domain::{
    BookingEvent, CatalogueEvent, DayListEvent, ErasureEvent, ErasureReason, FloorEvent, LocalDate, MissedReason,
    OfficeId, OfficeTimeZone, OverviewEvent, ReminderEvent, ServiceId, StaffEvent, UnitRef, WeeklyWindows,
    WishEndReason, WishEvent,
};

use super::Lang;
use super::events::Known;
use super::why::{Reason, Why};

/// Each office's time zone, as the log last gave it.
#[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Zones(HashMap<OfficeId, OfficeTimeZone>);

impl Zones {
    pub fn apply(&mut self, event: &Known) {
        if let Known::Catalogue(
            CatalogueEvent::OfficeRegistered(office) | CatalogueEvent::OfficeDetailsChanged(office),
        ) = event
        {
            self.0.insert(office.office.clone(), office.timezone);
        }
    }

    /// `01.12.2026 09:00` / `2026-12-01 09:00` at the office; UTC (and said so) when its zone is unknown.
    fn local(&self, office: &OfficeId, instant: DateTime<Utc>, lang: Lang) -> String {
        match self.0.get(office) {
            Some(zone) => {
                let local = zone.to_local(instant);
                match lang {
                    Lang::De => local.format("%d.%m.%Y %H:%M").to_string(),
                    Lang::En => local.format("%Y-%m-%d %H:%M").to_string(),
                }
            }
            None => match lang {
                Lang::De => instant.format("%d.%m.%Y %H:%M UTC").to_string(),
                Lang::En => instant.format("%Y-%m-%d %H:%M UTC").to_string(),
            },
        }
    }

    /// `09:00` at the office (UTC, said so, when its zone is unknown).
    fn clock(&self, office: &OfficeId, instant: DateTime<Utc>) -> String {
        match self.0.get(office) {
            Some(zone) => zone.to_local(instant).format("%H:%M").to_string(),
            None => instant.format("%H:%M UTC").to_string(),
        }
    }

    /// `01.12.2026 09:00–09:12 (Spur 1)` from the first unit and the end.
    fn slot(&self, office: &OfficeId, units: &[UnitRef], end: DateTime<Utc>, lang: Lang) -> String {
        let Some(first) = units.first() else {
            return self.local(office, end, lang);
        };
        let lane = match lang {
            Lang::De => "Spur",
            Lang::En => "lane",
        };
        format!(
            "{} {}–{} ({lane} {})",
            day(first.date, lang),
            first.start,
            self.clock(office, end),
            first.lane
        )
    }
}

fn day(date: LocalDate, lang: Lang) -> String {
    match lang {
        Lang::De => date.as_naive().format("%d.%m.%Y").to_string(),
        Lang::En => date.to_string(),
    }
}

/// `mitte am 18.12.2026 ab 09:00 (Spur 1)` / `mitte on 2026-12-18 from 09:00 (lane 1)`, with the
/// number of units when there are several.
fn units_at(units: &[UnitRef], lang: Lang) -> String {
    let Some(first) = units.first() else {
        return match lang {
            Lang::De => "keine Einheiten".to_owned(),
            Lang::En => "no units".to_owned(),
        };
    };
    let several = match (units.len(), lang) {
        (1, _) => String::new(),
        (n, Lang::De) => format!(", {n} Einheiten"),
        (n, Lang::En) => format!(", {n} units"),
    };
    match lang {
        Lang::De => format!(
            "{} am {} ab {} (Spur {}{several})",
            first.office,
            day(first.date, lang),
            first.start,
            first.lane
        ),
        Lang::En => format!(
            "{} on {} from {} (lane {}{several})",
            first.office,
            day(first.date, lang),
            first.start,
            first.lane
        ),
    }
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn services(services: &[ServiceId]) -> String {
    list(services)
}

fn units(count: usize, lang: Lang) -> String {
    match (lang, count) {
        (Lang::De, 1) => "1 Einheit".to_owned(),
        (Lang::De, n) => format!("{n} Einheiten"),
        (Lang::En, 1) => "1 unit".to_owned(),
        (Lang::En, n) => format!("{n} units"),
    }
}

const WEEKDAYS_DE: [&str; 7] = ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"];
const WEEKDAYS_EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn weekday_name(index: usize, lang: Lang) -> &'static str {
    match lang {
        Lang::De => WEEKDAYS_DE[index],
        Lang::En => WEEKDAYS_EN[index],
    }
}

/// `Di 8, 9; Fr 12` / `Tue 8, 9; Fri 12`.
fn windows(windows: &WeeklyWindows, lang: Lang) -> String {
    let mut days: Vec<(usize, Vec<u32>)> = Vec::new();
    for (weekday, hour) in windows.iter() {
        let index = weekday.num_days_from_monday() as usize;
        match days.last_mut() {
            Some((last, hours)) if *last == index => hours.push(hour),
            _ => days.push((index, vec![hour])),
        }
    }
    days.iter()
        .map(|(index, hours)| format!("{} {}", weekday_name(*index, lang), list(hours)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `tue 9` (the audit's window key) as `Di 9–10 Uhr` / `Tue 9:00–9:59`.
fn window_words(key: &str, lang: Lang) -> String {
    let Some((day, hour)) = key.split_once(' ') else {
        return key.to_owned();
    };
    let index = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|d| *d == day)
        .unwrap_or(0);
    let hour: u32 = hour.parse().unwrap_or(0);
    match lang {
        Lang::De => format!("{} {hour}–{} Uhr", weekday_name(index, lang), hour + 1),
        Lang::En => format!("{} {hour}:00–{hour}:59", weekday_name(index, lang)),
    }
}

fn end_reason(reason: &str, lang: Lang) -> &'static str {
    match (lang, reason) {
        (Lang::De, "citizen") => "von der Person selbst",
        (Lang::De, "unanswered_proposals") => "nach zu vielen unbeantworteten Vorschlägen",
        (Lang::De, "until_passed") => "ihr letztes gewünschtes Datum war vorbei",
        (Lang::De, "unconfirmed") => "niemand hat sie rechtzeitig bestätigt",
        (Lang::De, _) => "aus einem unbekannten Grund",
        (Lang::En, "citizen") => "by the citizen",
        (Lang::En, "unanswered_proposals") => "after too many unanswered proposals",
        (Lang::En, "until_passed") => "its last date had passed",
        (Lang::En, "unconfirmed") => "nobody confirmed it in time",
        (Lang::En, _) => "for an unknown reason",
    }
}

fn wish_end_reason(reason: WishEndReason) -> &'static str {
    match reason {
        WishEndReason::Citizen => "citizen",
        WishEndReason::UnansweredProposals => "unanswered_proposals",
        WishEndReason::UntilPassed => "until_passed",
        WishEndReason::Unconfirmed => "unconfirmed",
    }
}

/// The sentence of one event; `known` is `None` for a type the audit does
/// not know, `decode_error` says why data of a known type did not decode.
pub(super) fn sentence(known: Option<&Known>, decode_error: Option<&str>, lang: Lang, zones: &Zones) -> String {
    let Some(known) = known else {
        return match (lang, decode_error) {
            (Lang::De, Some(error)) => format!("Daten nicht lesbar: {error}."),
            (Lang::En, Some(error)) => format!("Data unreadable: {error}."),
            (Lang::De, None) => "Ereignistyp ohne Beschreibung im Audit.".to_owned(),
            (Lang::En, None) => "An event type the audit has no description for.".to_owned(),
        };
    };
    match known {
        Known::Catalogue(event) => catalogue(event, lang),
        Known::Booking(event) => booking(event, lang, zones),
        Known::Wish(event) => wish(event, lang, zones),
        Known::Floor(event) => floor(event, lang, zones),
        Known::Staff(event) => staff(event, lang),
        Known::DayList(DayListEvent::Read(read)) => match lang {
            Lang::De => format!(
                "Tagesliste {} vom {} mit {} Namen gelesen.",
                read.office,
                day(read.date, lang),
                read.names
            ),
            Lang::En => format!(
                "Day list of {} on {} read, {} names shown.",
                read.office,
                day(read.date, lang),
                read.names
            ),
        },
        Known::Erasure(ErasureEvent::Erased(erased)) => {
            let (de, en) = match erased.reason {
                ErasureReason::Request => ("auf Antrag", "on request"),
                ErasureReason::Retention => ("nach Ablauf der Aufbewahrungsfrist", "after the retention period"),
            };
            match lang {
                Lang::De => format!(
                    "Personenbezogene Daten des Umschlags {} {de} gelöscht; die Ereignisse bleiben.",
                    erased.envelope
                ),
                Lang::En => format!(
                    "Personal data of envelope {} erased {en}; the events remain.",
                    erased.envelope
                ),
            }
        }
        Known::Overview(OverviewEvent::Requested(requested)) => match lang {
            Lang::De => format!(
                "Link zu „Meine Termine“ für Umschlag {} angefordert, gültig bis {}.",
                requested.envelope,
                requested.expires_at.format("%d.%m.%Y %H:%M UTC")
            ),
            Lang::En => format!(
                "Link to “My appointments” requested for envelope {}, valid until {}.",
                requested.envelope,
                requested.expires_at.format("%Y-%m-%d %H:%M UTC")
            ),
        },
        Known::Overview(OverviewEvent::ConfirmationResent(resent)) => match lang {
            Lang::De => format!(
                "Bestätigungs-Mail für Buchung {} erneut angefordert ({}. Mal).",
                resent.booking, resent.nth
            ),
            Lang::En => format!(
                "Confirm-request mail of booking {} sent again (time {}).",
                resent.booking, resent.nth
            ),
        },
        Known::Reminder(ReminderEvent::Due(due)) => match lang {
            Lang::De => format!(
                "Erinnerung für Buchung {} fällig ({}, {}).",
                due.booking,
                due.office,
                day(due.date, lang)
            ),
            Lang::En => format!(
                "Reminder due for booking {} ({}, {}).",
                due.booking,
                due.office,
                day(due.date, lang)
            ),
        },
    }
}

fn catalogue(event: &CatalogueEvent, lang: Lang) -> String {
    match (event, lang) {
        (CatalogueEvent::OfficeRegistered(office), Lang::De) => format!(
            "Büro {} angelegt: „{}“, Zeitzone {}.",
            office.office, office.name, office.timezone
        ),
        (CatalogueEvent::OfficeRegistered(office), Lang::En) => format!(
            "Office {} registered: “{}”, time zone {}.",
            office.office, office.name, office.timezone
        ),
        (CatalogueEvent::OfficeDetailsChanged(office), Lang::De) => format!(
            "Angaben des Büros {} geändert: „{}“, Zeitzone {}.",
            office.office, office.name, office.timezone
        ),
        (CatalogueEvent::OfficeDetailsChanged(office), Lang::En) => format!(
            "Details of office {} changed: “{}”, time zone {}.",
            office.office, office.name, office.timezone
        ),
        (CatalogueEvent::ServiceRegistered(service) | CatalogueEvent::ServiceDetailsChanged(service), _) => {
            let changed = matches!(event, CatalogueEvent::ServiceDetailsChanged(_));
            match lang {
                Lang::De => format!(
                    "Dienstleistung {} {}: „{}“, {} Minuten{}.",
                    service.service,
                    if changed { "geändert" } else { "angelegt" },
                    service.name,
                    service.duration_minutes,
                    if service.walk_in { ", auch am Kiosk" } else { "" }
                ),
                Lang::En => format!(
                    "Service {} {}: “{}”, {} minutes{}.",
                    service.service,
                    if changed { "changed" } else { "registered" },
                    service.name,
                    service.duration_minutes,
                    if service.walk_in { ", also at the kiosk" } else { "" }
                ),
            }
        }
        (CatalogueEvent::CapacityPublished(published), Lang::De) => format!(
            "Kapazität veröffentlicht: {} am {} {}–{}, {} Spur(en) ab Spur {}, je {} Minuten: {}.",
            published.office,
            day(published.date, lang),
            published.from,
            published.to,
            published.lanes,
            published.first_lane,
            published.unit_minutes,
            units(published.units as usize, lang)
        ),
        (CatalogueEvent::CapacityPublished(published), Lang::En) => format!(
            "Capacity published: {} on {} {}–{}, {} lane(s) from lane {}, {} minutes each: {}.",
            published.office,
            day(published.date, lang),
            published.from,
            published.to,
            published.lanes,
            published.first_lane,
            published.unit_minutes,
            units(published.units as usize, lang)
        ),
        (CatalogueEvent::CapacityWithdrawn(withdrawn), _) => {
            let span = match (withdrawn.from, withdrawn.to) {
                (Some(from), Some(to)) => format!(" {from}–{to}"),
                (Some(from), None) => format!(" ab {from}"),
                (None, Some(to)) => format!(" bis {to}"),
                (None, None) => String::new(),
            };
            match lang {
                Lang::De => format!(
                    "Kapazität zurückgezogen: {} am {}{span}, {}; Grund: „{}“.",
                    withdrawn.office,
                    day(withdrawn.date, lang),
                    units(withdrawn.units.len(), lang),
                    withdrawn.reason
                ),
                Lang::En => format!(
                    "Capacity withdrawn: {} on {}{}, {}; reason: “{}”.",
                    withdrawn.office,
                    day(withdrawn.date, lang),
                    span.replace(" ab ", " from ").replace(" bis ", " until "),
                    units(withdrawn.units.len(), lang),
                    withdrawn.reason
                ),
            }
        }
    }
}

fn booking(event: &BookingEvent, lang: Lang, zones: &Zones) -> String {
    match event {
        BookingEvent::Requested(requested) => {
            let slot = zones.slot(&requested.office, &requested.units, requested.end, lang);
            let confirm_by = zones.local(&requested.office, requested.confirm_by, lang);
            match lang {
                Lang::De => format!(
                    "Buchung {} angefragt: {} am {slot}, {}; hält {} bis zur Bestätigung, spätestens {confirm_by}; \
                     Person: Umschlag {}.",
                    requested.booking,
                    requested.office,
                    services(&requested.services),
                    units(requested.units.len(), lang),
                    requested.citizen.envelope_id
                ),
                Lang::En => format!(
                    "Booking {} requested: {} on {slot}, {}; holds {} until confirmed, by {confirm_by} at the \
                     latest; person: envelope {}.",
                    requested.booking,
                    requested.office,
                    services(&requested.services),
                    units(requested.units.len(), lang),
                    requested.citizen.envelope_id
                ),
            }
        }
        BookingEvent::Confirmed(confirmed) => match lang {
            Lang::De => format!(
                "Buchung {} bestätigt: Wartenummer {} am {}.",
                confirmed.booking,
                confirmed.number,
                day(confirmed.date, lang)
            ),
            Lang::En => format!(
                "Booking {} confirmed: waiting number {} on {}.",
                confirmed.booking,
                confirmed.number,
                day(confirmed.date, lang)
            ),
        },
        BookingEvent::Cancelled(cancelled) => match (&cancelled.reason, lang) {
            (None, Lang::De) => format!(
                "Buchung {} von der Person selbst storniert; {} wieder frei.",
                cancelled.booking,
                units(cancelled.units.len(), lang)
            ),
            (None, Lang::En) => format!(
                "Booking {} cancelled by the citizen; {} free again.",
                cancelled.booking,
                units(cancelled.units.len(), lang)
            ),
            (Some(reason), Lang::De) => format!(
                "Buchung {} vom Amt storniert: „{reason}“; {} wieder frei.",
                cancelled.booking,
                units(cancelled.units.len(), lang)
            ),
            (Some(reason), Lang::En) => format!(
                "Booking {} cancelled by the office: “{reason}”; {} free again.",
                cancelled.booking,
                units(cancelled.units.len(), lang)
            ),
        },
        BookingEvent::Lapsed(lapsed) => match lang {
            Lang::De => format!(
                "Buchung {} verfallen: nicht rechtzeitig bestätigt; {} wieder frei.",
                lapsed.booking,
                units(lapsed.units.len(), lang)
            ),
            Lang::En => format!(
                "Booking {} lapsed: not confirmed in time; {} free again.",
                lapsed.booking,
                units(lapsed.units.len(), lang)
            ),
        },
        BookingEvent::Released(released) => {
            let office = released.units.first().map(|unit| unit.office.clone());
            let missed = match &office {
                Some(office) => zones.clock(office, released.missed_at),
                None => released.missed_at.format("%H:%M UTC").to_string(),
            };
            match lang {
                Lang::De => format!(
                    "Buchung {}: Besuch um {missed} versäumt, {} ab dann wieder frei.",
                    released.booking,
                    units(released.units.len(), lang)
                ),
                Lang::En => format!(
                    "Booking {}: visit missed at {missed}, {} from then on free again.",
                    released.booking,
                    units(released.units.len(), lang)
                ),
            }
        }
        BookingEvent::TicketIssued(ticket) => {
            let slot = zones.slot(&ticket.office, &ticket.units, ticket.end, lang);
            match lang {
                Lang::De => format!(
                    "Wartemarke ausgegeben (Buchung {}): Wartenummer {}, {} am {slot}, {}.",
                    ticket.booking,
                    ticket.number,
                    ticket.office,
                    services(&ticket.services)
                ),
                Lang::En => format!(
                    "Walk-in ticket issued (booking {}): waiting number {}, {} on {slot}, {}.",
                    ticket.booking,
                    ticket.number,
                    ticket.office,
                    services(&ticket.services)
                ),
            }
        }
    }
}

fn wish(event: &WishEvent, lang: Lang, zones: &Zones) -> String {
    match event {
        WishEvent::Registered(registered) => {
            let until = match (registered.until, lang) {
                (Some(until), Lang::De) => format!(", bis {}", day(until, lang)),
                (Some(until), Lang::En) => format!(", until {}", day(until, lang)),
                (None, _) => String::new(),
            };
            match lang {
                Lang::De => format!(
                    "Wunsch {} registriert: {} in {}, Zeitfenster {}{until}; Person: Umschlag {}.",
                    registered.wish,
                    services(&registered.services),
                    list(&registered.offices),
                    windows(&registered.windows, lang),
                    registered.citizen.envelope_id
                ),
                Lang::En => format!(
                    "Wish {} registered: {} at {}, windows {}{until}; person: envelope {}.",
                    registered.wish,
                    services(&registered.services),
                    list(&registered.offices),
                    windows(&registered.windows, lang),
                    registered.citizen.envelope_id
                ),
            }
        }
        WishEvent::Confirmed(confirmed) => match lang {
            Lang::De => format!(
                "Wunsch {} bestätigt: er steht ab jetzt in der Warteliste; Person: Umschlag {}.",
                confirmed.wish, confirmed.citizen
            ),
            Lang::En => format!(
                "Wish {} confirmed: it joins the waitlist now; person: envelope {}.",
                confirmed.wish, confirmed.citizen
            ),
        },
        WishEvent::ProposalMade(made) => {
            let slot = zones.slot(&made.office, &made.units, made.end, lang);
            let answer_by = zones.local(&made.office, made.expires_at, lang);
            match lang {
                Lang::De => format!(
                    "Vorschlag {} für Wunsch {}: {} am {slot}; Antwort bis {answer_by}.",
                    made.proposal, made.wish, made.office
                ),
                Lang::En => format!(
                    "Proposal {} for wish {}: {} on {slot}; answer by {answer_by}.",
                    made.proposal, made.wish, made.office
                ),
            }
        }
        WishEvent::ProposalAccepted(accepted) => {
            let slot = zones.slot(&accepted.office, &accepted.units, accepted.end, lang);
            match lang {
                Lang::De => format!(
                    "Vorschlag {} angenommen: Wunsch {} erfüllt, Buchung {} bestätigt mit Wartenummer {}, {} am \
                     {slot}; Person: Umschlag {}.",
                    accepted.proposal,
                    accepted.wish,
                    accepted.booking,
                    accepted.number,
                    accepted.office,
                    accepted.citizen.envelope_id
                ),
                Lang::En => format!(
                    "Proposal {} accepted: wish {} fulfilled, booking {} confirmed with waiting number {}, {} on \
                     {slot}; person: envelope {}.",
                    accepted.proposal,
                    accepted.wish,
                    accepted.booking,
                    accepted.number,
                    accepted.office,
                    accepted.citizen.envelope_id
                ),
            }
        }
        WishEvent::ProposalDeclined(closed) => match lang {
            Lang::De => format!(
                "Vorschlag {} abgelehnt: Wunsch {} behält seinen Platz und bekommt {} nie wieder angeboten.",
                closed.proposal,
                closed.wish,
                units_at(&closed.units, lang)
            ),
            Lang::En => format!(
                "Proposal {} declined: wish {} keeps its place and is never offered {} again.",
                closed.proposal,
                closed.wish,
                units_at(&closed.units, lang)
            ),
        },
        WishEvent::ProposalExpired(closed) => match lang {
            Lang::De => format!(
                "Vorschlag {} unbeantwortet abgelaufen: Wunsch {} behält seinen Platz und bekommt {} nie wieder \
                 angeboten.",
                closed.proposal,
                closed.wish,
                units_at(&closed.units, lang)
            ),
            Lang::En => format!(
                "Proposal {} expired unanswered: wish {} keeps its place and is never offered {} again.",
                closed.proposal,
                closed.wish,
                units_at(&closed.units, lang)
            ),
        },
        WishEvent::ProposalWithdrawn(closed) => match lang {
            Lang::De => format!(
                "Vorschlag {} zurückgezogen, seine Einheiten wurden geschlossen: Wunsch {} behält seinen Platz, \
                 nichts zählt gegen ihn.",
                closed.proposal, closed.wish
            ),
            Lang::En => format!(
                "Proposal {} withdrawn, its units were closed: wish {} keeps its place, nothing counts against it.",
                closed.proposal, closed.wish
            ),
        },
        WishEvent::Ended(ended) => {
            let reason = end_reason(wish_end_reason(ended.reason), lang);
            let proposal = match (ended.proposal, lang) {
                (Some(proposal), Lang::De) => format!(
                    "; offener Vorschlag {proposal} zurückgezogen, {} wieder frei",
                    units(ended.units.len(), lang)
                ),
                (Some(proposal), Lang::En) => format!(
                    "; open proposal {proposal} withdrawn, {} free again",
                    units(ended.units.len(), lang)
                ),
                (None, _) => String::new(),
            };
            match lang {
                Lang::De => format!("Wunsch {} beendet, {reason}{proposal}.", ended.wish),
                Lang::En => format!("Wish {} ended {reason}{proposal}.", ended.wish),
            }
        }
    }
}

fn floor(event: &FloorEvent, lang: Lang, zones: &Zones) -> String {
    let (office, _) = event.office_day();
    let at = |instant| zones.clock(office, instant);
    match (event, lang) {
        (FloorEvent::CheckedIn(e), Lang::De) => format!(
            "Wartenummer {} (Buchung {}) um {} eingecheckt.",
            e.number,
            e.booking,
            at(e.checked_in_at)
        ),
        (FloorEvent::CheckedIn(e), Lang::En) => format!(
            "Waiting number {} (booking {}) checked in at {}.",
            e.number,
            e.booking,
            at(e.checked_in_at)
        ),
        (FloorEvent::Called(e), Lang::De) => format!(
            "Wartenummer {} (Buchung {}) um {} an Schalter {} aufgerufen.",
            e.number,
            e.booking,
            at(e.called_at),
            e.counter
        ),
        (FloorEvent::Called(e), Lang::En) => format!(
            "Waiting number {} (booking {}) called to counter {} at {}.",
            e.number,
            e.booking,
            e.counter,
            at(e.called_at)
        ),
        (FloorEvent::Recalled(e), Lang::De) => format!(
            "Wartenummer {} (Buchung {}) um {} erneut an Schalter {} aufgerufen.",
            e.number,
            e.booking,
            at(e.recalled_at),
            e.counter
        ),
        (FloorEvent::Recalled(e), Lang::En) => format!(
            "Waiting number {} (booking {}) called again to counter {} at {}.",
            e.number,
            e.booking,
            e.counter,
            at(e.recalled_at)
        ),
        (FloorEvent::Started(e), Lang::De) => format!(
            "Bedienung von Buchung {} um {} an Schalter {} begonnen.",
            e.booking,
            at(e.started_at),
            e.counter
        ),
        (FloorEvent::Started(e), Lang::En) => format!(
            "Service of booking {} started at counter {} at {}.",
            e.booking,
            e.counter,
            at(e.started_at)
        ),
        (FloorEvent::Finished(e), Lang::De) => format!(
            "Bedienung von Buchung {} um {} an Schalter {} beendet.",
            e.booking,
            at(e.finished_at),
            e.counter
        ),
        (FloorEvent::Finished(e), Lang::En) => format!(
            "Service of booking {} finished at counter {} at {}.",
            e.booking,
            e.counter,
            at(e.finished_at)
        ),
        (FloorEvent::Parked(e), Lang::De) => format!(
            "Buchung {} um {} an Schalter {} zurückgestellt.",
            e.booking,
            at(e.parked_at),
            e.counter
        ),
        (FloorEvent::Parked(e), Lang::En) => format!(
            "Booking {} parked at counter {} at {}.",
            e.booking,
            e.counter,
            at(e.parked_at)
        ),
        (FloorEvent::Returned(e), Lang::De) => {
            format!("Buchung {} wartet ab {} wieder.", e.booking, at(e.returned_at))
        }
        (FloorEvent::Returned(e), Lang::En) => {
            format!("Booking {} queues again from {}.", e.booking, at(e.returned_at))
        }
        (FloorEvent::Missed(e), _) => {
            let when = at(e.missed_at);
            match (e.reason, lang) {
                (MissedReason::NoShow, Lang::De) => format!(
                    "Wartenummer {} (Buchung {}) nicht erschienen, festgestellt um {when}.",
                    e.number, e.booking
                ),
                (MissedReason::NoShow, Lang::En) => format!(
                    "Waiting number {} (booking {}) did not show up, noted at {when}.",
                    e.number, e.booking
                ),
                (MissedReason::AbsentWhenCalled, Lang::De) => format!(
                    "Wartenummer {} (Buchung {}) kam trotz erneutem Aufruf nicht, um {when} als versäumt markiert.",
                    e.number, e.booking
                ),
                (MissedReason::AbsentWhenCalled, Lang::En) => format!(
                    "Waiting number {} (booking {}) did not come when called again, marked missed at {when}.",
                    e.number, e.booking
                ),
            }
        }
        (FloorEvent::CounterOpened(e), Lang::De) => {
            format!("Schalter {} um {} geöffnet.", e.counter, at(e.opened_at))
        }
        (FloorEvent::CounterOpened(e), Lang::En) => {
            format!("Counter {} opened at {}.", e.counter, at(e.opened_at))
        }
        (FloorEvent::CounterPaused(e), Lang::De) => format!(
            "Schalter {} um {} pausiert: „{}“.",
            e.counter,
            at(e.paused_at),
            e.reason
        ),
        (FloorEvent::CounterPaused(e), Lang::En) => {
            format!("Counter {} paused at {}: “{}”.", e.counter, at(e.paused_at), e.reason)
        }
        (FloorEvent::CounterClosed(e), Lang::De) => {
            format!("Schalter {} um {} geschlossen.", e.counter, at(e.closed_at))
        }
        (FloorEvent::CounterClosed(e), Lang::En) => {
            format!("Counter {} closed at {}.", e.counter, at(e.closed_at))
        }
    }
}

fn staff(event: &StaffEvent, lang: Lang) -> String {
    let roles = |account: &terminagent_domain::StaffAccount| {
        account
            .roles
            .iter()
            .map(|grant| match &grant.office {
                Some(office) => format!("{} ({office})", grant.role),
                None => grant.role.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (event, lang) {
        // The account's address and name are personal data: the id stands for them.
        (StaffEvent::Registered(account), Lang::De) => {
            format!("Konto {} angelegt, Rollen: {}.", account.staff, roles(account))
        }
        (StaffEvent::Registered(account), Lang::En) => {
            format!("Staff account {} registered, roles: {}.", account.staff, roles(account))
        }
        (StaffEvent::Changed(account), Lang::De) => {
            format!("Konto {} geändert, Rollen: {}.", account.staff, roles(account))
        }
        (StaffEvent::Changed(account), Lang::En) => {
            format!("Staff account {} changed, roles: {}.", account.staff, roles(account))
        }
        (StaffEvent::Disabled(disabled), Lang::De) => {
            format!("Konto {} gesperrt, jedes seiner Tokens ungültig.", disabled.staff)
        }
        (StaffEvent::Disabled(disabled), Lang::En) => {
            format!("Staff account {} disabled, every token of it void.", disabled.staff)
        }
        (StaffEvent::TokenIssued(issued), Lang::De) => format!("Token für Konto {} ausgegeben.", issued.staff),
        (StaffEvent::TokenIssued(issued), Lang::En) => {
            format!("Token issued for staff account {}.", issued.staff)
        }
        (StaffEvent::DeviceRegistered(device), Lang::De) => format!(
            "Gerät {} ({}, „{}“) für {} angemeldet.",
            device.device,
            device.kind.as_str(),
            device.name,
            device.office
        ),
        (StaffEvent::DeviceRegistered(device), Lang::En) => format!(
            "Device {} ({}, “{}”) registered for {}.",
            device.device,
            device.kind.as_str(),
            device.name,
            device.office
        ),
        (StaffEvent::DeviceRevoked(device), Lang::De) => {
            format!("Gerät {} von {} abgemeldet.", device.device, device.office)
        }
        (StaffEvent::DeviceRevoked(device), Lang::En) => {
            format!("Device {} of {} revoked.", device.device, device.office)
        }
    }
}

/// The sentence of one reason an earlier wish was passed over.
pub(super) fn reason(reason: &Reason, lang: Lang) -> String {
    match (reason, lang) {
        (Reason::Ended { at, end_reason: why }, Lang::De) => {
            format!("war beendet (Position {at}, {})", end_reason(why, lang))
        }
        (Reason::Ended { at, end_reason: why }, Lang::En) => {
            format!("had ended (position {at}, {})", end_reason(why, lang))
        }
        (Reason::Fulfilled { at, booking }, Lang::De) => {
            format!("war schon erfüllt (Buchung {booking}, Position {at})")
        }
        (Reason::Fulfilled { at, booking }, Lang::En) => {
            format!("was fulfilled already (booking {booking}, position {at})")
        }
        (Reason::Office { offices }, Lang::De) => format!("Büro passt nicht (wünscht {})", list(offices)),
        (Reason::Office { offices }, Lang::En) => format!("office does not fit (wants {})", list(offices)),
        (Reason::Window { window }, Lang::De) => {
            format!(
                "Zeitfenster passt nicht ({} nicht gewünscht)",
                window_words(window, lang)
            )
        }
        (Reason::Window { window }, Lang::En) => {
            format!("window does not fit ({} not wanted)", window_words(window, lang))
        }
        (Reason::AfterUntil { until }, Lang::De) => format!("Datum liegt nach seinem letzten Tag {until}"),
        (Reason::AfterUntil { until }, Lang::En) => format!("date is after its last day {until}"),
        (Reason::Busy { proposal, at }, Lang::De) => {
            format!("hatte einen offenen Vorschlag ({proposal}, Position {at})")
        }
        (Reason::Busy { proposal, at }, Lang::En) => {
            format!("was busy with an open proposal ({proposal}, position {at})")
        }
        (Reason::Declined { at, unit }, Lang::De) => format!("hatte {unit} schon abgelehnt (Position {at})"),
        (Reason::Declined { at, unit }, Lang::En) => format!("had declined {unit} before (position {at})"),
        (Reason::Expired { at, unit }, Lang::De) => {
            format!("hatte einen Vorschlag von {unit} verfallen lassen (Position {at})")
        }
        (Reason::Expired { at, unit }, Lang::En) => {
            format!("had let a proposal of {unit} expire (position {at})")
        }
        (
            Reason::NeedsLonger {
                needed_minutes,
                run_minutes,
            },
            Lang::De,
        ) => format!("braucht {needed_minutes} Minuten, die Einheiten decken {run_minutes}"),
        (
            Reason::NeedsLonger {
                needed_minutes,
                run_minutes,
            },
            Lang::En,
        ) => format!("needs {needed_minutes} minutes, the units cover {run_minutes}"),
        (Reason::IdleLater { at, planned_from }, Lang::De) => format!(
            "wartete erst ab Position {at} wieder, die Einheiten waren seit Position {planned_from} für den \
             gewählten Wunsch vorgesehen"
        ),
        (Reason::IdleLater { at, planned_from }, Lang::En) => format!(
            "was waiting again only from position {at}; the units were meant for the chosen wish from position \
             {planned_from}"
        ),
        (Reason::ProposedSameRound { proposal, at }, Lang::De) => {
            format!("bekam im selben Durchgang einen eigenen Vorschlag ({proposal}, Position {at})")
        }
        (Reason::ProposedSameRound { proposal, at }, Lang::En) => {
            format!("got a proposal of its own in the same round ({proposal}, position {at})")
        }
        (Reason::Unexplained, Lang::De) => {
            "kein Grund im Log — das widerspricht „wer zuerst kommt, mahlt zuerst“".to_owned()
        }
        (Reason::Unexplained, Lang::En) => {
            "no reason in the log — this contradicts first come, first served".to_owned()
        }
    }
}

/// Fills the explanation's sentences (and each passed-over wish's).
pub(super) fn explain(why: &mut Why, lang: Lang) {
    for passed in &mut why.passed_over {
        passed.sentence = reason(&passed.reason, lang);
    }
    let mut lines = Vec::new();
    let place = match (why.registered_at, why.waiting_since, lang) {
        (Some(registered), Some(since), Lang::De) => {
            format!("eingereiht an Position {registered}, wartend seit Position {since}")
        }
        (Some(registered), Some(since), Lang::En) => {
            format!("queued at position {registered}, waiting since position {since}")
        }
        (Some(registered), None, Lang::De) => format!("eingereiht an Position {registered}"),
        (Some(registered), None, Lang::En) => format!("queued at position {registered}"),
        (None, _, Lang::De) => "im Log nicht registriert".to_owned(),
        (None, _, Lang::En) => "not registered in the log".to_owned(),
    };
    let needed = why
        .needed_minutes
        .map_or_else(|| "?".to_owned(), |minutes| minutes.to_string());
    let window = window_words(&why.window, lang);
    lines.push(match lang {
        Lang::De => format!(
            "Warum Wunsch {}: {place}; Büro, Zeitfenster ({window}), Datum und Dauer ({needed} von {} Minuten) \
             passen, keine dieser Einheiten vorher abgelehnt.",
            why.wish, why.run_minutes
        ),
        Lang::En => format!(
            "Why wish {}: {place}; office, window ({window}), date and duration ({needed} of {} minutes) fit, \
             none of these units declined before.",
            why.wish, why.run_minutes
        ),
    });
    if let Some(problem) = &why.chosen_problem {
        let text = reason(problem, lang);
        lines[0] = match lang {
            Lang::De => format!(
                "Warum Wunsch {}: {place}. ACHTUNG, er selbst passt nicht: {text}.",
                why.wish
            ),
            Lang::En => format!(
                "Why wish {}: {place}. WARNING, it does not fit itself: {text}.",
                why.wish
            ),
        };
    }
    let over = match (why.over_before, lang) {
        (0, _) => String::new(),
        (n, Lang::De) => format!(" ({n} früher eingereihte waren schon vorbei, als er kam)"),
        (n, Lang::En) => format!(" ({n} queued earlier were over before it came)"),
    };
    lines.push(match (why.earlier, lang) {
        (0, Lang::De) => format!("Kein früher eingereihter Wunsch wartete noch{over}."),
        (0, Lang::En) => format!("No wish queued earlier was still waiting{over}."),
        (1, Lang::De) => format!("1 früher eingereihter Wunsch kam nicht in Frage{over}:"),
        (1, Lang::En) => format!("1 wish queued earlier could not take it{over}:"),
        (n, Lang::De) => format!("{n} früher eingereihte Wünsche kamen nicht in Frage{over}:"),
        (n, Lang::En) => format!("{n} wishes queued earlier could not take it{over}:"),
    });
    for passed in &why.passed_over {
        lines.push(match lang {
            Lang::De => format!(
                "- Wunsch {} (Position {}): {}.",
                passed.wish, passed.registered_at, passed.sentence
            ),
            Lang::En => format!(
                "- wish {} (position {}): {}.",
                passed.wish, passed.registered_at, passed.sentence
            ),
        });
    }
    if why.truncated {
        let counts = why
            .reasons
            .iter()
            .map(|(key, count)| format!("{key} {count}"))
            .collect::<Vec<_>>()
            .join(", ");
        lines.push(match lang {
            Lang::De => format!(
                "… und {} weitere; alle nach Grund: {counts}.",
                why.earlier - why.passed_over.len() as u64
            ),
            Lang::En => format!(
                "… and {} more; all by reason: {counts}.",
                why.earlier - why.passed_over.len() as u64
            ),
        });
    }
    why.sentences = lines;
}

#[cfg(test)]
mod tests {
    use terminagent_domain::{EnvelopeId, PersonalDataErased};

    use super::*;

    #[test]
    fn an_erasure_says_why_and_that_the_events_remain() {
        let envelope: EnvelopeId = serde_json::from_str("\"01JE5Q3K8Y2X4N6P7R9S0T1V2W\"").unwrap();
        let erased = |reason| Known::Erasure(ErasureEvent::Erased(PersonalDataErased { envelope, reason }));
        let zones = Zones::default();
        let de = sentence(Some(&erased(ErasureReason::Retention)), None, Lang::De, &zones);
        assert_eq!(
            de,
            "Personenbezogene Daten des Umschlags 01JE5Q3K8Y2X4N6P7R9S0T1V2W nach Ablauf der Aufbewahrungsfrist \
             gelöscht; die Ereignisse bleiben."
        );
        let en = sentence(Some(&erased(ErasureReason::Request)), None, Lang::En, &zones);
        assert_eq!(
            en,
            "Personal data of envelope 01JE5Q3K8Y2X4N6P7R9S0T1V2W erased on request; the events remain."
        );
    }
}
