//! Shared harness for swarm-level tests: real swarms on the memory transport (plaintext +
//! yamux), ours and libp2p-gossipsub's, driven together from one task.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::core::{Multiaddr, Transport};
use libp2p::identity::{Keypair, PeerId};
use libp2p::swarm::{NetworkBehaviour, Swarm, SwarmEvent};
use libp2p::{plaintext, yamux};

/// A fresh `/memory/N` address, unique within the test binary.
pub fn memory_addr() -> Multiaddr {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let port = (std::process::id() as u64) << 24 | (NEXT.fetch_add(1, Ordering::Relaxed) + 1);
    format!("/memory/{port}")
        .parse()
        .expect("valid memory multiaddr")
}

/// A swarm over the memory transport with plaintext and yamux.
pub fn memory_swarm<B: NetworkBehaviour>(key: Keypair, behaviour: B) -> Swarm<B> {
    let transport = MemoryTransport::default()
        .upgrade(Version::V1)
        .authenticate(plaintext::Config::new(&key))
        .multiplex(yamux::Config::default())
        .boxed();
    Swarm::new(
        transport,
        behaviour,
        key.public().to_peer_id(),
        libp2p::swarm::Config::with_tokio_executor()
            .with_idle_connection_timeout(Duration::from_secs(60)),
    )
}

/// What a node of either implementation reports, in one shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// A message was delivered to the application.
    Message {
        source: Option<PeerId>,
        topic: String,
        data: Vec<u8>,
    },
    /// A remote subscribed.
    Subscribed { peer: PeerId, topic: String },
    /// A connection was established.
    Connected { peer: PeerId },
    /// A connection closed.
    Disconnected { peer: PeerId },
    /// The remote does not speak gossipsub.
    NotSupported { peer: PeerId },
    /// Anything else.
    Other,
}

/// A node under test, whatever its implementation.
pub trait Node: Send {
    fn peer_id(&self) -> PeerId;
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<NodeEvent>;
    fn dial(&mut self, addr: Multiaddr);
    fn subscribe(&mut self, topic: &str);
    fn unsubscribe(&mut self, topic: &str);
    fn publish(&mut self, topic: &str, data: Vec<u8>) -> Result<(), String>;
    fn disconnect(&mut self, peer: PeerId);
    fn listen_addr(&self) -> Multiaddr;
}

/// Our implementation in a swarm.
pub struct Ours {
    pub swarm: Swarm<gossipsub::Behaviour>,
    pub addr: Multiaddr,
}

impl Ours {
    pub fn new(
        key: Keypair,
        authenticity: gossipsub::MessageAuthenticity,
        config: gossipsub::Config,
    ) -> Self {
        let behaviour = gossipsub::Behaviour::new(authenticity, config).expect("valid config");
        let mut swarm = memory_swarm(key, behaviour);
        let addr = memory_addr();
        swarm.listen_on(addr.clone()).expect("listen on memory");
        Ours { swarm, addr }
    }

    /// A node with signed messages and a fast heartbeat.
    pub fn signed(config: gossipsub::Config) -> Self {
        let key = Keypair::generate_ed25519();
        Self::new(
            key.clone(),
            gossipsub::MessageAuthenticity::Signed(key),
            config,
        )
    }
}

/// The [`Node`] operations shared by every test wrapper of a swarm of either crate (a struct
/// with fields `swarm: Swarm<$krate::Behaviour>` and `addr: Multiaddr`, `$krate` being
/// `gossipsub` or `libp2p_gossipsub`); expands inside `impl Node`.
macro_rules! node_ops {
    ($krate:ident) => {
        fn dial(&mut self, addr: Multiaddr) {
            self.swarm.dial(addr).expect("dial");
        }

        fn subscribe(&mut self, topic: &str) {
            self.swarm
                .behaviour_mut()
                .subscribe(&$krate::IdentTopic::new(topic))
                .expect("subscribe");
        }

        fn unsubscribe(&mut self, topic: &str) {
            self.swarm
                .behaviour_mut()
                .unsubscribe(&$krate::IdentTopic::new(topic));
        }

        fn publish(&mut self, topic: &str, data: Vec<u8>) -> Result<(), String> {
            self.swarm
                .behaviour_mut()
                .publish($krate::IdentTopic::new(topic), data)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }

        fn disconnect(&mut self, peer: PeerId) {
            let _ = self.swarm.disconnect_peer_id(peer);
        }

        fn listen_addr(&self) -> Multiaddr {
            self.addr.clone()
        }
    };
}
#[allow(unused_imports)]
pub(crate) use node_ops;

