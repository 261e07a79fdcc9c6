//! Connected peers: their protocol, subscriptions and per-heartbeat budgets; the RPC entry
//! point and subscription handling.

use web_time::Instant;

use libp2p_identity::PeerId;

use super::prehashed::HashedPeer;
use super::shrink::ShrinkIfSparse;
use super::unwanted::PeerSlot;
use super::{MeshChurn, Router, Set};
use crate::event::Event;
use crate::types::{Extensions, MessageId, PeerKind, Rpc, Subscription, TopicHash};

/// What the router knows about one connected peer.
///
/// `repr(C)` with the fields every RPC from the peer reads first (protocol, graylisting, its
/// unwanted-id slot and allowance, its byte budget) in the first cache line, then the other
/// per-heartbeat budgets that the heartbeat resets: they follow the peer's key (its id and
/// hash, [`HashedPeer`]) in the router's peer table, which is cold when an RPC or the
/// heartbeat arrives.
#[repr(C)]
pub(crate) struct PeerState {
    /// The negotiated protocol; `None` until the first stream is negotiated.
    pub(crate) kind: Option<PeerKind>,
    /// Graylisted for invalid messages: its RPCs are ignored until it disconnects.
    pub(crate) graylisted: bool,
    /// Whether our first connection to it was outbound (counts toward D_out).
    pub(crate) outbound: bool,
    /// Its index in the router's store of unwanted ids ([`super::unwanted::Unwanted`]).
    pub(crate) slot: PeerSlot,
    /// Data bytes of new messages taken from it this heartbeat.
    pub(crate) message_bytes: usize,
    /// RPCs carrying IHAVE received this heartbeat (go's and the spec's "IHAVE messages").
    pub(crate) ihave_received: usize,
    /// Message ids requested from it by IWANT this heartbeat.
    pub(crate) iwant_asked: usize,
    /// IHAVE ids looked at this heartbeat (seen-cache lookups).
    pub(crate) ihave_examined: usize,
    /// Peer-exchange entries taken from it this heartbeat.
    pub(crate) px_taken: usize,
    /// Message signatures verified for it this heartbeat.
    pub(crate) signature_checks: usize,
    /// Invalid messages it sent, halved every heartbeat.
    pub(crate) invalid_signatures: u32,
    /// When we last sent it a PRUNE, per topic (at most our topics; entries older than a
    /// heartbeat interval are dropped at the heartbeat): a refused GRAFT gets no second PRUNE
    /// within one heartbeat interval.
    pub(crate) prunes_sent: super::Map<TopicHash, Instant>,
    /// Topics it is subscribed to.
    pub(crate) topics: Set<TopicHash>,
    /// Total length of the names in `topics`.
    pub(crate) topic_bytes: usize,
    /// Its score at the previous heartbeat, to detect threshold crossings.
    pub(crate) last_score: f64,
    /// The Extensions control message it sent us (meshsub 1.3), once received.
    pub(crate) extensions: Option<Extensions>,
}

/// The most departed peers whose spent budgets are kept until the next heartbeat; beyond it
/// a departing peer's are forgotten (each entry needed a connection this heartbeat).
const MAX_DEPARTED_BUDGETS: usize = 10_000;

/// What a peer spent of its per-heartbeat budgets, kept when it disconnects until the next
/// heartbeat: reconnecting within the heartbeat does not refill them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SpentBudgets {
    ihave_received: usize,
    iwant_asked: usize,
    ihave_examined: usize,
    idontwant_received: usize,
    px_taken: usize,
    signature_checks: usize,
    message_bytes: usize,
    invalid_signatures: u32,
}

impl SpentBudgets {
    /// What `state`'s peer spent; its IDONTWANT allowance is counted by the store of unwanted
    /// ids (`idontwant_received`).
    fn of(state: &PeerState, idontwant_received: usize) -> Self {
        SpentBudgets {
            ihave_received: state.ihave_received,
            iwant_asked: state.iwant_asked,
            ihave_examined: state.ihave_examined,
            idontwant_received,
            px_taken: state.px_taken,
            signature_checks: state.signature_checks,
            message_bytes: state.message_bytes,
            invalid_signatures: state.invalid_signatures,
        }
    }
}

