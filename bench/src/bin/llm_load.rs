//! AI gateway load benchmark: concurrent streaming chat completions
//! through Viceroy against the mock LLM in sluice-origin.
//!
//! For every level (default 100, 500, 1,000 and 2,000 concurrent streams)
//! the same load runs, in the same process and back to back, against three
//! targets so machine noise hits them alike:
//!
//! - `direct`: the mock itself, no edge (what the mock and the client cost);
//! - `floor`: sluice's `/__relay/v1/chat/completions` (`ai.relay_floor`),
//!   the same authenticated, validated request with the upstream body
//!   copied unparsed: the floor any relay through Viceroy pays;
//! - `gateway`: `/v1/chat/completions`, parsed and relayed event by event.
//!
//! Each edge target gets a fresh Viceroy per run, so its resident memory
//! starts from the same idle point; one warm-up stream runs before the idle
//! RSS is taken. Peak RSS is sampled from `/proc/<pid>/status` every 10 ms;
//! memory per stream is (peak − idle) / streams. Every level runs `--rounds`
//! times (default 10) with the order of floor and gateway alternating, and
//! the percentiles are over all rounds' streams. Small levels run more
//! rounds, so every level pools at least `--min-samples` streams (default
//! 1,000) per target: with 300, a p99 is the third-worst stream and one
//! scheduling hiccup moved the 100-stream ratio from 1.0 to 1.5. With 3
//! rounds, single rounds' ratios ranged from 0.71 to 2.08 and one bad round
//! decided the pooled p99 (3 of 16 levels missed in four runs), while the
//! guest code of the gateway was under 1% of the machine's CPU in a `perf`
//! profile: the spread is the shared machine, so the default pooled 6
//! rounds. Over the four 6-round runs after the relay's last change the
//! pooled ratio averaged 1.01 with a spread (sd) of about 0.12 across
//! levels and runs, so one level in 16 still crossed 1.25 (1.31); a pooled
//! p99's spread falls with the square root of the rounds, and the default
//! is now 10. The `direct` baseline (no Viceroy, steady) runs only in the
//! first `--direct-rounds` (default 3).
//!
//! All streams come from one tokio thread, one HTTP/1.1 connection each (a
//! few KiB per stream), so 2,000 streams cost the client almost nothing. At
//! most `--pending` (default 10) streams wait for their first event at any
//! time: Viceroy listens with a fixed backlog of 128, so opening thousands
//! at once overflows its accept queue, and even 100 at once made TTFE the
//! position in Viceroy's setup queue rather than the service's latency
//! (see [`Load::pending`]). All `N` streams are still open together: the
//! `peak open` column shows it.
//!
//! Defaults: 40 content events, one every 200 ms (8 s per stream). Opening
//! 2,000 streams through Viceroy takes about 5 s on a loaded 2-core
//! machine, so shorter streams would end before the last ones open and the
//! memory per stream would be understated; the `peak open` column shows how
//! many were open at once. A stream succeeds when it answers 200 and its
//! body ends with `data: [DONE]`. Time to first event runs from the connect
//! to the first body bytes; total time to the end of the body. Loopback
//! only; bounded by the levels given and a per-stream timeout.
//!
//! ```sh
//! cargo run --release -p sluice-bench --bin llm_load -- [--levels 100,500,1000,2000] \
//!     [--events 40] [--delay-ms 200] [--rounds 10] [--direct-rounds 3] [--min-samples 1000] \
//!     [--pending 10] [--timeout-s 60]
//! ```
//!
//! The relay floor is a benchmark-only route: build its wasm first with
//! `scripts/build-bench`. Binaries come from `SLUICE_WASM` (default
//! `target/wasm32-wasip1/release/sluice-bench-routes.wasm`) and
//! `SLUICE_ORIGIN_BIN` (see the sluice-e2e harness). The whole default run
//! takes about 16 minutes.
//!
//! With `--baseline-wasm PATH` (or `SLUICE_BASELINE_WASM`) the same run
//! also drives a second build, for example the previous commit's from
//! `scripts/build-baseline REV` (its `-bench-routes` wasm where it has
//! one): floor and gateway of both builds run in every round, the order
//! of the four reversed every other round, and a last table gives each
//! level's TTFE new / baseline. TTFE is wall time on a shared machine, so
//! a difference means something only beside the spread of an A/A run (the
//! same wasm on both sides). Four edge targets take twice as long as two:
//! pass fewer `--levels` for a comparison.
#![forbid(unsafe_code)]
// Benchmark code: a failed unwrap or expect stops the run, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use sluice_bench::{heap_mib_lines, percentile};
use sluice_e2e::{Edge, EdgeConfig, Origin, TEST_LLM_KEY};

