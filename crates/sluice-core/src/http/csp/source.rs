//! Source expressions: host-sources matched against the rewrite hosts
//! (CSP Level 3, "Does url match expression"), and hash sources.

use sha2::{Digest, Sha256, Sha384, Sha512};

/// A rewrite host as CSP sees it: a name and an optional explicit port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OriginHost {
    /// Lower-case host name.
    pub(crate) name: String,
    /// The explicit port of a `host:port` rule; `None` means the scheme's
    /// default port (the rewriter leaves URLs with another port alone).
    pub(crate) port: Option<u16>,
}

impl OriginHost {
    /// From a rewrite rule (`host` or `host:port`, lower-cased). IPv6
    /// literals cannot be written in a CSP host-source, so they are `None`.
    pub(crate) fn from_rule(rule: &str) -> Option<Self> {
        if rule.starts_with('[') {
            return None;
        }
        let (name, port) = match rule.split_once(':') {
            Some((n, p)) => (n, Some(p.parse().ok()?)),
            None => (rule, None),
        };
        Some(Self {
            name: name.to_ascii_lowercase(),
            port,
        })
    }
}

/// A parsed host-source (`[scheme://]host[:port][/path]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostSource<'a> {
    pub(crate) scheme: Option<&'a str>,
    pub(crate) host: &'a str,
    pub(crate) port: Option<&'a str>,
    pub(crate) path: Option<&'a str>,
}

impl<'a> HostSource<'a> {
    /// Parses a token by the CSP3 grammar; `None` for keywords, schemes,
    /// nonces, hashes and anything malformed.
    pub(crate) fn parse(token: &'a str) -> Option<Self> {
        let (scheme, rest) = match token.find("://") {
            Some(k) => {
                let s = &token[..k];
                let mut b = s.bytes();
                let first_ok = b.next().is_some_and(|c| c.is_ascii_alphabetic());
                if !first_ok
                    || !b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
                {
                    return None;
                }
                (Some(s), &token[k + 3..])
            }
            None => (None, token),
        };
        let host_end = rest.find([':', '/']).unwrap_or(rest.len());
        let host = &rest[..host_end];
        if !valid_host_part(host) {
            return None;
        }
        let mut rest = &rest[host_end..];
        let mut port = None;
        if let Some(p) = rest.strip_prefix(':') {
            let end = p.find('/').unwrap_or(p.len());
            let digits = &p[..end];
            if digits != "*" && (digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit())) {
                return None;
            }
            port = Some(digits);
            rest = &p[end..];
        }
        let path = if rest.is_empty() {
            None
        } else if rest.starts_with('/') {
            Some(rest)
        } else {
            return None;
        };
        Some(Self {
            scheme,
            host,
            port,
            path,
        })
    }

    /// Does this expression allow URLs at `origin` (any path when the
    /// expression has none) with an `http`/`https` scheme? The bare `*`
    /// says nothing about a particular host (and already allows the edge),
    /// so it is not a match.
    pub(crate) fn names(&self, origin: &OriginHost) -> bool {
        let scheme_ok = match self.scheme {
            None => true,
            Some(s) => s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"),
        };
        scheme_ok && self.host_matches(&origin.name) && self.port_matches(origin.port)
    }

    fn host_matches(&self, name: &str) -> bool {
        let host = self.host.strip_suffix('.').unwrap_or(self.host);
        if host == "*" {
            return false;
        }
        match host.strip_prefix("*.") {
            // Subdomains only: `*.example.com` does not allow example.com.
            Some(suffix) => {
                name.len() > suffix.len() + 1
                    && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
                    && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            }
            None => host.eq_ignore_ascii_case(name),
        }
    }

    fn port_matches(&self, port: Option<u16>) -> bool {
        let defaults: &[u16] = match self.scheme {
            Some(s) if s.eq_ignore_ascii_case("https") => &[443],
            Some(s) if s.eq_ignore_ascii_case("http") => &[80],
            _ => &[80, 443],
        };
        match (self.port, port) {
            (Some("*"), _) => true,
            (None, None) => true,
            (None, Some(p)) => defaults.contains(&p),
            (Some(e), None) => e.parse::<u16>().is_ok_and(|e| defaults.contains(&e)),
            (Some(e), Some(p)) => e.parse::<u16>() == Ok(p),
        }
    }
}

/// `host-part = "*" / [ "*." ] 1*host-char *( "." 1*host-char ) [ "." ]`.
fn valid_host_part(host: &str) -> bool {
    if host == "*" {
        return true;
    }
    let h = host.strip_prefix("*.").unwrap_or(host);
    let h = h.strip_suffix('.').unwrap_or(h);
    !h.is_empty()
        && h.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Is `token` a scheme-source (`https:`) that allows `http`/`https`
/// URLs of `scheme`? (`http:` allows both, `https:` only https.)
pub(crate) fn scheme_source_allows(token: &str, scheme: &str) -> bool {
    let Some(s) = token.strip_suffix(':') else {
        return false;
    };
    if s.eq_ignore_ascii_case("http") {
        scheme == "http" || scheme == "https"
    } else if s.eq_ignore_ascii_case("https") {
        scheme == "https"
    } else {
        false
    }
}

/// A CSP hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub(crate) const ALL: [HashAlg; 3] = [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512];

    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// The base64 digest of `text` (the UTF-8 bytes, as CSP hashes them).
    pub(crate) fn digest(self, text: &str) -> String {
        use base64::Engine as _;
        let b = text.as_bytes();
        let engine = base64::engine::general_purpose::STANDARD;
        match self {
            Self::Sha256 => engine.encode(Sha256::digest(b)),
            Self::Sha384 => engine.encode(Sha384::digest(b)),
            Self::Sha512 => engine.encode(Sha512::digest(b)),
        }
    }

    /// The hash source of `text`: `'sha256-…'`.
    pub(crate) fn source(self, text: &str) -> String {
        format!("'{}-{}'", self.name(), self.digest(text))
    }
}

