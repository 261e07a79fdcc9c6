//! Decoding of a received frame into crate types, with every per-RPC limit applied while
//! walking the frame, before anything is allocated for the input.
//!
//! The generated decoder would first collect every entry of a frame into vectors (1 MiB of
//! 2-byte IHAVE ids becomes ~350,000 entries, then as many [`MessageId`]s), and only then could
//! a limit be applied. This walker reads the frame directly: entries over a cap are skipped and
//! counted in [`DecodeDrops`], never allocated. It runs after [`super::bounds::check`], so every
//! field is known to lie inside its parent; it still reports any inconsistency as an error
//! rather than assuming it.
//!
//! What may keep the frame alive ([`share`]): only message payloads, and only a payload that is
//! at least half of the frame ([`shares_frame`]); then the message's signature and key share it
//! too (they pin nothing more). Everything else that outlives the handling of the RPC (topics,
//! message ids, PX records, small payloads) is copied, so a small slice never pins a frame of up
//! to `max_transmit_size` bytes.

use bytes::Bytes;
use libp2p_identity::PeerId;
use quick_protobuf::{BytesReader, MessageRead};

use super::bounds::varint;
use super::codec::DecodedRpc;
use super::convert::message_from_proto;
use super::fragment::message_len;
use super::proto;
use crate::types::{
    ControlAction, Extensions, MessageId, PartialMessage, PeerInfo, Subscription,
    SubscriptionOptions, TopicHash,
};

/// The per-RPC limits applied while decoding (see [`crate::ConfigBuilder`] for each default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeLimits {
    /// Published messages decoded per RPC (`max_messages_per_rpc`).
    pub(crate) max_messages: usize,
    /// Subscription entries decoded per RPC (`max_subscriptions_per_rpc`).
    pub(crate) max_subscriptions: usize,
    /// Entries decoded per control type (IHAVE, IWANT, GRAFT, PRUNE, IDONTWANT) per RPC
    /// (`max_control_entries_per_rpc`).
    pub(crate) max_control_entries: usize,
    /// Encoded bytes of control entries decoded per RPC (`max_control_bytes_per_rpc`).
    pub(crate) max_control_bytes: usize,
    /// IHAVE message ids decoded per RPC, over all its IHAVE entries (`max_ihave_length`).
    pub(crate) max_ihave_ids: usize,
    /// IWANT message ids decoded per RPC (`max_ihave_length`: we never ask for more per
    /// heartbeat, and neither do compliant peers).
    pub(crate) max_iwant_ids: usize,
    /// IDONTWANT message ids decoded per RPC (`max_idontwant_messages`).
    pub(crate) max_idontwant_ids: usize,
    /// Peer-exchange entries decoded per RPC, over all its PRUNEs (`max_px_peers_per_rpc`).
    pub(crate) max_px_peers: usize,
    /// The longest message id kept, in bytes (`max_message_id_len`).
    pub(crate) max_id_len: usize,
    /// The longest topic kept, in bytes (`max_topic_len`).
    pub(crate) max_topic_len: usize,
    /// The only message-id length kept, when the network fixes one (`message_id_len`).
    pub(crate) exact_id_len: Option<usize>,
}

impl DecodeLimits {
    /// No limit beyond the frame itself (for tests and tools).
    pub(crate) const UNLIMITED: DecodeLimits = DecodeLimits {
        max_messages: usize::MAX,
        max_subscriptions: usize::MAX,
        max_control_entries: usize::MAX,
        max_control_bytes: usize::MAX,
        max_ihave_ids: usize::MAX,
        max_iwant_ids: usize::MAX,
        max_idontwant_ids: usize::MAX,
        max_px_peers: usize::MAX,
        max_id_len: usize::MAX,
        max_topic_len: usize::MAX,
        exact_id_len: None,
    };

