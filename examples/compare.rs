//! Side-by-side comparison of this crate ("ours") with rust-libp2p's `libp2p-gossipsub` 0.50
//! ("theirs"), in one binary, over the same transport (memory + plaintext + yamux) and with the
//! same protocol parameters (D=8, D_lo=6, D_hi=12, heartbeat 700 ms, signed messages checked
//! strictly, the default `from`+`seqno` message id, flood publish on, IDONTWANT above 1000
//! bytes, 1 MiB max RPC).
//!
//! Two figures per implementation, then the ratio ours/theirs:
//!
//! (a) `network`: 50 nodes of one implementation in this process (multi-thread tokio runtime,
//!     one task per node), a seeded random connected topology, everybody subscribed to one
//!     topic. After the meshes warm up, M messages of 1 KiB are published from random nodes at
//!     a steady rate. Reported: wall time from the first publish until every subscriber got
//!     every message, process CPU time over that span (getrusage), CPU per delivered message,
//!     and wire duplicates per delivered message (ours: the router's `messages_duplicate`
//!     counter; theirs: its prometheus metrics, unfiltered minus filtered receptions, only with
//!     `--theirs-metrics` since recording metrics costs it CPU; otherwise N/A).
//!
//! (b) `forward`: one node under test with 30 feeder peers. The feeders are the same for both
//!     runs: by default *ours*, signing their messages and skipping verification of what they
//!     receive (`ValidationMode::None`) to spend as little of the shared CPU as possible
//!     (`--feeders theirs` uses libp2p-gossipsub with strict validation instead). They publish
//!     1 KiB messages at each aggregate rate of `--rates` (default 500 msgs/s, then 0 = as
//!     fast as they can). The
//!     node under test runs alone on its own thread in a current-thread runtime, so its
//!     connection tasks run there too, and its thread CPU time is read with
//!     `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`. A forward is counted where it arrives: each
//!     feeder is connected only to the node under test, so every new message a feeder
//!     delivers to its application was sent to it by the node under test (mesh forwarding
//!     or an IWANT answer), for either implementation. Reported: messages forwarded per CPU
//!     second of the node under test, and messages received (new) per CPU second.
//!
//! Run: `cargo run --release --example compare -- --quick` (under two minutes), or without
//! `--quick` for the full sizes. `--only network|forward` runs one part; `--runs N` repeats;
//! `--impl-only ours|theirs` runs one implementation (for a profiler). See BENCHMARKS.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::{FutureExt, StreamExt};
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::core::{Multiaddr, Transport};
use libp2p::identity::{Keypair, PeerId};
use libp2p::swarm::{NetworkBehaviour, Swarm, SwarmEvent};
use libp2p::{plaintext, yamux};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, oneshot};

const TOPIC: &str = "compare";
const HEARTBEAT: Duration = Duration::from_millis(700);
const MSG_SIZE: usize = 1024;
const MAX_TRANSMIT: usize = 1024 * 1024;
const IDONTWANT_THRESHOLD: usize = 1000;

#[derive(Parser, Debug)]
#[command(about = "ours vs libp2p-gossipsub 0.50, same transport and parameters")]
struct Args {
    /// Small sizes: the whole run takes under two minutes.
    #[arg(long)]
    quick: bool,
    /// Run only `network` or `forward`.
    #[arg(long)]
    only: Option<String>,
    /// How many times to repeat each measurement.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Messages published in the network test (default 200 quick, 2000 full).
    #[arg(long)]
    messages: Option<usize>,
    /// Publish rate of the network test, messages per second.
    #[arg(long)]
    publish_rate: Option<u64>,
    /// Seconds of measured feeding in the forward test (default 5 quick, 20 full).
    #[arg(long)]
    seconds: Option<u64>,
    /// Aggregate feeder rates of the forward test (messages/s, comma-separated), one
    /// measurement each; 0 = as fast as the feeders can publish.
    #[arg(long, value_delimiter = ',', default_values_t = vec![500u64, 0])]
    rates: Vec<u64>,
    /// Record libp2p-gossipsub's prometheus metrics to report its wire duplicates.
    #[arg(long)]
    theirs_metrics: bool,
    /// Run only one implementation (`ours` or `theirs`), e.g. under a profiler.
    #[arg(long)]
    impl_only: Option<String>,
    /// Implementation of the forward test's feeders: `ours` (default; skips verification) or
    /// `theirs` (verifies strictly: more CPU taken from the node under test).
    #[arg(long, default_value = "ours")]
    feeders: String,
    /// Seed of the topology and the publishers.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impl {
    Ours,
    Theirs,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Ours => "ours",
            Impl::Theirs => "libp2p-gossipsub",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes of either implementation.

fn memory_addr() -> Multiaddr {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "/memory/{}",
        1_000_000 + NEXT.fetch_add(1, Ordering::Relaxed)
    )
    .parse()
    .expect("memory address")
}

