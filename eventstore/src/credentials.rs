//! What lets staff in, kept beside the log and never in it: each account's
//! password hash (Argon2id, PHC string) and the staff pages' sessions (only
//! the SHA-256 of each session cookie is stored).

use chrono::{DateTime, Utc};

use crate::model::StorageError;
use crate::side::{SidePool, on_pool};

/// A staff page session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    pub staff_id: String,
    /// The token every form of this session carries (CSRF).
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Passwords and sessions of the staff pages.
#[derive(Clone, Debug)]
pub struct StaffCredentials {
    side: SidePool,
}

impl StaffCredentials {
    pub(crate) fn new(side: SidePool) -> Self {
        StaffCredentials { side }
    }

    /// Sets (or replaces) an account's password hash; a `one_time` password
    /// must be replaced at the first sign-in.
    pub async fn set_password(
        &self,
        staff_id: &str,
        password_hash: &str,
        one_time: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        on_pool!(&self.side, pool => {
            sqlx::query(
                "INSERT INTO staff_credentials (staff_id, password_hash, one_time, changed_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (staff_id) DO UPDATE SET password_hash = excluded.password_hash, \
                 one_time = excluded.one_time, changed_at = excluded.changed_at",
            )
            .bind(staff_id)
            .bind(password_hash)
            .bind(one_time)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The account's password hash and whether it is a one-time password.
    pub async fn password(&self, staff_id: &str) -> Result<Option<(String, bool)>, StorageError> {
        Ok(on_pool!(&self.side, pool => {
            sqlx::query_as("SELECT password_hash, one_time FROM staff_credentials WHERE staff_id = $1")
                .bind(staff_id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Records a new session under the hash of its cookie.
    pub async fn open_session(
        &self,
        session_hash: &str,
        session: &StaffSession,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        on_pool!(&self.side, pool => {
            sqlx::query(
                "INSERT INTO staff_sessions (session_hash, staff_id, csrf_token, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(session_hash)
            .bind(&session.staff_id)
            .bind(&session.csrf_token)
            .bind(now)
            .bind(session.expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The session of a cookie's hash, unless it has expired.
    pub async fn session(&self, session_hash: &str, now: DateTime<Utc>) -> Result<Option<StaffSession>, StorageError> {
        let row: Option<(String, String, DateTime<Utc>)> = on_pool!(&self.side, pool => {
            sqlx::query_as(
                "SELECT staff_id, csrf_token, expires_at FROM staff_sessions \
                 WHERE session_hash = $1 AND expires_at > $2",
            )
            .bind(session_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(staff_id, csrf_token, expires_at)| StaffSession {
            staff_id,
            csrf_token,
            expires_at,
        }))
    }

    /// Ends one session (logout).
    pub async fn close_session(&self, session_hash: &str) -> Result<(), StorageError> {
        on_pool!(&self.side, pool => {
            sqlx::query("DELETE FROM staff_sessions WHERE session_hash = $1")
                .bind(session_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Ends every session of an account (disabled, or its password changed).
    pub async fn close_sessions_of(&self, staff_id: &str) -> Result<(), StorageError> {
        on_pool!(&self.side, pool => {
            sqlx::query("DELETE FROM staff_sessions WHERE staff_id = $1")
                .bind(staff_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Forgets sessions that expired before `now`.
    pub async fn forget_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StorageError> {
        Ok(on_pool!(&self.side, pool => {
            sqlx::query("DELETE FROM staff_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}
