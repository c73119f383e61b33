//! Which encoding a rewritten body leaves the guest in.

use super::accept_encoding;
use super::classify::Mode;
use crate::encoding::ContentEncoding;
use crate::settings::OutputEncoding;

/// The encoding a rewritten body is written in, and whether Fastly's host
/// is asked to compress it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputChoice {
    /// What the guest writes.
    pub encoding: ContentEncoding,
    /// `x-compress-hint: on`: the host compresses the identity stream.
    pub compress_hint: bool,
}

/// Chooses the output of a rewritten body.
///
/// By default (`IdentityWithHint`) the guest writes identity and the host
/// compresses outside the guest's CPU budget. A Buffered body is always
/// encoded by the guest: its exact `Content-Length` and strong `ETag` must
/// describe the bytes the client gets. Re-encoding keeps the origin's
/// coding when the client accepts it, else identity.
pub fn choose_output(
    input: ContentEncoding,
    mode: Mode,
    setting: OutputEncoding,
    client_accept_encoding: Option<&str>,
) -> OutputChoice {
    let compress_hint = setting == OutputEncoding::IdentityWithHint && mode != Mode::Buffered;
    let encoding = match input.header_value() {
        Some(coding)
            if !compress_hint && accept_encoding::accepts(client_accept_encoding, coding) =>
        {
            input
        }
        _ => ContentEncoding::Identity,
    };
    OutputChoice {
        encoding,
        compress_hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContentEncoding::{Brotli, Gzip, Identity};

    #[test]
    fn by_default_streams_go_out_identity_with_the_hint() {
        let c = choose_output(
            Gzip,
            Mode::Stream,
            OutputEncoding::IdentityWithHint,
            Some("gzip"),
        );
        assert_eq!(
            c,
            OutputChoice {
                encoding: Identity,
                compress_hint: true
            }
        );
    }

    #[test]
    fn buffered_bodies_are_encoded_by_the_guest_when_the_client_accepts() {
        let hint = OutputEncoding::IdentityWithHint;
        let c = choose_output(Brotli, Mode::Buffered, hint, Some("gzip, br"));
        assert_eq!((c.encoding, c.compress_hint), (Brotli, false));
        let c = choose_output(Brotli, Mode::Buffered, hint, Some("gzip"));
        assert_eq!((c.encoding, c.compress_hint), (Identity, false));
    }

    #[test]
    fn origin_setting_keeps_the_origin_coding_only_if_accepted() {
        let o = OutputEncoding::Origin;
        assert_eq!(
            choose_output(Gzip, Mode::Stream, o, Some("gzip")).encoding,
            Gzip
        );
        assert_eq!(
            choose_output(Gzip, Mode::Stream, o, Some("br")).encoding,
            Identity
        );
        assert_eq!(
            choose_output(Gzip, Mode::Stream, o, None).encoding,
            Identity
        );
        assert_eq!(
            choose_output(Identity, Mode::Stream, o, Some("gzip")).encoding,
            Identity
        );
        assert!(!choose_output(Gzip, Mode::Stream, o, Some("gzip")).compress_hint);
    }
}
