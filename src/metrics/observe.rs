//! What the metrics read: RPCs queued and received, router events, and the router's state at
//! every heartbeat.

use std::time::Duration;

use super::Metrics;
use super::register::{ByKind, CONTROL_KINDS};
use crate::event::{Event, MessageAcceptance};
use crate::queue::PeerQueue;
use crate::router::{MeshChurn, MeshInclusion, Router};
use crate::types::{ControlAction, PeerKind, Rpc, TopicHash};

/// A control entry's kind (its index in `CONTROL_KINDS`) and how many message ids it carries.
fn control_kind(control: &ControlAction) -> (usize, usize) {
    match control {
        ControlAction::Graft { .. } => (0, 0),
        ControlAction::Prune { .. } => (1, 0),
        ControlAction::IHave { message_ids, .. } => (2, message_ids.len()),
        ControlAction::IWant { message_ids } => (3, message_ids.len()),
        ControlAction::IDontWant { message_ids } => (4, message_ids.len()),
    }
}

/// Counts of one direction of traffic not yet added to their counters.
#[derive(Debug, Clone, Copy, Default)]
struct Traffic {
    messages: u64,
    bytes: u64,
}

/// What the per-message hooks counted since the last flush.
pub(crate) struct Pending {
    /// Per topic slot: sent, received (duplicates included).
    topics: Vec<(Traffic, Traffic)>,
    /// Per control kind: (entries, ids) sent, and received.
    control_sent: [(u64, u64); CONTROL_KINDS.len()],
    control_received: [(u64, u64); CONTROL_KINDS.len()],
}

impl Pending {
    pub(crate) fn new(slots: usize) -> Self {
        Pending {
            topics: vec![Default::default(); slots],
            control_sent: Default::default(),
            control_received: Default::default(),
        }
    }
}

/// Counts control entries and their ids.
fn count_control(pending: &mut [(u64, u64); CONTROL_KINDS.len()], control: &[ControlAction]) {
    for entry in control {
        let (kind, ids) = control_kind(entry);
        pending[kind].0 += 1;
        pending[kind].1 += ids as u64;
    }
}

/// Adds pending control counts to their counters.
fn flush_control(counters: &ByKind, pending: &mut [(u64, u64); CONTROL_KINDS.len()]) {
    for (kind, (entries, ids)) in std::mem::take(pending).into_iter().enumerate() {
        counters.entries[kind].inc_by(entries);
        if let Some(counter) = &counters.ids[kind] {
            counter.inc_by(ids);
        }
    }
}

/// The label value of a peer's protocol.
fn protocol_label(kind: PeerKind) -> &'static str {
    match kind {
        PeerKind::Floodsub => "floodsub",
        PeerKind::Gossipsub => "meshsub_1.0",
        PeerKind::Gossipsubv1_1 => "meshsub_1.1",
        PeerKind::Gossipsubv1_2 => "meshsub_1.2",
        PeerKind::Gossipsubv1_3 => "meshsub_1.3",
        PeerKind::NotSupported => "not_supported",
    }
}

const PROTOCOLS: [PeerKind; 6] = [
    PeerKind::Floodsub,
    PeerKind::Gossipsub,
    PeerKind::Gossipsubv1_1,
    PeerKind::Gossipsubv1_2,
    PeerKind::Gossipsubv1_3,
    PeerKind::NotSupported,
];

/// The send queue classes, in the order of `PeerQueue::usage_by_class`.
const CLASSES: [&str; 3] = ["control", "publish", "forward"];

impl Metrics {
    /// An RPC queued for a peer (before splitting to fit its frame limit).
    pub(crate) fn on_send(&mut self, rpc: &Rpc) {
        for message in &rpc.messages {
            let sent = &mut self.pending.topics[self.topics.slot(&message.topic)].0;
            sent.messages += 1;
            sent.bytes += message.data.len() as u64;
        }
        count_control(&mut self.pending.control_sent, &rpc.control);
    }

    /// An RPC received and decoded (before the router drops duplicates).
    pub(crate) fn on_receive(&mut self, rpc: &Rpc) {
        for message in &rpc.messages {
            let received = &mut self.pending.topics[self.topics.slot(&message.topic)].1;
            received.messages += 1;
            received.bytes += message.data.len() as u64;
        }
        count_control(&mut self.pending.control_received, &rpc.control);
    }

