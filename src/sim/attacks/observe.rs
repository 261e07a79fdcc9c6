//! What honest routers think of attackers and of each other, sampled through the run: attacker
//! mesh slots, graylisted attacker connections, honest peers with negative scores.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libp2p_identity::PeerId;

use crate::sim::network::Observer;
use crate::sim::node::NodeBehaviour;

/// One sample over all honest routers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttackSample {
    /// Time since the start of the run.
    pub at: Duration,
    /// (honest node, attacker) connections.
    pub attacker_connections: u32,
    /// Of those, the ones where the attacker scores below the graylist threshold.
    pub attackers_graylisted: u32,
    /// Of those, the ones where the attacker scores below zero.
    pub attackers_negative: u32,
    /// Of those, the ones where the attacker scores below the gossip threshold (its gossip
    /// is ignored and it gets none).
    pub attackers_below_gossip: u32,
    /// Mesh slots (honest node, topic, attacker) held by attackers.
    pub attacker_mesh_slots: u32,
    /// All mesh slots of honest nodes.
    pub mesh_slots: u32,
    /// (honest node, honest peer) pairs with a negative score.
    pub honest_negative: u32,
    /// (honest node, honest peer) pairs below the graylist threshold.
    pub honest_graylisted: u32,
}

/// Everything the observer saw.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The samples, in time order.
    pub samples: Vec<AttackSample>,
    /// Honest peers some honest router scored negative at some sample.
    pub honest_ever_negative: usize,
    /// Honest peers some honest router scored below the graylist threshold at some sample.
    pub honest_ever_graylisted: usize,
    /// Over every sample's negative (honest node, honest peer) pairs: how often each term was
    /// the most negative one, as (P3 mesh delivery deficit, P3b mesh failure, P4 invalid
    /// messages, P7 behaviour, other).
    pub honest_negative_causes: [u32; 5],
}

impl Observed {
    /// The largest number of attacker mesh slots at any sample.
    pub fn peak_attacker_mesh_slots(&self) -> u32 {
        self.samples
            .iter()
            .map(|s| s.attacker_mesh_slots)
            .max()
            .unwrap_or(0)
    }

    /// Time from `attack` until attackers held no honest mesh slot, counted from the last
    /// sample that had one (`None` if they still held some at the end, `Some(ZERO)` if they
    /// never held any).
    pub fn time_to_prune(&self, attack: Duration) -> Option<Duration> {
        let last = self.samples.last()?;
        if last.attacker_mesh_slots > 0 {
            return None;
        }
        let cleared = self
            .samples
            .iter()
            .rev()
            .take_while(|s| s.attacker_mesh_slots == 0)
            .last()?;
        Some(cleared.at.saturating_sub(attack))
    }

    /// Time from `attack` until every honest connection to an attacker saw it below the
    /// graylist threshold (first such sample), if that happened.
    pub fn time_to_graylist(&self, attack: Duration) -> Option<Duration> {
        self.samples
            .iter()
            .find(|s| {
                s.at >= attack
                    && s.attacker_connections > 0
                    && s.attackers_graylisted == s.attacker_connections
            })
            .map(|s| s.at.saturating_sub(attack))
    }

    /// Fraction of honest mesh slots held by attackers at the last sample.
    pub fn attacker_mesh_share_at_end(&self) -> f64 {
        self.samples.last().map_or(0.0, |s| {
            f64::from(s.attacker_mesh_slots) / f64::from(s.mesh_slots.max(1))
        })
    }

    /// Fraction of attacker connections graylisted at the last sample.
    pub fn graylisted_at_end(&self) -> f64 {
        self.samples.last().map_or(0.0, |s| {
            f64::from(s.attackers_graylisted) / f64::from(s.attacker_connections.max(1))
        })
    }
}

struct State {
    honest: usize,
    attackers: HashSet<PeerId>,
    observed: Observed,
    ever_negative: HashSet<PeerId>,
    ever_graylisted: HashSet<PeerId>,
}

/// Builds the observer for [`Network::set_observer`](crate::sim::Network::set_observer): nodes
/// `0..honest` are honest, `attackers` are the attackers' peer ids. Read the result with the
/// returned handle after the run.
pub fn observer(honest: usize, attackers: HashSet<PeerId>) -> (Observer, ObservedHandle) {
    let state = Arc::new(Mutex::new(State {
        honest,
        attackers,
        observed: Observed::default(),
        ever_negative: HashSet::new(),
        ever_graylisted: HashSet::new(),
    }));
    let handle = ObservedHandle(state.clone());
    let observer: Observer = Box::new(move |at, nodes: &[Box<dyn NodeBehaviour>]| {
        let mut guard = state.lock().expect("observer state");
        sample(&mut guard, at, nodes);
    });
    (observer, handle)
}

