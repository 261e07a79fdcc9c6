//! Tests of [`FrameReader`]: every behaviour is checked against `asynchronous_codec::FramedRead`
//! over the same [`Codec`] (what the handler used before), so the replacement keeps its bounds
//! and its errors; then what only the new reader promises (no allocation of an announced size).

use std::{
    collections::VecDeque,
    io,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use futures::{AsyncRead, Stream, StreamExt, executor::block_on_stream, task::noop_waker};

use super::codec::tests::{anonymous_message, encode, full_rpc};
use super::codec::{Codec, Inbound};
use super::decode::DecodeLimits;
use super::reader::{FrameReader, READ_BUFFER};
use crate::types::{RawMessage, Rpc, TopicHash};

/// A stream that returns `chunks` one per read (a chunk larger than the caller's buffer is
/// split), `Pending` once before each chunk when `pending` is set, then the end of the stream.
struct Chunks {
    chunks: VecDeque<Vec<u8>>,
    pending: bool,
    pending_now: bool,
}

impl Chunks {
    fn new(input: &[u8], chunk: usize, pending: bool) -> Self {
        Chunks {
            chunks: input.chunks(chunk.max(1)).map(<[u8]>::to_vec).collect(),
            pending,
            pending_now: pending,
        }
    }
}

impl AsyncRead for Chunks {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.pending_now && !self.chunks.is_empty() {
            self.pending_now = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.pending_now = self.pending;
        let Some(mut chunk) = self.chunks.pop_front() else {
            return Poll::Ready(Ok(0));
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        if n < chunk.len() {
            self.chunks.push_front(chunk.split_off(n));
        }
        Poll::Ready(Ok(n))
    }
}

/// How a test's outcome is compared: items, then how the stream ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Clean,
    Error(io::ErrorKind),
}

fn collect<S>(stream: S) -> (Vec<Inbound>, End)
where
    S: Stream<Item = Result<Inbound, io::Error>> + Unpin,
{
    let mut items = Vec::new();
    for item in block_on_stream(stream) {
        match item {
            Ok(item) => items.push(item),
            Err(e) => return (items, End::Error(e.kind())),
        }
    }
    (items, End::Clean)
}

/// Reads `input` with the old framing and the new reader, in reads of `chunk` bytes, and
/// checks they agree; returns the new reader's outcome.
fn both(input: &[u8], chunk: usize, max: usize, pending: bool) -> (Vec<Inbound>, End) {
    let old = collect(asynchronous_codec::FramedRead::new(
        Chunks::new(input, chunk, pending),
        Codec::with_limits(max, DecodeLimits::UNLIMITED),
    ));
    let new = collect(FrameReader::new(
        Chunks::new(input, chunk, pending),
        max,
        DecodeLimits::UNLIMITED,
    ));
    assert_eq!(old, new, "chunk {chunk}, max {max}, pending {pending}");
    new
}

fn rpc_with_payload(len: usize) -> Rpc {
    Rpc {
        messages: vec![RawMessage {
            data: Bytes::from(vec![0x5a; len]),
            topic: TopicHash::from_raw("t"),
            ..anonymous_message()
        }],
        ..Rpc::default()
    }
}

fn frames(rpcs: &[Rpc]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for rpc in rpcs {
        out.extend_from_slice(&encode(rpc));
    }
    out.to_vec()
}

fn rpcs(items: &[Inbound]) -> Vec<&Rpc> {
    items
        .iter()
        .map(|item| match item {
            Inbound::Rpc(decoded) => &decoded.rpc,
            Inbound::Dropped(reason) => panic!("dropped: {reason}"),
        })
        .collect()
}

#[test]
fn frames_split_across_reads_at_every_size() {
    let sent = vec![
        full_rpc(),
        rpc_with_payload(1000),
        Rpc::default(),
        rpc_with_payload(READ_BUFFER - 40),
        rpc_with_payload(3 * READ_BUFFER),
        rpc_with_payload(10),
    ];
    let input = frames(&sent);
    for chunk in [
        1,
        2,
        3,
        7,
        100,
        1000,
        4096,
        READ_BUFFER,
        3 * READ_BUFFER,
        input.len(),
    ] {
        for pending in [false, true] {
            let (items, end) = both(&input, chunk, 1 << 20, pending);
            assert_eq!(end, End::Clean);
            assert_eq!(
                rpcs(&items),
                sent.iter().collect::<Vec<_>>(),
                "chunk {chunk}"
            );
        }
    }
}

#[test]
fn oversized_length_prefix_is_skipped_and_the_stream_goes_on() {
    let max = 2000;
    let sent = [
        rpc_with_payload(100),
        rpc_with_payload(5000),
        rpc_with_payload(200),
        rpc_with_payload(3 * READ_BUFFER),
        rpc_with_payload(300),
    ];
    let input = frames(&sent);
    for chunk in [1, 5, 64, 1500, READ_BUFFER, input.len()] {
        let (items, end) = both(&input, chunk, max, false);
        assert_eq!(end, End::Clean);
        assert_eq!(items.len(), 5);
        assert!(matches!(
            items[1],
            Inbound::Dropped(super::DropReason::TooLarge { .. })
        ));
        assert!(matches!(
            items[3],
            Inbound::Dropped(super::DropReason::TooLarge { .. })
        ));
        assert_eq!(rpcs(&[items[4].clone()]), vec![&sent[4]]);
    }
    // The stream ends while the oversized frame's bytes are skipped: a clean end.
    let cut = frames(&sent[..2]);
    let (items, end) = both(&cut[..cut.len() - 1], 100, max, false);
    assert_eq!((items.len(), end), (2, End::Clean));
}

#[test]
fn garbage_frame_is_dropped_and_the_stream_goes_on() {
    let mut input = vec![3, 0xff, 0xff, 0xff];
    input.extend(frames(&[rpc_with_payload(50)]));
    for chunk in [1, 2, input.len()] {
        let (items, end) = both(&input, chunk, 1 << 20, false);
        assert_eq!(end, End::Clean);
        assert!(matches!(
            items[0],
            Inbound::Dropped(super::DropReason::Malformed(_))
        ));
        assert_eq!(items.len(), 2);
    }
}

#[test]
fn broken_length_prefix_is_an_error() {
    // Eleven continuation bytes: longer than any u64 varint.
    let mut input = frames(&[rpc_with_payload(50)]);
    input.extend([0xff; 11]);
    for chunk in [1, 4, input.len()] {
        let (items, end) = both(&input, chunk, 1 << 20, false);
        assert_eq!(items.len(), 1);
        assert_eq!(end, End::Error(io::ErrorKind::InvalidData));
    }
    // Not minimally encoded.
    let (items, end) = both(&[0x80, 0x00], 1, 1 << 20, false);
    assert!(items.is_empty());
    assert_eq!(end, End::Error(io::ErrorKind::InvalidData));
}

#[test]
fn end_of_stream_inside_a_frame_is_an_error() {
    let whole = frames(&[rpc_with_payload(100), rpc_with_payload(2 * READ_BUFFER)]);
    let first = frames(&[rpc_with_payload(100)]).len();
    // Cut inside the second frame's prefix, inside its body, and inside the first frame.
    for cut in [first + 1, first + 10, whole.len() - 1, 5] {
        let (items, end) = both(&whole[..cut], 64, 1 << 20, false);
        assert_eq!(items.len(), usize::from(cut > first), "cut {cut}");
        assert_eq!(end, End::Error(io::ErrorKind::UnexpectedEof), "cut {cut}");
    }
    // Ending between frames is a clean end.
    let (items, end) = both(&whole[..first], 64, 1 << 20, false);
    assert_eq!((items.len(), end), (1, End::Clean));
    let (items, end) = both(&[], 64, 1 << 20, false);
    assert_eq!((items.len(), end), (0, End::Clean));
}

#[test]
fn a_length_prefix_alone_does_not_allocate_the_announced_frame() {
    let max = 64 << 20;
    let mut prefix = unsigned_varint::encode::u64_buffer();
    let prefix = unsigned_varint::encode::u64(max as u64, &mut prefix).to_vec();
    let mut input = prefix.clone();
    input.extend(vec![0; 1000]);
    let mut reader = FrameReader::new(
        Chunks::new(&input, 10_000, false),
        max,
        DecodeLimits::UNLIMITED,
    );
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    // Reads the prefix and 1000 bytes, then the end of the stream (an error, mid-frame).
    let polled = reader.poll_next_unpin(&mut cx);
    assert!(matches!(polled, Poll::Ready(Some(Err(_)))), "{polled:?}");
    let mut reader = FrameReader::new(Pending::new(input), max, DecodeLimits::UNLIMITED);
    assert!(reader.poll_next_unpin(&mut cx).is_pending());
    let held = reader.buffered_capacity();
    assert!(
        held <= READ_BUFFER + 2 * 1000 + super::codec::RESERVE_STEP,
        "holds {held} bytes for 1,000 received"
    );
}

/// Returns `input` in one read, then `Pending` forever.
struct Pending(Option<Vec<u8>>);

impl Pending {
    fn new(input: Vec<u8>) -> Self {
        Pending(Some(input))
    }
}

impl AsyncRead for Pending {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.0.take() {
            Some(mut input) => {
                let n = input.len().min(buf.len());
                buf[..n].copy_from_slice(&input[..n]);
                if n < input.len() {
                    self.0 = Some(input.split_off(n));
                }
                Poll::Ready(Ok(n))
            }
            None => Poll::Pending,
        }
    }
}

#[test]
fn random_chunkings_agree_with_the_old_framing() {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(7);
    for round in 0..40 {
        let sent: Vec<Rpc> = (0..rng.gen_range(1..8))
            .map(|_| rpc_with_payload(rng.gen_range(0..3 * READ_BUFFER)))
            .collect();
        let mut input = frames(&sent);
        if round % 3 == 0 {
            // Corrupt a byte: whatever the result, both framings agree on it.
            let at = rng.gen_range(0..input.len());
            input[at] ^= rng.r#gen::<u8>();
        }
        let chunk = rng.gen_range(1..2 * READ_BUFFER);
        let max = if round % 2 == 0 { 1 << 20 } else { READ_BUFFER };
        both(&input, chunk, max, round % 4 == 1);
    }
}
