//! The stream gate: decides, from the response head alone, whether a
//! response is rewritten while streaming, buffered for a whole-document
//! post-processor, or handed to the host untouched.
//!
//! The decision is made before the first body byte so headers can be
//! finalised once; it never depends on the body.

use crate::content_kind::ContentKind;
use crate::encoding::ContentEncoding;

/// How the adapter sends a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rewrite through the pipeline, chunk by chunk, into the client stream.
    Stream,
    /// Rewrite into memory first, because a post-processor needs the whole
    /// document (bounded; over the cap the adapter falls back to `Stream`).
    Buffered,
    /// Hand the origin body to the host untouched (zero guest copies).
    PassThrough,
}

impl Mode {
    /// The stable lower-case name used in `Server-Timing` and access logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Stream => "stream",
            Mode::Buffered => "buffered",
            Mode::PassThrough => "passthrough",
        }
    }
}

/// Why a response was passed through rather than rewritten; logged so an
/// operator can see why a page was not rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassReason {
    /// `HEAD` has no body to rewrite.
    Head,
    /// 1xx, 204, 205 and 304 carry no body.
    NoBody,
    /// A `Content-Encoding` the pipeline cannot decode (e.g. zstd, stacked).
    UnsupportedEncoding,
    /// Binary or unknown content type.
    NotProcessable,
    /// `Content-Disposition: attachment`: a download, never rewritten.
    Attachment,
    /// No rewrite hosts are configured, so rewriting could change nothing.
    NothingToRewrite,
    /// A partial response (`206`): rewriting would break byte offsets.
    Partial,
    /// A raw URL (`crate::rewrite::strip_raw_prefix`): a resource pinned
    /// by Subresource Integrity, served byte-identical to the origin. The
    /// router knows it from the request path, before `classify`.
    Raw,
}

impl PassReason {
    /// The stable lower-case name used in access logs.
    pub fn as_str(self) -> &'static str {
        match self {
            PassReason::Head => "head",
            PassReason::NoBody => "no_body",
            PassReason::UnsupportedEncoding => "unsupported_encoding",
            PassReason::NotProcessable => "not_processable",
            PassReason::Attachment => "attachment",
            PassReason::NothingToRewrite => "nothing_to_rewrite",
            PassReason::Partial => "partial",
            PassReason::Raw => "raw",
        }
    }
}

/// The response facts the gate looks at.
#[derive(Debug, Clone, Default)]
pub struct ResponseFacts<'a> {
    /// The client request was `HEAD`.
    pub is_head: bool,
    /// The origin's status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<&'a str>,
    /// `Content-Encoding`, if any.
    pub content_encoding: Option<&'a str>,
    /// `Content-Disposition`, if any.
    pub content_disposition: Option<&'a str>,
    /// At least one rewrite host is configured.
    pub has_rewrite_hosts: bool,
    /// A whole-document post-processor is enabled for this request path.
    pub wants_buffering: bool,
}

/// The gate's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyHandling {
    /// Rewrite (streaming or buffered) with this content kind and encoding.
    Rewrite {
        /// `Stream` or `Buffered`.
        mode: Mode,
        /// Which processor the pipeline uses.
        kind: ContentKind,
        /// The origin's encoding, decoded by the pipeline.
        encoding: ContentEncoding,
    },
    /// Hand the body to the host untouched.
    PassThrough(PassReason),
}

impl BodyHandling {
    /// The mode this decision sends the body in.
    pub fn mode(&self) -> Mode {
        match self {
            BodyHandling::Rewrite { mode, .. } => *mode,
            BodyHandling::PassThrough(_) => Mode::PassThrough,
        }
    }
}

/// Classifies a response. Order matters: the cheapest, most certain reasons
/// to pass through are checked first.
///
/// A `HEAD` is classified as its `GET` would be, so its head can be the
/// one the `GET` gets (the rewritten body's headers); its body is empty
/// either way, so a `GET` that would pass through makes the `HEAD` pass
/// through with [`PassReason::Head`].
pub fn classify(facts: &ResponseFacts<'_>) -> BodyHandling {
    match classify_get(facts) {
        BodyHandling::PassThrough(_) if facts.is_head => {
            BodyHandling::PassThrough(PassReason::Head)
        }
        decision => decision,
    }
}

