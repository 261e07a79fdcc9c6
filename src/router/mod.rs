//! The sans-IO GossipSub router.
//!
//! Every protocol decision lives here. The router never reads the clock, never touches a
//! socket and owns a seeded RNG: time comes in as an [`Instant`] argument, input as method
//! calls, and output goes out through [`Router::poll_action`]. The same code therefore runs in
//! a real swarm, in unit tests that move time by passing later instants, and in a simulator.
//!
//! Contract:
//! - inputs: [`Router::add_peer`], [`Router::set_peer_kind`], [`Router::remove_peer`],
//!   [`Router::handle_rpc`], [`Router::subscribe`], [`Router::unsubscribe`],
//!   [`Router::publish`], [`Router::report_validation`], [`Router::handle_timeout`],
//!   [`Router::report_send_failures`] (what the send path dropped);
//! - outputs: [`Router::poll_action`] until `None`, and [`Router::poll_timeout`] for the next
//!   instant at which [`Router::handle_timeout`] must be called.

mod backoff;
mod batch;
mod counters;
mod gossip;
mod heartbeat;
#[doc(hidden)]
pub mod invariants;
pub(crate) mod mcache;
mod mesh;
mod mesh_stats;
mod messages;
#[cfg(feature = "partial-messages")]
mod partial;
#[cfg(feature = "partial-messages")]
mod partial_budget;
#[cfg(not(feature = "partial-messages"))]
mod partial_off;
mod peers;
mod prehashed;
mod promises;
mod px;
mod scoring;
pub(crate) mod seen;
mod send_feedback;
mod shrink;
mod sigcheck;
#[cfg(test)]
mod tests;
mod unwanted;

use std::collections::{HashMap, HashSet, VecDeque};
use web_time::Instant;

use bytes::Bytes;
use libp2p_core::Multiaddr;
use libp2p_identity::PeerId;
use rand::SeedableRng;
use rand::rngs::StdRng;

pub use counters::Counters;
pub use mesh_stats::{MeshChurn, MeshInclusion, MeshTopicStats};
pub use px::{PeerRecordError, verify_envelope, verify_peer_record};

use crate::authenticity::MessageAuthenticity;
use crate::config::Config;
use crate::error::{ConfigError, SubscriptionError};
use crate::event::Event;
use crate::filter::{AllowAllSubscriptionFilter, SubscriptionFilter};
use crate::transform::{DataTransform, IdentityTransform};
use crate::types::{ControlAction, MessageId, PeerKind, Rpc, Subscription, TopicHash};

use mcache::MessageCache;
use peers::PeerState;
use prehashed::{HashedPeer, PrehashedMap, PrehashedSet};
use promises::GossipPromises;
use seen::SeenCache;

/// A hash map with the router's seeded hasher: iteration order is reproducible from the seed,
/// and remote peers cannot predict bucket placement.
pub(crate) type Map<K, V> = HashMap<K, V, ahash::RandomState>;
/// A hash set with the router's seeded hasher.
pub(crate) type Set<K> = HashSet<K, ahash::RandomState>;

/// The priority class of an outbound RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendClass {
    /// Subscriptions and control messages: sent first, never expire.
    Control,
    /// Messages we publish.
    Publish,
    /// Messages we forward (and IWANT replies): dropped first, expire soonest, cancelled by
    /// IDONTWANT.
    Forward,
}

/// An output of the router.
#[derive(Debug, Clone)]
pub enum Action {
    /// Send `rpc` to `peer`.
    Send {
        /// The recipient.
        peer: PeerId,
        /// What to send.
        rpc: Rpc,
        /// Its priority class.
        class: SendClass,
        /// The id of the message it carries, for publishes and forwards.
        message_id: Option<MessageId>,
    },
    /// `peer` has message `message_id` (its IDONTWANT, or a copy it sent us): drop queued
    /// publishes and forwards of it.
    CancelForward {
        /// The peer.
        peer: PeerId,
        /// The message.
        message_id: MessageId,
    },
    /// Report an event to the application.
    Event(Event),
    /// Close every connection to `peer`: it was graylisted for repeated invalid messages
    /// (`max_invalid_signatures`). Emitted once per graylisting.
    Disconnect {
        /// The peer.
        peer: PeerId,
    },
    /// Connect to `peer` (peer exchange, direct peers) if not connected, using `addresses`
    /// (taken from a verified signed peer record; empty to rely on addresses known elsewhere).
    Dial {
        /// The peer.
        peer: PeerId,
        /// Where to reach it.
        addresses: Vec<Multiaddr>,
    },
}

