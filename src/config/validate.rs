//! The checks run by [`ConfigBuilder::build`](super::ConfigBuilder::build): bounds on every
//! [`Config`] value, in the documented order.

use std::time::Duration;

use super::Config;
use crate::error::ConfigError;

/// The smallest accepted [`ConfigBuilder::max_transmit_size`](super::ConfigBuilder::max_transmit_size): below this, a single RPC could not
/// even carry a subscription with a long topic or one control message with a few ids.
pub(super) const MIN_TRANSMIT_SIZE: usize = 128;

/// The largest accepted configured duration: one year, beyond any sensible value, and small
/// enough that `Instant + MAX_DURATION` (and sums of a few of them) cannot overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The largest `history_length` accepted: the message cache allocates one window per
/// heartbeat when the router is built, and tick arithmetic adds it to heartbeat counts.
const MAX_HISTORY_LENGTH: usize = 10_000;

/// Returns an [`ConfigError::InvalidField`] for `field` unless `ok`.
fn ensure(ok: bool, field: &'static str, reason: impl Into<String>) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidField {
            field,
            reason: reason.into(),
        })
    }
}

/// The mesh degree checks. The bootstrapper setup (D = D_lo = D_hi = D_out = 0, and so
/// D_score = 0: the node keeps no mesh and PRUNEs every GRAFT with peer exchange, the v1.1 spec's
/// recommendation for network operators) is accepted as it is by go.
fn validate_degrees(c: &Config) -> Result<(), ConfigError> {
    let bootstrapper =
        c.mesh_n == 0 && c.mesh_n_low == 0 && c.mesh_n_high == 0 && c.mesh_outbound_min == 0;
    if !bootstrapper {
        ensure(c.mesh_n_low >= 1, "mesh_n_low", "must be at least 1")?;
        ensure(
            c.mesh_n_low <= c.mesh_n,
            "mesh_n_low",
            format!("{} exceeds mesh_n ({})", c.mesh_n_low, c.mesh_n),
        )?;
        ensure(
            c.mesh_n <= c.mesh_n_high,
            "mesh_n_high",
            format!("{} is below mesh_n ({})", c.mesh_n_high, c.mesh_n),
        )?;
    }
    ensure(
        c.retain_scores <= c.mesh_n_high,
        "retain_scores",
        format!(
            "{} exceeds mesh_n_high ({})",
            c.retain_scores, c.mesh_n_high
        ),
    )?;
    if bootstrapper {
        return Ok(());
    }
    ensure(
        c.mesh_outbound_min < c.mesh_n_low,
        "mesh_outbound_min",
        format!(
            "{} must be below mesh_n_low ({})",
            c.mesh_outbound_min, c.mesh_n_low
        ),
    )?;
    ensure(
        c.mesh_outbound_min <= c.mesh_n / 2,
        "mesh_outbound_min",
        format!(
            "{} exceeds half of mesh_n ({})",
            c.mesh_outbound_min, c.mesh_n
        ),
    )
}

