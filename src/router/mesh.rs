//! The mesh: joining and leaving topics, GRAFT/PRUNE handling with backoff, and the heartbeat's
//! mesh maintenance (D_lo/D_hi bounds, D_score retention, D_out quota).

use std::time::{Duration, Instant};

use libp2p_identity::PeerId;
use rand::seq::SliceRandom;

use super::Router;
use crate::types::{ControlAction, PeerInfo, PeerKind, TopicHash};

/// A PRUNE backoff: GRAFTs between the two peers are not allowed until `until`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backoff {
    /// When the PRUNE that started it was sent or received (for the GRAFT flood rule).
    pub(super) since: Instant,
    /// When it ends (backoff plus heartbeat slack).
    pub(super) until: Instant,
}

/// The longest backoff we accept from a remote PRUNE; longer values are clamped.
const MAX_REMOTE_BACKOFF: Duration = Duration::from_secs(60 * 60);

impl Router {
    /// Joins `topic`: its mesh starts from the fanout peers, topped up to D with random
    /// subscribed peers not in backoff, each sent a GRAFT.
    pub(super) fn join(&mut self, now: Instant, topic: TopicHash) {
        let d = self.config.mesh_n();
        let mut mesh = self.new_set();
        if let Some(fanout) = self.fanout.remove(&topic) {
            mesh.extend(fanout.into_iter().take(d));
        }
        self.fanout_last_pub.remove(&topic);
        if mesh.len() < d {
            let mut candidates: Vec<PeerId> = self
                .gossipsub_peers_in(&topic)
                .into_iter()
                .filter(|p| !mesh.contains(p) && self.may_graft(now, &topic, p))
                .collect();
            candidates.shuffle(&mut self.rng);
            mesh.extend(candidates.into_iter().take(d - mesh.len()));
        }
        let grafts: Vec<PeerId> = mesh.iter().copied().collect();
        self.mesh.insert(topic.clone(), self.new_set());
        for peer in grafts {
            self.mesh_insert(&topic, peer);
            self.send_control(
                peer,
                ControlAction::Graft {
                    topic: topic.clone(),
                },
            );
        }
    }

    /// Leaves `topic`: every mesh peer is PRUNEd with the unsubscribe backoff, which we also
    /// observe ourselves.
    pub(super) fn leave(&mut self, now: Instant, topic: &TopicHash) {
        let Some(mesh) = self.mesh.get(topic) else {
            return;
        };
        let peers: Vec<PeerId> = mesh.iter().copied().collect();
        let backoff = self.config.unsubscribe_backoff();
        for peer in peers {
            self.mesh_remove(topic, &peer);
            self.prune_peer(now, topic, peer, backoff, false);
        }
        self.mesh.remove(topic);
    }

