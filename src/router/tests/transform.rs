//! The data transform at the router's edge: ids and the application see transformed data,
//! the wire form is cached and forwarded byte for byte, failures are rejected and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::score::{PeerScoreParams, PeerScoreThresholds, TopicScoreParams};
use crate::transform::{DataTransform, TransformError};

/// Wire form = `0xAA` ++ app data. Counts inbound calls.
#[derive(Clone, Default)]
struct Prefix {
    inbound_calls: Arc<AtomicUsize>,
}

impl DataTransform for Prefix {
    fn inbound_transform(&self, _t: &TopicHash, data: Bytes) -> Result<Bytes, TransformError> {
        self.inbound_calls.fetch_add(1, Ordering::Relaxed);
        match data.first() {
            Some(0xAA) => Ok(data.slice(1..)),
            _ => Err(TransformError::Invalid("no prefix".into())),
        }
    }

    fn outbound_transform(&self, _t: &TopicHash, data: Bytes) -> Result<Bytes, TransformError> {
        if data.as_ref() == b"refuse" {
            return Err(TransformError::Invalid("refused".into()));
        }
        let mut wire = vec![0xAA];
        wire.extend_from_slice(&data);
        Ok(Bytes::from(wire))
    }
}

/// Ids are the data itself, so a test can see which form the id function was given.
fn data_id_config(validate: bool) -> Config {
    let mut b = config();
    b.message_id_fn(|m: &Message| MessageId::from(m.data.clone()))
        .validate_messages(validate);
    b.build().unwrap()
}

use crate::types::Message;

fn anonymous(data: &'static [u8], topic: &TopicHash) -> RawMessage {
    RawMessage {
        source: None,
        data: Bytes::from_static(data),
        data_absent: false,
        sequence_number: None,
        topic: topic.clone(),
        signature: None,
        key: None,
    }
}

fn setup(validate: bool) -> (Harness, Prefix, Vec<PeerId>) {
    let mut h = Harness::new(data_id_config(validate));
    let t = Prefix::default();
    h.router.set_data_transform(t.clone());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(3, &topic, false);
    h.heartbeat();
    (h, t, peers)
}

/// The wire payloads of the messages sent to `peer`.
fn payloads_to(actions: &[Action], peer: PeerId) -> Vec<Bytes> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { peer: p, rpc, .. } if *p == peer => Some(rpc.messages.clone()),
            _ => None,
        })
        .flatten()
        .map(|m| m.data)
        .collect()
}

#[test]
fn transformed_data_reaches_app_and_id_while_the_wire_form_is_forwarded() {
    let (mut h, _, peers) = setup(false);
    let topic = Harness::topic();
    h.router
        .handle_rpc(h.now, peers[0], msg_rpc(anonymous(b"\xAAxy", &topic)));
    let actions = h.drain();
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
    assert_eq!(data.as_ref(), b"xy");
    assert_eq!(id.as_bytes(), b"xy");
    for peer in &peers[1..] {
        assert_eq!(
            payloads_to(&actions, *peer),
            vec![Bytes::from_static(b"\xAAxy")]
        );
    }
    // An IWANT is answered from the cache, in wire form.
    let asker = h.add_peers(1, &topic, false)[0];
    h.router.handle_rpc(
        h.now,
        asker,
        control_rpc(ControlAction::IWant {
            message_ids: vec![id],
        }),
    );
    assert_eq!(
        payloads_to(&h.drain(), asker),
        vec![Bytes::from_static(b"\xAAxy")]
    );
}

#[test]
fn accepted_message_is_forwarded_in_wire_form() {
    let (mut h, _, peers) = setup(true);
    let topic = Harness::topic();
    h.router
        .handle_rpc(h.now, peers[0], msg_rpc(anonymous(b"\xAAab", &topic)));
    assert_eq!(delivered(&h.drain()), vec![MessageId::from(&b"ab"[..])]);
    let id = MessageId::from(&b"ab"[..]);
    assert!(
        h.router
            .report_validation(h.now, &id, &peers[0], MessageAcceptance::Accept)
    );
    let actions = h.drain();
    assert_eq!(
        payloads_to(&actions, peers[1]),
        vec![Bytes::from_static(b"\xAAab")]
    );
}

#[test]
fn failed_inbound_transform_is_rejected_counted_and_its_copies_are_duplicates() {
    let (mut h, t, peers) = setup(false);
    let topic = Harness::topic();
    let bad = anonymous(b"\x00junk", &topic);
    h.router.handle_rpc(h.now, peers[0], msg_rpc(bad.clone()));
    let actions = h.drain();
    assert!(delivered(&actions).is_empty());
    assert!(payloads_to(&actions, peers[1]).is_empty());
    assert_eq!(h.router.counters().messages_transform_failed, 1);
    let calls = t.inbound_calls.load(Ordering::Relaxed);
    // A copy from another peer is a duplicate of the invalid id: no new transform failure.
    let dups = h.router.counters().messages_duplicate;
    h.router.handle_rpc(h.now, peers[1], msg_rpc(bad));
    assert!(delivered(&h.drain()).is_empty());
    assert_eq!(h.router.counters().messages_transform_failed, 1);
    assert_eq!(h.router.counters().messages_duplicate, dups + 1);
    // Not cached, so its copy is transformed once more to find its id.
    assert_eq!(t.inbound_calls.load(Ordering::Relaxed), calls + 1);
}

