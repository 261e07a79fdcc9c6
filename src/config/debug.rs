//! `Debug` for [`Config`]: every value except the message-id closures.

use std::fmt;

use super::Config;

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("mesh_n", &self.mesh_n)
            .field("mesh_n_low", &self.mesh_n_low)
            .field("mesh_n_high", &self.mesh_n_high)
            .field("retain_scores", &self.retain_scores)
            .field("mesh_outbound_min", &self.mesh_outbound_min)
            .field("gossip_lazy", &self.gossip_lazy)
            .field("gossip_factor", &self.gossip_factor)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("heartbeat_initial_delay", &self.heartbeat_initial_delay)
            .field("fanout_ttl", &self.fanout_ttl)
            .field("history_length", &self.history_length)
            .field("history_gossip", &self.history_gossip)
            .field("seen_ttl", &self.seen_ttl)
            .field("max_cache_bytes", &self.max_cache_bytes)
            .field("max_seen_bytes", &self.max_seen_bytes)
            .field("max_transmit_size", &self.max_transmit_size)
            .field("max_ihave_length", &self.max_ihave_length)
            .field("max_ihave_messages", &self.max_ihave_messages)
            .field("gossip_retransmission", &self.gossip_retransmission)
            .field("iwant_followup_time", &self.iwant_followup_time)
            .field(
                "idontwant_message_size_threshold",
                &self.idontwant_message_size_threshold,
            )
            .field("max_idontwant_messages", &self.max_idontwant_messages)
            .field("idontwant_on_publish", &self.idontwant_on_publish)
            .field("test_extension", &self.test_extension)
            .field("flood_publish", &self.flood_publish)
            .field("validation_mode", &self.validation_mode)
            .field("validate_messages", &self.validate_messages)
            .field("report_duplicates", &self.report_duplicates)
            .field("allow_self_origin", &self.allow_self_origin)
            .field("support_floodsub", &self.support_floodsub)
            .field("prune_backoff", &self.prune_backoff)
            .field("unsubscribe_backoff", &self.unsubscribe_backoff)
            .field("backoff_slack", &self.backoff_slack)
            .field("graft_flood_threshold", &self.graft_flood_threshold)
            .field("max_retained_backoffs", &self.max_retained_backoffs)
            .field("opportunistic_graft_ticks", &self.opportunistic_graft_ticks)
            .field("opportunistic_graft_peers", &self.opportunistic_graft_peers)
            .field("do_px", &self.do_px)
            .field("prune_peers", &self.prune_peers)
            .field("max_px_dials", &self.max_px_dials)
            .field("px_dial_unsigned", &self.px_dial_unsigned)
            .field("direct_peers", &self.direct_peers)
            .field("direct_connect_ticks", &self.direct_connect_ticks)
            .field("max_topics_per_peer", &self.max_topics_per_peer)
            .field("max_messages_per_rpc", &self.max_messages_per_rpc)
            .field("max_subscriptions_per_rpc", &self.max_subscriptions_per_rpc)
            .field("max_topic_len", &self.max_topic_len)
            .field("max_peer_record_size", &self.max_peer_record_size)
            .field("max_peer_record_addresses", &self.max_peer_record_addresses)
            .field(
                "max_px_records_per_heartbeat",
                &self.max_px_records_per_heartbeat,
            )
            .field("max_pending_px_dials", &self.max_pending_px_dials)
            .field(
                "max_signature_checks_per_heartbeat",
                &self.max_signature_checks_per_heartbeat,
            )
            .field(
                "max_message_bytes_per_peer_per_heartbeat",
                &self.max_message_bytes_per_peer_per_heartbeat,
            )
            .field("max_invalid_signatures", &self.max_invalid_signatures)
            .field("max_message_id_len", &self.max_message_id_len)
            .field(
                "max_control_entries_per_rpc",
                &self.max_control_entries_per_rpc,
            )
            .field("max_control_bytes_per_rpc", &self.max_control_bytes_per_rpc)
            .field("max_px_peers_per_rpc", &self.max_px_peers_per_rpc)
            .field("send_queue_size", &self.send_queue_size)
            .field("send_queue_bytes", &self.send_queue_bytes)
            .field("forward_queue_duration", &self.forward_queue_duration)
            .field("publish_queue_duration", &self.publish_queue_duration)
            .field("per_topic", &self.per_topic)
            .field("protocol_id_prefix", &self.protocol_id_prefix)
            .field("max_protocol", &self.max_protocol)
            .field("message_id_len", &self.message_id_len)
            .field(
                "message_id_topics",
                &self.message_id_fns_by_topic.keys().collect::<Vec<_>>(),
            )
            .field(
                "invalid_message_id_topics",
                &self
                    .invalid_message_id_fns_by_topic
                    .keys()
                    .collect::<Vec<_>>(),
            )
            // The message-id closures have no useful representation.
            .finish_non_exhaustive()
    }
}
