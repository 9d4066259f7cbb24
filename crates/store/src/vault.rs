//! Encryption of personal data at rest, and keyed lookup hashes to find it without decrypting.
//!
//! One 32-byte master key (a file in the data directory, made on first start, mode 0600) derives
//! three keys with HMAC-SHA256: one for AES-256-GCM, one for lookups, and the hub's X25519 secret
//! for sealed bodies (`scanpay_proto::seal`). A ciphertext is
//! `nonce (12 bytes) || ciphertext+tag`, and is bound to its row by the associated data (the row
//! id), so a ciphertext copied into another row does not decrypt. Rows of two tables may share
//! an id (a wallet's notifications and its TOTP seed): where one could be passed off as the
//! other, the associated data names the purpose too ([`Purpose`]).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

pub const MASTER_KEY_LENGTH: usize = 32;
const NONCE_LENGTH: usize = 12;

pub struct Vault {
    cipher: Aes256Gcm,
    lookup_key: [u8; 32],
    sealing_secret: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
#[error("a stored ciphertext does not decrypt with this key")]
pub struct DecryptError;

/// What a sealed value is, named in its associated data beside its row's id, where rows of two
/// kinds may share an id. A bank's client may choose the ids of its customers and cards, so a
/// card may share its id with a customer: bound to the id alone, that card's number, copied
/// into the customer's row by someone who can write the database, would open as the
/// customer's ID number. A wallet's TOTP seed shares the wallet's id with its notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    IdNumber,
    CardNumber,
    TotpSeed,
}

impl Purpose {
    /// Its name: in its binding, and (ID numbers, card numbers) the namespace of the keyed
    /// lookup hash ([`Vault::lookup`]) kept beside the value.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::IdNumber => "id_number",
            Purpose::CardNumber => "card_number",
            Purpose::TotpSeed => "totp_seed",
        }
    }

    /// The associated data of a value sealed for this purpose in the row `row_id`: its name,
    /// a NUL, the id.
    pub fn binding(self, row_id: uuid::Uuid) -> Vec<u8> {
        [self.name().as_bytes(), b"\0", row_id.as_bytes()].concat()
    }
}

