//! Upstream plan validation: every rejection reason, the allow-list, header
//! sanitising, and the request the adapter is told to send.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use sluice_core::stream::plan::{PlanPolicy, ValidatedPlan};
use sluice_core::stream::{ErrorClass, FrameError, PlanError};

fn base() -> Value {
    json!({
        "backend": "ollama",
        "method": "POST",
        "path": "/api/chat",
        "codec": "ndjson",
        "mapper": {"kind": "text_field", "pointers": ["/message/content"]},
        "output": "sse"
    })
}

fn policy() -> PlanPolicy {
    PlanPolicy::new(["ollama", "openai"])
}

fn parse(v: &Value) -> Result<ValidatedPlan, PlanError> {
    ValidatedPlan::parse(v.to_string().as_bytes(), &policy())
}

fn with(field: &str, value: Value) -> Value {
    let mut v = base();
    v[field] = value;
    v
}

fn err(v: &Value) -> PlanError {
    parse(v).expect_err("the plan must be rejected")
}

#[test]
fn the_base_plan_is_valid() {
    parse(&base()).unwrap();
}

#[test]
fn backend_outside_the_allow_list_is_rejected_with_its_own_class() {
    for name in ["evil", "OLLAMA", "http://169.254.169.254/", ""] {
        let e = err(&with("backend", json!(name)));
        assert_eq!(e, PlanError::BackendNotAllowed(name.to_owned()));
        assert_eq!(e.class(), ErrorClass::BackendNotAllowed);
        assert_eq!(e.class().as_str(), "backend_not_allowed");
    }
    // An empty allow-list allows nothing.
    let e = ValidatedPlan::parse(
        base().to_string().as_bytes(),
        &PlanPolicy::new(Vec::<String>::new()),
    )
    .unwrap_err();
    assert!(matches!(e, PlanError::BackendNotAllowed(_)));
}

#[test]
fn malformed_json_unknown_and_missing_fields() {
    assert!(matches!(
        ValidatedPlan::parse(b"{not json", &policy()),
        Err(PlanError::Malformed(_))
    ));
    assert!(
        matches!(err(&with("url", json!("http://x"))), PlanError::Malformed(m) if m.contains("unknown field"))
    );
    let mut missing = base();
    missing.as_object_mut().unwrap().remove("path");
    assert!(matches!(err(&missing), PlanError::Malformed(m) if m.contains("path")));
    assert!(matches!(
        err(&with("codec", json!("xml"))),
        PlanError::Malformed(_)
    ));
    assert!(matches!(
        err(&with("output", json!("html"))),
        PlanError::Malformed(_)
    ));
    assert!(matches!(
        err(&with("mapper", json!({"kind": "regex"}))),
        PlanError::Malformed(_)
    ));
    assert!(matches!(
        err(&with(
            "mapper",
            json!({"kind": "passthrough", "pointers": []})
        )),
        PlanError::Malformed(_)
    ));
    assert_eq!(
        err(&with("version", json!(2))),
        PlanError::UnsupportedVersion(2)
    );
    assert_eq!(
        err(&with("version", json!(2))).class(),
        ErrorClass::PlanInvalid
    );
}

#[test]
fn oversized_plan_is_rejected_before_parsing() {
    let p = PlanPolicy::new(["ollama"]).with_max_plan_bytes(16);
    assert_eq!(
        ValidatedPlan::parse(&[b' '; 17], &p).unwrap_err(),
        PlanError::TooLarge {
            size: 17,
            limit: 16
        }
    );
    assert_eq!(policy().max_plan_bytes(), 64 * 1024);
}

#[test]
fn methods_are_allow_listed() {
    for m in ["CONNECT", "TRACE", "post", "GET ", ""] {
        assert_eq!(
            err(&with("method", json!(m))),
            PlanError::MethodNotAllowed(m.to_owned())
        );
    }
    for m in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        parse(&with("method", json!(m))).unwrap();
    }
}

