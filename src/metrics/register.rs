//! Registration of every family (names without the `gossipsub_` prefix, which the
//! sub-registry adds; counters get `_total` from the encoder).

use std::collections::HashMap;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::topics::{TopicFamilies, TopicSlots};
use super::{Metrics, MetricsConfig};

/// One label whose name and value are both from a fixed set (`kind="graft"`, ...).
pub(crate) type FixedLabel = [(&'static str, &'static str); 1];

/// The control entry kinds (`kind` label values), indexed by `observe::control_kind`.
pub(crate) const CONTROL_KINDS: [&str; 5] = ["graft", "prune", "ihave", "iwant", "idontwant"];

/// Counter handles of one direction of control traffic per kind, resolved once so the hot
/// path increments without a label lookup: entries, and message ids (IHAVE, IWANT, IDONTWANT).
pub(crate) struct ByKind {
    pub(crate) entries: [Counter; CONTROL_KINDS.len()],
    pub(crate) ids: [Option<Counter>; CONTROL_KINDS.len()],
}

impl ByKind {
    fn new(entries: &Family<FixedLabel, Counter>, ids: &Family<FixedLabel, Counter>) -> Self {
        ByKind {
            entries: CONTROL_KINDS.map(|kind| entries.get_or_create_owned(&[("kind", kind)])),
            ids: CONTROL_KINDS.map(|kind| {
                matches!(kind, "ihave" | "iwant" | "idontwant")
                    .then(|| ids.get_or_create_owned(&[("kind", kind)]))
            }),
        }
    }
}

/// Buckets of the mesh peer score histogram: negative and positive decades around zero.
pub(crate) const SCORE_BUCKETS: [f64; 11] = [
    -10_000.0, -1_000.0, -100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1_000.0, 10_000.0,
];

fn score_histogram() -> Histogram {
    Histogram::new(SCORE_BUCKETS)
}

fn family<M>(registry: &mut Registry, name: &str, help: &str) -> Family<FixedLabel, M>
where
    M: Default,
    Family<FixedLabel, M>: prometheus_client::registry::Metric + Clone,
{
    let family = Family::default();
    registry.register(name, help, family.clone());
    family
}

fn topic_family<L, M>(registry: &mut Registry, name: &str, help: &str) -> Family<L, M>
where
    L: prometheus_client::encoding::EncodeLabelSet
        + Clone
        + std::hash::Hash
        + Eq
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    M: Default + Clone + prometheus_client::registry::Metric,
    Family<L, M>: prometheus_client::registry::Metric,
{
    let family = Family::default();
    registry.register(name, help, family.clone());
    family
}

fn metric<M: Default + Clone + prometheus_client::registry::Metric>(
    registry: &mut Registry,
    name: &str,
    help: &str,
) -> M {
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}

