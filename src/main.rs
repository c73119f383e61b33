//! sluice: the Fastly Compute adapter.
//!
//! This crate is deliberately thin. `main` reads the client request and
//! hands it to [`router::route_request`], which runs it through the one
//! request lifecycle (`lifecycle`) with the handler its route names. Every
//! decision that needs no Fastly type lives in `sluice-core`, where it is
//! tested natively; this crate moves bytes between Fastly's bodies and the
//! core's types.
//!
//! Natively (`cargo test --workspace`) only a stub `main` is built: the
//! `fastly` crate compiles for the host but cannot link there.
#![forbid(unsafe_code)]

#[cfg(target_arch = "wasm32")]
mod cache;
#[cfg(target_arch = "wasm32")]
mod gateway;
#[cfg(target_arch = "wasm32")]
mod lifecycle;
#[cfg(target_arch = "wasm32")]
mod plans;
#[cfg(target_arch = "wasm32")]
mod publisher;
#[cfg(target_arch = "wasm32")]
mod purge;
#[cfg(target_arch = "wasm32")]
mod router;
#[cfg(target_arch = "wasm32")]
mod stores;

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
