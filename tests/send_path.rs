//! The send path against real peers: a closed outbound stream is noticed and reopened, a slow
//! peer is bounded, reported and penalised without stalling the others, and idle connections
//! are not kept alive for nothing.
//!
//! Set `RUST_LOG` (e.g. `RUST_LOG=gossipsub=debug`) to see the logs.

mod common;

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use common::raw::MESHSUB_1_1;
use common::raw::{RawNode, put_frame, subscribe_rpc};
use common::{Net, Node, NodeEvent, Ours, Shared, Theirs, fast_config, memory_addr};
use futures::StreamExt;
use gossipsub::{FailedMessages, PeerScoreParams, PeerScoreThresholds};
use libp2p::core::Endpoint;
use libp2p::core::transport::MemoryTransport;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::core::upgrade::Version;
use libp2p::core::{Multiaddr, Transport};
use libp2p::identity::{Keypair, PeerId};
use libp2p::swarm::handler::{OneShotHandler, OneShotHandlerConfig};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, Stream, StreamProtocol,
    SubstreamProtocol, Swarm, SwarmEvent, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{plaintext, yamux};

const TOPIC: &str = "send-path";
/// Upper bound for any single wait; a passing test needs a small fraction of it.
const TIMEOUT: Duration = Duration::from_secs(15);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A libp2p-gossipsub 0.50 node with its defaults (max_transmit_size 64 KiB) and a fast
/// heartbeat.
fn default_theirs() -> Theirs {
    let mut b = libp2p_gossipsub::ConfigBuilder::default();
    b.heartbeat_interval(Duration::from_millis(100))
        .heartbeat_initial_delay(Duration::from_millis(10))
        .validation_mode(libp2p_gossipsub::ValidationMode::Strict);
    let key = Keypair::generate_ed25519();
    Theirs::new(
        key.clone(),
        libp2p_gossipsub::MessageAuthenticity::Signed(key),
        b.build().expect("valid config"),
    )
}

/// A default libp2p-gossipsub peer refuses a 100 kB frame and closes its side of our outbound
/// stream. We must notice, open a new stream, and keep delivering: the small message published
/// afterwards has to arrive. Seven rounds, more than the handler's bound on failures in a row
/// and than libp2p-gossipsub's five inbound streams per connection: after the first refusal
/// the peer's frame limit is learned (64 KiB), so later big messages are dropped for it alone
/// and its stream survives.
#[tokio::test]
async fn peer_refusing_an_oversized_frame_still_gets_later_messages() {
    init_tracing();
    let mut config = fast_config();
    config.max_transmit_size(1 << 20);
    let (ours, ours_box): (Arc<Mutex<Ours>>, _) =
        Shared::wrap(Ours::signed(config.build().expect("valid config")));
    let (_theirs, theirs_box) = Shared::wrap(default_theirs());
    let mut net = Net::new(vec![ours_box, theirs_box]);
    net.connect(0, 1);
    net.nodes[0].subscribe(TOPIC);
    net.nodes[1].subscribe(TOPIC);
    assert!(net.wait_subscribed(&[0, 1], TOPIC, 1, TIMEOUT).await);
    // Let both meshes form.
    net.run_for(Duration::from_millis(500)).await;

    const ROUNDS: u8 = 7;
    for round in 0..ROUNDS {
        let mut big = vec![7u8; 100_000];
        big[0] = round;
        let published = net.nodes[0].publish(TOPIC, big.clone());
        if round == 0 {
            published.expect("ours accepts 100 kB with a 1 MiB limit");
            // Wait until we noticed that theirs closed the stream.
            let noticed = net
                .wait_for(TIMEOUT, |_| {
                    let n = ours.lock().expect("lock");
                    n.swarm.behaviour().counters().outbound_streams_reopened > 0
                })
                .await;
            assert!(noticed, "the refused frame was not noticed");
        } else {
            // The limit learned for the peer (64 KiB) refuses it locally, with a typed error.
            let err = published.expect_err("100 kB exceeds the peer's learned limit");
            assert!(err.contains("65536"), "{err}");
        }
        assert_eq!(net.count(1, &big), 0, "theirs cannot take 100 kB");

        let small = format!("small message {round} after the big one").into_bytes();
        net.nodes[0].publish(TOPIC, small.clone()).expect("publish");
        let delivered = net
            .run_until(TIMEOUT, |ev| common::count_in(&ev[1], &small) == 1)
            .await;
        assert!(
            delivered,
            "round {round}: the small message never reached the libp2p-gossipsub peer"
        );
    }
    let counters = *ours.lock().expect("lock").swarm.behaviour().counters();
    assert_eq!(counters.outbound_streams_given_up, 0, "{counters:?}");
    assert_eq!(counters.outbound_streams_reopened, 1, "{counters:?}");
    assert_eq!(counters.peer_frame_limits_lowered, 1, "{counters:?}");
    assert_eq!(
        counters.messages_too_large_to_send,
        u64::from(ROUNDS) - 1,
        "{counters:?}"
    );
    assert_eq!(counters.rpcs_unencodable, 0, "{counters:?}");
}