impl Router {
    /// A peer connected (its first connection). `outbound` is whether we dialled it. Our
    /// subscriptions are announced to it at once; a peer that reconnects learns them again.
    pub fn add_peer(&mut self, now: Instant, peer: PeerId, outbound: bool) {
        self.touch(now);
        let key = self.hashed(peer);
        if self.peers.contains_key(&key) {
            return;
        }
        let Some(slot) = self.unwanted.alloc_slot() else {
            tracing::warn!(%peer, "u32::MAX peers connected; peer not added");
            return;
        };
        if let Some(s) = self.scoring.as_mut() {
            s.score.add_peer(peer, now);
        }
        self.backoff.peer_returned(&peer);
        tracing::debug!(%peer, outbound, "peer added");
        self.px_dials.connected(&peer);
        self.peers.insert(
            key,
            PeerState {
                kind: None,
                outbound,
                topics: self.new_set(),
                topic_bytes: 0,
                ihave_received: 0,
                iwant_asked: 0,
                ihave_examined: 0,
                px_taken: 0,
                signature_checks: 0,
                message_bytes: 0,
                invalid_signatures: 0,
                graylisted: false,
                slot,
                last_score: 0.0,
                prunes_sent: super::Map::with_hasher(self.hasher.clone()),
                extensions: None,
            },
        );
        if let Some(spent) = self.departed_budgets.remove(&peer)
            && let Some(state) = self.peers.get_mut(&key)
        {
            tracing::debug!(%peer, ?spent, "peer reconnected within the heartbeat: its spent budgets carry over");
            state.ihave_received = spent.ihave_received;
            state.iwant_asked = spent.iwant_asked;
            state.ihave_examined = spent.ihave_examined;
            self.unwanted
                .set_spent(state.slot, spent.idontwant_received);
            state.px_taken = spent.px_taken;
            state.signature_checks = spent.signature_checks;
            state.message_bytes = spent.message_bytes;
            state.invalid_signatures = spent.invalid_signatures;
        }
    }

    /// The first RPC to a peer whose protocol just became known: the Extensions control
    /// message if it speaks meshsub 1.3, and our subscriptions. Nothing is sent to a peer
    /// before its protocol is known, so this is the first RPC its queue (and so its first
    /// stream) carries.
    fn greet(&mut self, peer: HashedPeer, kind: PeerKind) {
        let extensions = kind.supports_extensions().then_some(Extensions {
            partial_messages: self.announces_partial_messages(),
            test_extension: self.config.test_extension(),
        });
        let subscriptions = self
            .mesh
            .keys()
            .map(|topic| Subscription {
                options: self.local_subscription_options(topic),
                subscribe: true,
                topic: topic.clone(),
            })
            .collect::<Vec<_>>();
        let rpc = self.control_rpc(peer);
        rpc.extensions = extensions;
        rpc.subscriptions.extend(subscriptions);
        self.flush_control();
    }

    /// Records the protocol negotiated with `peer`. The first known protocol wins; a peer that
    /// supports none is reported once with [`Event::GossipsubNotSupported`] and then ignored.
    pub fn set_peer_kind(&mut self, peer: PeerId, kind: PeerKind) {
        let key = self.hashed(peer);
        let Some(state) = self.peers.get_mut(&key) else {
            return;
        };
        match (state.kind, kind) {
            (None, PeerKind::NotSupported) => {
                state.kind = Some(kind);
                tracing::debug!(%peer, "peer does not support gossipsub");
                self.pending_control.remove(&key);
                self.emit(Event::GossipsubNotSupported { peer_id: peer });
            }
            (None, _) | (Some(PeerKind::NotSupported), _) if kind != PeerKind::NotSupported => {
                tracing::debug!(%peer, %kind, "peer protocol");
                state.kind = Some(kind);
                self.greet(key, kind);
            }
            _ => {}
        }
    }

