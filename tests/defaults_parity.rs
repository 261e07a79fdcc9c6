//! Our `Config::default()` against libp2p-gossipsub 0.50's, getter by getter. Each row either
//! matches or is a documented difference (MIGRATING.md, "Defaults that differ"); a change on
//! either side (ours, or theirs after a dependency bump) fails here, so the guide cannot drift.

use libp2p_gossipsub as theirs;

/// One compared default: its libp2p-gossipsub name, our value and theirs (as `Debug` text).
struct Row {
    name: &'static str,
    ours: String,
    theirs: String,
}

fn row(name: &'static str, ours: impl std::fmt::Debug, theirs: impl std::fmt::Debug) -> Row {
    Row {
        name,
        ours: format!("{ours:?}"),
        theirs: format!("{theirs:?}"),
    }
}

fn rows() -> Vec<Row> {
    let o = gossipsub::Config::default();
    let t = theirs::Config::default();
    vec![
        row("mesh_n", o.mesh_n(), t.mesh_n()),
        row("mesh_n_low", o.mesh_n_low(), t.mesh_n_low()),
        row("mesh_n_high", o.mesh_n_high(), t.mesh_n_high()),
        row("retain_scores", o.retain_scores(), t.retain_scores()),
        row(
            "mesh_outbound_min",
            o.mesh_outbound_min(),
            t.mesh_outbound_min(),
        ),
        row("gossip_lazy", o.gossip_lazy(), t.gossip_lazy()),
        row("gossip_factor", o.gossip_factor(), t.gossip_factor()),
        row(
            "heartbeat_interval",
            o.heartbeat_interval(),
            t.heartbeat_interval(),
        ),
        row(
            "heartbeat_initial_delay",
            o.heartbeat_initial_delay(),
            t.heartbeat_initial_delay(),
        ),
        row("fanout_ttl", o.fanout_ttl(), t.fanout_ttl()),
        row(
            "check_explicit_peers_ticks",
            o.check_explicit_peers_ticks(),
            t.check_explicit_peers_ticks(),
        ),
        row("history_length", o.history_length(), t.history_length()),
        row("history_gossip", o.history_gossip(), t.history_gossip()),
        row(
            "duplicate_cache_time",
            o.duplicate_cache_time(),
            t.duplicate_cache_time(),
        ),
        row(
            "max_transmit_size",
            o.max_transmit_size(),
            t.max_transmit_size(),
        ),
        row(
            "validate_messages",
            o.validate_messages(),
            t.validate_messages(),
        ),
        row(
            "validation_mode",
            o.validation_mode().name(),
            format!("{:?}", t.validation_mode()),
        ),
        row(
            "allow_self_origin",
            o.allow_self_origin(),
            t.allow_self_origin(),
        ),
        row("do_px", o.do_px(), t.do_px()),
        row("prune_peers", o.prune_peers(), t.prune_peers()),
        row("prune_backoff", o.prune_backoff(), t.prune_backoff()),
        row(
            "unsubscribe_backoff",
            o.unsubscribe_backoff(),
            t.unsubscribe_backoff(),
        ),
        row("backoff_slack", o.backoff_slack(), t.backoff_slack()),
        row("flood_publish", o.flood_publish(), t.flood_publish()),
        row(
            "graft_flood_threshold",
            o.graft_flood_threshold(),
            t.graft_flood_threshold(),
        ),
        row(
            "opportunistic_graft_ticks",
            o.opportunistic_graft_ticks(),
            t.opportunistic_graft_ticks(),
        ),
        row(
            "opportunistic_graft_peers",
            o.opportunistic_graft_peers(),
            t.opportunistic_graft_peers(),
        ),
        row(
            "gossip_retransimission",
            o.gossip_retransimission(),
            t.gossip_retransimission(),
        ),
        row(
            "max_publish_messages",
            o.max_publish_messages(),
            t.max_publish_messages(),
        ),
        row(
            "max_control_message_size",
            o.max_control_message_size(),
            t.max_control_message_size(),
        ),
        row(
            "max_ihave_messages_heartbeat",
            o.max_ihave_messages_heartbeat(),
            t.max_ihave_messages_heartbeat(),
        ),
        row(
            "iwant_followup_time",
            o.iwant_followup_time(),
            t.iwant_followup_time(),
        ),
        row(
            "support_floodsub",
            o.support_floodsub(),
            t.support_floodsub(),
        ),
        row(
            "connection_handler_queue_len",
            o.connection_handler_queue_len(),
            t.connection_handler_queue_len(),
        ),
        row(
            "publish_queue_duration",
            o.publish_queue_duration(),
            t.publish_queue_duration(),
        ),
        row(
            "forward_queue_duration",
            o.forward_queue_duration(),
            t.forward_queue_duration(),
        ),
        row(
            "idontwant_message_size_threshold",
            o.idontwant_message_size_threshold(),
            t.idontwant_message_size_threshold(),
        ),
        row(
            "idontwant_on_publish",
            o.idontwant_on_publish(),
            t.idontwant_on_publish(),
        ),
    ]
}

