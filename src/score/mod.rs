//! Peer scoring (gossipsub v1.1): parameters, thresholds, the score function and its state.
//!
//! ```text
//! score = TopicCap( Σ_topics topic_weight * (w1 P1 + w2 P2 + w3 P3 + w3b P3b + w4 P4) )
//!         + w5 P5 + w6 P6 + w7 P7
//! ```
//!
//! - `P1` time in mesh: whole `time_in_mesh_quantum`s since the GRAFT, capped.
//! - `P2` first deliveries: counter of valid messages the peer delivered first, capped.
//! - `P3` mesh delivery deficit: `(threshold - counter)^2` for a mesh peer that has been in the
//!   mesh for the activation time and delivered (first or near-first) fewer messages than the
//!   threshold.
//! - `P3b` mesh failure penalty: the `P3` deficit squared, accumulated when the peer leaves
//!   the mesh with a deficit.
//! - `P4` invalid messages: the invalid-delivery counter, squared.
//! - `P5` application score, set by the application.
//! - `P6` IP colocation: for each non-whitelisted IP of the peer shared by more than the
//!   threshold of connected peers, the surplus squared.
//! - `P7` behaviour penalty: the counter's excess over its threshold, squared.
//! - `P-slow` slow peer (not in the spec; as libp2p-gossipsub): RPCs dropped because the peer
//!   did not read them, above a threshold, linear. See `slow_peer`.
//!
//! `TopicCap` lowers the topic sum to `topic_score_cap` when that is positive and the sum
//! exceeds it. Counters decay by their factor every `decay_interval` and become 0 below
//! `decay_to_zero`. Only topics with [`TopicScoreParams`] contribute.
//!
//! The state (`PeerScore`, crate-internal) never reads the clock: every input takes `now`.

mod cidr;
mod decay;
mod deliveries;
#[cfg(test)]
pub(crate) use deliveries::RECORD_OVERHEAD as DELIVERY_RECORD_OVERHEAD;
mod error;
mod explain;
mod messages;
mod params;
mod peer_stats;
mod slow_peer;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_deliveries;
#[cfg(test)]
mod tests_retained;
mod thresholds;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use web_time::Instant;

use libp2p_identity::PeerId;

pub use cidr::{IpCidr, IpCidrError};
pub use decay::{score_parameter_decay, score_parameter_decay_with_base};
pub use error::ScoreParamsError;
pub use explain::{ScoreBreakdown, Term, TopicScoreBreakdown};
pub use params::{PeerScoreParams, TopicScoreParams};
pub use thresholds::PeerScoreThresholds;

use crate::types::TopicHash;
use decay::decay_counter;
use deliveries::Deliveries;
use peer_stats::{Connection, OrdScore, PeerStats, TopicTerms, term};

/// The most records of disconnected peers kept for `retain_score`. Peers choose how often they
/// connect and disconnect, so the retained set is bounded: beyond this, the least negative
/// record (the best score at its disconnect; among equals the one due to expire first) is
/// dropped, so churning fresh identities cannot push out a strongly negative record.
#[cfg(not(test))]
const MAX_RETAINED_PEERS: usize = 10_000;
#[cfg(test)]
const MAX_RETAINED_PEERS: usize = 3;

/// Why a received message was rejected, as far as scoring is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RejectReason {
    /// Signature or other authenticity fields missing, invalid or unexpected. The message id
    /// cannot be trusted, so only the sender is penalised (`P4`; `P7` in a topic without
    /// score parameters) and nothing is tracked by id.
    InvalidSignature,
    /// The application rejected it: `P4` for the sender and for every peer that delivered the
    /// message while it was pending, and for later deliverers of it.
    ValidationFailed,
    /// The application ignored it: nobody is credited or penalised.
    Ignored,
    /// The sender or the author is blacklisted: no score effect.
    Blacklisted,
}

/// The totals of a score evaluation.
struct Totals {
    topic_total_before_cap: f64,
    topic_total: f64,
    application: Term,
    ip_colocation: Term,
    behaviour_penalty: Term,
    slow_peer: Term,
    score: f64,
}

