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

use crate::error::ConfigError;

mod host;

use self::host::HostRule;

/// How many bytes before a marker the matcher looks at (`https:`).
pub(crate) const LOOKBEHIND: usize = 6;
/// The longest marker (`\/\/`) minus one: a marker starting in the last
/// `MARKER_TAIL` bytes of a buffer cannot be recognised yet.
pub(crate) const MARKER_TAIL: usize = 3;
/// Bytes after a host needed to decide the boundary (`.x` or `:1`).
const LOOKAHEAD: usize = 2;
/// Longest accepted rewrite host (a DNS name is at most 253 bytes, plus an
/// optional `:port`).
const MAX_HOST_LEN: usize = 253 + 6;
/// Longest accepted edge authority.
const MAX_AUTHORITY_LEN: usize = 512;

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

/// The outcome of looking for the next rewritable URL in a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found<'r> {
    /// Replace `buf[start..end]` with `replacement`.
    Match {
        start: usize,
        end: usize,
        replacement: &'r [u8],
    },
    /// A marker at `at` might start a match, but the buffer ends before the
    /// decision can be made (only when not at end of input).
    NeedMore { at: usize },
    /// No marker that could start a match in `buf[from..]`.
    Exhausted,
}

/// Where the next authority marker of each form lies in one buffer.
///
/// Markers are found by SIMD substring search for `//` and `\/\/`, which
/// stops only at markers, instead of at every `/` (inline scripts and JSON
/// are full of `/`, most of them `\/` path separators). A cursor belongs to
/// one buffer and must be asked with a non-decreasing `at`.
#[derive(Debug, Default)]
pub(crate) struct Markers {
    plain: Next,
    json: Next,
    /// The next backslash ([`RewriteRules::rewrite_piece`] only).
    backslash: Next,
}

#[derive(Debug, Default, Clone, Copy)]
enum Next {
    /// Not searched yet.
    #[default]
    Unknown,
    /// The first occurrence at or after the last searched position.
    At(usize),
    /// None at or after the last searched position.
    Never,
}

