//! The booking flow, one page per step:
//! `/termin` (services) → `/termin/standort` (office) → `/termin/tag` (day)
//! → `/termin/uhrzeit` (time) → `/termin/angaben` (name, e-mail, phone)
//! → `POST /termin/buchen` → 303 → `GET /termin/angefragt/{ref}`, "please
//! confirm via the mail" (post, redirect, get: reloading it books nothing).
//!
//! The contact form carries a one-time key: the id its booking will get,
//! signed. Sent twice (a double click, back and send again), the second
//! request finds that booking in the log and is sent to its page instead of
//! booking again; the page's address is the booking id signed for that page,
//! so nobody reaches it by guessing.
//!
//! Each GET step carries the choices so far in its query
//! (`services=a,b&office=x&date=2026-12-01&time=08:12`), so every step can be
//! reloaded, bookmarked and gone back to. Personal data travels only in the
//! POST body, never in a URL. The booking itself is decided by the same
//! application function as `POST /api/v1/bookings`.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Days, Utc};
use terminagent_domain::Actor;
use terminagent_domain::booking::MAX_BOOKING_SERVICES;
use terminagent_domain::{
    Booking, BookingId, BookingRequestError, BookingStatus, LocalDate, LocalTime, OfficeId, OfficeTimeZone,
    PersonalData, PhoneNumber, ServiceId,
};
use terminagent_eventstore::{Opened, SealedEnvelope};

use super::super::AppState;
use super::super::bookable::{BookableSlot, bookable_slots};
use super::{MessagePage, PageForm, PageLink, long_date, parse_email, parse_name, render};
use crate::application::{
    BookingRequest, ExecuteError, RequestBookingError, booking_as_recorded, request_booking, request_booking_once,
};
use crate::links::{LinkSecret, LinkToken};
use crate::projections::{CatalogueView, OfficeEntry, ServiceEntry};

/// A query string or form body as name/value pairs: checkboxes repeat their name.
type Pairs = Vec<(String, String)>;

/// The contact form's hidden field with its one-time key.
const ONE_TIME_KEY_FIELD: &str = "einmalschluessel";

/// What a signed booking reference opens: a form's one-time key and the
/// address of its booking's page differ, so neither gives away the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignedFor {
    FormKey,
    RequestedPage,
}

impl SignedFor {
    fn action(self) -> &'static str {
        match self {
            SignedFor::FormKey => "booking_form_key",
            SignedFor::RequestedPage => "booking_requested_page",
        }
    }
}

/// `{booking id}.{token}`: the id with the link token for `purpose` on it
/// (links.rs), so only references this installation handed out are taken.
fn signed_booking(secret: &LinkSecret, booking: BookingId, purpose: SignedFor) -> String {
    let id = booking.to_string();
    let token = secret.token(&id, purpose.action());
    format!("{id}.{}", token.as_str())
}

/// The booking a reference made by [`signed_booking`] for `purpose` names;
/// `None` for anything else.
fn verified_booking(secret: &LinkSecret, text: &str, purpose: SignedFor) -> Option<BookingId> {
    let (id, token) = text.split_once('.')?;
    let booking = BookingId::parse(id).ok()?;
    let given = LinkToken::parse(token)?;
    // Compared by hash, so how long the comparison takes tells nothing of the token.
    let expected = secret.token(&booking.to_string(), purpose.action());
    (given.hash() == expected.hash()).then_some(booking)
}

/// A new form's one-time key: the id its booking will get.
fn new_one_time_key(state: &AppState) -> String {
    let booking = BookingId::from_ulid(state.executor.new_id());
    signed_booking(&state.link_secret, booking, SignedFor::FormKey)
}

/// 303 to the page of `booking` (POST, redirect, GET).
fn see_requested_page(state: &AppState, booking: BookingId) -> Response {
    let reference = signed_booking(&state.link_secret, booking, SignedFor::RequestedPage);
    Redirect::to(&format!("/termin/angefragt/{reference}")).into_response()
}

