//! Fuzzes the AI gateway's SSE relay with whatever a provider might send:
//! it must never panic, must write, hold back and record the same things
//! whatever the chunk boundaries, and must only ever write whole events
//! (each piece it emits ends an event, or is the `\n` of a split CRLF).
//! Every choice comes from the input, so a crash replays from its artifact.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_core::ai::relay::{FeedError, RelayConfig, RelayError, SseRelay, StreamEnd};
use sluice_core::ai::usage::TokenUsage;
use std::convert::Infallible;

#[derive(Debug, PartialEq)]
struct Seen {
    out: Vec<u8>,
    error: Option<RelayError>,
    usage: Option<TokenUsage>,
    first_token: bool,
    end: StreamEnd,
}

fn run(config: RelayConfig, chunks: &[&[u8]]) -> Seen {
    let mut relay = SseRelay::new(config);
    let mut out = Vec::new();
    let mut error = None;
    for chunk in chunks {
        let fed = relay.feed_each(chunk, |piece| {
            assert!(
                piece.ends_with(b"\n") || piece.ends_with(b"\r"),
                "a piece that does not end a line: {piece:?}"
            );
            out.extend_from_slice(piece);
            Ok::<(), Infallible>(())
        });
        if let Err(e) = fed {
            error = Some(match e {
                FeedError::Upstream(e) => e,
                FeedError::Downstream(never) => match never {},
            });
            break;
        }
    }
    Seen {
        out,
        error,
        usage: relay.usage(),
        first_token: relay.first_token_seen(),
        end: relay.finish(),
    }
}

fuzz_target!(|data: &[u8]| {
    // Byte 0: strip usage (bit 0) and a small event cap (bit 1); byte 1: a
    // chunk size for the split run; the rest is the upstream body.
    let [flags, step_byte, input @ ..] = data else {
        return;
    };
    let mut config = RelayConfig::default().with_strip_usage(flags & 1 == 1);
    if flags & 2 == 2 {
        config = config.with_max_event_bytes(usize::from(*step_byte) * 8 + 1);
    }
    let whole = run(config, &[input]);
    let step = usize::from(*step_byte % 17) + 1;
    let chunks: Vec<&[u8]> = input.chunks(step).collect();
    assert_eq!(
        whole,
        run(config, &chunks),
        "chunk boundaries changed the relay"
    );
    let ones: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(whole, run(config, &ones), "1-byte chunks changed the relay");
});
