//! The pure domain core of Terminagent, an event-sourced appointment backend for
//! citizen offices: value types that are parsed once and valid thereafter, the
//! events and their storage contract, and deciders (`decide`/`evolve`) that turn a
//! command and the state folded from past events into new events. Nothing here
//! does I/O, awaits, reads a clock or draws random numbers: the current time and
//! new ids are arguments, so every decision is a deterministic function of its
//! inputs and replaying the log reproduces it.

#[macro_use]
mod macros;

pub mod actor;
pub mod booking;
pub mod catalogue;
pub mod citizen;
pub mod closure;
pub mod day_list;
pub mod decider;
pub mod erasure;
pub mod event;
pub mod floor;
pub mod holidays;
pub mod ids;
pub mod matching;
pub mod opening_hours;
pub mod overview;
pub mod reminder;
pub mod staff;
pub mod statistics;
pub mod testing;
mod text;
pub mod ticket;
pub mod time;
pub mod wait_estimate;
mod week;
pub mod windows;
pub mod wish;

pub use actor::{Actor, ActorView, Cause, InvalidActor, SystemProcess};
pub use booking::{
    Booking, BookingCancelled, BookingCommand, BookingConfirmed, BookingDecider, BookingError, BookingEvent,
    BookingInput, BookingLapsed, BookingPolicy, BookingReleased, BookingRequestDecider, BookingRequestError,
    BookingRequestState, BookingRequested, BookingState, BookingStatus, CancelBooking, ChosenLane, ConfirmBooking,
    FreeSlot, HoldChange, InvalidWaitingNumber, IssuedLink, LapseBooking, LinkAction, ReleaseMissedVisit,
    RequestBooking, SealedPersonalData, SlotAsked, TicketIssued, UnitHolder, WaitingNumber, candidate_units,
    free_slots,
};
pub use catalogue::{
    CapacityDecider, CapacityError, CapacityPublished, CapacityWithdrawn, CatalogueEvent, CatalogueName, ClosedReason,
    MAX_SERVICE_DESCRIPTION_CHARS, OfficeAddress, OfficeDayCapacity, OfficeDecider, OfficeDetails, PublishCapacity,
    RegisterOffice, RegisterService, RegistrationOutcome, ServiceDecider, ServiceDescription, ServiceDetails,
    ServiceError, UnitRef, UnitSpan,
};
pub use citizen::{CitizenName, EmailAddress, EmailAddressError, PersonalData, PhoneNumber, PhoneNumberError};
pub use closure::{CloseOffice, ClosureDecider, ClosureError, ClosureReason, ClosureState};
pub use day_list::{DayListEvent, DayListRead, DayListReadDecider};
pub use decider::Decider;
pub use erasure::{
    ERASURE_CANCEL_REASON, EraseCitizen, ErasureDecider, ErasureError, ErasureEvent, ErasureInput, ErasureReason,
    ErasureState, PersonalDataErased,
};
pub use event::{DomainEvent, EventDecodeError, EventEnvelope, StreamName, StreamNameError};
pub use floor::{
    BookingFacts, Call, CallNext, CheckIn, CloseCounter, Counter, CounterClosed, CounterId, CounterOpened,
    CounterPaused, CounterStatus, FloorCommand, FloorDay, FloorDecider, FloorError, FloorEvent, FloorPolicy,
    InvalidCounterId, MarkNoShow, MissedReason, MoveVisit, NotCheckable, OpenCounter, PauseCounter, PauseReason,
    UnknownVisitAction, Visit, VisitAction, VisitCalled, VisitCheckedIn, VisitFinished, VisitMissed, VisitParked,
    VisitRecalled, VisitReturned, VisitStarted, VisitStatus,
};
pub use holidays::{Holiday, HolidayRegion, UnknownHolidayRegion, easter_sunday};
pub use ids::{
    BookingId, CorrelationId, DeviceId, EnvelopeId, EventId, OfficeId, OverviewRequestId, ProposalId, ServiceId,
    SlugError, StaffId, UlidIdError, WishId,
};
pub use opening_hours::{
    ClosedDays, MAX_CLOSED_DAYS, MAX_INTERVALS_PER_DAY, OpeningHours, OpeningHoursError, OpeningInterval,
    TooManyClosedDays,
};
pub use overview::{
    ConfirmationResendDecider, ConfirmationResent, MAX_CONFIRMATION_RESENDS, OVERVIEW_LINK_ACTION, OVERVIEW_LINK_TTL,
    OpenBooking, OpenWish, OverviewError, OverviewEvent, OverviewInput, OverviewRequestDecider, OverviewRequested,
    RequestOverview, ResendConfirmation, ResendError, open_items,
};
pub use reminder::{
    NotDue, RemindBooking, ReminderDecider, ReminderDue, ReminderEvent, ReminderInput, ReminderState, reminder_instant,
};
pub use staff::{
    DeviceKind, Permission, Principal, Role, RoleGrant, StaffAccount, StaffCommand, StaffDecider, StaffDirectory,
    StaffError, StaffEvent, TokenHash,
};
pub use statistics::{
    BookingCounts, CounterTimes, DayFigures, DurationSummary, Durations, UnitCounts, WaitlistCounts, mean, percentile,
    ratio,
};
pub use text::TextError;
pub use ticket::{IssueTicket, TicketDecider, TicketError, TicketState};
pub use time::{
    InvalidLocalDate, InvalidLocalTime, LocalDate, LocalTime, LocalTimeError, OfficeTimeZone, UnknownTimeZone,
};
pub use wait_estimate::{EstimateBasis, QueuePlace, WaitEstimate, WaitQuestion, estimate_wait};
pub use week::WEEKDAYS;
pub use windows::{HourOfWeek, WeeklyWindows, WindowsError};
pub use wish::{
    AcceptProposal, ConfirmWish, DeclineProposal, EndWish, ExpireProposal, LapseWish, Proposal, ProposalAccepted,
    ProposalClosed, ProposalMade, ProposalStatus, ProposeUnits, RegisterWish, Wish, WishCommand, WishConfirmed,
    WishDecider, WishEndReason, WishEnded, WishError, WishEvent, WishPolicy, WishRegistered, WishState, WishStatus,
    proposal_units, wish_matches,
};
