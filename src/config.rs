//! Router and behaviour configuration: [`Config`], built and checked by [`ConfigBuilder`].
//!
//! The defaults follow go-libp2p-pubsub, the reference implementation, so that a node with a
//! default configuration behaves like most of the network around it. Parameter names from the
//! specs (`D`, `D_lo`, `mcache_len`, ...) are given in the documentation of each getter.
//!
//! The builder lives in `config/builder.rs`, the presets in `config/presets.rs`.

mod builder;
mod compat;
mod debug;
mod message_id;
mod presets;
#[cfg(test)]
mod tests_bounds;
mod topics;
mod validate;

use std::{collections::HashMap, sync::Arc, time::Duration};

use libp2p_identity::PeerId;

pub use builder::ConfigBuilder;
use message_id::{content_message_id, default_message_id};
pub use topics::{DEFAULT_PROTOCOL_ID_PREFIX, TopicMeshConfig};

use crate::authenticity::{MessageAuthenticity, ValidationMode};
use crate::error::ConfigError;
use crate::types::{Message, MessageId, TopicHash};

/// Computes the [`MessageId`] of a message. Two messages with the same id are treated as the
/// same message (duplicates are dropped), so every node of a network must use the same function.
pub type MessageIdFn = Arc<dyn Fn(&Message) -> MessageId + Send + Sync + 'static>;

/// The checked configuration of the router and the behaviour.
///
/// Create one with [`Config::default`], a preset such as [`Config::ethereum`], or a
/// [`ConfigBuilder`]. Every value has a getter of the same name; its documentation gives the
/// spec name and the default.
///
/// ```
/// use std::time::Duration;
///
/// use gossipsub::{Config, ConfigBuilder};
///
/// let default = Config::default();
/// assert_eq!(default.mesh_n(), 6);
/// assert_eq!(default.heartbeat_interval(), Duration::from_secs(1));
///
/// let tuned = ConfigBuilder::default()
///     .heartbeat_interval(Duration::from_millis(700))
///     .build()?;
/// assert_eq!(tuned.heartbeat_interval(), Duration::from_millis(700));
/// # Ok::<(), gossipsub::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Config {
    // Mesh degrees.
    mesh_n: usize,
    mesh_n_low: usize,
    mesh_n_high: usize,
    retain_scores: usize,
    mesh_outbound_min: usize,
    gossip_lazy: usize,
    gossip_factor: f64,
    // Timing and caches.
    heartbeat_interval: Duration,
    heartbeat_initial_delay: Duration,
    fanout_ttl: Duration,
    history_length: usize,
    history_gossip: usize,
    seen_ttl: Duration,
    max_cache_bytes: usize,
    max_seen_bytes: usize,
    // Size and gossip limits.
    max_transmit_size: usize,
    max_ihave_length: usize,
    max_ihave_messages: usize,
    gossip_retransmission: u32,
    iwant_followup_time: Duration,
    idontwant_message_size_threshold: usize,
    max_idontwant_messages: usize,
    idontwant_on_publish: bool,
    // meshsub 1.3 extensions.
    test_extension: bool,
    // Publishing and validation.
    flood_publish: bool,
    validation_mode: ValidationMode,
    validate_messages: bool,
    report_duplicates: bool,
    message_id_fn: MessageIdFn,
    message_id_fns_by_topic: HashMap<TopicHash, MessageIdFn>,
    invalid_message_id_fn: MessageIdFn,
    invalid_message_id_fns_by_topic: HashMap<TopicHash, MessageIdFn>,
    allow_self_origin: bool,
    support_floodsub: bool,
    // Backoff, grafting and peer exchange.
    prune_backoff: Duration,
    unsubscribe_backoff: Duration,
    backoff_slack: u32,
    graft_flood_threshold: Duration,
    max_retained_backoffs: usize,
    opportunistic_graft_ticks: u64,
    opportunistic_graft_peers: usize,
    do_px: bool,
    prune_peers: usize,
    max_px_dials: usize,
    px_dial_unsigned: bool,
    // Direct (explicit) peers.
    direct_peers: Vec<PeerId>,
    direct_connect_ticks: u64,
    // Limits on what remote peers may send us.
    max_topics_per_peer: usize,
    max_messages_per_rpc: Option<usize>,
    max_subscriptions_per_rpc: usize,
    // Router bounds on remote input: topics, peer exchange, signature checks.
    max_topic_len: usize,
    max_peer_record_size: usize,
    max_peer_record_addresses: usize,
    max_px_records_per_heartbeat: usize,
    max_pending_px_dials: usize,
    max_signature_checks_per_heartbeat: usize,
    max_message_bytes_per_peer_per_heartbeat: usize,
    max_invalid_signatures: u32,
    // Per-RPC decode limits (wire edge).
    max_message_id_len: usize,
    max_control_entries_per_rpc: usize,
    max_control_bytes_per_rpc: usize,
    max_px_peers_per_rpc: usize,
    // Outbound queues.
    send_queue_size: usize,
    send_queue_bytes: usize,
    forward_queue_duration: Duration,
    publish_queue_duration: Duration,
    // Per-topic degrees and sizes, protocol ids, message-id length (config/topics.rs).
    per_topic: topics::PerTopic,
    protocol_id_prefix: String,
    max_protocol: crate::types::PeerKind,
    message_id_len: Option<usize>,
}

