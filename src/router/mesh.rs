//! The mesh: joining and leaving topics, GRAFT/PRUNE handling with backoff, and the heartbeat's
//! mesh maintenance (D_lo/D_hi bounds, D_score retention, D_out quota).

use std::time::Duration;

use web_time::Instant;

use libp2p_identity::PeerId;
use rand::seq::SliceRandom;

use super::prehashed::{HashedPeer, PrehashedSet};
use super::{MeshChurn, MeshInclusion, Router};
use crate::types::{ControlAction, PeerInfo, PeerKind, TopicHash};

/// The longest backoff we accept from a remote PRUNE; longer values are clamped.
const MAX_REMOTE_BACKOFF: Duration = Duration::from_secs(60 * 60);

impl Router {
    /// Joins `topic`: its mesh starts from the fanout peers we may GRAFT (not direct, not in
    /// backoff, not negatively scored), topped up to D with random subscribed peers that pass
    /// the same checks, each sent a GRAFT.
    pub(super) fn join(&mut self, now: Instant, topic: TopicHash) {
        let d = self.config.mesh_n_for_topic(&topic);
        let mut mesh = PrehashedSet::default();
        if let Some(fanout) = self.fanout.remove(&topic) {
            mesh.extend(
                fanout
                    .into_iter()
                    .filter(|p| self.may_graft(now, &topic, p))
                    .take(d),
            );
        }
        self.fanout_last_pub.remove(&topic);
        if mesh.len() < d {
            let mut candidates: Vec<HashedPeer> = self
                .gossipsub_peers_in(&topic)
                .into_iter()
                .filter(|p| !mesh.contains(p) && self.may_graft(now, &topic, p))
                .collect();
            candidates.shuffle(&mut self.rng);
            mesh.extend(candidates.into_iter().take(d - mesh.len()));
        }
        let grafts: Vec<HashedPeer> = mesh.iter().copied().collect();
        self.mesh.insert(topic.clone(), PrehashedSet::default());
        self.mesh_stats.entry(topic.clone()).or_default();
        for peer in grafts {
            self.mesh_insert(&topic, peer, MeshInclusion::Subscribed);
            self.send_control(
                peer,
                ControlAction::Graft {
                    topic: topic.clone(),
                },
            );
        }
    }

    /// Leaves `topic`: every mesh peer is PRUNEd with the unsubscribe backoff, which we also
    /// observe ourselves, and offered other peers of the topic when `do_px` is on (as go and
    /// libp2p-gossipsub do: the peer loses a mesh link and may need replacements).
    pub(super) fn leave(&mut self, now: Instant, topic: &TopicHash) {
        let Some(mesh) = self.mesh.get(topic) else {
            return;
        };
        let peers: Vec<HashedPeer> = mesh.iter().copied().collect();
        let backoff = self.config.unsubscribe_backoff();
        for peer in peers {
            self.mesh_remove(topic, &peer, MeshChurn::Unsubscribed);
            self.prune_peer(now, topic, peer, backoff, true);
        }
        self.mesh.remove(topic);
    }

    /// Whether `peer` may be grafted into `topic` by us: not direct, not blacklisted, not in
    /// backoff, and not negatively scored.
    pub(super) fn may_graft(&self, now: Instant, topic: &TopicHash, peer: &HashedPeer) -> bool {
        !self.direct_peers.contains(peer)
            && !self.blacklist.contains(peer)
            && !self.in_backoff(now, topic, peer)
            && !self.negative_score(peer)
    }

