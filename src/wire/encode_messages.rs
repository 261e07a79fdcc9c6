//! Encoding of an RPC that carries only messages (every forward and every IWANT answer)
//! straight into the write buffer.
//!
//! The general path ([`super::convert::rpc_to_proto`]) first builds the protobuf structs: a
//! `Vec` for the messages, and per message the author's peer id and the sequence number as
//! allocated byte vectors, all dropped right after writing. Here the same bytes are written
//! field by field with no allocation. The output is byte for byte the general path's (fields in
//! field-number order, present under the same conditions; see the tests).

use bytes::BufMut;

use super::fragment::{field_len, message_len};
use crate::types::{RawMessage, Rpc};

/// Wire type 2 (length-delimited) tags of the fields written here.
const RPC_PUBLISH: u8 = 2 << 3 | 2;
const MESSAGE_FROM: u8 = 1 << 3 | 2;
const MESSAGE_DATA: u8 = 2 << 3 | 2;
const MESSAGE_SEQNO: u8 = 3 << 3 | 2;
const MESSAGE_TOPIC: u8 = 4 << 3 | 2;
const MESSAGE_SIGNATURE: u8 = 5 << 3 | 2;
const MESSAGE_KEY: u8 = 6 << 3 | 2;

/// The RPC's messages when it carries nothing else, so that the fast path applies.
pub(super) fn only_messages(rpc: &Rpc) -> Option<&[RawMessage]> {
    (rpc.subscriptions.is_empty()
        && rpc.control.is_empty()
        && rpc.extensions.is_none()
        && !rpc.test_extension
        && rpc.partial.is_none())
    .then_some(&rpc.messages[..])
}

/// Protobuf length of an RPC carrying only `messages`, and the body length of its first message
/// (0 when there is none), which [`write_messages_rpc`] takes back to not measure it twice.
pub(super) fn messages_rpc_len(messages: &[RawMessage]) -> (usize, usize) {
    let first = messages.first().map_or(0, message_len);
    let rest: usize = messages
        .iter()
        .skip(1)
        .map(|m| field_len(message_len(m)))
        .sum();
    let len = if messages.is_empty() {
        0
    } else {
        field_len(first)
    } + rest;
    (len, first)
}

/// Writes the protobuf body of an RPC carrying only `messages` (no length prefix); `first_len`
/// is the body length of the first message, from [`messages_rpc_len`].
pub(super) fn write_messages_rpc(messages: &[RawMessage], first_len: usize, dst: &mut impl BufMut) {
    for (i, message) in messages.iter().enumerate() {
        let len = if i == 0 {
            first_len
        } else {
            message_len(message)
        };
        dst.put_u8(RPC_PUBLISH);
        put_varint(len as u64, dst);
        write_message(message, dst);
    }
}

/// Writes the fields of `message` that its signature covers (all but `signature` and `key`),
/// as [`super::convert::encode_message_for_signing`] signs and verifies them.
pub(super) fn write_unsigned_message(message: &RawMessage, dst: &mut impl BufMut) {
    write_unsigned_fields(message, dst);
}

fn write_message(message: &RawMessage, dst: &mut impl BufMut) {
    write_unsigned_fields(message, dst);
    if let Some(signature) = &message.signature {
        put_field(MESSAGE_SIGNATURE, signature, dst);
    }
    if let Some(key) = &message.key {
        put_field(MESSAGE_KEY, key, dst);
    }
}

fn write_unsigned_fields(message: &RawMessage, dst: &mut impl BufMut) {
    if let Some(peer) = &message.source {
        // A peer id's bytes are its multihash: code, digest size, digest.
        let hash = peer.as_ref();
        dst.put_u8(MESSAGE_FROM);
        put_varint(hash.encoded_len() as u64, dst);
        put_varint(hash.code(), dst);
        put_varint(u64::from(hash.size()), dst);
        dst.put_slice(hash.digest());
    }
    if !message.data_absent || !message.data.is_empty() {
        put_field(MESSAGE_DATA, &message.data, dst);
    }
    if let Some(seqno) = message.sequence_number {
        put_field(MESSAGE_SEQNO, &seqno.to_be_bytes(), dst);
    }
    put_field(MESSAGE_TOPIC, message.topic.as_str().as_bytes(), dst);
}

