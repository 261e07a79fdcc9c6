//! Conversion between the generated protobuf types ([`super::proto`]) and the crate types.
//!
//! Decoding of a message may borrow from the received frame (a byte field becomes a [`Bytes`]
//! sharing the frame's allocation) when [`super::decode`] decides the payload may pin the
//! frame; everything else is copied. Encoding borrows
//! from the crate types in the same way; only peer ids and sequence numbers, which the crate
//! keeps in decoded form, are serialised into small owned buffers.

use std::borrow::Cow;

use bytes::Bytes;
use libp2p_identity::PeerId;
use quick_protobuf::MessageWrite;

use super::proto;
use crate::error::ValidationError;
use crate::protocol::SIGNING_PREFIX;
use crate::types::{ControlAction, Extensions, MessageId, RawMessage, Rpc, TopicHash};

/// The error recorded in [`DecodedRpc::malformed_messages`] for a message without a topic.
///
/// [`ValidationError`] has no dedicated variant for this yet; the entry is recognisable by its
/// empty [`TopicHash`].
pub(crate) const MISSING_TOPIC: ValidationError = ValidationError::MissingTopic;

/// The longest `key` field accepted, in bytes. The largest legitimate key is a libp2p RSA key
/// of 8192 bits (the largest size libp2p implementations accept): its DER
/// `SubjectPublicKeyInfo` takes 1062 bytes and its protobuf `PublicKey` 1067. Anything longer
/// is padding, which the signature does not cover; a message carrying it is malformed.
pub(crate) const MAX_KEY_LEN: usize = 1100;

// ---------------------------------------------------------------------------------------------
// Decoding: protobuf -> crate types
// ---------------------------------------------------------------------------------------------

/// A published message, or its topic and the reason it is malformed.
///
/// Empty `from`, `seqno`, `signature` and `key` fields are treated as absent, as deployed
/// implementations do. With `shared`, the payload, signature and key share `frame`'s
/// allocation; otherwise they are copied out of it (see [`super::decode::shares_frame`]).
pub(crate) fn message_from_proto(
    frame: &Bytes,
    message: proto::Message<'_>,
    shared: bool,
) -> Result<RawMessage, (TopicHash, ValidationError)> {
    let share = |slice: &[u8]| {
        if shared {
            share(frame, slice)
        } else {
            Bytes::copy_from_slice(slice)
        }
    };
    let Some(topic) = message.topic else {
        return Err((TopicHash::from_raw(""), MISSING_TOPIC));
    };
    let topic = topic_from_proto(topic);

    let source = match non_empty(message.from.as_ref()) {
        None => None,
        Some(bytes) => match PeerId::from_bytes(bytes) {
            Ok(peer_id) => Some(peer_id),
            Err(_) => return Err((topic, ValidationError::InvalidPeerId)),
        },
    };

    let sequence_number = match non_empty(message.seqno.as_ref()) {
        None => None,
        Some(bytes) => match <[u8; 8]>::try_from(bytes) {
            Ok(be) => Some(u64::from_be_bytes(be)),
            Err(_) => return Err((topic, ValidationError::InvalidSequenceNumber)),
        },
    };

    let key = non_empty(message.key.as_ref());
    if key.is_some_and(|key| key.len() > MAX_KEY_LEN) {
        return Err((topic, ValidationError::InvalidKey));
    }

    Ok(RawMessage {
        source,
        data: message
            .data
            .as_ref()
            .map(|data| share(data))
            .unwrap_or_default(),
        data_absent: message.data.is_none(),
        sequence_number,
        topic,
        signature: non_empty(message.signature.as_ref()).map(share),
        key: key.map(share),
    })
}

fn topic_from_proto(topic: Cow<'_, str>) -> TopicHash {
    TopicHash::from_raw(topic.into_owned())
}

fn non_empty<'b>(field: Option<&'b Cow<'_, [u8]>>) -> Option<&'b [u8]> {
    field
        .map(|cow| cow.as_ref())
        .filter(|bytes| !bytes.is_empty())
}

