//! The attacker: a lightweight GossipSub speaker without a router (like the evaluation's "bad
//! boy"). It claims every topic its peers announce, GRAFTs onto their meshes, regrafts after
//! PRUNEs, and then misbehaves according to its [`Strategy`].

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use libp2p_identity::PeerId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::Config;
use crate::sim::node::{NodeBehaviour, NodeCtx, NodeInit, NodeOutput};
use crate::types::{ControlAction, Message, MessageId, RawMessage, Rpc, Subscription, TopicHash};

/// The first bytes of every invalid message a sybil publishes; the honest validator of the
/// attack runs rejects payloads that start with it.
pub const INVALID_MARKER: &[u8] = b"INVALID!";

/// How often a sybil acts on its own (regrafts, floods), like a heartbeat.
const TICK: Duration = Duration::from_secs(1);

/// Fake message ids per IHAVE of the IHAVE flood (a fifth of go's `max_ihave_length`, to keep
/// the simulation fast: the router asks for at most `max_ihave_length` ids a heartbeat anyway).
const IHAVE_FLOOD_IDS: usize = 1000;

/// IWANT requests per tick of the IWANT spam, each for every remembered id.
const IWANT_SPAM_REQUESTS: usize = 4;

/// Remembered message ids for the IWANT spam.
const IWANT_SPAM_MEMORY: usize = 256;

/// What a sybil does once its attack has started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Drop every message (censorship / black hole). Regrafts after the backoff.
    BlackHole,
    /// Publish one invalid message to every peer every second, and drop real messages.
    SpamInvalid,
    /// Every second, send every peer an IHAVE of fresh fake ids and never answer the IWANTs
    /// (broken promises); drop real messages.
    IHaveFlood,
    /// GRAFT again every second after a PRUNE, ignoring the backoff; drop real messages.
    GraftFlood,
    /// Every second, ask every peer again and again for the ids it has heard of; drop real
    /// messages.
    IWantSpam,
}

/// How a sybil is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SybilConfig {
    /// The misbehaviour.
    pub strategy: Strategy,
    /// Until this much time into the run the sybil behaves: it forwards messages to its mesh
    /// (the covert flash attack builds score this way). Zero: it attacks from the start.
    pub attack_after: Duration,
    /// Fixed part of the delay before regrafting after a PRUNE (the evaluation: 1 min).
    pub regraft_backoff: Duration,
    /// Random extra delay before regrafting, uniform in `[0, regraft_jitter]` (15 s).
    pub regraft_jitter: Duration,
}

impl SybilConfig {
    /// The evaluation's sybil with `strategy`: attacks at once, regrafts 1 min + up to 15 s
    /// after a PRUNE.
    pub fn new(strategy: Strategy) -> Self {
        SybilConfig {
            strategy,
            attack_after: Duration::ZERO,
            regraft_backoff: Duration::from_secs(60),
            regraft_jitter: Duration::from_secs(15),
        }
    }
}

/// A seen-set of message fingerprints in two generations, so it stays bounded.
struct Seen {
    current: HashSet<u64>,
    previous: HashSet<u64>,
    rotate_at: Instant,
}

impl Seen {
    fn insert(&mut self, now: Instant, key: u64) -> bool {
        if now >= self.rotate_at {
            self.previous = std::mem::take(&mut self.current);
            self.rotate_at = now + Duration::from_secs(60);
        }
        !self.previous.contains(&key) && self.current.insert(key)
    }
}

/// One attacker node.
pub struct Sybil {
    peer_id: PeerId,
    config: Config,
    sybil: SybilConfig,
    start: Instant,
    rng: StdRng,
    topics: Vec<TopicHash>,
    peers: Vec<PeerId>,
    /// (peer, topic) pairs we believe we are grafted with. Ordered sets (here and in
    /// `pruned_by`): sends follow their order, and a std hash set's order changes from one
    /// run to the next (random keys), which made attack runs irreproducible.
    mesh: BTreeSet<(PeerId, TopicHash)>,
    /// Regrafts due: (when, peer, topic).
    regrafts: Vec<(Instant, PeerId, TopicHash)>,
    /// (peer, topic) pairs that pruned us (for the GRAFT flood).
    pruned_by: BTreeSet<(PeerId, TopicHash)>,
    seen: Seen,
    /// Ids heard of, for the IWANT spam (bounded).
    heard: Vec<MessageId>,
    next_tick: Instant,
    counter: u64,
    /// Distinguishes this sybil's fake ids from every other's.
    start_tag: [u8; 8],
}

