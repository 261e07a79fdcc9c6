//! Swarm-level integration tests of our gossipsub `Behaviour`: real swarms on the memory
//! transport (plaintext + yamux), driven together by the harness in `common`.
//!
//! Every wait is on a condition with a generous timeout; fixed spans (`run_for`) are only used
//! where the point is that something does *not* arrive.

mod common;
#[path = "swarm/limits.rs"]
mod limits;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use common::raw::{RawNode, put_bytes_field, put_frame};
use common::{Net, Node, NodeEvent, Ours, Shared, fast_config, memory_addr, memory_swarm};
use futures::StreamExt;
use gossipsub::{
    IdentTopic, MessageAuthenticity, PeerKind, PublishError, TopicHash, ValidationMode,
};
use libp2p::core::Multiaddr;
use libp2p::identity::{Keypair, PeerId};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, NetworkBehaviour, Swarm, SwarmEvent, dummy};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TOPIC: &str = "test-topic";

/// Generous bound for anything that should happen "soon" on the memory transport.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Long enough for several 100 ms heartbeats (and any gossip they trigger) to pass.
const SETTLE: Duration = Duration::from_millis(600);

// ---------------------------------------------------------------------------------------------
// Helpers local to these tests.
// ---------------------------------------------------------------------------------------------

/// One of our nodes with signed messages and a fast heartbeat, shared with the test.
fn shared_ours(config: gossipsub::Config) -> (Arc<Mutex<Ours>>, Box<dyn Node>) {
    Shared::wrap(Ours::signed(config))
}

fn lock(node: &Arc<Mutex<Ours>>) -> MutexGuard<'_, Ours> {
    node.lock().expect("node lock poisoned")
}

fn topic_hash() -> TopicHash {
    IdentTopic::new(TOPIC).hash()
}

/// A swarm whose behaviour is not gossipsub: it only takes part in connections.
struct Plain<B: NetworkBehaviour> {
    swarm: Swarm<B>,
    addr: Multiaddr,
}

impl<B: NetworkBehaviour> Plain<B> {
    fn new(behaviour: B) -> Self {
        let mut swarm = memory_swarm(Keypair::generate_ed25519(), behaviour);
        let addr = memory_addr();
        swarm.listen_on(addr.clone()).expect("listen on memory");
        Plain { swarm, addr }
    }
}

impl<B> Node for Plain<B>
where
    B: NetworkBehaviour + Send,
    Swarm<B>: Send,
{
    fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<NodeEvent> {
        match self.swarm.poll_next_unpin(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(match event {
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
    fn dial(&mut self, addr: Multiaddr) {
        self.swarm.dial(addr).expect("dial");
    }
    fn subscribe(&mut self, _: &str) {
        panic!("a plain node has no pubsub");
    }
    fn unsubscribe(&mut self, _: &str) {
        panic!("a plain node has no pubsub");
    }
    fn publish(&mut self, _: &str, _: Vec<u8>) -> Result<(), String> {
        Err("a plain node has no pubsub".into())
    }
    fn disconnect(&mut self, peer: PeerId) {
        let _ = self.swarm.disconnect_peer_id(peer);
    }
    fn listen_addr(&self) -> Multiaddr {
        self.addr.clone()
    }
}

/// Whether `events` hold a Subscribed event from `peer` on [`TOPIC`].
fn has_subscribed(events: &[NodeEvent], peer: PeerId) -> bool {
    subscribed_count(events, peer) > 0
}

fn subscribed_count(events: &[NodeEvent], peer: PeerId) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, NodeEvent::Subscribed { peer: p, topic } if *p == peer && topic == TOPIC))
        .count()
}

fn connected_count(events: &[NodeEvent], peer: PeerId) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, NodeEvent::Connected { peer: p } if *p == peer))
        .count()
}

fn disconnected_count(events: &[NodeEvent], peer: PeerId) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, NodeEvent::Disconnected { peer: p } if *p == peer))
        .count()
}

