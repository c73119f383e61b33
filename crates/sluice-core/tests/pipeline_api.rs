//! The public API the Fastly adapter codes against: header rewriting,
//! content-type and encoding parsing, passthrough cases, `process`.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::borrow::Cow;

use sluice_core::{
    accept_encoding_supported, charset_from_content_type, ContentEncoding, ContentKind, Pipeline,
    PipelineConfig, PipelineError, RewriteRules, DEFAULT_BROTLI_QUALITY, DEFAULT_GZIP_LEVEL,
};
use support::pipeline::*;

fn rules() -> RewriteRules {
    RewriteRules::new(
        [
            "www.origin.example",
            "origin.example",
            "static.origin.example:8080",
        ],
        "https",
        "edge.test",
    )
    .unwrap()
}

#[test]
fn response_headers_are_rewritten_exactly() {
    let r = rules();
    for (header, want) in [
        ("http://www.origin.example/login?next=%2F", "https://edge.test/login?next=%2F"),
        ("https://ORIGIN.example", "https://edge.test"),
        ("//origin.example/a#b", "//edge.test/a#b"),
        ("/relative/only", "/relative/only"),
        ("https://other.example/", "https://other.example/"),
        (
            "<https://static.origin.example:8080/app.css>; rel=preload; as=style, <https://cdn.example/x.js>; rel=preload",
            "<https://edge.test/app.css>; rel=preload; as=style, <https://cdn.example/x.js>; rel=preload",
        ),
        ("5; url=https://origin.example/next", "5; url=https://edge.test/next"),
        ("https://static.origin.example/no-port", "https://static.origin.example/no-port"),
    ] {
        assert_eq!(r.rewrite_str(header), want, "{header}");
    }
    assert!(matches!(r.rewrite_str("/nothing"), Cow::Borrowed(_)));
    assert!(matches!(
        r.rewrite_bytes(b"https://origin.example/"),
        Cow::Owned(_)
    ));
}

#[test]
fn content_types_and_encodings_map_to_processors() {
    assert_eq!(
        ContentKind::from_content_type("text/html; charset=Shift_JIS"),
        ContentKind::Html
    );
    assert_eq!(
        charset_from_content_type("text/html; charset=Shift_JIS"),
        Some("Shift_JIS")
    );
    assert_eq!(
        ContentKind::from_content_type("application/rss+xml"),
        ContentKind::Xml
    );
    assert!(ContentEncoding::from_header("zstd").is_err());
    assert!(ContentEncoding::from_header("gzip, br").is_err());
    assert_eq!(
        ContentEncoding::from_header("x-gzip")
            .unwrap()
            .header_value(),
        Some("gzip")
    );
    assert_eq!(accept_encoding_supported(), "gzip, deflate, br");
    let cfg = PipelineConfig::new(
        ContentEncoding::Gzip,
        ContentEncoding::Gzip,
        ContentKind::Html,
        rules(),
    );
    assert_eq!(cfg.gzip_level, DEFAULT_GZIP_LEVEL);
    assert_eq!(cfg.brotli_quality, DEFAULT_BROTLI_QUALITY);
    assert_eq!(cfg.charset, None);
}

#[test]
fn other_kinds_and_empty_rules_pass_bytes_through_but_still_recode() {
    let body = b"\x89PNG https://origin.example/ \0\xff".repeat(100);
    let empty = RewriteRules::new(Vec::<&str>::new(), "https", "edge.test").unwrap();
    assert!(empty.is_empty());
    for (kind, rules) in [
        (ContentKind::Other, rules()),
        (ContentKind::Html, empty.clone()),
        (ContentKind::Css, empty),
    ] {
        for (input, output) in [
            (ContentEncoding::Identity, ContentEncoding::Identity),
            (ContentEncoding::Gzip, ContentEncoding::Brotli),
            (ContentEncoding::Brotli, ContentEncoding::Identity),
            (ContentEncoding::Identity, ContentEncoding::Deflate),
        ] {
            let out = run_chunks(
                config(kind, input, output, rules.clone()),
                encode(input, &body).chunks(100),
            )
            .unwrap();
            assert_eq!(decode(output, &out), body, "{kind:?} {input}->{output}");
        }
    }
}

#[test]
fn process_reads_a_reader_to_the_end() {
    let page = corpus().iter().find(|p| p.host.is_some()).unwrap();
    let want = rewrite_whole(ContentKind::Html, page.rules(), &page.bytes);
    let gz = encode(ContentEncoding::Gzip, &page.bytes);
    let p = Pipeline::new(
        config(
            ContentKind::Html,
            ContentEncoding::Gzip,
            ContentEncoding::Identity,
            page.rules(),
        ),
        Vec::new(),
    )
    .unwrap();
    assert_eq!(p.process(gz.as_slice()).unwrap(), want);
}

#[test]
fn finishing_twice_or_after_an_error_is_refused() {
    let mut p = Pipeline::new(
        config(
            ContentKind::Html,
            ContentEncoding::Gzip,
            ContentEncoding::Identity,
            rules(),
        ),
        Vec::new(),
    )
    .unwrap();
    assert!(matches!(
        p.write_chunk(b"not gzip"),
        Err(PipelineError::CorruptInput { .. })
    ));
    assert!(matches!(
        p.write_chunk(b"more"),
        Err(PipelineError::Poisoned)
    ));
    let err = p.finish().unwrap_err();
    assert!(matches!(err, PipelineError::Poisoned));
    assert_eq!(err.class(), "poisoned");
}

#[test]
fn empty_bodies_are_valid_in_every_coding() {
    for enc in [
        ContentEncoding::Identity,
        ContentEncoding::Gzip,
        ContentEncoding::Deflate,
        ContentEncoding::Brotli,
    ] {
        for kind in [ContentKind::Html, ContentKind::Css, ContentKind::Other] {
            // No bytes at all, and a real encoding of the empty string.
            let out = run_chunks(config(kind, enc, enc, rules()), []).unwrap();
            assert_eq!(decode(enc, &out), b"", "{enc} {kind:?}");
            let out = run_chunks(
                config(kind, enc, enc, rules()),
                [encode(enc, b"").as_slice()],
            )
            .unwrap();
            assert_eq!(decode(enc, &out), b"", "{enc} {kind:?}");
        }
    }
}
