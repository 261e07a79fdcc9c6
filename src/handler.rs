//! The connection handler: one inbound and one outbound stream per connection.
//!
//! - The outbound stream is requested on the first poll (js-libp2p only opens its side after
//!   seeing ours). It writes whatever the peer's shared [`PeerQueue`] holds, popping only when
//!   the stream can take another frame, so nothing is popped while no stream is writable.
//! - The outbound stream is also read, though nothing is ever expected on it (as go does): end
//!   of stream, a reset or unexpected data means the remote closed its side (libp2p-gossipsub
//!   does so after a frame over its size limit) and anything written to it is lost. The stream
//!   is then replaced by a new one. Failures in a row are bounded ([`MAX_OUTBOUND_FAILURES`]);
//!   a stream that carries a frame resets the count. Past the bound the handler gives up on the
//!   connection and tells the behaviour, which closes it.
//! - An RPC over the stream's frame limit (queued before a lower limit was learned for the
//!   peer) is split into pieces that fit, put back at the front of the queue; only what cannot
//!   fit alone is dropped and reported. An encode error never touches the stream.
//! - A peer's frame limit is learned: when the remote closes a stream on which we wrote a frame
//!   above [`COMMON_FRAME_LIMIT`] (libp2p-gossipsub's default, the smallest limit in common
//!   use), frames to that peer are capped at that limit from then on (shared by its
//!   connections through the [`PeerQueue`]). Larger RPCs to it are dropped and reported
//!   instead of costing it its stream again (libp2p-gossipsub disables its side of a
//!   connection after five inbound streams).
//! - The inbound stream is read and every decoded RPC, or every frame the codec dropped, is
//!   handed to the behaviour. A newer inbound stream replaces the older one; a remote that
//!   opens more than [`MAX_INBOUND_STREAMS_WITHOUT_FRAME`] in a row without a frame on any is
//!   given up on (the behaviour closes the connection).
//! - The protocol of the first negotiated stream is reported once as a [`PeerKind`]; when the
//!   remote supports none of our protocols, [`PeerKind::NotSupported`] is reported and the
//!   connection is no longer kept alive for us.
//! - Streams do not keep the connection alive by themselves: the connection is kept alive while
//!   the behaviour wants the peer (mesh, shared topic, direct peer, newly connected) or RPCs are
//!   queued for it (see [`PeerQueue::keep_alive`]).
//!
//! Nothing the remote does makes the handler panic: stream errors drop the stream and are
//! logged with `tracing` (the handler does not know the peer id, so events carry the
//! connection id).

