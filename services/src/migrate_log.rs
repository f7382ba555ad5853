//! `terminagent migrate-log --from URL --to URL`: a town that outgrows the
//! embedded SQLite moves its installation to Postgres (or back) — the log,
//! then the tables beside it (`terminagent_eventstore::copy_side_tables`).
//!
//! The log moves through the target's ordinary append, page by page in log
//! order, each event as stored (id, type, schema version, streams, recorded
//! time, actor, data text): the target numbers and hash-chains it itself, so
//! equal head hashes on both sides prove the copy event for event (the chain
//! covers position, content and order). An interrupted move resumes: the
//! target's log must be a prefix of the source's (checked at its last
//! event), and the copy goes on after it; the side tables are upserts.
//!
//! Run it with every process of the installation stopped: events appended
//! to the source meanwhile would be moved only by a second run.

use std::io::IsTerminal;
use std::path::Path;

use terminagent_eventstore::{
    ChainTip, ChainedEvent, EventStore, NewEvent, SideTablesCopied, StorageError, copy_side_tables,
};

use crate::app::StartError;
use crate::config::MigrateLogArgs;

#[derive(Debug, thiserror::Error)]
pub enum MigrateLogError {
    #[error("--from and --to name the same database")]
    SameDatabase,
    #[error("no database at {0} (check --from)")]
    NoSource(String),
    #[error("{which}: {source}")]
    Open {
        which: &'static str,
        #[source]
        source: StartError,
    },
    #[error(
        "the target's log goes further than the source's ({target} events, the source has {source_head}): not a copy of it"
    )]
    TargetAhead { target: u64, source_head: u64 },
    #[error("the target holds another log: its event at position {position} is not the source's")]
    DifferentLog { position: u64 },
    #[error("the source's log is not readable at position {position} (run `terminagent audit verify` on it)")]
    SourceGap { position: u64 },
    #[error("after the move the heads differ: source {source_head}, target {target}")]
    HeadsDiffer { source_head: ChainTip, target: ChainTip },
    #[error("event {event} does not hold JSON: {reason}")]
    Data { event: String, reason: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("appending to the target: {0}")]
    Append(String),
}

/// What a move did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogMoved {
    /// The target's head when this run began (0 for a fresh target).
    pub resumed_after: u64,
    pub events_copied: u64,
    /// Both logs' head, equal on both sides.
    pub head: ChainTip,
    pub side_tables: SideTablesCopied,
}

/// Moves the log of `from` into `to` (see the module's comment); `progress`
/// hears (events in the target, events in the source) after each page.
pub async fn move_log(
    from: &EventStore,
    to: &EventStore,
    page: usize,
    mut progress: impl FnMut(u64, u64),
) -> Result<LogMoved, MigrateLogError> {
    let source_head = from.catch_up().await?;
    let target_head = to.catch_up().await?;
    if target_head > source_head {
        return Err(MigrateLogError::TargetAhead {
            target: target_head,
            source_head,
        });
    }
    if target_head > 0 {
        let event_at = |store: &EventStore| {
            let store = store.clone();
            async move { store.read_chain(target_head - 1, 1).await }
        };
        let (theirs, ours) = (event_at(from).await?, event_at(to).await?);
        let same = matches!((theirs.first(), ours.first()),
            (Some(a), Some(b)) if a.position == target_head && b.position == target_head && a.event.event_id == b.event.event_id);
        if !same {
            return Err(MigrateLogError::DifferentLog { position: target_head });
        }
    }
    progress(target_head, source_head);
    let mut position = target_head;
    while position < source_head {
        let events = from
            .read_chain(position, page.min((source_head - position) as usize))
            .await?;
        let Some(last) = events.last() else {
            return Err(MigrateLogError::SourceGap { position: position + 1 });
        };
        if events
            .iter()
            .zip(position + 1..)
            .any(|(event, expected)| event.position != expected)
        {
            return Err(MigrateLogError::SourceGap { position: position + 1 });
        }
        let last = last.position;
        let batch = events.into_iter().map(as_new_event).collect::<Result<Vec<_>, _>>()?;
        // One append per page: the target numbers a page's events in the order given.
        to.append(&batch, &[])
            .await
            .map_err(|error| MigrateLogError::Append(error.to_string()))?;
        position = last;
        progress(position, source_head);
    }
    let side_tables = copy_side_tables(from, to).await?;
    let (source_tip, target_tip) = (from.chain_head().await?, to.chain_head().await?);
    if source_tip != target_tip {
        return Err(MigrateLogError::HeadsDiffer {
            source_head: source_tip,
            target: target_tip,
        });
    }
    Ok(LogMoved {
        resumed_after: target_head,
        events_copied: source_head - target_head,
        head: target_tip,
        side_tables,
    })
}

/// The event as the target's append takes it: everything as stored.
fn as_new_event(chained: ChainedEvent) -> Result<NewEvent, MigrateLogError> {
    let event = chained.event;
    let data = serde_json::from_str(event.data.as_str()).map_err(|error| MigrateLogError::Data {
        event: event.event_id.to_string(),
        reason: error.to_string(),
    })?;
    Ok(NewEvent {
        event_id: event.event_id,
        event_type: event.event_type,
        schema_version: event.schema_version,
        streams: event.streams,
        recorded_at: event.recorded_at,
        correlation_id: event.correlation_id,
        causation_id: event.causation_id,
        actor: event.actor,
        data,
    })
}

/// The command: opens both databases (the source must exist), moves with a
/// progress bar on a terminal, and answers the summary line.
pub async fn run(args: &MigrateLogArgs) -> Result<String, MigrateLogError> {
    if args.from == args.to {
        return Err(MigrateLogError::SameDatabase);
    }
    if let Some(path) = crate::audit::cli::sqlite_path(&args.from)
        && !Path::new(path).exists()
    {
        return Err(MigrateLogError::NoSource(path.to_owned()));
    }
    let open = |which, url| async move {
        crate::app::open_store(url)
            .await
            .map_err(|source| MigrateLogError::Open { which, source })
    };
    let from = open("--from", &args.from).await?;
    let to = open("--to", &args.to).await?;
    let bar = crate::audit::cli::events_bar(std::io::stderr().is_terminal(), 0);
    let moved = move_log(&from, &to, args.page as usize, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    from.close().await;
    to.close().await;
    let moved = moved?;
    let side = moved.side_tables;
    Ok(format!(
        "moved {} events (the target held {} already); head {} on both; beside the log: {} secrets, {} keys, {} \
         index entries, {} checkpoints, {} sent mails, {} staff passwords",
        moved.events_copied,
        moved.resumed_after,
        moved.head,
        side.secrets,
        side.personal_data_keys,
        side.citizen_index,
        side.checkpoints,
        side.sent_mails,
        side.staff_credentials
    ))
}
