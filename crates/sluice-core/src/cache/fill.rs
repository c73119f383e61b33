//! Filling an entry: the size budget and the dead-fill check.
//!
//! A rewritten body's length is rarely known before it is written (the
//! rewrite changes it, and the origin's `Content-Length` counts encoded
//! bytes). [`FillBudget`] admits what can be judged up front and counts
//! the rest as it is written; when a fill goes over
//! `cache.max_object_bytes` the adapter abandons the cache body (and
//! purges its fill key), while the client's own stream carries on. The
//! default limit stays well under Fastly's 100 MB per-object ceiling, so
//! sluice always stops a fill itself, cleanly, before the platform would.
//!
//! [`is_dead_fill`] recognises an entry whose fill died without the guest
//! being able to purge it (a trap, the guest's time limit): it has no
//! known length long after any fill could still be running.

use std::time::Duration;

/// Longer than any guest can run on Fastly (2 minutes wall clock), so a
/// fill older than this has either finished or died.
pub const FILL_DEADLINE: Duration = Duration::from_secs(130);

/// Whether to start a fill, judged from the origin's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Fill, counting bytes with the budget.
    Fill(FillBudget),
    /// Known to be too large: do not fill.
    TooLarge,
}

/// Counts the bytes written into a fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillBudget {
    max: u64,
    written: u64,
}

/// After a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillStep {
    /// Keep writing to the cache.
    Continue,
    /// Over the limit: abandon the cache body now (the client stream
    /// goes on).
    TooLarge,
}

impl FillBudget {
    /// Decides from the origin's `Content-Length` and `Content-Encoding`.
    /// Only an identity body's length says anything about the rewritten
    /// size (rewriting changes it by a few bytes per URL); an encoded one
    /// is judged while written.
    pub fn admit(max: u64, origin_content_length: Option<u64>, origin_identity: bool) -> Admission {
        match origin_content_length {
            Some(len) if origin_identity && len > max => Admission::TooLarge,
            _ => Admission::Fill(Self { max, written: 0 }),
        }
    }

    /// Records `n` bytes about to be written to the cache body.
    pub fn record(&mut self, n: usize) -> FillStep {
        self.written = self.written.saturating_add(n as u64);
        if self.written > self.max {
            FillStep::TooLarge
        } else {
            FillStep::Continue
        }
    }

    /// Bytes recorded so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

/// True for an entry whose fill can no longer be running and never
/// completed: its length is still unknown although more than
/// [`FILL_DEADLINE`] passed since it was inserted. `age` is
/// `Found::age()`, which includes the origin's initial age, so that is
/// subtracted first.
///
/// Only valid for entries inserted without `known_length` (a promised
/// length is reported even for a dead fill).
pub fn is_dead_fill(known_length: Option<u64>, age: Duration, initial_age: Duration) -> bool {
    known_length.is_none() && age.saturating_sub(initial_age) > FILL_DEADLINE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_uses_identity_lengths_only() {
        assert_eq!(FillBudget::admit(100, Some(101), true), Admission::TooLarge);
        assert!(matches!(
            FillBudget::admit(100, Some(100), true),
            Admission::Fill(_)
        ));
        assert!(matches!(
            FillBudget::admit(100, Some(1_000), false),
            Admission::Fill(_)
        ));
        assert!(matches!(
            FillBudget::admit(100, None, true),
            Admission::Fill(_)
        ));
    }

    #[test]
    fn budget_stops_past_the_limit() {
        let Admission::Fill(mut b) = FillBudget::admit(10, None, false) else {
            unreachable!()
        };
        assert_eq!(b.record(4), FillStep::Continue);
        assert_eq!(b.record(6), FillStep::Continue);
        assert_eq!(b.written(), 10);
        assert_eq!(b.record(1), FillStep::TooLarge);
        assert_eq!(b.record(0), FillStep::TooLarge, "stays over");
    }

    #[test]
    fn dead_fill() {
        let s = Duration::from_secs;
        assert!(!is_dead_fill(Some(10), s(10_000), s(0)));
        assert!(!is_dead_fill(None, s(130), s(0)));
        assert!(is_dead_fill(None, s(131), s(0)));
        assert!(
            !is_dead_fill(None, s(500), s(400)),
            "initial age is not time spent filling"
        );
        assert!(!is_dead_fill(None, s(10), s(400)));
    }
}
