//! One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238), for wallets that hold a seed and
//! answer a payment's verification with the code their authenticator shows.
//!
//! The code is the dynamic truncation of HMAC(seed, counter) to `digits` decimal digits; TOTP's
//! counter is `(unix_time - t0) / step`. Seeds are shown to the wallet in base32 (RFC 4648, no
//! padding), as authenticator apps expect in an `otpauth://` URI.

use hmac::{Hmac, Mac};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

fn mac(algorithm: Algorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    match algorithm {
        Algorithm::Sha1 => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha256 => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha512 => {
            let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).expect("any key length");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// HOTP: the code for `counter`, `digits` long (6 to 9), zero-padded.
pub fn hotp(algorithm: Algorithm, key: &[u8], counter: u64, digits: u32) -> String {
    assert!((6..=9).contains(&digits), "6 to 9 digits");
    let hash = mac(algorithm, key, &counter.to_be_bytes());
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let binary =
        u32::from_be_bytes(hash[offset..offset + 4].try_into().expect("4 bytes")) & 0x7fff_ffff;
    format!(
        "{:0width$}",
        binary % 10u32.pow(digits),
        width = digits as usize
    )
}

/// TOTP's counter at `unix_time_s` with epoch `t0` and `step_s`.
pub fn totp_counter(unix_time_s: i64, t0: i64, step_s: i64) -> u64 {
    ((unix_time_s - t0).max(0) / step_s) as u64
}

/// TOTP: the code at `unix_time_s` (t0 = 0).
pub fn totp(
    algorithm: Algorithm,
    key: &[u8],
    unix_time_s: i64,
    step_s: i64,
    digits: u32,
) -> String {
    hotp(algorithm, key, totp_counter(unix_time_s, 0, step_s), digits)
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Reads RFC 4648 base32 (padding and case ignored); `None` on any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').chars() {
        let value = BASE32
            .iter()
            .position(|&b| char::from(b) == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/testdata/otp")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Every row of RFC 4226 Appendix D.
    #[test]
    fn hotp_matches_rfc_4226() {
        let text = vectors("rfc4226-hotp.tsv");
        let mut rows = 0;
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("counter"))
        {
            let (counter, code) = line.split_once('\t').unwrap();
            let counter: u64 = counter.trim().parse().unwrap();
            assert_eq!(
                hotp(Algorithm::Sha1, b"12345678901234567890", counter, 6),
                code.trim(),
                "counter {counter}"
            );
            rows += 1;
        }
        assert_eq!(rows, 10);
    }

    /// Every row of RFC 6238 Appendix B, with its three algorithms and seeds.
    #[test]
    fn totp_matches_rfc_6238() {
        let text = vectors("rfc6238-totp.tsv");
        let seed_256 = b"12345678901234567890123456789012";
        let seed_512 = b"1234567890123456789012345678901234567890123456789012345678901234";
        let mut rows = 0;
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("unix_time"))
        {
            let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
            let time: i64 = fields[0].parse().unwrap();
            assert_eq!(
                totp(Algorithm::Sha1, b"12345678901234567890", time, 30, 8),
                fields[1],
                "{time}"
            );
            assert_eq!(
                totp(Algorithm::Sha256, seed_256, time, 30, 8),
                fields[2],
                "{time}"
            );
            assert_eq!(
                totp(Algorithm::Sha512, seed_512, time, 30, 8),
                fields[3],
                "{time}"
            );
            rows += 1;
        }
        assert_eq!(rows, 6);
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        for bytes in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            &[0u8, 255, 7],
        ] {
            assert_eq!(base32_decode(&base32(bytes)).unwrap(), bytes);
        }
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        assert_eq!(base32_decode("M1"), None);
    }
}
