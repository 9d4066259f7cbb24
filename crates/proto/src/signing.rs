//! Signed requests from the hub to a bank.
//!
//! Each bank shares one secret with the hub. The hub signs
//! `timestamp \n METHOD \n path?query \n sha256(body)` with HMAC-SHA256 and sends
//! `x-scanpay-timestamp` and `x-scanpay-signature: v1=<hex>`. The bank recomputes it and refuses
//! anything unsigned, wrongly signed, or older or newer than [`TIMESTAMP_TOLERANCE_SECONDS`].
//! Replays inside that window are harmless because every request that moves money carries its
//! own idempotent id.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const HEADER_TIMESTAMP: &str = "x-scanpay-timestamp";
pub const HEADER_SIGNATURE: &str = "x-scanpay-signature";
/// How far a request's timestamp may be from the bank's clock.
pub const TIMESTAMP_TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request is not signed")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the request timestamp is outside the accepted window")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

fn mac(
    secret: &[u8],
    timestamp_s: i64,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    let body_hash = hex::encode(Sha256::digest(body));
    mac.update(format!("{timestamp_s}\n{method}\n{path_and_query}\n{body_hash}").as_bytes());
    mac
}

/// The value of the signature header for a request.
pub fn sign(
    secret: &[u8],
    timestamp_s: i64,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> String {
    let tag = mac(secret, timestamp_s, method, path_and_query, body)
        .finalize()
        .into_bytes();
    format!("v1={}", hex::encode(tag))
}

/// Checks a request's signature headers against the secret, in constant time.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now_s: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let timestamp_s: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    let tag = signature
        .strip_prefix("v1=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Malformed)?;
    // Not `(now - t).abs()`: the header is not yet authenticated and may be `i64::MIN`.
    if now_s.abs_diff(timestamp_s) > TIMESTAMP_TOLERANCE_SECONDS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    mac(secret, timestamp_s, method, path_and_query, body)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check() {
        let secret = b"bank-secret";
        let body = br#"{"a":1}"#;
        let good = sign(secret, 1_000, "POST", "/v1/transfers", body);
        // (name, timestamp header, signature header, path, body, now, expected)
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            &'a str,
            &'a [u8],
            i64,
            Result<(), SignatureError>,
        );
        let cases: &[Case] = &[
            (
                "valid",
                Some("1000"),
                Some(&good),
                "/v1/transfers",
                body,
                1_000,
                Ok(()),
            ),
            (
                "clock skew within window",
                Some("1000"),
                Some(&good),
                "/v1/transfers",
                body,
                1_300,
                Ok(()),
            ),
            (
                "too old",
                Some("1000"),
                Some(&good),
                "/v1/transfers",
                body,
                1_301,
                Err(SignatureError::Stale),
            ),
            (
                "from the future",
                Some("1000"),
                Some(&good),
                "/v1/transfers",
                body,
                699,
                Err(SignatureError::Stale),
            ),
            (
                "the earliest time there is",
                Some("-9223372036854775808"),
                Some(&good),
                "/v1/transfers",
                body,
                1_000,
                Err(SignatureError::Stale),
            ),
            (
                "other body",
                Some("1000"),
                Some(&good),
                "/v1/transfers",
                b"{}",
                1_000,
                Err(SignatureError::Mismatch),
            ),
            (
                "other path",
                Some("1000"),
                Some(&good),
                "/v1/accounts",
                body,
                1_000,
                Err(SignatureError::Mismatch),
            ),
            (
                "other timestamp",
                Some("1001"),
                Some(&good),
                "/v1/transfers",
                body,
                1_000,
                Err(SignatureError::Mismatch),
            ),
            (
                "unsigned",
                None,
                None,
                "/v1/transfers",
                body,
                1_000,
                Err(SignatureError::Missing),
            ),
            (
                "no prefix",
                Some("1000"),
                Some("abcd"),
                "/v1/transfers",
                body,
                1_000,
                Err(SignatureError::Malformed),
            ),
            (
                "not hex",
                Some("1000"),
                Some("v1=zz"),
                "/v1/transfers",
                body,
                1_000,
                Err(SignatureError::Malformed),
            ),
        ];
        for (name, ts, sig, path, body, now, expect) in cases {
            assert_eq!(
                &verify(secret, *ts, *sig, "POST", path, body, *now),
                expect,
                "{name}"
            );
        }
        let other = sign(b"another secret", 1_000, "POST", "/v1/transfers", body);
        assert_eq!(
            verify(
                secret,
                Some("1000"),
                Some(&other),
                "POST",
                "/v1/transfers",
                body,
                1_000
            ),
            Err(SignatureError::Mismatch)
        );
    }
}
