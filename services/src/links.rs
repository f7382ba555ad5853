//! Mail-link tokens (DESIGN.md invariant 7): unguessable, stored only hashed.
//! A link is `{public-url}/links/{token}`; the token alone identifies it.
//!
//! A token is the HMAC-SHA256 of what it acts on (subject and action) under
//! the installation's link secret. Mails are written from the log, which keeps
//! only token hashes: the mailer re-derives the token from the event, so a
//! crash between event and mail loses no link.
//!
//! Whoever holds the secret can make every link, so where it lives matters:
//! by default in the database beside the log (the embedded default needs
//! nothing set up), or, with `--link-secret-file`, in a file of the
//! operator's, so that a copy of the database cannot act on anyone's links.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::config::PublicUrl;

/// 256 bits (twice the 128 the brief asks for).
const TOKEN_BYTES: usize = 32;
/// Length of the base64url text of [`TOKEN_BYTES`] without padding.
const TOKEN_CHARS: usize = 43;

/// The secret part of a mail link. Exists only in the mail and in memory while
/// the mail is written; the log keeps its [`TokenHash`].
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

/// Hex SHA-256 of a token: what events and lookups use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash(String);

/// The installation's key for link tokens (kept in the vault, outside the log).
#[derive(Clone)]
pub struct LinkSecret([u8; TOKEN_BYTES]);

impl LinkSecret {
    /// Its name among the installation's secrets.
    pub const NAME: &'static str = "mail-links";

    pub fn new(bytes: [u8; TOKEN_BYTES]) -> Self {
        LinkSecret(bytes)
    }

    /// The secret kept in a file outside the database: 64 hexadecimal digits
    /// (256 bits, e.g. from `openssl rand -hex 32`), whitespace around them
    /// ignored. Every process of an installation reads the same file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, LinkSecretFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LinkSecretFileError::Unreadable {
            path: shown.clone(),
            source,
        })?;
        let digits = text.trim();
        let malformed = || LinkSecretFileError::Malformed { path: shown.clone() };
        if digits.len() != 2 * TOKEN_BYTES || !digits.bytes().all(|digit| digit.is_ascii_hexdigit()) {
            return Err(malformed());
        }
        let mut bytes = [0u8; TOKEN_BYTES];
        for (byte, pair) in bytes.iter_mut().zip(digits.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| malformed())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| malformed())?;
        }
        Ok(LinkSecret(bytes))
    }

    /// The token of `action` on `subject` (e.g. a booking id): the same every
    /// time it is derived, unguessable without the secret.
    pub fn token(&self, subject: &str, action: &str) -> LinkToken {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        // Length-prefixed, so no (subject, action) pair reads as another.
        mac.update(&(subject.len() as u64).to_be_bytes());
        mac.update(subject.as_bytes());
        mac.update(action.as_bytes());
        LinkToken(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }
}

impl LinkSecret {
    /// The booking's check-in code for the kiosk: 8 characters of Crockford
    /// base32 (no I, L, O, U to misread), derived like the tokens.
    pub fn checkin_code(&self, booking: &str) -> String {
        const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let token = self.token(booking, "checkin");
        let bytes = URL_SAFE_NO_PAD.decode(token.as_str()).expect("a token is base64url");
        let bits = bytes[..5]
            .iter()
            .fold(0u64, |bits, byte| (bits << 8) | u64::from(*byte));
        (0..8)
            .rev()
            .map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char)
            .collect()
    }
}

/// A check-in code as typed or scanned, in the form it was issued: Crockford
/// base32 in capitals, without separators, the letters people mistake for
/// digits read as those digits.
pub fn canonical_checkin_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}

/// Hex SHA-256 of a short code (check-in codes are stored only hashed, too).
pub fn code_hash(code: &str) -> String {
    Sha256::digest(code.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl std::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSecret(…)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LinkSecretFileError {
    #[error(
        "cannot read the link secret file {path}: {source}; create it with `openssl rand -hex 32 > {path}` \
         and give every process of the installation the same file"
    )]
    Unreadable { path: String, source: std::io::Error },
    #[error("the link secret file {path} must hold 64 hexadecimal digits (256 bits), e.g. from `openssl rand -hex 32`")]
    Malformed { path: String },
}

impl LinkToken {
    /// A token as it arrives in a URL; `None` for anything that cannot be one
    /// (such a link is simply unknown).
    pub fn parse(text: &str) -> Option<Self> {
        let decoded = URL_SAFE_NO_PAD.decode(text).ok()?;
        (text.len() == TOKEN_CHARS && decoded.len() == TOKEN_BYTES).then(|| LinkToken(text.to_owned()))
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(
            Sha256::digest(self.0.as_bytes())
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
        )
    }