/// The peer-score function and its state. Time comes in as arguments; nothing reads the
/// clock. All maps are ordered, so iteration (and float summation) order is reproducible.
///
/// Memory: a record per connected peer and per retained peer (dropped `retain_score` after
/// the disconnect); per-topic counters only for scored topics with non-zero counters and for
/// topics where the peer is in our mesh; delivery records for `deliveries::DELIVERY_RECORD_TTL` (2 min),
/// within a byte bound (oldest forgotten first).
#[derive(Debug)]
pub(crate) struct PeerScore {
    params: PeerScoreParams,
    peers: BTreeMap<PeerId, PeerStats>,
    /// Peers per IP (connected, and retained until their record expires), for `P6`.
    peer_ips: BTreeMap<IpAddr, BTreeSet<PeerId>>,
    /// Retained records by expiry, the never-expiring last.
    retained_by_expiry: BTreeSet<(ExpiryKey, PeerId)>,
    /// Retained records in eviction order: the best score first, then the first to expire.
    retained_by_score: BTreeSet<(std::cmp::Reverse<OrdScore>, ExpiryKey, PeerId)>,
    deliveries: Deliveries,
    /// The instant of the last decay; `None` until the first `refresh`.
    last_decay: Option<Instant>,
}

impl PeerScore {
    /// Creates the score state. `params` should have passed [`PeerScoreParams::validate`];
    /// unvalidated parameters cannot cause a panic, but may give meaningless scores.
    pub(crate) fn new(params: PeerScoreParams) -> Self {
        PeerScore {
            params,
            peers: BTreeMap::new(),
            peer_ips: BTreeMap::new(),
            retained_by_expiry: BTreeSet::new(),
            retained_by_score: BTreeSet::new(),
            deliveries: Deliveries::default(),
            last_decay: None,
        }
    }

    /// The parameters in force.
    pub(crate) fn params(&self) -> &PeerScoreParams {
        &self.params
    }

    /// The score of `peer` at `now`; 0 for a peer without a record. Costs O(topics + IPs of
    /// the peer), allocates nothing. Never NaN: a NaN (only possible with unvalidated
    /// parameters) is reported as 0.
    pub(crate) fn score(&self, peer: &PeerId, now: Instant) -> f64 {
        match self.peers.get(peer) {
            Some(stats) => self.evaluate(stats, now, |_, _, _, _| {}).score,
            None => 0.0,
        }
    }

    /// The score of `peer` at `now` taken apart; `None` for a peer without a record.
    pub(crate) fn explain(&self, peer: &PeerId, now: Instant) -> Option<ScoreBreakdown> {
        let stats = self.peers.get(peer)?;
        let mut topics = Vec::new();
        let totals = self.evaluate(stats, now, |topic, params, terms, in_mesh| {
            topics.push(TopicScoreBreakdown {
                topic: topic.clone(),
                topic_weight: params.topic_weight,
                in_mesh,
                time_in_mesh: terms.time_in_mesh,
                first_message_deliveries: terms.first_message_deliveries,
                mesh_message_deliveries: terms.mesh_message_deliveries,
                mesh_failure_penalty: terms.mesh_failure_penalty,
                invalid_message_deliveries: terms.invalid_message_deliveries,
                total: terms.sum() * params.topic_weight,
            })
        });
        Some(ScoreBreakdown {
            score: totals.score,
            connected: stats.is_connected(),
            topics,
            topic_total_before_cap: totals.topic_total_before_cap,
            topic_score_cap: self.params.topic_score_cap,
            topic_total: totals.topic_total,
            application: totals.application,
            ip_colocation: totals.ip_colocation,
            behaviour_penalty: totals.behaviour_penalty,
            slow_peer: totals.slow_peer,
        })
    }

