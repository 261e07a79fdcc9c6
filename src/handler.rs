//! The connection handler: one inbound and one outbound stream per connection.
//!
//! - The outbound stream is requested on the first poll (js-libp2p only opens its side after
//!   seeing ours). It writes whatever the peer's shared [`PeerQueue`] holds, popping only when
//!   the stream can take another frame, so nothing is popped while no stream is writable.
//! - The inbound stream is read and every decoded RPC, or every frame the codec dropped, is
//!   handed to the behaviour. A newer inbound stream replaces the older one.
//! - The protocol of the first negotiated stream is reported once as a [`PeerKind`]; when the
//!   remote supports none of our protocols, [`PeerKind::NotSupported`] is reported and the
//!   connection is no longer kept alive for us.
//!
//! Nothing the remote does makes the handler panic: stream errors drop the stream and are
//! logged with `tracing` (the handler does not know the peer id, so events carry the
//! connection id).

use std::{
    collections::VecDeque,
    convert::Infallible,
    task::{Context, Poll},
};

use asynchronous_codec::Framed;
use futures::{SinkExt, StreamExt};
use libp2p_swarm::{
    ConnectionHandler, ConnectionHandlerEvent, ConnectionId, Stream, StreamProtocol,
    StreamUpgradeError, SubstreamProtocol,
    handler::{
        ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
        ListenUpgradeError,
    },
};

use crate::{
    queue::PeerQueue,
    types::PeerKind,
    upgrade::{Upgrade, default_protocols},
    wire::{Codec, DecodeLimits, DecodedRpc, DropReason, Inbound},
};

/// How many times a failed outbound stream (failed negotiation other than "not supported", or
/// a write error) is requested again over the connection's lifetime before giving up.
const MAX_OUTBOUND_RETRIES: u8 = 3;

/// How many inbound frames are handed out in a row before the handler yields to the executor
/// (waking itself), so one chatty peer cannot monopolise the connection task.
const MAX_INBOUND_FRAMES_IN_A_ROW: usize = 64;

/// How many queued RPCs are written per poll before the handler yields (waking itself).
const MAX_SENDS_PER_POLL: usize = 64;

/// What the handler needs to know from the configuration.
#[derive(Clone, Debug)]
pub(crate) struct HandlerConfig {
    /// The protocols we speak, most preferred first, with the kind of peer each one means.
    pub(crate) protocols: Vec<(StreamProtocol, PeerKind)>,
    /// The largest frame we read or write.
    pub(crate) max_transmit_size: usize,
    /// The per-RPC limits applied while decoding inbound frames.
    pub(crate) decode_limits: DecodeLimits,
}

impl HandlerConfig {
    /// meshsub 1.2, 1.1 and 1.0, plus floodsub when `floodsub` is set.
    pub(crate) fn new(
        max_transmit_size: usize,
        floodsub: bool,
        decode_limits: DecodeLimits,
    ) -> Self {
        HandlerConfig {
            protocols: default_protocols(floodsub),
            max_transmit_size,
            decode_limits,
        }
    }
}

/// Events from the behaviour. None yet: everything to send goes through the per-peer queue.
#[derive(Debug)]
pub enum HandlerIn {}

/// An event from a connection to the behaviour (opaque outside the crate).
#[derive(Debug)]
pub struct HandlerOut(pub(crate) HandlerEvent);

/// Events to the behaviour.
#[derive(Debug)]
pub enum HandlerEvent {
    /// The protocol negotiated on the first stream of this connection (reported once), or
    /// [`PeerKind::NotSupported`] when the remote supports none of our protocols. Should an
    /// inbound stream still be negotiated after `NotSupported` was reported, its kind is
    /// reported as a correction.
    PeerKind(PeerKind),
    /// An RPC decoded from the inbound stream.
    Rpc(DecodedRpc),
    /// A frame the codec skipped (oversized or malformed).
    Dropped(DropReason),
}

/// The framed stream, in either direction.
type Framing = Framed<Stream, Codec>;

/// The state of our outbound stream.
enum Outbound {
    /// None open and none requested: request one on the next poll.
    Idle,
    /// Requested, waiting for the negotiation.
    Requested,
    /// Open and writable.
    Open(Box<Framing>),
    /// Given up: the remote supports none of our protocols, or too many failures.
    Closed,
}

