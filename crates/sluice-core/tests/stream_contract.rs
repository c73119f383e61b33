//! Contract tests: every JSON example in `docs/STREAM_PROTOCOLS.md` validates
//! against its schema in `docs/schemas/` AND deserializes (and validates)
//! with the Rust types; every example marked `invalid` is rejected by both.
//! Messages the edge itself produces are checked against the schemas too, so
//! docs, schemas and code cannot drift apart.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use sluice_core::stream::dispatch::{
    Action, CloseRequest, DispatchLimits, DispatchSession, ErrorBody, StepFailure, StepRequest,
    StepResponse,
};
use sluice_core::stream::plan::{PlanPolicy, UpstreamPlan, ValidatedPlan};
use sluice_core::stream::sse::{encode_error, SseDecoder};
use std::path::PathBuf;

const SCHEMAS: [&str; 6] = [
    "upstream-plan",
    "dispatch-open",
    "dispatch-step-request",
    "dispatch-step-response",
    "dispatch-close",
    "error-event",
];

fn docs_dir() -> PathBuf {
    std::env::var_os("SLUICE_DOCS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs")))
}

fn validator(name: &str) -> jsonschema::Validator {
    let path = docs_dir()
        .join("schemas")
        .join(format!("{name}.schema.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[derive(Debug)]
struct Example {
    schema: String,
    invalid: bool,
    line: usize,
    json: String,
}

/// Every ```json schema=NAME [invalid]``` block of the protocol document.
fn examples() -> Vec<Example> {
    let doc = std::fs::read_to_string(docs_dir().join("STREAM_PROTOCOLS.md")).unwrap();
    let mut out = Vec::new();
    let mut current: Option<Example> = None;
    for (i, line) in doc.lines().enumerate() {
        match &mut current {
            None => {
                if let Some(info) = line.trim().strip_prefix("```json schema=") {
                    let mut words = info.split_whitespace();
                    let schema = words.next().unwrap_or_default().to_owned();
                    let invalid = words.any(|w| w == "invalid");
                    current = Some(Example {
                        schema,
                        invalid,
                        line: i + 1,
                        json: String::new(),
                    });
                }
            }
            Some(example) => {
                if line.trim() == "```" {
                    out.push(current.take().unwrap());
                } else {
                    example.json.push_str(line);
                    example.json.push('\n');
                }
            }
        }
    }
    assert!(current.is_none(), "unterminated example block");
    out
}

/// Deserializes (and, where the edge would, validates) with the Rust types.
fn rust_accepts(schema: &str, json: &str) -> Result<(), String> {
    let policy = PlanPolicy::new(["ollama", "openai"]);
    match schema {
        "upstream-plan" => {
            serde_json::from_str::<UpstreamPlan>(json).map_err(|e| e.to_string())?;
            ValidatedPlan::parse(json.as_bytes(), &policy)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        "dispatch-open" => DispatchSession::open(json.as_bytes(), DispatchLimits::default(), 0)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "dispatch-step-request" => serde_json::from_str::<StepRequest>(json)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "dispatch-step-response" => {
            // Shape via serde, content rules via a session that receives it.
            serde_json::from_str::<StepResponse>(json).map_err(|e| e.to_string())?;
            let open = json!({"output": "sse", "step_path": "/s", "close_path": "/c"});
            let mut s =
                DispatchSession::open(open.to_string().as_bytes(), DispatchLimits::default(), 0)
                    .unwrap();
            assert!(matches!(s.next_action(0), Action::Step(_)));
            s.step_response(0, 200, json.as_bytes());
            // A session that rejected the response ends with step_protocol.
            let mut actions = Vec::new();
            loop {
                let a = s.next_action(0);
                if matches!(a, Action::Done | Action::Step(_) | Action::Wait { .. }) {
                    break;
                }
                actions.push(a);
            }
            let rejected = actions.iter().any(|a| match a {
                Action::Reject(r) => r.class == "step_protocol",
                Action::Close(c) => {
                    let close: CloseRequest = serde_json::from_slice(&c.body).unwrap();
                    close.error.is_some_and(|e| e.class == "step_protocol")
                }
                _ => false,
            });
            if rejected {
                Err("rejected by the session".into())
            } else {
                Ok(())
            }
        }
        "dispatch-close" => serde_json::from_str::<CloseRequest>(json)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "error-event" => serde_json::from_str::<ErrorBody>(json)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        other => panic!("unknown schema {other}"),
    }
}

#[test]
fn every_schema_compiles_and_has_valid_and_documented_examples() {
    let examples = examples();
    for name in SCHEMAS {
        validator(name);
        assert!(
            examples.iter().any(|e| e.schema == name && !e.invalid),
            "no valid example for {name}"
        );
    }
    for e in &examples {
        assert!(
            SCHEMAS.contains(&e.schema.as_str()),
            "unknown schema in example at line {}",
            e.line
        );
    }
    // Guard against the extractor silently finding nothing.
    assert!(
        examples.len() >= 20,
        "only {} examples found",
        examples.len()
    );
}

#[test]
fn every_documented_example_matches_schema_and_rust_types() {
    for e in examples() {
        let value: Value = serde_json::from_str(&e.json)
            .unwrap_or_else(|err| panic!("line {}: example is not JSON: {err}", e.line));
        let v = validator(&e.schema);
        let schema_ok = v.is_valid(&value);
        let rust = rust_accepts(&e.schema, &e.json);
        if e.invalid {
            assert!(
                !schema_ok,
                "line {}: invalid example passes the {} schema",
                e.line, e.schema
            );
            assert!(
                rust.is_err(),
                "line {}: invalid example accepted by the Rust types",
                e.line
            );
        } else {
            let errors: Vec<String> = v.iter_errors(&value).map(|err| err.to_string()).collect();
            assert!(
                errors.is_empty(),
                "line {}: {} schema errors: {errors:?}",
                e.line,
                e.schema
            );
            assert_eq!(
                rust,
                Ok(()),
                "line {}: Rust types reject the example",
                e.line
            );
        }
    }
}

#[test]
fn rust_serialization_of_plans_and_responses_matches_the_schemas() {
    for e in examples().into_iter().filter(|e| !e.invalid) {
        let reserialized: Value = match e.schema.as_str() {
            "upstream-plan" => {
                serde_json::to_value(serde_json::from_str::<UpstreamPlan>(&e.json).unwrap())
            }
            "dispatch-step-response" => {
                serde_json::to_value(serde_json::from_str::<StepResponse>(&e.json).unwrap())
            }
            "dispatch-step-request" => {
                serde_json::to_value(serde_json::from_str::<StepRequest>(&e.json).unwrap())
            }
            "dispatch-close" => {
                serde_json::to_value(serde_json::from_str::<CloseRequest>(&e.json).unwrap())
            }
            _ => continue,
        }
        .unwrap();
        assert!(
            validator(&e.schema).is_valid(&reserialized),
            "line {}: re-serialized {} does not match its schema: {reserialized}",
            e.line,
            e.schema
        );
    }
}

#[test]
fn messages_the_edge_produces_match_the_schemas() {
    let step_schema = validator("dispatch-step-request");
    let close_schema = validator("dispatch-close");
    let error_schema = validator("error-event");
    let open = json!({"output": "sse", "step_path": "/s", "close_path": "/c", "state": {"n": 0}});
    let limits = DispatchLimits::default().with_max_steps(2);
    let mut s = DispatchSession::open(open.to_string().as_bytes(), limits, 0).unwrap();
    let mut now = 0;
    let mut steps = 0;
    let mut closes = 0;
    loop {
        match s.next_action(now) {
            Action::Step(call) => {
                let body: Value = serde_json::from_slice(&call.body).unwrap();
                assert!(step_schema.is_valid(&body), "{body}");
                steps += 1;
                if steps == 2 {
                    s.step_failed(now, StepFailure::Connect("refused".into()));
                } else {
                    s.step_response(now, 200, br#"{"chunks":["x"],"state":{"n":1}}"#);
                }
            }
            Action::Wait { ms } => now += ms,
            Action::Write(bytes) => {
                let mut events = Vec::new();
                SseDecoder::new().feed(&bytes, &mut events).unwrap();
                for e in events
                    .iter()
                    .filter(|e| e.event.as_deref() == Some("error"))
                {
                    let data: Value = serde_json::from_str(&e.data).unwrap();
                    assert!(error_schema.is_valid(&data), "{data}");
                }
            }
            Action::Close(call) => {
                let body: Value = serde_json::from_slice(&call.body).unwrap();
                assert!(close_schema.is_valid(&body), "{body}");
                assert_eq!(body["reason"], "limit");
                closes += 1;
            }
            Action::Done => break,
            _ => {}
        }
    }
    assert_eq!(closes, 1);
    assert!(steps >= 3, "the retry was exercised");

    let mut out = Vec::new();
    encode_error("upstream_status", "upstream answered 503", &mut out);
    let mut events = Vec::new();
    SseDecoder::new().feed(&out, &mut events).unwrap();
    let data: Value = serde_json::from_str(&events[0].data).unwrap();
    assert!(error_schema.is_valid(&data));
}

#[test]
fn schemas_reject_what_the_code_rejects_structurally() {
    let plan = validator("upstream-plan");
    let base = json!({"backend": "b", "method": "POST", "path": "/p", "codec": "ndjson",
                      "mapper": {"kind": "passthrough"}, "output": "text"});
    assert!(plan.is_valid(&base));
    for (field, bad) in [
        ("method", json!("CONNECT")),
        ("path", json!("/a b")),
        ("path", json!("/a#b")),
        ("path", json!("")),
        ("codec", json!("xml")),
        ("version", json!(2)),
        ("headers", json!({"bad name": "v"})),
        ("headers", json!({"x": "a\r\nb"})),
        ("mapper", json!({"kind": "passthrough", "pointers": ["/a"]})),
        ("mapper", json!({"kind": "text_field", "pointers": ["a"]})),
        ("done", json!({"kind": "sentinel"})),
        ("sse", json!({"token_event": "a\nb"})),
        ("limits", json!({"max_record_bytes": 0})),
        ("body", json!({"json": 1, "text": "x"})),
    ] {
        let mut v = base.clone();
        v[field] = bad.clone();
        assert!(!plan.is_valid(&v), "schema accepted {field} = {bad}");
        assert!(
            ValidatedPlan::parse(v.to_string().as_bytes(), &PlanPolicy::new(["b"])).is_err(),
            "code accepted {field} = {bad}"
        );
    }
}
