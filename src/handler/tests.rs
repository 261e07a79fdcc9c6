//! Two real swarms over the in-memory transport, each with a minimal behaviour that only
//! creates handlers and records their events.

use std::{collections::HashMap, time::Duration};

use libp2p::{
    Multiaddr, PeerId, Swarm, SwarmBuilder,
    core::{Endpoint, transport::MemoryTransport, transport::PortUse, upgrade::Version},
    plaintext,
    swarm::{
        ConnectionDenied, FromSwarm, NetworkBehaviour, SwarmEvent, THandler, THandlerInEvent,
        THandlerOutEvent, ToSwarm,
    },
    yamux,
};
use libp2p_core::Transport;

use super::*;
use crate::{
    queue::{Class, QueuedRpc},
    types::{Rpc, Subscription, TopicHash},
};

struct TestBehaviour {
    config: HandlerConfig,
    queues: HashMap<PeerId, PeerQueue>,
    events: VecDeque<HandlerEvent>,
}

impl TestBehaviour {
    fn handler(&mut self, peer: PeerId, conn: ConnectionId) -> Handler {
        let queue = self
            .queues
            .entry(peer)
            .or_insert_with(|| {
                PeerQueue::new(crate::queue::QueueLimits {
                    items: 16,
                    bytes: 1 << 20,
                    merge_bytes: 0,
                    decode: crate::wire::DecodeLimits::UNLIMITED,
                })
            })
            .clone();
        Handler::new(self.config.clone(), queue, conn)
    }
}

impl NetworkBehaviour for TestBehaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = HandlerEvent;

    fn handle_established_inbound_connection(
        &mut self,
        conn: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer, conn))
    }

    fn handle_established_outbound_connection(
        &mut self,
        conn: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer, conn))
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.events.push_back(event.0);
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<HandlerEvent, THandlerInEvent<Self>>> {
        match self.events.pop_front() {
            Some(event) => Poll::Ready(ToSwarm::GenerateEvent(event)),
            None => Poll::Pending,
        }
    }
}

fn swarm(kinds: &[PeerKind]) -> Swarm<TestBehaviour> {
    let protocols = crate::upgrade::default_protocols(true)
        .into_iter()
        .filter(|(_, kind)| kinds.contains(kind))
        .collect();
    let config = HandlerConfig {
        protocols,
        max_transmit_size: 1 << 16,
        decode_limits: DecodeLimits::UNLIMITED,
    };
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| {
            MemoryTransport::default()
                .upgrade(Version::V1)
                .authenticate(plaintext::Config::new(key))
                .multiplex(yamux::Config::default())
        })
        .expect("transport")
        .with_behaviour(|_| TestBehaviour {
            config,
            queues: HashMap::new(),
            events: VecDeque::new(),
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_millis(300)))
        .build()
}

/// Connects `a` to `b` and returns the first `PeerKind` each side reports.
async fn connect(a: &mut Swarm<TestBehaviour>, b: &mut Swarm<TestBehaviour>) -> [PeerKind; 2] {
    let addr: Multiaddr = format!("/memory/{}", rand::random::<u64>())
        .parse()
        .expect("addr");
    b.listen_on(addr.clone()).expect("listen");
    a.dial(addr).expect("dial");
    let mut kinds = [None, None];
    while kinds.iter().any(Option::is_none) {
        let (side, event) = tokio::select! {
            e = a.select_next_some() => (0, e),
            e = b.select_next_some() => (1, e),
        };
        if let SwarmEvent::Behaviour(HandlerEvent::PeerKind(k)) = event {
            assert!(kinds[side].replace(k).is_none(), "kind reported twice");
        }
    }
    kinds.map(|k| k.expect("set"))
}

fn all() -> Vec<PeerKind> {
    vec![
        PeerKind::Gossipsubv1_3,
        PeerKind::Gossipsubv1_2,
        PeerKind::Gossipsubv1_1,
        PeerKind::Gossipsub,
        PeerKind::Floodsub,
    ]
}

async fn run<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("test timed out")
}

