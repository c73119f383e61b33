//! The client's response head, decided from the origin's before the first
//! body byte: what points at the origin is pointed at the edge, what
//! describes the origin's bytes is dropped or weakened when the edge
//! rewrites them, and a newly issued synthetic ID makes the response
//! private.

use http::header::{
    HeaderMap, HeaderName, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, ETAG,
    SET_COOKIE, VARY,
};
use http::HeaderValue;

use super::headers::{self, values};
use super::{cookies, csp, synthetic_id, Mode};
use crate::encoding::ContentEncoding;
use crate::rewrite::RewriteRules;

/// Headers whose values are URLs (or contain them) and so must point at
/// the edge, not the origin.
pub const URL_HEADERS: [HeaderName; 4] = [
    http::header::LOCATION,
    http::header::CONTENT_LOCATION,
    http::header::LINK,
    HeaderName::from_static("refresh"),
];

/// Policy headers whose sources must also allow the edge
/// ([`csp::augment_policy_header`]: appended, never replaced).
const POLICY_HEADERS: [&str; 2] = [
    "content-security-policy",
    "content-security-policy-report-only",
];

/// Reporting headers whose endpoint URLs point at the origin.
const REPORTING_HEADERS: [&str; 2] = ["reporting-endpoints", "report-to"];

/// The origin response head's policy: hop-by-hop headers stripped, then
/// [`point_at_edge`].
pub fn head_policy(headers: &mut HeaderMap, rules: &RewriteRules, hosts: &[String]) {
    crate::http::headers::strip_hop_by_hop(headers);
    point_at_edge(headers, rules, hosts);
}

/// Rewrites origin URLs in `Location`, `Content-Location`, `Link` and
/// `Refresh`, lets the page's own Content-Security-Policy also allow the
/// edge (the origin stays allowed), points reporting endpoints at the
/// edge, and drops `Set-Cookie` `Domain` attributes that name a rewrite
/// host (the cookie becomes host-only on the edge host). Headers that need
/// no change stay byte for byte.
pub fn point_at_edge(headers: &mut HeaderMap, rules: &RewriteRules, hosts: &[String]) {
    if !rules.is_empty() {
        for name in POLICY_HEADERS {
            edit_each(headers, name, |v| csp::augment_policy_header(v, rules));
        }
        for name in REPORTING_HEADERS {
            edit_each(headers, name, |v| csp::rewrite_reporting_header(v, rules));
        }
        for name in URL_HEADERS {
            let old: Vec<String> = values(headers, name.as_str()).map(str::to_owned).collect();
            let new: Vec<String> = old
                .iter()
                .map(|v| rules.rewrite_str(v).into_owned())
                .collect();
            if new != old {
                headers::replace_all(headers, name, new);
            }
        }
    }
    let old: Vec<String> = values(headers, SET_COOKIE.as_str())
        .map(str::to_owned)
        .collect();
    let new: Vec<String> = old
        .iter()
        .map(|c| cookies::strip_origin_domain(c, hosts).unwrap_or_else(|| c.clone()))
        .collect();
    if new != old {
        headers::replace_all(headers, SET_COOKIE, new);
    }
}

/// Applies `edit` to every value of `name`; replaces the header only when
/// a value changed.
fn edit_each(
    headers: &mut HeaderMap,
    name: &'static str,
    edit: impl Fn(&str) -> std::borrow::Cow<'_, str>,
) {
    let old: Vec<String> = values(headers, name).map(str::to_owned).collect();
    let new: Vec<String> = old.iter().map(|v| edit(v).into_owned()).collect();
    if new != old {
        headers::replace_all(headers, HeaderName::from_static(name), new);
    }
}

/// Header changes for a body the edge rewrites: its length and byte
/// identity change (no `Content-Length`, no ranges, a weak `ETag`), its
/// encoding may (`output`), and caches must key it by `Accept-Encoding`.
/// `compress_hint` asks Fastly's host to compress the identity stream.
pub fn for_rewritten_body(headers: &mut HeaderMap, output: ContentEncoding, compress_hint: bool) {
    headers.remove(CONTENT_LENGTH);
    // Ranges of the origin's bytes mean nothing for the rewritten body.
    headers.remove(ACCEPT_RANGES);
    if let Some(etag) = headers::first(headers, ETAG.as_str()) {
        if !etag.starts_with("W/") {
            let weak = format!("W/{etag}");
            headers::set(headers, ETAG, &weak);
        }
    }
    match output.header_value() {
        Some(v) => headers::set(headers, CONTENT_ENCODING, v),
        None => {
            headers.remove(CONTENT_ENCODING);
        }
    }
    if compress_hint {
        headers.insert(
            HeaderName::from_static("x-compress-hint"),
            HeaderValue::from_static("on"),
        );
    }
    add_vary(headers, "Accept-Encoding");
}

