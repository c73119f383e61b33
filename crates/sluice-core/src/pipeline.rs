//! The streaming rewrite pipeline: decode → rewrite → encode, into any
//! `W: Write`.
//!
//! One [`Pipeline`] type serves every route and content kind: the decoder,
//! the rewrite stage and the encoder are each an enum chosen from the
//! [`PipelineConfig`]. It is push-based ([`Pipeline::write_chunk`] /
//! [`Pipeline::finish`]) so the Fastly adapter can feed origin chunks as
//! they arrive and every chunk's output is sync-flushed to the client.

use std::io::{self, Read, Write};

use crate::codec::{ContentDecoder, ContentEncoder};
use crate::content_kind::ContentKind;
use crate::encoding::ContentEncoding;
use crate::error::{BombLimit, PipelineConfigError, PipelineError};
use crate::limits::PipelineLimits;
use crate::rewrite::{ByteSink, RewriteRules, Stage};

/// Default gzip/deflate output level: 1, chosen for the edge's CPU budget.
///
/// Fastly gives a request 50 ms of CPU and the guest pays for re-encoding:
/// level 3 costs about 1.5x the vCPU of level 1 per MiB of HTML for a few
/// percent fewer bytes (docs/BENCHMARKS.md, "Publisher through Viceroy" and
/// "Encoder levels"). Operators who prefer bytes set `publisher.gzip_level`.
/// The service's default is not to re-encode at all
/// (`publisher.output_encoding = identity`: Fastly's host compresses at no
/// guest cost); this level applies with `publisher.output_encoding = origin`.
pub const DEFAULT_GZIP_LEVEL: u32 = 1;

/// Default brotli output quality: 3, with the encoder's 128 KiB window, so
/// a brotli body decoded (its own window, up to 4 MiB) and re-encoded keeps
/// the guest heap under 8 MiB; quality 4 or more needs larger hash tables
/// (docs/BENCHMARKS.md, "Guest heap by output encoding").
pub const DEFAULT_BROTLI_QUALITY: u32 = 3;

/// How one body is processed.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The origin's `Content-Encoding` (decoded first).
    pub input: ContentEncoding,
    /// The coding written to the client. Usually the same as `input`;
    /// identity is always allowed.
    pub output: ContentEncoding,
    /// Chooses the processor: HTML, the byte replacer, or passthrough.
    pub kind: ContentKind,
    /// Which hosts are rewritten to what. Empty rules mean no rewriting.
    pub rules: RewriteRules,
    /// Resource caps.
    pub limits: PipelineLimits,
    /// The `Content-Type` charset label, if any (HTML only): picks
    /// lol_html's encoding; non-ASCII-compatible charsets pass through.
    pub charset: Option<String>,
    /// gzip/deflate output level 0..=9; default [`DEFAULT_GZIP_LEVEL`].
    pub gzip_level: u32,
    /// Brotli output quality 0..=11; default [`DEFAULT_BROTLI_QUALITY`].
    pub brotli_quality: u32,
}

impl PipelineConfig {
    /// A config with default limits, no charset and the default encoder
    /// settings.
    pub fn new(
        input: ContentEncoding,
        output: ContentEncoding,
        kind: ContentKind,
        rules: RewriteRules,
    ) -> Self {
        Self {
            input,
            output,
            kind,
            rules,
            limits: PipelineLimits::default(),
            charset: None,
            gzip_level: DEFAULT_GZIP_LEVEL,
            brotli_quality: DEFAULT_BROTLI_QUALITY,
        }
    }
}

/// Byte and URL counters of one body, for access logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PipelineStats {
    /// Encoded bytes received from the origin.
    pub bytes_in: u64,
    /// Bytes after decoding (what the rewriter saw).
    pub bytes_decoded: u64,
    /// Bytes written to the writer (after encoding).
    pub bytes_out: u64,
    /// URLs rewritten.
    pub urls_rewritten: u64,
    /// Where rewriting stopped, when [`Pipeline::stop_rewriting`] (or
    /// [`Pipeline::into_splice`]) ended it before the body did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite_stop: Option<RewriteStop>,
}