#[tokio::test]
async fn negotiates_best_common_protocol_and_delivers_queued_rpcs() {
    let mut a = swarm(&all());
    let mut b = swarm(&all());
    let kinds = run(connect(&mut a, &mut b)).await;
    // meshsub 1.3 is preferred when both speak it.
    assert_eq!(kinds, [PeerKind::Gossipsubv1_3; 2]);

    let queue = a.behaviour().queues[b.local_peer_id()].clone();
    let rpc = |n| Rpc {
        subscriptions: (0..n)
            .map(|_| Subscription {
                options: Default::default(),
                subscribe: true,
                topic: TopicHash::from("t"),
            })
            .collect(),
        ..Rpc::default()
    };
    for (n, class) in [(1, Class::Forward), (2, Class::Control)] {
        queue
            .push(QueuedRpc {
                rpc: rpc(n),
                class,
                expires: None,
                message_id: None,
            })
            .expect("room");
    }
    let mut received = Vec::new();
    run(async {
        while received.len() < 2 {
            tokio::select! {
                _ = a.select_next_some() => {}
                event = b.select_next_some() => {
                    if let SwarmEvent::Behaviour(HandlerEvent::Rpc(r)) = event {
                        received.push(r.rpc);
                    }
                }
            }
        }
    })
    .await;
    // Control was queued last but sent first.
    assert_eq!(received, vec![rpc(2), rpc(1)]);
    assert!(queue.is_empty());
}

#[tokio::test]
async fn a_meshsub_1_2_only_peer_negotiates_1_2_both_ways() {
    let older = [
        PeerKind::Gossipsubv1_2,
        PeerKind::Gossipsubv1_1,
        PeerKind::Gossipsub,
    ];
    let mut a = swarm(&all());
    let mut b = swarm(&older);
    let kinds = run(connect(&mut a, &mut b)).await;
    assert_eq!(kinds, [PeerKind::Gossipsubv1_2; 2]);
    let mut a = swarm(&older);
    let mut b = swarm(&all());
    let kinds = run(connect(&mut a, &mut b)).await;
    assert_eq!(kinds, [PeerKind::Gossipsubv1_2; 2]);
}

#[tokio::test]
async fn prefers_older_version_when_remote_lacks_newer() {
    let mut a = swarm(&all());
    let mut b = swarm(&[PeerKind::Gossipsubv1_1, PeerKind::Gossipsub]);
    let kinds = run(connect(&mut a, &mut b)).await;
    assert_eq!(kinds, [PeerKind::Gossipsubv1_1; 2]);
}

/// An RPC over the size limit, a subscription to a topic of 70,000 bytes.
fn oversized_rpc() -> Rpc {
    Rpc {
        subscriptions: vec![Subscription {
            options: Default::default(),
            subscribe: true,
            topic: TopicHash::from("x".repeat(70_000)),
        }],
        ..Rpc::default()
    }
}

fn queued(rpc: Rpc) -> QueuedRpc {
    QueuedRpc {
        rpc,
        class: Class::Control,
        expires: None,
        message_id: None,
    }
}

/// Runs both swarms until `b` received `want` RPCs; returns them.
async fn receive(
    a: &mut Swarm<TestBehaviour>,
    b: &mut Swarm<TestBehaviour>,
    want: usize,
) -> Vec<Rpc> {
    let mut received = Vec::new();
    run(async {
        while received.len() < want {
            tokio::select! {
                _ = a.select_next_some() => {}
                event = b.select_next_some() => {
                    if let SwarmEvent::Behaviour(HandlerEvent::Rpc(r)) = event {
                        received.push(r.rpc);
                    }
                }
            }
        }
    })
    .await;
    received
}

/// An RPC that cannot be encoded (over the limit) is dropped alone: the stream survives
/// any number of them and the RPCs queued after them are delivered.
#[tokio::test]
async fn unencodable_rpcs_never_cost_the_stream() {
    let mut a = swarm(&all());
    let mut b = swarm(&all());
    run(connect(&mut a, &mut b)).await;
    let queue = a.behaviour().queues[b.local_peer_id()].clone();
    let small = |n: usize| Rpc {
        subscriptions: vec![Subscription {
            options: Default::default(),
            subscribe: true,
            topic: TopicHash::from(format!("t{n}")),
        }],
        ..Rpc::default()
    };
    for round in 0..3 {
        for _ in 0..4 {
            queue.push(queued(oversized_rpc())).expect("room");
        }
        queue.push(queued(small(round))).expect("room");
        let received = receive(&mut a, &mut b, 1).await;
        assert_eq!(received, vec![small(round)], "round {round}");
    }
}

