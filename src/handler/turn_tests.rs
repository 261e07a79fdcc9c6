//! How many inbound frames a handler hands to the behaviour in one turn of its connection task.
//!
//! Each inbound RPC becomes forwards queued to every mesh peer, and those are written by other
//! connection tasks. A handler that hands out many frames before its task yields lets a few
//! inbound connections fill the mesh peers' send queues faster than their tasks get a turn to
//! write them (measured in BENCHMARKS.md, "Overload"). The test counts, deterministically, the
//! longest run of inbound RPCs one handler returns from consecutive polls without returning
//! `Pending` (which is when its task yields to the executor).

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

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
    queue::{Class, QueueLimits},
    types::{Subscription, TopicHash},
};

/// A [`Handler`] that records the longest run of inbound RPCs it returned from polls in a row
/// with no `Pending` in between.
struct Counting {
    inner: Handler,
    run: usize,
    longest: Arc<AtomicUsize>,
}

impl ConnectionHandler for Counting {
    type FromBehaviour = HandlerIn;
    type ToBehaviour = HandlerOut;
    type InboundProtocol = Upgrade;
    type OutboundProtocol = Upgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Upgrade, ()> {
        self.inner.listen_protocol()
    }

    fn connection_keep_alive(&self) -> bool {
        self.inner.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Upgrade, (), HandlerOut>> {
        let polled = self.inner.poll(cx);
        match &polled {
            Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(HandlerOut(
                HandlerEvent::Rpc(_),
            ))) => {
                self.run += 1;
                self.longest.fetch_max(self.run, Ordering::Relaxed);
            }
            Poll::Pending => self.run = 0,
            Poll::Ready(_) => {}
        }
        polled
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<HandlerOut>> {
        self.inner.poll_close(cx)
    }

    fn on_behaviour_event(&mut self, event: HandlerIn) {
        self.inner.on_behaviour_event(event);
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<'_, Upgrade, Upgrade, (), ()>) {
        self.inner.on_connection_event(event);
    }
}

/// Creates [`Counting`] handlers around per-peer queues; reports the RPCs they receive.
struct Node {
    config: HandlerConfig,
    queues: HashMap<PeerId, PeerQueue>,
    longest: Arc<AtomicUsize>,
    received: VecDeque<Rpc>,
}

impl Node {
    fn queue(&mut self, peer: PeerId) -> PeerQueue {
        self.queues
            .entry(peer)
            .or_insert_with(|| {
                PeerQueue::new(QueueLimits {
                    items: 256,
                    bytes: 1 << 20,
                    merge_bytes: 0,
                    decode: DecodeLimits::UNLIMITED,
                })
            })
            .clone()
    }

    fn handler(&mut self, peer: PeerId, conn: ConnectionId) -> Counting {
        let queue = self.queue(peer);
        Counting {
            inner: Handler::new(self.config.clone(), queue, conn),
            run: 0,
            longest: self.longest.clone(),
        }
    }
}

impl NetworkBehaviour for Node {
    type ConnectionHandler = Counting;
    type ToSwarm = Rpc;

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
        if let HandlerEvent::Rpc(rpc) = event.0 {
            self.received.push_back(rpc.rpc);
        }
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Rpc, THandlerInEvent<Self>>> {
        match self.received.pop_front() {
            Some(rpc) => Poll::Ready(ToSwarm::GenerateEvent(rpc)),
            None => Poll::Pending,
        }
    }
}

fn node() -> Swarm<Node> {
    let config = HandlerConfig {
        protocols: crate::upgrade::default_protocols(false),
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
        .with_behaviour(|_| Node {
            config,
            queues: HashMap::new(),
            longest: Arc::new(AtomicUsize::new(0)),
            received: VecDeque::new(),
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(5)))
        .build()
}

fn subscribe(n: usize) -> Rpc {
    Rpc {
        subscriptions: vec![Subscription {
            options: Default::default(),
            subscribe: true,
            topic: TopicHash::from(format!("t{n}")),
        }],
        ..Rpc::default()
    }
}

/// A burst of frames that arrives at once (queued at the sender before the connection exists,
/// so its handler writes them all in its first turn) is handed to the behaviour one frame per
/// turn of the receiving connection task: between two inbound frames the task yields, so the
/// tasks that write the forwards those frames cause get their turn. All frames still arrive,
/// in order.
#[tokio::test]
async fn a_burst_of_inbound_frames_is_handed_out_one_per_turn() {
    const BURST: usize = 48;
    let mut sender = node();
    let mut receiver = node();
    let queue = sender.behaviour_mut().queue(*receiver.local_peer_id());
    for n in 0..BURST {
        queue
            .push(QueuedRpc {
                rpc: subscribe(n),
                class: Class::Control,
                expires: None,
                message_id: None,
            })
            .expect("room");
    }
    let addr: Multiaddr = format!("/memory/{}", rand::random::<u64>())
        .parse()
        .expect("addr");
    receiver.listen_on(addr.clone()).expect("listen");
    sender.dial(addr).expect("dial");
    let received = tokio::time::timeout(Duration::from_secs(10), async {
        let mut received = Vec::new();
        while received.len() < BURST {
            tokio::select! {
                _ = sender.select_next_some() => {}
                event = receiver.select_next_some() => {
                    if let SwarmEvent::Behaviour(rpc) = event {
                        received.push(rpc);
                    }
                }
            }
        }
        received
    })
    .await
    .expect("the burst arrives");
    assert_eq!(received, (0..BURST).map(subscribe).collect::<Vec<_>>());
    let longest = receiver.behaviour().longest.load(Ordering::Relaxed);
    assert_eq!(
        longest, 1,
        "inbound RPCs handed out in one turn of the connection task"
    );
}
