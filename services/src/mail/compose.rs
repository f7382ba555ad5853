//! From a log event to the mail it calls for. Everything a mail says comes
//! from the log, the catalogue view and the vault; link tokens are
//! re-derived from the installation's link secret (the log has only hashes).

use std::sync::Arc;

use askama::Template;
use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use terminagent_domain::ProposalId;
use terminagent_domain::{
    BookingConfirmed, BookingEvent, BookingId, BookingInput, BookingRequested, DomainEvent, LinkAction, OfficeId,
    OfficeTimeZone, PersonalData, ProposalAccepted, SealedPersonalData, ServiceId, StreamName, WishEndReason,
    WishEvent, WishId, WishRegistered,
};
use terminagent_domain::{OverviewEvent, OverviewRequested, ReminderEvent, ReminderInput, WaitingNumber};
use terminagent_eventstore::{EventStore, Opened, SealedEnvelope, StorageError, VaultError};

use super::MailNotice;
use super::calendar::{self, Appointment};
use super::templates::*;
use crate::config::PublicUrl;
use crate::german;
use crate::links::LinkSecret;
use crate::projections::{CatalogueView, LiveProjection};

/// What a notice comes to.
#[derive(Debug)]
pub enum Composed {
    Mail(Box<Message>),
    /// No mail can or should go out (e.g. the citizen's data was erased); the
    /// reason goes into the ledger.
    Skip(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// Worth retrying: the store did not answer.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Retrying cannot help: the log does not hold what the mail needs.
    #[error("cannot write the mail: {0}")]
    Broken(String),
}

impl From<VaultError> for ComposeError {
    fn from(error: VaultError) -> Self {
        match error {
            VaultError::Storage(error) => ComposeError::Storage(error),
            other => ComposeError::Broken(other.to_string()),
        }
    }
}

/// The parts of a mail, before it is addressed.
struct Content {
    subject: String,
    text: String,
    html: String,
    /// An inline image the HTML refers to by content id.
    inline_png: Option<(String, Vec<u8>)>,
    /// An `.ics` attachment and its METHOD.
    calendar: Option<(String, &'static str)>,
}

/// Writes the mails of booking events.
#[derive(Clone)]
pub struct MailComposer {
    pub store: EventStore,
    pub catalogue: Arc<LiveProjection<CatalogueView>>,
    pub secret: LinkSecret,
    pub public_url: PublicUrl,
    pub from: Mailbox,
}

const QR_CONTENT_ID: &str = "checkin-qr";

impl MailComposer {
    pub async fn compose(&self, notice: &MailNotice) -> Result<Composed, ComposeError> {
        let broken = |error: terminagent_domain::EventDecodeError| ComposeError::Broken(error.to_string());
        // The catalogue entries the event names precede it in the log.
        self.catalogue.caught_up_to(notice.position).await;
        if ReminderEvent::EVENT_TYPES.contains(&notice.event_type.as_str()) {
            return self.compose_reminder(notice).await;
        }
        // "Meine Termine": the overview link, or a confirm request once more.
        let resent = if OverviewEvent::EVENT_TYPES.contains(&notice.event_type.as_str()) {
            match OverviewEvent::from_stored_json(&notice.event_type, notice.data.get()).map_err(broken)? {
                OverviewEvent::Requested(requested) => return self.compose_overview(notice, requested).await,
                OverviewEvent::ConfirmationResent(resent) => Some(resent),
            }
        } else {
            None
        };
        let (event, request) = if let Some(resent) = resent {
            // The same mail as the request's, the same confirm link; a new
            // event, so a new Message-ID.
            let request = self.request_of(&resent.booking).await?;
            (BookingEvent::Requested(request.clone()), request)
        } else if WishEvent::EVENT_TYPES.contains(&notice.event_type.as_str()) {
            match WishEvent::from_stored_json(&notice.event_type, notice.data.get()).map_err(broken)? {
                // An accepted proposal is a confirmed booking: its mail is the confirmation.
                WishEvent::ProposalAccepted(accepted) => {
                    let confirmed = BookingEvent::Confirmed(BookingConfirmed {
                        booking: accepted.booking,
                        office: accepted.office.clone(),
                        date: accepted.date,
                        number: accepted.number,
                        checkin_code_hash: accepted.checkin_code_hash.clone(),
                        links: accepted.links.clone(),
                    });
                    (confirmed, booking_of_acceptance(accepted))
                }
                other => return self.compose_wish(notice, other).await,
            }
        } else {
            let event = BookingEvent::from_stored_json(&notice.event_type, notice.data.get()).map_err(broken)?;
            let request = match &event {
                BookingEvent::Requested(request) => request.clone(),
                BookingEvent::Confirmed(confirmed) => self.request_of(&confirmed.booking).await?,
                // A walk-in ticket has nobody to write to.
                BookingEvent::Cancelled(cancelled) if cancelled.citizen.is_none() => {
                    return Ok(Composed::Skip("a walk-in ticket has no address".into()));
                }
                BookingEvent::Cancelled(cancelled) => self.request_of(&cancelled.booking).await?,
                BookingEvent::Lapsed(lapsed) => self.request_of(&lapsed.booking).await?,
                BookingEvent::TicketIssued(_) => {
                    return Ok(Composed::Skip("a walk-in ticket has no address".into()));
                }
                // The visit was missed; its freed units are nobody's news.
                BookingEvent::Released(_) => return Ok(Composed::Skip("units of a missed visit released".into())),
            };
            (event, request)
        };
        let Some(citizen) = self.open(&request.citizen).await? else {
            return Ok(Composed::Skip("personal data erased".into()));
        };
        let (details, zone) = self.details(&request.office, &request.services, request.start, request.end, &citizen)?;
        let subject_of = |what: &str| format!("{what}: {}, {} Uhr", details.date, details.start);
        let booking = request.booking.to_string();
        let link = |action: LinkAction| self.secret.token(&booking, action.as_str()).url(&self.public_url);
        let booking_url = format!("{}/", self.public_url.as_str());
        let appointment = |summary: &str| {
            let description = format!("{} – {}", details.services, details.address);
            let stamped = notice.recorded_at;
            let uid = format!("{booking}@terminagent");
            let entry = Appointment {
                uid: &uid,
                summary,
                location: &format!("{}, {}", details.office, details.address),
                description: &description,
                start: request.start,
                end: request.end,
                stamped,
            };
            (calendar::publish(&entry), calendar::cancel(&entry))
        };
        let content = match &event {
            BookingEvent::Requested(request) => {
                let subject = subject_of("Bitte bestätigen Sie Ihren Termin");
                let local = zone.to_local(request.confirm_by);
                let confirm_by = format!("{}, {}", german::long_date(local.date_naive()), german::clock(&local));
                let (confirm_url, cancel_url) = (link(LinkAction::ConfirmBooking), link(LinkAction::CancelBooking));
                Content {
                    text: render(ConfirmRequestText {
                        details: &details,
                        confirm_by: &confirm_by,
                        confirm_url: &confirm_url,
                        cancel_url: &cancel_url,
                    })?,
                    html: render(ConfirmRequestHtml {
                        subject: &subject,
                        details: &details,
                        confirm_by: &confirm_by,
                        confirm_url: &confirm_url,
                        cancel_url: &cancel_url,
                    })?,
                    subject,
                    inline_png: None,
                    calendar: None,
                }
            }
            BookingEvent::Confirmed(confirmed) => {
                let number = confirmed.number.to_string();
                let subject = format!("{} – Wartenummer {number}", subject_of("Terminbestätigung"));
                let checkin_code = self.secret.checkin_code(&booking);
                let cancel_url = link(LinkAction::CancelBooking);
                let qr = super::qr::png(&checkin_code).map_err(|error| ComposeError::Broken(error.to_string()))?;
                let (entry, _) = appointment(&format!("{} – {}", details.services, details.office));
                Content {
                    text: render(ConfirmationText {
                        details: &details,
                        number: &number,
                        checkin_code: &checkin_code,
                        cancel_url: &cancel_url,
                    })?,
                    html: render(ConfirmationHtml {
                        subject: &subject,
                        details: &details,
                        number: &number,
                        checkin_code: &checkin_code,
                        cancel_url: &cancel_url,
                        qr_content_id: QR_CONTENT_ID,
                    })?,
                    subject,
                    inline_png: Some((QR_CONTENT_ID.to_owned(), qr)),
                    calendar: Some((entry, "PUBLISH")),
                }
            }
            BookingEvent::Cancelled(cancelled) => {
                let subject = subject_of("Ihr Termin wurde abgesagt");
                let (_, removal) = appointment(&format!("{} – {}", details.services, details.office));
                let reason = cancelled.reason.as_deref();
                let search_url = format!("{}/suche", self.public_url.as_str());
                Content {
                    text: render(CancellationText {
                        details: &details,
                        booking_url: &booking_url,
                        reason,
                        search_url: &search_url,
                    })?,
                    html: render(CancellationHtml {
                        subject: &subject,
                        details: &details,
                        booking_url: &booking_url,
                        reason,
                        search_url: &search_url,
                    })?,
                    subject,
                    inline_png: None,
                    calendar: Some((removal, "CANCEL")),
                }
            }
            BookingEvent::TicketIssued(_) | BookingEvent::Released(_) => {
                return Ok(Composed::Skip("no mail for this booking event".into()));
            }
            BookingEvent::Lapsed(_) => {
                let subject = subject_of("Ihre Terminanfrage ist verfallen");
                Content {
                    text: render(LapseText {
                        details: &details,
                        booking_url: &booking_url,
                    })?,
                    html: render(LapseHtml {
                        subject: &subject,
                        details: &details,
                        booking_url: &booking_url,
                    })?,
                    subject,
                    inline_png: None,
                    calendar: None,
                }
            }
        };
        self.address(notice, &citizen, content)
    }

