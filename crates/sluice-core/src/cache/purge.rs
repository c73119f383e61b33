//! The authenticated purge route, `POST /_sluice/purge`.
//!
//! Body: `{"surrogate_keys": ["..."], "paths": ["/..."], "soft": false}`
//! (`paths` is a convenience: each becomes its `surrogate::path_key`, so an
//! operator can purge a page without computing the hash). Header:
//! `Authorization: Bearer <token>`, checked against the Secret Store entry
//! `purge_token_sha256` (comma-separated SHA-256 hex digests) exactly as
//! the AI gateway checks client keys: the same parser and constant-time
//! comparison (`ai::auth::ClientKeys`). A missing or malformed secret
//! rejects every purge (fail closed).
//!
//! The body is bounded ([`MAX_BODY_BYTES`], [`MAX_KEYS`]) because each key
//! is one purge hostcall; unknown fields are refused so a typo such as
//! `"surrogate_key"` is an error, not a silent no-op. Errors name the
//! problem and the entry's position, never echo the body.

use serde::Deserialize;
use thiserror::Error;

use super::surrogate::{is_valid_key, path_key};
use crate::ai::auth::{AuthError, ClientKeys, KeyListError};

/// The route's path.
pub const PURGE_PATH: &str = "/_sluice/purge";
/// The Secret Store key of the accepted token digests.
pub const TOKEN_SECRET: &str = "purge_token_sha256";
/// Largest accepted body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most keys and paths together in one request.
pub const MAX_KEYS: usize = 32;
/// Longest accepted path.
pub const MAX_PATH_BYTES: usize = 8 * 1024;

/// What the router does with a request for [`PURGE_PATH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST`: authenticate, parse, purge.
    Purge,
    /// Any other method: `405` with `Allow: POST`.
    MethodNotAllowed,
}

/// `Some` when the request is for the purge route.
pub fn route(method: &str, path: &str) -> Option<Route> {
    (path == PURGE_PATH).then_some(if method == "POST" {
        Route::Purge
    } else {
        Route::MethodNotAllowed
    })
}

/// A validated purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeRequest {
    /// Surrogate keys to purge, de-duplicated, request order.
    pub keys: Vec<String>,
    /// Soft purge (mark stale) instead of removing.
    pub soft: bool,
}

/// Why a purge body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PurgeError {
    /// Over [`MAX_BODY_BYTES`].
    #[error("the purge body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// Not the expected JSON object (syntax, types, unknown fields).
    #[error(
        "the purge body is not {{\"surrogate_keys\": [...], \"paths\": [...], \"soft\": bool}}"
    )]
    Malformed,
    /// Neither keys nor paths.
    #[error("the purge body names no surrogate key or path")]
    Empty,
    /// Over [`MAX_KEYS`].
    #[error("the purge body names more than {MAX_KEYS} keys and paths")]
    TooMany,
    /// `surrogate_keys[index]` is not 1..=1024 visible ASCII bytes.
    #[error("surrogate_keys[{index}] is not 1 to 1024 visible ASCII characters")]
    InvalidKey {
        /// Zero-based position.
        index: usize,
    },
    /// `paths[index]` does not start with `/`, is too long or has
    /// whitespace or control characters.
    #[error("paths[{index}] is not a path starting with /")]
    InvalidPath {
        /// Zero-based position.
        index: usize,
    },
}

impl PurgeError {
    /// The response status: `413` for an oversized body, `400` otherwise.
    pub fn status(self) -> u16 {
        match self {
            PurgeError::TooLarge => 413,
            _ => 400,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    surrogate_keys: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    soft: bool,
}

/// Parses and validates a purge body.
pub fn parse(body: &[u8]) -> Result<PurgeRequest, PurgeError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(PurgeError::TooLarge);
    }
    // serde would also accept a JSON array for a struct; only an object is
    // the documented form.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(PurgeError::Malformed);
    }
    let parsed: Body = serde_json::from_slice(body).map_err(|_| PurgeError::Malformed)?;
    if parsed.surrogate_keys.is_empty() && parsed.paths.is_empty() {
        return Err(PurgeError::Empty);
    }
    if parsed.surrogate_keys.len() + parsed.paths.len() > MAX_KEYS {
        return Err(PurgeError::TooMany);
    }
    let mut keys: Vec<String> = Vec::new();
    for (index, key) in parsed.surrogate_keys.into_iter().enumerate() {
        if !is_valid_key(&key) {
            return Err(PurgeError::InvalidKey { index });
        }
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (index, path) in parsed.paths.iter().enumerate() {
        let ok = path.starts_with('/')
            && path.len() <= MAX_PATH_BYTES
            && !path.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(PurgeError::InvalidPath { index });
        }
        let key = path_key(path);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(PurgeRequest {
        keys,
        soft: parsed.soft,
    })
}

/// The `200` body after purging: what was purged, as JSON.
pub fn response_body(request: &PurgeRequest) -> String {
    serde_json::json!({ "purged": request.keys, "soft": request.soft }).to_string()
}

/// The accepted purge tokens (their SHA-256 digests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeTokens(ClientKeys);