/// The handler of one connection to a peer.
/// The gossipsub connection handler: one inbound and one outbound stream per connection.
pub struct Handler {
    upgrade: Upgrade,
    queue: PeerQueue,
    conn: ConnectionId,
    /// The kind last reported to the behaviour.
    kind: Option<PeerKind>,
    outbound: Outbound,
    /// Outbound streams requested again after a failure.
    outbound_retries: u8,
    inbound: Option<Box<Framing>>,
    /// Inbound frames handed out since the inbound stream last had nothing to read.
    inbound_in_a_row: usize,
    /// Events waiting to be returned from `poll`.
    events: VecDeque<HandlerEvent>,
}

impl Handler {
    /// A handler for connection `conn` that sends from the peer's shared `queue`.
    pub(crate) fn new(config: HandlerConfig, queue: PeerQueue, conn: ConnectionId) -> Self {
        Handler {
            upgrade: Upgrade::new(
                &config.protocols,
                config.max_transmit_size,
                config.decode_limits,
            ),
            queue,
            conn,
            kind: None,
            outbound: Outbound::Idle,
            outbound_retries: 0,
            inbound: None,
            inbound_in_a_row: 0,
            events: VecDeque::new(),
        }
    }

    /// Records a negotiated kind and reports it, unless a kind was already reported (a
    /// `NotSupported` is corrected by a real kind).
    fn negotiated(&mut self, kind: PeerKind) {
        match self.kind {
            None | Some(PeerKind::NotSupported) if kind != PeerKind::NotSupported => {
                self.kind = Some(kind);
                self.events.push_back(HandlerEvent::PeerKind(kind));
            }
            _ => {}
        }
    }

    /// Drops the outbound stream after `reason` and schedules a new request, or gives up
    /// after [`MAX_OUTBOUND_RETRIES`].
    fn outbound_failed(&mut self, reason: &dyn std::fmt::Display) {
        if self.outbound_retries < MAX_OUTBOUND_RETRIES {
            self.outbound_retries += 1;
            tracing::debug!(
                connection = ?self.conn,
                %reason,
                retry = self.outbound_retries,
                "gossipsub outbound stream failed; requesting a new one"
            );
            self.outbound = Outbound::Idle;
        } else {
            tracing::warn!(
                connection = ?self.conn,
                %reason,
                retries = self.outbound_retries,
                "gossipsub outbound stream failed too often; no longer sending on this connection"
            );
            self.outbound = Outbound::Closed;
        }
    }

