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
/// Connections idle this long are closed, so a quiet process holds none.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) struct HotConnections {
    connect: PgConnectOptions,
    /// Bounds how many connections exist at once (idle or leased).
    slots: Semaphore,
    /// Idle connections, the most recently used last.
    idle: Mutex<Vec<(PgConnection, Instant)>>,
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
