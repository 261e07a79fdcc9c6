//! The Partial Messages extension in the router (cargo feature `partial-messages`; see
//! [`crate::partial`] for the behaviour and the application's side).
//!
//! State, all bounded:
//! - the topics we enabled (by local call only);
//! - per connected peer, the topics on which it announced non-default options (at most its
//!   `max_topics_per_peer` subscriptions);
//! - per enabled topic, the groups: ours (opened by a local publish; the application bounds
//!   them) and peer-opened ones (at most `groups_per_topic`, `groups_per_peer` per peer), each
//!   with per-peer views of at most [`MAX_PARTS_METADATA_LEN`] bytes twice, and forgotten
//!   `group_ttl_heartbeats` heartbeats after opening or after our last publish; groups a peer
//!   opened (and we did not publish to) are forgotten when it disconnects;
//! - the bytes of parts metadata held per peer and in total, and the partial messages taken per
//!   peer and heartbeat (see [`super::partial_budget`]).

use bytes::Bytes;
use libp2p_identity::PeerId;

use super::partial_budget::{MetadataAccount, PartialCounts, PeerView};
use super::{Action, Map, Router, SendClass};
use crate::event::Event;
use crate::partial::{
    MAX_PARTIAL_GROUP_ID_LEN, MAX_PARTS_METADATA_LEN, PARTIAL_MIN_CHARGE, Partial, PartialFeedback,
    PartialLimits, PartialLimitsError, PublishPartialError,
};
use crate::types::{PartialMessage, PeerKind, Rpc, Subscription, SubscriptionOptions, TopicHash};

#[path = "partial_fanout.rs"]
mod fanout;

/// The extension's state in the router.
pub(crate) struct PartialState {
    limits: PartialLimits,
    /// Topics we enabled, with whether we request partial messages on them.
    local: Map<TopicHash, bool>,
    /// Per peer, the topics on which it announced partial options (only non-default ones).
    peer_options: Map<PeerId, Map<TopicHash, SubscriptionOptions>>,
    /// Per enabled topic, its groups by group id.
    pub(super) groups: Map<TopicHash, Map<Bytes, Group>>,
    /// Per enabled topic, peer-opened groups: all together and per peer.
    pub(super) opened: Map<TopicHash, Opened>,
    /// Bytes of parts metadata held per peer and in total.
    pub(super) account: MetadataAccount,
    /// Partial messages taken per peer in this heartbeat.
    pub(super) counts: PartialCounts,
}

#[derive(Default)]
pub(super) struct Opened {
    pub(super) total: usize,
    pub(super) per_peer: Map<PeerId, usize>,
}

pub(super) struct Group {
    /// Our last published partial message of the group.
    ours: Option<Box<dyn Partial>>,
    /// The peer that opened the group, while we have not published to it.
    pub(super) opened_by: Option<PeerId>,
    /// The heartbeat tick after which the group is forgotten.
    expires_at: u64,
    /// What we know of each peer that took part.
    pub(super) peers: Map<PeerId, PeerView>,
}

impl PartialState {
    pub(crate) fn new(hasher: &ahash::RandomState) -> Self {
        PartialState {
            limits: PartialLimits::default(),
            local: Map::with_hasher(hasher.clone()),
            peer_options: Map::with_hasher(hasher.clone()),
            groups: Map::with_hasher(hasher.clone()),
            opened: Map::with_hasher(hasher.clone()),
            account: MetadataAccount::new(hasher),
            counts: PartialCounts::new(hasher),
        }
    }

    /// The options `peer` announced on `topic`.
    fn options(&self, peer: &PeerId, topic: &TopicHash) -> SubscriptionOptions {
        self.peer_options
            .get(peer)
            .and_then(|t| t.get(topic))
            .copied()
            .unwrap_or_default()
    }

    fn forget_opener(&mut self, topic: &TopicHash, peer: &PeerId) {
        if let Some(opened) = self.opened.get_mut(topic) {
            opened.total = opened.total.saturating_sub(1);
            if let Some(n) = opened.per_peer.get_mut(peer) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    opened.per_peer.remove(peer);
                }
            }
        }
    }
}

impl Router {
    /// Sets the bounds on partial-message groups (see [`PartialLimits`]).
    pub fn set_partial_limits(&mut self, limits: PartialLimits) -> Result<(), PartialLimitsError> {
        limits.validate()?;
        self.partial.limits = limits;
        Ok(())
    }