    /// The last connection to `peer` closed: it leaves every mesh, fanout and topic.
    /// Backoffs are kept (within `max_retained_backoffs`), so reconnecting does not reset
    /// them. IWANT promises it had not kept are broken now (it can no longer deliver) and
    /// penalised before its score record is retained.
    pub fn remove_peer(&mut self, peer: &PeerId) {
        let key = self.hashed(*peer);
        let Some(state) = self.peers.remove(&key) else {
            return;
        };
        let spent = SpentBudgets::of(&state, self.unwanted.spent(state.slot));
        // Its records go at the next heartbeat, and its slot with them.
        self.unwanted.peer_left(state.slot);
        if spent != SpentBudgets::default() {
            if self.departed_budgets.len() < MAX_DEPARTED_BUDGETS {
                self.departed_budgets.insert(*peer, spent);
            } else {
                self.counters.departed_budgets_dropped += 1;
                tracing::debug!(%peer, "too many peers left this heartbeat; its spent budgets are not kept");
            }
        }
        let broken = self.promises.remove_peer(peer);
        if broken > 0 {
            self.counters.broken_promises += broken as u64;
            tracing::debug!(%peer, count = broken, "IWANT promises broken by disconnecting");
            self.behaviour_penalty(peer, broken);
        }
        let evicted = self
            .backoff
            .peer_departed(peer, self.config.max_retained_backoffs());
        if evicted > 0 {
            self.counters.backoffs_evicted += evicted as u64;
            tracing::debug!(%peer, evicted, "max_retained_backoffs reached; oldest departed peers' backoffs forgotten");
        }
        if let Some(s) = self.scoring.as_mut() {
            // Scoring ends the peer's mesh membership itself (P3b) and retains its record.
            s.score.remove_peer(peer, self.now);
        }
        tracing::debug!(%peer, "peer removed");
        for topic in state.topics.iter() {
            if let Some(set) = self.topic_peers.get_mut(topic) {
                set.remove(&key);
                if set.is_empty() {
                    self.topic_peers.remove(topic);
                }
            }
        }
        for (topic, set) in self.mesh.iter_mut() {
            if set.remove(&key)
                && let Some(stats) = self.mesh_stats.get_mut(topic)
            {
                stats.remove(MeshChurn::Disconnected);
            }
        }
        for set in self.fanout.values_mut() {
            set.remove(&key);
        }
        self.pending_control.remove(&key);
        self.partial_peer_removed(peer);
    }

    /// Handles an RPC received from `from`. Subscriptions are taken even from a graylisted
    /// peer (as go and libp2p-gossipsub do: our view of who is subscribed stays right); its
    /// messages and control are ignored. Direct peers are never graylisted.
    pub fn handle_rpc(&mut self, now: Instant, from: PeerId, rpc: Rpc) {
        self.touch(now);
        // The sender is hashed once; everything below looks it up by this key.
        let from = self.hashed(from);
        // One lookup of the sender's state for the checks below (its entry is cold when an
        // RPC arrives); `graylisted` can only change while its messages are handled.
        let Some(state) = self.peers.get(&from) else {
            tracing::debug!(peer = %from, "rpc from unknown peer ignored");
            return;
        };
        let (kind, graylisted, slot) = (state.kind, state.graylisted, state.slot);
        if self.blacklist.contains(&from) {
            self.counters.rpcs_from_blacklisted += 1;
            tracing::debug!(peer = %from, "rpc from a blacklisted peer dropped");
            return;
        }
        if kind == Some(PeerKind::NotSupported) {
            self.counters.rpcs_from_unsupported_peer += 1;
            tracing::debug!(peer = %from, "rpc from a peer without gossipsub ignored");
            return;
        }
        let Rpc {
            subscriptions,
            messages,
            control,
            extensions,
            test_extension,
            partial,
        } = rpc;
        if let Some(extensions) = extensions {
            self.handle_extensions(from, extensions);
        }
        if test_extension {
            self.counters.test_extensions_received += 1;
            tracing::debug!(peer = %from, "TestExtension received");
        }
        if !subscriptions.is_empty() {
            self.handle_subscriptions(from, subscriptions);
        }
        // Handling subscriptions changes no peer's graylisting, and leaves `from` connected
        // (a peer is removed only by `remove_peer`).
        if graylisted {
            self.counters.rpcs_graylisted += 1;
            tracing::debug!(peer = %from, "rpc from a peer graylisted for invalid messages ignored (subscriptions kept)");
            return;
        }
        if !self.direct_peers.contains(&from) && self.below_graylist_threshold(&from) {
            self.counters.rpcs_graylisted += 1;
            tracing::debug!(peer = %from, "rpc from a graylisted peer ignored (subscriptions kept)");
            return;
        }
        // Only invalid messages graylist a peer: without messages it stays as checked above.
        let had_messages = !messages.is_empty();
        if had_messages {
            self.handle_messages(now, from, slot, messages);
        }
        // Forwarded messages come without control: no second look at the sender for them.
        if !control.is_empty() && (!had_messages || !self.is_graylisted(&from)) {
            self.handle_control(now, from, slot, kind, control);
        }
        if let Some(partial) = partial
            && !self.is_graylisted(&from)
        {
            self.handle_partial(*from.id(), *partial);
        }
        self.flush_control();
    }

