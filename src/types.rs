//! Crate-level protocol types: topics, message ids, messages, control messages and the RPC.
//!
//! Wire (protobuf) types are converted into these once, at the edge, so the router never sees
//! protobuf. Payloads are [`Bytes`], so forwarding a message never copies its payload.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use libp2p_identity::PeerId;
use sha2::{Digest, Sha256};

/// The hash of a topic as it travels on the wire (the `topic` / `topicid` protobuf fields).
///
/// Cheap to clone (a shared string): it is copied into every cached message, control message
/// and per-topic map.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicHash(Arc<str>);

impl TopicHash {
    /// Wraps an already-hashed topic string as it appears on the wire.
    pub fn from_raw(hash: impl Into<String>) -> Self {
        TopicHash(Arc::from(hash.into()))
    }

    /// The wire form of the topic.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether both hashes are clones of one allocation (then they are equal): a cheap
    /// first check before hashing or comparing the strings.
    #[cfg(feature = "metrics")]
    pub(crate) fn shares_allocation(&self, other: &TopicHash) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Consumes the hash and returns its wire string.
    pub fn into_string(self) -> String {
        self.0.to_string()
    }
}

impl fmt::Debug for TopicHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicHash({})", self.0)
    }
}

impl fmt::Display for TopicHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TopicHash {
    fn from(s: &str) -> Self {
        TopicHash(Arc::from(s))
    }
}

impl From<String> for TopicHash {
    fn from(s: String) -> Self {
        TopicHash(Arc::from(s))
    }
}

/// How a topic name is turned into its [`TopicHash`].
pub trait Hasher {
    /// Hashes a topic name.
    fn hash(topic: &str) -> TopicHash;
}

/// Uses the topic name itself as the hash (what every deployed network does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityHash;

impl Hasher for IdentityHash {
    fn hash(topic: &str) -> TopicHash {
        TopicHash::from(topic)
    }
}

/// Hashes a topic as libp2p-gossipsub's (and go's) `Sha256Topic` does, so nodes of either
/// crate meet on it: the protobuf encoding of `TopicDescriptor { name }` (field 1, a string;
/// no other field set) is hashed with SHA-256 and the digest is base64-encoded (standard
/// alphabet, padded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha256Hash;

impl Hasher for Sha256Hash {
    fn hash(topic: &str) -> TopicHash {
        let mut hasher = Sha256::new();
        // Tag of `TopicDescriptor.name`: field 1, wire type 2 (length-delimited).
        hasher.update([0x0a]);
        let mut len = unsigned_varint::encode::u64_buffer();
        hasher.update(unsigned_varint::encode::u64(topic.len() as u64, &mut len));
        hasher.update(topic.as_bytes());
        TopicHash::from(base64::engine::general_purpose::STANDARD.encode(hasher.finalize()))
    }
}

/// A topic name together with the way it is hashed.
///
/// The hash is what travels on the wire and what peers compare: nodes meet on a topic only if
/// they hash its name the same way.
///
/// ```
/// use gossipsub::{IdentTopic, Sha256Topic, TopicHash};
///
/// let chat = IdentTopic::new("chat");
/// assert_eq!(chat.hash(), TopicHash::from_raw("chat")); // the name is the hash
///
/// let hashed = Sha256Topic::new("chat");
/// assert_eq!(hashed.name(), "chat");
/// assert_ne!(hashed.hash(), chat.hash()); // base64 of a SHA-256 digest
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic<H: Hasher> {
    name: String,
    _hasher: std::marker::PhantomData<H>,
}

/// A topic whose hash is its name.
pub type IdentTopic = Topic<IdentityHash>;
/// A topic whose hash is the base64 SHA-256 of its protobuf `TopicDescriptor` (see
/// [`Sha256Hash`]).
pub type Sha256Topic = Topic<Sha256Hash>;

impl<H: Hasher> Topic<H> {
    /// Creates a topic from its name.
    pub fn new(name: impl Into<String>) -> Self {
        Topic {
            name: name.into(),
            _hasher: std::marker::PhantomData,
        }
    }