/// The sans-IO GossipSub state machine. See the [module docs](self).
pub struct Router {
    config: Config,
    authenticity: MessageAuthenticity,
    local_peer_id: Option<PeerId>,
    rng: StdRng,
    hasher: ahash::RandomState,
    next_seqno: u64,
    /// Connected peers. This table and the peer sets below are keyed by prehashed peers
    /// (see [`prehashed`]): same order as with `PeerId` keys, no hashing per lookup.
    peers: PrehashedMap<PeerState>,
    /// Peers subscribed to each topic (any protocol kind).
    topic_peers: Map<TopicHash, PrehashedSet>,
    /// Our subscriptions and their meshes.
    mesh: Map<TopicHash, PrehashedSet>,
    /// Mesh changes per topic by reason (one entry per topic we ever joined).
    mesh_stats: Map<TopicHash, MeshTopicStats>,
    /// Fanout peers of topics we publish to without being subscribed.
    fanout: Map<TopicHash, PrehashedSet>,
    /// When we last published to each fanout topic.
    fanout_last_pub: Map<TopicHash, Instant>,
    /// PRUNE backoffs per (peer, topic).
    backoff: backoff::Backoffs,
    mcache: MessageCache,
    seen: SeenCache,
    /// The ids each peer does not want from us (IDONTWANT, or a copy it sent).
    unwanted: unwanted::Unwanted,
    /// Control messages to send, merged per peer and flushed at the end of each input (in
    /// this map's order, which is that of a `Map<PeerId, Rpc>`). Only connected peers have
    /// one: an entry is made for a peer found in `peers` and removed when it leaves.
    pending_control: PrehashedMap<Rpc>,
    actions: VecDeque<Action>,
    next_heartbeat: Instant,
    heartbeat_ticks: u64,
    counters: Counters,
    filter: Box<dyn SubscriptionFilter>,
    promises: GossipPromises,
    /// Direct (explicit) peers: always forwarded to, never in a mesh, redialled.
    direct_peers: PrehashedSet,
    /// Peers whose RPCs and messages we drop and never graft.
    blacklist: PrehashedSet,
    /// Signed peer records of other peers, offered in PX and dialled (bounded store).
    peer_records: px::PeerRecordStore,
    /// PX dials not yet answered by a connection (bounded).
    px_dials: px::PendingDials,
    /// Recently failed authenticity checks (bounded).
    failed_checks: sigcheck::FailedChecks,
    /// Peer scoring, when turned on.
    scoring: Option<scoring::Scoring>,
    /// Wire data <-> application data (see [`crate::transform`]).
    transform: Box<dyn DataTransform>,
    /// The latest instant passed in (time never goes back).
    now: Instant,
    /// A peer list reused by the per-message paths (IDONTWANT, forwarding), so they do not
    /// allocate one per message. Always empty between uses.
    scratch_peers: Vec<HashedPeer>,
    /// Whether an IDONTWANT emits [`Action::CancelForward`] (see
    /// [`Router::set_cancel_forwards`]).
    cancel_forwards: bool,
    /// Per-heartbeat budgets spent by peers that disconnected since the last heartbeat,
    /// restored if they reconnect before it (bounded; see `peers::SpentBudgets`).
    departed_budgets: Map<PeerId, peers::SpentBudgets>,
    /// Mesh removals of peers while scoring is on (each can lower the peer's score at once);
    /// the heartbeat compares it before and after maintaining the meshes.
    scored_mesh_removals: u64,
    /// The Partial Messages extension.
    #[cfg(feature = "partial-messages")]
    partial: partial::PartialState,
}

