//! Partial messages to chosen peers (cargo feature `partial-messages`): enabling the extension
//! on a topic without subscribing to it, and publishing a partial message to an explicit list
//! of peers instead of the topic's mesh (go-libp2p-pubsub's `PublishPartial` with the
//! application choosing the recipients; test-plans' `partial-messages-fanout` scenario).
//!
//! A child module of `partial` so that it shares the group state; see [`crate::partial`].

use std::time::Instant;

use bytes::Bytes;
use libp2p_identity::PeerId;

use super::super::{Map, Router};
use super::Group;
use crate::error::SubscriptionError;
use crate::partial::{
    MAX_PARTIAL_GROUP_ID_LEN, MAX_PARTS_METADATA_LEN, Partial, PublishPartialError,
};
use crate::types::{PartialMessage, TopicHash};

impl Router {
    /// Enables partial messages on `topic` without subscribing to it, so that
    /// [`Router::publish_partial_to`] can publish there and partial messages received on it
    /// reach the application. A later [`Router::subscribe`] announces the options
    /// (`supportsSendingPartial`, and `requestsPartial` if `requests_partial`). On a topic we
    /// are subscribed to this is [`Router::subscribe_partial`]. Returns whether the topic was
    /// not enabled before.
    pub fn enable_partial(
        &mut self,
        now: Instant,
        topic: TopicHash,
        requests_partial: bool,
    ) -> Result<bool, SubscriptionError> {
        self.touch(now);
        let before = self.partial.local.get(&topic).copied();
        if self.mesh.contains_key(&topic) {
            self.subscribe_partial(now, topic, requests_partial)?;
            return Ok(before.is_none());
        }
        if topic.as_str().len() > self.config.max_topic_len() {
            return Err(SubscriptionError::TopicTooLong(topic));
        }
        if !self.filter.allow(&topic) {
            return Err(SubscriptionError::NotAllowed(topic));
        }
        tracing::debug!(%topic, requests_partial, "partial messages enabled without subscribing");
        self.partial.local.insert(topic, requests_partial);
        Ok(before.is_none())
    }

    /// Disables partial messages on a topic enabled with [`Router::enable_partial`] and not
    /// subscribed to: forgets its groups. Returns whether it was enabled. A subscribed topic is
    /// left alone (returns `false`): unsubscribe from it instead.
    pub fn disable_partial(&mut self, now: Instant, topic: &TopicHash) -> bool {
        self.touch(now);
        if self.mesh.contains_key(topic) || !self.partial.local.contains_key(topic) {
            return false;
        }
        self.partial_unsubscribed(topic);
        true
    }

    /// Whether partial messages are enabled on `topic` (subscribed with
    /// [`Router::subscribe_partial`] or enabled with [`Router::enable_partial`]).
    pub fn partial_enabled(&self, topic: &TopicHash) -> bool {
        self.partial.local.contains_key(topic)
    }

    /// Publishes a partial message on `topic` to `peers` only (not the topic's mesh, fanout or
    /// the group's other peers): keeps it as our copy of its group, then sends each peer what
    /// [`Router::publish_partial`] would (parts it lacks and our metadata to a peer that
    /// requested partial messages, our metadata to one that only supports them; nothing when
    /// it already has everything we sent). Peers that answer with their metadata later get the
    /// parts they lack. The topic needs partial messages enabled (subscribed or not).
    ///
    /// Every peer must be connected, speak the extension (meshsub 1.3) and have announced
    /// partial support on `topic` (or have sent us a partial message of the group); otherwise nothing is kept or sent and the first failing
    /// peer is named in the error. Repeated peers count once. Returns the number of peers
    /// something was sent to.
    pub fn publish_partial_to(
        &mut self,
        now: Instant,
        topic: TopicHash,
        partial: impl Partial,
        peers: &[PeerId],
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
        // Recipients are distinct connected peers, so the list is bounded by the peer table.
        let mut recipients: Vec<PeerId> = Vec::with_capacity(peers.len().min(self.peers.len()));
        for peer in peers {
            if recipients.contains(peer) {
                continue;
            }
            let key = self.hashed(*peer);
            if !self.peers.contains_key(&key) {
                return Err(PublishPartialError::PeerNotConnected(*peer));
            }
            if self.blacklist.contains(&key) {
                return Err(PublishPartialError::PeerBlacklisted(*peer));
            }
            if !self.speaks_partials_in_group(peer, &topic, &group_id) {
                return Err(PublishPartialError::PeerWithoutPartials { peer: *peer, topic });
            }
            recipients.push(*peer);
        }
        self.keep_our_partial(&topic, group_id.clone(), Box::new(partial));
        let sent = self.send_our_partial(&topic, &group_id, &mine, recipients);
        tracing::debug!(%topic, peers = sent, "publishing a partial message to chosen peers");
        Ok(sent)
    }