    /// The limits of `config`.
    pub(crate) fn from_config(config: &crate::Config) -> Self {
        DecodeLimits {
            max_messages: config.max_messages_per_rpc().unwrap_or(usize::MAX),
            max_subscriptions: config.max_subscriptions_per_rpc(),
            max_control_entries: config.max_control_entries_per_rpc(),
            max_control_bytes: config.max_control_bytes_per_rpc(),
            max_ihave_ids: config.max_ihave_length(),
            max_iwant_ids: config.max_ihave_length(),
            max_idontwant_ids: config.max_idontwant_messages(),
            max_px_peers: config.max_px_peers_per_rpc(),
            max_id_len: config.max_message_id_len(),
            max_topic_len: config.max_topic_len(),
            exact_id_len: config.message_id_len(),
        }
    }
}

/// What the decoder skipped because of a [`DecodeLimits`] limit, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DecodeDrops {
    /// Messages over `max_messages`.
    pub(crate) messages_over_cap: usize,
    /// Subscription entries over `max_subscriptions`.
    pub(crate) subscriptions_over_cap: usize,
    /// Control entries over `max_control_entries` (per type) or `max_control_bytes`.
    pub(crate) control_over_cap: usize,
    /// Message ids over the per-type id caps.
    pub(crate) ids_over_cap: usize,
    /// Message ids longer than `max_id_len`.
    pub(crate) ids_too_long: usize,
    /// Message ids whose length is not `exact_id_len`.
    pub(crate) ids_wrong_len: usize,
    /// PRUNE peer-exchange entries over `max_px_peers`.
    pub(crate) px_peers_over_cap: usize,
    /// Subscriptions, messages and control entries whose topic is longer than `max_topic_len`.
    pub(crate) topics_too_long: usize,
    /// Messages whose re-encoding would be larger than what was received (never expected).
    pub(crate) messages_grown: usize,
    /// `PartialMessagesExtension`s dropped: no topic or group id, a topic over
    /// `max_topic_len`, a group id over [`MAX_PARTIAL_GROUP_ID_LEN`] or parts metadata over
    /// [`MAX_PARTS_METADATA_LEN`].
    pub(crate) partials_malformed: usize,
}

/// The longest group id of a `PartialMessagesExtension` we decode, in bytes (an Ethereum
/// group id is a 32-byte block root; go and rust set no bound).
pub const MAX_PARTIAL_GROUP_ID_LEN: usize = 256;

/// The longest parts metadata of a `PartialMessagesExtension` we decode, in bytes (PeerDAS
/// metadata is a bitmap of a few bits per blob). It bounds what the router keeps per peer and
/// group: at most `groups_per_topic` peer-opened groups plus ours, 1 KiB each.
pub const MAX_PARTS_METADATA_LEN: usize = 1024;

/// Field number of `RPC.partial` and of `ControlExtensions.partialMessages`.
const PARTIAL_MESSAGES: u32 = 10;

impl DecodeDrops {
    /// Whether anything was skipped.
    pub(crate) fn is_empty(&self) -> bool {
        *self == DecodeDrops::default()
    }
}

/// Wire types of the protobuf encoding.
const VARINT: u32 = 0;
const LENGTH_DELIMITED: u32 = 2;

/// One field of a protobuf message: its number, wire type and value.
struct Field<'a> {
    number: u32,
    wire_type: u32,
    /// The varint value (wire type 0).
    varint: u64,
    /// The body (wire type 2).
    body: &'a [u8],
}

/// The fields of one protobuf message, in order.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        Some(self.read())
    }
}

impl<'a> Fields<'a> {
    fn read(&mut self) -> Result<Field<'a>, &'static str> {
        let (tag, rest) = varint(self.0)?;
        // Tags are 32-bit varints; quick-protobuf keeps the low 32 bits, as does this.
        let tag = tag as u32;
        let mut field = Field {
            number: tag >> 3,
            wire_type: tag & 7,
            varint: 0,
            body: &[],
        };
        self.0 = match field.wire_type {
            VARINT => {
                let (value, rest) = varint(rest)?;
                field.varint = value;
                rest
            }
            1 => rest.get(8..).ok_or("fixed64 field runs past its message")?,
            5 => rest.get(4..).ok_or("fixed32 field runs past its message")?,
            LENGTH_DELIMITED => {
                let (len, rest) = varint(rest)?;
                let len = usize::try_from(len).map_err(|_| "field length overflows usize")?;
                if len > rest.len() {
                    return Err("field runs past its message");
                }
                let (body, rest) = rest.split_at(len);
                field.body = body;
                rest
            }
            _ => return Err("unsupported wire type"),
        };
        Ok(field)
    }
}

