//! Platform-free HTTP policy: which headers cross the proxy each way, how
//! a response is classified (stream, buffer or pass through), how request
//! bodies go upstream, which encoding a rewritten body leaves in, the
//! Buffered path's post-processor, cookie domains, the signed synthetic
//! ID and the page's own Content-Security-Policy.
//!
//! These decisions are pure functions of header maps and values so they
//! are unit tested natively; the Fastly adapter applies them to real
//! messages.

pub mod accept_encoding;
pub mod classify;
pub mod cookies;
pub mod csp;
pub mod finalize;
pub mod headers;
pub mod hop_by_hop;
pub mod origin_request;
pub mod origin_response;
pub mod output;
pub mod synthetic_id;
pub mod upload;

pub use classify::{classify, BodyHandling, Mode, PassReason, ResponseFacts};
pub use origin_request::ClientView;