#[test]
fn paths_cannot_carry_a_scheme_or_authority() {
    for p in [
        "http://evil.example/x",
        "//evil.example/x",
        "api/chat",
        "",
        "/a b",
        "/a#frag",
        "/a\\..\\b",
        "/a\r\nHost: evil",
        "/caf\u{e9}",
    ] {
        assert_eq!(
            err(&with("path", json!(p))),
            PlanError::InvalidPath(p.to_owned()),
            "{p:?}"
        );
    }
    let too_long = format!("/{}", "a".repeat(8 * 1024));
    assert!(matches!(
        err(&with("path", json!(too_long))),
        PlanError::InvalidPath(_)
    ));
    parse(&with("path", json!("/api/chat?model=x&y=%20"))).unwrap();
}

#[test]
fn hop_by_hop_and_edge_owned_request_headers_are_rejected() {
    for name in [
        "Connection",
        "keep-alive",
        "Transfer-Encoding",
        "TE",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "host",
        "content-length",
        "x-forwarded-for",
        "forwarded",
        "accept-encoding",
        "content-encoding",
        "x-sluice-error-class",
        "fastly-ff",
        "cdn-loop",
    ] {
        let e = err(&with("headers", json!({ name: "x" })));
        assert_eq!(
            e,
            PlanError::ForbiddenHeader(name.to_ascii_lowercase()),
            "{name}"
        );
        assert_eq!(e.class(), ErrorClass::PlanInvalid);
    }
}

#[test]
fn response_headers_are_sanitised_too() {
    for name in [
        "transfer-encoding",
        "connection",
        "content-length",
        "content-type",
        "x-sluice-mode",
        "content-encoding",
    ] {
        assert_eq!(
            err(&with("response_headers", json!({ name: "x" }))),
            PlanError::ForbiddenHeader(name.to_owned())
        );
    }
}

#[test]
fn header_names_and_values_are_validated() {
    assert_eq!(
        err(&with("headers", json!({"bad name": "x"}))),
        PlanError::InvalidHeaderName("bad name".into())
    );
    assert_eq!(
        err(&with("headers", json!({"": "x"}))),
        PlanError::InvalidHeaderName(String::new())
    );
    for value in ["a\r\nx-injected: 1", "a\nb", "nul\0", "caf\u{e9}"] {
        assert_eq!(
            err(&with("headers", json!({"x-a": value}))),
            PlanError::InvalidHeaderValue("x-a".into())
        );
    }
    assert!(matches!(
        err(&with("headers", json!({"X-A": "1", "x-a": "2"}))),
        PlanError::Malformed(m) if m.contains("twice")
    ));
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("x-h{i}"), json!("v"))).collect();
    assert!(matches!(
        err(&with("headers", Value::Object(many))),
        PlanError::Malformed(_)
    ));
}

#[test]
fn pointers_and_mapper_rules() {
    assert_eq!(
        err(&with(
            "mapper",
            json!({"kind": "text_field", "pointers": ["message/content"]})
        )),
        PlanError::InvalidPointer("message/content".into())
    );
    assert_eq!(
        err(&with(
            "mapper",
            json!({"kind": "text_field", "pointers": ["/a~2b"]})
        )),
        PlanError::InvalidPointer("/a~2b".into())
    );
    assert_eq!(
        err(&with(
            "mapper",
            json!({"kind": "sse_field", "pointers": []})
        )),
        PlanError::NoPointers
    );
    assert_eq!(
        err(&with(
            "done",
            json!({"kind": "pointer_equals", "pointer": "done", "value": true})
        )),
        PlanError::InvalidPointer("done".into())
    );
    let mut lines = with("codec", json!("lines"));
    assert!(matches!(err(&lines), PlanError::Incompatible(_)));
    lines["mapper"] = json!({"kind": "passthrough"});
    parse(&lines).unwrap();
    lines["done"] = json!({"kind": "pointer_equals", "pointer": "/done", "value": true});
    assert!(matches!(err(&lines), PlanError::Incompatible(_)));
}

