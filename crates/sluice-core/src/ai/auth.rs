//! Client keys and the provider key.
//!
//! WHY digests: the Secret Store entry `client_key_sha256` holds only
//! SHA-256 digests of the accepted client keys, so reading the store (or a
//! log line that accidentally printed it) never reveals a usable key. The
//! edge hashes the presented key and compares digests in constant time, so
//! response timing does not reveal how many leading bytes matched.
//!
//! No type here prints key material: every `Debug` impl redacts, errors
//! carry positions and lengths only, and a rejected request gets the same
//! 401 whatever the reason ([`AuthError::api_error`]).

use super::errors::ApiError;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use thiserror::Error;

/// The `client_key_sha256` secret is malformed. The gateway must refuse to
/// start serving (fail closed) rather than guess.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyListError {
    /// The secret holds no digest at all; an empty list would reject every
    /// client, which is almost certainly a deployment mistake.
    #[error("the client key list is empty")]
    Empty,
    /// Entry `index` (zero-based, comma-separated) is not 64 lower-case hex
    /// digits. Only the position and length are reported, never the text.
    #[error("client key digest #{index} is not 64 lower-case hex digits (got {len} bytes)")]
    MalformedDigest {
        /// Zero-based position in the comma-separated list.
        index: usize,
        /// Length of the entry after trimming whitespace.
        len: usize,
    },
}

/// Why a request was not authorized. All variants answer the same 401
/// ([`AuthError::api_error`]); the variant is only for the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// The header is not `Bearer <token>` with a non-empty token.
    #[error("the Authorization header is not a Bearer token")]
    NotBearer,
    /// The token's digest is not in the accepted list.
    #[error("the client key is not accepted")]
    UnknownKey,
}

impl AuthError {
    /// The response for every authorization failure: 401 `invalid_api_key`.
    pub fn api_error(self) -> ApiError {
        ApiError::invalid_api_key()
    }
}

/// The accepted client keys, as SHA-256 digests.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKeys")
            .field("count", &self.digests.len())
            .finish_non_exhaustive()
    }
}

impl ClientKeys {
    /// Parses the secret: comma-separated lower-case hex SHA-256 digests.
    /// Whitespace around entries (a trailing newline from `echo`, spaces
    /// after commas) is ignored; an empty entry is malformed.
    pub fn parse(secret: &str) -> Result<Self, KeyListError> {
        if secret.trim().is_empty() {
            return Err(KeyListError::Empty);
        }
        let digests = secret
            .split(',')
            .enumerate()
            .map(|(index, entry)| {
                let entry = entry.trim();
                parse_digest(entry).ok_or(KeyListError::MalformedDigest {
                    index,
                    len: entry.len(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { digests })
    }

    /// How many digests are accepted.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Always `false` for a parsed list (an empty secret is an error).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Checks an `Authorization` header value. The scheme is matched
    /// case-insensitively (RFC 9110 §11.1); the token is everything after
    /// the whitespace that follows it. The token's digest is compared with
    /// every accepted digest without early exit.
    ///
    /// ```
    /// use sluice_core::ai::auth::{key_digest_hex, AuthError, ClientKeys};
    /// let secret = format!("{},{}\n", key_digest_hex("sk-alice"), key_digest_hex("sk-bob"));
    /// let keys = ClientKeys::parse(&secret).unwrap();
    /// assert_eq!(keys.authorize(Some("Bearer sk-bob")), Ok(()));
    /// assert_eq!(keys.authorize(None), Err(AuthError::Missing));
    /// assert_eq!(keys.authorize(Some("Basic abc")), Err(AuthError::NotBearer));
    /// assert_eq!(keys.authorize(Some("Bearer nope")), Err(AuthError::UnknownKey));
    /// ```
    pub fn authorize(&self, authorization: Option<&str>) -> Result<(), AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let token = bearer_token(header).ok_or(AuthError::NotBearer)?;
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut matched = Choice::from(0);
        for digest in &self.digests {
            matched |= digest[..].ct_eq(&presented[..]);
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(AuthError::UnknownKey)
        }
    }
}

fn bearer_token(header: &str) -> Option<&str> {
    let header = header.trim_matches([' ', '\t']);
    let (scheme, rest) = header.split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_start_matches([' ', '\t']);
    (!token.is_empty()).then_some(token)
}

fn parse_digest(entry: &str) -> Option<[u8; 32]> {
    crate::lower_hex::decode(entry)
}

/// Lower-case hex SHA-256 of a key: how an operator computes the entries of
/// `client_key_sha256` (same as `printf %s "$KEY" | sha256sum`).
pub fn key_digest_hex(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The provider key from the Secret Store entry `llm_api_key`, which
/// replaces the client's key on the upstream request.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderKey {
    header: String,
}

/// The provider key cannot be put in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProviderKeyError {
    /// The secret is empty (after trimming surrounding whitespace).
    #[error("the provider key is empty")]
    Empty,
    /// The key contains a control character or whitespace, which would
    /// corrupt or split the `Authorization` header.
    #[error("the provider key contains characters not allowed in a header")]
    InvalidCharacters,
}

impl std::fmt::Debug for ProviderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderKey(<redacted>)")
    }
}

