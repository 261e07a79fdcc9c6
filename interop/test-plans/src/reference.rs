//! [`Gossip`] for libp2p-gossipsub 0.50.1, the reference node.
//!
//! libp2p-gossipsub reports a duplicate only as a debug log line ("Message already received,
//! ignoring" with the id in hex); [`DuplicateLayer`] turns each one into the harness'
//! `Received Message` event (without `from` and `topic`, which that line does not carry).

use libp2p::PeerId;
use libp2p::identity::Keypair;
use libp2p_gossipsub::{
    ConfigBuilder, Event, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId,
    ValidationMode,
};
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

use crate::node::{Gossip, MAX_MESSAGE_SIZE, Received};
use crate::output::{self, message_id_of};
use crate::partial::{PartialGroup, parse_bitmap};
use crate::script::{GossipSubParams, nanos};
use libp2p_gossipsub::partial_messages::{Metadata, Partial, PartialAction, PartialError};

/// The go parameters libp2p-gossipsub has an equivalent for.
const SUPPORTED: &[&str] = &["DirectConnectTicks", "PrunePeers"];

/// The log line libp2p-gossipsub 0.50.1 emits for every duplicate (behaviour.rs).
const DUPLICATE_LINE: &str = "Message already received, ignoring";

/// Applies the harness' parameters over libp2p-gossipsub's defaults.
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
        b.gossip_retransimission(v);
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
        b.check_explicit_peers_ticks(v);
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
    if let Some(v) = p.max_ihave_messages {
        b.max_ihave_messages_heartbeat(v);
    }
    if let Some(v) = duration("IWantFollowupTime", p.iwant_followup_time) {
        b.iwant_followup_time(v);
    }
    if let Some(v) = p.idontwant_message_threshold {
        b.idontwant_message_size_threshold(v);
    }
    for name in p.unsupported(SUPPORTED) {
        tracing::warn!("GossipSubParams.{name} is not supported by libp2p-gossipsub; ignored");
    }
    b.validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .max_transmit_size(MAX_MESSAGE_SIZE)
        .message_id_fn(|m| MessageId::from(&m.data[..m.data.len().min(8)]));
    b
}

impl Gossip for libp2p_gossipsub::Behaviour {
    type Id = MessageId;

