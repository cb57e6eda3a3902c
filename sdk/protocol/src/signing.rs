//! ed25519 signing and verification (feature `ed25519`, on by default).
//!
//! Verification is `verify_strict`: it refuses small-order keys and
//! non-canonical signatures, which is also what Solana's Ed25519 precompile
//! does, so a receipt that verifies here verifies on chain and the reverse.

pub use ed25519_dalek::SigningKey;

use crate::bytes::{PublicKey, Signature};
use crate::receipt::{Receipt, SignedReceipt};

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key bytes are not a valid ed25519 point.
    #[error("public key is not a valid ed25519 key")]
    MalformedKey,
    /// The signature does not verify under the key for this message.
    #[error("signature does not verify under the expected key")]
    BadSignature,
    /// The signing key is not the key the record names as its signer.
    #[error("signing key is not the key the record names as its signer")]
    WrongSigner,
}

/// The public half of `key`.
pub fn public_key(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

/// Signs `message` with `key`.
pub fn sign(key: &SigningKey, message: &[u8]) -> Signature {
    use ed25519_dalek::Signer as _;
    Signature(key.sign(message).to_bytes())
}

/// Verifies `signature` over `message` under `key` (strictly).
pub fn verify(
    key: &PublicKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key.0)
        .map_err(|_| SignatureError::MalformedKey)?;
    let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(message, &signature)
        .map_err(|_| SignatureError::BadSignature)
}

impl Receipt {
    /// Signs this receipt's signing message with `key`, which must be the
    /// receipt's node key or renter key.
    pub fn sign(&self, key: &SigningKey) -> Result<Signature, SignatureError> {
        let signer = public_key(key);
        if signer != self.node && signer != self.renter {
            return Err(SignatureError::WrongSigner);
        }
        Ok(sign(key, &self.signing_message()))
    }
}

impl SignedReceipt {
    /// A receipt signed by its node, not yet counter-signed.
    pub fn signed_by_node(receipt: Receipt, node_key: &SigningKey) -> Result<Self, SignatureError> {
        if public_key(node_key) != receipt.node {
            return Err(SignatureError::WrongSigner);
        }
        Ok(Self {
            receipt,
            node_signature: sign(node_key, &receipt.signing_message()),
            renter_signature: None,
        })
    }

    /// Adds the renter's counter-signature, after checking the node's
    /// signature: a renter never endorses a receipt its node did not sign.
    pub fn counter_sign(&mut self, renter_key: &SigningKey) -> Result<(), SignatureError> {
        if public_key(renter_key) != self.receipt.renter {
            return Err(SignatureError::WrongSigner);
        }
        self.verify_node_signature()?;
        self.renter_signature = Some(sign(renter_key, &self.receipt.signing_message()));
        Ok(())
    }

    /// Checks the node's signature.
    pub fn verify_node_signature(&self) -> Result<(), SignatureError> {
        verify(
            &self.receipt.node,
            &self.receipt.signing_message(),
            &self.node_signature,
        )
    }

    /// Checks the renter's counter-signature. `Ok(false)` when there is none yet.
    pub fn verify_renter_signature(&self) -> Result<bool, SignatureError> {
        match &self.renter_signature {
            None => Ok(false),
            Some(signature) => {
                verify(
                    &self.receipt.renter,
                    &self.receipt.signing_message(),
                    signature,
                )?;
                Ok(true)
            }
        }
    }
}
