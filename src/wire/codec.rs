//! Framing of RPCs on a pubsub stream: an unsigned-varint (LEB128) length prefix followed by
//! one protobuf `RPC`.
//!
//! The decoder is lenient where the stream can survive: an oversized frame is skipped as its
//! bytes arrive and an undecodable frame is dropped, each reported once as
//! [`Inbound::Dropped`]. Only a broken length prefix, after which the stream cannot be
//! resynchronised, is an error.

use std::io;

use asynchronous_codec::{Decoder, Encoder};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use quick_protobuf::{MessageWrite, Writer};

use super::decode::{DecodeDrops, DecodeLimits, decode_rpc};
use super::{bounds, convert, encode_messages};
use crate::error::ValidationError;
use crate::types::{Rpc, TopicHash};

/// The longest unsigned varint that encodes a `u64`.
const MAX_VARINT_LEN: usize = 10;

/// How much buffer the decoder reserves at a time for a frame still arriving: a length prefix
/// alone never makes it allocate the whole announced frame (up to `max_size`), only this much
/// beyond what has already arrived.
pub(super) const RESERVE_STEP: usize = 64 * 1024;

/// What the decoder yields for each frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A frame that decoded as an RPC.
    Rpc(DecodedRpc),
    /// A frame that was discarded; the stream continues with the next frame.
    Dropped(DropReason),
}

/// A decoded RPC together with the messages that had to be taken out of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedRpc {
    /// The RPC, holding only well-formed messages.
    pub(crate) rpc: Rpc,
    /// Messages whose `from`, `seqno` or `topic` could not be decoded, with their topic (empty
    /// when the topic itself is missing) and the reason.
    pub(crate) malformed_messages: Vec<(TopicHash, ValidationError)>,
    /// Control messages of a kind we do not know, skipped by the decoder.
    pub(crate) unknown_control: usize,
    /// What the decoder skipped because of a per-RPC limit.
    pub(crate) drops: DecodeDrops,
}

/// Why a frame was discarded.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// The frame's length prefix exceeds the maximum RPC size; its bytes were skipped.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Announced length of the frame.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The frame is not a valid protobuf RPC.
    #[error("malformed RPC: {0}")]
    Malformed(String),
}

/// Length-prefixed protobuf codec for gossipsub RPCs.
///
/// Decodes into [`Inbound`] under per-RPC [`DecodeLimits`] (each frame is copied out of the read
/// buffer into its own allocation; large payloads share that copy, everything else is copied
/// out of it) and encodes `&Rpc` without intermediate copies.
#[derive(Debug, Clone)]
pub struct Codec {
    /// The largest frame (protobuf bytes, without the prefix) accepted or produced.
    max_size: usize,
    /// The per-RPC limits applied while decoding.
    limits: DecodeLimits,
    /// Bytes of an oversized frame that are still to be discarded as they arrive.
    skip: usize,
}

impl Codec {
    /// A codec that accepts and produces frames of at most `max_size` protobuf bytes, with no
    /// per-RPC limit beyond the frame size.
    pub(crate) fn new(max_size: usize) -> Self {
        Codec::with_limits(max_size, DecodeLimits::UNLIMITED)
    }

    /// A codec that accepts and produces frames of at most `max_size` protobuf bytes and
    /// decodes under `limits`.
    pub(crate) fn with_limits(max_size: usize, limits: DecodeLimits) -> Self {
        Codec {
            max_size,
            limits,
            skip: 0,
        }
    }
}

impl Codec {
    /// Refuses to encode an RPC of `len` protobuf bytes above the maximum.
    fn check_size(&self, len: usize) -> Result<(), io::Error> {
        if len > self.max_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "RPC of {len} bytes exceeds the maximum of {} bytes",
                    self.max_size
                ),
            ));
        }
        Ok(())
    }
}

