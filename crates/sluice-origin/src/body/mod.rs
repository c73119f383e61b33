//! Response bodies: the shared delivery options (`?chunk=`, `?pause_after=`,
//! `?reset_after=`, ...), the injected connection reset, and the tracking
//! wrapper that records `download_complete` / `download_aborted`.
//!
//! Bodies are pull-based: a [`ChunkStream`] produces the next piece only
//! when hyper asks for it, so a slow reader costs nothing but the piece in
//! flight, and "bytes sent" means bytes hyper took for the socket.

mod gate;
mod shape;
mod track;

pub use gate::FaultGate;
pub use shape::{shape, BodyOpts, Chunking};
pub use track::{tracked, Track};

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The body type of every response.
pub type ResBody = UnsyncBoxBody<Bytes, io::Error>;

/// A source of body pieces.
pub type ChunkStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Largest fixed `?chunk=N` (16 MiB); random chunks are 1..=16384 bytes.
pub const MAX_FIXED_CHUNK: u64 = 16 << 20;
/// Largest random chunk size.
pub const MAX_RANDOM_CHUNK: u64 = 16 * 1024;
/// Longest `?pause_ms=` / `?interval_ms=` accepted (10 minutes).
pub const MAX_SLEEP_MS: u64 = 600_000;
/// How long an injected reset waits after the last byte before killing the
/// connection, so that those bytes reach the peer first.
pub const RESET_DRAIN: Duration = Duration::from_millis(100);

/// An empty body.
pub fn empty() -> ResBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A body held in memory.
pub fn full(data: impl Into<Bytes>) -> ResBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Per-connection switch a route flips to make the server abort the TCP
/// connection with a reset (SO_LINGER 0) instead of a clean close.
#[derive(Debug, Clone, Default)]
pub struct ConnControl {
    reset: Arc<AtomicBool>,
}

impl ConnControl {
    /// Marks the connection for a reset when it is dropped.
    pub fn arm_reset(&self) {
        self.reset.store(true, Ordering::Release);
    }

    /// Whether [`ConnControl::arm_reset`] was called.
    pub fn reset_armed(&self) -> bool {
        self.reset.load(Ordering::Acquire)
    }
}

/// Waits [`RESET_DRAIN`], arms the reset and returns the error a body
/// yields to make hyper drop the connection mid-body.
pub async fn injected_reset(ctl: &ConnControl) -> io::Error {
    tokio::time::sleep(RESET_DRAIN).await;
    ctl.arm_reset();
    io::Error::new(io::ErrorKind::ConnectionReset, "injected reset")
}
