//! Takes notices off the bus and sends each mail once: the sent-ledger is
//! checked before and written right after sending, and only then is the
//! notice acknowledged.

use chrono::Utc;
use futures::TryStreamExt;
use terminagent_eventstore::{ConsumerProgress, MailClaim, StorageError};

use super::bus::{BusError, MailBus};
use super::compose::{ComposeError, Composed, MailComposer};
use super::transport::{MailSender, SendError};
use super::{MailNotice, backoff};

/// How many notices a mailer process handles at once.
const CONCURRENT_MAILS: usize = 16;
/// How many notices the mailer beside the API takes together at most.
const TOGETHER_IN_PROCESS: usize = 64;

pub struct Mailer {
    pub composer: MailComposer,
    pub sender: MailSender,
    pub progress: ConsumerProgress,
    /// How long a claim protects a mail being sent; after that another
    /// mailer takes it over (the first is taken for dead). See
    /// [`crate::config::RunArgs::mail_claim_lease`].
    pub claim_lease: chrono::Duration,
    /// This process's incarnation: names its claims, and beats while the
    /// mailer runs (see [`Mailer::run`]), so its claims are taken over at
    /// once when it dies.
    pub incarnation: String,
}

/// How often a running mailer says its incarnation is alive.
const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How long one heartbeat keeps the incarnation's claims: a process killed
/// mid-send holds its mails up this long at most. A few beats, so one slow
/// renewal does not give a live mailer's claims away.
const HEARTBEAT_HOLDS: chrono::Duration = chrono::Duration::seconds(3);
/// How soon a mail held by another claim is looked at again: a claim of a
/// dead incarnation frees it within [`HEARTBEAT_HOLDS`].
const HELD_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// What became of a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Sent,
    /// Recorded without a mail, for this reason.
    Skipped(String),
    /// The ledger already had it (a redelivery).
    AlreadyHandled,
}

impl Handled {
    /// What the sent-ledger keeps for a mail that ended so.
    fn ledger_record(&self) -> String {
        match self {
            Handled::Skipped(reason) => format!("skipped: {reason}"),
            _ => "sent".to_owned(),
        }
    }
}

/// Trouble that may pass: the notice is tried again later.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Send(#[from] SendError),
    /// Another claim holds the mail: a mailer sending it now, or one that
    /// died holding it. Not handled yet; tried again until that claim ends
    /// or lapses, so the mail is sent once and never dropped.
    #[error("another mailer's claim holds this mail until it ends or lapses")]
    Held,
}

impl Mailer {
    /// Handles one notice: at most one mail per event. The ledger claim is
    /// taken before sending, so two mailers given the same notice (a
    /// redelivery, a second process) never both send it; a mail claimed but
    /// not finished is not handled until its claim ends or lapses.
    pub async fn handle(&self, notice: &MailNotice) -> Result<Handled, MailError> {
        let key = notice.mail_key();
        let now = Utc::now();
        match self
            .progress
            .claim_mail(&key, &self.incarnation, now, self.stale_before(now))
            .await?
        {
            MailClaim::Ours => {}
            MailClaim::Finished => return Ok(Handled::AlreadyHandled),
            MailClaim::Held => return Err(MailError::Held),
        }
        let outcome = match self.send(notice).await {
            Ok(outcome) => outcome,
            Err(error) => {
                self.progress.release_mail(&key).await?;
                return Err(error);
            }
        };
        let record = outcome.ledger_record();
        self.progress.finish_mail(&key, &record, Utc::now()).await?;
        tracing::info!(event_id = %notice.event_id, event_type = %notice.event_type, outcome = %record, "mail handled");
        Ok(outcome)
    }