    /// The one implementation of the score function; `on_topic` sees every scored topic.
    fn evaluate(
        &self,
        stats: &PeerStats,
        now: Instant,
        mut on_topic: impl FnMut(&TopicHash, &TopicScoreParams, &TopicTerms, bool),
    ) -> Totals {
        let params = &self.params;
        let mut topic_total_before_cap = 0.0;
        for (topic, topic_stats) in &stats.topics {
            let Some(topic_params) = params.topics.get(topic) else {
                continue;
            };
            let terms = topic_stats.terms(topic_params, now);
            topic_total_before_cap += terms.sum() * topic_params.topic_weight;
            on_topic(topic, topic_params, &terms, topic_stats.in_mesh());
        }
        let topic_total =
            if params.topic_score_cap > 0.0 && topic_total_before_cap > params.topic_score_cap {
                params.topic_score_cap
            } else {
                topic_total_before_cap
            };

        let application = term(
            stats.application_score,
            params.app_specific_weight,
            stats.application_score,
        );

        let mut most_shared = 0usize;
        let mut p6 = 0.0;
        for ip in stats.ips.keys() {
            if params
                .ip_colocation_factor_whitelist
                .iter()
                .any(|net| net.contains(ip))
            {
                continue;
            }
            let sharing = self.peer_ips.get(ip).map_or(0, BTreeSet::len);
            most_shared = most_shared.max(sharing);
            let surplus = sharing as f64 - params.ip_colocation_factor_threshold;
            if surplus > 0.0 {
                p6 += surplus * surplus;
            }
        }
        let ip_colocation = term(most_shared as f64, params.ip_colocation_factor_weight, p6);

        let excess = stats.behaviour_penalty - params.behaviour_penalty_threshold;
        let p7 = if excess > 0.0 { excess * excess } else { 0.0 };
        let behaviour_penalty = term(stats.behaviour_penalty, params.behaviour_penalty_weight, p7);

        let slow_peer = slow_peer::slow_peer_term(stats.slow_peer_penalty, params);

        let score = topic_total
            + application.contribution
            + ip_colocation.contribution
            + behaviour_penalty.contribution
            + slow_peer.contribution;
        Totals {
            topic_total_before_cap,
            topic_total,
            application,
            ip_colocation,
            behaviour_penalty,
            slow_peer,
            score: if score.is_nan() { 0.0 } else { score },
        }
    }

    /// `peer` connected. A retained record is restored as it was (a peer cannot reset its
    /// score by reconnecting); otherwise a fresh record starts. No-op if already connected.
    pub(crate) fn add_peer(&mut self, peer: PeerId, _now: Instant) {
        if let Some(stats) = self.peers.get_mut(&peer) {
            if let Connection::Retained { expires, score, .. } = stats.connection {
                stats.connection = Connection::Connected;
                // The IPs of the old connections give way to those of the new ones.
                for ip in std::mem::take(&mut stats.ips).keys() {
                    unindex_ip(&mut self.peer_ips, &peer, ip);
                }
                self.unindex_retained(&peer, expires, score);
            }
            return;
        }
        self.peers.insert(peer, PeerStats::new());
    }

