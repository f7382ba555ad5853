//! The log's hash chain: every event's hash covers its position, its stored
//! fields and the previous event's hash, so rewriting, removing or reordering
//! anything before a published head hash changes that hash.
//!
//! This module is the one definition of the bytes hashed; both backends and
//! `terminagent audit verify` call [`hash_event`], and a log moved from one
//! backend to the other keeps its head hash. The encoding (ARCHITECTURE.md,
//! "The hash chain"), all integers big-endian:
//!
//! ```text
//! SHA-256( previous hash      32 bytes (genesis: 32 zero bytes)
//!        | position           u64
//!        | event id           16 bytes (the ULID)
//!        | type               u32 length | UTF-8
//!        | schema version     u32 (as stored, before upcasting)
//!        | streams            u32 count | per stream (sorted bytewise) u32 length | UTF-8
//!        | recorded at        i64 microseconds since 1970-01-01T00:00:00Z
//!        | correlation id     0x00 | 0x01 16 bytes
//!        | causation id       0x00 | 0x01 16 bytes
//!        | actor              0x00 | 0x01 u32 length | UTF-8
//!        | data               u32 length | the stored JSON text, byte for byte )
//! ```
//!
//! Nothing of the personal-data vault is hashed: events hold only sealed
//! envelopes, and erasing a citizen's key changes no event.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use ulid::Ulid;

use crate::model::{NewEvent, StoredEvent};

/// The SHA-256 hash of one event in the chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EventHash(pub [u8; 32]);

impl EventHash {
    /// The "previous hash" of the first event.
    pub const GENESIS: EventHash = EventHash([0; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// From a stored column; `None` unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<EventHash> {
        bytes.try_into().ok().map(EventHash)
    }
}

impl fmt::Display for EventHash {
    /// Lower-case hex, 64 characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventHash({self})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a hash is 64 hex digits")]
pub struct NotAHash;

impl FromStr for EventHash {
    type Err = NotAHash;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return Err(NotAHash);
        }
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8).ok_or(NotAHash);
        let mut hash = [0; 32];
        for (byte, pair) in hash.iter_mut().zip(text.chunks_exact(2)) {
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Ok(EventHash(hash))
    }
}

/// The last hashed event of a log: its position and hash (position 0 and
/// [`EventHash::GENESIS`] for an empty log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    pub position: u64,
    pub hash: EventHash,
}

impl ChainTip {
    pub const EMPTY: ChainTip = ChainTip {
        position: 0,
        hash: EventHash::GENESIS,
    };
}

impl fmt::Display for ChainTip {
    /// `POS:HEXHASH`, the form `audit head` prints and `--anchor` takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.position, self.hash)
    }
}

impl FromStr for ChainTip {
    type Err = NotAHash;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (position, hash) = text.split_once(':').ok_or(NotAHash)?;
        Ok(ChainTip {
            position: position.parse().map_err(|_| NotAHash)?,
            hash: hash.parse()?,
        })
    }
}

/// The fields of an event the chain covers, as the log stores them.
#[derive(Debug, Clone, Copy)]
pub struct ChainFields<'a> {
    pub event_id: Ulid,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub streams: &'a [String],
    pub recorded_at: DateTime<Utc>,
    pub correlation_id: Option<Ulid>,
    pub causation_id: Option<Ulid>,
    pub actor: Option<&'a str>,
    /// The JSON text exactly as stored.
    pub data: &'a str,
}

impl<'a> ChainFields<'a> {
    /// An event read back from the log (its data and schema version as
    /// stored, i.e. not upcast).
    pub fn of_stored(event: &'a StoredEvent) -> Self {
        ChainFields {
            event_id: event.event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            streams: &event.streams,
            recorded_at: event.recorded_at,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            actor: event.actor.as_deref(),
            data: event.data.as_str(),
        }
    }

    /// An event about to be stored, with `data` the text the store writes.
    pub(crate) fn of_new(event: &'a NewEvent, data: &'a str) -> Self {
        ChainFields {
            event_id: event.event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            streams: &event.streams,
            recorded_at: event.recorded_at,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            actor: event.actor.as_deref(),
            data,
        }
    }
}

