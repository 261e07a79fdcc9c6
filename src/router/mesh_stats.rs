//! Cumulative counts of mesh membership changes per topic, by reason, for operators.
//!
//! The router counts; it never reports anywhere. Readers (the metrics module, tests) take the
//! cumulative values with [`Router::mesh_stats`](super::Router::mesh_stats) and diff them.
//! One entry per topic we have ever joined: the set is bounded by our own subscriptions,
//! never by remote input.

/// Why a peer was added to one of our meshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeshInclusion {
    /// We joined the topic (subscribed) and grafted it.
    Subscribed,
    /// It sent us a GRAFT that we accepted.
    GraftReceived,
    /// The mesh was below D_lo at a heartbeat.
    BelowDLo,
    /// The mesh had fewer than D_out outbound peers at a heartbeat.
    Outbound,
    /// Opportunistic grafting (median mesh score below the threshold).
    Opportunistic,
}

impl MeshInclusion {
    /// Every reason, in the order of [`MeshTopicStats::inclusions`].
    pub const ALL: [MeshInclusion; 5] = [
        MeshInclusion::Subscribed,
        MeshInclusion::GraftReceived,
        MeshInclusion::BelowDLo,
        MeshInclusion::Outbound,
        MeshInclusion::Opportunistic,
    ];

    /// A short lower-case name (used as a metric label value).
    pub fn as_str(self) -> &'static str {
        match self {
            MeshInclusion::Subscribed => "subscribed",
            MeshInclusion::GraftReceived => "graft_received",
            MeshInclusion::BelowDLo => "below_d_lo",
            MeshInclusion::Outbound => "outbound",
            MeshInclusion::Opportunistic => "opportunistic",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why a peer left one of our meshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeshChurn {
    /// We left the topic (unsubscribed).
    Unsubscribed,
    /// It sent us a PRUNE.
    PruneReceived,
    /// It disconnected.
    Disconnected,
    /// It unsubscribed from the topic.
    PeerUnsubscribed,
    /// The mesh was at or above D_hi at a heartbeat and it was not kept.
    Excess,
    /// Its score went negative.
    Score,
    /// It was blacklisted, graylisted or made a direct peer.
    Excluded,
}

impl MeshChurn {
    /// Every reason, in the order of [`MeshTopicStats::churn`].
    pub const ALL: [MeshChurn; 7] = [
        MeshChurn::Unsubscribed,
        MeshChurn::PruneReceived,
        MeshChurn::Disconnected,
        MeshChurn::PeerUnsubscribed,
        MeshChurn::Excess,
        MeshChurn::Score,
        MeshChurn::Excluded,
    ];

    /// A short lower-case name (used as a metric label value).
    pub fn as_str(self) -> &'static str {
        match self {
            MeshChurn::Unsubscribed => "unsubscribed",
            MeshChurn::PruneReceived => "prune_received",
            MeshChurn::Disconnected => "disconnected",
            MeshChurn::PeerUnsubscribed => "peer_unsubscribed",
            MeshChurn::Excess => "excess",
            MeshChurn::Score => "score",
            MeshChurn::Excluded => "excluded",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Cumulative mesh changes of one topic since we first joined it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeshTopicStats {
    /// Peers added, indexed like [`MeshInclusion::ALL`].
    pub inclusions: [u64; 5],
    /// Peers removed, indexed like [`MeshChurn::ALL`].
    pub churn: [u64; 7],
    /// Heartbeats that found the mesh at or above D_hi (and trimmed it).
    pub above_d_hi: u64,
}

impl MeshTopicStats {
    /// Peers added for `reason`.
    pub fn inclusions(&self, reason: MeshInclusion) -> u64 {
        self.inclusions[reason.index()]
    }

    /// Peers removed for `reason`.
    pub fn churn(&self, reason: MeshChurn) -> u64 {
        self.churn[reason.index()]
    }

    pub(crate) fn include(&mut self, reason: MeshInclusion) {
        let n = &mut self.inclusions[reason.index()];
        *n = n.saturating_add(1);
    }

    pub(crate) fn remove(&mut self, reason: MeshChurn) {
        let n = &mut self.churn[reason.index()];
        *n = n.saturating_add(1);
    }
}