#[tokio::test]
async fn reports_not_supported_without_common_protocol() {
    let mut a = swarm(&[PeerKind::Gossipsubv1_2]);
    let mut b = swarm(&[PeerKind::Floodsub]);
    let kinds = run(connect(&mut a, &mut b)).await;
    assert_eq!(kinds, [PeerKind::NotSupported; 2]);
    // Neither handler keeps the connection alive any more: it idles out.
    run(async {
        loop {
            tokio::select! {
                e = a.select_next_some() => if matches!(e, SwarmEvent::ConnectionClosed { .. }) { break },
                _ = b.select_next_some() => {}
            }
        }
    })
    .await;
}

#[test]
fn varint_prefix_length_of_a_frame() {
    // (payload bytes, prefix bytes)
    for (payload, prefix) in [
        (0usize, 1usize),
        (127, 1),
        (128, 2),
        (16_383, 2),
        (16_384, 3),
        (65_536, 3),
    ] {
        assert_eq!(varint_len(payload + prefix), prefix, "payload {payload}");
    }
}

/// A queued RPC larger than the stream's limit but made of items that each fit (here a
/// control RPC queued before the peer's frame limit was learned) is split and sent, not
/// dropped: losing its subscriptions, GRAFTs or PRUNEs would leave the two sides disagreeing.
#[tokio::test]
async fn oversized_rpc_of_fitting_items_is_split_not_dropped() {
    let mut a = swarm(&all());
    let mut b = swarm(&all());
    run(connect(&mut a, &mut b)).await;
    let queue = a.behaviour().queues[b.local_peer_id()].clone();
    let sub = |name: String| Subscription {
        options: Default::default(),
        subscribe: true,
        topic: TopicHash::from(name),
    };
    let big: Vec<Subscription> = (0..3)
        .map(|i| sub(format!("{i}{}", "y".repeat(30_000))))
        .collect();
    queue
        .push(queued(Rpc {
            subscriptions: big.clone(),
            ..Rpc::default()
        }))
        .expect("room");
    let marker = sub("marker".to_owned());
    queue
        .push(queued(Rpc {
            subscriptions: vec![marker.clone()],
            ..Rpc::default()
        }))
        .expect("room");
    let mut got = Vec::new();
    run(async {
        while !got.contains(&marker) {
            tokio::select! {
                _ = a.select_next_some() => {}
                event = b.select_next_some() => {
                    if let SwarmEvent::Behaviour(HandlerEvent::Rpc(r)) = event {
                        got.extend(r.rpc.subscriptions);
                    }
                }
            }
        }
    })
    .await;
    let mut expected = big;
    expected.push(marker);
    // Compared by topic length and first byte: the topics are too long to print.
    let summary = |subs: &[Subscription]| -> Vec<(usize, Option<u8>)> {
        subs.iter()
            .map(|s| (s.topic.as_str().len(), s.topic.as_str().bytes().next()))
            .collect()
    };
    assert_eq!(summary(&got), summary(&expected));
    assert_eq!(got, expected, "same topics, in order");
}

/// A raw meshsub 1.1 peer: it accepts our outbound streams and, if `scribble`, writes one byte
/// on each (not a frame, only a protocol violation); it opens `to_open` streams to us, one
/// after the other, kept open and never written (each replaces the previous one at our side).
struct RawPeer {
    streams: Vec<(libp2p::swarm::Stream, bool)>,
    scribble: bool,
    peer: Option<PeerId>,
    to_open: usize,
}

impl RawPeer {
    fn new(scribble: bool, to_open: usize) -> Self {
        RawPeer {
            streams: Vec::new(),
            scribble,
            peer: None,
            to_open,
        }
    }
}

