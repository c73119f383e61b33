//! The pipeline over all 130 corpus pages: round trip, no origin URL left
//! in any attribute value or comment, text nodes untouched, and output independent of chunk boundaries for
//! identity/gzip/br in and out, down to 1-byte chunks.
//!
//! Splits are random but reproducible: the seed is printed and can be set
//! with `SLUICE_SPLIT_SEED`.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sluice_core::{ContentEncoding, ContentKind};
use support::chunks::{random_chunks, rng_for};
use support::pipeline::*;

/// Reference output of one page: identity in and out, one chunk.
fn reference(page: &Page) -> Vec<u8> {
    rewrite_whole(ContentKind::Html, page.rules(), &page.bytes)
}

#[test]
fn round_trip_restores_every_page_exactly() {
    let mut total = 0;
    for page in corpus() {
        let out = reference(page);
        let n = assert_round_trip(&page.bytes, &out, page.rewrite_host(), &page.name);
        if page.host.is_none() {
            assert_eq!(out, page.bytes, "{}: nothing to rewrite", page.name);
        }
        total += n;
    }
    // The corpus is full of origin URLs: if this drops to zero the matcher
    // is broken, not the pages.
    assert!(total > 3000, "only {total} URLs rewritten over the corpus");
}

/// Every attribute value and every comment of a document, via an
/// independent lol_html pass. The rewriter covers all attribute values (no
/// allow-list) and comments whole, so none of them may still point at the
/// origin afterwards.
fn attribute_values_and_comments(html: &[u8]) -> Vec<(String, String)> {
    use lol_html::{doc_comments, element, HtmlRewriter, Settings};
    let found = std::cell::RefCell::new(Vec::new());
    {
        let mut rw = HtmlRewriter::new(
            Settings::new()
                .append_element_content_handler(element!("*", |el| {
                    for a in el.attributes() {
                        found.borrow_mut().push((a.name(), a.value()));
                    }
                    Ok(())
                }))
                .append_document_content_handler(doc_comments!(|c| {
                    found.borrow_mut().push(("<!--".to_owned(), c.text()));
                    Ok(())
                })),
            |_: &[u8]| {},
        );
        rw.write(html).unwrap();
        rw.end().unwrap();
    }
    found.into_inner()
}

/// The text of every text node outside `<script>`, `<style>` and
/// `<noscript>` (whose raw text the byte replacer rewrites), in document
/// order, via an independent lol_html pass. Includes `<textarea>` and
/// `<title>` text and prose.
fn prose(html: &[u8]) -> Vec<u8> {
    use lol_html::{doc_text, element, HtmlRewriter, Settings};
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    let depth = Rc::new(Cell::new(0u32));
    let text = RefCell::new(Vec::new());
    {
        let d = Rc::clone(&depth);
        let mut rw = HtmlRewriter::new(
            Settings::new()
                .append_element_content_handler(element!("script, style, noscript", move |el| {
                    if let Some(handlers) = el.end_tag_handlers() {
                        d.set(d.get() + 1);
                        let d = Rc::clone(&d);
                        let on_end: lol_html::EndTagHandler<'static> = Box::new(move |_end| {
                            d.set(d.get().saturating_sub(1));
                            Ok(())
                        });
                        handlers.push(on_end);
                    }
                    Ok(())
                }))
                .append_document_content_handler(doc_text!(|t| {
                    if depth.get() == 0 {
                        text.borrow_mut().extend_from_slice(t.as_str().as_bytes());
                    }
                    Ok(())
                })),
            |_: &[u8]| {},
        );
        rw.write(html).unwrap();
        rw.end().unwrap();
    }
    text.into_inner()
}

#[test]
fn text_nodes_textarea_and_prose_are_never_rewritten() {
    let mut with_origin_text = 0;
    for page in corpus().iter().filter(|p| p.host.is_some()) {
        let before = prose(&page.bytes);
        let out = reference(page);
        let after = prose(&out);
        assert_same(&after, &before, &format!("{} text nodes", page.name));
        if points_at(&String::from_utf8_lossy(&before), page.rewrite_host()) {
            with_origin_text += 1;
        }
    }
    // Otherwise this test would prove nothing.
    assert!(
        with_origin_text > 0,
        "no corpus page has an origin URL in its text"
    );
}

