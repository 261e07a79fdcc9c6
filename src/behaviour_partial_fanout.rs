//! Partial messages to chosen peers on [`Behaviour`] (cargo feature `partial-messages`; see
//! [`crate::partial`]).

use std::time::Instant;

use libp2p_identity::PeerId;

use super::Behaviour;
use crate::error::SubscriptionError;
use crate::partial::{Partial, PublishPartialError};
use crate::types::{Hasher, Topic, TopicHash};

impl Behaviour {
    /// Enables partial messages on `topic` without subscribing to it (libp2p-gossipsub's
    /// `enable_partials_for_topic`): [`Behaviour::publish_partial_to`] can then publish there,
    /// and partial messages received on it reach the application as [`crate::Event::Partial`].
    /// A later [`Behaviour::subscribe`] announces `supportsSendingPartial`, and
    /// `requestsPartial` if `requests_partial`. On a subscribed topic this is
    /// [`Behaviour::subscribe_partial`]. Returns whether the topic was not enabled before.
    pub fn enable_partial<H: Hasher>(
        &mut self,
        topic: &Topic<H>,
        requests_partial: bool,
    ) -> Result<bool, SubscriptionError> {
        let enabled = self
            .router
            .enable_partial(Instant::now(), topic.hash(), requests_partial);
        self.drain_router();
        enabled
    }

    /// Disables partial messages on a topic enabled with [`Behaviour::enable_partial`] that we
    /// are not subscribed to, forgetting its groups. Returns whether it was enabled; a
    /// subscribed topic is left alone (unsubscribe from it instead).
    pub fn disable_partial(&mut self, topic: &TopicHash) -> bool {
        self.router.disable_partial(Instant::now(), topic)
    }

    /// Whether partial messages are enabled on `topic` ([`Behaviour::subscribe_partial`] or
    /// [`Behaviour::enable_partial`]).
    pub fn partial_enabled(&self, topic: &TopicHash) -> bool {
        self.router.partial_enabled(topic)
    }

    /// Publishes a partial message on `topic` to `peers` only, instead of the topic's mesh
    /// (go-libp2p-pubsub's `PublishPartial` with the recipients chosen by the application):
    /// a peer that requested partial messages gets the parts it lacks and our parts metadata,
    /// one that only supports them our metadata. The topic needs partial messages enabled
    /// ([`Behaviour::subscribe_partial`] or [`Behaviour::enable_partial`]). Peers that answer
    /// with their metadata later get what they lack.
    ///
    /// Every peer must be connected, speak the extension and have announced partial support
    /// on `topic` ([`Behaviour::peer_partial_options`]) or have sent us a partial message of
    /// the group; otherwise nothing is sent and the
    /// error names the first failing peer. Returns the number of peers something was sent to.
    pub fn publish_partial_to(
        &mut self,
        topic: impl Into<TopicHash>,
        partial: impl Partial,
        peers: impl IntoIterator<Item = PeerId>,
    ) -> Result<usize, PublishPartialError> {
        let peers: Vec<PeerId> = peers.into_iter().collect();
        let sent = self
            .router
            .publish_partial_to(Instant::now(), topic.into(), partial, &peers)?;
        self.drain_router();
        Ok(sent)
    }
}