impl Decoder for Codec {
    type Item = Inbound;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, io::Error> {
        if self.skip > 0 {
            let n = self.skip.min(src.len());
            src.advance(n);
            self.skip -= n;
            if self.skip > 0 {
                return Ok(None);
            }
        }

        let Some((len, prefix_len)) = read_length_prefix(src)? else {
            return Ok(None);
        };

        if len > self.max_size {
            src.advance(prefix_len);
            let n = len.min(src.len());
            src.advance(n);
            self.skip = len - n;
            return Ok(Some(Inbound::Dropped(DropReason::TooLarge {
                len,
                max: self.max_size,
            })));
        }

        let available = src.len() - prefix_len;
        if available < len {
            // Grow towards the announced length in bounded steps: the prefix is remote input,
            // and reserving all of it at once would let a peer pin `max_size` bytes per stream
            // by sending a prefix alone.
            src.reserve((len - available).min(RESERVE_STEP));
            return Ok(None);
        }

        src.advance(prefix_len);
        // The frame is copied into an allocation of its own: a slice of the read buffer would
        // share (and keep alive) the buffer's whole allocation, which can be far larger than
        // the frame (grown for an earlier large frame, or holding the frames after it). Only an
        // exact allocation makes "a shared payload pins at most twice its size" true.
        let frame = Bytes::copy_from_slice(&src.split_to(len));
        Ok(Some(decode_frame(&frame, &self.limits)))
    }
}

impl Encoder for Codec {
    type Item<'a> = &'a Rpc;
    type Error = io::Error;

    fn encode(&mut self, rpc: &Rpc, dst: &mut BytesMut) -> Result<(), io::Error> {
        // Forwards and IWANT answers carry messages alone: written field by field, with no
        // intermediate protobuf structs (same bytes).
        if let Some(messages) = encode_messages::only_messages(rpc) {
            let (len, first_len) = encode_messages::messages_rpc_len(messages);
            self.check_size(len)?;
            dst.reserve(MAX_VARINT_LEN + len);
            write_length_prefix(len as u64, dst);
            encode_messages::write_messages_rpc(messages, first_len, dst);
            return Ok(());
        }
        let message = convert::rpc_to_proto(rpc);
        let len = message.get_size();
        self.check_size(len)?;
        dst.reserve(MAX_VARINT_LEN + len);
        write_length_prefix(len as u64, dst);
        let mut writer = Writer::new(dst.writer());
        message.write_message(&mut writer).map_err(io::Error::other)
    }
}

/// Parses one frame's protobuf bytes under `limits`.
pub(super) fn decode_frame(frame: &Bytes, limits: &DecodeLimits) -> Inbound {
    // Structural check first: every field lies inside its parent, so the decoders below never
    // read past an end.
    let unknown_control = match bounds::check(frame) {
        Ok(unknown) => unknown,
        Err(reason) => return Inbound::Dropped(DropReason::Malformed(reason.to_owned())),
    };
    match decode_rpc(frame, limits) {
        Ok(mut decoded) => {
            decoded.unknown_control = unknown_control;
            Inbound::Rpc(decoded)
        }
        Err(reason) => Inbound::Dropped(DropReason::Malformed(reason)),
    }
}

/// Reads an unsigned-varint length prefix (the `unsigned-varint` crate, as libp2p's own
/// codecs use): `Ok(None)` when more bytes are needed, otherwise the length and the number of
/// prefix bytes. A prefix longer than 10 bytes, not minimally encoded (refused by rust-libp2p
/// and go-libp2p alike), or whose value overflows `u64` or `usize`, is an `InvalidData` error.
pub(super) fn read_length_prefix(src: &[u8]) -> Result<Option<(usize, usize)>, io::Error> {
    // unsigned-varint 0.8 drops the bits of a tenth byte beyond the 64th instead of refusing
    // them: such a prefix would decode to a wrong length.
    if src.len() >= MAX_VARINT_LEN
        && src[..MAX_VARINT_LEN - 1].iter().all(|b| b & 0x80 != 0)
        && src[MAX_VARINT_LEN - 1] > 1
    {
        return Err(invalid_prefix("length prefix overflows u64"));
    }
    match unsigned_varint::decode::u64(src) {
        Ok((value, rest)) => {
            let len = usize::try_from(value)
                .map_err(|_| invalid_prefix("length prefix overflows usize"))?;
            Ok(Some((len, src.len() - rest.len())))
        }
        Err(unsigned_varint::decode::Error::Insufficient) => Ok(None),
        Err(unsigned_varint::decode::Error::Overflow) => {
            Err(invalid_prefix("length prefix overflows u64"))
        }
        Err(_) => Err(invalid_prefix("length prefix not minimally encoded")),
    }
}

