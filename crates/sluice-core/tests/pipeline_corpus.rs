//! The pipeline over all 130 corpus pages: round trip, no origin URL left
//! in any URL attribute, and output independent of chunk boundaries for
//! identity/gzip/br in and out, down to 1-byte chunks.
//!
//! Splits are random but reproducible: the seed is printed and can be set
//! with `SLUICE_SPLIT_SEED`.

mod pipeline_support;

use pipeline_support::*;
use sluice_core::{ContentEncoding, ContentKind};

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

/// Attribute values of every URL-bearing attribute, via an independent
/// lol_html pass over the output.
fn url_attribute_values(html: &[u8]) -> Vec<(String, String)> {
    use lol_html::{element, HtmlRewriter, Settings};
    const URL_ATTRS: &[&str] = &[
        "href",
        "src",
        "srcset",
        "imagesrcset",
        "action",
        "formaction",
        "poster",
        "data",
        "cite",
        "background",
        "ping",
        "content",
        "style",
        "data-src",
        "data-srcset",
    ];
    let mut found = Vec::new();
    {
        let mut rw = HtmlRewriter::new(
            Settings::new().append_element_content_handler(element!("*", |el| {
                for a in el.attributes() {
                    if URL_ATTRS.contains(&a.name().as_str()) {
                        found.push((a.name(), a.value()));
                    }
                }
                Ok(())
            })),
            |_: &[u8]| {},
        );
        rw.write(html).unwrap();
        rw.end().unwrap();
    }
    found
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
fn no_url_attribute_points_at_the_origin_afterwards() {
    let mut checked = 0;
    for page in corpus().iter().filter(|p| p.host.is_some()) {
        let host = page.rewrite_host();
        let before = url_attribute_values(&page.bytes)
            .iter()
            .filter(|(_, v)| points_at(v, host))
            .count();
        let out = reference(page);
        for (name, value) in url_attribute_values(&out) {
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
