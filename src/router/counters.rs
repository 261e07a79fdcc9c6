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
    /// IDONTWANT ids ignored over the per-heartbeat budget.
    pub idontwant_ignored: u64,
    /// GRAFTs ignored (topic we are not in, blacklisted peer) or refused with PRUNE (direct
    /// peer, topic the peer may not subscribe to, backoff, negative score, full mesh).
    pub graft_refused: u64,
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
    /// RPCs to peers dropped because their send queue was full.
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
}

impl Counters {
    /// Adds what the decoder skipped from one RPC because of a per-RPC limit.
    pub(crate) fn add_decode_drops(&mut self, drops: &crate::wire::DecodeDrops) {
        self.messages_over_rpc_cap += drops.messages_over_cap as u64;
        self.subscriptions_ignored += drops.subscriptions_over_cap as u64;
        self.control_over_rpc_cap += drops.control_over_cap as u64;
        self.message_ids_over_rpc_cap += drops.ids_over_cap as u64;
        self.message_ids_too_long += drops.ids_too_long as u64;
        self.px_peers_over_rpc_cap += drops.px_peers_over_cap as u64;
        self.topics_too_long += drops.topics_too_long as u64;
        self.messages_malformed += drops.messages_grown as u64;
    }
}
