//! Stopping the rewrite mid-body (the CPU budget's switch):
//! [`Pipeline::stop_rewriting`] and [`Pipeline::into_splice`].
//!
//! The property, for any body, any chunking, any switch point and every
//! input and output encoding: the client's decoded body is `D` followed by
//! the decoded input from the reported offset `d` on, untouched, where `D`
//! is exactly the start of the full rewrite of the body and, with the hosts
//! swapped back, exactly the input's first `d` bytes. So nothing is lost,
//! doubled or changed after the switch, everything before it is rewritten
//! as it would have been without a switch, and a URL the switch cuts is
//! left as the origin wrote it rather than guessed at.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use sluice_core::{
    ContentEncoding, ContentKind, Pipeline, PipelineConfig, PipelineError, RewriteRules,
    RewriteStop,
};
use support::chunks::{random_chunks, rng_for};
use support::pipeline::*;

const HOST: &str = "origin.example";

const ALL_ENCODINGS: [ContentEncoding; 4] = [
    ContentEncoding::Identity,
    ContentEncoding::Gzip,
    ContentEncoding::Deflate,
    ContentEncoding::Brotli,
];

fn rules() -> RewriteRules {
    RewriteRules::new([HOST], SCHEME, EDGE).unwrap()
}

/// Runs `chunks` (encoded input) through a pipeline, stopping rewriting
/// before chunk `switch_at`; returns the raw output and the switch point.
fn run_with_switch(
    config: PipelineConfig,
    chunks: &[&[u8]],
    switch_at: usize,
) -> Result<(Vec<u8>, RewriteStop), PipelineError> {
    let mut p = Pipeline::new(config, Vec::new())?;
    let mut stop = None;
    for (i, c) in chunks.iter().enumerate() {
        if i == switch_at {
            stop = Some(p.stop_rewriting()?);
        }
        p.write_chunk(c)?;
    }
    if stop.is_none() {
        stop = Some(p.stop_rewriting()?);
    }
    let (out, stats) = p.finish_with_stats()?;
    assert_eq!(stats.rewrite_stop, stop, "stats record the switch");
    Ok((out, stop.unwrap()))
}

/// Checks the switch property for one decoded output (see the module
/// docs).
#[track_caller]
fn check_switch(input: &[u8], whole: &[u8], got: &[u8], stop: RewriteStop, label: &str) {
    let d = usize::try_from(stop.decoded_offset).unwrap();
    assert!(d <= input.len(), "{label}: offset {d} past the input");
    let suffix = &input[d..];
    assert!(
        got.len() >= suffix.len() && &got[got.len() - suffix.len()..] == suffix,
        "{label}: the output does not end with the input after offset {d}"
    );
    let rewritten = &got[..got.len() - suffix.len()];
    assert_same(rewritten, &whole[..rewritten.len().min(whole.len())], label);
    assert!(
        rewritten.len() <= whole.len(),
        "{label}: longer than the rewrite"
    );
    assert_round_trip(&input[..d], rewritten, HOST, label);
}

fn split_points(len: usize, points: &[u16]) -> Vec<usize> {
    let mut cuts: Vec<usize> = points
        .iter()
        .map(|&p| (usize::from(p) * len) / usize::from(u16::MAX))
        .collect();
    cuts.push(0);
    cuts.push(len);
    cuts.sort_unstable();
    cuts
}

fn chunks_at<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    cuts.windows(2).map(|w| &data[w[0]..w[1]]).collect()
}

/// Fragments that put URLs, tags, raw-text regions and comments next to
/// every chunk boundary a switch can fall on.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let words: Vec<&'static [u8]> = vec![
        b"https://origin.example/",
        b"http://origin.example",
        b"//origin.example",
        b"\\/\\/origin.example\\/",
        b"//origin.example.evil.com/",
        b"//origin.example:9/",
        b"origin.example",
        b"https:",
        b"//",
        b"/",
        b".",
        b"<a href=\"",
        b"<img srcset='",
        b"\">",
        b">",
        b"<",
        b"<script>",
        b"</script>",
        b"<style>",
        b"</style>",
        b"<noscript>",
        b"</noscript>",
        b"<!--",
        b"-->",
        b"<textarea>",
        b"</textarea>",
        b"<svg>",
        b"</svg>",
        b"<!--[if lt IE 9]><script src=\"",
        b"<![endif]-->",
        b" ",
        b"\"",
        b"'",
        b"\0",
        b"\xe9t\xe9",
    ];
    prop_oneof![
        4 => proptest::sample::select(words).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..6),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..60).prop_map(|v| v.concat())
}