use std::{
    collections::VecDeque,
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use asynchronous_codec::{Decoder, Encoder, Framed};
use bytes::BytesMut;
use futures::{AsyncRead, SinkExt, StreamExt};
use libp2p_swarm::{
    ConnectionHandler, ConnectionHandlerEvent, ConnectionId, Stream, StreamProtocol,
    StreamUpgradeError, SubstreamProtocol,
    handler::{
        ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
        ListenUpgradeError,
    },
};

use crate::{
    queue::{PeerQueue, QueuedRpc},
    types::{PeerKind, Rpc},
    upgrade::{Upgrade, protocols},
    wire::{self, Codec, DecodeLimits, DecodedRpc, DropReason, FrameReader, Inbound},
};

/// How many outbound stream failures in a row (failed negotiation other than "not supported",
/// a write error, or the remote closing its side) are answered by requesting a new stream
/// before giving up on the connection. A stream that carried at least one frame resets the
/// count, so a peer that refuses one oversized frame now and then is never cut off, and a peer
/// that closes every stream costs at most one stream negotiation per RPC we send it.
pub(crate) const MAX_OUTBOUND_FAILURES: u8 = 5;

/// How many inbound streams in a row the remote may open without sending a frame on any of
/// them (each replaces the previous one). A peer reopens its stream after a failure, and a
/// stream that carried a frame resets the count; past the bound the handler ignores further
/// inbound streams and asks for the connection to be closed, so a peer cannot make us
/// negotiate streams without end for nothing (libp2p-gossipsub stops after 5 streams).
pub(crate) const MAX_INBOUND_STREAMS_WITHOUT_FRAME: u8 = 5;

/// The smallest frame limit in common use (libp2p-gossipsub's default `max_transmit_size`): the
/// limit assumed for a peer that closed our stream after a larger frame.
pub(crate) const COMMON_FRAME_LIMIT: usize = 65_536;

/// How many inbound frames are handed out in a row before the handler yields to the executor
/// (waking itself). One: every inbound RPC may queue a forward to each mesh peer, and those are
/// written by the mesh peers' connection tasks; yielding after each frame gives them (and every
/// other task) a turn between two frames, so under overload the inbound connections cannot
/// fill the send queues faster than they are written. With 64, at 2x and 4x the sustainable
/// rate ours forwarded 1-9k instead of 150k messages per CPU second and dropped about 400k
/// forwards per 3 s on full send queues (BENCHMARKS.md, "Overload"; test
/// `handler::turn_tests`). Waiting readers are held back by yamux flow control, not by memory.
const MAX_INBOUND_FRAMES_IN_A_ROW: usize = 1;

/// How many queued RPCs are written per poll before the handler yields (waking itself).
const MAX_SENDS_PER_POLL: usize = 64;

/// What the handler needs to know from the configuration.
#[derive(Clone, Debug)]
pub(crate) struct HandlerConfig {
    /// The protocols we speak, most preferred first, with the kind of peer each one means.
    pub(crate) protocols: Vec<(StreamProtocol, PeerKind)>,
    /// The largest frame we read or write.
    pub(crate) max_transmit_size: usize,
    /// The per-RPC limits applied while decoding inbound frames.
    pub(crate) decode_limits: DecodeLimits,
}

impl HandlerConfig {
    /// The protocols, frame limit and decode limits of `config`: meshsub 1.3 (or
    /// `max_protocol`) down to 1.0 under `protocol_id_prefix`, plus floodsub when enabled.
    pub(crate) fn new(config: &crate::Config) -> Self {
        HandlerConfig {
            protocols: protocols(
                config.protocol_id_prefix(),
                config.max_protocol(),
                config.support_floodsub(),
            ),
            max_transmit_size: config.max_transmit_size(),
            decode_limits: DecodeLimits::from_config(config),
        }
    }
}

/// Events from the behaviour. None yet: everything to send goes through the per-peer queue.
#[derive(Debug)]
pub enum HandlerIn {}

/// An event from a connection to the behaviour (opaque outside the crate).
#[derive(Debug)]
pub struct HandlerOut(pub(crate) HandlerEvent);

/// Events to the behaviour.
#[derive(Debug)]
pub enum HandlerEvent {
    /// The protocol negotiated on the first stream of this connection (reported once), or
    /// [`PeerKind::NotSupported`] when the remote supports none of our protocols. Should an
    /// inbound stream still be negotiated after `NotSupported` was reported, its kind is
    /// reported as a correction.
    PeerKind(PeerKind),
    /// An RPC decoded from the inbound stream.
    Rpc(DecodedRpc),
    /// A frame the codec skipped (oversized or malformed).
    Dropped(DropReason),
    /// Something to count and log about our side of the connection.
    Send(SendEvent),
    /// The remote opened `streams` inbound streams in a row without a frame on any (more than
    /// [`MAX_INBOUND_STREAMS_WITHOUT_FRAME`]): the handler ignores its inbound streams from
    /// now on and the connection should be closed.
    InboundGaveUp {
        /// Inbound streams opened since a stream last carried a frame.
        streams: u8,
    },
}

/// What happened to our outbound stream or an RPC written to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendEvent {
    /// The outbound stream failed or the remote closed it (`reason`); a new one is requested.
    /// RPCs written to the old stream may have been lost.
    StreamReopened {
        /// What happened to the stream.
        reason: String,
    },
    /// The outbound stream failed [`MAX_OUTBOUND_FAILURES`] times in a row: the handler stopped
    /// sending and the connection should be closed.
    GaveUp {
        /// The last failure.
        reason: String,
    },
    /// An RPC, or items of it that alone exceed the frame limit, could not be encoded and were
    /// dropped; the stream is intact.
    Unencodable {
        /// The codec's error.
        reason: String,
    },
    /// The remote closed a stream after we wrote a frame above [`COMMON_FRAME_LIMIT`]: frames
    /// to this peer are capped at `limit` from now on.
    FrameLimitLowered {
        /// The new limit (protobuf bytes).
        limit: usize,
    },
    /// Requeueing the pieces of a split RPC would have taken a class of the peer's queue past
    /// its bounds: this was shed instead (see `PeerQueue::requeue_front`).
    RequeueShed {
        /// The class of the split RPC.
        class: crate::queue::Class,
        /// Publishes and forwards dropped.
        messages: usize,
        /// IHAVE entries stripped.
        gossip: usize,
        /// Control RPCs dropped (the peer is too slow to keep consistent).
        control: usize,
    },
}

