//! The tables beside the event log (vault keys, secrets, consumer progress):
//! plain rows, reached through the same pool as the log.

/// A connection pool of either backend, for the side tables.
#[derive(Clone, Debug)]
pub(crate) enum SidePool {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

/// Runs `$body` with `$pool` bound to whichever backend's pool is in use.
/// Side-table SQL is written once: both backends take `$1`-style parameters
/// (SQLite binds them in order of appearance).
macro_rules! on_pool {
    ($side:expr, $pool:ident => $body:expr) => {
        match $side {
            $crate::side::SidePool::Postgres($pool) => $body,
            $crate::side::SidePool::Sqlite($pool) => $body,
        }
    };
}
pub(crate) use on_pool;
