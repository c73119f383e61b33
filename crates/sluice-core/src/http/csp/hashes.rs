//! Hash sources: the post-processor of the buffered path.
//!
//! A policy can allow an inline script by the hash of its text
//! (`'sha256-…'`). Rewriting a URL inside that text changes the hash, and
//! the browser blocks the script. The fix needs the whole document before
//! the headers go out: both versions of every inline `<script>` and
//! `<style>` are found with lol_html and paired in document order, and for
//! each one whose text changed, every directive that governs it and lists
//! the hash of the *original* text (by algorithm) gets the hash of the
//! rewritten text next to it. A script the origin's policy did not allow
//! by hash gets nothing: the edge never widens a policy.
//!
//! Nonces need nothing: the `nonce` attribute is left as it is.

use std::collections::BTreeMap;

use super::inline::{as_hashed, scan, Inline, InlineKind};
use super::meta::{apply, raw_insertions, Decoded};
use super::policy::{insert_all, parse_list, parse_policy, Policy};
use super::source::{has_hash, lists_hash, HashAlg};

/// The policy headers of one response, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyHeaders {
    /// `Content-Security-Policy` values.
    pub enforce: Vec<String>,
    /// `Content-Security-Policy-Report-Only` values.
    pub report_only: Vec<String>,
}

impl PolicyHeaders {
    /// Does any of them allow an inline script or style by hash (so an
    /// HTML response must be buffered to keep them working)?
    pub fn needs_hashes(&self) -> bool {
        self.enforce
            .iter()
            .chain(&self.report_only)
            .any(|v| needs_hashes(v))
    }
}

/// Does this `Content-Security-Policy` value (a list of policies) allow
/// inline scripts or styles by hash: does the directive that governs
/// `<script>` (`script-src-elem`, else `script-src`, else `default-src`)
/// or `<style>` (the same with `style-`) list a hash source? Only then
/// does rewriting an inline element need the buffered path.
pub fn needs_hashes(policy: &str) -> bool {
    parse_list(policy).iter().any(policy_has_hashes)
}

pub(crate) fn policy_has_hashes(p: &Policy<'_>) -> bool {
    [InlineKind::Script, InlineKind::Style]
        .iter()
        .filter_map(|k| p.governing(k.directives()))
        .any(|d| has_hash(&d.tokens))
}

/// The result of [`complete_hashes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashCompletion {
    /// The headers with hash sources added (same order and count).
    pub headers: PolicyHeaders,
    /// The rewritten document with hash sources added to its policy
    /// `<meta>` elements; `None` when none changed.
    pub document: Option<Vec<u8>>,
    /// Hash sources added, headers and `<meta>` together.
    pub added: usize,
    /// Inline scripts and styles whose text the rewrite changed.
    pub changed: usize,
}

/// Why a document's hashes could not be completed (the adapter then sends
/// the document as rewritten, and logs it).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    /// lol_html could not read one of the documents.
    #[error("HTML scan failed: {0}")]
    Html(String),
    /// The two documents do not have the same inline elements, so they
    /// cannot be paired (never expected: the rewrite changes no markup).
    #[error("the original has {original} inline elements, the rewrite {rewritten}")]
    Mismatch {
        /// Inline elements in the original.
        original: usize,
        /// Inline elements in the rewritten document.
        rewritten: usize,
    },
}

