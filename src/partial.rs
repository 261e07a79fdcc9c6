//! The Partial Messages extension of meshsub 1.3 (libp2p/specs PR #685; cargo feature
//! `partial-messages`).
//!
//! A large message (an Ethereum PeerDAS data column, say) is made of parts. Peers that already
//! hold most parts (from their mempool) need only the few they miss. With this extension, peers
//! on a topic exchange *parts metadata* (an application-defined encoding of which parts a peer
//! has and which it wants) and *partial messages* (an application-defined encoding of some
//! parts), grouped by a *group id* (for example a block root) instead of a message id.
//!
//! What the router does, and what it leaves to the application:
//! - The application enables partial messages per topic with
//!   [`crate::Behaviour::subscribe_partial`] (or [`crate::router::Router::subscribe_partial`]). The
//!   subscription then carries `supportsSendingPartial`, and `requestsPartial` when asked.
//! - The router keeps, per topic and group, the last [`Partial`] the application published
//!   and, per peer, what the peer told us it has and wants (merged with
//!   [`Partial::merge_metadata`]) and the metadata we last sent it.
//! - [`crate::Behaviour::publish_partial`] pushes to the topic's mesh (or fanout) peers, and to
//!   peers that already talked to us about the group: parts ([`Partial::parts_for_peer`]) and
//!   our metadata to peers that requested partial messages; only our metadata to peers that
//!   support but did not request them. Peers that support neither get full messages, which the
//!   application publishes with [`crate::Behaviour::publish`] as usual (the router then skips
//!   the peers that requested partial messages).
//! - Every received partial message goes to the application as
//!   [`crate::Event::Partial`], also for groups we published ourselves. The application
//!   verifies the parts, merges them into its own copy, and calls `publish_partial` again with
//!   the richer [`Partial`]; it reports parts with [`crate::Behaviour::report_partial`]
//!   ([`PartialFeedback::Useful`] rewards the sender like a first message delivery (P2/P3),
//!   [`PartialFeedback::Invalid`] penalises it like an invalid message (P4)).
//! - Groups are bounded: a peer can open at most [`PartialLimits::groups_per_peer`] groups per
//!   topic, all peers together at most [`PartialLimits::groups_per_topic`], and every group is
//!   forgotten [`PartialLimits::group_ttl_heartbeats`] heartbeats after it was opened or after
//!   our last publish to it; the groups a peer opened (and we did not publish to) are forgotten
//!   when it disconnects. Group ids are at most [`MAX_PARTIAL_GROUP_ID_LEN`] bytes and parts
//!   metadata at most [`MAX_PARTS_METADATA_LEN`] bytes.
//! - What a peer costs is bounded: the parts metadata kept from it, over all groups and topics,
//!   at most [`PartialLimits::metadata_bytes_per_peer`] bytes (each group it spoke about
//!   counting [`GROUP_PEER_CHARGE`] more), from all peers [`PartialLimits::metadata_bytes_total`];
//!   every partial message it sends costs at least [`PARTIAL_MIN_CHARGE`] bytes of its
//!   per-heartbeat byte budget, and it may send at most
//!   [`PartialLimits::partials_per_peer_per_heartbeat`] per heartbeat.
//! - A publish goes to the mesh peers and to the peers that sent us a partial message for the
//!   group; peers that were only told our metadata by lazy gossip ask when they lack parts.
//!
//! The trait is modelled on libp2p-gossipsub 0.50's `Partial` (group id, metadata, the parts a
//! peer should get given its metadata) with the metadata kept as plain bytes.
//!
//! # Example
//!
//! A message of up to eight one-byte parts; its parts metadata is one byte with bit `i` set
//! when part `i` is held, and parts travel as `(index, value)` pairs.
//!
//! ```
//! use bytes::Bytes;
//! use gossipsub::partial::{Partial, PartialError, PartialFeedback, PartsForPeer};
//! use gossipsub::{Behaviour, ConfigBuilder, Event, IdentTopic, MessageAuthenticity};
//! use libp2p_identity::{Keypair, PeerId};
//!
//! #[derive(Clone)]
//! struct Column {
//!     block_root: [u8; 32],
//!     cells: [Option<u8>; 8],
//! }
//!
//! impl Column {
//!     fn held(&self) -> u8 {
//!         (0..8).filter(|&i| self.cells[i].is_some()).fold(0, |m, i| m | 1 << i)
//!     }
//! }
//!
//! impl Partial for Column {
//!     fn group_id(&self) -> Bytes {
//!         Bytes::copy_from_slice(&self.block_root)
//!     }
//!
//!     fn parts_metadata(&self) -> Bytes {
//!         Bytes::from(vec![self.held()])
//!     }
//!
//!     fn parts_for_peer(
//!         &self,
//!         _peer: &PeerId,
//!         peer_metadata: Option<&[u8]>,
//!     ) -> Result<PartsForPeer, PartialError> {
//!         let has = match peer_metadata {
//!             None => 0,
//!             Some([bits]) => *bits,
//!             Some(_) => return Err(PartialError::InvalidMetadata),
//!         };
//!         let mut parts = Vec::new();
//!         for (i, cell) in self.cells.iter().enumerate() {
//!             if let Some(value) = cell.filter(|_| has & (1 << i) == 0) {
//!                 parts.extend_from_slice(&[i as u8, value]);
//!             }
//!         }
//!         Ok(PartsForPeer {
//!             parts: (!parts.is_empty()).then(|| Bytes::from(parts)),
//!             peer_metadata: Some(Bytes::from(vec![has | self.held()])),
//!         })
//!     }
//!
//!     fn merge_metadata(&self, known: &[u8], update: &[u8]) -> Result<Bytes, PartialError> {
//!         match (known, update) {
//!             ([a], [b]) => Ok(Bytes::from(vec![a | b])),
//!             _ => Err(PartialError::InvalidMetadata),
//!         }
//!     }
//! }
//!
//! let key = Keypair::generate_ed25519();
//! let config = ConfigBuilder::default().build().unwrap();
//! let mut gossipsub = Behaviour::new(MessageAuthenticity::Signed(key), config).unwrap();
//! let topic = IdentTopic::new("/eth2/00000000/data_column_sidecar_3/ssz_snappy");
//! // Announce `supportsSendingPartial` and `requestsPartial` on the topic.
//! gossipsub.subscribe_partial(&topic, true).unwrap();
//! // Publish what we hold; call again whenever more cells arrive.
//! let mut cells = [None; 8];
//! cells[0] = Some(1);
//! cells[2] = Some(3);
//! let column = Column { block_root: [7; 32], cells };
//! let peers = gossipsub.publish_partial(topic.clone(), column).unwrap();
//! assert_eq!(peers, 0); // nobody connected in this example
//!
//! // In the swarm's event loop:
//! fn on_event(gossipsub: &mut Behaviour, event: Event) {
//!     if let Event::Partial { propagation_source, message } = event {
//!         // Verify `message.message` (the cells) against the group, merge what is new into
//!         // our copy, publish_partial the richer copy, and tell the router how it went:
//!         gossipsub.report_partial(&propagation_source, &message.topic, PartialFeedback::Useful);
//!     }
//! }
//! # let _ = on_event;
//! ```