impl Field<'_> {
    /// Whether this is field `number` with a length-delimited value.
    fn is_bytes(&self, number: u32) -> bool {
        self.number == number && self.wire_type == LENGTH_DELIMITED
    }

    /// Whether this is field `number` with a varint value.
    fn is_varint(&self, number: u32) -> bool {
        self.number == number && self.wire_type == VARINT
    }
}

/// Whether a payload of `len` bytes may keep a frame of `frame_len` bytes alive: only when it is
/// at least half of it, so a retained message pins at most twice its own size.
pub(crate) fn shares_frame(len: usize, frame_len: usize) -> bool {
    len >= frame_len / 2
}

/// Decodes `frame` (one RPC, already checked by [`super::bounds::check`]) under `limits`.
pub(crate) fn decode_rpc(frame: &Bytes, limits: &DecodeLimits) -> Result<DecodedRpc, String> {
    let mut out = DecodedRpc::default();
    let mut control = ControlBudget::new(limits);
    // Every message entry counts against the cap, whatever becomes of it.
    let mut message_entries = 0usize;
    for field in Fields(frame) {
        let field = field?;
        if field.is_bytes(1) {
            if out.rpc.subscriptions.len() >= limits.max_subscriptions {
                out.drops.subscriptions_over_cap += 1;
                continue;
            }
            if let Some(sub) = subscription(field.body, limits, &mut out)? {
                out.rpc.subscriptions.push(sub);
            }
        } else if field.is_bytes(2) {
            if message_entries >= limits.max_messages {
                out.drops.messages_over_cap += 1;
                continue;
            }
            message_entries += 1;
            message(frame, field.body, limits, &mut out)?;
        } else if field.is_bytes(3) {
            control_message(field.body, &mut control, &mut out)?;
        } else if field.is_bytes(TEST_EXTENSION) {
            // `TestExtension` is empty; whatever it holds is skipped.
            out.rpc.test_extension = true;
        } else if field.is_bytes(PARTIAL_MESSAGES) {
            // An optional message: a repeated occurrence replaces the earlier one (the last
            // one wins, as in protobuf's merge of the scalar fields it holds).
            out.rpc.partial =
                partial(field.body, limits.max_topic_len, &mut out.drops)?.map(Box::new);
        }
        // Everything else (unknown fields, including experimental ones above 0x200000) is
        // skipped.
    }
    Ok(out)
}

/// A topic of at most `max_topic_len` bytes as a [`TopicHash`] (copied), or `None` (counted)
/// when longer. Invalid UTF-8 is an error, as in the generated decoder.
fn topic(
    bytes: &[u8],
    max_len: usize,
    drops: &mut DecodeDrops,
) -> Result<Option<TopicHash>, String> {
    if bytes.len() > max_len {
        drops.topics_too_long += 1;
        return Ok(None);
    }
    let topic = std::str::from_utf8(bytes).map_err(|e| format!("topic is not UTF-8: {e}"))?;
    Ok(Some(TopicHash::from(topic)))
}

fn subscription(
    body: &[u8],
    limits: &DecodeLimits,
    out: &mut DecodedRpc,
) -> Result<Option<Subscription>, String> {
    let mut subscribe = false;
    let mut topic_bytes = None;
    let mut options = SubscriptionOptions::default();
    for field in Fields(body) {
        let field = field?;
        if field.is_varint(1) {
            subscribe = field.varint != 0;
        } else if field.is_bytes(2) {
            topic_bytes = Some(field.body);
        } else if field.is_varint(3) {
            options.requests_partial = field.varint != 0;
        } else if field.is_varint(4) {
            options.supports_partial = field.varint != 0;
        }
    }
    let Some(bytes) = topic_bytes else {
        return Ok(None);
    };
    let options = options.normalised(subscribe);
    Ok(
        topic(bytes, limits.max_topic_len, &mut out.drops)?.map(|topic| Subscription {
            options,
            subscribe,
            topic,
        }),
    )
}