/// With the default limit (64 KiB, libp2p-gossipsub's), a larger publish is refused locally.
#[test]
fn default_publish_above_64_kib_is_refused() {
    let key = Keypair::generate_ed25519();
    let mut behaviour = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key),
        gossipsub::Config::default(),
    )
    .expect("valid config");
    let topic = gossipsub::IdentTopic::new(TOPIC);
    let result = behaviour.publish(topic, vec![0u8; 65_536]);
    assert!(
        matches!(
            result,
            Err(gossipsub::PublishError::MessageTooLarge { max: 65_536, .. })
        ),
        "{result:?}"
    );
}

/// Our node in a swarm whose idle connections close after `idle`, recording the slow-peer
/// reports it emits.
struct Watched {
    swarm: Swarm<gossipsub::Behaviour>,
    addr: Multiaddr,
    slow_peers: Vec<(PeerId, FailedMessages)>,
}

impl Watched {
    fn new(config: gossipsub::Config, idle: Duration) -> Self {
        let key = Keypair::generate_ed25519();
        let behaviour =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)
                .expect("valid config");
        let transport = MemoryTransport::default()
            .upgrade(Version::V1)
            .authenticate(plaintext::Config::new(&key))
            .multiplex(yamux::Config::default())
            .boxed();
        let mut swarm = Swarm::new(
            transport,
            behaviour,
            key.public().to_peer_id(),
            libp2p::swarm::Config::with_tokio_executor().with_idle_connection_timeout(idle),
        );
        let addr = memory_addr();
        swarm.listen_on(addr.clone()).expect("listen on memory");
        Watched {
            swarm,
            addr,
            slow_peers: Vec::new(),
        }
    }
}

impl Node for Watched {
    fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<NodeEvent> {
        let Poll::Ready(Some(event)) = self.swarm.poll_next_unpin(cx) else {
            return Poll::Pending;
        };
        Poll::Ready(match event {
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
            SwarmEvent::Behaviour(gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            }) => {
                self.slow_peers.push((peer_id, failed_messages));
                NodeEvent::Other
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                NodeEvent::Connected { peer: peer_id }
            }
            SwarmEvent::ConnectionClosed { peer_id, .. } => {
                NodeEvent::Disconnected { peer: peer_id }
            }
            _ => NodeEvent::Other,
        })
    }

    common::node_ops!(gossipsub);
}

fn disconnects(events: &[NodeEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, NodeEvent::Disconnected { .. }))
        .count()
}

/// Two nodes with `topics` subscribed on a swarm with a 200 ms idle timeout; returns whether
/// their connection closed within `wait` (the keep-alive grace is 10 heartbeats of 100 ms).
async fn idle_connection_closes(topics: [&str; 2], wait: Duration) -> bool {
    let idle = Duration::from_millis(200);
    let config = || fast_config().build().expect("valid config");
    let mut net = Net::new(vec![
        Box::new(Watched::new(config(), idle)),
        Box::new(Watched::new(config(), idle)),
    ]);
    net.nodes[0].subscribe(topics[0]);
    net.nodes[1].subscribe(topics[1]);
    net.connect(0, 1);
    let connected = net
        .run_until(TIMEOUT, |ev| {
            ev[0]
                .iter()
                .any(|e| matches!(e, NodeEvent::Connected { .. }))
        })
        .await;
    assert!(connected);
    net.run_until(wait, |ev| disconnects(&ev[0]) > 0).await
}

/// A connection to a peer that shares no topic with us is not kept alive once the grace
/// period for exchanging subscriptions is over.
#[tokio::test]
async fn idle_connection_without_shared_topic_closes() {
    init_tracing();
    assert!(
        idle_connection_closes(["a", "b"], Duration::from_secs(8)).await,
        "a connection without a shared topic was kept alive"
    );
}

/// A connection to a peer with a shared topic stays up even with a short idle timeout.
#[tokio::test]
async fn connection_with_shared_topic_stays_alive() {
    init_tracing();
    assert!(
        !idle_connection_closes([TOPIC, TOPIC], Duration::from_secs(4)).await,
        "a connection with a shared topic was closed"
    );
}

