//! The router's use of peer scoring: the score hooks, the thresholds, opportunistic grafting,
//! and the threshold-crossing events. Without scoring every peer scores 0, which passes every
//! threshold of a valid [`PeerScoreThresholds`].

use web_time::Instant;

use libp2p_identity::PeerId;
use rand::seq::SliceRandom;

use super::prehashed::HashedPeer;
use super::{MeshChurn, MeshInclusion, Router};
use crate::event::{Event, ScoreThreshold};
use crate::score::{
    PeerScore, PeerScoreParams, PeerScoreThresholds, RejectReason, ScoreBreakdown,
    ScoreParamsError, TopicScoreParams,
};
use crate::types::{ControlAction, MessageId, TopicHash};

/// Peer scoring state: the score function and the thresholds it is judged against.
pub(super) struct Scoring {
    pub(super) score: PeerScore,
    pub(super) thresholds: PeerScoreThresholds,
}

impl Router {
    /// Turns peer scoring on (v1.1). Parameters and thresholds are validated first.
    pub fn with_peer_score(
        &mut self,
        params: PeerScoreParams,
        thresholds: PeerScoreThresholds,
    ) -> Result<(), ScoreParamsError> {
        params.validate()?;
        thresholds.validate()?;
        let mut score = PeerScore::new(params);
        score.set_max_delivery_bytes(self.config.max_seen_bytes());
        let now = self.now;
        for peer in self.peers.keys() {
            score.add_peer(*peer.id(), now);
        }
        for (topic, mesh) in &self.mesh {
            for peer in mesh {
                score.graft(peer, topic, now);
            }
        }
        self.scoring = Some(Scoring { score, thresholds });
        Ok(())
    }

    /// The current score of `peer`, if scoring is on.
    pub fn peer_score(&self, peer: &PeerId) -> Option<f64> {
        self.scoring.as_ref().map(|s| s.score.score(peer, self.now))
    }

    /// Every term of `peer`'s score, per topic, with counters, weights and contributions.
    pub fn peer_score_breakdown(&self, peer: &PeerId) -> Option<ScoreBreakdown> {
        self.scoring
            .as_ref()
            .and_then(|s| s.score.explain(peer, self.now))
    }

    /// Sets the application-specific score (P5) of `peer`. Returns `false` if scoring is off,
    /// the peer is unknown, or `score` is not finite or over 1e50 in magnitude.
    pub fn set_application_score(&mut self, peer: &PeerId, score: f64) -> bool {
        self.scoring
            .as_mut()
            .is_some_and(|s| s.score.set_application_score(peer, score))
    }

    /// Sets or replaces the score parameters of `topic` at run time.
    pub fn set_topic_params(
        &mut self,
        topic: TopicHash,
        params: TopicScoreParams,
    ) -> Result<(), ScoreParamsError> {
        match self.scoring.as_mut() {
            Some(s) => s.score.set_topic_params(topic, params),
            None => Ok(()),
        }
    }

    /// The score parameters of `topic`, if scoring is on and the topic has some.
    pub fn topic_params(&self, topic: &TopicHash) -> Option<&TopicScoreParams> {
        self.scoring
            .as_ref()
            .and_then(|s| s.score.params().topics.get(topic))
    }

    /// The thresholds in force (all zero without scoring).
    pub fn score_thresholds(&self) -> Option<&PeerScoreThresholds> {
        self.scoring.as_ref().map(|s| &s.thresholds)
    }

    /// Records the IP of one of `peer`'s connections (P6 colocation). Call once per
    /// connection: the IP stays counted until each of them is removed.
    pub fn add_peer_ip(&mut self, peer: &PeerId, ip: std::net::IpAddr) {
        if let Some(s) = self.scoring.as_mut() {
            s.score.add_ip(peer, ip);
        }
    }

    /// Forgets the IP of a closed connection of `peer`. For the peer's last connection call
    /// [`Router::remove_peer`] instead: a retained score record keeps its IPs counted for P6
    /// until it expires (so sybils cannot lower each other's P6 by disconnecting).
    pub fn remove_peer_ip(&mut self, peer: &PeerId, ip: &std::net::IpAddr) {
        if let Some(s) = self.scoring.as_mut() {
            s.score.remove_ip(peer, ip);
        }
    }

