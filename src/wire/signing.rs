//! Message signatures and the authenticity rules of each [`ValidationMode`].
//!
//! A signature covers `"libp2p-pubsub:" ++ protobuf(Message)` with `from`, `data`, `seqno` and
//! `topic` set and `signature` and `key` unset. The author's public key travels in `key`
//! unless it can be recovered from the author's peer id (an identity multihash, which is the
//! case for Ed25519 and secp256k1 keys).

use bytes::Bytes;
use libp2p_identity::{Keypair, PeerId, PublicKey, SigningError};

use super::convert::encode_message_for_signing;
use crate::authenticity::ValidationMode;
use crate::error::ValidationError;
use crate::types::RawMessage;

/// Multihash code of the identity hash, under which small public keys are inlined in peer ids.
const MULTIHASH_IDENTITY: u64 = 0x00;

/// Signs `msg` (its `signature` and `key` are ignored) with `keypair`.
///
/// Returns the signature and the value for the `key` field: `None` when the public key can be
/// recovered from the keypair's peer id, the protobuf-encoded public key otherwise.
pub(crate) fn sign(
    keypair: &Keypair,
    msg: &RawMessage,
) -> Result<(Bytes, Option<Bytes>), SigningError> {
    let signature = keypair.sign(&encode_message_for_signing(msg))?;
    let public = keypair.public();
    let key = if inlined_public_key(&public.to_peer_id()).is_some() {
        None
    } else {
        Some(Bytes::from(public.encode_protobuf()))
    };
    Ok((Bytes::from(signature), key))
}

/// Verifies the signature of `msg` against its author.
///
/// Requires `source` ([`ValidationError::InvalidPeerId`]), `sequence_number`
/// ([`ValidationError::InvalidSequenceNumber`]) and `signature`
/// ([`ValidationError::MissingSignature`]). The public key comes from `key`, which must decode,
/// be canonically encoded and belong to `source`, or else from `source` itself; otherwise
/// [`ValidationError::InvalidKey`]. A signature that does not verify is
/// [`ValidationError::InvalidSignature`].
pub(crate) fn verify_signature(msg: &RawMessage) -> Result<(), ValidationError> {
    let source = msg.source.ok_or(ValidationError::InvalidPeerId)?;
    if msg.sequence_number.is_none() {
        return Err(ValidationError::InvalidSequenceNumber);
    }
    let signature = msg
        .signature
        .as_ref()
        .ok_or(ValidationError::MissingSignature)?;

    let public = match &msg.key {
        Some(key) => {
            let public =
                PublicKey::try_decode_protobuf(key).map_err(|_| ValidationError::InvalidKey)?;
            // The key decoder skips unknown fields, and the signature does not cover `key`:
            // only the canonical encoding is accepted, so nobody on the path can pad a message
            // (and make our forward of it larger) without invalidating it.
            if public.encode_protobuf() != key[..] {
                return Err(ValidationError::InvalidKey);
            }
            if PeerId::from_public_key(&public) != source {
                return Err(ValidationError::InvalidKey);
            }
            public
        }
        None => inlined_public_key(&source).ok_or(ValidationError::InvalidKey)?,
    };

    if public.verify(&encode_message_for_signing(msg), signature) {
        Ok(())
    } else {
        Err(ValidationError::InvalidSignature)
    }
}

