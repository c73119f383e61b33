//! The response head kept with a cached body (`user_metadata`).
//!
//! The core cache stores bytes and a metadata blob; the status and headers
//! to replay on a hit live in that blob. What goes in is the shared
//! response only:
//! - never `Set-Cookie`, nor anything about the visitor's `sluice_id`
//!   (the cookie and the `Cache-Control: private` that comes with issuing
//!   it are added at delivery, after the lookup);
//! - never hop-by-hop headers, `Surrogate-Key`/`Surrogate-Control` (edge
//!   instructions, never shown to clients), `Age` (computed per hit),
//!   `Server-Timing`/`X-Cache` (per request), `Content-Length` (set from the
//!   cached body's known length, which is right even for a body still
//!   being written);
//! - everything else, including `ETag`, `Last-Modified`, `Content-Type`,
//!   `Content-Encoding`, `Vary`, `Cache-Control` and the page's own
//!   security headers (CSP, HSTS, ...): an allow-list would silently drop a
//!   page's protection.
//!
//! It also carries what the core cache cannot give back under Viceroy
//! (`Found::stale_while_revalidate()` panics there): the stale windows,
//! the initial age and the entry's fill key.
//!
//! Format (version 1, big-endian), bounded by [`MAX_ENCODED_BYTES`] so one
//! 16 KiB metadata read gets it:
//! ```text
//! u8 version=1, u8 kind
//! kind 0 (response): u16 status, u32 initial_age_s, u32 swr_s, u32 sie_s,
//!   u8 fill_key_len, fill_key, u16 count, count × (u8 name_len, name,
//!   u16 value_len, value)
//! kind 1 (hit-for-pass marker): u8 reason_len, reason token
//! ```
//! The decoder rejects anything else with a typed error; the adapter then
//! treats the entry as a miss.

use std::time::Duration;

use thiserror::Error;

use super::policy::{NotStored, Store};
use crate::http::{hop_by_hop, synthetic_id};

/// The format version written and accepted.
pub const VERSION: u8 = 1;
/// Upper bound of an encoded head: the Fastly SDK reads metadata with a
/// 16 KiB first buffer, so a head within it costs one hostcall.
pub const MAX_ENCODED_BYTES: usize = 16 * 1024;
/// Most headers kept (Fastly's practical response header count is ~85).
pub const MAX_HEADERS: usize = 96;

const KIND_RESPONSE: u8 = 0;
const KIND_PASS: u8 = 1;

/// Headers never stored, besides hop-by-hop ones.
const NOT_STORED: &[&str] = &[
    "set-cookie",
    "set-cookie2",
    "surrogate-key",
    "surrogate-control",
    "age",
    "server-timing",
    "x-cache",
    "content-length",
    "proxy-authentication-info",
    // The visitor's ID as sent to the origin; an origin echoing it must
    // never have it replayed to others.
    "x-sluice-id",
];

/// A cached response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHead {
    /// Status to replay.
    pub status: u16,
    /// Headers to replay, lower-case names, in origin order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The origin's `Age` when stored (to tell elapsed time from age).
    pub initial_age: Duration,
    /// Stale-while-revalidate window.
    pub stale_while_revalidate: Duration,
    /// Stale-if-error window.
    pub stale_if_error: Duration,
    /// The entry's unique surrogate key (`surrogate::fill_key`), purged
    /// if the fill turns out dead.
    pub fill_key: String,
}

/// What a cache entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A stored response.
    Response(StoredHead),
    /// A hit-for-pass marker: requests for this key go to the origin
    /// uncached, at once, for the marker's lifetime.
    Pass(NotStored),
}

/// Why a head cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HeadError {
    /// The head carries the visitor's `sluice_id` cookie: it was taken
    /// after the per-visitor decoration, whose `Cache-Control: private`
    /// would then be replayed to everyone. A wiring bug, caught here.
    #[error("the response head already carries per-visitor headers")]
    PerVisitor,
    /// Over [`MAX_ENCODED_BYTES`] or [`MAX_HEADERS`].
    #[error("the response head is too large to cache")]
    TooLarge,
    /// A status outside 100..=599, a header name that is not a lower-case
    /// token, a value with CR/LF/NUL, or an invalid fill key.
    #[error("the response head cannot be encoded")]
    Invalid,
}

/// Why stored metadata was rejected. Every variant means "treat as miss".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Written by another format version.
    #[error("unknown stored head version {0}")]
    Version(u8),
    /// Unknown entry kind.
    #[error("unknown stored entry kind {0}")]
    Kind(u8),
    /// Shorter than its fields say.
    #[error("stored head is truncated")]
    Truncated,
    /// Bytes after the last field.
    #[error("stored head has trailing bytes")]
    Trailing,
    /// Over the size or header bound.
    #[error("stored head is too large")]
    TooLarge,
    /// A field that fails validation (status, name, value, key, reason).
    #[error("stored head has an invalid field")]
    Invalid,
}

