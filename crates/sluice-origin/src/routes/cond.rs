//! Validators and conditional requests: Last-Modified, If-None-Match,
//! If-Modified-Since and If-Range.

use http::{header, HeaderMap, HeaderValue};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Every resource claims this modification time (2025-01-01T00:00:00Z), so
/// validators are identical across runs and machines.
pub fn last_modified() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_735_689_600)
}

/// [`last_modified`] as an HTTP-date header value.
pub fn last_modified_value() -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(last_modified()))
        .unwrap_or_else(|_| HeaderValue::from_static("Wed, 01 Jan 2025 00:00:00 GMT"))
}

fn opaque(tag: &str) -> &str {
    tag.trim().trim_start_matches("W/")
}

/// Whether a GET/HEAD may be answered 304: If-None-Match (weak comparison)
/// when present, else If-Modified-Since.
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        return inm
            .split(',')
            .any(|t| t.trim() == "*" || opaque(t) == opaque(etag));
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| since >= last_modified())
}

/// Whether a Range may be honoured: no If-Range, or an If-Range that is the
/// current strong ETag (strong comparison) or exactly the Last-Modified date.
pub fn if_range_holds(headers: &HeaderMap, etag: &str) -> bool {
    let Some(v) = headers.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(v) = v.to_str() else {
        return false;
    };
    let v = v.trim();
    if v.starts_with('"') || v.starts_with("W/") {
        return !v.starts_with("W/") && v == etag;
    }
    httpdate::parse_http_date(v).is_ok_and(|d| d == last_modified())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: header::HeaderName, v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(name, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn conditionals_follow_rfc9110_comparisons() {
        let etag = "\"abc\"";
        assert!(not_modified(
            &h(header::IF_NONE_MATCH, "\"x\", W/\"abc\""),
            etag
        ));
        assert!(!not_modified(&h(header::IF_NONE_MATCH, "\"x\""), etag));
        assert!(not_modified(
            &h(header::IF_MODIFIED_SINCE, "Wed, 01 Jan 2025 00:00:00 GMT"),
            etag
        ));
        assert!(!not_modified(
            &h(header::IF_MODIFIED_SINCE, "Tue, 31 Dec 2024 00:00:00 GMT"),
            etag
        ));
        assert!(if_range_holds(&HeaderMap::new(), etag));
        assert!(if_range_holds(&h(header::IF_RANGE, "\"abc\""), etag));
        assert!(!if_range_holds(&h(header::IF_RANGE, "W/\"abc\""), etag));
        assert!(!if_range_holds(&h(header::IF_RANGE, "\"old\""), etag));
        assert!(if_range_holds(
            &h(header::IF_RANGE, "Wed, 01 Jan 2025 00:00:00 GMT"),
            etag
        ));
        assert!(!if_range_holds(
            &h(header::IF_RANGE, "Thu, 02 Jan 2025 00:00:00 GMT"),
            etag
        ));
    }
}