    /// Sends a PRUNE to `peer` for `topic` and records the backoff on our side. With `px`
    /// (and `do_px` on), the PRUNE offers other peers of the topic with their signed records.
    pub(super) fn prune_peer(
        &mut self,
        now: Instant,
        topic: &TopicHash,
        peer: HashedPeer,
        backoff: Duration,
        px: bool,
    ) {
        self.add_backoff(now, topic, *peer.id(), backoff);
        if let Some(state) = self.peers.get_mut(&peer) {
            state.prunes_sent.insert(topic.clone(), now);
        }
        let v1_1 = self
            .peers
            .get(&peer)
            .and_then(|s| s.kind)
            .is_some_and(PeerKind::supports_v1_1);
        // No PX to a peer with a negative score.
        let peers = if v1_1 && px && self.config.do_px() && !self.negative_score(&peer) {
            self.px_offer(topic, &peer)
        } else {
            Vec::new()
        };
        self.send_control(
            peer,
            ControlAction::Prune {
                topic: topic.clone(),
                peers,
                backoff: v1_1.then_some(backoff.as_secs()),
            },
        );
    }

    /// Up to `prune_peers` random peers of `topic` (other than `pruned`) to offer in PX, each
    /// with its signed peer record when we have one.
    fn px_offer(&mut self, topic: &TopicHash, pruned: &HashedPeer) -> Vec<PeerInfo> {
        let mut candidates: Vec<HashedPeer> = self
            .gossipsub_peers_in(topic)
            .into_iter()
            .filter(|p| p != pruned && !self.negative_score(p))
            .collect();
        candidates.shuffle(&mut self.rng);
        candidates.truncate(self.config.prune_peers());
        candidates
            .into_iter()
            .map(|peer| PeerInfo {
                peer_id: Some(*peer.id()),
                signed_peer_record: self.peer_records.get(&peer).cloned(),
            })
            .collect()
    }

    fn add_backoff(&mut self, now: Instant, topic: &TopicHash, peer: PeerId, backoff: Duration) {
        self.backoff.insert(now, topic, peer, backoff);
    }

    /// Whether we must not GRAFT `peer` into `topic` ourselves yet: its backoff has not ended
    /// `backoff_slack` heartbeats ago (slack for clock and heartbeat skew).
    pub(super) fn in_backoff(&self, now: Instant, topic: &TopicHash, peer: &PeerId) -> bool {
        let Some(until) = self.backoff.until(topic, peer) else {
            return false;
        };
        let slack = self
            .config
            .heartbeat_interval()
            .checked_mul(self.config.backoff_slack())
            .unwrap_or(Duration::MAX);
        until.checked_add(slack).is_none_or(|end| end > now)
    }

    /// Whether a GRAFT from `peer` into `topic` comes before its backoff ends (exactly: a
    /// compliant peer GRAFTs as soon as the backoff it was told is over).
    fn graft_in_backoff(&self, now: Instant, topic: &TopicHash, peer: &HashedPeer) -> bool {
        self.backoff
            .until(topic, peer)
            .is_some_and(|until| now < until)
    }

    pub(super) fn handle_graft(&mut self, now: Instant, from: HashedPeer, topic: TopicHash) {
        let Some(mesh) = self.mesh.get(&topic) else {
            // Spam hardening: a GRAFT for a topic we are not in creates no state.
            self.counters.graft_refused += 1;
            tracing::debug!(peer = %from, %topic, "GRAFT for a topic we are not in ignored");
            return;
        };
        if mesh.contains(&from) {
            return;
        }
        if self.blacklist.contains(&from) {
            self.counters.graft_refused += 1;
            return;
        }
        if self.direct_peers.contains(&from) {
            // Direct peers are never in the mesh; tell it so.
            tracing::debug!(peer = %from, %topic, "GRAFT from a direct peer refused");
            self.refuse_graft(now, &topic, from, false);
            return;
        }
        if !self.graft_subscribes(from, &topic) {
            tracing::debug!(peer = %from, %topic, "GRAFT from a peer that may not subscribe to the topic refused");
            self.refuse_graft(now, &topic, from, false);
            return;
        }
        let outbound = self.peers.get(&from).is_some_and(|s| s.outbound);
        let mesh_len = self.mesh.get(&topic).map_or(0, |m| m.len());
        // (refuse, offer PX): no PX to a peer GRAFTing during its backoff.
        let refuse = if self.graft_in_backoff(now, &topic, &from) {
            tracing::debug!(peer = %from, %topic, "GRAFT during backoff refused");
            self.penalise_graft_in_backoff(now, &topic, &from);
            Some(false)
        } else if self.negative_score(&from) {
            tracing::debug!(peer = %from, %topic, "GRAFT from a negatively scored peer refused");
            Some(false)
        } else if mesh_len >= self.config.mesh_n_high_for_topic(&topic) && !outbound {
            tracing::debug!(peer = %from, %topic, "GRAFT refused: mesh full (D_hi)");
            Some(true)
        } else {
            None
        };
        if let Some(px) = refuse {
            self.refuse_graft(now, &topic, from, px);
            return;
        }
        tracing::debug!(peer = %from, %topic, "GRAFT accepted");
        self.mesh_insert(&topic, from, MeshInclusion::GraftReceived);
    }

