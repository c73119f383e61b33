//! Harness for sluice's end-to-end tests.
//!
//! Every test starts its own `sluice-origin` and `viceroy serve` on free
//! loopback ports with a generated Viceroy config (never the checked-in
//! `fastly.toml`), talks real HTTP to them, and stops both when the
//! [`Stack`] is dropped, even when the test fails. Each child also runs
//! under a tiny shell watchdog that kills it when the test process's pipe
//! closes, so a killed test run leaves no orphans.
//!
//! Binaries are found at (overridable by environment):
//! - `SLUICE_ORIGIN_BIN`: `target/release/sluice-origin`
//! - `SLUICE_WASM`: `target/wasm32-wasip1/release/sluice.wasm`
//! - `VICEROY`: `viceroy` on `PATH`
//!
//! `scripts/test` builds them before running the tests.
#![forbid(unsafe_code)]
// Test harness: a failed unwrap or expect fails the calling test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod bigbody;
pub mod http;
pub mod scan;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The page corpus directory.
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("SLUICE_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/corpus"))
}

/// One page as the corpus's `pages.tsv` lists it.
#[derive(Debug, Clone)]
pub struct ListedPage {
    /// File name under `pages/`.
    pub name: String,
    /// Size in bytes, as listed.
    pub size: u64,
    /// The page's origin host (`None` where the list says `-`).
    pub host: Option<String>,
}

impl ListedPage {
    /// The page's bytes.
    pub fn read(&self) -> Vec<u8> {
        let path = corpus_dir().join("pages").join(&self.name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// Every page `pages.tsv` lists, in its order (comments and blank lines
/// skipped). Panics on a missing or malformed list: the corpus is part of
/// the test fixture.
pub fn corpus_listing() -> Vec<ListedPage> {
    let path = corpus_dir().join("pages.tsv");
    let tsv = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("corpus list {}: {e}", path.display()));
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let (Some(name), Some(size), Some(host)) = (cols.first(), cols.get(1), cols.get(2))
            else {
                panic!("malformed pages.tsv line {l:?}");
            };
            ListedPage {
                name: (*name).to_owned(),
                size: size
                    .parse()
                    .unwrap_or_else(|_| panic!("bad size in pages.tsv line {l:?}")),
                host: (*host != "-").then(|| (*host).to_owned()),
            }
        })
        .collect()
}

fn bin(env: &str, default: PathBuf) -> PathBuf {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or(default);
    assert!(
        path.exists() || env == "VICEROY",
        "{} not found at {}: run scripts/test (it builds the binaries first)",
        env,
        path.display()
    );
    path
}

/// A child process under a watchdog, with its stdout lines collected.
pub struct Proc {
    child: Child,
    /// Held open; closing it makes the watchdog kill the process.
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<String>>>,
    name: &'static str,
}

impl Proc {
    fn spawn(name: &'static str, program: &std::path::Path, args: &[String]) -> Proc {
        // The watchdog: run the program in the background with stdin closed,
        // and kill it as soon as our end of the pipe closes.
        // (A background job's stdin is /dev/null unless redirected, hence fd 3.)
        let script = r#"exec 3<&0; prog="$1"; shift; "$prog" "$@" </dev/null & pid=$!; (cat <&3 >/dev/null; kill -9 $pid 2>/dev/null) & wait $pid"#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {name} ({}): {e}", program.display()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if std::env::var_os("SLUICE_E2E_VERBOSE").is_some() {
                        eprintln!("[{name}] {line}");
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let stdin = child.stdin.take();
        Proc {
            child,
            stdin,
            lines,
            name,
        }
    }

    /// The watchdog shell's pid; the program is its child (see
    /// [`bigbody::child_named`]).
    pub fn watchdog_pid(&self) -> u32 {
        self.child.id()
    }

