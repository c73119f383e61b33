//! Rewriting one piece of a larger buffer (a tag or a comment of an HTML
//! chunk) with a marker cursor shared across the buffer's pieces.

use super::markers::{CachedFind, Markers};
use super::matcher::Found;
use super::RewriteRules;

impl RewriteRules {
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
        let beyond = |next: CachedFind| match next {
            CachedFind::Never => true,
            CachedFind::At(p) => p >= to,
            CachedFind::Unknown => false,
        };
        if beyond(markers.plain) && beyond(markers.backslash) {
            return 0;
        }
        self.rewrite_piece_searching(markers, buf, from, to, out)
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
            Some(b) if b < to => CachedFind::Unknown,
            _ => CachedFind::Never,
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
}
