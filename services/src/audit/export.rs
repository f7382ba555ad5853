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
use terminagent_domain::ActorView;
use terminagent_eventstore::{EventStore, LogEvent, StorageError};

/// Events read (and written) per page.
const PAGE: usize = 1000;

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
    let mut after = range.from - 1;
    while after < last {
        let limit = PAGE.min(usize::try_from(last - after).unwrap_or(PAGE));
        let page = store.read_all(after, limit).await?;
        if page.is_empty() {
            break;
        }
        for logged in page {
            if logged.position > last {
                break;
            }
            after = logged.position;
            match format {
                Format::Jsonl => write_json_line(out, logged)?,
                Format::Csv => write_csv_line(out, logged)?,
            }
            written += 1;
            progress(after);
        }
    }
    out.flush()?;
    Ok(Exported { events: written, last })
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
    data: Value,
}

fn data_of(logged: &LogEvent) -> Value {
    let mut data = logged.event.data.to_value();
    super::without_personal_data(&logged.event.event_type, &mut data);
    data
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
