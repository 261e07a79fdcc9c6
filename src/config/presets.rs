//! Ready-made configurations for known deployments.

use std::time::Duration;

use super::{Config, ConfigBuilder, content_message_id};
use crate::authenticity::ValidationMode;

/// The largest uncompressed gossip payload of Ethereum consensus (`MAX_PAYLOAD_SIZE`, 10 MiB).
const ETHEREUM_MAX_PAYLOAD_SIZE: usize = 10 * 1024 * 1024;

/// Allowance for the protobuf framing around the payload (topic, field tags, lengths), the same
/// margin the consensus specs add in `max_message_size`.
const PROTOBUF_OVERHEAD: usize = 1024;

/// Snappy's worst-case compressed size of an `n`-byte input: `32 + n + n / 6`.
const fn snappy_max_compressed_len(n: usize) -> usize {
    32 + n + n / 6
}

/// The Ethereum consensus RPC limit: a snappy-compressed maximal payload plus framing
/// (12 234 442 bytes).
const ETHEREUM_MAX_TRANSMIT_SIZE: usize =
    snappy_max_compressed_len(ETHEREUM_MAX_PAYLOAD_SIZE) + PROTOBUF_OVERHEAD;

/// The seen-cache bound of the Ethereum preset: 512 MiB, about 2.9 million 20-byte ids, some
/// 3,800 new messages per second sustained over its 768 s `seen_ttl`.
const ETHEREUM_MAX_SEEN_BYTES: usize = 512 << 20;

/// Topics one Ethereum peer may hold with us: a PeerDAS supernode subscribes to about 210
/// (128 data-column subnets, 64 attestation subnets, sync committees, blobs and the global
/// topics), and twice that while it straddles a fork boundary.
const ETHEREUM_MAX_TOPICS_PER_PEER: usize = 512;

impl ConfigBuilder {
    /// A builder preset with the gossip parameters of the Ethereum consensus layer; the values
    /// not listed here keep their defaults.
    ///
    /// - D 8, D_lo 6, D_hi 12, D_lazy 6;
    /// - heartbeat every 700 ms, fanout_ttl 60 s, mcache_len 6, mcache_gossip 3, seen_ttl 768 s;
    /// - [`ValidationMode::Anonymous`] (StrictNoSign): pair it with
    ///   [`MessageAuthenticity::Anonymous`](crate::MessageAuthenticity::Anonymous), which
    ///   [`Config::validate_with`] checks;
    /// - `max_transmit_size` of 12 234 442 bytes: snappy's worst case for a 10 MiB payload
    ///   (`32 + n + n / 6`) plus 1 KiB of protobuf framing;
    /// - `validate_messages` on, since clients validate every message before it is forwarded;
    /// - `max_topics_per_peer` 512: a PeerDAS supernode holds about 210 topics, twice that
    ///   across a fork boundary;
    /// - `max_seen_bytes` 512 MiB, for the long `seen_ttl`.
    ///
    /// Ethereum's own message id (SHA-256 over a domain, the topic and the snappy-decoded data)
    /// and the snappy data transform are not provided yet. Until they are, this preset uses a
    /// content-based id: the first 20 bytes of SHA-256(u64le(len(topic)) ++ topic ++ data). Such ids do not match
    /// those of Ethereum clients, so set the real function with
    /// [`message_id_fn`](Self::message_id_fn) before joining an Ethereum network.
    pub fn ethereum() -> Self {
        let mut builder = ConfigBuilder::default();
        builder
            .mesh_n(8)
            .mesh_n_low(6)
            .mesh_n_high(12)
            .gossip_lazy(6)
            .heartbeat_interval(Duration::from_millis(700))
            .fanout_ttl(Duration::from_secs(60))
            .history_length(6)
            .history_gossip(3)
            .max_seen_bytes(ETHEREUM_MAX_SEEN_BYTES)
            .seen_ttl(Duration::from_secs(768))
            .validation_mode(ValidationMode::Anonymous)
            .max_transmit_size(ETHEREUM_MAX_TRANSMIT_SIZE)
            .validate_messages(true)
            .max_topics_per_peer(ETHEREUM_MAX_TOPICS_PER_PEER)
            .message_id_fn(content_message_id);
        builder
    }
}

impl Config {
    /// The checked configuration of [`ConfigBuilder::ethereum`]; see there for the values and
    /// for what still has to be supplied (message-id function, snappy).
    pub fn ethereum() -> Self {
        ConfigBuilder::ethereum()
            .build()
            .expect("the Ethereum preset is valid")
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use libp2p_identity::{Keypair, PeerId};

    use super::*;
    use crate::authenticity::MessageAuthenticity;
    use crate::types::{Message, TopicHash};

    #[test]
    fn ethereum_preset_values() {
        let c = Config::ethereum();
        assert_eq!(
            (c.mesh_n(), c.mesh_n_low(), c.mesh_n_high(), c.gossip_lazy()),
            (8, 6, 12, 6)
        );
        assert_eq!(c.heartbeat_interval(), Duration::from_millis(700));
        assert_eq!(c.fanout_ttl(), Duration::from_secs(60));
        assert_eq!((c.history_length(), c.history_gossip()), (6, 3));
        assert_eq!(c.seen_ttl(), Duration::from_secs(768));
        assert_eq!(c.validation_mode(), ValidationMode::Anonymous);
        assert_eq!(c.max_transmit_size(), 12_234_442);
        assert!(c.validate_messages());
        // Untouched values keep their defaults.
        assert_eq!(c.mesh_outbound_min(), Config::default().mesh_outbound_min());
    }

    #[test]
    fn ethereum_preset_is_valid_and_anonymous() {
        let c = ConfigBuilder::ethereum().build().expect("valid");
        assert!(c.validate_with(&MessageAuthenticity::Anonymous).is_ok());
        let signed = MessageAuthenticity::Signed(Keypair::generate_ed25519());
        assert!(c.validate_with(&signed).is_err());
    }

    #[test]
    fn ethereum_preset_ids_are_content_based() {
        let c = Config::ethereum();
        let msg = |source: Option<PeerId>| Message {
            source,
            data: Bytes::from_static(b"block"),
            sequence_number: Some(1),
            topic: TopicHash::from("/eth2/00000000/beacon_block/ssz_snappy"),
        };
        let id = c.message_id(&msg(None));
        assert_eq!(id.as_bytes().len(), 20);
        assert_eq!(id, c.message_id(&msg(Some(PeerId::random()))));
    }
}
