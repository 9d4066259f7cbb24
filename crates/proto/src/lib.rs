//! What crosses a process boundary: the HTTP API types of the hub and the bank, the table of
//! stable error codes, the signing of hub → bank requests, and sealed bodies (wallet → hub).
//!
//! "If a type is serializable, it is part of a boundary": every type here is a promise to a
//! client. Add fields and codes; never rename or remove one.
//!
//! Deliberately not here: decisions (see `scanpay-core`), handlers (see the service crates).

pub mod bank;
pub mod error;
pub mod hub;
pub mod otp;
pub mod seal;
pub mod signing;

pub use error::{ErrorBody, ErrorCode};

/// A UUID derived from its parts (SHA-256 over each part with its length): the same parts give the
/// same id in every process, so an id can stand for "this payment's debit" or "this seeded
/// merchant's account" without being stored.
pub fn derived_uuid(parts: &[&[u8]]) -> uuid::Uuid {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let bytes: [u8; 16] = hash.finalize()[..16].try_into().expect("16 bytes");
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
