//! How far each background consumer of the log has got (relay, mailer,
//! matcher), and the ledger of mails already handled, so a restart resumes
//! where it stopped and no mail goes out twice (DESIGN.md invariant 9).

use chrono::{DateTime, Utc};

use crate::model::StorageError;
use crate::side::{SidePool, on_pool};

/// Checkpoints and the sent-mail ledger.
#[derive(Clone, Debug)]
pub struct ConsumerProgress {
    side: SidePool,
}

impl ConsumerProgress {
    pub(crate) fn new(side: SidePool) -> Self {
        ConsumerProgress { side }
    }

    /// The log position `consumer` has fully processed; 0 before its first save.
    pub async fn checkpoint(&self, consumer: &str) -> Result<u64, StorageError> {
        let position: Option<i64> = on_pool!(&self.side, pool => {
            sqlx::query_scalar("SELECT position FROM consumer_checkpoints WHERE consumer = $1")
                .bind(consumer)
                .fetch_optional(pool)
                .await?
        });
        Ok(position.map_or(0, |position| position.max(0) as u64))
    }

    /// Records that `consumer` has processed the log up to `position`. Never
    /// moves a checkpoint back, so a slower twin of the consumer cannot undo
    /// a faster one's progress.
    pub async fn save_checkpoint(&self, consumer: &str, position: u64) -> Result<(), StorageError> {
        let position = i64::try_from(position).unwrap_or(i64::MAX);
        on_pool!(&self.side, pool => {
            sqlx::query(
                "INSERT INTO consumer_checkpoints (consumer, position) VALUES ($1, $2) \
                 ON CONFLICT (consumer) DO UPDATE SET position = CASE \
                   WHEN excluded.position > consumer_checkpoints.position THEN excluded.position \
                   ELSE consumer_checkpoints.position END",
            )
            .bind(consumer)
            .bind(position)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Whether the mail `mail_key` was already handled (sent, or skipped on purpose).
    pub async fn mail_handled(&self, mail_key: &str) -> Result<bool, StorageError> {
        let found: Option<String> = on_pool!(&self.side, pool => {
            sqlx::query_scalar("SELECT outcome FROM sent_mails WHERE mail_key = $1")
                .bind(mail_key)
                .fetch_optional(pool)
                .await?
        });
        Ok(found.is_some())
    }

    /// Records the mail `mail_key` as handled with `outcome` (e.g. `sent`).
    /// Returns false when it had been recorded before (the first record stays).
    pub async fn record_mail(&self, mail_key: &str, outcome: &str, at: DateTime<Utc>) -> Result<bool, StorageError> {
        let inserted = on_pool!(&self.side, pool => {
            sqlx::query(
                "INSERT INTO sent_mails (mail_key, outcome, recorded_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (mail_key) DO NOTHING",
            )
            .bind(mail_key)
            .bind(outcome)
            .bind(at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(inserted == 1)
    }
}
