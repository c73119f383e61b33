//! Typed errors of the rewrite pipeline.
//!
//! Every failure knows which side caused it ([`ErrorSource`]) so the adapter
//! can map it without string matching: before the response head is
//! committed an origin fault becomes a 502 and an internal one a 500; after
//! it, any error aborts the client stream (never a clean, truncated end).
//! [`PipelineError::class`] gives a short stable token for logs and headers.

use std::io;

use thiserror::Error;

use crate::encoding::ContentEncoding;

/// Which party a [`PipelineError`] is attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorSource {
    /// The origin's body: corrupt or truncated encoding, a decompression
    /// bomb, markup that exceeds a rewrite cap, or a failing origin read.
    Origin,
    /// The writer the pipeline writes into (the client connection).
    Downstream,
    /// Our configuration or a broken internal invariant.
    Internal,
}

/// A `Content-Encoding` value the pipeline cannot decode (unknown coding or
/// more than one stacked layer). The adapter passes such bodies through.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unsupported Content-Encoding {value:?}")]
pub struct UnsupportedEncoding {
    value: String,
}

impl UnsupportedEncoding {
    pub(crate) fn new(value: &str) -> Self {
        Self {
            value: value.to_owned(),
        }
    }

    /// The header value that was rejected, verbatim.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// Invalid pipeline or rewrite-rule configuration, detected when it is
/// built so a bad config never reaches a body.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PipelineConfigError {
    /// A rewrite host that is not a plain `host` or `host:port`.
    #[error("invalid rewrite host {host:?}: {reason}")]
    InvalidHost {
        /// The host as configured.
        host: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The request scheme must be `http` or `https`.
    #[error("invalid request scheme {0:?}: expected \"http\" or \"https\"")]
    InvalidScheme(String),
    /// The edge authority (`host[:port]`) that URLs are rewritten to.
    #[error("invalid edge authority {authority:?}: {reason}")]
    InvalidAuthority {
        /// The authority as configured.
        authority: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// gzip/deflate levels are 0..=9.
    #[error("gzip level {0} is out of range 0..=9")]
    GzipLevel(u32),
    /// Brotli qualities are 0..=11.
    #[error("brotli quality {0} is out of range 0..=11")]
    BrotliQuality(u32),
}

/// Which decompression-bomb cap was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BombLimit {
    /// Decoded bytes per encoded byte ([`crate::PipelineLimits::with_max_ratio`]).
    Ratio(u64),
    /// Total decoded bytes ([`crate::PipelineLimits::with_max_decoded_bytes`]).
    Total(u64),
}

impl std::fmt::Display for BombLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ratio(r) => write!(f, "the ratio cap of {r}:1"),
            Self::Total(t) => write!(f, "the total cap of {t} bytes"),
        }
    }
}

/// Everything that can go wrong while a body streams through a
/// [`crate::Pipeline`]. After any error the pipeline is poisoned: later calls
/// return [`PipelineError::Poisoned`] and nothing more is written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The encoded body is not valid for its declared coding (including a
    /// `Content-Encoding` that lies about the body).
    #[error("corrupt {encoding} body: {detail}")]
    CorruptInput {
        /// The declared coding.
        encoding: ContentEncoding,
        /// The decoder's description of the fault.
        detail: String,
    },
    /// The encoded body ended before its end-of-stream marker (for example
    /// a gzip member without its trailer): the origin response was cut.
    #[error("truncated {encoding} body: the stream ended before its end marker")]
    Truncated {
        /// The declared coding.
        encoding: ContentEncoding,
    },
    /// Decoding produced more than a cap allows.
    #[error(
        "decompression bomb: {decoded} bytes decoded from {encoded} encoded bytes exceeds {limit}"
    )]
    DecompressionBomb {
        /// Decoded bytes so far.
        decoded: u64,
        /// Encoded bytes received so far.
        encoded: u64,
        /// The cap that was hit.
        limit: BombLimit,
    },
    /// lol_html needed more than [`crate::PipelineLimits::with_html_memory`] to hold
    /// one construct (an unterminated tag, comment or attribute value).
    #[error("HTML rewriter exceeded its memory cap of {limit} bytes (an unterminated tag or attribute?)")]
    HtmlMemoryLimit {
        /// The configured cap.
        limit: usize,
    },
    /// One of sluice's own bounded buffers would have grown past its cap.
    #[error("{what} exceeded its cap of {limit} bytes")]
    LimitExceeded {
        /// Which buffer.
        what: &'static str,
        /// The cap.
        limit: usize,
    },
    /// A brotli body needs a window larger than
    /// [`crate::PipelineLimits::with_max_brotli_window`]. Raised when its first
    /// meta-block starts, before the decoder allocates its ring buffer and
    /// before any output.
    #[error("brotli body needs a {window}-byte window, over the cap of {cap} bytes")]
    BrotliWindowTooLarge {
        /// The ring buffer the body needs: its declared window (`1 <<
        /// WBITS`), or less for a body of one small meta-block.
        window: usize,
        /// The configured cap.
        cap: usize,
    },
    /// lol_html rejected the markup for another reason.
    #[error("HTML rewriter failed: {detail}")]
    Html {
        /// lol_html's message.
        detail: String,
    },
    /// Reading the origin body failed ([`crate::Pipeline::process`] only).
    #[error("reading the origin body failed: {0}")]
    Upstream(#[source] io::Error),
    /// Writing to (or flushing) the downstream writer failed.
    #[error("writing downstream failed: {0}")]
    Downstream(#[source] io::Error),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] PipelineConfigError),
    /// An internal invariant did not hold. Never expected; reported instead
    /// of panicking so a request fails cleanly.
    #[error("internal invariant violated: {detail}")]
    Internal {
        /// Which invariant.
        detail: &'static str,
    },
    /// The pipeline was used again after an earlier error.
    #[error("pipeline used after an earlier error")]
    Poisoned,
}

impl PipelineError {
    /// Who is to blame, for the adapter's status mapping and logs.
    pub fn source_side(&self) -> ErrorSource {
        match self {
            Self::CorruptInput { .. }
            | Self::Truncated { .. }
            | Self::DecompressionBomb { .. }
            | Self::HtmlMemoryLimit { .. }
            | Self::LimitExceeded { .. }
            | Self::BrotliWindowTooLarge { .. }
            | Self::Html { .. }
            | Self::Upstream(_) => ErrorSource::Origin,
            Self::Downstream(_) => ErrorSource::Downstream,
            Self::Config(_) | Self::Internal { .. } | Self::Poisoned => ErrorSource::Internal,
        }
    }

    /// A short, stable, lower-case token naming the failure, for access
    /// logs, metrics and debug headers. Never contains input data.
    pub fn class(&self) -> &'static str {
        match self {
            Self::CorruptInput { .. } => "corrupt_input",
            Self::Truncated { .. } => "truncated_input",
            Self::DecompressionBomb { .. } => "decompression_bomb",
            Self::HtmlMemoryLimit { .. } => "html_memory_limit",
            Self::LimitExceeded { .. } => "limit_exceeded",
            Self::BrotliWindowTooLarge { .. } => "brotli_window",
            Self::Html { .. } => "html_error",
            Self::Upstream(_) => "origin_read",
            Self::Downstream(_) => "downstream_write",
            Self::Config(_) => "config",
            Self::Internal { .. } => "internal",
            Self::Poisoned => "poisoned",
        }
    }

    pub(crate) fn internal(detail: &'static str) -> Self {
        Self::Internal { detail }
    }
}
