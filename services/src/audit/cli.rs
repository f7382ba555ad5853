//! `terminagent audit trace|export|as-of|head|verify` on the database itself (API.md
//! "Operations (CLI)"): the flags are parsed in `config.rs`, the binary's
//! edge (`main.rs`) prints the error and exits with [`AuditCliError::exit_code`]:
//! 0 done, 1 the traced id (or the as-of office) is not in the log or the
//! log failed `verify`, 2 a usage or connection error.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use terminagent_eventstore::EventStore;

use super::as_of::{self, AsOf, AsOfError};
use super::export::{self, ExportError, Range};
use super::invariants::InvariantCheck;
use super::trace::{self, TraceError};
use super::verify::{self, Verdict, VerifyError};
use crate::config::{AuditAsOfArgs, AuditCommand, AuditExportArgs, AuditHeadArgs, AuditTraceArgs, AuditVerifyArgs};

#[derive(Debug, thiserror::Error)]
pub enum AuditCliError {
    #[error("no database at {0} (check --database-url)")]
    NoDatabase(String),
    #[error(transparent)]
    Store(#[from] crate::app::StartError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    AsOf(#[from] AsOfError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// `audit verify` found a violation (printed on stdout).
    #[error("the log failed verification")]
    Violated,
    #[error("--out {path}: {source}")]
    Out { path: String, source: std::io::Error },
    #[error("writing the trace: {0}")]
    Print(std::io::Error),
}

impl AuditCliError {
    /// 1: the traced id is not in the log; 2: a usage or connection error.
    pub fn exit_code(&self) -> u8 {
        match self {
            AuditCliError::Trace(TraceError::NotFound(_)) => 1,
            AuditCliError::Violated => 1,
            AuditCliError::AsOf(AsOfError::UnknownOffice { .. }) => 1,
            _ => 2,
        }
    }
}

pub async fn run(command: &AuditCommand) -> Result<(), AuditCliError> {
    match command {
        AuditCommand::Trace(args) => trace_command(args).await,
        AuditCommand::Export(args) => export_command(args).await,
        AuditCommand::Head(args) => head_command(args).await,
        AuditCommand::Verify(args) => verify_command(args).await,
        AuditCommand::AsOf(args) => as_of_command(args).await,
    }
}

/// Opens the log; a SQLite file that does not exist is an error here (the
/// servers would create it, an audit of nothing is a mistyped path).
async fn open(url: &str) -> Result<EventStore, AuditCliError> {
    if let Some(path) = sqlite_path(url)
        && !Path::new(path).exists()
    {
        return Err(AuditCliError::NoDatabase(path.to_owned()));
    }
    Ok(crate::app::open_store(url).await?)
}

/// A progress bar over `len` events on stderr, or a hidden one where no
/// person watches (a pipe, a file, a script).
pub(crate) fn events_bar(visible: bool, len: u64) -> indicatif::ProgressBar {
    if !visible {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events {elapsed} (eta {eta})") {
        bar.set_style(style);
    }
    bar
}

pub(crate) fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then_some(path)
}

async fn trace_command(args: &AuditTraceArgs) -> Result<(), AuditCliError> {
    trace::check_id(&args.id)?;
    let store = open(&args.database.database_url).await?;
    let traced = trace::trace(&store, &args.id, args.lang).await;
    store.close().await;
    let traced = traced?;
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&traced).map_err(|e| AuditCliError::Print(e.into()))?;
        json.push('\n');
        json
    } else {
        traced.to_text()
    };
    print_out(&text)
}

fn print_out(text: &str) -> Result<(), AuditCliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        // A reader that stopped early (`| head`) is no error.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(AuditCliError::Print),
    }
}

async fn as_of_command(args: &AuditAsOfArgs) -> Result<(), AuditCliError> {
    let at = AsOf::parse(&args.at)?;
    let store = open(&args.database.database_url).await?;
    let answer = as_of::office_day_as_of(&store, at, &args.office, &args.date).await;
    store.close().await;
    let answer = answer?;
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&answer).map_err(|e| AuditCliError::Print(e.into()))?;
        json.push('\n');
        json
    } else {
        answer.to_text(args.lang)
    };
    print_out(&text)
}

