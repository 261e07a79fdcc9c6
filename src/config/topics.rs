//! Per-topic mesh degrees and message size limits, the protocol id prefix, the highest meshsub
//! version offered, and the exact message-id length accepted in gossip.
//!
//! The per-topic settings follow libp2p-gossipsub 0.50 (`set_topic_config`,
//! `max_transmit_size_for_topic`, `protocol_id_prefix`): a topic without an entry uses the
//! global values.

use std::collections::HashMap;

use super::{Config, ConfigBuilder};
use crate::error::ConfigError;
use crate::types::{PeerKind, TopicHash};

/// The protocol id prefix of the public network: `/meshsub/1.3.0`, `/meshsub/1.2.0`, ...
pub const DEFAULT_PROTOCOL_ID_PREFIX: &str = "/meshsub";

/// The longest accepted [`ConfigBuilder::protocol_id_prefix`], in bytes (multistream-select
/// refuses protocol names above 140 bytes; the version suffix takes 6).
const MAX_PROTOCOL_ID_PREFIX_LEN: usize = 128;

/// The mesh degrees of one topic (libp2p-gossipsub 0.50's `TopicMeshConfig`), set with
/// [`ConfigBuilder::set_topic_config`]. The same rules as for the global values apply
/// (checked by [`ConfigBuilder::build`]): `1 <= mesh_n_low <= mesh_n <= mesh_n_high`,
/// `mesh_outbound_min < mesh_n_low` and `mesh_outbound_min <= mesh_n / 2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicMeshConfig {
    /// D: the target mesh size of the topic.
    pub mesh_n: usize,
    /// D_lo: below this, the heartbeat grafts up to D.
    pub mesh_n_low: usize,
    /// D_hi: above this, the heartbeat prunes down to D; GRAFTs from inbound peers are refused
    /// at this size.
    pub mesh_n_high: usize,
    /// D_out: the minimum number of outbound peers in the mesh.
    pub mesh_outbound_min: usize,
}

/// What [`Config`] holds per topic.
#[derive(Debug, Clone, Default)]
pub(crate) struct PerTopic {
    mesh: HashMap<TopicHash, TopicMeshConfig>,
    max_transmit_size: HashMap<TopicHash, usize>,
}

impl Config {
    /// The mesh degrees of `topic`: its [`TopicMeshConfig`] when one was set, otherwise the
    /// global `mesh_n`, `mesh_n_low`, `mesh_n_high` and `mesh_outbound_min`.
    pub fn topic_mesh_config(&self, topic: &TopicHash) -> TopicMeshConfig {
        self.per_topic
            .mesh
            .get(topic)
            .copied()
            .unwrap_or(TopicMeshConfig {
                mesh_n: self.mesh_n,
                mesh_n_low: self.mesh_n_low,
                mesh_n_high: self.mesh_n_high,
                mesh_outbound_min: self.mesh_outbound_min,
            })
    }

    /// D of `topic` (see [`topic_mesh_config`](Self::topic_mesh_config)).
    pub fn mesh_n_for_topic(&self, topic: &TopicHash) -> usize {
        self.topic_mesh_config(topic).mesh_n
    }

    /// D_lo of `topic` (see [`topic_mesh_config`](Self::topic_mesh_config)).
    pub fn mesh_n_low_for_topic(&self, topic: &TopicHash) -> usize {
        self.topic_mesh_config(topic).mesh_n_low
    }

    /// D_hi of `topic` (see [`topic_mesh_config`](Self::topic_mesh_config)).
    pub fn mesh_n_high_for_topic(&self, topic: &TopicHash) -> usize {
        self.topic_mesh_config(topic).mesh_n_high
    }

    /// D_out of `topic` (see [`topic_mesh_config`](Self::topic_mesh_config)).
    pub fn mesh_outbound_min_for_topic(&self, topic: &TopicHash) -> usize {
        self.topic_mesh_config(topic).mesh_outbound_min
    }

