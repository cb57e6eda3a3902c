//! Job inputs sealed to the node that runs them.
//!
//! The renter encrypts a job's input to the assigned node's X25519 key, so the
//! scheduler that relays it (and anyone else on the path) never sees it. The
//! scheme is HPKE (RFC 9180) in base mode with the suite
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305, through the
//! `hpke` crate; nothing here is hand-rolled cryptography.
//!
//! A sealed input is bound to its context: the caller passes the bytes that
//! name the job (the node's agent uses the job spec's digest), and they go into
//! HPKE's `info`, so an input sealed for one job does not open for another,
//! even on the same node.
//!
//! Envelope (all of it is authenticated; see [`Sealed`]):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | [`ENVELOPE_VERSION`] |
//! | 1 | [`SUITE_X25519_SHA256_CHACHA20`] |
//! | 32 | the HPKE encapsulated key |
//! | rest | ciphertext with its 16-byte tag |

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::{CryptoRng, OsRng, UnwrapErr};
use zeroize::Zeroizing;

type Kem = X25519HkdfSha256;

/// The only envelope layout so far; a newer one gets a new number.
pub const ENVELOPE_VERSION: u8 = 1;
/// Suite id of X25519 / HKDF-SHA256 / ChaCha20-Poly1305 (the only one).
pub const SUITE_X25519_SHA256_CHACHA20: u8 = 1;
/// Bytes of an X25519 public key, secret key and encapsulated key.
pub const KEY_LEN: usize = 32;
/// Bytes the AEAD adds (its tag).
pub const TAG_LEN: usize = 16;
/// Bytes before the ciphertext: version, suite, encapsulated key.
pub const HEADER_LEN: usize = 2 + KEY_LEN;
/// Domain prefix of HPKE's `info`, so a Kiln input never opens as anything else.
pub const INFO_DOMAIN: &[u8] = b"kiln/sealed-input/v1\0";

/// Why a sealed input does not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Shorter than a header and a tag: truncated, or not a sealed input.
    #[error("sealed input is {len} bytes, shorter than the {min}-byte minimum (truncated?)")]
    Truncated {
        /// Its length.
        len: usize,
        /// [`HEADER_LEN`] + [`TAG_LEN`].
        min: usize,
    },
    /// An envelope version this build does not know.
    #[error("sealed input version {0} is not supported (this build knows {ENVELOPE_VERSION})")]
    UnknownVersion(u8),
    /// A suite this build does not know.
    #[error(
        "sealed input suite {0} is not supported (this build knows {SUITE_X25519_SHA256_CHACHA20})"
    )]
    UnknownSuite(u8),
    /// The encapsulated key is not a valid X25519 point encoding.
    #[error("sealed input carries an invalid encapsulated key")]
    InvalidEncappedKey,
    /// Authentication failed: sealed to another key or another job, or altered.
    #[error(
        "sealed input does not open with this key and context (another node, another job, or altered)"
    )]
    Unauthentic,
    /// Sealing itself failed (the public key is not usable).
    #[error("cannot seal to this public key")]
    Seal,
}

/// A node's X25519 secret key for opening inputs. Zeroed on drop.
pub struct SecretKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

/// A node's X25519 public key, published in its capability manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; KEY_LEN]);

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        Self::generate_with(&mut UnwrapErr(OsRng))
    }

    /// A new key from `rng` (tests pass a seeded one).
    pub fn generate_with(rng: &mut impl CryptoRng) -> Self {
        let mut seed = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(seed.as_mut());
        let (secret, _) = Kem::derive_keypair(seed.as_ref());
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&secret.to_bytes());
        Self { bytes }
    }

    /// The key stored as `bytes` (what [`SecretKey::to_bytes`] returned).
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Result<Self, SealError> {
        // Any 32 bytes are a valid X25519 scalar (it is clamped when used);
        // decoding still goes through the crate so a future suite checks here.
        <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes).map_err(|_| SealError::Seal)?;
        Ok(Self {
            bytes: Zeroizing::new(*bytes),
        })
    }

    /// The secret bytes, to store (mode 0600) and nowhere else.
    pub fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        self.bytes.clone()
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        let secret = self.hpke_key();
        let mut out = [0u8; KEY_LEN];
        out.copy_from_slice(&Kem::sk_to_pk(&secret).to_bytes());
        PublicKey(out)
    }

    fn hpke_key(&self) -> <Kem as hpke::Kem>::PrivateKey {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(self.bytes.as_ref())
            .expect("checked in from_bytes / made by derive_keypair")
    }
}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecretKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// A sealed input: the envelope's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

