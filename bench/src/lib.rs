//! Shared helpers for the scripted Viceroy benchmarks.
#![forbid(unsafe_code)]
// Benchmark code: a failed unwrap or expect stops the run, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Median of a sample (0 for an empty one).
pub fn median(xs: &mut [f64]) -> f64 {
    percentile(xs, 50.0)
}

/// Nearest-rank percentile of a sample (0 for an empty one).
pub fn percentile(xs: &mut [f64], p: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let rank = ((p / 100.0) * xs.len() as f64).ceil() as usize;
    xs[rank.clamp(1, xs.len()) - 1]
}

/// The per-request heap figures Viceroy prints with `-v`
/// ("request completed using N MiB of WebAssembly heap").
pub fn heap_mib_lines(lines: &[String]) -> Vec<f64> {
    lines
        .iter()
        .filter_map(|l| {
            let at = l.find("request completed using ")?;
            let rest = &l[at + "request completed using ".len()..];
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect()
}