/// The steps in order; each needs every earlier step's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Services,
    Office,
    Day,
    Time,
    Contact,
}

/// What the citizen has chosen so far: catalogue entries for ids that exist,
/// dates and times only when well-formed.
#[derive(Debug, Clone)]
struct Selection {
    services: Vec<ServiceEntry>,
    office: Option<ChosenOffice>,
    date: Option<LocalDate>,
    time: Option<LocalTime>,
}

#[derive(Debug, Clone)]
struct ChosenOffice {
    id: OfficeId,
    entry: OfficeEntry,
    zone: OfficeTimeZone,
}

/// A choice naming nothing in the catalogue (an old bookmark, an edited URL).
#[derive(Debug, thiserror::Error)]
enum UnknownChoice {
    #[error("no office {0:?}")]
    Office(String),
    #[error("no service {0:?}")]
    Service(String),
}

impl UnknownChoice {
    fn page(&self) -> Response {
        let heading = match self {
            UnknownChoice::Office(_) => "Dieses Bürgerbüro gibt es nicht",
            UnknownChoice::Service(_) => "Dieses Anliegen gibt es nicht",
        };
        MessagePage::new(heading)
            .paragraph("Vielleicht ist der Link veraltet. Bitte beginnen Sie die Terminbuchung neu.")
            .link(PageLink::new("/termin", "Termin vereinbaren"))
            .respond(StatusCode::NOT_FOUND)
    }
}

/// The last non-empty value of `name`.
fn value<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(key, value)| key == name && !value.trim().is_empty())
        .map(|(_, value)| value.trim())
}

fn select(catalogue: &CatalogueView, pairs: &Pairs) -> Result<Selection, UnknownChoice> {
    // `services` comes as repeated checkboxes or as one comma-separated list.
    let mut services: Vec<ServiceEntry> = Vec::new();
    let raw_services = pairs
        .iter()
        .filter(|(key, _)| key == "services")
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
        .filter(|raw| !raw.is_empty());
    for raw in raw_services {
        let entry = ServiceId::parse(raw)
            .ok()
            .and_then(|id| catalogue.service(&id))
            .ok_or_else(|| UnknownChoice::Service(raw.to_owned()))?;
        // A service named twice is one choice (the decision would refuse a duplicate).
        if !services.iter().any(|chosen| chosen.id == entry.id) {
            services.push(entry.clone());
        }
    }
    let office = match value(pairs, "office") {
        None => None,
        Some(raw) => {
            let unknown = || UnknownChoice::Office(raw.to_owned());
            let id = OfficeId::parse(raw).map_err(|_| unknown())?;
            let entry = catalogue.office(&id).ok_or_else(unknown)?.clone();
            // The zone was checked when the office was registered.
            let zone = OfficeTimeZone::parse(&entry.timezone).map_err(|_| unknown())?;
            Some(ChosenOffice { id, entry, zone })
        }
    };
    Ok(Selection {
        services,
        office,
        date: value(pairs, "date").and_then(|raw| LocalDate::parse(raw).ok()),
        time: value(pairs, "time").and_then(|raw| LocalTime::parse(raw).ok()),
    })
}

impl Selection {
    /// The first step before `step` still to be chosen, and what to tell the citizen.
    fn missing_before(&self, step: Step) -> Option<(Step, String)> {
        if step > Step::Services && self.services.is_empty() {
            return Some((Step::Services, "Bitte wählen Sie mindestens ein Anliegen aus.".into()));
        }
        if step > Step::Services && self.services.len() > MAX_BOOKING_SERVICES {
            let message = format!("Bitte wählen Sie höchstens {MAX_BOOKING_SERVICES} Anliegen für einen Termin aus.");
            return Some((Step::Services, message));
        }
        if step > Step::Office && self.office.is_none() {
            return Some((Step::Office, "Bitte wählen Sie ein Bürgerbüro aus.".into()));
        }
        if step > Step::Day && self.date.is_none() {
            return Some((Step::Day, "Bitte wählen Sie einen Tag aus.".into()));
        }
        if step > Step::Time && self.time.is_none() {
            return Some((Step::Time, "Bitte wählen Sie eine Uhrzeit aus.".into()));
        }
        None
    }