/// Where a pipeline stopped rewriting (the CPU budget's switch), for the
/// access line.
///
/// The client's body is the full rewrite of the decoded body's first
/// `decoded_offset` bytes, then every byte from there on exactly as the
/// origin sent it (decoded; re-encoded if the output is encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RewriteStop {
    /// Offset, in the decoded body, of the first byte sent unrewritten.
    pub decoded_offset: u64,
    /// Encoded origin bytes the pipeline had been given at the switch.
    pub bytes_in: u64,
    /// How many of the bytes before the switch the rewriters were still
    /// holding back (an undecided URL, a tag cut by a chunk boundary) and
    /// wrote out unrewritten: `decoded_offset` is the decoded total minus
    /// these.
    pub held_back: u64,
}

/// What [`Pipeline::into_splice`] hands back: the rest of the origin body
/// can now go to the client without passing through the guest.
#[derive(Debug)]
pub struct Splice<W> {
    /// The writer, with everything before the held-back bytes written and
    /// flushed.
    pub writer: W,
    /// Origin bytes the rewriters held back, unrewritten: write them to
    /// the client *before* appending the rest of the origin body.
    pub held: Vec<u8>,
    /// The switch point.
    pub stop: RewriteStop,
    /// Final counters. `bytes_out` counts what the pipeline wrote, not
    /// `held` nor the appended remainder.
    pub stats: PipelineStats,
}

/// Decode → rewrite → encode, streaming into `W`.
///
/// Memory is bounded whatever the body size: fixed codec buffers, the
/// replacer's tail (longest host + 12 bytes) and, for HTML, lol_html's
/// buffer and our source window (both capped by [`PipelineLimits`]).
#[derive(Debug)]
pub struct Pipeline<W: Write> {
    decoder: ContentDecoder,
    stage: Stage,
    encoder: Option<ContentEncoder<W>>,
    limits: PipelineLimits,
    input: ContentEncoding,
    output: ContentEncoding,
    bytes_in: u64,
    bytes_decoded: u64,
    /// Set once rewriting stopped; the stage is then a passthrough.
    stopped: Option<RewriteStop>,
    /// URLs the stage had rewritten when it stopped.
    urls_before_stop: u64,
    failed: bool,
}

/// Size of the reads [`Pipeline::process`] makes.
const READ_CHUNK: usize = 16 << 10;

impl<W: Write> Pipeline<W> {
    /// Builds a pipeline writing into `writer`. Fails only on invalid
    /// configuration (encoder levels).
    pub fn new(config: PipelineConfig, writer: W) -> Result<Self, PipelineError> {
        if config.gzip_level > 9 {
            return Err(PipelineConfigError::GzipLevel(config.gzip_level).into());
        }
        if config.brotli_quality > 11 {
            return Err(PipelineConfigError::BrotliQuality(config.brotli_quality).into());
        }
        let stage = Stage::new(
            config.kind,
            &config.rules,
            config.charset.as_deref(),
            &config.limits,
        )?;
        Ok(Self {
            decoder: ContentDecoder::new(config.input, config.limits.max_brotli_window()),
            stage,
            encoder: Some(ContentEncoder::new(
                config.output,
                writer,
                config.gzip_level,
                config.brotli_quality,
            )),
            limits: config.limits,
            input: config.input,
            output: config.output,
            bytes_in: 0,
            bytes_decoded: 0,
            stopped: None,
            urls_before_stop: 0,
            failed: false,
        })
    }

