//! An HTML document whose policy lists hash sources: buffered (to the
//! cap), rewritten, the hashes of the inline scripts and styles the
//! rewrite changed added next to the originals, then sent whole with the
//! completed policy. Over the cap it streams with its policy as it was,
//! and the access line says the policy is incomplete.

use std::io::Read;

use super::{finalized, pipeline_fault, pump_origin, Platform};
use crate::context::Cx;
use crate::edge_error::EdgeFault;
use crate::http::csp::{BufferedHtml, BufferedOutcome, PolicyHeaders};
use crate::http::Mode;
use crate::pipeline::PipelineConfig;
use crate::pump::Flow;
use crate::sink::Commit;

/// Rewrites `body` and completes the policy's hashes.
pub(super) fn complete<P, C>(
    head: C::Head,
    mut body: impl Read,
    config: PipelineConfig,
    policies: PolicyHeaders,
    committer: C,
    cx: &mut Cx<'_>,
) -> Result<(), EdgeFault>
where
    P: Platform<Head = C::Head>,
    C: Commit,
{
    let cap = cx.settings.buffer_max_bytes;
    let sink = cx.sink_via(committer, head);
    let mut html = BufferedHtml::new(config, policies, cap, sink).map_err(pipeline_fault)?;
    let each = |chunk: &[u8]| html.write_chunk(chunk).map(|()| Flow::More);
    pump_origin(&mut body, cx, each, pipeline_fault)?;
    match html.finish().map_err(pipeline_fault)? {
        BufferedOutcome::Complete(done) => {
            cx.record.csp = Some(match done.hashes {
                Ok(_) => "complete",
                Err(_) => "incomplete",
            });
            let mut sink = done.writer;
            if let Some(head) = sink.head_mut() {
                P::set_all(head, "content-security-policy", &done.headers.enforce);
                let report_only = &done.headers.report_only;
                P::set_all(head, "content-security-policy-report-only", report_only);
                finalized::<P>(head, &done.body);
            }
            sink.finish_whole(done.body).map_err(EdgeFault::client_gone)
        }
        BufferedOutcome::Streamed { writer, .. } => {
            log::warn!(
                "a hash policy's page passed the buffer cap; streamed with its policy incomplete"
            );
            cx.record.csp = Some("incomplete");
            cx.record.mode = Mode::Stream.as_str();
            writer.finish().map_err(EdgeFault::client_gone)
        }
    }
}
