//! Interoperability with rust-libp2p's own `libp2p-gossipsub` 0.50 ("theirs").
//!
//! Every test runs real swarms of both implementations on the memory transport (see
//! `tests/common`), waits on observable conditions with `Net::run_until`, and after delivery
//! keeps the network running for a few more heartbeats so that a duplicate sent late (by
//! forwarding or IHAVE/IWANT gossip) would still be counted.
//!
//! Set `RUST_LOG` (e.g. `RUST_LOG=gossipsub=debug,libp2p_gossipsub=debug`) to see the logs of
//! both implementations.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Net, NodeEvent, Ours, Shared, Theirs, fast_config, wire_rejections};
use libp2p::identity::{Keypair, PeerId};
use sha2::{Digest, Sha256};

/// The topic every test uses.
const TOPIC: &str = "interop-topic";
/// Upper bound for any single wait; a passing test needs a small fraction of it.
const TIMEOUT: Duration = Duration::from_secs(20);
/// How long to keep running after delivery to catch late duplicates (8 heartbeats).
const SETTLE: Duration = Duration::from_millis(800);
/// Heartbeat of both implementations.
const HEARTBEAT: Duration = Duration::from_millis(100);

/// Logs to the test output if `RUST_LOG` is set.
fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// The test's handle on one node of either implementation.
#[derive(Clone)]
enum Handle {
    Ours(Arc<Mutex<Ours>>),
    Theirs(Arc<Mutex<Theirs>>),
}

impl Handle {
    /// The node's mesh peers for `topic`.
    fn mesh(&self, topic: &str) -> HashSet<PeerId> {
        match self {
            Handle::Ours(n) => {
                let n = n.lock().expect("node lock");
                let hash = gossipsub::IdentTopic::new(topic).hash();
                n.swarm.behaviour().mesh_peers(&hash).copied().collect()
            }
            Handle::Theirs(n) => {
                let n = n.lock().expect("node lock");
                let hash = libp2p_gossipsub::IdentTopic::new(topic).hash();
                n.swarm.behaviour().mesh_peers(&hash).copied().collect()
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Handle::Ours(_) => "ours",
            Handle::Theirs(_) => "theirs",
        }
    }
}

/// How the messages of a test are authored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Authoring {
    /// Signed by the publisher, validated strictly (StrictSign).
    Signed,
    /// No author, seqno or signature (StrictNoSign), content-based message ids.
    Anonymous,
}

/// The first 20 bytes of SHA-256(data): the content-based message id both implementations use
/// for anonymous messages.
fn content_id(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data)[..20].to_vec()
}

/// Their config with our test heartbeat; Strict validation unless anonymous.
fn their_config(authoring: Authoring) -> libp2p_gossipsub::ConfigBuilder {
    let mut b = libp2p_gossipsub::ConfigBuilder::default();
    b.heartbeat_interval(HEARTBEAT)
        .heartbeat_initial_delay(Duration::from_millis(10))
        .prune_backoff(Duration::from_secs(1))
        .unsubscribe_backoff(Duration::from_secs(1));
    match authoring {
        Authoring::Signed => {
            b.validation_mode(libp2p_gossipsub::ValidationMode::Strict);
        }
        Authoring::Anonymous => {
            b.validation_mode(libp2p_gossipsub::ValidationMode::Anonymous)
                .message_id_fn(|m: &libp2p_gossipsub::Message| {
                    libp2p_gossipsub::MessageId::from(content_id(&m.data))
                });
        }
    }
    b
}

/// Our config with the test heartbeat; Strict validation (the default) unless anonymous.
fn our_config(authoring: Authoring) -> gossipsub::ConfigBuilder {
    let mut b = fast_config();
    if authoring == Authoring::Anonymous {
        b.validation_mode(gossipsub::ValidationMode::Anonymous)
            .message_id_fn(|m: &gossipsub::Message| gossipsub::MessageId::new(content_id(&m.data)));
    }
    b
}

/// Our node, signed or anonymous.
fn ours(authoring: Authoring, config: &gossipsub::ConfigBuilder) -> Ours {
    let config = config.build().expect("valid config");
    let key = Keypair::generate_ed25519();
    let authenticity = match authoring {
        Authoring::Signed => gossipsub::MessageAuthenticity::Signed(key.clone()),
        Authoring::Anonymous => gossipsub::MessageAuthenticity::Anonymous,
    };
    Ours::new(key, authenticity, config)
}

