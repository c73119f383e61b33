//! The raw URL form for resources pinned by Subresource Integrity: each
//! URL of a rewrite host becomes `scheme://EDGE/_sluice-raw/path`, which
//! the edge serves byte-identical to the origin so the pinned hash holds.

use super::markers::Markers;
use super::matcher::Found;
use super::RewriteRules;

impl RewriteRules {
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
            out.extend_from_slice(crate::rewrite::raw::RAW_PATH_PREFIX.as_bytes());
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
}
