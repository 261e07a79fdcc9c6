//! The interop matrix against rust-libp2p's `libp2p-gossipsub` 0.50 ("theirs"): real swarm
//! pairs and small networks on the memory transport.
//!
//! - protocol versions, both ways: meshsub 1.3 / 1.2 / 1.1 / 1.0 (and floodsub) negotiated
//!   with theirs restricted (its `protocol_id` knob: one custom id labelled 1.0 or 1.1) and
//!   with ours restricted ([`gossipsub::ConfigBuilder::max_protocol`]);
//! - the Extensions control message (meshsub 1.3) both ways, ours announcing the test
//!   extension;
//! - IDONTWANT both ways, on a line ours - theirs - ours - theirs;
//! - a custom protocol id prefix: ours and theirs with the same prefix talk (theirs offers
//!   only `<prefix>/1.1.0` and `/1.0.0`), ours with different prefixes do not;
//! - the Ethereum profile (snappy transform and the consensus message id on both sides) on a
//!   ten-node mixed network, five of each (`interop_matrix/ethereum.rs`, feature `snappy`);
//! - partial messages both ways, metadata only to a peer that only supports them, full
//!   messages to a peer that supports neither (`interop_matrix/partial.rs`, feature
//!   `partial-messages`).
//!
//! Set `RUST_LOG` to see both sides' logs.

mod common;
#[cfg(feature = "snappy")]
#[path = "interop_matrix/ethereum.rs"]
mod ethereum;
#[cfg(feature = "partial-messages")]
#[path = "interop_matrix/partial.rs"]
mod partial;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    Net, NodeEvent, Ours, Shared, Theirs, fast_config, memory_addr, memory_swarm, wire_rejections,
};
use libp2p::identity::{Keypair, PeerId};

const TOPIC: &str = "matrix-topic";
/// Upper bound for any single wait; a passing case needs a small fraction of it.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Eight heartbeats after delivery, so that a late duplicate would be counted.
const SETTLE: Duration = Duration::from_millis(800);
const HEARTBEAT: Duration = Duration::from_millis(100);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Their config with the test heartbeat, signed messages validated strictly.
fn their_config() -> libp2p_gossipsub::ConfigBuilder {
    let mut b = libp2p_gossipsub::ConfigBuilder::default();
    b.heartbeat_interval(HEARTBEAT)
        .heartbeat_initial_delay(Duration::from_millis(10))
        .prune_backoff(Duration::from_secs(1))
        .unsubscribe_backoff(Duration::from_secs(1))
        .validation_mode(libp2p_gossipsub::ValidationMode::Strict);
    b
}

fn ours(config: &gossipsub::ConfigBuilder) -> Ours {
    Ours::signed(config.build().expect("valid config"))
}

/// Their node; with `registry`, its metrics (counts of IDONTWANT received) go there.
fn theirs(
    config: &libp2p_gossipsub::ConfigBuilder,
    registry: Option<&mut prometheus_client::registry::Registry>,
) -> Theirs {
    let key = Keypair::generate_ed25519();
    let mut behaviour = libp2p_gossipsub::Behaviour::new(
        libp2p_gossipsub::MessageAuthenticity::Signed(key.clone()),
        config.build().expect("valid config"),
    )
    .expect("valid behaviour");
    if let Some(registry) = registry {
        behaviour = behaviour.with_metrics(registry, Default::default());
    }
    let mut swarm = memory_swarm(key, behaviour);
    let addr = memory_addr();
    swarm.listen_on(addr.clone()).expect("listen on memory");
    Theirs { swarm, addr }
}

fn subscribed_peers(events: &[NodeEvent], topic: &str) -> HashSet<PeerId> {
    events
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Subscribed { peer, topic: t } if t == topic => Some(*peer),
            _ => None,
        })
        .collect()
}

