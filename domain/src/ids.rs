//! Identifiers: slugs for catalogue entries chosen by staff, ULIDs for everything else.

use std::fmt;

use thiserror::Error;
use ulid::Ulid;

const MAX_SLUG_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SlugError {
    #[error("an id must not be empty")]
    Empty,
    #[error("an id has at most {MAX_SLUG_CHARS} characters, this one has {0}")]
    TooLong(usize),
    #[error("an id may contain only a-z, 0-9 and '-', found {0:?}")]
    InvalidCharacter(char),
}

fn parse_slug(input: &str) -> Result<String, SlugError> {
    if input.is_empty() {
        return Err(SlugError::Empty);
    }
    if let Some(c) = input
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(SlugError::InvalidCharacter(c));
    }
    if input.len() > MAX_SLUG_CHARS {
        return Err(SlugError::TooLong(input.len()));
    }
    Ok(input.to_owned())
}

validated_string! {
    /// An office, e.g. `bss-walsum`: a slug `[a-z0-9-]{1,64}` chosen by staff.
    pub struct OfficeId, error = SlugError, validate = parse_slug;
}

validated_string! {
    /// A service, e.g. `personalausweis`: a slug `[a-z0-9-]{1,64}` chosen by staff.
    pub struct ServiceId, error = SlugError, validate = parse_slug;
}

/// A string that is not a ULID where an id of kind `kind` was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("invalid {kind}: expected a 26-character ULID ({reason})")]
pub struct UlidIdError {
    pub kind: &'static str,
    pub reason: ulid::DecodeError,
}

/// A ULID-backed id type; distinct types keep a booking id from being passed as a wish id.
macro_rules! ulid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Ulid);

        impl $name {
            pub const fn from_ulid(ulid: Ulid) -> Self {
                Self(ulid)
            }

            pub const fn as_ulid(&self) -> Ulid {
                self.0
            }

            pub fn parse(input: &str) -> Result<Self, UlidIdError> {
                Ulid::from_string(input)
                    .map(Self)
                    .map_err(|reason| UlidIdError { kind: $kind, reason })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        string_conversions!($name, UlidIdError);
    };
}

ulid_id!(
    /// One event in the log; also the message id on the bus, so duplicates are dropped.
    EventId, "event id"
);
ulid_id!(
    /// A booking of one or more services at one office.
    BookingId, "booking id"
);
ulid_id!(
    /// A waitlist wish (the Terminagent).
    WishId, "wish id"
);
ulid_id!(
    /// A proposal of held capacity to a wish.
    ProposalId, "proposal id"
);
ulid_id!(
    /// A citizen's encrypted personal-data envelope; events carry only this id.
    EnvelopeId, "envelope id"
);
ulid_id!(
    /// Ties together every event that stems from one external request.
    CorrelationId, "correlation id"
);
ulid_id!(
    /// A staff member's account (admin, lead, clerk, auditor).
    StaffId, "staff id"
);
ulid_id!(
    /// A device of an office: a kiosk or a call display.
    DeviceId, "device id"
);
ulid_id!(
    /// A citizen's request for the link to "Meine Termine" (their open bookings and wishes).
    OverviewRequestId, "overview request id"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slug_accepts_lowercase_digits_and_hyphen() {
        let office = OfficeId::parse("bss-walsum-2").unwrap();
        assert_eq!(office.as_str(), "bss-walsum-2");
        assert_eq!(office.to_string(), "bss-walsum-2");
        assert!(ServiceId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn slug_errors_say_what_is_wrong() {
        assert_eq!(OfficeId::parse(""), Err(SlugError::Empty));
        assert_eq!(OfficeId::parse(&"a".repeat(65)), Err(SlugError::TooLong(65)));
        assert_eq!(OfficeId::parse("Walsum"), Err(SlugError::InvalidCharacter('W')));
        assert_eq!(ServiceId::parse("pass port"), Err(SlugError::InvalidCharacter(' ')));
        assert_eq!(ServiceId::parse("ausweis/neu"), Err(SlugError::InvalidCharacter('/')));
    }

    #[test]
    fn slug_serde_validates() {
        assert!(serde_json::from_str::<OfficeId>("\"UPPER\"").is_err());
        let office: OfficeId = serde_json::from_str("\"mitte\"").unwrap();
        assert_eq!(serde_json::to_value(&office).unwrap(), "mitte");
    }

    #[test]
    fn ulid_id_displays_parses_and_serializes_as_26_chars() {
        let ulid = Ulid::from_parts(1_700_000_000_000, 42);
        let booking = BookingId::from_ulid(ulid);
        let text = booking.to_string();
        assert_eq!(text.len(), 26);
        assert_eq!(text, ulid.to_string());
        assert_eq!(text.parse::<BookingId>().unwrap(), booking);
        assert_eq!(booking.as_ulid(), ulid);
        let json = serde_json::to_string(&booking).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<BookingId>(&json).unwrap(), booking);
    }

    #[test]
    fn ulid_id_error_names_the_kind() {
        let err = WishId::parse("not-a-ulid").unwrap_err();
        assert_eq!(err.kind, "wish id");
        assert!(err.to_string().starts_with("invalid wish id"));
        assert!(serde_json::from_str::<EnvelopeId>("\"x\"").is_err());
    }

    #[test]
    fn ulid_ids_order_by_time() {
        let earlier = EventId::from_ulid(Ulid::from_parts(1, u128::MAX));
        let later = EventId::from_ulid(Ulid::from_parts(2, 0));
        assert!(earlier < later);
    }

    proptest! {
        #[test]
        fn slug_parse_display_round_trip(input in "[a-z0-9-]{1,64}") {
            let id = ServiceId::parse(&input).unwrap();
            let shown = id.to_string();
            prop_assert_eq!(&shown, &input);
            prop_assert_eq!(ServiceId::parse(&shown).unwrap(), id);
        }

        #[test]
        fn slug_rejects_any_foreign_character(
            prefix in "[a-z0-9-]{0,10}",
            bad in "[^a-z0-9-]",
            suffix in "[a-z0-9-]{0,10}",
        ) {
            let input = format!("{prefix}{bad}{suffix}");
            prop_assert!(OfficeId::parse(&input).is_err());
        }

        #[test]
        fn ulid_id_round_trip(value in any::<u128>()) {
            let id = ProposalId::from_ulid(Ulid(value));
            prop_assert_eq!(id.to_string().parse::<ProposalId>().unwrap(), id);
        }
    }
}
