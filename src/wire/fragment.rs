//! Splitting of outgoing RPCs so that each encodes within a peer's size limit and within the
//! per-RPC limits a receiver with our configuration decodes ([`DecodeLimits`]).
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

use super::decode::DecodeLimits;
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
pub(crate) fn field_len(len: usize) -> usize {
    1 + varint_len(len) + len
}

fn subscription_len(sub: &Subscription) -> usize {
    // subscribe (always written: tag + one byte) and topicid; requestsPartial and
    // supportsSendingPartial (tag + one byte each) when set on a subscribe.
    let requests = sub.subscribe && sub.options.requests_partial;
    let supports = sub.subscribe && (sub.options.supports_partial || requests);
    2 + field_len(sub.topic.as_str().len()) + 2 * usize::from(requests) + 2 * usize::from(supports)
}

/// Encoded length of the `RPC.partial` field of `partial`, with its tag.
fn partial_field_len(partial: &crate::types::PartialMessage) -> usize {
    field_len(
        field_len(partial.topic.as_str().len())
            + field_len(partial.group_id.len())
            + partial.message.as_ref().map_or(0, |m| field_len(m.len()))
            + partial.metadata.as_ref().map_or(0, |m| field_len(m.len())),
    )
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
pub(crate) fn entry_len(action: &ControlAction) -> usize {
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

/// The encoded length of the `RPC.testExtension` field: a 4-byte tag (field 6492434) and an
/// empty body.
const TEST_EXTENSION_FIELD_LEN: usize = 4 + 1;

/// The encoded length of the `ControlMessage.extensions` entry of `extensions`, with its tag.
fn extensions_entry_len(extensions: &crate::types::Extensions) -> usize {
    // `testExtension`: a 4-byte tag and a 1-byte bool; `partialMessages`: 1-byte tag and bool.
    let body = if extensions.test_extension { 4 + 1 } else { 0 }
        + if extensions.partial_messages { 2 } else { 0 };
    field_len(body)
}

/// The bytes the meshsub 1.3 fields of `rpc` take: (RPC fields, control entries).
fn extension_lens(rpc: &Rpc) -> (usize, usize) {
    (
        if rpc.test_extension {
            TEST_EXTENSION_FIELD_LEN
        } else {
            0
        } + rpc.partial.as_deref().map_or(0, partial_field_len),
        rpc.extensions.as_ref().map_or(0, extensions_entry_len),
    )
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
    let (test, extensions) = extension_lens(rpc);
    let control: usize = rpc
        .control
        .iter()
        .map(|a| field_len(entry_len(a)))
        .sum::<usize>()
        + extensions;
    // An RPC with control entries always writes the control field, even if they are empty.
    if rpc.control.is_empty() && rpc.extensions.is_none() {
        fields + test
    } else {
        fields + test + field_len(control)
    }
}

/// libp2p-gossipsub 0.50's default bound on the bytes of subscriptions and control in one
/// received RPC (its `max_control_message_size`, counted over the encoded `RPC.subscriptions`
/// fields and the `RPC.control` field with their tags and lengths). Its decoder checks it
/// before decoding and fails the whole stream read above it: the RPC is lost, with every
/// subscription, GRAFT and PRUNE in it.
pub(crate) const LIBP2P_MAX_CONTROL_MESSAGE_SIZE: usize = 16_384;

/// libp2p-gossipsub 0.50's default bound on the messages in one received RPC (its protocol's
/// `max_publish_messages`, 500 unless the application sets it); above it the RPC is refused
/// whole, as for [`LIBP2P_MAX_CONTROL_MESSAGE_SIZE`].
pub(crate) const LIBP2P_MAX_PUBLISH_MESSAGES: usize = 500;

/// The subscription changes in one RPC that a default libp2p-gossipsub 0.50 peer accepts:
/// its default subscription filter (`MaxCountSubscriptionFilter`, 100 per request) refuses
/// every subscription of an RPC carrying more.
pub(crate) const LIBP2P_MAX_SUBSCRIPTIONS_PER_RPC: usize = 100;

/// The per-RPC limits of everything we send: those a receiver with our configuration decodes,
/// lowered to what a default libp2p-gossipsub 0.50 peer accepts (messages and subscriptions
/// per RPC; its control-byte bound is [`LIBP2P_MAX_CONTROL_MESSAGE_SIZE`]).
pub(crate) fn outbound_limits(config: &crate::Config) -> DecodeLimits {
    let mut limits = DecodeLimits::from_config(config);
    limits.max_messages = limits.max_messages.min(LIBP2P_MAX_PUBLISH_MESSAGES);
    limits.max_subscriptions = limits
        .max_subscriptions
        .min(LIBP2P_MAX_SUBSCRIPTIONS_PER_RPC);
    limits
}

/// Splits `rpc` for a peer whose frame limit we learned as `frame_limit` (`usize::MAX` when
/// unknown): each piece fits our `max_transmit_size` and that limit, and stays within the
/// per-RPC limits a receiver with our configuration decodes ([`DecodeLimits`]: messages,
/// subscriptions, control entries per type, control bytes, ids per type, PX peers), so what we
/// send is never cut by a peer running with our limits. The encoder writes every IHAVE before
/// any GRAFT or PRUNE: a piece over the control-byte cap would lose the mesh changes.
///
/// Every piece also stays within what a default libp2p-gossipsub 0.50 peer accepts (we cannot
/// tell its implementation from its protocol id): at most
/// [`LIBP2P_MAX_PUBLISH_MESSAGES`] messages, [`LIBP2P_MAX_SUBSCRIPTIONS_PER_RPC`]
/// subscriptions, and [`LIBP2P_MAX_CONTROL_MESSAGE_SIZE`] bytes of subscriptions and control
/// together ([`outbound_limits`]). Splitting costs a few more frames for large
/// gossip; sending more would make that peer drop the whole RPC.
pub(crate) fn fragment_for_peer(rpc: Rpc, config: &crate::Config, frame_limit: usize) -> Fragments {
    fragment_capped(
        rpc,
        config.max_transmit_size().min(frame_limit),
        &outbound_limits(config),
        LIBP2P_MAX_CONTROL_MESSAGE_SIZE,
    )
}

/// Splits `rpc` into RPCs that each encode within `max` bytes; see the module docs.
#[cfg(test)]
pub(crate) fn fragment(rpc: Rpc, max: usize) -> Fragments {
    fragment_within(rpc, max, &DecodeLimits::UNLIMITED)
}

/// What an RPC holds, counted as [`super::decode`] counts it against [`DecodeLimits`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    messages: usize,
    subscriptions: usize,
    /// Control entries per type: IHAVE, IWANT, GRAFT, PRUNE, IDONTWANT.
    entries: [usize; 5],
    /// Sum of the control entries' body lengths.
    control_bytes: usize,
    ihave_ids: usize,
    iwant_ids: usize,
    idontwant_ids: usize,
    px_peers: usize,
}

impl Usage {
    fn of_entry(action: &ControlAction) -> Usage {
        let mut usage = Usage {
            control_bytes: entry_len(action),
            ..Usage::default()
        };
        match action {
            ControlAction::IHave { message_ids, .. } => {
                usage.entries[0] = 1;
                usage.ihave_ids = message_ids.len();
            }
            ControlAction::IWant { message_ids } => {
                usage.entries[1] = 1;
                usage.iwant_ids = message_ids.len();
            }
            ControlAction::Graft { .. } => usage.entries[2] = 1,
            ControlAction::Prune { peers, .. } => {
                usage.entries[3] = 1;
                usage.px_peers = peers.len();
            }
            ControlAction::IDontWant { message_ids } => {
                usage.entries[4] = 1;
                usage.idontwant_ids = message_ids.len();
            }
        }
        usage
    }

    /// What `rpc` holds.
    pub(crate) fn of_rpc(rpc: &Rpc) -> Usage {
        let mut usage = Usage {
            messages: rpc.messages.len(),
            subscriptions: rpc.subscriptions.len(),
            ..Usage::default()
        };
        for action in &rpc.control {
            usage = usage.plus(&Usage::of_entry(action));
        }
        usage
    }

    /// The sum of two usages.
    pub(crate) fn plus(&self, other: &Usage) -> Usage {
        let mut entries = self.entries;
        for (mine, theirs) in entries.iter_mut().zip(other.entries) {
            *mine = mine.saturating_add(theirs);
        }
        Usage {
            messages: self.messages.saturating_add(other.messages),
            subscriptions: self.subscriptions.saturating_add(other.subscriptions),
            entries,
            control_bytes: self.control_bytes.saturating_add(other.control_bytes),
            ihave_ids: self.ihave_ids.saturating_add(other.ihave_ids),
            iwant_ids: self.iwant_ids.saturating_add(other.iwant_ids),
            idontwant_ids: self.idontwant_ids.saturating_add(other.idontwant_ids),
            px_peers: self.px_peers.saturating_add(other.px_peers),
        }
    }

    /// Whether an RPC holding this decodes whole under `limits`.
    pub(crate) fn within(&self, limits: &DecodeLimits) -> bool {
        self.messages <= limits.max_messages
            && self.subscriptions <= limits.max_subscriptions
            && self
                .entries
                .iter()
                .all(|n| *n <= limits.max_control_entries)
            && self.control_bytes <= limits.max_control_bytes
            && self.ihave_ids <= limits.max_ihave_ids
            && self.iwant_ids <= limits.max_iwant_ids
            && self.idontwant_ids <= limits.max_idontwant_ids
            && self.px_peers <= limits.max_px_peers
    }
}

/// Splits `rpc` into RPCs that each encode within `max` bytes and stay within `limits`.
pub(crate) fn fragment_within(rpc: Rpc, max: usize, limits: &DecodeLimits) -> Fragments {
    fragment_capped(rpc, max, limits, usize::MAX)
}

/// The encoded bytes of `rpc`'s subscription fields and control field together, as
/// libp2p-gossipsub counts them against its `max_control_message_size`.
pub(crate) fn subscriptions_and_control_len(rpc: &Rpc) -> usize {
    let subs: usize = rpc
        .subscriptions
        .iter()
        .map(|s| field_len(subscription_len(s)))
        .sum();
    let (_, extensions) = extension_lens(rpc);
    let control = if rpc.control.is_empty() && rpc.extensions.is_none() {
        0
    } else {
        field_len(
            rpc.control
                .iter()
                .map(|a| field_len(entry_len(a)))
                .sum::<usize>()
                + extensions,
        )
    };
    subs + control
}

/// Like [`fragment_within`], and each piece's subscriptions and control field together encode
/// within `max_meta` bytes.
fn fragment_capped(rpc: Rpc, max: usize, limits: &DecodeLimits, max_meta: usize) -> Fragments {
    if rpc_len(&rpc) <= max
        && Usage::of_rpc(&rpc).within(limits)
        && subscriptions_and_control_len(&rpc) <= max_meta
    {
        return Fragments {
            rpcs: vec![rpc],
            ..Fragments::default()
        };
    }
    // The meshsub 1.3 fields (a few bytes) ride in the first piece; so does a partial message
    // (the router sends each alone) when it fits one, and is dropped otherwise.
    let mut rpc = rpc;
    let mut dropped_partial = 0;
    if rpc
        .partial
        .as_ref()
        .is_some_and(|p| rpc_len_of(partial_field_len(p) + TEST_EXTENSION_FIELD_LEN, 0) > max)
    {
        rpc.partial = None;
        dropped_partial = 1;
    }
    let (test, extensions) = extension_lens(&rpc);
    let mut out = Packer {
        max,
        max_meta,
        subscription_bytes: 0,
        limits: *limits,
        done: Fragments {
            dropped_messages: dropped_partial,
            ..Fragments::default()
        },
        current: Rpc {
            extensions: rpc.extensions,
            test_extension: rpc.test_extension,
            partial: rpc.partial,
            ..Rpc::default()
        },
        fields: test,
        control: extensions,
        usage: Usage::default(),
    };
    for sub in rpc.subscriptions {
        let len = field_len(subscription_len(&sub));
        let usage = Usage {
            subscriptions: 1,
            ..Usage::default()
        };
        if out.make_room_for_subscription(len, &usage) {
            out.current.subscriptions.push(sub);
            out.add(len, 0, &usage);
            out.subscription_bytes += len;
        } else {
            out.done.dropped_control += 1;
        }
    }
    for msg in rpc.messages {
        let len = field_len(message_len(&msg));
        let usage = Usage {
            messages: 1,
            ..Usage::default()
        };
        if out.make_room(len, 0, &usage) {
            out.current.messages.push(msg);
            out.add(len, 0, &usage);
        } else {
            out.done.dropped_messages += 1;
        }
    }
    for action in rpc.control {
        for piece in split_entry(action, max, max_meta, limits, &mut out.done.dropped_control) {
            let len = field_len(entry_len(&piece));
            let usage = Usage::of_entry(&piece);
            if out.make_room(0, len, &usage) {
                out.current.control.push(piece);
                out.add(0, len, &usage);
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
    /// The bound on the subscriptions and control field of one RPC together.
    max_meta: usize,
    /// Encoded bytes of the current RPC's subscriptions (part of `fields`).
    subscription_bytes: usize,
    limits: DecodeLimits,
    done: Fragments,
    current: Rpc,
    /// Encoded bytes of the current RPC's subscriptions and messages.
    fields: usize,
    /// Encoded bytes of the current RPC's control entries (the control body).
    control: usize,
    /// What the current RPC holds, against `limits`.
    usage: Usage,
}

impl Packer {
    /// Makes room for `fields` more field bytes or `control` more control bytes holding
    /// `usage`, starting a new RPC if needed; `false` when they do not fit even an empty RPC.
    fn make_room(&mut self, fields: usize, control: usize, usage: &Usage) -> bool {
        self.make_room_with(fields, 0, control, usage)
    }

    /// [`make_room`](Self::make_room) for a subscription entry of `len` bytes.
    fn make_room_for_subscription(&mut self, len: usize, usage: &Usage) -> bool {
        self.make_room_with(len, len, 0, usage)
    }

    /// Makes room for `fields` more field bytes (of which `subs` are subscriptions) and
    /// `control` more control bytes holding `usage`.
    fn make_room_with(
        &mut self,
        fields: usize,
        subs: usize,
        control: usize,
        usage: &Usage,
    ) -> bool {
        let fits = |f: usize, s: usize, c: usize, u: &Usage| {
            rpc_len_of(f, c) <= self.max
                && u.within(&self.limits)
                && rpc_len_of(s, c) <= self.max_meta
        };
        if fits(
            self.fields + fields,
            self.subscription_bytes + subs,
            self.control + control,
            &self.usage.plus(usage),
        ) {
            return true;
        }
        if !fits(fields, subs, control, usage) {
            return false;
        }
        self.flush();
        true
    }

    /// Accounts for what was just pushed to the current RPC.
    fn add(&mut self, fields: usize, control: usize, usage: &Usage) {
        self.fields += fields;
        self.control += control;
        self.usage = self.usage.plus(usage);
    }

    fn flush(&mut self) {
        if !self.current.is_empty() {
            self.done.rpcs.push(std::mem::take(&mut self.current));
        }
        self.fields = 0;
        self.subscription_bytes = 0;
        self.control = 0;
        self.usage = Usage::default();
    }
}

/// Splits one control entry into pieces that each fit an otherwise empty RPC of `max` bytes
/// and `limits`: id lists are cut into runs (by bytes and by the per-type id cap); a PRUNE
/// keeps the PX peers that fit. Whatever cannot fit alone is counted in `dropped`.
fn split_entry(
    action: ControlAction,
    max: usize,
    max_meta: usize,
    limits: &DecodeLimits,
    dropped: &mut usize,
) -> Vec<ControlAction> {
    let fits = |body: usize| {
        let control = rpc_len_of(0, field_len(body));
        control <= max && control <= max_meta && body <= limits.max_control_bytes
    };
    if fits(entry_len(&action)) && Usage::of_entry(&action).within(limits) {
        return vec![action];
    }
    match action {
        ControlAction::IHave { topic, message_ids } => {
            let base = field_len(topic.as_str().len());
            split_ids(message_ids, base, limits.max_ihave_ids, &fits, dropped)
                .into_iter()
                .map(|message_ids| ControlAction::IHave {
                    topic: topic.clone(),
                    message_ids,
                })
                .collect()
        }
        ControlAction::IWant { message_ids } => {
            split_ids(message_ids, 0, limits.max_iwant_ids, &fits, dropped)
                .into_iter()
                .map(|message_ids| ControlAction::IWant { message_ids })
                .collect()
        }
        ControlAction::IDontWant { message_ids } => {
            split_ids(message_ids, 0, limits.max_idontwant_ids, &fits, dropped)
                .into_iter()
                .map(|message_ids| ControlAction::IDontWant { message_ids })
                .collect()
        }
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
                if kept.len() < limits.max_px_peers && fits(body + len) {
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

/// Cuts `ids` into runs of at most `max_ids` ids whose entry body (`base` plus the ids) fits;
/// ids that cannot fit even alone are counted in `dropped`. With `base` too large for any id,
/// or `max_ids` 0, everything is dropped.
fn split_ids(
    ids: Vec<MessageId>,
    base: usize,
    max_ids: usize,
    fits: &impl Fn(usize) -> bool,
    dropped: &mut usize,
) -> Vec<Vec<MessageId>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    let mut body = base;
    for id in ids {
        let len = field_len(id.as_bytes().len());
        if max_ids == 0 || !fits(base + len) {
            *dropped += 1;
        } else if run.len() < max_ids && fits(body + len) {
            body += len;
            run.push(id);
        } else {
            runs.push(std::mem::take(&mut run));
            body = base + len;
            run.push(id);
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}