impl Config {
    /// D in the spec: the number of peers we aim to have in the mesh of each topic. Default 6.
    pub fn mesh_n(&self) -> usize {
        self.mesh_n
    }

    /// D_lo in the spec: when a mesh has fewer peers, the heartbeat grafts more, up to D.
    /// Default 5 (go's value; the spec suggests 4).
    pub fn mesh_n_low(&self) -> usize {
        self.mesh_n_low
    }

    /// D_hi in the spec: when a mesh has more peers, the heartbeat prunes it back to D.
    /// Default 12.
    pub fn mesh_n_high(&self) -> usize {
        self.mesh_n_high
    }

    /// D_score in the spec: how many of the best-scoring peers are kept when an oversubscribed
    /// mesh is pruned (the rest are chosen at random). Default 4.
    pub fn retain_scores(&self) -> usize {
        self.retain_scores
    }

    /// D_out in the spec: the minimum number of outbound peers (connections we opened) kept in
    /// each mesh. Default 2.
    pub fn mesh_outbound_min(&self) -> usize {
        self.mesh_outbound_min
    }

    /// D_lazy in the spec: the minimum number of non-mesh peers that receive IHAVE gossip per
    /// topic and heartbeat. Default 6.
    pub fn gossip_lazy(&self) -> usize {
        self.gossip_lazy
    }

    /// Gossip factor (v1.1 adaptive gossip): the fraction of eligible non-mesh peers that receive
    /// IHAVE gossip per heartbeat, when that is more than D_lazy. Default 0.25.
    pub fn gossip_factor(&self) -> f64 {
        self.gossip_factor
    }

    /// heartbeat_interval in the spec: the period of mesh maintenance and gossip emission.
    /// Default 1 s.
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// Delay before the first heartbeat (go's HeartbeatInitialDelay; not in the spec).
    /// Default 100 ms.
    pub fn heartbeat_initial_delay(&self) -> Duration {
        self.heartbeat_initial_delay
    }

    /// fanout_ttl in the spec: how long the fanout peers of a topic we publish to without being
    /// subscribed are kept after our last publish there. Default 60 s.
    pub fn fanout_ttl(&self) -> Duration {
        self.fanout_ttl
    }

    /// mcache_len in the spec: the number of heartbeat windows the message cache keeps, i.e. how
    /// long a message can still be served in answer to IWANT. Default 5.
    pub fn history_length(&self) -> usize {
        self.history_length
    }

