//! Per-peer and per-topic counters, and the topic terms (`P1`..`P4`) computed from them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use web_time::Instant;

use super::explain::Term;
use super::params::TopicScoreParams;
use crate::types::TopicHash;

/// Whether a peer is connected, or disconnected with its record retained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Connection {
    /// Connected.
    Connected,
    /// Disconnected at `since`; the record is dropped at `expires` (`None`: the retention
    /// period does not fit an `Instant`, so never). `score` is the key by which retained
    /// records are evicted when too many are kept: the score at the disconnect, updated when
    /// a penalty or application score is applied to the retained record.
    Retained {
        since: Instant,
        expires: Option<Instant>,
        score: OrdScore,
    },
}

/// A score with a total order (`f64::total_cmp`), to key an ordered index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OrdScore(pub(crate) f64);

impl PartialEq for OrdScore {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0).is_eq()
    }
}

impl Eq for OrdScore {}

impl PartialOrd for OrdScore {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrdScore {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Everything we track about one peer.
#[derive(Debug)]
pub(crate) struct PeerStats {
    pub(crate) connection: Connection,
    /// Per-topic counters: scored topics with non-zero counters, and topics where the peer
    /// is in our mesh.
    pub(crate) topics: BTreeMap<TopicHash, TopicStats>,
    /// The peer's IPs, as reported with `add_ip` while connected; a retained record keeps
    /// the IPs it had at the disconnect (still counted for `P6`) until it expires.
    /// Each IP with the number of the peer's connections from it.
    pub(crate) ips: BTreeMap<IpAddr, u32>,
    /// `P7` counter.
    pub(crate) behaviour_penalty: f64,
    /// `P5` value.
    pub(crate) application_score: f64,
    /// Slow-peer counter: RPCs dropped because the peer did not read them.
    pub(crate) slow_peer_penalty: f64,
}

impl PeerStats {
    pub(crate) fn new() -> Self {
        PeerStats {
            connection: Connection::Connected,
            topics: BTreeMap::new(),
            ips: BTreeMap::new(),
            behaviour_penalty: 0.0,
            application_score: 0.0,
            slow_peer_penalty: 0.0,
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connection == Connection::Connected
    }

    /// `true` if the record holds nothing a fresh record would not: forgetting it loses
    /// nothing.
    pub(crate) fn is_blank(&self) -> bool {
        self.topics.values().all(TopicStats::is_idle)
            && self.ips.is_empty()
            && self.behaviour_penalty == 0.0
            && self.application_score == 0.0
            && self.slow_peer_penalty == 0.0
    }

    /// Drops the topic entries that carry no information.
    pub(crate) fn drop_idle_topics(&mut self) {
        self.topics.retain(|_, t| !t.is_idle());
    }
}

/// Counters of one peer in one topic.
#[derive(Debug, Clone, Default)]
pub(crate) struct TopicStats {
    /// When the peer was grafted; `Some` exactly while it is in our mesh.
    pub(crate) graft_time: Option<Instant>,
    /// `P2` counter.
    pub(crate) first_message_deliveries: f64,
    /// `P3` counter.
    pub(crate) mesh_message_deliveries: f64,
    /// `P3b` counter.
    pub(crate) mesh_failure_penalty: f64,
    /// `P4` counter.
    pub(crate) invalid_message_deliveries: f64,
}

impl TopicStats {
    pub(crate) fn in_mesh(&self) -> bool {
        self.graft_time.is_some()
    }

    /// Not in the mesh and every counter zero.
    pub(crate) fn is_idle(&self) -> bool {
        self.graft_time.is_none()
            && self.first_message_deliveries == 0.0
            && self.mesh_message_deliveries == 0.0
            && self.mesh_failure_penalty == 0.0
            && self.invalid_message_deliveries == 0.0
    }

    /// Time in the mesh at `now` (zero outside the mesh, or if `now` is before the graft).
    pub(crate) fn mesh_time(&self, now: Instant) -> Duration {
        self.graft_time
            .map(|t| now.saturating_duration_since(t))
            .unwrap_or_default()
    }

    /// The `P3` deficit at `now`: `threshold - counter` when the peer has been in the mesh
    /// for at least the activation time and the counter is below the threshold, else 0.
    pub(crate) fn mesh_delivery_deficit(&self, params: &TopicScoreParams, now: Instant) -> f64 {
        let active =
            self.in_mesh() && self.mesh_time(now) >= params.mesh_message_deliveries_activation;
        if active && self.mesh_message_deliveries < params.mesh_message_deliveries_threshold {
            params.mesh_message_deliveries_threshold - self.mesh_message_deliveries
        } else {
            0.0
        }
    }

    /// Adds the sticky `P3b` penalty for an active deficit; called when the peer leaves the
    /// mesh (prune or disconnect).
    pub(crate) fn apply_mesh_failure(&mut self, params: &TopicScoreParams, now: Instant) {
        let deficit = self.mesh_delivery_deficit(params, now);
        if deficit > 0.0 {
            self.mesh_failure_penalty += deficit * deficit;
        }
    }

    /// The five topic terms at `now`.
    pub(crate) fn terms(&self, params: &TopicScoreParams, now: Instant) -> TopicTerms {
        // P1: whole quanta in the mesh, capped. A zero quantum (rejected by validation)
        // disables the term instead of dividing by zero.
        let quanta = if params.time_in_mesh_quantum.is_zero() {
            0.0
        } else {
            (self.mesh_time(now).as_nanos() / params.time_in_mesh_quantum.as_nanos()) as f64
        };
        let p1 = quanta.min(params.time_in_mesh_cap);
        let p2 = self.first_message_deliveries;
        let deficit = self.mesh_delivery_deficit(params, now);
        let p3 = deficit * deficit;
        let p3b = self.mesh_failure_penalty;
        let p4 = self.invalid_message_deliveries * self.invalid_message_deliveries;
        TopicTerms {
            time_in_mesh: term(quanta, params.time_in_mesh_weight, p1),
            first_message_deliveries: term(p2, params.first_message_deliveries_weight, p2),
            mesh_message_deliveries: term(
                self.mesh_message_deliveries,
                params.mesh_message_deliveries_weight,
                p3,
            ),
            mesh_failure_penalty: term(p3b, params.mesh_failure_penalty_weight, p3b),
            invalid_message_deliveries: term(
                self.invalid_message_deliveries,
                params.invalid_message_deliveries_weight,
                p4,
            ),
        }
    }
}

/// A term with `contribution = weight * value`; a zero value contributes exactly 0 whatever
/// the weight.
pub(crate) fn term(counter: f64, weight: f64, value: f64) -> Term {
    let contribution = if value == 0.0 { 0.0 } else { weight * value };
    Term {
        counter,
        weight,
        contribution,
    }
}

/// The topic terms of one peer in one topic, before the topic weight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TopicTerms {
    pub(crate) time_in_mesh: Term,
    pub(crate) first_message_deliveries: Term,
    pub(crate) mesh_message_deliveries: Term,
    pub(crate) mesh_failure_penalty: Term,
    pub(crate) invalid_message_deliveries: Term,
}

impl TopicTerms {
    /// Sum of the five contributions (before the topic weight).
    pub(crate) fn sum(&self) -> f64 {
        self.time_in_mesh.contribution
            + self.first_message_deliveries.contribution
            + self.mesh_message_deliveries.contribution
            + self.mesh_failure_penalty.contribution
            + self.invalid_message_deliveries.contribution
    }
}
