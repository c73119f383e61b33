//! Small operations on [`HeaderMap`]s that every header policy shares.
//!
//! Header values from the network are not always UTF-8; the policies only
//! ever read values that are (a URL, a cookie, a list of tokens) and leave
//! every other value untouched, so the readers here skip what is not text
//! instead of failing the request.

use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION};

use super::hop_by_hop;

/// Every value of `name` that is valid text, in order.
pub fn values<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
}

/// The first value of `name`, if it is valid text.
pub fn first<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Replaces every value of `name` with `new`, keeping the order. A value
/// that is not a valid header value is dropped (never a panic): the
/// policies only produce values from valid input plus ASCII edits.
pub fn replace_all(
    headers: &mut HeaderMap,
    name: HeaderName,
    new: impl IntoIterator<Item = String>,
) {
    headers.remove(&name);
    for value in new {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(name.clone(), v);
        }
    }
}

/// Sets `name` to a value built by the edge. Values are ASCII the edge
/// composed itself; an unrepresentable one leaves the header unset.
pub fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(v) => {
            headers.insert(name, v);
        }
        Err(_) => {
            headers.remove(name);
        }
    }
}

/// Removes the connection-scoped headers from a message before it is
/// relayed: the fixed hop-by-hop set and whatever its `Connection` lists.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<String> = values(headers, CONNECTION.as_str())
        .map(str::to_owned)
        .collect();
    for name in hop_by_hop::names_to_strip(listed.iter().map(String::as_str)) {
        headers.remove(name.as_str());
    }
}

/// True when a comma-separated header lists `token` (ASCII
/// case-insensitively), in any of its values.
pub fn lists_token(headers: &HeaderMap, name: &str, token: &str) -> bool {
    values(headers, name).any(|v| {
        v.split(',')
            .map(str::trim)
            .any(|t| t.eq_ignore_ascii_case(token))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn hop_by_hop_and_connection_listed_names_go() {
        let mut m = map(&[
            ("connection", "close, x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("x-kept", "2"),
        ]);
        strip_hop_by_hop(&mut m);
        let names: Vec<&str> = m.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-kept"]);
    }

    #[test]
    fn non_text_values_are_skipped_not_fatal() {
        let mut m = HeaderMap::new();
        m.append("x", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        m.append("x", HeaderValue::from_static("ok"));
        assert_eq!(values(&m, "x").collect::<Vec<_>>(), ["ok"]);
        assert_eq!(first(&m, "x"), None);
    }

    #[test]
    fn replace_all_drops_invalid_values_and_keeps_order() {
        let mut m = map(&[("link", "a"), ("link", "b")]);
        replace_all(
            &mut m,
            http::header::LINK,
            ["c".to_owned(), "bad\nvalue".to_owned(), "d".to_owned()],
        );
        assert_eq!(values(&m, "link").collect::<Vec<_>>(), ["c", "d"]);
    }

    #[test]
    fn token_lists_match_case_insensitively() {
        let m = map(&[("vary", "Cookie"), ("vary", "accept-Encoding, X")]);
        assert!(lists_token(&m, "vary", "Accept-Encoding"));
        assert!(!lists_token(&m, "vary", "accept"));
    }
}
