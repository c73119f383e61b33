//! Bad input and failing writers give the right typed error, never a panic,
//! and poison the pipeline.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{self, Write};

use sluice_core::{
    BombLimit, ContentEncoding, ContentKind, ErrorSource, Pipeline, PipelineConfig,
    PipelineConfigError, PipelineError, PipelineLimits, RewriteRules,
};
use support::pipeline::*;

const PAGE: &[u8] = b"<html><body><a href=\"https://origin.example/a\">a</a>\
<p>some text that compresses reasonably well, some text that compresses</p></body></html>";

fn rules() -> RewriteRules {
    RewriteRules::new(["origin.example"], "https", "edge.test").unwrap()
}

fn cfg(input: ContentEncoding) -> PipelineConfig {
    config(ContentKind::Html, input, ContentEncoding::Identity, rules())
}

/// Feeds `body` in small chunks and finishes; returns the first error.
fn feed(config: PipelineConfig, body: &[u8]) -> Result<Vec<u8>, PipelineError> {
    run_chunks(config, body.chunks(5))
}

#[test]
fn truncated_streams_are_truncated_errors() {
    for enc in [
        ContentEncoding::Gzip,
        ContentEncoding::Deflate,
        ContentEncoding::Brotli,
    ] {
        let full = encode(enc, PAGE);
        assert!(feed(cfg(enc), &full).is_ok(), "{enc} full stream");
        for cut in 1..full.len() {
            match feed(cfg(enc), &full[..cut]) {
                Err(e @ PipelineError::Truncated { encoding }) => {
                    assert_eq!(encoding, enc);
                    assert_eq!(e.source_side(), ErrorSource::Origin);
                    assert_eq!(e.class(), "truncated_input");
                }
                other => panic!("{enc} cut at {cut}/{}: {other:?}", full.len()),
            }
        }
    }
}

#[test]
fn corrupt_gzip_and_deflate_are_corrupt_input() {
    for enc in [ContentEncoding::Gzip, ContentEncoding::Deflate] {
        let full = encode(enc, PAGE);
        // Flip bits in the compressed payload and in the checksum trailer;
        // deflate data or the CRC/Adler check must catch every one.
        let mut caught = 0;
        // gzip's MTIME/XFL/OS header bytes (4..10) are not checked by anyone.
        let first = if enc == ContentEncoding::Gzip { 10 } else { 2 };
        for at in first..full.len() {
            let mut bad = full.clone();
            bad[at] ^= 0x55;
            match feed(cfg(enc), &bad) {
                Err(PipelineError::CorruptInput { encoding, .. }) => {
                    assert_eq!(encoding, enc);
                    caught += 1;
                }
                // A flip in gzip's optional header fields can make the
                // stream look longer than it is.
                Err(PipelineError::Truncated { .. }) => {}
                other => panic!("{enc} flip at {at}: {other:?}"),
            }
        }
        assert!(
            caught > full.len() / 2,
            "{enc}: only {caught} flips detected"
        );
    }
}

#[test]
fn garbage_brotli_is_corrupt_input() {
    // 0xff... cannot start a valid brotli stream (reserved window bits /
    // invalid meta-block header).
    let err = feed(cfg(ContentEncoding::Brotli), &[0xff; 64]).unwrap_err();
    assert!(
        matches!(
            err,
            PipelineError::CorruptInput {
                encoding: ContentEncoding::Brotli,
                ..
            }
        ),
        "{err:?}"
    );
    let mut trailing = encode(ContentEncoding::Brotli, PAGE);
    trailing.extend_from_slice(b"trailing");
    let err = feed(cfg(ContentEncoding::Brotli), &trailing).unwrap_err();
    assert!(matches!(err, PipelineError::CorruptInput { .. }), "{err:?}");
}

#[test]
fn a_lying_content_encoding_is_corrupt_input() {
    // Plain HTML labelled gzip / deflate / br.
    for enc in [
        ContentEncoding::Gzip,
        ContentEncoding::Deflate,
        ContentEncoding::Brotli,
    ] {
        let err = feed(cfg(enc), PAGE).unwrap_err();
        assert!(
            matches!(&err, PipelineError::CorruptInput { encoding, .. } if *encoding == enc),
            "{enc}: {err:?}"
        );
        assert_eq!(err.class(), "corrupt_input");
    }
    // gzip labelled br, br labelled gzip.
    let err = feed(
        cfg(ContentEncoding::Brotli),
        &encode(ContentEncoding::Gzip, PAGE),
    )
    .unwrap_err();
    assert!(matches!(err, PipelineError::CorruptInput { .. }), "{err:?}");
    let err = feed(
        cfg(ContentEncoding::Gzip),
        &encode(ContentEncoding::Brotli, PAGE),
    )
    .unwrap_err();
    assert!(matches!(err, PipelineError::CorruptInput { .. }), "{err:?}");
}

