//! [`Gossip`] for this repository's `gossipsub`.

use bytes::Bytes;
use gossipsub::partial::{
    Partial, PartialError, PartialFeedback, PartsForPeer, PublishPartialError,
};
use gossipsub::{
    ConfigBuilder, Event, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId,
    ValidationMode,
};
use libp2p::PeerId;
use libp2p::identity::Keypair;

use crate::node::{Gossip, MAX_MESSAGE_SIZE, Received};
use crate::output::message_id_of;
use crate::partial::{PartialGroup, parse_bitmap};
use crate::script::{GossipSubParams, nanos};

/// The go parameters this implementation applies.
const SUPPORTED: &[&str] = &[
    "MaxIHaveLength",
    "MaxIDontWantMessages",
    "DirectConnectTicks",
    "PrunePeers",
];

/// Applies the harness' parameters over our defaults.
pub fn config(params: &GossipSubParams) -> ConfigBuilder {
    let mut b = ConfigBuilder::default();
    let p = params;
    let duration = |name: &str, v: Option<f64>| {
        let d = v.and_then(nanos);
        if v.is_some() && d.is_none() {
            tracing::warn!("{name} {v:?} ns is not a duration; ignored");
        }
        d
    };
    if let Some(v) = p.d {
        b.mesh_n(v);
    }
    if let Some(v) = p.d_lo {
        b.mesh_n_low(v);
    }
    if let Some(v) = p.d_hi {
        b.mesh_n_high(v);
    }
    if let Some(v) = p.d_score {
        b.retain_scores(v);
    }
    if let Some(v) = p.d_out {
        b.mesh_outbound_min(v);
    }
    if let Some(v) = p.history_length {
        b.history_length(v);
    }
    if let Some(v) = p.history_gossip {
        b.history_gossip(v);
    }
    if let Some(v) = p.d_lazy {
        b.gossip_lazy(v);
    }
    if let Some(v) = p.gossip_factor {
        b.gossip_factor(v);
    }
    if let Some(v) = p.gossip_retransmission {
        b.gossip_retransmission(v);
    }
    if let Some(v) = duration("HeartbeatInitialDelay", p.heartbeat_initial_delay) {
        b.heartbeat_initial_delay(v);
    }
    if let Some(v) = duration("HeartbeatInterval", p.heartbeat_interval) {
        b.heartbeat_interval(v);
    }
    if let Some(v) = duration("FanoutTTL", p.fanout_ttl) {
        b.fanout_ttl(v);
    }
    if let Some(v) = p.prune_peers {
        b.prune_peers(v);
    }
    if let Some(v) = duration("PruneBackoff", p.prune_backoff) {
        b.prune_backoff(v);
    }
    if let Some(v) = duration("UnsubscribeBackoff", p.unsubscribe_backoff) {
        b.unsubscribe_backoff(v);
    }
    if let Some(v) = p.direct_connect_ticks {
        b.direct_connect_ticks(v);
    }
    if let Some(v) = p.opportunistic_graft_ticks {
        b.opportunistic_graft_ticks(v);
    }
    if let Some(v) = p.opportunistic_graft_peers {
        b.opportunistic_graft_peers(v);
    }
    if let Some(v) = duration("GraftFloodThreshold", p.graft_flood_threshold) {
        b.graft_flood_threshold(v);
    }
    if let Some(v) = p.max_ihave_length {
        b.max_ihave_length(v);
    }
    if let Some(v) = p.max_ihave_messages {
        b.max_ihave_messages(v);
    }
    if let Some(v) = p.max_idontwant_messages {
        b.max_idontwant_messages(v);
    }
    if let Some(v) = duration("IWantFollowupTime", p.iwant_followup_time) {
        b.iwant_followup_time(v);
    }
    if let Some(v) = p.idontwant_message_threshold {
        b.idontwant_message_size_threshold(v);
    }
    for name in p.unsupported(SUPPORTED) {
        tracing::warn!("GossipSubParams.{name} is not supported by this node; ignored");
    }
    b.validation_mode(ValidationMode::Anonymous)
        .validate_messages(true)
        .report_duplicates(true)
        .max_transmit_size(MAX_MESSAGE_SIZE)
        .message_id_fn(|m| MessageId::from(m.data.slice(..m.data.len().min(8))));
    b
}

