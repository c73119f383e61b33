//! The AI streaming gateway: OpenAI-compatible requests proxied to an LLM
//! provider, with client keys checked at the edge, the provider key added
//! at the edge, and streamed completions relayed event by event.
//!
//! Everything here is sans-IO and clock-free; the Fastly adapter moves the
//! bytes and measures time. One request goes through these phases, each
//! owned by one module:
//!
//! ```text
//! routes::Routes::match_request      → Route, or a 404/405 ApiError
//! auth::ClientKeys::authorize        → or 401 (provider key: auth::ProviderKey)
//! request::BodyCollector / prepare   → upstream body, or 400/413
//! fallback::RetryPolicy::decide      → per failed attempt: retry on llm_fallback or give up
//! relay::SseRelay::feed_each         → downstream bytes, event by event (usage recorded)
//! relay::SseRelay::finish / fail     → clean end, or the in-stream error tail
//! usage::UsageRecord                 → the access-log fields
//! ```
//!
//! Every error a client can see is an [`errors::ApiError`]: OpenAI's error
//! JSON with the matching status.

pub mod auth;
mod chunk;
pub mod drive;
pub mod errors;
pub mod fallback;
pub mod provider_headers;
pub mod relay;
pub mod request;
pub mod routes;
pub mod usage;

pub use errors::ApiError;
