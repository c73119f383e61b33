//! Limits of a dispatch stream, as a builder. Every limit is enforced by
//! [`DispatchSession`](super::DispatchSession) (the per-step timeout is
//! applied by the adapter, with the value the session hands it).

/// Limits of one dispatch stream.
///
/// ```
/// use sluice_core::stream::dispatch::DispatchLimits;
/// let limits = DispatchLimits::default().with_max_steps(100).with_keepalive_interval_ms(5_000);
/// assert_eq!(limits.max_steps, 100);
/// assert_eq!(limits.max_state_bytes, 64 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchLimits {
    /// Most successful step calls per stream.
    pub max_steps: u64,
    /// How long one step call may take (connect to full body).
    pub step_timeout_ms: u64,
    /// How long the whole stream may last, measured from open.
    pub max_duration_ms: u64,
    /// Largest `state`, as compact JSON.
    pub max_state_bytes: usize,
    /// Largest open message or step response body.
    pub max_message_bytes: usize,
    /// First delay after an empty step.
    pub idle_backoff_initial_ms: u64,
    /// Largest delay after consecutive empty steps.
    pub idle_backoff_max_ms: u64,
    /// Idle time after which an SSE stream gets a keep-alive comment; 0
    /// disables it.
    pub keepalive_interval_ms: u64,
    /// Consecutive failed step calls (connection refused, reset, 429, 5xx)
    /// retried before the stream fails with `step_unavailable`.
    pub max_step_retries: u32,
    /// First delay before retrying a failed step call.
    pub retry_backoff_initial_ms: u64,
    /// Largest delay between retries.
    pub retry_backoff_max_ms: u64,
}

impl Default for DispatchLimits {
    fn default() -> Self {
        Self {
            max_steps: 10_000,
            step_timeout_ms: 10_000,
            max_duration_ms: 15 * 60 * 1000,
            max_state_bytes: 64 * 1024,
            max_message_bytes: 1 << 20,
            idle_backoff_initial_ms: 50,
            idle_backoff_max_ms: 2_000,
            keepalive_interval_ms: 15_000,
            max_step_retries: 8,
            retry_backoff_initial_ms: 100,
            retry_backoff_max_ms: 2_000,
        }
    }
}

impl DispatchLimits {
    /// Most successful step calls; one more ends the stream with
    /// `limit_steps`.
    ///
    /// ### Default
    /// 10,000 (a 1,000-event stream at one event per step fits ten times).
    pub fn with_max_steps(mut self, steps: u64) -> Self {
        self.max_steps = steps;
        self
    }

    /// Per-step timeout the adapter applies; exceeding it ends the stream
    /// with `limit_step_timeout` (a hung step is not retried: that would
    /// multiply the wait).
    ///
    /// ### Default
    /// 10 s.
    pub fn with_step_timeout_ms(mut self, ms: u64) -> Self {
        self.step_timeout_ms = ms;
        self
    }

    /// Total stream duration; past it the stream ends with `limit_duration`.
    ///
    /// ### Default
    /// 15 minutes.
    pub fn with_max_duration_ms(mut self, ms: u64) -> Self {
        self.max_duration_ms = ms;
        self
    }

    /// Largest `state` as compact JSON; a bigger one ends the stream with
    /// `limit_state_size` (or fails the open with a 502).
    ///
    /// ### Default
    /// 64 KiB.
    pub fn with_max_state_bytes(mut self, bytes: usize) -> Self {
        self.max_state_bytes = bytes;
        self
    }

    /// Largest open or step response body; the adapter reads at most this +
    /// 1 bytes. A bigger step response ends the stream with
    /// `limit_response_size`.
    ///
    /// ### Default
    /// 1 MiB.
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Idle backoff: after an empty step the next one waits `initial_ms`,
    /// doubling per further empty step up to `max_ms`; data resets it.
    ///
    /// ### Default
    /// 50 ms doubling to 2 s.
    pub fn with_idle_backoff_ms(mut self, initial_ms: u64, max_ms: u64) -> Self {
        self.idle_backoff_initial_ms = initial_ms;
        self.idle_backoff_max_ms = max_ms;
        self
    }

    /// Keep-alive interval for SSE output (0 disables).
    ///
    /// ### Default
    /// 15 s.
    pub fn with_keepalive_interval_ms(mut self, ms: u64) -> Self {
        self.keepalive_interval_ms = ms;
        self
    }

    /// Consecutive failed step calls to retry.
    ///
    /// ### Default
    /// 8 retries, backing off 100 ms doubling to 2 s: about 9 s of
    /// tolerance, enough for an origin restart.
    pub fn with_max_step_retries(mut self, retries: u32) -> Self {
        self.max_step_retries = retries;
        self
    }

    /// Retry backoff for failed step calls.
    ///
    /// ### Default
    /// 100 ms doubling to 2 s.
    pub fn with_retry_backoff_ms(mut self, initial_ms: u64, max_ms: u64) -> Self {
        self.retry_backoff_initial_ms = initial_ms;
        self.retry_backoff_max_ms = max_ms;
        self
    }
}
