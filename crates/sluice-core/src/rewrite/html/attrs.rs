//! Which elements of an HTML document hold raw text, and why start tags are
//! rewritten whole.
//!
//! Every attribute value is rewritten, not a list of "URL attributes": any
//! list misses one (lazy-loading `data-*` attributes, `content` of
//! `og:url`, escaped markup such as `data-img="&lt;img src=&quot;...`), and
//! a missed attribute leaks an origin URL. Rewriting all of them is safe
//! because the matcher only ever changes `//host` URLs of a rewrite host.
//!
//! The stage goes one step further and runs the matcher over the whole raw
//! start tag as one edit. The two are the same: attribute values are
//! delimited by quotes, `=` or whitespace, which can neither extend a host
//! nor form part of a scheme, so a match inside a value is a match of the
//! tag and the reverse holds for everything but URL-shaped attribute
//! *names* in malformed markup (`<a //origin.example>`), which browsers
//! ignore and which are rewritten too. Skipping lol_html's attribute list
//! saves its per-tag attribute parsing: about 5% of the HTML rewrite on
//! the corpus (docs/BENCHMARKS.md).

/// `<script>` and `<style>` in the HTML namespace hold raw text (no markup,
/// no entities) that is streamed through the byte replacer.
pub(super) const HTML_NAMESPACE: &str = "http://www.w3.org/1999/xhtml";

/// Is this raw start tag (`<name ...>`) a `<script>`, `<style>` or
/// `<noscript>`?
pub(super) fn is_raw_text_tag(tag: &[u8]) -> bool {
    // Called for every start tag: reject on the first letter.
    if !matches!(tag.get(1), Some(b's' | b'S' | b'n' | b'N')) {
        return false;
    }
    let name = tag.get(1..).unwrap_or_default();
    let end = name
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
        .unwrap_or(name.len());
    let name = &name[..end];
    name.eq_ignore_ascii_case(b"script")
        || name.eq_ignore_ascii_case(b"style")
        || name.eq_ignore_ascii_case(b"noscript")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_text_tags() {
        assert!(is_raw_text_tag(b"<script>"));
        assert!(is_raw_text_tag(b"<SCRIPT type=x>"));
        assert!(is_raw_text_tag(b"<style\n>"));
        assert!(is_raw_text_tag(b"<script/>"));
        assert!(!is_raw_text_tag(b"<scripts>"));
        assert!(!is_raw_text_tag(b"<styled>"));
        assert!(is_raw_text_tag(b"<NoScript class=x>"));
        assert!(!is_raw_text_tag(b"<"));
    }
}
