//! After the origin's head: whether the rewritten answer is stored, and
//! the fill's committer when it is.

use std::time::{Duration, SystemTime};

use fastly::http::header;
use sluice_core::cache::delivery::{Outcome as Delivered, PassReason};
use sluice_core::cache::fill::{Admission, FillBudget};
use sluice_core::cache::policy::{self, Decision};
use sluice_core::cache::NotStored;
use sluice_core::encoding::ContentEncoding;
use sluice_core::http::headers::values;

use super::{hit_for_pass, note, Fill, Inserter};
use crate::lifecycle::message::Parts;
use crate::lifecycle::Cx;

/// The cache's decision for an origin answer this request must fill.
pub enum Stored {
    /// Store it: the committer that inserts and streams back.
    Fill(Inserter),
    /// Do not store it (a marker may say so to others).
    Pass(Delivered),
}

/// Decides from the origin's head (before the visitor's part) whether the
/// rewritten answer is stored.
pub fn decide(
    fill: Fill,
    origin: &Parts,
    authorized: bool,
    input: ContentEncoding,
    path: &str,
    cx: &mut Cx<'_>,
) -> Stored {
    let (h, status) = (&origin.head.headers, origin.status());
    let now = SystemTime::now();
    let decision = policy::decide_head(status, h, authorized, &cx.settings.cache, now);
    let store = match decision {
        Decision::Store(store) => store,
        Decision::DoNotStore(reason) => {
            return Stored::Pass(not_stored(fill, reason, origin.status(), cx))
        }
    };
    let length = origin
        .header(header::CONTENT_LENGTH.as_str())
        .and_then(|v| v.parse().ok());
    let max = cx.settings.cache.max_object_bytes;
    match FillBudget::admit(max, length, input == ContentEncoding::Identity) {
        Admission::Fill(budget) => {
            let keys: Vec<&str> = values(h, "surrogate-key").collect();
            let mut random = [0u8; 16];
            let random = getrandom::fill(&mut random).ok().map(|()| random);
            Stored::Fill(fill.store(store, path, &keys, budget, random))
        }
        Admission::TooLarge => {
            Stored::Pass(not_stored(fill, NotStored::TooLarge, origin.status(), cx))
        }
    }
}

/// Leaves the entry unfilled and says so. A marker tells waiting and later
/// requests to pass at once when the reason lies in the response, but
/// never for a server error: a passing origin failure must not keep a page
/// out of the cache for the marker's lifetime.
pub fn not_stored(fill: Fill, reason: NotStored, status: u16, cx: &mut Cx<'_>) -> Delivered {
    let marker = match status {
        500.. => Duration::ZERO,
        _ => hit_for_pass(cx),
    };
    fill.pass(reason, marker);
    let delivered = Delivered::Pass(PassReason::NotStored(reason));
    note(cx, delivered);
    delivered
}
