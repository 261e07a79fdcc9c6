//! Events reported to the application.

use libp2p_core::PeerRecord;
use libp2p_identity::PeerId;

#[cfg(feature = "partial-messages")]
use crate::types::PartialMessage;
use crate::types::{Message, MessageId, TopicHash};

/// An event of the gossipsub behaviour (and of the sans-IO router).
///
/// The swarm reports them as `SwarmEvent::Behaviour(event)` (or inside your own combined
/// behaviour's event). A typical handler:
///
/// ```
/// use gossipsub::{Behaviour, Event, MessageAcceptance};
///
/// /// Handles one event of a behaviour built with `validate_messages(true)`.
/// fn on_event(gossipsub: &mut Behaviour, event: Event) {
///     match event {
///         Event::Message { propagation_source, message_id, message } => {
///             // Every message waits for a verdict before it is forwarded.
///             let verdict = match std::str::from_utf8(&message.data) {
///                 Ok(text) if !text.is_empty() => MessageAcceptance::Accept,
///                 Ok(_) => MessageAcceptance::Ignore, // harmless, not worth forwarding
///                 Err(_) => MessageAcceptance::Reject, // invalid: penalise the sender
///             };
///             gossipsub.report_message_validation_result(&message_id, &propagation_source, verdict);
///         }
///         Event::Subscribed { peer_id, topic, .. } => println!("{peer_id} joined {topic}"),
///         Event::SlowPeer { peer_id, failed_messages, .. } => {
///             eprintln!("{peer_id} is slow: {} RPCs dropped", failed_messages.total())
///         }
///         // Other events (and those added later: the enum is non-exhaustive).
///         _ => {}
///     }
/// }
/// # let key = libp2p::identity::Keypair::generate_ed25519();
/// # let mut gossipsub = Behaviour::new(
/// #     gossipsub::MessageAuthenticity::Signed(key),
/// #     gossipsub::ConfigBuilder::default().validate_messages(true).build().unwrap(),
/// # ).unwrap();
/// # on_event(&mut gossipsub, Event::Subscribed {
/// #     peer_id: libp2p::PeerId::random(),
/// #     topic: "news".into(),
/// # });
/// ```
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
    /// A partial message (Partial Messages extension) was received on a topic enabled for
    /// them: parts and/or the sender's parts metadata of a group (see [`crate::partial`]).
    /// Every one is reported, also for groups we published ourselves; report the parts with
    /// `report_partial`.
    #[cfg(feature = "partial-messages")]
    Partial {
        /// The peer that sent it.
        propagation_source: PeerId,
        /// The partial message.
        message: PartialMessage,
    },
}

/// RPCs that could not be sent to a peer, per class. Also carries libp2p-gossipsub's two
/// classes, [`priority`](Self::priority) and [`non_priority`](Self::non_priority), derived from
/// the four of ours, so code written for that crate reads the same numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailedMessages {
    /// libp2p-gossipsub's priority class: control RPCs (subscriptions, GRAFT, PRUNE,
    /// IDONTWANT) that could not be queued; equals [`control`](Self::control).
    pub priority: usize,
    /// libp2p-gossipsub's non-priority class: publishes and forwards refused by a full queue
    /// plus those that expired; `publish + forward + timeout`.
    pub non_priority: usize,
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
    /// Counts per class of ours; the two libp2p-gossipsub classes are derived from them.
    pub fn new(publish: usize, forward: usize, control: usize, timeout: usize) -> Self {
        FailedMessages {
            priority: control,
            non_priority: publish.saturating_add(forward).saturating_add(timeout),
            publish,
            forward,
            control,
            timeout,
        }
    }

    /// The same counts with [`priority`](Self::priority) and
    /// [`non_priority`](Self::non_priority) recomputed from the four classes of ours.
    pub(crate) fn normalized(&self) -> Self {
        Self::new(self.publish, self.forward, self.control, self.timeout)
    }

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
        *self = self.normalized();
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