/// A `PartialMessagesExtension` body, copied out of the frame (the router hands it to the
/// application; nothing of it pins the frame). `None` (counted) without a topic or group id,
/// or with a field over its bound; the parts themselves are bounded by the frame.
fn partial(
    body: &[u8],
    max_topic_len: usize,
    drops: &mut DecodeDrops,
) -> Result<Option<PartialMessage>, String> {
    let (mut topic_bytes, mut group, mut message, mut metadata) = (None, None, None, None);
    for field in Fields(body) {
        let field = field?;
        match field.number {
            1 if field.wire_type == LENGTH_DELIMITED => topic_bytes = Some(field.body),
            2 if field.wire_type == LENGTH_DELIMITED => group = Some(field.body),
            3 if field.wire_type == LENGTH_DELIMITED => message = Some(field.body),
            4 if field.wire_type == LENGTH_DELIMITED => metadata = Some(field.body),
            _ => {}
        }
    }
    let (Some(topic_bytes), Some(group)) = (topic_bytes, group) else {
        drops.partials_malformed += 1;
        return Ok(None);
    };
    if topic_bytes.len() > max_topic_len
        || group.len() > MAX_PARTIAL_GROUP_ID_LEN
        || metadata.is_some_and(|m| m.len() > MAX_PARTS_METADATA_LEN)
    {
        drops.partials_malformed += 1;
        return Ok(None);
    }
    let Ok(topic) = std::str::from_utf8(topic_bytes) else {
        drops.partials_malformed += 1;
        return Ok(None);
    };
    Ok(Some(PartialMessage {
        topic: TopicHash::from(topic),
        group_id: Bytes::copy_from_slice(group),
        message: message.map(Bytes::copy_from_slice),
        metadata: metadata.map(Bytes::copy_from_slice),
    }))
}

/// Decodes one published message into `out` (or its malformed entry).
fn message(
    frame: &Bytes,
    body: &[u8],
    limits: &DecodeLimits,
    out: &mut DecodedRpc,
) -> Result<(), String> {
    let mut reader = BytesReader::from_bytes(body);
    let message = proto::Message::from_reader(&mut reader, body).map_err(|e| e.to_string())?;
    if message
        .topic
        .as_ref()
        .is_some_and(|t| t.len() > limits.max_topic_len)
    {
        out.drops.topics_too_long += 1;
        return Ok(());
    }
    let data_len = message.data.as_ref().map_or(0, |d| d.len());
    let shared = shares_frame(data_len, frame.len());
    match message_from_proto(frame, message, shared) {
        // Forwarding must never produce more than we accepted. Re-encoding keeps every field
        // as received (only dropping duplicates, empty optional fields and unknown fields), so
        // this holds by construction; the check makes a regression a counted drop rather than
        // an oversized forward.
        Ok(message) if message_len(&message) > body.len() => {
            out.drops.messages_grown += 1;
        }
        Ok(message) => out.rpc.messages.push(message),
        Err(malformed) => out.malformed_messages.push(malformed),
    }
    Ok(())
}

/// What is left of the per-RPC control limits.
struct ControlBudget {
    /// Entries left per type: IHAVE, IWANT, GRAFT, PRUNE, IDONTWANT.
    entries: [usize; 5],
    bytes: usize,
    ihave_ids: usize,
    iwant_ids: usize,
    idontwant_ids: usize,
    px_peers: usize,
    max_id_len: usize,
    exact_id_len: Option<usize>,
    max_topic_len: usize,
}

impl ControlBudget {
    /// The accepted id lengths: `exact_id_len` alone when set, else up to `max_id_len`.
    fn id_len(&self) -> IdLen {
        IdLen {
            max: self.max_id_len,
            exact: self.exact_id_len,
        }
    }

