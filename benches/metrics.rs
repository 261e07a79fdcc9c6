//! The cost of metrics on the forward path: receiving and forwarding a 1 KiB unsigned message
//! at D=8 with 50 peers through the router alone (what the behaviour does without the
//! `metrics` feature, or with metrics not turned on), and with the metrics hooks the behaviour
//! runs when they are on (`on_receive` before the router, `on_send` / `on_event` per action,
//! the heartbeat sampling once per 1,000 messages). The budget: under 5 %.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use gossipsub::__bench::MetricsObserver;
use gossipsub::router::Router;
use gossipsub::{
    ConfigBuilder, MessageAuthenticity, PeerKind, RawMessage, Rpc, Subscription, TopicHash,
    ValidationMode,
};
use libp2p::identity::PeerId;
use prometheus_client::registry::Registry;

fn forwarding_router() -> (Router, TopicHash, Vec<PeerId>, Instant) {
    let t0 = Instant::now();
    let topic = TopicHash::from_raw("bench-topic");
    let config = ConfigBuilder::default()
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .heartbeat_interval(Duration::from_secs(1))
        .validation_mode(ValidationMode::None)
        .build()
        .expect("valid config");
    let auth = MessageAuthenticity::Author(PeerId::random());
    let mut router = Router::new(config, auth, 1, 1, t0).expect("router");
    router.subscribe(t0, topic.clone()).expect("subscribe");
    for _ in 0..50 {
        let peer = PeerId::random();
        router.add_peer(t0, peer, true);
        router.set_peer_kind(peer, PeerKind::Gossipsubv1_2);
        let subscriptions = vec![Subscription {
            options: Default::default(),
            subscribe: true,
            topic: topic.clone(),
        }];
        router.handle_rpc(
            t0,
            peer,
            Rpc {
                subscriptions,
                ..Rpc::default()
            },
        );
    }
    let mut now = t0;
    for _ in 0..3 {
        now += Duration::from_secs(1);
        router.handle_timeout(now);
        while router.poll_action().is_some() {}
    }
    let mesh: Vec<PeerId> = router.mesh_peers(&topic).copied().collect();
    assert_eq!(mesh.len(), 8, "mesh of D=8");
    (router, topic, mesh, now)
}

/// One forwarding setup: the router with its mesh, the metrics hooks when on, and the state of
/// the message stream.
struct Forwarding {
    router: Router,
    topic: TopicHash,
    mesh: Vec<PeerId>,
    now: Instant,
    metrics: Option<MetricsObserver>,
    author: PeerId,
    payload: Bytes,
    seqno: u64,
}

impl Forwarding {
    fn new(with_metrics: bool, registry: &mut Registry) -> Self {
        let (router, topic, mesh, now) = forwarding_router();
        let metrics =
            with_metrics.then(|| MetricsObserver::new(registry, std::slice::from_ref(&topic)));
        Forwarding {
            router,
            topic,
            mesh,
            now,
            metrics,
            author: PeerId::random(),
            payload: Bytes::from(vec![0x5au8; 1024]),
            seqno: 0,
        }
    }

    /// The RPCs of `n` new messages (built outside the measured part).
    fn rpcs(&mut self, n: u64) -> Vec<Rpc> {
        (0..n)
            .map(|_| {
                self.seqno += 1;
                Rpc {
                    messages: vec![RawMessage {
                        source: Some(self.author),
                        data: self.payload.clone(),
                        data_absent: false,
                        sequence_number: Some(self.seqno),
                        topic: self.topic.clone(),
                        signature: None,
                        key: None,
                    }],
                    ..Rpc::default()
                }
            })
            .collect()
    }

    /// Receives and forwards `rpcs`, then runs one heartbeat (and the metrics' sampling).
    fn run(&mut self, rpcs: Vec<Rpc>) {
        for (i, rpc) in rpcs.into_iter().enumerate() {
            if let Some(m) = &mut self.metrics {
                m.receive(&rpc);
            }
            self.router
                .handle_rpc(self.now, self.mesh[i % self.mesh.len()], rpc);
            while let Some(action) = self.router.poll_action() {
                if let Some(m) = &mut self.metrics {
                    m.action(&action);
                }
                black_box(&action);
            }
        }
        self.now += Duration::from_secs(1);
        self.router.handle_timeout(self.now);
        while let Some(action) = self.router.poll_action() {
            if let Some(m) = &mut self.metrics {
                m.action(&action);
            }
        }
        if let Some(m) = &mut self.metrics {
            m.heartbeat(&self.router);
        }
    }
}

fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward_1KiB_D8_50peers");
    for with_metrics in [false, true] {
        let name = if with_metrics {
            "metrics_on"
        } else {
            "metrics_off"
        };
        group.bench_function(name, |b| {
            let mut registry = Registry::default();
            let mut f = Forwarding::new(with_metrics, &mut registry);
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let chunk = left.min(1000);
                    left -= chunk;
                    let rpcs = f.rpcs(chunk);
                    let start = Instant::now();
                    f.run(rpcs);
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

/// A fixed amount of work for instruction counts, instead of criterion: with
/// `METRICS_COST=on|off` and `METRICS_COST_MESSAGES=N` set, forwards N messages (one heartbeat
/// per 1,000) and exits. Run it under `valgrind --tool=callgrind` for N and for 0 and compare
/// the differences (see BENCHMARKS.md).
fn fixed_run() -> bool {
    let (Ok(mode), Ok(n)) = (
        std::env::var("METRICS_COST"),
        std::env::var("METRICS_COST_MESSAGES"),
    ) else {
        return false;
    };
    let n: u64 = n.parse().expect("METRICS_COST_MESSAGES is a number");
    let mut registry = Registry::default();
    let mut f = Forwarding::new(mode == "on", &mut registry);
    let mut left = n;
    while left > 0 {
        let chunk = left.min(1000);
        left -= chunk;
        let rpcs = f.rpcs(chunk);
        f.run(rpcs);
    }
    true
}

/// The hooks alone, on what one forwarded message produces (the received RPC and the router's
/// actions: D-1 forwards, IDONTWANTs, the delivery event): their absolute cost, to set
/// against `forward_1KiB_D8_50peers/metrics_off`.
fn hooks_only(c: &mut Criterion) {
    let (mut router, topic, mesh, now) = forwarding_router();
    let rpc = Rpc {
        messages: vec![RawMessage {
            source: Some(PeerId::random()),
            data: Bytes::from(vec![0x5au8; 1024]),
            data_absent: false,
            sequence_number: Some(1),
            topic: topic.clone(),
            signature: None,
            key: None,
        }],
        ..Rpc::default()
    };
    router.handle_rpc(now, mesh[0], rpc.clone());
    let actions: Vec<_> = std::iter::from_fn(|| router.poll_action()).collect();
    assert!(actions.len() >= mesh.len() - 1, "forwards and the delivery");
    let mut registry = Registry::default();
    let mut metrics = MetricsObserver::new(&mut registry, &[topic]);
    c.bench_function("metrics_hooks_per_forwarded_message", |b| {
        b.iter(|| {
            metrics.receive(black_box(&rpc));
            for action in &actions {
                metrics.action(black_box(action));
            }
        })
    });
}

criterion_group!(benches, forward, hooks_only);

fn main() {
    if fixed_run() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