fn put_field(tag: u8, value: &[u8], dst: &mut impl BufMut) {
    dst.put_u8(tag);
    put_varint(value.len() as u64, dst);
    dst.put_slice(value);
}

/// Appends `value` as an unsigned varint (LEB128).
fn put_varint(mut value: u64, dst: &mut impl BufMut) {
    while value >= 0x80 {
        dst.put_u8(value as u8 | 0x80);
        value >>= 7;
    }
    dst.put_u8(value as u8);
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};
    use libp2p_identity::{Keypair, PeerId};
    use quick_protobuf::{MessageWrite, Writer};

    use super::*;
    use crate::protocol::SIGNING_PREFIX;
    use crate::types::{ControlAction, TopicHash};
    use crate::wire::codec::tests::{anonymous_message, full_message};
    use crate::wire::convert::{
        encode_message_for_signing, message_to_proto, rpc_to_proto, write_proto,
    };
    use crate::wire::proto;

    /// The general path's bytes.
    fn general(rpc: &Rpc) -> Vec<u8> {
        let mut out = Vec::new();
        rpc_to_proto(rpc)
            .write_message(&mut Writer::new(&mut out))
            .unwrap();
        out
    }

    fn fast(rpc: &Rpc) -> Vec<u8> {
        let messages = only_messages(rpc).expect("messages only");
        let mut out = BytesMut::new();
        let (len, first) = messages_rpc_len(messages);
        write_messages_rpc(messages, first, &mut out);
        assert_eq!(out.len(), len);
        out.to_vec()
    }

    fn messages() -> Vec<RawMessage> {
        let ed = Keypair::generate_ed25519();
        let rsa_like = PeerId::random();
        vec![
            full_message(),
            anonymous_message(),
            RawMessage {
                source: Some(ed.public().to_peer_id()),
                sequence_number: Some(u64::MAX),
                signature: Some(Bytes::from(vec![1; 64])),
                ..anonymous_message()
            },
            // Absent data stays absent; present empty data is written.
            RawMessage {
                data: Bytes::new(),
                data_absent: true,
                ..full_message()
            },
            RawMessage {
                data: Bytes::new(),
                data_absent: false,
                source: Some(rsa_like),
                ..anonymous_message()
            },
            RawMessage {
                data: Bytes::from(vec![9; 300_000]),
                topic: TopicHash::from_raw("t".repeat(200)),
                key: Some(Bytes::from(vec![3; 200])),
                sequence_number: Some(0),
                ..anonymous_message()
            },
        ]
    }

    #[test]
    fn writes_the_bytes_of_the_general_path() {
        let all = messages();
        for message in &all {
            let rpc = Rpc {
                messages: vec![message.clone()],
                ..Rpc::default()
            };
            assert_eq!(fast(&rpc), general(&rpc));
        }
        let rpc = Rpc {
            messages: all,
            ..Rpc::default()
        };
        assert_eq!(fast(&rpc), general(&rpc));
        assert_eq!(fast(&Rpc::default()), general(&Rpc::default()));
    }

    #[test]
    fn signed_bytes_are_those_of_the_general_path() {
        for message in messages() {
            let mut general = SIGNING_PREFIX.to_vec();
            write_proto(
                &proto::Message {
                    signature: None,
                    key: None,
                    ..message_to_proto(&message)
                },
                &mut general,
            );
            assert_eq!(encode_message_for_signing(&message), general);
        }
    }

    #[test]
    fn varints_are_leb128() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut ours = BytesMut::new();
            put_varint(value, &mut ours);
            let mut buf = unsigned_varint::encode::u64_buffer();
            assert_eq!(
                &ours[..],
                unsigned_varint::encode::u64(value, &mut buf),
                "{value}"
            );
        }
    }

    #[test]
    fn applies_only_to_rpcs_of_messages_alone() {
        let with_control = Rpc {
            messages: messages(),
            control: vec![ControlAction::Graft {
                topic: TopicHash::from_raw("t"),
            }],
            ..Rpc::default()
        };
        assert!(only_messages(&with_control).is_none());
        let with_test_extension = Rpc {
            test_extension: true,
            ..Rpc::default()
        };
        assert!(only_messages(&with_test_extension).is_none());
    }
}
