//! The CPU budget of a rewrite (`publisher.cpu_budget_ms`): Fastly stops a
//! request after 50 ms of vCPU, so before each origin chunk the rewrite
//! asks [`RewriteWatch`](crate::budget::RewriteWatch) whether it may go
//! on. When it may not, the rest of the body goes out as the origin sent
//! it, and the response still ends complete and valid:
//! - identity in and out: the host appends the unread origin body to the
//!   client stream ([`Append`]), at no guest CPU;
//! - anything encoded: the pipeline stops rewriting and only decodes (or
//!   encodes) the rest (recorded as `decode`);
//! - a buffered body, or a cache fill, whose stream cannot take an append:
//!   the guest copies the identity bytes.

use std::io::{Read, Write};

use super::{pipeline_fault, pump_origin, Append};
use crate::access::BudgetStop;
use crate::context::Cx;
use crate::edge_error::EdgeFault;
use crate::pipeline::{Pipeline, RewriteStop};
use crate::pump::Flow;
use crate::sink::{ClientSink, Commit};

/// Ends a body whose budget ran out with `chunk` in hand: the rewritten
/// part, the bytes the rewriters held back, `chunk`, then the unread
/// origin body, appended by the host when the client stream takes it,
/// else copied.
pub(super) fn splice<C: Commit<Body: Append<R>>, R: Read>(
    pipeline: Pipeline<ClientSink<C>>,
    chunk: &[u8],
    rest: R,
    cx: &mut Cx<'_>,
    vcpu: u64,
) -> Result<(), EdgeFault> {
    let splice = pipeline.into_splice().map_err(pipeline_fault)?;
    let mut sink = splice.writer;
    sink.write_all(&splice.held)
        .and_then(|()| sink.write_all(chunk))
        .map_err(EdgeFault::client_gone)?;
    let left = match sink.committed_body().map_err(EdgeFault::client_gone)? {
        Some(body) => body.append_rest(rest).err(),
        None => Some(rest),
    };
    let how = match left {
        None => "splice",
        Some(mut rest) => {
            let copy = |c: &[u8]| sink.write_all(c).map(|()| Flow::More);
            pump_origin(&mut rest, cx, copy, EdgeFault::client_gone)?;
            "copy"
        }
    };
    note(cx, splice.stop, vcpu, how);
    sink.finish().map_err(EdgeFault::client_gone)
}

/// Records where the budget stopped the rewrite, and how the rest went.
pub(super) fn note(cx: &mut Cx<'_>, stop: RewriteStop, vcpu_ms: u64, rest: &'static str) {
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
