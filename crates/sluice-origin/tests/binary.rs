//! The `sluice-origin` binary as the end-to-end harness runs it.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use http::StatusCode;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

async fn spawn(args: &[&str]) -> (Child, std::net::SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice-origin"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("announces within 10 s")
        .unwrap()
        .expect("one line");
    let addr = line
        .strip_prefix("listening on http://")
        .expect("documented line")
        .parse()
        .expect("IP:PORT");
    // Exactly one line: nothing else arrives on stdout.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), lines.next_line())
            .await
            .is_err()
    );
    (child, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_announces_its_port_and_serves() {
    let (mut child, addr) = spawn(&["--name", "fallback"]).await;
    let r = get(addr, "/pages/aclu.html?enc=gzip").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(gunzip(&r.body), corpus_page("aclu.html"));
    assert_eq!(r.header("x-mock-backend"), Some("fallback"));
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_flags_llm_failure_and_corpus() {
    let (mut child, addr) = spawn(&[
        "--llm-fail",
        "503",
        "--llm-key",
        "k1",
        "--corpus",
        "/nonexistent",
    ])
    .await;
    let r = request(
        http::Method::POST,
        addr,
        "/v1/chat/completions",
        &[("authorization", "Bearer k1")],
        "{}",
    )
    .await;
    assert_eq!(r.status.as_u16(), 503);
    // A missing corpus leaves the other routes working.
    assert_eq!(
        get(addr, "/pages/aclu.html").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(addr, "/bytes/10").await.body.len(), 10);
    child.kill().await.unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice-origin"))
        .args(["--addr", "127.0.0.1:0", "--llm-fail", "bogus"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success(), "bad flags are rejected");
}
