//! Counters of what the router dropped or ignored, for operators and tests.

/// Cumulative counts of dropped or ignored remote input, and of local drops.
///
/// Every drop of remote input is also logged with a structured `tracing` event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// RPC frames dropped because they exceeded `max_transmit_size`.
    pub rpcs_too_large: u64,
    /// RPC frames dropped because they were not valid protobuf.
    pub rpcs_malformed: u64,
    /// RPCs ignored because the peer's score is below `graylist_threshold`, or because it
    /// was graylisted after `max_invalid_signatures` invalid messages.
    pub rpcs_graylisted: u64,
    /// RPCs dropped because they came from a blacklisted peer.
    pub rpcs_from_blacklisted: u64,
    /// Messages dropped because their author is blacklisted.
    pub messages_from_blacklisted: u64,
    /// IWANT promises not kept within `iwant_followup_time`.
    pub broken_promises: u64,
    /// Peer exchange records dropped because they failed verification.
    pub px_records_invalid: u64,
    /// Peer exchange offers ignored (from a peer below `accept_px_threshold`).
    pub px_ignored: u64,
    /// Peer exchange records refused for their size (over `max_peer_record_size` bytes, or
    /// more than `max_peer_record_addresses` addresses).
    pub px_records_too_large: u64,
    /// Peer exchange entries skipped over the sender's `max_px_records_per_heartbeat` budget.
    pub px_over_budget: u64,
    /// Peer exchange dials not made because `max_pending_px_dials` were outstanding.
    pub px_dials_over_cap: u64,
    /// Stored signed peer records evicted (oldest first) to make room for newer ones.
    pub px_records_evicted: u64,
    /// RPCs ignored because they came from a peer that does not speak gossipsub.
    pub rpcs_from_unsupported_peer: u64,
    /// Messages dropped because a field could not be decoded (bad `from`, `seqno`, topic), or
    /// because their re-encoding would be larger than what was received.
    pub messages_malformed: u64,
    /// Messages dropped because their signature or authenticity fields failed validation.
    pub messages_invalid: u64,
    /// Message signatures verified (each costs a public-key operation).
    pub signatures_verified: u64,
    /// Messages dropped unverified over the sender's `max_signature_checks_per_heartbeat`.
    pub signature_checks_over_budget: u64,
    /// Copies of a message whose signature already failed, dropped without verifying again.
    pub invalid_signature_repeats: u64,
    /// Peers graylisted (RPCs ignored) and disconnected after `max_invalid_signatures`.
    pub peers_graylisted: u64,
    /// Messages rejected because their inbound data transform failed (for snappy: not valid
    /// snappy, or declaring more than the bound when decompressed).
    pub messages_transform_failed: u64,
    /// Messages dropped as duplicates of ones already seen.
    pub messages_duplicate: u64,
    /// Messages dropped because they were for a topic we are not subscribed to.
    pub messages_unsubscribed_topic: u64,
    /// Messages dropped because we authored them ourselves.
    pub messages_self_origin: u64,
    /// Messages over the per-RPC cap (`max_messages_per_rpc`), skipped at decode or after.
    pub messages_over_rpc_cap: u64,
    /// Control entries skipped at decode: over `max_control_entries_per_rpc` for their type or
    /// past `max_control_bytes_per_rpc`.
    pub control_over_rpc_cap: u64,
    /// IHAVE, IWANT and IDONTWANT ids skipped at decode over the per-RPC id caps
    /// (`max_ihave_length` for IHAVE and IWANT, `max_idontwant_messages` for IDONTWANT).
    pub message_ids_over_rpc_cap: u64,
    /// PRUNE peer-exchange entries skipped at decode over `max_px_peers_per_rpc`.
    pub px_peers_over_rpc_cap: u64,
    /// IHAVE, IWANT and IDONTWANT ids skipped at decode for exceeding `max_message_id_len`.
    pub message_ids_too_long: u64,
    /// IHAVE, IWANT and IDONTWANT ids skipped at decode for a length other than
    /// `message_id_len` (when the network fixes one, as Ethereum does).
    pub message_ids_wrong_len: u64,
    /// Messages rejected for exceeding their topic's `max_transmit_size_for_topic`.
    pub messages_over_topic_size: u64,
    /// Subscriptions, messages and control entries skipped at decode for a topic longer than
    /// `max_topic_len`.
    pub topics_too_long: u64,
    /// Messages the application rejected.
    pub messages_rejected: u64,
    /// Messages the application ignored.
    pub messages_ignored: u64,
    /// Subscription entries ignored (over `max_subscriptions_per_rpc` or `max_topics_per_peer`).
    pub subscriptions_ignored: u64,
    /// Subscription entries ignored because the topic is longer than `max_topic_len`.
    pub subscriptions_topic_too_long: u64,
    /// IHAVE messages ignored (over the per-heartbeat budget or for topics we are not in).
    pub ihave_ignored: u64,
    /// IHAVE ids dropped unexamined because they exceeded the peer's `max_ihave_length`
    /// budget for the heartbeat.
    pub ihave_ids_over_budget: u64,
    /// IWANT ids not served (not in cache, not validated, or over `gossip_retransmission`).
    pub iwant_not_served: u64,
    /// IWANT ids served from the message cache.
    pub iwant_served: u64,
    /// IWANT ids not served because the message is not in the cache (a subset of
    /// `iwant_not_served`).
    pub iwant_unknown: u64,
    /// IWANT ids not served because the message is not validated yet or was already sent to
    /// the peer `gossip_retransmission` times (a subset of `iwant_not_served`).
    pub iwant_not_allowed: u64,
    /// IWANT ids skipped over `max_ihave_length` per IWANT (a subset of `iwant_not_served`).
    pub iwant_over_cap: u64,
    /// IDONTWANT ids ignored over the per-heartbeat budget.
    pub idontwant_ignored: u64,
    /// IDONTWANT ids taken from peers (within the budget).
    pub idontwant_received: u64,
    /// GRAFTs ignored (topic we are not in, blacklisted peer) or refused with PRUNE (direct
    /// peer, topic the peer may not subscribe to, backoff, negative score, full mesh).
    pub graft_refused: u64,
    /// GRAFTs received during their backoff (each costs a P7 penalty with peer scoring).
    pub grafts_in_backoff: u64,
    /// PRUNEs for topics we are not in (their backoff is not recorded).
    pub prune_ignored: u64,
    /// PRUNE replies not sent because the peer already got one for the topic this heartbeat
    /// (its repeated GRAFTs are still penalised).
    pub prunes_suppressed: u64,
    /// Backoff entries of disconnected peers forgotten over `max_retained_backoffs`.
    pub backoffs_evicted: u64,
    /// IWANT ids not served because the peer had sent IDONTWANT for them.
    pub iwant_unwanted: u64,
    /// GRAFTs from peers whose subscription we had not seen, taken as an implicit SUBSCRIBE.
    pub implicit_subscriptions: u64,
    /// Control messages from a floodsub peer, or of a kind its protocol lacks.
    pub control_ignored: u64,
    /// Control messages of a kind we do not know (skipped).
    pub control_unknown: u64,
    /// Messages dropped from the message cache before their window ended, because of
    /// `max_cache_bytes`.
    pub mcache_evicted: u64,
    /// Ids forgotten by the seen cache before their `seen_ttl`, because of `max_seen_bytes`.
    pub seen_evicted: u64,
    /// RPCs to peers dropped because their send queue was full: refused control and
    /// publishes, and the oldest queued forwards a full forward class dropped to make room
    /// for newer ones.
    pub send_queue_full: u64,
    /// Queued publishes and forwards dropped because they waited too long.
    pub send_queue_expired: u64,
    /// Stale IHAVE entries stripped from queued control RPCs.
    pub send_queue_gossip_expired: u64,
    /// Peers disconnected because their control queue was full.
    pub slow_peers_disconnected: u64,
    /// Outbound streams found closed, reset or failed, and replaced by a new one.
    pub outbound_streams_reopened: u64,
    /// Connections closed after their outbound stream failed too often in a row.
    pub outbound_streams_given_up: u64,
    /// RPCs dropped because they could not be encoded (over `max_transmit_size`, or over the
    /// limit learned for the peer).
    pub rpcs_unencodable: u64,
    /// Peers whose frame limit was learned as 64 KiB after they closed our stream following
    /// a larger frame.
    pub peer_frame_limits_lowered: u64,
    /// Outgoing messages not sent because alone they exceed `max_transmit_size` (outgoing RPCs
    /// are otherwise split to fit).
    pub messages_too_large_to_send: u64,
    /// Outgoing subscriptions, control entries, message ids and PX peers not sent because
    /// alone they exceed `max_transmit_size`.
    pub control_too_large_to_send: u64,
    /// Extensions control messages (meshsub 1.3) received from a peer that had already sent
    /// one: a protocol violation, penalised (P7) and ignored.
    pub extensions_duplicate: u64,
    /// `TestExtension` RPCs received (the test extension of meshsub 1.3).
    pub test_extensions_received: u64,
    /// Items shed (messages, IHAVE entries, control RPCs) when the pieces of an RPC split
    /// for a lowered frame limit were put back into a peer's send queue past its bounds.
    pub send_queue_requeue_shed: u64,
    /// Publish batches refused whole for holding more than `send_queue_size` messages, or
    /// several messages of more than `send_queue_bytes` data bytes together.
    pub publish_batches_too_large: u64,
    /// New messages dropped over the sender's `max_message_bytes_per_peer_per_heartbeat`.
    pub messages_over_peer_budget: u64,
    /// Partial messages (Partial Messages extension) received and taken.
    pub partials_received: u64,
    /// Partial messages dropped as malformed (no topic or group id, a field over its bound).
    pub partials_malformed: u64,
    /// Partial messages ignored: the feature is off, the topic is not enabled for partial
    /// messages, or the sender did not announce the extension (a graylisted sender's RPCs
    /// are counted in `rpcs_graylisted`).
    pub partials_ignored: u64,
    /// Partial messages refused because they would open a group over a bound
    /// (`groups_per_topic` or `groups_per_peer` of `partial::PartialLimits`).
    pub partial_groups_over_cap: u64,
    /// Partial messages dropped because their parts and metadata bytes went over the
    /// sender's `max_message_bytes_per_peer_per_heartbeat` (shared with its full messages).
    pub partials_over_peer_budget: u64,
    /// Partial messages (or parts metadata) found invalid: by the application, because
    /// the parts metadata could not be used, or parts over the topic's
    /// `max_transmit_size_for_topic`; each penalised (P4).
    pub partials_invalid: u64,
    /// Partial messages dropped because the sender went over
    /// `partials_per_peer_per_heartbeat` of `partial::PartialLimits`.
    pub partials_over_peer_count: u64,
    /// Parts metadata updates not kept because they would take the bytes of metadata held
    /// from the sender, or from all peers, over `metadata_bytes_per_peer` or
    /// `metadata_bytes_total` of `partial::PartialLimits`.
    pub partial_metadata_over_budget: u64,
    /// Signed peer records refused because we hold a newer one of the same peer (higher
    /// `seq`): a replayed old record neither replaces it nor is reported.
    pub px_records_stale: u64,
    /// Message delivery records (peer scoring) forgotten before their two minutes because
    /// their byte bound (`max_seen_bytes`) was reached, oldest first.
    pub delivery_records_evicted: u64,
    /// Disconnecting peers whose spent per-heartbeat budgets were not kept until the next
    /// heartbeat (more than 10,000 peers left within one), so a reconnect refills them.
    pub departed_budgets_dropped: u64,
    /// PRUNE backoffs longer than the longest we keep (one hour), clamped to it: we may
    /// GRAFT that peer again before the backoff it asked for ends.
    pub prune_backoffs_clamped: u64,
    /// Connections closed because the peer opened more than five inbound streams in a row
    /// without sending a frame on any of them.
    pub inbound_streams_given_up: u64,
}