async fn head_command(args: &AuditHeadArgs) -> Result<(), AuditCliError> {
    let store = open(&args.database.database_url).await?;
    let head = store.chain_head().await;
    store.close().await;
    let head = head.map_err(VerifyError::from)?;
    let text = if args.json {
        let json = serde_json::json!({
            "position": head.position,
            "hash": head.hash.to_string(),
            "anchor": head.to_string(),
        });
        format!("{json}\n")
    } else {
        format!("{head}\n")
    };
    print_out(&text)
}

/// Prints the verdict on stdout: the head verified, or the first violation
/// (then exits 1 through [`AuditCliError::Violated`]).
async fn verify_command(args: &AuditVerifyArgs) -> Result<(), AuditCliError> {
    let store = open(&args.database.database_url).await?;
    let outcome = verify_with_progress(&store, args).await;
    store.close().await;
    match outcome? {
        Verdict::Sound { head } => {
            let anchor = match args.anchor {
                Some(anchor) => format!(", anchor {anchor} holds"),
                None => String::new(),
            };
            print_out(&format!(
                "log sound: positions 1..={} dense, every hash chained{anchor}, every invariant held; head {head}\n",
                head.position
            ))
        }
        Verdict::Violated(violation) => {
            print_out(&format!("{violation}\n"))?;
            Err(AuditCliError::Violated)
        }
    }
}

async fn verify_with_progress(store: &EventStore, args: &AuditVerifyArgs) -> Result<Verdict, AuditCliError> {
    // The bar goes to stderr, and only where a person watches both streams.
    let visible = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let bar = events_bar(visible, store.head().await.map_err(VerifyError::from)?);
    // The invariants by the independent checker, in the same pass as the chain.
    let mut invariants = InvariantCheck::new();
    let verdict = verify::verify(store, args.anchor, &mut [&mut invariants], |position| {
        bar.set_position(position)
    })
    .await;
    bar.finish_and_clear();
    Ok(verdict?)
}

async fn export_command(args: &AuditExportArgs) -> Result<(), AuditCliError> {
    let range = Range::new(args.from, args.to)?;
    let store = open(&args.database.database_url).await?;
    let result = export_to(&store, args, range).await;
    store.close().await;
    result
}

async fn export_to(store: &EventStore, args: &AuditExportArgs, range: Range) -> Result<(), AuditCliError> {
    let last = export::last_position(store, range).await?;
    let to_terminal = args.out.is_none() && std::io::stdout().is_terminal();
    let bar = events_bar(
        std::io::stderr().is_terminal() && !to_terminal,
        last.saturating_sub(range.from - 1),
    );
    let progress = |position: u64| bar.set_position(position - (range.from - 1));
    let outcome = match &args.out {
        None => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            match export::export(store, args.format, range, last, &mut stdout, progress).await {
                Err(ExportError::Write(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map(|_| ()).map_err(AuditCliError::from),
            }
        }
        Some(path) => export_file(store, args, range, last, path, progress).await,
    };
    bar.finish_and_clear();
    outcome
}

/// Writes beside `path` first and renames when complete: a failed export
/// leaves no half file under the name asked for.
async fn export_file(
    store: &EventStore,
    args: &AuditExportArgs,
    range: Range,
    last: u64,
    path: &PathBuf,
    progress: impl FnMut(u64),
) -> Result<(), AuditCliError> {
    let out_error = |source| AuditCliError::Out {
        path: path.display().to_string(),
        source,
    };
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let file = std::fs::File::create(&partial).map_err(out_error)?;
    let mut writer = std::io::BufWriter::new(file);
    let written = export::export(store, args.format, range, last, &mut writer, progress).await;
    let finished = written.map_err(AuditCliError::from).and_then(|_| {
        let file = writer.into_inner().map_err(|e| out_error(e.into_error()))?;
        file.sync_all().map_err(out_error)?;
        std::fs::rename(&partial, path).map_err(out_error)
    });
    if finished.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    finished
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_paths_are_found_in_urls() {
        assert_eq!(super::sqlite_path("sqlite://terminagent.db"), Some("terminagent.db"));
        assert_eq!(
            super::sqlite_path("sqlite:/var/lib/t.db?mode=rwc"),
            Some("/var/lib/t.db")
        );
        assert_eq!(super::sqlite_path("postgres://localhost/t"), None);
    }
}
