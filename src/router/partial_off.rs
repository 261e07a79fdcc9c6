//! The router's partial-message hooks when the `partial-messages` feature is off: no topic
//! supports partial messages, and received ones are ignored (counted).

use libp2p_identity::PeerId;

use super::Router;
use crate::types::{PartialMessage, Subscription, SubscriptionOptions, TopicHash};

impl Router {
    pub(super) fn local_subscription_options(&self, _topic: &TopicHash) -> SubscriptionOptions {
        SubscriptionOptions::default()
    }

    pub(super) fn announces_partial_messages(&self) -> bool {
        false
    }

    pub(super) fn partial_unsubscribed(&mut self, _topic: &TopicHash) {}

    pub(super) fn partial_subscription(&mut self, _from: PeerId, _sub: &Subscription) {}

    pub(super) fn partial_peer_removed(&mut self, _peer: &PeerId) {}

    pub(super) fn wants_partial_only(&self, _peer: &PeerId, _topic: &TopicHash) -> bool {
        false
    }

    pub(super) fn skip_idontwant(&self, _peer: &PeerId, _topic: &TopicHash) -> bool {
        false
    }

    pub(super) fn expire_partial_groups(&mut self) {}

    pub(super) fn emit_partial_gossip(&mut self) {}

    pub(super) fn partial_invariant_violations(&self, _v: &mut Vec<String>) {}

    pub(super) fn handle_partial(&mut self, from: PeerId, partial: PartialMessage) {
        self.counters.partials_ignored += 1;
        tracing::debug!(peer = %from, topic = %partial.topic, "partial message ignored: the partial-messages feature is off");
    }
}
