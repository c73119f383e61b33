//! The CPU budget of a rewrite: when to stop rewriting so the response
//! still ends, complete and valid, inside Fastly's per-request CPU limit.
//!
//! Fastly stops a request instance after 50 ms of vCPU. Rewriting costs
//! CPU per byte, so a page of a few MiB could be cut off mid-stream (and a
//! cache fill would never complete). `publisher.cpu_budget_ms` (default
//! [`DEFAULT_CPU_BUDGET_MS`]) is the point by which rewriting must have
//! stopped; the gap between it and the platform's limit is the headroom
//! for finishing: nothing for an identity origin (the host splices the
//! rest of the origin body), decoding the rest for an encoded one.
//!
//! The adapter reads `compute_runtime::elapsed_vcpu_ms()` before it pushes
//! each origin chunk and asks [`CpuBudget::before_chunk`]; when the answer
//! is [`BudgetCheck::Stop`] it calls [`crate::Pipeline::stop_rewriting`]
//! (or [`crate::Pipeline::into_splice`]) before pushing the chunk. The
//! decision itself is the pure [`must_stop`], so it is tested without a
//! clock.

use crate::ContentEncoding;

/// Default `publisher.cpu_budget_ms`: 40 of Fastly's 50 ms, leaving 10 ms
/// to finish the response after rewriting stops.
pub const DEFAULT_CPU_BUDGET_MS: u64 = 40;

/// `elapsed_vcpu_ms()` counts whole milliseconds, so the true time spent
/// may be up to one more than it says.
const CLOCK_GRANULARITY_US: u64 = 1_000;

/// The cost assumed for a chunk before any has been measured: per encoded
/// byte, about what decoding and rewriting cost for HTML that compressed
/// 6:1 through Viceroy (docs/BENCHMARKS.md). Only used until one
/// millisecond of rewriting has been observed.
const PRIOR_NS_PER_BYTE: u64 = 60;

/// Whether the next chunk may still be rewritten: stop when the time
/// already spent, plus the clock's granularity, plus the next chunk's
/// estimated cost would reach the budget. Stopping before the budget is
/// reached, not after, is what leaves the headroom between the budget and
/// the platform's limit for finishing the response.
///
/// `budget_ms == 0` means no budget: never stop.
pub fn must_stop(elapsed_ms: u64, budget_ms: u64, next_chunk_cost_us: u64) -> bool {
    if budget_ms == 0 {
        return false;
    }
    let spent_us = elapsed_ms
        .saturating_mul(1_000)
        .saturating_add(CLOCK_GRANULARITY_US)
        .saturating_add(next_chunk_cost_us);
    spent_us >= budget_ms.saturating_mul(1_000)
}

/// The answer of [`CpuBudget::before_chunk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetCheck {
    /// Rewrite this chunk.
    Rewrite,
    /// Stop rewriting before this chunk (and for the rest of the body).
    Stop,
}

/// The per-body state of the budget: it measures what rewriting costs per
/// encoded origin byte on this body and predicts the next chunk from it.
#[derive(Debug, Clone)]
pub struct CpuBudget {
    budget_ms: u64,
    /// `elapsed_ms` at the first chunk: what the request cost before the
    /// body (routing, the origin request, headers) is not rewrite cost.
    first_ms: Option<u64>,
    /// Encoded bytes rewritten since `first_ms`.
    bytes: u64,
    stopped: bool,
}

impl CpuBudget {
    /// A budget of `budget_ms` vCPU milliseconds for the whole request;
    /// `0` disables it.
    pub fn new(budget_ms: u64) -> Self {
        Self {
            budget_ms,
            first_ms: None,
            bytes: 0,
            stopped: false,
        }
    }

    /// True unless the budget is `0` (off).
    pub fn is_enabled(&self) -> bool {
        self.budget_ms > 0
    }

