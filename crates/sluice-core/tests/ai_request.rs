//! Client request preparation of the AI gateway: the body cap (whole and
//! streamed), JSON validation, and the `stream_options.include_usage`
//! injection that keeps every other byte.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::{json, Value};
use sluice_core::ai::request::{prepare, BodyCollector, RequestError, RequestLimits};
use sluice_core::ai::routes::Route;
use std::borrow::Cow;

fn chat(body: &str) -> Result<sluice_core::ai::request::Prepared<'_>, RequestError> {
    prepare(
        body.as_bytes(),
        Route::ChatCompletions,
        &RequestLimits::default(),
    )
}

#[test]
fn stream_options_are_spliced_in_keeping_every_other_byte() {
    let body = "{\n  \"model\": \"gpt-4o\",\n  \"stream\": true,\n  \"seed\": 123456789012345678901234567890,\n  \"messages\": [{\"role\": \"user\", \"content\": \"Hi \\u00e9\"}]\n}\n";
    let p = chat(body).unwrap();
    assert_eq!(
        std::str::from_utf8(&p.body).unwrap(),
        "{\n  \"model\": \"gpt-4o\",\n  \"stream\": true,\n  \"seed\": 123456789012345678901234567890,\n  \"messages\": [{\"role\": \"user\", \"content\": \"Hi \\u00e9\"}]\n,\"stream_options\":{\"include_usage\":true}}\n"
    );
    assert_eq!(p.model.as_deref(), Some("gpt-4o"));
    assert!(p.stream && p.usage_injected && !p.client_wants_usage && p.strip_usage());
}

