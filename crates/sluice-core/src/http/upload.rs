//! Request bodies on their way to the origin: whether the client's body
//! handle goes upstream untouched or must be counted against a limit, and
//! when a ranged answer must be fetched again whole.

use crate::content_kind::ContentKind;

/// How a request body goes upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// The client body handle goes upstream as is: the host streams it and
    /// no byte enters guest memory.
    Handle,
    /// A body of unknown length under a size limit: the guest copies it
    /// chunk by chunk so it can count, and abandons the upstream body past
    /// the limit (the origin sees an incomplete request, never a complete
    /// truncated one).
    Counted(u64),
}

/// Why a request body is refused before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// The declared length is over `upload.max_bytes`.
    #[error("Content-Length {declared} over upload.max_bytes {limit}")]
    TooLarge {
        /// The client's `Content-Length`.
        declared: u64,
        /// The configured limit.
        limit: u64,
    },
    /// `Content-Length` is not a number.
    #[error("unparseable Content-Length")]
    BadLength,
}

/// Decides how the body goes upstream. With no limit every body is a
/// handle; with one, a declared length is checked before anything is read
/// and a body of unknown length is counted while it streams.
pub fn upload_policy(
    content_length: Option<&str>,
    has_body: bool,
    limit: Option<u64>,
) -> Result<Upload, UploadError> {
    let Some(limit) = limit else {
        return Ok(Upload::Handle);
    };
    match content_length.map(|v| v.trim().parse::<u64>()) {
        Some(Ok(declared)) if declared > limit => Err(UploadError::TooLarge { declared, limit }),
        Some(Ok(_)) => Ok(Upload::Handle),
        Some(Err(_)) => Err(UploadError::BadLength),
        None if has_body => Ok(Upload::Counted(limit)),
        None => Ok(Upload::Handle),
    }
}

/// True when a `206` must be fetched again without `Range`: the edge cannot
/// rewrite a fragment of a processable body (byte offsets would shift), so
/// it serves the whole rewritten document instead (a server may always
/// ignore `Range`). Binaries keep their `206`.
pub fn refetch_whole(
    status: u16,
    content_type: Option<&str>,
    request_had_range: bool,
    has_rewrite_hosts: bool,
) -> bool {
    request_had_range
        && status == 206
        && has_rewrite_hosts
        && content_type.is_some_and(|ct| ContentKind::from_content_type(ct).is_processable())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_limit_every_body_is_a_handle() {
        assert_eq!(
            upload_policy(Some("999999999999"), true, None),
            Ok(Upload::Handle)
        );
        assert_eq!(upload_policy(Some("junk"), true, None), Ok(Upload::Handle));
        assert_eq!(upload_policy(None, true, None), Ok(Upload::Handle));
    }

    #[test]
    fn with_a_limit_lengths_are_checked_and_chunked_bodies_counted() {
        assert_eq!(
            upload_policy(Some("10"), true, Some(10)),
            Ok(Upload::Handle)
        );
        assert_eq!(
            upload_policy(Some(" 11 "), true, Some(10)),
            Err(UploadError::TooLarge {
                declared: 11,
                limit: 10
            })
        );
        assert_eq!(
            upload_policy(Some("1e3"), true, Some(10)),
            Err(UploadError::BadLength)
        );
        assert_eq!(upload_policy(None, true, Some(10)), Ok(Upload::Counted(10)));
        assert_eq!(upload_policy(None, false, Some(10)), Ok(Upload::Handle));
    }

    #[test]
    fn only_ranged_processable_206s_are_fetched_whole() {
        assert!(refetch_whole(206, Some("text/html"), true, true));
        assert!(!refetch_whole(206, Some("image/png"), true, true));
        assert!(!refetch_whole(206, Some("text/html"), false, true));
        assert!(!refetch_whole(206, Some("text/html"), true, false));
        assert!(!refetch_whole(200, Some("text/html"), true, true));
        assert!(!refetch_whole(206, None, true, true));
    }
}
