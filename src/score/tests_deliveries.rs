//! Unit tests of delivery tracking: `P3` near-first deliveries and `P4` for duplicates.

use std::time::{Duration, Instant};

use libp2p_identity::PeerId;

use super::deliveries::DELIVERY_RECORD_TTL;
use super::tests::{deliver_n, quiet_params, quiet_topic, secs, topic, with_peer};
use super::*;
use crate::types::MessageId;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// P3 only (threshold 3, weight -1, window 10 ms, activation 5 s).
fn p3_params() -> PeerScoreParams {
    let mut tp = quiet_topic();
    tp.mesh_message_deliveries_weight = -1.0;
    tp.mesh_message_deliveries_threshold = 3.0;
    tp.mesh_message_deliveries_cap = 5.0;
    tp.mesh_message_deliveries_window = Duration::from_millis(10);
    tp.mesh_message_deliveries_activation = Duration::from_secs(5);
    quiet_params(tp)
}

fn id(n: u8) -> MessageId {
    MessageId::new(vec![n])
}

#[test]
fn p3_zero_before_activation_then_deficit_squared() {
    let t0 = Instant::now();
    let (mut score, peer) = with_peer(p3_params(), t0);
    score.graft(&peer, &topic(), t0);
    assert_eq!(score.score(&peer, t0 + secs(4.9)), 0.0);
    assert!(close(score.score(&peer, t0 + secs(5.0)), -9.0));
    deliver_n(&mut score, &peer, 1, t0 + secs(5.0));
    assert!(close(score.score(&peer, t0 + secs(6.0)), -4.0));
    deliver_n(&mut score, &peer, 10, t0 + secs(6.0));
    assert_eq!(
        score.score(&peer, t0 + secs(6.0)),
        0.0,
        "at or above threshold"
    );
    let b = score.explain(&peer, t0 + secs(6.0)).unwrap();
    assert_eq!(b.topics[0].mesh_message_deliveries.counter, 5.0, "capped");
    // Decay brings the deficit back: 5 -> 2.5.
    score.refresh(t0 + secs(6.0));
    score.refresh(t0 + secs(7.0));
    assert!(close(score.score(&peer, t0 + secs(7.0)), -0.25));
}

#[test]
fn p3_counts_only_in_mesh() {
    let t0 = Instant::now();
    let (mut score, peer) = with_peer(p3_params(), t0);
    deliver_n(&mut score, &peer, 2, t0);
    score.graft(&peer, &topic(), t0);
    let b = score.explain(&peer, t0).unwrap();
    assert_eq!(b.topics[0].mesh_message_deliveries.counter, 0.0);
}

#[test]
fn near_first_deliveries_within_window_count() {
    let t0 = Instant::now();
    let (mut score, first) = with_peer(p3_params(), t0);
    let pending = PeerId::random();
    let fast = PeerId::random();
    let slow = PeerId::random();
    for p in [pending, fast, slow] {
        score.add_peer(p, t0);
    }
    for p in [first, pending, fast, slow] {
        score.graft(&p, &topic(), t0);
    }
    let m = id(1);
    score.validate_message(&first, &m, &topic(), t0);
    // Duplicate while validation is pending: credited on acceptance.
    score.duplicated_message(&pending, &m, &topic(), t0 + secs(0.001));
    let validated = t0 + secs(0.002);
    score.deliver_message(&first, &m, &topic(), validated);
    // Within the window after validation.
    score.duplicated_message(&fast, &m, &topic(), validated + Duration::from_millis(10));
    // Too late.
    score.duplicated_message(&slow, &m, &topic(), validated + Duration::from_millis(11));
    // The first deliverer echoing it, and a repeat, are not counted again.
    score.duplicated_message(&first, &m, &topic(), validated);
    score.duplicated_message(&fast, &m, &topic(), validated);

    let t = t0 + secs(6.0);
    let counter = |score: &PeerScore, p: &PeerId| {
        score.explain(p, t).unwrap().topics[0]
            .mesh_message_deliveries
            .counter
    };
    assert_eq!(counter(&score, &first), 1.0);
    assert_eq!(counter(&score, &pending), 1.0);
    assert_eq!(counter(&score, &fast), 1.0);
    assert_eq!(counter(&score, &slow), 0.0);
    // P2 only for the first deliverer.
    let p2 = |p: &PeerId| {
        score.explain(p, t).unwrap().topics[0]
            .first_message_deliveries
            .counter
    };
    assert_eq!(p2(&first), 1.0);
    assert_eq!(p2(&pending), 0.0);
    // A second acceptance of the same message is ignored.
    score.deliver_message(&first, &m, &topic(), validated);
    assert_eq!(counter(&score, &first), 1.0);
}

