//! The event contract: what an event must say about itself to be stored, and the
//! envelope the log wraps around it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use thiserror::Error;

use crate::catalogue::UnitRef;
use crate::ids::{BookingId, CorrelationId, EnvelopeId, EventId, OfficeId, ServiceId, WishId};

const MAX_STREAM_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StreamNameError {
    #[error("a stream name has 1 to {MAX_STREAM_CHARS} characters, this one has {0}")]
    Length(usize),
    #[error("a stream name may contain only a-z, 0-9, ':', '_' and '-', found {0:?}")]
    InvalidCharacter(char),
}

fn parse_stream_name(input: &str) -> Result<String, StreamNameError> {
    if let Some(c) = input
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || ":_-".contains(c)))
    {
        return Err(StreamNameError::InvalidCharacter(c));
    }
    if !(1..=MAX_STREAM_CHARS).contains(&input.len()) {
        return Err(StreamNameError::Length(input.len()));
    }
    Ok(input.to_owned())
}

validated_string! {
    /// One stream (tag) of the log. An event is indexed under each of its streams, and
    /// a decision conditions its append on the versions of the streams it read, so
    /// only commands touching the same streams contend.
    pub struct StreamName, error = StreamNameError, validate = parse_stream_name;
}

impl StreamName {
    /// Slugs, ISO dates and digits only use the allowed characters, so the
    /// constructors below cannot produce an invalid name.
    fn from_parts(name: String) -> Self {
        debug_assert_eq!(parse_stream_name(&name).as_ref(), Ok(&name));
        Self(name)
    }

    /// `office:{office}`: an office's catalogue entry.
    pub fn office(office: &OfficeId) -> Self {
        Self::from_parts(format!("office:{office}"))
    }

    /// `service:{service}`: a service's catalogue entry.
    pub fn service(service: &ServiceId) -> Self {
        Self::from_parts(format!("service:{service}"))
    }

    /// `office-day:{office}:{YYYY-MM-DD}`: the capacity of one office on one date.
    pub fn office_day(office: &OfficeId, date: NaiveDate) -> Self {
        Self::from_parts(format!("office-day:{office}:{}", date.format("%Y-%m-%d")))
    }

    /// `unit:{office}:{YYYY-MM-DD}:{lane}:{HHMM}`: one capacity unit, so that
    /// holds on different units never contend.
    pub fn unit(unit: &UnitRef) -> Self {
        Self::from_parts(format!(
            "unit:{}:{}:{}:{:02}{:02}",
            unit.office,
            unit.date,
            unit.lane,
            unit.start.hour(),
            unit.start.minute()
        ))
    }

    /// `booking:{booking}` (ULID in lowercase): one booking's life.
    pub fn booking(booking: &BookingId) -> Self {
        Self::from_parts(format!("booking:{}", booking.to_string().to_ascii_lowercase()))
    }

    /// `wish:{wish}` (ULID in lowercase): one wish's life and its proposals.
    pub fn wish(wish: &WishId) -> Self {
        Self::from_parts(format!("wish:{}", wish.to_string().to_ascii_lowercase()))
    }

    /// `citizen:{envelope}` (ULID in lowercase): a citizen's open bookings and wishes.
    pub fn citizen(envelope: &EnvelopeId) -> Self {
        Self::from_parts(format!("citizen:{}", envelope.to_string().to_ascii_lowercase()))
    }

    /// `numbers:{office}:{YYYY-MM-DD}`: the waiting numbers handed out on one office
    /// day, so that only confirmations of the same office day contend.
    pub fn waiting_numbers(office: &OfficeId, date: NaiveDate) -> Self {
        Self::from_parts(format!("numbers:{office}:{}", date.format("%Y-%m-%d")))
    }
}

#[derive(Debug, Error)]
pub enum EventDecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("stored data does not fit event type {event_type}: {error}")]
    InvalidData {
        event_type: String,
        error: serde_json::Error,
    },
}