/// Checks the authenticity fields of a received message as `mode` requires.
///
/// - [`ValidationMode::Strict`]: `source`, `sequence_number` and a valid signature required.
/// - [`ValidationMode::Permissive`]: a signature, when present, must be valid.
/// - [`ValidationMode::Anonymous`]: `signature`, `key`, `source` and `sequence_number` must
///   all be absent.
/// - [`ValidationMode::None`]: nothing is checked.
pub(crate) fn validate(mode: ValidationMode, msg: &RawMessage) -> Result<(), ValidationError> {
    match mode {
        ValidationMode::Strict => {
            if msg.source.is_none() {
                return Err(ValidationError::InvalidPeerId);
            }
            if msg.sequence_number.is_none() {
                return Err(ValidationError::InvalidSequenceNumber);
            }
            if msg.signature.is_none() {
                return Err(ValidationError::MissingSignature);
            }
            verify_signature(msg)
        }
        ValidationMode::Permissive => match msg.signature {
            Some(_) => verify_signature(msg),
            None => Ok(()),
        },
        ValidationMode::Anonymous => {
            if msg.signature.is_some() || msg.key.is_some() {
                return Err(ValidationError::SignaturePresent);
            }
            if msg.source.is_some() {
                return Err(ValidationError::SourcePresent);
            }
            if msg.sequence_number.is_some() {
                return Err(ValidationError::SequenceNumberPresent);
            }
            Ok(())
        }
        ValidationMode::None => Ok(()),
    }
}

/// What verifying `msg`'s signature costs, in Ed25519 verifications: the unit of
/// `max_signature_checks_per_heartbeat`. Measured with libp2p-identity 0.2 on one core (1 KiB
/// payload): Ed25519 about 30 µs, secp256k1 about 65 µs (charged 3), ECDSA P-256 about 210 µs
/// (charged 8); RSA, verified only when another crate enables libp2p-identity's `rsa`
/// feature, up to several hundred µs for large keys (charged 16). The key type is read from the
/// first field of the protobuf public key (the `key` field, or the author's identity peer id)
/// without decoding the key; a key whose type cannot be read costs 1 (it fails before any
/// curve arithmetic).
pub(crate) fn verification_cost(msg: &RawMessage) -> usize {
    /// libp2p's `KeyType` enum values.
    const RSA: u8 = 0;
    const ED25519: u8 = 1;
    const SECP256K1: u8 = 2;
    const ECDSA: u8 = 3;
    let key_type = |encoded: &[u8]| match encoded {
        // Field 1 (`Type`), varint; every defined value fits one byte.
        [0x08, key_type, ..] => Some(*key_type),
        _ => None,
    };
    let from_key = msg.key.as_deref().and_then(key_type);
    let key_type = from_key.or_else(|| {
        let multihash = msg.source.as_ref()?.as_ref();
        if multihash.code() != MULTIHASH_IDENTITY {
            return None;
        }
        key_type(multihash.digest())
    });
    match key_type {
        Some(ED25519) | None => 1,
        Some(SECP256K1) => 3,
        Some(ECDSA) => 8,
        Some(RSA) => 16,
        // Unknown types fail to decode.
        Some(_) => 1,
    }
}

/// The most decoded public keys [`inlined_public_key`] keeps per thread.
const KEY_CACHE_SIZE: usize = 1024;

