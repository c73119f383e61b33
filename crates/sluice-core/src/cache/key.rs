//! The cache key: everything the rewritten bytes depend on.
//!
//! Two requests may share an entry only if the guest would produce the same
//! bytes for both. The rewrite output depends on:
//! - the **scheme and authority the client used**: origin URLs are rewritten
//!   into them, so `a.example` and `b.example` get different bodies;
//! - the **path and query** (the resource);
//! - the **rewrite configuration** ([`RewriteFingerprint`]): a changed
//!   `publisher.rewrite_hosts` or encoder setting must never serve bytes
//!   rewritten under the old one, so it is hashed into every key and old
//!   entries simply stop being found;
//! - whether the path is on the **buffered** path (strong `ETag`,
//!   `Content-Length`, guest-encoded body);
//! - the **output coding** ([`CodingClass`]), derived from the decision the
//!   guest makes, not from the raw `Accept-Encoding` (hundreds of distinct
//!   browser strings, at most eight classes here).
//!
//! `HEAD` shares `GET`'s entry (same head, no body). Headers named by the
//! origin's `Vary` are not in this key: the core cache's own vary support
//! keeps those variants apart (see `vary`).
//!
//! The fields are written length-prefixed (unambiguous: no two inputs
//! encode alike) under a domain tag and hashed with SHA-256 into a 32-byte
//! key, well under the core cache's 4 KiB limit whatever the URL length.

use sha2::{Digest, Sha256};

use crate::http::accept_encoding;
use crate::settings::{OutputEncoding, Settings};

/// Bumped whenever the meaning of a cached entry changes (key layout,
/// stored head format, rewrite semantics not visible in the settings), so
/// a deploy never reads entries written by an incompatible build.
pub const CACHE_GENERATION: u32 = 1;

/// The output coding the guest will produce for this request, as far as
/// it can be known before the origin answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodingClass {
    /// The guest writes identity (with `x-compress-hint` in the default
    /// mode, where the host compresses per client outside the cache).
    Identity,
    /// The guest re-encodes in the origin's coding, which the origin picks
    /// among these (the codings the client accepts that the edge decodes,
    /// as sent upstream by `accept_encoding::for_origin`).
    Negotiated {
        /// `br` accepted.
        br: bool,
        /// `gzip` accepted.
        gzip: bool,
        /// `deflate` accepted.
        deflate: bool,
    },
}

impl CodingClass {
    /// The class for a request. Mirrors the adapter's choice: the guest
    /// leaves compression to the host (identity) unless
    /// `publisher.output_encoding = origin` or the path is buffered; then
    /// the origin's coding is kept when the client accepts it, and the
    /// origin only ever receives the accepted, decodable codings. A client
    /// accepting none of them always gets identity.
    pub fn for_request(
        output: OutputEncoding,
        buffered: bool,
        accept_encoding: Option<&str>,
    ) -> Self {
        if output == OutputEncoding::IdentityWithHint && !buffered {
            return Self::Identity;
        }
        let br = accept_encoding::accepts(accept_encoding, "br");
        let gzip = accept_encoding::accepts(accept_encoding, "gzip");
        let deflate = accept_encoding::accepts(accept_encoding, "deflate");
        if br || gzip || deflate {
            Self::Negotiated { br, gzip, deflate }
        } else {
            Self::Identity
        }
    }

    fn byte(self) -> u8 {
        match self {
            Self::Identity => 0,
            Self::Negotiated { br, gzip, deflate } => {
                0x80 | u8::from(br) | (u8::from(gzip) << 1) | (u8::from(deflate) << 2)
            }
        }
    }
}

/// A digest of every setting that changes rewritten bytes or the stored
/// head, plus the crate version and [`CACHE_GENERATION`]. Computed once
/// per request from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RewriteFingerprint([u8; 32]);