impl Sybil {
    /// A sybil built from the network's `init`.
    pub fn new(init: &NodeInit, sybil: SybilConfig) -> Self {
        Sybil {
            peer_id: init.keypair.public().to_peer_id(),
            config: init.config.clone(),
            sybil,
            start: init.now,
            rng: StdRng::seed_from_u64(init.seed),
            topics: Vec::new(),
            peers: Vec::new(),
            mesh: BTreeSet::new(),
            regrafts: Vec::new(),
            pruned_by: BTreeSet::new(),
            seen: Seen {
                current: HashSet::new(),
                previous: HashSet::new(),
                rotate_at: init.now + Duration::from_secs(60),
            },
            heard: Vec::new(),
            next_tick: init.now + TICK,
            counter: 0,
            start_tag: init.seed.to_be_bytes(),
        }
    }

    fn attacking(&self, now: Instant) -> bool {
        now >= self.start + self.sybil.attack_after
    }

    fn send(ctx: &mut NodeCtx<'_>, to: PeerId, rpc: Rpc, message_id: Option<MessageId>) {
        ctx.output(NodeOutput::Send {
            to,
            rpc,
            message_id,
        });
    }

    fn graft(&mut self, ctx: &mut NodeCtx<'_>, peer: PeerId, topic: TopicHash) {
        self.mesh.insert((peer, topic.clone()));
        let rpc = Rpc {
            control: vec![ControlAction::Graft { topic }],
            ..Rpc::default()
        };
        Self::send(ctx, peer, rpc, None);
    }

    fn fingerprint(message: &RawMessage) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = ahash::RandomState::with_seeds(9, 8, 7, 6).build_hasher();
        h.write(message.topic.as_str().as_bytes());
        h.write(&message.data);
        h.finish()
    }

    fn message_id(&self, message: &RawMessage) -> MessageId {
        self.config.message_id(&Message {
            source: message.source,
            data: message.data.clone(),
            sequence_number: message.sequence_number,
            topic: message.topic.clone(),
        })
    }

    fn remember(&mut self, id: MessageId) {
        if self.heard.len() >= IWANT_SPAM_MEMORY {
            let i = self.rng.gen_range(0..self.heard.len());
            self.heard[i] = id;
        } else {
            self.heard.push(id);
        }
    }

    fn on_message(&mut self, ctx: &mut NodeCtx<'_>, from: PeerId, message: RawMessage) {
        if !self.seen.insert(ctx.now(), Self::fingerprint(&message)) {
            return;
        }
        let id = self.message_id(&message);
        if self.sybil.strategy == Strategy::IWantSpam {
            self.remember(id.clone());
        }
        if self.attacking(ctx.now()) {
            return;
        }
        // Behaving (covert flash, before the attack): forward to our mesh like an honest peer.
        let targets: Vec<PeerId> = self
            .mesh
            .iter()
            .filter(|(p, t)| *t == message.topic && *p != from)
            .map(|(p, _)| *p)
            .collect();
        for peer in targets {
            let rpc = Rpc {
                messages: vec![message.clone()],
                ..Rpc::default()
            };
            Self::send(ctx, peer, rpc, Some(id.clone()));
        }
    }

    fn on_tick(&mut self, ctx: &mut NodeCtx<'_>) {
        let now = ctx.now();
        let due: Vec<(PeerId, TopicHash)> = {
            let (due, keep): (Vec<_>, Vec<_>) =
                self.regrafts.drain(..).partition(|(at, _, _)| *at <= now);
            self.regrafts = keep;
            due.into_iter().map(|(_, p, t)| (p, t)).collect()
        };
        for (peer, topic) in due {
            if self.peers.contains(&peer) {
                self.graft(ctx, peer, topic);
            }
        }
        if !self.attacking(now) {
            return;
        }
        match self.sybil.strategy {
            Strategy::BlackHole => {}
            Strategy::SpamInvalid => {
                for topic in self.topics.clone() {
                    self.counter += 1;
                    let mut data = INVALID_MARKER.to_vec();
                    data.extend_from_slice(&self.counter.to_be_bytes());
                    data.extend_from_slice(&self.peer_id.to_bytes());
                    let raw = RawMessage {
                        source: None,
                        data: Bytes::from(data),
                        data_absent: false,
                        sequence_number: None,
                        topic,
                        signature: None,
                        key: None,
                    };
                    for peer in self.peers.clone() {
                        let rpc = Rpc {
                            messages: vec![raw.clone()],
                            ..Rpc::default()
                        };
                        Self::send(ctx, peer, rpc, None);
                    }
                }
            }
            Strategy::IHaveFlood => {
                for topic in self.topics.clone() {
                    for peer in self.peers.clone() {
                        let message_ids = (0..IHAVE_FLOOD_IDS)
                            .map(|_| {
                                self.counter += 1;
                                let mut id = [0u8; 20];
                                id[..8].copy_from_slice(&self.counter.to_be_bytes());
                                id[8..16].copy_from_slice(&self.start_tag);
                                MessageId::new(id.to_vec())
                            })
                            .collect();
                        let rpc = Rpc {
                            control: vec![ControlAction::IHave {
                                topic: topic.clone(),
                                message_ids,
                            }],
                            ..Rpc::default()
                        };
                        Self::send(ctx, peer, rpc, None);
                    }
                }
            }
            Strategy::GraftFlood => {
                let pairs: Vec<(PeerId, TopicHash)> = self.pruned_by.iter().cloned().collect();
                for (peer, topic) in pairs {
                    if self.peers.contains(&peer) {
                        self.graft(ctx, peer, topic);
                    }
                }
            }
            Strategy::IWantSpam => {
                if !self.heard.is_empty() {
                    for peer in self.peers.clone() {
                        let control = (0..IWANT_SPAM_REQUESTS)
                            .map(|_| ControlAction::IWant {
                                message_ids: self.heard.clone(),
                            })
                            .collect();
                        let rpc = Rpc {
                            control,
                            ..Rpc::default()
                        };
                        Self::send(ctx, peer, rpc, None);
                    }
                }
            }
        }
    }
}

