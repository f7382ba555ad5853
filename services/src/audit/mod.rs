//! The audit trail for people and for other systems (API.md "Operations
//! (CLI)"), computed from the log alone:
//!
//! - [`trace`] — every event of a booking, wish, proposal, stream or office
//!   day in log order, each with a sentence (German or English, `sentences.rs`),
//!   and for every proposal why its wish was the one chosen (`why.rs`: a
//!   fold of the waitlist of its own, independent of the matching engine
//!   `domain::matching` and of `crate::waitlist`, so that the audit does not
//!   take the engine's word for what the engine did).
//! - [`verify`] — the whole log checked in one read: positions dense, the
//!   hash chain recomputed against the recorded hashes, an optional anchor
//!   (`POS:HASH`, as `terminagent audit head` prints it); further checks
//!   plug in per event ([`verify::EventCheck`]).
//! - [`export`] — the whole log (or a range of it) without personal data, as
//!   JSON lines or CSV, page by page in constant memory.
//! - [`as_of`] — one office day as the log stood at a past time or position
//!   (units, bookings, the waitlist).
//! - [`cli`] — `terminagent audit trace|export|as-of|head|verify`: the database, the exit codes.
//!
//! `GET /api/v1/audit/trace/{id}` (`http/audit.rs`) answers [`trace::Trace`]
//! as JSON, the same document as `terminagent audit trace --json`.

pub mod as_of;
pub mod cli;
mod events;
pub mod export;
pub mod index;
mod invariants;
mod sentences;
pub mod trace;
pub mod verify;
mod why;

use serde::Serialize;
use serde_json::Value;
use terminagent_domain::{Actor, ActorView};

/// The language of a trace's sentences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// German (the default: the offices' language).
    #[default]
    De,
    /// English.
    En,
}

impl Lang {
    pub fn parse(text: &str) -> Option<Lang> {
        match text {
            "de" => Some(Lang::De),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }
}

/// Replaces every sealed personal-data envelope by its id: even encrypted,
/// personal data does not leave through the audit trail (invariant 8).
pub fn redact_personal_data(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if object.contains_key("envelope_id") && object.contains_key("ciphertext") {
                object.retain(|key, _| key == "envelope_id");
                return;
            }
            object.values_mut().for_each(redact_personal_data);
        }
        Value::Array(items) => items.iter_mut().for_each(redact_personal_data),
        _ => {}
    }
}

/// What the export and the trace leave of an event's data: sealed envelopes
/// reduced to their id, and the work address and name of staff accounts
/// (`staff.registered`, `staff.changed`) left out — the account's id, which
/// every act of it carries as actor, remains.
pub fn without_personal_data(event_type: &str, data: &mut Value) {
    redact_personal_data(data);
    if matches!(event_type, "staff.registered" | "staff.changed")
        && let Value::Object(object) = data
    {
        object.remove("email");
        object.remove("name");
    }
}

/// The audit's form of a stored actor (`{"kind":"staff","id"}`); one the
/// code cannot read is shown as it is rather than hidden.
pub fn actor_view(stored: Option<&str>) -> ActorView {
    match Actor::from_log(stored) {
        Ok(actor) => ActorView::from(actor),
        Err(_) => ActorView {
            kind: "unreadable".to_owned(),
            id: stored.map(str::to_owned),
        },
    }
}

/// The compact form of a stored actor: `citizen`, `staff:{id}`, `system:matcher`, …
pub fn actor_text(stored: Option<&str>) -> String {
    match Actor::from_log(stored) {
        Ok(actor) => actor.to_string(),
        Err(_) => format!("unreadable:{}", stored.unwrap_or_default()),
    }
}

/// An instant as the trace and the export write it: UTC, RFC 3339.
pub(crate) fn recorded(instant: chrono::DateTime<chrono::Utc>, millis: bool) -> String {
    let precision = if millis {
        chrono::SecondsFormat::Millis
    } else {
        chrono::SecondsFormat::Secs
    };
    instant.to_rfc3339_opts(precision, true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn sealed_envelopes_shrink_to_their_id() {
        let mut data = json!({
            "booking": "b1",
            "citizen": {"envelope_id": "01ABC", "nonce": "00ff", "ciphertext": "deadbeef"},
            "others": [{"envelope_id": "01DEF", "nonce": "11", "ciphertext": "22"}, {"envelope_id": "not sealed"}]
        });
        super::redact_personal_data(&mut data);
        assert_eq!(
            data,
            json!({
                "booking": "b1",
                "citizen": {"envelope_id": "01ABC"},
                "others": [{"envelope_id": "01DEF"}, {"envelope_id": "not sealed"}]
            })
        );
    }

    #[test]
    fn staff_addresses_and_names_are_left_out() {
        let mut data = json!({"staff": "01S", "email": "ada@stadt.example", "name": "Ada", "roles": []});
        super::without_personal_data("staff.registered", &mut data);
        assert_eq!(data, json!({"staff": "01S", "roles": []}));
        let mut device = json!({"device": "01D", "name": "Kiosk im Foyer"});
        super::without_personal_data("device.registered", &mut device);
        assert_eq!(device["name"], "Kiosk im Foyer", "a device's name is no person's");
    }

    #[test]
    fn actors_read_as_the_api_shows_them() {
        assert_eq!(super::actor_text(None), "system");
        assert_eq!(super::actor_text(Some("system:matcher")), "system:matcher");
        assert_eq!(super::actor_view(Some("citizen")).kind, "citizen");
        assert_eq!(super::actor_view(Some("nonsense")).kind, "unreadable");
    }
}
