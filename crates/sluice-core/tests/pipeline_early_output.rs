//! Early output: with every output coding, what has been written after half
//! the input already decodes to a non-empty prefix of the final output —
//! the client can render before the origin finishes. And every
//! `write_chunk` flushes the writer.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

use sluice_core::{ContentEncoding, ContentKind, Pipeline};
use support::pipeline::*;

/// A writer the test can read while the pipeline still owns it.
#[derive(Clone, Default)]
struct Shared {
    bytes: Rc<RefCell<Vec<u8>>>,
    flushes: Rc<RefCell<usize>>,
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        *self.flushes.borrow_mut() += 1;
        Ok(())
    }
}

fn largest_page() -> &'static Page {
    corpus()
        .iter()
        .filter(|p| p.host.is_some())
        .max_by_key(|p| p.bytes.len())
        .unwrap()
}

fn half_then_rest(
    kind: ContentKind,
    page: &Page,
    body: &[u8],
    input: ContentEncoding,
    output: ContentEncoding,
) {
    let label = format!("{} {input}->{output}", page.name);
    let encoded = encode(input, body);
    let w = Shared::default();
    let mut p = Pipeline::new(config(kind, input, output, page.rules()), w.clone()).unwrap();
    let half = encoded.len() / 2;
    let mut chunks = 0;
    for c in encoded[..half].chunks(8 << 10) {
        p.write_chunk(c).unwrap();
        chunks += 1;
    }
    assert_eq!(
        *w.flushes.borrow(),
        chunks,
        "{label}: one writer flush per chunk"
    );
    let early = decode_prefix(output, &w.bytes.borrow());
    // How much of the body the first half of the *encoded* input carries
    // (with brotli's large window, much less than half).
    let available = decode_prefix(input, &encoded[..half]).len();
    for c in encoded[half..].chunks(8 << 10) {
        p.write_chunk(c).unwrap();
    }
    p.finish().unwrap();
    let full = decode(output, &w.bytes.borrow());
    let want = rewrite_whole(kind, page.rules(), body);
    assert_same(&full, &want, &label);
    // All the input decodable so far must already be out, except a
    // bounded tail: an unfinished tag or URL (and rewrites change lengths
    // by a few bytes per URL).
    assert!(
        available > 0,
        "{label}: the test input carries nothing in its first half"
    );
    assert!(
        early.len() + (64 << 10) >= available,
        "{label}: only {} bytes decodable out of {available} available after half the input",
        early.len()
    );
    assert!(
        full.starts_with(&early),
        "{label}: early output is not a prefix of the final output"
    );
}

#[test]
fn half_an_html_page_is_already_decodable() {
    let page = largest_page();
    for input in [
        ContentEncoding::Identity,
        ContentEncoding::Gzip,
        ContentEncoding::Brotli,
    ] {
        for output in [
            ContentEncoding::Gzip,
            ContentEncoding::Brotli,
            ContentEncoding::Deflate,
            ContentEncoding::Identity,
        ] {
            half_then_rest(ContentKind::Html, page, &page.bytes, input, output);
        }
    }
}

#[test]
fn half_a_css_body_is_already_decodable() {
    let page = largest_page();
    let host = page.rewrite_host();
    let css: Vec<u8> = (0..20_000)
        .map(|i| format!(".c{i}{{background:url(https://{host}/img/{i}.png)}}\n"))
        .collect::<String>()
        .into_bytes();
    for enc in [ContentEncoding::Gzip, ContentEncoding::Brotli] {
        half_then_rest(ContentKind::Css, page, &css, enc, enc);
    }
}

#[test]
fn the_first_chunk_produces_output() {
    // A page's first 32 KiB, gzip in and out: decodable bytes come out of
    // the very first write_chunk.
    let page = largest_page();
    for enc in [ContentEncoding::Gzip, ContentEncoding::Brotli] {
        let encoded = encode(enc, &page.bytes);
        let w = Shared::default();
        let mut p =
            Pipeline::new(config(ContentKind::Html, enc, enc, page.rules()), w.clone()).unwrap();
        p.write_chunk(&encoded[..encoded.len().min(8 << 10)])
            .unwrap();
        let early = decode_prefix(enc, &w.bytes.borrow());
        assert!(
            early.len() > 1000,
            "{enc}: only {} bytes after the first chunk",
            early.len()
        );
        assert!(page.bytes.starts_with(&early[..100]), "{enc}");
    }
}

#[test]
fn one_large_chunk_is_decoded_completely_by_write_chunk() {
    // Regression: with a full output buffer, brotli reported "needs more
    // input" while decoded bytes still sat in its ring buffer, so they only
    // came out with the next chunk.
    let page = largest_page();
    for enc in [
        ContentEncoding::Gzip,
        ContentEncoding::Deflate,
        ContentEncoding::Brotli,
    ] {
        let encoded = encode(enc, &page.bytes);
        let half = &encoded[..encoded.len() / 2];
        let available = decode_prefix(enc, half).len() as u64;
        let mut p = Pipeline::new(
            config(
                ContentKind::Other,
                enc,
                ContentEncoding::Identity,
                page.rules(),
            ),
            Vec::new(),
        )
        .unwrap();
        p.write_chunk(half).unwrap();
        assert_eq!(
            p.stats().bytes_decoded,
            available,
            "{enc}: half in one chunk"
        );
        p.write_chunk(&encoded[half.len()..]).unwrap();
        assert_eq!(
            p.stats().bytes_decoded,
            page.bytes.len() as u64,
            "{enc}: whole stream"
        );
        assert_eq!(p.finish().unwrap(), page.bytes, "{enc}");
    }
}
