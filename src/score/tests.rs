//! Unit tests of the score function, decay, retention, parameters and explain.
//! Time only moves by passing later instants.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use libp2p_identity::PeerId;

use super::*;
use crate::types::MessageId;

pub(super) fn topic() -> TopicHash {
    TopicHash::from_raw("topic")
}

pub(super) fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Topic parameters with every term disabled (weights 0) and weight 1.
pub(super) fn quiet_topic() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 0.0,
        first_message_deliveries_weight: 0.0,
        first_message_deliveries_decay: 0.5,
        first_message_deliveries_cap: 1000.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_message_deliveries_decay: 0.5,
        mesh_message_deliveries_cap: 1000.0,
        mesh_message_deliveries_threshold: 0.0,
        mesh_message_deliveries_window: Duration::from_millis(10),
        mesh_message_deliveries_activation: Duration::from_secs(5),
        mesh_failure_penalty_weight: 0.0,
        mesh_failure_penalty_decay: 0.5,
        invalid_message_deliveries_weight: 0.0,
        invalid_message_deliveries_decay: 0.5,
    }
}

/// Global parameters with every global term disabled and no topic cap, plus `topic`.
pub(super) fn quiet_params(topic_params: TopicScoreParams) -> PeerScoreParams {
    PeerScoreParams {
        topics: HashMap::from([(topic(), topic_params)]),
        topic_score_cap: 0.0,
        app_specific_weight: 0.0,
        ip_colocation_factor_weight: 0.0,
        ip_colocation_factor_threshold: 1.0,
        ip_colocation_factor_whitelist: HashSet::new(),
        behaviour_penalty_weight: 0.0,
        behaviour_penalty_threshold: 0.0,
        behaviour_penalty_decay: 0.5,
        slow_peer_weight: 0.0,
        slow_peer_threshold: 0.0,
        slow_peer_decay: 0.5,
        decay_interval: Duration::from_secs(1),
        decay_to_zero: 0.01,
        retain_score: Duration::from_secs(100),
    }
}

/// A score state with one connected peer.
pub(super) fn with_peer(params: PeerScoreParams, t0: Instant) -> (PeerScore, PeerId) {
    let mut score = PeerScore::new(params);
    let peer = PeerId::random();
    score.add_peer(peer, t0);
    (score, peer)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Delivers `n` distinct first messages from `peer`.
pub(super) fn deliver_n(score: &mut PeerScore, peer: &PeerId, n: usize, now: Instant) {
    for _ in 0..n {
        let id = MessageId::new(rand::random::<[u8; 16]>().to_vec());
        score.validate_message(peer, &id, &topic(), now);
        score.deliver_message(peer, &id, &topic(), now);
    }
}

#[test]
fn unknown_peer_scores_zero() {
    let score = PeerScore::new(PeerScoreParams::default());
    let now = Instant::now();
    assert_eq!(score.score(&PeerId::random(), now), 0.0);
    assert!(score.explain(&PeerId::random(), now).is_none());
}

#[test]
fn p1_grows_with_time_in_mesh_and_caps() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.time_in_mesh_weight = 2.0;
    tp.time_in_mesh_cap = 10.0;
    let (mut score, peer) = with_peer(quiet_params(tp), t0);
    score.graft(&peer, &topic(), t0);
    assert_eq!(score.score(&peer, t0), 0.0);
    // Whole quanta only.
    assert!(close(score.score(&peer, t0 + secs(3.5)), 6.0));
    assert!(close(score.score(&peer, t0 + secs(100.0)), 20.0));
    // A second graft does not restart the clock.
    score.graft(&peer, &topic(), t0 + secs(50.0));
    assert!(close(score.score(&peer, t0 + secs(100.0)), 20.0));
    score.prune(&peer, &topic(), t0 + secs(100.0));
    assert_eq!(score.score(&peer, t0 + secs(101.0)), 0.0);
}

