//! Message signature verification (`src/wire/signing.rs`) on arbitrary messages and keys.
//!
//! Two kinds of input:
//! - `Raw`: a message with arbitrary authenticity fields (author id, signature and key bytes),
//!   checked in every validation mode: no panic, and the Anonymous and Strict rules hold.
//! - `Signed`: a message signed by a key made from fuzzer bytes (Ed25519, secp256k1 or ECDSA),
//!   then changed once. Unchanged, it must verify; with a covered field (author, data, the
//!   presence of empty data, seqno, topic, signature) changed, it must not; with `key` changed, it verifies only if `key` still
//!   decodes to the author's key.

#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use gossipsub::__fuzz::{sign, validate};
use gossipsub::{RawMessage, TopicHash, ValidationMode};
use libfuzzer_sys::fuzz_target;
use libp2p_identity::{Keypair, PeerId, PublicKey, ecdsa, secp256k1};

#[derive(Arbitrary, Debug)]
enum Input {
    Raw {
        source: Option<Vec<u8>>,
        data: Vec<u8>,
        data_absent: bool,
        seqno: Option<u64>,
        topic: String,
        signature: Option<Vec<u8>>,
        key: Option<Vec<u8>>,
    },
    Signed {
        key: KeySeed,
        data: Vec<u8>,
        seqno: u64,
        topic: String,
        change: Change,
    },
}

#[derive(Arbitrary, Debug)]
enum KeySeed {
    Ed25519([u8; 32]),
    Secp256k1([u8; 32]),
    Ecdsa([u8; 32]),
}

#[derive(Arbitrary, Debug)]
enum Change {
    None,
    Source(Vec<u8>),
    Data(Vec<u8>),
    Seqno(u64),
    /// Toggles whether the (empty) `data` field is on the wire.
    DataAbsent,
    Topic(String),
    Signature(Vec<u8>),
    FlipSignatureBit(u16),
    Key(Option<Vec<u8>>),
}

const MODES: [ValidationMode; 4] = [
    ValidationMode::Strict,
    ValidationMode::Permissive,
    ValidationMode::Anonymous,
    ValidationMode::None,
];

fuzz_target!(|input: Input| match input {
    Input::Raw {
        source,
        data,
        data_absent,
        seqno,
        topic,
        signature,
        key,
    } => {
        let message = RawMessage {
            source: source.and_then(|b| PeerId::from_bytes(&b).ok()),
            data: data.into(),
            data_absent,
            sequence_number: seqno,
            topic: TopicHash::from_raw(topic),
            signature: signature.map(Bytes::from),
            key: key.map(Bytes::from),
        };
        check_modes(&message);
    }
    Input::Signed {
        key,
        data,
        seqno,
        topic,
        change,
    } => signed(key, data, seqno, topic, change),
});

/// Every mode's rules that hold for any message.
fn check_modes(message: &RawMessage) {
    for mode in MODES {
        let result = validate(mode, message);
        match mode {
            ValidationMode::Anonymous if result.is_ok() => assert!(
                message.source.is_none()
                    && message.sequence_number.is_none()
                    && message.signature.is_none()
                    && message.key.is_none()
            ),
            ValidationMode::Strict if result.is_ok() => assert!(
                message.source.is_some()
                    && message.sequence_number.is_some()
                    && message.signature.is_some()
            ),
            ValidationMode::None => assert!(result.is_ok()),
            _ => {}
        }
    }
    // Permissive accepts everything Strict accepts.
    if validate(ValidationMode::Strict, message).is_ok() {
        assert!(validate(ValidationMode::Permissive, message).is_ok());
    }
}

fn keypair(seed: KeySeed) -> Option<Keypair> {
    match seed {
        KeySeed::Ed25519(mut b) => Keypair::ed25519_from_bytes(&mut b).ok(),
        KeySeed::Secp256k1(mut b) => secp256k1::SecretKey::try_from_bytes(&mut b)
            .ok()
            .map(|sk| secp256k1::Keypair::from(sk).into()),
        KeySeed::Ecdsa(b) => ecdsa::SecretKey::try_from_bytes(b)
            .ok()
            .map(|sk| ecdsa::Keypair::from(sk).into()),
    }
}

fn signed(seed: KeySeed, data: Vec<u8>, seqno: u64, topic: String, change: Change) {
    let Some(keypair) = keypair(seed) else {
        return;
    };
    let author = keypair.public().to_peer_id();
    let mut message = RawMessage {
        source: Some(author),
        data: data.into(),
        data_absent: false,
        sequence_number: Some(seqno),
        topic: TopicHash::from_raw(topic),
        signature: None,
        key: None,
    };
    let (signature, key) = sign(&keypair, &message).expect("signing with a local key");
    message.signature = Some(signature);
    message.key = key;
    let original = message.clone();
    assert_eq!(
        validate(ValidationMode::Strict, &message),
        Ok(()),
        "a freshly signed message does not verify"
    );

    // Whether the change touches what the signature covers.
    let covered = match change {
        Change::None => false,
        Change::Source(bytes) => {
            let Ok(peer) = PeerId::from_bytes(&bytes) else {
                return;
            };
            message.source = Some(peer);
            // Without `key` the verifying key comes from the author id itself.
            true
        }
        Change::Data(data) => {
            message.data = data.into();
            true
        }
        Change::Seqno(seqno) => {
            message.sequence_number = Some(seqno);
            true
        }
        Change::DataAbsent => {
            message.data_absent = !message.data_absent;
            // The flag is ignored (the field written) when there is data.
            message.data.is_empty()
        }
        Change::Topic(topic) => {
            message.topic = TopicHash::from_raw(topic);
            true
        }
        Change::Signature(signature) => {
            message.signature = Some(signature.into());
            true
        }
        Change::FlipSignatureBit(bit) => {
            let mut signature = message.signature.as_deref().unwrap_or_default().to_vec();
            let bit = usize::from(bit) % (signature.len() * 8);
            signature[bit / 8] ^= 1 << (bit % 8);
            message.signature = Some(signature.into());
            true
        }
        Change::Key(key) => {
            message.key = key.map(Bytes::from);
            false
        }
    };
    check_modes(&message);
    let result = validate(ValidationMode::Strict, &message);
    if message == original || (message.data_absent != original.data_absent && !covered) {
        assert_eq!(result, Ok(()), "an unchanged message does not verify");
    } else if covered {
        assert!(
            result.is_err(),
            "a message whose signed content was changed still verifies: {message:?}"
        );
    } else if result.is_ok() {
        // Only `key` changed: it may be dropped (the key is inlined in the author id) or
        // re-encoded, but it must still be the author's key.
        if let Some(key) = &message.key {
            let public = PublicKey::try_decode_protobuf(key).expect("an accepted key decodes");
            assert_eq!(public, keypair.public(), "a foreign key was accepted");
        } else {
            assert_eq!(
                PublicKey::try_decode_protobuf(&author.to_bytes()[2..]).ok(),
                Some(keypair.public()),
                "a message without key verified although the author id inlines no key"
            );
        }
    }
}