    /// All output lines so far (stdout and stderr interleaved).
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until a line satisfies `pred`, returning it.
    pub fn wait_for_line(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the process now.
    pub fn stop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("{} did not stop within 5 s; killed", self.name);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running `sluice-origin`.
pub struct Origin {
    /// Its process.
    pub proc: Proc,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Origin {
    /// Starts an origin on a free port with extra CLI arguments.
    pub fn start(extra: &[&str]) -> Origin {
        Self::start_on("127.0.0.1:0", extra)
    }

    /// Starts an origin on a given address (used to restart one in place).
    pub fn start_on(addr: &str, extra: &[&str]) -> Origin {
        let program = bin(
            "SLUICE_ORIGIN_BIN",
            workspace().join("target/release/sluice-origin"),
        );
        let mut args = vec!["--addr".to_owned(), addr.to_owned()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let proc = Proc::spawn("origin", &program, &args);
        let line = proc
            .wait_for_line(Duration::from_secs(20), |l| {
                l.starts_with("listening on http://")
            })
            .unwrap_or_else(|| panic!("origin did not start: {:?}", proc.lines()));
        let addr = line
            .trim_start_matches("listening on http://")
            .trim()
            .parse()
            .expect("origin printed a bad address");
        Origin { proc, addr }
    }

    /// `http://addr` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The origin's recorded events (`GET /__events`).
    pub fn events(&self) -> Vec<serde_json::Value> {
        let resp = http::get(&self.url("/__events"), &[]);
        serde_json::from_slice::<Vec<serde_json::Value>>(&resp.body).expect("events JSON")
    }
}

/// Settings for one Viceroy instance.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// Backends, in order.
    pub backends: Vec<Backend>,
    /// Config Store `sluice` entries.
    pub config: Vec<(String, String)>,
    /// Secret Store `sluice_secrets` entries.
    pub secrets: Vec<(String, String)>,
}

/// One Viceroy backend.
#[derive(Clone, Debug)]
pub struct Backend {
    /// Its name (what the service sends to).
    pub name: String,
    /// `http://host:port`.
    pub url: String,
    /// The `Host` the backend receives.
    pub override_host: Option<String>,
    /// `(key, milliseconds)` timeout settings.
    pub timeouts: Vec<(String, u64)>,
}

impl Backend {
    /// A backend with no timeout overrides.
    pub fn new(name: &str, url: &str, override_host: Option<&str>) -> Backend {
        Backend {
            name: name.into(),
            url: url.into(),
            override_host: override_host.map(Into::into),
            timeouts: Vec::new(),
        }
    }
}

/// The synthetic ID key the default test config uses.
pub const TEST_SID_KEY: &str = "test-synthetic-id-key-0123456789";
/// The provider key the default test config uses.
pub const TEST_LLM_KEY: &str = "sk-sluice-provider-demo";

impl EdgeConfig {
    /// Backends `origin` and `llm` on `origin`, rewrite host
    /// `origin.example`, and test secrets.
    pub fn for_origin(origin: &Origin) -> Self {
        let url = format!("http://{}", origin.addr);
        Self {
            backends: vec![
                Backend::new("origin", &url, Some("origin.example")),
                Backend::new("llm", &url, Some("llm.example")),
            ],
            config: vec![
                ("publisher.rewrite_hosts".into(), "origin.example".into()),
                ("log.level".into(), "info".into()),
                // Viceroy's vCPU clock counts the wall time of the guest's
                // polls, so on a loaded machine even a small page can read
                // 40 ms: tests that check a full rewrite would see the
                // budget's switch instead. tests/cpu_budget.rs sets it.
                ("publisher.cpu_budget_ms".into(), "0".into()),
            ],
            secrets: vec![
                ("synthetic_id_key".into(), TEST_SID_KEY.into()),
                ("llm_api_key".into(), TEST_LLM_KEY.into()),
            ],
        }
    }

    /// Sets (or replaces) one Config Store entry.
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.config.retain(|(k, _)| k != key);
        self.config.push((key.into(), value.into()));
        self
    }

    /// Removes one Config Store entry.
    pub fn unset(mut self, key: &str) -> Self {
        self.config.retain(|(k, _)| k != key);
        self
    }

    /// Sets (or replaces) one secret.
    pub fn secret(mut self, key: &str, value: &str) -> Self {
        self.secrets.retain(|(k, _)| k != key);
        self.secrets.push((key.into(), value.into()));
        self
    }

    /// Removes one secret (a service that has not provisioned it).
    pub fn unset_secret(mut self, key: &str) -> Self {
        self.secrets.retain(|(k, _)| k != key);
        self
    }

    /// Adds or replaces a backend.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backends.retain(|b| b.name != backend.name);
        self.backends.push(backend);
        self
    }

    /// Sets a timeout (`first_byte_timeout_ms`, `between_bytes_timeout_ms`,
    /// `connect_timeout_ms`) on a backend.
    pub fn backend_timeout(mut self, name: &str, key: &str, ms: u64) -> Self {
        if let Some(b) = self.backends.iter_mut().find(|b| b.name == name) {
            b.timeouts.retain(|(k, _)| k != key);
            b.timeouts.push((key.to_owned(), ms));
        }
        self
    }

    fn to_toml(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let mut t = String::from(
            "manifest_version = 3\nname = \"sluice-e2e\"\nlanguage = \"rust\"\n\n[local_server]\n",
        );
        for b in &self.backends {
            t += &format!(
                "[local_server.backends.{}]\nurl = {}\n",
                q(&b.name),
                q(&b.url)
            );
            if let Some(h) = &b.override_host {
                t += &format!("override_host = {}\n", q(h));
            }
            for (k, ms) in &b.timeouts {
                t += &format!("{k} = {ms}\n");
            }
        }
        t += "[local_server.config_stores.sluice]\nformat = \"inline-toml\"\n";
        t += "[local_server.config_stores.sluice.contents]\n";
        for (k, v) in &self.config {
            t += &format!("{} = {}\n", q(k), q(v));
        }
        for (k, v) in &self.secrets {
            t += &format!(
                "[[local_server.secret_stores.sluice_secrets]]\nkey = {}\ndata = {}\n",
                q(k),
                q(v)
            );
        }
        t
    }
}

/// A running `viceroy serve` with sluice.wasm.
pub struct Edge {
    /// Its process; `lines()` has Viceroy's and the service's log lines.
    pub proc: Proc,
    /// Where it listens.
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Edge {
    /// Starts Viceroy on a free port with `config` and the wasm that
    /// `SLUICE_WASM` names.
    pub fn start(config: &EdgeConfig) -> Edge {
        Self::start_wasm(config, &default_wasm())
    }

    /// Starts Viceroy on a free port with `config` and the given wasm: the
    /// benchmarks run two builds side by side in one process to compare
    /// them under the same machine noise.
    pub fn start_wasm(config: &EdgeConfig, wasm: &Path) -> Edge {
        assert!(wasm.exists(), "no wasm at {}", wasm.display());
        let dir = TempDir::new("edge");
        let cfg_path = dir.path.join("fastly.toml");
        std::fs::write(&cfg_path, config.to_toml()).expect("write config");
        let viceroy = std::env::var_os("VICEROY")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("viceroy"));
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let args = vec![
            "serve".to_owned(),
            "-v".to_owned(),
            "-C".to_owned(),
            cfg_path.display().to_string(),
            "--addr".to_owned(),
            addr.to_string(),
            wasm.display().to_string(),
        ];
        // One Viceroy compiles its module at a time: a dozen parallel tests
        // each compiling the wasm at once on two cores starve each other
        // past any sane deadline, while one at a time takes seconds each.
        static STARTING: Mutex<()> = Mutex::new(());
        let _one_at_a_time = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let proc = Proc::spawn("viceroy", &viceroy, &args);
        let deadline = Instant::now() + Duration::from_secs(120);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "viceroy did not start: {:?}",
                proc.lines()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Edge {
            proc,
            addr,
            _dir: dir,
        }
    }