    fn services_param(&self) -> String {
        let ids: Vec<&str> = self.services.iter().map(|service| service.id.as_str()).collect();
        ids.join(",")
    }

    fn service_names(&self) -> String {
        let names: Vec<&str> = self.services.iter().map(|service| service.name.as_str()).collect();
        names.join(", ")
    }

    fn total_minutes(&self) -> u32 {
        terminagent_domain::catalogue::summed_minutes(self.services.iter().map(|service| service.duration_minutes))
    }

    fn office_id(&self) -> &str {
        self.office.as_ref().map_or("", |office| office.entry.id.as_str())
    }

    fn date_param(&self) -> String {
        self.date.map(|date| date.to_string()).unwrap_or_default()
    }

    fn time_param(&self) -> String {
        self.time.map(|time| time.to_string()).unwrap_or_default()
    }

    fn date_label(&self) -> String {
        self.date.map(|date| long_date(date.as_naive())).unwrap_or_default()
    }

    /// The page of `step` with the choices up to it, to change that choice.
    /// Every value is a slug, a date or HH:MM, so nothing needs percent-encoding.
    fn href(&self, step: Step) -> String {
        let mut href = match step {
            Step::Services => "/termin",
            Step::Office => "/termin/standort",
            Step::Day => "/termin/tag",
            Step::Time => "/termin/uhrzeit",
            Step::Contact => "/termin/angaben",
        }
        .to_owned();
        href.push_str("?services=");
        href.push_str(&self.services_param());
        if step >= Step::Office && self.office.is_some() {
            href.push_str("&office=");
            href.push_str(self.office_id());
        }
        if step >= Step::Day && self.date.is_some() {
            href.push_str("&date=");
            href.push_str(&self.date_param());
        }
        if step >= Step::Time && self.time.is_some() {
            href.push_str("&time=");
            href.push_str(&self.time_param());
        }
        href
    }

    fn services_href(&self) -> String {
        self.href(Step::Services)
    }

    fn office_href(&self) -> String {
        self.href(Step::Office)
    }

    fn day_href(&self) -> String {
        self.href(Step::Day)
    }

    fn time_href(&self) -> String {
        self.href(Step::Time)
    }

    /// Every bookable slot for these services at the chosen office, on the
    /// office-local days `first..=last`.
    fn slots(&self, state: &AppState, first: LocalDate, last: LocalDate) -> Vec<BookableSlot> {
        let Some(office) = &self.office else {
            return Vec::new();
        };
        bookable_slots(
            state,
            &office.id,
            office.zone,
            self.total_minutes(),
            first.as_naive(),
            last.as_naive(),
        )
    }

    /// The free start times of the chosen day.
    fn times(&self, state: &AppState) -> Vec<TimeChoice> {
        let Some(date) = self.date else {
            return Vec::new();
        };
        self.slots(state, date, date)
            .into_iter()
            .map(|slot| TimeChoice {
                value: slot.start_time.to_string(),
                id: format!("uhrzeit-{}", slot.start_time.to_string().replace(':', "")),
            })
            .collect()
    }
}

struct ServiceChoice {
    id: String,
    name: String,
    minutes: u32,
    chosen: bool,
}

#[derive(Template)]
#[template(path = "choose_services.html")]
struct ChooseServicesPage {
    services: Vec<ServiceChoice>,
    max_services: usize,
    error: Option<String>,
}

struct OfficeChoice {
    id: String,
    name: String,
    address: String,
    chosen: bool,
}

#[derive(Template)]
#[template(path = "choose_office.html")]
struct ChooseOfficePage {
    selection: Selection,
    offices: Vec<OfficeChoice>,
    error: Option<String>,
}

struct DayChoice {
    value: String,
    label: String,
    free_times: usize,
}

#[derive(Template)]
#[template(path = "choose_day.html")]
struct ChooseDayPage {
    selection: Selection,
    days: Vec<DayChoice>,
    error: Option<String>,
}