    /// Enables partial messages on `topic` and subscribes to it: our subscription announces
    /// `supportsSendingPartial`, and `requestsPartial` if `requests_partial`. If already
    /// subscribed, the new options are announced again. Returns whether we were not subscribed
    /// before.
    pub fn subscribe_partial(
        &mut self,
        now: std::time::Instant,
        topic: TopicHash,
        requests_partial: bool,
    ) -> Result<bool, crate::error::SubscriptionError> {
        let before = self.partial.local.insert(topic.clone(), requests_partial);
        match self.subscribe(now, topic.clone()) {
            Ok(true) => Ok(true),
            Ok(false) => {
                if before != Some(requests_partial) {
                    self.announce_subscription(&topic, true);
                    self.flush_control();
                }
                Ok(false)
            }
            Err(e) => {
                match before {
                    Some(b) => self.partial.local.insert(topic, b),
                    None => self.partial.local.remove(&topic),
                };
                Err(e)
            }
        }
    }

    /// The options our subscription to `topic` carries.
    pub(super) fn local_subscription_options(&self, topic: &TopicHash) -> SubscriptionOptions {
        match self.partial.local.get(topic) {
            Some(&requests) => SubscriptionOptions {
                requests_partial: requests,
                supports_partial: true,
            },
            None => SubscriptionOptions::default(),
        }
    }

    /// Whether the Extensions control message announces partial messages.
    pub(super) fn announces_partial_messages(&self) -> bool {
        true
    }

    /// Forgets partial-message state when we unsubscribe from `topic`.
    pub(super) fn partial_unsubscribed(&mut self, topic: &TopicHash) {
        self.partial.local.remove(topic);
        if let Some(groups) = self.partial.groups.remove(topic) {
            for group in groups.values() {
                self.partial.account.release_views(&group.peers);
            }
        }
        self.partial.opened.remove(topic);
    }

    /// Records the partial options of a subscription change of `from`.
    pub(super) fn partial_subscription(&mut self, from: PeerId, sub: &Subscription) {
        let options = sub.options.normalised(sub.subscribe);
        if options == SubscriptionOptions::default() {
            if let Some(topics) = self.partial.peer_options.get_mut(&from) {
                topics.remove(&sub.topic);
                if topics.is_empty() {
                    self.partial.peer_options.remove(&from);
                }
            }
            return;
        }
        let hasher = self.hasher.clone();
        self.partial
            .peer_options
            .entry(from)
            .or_insert_with(|| Map::with_hasher(hasher))
            .insert(sub.topic.clone(), options);
    }

    /// Forgets everything of a disconnected peer.
    /// Groups it opened and we did not publish to are forgotten with it and no longer count
    /// against their topic (as go-libp2p-pubsub releases them): kept, they let peers that
    /// come and go fill a topic's `groups_per_topic` and lock honest groups out until expiry.
    /// Each connection can open at most `groups_per_peer` per topic, so the groups held stay
    /// within the connected peers' share.
    pub(super) fn partial_peer_removed(&mut self, peer: &PeerId) {
        let state = &mut self.partial;
        state.peer_options.remove(peer);
        state.counts.remove(peer);
        let mut released = 0usize;
        for (topic, groups) in state.groups.iter_mut() {
            groups.retain(|_, group| {
                if group.opened_by == Some(*peer) {
                    state.account.release_views(&group.peers);
                    released += 1;
                    return false;
                }
                if let Some(view) = group.peers.remove(peer) {
                    state.account.release_views([(peer, &view)]);
                }
                true
            });
            if let Some(opened) = state.opened.get_mut(topic)
                && let Some(n) = opened.per_peer.remove(peer)
            {
                opened.total = opened.total.saturating_sub(n);
            }
        }
        state.groups.retain(|_, groups| !groups.is_empty());
        state.opened.retain(|_, opened| opened.total > 0);
        if released > 0 {
            tracing::debug!(%peer, groups = released, "partial groups opened by a disconnected peer forgotten");
        }
    }

    /// Whether `peer` gets partial messages instead of full messages on `topic`: we support
    /// partial messages there and it requested them.
    pub(super) fn wants_partial_only(&self, peer: &PeerId, topic: &TopicHash) -> bool {
        self.partial.local.contains_key(topic) && self.partial.options(peer, topic).requests_partial
    }

