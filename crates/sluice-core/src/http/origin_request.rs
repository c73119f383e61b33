//! The origin request: which of the client's headers cross the proxy, and
//! what the edge adds from what it saw itself.
//!
//! The client's own `Host`, body and method go upstream untouched (the body
//! as a handle, never copied). Connection-scoped and spoofable headers are
//! removed; `X-Forwarded-*` are written from the connection, never taken
//! from the client; `Accept-Encoding` is narrowed to what the pipeline can
//! decode; the raw `sluice_id` cookie is replaced by the verified ID.

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, ACCEPT_ENCODING, COOKIE};

use super::headers::{self, values};
use super::{accept_encoding, hop_by_hop, synthetic_id};

/// The header carrying the verified synthetic ID to the origin.
pub const SYNTHETIC_ID_HEADER: &str = "x-sluice-id";

/// What the edge itself saw of the client: taken from the connection and
/// the request line, never from headers a client can forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    /// `https` when the client connection used TLS, else `http`.
    pub scheme: &'static str,
    /// The host (and port) the client asked for: the rewrite target.
    pub authority: String,
    /// The client's address as the edge saw it.
    pub client_ip: Option<IpAddr>,
    /// `true` for `HEAD`.
    pub is_head: bool,
}

impl ClientView {
    /// The view from the connection (`tls`, the peer's address) and the
    /// request URL's host and port. `X-Forwarded-Host` and `Forwarded` are
    /// never read: a client can send anything there.
    pub fn from_connection(
        tls: bool,
        host: Option<&str>,
        port: Option<u16>,
        client_ip: Option<IpAddr>,
        is_head: bool,
    ) -> Self {
        Self {
            scheme: if tls { "https" } else { "http" },
            authority: match (host, port) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                (None, _) => String::new(),
            },
            client_ip,
            is_head,
        }
    }
}

/// Rewrites the client's headers into the origin request's.
///
/// `synthetic_id` is the verified visitor ID, or `None` when the service
/// runs without one; either way a client-sent `x-sluice-id` never reaches
/// the origin. A request that `fills` the edge cache loses its own
/// validators: the entry must hold the full response, not a `304` for this
/// client's copy (the edge answers the client's conditional itself).
pub fn prepare(
    headers: &mut HeaderMap,
    view: &ClientView,
    synthetic_id: Option<&str>,
    fills: bool,
) {
    if fills {
        for name in crate::cache::request::STRIP_ON_FILL {
            headers.remove(*name);
        }
    }
    headers::strip_hop_by_hop(headers);
    for name in hop_by_hop::UNTRUSTED_FORWARDING {
        headers.remove(*name);
    }
    headers.remove(SYNTHETIC_ID_HEADER);

    if let Some(ip) = hop_by_hop::forwarded_for(view.client_ip) {
        headers::set(headers, HeaderName::from_static("x-forwarded-for"), &ip);
    }
    if !view.authority.is_empty() {
        headers::set(
            headers,
            HeaderName::from_static("x-forwarded-host"),
            &view.authority,
        );
    }
    headers::set(
        headers,
        HeaderName::from_static("x-forwarded-proto"),
        view.scheme,
    );

    let ae = accept_encoding::for_origin(headers::first(headers, ACCEPT_ENCODING.as_str()));
    headers::set(headers, ACCEPT_ENCODING, &ae);

    strip_synthetic_cookie(headers);
    if let Some(id) = synthetic_id {
        headers::set(headers, HeaderName::from_static(SYNTHETIC_ID_HEADER), id);
    }
}

