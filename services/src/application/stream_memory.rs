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

/// How many chunks a grown snapshot may have before it is copied into one:
/// growing shares the chunks before it (no copy, no new decoding), merging
/// now and then keeps folds from walking thousands of tiny chunks.
const MAX_CHUNKS: usize = 64;

/// A stream's events up to `version`, in chunks: a snapshot grown from a
/// remembered one shares the remembered chunks and their decoded events, so
/// a busy stream (an office day's floor, thousands of events by evening)
/// costs each decision only what is new, not a copy and a fresh parse of
/// the whole day.
#[derive(Debug)]
pub struct StreamSnapshot {
    pub version: u64,
    chunks: Vec<Arc<Vec<StoredEvent>>>,
    /// Per event family that read it, its decoded chunks, aligned with
    /// `chunks` but possibly fewer (taken over from the snapshot this one
    /// grew from; the rest are decoded on first use).
    decoded: Mutex<Vec<(TypeId, Arc<dyn Any + Send + Sync>)>>,
}

impl StreamSnapshot {
    pub fn new(version: u64, events: Vec<StoredEvent>) -> Self {
        StreamSnapshot {
            version,
            chunks: if events.is_empty() {
                Vec::new()
            } else {
                vec![Arc::new(events)]
            },
            decoded: Mutex::new(Vec::new()),
        }
    }

    /// This snapshot and then `newer` events up to `version`.
    fn grown(&self, version: u64, newer: Vec<StoredEvent>) -> Self {
        if self.chunks.len() >= MAX_CHUNKS {
            let events = self.events().cloned().chain(newer).collect();
            return StreamSnapshot::new(version, events);
        }
        let mut chunks = self.chunks.clone();
        if !newer.is_empty() {
            chunks.push(Arc::new(newer));
        }
        StreamSnapshot {
            version,
            chunks,
            decoded: Mutex::new(self.lock_decoded().clone()),
        }
    }

    /// Every stored event, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &StoredEvent> {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }

    fn lock_decoded(&self) -> std::sync::MutexGuard<'_, Vec<(TypeId, Arc<dyn Any + Send + Sync>)>> {
        self.decoded.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The events of this snapshot the family `E` knows (others are
    /// skipped), in chunks to fold one after another; each chunk decoded on
    /// first use, once for this snapshot and every one grown from it.
    pub fn decoded<E>(&self) -> Result<Vec<Arc<Vec<E>>>, StorageError>
    where
        E: DomainEvent + Send + Sync + 'static,
    {
        let family = TypeId::of::<E>();
        let known: Vec<Arc<Vec<E>>> = self
            .lock_decoded()
            .iter()
            .find(|(decoded, _)| *decoded == family)
            .and_then(|(_, chunks)| chunks.clone().downcast::<Vec<Arc<Vec<E>>>>().ok())
            .map(|chunks| chunks.as_ref().clone())
            .unwrap_or_default();
        if known.len() == self.chunks.len() {
            return Ok(known);
        }
        let mut chunks = known;
        for chunk in &self.chunks[chunks.len()..] {
            chunks.push(Arc::new(decode::<E>(chunk)?));
        }
        let mut decoded = self.lock_decoded();
        decoded.retain(|(decoded, _)| *decoded != family);
        decoded.push((family, Arc::new(chunks.clone())));
        Ok(chunks)
    }
}

/// The events of `stored` the family `E` knows, decoded.
fn decode<E: DomainEvent>(stored: &[StoredEvent]) -> Result<Vec<E>, StorageError> {
    stored
        .iter()
        .filter(|stored| E::EVENT_TYPES.contains(&stored.event_type.as_str()))
        .map(|stored| {
            E::from_stored_json(&stored.event_type, stored.data.as_str()).map_err(|error| StorageError::Corrupt {
                at: stored.event_id.to_string(),
                reason: error.to_string(),
            })
        })
        .collect()
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
                    let version = newer.last().map_or_else(
                        || known.as_ref().map_or(0, |known| known.version),
                        |event| event.version,
                    );
                    let newer: Vec<StoredEvent> = newer.into_iter().map(|event| event.event).collect();
                    let snapshot = Arc::new(match known {
                        Some(known) => known.grown(version, newer),
                        None => StreamSnapshot::new(version, newer),
                    });
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
            .events()
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
        assert!(decoded.iter().all(|chunk| chunk.is_empty()));
        let again = first[0].decoded::<terminagent_domain::BookingInput>().unwrap();
        assert!(
            decoded.iter().zip(&again).all(|(a, b)| Arc::ptr_eq(a, b)) && decoded.len() == again.len(),
            "decoded once"
        );

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
        // Grown from memory: the remembered chunk and its decoding are shared, only the new one is decoded.
        let grown = moved[1].decoded::<terminagent_domain::BookingInput>().unwrap();
        assert_eq!(grown.len(), 2);
        assert!(
            Arc::ptr_eq(&grown[0], &decoded[0]),
            "the remembered decoding is taken over"
        );
        // A stream growing by one event a decision stays whole and in order, its chunks bounded.
        for n in 4..=(MAX_CHUNKS as u64 + 10) {
            store.append(&[event("office:a", n)], &[]).await.unwrap();
            let now = memory.current(&store, &["office:a"]).await.unwrap();
            assert!(now[0].chunks.len() <= MAX_CHUNKS);
            assert_eq!(numbers(&now[0]), (1..=n).collect::<Vec<_>>());
            let decoded = now[0].decoded::<terminagent_domain::BookingInput>().unwrap();
            assert_eq!(decoded.len(), now[0].chunks.len());
        }

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
