//! The staff directory's decisions (accounts, roles, tokens, devices) and
//! the secrets around them: bearer tokens drawn here and handed out once,
//! their SHA-256 into the log; passwords hashed with Argon2id into the
//! credentials table beside the log, never into an event.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use terminagent_domain::{
    CatalogueName, Cause, DeviceId, DeviceKind, EmailAddress, OfficeId, RoleGrant, StaffCommand, StaffDecider,
    StaffError, StaffEvent, StaffId, StreamName, TokenHash,
};
use terminagent_eventstore::StorageError;

use super::{ExecuteError, Executor};

/// A bearer token as handed out: 256 random bits, URL-safe base64 (43
/// characters). Shown once; only its hash is kept.
pub struct BearerToken(String);

impl BearerToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        BearerToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        hash_token(&self.0)
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(…)")
    }
}

/// The SHA-256 of whatever a request presented, to look it up.
pub fn hash_token(presented: &str) -> TokenHash {
    let hex: String = Sha256::digest(presented.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    TokenHash::parse(&hex).expect("64 lowercase hex digits")
}

/// What the staff directory's decisions may answer.
pub type StaffResult<T> = Result<T, ExecuteError<StaffError>>;

/// Whether a PUT made the account or changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountOutcome {
    Created(StaffId),
    Updated(StaffId),
    Unchanged(StaffId),
}

impl AccountOutcome {
    pub fn staff(self) -> StaffId {
        match self {
            AccountOutcome::Created(id) | AccountOutcome::Updated(id) | AccountOutcome::Unchanged(id) => id,
        }
    }
}

async fn decide(executor: &Executor, cause: Cause, command: StaffCommand) -> StaffResult<Vec<StaffEvent>> {
    executor
        .execute::<StaffDecider>(&[StreamName::staff_directory()], cause, |_| command.clone())
        .await
}

/// Creates or changes an account (`PUT /api/v1/staff/{email}`).
pub async fn put_account(
    executor: &Executor,
    cause: Cause,
    email: EmailAddress,
    name: CatalogueName,
    roles: Vec<RoleGrant>,
) -> StaffResult<AccountOutcome> {
    let new_id = StaffId::from_ulid(executor.new_id());
    let events = decide(
        executor,
        cause,
        StaffCommand::Put {
            new_id,
            email: email.clone(),
            name,
            roles,
        },
    )
    .await?;
    Ok(match events.first() {
        Some(StaffEvent::Registered(account)) => AccountOutcome::Created(account.staff),
        Some(StaffEvent::Changed(account)) => AccountOutcome::Updated(account.staff),
        _ => {
            let directory = executor
                .state_of::<StaffDecider>(&[StreamName::staff_directory()])
                .await?;
            let account = directory
                .account_by_email(&email)
                .ok_or(ExecuteError::Rejected(StaffError::UnknownAccount(email)))?;
            AccountOutcome::Unchanged(account.account.staff)
        }
    })
}

/// Disables an account and voids every token of it (`DELETE …/staff/{email}`).
pub async fn disable_account(executor: &Executor, cause: Cause, email: EmailAddress) -> StaffResult<()> {
    decide(executor, cause, StaffCommand::Disable { email }).await.map(drop)
}

/// Issues a new bearer token with the account's roles.
pub async fn issue_token(executor: &Executor, cause: Cause, email: EmailAddress) -> StaffResult<BearerToken> {
    let token = BearerToken::generate();
    decide(
        executor,
        cause,
        StaffCommand::IssueToken {
            email,
            token_hash: token.hash(),
        },
    )
    .await?;
    Ok(token)
}

/// Registers a kiosk or display of an office; its token is shown once.
pub async fn register_device(
    executor: &Executor,
    cause: Cause,
    office: OfficeId,
    office_known: bool,
    kind: DeviceKind,
    name: CatalogueName,
) -> StaffResult<(DeviceId, BearerToken)> {
    let token = BearerToken::generate();
    let device = DeviceId::from_ulid(executor.new_id());
    decide(
        executor,
        cause,
        StaffCommand::RegisterDevice {
            device,
            office,
            office_known,
            kind,
            name,
            token_hash: token.hash(),
        },
    )
    .await?;
    Ok((device, token))
}

/// Revokes a device: its token stops working at once.
pub async fn revoke_device(executor: &Executor, cause: Cause, office: OfficeId, device: DeviceId) -> StaffResult<()> {
    decide(executor, cause, StaffCommand::RevokeDevice { office, device })
        .await
        .map(drop)
}

/// A one-time password for the staff pages: 20 characters from an alphabet
/// without look-alikes (about 114 bits).
pub fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // 256 is not a multiple of 55: the bias is under 0.4 bits in all.
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing the password failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Sets an account's password (Argon2id, a fresh salt) beside the log; a
/// `one_time` one must be replaced at the first sign-in.
pub async fn set_password(
    executor: &Executor,
    staff: StaffId,
    password: &str,
    one_time: bool,
) -> Result<(), PasswordError> {
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| PasswordError::Hash(e.to_string()))??;
    executor
        .store()
        .staff_credentials()
        .set_password(&staff.to_string(), &hash, one_time, executor.now())
        .await?;
    Ok(())
}

/// What a sign-in's password check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    Wrong,
    Right,
    /// Right, and it was handed out: the member chooses their own now.
    RightButOneTime,
}

/// Checks `password` against the account's; an account without a password never matches.
pub async fn check_password(
    executor: &Executor,
    staff: StaffId,
    password: &str,
) -> Result<PasswordCheck, StorageError> {
    let Some((stored, one_time)) = executor
        .store()
        .staff_credentials()
        .password(&staff.to_string())
        .await?
    else {
        return Ok(PasswordCheck::Wrong);
    };
    let password = password.to_owned();
    // Argon2 takes tens of milliseconds on purpose: off the runtime's workers.
    let right = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    Ok(match (right, one_time) {
        (false, _) => PasswordCheck::Wrong,
        (true, false) => PasswordCheck::Right,
        (true, true) => PasswordCheck::RightButOneTime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed_to_hex() {
        let (a, b) = (BearerToken::generate(), BearerToken::generate());
        assert_eq!(a.as_str().len(), 43);
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(a.hash(), hash_token(a.as_str()));
        assert_ne!(a.hash(), b.hash());
        assert_eq!(
            hash_token("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "SHA-256 of \"abc\" (FIPS 180-2 example)"
        );
        assert_eq!(format!("{a:?}"), "BearerToken(…)");
    }

    #[test]
    fn one_time_passwords_are_twenty_unambiguous_characters() {
        let password = one_time_password();
        assert_eq!(password.chars().count(), 20);
        assert!(
            password
                .chars()
                .all(|c| c.is_ascii_alphanumeric() && !"0O1lI".contains(c))
        );
        assert_ne!(password, one_time_password());
    }
}
