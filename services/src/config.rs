//! The command line (API.md "Running") and the one typed configuration it
//! parses into. Every flag can also come from its `TERMINAGENT_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "terminagent",
    version,
    about = "Appointment booking and waitlist backend for citizen offices"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// API, matcher and mailer in one process.
    Serve(RunArgs),
    /// Only the HTTP API (scale-out; needs --nats-url).
    Api(RunArgs),
    /// Only the matcher (scale-out; needs --nats-url).
    Matcher(RunArgs),
    /// Only the mailer (scale-out; needs --nats-url).
    Mailer(RunArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Move an installation to another database (SQLite to Postgres): the
    /// log, the vault, the mail ledger, checkpoints and staff passwords;
    /// resumable, proven by equal head hashes. Stop every process first.
    #[command(name = "migrate-log")]
    MigrateLog(MigrateLogArgs),
    /// Staff accounts, on the database directly (before any admin exists).
    #[command(subcommand)]
    Staff(StaffCommand),
    /// The audit trail, read from the database: traces, exports, the hash chain's head and verification.
    /// Exit codes: 0 done, 1 the traced id is not in the log or the log failed verification, 2 usage or connection errors.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// A synthetic year of the city's offices through the real application
    /// layer and store, on a virtual clock; prints the report.
    Simulate(crate::simulate::SimulateArgs),
    /// Erase a citizen's personal data (their key and index entry; the log
    /// records `personal_data.erased`). Exit codes: 0 erased or nothing to
    /// erase, 2 usage or connection errors.
    Erase(EraseArgs),
}

#[derive(Debug, Args)]
pub struct EraseArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The citizen's e-mail address.
    #[arg(long)]
    pub email: String,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Every event of a booking, wish, proposal, stream or office day in log
    /// order, one line each (position, type, time, actor, a sentence); for
    /// each proposal, why its wish was the one chosen.
    Trace(AuditTraceArgs),
    /// The log without personal data, as JSON lines or CSV, to stdout or --out.
    Export(AuditExportArgs),
    /// The head of the log's hash chain as `POS:HASH`: publish it to prove
    /// later (`audit verify --anchor`) that the log up to it is unchanged.
    Head(AuditHeadArgs),
    /// Reads the whole log and checks it: positions dense from 1, every
    /// recorded hash the chain's, and with --anchor the chain's hash there.
    /// Exit codes: 0 sound, 1 the first violation (printed), 2 usage or connection errors.
    Verify(AuditVerifyArgs),
    /// One office day as the log stood at a past time or position: its
    /// units, its bookings and the wishes waiting for the office.
    #[command(name = "as-of")]
    AsOf(AuditAsOfArgs),
}

#[derive(Debug, Args)]
pub struct AuditAsOfArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// A log position (`1234`) or an RFC 3339 time (`2026-12-01T09:15:00+01:00`).
    #[arg(value_name = "TIME|POSITION")]
    pub at: String,
    /// The office's id.
    #[arg(long)]
    pub office: String,
    /// The office-local date, `YYYY-MM-DD`.
    #[arg(long)]
    pub date: String,
    /// The language of the lines.
    #[arg(long, value_enum, default_value_t = crate::audit::Lang::De)]
    pub lang: crate::audit::Lang,
    /// One JSON document instead of lines (the answer of `GET /api/v1/audit/as-of`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditTraceArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The ULID of a booking, wish or proposal; a stream name such as
    /// `unit:mitte:2026-12-01:1:0900`; or an office day as `OFFICE/DATE`
    /// (`mitte/2026-12-01`).
    pub id: String,
    /// The language of the sentences.
    #[arg(long, value_enum, default_value_t = crate::audit::Lang::De)]
    pub lang: crate::audit::Lang,
    /// One JSON document instead of lines (the answer of `GET /api/v1/audit/trace/{id}`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditHeadArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// `{"position", "hash", "anchor"}` instead of `POS:HASH`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// A head printed earlier by `audit head` (`POS:HASH`): the chain's hash
    /// at POS must still be HASH.
    #[arg(long, value_name = "POS:HASH")]
    pub anchor: Option<terminagent_eventstore::ChainTip>,
}