use bytes::Bytes;
use libp2p_identity::PeerId;

use crate::types::TopicHash;

pub use crate::wire::{MAX_PARTIAL_GROUP_ID_LEN, MAX_PARTS_METADATA_LEN};

/// A message made of parts, as the application holds it: complete, partly complete or empty.
///
/// The router keeps the last one published per topic and group (until the group expires) and
/// asks it what to send each peer. Implementations should be cheap to query; they are called
/// from the router's event loop.
pub trait Partial: Send + 'static {
    /// The id of the group this message belongs to: every part of one logical message has the
    /// same group id (at most [`MAX_PARTIAL_GROUP_ID_LEN`] bytes).
    fn group_id(&self) -> Bytes;

    /// Our parts metadata: which parts we have and which we want, in the application's
    /// encoding (at most [`MAX_PARTS_METADATA_LEN`] bytes). Sent to peers whenever it changed
    /// since we last sent it to them.
    fn parts_metadata(&self) -> Bytes;

    /// What to send `peer`, given its parts metadata as we know it (`None`: it has told us
    /// nothing yet, so this is an eager push). Return no parts when there is nothing it
    /// lacks. An error means the peer's metadata is unusable: the peer is penalised (P4) and
    /// what we knew of it for this group is forgotten.
    fn parts_for_peer(
        &self,
        peer: &PeerId,
        peer_metadata: Option<&[u8]>,
    ) -> Result<PartsForPeer, PartialError>;

    /// Merges a peer's new parts metadata `update` into what we knew of it, `known` (for a
    /// bitmap of parts held: their union). The default takes `update` as it is. An error
    /// means `update` is invalid: the peer is penalised (P4).
    ///
    /// Merge monotonically (a union): with the default, a peer can ask for parts again by
    /// sending metadata that holds less. The router answers a peer with parts at most once per
    /// group and heartbeat, but an application that republishes on every received partial
    /// pushes the parts again each time.
    fn merge_metadata(&self, known: &[u8], update: &[u8]) -> Result<Bytes, PartialError> {
        let _ = known;
        Ok(Bytes::copy_from_slice(update))
    }
}

