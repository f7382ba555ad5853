//! Mail links and what they act on, as the log tells them: token hash →
//! target, and each booking's, wish's and proposal's current state.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use terminagent_domain::{
    BookingEvent, BookingId, BookingStatus, DomainEvent, EnvelopeId, IssuedLink, LinkAction, OfficeId, OverviewEvent,
    OverviewRequestId, ProposalId, ProposalStatus, WishEvent, WishId, WishStatus,
};
use terminagent_eventstore::LogEvent;

use super::Projection;

/// What a link acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkSubject {
    Booking(BookingId),
    Proposal { wish: WishId, proposal: ProposalId },
    Wish(WishId),
}

/// A link: what it acts on, how, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    pub subject: LinkSubject,
    pub action: LinkAction,
    pub expires_at: DateTime<Utc>,
}

/// A proposal as link pages and answers show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalSummary {
    pub proposal: ProposalId,
    pub wish: WishId,
    pub office: OfficeId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub status: ProposalStatus,
}

/// A wish as link pages and answers show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WishSummary {
    pub wish: WishId,
    pub status: WishStatus,
    /// Whether it joined the queue (confirmed, or registered before double opt-in).
    pub confirmed: bool,
}

/// A booking as link pages and answers show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingSummary {
    pub booking: BookingId,
    pub office: OfficeId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: BookingStatus,
    pub confirm_by: DateTime<Utc>,
}

/// A "Meine Termine" link: whose bookings and wishes it shows, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverviewLink {
    pub request: OverviewRequestId,
    pub envelope: EnvelopeId,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LinksView {
    links: HashMap<String, LinkTarget>,
    /// Token hash → the overview link it opens.
    overviews: HashMap<String, OverviewLink>,
    bookings: HashMap<BookingId, BookingSummary>,
    wishes: HashMap<WishId, WishSummary>,
    proposals: HashMap<ProposalId, ProposalSummary>,
}

impl LinksView {
    pub fn wish(&self, wish: &WishId) -> Option<&WishSummary> {
        self.wishes.get(wish)
    }

    pub fn proposal(&self, proposal: &ProposalId) -> Option<&ProposalSummary> {
        self.proposals.get(proposal)
    }

    /// The "Meine Termine" link of this token hash.
    pub fn overview(&self, token_hash: &str) -> Option<&OverviewLink> {
        self.overviews.get(token_hash)
    }

    pub fn link(&self, token_hash: &str) -> Option<&LinkTarget> {
        self.links.get(token_hash)
    }

    pub fn booking(&self, booking: &BookingId) -> Option<&BookingSummary> {
        self.bookings.get(booking)
    }

    /// Pending bookings whose time to confirm has run out by `now`.
    pub fn lapse_due(&self, now: DateTime<Utc>) -> Vec<BookingId> {
        let mut due: Vec<BookingId> = self
            .bookings
            .values()
            .filter(|booking| booking.status == BookingStatus::PendingConfirmation && booking.confirm_by <= now)
            .map(|booking| booking.booking)
            .collect();
        due.sort();
        due
    }

    fn issue(&mut self, subject: LinkSubject, links: &[IssuedLink]) {
        for link in links {
            // A proposal mail repeats its wish's end link.
            let subject = match (link.action, subject) {
                (LinkAction::EndWish, LinkSubject::Proposal { wish, .. }) => LinkSubject::Wish(wish),
                _ => subject,
            };
            let target = LinkTarget {
                subject,
                action: link.action,
                expires_at: link.expires_at,
            };
            self.links.insert(link.token_hash.clone(), target);
        }
    }

    fn set_proposal_status(&mut self, proposal: &ProposalId, status: ProposalStatus) {
        if let Some(summary) = self.proposals.get_mut(proposal)
            && summary.status == ProposalStatus::Open
        {
            summary.status = status;
        }
    }

    fn set_wish_status(&mut self, wish: &WishId, status: WishStatus) {
        if let Some(summary) = self.wishes.get_mut(wish)
            && matches!(summary.status, WishStatus::Waiting | WishStatus::PendingConfirmation)
        {
            summary.status = status;
        }
    }

