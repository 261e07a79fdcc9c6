//! Regression tests: messages are verified and forwarded exactly as they were received.

use asynchronous_codec::{Decoder, Encoder};
use bytes::BytesMut;
use libp2p_identity::Keypair;
use quick_protobuf::Writer;

use super::codec::{Codec, DecodedRpc, Inbound};
use super::convert::{rpc_to_proto, write_proto};
use super::signing::{validate, verify_signature};
use crate::authenticity::ValidationMode;
use crate::error::ValidationError;
use crate::protocol::SIGNING_PREFIX;
use crate::types::Rpc;

/// Appends a length-delimited protobuf field.
fn field(out: &mut Vec<u8>, number: u32, value: &[u8]) {
    Writer::new(out)
        .write_with_tag(number << 3 | 2, |w| w.write_bytes(value))
        .unwrap();
}

/// The fields of a `Message` that a signature covers, without a `data` field.
fn unsigned_without_data(keypair: &Keypair, topic: &str) -> Vec<u8> {
    let mut msg = Vec::new();
    field(&mut msg, 1, &keypair.public().to_peer_id().to_bytes());
    field(&mut msg, 3, &7u64.to_be_bytes());
    field(&mut msg, 4, topic.as_bytes());
    msg
}

/// `unsigned` signed by `keypair`, with `key` as the `key` field when given.
fn signed(keypair: &Keypair, unsigned: &[u8], key: Option<&[u8]>) -> Vec<u8> {
    let mut to_sign = SIGNING_PREFIX.to_vec();
    to_sign.extend_from_slice(unsigned);
    let mut msg = unsigned.to_vec();
    field(&mut msg, 5, &keypair.sign(&to_sign).unwrap());
    if let Some(key) = key {
        field(&mut msg, 6, key);
    }
    msg
}

/// An RPC frame (protobuf bytes, no prefix) publishing `message`.
fn rpc_with(message: &[u8]) -> Vec<u8> {
    let mut rpc = Vec::new();
    field(&mut rpc, 2, message);
    rpc
}

fn decode(frame: &[u8], max: usize) -> DecodedRpc {
    let mut src = BytesMut::new();
    let mut prefix = Vec::new();
    Writer::new(&mut prefix).write_bytes(frame).unwrap();
    src.extend_from_slice(&prefix);
    match Codec::new(max).decode(&mut src).unwrap() {
        Some(Inbound::Rpc(decoded)) => decoded,
        other => panic!("expected an RPC, got {other:?}"),
    }
}

/// Re-encodes `rpc` the way forwarding does: fails if the codec refuses it for `max`, else
/// returns the protobuf bytes (no prefix).
fn forward(rpc: &Rpc, max: usize) -> std::io::Result<Vec<u8>> {
    Codec::new(max).encode(rpc, &mut BytesMut::new())?;
    let mut bytes = Vec::new();
    write_proto(&rpc_to_proto(rpc), &mut bytes);
    Ok(bytes)
}

#[test]
fn message_signed_without_data_field_verifies() {
    for keypair in [Keypair::generate_ed25519(), Keypair::generate_ecdsa()] {
        let key = keypair.public().encode_protobuf();
        let key = (keypair.public().to_peer_id().as_ref().code() != 0).then_some(&key[..]);
        let message = signed(&keypair, &unsigned_without_data(&keypair, "t"), key);
        let decoded = decode(&rpc_with(&message), 1 << 20);
        assert!(decoded.malformed_messages.is_empty());
        let msg = &decoded.rpc.messages[0];
        assert!(msg.data.is_empty());
        assert_eq!(verify_signature(msg), Ok(()));
        assert_eq!(validate(ValidationMode::Strict, msg), Ok(()));
        // And it is forwarded exactly as received: no `data` field appears.
        assert_eq!(forward(&decoded.rpc, 1 << 20).unwrap(), rpc_with(&message));
    }
}

#[test]
fn padded_key_cannot_make_a_forward_exceed_the_limit() {
    // An ECDSA author: its key travels in `key`. The key is padded with an unknown protobuf
    // field (the key decoder skips it; the signature does not cover `key`) so that the frame
    // is exactly the receiver's limit.
    let keypair = Keypair::generate_ecdsa();
    let unsigned = unsigned_without_data(&keypair, "t");
    let canonical_key = keypair.public().encode_protobuf();
    let max = 512;
    let padded = |pad: usize| {
        // Unknown field 15, length-delimited, of `pad` zero bytes.
        let mut key = canonical_key.clone();
        field(&mut key, 15, &vec![0u8; pad]);
        rpc_with(&signed(&keypair, &unsigned, Some(&key)))
    };
    let frame = (0..max)
        .map(padded)
        .find(|frame| frame.len() == max)
        .expect("a padding that makes the frame exactly the limit");

    let decoded = decode(&frame, max);
    // Either the padded key is refused at receipt, or the forward fits what we accepted.
    for msg in &decoded.rpc.messages {
        assert_ne!(
            verify_signature(msg),
            Ok(()),
            "a padded key must not verify"
        );
    }
    let forwarded = forward(&decoded.rpc, max).expect("the forward fits the limit");
    assert!(forwarded.len() <= frame.len());
}

#[test]
fn oversized_key_is_malformed() {
    let keypair = Keypair::generate_ecdsa();
    let unsigned = unsigned_without_data(&keypair, "t");
    let huge_key = vec![0u8; super::convert::MAX_KEY_LEN + 1];
    let decoded = decode(
        &rpc_with(&signed(&keypair, &unsigned, Some(&huge_key))),
        1 << 20,
    );
    assert!(decoded.rpc.messages.is_empty());
    assert_eq!(
        decoded.malformed_messages,
        vec![(
            crate::types::TopicHash::from_raw("t"),
            ValidationError::InvalidKey
        )]
    );
}

#[test]
fn received_messages_are_forwarded_byte_for_byte() {
    // Every combination of optional fields, each in canonical form, round-trips exactly.
    let keypair = Keypair::generate_ecdsa();
    for mask in 0u8..64 {
        let mut msg = Vec::new();
        if mask & 1 != 0 {
            field(&mut msg, 1, &keypair.public().to_peer_id().to_bytes());
        }
        if mask & 2 != 0 {
            field(&mut msg, 2, if mask & 32 != 0 { b"" } else { b"payload" });
        }
        if mask & 4 != 0 {
            field(&mut msg, 3, &9u64.to_be_bytes());
        }
        field(&mut msg, 4, b"topic");
        if mask & 8 != 0 {
            field(&mut msg, 5, b"signature");
        }
        if mask & 16 != 0 {
            field(&mut msg, 6, &keypair.public().encode_protobuf());
        }
        let frame = rpc_with(&msg);
        let decoded = decode(&frame, 1 << 20);
        assert_eq!(
            forward(&decoded.rpc, 1 << 20).unwrap(),
            frame,
            "mask {mask:#b}"
        );
    }
}