    /// Handles notices handed over together, as [`Mailer::handle`] does each,
    /// with one ledger claim for all of them (one statement for the lot
    /// instead of one per mail). Each mail is recorded right after it is
    /// sent, before the next one goes out: a process that dies mid-batch
    /// leaves at most the mail in flight to be sent again, never the ones
    /// before it. Says for each whether it is done; one that is not (its mail
    /// could not be sent yet, or it was not claimed: finished before, or held
    /// by another claim) is left to [`Mailer::handle`].
    pub async fn handle_together(&self, notices: &[&MailNotice]) -> Vec<bool> {
        let keys: Vec<String> = notices.iter().map(|notice| notice.mail_key()).collect();
        let now = Utc::now();
        let claimed = match self
            .progress
            .claim_mails(&keys, &self.incarnation, now, self.stale_before(now))
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "claiming mails failed; trying them one by one");
                return vec![false; notices.len()];
            }
        };
        let mut done = Vec::with_capacity(notices.len());
        for (notice, key) in notices.iter().zip(keys) {
            if !claimed.contains(&key) {
                done.push(false);
                continue;
            }
            match self.send(notice).await {
                Ok(outcome) => {
                    let record = outcome.ledger_record();
                    // Recorded before the next mail is sent: recording the
                    // lot after the last one would have a crash mid-batch
                    // send every mail before it a second time.
                    self.record_until_done(&key, &record).await;
                    tracing::info!(event_id = %notice.event_id, event_type = %notice.event_type, outcome = %record, "mail handled");
                    done.push(true);
                }
                Err(error) => {
                    tracing::warn!(event_id = %notice.event_id, %error, "mail not sent yet");
                    if let Err(error) = self.progress.release_mail(&key).await {
                        tracing::warn!(event_id = %notice.event_id, %error, "giving the mail's claim back failed");
                    }
                    done.push(false);
                }
            }
        }
        done
    }

    /// Sent is sent: keeps at recording it.
    async fn record_until_done(&self, key: &str, record: &str) {
        let mut failures = 0;
        while let Err(error) = self.progress.finish_mail(key, record, Utc::now()).await {
            failures += 1;
            let wait = backoff(failures);
            tracing::warn!(mail_key = key, %error, retry_in = ?wait, "recording a sent mail failed");
            tokio::time::sleep(wait).await;
        }
    }

    /// Claims made before this have lapsed.
    fn stale_before(&self, now: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
        now.checked_sub_signed(self.claim_lease)
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC)
    }

    async fn send(&self, notice: &MailNotice) -> Result<Handled, MailError> {
        Ok(match self.composer.compose(notice).await {
            Ok(Composed::Mail(message)) => match self.sender.send(*message).await {
                Ok(()) => Handled::Sent,
                Err(error) if error.is_permanent() => Handled::Skipped(format!("refused: {error}")),
                Err(error) => return Err(error.into()),
            },
            Ok(Composed::Skip(reason)) => Handled::Skipped(reason),
            Err(ComposeError::Broken(reason)) => {
                tracing::error!(event_id = %notice.event_id, %reason, "mail cannot be written");
                Handled::Skipped(reason)
            }
            Err(ComposeError::Storage(error)) => return Err(error.into()),
        })
    }

    /// Runs until the process ends (or, in one process, the relay is gone).
    ///
    /// A mailer process of its own handles up to [`CONCURRENT_MAILS`] notices
    /// at once: a mail waits on its ledger commits, the vault and the mail
    /// server far more than on the processor, so a booking storm's
    /// confirm-requests do not queue behind one another. Beside the API in one
    /// process, the notices the relay handed over together (up to
    /// [`TOGETHER_IN_PROCESS`]) are claimed together and sent one after
    /// another, each recorded as it goes: the citizens' answers come first,
    /// and the mails catch up once a burst has passed.
    pub async fn run(self, bus: MailBus) {
        // Alive before the first claim: a claim without a heartbeat would be
        // taken for a dead process's.
        let mut failures = 0;
        while let Err(error) = self.beat().await {
            failures += 1;
            let wait = backoff(failures);
            tracing::warn!(%error, retry_in = ?wait, "mailer cannot record that it runs");
            tokio::time::sleep(wait).await;
        }
        let heartbeat = tokio::spawn({
            let (progress, incarnation) = (self.progress.clone(), self.incarnation.clone());
            async move {
                let mut ticks = tokio::time::interval(HEARTBEAT_EVERY);
                loop {
                    ticks.tick().await;
                    let now = Utc::now();
                    if let Err(error) = progress
                        .keep_incarnation(&incarnation, now, now + HEARTBEAT_HOLDS)
                        .await
                    {
                        tracing::warn!(%error, "mailer heartbeat not recorded");
                    }
                }
            }
        });
        let _stop_heartbeat = AbortOnDrop(heartbeat);
        match bus {
            MailBus::InProcess(bus) => {
                while let Some(deliveries) = bus.receive(TOGETHER_IN_PROCESS).await {
                    let notices: Vec<&MailNotice> = deliveries.iter().map(|delivery| &delivery.notice).collect();
                    let done = self.handle_together(&notices).await;
                    for (delivery, done) in deliveries.into_iter().zip(done) {
                        if !done {
                            self.handle_until_done(&delivery.notice).await;
                        }
                        delivery.done();
                    }
                }
            }
            MailBus::JetStream(bus) => {
                let mut failures = 0;
                loop {
                    if let Err(error) = self.consume(&bus).await {
                        failures += 1;
                        let wait = backoff(failures);
                        tracing::warn!(%error, retry_in = ?wait, "mailer lost its JetStream consumer");
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    }

    async fn beat(&self) -> Result<(), StorageError> {
        let now = Utc::now();
        self.progress
            .keep_incarnation(&self.incarnation, now, now + HEARTBEAT_HOLDS)
            .await
    }

    /// In one process nothing else would retry: keep at it, backing off
    /// (but looking again each second at a mail another claim holds).
    async fn handle_until_done(&self, notice: &MailNotice) {
        let mut failures = 0;
        while let Err(error) = self.handle(notice).await {
            failures += 1;
            let wait = retry_wait(&error, failures);
            tracing::warn!(event_id = %notice.event_id, %error, retry_in = ?wait, "mail not sent yet");
            tokio::time::sleep(wait).await;
        }
    }

    async fn consume(&self, bus: &super::bus::JetStreamBus) -> Result<(), BusError> {
        let consumer = bus.mailer_consumer().await?;
        let messages = consumer
            .messages()
            .await
            .map_err(|error| BusError::JetStream(error.to_string()))?;
        tracing::info!(stream = bus.stream_name(), "mailer consuming");
        messages
            .map_err(|error| BusError::JetStream(error.to_string()))
            .try_for_each_concurrent(CONCURRENT_MAILS, |message| self.handle_message(bus, message))
            .await
    }

    async fn handle_message(
        &self,
        bus: &super::bus::JetStreamBus,
        message: async_nats::jetstream::Message,
    ) -> Result<(), BusError> {
        let notice: MailNotice = match serde_json::from_slice(&message.payload) {
            Ok(notice) => notice,
            Err(error) => {
                // Not ours to send; acknowledging keeps it from blocking the rest.
                tracing::error!(%error, "unreadable mail notice dropped");
                let _ = message.ack().await;
                return Ok(());
            }
        };
        if notice.log.as_ref().is_some_and(|log| log != bus.log()) {
            // Another installation's notice on this log's subjects: never ours to send.
            tracing::warn!(event_id = %notice.event_id, log = ?notice.log, ours = %bus.log(),
                "mail notice of another log dropped");
            return term(&message).await;
        }
        let (delivered, age) = message.info().map_or((1, std::time::Duration::ZERO), |info| {
            let published = chrono::DateTime::from_timestamp_nanos(info.published.unix_timestamp_nanos() as i64);
            (
                info.delivered.max(1),
                (Utc::now() - published).to_std().unwrap_or_default(),
            )
        });
        match self.composer.store.head().await {
            Ok(head) if notice.position > head => {
                // Ahead of the log: a log restored from a backup, with the
                // notice of an event it no longer holds. Waited for a little
                // (the head may just be moving), then given up.
                if age < AHEAD_WAIT {
                    return nak(&message, HELD_RETRY).await;
                }
                let why = format!(
                    "notice at position {} is ahead of the log's head {head}",
                    notice.position
                );
                self.give_up(&notice, &why).await;
                return term(&message).await;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(event_id = %notice.event_id, %error, "mail waits for the log");
                return nak(&message, backoff(delivered as u32)).await;
            }
        }
        match self.handle(&notice).await {
            Ok(_) => message
                .ack()
                .await
                .map_err(|error| BusError::JetStream(error.to_string())),
            Err(error) if delivered >= super::bus::MAX_DELIVER => {
                self.give_up(&notice, &format!("given up after {delivered} deliveries: {error}"))
                    .await;
                term(&message).await
            }
            Err(error) => {
                let wait = retry_wait(&error, delivered as u32);
                tracing::warn!(event_id = %notice.event_id, %error, retry_in = ?wait, "mail not sent yet");
                nak(&message, wait).await
            }
        }
    }

    /// Records in the sent-mail ledger that `notice`'s mail will not be sent,
    /// and why, so an operator finds what was given up on.
    async fn give_up(&self, notice: &MailNotice, why: &str) {
        tracing::error!(event_id = %notice.event_id, event_type = %notice.event_type, why, "mail given up");
        let key = notice.mail_key();
        let now = Utc::now();
        let recorded = match self
            .progress
            .claim_mail(&key, &self.incarnation, now, self.stale_before(now))
            .await
        {
            Ok(MailClaim::Ours) => self.progress.finish_mail(&key, &format!("given up: {why}"), now).await,
            Ok(MailClaim::Finished | MailClaim::Held) => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = recorded {
            tracing::warn!(event_id = %notice.event_id, %error, "recording a mail given up failed");
        }
    }
}

/// How long a notice ahead of the log's head is waited for.
const AHEAD_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

async fn nak(message: &async_nats::jetstream::Message, wait: std::time::Duration) -> Result<(), BusError> {
    message
        .ack_with(async_nats::jetstream::AckKind::Nak(Some(wait)))
        .await
        .map_err(|error| BusError::JetStream(error.to_string()))
}

/// Never to be delivered again.
async fn term(message: &async_nats::jetstream::Message) -> Result<(), BusError> {
    message
        .ack_with(async_nats::jetstream::AckKind::Term)
        .await
        .map_err(|error| BusError::JetStream(error.to_string()))
}

/// How long to wait before trying a mail again after `error`.
fn retry_wait(error: &MailError, failures: u32) -> std::time::Duration {
    match error {
        MailError::Held => HELD_RETRY,
        _ => backoff(failures),
    }
}

/// Stops the heartbeat when the mailer ends (in tests, when its runtime
/// goes): an incarnation that stopped working must stop claiming to live.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
