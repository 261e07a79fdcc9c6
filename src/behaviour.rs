//! The `NetworkBehaviour`: a thin shell around the sans-IO [`Router`].
//!
//! It is the only place that reads the clock or holds a timer. It turns swarm events and handler
//! events into router inputs, and router actions into per-peer queue pushes and swarm events.
//!
//! The send path: every peer has one [`PeerQueue`] shared by its connection handlers, bounded
//! per class in items and bytes. What the queues drop (full, or expired at a heartbeat) is
//! gathered per peer and reported to the router once per heartbeat
//! ([`Router::report_send_failures`]: slow-peer score term and [`Event::SlowPeer`]). A peer
//! whose control class is full is disconnected: control (GRAFT, PRUNE, subscriptions) cannot
//! be dropped without the two sides disagreeing about the mesh, and a peer that left thousands
//! of control RPCs unread is not taking part anyway. The queue also carries the keep-alive
//! decision: wanted while the router wants the peer ([`Router::wants_connection`]) or during a
//! short grace period after it connected, updated at every heartbeat and on subscription
//! changes.

use std::collections::{HashMap, VecDeque};
use std::task::Waker;

use web_time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_timer::Delay;
use libp2p_core::Multiaddr;
use libp2p_core::PeerRecord;
use libp2p_core::signed_envelope::SignedEnvelope;
use libp2p_identity::{Keypair, PeerId};
use libp2p_swarm::{ConnectionId, ToSwarm};

use crate::authenticity::MessageAuthenticity;
use crate::config::Config;
use crate::error::{ConfigError, PublishError, SubscriptionError};
use crate::event::{Event, FailedMessages, MessageAcceptance};
use crate::filter::SubscriptionFilter;
use crate::handler::{HandlerConfig, HandlerIn};
use crate::queue::PeerQueue;
use crate::router::{Counters, PeerRecordError, Router};
use crate::score::{
    PeerScoreParams, PeerScoreThresholds, ScoreBreakdown, ScoreParamsError, TopicScoreParams,
};
use crate::transform::DataTransform;
use crate::types::{Hasher, MessageId, PeerKind, Topic, TopicHash};

/// Runs `$body` with `$m` bound to the metrics, if they are on (a no-op without the `metrics`
/// feature). The only place the behaviour depends on the feature.
#[cfg(feature = "metrics")]
macro_rules! observe {
    ($self:ident, |$m:ident| $body:expr) => {
        if let Some($m) = $self.metrics.as_mut() {
            $body;
        }
    };
}
#[cfg(not(feature = "metrics"))]
macro_rules! observe {
    ($($t:tt)*) => {};
}

/// The gossipsub `NetworkBehaviour`. Compose it into a `Swarm`; the crate docs have a complete
/// example with two swarms.
///
/// Build it with the way our messages are authored ([`MessageAuthenticity`]) and a [`Config`];
/// other constructors add a [`SubscriptionFilter`] or a [`DataTransform`], and
/// [`with_peer_score`](Self::with_peer_score) turns on peer scoring. Its events are [`Event`]s.
///
/// ```
/// use gossipsub::{Behaviour, Config, IdentTopic, MessageAuthenticity, PublishError};
/// use libp2p::identity::Keypair;
///
/// let key = Keypair::generate_ed25519();
/// let mut gossipsub = Behaviour::new(MessageAuthenticity::Signed(key), Config::default())?;
/// let topic = IdentTopic::new("news");
/// assert!(gossipsub.subscribe(&topic)?); // newly subscribed
/// assert!(!gossipsub.subscribe(&topic)?); // already subscribed
/// assert_eq!(gossipsub.topics().collect::<Vec<_>>(), [&topic.hash()]);
///
/// // Not connected to anyone yet: there is no peer to publish to.
/// let result = gossipsub.publish(topic.clone(), "hello");
/// assert!(matches!(result, Err(PublishError::NoPeersSubscribedToTopic(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Behaviour {
    router: Router,
    handler_config: HandlerConfig,
    /// One bounded send queue per connected peer, shared by its connection handlers.
    queues: HashMap<PeerId, PeerQueue>,
    /// Established connections per peer.
    connections: HashMap<PeerId, Vec<ConnectionId>>,
    /// RPCs dropped (full queue or expired) since the last heartbeat, per peer.
    dropped: HashMap<PeerId, FailedMessages>,
    /// Set while draining a publish: the message's size and the smallest peer frame limit
    /// that refused it (the limit learned for a peer can be below `max_transmit_size`).
    refused_publish: Option<(usize, usize)>,
    /// Set while draining a publish: how many peers' publish queues refused it.
    publish_queues_full: usize,
    /// Set while draining a publish batch: per message id, the RPCs queued and refused.
    batch_queued: Option<HashMap<MessageId, (usize, usize)>>,
    /// Newly connected peers kept alive until this instant whatever they share with us.
    keep_alive_grace: HashMap<PeerId, Instant>,
    events: VecDeque<ToSwarm<Event, HandlerIn>>,
    timer: Delay,
    /// The swarm task, woken when an API call produced events outside of `poll`.
    waker: Option<Waker>,
    /// The key our own signed peer record is signed with.
    record_key: Option<Keypair>,
    /// Our own signed peer record, rebuilt when our addresses change.
    local_record: Option<PeerRecord>,
    listen_addrs: Vec<Multiaddr>,
    external_addrs: Vec<Multiaddr>,
    /// Addresses given for direct peers, used when the router redials them.
    direct_addrs: HashMap<PeerId, Vec<Multiaddr>>,
    /// Prometheus metrics, when turned on with [`Behaviour::with_metrics`].
    #[cfg(feature = "metrics")]
    metrics: Option<Box<crate::metrics::Metrics>>,
}

