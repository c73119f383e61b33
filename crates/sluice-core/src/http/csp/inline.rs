//! What a buffered document holds that a policy governs: its inline
//! `<script>` and `<style>` elements (text as the browser hashes it) and
//! its policy `<meta>` elements, found by lol_html.

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

use lol_html::{element, text, HtmlRewriter, MemorySettings, Settings};

use super::meta::{is_policy_equiv, Quote};
use crate::rewrite::charset::{self, HtmlCharset};

/// The HTML namespace, as lol_html reports it.
const HTML_NAMESPACE: &str = "http://www.w3.org/1999/xhtml";

/// Script or style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InlineKind {
    Script,
    Style,
}

impl InlineKind {
    /// The directives that govern this kind of inline element, in CSP's
    /// fallback order.
    pub(crate) fn directives(self) -> &'static [&'static str] {
        match self {
            Self::Script => &["script-src-elem", "script-src", "default-src"],
            Self::Style => &["style-src-elem", "style-src", "default-src"],
        }
    }
}

/// One inline `<script>` (no `src`) or `<style>` in the HTML namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inline {
    pub(crate) kind: InlineKind,
    /// The element's text, decoded from the page's encoding.
    pub(crate) text: String,
    /// Where the start tag begins.
    pub(crate) at: usize,
}

/// One `<meta http-equiv="Content-Security-Policy[-Report-Only]">`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyMeta {
    /// Where the tag begins (a `<meta>` policy governs what follows it).
    pub(crate) at: usize,
    /// The raw `content` value (without quotes).
    pub(crate) value: Range<usize>,
    pub(crate) quote: Quote,
}

/// Everything [`scan`] found, in document order.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub(crate) inline: Vec<Inline>,
    pub(crate) metas: Vec<PolicyMeta>,
}

#[derive(Default)]
struct State {
    scan: Scan,
    /// The text handler appends to the last inline element.
    in_inline: bool,
}

/// Scans a whole document with the encoding its `Content-Type` charset
/// names (a `<meta charset>` may switch it when none is named, as for the
/// rewrite). `None` for an encoding lol_html cannot tokenize: the rewrite
/// passes such pages through, so there is nothing to complete.
pub(crate) fn scan(doc: &[u8], charset: Option<&str>) -> Result<Option<Scan>, String> {
    let HtmlCharset::Tokenize {
        encoding,
        adjust_on_meta,
    } = charset::resolve(charset)
    else {
        return Ok(None);
    };
    let state = Rc::new(RefCell::new(State::default()));
    let (on_el, on_text, on_meta) = (Rc::clone(&state), Rc::clone(&state), Rc::clone(&state));
    let settings = Settings::new()
        .with_encoding(encoding)
        .with_adjust_charset_on_meta_tag(adjust_on_meta)
        .with_strict(false)
        .with_memory_settings(MemorySettings::new().with_max_allowed_memory_usage(4 << 20))
        .append_element_content_handler(element!("script, style", move |el| {
            let mut s = on_el.borrow_mut();
            let inline = el.namespace_uri() == HTML_NAMESPACE
                && !(el.tag_name() == "script" && el.has_attribute("src"));
            s.in_inline = inline;
            if inline {
                let kind = if el.tag_name() == "script" {
                    InlineKind::Script
                } else {
                    InlineKind::Style
                };
                s.scan.inline.push(Inline {
                    kind,
                    text: String::new(),
                    at: el.source_location().bytes().start,
                });
            }
            Ok(())
        }))
        .append_element_content_handler(text!("script, style", move |t| {
            let mut s = on_text.borrow_mut();
            if s.in_inline {
                if let Some(last) = s.scan.inline.last_mut() {
                    last.text.push_str(t.as_str());
                }
            }
            Ok(())
        }))
        .append_element_content_handler(element!("meta", move |el| {
            let policy = el
                .get_attribute("http-equiv")
                .is_some_and(|e| is_policy_equiv(&e));
            let value = el
                .attributes()
                .iter()
                .find(|a| a.name() == "content")
                .and_then(|a| a.value_source_location());
            if let (true, Some(loc)) = (policy, value) {
                on_meta.borrow_mut().scan.metas.push(PolicyMeta {
                    at: el.source_location().bytes().start,
                    value: loc.bytes(),
                    quote: Quote::Unquoted,
                });
            }
            Ok(())
        }));
    let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
    for piece in doc.chunks(64 << 10) {
        rewriter.write(piece).map_err(|e| e.to_string())?;
    }
    rewriter.end().map_err(|e| e.to_string())?;
    let mut scan = std::mem::take(&mut state.borrow_mut().scan);
    for m in &mut scan.metas {
        let before = m
            .value
            .start
            .checked_sub(1)
            .and_then(|i| doc.get(i))
            .copied();
        m.quote = Quote::from_byte_before(before);
    }
    Ok(Some(scan))
}

/// The text as CSP hashes it: the HTML parser has already turned CRLF and
/// lone CR into LF and NUL into U+FFFD before the text reaches a script,
/// while lol_html hands over the source bytes.
pub(crate) fn as_hashed(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['\r', '\0']) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.replace("\r\n", "\n")
            .replace('\r', "\n")
            .replace('\0', "\u{fffd}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_inline_elements_and_policy_metas_in_order() {
        let doc = "<meta http-equiv=refresh content=5>\
            <META HTTP-EQUIV='Content-Security-Policy' CONTENT='script-src a'>\
            <script>one</script><script src=x.js>ignored</script>\
            <style>b{}</style><svg><script>svg</script><style>s</style></svg>\
            <meta http-equiv=\"content-security-policy-report-only\" content=\"x\">\
            <script type=module>two\r\nlines</script><script></script>";
        let scan = scan(doc.as_bytes(), None).unwrap().unwrap();
        let got: Vec<(InlineKind, &str)> = scan
            .inline
            .iter()
            .map(|i| (i.kind, i.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (InlineKind::Script, "one"),
                (InlineKind::Style, "b{}"),
                (InlineKind::Script, "two\r\nlines"),
                (InlineKind::Script, ""),
            ]
        );
        assert_eq!(&doc[scan.inline[0].at..scan.inline[0].at + 8], "<script>");
        assert_eq!(scan.metas.len(), 2);
        let m = &scan.metas[0];
        assert_eq!(&doc[m.value.clone()], "script-src a");
        assert_eq!(m.quote, Quote::Single);
        assert_eq!(scan.metas[1].quote, Quote::Double);
        assert!(scan.metas[0].at < scan.inline[0].at);
    }

    #[test]
    fn decodes_the_text_in_the_page_encoding() {
        let doc = b"<script>var s='caf\xe9';</script>";
        let scan = scan(doc, Some("windows-1252")).unwrap().unwrap();
        assert_eq!(scan.inline[0].text, "var s='caf\u{e9}';");
        assert!(scan_opaque());
    }

    fn scan_opaque() -> bool {
        scan(b"<script>x</script>", Some("utf-16"))
            .unwrap()
            .is_none()
    }

    #[test]
    fn hashed_text_is_normalised_like_the_parser_does() {
        assert_eq!(as_hashed("a\r\nb\rc\0d\n"), "a\nb\nc\u{fffd}d\n");
        assert!(matches!(as_hashed("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