fn info(context: &[u8]) -> Vec<u8> {
    [INFO_DOMAIN, context].concat()
}

/// Seals `plaintext` to `node` for `context` (the job's digest).
pub fn seal(node: &PublicKey, context: &[u8], plaintext: &[u8]) -> Result<Sealed, SealError> {
    seal_with(node, context, plaintext, &mut UnwrapErr(OsRng))
}

/// [`seal`] with the caller's random source.
pub fn seal_with(
    node: &PublicKey,
    context: &[u8],
    plaintext: &[u8],
    rng: &mut impl CryptoRng,
) -> Result<Sealed, SealError> {
    let recipient =
        <Kem as hpke::Kem>::PublicKey::from_bytes(&node.0).map_err(|_| SealError::Seal)?;
    let (encapped, ciphertext) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        &recipient,
        &info(context),
        plaintext,
        &[],
        rng,
    )
    .map_err(|_| SealError::Seal)?;
    let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
    out.push(ENVELOPE_VERSION);
    out.push(SUITE_X25519_SHA256_CHACHA20);
    out.extend_from_slice(&encapped.to_bytes());
    out.extend_from_slice(&ciphertext);
    Ok(Sealed(out))
}

/// Opens an envelope sealed to `key` for `context`.
pub fn open(
    key: &SecretKey,
    context: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let min = HEADER_LEN + TAG_LEN;
    if sealed.len() < min {
        return Err(SealError::Truncated {
            len: sealed.len(),
            min,
        });
    }
    let (header, ciphertext) = sealed.split_at(HEADER_LEN);
    let (&[version, suite], encapped) = header.split_at(2) else {
        unreachable!("HEADER_LEN is 2 + KEY_LEN");
    };
    if version != ENVELOPE_VERSION {
        return Err(SealError::UnknownVersion(version));
    }
    if suite != SUITE_X25519_SHA256_CHACHA20 {
        return Err(SealError::UnknownSuite(suite));
    }
    let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(encapped)
        .map_err(|_| SealError::InvalidEncappedKey)?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeR::Base,
        &key.hpke_key(),
        &encapped,
        &info(context),
        ciphertext,
        &[],
    )
    .map(Zeroizing::new)
    .map_err(|_| SealError::Unauthentic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn opens_for_its_node_and_job_only() {
        let node = SecretKey::generate();
        let other = SecretKey::generate();
        let sealed = seal(&node.public_key(), b"job-1", b"secret input").unwrap();
        assert_eq!(
            &open(&node, b"job-1", &sealed.0).unwrap()[..],
            b"secret input"
        );
        assert_eq!(
            open(&other, b"job-1", &sealed.0),
            Err(SealError::Unauthentic)
        );
        assert_eq!(
            open(&node, b"job-2", &sealed.0),
            Err(SealError::Unauthentic)
        );
    }

    #[test]
    fn every_malformed_envelope_has_its_error() {
        let node = SecretKey::generate();
        let sealed = seal(&node.public_key(), b"j", b"x").unwrap().0;
        assert_eq!(
            open(&node, b"j", &sealed[..HEADER_LEN + TAG_LEN - 1]),
            Err(SealError::Truncated {
                len: HEADER_LEN + TAG_LEN - 1,
                min: HEADER_LEN + TAG_LEN
            })
        );
        let mut bad = sealed.clone();
        bad[0] = 9;
        assert_eq!(open(&node, b"j", &bad), Err(SealError::UnknownVersion(9)));
        let mut bad = sealed.clone();
        bad[1] = 7;
        assert_eq!(open(&node, b"j", &bad), Err(SealError::UnknownSuite(7)));
        let mut bad = sealed;
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(open(&node, b"j", &bad), Err(SealError::Unauthentic));
    }

    #[test]
    fn a_stored_key_is_the_same_key() {
        let key = SecretKey::generate();
        let again = SecretKey::from_bytes(&key.to_bytes()).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        assert!(!format!("{key:?}").contains(&format!("{:?}", &key.to_bytes()[..4])));
    }

    proptest! {
        #[test]
        fn any_input_round_trips_and_any_flipped_byte_is_refused(
            input in proptest::collection::vec(any::<u8>(), 0..512),
            flip in any::<prop::sample::Index>(),
        ) {
            let node = SecretKey::generate();
            let sealed = seal(&node.public_key(), b"ctx", &input).unwrap().0;
            prop_assert_eq!(&open(&node, b"ctx", &sealed).unwrap()[..], &input[..]);
            let mut bad = sealed.clone();
            let i = flip.index(bad.len());
            bad[i] ^= 0x80;
            prop_assert!(open(&node, b"ctx", &bad).is_err());
        }
    }
}