struct TimeChoice {
    /// HH:MM, office-local.
    value: String,
    /// The radio button's id on the contact form.
    id: String,
}

#[derive(Template)]
#[template(path = "choose_time.html")]
struct ChooseTimePage {
    selection: Selection,
    times: Vec<TimeChoice>,
    error: Option<String>,
}

/// The contact fields as typed, to show them again.
#[derive(Debug, Clone, Default)]
struct ContactValues {
    name: String,
    email: String,
    phone: String,
}

/// An error per field, shown next to it and listed on top.
#[derive(Debug, Clone, Default)]
struct ContactErrors {
    time: Option<String>,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    /// The form itself (a one-time key that is not ours): at its button.
    form: Option<String>,
}

impl ContactErrors {
    fn is_empty(&self) -> bool {
        self.summary().is_empty()
    }

    /// (id of the field to jump to, message), in the order of the form.
    fn summary(&self) -> Vec<(&'static str, &str)> {
        [
            ("uhrzeit", &self.time),
            ("name", &self.name),
            ("email", &self.email),
            ("phone", &self.phone),
            ("absenden", &self.form),
        ]
        .into_iter()
        .filter_map(|(field, error)| error.as_deref().map(|message| (field, message)))
        .collect()
    }
}

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
    selection: Selection,
    /// Set when the time is still to be chosen on this form (the chosen one
    /// was just taken): the day's free times.
    alternatives: Option<Vec<TimeChoice>>,
    slot_taken: bool,
    contact: ContactValues,
    errors: ContactErrors,
    /// The form's one-time key (hidden field [`ONE_TIME_KEY_FIELD`]).
    one_time_key: String,
}

impl ContactPage {
    /// The time was to be chosen here, but the day has none left.
    fn no_time_left(&self) -> bool {
        self.alternatives.as_ref().is_some_and(Vec::is_empty)
    }

    fn respond(&self, status: StatusCode) -> Response {
        render(status, self)
    }
}

#[derive(Template)]
#[template(path = "requested.html")]
struct RequestedPage {
    selection: Selection,
    /// `None` once the citizen's data was erased.
    email: Option<String>,
    from: String,
    until: String,
    confirm_by: String,
    status: BookingStatus,
}

impl RequestedPage {
    fn pending(&self) -> bool {
        self.status == BookingStatus::PendingConfirmation
    }

    fn confirmed(&self) -> bool {
        matches!(self.status, BookingStatus::Confirmed(_))
    }
}

/// `GET /termin`: which services (1–10).
pub async fn choose_services_page(State(state): State<AppState>, Query(pairs): Query<Pairs>) -> Response {
    show(&state, &pairs, Step::Services)
}

/// `GET /termin/standort?services=…`: which office.
pub async fn choose_office_page(State(state): State<AppState>, Query(pairs): Query<Pairs>) -> Response {
    show(&state, &pairs, Step::Office)
}

/// `GET /termin/tag?services=…&office=…`: which day (days with a free slot).
pub async fn choose_day_page(State(state): State<AppState>, Query(pairs): Query<Pairs>) -> Response {
    show(&state, &pairs, Step::Day)
}

/// `GET /termin/uhrzeit?…&date=…`: which start time on that day.
pub async fn choose_time_page(State(state): State<AppState>, Query(pairs): Query<Pairs>) -> Response {
    show(&state, &pairs, Step::Time)
}

/// `GET /termin/angaben?…&time=…`: name, e-mail, phone.
pub async fn contact_page(State(state): State<AppState>, Query(pairs): Query<Pairs>) -> Response {
    show(&state, &pairs, Step::Contact)
}

/// The page of `step`, or of the earliest step still to be chosen (422, with
/// the reason next to the choice).
fn show(state: &AppState, pairs: &Pairs, step: Step) -> Response {
    let selected = select(&state.catalogue.read(), pairs);
    let selection = match selected {
        Ok(selection) => selection,
        Err(unknown) => return unknown.page(),
    };
    match selection.missing_before(step) {
        Some((missing, message)) => step_page(state, selection, missing, Some(message)),
        None => step_page(state, selection, step, None),
    }
}

