//! Moving an installation to another database (`terminagent migrate-log`):
//! the tables beside the log, copied row by row. The log itself moves through
//! the ordinary append (see the services' `migrate_log`), so the target numbers
//! and chains it itself and a matching head hash proves the copy.
//!
//! What moves, and why: the installation secrets (link signatures and the
//! keyed citizen index are only valid under them), the vault's keys and the
//! citizen index (without them the envelopes in the log cannot be opened),
//! the consumers' checkpoints and the sent-mail ledger (so no mail goes out
//! twice from the new database), and staff passwords. What does not: page
//! sessions (staff sign in again), snapshots (rebuilt from the log), leases
//! and display presence (live state of running processes).
//!
//! Every copy is an upsert that keeps the target's row when it holds one
//! already, except secrets, where the source wins: copying again after an
//! interruption changes nothing that was copied.

use chrono::{DateTime, Utc};

use crate::model::StorageError;
use crate::side::{SidePool, on_pool};
use crate::store::EventStore;

/// Rows read and written per statement batch.
const PAGE: i64 = 1000;

/// How many rows of each side table the target holds from the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideTablesCopied {
    pub secrets: u64,
    pub personal_data_keys: u64,
    pub citizen_index: u64,
    pub checkpoints: u64,
    pub sent_mails: u64,
    pub staff_credentials: u64,
}

/// Copies the side tables of `from` into `to` (see the module's comment).
pub async fn copy_side_tables(from: &EventStore, to: &EventStore) -> Result<SideTablesCopied, StorageError> {
    let (from, to) = (from.side_pool(), to.side_pool());
    Ok(SideTablesCopied {
        secrets: copy_secrets(&from, &to).await?,
        personal_data_keys: copy_personal_data_keys(&from, &to).await?,
        citizen_index: copy_citizen_index(&from, &to).await?,
        checkpoints: copy_checkpoints(&from, &to).await?,
        sent_mails: copy_sent_mails(&from, &to).await?,
        staff_credentials: copy_staff_credentials(&from, &to).await?,
    })
}

async fn copy_secrets(from: &SidePool, to: &SidePool) -> Result<u64, StorageError> {
    let rows: Vec<(String, Vec<u8>)> = on_pool!(from, pool => {
        sqlx::query_as("SELECT name, secret FROM installation_secrets ORDER BY name").fetch_all(pool).await?
    });
    for (name, secret) in &rows {
        on_pool!(to, pool => {
            sqlx::query(
                "INSERT INTO installation_secrets (name, secret) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET secret = excluded.secret",
            )
            .bind(name)
            .bind(secret)
            .execute(pool)
            .await
            .map(|_| ())?
        });
    }
    Ok(rows.len() as u64)
}

/// Copies a table page by page in the order of its key `$key` (the first
/// column of `$row`): selects up to [`PAGE`] rows after the last key copied,
/// inserts each (the insert must skip rows the target holds), one
/// transaction a page. The SQL is written once for both backends.
macro_rules! copy_in_pages {
    ($from:expr, $to:expr, $row:ty, $select:literal, $insert:literal, $start:expr) => {{
        let mut after = $start;
        let mut copied = 0u64;
        loop {
            let rows: Vec<$row> = on_pool!($from, pool => {
                sqlx::query_as($select).bind(&after).bind(PAGE).fetch_all(pool).await?
            });
            let Some(last) = rows.last() else { break };
            after = last.0.clone();
            on_pool!($to, pool => {
                let mut transaction = pool.begin().await?;
                for (key, second, third) in &rows {
                    sqlx::query($insert)
                        .bind(key)
                        .bind(second)
                        .bind(third)
                        .execute(&mut *transaction)
                        .await?;
                }
                transaction.commit().await?
            });
            copied += rows.len() as u64;
        }
        Ok(copied)
    }};
}

async fn copy_personal_data_keys(from: &SidePool, to: &SidePool) -> Result<u64, StorageError> {
    copy_in_pages!(
        from,
        to,
        (String, Vec<u8>, DateTime<Utc>),
        "SELECT envelope_id, key, created_at FROM personal_data_keys
         WHERE envelope_id > $1 ORDER BY envelope_id LIMIT $2",
        "INSERT INTO personal_data_keys (envelope_id, key, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (envelope_id) DO NOTHING",
        String::new()
    )
}

async fn copy_citizen_index(from: &SidePool, to: &SidePool) -> Result<u64, StorageError> {
    copy_in_pages!(
        from,
        to,
        (Vec<u8>, String, bool),
        "SELECT email_hash, envelope_id, keyed FROM citizen_envelopes
         WHERE email_hash > $1 ORDER BY email_hash LIMIT $2",
        "INSERT INTO citizen_envelopes (email_hash, envelope_id, keyed) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        Vec::<u8>::new()
    )
}

async fn copy_checkpoints(from: &SidePool, to: &SidePool) -> Result<u64, StorageError> {
    let rows: Vec<(String, i64)> = on_pool!(from, pool => {
        sqlx::query_as("SELECT consumer, position FROM consumer_checkpoints ORDER BY consumer").fetch_all(pool).await?
    });
    for (consumer, position) in &rows {
        // The further checkpoint wins: a consumer never goes back over what it handled.
        on_pool!(to, pool => {
            sqlx::query(
                "INSERT INTO consumer_checkpoints (consumer, position) VALUES ($1, $2)
                 ON CONFLICT (consumer) DO UPDATE SET position = excluded.position
                 WHERE consumer_checkpoints.position < excluded.position",
            )
            .bind(consumer)
            .bind(position)
            .execute(pool)
            .await
            .map(|_| ())?
        });
    }
    Ok(rows.len() as u64)
}

async fn copy_sent_mails(from: &SidePool, to: &SidePool) -> Result<u64, StorageError> {
    copy_in_pages!(
        from,
        to,
        (String, String, DateTime<Utc>),
        "SELECT mail_key, outcome, recorded_at FROM sent_mails
         WHERE mail_key > $1 ORDER BY mail_key LIMIT $2",
        "INSERT INTO sent_mails (mail_key, outcome, recorded_at) VALUES ($1, $2, $3)
         ON CONFLICT (mail_key) DO NOTHING",
        String::new()
    )
}

async fn copy_staff_credentials(from: &SidePool, to: &SidePool) -> Result<u64, StorageError> {
    let rows: Vec<(String, String, bool, DateTime<Utc>)> = on_pool!(from, pool => {
        sqlx::query_as("SELECT staff_id, password_hash, one_time, changed_at FROM staff_credentials ORDER BY staff_id")
            .fetch_all(pool)
            .await?
    });
    for (staff, hash, one_time, changed_at) in &rows {
        on_pool!(to, pool => {
            sqlx::query(
                "INSERT INTO staff_credentials (staff_id, password_hash, one_time, changed_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (staff_id) DO NOTHING",
            )
            .bind(staff)
            .bind(hash)
            .bind(one_time)
            .bind(changed_at)
            .execute(pool)
            .await
            .map(|_| ())?
        });
    }
    Ok(rows.len() as u64)
}