/// The differences MIGRATING.md documents: (name, ours, theirs). Everything else must match.
const DOCUMENTED: &[(&str, &str, &str)] = &[
    // A node is ready at once; theirs waits 5 s before its first heartbeat.
    ("heartbeat_initial_delay", "100ms", "5s"),
    // go's seen TTL (120 s); theirs remembers ids for 60 s.
    ("duplicate_cache_time", "120s", "60s"),
    // Only used with do_px (off in both): go's PX peer count.
    ("prune_peers", "16", "0"),
    // Ours is a per-RPC control-entry byte bound that skips only what is over it (1 MiB);
    // theirs refuses a whole RPC whose subscriptions and control exceed 16 KiB. What we send
    // stays under theirs whatever this is set to (see `interop_limits`).
    ("max_control_message_size", "1048576", "16384"),
    // IDONTWANT for messages of at least 1 KiB (ours) vs more than 1000 bytes (theirs).
    ("idontwant_message_size_threshold", "1024", "1000"),
];

#[test]
fn defaults_match_libp2p_gossipsub_or_are_documented() {
    let mut undocumented = Vec::new();
    for r in rows() {
        match DOCUMENTED.iter().find(|(name, ..)| *name == r.name) {
            Some((_, ours, theirs)) => assert!(
                r.ours == *ours && r.theirs == *theirs,
                "{}: documented as ours {ours} / theirs {theirs}, now ours {} / theirs {}: \
                 update MIGRATING.md and this table",
                r.name,
                r.ours,
                r.theirs
            ),
            None if r.ours != r.theirs => {
                undocumented.push(format!("{}: ours {} theirs {}", r.name, r.ours, r.theirs))
            }
            None => {}
        }
    }
    assert!(
        undocumented.is_empty(),
        "defaults differ from libp2p-gossipsub without a MIGRATING.md entry:\n{}",
        undocumented.join("\n")
    );
}

/// The one default a mixed network depends on: a frame one default node sends, another
/// default node accepts.
#[test]
fn max_transmit_size_matches() {
    assert_eq!(
        gossipsub::Config::default().max_transmit_size(),
        theirs::Config::default().max_transmit_size()
    );
    assert_eq!(
        gossipsub::Config::default().max_transmit_size(),
        65_536,
        "64 KiB, libp2p-gossipsub's default"
    );
}