impl Markers {
    /// The first marker starting at or after `at`: its start, its length
    /// and whether it is the JSON-escaped form.
    fn next(
        &mut self,
        finders: &[(memchr::memmem::Finder<'static>, usize); 2],
        buf: &[u8],
        at: usize,
    ) -> Option<(usize, usize, bool)> {
        let [(plain, plain_len), (json, json_len)] = finders;
        if matches!(self.json, Next::Unknown)
            && buf
                .get(at..)
                .is_none_or(|rest| memchr::memchr(b'\\', rest).is_none())
        {
            // No backslash, no `\/\/`: one `memchr` instead of a substring
            // search (most tags and many scripts have none).
            self.json = Next::Never;
        }
        let plain_at = Self::advance(&mut self.plain, plain, buf, at);
        let json_at = Self::advance(&mut self.json, json, buf, at);
        Self::earlier(plain_at, *plain_len, json_at, *json_len)
    }

    /// The earlier of the next plain and the next JSON-escaped marker: its
    /// start, its length and whether it is the JSON-escaped form.
    fn earlier(
        plain: Option<usize>,
        plain_len: usize,
        json: Option<usize>,
        json_len: usize,
    ) -> Option<(usize, usize, bool)> {
        match (plain, json) {
            (Some(p), Some(j)) if j < p => Some((j, json_len, true)),
            (Some(p), _) => Some((p, plain_len, false)),
            (None, Some(j)) => Some((j, json_len, true)),
            (None, None) => None,
        }
    }

    fn advance(
        next: &mut Next,
        finder: &memchr::memmem::Finder<'static>,
        buf: &[u8],
        at: usize,
    ) -> Option<usize> {
        Self::advance_with(next, at, |from| {
            buf.get(from..).and_then(|rest| finder.find(rest))
        })
    }

    /// The cursor step shared by every kind of search: answer from `next`
    /// when it still lies at or after `at`, else run `search` (which gives
    /// an offset from `at`) and remember its answer.
    fn advance_with(
        next: &mut Next,
        at: usize,
        search: impl FnOnce(usize) -> Option<usize>,
    ) -> Option<usize> {
        match *next {
            Next::Never => return None,
            Next::At(p) if p >= at => return Some(p),
            Next::At(_) | Next::Unknown => {}
        }
        let found = search(at).map(|k| at + k);
        *next = found.map_or(Next::Never, Next::At);
        found
    }
}

#[derive(Debug, PartialEq, Eq)]
enum HostMatch {
    Yes(usize),
    No,
    NeedMore,
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
    ) -> Result<Self, ConfigError> {
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            "https"
        } else if scheme.eq_ignore_ascii_case("http") {
            "http"
        } else {
            return Err(ConfigError::InvalidScheme(scheme.to_owned()));
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

    /// Rewrites the piece `buf[from..to]` of a larger buffer exactly as
    /// [`RewriteRules::rewrite_complete`] rewrites it on its own: when at
    /// least one URL matched, appends the rewritten piece to `out` and
    /// returns how many matched; otherwise leaves `out` alone and returns
    /// 0. One [`Markers`] cursor is shared by every piece of `buf` (asked
    /// with growing `from`).
    ///
    /// WHY: the HTML stage asks about every start tag and comment of a
    /// chunk. Searching each afresh costs a `memchr` and a substring-search
    /// setup per tag; with a shared cursor the chunk is searched for `//`
    /// once, a tag with no marker in it is passed over by one compare, and
    /// a tag that does hold a URL is rewritten from the marker the cursor
    /// already found, into the caller's reused buffer, instead of being
    /// searched again into a new `Vec`. The rare JSON-escaped form is
    /// searched for only inside a piece that holds a backslash (found with
    /// another shared cursor), so the many `\/\/` of inline scripts are not
    /// searched for the tags' sake.
    ///
    /// Same result as the piece alone because every decision reads only
    /// `buf[floor..to]`: markers starting in `from..to` (one cut by `to`
    /// has no host within the piece), the host and its boundary up to `to`
    /// as at the end of input, and the scheme back to `floor` (`from`, or
    /// the end of the previous match).
    #[inline]
    pub(crate) fn rewrite_piece(
        &self,
        markers: &mut Markers,
        buf: &[u8],
        from: usize,
        to: usize,
        out: &mut Vec<u8>,
    ) -> u64 {
        // Most pieces lie before the next marker and the next backslash the
        // cursor already knows of: decided here, without a call.
        let beyond = |next: Next| match next {
            Next::Never => true,
            Next::At(p) => p >= to,
            Next::Unknown => false,
        };
        if beyond(markers.plain) && beyond(markers.backslash) {
            return 0;
        }
        self.rewrite_piece_searching(markers, buf, from, to, out)
    }

    /// [`RewriteRules::rewrite_piece`] into the raw form
    /// ([`super::raw`]): each URL of a rewrite host becomes
    /// `scheme://EDGE/_sluice-raw/path`, which the edge serves
    /// byte-identical to the origin. For start tags whose resource is
    /// pinned by `integrity`, so rare that it walks the matches one by one
    /// rather than share the hot loop of the plain form. A URL with an
    /// empty path gets the `/` the URL standard gives it (`https://host?q`
    /// is `https://host/?q`), so the prefix is always followed by a path.
    pub(crate) fn rewrite_piece_raw(
        &self,
        buf: &[u8],
        from: usize,
        to: usize,
        out: &mut Vec<u8>,
    ) -> u64 {
        let inner = &*self.inner;
        let piece = &buf[..to.min(buf.len())];
        let mut markers = Markers::default();
        let (mut at, mut count) = (from, 0u64);
        let mut floor = from;
        while let Found::Match {
            start,
            end,
            replacement,
        } = self.next_match_in(&mut markers, piece, at, floor, true)
        {
            let forms = [
                &inner.abs_plain,
                &inner.abs_json,
                &inner.rel_plain,
                &inner.rel_json,
            ];
            let Some(k) = forms.iter().position(|f| f.as_slice() == replacement) else {
                break;
            };
            if count == 0 {
                out.reserve(to - from + 32);
            }
            out.extend_from_slice(&piece[floor..start]);
            // The authority, then the prefix (its `/` escaped in JSON).
            // Built here rather than stored with the rules: this path is
            // rare, and a field more measurably slowed every match.
            out.extend_from_slice(replacement);
            let json = k % 2 == 1;
            if json {
                out.extend_from_slice(b"\\");
            }
            out.extend_from_slice(super::raw::RAW_PATH_PREFIX.as_bytes());
            let slash: &[u8] = if json { b"\\/" } else { b"/" };
            if !piece[end..].starts_with(slash) {
                out.extend_from_slice(slash);
            }
            floor = end;
            at = end;
            count += 1;
        }
        if count > 0 {
            out.extend_from_slice(&piece[floor..]);
        }
        count
    }

    /// [`RewriteRules::rewrite_piece`] when the cursor must search or a
    /// marker lies in the piece.
    fn rewrite_piece_searching(
        &self,
        markers: &mut Markers,
        buf: &[u8],
        from: usize,
        to: usize,
        out: &mut Vec<u8>,
    ) -> u64 {
        let to = to.min(buf.len());
        if self.is_empty() || to.saturating_sub(from) < self.inner.shortest_match {
            return 0;
        }
        let piece = &buf[..to];
        let [(plain, plain_len), (json, json_len)] = &self.inner.markers;
        // No backslash in the piece, no `\/\/`.
        let backslash = Markers::advance_with(&mut markers.backslash, from, |at| {
            buf.get(at..).and_then(|rest| memchr::memchr(b'\\', rest))
        });
        let mut json_next = match backslash {
            Some(b) if b < to => Next::Unknown,
            _ => Next::Never,
        };
        let (mut at, mut floor, mut count) = (from, from, 0u64);
        loop {
            let p = Markers::advance(&mut markers.plain, plain, buf, at).filter(|&p| p < to);
            let j = Markers::advance_with(&mut json_next, at, |at| {
                piece.get(at..).and_then(|rest| json.find(rest))
            });
            let Some((i, marker_len, is_json)) = Markers::earlier(p, *plain_len, j, *json_len)
            else {
                break;
            };
            // Markers overlap (`///host`): the next one may start one on.
            at = i + 1;
            if self.no_host_at(piece, i + marker_len) {
                continue;
            }
            // At the end of input a marker is decided: a match or nothing.
            if let Some(Found::Match {
                start,
                end,
                replacement,
            }) = self.at_marker(piece, i, marker_len, is_json, floor, true)
            {
                if count == 0 {
                    out.reserve(to - from + 32);
                }
                out.extend_from_slice(&piece[floor..start]);
                out.extend_from_slice(replacement);
                floor = end;
                at = end;
                count += 1;
            }
        }
        if count > 0 {
            out.extend_from_slice(&piece[floor..]);
        }
        count
    }

    /// The longest stretch the streaming replacer may need to hold back.
    pub(crate) fn max_hold(&self) -> usize {
        let longest = self.inner.hosts.first().map_or(0, |h| h.bytes.len());
        LOOKBEHIND + 4 + longest + LOOKAHEAD
    }

    /// Finds the next rewritable URL whose marker starts at or after `from`.
    ///
    /// `floor` is where the bytes the matcher may look behind start (the end
    /// of the previous replacement, or the start of input): a scheme is only
    /// recognised if it lies entirely at or after `floor`. With `eof` false,
    /// a decision that needs bytes past the end of `buf` yields
    /// [`Found::NeedMore`]; with `eof` true the end of `buf` is the end of
    /// input. The result depends only on the bytes of `buf` it inspects, so
    /// streaming and one-shot use give identical output.
    #[cfg(test)]
    pub(crate) fn next_match(&self, buf: &[u8], from: usize, floor: usize, eof: bool) -> Found<'_> {
        self.next_match_in(&mut Markers::default(), buf, from, floor, eof)
    }

    /// [`RewriteRules::next_match`] with a [`Markers`] cursor that the
    /// caller keeps across calls over the same `buf` with growing `from`,
    /// so each marker form is searched for once per buffer rather than
    /// once per match.
    pub(crate) fn next_match_in(
        &self,
        markers: &mut Markers,
        buf: &[u8],
        from: usize,
        floor: usize,
        eof: bool,
    ) -> Found<'_> {
        if self.is_empty() || from >= buf.len() {
            return Found::Exhausted;
        }
        let mut at = from;
        while let Some((i, marker_len, json)) = markers.next(&self.inner.markers, buf, at) {
            // Markers overlap (`///host`): the next one may start one on.
            at = i + 1;
            if self.no_host_at(buf, i + marker_len) {
                continue;
            }
            if let Some(found) = self.at_marker(buf, i, marker_len, json, floor, eof) {
                return found;
            }
        }
        Found::Exhausted
    }

