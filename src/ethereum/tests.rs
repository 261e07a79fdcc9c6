//! Ethereum ids checked against digests built here, byte by byte, from the spec's definition
//! (not by calling the code under test), and the preset wired end to end through a router.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::*;
use crate::types::TopicHash;

const TOPIC: &str = "/eth2/6a95a1a9/beacon_block/ssz_snappy";

/// `SHA256(parts concatenated)[:20]`.
fn spec_id(parts: &[&[u8]]) -> Vec<u8> {
    let preimage: Vec<u8> = parts.concat();
    Sha256::digest(&preimage)[..20].to_vec()
}

fn msg(topic: &str, data: &[u8]) -> Message {
    Message {
        source: None,
        data: Bytes::copy_from_slice(data),
        sequence_number: None,
        topic: TopicHash::from(topic),
    }
}

#[test]
fn altair_id_matches_the_spec_definition() {
    assert_eq!(TOPIC.len(), 38);
    let data = b"ssz bytes of a block";
    let expected = spec_id(&[
        &[0x01, 0x00, 0x00, 0x00],
        &[38, 0, 0, 0, 0, 0, 0, 0],
        TOPIC.as_bytes(),
        data,
    ]);
    assert_eq!(
        message_id(&msg(TOPIC, data)).as_bytes(),
        expected.as_slice()
    );
}

#[test]
fn altair_invalid_snappy_id_matches_the_spec_definition() {
    let raw = b"\xff\xff not snappy";
    let expected = spec_id(&[
        &[0x00, 0x00, 0x00, 0x00],
        &[38, 0, 0, 0, 0, 0, 0, 0],
        TOPIC.as_bytes(),
        raw,
    ]);
    assert_eq!(
        invalid_snappy_message_id(&msg(TOPIC, raw)).as_bytes(),
        expected.as_slice()
    );
}

#[test]
fn phase0_ids_omit_the_topic() {
    let data = b"payload";
    assert_eq!(
        phase0_message_id(&msg(TOPIC, data)).as_bytes(),
        spec_id(&[&[0x01, 0, 0, 0], data]).as_slice()
    );
    assert_eq!(
        phase0_invalid_snappy_message_id(&msg(TOPIC, data)).as_bytes(),
        spec_id(&[&[0x00, 0, 0, 0], data]).as_slice()
    );
    // The topic matters for Altair ids only.
    let other = "/eth2/00000000/beacon_block/ssz_snappy";
    assert_eq!(
        phase0_message_id(&msg(TOPIC, data)),
        phase0_message_id(&msg(other, data))
    );
    assert_ne!(message_id(&msg(TOPIC, data)), message_id(&msg(other, data)));
}

#[test]
fn message_size_bounds_follow_the_spec_functions() {
    assert_eq!(MAX_PAYLOAD_SIZE, 10_485_760);
    // 32 + 10485760 + 1747626 + 1024.
    assert_eq!(MAX_MESSAGE_SIZE, 12_234_442);
}

#[test]
fn beacon_topic_names() {
    assert_eq!(
        topic([0x6a, 0x95, 0xa1, 0xa9], "beacon_block")
            .unwrap()
            .name(),
        TOPIC
    );
    assert_eq!(
        topic([0, 0, 0, 0xff], "beacon_attestation_7")
            .unwrap()
            .name(),
        "/eth2/000000ff/beacon_attestation_7/ssz_snappy"
    );
    assert_eq!(topic([0; 4], ""), Err(TopicNameError::Empty));
    assert!(matches!(
        topic([0; 4], "a/b"),
        Err(TopicNameError::InvalidCharacter(_))
    ));
}

#[cfg(feature = "snappy")]
mod wired {
    use std::time::Instant;

    use libp2p_identity::PeerId;

    use super::*;
    use crate::event::Event;
    use crate::router::{Action, Router};
    use crate::types::{ControlAction, PeerKind, RawMessage, Rpc, Subscription};
    use crate::{Config, MessageAuthenticity};

