//! The edge cache: a rewritten response is computed once and then served
//! from Fastly's core cache to everyone who asks next.
//!
//! Before the origin, [`lookup`] asks the cache (a transaction for `GET`,
//! so concurrent misses collapse onto one fill; a plain read for `HEAD`
//! and ranges). A hit hands the cached body handle to the host: no guest
//! copy. A miss returns a [`Fill`], the sink's committer that inserts the
//! entry at the first byte and lets the client stream it while it is
//! written. Every decision (plan, key, vary, freshness, 304s, headers) is
//! `sluice_core::cache`'s; this module only calls the cache.

mod fill;
mod lookup;
mod store;

use std::time::Duration;

use sluice_core::cache::delivery::{Outcome as Delivered, PassReason};

pub use fill::{Fill, Inserter};
pub use lookup::{lookup, serve_found};
pub use store::{decide, not_stored, Stored};

use crate::lifecycle::{Cx, Outcome};

/// What the cache did with a request.
// One value per request, never moved in a loop: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Cached {
    /// Answered from the cache.
    Answered(Outcome),
    /// Go to the origin; with a fill when this request must store the
    /// answer.
    Fetch {
        /// The fill this request owes the cache.
        fill: Option<Fill>,
        /// What the response will say it was (`MISS` or `PASS`).
        delivered: Delivered,
    },
}

/// Goes to the origin without a fill, and says why.
fn pass(cx: &mut Cx<'_>, reason: PassReason) -> Cached {
    let delivered = Delivered::Pass(reason);
    note(cx, delivered);
    Cached::Fetch {
        fill: None,
        delivered,
    }
}

/// Records what the cache did, for the access line.
pub fn note(cx: &mut Cx<'_>, delivered: Delivered) {
    cx.record.cache = Some(delivered.as_str());
    cx.record.cache_pass = match delivered {
        Delivered::Pass(reason) => Some(reason.as_str()),
        _ => None,
    };
}

/// How long a hit-for-pass marker lives.
pub fn hit_for_pass(cx: &Cx<'_>) -> Duration {
    Duration::from_secs(cx.settings.cache.hit_for_pass_s)
}
