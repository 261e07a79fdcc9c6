//! [`ConfigBuilder`]: setters for every [`Config`] value; `build` runs the checks of
//! `config/validate.rs`.

use std::{sync::Arc, time::Duration};

use libp2p_identity::PeerId;

use super::validate::{MIN_TRANSMIT_SIZE, validate};
use super::{Config, content_message_id, default_message_id};
use crate::authenticity::ValidationMode;
use crate::error::ConfigError;
use crate::types::{Message, MessageId, TopicHash};

/// The default [`ConfigBuilder::max_transmit_size`]: 64 KiB, libp2p-gossipsub's default. A
/// peer refuses any frame above its own limit (libp2p-gossipsub then closes our stream), so the
/// default is the smallest limit in common use: a network of default nodes of any
/// implementation then never sends a frame some default peer refuses.
const DEFAULT_MAX_TRANSMIT_SIZE: usize = 65_536;

/// The default [`ConfigBuilder::send_queue_bytes`]: 8 MiB per class and peer, i.e. 128 frames
/// of the default 64 KiB limit. A peer that reads nothing then costs at most 24 MiB (three
/// classes), and in practice far less: forwarded payloads are shared between all the queues
/// holding them. go bounds a peer's queue at 32 RPCs of up to 1 MiB (32 MiB).
const DEFAULT_SEND_QUEUE_BYTES: usize = 8 << 20;

/// Builds a [`Config`]. [`ConfigBuilder::default`] starts from the go-compatible defaults;
/// setters return `&mut Self` so that they can be chained, and [`build`](Self::build) checks the
/// result.
///
/// ```
/// use std::hash::{DefaultHasher, Hash, Hasher};
/// use std::time::Duration;
///
/// use gossipsub::{ConfigBuilder, ConfigError, Message, MessageId, ValidationMode};
///
/// let config = ConfigBuilder::default()
///     .mesh_n(8)
///     .mesh_n_low(6)
///     .mesh_n_high(12)
///     .heartbeat_interval(Duration::from_millis(700))
///     .max_transmit_size(1 << 20)
///     // Every received message waits for `report_message_validation_result`.
///     .validate_messages(true)
///     .validation_mode(ValidationMode::Strict)
///     // Two messages with the same data are the same message.
///     .message_id_fn(|message: &Message| {
///         let mut hasher = DefaultHasher::new();
///         message.data.hash(&mut hasher);
///         MessageId::new(hasher.finish().to_be_bytes().to_vec())
///     })
///     .build()?;
/// assert_eq!(config.mesh_n(), 8);
///
/// // Inconsistent values are refused with the offending field named.
/// let error = ConfigBuilder::default().mesh_n(4).mesh_n_low(6).build().unwrap_err();
/// assert!(matches!(error, ConfigError::InvalidField { .. }), "{error}");
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    pub(super) config: Config,
}

