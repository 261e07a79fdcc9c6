//! Recording a run as it goes: messages and their deliveries, bytes on the wire by class,
//! mesh degree samples, and a digest of all of it for reproducibility checks.

use std::collections::HashMap;

use crate::types::{ControlAction, MessageId, Rpc};
use crate::wire;

/// Per-node flag: the node was subscribed and online when the message was published.
const EXPECTED: u8 = 1;
/// Per-node flag: the node delivered the message to its application.
const DELIVERED: u8 = 2;

/// A hash map with fixed seeds: lookups only, never iterated for results.
type FixedMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// Bytes a node put on the wire (length prefixes included), by class. An RPC of one class
/// counts wholly in it; in an RPC that mixes classes, the framing shared by them counts as
/// `other`, with subscriptions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeBytes {
    /// Published and forwarded messages (including IWANT replies).
    pub data: u64,
    /// IHAVE, IWANT and IDONTWANT.
    pub gossip: u64,
    /// GRAFT and PRUNE.
    pub mesh: u64,
    /// Subscriptions and framing.
    pub other: u64,
}

impl NodeBytes {
    /// All bytes.
    pub fn total(&self) -> u64 {
        self.data + self.gossip + self.mesh + self.other
    }
}

/// One message as the whole run sees it: who published it when, and which nodes should
/// deliver it. Written only between windows (publish, churn, subscription changes), read by
/// every partition during a window.
pub(crate) struct MessageInfo {
    publisher: u32,
    topic: u32,
    /// Publish time in nanoseconds since the start.
    published_at: u64,
    /// Per node: subscribed and online when the message was published, and not excused
    /// since.
    expected: Vec<bool>,
}

/// The messages of a run, indexed in publish order.
pub(crate) struct Registry {
    ids: FixedMap<MessageId, u32>,
    messages: Vec<MessageInfo>,
    pub(crate) publish_failures: u64,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Registry {
            ids: FixedMap::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4)),
            messages: Vec::new(),
            publish_failures: 0,
        }
    }

    /// Registers a published message; `expected` lists the nodes that should deliver it.
    pub(crate) fn published(
        &mut self,
        id: MessageId,
        publisher: u32,
        topic: u32,
        now: u64,
        nodes: usize,
        expected: impl Iterator<Item = usize>,
    ) {
        let mut flags = vec![false; nodes];
        for i in expected {
            flags[i] = true;
        }
        self.ids.insert(id, self.messages.len() as u32);
        self.messages.push(MessageInfo {
            publisher,
            topic,
            published_at: now,
            expected: flags,
        });
    }

    /// The index of a recorded message.
    pub(crate) fn message_index(&self, id: &MessageId) -> Option<u32> {
        self.ids.get(id).copied()
    }

    /// Node `node` (of partition `part`) left the network or `topic` (`None`: every topic):
    /// messages it had not delivered yet are no longer expected of it.
    pub(crate) fn excuse(&mut self, part: &PartRecorder, node: usize, topic: Option<u32>) {
        for (m, info) in self.messages.iter_mut().enumerate() {
            if topic.is_none_or(|t| t == info.topic)
                && info.expected[node]
                && !part.is_delivered(m, node)
            {
                info.expected[node] = false;
            }
        }
    }
}

/// What one partition (a contiguous block of nodes) records during the run: deliveries and
/// copies received by its nodes, bytes its nodes sent. Partitions never share one, and
/// [`merge`] combines them in node order, so the result does not depend on how the nodes
/// were partitioned.
pub(crate) struct PartRecorder {
    /// The first node of the partition.
    start: usize,
    /// Nodes in the partition.
    len: usize,
    /// Per message (grown as messages are first touched).
    messages: Vec<PartRecord>,
    /// Per node of the partition.
    bytes: Vec<NodeBytes>,
    /// Per node of the partition: a hash of its deliveries (message, latency) in the order
    /// it made them.
    digests: Vec<u64>,
    rpcs_sent: u64,
    pub(crate) rpcs_lost: u64,
}

