//! The dispatch loop: perform a `DispatchSession`'s actions until it is
//! done. The session decides everything (pacing, backoff, keep-alives,
//! limits, retries, the close reason); the host only sleeps, makes the
//! step and close calls and answers a rejection.

use serde_json::{json, Value};

use super::{prepare, Planned};
use crate::edge_error::EdgeFault;
use crate::sink::Downstream;
use crate::stream::dispatch::{Action, DispatchSession, HttpCall, StepFailure};

/// What the platform does for a dispatch loop.
pub trait DispatchHost {
    /// The client the stream's head is committed to.
    type Client: Planned;
    /// Milliseconds on the stream's monotonic clock.
    fn now_ms(&self) -> u64;
    /// Sleeps (waking early is harmless).
    fn sleep(&mut self, ms: u64);
    /// A step call: the status and the body read to the call's cap.
    fn step(&mut self, call: &HttpCall) -> Result<(u16, Vec<u8>), StepFailure>;
    /// The best-effort close call: its outcome changes nothing.
    fn close(&mut self, call: &HttpCall);
    /// Answers the client with the rejection now, before the close call
    /// that follows (the client must not wait on a best-effort call).
    fn reject(&mut self, fault: &EdgeFault);
}

/// How a dispatch stream ended.
#[derive(Debug)]
pub struct DispatchEnd {
    /// For the access line's `plan`.
    pub detail: Value,
    /// `Ok` when the stream ended cleanly or its rejection was answered.
    pub result: Result<(), EdgeFault>,
}

