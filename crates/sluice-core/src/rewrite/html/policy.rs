//! The two start tags that a plain rewrite would break: policy `<meta>`
//! elements and tags pinned by Subresource Integrity.
//!
//! - `<meta http-equiv="Content-Security-Policy" content="...">` (and
//!   `-Report-Only`, which browsers ignore in `<meta>` but which is
//!   treated like its header so a policy is never rewritten): the plain
//!   rewrite would *replace* `https://origin.example` with the edge and
//!   so remove the origin from the policy. Instead the edge is appended
//!   where a rewrite host is allowed (`crate::http::csp`), inside the
//!   attribute value, escaped for its quoting; every other byte of the tag
//!   stays.
//! - A `<script>` or `<link>` (`rel=stylesheet|modulepreload|preload`)
//!   with an `integrity` attribute (the only elements HTML checks it on)
//!   holding a URL of a rewrite host: its URLs
//!   take the raw form (`crate::rewrite::RAW_PATH_PREFIX`), which the edge
//!   serves byte-identical, so the hash still matches. `integrity` and
//!   `crossorigin` are never touched.
//!
//! Neither costs the common path more than a compare: only a start tag in
//! `<head>` whose name begins with `m` is searched for
//! `content-security-policy` (`<body>` ends that search), only an `<s...>`
//! or `<l...>` tag that already holds a URL of a rewrite host is searched
//! for `integrity`, and only then is the tag read again by lol_html, to be
//! sure it is an attribute and not, say, part of a URL. (A `meta` selector
//! would do the same work, but it makes lol_html call a handler for every
//! `<meta>`, and an attribute selector makes it lex more: both measured
//! slower on the corpus.)

use std::cell::RefCell;
use std::ops::Range;

use lol_html::{element, AsciiCompatibleEncoding, HtmlRewriter, Settings};

use crate::http::csp::meta::{apply, is_policy_equiv, raw_insertions, Decoded, Quote};
use crate::http::csp::policy::parse_policy;
use crate::http::csp::{meta_insertions, policy_has_hashes};
use crate::rewrite::RewriteRules;

/// Appends the edge to the policy in `tag[value]` (a policy `<meta>`'s
/// `content`), writing the whole edited tag to `out` when it changes.
/// Returns whether it changed, and whether the policy lists hash sources.
pub(super) fn augment_meta(
    tag: &[u8],
    value: Range<usize>,
    rules: &RewriteRules,
    out: &mut Vec<u8>,
) -> (bool, bool) {
    let Some(raw) = tag.get(value.clone()) else {
        return (false, false);
    };
    let decoded = Decoded::new(raw);
    let hashes = policy_has_hashes(&parse_policy(&decoded.text));
    let inserts = meta_insertions(&decoded.text, rules);
    if inserts.is_empty() {
        return (false, hashes);
    }
    let before = value.start.checked_sub(1).and_then(|i| tag.get(i)).copied();
    let raw_inserts = raw_insertions(&decoded, &inserts, Quote::from_byte_before(before));
    out.extend_from_slice(&tag[..value.start]);
    apply(raw, &raw_inserts, out);
    out.extend_from_slice(&tag[value.end..]);
    (true, hashes)
}

/// Does this start tag carry an `integrity` attribute?
pub(super) fn is_pinned(tag: &[u8], encoding: AsciiCompatibleEncoding) -> bool {
    contains_ci(tag, b"integrity")
        && read_tag(tag, encoding, |el| el.has_attribute("integrity")).unwrap_or(false)
}

/// Where the `content` value (without quotes) of a policy `<meta>` lies in
/// `tag`; `None` for any other tag.
pub(super) fn policy_value(tag: &[u8], encoding: AsciiCompatibleEncoding) -> Option<Range<usize>> {
    if !is_meta(tag) || !contains_ci(tag, b"content-security-policy") {
        return None;
    }
    read_tag(tag, encoding, |el| {
        let policy = el.tag_name() == "meta"
            && el
                .get_attribute("http-equiv")
                .is_some_and(|e| is_policy_equiv(&e));
        let value = el
            .attributes()
            .iter()
            .find(|a| a.name() == "content")
            .and_then(|a| a.value_source_location());
        value.filter(|_| policy).map(|v| v.bytes())
    })
    .flatten()
}

/// Does `hay` contain `needle` (lower-case, ending in a letter), ASCII
/// case-insensitively? Stops only at the needle's last letter (SIMD
/// `memchr2`), so a long `<meta content>` costs a scan, not a compare per
/// byte.
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&last, _)) = needle.split_last() else {
        return true;
    };
    let from = needle.len() - 1;
    memchr::memchr2_iter(
        last,
        last.to_ascii_uppercase(),
        hay.get(from..).unwrap_or_default(),
    )
    .any(|k| hay[k..k + needle.len()].eq_ignore_ascii_case(needle))
}

/// Is `tag` a `<meta ...>` start tag?
fn is_meta(tag: &[u8]) -> bool {
    is_named(tag, b"meta")
}

/// Is `tag` the `<body ...>` start tag?
pub(super) fn is_body(tag: &[u8]) -> bool {
    is_named(tag, b"body")
}