    pub fn url(&self, public_url: &PublicUrl) -> String {
        format!("{}/links/{}", public_url.as_str(), self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Never print a token: logs must not hold working links.
impl std::fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkToken(…)")
    }
}

impl TokenHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<TokenHash> for String {
    fn from(hash: TokenHash) -> String {
        hash.0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn secret(byte: u8) -> LinkSecret {
        LinkSecret::new([byte; TOKEN_BYTES])
    }

    #[test]
    fn a_secret_file_holds_64_hex_digits() {
        let dir = std::env::temp_dir().join(format!("terminagent-secret-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("links.key");
        std::fs::write(&path, format!("  {}\n", "0a".repeat(32))).unwrap();
        let read = LinkSecret::from_file(&path).unwrap();
        assert_eq!(
            read.token("b", "confirm_booking").as_str(),
            secret(10).token("b", "confirm_booking").as_str()
        );
        for bad in [
            "0a".repeat(31),
            "0a".repeat(33),
            format!("{}zz", "0a".repeat(31)),
            "ä".repeat(32),
        ] {
            std::fs::write(&path, &bad).unwrap();
            let error = LinkSecret::from_file(&path).unwrap_err().to_string();
            assert!(error.contains("64 hexadecimal digits"), "{bad}: {error}");
        }
        let missing = LinkSecret::from_file(&dir.join("missing")).unwrap_err().to_string();
        assert!(missing.contains("openssl rand -hex 32"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tokens_are_derived_the_same_and_differ_by_everything_they_name() {
        let token = secret(1).token("01BOOKING", "confirm_booking");
        assert_eq!(
            secret(1).token("01BOOKING", "confirm_booking"),
            token,
            "the mailer re-derives it"
        );
        assert_ne!(secret(1).token("01BOOKING", "cancel_booking"), token);
        assert_ne!(secret(1).token("01OTHER", "confirm_booking"), token);
        assert_ne!(secret(2).token("01BOOKING", "confirm_booking"), token);
        // No (subject, action) pair reads as another.
        assert_ne!(secret(1).token("a\nb", "c"), secret(1).token("a", "b\nc"));
        let many: HashSet<String> = (0..10_000).map(|n| secret(1).token(&n.to_string(), "x").0).collect();
        assert_eq!(many.len(), 10_000);
    }

    #[test]
    fn tokens_are_url_safe_parse_back_and_hash_to_hex() {
        let token = secret(1).token("01BOOKING", "confirm_booking");
        assert_eq!(token.as_str().len(), TOKEN_CHARS);
        assert!(
            token
                .as_str()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        let parsed = LinkToken::parse(token.as_str()).expect("a derived token parses");
        assert_eq!(parsed.as_str(), token.as_str());
        assert_eq!(token.hash().as_str().len(), 64);
        assert!(token.hash().as_str().chars().all(|c| c.is_ascii_hexdigit()));
        // The hash is SHA-256 of the token's text (FIPS 180-2 example), not
        // merely a stable function of it.
        let known = LinkToken("abc".to_owned());
        assert_eq!(
            known.hash().as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(token.hash(), secret(2).token("01BOOKING", "confirm_booking").hash());
    }

    #[test]
    fn anything_else_is_not_a_token() {
        let token = secret(1).token("01BOOKING", "confirm_booking");
        for bad in [
            "",
            "abc",
            &token.as_str()[1..],
            &format!("{}A", token.as_str()),
            &format!("{}=", &token.as_str()[1..]),
            &token.as_str().replacen(|c: char| c.is_ascii_alphanumeric(), "/", 1),
            "../../etc/passwd",
        ] {
            assert!(LinkToken::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn checkin_codes_are_short_stable_and_readable() {
        let code = secret(1).checkin_code("01BOOKING");
        assert_eq!(code.len(), 8);
        assert!(
            code.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()),
            "{code}"
        );
        assert!(!code.contains(['I', 'L', 'O', 'U']), "{code}");
        assert_eq!(secret(1).checkin_code("01BOOKING"), code);
        assert_ne!(secret(1).checkin_code("01OTHER"), code);
        assert_eq!(code_hash(&code).len(), 64);
    }

    #[test]
    fn links_hang_off_the_public_url_and_secrets_never_print() {
        let token = secret(1).token("01BOOKING", "confirm_booking");
        let base = PublicUrl::parse("https://termine.example.org/").unwrap();
        assert_eq!(
            token.url(&base),
            format!("https://termine.example.org/links/{}", token.as_str())
        );
        assert!(!format!("{token:?}").contains(token.as_str()));
        assert_eq!(format!("{:?}", secret(1)), "LinkSecret(…)");
    }
}