    /// Whether an IDONTWANT to `peer` on `topic` is pointless: no full message of the topic
    /// flows between us and it (it requested partial messages, or we requested them and it can
    /// send them).
    pub(super) fn skip_idontwant(&self, peer: &PeerId, topic: &TopicHash) -> bool {
        let Some(&we_request) = self.partial.local.get(topic) else {
            return false;
        };
        let theirs = self.partial.options(peer, topic);
        theirs.requests_partial || (we_request && theirs.supports_partial)
    }

    /// Whether `peer` announced the Partial Messages extension on meshsub 1.3 (an Extensions
    /// message from a peer on an older protocol is kept but never acted on).
    fn peer_has_partial_extension(&self, peer: &PeerId) -> bool {
        self.peers.get(&self.hashed(*peer)).is_some_and(|s| {
            s.kind.is_some_and(PeerKind::supports_extensions)
                && s.extensions.is_some_and(|e| e.partial_messages)
        })
    }

    /// Heartbeat step: forgets expired groups.
    /// Also starts every peer's partial-message count for the new heartbeat from zero.
    pub(super) fn expire_partial_groups(&mut self) {
        let tick = self.heartbeat_ticks;
        let mut freed = Vec::new();
        let state = &mut self.partial;
        state.counts.reset();
        for (topic, groups) in state.groups.iter_mut() {
            groups.retain(|_, group| {
                let keep = group.expires_at > tick;
                if !keep {
                    state.account.release_views(&group.peers);
                    if let Some(opener) = group.opened_by {
                        freed.push((topic.clone(), opener));
                    }
                }
                keep
            });
        }
        state.groups.retain(|_, groups| !groups.is_empty());
        for (topic, opener) in freed {
            self.partial.forget_opener(&topic, &opener);
        }
    }

    /// Heartbeat step: lazy gossip. Peers outside the mesh that support partial messages on
    /// a topic of ours (`max(gossip_lazy, gossip_factor * eligible)` of them, as IHAVE) are
    /// sent our parts metadata of each group we published, when it changed since we last sent
    /// it to them; they ask for parts by answering with their own metadata.
    pub(super) fn emit_partial_gossip(&mut self) {
        use rand::seq::SliceRandom;
        let topics: Vec<TopicHash> = self.partial.local.keys().cloned().collect();
        for topic in topics {
            // A topic only enabled (no mesh, no fanout) gets no gossip: we publish there to
            // the peers the application chooses.
            if !self.mesh.contains_key(&topic) && !self.fanout.contains_key(&topic) {
                continue;
            }
            let has_ours = self
                .partial
                .groups
                .get(&topic)
                .is_some_and(|g| g.values().any(|group| group.ours.is_some()));
            if !has_ours {
                continue;
            }
            let mesh = self.mesh.get(&topic);
            let mut candidates: Vec<PeerId> = self
                .gossipsub_peers_in(&topic)
                .into_iter()
                .filter(|p| {
                    !mesh.is_some_and(|m| m.contains(p))
                        && !self.below_gossip_threshold(p)
                        && self.peer_has_partial_extension(p)
                        && self.partial.options(p, &topic).supports_partial
                })
                .map(|p| *p.id())
                .collect();
            let count = self
                .config
                .gossip_lazy()
                .max((self.config.gossip_factor() * candidates.len() as f64) as usize);
            candidates.shuffle(&mut self.rng);
            candidates.truncate(count);
            let mut sends = Vec::new();
            if let Some(groups) = self.partial.groups.get_mut(&topic) {
                for (group_id, group) in groups.iter_mut() {
                    let Some(ours) = group.ours.as_ref() else {
                        continue;
                    };
                    let mine = ours.parts_metadata();
                    for peer in &candidates {
                        let view = group.peers.entry(*peer).or_default();
                        if view.sent.as_ref() != Some(&mine) {
                            view.sent = Some(mine.clone());
                            sends.push((*peer, group_id.clone(), mine.clone()));
                        }
                    }
                }
            }
            for (peer, group_id, metadata) in sends {
                self.send_partial(
                    peer,
                    PartialMessage {
                        topic: topic.clone(),
                        group_id,
                        message: None,
                        metadata: Some(metadata),
                    },
                );
            }
        }
    }

    fn group_expiry(&self) -> u64 {
        self.heartbeat_ticks
            .saturating_add(u64::from(self.partial.limits.group_ttl_heartbeats))
    }