    /// The request that opened `booking` (every later booking event follows
    /// one), or the accepted proposal that placed it.
    async fn request_of(&self, booking: &BookingId) -> Result<BookingRequested, ComposeError> {
        let stream = StreamName::booking(booking);
        let events = self.store.read_stream(stream.as_str(), 0).await?;
        events
            .iter()
            .find_map(|stored| {
                let (event_type, data) = (stored.event.event_type.as_str(), stored.event.data.as_str());
                match BookingInput::from_stored_json(event_type, data) {
                    Ok(BookingInput::Booking(BookingEvent::Requested(request))) => Some(request),
                    Ok(BookingInput::Wish(WishEvent::ProposalAccepted(accepted))) => {
                        Some(booking_of_acceptance(accepted))
                    }
                    _ => None,
                }
            })
            .ok_or_else(|| ComposeError::Broken(format!("booking {booking} has no request in the log")))
    }

    /// The citizen's personal data, `None` once erased.
    async fn open(&self, citizen: &SealedPersonalData) -> Result<Option<PersonalData>, ComposeError> {
        let sealed = SealedEnvelope {
            envelope_id: citizen.envelope_id.as_ulid(),
            nonce: citizen.nonce.clone(),
            ciphertext: citizen.ciphertext.clone(),
        };
        Ok(match self.store.vault().open(&sealed).await? {
            Opened::Readable(citizen) => Some(citizen),
            Opened::Erased => None,
        })
    }