/// Their node, signed or anonymous.
fn theirs(authoring: Authoring, config: &libp2p_gossipsub::ConfigBuilder) -> Theirs {
    let config = config.build().expect("valid config");
    let key = Keypair::generate_ed25519();
    let authenticity = match authoring {
        Authoring::Signed => libp2p_gossipsub::MessageAuthenticity::Signed(key.clone()),
        Authoring::Anonymous => libp2p_gossipsub::MessageAuthenticity::Anonymous,
    };
    Theirs::new(key, authenticity, config)
}

/// The peers that `events` report as subscribed to `topic`.
fn subscribed_peers(events: &[NodeEvent], topic: &str) -> HashSet<PeerId> {
    events
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Subscribed { peer, topic: t } if t == topic => Some(*peer),
            _ => None,
        })
        .collect()
}

/// Sources of the deliveries of `data` in `events`.
fn sources_of(events: &[NodeEvent], data: &[u8]) -> Vec<Option<PeerId>> {
    events
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Message {
                source, data: d, ..
            } if d == data => Some(*source),
            _ => None,
        })
        .collect()
}

/// Eight nodes alternating ours (even) and theirs (odd) on a ring, so that every ring link joins
/// the two implementations; the chords give every node a neighbour of its own kind as well (two
/// ours-ours, two theirs-theirs) and add two more ours-theirs links. No node has more than four
/// neighbours, below D_lo on both sides. The first node of each pair dials, so both
/// implementations dial and listen.
const RING: usize = 8;
const CHORDS: [(usize, usize); 6] = [(0, 4), (2, 6), (1, 5), (7, 3), (0, 3), (4, 7)];

/// The edges of the mixed topology.
fn mixed_edges() -> Vec<(usize, usize)> {
    (0..RING)
        .map(|i| (i, (i + 1) % RING))
        .chain(CHORDS)
        .collect()
}

