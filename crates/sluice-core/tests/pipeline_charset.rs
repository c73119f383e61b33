//! Non-UTF-8 HTML: generated windows-1252 (Latin-1) and Shift_JIS pages full
//! of high bytes come out byte-identical except for the rewritten URLs, at
//! any chunking; pages in charsets lol_html cannot tokenize pass through.
//!
//! The generator writes the expected output alongside the input (the edge
//! URL wherever it put an origin URL into a rewritten position), so the
//! oracle is independent of the pipeline.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sluice_core::{ContentEncoding, ContentKind, RewriteRules};
use support::chunks::{random_chunks, rng_for, Rng};
use support::pipeline::*;

const HOST: &str = "origin.example";
const EDGE_HERE: &str = "edge.test:8443";

fn rules() -> RewriteRules {
    RewriteRules::new([HOST], "https", EDGE_HERE).unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Charset {
    Latin1,
    ShiftJis,
}

impl Charset {
    /// One character of non-ASCII text.
    fn char(self, rng: &mut Rng) -> Vec<u8> {
        match self {
            Charset::Latin1 => vec![rng.range(0x80, 0xff) as u8],
            Charset::ShiftJis => {
                let lead = if rng.range(0, 1) == 0 {
                    rng.range(0x81, 0x9f)
                } else {
                    rng.range(0xe0, 0xfc)
                };
                // Trail bytes include 0x5C ('\') and ASCII letters on purpose.
                let trail = match rng.range(0, 3) {
                    0 => 0x5c,
                    1 => rng.range(0x40, 0x7e),
                    _ => rng.range(0x80, 0xfc),
                };
                vec![lead as u8, trail as u8]
            }
        }
    }

    fn text(self, rng: &mut Rng, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..n {
            if rng.range(0, 2) == 0 {
                out.push(b"abc xyz"[rng.range(0, 6)]);
            } else {
                out.extend(self.char(rng));
            }
        }
        out
    }
}

/// Returns (input, expected).
fn page(cs: Charset, rng: &mut Rng, meta: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let mut src = Vec::new();
    let mut exp = Vec::new();
    let mut both = |s: &[u8], e: &[u8]| {
        src.extend_from_slice(s);
        exp.extend_from_slice(e);
    };
    both(
        b"<!DOCTYPE html><html><head>",
        b"<!DOCTYPE html><html><head>",
    );
    if let Some(m) = meta {
        let tag = format!("<meta charset=\"{m}\">");
        both(tag.as_bytes(), tag.as_bytes());
    }
    for _ in 0..rng.range(20, 60) {
        let len = rng.range(1, 12);
        let t = cs.text(rng, len);
        match rng.range(0, 5) {
            // A text node with an origin URL: not rewritten.
            0 => {
                let s = [
                    b"<p>".as_slice(),
                    &t,
                    b" https://origin.example/",
                    &t,
                    b"</p>",
                ]
                .concat();
                both(&s, &s);
            }
            // A link whose path and attributes are non-ASCII.
            1 => {
                let q = if rng.range(0, 1) == 0 { b"\"" } else { b"'" };
                let s = [
                    b"<a title=".as_slice(),
                    q,
                    &t,
                    q,
                    b" href=",
                    q,
                    b"https://origin.example/",
                    &t,
                    q,
                    b">",
                    &t,
                    b"</a>",
                ]
                .concat();
                let e = [
                    b"<a title=".as_slice(),
                    q,
                    &t,
                    q,
                    b" href=",
                    q,
                    b"https://edge.test:8443/",
                    &t,
                    q,
                    b">",
                    &t,
                    b"</a>",
                ]
                .concat();
                both(&s, &e);
            }
            // An inline script with a JSON-escaped URL after non-ASCII text.
            2 => {
                let s = [
                    b"<script>var x=\"".as_slice(),
                    &t,
                    b"\",u=\"https:\\/\\/origin.example\\/",
                    &t,
                    b"\";</script>",
                ]
                .concat();
                let e = [
                    b"<script>var x=\"".as_slice(),
                    &t,
                    b"\",u=\"https:\\/\\/edge.test:8443\\/",
                    &t,
                    b"\";</script>",
                ]
                .concat();
                both(&s, &e);
            }
            // An image with an unquoted protocol-relative URL.
            3 => {
                let s = [
                    b"<img src=//origin.example/".as_slice(),
                    b"x.png alt=\"",
                    &t,
                    b"\">",
                ]
                .concat();
                let e = [
                    b"<img src=//edge.test:8443/".as_slice(),
                    b"x.png alt=\"",
                    &t,
                    b"\">",
                ]
                .concat();
                both(&s, &e);
            }
            // Plain non-ASCII text.
            _ => both(&t, &t),
        }
    }
    both(b"</head></html>", b"</head></html>");
    (src, exp)
}

fn check(cs: Charset, header: Option<&str>, meta: Option<&str>) {
    for case in 0..20 {
        let label = format!("{cs:?} header={header:?} meta={meta:?} case {case}");
        let mut rng = rng_for(&label);
        let (src, exp) = page(cs, &mut rng, meta);
        for enc in [ContentEncoding::Identity, ContentEncoding::Gzip] {
            let encoded = encode(enc, &src);
            let mut cfg = config(ContentKind::Html, enc, enc, rules());
            cfg.charset = header.map(str::to_owned);
            let chunks = random_chunks(&encoded, &mut rng);
            let got = decode(enc, &run_chunks(cfg.clone(), chunks).unwrap());
            assert_same(&got, &exp, &label);
            let ones = decode(enc, &run_chunks(cfg, encoded.chunks(1)).unwrap());
            assert_same(&ones, &exp, &format!("{label} 1-byte"));
        }
    }
}

#[test]
fn latin1_pages_are_byte_identical_except_urls() {
    check(Charset::Latin1, Some("windows-1252"), None);
    check(Charset::Latin1, Some("ISO-8859-1"), None);
    check(Charset::Latin1, None, Some("windows-1252"));
}

#[test]
fn shift_jis_pages_are_byte_identical_except_urls() {
    check(Charset::ShiftJis, Some("Shift_JIS"), None);
    check(Charset::ShiftJis, None, Some("shift_jis"));
    check(Charset::ShiftJis, Some("shift_jis"), Some("shift_jis"));
}

#[test]
fn non_ascii_compatible_charsets_pass_through_untouched() {
    // A body declared UTF-16 cannot be tokenized byte-wise; even if its
    // bytes look like ASCII URLs, nothing is touched.
    let body = b"<a href=\"https://origin.example/\">x</a>";
    for label in ["utf-16", "UTF-16LE", "utf-16be", "iso-2022-jp"] {
        let mut cfg = config(
            ContentKind::Html,
            ContentEncoding::Identity,
            ContentEncoding::Identity,
            rules(),
        );
        cfg.charset = Some(label.to_owned());
        assert_eq!(run_chunks(cfg, [body.as_slice()]).unwrap(), body, "{label}");
    }
    // Real UTF-16LE text passes through byte for byte, through gzip too.
    let utf16: Vec<u8> = "<a href=\"https://origin.example/\">\u{e9}</a>"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut cfg = config(
        ContentKind::Html,
        ContentEncoding::Gzip,
        ContentEncoding::Gzip,
        rules(),
    );
    cfg.charset = Some("utf-16le".to_owned());
    let out = run_chunks(cfg, encode(ContentEncoding::Gzip, &utf16).chunks(3)).unwrap();
    assert_eq!(decode(ContentEncoding::Gzip, &out), utf16);
    // An unknown label behaves like no label: UTF-8 tokenizing.
    let mut cfg = config(
        ContentKind::Html,
        ContentEncoding::Identity,
        ContentEncoding::Identity,
        rules(),
    );
    cfg.charset = Some("x-no-such-charset".to_owned());
    assert_eq!(
        run_chunks(cfg, [body.as_slice()]).unwrap(),
        b"<a href=\"https://edge.test:8443/\">x</a>"
    );
}