    /// A GRAFT implies a subscription: a peer whose SUBSCRIBE we have not seen is taken as
    /// subscribed when the filter and `max_topics_per_peer` allow it. Returns whether the peer
    /// is (now) subscribed.
    fn graft_subscribes(&mut self, from: HashedPeer, topic: &TopicHash) -> bool {
        if self
            .peers
            .get(&from)
            .is_some_and(|s| s.topics.contains(topic))
        {
            return true;
        }
        if !self.add_peer_topic(from, topic) {
            return false;
        }
        self.counters.implicit_subscriptions += 1;
        tracing::debug!(peer = %from, %topic, "GRAFT without SUBSCRIBE taken as a subscription");
        true
    }

    /// Answers a refused GRAFT with a PRUNE, at most one per peer and topic per heartbeat
    /// interval: a peer repeating its GRAFT (in one RPC or several) gets no more replies until
    /// the interval since our last PRUNE has passed.
    fn refuse_graft(&mut self, now: Instant, topic: &TopicHash, peer: HashedPeer, px: bool) {
        self.counters.graft_refused += 1;
        let interval = self.config.heartbeat_interval();
        let answered_recently = self
            .peers
            .get(&peer)
            .and_then(|s| s.prunes_sent.get(topic))
            .is_some_and(|at| at.checked_add(interval).is_none_or(|end| now < end));
        if answered_recently {
            self.counters.prunes_suppressed += 1;
            tracing::trace!(%peer, %topic, "PRUNE already sent this heartbeat; GRAFT not answered");
            return;
        }
        let backoff = self.config.prune_backoff();
        self.prune_peer(now, topic, peer, backoff, px);
    }

    /// A GRAFT during backoff costs a P7 penalty, and a second one if it came within
    /// `graft_flood_threshold` of the PRUNE: as go and js compute it, before
    /// `end of backoff - prune_backoff + graft_flood_threshold`.
    fn penalise_graft_in_backoff(&mut self, now: Instant, topic: &TopicHash, peer: &HashedPeer) {
        self.counters.grafts_in_backoff += 1;
        self.behaviour_penalty(peer, 1);
        let Some(until) = self.backoff.until(topic, peer) else {
            return;
        };
        let cutoff = until
            .checked_sub(self.config.prune_backoff())
            .and_then(|t| t.checked_add(self.config.graft_flood_threshold()));
        if cutoff.is_some_and(|cutoff| now < cutoff) {
            tracing::debug!(%peer, %topic, "GRAFT flood: extra penalty");
            self.behaviour_penalty(peer, 1);
        }
    }

