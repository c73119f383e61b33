//! Content-Encoding: negotiation, whole-body encoding (corpus pages) and
//! streaming encoding (`/gen`).

use bytes::Bytes;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::Compression;
use std::io::{self, Write};

/// A body encoding the origin can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// No transformation.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// `deflate` done right: zlib-wrapped (RFC 1950).
    Deflate,
    /// `Content-Encoding: deflate` with a raw RFC 1951 stream, as some real
    /// servers wrongly send; decoders must cope.
    DeflateRaw,
    /// Brotli.
    Br,
}

impl Encoding {
    /// Parses a `?enc=` value (`identity`, `gzip`, `deflate`, `deflate-raw`,
    /// `br`). `zstd` is handled by the routes (header only).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "identity" => Some(Self::Identity),
            "gzip" => Some(Self::Gzip),
            "deflate" => Some(Self::Deflate),
            "deflate-raw" => Some(Self::DeflateRaw),
            "br" => Some(Self::Br),
            _ => None,
        }
    }

    /// The `Content-Encoding` header value, `None` for identity.
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some("gzip"),
            Self::Deflate | Self::DeflateRaw => Some("deflate"),
            Self::Br => Some("br"),
        }
    }

    /// A short token for ETags and logs.
    pub fn token(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::DeflateRaw => "deflate-raw",
            Self::Br => "br",
        }
    }

    /// Picks the encoding for an `Accept-Encoding` value: the highest q
    /// among br, gzip and deflate (ties in that order), identity when none
    /// is acceptable. `q=0` excludes; `*` covers codings not listed.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Identity;
        };
        let mut star: Option<f32> = None;
        let mut q_of = [None::<f32>; 3]; // br, gzip, deflate
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0f32;
            for p in parts {
                let p = p.trim();
                if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            let slot = match coding.as_str() {
                "br" => Some(0),
                "gzip" | "x-gzip" => Some(1),
                "deflate" => Some(2),
                "*" => {
                    star = Some(q);
                    None
                }
                _ => None,
            };
            if let Some(i) = slot {
                q_of[i] = Some(q);
            }
        }
        let mut best = (Self::Identity, 0.0f32);
        for (i, enc) in [Self::Br, Self::Gzip, Self::Deflate]
            .into_iter()
            .enumerate()
        {
            let q = q_of[i].or(star).unwrap_or(0.0);
            if q > best.1 {
                best = (enc, q);
            }
        }
        best.0
    }
}

/// Level used for cached corpus pages: a realistic origin setting.
const PAGE_GZIP_LEVEL: u32 = 6;
const PAGE_BROTLI_QUALITY: u32 = 5;
/// Level used for on-the-fly `/gen` bodies: fastest, so multi-GB bodies are
/// limited by the edge, not by us.
const STREAM_GZIP_LEVEL: u32 = 1;
const STREAM_BROTLI_QUALITY: u32 = 1;
const BROTLI_LGWIN: u32 = 22;
const BROTLI_BUFFER: usize = 64 * 1024;

/// Encodes a whole body.
pub fn encode_all(enc: Encoding, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut e = StreamEncoder::with_levels(enc, PAGE_GZIP_LEVEL, PAGE_BROTLI_QUALITY);
    let mut out = e.push(data)?.to_vec();
    out.extend_from_slice(&e.finish()?);
    Ok(out)
}

enum Inner {
    Identity,
    Gzip(GzEncoder<Vec<u8>>),
    Zlib(ZlibEncoder<Vec<u8>>),
    Raw(DeflateEncoder<Vec<u8>>),
    Br(Box<brotli::CompressorWriter<Vec<u8>>>),
    Done,
}

/// Push-based encoder: feed plain chunks, collect whatever compressed bytes
/// are ready. Holds only the compressor's own window and buffer.
pub struct StreamEncoder {
    inner: Inner,
}

impl StreamEncoder {
    /// An encoder at the fast streaming levels used by `/gen`.
    pub fn new(enc: Encoding) -> Self {
        Self::with_levels(enc, STREAM_GZIP_LEVEL, STREAM_BROTLI_QUALITY)
    }

