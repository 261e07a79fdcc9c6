//! The heartbeat, as a sequence of small named steps.

use web_time::Instant;

use rand::seq::SliceRandom;

use super::Router;
use super::prehashed::HashedPeer;
use crate::types::TopicHash;

impl Router {
    /// One heartbeat: budgets, mesh, fanout, gossip, then cache housekeeping.
    pub(super) fn heartbeat(&mut self, now: Instant) {
        self.heartbeat_ticks += 1;
        self.refresh_peer_budgets(now);
        self.refresh_scores(now);
        self.penalise_broken_promises(now);
        self.maintain_meshes(now);
        self.maintain_fanout(now);
        self.emit_gossip();
        self.reconnect_direct_peers();
        self.expire_caches(now);
        self.expire_px(now);
        self.emit_partial_gossip();
        self.expire_partial_groups();
    }

    /// Peers that did not deliver a message they advertised within `iwant_followup_time`.
    fn penalise_broken_promises(&mut self, now: Instant) {
        let broken = self.promises.broken_promises(now);
        for (peer, count) in broken {
            self.counters.broken_promises += count as u64;
            tracing::debug!(%peer, count, "IWANT promises broken");
            self.behaviour_penalty(&peer, count);
        }
    }

    /// At the first heartbeat (right after start, as go dials after 1 s) and then every
    /// `direct_connect_ticks` heartbeats, dials the direct peers we are not connected to.
    fn reconnect_direct_peers(&mut self) {
        if self.heartbeat_ticks != 1
            && !self
                .heartbeat_ticks
                .is_multiple_of(self.config.direct_connect_ticks())
        {
            return;
        }
        let missing: Vec<_> = self
            .direct_peers
            .iter()
            .filter(|p| !self.peers.contains_key(p))
            .map(|p| *p.id())
            .collect();
        for peer in missing {
            let addresses = self.record_addresses(&peer);
            tracing::debug!(%peer, "redialling direct peer");
            self.actions
                .push_back(super::Action::Dial { peer, addresses });
        }
    }

    /// Drops fanout topics unused for `fanout_ttl`; drops fanout peers that left the topic,
    /// fell below `publish_threshold` or became direct, and tops the others up to D with
    /// peers that pass the same rules.
    fn maintain_fanout(&mut self, now: Instant) {
        let ttl = self.config.fanout_ttl();
        let expired: Vec<_> = self
            .fanout_last_pub
            .iter()
            .filter(|(_, last)| last.checked_add(ttl).is_none_or(|end| end <= now))
            .map(|(t, _)| t.clone())
            .collect();
        for topic in expired {
            tracing::debug!(%topic, "fanout expired");
            self.fanout_last_pub.remove(&topic);
            self.fanout.remove(&topic);
        }
        let topics: Vec<_> = self.fanout.keys().cloned().collect();
        for topic in topics {
            let d = self.config.mesh_n_for_topic(&topic);
            let Some(fanout) = self.fanout.get(&topic) else {
                continue;
            };
            let gone: Vec<HashedPeer> = fanout
                .iter()
                .filter(|p| !self.fanout_eligible(&topic, p))
                .copied()
                .collect();
            let Some(fanout) = self.fanout.get_mut(&topic) else {
                continue;
            };
            for peer in &gone {
                fanout.remove(peer);
            }
            if fanout.len() >= d {
                continue;
            }
            let room = d - fanout.len();
            let fanout = &self.fanout[&topic];
            let mut candidates: Vec<_> = self
                .gossipsub_peers_in(&topic)
                .into_iter()
                .filter(|p| !fanout.contains(p) && self.fanout_eligible(&topic, p))
                .collect();
            candidates.shuffle(&mut self.rng);
            if let Some(fanout) = self.fanout.get_mut(&topic) {
                fanout.extend(candidates.into_iter().take(room));
            }
        }
    }

    /// Whether `peer` may be a fanout peer of `topic`: subscribed, not direct (direct peers get
    /// every message anyway), not blacklisted, at or above `publish_threshold`.
    pub(super) fn fanout_eligible(&self, topic: &TopicHash, peer: &HashedPeer) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|s| s.topics.contains(topic))
            && !self.direct_peers.contains(peer)
            && !self.blacklist.contains(peer)
            && !self.below_publish_threshold(peer)
    }

    /// Shifts the message cache, expires seen ids and elapsed backoffs.
    fn expire_caches(&mut self, now: Instant) {
        self.mcache.shift();
        let mcache = &mut self.mcache;
        self.seen.expire(now, |id| mcache.set_seen(id, false));
        // Kept until our own slack has passed too (we consult it before our GRAFTs).
        let slack = self
            .config
            .heartbeat_interval()
            .checked_mul(self.config.backoff_slack())
            .unwrap_or(std::time::Duration::MAX);
        self.backoff.expire(now, slack);
    }
}
