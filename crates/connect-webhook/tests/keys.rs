//! Public keys: RSA keys of 1024 to 4096 bits are accepted, as PEM or bare
//! base64, and verify Fluent's signatures; other keys are refused with
//! what to write.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Keys;
use connect_webhook::WebhookPublicKey;
use connect_webhook::signature::{SignatureCheck, verify};

#[test]
fn keys_of_1024_2048_and_4096_bits_are_read_in_both_forms_and_verify() {
    for (bits, seed) in [(1024, 1), (2048, 2), (4096, 3)] {
        let keys = Keys::generate(bits, seed);
        let bare = WebhookPublicKey::parse(&keys.bare).unwrap();
        let pem = WebhookPublicKey::parse(&keys.pem).unwrap();
        assert_eq!(bare, pem);
        assert_eq!(bare.bits(), bits);
        // Bare base64 split over lines, as copied from a console.
        let wrapped: String = keys
            .bare
            .as_bytes()
            .chunks(64)
            .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(WebhookPublicKey::parse(&wrapped).unwrap(), bare);

        let body = br#"{"id":"1"}"#;
        let signature = keys.sign(body);
        assert_eq!(
            verify(std::slice::from_ref(&bare), Some(&signature), body),
            SignatureCheck::Valid,
            "{bits} bits"
        );
        assert_eq!(
            verify(&[bare], Some(&signature), br#"{"id":"2"}"#),
            SignatureCheck::Invalid
        );
    }
}

#[test]
fn keys_outside_1024_to_4096_bits_are_refused() {
    for (file, bits) in [("rsa-768.pub.pem", 768), ("rsa-4608.pub.pem", 4608)] {
        let pem = std::fs::read_to_string(format!(
            "{}/tests/fixtures/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let error = WebhookPublicKey::parse(&pem).unwrap_err();
        assert_eq!(
            error,
            format!("the RSA key has {bits} bits; keys of 1024 to 4096 bits are accepted")
        );
    }
}

#[test]
fn keys_that_are_not_rsa_spki_say_which_forms_are_accepted() {
    let ec = std::fs::read_to_string(format!(
        "{}/tests/fixtures/ec-p256.pub.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let keys = Keys::generate(1024, 1);
    let cases = [
        ("", "empty"),
        ("not base64 at all!", "not base64"),
        ("aGVsbG8=", "not an x509 SubjectPublicKeyInfo"),
        (ec.as_str(), "not an RSA key"),
        (
            &keys.pem.replace("PUBLIC KEY", "RSA PUBLIC KEY"),
            "not a `PUBLIC KEY`",
        ),
        (
            &keys.pem.replace("-----END PUBLIC KEY-----", ""),
            "no `-----END PUBLIC KEY-----` line",
        ),
    ];
    for (text, expected) in cases {
        let error = WebhookPublicKey::parse(text).unwrap_err();
        assert!(error.contains(expected), "{text:?}: {error}");
        assert!(
            error.contains("-----BEGIN PUBLIC KEY-----") && error.contains("bare base64"),
            "names the accepted forms: {error}"
        );
    }
}

#[test]
fn a_signature_that_is_not_base64_or_absent_is_told_apart() {
    let key = Keys::generate(1024, 1).public();
    assert_eq!(
        verify(std::slice::from_ref(&key), None, b"{}"),
        SignatureCheck::Missing
    );
    assert_eq!(
        verify(std::slice::from_ref(&key), Some("%%%"), b"{}"),
        SignatureCheck::Malformed
    );
    assert_eq!(verify(&[key], Some(""), b"{}"), SignatureCheck::Invalid);
}
