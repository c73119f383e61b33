//! sluice-origin: a real HTTP/1.1 origin for sluice's demo, end-to-end tests
//! and benchmarks.
//!
//! The binary (`sluice-origin --addr 127.0.0.1:0`) serves the publisher
//! corpus, generated bodies of any size, slow/broken/lying bodies, echo and
//! upload endpoints, SSE and NDJSON streams and a mock OpenAI-compatible LLM.
//! Every route is documented in the crate's `README.md`.
//!
//! The library half exists so tests never have to download a body twice to
//! know what it should be: [`content`] holds the deterministic generators
//! (`/bytes`, `/gen`, the mock LLM tokens) and [`events`] the event records
//! that `GET /__events` returns. [`server`] lets a test run the origin
//! in-process on port 0.
#![forbid(unsafe_code)]

pub mod content;
pub mod events;
pub mod server;

mod body;
mod corpus;
mod encode;
mod error;
mod fail;
mod query;
mod routes;
mod state;

pub use encode::Encoding;
pub use fail::LlmFail;
pub use server::{RunningServer, ServerConfig};