impl StoredHead {
    /// The head to store for a response the policy accepted. `headers` are
    /// the finalised response headers **before** per-visitor decoration.
    pub fn from_response<'a>(
        status: u16,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        store: &Store,
        fill_key: &str,
    ) -> Result<Self, HeadError> {
        if !(100..=599).contains(&status) || !valid_fill_key(fill_key) {
            return Err(HeadError::Invalid);
        }
        let mut kept = Vec::new();
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            if name == "set-cookie" && is_synthetic_cookie(value) {
                return Err(HeadError::PerVisitor);
            }
            if hop_by_hop::is_hop_by_hop(&name) || NOT_STORED.contains(&name.as_str()) {
                continue;
            }
            if !valid_name(&name) || !valid_value(value) {
                return Err(HeadError::Invalid);
            }
            kept.push((name, value.to_vec()));
        }
        if kept.len() > MAX_HEADERS {
            return Err(HeadError::TooLarge);
        }
        Ok(Self {
            status,
            headers: kept,
            initial_age: store.initial_age,
            stale_while_revalidate: store.stale_while_revalidate,
            stale_if_error: store.stale_if_error,
            fill_key: fill_key.to_owned(),
        })
    }

    /// Encodes for `user_metadata`.
    pub fn encode(&self) -> Result<Vec<u8>, HeadError> {
        let mut out = vec![VERSION, KIND_RESPONSE];
        out.extend_from_slice(&self.status.to_be_bytes());
        for d in [
            self.initial_age,
            self.stale_while_revalidate,
            self.stale_if_error,
        ] {
            let secs = u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
            out.extend_from_slice(&secs.to_be_bytes());
        }
        let key = u8::try_from(self.fill_key.len()).map_err(|_| HeadError::Invalid)?;
        out.push(key);
        out.extend_from_slice(self.fill_key.as_bytes());
        let count = u16::try_from(self.headers.len()).map_err(|_| HeadError::TooLarge)?;
        if self.headers.len() > MAX_HEADERS {
            return Err(HeadError::TooLarge);
        }
        out.extend_from_slice(&count.to_be_bytes());
        for (name, value) in &self.headers {
            let n = u8::try_from(name.len()).map_err(|_| HeadError::TooLarge)?;
            let v = u16::try_from(value.len()).map_err(|_| HeadError::TooLarge)?;
            out.push(n);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&v.to_be_bytes());
            out.extend_from_slice(value);
            if out.len() > MAX_ENCODED_BYTES {
                return Err(HeadError::TooLarge);
            }
        }
        Ok(out)
    }

    /// The first value of `name` (lower-case), if any.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name` as text, if it is UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// Encodes a hit-for-pass marker.
pub fn encode_pass(reason: NotStored) -> Vec<u8> {
    let token = reason.as_str().as_bytes();
    let mut out = vec![VERSION, KIND_PASS, token.len() as u8];
    out.extend_from_slice(token);
    out
}

/// Decodes `user_metadata`.
pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
    if bytes.len() > MAX_ENCODED_BYTES {
        return Err(DecodeError::TooLarge);
    }
    let mut r = Reader(bytes);
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let entry = match r.u8()? {
        KIND_RESPONSE => Entry::Response(decode_response(&mut r)?),
        KIND_PASS => {
            let len = r.u8()?;
            let token =
                std::str::from_utf8(r.take(usize::from(len))?).map_err(|_| DecodeError::Invalid)?;
            Entry::Pass(NotStored::from_token(token).ok_or(DecodeError::Invalid)?)
        }
        kind => return Err(DecodeError::Kind(kind)),
    };
    if !r.0.is_empty() {
        return Err(DecodeError::Trailing);
    }
    Ok(entry)
}

