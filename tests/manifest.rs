//! `fastly.toml`'s `[setup]`, which the first `fastly compute publish`
//! turns into a working service, names exactly what the code reads: the
//! backends it sends to, Config Store keys the settings parser knows (each
//! default value accepted, a bad value refused under the same key), the
//! secrets it looks up and the log endpoints it writes to; the local server
//! binds the same store names; docs/CONFIG.md documents every key.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use sluice_core::settings::{Settings, SYNTHETIC_ID_KEY};
use sluice_e2e::workspace;
use toml::{Table, Value};

fn manifest() -> Table {
    let text = std::fs::read_to_string(workspace().join("fastly.toml")).unwrap();
    text.parse().expect("fastly.toml is TOML")
}

fn table<'a>(t: &'a Table, path: &[&str]) -> &'a Table {
    path.iter().fold(t, |t, k| {
        t.get(*k)
            .and_then(Value::as_table)
            .unwrap_or_else(|| panic!("no table {path:?}"))
    })
}

fn keys(t: &Table) -> BTreeSet<&str> {
    t.keys().map(String::as_str).collect()
}

/// Every entry of `t` uses only `fields`: the fields the Fastly CLI's
/// manifest reads there (its `[setup]` schema); a misspelt field would be
/// ignored without a word.
fn only_fields(t: &Table, fields: &[&str], what: &str) {
    for (name, v) in t {
        for field in v.as_table().map(keys).unwrap_or_default() {
            assert!(
                fields.contains(&field),
                "{what} {name}: unknown field {field}"
            );
        }
    }
}

fn described(t: &Table, what: &str) {
    for (name, v) in t {
        let d = v.get("description").and_then(Value::as_str).unwrap_or("");
        assert!(d.len() > 20, "{what} {name} needs a description");
    }
}

#[test]
fn setup_names_the_backends_stores_secrets_and_log_endpoints_the_code_uses() {
    let m = manifest();
    assert_eq!(m["manifest_version"].as_integer(), Some(3));
    let setup = table(&m, &["setup"]);

    let backends = table(setup, &["backends"]);
    assert_eq!(keys(backends), BTreeSet::from(["llm", "origin"]));
    described(backends, "backend");
    only_fields(backends, &["address", "port", "description"], "backend");
    for b in backends.values() {
        assert_eq!(b["port"].as_integer(), Some(443), "TLS to every backend");
    }

    let stores = table(setup, &["config_stores"]);
    assert_eq!(keys(stores), BTreeSet::from(["sluice"]));
    only_fields(stores, &["items", "description"], "config store");
    let items = table(stores, &["sluice", "items"]);
    described(items, "config item");
    only_fields(items, &["value", "description"], "config item");
    let config_doc = std::fs::read_to_string(workspace().join("docs/CONFIG.md")).unwrap();
    for (key, item) in items {
        let value = item["value"].as_str().expect("a default value");
        let parsed = Settings::from_lookup(|k| (k == key).then(|| value.to_owned()));
        assert!(parsed.is_ok(), "{key} = {value:?} refused: {parsed:?}");
        // The parser reads the key: a bad value is an error naming it.
        let bad = Settings::from_lookup(|k| (k == key).then(|| "\u{1}bad value".to_owned()));
        assert_eq!(bad.map(|_| ()).unwrap_err().key, key.as_str());
        assert!(
            config_doc.contains(&format!("| `{key}` |")),
            "{key} not in CONFIG.md"
        );
    }

    let secrets = table(setup, &["secret_stores"]);
    assert_eq!(keys(secrets), BTreeSet::from(["sluice_secrets"]));
    only_fields(secrets, &["entries", "description"], "secret store");
    let entries = table(secrets, &["sluice_secrets", "entries"]);
    described(entries, "secret");
    only_fields(entries, &["description"], "secret (never a value)");
    // The names the code looks up (the adapter's gateway constants are
    // `llm_api_key` and `client_key_sha256`).
    let wanted = BTreeSet::from([
        SYNTHETIC_ID_KEY,
        sluice_core::cache::purge::TOKEN_SECRET,
        "llm_api_key",
        "client_key_sha256",
    ]);
    assert_eq!(keys(entries), wanted);
    for name in &wanted {
        assert!(
            config_doc.contains(&format!("| `{name}` |")),
            "{name} not in CONFIG.md"
        );
    }

    // The adapter logs access lines to `access`, everything else to `sluice`.
    let logs = table(setup, &["log_endpoints"]);
    assert_eq!(keys(logs), BTreeSet::from(["access", "sluice"]));
    only_fields(logs, &["provider"], "log endpoint");
    only_fields(
        &Table::from_iter([("setup".to_owned(), Value::Table(setup.clone()))]),
        &[
            "backends",
            "config_stores",
            "secret_stores",
            "log_endpoints",
            "kv_stores",
        ],
        "",
    );

    // The local server binds the same stores and backends.
    let local = table(&m, &["local_server"]);
    assert!(keys(table(local, &["config_stores"])).contains("sluice"));
    assert!(keys(table(local, &["secret_stores"])).contains("sluice_secrets"));
    let local_backends = keys(table(local, &["backends"]));
    assert!(local_backends.is_superset(&keys(backends)));
}