fn derive(master: &[u8; MASTER_KEY_LENGTH], label: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("HMAC takes any key length");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

impl Vault {
    pub fn new(master: &[u8; MASTER_KEY_LENGTH]) -> Vault {
        let key = derive(master, "scanpay encryption v1");
        Vault {
            cipher: Aes256Gcm::new_from_slice(&key).expect("32-byte key"),
            lookup_key: derive(master, "scanpay lookup v1"),
            sealing_secret: derive(master, "scanpay sealing v1"),
        }
    }

    /// The secret of the hub's X25519 key for sealed bodies: derived from the master key, so
    /// every hub given the same master key publishes the same public key.
    pub fn sealing_secret(&self) -> [u8; 32] {
        self.sealing_secret
    }

    pub fn encrypt(&self, plaintext: &[u8], row_id: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LENGTH];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: row_id,
                },
            )
            .expect("AES-GCM encryption does not fail for in-memory buffers");
        let mut out = Vec::with_capacity(NONCE_LENGTH + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn decrypt(&self, data: &[u8], row_id: &[u8]) -> Result<Vec<u8>, DecryptError> {
        if data.len() < NONCE_LENGTH {
            return Err(DecryptError);
        }
        let (nonce, sealed) = data.split_at(NONCE_LENGTH);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: row_id,
                },
            )
            .map_err(|_| DecryptError)
    }

    /// Seals `plaintext` for `purpose` in the row `row_id`.
    pub fn seal(&self, purpose: Purpose, row_id: uuid::Uuid, plaintext: &[u8]) -> Vec<u8> {
        self.encrypt(plaintext, &purpose.binding(row_id))
    }

    /// Opens a value sealed for `purpose` in the row `row_id`, and nothing else.
    pub fn open(
        &self,
        purpose: Purpose,
        row_id: uuid::Uuid,
        data: &[u8],
    ) -> Result<Vec<u8>, DecryptError> {
        self.decrypt(data, &purpose.binding(row_id))
    }

    /// A value of the row `row_id` sealed before its binding named its purpose (under the id
    /// alone), sealed again for `purpose`; `Ok(None)` when it is sealed for `purpose` already.
    /// Run once over a store before it serves (a bank's start), after which only
    /// [`Vault::open`] opens anything. The value must be the one the row's keyed lookup hash
    /// (`lookup`) names: one copied in from a row of the other kind, back when both opened
    /// alike, is refused rather than made valid.
    pub fn rebind(
        &self,
        purpose: Purpose,
        row_id: uuid::Uuid,
        data: &[u8],
        lookup: &[u8],
    ) -> Result<Option<Vec<u8>>, DecryptError> {
        if self.open(purpose, row_id, data).is_ok() {
            return Ok(None);
        }
        let plaintext = self.decrypt(data, row_id.as_bytes())?;
        let value = std::str::from_utf8(&plaintext).map_err(|_| DecryptError)?;
        if self.lookup(purpose.name(), value) != lookup {
            return Err(DecryptError);
        }
        Ok(Some(self.seal(purpose, row_id, &plaintext)))
    }

    /// A keyed hash of `value` in the namespace `kind` (`card_number`, `id_number`...).
    pub fn lookup(&self, kind: &str, value: &str) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.lookup_key).expect("any key length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// Reads the master key from `path`, or makes one there (mode 0600) when the file is absent.
///
/// Several processes may start on one data directory at once (two hubs, say), so the file is
/// published atomically: written in full under a temporary name, then hard-linked into place,
/// which fails if another process got there first — whose complete key is then read.
pub fn load_or_create_master_key(
    path: &std::path::Path,
) -> std::io::Result<[u8; MASTER_KEY_LENGTH]> {
    let read = |path: &std::path::Path| -> std::io::Result<[u8; MASTER_KEY_LENGTH]> {
        let bytes = std::fs::read(path)?;
        let text = String::from_utf8_lossy(&bytes);
        let decoded = hex::decode(text.trim()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "master key is not hex")
        })?;
        decoded.try_into().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "master key is not 32 bytes",
            )
        })
    };
    match read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        other => return other,
    }
    let mut key = [0u8; MASTER_KEY_LENGTH];
    rand::thread_rng().fill_bytes(&mut key);
    if crate::files::publish_private_file(path, hex::encode(key).as_bytes())? {
        Ok(key)
    } else {
        read(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_for_its_purpose_once_rebound() {
        let vault = Vault::new(&[5; 32]);
        let shared = uuid::Uuid::from_u128(42);
        // A card number sealed the old way, under an id a customer has too.
        let legacy = vault.encrypt(b"4242424242424242", shared.as_bytes());
        let card_lookup = vault.lookup("card_number", "4242424242424242");
        let rebind =
            |purpose, data: &[u8], lookup: &[u8]| vault.rebind(purpose, shared, data, lookup);
        let card = rebind(Purpose::CardNumber, &legacy, &card_lookup)
            .unwrap()
            .expect("sealed again");
        assert_eq!(
            vault.open(Purpose::CardNumber, shared, &card).unwrap(),
            b"4242424242424242"
        );
        // Copied into the customer's row, it does not open as an ID number, neither as sealed
        // now nor as it was.
        assert!(vault.open(Purpose::IdNumber, shared, &card).is_err());
        assert!(vault.open(Purpose::IdNumber, shared, &legacy).is_err());
        // Once rebound, a value is left alone; one that opens under neither binding is an error.
        assert!(
            rebind(Purpose::CardNumber, &card, &card_lookup)
                .unwrap()
                .is_none()
        );
        let elsewhere = vault.encrypt(b"4242424242424242", uuid::Uuid::nil().as_bytes());
        assert!(rebind(Purpose::CardNumber, &elsewhere, &card_lookup).is_err());
        // The card's number copied into the customer's row while both opened alike: the row's
        // own lookup names another number, so it is not sealed as an ID number.
        let id_lookup = vault.lookup("id_number", "L898902C3");
        assert!(rebind(Purpose::IdNumber, &legacy, &id_lookup).is_err());
    }

    #[test]
    fn racing_processes_agree_on_one_complete_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets").join("hub.key");
        let keys: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| load_or_create_master_key(&path).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            keys.windows(2).all(|w| w[0] == w[1]),
            "one key for everyone"
        );
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }

    #[test]
    fn round_trip_and_binding_to_the_row() {
        let vault = Vault::new(&[7; 32]);
        let sealed = vault.encrypt(b"4242424242424242", b"row-1");
        assert!(!sealed.windows(4).any(|w| w == b"4242"));
        assert_eq!(
            vault.decrypt(&sealed, b"row-1").unwrap(),
            b"4242424242424242"
        );
        assert!(vault.decrypt(&sealed, b"row-2").is_err());
        assert!(Vault::new(&[8; 32]).decrypt(&sealed, b"row-1").is_err());
        assert!(vault.decrypt(&sealed[..5], b"row-1").is_err());
        assert_ne!(
            vault.encrypt(b"x", b"r"),
            vault.encrypt(b"x", b"r"),
            "fresh nonces"
        );
        assert_eq!(
            vault.lookup("card_number", "1"),
            vault.lookup("card_number", "1")
        );
        assert_ne!(
            vault.lookup("card_number", "1"),
            vault.lookup("id_number", "1")
        );
    }
}