/// One of ours and one of theirs: waits until ours reports `expected_ours` for theirs and
/// theirs reports `expected_theirs` (its `PeerKind`'s `Debug` name: the type is not exported)
/// for ours, then sends one message each way and checks that each arrives exactly once, with
/// the right author.
async fn pair(
    our_cfg: gossipsub::ConfigBuilder,
    their_cfg: libp2p_gossipsub::ConfigBuilder,
    expected_ours: gossipsub::PeerKind,
    expected_theirs: &str,
) -> (Arc<Mutex<Ours>>, PeerId) {
    init_tracing();
    let (ours_handle, ours_box) = Shared::wrap(ours(&our_cfg));
    let (theirs_handle, theirs_box) = Shared::wrap(theirs(&their_cfg, None));
    let mut net = Net::new(vec![ours_box, theirs_box]);
    let our_id = net.nodes[0].peer_id();
    let their_id = net.nodes[1].peer_id();
    net.nodes[0].subscribe(TOPIC);
    net.nodes[1].subscribe(TOPIC);
    net.connect(0, 1);
    let ok = net
        .run_until(TIMEOUT, |ev| {
            subscribed_peers(&ev[0], TOPIC).contains(&their_id)
                && subscribed_peers(&ev[1], TOPIC).contains(&our_id)
        })
        .await;
    assert!(ok, "subscriptions not exchanged: {:?}", net.events);

    let our_view = || {
        let n = ours_handle.lock().expect("node lock");
        n.swarm
            .behaviour()
            .peer_protocol()
            .find(|(p, _)| **p == their_id)
            .map(|(_, k)| *k)
    };
    let their_view = || {
        let n = theirs_handle.lock().expect("node lock");
        n.swarm
            .behaviour()
            .peer_protocol()
            .find(|(p, _)| **p == our_id)
            .map(|(_, k)| format!("{k:?}"))
    };
    let ok = net
        .wait_for(TIMEOUT, |_| {
            our_view() == Some(expected_ours) && their_view().as_deref() == Some(expected_theirs)
        })
        .await;
    assert!(
        ok,
        "protocol: ours sees {:?} (expected {expected_ours:?}), theirs sees {:?} (expected \
         {expected_theirs:?})",
        our_view(),
        their_view()
    );

    let from_ours = format!("from ours over {expected_ours:?}").into_bytes();
    let from_theirs = format!("from theirs over {expected_ours:?}").into_bytes();
    net.nodes[0]
        .publish(TOPIC, from_ours.clone())
        .expect("ours publishes");
    net.nodes[1]
        .publish(TOPIC, from_theirs.clone())
        .expect("theirs publishes");
    let delivered = net
        .run_until(TIMEOUT, |ev| {
            common::count_in(&ev[1], &from_ours) >= 1 && common::count_in(&ev[0], &from_theirs) >= 1
        })
        .await;
    net.run_for(SETTLE).await;
    let counts = [
        ("ours -> theirs", net.count(1, &from_ours)),
        ("theirs -> ours", net.count(0, &from_theirs)),
        ("ours -> ours", net.count(0, &from_ours)),
        ("theirs -> theirs", net.count(1, &from_theirs)),
    ];
    assert!(
        delivered && counts[..2].iter().all(|c| c.1 == 1) && counts[2..].iter().all(|c| c.1 == 0),
        "deliveries over {expected_ours:?}: {counts:?}"
    );
    let source = |events: &[NodeEvent], data: &[u8]| -> Vec<Option<PeerId>> {
        events
            .iter()
            .filter_map(|e| match e {
                NodeEvent::Message {
                    source, data: d, ..
                } if d == data => Some(*source),
                _ => None,
            })
            .collect()
    };
    assert_eq!(source(&net.events[0], &from_theirs), vec![Some(their_id)]);
    assert_eq!(source(&net.events[1], &from_ours), vec![Some(our_id)]);
    assert_eq!(wire_rejections(&ours_handle), vec![], "ours rejected input");
    (ours_handle, their_id)
}

/// Ours restricted to `max` with `max_protocol`.
/// What libp2p-gossipsub 0.50.1 announces with its `partial-messages` feature.
const THEIR_EXTENSIONS: gossipsub::Extensions = gossipsub::Extensions {
    partial_messages: true,
    test_extension: false,
};

fn ours_up_to(max: gossipsub::PeerKind) -> gossipsub::ConfigBuilder {
    let mut b = fast_config();
    b.max_protocol(max);
    b
}

/// Both sides with their default protocols negotiate `/meshsub/1.3.0`, and theirs' Extensions
/// control message reaches us exactly once (it announces the Partial Messages extension: the
/// dev-dependency turns on its `partial-messages` feature).
#[tokio::test]
async fn meshsub_1_3_by_default() {
    let (ours_handle, their_id) = pair(
        fast_config(),
        their_config(),
        gossipsub::PeerKind::Gossipsubv1_3,
        "Gossipsubv1_3",
    )
    .await;
    let n = ours_handle.lock().expect("node lock");
    assert_eq!(
        n.swarm.behaviour().peer_extensions(&their_id),
        Some(THEIR_EXTENSIONS),
        "their Extensions control message was received"
    );
}