/// True if `s` still contains an http(s) or scheme-less `//host` (or
/// `\/\/host`) followed by a host boundary — written independently of the
/// matcher under test. App deep links (`com.example.app://host/`) are not
/// web URLs and stay.
fn points_at(s: &str, host: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    for marker in ["//", "\\/\\/"] {
        let needle = format!("{marker}{host}");
        let mut from = 0;
        while let Some(at) = lower[from..].find(&needle) {
            let end = from + at + needle.len();
            let next = lower.as_bytes().get(end).copied();
            let after = lower.as_bytes().get(end + 1).copied();
            let host_char = |c: Option<u8>| {
                c.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            };
            let continues = host_char(next)
                || (next == Some(b'.') && host_char(after))
                || (next == Some(b':') && after.is_some_and(|c| c.is_ascii_digit()))
                || next == Some(b'@')
                || next == Some(b'%');
            let start = from + at;
            let scheme_ok = !lower[..start].ends_with(':')
                || lower[..start].ends_with("http:")
                || lower[..start].ends_with("https:");
            if !continues && scheme_ok {
                return true;
            }
            from = end;
        }
    }
    false
}

#[test]
fn no_attribute_or_comment_points_at_the_origin_afterwards() {
    let mut checked = 0;
    for page in corpus().iter().filter(|p| p.host.is_some()) {
        let host = page.rewrite_host();
        let before = attribute_values_and_comments(&page.bytes)
            .iter()
            .filter(|(_, v)| points_at(v, host))
            .count();
        let out = reference(page);
        for (name, value) in attribute_values_and_comments(&out) {
            assert!(
                !points_at(&value, host),
                "{}: {name}={value:?} still points at {host}",
                page.name
            );
        }
        checked += before;
    }
    assert!(
        checked > 1000,
        "only {checked} origin URL attributes in the corpus"
    );
}

/// Every page, the given input encoding to each output encoding, random
/// chunking; the decoded output must equal the one-chunk identity
/// reference.
fn chunking_invariance(input: ContentEncoding, outputs: &[ContentEncoding]) {
    for page in corpus() {
        let want = reference(page);
        let encoded = encode(input, &page.bytes);
        for &output in outputs {
            let label = format!("{} {input}->{output}", page.name);
            let mut rng = rng_for(&label);
            let chunks = random_chunks(&encoded, &mut rng);
            let got = run_chunks(
                config(ContentKind::Html, input, output, page.rules()),
                chunks,
            )
            .unwrap();
            assert_same(&decode(output, &got), &want, &label);
        }
    }
}

#[test]
fn chunking_invariance_identity_in() {
    chunking_invariance(ContentEncoding::Identity, &ENCODINGS);
}

#[test]
fn chunking_invariance_gzip_in() {
    chunking_invariance(ContentEncoding::Gzip, &ENCODINGS);
}

#[test]
fn chunking_invariance_brotli_in() {
    chunking_invariance(ContentEncoding::Brotli, &ENCODINGS);
}

#[test]
fn chunking_invariance_deflate_in_and_out() {
    chunking_invariance(ContentEncoding::Deflate, &[ContentEncoding::Deflate]);
}

/// Every page fed one decoded byte at a time (the hardest split: every
/// token, attribute and URL crosses a boundary).
#[test]
fn one_byte_chunks_identity() {
    for page in corpus() {
        let want = reference(page);
        let got = run_chunks(
            config(
                ContentKind::Html,
                ContentEncoding::Identity,
                ContentEncoding::Identity,
                page.rules(),
            ),
            page.bytes.chunks(1),
        )
        .unwrap();
        assert_same(&got, &want, &page.name);
    }
}

/// Every page's gzip and brotli encodings fed one encoded byte at a time.
#[test]
fn one_byte_chunks_compressed() {
    for page in corpus() {
        let want = reference(page);
        for enc in [ContentEncoding::Gzip, ContentEncoding::Brotli] {
            let encoded = encode(enc, &page.bytes);
            let got = run_chunks(
                config(
                    ContentKind::Html,
                    enc,
                    ContentEncoding::Identity,
                    page.rules(),
                ),
                encoded.chunks(1),
            )
            .unwrap();
            assert_same(&got, &want, &format!("{} {enc} 1-byte", page.name));
        }
    }
}

/// The corpus pages with a policy `<meta>` or `integrity=`, each with an
/// extra rewrite host that their policy or pinned tags name, so the real
/// pages go through the append-only policy edit and the raw form.
fn security_pages() -> Vec<(&'static Page, Vec<String>)> {
    let extra = [
        ("toc-missing.html", "goat.hakibenita.com"),
        ("gitlab-blog.html", "www.googletagmanager.com"),
        ("folha.html", "www1.folha.uol.com.br"),
        ("medicalnewstoday.html", "maxcdn.bootstrapcdn.com"),
        ("videos-1.html", "cdn.vox-cdn.com"),
        ("article-author-tag.html", "www.atlasobscura.com"),
    ];
    extra
        .iter()
        .map(|(name, host)| {
            let page = corpus()
                .iter()
                .find(|p| p.name == *name)
                .unwrap_or_else(|| panic!("{name} is in the corpus"));
            let mut hosts = vec![(*host).to_owned()];
            if let Some(own) = &page.host {
                if own != host {
                    hosts.push(own.clone());
                }
            }
            (page, hosts)
        })
        .collect()
}

