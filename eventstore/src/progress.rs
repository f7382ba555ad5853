//! How far each background consumer of the log has got (relay, mailer,
//! matcher), and the ledger of mails already handled, so a restart resumes
//! where it stopped and no mail goes out twice (DESIGN.md invariant 9).

use chrono::{DateTime, Utc};

use crate::model::StorageError;
use crate::side::{SidePool, on_hot_connection, on_pool};

/// A consumer's folded state as saved at a log position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub position: u64,
    /// Names the encoding of `data`; a reader skips a format it does not know.
    pub format: String,
    pub taken_at: DateTime<Utc>,
    pub data: Vec<u8>,
}

/// A saved snapshot without its data ([`ConsumerProgress::snapshots_under`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub consumer: String,
    pub position: u64,
    pub format: String,
    pub taken_at: DateTime<Utc>,
}

/// What the sent-mail ledger's outcome is while a mail is claimed.
const SENDING: &str = "sending";

/// What [`ConsumerProgress::claim_mail`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailClaim {
    /// The mail is this caller's to send, and then to
    /// [`finish_mail`](ConsumerProgress::finish_mail) or
    /// [`release_mail`](ConsumerProgress::release_mail).
    Ours,
    /// Its outcome is recorded: it is never sent again.
    Finished,
    /// Another claim holds it: a mailer sending it right now, or one that
    /// died or could not give its claim back. Not handled yet: ask again once
    /// that claim may have ended or lapsed.
    Held,
}

