//! Ready-made configurations for known deployments.

use std::time::Duration;

use super::{Config, ConfigBuilder};
use crate::authenticity::ValidationMode;
use crate::ethereum;

/// The seen-cache bound of the Ethereum preset: 512 MiB, about 2.9 million 20-byte ids, some
/// 3,800 new messages per second sustained over its 768 s `seen_ttl`.
const ETHEREUM_MAX_SEEN_BYTES: usize = 512 << 20;

/// Topics one Ethereum peer may hold with us: a PeerDAS supernode subscribes to about 210
/// (128 data-column subnets, 64 attestation subnets, sync committees, blobs and the global
/// topics), and twice that while it straddles a fork boundary.
const ETHEREUM_MAX_TOPICS_PER_PEER: usize = 512;

impl ConfigBuilder {
    /// A builder preset for Ethereum consensus gossip (consensus-specs `p2p-interface.md`);
    /// the values not listed here keep their defaults.
    ///
    /// - D 8, D_lo 6, D_hi 12, D_lazy 6;
    /// - heartbeat every 700 ms, fanout_ttl 60 s, mcache_len 6, mcache_gossip 3, seen_ttl 768 s;
    /// - [`ValidationMode::Anonymous`] (StrictNoSign): pair it with
    ///   [`MessageAuthenticity::Anonymous`](crate::MessageAuthenticity::Anonymous), which
    ///   [`Config::validate_with`] checks;
    /// - the consensus message ids: [`ethereum::message_id`] (Altair and later; the phase-0
    ///   variants are for [`message_id_fn_for_topic`](Self::message_id_fn_for_topic)), and
    ///   [`ethereum::invalid_snappy_message_id`] for messages that do not decompress;
    /// - `max_transmit_size` of [`ethereum::MAX_MESSAGE_SIZE`] (12 234 442 bytes): the spec's
    ///   `max_message_size()`, snappy's worst case for a 10 MiB payload plus 1 KiB of framing;
    /// - `validate_messages` on, since clients validate every message before it is forwarded;
    /// - `flood_publish` off: publishes go to the mesh only, as clients configure it (a 10 MiB
    ///   block flooded to every subscribed peer would saturate the uplink);
    /// - `idontwant_on_publish` on: blob and column sidecars are often published by several
    ///   nodes at once (fetched from the execution layer), so telling recipients first saves
    ///   receiving them back (Lighthouse turns it on; go always sends it);
    /// - `max_topics_per_peer` 512: a PeerDAS supernode holds about 210 topics, twice that
    ///   across a fork boundary;
    /// - `max_seen_bytes` 512 MiB, for the long `seen_ttl`;
    /// - `message_id_len` 20: gossip ids of another length are dropped at decode, since the
    ///   spec fixes the id at 20 bytes.
    ///
    /// The ids assume that messages reach the id function decompressed, i.e. that the router
    /// runs the snappy [data transform](crate::DataTransform): use
    /// `Behaviour::ethereum` (feature `snappy`), or without that
    /// feature [`Behaviour::new_with_transform`](crate::Behaviour::new_with_transform) with a
    /// decompressing transform of your own. See [`crate::ethereum`].
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
            .max_transmit_size(ethereum::MAX_MESSAGE_SIZE)
            .validate_messages(true)
            .flood_publish(false)
            .idontwant_on_publish(true)
            .max_topics_per_peer(ETHEREUM_MAX_TOPICS_PER_PEER)
            .message_id_len(Some(ethereum::MESSAGE_ID_LEN))
            .message_id_fn(ethereum::message_id)
            .invalid_message_id_fn(ethereum::invalid_snappy_message_id);
        builder
    }
}

impl Config {
    /// The checked configuration of [`ConfigBuilder::ethereum`]; see there for the values and
    /// for the snappy transform that goes with it.
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
    use sha2::{Digest, Sha256};

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
    fn ethereum_preset_uses_the_consensus_ids_and_does_not_flood_publish() {
        let c = Config::ethereum();
        let topic = "/eth2/00000000/beacon_block/ssz_snappy";
        let msg = |source: Option<PeerId>| Message {
            source,
            data: Bytes::from_static(b"block"),
            sequence_number: Some(1),
            topic: TopicHash::from(topic),
        };
        // Written from the spec: SHA256(domain ++ u64le(len(topic)) ++ topic ++ data)[:20].
        let mut valid = vec![1, 0, 0, 0];
        valid.extend_from_slice(&(topic.len() as u64).to_le_bytes());
        valid.extend_from_slice(topic.as_bytes());
        valid.extend_from_slice(b"block");
        let mut invalid = valid.clone();
        invalid[0] = 0;
        let id = c.message_id(&msg(None));
        assert_eq!(id.as_bytes(), &Sha256::digest(&valid)[..20]);
        assert_eq!(id, c.message_id(&msg(Some(PeerId::random()))));
        assert_eq!(
            c.invalid_message_id(&msg(None)).as_bytes(),
            &Sha256::digest(&invalid)[..20]
        );
        assert!(!c.flood_publish());
        assert!(!ConfigBuilder::ethereum().build().unwrap().flood_publish());
    }
}