impl Behaviour {
    /// Creates the behaviour. Fails if the config does not fit the message authenticity
    /// (e.g. anonymous messages with strict signature validation).
    pub fn new(authenticity: MessageAuthenticity, config: Config) -> Result<Self, ConfigError> {
        let now = Instant::now();
        let first_seqno = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let handler_config = HandlerConfig::new(&config);
        let delay = config.heartbeat_initial_delay();
        let record_key = match &authenticity {
            MessageAuthenticity::Signed(key) => Some(key.clone()),
            _ => None,
        };
        let router = Router::new(config, authenticity, rand::random(), first_seqno, now)?;
        Ok(Behaviour {
            router,
            handler_config,
            queues: HashMap::new(),
            connections: HashMap::new(),
            dropped: HashMap::new(),
            refused_publish: None,
            publish_queues_full: 0,
            batch_queued: None,
            keep_alive_grace: HashMap::new(),
            events: VecDeque::new(),
            timer: Delay::new(delay),
            waker: None,
            record_key,
            local_record: None,
            listen_addrs: Vec::new(),
            external_addrs: Vec::new(),
            direct_addrs: HashMap::new(),
            #[cfg(feature = "metrics")]
            metrics: None,
        })
    }

    /// Turns on Prometheus metrics: registers every family in `registry` under the prefix
    /// `gossipsub` (see [`crate::metrics`] and METRICS.md). Topics listed in `config` get a
    /// `topic` label of their own; all others share the label `other`.
    #[cfg(feature = "metrics")]
    pub fn with_metrics(
        mut self,
        registry: &mut prometheus_client::registry::Registry,
        config: crate::metrics::MetricsConfig,
    ) -> Self {
        let validate = self.router.config().validate_messages();
        self.metrics = Some(Box::new(crate::metrics::Metrics::new(
            registry, &config, validate,
        )));
        self
    }

    /// Creates the behaviour with a subscription filter for our own and remote subscriptions.
    pub fn new_with_subscription_filter(
        authenticity: MessageAuthenticity,
        config: Config,
        filter: impl SubscriptionFilter,
    ) -> Result<Self, ConfigError> {
        let mut behaviour = Self::new(authenticity, config)?;
        behaviour.router.set_subscription_filter(filter);
        Ok(behaviour)
    }

    /// Creates the behaviour with a data transform between the wire and the application
    /// (for Ethereum: `SnappyTransform`, feature `snappy`). See
    /// [`crate::transform`] for where it applies; the message cache and forwarding keep the
    /// wire form.
    pub fn new_with_transform(
        authenticity: MessageAuthenticity,
        config: Config,
        transform: impl DataTransform,
    ) -> Result<Self, ConfigError> {
        let mut behaviour = Self::new(authenticity, config)?;
        behaviour.router.set_data_transform(transform);
        Ok(behaviour)
    }

