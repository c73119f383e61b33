//! The page's plan, from the origin's head alone: pass the body through
//! untouched, or rewrite it (streamed or buffered) with the pipeline
//! configured for its kind, codings and charset.

use http::HeaderMap;

use super::Rewrite;
use crate::content_kind::{charset_from_content_type, ContentKind};
use crate::http::csp::PolicyHeaders;
use crate::http::headers::{first, values};
use crate::http::output::{choose_output, OutputChoice};
use crate::http::{classify, BodyHandling, PassReason, ResponseFacts};
use crate::limits::PipelineLimits;
use crate::pipeline::PipelineConfig;
use crate::rewrite::RewriteRules;
use crate::settings::Settings;
use crate::ContentEncoding;

/// What the publisher knows of a page besides the origin's head.
#[derive(Debug, Clone, Copy)]
pub struct PageFacts<'a> {
    /// The origin's status.
    pub status: u16,
    /// The client request was `HEAD`.
    pub is_head: bool,
    /// An SRI-pinned resource's raw URL: its bytes must stay as they are.
    pub raw: bool,
    /// The request path (for `publisher.buffered_paths`).
    pub path: &'a str,
    /// The client's `Accept-Encoding`.
    pub client_accept_encoding: Option<&'a str>,
}

/// What happens to the body.
// One value per response, never moved in a loop: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum PagePlan {
    /// Handed to the host untouched.
    PassThrough(PassReason),
    /// Rewritten.
    Rewrite {
        /// The driver's instructions.
        how: Rewrite,
        /// The origin's coding (the cache keeps identity bodies' lengths).
        input: ContentEncoding,
        /// What the client gets.
        output: OutputChoice,
    },
}

/// Plans a page from the origin's `head` (after the head policy).
pub fn plan(
    head: &HeaderMap,
    facts: PageFacts<'_>,
    rules: RewriteRules,
    settings: &Settings,
) -> PagePlan {
    let content_type = first(head, "content-type");
    // A policy with hash sources needs the whole HTML document before its
    // head goes out: that is the Buffered path's job.
    let policies = PolicyHeaders {
        enforce: values(head, "content-security-policy")
            .map(str::to_owned)
            .collect(),
        report_only: (values(head, "content-security-policy-report-only").map(str::to_owned))
            .collect(),
    };
    let html =
        content_type.is_some_and(|ct| ContentKind::from_content_type(ct) == ContentKind::Html);
    let hashed = (html && !rules.is_empty() && policies.needs_hashes()).then_some(policies);
    let decision = match facts.raw {
        true => BodyHandling::PassThrough(PassReason::Raw),
        false => classify(&ResponseFacts {
            is_head: facts.is_head,
            status: facts.status,
            content_type,
            content_encoding: first(head, "content-encoding"),
            content_disposition: first(head, "content-disposition"),
            has_rewrite_hosts: !rules.is_empty(),
            wants_buffering: hashed.is_some() || settings.wants_buffering(facts.path),
        }),
    };
    let (mode, kind, input) = match decision {
        BodyHandling::PassThrough(reason) => return PagePlan::PassThrough(reason),
        BodyHandling::Rewrite {
            mode,
            kind,
            encoding,
        } => (mode, kind, encoding),
    };
    let output = choose_output(
        input,
        mode,
        settings.output_encoding,
        facts.client_accept_encoding,
    );
    let mut config = PipelineConfig::new(input, output.encoding, kind, rules);
    config.limits = PipelineLimits::default()
        .with_max_decoded_bytes(settings.max_decoded_bytes)
        .with_max_brotli_window(settings.max_brotli_window_bytes);
    config.charset = content_type
        .and_then(charset_from_content_type)
        .map(str::to_owned);
    config.gzip_level = settings.gzip_level;
    config.brotli_quality = settings.brotli_quality;
    // The CPU budget reserves what decoding the rest will cost.
    let origin_length = first(head, "content-length").and_then(|v| v.parse().ok());
    let how = Rewrite {
        config,
        mode,
        hashed,
        origin_length,
    };
    PagePlan::Rewrite { how, input, output }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Mode;

    fn head(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (http::HeaderName::from_static(n), v.parse().unwrap()))
            .collect()
    }

    fn facts(path: &str) -> PageFacts<'_> {
        PageFacts {
            status: 200,
            is_head: false,
            raw: false,
            path,
            client_accept_encoding: Some("gzip, br"),
        }
    }

    fn rules() -> RewriteRules {
        RewriteRules::new(["origin.example"], "https", "edge.example").unwrap()
    }

    #[test]
    fn a_gzip_latin1_page_is_streamed_decoded_and_reencoded_with_its_charset_and_length() {
        let h = head(&[
            ("content-type", "text/html; charset=iso-8859-1"),
            ("content-encoding", "gzip"),
            ("content-length", "1234"),
        ]);
        let mut settings = Settings::defaults();
        settings.output_encoding = crate::settings::OutputEncoding::Origin;
        let PagePlan::Rewrite { how, input, output } = plan(&h, facts("/"), rules(), &settings)
        else {
            panic!("rewritten");
        };
        assert_eq!(
            (how.mode, input, output.encoding),
            (Mode::Stream, ContentEncoding::Gzip, ContentEncoding::Gzip)
        );
        assert_eq!(how.config.charset.as_deref(), Some("iso-8859-1"));
        assert_eq!(how.origin_length, Some(1234));
        assert!(how.hashed.is_none());
    }

    #[test]
    fn a_hash_policy_on_html_buffers_it_but_not_without_rewrite_hosts() {
        let h = head(&[
            ("content-type", "text/html"),
            ("content-security-policy", "script-src 'sha256-AAAA'"),
        ]);
        let settings = Settings::defaults();
        let PagePlan::Rewrite { how, .. } = plan(&h, facts("/"), rules(), &settings) else {
            panic!("rewritten");
        };
        assert_eq!(how.mode, Mode::Buffered);
        assert_eq!(
            how.hashed.map(|p| p.enforce),
            Some(vec!["script-src 'sha256-AAAA'".to_owned()])
        );
        let none = RewriteRules::new(Vec::<&str>::new(), "https", "edge.example").unwrap();
        assert!(matches!(
            plan(&h, facts("/"), none, &settings),
            PagePlan::PassThrough(_)
        ));
    }

    #[test]
    fn raw_urls_and_binaries_pass_through() {
        let settings = Settings::defaults();
        let html = head(&[("content-type", "text/html")]);
        let raw = PageFacts {
            raw: true,
            ..facts("/")
        };
        assert!(matches!(
            plan(&html, raw, rules(), &settings),
            PagePlan::PassThrough(PassReason::Raw)
        ));
        let png = head(&[("content-type", "image/png")]);
        assert!(matches!(
            plan(&png, facts("/"), rules(), &settings),
            PagePlan::PassThrough(_)
        ));
    }
}
