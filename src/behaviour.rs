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
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use web_time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::FutureExt;
use futures_timer::Delay;
use libp2p_core::PeerRecord;
use libp2p_core::signed_envelope::SignedEnvelope;
use libp2p_core::transport::PortUse;
use libp2p_core::{Endpoint, Multiaddr};
use libp2p_identity::{Keypair, PeerId};
use libp2p_swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p_swarm::{
    CloseConnection, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm, behaviour::ConnectionEstablished,
};

use crate::authenticity::MessageAuthenticity;
use crate::config::Config;
use crate::error::{ConfigError, PublishError, SubscriptionError};
use crate::event::{Event, FailedMessages, MessageAcceptance};
use crate::filter::SubscriptionFilter;
use crate::handler::{Handler, HandlerConfig, HandlerEvent, HandlerIn, SendEvent};
use crate::queue::{Class, PeerQueue, QueueLimits, QueuedRpc};
use crate::router::{Action, Counters, PeerRecordError, Router, SendClass};
use crate::score::{
    PeerScoreParams, PeerScoreThresholds, ScoreBreakdown, ScoreParamsError, TopicScoreParams,
};
use crate::transform::DataTransform;
use crate::types::{Hasher, MessageId, PeerKind, Topic, TopicHash};
use crate::wire::{self, DropReason};

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

