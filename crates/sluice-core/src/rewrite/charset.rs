//! How an HTML body's charset decides whether and how it is tokenized.
//!
//! Our rewrites are byte-level and ASCII-only (markers, hosts, schemes), so
//! they are exact in every ASCII-compatible encoding: windows-1252,
//! Shift_JIS, EUC-KR, GBK... come out byte-identical except for rewritten
//! URLs. lol_html still needs the encoding to tokenize correctly, so it gets
//! the `Content-Type` charset. Encodings that are not ASCII-compatible
//! (UTF-16, ISO-2022-JP, `replacement`) cannot be tokenized byte-wise, so
//! such pages pass through untouched.

use lol_html::AsciiCompatibleEncoding;

/// What to do with an HTML body given its declared charset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HtmlCharset {
    /// Tokenize with this encoding. `adjust_on_meta` lets a `<meta charset>`
    /// switch it, which HTML allows only when the header named no charset.
    Tokenize {
        encoding: AsciiCompatibleEncoding,
        adjust_on_meta: bool,
    },
    /// Not ASCII-compatible: pass the body through untouched.
    Opaque,
}

/// Resolves a `Content-Type` charset label (WHATWG labels, ASCII
/// case-insensitive). No label or an unknown one behaves like a browser:
/// UTF-8 until a `<meta charset>` says otherwise.
pub(crate) fn resolve(label: Option<&str>) -> HtmlCharset {
    let unknown = HtmlCharset::Tokenize {
        encoding: AsciiCompatibleEncoding::utf_8(),
        adjust_on_meta: true,
    };
    let Some(label) = label else {
        return unknown;
    };
    match encoding_rs::Encoding::for_label(label.trim().as_bytes()) {
        None => unknown,
        Some(enc) => match AsciiCompatibleEncoding::new(enc) {
            Some(encoding) => HtmlCharset::Tokenize {
                encoding,
                adjust_on_meta: false,
            },
            None => HtmlCharset::Opaque,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_labels() {
        assert!(matches!(resolve(Some("utf-16")), HtmlCharset::Opaque));
        assert!(matches!(resolve(Some("UTF-16BE")), HtmlCharset::Opaque));
        assert!(matches!(resolve(Some("iso-2022-jp")), HtmlCharset::Opaque));
        assert_eq!(
            resolve(Some("latin1")),
            HtmlCharset::Tokenize {
                encoding: AsciiCompatibleEncoding::new(encoding_rs::WINDOWS_1252).unwrap(),
                adjust_on_meta: false
            }
        );
        assert_eq!(
            resolve(Some("Shift_JIS")),
            HtmlCharset::Tokenize {
                encoding: AsciiCompatibleEncoding::new(encoding_rs::SHIFT_JIS).unwrap(),
                adjust_on_meta: false
            }
        );
        assert_eq!(resolve(None), resolve(Some("no-such-charset")));
    }
}