    /// A router with the Ethereum preset and transform, subscribed to `TOPIC`, with `n` mesh
    /// peers.
    fn router(n: usize) -> (Router, Instant, Vec<PeerId>) {
        let now = crate::test_util::epoch();
        let mut r = Router::new(
            Config::ethereum(),
            MessageAuthenticity::Anonymous,
            3,
            1,
            now,
        )
        .unwrap();
        r.set_data_transform(snappy_transform());
        r.subscribe(now, TopicHash::from(TOPIC)).unwrap();
        let peers: Vec<PeerId> = (0..n).map(|_| PeerId::random()).collect();
        for p in &peers {
            r.add_peer(now, *p, false);
            r.set_peer_kind(*p, PeerKind::Gossipsubv1_2);
            r.handle_rpc(
                now,
                *p,
                Rpc {
                    subscriptions: vec![Subscription {
                        options: Default::default(),
                        subscribe: true,
                        topic: TopicHash::from(TOPIC),
                    }],
                    ..Rpc::default()
                },
            );
        }
        let later = now + r.config().heartbeat_interval() * 2;
        r.handle_timeout(later);
        while r.poll_action().is_some() {}
        (r, later, peers)
    }

    fn wire(data: &[u8]) -> RawMessage {
        RawMessage {
            source: None,
            data: Bytes::copy_from_slice(data),
            data_absent: false,
            sequence_number: None,
            topic: TopicHash::from(TOPIC),
            signature: None,
            key: None,
        }
    }

    fn deliver(r: &mut Router, now: Instant, from: PeerId, m: RawMessage) -> Vec<Action> {
        r.handle_rpc(
            now,
            from,
            Rpc {
                messages: vec![m],
                ..Rpc::default()
            },
        );
        std::iter::from_fn(|| r.poll_action()).collect()
    }

    #[test]
    fn preset_ids_a_compressed_message_over_its_decompressed_data() {
        let (mut r, now, peers) = router(2);
        let ssz = b"a beacon block, ssz-encoded".repeat(10);
        let compressed = snap::raw::Encoder::new().compress_vec(&ssz).unwrap();
        let expected = spec_id(&[
            &[0x01, 0, 0, 0],
            &[38, 0, 0, 0, 0, 0, 0, 0],
            TOPIC.as_bytes(),
            &ssz,
        ]);
        let actions = deliver(&mut r, now, peers[0], wire(&compressed));
        let (id, data) = actions
            .iter()
            .find_map(|a| match a {
                Action::Event(Event::Message {
                    message_id,
                    message,
                    ..
                }) => Some((message_id.clone(), message.data.clone())),
                _ => None,
            })
            .expect("delivered");
        assert_eq!(id.as_bytes(), expected.as_slice());
        assert_eq!(data.as_ref(), ssz.as_slice());
    }

    #[test]
    fn preset_marks_the_invalid_snappy_id_seen() {
        let (mut r, now, peers) = router(2);
        let raw = b"\xff\xfe\xfd definitely not snappy";
        let invalid_id = spec_id(&[
            &[0x00, 0, 0, 0],
            &[38, 0, 0, 0, 0, 0, 0, 0],
            TOPIC.as_bytes(),
            raw,
        ]);
        let ihave = |id: Vec<u8>| Rpc {
            control: vec![ControlAction::IHave {
                topic: TopicHash::from(TOPIC),
                message_ids: vec![MessageId::new(id)],
            }],
            ..Rpc::default()
        };
        let asks = |actions: &[Action]| {
            actions.iter().any(|a| {
                matches!(a, Action::Send { rpc, .. }
                    if rpc.control.iter().any(|c| matches!(c, ControlAction::IWant { .. })))
            })
        };
        let actions = deliver(&mut r, now, peers[0], wire(raw));
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::Event(Event::Message { .. })))
        );
        assert_eq!(r.counters().messages_transform_failed, 1);
        // The spec's invalid-snappy id is seen: an IHAVE of it is not answered, while one of
        // an unknown id is.
        r.handle_rpc(now, peers[1], ihave(invalid_id));
        let after: Vec<Action> = std::iter::from_fn(|| r.poll_action()).collect();
        assert!(!asks(&after), "the invalid-snappy id is seen");
        r.handle_rpc(now, peers[1], ihave(vec![7; 20]));
        let other: Vec<Action> = std::iter::from_fn(|| r.poll_action()).collect();
        assert!(asks(&other));
        // A copy of the invalid message is a duplicate, not transformed into a new failure.
        let dups = r.counters().messages_duplicate;
        deliver(&mut r, now, peers[1], wire(raw));
        assert_eq!(r.counters().messages_duplicate, dups + 1);
        assert_eq!(r.counters().messages_transform_failed, 1);
    }
}
