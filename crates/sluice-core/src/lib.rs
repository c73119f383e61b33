//! sluice-core: the platform-free streaming core of sluice.
//!
//! Everything here is plain Rust with no `fastly` dependency, so it is unit
//! tested, property tested, fuzzed and benchmarked natively. The Fastly
//! adapter (`src/` at the workspace root) only moves bytes between the
//! platform's bodies and the types defined here.
//!
//! # Map
//!
//! | Area | Modules | What it decides |
//! |---|---|---|
//! | Pipeline, codecs and rewriters | [`pipeline`], [`rewrite`], [`encoding`], [`content_kind`], [`limits`], [`error`] | decode → rewrite origin URLs → encode, one chunk at a time, in bounded memory |
//! | HTTP policy | [`http`], [`settings`], [`cache`], [`budget`] | what the gate does with a response, which headers cross the proxy, cookie domains, the signed synthetic ID, what the edge cache stores and serves, the CPU budget; the operator's settings |
//! | Stream contracts | [`stream`] | origin-planned streams: the plan and dispatch contracts, the SSE/NDJSON/lines codecs, and the sessions that turn upstream bytes into downstream bytes |
//! | AI gateway | [`ai`] | OpenAI-compatible routes, client and provider keys, request limits, retry and fallback, and the byte-faithful SSE relay |
//! | Request drivers | [`context`], [`pump`], [`sink`], [`page`], [`edge_error`], [`access`], `stream::drive`, `ai::drive`, `cache::inserter` | one request's shared state and access line, the one read loop, commit on the first byte and abort on drop, and the loops that carry each kind of body to the client, generic over the platform (`Read` bodies, a [`sink::Commit`] client) |
//!
//! Every area is push-based and sans-IO: it is given bytes, a status or the
//! time, and answers with bytes and a decision for the adapter to carry
//! out. The examples below are one per area.
//!
//! ## Pipeline: a gzip HTML body, rewritten chunk by chunk
//!
//! ```
//! use std::io::Write;
//! use sluice_core::{ContentEncoding, ContentKind, Pipeline, PipelineConfig, RewriteRules};
//!
//! // The origin's body, gzip-encoded, arriving in 7-byte chunks.
//! let html = br#"<a href="https://origin.example/a">a</a><script>u="https:\/\/origin.example\/b"</script>"#;
//! let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
//! gzip.write_all(html)?;
//! let body = gzip.finish()?;
//!
//! let rules = RewriteRules::new(["origin.example"], "https", "edge.example")?;
//! let config = PipelineConfig::new(
//!     ContentEncoding::Gzip,     // what the origin sent
//!     ContentEncoding::Identity, // what the client gets
//!     ContentKind::Html,
//!     rules,
//! );
//! let mut pipeline = Pipeline::new(config, Vec::new())?;
//! for chunk in body.chunks(7) {
//!     pipeline.write_chunk(chunk)?;
//! }
//! let (client, stats) = pipeline.finish_with_stats()?;
//! assert_eq!(
//!     client,
//!     br#"<a href="https://edge.example/a">a</a><script>u="https:\/\/edge.example\/b"</script>"#
//! );
//! assert_eq!(stats.urls_rewritten, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## HTTP policy: the gate and the headers that never cross
//!
//! ```
//! use sluice_core::http::{classify, hop_by_hop, BodyHandling, Mode, PassReason, ResponseFacts};
//! use sluice_core::{ContentEncoding, ContentKind};
//!
//! // Decided from the response head alone, before the first body byte.
//! let page = ResponseFacts {
//!     status: 200,
//!     content_type: Some("text/html; charset=utf-8"),
//!     content_encoding: Some("gzip"),
//!     has_rewrite_hosts: true,
//!     ..ResponseFacts::default()
//! };
//! assert_eq!(
//!     classify(&page),
//!     BodyHandling::Rewrite { mode: Mode::Stream, kind: ContentKind::Html, encoding: ContentEncoding::Gzip }
//! );
//! let download = ResponseFacts { content_disposition: Some("attachment; filename=a.html"), ..page.clone() };
//! assert_eq!(classify(&download), BodyHandling::PassThrough(PassReason::Attachment));
//!
//! // Connection-scoped headers: the fixed set plus whatever `Connection` names.
//! let strip = hop_by_hop::names_to_strip(["close, X-Debug"]);
//! assert!(strip.iter().any(|n| n == "transfer-encoding"));
//! assert!(strip.iter().any(|n| n == "x-debug"));
//! assert!(!strip.iter().any(|n| n == "content-type"));
//! ```
//!
//! ## Stream contracts: an origin-planned NDJSON stream, cut mid-way
//!
//! ```
//! use sluice_core::stream::plan::{PlanPolicy, ValidatedPlan};
//! use sluice_core::stream::{DownstreamStep, UpstreamFailure};
//!
//! let plan = ValidatedPlan::parse(
//!     br#"{"backend": "ollama", "method": "POST", "path": "/api/generate",
//!          "codec": "ndjson",
//!          "mapper": {"kind": "text_field", "pointers": ["/response"]},
//!          "done": {"kind": "pointer_equals", "pointer": "/done", "value": true},
//!          "output": "text"}"#,
//!     &PlanPolicy::new(["ollama"]), // the backend allow-list
//! )?;
//! let mut session = plan.session();
//! assert_eq!(session.response_status(200).next, DownstreamStep::Continue);
//! // A record split across chunks is decoded once it is whole.
//! assert!(session.feed(br#"{"response":"Hel"#).bytes.is_empty());
//! let out = session.feed(b"lo\"}\n");
//! assert_eq!((out.bytes.as_slice(), out.next), (&b"Hello"[..], DownstreamStep::Continue));
//! // The upstream resets before its done record. Plain text has no in-band
//! // error, so the adapter must abort the response, never end it cleanly.
//! let out = session.fail(UpstreamFailure::Read("connection reset".into()));
//! assert_eq!(out.next, DownstreamStep::Abort);
//! # Ok::<(), sluice_core::stream::PlanError>(())
//! ```
//!
//! ## AI gateway: a provider stream that breaks after the first token
//!
//! ```
//! use sluice_core::ai::errors::ApiError;
//! use sluice_core::ai::fallback::{Failure, GiveUp, RetryDecision, RetryPolicy};
//! use sluice_core::ai::relay::{RelayConfig, SseRelay, StreamEnd};
//!
//! let mut relay = SseRelay::new(RelayConfig::default());
//! let mut client = Vec::new();
//! let token = b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n";
//! let progress = relay.feed(&[&token[..], b"data: {\"cho"].concat(), &mut client)?;
//! assert!(progress.first_byte && progress.first_token);
//! assert_eq!(client, token); // whole events only, byte for byte
//!
//! // The provider's connection drops inside the next event.
//! assert_eq!(relay.finish(), StreamEnd::Truncated { discarded_bytes: 11 });
//! // Bytes reached the client, so the fallback provider is not tried...
//! assert_eq!(
//!     RetryPolicy::default().decide(1, Failure::Read, relay.has_written(), true),
//!     RetryDecision::GiveUp(GiveUp::AfterFirstByte)
//! );
//! // ...and the stream ends with an error event an OpenAI SDK raises, then `[DONE]`.
//! client.clear();
//! assert!(relay.fail(&ApiError::stream_interrupted(), &mut client));
//! assert!(client.starts_with(b"data: {\"error\":{"));
//! assert!(client.ends_with(b"\n\ndata: [DONE]\n\n"));
//! # Ok::<(), sluice_core::ai::relay::RelayError>(())
//! ```
//!
//! ## Request drivers: a counted upload that passes its cap
//!
//! ```
//! use sluice_core::edge_error::{EdgeError, EdgeFault};
//! use sluice_core::pump::{copy_capped, CopyStop};
//!
//! // A client upload of unknown length, copied upstream with a 4-byte cap.
//! let mut upload: &[u8] = b"0123456789";
//! let mut upstream = Vec::new();
//! let stop = copy_capped(&mut upload, &mut upstream, 4).unwrap_err();
//! assert!(matches!(stop, CopyStop::TooLarge(4)));
//! assert!(upstream.is_empty()); // the chunk that crossed the cap never left
//! // The adapter answers with the status the fault maps to.
//! assert_eq!(*EdgeFault::from(stop).error, EdgeError::PayloadTooLarge);
//! ```
#![forbid(unsafe_code)]
pub mod access;
pub mod ai;
pub mod budget;
pub mod cache;
mod codec;
pub mod content_kind;
pub mod context;
pub mod edge_error;
pub mod encoding;
pub mod error;
pub mod http;
pub mod limits;
mod lower_hex;
pub mod page;
pub mod pipeline;
pub mod pump;
pub mod rewrite;
pub mod settings;
pub mod sink;
pub mod stream;
pub use content_kind::{charset_from_content_type, ContentKind};
pub use encoding::{accept_encoding_supported, ContentEncoding};
pub use error::{BombLimit, ErrorSource, PipelineConfigError, PipelineError, UnsupportedEncoding};
pub use limits::PipelineLimits;
pub use pipeline::{
    Pipeline, PipelineConfig, PipelineStats, RewriteStop, Splice, DEFAULT_BROTLI_QUALITY,
    DEFAULT_GZIP_LEVEL,
};
pub use rewrite::RewriteRules;