    /// The largest encoded message (alone in an RPC) accepted and published on `topic`: the
    /// value set with [`ConfigBuilder::max_transmit_size_for_topic`], otherwise
    /// [`max_transmit_size`](Self::max_transmit_size). A received message above it is
    /// rejected (P4, counter `messages_over_topic_size`); a publish above it fails with
    /// [`PublishError::MessageTooLarge`](crate::PublishError::MessageTooLarge). It is never
    /// above `max_transmit_size`, which stays the frame limit.
    pub fn max_transmit_size_for_topic(&self, topic: &TopicHash) -> usize {
        self.per_topic
            .max_transmit_size
            .get(topic)
            .copied()
            .unwrap_or(self.max_transmit_size)
    }

    /// Whether some topic has its own `max_transmit_size` (a cheap test before the per-message
    /// size check).
    pub(crate) fn has_topic_size_limits(&self) -> bool {
        !self.per_topic.max_transmit_size.is_empty()
    }

    /// The protocol id prefix: we offer `<prefix>/1.3.0`, `<prefix>/1.2.0`, `<prefix>/1.1.0`
    /// and `<prefix>/1.0.0` (up to [`max_protocol`](Self::max_protocol)), so nodes with
    /// different prefixes never negotiate a stream with each other. Default `/meshsub`.
    /// `/floodsub/1.0.0` (when [`support_floodsub`](Self::support_floodsub) is on) is not
    /// prefixed.
    pub fn protocol_id_prefix(&self) -> &str {
        &self.protocol_id_prefix
    }

    /// The newest meshsub version offered: [`PeerKind::Gossipsubv1_3`] (default), `v1_2`,
    /// `v1_1` or [`PeerKind::Gossipsub`] (1.0). Older versions are always offered too.
    pub fn max_protocol(&self) -> PeerKind {
        self.max_protocol
    }

    /// The exact length of the message ids this network uses, when it fixes one: IHAVE,
    /// IWANT and IDONTWANT ids of another length are dropped when the RPC is decoded
    /// (counter `message_ids_wrong_len`), since no message can have them. `None` (default):
    /// any length up to [`max_message_id_len`](Self::max_message_id_len). The Ethereum preset
    /// sets 20: consensus-specs `p2p-interface.md` requires the message id to be "the following
    /// 20 byte value".
    pub fn message_id_len(&self) -> Option<usize> {
        self.message_id_len
    }
}

impl ConfigBuilder {
    /// Sets the mesh degrees of `topic` ([`Config::topic_mesh_config`]); libp2p-gossipsub
    /// 0.50's `set_topic_config`. The heartbeat, GRAFT handling, joins and fanout of `topic`
    /// use them instead of the global degrees.
    pub fn set_topic_config(&mut self, topic: TopicHash, config: TopicMeshConfig) -> &mut Self {
        self.config.per_topic.mesh.insert(topic, config);
        self
    }

    /// Sets the largest encoded message accepted and published on `topic`
    /// ([`Config::max_transmit_size_for_topic`]); at least 128 and at most
    /// `max_transmit_size`.
    pub fn max_transmit_size_for_topic(&mut self, max: usize, topic: TopicHash) -> &mut Self {
        self.config.per_topic.max_transmit_size.insert(topic, max);
        self
    }

    /// Sets the protocol id prefix ([`Config::protocol_id_prefix`]), e.g. `/mynet` for
    /// `/mynet/1.3.0` and older. It must start with `/`, must not end with `/`, and must be
    /// printable ASCII without spaces, at most 128 bytes; `/floodsub` is refused (its 1.0 id
    /// would be floodsub's). Default `/meshsub`.
    pub fn protocol_id_prefix(&mut self, prefix: impl Into<String>) -> &mut Self {
        self.config.protocol_id_prefix = prefix.into();
        self
    }

    /// Sets the newest meshsub version offered ([`Config::max_protocol`]): one of
    /// [`PeerKind::Gossipsubv1_3`] (default), `Gossipsubv1_2`, `Gossipsubv1_1` or
    /// [`PeerKind::Gossipsub`].
    pub fn max_protocol(&mut self, kind: PeerKind) -> &mut Self {
        self.config.max_protocol = kind;
        self
    }