type ScribblerHandler = libp2p::swarm::handler::OneShotHandler<
    libp2p::core::upgrade::ReadyUpgrade<StreamProtocol>,
    libp2p::core::upgrade::ReadyUpgrade<StreamProtocol>,
    libp2p::swarm::Stream,
>;

fn scribbler_handler() -> ScribblerHandler {
    libp2p::swarm::handler::OneShotHandler::new(
        SubstreamProtocol::new(
            libp2p::core::upgrade::ReadyUpgrade::new(StreamProtocol::new("/meshsub/1.1.0")),
            (),
        ),
        Default::default(),
    )
}

impl NetworkBehaviour for RawPeer {
    type ConnectionHandler = ScribblerHandler;
    type ToSwarm = ();

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.peer = Some(peer);
        Ok(scribbler_handler())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.peer = Some(peer);
        Ok(scribbler_handler())
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        if let Ok(stream) = event {
            self.streams.push((stream, false));
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<(), THandlerInEvent<Self>>> {
        use futures::AsyncWrite;
        if let Some(peer) = self.peer
            && self.to_open > 0
        {
            self.to_open -= 1;
            return Poll::Ready(ToSwarm::NotifyHandler {
                peer_id: peer,
                handler: libp2p::swarm::NotifyHandler::Any,
                event: libp2p::core::upgrade::ReadyUpgrade::new(StreamProtocol::new(
                    "/meshsub/1.1.0",
                )),
            });
        }
        if self.scribble {
            for (stream, written) in &mut self.streams {
                if !*written
                    && let Poll::Ready(Ok(1)) = Pin::new(&mut *stream).poll_write(cx, &[0x05])
                {
                    *written = true;
                }
                let _ = Pin::new(&mut *stream).poll_flush(cx);
            }
        }
        Poll::Pending
    }
}

/// A swarm of `peer` on the memory transport, dialled by `ours`.
fn raw_peer_dialled_by(ours: &mut Swarm<TestBehaviour>, peer: RawPeer) -> Swarm<RawPeer> {
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| {
            MemoryTransport::default()
                .upgrade(Version::V1)
                .authenticate(plaintext::Config::new(key))
                .multiplex(yamux::Config::default())
        })
        .expect("transport")
        .with_behaviour(|_| peer)
        .expect("behaviour")
        .build();
    let addr: Multiaddr = format!("/memory/{}", rand::random::<u64>())
        .parse()
        .expect("addr");
    swarm.listen_on(addr.clone()).expect("listen");
    ours.dial(addr).expect("dial");
    swarm
}

/// Data on our outbound stream means the remote does not read it as gossipsub (it closed or
/// misuses its side): the stream is replaced even when the data is not a whole frame.
#[tokio::test]
async fn a_byte_written_on_our_outbound_stream_replaces_it() {
    let mut ours = swarm(&all());
    let mut scribbler = raw_peer_dialled_by(&mut ours, RawPeer::new(true, 0));
    let reason = run(async {
        loop {
            tokio::select! {
                event = ours.select_next_some() => {
                    if let SwarmEvent::Behaviour(HandlerEvent::Send(SendEvent::StreamReopened { reason })) = event {
                        return reason;
                    }
                }
                _ = scribbler.select_next_some() => {}
            }
        }
    })
    .await;
    assert_eq!(reason, "remote wrote on our outbound stream");
}

/// A peer that keeps opening inbound streams without ever sending a frame on them is given up
/// on after [`MAX_INBOUND_STREAMS_WITHOUT_FRAME`] streams, as our outbound side gives up after
/// failures in a row: it costs a protocol negotiation each time and carries nothing.
#[tokio::test]
async fn inbound_streams_without_frames_are_bounded() {
    let mut ours = swarm(&all());
    let mut reopener = raw_peer_dialled_by(&mut ours, RawPeer::new(false, 50));
    let streams = run(async {
        loop {
            tokio::select! {
                event = ours.select_next_some() => {
                    if let SwarmEvent::Behaviour(HandlerEvent::InboundGaveUp { streams }) = event {
                        return streams;
                    }
                }
                _ = reopener.select_next_some() => {}
            }
        }
    })
    .await;
    assert_eq!(streams, MAX_INBOUND_STREAMS_WITHOUT_FRAME + 1);
}