impl Default for ConfigBuilder {
    /// Starts from the go-compatible defaults documented on each [`Config`] getter.
    fn default() -> Self {
        let config = Config {
            mesh_n: 6,
            mesh_n_low: 5,
            mesh_n_high: 12,
            retain_scores: 4,
            mesh_outbound_min: 2,
            gossip_lazy: 6,
            gossip_factor: 0.25,
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_initial_delay: Duration::from_millis(100),
            fanout_ttl: Duration::from_secs(60),
            history_length: 5,
            history_gossip: 3,
            seen_ttl: Duration::from_secs(120),
            max_cache_bytes: 256 << 20,
            max_seen_bytes: 128 << 20,
            max_transmit_size: DEFAULT_MAX_TRANSMIT_SIZE,
            max_ihave_length: 5000,
            max_ihave_messages: 10,
            gossip_retransmission: 3,
            iwant_followup_time: Duration::from_secs(3),
            idontwant_message_size_threshold: 1024,
            max_idontwant_messages: 1000,
            idontwant_on_publish: false,
            test_extension: false,
            flood_publish: true,
            validation_mode: ValidationMode::Strict,
            validate_messages: false,
            report_duplicates: false,
            message_id_fn: Arc::new(default_message_id),
            message_id_fns_by_topic: Default::default(),
            invalid_message_id_fn: Arc::new(content_message_id),
            invalid_message_id_fns_by_topic: Default::default(),
            allow_self_origin: false,
            support_floodsub: false,
            prune_backoff: Duration::from_secs(60),
            unsubscribe_backoff: Duration::from_secs(10),
            backoff_slack: 1,
            graft_flood_threshold: Duration::from_secs(10),
            max_retained_backoffs: 10_000,
            opportunistic_graft_ticks: 60,
            opportunistic_graft_peers: 2,
            do_px: false,
            prune_peers: 16,
            max_px_dials: 16,
            px_dial_unsigned: false,
            direct_peers: Vec::new(),
            direct_connect_ticks: 300,
            max_topics_per_peer: 100,
            max_messages_per_rpc: Some(5000),
            max_subscriptions_per_rpc: 1000,
            max_topic_len: 256,
            max_peer_record_size: 4096,
            max_peer_record_addresses: 16,
            max_px_records_per_heartbeat: 16,
            max_pending_px_dials: 128,
            max_signature_checks_per_heartbeat: 1024,
            max_message_bytes_per_peer_per_heartbeat: 8 << 20,
            max_invalid_signatures: 16,
            max_message_id_len: 100,
            max_control_entries_per_rpc: 1000,
            max_control_bytes_per_rpc: 1 << 20,
            max_px_peers_per_rpc: 256,
            send_queue_size: 5000,
            send_queue_bytes: DEFAULT_SEND_QUEUE_BYTES,
            forward_queue_duration: Duration::from_secs(1),
            publish_queue_duration: Duration::from_secs(5),
            per_topic: Default::default(),
            protocol_id_prefix: super::DEFAULT_PROTOCOL_ID_PREFIX.to_owned(),
            max_protocol: crate::types::PeerKind::Gossipsubv1_3,
            message_id_len: None,
        };
        ConfigBuilder { config }
    }
}

impl ConfigBuilder {
    /// A builder starting from `config`'s values.
    pub(crate) fn from_config(config: Config) -> Self {
        ConfigBuilder { config }
    }

    /// Sets D, the target mesh size per topic ([`Config::mesh_n`]). Default 6.
    pub fn mesh_n(&mut self, mesh_n: usize) -> &mut Self {
        self.config.mesh_n = mesh_n;
        self
    }

    /// Sets D_lo, the mesh size below which peers are grafted ([`Config::mesh_n_low`]).
    /// Default 5.
    pub fn mesh_n_low(&mut self, mesh_n_low: usize) -> &mut Self {
        self.config.mesh_n_low = mesh_n_low;
        self
    }

    /// Sets D_hi, the mesh size above which peers are pruned ([`Config::mesh_n_high`]).
    /// Default 12.
    pub fn mesh_n_high(&mut self, mesh_n_high: usize) -> &mut Self {
        self.config.mesh_n_high = mesh_n_high;
        self
    }

    /// Sets D_score, the best-scoring peers kept when pruning ([`Config::retain_scores`]).
    /// Default 4.
    pub fn retain_scores(&mut self, retain_scores: usize) -> &mut Self {
        self.config.retain_scores = retain_scores;
        self
    }

    /// Sets D_out, the minimum outbound peers per mesh ([`Config::mesh_outbound_min`]).
    /// Default 2.
    pub fn mesh_outbound_min(&mut self, mesh_outbound_min: usize) -> &mut Self {
        self.config.mesh_outbound_min = mesh_outbound_min;
        self
    }

    /// Sets D_lazy, the minimum gossip targets per topic and heartbeat
    /// ([`Config::gossip_lazy`]). Default 6.
    pub fn gossip_lazy(&mut self, gossip_lazy: usize) -> &mut Self {
        self.config.gossip_lazy = gossip_lazy;
        self
    }

    /// Sets the gossip factor, the share of non-mesh peers gossiped to
    /// ([`Config::gossip_factor`]). Must be in `0.0..=1.0`. Default 0.25.
    pub fn gossip_factor(&mut self, gossip_factor: f64) -> &mut Self {
        self.config.gossip_factor = gossip_factor;
        self
    }

    /// Sets the spec's heartbeat_interval ([`Config::heartbeat_interval`]). Must not be zero.
    /// Default 1 s.
    pub fn heartbeat_interval(&mut self, interval: Duration) -> &mut Self {
        self.config.heartbeat_interval = interval;
        self
    }

