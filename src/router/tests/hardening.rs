//! Tests of the v1.1 protective rules: direct peers, blacklist, subscription filter, gossip
//! promises, peer exchange.

use libp2p_core::PeerRecord;
use libp2p_identity::Keypair;

use super::*;
use crate::error::SubscriptionError;
use crate::filter::AllowListSubscriptionFilter;
use crate::types::PeerInfo;

fn graft(topic: &TopicHash) -> Rpc {
    control_rpc(ControlAction::Graft {
        topic: topic.clone(),
    })
}

fn dials(actions: &[Action]) -> Vec<(PeerId, Vec<libp2p_core::Multiaddr>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Dial { peer, addresses } => Some((*peer, addresses.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn direct_peers_get_every_message_are_never_grafted_and_are_redialled() {
    let direct = PeerId::random();
    let mut b = config();
    b.direct_peers([direct])
        .direct_connect_ticks(3)
        .flood_publish(false);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let others = h.add_peers(8, &topic, false);
    h.router.add_peer(h.now, direct, true);
    h.router.set_peer_kind(direct, PeerKind::Gossipsubv1_2);
    h.router.handle_rpc(
        h.now,
        direct,
        Rpc {
            subscriptions: vec![Subscription {
                options: Default::default(),
                subscribe: true,
                topic: topic.clone(),
            }],
            ..Rpc::default()
        },
    );
    h.heartbeat();
    assert!(!h.router.mesh_peers(&topic).any(|p| *p == direct));
    // Its GRAFT is answered with PRUNE.
    h.router.handle_rpc(h.now, direct, graft(&topic));
    assert!(
        control_to(&h.drain(), direct)
            .iter()
            .any(|c| matches!(c, ControlAction::Prune { .. }))
    );
    assert!(!h.router.mesh_peers(&topic).any(|p| *p == direct));
    // It receives our publishes (mesh-only publishing) and forwards.
    let id = h.router.publish(h.now, topic.clone(), vec![1u8]).unwrap();
    assert!(
        message_sends(&h.drain(), &id)
            .iter()
            .any(|(p, _)| *p == direct)
    );
    let m = message(others[0], 5, &topic, 3);
    let fid = id_of(&h, &m);
    h.router.handle_rpc(h.now, others[0], msg_rpc(m));
    assert!(
        message_sends(&h.drain(), &fid)
            .iter()
            .any(|(p, _)| *p == direct)
    );
    // Disconnected, it is redialled every direct_connect_ticks heartbeats.
    h.router.remove_peer(&direct);
    let mut redials = 0;
    for _ in 0..6 {
        redials += dials(&h.heartbeat())
            .iter()
            .filter(|(p, _)| *p == direct)
            .count();
    }
    assert_eq!(redials, 2);
}

#[test]
fn blacklisted_peer_is_ignored_and_never_grafted() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(3, &topic, false);
    h.heartbeat();
    let bad = peers[0];
    h.router.blacklist_peer(bad);
    assert!(!h.router.mesh_peers(&topic).any(|p| *p == bad));
    h.router
        .handle_rpc(h.now, bad, msg_rpc(message(bad, 1, &topic, 3)));
    assert!(delivered(&h.drain()).is_empty());
    assert_eq!(h.router.counters().rpcs_from_blacklisted, 1);
    // A message it authored, relayed by someone else, is dropped too.
    h.router
        .handle_rpc(h.now, peers[1], msg_rpc(message(bad, 2, &topic, 3)));
    assert!(delivered(&h.drain()).is_empty());
    assert_eq!(h.router.counters().messages_from_blacklisted, 1);
    for _ in 0..3 {
        let actions = h.heartbeat();
        assert!(
            !control_to(&actions, bad)
                .iter()
                .any(|c| matches!(c, ControlAction::Graft { .. }))
        );
    }
    // Removed from the blacklist, it is grafted again.
    h.router.remove_blacklisted_peer(&bad);
    h.heartbeat();
    assert!(h.router.mesh_peers(&topic).any(|p| *p == bad));
}

#[test]
fn subscription_filter_applies_to_us_and_to_remote_peers() {
    let mut h = Harness::new(config().build().unwrap());
    let allowed = TopicHash::from_raw("allowed");
    let other = TopicHash::from_raw("other");
    h.router
        .set_subscription_filter(AllowListSubscriptionFilter(
            [allowed.clone()].into_iter().collect(),
        ));
    assert_eq!(
        h.router.subscribe(h.now, other.clone()),
        Err(SubscriptionError::NotAllowed(other.clone()))
    );
    assert_eq!(h.router.subscribe(h.now, allowed.clone()), Ok(true));
    let p = h.add_peers(1, &other, false)[0];
    assert_eq!(h.router.counters().subscriptions_ignored, 1);
    let topics: Vec<_> = h
        .router
        .all_peers()
        .find(|(peer, _)| **peer == p)
        .map(|(_, t)| t.into_iter().cloned().collect())
        .unwrap();
    assert!(topics.is_empty(), "refused topic not tracked: {topics:?}");
}

#[test]
fn remote_topic_count_is_capped() {
    let mut b = config();
    b.max_topics_per_peer(3);
    let mut h = Harness::new(b.build().unwrap());
    let p = PeerId::random();
    h.router.add_peer(h.now, p, false);
    h.router.set_peer_kind(p, PeerKind::Gossipsubv1_2);
    let subscriptions = (0..10)
        .map(|i| Subscription {
            options: Default::default(),
            subscribe: true,
            topic: TopicHash::from_raw(format!("t{i}")),
        })
        .collect();
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            subscriptions,
            ..Rpc::default()
        },
    );
    let held = h
        .router
        .all_peers()
        .find(|(q, _)| **q == p)
        .unwrap()
        .1
        .len();
    assert_eq!(held, 3);
    assert_eq!(h.router.counters().subscriptions_ignored, 7);
}