    /// Penalises `peer` for invalid parts or parts metadata on `topic` (P4).
    fn partial_invalid(&mut self, peer: &PeerId, topic: &TopicHash, reason: &str) {
        self.counters.partials_invalid += 1;
        tracing::debug!(%peer, %topic, reason, "invalid partial message: penalised");
        if let Some(s) = self.scoring.as_mut() {
            s.score.invalid_partial(peer, topic);
        }
    }

    /// The application's verdict on parts `peer` sent on `topic`.
    pub fn report_partial(&mut self, peer: &PeerId, topic: &TopicHash, feedback: PartialFeedback) {
        match feedback {
            PartialFeedback::Useful => {
                if let Some(s) = self.scoring.as_mut() {
                    s.score.useful_partial(peer, topic);
                }
            }
            PartialFeedback::Invalid => {
                self.partial_invalid(peer, topic, "reported by the application")
            }
        }
    }

    /// Handles a received partial message (after the graylist checks of `handle_rpc`).
    pub(super) fn handle_partial(&mut self, from: PeerId, partial: PartialMessage) {
        if !self.peer_has_partial_extension(&from) {
            self.counters.partials_ignored += 1;
            tracing::debug!(peer = %from, "partial message from a peer that did not announce the extension ignored");
            return;
        }
        if !self.partial.local.contains_key(&partial.topic) {
            self.counters.partials_ignored += 1;
            tracing::debug!(peer = %from, topic = %partial.topic, "partial message on a topic not enabled for them ignored");
            return;
        }
        let parts_len = partial.message.as_ref().map_or(0, Bytes::len);
        if self.config.has_topic_size_limits() {
            let max = self.config.max_transmit_size_for_topic(&partial.topic);
            if parts_len > max {
                let topic = partial.topic.clone();
                self.partial_invalid(&from, &topic, "parts over the topic's max_transmit_size");
                return;
            }
        }
        // Parts are application payload like a published message's data: they share the
        // sender's per-heartbeat byte budget (first one always fits, direct peers exempt).
        // Every partial costs at least PARTIAL_MIN_CHARGE, so empty ones are not free, and
        // their number per heartbeat is bounded too.
        let size = PARTIAL_MIN_CHARGE
            .saturating_add(parts_len)
            .saturating_add(partial.metadata.as_ref().map_or(0, Bytes::len))
            .saturating_add(partial.group_id.len());
        let budget = self.config.max_message_bytes_per_peer_per_heartbeat();
        let key = self.hashed(from);
        let direct = self.direct_peers.contains(&key);
        if !self.peers.contains_key(&key) {
            return;
        }
        let max_count = self.partial.limits.partials_per_peer_per_heartbeat;
        if !direct && !self.partial.counts.take(from, max_count) {
            self.counters.partials_over_peer_count += 1;
            tracing::debug!(peer = %from, topic = %partial.topic, max = max_count, "partial message over partials_per_peer_per_heartbeat dropped");
            return;
        }
        let Some(peer_state) = self.peers.get_mut(&key) else {
            return;
        };
        let spent = peer_state.message_bytes;
        if !direct && spent > 0 && spent.saturating_add(size) > budget {
            self.counters.partials_over_peer_budget += 1;
            tracing::debug!(peer = %from, topic = %partial.topic, size, spent, budget, "partial message over max_message_bytes_per_peer_per_heartbeat dropped");
            return;
        }
        peer_state.message_bytes = spent.saturating_add(size);
        let topic = partial.topic.clone();
        let requested = self.partial.options(&from, &topic).requests_partial;
        let expiry = self.group_expiry();
        let tick = self.heartbeat_ticks;
        let limits = self.partial.limits;
        let hasher = self.hasher.clone();
        let state = &mut self.partial;
        let groups = state
            .groups
            .entry(topic.clone())
            .or_insert_with(|| Map::with_hasher(hasher.clone()));
        if !groups.contains_key(&partial.group_id) {
            let opened = state.opened.entry(topic.clone()).or_default();
            let by_peer = opened.per_peer.get(&from).copied().unwrap_or(0);
            if opened.total >= limits.groups_per_topic || by_peer >= limits.groups_per_peer {
                self.counters.partial_groups_over_cap += 1;
                tracing::debug!(
                    peer = %from,
                    %topic,
                    topic_groups = opened.total,
                    peer_groups = by_peer,
                    "partial message would open a group over the bounds: ignored"
                );
                return;
            }
            opened.total += 1;
            opened
                .per_peer
                .entry(from)
                .and_modify(|n| *n += 1)
                .or_insert(1);
            groups.insert(
                partial.group_id.clone(),
                Group {
                    ours: None,
                    opened_by: Some(from),
                    expires_at: expiry,
                    peers: Map::with_hasher(hasher),
                },
            );
        }
        let Some(group) = groups.get_mut(&partial.group_id) else {
            return;
        };
        let new_view = !group.peers.contains_key(&from);
        let view = group.peers.entry(from).or_default();
        let mut invalid = None;
        let mut update = None;
        if let Some(received) = &partial.metadata {
            let merged = match (&group.ours, view.metadata()) {
                (Some(ours), Some(known)) => ours.merge_metadata(known, received),
                _ => Ok(received.clone()),
            };
            match merged {
                Ok(m) if m.len() <= MAX_PARTS_METADATA_LEN => update = Some(m),
                Ok(_) => invalid = Some("merged parts metadata over its bound"),
                Err(_) => invalid = Some("parts metadata refused by the application"),
            }
        }
        // An invalid update is ignored: what we knew of the peer stays, so alternating invalid
        // and empty updates does not make us send every part again. An update over the
        // metadata byte bounds is not kept either, and not answered.
        let metadata = update.or_else(|| view.metadata().cloned());
        let kept = view.update(&from, &mut state.account, &limits, metadata, true);
        if !kept {
            self.counters.partial_metadata_over_budget += 1;
            tracing::debug!(
                peer = %from,
                %topic,
                peer_bytes = state.account.held(Some(&from)),
                total_bytes = state.account.held(None),
                "partial metadata over metadata_bytes_per_peer or metadata_bytes_total not kept"
            );
            if new_view {
                group.peers.remove(&from);
            }
        }
        // Answer a peer that requested partial messages with the parts it lacks.
        let mut reply = None;
        if let (true, Some(view)) = (kept, group.peers.get_mut(&from)) {
            if requested && view.answered == Some(tick) {
                tracing::trace!(peer = %from, %topic, "partial metadata already answered in this heartbeat: no parts sent");
            }
            if invalid.is_none()
                && let Some(ours) = &group.ours
                && requested
                && view.answered != Some(tick)
            {
                match ours.parts_for_peer(&from, view.metadata().map(|m| &m[..])) {
                    Ok(answer) => {
                        if let Some(parts) = answer.parts.filter(|p| !p.is_empty()) {
                            if let Some(after) = answer.peer_metadata {
                                store_app_metadata(view, &from, &mut state.account, &limits, after);
                            }
                            let mine = ours.parts_metadata();
                            let metadata =
                                (view.sent.as_ref() != Some(&mine)).then(|| mine.clone());
                            if metadata.is_some() {
                                view.sent = Some(mine);
                            }
                            view.answered = Some(tick);
                            reply = Some((parts, metadata));
                        }
                    }
                    Err(_) => {
                        view.clear_metadata(&from, &mut state.account);
                        invalid = Some("parts metadata unusable by the application");
                    }
                }
            }
        }
        self.counters.partials_received += 1;
        if let Some(reason) = invalid {
            self.partial_invalid(&from, &topic, reason);
        }
        if let Some((parts, metadata)) = reply {
            self.send_partial(
                from,
                PartialMessage {
                    topic: topic.clone(),
                    group_id: partial.group_id.clone(),
                    message: Some(parts),
                    metadata,
                },
            );
        }
        self.emit(Event::Partial {
            propagation_source: from,
            message: partial,
        });
    }

