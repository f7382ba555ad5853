//! Tails the log from its checkpoint and puts every event that calls for a
//! mail on the bus.

use terminagent_eventstore::{ConsumerProgress, EventStore, StorageError};

use super::bus::{BusError, MailBus};
use super::{MailNotice, backoff};

/// The relay's checkpoint name in the store.
pub const RELAY_CHECKPOINT: &str = "mail-relay";
/// Most events taken from the log in one round (one publish, one checkpoint write).
const BATCH: usize = 256;

pub struct MailRelay {
    pub store: EventStore,
    pub bus: MailBus,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl MailRelay {
    /// Runs until the process ends; trouble with store or bus is waited out.
    pub async fn run(self) {
        let progress = self.store.progress();
        let mut failures = 0;
        loop {
            match self.relay(&progress, &mut failures).await {
                Ok(()) => return,
                Err(error) => {
                    failures += 1;
                    let wait = backoff(failures);
                    tracing::warn!(%error, retry_in = ?wait, "mail relay interrupted");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn relay(&self, progress: &ConsumerProgress, failures: &mut u32) -> Result<(), RelayError> {
        if let MailBus::JetStream(bus) = &self.bus {
            bus.ensure_stream().await?;
        }
        let from = progress.checkpoint(RELAY_CHECKPOINT).await?;
        tracing::info!(from, "mail relay following the log");
        let mut subscription = self.store.subscribe(from);
        loop {
            let mut batch = vec![subscription.next().await?];
            while batch.len() < BATCH {
                match subscription.next_buffered() {
                    Some(event) => batch.push(event),
                    None => break,
                }
            }
            let notices: Vec<MailNotice> = batch.iter().filter_map(MailNotice::of).collect();
            if !notices.is_empty() {
                self.bus.publish(&notices).await?;
            }
            let last = batch.last().map_or(from, |event| event.position);
            progress.save_checkpoint(RELAY_CHECKPOINT, last).await?;
            *failures = 0;
        }
    }
}