/// Does the start tag `tag` have this (4-letter, lower-case) name?
fn is_named(tag: &[u8], name: &[u8; 4]) -> bool {
    tag.get(1..5).is_some_and(|n| n.eq_ignore_ascii_case(name))
        && tag
            .get(5)
            .is_some_and(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r' | b'/' | b'>'))
}

/// Reads one start tag on its own with lol_html and asks `f` about its
/// element (source locations are then offsets in `tag`).
fn read_tag<T>(
    tag: &[u8],
    encoding: AsciiCompatibleEncoding,
    f: impl Fn(&lol_html::html_content::Element<'_, '_>) -> T,
) -> Option<T> {
    let found = RefCell::new(None);
    let settings = Settings::new()
        .with_encoding(encoding)
        .append_element_content_handler(element!("*", |el| {
            let mut found = found.borrow_mut();
            if found.is_none() {
                *found = Some(f(el));
            }
            Ok(())
        }));
    let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
    let parsed = rewriter.write(tag).is_ok() && rewriter.end().is_ok();
    let result = found.borrow_mut().take();
    result.filter(|_| parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8() -> AsciiCompatibleEncoding {
        AsciiCompatibleEncoding::utf_8()
    }

    #[test]
    fn pinned_means_an_integrity_attribute() {
        for yes in [
            "<script src=a integrity=sha384-x>",
            "<LINK REL=stylesheet HREF='a' INTEGRITY=\"sha384-x\" crossorigin>",
            "<link\nintegrity\n=x href=a>",
        ] {
            assert!(is_pinned(yes.as_bytes(), utf8()), "{yes}");
        }
        for no in [
            "<a href='https://origin.example/research-integrity'>",
            "<img data-integrity=x src=a>",
            "<script src=a data-x=\"integrity=x\">",
            "<script src=a>",
        ] {
            assert!(!is_pinned(no.as_bytes(), utf8()), "{no}");
        }
    }

    #[test]
    fn case_insensitive_search() {
        assert!(contains_ci(
            b"xx Content-Security-POLICY",
            b"content-security-policy"
        ));
        assert!(contains_ci(b"integrity", b"integrity"));
        assert!(contains_ci(b"aINTEGRITYb", b"integrity"));
        assert!(!contains_ci(b"integrit", b"integrity"));
        assert!(!contains_ci(b"", b"integrity"));
        assert!(!contains_ci(b"integrity-", b"integrityx"));
        assert!(is_meta(b"<META>") && is_meta(b"<meta\nx>"));
        assert!(!is_meta(b"<metadata>") && !is_meta(b"<main>"));
        assert!(is_body(b"<BODY class=x>") && !is_body(b"<bodyx>") && !is_body(b"<b>"));
    }

    #[test]
    fn finds_the_value_of_policy_metas_only() {
        let tag = "<META http-equiv=\"Content-Security-Policy\" CONTENT='img-src a'>";
        let v = policy_value(tag.as_bytes(), utf8()).unwrap();
        assert_eq!(&tag[v], "img-src a");
        for no in [
            "<meta http-equiv=refresh content='0; url=/content-security-policy'>",
            "<meta name=x content=content-security-policy>",
            "<meta http-equiv=content-security-policy>",
            "<main data-x=content-security-policy content=y>",
            "<meta http-equiv=' content-security-policy' content=y>",
        ] {
            assert_eq!(policy_value(no.as_bytes(), utf8()), None, "{no}");
        }
    }

    #[test]
    fn meta_policies_get_the_edge_in_their_own_quoting() {
        let rules = RewriteRules::new(["origin.example"], "http", "127.0.0.1:7676").unwrap();
        let edit = |tag: &str| {
            let v = tag.find("content=").unwrap() + "content=".len();
            let quoted = matches!(tag.as_bytes()[v], b'"' | b'\'');
            let start = v + usize::from(quoted);
            let end = if quoted {
                start + tag[start..].find(tag.as_bytes()[v] as char).unwrap()
            } else {
                start + tag[start..].find(['>', ' ']).unwrap()
            };
            let mut out = Vec::new();
            let r = augment_meta(tag.as_bytes(), start..end, &rules, &mut out);
            (r, String::from_utf8(out).unwrap())
        };
        assert_eq!(
            edit("<meta http-equiv=Content-Security-Policy content=\"img-src origin.example\" x>"),
            (
                (true, false),
                "<meta http-equiv=Content-Security-Policy content=\"img-src origin.example http://127.0.0.1:7676\" x>".to_owned()
            )
        );
        assert_eq!(
            edit("<meta content=img-src&#32;origin.example;script-src&#32;'sha256-x'>").1,
            "<meta content=img-src&#32;origin.example&#32;http://127.0.0.1:7676;script-src&#32;'sha256-x'>"
        );
        assert_eq!(
            edit("<meta content='script-src &#39;sha256-x&#39; https://origin.example'>"),
            (
                (true, true),
                "<meta content='script-src &#39;sha256-x&#39; https://origin.example http://127.0.0.1:7676'>".to_owned()
            )
        );
        assert_eq!(
            edit("<meta content='img-src *'>"),
            ((false, false), String::new())
        );
    }
}