/// Adds `token` to `Vary` unless it (or `*`) is listed already.
pub fn add_vary(headers: &mut HeaderMap, token: &str) {
    if headers::lists_token(headers, VARY.as_str(), token)
        || headers::lists_token(headers, VARY.as_str(), "*")
    {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(token) {
        headers.append(VARY, v);
    }
}

/// Adds the `Set-Cookie` of a newly issued synthetic ID and makes the
/// response `private` ([`private_cache_control`]), so no shared cache
/// stores one visitor's ID for another.
pub fn issue_synthetic_cookie(headers: &mut HeaderMap, value: &str, max_age: u64) {
    if let Ok(v) = HeaderValue::from_str(&synthetic_id::set_cookie_value(value, max_age)) {
        headers.append(SET_COOKIE, v);
    }
    let private = private_cache_control(values(headers, CACHE_CONTROL.as_str()));
    headers::set(headers, CACHE_CONTROL, &private);
}

/// The `Cache-Control` of a response that carries a per-visitor part:
/// `public`, `private` and `s-maxage` are replaced by one leading
/// `private`; every other directive is kept in order.
pub fn private_cache_control<'a>(existing: impl IntoIterator<Item = &'a str>) -> String {
    let mut directives = vec!["private"];
    directives.extend(
        existing
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|d| {
                let name = d.split('=').next().unwrap_or("").trim();
                !d.is_empty()
                    && !["public", "private", "s-maxage"]
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(name))
            }),
    );
    directives.join(", ")
}

/// The `Server-Timing` entry that shows in a browser's devtools what the
/// edge did and how long it took before the head: `edge;dur=<ms>,
/// mode;desc=<mode>`.
pub fn server_timing(elapsed_ms: f64, mode: &str) -> String {
    format!("edge;dur={elapsed_ms:.1}, mode;desc={mode}")
}

/// Appends [`server_timing`] to a head about to go out.
pub fn add_server_timing(headers: &mut HeaderMap, elapsed_ms: f64, mode: &str) {
    if let Ok(v) = HeaderValue::from_str(&server_timing(elapsed_ms, mode)) {
        headers.append("server-timing", v);
    }
}

