//! The mail texts (templates under `services/templates/mail/`): each mail has
//! a plain-text part and an HTML alternative saying the same.

use askama::Template;

/// What every booking mail repeats about the appointment, ready to print.
#[derive(Debug, Clone)]
pub struct AppointmentDetails {
    pub name: String,
    pub office: String,
    pub address: String,
    /// "Dienstag, 1. Dezember 2026"
    pub date: String,
    pub start: String,
    pub end: String,
    pub services: String,
}

#[derive(Template)]
#[template(path = "mail/confirm_request.txt")]
pub struct ConfirmRequestText<'a> {
    pub details: &'a AppointmentDetails,
    pub confirm_by: &'a str,
    pub confirm_url: &'a str,
    pub cancel_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/confirm_request.html")]
pub struct ConfirmRequestHtml<'a> {
    pub subject: &'a str,
    pub details: &'a AppointmentDetails,
    pub confirm_by: &'a str,
    pub confirm_url: &'a str,
    pub cancel_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/confirmation.txt")]
pub struct ConfirmationText<'a> {
    pub details: &'a AppointmentDetails,
    pub number: &'a str,
    pub checkin_code: &'a str,
    pub cancel_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/confirmation.html")]
pub struct ConfirmationHtml<'a> {
    pub subject: &'a str,
    pub details: &'a AppointmentDetails,
    pub number: &'a str,
    pub checkin_code: &'a str,
    pub cancel_url: &'a str,
    pub qr_content_id: &'a str,
}

#[derive(Template)]
#[template(path = "mail/cancellation.txt")]
pub struct CancellationText<'a> {
    pub details: &'a AppointmentDetails,
    pub booking_url: &'a str,
    /// Why the office cancelled it; `None` when the citizen did.
    pub reason: Option<&'a str>,
    pub search_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/cancellation.html")]
pub struct CancellationHtml<'a> {
    pub subject: &'a str,
    pub details: &'a AppointmentDetails,
    pub booking_url: &'a str,
    pub reason: Option<&'a str>,
    pub search_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/lapse.txt")]
pub struct LapseText<'a> {
    pub details: &'a AppointmentDetails,
    pub booking_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/lapse.html")]
pub struct LapseHtml<'a> {
    pub subject: &'a str,
    pub details: &'a AppointmentDetails,
    pub booking_url: &'a str,
}

/// A link a mail offers, with what it does.
#[derive(Debug, Clone)]
pub struct MailAction {
    pub label: &'static str,
    pub url: String,
}

/// What every waitlist mail repeats about the search, ready to print.
#[derive(Debug, Clone)]
pub struct SearchDetails {
    pub offices: String,
    pub services: String,
    /// One line per weekday: "Montag: 8–9 Uhr, 9–10 Uhr".
    pub times: Vec<String>,
    pub until: Option<String>,
}

/// Every waitlist mail: paragraphs, the links (the first one is the main
/// action), the proposed appointment if there is one, the search.
#[derive(Template)]
#[template(path = "mail/wish.txt")]
pub struct WishText<'a> {
    pub name: &'a str,
    pub paragraphs: &'a [String],
    pub actions: &'a [MailAction],
    pub appointment: Option<&'a AppointmentDetails>,
    pub search: &'a SearchDetails,
}

#[derive(Template)]
#[template(path = "mail/wish.html")]
pub struct WishHtml<'a> {
    pub subject: &'a str,
    pub name: &'a str,
    pub paragraphs: &'a [String],
    pub actions: &'a [MailAction],
    pub appointment: Option<&'a AppointmentDetails>,
    pub search: &'a SearchDetails,
}

#[derive(Template)]
#[template(path = "mail/reminder.txt")]
pub struct ReminderText<'a> {
    pub details: &'a AppointmentDetails,
    pub number: &'a str,
    pub checkin_code: &'a str,
    pub cancel_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/reminder.html")]
pub struct ReminderHtml<'a> {
    pub subject: &'a str,
    pub details: &'a AppointmentDetails,
    pub number: &'a str,
    pub checkin_code: &'a str,
    pub cancel_url: &'a str,
    pub qr_content_id: &'a str,
}

#[derive(Template)]
#[template(path = "mail/overview.txt")]
pub struct OverviewText<'a> {
    pub name: &'a str,
    pub overview_url: &'a str,
    pub valid_until: &'a str,
    pub request_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/overview.html")]
pub struct OverviewHtml<'a> {
    pub subject: &'a str,
    pub name: &'a str,
    pub overview_url: &'a str,
    pub valid_until: &'a str,
    pub request_url: &'a str,
}