/// libp2p-gossipsub's `MaxCountSubscriptionFilter` caps apply to remote subscriptions
/// together with the config's: the smaller cap wins, per peer and per RPC.
#[test]
fn max_count_filter_caps_remote_subscriptions() {
    use crate::filter::{AllowAllSubscriptionFilter, MaxCountSubscriptionFilter};
    let mut h = Harness::new(config().build().unwrap());
    h.router
        .set_subscription_filter(MaxCountSubscriptionFilter {
            filter: AllowAllSubscriptionFilter,
            max_subscribed_topics: 4,
            max_subscriptions_per_request: 6,
        });
    let p = PeerId::random();
    h.router.add_peer(h.now, p, false);
    h.router.set_peer_kind(p, PeerKind::Gossipsubv1_2);
    let rpc = |range: std::ops::Range<u32>| Rpc {
        subscriptions: range
            .map(|i| Subscription {
                options: Default::default(),
                subscribe: true,
                topic: TopicHash::from_raw(format!("t{i}")),
            })
            .collect(),
        ..Rpc::default()
    };
    let held = |h: &Harness| {
        h.router
            .all_peers()
            .find(|(q, _)| **q == p)
            .unwrap()
            .1
            .len()
    };
    // Two entries in an RPC of 10 are over the per-RPC cap; of the 6 processed, 4 are kept.
    h.router.handle_rpc(h.now, p, rpc(0..10));
    assert_eq!(held(&h), 4);
    assert_eq!(h.router.counters().subscriptions_ignored, 4 + 2);
    // The per-peer cap holds across RPCs.
    h.router.handle_rpc(h.now, p, rpc(10..12));
    assert_eq!(held(&h), 4);
}

#[test]
fn broken_iwant_promises_are_counted_after_followup_time() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let p = h.add_peers(2, &topic, false);
    h.drain();
    let ids: Vec<MessageId> = (0..3u8).map(|i| MessageId::new(vec![i])).collect();
    h.router.handle_rpc(
        h.now,
        p[0],
        control_rpc(ControlAction::IHave {
            topic: topic.clone(),
            message_ids: ids.clone(),
        }),
    );
    assert!(
        control_to(&h.drain(), p[0])
            .iter()
            .any(|c| matches!(c, ControlAction::IWant { .. }))
    );
    // Heartbeats before the follow-up time pass: nothing broken.
    let followup = h.router.config().iwant_followup_time();
    let asked_at = h.now;
    while h.router.poll_timeout() < asked_at + followup {
        h.heartbeat();
    }
    assert_eq!(h.router.counters().broken_promises, 0);
    h.advance(Duration::from_secs(1));
    h.heartbeat();
    assert_eq!(
        h.router.counters().broken_promises,
        1,
        "one id tracked per IWANT"
    );

    // A delivered promise is kept.
    h.router.handle_rpc(
        h.now,
        p[1],
        control_rpc(ControlAction::IHave {
            topic: topic.clone(),
            message_ids: vec![id_of(&h, &message(p[1], 9, &topic, 1))],
        }),
    );
    h.drain();
    h.router
        .handle_rpc(h.now, p[1], msg_rpc(message(p[1], 9, &topic, 1)));
    h.advance(followup * 2);
    h.heartbeat();
    assert_eq!(h.router.counters().broken_promises, 1);
}

