//! Message delivery events on [`PeerScore`]: validation, first and near-first deliveries,
//! duplicates, rejections and partial-message outcomes (`P2`, `P3`, `P4`).

use web_time::Instant;

use libp2p_identity::PeerId;

use super::deliveries::DeliveryStatus;
use super::peer_stats::TopicStats;
use super::{PeerScore, RejectReason};
use crate::types::{MessageId, TopicHash};

impl PeerScore {
    /// A new message `id` from `from` entered validation at `now`: the delivery record starts
    /// (first seen now, `from` as its first deliverer).
    pub(crate) fn validate_message(
        &mut self,
        from: &PeerId,
        id: &MessageId,
        _topic: &TopicHash,
        now: Instant,
    ) {
        let record = self.deliveries.get_or_create(id, now);
        if record.status == DeliveryStatus::Unknown && record.first_from.is_none() {
            record.first_from = Some(*from);
        }
    }

    /// Message `id`, first delivered by `from`, was accepted at `now`: `P2` (and `P3` if in
    /// the mesh) for `from`, and `P3` for every mesh peer that delivered it while it was
    /// being validated. Ignored if the message was already accepted, rejected or ignored.
    pub(crate) fn deliver_message(
        &mut self,
        from: &PeerId,
        id: &MessageId,
        topic: &TopicHash,
        now: Instant,
    ) {
        let record = self.deliveries.get_or_create(id, now);
        if record.status != DeliveryStatus::Unknown {
            return;
        }
        record.status = DeliveryStatus::Valid(now);
        let near_first: Vec<PeerId> = record
            .peers()
            .iter()
            .filter(|p| *p != from)
            .copied()
            .collect();
        match record.first_from {
            None => record.first_from = Some(*from),
            Some(first) if first != *from => {
                self.deliveries.insert_peer(id, *from);
            }
            Some(_) => {}
        }
        self.mark_first_delivery(from, topic);
        for peer in &near_first {
            self.mark_mesh_delivery(peer, topic);
        }
    }

    /// `from` delivered message `id` again at `now`. Each peer counts once per message:
    /// while validation is pending the peer is remembered (credited or penalised when it
    /// ends); after acceptance a mesh peer earns `P3` if within `mesh_message_deliveries_window`
    /// of the validation; after rejection it is penalised (`P4`). Unknown messages (no
    /// record, e.g. our own or expired) are ignored.
    pub(crate) fn duplicated_message(
        &mut self,
        from: &PeerId,
        id: &MessageId,
        topic: &TopicHash,
        now: Instant,
    ) {
        let Some(record) = self.deliveries.get_mut(id) else {
            return;
        };
        if record.first_from == Some(*from) || record.status == DeliveryStatus::Ignored {
            return;
        }
        let status = record.status;
        if !self.deliveries.insert_peer(id, *from) {
            return;
        }
        match status {
            DeliveryStatus::Unknown | DeliveryStatus::Ignored => {}
            DeliveryStatus::Valid(validated) => {
                let in_window = self.params.topics.get(topic).is_some_and(|p| {
                    now.saturating_duration_since(validated) <= p.mesh_message_deliveries_window
                });
                if in_window {
                    self.mark_mesh_delivery(from, topic);
                }
            }
            DeliveryStatus::Invalid => self.mark_invalid_delivery(from, topic),
        }
    }

    /// Message `id` from `from` was rejected at `now` for `reason` (see [`RejectReason`] for
    /// who is penalised).
    pub(crate) fn reject_message(
        &mut self,
        from: &PeerId,
        id: &MessageId,
        topic: &TopicHash,
        reason: RejectReason,
        now: Instant,
    ) {
        match reason {
            RejectReason::InvalidSignature if !self.params.topics.contains_key(topic) => {
                // P4 is per scored topic; in a topic without parameters (every topic with the
                // default parameters) the forgery still costs the sender, as a P7 penalty.
                self.add_penalty(from, 1);
            }
            RejectReason::InvalidSignature => {
                self.mark_invalid_delivery(from, topic);
            }
            RejectReason::Blacklisted => {}
            RejectReason::Ignored => {
                let record = self.deliveries.get_or_create(id, now);
                if record.status == DeliveryStatus::Unknown {
                    record.status = DeliveryStatus::Ignored;
                    self.deliveries.clear_peers(id);
                }
            }
            RejectReason::ValidationFailed => {
                let record = self.deliveries.get_or_create(id, now);
                if record.status != DeliveryStatus::Unknown {
                    return;
                }
                record.status = DeliveryStatus::Invalid;
                record.first_from.get_or_insert(*from);
                let pending: Vec<PeerId> = record
                    .peers()
                    .iter()
                    .filter(|p| *p != from)
                    .copied()
                    .collect();
                self.mark_invalid_delivery(from, topic);
                for peer in &pending {
                    self.mark_invalid_delivery(peer, topic);
                }
            }
        }
    }

    /// The topic counters of connected `peer` in scored `topic`, created if needed.
    fn scored_topic_stats(&mut self, peer: &PeerId, topic: &TopicHash) -> Option<&mut TopicStats> {
        if !self.params.topics.contains_key(topic) {
            return None;
        }
        let stats = self.peers.get_mut(peer)?;
        if !stats.is_connected() {
            return None;
        }
        Some(stats.topics.entry(topic.clone()).or_default())
    }

    /// `P2` +1 (capped), and `P3` +1 (capped) if in the mesh.
    fn mark_first_delivery(&mut self, peer: &PeerId, topic: &TopicHash) {
        let Some(params) = self.params.topics.get(topic) else {
            return;
        };
        let (first_cap, mesh_cap) = (
            params.first_message_deliveries_cap,
            params.mesh_message_deliveries_cap,
        );
        let Some(t) = self.scored_topic_stats(peer, topic) else {
            return;
        };
        t.first_message_deliveries = (t.first_message_deliveries + 1.0).min(first_cap);
        if t.in_mesh() {
            t.mesh_message_deliveries = (t.mesh_message_deliveries + 1.0).min(mesh_cap);
        }
    }

    /// Useful parts of a partial message (Partial Messages extension) from `peer` in `topic`:
    /// rewarded like a first message delivery (`P2`, and `P3` if in the mesh).
    #[cfg(feature = "partial-messages")]
    pub(crate) fn useful_partial(&mut self, peer: &PeerId, topic: &TopicHash) {
        self.mark_first_delivery(peer, topic);
    }

    /// Invalid parts or parts metadata from `peer` in `topic`: `P4` +1, as an invalid message.
    #[cfg(feature = "partial-messages")]
    pub(crate) fn invalid_partial(&mut self, peer: &PeerId, topic: &TopicHash) {
        self.mark_invalid_delivery(peer, topic);
    }

    /// `P3` +1 (capped) if in the mesh.
    fn mark_mesh_delivery(&mut self, peer: &PeerId, topic: &TopicHash) {
        let Some(cap) = self
            .params
            .topics
            .get(topic)
            .map(|p| p.mesh_message_deliveries_cap)
        else {
            return;
        };
        let Some(t) = self
            .peers
            .get_mut(peer)
            .and_then(|s| s.topics.get_mut(topic))
        else {
            return;
        };
        if t.in_mesh() {
            t.mesh_message_deliveries = (t.mesh_message_deliveries + 1.0).min(cap);
        }
    }

    /// `P4` +1.
    fn mark_invalid_delivery(&mut self, peer: &PeerId, topic: &TopicHash) {
        if let Some(t) = self.scored_topic_stats(peer, topic) {
            t.invalid_message_deliveries += 1.0;
        }
    }
}