    /// Sets the delay before the first heartbeat ([`Config::heartbeat_initial_delay`]; not in
    /// the spec). Default 100 ms.
    pub fn heartbeat_initial_delay(&mut self, delay: Duration) -> &mut Self {
        self.config.heartbeat_initial_delay = delay;
        self
    }

    /// Sets the spec's fanout_ttl ([`Config::fanout_ttl`]). Must not be zero. Default 60 s.
    pub fn fanout_ttl(&mut self, ttl: Duration) -> &mut Self {
        self.config.fanout_ttl = ttl;
        self
    }

    /// Sets mcache_len, the heartbeat windows kept in the message cache
    /// ([`Config::history_length`]). At least 1, at most 10,000 (the cache allocates one
    /// window per heartbeat up front). Default 5.
    pub fn history_length(&mut self, history_length: usize) -> &mut Self {
        self.config.history_length = history_length;
        self
    }

    /// Sets mcache_gossip, the windows advertised in IHAVE ([`Config::history_gossip`]).
    /// Between 1 and mcache_len. Default 3.
    pub fn history_gossip(&mut self, history_gossip: usize) -> &mut Self {
        self.config.history_gossip = history_gossip;
        self
    }

    /// Sets the bound on the message cache in bytes ([`Config::max_cache_bytes`]; not in the
    /// spec). At least 1. Default 256 MiB.
    pub fn max_cache_bytes(&mut self, max: usize) -> &mut Self {
        self.config.max_cache_bytes = max;
        self
    }

    /// Sets the bound on the seen cache in bytes ([`Config::max_seen_bytes`]; not in the
    /// spec). At least 1. Default 128 MiB.
    pub fn max_seen_bytes(&mut self, max: usize) -> &mut Self {
        self.config.max_seen_bytes = max;
        self
    }

    /// Sets the spec's seen_ttl, how long seen message ids are remembered
    /// ([`Config::seen_ttl`]). Must not be zero. Default 120 s.
    pub fn seen_ttl(&mut self, ttl: Duration) -> &mut Self {
        self.config.seen_ttl = ttl;
        self
    }

    /// Sets the maximum encoded RPC size in bytes, in and out ([`Config::max_transmit_size`];
    /// not in the spec). At least 128. Default 64 KiB (65 536), libp2p-gossipsub's default.
    pub fn max_transmit_size(&mut self, max_transmit_size: usize) -> &mut Self {
        self.config.max_transmit_size = max_transmit_size;
        self
    }

    /// Sets the maximum ids per IHAVE and per peer's IWANT budget per heartbeat
    /// ([`Config::max_ihave_length`]; go's MaxIHaveLength). At least 1. Default 5000.
    pub fn max_ihave_length(&mut self, max_ihave_length: usize) -> &mut Self {
        self.config.max_ihave_length = max_ihave_length;
        self
    }

    /// Sets the IHAVE messages accepted per peer and heartbeat
    /// ([`Config::max_ihave_messages`]; go's MaxIHaveMessages). Default 10.
    pub fn max_ihave_messages(&mut self, max_ihave_messages: usize) -> &mut Self {
        self.config.max_ihave_messages = max_ihave_messages;
        self
    }

    /// Sets how often one peer may IWANT the same message
    /// ([`Config::gossip_retransmission`]; go's GossipRetransmission). Default 3.
    pub fn gossip_retransmission(&mut self, retransmission: u32) -> &mut Self {
        self.config.gossip_retransmission = retransmission;
        self
    }

    /// Sets the time allowed to answer our IWANT ([`Config::iwant_followup_time`]; go's
    /// IWantFollowupTime). Default 3 s.
    pub fn iwant_followup_time(&mut self, time: Duration) -> &mut Self {
        self.config.iwant_followup_time = time;
        self
    }

    /// Sets the message size from which IDONTWANT is sent
    /// ([`Config::idontwant_message_size_threshold`]; v1.2 spec). Default 1024.
    pub fn idontwant_message_size_threshold(&mut self, size: usize) -> &mut Self {
        self.config.idontwant_message_size_threshold = size;
        self
    }

