//! Tools for multi-GB bodies: a raw HTTP/1.1 client that streams request
//! and response bodies through a hash without holding them, Viceroy's RSS
//! sampled from `/proc`, and the per-request heap figures it prints.
//!
//! The client speaks HTTP/1.1 over a plain `TcpStream` (not ureq) so a test
//! controls the framing exactly: it chooses `Content-Length` or chunked for
//! an upload, sees how the edge framed a response, can hang up after N
//! bytes, and gets a read timeout on every socket operation so a stalled
//! transfer fails instead of hanging the suite.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Socket read/write timeout: long enough for a loaded 2-core machine, short
/// enough that a wedged transfer fails the test.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// One mebibyte.
pub const MIB: u64 = 1 << 20;

/// Bytes `offset .. offset + len` of `/bytes` for `seed`, hashed in
/// process from the origin's own generator (never downloaded twice).
pub fn bytes_sha256(seed: u64, offset: u64, len: u64) -> String {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; MIB as usize];
    let mut at = 0u64;
    while at < len {
        let k = (len - at).min(MIB) as usize;
        sluice_origin::content::fill(seed, offset + at, &mut buf[..k]);
        h.update(&buf[..k]);
        at += k as u64;
    }
    hex(&h.finalize())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How a response body was framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: delimited by the connection closing.
    Close,
    /// No body by definition (HEAD, 1xx, 204, 304).
    None,
}

/// A response head read from a raw connection.
#[derive(Debug, Clone)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lower-case.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body framing the head announces for a response to `method`.
    pub fn framing(&self, method: &str) -> Framing {
        if method.eq_ignore_ascii_case("HEAD") || matches!(self.status, 100..=199 | 204 | 304) {
            return Framing::None;
        }
        if self
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            return Framing::Chunked;
        }
        match self.header("content-length").and_then(|v| v.parse().ok()) {
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    }
}

/// What a streamed download produced.
#[derive(Debug, Clone)]
pub struct Download {
    /// The response head.
    pub head: Head,
    /// How the body was framed.
    pub framing: Framing,
    /// Body bytes received.
    pub len: u64,
    /// SHA-256 of those bytes.
    pub sha256: String,
    /// Seconds from sending the request to the end of the body.
    pub secs: f64,
    /// Whether the body ended cleanly (length reached, chunked terminator).
    pub complete: bool,
}

impl Download {
    /// Body throughput in MiB/s.
    pub fn mib_per_s(&self) -> f64 {
        self.len as f64 / MIB as f64 / self.secs.max(1e-9)
    }
}

/// A raw HTTP/1.1 connection for one request.
pub struct Conn {
    reader: BufReader<TcpStream>,
    started: Instant,
}

