//! What every request handler shares.

use crate::body::FaultGate;
use crate::corpus::Corpus;
use crate::events::EventLog;
use crate::fail::LlmFail;
use http::HeaderValue;
use std::sync::Arc;
use std::time::Duration;

/// Mock LLM settings from the command line.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// The provider key clients must present as `Authorization: Bearer`.
    pub key: String,
    /// Process-wide failure applied to every LLM request.
    pub fail: Option<LlmFail>,
    /// How long `slow-headers` waits before answering.
    pub slow_headers: Duration,
}

/// Shared, read-mostly state of one server.
#[derive(Debug)]
pub struct AppState {
    /// The publisher pages.
    pub corpus: Corpus,
    /// The event log behind `/__events`.
    pub events: Arc<EventLog>,
    /// Mock LLM settings.
    pub llm: LlmSettings,
    /// `x-mock-backend` value put on every response.
    pub name: HeaderValue,
    /// The `once=` / `later=` tokens seen so far.
    pub faults: FaultGate,
    /// The SRI test resources and their hashes, computed at startup.
    pub sri: crate::content::security::SriResources,
}
