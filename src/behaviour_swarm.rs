//! [`Behaviour`] as a `NetworkBehaviour`: connection handlers and their shared queues,
//! connection lifecycle, our own addresses, and the timer.

use std::task::{Context, Poll};
use std::time::Duration;

use web_time::Instant;

use futures::FutureExt;
use libp2p_core::transport::PortUse;
use libp2p_core::{Endpoint, Multiaddr};
use libp2p_identity::PeerId;
use libp2p_swarm::{
    CloseConnection, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm, behaviour::ConnectionEstablished,
};

use crate::event::Event;
use crate::handler::{Handler, HandlerEvent, SendEvent};
use crate::queue::{Class, PeerQueue, QueueLimits};
use crate::wire::DropReason;

use super::Behaviour;

/// How many heartbeats a newly connected peer is kept alive for even when it shares nothing
/// with us: time for both sides to exchange subscriptions.
const KEEP_ALIVE_GRACE_HEARTBEATS: u32 = 10;

impl Behaviour {
    fn on_address_change(&mut self, event: &FromSwarm) {
        let changed = match event {
            FromSwarm::NewListenAddr(e) => add_addr(&mut self.listen_addrs, e.addr),
            FromSwarm::ExpiredListenAddr(e) => remove_addr(&mut self.listen_addrs, e.addr),
            FromSwarm::ExternalAddrConfirmed(e) => add_addr(&mut self.external_addrs, e.addr),
            FromSwarm::ExternalAddrExpired(e) => remove_addr(&mut self.external_addrs, e.addr),
            _ => false,
        };
        if changed {
            self.rebuild_local_record();
        }
    }

    fn new_handler(&mut self, peer: PeerId, connection_id: ConnectionId) -> Handler {
        let queue = self
            .queues
            .entry(peer)
            .or_insert_with(|| PeerQueue::new(QueueLimits::from_config(self.router.config())))
            .clone();
        Handler::new(self.handler_config.clone(), queue, connection_id)
    }

    fn on_connection_established(&mut self, event: ConnectionEstablished<'_>) {
        let conns = self.connections.entry(event.peer_id).or_default();
        conns.push(event.connection_id);
        if conns.len() == 1 {
            let now = Instant::now();
            self.router
                .add_peer(now, event.peer_id, event.endpoint.is_dialer());
            let grace = self
                .router
                .config()
                .heartbeat_interval()
                .checked_mul(KEEP_ALIVE_GRACE_HEARTBEATS)
                .and_then(|d| now.checked_add(d));
            if let Some(until) = grace {
                self.keep_alive_grace.insert(event.peer_id, until);
            }
            if let Some(queue) = self.queues.get(&event.peer_id) {
                queue.set_wanted(true);
            }
        }
        if let Some(ip) = ip_of(event.endpoint.get_remote_address()) {
            self.router.add_peer_ip(&event.peer_id, ip);
        }
        self.drain_router();
    }

    fn on_connection_closed(&mut self, event: ConnectionClosed<'_>) {
        let Some(conns) = self.connections.get_mut(&event.peer_id) else {
            return;
        };
        conns.retain(|c| *c != event.connection_id);
        let last = conns.is_empty();
        // The last connection's IP stays with the peer's score record: `remove_peer` drops it
        // with the record, or keeps it counted for P6 while the record is retained.
        if !last && let Some(ip) = ip_of(event.endpoint.get_remote_address()) {
            self.router.remove_peer_ip(&event.peer_id, &ip);
        }
        if last {
            self.connections.remove(&event.peer_id);
            self.queues.remove(&event.peer_id);
            if let Some(failed) = self.dropped.remove(&event.peer_id) {
                // Its last drops (e.g. the full control queue that got it disconnected) are
                // reported now: there is no later heartbeat for it.
                self.router
                    .report_send_failures(Instant::now(), event.peer_id, failed);
            }
            self.keep_alive_grace.remove(&event.peer_id);
            self.router.remove_peer(&event.peer_id);
            self.drain_router();
        }
    }

    /// Counts and logs what a handler reports about its outbound stream; closes a connection
    /// whose handler gave up.
    fn on_send_event(&mut self, peer: PeerId, connection: ConnectionId, event: SendEvent) {
        let counters = self.router.counters_mut();
        match event {
            SendEvent::StreamReopened { reason } => {
                counters.outbound_streams_reopened += 1;
                tracing::debug!(%peer, ?connection, %reason, "outbound stream reopened");
            }
            SendEvent::GaveUp { reason } => {
                counters.outbound_streams_given_up += 1;
                tracing::warn!(
                    %peer,
                    ?connection,
                    %reason,
                    "outbound stream failed too often; closing the connection"
                );
                self.events.push_back(ToSwarm::CloseConnection {
                    peer_id: peer,
                    connection: CloseConnection::One(connection),
                });
                if let Some(waker) = self.waker.take() {
                    waker.wake();
                }
            }
            SendEvent::FrameLimitLowered { limit } => {
                counters.peer_frame_limits_lowered += 1;
                tracing::info!(%peer, ?connection, limit, "frames to the peer capped");
            }
            SendEvent::Unencodable { reason } => {
                counters.rpcs_unencodable += 1;
                tracing::warn!(%peer, ?connection, %reason, "RPC could not be encoded; dropped");
            }
            SendEvent::RequeueShed {
                class,
                messages,
                gossip,
                control,
            } => {
                counters.send_queue_requeue_shed += (messages + gossip + control) as u64;
                tracing::debug!(%peer, ?connection, ?class, messages, gossip, control, "split RPC requeued; send queue over its bounds shed");
                // Dropped messages and control count like refused pushes: a slow peer,
                // disconnected when it misses control.
                for _ in 0..messages {
                    self.queue_full(peer, class);
                }
                if control > 0 {
                    self.queue_full(peer, Class::Control);
                }
            }
        }
    }

