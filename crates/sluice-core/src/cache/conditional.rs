//! Conditional requests answered from a cached entry (RFC 9110 §13,
//! RFC 9111 §4.3.2).
//!
//! A client revalidating its copy (`If-None-Match` with the `ETag` it has,
//! or `If-Modified-Since`) gets `304 Not Modified` from the edge with no
//! origin contact. Rewritten responses carry weak `ETag`s (the bytes
//! differ from the origin's), and `If-None-Match` always uses the weak
//! comparison, so they match. Anything unparseable means "no match": the
//! client then simply gets the full response, which is always correct.

use std::time::SystemTime;

use super::stored_head::StoredHead;

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditional {
    /// Send `304` with [`not_modified_headers`].
    NotModified,
    /// Send the full response.
    Proceed,
}

/// The client's conditional headers (every field line).
#[derive(Debug, Clone, Copy, Default)]
pub struct ConditionalRequest<'a> {
    /// The method; only `GET` and `HEAD` are evaluated.
    pub method: &'a str,
    /// `If-None-Match`.
    pub if_none_match: &'a [&'a str],
    /// `If-Modified-Since`.
    pub if_modified_since: &'a [&'a str],
}

/// Evaluates the request against a stored head.
///
/// `If-None-Match` wins when present (its `If-Modified-Since` is then
/// ignored, §13.2.2); `*` matches any stored entry. `If-Modified-Since`
/// counts only as a single valid HTTP-date and compares with the entry's
/// `Last-Modified`, or its `Date` when it has none (RFC 9111 §4.3.2).
pub fn evaluate(request: &ConditionalRequest<'_>, head: &StoredHead) -> Conditional {
    if request.method != "GET" && request.method != "HEAD" {
        return Conditional::Proceed;
    }
    if request.if_none_match.iter().any(|v| !v.trim().is_empty()) {
        let etag = head
            .header_str("etag")
            .and_then(|e| parse_tags(e).ok())
            .and_then(|t| match t {
                Tags::List(list) if list.len() == 1 => list.into_iter().next(),
                _ => None,
            });
        return match none_match(request.if_none_match, etag) {
            true => Conditional::NotModified,
            false => Conditional::Proceed,
        };
    }
    let [since] = request.if_modified_since else {
        return Conditional::Proceed;
    };
    let Ok(since) = httpdate::parse_http_date(since.trim()) else {
        return Conditional::Proceed;
    };
    let modified: Option<SystemTime> = head
        .header_str("last-modified")
        .or_else(|| head.header_str("date"))
        .and_then(|d| httpdate::parse_http_date(d.trim()).ok());
    match modified {
        Some(m) if m <= since => Conditional::NotModified,
        _ => Conditional::Proceed,
    }
}

/// The headers a `304` carries (RFC 9110 §15.4.5): those of the stored
/// response among `Content-Location`, `Date`, `ETag`, `Vary`,
/// `Cache-Control` and `Expires`, plus `Last-Modified` when there is no
/// `ETag` (it guides the client's cache update). No body, no
/// representation headers.
pub fn not_modified_headers(head: &StoredHead) -> Vec<(&str, &[u8])> {
    let has_etag = head.header("etag").is_some();
    head.headers
        .iter()
        .filter(|(n, _)| {
            matches!(
                n.as_str(),
                "content-location" | "date" | "etag" | "vary" | "cache-control" | "expires"
            ) || (n == "last-modified" && !has_etag)
        })
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect()
}

