//! Exponential backoff without a clock: the session asks for the next delay
//! and adds it to the `now` the adapter gave it.

/// Doubling delays from `initial` up to `max`, reset on progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    current_ms: u64,
}

impl Backoff {
    /// Starts at `initial_ms`; never exceeds `max_ms`.
    pub fn new(initial_ms: u64, max_ms: u64) -> Self {
        let initial_ms = initial_ms.min(max_ms);
        Self {
            initial_ms,
            max_ms,
            current_ms: initial_ms,
        }
    }

    /// The delay to wait now; the following one doubles (capped).
    ///
    /// ```
    /// use sluice_core::stream::dispatch::Backoff;
    /// let mut b = Backoff::new(50, 2_000);
    /// let seq: Vec<u64> = (0..8).map(|_| b.next_delay_ms()).collect();
    /// assert_eq!(seq, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
    /// ```
    pub fn next_delay_ms(&mut self) -> u64 {
        let delay = self.current_ms;
        self.current_ms = self.current_ms.saturating_mul(2).min(self.max_ms);
        delay
    }

    /// Back to the initial delay (data arrived / a call succeeded).
    pub fn reset(&mut self) {
        self.current_ms = self.initial_ms;
    }
}