/// A peer that subscribes and then never reads: the others still get every message, our queue
/// for it stays within its byte bound, and it is reported as slow and penalised.
#[tokio::test]
async fn a_slow_peer_never_stalls_the_others() {
    init_tracing();
    const QUEUE_BYTES: usize = 256 * 1024;
    let mut config = fast_config();
    config.send_queue_bytes(QUEUE_BYTES);
    let mut publisher = Watched::new(config.build().expect("valid config"), TIMEOUT);
    publisher
        .swarm
        .behaviour_mut()
        .with_peer_score(PeerScoreParams::default(), PeerScoreThresholds::default())
        .expect("score params");
    let (publisher, publisher_box) = Shared::wrap(publisher);
    let mut hello = Vec::new();
    put_frame(&mut hello, &subscribe_rpc(TOPIC));
    let slow = RawNode::new(Keypair::generate_ed25519(), hello);
    let slow_id = slow.peer_id();
    let honest = || Box::new(Ours::signed(fast_config().build().expect("valid config")));
    let mut net = Net::new(vec![publisher_box, Box::new(slow), honest(), honest()]);
    for i in 1..4 {
        net.connect(0, i);
    }
    net.connect(2, 3);
    net.nodes[0].subscribe(TOPIC);
    net.nodes[2].subscribe(TOPIC);
    net.nodes[3].subscribe(TOPIC);
    assert!(net.wait_subscribed(&[0], TOPIC, 3, TIMEOUT).await);
    net.run_for(Duration::from_millis(300)).await;

    // 200 messages of 20 kB: 4 MB, far more than the slow peer's stream window and queue.
    let messages: Vec<Vec<u8>> = (0..200u32)
        .map(|i| {
            let mut m = vec![0u8; 20_000];
            m[..4].copy_from_slice(&i.to_be_bytes());
            m
        })
        .collect();
    let mut max_queued = 0;
    for (n, chunk) in messages.chunks(10).enumerate() {
        for m in chunk {
            net.nodes[0].publish(TOPIC, m.clone()).expect("publish");
        }
        // The honest peers get each batch promptly, whatever the slow peer does.
        let delivered = net
            .run_until(TIMEOUT, |ev| {
                chunk
                    .iter()
                    .all(|m| common::count_in(&ev[2], m) == 1 && common::count_in(&ev[3], m) == 1)
            })
            .await;
        assert!(delivered, "batch {n} did not reach the honest peers");
        let p = publisher.lock().expect("lock");
        if let Some((_, bytes)) = p.swarm.behaviour().send_queue_usage(&slow_id) {
            max_queued = max_queued.max(bytes);
        }
    }
    // Let a heartbeat report the drops.
    net.run_for(Duration::from_millis(300)).await;

    let p = publisher.lock().expect("lock");
    // Three classes, each within its bound (one item may exceed it only in an empty class).
    assert!(
        max_queued <= 3 * QUEUE_BYTES,
        "queue for the slow peer reached {max_queued} bytes"
    );
    let reported: usize = p
        .slow_peers
        .iter()
        .filter(|(peer, _)| *peer == slow_id)
        .map(|(_, f)| f.total())
        .sum();
    assert!(reported > 0, "the slow peer was never reported");
    assert!(
        p.slow_peers.iter().all(|(peer, _)| *peer == slow_id),
        "an honest peer was reported slow: {:?}",
        p.slow_peers
    );
    let behaviour = p.swarm.behaviour();
    let breakdown = behaviour
        .peer_score_breakdown(&slow_id)
        .expect("the slow peer is scored");
    assert!(breakdown.slow_peer.counter > 0.0, "{breakdown}");
    assert!(breakdown.score < 0.0, "{breakdown}");
    assert!(behaviour.counters().send_queue_full > 0);
}