/// A hash source's algorithm and digest, the digest normalised to
/// padding-free standard base64 (CSP accepts the base64url alphabet too).
pub(crate) fn parse_hash_source(token: &str) -> Option<(HashAlg, String)> {
    let inner = token.strip_prefix('\'')?.strip_suffix('\'')?;
    let (alg, value) = inner.split_once('-')?;
    let alg = HashAlg::ALL
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(alg))?;
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'='));
    ok.then(|| (alg, normalise_b64(value)))
}

fn normalise_b64(v: &str) -> String {
    v.trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect()
}

/// Does `tokens` hold the hash source of `alg` over `text`?
pub(crate) fn lists_hash(tokens: &[&str], alg: HashAlg, text: &str) -> bool {
    let want = normalise_b64(&alg.digest(text));
    tokens
        .iter()
        .filter_map(|t| parse_hash_source(t))
        .any(|(a, v)| a == alg && v == want)
}

/// Does `tokens` hold any hash source?
pub(crate) fn has_hash(tokens: &[&str]) -> bool {
    tokens.iter().any(|t| parse_hash_source(t).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(rule: &str) -> OriginHost {
        OriginHost::from_rule(rule).unwrap()
    }

    fn names(token: &str, rule: &str) -> bool {
        HostSource::parse(token).is_some_and(|s| s.names(&host(rule)))
    }

    #[test]
    fn parses_host_sources_by_the_grammar() {
        let s = HostSource::parse("https://*.Example.com:8443/js/").unwrap();
        assert_eq!(s.scheme, Some("https"));
        assert_eq!(s.host, "*.Example.com");
        assert_eq!(s.port, Some("8443"));
        assert_eq!(s.path, Some("/js/"));
        for not_host in [
            "'self'",
            "'none'",
            "https:",
            "data:",
            "'sha256-abc='",
            "'nonce-x'",
            "*.",
            "a..b",
            "a:",
            "a:x",
            "1http://a",
            "a b",
            "/path",
            "https://",
            "ex ample",
        ] {
            assert_eq!(HostSource::parse(not_host), None, "{not_host}");
        }
        assert!(HostSource::parse("*").is_some());
        assert!(HostSource::parse("example.com.").is_some());
    }

    #[test]
    fn matches_rewrite_hosts_as_browsers_match_urls() {
        for (token, rule, want) in [
            ("origin.example", "origin.example", true),
            ("ORIGIN.EXAMPLE", "origin.example", true),
            ("origin.example.", "origin.example", true),
            ("https://origin.example", "origin.example", true),
            ("http://origin.example/js/", "origin.example", true),
            ("wss://origin.example", "origin.example", false),
            ("ftp://origin.example", "origin.example", false),
            ("*.origin.example", "origin.example", false),
            ("*.origin.example", "www.origin.example", true),
            ("*.example", "origin.example", true),
            ("*.rigin.example", "origin.example", false),
            ("cdn.origin.example", "origin.example", false),
            ("origin.example", "cdn.origin.example", false),
            ("origin.example.evil", "origin.example", false),
            ("*", "origin.example", false),
            ("origin.example:8080", "origin.example", false),
            ("origin.example:443", "origin.example", true),
            ("https://origin.example:80", "origin.example", false),
            ("origin.example:*", "origin.example:8080", true),
            ("origin.example:8080", "origin.example:8080", true),
            ("origin.example", "origin.example:8080", false),
            ("https://origin.example:443", "origin.example:443", true),
            ("https://origin.example", "origin.example:443", true),
        ] {
            assert_eq!(names(token, rule), want, "{token} vs {rule}");
        }
        assert_eq!(OriginHost::from_rule("[::1]:80"), None);
    }

    #[test]
    fn scheme_sources() {
        assert!(scheme_source_allows("https:", "https"));
        assert!(!scheme_source_allows("https:", "http"));
        assert!(scheme_source_allows("HTTP:", "https"));
        assert!(!scheme_source_allows("data:", "https"));
        assert!(!scheme_source_allows("https://a", "https"));
    }

    #[test]
    fn hash_sources() {
        // `alert(1)` has a well-known SHA-256.
        let src = HashAlg::Sha256.source("alert(1)");
        assert_eq!(src, "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='");
        assert!(lists_hash(&["'self'", &src], HashAlg::Sha256, "alert(1)"));
        assert!(!lists_hash(&[&src], HashAlg::Sha384, "alert(1)"));
        assert!(!lists_hash(&[&src], HashAlg::Sha256, "alert(2)"));
        // base64url, no padding and an upper-case algorithm name are the
        // same source.
        let url = "'SHA256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF-pI'";
        assert!(lists_hash(&[url], HashAlg::Sha256, "alert(1)"));
        assert!(has_hash(&["'sha512-x'"]));
        assert!(!has_hash(&[
            "'nonce-x'",
            "sha256-x",
            "'sha1-x'",
            "'sha256-'"
        ]));
        assert_eq!(HashAlg::Sha384.source("").len(), "'sha384-'".len() + 64);
        assert_eq!(HashAlg::Sha512.source("").len(), "'sha512-'".len() + 88);
    }
}
