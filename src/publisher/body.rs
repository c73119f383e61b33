//! A rewritten body: the origin body pumped through the pipeline into the
//! client sink, streamed (the common case) or buffered for the
//! whole-document post-processor; committed to the client directly or
//! through a cache fill that streams back to it.

use std::time::Instant;

use error_stack::{Report, ResultExt};
use fastly::{Body, Response};
use sluice_core::access;
use sluice_core::error::{ErrorSource, PipelineError};
use sluice_core::http::csp::{BufferedHtml, BufferedOutcome, PolicyHeaders};
use sluice_core::http::{finalize, origin_response, Mode};
use sluice_core::pipeline::{Pipeline, PipelineConfig};
use sluice_core::sink::{ClientSink, Commit};

use super::budget::{self, Append};
use crate::lifecycle::{message, Cx, EdgeError, Outcome};
use sluice_core::budget::{RewriteWatch, Switch};
use sluice_core::pump::{pump, Flow, Pumped};

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

/// Rewrites the origin body into `committer`.
pub fn rewrite<C>(
    head: Response,
    mut body: Body,
    how: Rewrite,
    committer: C,
    cx: &mut Cx<'_>,
) -> Result<Outcome, Report<EdgeError>>
where
    C: Commit<Head = Response>,
    C::Body: Append,
{
    let Rewrite {
        config,
        mode,
        hashed,
        origin_length,
    } = how;
    cx.record.mode = mode.as_str();
    if let Some(policies) = hashed {
        return complete_hashes(head, body, config, policies, committer, cx);
    }
    let sink: ClientSink<C> = match mode {
        Mode::Buffered => {
            let started = cx.started;
            cx.buffered_sink_via(
                committer,
                head,
                cx.settings.buffer_max_bytes,
                Box::new(|head: &mut Response, body: &[u8]| {
                    for (name, value) in finalize::buffered_headers(body) {
                        head.set_header(name, value);
                    }
                }),
                Box::new(move |head: &mut Response| spilled(head, started)),
            )
        }
        Mode::Stream | Mode::PassThrough => cx.sink_via(committer, head),
    };
    let mut pipeline = Pipeline::new(config, sink).map_err(pipeline_error)?;
    let mut watch = RewriteWatch::new(cx.settings.cpu_budget_ms).with_origin_length(origin_length);
    let mut spliced_at: Option<Vec<u8>> = None;
    let pumped = pump_origin(&mut body, cx, |chunk| {
        if watch.before_chunk(&mut pipeline, chunk.len(), budget::vcpu_ms())? == Switch::Splice {
            spliced_at = Some(chunk.to_vec());
            return Ok(Flow::Stop);
        }
        pipeline.write_chunk(chunk).map(|()| Flow::More)
    });
    budget::record(&watch, cx);
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
        budget::splice(pipeline, &chunk, body, cx)?;
        return Ok(Outcome::Sent);
    }
    let sink = pipeline.finish().map_err(pipeline_error)?;
    sink.finish()
        .change_context(EdgeError::ClientGone)
        .attach("finishing the client stream")?;
    Ok(Outcome::Sent)
}

/// An HTML document whose policy lists hash sources: buffered (to the
/// cap), rewritten, the hashes of the inline scripts and styles the
/// rewrite changed added next to the originals, then sent whole with the
/// completed policy. Over the cap it streams with its policy as it was,
/// and the access line says the policy is incomplete.
fn complete_hashes<C: Commit<Head = Response>>(
    head: Response,
    mut body: Body,
    config: PipelineConfig,
    policies: PolicyHeaders,
    committer: C,
    cx: &mut Cx<'_>,
) -> Result<Outcome, Report<EdgeError>> {
    let cap = cx.settings.buffer_max_bytes;
    let sink = cx.sink_via(committer, head);
    let mut html = BufferedHtml::new(config, policies, cap, sink).map_err(pipeline_error)?;
    pump_origin(&mut body, cx, |chunk| {
        html.write_chunk(chunk).map(|()| Flow::More)
    })?;
    let gone = |e: std::io::Error| Report::new(EdgeError::ClientGone).attach(e.to_string());
    match html.finish().map_err(pipeline_error)? {
        BufferedOutcome::Complete(done) => {
            cx.record.csp = Some(if done.hashes.is_ok() {
                "complete"
            } else {
                "incomplete"
            });
            let mut sink = done.writer;
            if let Some(head) = sink.head_mut() {
                message::set_all(head, "content-security-policy", &done.headers.enforce);
                let report_only = &done.headers.report_only;
                message::set_all(head, "content-security-policy-report-only", report_only);
                for (name, value) in finalize::buffered_headers(&done.body) {
                    head.set_header(name, value);
                }
            }
            sink.finish_whole(done.body).map_err(gone)?;
        }
        BufferedOutcome::Streamed { writer, .. } => {
            log::warn!(
                "a hash policy's page passed the buffer cap; streamed with its policy incomplete"
            );
            cx.record.csp = Some("incomplete");
            cx.record.mode = Mode::Stream.as_str();
            writer.finish().map_err(gone)?;
        }
    }
    Ok(Outcome::Sent)
}

/// A buffered body that outgrew its cap or its wait streams: its head
/// says so.
fn spilled(head: &mut Response, started: Instant) {
    log::warn!("buffered body passed its cap or its wait; streaming instead");
    let elapsed = access::ms_between(started, Instant::now());
    let old = message::response_header_all(head, "server-timing");
    let values = origin_response::spilled_server_timing(old.iter().map(String::as_str), elapsed);
    message::set_all(head, "server-timing", &values);
}

/// Pumps the origin body into `each`, counting the bytes read for the
/// access line: a failed read is the origin's, a refused chunk is the
/// pipeline's.
fn pump_origin(
    body: &mut Body,
    cx: &mut Cx<'_>,
    mut each: impl FnMut(&[u8]) -> Result<Flow, PipelineError>,
) -> Result<(), Report<EdgeError>> {
    let mut bytes_in = 0u64;
    let pumped = pump(body, |chunk| {
        bytes_in += chunk.len() as u64;
        each(chunk)
    });
    cx.record.bytes_in = bytes_in;
    match pumped {
        Ok(()) => Ok(()),
        Err(Pumped::Read(e)) => Err(Report::new(EdgeError::OriginRead).attach(e.to_string())),
        Err(Pumped::Handler(e)) => Err(pipeline_error(e)),
    }
}

/// Which side a pipeline failure came from decides its class.
pub(super) fn pipeline_error(e: PipelineError) -> Report<EdgeError> {
    let kind = match e.source_side() {
        ErrorSource::Downstream => EdgeError::ClientGone,
        _ if matches!(e, PipelineError::Upstream(_)) => EdgeError::OriginRead,
        _ => EdgeError::Pipeline(e.class()),
    };
    Report::new(kind).attach(e.to_string())
}