    /// mcache_gossip in the spec: the number of most recent history windows advertised in IHAVE
    /// gossip. Default 3.
    pub fn history_gossip(&self) -> usize {
        self.history_gossip
    }

    /// seen_ttl in the spec: how long the id of a seen message is remembered so that
    /// duplicates are dropped (libp2p-gossipsub calls it `duplicate_cache_time`). Default 120 s.
    pub fn seen_ttl(&self) -> Duration {
        self.seen_ttl
    }

    /// Bound on the message cache, in bytes: each message is charged its encoded size, its id
    /// and about 640 bytes of bookkeeping until its window is dropped; past the bound the
    /// oldest messages are dropped first (counter `mcache_evicted`). Not a spec parameter: the
    /// cache is otherwise bounded only by `history_length` heartbeats times the inbound rate,
    /// which nothing limits in the anonymous modes. Default 256 MiB.
    pub fn max_cache_bytes(&self) -> usize {
        self.max_cache_bytes
    }

    /// Bound on the seen cache, in bytes: each id is charged its length and 208 bytes of
    /// bookkeeping; past the bound the oldest ids are forgotten before their `seen_ttl`
    /// (counter `seen_evicted`), so a late duplicate of a forgotten message would be taken
    /// as new. Not a spec parameter. Default 128 MiB: about 480,000 ids of 72 bytes, some
    /// 4,000 new messages per second sustained over the default 120 s `seen_ttl` (the Ethereum
    /// preset sets 512 MiB for its 768 s).
    pub fn max_seen_bytes(&self) -> usize {
        self.max_seen_bytes
    }

    /// Maximum size in bytes of one encoded RPC, both sent and received (not a spec
    /// parameter). Default 64 KiB (65 536), libp2p-gossipsub's default and the smallest in
    /// common use (go, py: 1 MiB; js: 4 MiB): a peer closes our stream on a frame above its
    /// limit, so raise it only when every peer accepts more.
    pub fn max_transmit_size(&self) -> usize {
        self.max_transmit_size
    }

    /// Maximum number of message ids advertised in one IHAVE, and the most ids we request
    /// through IWANT from one peer per heartbeat (go's MaxIHaveLength; v1.1 spec gossip
    /// limits). Also the most IHAVE ids, and the most IWANT ids, decoded from one received RPC
    /// (the rest are skipped and counted); outgoing RPCs are split to stay within it. Default
    /// 5000.
    pub fn max_ihave_length(&self) -> usize {
        self.max_ihave_length
    }

    /// Maximum number of IHAVE messages accepted from one peer per heartbeat; more are ignored
    /// (go's MaxIHaveMessages; v1.1 spec gossip limits). Default 10.
    pub fn max_ihave_messages(&self) -> usize {
        self.max_ihave_messages
    }

    /// How many times one peer may request the same message through IWANT before further
    /// requests are ignored (go's GossipRetransmission; not in the spec). Default 3.
    pub fn gossip_retransmission(&self) -> u32 {
        self.gossip_retransmission
    }

    /// How long a peer has to deliver a message we requested with IWANT after its IHAVE before
    /// the broken promise is penalised (go's IWantFollowupTime; v1.1 spec P7). Default 3 s.
    pub fn iwant_followup_time(&self) -> Duration {
        self.iwant_followup_time
    }

    /// Messages whose encoded size is at least this many bytes trigger IDONTWANT to our mesh
    /// peers (v1.2 spec; go's IDontWantMessageThreshold). Default 1024.
    pub fn idontwant_message_size_threshold(&self) -> usize {
        self.idontwant_message_size_threshold
    }

    /// Maximum number of message ids accepted from one peer in IDONTWANT per heartbeat; more
    /// are ignored (v1.2 spec; go's MaxIDontWantMessages). Also the most IDONTWANT ids decoded
    /// from one received RPC. A duplicate received from a peer counts as its IDONTWANT for that
    /// message and shares this allowance. Default 1000.
    pub fn max_idontwant_messages(&self) -> usize {
        self.max_idontwant_messages
    }