/// Adds the hashes of rewritten inline scripts and styles to the
/// policies that allowed their original text by hash: in `headers`, and
/// in the `<meta>` policies of `rewritten` (a `<meta>` policy only
/// governs elements after it). `original` and `rewritten` are the whole
/// decoded document before and after the rewrite, `charset` the
/// `Content-Type` charset (texts are hashed as UTF-8, the way CSP hashes
/// them, whatever the page's encoding).
pub fn complete_hashes(
    headers: &PolicyHeaders,
    original: &[u8],
    rewritten: &[u8],
    charset: Option<&str>,
) -> Result<HashCompletion, HashError> {
    let unchanged = |changed| HashCompletion {
        headers: headers.clone(),
        document: None,
        added: 0,
        changed,
    };
    let (Some(before), Some(after)) = (
        scan(original, charset).map_err(HashError::Html)?,
        scan(rewritten, charset).map_err(HashError::Html)?,
    ) else {
        return Ok(unchanged(0));
    };
    if before.inline.len() != after.inline.len()
        || before
            .inline
            .iter()
            .zip(&after.inline)
            .any(|(a, b)| a.kind != b.kind)
    {
        return Err(HashError::Mismatch {
            original: before.inline.len(),
            rewritten: after.inline.len(),
        });
    }
    let changed: Vec<(&Inline, &Inline)> = before
        .inline
        .iter()
        .zip(&after.inline)
        .filter(|(a, b)| a.text != b.text)
        .collect();
    if changed.is_empty() {
        return Ok(unchanged(0));
    }

    let mut added = 0;
    let mut complete = |value: &str, list: bool, governs: &dyn Fn(&Inline) -> bool| {
        let policies = if list {
            parse_list(value)
        } else {
            vec![parse_policy(value)]
        };
        let mut inserts: Insertions = BTreeMap::new();
        for p in &policies {
            for (old, new) in changed.iter().filter(|(_, new)| governs(new)) {
                add_hashes(p, old, new, &mut inserts);
            }
        }
        added += inserts.values().map(Vec::len).sum::<usize>();
        flatten(inserts)
    };

    let mut out = headers.clone();
    for v in out.enforce.iter_mut().chain(out.report_only.iter_mut()) {
        let inserts = complete(v, true, &|_| true);
        if !inserts.is_empty() {
            *v = insert_all(v, &inserts);
        }
    }
    let mut raw = Vec::new();
    for m in &after.metas {
        let value = rewritten.get(m.value.clone()).unwrap_or_default();
        let decoded = Decoded::new(value);
        let inserts = complete(&decoded.text, false, &|el: &Inline| el.at > m.at);
        raw.extend(
            raw_insertions(&decoded, &inserts, m.quote)
                .into_iter()
                .map(|(at, bytes)| (m.value.start + at, bytes)),
        );
    }
    let document = (!raw.is_empty()).then(|| {
        let mut doc =
            Vec::with_capacity(rewritten.len() + raw.iter().map(|r| r.1.len()).sum::<usize>());
        apply(rewritten, &raw, &mut doc);
        doc
    });
    Ok(HashCompletion {
        headers: out,
        document,
        added,
        changed: changed.len(),
    })
}

/// Sources to insert, by offset, in the order they were added.
type Insertions = BTreeMap<usize, Vec<String>>;

/// The hash sources `p` needs for one changed element.
fn add_hashes(p: &Policy<'_>, old: &Inline, new: &Inline, inserts: &mut Insertions) {
    let Some(d) = p.governing(old.kind.directives()) else {
        return;
    };
    let (old_text, new_text) = (as_hashed(&old.text), as_hashed(&new.text));
    for alg in HashAlg::ALL {
        if !lists_hash(&d.tokens, alg, &old_text) || lists_hash(&d.tokens, alg, &new_text) {
            continue;
        }
        let src = alg.source(&new_text);
        let at = inserts.entry(d.end).or_default();
        if !at.contains(&src) {
            at.push(src);
        }
    }
}

