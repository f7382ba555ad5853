//! Wiring: from a [`Config`] to a running process.

use std::net::SocketAddr;

use terminagent_eventstore::{EventStore, StorageError, StoreOptions};
use tokio::net::TcpListener;

use std::sync::Arc;

use crate::application::{Clock, Executor, SystemClock};
use crate::config::{BusConfig, Config, MailTransport, PublicUrl, Role};
use crate::http::{self, AppState};
use crate::links::LinkSecret;
use crate::mail::{InProcessBus, JetStreamBus, MailBus, MailComposer, MailRelay, MailSender, Mailer};
use crate::projections::LiveProjection;
use crate::readiness::{Bus, Dependencies};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("event store {url}: {source}")]
    Store { url: String, source: StorageError },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create the mail outbox {dir}: {source}")]
    Outbox { dir: String, source: std::io::Error },
    #[error("bad NATS address {url}: {source}")]
    Nats {
        url: String,
        source: async_nats::ConnectError,
    },
    #[error("reading the installation's link secret: {0}")]
    Secret(String),
    #[error("seeding the demo catalogue: {0}")]
    Demo(crate::demo::SeedError),
    #[error("mail transport: {0}")]
    Mail(String),
}

/// Opens the store named by `url` and applies its migrations.
pub async fn open_store(url: &str) -> Result<EventStore, StartError> {
    let failed = |source| StartError::Store {
        url: redact(url),
        source,
    };
    let store = EventStore::connect(url, StoreOptions::default())
        .await
        .map_err(failed)?;
    store.migrate().await.map_err(failed)?;
    // The Rust half of the keyed e-mail index's migration (SQL cannot
    // compute the HMAC): rows of the bare SHA-256 index are rekeyed.
    match store.vault().rekey_email_index().await {
        Ok(0) => {}
        Ok(rekeyed) => tracing::info!(rekeyed, "citizen index entries rekeyed (HMAC)"),
        Err(terminagent_eventstore::VaultError::Storage(error)) => return Err(failed(error)),
        Err(error) => {
            return Err(failed(StorageError::Corrupt {
                at: "citizen_envelopes".into(),
                reason: format!("rekeying the e-mail index: {error}"),
            }));
        }
    }
    Ok(store)
}

