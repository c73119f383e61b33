//! Hop-by-hop and forwarding headers.
//!
//! A proxy must not forward connection-scoped headers (RFC 9110 §7.6.1):
//! they describe one TCP hop, and relaying them lets a client steer the
//! proxy's own connection handling. Forwarding headers sent by a client are
//! spoofable, so the edge drops them and writes its own.

/// Headers that are always connection-scoped, lower-case.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Client-supplied forwarding headers the edge never trusts: it replaces
/// them with what it saw itself.
pub const UNTRUSTED_FORWARDING: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-real-ip",
    "true-client-ip",
];

/// Returns every header name that must be removed from a message before it
/// is relayed: the fixed hop-by-hop set plus any names the message itself
/// lists in its `Connection` header(s).
///
/// The result is lower-case and de-duplicated.
pub fn names_to_strip<'a>(connection_values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut names: Vec<String> = HOP_BY_HOP.iter().map(|s| (*s).to_owned()).collect();
    for value in connection_values {
        for token in value.split(',') {
            let token = token.trim().to_ascii_lowercase();
            if !token.is_empty() && is_token(&token) && !names.contains(&token) {
                names.push(token);
            }
        }
    }
    names
}

/// True when `name` is hop-by-hop regardless of any `Connection` header.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// True when a plan or a client may not set this header on a relayed
/// message: hop-by-hop names, framing (`content-length`), routing (`host`)
/// and the forwarding headers the edge owns.
pub fn is_reserved(name: &str) -> bool {
    is_hop_by_hop(name)
        || UNTRUSTED_FORWARDING
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
        || name.eq_ignore_ascii_case("content-length")
        || name.eq_ignore_ascii_case("host")
}

/// The `X-Forwarded-For` value the edge sends upstream: only the address it
/// saw itself. Appending to a client-supplied chain would let any client
/// claim to be any address.
pub fn forwarded_for(client_ip: Option<std::net::IpAddr>) -> Option<String> {
    client_ip.map(|ip| ip.to_string())
}

fn is_token(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_listed_names_are_stripped_too() {
        let names = names_to_strip(["close, X-Secret-Hop", "keep-alive"]);
        assert!(names.contains(&"x-secret-hop".to_owned()));
        assert!(names.contains(&"close".to_owned()));
        assert!(names.contains(&"transfer-encoding".to_owned()));
        assert_eq!(
            names.iter().filter(|n| n.as_str() == "keep-alive").count(),
            1
        );
    }

    #[test]
    fn garbage_tokens_are_ignored() {
        let names = names_to_strip(["a b, ,\"quoted\""]);
        assert_eq!(names.len(), HOP_BY_HOP.len());
    }

    #[test]
    fn reserved_covers_framing_routing_and_forwarding() {
        for n in ["Host", "content-length", "X-Forwarded-For", "Upgrade", "TE"] {
            assert!(is_reserved(n), "{n}");
        }
        for n in ["content-type", "x-request-id", "cache-control"] {
            assert!(!is_reserved(n), "{n}");
        }
    }

    #[test]
    fn forwarded_for_is_only_the_seen_address() {
        let ip: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(forwarded_for(Some(ip)).as_deref(), Some("192.0.2.7"));
        assert_eq!(forwarded_for(None), None);
    }
}
