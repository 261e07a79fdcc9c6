//! Thin wrappers around crate-internal types, for the benchmarks in `benches/` and the
//! comparison in `examples/compare/`.
//!
//! **Not part of the public API**: hidden from the docs, exempt from semver, and may change or
//! disappear in any release. Do not use it outside this repository.

use std::io;
use std::time::Duration;

use web_time::Instant;

use asynchronous_codec::{Decoder, Encoder};
use bytes::{Bytes, BytesMut};
use libp2p_identity::{Keypair, PeerId};

use crate::router::Map;
use crate::types::{MessageId, RawMessage, Rpc, TopicHash};
use crate::wire::{self, Inbound};

/// The router's seen cache (message ids seen within `seen_ttl`).
pub struct SeenCache(crate::router::seen::SeenCache);

impl SeenCache {
    /// An empty cache whose entries live for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        SeenCache(crate::router::seen::SeenCache::new(
            ttl,
            usize::MAX,
            Map::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4)),
        ))
    }

    /// Records `id` as seen at `now`; `false` if it was already there.
    pub fn insert(&mut self, now: Instant, id: MessageId) -> bool {
        self.0.insert(now, id, |_| {})
    }

    /// Whether `id` was seen.
    pub fn contains(&self, id: &MessageId) -> bool {
        self.0.contains(id)
    }

    /// Forgets the ids whose TTL passed by `now`.
    pub fn expire(&mut self, now: Instant) {
        self.0.expire(now, |_| {})
    }

    /// Number of ids held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
}

/// The router's message cache (recent messages, served to IWANT and advertised in IHAVE).
pub struct MessageCache(crate::router::mcache::MessageCache);

impl MessageCache {
    /// An empty cache of `history_length` windows, the newest `history_gossip` gossiped.
    pub fn new(history_length: usize, history_gossip: usize) -> Self {
        MessageCache(crate::router::mcache::MessageCache::new(
            history_length,
            history_gossip,
            usize::MAX,
            ahash::RandomState::with_seeds(1, 2, 3, 4),
        ))
    }

    /// Adds a validated message received from `source`; `false` if already cached.
    pub fn put(&mut self, id: MessageId, message: RawMessage, source: Option<PeerId>) -> bool {
        self.0.put(id, message, true, source)
    }

    /// The cached message with this id.
    pub fn get(&self, id: &MessageId) -> Option<&RawMessage> {
        self.0.get(id).map(|e| &e.message)
    }

    /// The message for an IWANT from `peer` (counts the transmission).
    pub fn get_for_iwant(&mut self, id: &MessageId, peer: PeerId) -> Option<&RawMessage> {
        self.0.get_for_iwant(id, peer, u32::MAX)
    }

    /// Number of ids the IHAVE gossip would advertise now.
    pub fn gossip_len(&self) -> usize {
        self.0.gossip_ids().values().map(Vec::len).sum()
    }

    /// Starts a new window, dropping the oldest.
    pub fn shift(&mut self) {
        self.0.shift()
    }

    /// Number of messages held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no message is held.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
}

/// The length-prefixed protobuf codec of the pubsub streams.
pub struct Codec(wire::Codec);

impl Codec {
    /// A codec for frames of at most `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        Codec(wire::Codec::new(max_size))
    }

    /// A codec as a node with `config` decodes with: frames of at most `max_transmit_size`
    /// bytes, every per-RPC decode limit of the config applied.
    pub fn from_config(config: &crate::Config) -> Self {
        Codec(wire::Codec::with_limits(
            config.max_transmit_size(),
            wire::DecodeLimits::from_config(config),
        ))
    }

    /// Appends the frame of `rpc` to `dst`.
    pub fn encode(&mut self, rpc: &Rpc, dst: &mut BytesMut) -> io::Result<()> {
        self.0.encode(rpc, dst)
    }

    /// Decodes one frame from `src`: `Ok(None)` if incomplete, an `InvalidData` error if the
    /// frame was dropped.
    pub fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Rpc>> {
        match self.0.decode(src)? {
            None => Ok(None),
            Some(Inbound::Rpc(decoded)) => Ok(Some(decoded.rpc)),
            Some(Inbound::Dropped(reason)) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                reason.to_string(),
            )),
        }
    }
}

/// A message authored and signed by `keypair` (StrictSign), as a peer would publish it.
pub fn signed_message(keypair: &Keypair, topic: TopicHash, data: Bytes, seqno: u64) -> RawMessage {
    let mut message = RawMessage {
        source: Some(keypair.public().to_peer_id()),
        data,
        data_absent: false,
        sequence_number: Some(seqno),
        topic,
        signature: None,
        key: None,
    };
    let (signature, key) = wire::sign(keypair, &message).expect("signing with a local key");
    message.signature = Some(signature);
    message.key = key;
    message
}

/// The metrics hooks the behaviour runs on the forward path (what `Behaviour::with_metrics`
/// turns on), for measuring their cost against the router alone.
#[cfg(feature = "metrics")]
pub struct MetricsObserver(crate::metrics::Metrics);

#[cfg(feature = "metrics")]
impl MetricsObserver {
    /// Registers every family in `registry`, with `topics` labelled.
    pub fn new(registry: &mut prometheus_client::registry::Registry, topics: &[TopicHash]) -> Self {
        let config = crate::metrics::MetricsConfig::new().with_topics(topics.iter().cloned());
        MetricsObserver(crate::metrics::Metrics::new(registry, &config, false))
    }

    /// What the behaviour does with a received RPC before the router sees it.
    pub fn receive(&mut self, rpc: &Rpc) {
        self.0.on_receive(rpc);
    }

    /// What the behaviour does with each router action.
    pub fn action(&mut self, action: &crate::router::Action) {
        match action {
            crate::router::Action::Send { rpc, .. } => self.0.on_send(rpc),
            crate::router::Action::Event(event) => self.0.on_event(event),
            crate::router::Action::Dial { .. } => self.0.on_dial(),
            _ => {}
        }
    }

    /// What the behaviour does after a heartbeat.
    pub fn heartbeat(&mut self, router: &crate::router::Router) {
        self.0.on_heartbeat(router, std::iter::empty());
    }
}