#[test]
fn rejection_penalises_sender_and_pending_deliverers() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.invalid_message_deliveries_weight = -1.0;
    let (mut score, sender) = with_peer(quiet_params(tp), t0);
    let pending = PeerId::random();
    let later = PeerId::random();
    let bystander = PeerId::random();
    for p in [pending, later, bystander] {
        score.add_peer(p, t0);
    }
    let m = id(2);
    score.validate_message(&sender, &m, &topic(), t0);
    score.duplicated_message(&pending, &m, &topic(), t0);
    score.duplicated_message(&pending, &m, &topic(), t0);
    score.reject_message(&sender, &m, &topic(), RejectReason::ValidationFailed, t0);
    assert!(close(score.score(&sender, t0), -1.0));
    assert!(close(score.score(&pending, t0), -1.0), "counted once");
    // A duplicate after the rejection is penalised too, once.
    score.duplicated_message(&later, &m, &topic(), t0 + secs(1.0));
    score.duplicated_message(&later, &m, &topic(), t0 + secs(1.0));
    assert!(close(score.score(&later, t0), -1.0));
    // A second rejection does not penalise again.
    score.reject_message(&sender, &m, &topic(), RejectReason::ValidationFailed, t0);
    assert!(close(score.score(&sender, t0), -1.0));
    // A second invalid message: P4 = 2^2.
    let m2 = id(3);
    score.validate_message(&sender, &m2, &topic(), t0);
    score.reject_message(&sender, &m2, &topic(), RejectReason::ValidationFailed, t0);
    assert!(close(score.score(&sender, t0), -4.0));
    assert_eq!(score.score(&bystander, t0), 0.0);
}

#[test]
fn invalid_signature_penalises_only_the_sender() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.invalid_message_deliveries_weight = -1.0;
    let (mut score, sender) = with_peer(quiet_params(tp), t0);
    let other = PeerId::random();
    score.add_peer(other, t0);
    let m = id(4);
    score.validate_message(&other, &m, &topic(), t0);
    score.reject_message(&sender, &m, &topic(), RejectReason::InvalidSignature, t0);
    assert!(close(score.score(&sender, t0), -1.0));
    assert_eq!(score.score(&other, t0), 0.0);
    // Not tracked by id: the pending message can still be accepted.
    score.deliver_message(&other, &m, &topic(), t0);
    assert_eq!(score.score(&other, t0), 0.0);
}

#[test]
fn ignored_and_throttled_messages_cost_nothing() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.invalid_message_deliveries_weight = -1.0;
    tp.first_message_deliveries_weight = 1.0;
    let (mut score, sender) = with_peer(quiet_params(tp), t0);
    let dup = PeerId::random();
    score.add_peer(dup, t0);
    for (n, reason) in [(5, RejectReason::Ignored), (7, RejectReason::Blacklisted)] {
        let m = id(n);
        score.validate_message(&sender, &m, &topic(), t0);
        score.duplicated_message(&dup, &m, &topic(), t0);
        score.reject_message(&sender, &m, &topic(), reason, t0);
        score.duplicated_message(&dup, &m, &topic(), t0);
    }
    assert_eq!(score.score(&sender, t0), 0.0);
    assert_eq!(score.score(&dup, t0), 0.0);
}

#[test]
fn duplicates_of_unknown_messages_are_ignored() {
    let t0 = Instant::now();
    let (mut score, peer) = with_peer(p3_params(), t0);
    score.graft(&peer, &topic(), t0);
    score.duplicated_message(&peer, &id(8), &topic(), t0);
    assert_eq!(score.tracked_deliveries(), 0);
}

#[test]
fn delivery_records_expire_after_ttl() {
    let t0 = Instant::now();
    let (mut score, peer) = with_peer(p3_params(), t0);
    score.graft(&peer, &topic(), t0);
    let other = PeerId::random();
    score.add_peer(other, t0);
    score.graft(&other, &topic(), t0);
    let m = id(9);
    score.validate_message(&peer, &m, &topic(), t0);
    score.deliver_message(&peer, &m, &topic(), t0);
    score.validate_message(&peer, &id(10), &topic(), t0 + secs(1.0));
    assert_eq!(score.tracked_deliveries(), 2);
    score.refresh(t0 + DELIVERY_RECORD_TTL - secs(0.5));
    assert_eq!(score.tracked_deliveries(), 2);
    score.refresh(t0 + DELIVERY_RECORD_TTL);
    assert_eq!(score.tracked_deliveries(), 1);
    score.refresh(t0 + DELIVERY_RECORD_TTL + secs(1.0));
    assert_eq!(score.tracked_deliveries(), 0);
    // A duplicate of an expired message earns nothing.
    score.duplicated_message(&other, &m, &topic(), t0 + DELIVERY_RECORD_TTL + secs(1.0));
    let b = score.explain(&other, t0).unwrap();
    assert_eq!(b.topics[0].mesh_message_deliveries.counter, 0.0);
}

#[test]
fn messages_from_disconnected_peers_do_not_score() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.invalid_message_deliveries_weight = -1.0;
    let (mut score, peer) = with_peer(quiet_params(tp), t0);
    score.add_penalty(&peer, 1);
    score.remove_peer(&peer, t0);
    let m = id(11);
    score.validate_message(&peer, &m, &topic(), t0);
    score.reject_message(&peer, &m, &topic(), RejectReason::ValidationFailed, t0);
    assert_eq!(score.score(&peer, t0), 0.0);
    score.graft(&peer, &topic(), t0);
    assert!(score.explain(&peer, t0).unwrap().topics.is_empty());
}