#[derive(Debug, Args)]
pub struct AuditExportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// `jsonl` (one JSON object per event) or `csv` (with a header line).
    #[arg(long, value_enum)]
    pub format: crate::audit::export::Format,
    /// The first position to export (inclusive; default 1).
    #[arg(long, value_name = "POS", value_parser = clap::value_parser!(u64).range(1..))]
    pub from: Option<u64>,
    /// The last position to export (inclusive; default: the log's head when the export begins).
    #[arg(long, value_name = "POS", value_parser = clap::value_parser!(u64).range(1..))]
    pub to: Option<u64>,
    /// Write to this file instead of stdout (it appears complete or not at all).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create an account (or change its name and role) and print a one-time
    /// password for the staff pages (`/staff/login`).
    Add(StaffAddArgs),
}

#[derive(Debug, Args)]
pub struct StaffAddArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The member's work e-mail address (the sign-in name).
    #[arg(long)]
    pub email: String,
    /// The member's name as the pages and the audit show it.
    #[arg(long)]
    pub name: String,
    /// admin, lead, clerk or auditor.
    #[arg(long)]
    pub role: String,
    /// The office (lead and clerk only; they need one).
    #[arg(long)]
    pub office: Option<String>,
}

#[derive(Debug, Args)]
pub struct MigrateLogArgs {
    /// The database moved from (`sqlite://PATH` or `postgres://…`).
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The database moved to; created and migrated if new. May hold a
    /// prefix of the source's log from an interrupted move.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Events per append.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub page: u64,
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (embedded, created if missing) or `postgres://…`.
    #[arg(long, env = "TERMINAGENT_DATABASE_URL", default_value = "sqlite://terminagent.db")]
    pub database_url: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// `nats://host:port` for JetStream; unset: in-process bus (only with `serve`).
    #[arg(long, env = "TERMINAGENT_NATS_URL")]
    pub nats_url: Option<String>,
    /// `file:DIR` writes one .eml per mail; `smtp://host:port` or `smtps://host:port` sends.
    #[arg(long, env = "TERMINAGENT_MAIL", default_value = "file:./outbox", value_parser = MailTransport::parse)]
    pub mail: MailTransport,
    /// Sender of every mail, e.g. `Bürgerservice <termine@stadt.example>`.
    #[arg(long, env = "TERMINAGENT_MAIL_FROM", default_value = "Bürgerservice <termine@localhost>",
          value_parser = parse_mailbox)]
    pub mail_from: lettre::message::Mailbox,
    /// How long a mailer's claim on a mail protects it while it is sent,
    /// even from a live but stuck mailer; a dead mailer's claims are taken
    /// over sooner, once its heartbeat lapses (seconds). Keep it above the
    /// mail server's slowest answer (each SMTP step times out after 10 s): a
    /// claim lapsing mid-send could send a mail twice.
    #[arg(long, env = "TERMINAGENT_MAIL_CLAIM_LEASE", default_value = "60s", value_parser = parse_duration)]
    pub mail_claim_lease: Duration,
    /// JetStream stream carrying mail notices from relay to mailer (with --nats-url).
    #[arg(long, env = "TERMINAGENT_NATS_STREAM", default_value = "TERMINAGENT_MAIL", value_parser = parse_stream_name)]
    pub nats_stream: String,
    /// Listen address; port 0 picks a free port (the bound address is logged).
    #[arg(long, env = "TERMINAGENT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Base of every link in mails; default `http://<bound address>`.
    #[arg(long, env = "TERMINAGENT_PUBLIC_URL", value_parser = PublicUrl::parse)]
    pub public_url: Option<PublicUrl>,
    /// Bearer token for staff and operations endpoints; unset: they answer 401.
    #[arg(long, env = "TERMINAGENT_ADMIN_TOKEN", value_parser = AdminToken::parse)]
    pub admin_token: Option<AdminToken>,
    /// Bearer token `/metrics` asks for (at least 32 characters), so figures
    /// such as waiting visitors per office are not public; unset: `/metrics`
    /// is open, for a scraper on a private network.
    #[arg(long, env = "TERMINAGENT_METRICS_TOKEN", value_parser = AdminToken::parse)]
    pub metrics_token: Option<AdminToken>,
    /// File holding the key of every mail link and check-in code (64 hex
    /// digits, e.g. `openssl rand -hex 32`), shared by all processes; unset:
    /// the key is kept in the database, where a copy of the database could
    /// make working links. Choose before going live: another key voids the
    /// links of mails already sent.
    #[arg(long, env = "TERMINAGENT_LINK_SECRET_FILE")]
    pub link_secret_file: Option<PathBuf>,
    /// The city's name, logo, colours and legal texts (Impressum,
    /// Datenschutz, Barrierefreiheit) for the citizen pages, as TOML (see
    /// deploy/site.example.toml); checked at start. Unset: a neutral
    /// "Bürgerbüro" whose legal pages say the texts are missing.
    #[arg(long, env = "TERMINAGENT_SITE_CONFIG", value_name = "FILE")]
    pub site_config: Option<PathBuf>,
    /// Seed a demo catalogue if the log is empty.
    #[arg(long, env = "TERMINAGENT_DEMO", default_value_t = false,
          action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub demo: bool,
    /// How long a proposal holds its units (e.g. `48h`, `30m`, `2s`).
    #[arg(long, env = "TERMINAGENT_PROPOSAL_TTL", default_value = "48h", value_parser = parse_duration)]
    pub proposal_ttl: Duration,
    /// How long an unconfirmed booking holds its units. Short: a booking
    /// whose mailbox no one reads must not keep a slot from others for long.
    #[arg(long, env = "TERMINAGENT_CONFIRM_TTL", default_value = "30m", value_parser = parse_duration)]
    pub confirm_ttl: Duration,
    /// How many days ahead citizens may book (office-local days after today).
    #[arg(long, env = "TERMINAGENT_BOOKING_HORIZON_DAYS", default_value_t = 21,
          value_parser = clap::value_parser!(u32).range(1..=366))]
    pub booking_horizon_days: u32,
    /// Open future bookings one e-mail address may hold (against hoarding).
    #[arg(long, env = "TERMINAGENT_MAX_OPEN_BOOKINGS", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_open_bookings: u32,
    /// Proposals a wish may leave unanswered in a row before its search ends.
    #[arg(long, env = "TERMINAGENT_MAX_UNANSWERED_PROPOSALS", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_unanswered_proposals: u32,
    /// The office floor: check-in opens this long before a booking's start.
    #[arg(long, env = "TERMINAGENT_CHECK_IN_EARLY", default_value = "15m", value_parser = parse_duration)]
    pub check_in_early: Duration,
    /// The office floor: check-in closes this long after a booking's start;
    /// a confirmed booking not checked in by then is marked missed (no-show).
    #[arg(long, env = "TERMINAGENT_CHECK_IN_LATE", default_value = "5m", value_parser = parse_duration)]
    pub check_in_late: Duration,
    /// The office floor: a called visitor may be called again this long after the latest call.
    #[arg(long, env = "TERMINAGENT_RECALL_AFTER", default_value = "5m", value_parser = parse_duration)]
    pub recall_after: Duration,
    /// The office-local time (`HH:MM`) a confirmed booking's reminder mail goes
    /// out on its day, unless it was booked after that time.
    #[arg(long, env = "TERMINAGENT_REMINDER_AT", default_value = "07:00", value_parser = parse_local_time)]
    pub reminder_at: terminagent_domain::LocalTime,
    /// Erase the personal data of citizens whose last booking or wish ended
    /// longer ago than this (e.g. `90d`); unset: kept until erased on request.
    #[arg(long, env = "TERMINAGENT_RETENTION", value_parser = parse_duration)]
    pub retention: Option<Duration>,
    /// Public writes (bookings, wishes, link presses) per client address and
    /// minute; beyond it, 429. 0: no limit.
    #[arg(long, env = "TERMINAGENT_RATE_LIMIT", default_value_t = 60)]
    pub rate_limit: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client (comma-separated
    /// address blocks, e.g. `10.0.0.0/8,::1`); from anyone else it is ignored.
    #[arg(long, env = "TERMINAGENT_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = crate::http::rate_limit::IpBlock::parse)]
    pub trusted_proxies: Vec<crate::http::rate_limit::IpBlock>,
    /// Proof of work for bookings and wishes: the largest secret number a
    /// client searches for (average cost: half as many SHA-256 hashes). 0: off.
    #[arg(long = "proof-of-work", visible_alias = "proof-of-work-difficulty", value_name = "N",
          env = "TERMINAGENT_PROOF_OF_WORK", default_value_t = 500_000,
          value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    pub proof_of_work_difficulty: u64,
    /// Unconfirmed bookings one client network (/24 for IPv4, /64 for IPv6)
    /// may hold at once; beyond it, 429. 0: no limit.
    #[arg(long, env = "TERMINAGENT_MAX_PENDING_BOOKINGS_PER_NETWORK", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub max_pending_bookings_per_network: u32,
    /// Failed sign-ins or bearer tokens one client address (and one account)
    /// may send within 15 minutes; beyond it, 429 with `Retry-After`.
    #[arg(long, env = "TERMINAGENT_FAILED_AUTH_LIMIT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub failed_auth_limit: u32,
    /// Log line format.
    #[arg(long, env = "TERMINAGENT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines with key=value fields.
    Text,
    /// One JSON object per line.
    Json,
}

