//! [`DispatchSession`]: the sans-IO state machine of a dispatch stream.

use super::backoff::Backoff;
use super::limits::DispatchLimits;
use super::messages::{
    validate_chunks, validate_error_class, Chunk, CloseReason, CloseRequest, DispatchOpen,
    ErrorBody, StepRequest, StepResponse,
};
use crate::stream::error::{ErrorClass, PlanError};
use crate::stream::headers::{self, Direction};
use crate::stream::outcome::{build_head, OutputKind, Rejection, ResponseHead};
use crate::stream::plan::CONTRACT_VERSION;
use crate::stream::sse::{encode_error, encode_fields, KEEP_ALIVE};
use serde_json::Value;
use std::collections::VecDeque;

/// The next thing the adapter must do. Execute it, then call
/// [`DispatchSession::next_action`] again (after reporting the result of a
/// [`Action::Step`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Commit the downstream response head. Comes exactly once, right
    /// before the first [`Action::Write`] or [`Action::Finish`].
    SendHead(ResponseHead),
    /// Write these bytes downstream and flush. If the write fails, call
    /// [`DispatchSession::client_disconnected`].
    Write(Vec<u8>),
    /// Sleep this long, then ask again. Waking early is harmless.
    Wait {
        /// Milliseconds to sleep.
        ms: u64,
    },
    /// POST to the `origin` backend's step path; report the answer with
    /// [`DispatchSession::step_response`] or
    /// [`DispatchSession::step_failed`] before asking again.
    Step(HttpCall),
    /// End the downstream response cleanly.
    Finish,
    /// Abort the downstream response (text output after its first byte).
    Abort,
    /// Nothing was written: answer 502 with `x-sluice-error-class`.
    Reject(Rejection),
    /// Best-effort POST to the close path; ignore its result.
    Close(HttpCall),
    /// The session is over; every later call returns `Done` too.
    Done,
}

/// A request to the origin's step or close endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    /// Origin-relative path (validated).
    pub path: String,
    /// JSON body (`content-type: application/json`).
    pub body: Vec<u8>,
    /// Timeout the adapter applies to the whole call.
    pub timeout_ms: u64,
    /// Read at most this many + 1 response bytes.
    pub max_response_bytes: usize,
}

/// Why a step call produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepFailure {
    /// The origin could not be reached (e.g. connection refused while it
    /// restarts). Retried with backoff.
    Connect(String),
    /// The response body could not be read to its end. Retried.
    Read(String),
    /// The call exceeded [`HttpCall::timeout_ms`]. Ends the stream with
    /// `limit_step_timeout`.
    Timeout,
}

/// Counters for the access log and the close call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DispatchStats {
    /// Successful step calls.
    pub steps: u64,
    /// Failed step calls that were retried.
    pub retries: u64,
    /// Chunks written downstream.
    pub chunks_sent: u64,
    /// Body bytes written downstream (keep-alives included).
    pub bytes_sent: u64,
    /// Keep-alive comments written.
    pub keepalives: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The next step call is due at this time.
    Ready { due_ms: u64 },
    /// A step call was handed out and not yet reported.
    AwaitingStep,
    /// Terminal actions are queued; then `Done` forever.
    Over,
}

/// Sans-IO driver of one dispatch stream.
///
/// The session holds no clock and does no I/O: the adapter passes `now_ms`
/// (any monotonic millisecond clock) into every call and performs the
/// [`Action`]s it gets back. See the module documentation for the loop.
#[derive(Debug)]
pub struct DispatchSession {
    limits: DispatchLimits,
    output: OutputKind,
    step_path: String,
    close_path: Option<String>,
    head: ResponseHead,
    head_sent: bool,
    state: Value,
    started_ms: u64,
    last_write_ms: u64,
    wrote_any: bool,
    step_index: u64,
    attempt: u32,
    idle: Backoff,
    retry: Backoff,
    phase: Phase,
    queue: VecDeque<Action>,
    stats: DispatchStats,
    close_reason: Option<CloseReason>,
}

