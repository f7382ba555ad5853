//! Personal data: one envelope per citizen, sealed with a per-citizen key that
//! lives in `personal_data_keys`, outside the event log. Events carry only the
//! sealed envelope; erasing the key (crypto-shredding) makes it unreadable for
//! good while every event still replays.
//!
//! The citizen index (`citizen_envelopes`) finds a citizen's envelope by
//! e-mail address without storing it: its key is HMAC-SHA256, under the
//! installation secret [`INDEX_SECRET`], of the SHA-256 of the normalised
//! address. A copy of the index alone cannot confirm addresses from a list.
//! Keying the SHA-256 (not the address) lets [`PersonalDataVault::rekey_email_index`]
//! turn rows of the earlier bare SHA-256 index into keyed ones.

use std::any::Any;
use std::sync::{Arc, Mutex, Weak};

use crate::side::{SidePool, on_hot_connection, on_pool};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use ulid::Ulid;

use crate::model::StorageError;

/// A citizen's personal data, encrypted. Safe to store in events: without the
/// key it says nothing but the envelope id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedEnvelope {
    pub envelope_id: Ulid,
    /// 96-bit nonce, hex.
    pub nonce: String,
    /// ChaCha20-Poly1305 ciphertext with tag, hex; the envelope id is bound as associated data.
    pub ciphertext: String,
}

/// What opening an envelope found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened<T> {
    Readable(T),
    /// The key was erased: the data is gone for good.
    Erased,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("envelope {0} does not decrypt with its key (tampered or corrupt)")]
    Tampered(Ulid),
    #[error("envelope {envelope_id} is malformed: {reason}")]
    Malformed { envelope_id: Ulid, reason: String },
}

impl From<sqlx::Error> for VaultError {
    fn from(error: sqlx::Error) -> Self {
        VaultError::Storage(error.into())
    }
}

/// Seals, opens and erases personal-data envelopes.
#[derive(Clone, Debug)]
pub struct PersonalDataVault {
    keys: SidePool,
}

impl PersonalDataVault {
    pub(crate) fn new(keys: SidePool) -> Self {
        PersonalDataVault { keys }
    }

    /// The key of the e-mail index ([`INDEX_SECRET`]), read once per process
    /// and database: every booking consults the index, and the key never
    /// changes. Cached under the pool's connect options (held weakly, so a
    /// dropped pool's place is never mistaken for another database's).
    async fn index_key(&self) -> Result<[u8; 32], VaultError> {
        let identity: Arc<dyn Any + Send + Sync> = match &self.keys {
            SidePool::Postgres { pool, .. } => pool.connect_options(),
            SidePool::Sqlite(pool) => pool.connect_options(),
        };
        let cached = |keys: &mut Vec<(Weak<dyn Any + Send + Sync>, [u8; 32])>| {
            keys.retain(|(database, _)| database.strong_count() > 0);
            keys.iter()
                .find(|(database, _)| std::ptr::addr_eq(database.as_ptr(), Arc::as_ptr(&identity)))
                .map(|(_, key)| *key)
        };
        if let Some(key) = cached(&mut lock_index_keys()) {
            return Ok(key);
        }
        let key = self.installation_secret(INDEX_SECRET).await?;
        let mut keys = lock_index_keys();
        if cached(&mut keys).is_none() {
            keys.push((Arc::downgrade(&identity), key));
        }
        Ok(key)
    }

    /// The index entry of a normalised e-mail address.
    async fn email_index(&self, normalised_email: &str) -> Result<Vec<u8>, VaultError> {
        Ok(keyed_index(&self.index_key().await?, &email_hash(normalised_email)))
    }

    /// The envelope of the citizen with this normalised e-mail address, if
    /// the index knows one (never creates one): what erasure looks up.
    pub async fn find_envelope(&self, normalised_email: &str) -> Result<Option<Ulid>, VaultError> {
        let index = self.email_index(normalised_email).await?;
        let known: Option<String> = on_pool!(&self.keys, pool => {
            sqlx::query_scalar("SELECT envelope_id FROM citizen_envelopes WHERE email_hash = $1")
                .bind(&index)
                .fetch_optional(pool)
                .await?
        });
        known.map(parse_envelope_id).transpose()
    }

