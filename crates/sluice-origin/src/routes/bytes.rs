//! `GET|HEAD /bytes/{n}` (and its slow twin `/drip/{n}`): `n` deterministic
//! bytes from [`crate::content::fill`], with validators and byte ranges;
//! `GET /bytes/{n}/sha256`: their digest, computed streaming.

use super::{allow, cond, content_type, text, Ctx};
use crate::body::{self, shape, tracked, ChunkStream, Chunking, ResBody, Track};
use crate::content::fill;
use crate::error::RouteError;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_range_header::RangeUnsatisfiableError;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};
use std::ops::RangeInclusive;
use std::time::Duration;

/// Largest `n` served: 1 TiB.
pub const MAX_BYTES: u64 = 1 << 40;
/// Size of the pieces generated for the socket.
const PIECE: u64 = 128 * 1024;
/// Most ranges honoured in one request; more are ignored (full 200).
const MAX_RANGES: usize = 64;
/// `/drip` defaults: 1 KiB every 100 ms.
const DRIP_CHUNK: usize = 1024;
const DRIP_INTERVAL: Duration = Duration::from_millis(100);

fn parse_n(n: &str) -> Result<u64, RouteError> {
    let v: u64 = n
        .parse()
        .map_err(|_| RouteError::bad(format!("byte count {n:?} is not a number")))?;
    if v > MAX_BYTES {
        return Err(RouteError::bad(format!(
            "byte count {v} exceeds {MAX_BYTES}"
        )));
    }
    Ok(v)
}

/// Bytes `start..end` of the stream for `seed`, generated lazily.
fn span(seed: u64, start: u64, end: u64) -> ChunkStream {
    let mut at = start;
    Box::pin(futures_util::stream::iter(std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let n = (end - at).min(PIECE) as usize;
        let mut buf = BytesMut::zeroed(n);
        fill(seed, at, &mut buf);
        at += n as u64;
        Some(Ok(buf.freeze()))
    })))
}

enum Plan {
    Full,
    Single(RangeInclusive<u64>),
    Multi(Vec<RangeInclusive<u64>>),
    Unsatisfiable,
}

fn plan(req: &Request<Incoming>, n: u64, etag: &str) -> Plan {
    let Some(range) = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Plan::Full;
    };
    if !cond::if_range_holds(req.headers(), etag) {
        return Plan::Full;
    }
    let validated = http_range_header::parse_range_header(range).and_then(|p| p.validate(n));
    match validated {
        Ok(r) if r.is_empty() || r.len() > MAX_RANGES => Plan::Full,
        Ok(mut r) if r.len() == 1 => Plan::Single(r.remove(0)),
        Ok(r) => Plan::Multi(r),
        Err(RangeUnsatisfiableError::Unsatisfiable) => Plan::Unsatisfiable,
        // Malformed or abusive Range headers may be ignored (RFC 9110 14.2).
        Err(_) => Plan::Full,
    }
}