/// One message as one partition saw it.
struct PartRecord {
    /// Per node of the partition: delivered to its application.
    delivered: Vec<bool>,
    /// Per node of the partition: copies received (saturating).
    copies: Vec<u8>,
    /// Delivery latencies in microseconds.
    latencies_us: Vec<u32>,
    /// Copies received by the partition's nodes.
    receipts: u64,
    /// Encoded size of an RPC carrying just this message, once known (a pure function of the
    /// message, so every partition computes the same).
    wire_size: Option<u64>,
}

impl PartRecorder {
    pub(crate) fn new(start: usize, len: usize) -> Self {
        PartRecorder {
            start,
            len,
            messages: Vec::new(),
            bytes: vec![NodeBytes::default(); len],
            digests: vec![0; len],
            rpcs_sent: 0,
            rpcs_lost: 0,
        }
    }

    /// The record of message `m`, created (with those before it) when first touched.
    fn record(&mut self, m: u32) -> &mut PartRecord {
        let m = m as usize;
        while self.messages.len() <= m {
            self.messages.push(PartRecord {
                delivered: vec![false; self.len],
                copies: vec![0; self.len],
                latencies_us: Vec::new(),
                receipts: 0,
                wire_size: None,
            });
        }
        &mut self.messages[m]
    }

    /// Whether node `node` (of this partition) delivered message `m`.
    pub(crate) fn is_delivered(&self, m: usize, node: usize) -> bool {
        self.messages
            .get(m)
            .is_some_and(|r| r.delivered[node - self.start])
    }

    /// Node `node` delivered `id` at `now`.
    pub(crate) fn delivered(&mut self, registry: &Registry, node: usize, id: &MessageId, now: u64) {
        let Some(m) = registry.message_index(id) else {
            return;
        };
        let info = &registry.messages[m as usize];
        if !info.expected[node] {
            return;
        }
        let local = node - self.start;
        let published_at = info.published_at;
        let record = self.record(m);
        if record.delivered[local] {
            return;
        }
        record.delivered[local] = true;
        let latency = u32::try_from(now.saturating_sub(published_at) / 1000).unwrap_or(u32::MAX);
        record.latencies_us.push(latency);
        let digest = &mut self.digests[local];
        *digest = fold(*digest, u64::from(m) << 32 ^ u64::from(latency));
    }

    /// Node `node` received a copy of message `m`.
    pub(crate) fn received(&mut self, node: usize, m: u32) {
        let local = node - self.start;
        let record = self.record(m);
        record.copies[local] = record.copies[local].saturating_add(1);
        record.receipts += 1;
    }

    /// Accounts an RPC sent by `node` and returns its size on the wire.
    pub(crate) fn sent(&mut self, node: usize, rpc: &Rpc, message: Option<u32>) -> u64 {
        self.rpcs_sent += 1;
        let single_message =
            rpc.subscriptions.is_empty() && rpc.control.is_empty() && rpc.messages.len() == 1;
        let bytes = if let (true, Some(m)) = (single_message, message) {
            let record = self.record(m);
            let size = *record
                .wire_size
                .get_or_insert_with(|| framed(wire::rpc_len(rpc)));
            NodeBytes {
                data: size,
                ..NodeBytes::default()
            }
        } else {
            classify(rpc)
        };
        let total = &mut self.bytes[node - self.start];
        total.data += bytes.data;
        total.gossip += bytes.gossip;
        total.mesh += bytes.mesh;
        total.other += bytes.other;
        bytes.total()
    }
}

