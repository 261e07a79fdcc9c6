//! Memory per seen-cache entry and per cached message, measured with a counting global
//! allocator (live bytes before and after, divided by the number of entries).
//!
//! Run with `cargo bench --bench memory`. Prints one line per figure.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gossipsub::__bench::{Codec, MessageCache, SeenCache, signed_message};
use gossipsub::router::Router;
use gossipsub::{
    ConfigBuilder, MessageAuthenticity, MessageId, PeerKind, RawMessage, Rpc, Subscription,
    TopicHash, ValidationMode,
};
use libp2p::identity::{Keypair, PeerId};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{Counting, live};

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 100_000;

fn default_ids(author: &PeerId, n: usize) -> Vec<MessageId> {
    let b58 = author.to_base58();
    (0..n as u64)
        .map(|seq| MessageId::from(format!("{b58}{}", 1_700_000_000_000_000_000 + seq)))
        .collect()
}

fn seen_cache() {
    let author = Keypair::generate_ed25519().public().to_peer_id();
    let id_len = default_ids(&author, 1)[0].as_bytes().len();
    let t0 = Instant::now();
    let before = live();
    let mut seen = SeenCache::new(Duration::from_secs(120));
    for id in default_ids(&author, N) {
        seen.insert(t0, id);
    }
    let total = live() - before;
    println!(
        "seen cache: {:.1} bytes per entry, including the {id_len}-byte id itself ({} entries, {} bytes)",
        total as f64 / N as f64,
        seen.len(),
        total
    );
}

fn message_cache() {
    let author = Keypair::generate_ed25519().public().to_peer_id();
    let payload = Bytes::from(vec![0u8; 1024]);
    let ids = default_ids(&author, N);
    let signature = Bytes::from(vec![0u8; 64]);
    let before = live();
    let mut mc = MessageCache::new(N / 10_000 + 1, 3);
    for (n, id) in ids.into_iter().enumerate() {
        let message = RawMessage {
            source: Some(author),
            data: payload.clone(),
            data_absent: false,
            sequence_number: Some(n as u64),
            topic: TopicHash::from_raw("bench-topic"),
            signature: Some(signature.clone()),
            key: None,
        };
        mc.put(id, message, Some(author));
        if n % 10_000 == 9_999 {
            mc.shift();
        }
    }
    let total = live() - before;
    println!(
        "message cache: {:.1} bytes per cached message, excluding payload and signature buffers (shared), including id and topic string ({} messages)",
        total as f64 / N as f64,
        mc.len()
    );
}

/// The whole receive path: frames decoded by the codec (payloads share the frame buffer) and
/// handed to a router subscribed to the topic; live bytes per received message, with the
/// frame's own size reported separately.
fn router_state() {
    const M: usize = 20_000;
    let t0 = Instant::now();
    let topic = TopicHash::from_raw("bench-topic");
    let config = ConfigBuilder::default()
        .validation_mode(ValidationMode::Strict)
        .history_length(1000)
        .build()
        .expect("config");
    let mut router = Router::new(
        config,
        MessageAuthenticity::Signed(Keypair::generate_ed25519()),
        1,
        1,
        t0,
    )
    .expect("router");
    router.subscribe(t0, topic.clone()).expect("subscribe");
    let peers: Vec<PeerId> = (0..20).map(|_| PeerId::random()).collect();
    for peer in &peers {
        router.add_peer(t0, *peer, true);
        router.set_peer_kind(*peer, PeerKind::Gossipsubv1_2);
        router.handle_rpc(
            t0,
            *peer,
            Rpc {
                subscriptions: vec![Subscription {
                    options: Default::default(),
                    subscribe: true,
                    topic: topic.clone(),
                }],
                ..Rpc::default()
            },
        );
    }
    router.handle_timeout(t0 + Duration::from_secs(5));
    while router.poll_action().is_some() {}
    let key = Keypair::generate_ed25519();
    let payload = Bytes::from(vec![0x5au8; 1024]);
    let mut codec = Codec::new(1 << 20);
    let frames: Vec<Bytes> = (0..M as u64)
        .map(|seq| {
            let m = signed_message(&key, topic.clone(), payload.clone(), seq);
            let mut buf = BytesMut::new();
            codec
                .encode(
                    &Rpc {
                        messages: vec![m],
                        ..Rpc::default()
                    },
                    &mut buf,
                )
                .expect("encode");
            buf.freeze()
        })
        .collect();
    let frame_len = frames[0].len();
    let now = t0 + Duration::from_secs(6);
    let before = live();
    for (i, frame) in frames.iter().enumerate() {
        let mut src = BytesMut::from(&frame[..]);
        let rpc = codec.decode(&mut src).expect("decode").expect("frame");
        router.handle_rpc(now, peers[i % peers.len()], rpc);
        while router.poll_action().is_some() {}
    }
    let total = live() - before;
    let (mcache, seen) = router.cache_sizes();
    assert_eq!((mcache, seen), (M, M));
    let per = total as f64 / M as f64;
    println!(
        "router receive path: {per:.1} bytes per received 1 KiB signed message held in seen + message cache, of which {frame_len} is the received frame (payload, signature, key share it); overhead {:.1} bytes",
        per - frame_len as f64
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    seen_cache();
    message_cache();
    router_state();
}