/// Runs `session` to its end.
pub fn run_dispatch<H: DispatchHost>(
    session: &mut DispatchSession,
    host: &mut H,
    down: &mut Downstream<H::Client>,
) -> DispatchEnd {
    let (mut aborted, mut rejected, mut client_gone) = (None, None, false);
    loop {
        match session.next_action(host.now_ms()) {
            Action::SendHead(head) => prepare(down, &head),
            Action::Write(bytes) => {
                if let Err(e) = down.write(&bytes) {
                    log::info!("dispatch: client went away: {e}");
                    down.abort();
                    client_gone = true;
                    session.client_disconnected(host.now_ms());
                }
            }
            Action::Wait { ms } => host.sleep(ms),
            Action::Step(call) => {
                let now_result = host.step(&call);
                let now = host.now_ms();
                match now_result {
                    Ok((status, body)) => session.step_response(now, status, &body),
                    Err(failure) => session.step_failed(now, failure),
                }
            }
            Action::Finish if down.is_prepared() => {
                if let Err(e) = down.finish() {
                    log::info!("dispatch: client went away at the end: {e}");
                    client_gone = true;
                    session.client_disconnected(host.now_ms());
                }
            }
            Action::Finish => {}
            Action::Abort => {
                aborted = Some(EdgeFault::plan(
                    "dispatch_error",
                    "aborted after the first byte",
                ));
                down.abort();
            }
            Action::Reject(r) => {
                let fault = EdgeFault::plan(&r.class, r.message);
                host.reject(&fault);
                rejected = Some(r.class);
            }
            Action::Close(call) => host.close(&call),
            Action::Done => break,
        }
    }
    let stats = session.stats();
    let detail = match rejected {
        Some(class) => json!({"class": class}),
        None => json!({
            "close_reason": session.close_reason(),
            "steps": stats.steps,
            "retries": stats.retries,
            "chunks": stats.chunks_sent,
            "keepalives": stats.keepalives,
            "end": if aborted.is_some() { "aborted" } else { "completed" },
        }),
    };
    let result = match (aborted, client_gone) {
        (Some(fault), _) => Err(fault),
        (None, true) => Err(EdgeFault::client_gone("during a dispatch stream")),
        (None, false) => Ok(()),
    };
    DispatchEnd { detail, result }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    use super::super::fake::{install, Event, Fake};
    use super::*;
    use crate::edge_error::EdgeError;
    use crate::sink::SinkStats;
    use crate::stream::dispatch::DispatchLimits;

    /// A host with a fake clock and a scripted origin.
    struct Host {
        now: Cell<u64>,
        answers: VecDeque<Result<(u16, Vec<u8>), StepFailure>>,
        calls: Vec<String>,
        rejected: Vec<EdgeFault>,
    }

    impl DispatchHost for Host {
        type Client = Fake;
        fn now_ms(&self) -> u64 {
            self.now.get()
        }
        fn sleep(&mut self, ms: u64) {
            self.now.set(self.now.get() + ms);
            self.calls.push(format!("sleep {ms}"));
        }
        fn step(&mut self, call: &HttpCall) -> Result<(u16, Vec<u8>), StepFailure> {
            self.calls.push(format!("step {}", call.path));
            self.now.set(self.now.get() + 5);
            self.answers
                .pop_front()
                .unwrap_or(Err(StepFailure::Timeout))
        }
        fn close(&mut self, call: &HttpCall) {
            self.calls.push(format!("close {}", call.path));
        }
        fn reject(&mut self, fault: &EdgeFault) {
            self.calls.push("reject".into());
            self.rejected.push(fault.clone());
        }
    }

    fn run(open: Value, answers: Vec<Value>, fake: &Fake) -> (DispatchEnd, Host) {
        install(fake);
        let limits = DispatchLimits::default();
        let mut session = DispatchSession::open(open.to_string().as_bytes(), limits, 0).unwrap();
        let mut host = Host {
            now: Cell::new(0),
            answers: answers
                .into_iter()
                .map(|a| Ok((200, a.to_string().into_bytes())))
                .collect(),
            calls: Vec::new(),
            rejected: Vec::new(),
        };
        let mut down = Downstream::new(Rc::new(SinkStats::default()));
        let end = run_dispatch(&mut session, &mut host, &mut down);
        (end, host)
    }

    fn open(output: &str) -> Value {
        json!({"output": output, "step_path": "/step", "close_path": "/close", "state": {"n": 0}})
    }

    #[test]
    fn steps_are_written_as_they_come_then_closed_cleanly() {
        let fake = Fake::default();
        let steps = vec![
            json!({"chunks": ["a"], "state": {"n": 1}}),
            json!({"chunks": ["b"], "state": {"n": 2}, "done": true}),
        ];
        let (end, host) = run(open("text"), steps, &fake);
        assert_eq!(end.result, Ok(()));
        assert_eq!(
            fake.events(),
            vec![
                Event::Open(200),
                Event::Flushed(b"a".to_vec()),
                Event::Flushed(b"ab".to_vec()),
                Event::Finished(b"ab".to_vec()),
            ]
        );
        assert_eq!(fake.heads()[0].headers[0].0, "content-type");
        assert_eq!(host.calls, ["step /step", "step /step", "close /close"]);
        assert_eq!(end.detail["steps"], 2);
        assert_eq!(end.detail["end"], "completed");
    }

    #[test]
    fn a_rejection_is_answered_before_the_close_call_and_nothing_is_streamed() {
        let fake = Fake::default();
        let reject = json!({"error": {"class": "quota", "message": "no more"}});
        let (end, host) = run(open("sse"), vec![reject], &fake);
        assert_eq!(host.calls, ["step /step", "reject", "close /close"]);
        assert_eq!(*host.rejected[0].error, EdgeError::Plan("quota".into()));
        assert_eq!(end.detail, json!({"class": "quota"}));
        assert_eq!(end.result, Ok(()));
        assert!(
            fake.events().is_empty(),
            "the host answered, not the stream"
        );
    }

    #[test]
    fn a_client_that_leaves_ends_the_session_as_the_clients_fault() {
        let fake = Fake::failing_after(1);
        let steps = vec![
            json!({"chunks": ["a"], "state": {"n": 1}}),
            json!({"chunks": ["bc"], "state": {"n": 2}}),
        ];
        let (end, host) = run(open("text"), steps, &fake);
        assert_eq!(end.result.map_err(|f| *f.error), Err(EdgeError::ClientGone));
        assert_eq!(fake.events().last(), Some(&Event::Aborted(b"a".to_vec())));
        assert_eq!(host.calls.last().map(String::as_str), Some("close /close"));
    }
}