#[test]
fn failed_inbound_transform_id_comes_from_the_invalid_id_fn() {
    let mut b = config();
    b.invalid_message_id_fn(|m: &Message| {
        let mut id = b"invalid:".to_vec();
        id.extend_from_slice(&m.data);
        MessageId::from(id)
    });
    let mut h = Harness::new(b.build().unwrap());
    h.router.set_data_transform(Prefix::default());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(2, &topic, false);
    h.heartbeat();
    h.router
        .handle_rpc(h.now, peers[0], msg_rpc(anonymous(b"\x01z", &topic)));
    h.drain();
    // The invalid id (computed over the wire data) is marked seen: an IHAVE of it is not
    // answered with an IWANT.
    h.router.handle_rpc(
        h.now,
        peers[1],
        control_rpc(ControlAction::IHave {
            topic: topic.clone(),
            message_ids: vec![MessageId::from(&b"invalid:\x01z"[..])],
        }),
    );
    let asked: Vec<_> = control_to(&h.drain(), peers[1])
        .into_iter()
        .filter(|c| matches!(c, ControlAction::IWant { .. }))
        .collect();
    assert!(asked.is_empty(), "the invalid id is seen: {asked:?}");
}

#[test]
fn failed_inbound_transform_penalises_the_sender() {
    let topic = Harness::topic();
    let mut h = Harness::new(data_id_config(false));
    h.router.set_data_transform(Prefix::default());
    let mut params = PeerScoreParams::default();
    params.topics.insert(
        topic.clone(),
        TopicScoreParams {
            topic_weight: 1.0,
            invalid_message_deliveries_weight: -1.0,
            invalid_message_deliveries_decay: 0.5,
            ..TopicScoreParams::default()
        },
    );
    h.router
        .with_peer_score(params, PeerScoreThresholds::default())
        .unwrap();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(2, &topic, false);
    h.router
        .handle_rpc(h.now, peers[0], msg_rpc(anonymous(b"\x00bad", &topic)));
    h.drain();
    assert!(h.router.peer_score(&peers[0]).unwrap() < 0.0);
    assert!(h.router.peer_score(&peers[1]).unwrap() >= 0.0);
}

#[test]
fn publish_puts_the_transformed_data_on_the_wire_and_ids_the_app_data() {
    let (mut h, _, peers) = setup(false);
    let topic = Harness::topic();
    let id = h.router.publish(h.now, topic.clone(), &b"hi"[..]).unwrap();
    assert_eq!(id.as_bytes(), b"hi");
    let actions = h.drain();
    for peer in &peers {
        assert_eq!(
            payloads_to(&actions, *peer),
            vec![Bytes::from_static(b"\xAAhi")]
        );
    }
    assert!(matches!(
        h.router.publish(h.now, topic, &b"refuse"[..]),
        Err(crate::error::PublishError::TransformFailed(_))
    ));
}

#[cfg(feature = "snappy")]
#[test]
fn snappy_bomb_from_a_peer_is_rejected_and_counted() {
    use crate::transform::SnappyTransform;
    let mut h = Harness::new(data_id_config(false));
    h.router.set_data_transform(SnappyTransform::new(1 << 20));
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(2, &topic, false);
    h.heartbeat();
    let bomb = snap::raw::Encoder::new()
        .compress_vec(&vec![0u8; 4 << 20])
        .unwrap();
    let mut m = anonymous(b"", &topic);
    m.data = Bytes::from(bomb);
    h.router.handle_rpc(h.now, peers[0], msg_rpc(m));
    let actions = h.drain();
    assert!(delivered(&actions).is_empty());
    assert!(payloads_to(&actions, peers[1]).is_empty());
    assert_eq!(h.router.counters().messages_transform_failed, 1);
    // A valid compressed message of the same topic goes through, decompressed for the app.
    let good = snap::raw::Encoder::new().compress_vec(b"block").unwrap();
    let mut m = anonymous(b"", &topic);
    m.data = Bytes::from(good.clone());
    h.router.handle_rpc(h.now, peers[0], msg_rpc(m));
    let actions = h.drain();
    assert_eq!(delivered(&actions), vec![MessageId::from(&b"block"[..])]);
    assert_eq!(payloads_to(&actions, peers[1]), vec![Bytes::from(good)]);
}