/// A merged record of one message (see [`Recorder`]).
pub(crate) struct MessageRecord {
    pub(crate) publisher: u32,
    pub(crate) topic: u32,
    /// Publish time in nanoseconds since the start.
    pub(crate) published_at: u64,
    /// Per node: `EXPECTED` / `DELIVERED` flags.
    pub(crate) flags: Vec<u8>,
    /// Per node: copies received (saturating).
    pub(crate) copies: Vec<u8>,
    /// Delivery latencies in microseconds (partition by partition; sorted by
    /// [`Results`](super::Results)).
    pub(crate) latencies_us: Vec<u32>,
    /// Copies received over all nodes.
    pub(crate) receipts: u64,
}

/// Everything recorded in a run, merged from the partitions in node order.
pub(crate) struct Recorder {
    pub(crate) messages: Vec<MessageRecord>,
    pub(crate) bytes: Vec<NodeBytes>,
    pub(crate) rpcs_sent: u64,
    pub(crate) rpcs_lost: u64,
    pub(crate) publish_failures: u64,
    pub(crate) digest: u64,
}

impl Recorder {
    /// Folds `x` into the run digest.
    pub(crate) fn mix(&mut self, x: u64) {
        self.digest = fold(self.digest, x);
    }
}

/// Merges the registry and the partitions' records (`parts` in node order, covering every
/// node once). The digest folds every message's publisher and publish time, then every
/// node's delivery digest in node order: none of it depends on the partitioning.
pub(crate) fn merge(registry: Registry, parts: Vec<PartRecorder>) -> Recorder {
    let nodes: usize = parts.iter().map(|p| p.len).sum();
    let mut rec = Recorder {
        messages: Vec::with_capacity(registry.messages.len()),
        bytes: Vec::with_capacity(nodes),
        rpcs_sent: 0,
        rpcs_lost: 0,
        publish_failures: registry.publish_failures,
        digest: 0,
    };
    for (m, info) in registry.messages.into_iter().enumerate() {
        rec.mix(u64::from(info.publisher) ^ info.published_at.rotate_left(17));
        let mut record = MessageRecord {
            publisher: info.publisher,
            topic: info.topic,
            published_at: info.published_at,
            flags: info
                .expected
                .iter()
                .map(|e| u8::from(*e) * EXPECTED)
                .collect(),
            copies: vec![0; nodes],
            latencies_us: Vec::new(),
            receipts: 0,
        };
        for part in &parts {
            let Some(p) = part.messages.get(m) else {
                continue;
            };
            for (local, delivered) in p.delivered.iter().enumerate() {
                if *delivered {
                    record.flags[part.start + local] |= DELIVERED;
                }
            }
            record.copies[part.start..part.start + part.len].copy_from_slice(&p.copies);
            record.latencies_us.extend_from_slice(&p.latencies_us);
            record.receipts += p.receipts;
        }
        rec.messages.push(record);
    }
    for part in parts {
        rec.bytes.extend_from_slice(&part.bytes);
        rec.rpcs_sent += part.rpcs_sent;
        rec.rpcs_lost += part.rpcs_lost;
        for d in &part.digests {
            rec.mix(*d);
        }
    }
    rec
}