    /// The decision at one authority marker starting at `i`: a match, a
    /// wait for more bytes, or `None` to go on to the next marker.
    fn at_marker(
        &self,
        buf: &[u8],
        i: usize,
        marker_len: usize,
        json: bool,
        floor: usize,
        eof: bool,
    ) -> Option<Found<'_>> {
        let host_start = i + marker_len;
        let len = match self.match_host(buf, host_start, eof) {
            HostMatch::No => return None,
            HostMatch::NeedMore => return Some(Found::NeedMore { at: i }),
            HostMatch::Yes(len) => len,
        };
        let inner = &*self.inner;
        let (start, replacement) = match scheme_before(buf, floor, i) {
            Scheme::Other => return None,
            Scheme::None if json => (i, &inner.rel_json),
            Scheme::None => (i, &inner.rel_plain),
            Scheme::Http(s) if json => (s, &inner.abs_json),
            Scheme::Http(s) => (s, &inner.abs_plain),
        };
        Some(Found::Match {
            start,
            end: host_start + len,
            replacement,
        })
    }

    /// True when the byte at `at` starts no rewrite host, so the marker
    /// before it is decided without a call to [`RewriteRules::at_marker`]
    /// (most markers: `//` in comments and paths, other hosts).
    #[inline]
    fn no_host_at(&self, buf: &[u8], at: usize) -> bool {
        buf.get(at)
            .is_some_and(|&b| !self.inner.first_byte[usize::from(b)])
    }

    /// Does a rewrite host (followed by a host boundary) start at `at`?
    fn match_host(&self, buf: &[u8], at: usize, eof: bool) -> HostMatch {
        let rest = &buf[at.min(buf.len())..];
        match rest.first() {
            None if eof => return HostMatch::No,
            None => return HostMatch::NeedMore,
            Some(&b) if !self.inner.first_byte[usize::from(b)] => return HostMatch::No,
            Some(_) => {}
        }
        // Longest first: a longer host that cannot be decided yet must be
        // waited for, because it would win if it matched.
        for host in &self.inner.hosts {
            let h = &host.bytes;
            if rest.len() < h.len() {
                if !eof && rest.eq_ignore_ascii_case(&h[..rest.len()]) {
                    return HostMatch::NeedMore;
                }
                continue;
            }
            if !host.starts(rest) {
                continue;
            }
            match boundary(&rest[h.len()..], host.has_port, eof) {
                Boundary::Yes => return HostMatch::Yes(h.len()),
                Boundary::No => continue,
                Boundary::NeedMore => return HostMatch::NeedMore,
            }
        }
        HostMatch::No
    }
}

