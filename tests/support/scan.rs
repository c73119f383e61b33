//! An independent check of rewritten HTML: a separate lol_html pass that
//! lists attributes still pointing at an origin host.

/// True when `host` is present in `text` as the authority of an http(s) or
/// protocol-relative URL (after `//` or the JSON-escaped `\/\/`). App deep
/// links such as `com.example.app://host/...` do not count: they are not
/// fetched by a browser and are left alone by the edge.
pub fn mentions(text: &[u8], host: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let h = host.as_bytes();
    let mut i = 0;
    while let Some(pos) = find(&lower[i..], h) {
        let start = i + pos;
        let end = start + h.len();
        let before = &lower[..start];
        let boundary = host_ends_at(&lower, end);
        let slashes = if before.ends_with(b"\\/\\/") {
            4
        } else if before.ends_with(b"//") {
            2
        } else {
            0
        };
        if boundary && slashes > 0 && web_scheme(&before[..before.len() - slashes]) {
            return true;
        }
        i = start + 1;
    }
    false
}

/// True when the text before a URL's `//` ends with no scheme at all
/// (protocol-relative) or with `http:` / `https:`.
fn web_scheme(before: &[u8]) -> bool {
    let Some(rest) = before.strip_suffix(b":") else {
        return true;
    };
    let start = rest
        .iter()
        .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
        .map_or(0, |p| p + 1);
    matches!(&rest[start..], b"http" | b"https")
}

/// True when the host name that ends at `end` in `text` really ends
/// there: the next byte neither continues the label nor starts another
/// domain label (so `example.com` does not match `example.com.evil`).
pub fn host_ends_at(text: &[u8], end: usize) -> bool {
    let after = text.get(end).copied();
    let continues_label =
        matches!(after, Some(b) if b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let continues_domain =
        after == Some(b'.') && text.get(end + 1).is_some_and(|b| b.is_ascii_alphanumeric());
    !continues_label && !continues_domain
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

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
                // Every attribute: the edge rewrites them all (an
                // allow-list of URL attributes always misses one).
                for attr in el.attributes() {
                    let name = attr.name();
                    let v = attr.value();
                    for h in hosts {
                        let h = h.as_ref();
                        if mentions(v.as_bytes(), h) {
                            found.push(format!("<{} {name}=\"{v}\">", el.tag_name()));
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