impl RewriteFingerprint {
    /// From the settings. Deliberately left out: settings that only decide
    /// *whether* a body is rewritten or cached at all (limits, the cache
    /// keys) and the buffered path list, whose per-request outcome is a
    /// key field of its own (so editing the list only moves the paths it
    /// touches).
    pub fn from_settings(settings: &Settings) -> Self {
        let mut w = Fields::new(b"sluice-rewrite-fingerprint");
        w.u32(CACHE_GENERATION);
        w.bytes(env!("CARGO_PKG_VERSION").as_bytes());
        w.u32(u32::try_from(settings.rewrite_hosts.len()).unwrap_or(u32::MAX));
        for host in &settings.rewrite_hosts {
            w.bytes(host.as_bytes());
        }
        w.u8(match settings.output_encoding {
            OutputEncoding::Origin => 1,
            OutputEncoding::IdentityWithHint => 2,
        });
        w.u32(settings.gzip_level);
        w.u32(settings.brotli_quality);
        w.u64(settings.buffer_max_bytes as u64);
        Self(w.finish())
    }

    /// The digest (for logs and tests).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Everything a key is derived from.
#[derive(Debug, Clone, Copy)]
pub struct KeyInput<'a> {
    /// `"https"` or `"http"`, as the edge saw the client connection.
    pub scheme: &'a str,
    /// The authority the client used (`Host`), compared case-insensitively.
    pub authority: &'a str,
    /// Path and query exactly as received (no decoding, no reordering).
    pub path_and_query: &'a str,
    /// `Settings::wants_buffering(path)`.
    pub buffered: bool,
    /// [`CodingClass::for_request`].
    pub coding: CodingClass,
    /// [`RewriteFingerprint::from_settings`].
    pub fingerprint: &'a RewriteFingerprint,
}

/// A derived key: 32 bytes, the `CacheKey` the adapter passes to the core
/// cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// The key of a request as the edge saw it: [`CacheKey::derive`] of
    /// its scheme, authority, path and query, and what the settings and
    /// the client's `Accept-Encoding` make of its bytes.
    pub fn for_request(
        settings: &Settings,
        view: &crate::http::ClientView,
        path: &str,
        query: Option<&str>,
        accept_encoding: Option<&str>,
    ) -> Self {
        let path_and_query = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let buffered = settings.wants_buffering(path);
        let output = settings.output_encoding;
        Self::derive(&KeyInput {
            scheme: view.scheme,
            authority: &view.authority,
            path_and_query: &path_and_query,
            buffered,
            coding: CodingClass::for_request(output, buffered, accept_encoding),
            fingerprint: &RewriteFingerprint::from_settings(settings),
        })
    }

    /// Derives the key. `GET` and `HEAD` have no field of their own: both
    /// use this key.
    pub fn derive(input: &KeyInput<'_>) -> Self {
        let mut w = Fields::new(b"sluice-cache-key");
        w.u32(CACHE_GENERATION);
        w.bytes(input.fingerprint.as_bytes());
        w.bytes(input.scheme.to_ascii_lowercase().as_bytes());
        w.bytes(input.authority.to_ascii_lowercase().as_bytes());
        w.bytes(input.path_and_query.as_bytes());
        w.u8(u8::from(input.buffered));
        w.u8(input.coding.byte());
        Self(w.finish())
    }

    /// The 32 key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, for logs.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Length-prefixed field writer feeding SHA-256.
struct Fields(Sha256);