#[test]
fn other_stream_options_are_preserved() {
    let p = chat(r#"{"stream":true,"model":"m","stream_options":{"include_obfuscation":false,"include_usage":false}}"#)
        .unwrap();
    let v: Value = serde_json::from_slice(&p.body).unwrap();
    assert_eq!(
        v,
        json!({"stream": true, "model": "m", "stream_options": {"include_obfuscation": false, "include_usage": true}})
    );
    assert!(p.usage_injected && p.strip_usage());
    let p = chat(r#"{"stream":true,"stream_options":{"x":1}}"#).unwrap();
    let v: Value = serde_json::from_slice(&p.body).unwrap();
    assert_eq!(v["stream_options"], json!({"x": 1, "include_usage": true}));
}

#[test]
fn a_client_that_asked_for_usage_is_forwarded_unchanged() {
    let body = r#"{"stream":true, "stream_options": {"include_usage": true}, "model":"m"}"#;
    let p = chat(body).unwrap();
    assert!(matches!(p.body, Cow::Borrowed(_)));
    assert_eq!(&*p.body, body.as_bytes());
    assert!(p.client_wants_usage && !p.usage_injected && !p.strip_usage());
}

#[test]
fn non_streamed_and_non_streamable_requests_are_forwarded_unchanged() {
    for (route, body) in [
        (Route::ChatCompletions, r#"{"model":"m","messages":[]}"#),
        (Route::ChatCompletions, r#"{"model":"m","stream":false}"#),
        (Route::ChatCompletions, r#"{"model":"m","stream":null}"#),
        (
            Route::Embeddings,
            r#"{"model":"e","input":"x","stream":true}"#,
        ),
    ] {
        let p = prepare(body.as_bytes(), route, &RequestLimits::default()).unwrap();
        assert!(
            matches!(p.body, Cow::Borrowed(b) if b == body.as_bytes()),
            "{body}"
        );
        assert!(!p.stream && !p.usage_injected && !p.strip_usage(), "{body}");
    }
}

#[test]
fn legacy_completions_get_usage_too() {
    let p = prepare(
        br#"{"model":"m","prompt":"x","stream":true}"#,
        Route::Completions,
        &RequestLimits::default(),
    )
    .unwrap();
    assert_eq!(
        &*p.body,
        br#"{"model":"m","prompt":"x","stream":true,"stream_options":{"include_usage":true}}"#
    );
}

#[test]
fn models_forwards_no_body() {
    let p = prepare(b"ignored", Route::Models, &RequestLimits::default()).unwrap();
    assert!(p.body.is_empty() && !p.stream);
}

#[test]
fn invalid_json_is_400_and_not_forwarded() {
    for body in [
        "",
        "   ",
        "{",
        "{\"model\":}",
        "{\"a\":1} x",
        "{'a':1}",
        "\u{feff}{}",
        "nul",
    ] {
        let err = chat(body).unwrap_err();
        assert!(
            matches!(err, RequestError::InvalidJson { .. }),
            "{body:?}: {err:?}"
        );
        let api = err.api_error();
        assert_eq!(api.status(), 400);
        assert_eq!(
            String::from_utf8(api.to_json()).unwrap(),
            r#"{"error":{"message":"We could not parse the JSON body of your request.","type":"invalid_request_error","param":null,"code":null}}"#
        );
    }
    // The log detail carries positions, not content.
    let err = chat("{\"secret-looking\": nope}").unwrap_err();
    assert!(!err.to_string().contains("nope"), "{err}");
}

#[test]
fn non_objects_are_400() {
    for body in [
        "[]",
        "[{\"model\":\"m\"}]",
        "\"text\"",
        "42",
        "null",
        " true ",
    ] {
        let err = chat(body).unwrap_err();
        assert_eq!(err, RequestError::NotAnObject, "{body}");
        assert_eq!(err.api_error().status(), 400);
    }
}

#[test]
fn over_the_cap_is_413_whether_whole_streamed_or_declared() {
    let limits = RequestLimits::default().with_max_body_bytes(32);
    let exact = format!("{{\"model\":\"{}\"}}", "m".repeat(20));
    assert_eq!(exact.len(), 32);
    assert!(prepare(exact.as_bytes(), Route::ChatCompletions, &limits).is_ok());
    let over = format!("{{\"model\":\"{}\"}}", "m".repeat(21));
    let err = prepare(over.as_bytes(), Route::ChatCompletions, &limits).unwrap_err();
    assert_eq!(err, RequestError::TooLarge { limit: 32 });
    assert_eq!(err.api_error().status(), 413);
    assert_eq!(err.api_error().code(), Some("request_too_large"));

    // Declared length over the cap: refused before reading.
    assert_eq!(
        BodyCollector::new(&limits, Some(33)).unwrap_err(),
        RequestError::TooLarge { limit: 32 }
    );
    // Streamed: the collector refuses the chunk that crosses the cap.
    let mut body = BodyCollector::new(&limits, None).unwrap();
    for chunk in exact.as_bytes().chunks(5) {
        body.push(chunk).unwrap();
    }
    assert_eq!(body.len(), 32);
    assert_eq!(body.push(b"x"), Err(RequestError::TooLarge { limit: 32 }));
    assert_eq!(body.into_bytes(), exact.as_bytes());
}

#[test]
fn the_default_cap_is_four_mib() {
    let limits = RequestLimits::default();
    assert_eq!(limits.max_body_bytes(), 4 << 20);
    assert!(limits.check_content_length(Some(4 << 20)).is_ok());
    assert!(limits.check_content_length(Some((4 << 20) + 1)).is_err());
    let mut body = String::from("{\"input\":\"");
    body.push_str(&"a".repeat((4 << 20) - 12));
    body.push_str("\"}");
    assert_eq!(body.len(), 4 << 20);
    assert!(prepare(body.as_bytes(), Route::Embeddings, &limits).is_ok());
    body.insert(2, ' ');
    assert_eq!(
        prepare(body.as_bytes(), Route::Embeddings, &limits).unwrap_err(),
        RequestError::TooLarge { limit: 4 << 20 }
    );
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn injection_adds_exactly_include_usage(
        fields in prop::collection::btree_map("[a-z]{1,10}", json_value(), 0..6),
        options in prop::option::of(prop::collection::btree_map("[a-z]{1,8}", json_leaf(), 0..3)),
        pretty in any::<bool>(),
    ) {
        let mut object: serde_json::Map<String, Value> = fields.into_iter().collect();
        object.remove("model");
        object.insert("stream".into(), Value::Bool(true));
        object.remove("stream_options");
        if let Some(options) = &options {
            let mut options: serde_json::Map<String, Value> = options.clone().into_iter().collect();
            options.remove("include_usage");
            object.insert("stream_options".into(), Value::Object(options));
        }
        let original = Value::Object(object);
        let body = if pretty {
            serde_json::to_vec_pretty(&original).unwrap()
        } else {
            serde_json::to_vec(&original).unwrap()
        };
        let p = prepare(&body, Route::ChatCompletions, &RequestLimits::default()).unwrap();
        let forwarded: Value = serde_json::from_slice(&p.body).unwrap();
        let mut expected = original.clone();
        expected
            .as_object_mut()
            .unwrap()
            .entry("stream_options")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .unwrap()
            .insert("include_usage".into(), Value::Bool(true));
        prop_assert_eq!(forwarded, expected);
        prop_assert!(p.usage_injected && p.strip_usage());
        if options.is_none() {
            // The splice path keeps the client's bytes as a prefix.
            let end = body.iter().rposition(|b| *b == b'}').unwrap();
            prop_assert_eq!(&p.body[..end], &body[..end]);
        }
        // Preparing the forwarded body again changes nothing.
        let again = prepare(&p.body, Route::ChatCompletions, &RequestLimits::default()).unwrap();
        prop_assert!(matches!(again.body, Cow::Borrowed(_)));
        prop_assert!(again.client_wants_usage);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_valid_objects_always_pass(body in prop::collection::vec(any::<u8>(), 0..200)) {
        let result = prepare(&body, Route::ChatCompletions, &RequestLimits::default());
        if let Ok(p) = &result {
            prop_assert!(serde_json::from_slice::<serde_json::Map<String, Value>>(&p.body).is_ok());
        }
    }
}