    /// Called before each origin chunk of `chunk_len` encoded bytes is
    /// pushed, with the request's elapsed vCPU milliseconds now. Once it
    /// says [`BudgetCheck::Stop`] it keeps saying so.
    pub fn before_chunk(&mut self, elapsed_ms: u64, chunk_len: usize) -> BudgetCheck {
        self.before_chunk_reserving(elapsed_ms, chunk_len, 0)
    }

    /// [`CpuBudget::before_chunk`], keeping `reserve_us` of the budget for
    /// finishing the body after the switch (decoding an encoded origin's
    /// remainder).
    pub fn before_chunk_reserving(
        &mut self,
        elapsed_ms: u64,
        chunk_len: usize,
        reserve_us: u64,
    ) -> BudgetCheck {
        if self.stopped {
            return BudgetCheck::Stop;
        }
        let first = *self.first_ms.get_or_insert(elapsed_ms);
        let cost = self.estimate_us(elapsed_ms.saturating_sub(first), chunk_len as u64);
        if must_stop(elapsed_ms, self.budget_ms, cost.saturating_add(reserve_us)) {
            self.stopped = true;
            return BudgetCheck::Stop;
        }
        self.bytes += chunk_len as u64;
        BudgetCheck::Rewrite
    }

    /// The expected cost of rewriting `len` more bytes: this body's rate so
    /// far once at least a millisecond has been measured, else the prior.
    /// With whole-millisecond readings, a rate measured over a few
    /// milliseconds is coarse, so the larger of the two is used until ten
    /// have passed.
    fn estimate_us(&self, spent_ms: u64, len: u64) -> u64 {
        let prior = len.saturating_mul(PRIOR_NS_PER_BYTE) / 1_000;
        if spent_ms == 0 || self.bytes == 0 {
            return prior;
        }
        let measured = spent_ms
            .saturating_mul(1_000)
            .saturating_mul(len)
            .div_ceil(self.bytes);
        if spent_ms < 10 {
            measured.max(prior)
        } else {
            measured
        }
    }
}

/// What [`RewriteWatch::before_chunk`] says to do with the chunk in hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// Give it to the pipeline (after a stop, the pipeline passes it on
    /// unrewritten).
    Write,
    /// Stop here: end the pipeline with [`crate::Pipeline::into_splice`],
    /// write its held bytes and this chunk, then hand the unread rest of
    /// the origin body to the platform.
    Splice,
}

/// What finishing costs per decoded byte after a decode-only switch, in
/// picoseconds: decoding `input` plus encoding `output`, from the guest's
/// rates under Viceroy (docs/BENCHMARKS.md, "CPU budget"), rounded up.
/// Identity costs nothing: that remainder is spliced or copied.
pub fn remainder_ps_per_byte(input: ContentEncoding, output: ContentEncoding) -> u64 {
    let decode = match input {
        ContentEncoding::Identity => 0,
        ContentEncoding::Gzip | ContentEncoding::Deflate => 2_000,
        ContentEncoding::Brotli => 4_000,
    };
    let encode = match output {
        ContentEncoding::Identity => 0,
        ContentEncoding::Gzip | ContentEncoding::Deflate => 4_000,
        ContentEncoding::Brotli => 10_000,
    };
    decode + encode
}

/// The vCPU, in microseconds, that finishing an encoded body will cost
/// after a switch now: the encoded bytes still to come (from the origin's
/// `Content-Length`) at the compression ratio seen so far, at
/// [`remainder_ps_per_byte`]. Zero when the length is unknown (a chunked
/// origin: nothing to estimate from) or nothing needs decoding.
pub fn remainder_us(
    origin_length: Option<u64>,
    bytes_in: u64,
    bytes_decoded: u64,
    ps_per_byte: u64,
) -> u64 {
    let Some(total) = origin_length else {
        return 0;
    };
    if ps_per_byte == 0 || bytes_in == 0 {
        return 0;
    }
    let left_encoded = total.saturating_sub(bytes_in);
    // Before anything decodes, assume HTML's usual 6:1.
    let ratio_x1000 = match bytes_decoded {
        0 => 6_000,
        d => d.saturating_mul(1_000) / bytes_in,
    };
    let left_decoded = left_encoded.saturating_mul(ratio_x1000) / 1_000;
    left_decoded.saturating_mul(ps_per_byte) / 1_000_000
}