/// Appends `value` as an unsigned varint.
fn write_length_prefix(value: u64, dst: &mut BytesMut) {
    let mut buf = unsigned_varint::encode::u64_buffer();
    dst.put_slice(unsigned_varint::encode::u64(value, &mut buf));
}

fn invalid_prefix(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.to_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use bytes::Bytes;
    use libp2p_identity::{Keypair, PeerId};

    use super::*;
    use crate::types::{ControlAction, MessageId, PeerInfo, RawMessage, Subscription};

    /// A message with every authenticity field set.
    pub(crate) fn full_message() -> RawMessage {
        let keypair = Keypair::generate_ecdsa();
        RawMessage {
            source: Some(keypair.public().to_peer_id()),
            data: Bytes::from_static(b"hello world"),
            data_absent: false,
            sequence_number: Some(0x0102_0304_0506_0708),
            topic: TopicHash::from_raw("topic-a"),
            signature: Some(Bytes::from_static(&[7; 64])),
            key: Some(Bytes::from(keypair.public().encode_protobuf())),
        }
    }

    /// A message with no authenticity fields (StrictNoSign).
    pub(crate) fn anonymous_message() -> RawMessage {
        RawMessage {
            source: None,
            data: Bytes::from(vec![0xab; 300]),
            data_absent: false,
            sequence_number: None,
            topic: TopicHash::from_raw("topic-b"),
            signature: None,
            key: None,
        }
    }

    /// An RPC using every field the crate types have. Control actions are listed in the order
    /// the decoder yields them.
    pub(crate) fn full_rpc() -> Rpc {
        let id = |b: &'static [u8]| MessageId::new(Bytes::from_static(b));
        Rpc {
            subscriptions: vec![
                Subscription {
                    options: Default::default(),
                    subscribe: true,
                    topic: TopicHash::from_raw("topic-a"),
                },
                Subscription {
                    options: Default::default(),
                    subscribe: false,
                    topic: TopicHash::from_raw("topic-b"),
                },
            ],
            messages: vec![
                full_message(),
                anonymous_message(),
                RawMessage {
                    source: Some(PeerId::random()),
                    sequence_number: Some(0),
                    ..anonymous_message()
                },
            ],
            control: vec![
                ControlAction::IHave {
                    topic: TopicHash::from_raw("topic-a"),
                    message_ids: vec![id(b"m1"), id(b"m2")],
                },
                ControlAction::IWant {
                    message_ids: vec![id(b"m3")],
                },
                ControlAction::Graft {
                    topic: TopicHash::from_raw("topic-a"),
                },
                ControlAction::Prune {
                    topic: TopicHash::from_raw("topic-b"),
                    peers: vec![
                        PeerInfo {
                            peer_id: Some(PeerId::random()),
                            signed_peer_record: Some(Bytes::from_static(b"record")),
                        },
                        PeerInfo {
                            peer_id: Some(PeerId::random()),
                            signed_peer_record: None,
                        },
                    ],
                    backoff: Some(60),
                },
                ControlAction::Prune {
                    topic: TopicHash::from_raw("topic-a"),
                    peers: vec![],
                    backoff: None,
                },
                ControlAction::IDontWant {
                    message_ids: vec![id(b"m4"), id(&[0, 1, 2, 255])],
                },
            ],
            ..Rpc::default()
        }
    }

    pub(crate) fn encode(rpc: &Rpc) -> BytesMut {
        let mut buf = BytesMut::new();
        Codec::new(usize::MAX).encode(rpc, &mut buf).unwrap();
        buf
    }

    /// Feeds `input` to a fresh decoder in chunks of `chunk` bytes and collects every item.
    fn decode_chunked(codec: &mut Codec, input: &[u8], chunk: usize) -> Vec<Inbound> {
        let mut src = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            src.extend_from_slice(piece);
            while let Some(item) = codec.decode(&mut src).unwrap() {
                out.push(item);
            }
            // Oversized frames are never buffered: at most one chunk plus one frame is held.
            assert!(
                src.len() <= chunk + 2 * 1024,
                "buffered {} bytes",
                src.len()
            );
        }
        assert!(src.is_empty());
        out
    }

    fn rpc_item(rpc: Rpc) -> Inbound {
        Inbound::Rpc(DecodedRpc {
            rpc,
            ..DecodedRpc::default()
        })
    }

    #[test]
    fn round_trip_every_field() {
        let rpc = full_rpc();
        let mut buf = encode(&rpc);
        let total = buf.len();
        let item = Codec::new(1 << 20).decode(&mut buf).unwrap();
        assert_eq!(item, Some(rpc_item(rpc.clone())));
        assert!(buf.is_empty());
        // The prefix of this RPC is two bytes long.
        assert_eq!(convert::encoded_len(&rpc) + 2, total);
    }

    #[test]
    fn round_trip_empty_rpc() {
        let mut buf = encode(&Rpc::default());
        assert_eq!(&buf[..], &[0]);
        let item = Codec::new(10).decode(&mut buf).unwrap();
        assert_eq!(item, Some(rpc_item(Rpc::default())));
    }

    #[test]
    fn decodes_byte_by_byte() {
        let first = full_rpc();
        let second = Rpc {
            messages: vec![anonymous_message()],
            ..Rpc::default()
        };
        let mut input = encode(&first);
        input.extend_from_slice(&encode(&second));
        let items = decode_chunked(&mut Codec::new(1 << 20), &input, 1);
        assert_eq!(items, vec![rpc_item(first), rpc_item(second)]);
    }

    #[test]
    fn oversized_frame_is_skipped_in_chunks() {
        let max = 100;
        let valid = Rpc {
            subscriptions: vec![Subscription {
                options: Default::default(),
                subscribe: true,
                topic: TopicHash::from_raw("t"),
            }],
            ..Rpc::default()
        };
        let mut input = BytesMut::new();
        write_length_prefix(5000, &mut input);
        input.extend_from_slice(&[0x0a; 5000]);
        input.extend_from_slice(&encode(&valid));

        for chunk in [1, 7, 64, 4096, input.len()] {
            let items = decode_chunked(&mut Codec::new(max), &input, chunk);
            assert_eq!(
                items,
                vec![
                    Inbound::Dropped(DropReason::TooLarge { len: 5000, max }),
                    rpc_item(valid.clone()),
                ],
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn garbage_frame_is_dropped() {
        let valid = Rpc {
            messages: vec![anonymous_message()],
            ..Rpc::default()
        };
        let mut input = BytesMut::new();
        // Field 1, length-delimited, announcing 100 bytes that are not there.
        input.extend_from_slice(&[3, 0x0a, 100, 0]);
        input.extend_from_slice(&encode(&valid));
        let items = decode_chunked(&mut Codec::new(1024), &input, 3);
        assert_eq!(items.len(), 2);
        assert!(matches!(
            &items[0],
            Inbound::Dropped(DropReason::Malformed(_))
        ));
        assert_eq!(items[1], rpc_item(valid));
    }

    #[test]
    fn broken_length_prefix_is_an_error() {
        let mut codec = Codec::new(usize::MAX);
        let mut too_long = BytesMut::from(&[0x80u8; 11][..]);
        let err = codec.decode(&mut too_long).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        // Ten bytes whose last one carries more than the 64th bit.
        let mut overflow =
            BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02][..]);
        assert!(codec.decode(&mut overflow).is_err());

        // The largest u64 is still a valid prefix (and an oversized frame).
        let mut max = BytesMut::new();
        write_length_prefix(u64::MAX, &mut max);
        assert_eq!(max.len(), 10);
        let item = Codec::new(10).decode(&mut max).unwrap();
        assert!(matches!(
            item,
            Some(Inbound::Dropped(DropReason::TooLarge { .. }))
        ));
    }

    #[test]
    fn announced_length_does_not_reserve_the_whole_frame() {
        let max = 1 << 20;
        let mut codec = Codec::new(max);
        let mut src = BytesMut::new();
        write_length_prefix(max as u64, &mut src);
        src.extend_from_slice(&[0x0a; 10]);
        assert_eq!(codec.decode(&mut src).unwrap(), None);
        assert!(
            src.capacity() <= RESERVE_STEP + 64,
            "capacity jumped to {} for 10 bytes of body",
            src.capacity()
        );
    }

    #[test]
    fn partial_prefix_waits_for_more() {
        let mut codec = Codec::new(usize::MAX);
        let mut src = BytesMut::from(&[0x80u8, 0x80][..]);
        assert_eq!(codec.decode(&mut src).unwrap(), None);
        assert_eq!(src.len(), 2);
    }

    #[test]
    fn varint_prefix_round_trips() {
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
            let mut buf = BytesMut::new();
            write_length_prefix(value, &mut buf);
            let (decoded, len) = read_length_prefix(&buf).unwrap().unwrap();
            assert_eq!(decoded as u64, value);
            assert_eq!(len, buf.len());
        }
    }

    #[test]
    fn encoder_refuses_oversized_rpc() {
        let rpc = Rpc {
            messages: vec![anonymous_message()],
            ..Rpc::default()
        };
        let mut dst = BytesMut::new();
        let err = Codec::new(100).encode(&rpc, &mut dst).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(dst.is_empty());
        // Exactly at the limit is fine.
        let len = convert::encoded_len(&rpc);
        assert!(Codec::new(len).encode(&rpc, &mut dst).is_ok());
    }

    /// Only a payload of at least half the frame shares the frame's allocation (with its
    /// signature and key); small payloads, topics, message ids and PX records are copied, so
    /// nothing small that is retained pins the frame. The frame itself is a copy: nothing
    /// shares the read buffer.
    #[test]
    fn only_large_payloads_share_the_frame() {
        let mut rpc = full_rpc();
        let mut large = full_message();
        large.data = Bytes::from(vec![0x5a; 8192]);
        rpc.messages.push(large);
        let mut src = encode(&rpc);
        let frame_len = convert::encoded_len(&rpc);
        let prefix_len = src.len() - frame_len;
        // Where the large payload starts within the frame.
        let payload_offset = src
            .windows(8192)
            .position(|w| w.iter().all(|b| *b == 0x5a))
            .unwrap()
            - prefix_len;
        let buffer_start = src.as_ptr() as usize;
        let buffer = buffer_start..buffer_start + src.capacity();

        let Some(Inbound::Rpc(decoded)) = Codec::new(1 << 20).decode(&mut src).unwrap() else {
            panic!("expected an RPC");
        };
        assert_eq!(decoded.rpc, rpc);
        let (large, small) = decoded.rpc.messages.split_last().unwrap();
        let shared = [
            &large.data[..],
            large.signature.as_deref().unwrap(),
            large.key.as_deref().unwrap(),
        ];
        // The large payload, its signature and key lie in one frame-sized allocation, which is
        // not the read buffer.
        let lo = shared.iter().map(|b| b.as_ptr() as usize).min().unwrap();
        let hi = shared
            .iter()
            .map(|b| b.as_ptr() as usize + b.len())
            .max()
            .unwrap();
        assert!(hi - lo <= frame_len);
        assert!(!buffer.contains(&lo) && !buffer.contains(&(hi - 1)));
        let frame_start = large.data.as_ptr() as usize - payload_offset;
        let frame = frame_start..frame_start + frame_len;
        let inside = |b: &[u8]| {
            let p = b.as_ptr() as usize;
            !b.is_empty() && (frame.contains(&p) || buffer.contains(&p))
        };
        for msg in small {
            assert!(!inside(&msg.data));
            assert!(!msg.signature.as_deref().is_some_and(inside));
            assert!(!msg.key.as_deref().is_some_and(inside));
            assert!(!inside(msg.topic.as_str().as_bytes()));
        }
        let mut ids = 0;
        for action in &decoded.rpc.control {
            match action {
                ControlAction::IHave { message_ids, .. }
                | ControlAction::IWant { message_ids }
                | ControlAction::IDontWant { message_ids } => {
                    ids += message_ids.len();
                    assert!(message_ids.iter().all(|id| !inside(id.as_bytes())));
                }
                ControlAction::Prune { peers, .. } => {
                    for record in peers.iter().filter_map(|p| p.signed_peer_record.as_ref()) {
                        assert!(!inside(record));
                    }
                }
                ControlAction::Graft { .. } => {}
            }
        }
        assert_eq!(ids, 5);
    }

    #[test]
    fn corrupted_frames_never_panic() {
        let encoded = encode(&full_rpc());
        let prefix_len = encoded.len() - convert::encoded_len(&full_rpc());
        for index in prefix_len..encoded.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut corrupted = encoded.clone();
                corrupted[index] ^= mask;
                let mut codec = Codec::new(1 << 20);
                // The prefix is intact, so the frame is always consumed, decoded or dropped.
                assert!(codec.decode(&mut corrupted).unwrap().is_some());
                assert!(corrupted.is_empty());
            }
        }
    }

    #[test]
    fn random_mutations_never_panic() {
        // A small deterministic generator (xorshift) keeps the test reproducible.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let body = encode(&full_rpc()).split_off(2);
        for _ in 0..20_000 {
            let mut frame = body.to_vec();
            match next() % 3 {
                0 => {
                    for _ in 0..=next() % 4 {
                        let i = (next() as usize) % frame.len();
                        frame[i] = next() as u8;
                    }
                }
                1 => frame.truncate((next() as usize) % frame.len()),
                _ => {
                    frame = (0..next() % 48)
                        .map(|_| {
                            [0x0a, 0x12, 0x1a, 0x22, 0x80, 0xff, 0x01, 0x03][next() as usize % 8]
                        })
                        .collect();
                }
            }
            let mut src = BytesMut::new();
            write_length_prefix(frame.len() as u64, &mut src);
            src.extend_from_slice(&frame);
            let mut codec = Codec::new(1 << 20);
            assert!(codec.decode(&mut src).unwrap().is_some());
        }
    }

    #[test]
    fn works_with_framed_read() {
        use futures::{StreamExt, executor::block_on, io::Cursor};

        let valid = full_rpc();
        let mut input = BytesMut::new();
        write_length_prefix(100_000, &mut input);
        input.extend_from_slice(&vec![0u8; 100_000]);
        input.extend_from_slice(&encode(&valid));

        let framed =
            asynchronous_codec::FramedRead::new(Cursor::new(input.to_vec()), Codec::new(4096));
        let items: Vec<_> = block_on(framed.collect());
        let items: Vec<_> = items.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            items,
            vec![
                Inbound::Dropped(DropReason::TooLarge {
                    len: 100_000,
                    max: 4096
                }),
                rpc_item(valid),
            ]
        );
    }
}
