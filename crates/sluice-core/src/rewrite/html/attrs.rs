//! Which attributes and elements of an HTML document carry URLs.
//!
//! Attribute values are rewritten with the same matcher as everything else,
//! so listing an attribute can only ever change `//host` URLs of a rewrite
//! host inside it; listing too many is harmless, missing one leaks an origin
//! URL. Beyond the attributes the HTML standard defines as URLs we cover:
//! - `content` (on `<meta>`: `og:url`, `og:image`, `twitter:*`, and the
//!   `url=` of `http-equiv=refresh`; on other elements it is microdata),
//! - `style` (`url(...)` in inline CSS), `srcdoc` (an inline document),
//!   `xlink:href` (SVG),
//! - the common lazy-loading attributes, because a production proxy whose
//!   images are lazy-loaded from the origin would otherwise load them from
//!   the origin after all: `data-src`, `data-srcset`, `data-lazy-src`,
//!   `data-lazy-srcset`, `data-original`, `data-bg`, `data-background`,
//!   `data-href`, `data-url`, `data-poster`.

/// `<script>` and `<style>` in the HTML namespace hold raw text (no markup,
/// no entities) that is streamed through the byte replacer.
pub(super) const HTML_NAMESPACE: &str = "http://www.w3.org/1999/xhtml";

/// Longest name in the list below.
const LONGEST: usize = 16;

/// Is `name` (raw bytes from the document, any case) a URL-bearing
/// attribute? Allocation-free: called for every attribute of every tag
/// that contains a rewritable URL.
pub(super) fn is_url_attribute(name: &[u8]) -> bool {
    if name.len() > LONGEST {
        return false;
    }
    let mut buf = [0u8; LONGEST];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    matches!(
        &*lower,
        b"href"
            | b"src"
            | b"srcset"
            | b"imagesrcset"
            | b"action"
            | b"formaction"
            | b"poster"
            | b"data"
            | b"cite"
            | b"background"
            | b"ping"
            | b"content"
            | b"style"
            | b"srcdoc"
            | b"manifest"
            | b"longdesc"
            | b"xlink:href"
            | b"data-src"
            | b"data-srcset"
            | b"data-lazy-src"
            | b"data-lazy-srcset"
            | b"data-original"
            | b"data-bg"
            | b"data-background"
            | b"data-href"
            | b"data-url"
            | b"data-poster"
    )
}

/// Is this raw start tag (`<name ...>`) a `<script>` or `<style>`?
pub(super) fn is_raw_text_tag(tag: &[u8]) -> bool {
    let name = tag.get(1..).unwrap_or_default();
    let end = name
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
        .unwrap_or(name.len());
    let name = &name[..end];
    name.eq_ignore_ascii_case(b"script") || name.eq_ignore_ascii_case(b"style")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_case_insensitively() {
        assert!(is_url_attribute(b"HREF"));
        assert!(is_url_attribute(b"data-lazy-srcset"));
        assert!(is_url_attribute(b"XLink:Href"));
        assert!(!is_url_attribute(b"class"));
        assert!(!is_url_attribute(b"data-lazy-srcset-x"));
        assert!(!is_url_attribute(b""));
    }

    #[test]
    fn raw_text_tags() {
        assert!(is_raw_text_tag(b"<script>"));
        assert!(is_raw_text_tag(b"<SCRIPT type=x>"));
        assert!(is_raw_text_tag(b"<style\n>"));
        assert!(is_raw_text_tag(b"<script/>"));
        assert!(!is_raw_text_tag(b"<scripts>"));
        assert!(!is_raw_text_tag(b"<styled>"));
        assert!(!is_raw_text_tag(b"<"));
    }
}