/// The inbound stream, read with a reused buffer.
type InboundFraming = FrameReader<Stream>;

/// The framed outbound stream: our codec, recording the largest frame written.
type OutboundFraming = Framed<Stream, OutboundCodec>;

/// The codec of the outbound stream: encodes with a [`Codec`] capped at the peer's frame limit
/// and remembers the largest RPC (protobuf bytes) written, to learn the peer's limit when it
/// closes the stream. Nothing is decoded: the remote never writes on our outbound stream.
struct OutboundCodec {
    inner: Codec,
    /// The frame limit `inner` encodes within.
    limit: usize,
    largest: usize,
}

impl Encoder for OutboundCodec {
    type Item<'a> = &'a Rpc;
    type Error = std::io::Error;

    fn encode(&mut self, rpc: &Rpc, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        let before = dst.len();
        self.inner.encode(rpc, dst)?;
        let frame = dst.len().saturating_sub(before);
        self.largest = self.largest.max(frame.saturating_sub(varint_len(frame)));
        Ok(())
    }
}

impl Decoder for OutboundCodec {
    type Item = Infallible;
    type Error = std::io::Error;

    /// Never called: the read side of the outbound stream is polled directly
    /// ([`Handler::check_outbound_open`]).
    fn decode(&mut self, _: &mut BytesMut) -> Result<Option<Infallible>, std::io::Error> {
        Ok(None)
    }
}

/// The length of the unsigned-varint prefix of a frame of `frame` bytes (prefix included).
fn varint_len(frame: usize) -> usize {
    let mut len = 1;
    // A prefix of `len` bytes carries payloads below 2^(7 len).
    while len < 10 && frame.saturating_sub(len) >> (7 * len) != 0 {
        len += 1;
    }
    len
}

/// The state of our outbound stream.
enum Outbound {
    /// None open and none requested: request one on the next poll.
    Idle,
    /// Requested, waiting for the negotiation.
    Requested,
    /// Open and writable.
    Open(Box<OutboundFraming>),
    /// Given up: the remote supports none of our protocols, or too many failures.
    Closed,
}

/// Why [`Handler::check_outbound_open`] dropped the outbound stream.
enum Closed {
    Eof,
    Error(std::io::Error),
    UnexpectedData,
}

/// The handler of one connection to a peer.
/// The gossipsub connection handler: one inbound and one outbound stream per connection.
pub struct Handler {
    upgrade: Upgrade,
    queue: PeerQueue,
    conn: ConnectionId,
    /// The kind last reported to the behaviour.
    kind: Option<PeerKind>,
    outbound: Outbound,
    /// Outbound stream failures since a stream last carried a frame.
    outbound_failures: u8,
    /// Our own frame limit.
    max_transmit_size: usize,
    /// The per-RPC limits of a receiver with our configuration: an RPC split here (because it
    /// exceeds the stream's frame limit) is split within them too.
    decode_limits: DecodeLimits,
    inbound: Option<Box<InboundFraming>>,
    /// Inbound frames handed out since the inbound stream last had nothing to read.
    inbound_in_a_row: usize,
    /// Inbound streams opened since an inbound stream last carried a frame.
    inbound_streams_without_frame: u8,
    /// Set once the remote opened too many inbound streams without a frame: later ones are
    /// dropped unread.
    inbound_given_up: bool,
    /// Events waiting to be returned from `poll`.
    events: VecDeque<HandlerEvent>,
}

impl Handler {
    /// A handler for connection `conn` that sends from the peer's shared `queue`.
    pub(crate) fn new(config: HandlerConfig, queue: PeerQueue, conn: ConnectionId) -> Self {
        Handler {
            upgrade: Upgrade::new(&config.protocols),
            queue,
            conn,
            kind: None,
            outbound: Outbound::Idle,
            outbound_failures: 0,
            max_transmit_size: config.max_transmit_size,
            decode_limits: config.decode_limits,
            inbound: None,
            inbound_in_a_row: 0,
            inbound_streams_without_frame: 0,
            inbound_given_up: false,
            events: VecDeque::new(),
        }
    }

