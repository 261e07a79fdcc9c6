//! Tests of the router's resource bounds: IHAVE budgets before per-id work, remote
//! subscriptions, peer-exchange records and dials, signature checks.

use super::*;

/// An IHAVE far larger than the per-heartbeat budget costs O(budget) lookups, not O(ids).
#[test]
fn oversize_ihave_costs_only_its_budget() {
    let mut b = config();
    b.max_ihave_length(100);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let p = h.add_peers(1, &topic, false)[0];
    h.drain();
    let ids: Vec<MessageId> = (0..100_000u32)
        .map(|i| MessageId::new(i.to_be_bytes().to_vec()))
        .collect();
    let before = h.router.seen.lookups.get();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::IHave {
            topic: topic.clone(),
            message_ids: ids,
        }),
    );
    let lookups = h.router.seen.lookups.get() - before;
    assert!(
        lookups <= 100,
        "{lookups} seen-cache lookups for a budget of 100"
    );
    let asked: usize = control_to(&h.drain(), p)
        .iter()
        .map(|c| match c {
            ControlAction::IWant { message_ids } => message_ids.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(asked, 100);
    assert_eq!(h.router.counters().ihave_ids_over_budget, 99_900);
}

fn subscribe_rpc(topics: impl IntoIterator<Item = TopicHash>) -> Rpc {
    Rpc {
        subscriptions: topics
            .into_iter()
            .map(|topic| Subscription {
                subscribe: true,
                topic,
            })
            .collect(),
        ..Rpc::default()
    }
}

fn held_topics(h: &Harness, p: PeerId) -> usize {
    h.router
        .all_peers()
        .find(|(q, _)| **q == p)
        .map_or(0, |(_, t)| t.len())
}

/// A remote subscription to a topic longer than `max_topic_len` is ignored and counted, and
/// a peer's subscriptions are accounted in bytes.
#[test]
fn remote_topic_longer_than_max_topic_len_is_ignored() {
    let mut b = config();
    b.max_topic_len(16);
    let mut h = Harness::new(b.build().unwrap());
    let p = PeerId::random();
    h.router.add_peer(h.now, p, false);
    h.router.set_peer_kind(p, PeerKind::Gossipsubv1_2);
    h.router.handle_rpc(
        h.now,
        p,
        subscribe_rpc([
            TopicHash::from_raw("x".repeat(16)),
            TopicHash::from_raw("y".repeat(17)),
            TopicHash::from_raw("z".repeat(1 << 20)),
        ]),
    );
    assert_eq!(held_topics(&h, p), 1);
    assert_eq!(h.router.counters().subscriptions_topic_too_long, 2);
    assert_eq!(h.router.peer_subscription_bytes(&p), 16);
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            subscriptions: vec![Subscription {
                subscribe: false,
                topic: TopicHash::from_raw("x".repeat(16)),
            }],
            ..Rpc::default()
        },
    );
    assert_eq!(h.router.peer_subscription_bytes(&p), 0);
}

/// The default bound on a peer's topics is libp2p-gossipsub's 100.
#[test]
fn default_topics_per_peer_is_100() {
    let mut h = Harness::new(config().build().unwrap());
    let p = PeerId::random();
    h.router.add_peer(h.now, p, false);
    h.router.set_peer_kind(p, PeerKind::Gossipsubv1_2);
    h.router.handle_rpc(
        h.now,
        p,
        subscribe_rpc((0..1000).map(|i| TopicHash::from_raw(format!("t{i}")))),
    );
    assert_eq!(held_topics(&h, p), 100);
}
