//! Ethereum consensus-layer gossip (consensus-specs `p2p-interface.md`): message ids, topic
//! names, the payload bound and, with the `snappy` feature, the snappy data transform.
//!
//! A beacon node needs three pieces, which `Behaviour::ethereum` (feature `snappy`) puts
//! together:
//! - [`Config::ethereum`](crate::Config::ethereum): the gossip parameters, anonymous messages
//!   (StrictNoSign) and the message ids below;
//! - a `SnappyTransform` (feature `snappy`) bounded by [`MAX_PAYLOAD_SIZE`], so the
//!   application and the message id see decompressed data while the wire carries snappy
//!   blocks;
//! - topic names from [`topic`].
//!
//! The id functions here assume that `Message::data` is the snappy-*decompressed* payload,
//! which holds when the snappy transform is installed. Without the `snappy` feature, install
//! a transform of your own that decompresses (with [`Behaviour::new_with_transform`]):
//! with the identity transform the ids would be computed over compressed data and would not
//! match other clients.
//!
//! [`Behaviour::new_with_transform`]: crate::Behaviour::new_with_transform

//! # Example
//!
//! A beacon node's gossip behaviour, subscribed to the block topic, with score parameters
//! derived from the slot timing the way consensus clients derive them: counters decay once
//! per slot, each counter's decay follows from how many epochs it should remember, caps and
//! thresholds follow from the expected message rate (one block per slot), and every penalty
//! is scaled so that it can cancel the largest positive score a peer can earn.
//!
//! ```
//! use std::time::Duration;
//!
//! use gossipsub::{
//!     ethereum, score_parameter_decay, PeerScoreParams, PeerScoreThresholds, TopicScoreParams,
//! };
//!
//! const SLOT: Duration = Duration::from_secs(12);
//! const SLOTS_PER_EPOCH: u32 = 32;
//! let epoch = SLOT * SLOTS_PER_EPOCH;
//!
//! // The most a peer can earn from all topics together; penalties are scaled against it.
//! let max_positive_score = 100.0;
//! let decay_interval = SLOT;
//!
//! let fork_digest = [0x6a, 0x95, 0xa1, 0xa9];
//! let block = ethereum::topic(fork_digest, "beacon_block").unwrap();
//!
//! // beacon_block: one message per slot, so per decay interval.
//! let topic_weight = 0.5;
//! let blocks_per_interval = 1.0;
//! // P1: time in mesh, counted in slots, worth up to 10 points after one hour.
//! let time_in_mesh_cap = 3600.0 / SLOT.as_secs_f64();
//! // P2: first deliveries, remembered for 20 epochs; the cap is the steady-state count of a
//! // peer that delivers every block first.
//! let first_decay = score_parameter_decay(epoch * 20, decay_interval);
//! let first_cap = blocks_per_interval / (1.0 - first_decay);
//! // P3: mesh deliveries, remembered for 5 epochs; a mesh peer must deliver at least a tenth
//! // of the blocks once it has been in the mesh for 4 epochs.
//! let mesh_decay = score_parameter_decay(epoch * 5, decay_interval);
//! let mesh_steady = blocks_per_interval / (1.0 - mesh_decay);
//! let mesh_threshold = mesh_steady / 10.0;
//! // A full deficit (threshold^2) costs the whole positive budget.
//! let mesh_weight = -max_positive_score / (topic_weight * mesh_threshold * mesh_threshold);
//!
//! let block_params = TopicScoreParams {
//!     topic_weight,
//!     time_in_mesh_weight: 10.0 / time_in_mesh_cap,
//!     time_in_mesh_quantum: SLOT,
//!     time_in_mesh_cap,
//!     first_message_deliveries_weight: 40.0 / first_cap,
//!     first_message_deliveries_decay: first_decay,
//!     first_message_deliveries_cap: first_cap,
//!     mesh_message_deliveries_weight: mesh_weight,
//!     mesh_message_deliveries_decay: mesh_decay,
//!     mesh_message_deliveries_cap: mesh_steady,
//!     mesh_message_deliveries_threshold: mesh_threshold,
//!     mesh_message_deliveries_window: Duration::from_secs(2),
//!     mesh_message_deliveries_activation: epoch * 4,
//!     mesh_failure_penalty_weight: mesh_weight,
//!     mesh_failure_penalty_decay: mesh_decay,
//!     // One invalid block cancels the whole positive budget; remembered for 50 epochs.
//!     invalid_message_deliveries_weight: -max_positive_score / topic_weight,
//!     invalid_message_deliveries_decay: score_parameter_decay(epoch * 50, decay_interval),
//! };
//!
//! let mut params = PeerScoreParams {
//!     topic_score_cap: max_positive_score / 2.0,
//!     decay_interval,
//!     retain_score: epoch * 100,
//!     behaviour_penalty_decay: score_parameter_decay(epoch * 10, decay_interval),
//!     ..PeerScoreParams::default()
//! };
//! params.topics.insert(block.hash(), block_params);
//! let thresholds = PeerScoreThresholds {
//!     gossip_threshold: -4000.0,
//!     publish_threshold: -8000.0,
//!     graylist_threshold: -16000.0,
//!     accept_px_threshold: 100.0,
//!     opportunistic_graft_threshold: 5.0,
//! };
//! params.validate().unwrap();
//! thresholds.validate().unwrap();
//!
//! # #[cfg(feature = "snappy")]
//! # {
//! use gossipsub::{Behaviour, Config};
//!
//! // Anonymous messages, the consensus ids and the snappy transform.
//! let mut gossipsub = Behaviour::ethereum(Config::ethereum()).unwrap();
//! gossipsub.with_peer_score(params, thresholds).unwrap();
//! gossipsub.subscribe(&block).unwrap();
//! # }
//! ```