    fn send_partial(&mut self, peer: PeerId, partial: PartialMessage) {
        self.actions.push_back(Action::Send {
            peer,
            rpc: Rpc {
                partial: Some(Box::new(partial)),
                ..Rpc::default()
            },
            class: SendClass::Publish,
            message_id: None,
        });
    }

    /// Publishes a partial message on `topic`: keeps it as our copy of its group and sends
    /// the topic's mesh peers (fanout peers when not subscribed), and the peers that talked to
    /// us about the group, what they should get: to a peer that requested partial messages,
    /// the parts [`Partial::parts_for_peer`] gives and our parts metadata if it changed since
    /// we last sent it; to a peer that only supports them, only our parts metadata if it
    /// changed. Returns the number of peers sent to.
    pub fn publish_partial(
        &mut self,
        now: std::time::Instant,
        topic: TopicHash,
        partial: impl Partial,
    ) -> Result<usize, PublishPartialError> {
        self.touch(now);
        if !self.partial.local.contains_key(&topic) {
            return Err(PublishPartialError::NotEnabled(topic));
        }
        let group_id = partial.group_id();
        if group_id.len() > MAX_PARTIAL_GROUP_ID_LEN {
            return Err(PublishPartialError::GroupIdTooLong {
                len: group_id.len(),
            });
        }
        let mine = partial.parts_metadata();
        if mine.len() > MAX_PARTS_METADATA_LEN {
            return Err(PublishPartialError::MetadataTooLong { len: mine.len() });
        }
        let mut recipients: Vec<PeerId> = self
            .mesh
            .get(&topic)
            .or_else(|| self.fanout.get(&topic))
            .into_iter()
            .flatten()
            .map(|p| *p.id())
            .collect();
        self.keep_our_partial(&topic, group_id.clone(), Box::new(partial));
        // Besides the mesh (or fanout), the peers that sent us a partial message for the group
        // (not those we only gossiped our metadata to: they ask when they lack parts). The
        // group's peers are distinct: check them against the mesh (or fanout) peers only, so a
        // large group costs linear work, not quadratic.
        let from_mesh = recipients.len();
        if let Some(group) = self
            .partial
            .groups
            .get(&topic)
            .and_then(|g| g.get(&group_id))
        {
            for (peer, view) in &group.peers {
                if view.spoke() && !recipients[..from_mesh].contains(peer) {
                    recipients.push(*peer);
                }
            }
        }
        recipients.retain(|p| {
            !self.blacklist.contains(&self.hashed(*p))
                && self.speaks_partials_in_group(p, &topic, &group_id)
        });
        let sent = self.send_our_partial(&topic, &group_id, &mine, recipients);
        tracing::debug!(%topic, peers = sent, "publishing a partial message");
        Ok(sent)
    }