    /// Sets the IDONTWANT ids accepted per peer and heartbeat
    /// ([`Config::max_idontwant_messages`]; v1.2 spec). Default 1000.
    pub fn max_idontwant_messages(&mut self, max: usize) -> &mut Self {
        self.config.max_idontwant_messages = max;
        self
    }

    /// Sets whether IDONTWANT is also sent for large messages we publish
    /// ([`Config::idontwant_on_publish`]; v1.2 spec). Default false.
    pub fn idontwant_on_publish(&mut self, enabled: bool) -> &mut Self {
        self.config.idontwant_on_publish = enabled;
        self
    }

    /// Sets whether we announce the meshsub 1.3 test extension
    /// ([`Config::test_extension`]). Default false.
    pub fn test_extension(&mut self, enabled: bool) -> &mut Self {
        self.config.test_extension = enabled;
        self
    }

    /// Sets whether each duplicate is reported as an [`Event::Duplicate`](crate::Event::Duplicate)
    /// ([`Config::report_duplicates`]). Default false.
    pub fn report_duplicates(&mut self, enabled: bool) -> &mut Self {
        self.config.report_duplicates = enabled;
        self
    }

    /// Sets flood publishing ([`Config::flood_publish`]; v1.1 spec FloodPublish). Default true.
    pub fn flood_publish(&mut self, enabled: bool) -> &mut Self {
        self.config.flood_publish = enabled;
        self
    }

    /// Sets how received messages' authenticity is checked, the spec's signature policy
    /// ([`Config::validation_mode`]). Default [`ValidationMode::Strict`].
    pub fn validation_mode(&mut self, mode: ValidationMode) -> &mut Self {
        self.config.validation_mode = mode;
        self
    }

    /// Sets whether messages wait for the application's verdict before being forwarded
    /// ([`Config::validate_messages`]; v1.1 spec accept/reject/ignore). Default false.
    pub fn validate_messages(&mut self, enabled: bool) -> &mut Self {
        self.config.validate_messages = enabled;
        self
    }

    /// Sets the message id function ([`Config::message_id_fn`]). Default: base58(source) ++
    /// decimal(seqno) for authored messages, else the first 20 bytes of SHA-256(u64le(len(topic)) ++ topic ++ data).
    pub fn message_id_fn<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn(&Message) -> MessageId + Send + Sync + 'static,
    {
        self.config.message_id_fn = Arc::new(f);
        self
    }

    /// Sets the message id function of one topic, used instead of
    /// [`message_id_fn`](Self::message_id_fn) for messages on `topic` (for example Ethereum
    /// topics of the phase 0 fork, whose ids omit the topic). Default: none.
    pub fn message_id_fn_for_topic<F>(&mut self, topic: impl Into<TopicHash>, f: F) -> &mut Self
    where
        F: Fn(&Message) -> MessageId + Send + Sync + 'static,
    {
        self.config
            .message_id_fns_by_topic
            .insert(topic.into(), Arc::new(f));
        self
    }

    /// Sets the id function for messages whose inbound [data transform](crate::DataTransform)
    /// failed ([`Config::invalid_message_id_fn`]); it sees the wire data. Default: the first
    /// 20 bytes of SHA-256(u64le(len(topic)) ++ topic ++ wire data).
    pub fn invalid_message_id_fn<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn(&Message) -> MessageId + Send + Sync + 'static,
    {
        self.config.invalid_message_id_fn = Arc::new(f);
        self
    }

    /// Sets the id function for messages on `topic` whose inbound transform failed, used
    /// instead of [`invalid_message_id_fn`](Self::invalid_message_id_fn). Default: none.
    pub fn invalid_message_id_fn_for_topic<F>(
        &mut self,
        topic: impl Into<TopicHash>,
        f: F,
    ) -> &mut Self
    where
        F: Fn(&Message) -> MessageId + Send + Sync + 'static,
    {
        self.config
            .invalid_message_id_fns_by_topic
            .insert(topic.into(), Arc::new(f));
        self
    }

    /// Sets whether our own messages coming back from peers are accepted
    /// ([`Config::allow_self_origin`]; not in the spec). Default false.
    pub fn allow_self_origin(&mut self, allow: bool) -> &mut Self {
        self.config.allow_self_origin = allow;
        self
    }

