//! Fuzzes the SSE decoder: it must never panic, must produce the same events
//! and error whatever the chunk boundaries, and re-framing what it decoded
//! must decode to the same events. Handing each event back with
//! `SseDecoder::recycle` must not change any of them. Every choice comes from
//! the input, so a crash replays from its artifact alone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_core::stream::sse::{encode_event, Event, SseDecoder, SseLimits};
use sluice_core::stream::DecodeError;

fn run(limits: SseLimits, chunks: &[&[u8]]) -> (Vec<Event>, Option<DecodeError>, bool) {
    let mut dec = SseDecoder::with_limits(limits);
    let mut out = Vec::new();
    for chunk in chunks {
        if let Err(e) = dec.feed(chunk, &mut out) {
            return (out, Some(e), false);
        }
    }
    let discarded = dec.finish();
    (out, None, discarded)
}

/// [`run`], but every event is copied out and handed back to the decoder
/// (as the AI relay does), which must not change any later event.
fn run_recycling(limits: SseLimits, chunks: &[&[u8]]) -> (Vec<Event>, Option<DecodeError>, bool) {
    let mut dec = SseDecoder::with_limits(limits);
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        let fed = dec.feed(chunk, &mut out);
        for event in out.drain(..) {
            seen.push(event.clone());
            dec.recycle(event);
        }
        if let Err(e) = fed {
            return (seen, Some(e), false);
        }
    }
    let discarded = dec.finish();
    (seen, None, discarded)
}

fuzz_target!(|data: &[u8]| {
    // Byte 0: small line limit (so limit errors are exercised); byte 1: a
    // chunk size for the split run; the rest is the stream.
    let [limit_byte, step_byte, input @ ..] = data else {
        return;
    };
    let limits = SseLimits::default()
        .with_max_line_bytes(usize::from(*limit_byte) + 1)
        .with_max_data_bytes(usize::from(*limit_byte) * 4 + 1);
    let whole = run(limits, &[input]);
    let step = usize::from(*step_byte % 17) + 1;
    let chunks: Vec<&[u8]> = input.chunks(step).collect();
    assert_eq!(
        whole,
        run(limits, &chunks),
        "chunk boundaries changed the output"
    );
    assert_eq!(
        whole,
        run_recycling(limits, &chunks),
        "recycling events changed the output"
    );

    let mut wire = Vec::new();
    for event in &whole.0 {
        encode_event(event, &mut wire).expect("decoded events are always frameable");
    }
    let again = run(SseLimits::default(), &[&wire]);
    assert_eq!(again.0, whole.0, "re-framed events decode differently");
    assert_eq!(again.1, None);
    assert!(!again.2, "re-framed stream must end on an event boundary");
});
