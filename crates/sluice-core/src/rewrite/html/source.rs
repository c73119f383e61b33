//! The HTML stage's view of its input, and what the handlers record.
//!
//! lol_html runs with handlers that never mutate anything, so its output is
//! exactly its input; its output sink therefore only tells us how far the
//! source has been emitted. The handlers cannot see the bytes of the chunk
//! being written (lol_html borrows it only for the call), so they record
//! source positions ([`Item`]s) in [`Shared`]; after `write` returns, the
//! stage reads the tags from the [`Input`] (the bytes held back from
//! earlier writes, then the new chunk, read where it is rather than copied)
//! and turns the items into [`Event`]s that it applies while copying the
//! input on. Offsets are absolute `u64` positions in the decoded body.

use std::collections::VecDeque;

use crate::error::PipelineError;

/// What a handler saw, recorded during `write`, in source order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Item {
    /// A start tag occupies `start..end`.
    Tag { start: u64, end: u64 },
    /// A comment occupies `start..end`.
    Comment { start: u64, end: u64 },
    /// Raw text of a `<script>`/`<style>`/`<noscript>` starts here.
    RegionStart(u64),
    /// The raw text ends here (where its end tag starts).
    RegionEnd(u64),
}

/// Something to do at a source position while copying the input on.
#[derive(Debug)]
pub(super) enum Event {
    /// Replace `start..end` (a start tag or a comment) with the bytes at
    /// `bytes` in [`Queue::edits`] (one buffer for all edits rather
    /// than a `Vec` each: an allocation per rewritten tag showed up in the
    /// profile).
    Edit {
        start: u64,
        end: u64,
        bytes: std::ops::Range<usize>,
    },
    /// Raw text starts here: stream it through the byte replacer.
    RegionStart(u64),
    /// The raw text ends here.
    RegionEnd(u64),
}

impl Event {
    pub(super) fn start(&self) -> u64 {
        match self {
            Self::Edit { start, .. } => *start,
            Self::RegionStart(p) | Self::RegionEnd(p) => *p,
        }
    }

    pub(super) fn end(&self) -> u64 {
        match self {
            Self::Edit { end, .. } => *end,
            Self::RegionStart(p) | Self::RegionEnd(p) => *p,
        }
    }
}

/// The events not applied yet, in source order, and the bytes of their
/// edits.
#[derive(Debug, Default)]
pub(super) struct Queue {
    pub(super) events: VecDeque<Event>,
    /// The bytes of the queued edits (see [`Event::Edit`]).
    pub(super) edits: Vec<u8>,
    /// End of the last queued event: events must arrive in source order.
    last_end: u64,
}

impl Queue {
    /// Queues an event; it must not point at bytes already copied on
    /// (before `processed`) or before an earlier event (that would mean we
    /// missed our chance to apply it).
    pub(super) fn push(&mut self, processed: u64, event: Event) -> Result<(), PipelineError> {
        if event.start() < processed || event.start() < self.last_end {
            return Err(PipelineError::internal(
                "an HTML edit arrived after its bytes were emitted",
            ));
        }
        self.last_end = event.end();
        self.events.push_back(event);
        Ok(())
    }

    /// Drops the bytes of the edits already applied: all of them when no
    /// edit is queued (the usual case after a write), else those before
    /// the first queued one, moving the ranges of the queued ones down.
    pub(super) fn release_edits(&mut self) {
        let first = self.events.iter().find_map(|e| match e {
            Event::Edit { bytes, .. } => Some(bytes.start),
            _ => None,
        });
        match first {
            None => self.edits.clear(),
            Some(0) => {}
            Some(k) => {
                self.edits.drain(..k);
                for e in &mut self.events {
                    if let Event::Edit { bytes, .. } = e {
                        *bytes = bytes.start - k..bytes.end - k;
                    }
                }
            }
        }
    }
}

/// The state lol_html's handlers and output sink share with the stage
/// during one `write`.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// Absolute position of the first byte lol_html has not emitted before
    /// this write began (the stage's input base), for [`Shared::abs`].
    pub(super) base: u64,
    /// Absolute position up to which lol_html has emitted.
    pub(super) lol_out: u64,
    /// What the handlers saw during this write.
    pub(super) items: Vec<Item>,
    /// End of the last item recorded, or `base` when none has been this
    /// write: kept here so that a handler's order check does not have to
    /// look at the last item.
    last_end: u64,
    /// An error raised inside a handler, reported after lol_html returns.
    pub(super) fault: Option<PipelineError>,
    /// Debug builds: the bytes lol_html emitted during this write, checked
    /// against the input afterwards.
    pub(super) echo: Vec<u8>,
}

impl Shared {
    /// Sets the input base for the next write (see [`Shared::base`]).
    pub(super) fn set_base(&mut self, base: u64) {
        self.base = base;
        self.last_end = base;
    }

    /// Converts a lol_html source offset (a `usize`, which wraps past 4 GiB
    /// on wasm32) to an absolute position, using the fact that it always
    /// lies within the input not yet emitted.
    pub(super) fn abs(&self, pos: usize) -> u64 {
        // `as` truncation is intended: we work modulo the platform's usize.
        let rel = pos.wrapping_sub(self.base as usize);
        self.base.wrapping_add(rel as u64)
    }