    /// Creates the behaviour with both a subscription filter and a data transform.
    pub fn new_with_subscription_filter_and_transform(
        authenticity: MessageAuthenticity,
        config: Config,
        filter: impl SubscriptionFilter,
        transform: impl DataTransform,
    ) -> Result<Self, ConfigError> {
        let mut behaviour = Self::new_with_subscription_filter(authenticity, config, filter)?;
        behaviour.router.set_data_transform(transform);
        Ok(behaviour)
    }

    /// Turns on peer scoring (v1.1) with these parameters and thresholds (validated first).
    pub fn with_peer_score(
        &mut self,
        params: PeerScoreParams,
        thresholds: PeerScoreThresholds,
    ) -> Result<(), ScoreParamsError> {
        self.router.with_peer_score(params, thresholds)
    }

    /// The score of a peer, if scoring is on.
    pub fn peer_score(&self, peer: &PeerId) -> Option<f64> {
        self.router.peer_score(peer)
    }

    /// Why a peer scores what it scores: every term per topic with its counter, weight and
    /// contribution (its `Display` prints a table).
    pub fn peer_score_breakdown(&self, peer: &PeerId) -> Option<ScoreBreakdown> {
        self.router.peer_score_breakdown(peer)
    }

    /// Sets the application-specific score (P5) of a peer. `false` if scoring is off, the
    /// peer is unknown, or `score` is not finite or over 1e50 in magnitude.
    pub fn set_application_score(&mut self, peer: &PeerId, score: f64) -> bool {
        self.router.set_application_score(peer, score)
    }

    /// Sets or replaces a topic's score parameters at run time. Takes the topic by value (as
    /// libp2p-gossipsub does) or by reference.
    pub fn set_topic_params<H: Hasher>(
        &mut self,
        topic: impl std::borrow::Borrow<Topic<H>>,
        params: TopicScoreParams,
    ) -> Result<(), ScoreParamsError> {
        self.router.set_topic_params(topic.borrow().hash(), params)
    }

    /// A topic's score parameters, if scoring is on and the topic has some.
    pub fn get_topic_params<H: Hasher>(&self, topic: &Topic<H>) -> Option<&TopicScoreParams> {
        self.router.topic_params(&topic.hash())
    }

    /// Sets the key our own signed peer record is signed with (by default the message
    /// signing key of [`MessageAuthenticity::Signed`]; other modes have none until set).
    pub fn set_peer_record_keypair(&mut self, keypair: Keypair) {
        self.record_key = Some(keypair);
        self.rebuild_local_record();
    }

    /// Our own signed peer record (standard `libp2p-peer-record` envelope) over our external
    /// addresses, or our listen addresses while none is confirmed. Hand it to other peers
    /// (identify does so when built with a signed peer record) so they can offer us in PX.
    pub fn local_peer_record(&self) -> Option<&PeerRecord> {
        self.local_record.as_ref()
    }

    /// Adds another peer's signed peer record (e.g. from identify's
    /// `Info::signed_peer_record`), to be offered in peer exchange. It is verified first.
    pub fn add_peer_record(&mut self, envelope: SignedEnvelope) -> Result<PeerId, PeerRecordError> {
        let bytes = Bytes::from(envelope.into_protobuf_encoding());
        self.router.add_peer_record(bytes)
    }

    /// Adds a direct peer with the addresses to reach it: messages are always forwarded to it,
    /// it is never grafted, and it is redialled every `direct_connect_ticks` heartbeats while
    /// disconnected.
    pub fn add_direct_peer(&mut self, peer: PeerId, addresses: Vec<Multiaddr>) {
        if !addresses.is_empty() {
            self.direct_addrs.insert(peer, addresses);
        }
        self.router.add_direct_peer(peer);
        self.drain_router();
    }

    /// Removes a direct peer.
    pub fn remove_direct_peer(&mut self, peer: &PeerId) {
        self.direct_addrs.remove(peer);
        self.router.remove_direct_peer(peer);
    }

    /// libp2p-gossipsub's name for [`add_direct_peer`](Self::add_direct_peer) without
    /// addresses: the peer becomes a direct ("explicit") peer, dialled through the addresses
    /// the swarm (or another behaviour) knows for it.
    pub fn add_explicit_peer(&mut self, peer: &PeerId) {
        self.add_direct_peer(*peer, Vec::new());
    }

