//! The audit trail (API.md "Audit"): the log in order, never skipping, with
//! personal data shown only as envelope ids.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use super::auth::StaffAccess;
use super::problem::Problem;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    after: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EventsPage {
    events: Vec<AuditEvent>,
    next: u64,
}

#[derive(Debug, Serialize)]
pub struct AuditEvent {
    position: u64,
    #[serde(rename = "type")]
    event_type: String,
    schema_version: u32,
    event_id: String,
    streams: Vec<String>,
    recorded_at: String,
    correlation_id: Option<String>,
    causation_id: Option<String>,
    data: Value,
}

pub async fn list_events(
    _: StaffAccess,
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<EventsPage>, Problem> {
    let after = match query.after.as_deref() {
        None => 0,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| Problem::invalid(format!("after must be a position (0, 1, 2, …), not {text:?}")))?,
    };
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
            _ => {
                return Err(Problem::invalid(format!(
                    "limit must be 1 to {MAX_LIMIT}, not {text:?}"
                )));
            }
        },
    };
    let store = state.executor.store();
    // Every acknowledged event shows: wait until the log has numbered them.
    store.catch_up().await.map_err(|e| Problem::internal(&e))?;
    let events = store.read_all(after, limit).await.map_err(|e| Problem::internal(&e))?;
    let next = events.last().map_or(after, |event| event.position);
    let events = events
        .into_iter()
        .map(|logged| {
            let mut data = logged.event.data.to_value();
            redact_personal_data(&mut data);
            AuditEvent {
                position: logged.position,
                event_type: logged.event.event_type,
                schema_version: logged.event.schema_version,
                event_id: logged.event.event_id.to_string(),
                streams: logged.event.streams,
                recorded_at: logged
                    .event
                    .recorded_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                correlation_id: logged.event.correlation_id.map(|id| id.to_string()),
                causation_id: logged.event.causation_id.map(|id| id.to_string()),
                data,
            }
        })
        .collect();
    Ok(Json(EventsPage { events, next }))
}

/// Replaces every sealed personal-data envelope by its id: even encrypted,
/// personal data does not leave through the audit trail.
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
}
