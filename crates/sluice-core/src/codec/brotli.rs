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
    Allocator, BrotliDecoderHasMoreOutput, BrotliDecompressStream, BrotliResult, BrotliState,
    HuffmanCode,
};

use crate::encoding::ContentEncoding;
use crate::error::PipelineError;

type DecoderState = BrotliState<CappedAlloc, HeapAlloc<u32>, HeapAlloc<HuffmanCode>>;

/// Streaming brotli decoder.
///
/// Its memory is set by the body: the stream header declares a window
/// (`WBITS`, 1 KiB to 16 MiB) and back-references may reach that far, so
/// the decoder allocates a ring buffer of the whole window when the first
/// meta-block starts (only a body that is one small meta-block gets a ring
/// buffer of its own size). That allocation goes through [`CappedAlloc`]:
/// one over the cap is refused, and the decoder fails with
/// [`PipelineError::BrotliWindowTooLarge`] before it has allocated it or
/// written a byte. Large-window brotli (a non-standard extension allowing
/// a 1 GiB window) is refused as corrupt.
pub(crate) struct BrotliDecoder {
    state: Box<DecoderState>,
    max_window: usize,
    started: bool,
    done: bool,
}

/// Room the decoder allocates past its ring buffer (a write-ahead slack
/// for fast copies and dictionary words: 66 bytes in brotli-decompressor
/// 5), with margin. Ring buffers are powers of two, so this never lets
/// one of twice the cap through.
const RING_BUFFER_SLACK: usize = 1 << 10;

/// The decoder's byte allocator: `HeapAlloc`, except that a single
/// allocation larger than `limit` is refused with an empty slice, which
/// the decoder reports as a failed ring-buffer allocation. Every other
/// byte allocation of the decoder (context maps, block types) is far
/// smaller than the smallest window.
pub(crate) struct CappedAlloc {
    inner: HeapAlloc<u8>,
    limit: usize,
    refused: bool,
}

impl Allocator<u8> for CappedAlloc {
    type AllocatedMemory = <HeapAlloc<u8> as Allocator<u8>>::AllocatedMemory;

    fn alloc_cell(&mut self, len: usize) -> Self::AllocatedMemory {
        if len > self.limit {
            self.refused = true;
            return Self::AllocatedMemory::default();
        }
        self.inner.alloc_cell(len)
    }

    fn free_cell(&mut self, data: Self::AllocatedMemory) {
        self.inner.free_cell(data);
    }
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
    /// A decoder refusing bodies whose window exceeds `max_window` bytes.
    pub(crate) fn new(max_window: usize) -> Self {
        Self {
            state: Box::new(BrotliState::new_strict(
                CappedAlloc {
                    inner: HeapAlloc::new(0),
                    limit: max_window.saturating_add(RING_BUFFER_SLACK),
                    refused: false,
                },
                HeapAlloc::new(0),
                HeapAlloc::new(HuffmanCode::default()),
            )),
            max_window,
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
                BrotliResult::ResultFailure if self.state.alloc_u8.refused => {
                    return Err(PipelineError::BrotliWindowTooLarge {
                        window: usize::try_from(self.state.ringbuffer_size).unwrap_or(usize::MAX),
                        cap: self.max_window,
                    })
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

/// Window of the encoder: 2^17 = 128 KiB. With the default quality it keeps
/// the encoder's heap near 1 MiB, so decoding a brotli body (whose window
/// may be 4 MiB) and re-encoding it stays under 8 MiB of guest heap; a
/// 1 MiB window saves about a tenth of the bytes for 1-2 MiB more
/// (docs/BENCHMARKS.md, "Guest heap by output encoding").
const ENCODER_LGWIN: u32 = 17;

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

#[cfg(test)]
mod tests {
    use super::*;
    use brotli_decompressor::SliceWrapper;

    /// `data` at quality 5 with window `lgwin`, flushed after its first
    /// KiB as a streaming origin would, so the first meta-block is not the
    /// last.
    fn compress(data: &[u8], lgwin: u32) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, lgwin);
            let (a, b) = data.split_at(data.len().min(1024));
            w.write_all(a).unwrap();
            w.flush().unwrap();
            w.write_all(b).unwrap();
        }
        out
    }

    /// The same, as one meta-block.
    fn compress_whole(data: &[u8], lgwin: u32) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, lgwin);
            w.write_all(data).unwrap();
        }
        out
    }

    /// Text that does not compress into one meta-block.
    fn varied(len: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b"abcdefghijklmnopqrstuvwxyz <>/=\"'"[(x % 33) as usize]
            })
            .collect()
    }

    fn decode(body: &[u8], cap: usize) -> Result<Vec<u8>, PipelineError> {
        let mut d = BrotliDecoder::new(cap);
        let mut buf = vec![0u8; 4096];
        let mut out = Vec::new();
        let r = d
            .decode(body, &mut buf, &mut |p| {
                out.extend_from_slice(p);
                Ok(())
            })
            .and_then(|()| d.finish());
        r.map(|()| out)
    }

    #[test]
    fn the_ring_buffer_is_the_window_and_over_the_cap_it_is_refused() {
        let data = varied(300 << 10);
        for lgwin in [16, 20, 22, 24] {
            let body = compress(&data, lgwin);
            let window = 1usize << lgwin;
            let out = decode(&body, window).unwrap();
            assert!(out == data, "lgwin {lgwin}");
            match decode(&body, window / 2) {
                Err(PipelineError::BrotliWindowTooLarge { window: w, cap }) => {
                    assert_eq!((w, cap), (window, window / 2), "lgwin {lgwin}");
                }
                other => panic!("lgwin {lgwin}: {:?}", other.map(|v| v.len())),
            }
        }
    }

    #[test]
    fn a_refused_window_writes_nothing() {
        let body = compress(&varied(300 << 10), 24);
        let mut d = BrotliDecoder::new(4 << 20);
        let mut buf = vec![0u8; 4096];
        let mut emitted = 0;
        // Byte by byte, as a slow origin would send it.
        let err = body
            .chunks(1)
            .find_map(|c| {
                d.decode(c, &mut buf, &mut |p| {
                    emitted += p.len();
                    Ok(())
                })
                .err()
            })
            .expect("refused");
        assert!(
            matches!(
                err,
                PipelineError::BrotliWindowTooLarge {
                    window: 16_777_216,
                    cap: 4_194_304
                }
            ),
            "{err:?}"
        );
        assert_eq!(emitted, 0);
        assert_eq!(d.state.ringbuffer.slice().len(), 0, "nothing allocated");
    }

    #[test]
    fn a_small_body_needs_only_its_own_size_whatever_its_window() {
        // One meta-block that is also the last: the decoder sizes the ring
        // buffer to the body, so a 24-bit window passes a 64 KiB cap.
        let data = varied(20 << 10);
        let body = compress_whole(&data, 24);
        let out = decode(&body, 64 << 10).unwrap();
        assert!(out == data);
    }
}