    /// libp2p-gossipsub's name for [`remove_direct_peer`](Self::remove_direct_peer). The
    /// connection is not closed.
    pub fn remove_explicit_peer(&mut self, peer: &PeerId) {
        self.remove_direct_peer(peer);
    }

    /// Blacklists a peer: its RPCs and the messages it authored are dropped and it is never
    /// grafted or forwarded to.
    pub fn blacklist_peer(&mut self, peer: &PeerId) {
        self.router.blacklist_peer(*peer);
    }

    /// Removes a peer from the blacklist.
    pub fn remove_blacklisted_peer(&mut self, peer: &PeerId) {
        self.router.remove_blacklisted_peer(peer);
    }

    fn rebuild_local_record(&mut self) {
        let Some(key) = &self.record_key else {
            return;
        };
        let addrs = if self.external_addrs.is_empty() {
            self.listen_addrs.clone()
        } else {
            self.external_addrs.clone()
        };
        match PeerRecord::new_interop(key, addrs) {
            Ok(record) => self.local_record = Some(record),
            Err(error) => tracing::warn!(%error, "could not sign our peer record"),
        }
    }

    /// Subscribes to a topic. Returns `Ok(false)` if already subscribed.
    pub fn subscribe<H: Hasher>(&mut self, topic: &Topic<H>) -> Result<bool, SubscriptionError> {
        let hash = topic.hash();
        // A subscription entry costs the topic plus a few bytes of framing; and peers with our
        // limits skip everything naming a topic over `max_topic_len`.
        let config = self.router.config();
        if hash.as_str().len() + 16 > config.max_transmit_size()
            || hash.as_str().len() > config.max_topic_len()
        {
            return Err(SubscriptionError::TopicTooLong(hash));
        }
        let changed = self.router.subscribe(Instant::now(), hash);
        self.drain_router();
        self.update_keep_alive(Instant::now());
        changed
    }

    /// Unsubscribes from a topic. Returns `false` if we were not subscribed.
    pub fn unsubscribe<H: Hasher>(&mut self, topic: &Topic<H>) -> bool {
        let changed = self.router.unsubscribe(Instant::now(), &topic.hash());
        self.drain_router();
        self.update_keep_alive(Instant::now());
        changed
    }

    /// Publishes `data` on `topic` and returns the message id.
    ///
    /// `data` is anything libp2p-gossipsub's `publish` takes (`impl Into<Vec<u8>>`): owned
    /// (`Vec<u8>`, `String`, taken without a copy) or borrowed (`&[u8]`, `&str`, copied once).
    /// A [`Bytes`] is converted without a copy when it is the sole owner of a `Vec`-backed
    /// buffer, else copied once. After that the payload is shared, never copied, between the
    /// message cache and every peer's queue.
    ///
    /// Errors: the message is too large for `max_transmit_size`, a duplicate, no peer is
    /// subscribed to the topic, or every recipient's send queue is full.
    pub fn publish(
        &mut self,
        topic: impl Into<TopicHash>,
        data: impl Into<Vec<u8>>,
    ) -> Result<MessageId, PublishError> {
        let topic = topic.into();
        let data = Bytes::from(data.into());
        // The metrics count the publish only once the router and a queue took it.
        let _published = (topic.clone(), data.len());
        let id = self.router.publish(Instant::now(), topic, data)?;
        self.refused_publish = None;
        self.publish_queues_full = 0;
        let queued = self.drain_router();
        if queued > 0 {
            observe!(self, |m| m.on_publish(&_published.0, _published.1));
        }
        if queued == 0 {
            // Too large for every recipient's learned frame limit, or every queue was full.
            return Err(match self.refused_publish.take() {
                Some((size, max)) => PublishError::MessageTooLarge { size, max },
                None => PublishError::AllQueuesFull(self.publish_queues_full),
            });
        }
        Ok(id)
    }

