//! Messages: receiving (dedup, validation, delivery, IDONTWANT), forwarding, publishing and
//! the application's validation verdicts.

use web_time::Instant;

use bytes::Bytes;
use libp2p_identity::PeerId;
use rand::Rng;
use rand::seq::SliceRandom;

use super::prehashed::{HashedPeer, PrehashedSet};
use super::unwanted::PeerSlot;
use super::{Action, Router, SendClass};
use crate::authenticity::MessageAuthenticity;
use crate::error::PublishError;
use crate::event::{Event, MessageAcceptance};
use crate::score::RejectReason;
use crate::transform::TransformError;
use crate::types::{ControlAction, Message, MessageId, RawMessage, Rpc, TopicHash};
use crate::wire;

impl Router {
    pub(super) fn handle_messages(
        &mut self,
        now: Instant,
        from: HashedPeer,
        from_slot: PeerSlot,
        messages: Vec<RawMessage>,
    ) {
        let cap = self.config.max_messages_per_rpc().unwrap_or(usize::MAX);
        if messages.len() > cap {
            let excess = messages.len() - cap;
            self.counters.messages_over_rpc_cap += excess as u64;
            tracing::debug!(peer = %from, excess, "messages over max_messages_per_rpc dropped");
        }
        for message in messages.into_iter().take(cap) {
            self.handle_message(now, from, from_slot, message);
        }
    }

