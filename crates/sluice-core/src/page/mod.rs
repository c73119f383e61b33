//! A page's rewritten body: the origin body pumped through the pipeline
//! into the client sink, streamed (the common case) or buffered for the
//! whole-document post-processor, committed to the client directly or
//! through a cache fill that streams back to it. Generic over the
//! platform: the adapter supplies Fastly's bodies and heads ([`Platform`]),
//! the tests scripted ones.

mod hashes;
mod plan;
mod splice;

pub use plan::{plan, PageFacts, PagePlan};

use std::io::Read;
use std::time::Instant;

use crate::access;
use crate::budget::{RewriteWatch, Switch};
use crate::context::Cx;
use crate::edge_error::{EdgeError, EdgeFault};
use crate::error::{ErrorSource, PipelineError};
use crate::http::csp::PolicyHeaders;
use crate::http::{finalize, origin_response, Mode};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::pump::{pump, Flow, Pumped};
use crate::sink::{ClientSink, Commit};

/// What the rewrite needs of the platform besides bodies.
pub trait Platform {
    /// The platform's response head.
    type Head;
    /// Every text value of a header.
    fn values(head: &Self::Head, name: &str) -> Vec<String>;
    /// Replaces a header's values (an unrepresentable value is dropped).
    fn set_all(head: &mut Self::Head, name: &str, values: &[String]);
    /// The request's guest vCPU so far, in milliseconds.
    fn vcpu_ms() -> u64;
}

/// A client body the rest of the origin body can be appended to, so the
/// host sends it without a guest copy.
pub trait Append<R> {
    /// Appends `rest` for the host to send after what was written, or
    /// gives it back when this body cannot take it.
    fn append_rest(&mut self, rest: R) -> Result<(), R>;
}

/// How a body is rewritten.
pub struct Rewrite {
    /// The pipeline's configuration.
    pub config: PipelineConfig,
    /// Stream or Buffered.
    pub mode: Mode,
    /// The origin's CSP, when it has hash sources to complete.
    pub hashed: Option<PolicyHeaders>,
    /// The origin body's `Content-Length`, for the CPU budget's reserve.
    pub origin_length: Option<u64>,
}

/// Rewrites the origin `body` into `committer`, recording the mode, the
/// bytes read and any budget stop in the access line.
pub fn rewrite<P, C, R>(
    head: C::Head,
    mut body: R,
    how: Rewrite,
    committer: C,
    cx: &mut Cx<'_>,
) -> Result<(), EdgeFault>
where
    P: Platform<Head = C::Head>,
    C: Commit<Body: Append<R>>,
    R: Read,
{
    let Rewrite {
        config,
        mode,
        hashed,
        origin_length,
    } = how;
    cx.record.mode = mode.as_str();
    if let Some(policies) = hashed {
        return hashes::complete::<P, C>(head, body, config, policies, committer, cx);
    }
    let sink: ClientSink<C> = match mode {
        Mode::Buffered => {
            let started = cx.started;
            cx.buffered_sink_via(
                committer,
                head,
                cx.settings.buffer_max_bytes,
                Box::new(|head: &mut C::Head, body: &[u8]| finalized::<P>(head, body)),
                Box::new(move |head: &mut C::Head| spilled::<P>(head, started)),
            )
        }
        Mode::Stream | Mode::PassThrough => cx.sink_via(committer, head),
    };
    let mut pipeline = Pipeline::new(config, sink).map_err(pipeline_fault)?;
    let mut watch = RewriteWatch::new(cx.settings.cpu_budget_ms).with_origin_length(origin_length);
    let mut spliced_at: Option<Vec<u8>> = None;
    let pumped = pump_origin(
        &mut body,
        cx,
        |chunk| {
            if watch.before_chunk(&mut pipeline, chunk.len(), P::vcpu_ms())? == Switch::Splice {
                spliced_at = Some(chunk.to_vec());
                return Ok(Flow::Stop);
            }
            pipeline.write_chunk(chunk).map(|()| Flow::More)
        },
        pipeline_fault,
    );
    if let Some((stop, vcpu)) = watch.stopped() {
        splice::note(cx, stop, vcpu, "decode");
    }
    if cx.stats.spilled() {
        cx.record.mode = Mode::Stream.as_str();
    }
    pumped?;
    if pipeline.saw_meta_hash_policy() {
        // A `<meta>` policy with hashes streamed past before its scripts:
        // list such paths in publisher.buffered_paths to complete it.
        cx.record.csp = Some("incomplete");
    }
    if let Some(chunk) = spliced_at {
        return splice::splice(pipeline, &chunk, body, cx, P::vcpu_ms());
    }
    let sink = pipeline.finish().map_err(pipeline_fault)?;
    sink.finish().map_err(EdgeFault::client_gone)
}

/// The buffered body's exact `Content-Length` and strong `ETag`.
fn finalized<P: Platform>(head: &mut P::Head, body: &[u8]) {
    for (name, value) in finalize::buffered_headers(body) {
        let value = value.to_str().unwrap_or_default().to_owned();
        P::set_all(head, name.as_str(), &[value]);
    }
}

/// A buffered body that outgrew its cap or its wait streams: its head
/// says so.
fn spilled<P: Platform>(head: &mut P::Head, started: Instant) {
    log::warn!("buffered body passed its cap or its wait; streaming instead");
    let elapsed = access::ms_between(started, Instant::now());
    let old = P::values(head, "server-timing");
    let values = origin_response::spilled_server_timing(old.iter().map(String::as_str), elapsed);
    P::set_all(head, "server-timing", &values);
}

/// Pumps the origin body into `each`, adding the bytes read to the access
/// line: a failed read is the origin's, a refused chunk is the pipeline's
/// (or the client's, when the write failed).
fn pump_origin<R: Read, E>(
    body: &mut R,
    cx: &mut Cx<'_>,
    mut each: impl FnMut(&[u8]) -> Result<Flow, E>,
    refused: impl FnOnce(E) -> EdgeFault,
) -> Result<(), EdgeFault> {
    let mut bytes_in = 0u64;
    let pumped = pump(body, |chunk| {
        bytes_in += chunk.len() as u64;
        each(chunk)
    });
    cx.record.bytes_in += bytes_in;
    match pumped {
        Ok(()) => Ok(()),
        Err(Pumped::Read(e)) => Err(EdgeFault::new(EdgeError::OriginRead, e)),
        Err(Pumped::Handler(e)) => Err(refused(e)),
    }
}

/// Which side a pipeline failure came from decides its class.
fn pipeline_fault(e: PipelineError) -> EdgeFault {
    let kind = match e.source_side() {
        ErrorSource::Downstream => EdgeError::ClientGone,
        _ if matches!(e, PipelineError::Upstream(_)) => EdgeError::OriginRead,
        _ => EdgeError::Pipeline(e.class()),
    };
    EdgeFault::new(kind, e)
}

#[cfg(test)]
mod tests;