impl Fields {
    fn new(domain: &[u8]) -> Self {
        let mut w = Self(Sha256::new());
        w.bytes(domain);
        w
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.update((b.len() as u64).to_be_bytes());
        self.0.update(b);
    }
    fn u8(&mut self, v: u8) {
        self.0.update([v]);
    }
    fn u32(&mut self, v: u32) {
        self.0.update(v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.update(v.to_be_bytes());
    }
    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requests_key_is_its_authority_path_query_and_coding_and_nothing_else() {
        let settings = Settings::defaults();
        let view =
            |host| crate::http::ClientView::from_connection(true, Some(host), None, None, false);
        let key =
            |host, path, query, ae| CacheKey::for_request(&settings, &view(host), path, query, ae);
        let a = key("edge.example", "/p", Some("x=1"), Some("gzip"));
        assert_eq!(a, key("EDGE.example", "/p", Some("x=1"), Some("gzip")));
        assert_ne!(a, key("edge.example", "/p", Some("x=2"), Some("gzip")));
        assert_ne!(a, key("edge.example", "/p", None, Some("gzip")));
        assert_ne!(a, key("other.example", "/p", Some("x=1"), Some("gzip")));
        let with_query_in_path = key("edge.example", "/p?x=1", None, Some("gzip"));
        assert_eq!(
            a, with_query_in_path,
            "the key is the request target as received"
        );
    }
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn settings() -> Settings {
        let mut s = Settings::defaults();
        s.rewrite_hosts = vec!["origin.example".to_owned()];
        s
    }

    fn key(
        scheme: &str,
        authority: &str,
        pq: &str,
        coding: CodingClass,
        fp: &RewriteFingerprint,
    ) -> CacheKey {
        CacheKey::derive(&KeyInput {
            scheme,
            authority,
            path_and_query: pq,
            buffered: false,
            coding,
            fingerprint: fp,
        })
    }

    #[test]
    fn derivation_is_stable() {
        // A fixed vector: changes only when the layout or the generation
        // changes, which must be deliberate (bump CACHE_GENERATION).
        let fp = RewriteFingerprint([7; 32]);
        let k = key(
            "https",
            "Edge.Example",
            "/a?b=1",
            CodingClass::Identity,
            &fp,
        );
        assert_eq!(
            k,
            key(
                "HTTPS",
                "edge.example",
                "/a?b=1",
                CodingClass::Identity,
                &fp
            )
        );
        assert_eq!(k.to_hex().len(), 64);
        assert_eq!(
            k.to_hex(),
            "a5eeb88bd4745995f528582c1316bc095c285562117240f586dd190c6292349d",
            "key layout changed: bump CACHE_GENERATION and update this vector"
        );
    }

    #[test]
    fn every_field_matters() {
        let fp = RewriteFingerprint::from_settings(&settings());
        let base = KeyInput {
            scheme: "https",
            authority: "edge.example",
            path_and_query: "/p?q=1",
            buffered: false,
            coding: CodingClass::Identity,
            fingerprint: &fp,
        };
        let other_fp = {
            let mut s = settings();
            s.rewrite_hosts.push("cdn.example".to_owned());
            RewriteFingerprint::from_settings(&s)
        };
        let variants = [
            base,
            KeyInput {
                scheme: "http",
                ..base
            },
            KeyInput {
                authority: "edge2.example",
                ..base
            },
            KeyInput {
                path_and_query: "/p?q=2",
                ..base
            },
            KeyInput {
                path_and_query: "/p",
                ..base
            },
            KeyInput {
                buffered: true,
                ..base
            },
            KeyInput {
                coding: CodingClass::Negotiated {
                    br: false,
                    gzip: true,
                    deflate: false,
                },
                ..base
            },
            KeyInput {
                fingerprint: &other_fp,
                ..base
            },
        ];
        let keys: HashSet<CacheKey> = variants.iter().map(CacheKey::derive).collect();
        assert_eq!(keys.len(), variants.len());
    }

    #[test]
    fn fingerprint_follows_byte_changing_settings_only() {
        let base = RewriteFingerprint::from_settings(&settings());
        let mut changed = Vec::new();
        let mut s = settings();
        s.rewrite_hosts = vec!["other.example".to_owned()];
        changed.push(s);
        let mut s = settings();
        s.output_encoding = OutputEncoding::Origin;
        changed.push(s);
        let mut s = settings();
        s.gzip_level = 6;
        changed.push(s);
        let mut s = settings();
        s.brotli_quality = 5;
        changed.push(s);
        let mut s = settings();
        s.buffer_max_bytes = 1024;
        changed.push(s);
        for s in &changed {
            assert_ne!(RewriteFingerprint::from_settings(s), base);
        }
        let mut same = settings();
        same.cache.default_ttl_s = 99;
        same.ai_max_attempts = 5;
        same.buffered_paths = vec!["/x/".to_owned()];
        assert_eq!(RewriteFingerprint::from_settings(&same), base);
    }

    #[test]
    fn coding_class_follows_the_guest_decision() {
        use OutputEncoding::*;
        assert_eq!(
            CodingClass::for_request(IdentityWithHint, false, Some("gzip, br")),
            CodingClass::Identity
        );
        assert_eq!(
            CodingClass::for_request(IdentityWithHint, true, Some("gzip, br, zstd")),
            CodingClass::Negotiated {
                br: true,
                gzip: true,
                deflate: false
            }
        );
        assert_eq!(
            CodingClass::for_request(Origin, false, Some("br;q=0, gzip;q=0.5, *")),
            CodingClass::Negotiated {
                br: false,
                gzip: true,
                deflate: true
            }
        );
        assert_eq!(
            CodingClass::for_request(Origin, false, Some("zstd")),
            CodingClass::Identity
        );
        assert_eq!(
            CodingClass::for_request(Origin, false, None),
            CodingClass::Identity
        );
        // Different raw headers, same class: one entry.
        assert_eq!(
            CodingClass::for_request(Origin, false, Some("gzip, deflate, br")),
            CodingClass::for_request(Origin, false, Some("br,gzip;q=0.9,deflate;q=0.1,zstd"))
        );
    }

    fn coding() -> impl Strategy<Value = CodingClass> {
        prop_oneof![
            Just(CodingClass::Identity),
            (any::<bool>(), any::<bool>(), any::<bool>())
                .prop_map(|(br, gzip, deflate)| CodingClass::Negotiated { br, gzip, deflate }),
        ]
    }

    proptest! {
        /// Distinct inputs never share a key (the encoding is injective;
        /// a collision here would mean a framing bug, not SHA-256 luck).
        #[test]
        fn distinct_inputs_distinct_keys(
            a in ("(http|https)", "[a-z.]{0,8}", "[/?=a-z%]{0,12}", any::<bool>(), coding()),
            b in ("(http|https)", "[a-z.]{0,8}", "[/?=a-z%]{0,12}", any::<bool>(), coding()),
        ) {
            let fp = RewriteFingerprint([1; 32]);
            let ka = CacheKey::derive(&KeyInput { scheme: &a.0, authority: &a.1, path_and_query: &a.2, buffered: a.3, coding: a.4, fingerprint: &fp });
            let kb = CacheKey::derive(&KeyInput { scheme: &b.0, authority: &b.1, path_and_query: &b.2, buffered: b.3, coding: b.4, fingerprint: &fp });
            prop_assert_eq!(ka == kb, a == b);
        }

        /// Moving bytes between adjacent fields changes the key (what
        /// length prefixes are for).
        #[test]
        fn field_boundaries_are_unambiguous(s in "[a-z/]{2,16}", cut in 1usize..15) {
            let cut = cut.min(s.len() - 1);
            let fp = RewriteFingerprint([2; 32]);
            let (x, y) = s.split_at(cut);
            let one = CacheKey::derive(&KeyInput { scheme: "https", authority: x, path_and_query: y, buffered: false, coding: CodingClass::Identity, fingerprint: &fp });
            let two = CacheKey::derive(&KeyInput { scheme: "https", authority: "", path_and_query: &s, buffered: false, coding: CodingClass::Identity, fingerprint: &fp });
            prop_assert_ne!(one, two);
        }
    }
}
