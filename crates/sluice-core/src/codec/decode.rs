//! The decode stage: one enum over the supported input codings.

use crate::codec::brotli::BrotliDecoder;
use crate::codec::inflate::Inflater;
use crate::codec::PIECE;
use crate::encoding::ContentEncoding;
use crate::error::PipelineError;

/// Decodes the origin body's `Content-Encoding`, push-based.
#[derive(Debug)]
pub(crate) struct ContentDecoder {
    inner: Inner,
    /// Fixed output buffer for the compressed codings (`PIECE` bytes).
    buf: Vec<u8>,
}

#[derive(Debug)]
enum Inner {
    Identity,
    Inflate(Box<Inflater>),
    Brotli(BrotliDecoder),
}

impl ContentDecoder {
    /// A decoder for `encoding`; a brotli body may declare a window of at
    /// most `max_brotli_window` bytes.
    pub(crate) fn new(encoding: ContentEncoding, max_brotli_window: usize) -> Self {
        let inner = match encoding {
            ContentEncoding::Identity => Inner::Identity,
            ContentEncoding::Gzip => Inner::Inflate(Box::new(Inflater::gzip())),
            ContentEncoding::Deflate => Inner::Inflate(Box::new(Inflater::deflate())),
            ContentEncoding::Brotli => Inner::Brotli(BrotliDecoder::new(max_brotli_window)),
        };
        let buf = match inner {
            Inner::Identity => Vec::new(),
            _ => vec![0u8; PIECE],
        };
        Self { inner, buf }
    }

    /// Decodes one encoded chunk; `emit` receives the decoded bytes in
    /// pieces of at most [`PIECE`] bytes (identity input is sliced, not
    /// copied).
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        emit: &mut impl FnMut(&[u8]) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        match &mut self.inner {
            Inner::Identity => input.chunks(PIECE).try_for_each(emit),
            Inner::Inflate(i) => i.decode(input, &mut self.buf, emit),
            Inner::Brotli(b) => b.decode(input, &mut self.buf, emit),
        }
    }

    /// End of input: verifies the encoded stream was complete.
    pub(crate) fn finish(&mut self) -> Result<(), PipelineError> {
        match &mut self.inner {
            Inner::Identity => Ok(()),
            Inner::Inflate(i) => i.finish(),
            Inner::Brotli(b) => b.finish(),
        }
    }
}