    fn build(_key: &Keypair, params: &GossipSubParams) -> Result<Self, String> {
        let config = config(params)
            .build()
            .map_err(|e| format!("libp2p-gossipsub config: {e}"))?;
        libp2p_gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)
            .map_err(|e| format!("libp2p-gossipsub: {e}"))
    }

    fn subscribe(&mut self, topic: &str) -> Result<(), String> {
        libp2p_gossipsub::Behaviour::subscribe(self, &IdentTopic::new(topic))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn publish(&mut self, topic: &str, data: Vec<u8>) -> Result<(), String> {
        libp2p_gossipsub::Behaviour::publish(self, IdentTopic::new(topic), data)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn accept(&mut self, id: &MessageId, from: &PeerId) {
        self.report_message_validation_result(id, from, MessageAcceptance::Accept);
    }

    fn subscribe_partial(&mut self, topic: &str) -> Result<(), String> {
        let topic = IdentTopic::new(topic);
        // Must precede the subscription, which then announces it.
        self.enable_partials_for_topic(topic.hash(), true);
        libp2p_gossipsub::Behaviour::subscribe(self, &topic)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn publish_partial(&mut self, topic: &str, group: &PartialGroup) -> Result<(), String> {
        libp2p_gossipsub::Behaviour::publish_partial(
            self,
            IdentTopic::new(topic),
            Harness(group.clone()),
        )
        .map_err(|e| e.to_string())
    }

    /// libp2p-gossipsub 0.50.1 has no recipient list: after enabling partial messages on a
    /// topic we are not subscribed to, this publishes to its fanout peers there (mesh_n
    /// peers that support partial messages, chosen at random) and the group's peers, as the
    /// harness' own rust-libp2p node does (it ignores `publishToNodeIDs`).
    fn publish_partial_to(
        &mut self,
        topic: &str,
        group: &PartialGroup,
        peers: &[PeerId],
    ) -> Result<Option<usize>, String> {
        let ident = IdentTopic::new(topic);
        let hash = ident.hash();
        if !self.topics().any(|t| *t == hash) {
            // Warns (and changes nothing) if already enabled.
            self.enable_partials_for_topic(hash, true);
        }
        tracing::warn!(
            topic,
            chosen = peers.len(),
            "libp2p-gossipsub has no recipient list: publishing to its fanout peers instead"
        );
        libp2p_gossipsub::Behaviour::publish_partial(self, ident, Harness(group.clone()))
            .map_err(|e| e.to_string())?;
        Ok(None)
    }

    fn report_partial(&mut self, from: &PeerId, topic: &str, valid: bool) {
        // libp2p-gossipsub has no reward for useful parts.
        if !valid {
            self.report_invalid_partial(*from, &IdentTopic::new(topic).hash());
        }
    }

    fn received(event: Event) -> Option<Received<MessageId>> {
        match event {
            Event::Partial {
                topic_hash,
                peer_id,
                group_id,
                message,
                ..
            } => Some(Received::Partial {
                from: peer_id,
                topic: topic_hash.into_string(),
                group_id,
                parts: message,
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
            _ => None,
        }
    }

    fn tracing_layer() -> Option<Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>> {
        let only_gossipsub_debug = tracing_subscriber::filter::filter_fn(|m| {
            m.target().starts_with("libp2p_gossipsub") && *m.level() == tracing::Level::DEBUG
        });
        Some(Box::new(DuplicateLayer.with_filter(only_gossipsub_debug)))
    }

    fn diagnostics(&self, stage: &'static str) {
        let meshes: Vec<String> = self
            .topics()
            .map(|t| format!("{t}={}", self.mesh_peers(t).count()))
            .collect();
        tracing::info!(stage, meshes = %meshes.join(" "), "diagnostics");
    }
}

/// The harness' partial message as libp2p-gossipsub's `Partial`: metadata is the one-byte
/// bitmap of the parts held; a peer gets the parts it lacks once it told us what it holds.
pub struct Harness(pub PartialGroup);

/// A one-byte parts bitmap as libp2p-gossipsub `Metadata`; updates are unions.
#[derive(Debug)]
pub struct Bitmap([u8; 1]);

impl Metadata for Bitmap {
    fn as_slice(&self) -> &[u8] {
        &self.0
    }

    fn update(&mut self, data: &[u8]) -> Result<bool, PartialError> {
        let other = parse_bitmap(data).ok_or(PartialError::InvalidFormat)?;
        let merged = self.0[0] | other;
        let changed = merged != self.0[0];
        self.0[0] = merged;
        Ok(changed)
    }
}

impl Partial for Harness {
    fn group_id(&self) -> Vec<u8> {
        self.0.group_id_bytes().to_vec()
    }

    fn metadata(&self) -> Box<dyn Metadata> {
        Box::new(Bitmap([self.0.bitmap()]))
    }

    fn partial_action_from_metadata(
        &self,
        _peer_id: PeerId,
        metadata: Option<&[u8]>,
    ) -> Result<PartialAction, PartialError> {
        let Some(metadata) = metadata else {
            return Ok(PartialAction {
                need: false,
                send: None,
            });
        };
        let has = parse_bitmap(metadata).ok_or(PartialError::InvalidFormat)?;
        let mine = self.0.bitmap();
        Ok(PartialAction {
            need: has & !mine != 0,
            send: self
                .0
                .encode_for(has)
                .map(|parts| (parts, Box::new(Bitmap([has | mine])) as Box<dyn Metadata>)),
        })
    }
}

/// Logs `Received Message` for each duplicate libp2p-gossipsub reports in its debug log.
pub struct DuplicateLayer;

/// The `message` and `message_id` fields of an event.
#[derive(Default)]
struct Fields {
    message: String,
    message_id: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "message_id" => self.message_id = format!("{value:?}"),
            _ => {}
        }
    }
}

/// The harness id of a duplicate line's hex message id.
pub fn duplicate_log_id(hex: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    message_id_of(&bytes?)
}

impl<S: tracing::Subscriber> Layer<S> for DuplicateLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message != DUPLICATE_LINE {
            return;
        }
        match duplicate_log_id(&fields.message_id) {
            Some(id) => output::received(&id, None, None),
            None => tracing::warn!(id = %fields.message_id, "duplicate without a harness id"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_ids_decode() {
        let id = MessageId::from(&31u64.to_be_bytes()[..]);
        assert_eq!(duplicate_log_id(&id.to_string()).as_deref(), Some("31"));
        assert_eq!(duplicate_log_id("zz"), None);
        assert_eq!(duplicate_log_id("0102"), None);
    }

    #[test]
    fn harness_params_reach_the_config() {
        let params = GossipSubParams {
            d: Some(8),
            d_lo: Some(6),
            d_hi: Some(12),
            heartbeat_initial_delay: Some(100_400_000.0),
            ..Default::default()
        };
        let c = config(&params).build().unwrap();
        assert_eq!((c.mesh_n(), c.mesh_n_low(), c.mesh_n_high()), (8, 6, 12));
        assert_eq!(
            c.heartbeat_initial_delay(),
            std::time::Duration::from_micros(100_400)
        );
        assert!(c.validate_messages());
        assert_eq!(c.max_transmit_size(), MAX_MESSAGE_SIZE);
    }

    #[test]
    fn harness_partial_actions() {
        let peer = PeerId::random();
        let p = Harness(PartialGroup::filled(5, 0b0000_0110));
        assert_eq!(p.group_id(), 5u64.to_be_bytes().to_vec());
        assert_eq!(p.metadata().as_slice(), &[0b0000_0110]);
        let a = p.partial_action_from_metadata(peer, None).unwrap();
        assert!(!a.need && a.send.is_none());
        let a = p
            .partial_action_from_metadata(peer, Some(&[0b0000_1010]))
            .unwrap();
        assert!(a.need);
        let (parts, after) = a.send.unwrap();
        assert_eq!(parts[0], 0b0000_0100);
        assert_eq!(after.as_slice(), &[0b0000_1110]);
        let a = p
            .partial_action_from_metadata(peer, Some(&[0b0000_0110]))
            .unwrap();
        assert!(!a.need && a.send.is_none());
        assert!(p.partial_action_from_metadata(peer, Some(&[])).is_err());
        let mut m = Bitmap([1]);
        assert_eq!(m.update(&[1]), Ok(false));
        assert_eq!(m.update(&[2]), Ok(true));
        assert_eq!(m.as_slice(), &[3]);
        assert!(m.update(&[1, 2]).is_err());
    }
}
