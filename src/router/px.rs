//! Peer exchange: verification of signed peer records received in PRUNE, and the records we
//! know of other peers (to offer in our own PRUNEs).

use libp2p_core::PeerRecord;
use libp2p_core::signed_envelope::SignedEnvelope;
use libp2p_identity::PeerId;

/// Why a signed peer record was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerRecordError {
    /// The bytes are not a `SignedEnvelope`.
    #[error("not a signed envelope: {0}")]
    Decode(String),
    /// The signature, domain or payload type is wrong, or the payload is not a peer record.
    #[error("invalid peer record: {0}")]
    Invalid(String),
    /// The record is signed by, and describes, another peer than the one it was listed for.
    #[error("record of {actual} listed for {expected}")]
    PeerIdMismatch {
        /// The peer the record was offered for.
        expected: Box<PeerId>,
        /// The peer the record describes.
        actual: Box<PeerId>,
    },
}

/// Decodes and verifies a signed peer record: the envelope's signature must be valid, its
/// signer must be the peer the record describes (checked by libp2p-core), the domain and
/// payload type those of a libp2p peer record (the standard `libp2p-peer-record` one that go
/// and js use, or rust-libp2p identify's legacy `libp2p-routing-state`), and the record must
/// describe `expected` when given.
pub fn verify_peer_record(
    bytes: &[u8],
    expected: Option<&PeerId>,
) -> Result<PeerRecord, PeerRecordError> {
    let envelope = SignedEnvelope::from_protobuf_encoding(bytes)
        .map_err(|e| PeerRecordError::Decode(e.to_string()))?;
    verify_envelope(envelope, expected)
}

/// As [`verify_peer_record`], from a decoded envelope.
pub fn verify_envelope(
    envelope: SignedEnvelope,
    expected: Option<&PeerId>,
) -> Result<PeerRecord, PeerRecordError> {
    let record = match PeerRecord::from_signed_envelope_interop(envelope.clone()) {
        Ok(record) => record,
        Err(standard) => PeerRecord::from_signed_envelope(envelope).map_err(|legacy| {
            PeerRecordError::Invalid(format!("{standard}; as legacy record: {legacy}"))
        })?,
    };
    if let Some(expected) = expected
        && record.peer_id() != *expected
    {
        return Err(PeerRecordError::PeerIdMismatch {
            expected: Box::new(*expected),
            actual: Box::new(record.peer_id()),
        });
    }
    Ok(record)
}

/// The protobuf encoding of a record's envelope, as carried in PRUNE.
#[cfg(test)]
pub(crate) fn encode(record: &PeerRecord) -> bytes::Bytes {
    bytes::Bytes::from(record.to_signed_envelope().into_protobuf_encoding())
}

#[cfg(test)]
mod tests {
    use libp2p_identity::Keypair;

    use super::*;

    fn addr() -> libp2p_core::Multiaddr {
        "/ip4/127.0.0.1/tcp/4001".parse().unwrap()
    }

    #[test]
    fn standard_and_legacy_records_verify() {
        let key = Keypair::generate_ed25519();
        let peer = key.public().to_peer_id();
        for record in [
            PeerRecord::new_interop(&key, vec![addr()]).unwrap(),
            PeerRecord::new(&key, vec![addr()]).unwrap(),
        ] {
            let verified = verify_peer_record(&encode(&record), Some(&peer)).unwrap();
            assert_eq!(verified.addresses(), &[addr()]);
        }
    }

    #[test]
    fn record_listed_for_another_peer_is_refused() {
        let key = Keypair::generate_ed25519();
        let other = PeerId::random();
        let record = PeerRecord::new_interop(&key, vec![addr()]).unwrap();
        assert!(matches!(
            verify_peer_record(&encode(&record), Some(&other)),
            Err(PeerRecordError::PeerIdMismatch { .. })
        ));
    }

    #[test]
    fn tampered_record_is_refused() {
        let key = Keypair::generate_ed25519();
        let record = PeerRecord::new_interop(&key, vec![addr()]).unwrap();
        let mut bytes = encode(&record).to_vec();
        // Flip a byte of the signature, stored last in the envelope.
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        assert!(verify_peer_record(&bytes, None).is_err());
        assert!(matches!(
            verify_peer_record(b"garbage", None),
            Err(PeerRecordError::Decode(_))
        ));
    }
}
