//! The CPU budget of a rewrite (`publisher.cpu_budget_ms`): Fastly stops a
//! request after 50 ms of vCPU, so before each origin chunk the rewrite
//! asks `sluice_core::budget::RewriteWatch` whether it may go on. When it
//! may not, the rest of the body goes out as the origin sent it, and the
//! response still ends complete and valid:
//! - identity in and out: the host appends the unread origin body to the
//!   client stream (`StreamingBody::append`), at no guest CPU;
//! - anything encoded: the pipeline stops rewriting and only decodes (or
//!   encodes) the rest;
//! - a buffered body, or a cache fill, whose stream cannot take an append:
//!   the guest copies the identity bytes.

use std::io::Write;

use error_stack::Report;
use fastly::http::body::StreamingBody;
use fastly::{Body, Response};
use sluice_core::access::BudgetStop;
use sluice_core::budget::RewriteWatch;
use sluice_core::pipeline::{Pipeline, RewriteStop};
use sluice_core::sink::{ClientSink, Commit};

use super::body::pipeline_error;
use crate::cache::FillBody;
use crate::lifecycle::{Cx, EdgeError};
use sluice_core::pump::{pump, Flow, Pumped};

/// A client body the rest of the origin body can be appended to.
pub trait Append {
    /// Appends `rest` for the host to send after what was written, or
    /// gives it back when this body cannot take it.
    fn append_rest(&mut self, rest: Body) -> Result<(), Body>;
}

impl Append for StreamingBody {
    fn append_rest(&mut self, rest: Body) -> Result<(), Body> {
        // `append` flushes too, and panics if that fails: flush first so
        // a client that went away is an error here, not a panic there.
        if self.flush().is_err() {
            return Err(rest);
        }
        self.append(rest);
        Ok(())
    }
}

impl Append for FillBody {
    /// The entry's body counts what it stores against
    /// `cache.max_object_bytes`; an append would bypass that count, so the
    /// guest copies instead.
    fn append_rest(&mut self, rest: Body) -> Result<(), Body> {
        Err(rest)
    }
}

/// Records a decode-only stop in the access line.
pub fn record(watch: &RewriteWatch, cx: &mut Cx<'_>) {
    if let Some((stop, vcpu)) = watch.stopped() {
        note(cx, stop, vcpu, "decode");
    }
}

/// Ends a body whose budget ran out with `chunk` in hand: the rewritten
/// part, the bytes the rewriters held back, `chunk`, then the unread
/// origin body, appended by the host when the client stream takes it,
/// else copied.
pub fn splice<C>(
    pipeline: Pipeline<ClientSink<C>>,
    chunk: &[u8],
    mut rest: Body,
    cx: &mut Cx<'_>,
) -> Result<(), Report<EdgeError>>
where
    C: Commit<Head = Response>,
    C::Body: Append,
{
    let vcpu = vcpu_ms();
    let splice = pipeline.into_splice().map_err(pipeline_error)?;
    let gone = |e: std::io::Error| Report::new(EdgeError::ClientGone).attach(e.to_string());
    let mut sink = splice.writer;
    sink.write_all(&splice.held).map_err(gone)?;
    sink.write_all(chunk).map_err(gone)?;
    let left = match sink.committed_body().map_err(gone)? {
        Some(body) => body.append_rest(rest).err(),
        None => Some(rest),
    };
    let how = match left {
        None => "splice",
        Some(body) => {
            rest = body;
            let copied = pump(&mut rest, |c| sink.write_all(c).map(|()| Flow::More));
            match copied {
                Ok(()) => {}
                Err(Pumped::Read(e)) => {
                    return Err(Report::new(EdgeError::OriginRead).attach(e.to_string()))
                }
                Err(Pumped::Handler(e)) => return Err(gone(e)),
            }
            "copy"
        }
    };
    note(cx, splice.stop, vcpu, how);
    sink.finish().map_err(gone)
}

fn note(cx: &mut Cx<'_>, stop: RewriteStop, vcpu_ms: u64, rest: &'static str) {
    log::info!(
        "cpu budget reached at decoded byte {}; the rest goes out as the origin sent it ({rest})",
        stop.decoded_offset
    );
    cx.record.cpu_budget = Some(BudgetStop {
        at_byte: stop.decoded_offset,
        bytes_in: stop.bytes_in,
        vcpu_ms,
        rest,
    });
}

/// The request's guest vCPU so far; an unreadable clock reads as no time
/// spent (the budget then never stops, as before it existed).
pub fn vcpu_ms() -> u64 {
    fastly::compute_runtime::elapsed_vcpu_ms().unwrap_or(0)
}
