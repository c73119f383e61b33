//! The source window: input bytes lol_html has received but not yet
//! emitted, plus the edits the element handlers queued against them.
//!
//! lol_html runs with handlers that never mutate anything, so its output is
//! exactly its input; its output sink therefore only tells us how far the
//! source has been emitted (and we verify the bytes match). Handlers read
//! raw attribute values from this window by their source byte ranges and
//! queue [`Event`]s; the stage applies them while copying the window on.
//! Offsets are absolute `u64` positions in the decoded body.

use std::collections::VecDeque;
use std::ops::Range;

use crate::error::PipelineError;
use crate::rewrite::rules::Markers;

/// Something to do at a source position while copying the window on.
#[derive(Debug)]
pub(super) enum Event {
    /// Replace `start..end` (an attribute value) with `bytes`.
    Edit {
        start: u64,
        end: u64,
        bytes: Vec<u8>,
    },
    /// Raw text of a `<script>`/`<style>` starts here: stream it through
    /// the byte replacer.
    RegionStart(u64),
    /// The raw text ends here (where its end tag starts).
    RegionEnd(u64),
}

impl Event {
    pub(super) fn start(&self) -> u64 {
        match self {
            Self::Edit { start, .. } => *start,
            Self::RegionStart(p) | Self::RegionEnd(p) => *p,
        }
    }

    fn end(&self) -> u64 {
        match self {
            Self::Edit { end, .. } => *end,
            Self::RegionStart(p) | Self::RegionEnd(p) => *p,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Source {
    /// Bytes from `base` on that have not been copied on yet.
    pub(super) window: Vec<u8>,
    /// Absolute position of `window[0]`.
    pub(super) base: u64,
    /// Absolute position up to which lol_html has emitted.
    pub(super) lol_out: u64,
    pub(super) events: VecDeque<Event>,
    /// End of the last queued event: events must arrive in source order.
    last_event_end: u64,
    /// An error raised inside a handler or the sink, reported after
    /// lol_html returns.
    pub(super) fault: Option<PipelineError>,
    /// URLs rewritten in attribute values.
    pub(super) rewritten: u64,
    /// The marker cursor over `window` that the element handler shares
    /// across the tags of one write (see
    /// [`crate::rewrite::RewriteRules::may_match_within`]); reset whenever
    /// `window` changes.
    pub(super) markers: Markers,
}

impl Source {
    /// Converts a lol_html source offset (a `usize`, which wraps past 4 GiB
    /// on wasm32) to an absolute position, using the fact that it always
    /// lies within the window.
    pub(super) fn abs(&self, pos: usize) -> u64 {
        // `as` truncation is intended: we work modulo the platform's usize.
        let rel = pos.wrapping_sub(self.base as usize);
        self.base.wrapping_add(rel as u64)
    }

    /// The raw bytes of a lol_html source range, if they are in the window.
    pub(super) fn slice(&self, range: Range<usize>) -> Option<&[u8]> {
        self.window.get(self.local(range)?)
    }

    /// A lol_html source range as indices into `window` (not checked
    /// against its length).
    pub(super) fn local(&self, range: Range<usize>) -> Option<Range<usize>> {
        let start = usize::try_from(self.abs(range.start).checked_sub(self.base)?).ok()?;
        Some(start..start.checked_add(range.len())?)
    }

    /// The window changed: positions the marker cursor remembers are stale.
    pub(super) fn window_changed(&mut self) {
        self.markers = Markers::default();
    }

    /// The window bytes between two absolute positions.
    pub(super) fn range(&self, from: u64, to: u64) -> Option<&[u8]> {
        let a = usize::try_from(from.checked_sub(self.base)?).ok()?;
        let b = usize::try_from(to.checked_sub(self.base)?).ok()?;
        self.window.get(a..b)
    }

    /// Queues an event; it must not point at bytes already emitted or
    /// before an earlier event (that would mean we missed our chance to
    /// apply it).
    pub(super) fn push_event(&mut self, event: Event) -> Result<(), PipelineError> {
        if event.start() < self.lol_out || event.start() < self.last_event_end {
            return Err(PipelineError::internal(
                "an HTML edit arrived after its bytes were emitted",
            ));
        }
        self.last_event_end = event.end();
        self.events.push_back(event);
        Ok(())
    }

    /// lol_html emitted `chunk`: it must be the next window bytes.
    ///
    /// Release builds compare the chunk's length and its first and last
    /// bytes, which catches any shift between lol_html's output and our
    /// positions at O(1) per chunk; lol_html calls this once per token, and
    /// a full comparison cost ~2% of the HTML rewrite. Debug builds (and so
    /// the unit tests and the fuzzer) compare every byte.
    pub(super) fn on_output(&mut self, chunk: &[u8]) {
        if chunk.is_empty() || self.fault.is_some() {
            return;
        }
        let same = self
            .range(self.lol_out, self.lol_out + chunk.len() as u64)
            .is_some_and(|w| {
                if cfg!(debug_assertions) {
                    w == chunk
                } else {
                    w.first() == chunk.first() && w.last() == chunk.last()
                }
            });
        if same {
            self.lol_out += chunk.len() as u64;
        } else {
            self.fault = Some(PipelineError::internal(
                "lol_html output differs from its input",
            ));
        }
    }
}