fn decode_response(r: &mut Reader<'_>) -> Result<StoredHead, DecodeError> {
    let status = r.u16()?;
    if !(100..=599).contains(&status) {
        return Err(DecodeError::Invalid);
    }
    let initial_age = Duration::from_secs(u64::from(r.u32()?));
    let stale_while_revalidate = Duration::from_secs(u64::from(r.u32()?));
    let stale_if_error = Duration::from_secs(u64::from(r.u32()?));
    let key_len = r.u8()?;
    let fill_key =
        std::str::from_utf8(r.take(usize::from(key_len))?).map_err(|_| DecodeError::Invalid)?;
    if !valid_fill_key(fill_key) {
        return Err(DecodeError::Invalid);
    }
    let count = usize::from(r.u16()?);
    if count > MAX_HEADERS {
        return Err(DecodeError::TooLarge);
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let n = r.u8()?;
        let name =
            std::str::from_utf8(r.take(usize::from(n))?).map_err(|_| DecodeError::Invalid)?;
        let v = r.u16()?;
        let value = r.take(usize::from(v))?;
        let never = hop_by_hop::is_hop_by_hop(name) || NOT_STORED.contains(&name);
        if !valid_name(name) || !valid_value(value) || never {
            return Err(DecodeError::Invalid);
        }
        headers.push((name.to_owned(), value.to_vec()));
    }
    Ok(StoredHead {
        status,
        headers,
        initial_age,
        stale_while_revalidate,
        stale_if_error,
        fill_key: fill_key.to_owned(),
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// A lower-case `token` (RFC 9110 §5.6.2), non-empty.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= usize::from(u8::MAX)
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

/// A field value a response may carry: no CR, LF or NUL, no other
/// control characters than HTAB (RFC 9110 §5.5).
fn valid_value(value: &[u8]) -> bool {
    value.len() <= usize::from(u16::MAX)
        && value
            .iter()
            .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn valid_fill_key(key: &str) -> bool {
    super::surrogate::is_valid_key(key) && key.len() <= usize::from(u8::MAX)
}

/// True for a `Set-Cookie` of the visitor's `sluice_id`.
fn is_synthetic_cookie(value: &[u8]) -> bool {
    let name = synthetic_id::COOKIE_NAME.as_bytes();
    let v = value.trim_ascii_start();
    v.len() > name.len()
        && v.starts_with(name)
        && v[name.len()..].trim_ascii_start().starts_with(b"=")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::vary::VaryRule;
    use proptest::prelude::*;

    fn store() -> Store {
        Store {
            ttl: Duration::from_secs(600),
            initial_age: Duration::from_secs(5),
            stale_while_revalidate: Duration::from_secs(30),
            stale_if_error: Duration::from_secs(86_400),
            vary: VaryRule::default(),
            source: crate::cache::policy::FreshnessSource::MaxAge,
        }
    }

    const FILL: &str = "sluice-fill-00112233445566778899aabbccddeeff";

    fn head(headers: &[(&'static str, &'static str)]) -> Result<StoredHead, HeadError> {
        StoredHead::from_response(
            200,
            headers.iter().map(|(n, v)| (*n, v.as_bytes())),
            &store(),
            FILL,
        )
    }

    #[test]
    fn per_visitor_hop_by_hop_and_edge_headers_are_dropped() {
        let h = head(&[
            ("Content-Type", "text/html; charset=utf-8"),
            ("ETag", "W/\"abc\""),
            ("Set-Cookie", "theme=dark"),
            ("Connection", "close"),
            ("Transfer-Encoding", "chunked"),
            ("Surrogate-Key", "a b"),
            ("Surrogate-Control", "max-age=60"),
            ("Age", "5"),
            ("Server-Timing", "edge;dur=1.0"),
            ("Content-Length", "10"),
            ("X-Sluice-Id", "0123"),
            ("Cache-Control", "max-age=60"),
            ("Content-Security-Policy", "default-src 'self'"),
            ("Vary", "Accept-Encoding"),
        ])
        .unwrap();
        let names: Vec<&str> = h.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "etag",
                "cache-control",
                "content-security-policy",
                "vary"
            ]
        );
        assert_eq!(h.header_str("etag"), Some("W/\"abc\""));
    }

    #[test]
    fn a_head_with_the_visitor_cookie_is_refused() {
        assert_eq!(
            head(&[("Set-Cookie", "sluice_id=abc.def; Path=/; Max-Age=10")]),
            Err(HeadError::PerVisitor)
        );
        assert!(head(&[("Set-Cookie", "sluice_identity=1")]).is_ok());
    }

    #[test]
    fn round_trip() {
        let h = head(&[("content-type", "text/css"), ("x-empty", "")]).unwrap();
        let bytes = h.encode().unwrap();
        assert_eq!(decode(&bytes), Ok(Entry::Response(h.clone())));
        assert_eq!(bytes[0], VERSION);
        for reason in NotStored::ALL {
            assert_eq!(decode(&encode_pass(reason)), Ok(Entry::Pass(reason)));
        }
    }

    #[test]
    fn malformed_metadata_is_rejected_with_a_reason() {
        let good = head(&[("content-type", "text/css")])
            .unwrap()
            .encode()
            .unwrap();
        assert_eq!(decode(&[]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[2, 0]), Err(DecodeError::Version(2)));
        assert_eq!(decode(&[1, 9]), Err(DecodeError::Kind(9)));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(DecodeError::Trailing));
        for cut in 0..good.len() {
            assert_eq!(
                decode(&good[..cut]),
                Err(DecodeError::Truncated),
                "cut at {cut}"
            );
        }
        let mut bad_status = good.clone();
        bad_status[2..4].copy_from_slice(&700u16.to_be_bytes());
        assert_eq!(decode(&bad_status), Err(DecodeError::Invalid));
        let mut upper = good.clone();
        // The header name starts before its u16 length and the value.
        let at = upper.len() - "text/css".len() - 2 - "content-type".len();
        assert_eq!(upper[at], b'c');
        upper[at] = b'C';
        assert_eq!(decode(&upper), Err(DecodeError::Invalid));
        let crlf = StoredHead {
            headers: vec![("x".to_owned(), b"a\r\nb".to_vec())],
            ..head(&[]).unwrap()
        }
        .encode()
        .unwrap();
        assert_eq!(decode(&crlf), Err(DecodeError::Invalid));
        let cookie = StoredHead {
            headers: vec![("set-cookie".to_owned(), b"a=b".to_vec())],
            ..head(&[]).unwrap()
        }
        .encode()
        .unwrap();
        assert_eq!(
            decode(&cookie),
            Err(DecodeError::Invalid),
            "never replays a cookie"
        );
        assert_eq!(
            decode(&[1, 1, 3, b'x', b'y', b'z']),
            Err(DecodeError::Invalid)
        );
        assert_eq!(
            decode(&vec![1u8; MAX_ENCODED_BYTES + 1]),
            Err(DecodeError::TooLarge)
        );
    }

    #[test]
    fn size_is_bounded() {
        let big = "v".repeat(9000);
        let h = StoredHead {
            headers: vec![
                ("a".to_owned(), big.clone().into_bytes()),
                ("b".to_owned(), big.into_bytes()),
            ],
            ..head(&[]).unwrap()
        };
        assert_eq!(h.encode(), Err(HeadError::TooLarge));
        let many: Vec<(String, Vec<u8>)> = (0..=MAX_HEADERS)
            .map(|i| (format!("x-{i}"), b"1".to_vec()))
            .collect();
        let h = StoredHead {
            headers: many,
            ..head(&[]).unwrap()
        };
        assert_eq!(h.encode(), Err(HeadError::TooLarge));
        assert_eq!(
            StoredHead::from_response(200, [("x-a", b"\0".as_slice())], &store(), FILL),
            Err(HeadError::Invalid)
        );
        assert_eq!(
            StoredHead::from_response(99, [], &store(), FILL),
            Err(HeadError::Invalid)
        );
        assert_eq!(
            StoredHead::from_response(200, [], &store(), "bad key"),
            Err(HeadError::Invalid)
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }

        /// A mutated encoding is either rejected or decodes to an entry that
        /// re-encodes to exactly those bytes (the fuzz target's property).
        #[test]
        fn accepted_bytes_re_encode_exactly(at in 0usize..200, byte in any::<u8>()) {
            let mut bytes = head(&[("content-type", "text/html"), ("etag", "\"x\"")])
                .unwrap()
                .encode()
                .unwrap();
            let at = at % bytes.len();
            bytes[at] = byte;
            match decode(&bytes) {
                Ok(Entry::Response(h)) => prop_assert_eq!(h.encode().unwrap(), bytes),
                Ok(Entry::Pass(r)) => prop_assert_eq!(encode_pass(r), bytes),
                Err(_) => {}
            }
        }

        #[test]
        fn encode_decode_round_trips(
            status in 100u16..600,
            headers in proptest::collection::vec(("[a-z][a-z0-9-]{0,20}", "[ -~]{0,40}"), 0..20),
            ages in (0u64..100_000, 0u64..100_000, 0u64..100_000),
        ) {
            let h = StoredHead {
                status,
                headers: headers
                    .into_iter()
                    .filter(|(n, _)| !hop_by_hop::is_hop_by_hop(n) && !NOT_STORED.contains(&n.as_str()))
                    .map(|(n, v)| (n, v.into_bytes()))
                    .collect(),
                initial_age: Duration::from_secs(ages.0),
                stale_while_revalidate: Duration::from_secs(ages.1),
                stale_if_error: Duration::from_secs(ages.2),
                fill_key: FILL.to_owned(),
            };
            let bytes = h.encode().unwrap();
            prop_assert_eq!(decode(&bytes), Ok(Entry::Response(h)));
        }
    }
}