/// Counts what reaches it through a shared cell the test keeps.
struct Witness(std::rc::Rc<std::cell::Cell<usize>>);

impl Write for Witness {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.set(self.0.get() + buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn nothing_reaches_the_writer_before_the_first_decoded_byte_or_after_abandon() {
    // The adapter commits the response on the first byte written, so a
    // body that fails to decode must leave the writer untouched (the client
    // then gets a clean 502) even when the output coding has a header.
    for out in [
        ContentEncoding::Gzip,
        ContentEncoding::Deflate,
        ContentEncoding::Brotli,
    ] {
        for input in [ContentEncoding::Gzip, ContentEncoding::Brotli] {
            let seen = std::rc::Rc::new(std::cell::Cell::new(0));
            let mut p = Pipeline::new(
                config(ContentKind::Html, input, out, rules()),
                Witness(seen.clone()),
            )
            .unwrap();
            let mut failed = false;
            for chunk in PAGE.chunks(7) {
                if p.write_chunk(chunk).is_err() {
                    failed = true;
                    break;
                }
            }
            assert!(failed, "{input} -> {out}: plain HTML must not decode");
            drop(p);
            assert_eq!(
                seen.get(),
                0,
                "{input} -> {out}: bytes written despite failing"
            );
        }
        // A valid body does reach the writer chunk by chunk.
        let seen = std::rc::Rc::new(std::cell::Cell::new(0));
        let mut p = Pipeline::new(
            config(ContentKind::Html, ContentEncoding::Identity, out, rules()),
            Witness(seen.clone()),
        )
        .unwrap();
        p.write_chunk(PAGE).unwrap();
        let flushed = seen.get();
        assert!(flushed > 0, "{out}: a decoded chunk must be flushed");
        // Abandoned mid-body (say the origin read failed): no trailer may
        // follow, or an aborted response would end like a complete one.
        drop(p);
        assert_eq!(seen.get(), flushed, "{out}: a trailer was written on drop");
    }
}

/// A gzip stream of `n` zero bytes, compressed on the fly.
fn gzip_zeros(n: usize) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(zeros.len());
        e.write_all(&zeros[..k]).unwrap();
        left -= k;
    }
    e.finish().unwrap()
}