    /// Deletes only the envelope's key, keeping its index entry: the first
    /// step of an erasure, so that no mail can be written from the data while
    /// the erasure is recorded, and a failed recording can be run again by
    /// address. [`Self::erase`] finishes it. Returns whether there was a key.
    pub async fn erase_key(&self, envelope_id: Ulid) -> Result<bool, VaultError> {
        let id = envelope_id.to_string();
        let deleted = on_pool!(&self.keys, pool => {
            sqlx::query("DELETE FROM personal_data_keys WHERE envelope_id = $1")
                .bind(&id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    /// The Rust half of migration 0012 (Postgres) / 0011 (SQLite): index rows
    /// still keyed by the bare SHA-256 of an address (`keyed` false) get the
    /// keyed form, which SQL cannot compute. Idempotent, and safe to run in
    /// several processes at once (a row is only rekeyed while it is unkeyed).
    /// Returns how many rows it rekeyed.
    pub async fn rekey_email_index(&self) -> Result<u64, VaultError> {
        let key = self.index_key().await?;
        // No transaction: each row's UPDATE is atomic and rekeys only an
        // unkeyed row, so a concurrent run finds it done (and SQLite's
        // deferred transactions would make two processes' runs collide).
        let rekeyed = on_pool!(&self.keys, pool => {
            let legacy: Vec<Vec<u8>> = sqlx::query_scalar("SELECT email_hash FROM citizen_envelopes WHERE NOT keyed")
                .fetch_all(pool)
                .await?;
            let mut rekeyed = 0;
            for hash in legacy {
                rekeyed += sqlx::query(
                    "UPDATE citizen_envelopes SET email_hash = $1, keyed = TRUE WHERE email_hash = $2 AND NOT keyed",
                )
                .bind(keyed_index(&key, &hash))
                .bind(&hash)
                .execute(pool)
                .await?
                .rows_affected();
            }
            rekeyed
        });
        Ok(rekeyed)
    }

    /// Encrypts `data` into the envelope `envelope_id`, creating its key on
    /// first use. Sealing after erasure creates a fresh key (a new start).
    pub async fn seal<T: Serialize>(&self, envelope_id: Ulid, data: &T) -> Result<SealedEnvelope, VaultError> {
        let key = self.key_or_create(envelope_id).await?;
        seal_with(envelope_id, &key, data)
    }

    /// Encrypts `data` into the envelope of the citizen with this (normalised)
    /// e-mail address, creating envelope (as `fresh`) and key on first use —
    /// what [`Self::envelope_for`] and [`Self::seal`] do together, in fewer
    /// statements: on Postgres one for any citizen; on SQLite one read for a
    /// returning citizen, three for a new one.
    pub async fn seal_for_citizen<T: Serialize>(
        &self,
        normalised_email: &str,
        fresh: Ulid,
        data: &T,
    ) -> Result<SealedEnvelope, VaultError> {
        let hash = self.email_index(normalised_email).await?;
        let known: Option<(String, Option<Vec<u8>>)> = match &self.keys {
            SidePool::Postgres { .. } => {
                let key = fresh_key();
                on_hot_connection!(&self.keys, connection => {
                    sqlx::query_as(include_str!("sql/pg_seal_citizen.sql"))
                        .bind(&hash)
                        .bind(fresh.to_string())
                        .bind(&key)
                        .fetch_optional(connection)
                        .await
                })?
            }
            SidePool::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT e.envelope_id, k.key FROM citizen_envelopes e \
                     LEFT JOIN personal_data_keys k ON k.envelope_id = e.envelope_id WHERE e.email_hash = $1",
                )
                .bind(&hash)
                .fetch_optional(pool)
                .await?
            }
        };
        let (envelope_id, key) = match known {
            Some((id, Some(key))) => (parse_envelope_id(id)?, key),
            Some((id, None)) => {
                let envelope_id = parse_envelope_id(id)?;
                (envelope_id, self.key_or_create(envelope_id).await?)
            }
            // A new citizen on SQLite; on Postgres, a racing first seal of
            // the same citizen that claimed the envelope meanwhile.
            None => {
                let envelope_id = self.claim_envelope(&hash, fresh).await?;
                let key = if envelope_id == fresh {
                    // Nobody can hold a key for an id that did not exist a moment ago
                    // but a racing sealer of the same citizen: insert, read only on conflict.
                    self.create_key(envelope_id).await?
                } else {
                    self.key_or_create(envelope_id).await?
                };
                (envelope_id, key)
            }
        };
        seal_with(envelope_id, &key, data)
    }

    pub async fn open<T: DeserializeOwned>(&self, sealed: &SealedEnvelope) -> Result<Opened<T>, VaultError> {
        let envelope_id = sealed.envelope_id;
        let Some(key) = self.key(envelope_id).await? else {
            return Ok(Opened::Erased);
        };
        let malformed = |reason: &str| VaultError::Malformed {
            envelope_id,
            reason: reason.into(),
        };
        let nonce = unhex(&sealed.nonce)
            .filter(|n| n.len() == 12)
            .ok_or_else(|| malformed("bad nonce"))?;
        let ciphertext = unhex(&sealed.ciphertext).ok_or_else(|| malformed("bad ciphertext"))?;
        let aad = envelope_id.to_bytes();
        let plaintext = ChaCha20Poly1305::new(Key::from_slice(&key))
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Tampered(envelope_id))?;
        let data = serde_json::from_slice(&plaintext).map_err(|e| malformed(&e.to_string()))?;
        Ok(Opened::Readable(data))
    }

    /// Deletes the envelope's key and the e-mail index pointing at it, in one
    /// transaction; returns whether there was a key.
    pub async fn erase(&self, envelope_id: Ulid) -> Result<bool, VaultError> {
        let id = envelope_id.to_string();
        let deleted = on_pool!(&self.keys, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM citizen_envelopes WHERE envelope_id = $1").bind(&id).execute(&mut *tx).await?;
            let deleted = sqlx::query("DELETE FROM personal_data_keys WHERE envelope_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            deleted
        });
        Ok(deleted > 0)
    }

    /// The envelope of the citizen with this normalised e-mail address,
    /// created on first use (`fresh` is its id then). Only a keyed hash of
    /// the address is stored. After erasure the same address gets a new envelope.
    pub async fn envelope_for(&self, normalised_email: &str, fresh: Ulid) -> Result<Ulid, VaultError> {
        let hash = self.email_index(normalised_email).await?;
        // A returning citizen costs one read.
        let known: Option<String> = on_pool!(&self.keys, pool => {
            sqlx::query_scalar("SELECT envelope_id FROM citizen_envelopes WHERE email_hash = $1")
                .bind(&hash)
                .fetch_optional(pool)
                .await?
        });
        match known {
            Some(id) => parse_envelope_id(id),
            None => self.claim_envelope(&hash, fresh).await,
        }
    }

    /// Makes `fresh` the envelope of the citizen with this e-mail hash, unless
    /// a racing first request made another one (which is returned then): two
    /// first requests of one citizen agree on one envelope.
    async fn claim_envelope(&self, hash: &[u8], fresh: Ulid) -> Result<Ulid, VaultError> {
        let fresh = fresh.to_string();
        let id: String = on_pool!(&self.keys, pool => {
            let inserted: Option<String> = sqlx::query_scalar(
                "INSERT INTO citizen_envelopes (email_hash, envelope_id) VALUES ($1, $2) \
                 ON CONFLICT (email_hash) DO NOTHING RETURNING envelope_id",
            )
            .bind(hash)
            .bind(&fresh)
            .fetch_optional(pool)
            .await?;
            match inserted {
                Some(id) => id,
                None => sqlx::query_scalar("SELECT envelope_id FROM citizen_envelopes WHERE email_hash = $1")
                    .bind(hash)
                    .fetch_one(pool)
                    .await?,
            }
        });
        parse_envelope_id(id)
    }

    /// The installation's secret named `name` (32 random bytes), created on
    /// first use; every process of the installation gets the same one.
    pub async fn installation_secret(&self, name: &str) -> Result<[u8; 32], VaultError> {
        let mut fresh = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut fresh);
        let secret: Vec<u8> = on_pool!(&self.keys, pool => {
            sqlx::query("INSERT INTO installation_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(&fresh[..])
                .execute(pool)
                .await?;
            sqlx::query_scalar("SELECT secret FROM installation_secrets WHERE name = $1").bind(name).fetch_one(pool).await?
        });
        secret.try_into().map_err(|_| {
            VaultError::Storage(StorageError::Corrupt {
                at: name.into(),
                reason: "secret is not 32 bytes".into(),
            })
        })
    }

    async fn key(&self, envelope_id: Ulid) -> Result<Option<Vec<u8>>, VaultError> {
        let id = envelope_id.to_string();
        let key = on_hot_connection!(&self.keys, connection => {
            sqlx::query_scalar("SELECT key FROM personal_data_keys WHERE envelope_id = $1")
                .bind(&id)
                .fetch_optional(connection)
                .await
        })?;
        Ok(key)
    }

    async fn key_or_create(&self, envelope_id: Ulid) -> Result<Vec<u8>, VaultError> {
        // A citizen's next seal costs one read.
        if let Some(key) = self.key(envelope_id).await? {
            return Ok(key);
        }
        self.create_key(envelope_id).await
    }

    /// Insert-if-absent, then (only if another sealer won) read: two sealers
    /// of one envelope agree on one key.
    async fn create_key(&self, envelope_id: Ulid) -> Result<Vec<u8>, VaultError> {
        let fresh = fresh_key();
        let id = envelope_id.to_string();
        let inserted: Option<Vec<u8>> = on_pool!(&self.keys, pool => {
            sqlx::query_scalar(
                "INSERT INTO personal_data_keys (envelope_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING key",
            )
            .bind(&id)
            .bind(&fresh)
            .fetch_optional(pool)
            .await?
        });
        match inserted {
            Some(key) => Ok(key),
            None => self.key(envelope_id).await?.ok_or_else(|| VaultError::Malformed {
                envelope_id,
                reason: "key vanished while sealing".into(),
            }),
        }
    }
}

/// A new citizen key: 32 random bytes.
fn fresh_key() -> Vec<u8> {
    let mut key = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    key
}

/// The installation secret the e-mail index is keyed with.
pub const INDEX_SECRET: &str = "citizen-index";

type IndexKeys = Vec<(Weak<dyn Any + Send + Sync>, [u8; 32])>;

/// Index keys this process has read, per database (see `index_key`).
static INDEX_KEYS: Mutex<IndexKeys> = Mutex::new(Vec::new());

fn lock_index_keys() -> std::sync::MutexGuard<'static, IndexKeys> {
    INDEX_KEYS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The unkeyed SHA-256 of a normalised address (what the index held before
/// migration 0012/0011, and what the keyed index is computed from).
pub fn email_hash(normalised_email: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(normalised_email.as_bytes()).to_vec()
}

/// HMAC-SHA256 under the index key of an address's SHA-256: the index entry.
pub fn keyed_index(key: &[u8; 32], email_hash: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(email_hash);
    mac.finalize().into_bytes().to_vec()
}

fn parse_envelope_id(id: String) -> Result<Ulid, VaultError> {
    Ulid::from_string(&id).map_err(|e| {
        VaultError::Storage(StorageError::Corrupt {
            at: id,
            reason: e.to_string(),
        })
    })
}

/// Encrypts `data` with `key`, the envelope id bound as associated data.
fn seal_with<T: Serialize>(envelope_id: Ulid, key: &[u8], data: &T) -> Result<SealedEnvelope, VaultError> {
    let plaintext = serde_json::to_vec(data).map_err(|e| VaultError::Malformed {
        envelope_id,
        reason: e.to_string(),
    })?;
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    let aad = envelope_id.to_bytes();
    let ciphertext = ChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Malformed {
            envelope_id,
            reason: "encryption failed".into(),
        })?;
    Ok(SealedEnvelope {
        envelope_id,
        nonce: hex(&nonce),
        ciphertext: hex(&ciphertext),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