    /// Whether we also send IDONTWANT for large messages (at least
    /// [`idontwant_message_size_threshold`](Self::idontwant_message_size_threshold) bytes on
    /// the wire) we publish ourselves, to every meshsub-1.2 recipient (mesh, fanout or flood)
    /// just before the message (go-libp2p-pubsub #612, rust-libp2p #6017; not a spec
    /// parameter). Default false; on in [`Config::ethereum`].
    pub fn idontwant_on_publish(&self) -> bool {
        self.idontwant_on_publish
    }

    /// Whether we announce the test extension of meshsub 1.3 (`testExtension`) in our
    /// Extensions control message; a peer that announces it too gets one `TestExtension`
    /// RPC. For interoperability testing only. Default false.
    pub fn test_extension(&self) -> bool {
        self.test_extension
    }

    /// Whether every duplicate of a message we already received is reported to the
    /// application as an [`Event::Duplicate`](crate::Event::Duplicate) (the libp2p test-plans
    /// harness logs each one to count duplicates). Default false: duplicates are only counted
    /// (`Counters::messages_duplicate`).
    pub fn report_duplicates(&self) -> bool {
        self.report_duplicates
    }

    /// Flood publishing (v1.1 spec, FloodPublish): our own messages go to every topic peer with
    /// a sufficient score, not only to the mesh. Default true.
    pub fn flood_publish(&self) -> bool {
        self.flood_publish
    }

    /// How the authenticity fields of received messages are checked (the spec's signature
    /// policy). Default [`ValidationMode::Strict`] (StrictSign).
    pub fn validation_mode(&self) -> ValidationMode {
        self.validation_mode
    }

    /// Whether the application validates messages: when true, a received message is only
    /// forwarded after the application calls `report_message_validation_result` with Accept
    /// (v1.1 spec: accept/reject/ignore). Default false (forward once the authenticity checks
    /// pass).
    pub fn validate_messages(&self) -> bool {
        self.validate_messages
    }

    /// The function computing message ids (the spec's message id function).
    ///
    /// Default: when a message has both a source and a sequence number, the id is the base58
    /// text of the source followed by the decimal text of the sequence number, which is what
    /// libp2p-gossipsub uses, so ids agree in mixed networks. Otherwise (anonymous messages) it
    /// is the first 20 bytes of SHA-256(u64le(len(topic)) ++ topic ++ data): content-addressed, so distinct anonymous
    /// messages get distinct ids.
    pub fn message_id_fn(&self) -> &MessageIdFn {
        &self.message_id_fn
    }

    /// Computes the id of `message` with the configured [`message_id_fn`](Self::message_id_fn).
    ///
    /// An id that is a small slice of the payload (less than half of it) is copied: ids are
    /// kept in the seen cache for `seen_ttl`, far longer than the message itself, and a slice
    /// would keep the whole payload (and the frame it shares) alive that long.
    ///
    /// A function set for the message's topic with
    /// [`ConfigBuilder::message_id_fn_for_topic`] takes precedence over `message_id_fn`.
    pub fn message_id(&self, message: &Message) -> MessageId {
        let f = Self::for_topic(
            &self.message_id_fns_by_topic,
            &self.message_id_fn,
            &message.topic,
        );
        Self::detach_id(f(message), message)
    }

    /// The function computing the id of a message whose inbound
    /// [data transform](crate::DataTransform) failed, from a [`Message`] carrying the wire
    /// data. Such a message is rejected, and its id is marked seen so copies of it are dropped
    /// as duplicates.
    ///
    /// Default: the first 20 bytes of SHA-256(u64le(len(topic)) ++ topic ++ wire data).
    pub fn invalid_message_id_fn(&self) -> &MessageIdFn {
        &self.invalid_message_id_fn
    }