fn record(key: &Keypair, port: u16) -> (PeerId, Bytes, libp2p_core::Multiaddr) {
    let addr: libp2p_core::Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    let rec = PeerRecord::new_interop(key, vec![addr.clone()]).unwrap();
    (
        key.public().to_peer_id(),
        Bytes::from(rec.into_signed_envelope().into_protobuf_encoding()),
        addr,
    )
}

#[test]
fn oversubscribed_prune_offers_peers_with_their_signed_records() {
    let mut b = config();
    b.do_px(true).prune_peers(5);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(20, &topic, true);
    let known = Keypair::generate_ed25519();
    let (known_peer, known_record, _) = record(&known, 1);
    assert_eq!(
        h.router.add_peer_record(known_record.clone()),
        Ok(known_peer)
    );
    for p in &peers {
        h.router.handle_rpc(h.now, *p, graft(&topic));
    }
    h.drain();
    let actions = h.heartbeat();
    let mut offers = 0;
    for p in &peers {
        for c in control_to(&actions, *p) {
            if let ControlAction::Prune { peers: px, .. } = c {
                assert!(px.len() <= 5 && !px.is_empty());
                assert!(
                    px.iter().all(|i| i.peer_id != Some(*p)),
                    "not offered to itself"
                );
                offers += 1;
            }
        }
    }
    assert!(offers > 0);
    // Unsubscribing prunes with PX too (as go and libp2p-gossipsub do).
    h.router.unsubscribe(h.now, &topic);
    for c in h.drain().iter().flat_map(|a| match a {
        Action::Send { rpc, .. } => rpc.control.clone(),
        _ => vec![],
    }) {
        if let ControlAction::Prune { peers, .. } = c {
            assert!(!peers.is_empty() && peers.len() <= 5);
        }
    }
}

#[test]
fn px_dials_only_verified_records_with_their_addresses() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let pruner = h.add_peers(1, &topic, true)[0];
    h.heartbeat();
    let (good_peer, good_record, good_addr) = record(&Keypair::generate_ed25519(), 2);
    // A record signed by another key, listed for a victim peer id.
    let victim = PeerId::random();
    let (_, forged, _) = record(&Keypair::generate_ed25519(), 3);
    let unsigned = PeerId::random();
    h.router.handle_rpc(
        h.now,
        pruner,
        control_rpc(ControlAction::Prune {
            topic: topic.clone(),
            peers: vec![
                PeerInfo {
                    peer_id: Some(good_peer),
                    signed_peer_record: Some(good_record),
                },
                PeerInfo {
                    peer_id: Some(victim),
                    signed_peer_record: Some(forged),
                },
                PeerInfo {
                    peer_id: Some(unsigned),
                    signed_peer_record: None,
                },
            ],
            backoff: Some(60),
        }),
    );
    let actions = h.drain();
    assert_eq!(dials(&actions), vec![(good_peer, vec![good_addr])]);
    assert_eq!(h.router.counters().px_records_invalid, 1);
    let reported: Vec<PeerId> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(Event::PeerExchange { records, .. }) => {
                Some(records.iter().map(|r| r.peer_id()).collect::<Vec<_>>())
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(reported, vec![good_peer]);
    assert!(
        h.router.peer_record(&good_peer).is_some(),
        "kept for our own PX"
    );
}

#[test]
fn remote_backoff_is_clamped() {
    let (mut h, topic, p) = Harness::subscribed_with_peer(config().build().unwrap(), false);
    h.heartbeat();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::Prune {
            topic: topic.clone(),
            peers: vec![],
            backoff: Some(u64::MAX),
        }),
    );
    // No overflow, and the peer is grafted again within a bounded time (one hour + slack).
    h.advance(Duration::from_secs(3600 + 5));
    let actions = h.heartbeat();
    assert!(
        control_to(&actions, p)
            .iter()
            .any(|c| matches!(c, ControlAction::Graft { .. }))
    );
}