fn kinds() -> impl Strategy<Value = ContentKind> {
    prop_oneof![
        Just(ContentKind::Html),
        Just(ContentKind::Css),
        Just(ContentKind::JavaScript),
        Just(ContentKind::Other),
    ]
}

fn encodings() -> impl Strategy<Value = ContentEncoding> {
    proptest::sample::select(ALL_ENCODINGS.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn any_split_and_switch_gives_the_rewrite_then_the_origin_bytes(
        input in body(),
        points in proptest::collection::vec(any::<u16>(), 0..16),
        switch in any::<u16>(),
        kind in kinds(),
        enc_in in encodings(),
        enc_out in encodings(),
    ) {
        let whole = rewrite_whole(kind, rules(), &input);
        let encoded = encode(enc_in, &input);
        let cuts = split_points(encoded.len(), &points);
        let chunks = chunks_at(&encoded, &cuts);
        let switch_at = usize::from(switch) % (chunks.len() + 1);
        let (out, stop) =
            run_with_switch(config(kind, enc_in, enc_out, rules()), &chunks, switch_at).unwrap();
        let got = decode(enc_out, &out);
        check_switch(&input, &whole, &got, stop, "fragments");
        if enc_in == ContentEncoding::Identity {
            // Identity input: the offset is exact, every byte before the
            // switch is either rewritten or one of the few held back.
            let fed = cuts[switch_at.min(chunks.len())] as u64;
            prop_assert_eq!(stop.bytes_in, fed);
            prop_assert_eq!(stop.decoded_offset + stop.held_back, fed);
        }
    }

    #[test]
    fn a_splice_gives_the_same_bytes_as_stopping(
        input in body(),
        points in proptest::collection::vec(any::<u16>(), 0..16),
        switch in any::<u16>(),
        kind in kinds(),
    ) {
        let id = ContentEncoding::Identity;
        let cuts = split_points(input.len(), &points);
        let chunks = chunks_at(&input, &cuts);
        let switch_at = usize::from(switch) % (chunks.len() + 1);
        let (stopped, stop) =
            run_with_switch(config(kind, id, id, rules()), &chunks, switch_at).unwrap();
        // The adapter's splice: push the chunks before the switch, end the
        // pipeline, write the held-back bytes, then append the origin's
        // unread rest without looking at it.
        let mut p = Pipeline::new(config(kind, id, id, rules()), Vec::new()).unwrap();
        prop_assert!(p.can_splice());
        for c in &chunks[..switch_at] {
            p.write_chunk(c).unwrap();
        }
        let splice = p.into_splice().unwrap();
        prop_assert_eq!(splice.stop, stop);
        prop_assert_eq!(splice.stats.rewrite_stop, Some(stop));
        let mut spliced = splice.writer;
        prop_assert_eq!(splice.stats.bytes_out, spliced.len() as u64);
        spliced.extend_from_slice(&splice.held);
        spliced.extend_from_slice(&input[cuts[switch_at]..]);
        prop_assert_eq!(&spliced, &stopped);
        check_switch(&input, &rewrite_whole(kind, rules(), &input), &spliced, stop, "splice");
    }
}

/// Every corpus page, in random chunks, with a random switch point, in
/// every input encoding (the output encoding cycles through all four).
#[test]
fn corpus_pages_switch_anywhere_in_every_encoding() {
    let mut rng = rng_for("corpus_pages_switch");
    let mut held_back_max = 0;
    for (pi, page) in corpus().iter().enumerate() {
        let whole = rewrite_whole(ContentKind::Html, page.rules(), &page.bytes);
        for (ei, enc_in) in ALL_ENCODINGS.into_iter().enumerate() {
            let enc_out = ALL_ENCODINGS[(pi + ei) % 4];
            let encoded = encode(enc_in, &page.bytes);
            let chunks = random_chunks(&encoded, &mut rng);
            let switch_at = rng.range(0, chunks.len());
            let label = format!(
                "{} {enc_in}->{enc_out} switch before chunk {switch_at}",
                page.name
            );
            let (out, stop) = run_with_switch(
                config(ContentKind::Html, enc_in, enc_out, page.rules()),
                &chunks,
                switch_at,
            )
            .unwrap_or_else(|e| panic!("{label}: {e}"));
            let got = decode(enc_out, &out);
            let d = stop.decoded_offset as usize;
            let suffix = &page.bytes[d..];
            assert!(got.ends_with(suffix), "{label}: tail is not the origin's");
            let rewritten = &got[..got.len() - suffix.len()];
            assert_same(rewritten, &whole[..rewritten.len()], &label);
            assert_round_trip(&page.bytes[..d], rewritten, page.rewrite_host(), &label);
            held_back_max = held_back_max.max(stop.held_back);
        }
    }
    // Pages cut inside a long tag or script hold back more, but never
    // beyond the HTML window's cap.
    assert!(held_back_max <= (4 << 20) + (64 << 10), "{held_back_max}");
}

fn css(input: &[u8], switch_at: usize) -> (Vec<u8>, RewriteStop) {
    let id = ContentEncoding::Identity;
    let (a, b) = input.split_at(switch_at);
    run_with_switch(config(ContentKind::Css, id, id, rules()), &[a, b], 1).unwrap()
}

fn html_chunks(chunks: &[&[u8]], switch_at: usize) -> (Vec<u8>, RewriteStop) {
    let id = ContentEncoding::Identity;
    run_with_switch(
        config(ContentKind::Html, id, id, rules()),
        chunks,
        switch_at,
    )
    .unwrap()
}

#[test]
fn urls_before_the_switch_are_rewritten_and_after_it_are_not() {
    let input = b"a{background:url(https://origin.example/a.png)} b{background:url(https://origin.example/b.png)}";
    let (out, stop) = css(input, 50);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "a{background:url(https://edge.sluice.test:8443/a.png)} b{background:url(https://origin.example/b.png)}"
    );
    assert_eq!(stop.bytes_in, 50);
    // The replacer holds back only what could still start a URL: "} b{".
    assert!(stop.held_back <= 16, "{stop:?}");
    assert_eq!(stop.decoded_offset + stop.held_back, 50);
}

