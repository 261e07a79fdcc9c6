//! Splitting of outgoing RPCs so that each encodes within a peer's size limit.
//!
//! The router builds RPCs without regard to size: one heartbeat's merged IHAVE (several topics
//! × thousands of ids), a burst of PRUNEs, or a publish together with control can exceed what
//! the peer accepts. [`fragment`] spreads subscriptions, messages and control entries over as
//! many RPCs as needed, in their original order (subscriptions, then messages, then control),
//! and splits an IHAVE, IWANT or IDONTWANT entry whose id list alone is too large. Only what
//! cannot fit even alone is dropped and reported: a message larger than the limit (publishing
//! refuses such messages up front), an id, topic or PX peer that alone exceeds it.
//!
//! Sizes are computed exactly and without allocating ([`rpc_len`]); a test checks them against
//! the encoder.

use crate::types::{ControlAction, MessageId, PeerInfo, RawMessage, Rpc, Subscription};

/// The outcome of [`fragment`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Fragments {
    /// RPCs that each encode within the limit, in sending order.
    pub(crate) rpcs: Vec<Rpc>,
    /// Messages dropped because alone they exceed the limit.
    pub(crate) dropped_messages: usize,
    /// Subscriptions, control entries, message ids and PX peers dropped because alone they
    /// exceed the limit.
    pub(crate) dropped_control: usize,
}

/// Length of a varint.
fn varint_len(value: usize) -> usize {
    let bits = usize::BITS - (value | 1).leading_zeros();
    bits.div_ceil(7) as usize
}

/// Encoded length of a length-delimited field with a one-byte tag (all fields used here have
/// field numbers below 16) and a body of `len` bytes.
fn field_len(len: usize) -> usize {
    1 + varint_len(len) + len
}

fn subscription_len(sub: &Subscription) -> usize {
    // subscribe (always written: tag + one byte) and topicid.
    2 + field_len(sub.topic.as_str().len())
}

/// Encoded length of a message body as [`super::convert::message_to_proto`] writes it.
pub(crate) fn message_len(msg: &RawMessage) -> usize {
    msg.source
        .map_or(0, |peer| field_len(peer.as_ref().encoded_len()))
        + if msg.data_absent && msg.data.is_empty() {
            0
        } else {
            field_len(msg.data.len())
        }
        + msg.sequence_number.map_or(0, |_| field_len(8))
        + field_len(msg.topic.as_str().len())
        + msg.signature.as_ref().map_or(0, |s| field_len(s.len()))
        + msg.key.as_ref().map_or(0, |k| field_len(k.len()))
}

fn ids_len(ids: &[MessageId]) -> usize {
    ids.iter().map(|id| field_len(id.as_bytes().len())).sum()
}

fn peer_info_len(peer: &PeerInfo) -> usize {
    peer.peer_id
        .map_or(0, |id| field_len(id.as_ref().encoded_len()))
        + peer
            .signed_peer_record
            .as_ref()
            .map_or(0, |r| field_len(r.len()))
}

/// Encoded length of a control entry's body.
fn entry_len(action: &ControlAction) -> usize {
    match action {
        ControlAction::IHave { topic, message_ids } => {
            field_len(topic.as_str().len()) + ids_len(message_ids)
        }
        ControlAction::IWant { message_ids } | ControlAction::IDontWant { message_ids } => {
            ids_len(message_ids)
        }
        ControlAction::Graft { topic } => field_len(topic.as_str().len()),
        ControlAction::Prune {
            topic,
            peers,
            backoff,
        } => {
            field_len(topic.as_str().len())
                + peers
                    .iter()
                    .map(|p| field_len(peer_info_len(p)))
                    .sum::<usize>()
                + backoff.map_or(0, |b| 1 + varint_len(b as usize))
        }
    }
}

/// The length of an RPC whose fields (subscriptions and messages) take `fields` bytes and
/// whose control message body takes `control` bytes.
fn rpc_len_of(fields: usize, control: usize) -> usize {
    fields + if control > 0 { field_len(control) } else { 0 }
}

/// The exact encoded length of `rpc` (protobuf bytes, without the length prefix).
pub(crate) fn rpc_len(rpc: &Rpc) -> usize {
    let fields = rpc
        .subscriptions
        .iter()
        .map(|s| field_len(subscription_len(s)))
        .sum::<usize>()
        + rpc
            .messages
            .iter()
            .map(|m| field_len(message_len(m)))
            .sum::<usize>();
    let control: usize = rpc.control.iter().map(|a| field_len(entry_len(a))).sum();
    // An RPC with control entries always writes the control field, even if they are empty.
    if rpc.control.is_empty() {
        fields
    } else {
        fields + field_len(control)
    }
}