const CLIENT_KEY: &str = "sk-bench-client";
const DONE: &[u8] = b"data: [DONE]\n\n";

struct Args {
    levels: Vec<usize>,
    events: u32,
    delay_ms: u64,
    timeout: Duration,
    pending: usize,
    rounds: usize,
    direct_rounds: usize,
    min_samples: usize,
    /// The build to compare against, if any.
    baseline_wasm: Option<PathBuf>,
}

impl Args {
    /// Rounds at `level`: at least `rounds`, and enough for `min_samples`
    /// streams per target.
    fn rounds_at(&self, level: usize) -> usize {
        self.rounds.max(self.min_samples.div_ceil(level.max(1)))
    }
}

impl Args {
    fn parse() -> Args {
        let mut args = Args {
            levels: vec![100, 500, 1000, 2000],
            events: 40,
            delay_ms: 200,
            timeout: Duration::from_secs(60),
            pending: 10,
            rounds: 10,
            direct_rounds: 3,
            min_samples: 1000,
            baseline_wasm: std::env::var_os("SLUICE_BASELINE_WASM").map(PathBuf::from),
        };
        let argv: Vec<String> = std::env::args().skip(1).collect();
        for pair in argv.chunks(2) {
            let value = pair.get(1).map(String::as_str).unwrap_or_default();
            let bad = || -> ! { panic!("bad value {value:?} for {}", pair[0]) };
            match pair[0].as_str() {
                "--levels" => {
                    args.levels = value
                        .split(',')
                        .map(|l| l.trim().parse().unwrap_or_else(|_| bad()))
                        .collect()
                }
                "--events" => args.events = value.parse().unwrap_or_else(|_| bad()),
                "--delay-ms" => args.delay_ms = value.parse().unwrap_or_else(|_| bad()),
                "--pending" => args.pending = value.parse().unwrap_or_else(|_| bad()),
                "--rounds" => args.rounds = value.parse().unwrap_or_else(|_| bad()),
                "--direct-rounds" => {
                    args.direct_rounds = value.parse().unwrap_or_else(|_| bad());
                }
                "--min-samples" => args.min_samples = value.parse().unwrap_or_else(|_| bad()),
                "--baseline-wasm" => args.baseline_wasm = Some(PathBuf::from(value)),
                "--timeout-s" => {
                    args.timeout = Duration::from_secs(value.parse().unwrap_or_else(|_| bad()))
                }
                other => panic!(
                    "unknown argument {other}; usage: llm_load [--levels 100,500] [--events N] [--delay-ms MS] [--pending N] [--rounds N] [--direct-rounds N] [--min-samples N] [--timeout-s S] [--baseline-wasm PATH]"
                ),
            }
        }
        args
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Direct,
    Floor,
    Gateway,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Direct => "direct (mock)",
            Route::Floor => "floor (/__relay)",
            Route::Gateway => "gateway",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Route::Direct | Route::Gateway => "/v1/chat/completions",
            Route::Floor => "/__relay/v1/chat/completions",
        }
    }

    /// The key this target accepts: the mock wants the provider key, the
    /// edge a client key.
    fn key(self) -> &'static str {
        match self {
            Route::Direct => TEST_LLM_KEY,
            Route::Floor | Route::Gateway => CLIENT_KEY,
        }
    }
}

/// Which wasm an edge target runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Build {
    /// `SLUICE_WASM`: the build under test.
    New,
    /// `--baseline-wasm`.
    Baseline,
}

/// What one run measures: a route, through one build's edge.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Target {
    route: Route,
    build: Build,
}