/// Returns `slice` as [`Bytes`] sharing `frame`'s allocation when it lies inside `frame`,
/// and a copy otherwise (never panics).
fn share(frame: &Bytes, slice: &[u8]) -> Bytes {
    let frame_start = frame.as_ptr() as usize;
    let frame_end = frame_start + frame.len();
    let start = slice.as_ptr() as usize;
    let inside = start >= frame_start
        && start
            .checked_add(slice.len())
            .is_some_and(|end| end <= frame_end);
    if inside {
        frame.slice_ref(slice)
    } else {
        Bytes::copy_from_slice(slice)
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding: crate types -> protobuf
// ---------------------------------------------------------------------------------------------

/// Converts an RPC into its protobuf form, borrowing every payload from `rpc`.
///
/// Control messages are grouped by kind (IHAVE, IWANT, GRAFT, PRUNE, IDONTWANT), keeping the
/// order within each kind.
pub(crate) fn rpc_to_proto(rpc: &Rpc) -> proto::RPC<'_> {
    proto::RPC {
        subscriptions: rpc
            .subscriptions
            .iter()
            .map(|sub| proto::mod_RPC::SubOpts {
                subscribe: Some(sub.subscribe),
                topicid: Some(Cow::Borrowed(sub.topic.as_str())),
                // Written only when set, and only on a subscribe.
                requestsPartial: (sub.subscribe && sub.options.requests_partial).then_some(true),
                supportsSendingPartial: (sub.subscribe
                    && (sub.options.supports_partial || sub.options.requests_partial))
                    .then_some(true),
            })
            .collect(),
        publish: rpc.messages.iter().map(message_to_proto).collect(),
        control: control_to_proto(&rpc.control, rpc.extensions),
        partial: rpc
            .partial
            .as_ref()
            .map(|p| proto::PartialMessagesExtension {
                topicID: Some(Cow::Borrowed(p.topic.as_str().as_bytes())),
                groupID: Some(Cow::Borrowed(&p.group_id[..])),
                partialMessage: p.message.as_deref().map(Cow::Borrowed),
                partsMetadata: p.metadata.as_deref().map(Cow::Borrowed),
            }),
        testExtension: rpc.test_extension.then_some(proto::TestExtension {}),
    }
}

/// Converts a message into its protobuf form, including `signature` and `key`.
pub(crate) fn message_to_proto(message: &RawMessage) -> proto::Message<'_> {
    proto::Message {
        signature: message.signature.as_deref().map(Cow::Borrowed),
        key: message.key.as_deref().map(Cow::Borrowed),
        ..unsigned_message_to_proto(message)
    }
}

/// The protobuf form of a message without `signature` and `key`: what a signature covers.
fn unsigned_message_to_proto(message: &RawMessage) -> proto::Message<'_> {
    proto::Message {
        from: message.source.map(|peer| Cow::Owned(peer.to_bytes())),
        // Written unless the author left it out (only possible for an empty payload), so the
        // encoding is the one the author signed and never larger than the one received.
        data: (!message.data_absent || !message.data.is_empty())
            .then_some(Cow::Borrowed(&message.data[..])),
        seqno: message
            .sequence_number
            .map(|seqno| Cow::Owned(seqno.to_be_bytes().to_vec())),
        topic: Some(Cow::Borrowed(message.topic.as_str())),
        signature: None,
        key: None,
    }
}