/// Runs the mixed-network scenario: build, connect, subscribe, wait for full meshes, let every
/// node publish one message, and check that every other node got each message exactly once.
async fn mixed_network(authoring: Authoring) {
    init_tracing();
    let our_cfg = our_config(authoring);
    let their_cfg = their_config(authoring);

    let mut boxes = Vec::new();
    let mut handles = Vec::new();
    for i in 0..RING {
        if i % 2 == 0 {
            let (handle, node) = Shared::wrap(ours(authoring, &our_cfg));
            boxes.push(node);
            handles.push(Handle::Ours(handle));
        } else {
            let (handle, node) = Shared::wrap(theirs(authoring, &their_cfg));
            boxes.push(node);
            handles.push(Handle::Theirs(handle));
        }
    }
    let mut net = Net::new(boxes);
    let peers: Vec<PeerId> = net.nodes.iter().map(|n| n.peer_id()).collect();
    let edges = mixed_edges();
    let neighbours: Vec<HashSet<PeerId>> = (0..RING)
        .map(|i| {
            edges
                .iter()
                .filter_map(|&(a, b)| match (a == i, b == i) {
                    (true, _) => Some(peers[b]),
                    (_, true) => Some(peers[a]),
                    _ => None,
                })
                .collect()
        })
        .collect();
    for (i, n) in neighbours.iter().enumerate() {
        let kinds: HashSet<usize> = n
            .iter()
            .map(|p| peers.iter().position(|q| q == p).unwrap() % 2)
            .collect();
        assert_eq!(
            kinds.len(),
            2,
            "node {i} must have neighbours of both kinds"
        );
    }

    for node in net.nodes.iter_mut() {
        node.subscribe(TOPIC);
    }
    for &(a, b) in &edges {
        net.connect(a, b);
    }

    // Every node learns every neighbour's subscription.
    let ok = net
        .run_until(TIMEOUT, |ev| {
            (0..RING).all(|i| subscribed_peers(&ev[i], TOPIC).is_superset(&neighbours[i]))
        })
        .await;
    assert!(
        ok,
        "subscriptions not exchanged: {:?}",
        (0..RING)
            .map(|i| neighbours[i].len() - subscribed_peers(&net.events[i], TOPIC).len())
            .collect::<Vec<_>>()
    );

    // Every node has fewer neighbours than D_lo, so every neighbour ends up in its mesh.
    let ok = net
        .wait_for(TIMEOUT, |_| {
            (0..RING).all(|i| handles[i].mesh(TOPIC) == neighbours[i])
        })
        .await;
    assert!(
        ok,
        "meshes not formed (node, impl, mesh size, neighbours): {:?}",
        (0..RING)
            .map(|i| (
                i,
                handles[i].name(),
                handles[i].mesh(TOPIC).len(),
                neighbours[i].len()
            ))
            .collect::<Vec<_>>()
    );

    // Every node publishes one distinct message.
    let payloads: Vec<Vec<u8>> = (0..RING)
        .map(|i| {
            format!(
                "{authoring:?} message from node {i} ({})",
                handles[i].name()
            )
            .into_bytes()
        })
        .collect();
    for (i, data) in payloads.iter().enumerate() {
        net.nodes[i]
            .publish(TOPIC, data.clone())
            .unwrap_or_else(|e| panic!("node {i} ({}) failed to publish: {e}", handles[i].name()));
    }

    let delivered = net
        .run_until(TIMEOUT, |ev| {
            (0..RING).all(|i| {
                (0..RING)
                    .filter(|&j| j != i)
                    .all(|j| common::count_in(&ev[i], &payloads[j]) >= 1)
            })
        })
        .await;
    net.run_for(SETTLE).await;

    let mut failures = Vec::new();
    for i in 0..RING {
        for (j, data) in payloads.iter().enumerate() {
            let sources = sources_of(&net.events[i], data);
            let expected = usize::from(i != j);
            if sources.len() != expected {
                failures.push(format!(
                    "node {i} ({}) got the message of node {j} ({}) {} times, expected {expected}",
                    handles[i].name(),
                    handles[j].name(),
                    sources.len()
                ));
            }
            let expected_source = match authoring {
                Authoring::Signed => Some(peers[j]),
                Authoring::Anonymous => None,
            };
            if sources.iter().any(|s| *s != expected_source) {
                failures.push(format!(
                    "node {i} ({}) got the message of node {j} with source {sources:?}, \
                     expected {expected_source:?}",
                    handles[i].name()
                ));
            }
        }
    }
    for (i, handle) in handles.iter().enumerate() {
        if let Handle::Ours(node) = handle {
            let rejected = wire_rejections(node);
            if !rejected.is_empty() {
                failures.push(format!("node {i} (ours) rejected input: {rejected:?}"));
            }
        }
    }
    assert!(
        delivered && failures.is_empty(),
        "delivery failures:\n{}",
        failures.join("\n")
    );
}

/// Four of ours and four of theirs, alternating on a ring with chords, all on one topic with
/// signed messages (StrictSign) and the default message ids (base58(source) ++ decimal(seqno),
/// the same in both implementations): every node publishes once and every other node receives
/// each message exactly once, with the publisher as its source.
#[tokio::test]
async fn mixed_network_signed_messages() {
    mixed_network(Authoring::Signed).await;
}

/// The same network with anonymous messages (StrictNoSign, ValidationMode::Anonymous on both
/// sides) and the same content-based message id (first 20 bytes of SHA-256(data)) on both
/// sides: every message reaches every other subscriber exactly once, without a source.
#[tokio::test]
async fn mixed_network_anonymous_messages() {
    mixed_network(Authoring::Anonymous).await;
}

