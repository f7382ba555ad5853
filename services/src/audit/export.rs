//! `terminagent audit export`: the log without personal data, as JSON lines
//! or CSV, read page by page (`EventStore::read_all`) and written as it is
//! read, so memory stays the same for any length of log.
//!
//! - JSON lines: one object per event, the fields of `GET /api/v1/events`
//!   (`position`, `event_id`, `type`, `schema_version`, `streams`,
//!   `recorded_at`, `correlation_id`, `causation_id`, `actor`, `data`).
//! - CSV (RFC 4180, with a header): `position,event_id,type,recorded_at,actor,streams,data`;
//!   `actor` in the log's compact form (`staff:{id}`), `streams` joined by
//!   `|`, `data` as a JSON string.
//!
//! Personal data: sealed envelopes appear only as their `envelope_id`, and a
//! staff account's e-mail address and name are left out (its id remains);
//! see [`super::without_personal_data`].

use std::io::Write;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use terminagent_domain::ActorView;
use terminagent_eventstore::{EventStore, LogEvent, StorageError};

/// Events read (and written) per page.
const PAGE: usize = 1000;
/// Pages read ahead of the writing.
const PAGES_AHEAD: usize = 4;

/// The export's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header line.
    Csv,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("--to {to} lies before --from {from}")]
    Range { from: u64, to: u64 },
    #[error("reading the log: {0}")]
    Storage(#[from] StorageError),
    #[error("writing the export: {0}")]
    Write(#[from] std::io::Error),
}

/// The positions an export covers, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: u64,
    pub to: Option<u64>,
}

impl Range {
    pub fn new(from: Option<u64>, to: Option<u64>) -> Result<Range, ExportError> {
        let from = from.unwrap_or(1).max(1);
        match to {
            Some(to) if to < from => Err(ExportError::Range { from, to }),
            _ => Ok(Range { from, to }),
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub events: u64,
    /// The last position the export was to reach: `--to`, or the log's head
    /// when the export began, whichever is lower.
    pub last: u64,
}

/// The export's plan before anything is read: the last position it will
/// reach, so a progress bar knows its length.
pub async fn last_position(store: &EventStore, range: Range) -> Result<u64, ExportError> {
    let head = store.catch_up().await?;
    Ok(range.to.map_or(head, |to| to.min(head)))
}

/// Writes the events `range.from..=last` to `out`; `progress` hears each
/// position written.
pub async fn export(
    store: &EventStore,
    format: Format,
    range: Range,
    last: u64,
    out: &mut impl Write,
    mut progress: impl FnMut(u64),
) -> Result<Exported, ExportError> {
    if format == Format::Csv {
        out.write_all(b"position,event_id,type,recorded_at,actor,streams,data\n")?;
    }
    let mut written = 0;
    let mut pages = read_ahead(store, range.from - 1, last);
    while let Some(page) = pages.recv().await {
        for logged in page? {
            let position = logged.position;
            match format {
                Format::Jsonl => write_json_line(out, logged)?,
                Format::Csv => write_csv_line(out, logged)?,
            }
            written += 1;
            progress(position);
        }
    }
    out.flush()?;
    Ok(Exported { events: written, last })
}

/// Pages of the log after `after` up to `last`, read on a task of their own
/// so the next page is fetched while this one is written.
fn read_ahead(
    store: &EventStore,
    mut after: u64,
    last: u64,
) -> tokio::sync::mpsc::Receiver<Result<Vec<LogEvent>, StorageError>> {
    let (pages, receiver) = tokio::sync::mpsc::channel(PAGES_AHEAD);
    let store = store.clone();
    tokio::spawn(async move {
        while after < last {
            let limit = PAGE.min(usize::try_from(last - after).unwrap_or(PAGE));
            let page = match store.read_all(after, limit).await {
                Ok(page) => page,
                Err(error) => {
                    let _ = pages.send(Err(error)).await;
                    return;
                }
            };
            let Some(end) = page.last().map(|logged| logged.position) else {
                return;
            };
            after = end;
            let page: Vec<LogEvent> = page.into_iter().take_while(|logged| logged.position <= last).collect();
            if pages.send(Ok(page)).await.is_err() {
                return;
            }
        }
    });
    receiver
}

/// An event's data as the export writes it: the stored text itself when it
/// can hold nothing personal (no sealed envelope, no staff account, no
/// escapes that could hide a key), else parsed and reduced.
enum ExportedData {
    Stored(Box<RawValue>),
    Reduced(Value),
}

impl Serialize for ExportedData {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ExportedData::Stored(raw) => raw.serialize(serializer),
            ExportedData::Reduced(value) => value.serialize(serializer),
        }
    }
}

impl std::fmt::Display for ExportedData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportedData::Stored(raw) => f.write_str(raw.get()),
            ExportedData::Reduced(value) => write!(f, "{value}"),
        }
    }
}