    /// The topic's hash, as used on the wire and in every API of this crate.
    pub fn hash(&self) -> TopicHash {
        H::hash(&self.name)
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<H: Hasher> fmt::Display for Topic<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl<H: Hasher> From<Topic<H>> for TopicHash {
    fn from(t: Topic<H>) -> Self {
        t.hash()
    }
}

impl<H: Hasher> From<&Topic<H>> for TopicHash {
    fn from(t: &Topic<H>) -> Self {
        t.hash()
    }
}

/// The identifier of a message, computed by the configured message-id function.
///
/// Ids of up to 38 bytes (Ethereum's 20-byte ids, 32-byte hashes) are
/// stored inline: cloning, hashing and comparing them touch no other memory, which matters in
/// the maps keyed by ids (seen cache, message cache, IDONTWANT sets). Longer ids share one
/// allocation ([`Bytes`]). Equality, ordering and hashing depend on the bytes alone (hashed as
/// a `[u8]` slice), whichever way an id is stored.
#[derive(Clone)]
pub struct MessageId(IdRepr);

#[derive(Clone)]
enum IdRepr {
    /// `len` bytes of `bytes` (the rest are zero).
    Inline {
        len: u8,
        bytes: [u8; MessageId::INLINE_LEN],
    },
    /// Longer than [`MessageId::INLINE_LEN`].
    Shared(Bytes),
}

impl MessageId {
    /// The longest id stored inline, without an allocation.
    pub(crate) const INLINE_LEN: usize = 38;

    /// Creates a message id from its bytes: borrowed (`&[u8]`, `&[u8; N]`, `&str`) or owned
    /// (`Vec<u8>`, `String`, [`Bytes`]). Short ids are copied inline; a longer owned container
    /// is taken without a copy. libp2p-gossipsub's `MessageId::new(&[u8])` callers compile
    /// unchanged.
    pub fn new(bytes: impl Into<MessageId>) -> Self {
        bytes.into()
    }

    /// An inline id, if `bytes` is short enough.
    fn inline(bytes: &[u8]) -> Option<Self> {
        let len = bytes.len();
        (len <= Self::INLINE_LEN).then(|| {
            let mut buf = [0u8; Self::INLINE_LEN];
            buf[..len].copy_from_slice(bytes);
            MessageId(IdRepr::Inline {
                // At most INLINE_LEN (38), so it fits.
                len: len as u8,
                bytes: buf,
            })
        })
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            IdRepr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            IdRepr::Shared(bytes) => bytes,
        }
    }

    /// The id's bytes as a [`Bytes`] (a copy for an inline id).
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            IdRepr::Inline { .. } => Bytes::copy_from_slice(self.as_bytes()),
            IdRepr::Shared(bytes) => bytes.clone(),
        }
    }
}

impl PartialEq for MessageId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for MessageId {}

impl PartialOrd for MessageId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MessageId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for MessageId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `Bytes` and `Vec<u8>` hash: the slice (its length, then its bytes).
        self.as_bytes().hash(state);
    }
}

/// `From` impls for the owned byte containers: short ids are copied inline, longer ones taken
/// without a copy where the container allows it.
macro_rules! message_id_from_owned {
    ($($t:ty),*) => {$(
        impl From<$t> for MessageId {
            fn from(value: $t) -> Self {
                match MessageId::inline(value.as_ref()) {
                    Some(id) => id,
                    None => MessageId(IdRepr::Shared(Bytes::from(value))),
                }
            }
        }
    )*};
}
message_id_from_owned!(Bytes, Vec<u8>, String, Box<[u8]>, bytes::BytesMut);

/// `From` impls for borrowed bytes, copied (message ids are short).
macro_rules! message_id_from_borrowed {
    ($($t:ty),*) => {$(
        impl From<$t> for MessageId {
            fn from(value: $t) -> Self {
                let bytes: &[u8] = value.as_ref();
                MessageId::inline(bytes)
                    .unwrap_or_else(|| MessageId(IdRepr::Shared(Bytes::copy_from_slice(bytes))))
            }
        }
    )*};
}
message_id_from_borrowed!(&[u8], &Vec<u8>, &str, &String, &Bytes);

impl<const N: usize> From<[u8; N]> for MessageId {
    fn from(value: [u8; N]) -> Self {
        MessageId::from(&value[..])
    }
}

impl<const N: usize> From<&[u8; N]> for MessageId {
    fn from(value: &[u8; N]) -> Self {
        MessageId::from(&value[..])
    }
}

impl From<std::borrow::Cow<'_, [u8]>> for MessageId {
    fn from(value: std::borrow::Cow<'_, [u8]>) -> Self {
        match value {
            std::borrow::Cow::Borrowed(b) => MessageId::from(b),
            std::borrow::Cow::Owned(v) => MessageId::from(v),
        }
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", hex_fmt::HexFmt(self.as_bytes()))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex_fmt::HexFmt(self.as_bytes()))
    }
}

