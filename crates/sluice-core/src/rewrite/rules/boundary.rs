//! Where a host may end: the byte after a matched host decides whether the
//! match is the whole host or only the start of a longer one.

/// Whether a host ends before the bytes that follow it.
pub(super) enum Boundary {
    Yes,
    No,
    NeedMore,
}

/// Can a host end right before `after`?
#[inline]
pub(super) fn boundary(after: &[u8], has_port: bool, eof: bool) -> Boundary {
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
