//! Test harness: an in-process origin on port 0 and a small hyper client.
#![allow(dead_code)]

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use sluice_origin::events::{Event, EventKind};
use sluice_origin::{RunningServer, ServerConfig};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Starts an origin with default settings.
pub async fn start() -> RunningServer {
    start_with(|c| c).await
}

/// Starts an origin with adjusted settings.
pub async fn start_with(f: impl FnOnce(ServerConfig) -> ServerConfig) -> RunningServer {
    let cfg = f(ServerConfig::new("127.0.0.1:0".parse().unwrap()));
    sluice_origin::server::start(cfg)
        .await
        .expect("origin starts")
}

pub fn corpus_dir() -> std::path::PathBuf {
    sluice_origin::server::default_corpus_dir()
}

pub fn corpus_page(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join("pages").join(name)).expect("corpus page readable")
}

/// Sends one request on a fresh connection and returns the streaming
/// response.
pub async fn send_req(
    addr: SocketAddr,
    req: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, hyper::Error> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await
}

pub fn build(
    method: Method,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(body.into())).unwrap()
}

/// A fully read response; `error` says whether the body ended badly.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub error: Option<String>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
}

/// Reads a body to the end, keeping what arrived before any error.
pub async fn read_all(resp: Response<Incoming>) -> Resp {
    let (parts, mut body) = resp.into_parts();
    let mut out = Vec::new();
    let mut error = None;
    while let Some(f) = body.frame().await {
        match f {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    out.extend_from_slice(&d);
                }
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: out,
        error,
    }
}

/// Reads a body recording when each frame arrived.
pub async fn read_timed(resp: Response<Incoming>) -> (Vec<(Instant, Bytes)>, Option<String>) {
    let mut body = resp.into_body();
    let mut frames = Vec::new();
    while let Some(f) = body.frame().await {
        match f {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    frames.push((Instant::now(), d));
                }
            }
            Err(e) => return (frames, Some(e.to_string())),
        }
    }
    (frames, None)
}

pub async fn request(
    method: Method,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    let resp = send_req(addr, build(method, addr, path, headers, body))
        .await
        .expect("response head");
    read_all(resp).await
}

pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    request(Method::GET, addr, path, &[], Bytes::new()).await
}

pub async fn get_h(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    request(Method::GET, addr, path, headers, Bytes::new()).await
}

/// Polls the server's event log until an event of `kind` on `path`
/// appears, or `within` passes.
pub async fn wait_event(
    server: &RunningServer,
    kind: EventKind,
    path: &str,
    within: Duration,
) -> Option<Event> {
    let deadline = Instant::now() + within;
    loop {
        let found = server
            .events()
            .snapshot(&Default::default())
            .into_iter()
            .find(|e| e.kind == kind && e.path == path);
        if found.is_some() || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(data))
}

pub fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

pub fn unzlib(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid zlib");
    out
}

pub fn inflate_raw(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid raw deflate");
    out
}

pub fn unbrotli(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    brotli::Decompressor::new(data, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

/// The bytes `/bytes` serves at `offset..offset+len`.
pub fn expected_bytes(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    sluice_origin::content::fill(seed, offset, &mut v);
    v
}

/// Splits an SSE body into events (blocks separated by a blank line).
pub fn sse_events(text: &str) -> Vec<Vec<(String, String)>> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|b| {
            b.lines()
                .filter_map(|l| {
                    l.split_once(": ")
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                })
                .collect()
        })
        .collect()
}