impl Target {
    /// The mock without an edge (its build is irrelevant).
    const DIRECT: Target = Target {
        route: Route::Direct,
        build: Build::New,
    };

    fn name(self) -> String {
        match (self.route, self.build) {
            (Route::Direct, _) | (_, Build::New) => self.route.name().to_owned(),
            (route, Build::Baseline) => format!("{} baseline", route.name()),
        }
    }
}

/// The wasm files behind [`Build`].
struct Wasms {
    new: PathBuf,
    baseline: Option<PathBuf>,
}

impl Wasms {
    fn of(&self, build: Build) -> &Path {
        match (build, &self.baseline) {
            (Build::Baseline, Some(b)) => b,
            _ => &self.new,
        }
    }

    /// The builds a run measures, baseline first.
    fn builds(&self) -> Vec<Build> {
        match self.baseline {
            Some(_) => vec![Build::Baseline, Build::New],
            None => vec![Build::New],
        }
    }
}

/// One stream's outcome.
struct Stream {
    ok: bool,
    ttfe_ms: Option<f64>,
    first_at: Option<Instant>,
    total_ms: f64,
    error: Option<String>,
}

/// What the client side shares across a run's streams.
struct Load {
    addr: SocketAddr,
    route: Route,
    body: Bytes,
    events: String,
    delay_ms: String,
    timeout: Duration,
    /// Streams between connect and first event. Viceroy listens with a
    /// backlog of 128 and has no flag to change it, so thousands of
    /// simultaneous connects overflow its accept queue and the kernel's
    /// SYN retransmits (1 s, 3 s, 7 s) would swamp the tail latency with
    /// noise that says nothing about the service. Below the backlog the
    /// cap still matters: Viceroy sets up a request in about 2.5 ms of
    /// wall time on this 2-core machine, so with 100 waiting, TTFE was
    /// ~100 ms for every edge target and its p99 was queue position
    /// (gateway/floor ratios swung 0.7-2.6 between rounds); with 10 it
    /// is the setup and first-event relay under the load of the streams
    /// already open.
    pending: tokio::sync::Semaphore,
    open: AtomicUsize,
    peak_open: AtomicUsize,
}

/// One run of one target at one level.
struct Run {
    streams: Vec<Stream>,
    peak_open: usize,
    /// Viceroy's idle and peak RSS in KiB (edge targets only).
    rss: Option<(u64, u64)>,
    heap_mib_max: Option<f64>,
    /// System-wide `ListenOverflows` during the run (other processes on
    /// the machine count too).
    listen_overflows: u64,
    /// From the first connect until every stream was open.
    ramp_ms: f64,
    /// The guest's vCPU ms per stream from the access lines (edge only):
    /// the gateway's own cost, free of the machine's scheduling noise.
    vcpu_ms: Vec<f64>,
}

impl Run {
    fn kib_per_stream(&self) -> Option<f64> {
        self.rss
            .map(|(idle, peak)| peak.saturating_sub(idle) as f64 / self.streams.len() as f64)
    }
}

/// One row of the results: every round of a target at a level.
struct Row {
    level: usize,
    target: Target,
    streams: usize,
    ok: usize,
    ttfe_p50: f64,
    ttfe_p99: f64,
    total_p50: f64,
    total_p99: f64,
    /// The lowest peak of concurrently open streams over the rounds.
    peak_open: usize,
    /// Median over the rounds.
    rss_peak_mib: Option<f64>,
    kib_per_stream: Option<f64>,
    heap_mib_max: Option<f64>,
    ramp_ms: f64,
    listen_overflows: u64,
    /// Mean guest vCPU ms per stream.
    vcpu_ms: Option<f64>,
    /// TTFE p99 of each round, in round order.
    round_ttfe_p99: Vec<f64>,
    errors: Vec<String>,
}

/// The wasm with the benchmark routes (`scripts/build-bench`).
const BENCH_WASM: &str = "target/wasm32-wasip1/release/sluice-bench-routes.wasm";