/// A peer that reads nothing until its control queue is full is disconnected, reported with
/// the control drops, and penalised.
#[tokio::test]
async fn a_peer_whose_control_queue_is_full_is_disconnected() {
    init_tracing();
    const QUEUE_ITEMS: usize = 8;
    let mut config = fast_config();
    config.send_queue_size(QUEUE_ITEMS);
    // Long topics make each SUBSCRIBE too large to merge with the next one.
    config.max_topic_len(8192);
    let mut publisher = Watched::new(config.build().expect("valid config"), TIMEOUT);
    publisher
        .swarm
        .behaviour_mut()
        .with_peer_score(PeerScoreParams::default(), PeerScoreThresholds::default())
        .expect("score params");
    let (publisher, publisher_box) = Shared::wrap(publisher);
    let mut hello = Vec::new();
    put_frame(&mut hello, &subscribe_rpc(TOPIC));
    let slow = RawNode::new(Keypair::generate_ed25519(), hello);
    let slow_id = slow.peer_id();
    let honest = Ours::signed(fast_config().build().expect("valid config"));
    let honest_id = honest.peer_id();
    let mut net = Net::new(vec![publisher_box, Box::new(slow), Box::new(honest)]);
    net.connect(0, 1);
    net.connect(0, 2);
    net.nodes[0].subscribe(TOPIC);
    net.nodes[2].subscribe(TOPIC);
    assert!(net.wait_subscribed(&[0], TOPIC, 2, TIMEOUT).await);

    // Fill the slow peer's stream window (it never reads), two messages at a time so that
    // the honest peer's small queue keeps up.
    for i in 0..30u32 {
        let mut pair = Vec::new();
        for j in 0..2u32 {
            let mut m = vec![1u8; 20_000];
            m[..8].copy_from_slice(&[i.to_be_bytes(), j.to_be_bytes()].concat());
            net.nodes[0].publish(TOPIC, m.clone()).expect("publish");
            pair.push(m);
        }
        let delivered = net
            .run_until(TIMEOUT, |ev| {
                pair.iter().all(|m| common::count_in(&ev[2], m) == 1)
            })
            .await;
        assert!(delivered, "message pair {i} did not reach the honest peer");
    }
    // Now every subscription announcement is control the slow peer cannot take. Long topic
    // names, so that merging into the queued tail stops after a few (at half the 64 KiB
    // frame limit); paced so that the honest peer keeps up.
    for t in 0..40 * QUEUE_ITEMS {
        net.nodes[0].subscribe(&format!("extra-{t}-{}", "x".repeat(4000)));
        if t % 4 == 3 {
            net.run_for(Duration::from_millis(10)).await;
        }
        if !publisher.lock().expect("lock").swarm.is_connected(&slow_id) {
            break;
        }
    }
    let disconnected = net
        .run_until(TIMEOUT, |ev| {
            ev[0]
                .iter()
                .any(|e| matches!(e, NodeEvent::Disconnected { peer } if *peer == slow_id))
        })
        .await;
    assert!(disconnected, "the slow peer was not disconnected");
    net.run_for(Duration::from_millis(300)).await;

    let p = publisher.lock().expect("lock");
    let behaviour = p.swarm.behaviour();
    assert_eq!(behaviour.counters().slow_peers_disconnected, 1);
    let control: usize = p
        .slow_peers
        .iter()
        .filter(|(peer, _)| *peer == slow_id)
        .map(|(_, f)| f.control)
        .sum();
    assert!(
        control >= 1,
        "control drops not reported: {:?}",
        p.slow_peers
    );
    let score = behaviour.peer_score(&slow_id).expect("retained record");
    assert!(score < 0.0, "score {score}");
    // The honest peer is untouched.
    assert!(
        behaviour.all_peers().any(|(peer, _)| *peer == honest_id),
        "honest peer lost"
    );
}

/// A peer that accepts our meshsub streams and drops them at once.
struct Closer {
    dropped: usize,
}

type CloserHandler =
    OneShotHandler<ReadyUpgrade<StreamProtocol>, ReadyUpgrade<StreamProtocol>, Stream>;

impl NetworkBehaviour for Closer {
    type ConnectionHandler = CloserHandler;
    type ToSwarm = ();

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(closer_handler())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(closer_handler())
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        if let Ok(stream) = event {
            self.dropped += 1;
            drop(stream);
        }
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<(), THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

fn closer_handler() -> CloserHandler {
    OneShotHandler::new(
        SubstreamProtocol::new(ReadyUpgrade::new(MESHSUB_1_1), ()),
        OneShotHandlerConfig::default(),
    )
}

/// A peer that closes every stream we open costs a bounded number of new streams: after
/// five failures in a row (no frame written in between) we give up, count it and close the
/// connection.
#[tokio::test]
async fn a_peer_closing_every_stream_is_given_up_on() {
    init_tracing();
    let mut ours = Watched::new(fast_config().build().expect("valid config"), TIMEOUT);
    ours.swarm
        .behaviour_mut()
        .subscribe(&gossipsub::IdentTopic::new(TOPIC))
        .expect("subscribe");
    let key = Keypair::generate_ed25519();
    let closer_id = key.public().to_peer_id();
    let mut closer = common::memory_swarm(key, Closer { dropped: 0 });
    let addr = memory_addr();
    closer.listen_on(addr.clone()).expect("listen");
    ours.swarm.dial(addr).expect("dial");
    let closed = tokio::time::timeout(TIMEOUT, async {
        loop {
            tokio::select! {
                event = ours.swarm.select_next_some() => {
                    if let SwarmEvent::ConnectionClosed { peer_id, .. } = event
                        && peer_id == closer_id
                    {
                        return;
                    }
                }
                _ = closer.select_next_some() => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was never closed");
    let counters = *ours.swarm.behaviour().counters();
    assert_eq!(counters.outbound_streams_given_up, 1, "{counters:?}");
    // Five failures in a row are answered with a new stream; a frame written on one of them
    // (our subscription) restarts the count.
    assert!(counters.outbound_streams_reopened >= 5, "{counters:?}");
    assert_eq!(
        closer.behaviour().dropped as u64,
        counters.outbound_streams_reopened + 1
    );
}
