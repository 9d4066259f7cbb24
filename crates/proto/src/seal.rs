//! Sealed bodies: what a wallet encrypts to the hub's public key (seed 000: photos and fields
//! sent "encrypted by the wallet"), so that neither a TLS-terminating proxy nor a log between
//! phone and hub sees them.
//!
//! The scheme is ECIES over X25519 in the style of HPKE's base mode (DHKEM(X25519, HKDF-SHA256)
//! and AES-256-GCM), with a simpler key schedule and framing; it does not interoperate with HPKE:
//!
//! ```text
//! envelope = 0x01 || ephemeral public key (32) || nonce (12) || AES-256-GCM ciphertext+tag
//! key      = HKDF-SHA256(salt = "scanpay seal v1", ikm = X25519(ephemeral, hub),
//!                        info = ephemeral public || hub public), 32 bytes
//! aad      = the context the hub expects (the registration and the kind of body)
//! ```
//!
//! The hub uses the same scheme the other way: a verification code for a payment is sealed to
//! the bound terminal's public key, so only that phone reads it. And a terminal proves it holds
//! its key when it pays ([`SealingKey::proof`]): an HMAC under the secret its key shares with
//! the hub's, so a device that merely names the bound terminal is not taken for it.
//!
//! A fresh ephemeral key a message gives forward secrecy against a later leak of the wallet's
//! state; the associated data binds the envelope to one registration and one endpoint, so a
//! sealed photo replayed into another session does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

/// The media type of a sealed request body.
pub const MEDIA_TYPE: &str = "application/vnd.scanpay.sealed";
/// The scheme's name, as `GET /v1/sealing-key` publishes it.
pub const ALGORITHM: &str = "X25519-HKDF-SHA256-AES256GCM";

const VERSION: u8 = 1;
const KEY_LENGTH: usize = 32;
const NONCE_LENGTH: usize = 12;
const TAG_LENGTH: usize = 16;
const HEADER_LENGTH: usize = 1 + KEY_LENGTH + NONCE_LENGTH;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the envelope is not version 1 or is too short")]
    Malformed,
    /// Wrong key, tampered bytes, or sealed for another registration or endpoint: one answer
    /// for all, so a prober learns nothing.
    #[error("the envelope does not open with the hub's key for this request")]
    DoesNotOpen,
}

/// The hub's key pair, from 32 secret bytes (the hub derives them from its vault's master key,
/// so every hub sharing the master key publishes the same public key).
pub struct SealingKey {
    secret: StaticSecret,
    public: PublicKey,
}

impl SealingKey {
    pub fn from_secret(bytes: [u8; KEY_LENGTH]) -> SealingKey {
        let secret = StaticSecret::from(bytes);
        let public = PublicKey::from(&secret);
        SealingKey { secret, public }
    }

    pub fn public(&self) -> [u8; KEY_LENGTH] {
        self.public.to_bytes()
    }

