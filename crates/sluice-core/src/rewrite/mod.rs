//! The rewrite stage: which URLs change ([`RewriteRules`]) and the
//! processors that find them in a body (the streaming byte replacer and the
//! HTML rewriter), dispatched by `Stage` so one pipeline type serves every
//! content kind.

pub(crate) mod charset;
mod html;
mod raw;
mod replacer;
mod rules;

#[doc(hidden)]
pub use html::lol_html_floor;
pub use raw::{raw_origin_target, strip_raw_prefix, RAW_PATH_PREFIX};
pub use rules::RewriteRules;

use crate::content_kind::ContentKind;
use crate::error::PipelineError;
use crate::limits::PipelineLimits;

pub(crate) use replacer::StreamReplacer;

/// Where a processor sends its output, in order.
pub(crate) trait ByteSink {
    /// Accepts the next output bytes.
    fn put(&mut self, bytes: &[u8]) -> Result<(), PipelineError>;
}

impl ByteSink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), PipelineError> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// The processor for one body.
#[derive(Debug)]
pub(crate) enum Stage {
    /// Bytes pass unchanged: binary/unknown kinds, no rewrite hosts, or an
    /// HTML charset lol_html cannot tokenize.
    Passthrough,
    /// CSS, JavaScript, JSON, XML, SVG and text.
    Replace(Box<StreamReplacer>),
    /// HTML through lol_html (as a tokenizer only).
    Html(Box<html::HtmlStage>),
}

impl Stage {
    pub(crate) fn new(
        kind: ContentKind,
        rules: &RewriteRules,
        charset: Option<&str>,
        limits: &PipelineLimits,
    ) -> Result<Self, PipelineError> {
        if rules.is_empty() {
            return Ok(Self::Passthrough);
        }
        Ok(match kind {
            ContentKind::Other => Self::Passthrough,
            ContentKind::Html => match charset::resolve(charset) {
                charset::HtmlCharset::Opaque => Self::Passthrough,
                charset::HtmlCharset::Tokenize {
                    encoding,
                    adjust_on_meta,
                } => Self::Html(Box::new(html::HtmlStage::new(
                    rules.clone(),
                    encoding,
                    adjust_on_meta,
                    limits,
                )?)),
            },
            ContentKind::Css
            | ContentKind::JavaScript
            | ContentKind::Json
            | ContentKind::Xml
            | ContentKind::Text
            | ContentKind::Svg => Self::Replace(Box::new(StreamReplacer::new(rules.clone()))),
        })
    }

    /// Processes one decoded piece.
    pub(crate) fn push(
        &mut self,
        piece: &[u8],
        out: &mut impl ByteSink,
    ) -> Result<(), PipelineError> {
        match self {
            Self::Passthrough => out.put(piece),
            Self::Replace(r) => r.push(piece, out),
            Self::Html(h) => h.push(piece, out),
        }
    }

    /// End of the decoded body: writes everything still held back.
    pub(crate) fn finish(&mut self, out: &mut impl ByteSink) -> Result<(), PipelineError> {
        match self {
            Self::Passthrough => Ok(()),
            Self::Replace(r) => r.finish(out),
            Self::Html(h) => h.finish(out),
        }
    }

    /// Has the HTML stage seen a `<meta>` policy with hash sources?
    pub(crate) fn saw_meta_hash_policy(&self) -> bool {
        match self {
            Self::Html(h) => h.saw_meta_hash_policy(),
            Self::Passthrough | Self::Replace(_) => false,
        }
    }

    /// Stops rewriting (see [`crate::Pipeline::stop_rewriting`]): writes
    /// every byte the processor holds back, unrewritten, and becomes
    /// [`Stage::Passthrough`]. Returns how many bytes went out raw, which
    /// are the last ones pushed; everything pushed before them went out as
    /// a full rewrite of the body would have it.
    pub(crate) fn stop(&mut self, out: &mut impl ByteSink) -> Result<usize, PipelineError> {
        let raw = match self {
            Self::Passthrough => 0,
            Self::Replace(r) => r.stop(out)?,
            Self::Html(h) => h.stop(out)?,
        };
        *self = Self::Passthrough;
        Ok(raw)
    }

    /// URLs rewritten so far.
    pub(crate) fn rewritten(&self) -> u64 {
        match self {
            Self::Passthrough => 0,
            Self::Replace(r) => r.rewritten(),
            Self::Html(h) => h.rewritten(),
        }
    }
}