impl Gossip for gossipsub::Behaviour {
    type Id = MessageId;

    fn build(_key: &Keypair, params: &GossipSubParams) -> Result<Self, String> {
        let config = config(params)
            .build()
            .map_err(|e| format!("gossipsub config: {e}"))?;
        gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)
            .map_err(|e| format!("gossipsub: {e}"))
    }

    fn subscribe(&mut self, topic: &str) -> Result<(), String> {
        gossipsub::Behaviour::subscribe(self, &IdentTopic::new(topic))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn publish(&mut self, topic: &str, data: Vec<u8>) -> Result<(), String> {
        gossipsub::Behaviour::publish(self, IdentTopic::new(topic), data)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn accept(&mut self, id: &MessageId, from: &PeerId) {
        self.report_message_validation_result(id, from, MessageAcceptance::Accept);
    }

    fn subscribe_partial(&mut self, topic: &str) -> Result<(), String> {
        gossipsub::Behaviour::subscribe_partial(self, &IdentTopic::new(topic), true)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn publish_partial(&mut self, topic: &str, group: &PartialGroup) -> Result<(), String> {
        gossipsub::Behaviour::publish_partial(self, IdentTopic::new(topic), Harness(group.clone()))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn publish_partial_to(
        &mut self,
        topic: &str,
        group: &PartialGroup,
        peers: &[PeerId],
    ) -> Result<Option<usize>, String> {
        let ident = IdentTopic::new(topic);
        let hash = ident.hash();
        if !self.partial_enabled(&hash) {
            self.enable_partial(&ident, true)
                .map_err(|e| e.to_string())?;
        }
        // Nodes of the list we are not connected to, or that do not take partial messages on
        // the topic, are left out (go's node sends to them anyway, and the send goes nowhere).
        let mut peers: Vec<PeerId> = peers
            .iter()
            .filter(|p| self.peer_partial_options(p, &hash).supports_partial)
            .copied()
            .collect();
        loop {
            match gossipsub::Behaviour::publish_partial_to(
                self,
                hash.clone(),
                Harness(group.clone()),
                peers.iter().copied(),
            ) {
                Ok(sent) => return Ok(Some(sent)),
                Err(
                    PublishPartialError::PeerNotConnected(peer)
                    | PublishPartialError::PeerBlacklisted(peer)
                    | PublishPartialError::PeerWithoutPartials { peer, .. },
                ) => {
                    tracing::info!(%peer, topic, "chosen peer left out: {}", "it cannot take partial messages");
                    peers.retain(|p| *p != peer);
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    fn report_partial(&mut self, from: &PeerId, topic: &str, valid: bool) {
        let feedback = if valid {
            PartialFeedback::Useful
        } else {
            PartialFeedback::Invalid
        };
        gossipsub::Behaviour::report_partial(self, from, &IdentTopic::new(topic).hash(), feedback);
    }

    fn received(event: Event) -> Option<Received<MessageId>> {
        match event {
            Event::Partial {
                propagation_source,
                message,
            } => Some(Received::Partial {
                from: propagation_source,
                topic: message.topic.into_string(),
                group_id: message.group_id.to_vec(),
                parts: message.message.map(|m| m.to_vec()),
            }),
            Event::Message {
                propagation_source,
                message_id,
                message,
            } => Some(Received::Message {
                log_id: message_id_of(&message.data),
                id: message_id,
                from: propagation_source,
                topic: message.topic.into_string(),
            }),
            Event::Duplicate {
                propagation_source,
                message_id,
                topic,
            } => Some(Received::Duplicate {
                log_id: message_id_of(message_id.as_bytes()),
                from: propagation_source,
                topic: topic.into_string(),
            }),
            _ => None,
        }
    }

    fn diagnostics(&self, stage: &'static str) {
        let counters: Vec<String> = self
            .counters()
            .fields()
            .iter()
            .filter(|(_, v)| *v > 0)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let meshes: Vec<String> = self
            .topics()
            .map(|t| format!("{t}={}", self.mesh_peers(t).count()))
            .collect();
        tracing::info!(stage, counters = %counters.join(" "), meshes = %meshes.join(" "), "diagnostics");
    }
}

/// The harness' partial message as our [`Partial`]: parts metadata is the one-byte bitmap of
/// the parts held; a peer gets the parts it lacks once it told us what it holds (go's node
/// pushes no parts before that).
pub struct Harness(pub PartialGroup);

impl Partial for Harness {
    fn group_id(&self) -> Bytes {
        Bytes::copy_from_slice(&self.0.group_id_bytes())
    }

    fn parts_metadata(&self) -> Bytes {
        Bytes::from(vec![self.0.bitmap()])
    }

    fn parts_for_peer(
        &self,
        _peer: &PeerId,
        peer_metadata: Option<&[u8]>,
    ) -> Result<PartsForPeer, PartialError> {
        let Some(metadata) = peer_metadata else {
            return Ok(PartsForPeer::default());
        };
        let has = parse_bitmap(metadata).ok_or(PartialError::InvalidMetadata)?;
        Ok(PartsForPeer {
            parts: self.0.encode_for(has).map(Bytes::from),
            peer_metadata: Some(Bytes::from(vec![has | self.0.bitmap()])),
        })
    }

    fn merge_metadata(&self, known: &[u8], update: &[u8]) -> Result<Bytes, PartialError> {
        match (parse_bitmap(known), parse_bitmap(update)) {
            (Some(a), Some(b)) => Ok(Bytes::from(vec![a | b])),
            _ => Err(PartialError::InvalidMetadata),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn harness_params_reach_the_config() {
        let params = GossipSubParams {
            d: Some(8),
            d_lo: Some(6),
            d_hi: Some(12),
            d_lazy: Some(0),
            gossip_factor: Some(0.0),
            heartbeat_initial_delay: Some(100_400_000.0),
            heartbeat_interval: Some(700_000_000.0),
            ..Default::default()
        };
        let c = config(&params).build().unwrap();
        assert_eq!((c.mesh_n(), c.mesh_n_low(), c.mesh_n_high()), (8, 6, 12));
        assert_eq!(c.gossip_lazy(), 0);
        assert_eq!(c.heartbeat_initial_delay(), Duration::from_micros(100_400));
        assert_eq!(c.heartbeat_interval(), Duration::from_millis(700));
        assert!(c.validate_messages() && c.report_duplicates());
        assert_eq!(c.max_transmit_size(), MAX_MESSAGE_SIZE);
    }

    #[test]
    fn harness_partial_sends_what_the_peer_lacks() {
        let peer = PeerId::random();
        let p = Harness(PartialGroup::filled(5, 0b0000_0110));
        assert_eq!(&p.group_id()[..], &5u64.to_be_bytes());
        assert_eq!(&p.parts_metadata()[..], &[0b0000_0110]);
        // Nothing before the peer said what it holds.
        assert_eq!(p.parts_for_peer(&peer, None), Ok(PartsForPeer::default()));
        let a = p.parts_for_peer(&peer, Some(&[0b0000_0010])).unwrap();
        assert_eq!(a.parts.unwrap()[0], 0b0000_0100);
        assert_eq!(a.peer_metadata.as_deref(), Some(&[0b0000_0110][..]));
        let none = p.parts_for_peer(&peer, Some(&[0xFF])).unwrap();
        assert_eq!(none.parts, None);
        assert!(p.parts_for_peer(&peer, Some(&[1, 2])).is_err());
        assert_eq!(&p.merge_metadata(&[1], &[4]).unwrap()[..], &[5]);
        assert!(p.merge_metadata(&[1], &[]).is_err());
    }
}
