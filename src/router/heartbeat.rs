//! The heartbeat, as a sequence of small named steps.

use std::time::Instant;

use super::Router;

impl Router {
    /// One heartbeat: budgets, mesh, fanout, gossip, then cache housekeeping.
    pub(super) fn heartbeat(&mut self, now: Instant) {
        self.heartbeat_ticks += 1;
        self.refresh_peer_budgets();
        self.refresh_scores(now);
        self.penalise_broken_promises(now);
        self.maintain_meshes(now);
        self.maintain_fanout(now);
        self.emit_gossip();
        self.reconnect_direct_peers();
        self.expire_caches(now);
        self.expire_px(now);
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

    /// Every `direct_connect_ticks` heartbeats, dials the direct peers we are not connected to.
    fn reconnect_direct_peers(&mut self) {
        if !self
            .heartbeat_ticks
            .is_multiple_of(self.config.direct_connect_ticks())
        {
            return;
        }
        let missing: Vec<_> = self
            .direct_peers
            .iter()
            .filter(|p| !self.peers.contains_key(p))
            .copied()
            .collect();
        for peer in missing {
            let addresses = self.record_addresses(&peer);
            tracing::debug!(%peer, "redialling direct peer");
            self.actions
                .push_back(super::Action::Dial { peer, addresses });
        }
    }

    /// Drops fanout topics unused for `fanout_ttl`; tops the others up to D.
    fn maintain_fanout(&mut self, now: Instant) {
        let ttl = self.config.fanout_ttl();
        let expired: Vec<_> = self
            .fanout_last_pub
            .iter()
            .filter(|(_, last)| **last + ttl <= now)
            .map(|(t, _)| t.clone())
            .collect();
        for topic in expired {
            tracing::debug!(%topic, "fanout expired");
            self.fanout_last_pub.remove(&topic);
            self.fanout.remove(&topic);
        }
        let d = self.config.mesh_n();
        let topics: Vec<_> = self.fanout.keys().cloned().collect();
        for topic in topics {
            let peers = &self.peers;
            let Some(fanout) = self.fanout.get_mut(&topic) else {
                continue;
            };
            fanout.retain(|p| peers.get(p).is_some_and(|s| s.topics.contains(&topic)));
            if fanout.len() >= d {
                continue;
            }
            let mut candidates: Vec<_> = self
                .gossipsub_peers_in(&topic)
                .into_iter()
                .filter(|p| !self.fanout[&topic].contains(p) && !self.below_publish_threshold(p))
                .collect();
            use rand::seq::SliceRandom;
            candidates.shuffle(&mut self.rng);
            let room = d - self.fanout[&topic].len();
            if let Some(fanout) = self.fanout.get_mut(&topic) {
                fanout.extend(candidates.into_iter().take(room));
            }
        }
    }

    /// Shifts the message cache, expires seen ids and elapsed backoffs.
    fn expire_caches(&mut self, now: Instant) {
        self.mcache.shift();
        self.seen.expire(now);
        self.backoff.retain(|_, b| b.until > now);
    }
}