#[test]
fn p2_counts_caps_and_decays() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.first_message_deliveries_weight = 1.0;
    tp.first_message_deliveries_cap = 3.0;
    tp.first_message_deliveries_decay = 0.5;
    let (mut score, peer) = with_peer(quiet_params(tp), t0);
    score.refresh(t0); // starts the decay clock
    deliver_n(&mut score, &peer, 2, t0);
    assert!(close(score.score(&peer, t0), 2.0));
    deliver_n(&mut score, &peer, 5, t0);
    assert!(close(score.score(&peer, t0), 3.0), "capped");
    score.refresh(t0 + secs(0.5));
    assert!(
        close(score.score(&peer, t0), 3.0),
        "no decay before the interval"
    );
    score.refresh(t0 + secs(1.0));
    assert!(close(score.score(&peer, t0), 1.5));
    // Two whole intervals at once decay twice.
    score.refresh(t0 + secs(3.2));
    assert!(close(score.score(&peer, t0), 0.375));
    // 0.375 * 0.5^5 = 0.0117 > 0.01, one more step falls below decay_to_zero.
    score.refresh(t0 + secs(8.0));
    assert!(close(score.score(&peer, t0), 0.375 / 32.0));
    score.refresh(t0 + secs(9.0));
    assert_eq!(score.score(&peer, t0), 0.0, "decayed to zero");
}

#[test]
fn p3b_added_on_prune_with_active_deficit() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.mesh_message_deliveries_weight = -1.0;
    tp.mesh_message_deliveries_threshold = 4.0;
    tp.mesh_message_deliveries_cap = 10.0;
    tp.mesh_failure_penalty_weight = -2.0;
    let (mut score, peer) = with_peer(quiet_params(tp.clone()), t0);
    let other = PeerId::random();
    score.add_peer(other, t0);

    // Pruned before activation: no sticky penalty.
    score.graft(&other, &topic(), t0);
    score.prune(&other, &topic(), t0 + secs(4.0));
    assert_eq!(score.score(&other, t0 + secs(4.0)), 0.0);

    score.graft(&peer, &topic(), t0);
    deliver_n(&mut score, &peer, 1, t0);
    let t = t0 + secs(6.0);
    // Active deficit 3: P3 = 9.
    assert!(close(score.score(&peer, t), -9.0));
    score.prune(&peer, &topic(), t);
    // Out of the mesh P3 stops; P3b = 9 with weight -2.
    assert!(close(score.score(&peer, t), -18.0));
    let b = score.explain(&peer, t).unwrap();
    assert_eq!(b.topics[0].mesh_failure_penalty.counter, 9.0);
    assert_eq!(b.topics[0].mesh_message_deliveries.contribution, 0.0);
    // P3b decays (0.5 per interval).
    score.refresh(t);
    score.refresh(t + secs(1.0));
    assert!(close(score.score(&peer, t), -9.0));
}

#[test]
fn p4_squared_and_decays() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.invalid_message_deliveries_weight = -1.0;
    tp.invalid_message_deliveries_decay = 0.5;
    let (mut score, peer) = with_peer(quiet_params(tp), t0);
    for i in 0..3u8 {
        let id = MessageId::new(vec![i]);
        score.validate_message(&peer, &id, &topic(), t0);
        score.reject_message(&peer, &id, &topic(), RejectReason::ValidationFailed, t0);
    }
    assert!(close(score.score(&peer, t0), -9.0));
    score.refresh(t0);
    score.refresh(t0 + secs(1.0));
    assert!(close(score.score(&peer, t0), -2.25));
}

#[test]
fn p5_application_score() {
    let t0 = Instant::now();
    let mut params = quiet_params(quiet_topic());
    params.app_specific_weight = 2.0;
    let (mut score, peer) = with_peer(params, t0);
    assert!(score.set_application_score(&peer, -3.0));
    assert!(close(score.score(&peer, t0), -6.0));
    assert!(!score.set_application_score(&peer, f64::NAN), "NaN refused");
    assert!(!score.set_application_score(&peer, f64::INFINITY));
    assert!(close(score.score(&peer, t0), -6.0));
    assert!(
        !score.set_application_score(&PeerId::random(), 1.0),
        "unknown peer"
    );
}

