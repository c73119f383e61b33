//! Fuzzes the NDJSON and `lines` decoders: never panic, identical records and
//! errors whatever the chunk boundaries, and NDJSON records are exactly the
//! non-blank lines the `lines` decoder sees (until the first error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_core::stream::{lines, ndjson, DecodeError};

fn run_ndjson(max: usize, chunks: &[&[u8]]) -> (Vec<ndjson::Record>, Option<DecodeError>) {
    let mut dec = ndjson::NdjsonDecoder::with_max_record_bytes(max);
    let mut out = Vec::new();
    for chunk in chunks {
        if let Err(e) = dec.feed(chunk, &mut out) {
            return (out, Some(e));
        }
    }
    let err = dec.finish(&mut out).err();
    (out, err)
}

fn run_lines(max: usize, chunks: &[&[u8]]) -> (Vec<lines::Line>, Option<DecodeError>) {
    let mut dec = lines::LineDecoder::with_max_record_bytes(max);
    let mut out = Vec::new();
    for chunk in chunks {
        if let Err(e) = dec.feed(chunk, &mut out) {
            return (out, Some(e));
        }
    }
    let err = dec.finish(&mut out).err();
    (out, err)
}

fuzz_target!(|data: &[u8]| {
    let [limit_byte, step_byte, input @ ..] = data else {
        return;
    };
    let max = usize::from(*limit_byte) + 1;
    let step = usize::from(*step_byte % 17) + 1;
    let chunks: Vec<&[u8]> = input.chunks(step).collect();

    let records = run_ndjson(max, &[input]);
    assert_eq!(
        records,
        run_ndjson(max, &chunks),
        "ndjson depends on chunking"
    );
    let lines = run_lines(max, &[input]);
    assert_eq!(lines, run_lines(max, &chunks), "lines depends on chunking");

    // Every NDJSON record is one of the lines, with the same index and text.
    for record in &records.0 {
        let line = lines
            .0
            .iter()
            .find(|l| l.index == record.index)
            .expect("record index is a line index");
        assert_eq!(line.text, record.text);
        // `Value: FromStr`, so this re-parses without naming serde_json.
        assert_eq!(record.text.parse().ok().as_ref(), Some(&record.value));
    }
});
