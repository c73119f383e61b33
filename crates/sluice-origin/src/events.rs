//! The origin's event log: what it sent, received and noticed, so a test can
//! prove the edge closed an origin connection promptly or forwarded an
//! upload intact. Served as JSON by `GET /__events`, cleared by
//! `DELETE /__events`.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// At most this many events are kept; older ones are dropped first, so a
/// long benchmark cannot grow the log without bound.
pub const EVENT_LOG_CAP: usize = 50_000;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A request arrived (every route except `/__events` and `/healthz`):
    /// `detail` has its `method` and raw `query`, so a test can count what
    /// reached the origin.
    Request,
    /// A response body was handed to the connection in full.
    DownloadComplete,
    /// A response body stopped early: `detail.reason` is `client_gone` (the
    /// connection closed or failed under us) or `origin_reset` (an injected
    /// `reset_after` / `fail_after`).
    DownloadAborted,
    /// A request body was received in full.
    Upload,
    /// A request body ended early (client abort or malformed framing).
    UploadIncomplete,
    /// A mock LLM request was accepted (authorised, body parsed).
    LlmRequest,
    /// A mock LLM request was refused with 401.
    LlmRejected,
    /// The client went away in the middle of a mock LLM completion.
    LlmCancelled,
    /// A dispatch step was served (reserved for the dispatch endpoints).
    DispatchStep,
    /// A dispatch stream was closed (reserved for the dispatch endpoints).
    DispatchClose,
}

/// One recorded event, exactly as `GET /__events` serialises it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Process-wide sequence number, starting at 1; never reused, even
    /// after a clear, so `?since=` works across clears.
    pub seq: u64,
    /// What happened.
    pub kind: EventKind,
    /// Request path (without the query).
    pub path: String,
    /// Body bytes written (downloads) or received (uploads); 0 otherwise.
    pub bytes: u64,
    /// When it was recorded, in Unix milliseconds.
    pub at_ms: u64,
    /// Kind-specific extra fields (see the README), or `null`.
    pub detail: serde_json::Value,
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    events: VecDeque<Event>,
}

/// A bounded, thread-safe, append-only log of [`Event`]s.
#[derive(Debug, Default)]
pub struct EventLog {
    inner: Mutex<Inner>,
}

/// Which events [`EventLog::snapshot`] returns.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this kind (serde name, e.g. `download_aborted`).
    pub kind: Option<String>,
    /// Only this exact path.
    pub path: Option<String>,
    /// Only events with `seq > since`.
    pub since: Option<u64>,
}

impl EventLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an event stamped with the current time; returns its `seq`.
    pub fn record(
        &self,
        kind: EventKind,
        path: &str,
        bytes: u64,
        detail: serde_json::Value,
    ) -> u64 {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        g.next_seq += 1;
        let seq = g.next_seq;
        if g.events.len() >= EVENT_LOG_CAP {
            g.events.pop_front();
        }
        g.events.push_back(Event {
            seq,
            kind,
            path: path.to_owned(),
            bytes,
            at_ms: unix_ms(),
            detail,
        });
        log::debug!("event {seq} {kind:?} {path} {bytes}");
        seq
    }

    /// The events matching `filter`, oldest first.
    pub fn snapshot(&self, filter: &EventFilter) -> Vec<Event> {
        let g = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        g.events
            .iter()
            .filter(|e| filter.since.is_none_or(|s| e.seq > s))
            .filter(|e| filter.path.as_deref().is_none_or(|p| e.path == p))
            .filter(|e| {
                filter.kind.as_deref().is_none_or(|k| {
                    serde_json::to_value(e.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(|s| s == k))
                        .unwrap_or(false)
                })
            })
            .cloned()
            .collect()
    }

    /// Removes every event (sequence numbers keep counting).
    pub fn clear(&self) {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        g.events.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_filter_clear_and_serde_shape() {
        let log = EventLog::new();
        log.record(
            EventKind::Upload,
            "/upload",
            10,
            serde_json::json!({"sha256": "x"}),
        );
        log.record(
            EventKind::DownloadAborted,
            "/bytes/9",
            3,
            serde_json::Value::Null,
        );
        let all = log.snapshot(&EventFilter::default());
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].seq, 1);
        let v = serde_json::to_value(&all[1]).unwrap();
        assert_eq!(v["kind"], "download_aborted");
        assert_eq!(v["bytes"], 3);
        let only = log.snapshot(&EventFilter {
            kind: Some("upload".into()),
            ..Default::default()
        });
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].path, "/upload");
        let since = log.snapshot(&EventFilter {
            since: Some(1),
            ..Default::default()
        });
        assert_eq!(since.len(), 1);
        log.clear();
        assert!(log.snapshot(&EventFilter::default()).is_empty());
        assert_eq!(
            log.record(EventKind::Upload, "/u", 0, serde_json::Value::Null),
            3
        );
    }
}
