//! Stream contracts: the codecs and sans-IO sessions behind origin-planned
//! streams (see `docs/STREAM_PROTOCOLS.md`).
//!
//! Long streams should not hold an origin worker for their whole life, so the
//! origin answers with a small JSON plan and the **edge drives the stream**.
//! Everything that decides anything lives here, free of platform types:
//!
//! * codecs: [`sse`] (WHATWG `EventSource` parsing and framing), [`ndjson`],
//!   [`lines`] — push-based, bounded, chunk-boundary independent;
//! * [`plan`] + [`upstream`]: the upstream plan contract and
//!   [`UpstreamSession`], which turns an upstream body into the exact
//!   downstream bytes;
//! * [`dispatch`]: the dispatch contract and
//!   [`DispatchSession`](dispatch::DispatchSession), which tells the adapter
//!   when to call the origin's step endpoint and what to write;
//! * [`error`]: one typed error per source and the stable [`ErrorClass`]
//!   strings clients see in `x-sluice-error-class` and SSE `error` events.
//!
//! The Fastly adapter stays thin: it sends the requests a session asks for
//! to named backends, reads bodies, writes the bytes it is given, sleeps, and
//! passes in the current time. Sessions hold no clock and do no I/O, which is
//! why every limit, backoff and keep-alive here is tested with a fake clock.
//!
//! # Upstream plan: the adapter loop
//!
//! ```
//! use sluice_core::stream::plan::{PlanPolicy, ValidatedPlan};
//! use sluice_core::stream::{DownstreamStep, UpstreamFailure};
//!
//! // 1. The origin answered `application/vnd.sluice.upstream-plan+json`.
//! let plan_body = br#"{
//!   "backend": "ollama", "method": "POST", "path": "/api/chat",
//!   "body": {"json": {"model": "llama3.2", "stream": true, "messages": []}},
//!   "codec": "ndjson",
//!   "mapper": {"kind": "text_field", "pointers": ["/message/content", "/response"]},
//!   "done": {"kind": "pointer_equals", "pointer": "/done", "value": true},
//!   "output": "sse",
//!   "sse": {"token_event": "token", "final": {"event": "done", "data": "[DONE]"}}
//! }"#;
//! let policy = PlanPolicy::new(["ollama"]); // the backend allow-list
//! let plan = match ValidatedPlan::parse(plan_body, &policy) {
//!     Ok(plan) => plan,
//!     Err(e) => panic!("adapter: 502 with x-sluice-error-class: {}", e.class()),
//! };
//! // 2. Send plan.request() to backend `plan.request().backend`, then feed
//! //    the status and each body chunk; write what comes out.
//! let mut session = plan.session();
//! let mut client = Vec::new();
//! let upstream = [
//!     &b"{\"message\":{\"content\":\"Hi\"},\"done\":false}\n{\"message\":"[..],
//!     &b"{\"content\":\"!\"},\"done\":true}\n"[..],
//! ];
//! assert_eq!(session.response_status(200).next, DownstreamStep::Continue);
//! for chunk in upstream {
//!     let out = session.feed(chunk);
//!     if let Some(head) = out.head {
//!         assert_eq!(head.header("content-type"), Some("text/event-stream; charset=utf-8"));
//!     }
//!     client.extend_from_slice(&out.bytes); // write + flush
//!     match out.next {
//!         DownstreamStep::Continue => continue,
//!         DownstreamStep::Finish => break,               // end the response cleanly
//!         DownstreamStep::Abort => unreachable!(),       // text output only
//!         DownstreamStep::Reject(r) => panic!("502 {}", r.class),
//!     }
//! }
//! assert_eq!(
//!     client,
//!     b"event: token\ndata: Hi\n\nevent: token\ndata: !\n\nevent: done\ndata: [DONE]\n\n"
//! );
//! // On a connect error, timeout or reset the adapter calls
//! // `session.fail(UpstreamFailure::...)` and obeys the returned output.
//! # let _ = UpstreamFailure::Timeout;
//! ```
//!
//! # Dispatch: the adapter loop
//!
//! ```
//! use sluice_core::stream::dispatch::{Action, DispatchLimits, DispatchSession};
//!
//! let open = br#"{"output": "text", "step_path": "/step", "state": 0}"#;
//! let mut now = 0; // the adapter's monotonic clock, in ms
//! let mut session = DispatchSession::open(open, DispatchLimits::default(), now).unwrap();
//! let mut client = Vec::new();
//! loop {
//!     match session.next_action(now) {
//!         Action::SendHead(head) => assert_eq!(head.status, 200),
//!         Action::Write(bytes) => client.extend_from_slice(&bytes),
//!         Action::Wait { ms } => now += ms, // sleep
//!         Action::Step(call) => {
//!             // POST call.body to call.path on the `origin` backend.
//!             let req: serde_json::Value = serde_json::from_slice(&call.body).unwrap();
//!             let n = req["state"].as_u64().unwrap();
//!             let answer = format!(r#"{{"chunks":["{n} "],"state":{},"done":{}}}"#, n + 1, n == 2);
//!             session.step_response(now, 200, answer.as_bytes());
//!         }
//!         Action::Finish => {}              // end the response cleanly
//!         Action::Abort | Action::Reject(_) => unreachable!(),
//!         Action::Close(_call) => {}        // best-effort POST
//!         Action::Done => break,
//!     }
//! }
//! assert_eq!(client, b"0 1 2 ");
//! ```

pub mod detect;
pub mod dispatch;
pub mod drive;
pub mod error;
pub(crate) mod headers;
pub mod lines;
pub mod mapper;
pub mod ndjson;
pub mod outcome;
pub mod plan;
pub mod sse;
pub mod upstream;

pub use detect::{detect, Strategy};
pub use error::{DecodeError, ErrorClass, FrameError, PlanError};
pub use outcome::{
    DownstreamStep, OutputKind, Rejection, ResponseHead, ERROR_CLASS_HEADER, REJECT_STATUS,
};
pub use plan::{PlanPolicy, UpstreamPlan, ValidatedPlan};
pub use upstream::{Output, UpstreamFailure, UpstreamSession};