    /// Sets whether `/floodsub/1.0.0` is advertised and served ([`Config::support_floodsub`];
    /// floodsub compatibility in the spec). Default false.
    pub fn support_floodsub(&mut self, enabled: bool) -> &mut Self {
        self.config.support_floodsub = enabled;
        self
    }

    /// Sets the backoff advertised in PRUNE ([`Config::prune_backoff`]; v1.1 spec
    /// PruneBackoff). At least one heartbeat interval. Default 60 s.
    pub fn prune_backoff(&mut self, backoff: Duration) -> &mut Self {
        self.config.prune_backoff = backoff;
        self
    }

    /// Sets the backoff advertised when we leave a topic ([`Config::unsubscribe_backoff`];
    /// v1.1 spec). Default 10 s.
    pub fn unsubscribe_backoff(&mut self, backoff: Duration) -> &mut Self {
        self.config.unsubscribe_backoff = backoff;
        self
    }

    /// Sets the extra heartbeats waited after a backoff expires ([`Config::backoff_slack`];
    /// not in the spec). Default 1.
    pub fn backoff_slack(&mut self, heartbeats: u32) -> &mut Self {
        self.config.backoff_slack = heartbeats;
        self
    }

    /// Sets the window in which an early GRAFT is penalised extra
    /// ([`Config::graft_flood_threshold`]; v1.1 spec GraftFloodThreshold). Default 10 s.
    pub fn graft_flood_threshold(&mut self, threshold: Duration) -> &mut Self {
        self.config.graft_flood_threshold = threshold;
        self
    }

    /// Sets the most backoff entries kept for disconnected peers
    /// ([`Config::max_retained_backoffs`]; not in the spec). Default 10 000.
    pub fn max_retained_backoffs(&mut self, max: usize) -> &mut Self {
        self.config.max_retained_backoffs = max;
        self
    }

    /// Sets the heartbeats between opportunistic grafting rounds
    /// ([`Config::opportunistic_graft_ticks`]; v1.1 spec). At least 1. Default 60.
    pub fn opportunistic_graft_ticks(&mut self, ticks: u64) -> &mut Self {
        self.config.opportunistic_graft_ticks = ticks;
        self
    }

    /// Sets the peers grafted per opportunistic grafting round
    /// ([`Config::opportunistic_graft_peers`]; v1.1 spec). Default 2.
    pub fn opportunistic_graft_peers(&mut self, peers: usize) -> &mut Self {
        self.config.opportunistic_graft_peers = peers;
        self
    }

    /// Sets whether PRUNEs carry peer exchange ([`Config::do_px`]; v1.1 spec PX).
    /// Default false.
    pub fn do_px(&mut self, enabled: bool) -> &mut Self {
        self.config.do_px = enabled;
        self
    }

    /// Sets the peers offered per PRUNE's peer exchange ([`Config::prune_peers`]; v1.1 spec
    /// PrunePeers). Default 16.
    pub fn prune_peers(&mut self, peers: usize) -> &mut Self {
        self.config.prune_peers = peers;
        self
    }

    /// Sets how many peers offered by one PRUNE we dial at most, which also caps the pending
    /// dials one peer's PX may have started ([`Config::max_px_dials`]). Default 16.
    pub fn max_px_dials(&mut self, dials: usize) -> &mut Self {
        self.config.max_px_dials = dials;
        self
    }

    /// Sets whether PX peers without a signed record are dialled by peer id alone
    /// ([`Config::px_dial_unsigned`]). Default false.
    pub fn px_dial_unsigned(&mut self, enabled: bool) -> &mut Self {
        self.config.px_dial_unsigned = enabled;
        self
    }

    /// Replaces the direct (explicit) peers ([`Config::direct_peers`]; v1.1 spec explicit
    /// peering). Default none.
    pub fn direct_peers(&mut self, peers: impl IntoIterator<Item = PeerId>) -> &mut Self {
        self.config.direct_peers = peers.into_iter().collect();
        self
    }

    /// Adds one direct (explicit) peer ([`Config::direct_peers`]; v1.1 spec explicit peering).
    /// Default none.
    pub fn add_direct_peer(&mut self, peer: PeerId) -> &mut Self {
        self.config.direct_peers.push(peer);
        self
    }

