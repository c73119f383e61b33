//! Fuzzes the cached-head decoder: whatever bytes sit in an entry's
//! metadata, `decode` must return a typed error or an entry, never panic,
//! and an accepted entry must re-encode to exactly the same bytes (so no
//! two encodings decode alike, and nothing the decoder accepts is lost).
//! Everything it accepts must also be safe to replay: no header the edge
//! never stores, no value that could split a response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_core::cache::stored_head::{decode, encode_pass, Entry};

fuzz_target!(|data: &[u8]| {
    match decode(data) {
        Err(_) => {}
        Ok(Entry::Pass(reason)) => assert_eq!(encode_pass(reason), data),
        Ok(Entry::Response(head)) => {
            assert_eq!(head.encode().expect("accepted heads re-encode"), data);
            for (name, value) in &head.headers {
                assert!(!name.is_empty() && !name.bytes().any(|b| b.is_ascii_uppercase()));
                assert!(!["set-cookie", "surrogate-key", "age", "connection"].contains(&name.as_str()));
                assert!(!value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0));
            }
        }
    }
});