/// Publishes `data` from node `from` and waits until every node in `to` received it.
async fn publish_and_wait(net: &mut Net, from: usize, to: &[usize], data: &[u8]) {
    net.nodes[from]
        .publish(TOPIC, data.to_vec())
        .unwrap_or_else(|e| panic!("node {from} failed to publish: {e}"));
    let to = to.to_vec();
    let arrived = net
        .run_until(TIMEOUT, |ev| {
            to.iter().all(|i| common::count_in(&ev[*i], data) > 0)
        })
        .await;
    let missing: Vec<usize> = to
        .iter()
        .copied()
        .filter(|i| net.count(*i, data) == 0)
        .collect();
    assert!(
        arrived,
        "message {:?} from node {from} never reached nodes {missing:?}",
        String::from_utf8_lossy(data)
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Two nodes.
// ---------------------------------------------------------------------------------------------

/// Two connected, subscribed nodes: a message published by either one is delivered to the
/// other exactly once, with the publisher as its source, the right topic and the exact data;
/// the publisher does not deliver its own message to itself.
#[tokio::test]
async fn two_nodes_exchange_messages_exactly_once() {
    let config = fast_config().build().expect("config");
    let a = Ours::signed(config.clone());
    let b = Ours::signed(config);
    let (a_id, b_id) = (a.peer_id(), b.peer_id());
    let mut net = Net::new(vec![Box::new(a), Box::new(b)]);
    net.connect(0, 1);
    net.nodes[0].subscribe(TOPIC);
    net.nodes[1].subscribe(TOPIC);
    assert!(
        net.wait_subscribed(&[0, 1], TOPIC, 1, TIMEOUT).await,
        "subscriptions were not exchanged"
    );

    publish_and_wait(&mut net, 0, &[1], b"from a").await;
    publish_and_wait(&mut net, 1, &[0], b"from b").await;
    net.run_for(SETTLE).await;

    let expected_at_b = NodeEvent::Message {
        source: Some(a_id),
        topic: TOPIC.into(),
        data: b"from a".to_vec(),
    };
    let expected_at_a = NodeEvent::Message {
        source: Some(b_id),
        topic: TOPIC.into(),
        data: b"from b".to_vec(),
    };
    let messages = |i: usize| -> Vec<NodeEvent> {
        net.events[i]
            .iter()
            .filter(|e| matches!(e, NodeEvent::Message { .. }))
            .cloned()
            .collect()
    };
    assert_eq!(messages(1), vec![expected_at_b]);
    assert_eq!(messages(0), vec![expected_at_a]);
}

/// meshsub 1.3 between two of our nodes that both announce the test extension: they
/// negotiate `/meshsub/1.3.0`, each takes the other's Extensions control message once (no
/// duplicate), and each receives exactly one `TestExtension` RPC.
#[tokio::test]
async fn two_nodes_negotiate_meshsub_1_3_and_exchange_the_test_extension() {
    let mut builder = fast_config();
    builder.test_extension(true);
    let config = builder.build().expect("config");
    let (a, a_box) = shared_ours(config.clone());
    let (b, b_box) = shared_ours(config);
    let (a_id, b_id) = (lock(&a).peer_id(), lock(&b).peer_id());
    let mut net = Net::new(vec![a_box, b_box]);
    net.connect(0, 1);
    let announced = gossipsub::Extensions {
        partial_messages: cfg!(feature = "partial-messages"),
        test_extension: true,
    };
    let done = |a: &Arc<Mutex<Ours>>, b: &Arc<Mutex<Ours>>| {
        let (a, b) = (lock(a), lock(b));
        let (a, b) = (a.swarm.behaviour(), b.swarm.behaviour());
        a.peer_extensions(&b_id) == Some(announced)
            && b.peer_extensions(&a_id) == Some(announced)
            && a.counters().test_extensions_received == 1
            && b.counters().test_extensions_received == 1
    };
    assert!(
        net.wait_for(TIMEOUT, |_| done(&a, &b)).await,
        "extensions not exchanged"
    );
    net.run_for(SETTLE).await;
    for (node, peer) in [(&a, b_id), (&b, a_id)] {
        let n = lock(node);
        let behaviour = n.swarm.behaviour();
        assert_eq!(
            behaviour
                .peer_protocol()
                .find(|(p, _)| **p == peer)
                .map(|(_, k)| *k),
            Some(PeerKind::Gossipsubv1_3)
        );
        assert_eq!(behaviour.counters().test_extensions_received, 1);
        assert_eq!(behaviour.counters().extensions_duplicate, 0);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. A random 20-node network.
// ---------------------------------------------------------------------------------------------

/// A connected random network of 20 nodes (a ring plus random chords, from a fixed seed): once
/// the meshes have formed, messages published by several nodes each reach every other node
/// exactly once — no loss and no duplicate delivered to the application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_network_delivers_each_message_exactly_once() {
    const N: usize = 20;
    const CHORDS_PER_NODE: usize = 2;
    let config = fast_config().build().expect("config");
    let handles: Vec<_> = (0..N).map(|_| shared_ours(config.clone())).collect();
    let ids: Vec<PeerId> = handles.iter().map(|(h, _)| lock(h).peer_id()).collect();
    let (handles, nodes): (Vec<_>, Vec<_>) = handles.into_iter().unzip();
    let mut net = Net::new(nodes);

    // A ring keeps the graph connected; each node also dials two random others.
    let mut rng = StdRng::seed_from_u64(0x6055_1b5b);
    let mut edges: BTreeSet<(usize, usize)> = (0..N).map(|i| (i, (i + 1) % N)).collect();
    for i in 0..N {
        let mut added = 0;
        while added < CHORDS_PER_NODE {
            let j = rng.gen_range(0..N);
            if j != i && !edges.contains(&(i, j)) && !edges.contains(&(j, i)) {
                edges.insert((i, j));
                added += 1;
            }
        }
    }
    let mut neighbours = vec![HashSet::new(); N];
    for &(i, j) in &edges {
        neighbours[i].insert(ids[j]);
        neighbours[j].insert(ids[i]);
    }

    for node in &mut net.nodes {
        node.subscribe(TOPIC);
    }
    for &(i, j) in &edges {
        net.connect(i, j);
    }

    // Every node learns the subscription of each of its neighbours...
    let all_subscribed = net
        .run_until(TIMEOUT, |ev| {
            (0..N).all(|i| neighbours[i].iter().all(|p| has_subscribed(&ev[i], *p)))
        })
        .await;
    assert!(
        all_subscribed,
        "not every node learned its neighbours' subscriptions"
    );

    // ...and the heartbeats build every mesh up to D_lo (or the node's degree, if smaller).
    let d_lo = config.mesh_n_low();
    let topic = topic_hash();
    let mesh_size = |h: &Arc<Mutex<Ours>>| lock(h).swarm.behaviour().mesh_peers(&topic).count();
    let meshes_formed = net
        .wait_for(TIMEOUT, |_| {
            (0..N).all(|i| mesh_size(&handles[i]) >= d_lo.min(neighbours[i].len()))
        })
        .await;
    let sizes: Vec<usize> = handles.iter().map(mesh_size).collect();
    assert!(meshes_formed, "meshes did not form: sizes {sizes:?}");

    let publishers = [0, 6, 13, 19];
    let payloads: Vec<Vec<u8>> = publishers
        .iter()
        .map(|p| format!("message from node {p}").into_bytes())
        .collect();
    for (p, data) in publishers.iter().zip(&payloads) {
        net.nodes[*p].publish(TOPIC, data.clone()).expect("publish");
    }
    let everyone_got_all = net
        .run_until(TIMEOUT, |ev| {
            publishers.iter().zip(&payloads).all(|(p, data)| {
                (0..N)
                    .filter(|i| i != p)
                    .all(|i| common::count_in(&ev[i], data) > 0)
            })
        })
        .await;
    // Let forwards, IHAVE/IWANT gossip and any late duplicate arrive before counting.
    net.run_for(SETTLE).await;

    for (p, data) in publishers.iter().zip(&payloads) {
        for i in 0..N {
            let expected = usize::from(i != *p);
            assert_eq!(
                net.count(i, data),
                expected,
                "node {i} delivered the message of node {p} {} times (all arrived: {everyone_got_all})",
                net.count(i, data)
            );
        }
    }
    assert!(everyone_got_all);
}

// ---------------------------------------------------------------------------------------------
// 3. Unsubscribing.
// ---------------------------------------------------------------------------------------------

/// After a node unsubscribes (and its peers have learned of it), messages published on the
/// topic keep reaching the remaining subscribers but are never delivered to it, not even after
/// several heartbeats of mesh maintenance and gossip.
#[tokio::test]
async fn unsubscribed_node_receives_nothing_more() {
    let config = fast_config().build().expect("config");
    let (a, a_node) = shared_ours(config.clone());
    let (b, b_node) = shared_ours(config.clone());
    let c = Ours::signed(config);
    let c_id = c.peer_id();
    let mut net = Net::new(vec![a_node, b_node, Box::new(c)]);
    net.connect(0, 1);
    net.connect(0, 2);
    net.connect(1, 2);
    for i in 0..3 {
        net.nodes[i].subscribe(TOPIC);
    }
    assert!(
        net.wait_subscribed(&[0, 1, 2], TOPIC, 2, TIMEOUT).await,
        "subscriptions were not exchanged"
    );
    publish_and_wait(&mut net, 0, &[1, 2], b"before").await;

    net.nodes[2].unsubscribe(TOPIC);
    let topic = topic_hash();
    let forgot_c = |h: &Arc<Mutex<Ours>>| {
        lock(h)
            .swarm
            .behaviour()
            .all_peers()
            .any(|(p, topics)| *p == c_id && !topics.contains(&&topic))
    };
    assert!(
        net.wait_for(TIMEOUT, |_| forgot_c(&a) && forgot_c(&b))
            .await,
        "A and B never learned that C unsubscribed"
    );
    assert!(
        !lock(&a)
            .swarm
            .behaviour()
            .mesh_peers(&topic)
            .any(|p| *p == c_id),
        "C is still in A's mesh after unsubscribing"
    );

    publish_and_wait(&mut net, 0, &[1], b"after from a").await;
    publish_and_wait(&mut net, 1, &[0], b"after from b").await;
    net.run_for(SETTLE).await;

    assert_eq!(net.count(2, b"before"), 1);
    assert_eq!(
        net.count(2, b"after from a"),
        0,
        "C got A's message after unsubscribing"
    );
    assert_eq!(
        net.count(2, b"after from b"),
        0,
        "C got B's message after unsubscribing"
    );
    assert_eq!(net.count(1, b"after from a"), 1);
    assert_eq!(net.count(0, b"after from b"), 1);
}

// ---------------------------------------------------------------------------------------------
// 4. A late subscriber.
// ---------------------------------------------------------------------------------------------

/// A node that connects and subscribes while others are already exchanging messages receives
/// the messages published after its subscription is known — including ones that must be
/// forwarded to it by a peer (C is connected only to A, so B's message reaches C through A).
#[tokio::test]
async fn late_subscriber_receives_later_messages() {
    let config = fast_config().build().expect("config");
    let a = Ours::signed(config.clone());
    let b = Ours::signed(config.clone());
    let c = Ours::signed(config);
    let (a_id, c_id) = (a.peer_id(), c.peer_id());
    let mut net = Net::new(vec![Box::new(a), Box::new(b), Box::new(c)]);
    net.connect(0, 1);
    net.nodes[0].subscribe(TOPIC);
    net.nodes[1].subscribe(TOPIC);
    assert!(net.wait_subscribed(&[0, 1], TOPIC, 1, TIMEOUT).await);
    publish_and_wait(&mut net, 0, &[1], b"early 1").await;
    publish_and_wait(&mut net, 1, &[0], b"early 2").await;
    // Let a few heartbeats build the A-B mesh.
    net.run_for(Duration::from_millis(300)).await;

    // C joins: it connects to A, learns A's subscription, then subscribes itself.
    net.connect(2, 0);
    assert!(
        net.run_until(TIMEOUT, |ev| has_subscribed(&ev[2], a_id))
            .await,
        "C never learned A's subscription"
    );
    net.nodes[2].subscribe(TOPIC);
    assert!(
        net.run_until(TIMEOUT, |ev| has_subscribed(&ev[0], c_id))
            .await,
        "A never learned C's subscription"
    );

    publish_and_wait(&mut net, 0, &[1, 2], b"late from a").await;
    publish_and_wait(&mut net, 1, &[0, 2], b"late from b").await;
    net.run_for(SETTLE).await;
    for data in [&b"late from a"[..], b"late from b"] {
        assert_eq!(net.count(2, data), 1, "C delivered {data:?} more than once");
    }
    assert_eq!(net.count(0, b"late from b"), 1);
    assert_eq!(net.count(1, b"late from a"), 1);
}

// ---------------------------------------------------------------------------------------------
// 5. A peer without gossipsub.
// ---------------------------------------------------------------------------------------------

/// A peer that does not speak gossipsub at all (a swarm with the dummy behaviour), connected to
/// both A and B, is reported once as `GossipsubNotSupported` by each and does not disturb them:
/// messages between A and B still flow both ways.
#[tokio::test]
async fn peer_without_gossipsub_is_reported_and_ignored() {
    let config = fast_config().build().expect("config");
    let (a, a_node) = shared_ours(config.clone());
    let b = Ours::signed(config);
    let plain = Plain::new(dummy::Behaviour);
    let plain_id = plain.peer_id();
    let mut net = Net::new(vec![a_node, Box::new(b), Box::new(plain)]);
    net.nodes[0].subscribe(TOPIC);
    net.nodes[1].subscribe(TOPIC);
    net.connect(0, 2);
    net.connect(1, 2);
    net.connect(0, 1);

    let not_supported = NodeEvent::NotSupported { peer: plain_id };
    assert!(
        net.run_until(TIMEOUT, |ev| {
            ev[0].contains(&not_supported) && ev[1].contains(&not_supported)
        })
        .await,
        "A and B did not both report the plain node as not supporting gossipsub"
    );
    assert!(net.wait_subscribed(&[0, 1], TOPIC, 1, TIMEOUT).await);

    publish_and_wait(&mut net, 0, &[1], b"a to b").await;
    publish_and_wait(&mut net, 1, &[0], b"b to a").await;
    net.run_for(SETTLE).await;

    for i in 0..2 {
        let reports = net.events[i]
            .iter()
            .filter(|e| **e == not_supported)
            .count();
        assert_eq!(reports, 1, "node {i} reported NotSupported {reports} times");
    }
    assert_eq!(net.count(1, b"a to b"), 1);
    assert_eq!(net.count(0, b"b to a"), 1);
    let a = lock(&a);
    let behaviour = a.swarm.behaviour();
    assert_eq!(
        behaviour.router().peer_kind(&plain_id),
        Some(PeerKind::NotSupported)
    );
    assert!(!behaviour.mesh_peers(&topic_hash()).any(|p| *p == plain_id));
}

// ---------------------------------------------------------------------------------------------
// 8. Several connections to one peer, disconnect and reconnect.
// ---------------------------------------------------------------------------------------------

/// A peer reached over two connections at once stays one gossipsub peer: closing one of them
/// keeps messages flowing both ways over the other. After a full disconnect and
/// a reconnect, each side learns the other's subscription again and messages flow again.
#[tokio::test]
async fn two_connections_then_reconnect() {
    let config = fast_config().build().expect("config");
    let (a, a_node) = shared_ours(config.clone());
    let (b, b_node) = shared_ours(config);
    let (a_id, b_id) = (lock(&a).peer_id(), lock(&b).peer_id());
    let b_addr = lock(&b).listen_addr();
    let mut net = Net::new(vec![a_node, b_node]);
    net.nodes[0].subscribe(TOPIC);
    net.nodes[1].subscribe(TOPIC);

    let dial = |a: &Arc<Mutex<Ours>>| -> ConnectionId {
        let opts = DialOpts::unknown_peer_id().address(b_addr.clone()).build();
        let id = opts.connection_id();
        lock(a).swarm.dial(opts).expect("dial");
        id
    };
    let first = dial(&a);
    dial(&a);
    assert!(
        net.run_until(TIMEOUT, |ev| {
            connected_count(&ev[0], b_id) == 2 && connected_count(&ev[1], a_id) == 2
        })
        .await,
        "two connections were not established"
    );
    assert!(net.wait_subscribed(&[0, 1], TOPIC, 1, TIMEOUT).await);
    publish_and_wait(&mut net, 0, &[1], b"two conns a").await;
    publish_and_wait(&mut net, 1, &[0], b"two conns b").await;

    // Close the first connection; the second carries on.
    assert!(lock(&a).swarm.close_connection(first));
    assert!(
        net.run_until(TIMEOUT, |ev| {
            disconnected_count(&ev[0], b_id) == 1 && disconnected_count(&ev[1], a_id) == 1
        })
        .await,
        "the first connection did not close"
    );
    assert!(lock(&a).swarm.is_connected(&b_id));
    publish_and_wait(&mut net, 0, &[1], b"one conn a").await;
    publish_and_wait(&mut net, 1, &[0], b"one conn b").await;
    net.run_for(Duration::from_millis(300)).await;
    for (node, data) in [
        (1, &b"two conns a"[..]),
        (0, b"two conns b"),
        (1, b"one conn a"),
        (0, b"one conn b"),
    ] {
        assert_eq!(net.count(node, data), 1, "node {node}, {data:?}");
    }

    // Disconnect fully: the second connection closes too and the peer is forgotten.
    lock(&a)
        .swarm
        .disconnect_peer_id(b_id)
        .expect("still connected");
    assert!(
        net.run_until(TIMEOUT, |ev| {
            disconnected_count(&ev[0], b_id) == 2 && disconnected_count(&ev[1], a_id) == 2
        })
        .await,
        "the second connection did not close"
    );
    assert!(
        !lock(&a)
            .swarm
            .behaviour()
            .all_peers()
            .any(|(p, _)| *p == b_id)
    );
    assert!(
        !lock(&b)
            .swarm
            .behaviour()
            .all_peers()
            .any(|(p, _)| *p == a_id)
    );

    // Reconnect: subscriptions are announced again and messages flow.
    net.connect(0, 1);
    assert!(
        net.run_until(TIMEOUT, |ev| {
            subscribed_count(&ev[0], b_id) >= 2 && subscribed_count(&ev[1], a_id) >= 2
        })
        .await,
        "subscriptions were not announced again after reconnecting"
    );
    publish_and_wait(&mut net, 0, &[1], b"reconnected a").await;
    publish_and_wait(&mut net, 1, &[0], b"reconnected b").await;
    net.run_for(Duration::from_millis(300)).await;
    assert_eq!(net.count(1, b"reconnected a"), 1);
    assert_eq!(net.count(0, b"reconnected b"), 1);
}
