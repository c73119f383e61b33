//! The raw form of a rewritten URL: served by the edge byte-identical to
//! the origin.
//!
//! Subresource Integrity pins a resource's bytes: `<script src integrity>`
//! fails if one byte differs. A script or stylesheet of a rewrite host is
//! still routed through the edge (so the page never talks to the origin
//! directly), but its URL is rewritten into the *raw* form
//! `scheme://EDGE/_sluice-raw/path?query`, which the router recognises
//! with [`strip_raw_prefix`] and answers by passing the origin's response
//! through untouched.
//!
//! Why one path segment: relative references inside the resource (a
//! stylesheet's `url(../img/a.png)`, a source map) resolve against the raw
//! URL. `/_sluice-raw/css/site.css` + `../img/a.png` gives
//! `/_sluice-raw/img/a.png`, and `../../../x` clamps at the root
//! (`/x`), exactly as at the origin apart from the prefix: such references
//! load through the edge (raw or rewritten), never from elsewhere.
//!
//! Why it is no open proxy: the prefix only ever names a *path*; the
//! router sends it to the `origin` backend like any other path, so a raw
//! URL can reach nothing a rewritten URL could not.

/// The one-segment path prefix of raw URLs.
pub const RAW_PATH_PREFIX: &str = "/_sluice-raw";

/// The origin path of a raw request, or `None` when `path_and_query` is
/// not a raw URL the rewriter could have produced.
///
/// `path_and_query` is the request target as received (`/_sluice-raw/a.js?v=1`);
/// the result is the path and query to request from the `origin` backend
/// (`/a.js?v=1`), always starting with exactly one `/`. Refused (`None`,
/// so the router treats the request as an ordinary path, which is just as
/// safe):
/// - anything but the exact prefix followed by `/` (`/_sluice-raw`,
///   `/_sluice-rawx/`, `/_sluice-raw%2Fa`, `/_SLUICE-RAW/a`): the rewriter
///   always writes the prefix and a `/`;
/// - a path that starts with `//` or holds a `\` (`/_sluice-raw//evil.com/`):
///   a network-path reference in disguise, which some HTTP stacks and
///   origins read as a host;
/// - dot segments (`.`, `..` and their `%2e` spellings): browsers remove
///   them before sending, so only a hand-made request has them.
///
/// Percent-escapes are never decoded: `%2F` stays three bytes of the path,
/// as it does for every request the edge forwards.
pub fn strip_raw_prefix(path_and_query: &str) -> Option<&str> {
    let rest = path_and_query.strip_prefix(RAW_PATH_PREFIX)?;
    if !rest.starts_with('/') {
        return None;
    }
    let path = rest.split(['?', '#']).next().unwrap_or(rest);
    if path.starts_with("//") || path.contains('\\') {
        return None;
    }
    if path.split('/').any(is_dot_segment) {
        return None;
    }
    Some(rest)
}

/// The origin path and query of a request's `path` and `query` when they
/// are a raw URL (see [`strip_raw_prefix`]), split for the request line;
/// `None` for every other request.
pub fn raw_origin_target(path: &str, query: Option<&str>) -> Option<(String, String)> {
    let whole = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let origin = strip_raw_prefix(&whole)?;
    let (path, query) = origin.split_once('?').unwrap_or((origin, ""));
    Some((path.to_owned(), query.to_owned()))
}

/// `.` or `..`, also spelled with `%2e` (any case), as the URL standard
/// reads them.
fn is_dot_segment(seg: &str) -> bool {
    let lower = seg.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "." | ".." | "%2e" | ".%2e" | "%2e." | "%2e%2e"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_raw_request_becomes_its_origin_path_and_query() {
        let t = |p: &str, q: Option<&str>| super::raw_origin_target(p, q);
        assert_eq!(
            t("/_sluice-raw/js/app.js", Some("v=3&x")),
            Some(("/js/app.js".to_owned(), "v=3&x".to_owned()))
        );
        assert_eq!(
            t("/_sluice-raw/a", None),
            Some(("/a".to_owned(), String::new()))
        );
        assert_eq!(t("/js/app.js", Some("v=3")), None);
        assert_eq!(t("/_sluice-raw//evil.example/x", None), None);
        assert_eq!(t("/_sluice-raw/a/../b", None), None);
    }

    use super::*;

    #[test]
    fn strips_the_prefix_of_raw_urls() {
        assert_eq!(
            strip_raw_prefix("/_sluice-raw/app.js?v=1"),
            Some("/app.js?v=1")
        );
        assert_eq!(
            strip_raw_prefix("/_sluice-raw/a/b/c.css"),
            Some("/a/b/c.css")
        );
        assert_eq!(strip_raw_prefix("/_sluice-raw/"), Some("/"));
        assert_eq!(strip_raw_prefix("/_sluice-raw/?q=1"), Some("/?q=1"));
        // A query may hold anything; only the path is checked.
        assert_eq!(
            strip_raw_prefix("/_sluice-raw/r?next=//evil.com/../x"),
            Some("/r?next=//evil.com/../x")
        );
        // Escapes are kept as they are, like any forwarded path.
        assert_eq!(
            strip_raw_prefix("/_sluice-raw/%2F%2Fevil.com/x"),
            Some("/%2F%2Fevil.com/x")
        );
        assert_eq!(strip_raw_prefix("/_sluice-raw/a..b/.x"), Some("/a..b/.x"));
    }

    #[test]
    fn refuses_anything_the_rewriter_never_writes() {
        for p in [
            "",
            "/",
            "/app.js",
            "/_sluice-raw",
            "/_sluice-raw?x=1",
            "/_sluice-rawx/a",
            "/_sluice-raw%2Fa",
            "/_sluice-raw%2fa",
            "/_SLUICE-RAW/a",
            "/x/_sluice-raw/a",
            "_sluice-raw/a",
            "/_sluice-raw//evil.com/x",
            "/_sluice-raw//",
            "/_sluice-raw/\\evil.com/x",
            "/_sluice-raw/a\\b",
            "/_sluice-raw/..",
            "/_sluice-raw/../admin",
            "/_sluice-raw/a/../../admin",
            "/_sluice-raw/./a",
            "/_sluice-raw/%2e%2e/admin",
            "/_sluice-raw/%2E./admin",
            "/_sluice-raw/.%2E/admin",
            "/_sluice-raw/a/%2e",
        ] {
            assert_eq!(strip_raw_prefix(p), None, "{p:?}");
        }
    }
}
