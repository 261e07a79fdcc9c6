//! A raw meshsub peer for adversarial tests: it negotiates `/meshsub/1.1.0` (so our node sees a
//! v1.1 peer) and writes hand-encoded RPC frames, with the protobuf encoders to build them
//! (field numbers from rpc.proto and RFC 0003's PeerRecord).
//!
//! Adapted from the raw writer of `tests/swarm.rs`.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::{AsyncWriteExt, FutureExt, StreamExt};
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::{OutboundUpgrade, ReadyUpgrade, UpgradeInfo};
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::identity::{Keypair, PeerId};
use libp2p::swarm::handler::{OneShotHandler, OneShotHandlerConfig};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, NotifyHandler, Stream,
    StreamProtocol, SubstreamProtocol, Swarm, SwarmEvent, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};

use super::{Node, NodeEvent, memory_addr, memory_swarm};

/// The only protocol the raw peer speaks.
pub const MESHSUB_1_1: StreamProtocol = StreamProtocol::new("/meshsub/1.1.0");

/// A behaviour that, on every new connection, opens one `/meshsub/1.1.0` stream and writes
/// `bytes` to it verbatim. It accepts the remote's `/meshsub/1.1.0` streams. Streams are kept
/// open and never read.
pub struct RawWriter {
    bytes: Vec<u8>,
    events: Vec<ToSwarm<RawEvent, WriteBytes>>,
    streams: Vec<Stream>,
}

impl RawWriter {
    /// A writer of `bytes` (length-prefixed frames, see [`put_frame`]).
    pub fn new(bytes: Vec<u8>) -> Self {
        RawWriter {
            bytes,
            events: Vec::new(),
            streams: Vec::new(),
        }
    }

    fn handler(&self) -> RawHandler {
        OneShotHandler::new(
            SubstreamProtocol::new(ReadyUpgrade::new(MESHSUB_1_1), ()),
            OneShotHandlerConfig::default(),
        )
    }
}

/// The outbound upgrade: negotiates `/meshsub/1.1.0` and writes the bytes.
#[derive(Debug)]
pub struct WriteBytes(Vec<u8>);

/// The stream after the bytes were written.
#[derive(Debug)]
pub struct Written(Stream);

/// A stream the raw peer holds on to.
#[derive(Debug)]
pub enum RawEvent {
    Inbound(Stream),
    Written(Stream),
}

impl From<Stream> for RawEvent {
    fn from(s: Stream) -> Self {
        RawEvent::Inbound(s)
    }
}

impl From<Written> for RawEvent {
    fn from(w: Written) -> Self {
        RawEvent::Written(w.0)
    }
}

impl UpgradeInfo for WriteBytes {
    type Info = StreamProtocol;
    type InfoIter = std::iter::Once<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        std::iter::once(MESHSUB_1_1)
    }
}

impl OutboundUpgrade<Stream> for WriteBytes {
    type Output = Written;
    type Error = std::io::Error;
    type Future = BoxFuture<'static, Result<Written, std::io::Error>>;

    fn upgrade_outbound(self, mut stream: Stream, _: StreamProtocol) -> Self::Future {
        async move {
            stream.write_all(&self.0).await?;
            stream.flush().await?;
            Ok(Written(stream))
        }
        .boxed()
    }
}

type RawHandler = OneShotHandler<ReadyUpgrade<StreamProtocol>, WriteBytes, RawEvent>;

impl NetworkBehaviour for RawWriter {
    type ConnectionHandler = RawHandler;
    type ToSwarm = RawEvent;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler())
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionEstablished(e) = event {
            self.events.push(ToSwarm::NotifyHandler {
                peer_id: e.peer_id,
                handler: NotifyHandler::One(e.connection_id),
                event: WriteBytes(self.bytes.clone()),
            });
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            Ok(RawEvent::Inbound(s)) | Ok(RawEvent::Written(s)) => self.streams.push(s),
            Err(e) => panic!("raw peer failed to open its stream: {e:?}"),
        }
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<RawEvent, THandlerInEvent<Self>>> {
        if self.events.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(self.events.remove(0))
        }
    }
}

/// A raw peer in a swarm, as a [`Node`] the harness can drive (it has no pubsub API).
pub struct RawNode {
    pub swarm: Swarm<RawWriter>,
    pub addr: Multiaddr,
}

impl RawNode {
    /// A listening raw peer that writes `bytes` on each connection.
    pub fn new(key: Keypair, bytes: Vec<u8>) -> Self {
        let mut swarm = memory_swarm(key, RawWriter::new(bytes));
        let addr = memory_addr();
        swarm.listen_on(addr.clone()).expect("listen on memory");
        RawNode { swarm, addr }
    }
}

