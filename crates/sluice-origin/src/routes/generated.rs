//! `GET|HEAD /gen/{html|css|js}/{n}`: URL-dense generated documents of any
//! size ([`crate::content::GenDoc`]), optionally compressed on the fly.

use super::{allow, cond, content_type, link_host, Ctx};
use crate::body::{self, shape, tracked, ChunkStream, ResBody, Track};
use crate::content::{GenDoc, GenKind, GenReader, GEN_PIECE};
use crate::encode::{Encoding, StreamEncoder};
use crate::error::RouteError;
use bytes::{Bytes, BytesMut};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use std::io;

/// Largest generated document: 1 TiB.
const MAX_GEN: u64 = 1 << 40;

/// Generated pieces, encoded when asked; constant memory.
struct Pieces {
    reader: GenReader,
    encoder: Option<StreamEncoder>,
    done: bool,
}

impl Iterator for Pieces {
    type Item = io::Result<Bytes>;

    fn next(&mut self) -> Option<io::Result<Bytes>> {
        while !self.done {
            let n = self.reader.remaining().min(GEN_PIECE as u64) as usize;
            if n == 0 {
                self.done = true;
                return match self.encoder.as_mut().map(|e| e.finish()) {
                    Some(Ok(tail)) if !tail.is_empty() => Some(Ok(tail)),
                    Some(Err(e)) => Some(Err(e)),
                    _ => None,
                };
            }
            let mut buf = BytesMut::zeroed(n);
            let got = self.reader.fill(&mut buf);
            buf.truncate(got);
            let out = match self.encoder.as_mut() {
                None => Ok(buf.freeze()),
                Some(e) => e.push(&buf),
            };
            match out {
                Ok(b) if b.is_empty() => continue,
                other => return Some(other),
            }
        }
        None
    }
}

/// Largest document `length=known` compresses up front.
const MAX_PRECOMPRESSED: u64 = 64 << 20;

pub fn serve(
    ctx: &Ctx,
    req: &Request<Incoming>,
    kind: &str,
    n: &str,
) -> Result<Response<ResBody>, RouteError> {
    allow(req.method(), &[Method::GET, Method::HEAD], "GET, HEAD")?;
    let q = &ctx.query;
    let kind = GenKind::parse(kind)
        .ok_or_else(|| RouteError::NotFound(format!("no generator {kind:?}")))?;
    let n: u64 = n
        .parse()
        .map_err(|_| RouteError::bad(format!("size {n:?} is not a number")))?;
    if n > MAX_GEN {
        return Err(RouteError::bad(format!("size {n} exceeds {MAX_GEN}")));
    }
    let host = link_host(q)?;
    let opts = super::body_opts(ctx)?;
    if let Some(failed) = super::injected_failure(&opts) {
        return Ok(failed);
    }
    let (enc, header_enc) = match (opts.lie, q.get("enc")) {
        (Some(lie), _) => (Encoding::Identity, Some(lie)),
        (None, Some("zstd")) => (Encoding::Identity, Some("zstd")),
        (None, Some(e)) => {
            let enc = Encoding::parse(e)
                .ok_or_else(|| RouteError::bad(format!("enc={e:?} is not supported")))?;
            (enc, enc.header_value())
        }
        (None, None) => (Encoding::Identity, None),
    };
    let doc = GenDoc::new(kind, &host, n);
    let etag = format!("\"gen-{}-{n}-{host}-{}\"", kind.as_str(), enc.token());
    let mut b = Response::builder()
        .header(
            header::ETAG,
            HeaderValue::from_str(&etag).map_err(|e| RouteError::Internal(e.to_string()))?,
        )
        .header(header::LAST_MODIFIED, cond::last_modified_value());
    b = super::extra_headers(b, q)?;
    if cond::not_modified(req.headers(), &etag) {
        return Ok(b.status(StatusCode::NOT_MODIFIED).body(body::empty())?);
    }
    b = b
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type(q, kind.content_type())?);
    if let Some(h) = header_enc {
        b = b.header(header::CONTENT_ENCODING, h);
    }
    // Compressed length is unknown up front: those bodies are chunked,
    // unless `length=known` asks for the whole body compressed first (as a
    // static pre-compressed file is served), at most MAX_PRECOMPRESSED.
    let expected = (enc == Encoding::Identity).then(|| doc.len());
    let precompressed = match q.get("length") {
        Some("known") if enc != Encoding::Identity => {
            if n > MAX_PRECOMPRESSED {
                return Err(RouteError::bad(format!(
                    "length=known needs a size of at most {MAX_PRECOMPRESSED}"
                )));
            }
            let mut plain = vec![0u8; doc.len() as usize];
            let got = doc.reader().fill(&mut plain);
            plain.truncate(got);
            Some(Bytes::from(crate::encode::encode_all(enc, &plain)?))
        }
        _ => None,
    };
    let length = match &precompressed {
        Some(whole) => Some(whole.len() as u64),
        None => expected,
    };
    if let Some(len) = length.filter(|_| !opts.chunked) {
        b = b.header(header::CONTENT_LENGTH, len);
    }
    if req.method() == Method::HEAD {
        return Ok(b.body(body::empty())?);
    }
    let source: ChunkStream = match precompressed {
        Some(whole) => {
            let pieces: Vec<io::Result<Bytes>> = (0..whole.len())
                .step_by(GEN_PIECE)
                .map(|at| Ok(whole.slice(at..(at + GEN_PIECE).min(whole.len()))))
                .collect();
            Box::pin(futures_util::stream::iter(pieces))
        }
        None => Box::pin(futures_util::stream::iter(Pieces {
            reader: doc.reader(),
            encoder: (enc != Encoding::Identity).then(|| StreamEncoder::new(enc)),
            done: false,
        })),
    };
    let track = Track {
        events: ctx.state.events.clone(),
        path: ctx.path.clone(),
        expected,
        llm: false,
    };
    Ok(b.body(tracked(shape(source, &opts, ctx.ctl.clone()), track))?)
}