/// Which components a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// API, matcher and mailer together.
    All,
    Api,
    Matcher,
    Mailer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::All => "serve",
            Role::Api => "api",
            Role::Matcher => "matcher",
            Role::Mailer => "mailer",
        }
    }
}

/// Everything a running process needs to know, parsed and checked once.
#[derive(Debug, Clone)]
pub struct Config {
    pub role: Role,
    pub database_url: String,
    pub bus: BusConfig,
    pub mail: MailTransport,
    pub mail_from: lettre::message::Mailbox,
    pub mail_claim_lease: Duration,
    pub bind: SocketAddr,
    /// None: derived from the bound address once it is known.
    pub public_url: Option<PublicUrl>,
    pub admin_token: Option<AdminToken>,
    /// `--metrics-token`; None: `/metrics` is open.
    pub metrics_token: Option<AdminToken>,
    /// None: the link secret lives in the database.
    pub link_secret_file: Option<PathBuf>,
    pub demo: bool,
    /// `--site-config`, read and checked; without a file the neutral default
    /// (with `--demo`, its demo texts).
    pub site: std::sync::Arc<crate::site::Site>,
    pub proposal_ttl: Duration,
    pub confirm_ttl: Duration,
    pub rate_limit_per_minute: Option<u32>,
    /// `--trusted-proxies`.
    pub trusted_proxies: Vec<crate::http::rate_limit::IpBlock>,
    /// `--proof-of-work`; 0: off.
    pub proof_of_work_difficulty: u64,
    /// `--max-pending-bookings-per-network`; 0: no limit.
    pub max_pending_bookings_per_network: u32,
    /// Failed sign-ins or bearer checks per client address (and per account)
    /// within 15 minutes before further attempts wait.
    pub failed_auth_limit: u32,
    pub log_format: LogFormat,
    pub booking_horizon_days: u32,
    pub max_open_bookings: u32,
    pub max_unanswered_proposals: u32,
    pub check_in_early: Duration,
    pub check_in_late: Duration,
    pub recall_after: Duration,
    /// When reminder mails go out, office time.
    pub reminder_at: terminagent_domain::LocalTime,
    /// `--retention`: erase citizens idle this long; `None`: never by time.
    pub retention: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusConfig {
    /// Components talk through memory; only possible when they share a process.
    InProcess,
    Nats {
        url: String,
        /// The JetStream stream of mail notices.
        stream: String,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "`terminagent {0}` runs one component of several processes, which talk through NATS: \
         give --nats-url (or TERMINAGENT_NATS_URL); the in-process bus works only with `serve`"
    )]
    SplitProcessNeedsNats(&'static str),
    #[error("--nats-url must look like nats://host:port, got {0:?}")]
    BadNatsUrl(String),
    /// `--site-config` names a file that does not hold.
    #[error("{0}")]
    Site(#[from] crate::site::SiteError),
}

impl Config {
    /// The limits booking requests are decided under.
    pub fn booking_policy(&self) -> terminagent_domain::BookingPolicy {
        terminagent_domain::BookingPolicy {
            confirm_ttl: chrono::Duration::from_std(self.confirm_ttl).unwrap_or(chrono::Duration::MAX),
            horizon_days: self.booking_horizon_days,
            max_open_bookings: self.max_open_bookings,
        }
    }

    /// The limits the waitlist's decisions are made under.
    pub fn wish_policy(&self) -> terminagent_domain::WishPolicy {
        terminagent_domain::WishPolicy {
            proposal_ttl: chrono::Duration::from_std(self.proposal_ttl).unwrap_or(chrono::Duration::MAX),
            max_unanswered: self.max_unanswered_proposals,
        }
    }

    /// The floor's check-in window and recall delay.
    pub fn floor_policy(&self) -> terminagent_domain::FloorPolicy {
        let duration = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        terminagent_domain::FloorPolicy {
            check_in_early: duration(self.check_in_early),
            check_in_late: duration(self.check_in_late),
            recall_after: duration(self.recall_after),
        }
    }

    pub fn from_args(role: Role, args: RunArgs) -> Result<Config, ConfigError> {
        let bus = match args.nats_url {
            None if role == Role::All => BusConfig::InProcess,
            None => return Err(ConfigError::SplitProcessNeedsNats(role.name())),
            Some(url) if url.starts_with("nats://") && url.len() > "nats://".len() => BusConfig::Nats {
                url,
                stream: args.nats_stream,
            },
            Some(url) => return Err(ConfigError::BadNatsUrl(url)),
        };
        let site = match &args.site_config {
            Some(path) => crate::site::Site::load(path)?,
            None if args.demo => crate::site::Site::demo(),
            None => crate::site::Site::default(),
        };
        Ok(Config {
            role,
            database_url: args.database.database_url,
            bus,
            mail: args.mail,
            mail_from: args.mail_from,
            mail_claim_lease: args.mail_claim_lease,
            bind: args.bind,
            public_url: args.public_url,
            admin_token: args.admin_token,
            metrics_token: args.metrics_token,
            link_secret_file: args.link_secret_file,
            demo: args.demo,
            site: std::sync::Arc::new(site),
            proposal_ttl: args.proposal_ttl,
            confirm_ttl: args.confirm_ttl,
            rate_limit_per_minute: Some(args.rate_limit).filter(|per_minute| *per_minute > 0),
            trusted_proxies: args.trusted_proxies,
            proof_of_work_difficulty: args.proof_of_work_difficulty,
            max_pending_bookings_per_network: args.max_pending_bookings_per_network,
            failed_auth_limit: args.failed_auth_limit,
            log_format: args.log_format,
            booking_horizon_days: args.booking_horizon_days,
            max_unanswered_proposals: args.max_unanswered_proposals,
            max_open_bookings: args.max_open_bookings,
            check_in_early: args.check_in_early,
            check_in_late: args.check_in_late,
            recall_after: args.recall_after,
            reminder_at: args.reminder_at,
            retention: args.retention,
        })
    }
}

/// Where mails go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// One RFC 5322 `.eml` file per mail in this directory.
    Files(PathBuf),
    Smtp {
        host: String,
        port: u16,
        implicit_tls: bool,
    },
}

impl MailTransport {
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(dir) = text.strip_prefix("file:") {
            if dir.is_empty() {
                return Err("file: needs a directory, e.g. file:./outbox".into());
            }
            return Ok(MailTransport::Files(PathBuf::from(dir)));
        }
        let (rest, implicit_tls, default_port) = if let Some(rest) = text.strip_prefix("smtp://") {
            (rest, false, 25)
        } else if let Some(rest) = text.strip_prefix("smtps://") {
            (rest, true, 465)
        } else {
            return Err(format!(
                "expected file:DIR, smtp://host:port or smtps://host:port, got {text:?}"
            ));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| format!("bad port in {text:?}"))?),
            None => (rest, default_port),
        };
        if host.is_empty() {
            return Err(format!("no host in {text:?}"));
        }
        Ok(MailTransport::Smtp {
            host: host.to_owned(),
            port,
            implicit_tls,
        })
    }
}

