//! Mail-link tokens (DESIGN.md invariant 7): unguessable, stored only hashed.
//! A link is `{public-url}/links/{token}`; the token alone identifies it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::PublicUrl;

/// 256 random bits (twice the 128 the brief asks for).
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

impl LinkToken {
    /// A fresh token from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        LinkToken(URL_SAFE_NO_PAD.encode(bytes))
    }

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

    #[test]
    fn tokens_are_long_unique_and_url_safe() {
        let tokens: HashSet<String> = (0..10_000).map(|_| LinkToken::generate().0).collect();
        assert_eq!(tokens.len(), 10_000);
        for token in tokens.iter().take(100) {
            assert_eq!(token.len(), TOKEN_CHARS);
            assert!(
                token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{token}"
            );
        }
    }

    #[test]
    fn a_token_parses_back_and_hashes_the_same() {
        let token = LinkToken::generate();
        let parsed = LinkToken::parse(token.as_str()).expect("a generated token parses");
        assert_eq!(parsed.hash(), token.hash());
        assert_eq!(token.hash().as_str().len(), 64);
        assert!(token.hash().as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(LinkToken::generate().hash(), token.hash());
    }

    #[test]
    fn anything_else_is_not_a_token() {
        let token = LinkToken::generate();
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
    fn links_hang_off_the_public_url_and_tokens_never_print() {
        let token = LinkToken::generate();
        let base = PublicUrl::parse("https://termine.example.org/").unwrap();
        assert_eq!(
            token.url(&base),
            format!("https://termine.example.org/links/{}", token.as_str())
        );
        assert!(!format!("{token:?}").contains(token.as_str()));
    }
}
