//! Seen cache and message cache: insert and lookup.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gossipsub::__bench::{MessageCache, SeenCache};
use gossipsub::{MessageId, RawMessage, TopicHash};
use libp2p::identity::{Keypair, PeerId};

/// Ids shaped like the default message id: base58(author) ++ decimal seqno (~60 bytes).
fn ids(author: &PeerId, start: u64, n: usize) -> Vec<MessageId> {
    let b58 = author.to_base58();
    (start..start + n as u64)
        .map(|seq| MessageId::from(format!("{b58}{seq}")))
        .collect()
}

fn message(author: PeerId, data: &Bytes, seqno: u64) -> RawMessage {
    RawMessage {
        source: Some(author),
        data: data.clone(),
        data_absent: false,
        sequence_number: Some(seqno),
        topic: TopicHash::from_raw("bench-topic"),
        signature: Some(Bytes::from(vec![7u8; 64])),
        key: None,
    }
}

fn seen_cache(c: &mut Criterion) {
    let author = Keypair::generate_ed25519().public().to_peer_id();
    let mut group = c.benchmark_group("seen_cache");
    // Steady state: 100k ids held (a busy node's seen_ttl worth).
    const HELD: usize = 100_000;
    let t0 = Instant::now();
    let held = ids(&author, 0, HELD);
    let mut seen = SeenCache::new(Duration::from_secs(120));
    for id in &held {
        seen.insert(t0, id.clone());
    }
    let fresh = ids(&author, 1 << 40, 1_000);
    group.bench_function("insert_1000_new_into_100k", |b| {
        b.iter_batched_ref(
            || {
                let mut s = SeenCache::new(Duration::from_secs(120));
                for id in &held {
                    s.insert(t0, id.clone());
                }
                s
            },
            |s| {
                for id in &fresh {
                    black_box(s.insert(t0, id.clone()));
                }
            },
            BatchSize::LargeInput,
        )
    });
    let mut i = 0;
    group.bench_function("lookup_hit_100k", |b| {
        b.iter(|| {
            i = (i + 7919) % HELD;
            black_box(seen.contains(&held[i]))
        })
    });
    let mut j = 0;
    group.bench_function("lookup_miss_100k", |b| {
        b.iter(|| {
            j = (j + 1) % fresh.len();
            black_box(seen.contains(&fresh[j]))
        })
    });
    group.bench_function("insert_expire_steady", |b| {
        // One insert and the amortised expiry of one old id per iteration.
        let mut s = SeenCache::new(Duration::from_millis(100));
        let mut now = t0;
        let mut seq = 0u64;
        let b58 = author.to_base58();
        b.iter(|| {
            seq += 1;
            now += Duration::from_millis(1);
            s.insert(now, MessageId::from(format!("{b58}{seq}")));
            if seq.is_multiple_of(100) {
                s.expire(now);
            }
        })
    });
    group.finish();
}

fn message_cache(c: &mut Criterion) {
    let author = Keypair::generate_ed25519().public().to_peer_id();
    let data = Bytes::from(vec![1u8; 1024]);
    let mut group = c.benchmark_group("message_cache");
    const HELD: usize = 5_000;
    let held = ids(&author, 0, HELD);
    let fill = |mc: &mut MessageCache| {
        for (n, id) in held.iter().enumerate() {
            mc.put(id.clone(), message(author, &data, n as u64), Some(author));
            if n % 1000 == 999 {
                mc.shift();
            }
        }
    };
    let fresh = ids(&author, 1 << 40, 1_000);
    let fresh_msgs: Vec<RawMessage> = (0..fresh.len())
        .map(|n| message(author, &data, (1 << 40) + n as u64))
        .collect();
    group.bench_function("put_1000_into_5k", |b| {
        b.iter_batched_ref(
            || {
                let mut mc = MessageCache::new(6, 3);
                fill(&mut mc);
                mc
            },
            |mc| {
                for (id, m) in fresh.iter().zip(&fresh_msgs) {
                    black_box(mc.put(id.clone(), m.clone(), Some(author)));
                }
            },
            BatchSize::LargeInput,
        )
    });
    let mut mc = MessageCache::new(6, 3);
    fill(&mut mc);
    let mut i = 0;
    group.bench_function("get_hit_5k", |b| {
        b.iter(|| {
            i = (i + 7919) % HELD;
            black_box(mc.get(&held[i]).is_some())
        })
    });
    let mut j = 0;
    group.bench_function("get_miss_5k", |b| {
        b.iter(|| {
            j = (j + 1) % fresh.len();
            black_box(mc.get(&fresh[j]).is_some())
        })
    });
    group.bench_function("gossip_ids_5k", |b| b.iter(|| black_box(mc.gossip_len())));
    group.finish();
}

criterion_group!(benches, seen_cache, message_cache);
criterion_main!(benches);
