//! The stream decoder over arbitrary byte streams.
//!
//! Input: byte 0 picks the maximum frame size and the per-RPC decode limits (the defaults, or
//! tight ones), byte 1 how the stream is cut into reads, the rest is the stream. Checked for
//! every frame: no panic; a decoded frame is never larger than the maximum; the decoded RPC
//! respects every configured per-RPC cap (messages, subscriptions, control entries per type,
//! IHAVE / IWANT / IDONTWANT ids, PX entries, id and topic length, and in a partial message
//! (`RPC.partial`) the topic, group id and parts metadata bounds); it re-encodes, within the
//! maximum size and no larger than its frame, to bytes that decode to the same RPC; and what it
//! retains is bounded by its frame's size and the caps.
//!
//! `GOSSIPSUB_FUZZ_SKIP` lists issue 7 items whose checks today's code is known to fail, to
//! leave out while looking for anything else: `A1` (re-encoding grows a message), `A7` (decode
//! amplification); e.g. `GOSSIPSUB_FUZZ_SKIP=A1,A7`.

#![no_main]

use std::mem::size_of;
use std::sync::OnceLock;

use bytes::BytesMut;
use gossipsub::__fuzz::{Codec, Decoded, encoded_len};
use gossipsub::partial::{MAX_PARTIAL_GROUP_ID_LEN, MAX_PARTS_METADATA_LEN};
use gossipsub::{
    Config, ConfigBuilder, ControlAction, MessageId, PartialMessage, PeerInfo, RawMessage, Rpc,
    Subscription,
};
use libfuzzer_sys::fuzz_target;

/// Maximum frame sizes tried (byte 0 of the input picks one).
const MAX_SIZES: [usize; 4] = [128, 1024, 65_536, 1 << 20];

/// The node configuration for selector byte `sel`.
fn config(sel: u8) -> Config {
    let mut b = ConfigBuilder::default();
    b.max_transmit_size(MAX_SIZES[usize::from(sel & 3)]);
    if sel & 4 != 0 {
        b.max_messages_per_rpc(Some(2))
            .max_subscriptions_per_rpc(2)
            .max_control_entries_per_rpc(3)
            .max_control_bytes_per_rpc(256)
            .max_ihave_length(4)
            .max_idontwant_messages(4)
            .max_px_peers_per_rpc(2)
            .max_message_id_len(8)
            .max_topic_len(8);
    }
    b.build().expect("a valid configuration")
}

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
    let config = config(*size_sel);
    // 0 means "all at once"; otherwise reads of 1..=255 bytes.
    let chunk = if *chunk_sel == 0 {
        stream.len().max(1)
    } else {
        usize::from(*chunk_sel)
    };

    let mut codec = Codec::for_config(&config);
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
                    check_caps(&rpc, &config);
                    check_rpc(&rpc, consumed, &config);
                }
            }
        }
    }
});