/// The budget's watch over one rewritten body: asked before each origin
/// chunk, it stops the pipeline's rewriting when the budget says so, the
/// cheapest way the pipeline allows (a splice when input and output are
/// identity, else decode-only). For an encoded origin of known length it
/// keeps what decoding the rest will cost in reserve, so the response
/// still ends inside the budget.
#[derive(Debug, Clone)]
pub struct RewriteWatch {
    budget: CpuBudget,
    origin_length: Option<u64>,
    stop: Option<(crate::RewriteStop, u64)>,
}

impl RewriteWatch {
    /// A watch for `budget_ms` (`0`: never stop).
    pub fn new(budget_ms: u64) -> Self {
        Self {
            budget: CpuBudget::new(budget_ms),
            origin_length: None,
            stop: None,
        }
    }

    /// The origin body's length (`Content-Length`), when it said it.
    pub fn with_origin_length(mut self, length: Option<u64>) -> Self {
        self.origin_length = length;
        self
    }

    /// Called before each origin chunk of `chunk_len` bytes is given to
    /// `pipeline`, with the request's vCPU milliseconds now.
    pub fn before_chunk<W: std::io::Write>(
        &mut self,
        pipeline: &mut crate::Pipeline<W>,
        chunk_len: usize,
        vcpu_ms: u64,
    ) -> Result<Switch, crate::PipelineError> {
        if !self.budget.is_enabled() || self.stop.is_some() {
            return Ok(Switch::Write);
        }
        let stats = pipeline.stats();
        let (input, output) = pipeline.encodings();
        let reserve = remainder_us(
            self.origin_length,
            stats.bytes_in,
            stats.bytes_decoded,
            remainder_ps_per_byte(input, output),
        );
        if self
            .budget
            .before_chunk_reserving(vcpu_ms, chunk_len, reserve)
            == BudgetCheck::Rewrite
        {
            return Ok(Switch::Write);
        }
        if pipeline.can_splice() {
            return Ok(Switch::Splice);
        }
        self.stop = Some((pipeline.stop_rewriting()?, vcpu_ms));
        Ok(Switch::Write)
    }