    fn apply_wish(&mut self, event: WishEvent) {
        match event {
            WishEvent::Registered(registered) => {
                self.wishes.insert(
                    registered.wish,
                    WishSummary {
                        wish: registered.wish,
                        status: if registered.waits_at_once() {
                            WishStatus::Waiting
                        } else {
                            WishStatus::PendingConfirmation
                        },
                        confirmed: registered.waits_at_once(),
                    },
                );
                self.issue(LinkSubject::Wish(registered.wish), &registered.links);
            }
            WishEvent::Confirmed(confirmed) => {
                if let Some(summary) = self.wishes.get_mut(&confirmed.wish)
                    && summary.status == WishStatus::PendingConfirmation
                {
                    summary.status = WishStatus::Waiting;
                    summary.confirmed = true;
                }
            }
            WishEvent::ProposalMade(made) => {
                let subject = LinkSubject::Proposal {
                    wish: made.wish,
                    proposal: made.proposal,
                };
                self.issue(subject, &made.links);
                self.proposals.insert(
                    made.proposal,
                    ProposalSummary {
                        proposal: made.proposal,
                        wish: made.wish,
                        office: made.office,
                        start: made.start,
                        end: made.end,
                        expires_at: made.expires_at,
                        status: ProposalStatus::Open,
                    },
                );
            }
            WishEvent::ProposalAccepted(accepted) => {
                self.set_proposal_status(&accepted.proposal, ProposalStatus::Accepted(accepted.booking));
                self.set_wish_status(
                    &accepted.wish,
                    WishStatus::Fulfilled {
                        proposal: accepted.proposal,
                        booking: accepted.booking,
                    },
                );
                let booking = BookingSummary {
                    booking: accepted.booking,
                    office: accepted.office,
                    start: accepted.start,
                    end: accepted.end,
                    status: BookingStatus::Confirmed(accepted.number),
                    confirm_by: accepted.start,
                };
                self.bookings.insert(accepted.booking, booking);
                self.issue(LinkSubject::Booking(accepted.booking), &accepted.links);
            }
            WishEvent::ProposalDeclined(closed) => self.set_proposal_status(&closed.proposal, ProposalStatus::Declined),
            WishEvent::ProposalExpired(closed) => self.set_proposal_status(&closed.proposal, ProposalStatus::Expired),
            WishEvent::ProposalWithdrawn(closed) => {
                self.set_proposal_status(&closed.proposal, ProposalStatus::Withdrawn)
            }
            WishEvent::Ended(ended) => {
                if let Some(proposal) = &ended.proposal {
                    self.set_proposal_status(proposal, ProposalStatus::Withdrawn);
                }
                self.set_wish_status(&ended.wish, WishStatus::Ended(ended.reason));
            }
        }
    }

    fn set_status(&mut self, booking: &BookingId, status: BookingStatus) {
        if let Some(summary) = self.bookings.get_mut(booking) {
            summary.status = status;
        }
    }
}

impl Projection for LinksView {
    fn apply(&mut self, event: &LogEvent) {
        let event_type = event.event.event_type.as_str();
        if event_type == "citizen.overview_requested" {
            match OverviewEvent::from_stored_json(event_type, event.event.data.as_str()) {
                Ok(OverviewEvent::Requested(requested)) => {
                    self.overviews.insert(
                        requested.token_hash,
                        OverviewLink {
                            request: requested.request,
                            envelope: requested.envelope,
                            expires_at: requested.expires_at,
                        },
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(position = event.position, event_type, %error, "overview event does not decode; skipped")
                }
            }
            return;
        }
        if WishEvent::EVENT_TYPES.contains(&event_type) {
            match WishEvent::from_stored_json(event_type, event.event.data.as_str()) {
                Ok(wish_event) => self.apply_wish(wish_event),
                Err(error) => {
                    tracing::error!(position = event.position, event_type, %error, "wish event does not decode; skipped")
                }
            }
            return;
        }
        if !BookingEvent::EVENT_TYPES.contains(&event_type) {
            return;
        }
        let Ok(booking_event) = BookingEvent::from_stored_json(event_type, event.event.data.as_str()) else {
            tracing::error!(
                position = event.position,
                event_type,
                "booking event does not decode; skipped"
            );
            return;
        };
        match booking_event {
            BookingEvent::Requested(requested) => {
                let summary = BookingSummary {
                    booking: requested.booking,
                    office: requested.office,
                    start: requested.start,
                    end: requested.end,
                    status: BookingStatus::PendingConfirmation,
                    confirm_by: requested.confirm_by,
                };
                self.bookings.insert(requested.booking, summary);
                self.issue(LinkSubject::Booking(requested.booking), &requested.links);
            }
            // No links, but a state the floor and the audit ask about.
            BookingEvent::TicketIssued(ticket) => {
                let summary = BookingSummary {
                    booking: ticket.booking,
                    office: ticket.office,
                    start: ticket.start,
                    end: ticket.end,
                    status: BookingStatus::Confirmed(ticket.number),
                    confirm_by: ticket.start,
                };
                self.bookings.insert(ticket.booking, summary);
            }
            BookingEvent::Confirmed(confirmed) => {
                self.set_status(&confirmed.booking, BookingStatus::Confirmed(confirmed.number));
                self.issue(LinkSubject::Booking(confirmed.booking), &confirmed.links);
            }
            BookingEvent::Cancelled(cancelled) => self.set_status(&cancelled.booking, BookingStatus::Cancelled),
            BookingEvent::Lapsed(lapsed) => self.set_status(&lapsed.booking, BookingStatus::Lapsed),
            // Still confirmed: its links and status stay as they are.
            BookingEvent::Released(_) => {}
        }
    }
}
