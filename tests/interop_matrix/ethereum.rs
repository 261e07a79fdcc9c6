//! The Ethereum profile against rust-libp2p's `libp2p-gossipsub` 0.50 ("theirs"): both sides
//! run a snappy data transform and the consensus message id, on a mixed network of ten real
//! swarms, five of each (memory transport). Every message reaches every node exactly once, decompressed,
//! and both implementations compute the id the consensus specs define (checked against a
//! digest built here from the spec's definition).

use super::common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use common::{Net, Node, NodeEvent, Shared, memory_addr, memory_swarm};
use futures::StreamExt;
use libp2p::core::Multiaddr;
use libp2p::identity::{Keypair, PeerId};
use libp2p::swarm::{Swarm, SwarmEvent};
use sha2::{Digest, Sha256};

const TIMEOUT: Duration = Duration::from_secs(20);
const HEARTBEAT: Duration = Duration::from_millis(100);
/// Eight heartbeats after delivery, so a late duplicate (forward or IWANT) would be counted.
const SETTLE: Duration = Duration::from_millis(800);
const NODES: usize = 10;
/// A ring alternating ours (even) and theirs (odd), plus chords (two of them between nodes of
/// the same implementation): every node has three neighbours (fewer than D_lo on both sides,
/// so all end up in its mesh).
const EDGES: [(usize, usize); 15] = [
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (4, 5),
    (5, 6),
    (6, 7),
    (7, 8),
    (8, 9),
    (9, 0),
    (0, 4),
    (1, 5),
    (2, 7),
    (3, 8),
    (6, 9),
];

/// The consensus message id, written from the spec (p2p-interface.md, Altair and later):
/// `SHA256(0x01000000 ++ u64le(len(topic)) ++ topic ++ decompressed data)[:20]`.
fn spec_id(topic: &str, decompressed: &[u8]) -> Vec<u8> {
    let mut preimage = vec![0x01, 0x00, 0x00, 0x00];
    preimage.extend_from_slice(&(topic.len() as u64).to_le_bytes());
    preimage.extend_from_slice(topic.as_bytes());
    preimage.extend_from_slice(decompressed);
    Sha256::digest(&preimage)[..20].to_vec()
}

/// Their snappy transform, written for this test on their `DataTransform` trait: snappy block
/// format, the decompressed length checked against `MAX_PAYLOAD_SIZE` first.
struct TheirSnappy;

impl libp2p_gossipsub::DataTransform for TheirSnappy {
    fn inbound_transform(
        &self,
        raw: libp2p_gossipsub::RawMessage,
    ) -> Result<libp2p_gossipsub::Message, std::io::Error> {
        let len = snap::raw::decompress_len(&raw.data)?;
        if len > gossipsub::ethereum::MAX_PAYLOAD_SIZE {
            return Err(std::io::Error::other("snappy payload over the bound"));
        }
        let data = snap::raw::Decoder::new().decompress_vec(&raw.data)?;
        Ok(libp2p_gossipsub::Message {
            source: raw.source,
            data,
            sequence_number: raw.sequence_number,
            topic: raw.topic,
        })
    }

