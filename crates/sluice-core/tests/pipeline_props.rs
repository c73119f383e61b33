//! Property tests over generated adversarial inputs: URL fragments next to
//! every kind of boundary trap, markup fragments, invalid UTF-8 and NULs,
//! split at arbitrary points and pushed through every codec pair.
//!
//! Properties:
//! - chunking invariance: any split gives the one-chunk output;
//! - nothing lost: swapping the edge back gives the input exactly (so no
//!   byte outside a rewritten URL is dropped, duplicated or changed);
//! - codecs are transparent: gzip/br/deflate in and out give the same
//!   decoded output as identity.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use sluice_core::{ContentEncoding, ContentKind, RewriteRules};
use support::pipeline::*;

const HOST: &str = "origin.example";

fn rules() -> RewriteRules {
    RewriteRules::new(
        [HOST, "www.origin.example", "origin.example:8080"],
        SCHEME,
        EDGE,
    )
    .unwrap()
}

/// Fragments chosen to put markers, hosts, schemes and boundaries next to
/// each other in every combination.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let words: Vec<&'static [u8]> = vec![
        b"https://origin.example/",
        b"http://origin.example",
        b"HTTPS://ORIGIN.EXAMPLE/P",
        b"//origin.example",
        b"\\/\\/origin.example\\/",
        b"https:\\/\\/www.origin.example",
        b"//www.origin.example.",
        b"//cdn.origin.example/",
        b"//origin.example.evil.com/",
        b"//origin.example:8080/",
        b"//origin.example:9/",
        b"//origin.example@x/",
        b"ftp://origin.example/",
        b"origin.example",
        b"https:",
        b"http",
        b"//",
        b"\\/",
        b"/",
        b":",
        b".",
        b"@",
        b"<a href=\"",
        b"<img srcset='",
        b"<div style=\"background:url(",
        b"\">",
        b"'>",
        b">",
        b"<",
        b"<script>",
        b"</script>",
        b"<style>",
        b"</style>",
        b"<!--",
        b"-->",
        b"<svg>",
        b"</svg>",
        // Raw-text, RCDATA and other tokenizer-state switches: the
        // rewriter treats <noscript> like <script>, rewrites comments
        // whole, and leaves <textarea>/<title> text alone.
        b"<noscript>",
        b"</noscript>",
        b"<textarea>",
        b"</textarea>",
        b"<title>",
        b"</title>",
        b"<!--[if lt IE 9]><script src=\"",
        b"<![endif]-->",
        b"<![CDATA[",
        b"]]>",
        b"<math>",
        b"<template>",
        b"<iframe srcdoc=\"&lt;a href=&quot;",
        b"&quot;",
        b"<plaintext>",
        b"<xmp>",
        b"<meta charset=shift_jis>",
        b"<meta charset=utf-16>",
        b"<!DOCTYPE html>",
        b"<?xml ",
        b"</",
        b"/>",
        b"=",
        b"<meta content=",
        b" ",
        b"\n",
        b"\"",
        b"'",
        b"\0",
        b"\xff\xfe",
        b"\xc3",
        b"\xe9t\xe9",
        b"\x95\x5c",
    ];
    prop_oneof![
        4 => proptest::sample::select(words).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..8),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..60).prop_map(|v| v.concat())
}

/// Split points as fractions of the input length (so they adapt to it).
fn splits() -> impl Strategy<Value = Vec<u16>> {
    proptest::collection::vec(any::<u16>(), 0..24)
}

fn split_at<'a>(data: &'a [u8], points: &[u16]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points
        .iter()
        .map(|&p| (usize::from(p) * data.len()) / usize::from(u16::MAX).max(1))
        .collect();
    cuts.push(0);
    cuts.push(data.len());
    cuts.sort_unstable();
    cuts.windows(2).map(|w| &data[w[0]..w[1]]).collect()
}

fn kinds() -> impl Strategy<Value = ContentKind> {
    prop_oneof![
        Just(ContentKind::Html),
        Just(ContentKind::Css),
        Just(ContentKind::JavaScript),
        Just(ContentKind::Json),
        Just(ContentKind::Other),
    ]
}

