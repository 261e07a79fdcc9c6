//! The Partial Messages extension on the wire: `SubOpts.requestsPartial = 3` and
//! `supportsSendingPartial = 4`, `ControlExtensions.partialMessages = 10` and
//! `RPC.partial = 10` (`PartialMessagesExtension{topicID = 1, groupID = 2, partialMessage = 3,
//! partsMetadata = 4}`), checked against bytes written by hand from the schema.

use asynchronous_codec::Decoder;
use bytes::{Bytes, BytesMut};
use quick_protobuf::Writer;

use super::codec::tests::encode;
use super::codec::{Codec, DecodedRpc, Inbound};
use super::decode::{DecodeLimits, MAX_PARTIAL_GROUP_ID_LEN, MAX_PARTS_METADATA_LEN};
use super::{fragment_within, rpc_len};
use crate::types::{Extensions, PartialMessage, Rpc, Subscription, SubscriptionOptions, TopicHash};

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

fn opts(requests_partial: bool, supports_partial: bool) -> SubscriptionOptions {
    SubscriptionOptions {
        requests_partial,
        supports_partial,
    }
}

#[test]
fn subscription_options_decode_from_hand_built_bytes() {
    // RPC{subscriptions: [
    //   SubOpts{subscribe: true, topicid: "t", requestsPartial: true},
    //   SubOpts{subscribe: true, topicid: "u", supportsSendingPartial: true},
    //   SubOpts{subscribe: false, topicid: "v", requestsPartial: true, supports: true},
    //   SubOpts{subscribe: true, topicid: "w"}]}
    let frame = [
        0x0a, 7, 0x08, 1, 0x12, 1, b't', 0x18, 1, //
        0x0a, 7, 0x08, 1, 0x12, 1, b'u', 0x20, 1, //
        0x0a, 9, 0x08, 0, 0x12, 1, b'v', 0x18, 1, 0x20, 1, //
        0x0a, 5, 0x08, 1, 0x12, 1, b'w',
    ];
    let subs = decode_frame(&frame).rpc.subscriptions;
    let got: Vec<(bool, &str, SubscriptionOptions)> = subs
        .iter()
        .map(|s| (s.subscribe, s.topic.as_str(), s.options))
        .collect();
    assert_eq!(
        got,
        vec![
            (true, "t", opts(true, true)), // requesting implies supporting
            (true, "u", opts(false, true)),
            (false, "v", opts(false, false)), // ignored on unsubscribe
            (true, "w", opts(false, false)),
        ]
    );
}

#[test]
fn partial_rpc_and_extension_decode_from_hand_built_bytes() {
    // RPC{control: {extensions: {partialMessages: true}},
    //     partial: {topicID: "t", groupID: "g1", partialMessage: [1,2,3], partsMetadata: [5]}}
    let frame = [
        0x1a, 4, 0x32, 2, 0x50, 1, //
        0x52, 15, 0x0a, 1, b't', 0x12, 2, b'g', b'1', 0x1a, 3, 1, 2, 3, 0x22, 1, 5,
    ];
    let rpc = decode_frame(&frame).rpc;
    assert_eq!(
        rpc.extensions,
        Some(Extensions {
            partial_messages: true,
            test_extension: false
        })
    );
    assert_eq!(
        rpc.partial.as_deref(),
        Some(&PartialMessage {
            topic: TopicHash::from_raw("t"),
            group_id: Bytes::from_static(b"g1"),
            message: Some(Bytes::from_static(&[1, 2, 3])),
            metadata: Some(Bytes::from_static(&[5])),
        })
    );
    // Our encoding of the same RPC is these bytes.
    let encoded = encode(&rpc);
    assert_eq!(
        &encoded[1..],
        &frame[..],
        "length prefix, then the same protobuf"
    );
    assert_eq!(rpc_len(&rpc), frame.len());
}

