//! Driving the router from [`Behaviour`]: router actions become per-peer queue pushes and
//! swarm events, and the heartbeat purges the queues, reports what they dropped and refreshes
//! the keep-alive flags.

use web_time::Instant;

use libp2p_identity::PeerId;
use libp2p_swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p_swarm::{CloseConnection, ToSwarm};

use crate::config::Config;
use crate::queue::{Class, QueuedRpc};
use crate::router::{Action, SendClass};
use crate::wire;

use super::Behaviour;

impl Behaviour {
    /// Moves router actions to queues and events; returns how many RPCs of our own publishes
    /// were queued (control RPCs sent with them, such as IDONTWANT, are not counted).
    pub(super) fn drain_router(&mut self) -> usize {
        let now = Instant::now();
        let mut queued = 0;
        while let Some(action) = self.router.poll_action() {
            match action {
                Action::Send {
                    peer,
                    rpc,
                    class,
                    message_id,
                } => {
                    let Some(queue) = self.queues.get(&peer) else {
                        continue;
                    };
                    observe!(self, |m| m.on_send(&rpc));
                    let config = self.router.config();
                    let (class, expires) = match class {
                        SendClass::Control => (Class::Control, control_gossip_expiry(config, now)),
                        SendClass::Publish => (
                            Class::Publish,
                            now.checked_add(config.publish_queue_duration()),
                        ),
                        SendClass::Forward => (
                            Class::Forward,
                            now.checked_add(config.forward_queue_duration()),
                        ),
                    };
                    // Every queued RPC fits the peer's limit (ours, or the lower one learned
                    // for this peer): split what does not.
                    let limit = config.max_transmit_size().min(queue.frame_limit());
                    let publish_size = (class == Class::Publish).then(|| wire::rpc_len(&rpc));
                    let pieces = wire::fragment_for_peer(rpc, config, queue.frame_limit());
                    if let Some(size) = publish_size.filter(|_| pieces.dropped_messages > 0) {
                        let max = self.refused_publish.map_or(limit, |(_, m)| m.min(limit));
                        self.refused_publish = Some((size, max));
                    }
                    if pieces.dropped_messages > 0 || pieces.dropped_control > 0 {
                        let counters = self.router.counters_mut();
                        counters.messages_too_large_to_send += pieces.dropped_messages as u64;
                        counters.control_too_large_to_send += pieces.dropped_control as u64;
                        tracing::warn!(
                            %peer,
                            messages = pieces.dropped_messages,
                            control = pieces.dropped_control,
                            "items larger than max_transmit_size on their own not sent"
                        );
                    }
                    let mut refused = 0;
                    let mut taken = 0;
                    for rpc in pieces.rpcs {
                        let item = QueuedRpc {
                            rpc,
                            class,
                            expires,
                            message_id: message_id.clone(),
                        };
                        // A full forward class drops its stalest forwards for the new one.
                        match queue.push_evicting_stalest(item) {
                            Ok(evicted) => {
                                queued += usize::from(class == Class::Publish);
                                taken += 1;
                                refused += evicted;
                            }
                            Err(_) => refused += 1,
                        }
                    }
                    if refused > 0 && class == Class::Publish {
                        self.publish_queues_full += 1;
                    }
                    if class == Class::Publish
                        && let (Some(track), Some(id)) = (self.batch_queued.as_mut(), &message_id)
                    {
                        let entry = track.entry(id.clone()).or_default();
                        entry.0 += taken;
                        entry.1 += usize::from(taken == 0);
                    }
                    for _ in 0..refused {
                        self.queue_full(peer, class);
                    }
                }
                Action::CancelForward { peer, message_id } => {
                    if let Some(queue) = self.queues.get(&peer) {
                        queue.cancel_forward(&message_id);
                    }
                }
                Action::Event(event) => {
                    observe!(self, |m| m.on_event(&event));
                    self.events.push_back(ToSwarm::GenerateEvent(event));
                }
                Action::Disconnect { peer } => {
                    tracing::debug!(%peer, "disconnecting a peer graylisted for invalid messages");
                    self.events.push_back(ToSwarm::CloseConnection {
                        peer_id: peer,
                        connection: CloseConnection::All,
                    });
                }
                Action::Dial { peer, addresses } => {
                    observe!(self, |m| m.on_dial());
                    tracing::debug!(%peer, ?addresses, "dialling");
                    self.events.push_back(ToSwarm::Dial {
                        // Our own addresses for direct peers come from
                        // `handle_pending_outbound_connection`, other behaviours' too.
                        opts: DialOpts::peer_id(peer)
                            .addresses(addresses)
                            .extend_addresses_through_behaviour()
                            .condition(PeerCondition::DisconnectedAndNotDialing)
                            .build(),
                    });
                }
            }
        }
        if !self.events.is_empty()
            && let Some(waker) = self.waker.take()
        {
            waker.wake();
        }
        queued
    }

