//! The bus between relay and mailer. `publish` returns once the bus holds
//! the notices safely: JetStream has stored them (deduplicated by
//! `Nats-Msg-Id` = event id), or — in one process, where nothing survives a
//! crash anyway — the mailer has handled them. Only then does the relay move
//! its checkpoint, so a crash repeats notices rather than losing them.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::MailNotice;

/// The durable consumer name every mailer process shares (JetStream hands
/// each message to one of them).
const MAILER_CONSUMER: &str = "mailer";

#[derive(Clone)]
pub enum MailBus {
    InProcess(InProcessBus),
    JetStream(JetStreamBus),
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error("the mailer has stopped")]
    MailerGone,
    #[error("encoding a notice: {0}")]
    Encode(#[from] serde_json::Error),
}

/// A notice handed to the mailer with the means to say it is done.
pub struct Delivery {
    pub notice: MailNotice,
    done: oneshot::Sender<()>,
}

impl Delivery {
    pub fn done(self) {
        let _ = self.done.send(());
    }
}

/// Relay and mailer in one process: a channel, and the relay waits for each
/// notice to be handled.
#[derive(Clone)]
pub struct InProcessBus {
    sender: mpsc::Sender<Delivery>,
    receiver: Arc<Mutex<mpsc::Receiver<Delivery>>>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        let (sender, receiver) = mpsc::channel(64);
        InProcessBus {
            sender,
            receiver: Arc::new(Mutex::new(receiver)),
        }
    }
}

impl InProcessBus {
    /// The next notices to handle, at most `max`: the first waited for, the
    /// rest those already handed over; `None` when every publisher is gone.
    pub async fn receive(&self, max: usize) -> Option<Vec<Delivery>> {
        let mut receiver = self.receiver.lock().await;
        let mut deliveries = vec![receiver.recv().await?];
        while deliveries.len() < max {
            match receiver.try_recv() {
                Ok(delivery) => deliveries.push(delivery),
                Err(_) => break,
            }
        }
        Some(deliveries)
    }
}

/// JetStream: one stream, one subject per event type under the stream's name.
#[derive(Clone)]
pub struct JetStreamBus {
    context: jetstream::Context,
    stream: String,
}

impl JetStreamBus {
    pub fn new(client: async_nats::Client, stream: impl Into<String>) -> Self {
        JetStreamBus {
            context: jetstream::new(client),
            stream: stream.into(),
        }
    }

    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// The stream, created on first use. File storage: the server keeps what it acknowledged.
    pub async fn ensure_stream(&self) -> Result<stream::Stream, BusError> {
        self.context
            .get_or_create_stream(stream::Config {
                name: self.stream.clone(),
                subjects: vec![format!("{}.>", self.stream)],
                storage: stream::StorageType::File,
                // Relay restarts republish from the checkpoint; the window
                // drops those repeats, the mailer's ledger catches the rest.
                duplicate_window: Duration::from_secs(10 * 60),
                max_age: Duration::from_secs(14 * 24 * 3600),
                ..Default::default()
            })
            .await
            .map_err(|error| BusError::JetStream(error.to_string()))
    }

    /// The mailers' shared durable consumer.
    pub async fn mailer_consumer(&self) -> Result<jetstream::consumer::Consumer<pull::Config>, BusError> {
        self.ensure_stream()
            .await?
            .get_or_create_consumer(
                MAILER_CONSUMER,
                pull::Config {
                    durable_name: Some(MAILER_CONSUMER.to_owned()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    // Longer than an SMTP timeout: a slow send is not redelivered meanwhile.
                    ack_wait: Duration::from_secs(60),
                    ..Default::default()
                },
            )
            .await
            .map_err(|error| BusError::JetStream(error.to_string()))
    }

    async fn publish(&self, notices: &[MailNotice]) -> Result<(), BusError> {
        // Send all, then collect the acknowledgements: one round trip per batch.
        let mut acks = Vec::with_capacity(notices.len());
        for notice in notices {
            let publish = jetstream::context::Publish::build()
                .payload(serde_json::to_vec(notice)?.into())
                .message_id(notice.event_id.to_string());
            let subject = format!("{}.{}", self.stream, notice.event_type);
            acks.push(
                self.context
                    .send_publish(subject, publish)
                    .await
                    .map_err(|error| BusError::JetStream(error.to_string()))?,
            );
        }
        for ack in acks {
            ack.await.map_err(|error| BusError::JetStream(error.to_string()))?;
        }
        Ok(())
    }
}

impl MailBus {
    /// Returns once the bus holds `notices` safely (see the module comment).
    pub async fn publish(&self, notices: &[MailNotice]) -> Result<(), BusError> {
        match self {
            MailBus::JetStream(bus) => bus.publish(notices).await,
            MailBus::InProcess(bus) => {
                // All handed over first, so the mailer may take them together.
                let mut handled = Vec::with_capacity(notices.len());
                for notice in notices {
                    let (done, was_handled) = oneshot::channel();
                    let delivery = Delivery {
                        notice: notice.clone(),
                        done,
                    };
                    bus.sender.send(delivery).await.map_err(|_| BusError::MailerGone)?;
                    handled.push(was_handled);
                }
                for was_handled in handled {
                    was_handled.await.map_err(|_| BusError::MailerGone)?;
                }
                Ok(())
            }
        }
    }
}
