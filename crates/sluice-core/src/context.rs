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

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// A whole response with this status went to `main` to send.
    Responded(u16),
    /// The response went out through the client sink.
    Sent,
    /// A committed response was broken off; the failure's class.
    Aborted(String),
    /// A failure before commit became this status; its class.
    Answered {
        /// The error status.
        status: u16,
        /// The error class.
        class: String,
    },
}

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

    /// Closes the request: fills the access line's outcome and timings
    /// from how it ended and the sink's counters, and returns the line.
    pub fn close(self, end: End, vcpu_ms: Option<u64>, heap_mib: Option<u32>) -> String {
        let mut record = self.record;
        match end {
            End::Responded(status) => record.status = status,
            End::Sent => {}
            End::Aborted(class) => record.abort = Some(class),
            End::Answered { status, class } => {
                record.status = status;
                record.error_class = Some(class);
            }
        }
        if let Some(status) = self.stats.status() {
            record.status = status;
            record.bytes_out = self.stats.bytes_out();
        }
        let ms = |t| access::ms_between(self.started, t);
        record.ttfb_ms = self.stats.committed_at().map(ms);
        record.total_ms = ms(Instant::now());
        (record.vcpu_ms, record.heap_mib) = (vcpu_ms, heap_mib);
        record.to_line()
    }

    /// Milliseconds since the request arrived.
    pub fn elapsed_ms(&self) -> f64 {
        access::ms_between(self.started, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::stream::drive::fake::Fake;

    fn cx(settings: &Settings) -> Cx<'_> {
        let view = ClientView::from_connection(false, Some("edge.example"), None, None, false);
        Cx::new(
            Instant::now(),
            settings,
            view,
            AccessRecord::for_request("GET", "/p"),
        )
    }

    fn line(cx: Cx<'_>, end: End) -> serde_json::Value {
        serde_json::from_str(&cx.close(end, Some(3), Some(2))).unwrap()
    }

    #[test]
    fn the_sinks_status_and_bytes_win_and_an_abort_keeps_them() {
        let settings = Settings::defaults();
        let cx = cx(&settings);
        let fake = Fake::default();
        let mut sink = cx.sink_via(fake.clone(), fake.head(203));
        sink.write_all(b"hello").unwrap();
        drop(sink);
        let l = line(cx, End::Aborted("origin_read".into()));
        assert_eq!(
            (l["status"].as_u64(), l["bytes_out"].as_u64()),
            (Some(203), Some(5))
        );
        assert_eq!(l["abort"], "origin_read");
        assert!(
            l["ttfb_ms"].is_number() && l["vcpu_ms"] == 3 && l["heap_mib"] == 2,
            "{l}"
        );
    }

    #[test]
    fn an_answered_failure_has_its_status_and_class_and_no_first_byte() {
        let settings = Settings::defaults();
        let l = line(
            cx(&settings),
            End::Answered {
                status: 504,
                class: "origin_timeout".into(),
            },
        );
        assert_eq!(
            (l["status"].as_u64(), l["error_class"].as_str()),
            (Some(504), Some("origin_timeout"))
        );
        assert!(l.get("ttfb_ms").is_none_or(|v| v.is_null()), "{l}");
        let l = line(cx(&settings), End::Responded(304));
        assert_eq!(l["status"], 304);
    }
}