/// A process that has bound its port and is ready to serve.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    public_url: PublicUrl,
    router: axum::Router,
    /// Tells endless answers (event streams) that the server shuts down.
    shutting_down: tokio::sync::watch::Sender<bool>,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartError> {
        Application::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] on a clock of the caller's (tests that need
    /// the time of day under control, e.g. for the floor's check-in window).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Application, StartError> {
        let store = open_store(&config.database_url).await?;
        if let MailTransport::Files(dir) = &config.mail {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| StartError::Outbox {
                    dir: dir.display().to_string(),
                    source,
                })?;
        }
        let (bus, mail_bus) = match &config.bus {
            BusConfig::InProcess => (Bus::InProcess, MailBus::InProcess(InProcessBus::default())),
            BusConfig::Nats { url, stream } => {
                // Start even while NATS is down; /readyz says so until it is back.
                let client = async_nats::ConnectOptions::new()
                    .retry_on_initial_connect()
                    .connect(url.as_str())
                    .await
                    .map_err(|source| StartError::Nats {
                        url: url.clone(),
                        source,
                    })?;
                let log = crate::mail::LogId::of(&store)
                    .await
                    .map_err(|source| StartError::Secret(format!("the mail log id: {source}")))?;
                let mail_bus = MailBus::JetStream(Box::new(JetStreamBus::new(client.clone(), stream.clone(), log)));
                (Bus::Nats(client), mail_bus)
            }
        };
        let mail_sender = MailSender::new(&config.mail).map_err(|source| StartError::Mail(source.to_string()))?;
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                address: config.bind,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| StartError::Bind {
            address: config.bind,
            source,
        })?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| PublicUrl::for_bound_address(address));
        let executor = Executor::new(store.clone(), clock);
        if config.demo {
            match crate::demo::seed_if_empty(&executor).await.map_err(StartError::Demo)? {
                Some(seeded) => tracing::info!(
                    offices = seeded.offices,
                    services = seeded.services,
                    capacity_units = seeded.capacity_units,
                    "demo catalogue seeded"
                ),
                None => tracing::info!("demo catalogue not seeded: the log already holds events"),
            }
        }
        let link_secret = match &config.link_secret_file {
            Some(path) => {
                warn_if_others_may_read(path);
                LinkSecret::from_file(path).map_err(|source| StartError::Secret(source.to_string()))?
            }
            None => store
                .vault()
                .installation_secret(LinkSecret::NAME)
                .await
                .map(LinkSecret::new)
                .map_err(|source| StartError::Secret(source.to_string()))?,
        };
        let catalogue = Arc::new(LiveProjection::spawn(store.clone()));
        let links = Arc::new(LiveProjection::spawn(store.clone()));
        let availability = Arc::new(LiveProjection::spawn(store.clone()));
        let staff = Arc::new(LiveProjection::spawn(store.clone()));
        let day_list = Arc::new(LiveProjection::spawn(store.clone()));
        let floor = Arc::new(LiveProjection::spawn(store.clone()));
        let statistics = Arc::new(LiveProjection::spawn(store.clone()));
        let serves_api = matches!(config.role, Role::All | Role::Api);
        let reminders: Option<Arc<LiveProjection<crate::projections::RemindersView>>> =
            serves_api.then(|| Arc::new(LiveProjection::spawn(store.clone())));
        // Serve only views that reflect the log as it was at start.
        let head = store.catch_up().await.map_err(|source| StartError::Store {
            url: redact(&config.database_url),
            source,
        })?;
        catalogue.caught_up_to(head).await;
        links.caught_up_to(head).await;
        availability.caught_up_to(head).await;
        staff.caught_up_to(head).await;
        day_list.caught_up_to(head).await;
        floor.caught_up_to(head).await;
        statistics.caught_up_to(head).await;
        if let Some(reminders) = &reminders {
            reminders.caught_up_to(head).await;
        }
        // Background work lives as long as the process; it ends with the runtime.
        if let Some(reminders) = &reminders {
            crate::application::reminders::spawn_reminder_timer(
                executor.clone(),
                config.reminder_at,
                catalogue.clone(),
                reminders.clone(),
            );
        }
        if serves_api {
            crate::application::spawn_lapse_timer(executor.clone(), links.clone());
            if let Some(retention) = config.retention {
                crate::application::erasure::spawn_retention_timer(
                    executor.clone(),
                    retention,
                    Arc::new(LiveProjection::spawn(store.clone())),
                );
            }
            crate::application::floor::spawn_no_show_timer(
                executor.clone(),
                config.floor_policy(),
                floor.clone(),
                catalogue.clone(),
            );
            tokio::spawn(
                MailRelay {
                    store: store.clone(),
                    bus: mail_bus.clone(),
                }
                .run(),
            );
        }
        if matches!(config.role, Role::All | Role::Matcher) {
            tokio::spawn(
                crate::matcher::MatcherService {
                    executor: executor.clone(),
                    links: link_secret.clone(),
                    policy: config.wish_policy(),
                    snapshots: crate::matcher::SnapshotPolicy::default(),
                }
                .run(),
            );
            // The audit's index beside the matcher: snapshots of the trace's own fold.
            tokio::spawn(crate::audit::index::WhyIndexer::run(store.clone()));
        }
        if matches!(config.role, Role::All | Role::Mailer) {
            let mailer = Mailer {
                composer: MailComposer {
                    store: store.clone(),
                    catalogue: catalogue.clone(),
                    secret: link_secret.clone(),
                    public_url: public_url.clone(),
                    from: config.mail_from.clone(),
                },
                sender: mail_sender,
                progress: store.progress(),
                claim_lease: chrono::Duration::from_std(config.mail_claim_lease).unwrap_or(chrono::Duration::MAX),
                incarnation: ulid::Ulid::new().to_string(),
            };
            tokio::spawn(mailer.run(mail_bus));
        }
        let dependencies = Dependencies {
            store,
            bus,
            mail: config.mail.clone(),
        };
        let (shutting_down, _) = tokio::sync::watch::channel(false);
        // The challenges' key comes from the link secret: every API process of
        // the installation accepts the challenges of the others.
        let proof_of_work = (config.proof_of_work_difficulty > 0).then(|| {
            let key = link_secret.token("proof-of-work", "challenge-key");
            Arc::new(crate::http::proof_of_work::ProofOfWork::new(
                key.as_str().as_bytes(),
                config.proof_of_work_difficulty,
            ))
        });
        let state = AppState {
            dependencies,
            executor,
            catalogue,
            links,
            availability,
            staff,
            day_list,
            reminders,
            floor,
            statistics,
            floor_policy: config.floor_policy(),
            shutdown: shutting_down.subscribe(),
            failed_auth: Arc::new(crate::http::auth::FailedAttempts::new(
                config.failed_auth_limit as usize,
                crate::http::auth::FailedAttempts::WINDOW,
            )),
            admin_token: config.admin_token.clone(),
            metrics_token: config.metrics_token.clone(),
            metrics: Arc::new(crate::metrics::Metrics::new()),
            booking_policy: config.booking_policy(),
            link_secret,
            rate_limit: config
                .rate_limit_per_minute
                .and_then(std::num::NonZeroU32::new)
                .map(|per_minute| {
                    let limit = Arc::new(crate::http::rate_limit::PublicWriteLimit::per_minute(per_minute));
                    let forgetful = Arc::downgrade(&limit);
                    tokio::spawn(async move {
                        let mut minutes = tokio::time::interval(std::time::Duration::from_secs(60));
                        loop {
                            minutes.tick().await;
                            let Some(limit) = forgetful.upgrade() else { return };
                            limit.forget_idle_clients();
                        }
                    });
                    limit
                }),
            trusted_proxies: Arc::new(crate::http::rate_limit::TrustedProxies::new(
                config.trusted_proxies.clone(),
            )),
            proof_of_work,
            pending_bookings: (config.max_pending_bookings_per_network > 0).then(|| {
                Arc::new(crate::http::pending_limit::PendingBookingsPerNetwork::new(
                    config.max_pending_bookings_per_network,
                    config.booking_policy().confirm_ttl,
                ))
            }),
            public_url: public_url.clone(),
            site: config.site.clone(),
        };
        let router = if serves_api {
            http::router(state)
        } else {
            http::operations_router(state)
        };
        Ok(Application {
            listener,
            address,
            public_url,
            router,
            shutting_down,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn public_url(&self) -> &PublicUrl {
        &self.public_url
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            self.shutting_down.send_replace(true);
        })
        .await
    }
}

/// The link secret makes every link: a file others may read deserves a word.
fn warn_if_others_may_read(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", metadata.permissions().mode() & 0o777),
            "the link secret file can be read by other users; `chmod 600` it"
        );
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// A database URL fit for logs: the password replaced.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_do_not_reach_logs() {
        assert_eq!(
            super::redact("postgres://app:hunter2@db/terminagent"),
            "postgres://app:***@db/terminagent"
        );
        assert_eq!(
            super::redact("postgres://app@db/terminagent"),
            "postgres://app@db/terminagent"
        );
        assert_eq!(super::redact("sqlite://terminagent.db"), "sqlite://terminagent.db");
    }
}