    /// The Partial Messages options `peer` announced with its subscription to `topic`
    /// (default when none, or when it is not subscribed).
    pub fn peer_partial_options(&self, peer: &PeerId, topic: &TopicHash) -> SubscriptionOptions {
        self.partial.options(peer, topic)
    }

    /// Number of (peer, topic) partial options held, for tests and memory accounting.
    pub fn partial_option_entries(&self) -> usize {
        self.partial.peer_options.values().map(|t| t.len()).sum()
    }

    /// Number of groups held on `topic` and how many of them peers opened, for tests and
    /// memory accounting.
    pub fn partial_groups(&self, topic: &TopicHash) -> (usize, usize) {
        (
            self.partial.groups.get(topic).map_or(0, |g| g.len()),
            self.partial.opened.get(topic).map_or(0, |o| o.total),
        )
    }
}

impl Router {
    /// Bytes of parts metadata held from `peer` (all peers when `None`), over all groups and
    /// topics, with [`GROUP_PEER_CHARGE`](crate::partial::GROUP_PEER_CHARGE) bytes for each
    /// group a peer sent us a partial message for: what counts against
    /// [`PartialLimits::metadata_bytes_per_peer`] and [`PartialLimits::metadata_bytes_total`].
    /// For tests and memory accounting.
    pub fn partial_metadata_bytes(&self, peer: Option<&PeerId>) -> usize {
        self.partial.account.held(peer)
    }
}

/// Keeps the peer metadata the application's [`Partial::parts_for_peer`] gave (what the peer
/// holds once it has our parts) when it is within [`MAX_PARTS_METADATA_LEN`] and the byte
/// bounds; otherwise what we knew stays (logged: the application or a peer's share is at
/// fault, nothing is lost but a later resend of parts).
fn store_app_metadata(
    view: &mut PeerView,
    peer: &PeerId,
    account: &mut MetadataAccount,
    limits: &PartialLimits,
    after: Bytes,
) {
    let len = after.len();
    if len > MAX_PARTS_METADATA_LEN {
        tracing::warn!(%peer, len, "Partial::parts_for_peer returned peer metadata over MAX_PARTS_METADATA_LEN: not kept");
        return;
    }
    if !view.update(peer, account, limits, Some(after), false) {
        tracing::debug!(%peer, len, "peer metadata from Partial::parts_for_peer over the metadata byte bounds: not kept");
    }
}
