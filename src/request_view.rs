//! The edge's own view of the client request: scheme, authority and
//! address, taken from the connection rather than from spoofable headers.

use fastly::Request;

/// What the edge itself saw of the client.
#[derive(Debug, Clone)]
pub struct RequestView {
    /// `https` when the client connection used TLS, else `http`.
    pub scheme: &'static str,
    /// The host (and port) the client asked for.
    pub authority: String,
    /// The client's address as seen by the edge.
    pub client_ip: Option<std::net::IpAddr>,
    /// `true` for `HEAD`.
    pub is_head: bool,
}

impl RequestView {
    /// Reads the view. `X-Forwarded-Host` and `Forwarded` are ignored on
    /// purpose: a client can send anything there.
    pub fn of(req: &Request) -> Self {
        let scheme = if req.get_tls_protocol_bytes().is_some() {
            "https"
        } else {
            "http"
        };
        let url = req.get_url();
        let authority = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => String::new(),
        };
        Self {
            scheme,
            authority,
            client_ip: req.get_client_ip_addr(),
            is_head: req.get_method() == fastly::http::Method::HEAD,
        }
    }
}