/// The answer of [`Partial::parts_for_peer`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartsForPeer {
    /// The encoded parts to send (`partialMessage`), if any.
    pub parts: Option<Bytes>,
    /// The peer's parts metadata once it has them (what we then know of it), if it changes.
    pub peer_metadata: Option<Bytes>,
}

/// The application's verdict on a partial message received from a peer (see
/// [`crate::Behaviour::report_partial`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartialFeedback {
    /// The parts were new and valid: rewarded like a first message delivery (P2, and P3
    /// when the peer is in the topic's mesh).
    Useful,
    /// The parts were invalid: penalised like an invalid message (P4).
    Invalid,
}

/// An error of the application's [`Partial`] implementation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartialError {
    /// The parts metadata could not be decoded or does not fit the group.
    #[error("invalid parts metadata")]
    InvalidMetadata,
    /// Any other failure, described by the application.
    #[error("partial message error: {0}")]
    Other(String),
}

/// Why [`crate::router::Router::publish_partial`] refused a partial message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishPartialError {
    /// The topic is not enabled for partial messages (see `subscribe_partial`).
    #[error("partial messages are not enabled on topic {0}")]
    NotEnabled(TopicHash),
    /// The group id is longer than [`MAX_PARTIAL_GROUP_ID_LEN`].
    #[error("group id of {len} bytes exceeds {MAX_PARTIAL_GROUP_ID_LEN}")]
    GroupIdTooLong {
        /// Its length.
        len: usize,
    },
    /// The parts metadata is longer than [`MAX_PARTS_METADATA_LEN`].
    #[error("parts metadata of {len} bytes exceeds {MAX_PARTS_METADATA_LEN}")]
    MetadataTooLong {
        /// Its length.
        len: usize,
    },
    /// A peer given to `publish_partial_to` is not connected.
    #[error("peer {0} is not connected")]
    PeerNotConnected(PeerId),
    /// A peer given to `publish_partial_to` is blacklisted.
    #[error("peer {0} is blacklisted")]
    PeerBlacklisted(PeerId),
    /// A peer given to `publish_partial_to` does not speak the Partial Messages extension
    /// (meshsub 1.3) or has not announced partial support on the topic.
    #[error("peer {peer} does not support partial messages on topic {topic}")]
    PeerWithoutPartials {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: TopicHash,
    },
}

/// The least a received partial message is charged against its sender's per-heartbeat byte
/// budget (`max_message_bytes_per_peer_per_heartbeat`), whatever it carries: an empty one still
/// costs a decode, a group lookup and an event to the application.
pub const PARTIAL_MIN_CHARGE: usize = 64;

/// What each group a peer sent us a partial message for costs against
/// [`PartialLimits::metadata_bytes_per_peer`] and [`PartialLimits::metadata_bytes_total`], on
/// top of the bytes of its parts metadata: what the router keeps of the peer in the group.
pub const GROUP_PEER_CHARGE: usize = 128;

