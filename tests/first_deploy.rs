//! A first deploy: a service whose Secret Store has no `synthetic_id_key`
//! yet serves pages, and `publisher.synthetic_id` says whether the signed
//! visitor ID is on (`auto`: when the key exists; `on`: always, a missing
//! key is a configuration error naming it; `off`: never). The access line
//! says which applied.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sluice_e2e::http::{get, Resp};
use sluice_e2e::{EdgeConfig, Stack, TEST_SID_KEY};

fn echoed(resp: &Resp, name: &str) -> Vec<String> {
    let echo: serde_json::Value = serde_json::from_slice(&resp.body).expect("echo JSON");
    echo["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .filter(|p| p[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .filter_map(|p| p[1].as_str().map(str::to_owned))
        .collect()
}

fn issued(resp: &Resp) -> bool {
    resp.header_all("set-cookie")
        .iter()
        .any(|c| c.starts_with("sluice_id="))
}

/// The access line of the one request made, waited for.
fn record(stack: &Stack) -> serde_json::Value {
    let records = stack.edge.wait_access_records(1, Duration::from_secs(10));
    records.last().cloned().expect("an access line")
}

#[test]
fn auto_without_the_key_serves_pages_without_ids() {
    let stack = Stack::start_with(|c: EdgeConfig| c.unset_secret("synthetic_id_key"));
    let resp = get(&stack.edge.url("/echo/sid"), &[("cookie", "a=1")]);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(!issued(&resp), "no key, no cookie");
    assert!(echoed(&resp, "x-sluice-id").is_empty());
    assert_eq!(echoed(&resp, "cookie"), ["a=1"]);
    // Not made private for a cookie that was never issued.
    assert!(resp
        .header("cache-control")
        .is_none_or(|c| !c.contains("private")));
    assert_eq!(record(&stack)["synthetic_id"], "off");
}

#[test]
fn auto_with_the_key_issues_ids_and_says_so() {
    let stack = Stack::start();
    let resp = get(&stack.edge.url("/echo/sid"), &[]);
    assert_eq!(resp.status, 200);
    assert!(issued(&resp));
    assert_eq!(echoed(&resp, "x-sluice-id").len(), 1);
    assert_eq!(record(&stack)["synthetic_id"], "on");
}

#[test]
fn on_without_the_key_is_a_configuration_error_naming_it() {
    let stack = Stack::start_with(|c: EdgeConfig| {
        c.unset_secret("synthetic_id_key")
            .set("publisher.synthetic_id", "on")
    });
    let resp = get(&stack.edge.url("/echo/sid?t=strict"), &[]);
    assert_eq!(resp.status, 500);
    assert_eq!(resp.header("x-sluice-error-class"), Some("config"));
    let body = resp.text();
    assert!(body.contains("`synthetic_id_key`"), "{body}");
    assert!(body.contains("missing"), "{body}");
    let origin_requests = stack
        .origin
        .events()
        .into_iter()
        .filter(|e| e["kind"] == "request" && e["detail"]["query"] == "t=strict")
        .count();
    assert_eq!(origin_requests, 0, "nothing reaches the origin");
}

#[test]
fn on_with_a_short_key_is_a_configuration_error_never_echoing_it() {
    let stack = Stack::start_with(|c: EdgeConfig| {
        c.secret("synthetic_id_key", "short-key-9")
            .set("publisher.synthetic_id", "on")
    });
    let resp = get(&stack.edge.url("/echo/sid"), &[]);
    assert_eq!(resp.status, 500);
    let body = resp.text();
    assert!(body.contains("`synthetic_id_key`"), "{body}");
    assert!(!body.contains("short-key-9"), "the secret leaked: {body}");
}

#[test]
fn off_never_issues_reads_or_forwards_an_id() {
    let stack = Stack::start_with(|c: EdgeConfig| {
        c.secret("synthetic_id_key", TEST_SID_KEY)
            .set("publisher.synthetic_id", "off")
    });
    // A visitor holding a cookie from when IDs were on.
    let resp = get(
        &stack.edge.url("/echo/sid"),
        &[(
            "cookie",
            &format!("a=1; sluice_id={}.{}", "a".repeat(32), "b".repeat(64)),
        )],
    );
    assert_eq!(resp.status, 200);
    assert!(!issued(&resp));
    assert!(echoed(&resp, "x-sluice-id").is_empty());
    assert_eq!(
        echoed(&resp, "cookie"),
        ["a=1"],
        "the ID cookie is not forwarded"
    );
    assert_eq!(record(&stack)["synthetic_id"], "off");
}

#[test]
fn a_bad_switch_value_is_a_configuration_error() {
    let stack = Stack::start_with(|c: EdgeConfig| c.set("publisher.synthetic_id", "yes"));
    let resp = get(&stack.edge.url("/echo/sid"), &[]);
    assert_eq!(resp.status, 500);
    assert!(resp.text().contains("publisher.synthetic_id"));
}
