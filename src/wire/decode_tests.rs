//! Tests of the per-RPC decode limits: what a frame can make us allocate is bounded by the
//! limits, not by the frame's size.

use asynchronous_codec::Decoder;
use bytes::BytesMut;
use quick_protobuf::Writer;

use super::codec::{Codec, DecodedRpc, Inbound};
use super::decode::DecodeLimits;
use crate::types::ControlAction;

const MIB: usize = 1 << 20;

/// Appends a length-delimited field.
fn field(out: &mut Vec<u8>, number: u32, value: &[u8]) {
    Writer::new(out)
        .write_with_tag(number << 3 | 2, |w| w.write_bytes(value))
        .unwrap();
}

/// `RPC { control: body }`.
fn control_rpc(body: &[u8]) -> Vec<u8> {
    let mut rpc = Vec::new();
    field(&mut rpc, 3, body);
    rpc
}

fn default_limits() -> DecodeLimits {
    DecodeLimits::from_config(&crate::ConfigBuilder::default().build().unwrap())
}

fn decode_with(frame: &[u8], limits: DecodeLimits) -> DecodedRpc {
    let mut src = Vec::new();
    Writer::new(&mut src).write_bytes(frame).unwrap();
    let mut src = BytesMut::from(&src[..]);
    match Codec::with_limits(2 * MIB, limits)
        .decode(&mut src)
        .unwrap()
    {
        Some(Inbound::Rpc(decoded)) => decoded,
        other => panic!("expected an RPC, got {other:?}"),
    }
}