#[test]
fn sse_names_must_be_frameable_and_need_sse_output() {
    assert_eq!(
        err(&with("sse", json!({"token_event": "a\nb"}))),
        PlanError::Frame(FrameError::EventNameHasNewline)
    );
    assert_eq!(
        err(&with(
            "sse",
            json!({"final": {"event": "x\ry", "data": "[DONE]"}})
        )),
        PlanError::Frame(FrameError::EventNameHasNewline)
    );
    let mut text = with("output", json!("text"));
    text["sse"] = json!({"token_event": "token"});
    assert!(matches!(err(&text), PlanError::Incompatible(_)));
}

#[test]
fn content_type_and_limits() {
    assert_eq!(
        err(&with("content_type", json!("text/plain\r\nx: y"))),
        PlanError::InvalidContentType("text/plain\r\nx: y".into())
    );
    assert!(matches!(
        err(&with("content_type", json!(" "))),
        PlanError::InvalidContentType(_)
    ));
    assert_eq!(
        err(&with("limits", json!({"max_record_bytes": 0}))),
        PlanError::LimitOutOfRange {
            name: "max_record_bytes",
            value: 0,
            cap: 1 << 20
        }
    );
    assert_eq!(
        err(&with("limits", json!({"first_byte_timeout_ms": 60_001}))),
        PlanError::LimitOutOfRange {
            name: "first_byte_timeout_ms",
            value: 60_001,
            cap: 60_000
        }
    );
    assert_eq!(
        err(&with("limits", json!({"between_bytes_timeout_ms": 0}))),
        PlanError::LimitOutOfRange {
            name: "between_bytes_timeout_ms",
            value: 0,
            cap: 60_000
        }
    );
    let p = parse(&with(
        "limits",
        json!({"max_record_bytes": 4096, "between_bytes_timeout_ms": 5000}),
    ))
    .unwrap();
    assert_eq!(p.limits().max_record_bytes, 4096);
    assert_eq!(p.limits().between_bytes_timeout_ms, 5000);
    assert_eq!(p.limits().first_byte_timeout_ms, 60_000);
}

#[test]
fn request_is_built_exactly() {
    let mut v = base();
    v["headers"] = json!({"Authorization": "Bearer k", "X-Trace": "1"});
    v["body"] = json!({"json": {"model": "m", "stream": true}});
    let p = parse(&v).unwrap();
    let r = p.request();
    assert_eq!(
        (r.backend.as_str(), r.method.as_str(), r.path.as_str()),
        ("ollama", "POST", "/api/chat")
    );
    assert_eq!(
        r.headers,
        [
            ("authorization".to_owned(), "Bearer k".to_owned()),
            ("x-trace".to_owned(), "1".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
            ("accept-encoding".to_owned(), "identity".to_owned()),
        ]
    );
    assert_eq!(r.body, br#"{"model":"m","stream":true}"#);

    // A text body is sent verbatim, with the plan's own content type.
    let mut v = base();
    v["headers"] = json!({"content-type": "text/plain"});
    v["body"] = json!({"text": "raw \"body\"\n"});
    let p = parse(&v).unwrap();
    assert_eq!(p.request().body, b"raw \"body\"\n");
    assert_eq!(
        p.request().headers,
        [
            ("content-type".to_owned(), "text/plain".to_owned()),
            ("accept-encoding".to_owned(), "identity".to_owned()),
        ]
    );
}

#[test]
fn head_honours_content_type_and_cache_control() {
    let mut v = base();
    v["content_type"] = json!("text/event-stream");
    v["response_headers"] = json!({"Cache-Control": "no-store", "x-request-id": "abc"});
    let p = parse(&v).unwrap();
    assert_eq!(p.head().status, 200);
    assert_eq!(
        p.head().headers,
        [
            ("content-type".to_owned(), "text/event-stream".to_owned()),
            ("cache-control".to_owned(), "no-store".to_owned()),
            ("x-request-id".to_owned(), "abc".to_owned()),
        ]
    );
}

#[test]
fn error_class_strings_are_stable_and_unique() {
    let names: Vec<&str> = ErrorClass::ALL.iter().map(|c| c.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len());
    for n in names {
        assert!(
            n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{n}"
        );
    }
}
