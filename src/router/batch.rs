//! Batch publishing (go-libp2p-pubsub's `MessageBatch`; the idea of rust-libp2p PR #6006): the
//! first copies of a batch's messages are interleaved across peers, so every message has one
//! copy on the wire before any message gets a second.
//!
//! Publishing six blobs one after the other queues all copies of the first blob (D of them)
//! before the first copy of the second: on a bandwidth-limited uplink the last blob leaves
//! only after `6 * D` copies, and the network sees it late. Interleaved, round `k` sends
//! every message to its `k`-th recipient; message `i`'s recipients are rotated by `i`, so in
//! the first round different messages go to different peers, which start forwarding them in
//! parallel.

use std::time::Instant;

use bytes::Bytes;

use super::{Router, SendClass};
use crate::error::PublishError;
use crate::types::{MessageId, TopicHash};

impl Router {
    /// Publishes a batch of messages (each `(topic, data)` as for [`Router::publish`]) with
    /// their sends interleaved: every message goes to one recipient before any message goes
    /// to a second one. Returns one result per item, in order; an item that fails (too
    /// large, duplicate, no peers) does not stop the others. The IDONTWANTs of
    /// `idontwant_on_publish` all go before the first message.
    ///
    /// A batch of more than `send_queue_size` messages is refused whole (every item
    /// [`PublishError::BatchTooLarge`], nothing signed, cached or sent): no peer's send queue
    /// could hold it, and preparing it would build one send per message and recipient. So is a
    /// batch of several messages whose data adds up to more than `send_queue_bytes` (every item
    /// [`PublishError::BatchTooManyBytes`]). A batch within both bounds builds at most
    /// `send_queue_size` sends per recipient, each of which an empty queue takes.
    pub fn publish_batch(
        &mut self,
        now: Instant,
        batch: impl IntoIterator<Item = (TopicHash, Bytes)>,
    ) -> Vec<Result<MessageId, PublishError>> {
        let batch: Vec<(TopicHash, Bytes)> = batch.into_iter().collect();
        let max = self.config.send_queue_size();
        if batch.len() > max {
            let len = batch.len();
            self.counters.publish_batches_too_large += 1;
            tracing::warn!(
                len,
                max,
                "publish batch longer than send_queue_size refused"
            );
            return vec![Err(PublishError::BatchTooLarge { len, max }); len];
        }
        // Likewise its bytes: a peer's publish class holds `send_queue_bytes` (one larger
        // message alone still fits an empty queue). Checked on the application's data, before
        // anything is transformed, signed, cached or sent.
        let bytes = batch
            .iter()
            .fold(0usize, |sum, (_, data)| sum.saturating_add(data.len()));
        let max_bytes = self.config.send_queue_bytes();
        if batch.len() > 1 && bytes > max_bytes {
            let len = batch.len();
            self.counters.publish_batches_too_large += 1;
            tracing::warn!(
                len,
                bytes,
                max = max_bytes,
                "publish batch of more data bytes than send_queue_bytes refused"
            );
            return vec![
                Err(PublishError::BatchTooManyBytes {
                    bytes,
                    max: max_bytes
                });
                len
            ];
        }
        let mut results = Vec::with_capacity(batch.len());
        let mut prepared = Vec::with_capacity(batch.len());
        for (topic, data) in batch {
            match self.prepare_publish(now, topic, data) {
                Ok((id, message, mut recipients)) => {
                    // Rotate so that the first copies of consecutive messages go to
                    // different peers when they share recipients.
                    if !recipients.is_empty() {
                        let shift = prepared.len() % recipients.len();
                        recipients.rotate_left(shift);
                    }
                    results.push(Ok(id.clone()));
                    prepared.push((id, message, recipients));
                }
                Err(error) => results.push(Err(error)),
            }
        }
        let rounds = prepared.iter().map(|(_, _, r)| r.len()).max().unwrap_or(0);
        for round in 0..rounds {
            for (id, message, recipients) in &prepared {
                if let Some(peer) = recipients.get(round) {
                    self.send_message(*peer.id(), id, message, SendClass::Publish);
                }
            }
        }
        results
    }
}
