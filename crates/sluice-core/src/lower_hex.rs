//! Lower-case hex of fixed-size secrets' digests and IDs, decoded with the
//! `hex` crate.
//!
//! WHY lower case only: every value decoded here is documented as lower
//! case and produced that way (`sha256sum` for client key digests, the edge
//! itself for synthetic IDs), so an upper-case value is not one the edge
//! or an operator's tooling produced; it is refused, not folded.

/// Decodes exactly `2 * N` lower-case hex digits into `N` bytes; `None` for
/// any other length, any non-hex byte or any upper-case digit.
pub(crate) fn decode<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn only_exact_length_lower_case_hex_decodes() {
        assert_eq!(decode::<2>("00ff"), Some([0x00, 0xff]));
        assert_eq!(decode::<3>("a1b2c3"), Some([0xa1, 0xb2, 0xc3]));
        for bad in [
            "00FF", "00fF", "00f", "00ff0", "00ff00", "0g00", "00 f", "", "é0",
        ] {
            assert_eq!(decode::<2>(bad), None, "{bad:?}");
        }
        assert_eq!(decode::<0>(""), Some([]));
    }
}