impl Counters {
    /// Every counter with its field name, in declaration order (what the metrics module
    /// exports). The destructuring is exhaustive, so a new field does not compile until it is
    /// listed here too.
    pub fn fields(&self) -> [(&'static str, u64); 83] {
        let Counters {
            rpcs_too_large,
            rpcs_malformed,
            rpcs_graylisted,
            rpcs_from_blacklisted,
            messages_from_blacklisted,
            broken_promises,
            px_records_invalid,
            px_ignored,
            px_records_too_large,
            px_over_budget,
            px_dials_over_cap,
            px_records_evicted,
            rpcs_from_unsupported_peer,
            messages_malformed,
            messages_invalid,
            signatures_verified,
            signature_checks_over_budget,
            invalid_signature_repeats,
            peers_graylisted,
            messages_transform_failed,
            messages_duplicate,
            messages_unsubscribed_topic,
            messages_self_origin,
            messages_over_rpc_cap,
            control_over_rpc_cap,
            message_ids_over_rpc_cap,
            px_peers_over_rpc_cap,
            message_ids_too_long,
            message_ids_wrong_len,
            messages_over_topic_size,
            topics_too_long,
            messages_rejected,
            messages_ignored,
            subscriptions_ignored,
            subscriptions_topic_too_long,
            ihave_ignored,
            ihave_ids_over_budget,
            iwant_not_served,
            iwant_served,
            iwant_unknown,
            iwant_not_allowed,
            iwant_over_cap,
            idontwant_ignored,
            idontwant_received,
            graft_refused,
            grafts_in_backoff,
            prune_ignored,
            prunes_suppressed,
            backoffs_evicted,
            iwant_unwanted,
            implicit_subscriptions,
            control_ignored,
            control_unknown,
            mcache_evicted,
            seen_evicted,
            send_queue_full,
            send_queue_expired,
            send_queue_gossip_expired,
            slow_peers_disconnected,
            outbound_streams_reopened,
            outbound_streams_given_up,
            rpcs_unencodable,
            peer_frame_limits_lowered,
            messages_too_large_to_send,
            control_too_large_to_send,
            extensions_duplicate,
            test_extensions_received,
            send_queue_requeue_shed,
            publish_batches_too_large,
            messages_over_peer_budget,
            partials_received,
            partials_malformed,
            partials_ignored,
            partial_groups_over_cap,
            partials_over_peer_budget,
            partials_invalid,
            partials_over_peer_count,
            partial_metadata_over_budget,
            px_records_stale,
            delivery_records_evicted,
            departed_budgets_dropped,
            prune_backoffs_clamped,
            inbound_streams_given_up,
        } = *self;
        [
            ("rpcs_too_large", rpcs_too_large),
            ("rpcs_malformed", rpcs_malformed),
            ("rpcs_graylisted", rpcs_graylisted),
            ("rpcs_from_blacklisted", rpcs_from_blacklisted),
            ("messages_from_blacklisted", messages_from_blacklisted),
            ("broken_promises", broken_promises),
            ("px_records_invalid", px_records_invalid),
            ("px_ignored", px_ignored),
            ("px_records_too_large", px_records_too_large),
            ("px_over_budget", px_over_budget),
            ("px_dials_over_cap", px_dials_over_cap),
            ("px_records_evicted", px_records_evicted),
            ("rpcs_from_unsupported_peer", rpcs_from_unsupported_peer),
            ("messages_malformed", messages_malformed),
            ("messages_invalid", messages_invalid),
            ("signatures_verified", signatures_verified),
            ("signature_checks_over_budget", signature_checks_over_budget),
            ("invalid_signature_repeats", invalid_signature_repeats),
            ("peers_graylisted", peers_graylisted),
            ("messages_transform_failed", messages_transform_failed),
            ("messages_duplicate", messages_duplicate),
            ("messages_unsubscribed_topic", messages_unsubscribed_topic),
            ("messages_self_origin", messages_self_origin),
            ("messages_over_rpc_cap", messages_over_rpc_cap),
            ("control_over_rpc_cap", control_over_rpc_cap),
            ("message_ids_over_rpc_cap", message_ids_over_rpc_cap),
            ("px_peers_over_rpc_cap", px_peers_over_rpc_cap),
            ("message_ids_too_long", message_ids_too_long),
            ("message_ids_wrong_len", message_ids_wrong_len),
            ("messages_over_topic_size", messages_over_topic_size),
            ("topics_too_long", topics_too_long),
            ("messages_rejected", messages_rejected),
            ("messages_ignored", messages_ignored),
            ("subscriptions_ignored", subscriptions_ignored),
            ("subscriptions_topic_too_long", subscriptions_topic_too_long),
            ("ihave_ignored", ihave_ignored),
            ("ihave_ids_over_budget", ihave_ids_over_budget),
            ("iwant_not_served", iwant_not_served),
            ("iwant_served", iwant_served),
            ("iwant_unknown", iwant_unknown),
            ("iwant_not_allowed", iwant_not_allowed),
            ("iwant_over_cap", iwant_over_cap),
            ("idontwant_ignored", idontwant_ignored),
            ("idontwant_received", idontwant_received),
            ("graft_refused", graft_refused),
            ("grafts_in_backoff", grafts_in_backoff),
            ("prune_ignored", prune_ignored),
            ("prunes_suppressed", prunes_suppressed),
            ("backoffs_evicted", backoffs_evicted),
            ("iwant_unwanted", iwant_unwanted),
            ("implicit_subscriptions", implicit_subscriptions),
            ("control_ignored", control_ignored),
            ("control_unknown", control_unknown),
            ("mcache_evicted", mcache_evicted),
            ("seen_evicted", seen_evicted),
            ("send_queue_full", send_queue_full),
            ("send_queue_expired", send_queue_expired),
            ("send_queue_gossip_expired", send_queue_gossip_expired),
            ("slow_peers_disconnected", slow_peers_disconnected),
            ("outbound_streams_reopened", outbound_streams_reopened),
            ("outbound_streams_given_up", outbound_streams_given_up),
            ("rpcs_unencodable", rpcs_unencodable),
            ("peer_frame_limits_lowered", peer_frame_limits_lowered),
            ("messages_too_large_to_send", messages_too_large_to_send),
            ("control_too_large_to_send", control_too_large_to_send),
            ("extensions_duplicate", extensions_duplicate),
            ("test_extensions_received", test_extensions_received),
            ("send_queue_requeue_shed", send_queue_requeue_shed),
            ("publish_batches_too_large", publish_batches_too_large),
            ("messages_over_peer_budget", messages_over_peer_budget),
            ("partials_received", partials_received),
            ("partials_malformed", partials_malformed),
            ("partials_ignored", partials_ignored),
            ("partial_groups_over_cap", partial_groups_over_cap),
            ("partials_over_peer_budget", partials_over_peer_budget),
            ("partials_invalid", partials_invalid),
            ("partials_over_peer_count", partials_over_peer_count),
            ("partial_metadata_over_budget", partial_metadata_over_budget),
            ("px_records_stale", px_records_stale),
            ("delivery_records_evicted", delivery_records_evicted),
            ("departed_budgets_dropped", departed_budgets_dropped),
            ("prune_backoffs_clamped", prune_backoffs_clamped),
            ("inbound_streams_given_up", inbound_streams_given_up),
        ]
    }

    /// Adds what the decoder skipped from one RPC because of a per-RPC limit.
    pub(crate) fn add_decode_drops(&mut self, drops: &crate::wire::DecodeDrops) {
        self.messages_over_rpc_cap += drops.messages_over_cap as u64;
        self.subscriptions_ignored += drops.subscriptions_over_cap as u64;
        self.control_over_rpc_cap += drops.control_over_cap as u64;
        self.message_ids_over_rpc_cap += drops.ids_over_cap as u64;
        self.message_ids_too_long += drops.ids_too_long as u64;
        self.message_ids_wrong_len += drops.ids_wrong_len as u64;
        self.px_peers_over_rpc_cap += drops.px_peers_over_cap as u64;
        self.topics_too_long += drops.topics_too_long as u64;
        self.messages_malformed += drops.messages_grown as u64;
        self.partials_malformed += drops.partials_malformed as u64;
    }
}
