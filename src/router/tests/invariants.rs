//! Randomised (seeded, reproducible) checks of the mesh rules over arbitrary sequences of
//! remote and local input: we never GRAFT a direct peer or a peer in backoff, meshes stay
//! bounded after a heartbeat, one input never answers a peer with two PRUNEs for a topic, and
//! the backoff table stays within its bound.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::score::{PeerScoreParams, PeerScoreThresholds};

/// A random valid mesh configuration (sometimes the bootstrapper one).
fn random_config(rng: &mut StdRng, direct: &[PeerId]) -> Config {
    let mut b = config();
    if rng.gen_bool(0.1) {
        b.mesh_n(0)
            .mesh_n_low(0)
            .mesh_n_high(0)
            .mesh_outbound_min(0)
            .retain_scores(0);
    } else {
        let d = rng.gen_range(1..10);
        let d_lo = rng.gen_range(1..=d);
        let d_hi = rng.gen_range(d..d + 8);
        let d_out = rng.gen_range(0..=(d / 2).min(d_lo - 1));
        b.mesh_n(d)
            .mesh_n_low(d_lo)
            .mesh_n_high(d_hi)
            .mesh_outbound_min(d_out)
            .retain_scores(rng.gen_range(0..=d_hi));
    }
    b.do_px(rng.gen_bool(0.5))
        .backoff_slack(rng.gen_range(0..3))
        .flood_publish(rng.gen_bool(0.5))
        .max_retained_backoffs(rng.gen_range(0..20))
        .direct_peers(direct.iter().copied());
    b.build().unwrap()
}

#[test]
fn mesh_rules_hold_under_random_input() {
    for seed in 0..40u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let direct: Vec<PeerId> = (0..2).map(|_| PeerId::random()).collect();
        let mut h = Harness::new(random_config(&mut rng, &direct));
        h.router
            .with_peer_score(PeerScoreParams::default(), PeerScoreThresholds::default())
            .unwrap();
        let topics = [TopicHash::from_raw("a"), TopicHash::from_raw("b")];
        let mut peers: Vec<(PeerId, bool)> = (0..24)
            .map(|_| (PeerId::random(), rng.gen_bool(0.4)))
            .collect();
        peers.extend(direct.iter().map(|p| (*p, true)));
        let mut connected = vec![false; peers.len()];
        for step in 0..300 {
            let i = rng.gen_range(0..peers.len());
            let (p, outbound) = peers[i];
            let t = topics[rng.gen_range(0..2)].clone();
            match rng.gen_range(0..11) {
                0 if !connected[i] => {
                    h.router.add_peer(h.now, p, outbound);
                    h.router.set_peer_kind(p, PeerKind::Gossipsubv1_2);
                    connected[i] = true;
                }
                0 | 1 if connected[i] => {
                    h.router.remove_peer(&p);
                    connected[i] = false;
                }
                2 => h.router.handle_rpc(
                    h.now,
                    p,
                    Rpc {
                        subscriptions: vec![Subscription {
                            options: Default::default(),
                            subscribe: rng.gen_bool(0.8),
                            topic: t,
                        }],
                        ..Rpc::default()
                    },
                ),
                3 | 4 => {
                    let n = rng.gen_range(1..4);
                    let rpc = Rpc {
                        control: (0..n)
                            .map(|_| ControlAction::Graft { topic: t.clone() })
                            .collect(),
                        ..Rpc::default()
                    };
                    h.router.handle_rpc(h.now, p, rpc);
                }
                5 => h.router.handle_rpc(
                    h.now,
                    p,
                    control_rpc(ControlAction::Prune {
                        topic: t,
                        peers: vec![],
                        backoff: [None, Some(0), Some(1), Some(30)][rng.gen_range(0..4)],
                    }),
                ),
                6 => {
                    let _ = h.router.set_application_score(&p, rng.gen_range(-3.0..3.0));
                }
                7 => {
                    if rng.gen_bool(0.7) {
                        let _ = h.router.subscribe(h.now, t);
                    } else {
                        h.router.unsubscribe(h.now, &t);
                    }
                }
                8 => {
                    let _ = h.router.publish(h.now, t, vec![step as u8; 4]);
                }
                _ => {
                    h.now = h.now.max(h.router.poll_timeout());
                    h.router.handle_timeout(h.now);
                    check_mesh_bounds(&h, &topics);
                }
            }
            if rng.gen_bool(0.2) {
                h.advance(Duration::from_millis(rng.gen_range(0..1500)));
            }
            let actions = h.drain();
            check_actions(&h, &actions, &direct, seed, step);
            // Connected peers hold at most one entry per topic; departed ones are bounded.
            let live = connected.iter().filter(|c| **c).count();
            let bound = live * topics.len() + h.router.config().max_retained_backoffs();
            assert!(h.router.backoff_len() <= bound, "seed {seed} step {step}");
        }
    }
}

/// After a heartbeat every mesh is at most D_hi, plus what the two steps that run after the
/// trim may add (as in go): the D_out quota and one round of opportunistic grafting. The next
/// heartbeat trims those back.
fn check_mesh_bounds(h: &Harness, topics: &[TopicHash]) {
    let c = h.router.config();
    let bound = c.mesh_n_high() + c.mesh_outbound_min() + c.opportunistic_graft_peers();
    for t in topics {
        let len = h.router.mesh_peers(t).count();
        assert!(len <= bound, "mesh {len} > {bound}, {c:?}");
    }
}

/// Our GRAFTs never go to a direct peer or a peer in backoff (with our slack), and a peer gets
/// at most one PRUNE per topic per input.
fn check_actions(h: &Harness, actions: &[Action], direct: &[PeerId], seed: u64, step: usize) {
    let c = h.router.config();
    let slack = c.heartbeat_interval() * c.backoff_slack();
    let mut pruned = std::collections::HashSet::new();
    for a in actions {
        let Action::Send { peer, rpc, .. } = a else {
            continue;
        };
        for control in &rpc.control {
            match control {
                ControlAction::Graft { topic } => {
                    assert!(
                        !direct.contains(peer),
                        "seed {seed} step {step}: GRAFT to direct"
                    );
                    // A GRAFT is never sent while a backoff (+ slack) with the peer runs. The
                    // backoff table may hold an entry only if it ended before now - slack.
                    if let Some(until) = h.router.backoff.until(topic, peer) {
                        assert!(
                            until + slack <= h.now,
                            "seed {seed} step {step}: GRAFT during backoff"
                        );
                    }
                }
                ControlAction::Prune { topic, .. } => {
                    assert!(
                        pruned.insert((*peer, topic.clone())),
                        "seed {seed} step {step}: two PRUNEs for one topic in one input"
                    );
                }
                _ => {}
            }
        }
    }
}