#[test]
fn p6_colocation_with_and_without_whitelist() {
    let t0 = Instant::now();
    let shared = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let own = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mut params = quiet_params(quiet_topic());
    params.ip_colocation_factor_weight = -1.0;
    params.ip_colocation_factor_threshold = 2.0;
    let mut score = PeerScore::new(params.clone());
    let peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
    for p in &peers {
        score.add_peer(*p, t0);
        score.add_ip(p, shared);
        score.add_ip(p, shared); // duplicates count once
    }
    score.add_ip(&peers[0], own);
    // 5 peers share the IP, threshold 2: surplus 3, P6 = 9.
    for p in &peers {
        assert!(close(score.score(p, t0), -9.0));
    }
    assert_eq!(
        score.explain(&peers[0], t0).unwrap().ip_colocation.counter,
        5.0
    );
    score.remove_ip(&peers[4], &shared);
    assert!(
        close(score.score(&peers[0], t0), -9.0),
        "one connection still open"
    );
    score.remove_ip(&peers[4], &shared);
    // 4 left: surplus 2.
    assert!(close(score.score(&peers[0], t0), -4.0));
    // A disconnected peer's retained (negative) record keeps its IP counted.
    score.remove_peer(&peers[3], t0);
    assert!(close(score.score(&peers[0], t0), -4.0));
    // Unknown peers are not indexed.
    score.add_ip(&PeerId::random(), shared);
    assert!(close(score.score(&peers[0], t0), -4.0));

    params.ip_colocation_factor_whitelist.insert(shared.into());
    let mut score = PeerScore::new(params);
    for p in &peers {
        score.add_peer(*p, t0);
        score.add_ip(p, shared);
    }
    for p in &peers {
        assert_eq!(score.score(p, t0), 0.0, "whitelisted IP is exempt");
    }
}

#[test]
fn p7_above_threshold_squared_and_decays() {
    let t0 = Instant::now();
    let mut params = quiet_params(quiet_topic());
    params.behaviour_penalty_weight = -1.0;
    params.behaviour_penalty_threshold = 2.0;
    params.behaviour_penalty_decay = 0.5;
    let (mut score, peer) = with_peer(params, t0);
    score.add_penalty(&peer, 2);
    assert_eq!(score.score(&peer, t0), 0.0, "at the threshold");
    score.add_penalty(&peer, 3);
    assert!(close(score.score(&peer, t0), -9.0));
    score.refresh(t0);
    score.refresh(t0 + secs(1.0));
    // 5 * 0.5 = 2.5, excess 0.5.
    assert!(close(score.score(&peer, t0), -0.25));
    score.add_penalty(&PeerId::random(), 10); // unknown: ignored
}

#[test]
fn topic_weight_and_cap() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.topic_weight = 0.5;
    tp.first_message_deliveries_weight = 2.0;
    let mut params = quiet_params(tp.clone());
    let other = TopicHash::from_raw("other");
    params.topics.insert(other.clone(), tp);
    params.app_specific_weight = 1.0;
    let (mut score, peer) = with_peer(params.clone(), t0);
    deliver_n(&mut score, &peer, 10, t0);
    // 10 deliveries * w2 2 * topic weight 0.5.
    assert!(close(score.score(&peer, t0), 10.0));

    params.topic_score_cap = 4.0;
    let (mut score, peer) = with_peer(params, t0);
    deliver_n(&mut score, &peer, 10, t0);
    score.set_application_score(&peer, 1.5);
    // The cap limits the topic sum only; P5 is added after it.
    assert!(close(score.score(&peer, t0), 5.5));
    // A negative topic sum is never raised by the cap.
    let id = MessageId::new(vec![1, 2, 3]);
    let mut s = score;
    s.set_topic_params(other.clone(), {
        let mut tp = quiet_topic();
        tp.invalid_message_deliveries_weight = -100.0;
        tp
    })
    .unwrap();
    s.reject_message(&peer, &id, &other, RejectReason::InvalidSignature, t0);
    // topic sum: 10 (first topic) - 100 = -90, below the cap; + 1.5.
    assert!(close(s.score(&peer, t0), -88.5));
}