/// Extensions both ways: ours announces the experimental test extension (field 6492434,
/// which theirs does not know and must skip), theirs announces its own; both keep the
/// stream, each side has exactly one Extensions message of the other, and messages flow.
#[tokio::test]
async fn extensions_exchanged_both_ways() {
    let mut our_cfg = fast_config();
    our_cfg.test_extension(true);
    let (ours_handle, their_id) = pair(
        our_cfg,
        their_config(),
        gossipsub::PeerKind::Gossipsubv1_3,
        "Gossipsubv1_3",
    )
    .await;
    let n = ours_handle.lock().expect("node lock");
    let b = n.swarm.behaviour();
    assert_eq!(b.peer_extensions(&their_id), Some(THEIR_EXTENSIONS));
    assert_eq!(b.counters().extensions_duplicate, 0);
    // Theirs never announces the test extension, so ours never sends the test RPC.
    assert_eq!(b.counters().test_extensions_received, 0);
}

/// Ours offers up to 1.2: theirs (offering 1.3 first) settles on `/meshsub/1.2.0` both ways.
#[tokio::test]
async fn meshsub_1_2_ours_restricted() {
    pair(
        ours_up_to(gossipsub::PeerKind::Gossipsubv1_2),
        their_config(),
        gossipsub::PeerKind::Gossipsubv1_2,
        "Gossipsubv1_2",
    )
    .await;
}

/// Theirs offers only the id `/meshsub/1.2.0` (its `protocol_id` knob labels a custom id 1.0
/// or 1.1 only, so it treats us as 1.1): ours negotiates 1.2 on that id.
#[tokio::test]
async fn meshsub_1_2_theirs_restricted() {
    let mut their_cfg = their_config();
    their_cfg.protocol_id("/meshsub/1.2.0", libp2p_gossipsub::Version::V1_1);
    pair(
        fast_config(),
        their_cfg,
        gossipsub::PeerKind::Gossipsubv1_2,
        "Gossipsubv1_1",
    )
    .await;
}

#[tokio::test]
async fn meshsub_1_1_ours_restricted() {
    pair(
        ours_up_to(gossipsub::PeerKind::Gossipsubv1_1),
        their_config(),
        gossipsub::PeerKind::Gossipsubv1_1,
        "Gossipsubv1_1",
    )
    .await;
}

#[tokio::test]
async fn meshsub_1_1_theirs_restricted() {
    let mut their_cfg = their_config();
    their_cfg.protocol_id("/meshsub/1.1.0", libp2p_gossipsub::Version::V1_1);
    pair(
        fast_config(),
        their_cfg,
        gossipsub::PeerKind::Gossipsubv1_1,
        "Gossipsubv1_1",
    )
    .await;
}

#[tokio::test]
async fn meshsub_1_0_ours_restricted() {
    pair(
        ours_up_to(gossipsub::PeerKind::Gossipsub),
        their_config(),
        gossipsub::PeerKind::Gossipsub,
        "Gossipsub",
    )
    .await;
}

#[tokio::test]
async fn meshsub_1_0_theirs_restricted() {
    let mut their_cfg = their_config();
    their_cfg.protocol_id("/meshsub/1.0.0", libp2p_gossipsub::Version::V1_0);
    pair(
        fast_config(),
        their_cfg,
        gossipsub::PeerKind::Gossipsub,
        "Gossipsub",
    )
    .await;
}

/// `/floodsub/1.0.0`: ours with `support_floodsub(true)`; theirs offers only a meshsub id we
/// do not speak plus floodsub (their builder cannot drop meshsub entirely). Theirs starts every
/// peer as `Floodsub` until a stream is negotiated, so only our side's view is a real check.
#[tokio::test]
async fn floodsub_fallback() {
    let mut our_cfg = fast_config();
    our_cfg.support_floodsub(true);
    let mut their_cfg = their_config();
    their_cfg
        .protocol_id("/not-spoken-by-ours/1.0.0", libp2p_gossipsub::Version::V1_0)
        .support_floodsub();
    pair(
        our_cfg,
        their_cfg,
        gossipsub::PeerKind::Floodsub,
        "Floodsub",
    )
    .await;
}