impl Router {
    /// Creates a router. `seed` drives every random choice (and the hasher), so two routers
    /// built with the same seed and fed the same inputs behave identically. `first_seqno` is the
    /// sequence number of our first published message (use a time-based value in production).
    pub fn new(
        config: Config,
        authenticity: MessageAuthenticity,
        seed: u64,
        first_seqno: u64,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        config.validate_with(&authenticity)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let hasher = {
            use rand::Rng;
            ahash::RandomState::with_seeds(rng.r#gen(), rng.r#gen(), rng.r#gen(), rng.r#gen())
        };
        let local_peer_id = match &authenticity {
            MessageAuthenticity::Signed(k) => Some(k.public().to_peer_id()),
            MessageAuthenticity::Author(p) => Some(*p),
            MessageAuthenticity::RandomAuthor | MessageAuthenticity::Anonymous => None,
        };
        macro_rules! map {
            () => {
                Map::with_hasher(hasher.clone())
            };
        }
        let mut direct_peers = PrehashedSet::default();
        direct_peers.extend(
            config
                .direct_peers()
                .iter()
                .map(|peer| HashedPeer::new(&hasher, *peer)),
        );
        Ok(Router {
            filter: Box::new(AllowAllSubscriptionFilter),
            promises: GossipPromises::new(hasher.clone()),
            direct_peers,
            blacklist: PrehashedSet::default(),
            peer_records: px::PeerRecordStore::new(hasher.clone()),
            px_dials: px::PendingDials::new(hasher.clone()),
            failed_checks: sigcheck::FailedChecks::new(hasher.clone()),
            scoring: None,
            transform: Box::new(IdentityTransform),
            now,
            #[cfg(feature = "partial-messages")]
            partial: partial::PartialState::new(&hasher),
            mcache: MessageCache::new(
                config.history_length(),
                config.history_gossip(),
                config.max_cache_bytes(),
                hasher.clone(),
            ),
            seen: SeenCache::new(config.seen_ttl(), config.max_seen_bytes(), map!()),
            unwanted: unwanted::Unwanted::new(hasher.clone()),
            next_heartbeat: now + config.heartbeat_initial_delay(),
            peers: PrehashedMap::default(),
            departed_budgets: map!(),
            topic_peers: map!(),
            mesh: map!(),
            mesh_stats: map!(),
            fanout: map!(),
            fanout_last_pub: map!(),
            backoff: backoff::Backoffs::new(hasher.clone()),
            pending_control: PrehashedMap::default(),
            scored_mesh_removals: 0,
            config,
            authenticity,
            local_peer_id,
            rng,
            hasher,
            next_seqno: first_seqno,
            actions: VecDeque::new(),
            heartbeat_ticks: 0,
            counters: Counters::default(),
            scratch_peers: Vec::new(),
            cancel_forwards: true,
        })
    }

    /// Whether an IDONTWANT received emits [`Action::CancelForward`] for the send queue (on by
    /// default). The simulator, whose links take every RPC at once and so hold no queued
    /// forward, turns it off: the ids are still recorded and honoured when forwarding.
    #[cfg(any(test, feature = "sim"))]
    pub(crate) fn set_cancel_forwards(&mut self, on: bool) {
        self.cancel_forwards = on;
    }

    /// The next output, if any. Call until `None` after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Exchanges the action buffer with `other`, which must be empty; actions already queued
    /// stay queued, first. The simulator lends each router its thread's buffer for one input
    /// (and takes it back once drained), so actions are written to lines in cache instead of
    /// to the router's own buffer, cold among thousands of routers.
    #[cfg(feature = "sim")]
    pub(crate) fn swap_actions(&mut self, other: &mut VecDeque<Action>) {
        debug_assert!(other.is_empty());
        std::mem::swap(&mut self.actions, other);
        if !other.is_empty() {
            self.actions.extend(other.drain(..));
        }
    }

    /// The instant at which [`Router::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Instant {
        self.next_heartbeat
    }