    /// Whether `peer` takes partial messages of `group_id` on `topic`: it speaks the
    /// extension (meshsub 1.3) and announced partial support on the topic, or sent us a
    /// partial message of the group (a publisher need not be subscribed).
    pub(super) fn speaks_partials_in_group(
        &self,
        peer: &PeerId,
        topic: &TopicHash,
        group_id: &Bytes,
    ) -> bool {
        self.peer_has_partial_extension(peer)
            && (self.partial.options(peer, topic).supports_partial
                || self
                    .partial
                    .groups
                    .get(topic)
                    .and_then(|g| g.get(group_id))
                    .and_then(|g| g.peers.get(peer))
                    .is_some_and(|v| v.spoke()))
    }

    /// Keeps `partial` as our copy of its group on `topic`, renewing the group's lifetime (a
    /// group a peer opened becomes ours and stops counting against that peer).
    pub(super) fn keep_our_partial(
        &mut self,
        topic: &TopicHash,
        group_id: Bytes,
        partial: Box<dyn Partial>,
    ) {
        let expiry = self.group_expiry();
        let hasher = self.hasher.clone();
        let groups = self
            .partial
            .groups
            .entry(topic.clone())
            .or_insert_with(|| Map::with_hasher(hasher.clone()));
        let group = groups.entry(group_id).or_insert_with(|| Group {
            ours: None,
            opened_by: None,
            expires_at: expiry,
            peers: Map::with_hasher(hasher),
        });
        group.expires_at = expiry;
        group.ours = Some(partial);
        if let Some(opener) = group.opened_by.take() {
            self.partial.forget_opener(topic, &opener);
        }
    }

    /// Sends `recipients` (distinct peers that support partial messages on `topic`) what they
    /// should get of our copy of the group. Returns the number of peers sent to.
    pub(super) fn send_our_partial(
        &mut self,
        topic: &TopicHash,
        group_id: &Bytes,
        mine: &Bytes,
        recipients: Vec<PeerId>,
    ) -> usize {
        let mut sends = Vec::new();
        let mut invalid = Vec::new();
        {
            let state = &mut self.partial;
            let requests: Vec<bool> = recipients
                .iter()
                .map(|p| state.options(p, topic).requests_partial)
                .collect();
            let Some(group) = state
                .groups
                .get_mut(topic)
                .and_then(|g| g.get_mut(group_id))
            else {
                return 0;
            };
            let Some(ours) = group.ours.as_ref() else {
                return 0;
            };
            let limits = state.limits;
            for (peer, requested) in recipients.into_iter().zip(requests) {
                let view = group.peers.entry(peer).or_default();
                let mut parts = None;
                if requested {
                    match ours.parts_for_peer(&peer, view.metadata().map(|m| &m[..])) {
                        Ok(answer) => {
                            parts = answer.parts.filter(|p| !p.is_empty());
                            if parts.is_some()
                                && let Some(after) = answer.peer_metadata
                            {
                                super::store_app_metadata(
                                    view,
                                    &peer,
                                    &mut state.account,
                                    &limits,
                                    after,
                                );
                            }
                        }
                        Err(_) => {
                            view.clear_metadata(&peer, &mut state.account);
                            invalid.push(peer);
                            continue;
                        }
                    }
                }
                let metadata = (view.sent.as_ref() != Some(mine)).then(|| mine.clone());
                if metadata.is_some() {
                    view.sent = Some(mine.clone());
                }
                if parts.is_some() || metadata.is_some() {
                    sends.push((peer, parts, metadata));
                }
            }
        }
        for peer in invalid {
            self.partial_invalid(&peer, topic, "parts metadata unusable by the application");
        }
        let sent = sends.len();
        for (peer, message, metadata) in sends {
            self.send_partial(
                peer,
                PartialMessage {
                    topic: topic.clone(),
                    group_id: group_id.clone(),
                    message,
                    metadata,
                },
            );
        }
        sent
    }
}