/// A `Sha256Topic` of ours and one of theirs with the same name hash to the same wire topic,
/// so the two implementations meet on it: each subscribes by `Sha256Topic`, each sees the
/// other's subscription under the shared hash, and a message published by each arrives at the
/// other exactly once.
#[tokio::test]
async fn sha256_topic_meets_theirs() {
    init_tracing();
    const NAME: &str = "interop-sha256-topic";
    let our_topic = gossipsub::Sha256Topic::new(NAME);
    let their_topic = libp2p_gossipsub::Sha256Topic::new(NAME);
    assert_eq!(
        our_topic.hash().as_str(),
        their_topic.hash().as_str(),
        "Sha256Topic hashes differ"
    );
    let hash = our_topic.hash().as_str().to_owned();

    let (ours_handle, ours_box) =
        Shared::wrap(ours(Authoring::Signed, &our_config(Authoring::Signed)));
    let (theirs_handle, theirs_box) =
        Shared::wrap(theirs(Authoring::Signed, &their_config(Authoring::Signed)));
    let mut net = Net::new(vec![ours_box, theirs_box]);
    let our_id = net.nodes[0].peer_id();
    let their_id = net.nodes[1].peer_id();
    ours_handle
        .lock()
        .expect("node lock")
        .swarm
        .behaviour_mut()
        .subscribe(&our_topic)
        .expect("ours subscribes");
    theirs_handle
        .lock()
        .expect("node lock")
        .swarm
        .behaviour_mut()
        .subscribe(&their_topic)
        .expect("theirs subscribes");
    net.connect(0, 1);

    let ok = net
        .run_until(TIMEOUT, |ev| {
            subscribed_peers(&ev[0], &hash).contains(&their_id)
                && subscribed_peers(&ev[1], &hash).contains(&our_id)
        })
        .await;
    assert!(
        ok,
        "subscriptions on the Sha256Topic not exchanged: {:?}",
        net.events
    );

    let from_ours = b"sha256 topic: from ours".to_vec();
    let from_theirs = b"sha256 topic: from theirs".to_vec();
    ours_handle
        .lock()
        .expect("node lock")
        .swarm
        .behaviour_mut()
        .publish(our_topic.clone(), from_ours.clone())
        .expect("ours publishes");
    theirs_handle
        .lock()
        .expect("node lock")
        .swarm
        .behaviour_mut()
        .publish(their_topic.clone(), from_theirs.clone())
        .expect("theirs publishes");
    let delivered = net
        .run_until(TIMEOUT, |ev| {
            common::count_in(&ev[1], &from_ours) >= 1 && common::count_in(&ev[0], &from_theirs) >= 1
        })
        .await;
    net.run_for(SETTLE).await;
    assert!(delivered, "messages on the Sha256Topic not delivered");
    assert_eq!(net.count(1, &from_ours), 1);
    assert_eq!(net.count(0, &from_theirs), 1);
    assert!(net.received(0).iter().all(|(topic, _)| *topic == hash));
    assert_eq!(wire_rejections(&ours_handle), vec![], "ours rejected input");
}

/// libp2p-gossipsub 0.50 sums the subscriptions and control of every frame before decoding it
/// and, over its `max_control_message_size` (16 KiB by default), fails the decode and closes
/// the stream, losing everything written behind the frame; after five such streams it disables
/// gossipsub on the connection. Our announcement of 90 long topic names (~19 KB) must reach it
/// in RPCs within that cap: it learns our subscription, our message arrives, and our outbound
/// stream is never closed under us. (Before the cap, the announcement went in one RPC, theirs
/// dropped it with the stream, and never learnt that we subscribe.)
#[tokio::test]
async fn many_subscriptions_fit_theirs_control_cap() {
    init_tracing();
    let (ours_handle, ours_box) =
        Shared::wrap(ours(Authoring::Signed, &our_config(Authoring::Signed)));
    let (_theirs_handle, theirs_box) =
        Shared::wrap(theirs(Authoring::Signed, &their_config(Authoring::Signed)));
    let mut net = Net::new(vec![ours_box, theirs_box]);
    let our_id = net.nodes[0].peer_id();
    for t in 0..90 {
        net.nodes[0].subscribe(&format!("{t:0>200}"));
    }
    net.nodes[0].subscribe(TOPIC);
    net.nodes[1].subscribe(TOPIC);
    net.connect(0, 1);
    let ok = net
        .run_until(TIMEOUT, |ev| {
            subscribed_peers(&ev[1], TOPIC).contains(&our_id)
        })
        .await;
    let reopened = {
        let n = ours_handle.lock().expect("node lock");
        n.swarm.behaviour().counters().outbound_streams_reopened
    };
    assert!(
        ok,
        "theirs never learnt our subscription (our outbound streams reopened: {reopened})"
    );
    let data = b"after a large announcement".to_vec();
    net.nodes[0]
        .publish(TOPIC, data.clone())
        .expect("ours publishes");
    let delivered = net
        .run_until(TIMEOUT, |ev| common::count_in(&ev[1], &data) >= 1)
        .await;
    assert!(delivered, "our message did not reach theirs");
    let n = ours_handle.lock().expect("node lock");
    assert_eq!(n.swarm.behaviour().counters().outbound_streams_reopened, 0);
    assert_eq!(n.swarm.behaviour().counters().outbound_streams_given_up, 0);
}
