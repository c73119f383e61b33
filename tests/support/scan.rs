//! An independent check of rewritten HTML: a separate lol_html pass that
//! lists URL-bearing attributes still pointing at an origin host.

/// True when `host` present as a URL authority (after `//` or `\/\/`) in `text`?
pub fn mentions(text: &[u8], host: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let h = host.as_bytes();
    let mut i = 0;
    while let Some(pos) = find(&lower[i..], h) {
        let start = i + pos;
        let end = start + h.len();
        let before = &lower[..start];
        let after = lower.get(end).copied();
        let boundary = !matches!(after, Some(b) if b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !(after == Some(b'.')
                && lower
                    .get(end + 1)
                    .is_some_and(|b| b.is_ascii_alphanumeric()));
        if boundary && (before.ends_with(b"//") || before.ends_with(b"\\/\\/")) {
            return true;
        }
        i = start + 1;
    }
    false
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Attributes that carry URLs.
pub const URL_ATTRS: &[&str] = &[
    "href",
    "src",
    "srcset",
    "imagesrcset",
    "action",
    "formaction",
    "poster",
    "data",
    "cite",
    "background",
    "ping",
];

/// Every URL-bearing attribute (and `<meta content>`) whose value has a
/// URL on one of `hosts`, as `<tag name="value">` strings.
pub fn attributes_pointing_at<S: AsRef<str>>(page: &[u8], hosts: &[S]) -> Vec<String> {
    use lol_html::html_content::Element;
    use lol_html::{ElementContentHandlers, HandlerResult, HtmlRewriter, Selector, Settings};
    use std::borrow::Cow;
    let mut found = Vec::new();
    {
        let selector: Selector = "*".parse().expect("selector");
        let handlers = ElementContentHandlers::default().element(
            |el: &mut Element<'_, '_>| -> HandlerResult {
                for attr in el.attributes() {
                    let name = attr.name();
                    let is_url_attr = URL_ATTRS.contains(&name.as_str())
                        || (name == "content" && el.tag_name() == "meta");
                    if is_url_attr {
                        let v = attr.value();
                        for h in hosts {
                            let h = h.as_ref();
                            if mentions(v.as_bytes(), h) {
                                found.push(format!("<{} {name}=\"{v}\">", el.tag_name()));
                            }
                        }
                    }
                }
                Ok(())
            },
        );
        let settings = Settings::new()
            .append_element_content_handler((Cow::Owned(selector), handlers))
            .with_strict(false);
        let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
        rewriter.write(page).expect("scan");
        rewriter.end().expect("scan end");
    }
    found
}