impl Conn {
    /// Connects and sends a request head (`Host` and `Connection: close`
    /// are added). The caller sends any body with [`Conn::body_writer`].
    pub fn open(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<Conn> {
        Self::open_as(addr, &addr.to_string(), method, path, headers)
    }

    /// [`Conn::open`] with the `Host` the client claims (the edge's
    /// authority: what it rewrites origin URLs into).
    pub fn open_as(
        addr: SocketAddr,
        host: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let started = Instant::now();
        (&stream).write_all(head.as_bytes())?;
        Ok(Conn {
            reader: BufReader::with_capacity(256 * 1024, stream),
            started,
        })
    }

    /// A second handle on the socket for writing a request body while this
    /// one reads the response.
    pub fn body_writer(&self) -> io::Result<TcpStream> {
        self.reader.get_ref().try_clone()
    }

    /// Reads the response head.
    pub fn read_head(&mut self) -> io::Result<Head> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "eof in response head",
                ));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((n, v)) = l.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        Ok(Head { status, headers })
    }

    /// Reads the body as framed by `framing`, feeding every piece to `sink`,
    /// stopping early (`Ok(false)`) when `sink` returns `false`. Returns
    /// whether the body ended cleanly.
    pub fn read_body(
        &mut self,
        framing: Framing,
        mut sink: impl FnMut(&[u8]) -> bool,
    ) -> io::Result<bool> {
        let mut buf = vec![0u8; 256 * 1024];
        match framing {
            Framing::None => Ok(true),
            Framing::Length(n) => self.read_exactly(n, &mut buf, &mut sink),
            Framing::Close => loop {
                let k = self.reader.read(&mut buf)?;
                if k == 0 {
                    return Ok(true);
                }
                if !sink(&buf[..k]) {
                    return Ok(false);
                }
            },
            Framing::Chunked => {
                let mut line = String::new();
                loop {
                    line.clear();
                    if self.reader.read_line(&mut line)? == 0 {
                        return Ok(false);
                    }
                    let size_hex = line.trim_end().split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size_hex, 16).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("bad chunk size {line:?}"),
                        )
                    })?;
                    if size == 0 {
                        // Trailers, then the empty line.
                        loop {
                            line.clear();
                            if self.reader.read_line(&mut line)? == 0 {
                                return Ok(false);
                            }
                            if line.trim_end().is_empty() {
                                return Ok(true);
                            }
                        }
                    }
                    if !self.read_exactly(size, &mut buf, &mut sink)? {
                        return Ok(false);
                    }
                    let mut crlf = [0u8; 2];
                    self.reader.read_exact(&mut crlf)?;
                    if &crlf != b"\r\n" {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "chunk not followed by CRLF",
                        ));
                    }
                }
            }
        }
    }

    /// Feeds the next `n` body bytes to `sink` through `buf`; `Ok(false)`
    /// if the connection ends first or `sink` asks to stop.
    fn read_exactly(
        &mut self,
        n: u64,
        buf: &mut [u8],
        sink: &mut impl FnMut(&[u8]) -> bool,
    ) -> io::Result<bool> {
        let mut left = n;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let k = self.reader.read(&mut buf[..want])?;
            if k == 0 {
                return Ok(false);
            }
            left -= k as u64;
            if !sink(&buf[..k]) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Reads a whole small body into memory (for JSON answers and errors).
    pub fn read_small_body(&mut self, framing: Framing) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_body(framing, |b| {
            out.extend_from_slice(b);
            out.len() < 16 * MIB as usize
        })?;
        Ok(out)
    }

    /// Hangs up: both directions shut, socket dropped.
    pub fn hang_up(self) {
        let _ = self.reader.get_ref().shutdown(Shutdown::Both);
    }

    /// When the request head was sent.
    pub fn started(&self) -> Instant {
        self.started
    }
}

/// `GET`/`HEAD` `path`, hashing the body as it streams.
pub fn download(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> io::Result<Download> {
    let mut conn = Conn::open(addr, method, path, headers)?;
    let head = conn.read_head()?;
    let framing = head.framing(method);
    let mut h = Sha256::new();
    let mut len = 0u64;
    let complete = conn.read_body(framing, |b| {
        h.update(b);
        len += b.len() as u64;
        true
    })?;
    Ok(Download {
        secs: conn.started().elapsed().as_secs_f64(),
        head,
        framing,
        len,
        sha256: hex(&h.finalize()),
        complete,
    })
}

/// How an upload body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFraming {
    /// Send `Content-Length`.
    Length,
    /// Send `Transfer-Encoding: chunked`.
    Chunked,
}

/// The result of an upload.
#[derive(Debug)]
pub struct Upload {
    /// The response head, if one arrived.
    pub head: Option<Head>,
    /// The response body (small), if one arrived.
    pub body: Vec<u8>,
    /// Body bytes the client managed to write.
    pub sent: u64,
    /// SHA-256 of the whole intended body (`len` bytes).
    pub sha256: String,
    /// The write error, if the peer stopped reading.
    pub write_error: Option<String>,
    /// Seconds from the request head to the response end.
    pub secs: f64,
}