    /// Takes the Extensions control message of `from` (meshsub 1.3). A second one is a
    /// protocol violation: penalised (P7) and ignored. When both sides announce the test
    /// extension on meshsub 1.3, we send it one `TestExtension` RPC.
    ///
    /// It is taken from a peer on an older protocol too (libp2p-gossipsub 0.50 queues its
    /// Extensions before the protocol is negotiated, so its 1.0 - 1.2 peers get it), but such
    /// a peer is never answered with anything of meshsub 1.3.
    fn handle_extensions(&mut self, from: HashedPeer, extensions: Extensions) {
        let Some(state) = self.peers.get_mut(&from) else {
            return;
        };
        if state.extensions.is_some() {
            self.counters.extensions_duplicate += 1;
            tracing::debug!(peer = %from, "second Extensions control message: protocol violation, penalised and ignored");
            self.behaviour_penalty(&from, 1);
            return;
        }
        state.extensions = Some(extensions);
        let on_1_3 = state.kind.is_some_and(PeerKind::supports_extensions);
        if on_1_3 && extensions.test_extension && self.config.test_extension() {
            self.control_rpc(from).test_extension = true;
        }
    }

    /// Counts what the decoder dropped from an RPC of `from`: `malformed` messages (bad
    /// `from`, `seqno` or topic) and `unknown_control` control messages of an unknown kind.
    pub fn report_decode_drops(
        &mut self,
        from: PeerId,
        malformed: &[(TopicHash, crate::ValidationError)],
        unknown_control: usize,
    ) {
        if !malformed.is_empty() {
            self.counters.messages_malformed += malformed.len() as u64;
            tracing::debug!(peer = %from, count = malformed.len(), "malformed messages dropped");
            for (topic, _) in malformed {
                // An invalid message costs P4 in its topic; it has no trustworthy id.
                self.score_rejected(
                    &from,
                    &MessageId::new(Vec::new()),
                    topic,
                    crate::score::RejectReason::InvalidSignature,
                );
            }
        }
        if unknown_control > 0 {
            self.counters.control_unknown += unknown_control as u64;
            tracing::debug!(peer = %from, count = unknown_control, "unknown control messages ignored");
        }
    }

    fn handle_subscriptions(&mut self, from: HashedPeer, subscriptions: Vec<Subscription>) {
        let max_per_rpc = self.config.max_subscriptions_per_rpc().min(
            self.filter
                .max_subscriptions_per_rpc()
                .unwrap_or(usize::MAX),
        );
        if subscriptions.len() > max_per_rpc {
            let excess = subscriptions.len() - max_per_rpc;
            self.counters.subscriptions_ignored += excess as u64;
            tracing::debug!(peer = %from, excess, "subscriptions over the per-RPC cap ignored");
        }
        for sub in subscriptions.into_iter().take(max_per_rpc) {
            if !self.peers.contains_key(&from) {
                return;
            }
            if sub.subscribe {
                // Partial options are kept only for topics the peer is subscribed to (bounded
                // by `max_topics_per_peer`).
                if self.add_peer_topic(from, &sub.topic) {
                    self.partial_subscription(*from.id(), &sub);
                }
            } else {
                self.partial_subscription(*from.id(), &sub);
                let Some(state) = self.peers.get_mut(&from) else {
                    return;
                };
                if !state.topics.remove(&sub.topic) {
                    continue;
                }
                state.topic_bytes -= sub.topic.as_str().len();
                if let Some(set) = self.topic_peers.get_mut(&sub.topic) {
                    set.remove(&from);
                    if set.is_empty() {
                        self.topic_peers.remove(&sub.topic);
                    }
                }
                self.mesh_remove(&sub.topic, &from, MeshChurn::PeerUnsubscribed);
                if let Some(fanout) = self.fanout.get_mut(&sub.topic) {
                    fanout.remove(&from);
                }
                self.emit(Event::Unsubscribed {
                    peer_id: *from.id(),
                    topic: sub.topic,
                });
            }
        }
    }