    /// Sets the exact message-id length accepted in gossip ([`Config::message_id_len`]): at
    /// least 1 and at most `max_message_id_len`. Default `None` (any length).
    pub fn message_id_len(&mut self, len: Option<usize>) -> &mut Self {
        self.config.message_id_len = len;
        self
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidField {
        field,
        reason: reason.into(),
    }
}

fn invalid_topic(topic: &TopicHash, field: &'static str, reason: String) -> ConfigError {
    ConfigError::InvalidTopicField {
        topic: topic.clone(),
        field,
        reason,
    }
}

/// The checks of this file's settings (run by [`ConfigBuilder::build`] after the others).
pub(super) fn validate(c: &Config, min_transmit_size: usize) -> Result<(), ConfigError> {
    let prefix = c.protocol_id_prefix.as_str();
    if !prefix.starts_with('/')
        || prefix.len() < 2
        || prefix.ends_with('/')
        || prefix.len() > MAX_PROTOCOL_ID_PREFIX_LEN
        || !prefix.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(invalid(
            "protocol_id_prefix",
            format!(
                "{prefix:?} must start with '/', not end with '/', and be printable ASCII \
                 without spaces of at most {MAX_PROTOCOL_ID_PREFIX_LEN} bytes"
            ),
        ));
    }
    if prefix == "/floodsub" {
        // `/floodsub/1.0.0` (meshsub 1.0 under this prefix) is floodsub's own protocol id.
        return Err(invalid(
            "protocol_id_prefix",
            "\"/floodsub\" would offer meshsub 1.0 as /floodsub/1.0.0, floodsub's protocol id",
        ));
    }
    if !c.max_protocol.is_gossipsub() {
        return Err(invalid(
            "max_protocol",
            format!("{:?} is not a meshsub version", c.max_protocol),
        ));
    }
    if let Some(len) = c.message_id_len
        && (len == 0 || len > c.max_message_id_len)
    {
        return Err(invalid(
            "message_id_len",
            format!(
                "{len} is not in 1..=max_message_id_len ({})",
                c.max_message_id_len
            ),
        ));
    }
    for (topic, &max) in &c.per_topic.max_transmit_size {
        if max < min_transmit_size || max > c.max_transmit_size {
            return Err(invalid_topic(
                topic,
                "max_transmit_size_for_topic",
                format!(
                    "{max} is not in {min_transmit_size}..=max_transmit_size ({})",
                    c.max_transmit_size
                ),
            ));
        }
    }
    for (topic, d) in &c.per_topic.mesh {
        let checks = [
            (d.mesh_n_low >= 1, "mesh_n_low", "must be at least 1"),
            (d.mesh_n_low <= d.mesh_n, "mesh_n_low", "exceeds mesh_n"),
            (d.mesh_n <= d.mesh_n_high, "mesh_n_high", "is below mesh_n"),
            (
                d.mesh_outbound_min < d.mesh_n_low,
                "mesh_outbound_min",
                "must be below mesh_n_low",
            ),
            (
                d.mesh_outbound_min <= d.mesh_n / 2,
                "mesh_outbound_min",
                "exceeds half of mesh_n",
            ),
        ];
        if let Some((_, field, reason)) = checks.into_iter().find(|(ok, _, _)| !ok) {
            return Err(invalid_topic(topic, field, format!("{reason} ({d:?})")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> TopicHash {
        TopicHash::from(name)
    }

    #[test]
    fn topics_without_an_entry_use_the_global_values() {
        let mut b = ConfigBuilder::default();
        b.mesh_n(8).mesh_n_low(6).mesh_n_high(12).set_topic_config(
            topic("blobs"),
            TopicMeshConfig {
                mesh_n: 4,
                mesh_n_low: 3,
                mesh_n_high: 6,
                mesh_outbound_min: 1,
            },
        );
        b.max_transmit_size(1 << 20)
            .max_transmit_size_for_topic(1000, topic("small"));
        let c = b.build().unwrap();
        assert_eq!(c.mesh_n_for_topic(&topic("blobs")), 4);
        assert_eq!(c.mesh_n_low_for_topic(&topic("blobs")), 3);
        assert_eq!(c.mesh_n_high_for_topic(&topic("blobs")), 6);
        assert_eq!(c.mesh_outbound_min_for_topic(&topic("blobs")), 1);
        assert_eq!(c.mesh_n_for_topic(&topic("other")), 8);
        assert_eq!(c.mesh_n_low_for_topic(&topic("other")), 6);
        assert_eq!(c.max_transmit_size_for_topic(&topic("small")), 1000);
        assert_eq!(c.max_transmit_size_for_topic(&topic("other")), 1 << 20);
        assert!(c.has_topic_size_limits());
        assert!(!Config::default().has_topic_size_limits());
    }

    #[test]
    fn invalid_topic_degrees_are_typed_errors_naming_the_topic() {
        for (d, field) in [
            ((6, 0, 12, 0), "mesh_n_low"),
            ((6, 7, 12, 2), "mesh_n_low"),
            ((6, 5, 5, 2), "mesh_n_high"),
            ((6, 2, 12, 2), "mesh_outbound_min"),
            ((6, 5, 12, 4), "mesh_outbound_min"),
        ] {
            let mut b = ConfigBuilder::default();
            b.set_topic_config(
                topic("t"),
                TopicMeshConfig {
                    mesh_n: d.0,
                    mesh_n_low: d.1,
                    mesh_n_high: d.2,
                    mesh_outbound_min: d.3,
                },
            );
            match b.build() {
                Err(ConfigError::InvalidTopicField {
                    topic: t, field: f, ..
                }) => {
                    assert_eq!((t, f), (topic("t"), field), "{d:?}");
                }
                other => panic!("{d:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn topic_size_must_lie_between_the_minimum_and_the_frame_limit() {
        for max in [127, 65_537] {
            let err = ConfigBuilder::default()
                .max_transmit_size_for_topic(max, topic("t"))
                .build()
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::InvalidTopicField {
                        field: "max_transmit_size_for_topic",
                        ..
                    }
                ),
                "{max}: {err:?}"
            );
        }
        assert!(
            ConfigBuilder::default()
                .max_transmit_size_for_topic(128, topic("t"))
                .build()
                .is_ok()
        );
    }

    #[test]
    fn protocol_id_prefix_is_checked() {
        assert_eq!(Config::default().protocol_id_prefix(), "/meshsub");
        for bad in ["", "/", "mynet", "/mynet/", "/my net", "/é"] {
            let err = ConfigBuilder::default()
                .protocol_id_prefix(bad)
                .build()
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::InvalidField {
                        field: "protocol_id_prefix",
                        ..
                    }
                ),
                "{bad:?}: {err:?}"
            );
        }
        let long = format!("/{}", "a".repeat(MAX_PROTOCOL_ID_PREFIX_LEN));
        assert!(
            ConfigBuilder::default()
                .protocol_id_prefix(long)
                .build()
                .is_err()
        );
        let c = ConfigBuilder::default()
            .protocol_id_prefix("/mynet/gossip")
            .build()
            .unwrap();
        assert_eq!(c.protocol_id_prefix(), "/mynet/gossip");
    }

    /// `<prefix>/1.0.0` with the prefix `/floodsub` is floodsub's protocol id: a floodsub peer
    /// would negotiate it and be treated as a meshsub 1.0 peer (and with `support_floodsub`
    /// the id would be offered twice, for two kinds).
    #[test]
    fn a_prefix_that_makes_floodsubs_id_is_refused() {
        for floodsub in [false, true] {
            let err = ConfigBuilder::default()
                .protocol_id_prefix("/floodsub")
                .support_floodsub(floodsub)
                .build();
            assert!(
                matches!(
                    err,
                    Err(ConfigError::InvalidField {
                        field: "protocol_id_prefix",
                        ..
                    })
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn max_protocol_and_message_id_len_are_checked() {
        for kind in [PeerKind::Floodsub, PeerKind::NotSupported] {
            assert!(ConfigBuilder::default().max_protocol(kind).build().is_err());
        }
        assert_eq!(Config::default().max_protocol(), PeerKind::Gossipsubv1_3);
        for len in [0, 101] {
            assert!(
                ConfigBuilder::default()
                    .message_id_len(Some(len))
                    .build()
                    .is_err(),
                "{len}"
            );
        }
        assert_eq!(Config::default().message_id_len(), None);
        assert_eq!(Config::ethereum().message_id_len(), Some(20));
    }
}