    /// Where a decode-only stop happened, and the vCPU then.
    pub fn stopped(&self) -> Option<(crate::RewriteStop, u64)> {
        self.stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remainder_of_a_known_length_is_reserved_at_the_ratio_seen() {
        let gz = remainder_ps_per_byte(ContentEncoding::Gzip, ContentEncoding::Identity);
        assert_eq!(gz, 2_000);
        // 1 MiB of 4 MiB read, decoded 5:1: 15 MiB left at 2 ns/byte.
        let mib = 1 << 20;
        assert_eq!(
            remainder_us(Some(4 * mib), mib, 5 * mib, gz),
            15 * mib * 2_000 / 1_000_000
        );
        // Nothing decoded yet: 6:1 assumed.
        assert_eq!(
            remainder_us(Some(2 * mib), mib, 0, gz),
            6 * mib * 2_000 / 1_000_000
        );
        // Unknown length, identity, or nothing read: no reserve.
        assert_eq!(remainder_us(None, mib, 5 * mib, gz), 0);
        assert_eq!(remainder_us(Some(4 * mib), mib, mib, 0), 0);
        assert_eq!(remainder_us(Some(4 * mib), 0, 0, gz), 0);
        // Past the announced length: nothing left.
        assert_eq!(remainder_us(Some(mib), 2 * mib, 8 * mib, gz), 0);
        // Encoding the output costs too.
        assert_eq!(
            remainder_ps_per_byte(ContentEncoding::Brotli, ContentEncoding::Gzip),
            8_000
        );
        assert_eq!(
            remainder_ps_per_byte(ContentEncoding::Identity, ContentEncoding::Identity),
            0
        );
    }

    #[test]
    fn a_reserve_moves_the_switch_earlier() {
        let mut plain = CpuBudget::new(40);
        let mut reserving = CpuBudget::new(40);
        assert_eq!(plain.before_chunk(20, 1024), BudgetCheck::Rewrite);
        // 20 ms spent, 19 ms to finish the rest: 20 + 1 + 19 reaches 40.
        assert_eq!(
            reserving.before_chunk_reserving(20, 1024, 19_000),
            BudgetCheck::Stop
        );
    }
    use crate::{ContentEncoding, ContentKind, Pipeline, PipelineConfig, RewriteRules};
    use std::io::Write;

    fn pipeline(input: ContentEncoding) -> Pipeline<Vec<u8>> {
        let rules = RewriteRules::new(["origin.example"], "https", "edge.example").unwrap();
        let config =
            PipelineConfig::new(input, ContentEncoding::Identity, ContentKind::Html, rules);
        Pipeline::new(config, Vec::new()).unwrap()
    }

    const LINE: &[u8] = b"<a href=\"https://origin.example/x\">x</a>\n";

    #[test]
    fn an_identity_body_is_spliced_where_the_budget_runs_out() {
        let mut p = pipeline(ContentEncoding::Identity);
        let mut watch = RewriteWatch::new(10);
        let mut vcpu = 0;
        let mut written = 0;
        while watch.before_chunk(&mut p, LINE.len(), vcpu).unwrap() == Switch::Write {
            p.write_chunk(LINE).unwrap();
            written += 1;
            vcpu += 1;
        }
        // 1 ms per chunk: at 8 ms, 8 + 1 (clock) + 1 (chunk) reaches 10.
        assert_eq!(written, 8);
        assert_eq!(watch.stopped(), None, "a splice is the caller's to do");
        let splice = p.into_splice().unwrap();
        let rewritten = String::from_utf8(splice.writer).unwrap();
        assert_eq!(rewritten.matches("https://edge.example/x").count(), 8);
        assert!(!rewritten.contains("origin.example"));
    }

    #[test]
    fn an_encoded_body_stops_rewriting_and_is_decoded_to_the_end() {
        let whole: Vec<u8> = (0..400)
            .flat_map(|i| format!("<a href=\"https://origin.example/{i}\">{i}</a>\n").into_bytes())
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&whole).unwrap();
        let body = gz.finish().unwrap();
        let mut p = pipeline(ContentEncoding::Gzip);
        let mut watch = RewriteWatch::new(10);
        for (i, chunk) in body.chunks(body.len() / 4 + 1).enumerate() {
            let vcpu = [0, 20, 30, 40][i];
            assert_eq!(
                watch.before_chunk(&mut p, chunk.len(), vcpu).unwrap(),
                Switch::Write
            );
            p.write_chunk(chunk).unwrap();
        }
        let (stop, vcpu) = watch.stopped().expect("stopped at the second chunk");
        assert_eq!(vcpu, 20);
        let out = p.finish().unwrap();
        let at = stop.decoded_offset as usize;
        // Everything from the switch on is the origin's, decoded.
        assert!(out.ends_with(&whole[at..]));
        assert!(at > 0 && at < whole.len(), "{at}");
        // ...and everything before it was rewritten.
        let head = &out[..out.len() - (whole.len() - at)];
        assert!(!String::from_utf8_lossy(head).contains("origin.example"));
    }

    #[test]
    fn no_budget_never_stops() {
        let mut p = pipeline(ContentEncoding::Identity);
        let mut watch = RewriteWatch::new(0);
        for vcpu in [0, 100, 10_000] {
            assert_eq!(
                watch.before_chunk(&mut p, 1 << 20, vcpu).unwrap(),
                Switch::Write
            );
        }
        assert_eq!(watch.stopped(), None);
    }