#[test]
fn decompression_bombs_are_stopped_early() {
    // 256 MiB of zeros is ~250 KiB of gzip: a 1000:1 ratio.
    let bomb = gzip_zeros(256 << 20);
    let mut p = Pipeline::new(cfg(ContentEncoding::Gzip), Vec::new()).unwrap();
    let mut fed = 0;
    let err = loop {
        let chunk = &bomb[fed..(fed + 4096).min(bomb.len())];
        fed += chunk.len();
        if let Err(e) = p.write_chunk(chunk) {
            break e;
        }
        assert!(fed < bomb.len(), "the whole bomb was accepted");
    };
    match err {
        PipelineError::DecompressionBomb {
            decoded,
            encoded,
            limit: BombLimit::Ratio(100),
        } => {
            assert!(decoded > 100 * encoded, "{decoded}/{encoded}");
            // Caught within one decoded piece of the 1 MiB grace.
            assert!(decoded < 2 << 20, "stopped only after {decoded} bytes");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(p.write_chunk(b"x"), Err(PipelineError::Poisoned)));

    // The total cap applies to any coding, identity included.
    let mut c = cfg(ContentEncoding::Identity);
    c.limits = PipelineLimits::default().with_max_decoded_bytes(Some(100));
    let err = feed(c, PAGE).unwrap_err();
    assert!(
        matches!(
            err,
            PipelineError::DecompressionBomb {
                limit: BombLimit::Total(100),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.class(), "decompression_bomb");

    // A small, highly compressible page is inside the grace allowance.
    let small = gzip_zeros(512 << 10);
    assert!(feed(cfg(ContentEncoding::Gzip), &small).is_ok());
    // And the ratio cap can be disabled.
    let mut c = cfg(ContentEncoding::Gzip);
    c.limits = PipelineLimits::default().with_max_ratio(0);
    c.kind = ContentKind::Other;
    assert!(feed(c, &gzip_zeros(4 << 20)).is_ok());
}

/// Streams `<a href="` + `n` bytes of `a` with no `>` into an HTML pipeline.
fn unterminated_attribute(limits: PipelineLimits, n: usize) -> (Result<(), PipelineError>, u64) {
    let mut c = cfg(ContentEncoding::Identity);
    c.limits = limits;
    let mut p = Pipeline::new(c, io::sink()).unwrap();
    let chunk = vec![b'a'; 64 << 10];
    let mut result = p.write_chunk(b"<html><body><a href=\"");
    let mut sent = 0;
    while result.is_ok() && sent < n {
        result = p.write_chunk(&chunk);
        sent += chunk.len();
    }
    let result = result.and_then(|()| p.finish().map(drop));
    (result, sent as u64)
}

#[test]
fn a_huge_unterminated_attribute_hits_the_html_memory_cap() {
    let (result, sent) = unterminated_attribute(PipelineLimits::default(), 100 << 20);
    match result {
        Err(e @ PipelineError::HtmlMemoryLimit { limit }) => {
            assert_eq!(limit, 4 << 20);
            assert_eq!(e.source_side(), ErrorSource::Origin);
            assert_eq!(e.class(), "html_memory_limit");
        }
        other => panic!("{other:?}"),
    }
    // It fails as soon as the cap is crossed, not after buffering 100 MiB.
    assert!(sent <= 5 << 20, "failed only after {sent} bytes");
    let (result, sent) = unterminated_attribute(
        PipelineLimits::default().with_html_memory(256 << 10),
        100 << 20,
    );
    assert!(matches!(result, Err(PipelineError::HtmlMemoryLimit { limit }) if limit == 256 << 10));
    assert!(sent <= 512 << 10, "failed only after {sent} bytes");
}

#[test]
fn huge_text_and_raw_text_stream_without_hitting_the_cap() {
    // Text and <script> content have no token to buffer: they stream.
    for (open, close) in [
        ("<p>", "</p>"),
        ("<script>var s='", "';</script>"),
        ("<style>/*", "*/</style>"),
    ] {
        let mut c = cfg(ContentEncoding::Identity);
        c.limits = PipelineLimits::default().with_html_memory(256 << 10);
        let mut p = Pipeline::new(c, io::sink()).unwrap();
        p.write_chunk(open.as_bytes()).unwrap();
        let chunk = [b"x https://origin.example/y ".as_slice(); 2048].concat();
        for _ in 0..200 {
            p.write_chunk(&chunk).unwrap();
        }
        p.write_chunk(close.as_bytes()).unwrap();
        let stats = p.stats();
        p.finish().unwrap();
        let in_region = open != "<p>";
        assert_eq!(stats.urls_rewritten > 0, in_region, "{open}");
    }
}

/// Fails every write once `budget` bytes have been accepted.
struct FailingWriter {
    budget: usize,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.budget {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "client went away",
            ));
        }
        self.budget -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn downstream_failures_are_downstream_errors() {
    for out in [
        ContentEncoding::Identity,
        ContentEncoding::Gzip,
        ContentEncoding::Brotli,
    ] {
        let c = config(ContentKind::Html, ContentEncoding::Identity, out, rules());
        let mut p = Pipeline::new(c, FailingWriter { budget: 10 }).unwrap();
        let err = PAGE
            .chunks(16)
            .try_for_each(|c| p.write_chunk(c))
            .err()
            .unwrap_or_else(|| panic!("{out}: writer failure not reported"));
        assert!(
            matches!(&err, PipelineError::Downstream(e) if e.kind() == io::ErrorKind::BrokenPipe),
            "{err:?}"
        );
        assert_eq!(err.source_side(), ErrorSource::Downstream);
        assert!(matches!(
            p.write_chunk(b"more"),
            Err(PipelineError::Poisoned)
        ));
        assert!(matches!(p.finish(), Err(PipelineError::Poisoned)));
    }
}

struct FailingReader;

impl io::Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "origin reset",
        ))
    }
}