    pub(super) fn score_of(&self, peer: &PeerId) -> f64 {
        self.scoring
            .as_ref()
            .map_or(0.0, |s| s.score.score(peer, self.now))
    }

    fn threshold(&self, pick: impl Fn(&PeerScoreThresholds) -> f64) -> f64 {
        self.scoring.as_ref().map_or(0.0, |s| pick(&s.thresholds))
    }

    pub(super) fn below_gossip_threshold(&self, peer: &PeerId) -> bool {
        self.scoring.is_some() && self.score_of(peer) < self.threshold(|t| t.gossip_threshold)
    }

    pub(super) fn below_publish_threshold(&self, peer: &PeerId) -> bool {
        self.scoring.is_some() && self.score_of(peer) < self.threshold(|t| t.publish_threshold)
    }

    pub(super) fn below_graylist_threshold(&self, peer: &PeerId) -> bool {
        self.scoring.is_some() && self.score_of(peer) < self.threshold(|t| t.graylist_threshold)
    }

    pub(super) fn below_accept_px_threshold(&self, peer: &PeerId) -> bool {
        self.scoring.is_some() && self.score_of(peer) < self.threshold(|t| t.accept_px_threshold)
    }

    pub(super) fn negative_score(&self, peer: &PeerId) -> bool {
        self.scoring.is_some() && self.score_of(peer) < 0.0
    }

    /// Adds `peer` to the mesh of `topic` (P1 and P3 start).
    pub(super) fn mesh_insert(
        &mut self,
        topic: &TopicHash,
        peer: HashedPeer,
        reason: MeshInclusion,
    ) {
        let Some(mesh) = self.mesh.get_mut(topic) else {
            return;
        };
        if !mesh.insert(peer) {
            return;
        }
        if let Some(stats) = self.mesh_stats.get_mut(topic) {
            stats.include(reason);
        }
        if let Some(s) = self.scoring.as_mut() {
            s.score.graft(&peer, topic, self.now);
        }
    }

    /// Removes `peer` from the mesh of `topic` (P3b applies to an active deficit).
    pub(super) fn mesh_remove(&mut self, topic: &TopicHash, peer: &HashedPeer, reason: MeshChurn) {
        let Some(mesh) = self.mesh.get_mut(topic) else {
            return;
        };
        if !mesh.remove(peer) {
            return;
        }
        if let Some(stats) = self.mesh_stats.get_mut(topic) {
            stats.remove(reason);
        }
        if let Some(s) = self.scoring.as_mut() {
            s.score.prune(peer, topic, self.now);
            self.scored_mesh_removals = self.scored_mesh_removals.wrapping_add(1);
        }
    }

    /// Adds a P7 behaviour penalty (broken promises, GRAFT during backoff).
    pub(super) fn behaviour_penalty(&mut self, peer: &PeerId, count: usize) {
        tracing::debug!(%peer, count, "behaviour penalty");
        if let Some(s) = self.scoring.as_mut() {
            s.score.add_penalty(peer, count);
        }
    }

    pub(super) fn score_new_message(&mut self, from: &PeerId, id: &MessageId, topic: &TopicHash) {
        if let Some(s) = self.scoring.as_mut() {
            s.score.validate_message(from, id, topic, self.now);
        }
    }

    pub(super) fn score_delivered(&mut self, from: &PeerId, id: &MessageId, topic: &TopicHash) {
        if let Some(s) = self.scoring.as_mut() {
            s.score.deliver_message(from, id, topic, self.now);
        }
    }

    pub(super) fn score_duplicate(&mut self, from: &PeerId, id: &MessageId, topic: &TopicHash) {
        if let Some(s) = self.scoring.as_mut() {
            s.score.duplicated_message(from, id, topic, self.now);
        }
    }

    pub(super) fn score_rejected(
        &mut self,
        from: &PeerId,
        id: &MessageId,
        topic: &TopicHash,
        reason: RejectReason,
    ) {
        if let Some(s) = self.scoring.as_mut() {
            s.score.reject_message(from, id, topic, reason, self.now);
        }
    }