/// `(name, value)` of every `integrity`/`crossorigin` attribute and the
/// `content` of every policy `<meta>`, via an independent lol_html pass.
fn security_attributes(html: &[u8]) -> (Vec<(String, String)>, Vec<String>) {
    use lol_html::{element, HtmlRewriter, Settings};
    let pins = std::cell::RefCell::new(Vec::new());
    let policies = std::cell::RefCell::new(Vec::new());
    {
        let mut rw = HtmlRewriter::new(
            Settings::new().append_element_content_handler(element!("*", |el| {
                for a in el.attributes() {
                    if matches!(a.name().as_str(), "integrity" | "crossorigin" | "nonce") {
                        pins.borrow_mut().push((a.name(), a.value()));
                    }
                }
                let policy = el.tag_name() == "meta"
                    && el
                        .get_attribute("http-equiv")
                        .is_some_and(|e| e.eq_ignore_ascii_case("content-security-policy"));
                if policy {
                    policies
                        .borrow_mut()
                        .push(el.get_attribute("content").unwrap_or_default());
                }
                Ok(())
            })),
            |_: &[u8]| {},
        );
        rw.write(html).unwrap();
        rw.end().unwrap();
    }
    (pins.into_inner(), policies.into_inner())
}

#[test]
fn security_pages_keep_their_protections_at_any_split() {
    let mut raw_urls = 0;
    let mut augmented = 0;
    for (page, hosts) in security_pages() {
        let rules = sluice_core::RewriteRules::new(&hosts, SCHEME, EDGE).unwrap();
        let want = rewrite_whole(ContentKind::Html, rules.clone(), &page.bytes);
        let host_refs: Vec<&str> = hosts.iter().map(String::as_str).collect();
        assert_round_trip_hosts(&page.bytes, &want, &host_refs, &page.name);
        // integrity, crossorigin and nonce values are byte-identical.
        let (pins_before, policies_before) = security_attributes(&page.bytes);
        let (pins_after, policies_after) = security_attributes(&want);
        assert_eq!(pins_after, pins_before, "{}", page.name);
        // Each policy keeps everything it had and only gains sources.
        assert_eq!(policies_after.len(), policies_before.len());
        let appended = format!(" {SCHEME}://{EDGE}");
        for (before, after) in policies_before.iter().zip(&policies_after) {
            // Take the appended sources out again: the original is left.
            let mut stripped = after.clone();
            while let Some(at) = stripped.find(&appended) {
                let tail = &stripped[at + appended.len()..];
                let len = tail.find([' ', ';', '\'']).unwrap_or(tail.len());
                stripped.replace_range(at..at + appended.len() + len, "");
            }
            assert_eq!(&stripped, before, "{}", page.name);
            if after != before {
                augmented += 1;
            }
        }
        raw_urls += String::from_utf8_lossy(&want)
            .matches("/_sluice-raw/")
            .count();
        // Chunk boundaries change nothing, down to one byte.
        for enc in [ContentEncoding::Identity, ContentEncoding::Gzip] {
            let encoded = encode(enc, &page.bytes);
            let label = format!("{} {enc}", page.name);
            let mut rng = rng_for(&label);
            let cfg = || {
                config(
                    ContentKind::Html,
                    enc,
                    ContentEncoding::Identity,
                    rules.clone(),
                )
            };
            let got = run_chunks(cfg(), random_chunks(&encoded, &mut rng)).unwrap();
            assert_same(&got, &want, &label);
        }
        let ones = run_chunks(
            config(
                ContentKind::Html,
                ContentEncoding::Identity,
                ContentEncoding::Identity,
                rules,
            ),
            page.bytes.chunks(1),
        )
        .unwrap();
        assert_same(&ones, &want, &format!("{} 1-byte", page.name));
    }
    // The pages really take the new paths: two policies gain the edge
    // (toc-missing, gitlab-blog) and the pinned tags of two pages their
    // raw form (medicalnewstoday's stylesheet, videos-1's scripts).
    assert!(augmented >= 2, "{augmented} policies augmented");
    assert!(raw_urls >= 3, "{raw_urls} raw URLs");
}