/// One step of the digest hash.
fn fold(digest: u64, x: u64) -> u64 {
    (digest.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

/// The size of an encoded RPC with its varint length prefix.
fn framed(len: usize) -> u64 {
    let len = len as u64;
    let prefix = 1 + (63 - len.max(1).leading_zeros() as u64) / 7;
    len + prefix
}

/// Whether a control message counts as gossip (IHAVE, IWANT, IDONTWANT) rather than mesh
/// control (GRAFT, PRUNE).
fn is_gossip(c: &ControlAction) -> bool {
    matches!(
        c,
        ControlAction::IHave { .. } | ControlAction::IWant { .. } | ControlAction::IDontWant { .. }
    )
}

/// Splits the wire size of an RPC into classes, from the exact field lengths (nothing is
/// encoded or cloned).
fn classify(rpc: &Rpc) -> NodeBytes {
    let data: usize = rpc
        .messages
        .iter()
        .map(|m| wire::field_len(wire::message_len(m)))
        .sum();
    let (mut gossip, mut mesh) = (0, 0);
    for action in &rpc.control {
        let len = wire::field_len(wire::entry_len(action));
        if is_gossip(action) {
            gossip += len;
        } else {
            mesh += len;
        }
    }
    // Only messages and control entries (what nearly every simulated RPC is): the frame is
    // their fields plus the control field's tag and length, as `wire::rpc_len` adds them up,
    // without measuring every entry a second time.
    let one_class = rpc.subscriptions.is_empty() && rpc.extensions.is_none() && !rpc.test_extension;
    let total = if one_class && rpc.partial.is_none() {
        let control = gossip + mesh;
        framed(
            data + if rpc.control.is_empty() {
                0
            } else {
                wire::field_len(control)
            },
        )
    } else {
        framed(wire::rpc_len(rpc))
    };
    split_classes(total, data, gossip, mesh, one_class)
}

/// The classes of an RPC of `total` wire bytes whose messages take `data` bytes and whose
/// control entries take `gossip` and `mesh` bytes (entry fields, before the control field's
/// own tag and length). With `one_class` (nothing but messages and control entries), an RPC
/// of one class only counts the whole frame (length prefix included) in it.
fn split_classes(
    total: u64,
    data: usize,
    gossip: usize,
    mesh: usize,
    one_class: bool,
) -> NodeBytes {
    // The control field's own tag and length go with its class when it has one class.
    let control = |body: usize| if body > 0 { wire::field_len(body) } else { 0 };
    let (gossip, mesh) = (control(gossip) as u64, control(mesh) as u64);
    let data = data as u64;
    if one_class {
        match (data > 0, gossip > 0, mesh > 0) {
            (true, false, false) => {
                return NodeBytes {
                    data: total,
                    ..NodeBytes::default()
                };
            }
            (false, true, false) => {
                return NodeBytes {
                    gossip: total,
                    ..NodeBytes::default()
                };
            }
            (false, false, true) => {
                return NodeBytes {
                    mesh: total,
                    ..NodeBytes::default()
                };
            }
            _ => {}
        }
    }
    NodeBytes {
        data,
        gossip,
        mesh,
        other: total.saturating_sub(data + gossip + mesh),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Subscription, TopicHash};

    /// `classify` as it was when it measured every RPC with `wire::rpc_len`.
    fn classify_before(rpc: &Rpc) -> NodeBytes {
        let total = framed(wire::rpc_len(rpc));
        let data: usize = rpc
            .messages
            .iter()
            .map(|m| wire::field_len(wire::message_len(m)))
            .sum();
        let (mut gossip, mut mesh) = (0, 0);
        for action in &rpc.control {
            let len = wire::field_len(wire::entry_len(action));
            if is_gossip(action) {
                gossip += len;
            } else {
                mesh += len;
            }
        }
        let one_class =
            rpc.subscriptions.is_empty() && rpc.extensions.is_none() && !rpc.test_extension;
        split_classes(total, data, gossip, mesh, one_class)
    }

    /// `classify` adds up the frame of an RPC of messages and control entries from the
    /// lengths of its entries instead of measuring them twice: the same split as measuring
    /// the whole RPC with `wire::rpc_len`, for every mix of messages and entry types, and the
    /// same frame size as the encoder's where the RPC has one class.
    #[test]
    fn classify_matches_measuring_the_whole_rpc() {
        let topic = TopicHash::from("some/topic");
        let id = |b: u8| MessageId::new(vec![b; 20]);
        let message = crate::types::RawMessage {
            source: None,
            data: bytes::Bytes::from(vec![1; 1000]),
            data_absent: false,
            sequence_number: Some(9),
            topic: topic.clone(),
            signature: None,
            key: None,
        };
        let control = [
            ControlAction::IDontWant {
                message_ids: vec![id(1)],
            },
            ControlAction::IDontWant {
                message_ids: vec![id(2), id(3)],
            },
            ControlAction::IHave {
                topic: topic.clone(),
                message_ids: (0..40).map(id).collect(),
            },
            ControlAction::IWant {
                message_ids: vec![id(4)],
            },
            ControlAction::Graft {
                topic: topic.clone(),
            },
            ControlAction::Prune {
                topic: topic.clone(),
                peers: Vec::new(),
                backoff: Some(60),
            },
        ];
        let mut cases = vec![Rpc::default()];
        for n in 0..=control.len() {
            for messages in [0, 1, 3] {
                cases.push(Rpc {
                    messages: vec![message.clone(); messages],
                    control: control[..n].to_vec(),
                    ..Rpc::default()
                });
                cases.push(Rpc {
                    messages: vec![message.clone(); messages],
                    control: control[n..].to_vec(),
                    ..Rpc::default()
                });
            }
        }
        for rpc in &cases {
            let (got, want) = (classify(rpc), classify_before(rpc));
            assert_eq!(
                (got.data, got.gossip, got.mesh, got.other),
                (want.data, want.gossip, want.mesh, want.other),
                "{rpc:?}"
            );
            let classes = [got.data, got.gossip, got.mesh]
                .iter()
                .filter(|b| **b > 0)
                .count();
            if classes <= 1 {
                assert_eq!(got.total(), framed(wire::encoded_len(rpc)), "{rpc:?}");
            }
        }
    }

    #[test]
    fn classify_splits_and_adds_up() {
        let topic = TopicHash::from("t");
        let rpc = Rpc {
            subscriptions: vec![Subscription {
                options: Default::default(),
                subscribe: true,
                topic: topic.clone(),
            }],
            messages: Vec::new(),
            control: vec![
                ControlAction::Graft {
                    topic: topic.clone(),
                },
                ControlAction::IHave {
                    topic,
                    message_ids: vec![MessageId::new(vec![7; 20])],
                },
            ],
            ..Rpc::default()
        };
        let b = classify(&rpc);
        assert!(b.gossip > 20 && b.mesh > 0 && b.other > 0);
        assert_eq!(b.total(), framed(wire::encoded_len(&rpc)));
        // Each class's share is what an RPC of just that part encodes to.
        let part = |rpc: Rpc| wire::encoded_len(&rpc) as u64;
        assert_eq!(
            b.gossip,
            part(Rpc {
                control: vec![rpc.control[1].clone()],
                ..Rpc::default()
            })
        );
        assert_eq!(
            b.mesh,
            part(Rpc {
                control: vec![rpc.control[0].clone()],
                ..Rpc::default()
            })
        );
        // A message with an IDONTWANT: data and gossip split, framing in `other`.
        let message = crate::types::RawMessage {
            source: None,
            data: bytes::Bytes::from(vec![1; 300]),
            data_absent: false,
            sequence_number: Some(9),
            topic: TopicHash::from("t"),
            signature: None,
            key: None,
        };
        let idontwant = ControlAction::IDontWant {
            message_ids: vec![MessageId::new(vec![3; 20])],
        };
        let mixed = Rpc {
            messages: vec![message.clone()],
            control: vec![idontwant.clone()],
            ..Rpc::default()
        };
        let b = classify(&mixed);
        assert_eq!(b.total(), framed(wire::encoded_len(&mixed)));
        assert_eq!(
            b.data,
            part(Rpc {
                messages: vec![message.clone()],
                ..Rpc::default()
            })
        );
        assert_eq!(
            b.gossip,
            part(Rpc {
                control: vec![idontwant],
                ..Rpc::default()
            })
        );
        // One class: the whole frame, length prefix included.
        let only = Rpc {
            messages: vec![message],
            ..Rpc::default()
        };
        assert_eq!(classify(&only).data, framed(wire::encoded_len(&only)));
        assert_eq!(classify(&only).total(), classify(&only).data);
        assert_eq!(framed(127), 128);
        assert_eq!(framed(128), 130);
    }
}
