//! `terminagent`: the one binary (API.md "Running").

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use terminagent::app::{self, Application};
use terminagent::application::staff::AccountOutcome;
use terminagent::config::{Cli, Command, Config, LogFormat, Role, StaffCommand};

/// Requests allocate and free many small buffers across threads; glibc's
/// allocator spent a sixth of the server's CPU on that under booking load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The audit commands have exit codes of their own (1: not found, 2: usage or connection).
    if let Command::Audit(command) = &cli.command {
        return match terminagent::audit::cli::run(command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("terminagent: {error}");
                ExitCode::from(error.exit_code())
            }
        };
    }
    // So has erasure (0: erased or nothing to erase, 2: usage or connection).
    if let Command::Erase(args) = &cli.command {
        return match terminagent::application::erasure::run_cli(args).await {
            Ok(message) => {
                println!("{message}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("terminagent: {error}");
                ExitCode::from(2)
            }
        };
    }
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One readable line with its causes, not a backtrace.
            let mut message = error.to_string();
            for cause in error.chain().skip(1).map(ToString::to_string) {
                if !message.contains(&cause) {
                    message = format!("{message}: {cause}");
                }
            }
            eprintln!("terminagent: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (role, args) = match cli.command {
        Command::MigrateLog(args) => {
            println!("{}", terminagent::migrate_log::run(&args).await?);
            return Ok(());
        }
        Command::Migrate(args) => {
            terminagent::telemetry::init(LogFormat::Text);
            app::open_store(&args.database_url).await?;
            tracing::info!(database = %app::redact(&args.database_url), "migrations applied");
            return Ok(());
        }
        Command::Staff(StaffCommand::Add(args)) => {
            let added = terminagent::staff_cli::add(&args).await?;
            let what = match added.outcome {
                AccountOutcome::Created(_) => "created",
                AccountOutcome::Updated(_) => "changed",
                AccountOutcome::Unchanged(_) => "unchanged",
            };
            println!("account {} {what} ({})", added.email, added.outcome.staff());
            println!("one-time password: {}", added.one_time_password);
            println!("sign in at /staff/login; the password must be replaced at the first sign-in");
            return Ok(());
        }
        Command::Audit(_) => unreachable!("handled in main"),
        Command::Erase(_) => unreachable!("handled in main"),
        Command::Simulate(args) => return Ok(terminagent::simulate::cli::run(args).await?),
        Command::Serve(args) => (Role::All, args),
        Command::Api(args) => (Role::Api, args),
        Command::Matcher(args) => (Role::Matcher, args),
        Command::Mailer(args) => (Role::Mailer, args),
    };
    terminagent::telemetry::init(args.log_format);
    let config = Config::from_args(role, args)?;
    let database = app::redact(&config.database_url);
    let application = Application::build(config.clone())
        .await
        .context("starting terminagent")?;
    tracing::info!(
        address = %application.address(),
        url = %format!("http://{}", application.address()),
        public_url = application.public_url().as_str(),
        role = role.name(),
        database,
        "listening"
    );
    application
        .run_until(app::shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}