    fn outbound_transform(
        &self,
        _topic: &libp2p_gossipsub::TopicHash,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, std::io::Error> {
        Ok(snap::raw::Encoder::new().compress_vec(&data)?)
    }
}

/// Ids each node reported for each payload it received, as (payload, id).
type Ids = Arc<Mutex<Vec<(Vec<u8>, Vec<u8>)>>>;

/// Our node: `Behaviour::ethereum` with a test heartbeat. It validates every message (the
/// preset turns validation on) by accepting it.
struct OursEth {
    swarm: Swarm<gossipsub::Behaviour>,
    addr: Multiaddr,
    ids: Ids,
}

/// Their node: snappy transform, anonymous messages, the consensus id written here.
struct TheirsEth {
    swarm: Swarm<libp2p_gossipsub::Behaviour<TheirSnappy>>,
    addr: Multiaddr,
    ids: Ids,
}

impl OursEth {
    fn new() -> Self {
        let config = gossipsub::ConfigBuilder::ethereum()
            .heartbeat_interval(HEARTBEAT)
            .heartbeat_initial_delay(Duration::from_millis(10))
            .build()
            .expect("valid config");
        let behaviour = gossipsub::Behaviour::ethereum(config).expect("valid behaviour");
        let mut swarm = memory_swarm(Keypair::generate_ed25519(), behaviour);
        let addr = memory_addr();
        swarm.listen_on(addr.clone()).expect("listen");
        OursEth {
            swarm,
            addr,
            ids: Ids::default(),
        }
    }
}

impl TheirsEth {
    fn new() -> Self {
        let config = libp2p_gossipsub::ConfigBuilder::default()
            .heartbeat_interval(HEARTBEAT)
            .heartbeat_initial_delay(Duration::from_millis(10))
            .validation_mode(libp2p_gossipsub::ValidationMode::Anonymous)
            .flood_publish(false)
            .max_transmit_size(gossipsub::ethereum::MAX_MESSAGE_SIZE)
            .message_id_fn(|m: &libp2p_gossipsub::Message| {
                libp2p_gossipsub::MessageId::from(spec_id(m.topic.as_str(), &m.data))
            })
            .build()
            .expect("valid config");
        let behaviour = libp2p_gossipsub::Behaviour::new_with_transform(
            libp2p_gossipsub::MessageAuthenticity::Anonymous,
            config,
            TheirSnappy,
        )
        .expect("valid behaviour");
        let mut swarm = memory_swarm(Keypair::generate_ed25519(), behaviour);
        let addr = memory_addr();
        swarm.listen_on(addr.clone()).expect("listen");
        TheirsEth {
            swarm,
            addr,
            ids: Ids::default(),
        }
    }
}

impl Node for OursEth {
    fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<NodeEvent> {
        match self.swarm.poll_next_unpin(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(match event {
                SwarmEvent::Behaviour(gossipsub::Event::Message {
                    propagation_source,
                    message_id,
                    message,
                }) => {
                    self.ids
                        .lock()
                        .expect("ids")
                        .push((message.data.to_vec(), message_id.as_bytes().to_vec()));
                    self.swarm.behaviour_mut().report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        gossipsub::MessageAcceptance::Accept,
                    );
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
                _ => NodeEvent::Other,
            }),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    common::node_ops!(gossipsub);
}

impl Node for TheirsEth {
    fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<NodeEvent> {
        match self.swarm.poll_next_unpin(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(match event {
                SwarmEvent::Behaviour(libp2p_gossipsub::Event::Message {
                    message_id,
                    message,
                    ..
                }) => {
                    self.ids
                        .lock()
                        .expect("ids")
                        .push((message.data.clone(), message_id.0.clone()));
                    NodeEvent::Message {
                        source: message.source,
                        topic: message.topic.as_str().to_owned(),
                        data: message.data,
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
                _ => NodeEvent::Other,
            }),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    common::node_ops!(libp2p_gossipsub);
}

/// The test's handle on a node, for meshes and counters between runs.
enum Handle {
    Ours(Arc<Mutex<OursEth>>),
    Theirs(Arc<Mutex<TheirsEth>>),
}

impl Handle {
    fn mesh(&self, topic: &str) -> HashSet<PeerId> {
        match self {
            Handle::Ours(n) => {
                let hash = gossipsub::IdentTopic::new(topic).hash();
                let n = n.lock().expect("node");
                n.swarm.behaviour().mesh_peers(&hash).copied().collect()
            }
            Handle::Theirs(n) => {
                let hash = libp2p_gossipsub::IdentTopic::new(topic).hash();
                let n = n.lock().expect("node");
                n.swarm.behaviour().mesh_peers(&hash).copied().collect()
            }
        }
    }

    fn ids(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        match self {
            Handle::Ours(n) => n.lock().expect("node").ids.lock().expect("ids").clone(),
            Handle::Theirs(n) => n.lock().expect("node").ids.lock().expect("ids").clone(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Handle::Ours(_) => "ours",
            Handle::Theirs(_) => "theirs",
        }
    }
}

/// Five of ours and five of theirs, all with snappy and the consensus id on a beacon topic:
/// each node publishes a block-sized, compressible payload; every other node receives each
/// one exactly once, decompressed, under the id the specs define.
#[tokio::test]
async fn ethereum_profile_mixed_network_delivers_each_message_once() {
    let topic = gossipsub::ethereum::topic([0x6a, 0x95, 0xa1, 0xa9], "beacon_block")
        .expect("topic")
        .name()
        .to_owned();
    let mut boxes = Vec::new();
    let mut handles = Vec::new();
    for i in 0..NODES {
        if i % 2 == 0 {
            let (h, b) = Shared::wrap(OursEth::new());
            handles.push(Handle::Ours(h));
            boxes.push(b);
        } else {
            let (h, b) = Shared::wrap(TheirsEth::new());
            handles.push(Handle::Theirs(h));
            boxes.push(b);
        }
    }
    let mut net = Net::new(boxes);
    let peers: Vec<PeerId> = net.nodes.iter().map(|n| n.peer_id()).collect();
    let neighbours: Vec<HashSet<PeerId>> = (0..NODES)
        .map(|i| {
            EDGES
                .iter()
                .filter_map(|&(a, b)| {
                    (a == i)
                        .then_some(peers[b])
                        .or((b == i).then_some(peers[a]))
                })
                .collect()
        })
        .collect();
    for node in net.nodes.iter_mut() {
        node.subscribe(&topic);
    }
    for &(a, b) in &EDGES {
        net.connect(a, b);
    }
    let meshed = net
        .wait_for(TIMEOUT, |_| {
            (0..NODES).all(|i| handles[i].mesh(&topic) == neighbours[i])
        })
        .await;
    assert!(
        meshed,
        "meshes not formed: {:?}",
        (0..NODES)
            .map(|i| (handles[i].name(), handles[i].mesh(&topic).len()))
            .collect::<Vec<_>>()
    );

    // Block-sized (over the IDONTWANT threshold), compressible and distinct per node.
    let payloads: Vec<Vec<u8>> = (0..NODES)
        .map(|i| {
            format!("ssz block {i} from {} ", handles[i].name())
                .into_bytes()
                .repeat(200)
        })
        .collect();
    for (i, data) in payloads.iter().enumerate() {
        net.nodes[i]
            .publish(&topic, data.clone())
            .unwrap_or_else(|e| panic!("node {i} ({}) publish: {e}", handles[i].name()));
    }
    let delivered = net
        .run_until(TIMEOUT, |ev| {
            (0..NODES).all(|i| {
                (0..NODES)
                    .filter(|&j| j != i)
                    .all(|j| common::count_in(&ev[i], &payloads[j]) >= 1)
            })
        })
        .await;
    net.run_for(SETTLE).await;

    let mut failures = Vec::new();
    for i in 0..NODES {
        for (j, data) in payloads.iter().enumerate() {
            let got = common::count_in(&net.events[i], data);
            let expected = usize::from(i != j);
            if got != expected {
                failures.push(format!(
                    "node {i} ({}) got node {j}'s ({}) message {got} times, expected {expected}",
                    handles[i].name(),
                    handles[j].name()
                ));
            }
        }
        // Anything delivered that is not one of the payloads (e.g. still compressed).
        let strays = net
            .received(i)
            .iter()
            .filter(|(_, d)| !payloads.contains(d))
            .count();
        if strays > 0 {
            failures.push(format!("node {i} got {strays} unexpected payloads"));
        }
        for (data, id) in handles[i].ids() {
            if id != spec_id(&topic, &data) {
                failures.push(format!(
                    "node {i} ({}) computed a non-spec id",
                    handles[i].name()
                ));
            }
        }
        if let Handle::Ours(n) = &handles[i] {
            let n = n.lock().expect("node");
            let c = n.swarm.behaviour().counters();
            for (name, v) in [
                ("messages_transform_failed", c.messages_transform_failed),
                ("messages_invalid", c.messages_invalid),
                ("rpcs_malformed", c.rpcs_malformed),
                // The preset fixes ids at 20 bytes; theirs' ids must all pass.
                ("message_ids_wrong_len", c.message_ids_wrong_len),
            ] {
                if v != 0 {
                    failures.push(format!("node {i} (ours): {name} = {v}"));
                }
            }
        }
    }
    assert!(
        delivered && failures.is_empty(),
        "delivered: {delivered}; failures:\n{}",
        failures.join("\n")
    );
}
