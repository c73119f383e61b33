//! Host sources: a policy that allows a rewrite host also allows the edge.
//!
//! The rewriter moves a rewrite host's URLs to the edge origin the client
//! used, so a directive that allowed `https://origin.example` must now
//! also allow `http://EDGE` or the browser blocks the page's own scripts,
//! images and fetches. Sources are only ever *appended*: the origin stays
//! allowed (the policy may be read by other parties, and a URL the
//! rewriter did not touch still loads), and every other byte of the
//! policy is kept.
//!
//! Which directives: every fetch directive (they govern what the page
//! loads, and the page now loads from the edge), `form-action` and
//! `navigate-to` (forms and links now point at the edge), `base-uri` (a
//! `<base href>` of a rewrite host is rewritten to the edge), and
//! `frame-ancestors`: it names who may frame the page, and the site's own
//! pages that framed it from the origin now frame it from the edge. The
//! edge serves only the origin's own content, so adding it where the
//! origin was allowed keeps the policy's meaning ("my site may frame
//! me"); leaving it out would break the site's own framing through the
//! edge. `report-uri` gets the rewritten URL next to the original.

use std::borrow::Cow;

use super::policy::{insert_all, parse_list, parse_policy, Policy};
use super::source::{scheme_source_allows, HostSource, OriginHost};
use crate::rewrite::{RewriteRules, RAW_PATH_PREFIX};

/// The fetch directives (CSP3 and the ones browsers still ship).
pub(crate) const FETCH_DIRECTIVES: &[&str] = &[
    "child-src",
    "connect-src",
    "default-src",
    "fenced-frame-src",
    "font-src",
    "frame-src",
    "img-src",
    "manifest-src",
    "media-src",
    "object-src",
    "prefetch-src",
    "script-src",
    "script-src-attr",
    "script-src-elem",
    "style-src",
    "style-src-attr",
    "style-src-elem",
    "worker-src",
];

/// The navigation and document directives that name URLs.
const OTHER_URL_DIRECTIVES: &[&str] =
    &["base-uri", "form-action", "frame-ancestors", "navigate-to"];

/// What the edge adds for one request.
#[derive(Debug)]
pub(crate) struct EdgeSources<'r> {
    rules: &'r RewriteRules,
    hosts: Vec<OriginHost>,
    /// `scheme://authority`, as the rewriter writes URLs.
    edge: String,
}

impl<'r> EdgeSources<'r> {
    /// `None` when there is nothing to add: no rewrite host, or an edge
    /// authority a host-source cannot express (an IPv6 literal, or bytes
    /// that would break the policy's syntax).
    pub(crate) fn new(rules: &'r RewriteRules) -> Option<Self> {
        let authority = rules.authority();
        let (name, port) = match authority.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (authority, None),
        };
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        let hosts: Vec<OriginHost> = rules.hosts().filter_map(OriginHost::from_rule).collect();
        (name_ok && port_ok && !hosts.is_empty()).then(|| Self {
            rules,
            hosts,
            edge: format!("{}://{}", rules.scheme(), authority),
        })
    }

    /// The insertions that augment `policy`: `(offset, " src src")`, one
    /// per directive that changes, in order.
    pub(crate) fn insertions(&self, policy: &Policy<'_>) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for d in policy.directives.iter().filter(|d| d.effective) {
            let fetch = FETCH_DIRECTIVES.iter().any(|n| d.is(n));
            let mut added: Vec<String> = Vec::new();
            if fetch || OTHER_URL_DIRECTIVES.iter().any(|n| d.is(n)) {
                self.host_sources(&d.tokens, fetch, &mut added);
            } else if d.is("report-uri") {
                for t in &d.tokens {
                    if let Cow::Owned(url) = self.rules.rewrite_str(t) {
                        added.push(url);
                    }
                }
            }
            added.retain(|a| !d.tokens.iter().any(|t| t.eq_ignore_ascii_case(a)));
            if added.is_empty() {
                continue;
            }
            let mut text = String::new();
            for a in added {
                text.push(' ');
                text.push_str(&a);
            }
            out.push((d.end, text));
        }
        out
    }

    /// The edge sources one source list needs, deduplicated, in order.
    fn host_sources(&self, tokens: &[&str], fetch: bool, added: &mut Vec<String>) {
        let mut push = |s: String| {
            if !added.iter().any(|a| a.eq_ignore_ascii_case(&s)) {
                added.push(s);
            }
        };
        for t in tokens {
            let Some(src) = HostSource::parse(t) else {
                continue;
            };
            if !self.hosts.iter().any(|h| src.names(h)) {
                continue;
            }
            match src.path {
                None => push(self.edge.clone()),
                Some(path) => {
                    // Same path restriction at the edge, and for SRI
                    // resources the same path under the raw prefix.
                    push(format!("{}{path}", self.edge));
                    if fetch {
                        push(format!("{}{RAW_PATH_PREFIX}{path}", self.edge));
                    }
                }
            }
        }
        // `https:` allowed the rewrite host's https URLs; over a plain
        // http edge it does not allow the edge.
        let schemes: Vec<&&str> = tokens
            .iter()
            .filter(|t| scheme_source_allows(t, "http") || scheme_source_allows(t, "https"))
            .collect();
        if !schemes.is_empty()
            && !schemes
                .iter()
                .any(|t| scheme_source_allows(t, self.rules.scheme()))
        {
            push(self.edge.clone());
        }
    }
}