#[test]
fn origin_read_failures_are_upstream_errors() {
    let p = Pipeline::new(cfg(ContentEncoding::Identity), Vec::new()).unwrap();
    let err = p.process(FailingReader).unwrap_err();
    assert!(
        matches!(&err, PipelineError::Upstream(e) if e.kind() == io::ErrorKind::ConnectionReset)
    );
    assert_eq!(err.source_side(), ErrorSource::Origin);
}

#[test]
fn bad_configuration_is_a_config_error() {
    let mut c = cfg(ContentEncoding::Identity);
    c.gzip_level = 10;
    let err = Pipeline::new(c, Vec::new()).unwrap_err();
    assert!(matches!(
        err,
        PipelineError::Config(PipelineConfigError::GzipLevel(10))
    ));
    assert_eq!(err.source_side(), ErrorSource::Internal);
    let mut c = cfg(ContentEncoding::Identity);
    c.brotli_quality = 12;
    assert!(matches!(
        Pipeline::new(c, Vec::new()),
        Err(PipelineError::Config(PipelineConfigError::BrotliQuality(
            12
        )))
    ));
}

#[test]
fn invalid_utf8_and_nuls_are_just_bytes() {
    let body: &[u8] =
        b"<p>\xff\xfe\0\xc3</p><a href=\"\xff//origin.example/\0\x80\">\0</a>\xf0\x28\x8c\x28";
    let want: &[u8] =
        b"<p>\xff\xfe\0\xc3</p><a href=\"\xff//edge.test/\0\x80\">\0</a>\xf0\x28\x8c\x28";
    for kind in [ContentKind::Html, ContentKind::JavaScript] {
        let got = feed(
            config(
                kind,
                ContentEncoding::Identity,
                ContentEncoding::Identity,
                rules(),
            ),
            body,
        )
        .unwrap();
        assert_eq!(got, want, "{kind:?}");
    }
}

/// Raw deflate (no zlib wrapper), as some servers send for "deflate".
fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn raw_deflate_decodes_and_its_truncation_is_typed() {
    let full = raw_deflate(PAGE);
    let want = rewrite_whole(ContentKind::Html, rules(), PAGE);
    assert_eq!(feed(cfg(ContentEncoding::Deflate), &full).unwrap(), want);
    for cut in 1..full.len() {
        match feed(cfg(ContentEncoding::Deflate), &full[..cut]) {
            Err(PipelineError::Truncated {
                encoding: ContentEncoding::Deflate,
            }) => {}
            other => panic!("raw deflate cut at {cut}/{}: {other:?}", full.len()),
        }
    }
}

#[test]
fn every_bit_flip_of_every_coding_is_a_typed_error_or_clean_output() {
    // Brotli has no checksum, and raw deflate neither, so some flips decode
    // to a different valid body; what must never happen is a panic, an
    // internal error, or output that is not the pipeline's own rewrite of
    // what the decoder accepted. Every single-bit flip, every coding.
    let encodings = [
        (
            ContentEncoding::Gzip,
            false,
            encode(ContentEncoding::Gzip, PAGE),
        ),
        (
            ContentEncoding::Deflate,
            false,
            encode(ContentEncoding::Deflate, PAGE),
        ),
        (ContentEncoding::Deflate, true, raw_deflate(PAGE)),
        (
            ContentEncoding::Brotli,
            false,
            encode(ContentEncoding::Brotli, PAGE),
        ),
    ];
    for (enc, raw, full) in encodings {
        let (mut typed, mut clean) = (0, 0);
        for at in 0..full.len() {
            for bit in 0..8 {
                let mut bad = full.clone();
                bad[at] ^= 1 << bit;
                match feed(cfg(enc), &bad) {
                    Ok(out) => {
                        // Whatever the decoder accepted, the output must be
                        // exactly its rewrite.
                        let reference = if raw {
                            let mut d = Vec::new();
                            io::Read::read_to_end(
                                &mut flate2::read::DeflateDecoder::new(&bad[..]),
                                &mut d,
                            )
                            .map(|_| d)
                        } else {
                            try_decode(enc, &bad)
                        };
                        let decoded = reference.unwrap_or_else(|e| {
                            panic!("{enc} flip {at}.{bit}: accepted, but the reference says {e}")
                        });
                        assert_eq!(
                            out,
                            rewrite_whole(ContentKind::Html, rules(), &decoded),
                            "{enc} flip {at}.{bit}"
                        );
                        clean += 1;
                    }
                    Err(
                        PipelineError::CorruptInput { encoding, .. }
                        | PipelineError::Truncated { encoding },
                    ) => {
                        assert_eq!(encoding, enc, "{enc} flip {at}.{bit}");
                        typed += 1;
                    }
                    Err(other) => panic!("{enc} flip {at}.{bit}: {other:?}"),
                }
            }
        }
        assert!(typed > 0, "{enc}: no flip was detected ({clean} clean)");
    }
}

