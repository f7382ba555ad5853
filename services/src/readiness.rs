//! What `/readyz` checks: the event store answers, the bus is connected, and
//! mail can be delivered (the outbox directory is writable, or the SMTP server
//! accepts connections).

use std::time::Duration;

use serde::Serialize;
use terminagent_eventstore::EventStore;

use crate::config::MailTransport;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The parts a process depends on.
#[derive(Clone)]
pub struct Dependencies {
    pub store: EventStore,
    pub bus: Bus,
    pub mail: MailTransport,
}

/// The message bus between components.
#[derive(Clone)]
pub enum Bus {
    InProcess,
    Nats(async_nats::Client),
}

/// Whether the process can serve: every check passed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub checks: Vec<Check>,
}

/// One dependency's check.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ReadinessCheck)]
pub struct Check {
    /// `store`, `bus` or `mail`.
    #[schema(value_type = String, example = "store")]
    pub component: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    fn of(component: &'static str, result: Result<String, String>) -> Check {
        match result {
            Ok(detail) => Check {
                component,
                ok: true,
                detail,
            },
            Err(detail) => Check {
                component,
                ok: false,
                detail,
            },
        }
    }
}

impl Dependencies {
    pub async fn readiness(&self) -> Readiness {
        let (store, bus, mail) = tokio::join!(self.check_store(), self.check_bus(), self.check_mail());
        let checks = vec![
            Check::of("store", store),
            Check::of("bus", bus),
            Check::of("mail", mail),
        ];
        Readiness {
            ready: checks.iter().all(|check| check.ok),
            checks,
        }
    }

    async fn check_store(&self) -> Result<String, String> {
        match tokio::time::timeout(CHECK_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => Ok(format!("{:?} reachable", self.store.backend()).to_lowercase()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("no answer within 2 s".into()),
        }
    }

    async fn check_bus(&self) -> Result<String, String> {
        match &self.bus {
            Bus::InProcess => Ok("in-process".into()),
            Bus::Nats(client) => match client.connection_state() {
                async_nats::connection::State::Connected => Ok("nats connected".into()),
                state => Err(format!("nats {state}")),
            },
        }
    }

    async fn check_mail(&self) -> Result<String, String> {
        match &self.mail {
            MailTransport::Files(dir) => {
                let probe = dir.join(".terminagent-ready");
                tokio::fs::write(&probe, b"ok")
                    .await
                    .map_err(|e| format!("cannot write to {}: {e}", dir.display()))?;
                let _ = tokio::fs::remove_file(&probe).await;
                Ok(format!("writing .eml files to {}", dir.display()))
            }
            MailTransport::Smtp { host, port, .. } => {
                match tokio::time::timeout(CHECK_TIMEOUT, tokio::net::TcpStream::connect((host.as_str(), *port))).await
                {
                    Ok(Ok(_)) => Ok(format!("smtp {host}:{port} reachable")),
                    Ok(Err(error)) => Err(format!("smtp {host}:{port}: {error}")),
                    Err(_) => Err(format!("smtp {host}:{port}: no answer within 2 s")),
                }
            }
        }
    }
}
