//! Validation of the configured rewrite hosts and edge authority, done
//! once when [`RewriteRules`](super::RewriteRules) are built so a bad
//! configuration never reaches a body.
//!
//! A rewrite host must also be a host the WHATWG URL parser (the `url`
//! crate, as a browser) accepts: a URL whose host it rejects (an IPv6
//! literal that is no IPv6 address, a name ending in a number that is no
//! IPv4 address, broken punycode) is not a URL any page can link to, so
//! configuring it is a mistake. The parser only validates: the matcher
//! compares the host's bytes as configured, lower-cased.

use super::host::HostRule;
use crate::error::PipelineConfigError;

/// Longest accepted rewrite host (a DNS name is at most 253 bytes, plus an
/// optional `:port`).
const MAX_HOST_LEN: usize = 253 + 6;
/// Longest accepted edge authority.
const MAX_AUTHORITY_LEN: usize = 512;

/// Parses one configured rewrite host (`host`, `host:port` or an IPv6
/// literal in brackets), lower-cased for the case-insensitive matcher.
pub(super) fn parse_host(raw: &str) -> Result<HostRule, PipelineConfigError> {
    let host = raw.trim().to_ascii_lowercase();
    let err = |reason| PipelineConfigError::InvalidHost {
        host: raw.to_owned(),
        reason,
    };
    if host.is_empty() {
        return Err(err("empty"));
    }
    if host.len() > MAX_HOST_LEN {
        return Err(err("longer than 259 bytes"));
    }
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let Some((addr, rest)) = v6.split_once(']') else {
            return Err(err("unterminated IPv6 literal"));
        };
        if addr.is_empty()
            || !addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            || !matches!(
                url::Host::parse(&format!("[{addr}]")),
                Ok(url::Host::Ipv6(_))
            )
        {
            return Err(err("invalid IPv6 literal"));
        }
        match rest {
            "" => (addr, None),
            _ => match rest.strip_prefix(':') {
                Some(p) => (addr, Some(p)),
                None => return Err(err("junk after IPv6 literal")),
            },
        }
    } else {
        match host.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host.as_str(), None),
        }
    };
    if !host.starts_with('[') {
        if name.is_empty() || name.starts_with('.') || name.ends_with('.') || name.contains("..") {
            return Err(err("not a host name"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(err(
                "host names may only contain letters, digits, '-', '_' and '.'",
            ));
        }
        if url::Host::parse(name).is_err() {
            return Err(err("not a valid URL host"));
        }
    }
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("port must be 1-5 digits"));
        }
    }
    let has_port = port.is_some();
    Ok(HostRule::new(host.into_bytes(), has_port))
}

/// Checks the edge authority the URLs are rewritten to: it is spliced into
/// bodies and headers verbatim, so nothing that could end or escape a URL
/// (path, userinfo, quotes, whitespace) may be in it.
pub(super) fn validate_authority(a: &str) -> Result<(), PipelineConfigError> {
    let err = |reason| PipelineConfigError::InvalidAuthority {
        authority: a.to_owned(),
        reason,
    };
    if a.is_empty() {
        return Err(err("empty"));
    }
    if a.len() > MAX_AUTHORITY_LEN {
        return Err(err("longer than 512 bytes"));
    }
    if a.bytes().any(|b| {
        b <= b' '
            || b >= 0x7f
            || matches!(
                b,
                b'/' | b'\\' | b'?' | b'#' | b'@' | b'"' | b'\'' | b'<' | b'>'
            )
    }) {
        return Err(err(
            "must be host[:port] without path, userinfo, quotes or whitespace",
        ));
    }
    Ok(())
}