fn step_page(state: &AppState, selection: Selection, step: Step, error: Option<String>) -> Response {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    match step {
        Step::Services => {
            let services = state
                .catalogue
                .read()
                .services()
                .map(|service| ServiceChoice {
                    id: service.id.clone(),
                    name: service.name.clone(),
                    minutes: service.duration_minutes,
                    chosen: selection.services.iter().any(|chosen| chosen.id == service.id),
                })
                .collect();
            let page = ChooseServicesPage {
                services,
                max_services: MAX_BOOKING_SERVICES,
                error,
            };
            render(status, &page)
        }
        Step::Office => {
            let offices = state
                .catalogue
                .read()
                .offices()
                .map(|office| OfficeChoice {
                    id: office.id.clone(),
                    name: office.name.clone(),
                    address: office.address.clone(),
                    chosen: selection.office_id() == office.id,
                })
                .collect();
            let page = ChooseOfficePage {
                selection,
                offices,
                error,
            };
            render(status, &page)
        }
        Step::Day => {
            let days = bookable_days(state, &selection);
            render(status, &ChooseDayPage { selection, days, error })
        }
        Step::Time => {
            let times = selection.times(state);
            render(
                status,
                &ChooseTimePage {
                    selection,
                    times,
                    error,
                },
            )
        }
        Step::Contact => ContactPage {
            selection,
            alternatives: None,
            slot_taken: false,
            contact: ContactValues::default(),
            errors: ContactErrors::default(),
            one_time_key: new_one_time_key(state),
        }
        .respond(status),
    }
}

/// The days from today to the end of the booking horizon with at least one
/// bookable slot for the chosen services.
fn bookable_days(state: &AppState, selection: &Selection) -> Vec<DayChoice> {
    let Some(office) = &selection.office else {
        return Vec::new();
    };
    let today = office.zone.today(state.executor.now());
    let last = today
        .checked_add_days(Days::new(state.booking_policy.horizon_days.into()))
        .unwrap_or(today);
    let (Ok(first), Ok(last)) = (LocalDate::try_from(today), LocalDate::try_from(last)) else {
        return Vec::new();
    };
    let mut free_times: BTreeMap<LocalDate, usize> = BTreeMap::new();
    for slot in selection.slots(state, first, last) {
        *free_times.entry(slot.date).or_default() += 1;
    }
    free_times
        .into_iter()
        .map(|(date, free_times)| DayChoice {
            value: date.to_string(),
            label: long_date(date.as_naive()),
            free_times,
        })
        .collect()
}

