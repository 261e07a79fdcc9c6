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
//!   [`Router::publish`], [`Router::report_validation`], [`Router::handle_timeout`];
//! - outputs: [`Router::poll_action`] until `None`, and [`Router::poll_timeout`] for the next
//!   instant at which [`Router::handle_timeout`] must be called.

mod counters;
mod gossip;
mod heartbeat;
mod mcache;
mod mesh;
mod messages;
mod peers;
mod seen;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use libp2p_identity::PeerId;
use rand::SeedableRng;
use rand::rngs::StdRng;

pub use counters::Counters;

use crate::authenticity::MessageAuthenticity;
use crate::config::Config;
use crate::error::ConfigError;
use crate::event::Event;
use crate::types::{ControlAction, MessageId, PeerKind, Rpc, Subscription, TopicHash};

use mcache::MessageCache;
use peers::PeerState;
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
    /// `peer` no longer wants message `message_id` (IDONTWANT): drop queued forwards of it.
    CancelForward {
        /// The peer.
        peer: PeerId,
        /// The message.
        message_id: MessageId,
    },
    /// Report an event to the application.
    Event(Event),
}

/// The sans-IO GossipSub state machine. See the [module docs](self).
pub struct Router {
    config: Config,
    authenticity: MessageAuthenticity,
    local_peer_id: Option<PeerId>,
    rng: StdRng,
    hasher: ahash::RandomState,
    next_seqno: u64,
    /// Connected peers.
    peers: Map<PeerId, PeerState>,
    /// Peers subscribed to each topic (any protocol kind).
    topic_peers: Map<TopicHash, Set<PeerId>>,
    /// Our subscriptions and their meshes.
    mesh: Map<TopicHash, Set<PeerId>>,
    /// Fanout peers of topics we publish to without being subscribed.
    fanout: Map<TopicHash, Set<PeerId>>,
    /// When we last published to each fanout topic.
    fanout_last_pub: Map<TopicHash, Instant>,
    /// (topic, peer) -> instant before which we must not GRAFT the peer.
    backoff: Map<(TopicHash, PeerId), Instant>,
    mcache: MessageCache,
    seen: SeenCache,
    /// Control messages to send, merged per peer and flushed at the end of each input.
    pending_control: Map<PeerId, Rpc>,
    actions: VecDeque<Action>,
    next_heartbeat: Instant,
    heartbeat_ticks: u64,
    counters: Counters,
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
        Ok(Router {
            mcache: MessageCache::new(
                config.history_length(),
                config.history_gossip(),
                hasher.clone(),
            ),
            seen: SeenCache::new(config.seen_ttl(), map!()),
            next_heartbeat: now + config.heartbeat_initial_delay(),
            peers: map!(),
            topic_peers: map!(),
            mesh: map!(),
            fanout: map!(),
            fanout_last_pub: map!(),
            backoff: map!(),
            pending_control: map!(),
            config,
            authenticity,
            local_peer_id,
            rng,
            hasher,
            next_seqno: first_seqno,
            actions: VecDeque::new(),
            heartbeat_ticks: 0,
            counters: Counters::default(),
        })
    }

    /// The next output, if any. Call until `None` after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The instant at which [`Router::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Instant {
        self.next_heartbeat
    }

    /// Runs whatever is due at `now` (the heartbeat).
    pub fn handle_timeout(&mut self, now: Instant) {
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
    /// first). Returns `false` if we were already subscribed.
    pub fn subscribe(&mut self, now: Instant, topic: TopicHash) -> bool {
        if self.mesh.contains_key(&topic) {
            return false;
        }
        tracing::debug!(%topic, "subscribing");
        self.announce_subscription(&topic, true);
        self.join(now, topic);
        self.flush_control();
        true
    }

    /// Unsubscribes from `topic`: announces it, PRUNEs the mesh with the unsubscribe backoff.
    /// Returns `false` if we were not subscribed.
    pub fn unsubscribe(&mut self, now: Instant, topic: &TopicHash) -> bool {
        if !self.mesh.contains_key(topic) {
            return false;
        }
        tracing::debug!(%topic, "unsubscribing");
        self.announce_subscription(topic, false);
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
        self.mesh.get(topic).into_iter().flatten()
    }

    /// The fanout peers of `topic`.
    pub fn fanout_peers(&self, topic: &TopicHash) -> impl Iterator<Item = &PeerId> {
        self.fanout.get(topic).into_iter().flatten()
    }

    /// Every connected peer with the topics it is subscribed to.
    pub fn all_peers(&self) -> impl Iterator<Item = (&PeerId, Vec<&TopicHash>)> {
        self.peers
            .iter()
            .map(|(p, s)| (p, s.topics.iter().collect()))
    }

    /// Every connected peer whose protocol is known, with that protocol.
    pub fn peer_protocol(&self) -> impl Iterator<Item = (&PeerId, &PeerKind)> {
        self.peers
            .iter()
            .filter_map(|(p, s)| s.kind.as_ref().map(|k| (p, k)))
    }

    /// The protocol `peer` speaks, if connected and known.
    pub fn peer_kind(&self, peer: &PeerId) -> Option<PeerKind> {
        self.peers.get(peer).and_then(|s| s.kind)
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

    /// Sizes of the message cache and the seen cache, for memory accounting.
    pub fn cache_sizes(&self) -> (usize, usize) {
        (self.mcache.len(), self.seen.len())
    }

    fn announce_subscription(&mut self, topic: &TopicHash, subscribe: bool) {
        let peers: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, s)| s.kind != Some(PeerKind::NotSupported))
            .map(|(p, _)| *p)
            .collect();
        for peer in peers {
            self.control_rpc(peer).subscriptions.push(Subscription {
                subscribe,
                topic: topic.clone(),
            });
        }
    }

    /// The pending control RPC of `peer`, created on first use.
    fn control_rpc(&mut self, peer: PeerId) -> &mut Rpc {
        self.pending_control.entry(peer).or_default()
    }

    /// Queues a control message for `peer`, if its protocol has control messages.
    fn send_control(&mut self, peer: PeerId, action: ControlAction) {
        let Some(kind) = self.peers.get(&peer).and_then(|s| s.kind) else {
            return;
        };
        let allowed = match action {
            ControlAction::IDontWant { .. } => kind.supports_idontwant(),
            _ => kind.supports_control(),
        };
        if allowed {
            self.control_rpc(peer).control.push(action);
        }
    }

    /// Turns the control messages gathered during this input into one RPC per peer.
    fn flush_control(&mut self) {
        if self.pending_control.is_empty() {
            return;
        }
        for (peer, rpc) in self.pending_control.drain() {
            if !rpc.is_empty() && self.peers.contains_key(&peer) {
                self.actions.push_back(Action::Send {
                    peer,
                    rpc,
                    class: SendClass::Control,
                    message_id: None,
                });
            }
        }
    }

    fn emit(&mut self, event: Event) {
        self.actions.push_back(Action::Event(event));
    }

    fn new_set<K>(&self) -> Set<K> {
        Set::with_hasher(self.hasher.clone())
    }
}