fn control_to_proto(
    actions: &[ControlAction],
    extensions: Option<Extensions>,
) -> Option<proto::ControlMessage<'_>> {
    if actions.is_empty() && extensions.is_none() {
        return None;
    }
    let mut control = proto::ControlMessage {
        extensions: extensions.map(|e| proto::ControlExtensions {
            partialMessages: e.partial_messages.then_some(true),
            testExtension: e.test_extension.then_some(true),
        }),
        ..proto::ControlMessage::default()
    };
    for action in actions {
        match action {
            ControlAction::IHave { topic, message_ids } => {
                control.ihave.push(proto::ControlIHave {
                    topicID: Some(Cow::Borrowed(topic.as_str())),
                    messageIDs: ids_to_proto(message_ids),
                })
            }
            ControlAction::IWant { message_ids } => control.iwant.push(proto::ControlIWant {
                messageIDs: ids_to_proto(message_ids),
            }),
            ControlAction::Graft { topic } => control.graft.push(proto::ControlGraft {
                topicID: Some(Cow::Borrowed(topic.as_str())),
            }),
            ControlAction::Prune {
                topic,
                peers,
                backoff,
            } => control.prune.push(proto::ControlPrune {
                topicID: Some(Cow::Borrowed(topic.as_str())),
                peers: peers
                    .iter()
                    .map(|peer| proto::PeerInfo {
                        peerID: peer.peer_id.map(|id| Cow::Owned(id.to_bytes())),
                        signedPeerRecord: peer.signed_peer_record.as_deref().map(Cow::Borrowed),
                    })
                    .collect(),
                backoff: *backoff,
            }),
            ControlAction::IDontWant { message_ids } => {
                control.idontwant.push(proto::ControlIDontWant {
                    messageIDs: ids_to_proto(message_ids),
                })
            }
        }
    }
    Some(control)
}

fn ids_to_proto(ids: &[MessageId]) -> Vec<Cow<'_, [u8]>> {
    ids.iter().map(|id| Cow::Borrowed(id.as_bytes())).collect()
}

/// The exact length of `rpc` encoded as protobuf, without the varint length prefix.
pub(crate) fn encoded_len(rpc: &Rpc) -> usize {
    rpc_to_proto(rpc).get_size()
}

/// The bytes a message signature covers: `SIGNING_PREFIX ++ protobuf(Message)` with `from`,
/// `data`, `seqno` and `topic` set as in `message` and `signature` and `key` unset.
pub(crate) fn encode_message_for_signing(message: &RawMessage) -> Vec<u8> {
    // Written field by field (no protobuf structs, no allocation for the peer id and seqno);
    // the capacity covers the signature and key too, which are not written.
    let mut out = Vec::with_capacity(SIGNING_PREFIX.len() + super::fragment::message_len(message));
    out.extend_from_slice(SIGNING_PREFIX);
    super::encode_messages::write_unsigned_message(message, &mut out);
    out
}