fn swarm<B: NetworkBehaviour>(key: &Keypair, behaviour: B) -> Swarm<B> {
    let transport = MemoryTransport::default()
        .upgrade(Version::V1)
        .authenticate(plaintext::Config::new(key))
        .multiplex(yamux::Config::default())
        .boxed();
    Swarm::new(
        transport,
        behaviour,
        key.public().to_peer_id(),
        libp2p::swarm::Config::with_tokio_executor()
            .with_idle_connection_timeout(Duration::from_secs(600)),
    )
}

fn ours_config(validation: gossipsub::ValidationMode) -> gossipsub::Config {
    gossipsub::ConfigBuilder::default()
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .gossip_lazy(6)
        .gossip_factor(0.25)
        .history_length(5)
        .history_gossip(3)
        .heartbeat_interval(HEARTBEAT)
        .seen_ttl(Duration::from_secs(120))
        .max_transmit_size(MAX_TRANSMIT)
        .idontwant_message_size_threshold(IDONTWANT_THRESHOLD)
        .idontwant_on_publish(false)
        .flood_publish(true)
        .send_queue_size(5000)
        .validation_mode(validation)
        .build()
        .expect("our config")
}

fn theirs_config() -> libp2p_gossipsub::Config {
    libp2p_gossipsub::ConfigBuilder::default()
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .gossip_lazy(6)
        .gossip_factor(0.25)
        .history_length(5)
        .history_gossip(3)
        .heartbeat_interval(HEARTBEAT)
        .duplicate_cache_time(Duration::from_secs(120))
        .max_transmit_size(MAX_TRANSMIT)
        .idontwant_message_size_threshold(IDONTWANT_THRESHOLD)
        .idontwant_on_publish(false)
        .flood_publish(true)
        .connection_handler_queue_len(5000)
        .validation_mode(libp2p_gossipsub::ValidationMode::Strict)
        .build()
        .expect("their config")
}

enum Ev {
    /// A new message delivered to the application; its first 8 bytes.
    Message(u64),
    Subscribed,
    Other,
}

enum Node {
    Ours(Box<Swarm<gossipsub::Behaviour>>),
    Theirs(
        Box<Swarm<libp2p_gossipsub::Behaviour>>,
        Option<Box<prometheus_client::registry::Registry>>,
    ),
}

