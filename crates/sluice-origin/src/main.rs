//! `sluice-origin`: the command-line front of the origin server.
//!
//! Prints exactly one line, `listening on http://IP:PORT`, to stdout once the
//! socket is bound (test harnesses wait for it), then serves until killed.
//! Logs go to stderr, warnings only unless `RUST_LOG` or `-v` says more.
#![forbid(unsafe_code)]

use clap::Parser;
use sluice_origin::server::{self, ServerConfig};
use sluice_origin::LlmFail;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// A real HTTP/1.1 origin for sluice's demo, tests and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "sluice-origin", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Corpus directory (with pages/ and pages.tsv) [default: $SLUICE_CORPUS_DIR or <workspace>/../shared/corpus].
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Bearer key the mock LLM accepts.
    #[arg(long, default_value = server::DEFAULT_LLM_KEY)]
    llm_key: String,
    /// Make every mock LLM request fail: 429|500|503|reset|reset-after-K|error-after-K|connect-hang|slow-headers.
    #[arg(long)]
    llm_fail: Option<LlmFail>,
    /// How long slow-headers waits before answering, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    llm_slow_ms: u64,
    /// Value of the x-mock-backend header on every response.
    #[arg(long, default_value = "sluice-origin")]
    name: String,
    /// Log requests and events to stderr (same as RUST_LOG=info).
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if cli.verbose { "info" } else { "warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .target(env_logger::Target::Stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice-origin: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let mut config = ServerConfig::new(cli.addr)
        .with_llm_key(cli.llm_key)
        .with_llm_fail(cli.llm_fail)
        .with_llm_slow_headers(Duration::from_millis(cli.llm_slow_ms))
        .with_name(cli.name);
    if let Some(dir) = cli.corpus {
        config = config.with_corpus_dir(dir);
    }
    let bound = match server::bind(config).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("sluice-origin: cannot listen on {}: {e}", cli.addr);
            return ExitCode::FAILURE;
        }
    };
    let addr = match bound.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sluice-origin: no local address: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "listening on http://{addr}")
        .and_then(|()| out.flush())
        .is_err()
    {
        // A harness that closed our stdout still gets a working server.
        log::warn!("could not announce the address on stdout");
    }
    drop(out);
    tokio::select! {
        () = bound.serve() => ExitCode::SUCCESS,
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}
