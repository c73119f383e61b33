//! A thin blocking HTTP/1.1 client for the tests (ureq, with automatic
//! decompression, redirects and status errors all off), so tests see the
//! exact status, headers, bytes and framing errors the edge produces.

use std::io::Read;
use std::time::{Duration, Instant};

/// One response, fully read.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body bytes read (all of them, or up to the error).
    pub body: Vec<u8>,
    /// Set when reading the body failed (e.g. an aborted chunked body).
    pub body_error: Option<String>,
}

impl Resp {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as UTF-8 (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The shared agent configuration.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .accept_encoding(ureq::config::AutoHeaderValue::None)
        .user_agent(ureq::config::AutoHeaderValue::Provided(
            std::sync::Arc::new("sluice-e2e".to_owned()),
        ))
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .new_agent()
}

fn head_of(resp: &ureq::http::Response<ureq::Body>) -> (u16, Vec<(String, String)>) {
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    (resp.status().as_u16(), headers)
}

/// Sends a request and reads the whole body, recording (not panicking on)
/// a body read error.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Resp {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (n, v) in headers {
        builder = builder.header(*n, *v);
    }
    let agent = agent();
    let result = match body {
        Some(b) => agent.run(builder.body(b.to_vec()).expect("request")),
        None => agent.run(builder.body(()).expect("request")),
    };
    let resp = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let (status, headers) = head_of(&resp);
    let mut reader = resp.into_body().into_reader();
    let mut body = Vec::new();
    let body_error = read_all(&mut reader, &mut body).err();
    Resp {
        status,
        headers,
        body,
        body_error,
    }
}

/// `GET url` with extra headers.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Resp {
    request("GET", url, headers, None)
}

fn read_all(reader: &mut impl Read, out: &mut Vec<u8>) -> Result<(), String> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// A response whose body is read incrementally, with the arrival time of
/// every read, for first-byte and pacing assertions.
pub struct Timed {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// When the request was sent.
    pub sent_at: Instant,
    reader: Box<dyn Read + Send>,
}

impl Timed {
    /// Sends `GET url` and returns once the head has arrived.
    pub fn get(url: &str, headers: &[(&str, &str)]) -> Timed {
        let mut builder = ureq::http::Request::builder().method("GET").uri(url);
        for (n, v) in headers {
            builder = builder.header(*n, *v);
        }
        let sent_at = Instant::now();
        let resp = agent()
            .run(builder.body(()).expect("request"))
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let (status, headers) = head_of(&resp);
        Timed {
            status,
            headers,
            sent_at,
            reader: Box::new(resp.into_body().into_reader()),
        }
    }

    /// Reads once; returns the bytes (empty at the end) and when they came.
    pub fn read_some(&mut self) -> std::io::Result<(Vec<u8>, Instant)> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = self.reader.read(&mut buf)?;
        buf.truncate(n);
        Ok((buf, Instant::now()))
    }

    /// The header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The underlying reader, for streaming checks.
    pub fn reader(&mut self) -> &mut (dyn Read + Send) {
        &mut *self.reader
    }
}

/// Decodes a complete body in `encoding` (`gzip`, `deflate`, `br`, or
/// none).
pub fn decode(encoding: Option<&str>, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match encoding {
        None | Some("identity") => out.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::MultiGzDecoder::new(body).read_to_end(&mut out)?;
        }
        Some("deflate") => {
            flate2::read::ZlibDecoder::new(body).read_to_end(&mut out)?;
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096).read_to_end(&mut out)?;
        }
        Some(other) => {
            return Err(std::io::Error::other(format!("unknown encoding {other}")));
        }
    }
    Ok(out)
}

/// Decodes as much of a *partial* compressed stream as is decodable, which
/// is what a client can show while the rest is still in flight.
pub fn decode_prefix(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let mut reader: Box<dyn Read + '_> = match encoding {
        Some("gzip") => Box::new(flate2::read::MultiGzDecoder::new(body)),
        Some("deflate") => Box::new(flate2::read::ZlibDecoder::new(body)),
        Some("br") => Box::new(brotli::Decompressor::new(body, 4096)),
        _ => return body.to_vec(),
    };
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}