    /// Service names as the catalogue calls them, joined.
    fn service_names(&self, services: &[ServiceId]) -> String {
        let catalogue = self.catalogue.read();
        services
            .iter()
            .map(|service| {
                catalogue
                    .service(service)
                    .map_or(service.as_str(), |entry| entry.name.as_str())
                    .to_owned()
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn details(
        &self,
        office: &OfficeId,
        services: &[ServiceId],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        citizen: &PersonalData,
    ) -> Result<(AppointmentDetails, OfficeTimeZone), ComposeError> {
        let services = self.service_names(services);
        let catalogue = self.catalogue.read();
        let office = catalogue
            .office(office)
            .ok_or_else(|| ComposeError::Broken(format!("office {office} is not in the catalogue")))?;
        let zone = OfficeTimeZone::parse(&office.timezone).map_err(|error| ComposeError::Broken(error.to_string()))?;
        let (start, end) = (zone.to_local(start), zone.to_local(end));
        let details = AppointmentDetails {
            name: citizen.name.as_str().to_owned(),
            office: office.name.clone(),
            address: office.address.clone(),
            date: german::long_date(start.date_naive()),
            start: german::clock(&start),
            end: german::clock(&end),
            services,
        };
        Ok((details, zone))
    }

    fn address(&self, notice: &MailNotice, citizen: &PersonalData, content: Content) -> Result<Composed, ComposeError> {
        let Ok(address) = citizen.email.to_ascii().parse() else {
            return Ok(Composed::Skip("the address is not deliverable by SMTP".into()));
        };
        let to = Mailbox::new(Some(citizen.name.as_str().to_owned()), address);
        let domain = self.from.email.domain().to_owned();
        // The same event always yields the same Message-ID, so a duplicate is recognisable.
        let message_id = format!("<{}.{}@{domain}>", notice.event_id, notice.event_type);
        let alternative = MultiPart::alternative().singlepart(SinglePart::plain(content.text));
        let alternative = match content.inline_png {
            None => alternative.singlepart(SinglePart::html(content.html)),
            Some((content_id, png)) => alternative.multipart(
                MultiPart::related()
                    .singlepart(SinglePart::html(content.html))
                    .singlepart(Attachment::new_inline(content_id).body(png, ContentType::parse("image/png").unwrap())),
            ),
        };
        let body = match content.calendar {
            None => alternative,
            Some((ics, method)) => {
                let kind = ContentType::parse(&format!("text/calendar; charset=utf-8; method={method}"))
                    .map_err(|error| ComposeError::Broken(error.to_string()))?;
                MultiPart::mixed()
                    .multipart(alternative)
                    .singlepart(Attachment::new("termin.ics".to_owned()).body(ics, kind))
            }
        };
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(content.subject)
            .message_id(Some(message_id))
            .date(notice.recorded_at.into())
            .multipart(body)
            .map(|message| Composed::Mail(Box::new(message)))
            .map_err(|error| ComposeError::Broken(error.to_string()))
    }
}

impl MailComposer {
    /// The mails of the waitlist: registration, proposal, declined, expired, ended.
    async fn compose_wish(&self, notice: &MailNotice, event: WishEvent) -> Result<Composed, ComposeError> {
        let registered = match &event {
            WishEvent::Registered(registered) => registered.clone(),
            other => self.registration_of(&other.wish()).await?,
        };
        // An address nobody confirmed gets nothing more from us.
        if let WishEvent::Ended(ended) = &event
            && ended.reason == WishEndReason::Unconfirmed
        {
            return Ok(Composed::Skip("the wish lapsed unconfirmed".into()));
        }
        if let WishEvent::ProposalExpired(expired) = &event
            && self.ended_by_this_expiry(&expired.wish, &expired.proposal).await?
        {
            return Ok(Composed::Skip(
                "the wish ended with this expiry; its end mail says so".into(),
            ));
        }
        let Some(citizen) = self.open(&registered.citizen).await? else {
            return Ok(Composed::Skip("personal data erased".into()));
        };
        let search = self.search_details(&registered)?;
        let wish = registered.wish.to_string();
        let end_search = MailAction {
            label: "Terminsuche beenden",
            url: self
                .secret
                .token(&wish, LinkAction::EndWish.as_str())
                .url(&self.public_url),
        };
        let book_anew = MailAction {
            label: "Einen Termin buchen",
            url: format!("{}/", self.public_url.as_str()),
        };
        let mut appointment = None;
        let (subject, paragraphs, actions): (String, Vec<String>, Vec<MailAction>) = match &event {
            // Double opt-in: the wish waits only once this link is pressed.
            WishEvent::Registered(pending) if !pending.waits_at_once() => {
                let confirm_by = pending.confirm_by.unwrap_or(pending.registered_at);
                let zone = self.first_office_zone(&pending.offices);
                let local = zone.to_local(confirm_by);
                let confirm_by = format!("{}, {}", german::long_date(local.date_naive()), german::clock(&local));
                (
                    "Bitte bestätigen Sie Ihre Terminsuche".into(),
                    vec![
                        "Sie haben eine Terminsuche eingetragen. Bitte bestätigen Sie sie mit dem Link unten.".into(),
                        format!(
                            "Erst mit Ihrer Bestätigung ist die Suche eingereiht – in der Reihenfolge der \
                             Bestätigungen. Bestätigen Sie bis {confirm_by} Uhr; danach verfällt sie."
                        ),
                        "Falls Sie keine Terminsuche eingetragen haben, müssen Sie nichts tun: ohne Bestätigung \
                         geschieht nichts weiter, und wir schreiben Ihnen nicht wieder."
                            .into(),
                    ],
                    vec![
                        MailAction {
                            label: "Terminsuche bestätigen",
                            url: self
                                .secret
                                .token(&wish, LinkAction::ConfirmWish.as_str())
                                .url(&self.public_url),
                        },
                        MailAction {
                            label: "Terminsuche zurückziehen",
                            url: end_search.url.clone(),
                        },
                    ],
                )
            }
            WishEvent::Registered(_) | WishEvent::Confirmed(_) => (
                "Ihre Terminsuche ist eingetragen".into(),
                vec![
                    "Ihre Terminsuche ist eingetragen. Sobald ein passender Termin frei wird, schlagen wir ihn \
                     Ihnen per E-Mail vor – in der Reihenfolge, in der die Suchen eingegangen sind."
                        .into(),
                    "Sie müssen nichts weiter tun. Wenn Sie keinen Termin mehr brauchen, beenden Sie die Suche \
                     bitte mit dem Link unten."
                        .into(),
                ],
                vec![end_search],
            ),
            WishEvent::ProposalMade(made) => {
                let (details, zone) =
                    self.details(&made.office, &registered.services, made.start, made.end, &citizen)?;
                let answer_by = zone.to_local(made.expires_at);
                let answer_by = format!(
                    "{}, {}",
                    german::long_date(answer_by.date_naive()),
                    german::clock(&answer_by)
                );
                let proposal = made.proposal.to_string();
                let link = |action: LinkAction| self.secret.token(&proposal, action.as_str()).url(&self.public_url);
                let subject = format!("Terminvorschlag: {}, {} Uhr", details.date, details.start);
                appointment = Some(details);
                (
                    subject,
                    vec![
                        "Für Ihre Terminsuche ist ein passender Termin frei geworden.".into(),
                        format!(
                            "Wir halten ihn bis {answer_by} Uhr für Sie bereit. Nehmen Sie ihn an, ist er \
                             verbindlich gebucht. Lehnen Sie ab, sucht das System für Sie weiter; dieser Termin \
                             wird Ihnen dann nicht noch einmal vorgeschlagen."
                        ),
                    ],
                    vec![
                        MailAction {
                            label: "Termin annehmen",
                            url: link(LinkAction::AcceptProposal),
                        },
                        MailAction {
                            label: "Ablehnen und weiter suchen",
                            url: link(LinkAction::DeclineProposal),
                        },
                        end_search,
                    ],
                )
            }
            WishEvent::ProposalDeclined(_) => (
                "Ihre Terminsuche läuft weiter".into(),
                vec![
                    "Sie haben den vorgeschlagenen Termin abgelehnt. Ihre Suche behält ihren Platz; den nächsten \
                     passenden Termin schlagen wir Ihnen vor."
                        .into(),
                ],
                vec![end_search],
            ),
            WishEvent::ProposalWithdrawn(_) => (
                "Der Terminvorschlag entfällt".into(),
                vec![
                    "Das Bürgerbüro hat zur Zeit des vorgeschlagenen Termins geschlossen; der Vorschlag entfällt. \
                     Ihre Suche behält ihren Platz: den nächsten passenden Termin schlagen wir Ihnen vor."
                        .into(),
                ],
                vec![end_search],
            ),
            WishEvent::ProposalExpired(_) => (
                "Der Terminvorschlag ist verfallen".into(),
                vec![
                    "Sie haben auf unseren Terminvorschlag nicht rechtzeitig geantwortet; der Termin wurde \
                     weitergegeben. Ihre Suche behält ihren Platz, solange sie läuft."
                        .into(),
                ],
                vec![end_search],
            ),
            WishEvent::Ended(ended) => {
                let why = match ended.reason {
                    WishEndReason::Citizen => "Ihre Terminsuche ist wie gewünscht beendet.",
                    WishEndReason::UnansweredProposals => {
                        "Ihre Terminsuche ist beendet, weil mehrere Terminvorschläge nacheinander unbeantwortet \
                         blieben."
                    }
                    WishEndReason::UntilPassed => {
                        "Ihre Terminsuche ist beendet, weil das angegebene Enddatum vorüber ist."
                    }
                    WishEndReason::Unconfirmed => {
                        return Ok(Composed::Skip("the wish lapsed unconfirmed".into()));
                    }
                };
                (
                    "Ihre Terminsuche ist beendet".into(),
                    vec![
                        why.into(),
                        "Wenn Sie doch einen Termin brauchen, können Sie jederzeit einen buchen oder eine neue \
                         Suche eintragen."
                            .into(),
                    ],
                    vec![book_anew],
                )
            }
            WishEvent::ProposalAccepted(_) => {
                return Err(ComposeError::Broken("an acceptance is mailed as a confirmation".into()));
            }
        };
        let name = citizen.name.as_str();
        let content = Content {
            text: render(WishText {
                name,
                paragraphs: &paragraphs,
                actions: &actions,
                appointment: appointment.as_ref(),
                search: &search,
            })?,
            html: render(WishHtml {
                subject: &subject,
                name,
                paragraphs: &paragraphs,
                actions: &actions,
                appointment: appointment.as_ref(),
                search: &search,
            })?,
            subject,
            inline_png: None,
            calendar: None,
        };
        self.address(notice, &citizen, content)
    }

    /// Whether the wish ended because this proposal, too, went unanswered: the
    /// expiry that ends a wish is its last, and the end mail tells both.
    async fn ended_by_this_expiry(&self, wish: &WishId, proposal: &ProposalId) -> Result<bool, ComposeError> {
        let events = self.store.read_stream(StreamName::wish(wish).as_str(), 0).await?;
        let mut last_expired = None;
        let mut ended_unanswered = false;
        for stored in &events {
            match WishEvent::from_stored_json(&stored.event.event_type, stored.event.data.as_str()) {
                Ok(WishEvent::ProposalExpired(expired)) => last_expired = Some(expired.proposal),
                Ok(WishEvent::Ended(ended)) => ended_unanswered = ended.reason == WishEndReason::UnansweredProposals,
                _ => {}
            }
        }
        Ok(ended_unanswered && last_expired == Some(*proposal))
    }

    /// The zone of the first of `offices` the catalogue knows (Europe/Berlin
    /// otherwise), to tell a deadline in local time.
    fn first_office_zone(&self, offices: &[OfficeId]) -> OfficeTimeZone {
        let catalogue = self.catalogue.read();
        offices
            .iter()
            .find_map(|office| OfficeTimeZone::parse(&catalogue.office(office)?.timezone).ok())
            .unwrap_or_else(|| OfficeTimeZone::parse("Europe/Berlin").expect("a known zone"))
    }

    /// The registration of `wish` (every later wish event follows it).
    async fn registration_of(&self, wish: &WishId) -> Result<WishRegistered, ComposeError> {
        let events = self.store.read_stream(StreamName::wish(wish).as_str(), 0).await?;
        events
            .iter()
            .find_map(|stored| {
                match WishEvent::from_stored_json(&stored.event.event_type, stored.event.data.as_str()) {
                    Ok(WishEvent::Registered(registered)) => Some(registered),
                    _ => None,
                }
            })
            .ok_or_else(|| ComposeError::Broken(format!("wish {wish} has no registration in the log")))
    }

    fn search_details(&self, registered: &WishRegistered) -> Result<SearchDetails, ComposeError> {
        let offices = {
            let catalogue = self.catalogue.read();
            registered
                .offices
                .iter()
                .map(|office| {
                    catalogue
                        .office(office)
                        .map_or(office.to_string(), |entry| entry.name.clone())
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut times: Vec<String> = Vec::new();
        let mut day = chrono::Weekday::Mon;
        for _ in 0..7 {
            let hours: Vec<String> = registered
                .windows
                .hours(day)
                .map(|hour| format!("{hour}–{} Uhr", hour + 1))
                .collect();
            if !hours.is_empty() {
                times.push(format!("{}: {}", german::weekday(day), hours.join(", ")));
            }
            day = day.succ();
        }
        Ok(SearchDetails {
            offices,
            services: self.service_names(&registered.services),
            times,
            until: registered.until.map(|until| german::long_date(until.as_naive())),
        })
    }
}

/// A booking placed by accepting a proposal, in the shape of a request.
fn booking_of_acceptance(accepted: ProposalAccepted) -> BookingRequested {
    BookingRequested {
        booking: accepted.booking,
        office: accepted.office,
        services: accepted.services,
        units: accepted.units,
        start: accepted.start,
        end: accepted.end,
        citizen: accepted.citizen,
        confirm_by: accepted.start,
        links: accepted.links,
    }
}

fn render(template: impl Template) -> Result<String, ComposeError> {
    template
        .render()
        .map_err(|error| ComposeError::Broken(format!("mail template: {error}")))
}

impl MailComposer {
    /// The mail with the link to "Meine Termine", to the address of the
    /// citizen's latest booking or wish (their newest sealed data).
    async fn compose_overview(
        &self,
        notice: &MailNotice,
        requested: OverviewRequested,
    ) -> Result<Composed, ComposeError> {
        let stream = StreamName::citizen(&requested.envelope);
        let events = self.store.read_stream(stream.as_str(), 0).await?;
        let latest = events.iter().rev().find_map(|stored| {
            let (event_type, data) = (stored.event.event_type.as_str(), stored.event.data.as_str());
            match BookingInput::from_stored_json(event_type, data).ok()? {
                BookingInput::Booking(BookingEvent::Requested(request)) => Some(request.citizen),
                BookingInput::Wish(WishEvent::Registered(registered)) => Some(registered.citizen),
                BookingInput::Wish(WishEvent::ProposalAccepted(accepted)) => Some(accepted.citizen),
                _ => None,
            }
        });
        let Some(sealed) = latest else {
            return Ok(Composed::Skip("the citizen's stream holds no address".into()));
        };
        let Some(citizen) = self.open(&sealed).await? else {
            return Ok(Composed::Skip("personal data erased".into()));
        };
        let token = crate::application::overview::overview_token(&self.secret, &requested.request);
        let overview_url = format!("{}/meine-termine/{}", self.public_url.as_str(), token.as_str());
        let request_url = format!("{}/meine-termine", self.public_url.as_str());
        let local = self.first_office_zone(&[]).to_local(requested.expires_at);
        let valid_until = format!("{}, {}", german::long_date(local.date_naive()), german::clock(&local));
        let subject = "Ihr Link zu „Meine Termine“".to_owned();
        let name = citizen.name.as_str();
        let content = Content {
            text: render(OverviewText {
                name,
                overview_url: &overview_url,
                valid_until: &valid_until,
                request_url: &request_url,
            })?,
            html: render(OverviewHtml {
                subject: &subject,
                name,
                overview_url: &overview_url,
                valid_until: &valid_until,
                request_url: &request_url,
            })?,
            subject,
            inline_png: None,
            calendar: None,
        };
        self.address(notice, &citizen, content)
    }

    /// The reminder on the booking's day: time, place, waiting number,
    /// check-in code and its QR code, the cancel link.
    async fn compose_reminder(&self, notice: &MailNotice) -> Result<Composed, ComposeError> {
        let ReminderEvent::Due(due) = ReminderEvent::from_stored_json(&notice.event_type, notice.data.get())
            .map_err(|error| ComposeError::Broken(error.to_string()))?;
        let request = self.request_of(&due.booking).await?;
        let Some(number) = self.number_of(&due.booking).await? else {
            return Ok(Composed::Skip(
                "the booking was cancelled after its reminder fell due".into(),
            ));
        };
        let Some(citizen) = self.open(&request.citizen).await? else {
            return Ok(Composed::Skip("personal data erased".into()));
        };
        let (details, _) = self.details(&request.office, &request.services, request.start, request.end, &citizen)?;
        let subject = format!("Erinnerung: Ihr Termin heute, {} Uhr", details.start);
        let booking = request.booking.to_string();
        let number = number.to_string();
        let checkin_code = self.secret.checkin_code(&booking);
        let cancel_url = self
            .secret
            .token(&booking, LinkAction::CancelBooking.as_str())
            .url(&self.public_url);
        let qr = super::qr::png(&checkin_code).map_err(|error| ComposeError::Broken(error.to_string()))?;
        let content = Content {
            text: render(ReminderText {
                details: &details,
                number: &number,
                checkin_code: &checkin_code,
                cancel_url: &cancel_url,
            })?,
            html: render(ReminderHtml {
                subject: &subject,
                details: &details,
                number: &number,
                checkin_code: &checkin_code,
                cancel_url: &cancel_url,
                qr_content_id: QR_CONTENT_ID,
            })?,
            subject,
            inline_png: Some((QR_CONTENT_ID.to_owned(), qr)),
            calendar: None,
        };
        self.address(notice, &citizen, content)
    }

    /// The booking's waiting number; `None` once it is cancelled (or it never had one).
    async fn number_of(&self, booking: &BookingId) -> Result<Option<WaitingNumber>, ComposeError> {
        let stream = StreamName::booking(booking);
        let events = self.store.read_stream(stream.as_str(), 0).await?;
        let mut number = None;
        for stored in &events {
            let (event_type, data) = (stored.event.event_type.as_str(), stored.event.data.as_str());
            match ReminderInput::from_stored_json(event_type, data) {
                Ok(ReminderInput::Booking(BookingEvent::Confirmed(confirmed))) => number = Some(confirmed.number),
                Ok(ReminderInput::Wish(WishEvent::ProposalAccepted(accepted))) => number = Some(accepted.number),
                Ok(ReminderInput::Booking(BookingEvent::Cancelled(_) | BookingEvent::Lapsed(_))) => number = None,
                _ => {}
            }
        }
        Ok(number)
    }
}