/// The protocol a peer speaks with us, as negotiated on its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerKind {
    /// `/floodsub/1.0.0`: no control messages, flood only.
    Floodsub,
    /// `/meshsub/1.0.0`.
    Gossipsub,
    /// `/meshsub/1.1.0`: backoff, PX, scoring.
    Gossipsubv1_1,
    /// `/meshsub/1.2.0`: adds IDONTWANT.
    Gossipsubv1_2,
    /// `/meshsub/1.3.0`: adds the Extensions control message.
    Gossipsubv1_3,
    /// The peer supports none of our protocols.
    NotSupported,
}

impl PeerKind {
    /// Whether the peer takes part in the mesh (any meshsub version).
    pub fn is_gossipsub(self) -> bool {
        matches!(
            self,
            PeerKind::Gossipsub
                | PeerKind::Gossipsubv1_1
                | PeerKind::Gossipsubv1_2
                | PeerKind::Gossipsubv1_3
        )
    }

    /// Whether control messages (GRAFT, PRUNE, IHAVE, IWANT) may be sent to this peer.
    pub fn supports_control(self) -> bool {
        self.is_gossipsub()
    }

    /// Whether PRUNE backoff and peer exchange (meshsub 1.1) are understood by this peer.
    pub fn supports_v1_1(self) -> bool {
        matches!(
            self,
            PeerKind::Gossipsubv1_1 | PeerKind::Gossipsubv1_2 | PeerKind::Gossipsubv1_3
        )
    }

    /// Whether IDONTWANT (meshsub 1.2) may be sent to this peer.
    pub fn supports_idontwant(self) -> bool {
        matches!(self, PeerKind::Gossipsubv1_2 | PeerKind::Gossipsubv1_3)
    }

    /// Whether the Extensions control message (meshsub 1.3) may be sent to this peer.
    pub fn supports_extensions(self) -> bool {
        matches!(self, PeerKind::Gossipsubv1_3)
    }

    /// The protocol string of this kind, if it has one.
    pub fn protocol(self) -> Option<&'static str> {
        match self {
            PeerKind::Floodsub => Some(crate::protocol::FLOODSUB),
            PeerKind::Gossipsub => Some(crate::protocol::MESHSUB_1_0),
            PeerKind::Gossipsubv1_1 => Some(crate::protocol::MESHSUB_1_1),
            PeerKind::Gossipsubv1_2 => Some(crate::protocol::MESHSUB_1_2),
            PeerKind::Gossipsubv1_3 => Some(crate::protocol::MESHSUB_1_3),
            PeerKind::NotSupported => None,
        }
    }
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.protocol().unwrap_or("not supported"))
    }
}

/// A message as it travels on the wire, with its authenticity fields.
#[derive(Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The author (`from`), if the message carries one.
    pub source: Option<PeerId>,
    /// The payload.
    pub data: Bytes,
    /// Whether the `data` field was absent on the wire, which proto2 allows and some peers
    /// do for an empty payload. Such a message has empty `data` and is verified and forwarded
    /// without the field, exactly as its author sent and signed it. `false` for every message
    /// this node authors; ignored (the field is written) when `data` is not empty.
    pub data_absent: bool,
    /// The 8-byte big-endian sequence number, decoded.
    pub sequence_number: Option<u64>,
    /// The topic the message is published on.
    pub topic: TopicHash,
    /// The author's signature, if signed.
    pub signature: Option<Bytes>,
    /// The author's public key in protobuf form, when it cannot be recovered from the peer id.
    pub key: Option<Bytes>,
}

impl RawMessage {
    /// An estimate of the encoded size of this message in bytes (used for limits and the
    /// IDONTWANT threshold).
    pub fn encoded_len(&self) -> usize {
        self.data.len()
            + self.topic.as_str().len()
            + self.source.map_or(0, |_| 40)
            + self.sequence_number.map_or(0, |_| 10)
            + self.signature.as_ref().map_or(0, |s| s.len() + 3)
            + self.key.as_ref().map_or(0, |k| k.len() + 3)
            + 8
    }

    /// The application's view of this message.
    pub fn to_message(&self) -> Message {
        Message {
            source: self.source,
            data: self.data.clone(),
            sequence_number: self.sequence_number,
            topic: self.topic.clone(),
        }
    }
}

impl fmt::Debug for RawMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawMessage")
            .field("source", &self.source)
            .field("data_len", &self.data.len())
            .field("sequence_number", &self.sequence_number)
            .field("topic", &self.topic)
            .field("signed", &self.signature.is_some())
            .finish()
    }
}