/// The checks of [`ConfigBuilder::build`](super::ConfigBuilder::build), in the documented order.
pub(super) fn validate(c: &Config) -> Result<(), ConfigError> {
    validate_degrees(c)?;
    ensure(
        (0.0..=1.0).contains(&c.gossip_factor),
        "gossip_factor",
        format!("{} is not within 0.0..=1.0", c.gossip_factor),
    )?;
    ensure(
        c.history_length >= 1,
        "history_length",
        "must be at least 1",
    )?;
    ensure(
        c.history_length <= MAX_HISTORY_LENGTH,
        "history_length",
        format!("{} exceeds {MAX_HISTORY_LENGTH}", c.history_length),
    )?;
    ensure(
        c.max_cache_bytes >= 1,
        "max_cache_bytes",
        "must be at least 1",
    )?;
    ensure(
        c.max_seen_bytes >= 1,
        "max_seen_bytes",
        "must be at least 1",
    )?;
    ensure(
        (1..=c.history_length).contains(&c.history_gossip),
        "history_gossip",
        format!(
            "{} is not within 1..=history_length ({})",
            c.history_gossip, c.history_length
        ),
    )?;
    ensure(
        !c.heartbeat_interval.is_zero(),
        "heartbeat_interval",
        "must not be zero",
    )?;
    ensure(!c.seen_ttl.is_zero(), "seen_ttl", "must not be zero")?;
    ensure(!c.fanout_ttl.is_zero(), "fanout_ttl", "must not be zero")?;
    for (field, value) in [
        ("heartbeat_interval", c.heartbeat_interval),
        ("heartbeat_initial_delay", c.heartbeat_initial_delay),
        ("fanout_ttl", c.fanout_ttl),
        ("seen_ttl", c.seen_ttl),
        ("iwant_followup_time", c.iwant_followup_time),
        ("prune_backoff", c.prune_backoff),
        ("unsubscribe_backoff", c.unsubscribe_backoff),
        ("graft_flood_threshold", c.graft_flood_threshold),
        ("forward_queue_duration", c.forward_queue_duration),
        ("publish_queue_duration", c.publish_queue_duration),
    ] {
        ensure(
            value <= MAX_DURATION,
            field,
            format!("{value:?} exceeds the maximum of {MAX_DURATION:?}"),
        )?;
    }
    ensure(
        c.heartbeat_interval
            .checked_mul(c.backoff_slack)
            .is_some_and(|slack| slack <= MAX_DURATION),
        "backoff_slack",
        format!(
            "{} heartbeats of {:?} exceed the maximum of {MAX_DURATION:?}",
            c.backoff_slack, c.heartbeat_interval
        ),
    )?;
    ensure(
        c.max_transmit_size >= MIN_TRANSMIT_SIZE,
        "max_transmit_size",
        format!(
            "{} is below the minimum of {MIN_TRANSMIT_SIZE} bytes",
            c.max_transmit_size
        ),
    )?;
    ensure(
        c.max_ihave_length >= 1,
        "max_ihave_length",
        "must be at least 1",
    )?;
    ensure(
        c.send_queue_size >= 1,
        "send_queue_size",
        "must be at least 1",
    )?;
    ensure(
        c.send_queue_bytes >= 1,
        "send_queue_bytes",
        "must be at least 1",
    )?;
    ensure(
        c.opportunistic_graft_ticks >= 1,
        "opportunistic_graft_ticks",
        "must be at least 1",
    )?;
    ensure(
        c.direct_connect_ticks >= 1,
        "direct_connect_ticks",
        "must be at least 1",
    )?;
    ensure(
        c.prune_backoff >= c.heartbeat_interval,
        "prune_backoff",
        format!(
            "{:?} is shorter than heartbeat_interval ({:?})",
            c.prune_backoff, c.heartbeat_interval
        ),
    )?;
    ensure(
        c.max_messages_per_rpc != Some(0),
        "max_messages_per_rpc",
        "must be at least 1 when set",
    )?;
    ensure(
        c.max_subscriptions_per_rpc >= 1,
        "max_subscriptions_per_rpc",
        "must be at least 1",
    )?;
    ensure(
        c.max_topics_per_peer >= 1,
        "max_topics_per_peer",
        "must be at least 1",
    )?;
    ensure(c.max_topic_len >= 1, "max_topic_len", "must be at least 1")?;
    ensure(
        c.max_peer_record_size >= 1,
        "max_peer_record_size",
        "must be at least 1",
    )?;
    ensure(
        c.max_peer_record_addresses >= 1,
        "max_peer_record_addresses",
        "must be at least 1",
    )?;
    ensure(
        c.max_signature_checks_per_heartbeat >= 1,
        "max_signature_checks_per_heartbeat",
        "must be at least 1",
    )?;
    ensure(
        c.max_message_bytes_per_peer_per_heartbeat >= 1,
        "max_message_bytes_per_peer_per_heartbeat",
        "must be at least 1",
    )?;
    ensure(
        c.max_invalid_signatures >= 1,
        "max_invalid_signatures",
        "must be at least 1",
    )?;
    for (value, field) in [
        (c.max_message_id_len, "max_message_id_len"),
        (c.max_control_entries_per_rpc, "max_control_entries_per_rpc"),
        (c.max_control_bytes_per_rpc, "max_control_bytes_per_rpc"),
    ] {
        ensure(value >= 1, field, "must be at least 1")?;
    }
    Ok(())
}
