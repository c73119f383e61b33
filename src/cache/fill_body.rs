//! The body of an entry being filled: what the pipeline writes goes into
//! the cache (and streams back to the client from there), counted against
//! `cache.max_object_bytes`.

use std::io::{self, Write};

use fastly::http::body::StreamingBody;
use sluice_core::cache::fill::{FillBudget, FillStep};

/// The entry's body as the pipeline writes it; counts against the object
/// budget. `cached` is false when the insert could not be made and the
/// body goes straight to the client.
pub struct FillBody {
    pub(super) body: StreamingBody,
    pub(super) budget: Option<FillBudget>,
    pub(super) cached: bool,
}

impl Write for FillBody {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.body.write(buf)?;
        if let Some(budget) = self.budget.as_mut() {
            if budget.record(n) == FillStep::TooLarge {
                log::warn!("cache fill passed cache.max_object_bytes; the entry will not be kept");
                self.budget = None;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.body.flush()
    }
}

impl sluice_core::page::Append<fastly::Body> for FillBody {
    /// The entry's body counts what it stores against
    /// `cache.max_object_bytes`; an append would bypass that count, so the
    /// guest copies instead.
    fn append_rest(&mut self, rest: fastly::Body) -> Result<(), fastly::Body> {
        Err(rest)
    }
}