/// Removes `sluice_id` from the forwarded `Cookie` header(s): the origin
/// gets the verified ID in [`SYNTHETIC_ID_HEADER`], never the raw client
/// value. Other cookies are kept in order; an emptied header is removed.
pub fn strip_synthetic_cookie(headers: &mut HeaderMap) {
    if !headers.contains_key(COOKIE) {
        return;
    }
    let kept: Vec<String> = values(headers, COOKIE.as_str())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            pair.split_once('=')
                .is_none_or(|(name, _)| name.trim() != synthetic_id::COOKIE_NAME)
        })
        .map(str::to_owned)
        .collect();
    if kept.is_empty() {
        headers.remove(COOKIE);
    } else {
        headers::replace_all(headers, COOKIE, [kept.join("; ")]);
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_view_comes_from_the_connection_and_the_url() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let v = ClientView::from_connection(true, Some("edge.example"), None, Some(ip), false);
        assert_eq!((v.scheme, v.authority.as_str()), ("https", "edge.example"));
        assert_eq!(v.client_ip, Some(ip));
        let v = ClientView::from_connection(false, Some("127.0.0.1"), Some(7676), None, true);
        assert_eq!(
            (v.scheme, v.authority.as_str(), v.is_head),
            ("http", "127.0.0.1:7676", true)
        );
        assert_eq!(
            ClientView::from_connection(false, None, Some(1), None, false).authority,
            ""
        );
    }
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    fn view() -> ClientView {
        ClientView {
            scheme: "https",
            authority: "edge.example:8443".into(),
            client_ip: Some("192.0.2.9".parse().unwrap()),
            is_head: false,
        }
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
    fn forwarding_headers_come_from_the_edge() {
        let mut m = map(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", "for=6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
            ("x-forwarded-host", "evil.example"),
            ("x-sluice-id", "forged"),
            ("user-agent", "ua"),
        ]);
        prepare(&mut m, &view(), Some("abc"), false);
        assert_eq!(all(&m, "x-forwarded-for"), ["192.0.2.9"]);
        assert_eq!(all(&m, "x-forwarded-host"), ["edge.example:8443"]);
        assert_eq!(all(&m, "x-forwarded-proto"), ["https"]);
        assert_eq!(all(&m, "x-sluice-id"), ["abc"]);
        assert!(m.get("forwarded").is_none() && m.get("x-real-ip").is_none());
        assert_eq!(all(&m, "user-agent"), ["ua"]);
    }

    #[test]
    fn without_an_id_a_client_sent_one_still_never_passes() {
        let mut m = map(&[("x-sluice-id", "forged")]);
        prepare(&mut m, &view(), None, false);
        assert!(m.get("x-sluice-id").is_none());
    }

    #[test]
    fn hop_by_hop_is_stripped_and_accept_encoding_narrowed() {
        let mut m = map(&[
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("te", "trailers"),
            ("accept-encoding", "zstd, gzip;q=0.5, br"),
        ]);
        prepare(&mut m, &view(), None, false);
        assert!(m.get("x-hop").is_none() && m.get("te").is_none());
        assert_eq!(all(&m, "accept-encoding"), ["br, gzip"]);
        let mut none = HeaderMap::new();
        prepare(&mut none, &view(), None, false);
        assert_eq!(all(&none, "accept-encoding"), ["identity"]);
    }

    #[test]
    fn a_fill_drops_the_clients_validators_and_a_pass_keeps_them() {
        let validators = [
            ("if-none-match", "\"v1\""),
            ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ];
        let mut fill = map(&validators);
        prepare(&mut fill, &view(), None, true);
        assert!(fill.get("if-none-match").is_none() && fill.get("if-modified-since").is_none());
        let mut pass = map(&validators);
        prepare(&mut pass, &view(), None, false);
        assert_eq!(all(&pass, "if-none-match"), ["\"v1\""]);
    }

    #[test]
    fn only_the_sluice_id_cookie_is_removed() {
        let mut m = map(&[("cookie", "a=1; sluice_id=x.y ;b=2"), ("cookie", "c=3")]);
        strip_synthetic_cookie(&mut m);
        assert_eq!(all(&m, "cookie"), ["a=1; b=2; c=3"]);
        let mut only = map(&[("cookie", " sluice_id=x.y ")]);
        strip_synthetic_cookie(&mut only);
        assert!(only.get("cookie").is_none());
        let mut lookalike = map(&[("cookie", "sluice_idx=1; xsluice_id=2")]);
        strip_synthetic_cookie(&mut lookalike);
        assert_eq!(all(&lookalike, "cookie"), ["sluice_idx=1; xsluice_id=2"]);
    }

    proptest! {
        /// Whatever cookies a client sends, no `sluice_id` pair survives and
        /// every other pair does, in order.
        #[test]
        fn cookie_strip_keeps_everything_else(
            pairs in proptest::collection::vec(("[a-z_]{1,10}", "[a-zA-Z0-9.]{0,8}"), 0..8)
        ) {
            let header: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
            let mut m = HeaderMap::new();
            if !header.is_empty() {
                m.insert(COOKIE, HeaderValue::from_str(&header.join("; ")).unwrap());
            }
            strip_synthetic_cookie(&mut m);
            let expected: Vec<&String> = pairs
                .iter()
                .zip(&header)
                .filter(|((n, _), _)| n != synthetic_id::COOKIE_NAME)
                .map(|(_, h)| h)
                .collect();
            let got: Vec<String> = values(&m, "cookie")
                .flat_map(|v| v.split("; "))
                .map(str::to_owned)
                .collect();
            prop_assert_eq!(got.iter().collect::<Vec<_>>(), expected);
        }
    }
}
