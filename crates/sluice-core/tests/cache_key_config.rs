//! A configuration change never serves bytes rewritten under the old
//! configuration (issue 18).
//!
//! This cannot be shown end to end under Viceroy: its Config Store is
//! fixed for the life of a `viceroy serve` process and its cache dies with
//! the process, so a cache that outlives a config change does not exist
//! there. On Fastly it does (a Config Store edit is live while the cache
//! persists), and what keeps the old entries from being served is the key:
//! the adapter derives it (`src/cache/mod.rs`, `key_for`) from
//! `RewriteFingerprint::from_settings` of the settings loaded for the
//! request. These tests take the same path from Config Store strings
//! (`Settings::from_lookup`) to the key.
// Test and benchmark code: a failed unwrap or expect stops it, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sluice_core::cache::key::{CacheKey, CodingClass, KeyInput, RewriteFingerprint};
use sluice_core::settings::Settings;

/// Settings as the adapter loads them from Config Store entries.
fn settings(entries: &[(&str, &str)]) -> Settings {
    Settings::from_lookup(|key| {
        entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("valid config")
}

/// The key of one fixed request under `entries`.
fn key_under(entries: &[(&str, &str)]) -> CacheKey {
    let s = settings(entries);
    let fingerprint = RewriteFingerprint::from_settings(&s);
    let path = "/news/article?id=7";
    CacheKey::derive(&KeyInput {
        scheme: "https",
        authority: "edge.example",
        path_and_query: path,
        buffered: s.wants_buffering("/news/article"),
        coding: CodingClass::for_request(s.output_encoding, false, Some("gzip, br")),
        fingerprint: &fingerprint,
    })
}

#[test]
fn a_different_rewrite_host_list_is_a_different_key() {
    let configs: [&[(&str, &str)]; 5] = [
        &[("publisher.rewrite_hosts", "origin.example")],
        &[("publisher.rewrite_hosts", "other.example")],
        &[("publisher.rewrite_hosts", "origin.example,cdn.example")],
        &[("publisher.rewrite_hosts", "origin.example:8443")],
        &[],
    ];
    let keys: Vec<CacheKey> = configs.iter().map(|c| key_under(c)).collect();
    for (i, a) in keys.iter().enumerate() {
        for (j, b) in keys.iter().enumerate().skip(i + 1) {
            assert_ne!(a, b, "configs {i} and {j} share a key");
        }
    }
}

#[test]
fn other_byte_changing_settings_change_the_key_too() {
    let base: &[(&str, &str)] = &[("publisher.rewrite_hosts", "origin.example")];
    let changed: [&[(&str, &str)]; 3] = [
        &[
            ("publisher.rewrite_hosts", "origin.example"),
            ("publisher.output_encoding", "origin"),
        ],
        &[
            ("publisher.rewrite_hosts", "origin.example"),
            ("publisher.output_encoding", "origin"),
            ("publisher.gzip_level", "9"),
        ],
        &[
            ("publisher.rewrite_hosts", "origin.example"),
            ("publisher.buffered_paths", "/news/"),
        ],
    ];
    let base_key = key_under(base);
    for c in changed {
        assert_ne!(key_under(c), base_key, "{c:?}");
    }
}

#[test]
fn the_same_config_loaded_again_finds_the_same_entries() {
    let config: &[(&str, &str)] = &[
        ("publisher.rewrite_hosts", "origin.example,cdn.example"),
        ("log.level", "info"),
    ];
    assert_eq!(key_under(config), key_under(config));
    // Settings that do not change the rewritten bytes keep the entries.
    let unrelated: &[(&str, &str)] = &[
        ("publisher.rewrite_hosts", "origin.example,cdn.example"),
        ("log.level", "debug"),
        ("cache.default_ttl_s", "120"),
        ("cache.hit_for_pass_s", "5"),
    ];
    assert_eq!(key_under(unrelated), key_under(config));
}
