//! gzip and deflate decoding on flate2's low-level `Decompress` (zlib-rs).
//!
//! gzip: zlib parses the header and checks the CRC-32 and length trailer;
//! after each member ends, a following member is decoded too (RFC 1952
//! allows several). deflate: HTTP says zlib-wrapped, but some servers send
//! raw deflate, so the first two bytes are sniffed for a valid zlib header.

use flate2::{Decompress, FlushDecompress, Status};

use crate::encoding::ContentEncoding;
use crate::error::PipelineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No input seen yet (deflate: fewer than two bytes, held in `sniff`).
    Start,
    /// Inside a gzip member or the deflate stream.
    Inside,
    /// Between gzip members, or after the deflate stream's end.
    Ended,
}

/// A streaming gzip (multi-member) or deflate (zlib or raw) decoder.
pub(crate) struct Inflater {
    gzip: bool,
    z: Option<Decompress>,
    state: State,
    sniff: [u8; 2],
    sniffed: usize,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("gzip", &self.gzip)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    pub(crate) fn gzip() -> Self {
        Self {
            gzip: true,
            z: Some(Decompress::new_gzip(15)),
            state: State::Start,
            sniff: [0; 2],
            sniffed: 0,
        }
    }

    pub(crate) fn deflate() -> Self {
        Self {
            gzip: false,
            z: None,
            state: State::Start,
            sniff: [0; 2],
            sniffed: 0,
        }
    }

    fn encoding(&self) -> ContentEncoding {
        if self.gzip {
            ContentEncoding::Gzip
        } else {
            ContentEncoding::Deflate
        }
    }

    fn corrupt(&self, detail: impl Into<String>) -> PipelineError {
        PipelineError::CorruptInput {
            encoding: self.encoding(),
            detail: detail.into(),
        }
    }

    /// Decodes `input`, handing decoded pieces (each at most `buf.len()`
    /// bytes) to `emit`.
    pub(crate) fn decode(
        &mut self,
        mut input: &[u8],
        buf: &mut [u8],
        emit: &mut impl FnMut(&[u8]) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        if !self.gzip && self.state == State::Start {
            while self.sniffed < 2 {
                let Some((&b, rest)) = input.split_first() else {
                    return Ok(());
                };
                self.sniff[self.sniffed] = b;
                self.sniffed += 1;
                input = rest;
            }
            let zlib = is_zlib_header(self.sniff);
            self.z = Some(Decompress::new(zlib));
            self.state = State::Inside;
            let head = self.sniff;
            self.inflate(&head, buf, emit)?;
        }
        self.inflate(input, buf, emit)
    }

    fn inflate(
        &mut self,
        mut input: &[u8],
        buf: &mut [u8],
        emit: &mut impl FnMut(&[u8]) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        while !input.is_empty() || self.state == State::Inside {
            if self.state == State::Ended {
                if !self.gzip {
                    return Err(self.corrupt("data after the end of the deflate stream"));
                }
                // Another gzip member follows.
                if let Some(z) = self.z.as_mut() {
                    z.reset(true);
                }
            }
            if !input.is_empty() {
                self.state = State::Inside;
            }
            let Some(z) = self.z.as_mut() else {
                return Err(PipelineError::internal(
                    "inflater used before its stream was set up",
                ));
            };
            let (in0, out0) = (z.total_in(), z.total_out());
            let status = z.decompress(input, buf, FlushDecompress::None);
            let consumed = usize::try_from(z.total_in() - in0).unwrap_or(usize::MAX);
            let produced = usize::try_from(z.total_out() - out0).unwrap_or(usize::MAX);
            let status = match status {
                Ok(s) => s,
                Err(e) => {
                    let msg = e.message().unwrap_or("invalid compressed data").to_owned();
                    return Err(self.corrupt(msg));
                }
            };
            let (Some(rest), Some(out)) = (input.get(consumed..), buf.get(..produced)) else {
                return Err(PipelineError::internal(
                    "inflater reported impossible progress",
                ));
            };
            input = rest;
            if !out.is_empty() {
                emit(out)?;
            }
            match status {
                Status::StreamEnd => self.state = State::Ended,
                Status::Ok | Status::BufError => {
                    let no_progress = consumed == 0 && produced == 0;
                    let drained = input.is_empty() && produced < buf.len();
                    if no_progress || drained {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// End of input: the last gzip member or the deflate stream must be
    /// complete. An empty body is accepted (nothing was encoded).
    pub(crate) fn finish(&mut self) -> Result<(), PipelineError> {
        let complete = match self.state {
            State::Start => self.sniffed == 0,
            State::Inside => false,
            State::Ended => true,
        };
        if complete {
            Ok(())
        } else {
            Err(PipelineError::Truncated {
                encoding: self.encoding(),
            })
        }
    }
}

/// RFC 1950: CM = 8 (deflate), CINFO <= 7, and the 16-bit header is a
/// multiple of 31. Raw deflate almost never satisfies all three.
fn is_zlib_header(h: [u8; 2]) -> bool {
    let (cmf, flg) = (h[0], h[1]);
    cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn decode_all(mut inf: Inflater, input: &[u8], chunk: usize) -> Result<Vec<u8>, PipelineError> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 7];
        for c in input.chunks(chunk.max(1)) {
            inf.decode(c, &mut buf, &mut |p| {
                out.extend_from_slice(p);
                Ok(())
            })?;
        }
        inf.finish()?;
        Ok(out)
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn multi_member_gzip_at_every_chunk_size() {
        let mut both = gz(b"hello, ");
        both.extend(gz(b"world"));
        for chunk in [1, 2, 3, 10, 1000] {
            assert_eq!(
                decode_all(Inflater::gzip(), &both, chunk).unwrap(),
                b"hello, world"
            );
        }
    }

    #[test]
    fn deflate_zlib_and_raw_are_sniffed() {
        let data = b"zlib or raw, the same text comes out".repeat(20);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&data).unwrap();
        let zlib = z.finish().unwrap();
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        r.write_all(&data).unwrap();
        let raw = r.finish().unwrap();
        for chunk in [1, 5, 4096] {
            assert_eq!(decode_all(Inflater::deflate(), &zlib, chunk).unwrap(), data);
            assert_eq!(decode_all(Inflater::deflate(), &raw, chunk).unwrap(), data);
        }
    }

    #[test]
    fn truncation_and_trailing_garbage_are_errors() {
        let g = gz(b"some body text");
        for cut in 1..g.len() {
            let err = decode_all(Inflater::gzip(), &g[..cut], 3).unwrap_err();
            assert!(
                matches!(
                    err,
                    PipelineError::Truncated { .. } | PipelineError::CorruptInput { .. }
                ),
                "{cut}: {err:?}"
            );
        }
        let mut junk = g.clone();
        junk.extend_from_slice(b"junk");
        assert!(matches!(
            decode_all(Inflater::gzip(), &junk, 4),
            Err(PipelineError::CorruptInput { .. })
        ));
        assert_eq!(decode_all(Inflater::gzip(), b"", 1).unwrap(), b"");
        assert!(matches!(
            decode_all(Inflater::deflate(), b"x", 1),
            Err(PipelineError::Truncated { .. })
        ));
    }
}