pub fn serve(
    ctx: &Ctx,
    req: &Request<Incoming>,
    n: &str,
    drip: bool,
) -> Result<Response<ResBody>, RouteError> {
    allow(req.method(), &[Method::GET, Method::HEAD], "GET, HEAD")?;
    let n = parse_n(n)?;
    let q = &ctx.query;
    let seed = q.parse_opt::<u64>("content_seed")?.unwrap_or(0);
    let mut opts = super::body_opts(ctx)?;
    if let Some(failed) = super::injected_failure(&opts) {
        return Ok(failed);
    }
    if drip {
        if opts.chunking == Chunking::Source {
            opts.chunking = Chunking::Fixed(DRIP_CHUNK);
        }
        opts.interval.get_or_insert(DRIP_INTERVAL);
    }
    let etag = format!("\"bytes-{n}-{seed}\"");
    let ct = content_type(q, "application/octet-stream")?;
    let mut b = Response::builder()
        .header(
            header::ETAG,
            HeaderValue::from_str(&etag).map_err(|e| RouteError::Internal(e.to_string()))?,
        )
        .header(header::LAST_MODIFIED, cond::last_modified_value())
        .header(header::ACCEPT_RANGES, "bytes");
    if q.get("disposition") == Some("attachment") {
        b = b.header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"bytes-{n}.bin\""),
        );
    }
    if let Some(lie) = opts.lie {
        b = b.header(header::CONTENT_ENCODING, lie);
    }
    if cond::not_modified(req.headers(), &etag) {
        return Ok(b.status(StatusCode::NOT_MODIFIED).body(body::empty())?);
    }
    let (status, stream, len): (StatusCode, Option<ChunkStream>, u64) = match plan(req, n, &etag) {
        Plan::Unsatisfiable => {
            return Ok(b
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{n}"))
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(body::full(format!("range not satisfiable for {n} bytes\n")))?);
        }
        Plan::Full => {
            b = b.header(header::CONTENT_TYPE, ct);
            (StatusCode::OK, Some(span(seed, 0, n)), n)
        }
        Plan::Single(r) => {
            let (s, e) = (*r.start(), *r.end());
            b = b
                .header(header::CONTENT_TYPE, ct)
                .header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{n}"));
            (
                StatusCode::PARTIAL_CONTENT,
                Some(span(seed, s, e + 1)),
                e + 1 - s,
            )
        }
        Plan::Multi(ranges) => {
            let boundary = format!("sluice-byteranges-{n}-{seed}");
            b = b.header(
                header::CONTENT_TYPE,
                format!("multipart/byteranges; boundary={boundary}"),
            );
            let ct = ct.to_str().unwrap_or("application/octet-stream").to_owned();
            let (stream, len) = multipart(seed, n, &ranges, &boundary, &ct);
            (StatusCode::PARTIAL_CONTENT, Some(stream), len)
        }
    };
    b = b.status(status);
    if !opts.chunked {
        b = b.header(header::CONTENT_LENGTH, len);
    }
    match stream {
        Some(s) if req.method() != Method::HEAD => {
            let track = Track {
                events: ctx.state.events.clone(),
                path: ctx.path.clone(),
                expected: Some(len),
                llm: false,
            };
            Ok(b.body(tracked(shape(s, &opts, ctx.ctl.clone()), track))?)
        }
        _ => Ok(b.body(body::empty())?),
    }
}

/// A `multipart/byteranges` body and its exact length.
fn multipart(
    seed: u64,
    n: u64,
    ranges: &[RangeInclusive<u64>],
    boundary: &str,
    ct: &str,
) -> (ChunkStream, u64) {
    let mut parts: Vec<ChunkStream> = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut len = 0u64;
    for (i, r) in ranges.iter().enumerate() {
        let lead = if i == 0 { "" } else { "\r\n" };
        let head = format!(
            "{lead}--{boundary}\r\nContent-Type: {ct}\r\nContent-Range: bytes {}-{}/{n}\r\n\r\n",
            r.start(),
            r.end()
        );
        len += head.len() as u64 + (r.end() + 1 - r.start());
        parts.push(Box::pin(futures_util::stream::iter([Ok(Bytes::from(
            head,
        ))])));
        parts.push(span(seed, *r.start(), r.end() + 1));
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    len += tail.len() as u64;
    parts.push(Box::pin(futures_util::stream::iter([Ok(Bytes::from(
        tail,
    ))])));
    (Box::pin(futures_util::stream::iter(parts).flatten()), len)
}

pub async fn sha256(ctx: &Ctx, method: &Method, n: &str) -> Result<Response<ResBody>, RouteError> {
    allow(method, &[Method::GET], "GET")?;
    let n = parse_n(n)?;
    let seed = ctx.query.parse_opt::<u64>("content_seed")?.unwrap_or(0);
    let hex = tokio::task::spawn_blocking(move || {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0u64;
        while at < n {
            let k = (n - at).min(buf.len() as u64) as usize;
            fill(seed, at, &mut buf[..k]);
            h.update(&buf[..k]);
            at += k as u64;
        }
        format!("{:x}", h.finalize())
    })
    .await
    .map_err(|e| RouteError::Internal(e.to_string()))?;
    Ok(text(StatusCode::OK, hex))
}