    /// Pushes one origin chunk. Everything decodable so far is rewritten,
    /// written and sync-flushed through the encoder, then `writer.flush()`
    /// is called — except the few bytes the rewriters must hold back to
    /// decide a URL split across chunks (bounded; see [`PipelineLimits`]).
    ///
    /// After an error the pipeline is poisoned and nothing more is written.
    pub fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), PipelineError> {
        self.guard(|p| {
            p.bytes_in += chunk.len() as u64;
            p.decode(chunk)?;
            p.encoder_mut()?.flush()
        })
    }

    /// End of input: verifies the encoded stream was complete (a truncated
    /// gzip/deflate/brotli body is [`PipelineError::Truncated`]), flushes
    /// the rewriters, finishes the encoder and returns the writer.
    pub fn finish(self) -> Result<W, PipelineError> {
        self.finish_with_stats().map(|(w, _)| w)
    }

    /// [`Pipeline::finish`], also returning the final counters (which
    /// include the bytes written while finishing, e.g. the gzip trailer).
    pub fn finish_with_stats(mut self) -> Result<(W, PipelineStats), PipelineError> {
        if self.failed {
            return Err(PipelineError::Poisoned);
        }
        self.failed = true;
        let Self {
            decoder,
            stage,
            encoder,
            ..
        } = &mut self;
        decoder.finish()?;
        let mut encoder = encoder.take().ok_or(PipelineError::Poisoned)?;
        if let Err(e) = stage.finish(&mut encoder) {
            encoder.disarm();
            return Err(e);
        }
        let mut stats = self.stats();
        let (writer, bytes_out) = encoder.finish()?;
        stats.bytes_out = bytes_out;
        Ok((writer, stats))
    }

    /// Stops rewriting: from now on the body goes to the client as the
    /// origin sent it. For the CPU budget: the adapter calls this between
    /// origin chunks, before the budget is spent.
    ///
    /// Every byte the rewriters hold back (the byte replacer's tail, the
    /// HTML stage's source window with the token lol_html has buffered, a
    /// `<script>` region's tail) is written now, unrewritten, and flushed:
    /// the output so far followed by the rest of the decoded input,
    /// untouched, is the whole document, with no byte lost or doubled.
    /// Later [`Pipeline::write_chunk`] calls still decode (so a truncated
    /// or corrupt encoded body is still an error) and encode, but pass the
    /// decoded bytes straight to the encoder. [`Pipeline::finish`] works as
    /// before.
    ///
    /// Returns the switch point (also in [`PipelineStats::rewrite_stop`]);
    /// calling it again returns the same point. For identity input and
    /// output, [`Pipeline::into_splice`] does this and lets the host send
    /// the rest.
    pub fn stop_rewriting(&mut self) -> Result<RewriteStop, PipelineError> {
        if let (Some(stop), false) = (self.stopped, self.failed) {
            return Ok(stop);
        }
        self.guard(|p| {
            let encoder = p.encoder.as_mut().ok_or(PipelineError::Poisoned)?;
            let stop = stop_stage(
                &mut p.stage,
                encoder,
                p.bytes_in,
                p.bytes_decoded,
                &mut p.urls_before_stop,
            )?;
            p.stopped = Some(stop);
            encoder.flush()
        })?;
        self.stopped.ok_or(PipelineError::Poisoned)
    }

    /// Where rewriting stopped, if it did.
    pub fn rewrite_stop(&self) -> Option<RewriteStop> {
        self.stopped
    }

    /// True when [`Pipeline::into_splice`] is allowed: the origin body is
    /// identity (the decoder holds nothing back, so every origin byte not
    /// yet given to [`Pipeline::write_chunk`] is a byte of the document)
    /// and so is the output (the client expects those bytes as they are).
    /// Any encoding on either side means the guest must keep decoding or
    /// encoding to the end: stop with [`Pipeline::stop_rewriting`] and keep
    /// calling `write_chunk` instead.
    pub fn can_splice(&self) -> bool {
        !self.failed
            && self.input == ContentEncoding::Identity
            && self.output == ContentEncoding::Identity
    }

    /// Stops rewriting (if [`Pipeline::stop_rewriting`] has not) and ends
    /// the pipeline so the rest of the origin body can be spliced to the
    /// client by the host (`StreamingBody::append`), at no guest CPU.
    ///
    /// Only allowed when [`Pipeline::can_splice`]; otherwise (a programming
    /// error) it fails with [`PipelineError::Internal`] and nothing more is
    /// written. The caller must write [`Splice::held`] to the client, then
    /// append the origin body it has not read yet; the client then gets the
    /// rewrite of the first [`RewriteStop::decoded_offset`] bytes followed
    /// by the origin's bytes from there on.
    pub fn into_splice(mut self) -> Result<Splice<W>, PipelineError> {
        if self.failed {
            return Err(PipelineError::Poisoned);
        }
        if !self.can_splice() {
            return Err(PipelineError::internal(
                "a splice needs identity input and output",
            ));
        }
        self.failed = true;
        let mut held = Vec::new();
        let stop = match self.stopped {
            Some(stop) => stop,
            None => stop_stage(
                &mut self.stage,
                &mut held,
                self.bytes_in,
                self.bytes_decoded,
                &mut self.urls_before_stop,
            )?,
        };
        self.stopped = Some(stop);
        let mut stats = self.stats();
        let encoder = self.encoder.take().ok_or(PipelineError::Poisoned)?;
        let (writer, bytes_out) = encoder.finish()?;
        stats.bytes_out = bytes_out;
        Ok(Splice {
            writer,
            held,
            stop,
            stats,
        })
    }

    /// Convenience for callers with a reader: reads 16 KiB chunks, pushes
    /// each with [`Pipeline::write_chunk`], then [`Pipeline::finish`]es.
    /// Read errors are [`PipelineError::Upstream`].
    pub fn process<R: Read>(mut self, mut reader: R) -> Result<W, PipelineError> {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(PipelineError::Upstream(e)),
            };
            self.write_chunk(buf.get(..n).unwrap_or_default())?;
        }
        self.finish()
    }

    /// The origin body's coding and the client's.
    pub fn encodings(&self) -> (ContentEncoding, ContentEncoding) {
        (self.input, self.output)
    }

    /// Counters so far.
    pub fn stats(&self) -> PipelineStats {
        PipelineStats {
            bytes_in: self.bytes_in,
            bytes_decoded: self.bytes_decoded,
            bytes_out: self.encoder.as_ref().map_or(0, ContentEncoder::bytes_out),
            urls_rewritten: self.urls_before_stop + self.stage.rewritten(),
            rewrite_stop: self.stopped,
        }
    }

    /// True once the HTML rewrite has seen a `<meta
    /// http-equiv="Content-Security-Policy">` that lists hash sources.
    /// Streaming cannot add the hashes of rewritten inline scripts to it
    /// (they are only known after the `<meta>` went out), so the adapter
    /// logs the policy as incomplete; the buffered path completes it
    /// ([`crate::http::csp::BufferedHtml`]).
    pub fn saw_meta_hash_policy(&self) -> bool {
        self.stage.saw_meta_hash_policy()
    }

    fn guard(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        if self.failed {
            return Err(PipelineError::Poisoned);
        }
        let result = f(self);
        if result.is_err() {
            self.failed = true;
            if let Some(encoder) = self.encoder.as_mut() {
                encoder.disarm();
            }
        }
        result
    }

    fn encoder_mut(&mut self) -> Result<&mut ContentEncoder<W>, PipelineError> {
        self.encoder.as_mut().ok_or(PipelineError::Poisoned)
    }

    fn decode(&mut self, chunk: &[u8]) -> Result<(), PipelineError> {
        let Self {
            decoder,
            stage,
            encoder,
            limits,
            bytes_in,
            bytes_decoded,
            ..
        } = self;
        let encoder = encoder.as_mut().ok_or(PipelineError::Poisoned)?;
        let encoded = *bytes_in;
        decoder.decode(chunk, &mut |piece: &[u8]| {
            *bytes_decoded += piece.len() as u64;
            check_bomb(limits, *bytes_decoded, encoded)?;
            stage.push(piece, encoder)
        })
    }
}

