//! sluice: the Fastly Compute adapter.
//!
//! This crate is deliberately thin. It reads the client request, asks
//! [`router::route_request`] for an answer, and moves bytes between Fastly's
//! `Body`/`StreamingBody` and the platform-free types in `sluice-core`. All
//! parsing, rewriting and protocol logic lives in `sluice-core`, where it is
//! tested natively.
//!
//! Natively (`cargo test --workspace`) only a stub `main` is built: the
//! `fastly` crate compiles for the host but cannot link there.
#![forbid(unsafe_code)]

#[cfg(target_arch = "wasm32")]
mod access_log;
#[cfg(target_arch = "wasm32")]
mod config;
#[cfg(target_arch = "wasm32")]
mod edge_error;
#[cfg(target_arch = "wasm32")]
mod gateway;
#[cfg(target_arch = "wasm32")]
mod plans;
#[cfg(target_arch = "wasm32")]
mod publisher;
#[cfg(target_arch = "wasm32")]
mod request_view;
#[cfg(target_arch = "wasm32")]
mod router;
#[cfg(target_arch = "wasm32")]
mod sink;
#[cfg(target_arch = "wasm32")]
mod stores;
#[cfg(target_arch = "wasm32")]
mod upstream;

#[cfg(target_arch = "wasm32")]
fn main() {
    let started = std::time::Instant::now();
    let req = fastly::Request::from_client();
    if let Some(resp) = router::route_request(req, started) {
        resp.send_to_client();
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "sluice is a Fastly Compute service: build it with `cargo wasm` and run it under viceroy."
    );
    std::process::exit(2);
}