/// The hash of the event at `position` whose predecessor hashed to `previous`.
pub fn hash_event(previous: &EventHash, position: u64, event: &ChainFields<'_>) -> EventHash {
    let mut hasher = Sha256::new();
    hasher.update(previous.0);
    hasher.update(position.to_be_bytes());
    hasher.update(u128::from(event.event_id).to_be_bytes());
    text(&mut hasher, event.event_type);
    hasher.update(event.schema_version.to_be_bytes());
    hasher.update(length(event.streams.len()));
    if event.streams.is_sorted() {
        event.streams.iter().for_each(|stream| text(&mut hasher, stream));
    } else {
        let mut sorted: Vec<&String> = event.streams.iter().collect();
        sorted.sort_unstable();
        sorted.into_iter().for_each(|stream| text(&mut hasher, stream));
    }
    // Both backends keep microseconds (and truncate finer times alike).
    hasher.update(event.recorded_at.timestamp_micros().to_be_bytes());
    optional_id(&mut hasher, event.correlation_id);
    optional_id(&mut hasher, event.causation_id);
    match event.actor {
        None => hasher.update([0]),
        Some(actor) => {
            hasher.update([1]);
            text(&mut hasher, actor);
        }
    }
    text(&mut hasher, event.data);
    EventHash(hasher.finalize().into())
}

fn length(len: usize) -> [u8; 4] {
    u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()
}

fn text(hasher: &mut Sha256, text: &str) {
    hasher.update(length(text.len()));
    hasher.update(text.as_bytes());
}

fn optional_id(hasher: &mut Sha256, id: Option<Ulid>) {
    match id {
        None => hasher.update([0]),
        Some(id) => {
            hasher.update([1]);
            hasher.update(u128::from(id).to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(data: &str, actor: Option<&str>) -> StoredEvent {
        StoredEvent {
            event_id: Ulid::from(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef_u128),
            event_type: "booking.requested".into(),
            schema_version: 1,
            streams: vec!["booking:1".into(), "unit:a".into()],
            recorded_at: DateTime::from_timestamp_micros(1_765_000_000_123_456).unwrap(),
            correlation_id: None,
            causation_id: None,
            actor: actor.map(str::to_owned),
            data: crate::model::EventData::from_stored(data.to_owned()),
        }
    }

    #[test]
    fn hashes_print_and_parse_as_hex() {
        let hash = hash_event(&EventHash::GENESIS, 1, &ChainFields::of_stored(&stored("{}", None)));
        let text = hash.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<EventHash>(), Ok(hash));
        let tip: ChainTip = format!("7:{text}").parse().unwrap();
        assert_eq!(tip, ChainTip { position: 7, hash });
        assert_eq!(tip.to_string(), format!("7:{text}"));
        assert_eq!("7:abc".parse::<ChainTip>(), Err(NotAHash));
        assert_eq!(format!("x:{text}").parse::<ChainTip>(), Err(NotAHash));
        assert_eq!("zz".repeat(32).parse::<EventHash>(), Err(NotAHash));
    }

    #[test]
    fn every_field_and_the_predecessor_change_the_hash() {
        let base = stored(r#"{"a":1}"#, Some("citizen"));
        let hash = |event: &StoredEvent, previous: &EventHash, position| {
            hash_event(previous, position, &ChainFields::of_stored(event))
        };
        let original = hash(&base, &EventHash::GENESIS, 1);
        assert_eq!(original, hash(&base.clone(), &EventHash::GENESIS, 1), "deterministic");
        assert_ne!(original, hash(&base, &EventHash([1; 32]), 1));
        assert_ne!(original, hash(&base, &EventHash::GENESIS, 2));
        let changes: Vec<fn(&mut StoredEvent)> = vec![
            |e| e.event_type.push('x'),
            |e| e.schema_version = 2,
            |e| e.streams.pop().map(drop).unwrap_or_default(),
            |e| e.recorded_at += chrono::Duration::microseconds(1),
            |e| e.correlation_id = Some(Ulid::nil()),
            |e| e.causation_id = Some(Ulid::nil()),
            |e| e.actor = None,
            |e| e.data = crate::model::EventData::from_stored(r#"{"a": 1}"#.into()),
            |e| e.event_id = Ulid::nil(),
        ];
        for change in changes {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(original, hash(&changed, &EventHash::GENESIS, 1), "{changed:?}");
        }
    }

    #[test]
    fn lengths_keep_neighbouring_fields_apart() {
        let mut one = stored("{}", Some("ab"));
        one.streams = vec!["ab".into(), "c".into()];
        let mut other = one.clone();
        other.streams = vec!["a".into(), "bc".into()];
        let hash = |event: &StoredEvent| hash_event(&EventHash::GENESIS, 1, &ChainFields::of_stored(event));
        assert_ne!(hash(&one), hash(&other));
    }

    #[test]
    fn stream_order_and_sub_microseconds_do_not_matter() {
        let base = stored("{}", None);
        let mut reversed = base.clone();
        reversed.streams.reverse();
        reversed.recorded_at += chrono::Duration::nanoseconds(999);
        let hash = |event: &StoredEvent| hash_event(&EventHash::GENESIS, 1, &ChainFields::of_stored(event));
        assert_eq!(hash(&base), hash(&reversed));
    }
}