/// The public key inlined in `peer_id` (identity multihash), if any.
///
/// Decoded keys are kept in a small per-thread cache (emptied when it holds
/// [`KEY_CACHE_SIZE`]): decoding an Ed25519 key decompresses a curve point, about 6 % of the
/// instructions of a verification, and authors repeat. A peer id always decodes to the same
/// key, so a cached key is exactly the one decoding would give; ids that do not decode are not
/// cached.
fn inlined_public_key(peer_id: &PeerId) -> Option<PublicKey> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static CACHE: RefCell<HashMap<PeerId, PublicKey>> = RefCell::new(HashMap::new());
    }
    if let Some(key) = CACHE.with_borrow(|cache| cache.get(peer_id).cloned()) {
        return Some(key);
    }
    let multihash = peer_id.as_ref();
    if multihash.code() != MULTIHASH_IDENTITY {
        return None;
    }
    let key = PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    CACHE.with_borrow_mut(|cache| {
        if cache.len() >= KEY_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(*peer_id, key.clone());
    });
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TopicHash;

    fn unsigned(keypair: &Keypair) -> RawMessage {
        RawMessage {
            source: Some(keypair.public().to_peer_id()),
            data: Bytes::from_static(b"some payload"),
            data_absent: false,
            sequence_number: Some(1_700_000_000_000),
            topic: TopicHash::from_raw("topic"),
            signature: None,
            key: None,
        }
    }

    fn signed(keypair: &Keypair) -> RawMessage {
        let mut msg = unsigned(keypair);
        let (signature, key) = sign(keypair, &msg).unwrap();
        msg.signature = Some(signature);
        msg.key = key;
        msg
    }

    fn keypairs() -> [(&'static str, Keypair, bool); 3] {
        [
            ("ed25519", Keypair::generate_ed25519(), false),
            ("secp256k1", Keypair::generate_secp256k1(), false),
            ("ecdsa", Keypair::generate_ecdsa(), true),
        ]
    }

    #[test]
    fn sign_and_verify_each_key_type() {
        for (name, keypair, carries_key) in keypairs() {
            let msg = signed(&keypair);
            assert_eq!(msg.key.is_some(), carries_key, "{name}");
            if let Some(key) = &msg.key {
                assert_eq!(
                    PublicKey::try_decode_protobuf(key).unwrap(),
                    keypair.public()
                );
            }
            assert_eq!(verify_signature(&msg), Ok(()), "{name}");
            assert_eq!(validate(ValidationMode::Strict, &msg), Ok(()), "{name}");
        }
    }

    #[test]
    fn tampering_is_detected() {
        for (name, keypair, _) in keypairs() {
            let msg = signed(&keypair);

            let mut tampered = msg.clone();
            tampered.data = Bytes::from_static(b"other payload");
            assert_eq!(
                verify_signature(&tampered),
                Err(ValidationError::InvalidSignature),
                "{name} data"
            );

            let mut tampered = msg.clone();
            tampered.sequence_number = Some(1_700_000_000_001);
            assert_eq!(
                verify_signature(&tampered),
                Err(ValidationError::InvalidSignature),
                "{name} seqno"
            );

            let mut tampered = msg.clone();
            tampered.topic = TopicHash::from_raw("other");
            assert_eq!(
                verify_signature(&tampered),
                Err(ValidationError::InvalidSignature),
                "{name} topic"
            );
        }
    }

    /// The per-thread key cache never lends one author's key to another: with both authors'
    /// keys cached (valid messages verified first), a message claiming one author but signed
    /// by the other is still rejected, in either order.
    #[test]
    fn cached_keys_stay_with_their_authors() {
        let a = Keypair::generate_ed25519();
        let b = Keypair::generate_ed25519();
        for _ in 0..2 {
            assert_eq!(verify_signature(&signed(&a)), Ok(()));
            assert_eq!(verify_signature(&signed(&b)), Ok(()));
            for (author, signer) in [(&a, &b), (&b, &a)] {
                let mut msg = unsigned(author);
                msg.signature = Some(sign(signer, &msg).unwrap().0);
                assert_eq!(
                    verify_signature(&msg),
                    Err(ValidationError::InvalidSignature)
                );
            }
        }
    }

    #[test]
    fn signature_by_another_key_is_rejected() {
        for (name, keypair, _) in keypairs() {
            let other = Keypair::generate_ed25519();
            let mut msg = unsigned(&keypair);
            let (signature, _) = sign(&other, &msg).unwrap();
            msg.signature = Some(signature);
            // The author's own key, so only the signature is wrong.
            if keypair.public().to_peer_id().as_ref().code() != MULTIHASH_IDENTITY {
                msg.key = Some(Bytes::from(keypair.public().encode_protobuf()));
            }
            assert_eq!(
                verify_signature(&msg),
                Err(ValidationError::InvalidSignature),
                "{name}"
            );
        }
    }

    #[test]
    fn key_of_another_peer_is_rejected() {
        for (name, keypair, _) in keypairs() {
            // The message is signed by `other` and carries `other`'s key, but claims `keypair`'s
            // peer id as its author.
            let other = Keypair::generate_ecdsa();
            let mut msg = unsigned(&keypair);
            let (signature, key) = sign(&other, &msg).unwrap();
            msg.signature = Some(signature);
            msg.key = key;
            assert_eq!(
                verify_signature(&msg),
                Err(ValidationError::InvalidKey),
                "{name}"
            );
        }
    }

    #[test]
    fn undecodable_or_missing_key_is_rejected() {
        let keypair = Keypair::generate_ed25519();
        let mut msg = signed(&keypair);
        msg.key = Some(Bytes::from_static(b"not a key"));
        assert_eq!(verify_signature(&msg), Err(ValidationError::InvalidKey));

        // An ECDSA author's key cannot be recovered from its peer id.
        let keypair = Keypair::generate_ecdsa();
        let mut msg = signed(&keypair);
        msg.key = None;
        assert_eq!(verify_signature(&msg), Err(ValidationError::InvalidKey));
    }

    #[test]
    fn verify_requires_author_seqno_and_signature() {
        let keypair = Keypair::generate_ed25519();
        let msg = signed(&keypair);
        let cases = [
            (
                RawMessage {
                    source: None,
                    ..msg.clone()
                },
                ValidationError::InvalidPeerId,
            ),
            (
                RawMessage {
                    sequence_number: None,
                    ..msg.clone()
                },
                ValidationError::InvalidSequenceNumber,
            ),
            (
                RawMessage {
                    signature: None,
                    ..msg.clone()
                },
                ValidationError::MissingSignature,
            ),
        ];
        for (msg, error) in cases {
            assert_eq!(verify_signature(&msg), Err(error));
            assert_eq!(validate(ValidationMode::Strict, &msg), Err(error));
        }
    }

    #[test]
    fn permissive_mode() {
        let keypair = Keypair::generate_secp256k1();
        let mode = ValidationMode::Permissive;
        assert_eq!(validate(mode, &signed(&keypair)), Ok(()));
        assert_eq!(validate(mode, &unsigned(&keypair)), Ok(()));
        let bare = RawMessage {
            source: None,
            sequence_number: None,
            ..unsigned(&keypair)
        };
        assert_eq!(validate(mode, &bare), Ok(()));

        let mut tampered = signed(&keypair);
        tampered.data = Bytes::from_static(b"x");
        assert_eq!(
            validate(mode, &tampered),
            Err(ValidationError::InvalidSignature)
        );
    }

    #[test]
    fn anonymous_mode() {
        let keypair = Keypair::generate_ed25519();
        let mode = ValidationMode::Anonymous;
        let bare = RawMessage {
            source: None,
            sequence_number: None,
            ..unsigned(&keypair)
        };
        assert_eq!(validate(mode, &bare), Ok(()));

        let cases = [
            (signed(&keypair), ValidationError::SignaturePresent),
            (
                RawMessage {
                    key: Some(Bytes::from_static(b"k")),
                    ..bare.clone()
                },
                ValidationError::SignaturePresent,
            ),
            (
                RawMessage {
                    source: Some(keypair.public().to_peer_id()),
                    ..bare.clone()
                },
                ValidationError::SourcePresent,
            ),
            (
                RawMessage {
                    sequence_number: Some(1),
                    ..bare.clone()
                },
                ValidationError::SequenceNumberPresent,
            ),
        ];
        for (msg, error) in cases {
            assert_eq!(validate(mode, &msg), Err(error));
        }
    }

    #[test]
    fn none_mode_accepts_anything() {
        let keypair = Keypair::generate_ed25519();
        let mut tampered = signed(&keypair);
        tampered.data = Bytes::from_static(b"x");
        assert_eq!(validate(ValidationMode::None, &tampered), Ok(()));
        assert_eq!(validate(ValidationMode::None, &unsigned(&keypair)), Ok(()));
    }
}