/// `POST /termin/buchen`: the contact form. Creates the booking through the
/// same decision as the JSON API; answers 303 to the booking's page (also
/// when the form's one-time key was sent before: the booking it made), the
/// form again with the errors next to the fields (422), or the day's other
/// free times when the chosen one was just taken (409). A form without a
/// key (not one of ours) books under a fresh id.
pub async fn book(State(state): State<AppState>, PageForm(pairs): PageForm<Pairs>) -> Response {
    let selected = select(&state.catalogue.read(), &pairs);
    let selection = match selected {
        Ok(selection) => selection,
        Err(unknown) => return unknown.page(),
    };
    if let Some((missing, message)) = selection.missing_before(Step::Time) {
        return step_page(&state, selection, missing, Some(message));
    }
    let contact = ContactValues {
        name: value(&pairs, "name").unwrap_or_default().to_owned(),
        email: value(&pairs, "email").unwrap_or_default().to_owned(),
        phone: value(&pairs, "phone").unwrap_or_default().to_owned(),
    };
    // `Some(None)`: a key, but not one of ours.
    let sent_key = value(&pairs, ONE_TIME_KEY_FIELD);
    let once = sent_key.map(|key| verified_booking(&state.link_secret, key, SignedFor::FormKey));
    let one_time_key = match (sent_key, once) {
        (Some(key), Some(Some(_))) => key.to_owned(),
        _ => new_one_time_key(&state),
    };
    let contact_checked = parse_contact(&contact).and_then(|citizen| match once {
        Some(None) => Err(ContactErrors {
            form: Some(
                "Dieses Formular können wir nicht zuordnen. Bitte prüfen Sie Ihre Angaben und senden Sie es noch \
                 einmal ab."
                    .into(),
            ),
            ..ContactErrors::default()
        }),
        _ => Ok(citizen),
    });
    let (time, citizen) = match (selection.time, contact_checked) {
        (Some(time), Ok(citizen)) => (time, citizen),
        (time, citizen) => {
            let mut errors = citizen.err().unwrap_or_default();
            // No time picked among the alternatives after a taken slot: offer them again.
            let alternatives = time.is_none().then(|| {
                errors.time = Some("Bitte wählen Sie eine Uhrzeit aus.".into());
                selection.times(&state)
            });
            let page = ContactPage {
                selection,
                alternatives,
                slot_taken: false,
                contact,
                errors,
                one_time_key,
            };
            return page.respond(StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let (Some(office), Some(date)) = (selection.office.clone(), selection.date) else {
        // `missing_before(Step::Time)` found both chosen.
        return step_page(&state, selection, Step::Office, None);
    };
    let Ok(start) = office.zone.instant(date, time) else {
        return MessagePage::new("Diese Uhrzeit gibt es an diesem Tag nicht")
            .paragraph("An diesem Tag werden die Uhren umgestellt. Bitte wählen Sie eine andere Uhrzeit.")
            .link(PageLink::new(selection.time_href(), "Andere Uhrzeit wählen"))
            .respond(StatusCode::UNPROCESSABLE_ENTITY);
    };
    let request = BookingRequest {
        office: office.id.clone(),
        services: selection
            .services
            .iter()
            .filter_map(|service| ServiceId::parse(&service.id).ok())
            .collect(),
        start,
        citizen,
    };
    let cause = state.new_cause(Actor::Citizen);
    let (executor, availability, links, policy) = (
        &state.executor,
        &state.availability,
        &state.link_secret,
        state.booking_policy,
    );
    let zone = Some(office.zone);
    let requested = match once.flatten() {
        Some(booking) => {
            request_booking_once(executor, availability, links, policy, cause, request, zone, booking).await
        }
        None => request_booking(executor, availability, links, policy, cause, request, zone).await,
    };
    match requested {
        Ok(requested) => {
            let booking = requested.booking.booking;
            let mut response = see_requested_page(&state, booking);
            // Counted for the client's network until confirmed (`--max-pending-bookings-per-network`).
            let counted = crate::http::pending_limit::RequestedBookingId(booking);
            response.extensions_mut().insert(counted);
            response
        }
        Err(error) => booking_failed(&state, selection, contact, one_time_key, error).await,
    }
}

/// `GET /termin/angefragt/{ref}`: the booking a form made, as it is now:
/// "please confirm" while pending. `ref` is the booking id signed for this
/// page (404 for anything else), so only the browser that booked has it.
pub async fn requested_page(State(state): State<AppState>, Path(reference): Path<String>) -> Response {
    let unknown = || {
        MessagePage::new("Diese Seite gibt es nicht")
            .paragraph("Vielleicht ist die Adresse unvollständig. Ihre Termine finden Sie in Ihren E-Mails.")
            .link(PageLink::new("/termin", "Termin vereinbaren"))
            .respond(StatusCode::NOT_FOUND)
    };
    let Some(booking) = verified_booking(&state.link_secret, &reference, SignedFor::RequestedPage) else {
        return unknown();
    };
    let recorded = match booking_as_recorded(&state.executor, booking).await {
        Ok(Some(recorded)) => recorded,
        Ok(None) => return unknown(),
        Err(error) => return internal_error(&error),
    };
    let email = match citizen_email(&state, &recorded).await {
        Ok(email) => email,
        Err(error) => return internal_error(&error),
    };
    let Some(zone) = state
        .catalogue
        .read()
        .office(&recorded.office)
        .and_then(|office| OfficeTimeZone::parse(&office.timezone).ok())
    else {
        return unknown();
    };
    let local_time = |instant: chrono::DateTime<Utc>| zone.to_local(instant).format("%H:%M").to_string();
    let services: Vec<&str> = recorded.services.iter().map(ServiceId::as_str).collect();
    let choices: Pairs = [
        ("services", services.join(",")),
        ("office", recorded.office.to_string()),
        ("date", recorded.date.to_string()),
        ("time", local_time(recorded.start)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let selected = select(&state.catalogue.read(), &choices);
    let selection = match selected {
        Ok(selection) => selection,
        Err(gone) => return gone.page(),
    };
    let confirm_by = zone.to_local(recorded.confirm_by);
    let page = RequestedPage {
        selection,
        email,
        from: local_time(recorded.start),
        until: local_time(recorded.end),
        confirm_by: format!(
            "{}, {} Uhr",
            long_date(confirm_by.date_naive()),
            confirm_by.format("%H:%M")
        ),
        status: recorded.status,
    };
    render(StatusCode::OK, &page)
}

/// The e-mail address the booking's mails go to; `None` once erased.
async fn citizen_email(
    state: &AppState,
    booking: &Booking,
) -> Result<Option<String>, terminagent_eventstore::VaultError> {
    let Some(sealed) = &booking.personal_data else {
        return Ok(None);
    };
    let envelope = SealedEnvelope {
        envelope_id: sealed.envelope_id.as_ulid(),
        nonce: sealed.nonce.clone(),
        ciphertext: sealed.ciphertext.clone(),
    };
    let opened = state.executor.store().vault().open::<PersonalData>(&envelope).await?;
    Ok(match opened {
        Opened::Readable(citizen) => Some(citizen.email.to_string()),
        Opened::Erased => None,
    })
}

/// Checks the contact fields as the domain does, with German messages.
fn parse_contact(contact: &ContactValues) -> Result<PersonalData, ContactErrors> {
    let name = parse_name(&contact.name);
    let email = parse_email(&contact.email);
    let phone = match contact.phone.as_str() {
        "" => Ok(None),
        phone => PhoneNumber::parse(phone).map(Some).map_err(|_| {
            "Die Telefonnummer darf nur Ziffern, Leerzeichen und + - / ( ) enthalten und braucht mindestens 3 Ziffern."
                .to_owned()
        }),
    };
    match (name, email, phone) {
        (Ok(name), Ok(email), Ok(phone)) => Ok(PersonalData { name, email, phone }),
        (name, email, phone) => Err(ContactErrors {
            time: None,
            name: name.err(),
            email: email.err(),
            phone: phone.err(),
            form: None,
        }),
    }
}

async fn booking_failed(
    state: &AppState,
    mut selection: Selection,
    contact: ContactValues,
    one_time_key: String,
    error: RequestBookingError,
) -> Response {
    use BookingRequestError as E;
    let reason = match error {
        RequestBookingError::Decision(ExecuteError::Rejected(reason)) => reason,
        RequestBookingError::Decision(ExecuteError::Contended { .. }) => {
            let mut response = MessagePage::new("Gerade ist sehr viel los")
                .paragraph(
                    "Ihr Termin konnte nicht gebucht werden. Bitte versuchen Sie es in einer Minute noch einmal.",
                )
                .link(PageLink::new(selection.time_href(), "Zurück zur Uhrzeit"))
                .respond(StatusCode::SERVICE_UNAVAILABLE);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
        RequestBookingError::Decision(ExecuteError::Storage(error)) => return internal_error(&error),
        RequestBookingError::Vault(error) => return internal_error(&error),
    };
    match reason {
        E::SlotTaken { .. } | E::WaitlistBehind(_) => {
            // The booking that took it is in the log; let the view show that
            // before offering the day's times again.
            if let Err(problem) = state.catch_up_views().await {
                tracing::warn!(detail = problem.detail, "views did not catch up");
            }
            selection.time = None;
            let page = ContactPage {
                alternatives: Some(selection.times(state)),
                selection,
                slot_taken: true,
                contact,
                errors: ContactErrors::default(),
                one_time_key,
            };
            page.respond(StatusCode::CONFLICT)
        }
        // This form was sent before: its booking's page, and nothing booked again.
        E::AlreadyRequested(booking) => see_requested_page(state, booking),
        E::OverlapsOwnBooking { .. } => MessagePage::new("Sie haben zu dieser Zeit schon einen Termin")
            .paragraph(
                "Für diese E-Mail-Adresse ist zu dieser Zeit bereits ein Termin gebucht oder angefragt, und eine \
                 Person kann nicht zwei Termine zur selben Zeit haben. Haben Sie das Formular zweimal abgeschickt? \
                 Dann gilt Ihre erste Buchung: Bitte bestätigen Sie sie über den Link in der E-Mail.",
            )
            .paragraph(
                "Möchten Sie einen weiteren Termin, wählen Sie bitte eine andere Uhrzeit. Einen Termin, den Sie \
                 nicht mehr brauchen, sagen Sie über den Link in der E-Mail ab.",
            )
            .link(PageLink::new(selection.time_href(), "Andere Uhrzeit wählen"))
            .respond(StatusCode::CONFLICT),
        E::TooManyOpenBookings { max } => MessagePage::new("Sie haben bereits genug offene Termine")
            .paragraph(format!(
                "Eine Person kann höchstens {max} Termine gleichzeitig gebucht haben. \
                 Wenn Sie einen Ihrer Termine nicht mehr brauchen, sagen Sie ihn bitte über den Link in der E-Mail ab; \
                 danach können Sie einen neuen Termin buchen."
            ))
            .respond(StatusCode::CONFLICT),
        E::UnknownOffice(_) => UnknownChoice::Office(selection.office_id().to_owned()).page(),
        E::UnknownService(service) => UnknownChoice::Service(service.to_string()).page(),
        E::StartNotInFuture { .. } => MessagePage::new("Diese Uhrzeit ist schon vorbei")
            .paragraph("Bitte wählen Sie eine spätere Uhrzeit.")
            .link(PageLink::new(selection.time_href(), "Andere Uhrzeit wählen"))
            .respond(StatusCode::UNPROCESSABLE_ENTITY),
        E::BeyondHorizon { last, .. } => MessagePage::new("Dieser Tag liegt zu weit in der Zukunft")
            .paragraph(format!(
                "Termine können bis einschließlich {} gebucht werden.",
                long_date(last)
            ))
            .link(PageLink::new(selection.day_href(), "Anderen Tag wählen"))
            .respond(StatusCode::UNPROCESSABLE_ENTITY),
        E::ServiceCount(_) | E::DuplicateService(_) => MessagePage::new("Bitte prüfen Sie Ihre Anliegen")
            .paragraph(format!(
                "Ein Termin kann 1 bis {MAX_BOOKING_SERVICES} verschiedene Anliegen umfassen."
            ))
            .link(PageLink::new(selection.services_href(), "Anliegen wählen"))
            .respond(StatusCode::UNPROCESSABLE_ENTITY),
        E::DstTransition(_) => MessagePage::new("Diese Uhrzeit gibt es an diesem Tag nicht")
            .paragraph("An diesem Tag werden die Uhren umgestellt. Bitte wählen Sie eine andere Uhrzeit.")
            .link(PageLink::new(selection.time_href(), "Andere Uhrzeit wählen"))
            .respond(StatusCode::UNPROCESSABLE_ENTITY),
    }
}

/// 500 without internals: the detail goes to the log.
fn internal_error(error: &dyn std::error::Error) -> Response {
    tracing::error!(%error, "booking page failed");
    MessagePage::new("Das hat gerade nicht geklappt")
        .paragraph("Ihr Termin konnte nicht gebucht werden. Bitte versuchen Sie es später noch einmal.")
        .respond(StatusCode::INTERNAL_SERVER_ERROR)
}