/// The base URL of links in mails: `http(s)://host[:port][/prefix]`, kept without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix("http://")
            .or_else(|| text.strip_prefix("https://"))
            .ok_or_else(|| format!("public URL must start with http:// or https://, got {text:?}"))?;
        if rest.is_empty() || rest.starts_with('/') || text.contains(char::is_whitespace) || text.contains(['?', '#']) {
            return Err(format!(
                "public URL needs a host and no query or fragment, got {text:?}"
            ));
        }
        Ok(PublicUrl(text.trim_end_matches('/').to_owned()))
    }

    pub fn for_bound_address(address: SocketAddr) -> Self {
        PublicUrl(format!("http://{address}"))
    }

    /// Whether the site is served over TLS: cookies are `Secure` and
    /// browsers are told to stay on https (HSTS).
    pub fn is_https(&self) -> bool {
        self.as_str().starts_with("https://")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The staff/operations bearer token. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Shorter tokens can be guessed against a public API.
    pub const MIN_CHARS: usize = 32;

    pub fn parse(text: &str) -> Result<Self, String> {
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the admin token must not contain spaces or control characters".into());
        }
        let length = text.chars().count();
        if length < Self::MIN_CHARS {
            return Err(format!(
                "the admin token must be at least {} characters long, this one has {length} \
                 (e.g. `openssl rand -hex 32`)",
                Self::MIN_CHARS
            ));
        }
        Ok(AdminToken(text.to_owned()))
    }

    /// Compares in time independent of where the first difference is.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