    /// Whether `peer` may be grafted into `topic` by us: not direct, not blacklisted, not in
    /// backoff, and not negatively scored.
    pub(super) fn may_graft(&self, now: Instant, topic: &TopicHash, peer: &PeerId) -> bool {
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
        peer: PeerId,
        backoff: Duration,
        px: bool,
    ) {
        self.add_backoff(now, topic, peer, backoff);
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
    fn px_offer(&mut self, topic: &TopicHash, pruned: &PeerId) -> Vec<PeerInfo> {
        let mut candidates: Vec<PeerId> = self
            .gossipsub_peers_in(topic)
            .into_iter()
            .filter(|p| p != pruned && !self.negative_score(p))
            .collect();
        candidates.shuffle(&mut self.rng);
        candidates.truncate(self.config.prune_peers());
        candidates
            .into_iter()
            .map(|peer| PeerInfo {
                peer_id: Some(peer),
                signed_peer_record: self.peer_records.get(&peer).cloned(),
            })
            .collect()
    }

    fn add_backoff(&mut self, now: Instant, topic: &TopicHash, peer: PeerId, backoff: Duration) {
        // Slack of a few heartbeats so a GRAFT sent right at expiry is not refused.
        let slack = self.config.heartbeat_interval() * self.config.backoff_slack();
        let until = now + backoff + slack;
        let entry = self
            .backoff
            .entry((topic.clone(), peer))
            .or_insert(Backoff { since: now, until });
        if entry.until < until {
            *entry = Backoff { since: now, until };
        }
    }

    pub(super) fn in_backoff(&self, now: Instant, topic: &TopicHash, peer: &PeerId) -> bool {
        self.backoff
            .get(&(topic.clone(), *peer))
            .is_some_and(|b| b.until > now)
    }

    pub(super) fn handle_graft(&mut self, now: Instant, from: PeerId, topic: TopicHash) {
        let subscribed = self
            .peers
            .get(&from)
            .is_some_and(|s| s.topics.contains(&topic));
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
            self.counters.graft_refused += 1;
            tracing::debug!(peer = %from, %topic, "GRAFT from a direct peer refused");
            let backoff = self.config.prune_backoff();
            self.prune_peer(now, &topic, from, backoff, false);
            return;
        }
        if !subscribed {
            self.counters.graft_refused += 1;
            tracing::debug!(peer = %from, %topic, "GRAFT from a peer not subscribed to the topic ignored");
            return;
        }
        let outbound = self.peers.get(&from).is_some_and(|s| s.outbound);
        // (refuse, offer PX): no PX to a peer GRAFTing during its backoff.
        let refuse = if self.in_backoff(now, &topic, &from) {
            tracing::debug!(peer = %from, %topic, "GRAFT during backoff refused");
            self.penalise_graft_in_backoff(now, &topic, &from);
            Some(false)
        } else if self.negative_score(&from) {
            tracing::debug!(peer = %from, %topic, "GRAFT from a negatively scored peer refused");
            Some(false)
        } else if mesh.len() >= self.config.mesh_n_high() && !outbound {
            tracing::debug!(peer = %from, %topic, "GRAFT refused: mesh full (D_hi)");
            Some(true)
        } else {
            None
        };
        if let Some(px) = refuse {
            self.counters.graft_refused += 1;
            let backoff = self.config.prune_backoff();
            self.prune_peer(now, &topic, from, backoff, px);
            return;
        }
        tracing::debug!(peer = %from, %topic, "GRAFT accepted");
        self.mesh_insert(&topic, from);
    }

    /// A GRAFT during backoff costs a P7 penalty, and a second one if it came within
    /// `graft_flood_threshold` of the PRUNE that started the backoff.
    fn penalise_graft_in_backoff(&mut self, now: Instant, topic: &TopicHash, peer: &PeerId) {
        self.behaviour_penalty(peer, 1);
        let Some(backoff) = self.backoff.get(&(topic.clone(), *peer)).copied() else {
            return;
        };
        if now < backoff.since + self.config.graft_flood_threshold() {
            tracing::debug!(%peer, %topic, "GRAFT flood: extra penalty");
            self.behaviour_penalty(peer, 1);
        }
    }

    pub(super) fn handle_prune(
        &mut self,
        now: Instant,
        from: PeerId,
        topic: &TopicHash,
        peers: Vec<PeerInfo>,
        backoff: Option<u64>,
    ) {
        if !self.mesh.contains_key(topic) {
            self.counters.prune_ignored += 1;
            tracing::debug!(peer = %from, %topic, "PRUNE for a topic we are not in ignored");
            return;
        }
        self.mesh_remove(topic, &from);
        let backoff = backoff
            .map(Duration::from_secs)
            .unwrap_or(self.config.prune_backoff())
            .min(MAX_REMOTE_BACKOFF);
        tracing::debug!(peer = %from, %topic, ?backoff, px = peers.len(), "PRUNEd");
        self.add_backoff(now, topic, from, backoff);
        if !peers.is_empty() {
            self.accept_px(from, peers);
        }
    }

    /// Heartbeat step: keeps every mesh within [D_lo, D_hi] and with D_out outbound peers.
    pub(super) fn maintain_meshes(&mut self, now: Instant) {
        let topics: Vec<TopicHash> = self.mesh.keys().cloned().collect();
        for topic in topics {
            self.drop_departed_mesh_peers(&topic);
            self.prune_negative_mesh_peers(&topic);
            self.fill_mesh(now, &topic);
            self.trim_mesh(now, &topic);
            self.fill_outbound_quota(now, &topic);
            self.opportunistic_graft(&topic);
        }
    }

