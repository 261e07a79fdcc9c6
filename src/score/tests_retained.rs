//! Tests of retained records (peers that disconnected with a non-positive score): the cap
//! evicts the least negative first, and retained records keep their IPs counted for `P6`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use libp2p_identity::PeerId;

use super::tests::{quiet_params, quiet_topic, secs};
use super::*;

/// A peer that connected at `at`, was given application score `p5` and disconnected.
fn retain(score: &mut PeerScore, p5: f64, at: Instant) -> PeerId {
    let peer = PeerId::random();
    score.add_peer(peer, at);
    assert!(score.set_application_score(&peer, p5));
    score.remove_peer(&peer, at);
    peer
}

/// With the cap reached, churn of barely negative peers never evicts a strongly negative
/// retained record: the least negative records go first.
#[test]
fn strongly_negative_record_survives_churn_at_the_cap() {
    let t0 = Instant::now();
    let mut params = quiet_params(quiet_topic());
    params.app_specific_weight = 1.0;
    let mut score = PeerScore::new(params);
    let bad = retain(&mut score, -1000.0, t0);
    for i in 0..(MAX_RETAINED_PEERS * 10) {
        retain(&mut score, -0.001, t0 + secs(1.0 + i as f64));
    }
    assert_eq!(score.tracked_peers(), MAX_RETAINED_PEERS);
    let now = t0 + secs(100.0);
    assert_eq!(
        score.score(&bad, now),
        -1000.0,
        "strongly negative record kept"
    );
    assert_eq!(score.retained_len(), MAX_RETAINED_PEERS);
}

/// Records with equal scores are evicted in expiry order, and expired ones leave the index.
#[test]
fn retained_index_follows_expiry() {
    let t0 = Instant::now();
    let mut params = quiet_params(quiet_topic());
    params.app_specific_weight = 1.0;
    params.retain_score = secs(10.0);
    let mut score = PeerScore::new(params);
    let peers: Vec<PeerId> = (0..3)
        .map(|i| retain(&mut score, -1.0, t0 + secs(i as f64)))
        .collect();
    score.refresh(t0 + secs(10.0));
    assert_eq!(score.retained_len(), 2, "the first expired");
    assert_eq!(score.score(&peers[0], t0 + secs(10.0)), 0.0);
    // Reconnecting takes a record out of the retained index.
    score.add_peer(peers[1], t0 + secs(10.0));
    assert_eq!(score.retained_len(), 1);
    score.refresh(t0 + secs(100.0));
    assert_eq!(score.retained_len(), 0);
    assert_eq!(score.tracked_peers(), 1, "the reconnected peer stays");
}

/// Sybils on one IP cannot lower the others' `P6` by disconnecting: a retained record keeps
/// its IPs counted until it expires.
#[test]
fn retained_records_keep_their_ips_for_p6() {
    let t0 = Instant::now();
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let mut params = quiet_params(quiet_topic());
    params.ip_colocation_factor_weight = -1.0;
    params.ip_colocation_factor_threshold = 1.0;
    params.retain_score = secs(10.0);
    let mut score = PeerScore::new(params);
    let peers: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
    for p in &peers {
        score.add_peer(*p, t0);
        score.add_ip(p, ip);
    }
    // 4 on the IP, threshold 1: surplus 3, P6 = 9.
    assert_eq!(score.score(&peers[0], t0), -9.0);
    for p in &peers[1..] {
        score.remove_peer(p, t0);
    }
    assert_eq!(
        score.score(&peers[0], t0),
        -9.0,
        "retained sybils still count"
    );
    score.refresh(t0 + secs(10.0));
    assert_eq!(score.score(&peers[0], t0 + secs(10.0)), 0.0, "expired");
    assert_eq!(score.retained_len(), 0);
}

/// The `P6` whitelist takes CIDR ranges.
#[test]
fn p6_whitelist_takes_cidr_ranges() {
    let t0 = Instant::now();
    let mut params = quiet_params(quiet_topic());
    params.ip_colocation_factor_weight = -1.0;
    params.ip_colocation_factor_threshold = 1.0;
    params
        .ip_colocation_factor_whitelist
        .insert("10.1.0.0/16".parse().unwrap());
    params
        .ip_colocation_factor_whitelist
        .insert("fd00::/8".parse().unwrap());
    let mut score = PeerScore::new(params);
    let inside = IpAddr::V4(Ipv4Addr::new(10, 1, 200, 3));
    let inside6: IpAddr = "fd12::1".parse().unwrap();
    let outside = IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1));
    let peers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
    for p in &peers {
        score.add_peer(*p, t0);
        score.add_ip(p, inside);
        score.add_ip(p, inside6);
    }
    assert_eq!(score.score(&peers[0], t0), 0.0, "whitelisted ranges exempt");
    for p in &peers {
        score.add_ip(p, outside);
    }
    assert_eq!(score.score(&peers[0], t0), -4.0);
}

/// An IP counts for a peer until every connection of the peer from it has closed: a sybil
/// cannot leave the colocation count by closing one of two connections from the same IP.
#[test]
fn ip_counts_until_its_last_connection_closes() {
    let t0 = Instant::now();
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let mut params = quiet_params(quiet_topic());
    params.ip_colocation_factor_weight = -1.0;
    params.ip_colocation_factor_threshold = 1.0;
    let mut score = PeerScore::new(params);
    let (a, b) = (PeerId::random(), PeerId::random());
    score.add_peer(a, t0);
    score.add_peer(b, t0);
    score.add_ip(&a, ip);
    score.add_ip(&b, ip);
    score.add_ip(&b, ip);
    assert_eq!(score.score(&a, t0), -1.0);
    score.remove_ip(&b, &ip);
    assert_eq!(
        score.score(&a, t0),
        -1.0,
        "b still has a connection from the IP"
    );
    score.remove_ip(&b, &ip);
    assert_eq!(score.score(&a, t0), 0.0);
}

/// A penalty applied to a retained record moves it in the eviction order: it is then kept
/// before the barely negative ones.
#[test]
fn penalty_on_a_retained_record_updates_its_eviction_rank() {
    let t0 = Instant::now();
    let mut params = quiet_params(quiet_topic());
    params.app_specific_weight = 1.0;
    params.behaviour_penalty_weight = -1.0;
    let mut score = PeerScore::new(params);
    let late = retain(&mut score, -0.001, t0);
    score.add_penalty(&late, 100);
    for i in 0..(MAX_RETAINED_PEERS * 3) {
        retain(&mut score, -0.01, t0 + secs(1.0 + i as f64));
    }
    assert!(score.score(&late, t0 + secs(50.0)) < -1000.0, "kept");
}

/// A peer that reconnects from a new IP no longer counts on its old one.
#[test]
fn reconnect_replaces_the_retained_ips() {
    let t0 = Instant::now();
    let old = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let mut params = quiet_params(quiet_topic());
    params.ip_colocation_factor_weight = -1.0;
    params.ip_colocation_factor_threshold = 1.0;
    let mut score = PeerScore::new(params);
    let (a, b) = (PeerId::random(), PeerId::random());
    for p in [a, b] {
        score.add_peer(p, t0);
        score.add_ip(&p, old);
    }
    score.remove_peer(&b, t0);
    assert_eq!(score.score(&a, t0), -1.0, "retained b still counts");
    score.add_peer(b, t0);
    score.add_ip(&b, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    assert_eq!(score.score(&a, t0), 0.0, "b moved away");
}
