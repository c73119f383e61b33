//! Exact-bytes fixtures: `tests/fixtures/NAME.src.EXT` must rewrite to
//! `NAME.expected.EXT`, whole, in 1-byte chunks and at random splits, and
//! through gzip and brotli.
//!
//! All fixtures use the rewrite hosts `origin.example` and `example.com`,
//! the request scheme `https` and the edge authority `edge.test:8443`. The
//! extension picks the content kind; `NAME@CHARSET` passes `CHARSET` as the
//! `Content-Type` charset. Expected files are written by hand.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use sluice_core::{ContentEncoding, ContentKind, RewriteRules};
use support::chunks::{random_chunks, rng_for};
use support::pipeline::*;

fn rules() -> RewriteRules {
    RewriteRules::new(["origin.example", "example.com"], "https", "edge.test:8443").unwrap()
}

fn kind_for(ext: &str) -> ContentKind {
    match ext {
        "html" => ContentKind::Html,
        "css" => ContentKind::Css,
        "js" => ContentKind::JavaScript,
        "json" => ContentKind::Json,
        "xml" => ContentKind::Xml,
        "svg" => ContentKind::Svg,
        "txt" => ContentKind::Text,
        other => panic!("no content kind for fixture extension {other}"),
    }
}

struct Fixture {
    name: String,
    kind: ContentKind,
    charset: Option<String>,
    src: Vec<u8>,
    expected: Vec<u8>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some((stem, ext)) = file.split_once(".src.") else {
            continue;
        };
        let expected_path = dir.join(format!("{stem}.expected.{ext}"));
        let expected = std::fs::read(&expected_path)
            .unwrap_or_else(|_| panic!("{file} has no {}", expected_path.display()));
        let charset = stem.split_once('@').map(|(_, c)| c.to_owned());
        out.push(Fixture {
            name: file.clone(),
            kind: kind_for(ext),
            charset,
            src: std::fs::read(&path).unwrap(),
            expected,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 11, "fixtures missing: found {}", out.len());
    out
}

fn run(
    f: &Fixture,
    input: ContentEncoding,
    output: ContentEncoding,
    chunks: Vec<&[u8]>,
) -> Vec<u8> {
    let mut cfg = config(f.kind, input, output, rules());
    cfg.charset = f.charset.clone();
    decode(output, &run_chunks(cfg, chunks).unwrap())
}

#[test]
fn fixtures_rewrite_to_their_expected_bytes() {
    for f in fixtures() {
        let got = run(
            &f,
            ContentEncoding::Identity,
            ContentEncoding::Identity,
            vec![&f.src],
        );
        assert_same(&got, &f.expected, &f.name);
    }
}

#[test]
fn fixtures_are_chunking_invariant() {
    for f in fixtures() {
        let one_byte = run(
            &f,
            ContentEncoding::Identity,
            ContentEncoding::Identity,
            f.src.chunks(1).collect(),
        );
        assert_same(&one_byte, &f.expected, &format!("{} 1-byte", f.name));
        // Every two-way split point.
        for at in 0..=f.src.len() {
            let (a, b) = f.src.split_at(at);
            let got = run(
                &f,
                ContentEncoding::Identity,
                ContentEncoding::Identity,
                vec![a, b],
            );
            assert_same(&got, &f.expected, &format!("{} split at {at}", f.name));
        }
        for enc in [
            ContentEncoding::Gzip,
            ContentEncoding::Brotli,
            ContentEncoding::Deflate,
        ] {
            let encoded = encode(enc, &f.src);
            let mut rng = rng_for(&format!("{} {enc}", f.name));
            let got = run(&f, enc, enc, random_chunks(&encoded, &mut rng));
            assert_same(&got, &f.expected, &format!("{} {enc}", f.name));
            let got = run(
                &f,
                enc,
                ContentEncoding::Identity,
                encoded.chunks(1).collect(),
            );
            assert_same(&got, &f.expected, &format!("{} {enc} 1-byte", f.name));
        }
    }
}

#[test]
fn fixtures_count_their_rewrites() {
    // Each rewritten URL is counted once, and the byte counters add up.
    for f in fixtures() {
        let mut cfg = config(
            f.kind,
            ContentEncoding::Identity,
            ContentEncoding::Identity,
            rules(),
        );
        cfg.charset = f.charset.clone();
        let mut p = sluice_core::Pipeline::new(cfg, Vec::new()).unwrap();
        for chunk in f.src.chunks(7) {
            p.write_chunk(chunk).unwrap();
        }
        let (out, stats) = p.finish_with_stats().unwrap();
        assert_eq!(out, f.expected, "{}", f.name);
        let edges = memchr::memmem::find_iter(&out, b"edge.test:8443").count() as u64;
        assert!(edges > 0, "{} rewrites nothing", f.name);
        assert_eq!(stats.urls_rewritten, edges, "{}", f.name);
        assert_eq!(stats.bytes_in, f.src.len() as u64, "{}", f.name);
        assert_eq!(stats.bytes_decoded, f.src.len() as u64, "{}", f.name);
        assert_eq!(stats.bytes_out, out.len() as u64, "{}", f.name);
    }
}
