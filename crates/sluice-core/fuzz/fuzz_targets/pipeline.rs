//! Fuzzes the whole pipeline (decoder + rewriter + encoder): arbitrary
//! bytes, arbitrary chunking, every input/output coding and content kind.
//!
//! Asserts that nothing panics, that the pipeline never reports an
//! internal-invariant error, and — for bodies the decoder accepts — that the
//! decoded output is byte-identical whatever the chunk boundaries. Every
//! choice comes from the input, so a crash replays from its artifact alone.
//!
//! Layout: byte 0 picks the input coding and whether the fuzzer's payload is
//! used raw (exercising the decoders on garbage) or compressed first
//! (exercising the rewriters behind a valid stream); byte 1 picks the
//! output coding and the content kind; byte 2 the charset; byte 3 seeds the
//! chunk sizes; the rest is the payload.
#![no_main]

use std::io::{Read, Write};

use libfuzzer_sys::fuzz_target;
use sluice_core::{ContentEncoding, ContentKind, Pipeline, PipelineConfig, RewriteRules};

const CODINGS: [ContentEncoding; 4] = [
    ContentEncoding::Identity,
    ContentEncoding::Gzip,
    ContentEncoding::Deflate,
    ContentEncoding::Brotli,
];

const KINDS: [ContentKind; 8] = [
    ContentKind::Html,
    ContentKind::Html,
    ContentKind::Html,
    ContentKind::Css,
    ContentKind::JavaScript,
    ContentKind::Json,
    ContentKind::Svg,
    ContentKind::Other,
];

const CHARSETS: [Option<&str>; 6] = [
    None,
    Some("utf-8"),
    Some("iso-8859-1"),
    Some("shift_jis"),
    Some("utf-16le"),
    Some("x-no-such-charset"),
];

fn compress(coding: ContentEncoding, raw_deflate: bool, data: &[u8]) -> Vec<u8> {
    match coding {
        ContentEncoding::Identity => data.to_vec(),
        ContentEncoding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).expect("Vec write");
            e.finish().expect("Vec write")
        }
        ContentEncoding::Deflate if raw_deflate => {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).expect("Vec write");
            e.finish().expect("Vec write")
        }
        ContentEncoding::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).expect("Vec write");
            e.finish().expect("Vec write")
        }
        ContentEncoding::Brotli => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 1, 22);
                w.write_all(data).expect("Vec write");
            }
            out
        }
    }
}

/// Decodes what the pipeline wrote (a valid stream of `coding`).
fn decode(coding: ContentEncoding, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        ContentEncoding::Identity => out.extend_from_slice(data),
        ContentEncoding::Gzip => {
            flate2::read::MultiGzDecoder::new(data)
                .read_to_end(&mut out)
                .expect("pipeline wrote invalid gzip");
        }
        ContentEncoding::Deflate => {
            flate2::read::ZlibDecoder::new(data)
                .read_to_end(&mut out)
                .expect("pipeline wrote invalid zlib");
        }
        ContentEncoding::Brotli => {
            brotli::Decompressor::new(data, 4096)
                .read_to_end(&mut out)
                .expect("pipeline wrote invalid brotli");
        }
    }
    out
}

fn config(
    input: ContentEncoding,
    output: ContentEncoding,
    kind: ContentKind,
    charset: Option<&str>,
) -> PipelineConfig {
    let rules = RewriteRules::new(
        ["origin.example", "www.origin.example"],
        "https",
        "edge.test:8443",
    )
    .expect("valid rules");
    let mut c = PipelineConfig::new(input, output, kind, rules);
    c.charset = charset.map(str::to_owned);
    c
}

/// Runs one body; `Ok(decoded output)` or the error class.
fn run(cfg: PipelineConfig, chunks: &[&[u8]]) -> Result<Vec<u8>, &'static str> {
    let output = cfg.output;
    let mut p = Pipeline::new(cfg, Vec::new()).map_err(|e| e.class())?;
    for chunk in chunks {
        p.write_chunk(chunk).map_err(|e| e.class())?;
    }
    let written = p.finish().map_err(|e| e.class())?;
    Ok(decode(output, &written))
}

fuzz_target!(|data: &[u8]| {
    let [b0, b1, b2, b3, payload @ ..] = data else {
        return;
    };
    let input = CODINGS[usize::from(b0 & 3)];
    let compress_first = b0 & 4 != 0;
    let raw_deflate = b0 & 8 != 0;
    let output = CODINGS[usize::from(b1 & 3)];
    let kind = KINDS[usize::from((b1 >> 2) & 7)];
    let charset = CHARSETS[usize::from(b2 % 6)];

    let body = if compress_first {
        compress(input, raw_deflate, payload)
    } else {
        payload.to_vec()
    };

    // Chunk sizes cycle through 1..=(b3 % 31 + 1) so boundaries land
    // everywhere, including 1-byte chunks.
    let max = usize::from(b3 % 31) + 1;
    let mut chunks: Vec<&[u8]> = Vec::new();
    let mut rest = &body[..];
    let mut n = usize::from(b3 >> 5) + 1;
    while !rest.is_empty() {
        let take = n.min(rest.len());
        chunks.push(&rest[..take]);
        rest = &rest[take..];
        n = n % max + 1;
    }

    let whole = run(config(input, output, kind, charset), &[&body]);
    let split = run(config(input, output, kind, charset), &chunks);
    assert_ne!(whole.as_ref().err(), Some(&"internal"), "internal error");
    assert_ne!(split.as_ref().err(), Some(&"internal"), "internal error");
    assert_eq!(whole, split, "chunk boundaries changed the result");

    if compress_first {
        // A valid stream must always be accepted (payloads are far below
        // every cap), and identity output of a non-rewritten kind is the
        // payload itself.
        let out = whole.expect("valid encoded body rejected");
        if kind == ContentKind::Other {
            assert_eq!(out, payload, "passthrough changed bytes");
        }
    }
});