    /// The X25519 secret shared with `public`; `None` for a low-order key (whose "secret"
    /// anyone can compute).
    fn shared(&self, public: &[u8; KEY_LENGTH]) -> Option<[u8; KEY_LENGTH]> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*public));
        shared.was_contributory().then(|| *shared.as_bytes())
    }

    /// A terminal's proof that it holds its key, over `message` (see [`proof_message`]): an
    /// HMAC-SHA256 under a key derived from the X25519 secret this key shares with `peer`. The
    /// terminal computes it with its secret and the hub's public key, the hub with its secret
    /// and the terminal's public key, and they agree. `None` for a low-order `peer`.
    pub fn proof(&self, peer: &[u8; KEY_LENGTH], message: &[u8]) -> Option<[u8; 32]> {
        use hmac::Mac;
        Some(
            self.proof_mac(peer, message)?
                .finalize()
                .into_bytes()
                .into(),
        )
    }

    /// Whether `proof` is this key's [`proof`](Self::proof) with `peer` over `message`, compared
    /// in constant time.
    pub fn proof_holds(&self, peer: &[u8; KEY_LENGTH], message: &[u8], proof: &[u8]) -> bool {
        use hmac::Mac;
        self.proof_mac(peer, message)
            .is_some_and(|mac| mac.verify_slice(proof).is_ok())
    }

    fn proof_mac(&self, peer: &[u8; KEY_LENGTH], message: &[u8]) -> Option<hmac::Hmac<Sha256>> {
        use hmac::Mac;
        let shared = self.shared(peer)?;
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(b"scanpay terminal proof v1"), &shared)
            .expand(b"", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key length");
        mac.update(message);
        Some(mac)
    }

    /// Opens an envelope sealed to this key with `aad`.
    pub fn open(&self, envelope: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        if envelope.len() < HEADER_LENGTH + TAG_LENGTH || envelope[0] != VERSION {
            return Err(SealError::Malformed);
        }
        let ephemeral: [u8; KEY_LENGTH] = envelope[1..1 + KEY_LENGTH].try_into().expect("32");
        let ephemeral = PublicKey::from(ephemeral);
        let shared = self.secret.diffie_hellman(&ephemeral);
        // A low-order point gives an all-zero secret anyone could compute.
        if !shared.was_contributory() {
            return Err(SealError::DoesNotOpen);
        }
        let cipher = cipher(shared.as_bytes(), &ephemeral, &self.public);
        let nonce = &envelope[1 + KEY_LENGTH..HEADER_LENGTH];
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: &envelope[HEADER_LENGTH..],
                    aad,
                },
            )
            .map_err(|_| SealError::DoesNotOpen)
    }
}

/// Seals `plaintext` to the hub's `public` key with `aad`; `random` gives 32 + 12 random bytes
/// (the ephemeral secret and the nonce), so the function itself stays deterministic and testable.
pub fn seal(
    public: &[u8; KEY_LENGTH],
    aad: &[u8],
    plaintext: &[u8],
    random: [u8; KEY_LENGTH + NONCE_LENGTH],
) -> Vec<u8> {
    let hub = PublicKey::from(*public);
    let ephemeral_secret =
        StaticSecret::from(<[u8; KEY_LENGTH]>::try_from(&random[..KEY_LENGTH]).expect("32"));
    let ephemeral = PublicKey::from(&ephemeral_secret);
    let shared = ephemeral_secret.diffie_hellman(&hub);
    let cipher = cipher(shared.as_bytes(), &ephemeral, &hub);
    let nonce = &random[KEY_LENGTH..];
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption does not fail for in-memory buffers");
    let mut envelope = Vec::with_capacity(HEADER_LENGTH + sealed.len());
    envelope.push(VERSION);
    envelope.extend_from_slice(ephemeral.as_bytes());
    envelope.extend_from_slice(nonce);
    envelope.extend_from_slice(&sealed);
    envelope
}

/// Whether `public` is a key anything can be sealed to: not one of the low-order points whose
/// shared secret is zero whatever the other side's secret.
pub fn usable_public_key(public: &[u8; KEY_LENGTH]) -> bool {
    SealingKey::from_secret([0x42; KEY_LENGTH])
        .shared(public)
        .is_some()
}

/// What a terminal's proof covers when it pays: the payment's idempotency key (so the proof
/// cannot be moved to another payment), the terminal, the payee, the amount and the currency.
pub fn proof_message(
    idempotency_key: &str,
    terminal_id: &str,
    payee_id: uuid::Uuid,
    amount_minor: i64,
    currency: &str,
) -> Vec<u8> {
    format!("scanpay payment {idempotency_key}|{terminal_id}|{payee_id}|{amount_minor}|{currency}")
        .into_bytes()
}

/// The associated data of a verification code the hub seals to a payer's bound terminal.
pub fn verification_code_aad(payment_id: uuid::Uuid) -> Vec<u8> {
    format!("scanpay verification code {payment_id}").into_bytes()
}