impl Node for Ours {
    fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<NodeEvent> {
        match self.swarm.poll_next_unpin(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(match event {
                SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) => {
                    NodeEvent::Message {
                        source: message.source,
                        topic: message.topic.as_str().to_owned(),
                        data: message.data.to_vec(),
                    }
                }
                SwarmEvent::Behaviour(gossipsub::Event::Subscribed { peer_id, topic }) => {
                    NodeEvent::Subscribed {
                        peer: peer_id,
                        topic: topic.as_str().to_owned(),
                    }
                }
                SwarmEvent::Behaviour(gossipsub::Event::GossipsubNotSupported { peer_id }) => {
                    NodeEvent::NotSupported { peer: peer_id }
                }
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    NodeEvent::Connected { peer: peer_id }
                }
                SwarmEvent::ConnectionClosed { peer_id, .. } => {
                    NodeEvent::Disconnected { peer: peer_id }
                }
                _ => NodeEvent::Other,
            }),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    node_ops!(gossipsub);
}

/// rust-libp2p's gossipsub in a swarm, as an interop peer.
pub struct Theirs {
    pub swarm: Swarm<libp2p_gossipsub::Behaviour>,
    pub addr: Multiaddr,
}

impl Theirs {
    pub fn new(
        key: Keypair,
        authenticity: libp2p_gossipsub::MessageAuthenticity,
        config: libp2p_gossipsub::Config,
    ) -> Self {
        let behaviour =
            libp2p_gossipsub::Behaviour::new(authenticity, config).expect("valid config");
        let mut swarm = memory_swarm(key, behaviour);
        let addr = memory_addr();
        swarm.listen_on(addr.clone()).expect("listen on memory");
        Theirs { swarm, addr }
    }
}

impl Node for Theirs {
    fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<NodeEvent> {
        match self.swarm.poll_next_unpin(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(match event {
                SwarmEvent::Behaviour(libp2p_gossipsub::Event::Message { message, .. }) => {
                    NodeEvent::Message {
                        source: message.source,
                        topic: message.topic.as_str().to_owned(),
                        data: message.data.clone(),
                    }
                }
                SwarmEvent::Behaviour(libp2p_gossipsub::Event::Subscribed {
                    peer_id,
                    topic,
                    ..
                }) => NodeEvent::Subscribed {
                    peer: peer_id,
                    topic: topic.as_str().to_owned(),
                },
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    NodeEvent::Connected { peer: peer_id }
                }
                SwarmEvent::ConnectionClosed { peer_id, .. } => {
                    NodeEvent::Disconnected { peer: peer_id }
                }
                _ => NodeEvent::Other,
            }),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    node_ops!(libp2p_gossipsub);
}

/// A node that the test can still reach while a [`Net`] owns it: the net polls it through the
/// shared handle, and between runs the test locks the handle to call swarm or behaviour methods
/// (typed publish results, counters, meshes). The lock is never held across an await.
pub struct Shared<N>(pub Arc<Mutex<N>>);

impl<N: Node + 'static> Shared<N> {
    /// Wraps `node`: the handle stays with the test, the box goes into the [`Net`].
    pub fn wrap(node: N) -> (Arc<Mutex<N>>, Box<dyn Node>) {
        let handle = Arc::new(Mutex::new(node));
        (handle.clone(), Box::new(Shared(handle)))
    }
}

impl<N: Node> Shared<N> {
    fn lock(&self) -> MutexGuard<'_, N> {
        self.0.lock().expect("node lock poisoned")
    }
}

impl<N: Node> Node for Shared<N> {
    fn peer_id(&self) -> PeerId {
        self.lock().peer_id()
    }
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<NodeEvent> {
        self.lock().poll_event(cx)
    }
    fn dial(&mut self, addr: Multiaddr) {
        self.lock().dial(addr)
    }
    fn subscribe(&mut self, topic: &str) {
        self.lock().subscribe(topic)
    }
    fn unsubscribe(&mut self, topic: &str) {
        self.lock().unsubscribe(topic)
    }
    fn publish(&mut self, topic: &str, data: Vec<u8>) -> Result<(), String> {
        self.lock().publish(topic, data)
    }
    fn disconnect(&mut self, peer: PeerId) {
        self.lock().disconnect(peer)
    }
    fn listen_addr(&self) -> Multiaddr {
        self.lock().listen_addr()
    }
}

/// A set of nodes driven together, with every event each one reported.
pub struct Net {
    pub nodes: Vec<Box<dyn Node>>,
    pub events: Vec<Vec<NodeEvent>>,
}

