//! The page's own Content-Security-Policy survives the rewrite.
//!
//! Two things break a policy when URLs move from the origin to the edge:
//! - **Host sources** (`script-src https://origin.example`): the edge
//!   origin is appended to every directive that allows a rewrite host
//!   ([`augment_policy_header`] for the headers, the HTML stage for
//!   `<meta http-equiv>`), keeping the origin and every other byte.
//! - **Hash sources** (`'sha256-…'`): a rewritten inline script no longer
//!   has its hash. When a response's policy lists hashes ([`needs_hashes`]),
//!   the adapter buffers the HTML ([`BufferedHtml`]) and the hash of each
//!   rewritten inline element is added next to the original's
//!   ([`complete_hashes`]).
//!
//! Nonce sources need nothing: the rewriter never touches a `nonce`
//! attribute. Subresource Integrity is kept by the raw URL form
//! ([`crate::rewrite::RAW_PATH_PREFIX`]).

mod augment;
mod buffer;
mod hashes;
mod inline;
pub(crate) mod meta;
pub(crate) mod policy;
mod source;

use std::borrow::Cow;

use crate::rewrite::RewriteRules;

pub(crate) use augment::meta_insertions;
pub use augment::{augment_meta_policy, augment_policy_header};
pub use buffer::{BufferedHtml, BufferedOutcome, CompletedHtml};
pub(crate) use hashes::policy_has_hashes;
pub use hashes::{complete_hashes, needs_hashes, HashCompletion, HashError, PolicyHeaders};

/// Rewrites the endpoint URLs of a `Reporting-Endpoints` header
/// (`csp="https://origin.example/r"`) or a legacy `Report-To` header (JSON
/// with `"url"`s), so the reports a policy's `report-to` group sends go
/// through the edge like every other URL of a rewrite host. An endpoint
/// name maps to one URL, so it is rewritten rather than augmented; the
/// `report-to` directive names the group and stays as it is. Borrows when
/// nothing changes.
pub fn rewrite_reporting_header<'a>(value: &'a str, rules: &RewriteRules) -> Cow<'a, str> {
    rules.rewrite_str(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reporting_endpoints_point_at_the_edge() {
        let r = RewriteRules::new(["origin.example"], "https", "edge.example").unwrap();
        assert_eq!(
            rewrite_reporting_header(
                r#"csp="https://origin.example/csp", other="https://reports.example/x""#,
                &r
            ),
            r#"csp="https://edge.example/csp", other="https://reports.example/x""#
        );
        assert_eq!(
            rewrite_reporting_header(
                r#"{"group":"csp","max_age":1,"endpoints":[{"url":"https://origin.example/r"}]}"#,
                &r
            ),
            r#"{"group":"csp","max_age":1,"endpoints":[{"url":"https://edge.example/r"}]}"#
        );
    }
}
