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
    /// Set when the body is abandoned: flate2's writers finish the stream
    /// when dropped, and that trailer must not reach the client (it would
    /// commit the response, or make an aborted one look complete).
    discard: bool,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.discard {
            return Err(io::Error::other("pipeline abandoned"));
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.discard {
            return Ok(());
        }
        self.inner.flush()
    }
}

/// Encodes the rewritten body into the output coding.
///
/// Flushes are skipped until the rewriters have produced something: an
/// empty sync flush would still write the coding's header, committing the
/// client response before the pipeline knows the input decodes at all.
#[derive(Debug)]
pub(crate) struct ContentEncoder<W: Write> {
    coder: Coder<W>,
    /// Bytes were written since the last flush.
    dirty: bool,
}

#[derive(Debug)]
enum Coder<W: Write> {
    Identity(Counting<W>),
    Gzip(GzEncoder<Counting<W>>),
    Deflate(ZlibEncoder<Counting<W>>),
    Brotli(Box<BrotliEncoder<Counting<W>>>),
}

impl<W: Write> ContentEncoder<W> {
    /// `level` applies to gzip/deflate (0..=9), `quality` to brotli (0..=11);
    /// both are validated by the pipeline.
    pub(crate) fn new(encoding: ContentEncoding, writer: W, level: u32, quality: u32) -> Self {
        let w = Counting {
            inner: writer,
            written: 0,
            discard: false,
        };
        let coder = match encoding {
            ContentEncoding::Identity => Coder::Identity(w),
            ContentEncoding::Gzip => Coder::Gzip(GzEncoder::new(w, Compression::new(level))),
            // HTTP "deflate" is the zlib format (RFC 9110 section 8.4.1.2).
            ContentEncoding::Deflate => {
                Coder::Deflate(ZlibEncoder::new(w, Compression::new(level)))
            }
            ContentEncoding::Brotli => Coder::Brotli(Box::new(BrotliEncoder::new(w, quality))),
        };
        Self {
            coder,
            dirty: false,
        }
    }

    /// Bytes written to the caller's writer so far.
    pub(crate) fn bytes_out(&self) -> u64 {
        match &self.coder {
            Coder::Identity(w) => w.written,
            Coder::Gzip(e) => e.get_ref().written,
            Coder::Deflate(e) => e.get_ref().written,
            Coder::Brotli(e) => e.get_ref().written,
        }
    }

    /// Stops anything more reaching the caller's writer, including the
    /// trailer flate2 writes when its encoder is dropped unfinished.
    pub(crate) fn disarm(&mut self) {
        let counting = match &mut self.coder {
            Coder::Identity(w) => w,
            Coder::Gzip(e) => e.get_mut(),
            Coder::Deflate(e) => e.get_mut(),
            Coder::Brotli(e) => e.get_mut(),
        };
        counting.discard = true;
    }

    /// Sync-flushes the encoder (gzip/deflate `Z_SYNC_FLUSH`, brotli
    /// `BROTLI_OPERATION_FLUSH`) and then flushes the writer, so the client
    /// can decode every byte written so far.
    pub(crate) fn flush(&mut self) -> Result<(), PipelineError> {
        if !self.dirty {
            return Ok(());
        }
        self.dirty = false;
        match &mut self.coder {
            Coder::Identity(w) => w.flush(),
            Coder::Gzip(e) => e.flush(),
            Coder::Deflate(e) => e.flush(),
            Coder::Brotli(e) => e.flush(),
        }
        .map_err(PipelineError::Downstream)
    }

    /// Writes the coding's trailer, flushes and returns the writer with the
    /// total number of bytes written to it.
    pub(crate) fn finish(self) -> Result<(W, u64), PipelineError> {
        let mut w = match self.coder {
            Coder::Identity(w) => Ok(w),
            Coder::Gzip(e) => e.finish(),
            Coder::Deflate(e) => e.finish(),
            Coder::Brotli(e) => e.finish(),
        }
        .map_err(PipelineError::Downstream)?;
        w.flush().map_err(PipelineError::Downstream)?;
        Ok((w.inner, w.written))
    }
}

impl<W: Write> ByteSink for ContentEncoder<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), PipelineError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.dirty = true;
        match &mut self.coder {
            Coder::Identity(w) => w.write_all(bytes),
            Coder::Gzip(e) => e.write_all(bytes),
            Coder::Deflate(e) => e.write_all(bytes),
            Coder::Brotli(e) => e.write_all(bytes),
        }
        .map_err(PipelineError::Downstream)
    }
}