impl Net {
    pub fn new(nodes: Vec<Box<dyn Node>>) -> Self {
        let events = nodes.iter().map(|_| Vec::new()).collect();
        Net { nodes, events }
    }

    /// Node `a` dials node `b`.
    pub fn connect(&mut self, a: usize, b: usize) {
        let addr = self.nodes[b].listen_addr();
        self.nodes[a].dial(addr);
    }

    /// Polls every node until `done(events)` holds or `timeout` passes; returns whether it held.
    pub async fn run_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[Vec<NodeEvent>]) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(&self.events) {
                return true;
            }
            // A round that is always ready would never reach the timeout below.
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            let step = futures::future::poll_fn(|cx| {
                let mut progressed = false;
                for (i, node) in self.nodes.iter_mut().enumerate() {
                    // Bounded per node per round so no node starves the others.
                    for _ in 0..64 {
                        match node.poll_event(cx) {
                            Poll::Ready(event) => {
                                progressed = true;
                                if event != NodeEvent::Other {
                                    self.events[i].push(event);
                                }
                            }
                            Poll::Pending => break,
                        }
                    }
                }
                if progressed {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            if tokio::time::timeout_at(deadline, step).await.is_err() {
                return done(&self.events);
            }
        }
    }

    /// Like [`Net::run_until`], but re-checks `done` at least every 50 ms even when no node
    /// reports an event: for conditions on behaviour state that heartbeats change silently.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[Vec<NodeEvent>]) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.run_until(Duration::from_millis(50), &mut done).await {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
        }
    }

    /// Runs for a fixed span of (real) time, processing events: lets heartbeats happen.
    pub async fn run_for(&mut self, span: Duration) {
        self.run_until(span, |_| false).await;
    }

    /// Messages node `i` received, as (topic, data).
    pub fn received(&self, i: usize) -> Vec<(String, Vec<u8>)> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                NodeEvent::Message { topic, data, .. } => Some((topic.clone(), data.clone())),
                _ => None,
            })
            .collect()
    }

    /// How many times node `i` received `data`.
    pub fn count(&self, i: usize, data: &[u8]) -> usize {
        count_in(&self.events[i], data)
    }

    /// Waits until every node in `nodes` has seen a Subscribed event for `topic` from each of
    /// its `expected[i]` peers (or at least `min` such events).
    pub async fn wait_subscribed(
        &mut self,
        nodes: &[usize],
        topic: &str,
        min: usize,
        timeout: Duration,
    ) -> bool {
        let topic = topic.to_owned();
        let nodes = nodes.to_vec();
        self.run_until(timeout, move |ev| {
            nodes.iter().all(|i| {
                ev[*i]
                    .iter()
                    .filter(|e| matches!(e, NodeEvent::Subscribed { topic: t, .. } if *t == topic))
                    .count()
                    >= min
            })
        })
        .await
    }
}

/// How many message events in `events` carry `data`.
pub fn count_in(events: &[NodeEvent], data: &[u8]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, NodeEvent::Message { data: d, .. } if d == data))
        .count()
}

/// Our config with a fast heartbeat for tests.
pub fn fast_config() -> gossipsub::ConfigBuilder {
    let mut b = gossipsub::ConfigBuilder::default();
    b.heartbeat_interval(Duration::from_millis(100))
        .heartbeat_initial_delay(Duration::from_millis(10))
        .prune_backoff(Duration::from_secs(1))
        .unsubscribe_backoff(Duration::from_secs(1));
    b
}

pub mod raw;

/// The counters of our node that must stay zero when talking to a correct peer: everything
/// the other side sent decoded, validated and was understood. Returns the non-zero ones by
/// name.
pub fn wire_rejections(node: &Arc<Mutex<Ours>>) -> Vec<(&'static str, u64)> {
    let n = node.lock().expect("node lock");
    let c = n.swarm.behaviour().counters();
    [
        ("rpcs_too_large", c.rpcs_too_large),
        ("rpcs_malformed", c.rpcs_malformed),
        ("rpcs_from_unsupported_peer", c.rpcs_from_unsupported_peer),
        ("messages_malformed", c.messages_malformed),
        ("messages_invalid", c.messages_invalid),
        ("control_ignored", c.control_ignored),
        ("control_unknown", c.control_unknown),
        ("extensions_duplicate", c.extensions_duplicate),
    ]
    .into_iter()
    .filter(|(_, v)| *v != 0)
    .collect()
}