/// `consumed`: the bytes the decoder took for this frame, prefix included, when known.
fn check_rpc(rpc: &Rpc, consumed: Option<usize>, config: &Config) {
    let max_size = config.max_transmit_size();
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
        // Ids may cost more than their bytes on the wire, up to the per-RPC id caps.
        let ids = config.max_ihave_length() * 2 + config.max_idontwant_messages();
        let bound = RETAIN_FACTOR * frame + RETAIN_SLACK + ids * size_of::<MessageId>();
        assert!(
            retained <= bound,
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
    let again = match Codec::for_config(config).decode(&mut out) {
        Ok(Some(Decoded::Rpc { rpc, malformed, .. })) => {
            assert_eq!(malformed, 0, "our own encoding has malformed messages");
            rpc
        }
        other => panic!("our own encoding does not decode: {other:?}"),
    };
    assert!(out.is_empty(), "re-encoding left bytes behind");
    // The encoding groups control entries by type (protobuf has one repeated field per type);
    // the decoder keeps the order they arrived in.
    assert_eq!(
        by_control_type(again),
        by_control_type(rpc.clone()),
        "decode(encode(rpc)) != rpc"
    );
}

/// `rpc` with its control entries in the wire's type order, each type's entries in order.
fn by_control_type(mut rpc: Rpc) -> Rpc {
    rpc.control.sort_by_key(|c| match c {
        ControlAction::IHave { .. } => 0,
        ControlAction::IWant { .. } => 1,
        ControlAction::Graft { .. } => 2,
        ControlAction::Prune { .. } => 3,
        ControlAction::IDontWant { .. } => 4,
    });
    rpc
}

/// Every per-RPC decode limit of `config` holds for `rpc`.
fn check_caps(rpc: &Rpc, config: &Config) {
    let over = |what: &str, n: usize, max: usize| {
        assert!(n <= max, "decoded {n} {what}, over the configured {max}");
    };
    over(
        "messages",
        rpc.messages.len(),
        config.max_messages_per_rpc().unwrap_or(usize::MAX),
    );
    over(
        "subscriptions",
        rpc.subscriptions.len(),
        config.max_subscriptions_per_rpc(),
    );
    let entries = config.max_control_entries_per_rpc();
    let id_len = config.max_message_id_len();
    let topic_len = config.max_topic_len();
    let (mut ihave, mut iwant, mut graft, mut prune, mut idontwant) = (0, 0, 0, 0, 0);
    let (mut ihave_ids, mut iwant_ids, mut idontwant_ids, mut px) = (0, 0, 0, 0);
    let mut topics: Vec<&str> = rpc.subscriptions.iter().map(|s| s.topic.as_str()).collect();
    topics.extend(rpc.messages.iter().map(|m| m.topic.as_str()));
    let mut ids: Vec<&MessageId> = Vec::new();
    for c in &rpc.control {
        match c {
            ControlAction::IHave { topic, message_ids } => {
                ihave += 1;
                ihave_ids += message_ids.len();
                topics.push(topic.as_str());
                ids.extend(message_ids);
            }
            ControlAction::IWant { message_ids } => {
                iwant += 1;
                iwant_ids += message_ids.len();
                ids.extend(message_ids);
            }
            ControlAction::Graft { topic } => {
                graft += 1;
                topics.push(topic.as_str());
            }
            ControlAction::Prune { topic, peers, .. } => {
                prune += 1;
                px += peers.len();
                topics.push(topic.as_str());
            }
            ControlAction::IDontWant { message_ids } => {
                idontwant += 1;
                idontwant_ids += message_ids.len();
                ids.extend(message_ids);
            }
        }
    }
    for (what, n) in [
        ("IHAVE entries", ihave),
        ("IWANT entries", iwant),
        ("GRAFT entries", graft),
        ("PRUNE entries", prune),
        ("IDONTWANT entries", idontwant),
    ] {
        over(what, n, entries);
    }
    over("IHAVE ids", ihave_ids, config.max_ihave_length());
    over("IWANT ids", iwant_ids, config.max_ihave_length());
    over(
        "IDONTWANT ids",
        idontwant_ids,
        config.max_idontwant_messages(),
    );
    over("PX entries", px, config.max_px_peers_per_rpc());
    if let Some(partial) = &rpc.partial {
        topics.push(partial.topic.as_str());
        over(
            "bytes of partial group id",
            partial.group_id.len(),
            MAX_PARTIAL_GROUP_ID_LEN,
        );
        over(
            "bytes of parts metadata",
            partial.metadata.as_ref().map_or(0, |m| m.len()),
            MAX_PARTS_METADATA_LEN,
        );
        over(
            "bytes of parts",
            partial.message.as_ref().map_or(0, |m| m.len()),
            config.max_transmit_size(),
        );
    }
    for id in ids {
        over("bytes of message id", id.as_bytes().len(), id_len);
    }
    for topic in topics {
        over("bytes of topic", topic.len(), topic_len);
    }
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
    // A partial message is copied out of the frame: all of it is retained.
    let partial = rpc.partial.as_ref().map_or(0, |p| {
        size_of::<PartialMessage>()
            + p.topic.as_str().len()
            + p.group_id.len()
            + p.message.as_ref().map_or(0, |m| m.len())
            + p.metadata.as_ref().map_or(0, |m| m.len())
    });
    subs + messages + control + partial
}