impl NodeBehaviour for Sybil {
    fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    fn on_connect(&mut self, ctx: &mut NodeCtx<'_>, peer: PeerId, _outbound: bool) {
        self.peers.push(peer);
        if !self.topics.is_empty() {
            let rpc = Rpc {
                subscriptions: self
                    .topics
                    .iter()
                    .map(|topic| Subscription {
                        options: Default::default(),
                        subscribe: true,
                        topic: topic.clone(),
                    })
                    .collect(),
                ..Rpc::default()
            };
            Self::send(ctx, peer, rpc, None);
        }
    }

    fn on_disconnect(&mut self, _ctx: &mut NodeCtx<'_>, peer: PeerId) {
        self.peers.retain(|p| *p != peer);
        self.mesh.retain(|(p, _)| *p != peer);
        self.pruned_by.retain(|(p, _)| *p != peer);
        self.regrafts.retain(|(_, p, _)| *p != peer);
    }

    fn on_rpc(&mut self, ctx: &mut NodeCtx<'_>, from: PeerId, rpc: Rpc) {
        // Claim every topic the peer announces, and GRAFT onto it.
        for sub in rpc.subscriptions {
            if !sub.subscribe {
                continue;
            }
            if !self.topics.contains(&sub.topic) {
                self.topics.push(sub.topic.clone());
            }
            let reply = Rpc {
                subscriptions: vec![Subscription {
                    options: Default::default(),
                    subscribe: true,
                    topic: sub.topic.clone(),
                }],
                ..Rpc::default()
            };
            Self::send(ctx, from, reply, None);
            self.graft(ctx, from, sub.topic);
        }
        for control in rpc.control {
            match control {
                ControlAction::Graft { topic } => {
                    self.mesh.insert((from, topic));
                }
                ControlAction::Prune { topic, .. } => {
                    self.mesh.remove(&(from, topic.clone()));
                    if self.sybil.strategy == Strategy::GraftFlood {
                        self.pruned_by.insert((from, topic));
                    } else {
                        let jitter = self.sybil.regraft_jitter.mul_f64(self.rng.r#gen::<f64>());
                        let at = ctx.now() + self.sybil.regraft_backoff + jitter;
                        self.regrafts.push((at, from, topic));
                    }
                }
                ControlAction::IHave { message_ids, .. } => {
                    if self.sybil.strategy == Strategy::IWantSpam {
                        for id in message_ids.into_iter().take(16) {
                            self.remember(id);
                        }
                    }
                }
                ControlAction::IWant { .. } | ControlAction::IDontWant { .. } => {}
            }
        }
        for message in rpc.messages {
            self.on_message(ctx, from, message);
        }
    }

    fn next_timeout(&self) -> Instant {
        self.next_tick
    }

    fn on_timeout(&mut self, ctx: &mut NodeCtx<'_>) {
        if ctx.now() >= self.next_tick {
            self.on_tick(ctx);
            self.next_tick = ctx.now() + TICK;
        }
    }

    fn subscribe(&mut self, _ctx: &mut NodeCtx<'_>, topic: TopicHash) {
        if !self.topics.contains(&topic) {
            self.topics.push(topic);
        }
    }

    fn unsubscribe(&mut self, _ctx: &mut NodeCtx<'_>, _topic: TopicHash) {}

    fn publish(
        &mut self,
        _ctx: &mut NodeCtx<'_>,
        _topic: TopicHash,
        _data: Bytes,
    ) -> Option<MessageId> {
        None
    }

    fn mesh_degree(&self, _topic: &TopicHash) -> Option<usize> {
        None
    }
}
