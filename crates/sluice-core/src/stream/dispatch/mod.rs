//! Dispatch streams (`application/vnd.sluice.dispatch+json`): the origin
//! answers an open message, then the edge calls its step endpoint again and
//! again, writing the chunks each step returns, until a step says `done`;
//! a final close call reports why the stream ended.
//!
//! [`DispatchSession`] holds all the logic; the adapter only executes its
//! [`Action`]s.

mod backoff;
mod limits;
mod messages;
mod session;

pub use backoff::Backoff;
pub use limits::DispatchLimits;
pub use messages::{
    Chunk, ChunkEvent, CloseReason, CloseRequest, DispatchOpen, ErrorBody, StepRequest,
    StepResponse, DISPATCH_CONTENT_TYPE,
};
pub use session::{Action, DispatchSession, DispatchStats, HttpCall, StepFailure};