/// One event as a line of the JSON export.
#[derive(Serialize)]
struct Line {
    position: u64,
    event_id: String,
    #[serde(rename = "type")]
    event_type: String,
    schema_version: u32,
    streams: Vec<String>,
    recorded_at: String,
    correlation_id: Option<String>,
    causation_id: Option<String>,
    actor: ActorView,
    data: ExportedData,
}

fn data_of(logged: &LogEvent) -> ExportedData {
    let text = logged.event.data.as_str();
    let plain = !text.contains("ciphertext")
        && !text.contains('\\')
        && !matches!(logged.event.event_type.as_str(), "staff.registered" | "staff.changed");
    if plain && let Ok(raw) = RawValue::from_string(text.to_owned()) {
        return ExportedData::Stored(raw);
    }
    let mut data = logged.event.data.to_value();
    super::without_personal_data(&logged.event.event_type, &mut data);
    ExportedData::Reduced(data)
}

fn write_json_line(out: &mut impl Write, logged: LogEvent) -> Result<(), ExportError> {
    let data = data_of(&logged);
    let event = logged.event;
    let line = Line {
        position: logged.position,
        event_id: event.event_id.to_string(),
        event_type: event.event_type,
        schema_version: event.schema_version,
        streams: event.streams,
        recorded_at: super::recorded(event.recorded_at, true),
        correlation_id: event.correlation_id.map(|id| id.to_string()),
        causation_id: event.causation_id.map(|id| id.to_string()),
        actor: super::actor_view(event.actor.as_deref()),
        data,
    };
    serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

fn write_csv_line(out: &mut impl Write, logged: LogEvent) -> Result<(), ExportError> {
    let data = data_of(&logged);
    let event = &logged.event;
    let fields = [
        logged.position.to_string(),
        event.event_id.to_string(),
        event.event_type.clone(),
        super::recorded(event.recorded_at, true),
        super::actor_text(event.actor.as_deref()),
        event.streams.join("|"),
        data.to_string(),
    ];
    let line = fields
        .iter()
        .map(|field| csv_field(field))
        .collect::<Vec<_>>()
        .join(",");
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    Ok(())
}

/// A CSV field (RFC 4180): quoted, quotes doubled, when it holds a comma,
/// a quote or a line break.
fn csv_field(field: &str) -> std::borrow::Cow<'_, str> {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\"")).into()
    } else {
        field.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(event_type: &str, data: &str) -> LogEvent {
        LogEvent {
            position: 1,
            event: terminagent_eventstore::StoredEvent {
                event_id: ulid::Ulid::new(),
                event_type: event_type.to_owned(),
                schema_version: 1,
                streams: vec!["s".to_owned()],
                recorded_at: chrono::Utc::now(),
                correlation_id: None,
                causation_id: None,
                actor: None,
                data: terminagent_eventstore::EventData::from_value(&serde_json::from_str(data).unwrap()),
            },
        }
    }

    #[test]
    fn data_without_anything_personal_is_written_as_stored_and_the_rest_reduced() {
        let plain = logged("booking.confirmed", r#"{"booking":"b1","number":"17"}"#);
        let written = data_of(&plain);
        assert!(matches!(written, ExportedData::Stored(_)));
        assert_eq!(written.to_string(), plain.event.data.as_str());

        let sealed = r#"{"booking":"b1","citizen":{"envelope_id":"e1","nonce":"n","ciphertext":"c"}}"#;
        let written = data_of(&logged("booking.requested", sealed));
        assert_eq!(
            written.to_string(),
            r#"{"booking":"b1","citizen":{"envelope_id":"e1"}}"#
        );
        let staff = data_of(&logged(
            "staff.registered",
            r#"{"staff":"s1","email":"a@b.de","name":"A"}"#,
        ));
        assert_eq!(staff.to_string(), r#"{"staff":"s1"}"#);
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("booking.requested"), "booking.requested");
        assert_eq!(csv_field(r#"{"a":1,"b":"x"}"#), r#""{""a"":1,""b"":""x""}""#);
        assert_eq!(csv_field("zwei\nZeilen"), "\"zwei\nZeilen\"");
    }

    #[test]
    fn ranges_are_inclusive_and_ordered() {
        assert_eq!(Range::new(None, None).unwrap(), Range { from: 1, to: None });
        assert_eq!(Range::new(Some(0), Some(3)).unwrap(), Range { from: 1, to: Some(3) });
        assert_eq!(Range::new(Some(5), Some(5)).unwrap(), Range { from: 5, to: Some(5) });
        assert!(matches!(
            Range::new(Some(6), Some(5)),
            Err(ExportError::Range { from: 6, to: 5 })
        ));
    }
}