/// Checkpoints, snapshots and the sent-mail ledger.
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
        on_hot_connection!(&self.side, connection => {
            sqlx::query(
                "INSERT INTO consumer_checkpoints (consumer, position) VALUES ($1, $2) \
                 ON CONFLICT (consumer) DO UPDATE SET position = CASE \
                   WHEN excluded.position > consumer_checkpoints.position THEN excluded.position \
                   ELSE consumer_checkpoints.position END",
            )
            .bind(consumer)
            .bind(position)
            .execute(connection)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Claims the mail `mail_key` for sending, in the name of `claimant`
    /// (the mailer's process incarnation, see
    /// [`keep_incarnation`](Self::keep_incarnation)). A claim can be taken
    /// over once it is older than `stale_before`, or at once when its
    /// claimant's incarnation has stopped beating (its process died): a
    /// crash delays a mail by seconds but never loses it.
    pub async fn claim_mail(
        &self,
        mail_key: &str,
        claimant: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<MailClaim, StorageError> {
        let claimed = on_hot_connection!(&self.side, connection => {
            sqlx::query(
                "INSERT INTO sent_mails (mail_key, outcome, recorded_at, claimed_by) VALUES ($1, 'sending', $2, $4) \
                 ON CONFLICT (mail_key) DO UPDATE SET recorded_at = excluded.recorded_at, \
                   claimed_by = excluded.claimed_by \
                 WHERE sent_mails.outcome = 'sending' AND (sent_mails.recorded_at < $3 \
                   OR (sent_mails.claimed_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM leases l \
                       WHERE l.name = 'incarnation:' || sent_mails.claimed_by AND l.expires_at >= $2)))",
            )
            .bind(mail_key)
            .bind(now)
            .bind(stale_before)
            .bind(claimant)
            .execute(connection)
            .await
            .map(|done| done.rows_affected())
        })?;
        if claimed == 1 {
            return Ok(MailClaim::Ours);
        }
        // Only a mail met again (a redelivery, a restart) gets here.
        Ok(match self.mail_outcome(mail_key).await?.as_deref() {
            Some(SENDING) | None => MailClaim::Held,
            Some(_) => MailClaim::Finished,
        })
    }

    /// [`claim_mail`](Self::claim_mail) for several mails at once: the keys
    /// of those now this caller's to send, in the order given. On Postgres one
    /// statement for the lot.
    pub async fn claim_mails(
        &self,
        mail_keys: &[String],
        claimant: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Vec<String>, StorageError> {
        let SidePool::Postgres { hot, .. } = &self.side else {
            let mut claimed = Vec::new();
            for key in mail_keys {
                if self.claim_mail(key, claimant, now, stale_before).await? == MailClaim::Ours {
                    claimed.push(key.clone());
                }
            }
            return Ok(claimed);
        };
        let mut lease = hot.lease().await?;
        let claimed = sqlx::query_scalar::<_, String>(
            "INSERT INTO sent_mails (mail_key, outcome, recorded_at, claimed_by) \
             SELECT DISTINCT key, 'sending', $2::timestamptz, $4 FROM unnest($1::text[]) AS keys(key) \
             ON CONFLICT (mail_key) DO UPDATE SET recorded_at = excluded.recorded_at, \
               claimed_by = excluded.claimed_by \
             WHERE sent_mails.outcome = 'sending' AND (sent_mails.recorded_at < $3 \
               OR (sent_mails.claimed_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM leases l \
                   WHERE l.name = 'incarnation:' || sent_mails.claimed_by AND l.expires_at >= $2))) \
             RETURNING mail_key",
        )
        .bind(mail_keys)
        .bind(now)
        .bind(stale_before)
        .bind(claimant)
        .fetch_all(lease.connection())
        .await;
        lease.give_back(&claimed);
        let claimed = claimed?;
        Ok(mail_keys.iter().filter(|key| claimed.contains(key)).cloned().collect())
    }

    /// What the mailers gave up on (ledger outcomes `given up: …`), by mail key.
    pub async fn mails_given_up(&self) -> Result<Vec<String>, StorageError> {
        let outcomes = on_pool!(&self.side, pool => {
            sqlx::query_scalar("SELECT outcome FROM sent_mails WHERE outcome LIKE 'given up:%' ORDER BY mail_key")
                .fetch_all(pool)
                .await?
        });
        Ok(outcomes)
    }

    /// Says that the process incarnation `incarnation` is alive until
    /// `until`: its mail claims hold while it beats. A process renews this
    /// every few seconds; once it stops (`kill -9`), its claims are taken
    /// over at once instead of after the claim lease.
    pub async fn keep_incarnation(
        &self,
        incarnation: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.hold_lease(&format!("incarnation:{incarnation}"), incarnation, now, until)
            .await
            .map(drop)
    }

    /// [`finish_mail`](Self::finish_mail) for several mails at once, each
    /// with its outcome. On Postgres one statement for the lot.
    pub async fn finish_mails(&self, outcomes: &[(String, String)], at: DateTime<Utc>) -> Result<(), StorageError> {
        let SidePool::Postgres { hot, .. } = &self.side else {
            for (key, outcome) in outcomes {
                self.finish_mail(key, outcome, at).await?;
            }
            return Ok(());
        };
        let (keys, outcomes): (Vec<&str>, Vec<&str>) = outcomes
            .iter()
            .map(|(key, outcome)| (key.as_str(), outcome.as_str()))
            .unzip();
        let mut lease = hot.lease().await?;
        let finished = sqlx::query(
            "UPDATE sent_mails SET outcome = finished.outcome, recorded_at = $3 \
             FROM unnest($1::text[], $2::text[]) AS finished(key, outcome) \
             WHERE sent_mails.mail_key = finished.key",
        )
        .bind(&keys)
        .bind(&outcomes)
        .bind(at)
        .execute(lease.connection())
        .await;
        lease.give_back(&finished);
        finished?;
        Ok(())
    }

    /// Records how a claimed mail ended (e.g. `sent`); it is never sent again.
    pub async fn finish_mail(&self, mail_key: &str, outcome: &str, at: DateTime<Utc>) -> Result<(), StorageError> {
        on_hot_connection!(&self.side, connection => {
            sqlx::query("UPDATE sent_mails SET outcome = $2, recorded_at = $3 WHERE mail_key = $1")
                .bind(mail_key)
                .bind(outcome)
                .bind(at)
                .execute(connection)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Gives a claim back after a failed attempt, so the next try need not wait out the claim.
    pub async fn release_mail(&self, mail_key: &str) -> Result<(), StorageError> {
        on_pool!(&self.side, pool => {
            sqlx::query("DELETE FROM sent_mails WHERE mail_key = $1 AND outcome = 'sending'")
                .bind(mail_key)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// How the mail `mail_key` ended (`sending` while claimed); `None` before its first claim.
    pub async fn mail_outcome(&self, mail_key: &str) -> Result<Option<String>, StorageError> {
        let outcome = on_pool!(&self.side, pool => {
            sqlx::query_scalar("SELECT outcome FROM sent_mails WHERE mail_key = $1")
                .bind(mail_key)
                .fetch_optional(pool)
                .await?
        });
        Ok(outcome)
    }

    /// The whole sent-mail ledger: each mail key with its outcome, by key.
    /// For operators and tests that wait until every expected mail is
    /// recorded instead of sleeping and counting.
    pub async fn mail_ledger(&self) -> Result<Vec<(String, String)>, StorageError> {
        let rows = on_pool!(&self.side, pool => {
            sqlx::query_as("SELECT mail_key, outcome FROM sent_mails ORDER BY mail_key")
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// Saves `consumer`'s state at `snapshot.position`, replacing an older
    /// one; a snapshot older than the saved one is dropped, so a slower twin
    /// cannot move a consumer back.
    pub async fn save_snapshot(&self, consumer: &str, snapshot: &Snapshot) -> Result<(), StorageError> {
        let position = i64::try_from(snapshot.position).unwrap_or(i64::MAX);
        on_pool!(&self.side, pool => {
            sqlx::query(
                "INSERT INTO consumer_snapshots (consumer, position, format, taken_at, data) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, format = excluded.format, \
                   taken_at = excluded.taken_at, data = excluded.data \
                 WHERE excluded.position >= consumer_snapshots.position",
            )
            .bind(consumer)
            .bind(position)
            .bind(&snapshot.format)
            .bind(snapshot.taken_at)
            .bind(&snapshot.data)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The snapshots of the consumers whose names start with `prefix`,
    /// without their data, by position: for a reader that chooses one by
    /// position or time before loading it.
    pub async fn snapshots_under(&self, prefix: &str) -> Result<Vec<SnapshotInfo>, StorageError> {
        let rows: Vec<(String, i64, String, DateTime<Utc>)> = on_pool!(&self.side, pool => {
            sqlx::query_as(
                "SELECT consumer, position, format, taken_at FROM consumer_snapshots \
                 WHERE substr(consumer, 1, length($1)) = $1 ORDER BY position",
            )
            .bind(prefix)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(consumer, position, format, taken_at)| SnapshotInfo {
                consumer,
                position: position.max(0) as u64,
                format,
                taken_at,
            })
            .collect())
    }

    /// `consumer`'s latest snapshot, if it saved one.
    pub async fn snapshot(&self, consumer: &str) -> Result<Option<Snapshot>, StorageError> {
        let row: Option<(i64, String, DateTime<Utc>, Vec<u8>)> = on_pool!(&self.side, pool => {
            sqlx::query_as(
                "SELECT position, format, taken_at, data FROM consumer_snapshots WHERE consumer = $1",
            )
            .bind(consumer)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(position, format, taken_at, data)| Snapshot {
            position: position.max(0) as u64,
            format,
            taken_at,
            data,
        }))
    }

    /// Records the proof-of-work solution signed `signature` as spent until
    /// its challenge `expires_at`; true the first time, in any process of
    /// the installation (one statement: two at once cannot both be first).
    /// Spent rows past their expiry are forgotten on the way.
    pub async fn spend_proof(
        &self,
        signature: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let first = on_pool!(&self.side, pool => {
            sqlx::query(
                "INSERT INTO spent_proofs (signature, expires_at) VALUES ($1, $2) ON CONFLICT (signature) DO NOTHING",
            )
            .bind(signature)
            .bind(expires_at)
            .execute(pool)
            .await?
            .rows_affected()
        }) == 1;
        // Now and then (about one call in 64, by the signature's last digit
        // pair) the expired rows go: the table stays the size of five minutes.
        if signature.ends_with("00") || signature.ends_with("ff") {
            on_pool!(&self.side, pool => {
                sqlx::query("DELETE FROM spent_proofs WHERE expires_at < $1")
                    .bind(now)
                    .execute(pool)
                    .await?;
                sqlx::query("DELETE FROM pending_by_network WHERE until < $1")
                    .bind(now)
                    .execute(pool)
                    .await?;
            });
        }
        Ok(first)
    }

    /// Notes that client network `network` holds `booking` pending until
    /// `until` (its confirm-by time).
    pub async fn note_pending_booking(
        &self,
        booking: &str,
        network: &str,
        until: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        on_pool!(&self.side, pool => {
            sqlx::query(
                "INSERT INTO pending_by_network (booking, network, until) VALUES ($1, $2, $3) \
                 ON CONFLICT (booking) DO NOTHING",
            )
            .bind(booking)
            .bind(network)
            .bind(until)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The bookings `network` was noted holding pending whose confirm-by
    /// time is after `now`, with that time (settled ones among them are the
    /// caller's to tell).
    pub async fn pending_bookings_of(
        &self,
        network: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StorageError> {
        let bookings = on_pool!(&self.side, pool => {
            sqlx::query_as("SELECT booking, until FROM pending_by_network WHERE network = $1 AND until > $2")
                .bind(network)
                .bind(now)
                .fetch_all(pool)
                .await?
        });
        Ok(bookings)
    }

    /// Takes or renews the lease `name` for `owner` until `until`. True: it
    /// is `owner`'s now. False: another owner holds it and it has not expired
    /// at `now`.
    pub async fn hold_lease(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let held = on_pool!(&self.side, pool => {
            sqlx::query(
                "INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
                 WHERE leases.owner = excluded.owner OR leases.expires_at < $4",
            )
            .bind(name)
            .bind(owner)
            .bind(until)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(held == 1)
    }

    /// Gives the lease `name` up, if `owner` holds it.
    pub async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StorageError> {
        on_pool!(&self.side, pool => {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
                .bind(name)
                .bind(owner)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The leases whose name starts with `prefix` and that have not expired
    /// at `now`: (name, owner), by name.
    pub async fn live_leases(&self, prefix: &str, now: DateTime<Utc>) -> Result<Vec<(String, String)>, StorageError> {
        let pattern = format!(
            "{}%",
            prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
        );
        let leases = on_pool!(&self.side, pool => {
            sqlx::query_as(
                "SELECT name, owner FROM leases WHERE name LIKE $1 ESCAPE '\\' AND expires_at >= $2 ORDER BY name",
            )
            .bind(&pattern)
            .bind(now)
            .fetch_all(pool)
            .await?
        });
        Ok(leases)
    }
}