    /// `http://addr` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The service's access-log records (JSON), in order.
    pub fn access_records(&self) -> Vec<serde_json::Value> {
        self.proc
            .lines()
            .iter()
            .filter_map(|l| {
                let start = l.find("{\"mode\"")?;
                serde_json::from_str(&l[start..]).ok()
            })
            .collect()
    }

    /// The `viceroy` process's pid (for RSS sampling), once it runs.
    pub fn viceroy_pid(&self) -> Option<u32> {
        bigbody::child_named(self.proc.watchdog_pid(), "viceroy")
    }

    /// The per-request WebAssembly heap (MiB) Viceroy reported so far, one
    /// entry per completed request.
    pub fn heap_mib(&self) -> Vec<f64> {
        bigbody::heap_mib_lines(&self.proc.lines())
    }

    /// Waits for `n` access records.
    pub fn wait_access_records(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.access_records();
            if r.len() >= n || Instant::now() > deadline {
                return r;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// An origin plus an edge in front of it.
pub struct Stack {
    /// The edge (dropped first).
    pub edge: Edge,
    /// The origin.
    pub origin: Origin,
}

impl Stack {
    /// Origin + edge with the default test config.
    pub fn start() -> Stack {
        Self::start_with(|c| c)
    }

    /// Origin + edge with an adjusted config.
    pub fn start_with(adjust: impl FnOnce(EdgeConfig) -> EdgeConfig) -> Stack {
        let origin = Origin::start(&[]);
        let edge = Edge::start(&adjust(EdgeConfig::for_origin(&origin)));
        Stack { edge, origin }
    }
}

/// The service wasm every [`Edge::start`] runs: `SLUICE_WASM`, else the
/// release build.
pub fn default_wasm() -> PathBuf {
    bin(
        "SLUICE_WASM",
        workspace().join("target/wasm32-wasip1/release/sluice.wasm"),
    )
}

/// A free loopback port (bound and released; the tiny race is acceptable
/// for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A temporary directory removed on drop.
pub struct TempDir {
    /// Its path.
    pub path: PathBuf,
}

impl TempDir {
    /// Creates a fresh directory under the system temp dir.
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("sluice-{prefix}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