fn encodings() -> impl Strategy<Value = ContentEncoding> {
    prop_oneof![
        Just(ContentEncoding::Identity),
        Just(ContentEncoding::Gzip),
        Just(ContentEncoding::Deflate),
        Just(ContentEncoding::Brotli),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_split_gives_the_same_bytes_and_loses_nothing(
        input in body(),
        points in splits(),
        kind in kinds(),
    ) {
        let whole = rewrite_whole(kind, rules(), &input);
        let chunks = split_at(&input, &points);
        let got = run_chunks(config(kind, ContentEncoding::Identity, ContentEncoding::Identity, rules()), chunks).unwrap();
        prop_assert_eq!(&got, &whole);
        let ones = run_chunks(
            config(kind, ContentEncoding::Identity, ContentEncoding::Identity, rules()),
            input.chunks(1),
        ).unwrap();
        prop_assert_eq!(&ones, &whole);
        // Every rewrite host maps to the same edge, so swap back to the
        // shortest one and let the aligner accept any rewrite host there.
        assert_round_trip_any_host(&input, &whole);
        if kind == ContentKind::Other {
            prop_assert_eq!(&whole, &input);
        }
    }

    #[test]
    fn codecs_are_transparent_at_any_split(
        input in body(),
        points in splits(),
        kind in kinds(),
        enc_in in encodings(),
        enc_out in encodings(),
    ) {
        let whole = rewrite_whole(kind, rules(), &input);
        let encoded = encode(enc_in, &input);
        let chunks = split_at(&encoded, &points);
        let got = run_chunks(config(kind, enc_in, enc_out, rules()), chunks).unwrap();
        prop_assert_eq!(decode(enc_out, &got), whole);
    }
}

/// Round trip where the rewritten host may be any of the rule's hosts:
/// walking input and output together, every edge authority in the output
/// must align with a rule host in the input (any case), a rewritten
/// absolute URL's `https:` with the input's `http:`/`https:`, and every
/// other byte must be equal.
fn assert_round_trip_any_host(input: &[u8], output: &[u8]) {
    let edge = EDGE.as_bytes();
    let hosts: [&[u8]; 3] = [
        b"www.origin.example",
        b"origin.example:8080",
        b"origin.example",
    ];
    let (mut i, mut o) = (0usize, 0usize);
    while o < output.len() {
        let out = &output[o..];
        let rest = &input[i..];
        if out.starts_with(edge) {
            let host = hosts
                .iter()
                .find(|h| rest.len() >= h.len() && rest[..h.len()].eq_ignore_ascii_case(h))
                .unwrap_or_else(|| panic!("rewritten URL at input {i} is not a rule host"));
            i += host.len();
            o += edge.len();
            continue;
        }
        let after_scheme = out.get(6..).unwrap_or_default();
        let is_abs = out.starts_with(b"https:")
            && (after_scheme.starts_with(b"//") && after_scheme[2..].starts_with(edge)
                || after_scheme.starts_with(b"\\/\\/") && after_scheme[4..].starts_with(edge));
        if is_abs {
            let n = if rest.len() >= 6 && rest[..6].eq_ignore_ascii_case(b"https:") {
                6
            } else if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b"http:") {
                5
            } else {
                panic!("rewritten absolute URL at input {i} had no http(s) scheme")
            };
            i += n;
            o += 6;
            continue;
        }
        assert_eq!(
            rest.first(),
            Some(&out[0]),
            "byte lost or changed at input {i}"
        );
        i += 1;
        o += 1;
    }
    assert_eq!(i, input.len(), "input has bytes the output lost");
}

#[test]
fn aligner_rejects_a_lost_byte() {
    let input = b"a https://origin.example/x b";
    let good = rewrite_whole(ContentKind::Css, rules(), input);
    assert_round_trip_any_host(input, &good);
    let mut bad = good.clone();
    bad.remove(bad.len() - 1);
    let caught = std::panic::catch_unwind(|| assert_round_trip_any_host(input, &bad));
    assert!(caught.is_err(), "the aligner must notice a dropped byte");
}