impl Node for RawNode {
    fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<NodeEvent> {
        match self.swarm.poll_next_unpin(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    NodeEvent::Connected { peer: peer_id }
                }
                SwarmEvent::ConnectionClosed { peer_id, .. } => {
                    NodeEvent::Disconnected { peer: peer_id }
                }
                _ => NodeEvent::Other,
            }),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
    fn dial(&mut self, addr: Multiaddr) {
        self.swarm.dial(addr).expect("dial");
    }
    fn subscribe(&mut self, _: &str) {
        panic!("a raw node has no pubsub API; encode a subscription instead");
    }
    fn unsubscribe(&mut self, _: &str) {
        panic!("a raw node has no pubsub API; encode a subscription instead");
    }
    fn publish(&mut self, _: &str, _: Vec<u8>) -> Result<(), String> {
        Err("a raw node has no pubsub API".into())
    }
    fn disconnect(&mut self, peer: PeerId) {
        let _ = self.swarm.disconnect_peer_id(peer);
    }
    fn listen_addr(&self) -> Multiaddr {
        self.addr.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Hand encoding.
// ---------------------------------------------------------------------------------------------

/// Appends `value` as an unsigned varint (protobuf and the frame length prefix).
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a varint protobuf field.
pub fn put_varint_field(out: &mut Vec<u8>, field: u64, value: u64) {
    put_varint(out, field << 3);
    put_varint(out, value);
}

/// Appends a length-delimited protobuf field.
pub fn put_bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, field << 3 | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a length-prefixed frame.
pub fn put_frame(out: &mut Vec<u8>, frame: &[u8]) {
    put_varint(out, frame.len() as u64);
    out.extend_from_slice(frame);
}

/// `RPC { subscriptions: [{subscribe: true, topicid: topic}] }`.
pub fn subscribe_rpc(topic: &str) -> Vec<u8> {
    let mut sub = Vec::new();
    put_varint_field(&mut sub, 1, 1); // SubOpts.subscribe = true
    put_bytes_field(&mut sub, 2, topic.as_bytes()); // SubOpts.topicid
    let mut rpc = Vec::new();
    put_bytes_field(&mut rpc, 1, &sub); // RPC.subscriptions
    rpc
}

/// `RPC { control: { prune: [{topicID, peers: [PeerInfo{peerID, signedPeerRecord}], backoff}] } }`.
/// Each offered peer is its id and the bytes of its signed envelope, if any.
pub fn prune_rpc(
    topic: &str,
    peers: &[(PeerId, Option<Vec<u8>>)],
    backoff: Option<u64>,
) -> Vec<u8> {
    let mut prune = Vec::new();
    put_bytes_field(&mut prune, 1, topic.as_bytes()); // ControlPrune.topicID
    for (peer, record) in peers {
        let mut info = Vec::new();
        put_bytes_field(&mut info, 1, &peer.to_bytes()); // PeerInfo.peerID
        if let Some(record) = record {
            put_bytes_field(&mut info, 2, record); // PeerInfo.signedPeerRecord
        }
        put_bytes_field(&mut prune, 2, &info); // ControlPrune.peers
    }
    if let Some(backoff) = backoff {
        put_varint_field(&mut prune, 3, backoff); // ControlPrune.backoff
    }
    let mut control = Vec::new();
    put_bytes_field(&mut control, 4, &prune); // ControlMessage.prune
    let mut rpc = Vec::new();
    put_bytes_field(&mut rpc, 3, &control); // RPC.control
    rpc
}

/// The protobuf `PeerRecord { peer_id, seq, addresses: [AddressInfo{multiaddr}] }` (RFC 0003),
/// the payload of a `libp2p-peer-record` envelope.
pub fn peer_record_payload(peer: &PeerId, seq: u64, addresses: &[Multiaddr]) -> Vec<u8> {
    let mut record = Vec::new();
    put_bytes_field(&mut record, 1, &peer.to_bytes());
    put_varint_field(&mut record, 2, seq);
    for addr in addresses {
        let mut info = Vec::new();
        put_bytes_field(&mut info, 1, &addr.to_vec());
        put_bytes_field(&mut record, 3, &info);
    }
    record
}

/// A standard `libp2p-peer-record` envelope whose payload claims `claimed` at `addresses` but is
/// signed by `signer`: a forged record (valid signature, wrong signer).
pub fn forged_peer_record(signer: &Keypair, claimed: &PeerId, addresses: &[Multiaddr]) -> Vec<u8> {
    libp2p::core::SignedEnvelope::new(
        signer,
        "libp2p-peer-record".to_owned(),
        vec![0x03, 0x01],
        peer_record_payload(claimed, 1, addresses),
    )
    .expect("sign forged record")
    .into_protobuf_encoding()
}
