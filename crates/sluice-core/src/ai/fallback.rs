//! The retry policy: when a failed provider call may be retried on the
//! `llm_fallback` backend.
//!
//! WHY only before the first byte: once the client has received part of a
//! completion, a retry would send it a second, different completion glued
//! onto the first. After the first byte a failure becomes an in-stream
//! error instead ([`crate::ai::relay::SseRelay::fail`]).
//!
//! Attempt 1 goes to the primary backend (`llm`); every later attempt goes
//! to the fallback (`llm_fallback`), and only when one is configured. The
//! policy is a pure function of its inputs: the adapter sleeps for the
//! returned backoff itself.

use super::errors::ApiError;
use std::time::Duration;

/// Default number of attempts in total: the primary, then the fallback.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 2;
/// Default wait before the first retry.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Default growth of the wait between retries.
pub const DEFAULT_BACKOFF_MULTIPLIER: u32 = 2;
/// Default ceiling on one wait.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How a provider call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The connection could not be made (refused, DNS, TLS).
    Connect,
    /// No response (or no first body byte) within the backend's timeout.
    Timeout,
    /// The provider answered with this non-2xx status.
    Status(u16),
    /// The response body broke off (reset) before it completed.
    Read,
    /// The response body is not a valid event stream (see
    /// [`crate::ai::relay::RelayError`]).
    Protocol,
}

impl Failure {
    /// Classifies a response status: `None` for 2xx (not a failure).
    pub fn from_status(status: u16) -> Option<Self> {
        (!(200..300).contains(&status)).then_some(Self::Status(status))
    }

    /// Whether another backend may do better: connect errors, timeouts,
    /// reads that broke off, 429 and 5xx. A 4xx other than 429 is the
    /// request's own fault and a malformed stream is a provider bug that
    /// the adapter reports rather than hides.
    pub fn is_retryable(self) -> bool {
        match self {
            Self::Connect | Self::Timeout | Self::Read => true,
            Self::Status(status) => status == 429 || (500..600).contains(&status),
            Self::Protocol => false,
        }
    }

    /// The response for the client when this is the final failure before
    /// the first byte: 504 for a timeout, 429 for 429, 503 for 503, 502
    /// otherwise. (For a 4xx the adapter may instead pass the provider's
    /// own error body through.)
    pub fn api_error(self) -> ApiError {
        match self {
            Self::Timeout => ApiError::gateway_timeout(),
            Self::Status(429) => ApiError::rate_limited(),
            Self::Status(503) => ApiError::service_unavailable(),
            _ => ApiError::bad_gateway(),
        }
    }
}

/// Which backend an attempt goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `llm`.
    Primary,
    /// `llm_fallback`.
    Fallback,
}

impl Backend {
    /// The backend's name in `fastly.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Primary => "llm",
            Backend::Fallback => "llm_fallback",
        }
    }
}

/// Why no further attempt is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUp {
    /// Bytes already reached the client.
    AfterFirstByte,
    /// The failure is not retryable ([`Failure::is_retryable`]).
    NotRetryable,
    /// No `llm_fallback` backend is configured.
    NoFallback,
    /// The attempt budget is spent.
    AttemptsExhausted,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait `backoff`, then make attempt number `attempt` on `backend`.
    Retry {
        /// The 1-based number of the next attempt.
        attempt: u32,
        /// Where it goes.
        backend: Backend,
        /// How long to wait first.
        backoff: Duration,
    },
    /// Stop and report the failure.
    GiveUp(GiveUp),
}

/// Retry budget and backoff, built with `RetryPolicy::default().with_*()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    multiplier: u32,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            multiplier: DEFAULT_BACKOFF_MULTIPLIER,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