#[test]
fn unscored_topics_do_not_contribute() {
    let t0 = Instant::now();
    let (mut score, peer) = with_peer(quiet_params(quiet_topic()), t0);
    let unscored = TopicHash::from_raw("unscored");
    score.graft(&peer, &unscored, t0);
    let id = MessageId::new(vec![9]);
    score.validate_message(&peer, &id, &unscored, t0);
    score.reject_message(&peer, &id, &unscored, RejectReason::ValidationFailed, t0);
    assert_eq!(score.score(&peer, t0 + secs(100.0)), 0.0);
    assert!(score.explain(&peer, t0).unwrap().topics.is_empty());
}

#[test]
fn negative_score_retained_across_reconnect_and_expires() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.invalid_message_deliveries_weight = -1.0;
    tp.first_message_deliveries_weight = 1.0;
    let mut params = quiet_params(tp);
    params.retain_score = Duration::from_secs(100);
    let (mut score, peer) = with_peer(params, t0);
    deliver_n(&mut score, &peer, 1, t0);
    let id = MessageId::new(vec![7]);
    score.reject_message(&peer, &id, &topic(), RejectReason::InvalidSignature, t0);
    score.reject_message(&peer, &id, &topic(), RejectReason::InvalidSignature, t0);
    // 1 first delivery, P4 = 4.
    assert!(close(score.score(&peer, t0), -3.0));
    score.remove_peer(&peer, t0);
    // Retained: P2 reset, P4 kept.
    assert!(close(score.score(&peer, t0), -4.0));
    assert!(!score.explain(&peer, t0).unwrap().connected);
    // Retained records do not decay.
    score.refresh(t0);
    score.refresh(t0 + secs(50.0));
    assert!(close(score.score(&peer, t0), -4.0));
    score.add_peer(peer, t0 + secs(50.0));
    assert!(
        close(score.score(&peer, t0), -4.0),
        "reconnecting keeps the score"
    );
    assert!(score.explain(&peer, t0).unwrap().connected);

    score.remove_peer(&peer, t0 + secs(60.0));
    score.refresh(t0 + secs(159.0));
    assert_eq!(score.tracked_peers(), 1);
    score.refresh(t0 + secs(160.0));
    assert_eq!(score.tracked_peers(), 0, "expired after retain_score");
    score.add_peer(peer, t0 + secs(161.0));
    assert_eq!(score.score(&peer, t0 + secs(161.0)), 0.0);
}

#[test]
fn retained_records_are_bounded_dropping_the_oldest() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.invalid_message_deliveries_weight = -1.0;
    let params = quiet_params(tp);
    let mut score = PeerScore::new(params);
    let peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
    for (i, peer) in peers.iter().enumerate() {
        let at = t0 + secs(i as f64);
        score.add_peer(*peer, at);
        let id = MessageId::new(vec![i as u8]);
        score.reject_message(peer, &id, &topic(), RejectReason::InvalidSignature, at);
        score.remove_peer(peer, at);
    }
    assert_eq!(score.tracked_peers(), MAX_RETAINED_PEERS);
    let now = t0 + secs(10.0);
    // The first to disconnect were dropped; the latest keep their negative score.
    assert_eq!(score.score(&peers[0], now), 0.0);
    assert_eq!(score.score(&peers[1], now), 0.0);
    assert!(score.score(&peers[4], now) < 0.0);
}

#[test]
fn positive_or_blank_records_are_not_retained() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.first_message_deliveries_weight = 1.0;
    let (mut score, peer) = with_peer(quiet_params(tp), t0);
    deliver_n(&mut score, &peer, 3, t0);
    score.remove_peer(&peer, t0);
    assert_eq!(score.tracked_peers(), 0, "positive score dropped");
    score.add_peer(peer, t0);
    score.remove_peer(&peer, t0);
    assert_eq!(score.tracked_peers(), 0, "blank record dropped");
}

