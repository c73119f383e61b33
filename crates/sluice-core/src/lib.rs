//! sluice-core: the platform-free streaming core of sluice.
//!
//! Everything here is plain Rust with no `fastly` dependency, so it is unit
//! tested, property tested, fuzzed and benchmarked natively. The Fastly
//! adapter (`src/` at the workspace root) only moves bytes between the
//! platform's bodies and the types defined here.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
pub mod ai;
pub mod budget;
mod codec;
pub mod content_kind;
pub mod encoding;
pub mod error;
pub mod http;
pub mod limits;
pub mod pipeline;
pub mod rewrite;
pub mod settings;
pub mod stream;
pub use content_kind::{charset_from_content_type, ContentKind};
pub use encoding::{accept_encoding_supported, ContentEncoding};
pub use error::{BombLimit, ConfigError, ErrorSource, PipelineError, UnsupportedEncoding};
pub use limits::Limits;
pub use pipeline::{
    Pipeline, PipelineConfig, PipelineStats, RewriteStop, Splice, DEFAULT_BROTLI_QUALITY,
    DEFAULT_GZIP_LEVEL,
};
pub use rewrite::RewriteRules;
