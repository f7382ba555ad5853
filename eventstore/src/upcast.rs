//! Upcasting: old event shapes are turned into the current one on read, so
//! the log is never rewritten and consumers only know the newest shape.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::model::{EventData, StorageError};

/// Turns the data of one schema version into the next version's data.
pub type UpcastFn = fn(Value) -> Result<Value, String>;

/// The upcasters a store applies on every read, keyed by event type and the
/// version they upgrade from.
#[derive(Clone, Default)]
pub struct Upcasters {
    steps: Arc<HashMap<(String, u32), UpcastFn>>,
}

impl std::fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upcasters")
            .field("steps", &self.steps.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Upcasters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the step from `from_version` to `from_version + 1` of `event_type`.
    pub fn with(mut self, event_type: &str, from_version: u32, step: UpcastFn) -> Self {
        Arc::make_mut(&mut self.steps).insert((event_type.to_owned(), from_version), step);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Applies every registered step in turn; returns the final version and data.
    /// Data is parsed only when a step applies.
    pub fn upcast(&self, event_type: &str, version: u32, data: EventData) -> Result<(u32, EventData), StorageError> {
        if self.steps.is_empty() {
            return Ok((version, data));
        }
        let key = (event_type.to_owned(), version);
        if !self.steps.contains_key(&key) {
            return Ok((version, data));
        }
        let (version, value) = self.upcast_value(key, data.to_value())?;
        Ok((version, EventData::from_value(&value)))
    }

    fn upcast_value(&self, mut key: (String, u32), mut data: Value) -> Result<(u32, Value), StorageError> {
        let (event_type, mut version) = (key.0.clone(), key.1);
        while let Some(step) = self.steps.get(&key) {
            data = step(data).map_err(|reason| {
                StorageError::corrupt(format!("{event_type} v{version}"), format!("upcast failed: {reason}"))
            })?;
            version += 1;
            key.1 = version;
        }
        Ok((version, data))
    }
}