#[test]
fn disconnect_applies_mesh_failure_penalty() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.mesh_message_deliveries_weight = -1.0;
    tp.mesh_message_deliveries_threshold = 2.0;
    tp.mesh_failure_penalty_weight = -1.0;
    let (mut score, peer) = with_peer(quiet_params(tp), t0);
    score.graft(&peer, &topic(), t0);
    let t = t0 + secs(10.0);
    assert!(close(score.score(&peer, t), -4.0));
    score.remove_peer(&peer, t);
    assert!(close(score.score(&peer, t), -4.0), "P3 became P3b");
    assert!(!score.explain(&peer, t).unwrap().topics[0].in_mesh);
}

#[test]
fn decay_to_zero_threshold() {
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.first_message_deliveries_weight = 1.0;
    tp.first_message_deliveries_decay = 0.1;
    let mut params = quiet_params(tp);
    params.decay_to_zero = 0.2;
    let (mut score, peer) = with_peer(params, t0);
    deliver_n(&mut score, &peer, 3, t0);
    score.refresh(t0);
    score.refresh(t0 + secs(1.0));
    assert!(close(score.score(&peer, t0), 0.3));
    score.refresh(t0 + secs(2.0));
    // 0.03 < 0.2: zero, and the idle topic entry is forgotten.
    assert_eq!(score.score(&peer, t0), 0.0);
    assert!(score.explain(&peer, t0).unwrap().topics.is_empty());
}

#[test]
fn score_parameter_decay_reaches_decay_to_zero() {
    let f = score_parameter_decay(Duration::from_secs(10), Duration::from_secs(1));
    assert!(f > 0.0 && f < 1.0);
    assert!((f.powi(10) - 0.01).abs() < 1e-12);
    let g =
        score_parameter_decay_with_base(Duration::from_secs(60), Duration::from_millis(700), 0.001);
    // 85 whole intervals.
    assert!((g.powi(85) - 0.001).abs() < 1e-12);
    // Degenerate inputs give a value, not a panic.
    assert!((score_parameter_decay(Duration::ZERO, Duration::from_secs(1)) - 0.01).abs() < 1e-12);
    assert!((score_parameter_decay(Duration::from_secs(1), Duration::ZERO) - 0.01).abs() < 1e-12);
    // A factor computed this way, applied by refresh, lands on decay_to_zero.
    let t0 = Instant::now();
    let mut tp = quiet_topic();
    tp.first_message_deliveries_weight = 1.0;
    tp.first_message_deliveries_decay = score_parameter_decay(secs(5.0), secs(1.0));
    let (mut score, peer) = with_peer(quiet_params(tp), t0);
    deliver_n(&mut score, &peer, 1, t0);
    score.refresh(t0);
    score.refresh(t0 + secs(4.0));
    assert!(score.score(&peer, t0) > 0.01);
    score.refresh(t0 + secs(5.0));
    let s = score.score(&peer, t0);
    assert!(s == 0.0 || (s - 0.01).abs() < 1e-9, "{s}");
}

#[test]
fn defaults_validate() {
    assert!(PeerScoreParams::default().validate().is_ok());
    assert!(TopicScoreParams::default().validate().is_ok());
    assert!(PeerScoreThresholds::default().validate().is_ok());
    let mut p = PeerScoreParams::default();
    p.topics.insert(topic(), TopicScoreParams::default());
    assert!(p.validate().is_ok());
}