#[test]
fn every_declared_coding_that_lies_about_a_compressed_body_is_corrupt_input() {
    let bodies = [
        (ContentEncoding::Gzip, encode(ContentEncoding::Gzip, PAGE)),
        (
            ContentEncoding::Deflate,
            encode(ContentEncoding::Deflate, PAGE),
        ),
        (
            ContentEncoding::Brotli,
            encode(ContentEncoding::Brotli, PAGE),
        ),
    ];
    for (actual, body) in &bodies {
        for declared in [
            ContentEncoding::Gzip,
            ContentEncoding::Deflate,
            ContentEncoding::Brotli,
        ] {
            if declared == *actual {
                continue;
            }
            let err = feed(cfg(declared), body).unwrap_err();
            assert!(
                matches!(&err, PipelineError::CorruptInput { encoding, .. } if *encoding == declared),
                "{actual} body declared {declared}: {err:?}"
            );
        }
    }
}

/// `n` zero bytes compressed with `enc` at its strongest setting.
fn zeros(enc: ContentEncoding, n: usize) -> Vec<u8> {
    match enc {
        ContentEncoding::Gzip => gzip_zeros(n),
        ContentEncoding::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            let z = vec![0u8; 1 << 20];
            for _ in 0..n >> 20 {
                e.write_all(&z).unwrap();
            }
            e.finish().unwrap()
        }
        ContentEncoding::Brotli => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
                let z = vec![0u8; 1 << 20];
                for _ in 0..n >> 20 {
                    w.write_all(&z).unwrap();
                }
            }
            out
        }
        ContentEncoding::Identity => vec![0; n],
    }
}

#[test]
fn bombs_are_stopped_in_every_coding_by_ratio_and_by_total() {
    for enc in [
        ContentEncoding::Deflate,
        ContentEncoding::Brotli,
        ContentEncoding::Gzip,
    ] {
        // 64 MiB of zeros: far past 100:1 in every coding.
        let bomb = zeros(enc, 64 << 20);
        let (err, fed) = first_error(cfg(enc), &bomb);
        assert!(
            matches!(
                err,
                Some(PipelineError::DecompressionBomb {
                    limit: BombLimit::Ratio(100),
                    decoded,
                    ..
                }) if decoded < 2 << 20
            ),
            "{enc}: {err:?} after {fed}/{} bytes",
            bomb.len()
        );
        // With the ratio check off, the total cap still stops it.
        let mut c = cfg(enc);
        c.limits = PipelineLimits::default()
            .with_max_ratio(0)
            .with_max_decoded_bytes(Some(8 << 20));
        let (err, _) = first_error(c, &bomb);
        assert!(
            matches!(
                err,
                Some(PipelineError::DecompressionBomb {
                    limit: BombLimit::Total(max),
                    decoded,
                    ..
                }) if max == 8 << 20 && decoded <= (8 << 20) + (64 << 10)
            ),
            "{enc}: {err:?}"
        );
    }
}

/// Feeds `body` in 4 KiB chunks; the first error and how much was fed.
fn first_error(config: PipelineConfig, body: &[u8]) -> (Option<PipelineError>, usize) {
    let mut p = Pipeline::new(config, io::sink()).unwrap();
    let mut fed = 0;
    for chunk in body.chunks(4096) {
        fed += chunk.len();
        if let Err(e) = p.write_chunk(chunk) {
            return (Some(e), fed);
        }
    }
    (p.finish().err(), fed)
}

