//! The citizen index keyed by HMAC (migration 0012 on Postgres, 0011 on
//! SQLite, and its Rust step `rekey_email_index`), on both backends: a
//! database written with the bare SHA-256 index is migrated; afterwards the
//! index no longer holds SHA-256(address), every lookup still finds the
//! same envelope and key, and the step is harmless when run again.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;

use serde_json::json;
use sqlx::migrate::Migrator;
use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, INDEX_SECRET, Opened, email_hash, keyed_index};
use ulid::Ulid;

/// The first migration of the keyed index, per backend.
fn keyed_index_migration(backend: Backend) -> (&'static str, i64) {
    match backend {
        Backend::Postgres => ("postgres", 12),
        Backend::Sqlite => ("sqlite", 11),
    }
}

/// Migrates `db` as a release before the keyed index did, and writes two
/// citizens into its index as that release did: (address, envelope, key).
async fn legacy_database(db: &TestDatabase, backend: Backend) -> Vec<(&'static str, Ulid, Vec<u8>)> {
    let (dir, keyed_from) = keyed_index_migration(backend);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations").join(dir);
    let mut earlier = Migrator::new(path).await.unwrap();
    earlier.migrations = Cow::Owned(
        earlier
            .migrations
            .iter()
            .filter(|migration| migration.version < keyed_from)
            .cloned()
            .collect(),
    );
    let citizens: Vec<(&str, Ulid, Vec<u8>)> = ["erika@example.org", "max@example.org"]
        .into_iter()
        .map(|email| (email, Ulid::new(), (0..32u8).map(|b| b ^ email.len() as u8).collect()))
        .collect();
    macro_rules! write_legacy {
        ($pool:expr) => {{
            let pool = $pool;
            earlier.run(&pool).await.unwrap();
            for (email, envelope, key) in &citizens {
                sqlx::query("INSERT INTO citizen_envelopes (email_hash, envelope_id) VALUES ($1, $2)")
                    .bind(email_hash(email))
                    .bind(envelope.to_string())
                    .execute(&pool)
                    .await
                    .unwrap();
                sqlx::query("INSERT INTO personal_data_keys (envelope_id, key) VALUES ($1, $2)")
                    .bind(envelope.to_string())
                    .bind(key)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }};
    }
    match backend {
        Backend::Postgres => write_legacy!(sqlx::PgPool::connect(db.url()).await.unwrap()),
        Backend::Sqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(db.url())
                .unwrap()
                .create_if_missing(true);
            write_legacy!(sqlx::SqlitePool::connect_with(options).await.unwrap())
        }
    }
    citizens
}

/// (email_hash, keyed) of every index row.
async fn index_rows(db: &TestDatabase, backend: Backend) -> Vec<(Vec<u8>, bool)> {
    let sql = "SELECT email_hash, keyed FROM citizen_envelopes ORDER BY envelope_id";
    match backend {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
            let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        }
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
            let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        }
    }
}

async fn a_bare_sha256_index_is_rekeyed_and_still_finds_everyone(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let citizens = legacy_database(&db, backend).await;
    let store = db.store(Default::default()).await.unwrap();
    let rows = index_rows(&db, backend).await;
    assert!(
        rows.iter().all(|(_, keyed)| !keyed),
        "the migration marks the old rows unkeyed"
    );

    let vault = store.vault();
    assert_eq!(vault.rekey_email_index().await.unwrap(), 2);
    assert_eq!(
        vault.rekey_email_index().await.unwrap(),
        0,
        "a second run changes nothing"
    );
    let secret = vault.installation_secret(INDEX_SECRET).await.unwrap();
    let rows = index_rows(&db, backend).await;
    assert_eq!(rows.len(), 2);
    for (email, _, _) in &citizens {
        let bare = email_hash(email);
        assert!(
            rows.iter().all(|(hash, _)| *hash != bare),
            "SHA-256({email}) is no longer in the index"
        );
        assert!(rows.contains(&(keyed_index(&secret, &bare), true)), "{email}");
    }

    // Every lookup finds the same envelope, sealed with the same key.
    for (email, envelope, _) in &citizens {
        assert_eq!(vault.find_envelope(email).await.unwrap(), Some(*envelope));
        assert_eq!(vault.envelope_for(email, Ulid::new()).await.unwrap(), *envelope);
        let sealed = vault
            .seal_for_citizen(email, Ulid::new(), &json!({"email": email}))
            .await
            .unwrap();
        assert_eq!(sealed.envelope_id, *envelope);
        assert_eq!(
            vault.open::<serde_json::Value>(&sealed).await.unwrap(),
            Opened::Readable(json!({"email": email}))
        );
    }
    // A new citizen is indexed keyed at once, and the rekeying leaves them be.
    let fresh = Ulid::new();
    assert_eq!(vault.envelope_for("neu@example.org", fresh).await.unwrap(), fresh);
    assert_eq!(vault.rekey_email_index().await.unwrap(), 0);
    let rows = index_rows(&db, backend).await;
    assert!(rows.contains(&(keyed_index(&secret, &email_hash("neu@example.org")), true)));
    assert_eq!(vault.find_envelope("neu@example.org").await.unwrap(), Some(fresh));

    // Erasure deletes the keyed entry with the key.
    assert!(vault.erase(citizens[0].1).await.unwrap());
    assert_eq!(vault.find_envelope(citizens[0].0).await.unwrap(), None);
    assert_eq!(index_rows(&db, backend).await.len(), 2);
    store.close().await;
}

/// Two processes starting at once both run the step: each row is rekeyed once.
async fn rekeying_in_two_processes_at_once_rekeys_each_row_once(backend: Backend) {
    let db = TestDatabase::new(backend).await.unwrap();
    let citizens = legacy_database(&db, backend).await;
    let (one, two) = (
        db.store(Default::default()).await.unwrap(),
        db.store(Default::default()).await.unwrap(),
    );
    let (vault_one, vault_two) = (one.vault(), two.vault());
    let (a, b) = tokio::join!(vault_one.rekey_email_index(), vault_two.rekey_email_index());
    assert_eq!(a.unwrap() + b.unwrap(), 2);
    for (email, envelope, _) in &citizens {
        assert_eq!(two.vault().find_envelope(email).await.unwrap(), Some(*envelope));
    }
    one.close().await;
    two.close().await;
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    a_bare_sha256_index_is_rekeyed_and_still_finds_everyone,
    rekeying_in_two_processes_at_once_rekeys_each_row_once,
);