enum Boundary {
    Yes,
    No,
    NeedMore,
}

/// Can a host end right before `after`?
fn boundary(after: &[u8], has_port: bool, eof: bool) -> Boundary {
    let Some(&c) = after.first() else {
        return if eof {
            Boundary::Yes
        } else {
            Boundary::NeedMore
        };
    };
    let next_is = |pred: fn(u8) -> bool| match after.get(1) {
        Some(&d) if pred(d) => Boundary::No,
        Some(_) => Boundary::Yes,
        None if eof => Boundary::Yes,
        None => Boundary::NeedMore,
    };
    if is_host_byte(c) || c == b'@' {
        Boundary::No
    } else if c == b'.' {
        next_is(is_host_byte)
    } else if c == b':' && !has_port {
        next_is(|d| d.is_ascii_digit())
    } else {
        Boundary::Yes
    }
}

/// Bytes that may continue a host name (including percent-escapes and
/// non-ASCII IDN bytes, which a browser would fold into the host).
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'%') || b >= 0x80
}

enum Scheme {
    /// No scheme: a protocol-relative URL.
    None,
    /// `http:` or `https:` starting at this index.
    Http(usize),
    /// Some other `scheme:`; not ours to rewrite.
    Other,
}

fn scheme_before(buf: &[u8], floor: usize, marker: usize) -> Scheme {
    if marker <= floor || buf[marker - 1] != b':' {
        return Scheme::None;
    }
    let avail = marker - floor;
    if avail >= 6 && buf[marker - 6..marker - 1].eq_ignore_ascii_case(b"https") {
        Scheme::Http(marker - 6)
    } else if avail >= 5 && buf[marker - 5..marker - 1].eq_ignore_ascii_case(b"http") {
        Scheme::Http(marker - 5)
    } else {
        Scheme::Other
    }
}