    /// `peer` disconnected (go's behaviour): it leaves every mesh, with the `P3b` penalty for
    /// an active deficit as on a prune. The record is then dropped (its IPs leaving the
    /// colocation index) if the score was positive (nothing to hold against the peer) or if
    /// it holds nothing; otherwise it is retained for `retain_score` with its `P2` counters
    /// reset (positive history is not kept) and everything else (`P3`, `P3b`, `P4`, `P5`,
    /// `P6` through its IPs, `P7`) kept. Retained records do not decay. O(log N).
    pub(crate) fn remove_peer(&mut self, peer: &PeerId, now: Instant) {
        let Some(stats) = self.peers.get(peer) else {
            return;
        };
        if !stats.is_connected() {
            return;
        }
        let score = self.score(peer, now);
        let Some(stats) = self.peers.get_mut(peer) else {
            return;
        };
        for (topic, topic_stats) in stats.topics.iter_mut() {
            if let Some(params) = self.params.topics.get(topic) {
                topic_stats.apply_mesh_failure(params, now);
            }
            topic_stats.graft_time = None;
            topic_stats.first_message_deliveries = 0.0;
        }
        stats.drop_idle_topics();
        if score > 0.0 || stats.is_blank() {
            self.drop_record(peer);
            return;
        }
        let expires = now.checked_add(self.params.retain_score);
        let score = OrdScore(score);
        stats.connection = Connection::Retained {
            since: now,
            expires,
            score,
        };
        let expiry = ExpiryKey::of(expires);
        self.retained_by_expiry.insert((expiry, *peer));
        self.retained_by_score
            .insert((std::cmp::Reverse(score), expiry, *peer));
        while self.retained_by_score.len() > MAX_RETAINED_PEERS {
            let Some((_, _, evicted)) = self.retained_by_score.first().copied() else {
                break;
            };
            tracing::debug!(peer = %evicted, "retained score records full; dropping the least negative");
            self.drop_record(&evicted);
        }
    }

    /// Removes `peer`'s record with its IPs and, if retained, its index entries.
    fn drop_record(&mut self, peer: &PeerId) {
        let Some(stats) = self.peers.remove(peer) else {
            return;
        };
        for ip in stats.ips.keys() {
            unindex_ip(&mut self.peer_ips, peer, ip);
        }
        if let Connection::Retained { expires, score, .. } = stats.connection {
            self.unindex_retained(peer, expires, score);
        }
    }

    /// Re-keys a retained record in the eviction index after its score changed.
    fn rekey_retained(&mut self, peer: &PeerId) {
        let Some(Connection::Retained {
            since,
            expires,
            score: old,
        }) = self.peers.get(peer).map(|s| s.connection)
        else {
            return;
        };
        let new = OrdScore(self.score(peer, since));
        self.unindex_retained(peer, expires, old);
        let expiry = ExpiryKey::of(expires);
        self.retained_by_expiry.insert((expiry, *peer));
        self.retained_by_score
            .insert((std::cmp::Reverse(new), expiry, *peer));
        if let Some(stats) = self.peers.get_mut(peer) {
            stats.connection = Connection::Retained {
                since,
                expires,
                score: new,
            };
        }
    }

    fn unindex_retained(&mut self, peer: &PeerId, expires: Option<Instant>, score: OrdScore) {
        let expiry = ExpiryKey::of(expires);
        self.retained_by_expiry.remove(&(expiry, *peer));
        self.retained_by_score
            .remove(&(std::cmp::Reverse(score), expiry, *peer));
    }

    /// Records that connected `peer` has a connection from `ip`: call once per connection
    /// (an IP counts once per peer toward colocation, and stays counted until as many
    /// [`remove_ip`](Self::remove_ip) calls). Ignored for unknown or disconnected peers: call
    /// [`add_peer`](Self::add_peer) first.
    pub(crate) fn add_ip(&mut self, peer: &PeerId, ip: IpAddr) {
        let Some(stats) = self.peers.get_mut(peer) else {
            return;
        };
        if !stats.is_connected() {
            return;
        }
        let connections = stats.ips.entry(ip).or_default();
        *connections = connections.saturating_add(1);
        self.peer_ips.entry(ip).or_default().insert(*peer);
    }

    /// Connected `peer` no longer uses `ip`. Ignored for a retained record: it keeps the IPs
    /// it had at the disconnect until it expires (so report the last connection's close
    /// with `remove_peer` before this).
    pub(crate) fn remove_ip(&mut self, peer: &PeerId, ip: &IpAddr) {
        let Some(stats) = self.peers.get_mut(peer) else {
            return;
        };
        if !stats.is_connected() {
            return;
        }
        let Some(connections) = stats.ips.get_mut(ip) else {
            return;
        };
        *connections -= 1;
        if *connections == 0 {
            stats.ips.remove(ip);
            unindex_ip(&mut self.peer_ips, peer, ip);
        }
    }