#[cfg(test)]
mod tests;

use sha2::{Digest, Sha256};

use crate::types::{IdentTopic, Message, MessageId};

/// `MAX_PAYLOAD_SIZE`: the largest uncompressed gossip payload, 10 MiB.
pub const MAX_PAYLOAD_SIZE: usize = 10 * 1024 * 1024;

/// `MESSAGE_DOMAIN_VALID_SNAPPY`: the id domain of messages whose data decompresses.
pub const MESSAGE_DOMAIN_VALID_SNAPPY: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

/// `MESSAGE_DOMAIN_INVALID_SNAPPY`: the id domain of messages whose data does not decompress.
pub const MESSAGE_DOMAIN_INVALID_SNAPPY: [u8; 4] = [0x00, 0x00, 0x00, 0x00];

/// The length of an Ethereum message id: the first 20 bytes of a SHA-256 digest.
pub const MESSAGE_ID_LEN: usize = 20;

/// `max_compressed_len(n)`: snappy's worst-case compressed size of `n` bytes, `32 + n + n/6`.
pub const fn max_compressed_len(n: usize) -> usize {
    32 + n + n / 6
}

/// `max_message_size()`: the largest gossip message, `max(max_compressed_len(MAX_PAYLOAD_SIZE)
/// + 1024, 1 MiB)` = 12 234 442 bytes, used as `max_transmit_size` by the preset.
pub const MAX_MESSAGE_SIZE: usize = {
    let n = max_compressed_len(MAX_PAYLOAD_SIZE) + 1024;
    if n > 1024 * 1024 { n } else { 1024 * 1024 }
};

/// The message id of the Altair fork and later, for a message whose data decompressed:
/// `SHA256(MESSAGE_DOMAIN_VALID_SNAPPY ‖ u64le(len(topic)) ‖ topic ‖ decompressed data)[:20]`.
/// `message.data` must be the decompressed payload (the snappy transform's output).
pub fn message_id(message: &Message) -> MessageId {
    with_topic(MESSAGE_DOMAIN_VALID_SNAPPY, message)
}

/// The message id of the Altair fork and later, for a message whose data does not
/// decompress: `SHA256(MESSAGE_DOMAIN_INVALID_SNAPPY ‖ u64le(len(topic)) ‖ topic ‖ raw
/// data)[:20]`. Set it with
/// [`ConfigBuilder::invalid_message_id_fn`](crate::ConfigBuilder::invalid_message_id_fn);
/// the router hands it the wire data.
pub fn invalid_snappy_message_id(message: &Message) -> MessageId {
    with_topic(MESSAGE_DOMAIN_INVALID_SNAPPY, message)
}

