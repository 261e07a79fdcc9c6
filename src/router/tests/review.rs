//! Hostile-input review of the features merged together: regression tests for what a remote
//! peer could do past a bound.

use bytes::Bytes;

use super::{Harness, config};
use crate::types::{Extensions, PartialMessage, PeerKind, Rpc, Subscription, SubscriptionOptions};

fn partial_peer(h: &mut Harness, topic: &crate::types::TopicHash) -> libp2p_identity::PeerId {
    let p = libp2p_identity::PeerId::random();
    h.router.add_peer(h.now, p, false);
    h.router.set_peer_kind(p, PeerKind::Gossipsubv1_3);
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            extensions: Some(Extensions {
                partial_messages: true,
                test_extension: false,
            }),
            subscriptions: vec![Subscription {
                options: SubscriptionOptions {
                    requests_partial: true,
                    supports_partial: true,
                },
                subscribe: true,
                topic: topic.clone(),
            }],
            ..Rpc::default()
        },
    );
    p
}

fn parts_rpc(topic: &crate::types::TopicHash, size: usize) -> Rpc {
    Rpc {
        partial: Some(Box::new(PartialMessage {
            topic: topic.clone(),
            group_id: Bytes::from_static(b"g"),
            message: Some(Bytes::from(vec![7u8; size])),
            metadata: None,
        })),
        ..Rpc::default()
    }
}

fn partial_events(h: &mut Harness) -> usize {
    h.drain()
        .iter()
        .filter(|a| matches!(a, super::Action::Event(crate::event::Event::Partial { .. })))
        .count()
}

/// Parts a peer pushes are application payload like published messages: they count against
/// the sender's per-heartbeat byte budget, so one peer cannot hand the application unbounded
/// bytes per heartbeat through the Partial Messages extension.
#[test]
fn partial_parts_count_against_the_peer_message_budget() {
    let mut h = Harness::new(
        config()
            .max_message_bytes_per_peer_per_heartbeat(1000)
            .build()
            .unwrap(),
    );
    let topic = Harness::topic();
    let a = partial_peer(&mut h, &topic);
    h.router
        .subscribe_partial(h.now, topic.clone(), true)
        .unwrap();
    h.drain();
    for _ in 0..5 {
        h.router.handle_rpc(h.now, a, parts_rpc(&topic, 600));
    }
    assert_eq!(
        partial_events(&mut h),
        1,
        "only the first 600 bytes fit in 1000"
    );
    assert_eq!(h.router.counters().partials_over_peer_budget, 4);
    // The next heartbeat gives the peer a fresh budget.
    h.heartbeat();
    h.router.handle_rpc(h.now, a, parts_rpc(&topic, 600));
    assert_eq!(partial_events(&mut h), 1);
}

/// A topic's `max_transmit_size_for_topic` bounds the parts of its partial messages as it
/// bounds its full messages: larger parts are not handed to the application, and the sender
/// is penalised like for a full message over the topic's size.
#[test]
fn partial_parts_over_the_topic_size_are_refused() {
    let topic = Harness::topic();
    let mut b = config();
    b.max_transmit_size_for_topic(200, topic.clone());
    let mut h = Harness::new(b.build().unwrap());
    let a = partial_peer(&mut h, &topic);
    h.router
        .subscribe_partial(h.now, topic.clone(), true)
        .unwrap();
    h.drain();
    h.router.handle_rpc(h.now, a, parts_rpc(&topic, 150));
    assert_eq!(partial_events(&mut h), 1);
    h.router.handle_rpc(h.now, a, parts_rpc(&topic, 5000));
    assert_eq!(
        partial_events(&mut h),
        0,
        "parts over the topic's 200 bytes"
    );
    assert_eq!(h.router.counters().partials_invalid, 1);
}

/// An application `Partial` keeping the trait's default `merge_metadata` (an update replaces
/// what we knew): one-byte bitmap metadata, parts as `(index, value)` pairs.
struct ReplacingMerge;

impl crate::partial::Partial for ReplacingMerge {
    fn group_id(&self) -> Bytes {
        Bytes::from_static(b"g")
    }

    fn parts_metadata(&self) -> Bytes {
        Bytes::from_static(&[0xff])
    }

    fn parts_for_peer(
        &self,
        _peer: &libp2p_identity::PeerId,
        peer_metadata: Option<&[u8]>,
    ) -> Result<crate::partial::PartsForPeer, crate::partial::PartialError> {
        let has = match peer_metadata {
            None => 0,
            Some([b]) => *b,
            Some(_) => return Err(crate::partial::PartialError::InvalidMetadata),
        };
        let parts: Vec<u8> = (0..8u8)
            .filter(|i| has & (1 << i) == 0)
            .flat_map(|i| [i, 100 + i])
            .collect();
        Ok(crate::partial::PartsForPeer {
            parts: (!parts.is_empty()).then(|| Bytes::from(parts)),
            peer_metadata: Some(Bytes::from_static(&[0xff])),
        })
    }
}

/// A peer that keeps telling us it holds nothing (accepted as is by an application with the
/// default `merge_metadata`) is answered with the parts at most once per group and
/// heartbeat, not on every RPC: a few bytes in must not buy the whole message out each time.
#[test]
fn a_peer_repeating_empty_metadata_is_answered_once_per_heartbeat() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let a = partial_peer(&mut h, &topic);
    h.router
        .subscribe_partial(h.now, topic.clone(), true)
        .unwrap();
    h.router
        .publish_partial(h.now, topic.clone(), ReplacingMerge)
        .unwrap();
    h.drain();
    let empty = |topic: &crate::types::TopicHash| Rpc {
        partial: Some(Box::new(PartialMessage {
            topic: topic.clone(),
            group_id: Bytes::from_static(b"g"),
            message: None,
            metadata: Some(Bytes::from_static(&[0])),
        })),
        ..Rpc::default()
    };
    let parts_sent = |actions: &[super::Action]| {
        actions
            .iter()
            .filter(|x| {
                matches!(x, super::Action::Send { peer, rpc, .. }
                    if *peer == a && rpc.partial.as_ref().is_some_and(|p| p.message.is_some()))
            })
            .count()
    };
    let mut sent = 0;
    for _ in 0..10 {
        h.router.handle_rpc(h.now, a, empty(&topic));
        sent += parts_sent(&h.drain());
    }
    assert_eq!(sent, 1, "one answer in the heartbeat");
    let after = h.heartbeat();
    let mut sent = parts_sent(&after);
    for _ in 0..10 {
        h.router.handle_rpc(h.now, a, empty(&topic));
        sent += parts_sent(&h.drain());
    }
    assert_eq!(sent, 1, "one more in the next heartbeat");
}
