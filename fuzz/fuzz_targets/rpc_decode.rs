//! The stream decoder over arbitrary byte streams.
//!
//! Input: byte 0 picks the maximum frame size, byte 1 how the stream is cut into reads, the
//! rest is the stream. Checked for every frame: no panic; a decoded frame is never larger than
//! the maximum; the decoded RPC re-encodes, within the maximum size, to bytes that decode to
//! the same RPC; and what the decoded RPC retains is bounded by the frame's size.
//!
//! `GOSSIPSUB_FUZZ_SKIP` lists issue 7 items whose checks today's code is known to fail, to
//! leave out while looking for anything else: `A1` (re-encoding grows a message), `A7` (decode
//! amplification); e.g. `GOSSIPSUB_FUZZ_SKIP=A1,A7`.

#![no_main]

use std::mem::size_of;
use std::sync::OnceLock;

use bytes::BytesMut;
use gossipsub::__fuzz::{Codec, Decoded, encoded_len};
use gossipsub::{ControlAction, MessageId, PeerInfo, RawMessage, Rpc, Subscription};
use libfuzzer_sys::fuzz_target;

/// Maximum frame sizes tried (byte 0 of the input picks one).
const MAX_SIZES: [usize; 5] = [16, 128, 1024, 65_536, 1 << 20];

/// Decoded RPCs may retain at most this many bytes per frame byte, plus [`RETAIN_SLACK`].
const RETAIN_FACTOR: usize = 8;
const RETAIN_SLACK: usize = 64 * 1024;

fn check(item: &str) -> bool {
    static SKIP: OnceLock<Vec<String>> = OnceLock::new();
    let skip = SKIP.get_or_init(|| {
        std::env::var("GOSSIPSUB_FUZZ_SKIP")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect()
    });
    !skip.iter().any(|s| s == item)
}

fuzz_target!(|input: &[u8]| {
    let [size_sel, chunk_sel, stream @ ..] = input else {
        return;
    };
    let max_size = MAX_SIZES[usize::from(*size_sel) % MAX_SIZES.len()];
    // 0 means "all at once"; otherwise reads of 1..=255 bytes.
    let chunk = if *chunk_sel == 0 {
        stream.len().max(1)
    } else {
        usize::from(*chunk_sel)
    };

    let mut codec = Codec::new(max_size);
    let mut buf = BytesMut::new();
    // Whether the decoder may still be skipping an oversized frame: the bytes it then consumes
    // are not all the next frame's.
    let mut may_skip = false;
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match codec.decode(&mut buf) {
                Ok(None) => break,
                // A broken length prefix ends the stream.
                Err(_) => return,
                Ok(Some(Decoded::Dropped(_))) => may_skip = true,
                Ok(Some(Decoded::Rpc { rpc, .. })) => {
                    let consumed = (!may_skip).then_some(before - buf.len());
                    may_skip = false;
                    check_rpc(&rpc, consumed, max_size);
                }
            }
        }
    }
});

/// `consumed`: the bytes the decoder took for this frame, prefix included, when known.
fn check_rpc(rpc: &Rpc, consumed: Option<usize>, max_size: usize) {
    // The frame fits the maximum; its prefix may be a non-minimal varint of up to 10 bytes.
    if let Some(consumed) = consumed {
        assert!(
            consumed <= max_size + 10,
            "decoded a frame of {consumed} bytes (with prefix) over the maximum of {max_size}"
        );
    }
    let frame = consumed.map_or(max_size, |c| c.saturating_sub(1));

    let retained = retained_bytes(rpc);
    if check("A7") {
        assert!(
            retained <= RETAIN_FACTOR * frame + RETAIN_SLACK,
            "a frame of {frame} bytes decoded to {retained} retained bytes (issue 7 A7)"
        );
    }

    // Anything decoded must re-encode within the maximum (we forward it and serve it to IWANT),
    // and no larger than the frame it came in.
    let len = encoded_len(rpc);
    if let Some(consumed) = consumed {
        let frame = consumed - 1;
        assert!(
            len <= frame || !check("A1"),
            "decoded RPC of a frame of at most {frame} bytes re-encodes to {len} bytes (issue 7 A1)"
        );
    }
    if len > max_size {
        assert!(
            !check("A1"),
            "decoded RPC of a {frame}-byte frame re-encodes to {len} bytes, over the \
             maximum of {max_size} (issue 7 A1)"
        );
        return;
    }
    let mut out = BytesMut::new();
    Codec::new(max_size)
        .encode(rpc, &mut out)
        .expect("an RPC within the maximum size encodes");
    assert_eq!(out.len(), len + varint_len(len), "encoded_len is exact");
    let again = match Codec::new(max_size).decode(&mut out) {
        Ok(Some(Decoded::Rpc { rpc, malformed, .. })) => {
            assert_eq!(malformed, 0, "our own encoding has malformed messages");
            rpc
        }
        other => panic!("our own encoding does not decode: {other:?}"),
    };
    assert!(out.is_empty(), "re-encoding left bytes behind");
    assert_eq!(&again, rpc, "decode(encode(rpc)) != rpc");
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// An estimate of the heap bytes `rpc` keeps apart from payloads shared with the frame:
/// vector slots, copied topic strings and ids.
fn retained_bytes(rpc: &Rpc) -> usize {
    let subs: usize = rpc
        .subscriptions
        .iter()
        .map(|s| size_of::<Subscription>() + s.topic.as_str().len())
        .sum();
    let messages: usize = rpc
        .messages
        .iter()
        .map(|m| size_of::<RawMessage>() + m.topic.as_str().len())
        .sum();
    let ids = |ids: &[MessageId]| std::mem::size_of_val(ids);
    let control: usize = rpc
        .control
        .iter()
        .map(|c| {
            size_of::<ControlAction>()
                + match c {
                    ControlAction::IHave { topic, message_ids } => {
                        topic.as_str().len() + ids(message_ids)
                    }
                    ControlAction::IWant { message_ids }
                    | ControlAction::IDontWant { message_ids } => ids(message_ids),
                    ControlAction::Graft { topic } => topic.as_str().len(),
                    ControlAction::Prune { topic, peers, .. } => {
                        topic.as_str().len() + peers.len() * size_of::<PeerInfo>()
                    }
                }
        })
        .sum();
    subs + messages + control
}