    fn new(limits: &DecodeLimits) -> Self {
        ControlBudget {
            entries: [limits.max_control_entries; 5],
            bytes: limits.max_control_bytes,
            ihave_ids: limits.max_ihave_ids,
            iwant_ids: limits.max_iwant_ids,
            idontwant_ids: limits.max_idontwant_ids,
            px_peers: limits.max_px_peers,
            max_id_len: limits.max_id_len,
            exact_id_len: limits.exact_id_len,
            max_topic_len: limits.max_topic_len,
        }
    }
}

/// The field number of the test extension, in `RPC` and in `ControlExtensions`.
pub(crate) const TEST_EXTENSION: u32 = 6_492_434;

/// Field number of `ControlMessage.extensions`.
const CONTROL_EXTENSIONS: u32 = 6;

/// Decodes a `ControlExtensions` body, merging it into `into` (protobuf merges repeated
/// occurrences of an optional message). Extensions we do not know are skipped.
fn extensions(body: &[u8], into: &mut Extensions) -> Result<(), String> {
    for field in Fields(body) {
        let field = field?;
        if field.is_varint(TEST_EXTENSION) {
            into.test_extension |= field.varint != 0;
        } else if field.is_varint(PARTIAL_MESSAGES) {
            into.partial_messages |= field.varint != 0;
        }
    }
    Ok(())
}

/// Decodes the entries of one `ControlMessage` field into `out.rpc.control`.
fn control_message(
    body: &[u8],
    budget: &mut ControlBudget,
    out: &mut DecodedRpc,
) -> Result<(), String> {
    for field in Fields(body) {
        let field = field?;
        if field.is_bytes(CONTROL_EXTENSIONS) {
            // Tiny and never stored per entry: not charged to the control budget.
            extensions(field.body, out.rpc.extensions.get_or_insert_default())?;
            continue;
        }
        // ihave = 1, iwant = 2, graft = 3, prune = 4, idontwant = 5; unknown kinds are skipped
        // (and counted by the pre-scan).
        let kind = match field.number {
            1..=5 if field.wire_type == LENGTH_DELIMITED => (field.number - 1) as usize,
            _ => continue,
        };
        if field.body.len() > budget.bytes {
            // The byte budget is spent: this entry and every later one are skipped.
            budget.bytes = 0;
            out.drops.control_over_cap += 1;
            continue;
        }
        if budget.entries[kind] == 0 {
            out.drops.control_over_cap += 1;
            continue;
        }
        budget.entries[kind] -= 1;
        budget.bytes -= field.body.len();
        let id_len = budget.id_len();
        let action = match kind {
            0 => {
                let Some(topic) = entry_topic(field.body, budget.max_topic_len, &mut out.drops)?
                else {
                    continue;
                };
                let ids =
                    message_ids(field.body, 2, &mut budget.ihave_ids, id_len, &mut out.drops)?;
                ControlAction::IHave {
                    topic,
                    message_ids: ids,
                }
            }
            1 => ControlAction::IWant {
                message_ids: message_ids(
                    field.body,
                    1,
                    &mut budget.iwant_ids,
                    id_len,
                    &mut out.drops,
                )?,
            },
            2 => {
                let Some(topic) = entry_topic(field.body, budget.max_topic_len, &mut out.drops)?
                else {
                    continue;
                };
                ControlAction::Graft { topic }
            }
            3 => match prune(
                field.body,
                budget.max_topic_len,
                &mut budget.px_peers,
                &mut out.drops,
            )? {
                Some(prune) => prune,
                None => continue,
            },
            _ => ControlAction::IDontWant {
                message_ids: message_ids(
                    field.body,
                    1,
                    &mut budget.idontwant_ids,
                    id_len,
                    &mut out.drops,
                )?,
            },
        };
        out.rpc.control.push(action);
    }
    Ok(())
}

