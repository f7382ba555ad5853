//! The tables beside the event log (vault keys, secrets, consumer progress):
//! plain rows, reached through the same pool as the log.

use std::sync::Arc;

use crate::pg_connections::HotConnections;

/// A connection pool of either backend, for the side tables. On Postgres
/// also the log's hot connections, for the side statements every booking or
/// mail makes (sealing, the mailer's ledger), which then pay no test on return.
#[derive(Clone, Debug)]
pub(crate) enum SidePool {
    Postgres {
        pool: sqlx::PgPool,
        hot: Arc<HotConnections>,
    },
    Sqlite(sqlx::SqlitePool),
}

/// Runs `$body` with `$pool` bound to whichever backend's pool is in use.
/// Side-table SQL is written once: both backends take `$1`-style parameters
/// (SQLite binds them in order of appearance).
macro_rules! on_pool {
    ($side:expr, $pool:ident => $body:expr) => {
        match $side {
            $crate::side::SidePool::Postgres { pool: $pool, .. } => $body,
            $crate::side::SidePool::Sqlite($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs one statement, `$statement` (an expression that awaits it and gives
/// `Result<_, sqlx::Error>`, of one type on both backends), with
/// `$connection` bound to a connection of the side tables: on Postgres a hot
/// connection (given back only when the statement ran to its end), on SQLite
/// the pool. Evaluates to the statement's result.
macro_rules! on_hot_connection {
    ($side:expr, $connection:ident => $statement:expr) => {
        match $side {
            $crate::side::SidePool::Postgres { hot, .. } => {
                let mut lease = hot.lease().await?;
                let outcome = {
                    let $connection = lease.connection();
                    $statement
                };
                lease.give_back(&outcome);
                outcome
            }
            $crate::side::SidePool::Sqlite($connection) => $statement,
        }
    };
}
pub(crate) use on_hot_connection;