fn flatten(inserts: Insertions) -> Vec<(usize, String)> {
    inserts
        .into_iter()
        .map(|(at, sources)| {
            let mut text = String::new();
            for s in sources {
                text.push(' ');
                text.push_str(&s);
            }
            (at, text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(alg: HashAlg, text: &str) -> String {
        alg.source(text)
    }

    const OLD: &str = "load('https://origin.example/a.js')";
    const NEW: &str = "load('http://edge.test/a.js')";

    fn doc(script: &str) -> Vec<u8> {
        format!("<!doctype html><head><script>{script}</script><script>keep()</script></head>")
            .into_bytes()
    }

    fn headers(enforce: &[&str]) -> PolicyHeaders {
        PolicyHeaders {
            enforce: enforce.iter().map(|s| (*s).to_owned()).collect(),
            report_only: Vec::new(),
        }
    }

    #[test]
    fn detects_hash_policies() {
        let s = h(HashAlg::Sha256, "x");
        assert!(needs_hashes(&format!("script-src 'self' {s}")));
        assert!(needs_hashes(&format!("default-src {s}")));
        assert!(needs_hashes(&format!("img-src *, style-src-elem {s}")));
        assert!(!needs_hashes("script-src 'nonce-abc' 'self'"));
        assert!(!needs_hashes("img-src 'sha256-abc'"));
        // script-src-elem governs elements, so hashes in script-src do
        // not matter for them.
        assert!(!needs_hashes(&format!(
            "script-src-elem 'self'; script-src {s}"
        )));
        assert!(!needs_hashes(""));
        let both = PolicyHeaders {
            enforce: vec!["img-src *".into()],
            report_only: vec![format!("script-src {s}")],
        };
        assert!(both.needs_hashes());
        assert!(!PolicyHeaders::default().needs_hashes());
    }

    #[test]
    fn adds_the_new_hash_next_to_each_listed_algorithm() {
        let (s256, s384) = (h(HashAlg::Sha256, OLD), h(HashAlg::Sha384, OLD));
        let keep = h(HashAlg::Sha512, "keep()");
        let value = format!("default-src 'self'; script-src {s256} {s384} {keep}; img-src *");
        let got = complete_hashes(&headers(&[&value]), &doc(OLD), &doc(NEW), None).unwrap();
        let want = format!(
            "default-src 'self'; script-src {s256} {s384} {keep} {} {}; img-src *",
            h(HashAlg::Sha256, NEW),
            h(HashAlg::Sha384, NEW)
        );
        assert_eq!(got.headers.enforce, [want]);
        assert_eq!((got.added, got.changed, got.document), (2, 1, None));
    }

    #[test]
    fn follows_the_fallback_order_and_each_policy_alone() {
        let s = h(HashAlg::Sha256, OLD);
        let new = h(HashAlg::Sha256, NEW);
        let cases = [
            (format!("default-src {s}"), format!("default-src {s} {new}")),
            // script-src governs; the hash in default-src is not used.
            (
                format!("default-src {s}; script-src 'self'"),
                format!("default-src {s}; script-src 'self'"),
            ),
            (
                format!("script-src {s}; script-src-elem {s}"),
                format!("script-src {s}; script-src-elem {s} {new}"),
            ),
            // Two policies in one header: each completed on its own.
            (
                format!("script-src {s}, default-src {s}"),
                format!("script-src {s} {new}, default-src {s} {new}"),
            ),
            // A style policy says nothing about scripts.
            (format!("style-src {s}"), format!("style-src {s}")),
        ];
        for (value, want) in cases {
            let got = complete_hashes(&headers(&[&value]), &doc(OLD), &doc(NEW), None).unwrap();
            assert_eq!(got.headers.enforce, [want], "{value}");
        }
    }

    #[test]
    fn never_allows_what_the_origin_did_not() {
        // Allowed by 'unsafe-inline' or a nonce, or not at all: nothing.
        for value in [
            "script-src 'unsafe-inline'".to_owned(),
            "script-src 'nonce-abc'".to_owned(),
            format!("script-src {}", h(HashAlg::Sha256, "something else")),
            format!("script-src {}", h(HashAlg::Sha256, NEW)),
        ] {
            let got = complete_hashes(&headers(&[&value]), &doc(OLD), &doc(NEW), None).unwrap();
            assert_eq!(got.headers.enforce, std::slice::from_ref(&value));
            assert_eq!(got.added, 0);
        }
        // Unchanged documents: nothing to do.
        let value = format!("script-src {}", h(HashAlg::Sha256, OLD));
        let got = complete_hashes(&headers(&[&value]), &doc(OLD), &doc(OLD), None).unwrap();
        assert_eq!((got.added, got.changed), (0, 0));
    }

    #[test]
    fn completes_meta_policies_after_them_only_and_keeps_quoting() {
        let s = h(HashAlg::Sha256, OLD);
        let new = h(HashAlg::Sha256, NEW);
        let page = |script: &str, q: char| {
            let content = format!("script-src {s}");
            let content = if q == '\'' {
                content.replace('\'', "&#39;")
            } else {
                content
            };
            format!(
                "<script>{script}</script><meta http-equiv=Content-Security-Policy \
                 content={q}{content}{q}><script>{script}</script>"
            )
            .into_bytes()
        };
        // Double quotes: the hash goes in as written.
        let got = complete_hashes(
            &PolicyHeaders::default(),
            &page(OLD, '"'),
            &page(NEW, '"'),
            None,
        )
        .unwrap();
        let doc = String::from_utf8(got.document.unwrap()).unwrap();
        assert_eq!(
            doc,
            String::from_utf8(page(NEW, '"'))
                .unwrap()
                .replace(&s, &format!("{s} {new}"))
        );
        // Only the script after the meta is governed by it: one addition.
        assert_eq!((got.added, got.changed), (1, 2));
        // Single quotes: the policy is written with `&#39;`, and so is the
        // addition.
        let got = complete_hashes(
            &PolicyHeaders::default(),
            &page(OLD, '\''),
            &page(NEW, '\''),
            None,
        )
        .unwrap();
        let doc = String::from_utf8(got.document.unwrap()).unwrap();
        assert!(
            doc.contains(&format!(
                "{} {}'>",
                s.replace('\'', "&#39;"),
                new.replace('\'', "&#39;")
            )),
            "{doc}"
        );
    }

    #[test]
    fn hashes_the_utf8_text_of_a_legacy_encoded_page() {
        let old = b"<script>x='caf\xe9 https://origin.example/'</script>";
        let new = b"<script>x='caf\xe9 http://edge.test/'</script>";
        let s = h(HashAlg::Sha256, "x='caf\u{e9} https://origin.example/'");
        let value = format!("script-src {s}");
        let got = complete_hashes(&headers(&[&value]), old, new, Some("windows-1252")).unwrap();
        assert_eq!(
            got.headers.enforce,
            [format!(
                "{value} {}",
                h(HashAlg::Sha256, "x='caf\u{e9} http://edge.test/'")
            )]
        );
    }

    #[test]
    fn hashes_newline_normalised_text() {
        let (old, new) = (
            "a()\r\nb('https://origin.example')",
            "a()\r\nb('http://edge.test')",
        );
        let s = h(HashAlg::Sha256, &old.replace('\r', ""));
        let value = format!("script-src {s}");
        let got = complete_hashes(&headers(&[&value]), &doc(old), &doc(new), None).unwrap();
        assert_eq!(
            got.headers.enforce,
            [format!(
                "{value} {}",
                h(HashAlg::Sha256, &new.replace('\r', ""))
            )]
        );
    }

    #[test]
    fn report_only_policies_are_completed_too() {
        let s = h(HashAlg::Sha512, OLD);
        let hs = PolicyHeaders {
            enforce: vec!["img-src *".into()],
            report_only: vec![format!("script-src {s}")],
        };
        let got = complete_hashes(&hs, &doc(OLD), &doc(NEW), None).unwrap();
        assert_eq!(got.headers.enforce, ["img-src *"]);
        assert_eq!(
            got.headers.report_only,
            [format!("script-src {s} {}", h(HashAlg::Sha512, NEW))]
        );
    }

    #[test]
    fn refuses_documents_that_do_not_pair() {
        let err = complete_hashes(
            &headers(&["script-src 'sha256-x'"]),
            b"<script>a</script>",
            b"<script>a</script><style>b</style>",
            None,
        );
        assert_eq!(
            err,
            Err(HashError::Mismatch {
                original: 1,
                rewritten: 2
            })
        );
    }
}
