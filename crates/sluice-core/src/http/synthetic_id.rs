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
        let id = hex(&random);
        let sig = hex(&self.mac(id.as_bytes()));
        format!("{id}.{sig}")
    }

    /// Returns the ID when `value` is a well-formed value this key signed.
    /// Comparison is constant-time.
    pub fn verify<'a>(&self, value: &'a str) -> Option<&'a str> {
        let (id, sig) = value.split_once('.')?;
        if id.len() != 32 || sig.len() != 64 || !is_lower_hex(id) {
            return None;
        }
        let sig = unhex(sig)?;
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

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !is_lower_hex(s) || !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
