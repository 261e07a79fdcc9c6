//! Signed peer record verification (`gossipsub::verify_peer_record`, as PX does it).
//!
//! Two kinds of input:
//! - `Raw`: arbitrary envelope bytes, verified with and without an expected peer: no panic, and
//!   a record accepted for an expected peer describes that peer.
//! - `Signed`: a record (standard or legacy domain) signed by a key made from fuzzer bytes, with
//!   fuzzer addresses, then changed at most once (bit flip, truncation, appended bytes). The
//!   unchanged record verifies for its author and is refused for any other peer; a changed one
//!   is either refused or describes exactly what was signed.

#![no_main]

use arbitrary::Arbitrary;
use gossipsub::{PeerRecordError, verify_peer_record};
use libfuzzer_sys::fuzz_target;
use libp2p_core::{Multiaddr, PeerRecord};
use libp2p_identity::{Keypair, PeerId, ecdsa, secp256k1};

#[derive(Arbitrary, Debug)]
enum Input {
    Raw {
        envelope: Vec<u8>,
        expected: Option<Vec<u8>>,
    },
    Signed {
        key: KeySeed,
        /// Each entry is parsed as a binary multiaddr; unparsable ones are left out.
        addresses: Vec<Vec<u8>>,
        /// The standard (`libp2p-peer-record`) domain, or rust-libp2p's legacy one.
        interop: bool,
        change: Change,
        other: [u8; 32],
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
    FlipBit(u32),
    Truncate(u32),
    Append(Vec<u8>),
    SetByte(u32, u8),
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

fuzz_target!(|input: Input| match input {
    Input::Raw { envelope, expected } => {
        let _ = verify_peer_record(&envelope, None);
        if let Some(expected) = expected.and_then(|b| PeerId::from_bytes(&b).ok())
            && let Ok(record) = verify_peer_record(&envelope, Some(&expected))
        {
            assert_eq!(record.peer_id(), expected);
        }
    }
    Input::Signed {
        key,
        addresses,
        interop,
        change,
        other,
    } => signed(key, addresses, interop, change, other),
});

fn signed(seed: KeySeed, addresses: Vec<Vec<u8>>, interop: bool, change: Change, other: [u8; 32]) {
    let Some(keypair) = keypair(seed) else {
        return;
    };
    let author = keypair.public().to_peer_id();
    let addresses: Vec<Multiaddr> = addresses
        .into_iter()
        .take(16)
        .filter_map(|b| Multiaddr::try_from(b).ok())
        .collect();
    let record = if interop {
        PeerRecord::new_interop(&keypair, addresses)
    } else {
        PeerRecord::new(&keypair, addresses)
    }
    .expect("signing with a local key");
    let mut bytes = record.to_signed_envelope().into_protobuf_encoding();

    let verified = verify_peer_record(&bytes, Some(&author)).expect("a fresh record verifies");
    assert_eq!(verified.peer_id(), author);
    assert_eq!(verified.addresses(), record.addresses());
    let mut other = other;
    let other = Keypair::ed25519_from_bytes(&mut other)
        .expect("any 32 bytes are an ed25519 secret")
        .public()
        .to_peer_id();
    if other != author {
        assert!(matches!(
            verify_peer_record(&bytes, Some(&other)),
            Err(PeerRecordError::PeerIdMismatch { .. })
        ));
    }

    let len = bytes.len() as u32;
    match change {
        Change::None => return,
        Change::FlipBit(bit) => {
            let bit = (bit % (len * 8)) as usize;
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
        Change::Truncate(at) => bytes.truncate((at % len) as usize),
        Change::Append(tail) => bytes.extend_from_slice(&tail),
        Change::SetByte(at, value) => bytes[(at % len) as usize] = value,
    }
    if let Ok(changed) = verify_peer_record(&bytes, None) {
        // Appended unknown fields or an equivalent encoding may survive; what is signed may not
        // change.
        assert_eq!(
            changed.peer_id(),
            author,
            "a changed record names another peer"
        );
        assert_eq!(
            changed.addresses(),
            record.addresses(),
            "changed addresses verified"
        );
        assert_eq!(changed.seq(), record.seq(), "a changed seq verified");
    }
}
