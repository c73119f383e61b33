//! Brotli on the `brotli` crate's streaming state machines.
//!
//! We drive `BrotliDecompressStream` and `compress_stream` directly rather
//! than through the crate's `Write` adapters: the decoder then emits into a
//! fixed buffer piece by piece (bounded memory, per-piece bomb checks), and
//! the encoder reports downstream write errors on finish instead of
//! swallowing them as `CompressorWriter::into_inner` does.

use std::io::Write;

use brotli::enc::encode::{
    BrotliEncoderDestroyInstance, BrotliEncoderOperation, BrotliEncoderParameter,
    BrotliEncoderStateStruct,
};
use brotli::enc::StandardAlloc;
use brotli::HeapAlloc;
use brotli_decompressor::{
    BrotliDecoderHasMoreOutput, BrotliDecompressStream, BrotliResult, BrotliState, HuffmanCode,
};

use crate::encoding::ContentEncoding;
use crate::error::PipelineError;

type DecoderState = BrotliState<HeapAlloc<u8>, HeapAlloc<u32>, HeapAlloc<HuffmanCode>>;

/// Streaming brotli decoder. Large-window brotli (a non-standard extension
/// allowing a 1 GiB window) is refused, so the ring buffer is at most the
/// 16 MiB the RFC allows; typical encoders use 4 MiB or less.
pub(crate) struct BrotliDecoder {
    state: Box<DecoderState>,
    started: bool,
    done: bool,
}

impl std::fmt::Debug for BrotliDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrotliDecoder")
            .field("started", &self.started)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

fn corrupt(detail: impl Into<String>) -> PipelineError {
    PipelineError::CorruptInput {
        encoding: ContentEncoding::Brotli,
        detail: detail.into(),
    }
}

impl BrotliDecoder {
    pub(crate) fn new() -> Self {
        Self {
            state: Box::new(BrotliState::new_strict(
                HeapAlloc::new(0),
                HeapAlloc::new(0),
                HeapAlloc::new(HuffmanCode::default()),
            )),
            started: false,
            done: false,
        }
    }

    pub(crate) fn decode(
        &mut self,
        mut input: &[u8],
        buf: &mut [u8],
        emit: &mut impl FnMut(&[u8]) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        if input.is_empty() {
            return Ok(());
        }
        if self.done {
            return Err(corrupt("data after the end of the brotli stream"));
        }
        self.started = true;
        loop {
            let mut avail_in = input.len();
            let mut in_off = 0;
            let mut avail_out = buf.len();
            let mut out_off = 0;
            let mut total = 0;
            let result = BrotliDecompressStream(
                &mut avail_in,
                &mut in_off,
                input,
                &mut avail_out,
                &mut out_off,
                buf,
                &mut total,
                &mut self.state,
            );
            let (Some(rest), Some(out)) = (input.get(in_off..), buf.get(..out_off)) else {
                return Err(PipelineError::internal(
                    "brotli decoder reported impossible progress",
                ));
            };
            input = rest;
            if !out.is_empty() {
                emit(out)?;
            }
            match result {
                BrotliResult::NeedsMoreOutput => continue,
                // All input consumed, but with a full output buffer part of
                // it may still sit in the ring buffer: drain it now, or the
                // client would only see it after the next chunk.
                BrotliResult::NeedsMoreInput if BrotliDecoderHasMoreOutput(&self.state) => continue,
                BrotliResult::NeedsMoreInput => return Ok(()),
                BrotliResult::ResultSuccess => {
                    self.done = true;
                    return if input.is_empty() {
                        Ok(())
                    } else {
                        Err(corrupt("data after the end of the brotli stream"))
                    };
                }
                BrotliResult::ResultFailure => {
                    return Err(corrupt(format!(
                        "invalid brotli data ({:?})",
                        self.state.error_code
                    )))
                }
            }
        }
    }

    /// End of input: the stream must have reached its last meta-block. An
    /// empty body is accepted.
    pub(crate) fn finish(&mut self) -> Result<(), PipelineError> {
        if self.started && !self.done {
            Err(PipelineError::Truncated {
                encoding: ContentEncoding::Brotli,
            })
        } else {
            Ok(())
        }
    }
}

/// Streaming brotli encoder writing into `W`, with a 16 KiB output buffer.
pub(crate) struct BrotliEncoder<W: Write> {
    state: BrotliEncoderStateStruct<StandardAlloc>,
    buf: Box<[u8]>,
    writer: W,
}

impl<W: Write> std::fmt::Debug for BrotliEncoder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrotliEncoder").finish_non_exhaustive()
    }
}

/// Window of the encoder: 2^20 = 1 MiB. Keeps the encoder's heap around
/// 2-3 MiB; a larger window gains little on web pages (most are < 1 MiB).
const ENCODER_LGWIN: u32 = 20;

impl<W: Write> BrotliEncoder<W> {
    pub(crate) fn new(writer: W, quality: u32) -> Self {
        let mut state = BrotliEncoderStateStruct::new(StandardAlloc::default());
        state.set_parameter(BrotliEncoderParameter::BROTLI_PARAM_QUALITY, quality);
        state.set_parameter(BrotliEncoderParameter::BROTLI_PARAM_LGWIN, ENCODER_LGWIN);
        Self {
            state,
            buf: vec![0u8; 16 << 10].into_boxed_slice(),
            writer,
        }
    }

    pub(crate) fn get_ref(&self) -> &W {
        &self.writer
    }

    pub(crate) fn get_mut(&mut self) -> &mut W {
        &mut self.writer
    }

    fn run(&mut self, op: BrotliEncoderOperation, mut input: &[u8]) -> std::io::Result<()> {
        loop {
            let mut avail_in = input.len();
            let mut in_off = 0;
            let mut avail_out = self.buf.len();
            let mut out_off = 0;
            let mut total = None;
            let ok = self.state.compress_stream(
                op,
                &mut avail_in,
                input,
                &mut in_off,
                &mut avail_out,
                &mut self.buf,
                &mut out_off,
                &mut total,
                &mut |_, _, _, _| (),
            );
            if !ok {
                return Err(std::io::Error::other("brotli encoder rejected its input"));
            }
            if let Some(out) = self.buf.get(..out_off) {
                self.writer.write_all(out)?;
            }
            input = input.get(in_off..).unwrap_or(&[]);
            let more = match op {
                BrotliEncoderOperation::BROTLI_OPERATION_PROCESS => !input.is_empty(),
                BrotliEncoderOperation::BROTLI_OPERATION_FINISH => !self.state.is_finished(),
                _ => self.state.has_more_output() || !input.is_empty(),
            };
            if !more {
                return Ok(());
            }
        }
    }

    pub(crate) fn write_all(&mut self, input: &[u8]) -> std::io::Result<()> {
        self.run(BrotliEncoderOperation::BROTLI_OPERATION_PROCESS, input)
    }

    /// `BROTLI_OPERATION_FLUSH`: everything written so far becomes decodable.
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        self.run(BrotliEncoderOperation::BROTLI_OPERATION_FLUSH, &[])?;
        self.writer.flush()
    }

    pub(crate) fn finish(mut self) -> std::io::Result<W> {
        self.run(BrotliEncoderOperation::BROTLI_OPERATION_FINISH, &[])?;
        self.writer.flush()?;
        BrotliEncoderDestroyInstance(&mut self.state);
        Ok(self.writer)
    }
}