/// The associated data of a sealed registration body: `kind` is `images` or `fields`.
pub fn registration_aad(registration_id: uuid::Uuid, kind: &str) -> Vec<u8> {
    format!("scanpay registration {registration_id} {kind}").into_bytes()
}

fn cipher(shared: &[u8; KEY_LENGTH], ephemeral: &PublicKey, hub: &PublicKey) -> Aes256Gcm {
    let mut info = [0u8; 2 * KEY_LENGTH];
    info[..KEY_LENGTH].copy_from_slice(ephemeral.as_bytes());
    info[KEY_LENGTH..].copy_from_slice(hub.as_bytes());
    let mut key = [0u8; KEY_LENGTH];
    Hkdf::<Sha256>::new(Some(b"scanpay seal v1"), shared)
        .expand(&info, &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    Aes256Gcm::new_from_slice(&key).expect("32-byte key")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(fill: u8) -> [u8; 44] {
        let mut bytes = [fill; 44];
        bytes[0] ^= 0x5a;
        bytes
    }

    #[test]
    fn opens_what_was_sealed_to_it_for_the_same_context_only() {
        let hub = SealingKey::from_secret([7; 32]);
        let envelope = seal(&hub.public(), b"context", b"a photo", random(1));
        assert_eq!(hub.open(&envelope, b"context").unwrap(), b"a photo");
        // Another context (another registration), another key, a flipped bit: no.
        assert_eq!(hub.open(&envelope, b"other"), Err(SealError::DoesNotOpen));
        let stranger = SealingKey::from_secret([8; 32]);
        assert_eq!(
            stranger.open(&envelope, b"context"),
            Err(SealError::DoesNotOpen)
        );
        for index in [0, 1, 40, envelope.len() - 1] {
            let mut tampered = envelope.clone();
            tampered[index] ^= 1;
            assert!(hub.open(&tampered, b"context").is_err(), "byte {index}");
        }
        assert_eq!(
            hub.open(&envelope[..50], b"context"),
            Err(SealError::Malformed)
        );
        assert_eq!(hub.open(b"", b"context"), Err(SealError::Malformed));
    }

    #[test]
    fn an_envelope_is_fresh_each_time() {
        let hub = SealingKey::from_secret([7; 32]);
        let one = seal(&hub.public(), b"c", b"same", random(1));
        let two = seal(&hub.public(), b"c", b"same", random(2));
        assert_ne!(one, two);
        assert_eq!(one.len(), HEADER_LENGTH + 4 + TAG_LENGTH);
    }

    #[test]
    fn a_terminal_proof_agrees_on_both_sides_and_binds_its_message() {
        let hub = SealingKey::from_secret([7; 32]);
        let terminal = SealingKey::from_secret([9; 32]);
        let message = proof_message("k1", "phone", uuid::Uuid::nil(), 1234, "USD");
        let proof = terminal.proof(&hub.public(), &message).unwrap();
        assert!(hub.proof_holds(&terminal.public(), &message, &proof));
        let other = proof_message("k1", "phone", uuid::Uuid::nil(), 1235, "USD");
        assert!(!hub.proof_holds(&terminal.public(), &other, &proof));
        let stranger = SealingKey::from_secret([11; 32]);
        let forged = stranger.proof(&hub.public(), &message).unwrap();
        assert!(!hub.proof_holds(&terminal.public(), &message, &forged));
        assert!(!hub.proof_holds(&[0; 32], &message, &proof));
        assert!(usable_public_key(&terminal.public()));
        assert!(!usable_public_key(&[0; 32]));
    }

    /// A low-order public key (here the all-zero point) makes an all-zero shared secret: refused.
    #[test]
    fn a_low_order_ephemeral_key_is_refused() {
        let hub = SealingKey::from_secret([7; 32]);
        let mut envelope = seal(&hub.public(), b"c", b"x", random(1));
        envelope[1..33].fill(0);
        assert_eq!(hub.open(&envelope, b"c"), Err(SealError::DoesNotOpen));
    }
}
