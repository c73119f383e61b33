//! Listening, accepting and serving connections.
//!
//! One tokio task per connection, hyper's HTTP/1.1 server with keep-alive,
//! `TCP_NODELAY` so every flush leaves at once, and a listen backlog big
//! enough for thousands of simultaneous connects. A connection a route marks
//! for reset is closed with SO_LINGER 0, i.e. an RST.

use crate::body::{ConnControl, FaultGate};
use crate::corpus::Corpus;
use crate::events::EventLog;
use crate::fail::LlmFail;
use crate::routes;
use crate::state::{AppState, LlmSettings};
use http::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// The provider key the mock LLM accepts unless `--llm-key` says otherwise.
pub const DEFAULT_LLM_KEY: &str = "sk-sluice-provider-demo";
/// Listen backlog; the kernel caps it at `net.core.somaxconn`.
const BACKLOG: u32 = 8192;

/// How to run an origin.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    addr: SocketAddr,
    corpus_dir: PathBuf,
    llm_key: String,
    llm_fail: Option<LlmFail>,
    llm_slow_headers: Duration,
    name: String,
}

impl ServerConfig {
    /// Defaults for everything but the address.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            corpus_dir: default_corpus_dir(),
            llm_key: DEFAULT_LLM_KEY.to_owned(),
            llm_fail: None,
            llm_slow_headers: Duration::from_secs(10),
            name: "sluice-origin".to_owned(),
        }
    }

    /// Where `pages/` and `pages.tsv` live.
    ///
    /// ### Default
    /// `$SLUICE_CORPUS_DIR`, else `<workspace>/../shared/corpus`.
    pub fn with_corpus_dir(mut self, dir: PathBuf) -> Self {
        self.corpus_dir = dir;
        self
    }

    /// The bearer key the mock LLM accepts.
    ///
    /// ### Default
    /// [`DEFAULT_LLM_KEY`].
    pub fn with_llm_key(mut self, key: impl Into<String>) -> Self {
        self.llm_key = key.into();
        self
    }

    /// Make every mock LLM request fail this way.
    ///
    /// ### Default
    /// None: requests succeed unless they ask to fail.
    pub fn with_llm_fail(mut self, fail: Option<LlmFail>) -> Self {
        self.llm_fail = fail;
        self
    }

    /// How long `slow-headers` waits before the response headers.
    ///
    /// ### Default
    /// 10 s.
    pub fn with_llm_slow_headers(mut self, d: Duration) -> Self {
        self.llm_slow_headers = d;
        self
    }

    /// The `x-mock-backend` value on every response, so a test can tell
    /// which of several origins answered.
    ///
    /// ### Default
    /// `sluice-origin`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The address to listen on (port 0 picks a free port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// `$SLUICE_CORPUS_DIR`, else `../shared/corpus` relative to the workspace
/// root as seen at compile time.
pub fn default_corpus_dir() -> PathBuf {
    match std::env::var_os("SLUICE_CORPUS_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/corpus"
        )),
    }
}

/// A bound, not yet serving origin: bind first, announce the address, then
/// serve, so a harness never races the listener.
pub struct Bound {
    listener: TcpListener,
    state: Arc<AppState>,
}

impl Bound {
    /// The address actually bound (resolves port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The event log this server records into.
    pub fn events(&self) -> Arc<EventLog> {
        self.state.events.clone()
    }

    /// Accepts and serves connections forever.
    pub async fn serve(self) {
        accept_loop(self.listener, self.state).await
    }
}

/// Binds the listener and loads the corpus.
pub async fn bind(config: ServerConfig) -> io::Result<Bound> {
    raise_fd_limit();
    let socket = if config.addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(config.addr)?;
    let listener = socket.listen(BACKLOG)?;
    let name = HeaderValue::from_str(&config.name).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "--name must be a valid header value",
        )
    })?;
    let corpus_dir = config.corpus_dir.clone();
    let corpus = tokio::task::spawn_blocking(move || Corpus::load(&corpus_dir))
        .await
        .map_err(io::Error::other)?;
    let state = Arc::new(AppState {
        corpus,
        events: Arc::new(EventLog::new()),
        llm: LlmSettings {
            key: config.llm_key,
            fail: config.llm_fail,
            slow_headers: config.llm_slow_headers,
        },
        name,
        faults: FaultGate::default(),
        sri: crate::content::security::SriResources::new(),
    });
    Ok(Bound { listener, state })
}

/// An origin serving in the background of the current runtime, for tests.
/// Dropping it stops accepting new connections.
pub struct RunningServer {
    addr: SocketAddr,
    events: Arc<EventLog>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The server's event log (the same data `GET /__events` returns).
    pub fn events(&self) -> &Arc<EventLog> {
        &self.events
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds and serves in a background task.
pub async fn start(config: ServerConfig) -> io::Result<RunningServer> {
    let bound = bind(config).await?;
    let addr = bound.local_addr()?;
    let events = bound.events();
    let task = tokio::spawn(bound.serve());
    Ok(RunningServer { addr, events, task })
}

async fn accept_loop(listener: TcpListener, state: Arc<AppState>) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                if let Err(e) = stream.set_nodelay(true) {
                    log::debug!("set_nodelay: {e}");
                }
                tokio::spawn(serve_connection(stream, state.clone()));
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning or dying.
                log::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<AppState>) {
    let ctl = ConnControl::default();
    let io = TokioIo::new(ResettableStream {
        inner: stream,
        ctl: ctl.clone(),
    });
    let service = service_fn(move |req| routes::handle(state.clone(), ctl.clone(), req));
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(true)
        // Test clients may hold idle keep-alive connections for long; a
        // header timeout would close them under the edge's connection pool.
        .header_read_timeout(None)
        .serve_connection(io, service)
        .await;
    if let Err(e) = result {
        log::debug!("connection ended: {e}");
    }
}

/// A TCP stream that is reset (SO_LINGER 0) instead of closed when a route
/// armed its [`ConnControl`].
struct ResettableStream {
    inner: TcpStream,
    ctl: ConnControl,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.ctl.reset_armed() {
            if let Err(e) = self.inner.set_zero_linger() {
                log::debug!("set_zero_linger: {e}");
            }
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Lifts the soft open-file limit to the hard limit: the load benchmark
/// holds thousands of sockets and the usual soft default is 1024.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    let target = match (lim.current, lim.maximum) {
        (Some(cur), Some(max)) if cur < max => max,
        // "Unlimited" hard limit: ask for plenty; the kernel caps it.
        (Some(cur), None) if cur < 1 << 20 => 1 << 20,
        _ => return,
    };
    lim.current = Some(target);
    if let Err(e) = setrlimit(Resource::Nofile, lim) {
        log::debug!("raising RLIMIT_NOFILE to {target} failed: {e}");
    }
}