    /// Heartbeat step: decays counters and reports peers whose score fell below a threshold
    /// since the last heartbeat.
    pub(super) fn refresh_scores(&mut self, now: Instant) {
        let Some(s) = self.scoring.as_mut() else {
            return;
        };
        s.score.refresh(now);
        let evicted = s.score.take_evicted_deliveries();
        if evicted > 0 {
            self.counters.delivery_records_evicted += evicted;
            tracing::debug!(
                evicted,
                "delivery records over their byte bound (max_seen_bytes) forgotten, oldest first"
            );
        }
        let t = s.thresholds.clone();
        let levels = [
            (ScoreThreshold::Zero, 0.0),
            (ScoreThreshold::Gossip, t.gossip_threshold),
            (ScoreThreshold::Publish, t.publish_threshold),
            (ScoreThreshold::Graylist, t.graylist_threshold),
        ];
        let mut crossed = Vec::new();
        for (peer, state) in self.peers.iter_mut() {
            let score = s.score.score(peer, now);
            for (threshold, level) in levels {
                if state.last_score >= level && score < level {
                    crossed.push(Event::PeerScoreBelowThreshold {
                        peer_id: *peer.id(),
                        score,
                        threshold,
                    });
                }
            }
            state.last_score = score;
        }
        for event in crossed {
            if let Event::PeerScoreBelowThreshold {
                peer_id,
                score,
                threshold,
            } = &event
            {
                tracing::debug!(peer = %peer_id, score, ?threshold, "peer score crossed a threshold downward");
            }
            self.emit(event);
        }
    }

    /// Heartbeat step: PRUNEs mesh peers whose score went negative (no PX for them).
    pub(super) fn prune_negative_mesh_peers(&mut self, topic: &TopicHash) {
        if self.scoring.is_none() {
            return;
        }
        let negative: Vec<HashedPeer> = self
            .mesh
            .get(topic)
            .into_iter()
            .flatten()
            .filter(|p| self.negative_score(p))
            .copied()
            .collect();
        let backoff = self.config.prune_backoff();
        for peer in negative {
            tracing::debug!(%peer, %topic, "pruning a negatively scored mesh peer");
            self.mesh_remove(topic, &peer, MeshChurn::Score);
            self.prune_peer(self.now, topic, peer, backoff, false);
        }
    }

    /// Heartbeat step, every `opportunistic_graft_ticks`: when the median score of a mesh is
    /// below `opportunistic_graft_threshold`, GRAFT up to `opportunistic_graft_peers` peers
    /// scoring above the median.
    pub(super) fn opportunistic_graft(&mut self, topic: &TopicHash) {
        let Some(threshold) = self
            .scoring
            .as_ref()
            .map(|s| s.thresholds.opportunistic_graft_threshold)
        else {
            return;
        };
        if !self
            .heartbeat_ticks
            .is_multiple_of(self.config.opportunistic_graft_ticks())
        {
            return;
        }
        let mut scores: Vec<f64> = self
            .mesh
            .get(topic)
            .into_iter()
            .flatten()
            .map(|p| self.score_of(p))
            .collect();
        if scores.len() <= 1 {
            return;
        }
        scores.sort_by(f64::total_cmp);
        let median = scores[scores.len() / 2];
        if median >= threshold {
            return;
        }
        let now = self.now;
        let mut candidates: Vec<HashedPeer> = self
            .gossipsub_peers_in(topic)
            .into_iter()
            .filter(|p| {
                !self.mesh.get(topic).is_some_and(|m| m.contains(p))
                    && self.may_graft(now, topic, p)
                    && self.score_of(p) > median
            })
            .collect();
        candidates.shuffle(&mut self.rng);
        candidates.truncate(self.config.opportunistic_graft_peers());
        for peer in candidates {
            tracing::debug!(%peer, %topic, median, "opportunistic graft");
            self.mesh_insert(topic, peer, MeshInclusion::Opportunistic);
            self.send_control(
                peer,
                ControlAction::Graft {
                    topic: topic.clone(),
                },
            );
        }
    }
}