impl Node {
    fn new(
        which: Impl,
        key: Keypair,
        validation: gossipsub::ValidationMode,
        metrics: bool,
    ) -> Self {
        match which {
            Impl::Ours => {
                let b = gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    ours_config(validation),
                )
                .expect("our behaviour");
                Node::Ours(Box::new(swarm(&key, b)))
            }
            Impl::Theirs => {
                let b = libp2p_gossipsub::Behaviour::new(
                    libp2p_gossipsub::MessageAuthenticity::Signed(key.clone()),
                    theirs_config(),
                )
                .expect("their behaviour");
                let (b, registry) = if metrics {
                    let mut r = prometheus_client::registry::Registry::default();
                    let b = b.with_metrics(&mut r, libp2p_gossipsub::MetricsConfig::default());
                    (b, Some(Box::new(r)))
                } else {
                    (b, None)
                };
                Node::Theirs(Box::new(swarm(&key, b)), registry)
            }
        }
    }

    fn listen(&mut self) -> Multiaddr {
        let addr = memory_addr();
        match self {
            Node::Ours(s) => s.listen_on(addr.clone()),
            Node::Theirs(s, _) => s.listen_on(addr.clone()),
        }
        .expect("listen");
        addr
    }

    fn dial(&mut self, addr: Multiaddr) {
        match self {
            Node::Ours(s) => s.dial(addr),
            Node::Theirs(s, _) => s.dial(addr),
        }
        .expect("dial");
    }

    fn subscribe(&mut self) {
        match self {
            Node::Ours(s) => {
                s.behaviour_mut()
                    .subscribe(&gossipsub::IdentTopic::new(TOPIC))
                    .expect("subscribe");
            }
            Node::Theirs(s, _) => {
                s.behaviour_mut()
                    .subscribe(&libp2p_gossipsub::IdentTopic::new(TOPIC))
                    .expect("subscribe");
            }
        }
    }

    fn publish(&mut self, data: Vec<u8>) -> bool {
        match self {
            Node::Ours(s) => s
                .behaviour_mut()
                .publish(gossipsub::IdentTopic::new(TOPIC), data)
                .is_ok(),
            Node::Theirs(s, _) => s
                .behaviour_mut()
                .publish(libp2p_gossipsub::IdentTopic::new(TOPIC), data)
                .is_ok(),
        }
    }

    async fn next_event(&mut self) -> Ev {
        fn index(data: &[u8]) -> u64 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&data[..8]);
            u64::from_be_bytes(b)
        }
        match self {
            Node::Ours(s) => match s.select_next_some().await {
                SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) => {
                    Ev::Message(index(&message.data))
                }
                SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. }) => Ev::Subscribed,
                _ => Ev::Other,
            },
            Node::Theirs(s, _) => match s.select_next_some().await {
                SwarmEvent::Behaviour(libp2p_gossipsub::Event::Message { message, .. }) => {
                    Ev::Message(index(&message.data))
                }
                SwarmEvent::Behaviour(libp2p_gossipsub::Event::Subscribed { .. }) => Ev::Subscribed,
                _ => Ev::Other,
            },
        }
    }

    /// Messages received on the wire that were duplicates, if this node can tell.
    fn wire_duplicates(&self) -> Option<u64> {
        match self {
            Node::Ours(s) => Some(s.behaviour().counters().messages_duplicate),
            Node::Theirs(_, Some(registry)) => {
                let mut text = String::new();
                prometheus_client::encoding::text::encode(&mut text, registry).ok()?;
                let sum = |name: &str| -> u64 {
                    text.lines()
                        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
                        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                        .sum()
                };
                Some(
                    sum("topic_msg_recv_counts_unfiltered_total")
                        .saturating_sub(sum("topic_msg_recv_counts_total")),
                )
            }
            Node::Theirs(_, None) => None,
        }
    }

    fn mesh_size(&self) -> usize {
        match self {
            Node::Ours(s) => s
                .behaviour()
                .mesh_peers(&gossipsub::IdentTopic::new(TOPIC).hash())
                .count(),
            Node::Theirs(s, _) => s
                .behaviour()
                .mesh_peers(&libp2p_gossipsub::IdentTopic::new(TOPIC).hash())
                .count(),
        }
    }
}

fn payload(index: u64) -> Vec<u8> {
    let mut data = vec![0xa5u8; MSG_SIZE];
    data[..8].copy_from_slice(&index.to_be_bytes());
    data
}

/// CPU time used by the whole process so far.
fn process_cpu() -> Duration {
    cpu_time::ProcessTime::now().as_duration()
}

/// CPU time used by the calling thread so far.
fn thread_cpu() -> Duration {
    cpu_time::ThreadTime::now().as_duration()
}

// ---------------------------------------------------------------------------------------------
// (a) A network of 50 nodes.

