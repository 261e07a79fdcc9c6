//! Feeders that cost almost nothing per message, for the overload test: every message is signed
//! and encoded as a gossipsub RPC frame *before* the measurement, and a feeder only copies the
//! frames due onto a real gossipsub stream (`/meshsub/1.2.0` over the same memory transport,
//! plaintext and yamux as the rest of `compare`) at a paced rate. What the node under test
//! (NUT) sends back on its own stream is read and scanned (only the message count and each
//! message's payload index), never decoded or verified.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::task::{Context, Poll};

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound, FullyNegotiatedOutbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm, Stream,
    StreamProtocol, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};

use super::*;
use crate::forward::FEEDER_SHIFT;

/// The one protocol a raw feeder speaks.
const PROTOCOL: StreamProtocol = StreamProtocol::new("/meshsub/1.2.0");

/// Distinct message authors (Ed25519 keys) the frames are signed with, round-robin.
const AUTHORS: usize = 64;

// ---------------------------------------------------------------------------------------------
// Protobuf, by hand: the few fields of rpc.proto a feeder writes and scans.

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A length-delimited field.
fn put_field(buf: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(buf, field << 3 | 2);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// Reads a varint at `buf[*at..]`; `None` if incomplete or over 10 bytes.
fn get_varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let b = *buf.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The length-delimited fields of one protobuf message, as (field, bytes); `None` if malformed.
/// Varint fields are skipped; other wire types make it malformed (rpc.proto has none here).
fn fields(buf: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < buf.len() {
        let tag = get_varint(buf, &mut at)?;
        match tag & 7 {
            0 => {
                get_varint(buf, &mut at)?;
            }
            2 => {
                let len = usize::try_from(get_varint(buf, &mut at)?).ok()?;
                let end = at.checked_add(len)?;
                out.push((tag >> 3, buf.get(at..end)?));
                at = end;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// One length-prefixed RPC frame.
fn frame(rpc: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(rpc.len() + 3);
    put_varint(&mut f, rpc.len() as u64);
    f.extend_from_slice(rpc);
    f
}

/// The frame subscribing to [`TOPIC`].
fn subscribe_frame() -> Vec<u8> {
    let mut sub = vec![0x08, 0x01]; // subscribe = true
    put_field(&mut sub, 2, TOPIC.as_bytes());
    let mut rpc = Vec::new();
    put_field(&mut rpc, 1, &sub);
    frame(&rpc)
}

/// A signed message with payload index `index` by `author`, as one RPC frame. The signature
/// covers `libp2p-pubsub:` and the message's fields 1-4 in field order, which both
/// implementations re-encode identically; the Ed25519 key is inside `from`, so `key` is left out.
fn signed_frame(author: &Keypair, index: u64) -> Vec<u8> {
    let mut msg = Vec::with_capacity(MSG_SIZE + 160);
    put_field(&mut msg, 1, &author.public().to_peer_id().to_bytes());
    put_field(&mut msg, 2, &payload(index));
    put_field(&mut msg, 3, &index.to_be_bytes());
    put_field(&mut msg, 4, TOPIC.as_bytes());
    let mut signed = b"libp2p-pubsub:".to_vec();
    signed.extend_from_slice(&msg);
    put_field(&mut msg, 5, &author.sign(&signed).expect("ed25519 signs"));
    let mut rpc = Vec::with_capacity(msg.len() + 4);
    put_field(&mut rpc, 2, &msg);
    frame(&rpc)
}

/// The pre-signed frames of every feeder: `frames[f][n]` carries payload index
/// `(f + 1) << FEEDER_SHIFT | n`, signed by one of [`AUTHORS`] keys. Shared by all runs of a
/// process (each run has a fresh node under test, for which every message is new).
pub(crate) struct Pool {
    pub(crate) frames: Vec<Vec<Vec<u8>>>,
}

impl Pool {
    /// Signs `per_feeder` messages for each of `feeders` feeders, on the blocking pool, two
    /// threads; returns the pool and the wall time it took.
    pub(crate) async fn sign(feeders: usize, per_feeder: usize) -> (Pool, Duration) {
        let t0 = Instant::now();
        let authors: Arc<Vec<Keypair>> =
            Arc::new((0..AUTHORS).map(|_| Keypair::generate_ed25519()).collect());
        let mut halves = Vec::new();
        for half in 0..2 {
            let authors = authors.clone();
            halves.push(tokio::task::spawn_blocking(move || {
                (0..feeders)
                    .filter(|f| f % 2 == half)
                    .map(|f| {
                        let frames = (0..per_feeder)
                            .map(|n| {
                                let index = ((f as u64 + 1) << FEEDER_SHIFT) | n as u64;
                                signed_frame(&authors[(f + n) % AUTHORS], index)
                            })
                            .collect::<Vec<_>>();
                        (f, frames)
                    })
                    .collect::<Vec<_>>()
            }));
        }
        let mut frames = vec![Vec::new(); feeders];
        for h in halves {
            for (f, fr) in h.await.expect("signing thread") {
                frames[f] = fr;
            }
        }
        (Pool { frames }, t0.elapsed())
    }

    pub(crate) fn per_feeder(&self) -> usize {
        self.frames.first().map_or(0, Vec::len)
    }
}

// ---------------------------------------------------------------------------------------------
// A behaviour and handler that only open the streams and hand them to the feeder's tasks.

/// A stream of the feeder: `true` if inbound (the NUT writes), `false` if outbound (we write).
type StreamTx = futures::channel::mpsc::UnboundedSender<(bool, Stream)>;

pub(crate) struct RawBehaviour {
    streams: StreamTx,
}

pub(crate) struct RawHandler {
    streams: StreamTx,
    requested: bool,
}

impl NetworkBehaviour for RawBehaviour {
    type ConnectionHandler = RawHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(RawHandler {
            streams: self.streams.clone(),
            requested: false,
        })
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(RawHandler {
            streams: self.streams.clone(),
            requested: false,
        })
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

impl ConnectionHandler for RawHandler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, ()> {
        SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ())
    }

    fn connection_keep_alive(&self) -> bool {
        true
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Infallible>> {
        if !self.requested {
            self.requested = true;
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ()),
            });
        }
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: Infallible) {
        match event {}
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<'_, Self::InboundProtocol, Self::OutboundProtocol, (), ()>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol, ..
            }) => {
                let _ = self.streams.unbounded_send((true, protocol));
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol, ..
            }) => {
                let _ = self.streams.unbounded_send((false, protocol));
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The feeder.

/// Counts shared by all feeders of a run (atomics: read at the marks).
#[derive(Default)]
pub(crate) struct Shared {
    /// Frames written onto the streams to the NUT.
    pub(crate) written: AtomicU64,
    /// Frames never written because they were older than [`MAX_AGE`] when their turn came
    /// (the stalest are dropped first, as a gossipsub sender expires its queue).
    pub(crate) stale: AtomicU64,
    /// Messages the NUT sent to the feeders (mesh forwards and IWANT answers).
    pub(crate) forwarded: AtomicU64,
    /// Frames due but beyond the pre-signed pool (the pool was too small: the run is invalid).
    pub(crate) pool_exhausted: AtomicU64,
    /// Inbound frames the feeders could not parse.
    pub(crate) malformed: AtomicU64,
}

/// A frame not written within this long of its scheduled time is dropped unsent, stalest first
/// (libp2p-gossipsub's and our default `forward_queue_duration`).
pub(crate) const MAX_AGE: Duration = Duration::from_secs(1);

/// How often a feeder wakes to write what is due.
const TICK: Duration = Duration::from_millis(5);

/// The schedule of a run: every feeder writes `rate_per_feeder` frames per second from `start`.
#[derive(Clone, Copy)]
pub(crate) struct Schedule {
    pub(crate) start: tokio::time::Instant,
    pub(crate) rate_per_feeder: f64,
}

impl Schedule {
    /// How many frames are due at `now`.
    fn due(&self, now: tokio::time::Instant) -> usize {
        (now.saturating_duration_since(self.start).as_secs_f64() * self.rate_per_feeder) as usize
    }

    /// When frame `n` is due.
    fn due_at(&self, n: usize) -> tokio::time::Instant {
        self.start + Duration::from_secs_f64(n as f64 / self.rate_per_feeder)
    }
}

/// What a feeder reports when it stops.
pub(crate) struct RawReport {
    /// Frames written to the NUT plus frames dropped stale: all meant for it.
    pub(crate) published: u64,
    /// Frames dropped stale (never written).
    pub(crate) dropped: u64,
    /// Ages (time since due) of the messages the NUT forwarded to this feeder in the window.
    pub(crate) forward_ages: Vec<Duration>,
}

/// Runs raw feeder `f` (0-based; its payload indices carry `f + 1`) against the NUT at
/// `nut_addr`: subscribes, then from the schedule it receives on `go` writes its frames of
/// `pool` until `halt`, and reads until `stop`. `window` says whether the measured window is
/// open (forward ages).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn raw_feeder(
    f: usize,
    pool: Arc<Pool>,
    nut_addr: Multiaddr,
    shared: Arc<Shared>,
    subscribed: Arc<AtomicU64>,
    go: tokio::sync::watch::Receiver<Option<Schedule>>,
    window: Arc<AtomicBool>,
    halt: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> RawReport {
    let key = Keypair::generate_ed25519();
    let (tx, mut streams) = futures::channel::mpsc::unbounded();
    let mut swarm = node::swarm(&key, RawBehaviour { streams: tx });
    swarm.dial(nut_addr).expect("dial the node under test");
    // The swarm drives the connection; the streams are served by tasks of their own.
    let swarm_task = tokio::spawn(async move {
        loop {
            let _ = swarm.select_next_some().await;
        }
    });
    let mut reader = None;
    let mut writer = None;
    let frames = &pool.frames[f];
    let mut report = RawReport {
        published: 0,
        dropped: 0,
        forward_ages: Vec::new(),
    };
    while reader.is_none() || writer.is_none() {
        match streams.next().await {
            Some((true, s)) => {
                reader = Some(tokio::spawn(read_forwards(
                    s,
                    shared.clone(),
                    go.clone(),
                    window.clone(),
                    stop.clone(),
                )))
            }
            Some((false, s)) => writer = Some(s),
            None => break,
        }
    }
    let mut out = writer.expect("outbound stream to the node under test");
    out.write_all(&subscribe_frame())
        .await
        .expect("write the subscription");
    out.flush().await.expect("flush");
    subscribed.fetch_add(1, Ordering::Relaxed);
    let mut go = go;
    let schedule = loop {
        if let Some(s) = *go.borrow_and_update() {
            break s;
        }
        if go.changed().await.is_err() {
            break Schedule {
                start: tokio::time::Instant::now(),
                rate_per_feeder: 0.0,
            };
        }
    };
    let mut next = 0usize;
    let mut buf = Vec::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !halt.load(Ordering::Relaxed) && schedule.rate_per_feeder > 0.0 {
        tick.tick().await;
        let now = tokio::time::Instant::now();
        let due = schedule.due(now);
        // Drop the stalest first: whatever is older than MAX_AGE is never sent.
        while next < due && now.saturating_duration_since(schedule.due_at(next)) > MAX_AGE {
            next += 1;
            report.dropped += 1;
            shared.stale.fetch_add(1, Ordering::Relaxed);
        }
        let end = due.min(frames.len());
        if due > frames.len() {
            shared
                .pool_exhausted
                .fetch_add((due - frames.len().max(next)) as u64, Ordering::Relaxed);
        }
        if next >= end {
            continue;
        }
        buf.clear();
        for fr in &frames[next..end] {
            buf.extend_from_slice(fr);
        }
        if out.write_all(&buf).await.is_err() || out.flush().await.is_err() {
            break;
        }
        shared
            .written
            .fetch_add((end - next) as u64, Ordering::Relaxed);
        next = end;
        if next >= frames.len() {
            break;
        }
    }
    // Written or dropped stale: every frame up to `next` was meant for the NUT.
    report.published = next as u64;
    // Keep the stream open until the run ends (closing it would look like a departure).
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(r) = reader {
        report.forward_ages = r.await.unwrap_or_default();
    }
    swarm_task.abort();
    report
}

/// Reads what the NUT sends on `stream` until `stop`: counts the messages in it and, while
/// the window is open, each one's age (time since its payload index was due).
async fn read_forwards(
    mut stream: Stream,
    shared: Arc<Shared>,
    go: tokio::sync::watch::Receiver<Option<Schedule>>,
    window: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Vec<Duration> {
    let mut ages = Vec::new();
    let mut buf: VecDeque<u8> = VecDeque::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut frame = Vec::new();
    loop {
        let n = tokio::select! {
            r = stream.read(&mut chunk) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                continue;
            }
        };
        buf.extend(&chunk[..n]);
        loop {
            let head: Vec<u8> = buf.iter().take(10).copied().collect();
            let mut at = 0;
            let Some(len) = get_varint(&head, &mut at) else {
                break;
            };
            let len = len as usize;
            if buf.len() < at + len {
                break;
            }
            buf.drain(..at);
            frame.clear();
            frame.extend(buf.drain(..len));
            let Some(rpc) = fields(&frame) else {
                shared.malformed.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let in_window = window.load(Ordering::Relaxed);
            let schedule = *go.borrow();
            for (_, msg) in rpc.iter().filter(|(field, _)| *field == 2) {
                shared.forwarded.fetch_add(1, Ordering::Relaxed);
                if !in_window {
                    continue;
                }
                let index = fields(msg).and_then(|m| {
                    let data = m.iter().find(|(field, _)| *field == 2)?.1;
                    Some(u64::from_be_bytes(data.get(..8)?.try_into().ok()?))
                });
                if let (Some(index), Some(s)) = (index, schedule) {
                    let n = (index & ((1 << FEEDER_SHIFT) - 1)) as usize;
                    ages.push(tokio::time::Instant::now().saturating_duration_since(s.due_at(n)));
                }
            }
        }
    }
    ages
}
