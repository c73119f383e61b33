//! `Content-Encoding` values the pipeline can decode and produce.
//!
//! The set is deliberately closed: a coding we cannot decode must never be
//! rewritten (the bytes would be garbage to the rewriter), so anything outside
//! it is an [`UnsupportedEncoding`] error and the adapter passes the body
//! through untouched instead.

use std::fmt;

use crate::error::UnsupportedEncoding;

/// One `Content-Encoding` the pipeline decodes (input) or produces (output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ContentEncoding {
    /// No coding: the body bytes are the representation.
    #[default]
    Identity,
    /// gzip (RFC 1952), including multi-member streams.
    Gzip,
    /// HTTP "deflate": zlib-wrapped (RFC 1950) as specified, or raw deflate
    /// (RFC 1951) as some servers send it. The decoder sniffs which; the
    /// encoder always writes the zlib-wrapped form the RFC requires.
    Deflate,
    /// Brotli (RFC 7932).
    Brotli,
}

impl ContentEncoding {
    /// Parses a `Content-Encoding` header value.
    ///
    /// Accepts `gzip`, `x-gzip`, `deflate`, `br`, `identity` and the empty
    /// value, ASCII case-insensitively and ignoring surrounding whitespace.
    /// `identity` entries in a list are dropped (they are no-ops), so
    /// `"gzip, identity"` is gzip. Anything else, including a stack of two real
    /// codings such as `"gzip, br"` or an unknown one such as `"zstd"`, is
    /// [`UnsupportedEncoding`]: the pipeline decodes exactly one layer and the
    /// caller must pass such a body through untouched.
    pub fn from_header(v: &str) -> Result<Self, UnsupportedEncoding> {
        let mut found: Option<Self> = None;
        for token in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let coding = if token.eq_ignore_ascii_case("identity") {
                continue;
            } else if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
                Self::Gzip
            } else if token.eq_ignore_ascii_case("deflate") {
                Self::Deflate
            } else if token.eq_ignore_ascii_case("br") {
                Self::Brotli
            } else {
                return Err(UnsupportedEncoding::new(v));
            };
            if found.replace(coding).is_some() {
                // Two real layers: we decode only one.
                return Err(UnsupportedEncoding::new(v));
            }
        }
        Ok(found.unwrap_or(Self::Identity))
    }

    /// The canonical header value to send for this coding, or `None` for
    /// identity (the header is then omitted rather than sent as `identity`).
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some("gzip"),
            Self::Deflate => Some("deflate"),
            Self::Brotli => Some("br"),
        }
    }

    /// A short lower-case name for logs and error messages (`identity` for
    /// the identity coding, otherwise the header value).
    pub fn name(self) -> &'static str {
        self.header_value().unwrap_or("identity")
    }
}

impl fmt::Display for ContentEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `Accept-Encoding` value to send to the origin: exactly the codings
/// the pipeline can decode, so the origin never answers with one we would
/// have to pass through unrewritten.
pub fn accept_encoding_supported() -> &'static str {
    "gzip, deflate, br"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_supported_spelling() {
        for (v, want) in [
            ("", ContentEncoding::Identity),
            ("  ", ContentEncoding::Identity),
            ("identity", ContentEncoding::Identity),
            ("gzip", ContentEncoding::Gzip),
            ("X-GZIP", ContentEncoding::Gzip),
            (" Deflate ", ContentEncoding::Deflate),
            ("BR", ContentEncoding::Brotli),
            ("gzip, identity", ContentEncoding::Gzip),
        ] {
            assert_eq!(ContentEncoding::from_header(v), Ok(want), "{v:?}");
        }
    }

    #[test]
    fn rejects_unknown_and_stacked() {
        for v in [
            "zstd",
            "gzip, br",
            "br,br",
            "compress",
            "gzip;q=1",
            "gzip deflate",
        ] {
            let err = ContentEncoding::from_header(v).unwrap_err();
            assert_eq!(err.value(), v);
        }
    }

    #[test]
    fn header_values_round_trip() {
        for e in [
            ContentEncoding::Identity,
            ContentEncoding::Gzip,
            ContentEncoding::Deflate,
            ContentEncoding::Brotli,
        ] {
            let back = ContentEncoding::from_header(e.header_value().unwrap_or("")).unwrap();
            assert_eq!(back, e);
        }
        assert_eq!(ContentEncoding::Identity.header_value(), None);
        for token in accept_encoding_supported().split(", ") {
            assert!(ContentEncoding::from_header(token).is_ok(), "{token}");
        }
    }
}