/// A pipeline dropped without [`Pipeline::finish`] was abandoned (an
/// error, or the caller's origin read failed): nothing more may reach the
/// writer, in particular not the gzip trailer flate2 writes on drop, which
/// would commit a response that should become a clean 502, or make an
/// aborted one look complete.
impl<W: Write> Drop for Pipeline<W> {
    fn drop(&mut self) {
        if let Some(encoder) = self.encoder.as_mut() {
            encoder.disarm();
        }
    }
}

/// Stops `stage` into `out` and returns the switch point; records the URLs
/// the stage had rewritten.
fn stop_stage(
    stage: &mut Stage,
    out: &mut impl ByteSink,
    bytes_in: u64,
    bytes_decoded: u64,
    urls_before_stop: &mut u64,
) -> Result<RewriteStop, PipelineError> {
    *urls_before_stop += stage.rewritten();
    let raw = stage.stop(out)? as u64;
    let decoded_offset = bytes_decoded
        .checked_sub(raw)
        .ok_or_else(|| PipelineError::internal("more bytes held back than decoded"))?;
    Ok(RewriteStop {
        decoded_offset,
        bytes_in,
        held_back: raw,
    })
}

fn check_bomb(limits: &PipelineLimits, decoded: u64, encoded: u64) -> Result<(), PipelineError> {
    if let Some(max) = limits.max_decoded_bytes {
        if decoded > max {
            return Err(PipelineError::DecompressionBomb {
                decoded,
                encoded,
                limit: BombLimit::Total(max),
            });
        }
    }
    let ratio = limits.max_ratio;
    if ratio > 0 && decoded > limits.ratio_grace && decoded > encoded.saturating_mul(ratio) {
        return Err(PipelineError::DecompressionBomb {
            decoded,
            encoded,
            limit: BombLimit::Ratio(ratio),
        });
    }
    Ok(())
}