fn main() {
    let args = Args::parse();
    let wasms = Wasms {
        new: std::env::var_os("SLUICE_WASM")
            .map_or_else(|| sluice_e2e::workspace().join(BENCH_WASM), PathBuf::from),
        baseline: args.baseline_wasm.clone(),
    };
    for build in wasms.builds() {
        let wasm = wasms.of(build);
        assert!(
            wasm.exists(),
            "{} is missing: run scripts/build-bench (or scripts/build-baseline)",
            wasm.display()
        );
        let name = match build {
            Build::New => "new",
            Build::Baseline => "baseline",
        };
        eprintln!("llm_load: {name} wasm {}", wasm.display());
    }
    raise_fd_limit(args.levels.iter().copied().max().unwrap_or(0));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let origin = Origin::start(&[]);
    let digest: String = Sha256::digest(CLIENT_KEY.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let config = EdgeConfig::for_origin(&origin)
        .secret("client_key_sha256", &digest)
        .set("ai.relay_floor", "true");
    let body = Bytes::from_static(
        br#"{"model":"mock-gpt","stream":true,"messages":[{"role":"user","content":"benchmark stream please"}]}"#,
    );
    eprintln!(
        "llm_load: levels {:?}, {} events every {} ms, {} round(s) (direct in {}; at least {} streams per level), at most {} pending, timeout {:?}",
        args.levels, args.events, args.delay_ms, args.rounds, args.direct_rounds, args.min_samples, args.pending, args.timeout
    );
    let edge_targets: Vec<Target> = wasms
        .builds()
        .into_iter()
        .flat_map(|build| [Route::Floor, Route::Gateway].map(|route| Target { route, build }))
        .collect();
    let started = Instant::now();
    let mut rows = Vec::new();
    for &level in &args.levels {
        let mut runs: Vec<(Target, Run)> = Vec::new();
        for round in 0..args.rounds_at(level) {
            // Reverse the edge targets' order every other round, so a
            // drift in the machine's load does not always favour the same
            // one (every target's mean position is the same).
            let mut order = edge_targets.clone();
            if round % 2 == 1 {
                order.reverse();
            }
            if round < args.direct_rounds {
                order.insert(0, Target::DIRECT);
            }
            for target in order {
                let run = run_once(&rt, &args, &wasms, &origin, &config, &body, target, level);
                let errors: Vec<&String> = run
                    .streams
                    .iter()
                    .filter_map(|s| s.error.as_ref())
                    .collect();
                let mut ttfe: Vec<f64> = run.streams.iter().filter_map(|s| s.ttfe_ms).collect();
                eprintln!(
                    "  {level:>5} r{round} {:<17} ok {}/{level}, ttfe p50 {:.0} p99 {:.0} ms, peak open {}, ramp {:.0} ms, {} ({:.0} s elapsed)",
                    target.name(),
                    run.streams.iter().filter(|s| s.ok).count(),
                    percentile(&mut ttfe, 50.0),
                    percentile(&mut ttfe, 99.0),
                    run.peak_open,
                    run.ramp_ms,
                    run.kib_per_stream()
                        .map_or("-".to_owned(), |k| format!("{k:.1} KiB/stream")),
                    started.elapsed().as_secs_f64()
                );
                for e in errors.iter().take(3) {
                    eprintln!("      error: {e}");
                }
                runs.push((target, run));
            }
        }
        for &target in std::iter::once(&Target::DIRECT).chain(&edge_targets) {
            let of: Vec<&Run> = runs
                .iter()
                .filter(|(t, _)| *t == target)
                .map(|(_, r)| r)
                .collect();
            rows.push(summarise(level, target, &of));
        }
    }
    print_report(&args, &wasms, &rows);
    eprintln!("llm_load: done in {:.0} s", started.elapsed().as_secs_f64());
}

#[allow(clippy::too_many_arguments)]
fn run_once(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    wasms: &Wasms,
    origin: &Origin,
    config: &EdgeConfig,
    body: &Bytes,
    target: Target,
    level: usize,
) -> Run {
    // A fresh Viceroy per run: every run starts from the same idle RSS.
    let edge =
        (target.route != Route::Direct).then(|| Edge::start_wasm(config, wasms.of(target.build)));
    let addr = edge.as_ref().map_or(origin.addr, |e| e.addr);
    let load = |events: u32| {
        Arc::new(Load {
            addr,
            route: target.route,
            body: body.clone(),
            events: events.to_string(),
            delay_ms: args.delay_ms.to_string(),
            timeout: args.timeout,
            pending: tokio::sync::Semaphore::new(if args.pending == 0 {
                tokio::sync::Semaphore::MAX_PERMITS
            } else {
                args.pending
            }),
            open: AtomicUsize::new(0),
            peak_open: AtomicUsize::new(0),
        })
    };
    // Warm-up: the first request pays one-time costs in Viceroy.
    let warm = rt.block_on(one_stream(load(1)));
    assert!(
        warm.ok,
        "{} warm-up failed: {:?}",
        target.name(),
        warm.error
    );
    let sampler = edge.as_ref().map(|e| {
        std::thread::sleep(Duration::from_millis(300));
        RssSampler::start(viceroy_pid(e))
    });
    let heap_before = edge
        .as_ref()
        .map_or(0, |e| heap_mib_lines(&e.proc.lines()).len());
    let records_before = edge.as_ref().map_or(0, |e| e.access_records().len());
    let overflows_before = listen_overflows();
    let load = load(args.events);
    let (streams, ramp_ms) = rt.block_on(run_level(Arc::clone(&load), level));
    let rss = sampler.map(RssSampler::stop);
    let listen_overflows = listen_overflows().saturating_sub(overflows_before);
    let heap_mib_max = edge.as_ref().map(|e| {
        // Viceroy prints the heap line as each request completes.
        std::thread::sleep(Duration::from_millis(200));
        heap_mib_lines(&e.proc.lines())[heap_before..]
            .iter()
            .copied()
            .fold(0.0, f64::max)
    });
    let vcpu_ms = edge.as_ref().map_or(Vec::new(), |e| {
        e.wait_access_records(records_before + level, Duration::from_secs(10))[records_before..]
            .iter()
            .filter_map(|r| r["vcpu_ms"].as_f64())
            .collect()
    });
    Run {
        streams,
        peak_open: load.peak_open.load(Ordering::Relaxed),
        rss,
        heap_mib_max,
        listen_overflows,
        ramp_ms,
        vcpu_ms,
    }
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    (!xs.is_empty()).then(|| percentile(&mut xs, 50.0))
}

fn summarise(level: usize, target: Target, runs: &[&Run]) -> Row {
    let streams = runs.iter().flat_map(|r| r.streams.iter());
    let mut ttfe: Vec<f64> = streams.clone().filter_map(|s| s.ttfe_ms).collect();
    let mut total: Vec<f64> = streams
        .clone()
        .filter(|s| s.ok)
        .map(|s| s.total_ms)
        .collect();
    let mut errors: Vec<String> = streams.clone().filter_map(|s| s.error.clone()).collect();
    errors.sort();
    errors.dedup();
    Row {
        level,
        target,
        streams: streams.clone().count(),
        ok: streams.filter(|s| s.ok).count(),
        ttfe_p50: percentile(&mut ttfe, 50.0),
        ttfe_p99: percentile(&mut ttfe, 99.0),
        total_p50: percentile(&mut total, 50.0),
        total_p99: percentile(&mut total, 99.0),
        peak_open: runs.iter().map(|r| r.peak_open).min().unwrap_or(0),
        rss_peak_mib: median(
            runs.iter()
                .filter_map(|r| r.rss.map(|(_, peak)| peak as f64 / 1024.0))
                .collect(),
        ),
        kib_per_stream: median(runs.iter().filter_map(|r| r.kib_per_stream()).collect()),
        heap_mib_max: runs.iter().filter_map(|r| r.heap_mib_max).reduce(f64::max),
        ramp_ms: median(runs.iter().map(|r| r.ramp_ms).collect()).unwrap_or(0.0),
        listen_overflows: runs.iter().map(|r| r.listen_overflows).sum(),
        vcpu_ms: {
            let all: Vec<f64> = runs
                .iter()
                .flat_map(|r| r.vcpu_ms.iter().copied())
                .collect();
            (!all.is_empty()).then(|| all.iter().sum::<f64>() / all.len() as f64)
        },
        round_ttfe_p99: runs
            .iter()
            .map(|r| {
                let mut t: Vec<f64> = r.streams.iter().filter_map(|s| s.ttfe_ms).collect();
                percentile(&mut t, 99.0)
            })
            .collect(),
        errors,
    }
}

/// Opens `level` streams (at most `pending` of them not yet answered) and
/// waits for all of them; returns them and the time until all were open
/// (had their first event).
async fn run_level(load: Arc<Load>, level: usize) -> (Vec<Stream>, f64) {
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..level {
        set.spawn(one_stream(Arc::clone(&load)));
    }
    let mut out = Vec::with_capacity(level);
    while let Some(joined) = set.join_next().await {
        out.push(joined.unwrap_or_else(|e| Stream {
            ok: false,
            ttfe_ms: None,
            first_at: None,
            total_ms: 0.0,
            error: Some(format!("task: {e}")),
        }));
    }
    let ramp = out
        .iter()
        .filter_map(|s| s.first_at)
        .max()
        .map_or(0.0, |t| t.duration_since(started).as_secs_f64() * 1000.0);
    (out, ramp)
}

/// One streaming chat completion on its own connection.
async fn one_stream(load: Arc<Load>) -> Stream {
    // Closed never: the semaphore lives as long as `load`.
    let permit = load.pending.acquire().await.ok();
    let started = Instant::now();
    let mut first_at = None;
    let result = tokio::time::timeout(load.timeout, stream_body(&load, &mut first_at, permit))
        .await
        .unwrap_or_else(|_| Err("timed out".to_owned()));
    let total_ms = started.elapsed().as_secs_f64() * 1000.0;
    let ttfe_ms = first_at.map(|t: Instant| t.duration_since(started).as_secs_f64() * 1000.0);
    let (ok, error) = match result {
        Ok(()) => (true, None),
        Err(e) => (false, Some(e)),
    };
    Stream {
        ok,
        ttfe_ms,
        first_at,
        total_ms,
        error,
    }
}

/// Sends the request and reads the body; releases `permit` at the first
/// event (or on any error, by dropping it).
async fn stream_body(
    load: &Load,
    first_at: &mut Option<Instant>,
    mut permit: Option<tokio::sync::SemaphorePermit<'_>>,
) -> Result<(), String> {
    let tcp = tokio::net::TcpStream::connect(load.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let req = hyper::Request::post(load.route.path())
        .header("host", load.addr.to_string())
        .header("authorization", format!("Bearer {}", load.route.key()))
        .header("content-type", "application/json")
        .header("x-mock-events", &load.events)
        .header("x-mock-delay-ms", &load.delay_ms)
        .body(Full::new(load.body.clone()))
        .map_err(|e| format!("request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("send: {e}"))?;
    if resp.status() != 200 {
        return Err(format!("status {}", resp.status()));
    }
    let open = load.open.fetch_add(1, Ordering::Relaxed) + 1;
    load.peak_open.fetch_max(open, Ordering::Relaxed);
    let mut body = resp.into_body();
    // Only the tail matters for `[DONE]`; keep a few bytes, not the body.
    let mut tail: Vec<u8> = Vec::with_capacity(64);
    let mut result = Ok(());
    loop {
        match body.frame().await {
            None => break,
            Some(Err(e)) => {
                result = Err(format!("body: {e}"));
                break;
            }
            Some(Ok(frame)) => {
                let Some(data) = frame.data_ref() else {
                    continue;
                };
                if data.is_empty() {
                    continue;
                }
                if first_at.is_none() {
                    *first_at = Some(Instant::now());
                    drop(permit.take());
                }
                tail.extend_from_slice(data);
                let keep = tail.len().saturating_sub(DONE.len());
                tail.drain(..keep);
            }
        }
    }
    load.open.fetch_sub(1, Ordering::Relaxed);
    result?;
    if tail != DONE {
        return Err(format!(
            "ended without [DONE]: {:?}",
            String::from_utf8_lossy(&tail)
        ));
    }
    Ok(())
}

/// Samples one process's VmRSS until stopped.
struct RssSampler {
    stop: Arc<AtomicBool>,
    idle_kib: u64,
    peak_kib: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let idle_kib = vm_rss_kib(pid).expect("Viceroy's VmRSS");
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kib = Arc::new(AtomicU64::new(idle_kib));
        let thread = {
            let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak_kib));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = vm_rss_kib(pid) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        RssSampler {
            stop,
            idle_kib,
            peak_kib,
            thread,
        }
    }

    /// `(idle, peak)` in KiB.
    fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        (self.idle_kib, self.peak_kib.load(Ordering::Relaxed))
    }
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The `viceroy` process serving `edge` (the harness runs it under a shell
/// watchdog, so it is found by its `--addr` argument).
fn viceroy_pid(edge: &Edge) -> u32 {
    let addr = edge.addr.to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|d| d.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.first().is_some_and(|a| a.ends_with(b"viceroy")) && args.contains(&addr.as_bytes())
        })
        .expect("the viceroy process")
}

/// Lifts the soft open-file limit to the hard one before Viceroy and the
/// origin inherit it: each stream holds a client socket here, and an
/// inbound plus an outbound socket in Viceroy.
fn raise_fd_limit(streams: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (lim.current, lim.maximum) {
        if cur < max {
            lim.current = Some(max);
            if let Err(e) = setrlimit(Resource::Nofile, lim) {
                eprintln!("raising RLIMIT_NOFILE to {max} failed: {e}");
            }
        }
    }
    let now = getrlimit(Resource::Nofile).current;
    let need = (2 * streams + 256) as u64;
    assert!(
        now.is_none_or(|n| n >= need),
        "RLIMIT_NOFILE is {now:?}, the largest level needs about {need}: raise `ulimit -Hn`"
    );
}

fn print_report(args: &Args, wasms: &Wasms, rows: &[Row]) {
    println!(
        "{} content events per stream, one every {} ms; per level and edge target {} (direct: at most {}), at most {} streams waiting for their first event.\n",
        args.events,
        args.delay_ms,
        args.levels
            .iter()
            .map(|&l| format!("{} rounds at {l}", args.rounds_at(l)))
            .collect::<Vec<_>>()
            .join(", "),
        args.direct_rounds,
        args.pending
    );
    println!("| streams | target | success | TTFE p50 ms | TTFE p99 ms | total p50 ms | total p99 ms | peak open | ramp ms | Viceroy peak RSS MiB | KiB / stream | guest heap max MiB | guest vCPU ms / stream | listen overflows |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let opt = |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
    for r in rows {
        println!(
            "| {} | {} | {:.1}% | {:.1} | {:.1} | {:.0} | {:.0} | {} | {:.0} | {} | {} | {} | {} | {} |",
            r.level,
            r.target.name(),
            100.0 * r.ok as f64 / r.streams.max(1) as f64,
            r.ttfe_p50,
            r.ttfe_p99,
            r.total_p50,
            r.total_p99,
            r.peak_open,
            r.ramp_ms,
            opt(r.rss_peak_mib, 0),
            opt(r.kib_per_stream, 1),
            opt(r.heap_mib_max, 1),
            opt(r.vcpu_ms, 2),
            r.listen_overflows,
        );
    }
    println!();
    println!("| streams | success, all targets (target 100%) | TTFE p99 gateway / floor (target ≤ 1.25) | same, per round | memory per stream gateway / floor (target ≤ 1.10) | guest vCPU per stream gateway / floor |");
    println!("| ---: | --- | ---: | --- | ---: | ---: |");
    let find = |level: usize, route, build| {
        rows.iter()
            .find(|r| r.level == level && r.target == Target { route, build })
    };
    for (&level, build) in args
        .levels
        .iter()
        .flat_map(|l| wasms.builds().into_iter().map(move |b| (l, b)))
    {
        let (Some(floor), Some(gw)) = (
            find(level, Route::Floor, build),
            find(level, Route::Gateway, build),
        ) else {
            continue;
        };
        let label = match (build, &wasms.baseline) {
            (Build::Baseline, _) => format!("{level} (baseline)"),
            (Build::New, Some(_)) => format!("{level} (new)"),
            (Build::New, None) => level.to_string(),
        };
        let level_rows = rows.iter().filter(|r| r.level == level);
        let (ok, all) = level_rows.fold((0, 0), |(o, a), r| (o + r.ok, a + r.streams));
        let ttfe = gw.ttfe_p99 / floor.ttfe_p99;
        let mem = match (gw.kib_per_stream, floor.kib_per_stream) {
            (Some(g), Some(f)) if f > 0.0 => g / f,
            _ => f64::NAN,
        };
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        let rounds: Vec<String> = gw
            .round_ttfe_p99
            .iter()
            .zip(&floor.round_ttfe_p99)
            .map(|(g, f)| format!("{:.2}", g / f))
            .collect();
        let vcpu = match (gw.vcpu_ms, floor.vcpu_ms) {
            (Some(g), Some(f)) if f > 0.0 => format!("{:.2}", g / f),
            _ => "-".to_owned(),
        };
        println!(
            "| {label} | {ok}/{all} ({}) | {ttfe:.2} ({}) | {} | {mem:.2} ({}) | {vcpu} |",
            verdict(ok == all),
            verdict(ttfe <= 1.25),
            rounds.join(", "),
            verdict(mem <= 1.10),
        );
    }
    if wasms.baseline.is_some() {
        print_comparison(args, rows);
    }
    for r in rows.iter().filter(|r| !r.errors.is_empty()) {
        println!(
            "\n{} at {}: {}",
            r.target.name(),
            r.level,
            r.errors.join("; ")
        );
    }
}

/// Each level's figures of the new build over the baseline's, measured in
/// the same rounds. The target for a change that should not slow the
/// relay is 1.0 within the spread of an A/A run.
fn print_comparison(args: &Args, rows: &[Row]) {
    let find = |level: usize, route, build| {
        rows.iter()
            .find(|r| r.level == level && r.target == Target { route, build })
    };
    println!();
    println!("| streams | TTFE p50 gateway new / baseline | TTFE p99 gateway new / baseline | same, per round | TTFE p50 floor new / baseline | TTFE p99 floor new / baseline | guest vCPU per stream gateway new / baseline |");
    println!("| ---: | ---: | ---: | --- | ---: | ---: | ---: |");
    for &level in &args.levels {
        let (Some(gw_b), Some(gw_n), Some(fl_b), Some(fl_n)) = (
            find(level, Route::Gateway, Build::Baseline),
            find(level, Route::Gateway, Build::New),
            find(level, Route::Floor, Build::Baseline),
            find(level, Route::Floor, Build::New),
        ) else {
            continue;
        };
        let rounds: Vec<String> = gw_n
            .round_ttfe_p99
            .iter()
            .zip(&gw_b.round_ttfe_p99)
            .map(|(n, b)| format!("{:.2}", n / b))
            .collect();
        let vcpu = match (gw_n.vcpu_ms, gw_b.vcpu_ms) {
            (Some(n), Some(b)) if b > 0.0 => format!("{:.2}", n / b),
            _ => "-".to_owned(),
        };
        println!(
            "| {level} | {:.2} ({:.1} / {:.1} ms) | {:.2} ({:.1} / {:.1} ms) | {} | {:.2} | {:.2} | {vcpu} |",
            gw_n.ttfe_p50 / gw_b.ttfe_p50,
            gw_n.ttfe_p50,
            gw_b.ttfe_p50,
            gw_n.ttfe_p99 / gw_b.ttfe_p99,
            gw_n.ttfe_p99,
            gw_b.ttfe_p99,
            rounds.join(", "),
            fl_n.ttfe_p50 / fl_b.ttfe_p50,
            fl_n.ttfe_p99 / fl_b.ttfe_p99,
        );
    }
}

/// The system-wide count of connections dropped because a listen queue
/// was full (`TcpExt: ListenOverflows`).
fn listen_overflows() -> u64 {
    let Ok(netstat) = std::fs::read_to_string("/proc/net/netstat") else {
        return 0;
    };
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "ListenOverflows")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}
