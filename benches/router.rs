//! The router's hot paths, driven directly through its sans-IO API (no swarm, no I/O):
//! receiving and forwarding a 1 KiB message at D=8 with 50 peers, and the heartbeat with
//! 1,000 peers and 100 topics, with and without 10,000 idle known topics.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use gossipsub::__bench::signed_message;
use gossipsub::router::Router;
use gossipsub::{
    Config, ConfigBuilder, MessageAuthenticity, PeerKind, RawMessage, Rpc, Subscription, TopicHash,
    ValidationMode,
};
use libp2p::identity::{Keypair, PeerId};

fn config(validation: ValidationMode) -> Config {
    ConfigBuilder::default()
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .heartbeat_interval(Duration::from_secs(1))
        .validation_mode(validation)
        .build()
        .expect("valid config")
}

fn drain(router: &mut Router) -> usize {
    let mut n = 0;
    while let Some(action) = router.poll_action() {
        black_box(&action);
        n += 1;
    }
    n
}

fn subscribe_rpc(topics: impl IntoIterator<Item = TopicHash>) -> Rpc {
    Rpc {
        subscriptions: topics
            .into_iter()
            .map(|topic| Subscription {
                options: Default::default(),
                subscribe: true,
                topic,
            })
            .collect(),
        ..Rpc::default()
    }
}

/// Connects `peers` (meshsub 1.2, all outbound so the D_out quota never adds a mesh peer
/// beyond D) and subscribes each to its topics.
fn add_peers(router: &mut Router, now: Instant, peers: &[(PeerId, Vec<TopicHash>)]) {
    for (peer, topics) in peers {
        router.add_peer(now, *peer, true);
        router.set_peer_kind(*peer, PeerKind::Gossipsubv1_2);
        router.handle_rpc(now, *peer, subscribe_rpc(topics.iter().cloned()));
    }
    drain(router);
}

/// A router subscribed to one topic with 50 subscribed peers and a built mesh of D=8.
fn forwarding_router(signed: bool) -> (Router, TopicHash, Vec<PeerId>, Instant) {
    let t0 = Instant::now();
    let topic = TopicHash::from_raw("bench-topic");
    let (auth, mode) = if signed {
        (
            MessageAuthenticity::Signed(Keypair::generate_ed25519()),
            ValidationMode::Strict,
        )
    } else {
        (
            MessageAuthenticity::Author(PeerId::random()),
            ValidationMode::None,
        )
    };
    let mut router = Router::new(config(mode), auth, 1, 1, t0).expect("router");
    router.subscribe(t0, topic.clone()).expect("subscribe");
    let peers: Vec<(PeerId, Vec<TopicHash>)> = (0..50)
        .map(|_| (PeerId::random(), vec![topic.clone()]))
        .collect();
    add_peers(&mut router, t0, &peers);
    let mut now = t0;
    for _ in 0..3 {
        now += Duration::from_secs(1);
        router.handle_timeout(now);
        drain(&mut router);
    }
    let mesh: Vec<PeerId> = router.mesh_peers(&topic).copied().collect();
    assert_eq!(mesh.len(), 8, "mesh of D=8");
    (router, topic, mesh, now)
}

fn receive_forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("receive_forward_1KiB_D8_50peers");
    for signed in [true, false] {
        let name = if signed {
            "signed_strict"
        } else {
            "unsigned_none"
        };
        group.bench_function(name, |b| {
            let (mut router, topic, mesh, mut now) = forwarding_router(signed);
            let author = Keypair::generate_ed25519();
            let author_id = author.public().to_peer_id();
            let payload = Bytes::from(vec![0x5au8; 1024]);
            let mut seqno = 0u64;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    // Untimed: build (and sign) a chunk of fresh messages.
                    let chunk = left.min(1000);
                    left -= chunk;
                    let msgs: Vec<RawMessage> = (0..chunk)
                        .map(|_| {
                            seqno += 1;
                            if signed {
                                signed_message(&author, topic.clone(), payload.clone(), seqno)
                            } else {
                                RawMessage {
                                    source: Some(author_id),
                                    data: payload.clone(),
                                    data_absent: false,
                                    sequence_number: Some(seqno),
                                    topic: topic.clone(),
                                    signature: None,
                                    key: None,
                                }
                            }
                        })
                        .collect();
                    let start = Instant::now();
                    for (i, m) in msgs.into_iter().enumerate() {
                        let from = mesh[i % mesh.len()];
                        router.handle_rpc(
                            now,
                            from,
                            Rpc {
                                messages: vec![m],
                                ..Rpc::default()
                            },
                        );
                        drain(&mut router);
                    }
                    total += start.elapsed();
                    // Untimed: a heartbeat per chunk keeps the caches at a steady size.
                    now += Duration::from_secs(1);
                    router.handle_timeout(now);
                    drain(&mut router);
                }
                total
            })
        });
    }
    group.finish();
}

/// 1,000 peers; we are subscribed to 100 topics, each peer to 10 of them (100 peers per
/// topic); with `idle`, each peer is also subscribed to 10 of 10,000 topics we are not in.
fn heartbeat_router(idle: bool) -> (Router, Vec<TopicHash>, Instant) {
    let t0 = Instant::now();
    let topics: Vec<TopicHash> = (0..100)
        .map(|i| TopicHash::from(format!("topic-{i}")))
        .collect();
    let mut router = Router::new(
        config(ValidationMode::None),
        MessageAuthenticity::Author(PeerId::random()),
        1,
        1,
        t0,
    )
    .expect("router");
    for t in &topics {
        router.subscribe(t0, t.clone()).expect("subscribe");
    }
    let peers: Vec<(PeerId, Vec<TopicHash>)> = (0..1000)
        .map(|i| {
            let mut ts: Vec<TopicHash> = (0..10)
                .map(|k| topics[(i + k * 10) % 100].clone())
                .collect();
            if idle {
                ts.extend((0..10).map(|k| TopicHash::from(format!("idle-{}", i * 10 + k))));
            }
            (PeerId::random(), ts)
        })
        .collect();
    add_peers(&mut router, t0, &peers);
    let mut now = t0;
    for _ in 0..5 {
        now += Duration::from_secs(1);
        router.handle_timeout(now);
        drain(&mut router);
    }
    (router, topics, now)
}

fn heartbeat(c: &mut Criterion) {
    let mut group = c.benchmark_group("heartbeat_1000peers_100topics");
    for idle in [false, true] {
        let name = if idle {
            "with_10000_idle_topics"
        } else {
            "no_idle_topics"
        };
        group.bench_function(name, |b| {
            let (mut router, topics, mut now) = heartbeat_router(idle);
            let payload = Bytes::from(vec![1u8; 1024]);
            let mut round = 0usize;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Untimed: one published message in each of 10 topics, so the heartbeat
                    // has gossip to emit.
                    for k in 0..10 {
                        let t = topics[(round * 10 + k) % topics.len()].clone();
                        let _ = router.publish(now, t, payload.clone());
                    }
                    round += 1;
                    drain(&mut router);
                    now += Duration::from_secs(1);
                    let start = Instant::now();
                    router.handle_timeout(now);
                    drain(&mut router);
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, receive_forward, heartbeat);
criterion_main!(benches);
