//! The buffered path for an HTML response whose policy lists hash sources.
//!
//! The hashes of rewritten inline scripts go into the response *headers*,
//! so the whole document must be rewritten before anything is sent. The
//! origin body is decoded into memory up to a cap; at the end it is
//! rewritten, [`complete_hashes`] compares the two versions, and the
//! result is encoded for the client. Each byte is decoded, rewritten and
//! encoded once, as on the streaming path, by three pipelines in turn.
//!
//! Past the cap the document streams as usual, starting with what was
//! buffered: the page is delivered and its scripts that the rewrite
//! changed are blocked by the browser, which the adapter records in the
//! access line (`"csp":"incomplete"`). Nothing reaches the writer before
//! that point, so until [`BufferedHtml::finish`] the response head is
//! still open.
//!
//! Memory: the decoded document (at most the cap), then its rewrite and
//! the encoded result; the original is dropped before encoding.

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::rc::Rc;

use super::hashes::{complete_hashes, HashCompletion, HashError, PolicyHeaders};
use crate::content_kind::ContentKind;
use crate::encoding::ContentEncoding;
use crate::error::PipelineError;
use crate::pipeline::{Pipeline, PipelineConfig, PipelineStats};

/// Size of the pieces the buffered document is rewritten and encoded in
/// (the HTML stage's source window is capped, so never all at once).
const PIECE: usize = 16 << 10;

/// Decode → buffer (to a cap) → rewrite → complete hashes → encode; or,
/// past the cap, the ordinary streaming rewrite into `W`.
#[derive(Debug)]
pub struct BufferedHtml<W: Write> {
    decode: Pipeline<Spill<W>>,
    headers: PolicyHeaders,
    charset: Option<String>,
    /// Shared with the [`Spill`] inside the decoding pipeline.
    fault: Rc<RefCell<Option<PipelineError>>>,
    streaming: Rc<Cell<bool>>,
}

/// Where decoded bytes go.
#[derive(Debug)]
enum Target<W: Write> {
    Buffer {
        bytes: Vec<u8>,
        cap: usize,
        /// The rewrite, identity in (the bytes are decoded already).
        rewrite: PipelineConfig,
        writer: W,
    },
    /// Past the cap: the streaming rewrite.
    Stream(Box<Pipeline<W>>),
    /// A spill or write failed; the typed error is in `fault`.
    Failed,
}

/// The spill target plus the typed error of a failed inner pipeline (the
/// decoding pipeline only sees an `io::Error` from its writer).
#[derive(Debug)]
struct Spill<W: Write> {
    target: Target<W>,
    fault: Rc<RefCell<Option<PipelineError>>>,
    streaming: Rc<Cell<bool>>,
}

impl<W: Write> Write for Spill<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = match std::mem::replace(&mut self.target, Target::Failed) {
            Target::Buffer {
                mut bytes,
                cap,
                rewrite,
                writer,
            } => {
                if bytes.len().saturating_add(buf.len()) <= cap {
                    bytes.extend_from_slice(buf);
                    self.target = Target::Buffer {
                        bytes,
                        cap,
                        rewrite,
                        writer,
                    };
                    return Ok(buf.len());
                }
                Pipeline::new(rewrite, writer).and_then(|mut p| {
                    for piece in bytes.chunks(PIECE).chain([buf]) {
                        p.write_chunk(piece)?;
                    }
                    Ok(p)
                })
            }
            Target::Stream(mut p) => p.write_chunk(buf).map(|()| *p),
            Target::Failed => Err(PipelineError::Poisoned),
        };
        match result {
            Ok(p) => {
                self.target = Target::Stream(Box::new(p));
                self.streaming.set(true);
                Ok(buf.len())
            }
            Err(e) => {
                self.fault.borrow_mut().get_or_insert(e);
                Err(io::Error::other("sluice: buffered HTML rewrite failed"))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        // The streaming rewrite flushes its writer after every write.
        Ok(())
    }
}

/// How a [`BufferedHtml`] ended.
#[derive(Debug)]
pub enum BufferedOutcome<W> {
    /// The document fitted: nothing has been written to `writer` yet.
    Complete(CompletedHtml<W>),
    /// The document was larger than the cap and has been streamed into
    /// `writer`, its policies unchanged (log `"csp":"incomplete"`).
    Streamed {
        /// The writer, everything written.
        writer: W,
        /// Counters of the whole body.
        stats: PipelineStats,
    },
}