#[test]
fn a_host_cut_by_the_switch_is_left_as_the_origin_wrote_it() {
    // At the switch the replacer cannot know whether `//origin.example`
    // ends the host or `.evil.com` follows; it must not rewrite it.
    let input = b"x{src:url(//origin.example.evil.com/a)}";
    for at in 10..input.len() {
        let (out, stop) = css(input, at);
        assert_eq!(out, input, "switch at {at}");
        assert!(stop.decoded_offset <= at as u64);
    }
    // A complete host before the switch is still rewritten.
    let input = b"x{src:url(//origin.example/a)} y{}";
    let (out, _) = css(input, 30);
    assert_eq!(out, b"x{src:url(//edge.sluice.test:8443/a)} y{}");
}

#[test]
fn a_tag_cut_by_the_switch_goes_out_raw_exactly_once() {
    let page: &[u8] = b"<p><a href=\"https://origin.example/1\">1</a><a href=\"https://origin.example/2\">2</a></p>";
    let cut = 60; // inside the second start tag
    let (out, stop) = html_chunks(&[&page[..cut], &page[cut..]], 1);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "<p><a href=\"https://edge.sluice.test:8443/1\">1</a><a href=\"https://origin.example/2\">2</a></p>"
    );
    // The held-back bytes are the partial tag lol_html was buffering.
    assert_eq!(stop.decoded_offset, 43);
    assert_eq!(&page[43..46], b"<a ");
    assert_eq!(stop.held_back, cut as u64 - 43);
}

