//! The decision at each authority marker: does a rewrite host start right
//! after it and end at a host boundary, and what replaces it.
//!
//! WHY one matcher: the streaming replacer, the HTML stage and the header
//! rewrite all ask these same questions, so they can never disagree about
//! which URL is rewritten.

use super::boundary::{boundary, Boundary};
use super::markers::Markers;
use super::scheme::{scheme_before, Scheme};
use super::RewriteRules;

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

/// Whether a rewrite host starts at a position.
#[derive(Debug, PartialEq, Eq)]
enum HostMatch {
    Yes(usize),
    No,
    NeedMore,
}

impl RewriteRules {
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
    pub(super) fn at_marker(
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
    pub(super) fn no_host_at(&self, buf: &[u8], at: usize) -> bool {
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