/// A message as the application sees it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Message {
    /// The author, if the message carries one.
    pub source: Option<PeerId>,
    /// The payload.
    pub data: Bytes,
    /// The sequence number, if any.
    pub sequence_number: Option<u64>,
    /// The topic.
    pub topic: TopicHash,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("source", &self.source)
            .field("data", &format_args!("{:<20}", hex_fmt::HexFmt(&self.data)))
            .field("sequence_number", &self.sequence_number)
            .field("topic", &self.topic)
            .finish()
    }
}

/// A subscription change announced by a peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// Subscribe (`true`) or unsubscribe (`false`).
    pub subscribe: bool,
    /// The topic.
    pub topic: TopicHash,
    /// The Partial Messages options of a subscribe (`SubOpts.requestsPartial = 3`,
    /// `SubOpts.supportsSendingPartial = 4`); always the default on an unsubscribe.
    pub options: SubscriptionOptions,
}

/// The Partial Messages options a subscription carries (feature `partial-messages`, module
/// `partial`). Decoded normalised: ignored on an unsubscribe, and requesting implies
/// supporting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SubscriptionOptions {
    /// The subscriber wants partial messages rather than full messages on the topic.
    pub requests_partial: bool,
    /// The subscriber can send partial messages on the topic.
    pub supports_partial: bool,
}

impl SubscriptionOptions {
    /// The options as they take effect: none on an unsubscribe, and `supports_partial`
    /// whenever `requests_partial`.
    pub fn normalised(self, subscribe: bool) -> SubscriptionOptions {
        if !subscribe {
            return SubscriptionOptions::default();
        }
        SubscriptionOptions {
            requests_partial: self.requests_partial,
            supports_partial: self.supports_partial || self.requests_partial,
        }
    }
}

/// One `PartialMessagesExtension` (`RPC.partial = 10`) of the Partial Messages extension: a
/// part (or several) of the message of group `group_id`, and/or the sender's parts metadata
/// (which parts it has and wants). Both payloads are opaque to the router.
#[derive(Clone, PartialEq, Eq)]
pub struct PartialMessage {
    /// The topic (`topicID = 1`).
    pub topic: TopicHash,
    /// The group the parts belong to (`groupID = 2`).
    pub group_id: Bytes,
    /// The encoded parts (`partialMessage = 3`), if any.
    pub message: Option<Bytes>,
    /// The sender's parts metadata (`partsMetadata = 4`), if any.
    pub metadata: Option<Bytes>,
}

impl fmt::Debug for PartialMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartialMessage")
            .field("topic", &self.topic)
            .field(
                "group_id",
                &format_args!("{:<20}", hex_fmt::HexFmt(&self.group_id)),
            )
            .field("message_len", &self.message.as_ref().map(Bytes::len))
            .field(
                "metadata",
                &self
                    .metadata
                    .as_ref()
                    .map(|m| format!("{:<20}", hex_fmt::HexFmt(m))),
            )
            .finish()
    }
}

/// One peer offered in a PRUNE's peer exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer id, if present and decodable.
    pub peer_id: Option<PeerId>,
    /// The peer's signed peer record (a serialised `SignedEnvelope`), if any.
    pub signed_peer_record: Option<Bytes>,
}

/// A control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlAction {
    /// IHAVE: we have these messages for the topic.
    IHave {
        /// The topic.
        topic: TopicHash,
        /// Ids of messages in our cache.
        message_ids: Vec<MessageId>,
    },
    /// IWANT: please send these messages.
    IWant {
        /// The requested ids.
        message_ids: Vec<MessageId>,
    },
    /// GRAFT: add me to your mesh for this topic.
    Graft {
        /// The topic.
        topic: TopicHash,
    },
    /// PRUNE: you have been removed from my mesh for this topic.
    Prune {
        /// The topic.
        topic: TopicHash,
        /// Peer exchange: peers the receiver may connect to.
        peers: Vec<PeerInfo>,
        /// Backoff in seconds before the receiver may GRAFT again.
        backoff: Option<u64>,
    },
    /// IDONTWANT: do not send me these messages, I already have them.
    IDontWant {
        /// The ids.
        message_ids: Vec<MessageId>,
    },
}

/// The extensions a peer announces in its Extensions control message (meshsub 1.3,
/// `ControlMessage.extensions`). Extensions we do not know are not represented (ignored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extensions {
    /// The test extension (`testExtension = 6492434`): when both sides announce it, each
    /// sends the other one `TestExtension` RPC.
    pub test_extension: bool,
    /// The Partial Messages extension (`partialMessages = 10`).
    pub partial_messages: bool,
}