/// An event type family (usually one enum) that can be stored in the log.
///
/// The log keeps the type name in its own column and the payload without a type tag.
/// The provided `to_data`/`from_stored` rely on the enum being serialized adjacently
/// tagged: `#[serde(tag = "type", content = "data")]` with each variant renamed to its
/// event type.
pub trait DomainEvent: Serialize + DeserializeOwned {
    /// Every type name `from_stored` accepts, so unknown types are told apart from bad data.
    const EVENT_TYPES: &'static [&'static str];

    /// Dotted name such as `office.registered`; stable once stored.
    fn event_type(&self) -> &'static str;

    /// Version of this event type's payload shape, bumped on incompatible change.
    fn schema_version(&self) -> u32;

    /// The streams this event is indexed under.
    fn streams(&self) -> Vec<StreamName>;

    /// The payload as stored, without the type tag.
    fn to_data(&self) -> Value {
        // Derived `Serialize` on plain data cannot fail when the target is a `Value`.
        match serde_json::to_value(self).expect("an event serializes to JSON") {
            Value::Object(mut tagged) => tagged.remove("data").unwrap_or(Value::Null),
            other => other,
        }
    }

    /// Like [`DomainEvent::from_stored`], from the stored JSON text: parsed
    /// once, straight into the event.
    fn from_stored_json(event_type: &str, data: &str) -> Result<Self, EventDecodeError> {
        if !Self::EVENT_TYPES.contains(&event_type) {
            return Err(EventDecodeError::UnknownType(event_type.to_owned()));
        }
        let invalid = |error| EventDecodeError::InvalidData {
            event_type: event_type.to_owned(),
            error,
        };
        let tagged = format!(
            r#"{{"type":{},"data":{data}}}"#,
            serde_json::to_string(event_type).map_err(invalid)?
        );
        serde_json::from_str(&tagged).map_err(invalid)
    }

    fn from_stored(event_type: &str, data: Value) -> Result<Self, EventDecodeError> {
        if !Self::EVENT_TYPES.contains(&event_type) {
            return Err(EventDecodeError::UnknownType(event_type.to_owned()));
        }
        serde_json::from_value(serde_json::json!({ "type": event_type, "data": data })).map_err(|error| {
            EventDecodeError::InvalidData {
                event_type: event_type.to_owned(),
                error,
            }
        })
    }
}

/// An event with the metadata the log records around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventEnvelope<E> {
    pub event_id: EventId,
    pub recorded_at: DateTime<Utc>,
    /// The request this event ultimately stems from.
    pub correlation_id: CorrelationId,
    /// The event that directly caused this one, if any (e.g. a proposal's wish).
    pub causation_id: Option<EventId>,
    pub payload: E,
}

impl<E> EventEnvelope<E> {
    pub fn new(
        event_id: EventId,
        recorded_at: DateTime<Utc>,
        correlation_id: CorrelationId,
        causation_id: Option<EventId>,
        payload: E,
    ) -> Self {
        Self {
            event_id,
            recorded_at,
            correlation_id,
            causation_id,
            payload,
        }
    }

    /// Wraps an event caused by this one: same correlation, caused by this event.
    pub fn caused<F>(&self, event_id: EventId, recorded_at: DateTime<Utc>, payload: F) -> EventEnvelope<F> {
        EventEnvelope::new(event_id, recorded_at, self.correlation_id, Some(self.event_id), payload)
    }
}