    /// Adds what the per-message hooks counted to the counters.
    pub(crate) fn flush(&mut self) {
        for (slot, (sent, received)) in self.pending.topics.iter_mut().enumerate() {
            let metrics = &self.topics.slots()[slot];
            let (sent, received) = (std::mem::take(sent), std::mem::take(received));
            metrics.sent.inc_by(sent.messages);
            metrics.sent_bytes.inc_by(sent.bytes);
            metrics.recv_unfiltered.inc_by(received.messages);
            metrics.recv_unfiltered_bytes.inc_by(received.bytes);
        }
        flush_control(&self.control_sent, &mut self.pending.control_sent);
        flush_control(&self.control_received, &mut self.pending.control_received);
    }

    /// An event of the router, on its way to the application.
    pub(crate) fn on_event(&self, event: &Event) {
        match event {
            Event::Message { message, .. } => {
                let topic = self.topics.get(&message.topic);
                topic.recv.inc();
                topic.recv_bytes.inc_by(message.data.len() as u64);
                topic.delivered.inc();
                if !self.validate_messages {
                    topic.accepted.inc();
                }
            }
            Event::SlowPeer {
                failed_messages, ..
            } => {
                self.slow_peers.inc();
                for (class, n) in [
                    ("publish", failed_messages.publish),
                    ("forward", failed_messages.forward),
                    ("control", failed_messages.control),
                    ("timeout", failed_messages.timeout),
                ] {
                    if n > 0 {
                        self.queue_dropped
                            .get_or_create(&[("class", class)])
                            .inc_by(n as u64);
                    }
                }
            }
            Event::PeerExchange { records, .. } => {
                self.px_records_verified.inc_by(records.len() as u64);
            }
            _ => {}
        }
    }

    /// A dial requested by the router.
    pub(crate) fn on_dial(&self) {
        self.dials.inc();
    }

    /// A message we published (accepted by the router).
    pub(crate) fn on_publish(&self, topic: &TopicHash, bytes: usize) {
        let topic = self.topics.get(topic);
        topic.published.inc();
        topic.published_bytes.inc_by(bytes as u64);
    }

    /// The application's verdict on a message of `topic` (`None`: not awaiting one).
    pub(crate) fn on_validation(&self, topic: Option<&TopicHash>, acceptance: MessageAcceptance) {
        let Some(topic) = topic else {
            return;
        };
        let topic = self.topics.get(topic);
        match acceptance {
            MessageAcceptance::Accept => topic.accepted.inc(),
            MessageAcceptance::Reject => topic.rejected.inc(),
            MessageAcceptance::Ignore => topic.ignored.inc(),
        };
    }

    /// How long the router's heartbeat took.
    pub(crate) fn on_heartbeat_duration(&self, elapsed: Duration) {
        self.heartbeat_duration.observe(elapsed.as_secs_f64());
    }

