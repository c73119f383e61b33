//! Platform-free HTTP policy: which headers cross the proxy, how a response
//! is classified (stream, buffer or pass through), cookie domains, the
//! signed synthetic ID and the page's Content-Security-Policy.
//!
//! These decisions are pure functions of header values so they are unit
//! tested natively; the Fastly adapter applies them to real messages.

pub mod accept_encoding;
pub mod classify;
pub mod cookies;
pub mod csp;
pub mod hop_by_hop;
pub mod synthetic_id;

pub use classify::{classify, Decision, Mode, PassReason, ResponseFacts};
