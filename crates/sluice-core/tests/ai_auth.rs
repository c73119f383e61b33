//! Client key checks of the AI gateway: accept/reject cases, the digest
//! list format, and that no key material escapes through errors or Debug.

// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use sluice_core::ai::auth::{key_digest_hex, AuthError, ClientKeys, KeyListError, ProviderKey};

fn keys(list: &[&str]) -> ClientKeys {
    let secret = list
        .iter()
        .map(|k| key_digest_hex(k))
        .collect::<Vec<_>>()
        .join(",");
    ClientKeys::parse(&secret).unwrap()
}

#[test]
fn accepts_every_listed_key_and_nothing_else() {
    let keys = keys(&["sk-alice", "sk-bob", "sk-carol"]);
    assert_eq!(keys.len(), 3);
    for key in ["sk-alice", "sk-bob", "sk-carol"] {
        assert_eq!(
            keys.authorize(Some(&format!("Bearer {key}"))),
            Ok(()),
            "{key}"
        );
    }
    for header in [
        "Bearer sk-dave",
        "Bearer sk-alic",
        "Bearer sk-alicex",
        "Bearer SK-ALICE",
        "Bearer sk-alice,sk-bob",
        // The digest itself is not a key.
        &format!("Bearer {}", key_digest_hex("sk-alice")),
    ] {
        assert_eq!(
            keys.authorize(Some(header)),
            Err(AuthError::UnknownKey),
            "{header}"
        );
    }
}

#[test]
fn rejects_missing_header_and_wrong_schemes() {
    let keys = keys(&["sk-alice"]);
    assert_eq!(keys.authorize(None), Err(AuthError::Missing));
    for header in [
        "",
        "sk-alice",
        "Basic c2stYWxpY2U=",
        "Token sk-alice",
        "Bearer",
        "Bearer ",
        "Bearersk-alice",
    ] {
        assert_eq!(
            keys.authorize(Some(header)),
            Err(AuthError::NotBearer),
            "{header:?}"
        );
    }
    // Scheme is case-insensitive and surrounding whitespace tolerated.
    for header in [
        "bearer sk-alice",
        "BEARER  sk-alice",
        "Bearer\tsk-alice ",
        " Bearer sk-alice",
    ] {
        assert_eq!(keys.authorize(Some(header)), Ok(()), "{header:?}");
    }
}

#[test]
fn every_rejection_is_the_same_401() {
    for err in [
        AuthError::Missing,
        AuthError::NotBearer,
        AuthError::UnknownKey,
    ] {
        let api = err.api_error();
        assert_eq!(api.status(), 401);
        assert_eq!(api.code(), Some("invalid_api_key"));
        assert_eq!(api.to_json(), AuthError::Missing.api_error().to_json());
    }
}

#[test]
fn digest_list_format() {
    let a = key_digest_hex("a");
    let b = key_digest_hex("b");
    // Whitespace around entries and a trailing newline are fine.
    let parsed = ClientKeys::parse(&format!(" {a} ,\n{b}\n")).unwrap();
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed.authorize(Some("Bearer b")), Ok(()));

    assert_eq!(ClientKeys::parse(""), Err(KeyListError::Empty));
    assert_eq!(ClientKeys::parse(" \n"), Err(KeyListError::Empty));
    let cases = [
        (format!("{a},"), 1, 0),
        (format!("{a},,{b}"), 1, 0),
        (format!("{a},{}", b.to_uppercase()), 1, 64),
        (format!("{},{a}", &b[..63]), 0, 63),
        (format!("{a},{b}0"), 1, 65),
        (format!("{a};{b}"), 0, 129),
        (format!("{a},{}g", &b[..63]), 1, 64),
        (format!("{a},{}", "sk-alice"), 1, 8),
    ];
    for (secret, index, len) in cases {
        assert_eq!(
            ClientKeys::parse(&secret),
            Err(KeyListError::MalformedDigest { index, len }),
            "{secret}"
        );
    }
}

#[test]
fn no_key_material_in_errors_or_debug() {
    let secret = format!("{},{}", key_digest_hex("sk-alice"), "sk-live-secret-value");
    let err = ClientKeys::parse(&secret).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("sk-live"), "{shown}");
    assert!(!shown.contains(&key_digest_hex("sk-alice")), "{shown}");

    let keys = keys(&["sk-alice"]);
    let shown = format!("{keys:?}");
    assert!(
        !shown.contains(&key_digest_hex("sk-alice")[..16]),
        "{shown}"
    );
    let err = keys.authorize(Some("Bearer sk-guess")).unwrap_err();
    assert!(!format!("{err} {err:?}").contains("sk-guess"));

    let provider = ProviderKey::parse("sk-provider-123").unwrap();
    assert!(!format!("{provider:?}").contains("sk-provider"));
}

proptest! {
    #[test]
    fn a_key_is_accepted_iff_it_is_listed(
        listed in prop::collection::vec("[ -~]{1,40}", 1..5),
        presented in "[!-~]{1,40}",
    ) {
        let secret = listed.iter().map(|k| key_digest_hex(k)).collect::<Vec<_>>().join(",");
        let keys = ClientKeys::parse(&secret).unwrap();
        let expected = listed.iter().any(|k| k == &presented);
        prop_assert_eq!(keys.authorize(Some(&format!("Bearer {presented}"))).is_ok(), expected);
    }
}
