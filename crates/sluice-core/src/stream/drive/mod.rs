//! The loops that carry a planned stream to the client, generic over the
//! platform: a body is any `Read`, the client any [`Commit`]. The sessions
//! decide; these loops only perform what they are told, in order, and say
//! how the request ended. The adapter supplies Fastly's bodies, sends and
//! sleeps; the tests below supply scripted ones.

mod dispatch;
mod hosted;
mod upstream;

pub use dispatch::{run_dispatch, DispatchEnd, DispatchHost};
pub use hosted::relay_hosted;
pub use upstream::{fail_upstream, feed_upstream, upstream_detail};

use crate::sink::{Commit, Downstream};
use crate::stream::ResponseHead;

/// A client that a planned stream's own head can be committed to.
pub trait Planned: Commit + Sized {
    /// The committer and the platform's head for a session's head.
    fn planned(head: &ResponseHead) -> (Self, Self::Head);
}

/// Milliseconds since `started` on the monotonic clock: the clock a
/// session's deadlines and the access line's durations are read on.
pub fn ms_since(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Prepares a session's head on the downstream (the first one wins).
fn prepare<C: Planned>(down: &mut Downstream<C>, head: &ResponseHead) {
    let (committer, head) = C::planned(head);
    down.prepare(committer, head);
}

#[cfg(test)]
pub(crate) mod fake;