    /// Writes queued RPCs while the stream takes them, then flushes.
    fn poll_write(&mut self, cx: &mut Context<'_>) {
        let Outbound::Open(stream) = &mut self.outbound else {
            return;
        };
        let mut result = Ok(());
        let mut sent = 0;
        while sent < MAX_SENDS_PER_POLL {
            match stream.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => {
                    result = Err(e);
                    break;
                }
                Poll::Pending => break,
            }
            let Poll::Ready(item) = self.queue.poll_pop(cx, self.conn) else {
                break;
            };
            if let Err(e) = stream.start_send_unpin(&item.rpc) {
                result = Err(e);
                break;
            }
            sent += 1;
        }
        if sent == MAX_SENDS_PER_POLL {
            // There may be more to send: come back after others had their turn.
            cx.waker().wake_by_ref();
        }
        if result.is_ok()
            && let Poll::Ready(Err(e)) = stream.poll_flush_unpin(cx)
        {
            result = Err(e);
        }
        if let Err(e) = result {
            self.outbound_failed(&format_args!("write error: {e}"));
        }
    }

    /// Reads the next inbound frame, if any.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Option<HandlerEvent> {
        let stream = self.inbound.as_mut()?;
        if self.inbound_in_a_row >= MAX_INBOUND_FRAMES_IN_A_ROW {
            self.inbound_in_a_row = 0;
            cx.waker().wake_by_ref();
            return None;
        }
        match stream.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(Inbound::Rpc(rpc)))) => {
                self.inbound_in_a_row += 1;
                Some(HandlerEvent::Rpc(rpc))
            }
            Poll::Ready(Some(Ok(Inbound::Dropped(reason)))) => {
                self.inbound_in_a_row += 1;
                tracing::debug!(
                    connection = ?self.conn,
                    %reason,
                    "gossipsub dropped an inbound frame"
                );
                Some(HandlerEvent::Dropped(reason))
            }
            Poll::Ready(Some(Err(error))) => {
                tracing::debug!(
                    connection = ?self.conn,
                    %error,
                    "gossipsub inbound stream failed; dropping it"
                );
                self.inbound = None;
                None
            }
            Poll::Ready(None) => {
                tracing::trace!(connection = ?self.conn, "gossipsub inbound stream closed by remote");
                self.inbound = None;
                None
            }
            Poll::Pending => {
                self.inbound_in_a_row = 0;
                None
            }
        }
    }

    fn on_dial_upgrade_error(&mut self, error: StreamUpgradeError<Infallible>) {
        if !matches!(self.outbound, Outbound::Requested) {
            return;
        }
        match error {
            StreamUpgradeError::NegotiationFailed => {
                tracing::debug!(
                    connection = ?self.conn,
                    "remote supports none of our gossipsub protocols"
                );
                self.outbound = Outbound::Closed;
                if self.kind.is_none() {
                    self.kind = Some(PeerKind::NotSupported);
                    self.events
                        .push_back(HandlerEvent::PeerKind(PeerKind::NotSupported));
                }
            }
            StreamUpgradeError::Timeout => {
                self.outbound_failed(&"outbound negotiation timed out");
            }
            StreamUpgradeError::Io(e) => {
                self.outbound_failed(&format_args!("outbound negotiation failed: {e}"));
            }
            StreamUpgradeError::Apply(never) => match never {},
        }
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        self.queue.remove_waker(self.conn);
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = HandlerIn;
    type ToBehaviour = HandlerOut;
    type InboundProtocol = Upgrade;
    type OutboundProtocol = Upgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Upgrade, ()> {
        SubstreamProtocol::new(self.upgrade.clone(), ())
    }

    fn connection_keep_alive(&self) -> bool {
        match self.kind {
            Some(PeerKind::NotSupported) => false,
            Some(_) => true,
            // Still negotiating, unless we gave up on the outbound stream.
            None => !matches!(self.outbound, Outbound::Closed),
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Upgrade, (), HandlerOut>> {
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(HandlerOut(event)));
        }

        self.poll_write(cx);
        if matches!(self.outbound, Outbound::Idle) {
            self.outbound = Outbound::Requested;
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(self.upgrade.clone(), ()),
            });
        }

        if let Some(event) = self.poll_read(cx) {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(HandlerOut(event)));
        }
        Poll::Pending
    }

    fn poll_close(&mut self, _: &mut Context<'_>) -> Poll<Option<HandlerOut>> {
        self.queue.remove_waker(self.conn);
        Poll::Ready(self.events.pop_front().map(HandlerOut))
    }

    fn on_behaviour_event(&mut self, event: HandlerIn) {
        match event {}
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<'_, Upgrade, Upgrade, (), ()>) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: (stream, kind),
                ..
            }) => {
                if self.inbound.is_some() {
                    tracing::debug!(
                        connection = ?self.conn,
                        "new gossipsub inbound stream replaces the previous one"
                    );
                }
                self.inbound = Some(Box::new(stream));
                self.inbound_in_a_row = 0;
                self.negotiated(kind);
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: (stream, kind),
                ..
            }) => {
                self.outbound = Outbound::Open(Box::new(stream));
                self.negotiated(kind);
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { error, .. }) => {
                self.on_dial_upgrade_error(error);
            }
            ConnectionEvent::ListenUpgradeError(ListenUpgradeError { error, .. }) => match error {},
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
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
                .or_insert_with(|| PeerQueue::new(16))
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

        fn poll(
            &mut self,
            _: &mut Context<'_>,
        ) -> Poll<ToSwarm<HandlerEvent, THandlerInEvent<Self>>> {
            match self.events.pop_front() {
                Some(event) => Poll::Ready(ToSwarm::GenerateEvent(event)),
                None => Poll::Pending,
            }
        }
    }

    fn swarm(kinds: &[PeerKind]) -> Swarm<TestBehaviour> {
        let protocols = default_protocols(true)
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
        assert_eq!(kinds, [PeerKind::Gossipsubv1_2; 2]);

        let queue = a.behaviour().queues[b.local_peer_id()].clone();
        let rpc = |n| Rpc {
            subscriptions: (0..n)
                .map(|_| Subscription {
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
    async fn prefers_older_version_when_remote_lacks_newer() {
        let mut a = swarm(&all());
        let mut b = swarm(&[PeerKind::Gossipsubv1_1, PeerKind::Gossipsub]);
        let kinds = run(connect(&mut a, &mut b)).await;
        assert_eq!(kinds, [PeerKind::Gossipsubv1_1; 2]);
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
}