    pub(super) fn handle_prune(
        &mut self,
        now: Instant,
        from: HashedPeer,
        topic: &TopicHash,
        peers: Vec<PeerInfo>,
        backoff: Option<u64>,
    ) {
        if !self.mesh.contains_key(topic) {
            self.counters.prune_ignored += 1;
            tracing::debug!(peer = %from, %topic, "PRUNE for a topic we are not in ignored");
            return;
        }
        self.mesh_remove(topic, &from, MeshChurn::PruneReceived);
        // An absent or zero backoff means "use your default", as go reads it.
        let asked = backoff
            .filter(|secs| *secs > 0)
            .map(Duration::from_secs)
            .unwrap_or(self.config.prune_backoff());
        if asked > MAX_REMOTE_BACKOFF {
            self.counters.prune_backoffs_clamped += 1;
            tracing::debug!(peer = %from, %topic, ?asked, max = ?MAX_REMOTE_BACKOFF, "PRUNE backoff over the longest we keep; clamped");
        }
        let backoff = asked.min(MAX_REMOTE_BACKOFF);
        tracing::debug!(peer = %from, %topic, ?backoff, px = peers.len(), "PRUNEd");
        self.add_backoff(now, topic, *from.id(), backoff);
        if !peers.is_empty() {
            self.accept_px(from, peers);
        }
    }

    /// Heartbeat step: keeps every mesh within [D_lo, D_hi] and with D_out outbound peers.
    pub(super) fn maintain_meshes(&mut self, now: Instant) {
        let topics: Vec<TopicHash> = self.mesh.keys().cloned().collect();
        let removals = self.scored_mesh_removals;
        for topic in &topics {
            self.drop_departed_mesh_peers(topic);
            self.prune_negative_mesh_peers(topic);
            self.fill_mesh(now, topic);
            self.trim_mesh(now, topic);
            self.fill_outbound_quota(now, topic);
            self.opportunistic_graft(topic);
        }
        if self.scored_mesh_removals != removals {
            // Leaving a mesh lowers a scored peer's score at once (its P1 time in mesh ends,
            // a P3b deficit is charged), possibly below zero after one of its other topics was
            // already maintained above. No mesh keeps a negatively scored peer past a
            // heartbeat (go decides on scores cached at the heartbeat's start, so it would keep
            // it in every topic until the next one). Only the peers removed here lost score,
            // and a peer this pass prunes was already negative, so one pass suffices. A mesh
            // it shrinks is refilled (D_lo, D_out) as in its maintenance above: grafting
            // lowers no score.
            for topic in &topics {
                let before = self.scored_mesh_removals;
                self.prune_negative_mesh_peers(topic);
                if self.scored_mesh_removals != before {
                    self.fill_mesh(now, topic);
                    self.fill_outbound_quota(now, topic);
                }
            }
        }
    }

    /// Removes mesh peers that are gone or no longer subscribed.
    fn drop_departed_mesh_peers(&mut self, topic: &TopicHash) {
        let departed: Vec<HashedPeer> = self
            .mesh
            .get(topic)
            .into_iter()
            .flatten()
            .filter(|p| !self.peers.get(p).is_some_and(|s| s.topics.contains(topic)))
            .copied()
            .collect();
        for peer in departed {
            self.mesh_remove(topic, &peer, MeshChurn::Disconnected);
        }
    }

    /// Candidates to GRAFT into `topic`: subscribed meshsub peers not in the mesh or backoff.
    fn graft_candidates(&self, now: Instant, topic: &TopicHash) -> Vec<HashedPeer> {
        let mesh = self.mesh.get(topic);
        self.gossipsub_peers_in(topic)
            .into_iter()
            .filter(|p| !mesh.is_some_and(|m| m.contains(p)) && self.may_graft(now, topic, p))
            .collect()
    }

    fn graft(&mut self, topic: &TopicHash, peers: Vec<HashedPeer>, reason: MeshInclusion) {
        for peer in peers {
            self.mesh_insert(topic, peer, reason);
            self.send_control(
                peer,
                ControlAction::Graft {
                    topic: topic.clone(),
                },
            );
        }
    }

    /// Below D_lo: GRAFT random candidates up to D.
    fn fill_mesh(&mut self, now: Instant, topic: &TopicHash) {
        let len = self.mesh.get(topic).map_or(0, |m| m.len());
        let degrees = self.config.topic_mesh_config(topic);
        if len >= degrees.mesh_n_low {
            return;
        }
        let mut candidates = self.graft_candidates(now, topic);
        candidates.shuffle(&mut self.rng);
        candidates.truncate(degrees.mesh_n.saturating_sub(len));
        self.graft(topic, candidates, MeshInclusion::BelowDLo);
    }