#[test]
fn params_validation_names_the_field() {
    fn topic_err(f: impl FnOnce(&mut TopicScoreParams)) -> &'static str {
        let mut tp = TopicScoreParams::default();
        f(&mut tp);
        tp.validate().unwrap_err().field()
    }
    assert_eq!(topic_err(|p| p.topic_weight = -1.0), "topic_weight");
    assert_eq!(topic_err(|p| p.topic_weight = f64::NAN), "topic_weight");
    assert_eq!(
        topic_err(|p| p.time_in_mesh_weight = -1.0),
        "time_in_mesh_weight"
    );
    assert_eq!(
        topic_err(|p| p.time_in_mesh_quantum = Duration::ZERO),
        "time_in_mesh_quantum"
    );
    assert_eq!(topic_err(|p| p.time_in_mesh_cap = 0.0), "time_in_mesh_cap");
    assert_eq!(
        topic_err(|p| p.first_message_deliveries_weight = f64::INFINITY),
        "first_message_deliveries_weight"
    );
    assert_eq!(
        topic_err(|p| p.first_message_deliveries_decay = 1.0),
        "first_message_deliveries_decay"
    );
    assert_eq!(
        topic_err(|p| p.first_message_deliveries_cap = 0.0),
        "first_message_deliveries_cap"
    );
    assert_eq!(
        topic_err(|p| p.mesh_message_deliveries_weight = 1.0),
        "mesh_message_deliveries_weight"
    );
    assert_eq!(
        topic_err(|p| p.mesh_message_deliveries_decay = 0.0),
        "mesh_message_deliveries_decay"
    );
    assert_eq!(
        topic_err(|p| p.mesh_message_deliveries_threshold = 0.0),
        "mesh_message_deliveries_threshold"
    );
    assert_eq!(
        topic_err(|p| p.mesh_message_deliveries_cap = 10.0),
        "mesh_message_deliveries_cap"
    );
    assert_eq!(
        topic_err(|p| p.mesh_message_deliveries_window = Duration::ZERO),
        "mesh_message_deliveries_window"
    );
    assert_eq!(
        topic_err(|p| p.mesh_message_deliveries_activation = Duration::ZERO),
        "mesh_message_deliveries_activation"
    );
    assert_eq!(
        topic_err(|p| p.mesh_failure_penalty_weight = 0.5),
        "mesh_failure_penalty_weight"
    );
    assert_eq!(
        topic_err(|p| p.mesh_failure_penalty_decay = 2.0),
        "mesh_failure_penalty_decay"
    );
    assert_eq!(
        topic_err(|p| p.invalid_message_deliveries_weight = 1.0),
        "invalid_message_deliveries_weight"
    );
    assert_eq!(
        topic_err(|p| p.invalid_message_deliveries_decay = f64::NAN),
        "invalid_message_deliveries_decay"
    );
    // Disabled terms do not need decays and caps.
    let tp = TopicScoreParams {
        mesh_message_deliveries_weight: 0.0,
        mesh_message_deliveries_threshold: 0.0,
        mesh_message_deliveries_window: Duration::ZERO,
        ..TopicScoreParams::default()
    };
    assert!(tp.validate().is_ok());

    // In PeerScoreParams the topic is named.
    let mut p = PeerScoreParams::default();
    let bad = TopicScoreParams {
        first_message_deliveries_decay: -0.5,
        ..TopicScoreParams::default()
    };
    p.topics.insert(topic(), bad);
    match p.validate().unwrap_err() {
        ScoreParamsError::InvalidTopicField {
            topic: t, field, ..
        } => {
            assert_eq!(t, topic());
            assert_eq!(field, "first_message_deliveries_decay");
        }
        e => panic!("unexpected {e:?}"),
    }

    fn peer_err(f: impl FnOnce(&mut PeerScoreParams)) -> &'static str {
        let mut p = PeerScoreParams::default();
        f(&mut p);
        match p.validate().unwrap_err() {
            ScoreParamsError::InvalidField { field, .. } => field,
            e => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(peer_err(|p| p.topic_score_cap = -1.0), "topic_score_cap");
    assert_eq!(
        peer_err(|p| p.app_specific_weight = f64::NAN),
        "app_specific_weight"
    );
    assert_eq!(
        peer_err(|p| p.ip_colocation_factor_weight = 1.0),
        "ip_colocation_factor_weight"
    );
    assert_eq!(
        peer_err(|p| p.ip_colocation_factor_threshold = 0.5),
        "ip_colocation_factor_threshold"
    );
    assert_eq!(
        peer_err(|p| p.behaviour_penalty_weight = 1.0),
        "behaviour_penalty_weight"
    );
    assert_eq!(
        peer_err(|p| p.behaviour_penalty_threshold = -1.0),
        "behaviour_penalty_threshold"
    );
    assert_eq!(
        peer_err(|p| p.behaviour_penalty_decay = 1.0),
        "behaviour_penalty_decay"
    );
    assert_eq!(
        peer_err(|p| p.decay_interval = Duration::from_millis(999)),
        "decay_interval"
    );
    assert_eq!(peer_err(|p| p.decay_to_zero = 0.0), "decay_to_zero");
    assert_eq!(peer_err(|p| p.decay_to_zero = f64::NAN), "decay_to_zero");
    let msg = PeerScoreParams {
        decay_to_zero: 1.5,
        ..PeerScoreParams::default()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(msg.contains("decay_to_zero"), "{msg}");
}

#[test]
fn thresholds_validation_names_the_field() {
    fn err(f: impl FnOnce(&mut PeerScoreThresholds)) -> &'static str {
        let mut t = PeerScoreThresholds::default();
        f(&mut t);
        match t.validate().unwrap_err() {
            ScoreParamsError::InvalidThreshold { field, .. } => field,
            e => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(err(|t| t.gossip_threshold = 1.0), "gossip_threshold");
    assert_eq!(err(|t| t.gossip_threshold = f64::NAN), "gossip_threshold");
    assert_eq!(err(|t| t.publish_threshold = -5.0), "publish_threshold");
    assert_eq!(err(|t| t.graylist_threshold = -20.0), "graylist_threshold");
    assert_eq!(
        err(|t| t.graylist_threshold = f64::NEG_INFINITY),
        "graylist_threshold"
    );
    assert_eq!(err(|t| t.accept_px_threshold = -1.0), "accept_px_threshold");
    assert_eq!(
        err(|t| t.opportunistic_graft_threshold = -0.1),
        "opportunistic_graft_threshold"
    );
    // Equal thresholds are allowed (go's rule).
    let t = PeerScoreThresholds {
        gossip_threshold: 0.0,
        publish_threshold: 0.0,
        graylist_threshold: 0.0,
        accept_px_threshold: 0.0,
        opportunistic_graft_threshold: 0.0,
    };
    assert!(t.validate().is_ok());
}

#[test]
fn set_topic_params_at_run_time() {
    let t0 = Instant::now();
    let (mut score, peer) = with_peer(quiet_params(quiet_topic()), t0);
    let new_topic = TopicHash::from_raw("new");
    // Grafted before the topic was scored: P1 counts from the graft once scored.
    score.graft(&peer, &new_topic, t0);
    let mut tp = quiet_topic();
    tp.time_in_mesh_weight = 1.0;
    tp.time_in_mesh_cap = 100.0;
    tp.first_message_deliveries_weight = 1.0;
    tp.first_message_deliveries_cap = 50.0;
    score
        .set_topic_params(new_topic.clone(), tp.clone())
        .unwrap();
    assert!(close(score.score(&peer, t0 + secs(5.0)), 5.0));

    // Counters are kept and clamped to a lower cap.
    for i in 0..20u8 {
        let id = MessageId::new(vec![i, 42]);
        score.validate_message(&peer, &id, &new_topic, t0);
        score.deliver_message(&peer, &id, &new_topic, t0);
    }
    assert!(close(score.score(&peer, t0 + secs(5.0)), 25.0));
    tp.first_message_deliveries_cap = 10.0;
    score
        .set_topic_params(new_topic.clone(), tp.clone())
        .unwrap();
    assert!(close(score.score(&peer, t0 + secs(5.0)), 15.0));

    tp.first_message_deliveries_decay = 1.0;
    match score.set_topic_params(new_topic.clone(), tp) {
        Err(ScoreParamsError::InvalidTopicField { topic, field, .. }) => {
            assert_eq!(topic, new_topic);
            assert_eq!(field, "first_message_deliveries_decay");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        close(score.score(&peer, t0 + secs(5.0)), 15.0),
        "rejected params not applied"
    );
    assert_eq!(
        score.params().topics[&new_topic].first_message_deliveries_decay,
        0.5
    );
}

#[test]
fn explain_contributions_sum_to_score() {
    let t0 = Instant::now();
    let tp = TopicScoreParams {
        time_in_mesh_quantum: Duration::from_secs(1),
        ..TopicScoreParams::default()
    };
    let mut params = PeerScoreParams::default();
    params.topics.insert(topic(), tp.clone());
    params.topics.insert(TopicHash::from_raw("second"), tp);
    params.topic_score_cap = 5.0;
    params.ip_colocation_factor_threshold = 1.0;
    let (mut score, peer) = with_peer(params, t0);
    let other = PeerId::random();
    score.add_peer(other, t0);
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    score.add_ip(&peer, ip);
    score.add_ip(&other, ip);
    score.graft(&peer, &topic(), t0);
    deliver_n(&mut score, &peer, 4, t0);
    let id = MessageId::new(vec![1]);
    score.reject_message(
        &peer,
        &id,
        &TopicHash::from_raw("second"),
        RejectReason::InvalidSignature,
        t0,
    );
    score.add_penalty(&peer, 2);
    score.set_application_score(&peer, 0.7);

    for t in [t0, t0 + secs(3.0), t0 + secs(7.0)] {
        let b = score.explain(&peer, t).unwrap();
        assert_eq!(b.score, score.score(&peer, t));
        let topics: f64 = b.topics.iter().map(|x| x.total).sum();
        assert!(close(topics, b.topic_total_before_cap));
        for x in &b.topics {
            let sum = x.time_in_mesh.contribution
                + x.first_message_deliveries.contribution
                + x.mesh_message_deliveries.contribution
                + x.mesh_failure_penalty.contribution
                + x.invalid_message_deliveries.contribution;
            assert!(close(sum * x.topic_weight, x.total));
        }
        let total = b.topic_total
            + b.application.contribution
            + b.ip_colocation.contribution
            + b.behaviour_penalty.contribution;
        assert!(close(total, b.score), "{b}");
        assert!(b.topic_total <= 5.0);
    }
    let b = score.explain(&peer, t0 + secs(7.0)).unwrap();
    assert_eq!(b.topics.len(), 2);
    assert_eq!(b.topics[1].topic, topic(), "topics in order");
    assert!(b.topics[1].in_mesh);
    assert_eq!(b.topics[1].time_in_mesh.counter, 7.0);
    assert_eq!(b.ip_colocation.counter, 2.0);
    assert!(close(b.ip_colocation.contribution, -5.0));
    assert!(close(b.behaviour_penalty.contribution, -40.0));
    assert!(close(b.application.contribution, 7.0));
    let text = b.to_string();
    for needle in [
        "score ",
        "P1  time in mesh",
        "P3b mesh failure penalty",
        "P4  invalid messages",
        "P6  ip colocation",
        "P7  behaviour penalty",
        "cap 5",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn out_of_order_instants_do_not_panic() {
    let t0 = Instant::now();
    let later = t0 + secs(100.0);
    let (mut score, peer) = with_peer(quiet_params(TopicScoreParams::default()), later);
    score.graft(&peer, &topic(), later);
    score.refresh(later);
    score.refresh(t0);
    assert!(score.score(&peer, t0).is_finite());
    score.prune(&peer, &topic(), t0);
    let mut params = quiet_params(quiet_topic());
    params.retain_score = Duration::MAX;
    params.decay_interval = Duration::ZERO;
    let (mut score, peer) = with_peer(params, t0);
    score.add_penalty(&peer, usize::MAX);
    score.remove_peer(&peer, t0);
    score.refresh(t0);
    score.refresh(t0 + secs(1.0));
    assert_eq!(score.tracked_peers(), 1);
}