    /// Samples the router's state and the send queues, and turns the router's cumulative
    /// counters into counter increments. Called after every heartbeat.
    pub(crate) fn on_heartbeat<'a>(
        &mut self,
        router: &Router,
        queues: impl Iterator<Item = &'a PeerQueue>,
    ) {
        self.flush();
        self.sample_topics(router);
        self.sample_peers(router, queues);
        self.diff_counters(router);
        self.diff_mesh_stats(router);
    }

    fn sample_topics(&self, router: &Router) {
        let config = router.config();
        let n = self.topics.len();
        let (mut active, mut mesh, mut fanout, mut known) =
            (vec![0i64; n], vec![0i64; n], vec![0i64; n], vec![0i64; n]);
        let (mut no_peers, mut below_d_lo, mut healthy, mut below_d_out) = (0, 0, 0, 0);
        let scoring = router.score_thresholds().is_some();
        for topic in router.topics() {
            // Each topic against its own degrees (`set_topic_config`).
            let degrees = config.topic_mesh_config(topic);
            let (d_lo, d_hi, d_out) = (
                degrees.mesh_n_low,
                degrees.mesh_n_high,
                degrees.mesh_outbound_min,
            );
            let slot = self.topics.slot(topic);
            let size = router.mesh_peers(topic).count();
            active[slot] += 1;
            mesh[slot] += size as i64;
            match size {
                0 => no_peers += 1,
                s if s < d_lo => below_d_lo += 1,
                s if s <= d_hi => healthy += 1,
                _ => {}
            }
            if router.mesh_outbound_count(topic) < d_out {
                below_d_out += 1;
            }
            if scoring {
                let histogram = &self.topics.slots()[slot].mesh_scores;
                for peer in router.mesh_peers(topic) {
                    if let Some(score) = router.peer_score(peer) {
                        histogram.observe(score);
                    }
                }
            }
        }
        for topic in router.fanout_topics() {
            fanout[self.topics.slot(topic)] += router.fanout_peers(topic).count() as i64;
        }
        for (topic, peers) in router.topic_peer_counts() {
            known[self.topics.slot(topic)] += peers as i64;
        }
        for (slot, metrics) in self.topics.slots().iter().enumerate() {
            metrics.active.set(active[slot]);
            metrics.mesh_peers.set(mesh[slot]);
            metrics.fanout_peers.set(fanout[slot]);
            metrics.topic_peers.set(known[slot]);
        }
        self.topics_no_peers.set(no_peers);
        self.topics_below_d_lo.set(below_d_lo);
        self.topics_healthy.set(healthy);
        self.topics_below_d_out.set(below_d_out);
    }

    fn sample_peers<'a>(&self, router: &Router, queues: impl Iterator<Item = &'a PeerQueue>) {
        let mut per_kind = [0i64; PROTOCOLS.len()];
        for (_, kind) in router.peer_protocol() {
            if let Some(i) = PROTOCOLS.iter().position(|k| k == kind) {
                per_kind[i] += 1;
            }
        }
        for (kind, count) in PROTOCOLS.iter().zip(per_kind) {
            self.peers_per_protocol
                .get_or_create(&[("protocol", protocol_label(*kind))])
                .set(count);
        }
        let mut rpcs = [0i64; CLASSES.len()];
        let mut bytes = [0i64; CLASSES.len()];
        for queue in queues {
            for (i, (items, size)) in queue.usage_by_class().into_iter().enumerate() {
                rpcs[i] += items as i64;
                bytes[i] += size as i64;
            }
        }
        for (i, label) in CLASSES.iter().enumerate() {
            self.queue_rpcs
                .get_or_create(&[("class", label)])
                .set(rpcs[i]);
            self.queue_bytes
                .get_or_create(&[("class", label)])
                .set(bytes[i]);
        }
        let (mcache, seen) = router.cache_sizes();
        self.mcache_size.set(mcache as i64);
        self.seen_cache_size.set(seen as i64);
    }

    fn diff_counters(&mut self, router: &Router) {
        let now = *router.counters();
        let last = std::mem::replace(&mut self.last_counters, now);
        for ((event, value), (_, before)) in now.fields().into_iter().zip(last.fields()) {
            let delta = value.saturating_sub(before);
            // Touch every label so that each counter is exported from the first scrape on.
            self.router_events
                .get_or_create(&[("event", event)])
                .inc_by(delta);
        }
        let d = |f: fn(&crate::Counters) -> u64| f(&now).saturating_sub(f(&last));
        for (outcome, delta) in [
            ("served", d(|c| c.iwant_served)),
            ("unknown", d(|c| c.iwant_unknown)),
            ("not_allowed", d(|c| c.iwant_not_allowed)),
            ("skipped", d(|c| c.iwant_over_cap)),
            ("unwanted", d(|c| c.iwant_unwanted)),
        ] {
            self.iwant_received
                .get_or_create(&[("outcome", outcome)])
                .inc_by(delta);
        }
        // Without peer scoring nothing is penalised; the labels still exist (at 0).
        let scoring = router.score_thresholds().is_some();
        for (penalty, delta) in [
            ("broken_promise", d(|c| c.broken_promises)),
            ("graft_backoff", d(|c| c.grafts_in_backoff)),
            (
                "invalid_message",
                d(|c| c.messages_invalid.saturating_add(c.messages_rejected)),
            ),
        ] {
            self.penalties
                .get_or_create(&[("penalty", penalty)])
                .inc_by(if scoring { delta } else { 0 });
        }
    }

    fn diff_mesh_stats(&mut self, router: &Router) {
        for (topic, stats) in router.mesh_stats() {
            let last = self.last_mesh_stats.entry(topic.clone()).or_default();
            let metrics = self.topics.get(topic);
            for (i, _) in MeshInclusion::ALL.iter().enumerate() {
                metrics.inclusion[i].inc_by(stats.inclusions[i].saturating_sub(last.inclusions[i]));
            }
            for (i, _) in MeshChurn::ALL.iter().enumerate() {
                metrics.churn[i].inc_by(stats.churn[i].saturating_sub(last.churn[i]));
            }
            metrics
                .above_d_hi
                .inc_by(stats.above_d_hi.saturating_sub(last.above_d_hi));
            *last = *stats;
        }
    }
}