    /// A connection we made a handler for never became established: forget its queue if the
    /// peer has no other connection.
    fn forget_unused_queue(&mut self, peer: Option<PeerId>) {
        if let Some(peer) = peer
            && !self.connections.contains_key(&peer)
        {
            self.queues.remove(&peer);
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Event;

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.new_handler(peer, connection_id))
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.new_handler(peer, connection_id))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        _addresses: &[Multiaddr],
        _effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        Ok(maybe_peer
            .and_then(|peer| self.direct_addrs.get(&peer).cloned())
            .unwrap_or_default())
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.on_address_change(&event);
        match event {
            FromSwarm::ConnectionEstablished(e) => self.on_connection_established(e),
            FromSwarm::ConnectionClosed(e) => self.on_connection_closed(e),
            FromSwarm::DialFailure(e) => self.forget_unused_queue(e.peer_id),
            FromSwarm::ListenFailure(e) => self.forget_unused_queue(e.peer_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event.0 {
            HandlerEvent::Send(event) => {
                self.on_send_event(peer_id, connection_id, event);
                return;
            }
            HandlerEvent::PeerKind(kind) => self.router.set_peer_kind(peer_id, kind),
            HandlerEvent::InboundGaveUp { streams } => {
                self.router.counters_mut().inbound_streams_given_up += 1;
                tracing::warn!(
                    peer = %peer_id,
                    connection = ?connection_id,
                    streams,
                    "peer opened inbound streams without sending a frame; closing the connection"
                );
                self.events.push_back(ToSwarm::CloseConnection {
                    peer_id,
                    connection: CloseConnection::One(connection_id),
                });
                if let Some(waker) = self.waker.take() {
                    waker.wake();
                }
            }
            HandlerEvent::Rpc(decoded) => {
                if !decoded.drops.is_empty() {
                    self.router.counters_mut().add_decode_drops(&decoded.drops);
                    tracing::debug!(
                        peer = %peer_id,
                        drops = ?decoded.drops,
                        "entries over per-RPC limits skipped at decode"
                    );
                }
                self.router.report_decode_drops(
                    peer_id,
                    &decoded.malformed_messages,
                    decoded.unknown_control,
                );
                observe!(self, |m| m.on_receive(&decoded.rpc));
                self.router.handle_rpc(Instant::now(), peer_id, decoded.rpc);
            }
            HandlerEvent::Dropped(reason) => {
                let counters = self.router.counters_mut();
                match &reason {
                    DropReason::TooLarge { .. } => counters.rpcs_too_large += 1,
                    DropReason::Malformed(_) => counters.rpcs_malformed += 1,
                }
                tracing::debug!(peer = %peer_id, %reason, "RPC frame dropped");
            }
        }
        self.drain_router();
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(event);
        }
        self.waker = Some(cx.waker().clone());
        while self.timer.poll_unpin(cx).is_ready() {
            let now = Instant::now();
            self.on_heartbeat(now);
            let next = self.router.poll_timeout();
            self.timer.reset(
                next.saturating_duration_since(now)
                    .max(Duration::from_millis(1)),
            );
        }
        match self.events.pop_front() {
            Some(event) => Poll::Ready(event),
            None => Poll::Pending,
        }
    }
}

fn add_addr(addrs: &mut Vec<Multiaddr>, addr: &Multiaddr) -> bool {
    if addrs.contains(addr) {
        return false;
    }
    addrs.push(addr.clone());
    true
}

fn remove_addr(addrs: &mut Vec<Multiaddr>, addr: &Multiaddr) -> bool {
    let before = addrs.len();
    addrs.retain(|a| a != addr);
    addrs.len() != before
}

/// The IP address of a multiaddr's first `/ip4` or `/ip6` component.
fn ip_of(addr: &Multiaddr) -> Option<std::net::IpAddr> {
    addr.iter().find_map(|p| match p {
        libp2p_core::multiaddr::Protocol::Ip4(ip) => Some(ip.into()),
        libp2p_core::multiaddr::Protocol::Ip6(ip) => Some(ip.into()),
        _ => None,
    })
}
