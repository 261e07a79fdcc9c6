//! meshsub 1.3 on the wire: the Extensions control message, the test extension, and
//! experimental field numbers (above 0x200000) that must be skipped.

use asynchronous_codec::Decoder;
use bytes::BytesMut;
use quick_protobuf::Writer;

use super::codec::tests::{encode, full_rpc};
use super::codec::{Codec, DecodedRpc, Inbound};
use super::decode::DecodeLimits;
use super::{bounds, encoded_len, fragment_within, rpc_len};
use crate::types::{Extensions, Rpc, Subscription, TopicHash};

/// Appends a length-delimited field.
fn bytes_field(out: &mut Vec<u8>, number: u32, value: &[u8]) {
    Writer::new(out)
        .write_with_tag(number << 3 | 2, |w| w.write_bytes(value))
        .unwrap();
}

/// Appends a varint field.
fn varint_field(out: &mut Vec<u8>, number: u32, value: u64) {
    Writer::new(out)
        .write_with_tag(number << 3, |w| w.write_uint64(value))
        .unwrap();
}

fn decode_frame(frame: &[u8]) -> DecodedRpc {
    let mut src = Vec::new();
    Writer::new(&mut src).write_bytes(frame).unwrap();
    let mut src = BytesMut::from(&src[..]);
    let limits = DecodeLimits::from_config(&crate::ConfigBuilder::default().build().unwrap());
    match Codec::with_limits(1 << 20, limits)
        .decode(&mut src)
        .unwrap()
    {
        Some(Inbound::Rpc(decoded)) => decoded,
        other => panic!("expected an RPC, got {other:?}"),
    }
}

fn decode_encoded(rpc: &Rpc) -> Rpc {
    let mut buf = encode(rpc);
    match Codec::new(usize::MAX).decode(&mut buf).unwrap() {
        Some(Inbound::Rpc(decoded)) => decoded.rpc,
        other => panic!("expected an RPC, got {other:?}"),
    }
}

#[test]
fn extensions_and_test_extension_round_trip() {
    for test_extension in [false, true] {
        let rpc = Rpc {
            extensions: Some(Extensions {
                partial_messages: false,
                test_extension,
            }),
            test_extension,
            ..full_rpc()
        };
        assert_eq!(decode_encoded(&rpc), rpc);
        assert_eq!(rpc_len(&rpc), encoded_len(&rpc));
        let alone = Rpc {
            extensions: Some(Extensions {
                partial_messages: false,
                test_extension,
            }),
            ..Rpc::default()
        };
        assert!(!alone.is_empty());
        assert_eq!(decode_encoded(&alone), alone);
        assert_eq!(rpc_len(&alone), encoded_len(&alone));
        let test_only = Rpc {
            test_extension: true,
            ..Rpc::default()
        };
        assert_eq!(decode_encoded(&test_only), test_only);
        assert_eq!(rpc_len(&test_only), encoded_len(&test_only));
    }
}

#[test]
fn the_test_extension_has_its_field_numbers_on_the_wire() {
    // RPC{control{extensions{testExtension: true}}, testExtension{}} written by hand.
    let mut ext = Vec::new();
    varint_field(&mut ext, 6_492_434, 1);
    let mut control = Vec::new();
    bytes_field(&mut control, 6, &ext);
    let mut rpc = Vec::new();
    bytes_field(&mut rpc, 3, &control);
    bytes_field(&mut rpc, 6_492_434, &[]);
    let encoded = encode(&Rpc {
        extensions: Some(Extensions {
            partial_messages: false,
            test_extension: true,
        }),
        test_extension: true,
        ..Rpc::default()
    });
    // Our encoding is exactly the hand-written one (after its 1-byte length prefix).
    assert_eq!(&encoded[1..], &rpc[..]);
    let decoded = decode_frame(&rpc);
    assert_eq!(
        decoded.rpc.extensions,
        Some(Extensions {
            partial_messages: false,
            test_extension: true
        })
    );
    assert!(decoded.rpc.test_extension);
}

#[test]
fn experimental_and_unknown_extension_fields_are_skipped() {
    // Extensions inside ControlExtensions: partialMessages (10, known), an experimental
    // varint field and an experimental bytes field above 0x200000 (unknown: skipped).
    let mut ext = Vec::new();
    varint_field(&mut ext, 10, 1);
    varint_field(&mut ext, 0x20_0001, 7);
    bytes_field(&mut ext, 0x3f_ffff, b"unknown extension payload");
    let mut control = Vec::new();
    bytes_field(&mut control, 6, &ext);
    let mut rpc = Vec::new();
    bytes_field(&mut rpc, 3, &control);
    // Experimental RPC fields above 0x200000 (not the test extension), bytes and varint.
    bytes_field(&mut rpc, 0x20_0002, b"experimental payload");
    varint_field(&mut rpc, 0x0fff_ffff, u64::MAX);
    // And a subscription after them, which must still be read.
    let mut sub = Vec::new();
    varint_field(&mut sub, 1, 1);
    bytes_field(&mut sub, 2, b"t");
    bytes_field(&mut rpc, 1, &sub);
    assert_eq!(bounds::check(&rpc), Ok(0), "no unknown control kind");
    let decoded = decode_frame(&rpc);
    assert_eq!(
        decoded.rpc,
        Rpc {
            subscriptions: vec![Subscription {
                options: Default::default(),
                subscribe: true,
                topic: TopicHash::from_raw("t"),
            }],
            extensions: Some(Extensions {
                partial_messages: true,
                test_extension: false,
            }),
            ..Rpc::default()
        }
    );
}

#[test]
fn a_split_rpc_keeps_the_extensions_in_its_first_piece() {
    let rpc = Rpc {
        extensions: Some(Extensions {
            partial_messages: false,
            test_extension: true,
        }),
        test_extension: true,
        subscriptions: (0..50)
            .map(|i| Subscription {
                options: Default::default(),
                subscribe: true,
                topic: TopicHash::from_raw(format!("topic-{i:03}")),
            })
            .collect(),
        ..Rpc::default()
    };
    let limits = DecodeLimits::UNLIMITED;
    let pieces = fragment_within(rpc.clone(), 100, &limits);
    assert!(pieces.rpcs.len() > 1);
    assert_eq!(pieces.dropped_control, 0);
    assert_eq!(pieces.rpcs[0].extensions, rpc.extensions);
    assert!(pieces.rpcs[0].test_extension);
    for piece in &pieces.rpcs {
        assert_eq!(rpc_len(piece), encoded_len(piece));
        assert!(rpc_len(piece) <= 100);
    }
    assert!(pieces.rpcs[1..].iter().all(|p| p.extensions.is_none()));
    let subs: Vec<_> = pieces
        .rpcs
        .iter()
        .flat_map(|p| p.subscriptions.clone())
        .collect();
    assert_eq!(subs, rpc.subscriptions);
}