#[test]
fn unterminated_comments_and_tags_hit_the_html_memory_cap_too() {
    for open in [
        &b"<!-- "[..],
        b"<div class=",
        b"<a href='",
        b"<!DOCTYPE ",
        b"<",
    ] {
        let mut c = cfg(ContentEncoding::Identity);
        c.limits = PipelineLimits::default().with_html_memory(256 << 10);
        let mut p = Pipeline::new(c, io::sink()).unwrap();
        let chunk = vec![b'a'; 16 << 10];
        let mut result = p.write_chunk(open);
        let mut sent = 0usize;
        while result.is_ok() && sent < 64 << 20 {
            result = p.write_chunk(&chunk);
            sent += chunk.len();
        }
        let open = String::from_utf8_lossy(open);
        match result {
            Err(PipelineError::HtmlMemoryLimit { limit }) => assert_eq!(limit, 256 << 10),
            other => panic!("{open:?}: {other:?} after {sent} bytes"),
        }
        assert!(sent <= 1 << 20, "{open:?}: failed only after {sent} bytes");
    }
}

/// `data` with window `lgwin`, flushed after its first KiB as a streaming
/// origin would (so the first meta-block is not the last, and the decoder
/// needs the whole window).
fn brotli_with_window(data: &[u8], lgwin: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, lgwin);
        let (a, b) = data.split_at(data.len().min(1024));
        w.write_all(a).unwrap();
        w.flush().unwrap();
        w.write_all(b).unwrap();
    }
    out
}

/// A page of `n` numbered paragraphs: large and varied enough to span
/// several brotli meta-blocks.
fn long_page(n: usize) -> Vec<u8> {
    let mut page = b"<html><body>".to_vec();
    for i in 0..n {
        page.extend_from_slice(
            format!(
                "<p id=\"p{i}\"><a href=\"https://origin.example/{i}\">item {}</a></p>\n",
                i * 7919 % 10007
            )
            .as_bytes(),
        );
    }
    page
}

#[test]
fn a_brotli_window_over_the_cap_is_an_origin_error_before_any_output() {
    let page = long_page(20_000);
    let body = brotli_with_window(&page, 24);
    let mut out = Vec::new();
    let mut p = Pipeline::new(cfg(ContentEncoding::Brotli), &mut out).unwrap();
    // The first meta-block's header decides it, a few bytes in.
    let err = body[..64]
        .chunks(1)
        .find_map(|c| p.write_chunk(c).err())
        .expect("refused within the first 64 bytes");
    assert!(
        matches!(
            err,
            PipelineError::BrotliWindowTooLarge {
                window: 16_777_216,
                cap: 4_194_304
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.source_side(), ErrorSource::Origin);
    assert_eq!(err.class(), "brotli_window");
    assert!(matches!(
        p.write_chunk(&body[64..]),
        Err(PipelineError::Poisoned)
    ));
    drop(p);
    assert!(
        out.is_empty(),
        "nothing may be written: the adapter answers 502"
    );

    // lgwin 22 (the reference encoder's default) is within the default
    // cap; a raised cap accepts lgwin 24; a lowered one refuses lgwin 22.
    let expected = rewrite_whole(ContentKind::Html, rules(), &page);
    let chunked = |config, body: &[u8]| run_chunks(config, body.chunks(16 << 10));
    let ok = chunked(cfg(ContentEncoding::Brotli), &brotli_with_window(&page, 22)).unwrap();
    assert!(ok == expected);
    let mut raised = cfg(ContentEncoding::Brotli);
    raised.limits = PipelineLimits::default().with_max_brotli_window(16 << 20);
    assert!(chunked(raised, &body).unwrap() == expected);
    // A small page in one meta-block needs only its own size.
    let mut whole = Vec::new();
    brotli::CompressorWriter::new(&mut whole, 4096, 5, 24)
        .write_all(PAGE)
        .unwrap();
    assert!(feed(cfg(ContentEncoding::Brotli), &whole).is_ok());
    let mut lowered = cfg(ContentEncoding::Brotli);
    lowered.limits = PipelineLimits::default().with_max_brotli_window(1 << 20);
    assert!(matches!(
        chunked(lowered, &brotli_with_window(&page, 22)),
        Err(PipelineError::BrotliWindowTooLarge {
            window: 4_194_304,
            cap: 1_048_576
        })
    ));
    assert_eq!(
        PipelineLimits::default()
            .with_max_brotli_window(usize::MAX)
            .max_brotli_window(),
        16 << 20,
        "clamped to the largest RFC window"
    );
}
