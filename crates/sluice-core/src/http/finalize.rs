//! The whole-document post-processor of the Buffered path: once the final
//! body is known, the head can describe it exactly.

use http::header::{HeaderName, CONTENT_LENGTH, ETAG};
use http::HeaderValue;
use sha2::{Digest, Sha256};

/// A strong `ETag` over exactly the bytes sent: the first 128 bits of
/// their SHA-256, in lower-case hex, quoted. Equal bodies get equal tags,
/// so a cache or a browser can revalidate a rewritten page.
pub fn strong_etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// The headers a finished buffered body sets, replacing what the streamed
/// head carried: the exact `Content-Length` and the strong `ETag`.
pub fn buffered_headers(body: &[u8]) -> [(HeaderName, HeaderValue); 2] {
    // The tag is quoted lower-case hex: always a valid header value.
    let tag = HeaderValue::from_str(&strong_etag(body))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    [(ETAG, tag), (CONTENT_LENGTH, HeaderValue::from(body.len()))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_is_the_quoted_hex_of_the_first_half_of_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(strong_etag(b"abc"), "\"ba7816bf8f01cfea414140de5dae2223\"");
        assert_ne!(strong_etag(b"abc"), strong_etag(b"abd"));
    }

    #[test]
    fn length_and_tag_describe_the_body() {
        let [(etag, tag), (length, len)] = buffered_headers(b"hello");
        assert_eq!((etag, length), (ETAG, CONTENT_LENGTH));
        assert_eq!(len, "5");
        assert_eq!(tag, strong_etag(b"hello").as_str());
        assert!(!tag.to_str().unwrap().starts_with("W/"));
    }
}