    /// Sets the heartbeats between reconnection attempts to direct peers
    /// ([`Config::direct_connect_ticks`]; go's DirectConnectTicks). At least 1. Default 300.
    pub fn direct_connect_ticks(&mut self, ticks: u64) -> &mut Self {
        self.config.direct_connect_ticks = ticks;
        self
    }

    /// Sets the subscriptions a remote peer may hold with us
    /// ([`Config::max_topics_per_peer`]; not in the spec). At least 1. Default 100.
    pub fn max_topics_per_peer(&mut self, max: usize) -> &mut Self {
        self.config.max_topics_per_peer = max;
        self
    }

    /// Sets the messages decoded per received RPC ([`Config::max_messages_per_rpc`]; not in
    /// the spec). `Some(0)` is refused. Default `Some(5000)`.
    pub fn max_messages_per_rpc(&mut self, max: Option<usize>) -> &mut Self {
        self.config.max_messages_per_rpc = max;
        self
    }

    /// Sets the subscription changes processed per received RPC
    /// ([`Config::max_subscriptions_per_rpc`]; not in the spec). At least 1. Default 1000.
    pub fn max_subscriptions_per_rpc(&mut self, max: usize) -> &mut Self {
        self.config.max_subscriptions_per_rpc = max;
        self
    }

    /// Sets the longest topic accepted from the wire ([`Config::max_topic_len`]; not in the
    /// spec). At least 1. Default 256.
    pub fn max_topic_len(&mut self, max: usize) -> &mut Self {
        self.config.max_topic_len = max;
        self
    }

    /// Sets the largest signed peer record taken ([`Config::max_peer_record_size`]; not in
    /// the spec). At least 1. Default 4096.
    pub fn max_peer_record_size(&mut self, max: usize) -> &mut Self {
        self.config.max_peer_record_size = max;
        self
    }

    /// Sets the most addresses of a signed peer record ([`Config::max_peer_record_addresses`];
    /// not in the spec). At least 1. Default 16.
    pub fn max_peer_record_addresses(&mut self, max: usize) -> &mut Self {
        self.config.max_peer_record_addresses = max;
        self
    }

    /// Sets the peer-exchange entries taken per peer and heartbeat
    /// ([`Config::max_px_records_per_heartbeat`]; not in the spec). Default 16.
    pub fn max_px_records_per_heartbeat(&mut self, max: usize) -> &mut Self {
        self.config.max_px_records_per_heartbeat = max;
        self
    }

    /// Sets the bound on outstanding peer-exchange dials ([`Config::max_pending_px_dials`];
    /// not in the spec). Default 128.
    pub fn max_pending_px_dials(&mut self, max: usize) -> &mut Self {
        self.config.max_pending_px_dials = max;
        self
    }

    /// Sets the signature verification work per peer and heartbeat, in Ed25519 verifications
    /// ([`Config::max_signature_checks_per_heartbeat`]; not in the spec). At least 1.
    /// Default 1024.
    pub fn max_signature_checks_per_heartbeat(&mut self, max: usize) -> &mut Self {
        self.config.max_signature_checks_per_heartbeat = max;
        self
    }

    /// Sets the bytes of new messages taken from one peer per heartbeat
    /// ([`Config::max_message_bytes_per_peer_per_heartbeat`]; not in the spec), partial
    /// messages' parts and metadata included. At least 1. Default 8 MiB.
    pub fn max_message_bytes_per_peer_per_heartbeat(&mut self, max: usize) -> &mut Self {
        self.config.max_message_bytes_per_peer_per_heartbeat = max;
        self
    }

    /// Sets the invalid-signature count at which a peer is graylisted
    /// ([`Config::max_invalid_signatures`]; not in the spec). At least 1. Default 16.
    pub fn max_invalid_signatures(&mut self, max: u32) -> &mut Self {
        self.config.max_invalid_signatures = max;
        self
    }

    /// Sets the longest message id accepted in gossip ([`Config::max_message_id_len`]; not in
    /// the spec). At least 1. Default 100.
    pub fn max_message_id_len(&mut self, max: usize) -> &mut Self {
        self.config.max_message_id_len = max;
        self
    }

