//! From a log event to the mail it calls for. Everything a mail says comes
//! from the log, the catalogue view and the vault; link tokens are
//! re-derived from the installation's link secret (the log has only hashes).

use std::sync::Arc;

use askama::Template;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use terminagent_domain::{
    BookingEvent, BookingId, BookingRequested, DomainEvent, LinkAction, OfficeTimeZone, PersonalData, StreamName,
};
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
        let event = BookingEvent::from_stored_json(&notice.event_type, notice.data.get())
            .map_err(|error| ComposeError::Broken(error.to_string()))?;
        // The catalogue entries the event names precede it in the log.
        self.catalogue.caught_up_to(notice.position).await;
        let request = match &event {
            BookingEvent::Requested(request) => request.clone(),
            BookingEvent::Confirmed(confirmed) => self.request_of(&confirmed.booking).await?,
            BookingEvent::Cancelled(cancelled) => self.request_of(&cancelled.booking).await?,
            BookingEvent::Lapsed(lapsed) => self.request_of(&lapsed.booking).await?,
        };
        let sealed = SealedEnvelope {
            envelope_id: request.citizen.envelope_id.as_ulid(),
            nonce: request.citizen.nonce.clone(),
            ciphertext: request.citizen.ciphertext.clone(),
        };
        let citizen: PersonalData = match self.store.vault().open(&sealed).await? {
            Opened::Readable(citizen) => citizen,
            Opened::Erased => return Ok(Composed::Skip("personal data erased".into())),
        };
        let (details, zone) = self.details(&request, &citizen)?;
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
                let (entry, _) = appointment(&format!("Termin im {}: {}", details.office, details.services));
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
            BookingEvent::Cancelled(_) => {
                let subject = subject_of("Ihr Termin wurde abgesagt");
                let (_, removal) = appointment(&format!("Termin im {}: {}", details.office, details.services));
                Content {
                    text: render(CancellationText {
                        details: &details,
                        booking_url: &booking_url,
                    })?,
                    html: render(CancellationHtml {
                        subject: &subject,
                        details: &details,
                        booking_url: &booking_url,
                    })?,
                    subject,
                    inline_png: None,
                    calendar: Some((removal, "CANCEL")),
                }
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

    /// The request that opened `booking` (every later booking event follows one).
    async fn request_of(&self, booking: &BookingId) -> Result<BookingRequested, ComposeError> {
        let stream = StreamName::booking(booking);
        let events = self.store.read_stream(stream.as_str(), 0).await?;
        events
            .iter()
            .find_map(|stored| {
                match BookingEvent::from_stored_json(&stored.event.event_type, stored.event.data.as_str()) {
                    Ok(BookingEvent::Requested(request)) => Some(request),
                    _ => None,
                }
            })
            .ok_or_else(|| ComposeError::Broken(format!("booking {booking} has no request in the log")))
    }

    fn details(
        &self,
        request: &BookingRequested,
        citizen: &PersonalData,
    ) -> Result<(AppointmentDetails, OfficeTimeZone), ComposeError> {
        let catalogue = self.catalogue.read();
        let office = catalogue
            .office(&request.office)
            .ok_or_else(|| ComposeError::Broken(format!("office {} is not in the catalogue", request.office)))?;
        let zone = OfficeTimeZone::parse(&office.timezone).map_err(|error| ComposeError::Broken(error.to_string()))?;
        let services = request
            .services
            .iter()
            .map(|service| {
                catalogue
                    .service(service)
                    .map_or(service.as_str(), |entry| entry.name.as_str())
            })
            .collect::<Vec<_>>()
            .join(", ");
        let (start, end) = (zone.to_local(request.start), zone.to_local(request.end));
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
        let Ok(address) = citizen.email.as_str().parse() else {
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

fn render(template: impl Template) -> Result<String, ComposeError> {
    template
        .render()
        .map_err(|error| ComposeError::Broken(format!("mail template: {error}")))
}
