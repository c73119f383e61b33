//! Which URLs are rewritten, and to what.
//!
//! A URL is rewritten only when a configured host follows an *authority
//! marker*: `//` or its JSON-escaped form `\/\/`. That single rule covers
//! absolute URLs (`https://host/`), protocol-relative ones (`//host/`) and
//! URLs inside JSON or inline scripts (`https:\/\/host\/`), while leaving
//! `host` in prose, e-mail addresses and sub-strings alone.
//!
//! Matching rules, in order:
//! 1. The host must start right after the marker, so `www.example.com` is
//!    never matched as `example.com` (no `www.www.example.com`), and
//!    `cdn.origin.example` is not `origin.example`.
//! 2. The host must end at a *host boundary*: the next byte is not a host
//!    character (`A-Z a-z 0-9 - _ %`, any byte >= 0x80, or `@` which would
//!    make it userinfo), and not a `.` followed by a host character — so
//!    `origin.example.evil.com` and `origin.example-cdn.net` are left alone.
//! 3. Ports: a rule without a port does not match a URL with an explicit
//!    port (`//origin.example:8080/` is a different origin the edge does not
//!    serve, so it is left alone); a rule `origin.example:8080` matches only
//!    that port. List `host:port` rules explicitly to rewrite them.
//! 4. If the marker is preceded by `http:` or `https:` (ASCII
//!    case-insensitive), that scheme is replaced by the request's scheme. If
//!    it is preceded by any other `scheme:` (`ftp:`, `ws:`), nothing is
//!    rewritten. Otherwise the URL is protocol-relative and stays so.
//! 5. Hosts match ASCII case-insensitively; path, query and fragment are
//!    never touched. When several hosts could match at one marker, the
//!    longest wins.
//!
//! The same matcher serves the streaming byte replacer, HTML attribute
//! values and response headers, so they can never disagree.

use std::borrow::Cow;
use std::sync::Arc;

use crate::error::PipelineConfigError;

mod boundary;
mod config;
mod host;
mod markers;
mod matcher;
mod piece;
mod raw_form;
mod scheme;
#[cfg(test)]
mod tests;

use self::config::{parse_host, validate_authority};
use self::host::HostRule;
pub(crate) use self::markers::Markers;
pub(crate) use self::matcher::Found;

/// How many bytes before a marker the matcher looks at (`https:`).
pub(crate) const LOOKBEHIND: usize = 6;
/// The longest marker (`\/\/`) minus one: a marker starting in the last
/// `MARKER_TAIL` bytes of a buffer cannot be recognised yet.
pub(crate) const MARKER_TAIL: usize = 3;
/// Bytes after a host needed to decide the boundary (`.x` or `:1`).
const LOOKAHEAD: usize = 2;

