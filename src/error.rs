//! Typed errors returned to the local application.

use crate::types::TopicHash;

/// Why a publish was refused. Except for [`PublishError::AllQueuesFull`], nothing was sent or
/// cached when an error is returned.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// The same message (same message id) was already published or seen recently.
    #[error("duplicate message: it was already published or seen")]
    Duplicate,
    /// Signing the message failed.
    #[error("failed to sign the message: {0}")]
    SigningError(String),
    /// No peer could be found to send the message to.
    #[error("no peers subscribed to topic {0} to publish to")]
    NoPeersSubscribedToTopic(TopicHash),
    /// The encoded message would exceed the configured maximum RPC size.
    #[error("message of {size} bytes exceeds max_transmit_size of {max} bytes")]
    MessageTooLarge {
        /// Encoded size of the message.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// The outbound [data transform](crate::DataTransform) refused the data.
    #[error("the data transform failed: {0}")]
    TransformFailed(#[from] crate::transform::TransformError),
    /// Every recipient's send queue was full: the message was queued nowhere. It stays in
    /// the message cache (and the seen cache), so it may still reach peers through gossip.
    /// Carries the number of peers whose queue refused it (as in libp2p-gossipsub).
    #[error("the send queues of all {0} peers are full")]
    AllQueuesFull(usize),
    /// The message-id function returned an id of `len` bytes, which receivers with our
    /// configuration drop from gossip (`message_id_len` fixes another length, or it exceeds
    /// `max_message_id_len`): the message could never be gossiped, requested or cancelled,
    /// so it was not published. The id function and the config disagree.
    #[error("the message id has {len} bytes, which gossip with this configuration drops")]
    MessageIdLength {
        /// The id's length in bytes.
        len: usize,
    },
    /// A batch ([`Behaviour::publish_batch`](crate::Behaviour::publish_batch)) held more
    /// messages than a peer's send queue holds (`send_queue_size`): it could never be queued
    /// whole, so none of it was published. Split it.
    #[error("a batch of {len} messages exceeds send_queue_size ({max}); nothing was published")]
    BatchTooLarge {
        /// The messages in the batch.
        len: usize,
        /// The most messages a batch may hold (`send_queue_size`).
        max: usize,
    },
    /// A batch ([`Behaviour::publish_batch`](crate::Behaviour::publish_batch)) of several
    /// messages held more data bytes than a peer's send queue holds (`send_queue_bytes`): it
    /// could never be queued whole, so none of it was published. Split it.
    #[error(
        "a batch of {bytes} data bytes exceeds send_queue_bytes ({max}); nothing was published"
    )]
    BatchTooManyBytes {
        /// The data bytes of the batch's messages together.
        bytes: usize,
        /// The most bytes a batch of several messages may hold (`send_queue_bytes`).
        max: usize,
    },
}

/// Why a subscription change was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// The topic is not allowed by the subscription filter.
    #[error("topic {0} is not allowed by the subscription filter")]
    NotAllowed(TopicHash),
    /// The topic is longer than `max_topic_len`, or its subscription announcement would exceed
    /// the maximum RPC size.
    #[error("topic {0} is too long to be announced")]
    TopicTooLong(TopicHash),
}

/// A configuration value was invalid; `field` names the config field (spec names in docs).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A field has an invalid value.
    #[error("invalid config field `{field}`: {reason}")]
    InvalidField {
        /// The offending field, as named by the builder method.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A per-topic value ([`ConfigBuilder::set_topic_config`](crate::ConfigBuilder::set_topic_config),
    /// [`ConfigBuilder::max_transmit_size_for_topic`](crate::ConfigBuilder::max_transmit_size_for_topic))
    /// is invalid.
    #[error("invalid config field `{field}` for topic {topic}: {reason}")]
    InvalidTopicField {
        /// The topic whose value is invalid.
        topic: TopicHash,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The message authenticity and validation mode do not fit together.
    #[error(
        "message authenticity {authenticity} is incompatible with validation mode {validation}"
    )]
    IncompatibleAuthenticity {
        /// The chosen authenticity.
        authenticity: &'static str,
        /// The chosen validation mode.
        validation: &'static str,
    },
}

/// Why a received message failed validation of its authenticity fields.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValidationError {
    /// A signature was required but absent.
    #[error("missing signature")]
    MissingSignature,
    /// The signature did not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// A sequence number was required but absent or not 8 bytes.
    #[error("missing or malformed sequence number")]
    InvalidSequenceNumber,
    /// The `from` field was required but absent or not a valid peer id.
    #[error("missing or invalid author (from) field")]
    InvalidPeerId,
    /// The `key` field does not match the author's peer id, or cannot be decoded.
    #[error("public key does not match the author")]
    InvalidKey,
    /// Signature, key, author or seqno present where the validation mode forbids them.
    #[error("authenticity fields present in anonymous mode")]
    SignaturePresent,
    /// Author present where the validation mode forbids it.
    #[error("author present in anonymous mode")]
    SourcePresent,
    /// The message has no topic.
    #[error("missing topic")]
    MissingTopic,
    /// Sequence number present where the validation mode forbids it.
    #[error("sequence number present in anonymous mode")]
    SequenceNumberPresent,
}