    /// Records a negotiated kind and reports it, unless a kind was already reported (a
    /// `NotSupported` is corrected by a real kind).
    fn negotiated(&mut self, kind: PeerKind) {
        match self.kind {
            None | Some(PeerKind::NotSupported) if kind != PeerKind::NotSupported => {
                self.kind = Some(kind);
                self.events.push_back(HandlerEvent::PeerKind(kind));
            }
            _ => {}
        }
    }

    /// Drops the outbound stream after `reason` and schedules a new request, or gives up
    /// after [`MAX_OUTBOUND_FAILURES`] failures in a row. Either way the behaviour is told.
    fn outbound_failed(&mut self, reason: &dyn std::fmt::Display) {
        let reason = reason.to_string();
        if self.outbound_failures < MAX_OUTBOUND_FAILURES {
            self.outbound_failures += 1;
            tracing::debug!(
                connection = ?self.conn,
                %reason,
                failures = self.outbound_failures,
                "gossipsub outbound stream failed; requesting a new one"
            );
            self.outbound = Outbound::Idle;
            self.events
                .push_back(HandlerEvent::Send(SendEvent::StreamReopened { reason }));
        } else {
            tracing::warn!(
                connection = ?self.conn,
                %reason,
                failures = self.outbound_failures,
                "gossipsub outbound stream failed too often; giving up on this connection"
            );
            self.outbound = Outbound::Closed;
            self.events
                .push_back(HandlerEvent::Send(SendEvent::GaveUp { reason }));
        }
    }

    /// Polls the read side of the open outbound stream, on which the remote never writes:
    /// anything there (end of stream, an error, data) means the remote closed or reset its
    /// side, and the stream is replaced.
    fn check_outbound_open(&mut self, cx: &mut Context<'_>) {
        let Outbound::Open(stream) = &mut self.outbound else {
            return;
        };
        // Read the stream itself, not through the framing: a framed read zero-fills an 8 KiB
        // buffer on every poll, and any byte here is already the answer.
        let mut probe = [0u8; 16];
        let io: &mut Stream = stream;
        let closed = match Pin::new(io).poll_read(cx, &mut probe) {
            Poll::Pending => return,
            Poll::Ready(Ok(0)) => Closed::Eof,
            Poll::Ready(Err(e)) => Closed::Error(e),
            Poll::Ready(Ok(_)) => Closed::UnexpectedData,
        };
        let largest = stream.codec().largest;
        if largest > COMMON_FRAME_LIMIT && self.queue.frame_limit() > COMMON_FRAME_LIMIT {
            self.queue.lower_frame_limit(COMMON_FRAME_LIMIT);
            tracing::info!(
                connection = ?self.conn,
                largest,
                limit = COMMON_FRAME_LIMIT,
                "peer closed our stream after a large frame; capping frames to it"
            );
            self.events
                .push_back(HandlerEvent::Send(SendEvent::FrameLimitLowered {
                    limit: COMMON_FRAME_LIMIT,
                }));
        }
        match closed {
            Closed::Eof => self.outbound_failed(&"remote closed our outbound stream"),
            Closed::Error(e) => {
                self.outbound_failed(&format_args!("outbound stream reset: {e}"));
            }
            Closed::UnexpectedData => {
                self.outbound_failed(&"remote wrote on our outbound stream");
            }
        }
    }