pub(super) fn register(r: &mut Registry, config: &MetricsConfig, validate: bool) -> Metrics {
    let mesh_scores = Family::new_with_constructor(score_histogram as fn() -> Histogram);
    r.register(
        "score_per_mesh_peer",
        "Scores of mesh peers per topic, sampled at every heartbeat (with peer scoring)",
        mesh_scores.clone(),
    );
    let families = TopicFamilies {
        received: topic_family(
            r,
            "message_received",
            "Messages received per topic by validation result (accepted, rejected, ignored)",
        ),
        delivered: topic_family(
            r,
            "message_delivered",
            "Messages delivered to the application per topic",
        ),
        published: topic_family(r, "topic_msg_published", "Messages we published per topic"),
        published_bytes: topic_family(
            r,
            "topic_msg_published_bytes",
            "Payload bytes of messages we published per topic",
        ),
        sent: topic_family(
            r,
            "topic_msg_sent_counts",
            "Messages sent per topic (one per recipient; publishes, forwards, IWANT replies)",
        ),
        sent_bytes: topic_family(
            r,
            "topic_msg_sent_bytes",
            "Payload bytes of messages sent per topic",
        ),
        recv_unfiltered: topic_family(
            r,
            "topic_msg_recv_counts_unfiltered",
            "Messages received per topic, duplicates included",
        ),
        recv_unfiltered_bytes: topic_family(
            r,
            "topic_msg_recv_bytes_unfiltered",
            "Payload bytes of messages received per topic, duplicates included",
        ),
        recv: topic_family(
            r,
            "topic_msg_recv_counts",
            "Messages received per topic, duplicates filtered",
        ),
        recv_bytes: topic_family(
            r,
            "topic_msg_recv_bytes",
            "Payload bytes of messages received per topic, duplicates filtered",
        ),
        active: topic_family(
            r,
            "topics_active_total",
            "Whether we are subscribed to the topic (1 or 0; the sum for `other`)",
        ),
        topic_peers: topic_family(r, "peers_total", "Connected peers subscribed to the topic"),
        mesh_peers: topic_family(r, "mesh_peers", "Peers in our mesh of the topic"),
        fanout_peers: topic_family(r, "fanout_peers", "Peers in our fanout of the topic"),
        above_d_hi: topic_family(
            r,
            "mesh_above_d_hi",
            "Heartbeats that found the mesh at or above D_hi and trimmed it",
        ),
        inclusion: topic_family(
            r,
            "mesh_peer_inclusion_events",
            "Peers added to a mesh, by reason",
        ),
        churn: topic_family(
            r,
            "mesh_peer_churn_events",
            "Peers removed from a mesh, by reason",
        ),
        mesh_scores,
    };
    let topics = TopicSlots::new(&families, config.topics());
    let heartbeat_duration = Histogram::new(exponential_buckets(0.000_1, 2.0, 14));
    r.register_with_unit(
        "heartbeat_duration",
        "Time the router spent in one heartbeat",
        Unit::Seconds,
        heartbeat_duration.clone(),
    );
    let control_sent = family(
        r,
        "control_sent",
        "Control entries queued for sending, by kind (graft, prune, ihave, iwant, idontwant)",
    );
    let control_received = family(r, "control_received", "Control entries received, by kind");
    let ids_sent = family(
        r,
        "control_ids_sent",
        "Message ids in IHAVE, IWANT and IDONTWANT entries queued for sending, by kind",
    );
    let ids_received = family(
        r,
        "control_ids_received",
        "Message ids in IHAVE, IWANT and IDONTWANT entries received, by kind",
    );
    let pending = super::observe::Pending::new(topics.len());
    let metrics = Metrics {
        pending,
        topics,
        validate_messages: validate,
        topics_no_peers: metric(
            r,
            "topics_no_peers",
            "Subscribed topics whose mesh is empty",
        ),
        topics_below_d_lo: metric(
            r,
            "topics_below_d_lo",
            "Subscribed topics whose mesh has at least one peer but fewer than D_lo",
        ),
        topics_healthy: metric(
            r,
            "topics_healthy",
            "Subscribed topics whose mesh is within [D_lo, D_hi]",
        ),
        topics_below_d_out: metric(
            r,
            "topics_below_d_out",
            "Subscribed topics whose mesh has fewer than D_out outbound peers",
        ),
        control_sent: ByKind::new(&control_sent, &ids_sent),
        control_received: ByKind::new(&control_received, &ids_received),
        iwant_received: family(
            r,
            "iwant_received",
            "Message ids asked for by IWANT, by outcome (served, unknown, not_allowed, skipped, unwanted)",
        ),
        penalties: family(
            r,
            "scoring_penalties",
            "Scoring penalties by kind (broken_promise, graft_backoff, invalid_message); counted with peer scoring on",
        ),
        peers_per_protocol: family(r, "peers_per_protocol", "Connected peers by protocol"),
        queue_rpcs: family(
            r,
            "send_queue_rpcs",
            "RPCs waiting in the send queues of all peers, by class",
        ),
        queue_bytes: family(
            r,
            "send_queue_bytes",
            "Bytes waiting in the send queues of all peers, by class",
        ),
        queue_dropped: family(
            r,
            "send_queue_dropped",
            "RPCs dropped from send queues, by class (publish, forward, control: queue full; timeout: waited too long)",
        ),
        slow_peers: metric(
            r,
            "slow_peers",
            "Slow-peer reports (a peer had RPCs dropped since the previous heartbeat)",
        ),
        px_records_verified: metric(
            r,
            "px_records_verified",
            "Signed peer records received in peer exchange and verified",
        ),
        dials: metric(r, "dials", "Dials requested (peer exchange, direct peers)"),
        mcache_size: metric(
            r,
            "mcache_size",
            "Messages in the message cache (all history windows)",
        ),
        seen_cache_size: metric(r, "seen_cache_size", "Message ids in the seen cache"),
        heartbeat_duration,
        router_events: family(
            r,
            "router_events",
            "Router counters (drops, ignored input, verifications), by event: one value per field of gossipsub::Counters",
        ),
        last_counters: crate::Counters::default(),
        last_mesh_stats: HashMap::new(),
    };
    // Every fixed label value of the event-driven families is exported from the first
    // scrape on (at 0), so queries and dashboards find them before the first event.
    for class in ["publish", "forward", "control", "timeout"] {
        let _ = metrics.queue_dropped.get_or_create(&[("class", class)]);
    }
    metrics
}