impl DispatchSession {
    /// Parses and validates the origin's open message and starts the
    /// session at `now_ms`. On error nothing was written: the adapter answers
    /// 502 with [`PlanError::class`].
    pub fn open(body: &[u8], limits: DispatchLimits, now_ms: u64) -> Result<Self, PlanError> {
        if body.len() > limits.max_message_bytes {
            return Err(PlanError::TooLarge {
                size: body.len(),
                limit: limits.max_message_bytes,
            });
        }
        let open: DispatchOpen =
            serde_json::from_slice(body).map_err(|e| PlanError::Malformed(e.to_string()))?;
        if open.version != CONTRACT_VERSION {
            return Err(PlanError::UnsupportedVersion(open.version));
        }
        if !(200..=599).contains(&open.status) || matches!(open.status, 204 | 205 | 304) {
            return Err(PlanError::InvalidStatus(open.status));
        }
        let extra = headers::sanitize(&open.headers, Direction::DownstreamResponse)?;
        if let Some(ct) = &open.content_type {
            headers::validate_content_type(ct)?;
        }
        headers::validate_path(&open.step_path)?;
        if let Some(close) = &open.close_path {
            headers::validate_path(close)?;
        }
        check_state_size(&open.state, limits.max_state_bytes)?;
        validate_chunks(&open.chunks, open.output)?;

        let mut session = Self {
            limits,
            output: open.output,
            step_path: open.step_path,
            close_path: open.close_path,
            head: build_head(
                open.status,
                open.output,
                open.content_type.as_deref(),
                extra,
            ),
            head_sent: false,
            state: open.state,
            started_ms: now_ms,
            last_write_ms: now_ms,
            wrote_any: false,
            step_index: 0,
            attempt: 0,
            idle: Backoff::new(limits.idle_backoff_initial_ms, limits.idle_backoff_max_ms),
            retry: Backoff::new(limits.retry_backoff_initial_ms, limits.retry_backoff_max_ms),
            phase: Phase::Ready {
                due_ms: now_ms.saturating_add(open.next_after_ms.unwrap_or(0)),
            },
            queue: VecDeque::new(),
            stats: DispatchStats::default(),
            close_reason: None,
        };
        session.write_chunks(&open.chunks, now_ms);
        if open.done {
            session.end(now_ms, CloseReason::Completed, None);
        }
        Ok(session)
    }

    /// The downstream head the open message asked for (sent with
    /// [`Action::SendHead`]).
    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// Counters so far.
    pub fn stats(&self) -> DispatchStats {
        self.stats
    }