enum NetCmd {
    Dial(Multiaddr),
    Publish(u64),
    /// Wire duplicates (if known) and mesh size.
    Stats(oneshot::Sender<(Option<u64>, usize)>),
}

struct NetShared {
    messages: usize,
    /// Per node and message: how many times it was delivered to the application.
    received: Vec<AtomicU8>,
    delivered: AtomicU64,
    app_duplicates: AtomicU64,
    subscribed: Vec<AtomicU64>,
    publish_failures: AtomicU64,
}

async fn net_node(
    mut node: Node,
    idx: usize,
    mut cmds: mpsc::UnboundedReceiver<NetCmd>,
    shared: Arc<NetShared>,
) {
    loop {
        tokio::select! {
            ev = node.next_event() => match ev {
                Ev::Message(m) => {
                    let slot = &shared.received[idx * shared.messages + m as usize];
                    if slot.fetch_add(1, Ordering::Relaxed) == 0 {
                        shared.delivered.fetch_add(1, Ordering::Relaxed);
                    } else {
                        shared.app_duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ev::Subscribed => {
                    shared.subscribed[idx].fetch_add(1, Ordering::Relaxed);
                }
                Ev::Other => {}
            },
            cmd = cmds.recv() => match cmd {
                Some(NetCmd::Dial(addr)) => node.dial(addr),
                Some(NetCmd::Publish(m)) => {
                    if !node.publish(payload(m)) {
                        shared.publish_failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(NetCmd::Stats(reply)) => {
                    let _ = reply.send((node.wire_duplicates(), node.mesh_size()));
                }
                None => break,
            },
        }
    }
}

struct NetResult {
    wall: Duration,
    cpu: Duration,
    delivered: u64,
    expected: u64,
    app_duplicates: u64,
    wire_duplicates: Option<u64>,
    mean_mesh: f64,
}

async fn network(which: Impl, args: &Args, nodes: usize, messages: usize, rate: u64) -> NetResult {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let shared = Arc::new(NetShared {
        messages,
        received: (0..nodes * messages).map(|_| AtomicU8::new(0)).collect(),
        delivered: AtomicU64::new(0),
        app_duplicates: AtomicU64::new(0),
        subscribed: (0..nodes).map(|_| AtomicU64::new(0)).collect(),
        publish_failures: AtomicU64::new(0),
    });
    // Topology: a random tree (connected) plus 4 random extra links per node.
    let mut edges = std::collections::BTreeSet::new();
    for i in 1..nodes {
        edges.insert((rng.gen_range(0..i), i));
    }
    for i in 0..nodes {
        for _ in 0..4 {
            let j = rng.gen_range(0..nodes);
            if j != i {
                edges.insert((i.min(j), i.max(j)));
            }
        }
    }
    let mut degree = vec![0u64; nodes];
    for (a, b) in &edges {
        degree[*a] += 1;
        degree[*b] += 1;
    }
    let mut addrs = Vec::new();
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    for idx in 0..nodes {
        let mut node = Node::new(
            which,
            Keypair::generate_ed25519(),
            gossipsub::ValidationMode::Strict,
            args.theirs_metrics,
        );
        addrs.push(node.listen());
        node.subscribe();
        let (tx, rx) = mpsc::unbounded_channel();
        senders.push(tx);
        handles.push(tokio::spawn(net_node(node, idx, rx, shared.clone())));
    }
    for (a, b) in &edges {
        let _ = senders[*a].send(NetCmd::Dial(addrs[*b].clone()));
    }
    // Every node knows every neighbour's subscription, then the meshes settle.
    let deadline = Instant::now() + Duration::from_secs(30);
    while (0..nodes).any(|i| shared.subscribed[i].load(Ordering::Relaxed) < degree[i]) {
        assert!(Instant::now() < deadline, "subscriptions did not propagate");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(HEARTBEAT * 4).await;

    let expected = (messages * (nodes - 1)) as u64;
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    for m in 0..messages {
        tick.tick().await;
        let publisher = rng.gen_range(0..nodes);
        // The publisher never receives its own message: count it as delivered to itself.
        shared.received[publisher * messages + m].store(1, Ordering::Relaxed);
        let _ = senders[publisher].send(NetCmd::Publish(m as u64));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while shared.delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let wall = t0.elapsed();
    let cpu = process_cpu() - cpu0;
    // Late duplicates (gossip) would still arrive; let them, then read the counters.
    tokio::time::sleep(HEARTBEAT * 2).await;
    let mut wire_duplicates = Some(0u64);
    let mut mesh_total = 0;
    for tx in &senders {
        let (reply, rx) = oneshot::channel();
        let _ = tx.send(NetCmd::Stats(reply));
        let (dup, mesh) = rx.await.unwrap_or((None, 0));
        mesh_total += mesh;
        wire_duplicates = match (wire_duplicates, dup) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
    drop(senders);
    for h in handles {
        let _ = h.await;
    }
    let failures = shared.publish_failures.load(Ordering::Relaxed);
    if failures > 0 {
        println!("  note: {failures} publish calls failed");
    }
    NetResult {
        wall,
        cpu,
        delivered: shared.delivered.load(Ordering::Relaxed),
        expected,
        app_duplicates: shared.app_duplicates.load(Ordering::Relaxed),
        wire_duplicates,
        mean_mesh: mesh_total as f64 / nodes as f64,
    }
}

// ---------------------------------------------------------------------------------------------
// (b) One node under test, 30 feeders.

enum NutCmd {
    /// Thread CPU time, new messages received, mesh size, sends dropped on full queues (ours).
    Mark(oneshot::Sender<(Duration, u64, usize, Option<u64>)>),
}

/// Runs the node under test on the current (dedicated) thread.
fn spawn_nut(
    which: Impl,
    ready: oneshot::Sender<(PeerId, Multiaddr)>,
    subscribed: Arc<AtomicU64>,
) -> (mpsc::UnboundedSender<NutCmd>, std::thread::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<NutCmd>();
    let thread = std::thread::Builder::new().name("node-under-test".to_owned());
    let handle = thread.spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let key = Keypair::generate_ed25519();
            let peer = key.public().to_peer_id();
            let mut node = Node::new(which, key, gossipsub::ValidationMode::Strict, false);
            let addr = node.listen();
            node.subscribe();
            let _ = ready.send((peer, addr));
            let mut received = 0u64;
            loop {
                tokio::select! {
                    ev = node.next_event() => match ev {
                        Ev::Message(_) => received += 1,
                        Ev::Subscribed => {
                            subscribed.fetch_add(1, Ordering::Relaxed);
                        }
                        Ev::Other => {}
                    },
                    cmd = rx.recv() => match cmd {
                        Some(NutCmd::Mark(reply)) => {
                            let dropped = match &node {
                                Node::Ours(s) => Some(s.behaviour().counters().send_queue_full),
                                Node::Theirs(..) => None,
                            };
                            let _ = reply.send((thread_cpu(), received, node.mesh_size(), dropped));
                        }
                        None => break,
                    },
                }
            }
        });
    });
    (tx, handle.expect("spawn the node-under-test thread"))
}

/// A feeder: ours, publishing while `running`, counting what it receives.
async fn feeder(
    mut node: Node,
    id: u64,
    running: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    pace: Option<Duration>,
    received: Arc<AtomicU64>,
    published: Arc<AtomicU64>,
) -> gossipsub::Counters {
    let mut seq = id << 40;
    let mut next = tokio::time::Instant::now();
    let on_event = |ev: Ev| {
        if let Ev::Message(_) = ev {
            received.fetch_add(1, Ordering::Relaxed);
        }
    };
    while !stop.load(Ordering::Relaxed) {
        if running.load(Ordering::Relaxed) {
            if let Some(pace) = pace {
                if tokio::time::Instant::now() >= next {
                    next += pace;
                    seq += 1;
                    if node.publish(payload(seq)) {
                        published.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::select! {
                    ev = node.next_event() => on_event(ev),
                    _ = tokio::time::sleep_until(next) => {}
                }
            } else {
                seq += 1;
                if node.publish(payload(seq)) {
                    published.fetch_add(1, Ordering::Relaxed);
                }
                // Handle whatever is ready, then let the other tasks run.
                for _ in 0..64 {
                    match node.next_event().now_or_never() {
                        Some(ev) => on_event(ev),
                        None => break,
                    }
                }
                tokio::task::yield_now().await;
            }
        } else {
            tokio::select! {
                ev = node.next_event() => on_event(ev),
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
    }
    match &node {
        Node::Ours(s) => *s.behaviour().counters(),
        Node::Theirs(..) => gossipsub::Counters::default(),
    }
}

struct FwdResult {
    cpu: Duration,
    forwarded: u64,
    received: u64,
    published: u64,
    mesh: usize,
}

async fn forward(which: Impl, feeders: Impl, seconds: u64, rate: u64) -> FwdResult {
    const FEEDERS: usize = 30;
    let (ready_tx, ready_rx) = oneshot::channel();
    let subscribed = Arc::new(AtomicU64::new(0));
    let (nut, nut_thread) = spawn_nut(which, ready_tx, subscribed.clone());
    let (_nut_peer, nut_addr) = ready_rx.await.expect("node under test ready");
    let running = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let published = Arc::new(AtomicU64::new(0));
    let pace = (rate > 0).then(|| Duration::from_secs_f64(FEEDERS as f64 / rate as f64));
    let mut handles = Vec::new();
    for i in 0..FEEDERS {
        let mut node = Node::new(
            feeders,
            Keypair::generate_ed25519(),
            gossipsub::ValidationMode::None,
            false,
        );
        node.subscribe();
        node.dial(nut_addr.clone());
        handles.push(tokio::spawn(feeder(
            node,
            i as u64 + 1,
            running.clone(),
            stop.clone(),
            pace,
            received.clone(),
            published.clone(),
        )));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while subscribed.load(Ordering::Relaxed) < FEEDERS as u64 {
        assert!(Instant::now() < deadline, "feeders did not subscribe");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(HEARTBEAT * 4).await;
    let mark = || async {
        let (reply, rx) = oneshot::channel();
        nut.send(NutCmd::Mark(reply))
            .expect("node under test alive");
        rx.await.expect("mark")
    };
    running.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cpu0, recv0, _, drop0) = mark().await;
    let fwd0 = received.load(Ordering::Relaxed);
    let pub0 = published.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (cpu1, recv1, mesh, drop1) = mark().await;
    if let (Some(a), Some(b)) = (drop0, drop1)
        && b > a
    {
        println!(
            "  note: the node under test dropped {} sends on full queues",
            b - a
        );
    }
    let fwd1 = received.load(Ordering::Relaxed);
    let pub1 = published.load(Ordering::Relaxed);
    running.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let mut queue_full = 0;
    for h in handles {
        if let Ok(c) = h.await {
            queue_full += c.send_queue_full;
        }
    }
    if queue_full > 0 {
        println!("  note: feeders dropped {queue_full} RPCs on full send queues");
    }
    drop(nut);
    let _ = tokio::task::spawn_blocking(move || nut_thread.join()).await;
    FwdResult {
        cpu: cpu1 - cpu0,
        forwarded: fwd1 - fwd0,
        received: recv1 - recv0,
        published: pub1 - pub0,
        mesh,
    }
}

// ---------------------------------------------------------------------------------------------

fn ratio(ours: f64, theirs: f64) -> String {
    if theirs == 0.0 {
        "n/a".to_owned()
    } else {
        format!("{:.2}", ours / theirs)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
    }
    let messages = args.messages.unwrap_or(if args.quick { 200 } else { 2000 });
    let publish_rate = args.publish_rate.unwrap_or(100);
    let seconds = args.seconds.unwrap_or(if args.quick { 5 } else { 20 });
    let want = |part: &str| args.only.as_deref().is_none_or(|o| o == part);
    let feeders = if args.feeders == "theirs" {
        Impl::Theirs
    } else {
        Impl::Ours
    };
    let impls: Vec<Impl> = [Impl::Ours, Impl::Theirs]
        .into_iter()
        .filter(|i| match args.impl_only.as_deref() {
            Some("ours") => *i == Impl::Ours,
            Some("theirs") => *i == Impl::Theirs,
            _ => true,
        })
        .collect();
    println!(
        "# compare: memory transport + plaintext + yamux; D=8/6/12, heartbeat {} ms, signed (Strict), flood publish, {} B messages",
        HEARTBEAT.as_millis(),
        MSG_SIZE
    );
    for run in 1..=args.runs {
        println!("# run {run}");
        if want("network") {
            let mut rows = Vec::new();
            for &which in &impls {
                let r = network(which, &args, 50, messages, publish_rate).await;
                let per_msg = r.cpu.as_secs_f64() * 1e6 / r.delivered.max(1) as f64;
                let dup = r
                    .wire_duplicates
                    .map(|d| format!("{:.2}", d as f64 / r.delivered.max(1) as f64))
                    .unwrap_or_else(|| "N/A".to_owned());
                println!(
                    "network[{}]: 50 nodes, {messages} msgs at {publish_rate}/s: wall {:.3} s, cpu {:.3} s, cpu/delivery {:.1} us, delivered {}/{}, app duplicates {}, wire duplicates/delivery {dup}, mean mesh {:.1}",
                    which.name(),
                    r.wall.as_secs_f64(),
                    r.cpu.as_secs_f64(),
                    per_msg,
                    r.delivered,
                    r.expected,
                    r.app_duplicates,
                    r.mean_mesh,
                );
                rows.push((r, per_msg));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            if rows.len() < 2 {
                continue;
            }
            let (o, t) = (&rows[0], &rows[1]);
            println!(
                "network ratio ours/libp2p-gossipsub: wall {}, cpu {}, cpu/delivery {}, wire duplicates {}",
                ratio(o.0.wall.as_secs_f64(), t.0.wall.as_secs_f64()),
                ratio(o.0.cpu.as_secs_f64(), t.0.cpu.as_secs_f64()),
                ratio(o.1, t.1),
                match (o.0.wire_duplicates, t.0.wire_duplicates) {
                    (Some(a), Some(b)) => ratio(a as f64, b as f64),
                    _ => "N/A".to_owned(),
                }
            );
        }
        for &rate in args.rates.iter().filter(|_| want("forward")) {
            let load = if rate == 0 {
                "full speed".to_owned()
            } else {
                format!("{rate} msgs/s")
            };
            let mut rows = Vec::new();
            for &which in &impls {
                let r = forward(which, feeders, seconds, rate).await;
                let cpu = r.cpu.as_secs_f64();
                let fwd_rate = r.forwarded as f64 / cpu;
                let recv_rate = r.received as f64 / cpu;
                println!(
                    "forward[{}]: 30 feeders ({}) at {load}, {seconds} s: node cpu {:.3} s, received {} ({:.0}/cpu-s), forwarded {} ({:.0}/cpu-s, {:.1} us cpu/forward), mesh {}, feeders published {}",
                    which.name(),
                    feeders.name(),
                    cpu,
                    r.received,
                    recv_rate,
                    r.forwarded,
                    fwd_rate,
                    cpu * 1e6 / r.forwarded.max(1) as f64,
                    r.mesh,
                    r.published,
                );
                rows.push((fwd_rate, recv_rate));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            if rows.len() < 2 {
                continue;
            }
            println!(
                "forward ratio ours/libp2p-gossipsub at {load}: forwarded/cpu-s {}, received/cpu-s {} (higher is better; cpu per forward ratio {})",
                ratio(rows[0].0, rows[1].0),
                ratio(rows[0].1, rows[1].1),
                ratio(1.0 / rows[0].0, 1.0 / rows[1].0),
            );
        }
    }
}
