//! Prometheus metrics (cargo feature `metrics`, on by default).
//!
//! Turn them on with [`Behaviour::with_metrics`](crate::Behaviour::with_metrics): every family
//! is registered in a sub-registry with the prefix `gossipsub`. The metrics only observe:
//! they read the RPCs the behaviour queues and receives, the events the router emits, and, at
//! every heartbeat, the router's [`Counters`](crate::Counters), mesh statistics and cheap
//! getters (mesh, fanout and topic sizes, cache sizes, peer kinds, scores) and the send
//! queues. Gauges and the counter-backed families are therefore up to one heartbeat old.
//!
//! Label cardinality is bounded by configuration: only topics listed in [`MetricsConfig`] get
//! a `topic` label of their own, all others are counted under [`OTHER_TOPIC`]. Every other
//! label has a fixed set of values. No remote input can create a label value.
//!
//! METRICS.md (in the repository) lists every family, and maps them to the names proposed in
//! libp2p/specs PR #695 and to libp2p-gossipsub 0.50's.

mod observe;
mod register;
mod topics;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::router::MeshTopicStats;
use crate::types::TopicHash;

pub use topics::OTHER_TOPIC;
use topics::TopicSlots;

/// Which topics get a `topic` label of their own (all others share [`OTHER_TOPIC`]).
#[derive(Debug, Clone, Default)]
pub struct MetricsConfig {
    topics: Vec<TopicHash>,
}

impl MetricsConfig {
    /// No topic labelled: every topic is counted under [`OTHER_TOPIC`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives `topic` a label of its own (its hash string is the label value).
    pub fn with_topic(mut self, topic: impl Into<TopicHash>) -> Self {
        self.topics.push(topic.into());
        self
    }

    /// Gives each of `topics` a label of its own.
    pub fn with_topics<T: Into<TopicHash>>(mut self, topics: impl IntoIterator<Item = T>) -> Self {
        self.topics.extend(topics.into_iter().map(Into::into));
        self
    }

    /// The labelled topics.
    pub fn topics(&self) -> &[TopicHash] {
        &self.topics
    }
}

/// A label with one `kind`, `outcome`, `class`, ... value from a fixed set.
type Fixed = Family<register::FixedLabel, Counter>;
type FixedGauge = Family<register::FixedLabel, Gauge>;

/// The registered families and the state needed to turn cumulative router values into
/// counter increments.
pub(crate) struct Metrics {
    topics: TopicSlots,
    /// Whether messages wait for the application's verdict (`validate_messages`).
    validate_messages: bool,
    topics_no_peers: Gauge,
    topics_below_d_lo: Gauge,
    topics_healthy: Gauge,
    topics_below_d_out: Gauge,
    control_sent: register::ByKind,
    control_received: register::ByKind,
    /// Per-message counts gathered in plain integers and added to their counters at the next
    /// heartbeat (or scrape-side flush): the forward path then costs no atomic operation
    /// per recipient.
    pending: observe::Pending,
    iwant_received: Fixed,
    penalties: Fixed,
    peers_per_protocol: FixedGauge,
    queue_rpcs: FixedGauge,
    queue_bytes: FixedGauge,
    queue_dropped: Fixed,
    slow_peers: Counter,
    px_records_verified: Counter,
    dials: Counter,
    mcache_size: Gauge,
    seen_cache_size: Gauge,
    heartbeat_duration: Histogram,
    router_events: Fixed,
    /// The router counters at the previous heartbeat.
    last_counters: crate::Counters,
    /// Each joined topic's mesh statistics at the previous heartbeat.
    last_mesh_stats: HashMap<TopicHash, MeshTopicStats>,
}

impl Metrics {
    /// Registers every family under `registry`'s `gossipsub` sub-registry.
    pub(crate) fn new(registry: &mut Registry, config: &MetricsConfig, validate: bool) -> Self {
        register::register(
            registry.sub_registry_with_prefix("gossipsub"),
            config,
            validate,
        )
    }

    /// How many `topic` label values there are (configured topics + `other`).
    #[cfg(test)]
    pub(crate) fn topic_label_count(&self) -> usize {
        self.topics.len()
    }
}
