//! The cursor that finds authority markers (`//`, `\/\/`) in one buffer.
//!
//! WHY a cursor: the replacer asks for the next match many times per chunk
//! and the HTML stage asks about every tag of a chunk. Remembering where
//! the next marker of each form lies (or that there is none) means each
//! buffer is searched for each form once, not once per question.
//!
//! The `#[inline]`s: these steps run once per marker inside the matcher's
//! and the piece rewrite's loops, which live in sibling modules (and so
//! possibly other codegen units); without the hint they stop being inlined
//! there and every marker pays a call.

/// Where the next authority marker of each form lies in one buffer.
///
/// Markers are found by SIMD substring search for `//` and `\/\/`, which
/// stops only at markers, instead of at every `/` (inline scripts and JSON
/// are full of `/`, most of them `\/` path separators). A cursor belongs to
/// one buffer and must be asked with a non-decreasing `at`.
#[derive(Debug, Default)]
pub(crate) struct Markers {
    pub(super) plain: CachedFind,
    json: CachedFind,
    /// The next backslash
    /// ([`RewriteRules::rewrite_piece`](super::RewriteRules::rewrite_piece)
    /// only).
    pub(super) backslash: CachedFind,
}

/// One remembered search result of a [`Markers`] cursor.
#[derive(Debug, Default, Clone, Copy)]
pub(super) enum CachedFind {
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
    #[inline]
    pub(super) fn next(
        &mut self,
        finders: &[(memchr::memmem::Finder<'static>, usize); 2],
        buf: &[u8],
        at: usize,
    ) -> Option<(usize, usize, bool)> {
        let [(plain, plain_len), (json, json_len)] = finders;
        if matches!(self.json, CachedFind::Unknown)
            && buf
                .get(at..)
                .is_none_or(|rest| memchr::memchr(b'\\', rest).is_none())
        {
            // No backslash, no `\/\/`: one `memchr` instead of a substring
            // search (most tags and many scripts have none).
            self.json = CachedFind::Never;
        }
        let plain_at = Self::advance(&mut self.plain, plain, buf, at);
        let json_at = Self::advance(&mut self.json, json, buf, at);
        Self::earlier(plain_at, *plain_len, json_at, *json_len)
    }

    /// The earlier of the next plain and the next JSON-escaped marker: its
    /// start, its length and whether it is the JSON-escaped form.
    #[inline]
    pub(super) fn earlier(
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

    /// [`Markers::advance_with`] for a substring search.
    #[inline]
    pub(super) fn advance(
        next: &mut CachedFind,
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
    #[inline]
    pub(super) fn advance_with(
        next: &mut CachedFind,
        at: usize,
        search: impl FnOnce(usize) -> Option<usize>,
    ) -> Option<usize> {
        match *next {
            CachedFind::Never => return None,
            CachedFind::At(p) if p >= at => return Some(p),
            CachedFind::At(_) | CachedFind::Unknown => {}
        }
        let found = search(at).map(|k| at + k);
        *next = found.map_or(CachedFind::Never, CachedFind::At);
        found
    }
}