/// Uploads `len` bytes of `/bytes` content (`seed`) to `path` with
/// `method`, writing from a second thread while this one waits for the
/// response, so an early answer (413) is seen even while the body is still
/// being written. Chunked pieces are 64 KiB.
pub fn upload(
    addr: SocketAddr,
    method: &str,
    path: &str,
    seed: u64,
    len: u64,
    framing: UploadFraming,
) -> io::Result<Upload> {
    let length = len.to_string();
    let mut headers = vec![("content-type", "application/octet-stream")];
    match framing {
        UploadFraming::Length => headers.push(("content-length", length.as_str())),
        UploadFraming::Chunked => headers.push(("transfer-encoding", "chunked")),
    }
    let mut conn = Conn::open(addr, method, path, &headers)?;
    let mut w = conn.body_writer()?;
    let sent = Arc::new(AtomicU64::new(0));
    let sent_w = Arc::clone(&sent);
    let writer: JoinHandle<(String, Option<String>)> = std::thread::spawn(move || {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut at = 0u64;
        let mut error = None;
        while at < len {
            let k = (len - at).min(buf.len() as u64) as usize;
            sluice_origin::content::fill(seed, at, &mut buf[..k]);
            h.update(&buf[..k]);
            let r = match framing {
                UploadFraming::Length => w.write_all(&buf[..k]),
                UploadFraming::Chunked => w
                    .write_all(format!("{k:x}\r\n").as_bytes())
                    .and_then(|()| w.write_all(&buf[..k]))
                    .and_then(|()| w.write_all(b"\r\n")),
            };
            if let Err(e) = r {
                error = Some(e.to_string());
                // Hash the rest so the digest is always of the whole body.
                at += k as u64;
                while at < len {
                    let k = (len - at).min(buf.len() as u64) as usize;
                    sluice_origin::content::fill(seed, at, &mut buf[..k]);
                    h.update(&buf[..k]);
                    at += k as u64;
                }
                break;
            }
            at += k as u64;
            sent_w.store(at, Ordering::Relaxed);
        }
        if error.is_none() && framing == UploadFraming::Chunked {
            if let Err(e) = w.write_all(b"0\r\n\r\n") {
                error = Some(e.to_string());
            }
        }
        (hex(&h.finalize()), error)
    });
    let answer = conn.read_head().and_then(|head| {
        let body = conn.read_small_body(head.framing(method))?;
        Ok((head, body))
    });
    let secs = conn.started().elapsed().as_secs_f64();
    // An early answer: stop the writer by closing the socket under it.
    conn.hang_up();
    let (sha256, write_error) = writer
        .join()
        .map_err(|_| io::Error::other("upload writer panicked"))?;
    let (head, body) = match answer {
        Ok((h, b)) => (Some(h), b),
        Err(_) => (None, Vec::new()),
    };
    Ok(Upload {
        head,
        body,
        sent: sent.load(Ordering::Relaxed),
        sha256,
        write_error,
        secs,
    })
}

/// The pid of the program a harness watchdog (`sh`, pid `watchdog`) runs:
/// its child whose command name is `name`.
pub fn child_named(watchdog: u32, name: &str) -> Option<u32> {
    let children =
        std::fs::read_to_string(format!("/proc/{watchdog}/task/{watchdog}/children")).ok()?;
    children
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == name)
        })
}

/// `VmRSS` of `pid` in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Samples a process's RSS every 20 ms on a thread until stopped, keeping
/// the peak.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    /// RSS when sampling started.
    pub baseline: u64,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> RssSampler {
        let baseline = rss_bytes(pid).unwrap_or(0);
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(baseline));
        let (s, p) = (Arc::clone(&stop), Arc::clone(&peak));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(r) = rss_bytes(pid) {
                    p.fetch_max(r, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssSampler {
            stop,
            peak,
            thread: Some(thread),
            baseline,
        }
    }

    /// The peak so far.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Peak growth over the baseline, in MiB.
    pub fn growth_mib(&self) -> f64 {
        self.peak().saturating_sub(self.baseline) as f64 / MIB as f64
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The per-request heap figures Viceroy prints with `-v`
/// ("request completed using N MiB of WebAssembly heap"), in order.
pub fn heap_mib_lines(lines: &[String]) -> Vec<f64> {
    const MARK: &str = "request completed using ";
    lines
        .iter()
        .filter_map(|l| {
            let at = l.find(MARK)?;
            l[at + MARK.len()..].split_whitespace().next()?.parse().ok()
        })
        .collect()
}
