//! The one read loop: a `fastly::Body` (an origin, backend or client body)
//! read in fixed-size chunks, each handed to the caller as soon as it
//! arrives. Reads return whatever bytes are available, so the chunk size
//! bounds memory, not latency.

use std::io::{self, Read};

use fastly::Body;

/// Size of one read.
pub const READ_CHUNK: usize = 16 * 1024;

/// What the caller wants after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read on.
    More,
    /// Stop reading (the rest of the body is left unread).
    Stop,
}

/// Why a pump stopped early.
#[derive(Debug)]
pub enum Pumped<E> {
    /// Reading the body failed (reset, between-bytes timeout).
    Read(io::Error),
    /// The caller refused a chunk.
    Handler(E),
}

/// Reads `body` to its end (or until the caller says stop), handing every
/// chunk to `each`. `Interrupted` reads are retried here and nowhere else.
pub fn pump<E>(
    body: &mut Body,
    mut each: impl FnMut(&[u8]) -> Result<Flow, E>,
) -> Result<(), Pumped<E>> {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Pumped::Read(e)),
        };
        match each(buf.get(..n).unwrap_or_default()).map_err(Pumped::Handler)? {
            Flow::More => {}
            Flow::Stop => return Ok(()),
        }
    }
}
