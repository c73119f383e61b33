//! Push-based decoders and sync-flushing encoders for the supported
//! `Content-Encoding`s.
//!
//! Decoders take encoded chunks as they arrive and hand decoded bytes on in
//! pieces of at most [`PIECE`] bytes, so one small compressed chunk that
//! inflates enormously never needs a large buffer (and the bomb check runs
//! per piece). Encoders sync-flush on request so the client can decode every
//! byte sent so far.

mod brotli;
mod decode;
mod encode;
mod inflate;

pub(crate) use decode::ContentDecoder;
pub(crate) use encode::ContentEncoder;

/// Largest decoded piece handed downstream at once. Also the size of each
/// decoder's fixed output buffer.
pub(crate) const PIECE: usize = 32 << 10;
