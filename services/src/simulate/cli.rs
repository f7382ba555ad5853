//! `terminagent simulate`'s flags, and the run from the command line.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::Args;
use terminagent_domain::WishPolicy;
use terminagent_eventstore::EventStore;

use super::{SimulateError, SimulateOptions};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// `sqlite://PATH` or `postgres://…`, an empty database (migrated here).
    /// Default: a fresh SQLite file in the temp directory, named in the report.
    #[arg(long, env = "TERMINAGENT_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The seed: the same seed gives the same report.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated days, from --start.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// The first simulated day (YYYY-MM-DD).
    #[arg(long, default_value = "2026-01-05")]
    pub start: NaiveDate,
    /// How many of Düsseldorf's 11 offices.
    #[arg(long, default_value_t = 11)]
    pub offices: usize,
    /// Fraction of the city's volume and capacity (e.g. 0.1).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Customer contacts per year instead of Düsseldorf's ~700,000 × offices/11 × scale.
    #[arg(long)]
    pub contacts: Option<u64>,
    /// Wishes per year instead of ~300,000 × offices/11 × scale.
    #[arg(long)]
    pub wishes: Option<u64>,
    /// What-if: how long a proposal holds its units (the product's `--proposal-ttl`).
    #[arg(long, default_value = "48h", value_parser = parse_duration)]
    pub proposal_ttl: std::time::Duration,
    /// What-if: after this many proposals in a row expire unanswered, the wish ends.
    #[arg(long, default_value_t = WishPolicy::default().max_unanswered)]
    pub max_unanswered_proposals: u32,
    /// What-if: capacity published, in percent of the base (e.g. 90, 110).
    #[arg(long, default_value_t = 100)]
    pub capacity_percent: u32,
    /// Capacity goes online this many weeks ahead, each Monday.
    #[arg(long, default_value_t = 3)]
    pub weeks_ahead: u32,
    /// Skip the floor (check-in, calls); no-shows are then not marked.
    #[arg(long)]
    pub no_floor: bool,
    /// The report as one JSON document.
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 48h, 30m)"))?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

impl SimulateArgs {
    pub fn options(&self) -> Result<SimulateOptions, SimulateError> {
        let proposal_ttl = chrono::Duration::from_std(self.proposal_ttl)
            .map_err(|e| SimulateError::Options(format!("--proposal-ttl: {e}")))?;
        Ok(SimulateOptions {
            seed: self.seed,
            start: self.start,
            days: self.days,
            offices: self.offices,
            contacts_per_year: self.contacts,
            wishes_per_year: self.wishes,
            scale: self.scale,
            capacity_percent: self.capacity_percent,
            wish_policy: WishPolicy {
                proposal_ttl,
                max_unanswered: self.max_unanswered_proposals,
            },
            weeks_ahead: self.weeks_ahead,
            floor: !self.no_floor,
            progress: true,
            ..SimulateOptions::default()
        })
    }
}

/// Opens (and migrates) the database, runs, prints the report.
pub async fn run(args: SimulateArgs) -> Result<(), SimulateError> {
    // Quiet by default: the matcher logs every proposal at info.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let options = args.options()?;
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => {
            let dir: PathBuf = std::env::temp_dir().join(format!(
                "terminagent-simulate-{}-{}",
                args.seed,
                ulid::Ulid::new().to_string().to_lowercase()
            ));
            std::fs::create_dir_all(&dir).map_err(|e| SimulateError::Options(format!("{}: {e}", dir.display())))?;
            format!("sqlite://{}", dir.join("simulation.db").display())
        }
    };
    let store = EventStore::connect(&url, super::store_options()).await?;
    store.migrate().await?;
    let report = super::run(store, options).await?;
    if args.json {
        let mut document = serde_json::to_value(&report).map_err(|e| SimulateError::Options(e.to_string()))?;
        document["database_url"] = serde_json::Value::String(crate::app::redact(&url));
        println!("{document:#}");
    } else {
        println!("{}", report.to_text());
        println!("database: {}", crate::app::redact(&url));
    }
    Ok(())
}