    /// Publishes a batch of messages with their first copies interleaved across peers: every
    /// message is handed to one peer before any message goes to a second (go's
    /// `MessageBatch`), which gets a whole block's worth of blobs out sooner on a limited
    /// uplink. One result per item, in order; see [`Behaviour::publish`] for the errors: an
    /// item that no recipient's send queue took is [`PublishError::AllQueuesFull`] (it stays
    /// cached and can still reach peers through gossip). A batch of more than `send_queue_size` messages is
    /// refused whole with [`PublishError::BatchTooLarge`] for every item, and a batch of several
    /// messages whose data adds up to more than `send_queue_bytes` with
    /// [`PublishError::BatchTooManyBytes`].
    pub fn publish_batch(
        &mut self,
        batch: impl IntoIterator<Item = (TopicHash, Bytes)>,
    ) -> Vec<Result<MessageId, PublishError>> {
        let batch: Vec<(TopicHash, Bytes)> = batch.into_iter().collect();
        let _sizes: Vec<(TopicHash, usize)> =
            batch.iter().map(|(t, d)| (t.clone(), d.len())).collect();
        let mut results = self.router.publish_batch(Instant::now(), batch);
        self.refused_publish = None;
        self.batch_queued = Some(HashMap::new());
        self.drain_router();
        let queued = self.batch_queued.take().unwrap_or_default();
        for result in &mut results {
            if let Ok(id) = result
                && let Some(&(0, refused)) = queued.get(id)
            {
                tracing::debug!(%id, refused, "batch item refused by every send queue");
                *result = Err(PublishError::AllQueuesFull(refused));
            }
        }
        for (_result, _size) in results.iter().zip(&_sizes) {
            if _result.is_ok() {
                observe!(self, |m| m.on_publish(&_size.0, _size.1));
            }
        }
        results
    }

    /// Reports the application's verdict on a message received with `validate_messages` on.
    /// Returns `false` if the message is no longer known.
    pub fn report_message_validation_result(
        &mut self,
        message_id: &MessageId,
        propagation_source: &PeerId,
        acceptance: MessageAcceptance,
    ) -> bool {
        observe!(self, |m| m.on_validation(
            self.router.awaiting_validation_topic(message_id),
            acceptance
        ));
        let known = self.router.report_validation(
            Instant::now(),
            message_id,
            propagation_source,
            acceptance,
        );
        self.drain_router();
        known
    }

    /// Our subscribed topics.
    pub fn topics(&self) -> impl Iterator<Item = &TopicHash> {
        self.router.topics()
    }

    /// Mesh peers of a topic.
    pub fn mesh_peers(&self, topic: &TopicHash) -> impl Iterator<Item = &PeerId> {
        self.router.mesh_peers(topic)
    }

    /// Every peer in any of our meshes (each once).
    pub fn all_mesh_peers(&self) -> impl Iterator<Item = &PeerId> {
        let mut seen = std::collections::HashSet::new();
        self.router
            .topics()
            .flat_map(|t| self.router.mesh_peers(t))
            .filter(move |p| seen.insert(**p))
    }

    /// Every connected peer with its subscribed topics.
    pub fn all_peers(&self) -> impl Iterator<Item = (&PeerId, Vec<&TopicHash>)> {
        self.router.all_peers()
    }

    /// The protocol of each connected peer whose protocol is known.
    pub fn peer_protocol(&self) -> impl Iterator<Item = (&PeerId, &PeerKind)> {
        self.router.peer_protocol()
    }

    /// The extensions `peer` announced in its Extensions control message (meshsub 1.3), once
    /// received; `None` before that and for peers on older protocols.
    pub fn peer_extensions(&self, peer: &PeerId) -> Option<crate::types::Extensions> {
        self.router.peer_extensions(peer)
    }

    /// Counts of dropped or ignored input and of full send queues.
    pub fn counters(&self) -> &Counters {
        self.router.counters()
    }

    /// The RPCs queued for sending to `peer` and the bytes they hold (all classes), or `None`
    /// if it has no queue (not connected). Each class is bounded by `send_queue_size` items
    /// and `send_queue_bytes` bytes.
    pub fn send_queue_usage(&self, peer: &PeerId) -> Option<(usize, usize)> {
        self.queues.get(peer).map(|q| (q.len(), q.bytes()))
    }

    /// Read access to the sans-IO router (mesh, fanout, caches).
    pub fn router(&self) -> &Router {
        &self.router
    }
}

#[path = "behaviour_drain.rs"]
mod drain;

#[path = "behaviour_swarm.rs"]
mod swarm;

#[cfg(test)]
#[path = "behaviour_tests.rs"]
mod tests;

#[cfg(feature = "partial-messages")]
#[path = "behaviour_partial.rs"]
mod partial;

#[cfg(feature = "partial-messages")]
#[path = "behaviour_partial_fanout.rs"]
mod partial_fanout;
