//! Issue: AI streaming gateway, end to end under Viceroy against the mock
//! LLM in sluice-origin.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sluice_e2e::http::request;
use sluice_e2e::{Backend, Edge, EdgeConfig, Origin, Stack};

const CLIENT_KEY: &str = "sk-client-e2e";

fn digest(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn gateway_config(c: EdgeConfig) -> EdgeConfig {
    c.secret(
        "client_key_sha256",
        &format!("{},{}", digest("other"), digest(CLIENT_KEY)),
    )
}

fn auth() -> String {
    format!("Bearer {CLIENT_KEY}")
}

fn chat(model: &str, extra: &str) -> String {
    format!(
        r#"{{"model":"{model}","stream":true,"messages":[{{"role":"user","content":"say hi to the edge"}}]{extra}}}"#
    )
}

/// Parses an SSE body into its `data:` payloads.
fn data_lines(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

fn content_of(datas: &[String]) -> String {
    datas
        .iter()
        .filter(|d| d.as_str() != "[DONE]")
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

fn post_chat(edge: &Edge, body: &str, headers: &[(&str, &str)]) -> sluice_e2e::http::Resp {
    let auth = auth();
    let mut h = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    h.extend_from_slice(headers);
    request(
        "POST",
        &edge.url("/v1/chat/completions"),
        &h,
        Some(body.as_bytes()),
    )
}

#[test]
fn streams_with_the_provider_key_and_strips_usage_it_asked_for() {
    let stack = Stack::start_with(gateway_config);
    let resp = post_chat(&stack.edge, &chat("mock-gpt", ""), &[]);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let datas = data_lines(&resp.text());
    assert_eq!(datas.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(
        content_of(&datas),
        sluice_origin::content::mock_llm_content(18)
    );
    assert!(
        !datas.iter().any(|d| d.contains("\"usage\":{")),
        "usage chunk reached a client that did not ask for it"
    );
    // The mock saw include_usage (added by the edge) and the access log has
    // the token counts.
    let records = stack.edge.wait_access_records(1, Duration::from_secs(5));
    let llm = &records.last().expect("access record")["llm"];
    assert_eq!(llm["completion_tokens"], 18, "{llm}");
    assert!(llm["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(llm["ttft_ms"].is_number());

    // A client that asks for usage gets it.
    let resp = post_chat(
        &stack.edge,
        &chat("mock-gpt", r#","stream_options":{"include_usage":true}"#),
        &[],
    );
    assert!(data_lines(&resp.text())
        .iter()
        .any(|d| d.contains("\"usage\":{\"prompt_tokens\"")));
}

#[test]
fn wrong_provider_key_means_the_edge_substitutes_it() {
    // The mock accepts only its own key; with a wrong provider key in the
    // Secret Store the request fails, proving the client's key is not what
    // reaches the provider.
    let stack = Stack::start_with(|c| gateway_config(c).secret("llm_api_key", "sk-wrong"));
    let resp = post_chat(&stack.edge, &chat("mock-gpt", ""), &[]);
    assert_eq!(resp.status, 502);
    assert!(!resp.text().contains("sk-wrong"));
    assert!(!resp.text().contains(CLIENT_KEY));
}

#[test]
fn bad_client_key_body_and_size_get_openai_errors() {
    let stack = Stack::start_with(|c| gateway_config(c).set("ai.max_body_bytes", "2048"));
    for auth in ["Bearer sk-nope", "Basic Zm9v", ""] {
        let resp = request(
            "POST",
            &stack.edge.url("/v1/chat/completions"),
            &[("authorization", auth)],
            Some(chat("mock-gpt", "").as_bytes()),
        );
        assert_eq!(resp.status, 401, "{auth}");
        let err: serde_json::Value = serde_json::from_slice(&resp.body).expect("error JSON");
        assert!(err["error"]["message"].is_string());
        assert!(!resp.text().contains("sk-nope"));
    }
    let resp = post_chat(&stack.edge, "{not json", &[]);
    assert_eq!(resp.status, 400);
    let big = chat("mock-gpt", &format!(r#","pad":"{}""#, "x".repeat(4096)));
    let resp = post_chat(&stack.edge, &big, &[]);
    assert_eq!(resp.status, 413);
    // Nothing invalid was forwarded.
    assert!(!stack
        .origin
        .events()
        .iter()
        .any(|e| e["kind"] == "llm_request" && e["detail"]["model"].is_null()));
}

fn fallback_stack(primary_args: &[&str], first_byte_timeout_ms: Option<u64>) -> (Stack, Origin) {
    let fallback = Origin::start(&["--name", "fallback"]);
    let primary = Origin::start(&[&["--name", "primary"], primary_args].concat());
    let mut config = gateway_config(EdgeConfig::for_origin(&primary)).backend(Backend::new(
        "llm_fallback",
        &format!("http://{}", fallback.addr),
        Some("llm.example"),
    ));
    if let Some(ms) = first_byte_timeout_ms {
        config = config.backend_timeout("llm", "first_byte_timeout_ms", ms);
    }
    let edge = Edge::start(&config);
    (
        Stack {
            edge,
            origin: primary,
        },
        fallback,
    )
}

#[test]
fn falls_back_before_the_first_byte_for_each_failure_kind() {
    for (args, timeout) in [
        (vec!["--llm-fail", "429"], None),
        (vec!["--llm-fail", "500"], None),
        (vec!["--llm-fail", "503"], None),
        (vec!["--llm-fail", "reset"], None),
        (
            vec!["--llm-fail", "slow-headers", "--llm-slow-ms", "5000"],
            Some(1000),
        ),
    ] {
        let (stack, _fallback) = fallback_stack(&args, timeout);
        let resp = post_chat(&stack.edge, &chat("mock-gpt", ""), &[]);
        assert_eq!(resp.status, 200, "{args:?}: {}", resp.text());
        assert_eq!(resp.header("x-mock-backend"), Some("fallback"), "{args:?}");
        assert_eq!(
            content_of(&data_lines(&resp.text())),
            sluice_origin::content::mock_llm_content(18)
        );
        let records = stack.edge.wait_access_records(1, Duration::from_secs(5));
        assert_eq!(records.last().unwrap()["attempts"], 2, "{args:?}");
    }
}

#[test]
fn never_falls_back_after_the_first_byte_and_ends_with_an_error_event() {
    let (stack, fallback) = fallback_stack(&[], None);
    for model in ["mock-reset-after-3", "mock-error-after-3"] {
        let resp = post_chat(&stack.edge, &chat(model, ""), &[]);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-mock-backend"), Some("primary"));
        assert!(
            resp.body_error.is_none(),
            "{model}: the stream must end cleanly"
        );
        let datas = data_lines(&resp.text());
        assert_eq!(content_of(&datas), "tok0 tok1 tok2", "{model}");
        let n = datas.len();
        assert!(n >= 2);
        assert_eq!(datas[n - 1], "[DONE]", "{model}");
        let err: serde_json::Value = serde_json::from_str(&datas[n - 2]).expect("error JSON");
        assert!(err["error"]["message"].is_string(), "{model}: {err}");
    }
    assert!(
        !fallback.events().iter().any(|e| e["kind"] == "llm_request"),
        "the fallback was called after the first byte"
    );
}

#[test]
fn events_arrive_spaced_and_a_disconnect_cancels_upstream() {
    let stack = Stack::start_with(gateway_config);
    let auth = auth();
    let body = chat("mock-gpt", "");
    // Spacing: read event by event through a raw streaming request.
    let agent = sluice_e2e::http::agent();
    let req = ureq::http::Request::builder()
        .method("POST")
        .uri(stack.edge.url("/v1/chat/completions"))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .header("x-mock-delay-ms", "100")
        .header("x-mock-events", "400")
        .body(body.into_bytes())
        .unwrap();
    let sent = Instant::now();
    let resp = agent.run(req).expect("response");
    let mut reader = resp.into_body().into_reader();
    let mut arrivals = Vec::new();
    let mut buf = [0u8; 4096];
    while arrivals.len() < 5 {
        let n = reader.read(&mut buf).expect("read");
        assert!(n > 0);
        arrivals.push(sent.elapsed());
    }
    let span = arrivals[4] - arrivals[0];
    assert!(
        span >= Duration::from_millis(300),
        "events not spaced: {arrivals:?}"
    );
    // Disconnect, then the mock must record the cancellation within 1 s.
    let gone = Instant::now();
    drop(reader);
    let deadline = gone + Duration::from_secs(1);
    loop {
        let cancelled = stack
            .origin
            .events()
            .iter()
            .any(|e| e["kind"] == "llm_cancelled");
        if cancelled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no llm_cancelled within 1 s of the disconnect"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