    /// `peer` joined our mesh for `topic` at `now`: `P1` and the `P3` activation clock start.
    /// A graft of a peer already in the mesh keeps the original graft time.
    pub(crate) fn graft(&mut self, peer: &PeerId, topic: &TopicHash, now: Instant) {
        let Some(stats) = self.peers.get_mut(peer) else {
            return;
        };
        if !stats.is_connected() {
            return;
        }
        let topic_stats = stats.topics.entry(topic.clone()).or_default();
        if topic_stats.graft_time.is_none() {
            topic_stats.graft_time = Some(now);
        }
    }

    /// `peer` left our mesh for `topic` at `now`: if `P3` was active with a deficit, the
    /// deficit squared is added to the sticky `P3b` penalty.
    pub(crate) fn prune(&mut self, peer: &PeerId, topic: &TopicHash, now: Instant) {
        let Some(stats) = self.peers.get_mut(peer) else {
            return;
        };
        let Some(topic_stats) = stats.topics.get_mut(topic) else {
            return;
        };
        if !topic_stats.in_mesh() {
            return;
        }
        if let Some(params) = self.params.topics.get(topic) {
            topic_stats.apply_mesh_failure(params, now);
        }
        topic_stats.graft_time = None;
        if topic_stats.is_idle() {
            stats.topics.remove(topic);
        }
    }

    /// `P7`: adds `count` to the behaviour penalty counter of `peer` (connected or retained).
    pub(crate) fn add_penalty(&mut self, peer: &PeerId, count: usize) {
        if let Some(stats) = self.peers.get_mut(peer) {
            stats.behaviour_penalty += count as f64;
            if !stats.is_connected() {
                self.rekey_retained(peer);
            }
        }
    }

    /// `P5`: sets the application-specific score of `peer`. Returns `false` (and changes
    /// nothing) for a peer without a record or a score that is not finite or over 1e50 in magnitude.
    pub(crate) fn set_application_score(&mut self, peer: &PeerId, score: f64) -> bool {
        // Bounded like the parameters, so `P5` cannot overflow either.
        if !score.is_finite() || score.abs() > error::MAX_MAGNITUDE {
            return false;
        }
        match self.peers.get_mut(peer) {
            Some(stats) => {
                stats.application_score = score;
                if !stats.is_connected() {
                    self.rekey_retained(peer);
                }
                true
            }
            None => false,
        }
    }

    /// Sets (or replaces) the parameters of `topic` at run time, after validating them.
    /// Existing counters are kept and clamped to the new `P2`/`P3` caps (as go does when a
    /// cap is lowered).
    pub(crate) fn set_topic_params(
        &mut self,
        topic: TopicHash,
        params: TopicScoreParams,
    ) -> Result<(), ScoreParamsError> {
        params.validate().map_err(|e| e.in_topic(&topic))?;
        for stats in self.peers.values_mut() {
            if let Some(t) = stats.topics.get_mut(&topic) {
                t.first_message_deliveries = t
                    .first_message_deliveries
                    .min(params.first_message_deliveries_cap);
                t.mesh_message_deliveries = t
                    .mesh_message_deliveries
                    .min(params.mesh_message_deliveries_cap);
            }
        }
        self.params.topics.insert(topic, params);
        Ok(())
    }