/// The `Server-Timing` values of a buffered body that spilled into a
/// stream (past its cap or its wait): the edge's own `mode;desc=buffered`
/// entry becomes the stream's, timed now; any other entry (the cache's)
/// stays as it was.
pub fn spilled_server_timing<'a>(
    values: impl IntoIterator<Item = &'a str>,
    elapsed_ms: f64,
) -> Vec<String> {
    let buffered = format!("mode;desc={}", Mode::Buffered.as_str());
    values
        .into_iter()
        .map(|v| match v.contains(&buffered) {
            true => server_timing(elapsed_ms, Mode::Stream.as_str()),
            false => v.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spilled_body_says_stream_and_keeps_the_cache_entry() {
        let values = ["edge;dur=1.5, mode;desc=buffered", "cache;desc=miss"];
        assert_eq!(
            spilled_server_timing(values, 12.34),
            ["edge;dur=12.3, mode;desc=stream", "cache;desc=miss"]
        );
        assert_eq!(
            spilled_server_timing(["cache;desc=hit"], 1.0),
            ["cache;desc=hit"]
        );
    }

    fn rules() -> RewriteRules {
        RewriteRules::new(&["origin.example".to_owned()], "https", "edge.example").unwrap()
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (n, v) in pairs {
            m.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    fn all(m: &HeaderMap, name: &str) -> Vec<String> {
        values(m, name).map(str::to_owned).collect()
    }

    #[test]
    fn url_headers_point_at_the_edge_exactly() {
        let mut m = map(&[
            ("location", "https://origin.example/next?a=1"),
            ("content-location", "//origin.example/page.en"),
            (
                "link",
                "<https://origin.example/a.css>; rel=preload; as=style",
            ),
            ("link", "<https://cdn.other/b.js>; rel=preload"),
            ("refresh", "5; url=https://origin.example/later"),
        ]);
        point_at_edge(&mut m, &rules(), &["origin.example".into()]);
        assert_eq!(all(&m, "location"), ["https://edge.example/next?a=1"]);
        assert_eq!(all(&m, "content-location"), ["//edge.example/page.en"]);
        assert_eq!(
            all(&m, "link"),
            [
                "<https://edge.example/a.css>; rel=preload; as=style",
                "<https://cdn.other/b.js>; rel=preload"
            ]
        );
        assert_eq!(all(&m, "refresh"), ["5; url=https://edge.example/later"]);
    }

    #[test]
    fn the_page_policy_also_allows_the_edge_and_reports_go_to_it() {
        let mut m = map(&[
            (
                "content-security-policy",
                "script-src 'self' https://origin.example; img-src *",
            ),
            (
                "content-security-policy-report-only",
                "default-src origin.example",
            ),
            ("content-security-policy", "frame-src https://other.test"),
            ("reporting-endpoints", "csp=\"https://origin.example/r\""),
        ]);
        point_at_edge(&mut m, &rules(), &["origin.example".into()]);
        assert_eq!(
            all(&m, "content-security-policy"),
            [
                "script-src 'self' https://origin.example https://edge.example; img-src *",
                "frame-src https://other.test"
            ]
        );
        assert_eq!(
            all(&m, "content-security-policy-report-only"),
            ["default-src origin.example https://edge.example"]
        );
        assert_eq!(
            all(&m, "reporting-endpoints"),
            ["csp=\"https://edge.example/r\""]
        );
    }

    #[test]
    fn set_cookie_domains_of_rewrite_hosts_are_dropped() {
        let mut m = map(&[
            ("set-cookie", "a=1; Domain=origin.example; Path=/"),
            ("set-cookie", "b=2; Domain=.example; Secure"),
            ("set-cookie", "c=3; Domain=other.test"),
        ]);
        point_at_edge(&mut m, &rules(), &["origin.example".into()]);
        assert_eq!(
            all(&m, "set-cookie"),
            ["a=1; Path=/", "b=2; Secure", "c=3; Domain=other.test"]
        );
    }

    #[test]
    fn empty_rules_leave_urls_but_still_fix_cookies() {
        let mut m = map(&[
            ("location", "https://origin.example/x"),
            ("set-cookie", "a=1; Domain=origin.example"),
        ]);
        let none = RewriteRules::new(Vec::<String>::new(), "https", "edge.example").unwrap();
        point_at_edge(&mut m, &none, &["origin.example".into()]);
        assert_eq!(all(&m, "location"), ["https://origin.example/x"]);
        assert_eq!(all(&m, "set-cookie"), ["a=1"]);
    }

    #[test]
    fn rewritten_body_headers() {
        let mut m = map(&[
            ("content-length", "10"),
            ("accept-ranges", "bytes"),
            ("etag", "\"abc\""),
            ("content-encoding", "gzip"),
            ("vary", "Cookie"),
        ]);
        for_rewritten_body(&mut m, ContentEncoding::Identity, true);
        assert!(m.get("content-length").is_none() && m.get("accept-ranges").is_none());
        assert!(m.get("content-encoding").is_none());
        assert_eq!(all(&m, "etag"), ["W/\"abc\""]);
        assert_eq!(all(&m, "x-compress-hint"), ["on"]);
        assert_eq!(all(&m, "vary"), ["Cookie", "Accept-Encoding"]);

        let mut weak = map(&[("etag", "W/\"x\""), ("vary", "*")]);
        for_rewritten_body(&mut weak, ContentEncoding::Brotli, false);
        assert_eq!(all(&weak, "etag"), ["W/\"x\""]);
        assert_eq!(all(&weak, "content-encoding"), ["br"]);
        assert_eq!(all(&weak, "vary"), ["*"]);
        assert!(weak.get("x-compress-hint").is_none());
    }

    #[test]
    fn issuing_an_id_makes_the_response_private() {
        let mut m = map(&[
            ("cache-control", "public, max-age=60, s-maxage=600"),
            ("set-cookie", "a=1"),
        ]);
        issue_synthetic_cookie(&mut m, "id.sig", 100);
        assert_eq!(all(&m, "cache-control"), ["private, max-age=60"]);
        let cookies = all(&m, "set-cookie");
        assert_eq!(cookies[0], "a=1");
        assert_eq!(cookies[1], synthetic_id::set_cookie_value("id.sig", 100));
        let mut bare = HeaderMap::new();
        issue_synthetic_cookie(&mut bare, "v", 1);
        assert_eq!(all(&bare, "cache-control"), ["private"]);
    }

    #[test]
    fn server_timing_has_one_decimal() {
        assert_eq!(
            server_timing(1.26, "stream"),
            "edge;dur=1.3, mode;desc=stream"
        );
        // Added beside the origin's own entries, never over them.
        let mut m = map(&[("server-timing", "db;dur=4")]);
        add_server_timing(&mut m, 2.0, "plan");
        assert_eq!(
            all(&m, "server-timing"),
            ["db;dur=4", "edge;dur=2.0, mode;desc=plan"]
        );
    }
}