fn parse_host(raw: &str) -> Result<HostRule, ConfigError> {
    let host = raw.trim().to_ascii_lowercase();
    let err = |reason| ConfigError::InvalidHost {
        host: raw.to_owned(),
        reason,
    };
    if host.is_empty() {
        return Err(err("empty"));
    }
    if host.len() > MAX_HOST_LEN {
        return Err(err("longer than 259 bytes"));
    }
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let Some((addr, rest)) = v6.split_once(']') else {
            return Err(err("unterminated IPv6 literal"));
        };
        if addr.is_empty()
            || !addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(err("invalid IPv6 literal"));
        }
        match rest {
            "" => (addr, None),
            _ => match rest.strip_prefix(':') {
                Some(p) => (addr, Some(p)),
                None => return Err(err("junk after IPv6 literal")),
            },
        }
    } else {
        match host.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host.as_str(), None),
        }
    };
    if !host.starts_with('[') {
        if name.is_empty() || name.starts_with('.') || name.ends_with('.') || name.contains("..") {
            return Err(err("not a host name"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(err(
                "host names may only contain letters, digits, '-', '_' and '.'",
            ));
        }
    }
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("port must be 1-5 digits"));
        }
    }
    let has_port = port.is_some();
    Ok(HostRule::new(host.into_bytes(), has_port))
}