/// Splits `rpc` into RPCs that each encode within `max` bytes; see the module docs.
pub(crate) fn fragment(rpc: Rpc, max: usize) -> Fragments {
    if rpc_len(&rpc) <= max {
        return Fragments {
            rpcs: vec![rpc],
            ..Fragments::default()
        };
    }
    let mut out = Packer {
        max,
        done: Fragments::default(),
        current: Rpc::default(),
        fields: 0,
        control: 0,
    };
    for sub in rpc.subscriptions {
        let len = field_len(subscription_len(&sub));
        if out.make_room(len, 0) {
            out.current.subscriptions.push(sub);
            out.fields += len;
        } else {
            out.done.dropped_control += 1;
        }
    }
    for msg in rpc.messages {
        let len = field_len(message_len(&msg));
        if out.make_room(len, 0) {
            out.current.messages.push(msg);
            out.fields += len;
        } else {
            out.done.dropped_messages += 1;
        }
    }
    for action in rpc.control {
        for piece in split_entry(action, max, &mut out.done.dropped_control) {
            let len = field_len(entry_len(&piece));
            if out.make_room(0, len) {
                out.current.control.push(piece);
                out.control += len;
            } else {
                out.done.dropped_control += 1;
            }
        }
    }
    out.flush();
    out.done
}

/// Fills RPCs one after the other.
struct Packer {
    max: usize,
    done: Fragments,
    current: Rpc,
    /// Encoded bytes of the current RPC's subscriptions and messages.
    fields: usize,
    /// Encoded bytes of the current RPC's control entries (the control body).
    control: usize,
}

impl Packer {
    /// Makes room for `fields` more field bytes or `control` more control bytes, starting a new
    /// RPC if needed; `false` when they do not fit even an empty RPC.
    fn make_room(&mut self, fields: usize, control: usize) -> bool {
        let fits = |f: usize, c: usize| rpc_len_of(f, c) <= self.max;
        if fits(self.fields + fields, self.control + control) {
            return true;
        }
        if !fits(fields, control) {
            return false;
        }
        self.flush();
        true
    }

    fn flush(&mut self) {
        if !self.current.is_empty() {
            self.done.rpcs.push(std::mem::take(&mut self.current));
        }
        self.fields = 0;
        self.control = 0;
    }
}

/// Splits one control entry into pieces that each fit an otherwise empty RPC of `max` bytes:
/// id lists are cut into runs; a PRUNE keeps the PX peers that fit. Whatever cannot fit alone
/// is counted in `dropped`.
fn split_entry(action: ControlAction, max: usize, dropped: &mut usize) -> Vec<ControlAction> {
    let fits = |body: usize| rpc_len_of(0, field_len(body)) <= max;
    if fits(entry_len(&action)) {
        return vec![action];
    }
    match action {
        ControlAction::IHave { topic, message_ids } => {
            let base = field_len(topic.as_str().len());
            split_ids(message_ids, base, &fits, dropped)
                .into_iter()
                .map(|message_ids| ControlAction::IHave {
                    topic: topic.clone(),
                    message_ids,
                })
                .collect()
        }
        ControlAction::IWant { message_ids } => split_ids(message_ids, 0, &fits, dropped)
            .into_iter()
            .map(|message_ids| ControlAction::IWant { message_ids })
            .collect(),
        ControlAction::IDontWant { message_ids } => split_ids(message_ids, 0, &fits, dropped)
            .into_iter()
            .map(|message_ids| ControlAction::IDontWant { message_ids })
            .collect(),
        ControlAction::Prune {
            topic,
            peers,
            backoff,
        } => {
            let mut body = entry_len(&ControlAction::Prune {
                topic: topic.clone(),
                peers: Vec::new(),
                backoff,
            });
            if !fits(body) {
                *dropped += 1;
                return Vec::new();
            }
            let mut kept = Vec::new();
            for peer in peers {
                let len = field_len(peer_info_len(&peer));
                if fits(body + len) {
                    body += len;
                    kept.push(peer);
                } else {
                    *dropped += 1;
                }
            }
            vec![ControlAction::Prune {
                topic,
                peers: kept,
                backoff,
            }]
        }
        ControlAction::Graft { .. } => {
            *dropped += 1;
            Vec::new()
        }
    }
}

/// Cuts `ids` into runs whose entry body (`base` plus the ids) fits; ids that cannot fit even
/// alone are counted in `dropped`. With `base` too large for any id, everything is dropped.
fn split_ids(
    ids: Vec<MessageId>,
    base: usize,
    fits: &impl Fn(usize) -> bool,
    dropped: &mut usize,
) -> Vec<Vec<MessageId>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    let mut body = base;
    for id in ids {
        let len = field_len(id.as_bytes().len());
        if fits(body + len) {
            body += len;
            run.push(id);
        } else if fits(base + len) {
            runs.push(std::mem::take(&mut run));
            body = base + len;
            run.push(id);
        } else {
            *dropped += 1;
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}
