//! Deterministic content generators shared by the server and by tests.
//!
//! Everything here is a pure function of its parameters, so a test can
//! recompute the exact body a route serves (or the exact body the edge should
//! produce after rewriting it) while streaming, without buffering either.

mod bytes;
mod check;
mod gen;
mod rng;
pub mod security;
mod tokens;

pub use bytes::{fill, BLOCK_SIZE};
pub use check::{GenChecker, GenMismatch};
pub use gen::{GenDoc, GenKind, GenReader, UrlForms, GEN_PIECE};
pub use rng::SplitMix64;
pub use tokens::{
    mock_llm_content, mock_llm_token, ollama_default_tokens, DEFAULT_LLM_DELAY_MS,
    DEFAULT_LLM_EVENTS, DEFAULT_NDJSON_DELAY_MS,
};
