//! Structural invariants of the router's state, checked by the fuzz targets (`fuzz/`) and the
//! property tests (`tests/router_props.rs`) after every input.
//!
//! [`Router::__invariants`] does the checks that need private state itself and lists what it
//! finds broken in [`InvariantReport::violations`]; it also reports the size of every store, so
//! the caller can hold each against the bound it expects from the configuration and from the
//! inputs it gave. Extend it when a store or a rule is added: a new field in the report, a new
//! check here.

use std::time::Duration;

use web_time::Instant;

use libp2p_identity::PeerId;

use super::{Router, Set};
use crate::types::TopicHash;

/// The mesh of one topic we are subscribed to.
#[derive(Debug, Clone)]
pub struct MeshReport {
    /// The topic.
    pub topic: TopicHash,
    /// Peers in the mesh.
    pub size: usize,
    /// Mesh peers whose first connection was outbound.
    pub outbound: usize,
    /// Peers we could GRAFT now (subscribed meshsub peers outside the mesh that pass
    /// `may_graft`): after a heartbeat, a mesh below D_lo must have none left.
    pub graft_candidates: usize,
    /// Of those, the outbound ones: after a heartbeat, a mesh with fewer than D_out outbound
    /// peers (and at least D_lo peers) must have none left.
    pub outbound_candidates: usize,
}

/// What [`Router::__invariants`] found. Not part of the API: hidden, unstable.
#[derive(Debug, Clone, Default)]
pub struct InvariantReport {
    /// Broken invariants, in words. Empty when the state is consistent.
    pub violations: Vec<String>,
    /// Connected peers.
    pub peers: usize,
    /// The most topics any connected peer is subscribed to (bounded by `max_topics_per_peer`).
    pub max_topics_per_peer: usize,
    /// (topic, peer) entries of the topic → subscribers index.
    pub topic_peer_entries: usize,
    /// Our meshes.
    pub meshes: Vec<MeshReport>,
    /// Fanout topics.
    pub fanout_topics: usize,
    /// Peers in all fanouts.
    pub fanout_entries: usize,
    /// Direct peers found in a fanout (issue 7 B5: they should not be).
    pub fanout_direct_peers: usize,
    /// Entries of the backoff table (expired ones included until the next heartbeat).
    pub backoff_entries: usize,
    /// (topic, peer) pairs in backoff at the instant given, for connected peers and topics we
    /// know of (mesh, fanout or a peer's subscription): we must not GRAFT them.
    pub active_backoffs: Vec<(TopicHash, PeerId)>,
    /// The longest remaining backoff (exact, without slack) among those pairs.
    pub longest_backoff: Duration,
    /// Messages in the message cache.
    pub mcache_len: usize,
    /// Ids in the seen cache.
    pub seen_len: usize,
    /// Message ids with an open IWANT promise.
    pub promises_len: usize,
    /// Stored signed peer records.
    pub peer_records: usize,
    /// Their bytes.
    pub peer_record_bytes: usize,
    /// The most IDONTWANT ids retained for any one peer (connected, or departed and awaiting
    /// the purge of its records).
    pub max_dont_send_per_peer: usize,
    /// The most bytes of IDONTWANT ids retained for any one peer (as above).
    pub max_dont_send_bytes_per_peer: usize,
    /// The most bytes of topic names subscribed by any one peer.
    pub max_topic_bytes_per_peer: usize,
    /// Peers whose control messages are gathered but not yet turned into actions.
    pub pending_control: usize,
    /// Actions not yet taken with `poll_action`.
    pub queued_actions: usize,
    /// Direct peers (configured or added).
    pub direct_peers: usize,
    /// Blacklisted peers.
    pub blacklisted_peers: usize,
}