/// The topic (field 1) of an IHAVE or GRAFT entry; `None` when absent or too long.
fn entry_topic(
    body: &[u8],
    max_len: usize,
    drops: &mut DecodeDrops,
) -> Result<Option<TopicHash>, String> {
    let mut topic_bytes = None;
    for field in Fields(body) {
        let field = field?;
        if field.is_bytes(1) {
            topic_bytes = Some(field.body);
        }
    }
    match topic_bytes {
        Some(bytes) => topic(bytes, max_len, drops),
        None => Ok(None),
    }
}

/// The message-id lengths a decoder keeps.
#[derive(Debug, Clone, Copy)]
struct IdLen {
    /// The longest id kept (`max_message_id_len`).
    max: usize,
    /// The only length kept, when the network fixes one (`message_id_len`).
    exact: Option<usize>,
}

/// The message ids (field `number` of `body`), copied out of the frame: ids longer than
/// `len.max`, ids of another length than `len.exact` (when set) and ids over the `left`
/// budget are skipped and counted.
fn message_ids(
    body: &[u8],
    number: u32,
    left: &mut usize,
    len: IdLen,
    drops: &mut DecodeDrops,
) -> Result<Vec<MessageId>, String> {
    let fits = |n: usize| n <= len.max && len.exact.is_none_or(|exact| n == exact);
    // Count first, so the vector is allocated once and never beyond the budget.
    let mut fitting = 0usize;
    for field in Fields(body) {
        let field = field?;
        if field.is_bytes(number) && fits(field.body.len()) {
            fitting += 1;
        }
    }
    let mut ids = Vec::with_capacity(fitting.min(*left));
    for field in Fields(body) {
        let field = field?;
        if !field.is_bytes(number) {
            continue;
        }
        if field.body.len() > len.max {
            drops.ids_too_long += 1;
        } else if !fits(field.body.len()) {
            drops.ids_wrong_len += 1;
        } else if *left == 0 {
            drops.ids_over_cap += 1;
        } else {
            *left -= 1;
            ids.push(MessageId::new(Bytes::copy_from_slice(field.body)));
        }
    }
    Ok(ids)
}

/// A PRUNE entry; `None` when it has no topic or its topic is too long. Peer ids are decoded and
/// signed peer records copied, so nothing pins the frame.
fn prune(
    body: &[u8],
    max_topic_len: usize,
    px_left: &mut usize,
    drops: &mut DecodeDrops,
) -> Result<Option<ControlAction>, String> {
    let mut topic_bytes = None;
    let mut peers = 0usize;
    let mut backoff = None;
    for field in Fields(body) {
        let field = field?;
        if field.is_bytes(1) {
            topic_bytes = Some(field.body);
        } else if field.is_bytes(2) {
            peers += 1;
        } else if field.is_varint(3) {
            backoff = Some(field.varint);
        }
    }
    let Some(bytes) = topic_bytes else {
        return Ok(None);
    };
    let Some(topic) = topic(bytes, max_topic_len, drops)? else {
        return Ok(None);
    };
    let mut infos = Vec::with_capacity(peers.min(*px_left));
    for field in Fields(body) {
        let field = field?;
        if !field.is_bytes(2) {
            continue;
        }
        if *px_left == 0 {
            drops.px_peers_over_cap += 1;
        } else {
            *px_left -= 1;
            infos.push(peer_info(field.body)?);
        }
    }
    Ok(Some(ControlAction::Prune {
        topic,
        peers: infos,
        backoff,
    }))
}

fn peer_info(body: &[u8]) -> Result<PeerInfo, String> {
    let mut reader = BytesReader::from_bytes(body);
    let peer = proto::PeerInfo::from_reader(&mut reader, body).map_err(|e| e.to_string())?;
    Ok(PeerInfo {
        peer_id: peer
            .peerID
            .as_ref()
            .and_then(|bytes| PeerId::from_bytes(bytes).ok()),
        signed_peer_record: peer
            .signedPeerRecord
            .as_deref()
            .filter(|record| !record.is_empty())
            .map(Bytes::copy_from_slice),
    })
}
