//! Pages in other charsets through the edge: the local origin serves a
//! windows-1252 (Latin-1) page, a Shift_JIS page and the corpus's
//! `qq.html` (gb2312) with their real `Content-Type` charset. Through the
//! edge, identity and gzip, the label is kept and the bytes are the
//! origin's except the rewritten URLs: the accented letters, the kanji
//! whose second byte is `\` and the GB2312 text come through untouched.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sluice_core::content_kind::ContentKind;
use sluice_core::encoding::ContentEncoding;
use sluice_core::pipeline::{Pipeline, PipelineConfig};
use sluice_core::rewrite::RewriteRules;
use sluice_e2e::http::{decode, get};
use sluice_e2e::{corpus_dir, workspace, EdgeConfig, Stack};

struct Case {
    name: &'static str,
    charset: &'static str,
    host: &'static str,
    bytes: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let fixture = |name: &str| {
        std::fs::read(workspace().join("crates/sluice-origin/fixtures").join(name)).unwrap()
    };
    vec![
        Case {
            name: "latin1.html",
            charset: "iso-8859-1",
            host: "origin.example",
            bytes: fixture("latin1.html"),
        },
        Case {
            name: "shift_jis.html",
            charset: "shift_jis",
            host: "origin.example",
            bytes: fixture("shift_jis.html"),
        },
        Case {
            name: "qq.html",
            charset: "gb2312",
            host: "mat1.gtimg.com",
            bytes: std::fs::read(corpus_dir().join("pages/qq.html")).unwrap(),
        },
    ]
}

/// The core's rewrite of the page, told its charset as the edge is.
fn core_rewrite(case: &Case, edge: &str) -> Vec<u8> {
    let rules = RewriteRules::new([case.host], "http", edge).unwrap();
    let mut config = PipelineConfig::new(
        ContentEncoding::Identity,
        ContentEncoding::Identity,
        ContentKind::Html,
        rules,
    );
    config.charset = Some(case.charset.to_owned());
    let mut p = Pipeline::new(config, Vec::new()).unwrap();
    p.write_chunk(&case.bytes).unwrap();
    p.finish().unwrap()
}

fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn legacy_charsets_come_through_byte_exact_apart_from_the_urls() {
    for case in cases() {
        let stack = Stack::start_with(|c: EdgeConfig| c.set("publisher.rewrite_hosts", case.host));
        let edge = stack.edge.addr.to_string();
        let expected = core_rewrite(&case, &edge);
        assert!(
            expected != case.bytes,
            "{}: something to rewrite",
            case.name
        );
        for enc in ["identity", "gzip"] {
            let url = stack.edge.url(&format!(
                "/pages/{}?enc={enc}&chunk=random&seed=5",
                case.name
            ));
            let resp = get(&url, &[("accept-encoding", "gzip")]);
            assert_eq!(resp.status, 200, "{} {enc}", case.name);
            let ct = format!("text/html; charset={}", case.charset);
            assert_eq!(
                resp.header("content-type"),
                Some(ct.as_str()),
                "{}",
                case.name
            );
            let body = decode(resp.header("content-encoding"), &resp.body).unwrap();
            assert!(
                body == expected,
                "{} {enc}: not the core's rewrite",
                case.name
            );
            // The edge swapped back to the origin host gives the origin's
            // bytes, with its https URLs as http (the test edge's scheme).
            let back = replace(&body, edge.as_bytes(), case.host.as_bytes());
            let https = format!("https://{}", case.host);
            let http = format!("http://{}", case.host);
            let original = replace(&case.bytes, https.as_bytes(), http.as_bytes());
            let back = replace(&back, https.as_bytes(), http.as_bytes());
            assert!(
                back == original,
                "{} {enc}: more than URLs changed",
                case.name
            );
        }
    }
}
