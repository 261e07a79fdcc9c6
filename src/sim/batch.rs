//! Batch workloads (`WorkloadConfig::batch_size`): each publish event publishes several
//! messages on one topic at once (a block's blobs), one after the other or interleaved
//! ([`Router::publish_batch`](crate::router::Router::publish_batch)); and the figure that
//! compares the two, [`batch_completion`]: the time until every message of a batch reached
//! every node.

use std::time::Duration;

use bytes::Bytes;

use super::super::node::NodeCtx;
use super::super::results::Results;
use super::Network;

impl Network {
    /// Publisher `k` publishes `batch_size` messages on its next topic, then schedules its
    /// next batch.
    pub(super) fn publish_batch(&mut self, k: usize) {
        let p = self.publishers[k] as usize;
        let batch_size = self.shared.cfg.workload.batch_size;
        let first = self.published[k];
        self.published[k] += batch_size as u64;
        let topic_index = (first as usize / batch_size + k) % self.topic_count();
        let topic = self.topics[topic_index].clone();
        let size = self.shared.cfg.workload.message_size.max(16);
        let batch: Vec<_> = (0..batch_size as u64)
            .map(|i| {
                let mut data = vec![0u8; size];
                data[..8].copy_from_slice(&(first + i).to_be_bytes());
                data[8..12].copy_from_slice(&(p as u32).to_be_bytes());
                (topic.clone(), Bytes::from(data))
            })
            .collect();
        let interleave = self.shared.cfg.workload.batch_interleave;
        let mut part = self.part(p);
        let now = part.instant();
        let mut outputs = Vec::new();
        let ids = {
            let mut ctx = NodeCtx::new(now, &mut outputs);
            part.node(p).publish_batch(&mut ctx, batch, interleave)
        };
        for id in ids {
            self.register(id, p, topic_index);
        }
        self.flush_outputs(p, outputs);
        let next = self.now + (1e9 / self.shared.cfg.workload.rate) as u64;
        if next < self.publish_end {
            self.global.push(next, super::Global::Publish(k as u32));
        }
    }
}

/// For each batch of `batch_size` messages (consecutive messages of one publisher published at
/// the same instant), the time from its publish until every message of it reached every
/// node expected to deliver it; `None` for a batch some node never completed.
pub fn batch_completion(results: &Results, batch_size: usize) -> Vec<Option<Duration>> {
    let batch_size = batch_size.max(1);
    let mut batches: Vec<Vec<&super::super::results::MessageResult>> = Vec::new();
    for m in &results.messages {
        match batches.last_mut() {
            Some(last)
                if last.len() < batch_size
                    && last[0].publisher == m.publisher
                    && last[0].published_at == m.published_at =>
            {
                last.push(m)
            }
            _ => batches.push(vec![m]),
        }
    }
    batches
        .into_iter()
        .map(|batch| {
            batch
                .iter()
                .all(|m| m.delivered == m.expected)
                .then(|| batch.iter().map(|m| m.max).max().unwrap_or_default())
        })
        .collect()
}