    /// Handles one message of an RPC from `from`, whose slot in the store of unwanted ids is
    /// `from_slot` (read with its other state when the RPC arrived; a peer keeps its slot
    /// while connected).
    fn handle_message(
        &mut self,
        now: Instant,
        from: HashedPeer,
        from_slot: PeerSlot,
        message: RawMessage,
    ) {
        if !self.mesh.contains_key(&message.topic) {
            self.counters.messages_unsubscribed_topic += 1;
            tracing::debug!(peer = %from, topic = %message.topic, "message for a topic we are not subscribed to dropped");
            return;
        }
        if self.config.has_topic_size_limits() {
            let max = self.config.max_transmit_size_for_topic(&message.topic);
            let size = wire::fragment::message_len(&message);
            if size > max {
                // Not worth an id: the sender alone is penalised (P4), as libp2p-gossipsub
                // 0.50 does for its `MessageSizeTooLargeForTopic`.
                self.counters.messages_over_topic_size += 1;
                tracing::debug!(peer = %from, topic = %message.topic, size, max, "message over the topic's max_transmit_size rejected");
                self.score_rejected(
                    &from,
                    &MessageId::new(Vec::new()),
                    &message.topic,
                    RejectReason::InvalidSignature,
                );
                return;
            }
        }
        // A duplicate of a cached message finds its id in the cache's content index, without
        // running the message-id function again.
        let (content_key, cached) = self.mcache.find(&message);
        // The application's view: the inbound transform of the wire data, computed only for
        // messages not in the cache (a cached one was transformed successfully before). A
        // failed transform yields the id of the wire data (`invalid_message_id`) and no view.
        //
        // An uncached message, new or a late copy, costs the transform (a decompression) and
        // the id function: it is charged to the sender's byte budget first, so neither runs
        // for a message over it.
        //
        // A cached message's entry says whether its id is seen: a duplicate costs no
        // seen-cache lookup.
        let (id, view, seen) = match cached {
            Some((id, seen)) => (id.clone(), None, seen),
            None => {
                if !self.within_message_budget(from, &message) {
                    return;
                }
                let (id, view) = self.inbound_view(&message);
                let seen = self.seen.contains(&id);
                (id, Some(view), seen)
            }
        };
        if seen {
            self.counters.messages_duplicate += 1;
            tracing::trace!(peer = %from, %id, "duplicate message");
            self.score_duplicate(&from, &id, &message.topic);
            // The sender has the message: a copy is as good as its IDONTWANT (which a
            // flood-publishing author or a meshsub-1.1 peer never sends). It is left out of our
            // forward once the message is validated, and a send to it already queued is
            // cancelled. Once per peer and id, within its IDONTWANT allowance. Most copies come
            // from a peer whose IDONTWANT for the id came first: already recorded, which is
            // told from the id's entry without looking the sender up again.
            if !self.unwanted.contains(&id, from_slot) {
                self.record_unwanted(from, from_slot, id.clone());
            }
            if self.config.report_duplicates() {
                self.emit(Event::Duplicate {
                    propagation_source: *from.id(),
                    message_id: id,
                    topic: message.topic,
                });
            }
            return;
        }
        // Neither a blacklisted author's message nor one claiming to be ours marks its id as
        // seen: without signatures both can be forged, and a forged id would otherwise
        // suppress the real message (our own next publish, or an honest one with the same
        // content id). Both are dropped whatever their signature, so before it is verified
        // (and before the sender's budgets are charged): a message we drop costs no
        // verification. A forged one is then not penalised as invalid either; it cost us
        // nothing beyond its share of the sender's byte budget (charged above when it was not
        // cached). The author is hashed only when someone is blacklisted.
        if let Some(author) = message.source
            && !self.blacklist.is_empty()
            && self.blacklist.contains(&self.hashed(author))
        {
            self.counters.messages_from_blacklisted += 1;
            tracing::debug!(peer = %from, %author, %id, "message by a blacklisted author dropped");
            self.score_rejected(&from, &id, &message.topic, RejectReason::Blacklisted);
            return;
        }
        if !self.config.allow_self_origin()
            && message.source.is_some()
            && message.source == self.local_peer_id
        {
            // Ignored, not penalised: the forwarder cannot tell a forgery (or an echo of our
            // own message) from a message of ours.
            self.counters.messages_self_origin += 1;
            tracing::debug!(peer = %from, %id, "message claiming to be authored by us ignored");
            return;
        }
        // A cached message whose id is no longer seen is new again: charged now.
        if view.is_none() && !self.within_message_budget(from, &message) {
            return;
        }
        // Authenticity is checked only for messages not seen before: duplicates (D of them
        // per message in a mesh) cost no signature verification. The check is budgeted per
        // peer and remembers failures (see sigcheck.rs).
        // Found through the payload hints, a cached message's key was not computed.
        let content_key = content_key.unwrap_or_else(|| self.mcache.content_key(&message));
        if !self.check_authenticity(from, &id, &message, content_key) {
            return;
        }
        // A message whose transform failed (known above for an uncached one) is verified
        // all the same: only an authentic message may mark its id seen, which turns its
        // copies into cheap duplicates instead of one transform and penalty each.
        self.mark_seen(now, &id);
        self.promises.message_delivered(&id);
        // A cached message whose id is no longer seen (the seen cache hit its byte bound
        // first) is transformed here.
        let view = match view {
            Some(view) => view,
            None => self.inbound_view(&message).1,
        };
        let app_message = match view {
            Ok(app_message) => app_message,
            Err(error) => {
                self.counters.messages_transform_failed += 1;
                tracing::debug!(peer = %from, %id, %error, "message rejected: data transform failed");
                self.score_rejected(&from, &id, &message.topic, RejectReason::ValidationFailed);
                return;
            }
        };
        if message.data.len() >= self.config.idontwant_message_size_threshold() {
            self.send_idontwant(&id, &message.topic, Some(from));
        }
        let validated = !self.config.validate_messages();
        self.score_new_message(&from, &id, &message.topic);
        if validated {
            self.score_delivered(&from, &id, &message.topic);
        }
        self.mcache.put_with_key(
            id.clone(),
            message.clone(),
            validated,
            Some(*from.id()),
            content_key,
        );
        self.count_cache_evictions();
        self.emit(Event::Message {
            propagation_source: *from.id(),
            message_id: id.clone(),
            message: app_message,
        });
        if validated {
            self.forward(&id, &message, Some(from));
        }
    }

    /// Records `id` in the seen cache and marks its cached message (if any) seen; ids the
    /// seen cache forgets to stay within its byte bound are marked unseen in the message cache.
    fn mark_seen(&mut self, now: Instant, id: &MessageId) {
        let mcache = &mut self.mcache;
        self.seen.insert(now, id.clone(), |forgotten| {
            mcache.set_seen(forgotten, false)
        });
        mcache.set_seen(id, true);
    }