impl RetryPolicy {
    /// Total attempts, the first one included; `0` is treated as `1` (no
    /// retry).
    ///
    /// ### Default
    /// `2` ([`DEFAULT_MAX_ATTEMPTS`]): primary, then fallback.
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Wait before the first retry.
    ///
    /// ### Default
    /// 100 ms ([`DEFAULT_INITIAL_BACKOFF`]).
    #[must_use]
    pub fn with_initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Factor applied to the wait for each further retry (`0` or `1` =
    /// constant wait).
    ///
    /// ### Default
    /// `2` ([`DEFAULT_BACKOFF_MULTIPLIER`]).
    #[must_use]
    pub fn with_backoff_multiplier(mut self, multiplier: u32) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Ceiling on one wait, so a large budget cannot stall a client for
    /// minutes.
    ///
    /// ### Default
    /// 2 s ([`DEFAULT_MAX_BACKOFF`]).
    #[must_use]
    pub fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Total attempts allowed.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backend of 1-based attempt `attempt`.
    pub fn backend_for(&self, attempt: u32) -> Backend {
        if attempt <= 1 {
            Backend::Primary
        } else {
            Backend::Fallback
        }
    }

    /// The wait before 1-based attempt `attempt` (zero for the first):
    /// `initial × multiplier^(attempt − 2)`, capped at the maximum.
    pub fn backoff_before(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let mut wait = self.initial_backoff;
        if self.multiplier <= 1 || wait.is_zero() {
            return wait.min(self.max_backoff);
        }
        // Each round at least doubles a non-zero wait, so this stops after
        // ~log2(max / initial) rounds whatever `attempt` is.
        for _ in 2..attempt {
            if wait >= self.max_backoff {
                break;
            }
            wait = wait.saturating_mul(self.multiplier);
        }
        wait.min(self.max_backoff)
    }

    /// Decides what follows the failure of 1-based attempt `failed_attempt`.
    /// `downstream_started` is whether any byte was written to the client
    /// ([`crate::ai::relay::SseRelay::has_written`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use sluice_core::ai::fallback::{Backend, RetryDecision, Failure, GiveUp, RetryPolicy};
    /// let policy = RetryPolicy::default();
    /// assert_eq!(
    ///     policy.decide(1, Failure::Status(503), false, true),
    ///     RetryDecision::Retry { attempt: 2, backend: Backend::Fallback, backoff: Duration::from_millis(100) }
    /// );
    /// assert_eq!(policy.decide(1, Failure::Read, true, true), RetryDecision::GiveUp(GiveUp::AfterFirstByte));
    /// assert_eq!(policy.decide(2, Failure::Timeout, false, true), RetryDecision::GiveUp(GiveUp::AttemptsExhausted));
    /// ```
    pub fn decide(
        &self,
        failed_attempt: u32,
        failure: Failure,
        downstream_started: bool,
        fallback_configured: bool,
    ) -> RetryDecision {
        if downstream_started {
            return RetryDecision::GiveUp(GiveUp::AfterFirstByte);
        }
        if !failure.is_retryable() {
            return RetryDecision::GiveUp(GiveUp::NotRetryable);
        }
        if failed_attempt >= self.max_attempts {
            return RetryDecision::GiveUp(GiveUp::AttemptsExhausted);
        }
        let attempt = failed_attempt.saturating_add(1).max(2);
        let backend = self.backend_for(attempt);
        if backend == Backend::Fallback && !fallback_configured {
            return RetryDecision::GiveUp(GiveUp::NoFallback);
        }
        RetryDecision::Retry {
            attempt,
            backend,
            backoff: self.backoff_before(attempt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_failures() {
        for f in [
            Failure::Connect,
            Failure::Timeout,
            Failure::Read,
            Failure::Status(429),
            Failure::Status(500),
            Failure::Status(502),
            Failure::Status(503),
            Failure::Status(599),
        ] {
            assert!(f.is_retryable(), "{f:?}");
        }
        for f in [
            Failure::Protocol,
            Failure::Status(400),
            Failure::Status(401),
            Failure::Status(404),
            Failure::Status(413),
            Failure::Status(300),
            Failure::Status(600),
        ] {
            assert!(!f.is_retryable(), "{f:?}");
        }
        assert_eq!(Failure::from_status(200), None);
        assert_eq!(Failure::from_status(204), None);
        assert_eq!(Failure::from_status(500), Some(Failure::Status(500)));
    }

    #[test]
    fn each_failure_kind_falls_back_once_by_default() {
        let policy = RetryPolicy::default();
        for f in [
            Failure::Connect,
            Failure::Timeout,
            Failure::Status(429),
            Failure::Status(500),
        ] {
            assert_eq!(
                policy.decide(1, f, false, true),
                RetryDecision::Retry {
                    attempt: 2,
                    backend: Backend::Fallback,
                    backoff: Duration::from_millis(100)
                }
            );
            assert_eq!(
                policy.decide(2, f, false, true),
                RetryDecision::GiveUp(GiveUp::AttemptsExhausted)
            );
            assert_eq!(
                policy.decide(1, f, true, true),
                RetryDecision::GiveUp(GiveUp::AfterFirstByte)
            );
            assert_eq!(
                policy.decide(1, f, false, false),
                RetryDecision::GiveUp(GiveUp::NoFallback)
            );
        }
        assert_eq!(
            policy.decide(1, Failure::Status(400), false, true),
            RetryDecision::GiveUp(GiveUp::NotRetryable)
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy::default().with_max_attempts(6);
        let waits: Vec<_> = (1..=6).map(|a| policy.backoff_before(a)).collect();
        assert_eq!(
            waits,
            [0, 100, 200, 400, 800, 1600].map(Duration::from_millis)
        );
        let capped = policy.with_max_backoff(Duration::from_millis(300));
        assert_eq!(capped.backoff_before(4), Duration::from_millis(300));
        // Huge attempt numbers neither overflow nor loop for long.
        assert_eq!(capped.backoff_before(u32::MAX), Duration::from_millis(300));
        let constant = RetryPolicy::default()
            .with_backoff_multiplier(1)
            .with_initial_backoff(Duration::from_millis(5));
        assert_eq!(constant.backoff_before(5), Duration::from_millis(5));
        assert_eq!(constant.backoff_before(u32::MAX), Duration::from_millis(5));
        let zero = RetryPolicy::default().with_initial_backoff(Duration::ZERO);
        assert_eq!(zero.backoff_before(u32::MAX), Duration::ZERO);
    }

    #[test]
    fn larger_budgets_keep_using_the_fallback() {
        let policy = RetryPolicy::default().with_max_attempts(3);
        assert_eq!(
            policy.decide(2, Failure::Connect, false, true),
            RetryDecision::Retry {
                attempt: 3,
                backend: Backend::Fallback,
                backoff: Duration::from_millis(200)
            }
        );
        assert_eq!(
            policy.decide(3, Failure::Connect, false, true),
            RetryDecision::GiveUp(GiveUp::AttemptsExhausted)
        );
        let single = RetryPolicy::default().with_max_attempts(0);
        assert_eq!(single.max_attempts(), 1);
        assert_eq!(
            single.decide(1, Failure::Connect, false, true),
            RetryDecision::GiveUp(GiveUp::AttemptsExhausted)
        );
    }

    #[test]
    fn final_failures_map_to_gateway_statuses() {
        assert_eq!(Failure::Timeout.api_error().status(), 504);
        assert_eq!(Failure::Status(429).api_error().status(), 429);
        assert_eq!(Failure::Status(503).api_error().status(), 503);
        assert_eq!(Failure::Status(500).api_error().status(), 502);
        assert_eq!(Failure::Connect.api_error().status(), 502);
        assert_eq!(Failure::Read.api_error().status(), 502);
    }
}
