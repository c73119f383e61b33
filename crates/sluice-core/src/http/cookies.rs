//! `Set-Cookie` domain handling.
//!
//! An origin that sets `Domain=origin.example` would make the browser drop
//! the cookie when the page is served from the edge host. The edge strips a
//! `Domain` attribute that names a rewrite host (or a parent of one), so the
//! cookie becomes host-only on the edge host the client actually talks to.
//! Cookies for unrelated domains are left alone: they were never ours.

/// Rewrites one `Set-Cookie` header value. Returns `None` when nothing
/// changes, so callers can keep the original header byte for byte.
pub fn strip_origin_domain(set_cookie: &str, rewrite_hosts: &[String]) -> Option<String> {
    let mut changed = false;
    let mut out = String::with_capacity(set_cookie.len());
    for (i, part) in set_cookie.split(';').enumerate() {
        if i > 0 {
            if let Some((name, value)) = part.split_once('=') {
                if name.trim().eq_ignore_ascii_case("domain")
                    && covers_rewrite_host(value, rewrite_hosts)
                {
                    changed = true;
                    continue;
                }
            }
            out.push(';');
        }
        out.push_str(part);
    }
    changed.then_some(out)
}

/// True when a cookie `Domain` value names a rewrite host or one of its
/// parent domains (`example.com` covers `www.example.com`).
fn covers_rewrite_host(domain: &str, rewrite_hosts: &[String]) -> bool {
    let domain = domain.trim().trim_start_matches('.').to_ascii_lowercase();
    if domain.is_empty() {
        return false;
    }
    rewrite_hosts.iter().any(|host| {
        let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
        host == domain
            || (host.len() > domain.len()
                && host.ends_with(&domain)
                && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<String> {
        vec!["www.origin.example".to_owned()]
    }

    #[test]
    fn origin_domain_is_stripped_other_attributes_kept() {
        assert_eq!(
            strip_origin_domain("a=1; Domain=www.origin.example; Path=/; Secure", &hosts())
                .as_deref(),
            Some("a=1; Path=/; Secure")
        );
        assert_eq!(
            strip_origin_domain("a=1; path=/; domain=.origin.example", &hosts()).as_deref(),
            Some("a=1; path=/")
        );
    }

    #[test]
    fn unrelated_and_lookalike_domains_are_untouched() {
        for v in [
            "a=1; Domain=other.example",
            "a=1; Domain=gin.example",
            "a=1; Domain=evil-origin.example",
            "a=1; Path=/",
            "a=domain=origin.example",
        ] {
            assert_eq!(strip_origin_domain(v, &hosts()), None, "{v}");
        }
    }
}
