//! A policy inside `<meta http-equiv="Content-Security-Policy"
//! content="...">`: reading the raw attribute value and writing sources
//! into it without touching any other byte.
//!
//! lol_html reports where the attribute value lies but leaves character
//! references in it, and a policy written as `&#39;self&#39;` must be read
//! as `'self'` (its `;` would otherwise split a directive). So the value
//! is decoded with a map back to raw offsets, the policy is read from the
//! decoded text, and insertions are mapped back and escaped for the
//! attribute's quoting (`'` inside a single-quoted value, a space in an
//! unquoted one).

/// How the attribute value is quoted in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quote {
    Double,
    Single,
    Unquoted,
}

impl Quote {
    /// From the byte before the value (`"`, `'` or `=`/whitespace).
    pub(crate) fn from_byte_before(b: Option<u8>) -> Self {
        match b {
            Some(b'"') => Self::Double,
            Some(b'\'') => Self::Single,
            _ => Self::Unquoted,
        }
    }
}

/// The `http-equiv` values whose `content` is a policy: the enforced one
/// and `-Report-Only` (which browsers ignore in `<meta>`, but it is
/// treated like the header of the same name so a policy is never
/// rewritten, only appended to). ASCII case-insensitive and otherwise
/// exact, as browsers compare `http-equiv`.
pub(crate) fn is_policy_equiv(equiv: &str) -> bool {
    equiv.eq_ignore_ascii_case("content-security-policy")
        || equiv.eq_ignore_ascii_case("content-security-policy-report-only")
}

/// A raw attribute value decoded: the text, and for every byte offset of
/// the text (and its end) the raw offset it came from.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) text: String,
    map: Vec<usize>,
}

impl Decoded {
    /// Decodes numeric character references and the five XML named ones
    /// (`&amp; &lt; &gt; &quot; &apos;`), which are all a policy can need;
    /// any other `&` stays literal. Bytes >= 0x80 (the page's own
    /// encoding) become U+FFFD, which makes a directive holding them
    /// invalid, so it is left alone, as a browser would ignore it.
    pub(crate) fn new(raw: &[u8]) -> Self {
        let mut text = String::with_capacity(raw.len());
        let mut map = Vec::with_capacity(raw.len() + 1);
        let mut i = 0;
        while i < raw.len() {
            let (c, len) = match raw[i] {
                b'&' => char_ref(&raw[i..]).unwrap_or(('&', 1)),
                b if b < 0x80 => (char::from(b), 1),
                _ => ('\u{fffd}', 1),
            };
            for _ in 0..c.len_utf8() {
                map.push(i);
            }
            text.push(c);
            i += len;
        }
        map.push(raw.len());
        Self { text, map }
    }

    /// The raw offset of text offset `at`.
    pub(crate) fn raw_offset(&self, at: usize) -> usize {
        self.map
            .get(at)
            .copied()
            .unwrap_or(self.map.len().saturating_sub(1))
    }
}

/// One character reference at the start of `s` (`&...;`): the character
/// and the bytes it takes.
fn char_ref(s: &[u8]) -> Option<(char, usize)> {
    let end = s.iter().take(12).position(|&b| b == b';')?;
    let body = std::str::from_utf8(&s[1..end]).ok()?;
    let c = if let Some(num) = body.strip_prefix('#') {
        let n = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        char::from_u32(n)
            .filter(|&c| c != '\0')
            .unwrap_or('\u{fffd}')
    } else {
        match body {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => return None,
        }
    };
    Some((c, end + 1))
}

/// Escapes inserted policy text for the attribute's quoting.
pub(crate) fn escape(text: &str, quote: Quote) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for b in text.bytes() {
        match (b, quote) {
            (b'&', _) => out.extend_from_slice(b"&amp;"),
            (b'"', Quote::Double | Quote::Unquoted) => out.extend_from_slice(b"&quot;"),
            (b'\'', Quote::Single | Quote::Unquoted) => out.extend_from_slice(b"&#39;"),
            (b' ' | b'=' | b'<' | b'>' | b'`', Quote::Unquoted) => {
                out.extend_from_slice(format!("&#{b};").as_bytes());
            }
            _ => out.push(b),
        }
    }
    out
}

/// Maps text insertions (`(text offset, text)`) to raw ones
/// (`(raw offset, escaped bytes)`).
pub(crate) fn raw_insertions(
    decoded: &Decoded,
    inserts: &[(usize, String)],
    quote: Quote,
) -> Vec<(usize, Vec<u8>)> {
    inserts
        .iter()
        .map(|(at, text)| (decoded.raw_offset(*at), escape(text, quote)))
        .collect()
}

/// Applies raw insertions to `raw` (offsets ascending).
pub(crate) fn apply(raw: &[u8], inserts: &[(usize, Vec<u8>)], out: &mut Vec<u8>) {
    let mut at = 0;
    for (offset, bytes) in inserts {
        out.extend_from_slice(raw.get(at..*offset).unwrap_or_default());
        out.extend_from_slice(bytes);
        at = *offset;
    }
    out.extend_from_slice(raw.get(at..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_references_with_a_map_back() {
        let raw = b"script-src &#39;self&#x27; &apos;x&apos; a&amp;b &bogus; &#0; \xe9";
        let d = Decoded::new(raw);
        assert_eq!(
            d.text,
            "script-src 'self' 'x' a&b &bogus; \u{fffd} \u{fffd}"
        );
        let at = d.text.find("'self'").unwrap();
        assert_eq!(d.raw_offset(at), 11);
        assert_eq!(d.raw_offset(at + 1), 16);
        assert_eq!(d.raw_offset(d.text.len()), raw.len());
        assert_eq!(d.raw_offset(d.text.len() - 3), raw.len() - 1);
    }

    #[test]
    fn escapes_for_each_quoting() {
        let t = " 'sha256-a+/='  http://e:1 a&b\"";
        assert_eq!(
            escape(t, Quote::Double),
            b" 'sha256-a+/='  http://e:1 a&amp;b&quot;"
        );
        assert_eq!(
            escape(t, Quote::Single),
            b" &#39;sha256-a+/=&#39;  http://e:1 a&amp;b\""
        );
        assert_eq!(
            escape(" 'x=' >", Quote::Unquoted),
            b"&#32;&#39;x&#61;&#39;&#32;&#62;"
        );
    }

    #[test]
    fn recognises_policy_metas() {
        for yes in [
            "Content-Security-Policy",
            "CONTENT-SECURITY-POLICY-REPORT-ONLY",
        ] {
            assert!(is_policy_equiv(yes), "{yes}");
        }
        for no in [
            "refresh",
            "content-type",
            "content-security-policyx",
            " content-security-policy",
            "",
        ] {
            assert!(!is_policy_equiv(no), "{no}");
        }
    }

    #[test]
    fn applies_insertions() {
        let mut out = Vec::new();
        apply(b"abcd", &[(1, b"X".to_vec()), (4, b"Y".to_vec())], &mut out);
        assert_eq!(out, b"aXbcdY");
    }
}