#[test]
fn our_subscriptions_encode_the_options_only_on_subscribe() {
    let rpc = Rpc {
        subscriptions: vec![
            Subscription {
                options: opts(true, false),
                subscribe: true,
                topic: TopicHash::from_raw("t"),
            },
            Subscription {
                options: opts(false, true),
                subscribe: true,
                topic: TopicHash::from_raw("u"),
            },
            Subscription {
                options: opts(true, true),
                subscribe: false,
                topic: TopicHash::from_raw("v"),
            },
        ],
        ..Rpc::default()
    };
    let encoded = encode(&rpc);
    let expected = [
        0x0a, 9, 0x08, 1, 0x12, 1, b't', 0x18, 1, 0x20, 1, //
        0x0a, 7, 0x08, 1, 0x12, 1, b'u', 0x20, 1, //
        0x0a, 5, 0x08, 0, 0x12, 1, b'v',
    ];
    assert_eq!(&encoded[1..], &expected[..]);
    assert_eq!(rpc_len(&rpc), expected.len());
}

#[test]
fn malformed_or_oversized_partials_are_dropped_and_counted() {
    let partial = |topic: Option<&[u8]>, group: Option<&[u8]>, metadata: &[u8]| {
        let mut body = Vec::new();
        let mut w = Writer::new(&mut body);
        if let Some(t) = topic {
            w.write_with_tag(10, |w| w.write_bytes(t)).unwrap();
        }
        if let Some(g) = group {
            w.write_with_tag(18, |w| w.write_bytes(g)).unwrap();
        }
        w.write_with_tag(34, |w| w.write_bytes(metadata)).unwrap();
        let mut frame = Vec::new();
        Writer::new(&mut frame)
            .write_with_tag(82, |w| w.write_bytes(&body))
            .unwrap();
        frame
    };
    let long_group = vec![7u8; MAX_PARTIAL_GROUP_ID_LEN + 1];
    let long_meta = vec![7u8; MAX_PARTS_METADATA_LEN + 1];
    let long_topic = vec![b'a'; 4096];
    for frame in [
        partial(None, Some(b"g"), b"m"),
        partial(Some(b"t"), None, b"m"),
        partial(Some(b"t"), Some(&long_group), b"m"),
        partial(Some(b"t"), Some(b"g"), &long_meta),
        partial(Some(&long_topic), Some(b"g"), b"m"),
        partial(Some(&[0xff, 0xfe]), Some(b"g"), b"m"),
    ] {
        let decoded = decode_frame(&frame);
        assert_eq!(decoded.rpc.partial, None);
        assert_eq!(decoded.drops.partials_malformed, 1);
    }
    // At the bounds: taken.
    let max_group = vec![7u8; MAX_PARTIAL_GROUP_ID_LEN];
    let max_meta = vec![7u8; MAX_PARTS_METADATA_LEN];
    let decoded = decode_frame(&partial(Some(b"t"), Some(&max_group), &max_meta));
    assert!(decoded.rpc.partial.is_some());
    assert!(decoded.drops.is_empty());
}

#[test]
fn a_partial_too_large_for_the_frame_is_dropped_by_the_fragmenter() {
    let big = Rpc {
        partial: Some(Box::new(PartialMessage {
            topic: TopicHash::from_raw("t"),
            group_id: Bytes::from_static(b"g"),
            message: Some(Bytes::from(vec![1u8; 1000])),
            metadata: None,
        })),
        extensions: Some(Extensions {
            partial_messages: true,
            test_extension: false,
        }),
        ..Rpc::default()
    };
    let fits = fragment_within(big.clone(), 2000, &DecodeLimits::UNLIMITED);
    assert_eq!(fits.rpcs, vec![big.clone()]);
    let cut = fragment_within(big, 500, &DecodeLimits::UNLIMITED);
    assert_eq!(cut.dropped_messages, 1);
    assert!(cut.rpcs.iter().all(|r| r.partial.is_none()));
    assert!(cut.rpcs.iter().all(|r| rpc_len(r) <= 500));
}