/// A decoded RPC, in crate types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rpc {
    /// Subscription changes.
    pub subscriptions: Vec<Subscription>,
    /// Published or forwarded messages.
    pub messages: Vec<RawMessage>,
    /// Control messages.
    pub control: Vec<ControlAction>,
    /// The Extensions control message (meshsub 1.3): only in the first RPC to a peer.
    pub extensions: Option<Extensions>,
    /// Whether the RPC carries the (empty) `TestExtension` message of the test extension.
    pub test_extension: bool,
    /// A `PartialMessagesExtension` (Partial Messages extension; at most one per RPC). Boxed:
    /// rare, and it would otherwise double the size of every RPC value.
    pub partial: Option<Box<PartialMessage>>,
}

impl Rpc {
    /// Whether the RPC carries nothing.
    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
            && self.messages.is_empty()
            && self.control.is_empty()
            && self.extensions.is_none()
            && !self.test_extension
            && self.partial.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base64_std(input: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(input)
    }

    /// The standard alphabet, padded: what libp2p-gossipsub's `Sha256Topic` uses.
    #[test]
    fn base64_is_the_standard_padded_alphabet() {
        // SHA-256("") = e3b0c442...; base64 of it is well known.
        assert_eq!(
            base64_std(&Sha256::digest(b"")),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(base64_std(b"f"), "Zg==");
    }

    /// The definition (libp2p-gossipsub's `Sha256Topic`): base64 (standard, padded) of the
    /// SHA-256 of the protobuf `TopicDescriptor { name }`, whose only field is `name = 1`
    /// (a string). The protobuf bytes are built by hand here.
    #[test]
    fn sha256_topic_hashes_the_topic_descriptor() {
        let long = "x".repeat(300);
        for name in [
            "",
            "topic",
            "/eth2/4a26c58b/beacon_block/ssz_snappy",
            long.as_str(),
        ] {
            let mut descriptor = vec![0x0a]; // field 1, length-delimited
            let mut len = name.len();
            while len >= 0x80 {
                descriptor.push((len as u8 & 0x7f) | 0x80);
                len >>= 7;
            }
            descriptor.push(len as u8);
            descriptor.extend_from_slice(name.as_bytes());
            let expected = base64_std(&Sha256::digest(&descriptor));
            assert_eq!(Sha256Hash::hash(name).as_str(), expected, "{name}");
        }
        // `TopicDescriptor{name: ""}` is the two bytes 0a 00.
        assert_eq!(
            Sha256Hash::hash("").as_str(),
            base64_std(&Sha256::digest([0x0a, 0x00]))
        );
    }

    /// Short ids are stored inline, long ones shared; either way an id compares, orders and
    /// hashes as its bytes, exactly as the `Bytes`-backed id did (the seeded maps keyed by ids
    /// iterate in the same order, so a run replays bit for bit).
    #[test]
    fn message_ids_compare_and_hash_as_their_bytes_inline_or_not() {
        let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let lens = [
            0,
            1,
            20,
            MessageId::INLINE_LEN,
            MessageId::INLINE_LEN + 1,
            71,
            300,
        ];
        let ids: Vec<Vec<u8>> = lens
            .iter()
            .flat_map(|&n| [vec![7u8; n], (0..n).map(|i| i as u8).collect()])
            .collect();
        for bytes in &ids {
            let forms = [
                MessageId::new(bytes.clone()),
                MessageId::new(&bytes[..]),
                MessageId::new(Bytes::from(bytes.clone())),
                MessageId::new(bytes.clone().into_boxed_slice()),
                MessageId::new(std::borrow::Cow::Borrowed(&bytes[..])),
            ];
            for id in &forms {
                assert_eq!(id.as_bytes(), &bytes[..]);
                assert_eq!(id, &forms[0]);
                assert_eq!(id.to_bytes(), Bytes::from(bytes.clone()));
                assert_eq!(
                    hasher.hash_one(id),
                    hasher.hash_one(Bytes::from(bytes.clone()))
                );
                assert_eq!(hasher.hash_one(id), hasher.hash_one(bytes));
                assert_eq!(format!("{id}"), hex_fmt::HexFmt(bytes).to_string());
            }
            for other in &ids {
                let (a, b) = (MessageId::new(&bytes[..]), MessageId::new(&other[..]));
                assert_eq!(a.cmp(&b), bytes.cmp(other));
                assert_eq!(a == b, bytes == other);
            }
        }
        assert!(std::mem::size_of::<MessageId>() <= 40);
    }

    #[test]
    fn peer_kind_capabilities() {
        assert!(!PeerKind::Floodsub.supports_control());
        assert!(PeerKind::Gossipsub.supports_control());
        assert!(!PeerKind::Gossipsubv1_1.supports_idontwant());
        assert!(PeerKind::Gossipsubv1_2.supports_idontwant());
    }
}
