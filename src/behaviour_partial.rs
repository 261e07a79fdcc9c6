//! The Partial Messages extension on [`Behaviour`] (cargo feature `partial-messages`; see
//! [`crate::partial`]).

use std::time::Instant;

use libp2p_identity::PeerId;

use super::Behaviour;
use crate::error::SubscriptionError;
use crate::partial::{
    Partial, PartialFeedback, PartialLimits, PartialLimitsError, PublishPartialError,
};
use crate::types::{Hasher, Topic, TopicHash};

impl Behaviour {
    /// Subscribes to `topic` with partial messages enabled: the subscription announces that we
    /// can send partial messages there, and that we want them instead of full messages if
    /// `requests_partial`. Already subscribed: the new options are announced. Returns whether
    /// we were not subscribed before.
    pub fn subscribe_partial<H: Hasher>(
        &mut self,
        topic: &Topic<H>,
        requests_partial: bool,
    ) -> Result<bool, SubscriptionError> {
        let hash = topic.hash();
        let config = self.router.config();
        if hash.as_str().len() + 16 > config.max_transmit_size()
            || hash.as_str().len() > config.max_topic_len()
        {
            return Err(SubscriptionError::TopicTooLong(hash));
        }
        let changed = self
            .router
            .subscribe_partial(Instant::now(), hash, requests_partial);
        self.drain_router();
        self.update_keep_alive(Instant::now());
        changed
    }

    /// Publishes a partial message on `topic` (enabled with [`Behaviour::subscribe_partial`]):
    /// parts to the mesh peers that requested partial messages, our parts metadata to those
    /// that only support them. Peers that support neither need a full message: publish it with
    /// [`Behaviour::publish`]. Returns the number of peers something was sent to.
    pub fn publish_partial(
        &mut self,
        topic: impl Into<TopicHash>,
        partial: impl Partial,
    ) -> Result<usize, PublishPartialError> {
        let sent = self
            .router
            .publish_partial(Instant::now(), topic.into(), partial)?;
        self.drain_router();
        Ok(sent)
    }

    /// The application's verdict on parts `peer` sent on `topic` (from
    /// [`crate::Event::Partial`]): useful parts are rewarded (P2/P3), invalid ones penalised
    /// (P4), when peer scoring is on.
    pub fn report_partial(&mut self, peer: &PeerId, topic: &TopicHash, feedback: PartialFeedback) {
        self.router.report_partial(peer, topic, feedback);
    }

    /// The Partial Messages options `peer` announced with its subscription to `topic`.
    pub fn peer_partial_options(
        &self,
        peer: &PeerId,
        topic: &TopicHash,
    ) -> crate::types::SubscriptionOptions {
        self.router.peer_partial_options(peer, topic)
    }

    /// Sets the bounds on partial-message groups (default: [`PartialLimits::default`]).
    pub fn set_partial_limits(&mut self, limits: PartialLimits) -> Result<(), PartialLimitsError> {
        self.router.set_partial_limits(limits)
    }
}
