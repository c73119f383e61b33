//! Which headers cross the gateway in each direction.
//!
//! Upstream, the provider sees the client's headers minus its key, its
//! cookies and connection-scoped or spoofable headers, plus the provider
//! key; identity encoding, so the edge can read the event stream.
//! Downstream, the client sees the provider's headers minus hop-by-hop ones
//! and `Set-Cookie` (a provider session is not the client's business).

use http::header::{
    HeaderMap, HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE,
    SET_COOKIE,
};

use crate::http::{headers, hop_by_hop};

/// The provider request's headers, built from the client's.
///
/// `provider_authorization` is the full `Authorization` value for the
/// provider key. A JSON body gets `Content-Type: application/json`.
pub fn provider_request(
    client: &HeaderMap,
    provider_authorization: &HeaderValue,
    json_body: bool,
) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(client.len() + 3);
    for (name, value) in client {
        let n = name.as_str();
        if hop_by_hop::is_reserved(n)
            || name == AUTHORIZATION
            || name == COOKIE
            || name == ACCEPT_ENCODING
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out.insert(AUTHORIZATION, provider_authorization.clone());
    out.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    if json_body {
        out.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    out
}

/// Cleans the provider's response head for the client.
pub fn client_response(headers: &mut HeaderMap) {
    headers::strip_hop_by_hop(headers);
    headers.remove(SET_COOKIE);
}

/// The head of a relayed event stream: the edge re-frames the body, so a
/// stale length must not survive, and an event stream is never cached.
pub fn event_stream(headers: &mut HeaderMap) {
    headers.remove(CONTENT_LENGTH);
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderName;

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
    fn the_client_key_cookies_and_hop_headers_never_reach_the_provider() {
        let client = map(&[
            ("authorization", "Bearer sk-client"),
            ("cookie", "sid=1"),
            ("accept-encoding", "gzip"),
            ("connection", "keep-alive"),
            ("x-forwarded-for", "6.6.6.6"),
            ("host", "edge.example"),
            ("content-length", "12"),
            ("openai-organization", "org-1"),
            ("x-request-id", "r1"),
            ("x-request-id", "r2"),
        ]);
        let auth = HeaderValue::from_static("Bearer sk-provider");
        let out = provider_request(&client, &auth, true);
        let mut names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "accept-encoding",
                "authorization",
                "content-type",
                "openai-organization",
                "x-request-id"
            ]
        );
        assert_eq!(out[AUTHORIZATION], "Bearer sk-provider");
        assert_eq!(out[ACCEPT_ENCODING], "identity");
        assert_eq!(out.get_all("x-request-id").iter().count(), 2);
        assert!(provider_request(&client, &auth, false)
            .get(CONTENT_TYPE)
            .is_none());
    }

    #[test]
    fn provider_cookies_and_hop_headers_never_reach_the_client() {
        let mut h = map(&[
            ("set-cookie", "provider=1"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("openai-processing-ms", "12"),
        ]);
        client_response(&mut h);
        let names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["openai-processing-ms"]);
        let mut s = map(&[("content-length", "99"), ("cache-control", "max-age=60")]);
        event_stream(&mut s);
        assert!(s.get(CONTENT_LENGTH).is_none());
        assert_eq!(s[http::header::CACHE_CONTROL], "no-cache");
    }
}
