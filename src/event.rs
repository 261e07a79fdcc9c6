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
    /// A peer's send queue was full: this many RPCs to it were dropped since the last report.
    SlowPeer {
        /// The peer.
        peer_id: PeerId,
        /// Dropped RPCs (forwards, publishes or control).
        dropped: usize,
    },
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