/// The `purge_token_sha256` secret is unusable; every purge is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TokenListError {
    /// The secret is empty.
    #[error("the purge token list is empty")]
    Empty,
    /// Entry `index` is not 64 lower-case hex digits.
    #[error("purge token digest #{index} is not 64 lower-case hex digits (got {len} bytes)")]
    MalformedDigest {
        /// Zero-based position.
        index: usize,
        /// Its length after trimming.
        len: usize,
    },
}

impl PurgeTokens {
    /// Parses the secret (same format as the AI gateway's
    /// `client_key_sha256`).
    pub fn parse(secret: &str) -> Result<Self, TokenListError> {
        ClientKeys::parse(secret).map(Self).map_err(|e| match e {
            KeyListError::MalformedDigest { index, len } => {
                TokenListError::MalformedDigest { index, len }
            }
            _ => TokenListError::Empty,
        })
    }

    /// Checks the request's `Authorization` value. Every failure gets the
    /// same `401`; the variant is only for the access log.
    pub fn authorize(&self, authorization: Option<&str>) -> Result<(), AuthError> {
        self.0.authorize(authorization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::auth::key_digest_hex;

    #[test]
    fn routes() {
        assert_eq!(route("POST", PURGE_PATH), Some(Route::Purge));
        assert_eq!(route("GET", PURGE_PATH), Some(Route::MethodNotAllowed));
        assert_eq!(route("POST", "/_sluice/purge/"), None);
        assert_eq!(route("POST", "/other"), None);
    }

    #[test]
    fn parses_keys_paths_and_soft() {
        let p = parse(br#"{"surrogate_keys": ["article-1", "article-1", "news"], "paths": ["/a?x=1"], "soft": true}"#).unwrap();
        assert_eq!(p.keys, ["article-1", "news", path_key("/a").as_str()]);
        assert!(p.soft);
        let p = parse(br#"{"surrogate_keys": ["k"]}"#).unwrap();
        assert!(!p.soft);
        assert_eq!(response_body(&p), r#"{"purged":["k"],"soft":false}"#);
    }

    #[test]
    fn refuses_bad_bodies_with_typed_errors() {
        let cases: &[(&[u8], PurgeError)] = &[
            (b"", PurgeError::Malformed),
            (b"[]", PurgeError::Malformed),
            (br#"{"surrogate_key": ["k"]}"#, PurgeError::Malformed),
            (br#"{"surrogate_keys": "k"}"#, PurgeError::Malformed),
            (
                br#"{"surrogate_keys": ["k"], "soft": "yes"}"#,
                PurgeError::Malformed,
            ),
            (br#"{"surrogate_keys": []}"#, PurgeError::Empty),
            (br#"{"soft": true}"#, PurgeError::Empty),
            (
                br#"{"surrogate_keys": ["ok", "has space"]}"#,
                PurgeError::InvalidKey { index: 1 },
            ),
            (
                br#"{"surrogate_keys": [""]}"#,
                PurgeError::InvalidKey { index: 0 },
            ),
            (
                br#"{"paths": ["relative"]}"#,
                PurgeError::InvalidPath { index: 0 },
            ),
            (
                br#"{"paths": ["/a", "/b c"]}"#,
                PurgeError::InvalidPath { index: 1 },
            ),
        ];
        for (body, want) in cases {
            assert_eq!(parse(body), Err(*want), "{}", String::from_utf8_lossy(body));
        }
        let long_key = format!(r#"{{"surrogate_keys": ["{}"]}}"#, "k".repeat(1025));
        assert_eq!(
            parse(long_key.as_bytes()),
            Err(PurgeError::InvalidKey { index: 0 })
        );
        let many: Vec<String> = (0..=MAX_KEYS).map(|i| format!("\"k{i}\"")).collect();
        let many = format!(r#"{{"surrogate_keys": [{}]}}"#, many.join(","));
        assert_eq!(parse(many.as_bytes()), Err(PurgeError::TooMany));
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse(&big), Err(PurgeError::TooLarge));
        assert_eq!(PurgeError::TooLarge.status(), 413);
        assert_eq!(PurgeError::Empty.status(), 400);
    }

    #[test]
    fn tokens_reuse_the_gateway_check() {
        let tokens = PurgeTokens::parse(&format!(
            "{}, {}\n",
            key_digest_hex("t1"),
            key_digest_hex("t2")
        ))
        .unwrap();
        assert_eq!(tokens.authorize(Some("Bearer t2")), Ok(()));
        assert_eq!(
            tokens.authorize(Some("Bearer t3")),
            Err(AuthError::UnknownKey)
        );
        assert_eq!(tokens.authorize(None), Err(AuthError::Missing));
        assert_eq!(
            tokens.authorize(Some("Basic t1")),
            Err(AuthError::NotBearer)
        );
        assert_eq!(PurgeTokens::parse(" "), Err(TokenListError::Empty));
        assert_eq!(
            PurgeTokens::parse("abc"),
            Err(TokenListError::MalformedDigest { index: 0, len: 3 })
        );
        assert!(!format!("{tokens:?}").contains(&key_digest_hex("t1")));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = parse(&body);
        }
    }
}
