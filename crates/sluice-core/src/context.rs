//! What every phase of one request shares: the settings, what the edge saw
//! of the client, the access line being filled, and the client sink's
//! counters. The adapter builds one per request; the core's drivers take
//! it so they record what they did where the lifecycle reads it.

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::access::{self, AccessRecord};
use crate::edge_error::Style;
use crate::http::ClientView;
use crate::settings::Settings;
use crate::sink::{ClientSink, Commit, Finalizer, SinkStats, SpillHook};

/// One request's shared state.
pub struct Cx<'a> {
    /// When the request arrived.
    pub started: Instant,
    /// The operator's settings.
    pub settings: &'a Settings,
    /// What the edge itself saw of the client.
    pub view: ClientView,
    /// The access line, filled as the request goes.
    pub record: AccessRecord,
    /// The client sink's counters (one client response per request).
    pub stats: Rc<SinkStats>,
    /// How errors are written for this request's route.
    pub style: Style,
}

impl<'a> Cx<'a> {
    /// A request that arrived at `started`, with text errors until its
    /// route says otherwise.
    pub fn new(
        started: Instant,
        settings: &'a Settings,
        view: ClientView,
        record: AccessRecord,
    ) -> Self {
        Self {
            started,
            settings,
            view,
            record,
            stats: Rc::new(SinkStats::default()),
            style: Style::Text,
        }
    }

    /// A sink that commits `head` through `committer` (the client, or a
    /// cache fill that streams back to it) with the first body byte.
    pub fn sink_via<C: Commit>(&self, committer: C, head: C::Head) -> ClientSink<C> {
        ClientSink::streaming(committer, head, Rc::clone(&self.stats))
    }

    /// A sink that holds up to `cap` bytes for `finalize`, streaming past
    /// it (or past `publisher.buffer_max_ms`) after `on_spill`.
    pub fn buffered_sink_via<C: Commit>(
        &self,
        committer: C,
        head: C::Head,
        cap: usize,
        finalize: Finalizer<C::Head>,
        on_spill: SpillHook<C::Head>,
    ) -> ClientSink<C> {
        let stats = Rc::clone(&self.stats);
        let wait = Duration::from_millis(self.settings.buffer_max_ms);
        ClientSink::buffered(committer, head, cap, stats, finalize, on_spill)
            .spill_at(Instant::now() + wait)
    }

    /// Milliseconds since the request arrived.
    pub fn elapsed_ms(&self) -> f64 {
        access::ms_between(self.started, Instant::now())
    }
}