    /// At or above D_hi (as go and libp2p-gossipsub: inbound GRAFTs are refused from D_hi on,
    /// so a mesh they filled sits at exactly D_hi and would never shrink back to D with a trim
    /// only above it): keep D peers and PRUNE the others. The kept ones are the best D_score by
    /// score (without peer scoring every peer scores 0, so a random D_score) and then random
    /// ones; if fewer than D_out of them are outbound, the lowest-ranked inbound ones are
    /// replaced by outbound peers, so the quota wins over D_score (as in go).
    fn trim_mesh(&mut self, now: Instant, topic: &TopicHash) {
        let Some(mesh) = self.mesh.get(topic) else {
            return;
        };
        let degrees = self.config.topic_mesh_config(topic);
        if mesh.len() < degrees.mesh_n_high || mesh.len() <= degrees.mesh_n {
            return;
        }
        let d = degrees.mesh_n;
        let d_score = self.config.retain_scores().min(d);
        let mut ranked: Vec<HashedPeer> = mesh.iter().copied().collect();
        // Random order, then best score first (stable sort, so ties stay random); the peers
        // after the best D_score are shuffled again so the rest is kept at random.
        ranked.shuffle(&mut self.rng);
        if self.scoring.is_some() {
            let mut scored: Vec<(f64, HashedPeer)> =
                ranked.iter().map(|p| (self.score_of(p), *p)).collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            ranked = scored.into_iter().map(|(_, p)| p).collect();
            ranked[d_score..].shuffle(&mut self.rng);
        }
        let peers_state = &self.peers;
        let is_outbound = |p: &HashedPeer| peers_state.get(p).is_some_and(|s| s.outbound);
        let rest = ranked.split_off(d.min(ranked.len()));
        let mut kept = ranked;
        let have = kept.iter().filter(|p| is_outbound(p)).count();
        let need = degrees.mesh_outbound_min.saturating_sub(have);
        // Outbound peers from the rest replace the lowest-ranked inbound ones that were kept.
        let mut pruned = Vec::with_capacity(rest.len());
        let mut swapped = 0;
        for peer in rest {
            if swapped < need
                && is_outbound(&peer)
                && let Some(pos) = kept.iter().rposition(|p| !is_outbound(p))
            {
                pruned.push(kept.remove(pos));
                swapped += 1;
                continue;
            }
            pruned.push(peer);
        }
        if let Some(stats) = self.mesh_stats.get_mut(topic) {
            stats.above_d_hi = stats.above_d_hi.saturating_add(1);
        }
        for peer in &pruned {
            self.mesh_remove(topic, peer, MeshChurn::Excess);
        }
        let backoff = self.config.prune_backoff();
        for peer in pruned {
            self.prune_peer(now, topic, peer, backoff, true);
        }
    }

    /// At or above D_lo but with fewer than D_out outbound peers: GRAFT outbound candidates.
    fn fill_outbound_quota(&mut self, now: Instant, topic: &TopicHash) {
        let Some(mesh) = self.mesh.get(topic) else {
            return;
        };
        let degrees = self.config.topic_mesh_config(topic);
        if mesh.len() < degrees.mesh_n_low {
            return;
        }
        let outbound = mesh
            .iter()
            .filter(|p| self.peers.get(p).is_some_and(|s| s.outbound))
            .count();
        let d_out = degrees.mesh_outbound_min;
        if outbound >= d_out {
            return;
        }
        let mut candidates: Vec<HashedPeer> = self
            .graft_candidates(now, topic)
            .into_iter()
            .filter(|p| self.peers.get(p).is_some_and(|s| s.outbound))
            .collect();
        candidates.shuffle(&mut self.rng);
        candidates.truncate(d_out - outbound);
        self.graft(topic, candidates, MeshInclusion::Outbound);
    }
}