/// Peer-score parameter and threshold defaults, field by field: all equal but the documented
/// `decay_to_zero` (`ip_colocation_factor_whitelist` differs in type only, empty in both).
#[test]
fn score_defaults_match_libp2p_gossipsub() {
    let (o, t) = (
        gossipsub::PeerScoreParams::default(),
        theirs::PeerScoreParams::default(),
    );
    let params = [
        row("topic_score_cap", o.topic_score_cap, t.topic_score_cap),
        row(
            "app_specific_weight",
            o.app_specific_weight,
            t.app_specific_weight,
        ),
        row(
            "ip_colocation_factor_weight",
            o.ip_colocation_factor_weight,
            t.ip_colocation_factor_weight,
        ),
        row(
            "ip_colocation_factor_threshold",
            o.ip_colocation_factor_threshold,
            t.ip_colocation_factor_threshold,
        ),
        row(
            "ip_colocation_factor_whitelist",
            o.ip_colocation_factor_whitelist.len(),
            t.ip_colocation_factor_whitelist.len(),
        ),
        row(
            "behaviour_penalty_weight",
            o.behaviour_penalty_weight,
            t.behaviour_penalty_weight,
        ),
        row(
            "behaviour_penalty_threshold",
            o.behaviour_penalty_threshold,
            t.behaviour_penalty_threshold,
        ),
        row(
            "behaviour_penalty_decay",
            o.behaviour_penalty_decay,
            t.behaviour_penalty_decay,
        ),
        row("decay_interval", o.decay_interval, t.decay_interval),
        row("decay_to_zero", o.decay_to_zero, t.decay_to_zero),
        row("retain_score", o.retain_score, t.retain_score),
        row("slow_peer_weight", o.slow_peer_weight, t.slow_peer_weight),
        row(
            "slow_peer_threshold",
            o.slow_peer_threshold,
            t.slow_peer_threshold,
        ),
        row("slow_peer_decay", o.slow_peer_decay, t.slow_peer_decay),
        row("topics", o.topics.len(), t.topics.len()),
    ];
    let (o, t) = (
        gossipsub::TopicScoreParams::default(),
        theirs::TopicScoreParams::default(),
    );
    let topic = [
        row("topic_weight", o.topic_weight, t.topic_weight),
        row(
            "time_in_mesh_weight",
            o.time_in_mesh_weight,
            t.time_in_mesh_weight,
        ),
        row(
            "time_in_mesh_quantum",
            o.time_in_mesh_quantum,
            t.time_in_mesh_quantum,
        ),
        row("time_in_mesh_cap", o.time_in_mesh_cap, t.time_in_mesh_cap),
        row(
            "first_message_deliveries_weight",
            o.first_message_deliveries_weight,
            t.first_message_deliveries_weight,
        ),
        row(
            "first_message_deliveries_decay",
            o.first_message_deliveries_decay,
            t.first_message_deliveries_decay,
        ),
        row(
            "first_message_deliveries_cap",
            o.first_message_deliveries_cap,
            t.first_message_deliveries_cap,
        ),
        row(
            "mesh_message_deliveries_weight",
            o.mesh_message_deliveries_weight,
            t.mesh_message_deliveries_weight,
        ),
        row(
            "mesh_message_deliveries_decay",
            o.mesh_message_deliveries_decay,
            t.mesh_message_deliveries_decay,
        ),
        row(
            "mesh_message_deliveries_cap",
            o.mesh_message_deliveries_cap,
            t.mesh_message_deliveries_cap,
        ),
        row(
            "mesh_message_deliveries_threshold",
            o.mesh_message_deliveries_threshold,
            t.mesh_message_deliveries_threshold,
        ),
        row(
            "mesh_message_deliveries_window",
            o.mesh_message_deliveries_window,
            t.mesh_message_deliveries_window,
        ),
        row(
            "mesh_message_deliveries_activation",
            o.mesh_message_deliveries_activation,
            t.mesh_message_deliveries_activation,
        ),
        row(
            "mesh_failure_penalty_weight",
            o.mesh_failure_penalty_weight,
            t.mesh_failure_penalty_weight,
        ),
        row(
            "mesh_failure_penalty_decay",
            o.mesh_failure_penalty_decay,
            t.mesh_failure_penalty_decay,
        ),
        row(
            "invalid_message_deliveries_weight",
            o.invalid_message_deliveries_weight,
            t.invalid_message_deliveries_weight,
        ),
        row(
            "invalid_message_deliveries_decay",
            o.invalid_message_deliveries_decay,
            t.invalid_message_deliveries_decay,
        ),
    ];
    let (o, t) = (
        gossipsub::PeerScoreThresholds::default(),
        theirs::PeerScoreThresholds::default(),
    );
    let thresholds = [
        row("gossip_threshold", o.gossip_threshold, t.gossip_threshold),
        row(
            "publish_threshold",
            o.publish_threshold,
            t.publish_threshold,
        ),
        row(
            "graylist_threshold",
            o.graylist_threshold,
            t.graylist_threshold,
        ),
        row(
            "accept_px_threshold",
            o.accept_px_threshold,
            t.accept_px_threshold,
        ),
        row(
            "opportunistic_graft_threshold",
            o.opportunistic_graft_threshold,
            t.opportunistic_graft_threshold,
        ),
    ];
    // Documented in MIGRATING.md: go's decay_to_zero (0.01) here, 0.1 there (which is also
    // the base of their `score_parameter_decay`).
    let documented = [("decay_to_zero", "0.01", "0.1")];
    for (name, ours, theirs) in documented {
        let r = params.iter().find(|r| r.name == name).expect("row");
        assert!(
            r.ours == ours && r.theirs == theirs,
            "{name}: documented as ours {ours} / theirs {theirs}, now ours {} / theirs {}",
            r.ours,
            r.theirs
        );
    }
    let differing: Vec<String> = params
        .iter()
        .chain(&topic)
        .chain(&thresholds)
        .filter(|r| r.ours != r.theirs && !documented.iter().any(|d| d.0 == r.name))
        .map(|r| format!("{}: ours {} theirs {}", r.name, r.ours, r.theirs))
        .collect();
    assert!(
        differing.is_empty(),
        "score defaults differ:\n{}",
        differing.join("\n")
    );
}