impl<E: DomainEvent> EventEnvelope<E> {
    pub fn event_type(&self) -> &'static str {
        self.payload.event_type()
    }

    pub fn schema_version(&self) -> u32 {
        self.payload.schema_version()
    }

    pub fn streams(&self) -> Vec<StreamName> {
        self.payload.streams()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{LocalDate, LocalTime};
    use serde_json::json;
    use ulid::Ulid;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", content = "data")]
    enum DoorEvent {
        #[serde(rename = "door.opened")]
        Opened { door: u32 },
        #[serde(rename = "door.painted")]
        Painted { door: u32, colour: String },
    }

    impl DomainEvent for DoorEvent {
        const EVENT_TYPES: &'static [&'static str] = &["door.opened", "door.painted"];

        fn event_type(&self) -> &'static str {
            match self {
                Self::Opened { .. } => "door.opened",
                Self::Painted { .. } => "door.painted",
            }
        }

        fn schema_version(&self) -> u32 {
            match self {
                Self::Opened { .. } => 1,
                Self::Painted { .. } => 2,
            }
        }

        fn streams(&self) -> Vec<StreamName> {
            let (Self::Opened { door } | Self::Painted { door, .. }) = self;
            vec![StreamName::parse(&format!("door:{door}")).unwrap()]
        }
    }

    fn office() -> OfficeId {
        OfficeId::parse("bss-mitte").unwrap()
    }

    #[test]
    fn stream_name_constructors() {
        let date = LocalDate::parse("2026-12-01").unwrap();
        assert_eq!(StreamName::office(&office()).as_str(), "office:bss-mitte");
        assert_eq!(
            StreamName::service(&ServiceId::parse("reisepass").unwrap()).as_str(),
            "service:reisepass"
        );
        assert_eq!(
            StreamName::office_day(&office(), date.into()).as_str(),
            "office-day:bss-mitte:2026-12-01"
        );
        let unit = UnitRef {
            office: office(),
            date,
            lane: 6,
            start: LocalTime::parse("08:12").unwrap(),
        };
        assert_eq!(StreamName::unit(&unit).as_str(), "unit:bss-mitte:2026-12-01:6:0812");
        let ulid: Ulid = "01JDQ7ZV3C9M8N4P6R2T5W7XYZ".parse().unwrap();
        assert_eq!(
            StreamName::booking(&BookingId::from_ulid(ulid)).as_str(),
            "booking:01jdq7zv3c9m8n4p6r2t5w7xyz"
        );
        assert_eq!(
            StreamName::wish(&WishId::from_ulid(ulid)).as_str(),
            "wish:01jdq7zv3c9m8n4p6r2t5w7xyz"
        );
        assert_eq!(
            StreamName::citizen(&EnvelopeId::from_ulid(ulid)).as_str(),
            "citizen:01jdq7zv3c9m8n4p6r2t5w7xyz"
        );
        assert_eq!(
            StreamName::waiting_numbers(&office(), date.into()).as_str(),
            "numbers:bss-mitte:2026-12-01"
        );
    }

    #[test]
    fn stream_name_validation() {
        assert!(StreamName::parse("unit:a_b-c:1").is_ok());
        assert_eq!(StreamName::parse(""), Err(StreamNameError::Length(0)));
        assert_eq!(StreamName::parse(&"x".repeat(201)), Err(StreamNameError::Length(201)));
        assert_eq!(
            StreamName::parse("Office:x"),
            Err(StreamNameError::InvalidCharacter('O'))
        );
        assert_eq!(
            StreamName::parse("office x"),
            Err(StreamNameError::InvalidCharacter(' '))
        );
    }

    #[test]
    fn stored_data_has_no_type_tag_and_decodes_back() {
        let event = DoorEvent::Painted {
            door: 7,
            colour: "green".into(),
        };
        let data = event.to_data();
        assert_eq!(data, json!({"door": 7, "colour": "green"}));
        assert_eq!(DoorEvent::from_stored("door.painted", data.clone()).unwrap(), event);
        assert_eq!(
            DoorEvent::from_stored_json("door.painted", &data.to_string()).unwrap(),
            event
        );
    }

    #[test]
    fn decoding_from_text_tells_unknown_types_from_bad_data() {
        assert!(matches!(
            DoorEvent::from_stored_json("door.closed", r#"{"door": 1}"#),
            Err(EventDecodeError::UnknownType(t)) if t == "door.closed"
        ));
        assert!(matches!(
            DoorEvent::from_stored_json("door.opened", r#"{"door": "one"}"#),
            Err(EventDecodeError::InvalidData { event_type, .. }) if event_type == "door.opened"
        ));
        assert!(DoorEvent::from_stored_json("door.opened", "not json").is_err());
    }

    #[test]
    fn decoding_tells_unknown_types_from_bad_data() {
        assert!(matches!(
            DoorEvent::from_stored("door.closed", json!({"door": 1})),
            Err(EventDecodeError::UnknownType(t)) if t == "door.closed"
        ));
        let err = DoorEvent::from_stored("door.opened", json!({"door": "one"})).unwrap_err();
        assert!(matches!(&err, EventDecodeError::InvalidData { event_type, .. } if event_type == "door.opened"));
        assert!(
            err.to_string()
                .starts_with("stored data does not fit event type door.opened")
        );
    }

    #[test]
    fn envelope_delegates_to_payload_and_chains_causation() {
        let at: DateTime<Utc> = "2026-12-01T08:00:00Z".parse().unwrap();
        let first = EventEnvelope::new(
            EventId::from_ulid(Ulid::from_parts(1, 1)),
            at,
            CorrelationId::from_ulid(Ulid::from_parts(1, 2)),
            None,
            DoorEvent::Opened { door: 3 },
        );
        assert_eq!(first.event_type(), "door.opened");
        assert_eq!(first.schema_version(), 1);
        assert_eq!(first.streams(), [StreamName::parse("door:3").unwrap()]);

        let second_id = EventId::from_ulid(Ulid::from_parts(2, 1));
        let second = first.caused(
            second_id,
            at,
            DoorEvent::Painted {
                door: 3,
                colour: "red".into(),
            },
        );
        assert_eq!(second.event_id, second_id);
        assert_eq!(second.correlation_id, first.correlation_id);
        assert_eq!(second.causation_id, Some(first.event_id));
        assert_eq!(second.schema_version(), 2);
    }
}