    /// Charges a message from `from` that must be transformed and identified (not cached) to
    /// its per-heartbeat byte budget (`max_message_bytes_per_peer_per_heartbeat`); returns
    /// `false` (counted, not penalised) when it is over: the first message of a heartbeat
    /// always fits; direct peers are exempt. The charge is the message's encoded size plus
    /// what the cache charges per entry ([`super::mcache::ENTRY_OVERHEAD`]), so a message
    /// without data is not free.
    fn within_message_budget(&mut self, from: HashedPeer, message: &RawMessage) -> bool {
        let budget = self.config.max_message_bytes_per_peer_per_heartbeat();
        let direct = self.direct_peers.contains(&from);
        let Some(state) = self.peers.get_mut(&from) else {
            return false;
        };
        let size = message
            .encoded_len()
            .saturating_add(super::mcache::ENTRY_OVERHEAD);
        let spent = state.message_bytes;
        if !direct && spent > 0 && spent.saturating_add(size) > budget {
            self.counters.messages_over_peer_budget += 1;
            tracing::debug!(peer = %from, topic = %message.topic, size, spent, budget, "message over max_message_bytes_per_peer_per_heartbeat dropped before its transform and id");
            return false;
        }
        state.message_bytes = spent.saturating_add(size);
        true
    }

    /// The id of a received message and the application's view of it: the inbound
    /// transform of its wire data, or the transform's error (the id is then computed over the
    /// wire data with `invalid_message_id`).
    fn inbound_view(&self, message: &RawMessage) -> (MessageId, Result<Message, TransformError>) {
        let wire = message.to_message();
        match self
            .transform
            .inbound_transform(&message.topic, message.data.clone())
        {
            Ok(data) => {
                let view = Message { data, ..wire };
                (self.config.message_id(&view), Ok(view))
            }
            Err(error) => (self.config.invalid_message_id(&wire), Err(error)),
        }
    }

    /// Tells our meshsub-1.2 mesh peers of the topic (but `except`) that we have `id`.
    fn send_idontwant(&mut self, id: &MessageId, topic: &TopicHash, except: Option<HashedPeer>) {
        let Some(mesh) = self.mesh.get(topic) else {
            return;
        };
        let mut peers = std::mem::take(&mut self.scratch_peers);
        peers.extend(
            mesh.iter()
                .filter(|p| Some(**p) != except && !self.skip_idontwant(p, topic))
                .copied(),
        );
        for peer in peers.drain(..) {
            self.send_control(
                peer,
                ControlAction::IDontWant {
                    message_ids: vec![id.clone()],
                },
            );
        }
        self.scratch_peers = peers;
    }

    /// Forwards a validated message to the topic's mesh and floodsub peers, except the peer it
    /// came from, its author, and peers that sent IDONTWANT for it.
    pub(super) fn forward(
        &mut self,
        id: &MessageId,
        message: &RawMessage,
        from: Option<HashedPeer>,
    ) {
        // The author, hashed once: recipients are told from it by their hashes.
        let author = message.source.map(|source| self.hashed(source));
        let mut recipients = std::mem::take(&mut self.scratch_peers);
        recipients.extend(self.mesh.get(&message.topic).into_iter().flatten().copied());
        self.add_flood_and_direct_recipients(&mut recipients, &message.topic);
        // One lookup of the id for all recipients; a bit test per recipient.
        let unwanted = self.unwanted.holders(id);
        recipients.retain(|p| {
            Some(*p) != from
                && !self.blacklist.contains(p)
                && Some(*p) != author
                && self
                    .peers
                    .get(p)
                    .is_some_and(|s| !unwanted.is_some_and(|h| h.contains(s.slot)))
                && !self.wants_partial_only(p, &message.topic)
        });
        for peer in recipients.drain(..) {
            self.send_message(*peer.id(), id, message, SendClass::Forward);
        }
        self.scratch_peers = recipients;
    }

    pub(super) fn send_message(
        &mut self,
        peer: PeerId,
        id: &MessageId,
        message: &RawMessage,
        class: SendClass,
    ) {
        self.actions.push_back(Action::Send {
            peer,
            rpc: Rpc {
                subscriptions: Vec::new(),
                messages: vec![message.clone()],
                control: Vec::new(),
                ..Rpc::default()
            },
            class,
            message_id: Some(id.clone()),
        });
    }

    /// Publishes `data` on `topic`: builds, signs and sends the message to every subscribed
    /// peer (flood publish) or to the mesh / fanout peers.
    pub fn publish(
        &mut self,
        now: Instant,
        topic: TopicHash,
        data: impl Into<Bytes>,
    ) -> Result<MessageId, PublishError> {
        let (id, message, recipients) = self.prepare_publish(now, topic, data.into())?;
        for peer in recipients {
            self.send_message(*peer.id(), &id, &message, SendClass::Publish);
        }
        Ok(id)
    }