/// A custom prefix on both sides: theirs' `protocol_id_prefix("/mynet")` offers
/// `/mynet/1.1.0` and `/mynet/1.0.0`; ours offers `/mynet/1.3.0` down to `/mynet/1.0.0`; they
/// meet on `/mynet/1.1.0`.
#[tokio::test]
async fn same_custom_prefix_with_theirs() {
    let mut our_cfg = fast_config();
    our_cfg.protocol_id_prefix("/mynet");
    let mut their_cfg = their_config();
    their_cfg.protocol_id_prefix("/mynet");
    pair(
        our_cfg,
        their_cfg,
        gossipsub::PeerKind::Gossipsubv1_1,
        "Gossipsubv1_1",
    )
    .await;
}

/// Ours with the default prefix and theirs with `/mynet` share no protocol: theirs is
/// reported as not speaking gossipsub and nothing is exchanged.
#[tokio::test]
async fn different_prefix_from_theirs_does_not_talk() {
    init_tracing();
    let (_, ours_box) = Shared::wrap(ours(&fast_config()));
    let mut their_cfg = their_config();
    their_cfg.protocol_id_prefix("/mynet");
    let (_, theirs_box) = Shared::wrap(theirs(&their_cfg, None));
    let mut net = Net::new(vec![ours_box, theirs_box]);
    let their_id = net.nodes[1].peer_id();
    net.nodes[0].subscribe(TOPIC);
    net.nodes[1].subscribe(TOPIC);
    net.connect(0, 1);
    let refused = net
        .run_until(TIMEOUT, |ev| {
            ev[0].contains(&NodeEvent::NotSupported { peer: their_id })
        })
        .await;
    net.run_for(Duration::from_millis(300)).await;
    assert!(refused, "ours events: {:?}", net.events[0]);
    assert!(subscribed_peers(&net.events[0], TOPIC).is_empty());
    assert!(subscribed_peers(&net.events[1], TOPIC).is_empty());
}

/// Two of ours: the same custom prefix talks (meshsub 1.3 under `/mynet`), different prefixes
/// do not (each reports the other as not speaking gossipsub, no subscription crosses).
#[tokio::test]
async fn ours_with_prefixes_talk_only_on_the_same_one() {
    init_tracing();
    for (a, b, talk) in [("/mynet", "/mynet", true), ("/mynet", "/othernet", false)] {
        let node = |prefix: &str| {
            let mut cfg = fast_config();
            cfg.protocol_id_prefix(prefix);
            Shared::wrap(ours(&cfg))
        };
        let (first, first_box) = node(a);
        let (_, second_box) = node(b);
        let mut net = Net::new(vec![first_box, second_box]);
        let ids = [net.nodes[0].peer_id(), net.nodes[1].peer_id()];
        net.nodes[0].subscribe(TOPIC);
        net.nodes[1].subscribe(TOPIC);
        net.connect(0, 1);
        if talk {
            let ok = net
                .run_until(TIMEOUT, |ev| {
                    subscribed_peers(&ev[0], TOPIC).contains(&ids[1])
                        && subscribed_peers(&ev[1], TOPIC).contains(&ids[0])
                })
                .await;
            assert!(ok, "{a} and {b}: {:?}", net.events);
            let n = first.lock().expect("node lock");
            let kind = n
                .swarm
                .behaviour()
                .peer_protocol()
                .find(|(p, _)| **p == ids[1])
                .map(|(_, k)| *k);
            assert_eq!(kind, Some(gossipsub::PeerKind::Gossipsubv1_3));
        } else {
            let refused = net
                .run_until(TIMEOUT, |ev| {
                    ev[0].contains(&NodeEvent::NotSupported { peer: ids[1] })
                        && ev[1].contains(&NodeEvent::NotSupported { peer: ids[0] })
                })
                .await;
            net.run_for(Duration::from_millis(300)).await;
            assert!(refused, "{a} and {b}: {:?}", net.events);
            assert!(subscribed_peers(&net.events[0], TOPIC).is_empty());
            assert!(subscribed_peers(&net.events[1], TOPIC).is_empty());
        }
    }
}