    /// `peer`'s queue refused an RPC of `class`: count it for the next slow-peer report, and
    /// disconnect the peer if it was control.
    pub(super) fn queue_full(&mut self, peer: PeerId, class: Class) {
        self.router.counters_mut().send_queue_full += 1;
        let failed = self.dropped.entry(peer).or_default();
        match class {
            Class::Publish => failed.publish += 1,
            Class::Forward => failed.forward += 1,
            Class::Control => failed.control += 1,
        }
        if class != Class::Control {
            tracing::debug!(%peer, ?class, "send queue full; RPC dropped");
            return;
        }
        // Stop queueing for it: RPCs to a peer without a queue are skipped until its
        // connections are gone. Several refused pieces of one RPC disconnect it once.
        if self.queues.remove(&peer).is_none() {
            return;
        }
        self.router.counters_mut().slow_peers_disconnected += 1;
        tracing::warn!(%peer, "control send queue full; disconnecting the peer");
        self.events.push_back(ToSwarm::CloseConnection {
            peer_id: peer,
            connection: CloseConnection::All,
        });
    }

    /// Drops what expired in the queues, reports every peer that had drops since the last
    /// heartbeat to the router, and refreshes the keep-alive flags.
    pub(super) fn on_heartbeat(&mut self, now: Instant) {
        self.router.handle_timeout(now);
        observe!(self, |m| m.on_heartbeat_duration(now.elapsed()));
        for (peer, queue) in &self.queues {
            let purged = queue.purge_expired(now);
            if purged.gossip > 0 {
                self.router.counters_mut().send_queue_gossip_expired += purged.gossip as u64;
                tracing::debug!(%peer, entries = purged.gossip, "stale queued IHAVE dropped");
            }
            if purged.messages > 0 {
                self.router.counters_mut().send_queue_expired += purged.messages as u64;
                self.dropped.entry(*peer).or_default().timeout += purged.messages;
                tracing::debug!(%peer, rpcs = purged.messages, "queued RPCs expired; dropped");
            }
        }
        for (peer, failed) in std::mem::take(&mut self.dropped) {
            self.router.report_send_failures(now, peer, failed);
        }
        self.update_keep_alive(now);
        self.drain_router();
        observe!(self, |m| m.on_heartbeat(&self.router, self.queues.values()));
    }

    /// Sets every queue's keep-alive flag from the router's view of its peer (a queue whose
    /// connection is still being set up is wanted again when it is established).
    pub(super) fn update_keep_alive(&mut self, now: Instant) {
        self.keep_alive_grace.retain(|_, until| *until > now);
        for (peer, queue) in &self.queues {
            queue.set_wanted(
                self.keep_alive_grace.contains_key(peer) || self.router.wants_connection(peer),
            );
        }
    }
}

/// When the gossip (IHAVE) in a control RPC queued at `now` goes stale: the advertised ids
/// stay in our message cache for `history_length` heartbeats and the newest of them was
/// cached up to `history_gossip` heartbeats before, so after `history_length - history_gossip`
/// heartbeats (at least one) an IWANT for them may no longer be served. `None` (never) if the
/// instant does not fit.
fn control_gossip_expiry(config: &Config, now: Instant) -> Option<Instant> {
    let beats = config
        .history_length()
        .saturating_sub(config.history_gossip())
        .max(1);
    let beats = u32::try_from(beats).unwrap_or(u32::MAX);
    config
        .heartbeat_interval()
        .checked_mul(beats)
        .and_then(|d| now.checked_add(d))
}
