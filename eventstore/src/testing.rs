//! Throw-away databases for tests and benchmarks. Each one has a unique name,
//! so tests can run in parallel and twice in a row; it is dropped afterwards.
//!
//! The Postgres server is `TERMINAGENT_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`).

use std::path::PathBuf;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::model::StorageError;
use crate::store::{Backend, EventStore, StoreOptions};

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn postgres_server_url() -> String {
    std::env::var("TERMINAGENT_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// A database that exists for the lifetime of this value.
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Postgres { server: String, name: String },
    Sqlite { dir: PathBuf },
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Result<Self, StorageError> {
        let name = format!("terminagent_test_{}", ulid::Ulid::new().to_string().to_lowercase());
        match backend {
            Backend::Postgres => {
                let server = postgres_server_url();
                let mut admin = PgConnection::connect(&server).await?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                let url = with_database(&server, &name);
                Ok(TestDatabase {
                    url,
                    cleanup: Cleanup::Postgres { server, name },
                })
            }
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(name);
                std::fs::create_dir_all(&dir).map_err(|e| StorageError::corrupt(dir.display(), e))?;
                let url = format!("sqlite://{}", dir.join("log.db").display());
                Ok(TestDatabase {
                    url,
                    cleanup: Cleanup::Sqlite { dir },
                })
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A migrated store on this database.
    pub async fn store(&self, options: StoreOptions) -> Result<EventStore, StorageError> {
        let store = EventStore::connect(&self.url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Runs `statements` in order on a connection of its own, outside any
    /// store: for tests that tamper with the log as an intruder would.
    pub async fn execute(&self, statements: &[(&str, &[SqlValue<'_>])]) -> Result<(), StorageError> {
        macro_rules! run_all {
            ($connection:expr) => {{
                let mut connection = $connection;
                for (sql, values) in statements {
                    let mut query = sqlx::query(sql);
                    for value in *values {
                        query = match value {
                            SqlValue::Int(value) => query.bind(*value),
                            SqlValue::Text(value) => query.bind(value.to_string()),
                            SqlValue::Bytes(value) => query.bind(value.to_vec()),
                        };
                    }
                    query.execute(&mut connection).await?;
                }
                connection.close().await?;
            }};
        }
        match self.cleanup {
            Cleanup::Postgres { .. } => run_all!(PgConnection::connect(&self.url).await?),
            Cleanup::Sqlite { .. } => run_all!(sqlx::SqliteConnection::connect(&self.url).await?),
        }
        Ok(())
    }
}

/// A value bound to a statement of [`TestDatabase::execute`].
#[derive(Debug, Clone, Copy)]
pub enum SqlValue<'a> {
    Int(i64),
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { server, name } => {
                let (server, name) = (server.clone(), name.clone());
                // Drop runs inside async tests; do the async cleanup on a thread of its own.
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    runtime.block_on(async {
                        let mut admin = PgConnection::connect(&server).await.ok()?;
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin)
                            .await
                            .ok()
                    })
                })
                .join();
                if !matches!(dropped, Ok(Some(_))) {
                    eprintln!("could not drop test database {}", self.url);
                }
            }
        }
    }
}

/// `server` with its database name replaced by `database`.
fn with_database(server: &str, database: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// An append whose transaction stays open until [`UncommittedAppend::commit`]:
/// lets a test make writers commit in another order than they wrote.
pub struct UncommittedAppend {
    connection: OpenWriter,
}

enum OpenWriter {
    Postgres(PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl UncommittedAppend {
    /// Opens a writer transaction on a connection of its own (on SQLite this
    /// takes the database's write lock, so other appends wait for it).
    pub async fn begin(store: &EventStore, url: &str) -> Result<Self, StorageError> {
        let connection = match store.backend() {
            Backend::Postgres => {
                let mut connection = PgConnection::connect(url).await?;
                sqlx::query("BEGIN").execute(&mut connection).await?;
                OpenWriter::Postgres(connection)
            }
            Backend::Sqlite => {
                let mut connection = sqlx::SqliteConnection::connect(url).await?;
                sqlx::query("PRAGMA busy_timeout = 10000")
                    .execute(&mut connection)
                    .await?;
                sqlx::query("BEGIN IMMEDIATE").execute(&mut connection).await?;
                OpenWriter::Sqlite(connection)
            }
        };
        Ok(UncommittedAppend { connection })
    }

    /// On Postgres, makes this transaction take its transaction id now — before
    /// anything is inserted — so it is older than writers that start after it.
    pub async fn take_transaction_id(&mut self) -> Result<(), StorageError> {
        if let OpenWriter::Postgres(connection) = &mut self.connection {
            sqlx::query("SELECT pg_current_xact_id()").execute(connection).await?;
        }
        Ok(())
    }

    pub async fn append(&mut self, events: &[crate::NewEvent]) -> Result<(), crate::AppendError> {
        match &mut self.connection {
            OpenWriter::Postgres(connection) => {
                crate::postgres::call_append_events(&mut *connection, events, &[])
                    .await
                    .map_err(crate::postgres::AppendFailure::into_append_error)?;
            }
            OpenWriter::Sqlite(connection) => {
                crate::sqlite::append_on(connection, events, &[], None).await?;
            }
        }
        Ok(())
    }

    pub async fn commit(self) -> Result<(), StorageError> {
        match self.connection {
            OpenWriter::Postgres(mut connection) => {
                sqlx::query("COMMIT").execute(&mut connection).await?;
                connection.close().await?;
            }
            OpenWriter::Sqlite(mut connection) => {
                sqlx::query("COMMIT").execute(&mut connection).await?;
                connection.close().await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