/// True when some tag in the `If-None-Match` lines weakly matches `etag`.
fn none_match(lines: &[&str], etag: Option<Tag<'_>>) -> bool {
    lines.iter().any(|line| match parse_tags(line) {
        Ok(Tags::Any) => true,
        Ok(Tags::List(tags)) => etag.is_some_and(|e| tags.iter().any(|t| t.opaque == e.opaque)),
        Err(()) => false,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag<'a> {
    /// Including the quotes.
    opaque: &'a str,
}

enum Tags<'a> {
    Any,
    List(Vec<Tag<'a>>),
}

/// `"*"` or `#entity-tag` (RFC 9110 §8.8.3); `Err` on any syntax error.
fn parse_tags(s: &str) -> Result<Tags<'_>, ()> {
    let trimmed = s.trim_matches([' ', '\t']);
    if trimmed == "*" {
        return Ok(Tags::Any);
    }
    let mut tags = Vec::new();
    let mut rest = trimmed;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let body = rest.strip_prefix("W/").unwrap_or(rest);
        let inner = body.strip_prefix('"').ok_or(())?;
        let end = inner.find('"').ok_or(())?;
        let tag = &inner[..end];
        // etagc = %x21 / %x23-7E / obs-text
        if !tag
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return Err(());
        }
        tags.push(Tag {
            opaque: &body[..end + 2],
        });
        rest = &inner[end + 1..];
        let next = rest.trim_start_matches([' ', '\t']);
        if !(next.is_empty() || next.starts_with(',')) {
            return Err(());
        }
        rest = next;
    }
    if tags.is_empty() {
        return Err(());
    }
    Ok(Tags::List(tags))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn head(headers: &[(&str, &str)]) -> StoredHead {
        StoredHead {
            status: 200,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
                .collect(),
            initial_age: Duration::ZERO,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            fill_key: "sluice-fill-00".to_owned(),
        }
    }

    fn inm<'a>(values: &'a [&'a str]) -> ConditionalRequest<'a> {
        ConditionalRequest {
            method: "GET",
            if_none_match: values,
            if_modified_since: &[],
        }
    }

    #[test]
    fn if_none_match_uses_weak_comparison_and_lists() {
        let h = head(&[("etag", "W/\"v1\"")]);
        for v in [
            "\"v1\"",
            "W/\"v1\"",
            "\"a\", W/\"v1\"",
            " \"x,y\" ,\"v1\" ",
            "*",
        ] {
            assert_eq!(evaluate(&inm(&[v]), &h), Conditional::NotModified, "{v}");
        }
        assert_eq!(
            evaluate(&inm(&["\"v2\"", "\"v1\""]), &h),
            Conditional::NotModified
        );
        for v in ["\"v2\"", "v1", "\"v1", "W/v1", "\"v1\" junk", "\"v\"1\""] {
            assert_eq!(evaluate(&inm(&[v]), &h), Conditional::Proceed, "{v}");
        }
        let strong = head(&[("etag", "\"v1\"")]);
        assert_eq!(
            evaluate(&inm(&["W/\"v1\""]), &strong),
            Conditional::NotModified
        );
        let none = head(&[]);
        assert_eq!(evaluate(&inm(&["\"v1\""]), &none), Conditional::Proceed);
        assert_eq!(evaluate(&inm(&["*"]), &none), Conditional::NotModified);
    }

    #[test]
    fn if_modified_since_compares_last_modified_then_date() {
        let h = head(&[
            ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("date", "Mon, 07 Nov 1994 08:49:37 GMT"),
        ]);
        let at = |ims: &'static str| ConditionalRequest {
            method: "HEAD",
            if_none_match: &[],
            if_modified_since: Box::leak(Box::new([ims])),
        };
        assert_eq!(
            evaluate(&at("Sun, 06 Nov 1994 08:49:37 GMT"), &h),
            Conditional::NotModified
        );
        assert_eq!(
            evaluate(&at("Sunday, 06-Nov-94 09:00:00 GMT"), &h),
            Conditional::NotModified
        );
        assert_eq!(
            evaluate(&at("Sun, 06 Nov 1994 08:49:36 GMT"), &h),
            Conditional::Proceed
        );
        assert_eq!(evaluate(&at("yesterday"), &h), Conditional::Proceed);
        let date_only = head(&[("date", "Mon, 07 Nov 1994 08:49:37 GMT")]);
        assert_eq!(
            evaluate(&at("Mon, 07 Nov 1994 08:49:37 GMT"), &date_only),
            Conditional::NotModified
        );
        assert_eq!(
            evaluate(&at("Sun, 06 Nov 1994 08:49:37 GMT"), &date_only),
            Conditional::Proceed
        );
        assert_eq!(
            evaluate(&at("Mon, 07 Nov 1994 08:49:37 GMT"), &head(&[])),
            Conditional::Proceed
        );
        let two = ConditionalRequest {
            method: "GET",
            if_none_match: &[],
            if_modified_since: &[
                "Sun, 06 Nov 1994 08:49:37 GMT",
                "Sun, 06 Nov 1994 08:49:37 GMT",
            ],
        };
        assert_eq!(
            evaluate(&two, &h),
            Conditional::Proceed,
            "more than one member"
        );
    }

    #[test]
    fn if_none_match_disables_if_modified_since_and_other_methods_proceed() {
        let h = head(&[
            ("etag", "\"v1\""),
            ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        let both = ConditionalRequest {
            method: "GET",
            if_none_match: &["\"other\""],
            if_modified_since: &["Sun, 06 Nov 1994 08:49:37 GMT"],
        };
        assert_eq!(evaluate(&both, &h), Conditional::Proceed);
        let post = ConditionalRequest {
            method: "POST",
            ..inm(&["*"])
        };
        assert_eq!(evaluate(&post, &h), Conditional::Proceed);
    }

    #[test]
    fn a_304_carries_only_the_listed_headers() {
        let h = head(&[
            ("content-type", "text/html"),
            ("etag", "W/\"v1\""),
            ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("cache-control", "max-age=60"),
            ("vary", "Accept-Encoding"),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("expires", "Sun, 06 Nov 1994 08:50:37 GMT"),
            ("content-location", "/a"),
            ("content-encoding", "gzip"),
        ]);
        let names: Vec<&str> = not_modified_headers(&h).iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "etag",
                "cache-control",
                "vary",
                "date",
                "expires",
                "content-location"
            ]
        );
        let no_etag = head(&[("last-modified", "x"), ("content-type", "text/css")]);
        let names: Vec<&str> = not_modified_headers(&no_etag)
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(names, ["last-modified"]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(inm in ".{0,40}", ims in ".{0,40}", etag in ".{0,20}") {
            let h = head(&[("etag", etag.as_str()), ("last-modified", ims.as_str())]);
            let lines = [inm.as_str()];
            let ims_lines = [ims.as_str()];
            let _ = evaluate(&ConditionalRequest { method: "GET", if_none_match: &lines, if_modified_since: &ims_lines }, &h);
            let _ = evaluate(&ConditionalRequest { method: "GET", if_none_match: &[], if_modified_since: &ims_lines }, &h);
        }
    }
}
