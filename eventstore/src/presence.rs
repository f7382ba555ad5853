//! When each call display last held its live stream open (beside the log,
//! like sessions): a display whose stream is gone, or whose process died
//! without saying so, stops refreshing `last_seen`, and staff see it fall
//! silent.

use chrono::{DateTime, Utc};

use crate::model::StorageError;
use crate::side::{SidePool, on_pool};

/// One display's presence as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePresence {
    pub device_id: String,
    /// The latest instant its stream was known open (or closed, see `connected`).
    pub last_seen: DateTime<Utc>,
    /// Whether its stream was open at `last_seen`.
    pub connected: bool,
}

/// Displays' stream presence.
#[derive(Clone, Debug)]
pub struct DevicePresences {
    side: SidePool,
}

impl DevicePresences {
    pub(crate) fn new(side: SidePool) -> Self {
        DevicePresences { side }
    }

    /// The device's stream is open at `now` (opened, or still open).
    pub async fn seen(&self, device_id: &str, office: &str, now: DateTime<Utc>) -> Result<(), StorageError> {
        self.record(device_id, office, now, true).await
    }

    /// The device's stream closed at `now`.
    pub async fn gone(&self, device_id: &str, office: &str, now: DateTime<Utc>) -> Result<(), StorageError> {
        self.record(device_id, office, now, false).await
    }

    async fn record(
        &self,
        device_id: &str,
        office: &str,
        now: DateTime<Utc>,
        connected: bool,
    ) -> Result<(), StorageError> {
        on_pool!(&self.side, pool => {
            sqlx::query(
                "INSERT INTO device_presence (device_id, office, last_seen, connected) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (device_id) DO UPDATE SET office = excluded.office, last_seen = excluded.last_seen, \
                 connected = excluded.connected",
            )
            .bind(device_id)
            .bind(office)
            .bind(now)
            .bind(connected)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The presence of every device of `office` ever seen.
    pub async fn of_office(&self, office: &str) -> Result<Vec<DevicePresence>, StorageError> {
        let rows: Vec<(String, DateTime<Utc>, bool)> = on_pool!(&self.side, pool => {
            sqlx::query_as(
                "SELECT device_id, last_seen, connected FROM device_presence WHERE office = $1 ORDER BY device_id",
            )
            .bind(office)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(device_id, last_seen, connected)| DevicePresence {
                device_id,
                last_seen,
                connected,
            })
            .collect())
    }
}
