//! Events reported to the application.

use libp2p_core::PeerRecord;
use libp2p_identity::PeerId;

use crate::types::{Message, MessageId, TopicHash};

/// An event of the gossipsub behaviour (and of the sans-IO router).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A message was received on a topic we are subscribed to.
    Message {
        /// The peer that forwarded it to us.
        propagation_source: PeerId,
        /// Its id; pass it to `report_message_validation_result` when `validate_messages` is on.
        message_id: MessageId,
        /// The message.
        message: Message,
    },
    /// A message we had already received arrived again (only with
    /// [`Config::report_duplicates`](crate::Config::report_duplicates) on). Not validated, not
    /// forwarded; reported once per copy received.
    Duplicate {
        /// The peer that sent this copy.
        propagation_source: PeerId,
        /// Its id.
        message_id: MessageId,
        /// Its topic.
        topic: TopicHash,
    },
    /// A peer subscribed to a topic.
    Subscribed {
        /// The peer.
        peer_id: PeerId,
        /// The topic.
        topic: TopicHash,
    },
    /// A peer unsubscribed from a topic.
    Unsubscribed {
        /// The peer.
        peer_id: PeerId,
        /// The topic.
        topic: TopicHash,
    },
    /// A connected peer supports none of our protocols; it is ignored from now on.
    GossipsubNotSupported {
        /// The peer.
        peer_id: PeerId,
    },
    /// A PRUNE carried peer exchange: these signed peer records were verified (signature
    /// valid, signer = the listed peer) and their peers are being dialled.
    PeerExchange {
        /// The peer that pruned us and offered the records.
        propagation_source: PeerId,
        /// The verified records.
        records: Vec<PeerRecord>,
    },
    /// A peer's score fell below a threshold since the previous heartbeat (peer scoring).
    PeerScoreBelowThreshold {
        /// The peer.
        peer_id: PeerId,
        /// Its score now.
        score: f64,
        /// The threshold it crossed downward.
        threshold: ScoreThreshold,
    },
    /// RPCs to a peer were dropped because it did not read them fast enough (its send queue
    /// was full, or they waited too long). Reported at most once per heartbeat per peer, with
    /// what was dropped since the previous report; with peer scoring, each drop also counts
    /// toward the slow-peer penalty.
    SlowPeer {
        /// The peer.
        peer_id: PeerId,
        /// What was dropped, per class.
        failed_messages: FailedMessages,
    },
}

/// RPCs that could not be sent to a peer, per class (compare libp2p-gossipsub's
/// `FailedMessages`, which has two classes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailedMessages {
    /// Our own publishes refused by a full queue.
    pub publish: usize,
    /// Forwards and IWANT replies refused by a full queue.
    pub forward: usize,
    /// Control RPCs refused by a full queue (the peer is then disconnected).
    pub control: usize,
    /// Publishes and forwards dropped because they waited longer than their queue duration.
    pub timeout: usize,
}

impl FailedMessages {
    /// All drops together.
    pub fn total(&self) -> usize {
        self.publish
            .saturating_add(self.forward)
            .saturating_add(self.control)
            .saturating_add(self.timeout)
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &FailedMessages) {
        self.publish = self.publish.saturating_add(other.publish);
        self.forward = self.forward.saturating_add(other.forward);
        self.control = self.control.saturating_add(other.control);
        self.timeout = self.timeout.saturating_add(other.timeout);
    }
}

/// The verdict of the application on a message received with `validate_messages` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageAcceptance {
    /// Valid: forward it to the mesh.
    Accept,
    /// Invalid: drop it (and, with peer scoring, penalise the sender).
    Reject,
    /// Not forwarded and not penalised.
    Ignore,
}

/// The score thresholds a peer can cross downward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScoreThreshold {
    /// 0: no longer grafted, pruned from meshes, no peer exchange.
    Zero,
    /// `gossip_threshold`: no IHAVE/IWANT either way.
    Gossip,
    /// `publish_threshold`: not used for our own publishes.
    Publish,
    /// `graylist_threshold`: all its RPCs are ignored.
    Graylist,
}