/// Augments a `Content-Security-Policy` or
/// `Content-Security-Policy-Report-Only` header value (a comma-separated
/// list of policies): every directive that allows a rewrite host also
/// allows the edge origin of `rules` (see the module docs). Borrows when
/// nothing changes; otherwise the result is the input with sources
/// appended and no other byte changed.
pub fn augment_policy_header<'a>(value: &'a str, rules: &RewriteRules) -> Cow<'a, str> {
    let Some(edge) = EdgeSources::new(rules) else {
        return Cow::Borrowed(value);
    };
    let inserts: Vec<(usize, String)> = parse_list(value)
        .iter()
        .flat_map(|p| edge.insertions(p))
        .collect();
    if inserts.is_empty() {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(insert_all(value, &inserts))
    }
}

/// [`augment_policy_header`] for one policy as a `<meta
/// http-equiv="Content-Security-Policy">` holds it (commas do not separate
/// policies there). `value` is the attribute's value with character
/// references decoded; the HTML stage maps the insertions back into the
/// raw attribute itself.
pub fn augment_meta_policy<'a>(value: &'a str, rules: &RewriteRules) -> Cow<'a, str> {
    match meta_insertions(value, rules) {
        inserts if inserts.is_empty() => Cow::Borrowed(value),
        inserts => Cow::Owned(insert_all(value, &inserts)),
    }
}

