//! The signed synthetic ID (`sluice_id` cookie).
//!
//! The edge gives every browser a random 128-bit ID so the origin can
//! recognise returning visitors without its own cookie logic. The value is
//! `<32 hex id>.<64 hex HMAC-SHA256(key, id)>`: a client can present any
//! cookie, but only one the edge signed is accepted, so a forged or edited
//! ID is replaced rather than trusted. Randomness comes from the caller so
//! this module stays deterministic and testable.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The cookie name.
pub const COOKIE_NAME: &str = "sluice_id";

/// Minimum key length accepted: shorter keys make HMAC forgeable by brute
/// force, so configuration with one is rejected.
pub const MIN_KEY_LEN: usize = 16;

/// Errors building a signer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyntheticIdError {
    /// The HMAC key is shorter than [`MIN_KEY_LEN`] bytes.
    #[error("synthetic ID key must be at least {MIN_KEY_LEN} bytes")]
    KeyTooShort,
}

/// Signs and verifies synthetic IDs with one HMAC key.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("Signer { key: <redacted> }")
    }
}

impl Signer {
    /// Builds a signer; the key comes from the Secret Store.
    pub fn new(key: &[u8]) -> Result<Self, SyntheticIdError> {
        if key.len() < MIN_KEY_LEN {
            return Err(SyntheticIdError::KeyTooShort);
        }
        Ok(Self { key: key.to_vec() })
    }

    /// Issues a signed cookie value for 16 random bytes.
    pub fn issue(&self, random: [u8; 16]) -> String {
        let id = hex::encode(random);
        let sig = hex::encode(self.mac(id.as_bytes()));
        format!("{id}.{sig}")
    }

    /// Returns the ID when `value` is a well-formed value this key signed:
    /// 32 and 64 lower-case hex digits, as [`Signer::issue`] writes them.
    /// The MAC comparison is constant-time (`hmac`'s `verify_slice`, built
    /// on `subtle`).
    pub fn verify<'a>(&self, value: &'a str) -> Option<&'a str> {
        let (id, sig) = value.split_once('.')?;
        crate::lower_hex::decode::<16>(id)?;
        let sig = crate::lower_hex::decode::<32>(sig)?;
        let mut mac = self.new_mac();
        mac.update(id.as_bytes());
        mac.verify_slice(&sig).ok().map(|()| id)
    }

    fn new_mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail; fall back
        // to an empty-key MAC rather than panic on a request path.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()))
    }

    fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.new_mac();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

/// Finds the `sluice_id` value in a `Cookie` request header.
pub fn find_in_cookie_header(cookie_header: &str) -> Option<&str> {
    cookie_header.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name.trim() == COOKIE_NAME).then(|| value.trim())
    })
}

/// The `Set-Cookie` value for a newly issued ID.
pub fn set_cookie_value(value: &str, max_age_secs: u64) -> String {
    format!("{COOKIE_NAME}={value}; Secure; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_secs}")
}

/// The visitor's ID for one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Visitor {
    /// The full signed cookie value (empty without an ID).
    pub cookie_value: String,
    /// The 32-hex-digit ID the origin sees; `None` when synthetic IDs are
    /// off for this request.
    pub id: Option<String>,
    /// A `Set-Cookie` is needed (no cookie, or one that failed
    /// verification).
    pub issued: bool,
}