    /// Builds, checks and caches one message to publish and sends the IDONTWANTs that go
    /// before it; returns its id, the message and its recipients (nothing is sent yet).
    pub(super) fn prepare_publish(
        &mut self,
        now: Instant,
        topic: TopicHash,
        data: Bytes,
    ) -> Result<(MessageId, RawMessage, Vec<HashedPeer>), PublishError> {
        self.touch(now);
        let wire_data = self.transform.outbound_transform(&topic, data.clone())?;
        let message = self.build_message(topic, wire_data)?;
        let size = wire::encoded_len(&Rpc {
            subscriptions: Vec::new(),
            messages: vec![message.clone()],
            control: Vec::new(),
            ..Rpc::default()
        });
        let max = self.config.max_transmit_size_for_topic(&message.topic);
        if size > max {
            return Err(PublishError::MessageTooLarge { size, max });
        }
        // Ids are computed over the application's data, as receivers compute them after
        // their inbound transform.
        let id = self.config.message_id(&Message {
            data,
            ..message.to_message()
        });
        let len = id.as_bytes().len();
        if len > self.config.max_message_id_len()
            || self.config.message_id_len().is_some_and(|n| n != len)
        {
            tracing::warn!(%id, len, "message id of a length gossip drops; not published");
            return Err(PublishError::MessageIdLength { len });
        }
        if self.seen.contains(&id) {
            return Err(PublishError::Duplicate);
        }
        let mut recipients = self.publish_recipients(now, &message.topic);
        // Peers that requested partial messages get the parts from `publish_partial`.
        recipients.retain(|p| !self.wants_partial_only(p, &message.topic));
        if recipients.is_empty() {
            return Err(PublishError::NoPeersSubscribedToTopic(message.topic));
        }
        self.mark_seen(now, &id);
        self.mcache.put(id.clone(), message.clone(), true, None);
        self.count_cache_evictions();
        // IDONTWANT first, to every recipient (mesh, fanout or flood; `send_control` keeps
        // the meshsub-1.2 ones): a peer that got the same message elsewhere and is about to
        // send it to us then does not, and none sends ours back before it arrives.
        if self.config.idontwant_on_publish()
            && message.data.len() >= self.config.idontwant_message_size_threshold()
        {
            let told: Vec<HashedPeer> = recipients
                .iter()
                .filter(|p| !self.skip_idontwant(p, &message.topic))
                .copied()
                .collect();
            for peer in &told {
                self.send_control(
                    *peer,
                    ControlAction::IDontWant {
                        message_ids: vec![id.clone()],
                    },
                );
            }
            self.flush_control();
        }
        tracing::debug!(topic = %message.topic, %id, peers = recipients.len(), "publishing");
        Ok((id, message, recipients))
    }

    fn publish_recipients(&mut self, now: Instant, topic: &TopicHash) -> Vec<HashedPeer> {
        let mut recipients: Vec<HashedPeer> = if self.config.flood_publish() {
            let mut peers = self.gossipsub_peers_in(topic);
            peers.retain(|p| !self.below_publish_threshold(p));
            peers
        } else if let Some(mesh) = self.mesh.get(topic) {
            mesh.iter().copied().collect()
        } else {
            self.fanout_last_pub.insert(topic.clone(), now);
            if self.fanout.get(topic).is_none_or(|f| f.is_empty()) {
                let mut candidates = self.gossipsub_peers_in(topic);
                candidates.retain(|p| self.fanout_eligible(topic, p));
                candidates.shuffle(&mut self.rng);
                candidates.truncate(self.config.mesh_n_for_topic(topic));
                let mut set = PrehashedSet::default();
                set.extend(candidates);
                self.fanout.insert(topic.clone(), set);
            }
            self.fanout[topic].iter().copied().collect()
        };
        self.add_flood_and_direct_recipients(&mut recipients, topic);
        recipients
    }