/// The insertions of [`augment_meta_policy`].
pub(crate) fn meta_insertions(value: &str, rules: &RewriteRules) -> Vec<(usize, String)> {
    EdgeSources::new(rules).map_or_else(Vec::new, |edge| edge.insertions(&parse_policy(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(hosts: &[&str]) -> RewriteRules {
        RewriteRules::new(hosts, "http", "127.0.0.1:7676").unwrap()
    }

    fn aug(value: &str) -> String {
        augment_policy_header(value, &rules(&["origin.example", "www.origin.example"])).into_owned()
    }

    const E: &str = "http://127.0.0.1:7676";

    #[test]
    fn appends_the_edge_where_a_rewrite_host_is_allowed() {
        assert_eq!(
            aug("script-src 'self' https://origin.example; img-src *.origin.example data:; connect-src 'self'"),
            format!("script-src 'self' https://origin.example {E}; img-src *.origin.example data: {E}; connect-src 'self'")
        );
        // Case-insensitive names, junk around, and each kind of directive.
        for name in [
            "Default-Src",
            "SCRIPT-SRC-ELEM",
            "script-src-attr",
            "style-src",
            "style-src-elem",
            "font-src",
            "media-src",
            "frame-src",
            "child-src",
            "worker-src",
            "manifest-src",
            "object-src",
            "prefetch-src",
            "form-action",
            "base-uri",
            "frame-ancestors",
            "navigate-to",
            "connect-src",
        ] {
            let v = format!(" ;{name}\torigin.example ;; ");
            assert_eq!(
                aug(&v),
                format!(" ;{name}\torigin.example {E} ;; "),
                "{name}"
            );
        }
    }

    #[test]
    fn leaves_everything_else_byte_for_byte() {
        for v in [
            "",
            ";;",
            "script-src 'self' https://cdn.example",
            "script-src *",
            "script-src https://origin.example.evil.com cdn.origin.example",
            "script-src 'nonce-abc' 'strict-dynamic'",
            "sandbox allow-scripts; upgrade-insecure-requests",
            "report-to csp-endpoint",
            "trusted-types origin.example",
            "script-src wss://origin.example",
            "script-src origin.example:8443",
            // The second of a repeated directive is ignored by browsers.
            "script-src 'self'; script-src origin.example",
            // Non-ASCII makes the directive invalid: left alone.
            "script-src origin.example \u{e9}",
            // Already there.
            "script-src origin.example http://127.0.0.1:7676",
            "script-src origin.example HTTP://127.0.0.1:7676",
        ] {
            assert_eq!(aug(v), v, "{v}");
            assert!(matches!(
                augment_policy_header(v, &rules(&["origin.example"])),
                Cow::Borrowed(_)
            ));
        }
    }

    #[test]
    fn every_policy_of_a_list() {
        assert_eq!(
            aug("img-src origin.example,script-src www.origin.example ; , "),
            format!("img-src origin.example {E},script-src www.origin.example {E} ; , ")
        );
    }

    #[test]
    fn paths_are_kept_and_get_a_raw_twin_for_fetches() {
        assert_eq!(
            aug("script-src https://origin.example/js/; form-action origin.example/f"),
            format!(
                "script-src https://origin.example/js/ {E}/js/ {E}/_sluice-raw/js/; \
                 form-action origin.example/f {E}/f"
            )
        );
        // Two sources naming the edge once.
        assert_eq!(
            aug("img-src origin.example www.origin.example"),
            format!("img-src origin.example www.origin.example {E}")
        );
    }

    #[test]
    fn report_uri_gets_the_rewritten_url_too() {
        assert_eq!(
            aug("default-src 'self'; report-uri https://origin.example/csp /local https://other.example/r"),
            format!(
                "default-src 'self'; report-uri https://origin.example/csp /local \
                 https://other.example/r {E}/csp"
            )
        );
    }

    #[test]
    fn https_scheme_sources_do_not_cover_a_plain_http_edge() {
        assert_eq!(aug("script-src https:"), format!("script-src https: {E}"));
        assert_eq!(aug("script-src https: http:"), "script-src https: http:");
        let https = RewriteRules::new(["origin.example"], "https", "edge.example").unwrap();
        assert_eq!(
            augment_policy_header("script-src https:", &https),
            "script-src https:"
        );
    }

    #[test]
    fn ports_and_edges_csp_cannot_express() {
        let r = RewriteRules::new(["origin.example:8080"], "https", "edge.example").unwrap();
        assert_eq!(
            augment_policy_header("img-src origin.example:8080 origin.example", &r),
            "img-src origin.example:8080 origin.example https://edge.example"
        );
        let v6 = RewriteRules::new(["origin.example"], "https", "[::1]:7676").unwrap();
        assert_eq!(
            augment_policy_header("img-src origin.example", &v6),
            "img-src origin.example"
        );
        let odd = RewriteRules::new(["origin.example"], "https", "a;b").unwrap();
        assert_eq!(
            augment_policy_header("img-src origin.example", &odd),
            "img-src origin.example"
        );
        let none = RewriteRules::new(Vec::<String>::new(), "https", "edge.example").unwrap();
        assert_eq!(
            augment_policy_header("img-src origin.example", &none),
            "img-src origin.example"
        );
    }

    #[test]
    fn meta_values_are_one_policy() {
        let r = rules(&["origin.example"]);
        assert_eq!(
            augment_meta_policy("img-src origin.example, script-src origin.example", &r),
            format!("img-src origin.example, script-src origin.example {E}")
        );
    }

    #[test]
    fn augmenting_twice_adds_nothing_more() {
        let once = aug("script-src origin.example; report-uri https://origin.example/r");
        assert_eq!(aug(&once), once);
    }
}