fn parse_mailbox(text: &str) -> Result<lettre::message::Mailbox, String> {
    text.parse()
        .map_err(|e| format!("{e}: expected an address such as `Bürgerservice <termine@stadt.example>`"))
}

/// JetStream stream names: letters, digits, `-` and `_` (they also prefix the subjects).
fn parse_stream_name(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > 64 || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("a stream name is 1–64 letters, digits, - or _, got {text:?}"));
    }
    Ok(text.to_owned())
}

fn parse_local_time(text: &str) -> Result<terminagent_domain::LocalTime, String> {
    terminagent_domain::LocalTime::parse(text).map_err(|_| format!("expected a time of day as HH:MM, got {text:?}"))
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 48h, 30m, 2s)"))?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("terminagent").chain(args.iter().copied()))
    }

    fn run_args(cli: Cli) -> (Role, RunArgs) {
        match cli.command {
            Command::Serve(args) => (Role::All, args),
            Command::Api(args) => (Role::Api, args),
            Command::Matcher(args) => (Role::Matcher, args),
            Command::Mailer(args) => (Role::Mailer, args),
            _ => panic!("not a run command"),
        }
    }

    #[test]
    fn defaults_follow_the_contract() {
        let (role, args) = run_args(parse(&["serve"]).unwrap());
        let config = Config::from_args(role, args).unwrap();
        assert_eq!(config.database_url, "sqlite://terminagent.db");
        assert_eq!(config.bus, BusConfig::InProcess);
        assert_eq!(config.mail, MailTransport::Files(PathBuf::from("./outbox")));
        assert_eq!(config.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.public_url, None);
        assert!(config.admin_token.is_none() && !config.demo);
        // Against hoarding: on unless switched off.
        assert_eq!(config.rate_limit_per_minute, Some(60));
        assert_eq!(config.proof_of_work_difficulty, 500_000);
        assert_eq!(config.max_pending_bookings_per_network, 10);
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(config.link_secret_file, None);
        assert_eq!(config.proposal_ttl, Duration::from_secs(48 * 3600));
        assert_eq!(config.confirm_ttl, Duration::from_secs(30 * 60));
        assert_eq!(config.mail_claim_lease, Duration::from_secs(60));
        assert_eq!(
            config.booking_policy(),
            terminagent_domain::BookingPolicy {
                confirm_ttl: chrono::Duration::minutes(30),
                ..terminagent_domain::BookingPolicy::default()
            }
        );
        assert_eq!(config.wish_policy(), terminagent_domain::WishPolicy::default());
        assert_eq!(config.floor_policy(), terminagent_domain::FloorPolicy::default());
        assert_eq!(
            config.reminder_at,
            terminagent_domain::LocalTime::from_hm(7, 0).unwrap()
        );
    }

    #[test]
    fn every_flag_parses() {
        let cli = parse(&[
            "api",
            "--database-url=postgres://postgres@127.0.0.1/terminagent",
            "--nats-url=nats://127.0.0.1:4222",
            "--mail=smtps://mail.example.org:2465",
            "--bind=0.0.0.0:0",
            "--public-url=https://termine.example.org/",
            "--admin-token=s3cret-s3cret-s3cret-s3cret-s3cret",
            "--demo",
            "--link-secret-file=/etc/terminagent/links.key",
            "--proposal-ttl=2s",
            "--confirm-ttl=30m",
            "--mail-claim-lease=2m",
            "--rate-limit=60",
            "--trusted-proxies=10.0.0.0/8,::1",
            "--proof-of-work=0",
            "--max-pending-bookings-per-network=4",
            "--log-format=json",
            "--check-in-early=20m",
            "--check-in-late=90s",
            "--recall-after=3m",
        ])
        .unwrap();
        let (role, args) = run_args(cli);
        let config = Config::from_args(role, args).unwrap();
        assert_eq!(config.role, Role::Api);
        assert_eq!(
            config.bus,
            BusConfig::Nats {
                url: "nats://127.0.0.1:4222".into(),
                stream: "TERMINAGENT_MAIL".into(),
            }
        );
        assert_eq!(
            config.mail,
            MailTransport::Smtp {
                host: "mail.example.org".into(),
                port: 2465,
                implicit_tls: true
            }
        );
        assert_eq!(
            config.floor_policy(),
            terminagent_domain::FloorPolicy {
                check_in_early: chrono::Duration::minutes(20),
                check_in_late: chrono::Duration::seconds(90),
                recall_after: chrono::Duration::minutes(3),
            }
        );
        assert_eq!(config.public_url.unwrap().as_str(), "https://termine.example.org");
        assert!(
            config
                .admin_token
                .unwrap()
                .matches("s3cret-s3cret-s3cret-s3cret-s3cret")
        );
        assert!(config.demo);
        assert_eq!(
            config.link_secret_file,
            Some(PathBuf::from("/etc/terminagent/links.key"))
        );
        assert_eq!(config.proposal_ttl, Duration::from_secs(2));
        assert_eq!(config.confirm_ttl, Duration::from_secs(1800));
        assert_eq!(config.mail_claim_lease, Duration::from_secs(120));
        assert_eq!(config.rate_limit_per_minute, Some(60));
        let proxies: Vec<String> = config.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(proxies, ["10.0.0.0/8", "::1/128"]);
        assert_eq!(config.proof_of_work_difficulty, 0);
        assert_eq!(config.max_pending_bookings_per_network, 4);
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn zero_switches_the_hoarding_limits_off() {
        let cli = parse(&[
            "serve",
            "--rate-limit=0",
            // The brief's name for the flag works as well.
            "--proof-of-work-difficulty=0",
            "--max-pending-bookings-per-network=0",
        ])
        .unwrap();
        let (role, args) = run_args(cli);
        let config = Config::from_args(role, args).unwrap();
        assert_eq!(config.rate_limit_per_minute, None);
        assert_eq!(config.proof_of_work_difficulty, 0);
        assert_eq!(config.max_pending_bookings_per_network, 0);
    }

    #[test]
    fn retention_is_off_by_default_and_takes_a_duration() {
        let (role, args) = run_args(parse(&["serve"]).unwrap());
        assert_eq!(Config::from_args(role, args).unwrap().retention, None);
        let (role, args) = run_args(parse(&["api", "--nats-url=nats://127.0.0.1:4222", "--retention=90d"]).unwrap());
        assert_eq!(
            Config::from_args(role, args).unwrap().retention,
            Some(Duration::from_secs(90 * 24 * 3600))
        );
        assert!(parse(&["serve", "--retention=0s"]).is_err());
        assert!(parse(&["serve", "--retention=bald"]).is_err());
        let Command::Erase(erase) = parse(&["erase", "--email", "erika@example.org"]).unwrap().command else {
            panic!("erase parses")
        };
        assert_eq!(erase.email, "erika@example.org");
        assert!(parse(&["erase"]).is_err(), "--email is required");
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        for bad in [
            vec!["serve", "--mail=ftp://x"],
            vec!["serve", "--mail=file:"],
            vec!["serve", "--mail=smtp://:25"],
            vec!["serve", "--bind=localhost"],
            vec!["serve", "--public-url=termine.example.org"],
            vec!["serve", "--proposal-ttl=soon"],
            vec!["serve", "--confirm-ttl=0s"],
            vec!["serve", "--rate-limit=-1"],
            vec!["serve", "--trusted-proxies=10.0.0.0/33"],
            vec!["serve", "--trusted-proxies=proxy.local"],
            vec!["serve", "--proof-of-work=viel"],
            vec!["serve", "--check-in-late=0s"],
            vec!["serve", "--recall-after=bald"],
            vec!["serve", "--reminder-at=7:00"],
            vec!["serve", "--reminder-at=24:00"],
            vec!["serve", "--admin-token="],
            vec!["serve", "--admin-token=only-31-characters-long-0123456"],
            vec!["serve", "--unknown"],
        ] {
            let error = parse(&bad).expect_err(&format!("{bad:?} must be refused"));
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn a_short_admin_token_is_refused_saying_how_long() {
        let error = AdminToken::parse(&"x".repeat(31)).unwrap_err();
        assert!(
            error.contains("at least 32 characters") && error.contains("has 31"),
            "{error}"
        );
        assert!(AdminToken::parse(&"x".repeat(32)).is_ok());
    }

    #[test]
    fn split_processes_need_nats() {
        let (role, args) = run_args(parse(&["matcher"]).unwrap());
        assert_eq!(
            Config::from_args(role, args).unwrap_err(),
            ConfigError::SplitProcessNeedsNats("matcher")
        );
        let (role, args) = run_args(parse(&["serve", "--nats-url=localhost:4222"]).unwrap());
        assert!(matches!(Config::from_args(role, args), Err(ConfigError::BadNatsUrl(_))));
    }

    #[test]
    fn smtp_port_defaults() {
        assert_eq!(
            MailTransport::parse("smtp://127.0.0.1").unwrap(),
            MailTransport::Smtp {
                host: "127.0.0.1".into(),
                port: 25,
                implicit_tls: false
            }
        );
    }

    #[test]
    fn admin_token_is_never_printed() {
        let token = AdminToken::parse("very-secret-very-secret-very-secret").unwrap();
        assert!(!format!("{token:?}").contains("very-secret"));
        assert!(
            !token.matches("very-secret-very-secret-very-secreT")
                && !token.matches("very-secret-very-secret-very-secre")
        );
    }
}