    /// Runs whatever is due at `now` (the heartbeat).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        if now >= self.next_heartbeat {
            self.heartbeat(now);
            // Skip missed beats rather than running a burst of them.
            let interval = self.config.heartbeat_interval();
            self.next_heartbeat += interval;
            if self.next_heartbeat <= now {
                self.next_heartbeat = now + interval;
            }
        }
        self.flush_control();
    }

    /// Subscribes to `topic`: announces it to every peer and builds its mesh (from fanout peers
    /// first). Returns `Ok(false)` if we were already subscribed, and an error if the topic is
    /// longer than `max_topic_len` (peers with our limits skip every entry naming it) or the
    /// subscription filter refuses it.
    pub fn subscribe(&mut self, now: Instant, topic: TopicHash) -> Result<bool, SubscriptionError> {
        self.touch(now);
        if self.mesh.contains_key(&topic) {
            return Ok(false);
        }
        if topic.as_str().len() > self.config.max_topic_len() {
            return Err(SubscriptionError::TopicTooLong(topic));
        }
        if !self.filter.allow(&topic) {
            return Err(SubscriptionError::NotAllowed(topic));
        }
        tracing::debug!(%topic, "subscribing");
        self.announce_subscription(&topic, true);
        self.join(now, topic);
        self.flush_control();
        Ok(true)
    }

    /// Sets the data transform applied to received messages before their id is computed and
    /// to published data before it goes on the wire (see [`crate::transform`]). Default:
    /// [`IdentityTransform`]. Set it before the first message: messages already cached keep
    /// the ids they were given.
    pub fn set_data_transform(&mut self, transform: impl DataTransform) {
        self.transform = Box::new(transform);
    }

    /// Replaces the subscription filter (default: allow all).
    pub fn set_subscription_filter(&mut self, filter: impl SubscriptionFilter) {
        self.filter = Box::new(filter);
    }

    /// Adds a direct peer: always forwarded to, never grafted, redialled every
    /// `direct_connect_ticks` heartbeats while disconnected.
    pub fn add_direct_peer(&mut self, peer: PeerId) {
        let key = self.hashed(peer);
        if self.direct_peers.insert(key) {
            self.leave_all_meshes(&key, MeshChurn::Excluded);
            if !self.peers.contains_key(&key) {
                let addresses = self.record_addresses(&peer);
                self.actions.push_back(Action::Dial { peer, addresses });
            }
        }
    }

    /// Removes a direct peer (it becomes an ordinary peer).
    pub fn remove_direct_peer(&mut self, peer: &PeerId) {
        self.direct_peers.remove(&self.hashed(*peer));
    }

    /// The direct peers.
    pub fn direct_peers(&self) -> impl Iterator<Item = &PeerId> {
        self.direct_peers.iter().map(|p| p.id())
    }

    /// Blacklists `peer`: its RPCs and the messages it authored are dropped, and it is never
    /// grafted or forwarded to.
    pub fn blacklist_peer(&mut self, peer: PeerId) {
        let key = self.hashed(peer);
        if self.blacklist.insert(key) {
            self.leave_all_meshes(&key, MeshChurn::Excluded);
            for fanout in self.fanout.values_mut() {
                fanout.remove(&key);
            }
        }
    }

    /// Removes `peer` from the blacklist.
    pub fn remove_blacklisted_peer(&mut self, peer: &PeerId) {
        self.blacklist.remove(&self.hashed(*peer));
    }

    /// Adds a signed peer record (a serialised `SignedEnvelope`) of another peer, to offer it
    /// in peer exchange. The record is checked against `max_peer_record_size` and
    /// `max_peer_record_addresses` and verified first, and copied; returns the peer it
    /// describes. A record older (lower `seq`) than the one stored for its peer is refused
    /// ([`PeerRecordError::Stale`]). The store keeps at most 10,000 records (4 MiB) for an hour each, evicting
    /// the oldest first.
    pub fn add_peer_record(&mut self, envelope: Bytes) -> Result<PeerId, PeerRecordError> {
        self.take_peer_record(&envelope, None).map(|r| r.peer_id())
    }

    /// The addresses of `peer`'s stored signed record (verified when stored).
    fn record_addresses(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.peer_records.addresses(peer)
    }

    /// The signed peer record stored for `peer`, if any.
    pub fn peer_record(&self, peer: &PeerId) -> Option<&Bytes> {
        self.peer_records.get(peer)
    }

    /// Unsubscribes from `topic`: announces it, PRUNEs the mesh with the unsubscribe backoff.
    /// Returns `false` if we were not subscribed.
    pub fn unsubscribe(&mut self, now: Instant, topic: &TopicHash) -> bool {
        self.touch(now);
        if !self.mesh.contains_key(topic) {
            return false;
        }
        tracing::debug!(%topic, "unsubscribing");
        self.announce_subscription(topic, false);
        self.partial_unsubscribed(topic);
        self.leave(now, topic);
        self.flush_control();
        true
    }

    /// Our subscribed topics.
    pub fn topics(&self) -> impl Iterator<Item = &TopicHash> {
        self.mesh.keys()
    }

    /// The mesh peers of `topic` (empty if not subscribed).
    pub fn mesh_peers(&self, topic: &TopicHash) -> impl Iterator<Item = &PeerId> {
        self.mesh.get(topic).into_iter().flatten().map(|p| p.id())
    }

    /// The fanout peers of `topic`.
    pub fn fanout_peers(&self, topic: &TopicHash) -> impl Iterator<Item = &PeerId> {
        self.fanout.get(topic).into_iter().flatten().map(|p| p.id())
    }

    /// Every connected peer with the topics it is subscribed to.
    pub fn all_peers(&self) -> impl Iterator<Item = (&PeerId, Vec<&TopicHash>)> {
        self.peers
            .iter()
            .map(|(p, s)| (p.id(), s.topics.iter().collect()))
    }

    /// Every connected peer whose protocol is known, with that protocol.
    pub fn peer_protocol(&self) -> impl Iterator<Item = (&PeerId, &PeerKind)> {
        self.peers
            .iter()
            .filter_map(|(p, s)| s.kind.as_ref().map(|k| (p.id(), k)))
    }

    /// The extensions `peer` announced in its Extensions control message (meshsub 1.3), once
    /// received.
    pub fn peer_extensions(&self, peer: &PeerId) -> Option<crate::types::Extensions> {
        self.peers
            .get(&self.hashed(*peer))
            .and_then(|s| s.extensions)
    }

    /// The protocol `peer` speaks, if connected and known.
    pub fn peer_kind(&self, peer: &PeerId) -> Option<PeerKind> {
        self.peers.get(&self.hashed(*peer)).and_then(|s| s.kind)
    }

    /// Counts of dropped or ignored input.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Mutable counters, for the behaviour's own drops (full send queues, bad frames).
    pub(crate) fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of heartbeats run so far.
    pub fn heartbeat_ticks(&self) -> u64 {
        self.heartbeat_ticks
    }

    /// Number of stored signed peer records and their bytes, for memory accounting.
    pub fn peer_record_sizes(&self) -> (usize, usize) {
        self.peer_records.size()
    }

    /// Number of backoff entries (topic, peer) held, for memory accounting.
    pub fn backoff_len(&self) -> usize {
        self.backoff.len()
    }

    /// Mesh changes by reason, cumulative, for every topic we have joined (also after leaving
    /// it).
    pub fn mesh_stats(&self) -> impl Iterator<Item = (&TopicHash, &MeshTopicStats)> {
        self.mesh_stats.iter()
    }

    /// Topics we publish to through a fanout (not subscribed).
    pub fn fanout_topics(&self) -> impl Iterator<Item = &TopicHash> {
        self.fanout.keys()
    }

    /// Topics known to have at least one subscribed connected peer, with how many.
    pub fn topic_peer_counts(&self) -> impl Iterator<Item = (&TopicHash, usize)> {
        self.topic_peers.iter().map(|(t, s)| (t, s.len()))
    }

    /// How many of the mesh peers of `topic` we dialled (they count toward D_out).
    pub fn mesh_outbound_count(&self, topic: &TopicHash) -> usize {
        self.mesh
            .get(topic)
            .into_iter()
            .flatten()
            .filter(|p| self.peers.get(p).is_some_and(|s| s.outbound))
            .count()
    }

    /// Sizes of the message cache and the seen cache, for memory accounting.
    pub fn cache_sizes(&self) -> (usize, usize) {
        (self.mcache.len(), self.seen.len())
    }

    /// Bytes charged to the message cache and the seen cache, the figures their bounds
    /// ([`Config::max_cache_bytes`], [`Config::max_seen_bytes`]) apply to.
    pub fn cache_bytes(&self) -> (usize, usize) {
        (self.mcache.bytes(), self.seen.bytes())
    }

    /// Moves the caches' early evictions into the counters (after every insert).
    fn count_cache_evictions(&mut self) {
        let (mcache, seen) = (self.mcache.take_evicted(), self.seen.take_evicted());
        if mcache + seen > 0 {
            tracing::debug!(
                mcache,
                seen,
                "caches over their byte bounds; oldest entries dropped"
            );
        }
        self.counters.mcache_evicted += mcache;
        self.counters.seen_evicted += seen;
    }

    fn announce_subscription(&mut self, topic: &TopicHash, subscribe: bool) {
        let peers: Vec<HashedPeer> = self
            .peers
            .iter()
            // A peer whose protocol is not known yet gets every subscription when it is.
            .filter(|(_, s)| s.kind.is_some_and(|k| k != PeerKind::NotSupported))
            .map(|(p, _)| *p)
            .collect();
        let options = if subscribe {
            self.local_subscription_options(topic)
        } else {
            Default::default()
        };
        for peer in peers {
            self.control_rpc(peer).subscriptions.push(Subscription {
                options,
                subscribe,
                topic: topic.clone(),
            });
        }
    }

    /// The pending control RPC of `peer` (a connected peer), created on first use.
    fn control_rpc(&mut self, peer: HashedPeer) -> &mut Rpc {
        self.pending_control.entry(peer).or_default()
    }

    /// Queues a control message for `peer`, if its protocol has control messages.
    fn send_control(&mut self, peer: HashedPeer, action: ControlAction) {
        let Some(kind) = self.peers.get(&peer).and_then(|s| s.kind) else {
            return;
        };
        let allowed = match action {
            ControlAction::IDontWant { .. } => kind.supports_idontwant(),
            _ => kind.supports_control(),
        };
        if allowed {
            let control = &mut self.control_rpc(peer).control;
            if control.capacity() == 0 {
                // Most peers get one control message per input: an exact allocation rather
                // than the growth path's minimum of four slots.
                *control = vec![action];
            } else {
                control.push(action);
            }
        }
    }

    /// Turns the control messages gathered during this input into one RPC per peer.
    fn flush_control(&mut self) {
        if self.pending_control.is_empty() {
            return;
        }
        for (key, rpc) in self.pending_control.drain() {
            // Every entry is a connected peer's (see `pending_control`).
            debug_assert!(self.peers.contains_key(&key));
            if !rpc.is_empty() {
                self.actions.push_back(Action::Send {
                    peer: *key.id(),
                    rpc,
                    class: SendClass::Control,
                    message_id: None,
                });
            }
        }
    }

    /// Advances the router's notion of time (never backwards); every timed input calls it first.
    fn touch(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
        if self.actions.is_empty() {
            // Every input starts at the front of the action buffer (polled empty): its first
            // lines stay in cache, where a ring moving on through the whole buffer would write
            // each action to a cold line.
            self.actions.clear();
        }
    }

    /// Removes `peer` from every mesh (without PRUNE).
    fn leave_all_meshes(&mut self, peer: &HashedPeer, reason: MeshChurn) {
        let topics: Vec<TopicHash> = self.mesh.keys().cloned().collect();
        for topic in topics {
            self.mesh_remove(&topic, peer, reason);
        }
    }

    fn emit(&mut self, event: Event) {
        self.actions.push_back(Action::Event(event));
    }

    fn new_set<K>(&self) -> Set<K> {
        Set::with_hasher(self.hasher.clone())
    }

    /// `peer` with its hash under the router's hasher, the key of the router's peer tables:
    /// computed once where a peer id comes in.
    fn hashed(&self, peer: PeerId) -> HashedPeer {
        HashedPeer::new(&self.hasher, peer)
    }

    /// Looks up what handling an RPC from `peer` reads first (the peer's state) and discards
    /// it: the simulator calls this one event ahead, so that those lines are on their way by
    /// then. Changes no state.
    #[cfg(feature = "sim")]
    pub(crate) fn warm(&self, peer: &PeerId) {
        std::hint::black_box(self.peers.get(&self.hashed(*peer)));
    }
}