/// Appends the protobuf encoding of `message` (no length prefix) to `out`: the general path,
/// which the tests compare the direct writers of `encode_messages` with.
#[cfg(test)]
pub(crate) fn write_proto(message: &impl MessageWrite, out: &mut Vec<u8>) {
    let mut writer = quick_protobuf::Writer::new(out);
    // The only error quick-protobuf reports comes from the backend, and writing to a `Vec`
    // cannot fail.
    if let Err(e) = message.write_message(&mut writer) {
        unreachable!("writing protobuf into a Vec failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use asynchronous_codec::Decoder;
    use bytes::BytesMut;
    use quick_protobuf::Writer;

    use super::*;
    use crate::types::{PeerInfo, Subscription};
    use crate::wire::codec::tests::{anonymous_message, full_message};
    use crate::wire::codec::{Codec, DecodedRpc, Inbound};

    /// Hand-rolled protobuf writing, field by field, independent of the generated code.
    #[derive(Default)]
    struct Pb(Vec<u8>);

    impl Pb {
        fn bytes(mut self, field: u32, value: &[u8]) -> Self {
            let mut w = Writer::new(&mut self.0);
            w.write_with_tag(field << 3 | 2, |w| w.write_bytes(value))
                .unwrap();
            self
        }
        fn message(self, field: u32, inner: Pb) -> Self {
            self.bytes(field, &inner.0)
        }
        fn varint(mut self, field: u32, value: u64) -> Self {
            let mut w = Writer::new(&mut self.0);
            w.write_with_tag(field << 3, |w| w.write_uint64(value))
                .unwrap();
            self
        }
        /// Frames the bytes as an RPC on the wire.
        fn frame(self) -> BytesMut {
            let mut out = Vec::new();
            Writer::new(&mut out).write_bytes(&self.0).unwrap();
            BytesMut::from(&out[..])
        }
    }

    fn decode(pb: Pb) -> DecodedRpc {
        match Codec::new(1 << 20).decode(&mut pb.frame()).unwrap() {
            Some(Inbound::Rpc(decoded)) => decoded,
            other => panic!("expected an RPC, got {other:?}"),
        }
    }

    fn message_pb(topic: &str) -> Pb {
        Pb::default()
            .bytes(2, b"payload")
            .bytes(4, topic.as_bytes())
    }

    #[test]
    fn reads_hand_built_protobuf() {
        let author = PeerId::random();
        let px_peer = PeerId::random();
        let rpc = Pb::default()
            .message(1, Pb::default().varint(1, 1).bytes(2, b"t1"))
            // Partial-messages options and an unknown field are ignored.
            .message(1, Pb::default().bytes(2, b"t2").varint(3, 1).varint(99, 5))
            .message(
                2,
                Pb::default()
                    .bytes(1, &author.to_bytes())
                    .bytes(2, b"payload")
                    .bytes(3, &42u64.to_be_bytes())
                    .bytes(4, b"t1")
                    .bytes(5, b"sig")
                    .bytes(6, b"key"),
            )
            .message(
                3,
                Pb::default()
                    .message(
                        1,
                        Pb::default()
                            .bytes(1, b"t1")
                            .bytes(2, b"id1")
                            .bytes(2, b"id2"),
                    )
                    .message(2, Pb::default().bytes(1, b"id3"))
                    .message(3, Pb::default().bytes(1, b"t1"))
                    .message(
                        4,
                        Pb::default()
                            .bytes(1, b"t2")
                            .message(
                                2,
                                Pb::default().bytes(1, &px_peer.to_bytes()).bytes(2, b"spr"),
                            )
                            .message(2, Pb::default().bytes(1, b"not a peer id"))
                            .varint(3, 30),
                    )
                    .message(5, Pb::default().bytes(1, b"id4"))
                    .message(6, Pb::default().varint(10, 1)),
            )
            .message(10, Pb::default().bytes(1, b"t1").bytes(2, b"group"));

        let decoded = decode(rpc);
        assert!(decoded.malformed_messages.is_empty());
        let id = |b: &'static [u8]| MessageId::new(Bytes::from_static(b));
        let expected = Rpc {
            subscriptions: vec![
                Subscription {
                    options: Default::default(),
                    subscribe: true,
                    topic: TopicHash::from_raw("t1"),
                },
                Subscription {
                    options: Default::default(),
                    subscribe: false,
                    topic: TopicHash::from_raw("t2"),
                },
            ],
            messages: vec![RawMessage {
                source: Some(author),
                data: Bytes::from_static(b"payload"),
                data_absent: false,
                sequence_number: Some(42),
                topic: TopicHash::from_raw("t1"),
                signature: Some(Bytes::from_static(b"sig")),
                key: Some(Bytes::from_static(b"key")),
            }],
            control: vec![
                ControlAction::IHave {
                    topic: TopicHash::from_raw("t1"),
                    message_ids: vec![id(b"id1"), id(b"id2")],
                },
                ControlAction::IWant {
                    message_ids: vec![id(b"id3")],
                },
                ControlAction::Graft {
                    topic: TopicHash::from_raw("t1"),
                },
                ControlAction::Prune {
                    topic: TopicHash::from_raw("t2"),
                    peers: vec![
                        PeerInfo {
                            peer_id: Some(px_peer),
                            signed_peer_record: Some(Bytes::from_static(b"spr")),
                        },
                        PeerInfo {
                            peer_id: None,
                            signed_peer_record: None,
                        },
                    ],
                    backoff: Some(30),
                },
                ControlAction::IDontWant {
                    message_ids: vec![id(b"id4")],
                },
            ],
            // Partial messages (10), in ControlExtensions and as RPC.partial (group only).
            extensions: Some(crate::types::Extensions {
                partial_messages: true,
                test_extension: false,
            }),
            partial: Some(Box::new(crate::types::PartialMessage {
                topic: TopicHash::from_raw("t1"),
                group_id: Bytes::from_static(b"group"),
                message: None,
                metadata: None,
            })),
            ..Rpc::default()
        };
        assert_eq!(decoded.rpc, expected);
    }

    #[test]
    fn entries_without_topic_are_skipped() {
        let rpc = Pb::default()
            .message(1, Pb::default().varint(1, 1))
            .message(
                3,
                Pb::default()
                    .message(1, Pb::default().bytes(2, b"id"))
                    .message(3, Pb::default())
                    .message(4, Pb::default().varint(3, 10)),
            );
        let decoded = decode(rpc);
        assert_eq!(decoded.rpc, Rpc::default());
    }

    #[test]
    fn malformed_messages_are_set_aside() {
        let rpc = Pb::default()
            // seqno of 7 bytes
            .message(2, message_pb("a").bytes(3, &[1; 7]))
            // `from` that is not a peer id
            .message(2, message_pb("b").bytes(1, b"garbage"))
            // no topic
            .message(2, Pb::default().bytes(2, b"payload"))
            // fine: empty `from` and `seqno` count as absent
            .message(2, message_pb("c").bytes(1, b"").bytes(3, b""));
        let decoded = decode(rpc);
        assert_eq!(
            decoded.malformed_messages,
            vec![
                (
                    TopicHash::from_raw("a"),
                    ValidationError::InvalidSequenceNumber
                ),
                (TopicHash::from_raw("b"), ValidationError::InvalidPeerId),
                (TopicHash::from_raw(""), MISSING_TOPIC),
            ]
        );
        assert_eq!(
            decoded.rpc.messages,
            vec![RawMessage {
                source: None,
                data: Bytes::from_static(b"payload"),
                data_absent: false,
                sequence_number: None,
                topic: TopicHash::from_raw("c"),
                signature: None,
                key: None,
            }]
        );
    }

    #[test]
    fn encodes_field_by_field() {
        let msg = full_message();
        let mut ours = Vec::new();
        write_proto(&message_to_proto(&msg), &mut ours);
        let expected = Pb::default()
            .bytes(1, &msg.source.unwrap().to_bytes())
            .bytes(2, &msg.data)
            .bytes(3, &msg.sequence_number.unwrap().to_be_bytes())
            .bytes(4, msg.topic.as_str().as_bytes())
            .bytes(5, msg.signature.as_ref().unwrap())
            .bytes(6, msg.key.as_ref().unwrap());
        assert_eq!(ours, expected.0);
    }

    #[test]
    fn signing_bytes_exclude_signature_and_key() {
        let msg = full_message();
        let expected = Pb::default()
            .bytes(1, &msg.source.unwrap().to_bytes())
            .bytes(2, &msg.data)
            .bytes(3, &msg.sequence_number.unwrap().to_be_bytes())
            .bytes(4, msg.topic.as_str().as_bytes());
        let mut with_prefix = SIGNING_PREFIX.to_vec();
        with_prefix.extend_from_slice(&expected.0);
        assert_eq!(encode_message_for_signing(&msg), with_prefix);

        let anonymous = anonymous_message();
        let expected = Pb::default()
            .bytes(2, &anonymous.data)
            .bytes(4, anonymous.topic.as_str().as_bytes());
        assert_eq!(
            &encode_message_for_signing(&anonymous)[SIGNING_PREFIX.len()..],
            &expected.0[..]
        );
    }

    #[test]
    fn encoded_len_is_exact() {
        let rpc = crate::wire::codec::tests::full_rpc();
        let mut bytes = Vec::new();
        write_proto(&rpc_to_proto(&rpc), &mut bytes);
        assert_eq!(encoded_len(&rpc), bytes.len());
        assert_eq!(encoded_len(&Rpc::default()), 0);
    }

    #[test]
    fn share_copies_foreign_slices() {
        let frame = Bytes::from_static(b"0123456789");
        let inner = share(&frame, &frame[2..5]);
        assert_eq!(inner.as_ptr(), frame[2..].as_ptr());
        let foreign = [1u8, 2, 3];
        assert_eq!(&share(&frame, &foreign)[..], &foreign);
        assert!(share(&frame, &[]).is_empty());
    }
}
