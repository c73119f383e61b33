//! The scheme in front of an authority marker: `http:`/`https:` is
//! replaced by the request's scheme, any other scheme is not ours to
//! rewrite, and none means a protocol-relative URL.

/// What precedes an authority marker.
pub(super) enum Scheme {
    /// No scheme: a protocol-relative URL.
    None,
    /// `http:` or `https:` starting at this index.
    Http(usize),
    /// Some other `scheme:`; not ours to rewrite.
    Other,
}

/// The scheme before the marker at `marker`, looking no further back than
/// `floor` (the end of the previous replacement).
#[inline]
pub(super) fn scheme_before(buf: &[u8], floor: usize, marker: usize) -> Scheme {
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
