//! A rewritten body: the origin body pumped through the pipeline into the
//! client sink, streamed (the common case) or buffered for the
//! whole-document post-processor; committed to the client directly or
//! through a cache fill that streams back to it.

use std::time::Instant;

use error_stack::{Report, ResultExt};
use fastly::http::HeaderValue;
use fastly::{Body, Response};
use sluice_core::access;
use sluice_core::error::{ErrorSource, PipelineError};
use sluice_core::http::csp::{BufferedHtml, BufferedOutcome, PolicyHeaders};
use sluice_core::http::{finalize, origin_response, Mode};
use sluice_core::pipeline::{Pipeline, PipelineConfig};
use sluice_core::sink::{ClientSink, Commit};

use super::budget::{self, Append, Switch, Watch};
use crate::lifecycle::pump::{pump, Flow, Pumped};
use crate::lifecycle::{Cx, EdgeError, Outcome};

/// Rewrites the origin body into `committer`, in `mode`.
pub fn rewrite<C>(
    head: Response,
    mut body: Body,
    config: PipelineConfig,
    mode: Mode,
    hashed: Option<PolicyHeaders>,
    committer: C,
    cx: &mut Cx<'_>,
) -> Result<Outcome, Report<EdgeError>>
where
    C: Commit<Head = Response>,
    C::Body: Append,
{
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
    let mut watch = Watch::new(cx.settings.cpu_budget_ms);
    let mut spliced_at: Option<Vec<u8>> = None;
    let mut bytes_in = 0u64;
    let pumped = pump(&mut body, |chunk| {
        bytes_in += chunk.len() as u64;
        if let Switch::Splice = watch.before(&mut pipeline, chunk.len())? {
            spliced_at = Some(chunk.to_vec());
            return Ok(Flow::Stop);
        }
        pipeline.write_chunk(chunk).map(|()| Flow::More)
    });
    cx.record.bytes_in = bytes_in;
    watch.record(cx);
    if cx.stats.spilled() {
        cx.record.mode = Mode::Stream.as_str();
    }
    match pumped {
        Ok(()) => {}
        Err(Pumped::Read(e)) => {
            return Err(Report::new(EdgeError::OriginRead).attach(e.to_string()));
        }
        Err(Pumped::Handler(e)) => return Err(pipeline_error(e)),
    }
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
    let mut bytes_in = 0u64;
    let pumped = pump(&mut body, |chunk| {
        bytes_in += chunk.len() as u64;
        html.write_chunk(chunk).map(|()| Flow::More)
    });
    cx.record.bytes_in = bytes_in;
    match pumped {
        Ok(()) => {}
        Err(Pumped::Read(e)) => {
            return Err(Report::new(EdgeError::OriginRead).attach(e.to_string()))
        }
        Err(Pumped::Handler(e)) => return Err(pipeline_error(e)),
    }
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
                set_policies(head, "content-security-policy", &done.headers.enforce);
                set_policies(
                    head,
                    "content-security-policy-report-only",
                    &done.headers.report_only,
                );
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

/// Replaces a policy header's values.
fn set_policies(head: &mut Response, name: &str, values: &[String]) {
    head.remove_header(name);
    for value in values {
        if let Ok(v) = HeaderValue::from_str(value) {
            head.append_header(name, v);
        }
    }
}

/// A buffered body that outgrew its cap or its wait streams: its head
/// says so. The edge's own `Server-Timing` entry is replaced in place;
/// any other (the cache's) stays as it was.
fn spilled(head: &mut Response, started: Instant) {
    log::warn!("buffered body passed its cap or its wait; streaming instead");
    let buffered = format!("mode;desc={}", Mode::Buffered.as_str());
    let elapsed = access::ms_between(started, Instant::now());
    let stream = origin_response::server_timing(elapsed, Mode::Stream.as_str());
    let values: Vec<HeaderValue> = head
        .get_header_all("server-timing")
        .map(|v| match v.to_str() {
            Ok(t) if t.contains(&buffered) => HeaderValue::from_str(&stream).unwrap_or(v.clone()),
            _ => v.clone(),
        })
        .collect();
    head.remove_header("server-timing");
    for v in values {
        head.append_header("server-timing", v);
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
