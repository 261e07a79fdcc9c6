//! Per-peer fairness for valid unsigned messages: one peer flooding new messages on a
//! subscribed topic must not crowd other peers' messages out of the message cache (where
//! they wait for validation and from where they are forwarded).

use super::*;

/// Peer `a` floods 200 new, valid, unsigned messages of 1000 bytes in the heartbeat in which
/// peer `b` sends one. The message cache (64 KiB) holds about 60 such messages: without a
/// per-peer budget the flood evicts `b`'s message before the application validates it, and
/// it is never forwarded.
#[test]
fn a_flooding_peer_does_not_evict_other_peers_messages_awaiting_validation() {
    let mut b = config();
    b.validate_messages(true)
        .flood_publish(false)
        .max_cache_bytes(64 << 10)
        // 16 of the flood's messages: each is charged its encoded size (1059 bytes) plus the
        // cache's per-entry overhead (640).
        .max_message_bytes_per_peer_per_heartbeat(28 << 10);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(3, &topic, false);
    h.heartbeat();
    let (a, b_peer, c) = (peers[0], peers[1], peers[2]);
    let honest = message(PeerId::random(), 1, &topic, 1000);
    let honest_id = id_of(&h, &honest);
    h.router.handle_rpc(h.now, b_peer, msg_rpc(honest));
    let author = PeerId::random();
    let mut last = None;
    for chunk in 0..4u64 {
        let flood: Vec<RawMessage> = (0..50u64)
            .map(|i| {
                let mut m = message(author, 10 + chunk * 50 + i, &topic, 1000);
                m.data = Bytes::from((10 + chunk * 50 + i).to_be_bytes().repeat(125));
                m
            })
            .collect();
        last = flood.last().cloned();
        h.router.handle_rpc(
            h.now,
            a,
            Rpc {
                messages: flood,
                ..Rpc::default()
            },
        );
    }
    h.drain();
    assert!(
        h.router
            .report_validation(h.now, &honest_id, &b_peer, MessageAcceptance::Accept)
    );
    let sends = message_sends(&h.drain(), &honest_id);
    assert!(sends.iter().any(|(p, _)| *p == c), "{sends:?}");
    // The flood was held to the budget (16 messages), counted, not marked seen: the same
    // messages from another peer are taken.
    assert_eq!(h.router.counters().messages_over_peer_budget, 200 - 16);
    let last = last.unwrap();
    h.router.handle_rpc(h.now, c, msg_rpc(last.clone()));
    assert_eq!(delivered(&h.drain()), vec![id_of(&h, &last)]);
    // The budget is per heartbeat: the next one takes `a`'s messages again.
    h.heartbeat();
    let next = message(author, 1000, &topic, 1000);
    h.router.handle_rpc(h.now, a, msg_rpc(next.clone()));
    assert_eq!(delivered(&h.drain()), vec![id_of(&h, &next)]);
}

/// One message larger than the whole budget still gets through (the first of a heartbeat).
#[test]
fn the_first_message_of_a_heartbeat_always_fits_the_budget() {
    let mut b = config();
    b.max_message_bytes_per_peer_per_heartbeat(100);
    let (mut h, topic, p) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    let big = message(PeerId::random(), 1, &topic, 5000);
    h.router.handle_rpc(h.now, p, msg_rpc(big.clone()));
    assert_eq!(delivered(&h.drain()), vec![id_of(&h, &big)]);
    let second = message(PeerId::random(), 2, &topic, 10);
    h.router.handle_rpc(h.now, p, msg_rpc(second));
    assert!(delivered(&h.drain()).is_empty());
    assert_eq!(h.router.counters().messages_over_peer_budget, 1);
}