/// The `idontwant_msgs` counter of their metrics registry.
fn their_idontwant_msgs(registry: &prometheus_client::registry::Registry) -> u64 {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encode");
    text.lines()
        .find(|l| l.starts_with("idontwant_msgs_total "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// IDONTWANT both ways on a line ours(0) - theirs(1) - ours(2) - theirs(3): node 0 publishes a
/// message over the IDONTWANT threshold; theirs(1), on receiving it, tells ours(2) before
/// forwarding, and ours(2) tells theirs(3). Each recipient counts it, and the message still
/// reaches everyone exactly once.
#[tokio::test]
async fn idontwant_both_ways() {
    init_tracing();
    let mut registry = prometheus_client::registry::Registry::default();
    let (ours0, b0) = Shared::wrap(ours(&fast_config()));
    let (_, b1) = Shared::wrap(theirs(&their_config(), None));
    let (ours2, b2) = Shared::wrap(ours(&fast_config()));
    let (_, b3) = Shared::wrap(theirs(&their_config(), Some(&mut registry)));
    let mut net = Net::new(vec![b0, b1, b2, b3]);
    let ids: Vec<PeerId> = net.nodes.iter().map(|n| n.peer_id()).collect();
    for node in net.nodes.iter_mut() {
        node.subscribe(TOPIC);
    }
    for (a, b) in [(0, 1), (1, 2), (2, 3)] {
        net.connect(a, b);
    }
    // Every link in both meshes (each node has at most two neighbours, below D_lo).
    let meshed = net
        .wait_for(TIMEOUT, |_| {
            let mesh = |n: &Arc<Mutex<Ours>>| -> HashSet<PeerId> {
                let hash = gossipsub::IdentTopic::new(TOPIC).hash();
                let n = n.lock().expect("node lock");
                n.swarm.behaviour().mesh_peers(&hash).copied().collect()
            };
            mesh(&ours0) == HashSet::from([ids[1]])
                && mesh(&ours2) == HashSet::from([ids[1], ids[3]])
        })
        .await;
    assert!(meshed, "meshes not formed");
    // Let theirs' heartbeats graft back too.
    net.run_for(Duration::from_millis(300)).await;

    let data = vec![7u8; 4096];
    net.nodes[0].publish(TOPIC, data.clone()).expect("publish");
    let delivered = net
        .run_until(TIMEOUT, |ev| {
            (1..4).all(|i| common::count_in(&ev[i], &data) >= 1)
        })
        .await;
    net.run_for(SETTLE).await;
    assert!(delivered);
    for i in 1..4 {
        assert_eq!(net.count(i, &data), 1, "node {i}");
    }
    let received = ours2
        .lock()
        .expect("node lock")
        .swarm
        .behaviour()
        .counters()
        .idontwant_received;
    assert!(
        received >= 1,
        "theirs -> ours: no IDONTWANT reached ours(2)"
    );
    assert!(
        their_idontwant_msgs(&registry) >= 1,
        "ours -> theirs: no IDONTWANT reached theirs(3)"
    );
    assert_eq!(wire_rejections(&ours2), vec![]);
}

/// Batch publishing (`Behaviour::publish_batch`) from ours to a triangle with two of theirs:
/// every message of the batch reaches each of theirs exactly once.
#[tokio::test]
async fn batch_publish_reaches_theirs_once() {
    init_tracing();
    let (ours0, b0) = Shared::wrap(ours(&fast_config()));
    let (_, b1) = Shared::wrap(theirs(&their_config(), None));
    let (_, b2) = Shared::wrap(theirs(&their_config(), None));
    let mut net = Net::new(vec![b0, b1, b2]);
    let ids: Vec<PeerId> = net.nodes.iter().map(|n| n.peer_id()).collect();
    for node in net.nodes.iter_mut() {
        node.subscribe(TOPIC);
    }
    for (a, b) in [(0, 1), (1, 2), (2, 0)] {
        net.connect(a, b);
    }
    let meshed = net
        .wait_for(TIMEOUT, |_| {
            let hash = gossipsub::IdentTopic::new(TOPIC).hash();
            let n = ours0.lock().expect("node lock");
            n.swarm.behaviour().mesh_peers(&hash).count() == 2
        })
        .await;
    assert!(meshed, "ours' mesh not formed");
    let blobs: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 2048]).collect();
    let results = ours0
        .lock()
        .expect("node lock")
        .swarm
        .behaviour_mut()
        .publish_batch(
            blobs
                .iter()
                .map(|b| (gossipsub::IdentTopic::new(TOPIC).hash(), b.clone().into())),
        );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let delivered = net
        .run_until(TIMEOUT, |ev| {
            (1..3).all(|i| blobs.iter().all(|b| common::count_in(&ev[i], b) >= 1))
        })
        .await;
    net.run_for(SETTLE).await;
    assert!(delivered, "not every blob reached theirs");
    for (i, id) in ids.iter().enumerate().skip(1) {
        for (k, b) in blobs.iter().enumerate() {
            assert_eq!(net.count(i, b), 1, "node {i} ({id}) blob {k}");
        }
    }
}