    /// Records an item; items must come in source order.
    pub(super) fn record(&mut self, item: Item) -> Result<(), PipelineError> {
        let (start, end) = match item {
            Item::Tag { start, end } | Item::Comment { start, end } => (start, end),
            Item::RegionStart(p) | Item::RegionEnd(p) => (p, p),
        };
        if start < self.last_end {
            return Err(PipelineError::internal(
                "lol_html reported HTML out of source order",
            ));
        }
        self.last_end = end;
        self.items.push(item);
        Ok(())
    }
}

/// The bytes lol_html has not emitted yet: what earlier writes left
/// (`held`, from absolute position `base`), then the chunk of this write.
#[derive(Debug, Clone, Copy)]
pub(super) struct Input<'a> {
    pub(super) base: u64,
    pub(super) held: &'a [u8],
    pub(super) chunk: &'a [u8],
}

impl<'a> Input<'a> {
    /// Absolute position of the chunk's first byte.
    pub(super) fn chunk_start(&self) -> u64 {
        self.base + self.held.len() as u64
    }

    /// Absolute position just past the input.
    pub(super) fn end(&self) -> u64 {
        self.chunk_start() + self.chunk.len() as u64
    }

    /// The bytes between two absolute positions, as the part in `held` and
    /// the part in `chunk` (either may be empty); `None` outside the input.
    pub(super) fn slices(&self, from: u64, to: u64) -> Option<(&'a [u8], &'a [u8])> {
        if from > to || from < self.base || to > self.end() {
            return None;
        }
        let split = self.chunk_start();
        let local = |p: u64, origin: u64| usize::try_from(p - origin).ok();
        let held = if from < split {
            self.held
                .get(local(from, self.base)?..local(to.min(split), self.base)?)?
        } else {
            &[]
        };
        let chunk = if to > split {
            self.chunk
                .get(local(from.max(split), split)?..local(to, split)?)?
        } else {
            &[]
        };
        Some((held, chunk))
    }

    /// Calls `f` with the bytes between two absolute positions in one
    /// piece: borrowed where they lie in one part, joined in `scratch` in
    /// the rare case they straddle both (a tag cut by a chunk boundary).
    pub(super) fn with_contiguous<T>(
        &self,
        from: u64,
        to: u64,
        scratch: &mut Vec<u8>,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Option<T> {
        let (a, b) = self.slices(from, to)?;
        if b.is_empty() {
            return Some(f(a));
        }
        if a.is_empty() {
            return Some(f(b));
        }
        scratch.clear();
        scratch.extend_from_slice(a);
        scratch.extend_from_slice(b);
        Some(f(scratch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_slices_split_at_the_chunk() {
        let input = Input {
            base: 10,
            held: b"abc",
            chunk: b"defg",
        };
        assert_eq!(input.chunk_start(), 13);
        assert_eq!(input.end(), 17);
        assert_eq!(input.slices(10, 17), Some((&b"abc"[..], &b"defg"[..])));
        assert_eq!(input.slices(11, 12), Some((&b"b"[..], &b""[..])));
        assert_eq!(input.slices(13, 15), Some((&b""[..], &b"de"[..])));
        assert_eq!(input.slices(12, 14), Some((&b"c"[..], &b"d"[..])));
        assert_eq!(input.slices(13, 13), Some((&b""[..], &b""[..])));
        assert_eq!(input.slices(9, 12), None);
        assert_eq!(input.slices(12, 18), None);
        assert_eq!(input.slices(14, 12), None);
        let mut scratch = Vec::new();
        let joined = input.with_contiguous(11, 15, &mut scratch, <[u8]>::to_vec);
        assert_eq!(joined.as_deref(), Some(&b"bcde"[..]));
        let inside = input.with_contiguous(14, 16, &mut scratch, <[u8]>::to_vec);
        assert_eq!(inside.as_deref(), Some(&b"ef"[..]));
    }

    #[test]
    fn items_must_come_in_source_order() {
        let mut s = Shared::default();
        s.set_base(5);
        assert!(s.record(Item::RegionStart(4)).is_err());
        assert!(s.record(Item::Tag { start: 5, end: 9 }).is_ok());
        assert!(s.record(Item::RegionStart(9)).is_ok());
        assert!(s.record(Item::Comment { start: 8, end: 12 }).is_err());
        assert!(s.record(Item::RegionEnd(20)).is_ok());
    }

    #[test]
    fn released_edit_bytes_keep_the_queued_ranges() {
        let mut q = Queue::default();
        q.edits.extend_from_slice(b"aaabbb");
        let edit = |start, bytes| Event::Edit {
            start,
            end: start + 1,
            bytes,
        };
        q.push(0, edit(0, 0..3)).unwrap();
        q.push(0, Event::RegionStart(5)).unwrap();
        q.push(0, edit(6, 3..6)).unwrap();
        assert!(q.push(0, edit(6, 6..6)).is_err());
        q.release_edits();
        assert_eq!(q.edits, b"aaabbb");
        q.events.pop_front();
        q.release_edits();
        assert_eq!(q.edits, b"bbb");
        match &q.events[1] {
            Event::Edit { bytes, .. } => assert_eq!(&q.edits[bytes.clone()], b"bbb"),
            other => panic!("{other:?}"),
        }
        q.events.clear();
        q.release_edits();
        assert!(q.edits.is_empty());
    }
}