/// A buffered document, rewritten, its policies completed and encoded.
#[derive(Debug)]
pub struct CompletedHtml<W> {
    /// The writer, untouched: set the headers, then write `body`.
    pub writer: W,
    /// The response body, encoded as configured.
    pub body: Vec<u8>,
    /// The policy headers to send instead of the ones given.
    pub headers: PolicyHeaders,
    /// What the completion did, or why it could not (then `headers` and
    /// `body` are the plain rewrite: log `"csp":"incomplete"`).
    pub hashes: Result<HashCompletion, HashError>,
    /// Counters of the whole body (`bytes_out` is `body.len()`).
    pub stats: PipelineStats,
}

impl<W: Write> BufferedHtml<W> {
    /// Buffers the body `config` describes (an HTML body; `config.output`
    /// is the client's encoding) up to `cap` decoded bytes. `headers` are
    /// the response's policy headers as they will be sent (after
    /// [`super::augment_policy_header`]).
    pub fn new(
        config: PipelineConfig,
        headers: PolicyHeaders,
        cap: usize,
        writer: W,
    ) -> Result<Self, PipelineError> {
        let mut decode = config.clone();
        decode.output = ContentEncoding::Identity;
        decode.kind = ContentKind::Other;
        let mut rewrite = config.clone();
        rewrite.input = ContentEncoding::Identity;
        let fault = Rc::new(RefCell::new(None));
        let streaming = Rc::new(Cell::new(false));
        let target = Spill {
            target: Target::Buffer {
                bytes: Vec::new(),
                cap,
                rewrite,
                writer,
            },
            fault: Rc::clone(&fault),
            streaming: Rc::clone(&streaming),
        };
        Ok(Self {
            decode: Pipeline::new(decode, target)?,
            headers,
            charset: config.charset,
            fault,
            streaming,
        })
    }

    /// Pushes one origin chunk.
    pub fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), PipelineError> {
        let result = self.decode.write_chunk(chunk);
        result.map_err(|e| self.typed(e))
    }

    /// True once the document went past the cap and is streaming.
    pub fn is_streaming(&self) -> bool {
        self.streaming.get()
    }

    /// End of the origin body.
    pub fn finish(self) -> Result<BufferedOutcome<W>, PipelineError> {
        let fault = Rc::clone(&self.fault);
        let (spill, decoded) = self
            .decode
            .finish_with_stats()
            .map_err(|e| typed(&fault, e))?;
        match spill.target {
            Target::Stream(p) => {
                let (writer, mut stats) = p.finish_with_stats()?;
                stats.bytes_in = decoded.bytes_in;
                Ok(BufferedOutcome::Streamed { writer, stats })
            }
            Target::Buffer {
                bytes,
                rewrite,
                writer,
                ..
            } => {
                let output = rewrite.output;
                let mut encode = rewrite.clone();
                encode.kind = ContentKind::Other;
                let mut identity = rewrite;
                identity.output = ContentEncoding::Identity;
                let (rewritten, rstats) = run(identity, &bytes)?;
                let hashes =
                    complete_hashes(&self.headers, &bytes, &rewritten, self.charset.as_deref());
                drop(bytes);
                let (headers, document) = match &hashes {
                    Ok(c) => (c.headers.clone(), c.document.clone()),
                    Err(_) => (self.headers.clone(), None),
                };
                let document = document.unwrap_or(rewritten);
                encode.output = output;
                let (body, _) = run(encode, &document)?;
                let stats = PipelineStats {
                    bytes_in: decoded.bytes_in,
                    bytes_decoded: decoded.bytes_decoded,
                    bytes_out: body.len() as u64,
                    urls_rewritten: rstats.urls_rewritten,
                    rewrite_stop: None,
                };
                Ok(BufferedOutcome::Complete(CompletedHtml {
                    writer,
                    body,
                    headers,
                    hashes,
                    stats,
                }))
            }
            Target::Failed => Err(PipelineError::Poisoned),
        }
    }

    fn typed(&self, e: PipelineError) -> PipelineError {
        typed(&self.fault, e)
    }
}

/// The inner pipeline's own error in place of the `io::Error` the
/// decoding pipeline saw from its writer.
fn typed(fault: &RefCell<Option<PipelineError>>, e: PipelineError) -> PipelineError {
    match (e, fault.borrow_mut().take()) {
        (PipelineError::Downstream(_), Some(inner)) => inner,
        (e, _) => e,
    }
}

/// One pipeline over a whole buffer, in pieces, into a `Vec`.
fn run(config: PipelineConfig, body: &[u8]) -> Result<(Vec<u8>, PipelineStats), PipelineError> {
    let mut p = Pipeline::new(config, Vec::with_capacity(body.len() + body.len() / 8))?;
    for piece in body.chunks(PIECE) {
        p.write_chunk(piece)?;
    }
    p.finish_with_stats()
}
