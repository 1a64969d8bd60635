//! Authentication of the external endpoint: HMAC-SHA256 of the body or a
//! bearer token, both compared in constant time.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::ExternalAuth;

/// `true` when the headers (and, for HMAC, the body) authenticate the
/// request under `auth`.
///
/// - HMAC: the header's value (hex, optionally `sha256=`-prefixed, or
///   base64) is checked with [`Mac::verify_slice`], which compares in
///   constant time.
/// - Bearer: the SHA-256 digests of the expected and the presented token
///   are compared with [`ConstantTimeEq`], so that neither the content nor
///   the length of the token leaks through timing.
pub(crate) fn authenticate(auth: &ExternalAuth, headers: &HeaderMap, body: &[u8]) -> bool {
    match auth {
        ExternalAuth::HmacSha256 { secret, header } => {
            let Some(value) = headers.get(header.as_str()).and_then(|v| v.to_str().ok()) else {
                return false;
            };
            let Some(presented) = decode_mac(value) else {
                return false;
            };
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
                return false;
            };
            mac.update(body);
            mac.verify_slice(&presented).is_ok()
        }
        ExternalAuth::Bearer { token } => {
            let Some(presented) = headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(bearer_token)
            else {
                return false;
            };
            let expected = Sha256::digest(token.expose().as_bytes());
            let presented = Sha256::digest(presented.as_bytes());
            bool::from(expected.as_slice().ct_eq(presented.as_slice()))
        }
    }
}

/// `true` when the request carries the credential `auth` looks for at all
/// (checked before the body is read).
pub(crate) fn has_credential(auth: &ExternalAuth, headers: &HeaderMap) -> bool {
    match auth {
        ExternalAuth::HmacSha256 { header, .. } => headers.contains_key(header.as_str()),
        ExternalAuth::Bearer { .. } => headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .is_some(),
    }
}

fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The MAC bytes of a header value: 64 hex digits (optionally after
/// `sha256=`) or base64.
fn decode_mac(value: &str) -> Option<Vec<u8>> {
    let value = value.trim();
    let value = value.strip_prefix("sha256=").unwrap_or(value);
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (0..32)
            .map(|i| u8::from_str_radix(&value[2 * i..2 * i + 2], 16).ok())
            .collect();
    }
    STANDARD.decode(value.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn mac(secret: &str, body: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    #[test]
    fn hmac_accepts_hex_prefixed_hex_and_base64_and_nothing_else() {
        let auth = ExternalAuth::hmac_sha256("s3cret", "x-signature");
        let body = br#"{"name":"x"}"#;
        let good = mac("s3cret", body);
        for value in [
            hex(&good),
            hex(&good).to_uppercase(),
            format!("sha256={}", hex(&good)),
            STANDARD.encode(&good),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("x-signature", HeaderValue::from_str(&value).unwrap());
            assert!(authenticate(&auth, &headers, body), "{value}");
            assert!(!authenticate(&auth, &headers, b"{}"), "tampered body");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-signature",
            HeaderValue::from_str(&hex(&mac("other", body))).unwrap(),
        );
        assert!(!authenticate(&auth, &headers, body));
        assert!(!authenticate(&auth, &HeaderMap::new(), body));
    }

    #[test]
    fn bearer_needs_the_exact_token() {
        let auth = ExternalAuth::bearer("t0ken");
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            authenticate(&auth, &headers, b"")
        };
        assert!(with("Bearer t0ken"));
        assert!(with("bearer t0ken"));
        assert!(!with("Bearer t0ke"));
        assert!(!with("Bearer t0ken2"));
        assert!(!with("Basic t0ken"));
        assert!(!with("t0ken"));
        assert!(!authenticate(&auth, &HeaderMap::new(), b""));
    }
}