    /// Records that `from` is subscribed to `topic` (an announced SUBSCRIBE, or a GRAFT) if the
    /// subscription filter and `max_topics_per_peer` allow it, reporting it to the application.
    /// Returns whether the peer is subscribed afterwards.
    pub(super) fn add_peer_topic(&mut self, from: HashedPeer, topic: &TopicHash) -> bool {
        let max_topics = self
            .config
            .max_topics_per_peer()
            .min(self.filter.max_topics_per_peer().unwrap_or(usize::MAX));
        let max_topic_len = self.config.max_topic_len();
        let Some(state) = self.peers.get_mut(&from) else {
            return false;
        };
        // Checked before any lookup: a long name is not even hashed.
        if topic.as_str().len() > max_topic_len {
            self.counters.subscriptions_topic_too_long += 1;
            tracing::debug!(peer = %from, len = topic.as_str().len(), max_topic_len, "subscription to a topic over max_topic_len ignored");
            return false;
        }
        if state.topics.contains(topic) {
            return true;
        }
        if !self.filter.allow(topic) {
            self.counters.subscriptions_ignored += 1;
            tracing::debug!(peer = %from, %topic, "subscription refused by the filter");
            return false;
        }
        if state.topics.len() >= max_topics {
            self.counters.subscriptions_ignored += 1;
            tracing::debug!(peer = %from, %topic, "max_topics_per_peer reached; subscription ignored");
            return false;
        }
        state.topic_bytes += topic.as_str().len();
        state.topics.insert(topic.clone());
        self.topic_peers
            .entry(topic.clone())
            .or_default()
            .insert(from);
        self.emit(Event::Subscribed {
            peer_id: *from.id(),
            topic: topic.clone(),
        });
        true
    }

    /// Resets per-heartbeat budgets and forgets IDONTWANT ids older than the message cache
    /// (and those of peers that left).
    pub(super) fn refresh_peer_budgets(&mut self, now: Instant) {
        let horizon = self.config.history_length() as u64;
        self.unwanted.expire(self.heartbeat_ticks, horizon);
        self.unwanted.refill_allowances();
        let interval = self.config.heartbeat_interval();
        self.departed_budgets.clear();
        self.departed_budgets.shrink_if_sparse();
        for state in self.peers.values_mut() {
            state.ihave_received = 0;
            state.iwant_asked = 0;
            state.ihave_examined = 0;
            state.px_taken = 0;
            state.signature_checks = 0;
            state.message_bytes = 0;
            state.invalid_signatures /= 2;
            // An empty table's control bytes (cold once it has held entries) are not read.
            if !state.prunes_sent.is_empty() {
                state
                    .prunes_sent
                    .retain(|_, at| at.checked_add(interval).is_some_and(|end| end > now));
            }
        }
    }

    /// Bytes of topic names `peer` is subscribed to in our view (0 for an unknown peer). At
    /// most `max_topics_per_peer * max_topic_len`.
    pub fn peer_subscription_bytes(&self, peer: &PeerId) -> usize {
        self.peers
            .get(&self.hashed(*peer))
            .map_or(0, |s| s.topic_bytes)
    }

    /// Peers subscribed to `topic` that speak meshsub (candidates for mesh, fanout, gossip).
    pub(super) fn gossipsub_peers_in(&self, topic: &TopicHash) -> Vec<HashedPeer> {
        let Some(set) = self.topic_peers.get(topic) else {
            return Vec::new();
        };
        set.iter()
            .filter(|p| {
                !self.blacklist.contains(p)
                    && self
                        .peers
                        .get(p)
                        .filter(|s| !s.graylisted)
                        .and_then(|s| s.kind)
                        .is_some_and(PeerKind::is_gossipsub)
            })
            .copied()
            .collect()
    }

    /// Peers subscribed to `topic` that speak floodsub: they get every message of the topic.
    /// Without `support_floodsub` no peer can be one, so the topic's subscribers (scanned on
    /// every forward otherwise) are not looked at.
    pub(super) fn floodsub_peers_in(
        &self,
        topic: &TopicHash,
    ) -> impl Iterator<Item = HashedPeer> + '_ {
        // The option first: without it the topic is not even hashed (this runs per forward).
        self.config
            .support_floodsub()
            .then(|| self.topic_peers.get(topic))
            .flatten()
            .into_iter()
            .flatten()
            .filter(|p| self.peers.get(p).and_then(|s| s.kind) == Some(PeerKind::Floodsub))
            .copied()
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    /// The fields each RPC reads first sit within the first cache line of the state, and the
    /// state follows the peer's key in a table entry (both cold when an RPC arrives).
    #[test]
    fn hot_fields_sit_next_to_the_key() {
        use std::mem::{offset_of, size_of};
        let hot_end = [
            offset_of!(PeerState, kind) + size_of::<Option<PeerKind>>(),
            offset_of!(PeerState, graylisted) + 1,
            offset_of!(PeerState, slot) + size_of::<PeerSlot>(),
            offset_of!(PeerState, message_bytes) + size_of::<usize>(),
        ]
        .into_iter()
        .max();
        assert!(hot_end.is_some_and(|end| end <= 64), "{hot_end:?}");
        assert_eq!(
            offset_of!((HashedPeer, PeerState), 1),
            size_of::<HashedPeer>(),
            "a table entry holds the key first, then the state"
        );
    }
}
