//! Connections for the log's hot statements (appends, stream reads), kept
//! apart from sqlx's pool.
//!
//! sqlx's pool tests every connection when it comes back (a Sync and its
//! ReadyForQuery: one more round trip per statement), because a statement
//! cancelled half-way can leave a connection unusable. Here a lease brings its
//! connection back only when its statement ran to the end or failed inside the
//! database, both of which leave the connection sound; a lease dropped
//! half-way (a cancelled request) closes its connection instead.

use std::sync::Mutex;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::model::StorageError;

/// How long a caller waits for a free connection before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections idle this long are closed by the next lease instead of reused
/// (the server may have dropped them meanwhile); all close with the store.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) struct HotConnections {
    connect: PgConnectOptions,
    /// Bounds how many connections exist at once (idle or leased).
    slots: Semaphore,
    /// Idle connections, the most recently used last.
    idle: Mutex<Vec<(PgConnection, Instant)>>,
}

impl std::fmt::Debug for HotConnections {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HotConnections")
            .field("free_slots", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl HotConnections {
    pub(crate) fn new(connect: PgConnectOptions, max_connections: u32) -> Self {
        HotConnections {
            connect,
            slots: Semaphore::new(max_connections.max(1) as usize),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A connection for one statement: an idle one if any, else a new one.
    pub(crate) async fn lease(&self) -> Result<Lease<'_>, StorageError> {
        let slot = tokio::time::timeout(ACQUIRE_TIMEOUT, self.slots.acquire())
            .await
            .map_err(|_| StorageError::Database(sqlx::Error::PoolTimedOut))?
            .map_err(|_| StorageError::Database(sqlx::Error::PoolClosed))?;
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            idle.retain(|(_, since)| since.elapsed() < IDLE_TIMEOUT);
            idle.pop().map(|(connection, _)| connection)
        };
        let connection = match reused {
            Some(connection) => connection,
            None => PgConnection::connect_with(&self.connect).await?,
        };
        Ok(Lease {
            connection: Some(connection),
            home: self,
            _slot: slot,
        })
    }
}

/// One leased connection. Dropped without [`Lease::give_back`], it is closed.
pub(crate) struct Lease<'a> {
    connection: Option<PgConnection>,
    home: &'a HotConnections,
    _slot: SemaphorePermit<'a>,
}

impl Lease<'_> {
    pub(crate) fn connection(&mut self) -> &mut PgConnection {
        self.connection
            .as_mut()
            .expect("a lease holds its connection until it is given back")
    }

    /// Returns the connection for reuse after a statement that ended with
    /// `outcome` and whose rows were all read.
    pub(crate) fn give_back<T>(self, outcome: &Result<T, sqlx::Error>) {
        self.give_back_if(outcome.as_ref().err().is_none_or(leaves_connection_sound));
    }

    /// Returns the connection for reuse if `sound`; closes it otherwise.
    pub(crate) fn give_back_if(mut self, sound: bool) {
        if let (true, Some(connection)) = (sound, self.connection.take()) {
            self.home
                .idle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push((connection, Instant::now()));
        }
    }
}

/// Whether a connection can run another statement after `error`: an error the
/// database reported ends its statement cleanly; any other (I/O, protocol) may
/// have left the connection half-way through a message.
pub(crate) fn leaves_connection_sound(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn connections(max: u32) -> HotConnections {
        let connect = PgConnectOptions::from_str(&crate::testing::postgres_server_url()).expect("a Postgres URL");
        HotConnections::new(connect, max)
    }

    fn idle(connections: &HotConnections) -> usize {
        connections.idle.lock().map_or(0, |idle| idle.len())
    }

    async fn backend_pid(lease: &mut Lease<'_>) -> Result<i32, sqlx::Error> {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(lease.connection())
            .await
    }

    #[tokio::test]
    async fn a_finished_statement_gives_its_connection_back_for_the_next() {
        let connections = connections(2);
        let mut lease = connections.lease().await.unwrap();
        let pid = backend_pid(&mut lease).await;
        let first = pid.as_ref().copied().unwrap();
        lease.give_back(&pid);
        assert_eq!(idle(&connections), 1);

        // An error the database reports ends its statement cleanly.
        let mut lease = connections.lease().await.unwrap();
        let failed = sqlx::query("SELECT 1/0").execute(lease.connection()).await;
        assert!(failed.as_ref().is_err_and(leaves_connection_sound));
        lease.give_back(&failed);

        let mut lease = connections.lease().await.unwrap();
        assert_eq!(
            backend_pid(&mut lease).await.unwrap(),
            first,
            "the same connection, reused"
        );
        lease.give_back_if(true);
    }

    #[tokio::test]
    async fn a_statement_cancelled_half_way_takes_its_connection_with_it() {
        let connections = connections(1);
        let mut lease = connections.lease().await.unwrap();
        let first = backend_pid(&mut lease).await.unwrap();
        // A request dropped while its statement runs: the lease goes unreturned.
        let cancelled = tokio::time::timeout(
            Duration::from_millis(50),
            sqlx::query("SELECT pg_sleep(5)").execute(lease.connection()),
        )
        .await;
        assert!(cancelled.is_err(), "the statement was still running");
        drop(lease);
        assert_eq!(idle(&connections), 0, "closed, not kept");

        // The slot is free again and the next lease runs on a new connection.
        let mut lease = connections.lease().await.unwrap();
        let second = backend_pid(&mut lease).await.unwrap();
        assert_ne!(second, first);
        lease.give_back_if(true);
    }
}