/// The message id of phase 0 topics, which omits the topic:
/// `SHA256(MESSAGE_DOMAIN_VALID_SNAPPY ‖ decompressed data)[:20]`. Set it for phase-0 topics
/// with [`ConfigBuilder::message_id_fn_for_topic`](crate::ConfigBuilder::message_id_fn_for_topic).
pub fn phase0_message_id(message: &Message) -> MessageId {
    without_topic(MESSAGE_DOMAIN_VALID_SNAPPY, message)
}

/// The phase-0 id of a message whose data does not decompress:
/// `SHA256(MESSAGE_DOMAIN_INVALID_SNAPPY ‖ raw data)[:20]`. Set it for phase-0 topics with
/// [`ConfigBuilder::invalid_message_id_fn_for_topic`](crate::ConfigBuilder::invalid_message_id_fn_for_topic).
pub fn phase0_invalid_snappy_message_id(message: &Message) -> MessageId {
    without_topic(MESSAGE_DOMAIN_INVALID_SNAPPY, message)
}

fn with_topic(domain: [u8; 4], message: &Message) -> MessageId {
    let topic = message.topic.as_str().as_bytes();
    let digest = Sha256::new()
        .chain_update(domain)
        .chain_update((topic.len() as u64).to_le_bytes())
        .chain_update(topic)
        .chain_update(&message.data)
        .finalize();
    MessageId::new(digest[..MESSAGE_ID_LEN].to_vec())
}

fn without_topic(domain: [u8; 4], message: &Message) -> MessageId {
    let digest = Sha256::new()
        .chain_update(domain)
        .chain_update(&message.data)
        .finalize();
    MessageId::new(digest[..MESSAGE_ID_LEN].to_vec())
}

/// Why a beacon topic name was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicNameError {
    /// The name is empty.
    #[error("empty topic name")]
    Empty,
    /// The name contains a character other than ASCII letters, digits and `_`.
    #[error("topic name {0:?} has a character other than ASCII letters, digits and '_'")]
    InvalidCharacter(String),
}

/// The beacon gossip topic (identity-hashed: its hash is its name) `/eth2/<fork digest as lowercase hex>/<name>/ssz_snappy`, e.g.
/// `topic([0x6a, 0x95, 0xa1, 0xa9], "beacon_block")` is
/// `/eth2/6a95a1a9/beacon_block/ssz_snappy`. `name` is a topic name of the specs
/// (`beacon_block`, `beacon_attestation_7`, `data_column_sidecar_12`, ...): ASCII letters,
/// digits and `_`.
pub fn topic(fork_digest: [u8; 4], name: &str) -> Result<IdentTopic, TopicNameError> {
    if name.is_empty() {
        return Err(TopicNameError::Empty);
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(TopicNameError::InvalidCharacter(name.to_owned()));
    }
    Ok(IdentTopic::new(format!(
        "/eth2/{}/{name}/ssz_snappy",
        hex_fmt::HexFmt(fork_digest)
    )))
}

/// The snappy transform with the Ethereum bound ([`MAX_PAYLOAD_SIZE`]).
#[cfg(feature = "snappy")]
pub fn snappy_transform() -> crate::SnappyTransform {
    crate::SnappyTransform::new(MAX_PAYLOAD_SIZE)
}

#[cfg(feature = "snappy")]
impl crate::Behaviour {
    /// A behaviour for Ethereum consensus gossip: anonymous messages (StrictNoSign), the
    /// snappy transform bounded by [`MAX_PAYLOAD_SIZE`], and `config` (normally
    /// [`Config::ethereum`](crate::Config::ethereum), possibly adjusted; it must use
    /// [`ValidationMode::Anonymous`](crate::ValidationMode::Anonymous)).
    pub fn ethereum(config: crate::Config) -> Result<Self, crate::ConfigError> {
        Self::new_with_transform(
            crate::MessageAuthenticity::Anonymous,
            config,
            snappy_transform(),
        )
    }
}
