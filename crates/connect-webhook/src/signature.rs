//! Fluent's webhook signature: `fluent-signature`, the base64 of an
//! RSASSA-PKCS1-v1_5 signature with SHA-512 (Java's `SHA512withRSA`) over
//! the raw body bytes, checked against every configured public key.
//!
//! Verification uses the `rsa` crate rather than `ring`, because `ring`
//! refuses RSA keys under 2048 bits and Fluent's published keys are 1024-bit.
//! The `rsa` crate's advisory RUSTSEC-2023-0071 (the "Marvin" timing attack)
//! concerns *decryption* with a *private* key; this crate only ever
//! *verifies* signatures with *public* keys, which holds no secret to leak.
//! (Version 0.10 also addresses that advisory.)

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1::RsaPublicKeyRef;
use rsa::pkcs1::der::Decode;
use rsa::pkcs8::SubjectPublicKeyInfoRef;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, PublicKey};
use sha2::{Digest, Sha512};

/// The header carrying Fluent's SHA512withRSA signature.
pub const SIGNATURE_HEADER: &str = "fluent-signature";

/// Fluent's legacy MD5withRSA header; never accepted on its own.
pub const LEGACY_SIGNATURE_HEADER: &str = "flex.signature";

/// The smallest RSA key accepted, in bits (Fluent's keys are 1024-bit).
pub const MIN_KEY_BITS: usize = 1024;

/// The largest RSA key accepted, in bits.
pub const MAX_KEY_BITS: usize = 4096;

/// One public key of the `public-keys` list, checked when read.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookPublicKey {
    key: PublicKey,
    bits: usize,
}

impl fmt::Debug for WebhookPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookPublicKey")
            .field("algorithm", &"RSA")
            .field("bits", &self.bits)
            .finish()
    }
}

impl WebhookPublicKey {
    /// Reads an x509 SubjectPublicKeyInfo, PEM (`-----BEGIN PUBLIC
    /// KEY-----`) or its bare base64 (as Fluent shows it, possibly split over
    /// lines). An RSA key under [`MIN_KEY_BITS`] or over [`MAX_KEY_BITS`] is
    /// refused. The error says which forms are accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(format!("the public key is empty; {ACCEPTED}"));
        }
        let der = if text.starts_with("-----BEGIN") {
            let (label, der) = pem_rfc7468_decode(text)
                .map_err(|e| format!("the PEM public key cannot be read ({e}); {ACCEPTED}"))?;
            if label != "PUBLIC KEY" {
                return Err(format!(
                    "the PEM block is a `{label}`, not a `PUBLIC KEY` (an x509 SubjectPublicKeyInfo); {ACCEPTED}"
                ));
            }
            der
        } else {
            let compact: String = text.split_whitespace().collect();
            STANDARD
                .decode(compact.as_bytes())
                .map_err(|e| format!("the public key is not base64 ({e}); {ACCEPTED}"))?
        };
        Self::from_der(&der)
    }

    /// Reads the DER of an x509 SubjectPublicKeyInfo holding an RSA key.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let info = SubjectPublicKeyInfoRef::try_from(der).map_err(|e| {
            format!("the public key is not an x509 SubjectPublicKeyInfo ({e}); {ACCEPTED}")
        })?;
        if info.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
            return Err(format!(
                "the public key is not an RSA key (algorithm {}); Fluent signs with RSA; {ACCEPTED}",
                info.algorithm.oid
            ));
        }
        let rsa_key = info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| format!("the RSA public key is malformed; {ACCEPTED}"))
            .and_then(|bytes| {
                RsaPublicKeyRef::from_der(bytes)
                    .map_err(|e| format!("the RSA public key is malformed ({e}); {ACCEPTED}"))
            })?;
        let modulus = rsa_key.modulus.as_bytes();
        let bits = (modulus.len() * 8)
            .saturating_sub(modulus.first().map_or(8, |b| b.leading_zeros() as usize));
        check_bits(bits)?;
        let key = PublicKey::try_from(rsa_key)
            .map_err(|e| format!("the RSA public key is not valid ({e}); {ACCEPTED}"))?;
        Self::from_key(key)
    }

    /// A key already decoded; refused outside 1024 to 4096 bits.
    pub fn from_key(key: PublicKey) -> Result<Self, String> {
        let bits = key.n().as_ref().bit_width() as usize;
        check_bits(bits)?;
        Ok(Self { key, bits })
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// `true` when `signature` is this key's RSASSA-PKCS1-v1_5 signature of
    /// the SHA-512 digest `digest`.
    fn verifies(&self, digest: &[u8], signature: &[u8]) -> bool {
        self.key
            .verify(Pkcs1v15Sign::new::<Sha512>(), digest, signature)
            .is_ok()
    }
}

fn check_bits(bits: usize) -> Result<(), String> {
    if (MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(format!(
            "the RSA key has {bits} bits; keys of {MIN_KEY_BITS} to {MAX_KEY_BITS} bits are accepted"
        ))
    }
}

/// The label and bytes of one PEM block.
fn pem_rfc7468_decode(text: &str) -> Result<(String, Vec<u8>), String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let begin = lines.next().unwrap_or_default();
    let label = begin
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.strip_suffix("-----"))
        .ok_or("no `-----BEGIN ...-----` line")?;
    let mut body = String::new();
    for line in lines {
        if let Some(end) = line.strip_prefix("-----END ") {
            if end.strip_suffix("-----") != Some(label) {
                return Err(format!(
                    "the block ends with `{line}`, not `-----END {label}-----`"
                ));
            }
            let der = STANDARD
                .decode(body.as_bytes())
                .map_err(|e| format!("its base64 is invalid: {e}"))?;
            return Ok((label.to_owned(), der));
        }
        body.push_str(line);
    }
    Err(format!("no `-----END {label}-----` line"))
}

const ACCEPTED: &str = "write the x509 SubjectPublicKeyInfo of an RSA key as PEM (`-----BEGIN PUBLIC KEY-----` ...) or as its bare base64 (`MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ...`)";

/// The outcome of a signature check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// A configured key verified the signature.
    Valid,
    /// There is no `fluent-signature` header.
    Missing,
    /// The header is not base64.
    Malformed,
    /// No configured key verifies it (forged, another key, tampered body).
    Invalid,
}

/// Checks `header` (the `fluent-signature` value) over `body` against
/// every key in `keys` (several keys allow rotation). The body is hashed
/// once.
///
/// ```
/// use connect_webhook::signature::{verify, SignatureCheck};
///
/// assert_eq!(verify(&[], None, b"{}"), SignatureCheck::Missing);
/// assert_eq!(verify(&[], Some("not base64!"), b"{}"), SignatureCheck::Malformed);
/// assert_eq!(verify(&[], Some("AAAA"), b"{}"), SignatureCheck::Invalid);
/// ```
pub fn verify(keys: &[WebhookPublicKey], header: Option<&str>, body: &[u8]) -> SignatureCheck {
    let Some(header) = header else {
        return SignatureCheck::Missing;
    };
    let Ok(signature) = STANDARD.decode(header.trim().as_bytes()) else {
        return SignatureCheck::Malformed;
    };
    let digest = Sha512::digest(body);
    if keys.iter().any(|key| key.verifies(&digest, &signature)) {
        SignatureCheck::Valid
    } else {
        SignatureCheck::Invalid
    }
}
