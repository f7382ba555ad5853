//! The bus between relay and mailer. `publish` returns once the bus holds
//! the notices safely: JetStream has stored them (deduplicated by
//! `Nats-Msg-Id` = event id), or — in one process, where nothing survives a
//! crash anyway — the mailer has handled them. Only then does the relay move
//! its checkpoint, so a crash repeats notices rather than losing them.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{LogId, MailNotice};

/// How often JetStream hands a notice out before the mailer gives it up
/// (backing off to 5 minutes: about a day of retries), recording what it
/// gave up on in the sent-mail ledger. Unbounded, a notice that can never
/// be sent would be redelivered forever ahead of fresh mail.
pub const MAX_DELIVER: i64 = 300;

#[derive(Clone)]
pub enum MailBus {
    InProcess(InProcessBus),
    // Boxed: the JetStream client and names are large beside the channel.
    JetStream(Box<JetStreamBus>),
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
///
/// Each log publishes under `STREAM.<log id>.<event type>` and its mailers
/// share the durable consumer `mailer-<log id>` filtered to those subjects
/// (see [`LogId`]): notices of other installations on the same stream never
/// reach them.
pub struct JetStreamBus {
    context: jetstream::Context,
    stream: String,
    log: LogId,
}

impl JetStreamBus {
    pub fn new(client: async_nats::Client, stream: impl Into<String>, log: LogId) -> Self {
        JetStreamBus {
            context: jetstream::new(client),
            stream: stream.into(),
            log,
        }
    }

    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// The log this bus carries notices of.
    pub fn log(&self) -> &LogId {
        &self.log
    }

    /// The durable consumer this log's mailers share (JetStream hands each
    /// message to one of them).
    pub fn consumer_name(&self) -> String {
        format!("mailer-{}", self.log)
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
                &self.consumer_name(),
                pull::Config {
                    durable_name: Some(self.consumer_name()),
                    filter_subject: format!("{}.{}.>", self.stream, self.log),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    // Longer than an SMTP timeout: a slow send is not redelivered meanwhile.
                    ack_wait: Duration::from_secs(60),
                    max_deliver: MAX_DELIVER,
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
            let notice = MailNotice {
                log: Some(self.log.clone()),
                ..notice.clone()
            };
            let publish = jetstream::context::Publish::build()
                .payload(serde_json::to_vec(&notice)?.into())
                .message_id(notice.event_id.to_string());
            let subject = format!("{}.{}.{}", self.stream, self.log, notice.event_type);
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
