//! The encode stage: one enum over the supported output codings, each
//! writing into the caller's `W` through a byte counter.

use std::io::{self, Write};

use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;

use crate::codec::brotli::BrotliEncoder;
use crate::encoding::ContentEncoding;
use crate::error::PipelineError;
use crate::rewrite::ByteSink;

/// Counts bytes that reach the caller's writer.
#[derive(Debug)]
pub(crate) struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Encodes the rewritten body into the output coding.
#[derive(Debug)]
pub(crate) enum Encoder<W: Write> {
    Identity(Counting<W>),
    Gzip(GzEncoder<Counting<W>>),
    Deflate(ZlibEncoder<Counting<W>>),
    Brotli(Box<BrotliEncoder<Counting<W>>>),
}

impl<W: Write> Encoder<W> {
    /// `level` applies to gzip/deflate (0..=9), `quality` to brotli (0..=11);
    /// both are validated by the pipeline.
    pub(crate) fn new(encoding: ContentEncoding, writer: W, level: u32, quality: u32) -> Self {
        let w = Counting {
            inner: writer,
            written: 0,
        };
        match encoding {
            ContentEncoding::Identity => Self::Identity(w),
            ContentEncoding::Gzip => Self::Gzip(GzEncoder::new(w, Compression::new(level))),
            // HTTP "deflate" is the zlib format (RFC 9110 section 8.4.1.2).
            ContentEncoding::Deflate => Self::Deflate(ZlibEncoder::new(w, Compression::new(level))),
            ContentEncoding::Brotli => Self::Brotli(Box::new(BrotliEncoder::new(w, quality))),
        }
    }

    /// Bytes written to the caller's writer so far.
    pub(crate) fn bytes_out(&self) -> u64 {
        match self {
            Self::Identity(w) => w.written,
            Self::Gzip(e) => e.get_ref().written,
            Self::Deflate(e) => e.get_ref().written,
            Self::Brotli(e) => e.get_ref().written,
        }
    }

    /// Sync-flushes the encoder (gzip/deflate `Z_SYNC_FLUSH`, brotli
    /// `BROTLI_OPERATION_FLUSH`) and then flushes the writer, so the client
    /// can decode every byte written so far.
    pub(crate) fn flush(&mut self) -> Result<(), PipelineError> {
        match self {
            Self::Identity(w) => w.flush(),
            Self::Gzip(e) => e.flush(),
            Self::Deflate(e) => e.flush(),
            Self::Brotli(e) => e.flush(),
        }
        .map_err(PipelineError::Downstream)
    }

    /// Writes the coding's trailer, flushes and returns the writer with the
    /// total number of bytes written to it.
    pub(crate) fn finish(self) -> Result<(W, u64), PipelineError> {
        let mut w = match self {
            Self::Identity(w) => Ok(w),
            Self::Gzip(e) => e.finish(),
            Self::Deflate(e) => e.finish(),
            Self::Brotli(e) => e.finish(),
        }
        .map_err(PipelineError::Downstream)?;
        w.flush().map_err(PipelineError::Downstream)?;
        Ok((w.inner, w.written))
    }
}

impl<W: Write> ByteSink for Encoder<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), PipelineError> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self {
            Self::Identity(w) => w.write_all(bytes),
            Self::Gzip(e) => e.write_all(bytes),
            Self::Deflate(e) => e.write_all(bytes),
            Self::Brotli(e) => e.write_all(bytes),
        }
        .map_err(PipelineError::Downstream)
    }
}