    /// Adds the floodsub peers of `topic` (never in a mesh, never meshsub peers) at or above
    /// `publish_threshold` (as go does for every message it sends them), and its connected
    /// direct peers not already in `recipients` (direct peers are few, so the linear check
    /// beats sorting the whole list on every forward).
    fn add_flood_and_direct_recipients(&self, recipients: &mut Vec<HashedPeer>, topic: &TopicHash) {
        recipients.extend(
            self.floodsub_peers_in(topic)
                .filter(|p| !self.below_publish_threshold(p)),
        );
        for &peer in &self.direct_peers {
            if self
                .peers
                .get(&peer)
                .is_some_and(|s| s.topics.contains(topic))
                && !recipients.contains(&peer)
            {
                recipients.push(peer);
            }
        }
    }

    fn build_message(&mut self, topic: TopicHash, data: Bytes) -> Result<RawMessage, PublishError> {
        let mut message = RawMessage {
            source: None,
            data,
            data_absent: false,
            sequence_number: None,
            topic,
            signature: None,
            key: None,
        };
        match &self.authenticity {
            MessageAuthenticity::Signed(keypair) => {
                message.source = self.local_peer_id;
                message.sequence_number = Some(self.next_seqno);
                self.next_seqno = self.next_seqno.wrapping_add(1);
                let (signature, key) = wire::sign(keypair, &message)
                    .map_err(|e| PublishError::SigningError(e.to_string()))?;
                message.signature = Some(signature);
                message.key = key;
            }
            MessageAuthenticity::Author(peer) => {
                message.source = Some(*peer);
                message.sequence_number = Some(self.next_seqno);
                self.next_seqno = self.next_seqno.wrapping_add(1);
            }
            MessageAuthenticity::RandomAuthor => {
                message.source = Some(self.random_peer_id());
                message.sequence_number = Some(self.rng.r#gen());
            }
            MessageAuthenticity::Anonymous => {}
        }
        Ok(message)
    }

    /// A random Ed25519 peer id drawn from the router's RNG (reproducible from the seed).
    fn random_peer_id(&mut self) -> PeerId {
        let mut secret: [u8; 32] = self.rng.r#gen();
        match libp2p_identity::ed25519::SecretKey::try_from_bytes(&mut secret) {
            Ok(sk) => libp2p_identity::Keypair::from(libp2p_identity::ed25519::Keypair::from(sk))
                .public()
                .to_peer_id(),
            Err(_) => PeerId::random(),
        }
    }

    /// The topic of a received message awaiting the application's verdict (what
    /// [`Router::report_validation`] would accept), or `None`.
    pub fn awaiting_validation_topic(&self, id: &MessageId) -> Option<&TopicHash> {
        self.mcache
            .get(id)
            .filter(|e| !e.validated && e.source.is_some())
            .map(|e| &e.message.topic)
    }

    /// The application's verdict on a message received with `validate_messages` on. Accepted
    /// messages are forwarded; rejected and ignored ones are dropped from the cache. Returns
    /// `false` if the message is unknown (expired from the cache, or already reported).
    pub fn report_validation(
        &mut self,
        now: Instant,
        id: &MessageId,
        propagation_source: &PeerId,
        acceptance: MessageAcceptance,
    ) -> bool {
        let known = self
            .mcache
            .get(id)
            .is_some_and(|e| !e.validated && e.source.is_some());
        if !known {
            return false;
        }
        self.touch(now);
        match acceptance {
            MessageAcceptance::Accept => {
                let Some((message, source)) = self.mcache.validate(id) else {
                    return false;
                };
                let from = self.hashed(source.unwrap_or(*propagation_source));
                self.score_delivered(&from, id, &message.topic);
                self.forward(id, &message, Some(from));
            }
            MessageAcceptance::Reject => {
                if let Some(entry) = self.mcache.remove(id) {
                    let from = entry.source.unwrap_or(*propagation_source);
                    let topic = entry.message.topic;
                    self.score_rejected(&from, id, &topic, RejectReason::ValidationFailed);
                }
                self.counters.messages_rejected += 1;
                tracing::debug!(peer = %propagation_source, %id, "message rejected by the application");
            }
            MessageAcceptance::Ignore => {
                if let Some(entry) = self.mcache.remove(id) {
                    let from = entry.source.unwrap_or(*propagation_source);
                    let topic = entry.message.topic;
                    self.score_rejected(&from, id, &topic, RejectReason::Ignored);
                }
                self.counters.messages_ignored += 1;
            }
        }
        self.flush_control();
        true
    }
}