fn validate_authority(a: &str) -> Result<(), ConfigError> {
    let err = |reason| ConfigError::InvalidAuthority {
        authority: a.to_owned(),
        reason,
    };
    if a.is_empty() {
        return Err(err("empty"));
    }
    if a.len() > MAX_AUTHORITY_LEN {
        return Err(err("longer than 512 bytes"));
    }
    if a.bytes().any(|b| {
        b <= b' '
            || b >= 0x7f
            || matches!(
                b,
                b'/' | b'\\' | b'?' | b'#' | b'@' | b'"' | b'\'' | b'<' | b'>'
            )
    }) {
        return Err(err(
            "must be host[:port] without path, userinfo, quotes or whitespace",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(hosts: &[&str]) -> RewriteRules {
        RewriteRules::new(hosts, "https", "edge.test").unwrap()
    }

    fn rw(r: &RewriteRules, s: &str) -> String {
        r.rewrite_str(s).into_owned()
    }

    #[test]
    fn rewrites_absolute_relative_and_json_forms() {
        let r = rules(&["origin.example"]);
        assert_eq!(
            rw(&r, "http://origin.example/a?b#c"),
            "https://edge.test/a?b#c"
        );
        assert_eq!(rw(&r, "HTTPS://ORIGIN.EXAMPLE/A"), "https://edge.test/A");
        assert_eq!(rw(&r, "//origin.example/x"), "//edge.test/x");
        assert_eq!(
            rw(&r, r"https:\/\/origin.example\/x"),
            r"https:\/\/edge.test\/x"
        );
        assert_eq!(rw(&r, r"\/\/origin.example\/x"), r"\/\/edge.test\/x");
        assert_eq!(rw(&r, "url(//origin.example)"), "url(//edge.test)");
        assert_eq!(
            rw(&r, "a https://origin.example. b"),
            "a https://edge.test. b"
        );
    }

    #[test]
    fn leaves_lookalikes_alone() {
        let r = rules(&["origin.example"]);
        for s in [
            "https://cdn.origin.example/",
            "https://origin.example.evil.com/",
            "https://origin.examples/",
            "https://origin.example-cdn.net/",
            "https://notorigin.example/",
            "https://user@origin.example.evil/",
            "https://origin.example@evil.com/",
            "https://origin.example:8080/",
            "https://origin.example%2eevil.com/",
            "ftp://origin.example/",
            "ws://origin.example/",
            "origin.example/path",
            "mailto:me@origin.example",
        ] {
            assert_eq!(rw(&r, s), s, "{s}");
        }
    }

    fn raw(r: &RewriteRules, s: &str) -> String {
        let mut out = Vec::new();
        if r.rewrite_piece_raw(s.as_bytes(), 0, s.len(), &mut out) == 0 {
            return s.to_owned();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn raw_form_puts_the_prefix_before_the_origin_path() {
        let r = rules(&["origin.example", "origin.example:8080"]);
        for (from, to) in [
            (
                "<script src=\"https://origin.example/app.js?v=1\" integrity=x>",
                "<script src=\"https://edge.test/_sluice-raw/app.js?v=1\" integrity=x>",
            ),
            (
                "<link href='//ORIGIN.EXAMPLE/a/b.css'>",
                "<link href='//edge.test/_sluice-raw/a/b.css'>",
            ),
            (
                "http://origin.example:8080/x",
                "https://edge.test/_sluice-raw/x",
            ),
            // An empty path is `/`; the prefix is always followed by one.
            ("https://origin.example", "https://edge.test/_sluice-raw/"),
            (
                "https://origin.example?q=1",
                "https://edge.test/_sluice-raw/?q=1",
            ),
            (
                "'https://origin.example'",
                "'https://edge.test/_sluice-raw/'",
            ),
            (
                r"https:\/\/origin.example\/a.js",
                r"https:\/\/edge.test\/_sluice-raw\/a.js",
            ),
            (r"\/\/origin.example", r"\/\/edge.test\/_sluice-raw\/"),
            // Look-alikes stay, as in the ordinary form.
            (
                "https://cdn.origin.example/a.js",
                "https://cdn.origin.example/a.js",
            ),
            (
                "https://origin.example:9/a.js",
                "https://origin.example:9/a.js",
            ),
        ] {
            assert_eq!(raw(&r, from), to, "{from}");
        }
        // Every raw URL's path is one the router accepts, giving the
        // origin's path back.
        let url = raw(&r, "https://origin.example/a/b.js?x");
        let path = url.strip_prefix("https://edge.test").unwrap();
        assert_eq!(super::super::raw::strip_raw_prefix(path), Some("/a/b.js?x"));
    }

    #[test]
    fn never_rewrites_twice_or_inside_a_longer_host() {
        let r = rules(&["example.com", "www.example.com"]);
        assert_eq!(rw(&r, "https://www.example.com/"), "https://edge.test/");
        assert_eq!(rw(&r, "https://example.com/"), "https://edge.test/");
        let r = rules(&["example.com"]);
        assert_eq!(
            rw(&r, "https://www.example.com/"),
            "https://www.example.com/"
        );
    }

    #[test]
    fn ports_must_match_the_rule() {
        let r = rules(&["origin.example:8080"]);
        assert_eq!(
            rw(&r, "http://origin.example:8080/x"),
            "https://edge.test/x"
        );
        assert_eq!(
            rw(&r, "http://origin.example:80801/x"),
            "http://origin.example:80801/x"
        );
        assert_eq!(rw(&r, "http://origin.example/x"), "http://origin.example/x");
        let r = rules(&["origin.example"]);
        assert_eq!(
            rw(&r, "{\"a\":\"//origin.example\":1}"),
            "{\"a\":\"//edge.test\":1}"
        );
    }

    #[test]
    fn validates_configuration() {
        assert!(RewriteRules::new(["a.example"], "ftp", "e").is_err());
        assert!(RewriteRules::new(["a.example"], "https", "e/x").is_err());
        assert!(RewriteRules::new(["a.example"], "https", "").is_err());
        for bad in [
            "", "a/b", "a b", ".a", "a..b", "a:", "a:x", "a:123456", "[::1", "[zz]",
        ] {
            assert!(RewriteRules::new([bad], "https", "e").is_err(), "{bad:?}");
        }
        let r = RewriteRules::new(["A.Example", "a.example", "[::1]:8080"], "HTTP", "e:1").unwrap();
        assert_eq!(r.hosts().collect::<Vec<_>>(), ["[::1]:8080", "a.example"]);
        assert_eq!(r.scheme(), "http");
        assert!(RewriteRules::new(Vec::<String>::new(), "https", "e")
            .unwrap()
            .is_empty());
    }

    /// What [`RewriteRules::rewrite_piece`] must give for a piece on its
    /// own: the matches of the stop-at-every-slash reference, applied.
    fn rewrite_reference(r: &RewriteRules, buf: &[u8]) -> (Vec<u8>, u64) {
        let (mut out, mut from, mut count) = (Vec::new(), 0, 0);
        while let Found::Match {
            start,
            end,
            replacement,
        } = next_match_reference(r, buf, from, from, true)
        {
            out.extend_from_slice(&buf[from..start]);
            out.extend_from_slice(replacement);
            from = end;
            count += 1;
        }
        out.extend_from_slice(&buf[from..]);
        (out, count)
    }

    /// Rewrites consecutive pieces of `buf` (cut at `bounds`) with one
    /// shared cursor, checking each against the piece rewritten alone.
    fn check_pieces(r: &RewriteRules, buf: &[u8], bounds: &[usize]) -> Result<(), String> {
        let mut markers = Markers::default();
        for w in bounds.windows(2) {
            let piece = &buf[w[0]..w[1]];
            let mut out = b"kept".to_vec();
            let count = r.rewrite_piece(&mut markers, buf, w[0], w[1], &mut out);
            let (want, want_count) = rewrite_reference(r, piece);
            let want = if want_count == 0 {
                b"kept".to_vec()
            } else {
                [&b"kept"[..], &want].concat()
            };
            if count != want_count || out != want {
                return Err(format!(
                    "{:?} in {:?}: got {count} {:?}, want {want_count} {:?}",
                    String::from_utf8_lossy(piece),
                    String::from_utf8_lossy(buf),
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&want),
                ));
            }
        }
        Ok(())
    }

    #[test]
    fn rewrite_piece_agrees_with_the_reference() {
        let r = rules(&[
            "origin.example",
            "www.origin.example",
            "origin.example:8080",
        ]);
        let cases: &[&[u8]] = &[
            b"",
            b"/",
            b"//",
            b"\\/\\/",
            b"<a href=\"https://origin.example/\">",
            b"<a href=\"/a/b/c\" data-x='//cdn.origin.example/'>",
            b"<a href=//origin.example.evil.com/>",
            b"<img src=///origin.example>",
            b"<i x='\\/\\/www.origin.example\\/'>",
            b"<i x='https:\\/\\/ORIGIN.EXAMPLE'>",
            b"<i x='ftp://origin.example' y='ws://origin.example'>",
            b"<i x='ftp://origin.example' y='//origin.example'>",
            b"<i x='//origin.example:8080/'>",
            b"<i x='//origin.example:9/'>",
            b"<i x='//origin.example@evil'>",
            b"//origin.example",
            b"\\//origin.example",
            b"\\/\\//origin.example",
        ];
        for &case in cases {
            check_pieces(&r, case, &[0, case.len()]).unwrap();
        }
        // The same cases as tags of one chunk, sharing a cursor.
        let joined = cases.concat();
        let mut bounds = vec![0];
        for case in cases {
            bounds.push(bounds[bounds.len() - 1] + case.len());
        }
        check_pieces(&r, &joined, &bounds).unwrap();
        // A marker or host cut by the end of a piece is not in the piece.
        let cut: &[u8] = b"a //origin.example b \\/\\/origin.example c";
        for k in 0..=cut.len() {
            check_pieces(&r, cut, &[0, k, cut.len()]).unwrap();
        }
        check_pieces(&rules(&[]), b"//origin.example", &[0, 16]).unwrap();
    }

    /// The rewrite hosts of the property tests: one the tail of another's
    /// name, one with a port, and a one-letter host that occurs everywhere.
    const PROP_HOSTS: [&str; 3] = ["o.e", "ox.e:8", "e"];

    /// Buffers of up to `max_tokens` pieces that URLs, their look-alikes
    /// and tags are made of, for the property tests.
    fn url_soup(max_tokens: usize) -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::strategy::Strategy;
        proptest::collection::vec(
            proptest::sample::select(vec![
                "/", "//", "\\", "\\/", "\\/\\/", "http:", "HTTPS:", "ftp:", "o.e", "O.E",
                "ox.e:8", "e", ".", "x", "@", ":8", "-", " ", "<", ">",
            ]),
            0..max_tokens,
        )
        .prop_map(|tokens| tokens.concat().into_bytes())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// Rewriting consecutive pieces of one buffer with one shared
        /// cursor gives, for each piece, what the piece gives on its own.
        #[test]
        fn rewrite_piece_agrees_with_the_piece_alone(
            bytes in url_soup(32),
            cuts in proptest::collection::vec(0usize..64, 0..8),
        ) {
            let r = rules(&PROP_HOSTS);
            let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            bounds.push(0);
            bounds.push(bytes.len());
            bounds.sort_unstable();
            bounds.dedup();
            if let Err(e) = check_pieces(&r, &bytes, &bounds) {
                proptest::prop_assert!(false, "{}", e);
            }
        }
    }

    #[test]
    fn need_more_only_when_undecidable() {
        let r = rules(&["origin.example"]);
        let buf = b"x //origin.exa";
        assert_eq!(r.next_match(buf, 0, 0, false), Found::NeedMore { at: 2 });
        assert_eq!(r.next_match(buf, 0, 0, true), Found::Exhausted);
        assert_eq!(r.next_match(b"x //other", 0, 0, false), Found::Exhausted);
        assert_eq!(
            r.next_match(b"//origin.example.", 0, 0, false),
            Found::NeedMore { at: 0 }
        );
    }

    /// Marker discovery as it was before [`Markers`]: a stop at every `/`.
    /// Kept as the reference the substring-search cursor must agree with;
    /// the decision at each marker is the shared [`RewriteRules::at_marker`].
    fn next_match_reference<'r>(
        r: &'r RewriteRules,
        buf: &[u8],
        from: usize,
        floor: usize,
        eof: bool,
    ) -> Found<'r> {
        if r.is_empty() || from >= buf.len() {
            return Found::Exhausted;
        }
        for j in memchr::memchr_iter(b'/', &buf[from..]).map(|j| j + from) {
            let (i, marker_len, json) = match buf.get(j + 1) {
                Some(b'/') => (j, 2, false),
                Some(b'\\') if j > from && buf[j - 1] == b'\\' && buf.get(j + 2) == Some(&b'/') => {
                    (j - 1, 4, true)
                }
                _ => continue,
            };
            if let Some(found) = r.at_marker(buf, i, marker_len, json, floor, eof) {
                return found;
            }
        }
        Found::Exhausted
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// Walking a buffer match by match (as the replacer does, one
        /// cursor per buffer) finds exactly what the stop-at-every-slash
        /// reference finds, including `NeedMore` at the end of a chunk.
        #[test]
        fn marker_cursor_agrees_with_the_reference(bytes in url_soup(24), eof: bool) {
            let r = rules(&PROP_HOSTS);
            let (mut from, mut floor) = (0, 0);
            let mut markers = Markers::default();
            loop {
                let got = r.next_match_in(&mut markers, &bytes, from, floor, eof);
                let want = next_match_reference(&r, &bytes, from, floor, eof);
                proptest::prop_assert_eq!(&got, &want);
                match got {
                    Found::Match { end, .. } => {
                        from = end;
                        floor = end;
                    }
                    Found::NeedMore { .. } | Found::Exhausted => break,
                }
            }
        }
    }
}