fn classify_get(facts: &ResponseFacts<'_>) -> BodyHandling {
    if matches!(facts.status, 100..=199 | 204 | 205 | 304) {
        return BodyHandling::PassThrough(PassReason::NoBody);
    }
    if facts.status == 206 {
        return BodyHandling::PassThrough(PassReason::Partial);
    }
    if facts
        .content_disposition
        .is_some_and(|d| first_token(d).eq_ignore_ascii_case("attachment"))
    {
        return BodyHandling::PassThrough(PassReason::Attachment);
    }
    let kind = facts
        .content_type
        .map(ContentKind::from_content_type)
        .unwrap_or(ContentKind::Other);
    if !kind.is_processable() {
        return BodyHandling::PassThrough(PassReason::NotProcessable);
    }
    let Ok(encoding) = ContentEncoding::from_header(facts.content_encoding.unwrap_or("")) else {
        return BodyHandling::PassThrough(PassReason::UnsupportedEncoding);
    };
    if !facts.has_rewrite_hosts {
        return BodyHandling::PassThrough(PassReason::NothingToRewrite);
    }
    let mode = if facts.wants_buffering {
        Mode::Buffered
    } else {
        Mode::Stream
    };
    BodyHandling::Rewrite {
        mode,
        kind,
        encoding,
    }
}

fn first_token(v: &str) -> &str {
    v.split(';').next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html() -> ResponseFacts<'static> {
        ResponseFacts {
            status: 200,
            content_type: Some("text/html; charset=utf-8"),
            has_rewrite_hosts: true,
            ..Default::default()
        }
    }

    #[test]
    fn html_streams_with_its_encoding() {
        let facts = ResponseFacts {
            content_encoding: Some("gzip"),
            ..html()
        };
        assert_eq!(
            classify(&facts),
            BodyHandling::Rewrite {
                mode: Mode::Stream,
                kind: ContentKind::Html,
                encoding: ContentEncoding::Gzip
            }
        );
    }

    #[test]
    fn error_pages_with_bodies_are_rewritten() {
        for status in [404, 500, 503] {
            let facts = ResponseFacts { status, ..html() };
            assert_eq!(classify(&facts).mode(), Mode::Stream, "{status}");
        }
    }

    #[test]
    fn bodiless_and_partial_responses_pass_through() {
        for (status, reason) in [
            (204, PassReason::NoBody),
            (205, PassReason::NoBody),
            (304, PassReason::NoBody),
            (206, PassReason::Partial),
        ] {
            let facts = ResponseFacts { status, ..html() };
            assert_eq!(
                classify(&facts),
                BodyHandling::PassThrough(reason),
                "{status}"
            );
        }
        let head = ResponseFacts {
            is_head: true,
            content_type: Some("image/png"),
            ..html()
        };
        assert_eq!(classify(&head), BodyHandling::PassThrough(PassReason::Head));
        let head_of_a_page = ResponseFacts {
            is_head: true,
            ..html()
        };
        assert_eq!(
            classify(&head_of_a_page),
            classify(&html()),
            "a HEAD of a rewritten page gets the GET's head"
        );
    }

    #[test]
    fn downloads_binaries_and_unknown_encodings_pass_through() {
        let attachment = ResponseFacts {
            content_disposition: Some("Attachment; filename=\"a.html\""),
            ..html()
        };
        assert_eq!(
            classify(&attachment),
            BodyHandling::PassThrough(PassReason::Attachment)
        );
        let binary = ResponseFacts {
            content_type: Some("application/octet-stream"),
            ..html()
        };
        assert_eq!(
            classify(&binary),
            BodyHandling::PassThrough(PassReason::NotProcessable)
        );
        let zstd = ResponseFacts {
            content_encoding: Some("zstd"),
            ..html()
        };
        assert_eq!(
            classify(&zstd),
            BodyHandling::PassThrough(PassReason::UnsupportedEncoding)
        );
        let untyped = ResponseFacts {
            content_type: None,
            ..html()
        };
        assert_eq!(
            classify(&untyped),
            BodyHandling::PassThrough(PassReason::NotProcessable)
        );
    }

    #[test]
    fn buffering_only_when_asked_and_nothing_to_do_without_hosts() {
        let buffered = ResponseFacts {
            wants_buffering: true,
            ..html()
        };
        assert_eq!(classify(&buffered).mode(), Mode::Buffered);
        let no_hosts = ResponseFacts {
            has_rewrite_hosts: false,
            ..html()
        };
        assert_eq!(
            classify(&no_hosts),
            BodyHandling::PassThrough(PassReason::NothingToRewrite)
        );
    }
}
