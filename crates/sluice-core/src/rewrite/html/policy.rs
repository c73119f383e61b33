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
//! - A tag with an `integrity` attribute (`<script src integrity>`,
//!   `<link rel=stylesheet|modulepreload|preload href integrity>`, or any
//!   other element that has one) holding a URL of a rewrite host: its URLs
//!   take the raw form (`crate::rewrite::RAW_PATH_PREFIX`), which the edge
//!   serves byte-identical, so the hash still matches. `integrity` and
//!   `crossorigin` are never touched.
//!
//! Neither costs the common path anything: policy `<meta>` elements are
//! found by their own selector (a handful per page, the only elements whose
//! attributes are parsed), and only a tag that already holds a URL of a
//! rewrite host is searched for `integrity`, then read again by lol_html
//! to be sure it is an attribute and not, say, part of a URL.

use std::cell::Cell;
use std::ops::Range;

use lol_html::{element, AsciiCompatibleEncoding, HtmlRewriter, Settings};

use crate::http::csp::meta::{apply, raw_insertions, Decoded, Quote};
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
    const NAME: &[u8] = b"integrity";
    tag.windows(NAME.len())
        .any(|w| w.eq_ignore_ascii_case(NAME))
        && has_attribute(tag, NAME_STR, encoding)
}

const NAME_STR: &str = "integrity";

/// Reads one start tag with lol_html: does its element have `name`?
fn has_attribute(tag: &[u8], name: &str, encoding: AsciiCompatibleEncoding) -> bool {
    let found = Cell::new(false);
    let seen = Cell::new(false);
    let settings = Settings::new()
        .with_encoding(encoding)
        .append_element_content_handler(element!("*", |el| {
            if !seen.replace(true) {
                found.set(el.has_attribute(name));
            }
            Ok(())
        }));
    let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
    let parsed = rewriter.write(tag).is_ok() && rewriter.end().is_ok();
    parsed && found.get()
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