#[test]
fn a_script_cut_by_the_switch_keeps_its_rewritten_start() {
    let page: &[u8] = b"<script>var a='https://origin.example/a', b='https://origin.exa";
    let rest: &[u8] = b"mple/b';</script><img src=\"https://origin.example/c\">";
    let (out, stop) = html_chunks(&[page, rest], 1);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "<script>var a='https://edge.sluice.test:8443/a', b='https://origin.example/b';</script><img src=\"https://origin.example/c\">"
    );
    assert!(stop.decoded_offset >= 40 && stop.decoded_offset < page.len() as u64);
}

#[test]
fn stopping_twice_or_before_any_input_is_fine() {
    let id = ContentEncoding::Identity;
    let mut p = Pipeline::new(config(ContentKind::Html, id, id, rules()), Vec::new()).unwrap();
    let first = p.stop_rewriting().unwrap();
    assert_eq!(
        first,
        RewriteStop {
            decoded_offset: 0,
            bytes_in: 0,
            held_back: 0
        }
    );
    p.write_chunk(b"<a href=\"https://origin.example/\">")
        .unwrap();
    assert_eq!(p.stop_rewriting().unwrap(), first);
    assert_eq!(p.rewrite_stop(), Some(first));
    let (out, stats) = p.finish_with_stats().unwrap();
    assert_eq!(out, b"<a href=\"https://origin.example/\">");
    assert_eq!(stats.urls_rewritten, 0);
}

#[test]
fn the_url_count_keeps_what_was_rewritten_before_the_switch() {
    let id = ContentEncoding::Identity;
    let mut p = Pipeline::new(config(ContentKind::Html, id, id, rules()), Vec::new()).unwrap();
    p.write_chunk(b"<a href=\"//origin.example/\"><img src=\"//origin.example/i\"><p>")
        .unwrap();
    p.stop_rewriting().unwrap();
    p.write_chunk(b"<a href=\"//origin.example/\">").unwrap();
    let (out, stats) = p.finish_with_stats().unwrap();
    assert_eq!(stats.urls_rewritten, 2);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "<a href=\"//edge.sluice.test:8443/\"><img src=\"//edge.sluice.test:8443/i\"><p><a href=\"//origin.example/\">"
    );
}

#[test]
fn an_encoded_body_is_still_checked_after_the_switch() {
    let page = b"<p>".repeat(50_000);
    for enc in [
        ContentEncoding::Gzip,
        ContentEncoding::Deflate,
        ContentEncoding::Brotli,
    ] {
        let encoded = encode(enc, &page);
        let half = encoded.len() / 2;
        let mut p = Pipeline::new(
            config(ContentKind::Html, enc, ContentEncoding::Identity, rules()),
            Vec::new(),
        )
        .unwrap();
        p.write_chunk(&encoded[..half]).unwrap();
        p.stop_rewriting().unwrap();
        p.write_chunk(&encoded[half..encoded.len() - 1]).unwrap();
        let err = p.finish().unwrap_err();
        assert!(
            matches!(err, PipelineError::Truncated { .. }),
            "{enc}: {err:?}"
        );
    }
}

#[test]
fn a_splice_is_refused_unless_both_sides_are_identity() {
    for (input, output) in [
        (ContentEncoding::Gzip, ContentEncoding::Identity),
        (ContentEncoding::Identity, ContentEncoding::Gzip),
        (ContentEncoding::Brotli, ContentEncoding::Brotli),
    ] {
        let mut sink = Vec::new();
        let p =
            Pipeline::new(config(ContentKind::Html, input, output, rules()), &mut sink).unwrap();
        assert!(!p.can_splice(), "{input}->{output}");
        assert!(matches!(
            p.into_splice(),
            Err(PipelineError::Internal { .. })
        ));
        assert!(sink.is_empty(), "{input}->{output}: nothing may be written");
    }
    let id = ContentEncoding::Identity;
    let mut p = Pipeline::new(config(ContentKind::Html, id, id, rules()), Vec::new()).unwrap();
    p.write_chunk(b"<a href=\"https://origin.example/\"><a hr")
        .unwrap();
    let splice = p.into_splice().unwrap();
    assert_eq!(
        splice.writer,
        b"<a href=\"https://edge.sluice.test:8443/\">"
    );
    assert_eq!(splice.held, b"<a hr");
    assert_eq!(splice.stop.decoded_offset, 34);
    assert_eq!(splice.stats.urls_rewritten, 1);
}