impl ProviderKey {
    /// Validates the secret. Surrounding whitespace (a trailing newline) is
    /// trimmed; inner whitespace or control characters are rejected.
    pub fn parse(secret: &str) -> Result<Self, ProviderKeyError> {
        let key = secret.trim();
        if key.is_empty() {
            return Err(ProviderKeyError::Empty);
        }
        if key.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(ProviderKeyError::InvalidCharacters);
        }
        Ok(Self {
            header: format!("Bearer {key}"),
        })
    }

    /// The upstream `Authorization` header value, `Bearer <key>`. The
    /// adapter sets it on the upstream request after removing the client's
    /// `Authorization` header, and must never log it.
    pub fn authorization_value(&self) -> &str {
        &self.header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_sha256sum() {
        // printf %s abc | sha256sum
        assert_eq!(
            key_digest_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_digest_one_bit_off_is_not_accepted() {
        let key = "sk-client";
        let exact: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let header = format!("Bearer {key}");
        let keys = |digests: Vec<[u8; 32]>| ClientKeys { digests };
        assert_eq!(keys(vec![exact]).authorize(Some(&header)), Ok(()));
        for i in 0..32 {
            for bit in 0..8 {
                let mut off = exact;
                off[i] ^= 1 << bit;
                assert_eq!(
                    keys(vec![off]).authorize(Some(&header)),
                    Err(AuthError::UnknownKey),
                    "byte {i} bit {bit}"
                );
                // Wherever the match is in the list, it is found.
                assert_eq!(keys(vec![off, exact, off]).authorize(Some(&header)), Ok(()));
            }
        }
    }

    #[test]
    fn digests_are_lower_case_hex_as_sha256sum_prints_them() {
        let lower = key_digest_hex("sk-client");
        assert!(ClientKeys::parse(&lower).is_ok());
        let upper = lower.to_ascii_uppercase();
        assert_eq!(
            ClientKeys::parse(&format!("{lower},{upper}")),
            Err(KeyListError::MalformedDigest { index: 1, len: 64 })
        );
        let mut one_upper = lower.clone().into_bytes();
        let at = one_upper.iter().position(u8::is_ascii_lowercase).unwrap();
        one_upper[at] = one_upper[at].to_ascii_uppercase();
        let one_upper = String::from_utf8(one_upper).unwrap();
        assert!(ClientKeys::parse(&one_upper).is_err());
        assert!(ClientKeys::parse(&lower[..63]).is_err());
        assert!(ClientKeys::parse(&format!("{lower}0")).is_err());
        assert!(ClientKeys::parse(&format!("{}g", &lower[..63])).is_err());
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer\tabc"), Some("abc"));
        assert_eq!(bearer_token("BEARER   abc  "), Some("abc"));
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer   "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token(""), None);
    }

    #[test]
    fn debug_output_never_contains_keys() {
        let keys = ClientKeys::parse(&key_digest_hex("sk-client")).unwrap();
        let shown = format!("{keys:?}");
        assert_eq!(shown, "ClientKeys { count: 1, .. }");
        let provider = ProviderKey::parse("sk-provider-secret\n").unwrap();
        assert_eq!(format!("{provider:?}"), "ProviderKey(<redacted>)");
        assert_eq!(provider.authorization_value(), "Bearer sk-provider-secret");
    }

    #[test]
    fn provider_key_rejects_header_breaking_values() {
        assert_eq!(ProviderKey::parse(" \n"), Err(ProviderKeyError::Empty));
        assert_eq!(
            ProviderKey::parse("sk-a\r\nX-Evil: 1"),
            Err(ProviderKeyError::InvalidCharacters)
        );
        assert_eq!(
            ProviderKey::parse("sk a"),
            Err(ProviderKeyError::InvalidCharacters)
        );
    }
}
