//! Which processor a body goes through, chosen from its `Content-Type`.
//!
//! HTML needs a tokenizer (URLs live in attributes and some raw-text
//! elements); every other textual type is rewritten by the byte replacer,
//! which only ever touches `//host` URLs; binary and unknown types pass
//! through untouched because a byte-level rewrite could corrupt them.

/// The family of a response body, as far as rewriting is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentKind {
    /// `text/html`, `application/xhtml+xml`: streamed through lol_html.
    Html,
    /// `text/css`.
    Css,
    /// `text/javascript`, `application/javascript` and their legacy aliases.
    JavaScript,
    /// `application/json` and every `+json` suffix type.
    Json,
    /// `application/xml`, `text/xml` and `+xml` types (RSS, Atom, sitemaps).
    Xml,
    /// `text/plain`.
    Text,
    /// `image/svg+xml`.
    Svg,
    /// Anything else: passed through untouched.
    Other,
}

impl ContentKind {
    /// Classifies a `Content-Type` header value by its media type, ignoring
    /// parameters and ASCII case. Unknown or malformed values are
    /// [`ContentKind::Other`], so they are never rewritten.
    pub fn from_content_type(ct: &str) -> Self {
        let essence = ct.split(';').next().unwrap_or("").trim();
        let Some((top, sub)) = essence.split_once('/') else {
            return Self::Other;
        };
        let (top, sub) = (top.trim(), sub.trim());
        let is = |a: &str, b: &str| top.eq_ignore_ascii_case(a) && sub.eq_ignore_ascii_case(b);
        let suffix = |s: &str| {
            sub.len() > s.len()
                && sub
                    .get(sub.len() - s.len()..)
                    .is_some_and(|t| t.eq_ignore_ascii_case(s))
        };
        if is("text", "html") || is("application", "xhtml+xml") {
            Self::Html
        } else if is("text", "css") {
            Self::Css
        } else if is("image", "svg+xml") {
            Self::Svg
        } else if ["javascript", "x-javascript", "ecmascript", "x-ecmascript"]
            .iter()
            .any(|s| is("text", s) || is("application", s))
        {
            Self::JavaScript
        } else if is("application", "json")
            || is("text", "json")
            || (is_app_or_text(top) && suffix("+json"))
        {
            Self::Json
        } else if is("application", "xml")
            || is("text", "xml")
            || (is_app_or_text(top) && suffix("+xml"))
        {
            Self::Xml
        } else if is("text", "plain") {
            Self::Text
        } else {
            Self::Other
        }
    }

    /// True for every kind the pipeline rewrites; false only for
    /// [`ContentKind::Other`], which the adapter passes through.
    pub fn is_processable(self) -> bool {
        !matches!(self, Self::Other)
    }
}

fn is_app_or_text(top: &str) -> bool {
    top.eq_ignore_ascii_case("application") || top.eq_ignore_ascii_case("text")
}

/// Extracts the `charset` parameter of a `Content-Type` value, without
/// quotes, if present and non-empty.
///
/// The HTML rewriter needs it to tokenize non-UTF-8 pages with the right
/// encoding (and to pass UTF-16 pages through, which it cannot tokenize).
pub fn charset_from_content_type(ct: &str) -> Option<&str> {
    ct.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value)
            .trim();
        (!value.is_empty()).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_common_types() {
        for (ct, want) in [
            ("text/html", ContentKind::Html),
            ("Text/HTML; charset=UTF-8", ContentKind::Html),
            ("application/xhtml+xml", ContentKind::Html),
            ("text/css", ContentKind::Css),
            ("application/javascript", ContentKind::JavaScript),
            ("text/javascript; charset=utf-8", ContentKind::JavaScript),
            ("application/x-javascript", ContentKind::JavaScript),
            ("application/json", ContentKind::Json),
            ("application/ld+json", ContentKind::Json),
            ("application/manifest+json", ContentKind::Json),
            ("application/xml", ContentKind::Xml),
            ("text/xml", ContentKind::Xml),
            ("application/rss+xml", ContentKind::Xml),
            ("application/atom+xml", ContentKind::Xml),
            ("image/svg+xml", ContentKind::Svg),
            ("text/plain", ContentKind::Text),
            ("image/png", ContentKind::Other),
            ("application/octet-stream", ContentKind::Other),
            ("text/event-stream", ContentKind::Other),
            ("application/+json", ContentKind::Other),
            ("", ContentKind::Other),
            ("html", ContentKind::Other),
        ] {
            assert_eq!(ContentKind::from_content_type(ct), want, "{ct:?}");
        }
        assert!(!ContentKind::Other.is_processable());
        assert!(ContentKind::Svg.is_processable());
    }

    #[test]
    fn extracts_charset() {
        assert_eq!(
            charset_from_content_type("text/html; charset=UTF-8"),
            Some("UTF-8")
        );
        assert_eq!(
            charset_from_content_type("text/html;foo=bar; Charset=\"Shift_JIS\""),
            Some("Shift_JIS")
        );
        assert_eq!(charset_from_content_type("text/html"), None);
        assert_eq!(charset_from_content_type("text/html; charset="), None);
        assert_eq!(charset_from_content_type("text/html; charset=\"\""), None);
    }
}
