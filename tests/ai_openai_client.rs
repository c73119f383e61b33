//! Issue: AI streaming gateway, driven by a real client: the official
//! `openai` Python package (pinned in `tests/peers/requirements.txt`,
//! installed by `scripts/ensure-tools` into `target/peers-venv`) with its
//! `base_url` pointed at the edge.
//!
//! `tests/peers/openai_client.py` only records what the client saw; the
//! assertions live here. A missing venv fails the test: a skipped real-peer
//! test would prove nothing.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};
use sluice_e2e::{workspace, EdgeConfig, Stack};

const CLIENT_KEY: &str = "sk-client-openai-e2e";
/// The client key reaches the script through this variable, never argv.
const KEY_ENV: &str = "SLUICE_E2E_CLIENT_KEY";
const EVENTS: u32 = 18;
/// Long enough that the spacing is far above loopback and scheduling noise.
const DELAY_MS: f64 = 100.0;
const MAX_BODY: usize = 64 * 1024;

fn python() -> PathBuf {
    let venv = std::env::var_os("SLUICE_PEERS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/peers-venv"));
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/ensure-tools (it installs the openai client)",
        python.display()
    );
    python
}

fn digest(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn run_client(stack: &Stack) -> Value {
    let script = workspace().join("tests/peers/openai_client.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(stack.edge.url("/v1"))
        .arg(KEY_ENV)
        .arg(EVENTS.to_string())
        .arg(format!("{DELAY_MS:.0}"))
        .arg((2 * MAX_BODY).to_string())
        .env(KEY_ENV, CLIENT_KEY)
        .output()
        .expect("the venv's python runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openai_client.py failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "openai_client.py printed no JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn assert_openai_error(seen: &Value, class: &str, status: u64) {
    assert_eq!(seen["class"], class, "{seen}");
    assert_eq!(seen["status"], status, "{seen}");
    assert!(
        seen["body"]["message"].is_string() && seen["body"]["type"].is_string(),
        "not an OpenAI-style error body: {seen}"
    );
    let text = seen.to_string();
    assert!(
        !text.contains(CLIENT_KEY) && !text.contains("sk-not-a-client-key"),
        "a key was echoed: {seen}"
    );
}

#[test]
fn the_openai_python_client_streams_spaced_tokens_and_gets_typed_errors() {
    let stack = Stack::start_with(|c: EdgeConfig| {
        c.secret("client_key_sha256", &digest(CLIENT_KEY))
            .set("ai.max_body_bytes", &MAX_BODY.to_string())
    });
    let seen = run_client(&stack);
    let chunks = seen["chunks"].as_array().expect("chunks");

    // Exact content, and no usage chunk the client did not ask for.
    let content: String = chunks
        .iter()
        .filter_map(|c| c["content"].as_str())
        .collect();
    assert_eq!(
        content,
        sluice_origin::content::mock_llm_content(EVENTS),
        "{seen}"
    );
    assert!(
        !chunks.iter().any(|c| c["usage"] == true),
        "usage reached a client that did not ask for it: {seen}"
    );

    // Spacing: the mock sends one event every DELAY_MS. Relayed as they
    // come, the chunks span about (EVENTS - 1) * DELAY_MS and most gaps are
    // near DELAY_MS; buffered anywhere, they arrive within a few ms. The
    // margins allow for a loaded 2-core machine delaying some events (the
    // ones after a late event then arrive close together).
    let at: Vec<f64> = chunks
        .iter()
        .filter(|c| c["content"].is_string())
        .map(|c| c["at_ms"].as_f64().expect("at_ms"))
        .collect();
    let n = EVENTS as usize;
    assert_eq!(at.len(), n, "{seen}");
    let span = at[n - 1] - at[0];
    let nominal = (n - 1) as f64 * DELAY_MS;
    assert!(
        span >= 0.7 * nominal,
        "chunks span {span:.0} ms, expected about {nominal:.0} ms: {at:?}"
    );
    let spaced = at
        .windows(2)
        .filter(|w| w[1] - w[0] >= DELAY_MS / 2.0)
        .count();
    assert!(
        spaced * 2 >= n - 1,
        "only {spaced} of {} gaps are at least {} ms: {at:?}",
        n - 1,
        DELAY_MS / 2.0
    );
    // The first token is not held back until the stream ends.
    assert!(
        at[0] < at[n - 1] - 0.5 * nominal,
        "the first chunk came late: {at:?}"
    );

    // Typed errors, OpenAI-shaped bodies, keys never echoed.
    assert_openai_error(&seen["auth"], "AuthenticationError", 401);
    assert_openai_error(&seen["bad_field"], "BadRequestError", 400);
    assert_openai_error(&seen["bad_json"], "BadRequestError", 400);
    // openai has no subclass for 413: the generic status error carries it.
    assert_openai_error(&seen["too_big"], "APIStatusError", 413);

    // Only the streamed completion reached the provider.
    let forwarded = stack
        .origin
        .events()
        .iter()
        .filter(|e| e["kind"] == "llm_request")
        .count();
    assert_eq!(forwarded, 1, "a refused request was forwarded");
}