    /// Removes mesh peers that are gone or no longer subscribed.
    fn drop_departed_mesh_peers(&mut self, topic: &TopicHash) {
        let departed: Vec<PeerId> = self
            .mesh
            .get(topic)
            .into_iter()
            .flatten()
            .filter(|p| !self.peers.get(p).is_some_and(|s| s.topics.contains(topic)))
            .copied()
            .collect();
        for peer in departed {
            self.mesh_remove(topic, &peer);
        }
    }

    /// Candidates to GRAFT into `topic`: subscribed meshsub peers not in the mesh or backoff.
    fn graft_candidates(&self, now: Instant, topic: &TopicHash) -> Vec<PeerId> {
        let mesh = self.mesh.get(topic);
        self.gossipsub_peers_in(topic)
            .into_iter()
            .filter(|p| !mesh.is_some_and(|m| m.contains(p)) && self.may_graft(now, topic, p))
            .collect()
    }

    fn graft(&mut self, topic: &TopicHash, peers: Vec<PeerId>) {
        for peer in peers {
            self.mesh_insert(topic, peer);
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
        if len >= self.config.mesh_n_low() {
            return;
        }
        let mut candidates = self.graft_candidates(now, topic);
        candidates.shuffle(&mut self.rng);
        candidates.truncate(self.config.mesh_n() - len);
        self.graft(topic, candidates);
    }

    /// Above D_hi: keep D peers — D_score of them kept first (the best scored; without peer
    /// scoring every peer scores 0, so a random D_score), at least D_out outbound ones if
    /// available, the rest at random — and PRUNE the others.
    fn trim_mesh(&mut self, now: Instant, topic: &TopicHash) {
        let Some(mesh) = self.mesh.get(topic) else {
            return;
        };
        if mesh.len() <= self.config.mesh_n_high() {
            return;
        }
        let d = self.config.mesh_n();
        let d_score = self.config.retain_scores().min(d);
        let mut peers: Vec<PeerId> = mesh.iter().copied().collect();
        // Random order, then best score first (stable sort, so ties stay random); the peers
        // after the best D_score are shuffled again so the rest is kept at random.
        peers.shuffle(&mut self.rng);
        if self.scoring.is_some() {
            let mut scored: Vec<(f64, PeerId)> =
                peers.iter().map(|p| (self.score_of(p), *p)).collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            peers = scored.into_iter().map(|(_, p)| p).collect();
            peers[d_score..].shuffle(&mut self.rng);
        }
        let peers_state = &self.peers;
        let is_outbound = |p: &PeerId| peers_state.get(p).is_some_and(|s| s.outbound);
        let (head, tail) = peers.split_at(d_score);
        let mut need_outbound = self
            .config
            .mesh_outbound_min()
            .saturating_sub(head.iter().filter(|p| is_outbound(p)).count());
        // Keep the first D_score, then enough outbound peers for D_out, then the rest.
        let mut ordered = head.to_vec();
        let mut others = Vec::with_capacity(tail.len());
        for peer in tail {
            if need_outbound > 0 && is_outbound(peer) {
                ordered.push(*peer);
                need_outbound -= 1;
            } else {
                others.push(*peer);
            }
        }
        ordered.extend(others);
        let pruned = ordered.split_off(d);
        for peer in &pruned {
            self.mesh_remove(topic, peer);
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
        if mesh.len() < self.config.mesh_n_low() {
            return;
        }
        let outbound = mesh
            .iter()
            .filter(|p| self.peers.get(p).is_some_and(|s| s.outbound))
            .count();
        let d_out = self.config.mesh_outbound_min();
        if outbound >= d_out {
            return;
        }
        let mut candidates: Vec<PeerId> = self
            .graft_candidates(now, topic)
            .into_iter()
            .filter(|p| self.peers.get(p).is_some_and(|s| s.outbound))
            .collect();
        candidates.shuffle(&mut self.rng);
        candidates.truncate(d_out - outbound);
        self.graft(topic, candidates);
    }
}