    fn with_levels(enc: Encoding, gzip_level: u32, br_quality: u32) -> Self {
        let c = Compression::new(gzip_level);
        let inner = match enc {
            Encoding::Identity => Inner::Identity,
            Encoding::Gzip => Inner::Gzip(GzEncoder::new(Vec::new(), c)),
            Encoding::Deflate => Inner::Zlib(ZlibEncoder::new(Vec::new(), c)),
            Encoding::DeflateRaw => Inner::Raw(DeflateEncoder::new(Vec::new(), c)),
            Encoding::Br => Inner::Br(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                br_quality,
                BROTLI_LGWIN,
            ))),
        };
        Self { inner }
    }

    /// Compresses `data`; returns the bytes the compressor has produced so
    /// far (possibly empty).
    pub fn push(&mut self, data: &[u8]) -> io::Result<Bytes> {
        let out = match &mut self.inner {
            Inner::Identity => return Ok(Bytes::copy_from_slice(data)),
            Inner::Gzip(e) => {
                e.write_all(data)?;
                std::mem::take(e.get_mut())
            }
            Inner::Zlib(e) => {
                e.write_all(data)?;
                std::mem::take(e.get_mut())
            }
            Inner::Raw(e) => {
                e.write_all(data)?;
                std::mem::take(e.get_mut())
            }
            Inner::Br(e) => {
                e.write_all(data)?;
                std::mem::take(e.get_mut())
            }
            Inner::Done => return Err(io::Error::other("encoder already finished")),
        };
        Ok(Bytes::from(out))
    }

    /// Ends the stream; returns the trailing compressed bytes.
    pub fn finish(&mut self) -> io::Result<Bytes> {
        let out = match std::mem::replace(&mut self.inner, Inner::Done) {
            Inner::Identity | Inner::Done => Vec::new(),
            Inner::Gzip(e) => e.finish()?,
            Inner::Zlib(e) => e.finish()?,
            Inner::Raw(e) => e.finish()?,
            // `into_inner` runs the brotli FINISH operation.
            Inner::Br(e) => e.into_inner(),
        };
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn negotiation_prefers_br_then_gzip_and_honours_q_zero() {
        let n = |s| Encoding::negotiate(Some(s));
        assert_eq!(Encoding::negotiate(None), Encoding::Identity);
        assert_eq!(n("gzip, deflate, br"), Encoding::Br);
        assert_eq!(n("deflate, gzip"), Encoding::Gzip);
        assert_eq!(n("br;q=0, gzip"), Encoding::Gzip);
        assert_eq!(n("br;q=0.5, gzip;q=0.8"), Encoding::Gzip);
        assert_eq!(n("deflate"), Encoding::Deflate);
        assert_eq!(n("identity"), Encoding::Identity);
        assert_eq!(n("*"), Encoding::Br);
        assert_eq!(n("*;q=0, gzip"), Encoding::Gzip);
        assert_eq!(n("gzip;q=0, deflate;q=0, br;q=0"), Encoding::Identity);
        assert_eq!(n(";;;,,q=x"), Encoding::Identity);
    }

    fn decode(enc: Encoding, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match enc {
            Encoding::Identity => out.extend_from_slice(data),
            Encoding::Gzip => {
                flate2::read::GzDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::Deflate => {
                flate2::read::ZlibDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::DeflateRaw => {
                flate2::read::DeflateDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::Br => {
                brotli::Decompressor::new(data, 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
        }
        out
    }

    #[test]
    fn whole_and_streaming_encodings_round_trip() {
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        for enc in [
            Encoding::Identity,
            Encoding::Gzip,
            Encoding::Deflate,
            Encoding::DeflateRaw,
            Encoding::Br,
        ] {
            assert_eq!(
                decode(enc, &encode_all(enc, &text).unwrap()),
                text,
                "{enc:?}"
            );
            let mut s = StreamEncoder::new(enc);
            let mut out = Vec::new();
            for c in text.chunks(10_000) {
                out.extend_from_slice(&s.push(c).unwrap());
            }
            out.extend_from_slice(&s.finish().unwrap());
            assert_eq!(decode(enc, &out), text, "stream {enc:?}");
            assert!(s.push(b"x").is_err(), "push after finish must fail");
        }
    }
}