impl Router {
    /// Checks the router's internal consistency at `now` (the instant of the last input) and
    /// reports the size of every store. For fuzzing and property tests: hidden, unstable, and
    /// O(state) — never call it on a hot path.
    #[doc(hidden)]
    pub fn __invariants(&self, now: Instant) -> InvariantReport {
        let mut v = Vec::new();
        let max_topics = self.config.max_topics_per_peer();

        // Peers and the topic index agree.
        let mut max_topics_seen = 0;
        for (peer, state) in &self.peers {
            max_topics_seen = max_topics_seen.max(state.topics.len());
            if state.topics.len() > max_topics {
                v.push(format!(
                    "peer {peer} has {} topics, over max_topics_per_peer {max_topics}",
                    state.topics.len()
                ));
            }
            for topic in &state.topics {
                if !self
                    .topic_peers
                    .get(topic)
                    .is_some_and(|s| s.contains(peer))
                {
                    v.push(format!("peer {peer} subscribed to {topic} but not indexed"));
                }
            }
        }
        // A cached message is marked seen exactly when its id is in the seen cache.
        for (id, marked) in self.mcache.seen_marks() {
            if marked != self.seen.contains(id) {
                v.push(format!(
                    "cached message {id} marked seen {marked}, seen cache disagrees"
                ));
            }
        }
        // The store of unwanted ids holds exactly what its expiry queue lists, and nothing
        // for a slot no connected peer has, but for peers that left since the last heartbeat
        // (purged at the next one, their slots not handed out before).
        let held = self.unwanted.per_slot_counts();
        let queued = self.unwanted.queued_per_slot();
        for (slot, count) in &held {
            let listed = queued.get(slot).map_or(0, |q| q.0);
            if *count != listed {
                v.push(format!(
                    "slot {slot}: {count} unwanted ids stored, {listed} in the expiry queue"
                ));
            }
        }
        if !self.unwanted.runs_consistent() {
            v.push("unwanted-id expiry queue and its heartbeat runs disagree".to_string());
        }
        if queued.len() != held.len() {
            v.push(format!(
                "expiry queue lists {} slots, the store holds ids for {}",
                queued.len(),
                held.len()
            ));
        }
        let mut slots = Set::with_hasher(self.hasher.clone());
        for (peer, state) in &self.peers {
            if !slots.insert(state.slot) {
                v.push(format!(
                    "peer {peer} shares unwanted-id slot {}",
                    state.slot
                ));
            }
            if self.unwanted.is_departed(state.slot) {
                v.push(format!(
                    "peer {peer} has the slot {} of a departed peer",
                    state.slot
                ));
            }
        }
        let orphans = held
            .keys()
            .filter(|slot| !slots.contains(*slot) && !self.unwanted.is_departed(**slot))
            .count();
        if orphans > 0 {
            v.push(format!(
                "unwanted ids stored for {orphans} slots of no connected or departing peer"
            ));
        }
        let mut topic_peer_entries = 0;
        for (topic, set) in &self.topic_peers {
            topic_peer_entries += set.len();
            if set.is_empty() {
                v.push(format!("empty subscriber set kept for {topic}"));
            }
            for peer in set {
                if !self
                    .peers
                    .get(peer)
                    .is_some_and(|s| s.topics.contains(topic))
                {
                    v.push(format!("{peer} indexed under {topic} but not subscribed"));
                }
            }
        }

        // Meshes: connected, never direct or blacklisted, inbound peers within D_hi.
        let mut meshes = Vec::new();
        for (topic, mesh) in &self.mesh {
            if self.fanout.contains_key(topic) {
                v.push(format!("{topic} is both a mesh and a fanout topic"));
            }
            let mut outbound = 0;
            for peer in mesh {
                let Some(state) = self.peers.get(peer) else {
                    v.push(format!("mesh of {topic} holds disconnected peer {peer}"));
                    continue;
                };
                if state.outbound {
                    outbound += 1;
                }
                if self.direct_peers.contains(peer) {
                    v.push(format!("mesh of {topic} holds direct peer {peer}"));
                }
                if self.blacklist.contains(peer) {
                    v.push(format!("mesh of {topic} holds blacklisted peer {peer}"));
                }
            }
            // A GRAFT from an inbound peer is refused at D_hi; only outbound peers (and the
            // heartbeat, which trims back to D) may take a mesh past it.
            let d_hi = self.config.mesh_n_high_for_topic(topic);
            if mesh.len() - outbound > d_hi {
                v.push(format!(
                    "mesh of {topic} has {} inbound peers, over D_hi {d_hi}",
                    mesh.len() - outbound
                ));
            }
            let candidates: Vec<super::prehashed::HashedPeer> = self
                .gossipsub_peers_in(topic)
                .into_iter()
                .filter(|p| !mesh.contains(p) && self.may_graft(now, topic, p))
                .collect();
            let outbound_candidates = candidates
                .iter()
                .filter(|p| self.peers.get(p).is_some_and(|s| s.outbound))
                .count();
            meshes.push(MeshReport {
                topic: topic.clone(),
                size: mesh.len(),
                outbound,
                graft_candidates: candidates.len(),
                outbound_candidates,
            });
        }

        // Fanouts: connected peers only, no fanout without its last-publish time.
        let mut fanout_entries = 0;
        let mut fanout_direct_peers = 0;
        for (topic, set) in &self.fanout {
            fanout_entries += set.len();
            if !self.fanout_last_pub.contains_key(topic) {
                v.push(format!("fanout of {topic} without a last-publish time"));
            }
            for peer in set {
                if !self.peers.contains_key(peer) {
                    v.push(format!("fanout of {topic} holds disconnected peer {peer}"));
                }
                if self.direct_peers.contains(peer) {
                    fanout_direct_peers += 1;
                }
            }
        }

        // The backoff table cannot be listed; the pairs we could GRAFT (a topic we know of, a
        // connected peer) are looked up one by one.
        let mut known_topics: Vec<&TopicHash> = self
            .mesh
            .keys()
            .chain(self.fanout.keys())
            .chain(self.topic_peers.keys())
            .collect();
        known_topics.sort();
        known_topics.dedup();
        let mut active_backoffs = Vec::new();
        let mut longest_backoff = Duration::ZERO;
        for topic in known_topics {
            for peer in self.peers.keys() {
                if self.in_backoff(now, topic, peer) {
                    active_backoffs.push((topic.clone(), *peer.id()));
                }
                if let Some(until) = self.backoff.until(topic, peer) {
                    longest_backoff = longest_backoff.max(until.saturating_duration_since(now));
                }
            }
        }

        // Partial messages: group counts, the metadata byte account, no state for gone peers.
        self.partial_invariant_violations(&mut v);

        let per_peer_max =
            |f: &dyn Fn(&super::PeerState) -> usize| self.peers.values().map(f).max().unwrap_or(0);
        let queued = self.unwanted.queued_per_slot();
        // Every slot holding records: connected peers' and departed ones' awaiting the purge.
        let max_dont_send_per_peer = queued.values().map(|q| q.0).max().unwrap_or(0);
        let max_dont_send_bytes_per_peer = queued.values().map(|q| q.1).max().unwrap_or(0);
        let max_topic_bytes_per_peer =
            per_peer_max(&|s| s.topics.iter().map(|t| t.as_str().len()).sum());

        InvariantReport {
            violations: v,
            peers: self.peers.len(),
            max_topics_per_peer: max_topics_seen,
            topic_peer_entries,
            meshes,
            fanout_topics: self.fanout.len(),
            fanout_entries,
            fanout_direct_peers,
            backoff_entries: self.backoff.len(),
            active_backoffs,
            longest_backoff,
            mcache_len: self.mcache.len(),
            seen_len: self.seen.len(),
            promises_len: self.promises.len(),
            peer_records: self.peer_records.size().0,
            peer_record_bytes: self.peer_records.size().1,
            max_dont_send_per_peer,
            max_dont_send_bytes_per_peer,
            max_topic_bytes_per_peer,
            pending_control: self.pending_control.len(),
            queued_actions: self.actions.len(),
            direct_peers: self.direct_peers.len(),
            blacklisted_peers: self.blacklist.len(),
        }
    }
}