/// The origin hosts to rewrite and the edge authority they are rewritten to.
///
/// Cheap to clone (shared internally), immutable once built, and validated
/// up front so a bad configuration never reaches a body.
#[derive(Clone, Debug)]
pub struct RewriteRules {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Sorted longest first so the longest host wins at a marker.
    hosts: Vec<HostRule>,
    /// Lower-cased first bytes of all hosts, for a one-load reject.
    first_byte: [bool; 256],
    scheme: &'static str,
    authority: String,
    /// `scheme://authority`.
    abs_plain: Vec<u8>,
    /// `scheme:\/\/authority`.
    abs_json: Vec<u8>,
    /// `//authority`.
    rel_plain: Vec<u8>,
    /// `\/\/authority`.
    rel_json: Vec<u8>,
    /// The shortest buffer that can hold a match: `//` and the shortest
    /// host (`usize::MAX` without hosts).
    shortest_match: usize,
    /// Substring searchers for the two authority markers (`//`, `\/\/`),
    /// for [`Markers`].
    markers: [(memchr::memmem::Finder<'static>, usize); 2],
}

impl RewriteRules {
    /// Builds the rules.
    ///
    /// `hosts` are origin hostnames, optionally with `:port` (matched
    /// case-insensitively; duplicates are ignored). `scheme` is the client
    /// request's scheme (`http` or `https`) that absolute URLs get;
    /// `authority` is the edge's `host[:port]`.
    pub fn new(
        hosts: impl IntoIterator<Item = impl AsRef<str>>,
        scheme: &str,
        authority: &str,
    ) -> Result<Self, PipelineConfigError> {
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            "https"
        } else if scheme.eq_ignore_ascii_case("http") {
            "http"
        } else {
            return Err(PipelineConfigError::InvalidScheme(scheme.to_owned()));
        };
        validate_authority(authority)?;
        let mut rules: Vec<HostRule> = Vec::new();
        for host in hosts {
            let rule = parse_host(host.as_ref())?;
            if !rules.iter().any(|r| r.bytes == rule.bytes) {
                rules.push(rule);
            }
        }
        rules.sort_by_key(|r| std::cmp::Reverse(r.bytes.len()));
        let mut first_byte = [false; 256];
        for r in &rules {
            if let Some(&b) = r.bytes.first() {
                first_byte[usize::from(b)] = true;
                first_byte[usize::from(b.to_ascii_uppercase())] = true;
            }
        }
        let cat = |parts: &[&[u8]]| parts.concat();
        let a = authority.as_bytes();
        let s = scheme.as_bytes();
        Ok(Self {
            inner: Arc::new(Inner {
                abs_plain: cat(&[s, b"://", a]),
                abs_json: cat(&[s, b":\\/\\/", a]),
                rel_plain: cat(&[b"//", a]),
                rel_json: cat(&[b"\\/\\/", a]),
                shortest_match: rules
                    .iter()
                    .map(|r| r.bytes.len() + 2)
                    .min()
                    .unwrap_or(usize::MAX),
                hosts: rules,
                markers: [
                    (memchr::memmem::Finder::new(b"//").into_owned(), 2),
                    (memchr::memmem::Finder::new(b"\\/\\/").into_owned(), 4),
                ],
                first_byte,
                scheme,
                authority: authority.to_owned(),
            }),
        })
    }

    /// True when no host is configured: nothing can ever be rewritten, so
    /// the pipeline skips rewriting entirely.
    pub fn is_empty(&self) -> bool {
        self.inner.hosts.is_empty()
    }

    /// The configured hosts, lower-cased, longest first.
    pub fn hosts(&self) -> impl Iterator<Item = &str> + '_ {
        self.inner
            .hosts
            .iter()
            .map(|h| std::str::from_utf8(&h.bytes).unwrap_or(""))
    }

    /// The request scheme URLs are rewritten to (`http` or `https`).
    pub fn scheme(&self) -> &str {
        self.inner.scheme
    }

    /// The edge authority URLs are rewritten to.
    pub fn authority(&self) -> &str {
        &self.inner.authority
    }

    /// Rewrites every rewrite-host URL inside one complete string. Used for
    /// the `Location`, `Content-Location`, `Link` and `Refresh` headers.
    /// Borrows when nothing changed.
    pub fn rewrite_str<'a>(&self, s: &'a str) -> Cow<'a, str> {
        match self.rewrite_complete(s.as_bytes()) {
            None => Cow::Borrowed(s),
            // Replacements are ASCII and splice at ASCII positions, so this
            // cannot fail; falling back to the input keeps it panic-free.
            Some((bytes, _)) => String::from_utf8(bytes).map_or(Cow::Borrowed(s), Cow::Owned),
        }
    }

    /// Rewrites every rewrite-host URL inside one complete byte string (any
    /// bytes; invalid UTF-8 is fine). Borrows when nothing changed.
    pub fn rewrite_bytes<'a>(&self, b: &'a [u8]) -> Cow<'a, [u8]> {
        match self.rewrite_complete(b) {
            None => Cow::Borrowed(b),
            Some((bytes, _)) => Cow::Owned(bytes),
        }
    }

    /// One-shot rewrite of a complete buffer: `None` when nothing matched,
    /// else the new bytes and the number of URLs rewritten. Allocates only
    /// when there is a match.
    pub(crate) fn rewrite_complete(&self, buf: &[u8]) -> Option<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        let count = self.rewrite_piece(&mut Markers::default(), buf, 0, buf.len(), &mut out);
        (count > 0).then_some((out, count))
    }

    /// The longest stretch the streaming replacer may need to hold back.
    pub(crate) fn max_hold(&self) -> usize {
        let longest = self.inner.hosts.first().map_or(0, |h| h.bytes.len());
        LOOKBEHIND + 4 + longest + LOOKAHEAD
    }
}
