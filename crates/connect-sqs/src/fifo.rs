//! FIFO message group and deduplication ids.

use sha2::{Digest, Sha256};

/// The longest group or deduplication id SQS accepts.
const MAX_ID_LEN: usize = 128;

/// `id` when SQS accepts it as a group or deduplication id (1 to 128
/// ASCII letters, digits or punctuation).
pub(crate) fn checked_id(id: &str) -> Option<&str> {
    let valid = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b.is_ascii_punctuation());
    valid.then_some(id)
}

/// `id` itself when SQS accepts it, otherwise a stable hash of it, so any
/// key (spaces, unicode, very long) still maps to one group.
pub(crate) fn normalize_id(id: &str) -> String {
    match checked_id(id) {
        Some(id) => id.to_owned(),
        None => format!("sha256-{}", sha256_hex(id.as_bytes())),
    }
}

/// The message group of an item: its ordering key, else the configured
/// constant group.
pub(crate) fn group_id(ordering_key: Option<&str>, fallback: &str) -> String {
    normalize_id(ordering_key.unwrap_or(fallback))
}

/// The deduplication id of an item: its own dedup id, else a hash of the
/// body (what SQS's content-based deduplication would compute).
pub(crate) fn dedup_id(item_dedup_id: Option<&str>, body: &str) -> String {
    match item_dedup_id {
        Some(id) => normalize_id(id),
        None => sha256_hex(body.as_bytes()),
    }
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use std::fmt::Write;
    let digest = Sha256::digest(data);
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_pass_through() {
        assert_eq!(group_id(Some("customer-1"), "connect"), "customer-1");
        assert_eq!(group_id(None, "connect"), "connect");
        assert_eq!(dedup_id(Some("0f5c-11"), "body"), "0f5c-11");
    }

    #[test]
    fn invalid_ids_are_hashed_stably() {
        let long = "x".repeat(200);
        let a = group_id(Some(&long), "connect");
        assert_eq!(a, group_id(Some(&long), "connect"));
        assert!(checked_id(&a).is_some());
        assert_ne!(group_id(Some("a b"), "c"), group_id(Some("a c"), "c"));
        assert!(checked_id("").is_none());
        assert!(checked_id("ünï").is_none());
    }

    #[test]
    fn content_hash_is_sha256() {
        assert_eq!(
            dedup_id(None, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