impl Visitor {
    /// Verifies the `sluice_id` in the request's `Cookie` headers, or
    /// issues a new ID from `random` (drawn by the caller, so this stays
    /// deterministic). A cookie that fails verification is replaced, never
    /// trusted. Without a signer the visitor has no ID.
    pub fn identify<'a>(
        signer: Option<&Signer>,
        cookie_headers: impl IntoIterator<Item = &'a str>,
        random: impl FnOnce() -> Option<[u8; 16]>,
    ) -> Option<Self> {
        let Some(signer) = signer else {
            return Some(Self::default());
        };
        let presented = cookie_headers.into_iter().find_map(find_in_cookie_header);
        if let Some(id) = presented.and_then(|value| Some((value, signer.verify(value)?))) {
            return Some(Self {
                cookie_value: id.0.to_owned(),
                id: Some(id.1.to_owned()),
                issued: false,
            });
        }
        let cookie_value = signer.issue(random()?);
        let id = cookie_value.split('.').next().map(str::to_owned);
        Some(Self {
            cookie_value,
            id,
            issued: true,
        })
    }

    /// The headers a response to this visitor gets: a newly issued ID's
    /// `Set-Cookie`, and `Cache-Control` made `private` (from the
    /// response's `existing` values) so no shared cache keeps it. Empty
    /// when nothing was issued.
    pub fn response_headers<'a>(
        &self,
        max_age_secs: u64,
        existing_cache_control: impl IntoIterator<Item = &'a str>,
    ) -> Vec<(&'static str, String)> {
        if !self.issued {
            return Vec::new();
        }
        vec![
            (
                "set-cookie",
                set_cookie_value(&self.cookie_value, max_age_secs),
            ),
            (
                "cache-control",
                crate::http::origin_response::private_cache_control(existing_cache_control),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visitor_is_verified_kept_issued_or_anonymous() {
        let signer = Signer::new(KEY).unwrap();
        let value = signer.issue([1; 16]);
        let cookie = format!("a=1; sluice_id={value}; b=2");
        let never = || -> Option<[u8; 16]> { panic!("no new ID for a valid cookie") };
        let kept = Visitor::identify(Some(&signer), ["x=y", cookie.as_str()], never).unwrap();
        assert_eq!(kept.id.as_deref(), Some("01".repeat(16).as_str()));
        assert_eq!(
            (kept.cookie_value.as_str(), kept.issued),
            (value.as_str(), false)
        );
        assert!(kept.response_headers(60, ["public, max-age=60"]).is_empty());

        let forged = format!("sluice_id={}.{}", "01".repeat(16), "0".repeat(64));
        let new = Visitor::identify(Some(&signer), [forged.as_str()], || Some([2; 16])).unwrap();
        assert_eq!(new.id.as_deref(), Some("02".repeat(16).as_str()));
        assert!(new.issued);
        assert_eq!(signer.verify(&new.cookie_value), new.id.as_deref());
        assert_eq!(
            new.response_headers(60, ["public, max-age=60, s-maxage=600"]),
            [
                ("set-cookie", set_cookie_value(&new.cookie_value, 60)),
                ("cache-control", "private, max-age=60".to_owned()),
            ]
        );

        // No randomness, no ID: the caller's error, not a panic.
        assert_eq!(Visitor::identify(Some(&signer), [], || None), None);
        // IDs off: nothing read, nothing issued.
        let off = Visitor::identify(None, [cookie.as_str()], never).unwrap();
        assert_eq!(off, Visitor::default());
        assert!(off.response_headers(60, []).is_empty());
    }

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_ids_verify_and_carry_the_random_bytes() {
        let signer = Signer::new(KEY).unwrap();
        let value = signer.issue([0xab; 16]);
        assert_eq!(
            signer.verify(&value),
            Some("abababababababababababababababab")
        );
        assert_eq!(value.len(), 32 + 1 + 64);
    }

    #[test]
    fn forged_edited_or_foreign_ids_are_rejected() {
        let signer = Signer::new(KEY).unwrap();
        let other = Signer::new(b"another key that is long enough").unwrap();
        let value = signer.issue([7; 16]);
        let mut edited = value.clone().into_bytes();
        edited[0] = if edited[0] == b'0' { b'1' } else { b'0' };
        let edited = String::from_utf8(edited).unwrap();
        for bad in [
            edited.as_str(),
            &other.issue([7; 16]),
            "0707070707070707070707070707070.",
            "not-a-cookie",
            "",
            &value.to_uppercase(),
        ] {
            assert_eq!(signer.verify(bad), None, "{bad}");
        }
    }

    #[test]
    fn upper_case_hex_is_refused_even_when_the_mac_matches() {
        let signer = Signer::new(KEY).unwrap();
        let value = signer.issue([0xab; 16]);
        let (id, sig) = value.split_once('.').unwrap();
        // The right MAC bytes, written in upper case.
        let upper_sig = format!("{id}.{}", sig.to_ascii_uppercase());
        // An upper-case ID with a valid MAC over exactly those bytes.
        let upper_id = id.to_ascii_uppercase();
        let signed_upper_id = format!(
            "{upper_id}.{}",
            hex::encode(signer.mac(upper_id.as_bytes()))
        );
        for bad in [upper_sig.as_str(), &signed_upper_id] {
            assert_eq!(signer.verify(bad), None, "{bad}");
        }
        assert_eq!(signer.verify(&value), Some(id));
    }

    #[test]
    fn short_keys_are_refused_and_debug_redacts() {
        assert_eq!(
            Signer::new(b"short").unwrap_err(),
            SyntheticIdError::KeyTooShort
        );
        let s = format!("{:?}", Signer::new(KEY).unwrap());
        assert!(!s.contains("0123"));
    }

    #[test]
    fn cookie_header_lookup() {
        assert_eq!(
            find_in_cookie_header("a=1; sluice_id=x.y; b=2"),
            Some("x.y")
        );
        assert_eq!(find_in_cookie_header("xsluice_id=1"), None);
        assert!(set_cookie_value("v", 60).contains("HttpOnly; SameSite=Lax; Path=/; Max-Age=60"));
    }
}
