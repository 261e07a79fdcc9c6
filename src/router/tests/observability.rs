//! What the router counts for operators: IWANT outcomes, GRAFTs in backoff, and mesh changes
//! by reason (read by the metrics module).

use super::*;
use crate::router::{MeshChurn, MeshInclusion};

/// Each IWANT id is counted under exactly one outcome: served, unknown (not cached), not
/// allowed (over `gossip_retransmission`), skipped (over `max_ihave_length`), or unwanted.
#[test]
fn iwant_outcomes_are_counted_apart() {
    let mut b = config();
    b.max_ihave_length(3);
    let (mut h, topic, p) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    h.drain();
    let id = h.router.publish(h.now, topic.clone(), vec![5u8]).unwrap();
    h.drain();
    let retransmissions = h.router.config().gossip_retransmission() as u64;
    for _ in 0..retransmissions + 1 {
        h.router.handle_rpc(
            h.now,
            p,
            control_rpc(ControlAction::IWant {
                message_ids: vec![id.clone()],
            }),
        );
    }
    // Five ids, the cap is three: two skipped; of the three examined, two unknown and one
    // (ours, already sent `gossip_retransmission` times) not allowed.
    let unknown = |i: u8| MessageId::new(vec![0xee, i]);
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::IWant {
            message_ids: vec![unknown(1), unknown(2), id.clone(), unknown(3), unknown(4)],
        }),
    );
    h.drain();
    let c = *h.router.counters();
    assert_eq!(c.iwant_served, retransmissions);
    assert_eq!(c.iwant_over_cap, 2);
    assert_eq!(c.iwant_unknown, 2);
    assert_eq!(c.iwant_not_allowed, 2);
    assert_eq!(
        c.iwant_not_served,
        c.iwant_over_cap + c.iwant_unknown + c.iwant_not_allowed
    );
}

/// Joining, a disconnect, a PRUNE and leaving are each counted under their reason.
#[test]
fn mesh_changes_are_counted_by_reason() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let peers = h.add_peers(4, &topic, true);
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.drain();
    h.router.remove_peer(&peers[0]);
    h.router.handle_rpc(
        h.now,
        peers[1],
        control_rpc(ControlAction::Prune {
            topic: topic.clone(),
            peers: Vec::new(),
            backoff: None,
        }),
    );
    h.router.unsubscribe(h.now, &topic);
    h.drain();
    let stats = h
        .router
        .mesh_stats()
        .find(|(t, _)| **t == topic)
        .map(|(_, s)| *s)
        .expect("stats of a joined topic");
    assert_eq!(stats.inclusions(MeshInclusion::Subscribed), 4);
    assert_eq!(stats.churn(MeshChurn::Disconnected), 1);
    assert_eq!(stats.churn(MeshChurn::PruneReceived), 1);
    assert_eq!(stats.churn(MeshChurn::Unsubscribed), 2);
    // Kept after leaving: the counts are cumulative.
    assert_eq!(h.router.mesh_stats().count(), 1);
}

/// A GRAFT during backoff is counted (and penalised with scoring).
#[test]
fn grafts_in_backoff_are_counted() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let p = h.add_peers(1, &topic, false)[0];
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.drain();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::Prune {
            topic: topic.clone(),
            peers: Vec::new(),
            backoff: None,
        }),
    );
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::Graft {
            topic: topic.clone(),
        }),
    );
    h.drain();
    assert_eq!(h.router.counters().grafts_in_backoff, 1);
}