    /// Sets the control entries decoded per type per received RPC
    /// ([`Config::max_control_entries_per_rpc`]; not in the spec). At least 1. Default 1000.
    pub fn max_control_entries_per_rpc(&mut self, max: usize) -> &mut Self {
        self.config.max_control_entries_per_rpc = max;
        self
    }

    /// Sets the control bytes decoded per received RPC
    /// ([`Config::max_control_bytes_per_rpc`]; not in the spec). At least 1. Default 1 MiB.
    pub fn max_control_bytes_per_rpc(&mut self, max: usize) -> &mut Self {
        self.config.max_control_bytes_per_rpc = max;
        self
    }

    /// Sets the peer-exchange entries decoded per received RPC
    /// ([`Config::max_px_peers_per_rpc`]; not in the spec). Default 256; 0 ignores all PX.
    pub fn max_px_peers_per_rpc(&mut self, max: usize) -> &mut Self {
        self.config.max_px_peers_per_rpc = max;
        self
    }

    /// Sets the bound on RPCs of each class queued per peer ([`Config::send_queue_size`]; not
    /// in the spec). At least 1. Default 5000.
    pub fn send_queue_size(&mut self, size: usize) -> &mut Self {
        self.config.send_queue_size = size;
        self
    }

    /// Sets the bound in bytes on each class of RPCs queued per peer
    /// ([`Config::send_queue_bytes`]; not in the spec). At least 1. Default 8 MiB.
    pub fn send_queue_bytes(&mut self, bytes: usize) -> &mut Self {
        self.config.send_queue_bytes = bytes;
        self
    }

    /// Sets the age at which a queued forward is dropped
    /// ([`Config::forward_queue_duration`]; not in the spec). Default 1 s.
    pub fn forward_queue_duration(&mut self, duration: Duration) -> &mut Self {
        self.config.forward_queue_duration = duration;
        self
    }

    /// Sets the age at which a queued publish is dropped
    /// ([`Config::publish_queue_duration`]; not in the spec). Default 5 s.
    pub fn publish_queue_duration(&mut self, duration: Duration) -> &mut Self {
        self.config.publish_queue_duration = duration;
        self
    }

    /// Checks the values and returns the [`Config`].
    ///
    /// The checks run in this order and the first failure is returned as
    /// [`ConfigError::InvalidField`] naming the setter of the offending value:
    /// `mesh_n_low` (at least 1, at most `mesh_n`), `mesh_n_high` (at least `mesh_n`),
    /// `retain_scores` (at most `mesh_n_high`), `mesh_outbound_min` (below `mesh_n_low` and at
    /// most `mesh_n / 2`, the spec's D_out rules) — except that the bootstrapper setup, with
    /// `mesh_n`, `mesh_n_low`, `mesh_n_high` and `mesh_outbound_min` all 0 (and so
    /// `retain_scores` 0), is accepted — then `gossip_factor` (in `0.0..=1.0`),
    /// `history_length` (1 to 10,000), `history_gossip` (1 to `history_length`),
    /// `max_cache_bytes` and `max_seen_bytes` (at least 1),
    /// `heartbeat_interval`, `seen_ttl` and `fanout_ttl` (not zero), `max_transmit_size` (at
    /// least 128), `max_ihave_length`, `send_queue_size`, `send_queue_bytes`,
    /// `opportunistic_graft_ticks`, `direct_connect_ticks` (at least 1), `prune_backoff` (at
    /// least `heartbeat_interval`), `max_messages_per_rpc` (not `Some(0)`),
    /// `max_subscriptions_per_rpc`, `max_topics_per_peer`, `max_topic_len`,
    /// `max_peer_record_size`, `max_peer_record_addresses`, `max_signature_checks_per_heartbeat`
    /// and `max_invalid_signatures` (at least 1). Right after the zero checks, every duration
    /// (and `backoff_slack` heartbeats) must be at most one year, so that adding it to an
    /// `Instant` cannot overflow.
    pub fn build(&self) -> Result<Config, ConfigError> {
        validate(&self.config)?;
        super::topics::validate(&self.config, MIN_TRANSMIT_SIZE)?;
        Ok(self.config.clone())
    }
}

#[cfg(test)]
#[path = "builder_tests.rs"]
mod tests;