    #[test]
    fn stops_before_the_budget_not_at_it() {
        // 40 ms budget, 0.5 ms chunks: at 38 ms, 38 + 1 (clock) + 0.5 <
        // 40, so one more chunk; at 39 ms it would reach 40.5: stop.
        assert!(!must_stop(38, 40, 500));
        assert!(must_stop(39, 40, 500));
        // The estimate moves the switch earlier by whole chunks.
        assert!(!must_stop(33, 40, 5_000));
        assert!(must_stop(34, 40, 5_000));
        // Even a free chunk stops one clock tick early.
        assert!(!must_stop(38, 40, 0));
        assert!(must_stop(39, 40, 0));
        assert!(must_stop(45, 40, 0));
    }

    #[test]
    fn zero_budget_never_stops() {
        assert!(!must_stop(0, 0, 0));
        assert!(!must_stop(u64::MAX, 0, u64::MAX));
    }

    #[test]
    fn huge_values_saturate_instead_of_wrapping() {
        assert!(must_stop(u64::MAX, 40, 0));
        assert!(must_stop(0, 40, u64::MAX));
        assert!(!must_stop(0, u64::MAX, 0));
    }

    #[test]
    fn the_rate_measured_on_the_body_predicts_the_next_chunk() {
        let chunk = 16 << 10;
        let mut b = CpuBudget::new(40);
        // 5 ms before the body; then 1 ms per 4 chunks (~61 ns/byte).
        let mut elapsed_us = 5_000u64;
        let mut rewritten = 0;
        while b.before_chunk(elapsed_us / 1_000, chunk) == BudgetCheck::Rewrite {
            rewritten += 1;
            elapsed_us += 250;
        }
        // Stops when 1 ms (clock) + 0.25 ms (chunk) would reach 40 ms: at
        // the first reading of 39 ms (up to 38.99 ms plus a chunk is still
        // under 40), after 34 ms of rewriting.
        assert_eq!(elapsed_us, 39_000, "stopped at {elapsed_us} us");
        assert_eq!(rewritten, 34 * 4);
        // And it stays stopped.
        assert_eq!(b.before_chunk(0, chunk), BudgetCheck::Stop);
    }

    #[test]
    fn an_expensive_body_stops_earlier() {
        // 2 ms per chunk (dense gzip): the switch comes at least one chunk
        // and the clock tick before the budget.
        let mut b = CpuBudget::new(40);
        let mut elapsed_us = 3_000u64;
        while b.before_chunk(elapsed_us / 1_000, 16 << 10) == BudgetCheck::Rewrite {
            elapsed_us += 2_000;
        }
        let at = elapsed_us / 1_000;
        assert!(
            at + 1 + 2 >= 40 && at + 1 + 2 < 40 + 2,
            "stopped at {at} ms"
        );
        assert_eq!(at, 37);
    }

    #[test]
    fn the_prior_covers_the_first_chunks() {
        // Nothing measured yet: a 64 KiB chunk is assumed to cost about
        // 3.9 ms, so a request already at 36 ms stops at once, one at
        // 35 ms rewrites it.
        let mut b = CpuBudget::new(40);
        assert_eq!(b.before_chunk(36, 64 << 10), BudgetCheck::Stop);
        let mut b = CpuBudget::new(40);
        assert_eq!(b.before_chunk(35, 64 << 10), BudgetCheck::Rewrite);
        // A cheap body is still judged by the prior until the clock moves.
        assert_eq!(b.estimate_us(0, 16 << 10), (16 << 10) * 60 / 1000);
    }

    #[test]
    fn disabled_budget_always_rewrites() {
        let mut b = CpuBudget::new(0);
        assert!(!b.is_enabled());
        for ms in [0, 40, 1_000, u64::MAX] {
            assert_eq!(b.before_chunk(ms, 1 << 20), BudgetCheck::Rewrite);
        }
    }
}
