//! Where finished mails go (`--mail`): `.eml` files or an SMTP server.

use std::time::Duration;

use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailTransport;

#[derive(Clone)]
pub enum MailSender {
    Files(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("writing the mail file: {0}")]
    File(#[from] lettre::transport::file::Error),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

impl SendError {
    /// A permanent refusal (5xx) will not go away by retrying.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Smtp(error) if error.is_permanent())
    }
}

impl MailSender {
    pub fn new(transport: &MailTransport) -> Result<Self, SendError> {
        Ok(match transport {
            MailTransport::Files(dir) => MailSender::Files(AsyncFileTransport::new(dir)),
            MailTransport::Smtp {
                host,
                port,
                implicit_tls,
            } => {
                let builder = if *implicit_tls {
                    AsyncSmtpTransport::<Tokio1Executor>::relay(host)?
                } else {
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                };
                MailSender::Smtp(builder.port(*port).timeout(Some(Duration::from_secs(10))).build())
            }
        })
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            MailSender::Files(files) => files.send(message).await.map(drop)?,
            MailSender::Smtp(smtp) => smtp.send(message).await.map(drop)?,
        }
        Ok(())
    }
}
