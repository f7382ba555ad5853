//! The streams decisions read, remembered between decisions. A decision asks
//! the log, in one round trip for all of its streams, only for what is newer
//! than memory; the office, its services and the day's capacity, read by
//! every booking, then cost an index probe each until they change.
//!
//! Consistency never rests on this memory: a stream's version names its
//! content for good (versions are dense and events never change), a decision
//! folds exactly the events up to the versions the log confirmed at its start,
//! and its append keeps the conditions on those versions.

use std::any::{Any, TypeId};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use terminagent_domain::DomainEvent;
use terminagent_eventstore::{EventStore, StorageError, StoredEvent};

/// How many streams one process remembers (least recently used go first).
pub const REMEMBERED_STREAMS: usize = 50_000;

/// A stream's events up to `version`.
#[derive(Debug)]
pub struct StreamSnapshot {
    pub version: u64,
    pub events: Vec<StoredEvent>,
    /// The events decoded, once per event family that read them: a remembered
    /// stream is folded by every decision, its JSON parsed only once.
    decoded: Mutex<Vec<(TypeId, Arc<dyn Any + Send + Sync>)>>,
}

impl StreamSnapshot {
    pub fn new(version: u64, events: Vec<StoredEvent>) -> Self {
        StreamSnapshot {
            version,
            events,
            decoded: Mutex::new(Vec::new()),
        }
    }

    /// The events of this snapshot the family `E` knows (others are skipped),
    /// decoded on first use.
    pub fn decoded<E>(&self) -> Result<Arc<Vec<E>>, StorageError>
    where
        E: DomainEvent + Send + Sync + 'static,
    {
        let family = TypeId::of::<E>();
        let known = self
            .decoded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .find(|(decoded, _)| *decoded == family)
            .map(|(_, events)| events.clone());
        if let Some(events) = known.and_then(|events| events.downcast::<Vec<E>>().ok()) {
            return Ok(events);
        }
        let mut events = Vec::new();
        for stored in &self.events {
            if !E::EVENT_TYPES.contains(&stored.event_type.as_str()) {
                continue;
            }
            events.push(
                E::from_stored_json(&stored.event_type, stored.data.as_str()).map_err(|error| {
                    StorageError::Corrupt {
                        at: stored.event_id.to_string(),
                        reason: error.to_string(),
                    }
                })?,
            );
        }
        let events = Arc::new(events);
        self.decoded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((family, events.clone()));
        Ok(events)
    }
}

pub struct StreamMemory {
    streams: Mutex<lru::LruCache<String, Arc<StreamSnapshot>>>,
}