    /// Periodic maintenance, called every heartbeat: decays the counters of connected peers
    /// once per whole `decay_interval` elapsed since the last decay (the first call only
    /// starts the clock), drops retained records whose `retain_score` has passed, drops
    /// delivery records older than `deliveries::DELIVERY_RECORD_TTL` (2 min) and forgets empty per-topic
    /// entries. `P1` and `P3` activation need no update: they are computed from `now`.
    pub(crate) fn refresh(&mut self, now: Instant) {
        let times = self.decay_steps(now);
        let decay_to_zero = self.params.decay_to_zero;
        for stats in self.peers.values_mut() {
            if !stats.is_connected() {
                continue;
            }
            if times > 0 {
                for (topic, t) in stats.topics.iter_mut() {
                    let Some(p) = self.params.topics.get(topic) else {
                        continue;
                    };
                    let d = decay_to_zero;
                    decay_counter(
                        &mut t.first_message_deliveries,
                        p.first_message_deliveries_decay,
                        times,
                        d,
                    );
                    decay_counter(
                        &mut t.mesh_message_deliveries,
                        p.mesh_message_deliveries_decay,
                        times,
                        d,
                    );
                    decay_counter(
                        &mut t.mesh_failure_penalty,
                        p.mesh_failure_penalty_decay,
                        times,
                        d,
                    );
                    decay_counter(
                        &mut t.invalid_message_deliveries,
                        p.invalid_message_deliveries_decay,
                        times,
                        d,
                    );
                }
                decay_counter(
                    &mut stats.behaviour_penalty,
                    self.params.behaviour_penalty_decay,
                    times,
                    decay_to_zero,
                );
                decay_counter(
                    &mut stats.slow_peer_penalty,
                    self.params.slow_peer_decay,
                    times,
                    decay_to_zero,
                );
            }
            stats.drop_idle_topics();
        }
        while let Some((ExpiryKey::At(t), peer)) = self.retained_by_expiry.first().copied() {
            if t > now {
                break;
            }
            self.drop_record(&peer);
        }
        self.deliveries.expire(now);
    }

    /// How many decay intervals have passed since the last decay; advances the decay clock.
    fn decay_steps(&mut self, now: Instant) -> i32 {
        let Some(last) = self.last_decay else {
            self.last_decay = Some(now);
            return 0;
        };
        let interval = self.params.decay_interval;
        let elapsed = now.saturating_duration_since(last);
        if interval.is_zero() {
            // Rejected by validation; decay once per call rather than divide by zero.
            self.last_decay = Some(now);
            return 1;
        }
        let steps = elapsed.as_nanos() / interval.as_nanos();
        if steps == 0 {
            return 0;
        }
        let advanced = u32::try_from(steps)
            .ok()
            .and_then(|n| interval.checked_mul(n))
            .and_then(|d| last.checked_add(d))
            .unwrap_or(now);
        self.last_decay = Some(advanced);
        i32::try_from(steps).unwrap_or(i32::MAX)
    }

    /// Number of peer records (connected and retained), for tests and metrics.
    #[cfg(test)]
    pub(crate) fn tracked_peers(&self) -> usize {
        self.peers.len()
    }

    /// Number of retained records (disconnected peers), for tests.
    #[cfg(test)]
    pub(crate) fn retained_len(&self) -> usize {
        self.peers.values().filter(|s| !s.is_connected()).count()
    }

    /// Bounds the delivery records' bytes (the router passes `max_seen_bytes`: the records
    /// track the ids the seen cache holds).
    pub(crate) fn set_max_delivery_bytes(&mut self, max: usize) {
        self.deliveries.set_max_bytes(max);
    }

    /// Delivery records forgotten early because of their byte bound since the last call.
    pub(crate) fn take_evicted_deliveries(&mut self) -> u64 {
        self.deliveries.take_evicted()
    }

    /// Number of delivery records, for tests and metrics.
    #[cfg(test)]
    pub(crate) fn tracked_deliveries(&self) -> usize {
        self.deliveries.len()
    }
}

/// When a retained record expires, ordered with the never-expiring last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ExpiryKey {
    At(Instant),
    Never,
}

impl ExpiryKey {
    fn of(expires: Option<Instant>) -> Self {
        expires.map_or(ExpiryKey::Never, ExpiryKey::At)
    }
}

/// Removes `peer` from the colocation index of `ip`.
fn unindex_ip(index: &mut BTreeMap<IpAddr, BTreeSet<PeerId>>, peer: &PeerId, ip: &IpAddr) {
    if let Some(peers) = index.get_mut(ip) {
        peers.remove(peer);
        if peers.is_empty() {
            index.remove(ip);
        }
    }
}