/// Reads what an [`observer`] saw.
pub struct ObservedHandle(Arc<Mutex<State>>);

impl ObservedHandle {
    /// The observations so far.
    pub fn take(&self) -> Observed {
        let mut state = self.0.lock().expect("observer state");
        let mut observed = std::mem::take(&mut state.observed);
        observed.honest_ever_negative = state.ever_negative.len();
        observed.honest_ever_graylisted = state.ever_graylisted.len();
        observed
    }
}

fn sample(state: &mut State, at: Duration, nodes: &[Box<dyn NodeBehaviour>]) {
    let mut s = AttackSample {
        at,
        ..AttackSample::default()
    };
    for node in nodes.iter().take(state.honest) {
        let Some(router) = node.router() else {
            continue;
        };
        let (graylist, gossip) = router
            .score_thresholds()
            .map_or((f64::NEG_INFINITY, f64::NEG_INFINITY), |t| {
                (t.graylist_threshold, t.gossip_threshold)
            });
        for (peer, _) in router.all_peers() {
            let score = router.peer_score(peer).unwrap_or(0.0);
            if state.attackers.contains(peer) {
                s.attacker_connections += 1;
                if score < graylist {
                    s.attackers_graylisted += 1;
                }
                if score < gossip {
                    s.attackers_below_gossip += 1;
                }
                if score < 0.0 {
                    s.attackers_negative += 1;
                }
            } else {
                if score < 0.0 {
                    s.honest_negative += 1;
                    state.ever_negative.insert(*peer);
                    if let Some(b) = router.peer_score_breakdown(peer) {
                        let topic = |f: fn(&crate::score::TopicScoreBreakdown) -> f64| {
                            b.topics.iter().map(f).sum::<f64>()
                        };
                        let terms = [
                            topic(|t| t.topic_weight * t.mesh_message_deliveries.contribution),
                            topic(|t| t.topic_weight * t.mesh_failure_penalty.contribution),
                            topic(|t| t.topic_weight * t.invalid_message_deliveries.contribution),
                            b.behaviour_penalty.contribution,
                            b.slow_peer.contribution + b.ip_colocation.contribution,
                        ];
                        let worst = (0..terms.len())
                            .min_by(|a, c| terms[*a].total_cmp(&terms[*c]))
                            .unwrap_or(4);
                        state.observed.honest_negative_causes[worst] += 1;
                    }
                }
                if score < graylist {
                    s.honest_graylisted += 1;
                    state.ever_graylisted.insert(*peer);
                }
            }
        }
        for topic in router.topics() {
            s.mesh_slots += router.mesh_peers(topic).count() as u32;
            s.attacker_mesh_slots += router
                .mesh_peers(topic)
                .filter(|p| state.attackers.contains(*p))
                .count() as u32;
        }
    }
    state.observed.samples.push(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: u64, slots: u32, connections: u32, graylisted: u32) -> AttackSample {
        AttackSample {
            at: Duration::from_secs(at),
            attacker_connections: connections,
            attackers_graylisted: graylisted,
            attacker_mesh_slots: slots,
            ..AttackSample::default()
        }
    }

    #[test]
    fn prune_and_graylist_times_count_from_the_attack() {
        let observed = Observed {
            samples: vec![
                sample(10, 0, 0, 0),
                sample(20, 5, 10, 0),
                sample(30, 2, 10, 9),
                sample(40, 0, 10, 10),
                sample(50, 0, 10, 10),
            ],
            ..Observed::default()
        };
        let attack = Duration::from_secs(15);
        assert_eq!(observed.peak_attacker_mesh_slots(), 5);
        assert_eq!(
            observed.time_to_prune(attack),
            Some(Duration::from_secs(25))
        );
        assert_eq!(
            observed.time_to_graylist(attack),
            Some(Duration::from_secs(25))
        );
        assert_eq!(observed.graylisted_at_end(), 1.0);
    }

    #[test]
    fn attackers_left_in_meshes_or_not_graylisted_have_no_time() {
        let observed = Observed {
            samples: vec![sample(20, 5, 10, 0), sample(30, 1, 10, 5)],
            ..Observed::default()
        };
        let attack = Duration::from_secs(15);
        assert_eq!(observed.time_to_prune(attack), None);
        assert_eq!(observed.time_to_graylist(attack), None);
        assert_eq!(observed.graylisted_at_end(), 0.5);
    }
}