impl StreamMemory {
    pub fn new(capacity: usize) -> Self {
        StreamMemory {
            streams: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    fn remembered(&self, stream: &str) -> Option<Arc<StreamSnapshot>> {
        self.lock().get(stream).cloned()
    }

    fn remember(&self, stream: &str, snapshot: Arc<StreamSnapshot>) {
        let mut streams = self.lock();
        // A slower reader must not replace a newer snapshot with its older one.
        if streams
            .peek(stream)
            .is_none_or(|known| known.version < snapshot.version)
        {
            streams.put(stream.to_owned(), snapshot);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, lru::LruCache<String, Arc<StreamSnapshot>>> {
        self.streams.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Each stream as memory has it, in the order given, without asking the
    /// log: possibly behind it, and empty for streams not remembered.
    pub fn as_remembered(&self, streams: &[&str]) -> Vec<Arc<StreamSnapshot>> {
        streams
            .iter()
            .map(|stream| {
                self.remembered(stream)
                    .unwrap_or_else(|| Arc::new(StreamSnapshot::new(0, Vec::new())))
            })
            .collect()
    }

    /// Each stream as memory has it, `None` where it has nothing.
    pub fn if_remembered(&self, streams: &[&str]) -> Vec<Option<Arc<StreamSnapshot>>> {
        streams.iter().map(|stream| self.remembered(stream)).collect()
    }

    /// Each stream as the log has it now, in the order given, in one round
    /// trip: remembered streams are read from where memory ends (usually
    /// nothing), unknown ones whole.
    pub async fn current(
        &self,
        store: &EventStore,
        streams: &[&str],
    ) -> Result<Vec<Arc<StreamSnapshot>>, StorageError> {
        let remembered: Vec<Option<Arc<StreamSnapshot>>> =
            streams.iter().map(|stream| self.remembered(stream)).collect();
        let reads: Vec<(&str, u64)> = streams
            .iter()
            .zip(&remembered)
            .map(|(stream, known)| (*stream, known.as_ref().map_or(0, |known| known.version)))
            .collect();
        let newer = store.read_streams(&reads).await?;
        Ok(streams
            .iter()
            .zip(remembered)
            .zip(newer)
            .map(|((stream, known), newer)| match (known, newer.last()) {
                (Some(known), None) => known,
                (known, _) => {
                    let mut events = known.as_ref().map_or_else(Vec::new, |known| known.events.clone());
                    let version = newer.last().map_or_else(
                        || known.as_ref().map_or(0, |known| known.version),
                        |event| event.version,
                    );
                    events.extend(newer.into_iter().map(|event| event.event));
                    let snapshot = Arc::new(StreamSnapshot::new(version, events));
                    self.remember(stream, snapshot.clone());
                    snapshot
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use terminagent_eventstore::testing::TestDatabase;
    use terminagent_eventstore::{Backend, NewEvent, StoreOptions};

    fn event(stream: &str, n: u64) -> NewEvent {
        NewEvent {
            event_id: ulid::Ulid::new(),
            event_type: "test.happened".into(),
            schema_version: 1,
            streams: vec![stream.to_owned()],
            recorded_at: chrono::Utc::now(),
            correlation_id: None,
            causation_id: None,
            actor: None,
            data: json!({ "n": n }),
        }
    }

    fn numbers(snapshot: &StreamSnapshot) -> Vec<u64> {
        snapshot
            .events
            .iter()
            .map(|event| event.data.to_value()["n"].as_u64().unwrap_or_default())
            .collect()
    }

    /// Another writer's append (another process, or this one) is seen by the
    /// next decision; what memory has is not read again.
    async fn remembered_streams_follow_the_log(backend: Backend) {
        let db = TestDatabase::new(backend).await.unwrap();
        let store = db.store(StoreOptions::default()).await.unwrap();
        let memory = StreamMemory::new(2);
        store.append(&[event("office:a", 1)], &[]).await.unwrap();

        let first = memory.current(&store, &["office:a", "unit:x"]).await.unwrap();
        assert_eq!((first[0].version, numbers(&first[0])), (1, vec![1]));
        assert_eq!((first[1].version, numbers(&first[1])), (0, vec![]));

        let unchanged = memory.current(&store, &["office:a"]).await.unwrap();
        assert!(Arc::ptr_eq(&unchanged[0], &first[0]), "nothing new: memory as it was");

        // A family's events are decoded once per snapshot; types it does not
        // know are skipped.
        let decoded = first[0].decoded::<terminagent_domain::BookingInput>().unwrap();
        assert!(decoded.is_empty());
        let again = first[0].decoded::<terminagent_domain::BookingInput>().unwrap();
        assert!(Arc::ptr_eq(&decoded, &again), "decoded once");

        // Without asking the log, memory says what it has, however far behind.
        store.append(&[event("office:a", 2)], &[]).await.unwrap();
        let remembered = memory.as_remembered(&["office:a", "wish:w"]);
        assert!(Arc::ptr_eq(&remembered[0], &first[0]), "the append is not seen yet");
        assert_eq!((remembered[1].version, numbers(&remembered[1])), (0, vec![]));

        store.append(&[event("office:a", 3)], &[]).await.unwrap();
        store.append(&[event("unit:x", 9)], &[]).await.unwrap();
        let moved = memory.current(&store, &["unit:x", "office:a"]).await.unwrap();
        assert_eq!((moved[0].version, numbers(&moved[0])), (1, vec![9]));
        assert_eq!((moved[1].version, numbers(&moved[1])), (3, vec![1, 2, 3]));

        // Beyond its capacity memory forgets the least recently used stream,
        // which is then read whole again.
        memory.current(&store, &["citizen:c"]).await.unwrap();
        assert!(memory.remembered("unit:x").is_none());
        let again = memory.current(&store, &["unit:x"]).await.unwrap();
        assert_eq!((again[0].version, numbers(&again[0])), (1, vec![9]));
    }

    #[tokio::test]
    async fn remembered_streams_follow_the_log_on_sqlite() {
        remembered_streams_follow_the_log(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn remembered_streams_follow_the_log_on_postgres() {
        remembered_streams_follow_the_log(Backend::Postgres).await;
    }
}