    /// Computes the id of a message whose inbound transform failed; `message.data` is the
    /// wire data. A function set for its topic with
    /// [`ConfigBuilder::invalid_message_id_fn_for_topic`] takes precedence.
    pub fn invalid_message_id(&self, message: &Message) -> MessageId {
        let f = Self::for_topic(
            &self.invalid_message_id_fns_by_topic,
            &self.invalid_message_id_fn,
            &message.topic,
        );
        Self::detach_id(f(message), message)
    }

    /// The function for `topic` in `by_topic`, else `default`.
    fn for_topic<'a>(
        by_topic: &'a HashMap<TopicHash, MessageIdFn>,
        default: &'a MessageIdFn,
        topic: &TopicHash,
    ) -> &'a MessageIdFn {
        if by_topic.is_empty() {
            return default;
        }
        by_topic.get(topic).unwrap_or(default)
    }

    /// `id`, copied if it is a small slice of `message`'s payload (see [`Self::message_id`]).
    fn detach_id(id: MessageId, message: &Message) -> MessageId {
        let bytes = id.as_bytes();
        let data =
            message.data.as_ptr() as usize..message.data.as_ptr() as usize + message.data.len();
        if !bytes.is_empty()
            && data.contains(&(bytes.as_ptr() as usize))
            && bytes.len() < message.data.len() / 2
        {
            return MessageId::new(bytes::Bytes::copy_from_slice(bytes));
        }
        id
    }

    /// Whether messages authored by ourselves that come back from other peers are accepted
    /// (not a spec parameter). Default false: they are dropped.
    pub fn allow_self_origin(&self) -> bool {
        self.allow_self_origin
    }

    /// Whether `/floodsub/1.0.0` is advertised and floodsub peers are served (the spec's
    /// floodsub compatibility). Default false.
    pub fn support_floodsub(&self) -> bool {
        self.support_floodsub
    }

    /// Prune backoff (v1.1 spec, PruneBackoff): the backoff we advertise in PRUNE, during which
    /// the pruned peer must not GRAFT again, and which we respect ourselves. Default 60 s.
    pub fn prune_backoff(&self) -> Duration {
        self.prune_backoff
    }

    /// Unsubscribe backoff (v1.1 spec): the backoff advertised in the PRUNEs sent when we leave
    /// a topic. Default 10 s.
    pub fn unsubscribe_backoff(&self) -> Duration {
        self.unsubscribe_backoff
    }

    /// Number of heartbeats we wait after a backoff expires before grafting that peer again,
    /// to absorb clock and heartbeat skew (not a spec parameter). It applies to our own GRAFTs
    /// only: a peer's GRAFT is accepted as soon as the backoff it was told has ended. Default 1.
    pub fn backoff_slack(&self) -> u32 {
        self.backoff_slack
    }

    /// A GRAFT arriving within this time of the PRUNE that started its backoff is penalised
    /// extra (v1.1 spec, GraftFloodThreshold). Default 10 s.
    pub fn graft_flood_threshold(&self) -> Duration {
        self.graft_flood_threshold
    }

    /// The most backoff entries (one per topic and peer) kept for peers that have
    /// disconnected; beyond it, the entries of the peer that left first are forgotten. Entries
    /// of connected peers are never dropped early (they are bounded by the connected peers
    /// times our topics). Not a spec parameter. Default 10 000.
    pub fn max_retained_backoffs(&self) -> usize {
        self.max_retained_backoffs
    }

    /// Opportunistic grafting runs every this many heartbeats (v1.1 spec,
    /// OpportunisticGraftTicks). Default 60.
    pub fn opportunistic_graft_ticks(&self) -> u64 {
        self.opportunistic_graft_ticks
    }

    /// The number of peers grafted by one round of opportunistic grafting (v1.1 spec,
    /// OpportunisticGraftPeers). Default 2.
    pub fn opportunistic_graft_peers(&self) -> usize {
        self.opportunistic_graft_peers
    }

    /// Whether we include peer exchange (PX) in the PRUNEs we send (v1.1 spec). Default false.
    pub fn do_px(&self) -> bool {
        self.do_px
    }

    /// The number of peers offered in one PRUNE's peer exchange (v1.1 spec, PrunePeers).
    /// Default 16.
    pub fn prune_peers(&self) -> usize {
        self.prune_peers
    }

    /// How many peers offered by one PRUNE's peer exchange we dial at most, and how many dials
    /// started by one peer's PX may be pending at once (so one peer cannot take every
    /// [`max_pending_px_dials`](Self::max_pending_px_dials) slot). Not a spec parameter (go
    /// bounds PX dials by its connector pool). Default 16.
    pub fn max_px_dials(&self) -> usize {
        self.max_px_dials
    }

    /// Whether peers offered by peer exchange without a signed peer record are dialled by
    /// peer id alone (relying on addresses known to other behaviours). Not a spec parameter.
    /// Default false: only verified signed records are dialled, with their own addresses.
    pub fn px_dial_unsigned(&self) -> bool {
        self.px_dial_unsigned
    }

    /// Direct (explicit) peers (v1.1 spec): messages are always forwarded to them, they are
    /// never grafted, and we keep reconnecting to them. Default none.
    pub fn direct_peers(&self) -> &[PeerId] {
        &self.direct_peers
    }

    /// Every this many heartbeats we reconnect to disconnected direct peers (go's
    /// DirectConnectTicks; libp2p-gossipsub's `check_explicit_peers_ticks`). Default 300.
    pub fn direct_connect_ticks(&self) -> u64 {
        self.direct_connect_ticks
    }

    /// Maximum number of topics a remote peer may be subscribed to in our view; further
    /// subscriptions are ignored (not a spec parameter). Default 100, as libp2p-gossipsub's
    /// subscription filter. The Ethereum preset raises it to 512: a PeerDAS supernode holds
    /// about 210 topics, twice that across a fork boundary.
    pub fn max_topics_per_peer(&self) -> usize {
        self.max_topics_per_peer
    }

    /// Maximum number of messages decoded from one received RPC; the rest are skipped before
    /// anything is allocated for them and counted (not a spec parameter). Default `Some(5000)`,
    /// libp2p-gossipsub's bound on the messages it puts in one RPC (`max_publish_messages`);
    /// `None` leaves only [`max_transmit_size`](Self::max_transmit_size) as a bound.
    pub fn max_messages_per_rpc(&self) -> Option<usize> {
        self.max_messages_per_rpc
    }

    /// Maximum number of subscription changes processed from one received RPC; the rest are
    /// ignored (not a spec parameter). Default 1000.
    pub fn max_subscriptions_per_rpc(&self) -> usize {
        self.max_subscriptions_per_rpc
    }

    /// The longest topic accepted from the wire, in bytes: subscriptions, messages and control
    /// entries naming a longer topic are skipped at decode and counted (not a spec parameter).
    /// Default 256: Ethereum's topics are under 60 bytes, a `Sha256Topic` hash is 44. Also bounds a
    /// peer's subscriptions to `max_topics_per_peer * max_topic_len` bytes.
    pub fn max_topic_len(&self) -> usize {
        self.max_topic_len
    }

    /// Largest signed peer record, in bytes, taken from peer exchange or kept for our own
    /// (not a spec parameter). Default 4096: an Ed25519 record with a few addresses is about
    /// 200 bytes and an RSA-4096 one about 1.2 KiB, so 4 KiB leaves room for 16 long addresses.
    pub fn max_peer_record_size(&self) -> usize {
        self.max_peer_record_size
    }

    /// Most addresses a signed peer record may list to be kept and dialled (not a spec
    /// parameter). Default 16: a peer with IPv4 and IPv6 over TCP, QUIC and WebSocket plus a
    /// few relay addresses needs about ten.
    pub fn max_peer_record_addresses(&self) -> usize {
        self.max_peer_record_addresses
    }

    /// Most peer-exchange entries taken from one peer per heartbeat, across all its PRUNEs
    /// (each is a signature check and possibly a dial; not a spec parameter). Default 16, one
    /// full PRUNE of `prune_peers`.
    pub fn max_px_records_per_heartbeat(&self) -> usize {
        self.max_px_records_per_heartbeat
    }

    /// Most peer-exchange dials outstanding at once (dialled, not yet connected, less than
    /// 30 s old); further offers are not dialled (not a spec parameter). Default 128, go's
    /// bound on its PX connector queue.
    pub fn max_pending_px_dials(&self) -> usize {
        self.max_pending_px_dials
    }

    /// Most signature verification work done for one peer per heartbeat, counted in Ed25519
    /// verifications: a secp256k1 author's message costs 3 of them, an ECDSA (P-256) one 8
    /// and an RSA one 16, as measured. Its further new messages in that heartbeat are dropped
    /// unverified (not penalised, not marked seen, so a copy from another peer is still
    /// taken). Not a spec parameter. Default 1024 (about 30 ms of CPU per peer and heartbeat
    /// on one core here).
    pub fn max_signature_checks_per_heartbeat(&self) -> usize {
        self.max_signature_checks_per_heartbeat
    }

    /// Bytes of messages taken from one peer per heartbeat on subscribed topics, signed or
    /// not: every message not in the message cache (new, or a copy of one that left it) is
    /// charged its encoded size plus the cache's per-entry overhead (640 bytes), before its
    /// data transform and id function run; the first message of a heartbeat is always taken.
    /// Further such messages in that heartbeat are dropped before validation
    /// (counter `messages_over_peer_budget`; not penalised, as they may be valid, and not
    /// marked seen, so a copy from another peer is still taken): one peer flooding valid
    /// messages cannot crowd the others' out of the message cache, validation and the send
    /// queues. Direct peers are exempt. Not a spec parameter. Default 8 MiB (a sixth of what
    /// the default message cache holds per heartbeat).
    pub fn max_message_bytes_per_peer_per_heartbeat(&self) -> usize {
        self.max_message_bytes_per_peer_per_heartbeat
    }

    /// Messages failing the authenticity check (bad or missing signature, key or author,
    /// per the validation mode) from one peer, as a count halved every heartbeat, at which
    /// the peer is graylisted: its RPCs are ignored and it is kept out of every mesh until it
    /// disconnects. Honest peers check before forwarding, so they send none. Direct peers
    /// are never graylisted. Not a spec parameter. Default 16.
    pub fn max_invalid_signatures(&self) -> u32 {
        self.max_invalid_signatures
    }

    /// The longest message id accepted in IHAVE, IWANT and IDONTWANT, in bytes: longer ids are
    /// skipped at decode and counted (not a spec parameter). Default 100: Ethereum's ids are 20
    /// bytes, libp2p-gossipsub's default (base58 author ++ decimal seqno) at most 72. A custom
    /// message-id function must produce ids no longer than this, or peers' gossip about them
    /// is ignored.
    pub fn max_message_id_len(&self) -> usize {
        self.max_message_id_len
    }

    /// Maximum number of control entries decoded per control type (IHAVE, IWANT, GRAFT, PRUNE,
    /// IDONTWANT) from one received RPC; the rest are skipped before anything is allocated
    /// for them and counted (not a spec parameter). Default 1000, above any
    /// [`max_topics_per_peer`](Self::max_topics_per_peer) in use (100 by default, 512 in the
    /// Ethereum preset): GRAFT, PRUNE and IHAVE entries name a topic, so an honest peer's
    /// entries for every topic it can share with us fit in one RPC, and more of one type than
    /// that are redundant. IWANT and IDONTWANT ids are bounded separately, per RPC.
    pub fn max_control_entries_per_rpc(&self) -> usize {
        self.max_control_entries_per_rpc
    }

    /// Maximum encoded bytes of control entries decoded from one received RPC; entries past it
    /// are skipped and counted (not a spec parameter). Default 1 MiB: above the largest control
    /// section an honest peer sends in one RPC (5000 IHAVE ids of 100 bytes plus IWANTs), and a
    /// bound of its own when `max_transmit_size` is larger (the Ethereum preset's 12 MB).
    pub fn max_control_bytes_per_rpc(&self) -> usize {
        self.max_control_bytes_per_rpc
    }

    /// Maximum number of peer-exchange entries decoded from the PRUNEs of one received RPC; the
    /// rest are skipped before anything is allocated for them and counted (not a spec
    /// parameter). Default 256: compliant peers offer at most `prune_peers` (16 in go) per
    /// PRUNE, so this admits full PX on 16 topics at once.
    pub fn max_px_peers_per_rpc(&self) -> usize {
        self.max_px_peers_per_rpc
    }

    /// Bound on the RPCs of each class (control, publish, forward) queued for sending to one
    /// peer; beyond it, publishes and forwards to that peer are dropped and a peer whose control
    /// class is full is disconnected (not a spec parameter). Default 5000.
    pub fn send_queue_size(&self) -> usize {
        self.send_queue_size
    }

    /// Bound in bytes on each class (control, publish, forward) of the RPCs queued for one
    /// peer; beyond it the class refuses more (an item larger than the bound is still taken
    /// when its class is empty). Not a spec parameter. Default 8 MiB: 128 frames of the
    /// default size, at most 24 MiB for a peer that reads nothing.
    pub fn send_queue_bytes(&self) -> usize {
        self.send_queue_bytes
    }

    /// A queued forward that has waited this long is dropped instead of sent (not a spec
    /// parameter). Default 1 s.
    pub fn forward_queue_duration(&self) -> Duration {
        self.forward_queue_duration
    }

    /// A queued publish of our own that has waited this long is dropped instead of sent (not a
    /// spec parameter). Default 5 s.
    pub fn publish_queue_duration(&self) -> Duration {
        self.publish_queue_duration
    }

    /// Checks that our own message authenticity fits the validation mode, i.e. that the
    /// messages we publish would pass our own checks and those of peers configured like us.
    ///
    /// Compatible pairs: [`MessageAuthenticity::Signed`] with `Strict`, `Permissive` or `None`;
    /// [`MessageAuthenticity::Author`] and [`MessageAuthenticity::RandomAuthor`] with
    /// `Permissive` or `None` (`Strict` would refuse their unsigned messages);
    /// [`MessageAuthenticity::Anonymous`] with `Anonymous` or `None`. Every other pair returns
    /// [`ConfigError::IncompatibleAuthenticity`].
    pub fn validate_with(&self, authenticity: &MessageAuthenticity) -> Result<(), ConfigError> {
        use ValidationMode as V;
        let compatible = match authenticity {
            MessageAuthenticity::Signed(_) => {
                matches!(self.validation_mode, V::Strict | V::Permissive | V::None)
            }
            MessageAuthenticity::Author(_) | MessageAuthenticity::RandomAuthor => {
                matches!(self.validation_mode, V::Permissive | V::None)
            }
            MessageAuthenticity::Anonymous => {
                matches!(self.validation_mode, V::Anonymous | V::None)
            }
        };
        if compatible {
            Ok(())
        } else {
            Err(ConfigError::IncompatibleAuthenticity {
                authenticity: authenticity.name(),
                validation: self.validation_mode.name(),
            })
        }
    }
}

impl Default for Config {
    /// The go-compatible defaults documented on each getter.
    fn default() -> Self {
        ConfigBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }
}

#[cfg(test)]
mod tests;
