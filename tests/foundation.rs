//! Issue: foundation. The edge proxies any path to the `origin` backend
//! with its status, headers and body; strips hop-by-hop headers both ways;
//! owns the forwarding headers; and fails cleanly when the origin is down
//! or the configuration is invalid.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sluice_e2e::http::{get, request};
use sluice_e2e::{EdgeConfig, Stack};

fn echo_header<'a>(echo: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    echo["headers"]
        .as_array()
        .expect("headers array")
        .iter()
        .filter(|pair| {
            pair[0]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .filter_map(|pair| pair[1].as_str())
        .collect()
}

#[test]
fn binary_body_is_byte_identical_with_origin_headers() {
    let stack = Stack::start();
    let direct = get(&stack.origin.url("/bytes/1048576"), &[]);
    let edge = get(&stack.edge.url("/bytes/1048576"), &[]);
    assert_eq!(edge.status, 200);
    assert_eq!(edge.body.len(), 1_048_576);
    assert!(
        edge.body == direct.body,
        "1 MiB body differs through the edge"
    );
    for h in ["etag", "last-modified", "content-type", "content-length"] {
        assert_eq!(edge.header(h), direct.header(h), "{h}");
    }
}

#[test]
fn statuses_pass_through_and_error_pages_are_rewritten() {
    let stack = Stack::start();
    for code in [404u16, 500] {
        let edge = get(&stack.edge.url(&format!("/status/{code}")), &[]);
        assert_eq!(edge.status, code);
        let text = edge.text();
        assert!(!text.is_empty());
        assert!(
            !text.contains("//origin.example"),
            "branded {code} page still links to the origin: {text}"
        );
        assert!(text.contains(&format!("//{}", stack.edge.addr)), "{text}");
    }
    let no_content = get(&stack.edge.url("/status/204"), &[]);
    assert_eq!(no_content.status, 204);
    assert!(no_content.body.is_empty());
}

#[test]
fn head_returns_headers_without_body() {
    let stack = Stack::start();
    let resp = request("HEAD", &stack.edge.url("/bytes/4096"), &[], None);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-length"), Some("4096"));
    assert!(resp.body.is_empty());
}

#[test]
fn hop_by_hop_headers_are_stripped_both_ways() {
    let stack = Stack::start();
    let resp = get(
        &stack.edge.url("/echo/hop"),
        &[
            ("connection", "x-private-hop"),
            ("x-private-hop", "secret"),
            ("te", "trailers"),
            ("proxy-authorization", "Basic Zm9vOmJhcg=="),
            ("x-kept", "yes"),
        ],
    );
    assert_eq!(resp.status, 200);
    let echo: serde_json::Value = serde_json::from_slice(&resp.body).expect("echo JSON");
    for name in [
        "x-private-hop",
        "te",
        "proxy-authorization",
        "keep-alive",
        "upgrade",
    ] {
        assert!(
            echo_header(&echo, name).is_empty(),
            "{name} reached the origin"
        );
    }
    assert_eq!(echo_header(&echo, "x-kept"), ["yes"]);

    let resp = get(
        &stack.edge.url(
            "/headers?h=Connection:x-resp-hop&h=X-Resp-Hop:1&h=Keep-Alive:timeout%3D5&h=Proxy-Authenticate:Basic&h=X-Resp-Kept:1",
        ),
        &[],
    );
    assert_eq!(resp.status, 200);
    for name in ["x-resp-hop", "keep-alive", "proxy-authenticate"] {
        assert!(resp.header(name).is_none(), "{name} reached the client");
    }
    assert_eq!(resp.header("x-resp-kept"), Some("1"));
}

#[test]
fn forwarding_headers_come_from_the_edge_not_the_client() {
    let stack = Stack::start();
    let resp = get(
        &stack.edge.url("/echo/fwd"),
        &[
            ("x-forwarded-for", "203.0.113.66"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=203.0.113.66;host=evil.example"),
            ("x-sluice-id", "spoofed"),
        ],
    );
    let echo: serde_json::Value = serde_json::from_slice(&resp.body).expect("echo JSON");
    assert_eq!(echo_header(&echo, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(
        echo_header(&echo, "x-forwarded-host"),
        [stack.edge.addr.to_string().as_str()]
    );
    assert_eq!(echo_header(&echo, "x-forwarded-proto"), ["http"]);
    assert!(echo_header(&echo, "forwarded").is_empty());
    let sid = echo_header(&echo, "x-sluice-id");
    assert_eq!(sid.len(), 1);
    assert_ne!(sid[0], "spoofed");
    assert_eq!(echo_header(&echo, "host"), ["origin.example"]);
}

#[test]
fn origin_down_is_a_short_502_and_a_log_line() {
    let mut stack = Stack::start();
    stack.origin.proc.stop();
    let resp = get(&stack.edge.url("/anything"), &[]);
    assert_eq!(resp.status, 502);
    assert_eq!(
        resp.header("x-sluice-error-class"),
        Some("origin_unreachable")
    );
    let text = resp.text();
    assert!(text.len() < 200, "{text}");
    assert!(
        !text.contains("127.0.0.1"),
        "502 leaks the backend address: {text}"
    );
    assert!(stack
        .edge
        .proc
        .wait_for_line(std::time::Duration::from_secs(5), |l| l
            .contains("origin_unreachable"))
        .is_some());
}

#[test]
fn invalid_configuration_is_a_500_naming_the_key() {
    let stack = Stack::start_with(|c: EdgeConfig| c.set("publisher.buffer_max_bytes", "lots"));
    let resp = get(&stack.edge.url("/"), &[]);
    assert_eq!(resp.status, 500);
    let text = resp.text();
    assert!(text.contains("publisher.buffer_max_bytes"), "{text}");
    assert!(!text.contains("lots"), "{text}");
}