#[test]
fn a_mebibyte_of_tiny_ihave_ids_decodes_into_at_most_the_cap() {
    // One IHAVE entry holding ~1 MiB of 2-byte ids (4 bytes each on the wire).
    let mut ihave = Vec::new();
    field(&mut ihave, 1, b"t");
    let mut n = 0usize;
    while ihave.len() + 4 < MIB {
        field(&mut ihave, 2, &(n as u16).to_be_bytes());
        n += 1;
    }
    let mut control = Vec::new();
    field(&mut control, 1, &ihave);
    let limits = default_limits();
    let cap = limits.max_ihave_ids;
    assert_eq!(cap, 5000);
    let decoded = decode_with(&control_rpc(&control), limits);
    let ControlAction::IHave { message_ids, .. } = &decoded.rpc.control[0] else {
        panic!("expected an IHAVE");
    };
    assert_eq!(message_ids.len(), cap);
    assert!(
        message_ids.capacity() <= cap,
        "allocated {}",
        message_ids.capacity()
    );
    assert_eq!(decoded.drops.ids_over_cap, n - cap);

    // The cap is per RPC, not per entry: more entries share it.
    let mut control = Vec::new();
    for _ in 0..3 {
        let mut ihave = Vec::new();
        field(&mut ihave, 1, b"t");
        for i in 0..4000u16 {
            field(&mut ihave, 2, &i.to_be_bytes());
        }
        field(&mut control, 1, &ihave);
    }
    let decoded = decode_with(&control_rpc(&control), default_limits());
    let total: usize = decoded
        .rpc
        .control
        .iter()
        .map(|a| match a {
            ControlAction::IHave { message_ids, .. } => message_ids.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(total, cap);
    assert_eq!(decoded.drops.ids_over_cap, 12_000 - cap);
}

#[test]
fn iwant_and_idontwant_ids_are_capped_per_rpc() {
    let mut control = Vec::new();
    for (kind, count) in [(2u32, 6000u16), (5, 1500)] {
        let mut entry = Vec::new();
        for i in 0..count {
            field(&mut entry, 1, &i.to_be_bytes());
        }
        field(&mut control, kind, &entry);
    }
    let decoded = decode_with(&control_rpc(&control), default_limits());
    let lens: Vec<usize> = decoded
        .rpc
        .control
        .iter()
        .map(|a| match a {
            ControlAction::IWant { message_ids } | ControlAction::IDontWant { message_ids } => {
                message_ids.len()
            }
            _ => 0,
        })
        .collect();
    assert_eq!(lens, vec![5000, 1000]);
    assert_eq!(decoded.drops.ids_over_cap, 1000 + 500);
}

#[test]
fn grafts_per_rpc_are_capped_before_allocation() {
    // ~200,000 GRAFT entries in one frame: only the cap is decoded.
    let mut graft = Vec::new();
    field(&mut graft, 1, b"t");
    let mut control = Vec::new();
    let mut n = 0;
    while control.len() + graft.len() + 2 < MIB {
        field(&mut control, 3, &graft);
        n += 1;
    }
    assert!(n > 150_000);
    let decoded = decode_with(&control_rpc(&control), default_limits());
    assert_eq!(decoded.rpc.control.len(), 1000);
    assert!(decoded.rpc.control.capacity() < 2 * 1000 + 64);
    assert_eq!(decoded.drops.control_over_cap, n - 1000);
}

#[test]
fn control_bytes_per_rpc_are_capped() {
    let mut control = Vec::new();
    for i in 0..10u8 {
        let mut iwant = Vec::new();
        field(&mut iwant, 1, &[i; 90]);
        field(&mut control, 2, &iwant);
    }
    let limits = DecodeLimits {
        max_control_bytes: 4 * 92,
        ..default_limits()
    };
    let decoded = decode_with(&control_rpc(&control), limits);
    assert_eq!(decoded.rpc.control.len(), 4);
    assert_eq!(decoded.drops.control_over_cap, 6);
}

#[test]
fn long_ids_and_topics_are_skipped_and_counted() {
    let long_topic = vec![b'x'; 257];
    let mut rpc = Vec::new();
    // A subscription with a long topic and one with a fine topic.
    let mut sub = Vec::new();
    field(&mut sub, 2, &long_topic);
    field(&mut rpc, 1, &sub);
    let mut sub = Vec::new();
    field(&mut sub, 2, b"ok");
    field(&mut rpc, 1, &sub);
    // A message on a long topic.
    let mut msg = Vec::new();
    field(&mut msg, 2, b"data");
    field(&mut msg, 4, &long_topic);
    field(&mut rpc, 2, &msg);
    // A GRAFT on a long topic, an IDONTWANT with a 101-byte id and a 100-byte id.
    let mut control = Vec::new();
    let mut graft = Vec::new();
    field(&mut graft, 1, &long_topic);
    field(&mut control, 3, &graft);
    let mut idontwant = Vec::new();
    field(&mut idontwant, 1, &[1; 101]);
    field(&mut idontwant, 1, &[2; 100]);
    field(&mut control, 5, &idontwant);
    field(&mut rpc, 3, &control);

    let decoded = decode_with(&rpc, default_limits());
    assert_eq!(decoded.rpc.subscriptions.len(), 1);
    assert!(decoded.rpc.messages.is_empty());
    assert_eq!(
        decoded.rpc.control,
        vec![ControlAction::IDontWant {
            message_ids: vec![crate::MessageId::new(vec![2u8; 100])]
        }]
    );
    assert_eq!(decoded.drops.topics_too_long, 3);
    assert_eq!(decoded.drops.ids_too_long, 1);
}

#[test]
fn messages_per_rpc_are_capped_at_decode() {
    let mut msg = Vec::new();
    field(&mut msg, 4, b"t");
    let mut rpc = Vec::new();
    for _ in 0..12_000 {
        field(&mut rpc, 2, &msg);
    }
    let decoded = decode_with(&rpc, default_limits());
    assert_eq!(decoded.rpc.messages.len(), 5000);
    assert_eq!(decoded.drops.messages_over_cap, 7000);
    // The cap counts malformed messages too: they cost as much to decode.
    let mut rpc = Vec::new();
    for _ in 0..6000 {
        field(&mut rpc, 2, b"");
    }
    let decoded = decode_with(&rpc, default_limits());
    assert_eq!(decoded.malformed_messages.len(), 5000);
    assert_eq!(decoded.drops.messages_over_cap, 1000);
}

#[test]
fn unlimited_decoding_keeps_everything() {
    let mut control = Vec::new();
    for i in 0..3000u16 {
        let mut graft = Vec::new();
        field(&mut graft, 1, &i.to_be_bytes().map(|b| b'a' + b % 26));
        field(&mut control, 3, &graft);
    }
    let decoded = decode_with(&control_rpc(&control), DecodeLimits::UNLIMITED);
    assert_eq!(decoded.rpc.control.len(), 3000);
    assert!(decoded.drops.is_empty());
}

#[test]
fn px_peers_per_rpc_are_capped_before_allocation() {
    // Two PRUNEs holding ~1 MiB of empty PeerInfo entries (2 bytes each on the wire).
    let mut control = Vec::new();
    let mut n = 0;
    for topic in [&b"a"[..], b"b"] {
        let mut prune = Vec::new();
        field(&mut prune, 1, topic);
        while prune.len() + 2 < MIB / 2 {
            field(&mut prune, 2, b"");
            n += 1;
        }
        field(&mut control, 4, &prune);
    }
    let decoded = decode_with(&control_rpc(&control), default_limits());
    let peers: Vec<usize> = decoded
        .rpc
        .control
        .iter()
        .map(|a| match a {
            ControlAction::Prune { peers, .. } => {
                assert!(peers.capacity() <= 256);
                peers.len()
            }
            _ => 0,
        })
        .collect();
    assert_eq!(peers, vec![256, 0]);
    assert_eq!(decoded.drops.px_peers_over_cap, n - 256);
}

/// A small payload must not keep the read buffer alive: the frame it arrived in shares one
/// allocation with whatever else the stream's buffer held (here a large earlier frame), so a
/// `Bytes` slice of it pins that whole allocation, not only its own frame.
#[test]
fn small_payload_does_not_pin_the_read_buffer() {
    use crate::types::{RawMessage, Rpc, TopicHash};
    use bytes::Bytes;

    let message = |len: usize| Rpc {
        messages: vec![RawMessage {
            source: None,
            data: Bytes::from(vec![0x5a; len]),
            data_absent: false,
            sequence_number: None,
            topic: TopicHash::from_raw("t"),
            signature: None,
            key: None,
        }],
        ..Rpc::default()
    };
    let big = super::codec::tests::encode(&message(MIB - 64));
    let small = super::codec::tests::encode(&message(200));
    let mut src = BytesMut::with_capacity(big.len() + small.len());
    src.extend_from_slice(&big);
    src.extend_from_slice(&small);
    let start = src.as_ptr() as usize;
    let buffer = start..start + src.capacity();

    let mut codec = Codec::with_limits(2 * MIB, default_limits());
    let first = codec.decode(&mut src).unwrap();
    assert!(matches!(first, Some(Inbound::Rpc(_))));
    drop(first);
    let Some(Inbound::Rpc(decoded)) = codec.decode(&mut src).unwrap() else {
        panic!("expected the small RPC");
    };
    let data = &decoded.rpc.messages[0].data;
    assert_eq!(data.len(), 200);
    assert!(
        !buffer.contains(&(data.as_ptr() as usize)),
        "a 200-byte payload shares (and pins) the {} byte read buffer",
        buffer.len()
    );
}

#[test]
fn ids_of_another_length_than_message_id_len_are_dropped_at_decode() {
    // IHAVE, IWANT and IDONTWANT each carry one 20-byte id (the Ethereum length), a 32-byte
    // id and an 8-byte id.
    let ids: [&[u8]; 3] = [&[1; 20], &[2; 32], &[3; 8]];
    let mut control = Vec::new();
    let mut ihave = Vec::new();
    field(&mut ihave, 1, b"t");
    for id in ids {
        field(&mut ihave, 2, id);
    }
    field(&mut control, 1, &ihave);
    for kind in [2, 5] {
        let mut entry = Vec::new();
        for id in ids {
            field(&mut entry, 1, id);
        }
        field(&mut control, kind, &entry);
    }
    let frame = control_rpc(&control);

    let twenty = vec![crate::MessageId::new(vec![1u8; 20])];
    let limits = DecodeLimits::from_config(
        &crate::ConfigBuilder::default()
            .message_id_len(Some(20))
            .build()
            .unwrap(),
    );
    let decoded = decode_with(&frame, limits);
    assert_eq!(
        decoded.rpc.control,
        vec![
            ControlAction::IHave {
                topic: crate::TopicHash::from("t"),
                message_ids: twenty.clone(),
            },
            ControlAction::IWant {
                message_ids: twenty.clone()
            },
            ControlAction::IDontWant {
                message_ids: twenty
            },
        ]
    );
    assert_eq!(decoded.drops.ids_wrong_len, 6);
    assert_eq!(decoded.drops.ids_too_long, 0);

    // Without a fixed length every id is kept.
    let decoded = decode_with(&frame, default_limits());
    assert_eq!(decoded.drops.ids_wrong_len, 0);
    assert!(decoded.rpc.control.iter().all(|c| match c {
        ControlAction::IHave { message_ids, .. }
        | ControlAction::IWant { message_ids }
        | ControlAction::IDontWant { message_ids } => message_ids.len() == 3,
        _ => false,
    }));
}