/// How many heartbeats a newly connected peer is kept alive for even when it shares nothing
/// with us: time for both sides to exchange subscriptions.
const KEEP_ALIVE_GRACE_HEARTBEATS: u32 = 10;

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

    /// Sets the application-specific score (P5) of a peer. `false` if scoring is off or the
    /// peer is unknown.
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

    fn on_address_change(&mut self, event: &FromSwarm) {
        let changed = match event {
            FromSwarm::NewListenAddr(e) => add_addr(&mut self.listen_addrs, e.addr),
            FromSwarm::ExpiredListenAddr(e) => remove_addr(&mut self.listen_addrs, e.addr),
            FromSwarm::ExternalAddrConfirmed(e) => add_addr(&mut self.external_addrs, e.addr),
            FromSwarm::ExternalAddrExpired(e) => remove_addr(&mut self.external_addrs, e.addr),
            _ => false,
        };
        if changed {
            self.rebuild_local_record();
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
    /// uplink. One result per item, in order; see [`Behaviour::publish`] for the errors, except
    /// that full send queues are not reported per item (such a message stays cached and can
    /// still reach peers through gossip). A batch of more than `send_queue_size` messages is
    /// refused whole with [`PublishError::BatchTooLarge`] for every item.
    pub fn publish_batch(
        &mut self,
        batch: impl IntoIterator<Item = (TopicHash, Bytes)>,
    ) -> Vec<Result<MessageId, PublishError>> {
        let batch: Vec<(TopicHash, Bytes)> = batch.into_iter().collect();
        let _sizes: Vec<(TopicHash, usize)> =
            batch.iter().map(|(t, d)| (t.clone(), d.len())).collect();
        let results = self.router.publish_batch(Instant::now(), batch);
        self.refused_publish = None;
        self.drain_router();
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

    /// Moves router actions to queues and events; returns how many RPCs of our own publishes
    /// were queued (control RPCs sent with them, such as IDONTWANT, are not counted).
    fn drain_router(&mut self) -> usize {
        let now = Instant::now();
        let mut queued = 0;
        while let Some(action) = self.router.poll_action() {
            match action {
                Action::Send {
                    peer,
                    rpc,
                    class,
                    message_id,
                } => {
                    let Some(queue) = self.queues.get(&peer) else {
                        continue;
                    };
                    observe!(self, |m| m.on_send(&rpc));
                    let config = self.router.config();
                    let (class, expires) = match class {
                        SendClass::Control => (Class::Control, control_gossip_expiry(config, now)),
                        SendClass::Publish => (
                            Class::Publish,
                            now.checked_add(config.publish_queue_duration()),
                        ),
                        SendClass::Forward => (
                            Class::Forward,
                            now.checked_add(config.forward_queue_duration()),
                        ),
                    };
                    // Every queued RPC fits the peer's limit (ours, or the lower one learned
                    // for this peer): split what does not.
                    let limit = config.max_transmit_size().min(queue.frame_limit());
                    let publish_size = (class == Class::Publish).then(|| wire::rpc_len(&rpc));
                    let pieces = wire::fragment_for_peer(rpc, config, queue.frame_limit());
                    if let Some(size) = publish_size.filter(|_| pieces.dropped_messages > 0) {
                        let max = self.refused_publish.map_or(limit, |(_, m)| m.min(limit));
                        self.refused_publish = Some((size, max));
                    }
                    if pieces.dropped_messages > 0 || pieces.dropped_control > 0 {
                        let counters = self.router.counters_mut();
                        counters.messages_too_large_to_send += pieces.dropped_messages as u64;
                        counters.control_too_large_to_send += pieces.dropped_control as u64;
                        tracing::warn!(
                            %peer,
                            messages = pieces.dropped_messages,
                            control = pieces.dropped_control,
                            "items larger than max_transmit_size on their own not sent"
                        );
                    }
                    let mut refused = 0;
                    for rpc in pieces.rpcs {
                        let item = QueuedRpc {
                            rpc,
                            class,
                            expires,
                            message_id: message_id.clone(),
                        };
                        // A full forward class drops its stalest forwards for the new one.
                        match queue.push_evicting_stalest(item) {
                            Ok(evicted) => {
                                queued += usize::from(class == Class::Publish);
                                refused += evicted;
                            }
                            Err(_) => refused += 1,
                        }
                    }
                    if refused > 0 && class == Class::Publish {
                        self.publish_queues_full += 1;
                    }
                    for _ in 0..refused {
                        self.queue_full(peer, class);
                    }
                }
                Action::CancelForward { peer, message_id } => {
                    if let Some(queue) = self.queues.get(&peer) {
                        queue.cancel_forward(&message_id);
                    }
                }
                Action::Event(event) => {
                    observe!(self, |m| m.on_event(&event));
                    self.events.push_back(ToSwarm::GenerateEvent(event));
                }
                Action::Disconnect { peer } => {
                    tracing::debug!(%peer, "disconnecting a peer graylisted for invalid messages");
                    self.events.push_back(ToSwarm::CloseConnection {
                        peer_id: peer,
                        connection: CloseConnection::All,
                    });
                }
                Action::Dial { peer, addresses } => {
                    observe!(self, |m| m.on_dial());
                    tracing::debug!(%peer, ?addresses, "dialling");
                    self.events.push_back(ToSwarm::Dial {
                        // Our own addresses for direct peers come from
                        // `handle_pending_outbound_connection`, other behaviours' too.
                        opts: DialOpts::peer_id(peer)
                            .addresses(addresses)
                            .extend_addresses_through_behaviour()
                            .condition(PeerCondition::DisconnectedAndNotDialing)
                            .build(),
                    });
                }
            }
        }
        if !self.events.is_empty()
            && let Some(waker) = self.waker.take()
        {
            waker.wake();
        }
        queued
    }

    /// `peer`'s queue refused an RPC of `class`: count it for the next slow-peer report, and
    /// disconnect the peer if it was control.
    fn queue_full(&mut self, peer: PeerId, class: Class) {
        self.router.counters_mut().send_queue_full += 1;
        let failed = self.dropped.entry(peer).or_default();
        match class {
            Class::Publish => failed.publish += 1,
            Class::Forward => failed.forward += 1,
            Class::Control => failed.control += 1,
        }
        if class != Class::Control {
            tracing::debug!(%peer, ?class, "send queue full; RPC dropped");
            return;
        }
        // Stop queueing for it: RPCs to a peer without a queue are skipped until its
        // connections are gone. Several refused pieces of one RPC disconnect it once.
        if self.queues.remove(&peer).is_none() {
            return;
        }
        self.router.counters_mut().slow_peers_disconnected += 1;
        tracing::warn!(%peer, "control send queue full; disconnecting the peer");
        self.events.push_back(ToSwarm::CloseConnection {
            peer_id: peer,
            connection: CloseConnection::All,
        });
    }

    /// Drops what expired in the queues, reports every peer that had drops since the last
    /// heartbeat to the router, and refreshes the keep-alive flags.
    fn on_heartbeat(&mut self, now: Instant) {
        self.router.handle_timeout(now);
        observe!(self, |m| m.on_heartbeat_duration(now.elapsed()));
        for (peer, queue) in &self.queues {
            let purged = queue.purge_expired(now);
            if purged.gossip > 0 {
                self.router.counters_mut().send_queue_gossip_expired += purged.gossip as u64;
                tracing::debug!(%peer, entries = purged.gossip, "stale queued IHAVE dropped");
            }
            if purged.messages > 0 {
                self.router.counters_mut().send_queue_expired += purged.messages as u64;
                self.dropped.entry(*peer).or_default().timeout += purged.messages;
                tracing::debug!(%peer, rpcs = purged.messages, "queued RPCs expired; dropped");
            }
        }
        for (peer, failed) in std::mem::take(&mut self.dropped) {
            self.router.report_send_failures(now, peer, failed);
        }
        self.update_keep_alive(now);
        self.drain_router();
        observe!(self, |m| m.on_heartbeat(&self.router, self.queues.values()));
    }

    /// Sets every queue's keep-alive flag from the router's view of its peer (a queue whose
    /// connection is still being set up is wanted again when it is established).
    fn update_keep_alive(&mut self, now: Instant) {
        self.keep_alive_grace.retain(|_, until| *until > now);
        for (peer, queue) in &self.queues {
            queue.set_wanted(
                self.keep_alive_grace.contains_key(peer) || self.router.wants_connection(peer),
            );
        }
    }

    fn new_handler(&mut self, peer: PeerId, connection_id: ConnectionId) -> Handler {
        let queue = self
            .queues
            .entry(peer)
            .or_insert_with(|| PeerQueue::new(QueueLimits::from_config(self.router.config())))
            .clone();
        Handler::new(self.handler_config.clone(), queue, connection_id)
    }

    fn on_connection_established(&mut self, event: ConnectionEstablished<'_>) {
        let conns = self.connections.entry(event.peer_id).or_default();
        conns.push(event.connection_id);
        if conns.len() == 1 {
            let now = Instant::now();
            self.router
                .add_peer(now, event.peer_id, event.endpoint.is_dialer());
            let grace = self
                .router
                .config()
                .heartbeat_interval()
                .checked_mul(KEEP_ALIVE_GRACE_HEARTBEATS)
                .and_then(|d| now.checked_add(d));
            if let Some(until) = grace {
                self.keep_alive_grace.insert(event.peer_id, until);
            }
            if let Some(queue) = self.queues.get(&event.peer_id) {
                queue.set_wanted(true);
            }
        }
        if let Some(ip) = ip_of(event.endpoint.get_remote_address()) {
            self.router.add_peer_ip(&event.peer_id, ip);
        }
        self.drain_router();
    }

    fn on_connection_closed(&mut self, event: ConnectionClosed<'_>) {
        let Some(conns) = self.connections.get_mut(&event.peer_id) else {
            return;
        };
        conns.retain(|c| *c != event.connection_id);
        let last = conns.is_empty();
        // The last connection's IP stays with the peer's score record: `remove_peer` drops it
        // with the record, or keeps it counted for P6 while the record is retained.
        if !last && let Some(ip) = ip_of(event.endpoint.get_remote_address()) {
            self.router.remove_peer_ip(&event.peer_id, &ip);
        }
        if last {
            self.connections.remove(&event.peer_id);
            self.queues.remove(&event.peer_id);
            if let Some(failed) = self.dropped.remove(&event.peer_id) {
                // Its last drops (e.g. the full control queue that got it disconnected) are
                // reported now: there is no later heartbeat for it.
                self.router
                    .report_send_failures(Instant::now(), event.peer_id, failed);
            }
            self.keep_alive_grace.remove(&event.peer_id);
            self.router.remove_peer(&event.peer_id);
            self.drain_router();
        }
    }

    /// Counts and logs what a handler reports about its outbound stream; closes a connection
    /// whose handler gave up.
    fn on_send_event(&mut self, peer: PeerId, connection: ConnectionId, event: SendEvent) {
        let counters = self.router.counters_mut();
        match event {
            SendEvent::StreamReopened { reason } => {
                counters.outbound_streams_reopened += 1;
                tracing::debug!(%peer, ?connection, %reason, "outbound stream reopened");
            }
            SendEvent::GaveUp { reason } => {
                counters.outbound_streams_given_up += 1;
                tracing::warn!(
                    %peer,
                    ?connection,
                    %reason,
                    "outbound stream failed too often; closing the connection"
                );
                self.events.push_back(ToSwarm::CloseConnection {
                    peer_id: peer,
                    connection: CloseConnection::One(connection),
                });
                if let Some(waker) = self.waker.take() {
                    waker.wake();
                }
            }
            SendEvent::FrameLimitLowered { limit } => {
                counters.peer_frame_limits_lowered += 1;
                tracing::info!(%peer, ?connection, limit, "frames to the peer capped");
            }
            SendEvent::Unencodable { reason } => {
                counters.rpcs_unencodable += 1;
                tracing::warn!(%peer, ?connection, %reason, "RPC could not be encoded; dropped");
            }
            SendEvent::RequeueShed {
                class,
                messages,
                gossip,
                control,
            } => {
                counters.send_queue_requeue_shed += (messages + gossip + control) as u64;
                tracing::debug!(%peer, ?connection, ?class, messages, gossip, control, "split RPC requeued; send queue over its bounds shed");
                // Dropped messages and control count like refused pushes: a slow peer,
                // disconnected when it misses control.
                for _ in 0..messages {
                    self.queue_full(peer, class);
                }
                if control > 0 {
                    self.queue_full(peer, Class::Control);
                }
            }
        }
    }

    /// A connection we made a handler for never became established: forget its queue if the
    /// peer has no other connection.
    fn forget_unused_queue(&mut self, peer: Option<PeerId>) {
        if let Some(peer) = peer
            && !self.connections.contains_key(&peer)
        {
            self.queues.remove(&peer);
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Event;

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.new_handler(peer, connection_id))
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.new_handler(peer, connection_id))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        _addresses: &[Multiaddr],
        _effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        Ok(maybe_peer
            .and_then(|peer| self.direct_addrs.get(&peer).cloned())
            .unwrap_or_default())
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.on_address_change(&event);
        match event {
            FromSwarm::ConnectionEstablished(e) => self.on_connection_established(e),
            FromSwarm::ConnectionClosed(e) => self.on_connection_closed(e),
            FromSwarm::DialFailure(e) => self.forget_unused_queue(e.peer_id),
            FromSwarm::ListenFailure(e) => self.forget_unused_queue(e.peer_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event.0 {
            HandlerEvent::Send(event) => {
                self.on_send_event(peer_id, connection_id, event);
                return;
            }
            HandlerEvent::PeerKind(kind) => self.router.set_peer_kind(peer_id, kind),
            HandlerEvent::Rpc(decoded) => {
                if !decoded.drops.is_empty() {
                    self.router.counters_mut().add_decode_drops(&decoded.drops);
                    tracing::debug!(
                        peer = %peer_id,
                        drops = ?decoded.drops,
                        "entries over per-RPC limits skipped at decode"
                    );
                }
                self.router.report_decode_drops(
                    peer_id,
                    &decoded.malformed_messages,
                    decoded.unknown_control,
                );
                observe!(self, |m| m.on_receive(&decoded.rpc));
                self.router.handle_rpc(Instant::now(), peer_id, decoded.rpc);
            }
            HandlerEvent::Dropped(reason) => {
                let counters = self.router.counters_mut();
                match &reason {
                    DropReason::TooLarge { .. } => counters.rpcs_too_large += 1,
                    DropReason::Malformed(_) => counters.rpcs_malformed += 1,
                }
                tracing::debug!(peer = %peer_id, %reason, "RPC frame dropped");
            }
        }
        self.drain_router();
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(event);
        }
        self.waker = Some(cx.waker().clone());
        while self.timer.poll_unpin(cx).is_ready() {
            let now = Instant::now();
            self.on_heartbeat(now);
            let next = self.router.poll_timeout();
            self.timer.reset(
                next.saturating_duration_since(now)
                    .max(Duration::from_millis(1)),
            );
        }
        match self.events.pop_front() {
            Some(event) => Poll::Ready(event),
            None => Poll::Pending,
        }
    }
}

fn add_addr(addrs: &mut Vec<Multiaddr>, addr: &Multiaddr) -> bool {
    if addrs.contains(addr) {
        return false;
    }
    addrs.push(addr.clone());
    true
}

fn remove_addr(addrs: &mut Vec<Multiaddr>, addr: &Multiaddr) -> bool {
    let before = addrs.len();
    addrs.retain(|a| a != addr);
    addrs.len() != before
}

/// The IP address of a multiaddr's first `/ip4` or `/ip6` component.
fn ip_of(addr: &Multiaddr) -> Option<std::net::IpAddr> {
    addr.iter().find_map(|p| match p {
        libp2p_core::multiaddr::Protocol::Ip4(ip) => Some(ip.into()),
        libp2p_core::multiaddr::Protocol::Ip6(ip) => Some(ip.into()),
        _ => None,
    })
}

/// When the gossip (IHAVE) in a control RPC queued at `now` goes stale: the advertised ids
/// stay in our message cache for `history_length` heartbeats and the newest of them was
/// cached up to `history_gossip` heartbeats before, so after `history_length - history_gossip`
/// heartbeats (at least one) an IWANT for them may no longer be served. `None` (never) if the
/// instant does not fit.
fn control_gossip_expiry(config: &Config, now: Instant) -> Option<Instant> {
    let beats = config
        .history_length()
        .saturating_sub(config.history_gossip())
        .max(1);
    let beats = u32::try_from(beats).unwrap_or(u32::MAX);
    config
        .heartbeat_interval()
        .checked_mul(beats)
        .and_then(|d| now.checked_add(d))
}

#[cfg(test)]
#[path = "behaviour_tests.rs"]
mod tests;

#[cfg(feature = "partial-messages")]
#[path = "behaviour_partial.rs"]
mod partial;