    /// Writes queued RPCs while the stream takes them, then flushes. An RPC over the frame
    /// limit is split and its pieces requeued; what cannot be encoded even alone is dropped
    /// and reported; the stream carries on.
    fn poll_write(&mut self, cx: &mut Context<'_>) {
        let Outbound::Open(stream) = &mut self.outbound else {
            return;
        };
        let mut result = Ok(());
        let mut sent = 0;
        let mut attempts = 0;
        while attempts < MAX_SENDS_PER_POLL {
            match stream.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => {
                    result = Err(e);
                    break;
                }
                Poll::Pending => break,
            }
            let Poll::Ready(item) = self.queue.poll_pop(cx, self.conn) else {
                break;
            };
            attempts += 1;
            // `start_send` only encodes into the write buffer (I/O errors surface in
            // `poll_ready` and `poll_flush`), and the codec checks the size before writing
            // anything, so an error here leaves the stream and its buffer intact.
            match stream.start_send_unpin(&item.rpc) {
                Ok(()) => sent += 1,
                Err(_) if wire::rpc_len(&item.rpc) > stream.codec().limit => {
                    // Queued before the peer's lower frame limit was learned: split it rather
                    // than lose the control (or messages) it carries. Only what cannot fit
                    // alone is dropped.
                    let limit = stream.codec().limit;
                    let class = item.class;
                    let QueuedRpc {
                        rpc,
                        expires,
                        message_id,
                        ..
                    } = item;
                    let pieces = wire::fragment_within(rpc, limit, &self.decode_limits);
                    let dropped = pieces.dropped_messages + pieces.dropped_control;
                    tracing::debug!(
                        connection = ?self.conn,
                        ?class,
                        pieces = pieces.rpcs.len(),
                        dropped,
                        limit,
                        "queued RPC over the stream's frame limit split"
                    );
                    if dropped > 0 {
                        self.events
                            .push_back(HandlerEvent::Send(SendEvent::Unencodable {
                                reason: format!(
                                    "{dropped} items larger than the frame limit of {limit} bytes"
                                ),
                            }));
                    }
                    let shed = self.queue.requeue_front(
                        pieces
                            .rpcs
                            .into_iter()
                            .map(|rpc| QueuedRpc {
                                rpc,
                                class,
                                expires,
                                message_id: message_id.clone(),
                            })
                            .collect(),
                    );
                    if !shed.is_empty() {
                        tracing::debug!(
                            connection = ?self.conn,
                            ?class,
                            ?shed,
                            "requeued pieces shed to keep the send queue within its bounds"
                        );
                        self.events
                            .push_back(HandlerEvent::Send(SendEvent::RequeueShed {
                                class,
                                messages: shed.messages,
                                gossip: shed.gossip,
                                control: shed.control,
                            }));
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        connection = ?self.conn,
                        class = ?item.class,
                        error = %e,
                        "gossipsub RPC could not be encoded; dropped"
                    );
                    self.events
                        .push_back(HandlerEvent::Send(SendEvent::Unencodable {
                            reason: e.to_string(),
                        }));
                }
            }
        }
        if attempts == MAX_SENDS_PER_POLL {
            // There may be more to send: come back after others had their turn.
            cx.waker().wake_by_ref();
        }
        if result.is_ok() {
            match stream.poll_flush_unpin(cx) {
                Poll::Ready(Err(e)) => result = Err(e),
                Poll::Ready(Ok(())) if sent > 0 => {
                    // The stream carries frames: failures in a row start again from zero.
                    self.outbound_failures = 0;
                }
                _ => {}
            }
        }
        if let Err(e) = result {
            self.outbound_failed(&format_args!("write error: {e}"));
        }
    }

    /// Reads the next inbound frame, if any.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Option<HandlerEvent> {
        let stream = self.inbound.as_mut()?;
        if self.inbound_in_a_row >= MAX_INBOUND_FRAMES_IN_A_ROW {
            self.inbound_in_a_row = 0;
            cx.waker().wake_by_ref();
            return None;
        }
        match stream.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(Inbound::Rpc(rpc)))) => {
                self.inbound_in_a_row += 1;
                self.inbound_streams_without_frame = 0;
                Some(HandlerEvent::Rpc(rpc))
            }
            Poll::Ready(Some(Ok(Inbound::Dropped(reason)))) => {
                self.inbound_in_a_row += 1;
                self.inbound_streams_without_frame = 0;
                tracing::debug!(
                    connection = ?self.conn,
                    %reason,
                    "gossipsub dropped an inbound frame"
                );
                Some(HandlerEvent::Dropped(reason))
            }
            Poll::Ready(Some(Err(error))) => {
                tracing::debug!(
                    connection = ?self.conn,
                    %error,
                    "gossipsub inbound stream failed; dropping it"
                );
                self.inbound = None;
                None
            }
            Poll::Ready(None) => {
                tracing::trace!(connection = ?self.conn, "gossipsub inbound stream closed by remote");
                self.inbound = None;
                None
            }
            Poll::Pending => {
                self.inbound_in_a_row = 0;
                None
            }
        }
    }

    fn on_dial_upgrade_error(&mut self, error: StreamUpgradeError<Infallible>) {
        if !matches!(self.outbound, Outbound::Requested) {
            return;
        }
        match error {
            StreamUpgradeError::NegotiationFailed => {
                tracing::debug!(
                    connection = ?self.conn,
                    "remote supports none of our gossipsub protocols"
                );
                self.outbound = Outbound::Closed;
                if self.kind.is_none() {
                    self.kind = Some(PeerKind::NotSupported);
                    self.events
                        .push_back(HandlerEvent::PeerKind(PeerKind::NotSupported));
                }
            }
            StreamUpgradeError::Timeout => {
                self.outbound_failed(&"outbound negotiation timed out");
            }
            StreamUpgradeError::Io(e) => {
                self.outbound_failed(&format_args!("outbound negotiation failed: {e}"));
            }
            StreamUpgradeError::Apply(never) => match never {},
        }
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        self.queue.remove_waker(self.conn);
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = HandlerIn;
    type ToBehaviour = HandlerOut;
    type InboundProtocol = Upgrade;
    type OutboundProtocol = Upgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Upgrade, ()> {
        SubstreamProtocol::new(self.upgrade.clone(), ())
    }

    fn connection_keep_alive(&self) -> bool {
        match self.kind {
            Some(PeerKind::NotSupported) => false,
            _ if matches!(self.outbound, Outbound::Closed) => false,
            Some(_) => self.queue.keep_alive(),
            // Still negotiating.
            None => true,
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Upgrade, (), HandlerOut>> {
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(HandlerOut(event)));
        }

        self.check_outbound_open(cx);
        self.poll_write(cx);
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(HandlerOut(event)));
        }
        if matches!(self.outbound, Outbound::Idle) {
            self.outbound = Outbound::Requested;
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(self.upgrade.clone(), ()),
            });
        }

        if let Some(event) = self.poll_read(cx) {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(HandlerOut(event)));
        }
        Poll::Pending
    }

    fn poll_close(&mut self, _: &mut Context<'_>) -> Poll<Option<HandlerOut>> {
        self.queue.remove_waker(self.conn);
        Poll::Ready(self.events.pop_front().map(HandlerOut))
    }

    fn on_behaviour_event(&mut self, event: HandlerIn) {
        match event {}
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<'_, Upgrade, Upgrade, (), ()>) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: (stream, kind),
                ..
            }) => {
                if self.inbound_given_up {
                    // Dropped unread: the connection is being closed.
                    return;
                }
                self.inbound_streams_without_frame =
                    self.inbound_streams_without_frame.saturating_add(1);
                if self.inbound_streams_without_frame > MAX_INBOUND_STREAMS_WITHOUT_FRAME {
                    tracing::warn!(
                        connection = ?self.conn,
                        streams = self.inbound_streams_without_frame,
                        "gossipsub inbound streams opened in a row without a frame; giving up on this connection"
                    );
                    self.inbound_given_up = true;
                    self.inbound = None;
                    self.events.push_back(HandlerEvent::InboundGaveUp {
                        streams: self.inbound_streams_without_frame,
                    });
                    return;
                }
                if self.inbound.is_some() {
                    tracing::debug!(
                        connection = ?self.conn,
                        "new gossipsub inbound stream replaces the previous one"
                    );
                }
                let mut stream = stream;
                // Keep-alive is decided by `connection_keep_alive`, not by open streams.
                stream.ignore_for_keep_alive();
                self.inbound = Some(Box::new(FrameReader::new(
                    stream,
                    self.max_transmit_size,
                    self.decode_limits,
                )));
                self.inbound_in_a_row = 0;
                self.negotiated(kind);
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: (stream, kind),
                ..
            }) => {
                let limit = self.max_transmit_size.min(self.queue.frame_limit());
                let mut stream = stream;
                stream.ignore_for_keep_alive();
                let stream = Box::new(Framed::new(
                    stream,
                    OutboundCodec {
                        inner: Codec::new(limit),
                        limit,
                        largest: 0,
                    },
                ));
                self.outbound = Outbound::Open(stream);
                self.negotiated(kind);
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { error, .. }) => {
                self.on_dial_upgrade_error(error);
            }
            ConnectionEvent::ListenUpgradeError(ListenUpgradeError { error, .. }) => match error {},
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod turn_tests;
