//! Catch-up-then-follow reading of the log.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::watch;

use crate::model::{LogEvent, StorageError};
use crate::store::EventStore;

/// Events per read while catching up (larger pages: fewer round trips).
const PAGE: usize = 5000;

/// Yields every event after the starting position exactly once, in log order,
/// waiting for new ones when it has caught up. It is woken by the store when
/// the head moves and polls every `poll` besides, for writers it cannot hear.
pub struct Subscription {
    store: EventStore,
    position: u64,
    buffer: VecDeque<LogEvent>,
    head: watch::Receiver<u64>,
    poll: Duration,
    /// The log may have moved without the store saying so (a writer it cannot
    /// hear, a missed notification): read before trusting the head again.
    unheard: bool,
}

impl Subscription {
    pub(crate) fn new(store: EventStore, after: u64, poll: Duration) -> Self {
        let head = store.head_changes();
        Subscription {
            store,
            position: after,
            buffer: VecDeque::new(),
            head,
            poll,
            unheard: true,
        }
    }

    /// The position of the last event handed out (the checkpoint to resume from).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next event, waiting for it if the subscriber has caught up.
    pub async fn next(&mut self) -> Result<LogEvent, StorageError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.position = event.position;
                return Ok(event);
            }
            // Mark the current head as seen before reading, so a change that
            // lands during the read wakes the wait below. A head this reader has
            // reached means nothing new to read: it waits instead of asking.
            let head = *self.head.borrow_and_update();
            if head > self.position || self.unheard {
                let page = self.store.read_all(self.position, PAGE).await?;
                // A full page may not be all there is, whatever the head says.
                self.unheard = page.len() >= PAGE;
                if !page.is_empty() {
                    self.buffer.extend(page);
                    continue;
                }
            }
            match tokio::time::timeout(self.poll, self.head.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_store_gone)) => {
                    tokio::time::sleep(self.poll).await;
                    self.unheard = true;
                }
                Err(_poll_elapsed) => self.unheard = true,
            }
        }
    }

    /// The next event already read ahead, without touching the store: lets a
    /// consumer take what one read brought as one batch.
    pub fn next_buffered(&mut self) -> Option<LogEvent> {
        let event = self.buffer.pop_front()?;
        self.position = event.position;
        Some(event)
    }

    /// The next event if one is readable now, without waiting.
    pub async fn try_next(&mut self) -> Result<Option<LogEvent>, StorageError> {
        if self.buffer.is_empty() {
            self.buffer.extend(self.store.read_all(self.position, PAGE).await?);
        }
        let event = self.buffer.pop_front();
        if let Some(event) = &event {
            self.position = event.position;
        }
        Ok(event)
    }
}
