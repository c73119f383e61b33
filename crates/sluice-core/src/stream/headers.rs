//! Validation of the headers, paths, methods and content types an origin
//! message asks the edge to use.
//!
//! Decision: forbidden headers are **rejected**, not silently dropped. A plan
//! that tries to set `connection`, `host` or `x-forwarded-for` is either a
//! bug or an attack; failing closed with `plan_invalid` surfaces it at once
//! in the origin's tests instead of shipping a response that differs from
//! what the origin believes it sent.

use super::error::PlanError;
use std::collections::BTreeMap;

/// Most headers one message may set.
pub const MAX_HEADERS: usize = 64;
/// Longest header value accepted.
pub const MAX_HEADER_VALUE_BYTES: usize = 8 * 1024;
/// Longest path accepted.
pub const MAX_PATH_BYTES: usize = 8 * 1024;
/// Methods a plan may use: the ones an upstream stream is opened with.
pub const ALLOWED_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Where a header list is going; the forbidden sets differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Headers on the request the edge sends to a backend.
    UpstreamRequest,
    /// Headers on the response the edge sends to the client.
    DownstreamResponse,
}

/// True when a message may not set `name` (lower-case) in `direction`.
///
/// Always forbidden: hop-by-hop and framing headers, `host`, the forwarding
/// headers the edge owns, `content-encoding` (the edge writes and reads
/// identity bytes), `x-sluice-*` (edge-internal signals such as the error
/// class) and `fastly-*` (platform controls). Upstream requests also may not
/// set `accept-encoding` (the decoders need identity bytes, so the edge sets
/// it) or `cdn-loop`. Downstream responses may not set `content-type`: the
/// message's `content_type` field is the one place for it.
pub(crate) fn is_forbidden(name: &str, direction: Direction) -> bool {
    if crate::http::hop_by_hop::is_reserved(name)
        || name == "content-encoding"
        || name.starts_with("x-sluice-")
        || name.starts_with("fastly-")
    {
        return true;
    }
    match direction {
        Direction::UpstreamRequest => name == "accept-encoding" || name == "cdn-loop",
        Direction::DownstreamResponse => name == "content-type",
    }
}

/// Validates a header map and returns it as lower-case `(name, value)` pairs.
pub(crate) fn sanitize(
    headers: &BTreeMap<String, String>,
    direction: Direction,
) -> Result<Vec<(String, String)>, PlanError> {
    if headers.len() > MAX_HEADERS {
        return Err(PlanError::Malformed(format!(
            "more than {MAX_HEADERS} headers"
        )));
    }
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(PlanError::InvalidHeaderName(name.clone()));
        }
        let lower = name.to_ascii_lowercase();
        if is_forbidden(&lower, direction) {
            return Err(PlanError::ForbiddenHeader(lower));
        }
        if !is_valid_value(value) {
            return Err(PlanError::InvalidHeaderValue(lower));
        }
        if out.iter().any(|(n, _): &(String, String)| *n == lower) {
            return Err(PlanError::Malformed(format!(
                "header {lower:?} is given twice"
            )));
        }
        out.push((lower, value.clone()));
    }
    Ok(out)
}

/// Header values must be visible ASCII, space or tab (so the adapter's
/// conversion to a platform header value cannot fail) and at most
/// [`MAX_HEADER_VALUE_BYTES`].
pub(crate) fn is_valid_value(value: &str) -> bool {
    value.len() <= MAX_HEADER_VALUE_BYTES
        && value
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A content type is a non-empty valid header value.
pub(crate) fn validate_content_type(value: &str) -> Result<(), PlanError> {
    if value.trim().is_empty() || !is_valid_value(value) {
        return Err(PlanError::InvalidContentType(value.to_owned()));
    }
    Ok(())
}

/// Paths are origin-relative: `/` first, not `//` (a scheme-relative URL
/// names another host), printable ASCII without space, `#` or `\`, at most
/// [`MAX_PATH_BYTES`]. A query string is allowed. This is what keeps a plan
/// from smuggling an authority into the request target.
pub(crate) fn validate_path(path: &str) -> Result<(), PlanError> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= MAX_PATH_BYTES
        && path
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b'#' && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(PlanError::InvalidPath(path.to_owned()))
    }
}

/// Methods must be one of [`ALLOWED_METHODS`] (exact, upper-case).
pub(crate) fn validate_method(method: &str) -> Result<(), PlanError> {
    if ALLOWED_METHODS.contains(&method) {
        Ok(())
    } else {
        Err(PlanError::MethodNotAllowed(method.to_owned()))
    }
}
