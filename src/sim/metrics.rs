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

pub(crate) struct MessageRecord {
    pub(crate) publisher: u32,
    pub(crate) topic: u32,
    /// Publish time in nanoseconds since the start.
    pub(crate) published_at: u64,
    /// Encoded size of an RPC carrying just this message, once known.
    wire_size: Option<u64>,
    /// Per node: `EXPECTED` / `DELIVERED` flags.
    pub(crate) flags: Vec<u8>,
    /// Per node: copies received (saturating).
    pub(crate) copies: Vec<u8>,
    /// Delivery latencies in microseconds, in delivery order.
    pub(crate) latencies_us: Vec<u32>,
    /// Copies received over all nodes.
    pub(crate) receipts: u64,
}

pub(crate) struct Recorder {
    pub(crate) messages: Vec<MessageRecord>,
    ids: FixedMap<MessageId, u32>,
    pub(crate) bytes: Vec<NodeBytes>,
    pub(crate) rpcs_sent: u64,
    pub(crate) rpcs_lost: u64,
    pub(crate) publish_failures: u64,
    pub(crate) digest: u64,
}

impl Recorder {
    pub(crate) fn new(nodes: usize) -> Self {
        Recorder {
            messages: Vec::new(),
            ids: FixedMap::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4)),
            bytes: vec![NodeBytes::default(); nodes],
            rpcs_sent: 0,
            rpcs_lost: 0,
            publish_failures: 0,
            digest: 0,
        }
    }

    /// Registers a published message; `expected` lists the nodes that should deliver it.
    pub(crate) fn published(
        &mut self,
        id: MessageId,
        publisher: u32,
        topic: u32,
        now: u64,
        expected: impl Iterator<Item = usize>,
    ) {
        let n = self.bytes.len();
        let mut flags = vec![0u8; n];
        for i in expected {
            flags[i] = EXPECTED;
        }
        self.ids.insert(id, self.messages.len() as u32);
        self.messages.push(MessageRecord {
            publisher,
            topic,
            published_at: now,
            wire_size: None,
            flags,
            copies: vec![0; n],
            latencies_us: Vec::new(),
            receipts: 0,
        });
        self.mix(u64::from(publisher) ^ now.rotate_left(17));
    }

    /// The index of a recorded message.
    pub(crate) fn message_index(&self, id: &MessageId) -> Option<u32> {
        self.ids.get(id).copied()
    }

    /// Node `node` delivered `id` at `now`.
    pub(crate) fn delivered(&mut self, node: usize, id: &MessageId, now: u64) {
        let Some(m) = self.message_index(id) else {
            return;
        };
        let record = &mut self.messages[m as usize];
        let flags = &mut record.flags[node];
        if *flags != EXPECTED {
            return;
        }
        *flags |= DELIVERED;
        let latency = u32::try_from((now - record.published_at) / 1000).unwrap_or(u32::MAX);
        record.latencies_us.push(latency);
        self.mix((u64::from(m) << 32 | node as u64) ^ u64::from(latency).rotate_left(40));
    }

    /// Node `node` received a copy of message `m`.
    pub(crate) fn received(&mut self, node: usize, m: u32) {
        if let Some(record) = self.messages.get_mut(m as usize) {
            record.copies[node] = record.copies[node].saturating_add(1);
            record.receipts += 1;
        }
    }

    /// Node `node` left the network or `topic` (`None`: every topic): messages it had not
    /// delivered yet are no longer expected of it.
    pub(crate) fn excuse(&mut self, node: usize, topic: Option<u32>) {
        for record in &mut self.messages {
            if topic.is_none_or(|t| t == record.topic) && record.flags[node] == EXPECTED {
                record.flags[node] = 0;
            }
        }
    }

    /// Accounts an RPC sent by `node` and returns its size on the wire.
    pub(crate) fn sent(&mut self, node: usize, rpc: &Rpc, message: Option<u32>) -> u64 {
        self.rpcs_sent += 1;
        let single_message =
            rpc.subscriptions.is_empty() && rpc.control.is_empty() && rpc.messages.len() == 1;
        let bytes = if let (true, Some(m)) = (single_message, message) {
            let record = &mut self.messages[m as usize];
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
        let total = &mut self.bytes[node];
        total.data += bytes.data;
        total.gossip += bytes.gossip;
        total.mesh += bytes.mesh;
        total.other += bytes.other;
        bytes.total()
    }

    /// Folds `x` into the run digest.
    pub(crate) fn mix(&mut self, x: u64) {
        self.digest = (self.digest.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
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
    // The control field's own tag and length go with its class when it has one class.
    let control = |body: usize| if body > 0 { wire::field_len(body) } else { 0 };
    let (gossip, mesh) = (control(gossip) as u64, control(mesh) as u64);
    let data = data as u64;
    if rpc.subscriptions.is_empty() && rpc.extensions.is_none() && !rpc.test_extension {
        // One class only: the whole frame (length prefix included) counts in it.
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