/// Bounds on the groups and parts metadata the router keeps, and on the partial messages it
/// takes from a peer (the group bounds are go-libp2p-pubsub's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialLimits {
    /// Groups that peers may open per topic, all peers together (a group is opened by a peer
    /// when its partial message is the first we see of the group). Default 255.
    pub groups_per_topic: usize,
    /// Groups one peer may open per topic. Default 8.
    pub groups_per_peer: usize,
    /// Heartbeats a group is kept after it was opened or after our last publish to it.
    /// Default 5; at least [`MIN_GROUP_TTL_HEARTBEATS`].
    pub group_ttl_heartbeats: u32,
    /// Bytes of parts metadata kept from one peer, over all its groups and topics, each group
    /// it sent us a partial message for counting [`GROUP_PEER_CHARGE`] more. An update that
    /// would go over is not kept (what we knew stays) and not answered with parts. Default
    /// 64 KiB (56 groups of the largest metadata, 500 of none); at least
    /// [`MAX_PARTS_METADATA_LEN`] + [`GROUP_PEER_CHARGE`].
    pub metadata_bytes_per_peer: usize,
    /// Bytes of parts metadata kept from all peers together. Default 16 MiB; at least
    /// `metadata_bytes_per_peer`.
    pub metadata_bytes_total: usize,
    /// Partial messages taken from one peer per heartbeat (direct peers exempt), on top of
    /// the byte budget they share with its full messages. Default 1024; at least 1.
    pub partials_per_peer_per_heartbeat: usize,
}

/// The shortest group lifetime allowed, in heartbeats (as go-libp2p-pubsub).
pub const MIN_GROUP_TTL_HEARTBEATS: u32 = 3;

impl Default for PartialLimits {
    fn default() -> Self {
        PartialLimits {
            groups_per_topic: 255,
            groups_per_peer: 8,
            group_ttl_heartbeats: 5,
            metadata_bytes_per_peer: 64 * 1024,
            metadata_bytes_total: 16 << 20,
            partials_per_peer_per_heartbeat: 1024,
        }
    }
}

/// Why [`PartialLimits`] were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartialLimitsError {
    /// `group_ttl_heartbeats` is below [`MIN_GROUP_TTL_HEARTBEATS`].
    #[error("group_ttl_heartbeats {0} is below {MIN_GROUP_TTL_HEARTBEATS}")]
    TtlTooShort(u32),
    /// A group bound is zero, or `groups_per_peer` exceeds `groups_per_topic`.
    #[error("groups_per_peer ({per_peer}) must be between 1 and groups_per_topic ({per_topic})")]
    InvalidGroupBounds {
        /// `groups_per_peer`.
        per_peer: usize,
        /// `groups_per_topic`.
        per_topic: usize,
    },
    /// `metadata_bytes_per_peer` is below [`MAX_PARTS_METADATA_LEN`] +
    /// [`GROUP_PEER_CHARGE`] (one peer's largest metadata for one group could not be kept), or
    /// `metadata_bytes_total` below `metadata_bytes_per_peer`.
    #[error(
        "metadata_bytes_per_peer ({per_peer}) must be between MAX_PARTS_METADATA_LEN + GROUP_PEER_CHARGE and metadata_bytes_total ({total})"
    )]
    InvalidMetadataBounds {
        /// `metadata_bytes_per_peer`.
        per_peer: usize,
        /// `metadata_bytes_total`.
        total: usize,
    },
    /// `partials_per_peer_per_heartbeat` is zero: no partial message could be received.
    #[error("partials_per_peer_per_heartbeat must be at least 1")]
    NoPartialsPerHeartbeat,
}

impl PartialLimits {
    /// Checks the limits.
    pub fn validate(&self) -> Result<(), PartialLimitsError> {
        if self.group_ttl_heartbeats < MIN_GROUP_TTL_HEARTBEATS {
            return Err(PartialLimitsError::TtlTooShort(self.group_ttl_heartbeats));
        }
        if self.groups_per_peer == 0 || self.groups_per_peer > self.groups_per_topic {
            return Err(PartialLimitsError::InvalidGroupBounds {
                per_peer: self.groups_per_peer,
                per_topic: self.groups_per_topic,
            });
        }
        if self.metadata_bytes_per_peer < MAX_PARTS_METADATA_LEN + GROUP_PEER_CHARGE
            || self.metadata_bytes_total < self.metadata_bytes_per_peer
        {
            return Err(PartialLimitsError::InvalidMetadataBounds {
                per_peer: self.metadata_bytes_per_peer,
                total: self.metadata_bytes_total,
            });
        }
        if self.partials_per_peer_per_heartbeat == 0 {
            return Err(PartialLimitsError::NoPartialsPerHeartbeat);
        }
        Ok(())
    }
}
