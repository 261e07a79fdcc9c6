//! Bounded topic labels: the topics named in [`MetricsConfig`](super::MetricsConfig) get a
//! label of their own, every other topic shares [`OTHER_TOPIC`]. The label set is fixed when
//! the metrics are built, so nothing a remote peer sends can add a label value.

use std::collections::HashMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::router::{MeshChurn, MeshInclusion};
use crate::types::TopicHash;

/// The label value shared by every topic not listed in the metrics config.
pub const OTHER_TOPIC: &str = "other";

/// A `topic` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TopicLabel {
    pub(crate) topic: String,
}

/// A `topic` label with a `validation_result`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ValidationLabel {
    pub(crate) topic: String,
    pub(crate) validation_result: &'static str,
}

/// A `topic` label with a `reason`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TopicReasonLabel {
    pub(crate) topic: String,
    pub(crate) reason: &'static str,
}

/// The per-topic families, registered once.
pub(crate) struct TopicFamilies {
    pub(crate) received: Family<ValidationLabel, Counter>,
    pub(crate) delivered: Family<TopicLabel, Counter>,
    pub(crate) published: Family<TopicLabel, Counter>,
    pub(crate) published_bytes: Family<TopicLabel, Counter>,
    pub(crate) sent: Family<TopicLabel, Counter>,
    pub(crate) sent_bytes: Family<TopicLabel, Counter>,
    pub(crate) recv_unfiltered: Family<TopicLabel, Counter>,
    pub(crate) recv_unfiltered_bytes: Family<TopicLabel, Counter>,
    pub(crate) recv: Family<TopicLabel, Counter>,
    pub(crate) recv_bytes: Family<TopicLabel, Counter>,
    pub(crate) active: Family<TopicLabel, Gauge>,
    pub(crate) topic_peers: Family<TopicLabel, Gauge>,
    pub(crate) mesh_peers: Family<TopicLabel, Gauge>,
    pub(crate) fanout_peers: Family<TopicLabel, Gauge>,
    pub(crate) above_d_hi: Family<TopicLabel, Counter>,
    pub(crate) inclusion: Family<TopicReasonLabel, Counter>,
    pub(crate) churn: Family<TopicReasonLabel, Counter>,
    pub(crate) mesh_scores: Family<TopicLabel, Histogram, fn() -> Histogram>,
}

/// The metric handles of one topic label (cheap clones of the family entries), so the hot
/// path increments without building a label.
pub(crate) struct TopicMetrics {
    pub(crate) accepted: Counter,
    pub(crate) rejected: Counter,
    pub(crate) ignored: Counter,
    pub(crate) delivered: Counter,
    pub(crate) published: Counter,
    pub(crate) published_bytes: Counter,
    pub(crate) sent: Counter,
    pub(crate) sent_bytes: Counter,
    pub(crate) recv_unfiltered: Counter,
    pub(crate) recv_unfiltered_bytes: Counter,
    pub(crate) recv: Counter,
    pub(crate) recv_bytes: Counter,
    pub(crate) active: Gauge,
    pub(crate) topic_peers: Gauge,
    pub(crate) mesh_peers: Gauge,
    pub(crate) fanout_peers: Gauge,
    pub(crate) above_d_hi: Counter,
    pub(crate) inclusion: [Counter; MeshInclusion::ALL.len()],
    pub(crate) churn: [Counter; MeshChurn::ALL.len()],
    pub(crate) mesh_scores: Histogram,
}

impl TopicMetrics {
    fn new(families: &TopicFamilies, label: &str) -> Self {
        let topic = TopicLabel {
            topic: label.to_owned(),
        };
        let validation = |validation_result| ValidationLabel {
            topic: label.to_owned(),
            validation_result,
        };
        let reason = |reason| TopicReasonLabel {
            topic: label.to_owned(),
            reason,
        };
        TopicMetrics {
            accepted: families
                .received
                .get_or_create_owned(&validation("accepted")),
            rejected: families
                .received
                .get_or_create_owned(&validation("rejected")),
            ignored: families
                .received
                .get_or_create_owned(&validation("ignored")),
            delivered: families.delivered.get_or_create_owned(&topic),
            published: families.published.get_or_create_owned(&topic),
            published_bytes: families.published_bytes.get_or_create_owned(&topic),
            sent: families.sent.get_or_create_owned(&topic),
            sent_bytes: families.sent_bytes.get_or_create_owned(&topic),
            recv_unfiltered: families.recv_unfiltered.get_or_create_owned(&topic),
            recv_unfiltered_bytes: families.recv_unfiltered_bytes.get_or_create_owned(&topic),
            recv: families.recv.get_or_create_owned(&topic),
            recv_bytes: families.recv_bytes.get_or_create_owned(&topic),
            active: families.active.get_or_create_owned(&topic),
            topic_peers: families.topic_peers.get_or_create_owned(&topic),
            mesh_peers: families.mesh_peers.get_or_create_owned(&topic),
            fanout_peers: families.fanout_peers.get_or_create_owned(&topic),
            above_d_hi: families.above_d_hi.get_or_create_owned(&topic),
            inclusion: MeshInclusion::ALL
                .map(|r| families.inclusion.get_or_create_owned(&reason(r.as_str()))),
            churn: MeshChurn::ALL.map(|r| families.churn.get_or_create_owned(&reason(r.as_str()))),
            mesh_scores: families.mesh_scores.get_or_create_owned(&topic),
        }
    }
}

/// Resolves topics to their label's handles: one slot per configured topic plus `other`.
pub(crate) struct TopicSlots {
    /// Hashed with aHash: the lookup runs for every message sent or received.
    index: HashMap<TopicHash, usize, ahash::RandomState>,
    /// The configured topics' slots, then `other` last.
    slots: Vec<TopicMetrics>,
    /// The last topic looked up and its slot: a forwarded message is counted once per
    /// recipient with the same `TopicHash` allocation, so comparing pointers skips the hash.
    last: std::cell::RefCell<Option<(TopicHash, usize)>>,
}

impl TopicSlots {
    /// Creates every label value up front (the configured topics, then `other`).
    pub(crate) fn new(families: &TopicFamilies, topics: &[TopicHash]) -> Self {
        let mut index = HashMap::with_hasher(ahash::RandomState::new());
        let mut slots = Vec::new();
        for topic in topics {
            if index.contains_key(topic) {
                continue;
            }
            index.insert(topic.clone(), slots.len());
            slots.push(TopicMetrics::new(families, topic.as_str()));
        }
        slots.push(TopicMetrics::new(families, OTHER_TOPIC));
        TopicSlots {
            index,
            slots,
            last: std::cell::RefCell::new(None),
        }
    }

    /// The slot index of `topic` (`other` for unlisted topics).
    pub(crate) fn slot(&self, topic: &TopicHash) -> usize {
        if self.index.is_empty() {
            return self.slots.len() - 1;
        }
        let mut last = self.last.borrow_mut();
        if let Some((hash, slot)) = last.as_ref()
            && hash.shares_allocation(topic)
        {
            return *slot;
        }
        let slot = self
            .index
            .get(topic)
            .copied()
            .unwrap_or(self.slots.len() - 1);
        *last = Some((topic.clone(), slot));
        slot
    }

    /// The handles of `topic`'s label.
    pub(crate) fn get(&self, topic: &TopicHash) -> &TopicMetrics {
        &self.slots[self.slot(topic)]
    }

    /// How many label values there are (configured topics + `other`).
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Every slot, by index.
    pub(crate) fn slots(&self) -> &[TopicMetrics] {
        &self.slots
    }
}