    /// Why the stream ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason
    }

    /// The next action at `now_ms`.
    pub fn next_action(&mut self, now_ms: u64) -> Action {
        if let Some(action) = self.queue.pop_front() {
            return action;
        }
        match self.phase {
            Phase::Over => Action::Done,
            Phase::AwaitingStep => {
                self.internal_error(now_ms, "next_action called before the step was reported");
                self.next_action(now_ms)
            }
            Phase::Ready { due_ms } => self.ready(now_ms, due_ms),
        }
    }

    fn ready(&mut self, now_ms: u64, due_ms: u64) -> Action {
        let deadline = self.started_ms.saturating_add(self.limits.max_duration_ms);
        if now_ms >= deadline {
            self.fail(
                now_ms,
                CloseReason::Limit,
                ErrorClass::LimitDuration.as_str(),
                format!(
                    "the stream exceeded its {} ms duration limit",
                    self.limits.max_duration_ms
                ),
            );
            return self.next_action(now_ms);
        }
        if now_ms >= due_ms {
            if self.stats.steps >= self.limits.max_steps {
                self.fail(
                    now_ms,
                    CloseReason::Limit,
                    ErrorClass::LimitSteps.as_str(),
                    format!(
                        "the stream exceeded its {} step limit",
                        self.limits.max_steps
                    ),
                );
                return self.next_action(now_ms);
            }
            let request = StepRequest {
                state: self.state.clone(),
                step: self.step_index,
                attempt: self.attempt,
                elapsed_ms: now_ms.saturating_sub(self.started_ms),
            };
            return match serde_json::to_vec(&request) {
                Ok(body) => {
                    self.phase = Phase::AwaitingStep;
                    Action::Step(HttpCall {
                        path: self.step_path.clone(),
                        body,
                        timeout_ms: self.limits.step_timeout_ms,
                        max_response_bytes: self.limits.max_message_bytes,
                    })
                }
                Err(e) => {
                    self.internal_error(now_ms, &e.to_string());
                    self.next_action(now_ms)
                }
            };
        }
        let mut wake_ms = due_ms.min(deadline);
        if self.output == OutputKind::Sse && self.limits.keepalive_interval_ms > 0 {
            let keepalive_ms = self
                .last_write_ms
                .saturating_add(self.limits.keepalive_interval_ms);
            if now_ms >= keepalive_ms {
                self.stats.keepalives += 1;
                self.queue_write(KEEP_ALIVE.to_vec(), now_ms);
                return self.next_action(now_ms);
            }
            wake_ms = wake_ms.min(keepalive_ms);
        }
        Action::Wait {
            ms: wake_ms.saturating_sub(now_ms),
        }
    }

    /// Reports the step call's HTTP answer. `body` may be cut at
    /// [`HttpCall::max_response_bytes`] + 1 bytes.
    pub fn step_response(&mut self, now_ms: u64, status: u16, body: &[u8]) {
        if self.phase != Phase::AwaitingStep {
            self.internal_error(now_ms, "step_response without a pending step");
            return;
        }
        if status == 429 || (500..=599).contains(&status) {
            self.retry_or_fail(now_ms, format!("step answered {status}"));
            return;
        }
        if !(200..300).contains(&status) {
            self.fail(
                now_ms,
                CloseReason::Error,
                ErrorClass::StepProtocol.as_str(),
                format!("step answered {status}"),
            );
            return;
        }
        if body.len() > self.limits.max_message_bytes {
            self.fail(
                now_ms,
                CloseReason::Limit,
                ErrorClass::LimitResponseSize.as_str(),
                format!(
                    "a step response exceeded {} bytes",
                    self.limits.max_message_bytes
                ),
            );
            return;
        }
        let response: StepResponse = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                self.fail(
                    now_ms,
                    CloseReason::Error,
                    ErrorClass::StepProtocol.as_str(),
                    format!("malformed step response: {e}"),
                );
                return;
            }
        };
        if let Err(e) = self.accept(&response) {
            let reason = match e {
                PlanError::StateTooLarge { .. } => CloseReason::Limit,
                _ => CloseReason::Error,
            };
            let class = match e {
                PlanError::StateTooLarge { .. } => ErrorClass::LimitStateSize,
                _ => ErrorClass::StepProtocol,
            };
            self.fail(now_ms, reason, class.as_str(), e.to_string());
            return;
        }
        self.stats.steps += 1;
        self.step_index += 1;
        self.attempt = 0;
        self.retry.reset();
        self.write_chunks(&response.chunks, now_ms);
        if let Some(error) = response.error {
            self.fail(now_ms, CloseReason::Error, &error.class, error.message);
            return;
        }
        if response.done {
            self.end(now_ms, CloseReason::Completed, None);
            return;
        }
        let idle_delay = if response.chunks.is_empty() {
            self.idle.next_delay_ms()
        } else {
            self.idle.reset();
            0
        };
        let delay = response.next_after_ms.unwrap_or(idle_delay);
        self.phase = Phase::Ready {
            due_ms: now_ms.saturating_add(delay),
        };
    }

    /// Validates a step response and adopts its state.
    fn accept(&mut self, response: &StepResponse) -> Result<(), PlanError> {
        validate_chunks(&response.chunks, self.output)?;
        if let Some(error) = &response.error {
            validate_error_class(&error.class)?;
        }
        if let Some(state) = &response.state {
            check_state_size(state, self.limits.max_state_bytes)?;
            self.state = state.clone();
        }
        Ok(())
    }

    /// Reports that the step call produced no HTTP answer.
    pub fn step_failed(&mut self, now_ms: u64, failure: StepFailure) {
        if self.phase != Phase::AwaitingStep {
            self.internal_error(now_ms, "step_failed without a pending step");
            return;
        }
        match failure {
            StepFailure::Timeout => self.fail(
                now_ms,
                CloseReason::Limit,
                ErrorClass::LimitStepTimeout.as_str(),
                format!(
                    "a step call exceeded its {} ms timeout",
                    self.limits.step_timeout_ms
                ),
            ),
            StepFailure::Connect(m) => self.retry_or_fail(now_ms, m),
            StepFailure::Read(m) => self.retry_or_fail(now_ms, m),
        }
    }

    /// Reports that writing downstream failed: the client went away. Ends
    /// the session with a `client_disconnect` close call.
    pub fn client_disconnected(&mut self, now_ms: u64) {
        if self.phase == Phase::Over && self.close_reason.is_some() {
            // Already ending: a failed write of the final bytes changes
            // nothing the origin needs to know, unless the stream had
            // completed and the client never got the end.
            if self.close_reason != Some(CloseReason::Completed) {
                return;
            }
        }
        self.queue.clear();
        self.phase = Phase::Ready { due_ms: 0 };
        self.end(now_ms, CloseReason::ClientDisconnect, None);
    }

    fn retry_or_fail(&mut self, now_ms: u64, message: String) {
        if self.attempt >= self.limits.max_step_retries {
            self.fail(
                now_ms,
                CloseReason::Error,
                ErrorClass::StepUnavailable.as_str(),
                format!("step failed {} times in a row: {message}", self.attempt + 1),
            );
            return;
        }
        self.attempt += 1;
        self.stats.retries += 1;
        self.phase = Phase::Ready {
            due_ms: now_ms.saturating_add(self.retry.next_delay_ms()),
        };
    }

    fn write_chunks(&mut self, chunks: &[Chunk], now_ms: u64) {
        if chunks.is_empty() {
            return;
        }
        let mut bytes = Vec::new();
        for chunk in chunks {
            match (chunk, self.output) {
                (Chunk::Text(text), OutputKind::Text) => bytes.extend_from_slice(text.as_bytes()),
                (Chunk::Text(text), OutputKind::Sse) => {
                    // Validated: cannot fail for a data-only event.
                    let _ = encode_fields(None, None, None, Some(text), &mut bytes);
                }
                (Chunk::Event(e), _) => {
                    // Validated by `validate_chunks` (events only with SSE,
                    // frameable names and ids).
                    let _ = encode_fields(
                        e.event.as_deref(),
                        e.id.as_deref(),
                        e.retry,
                        e.data.as_deref(),
                        &mut bytes,
                    );
                }
            }
        }
        self.stats.chunks_sent += chunks.len() as u64;
        if !bytes.is_empty() {
            self.queue_write(bytes, now_ms);
        }
    }

    fn queue_write(&mut self, bytes: Vec<u8>, now_ms: u64) {
        self.queue_head();
        self.stats.bytes_sent += bytes.len() as u64;
        self.last_write_ms = now_ms;
        self.wrote_any = true;
        self.queue.push_back(Action::Write(bytes));
    }

    fn queue_head(&mut self) {
        if !std::mem::replace(&mut self.head_sent, true) {
            self.queue.push_back(Action::SendHead(self.head.clone()));
        }
    }

    fn internal_error(&mut self, now_ms: u64, message: &str) {
        if self.phase == Phase::Over {
            return;
        }
        self.fail(
            now_ms,
            CloseReason::Error,
            ErrorClass::Internal.as_str(),
            message.to_owned(),
        );
    }

    /// Ends with a failure: 502 before the first byte; after it an SSE
    /// `error` event and a clean end, or an abort for text.
    fn fail(&mut self, now_ms: u64, reason: CloseReason, class: &str, message: String) {
        let error = ErrorBody {
            class: class.to_owned(),
            message,
        };
        self.end(now_ms, reason, Some(error));
    }

    fn end(&mut self, now_ms: u64, reason: CloseReason, error: Option<ErrorBody>) {
        if self.phase == Phase::Over {
            return;
        }
        match (&error, reason) {
            (_, CloseReason::ClientDisconnect) => {}
            (None, _) => {
                self.queue_head();
                self.queue.push_back(Action::Finish);
            }
            (Some(err), _) if !self.wrote_any => {
                self.queue.push_back(Action::Reject(Rejection {
                    class: err.class.clone(),
                    message: err.message.clone(),
                }));
            }
            (Some(err), _) => match self.output {
                OutputKind::Sse => {
                    let mut bytes = Vec::new();
                    encode_error(&err.class, &err.message, &mut bytes);
                    self.queue_write(bytes, now_ms);
                    self.queue.push_back(Action::Finish);
                }
                OutputKind::Text => self.queue.push_back(Action::Abort),
            },
        }
        if let Some(path) = &self.close_path {
            let close = CloseRequest {
                reason,
                state: self.state.clone(),
                steps: self.stats.steps,
                chunks_sent: self.stats.chunks_sent,
                bytes_sent: self.stats.bytes_sent,
                elapsed_ms: now_ms.saturating_sub(self.started_ms),
                error,
            };
            if let Ok(body) = serde_json::to_vec(&close) {
                self.queue.push_back(Action::Close(HttpCall {
                    path: path.clone(),
                    body,
                    timeout_ms: self.limits.step_timeout_ms,
                    max_response_bytes: self.limits.max_message_bytes,
                }));
            }
        }
        self.queue.push_back(Action::Done);
        self.close_reason = Some(reason);
        self.phase = Phase::Over;
    }
}

/// Serialized (compact) size of `state`, failing as soon as it passes
/// `limit` so an oversized state never allocates its full serialization.
fn check_state_size(state: &Value, limit: usize) -> Result<(), PlanError> {
    struct Counter {
        written: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written += buf.len();
            if self.written > self.limit {
                return Err(std::io::Error::other("state too large"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { written: 0, limit };
    serde_json::to_writer(&mut counter, state).map_err(|_| PlanError::StateTooLarge { limit })
}
