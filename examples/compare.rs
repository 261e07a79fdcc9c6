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
//!     The node under test has D_hi = D = 8 for both implementations (equal mesh sizes). After
//!     the window the feeders stop and the backlog drains; every message published over the
//!     run must then be received by the node under test or counted as dropped, else the run
//!     fails (see BENCHMARKS.md). The single-core Ed25519 verification rate is measured first,
//!     and received-per-CPU-second is also given as a share of it.
//!
//! `--runs N` repeats and ends with min / median / max of every figure. `--callgrind` has the
//! node-under-test thread bracket its window with callgrind client requests, for
//! `benches/callgrind.sh` (instruction counts of both implementations in one invocation).
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
    /// Bracket each measured window with callgrind client requests (zero, then dump the
    /// statistics); run under `valgrind --tool=callgrind` by `benches/callgrind.sh`.
    #[arg(long)]
    callgrind: bool,
    /// Only measure N single-core Ed25519 verifications (the physical limit) and exit.
    #[arg(long)]
    verify_only: Option<usize>,
    /// How long publishes and forwards may wait in a send queue (both implementations).
    /// `benches/callgrind.sh` raises it: under valgrind wall time runs ~50x slower than the
    /// work, and both implementations would drop their forwards as stale.
    #[arg(long)]
    queue_seconds: Option<u64>,
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

/// D_hi of the network test; the forward test's node under test uses D_hi = D = 8 for both
/// implementations, so both forward to the same number of mesh peers (with 30 feeders
/// grafting it, ours otherwise keeps up to D_hi of them, libp2p-gossipsub fewer).
const MESH_N_HIGH: usize = 12;

/// `--queue-seconds`: how long publishes and forwards may wait in a send queue, for both
/// implementations (default: each one's default, 5 s and 1 s).
static QUEUE_DURATION: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();

fn ours_config(validation: gossipsub::ValidationMode, mesh_n_high: usize) -> gossipsub::Config {
    let mut b = gossipsub::ConfigBuilder::default();
    b.mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(mesh_n_high)
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
        .validation_mode(validation);
    if let Some(d) = QUEUE_DURATION.get() {
        b.forward_queue_duration(*d).publish_queue_duration(*d);
    }
    b.build().expect("our config")
}

fn theirs_config(mesh_n_high: usize) -> libp2p_gossipsub::Config {
    let mut b = libp2p_gossipsub::ConfigBuilder::default();
    b.mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(mesh_n_high)
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
        .validation_mode(libp2p_gossipsub::ValidationMode::Strict);
    if let Some(d) = QUEUE_DURATION.get() {
        b.forward_queue_duration(*d).publish_queue_duration(*d);
    }
    b.build().expect("their config")
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
        mesh_n_high: usize,
    ) -> Self {
        match which {
            Impl::Ours => {
                let b = gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    ours_config(validation, mesh_n_high),
                )
                .expect("our behaviour");
                Node::Ours(Box::new(swarm(&key, b)))
            }
            Impl::Theirs => {
                let b = libp2p_gossipsub::Behaviour::new(
                    libp2p_gossipsub::MessageAuthenticity::Signed(key.clone()),
                    theirs_config(mesh_n_high),
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
            MESH_N_HIGH,
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

/// What the node under test reports at a mark.
#[derive(Clone, Copy)]
struct NutMark {
    /// Its thread's CPU time.
    cpu: Duration,
    /// New messages delivered to its application since it started.
    received: u64,
    mesh: usize,
    /// Ours only: its counters (drops).
    counters: Option<gossipsub::Counters>,
}

/// What the node-under-test thread does with callgrind at a mark (`--callgrind`): client
/// requests act on the calling thread's profile, so the NUT thread issues them itself.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cg {
    Nothing,
    /// CALLGRIND_ZERO_STATS after the mark: the window starts.
    Zero,
    /// CALLGRIND_DUMP_STATS before the mark: the window ends.
    Dump,
}

enum NutCmd {
    Mark(oneshot::Sender<NutMark>, Cg),
}

/// Runs the node under test on a dedicated thread (current-thread runtime: its connection
/// tasks run there too), for either implementation; its CPU is that thread's CPU.
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
            // D_hi = D for both implementations: equal mesh sizes.
            let mut node = Node::new(which, key, gossipsub::ValidationMode::Strict, false, 8);
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
                        Some(NutCmd::Mark(reply, cg)) => {
                            if cg == Cg::Dump {
                                callgrind::dump_stats();
                            }
                            let counters = match &node {
                                Node::Ours(s) => Some(*s.behaviour().counters()),
                                Node::Theirs(..) => None,
                            };
                            let _ = reply.send(NutMark {
                                cpu: thread_cpu(),
                                received,
                                mesh: node.mesh_size(),
                                counters,
                            });
                            if cg == Cg::Zero {
                                callgrind::zero_stats();
                            }
                        }
                        None => break,
                    },
                }
            }
        });
    });
    (tx, handle.expect("spawn the node-under-test thread"))
}

/// A feeder: publishing while `running`, counting what it receives.
async fn feeder(
    mut node: Node,
    id: u64,
    running: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    pace: Option<Duration>,
    received: Arc<AtomicU64>,
    published: Arc<AtomicU64>,
) -> Option<gossipsub::Counters> {
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
        Node::Ours(s) => Some(*s.behaviour().counters()),
        Node::Theirs(..) => None,
    }
}

struct FwdResult {
    /// NUT thread CPU over the measured window.
    cpu: Duration,
    /// Messages the NUT sent that feeders delivered (mesh forwards and IWANT answers).
    forwarded: u64,
    /// New messages the NUT delivered to its application in the window.
    received: u64,
    /// Messages the feeders published in the window.
    published: u64,
    mesh: usize,
    /// NUT sends dropped in the window (ours only): full queues, expired in the queue.
    nut_send_drops: Option<u64>,
    /// The whole-run accounting of the feeders' messages (see [`Accounting`]).
    accounting: Accounting,
}

/// The whole-run accounting of the messages the feeders published: every one must be
/// received by the node under test or counted as dropped by someone.
struct Accounting {
    published: u64,
    received: u64,
    /// Feeders' publishes dropped on their side (full or expired send queue; ours only).
    feeder_drops: Option<u64>,
    /// Copies the NUT dropped unverified over its per-peer signature budget (ours only).
    nut_drops: Option<u64>,
    /// The feeders' outbound streams to the NUT that were closed under them and reopened
    /// (ours only): what was written into a closed stream is lost.
    feeder_streams_reopened: Option<u64>,
}

impl Accounting {
    /// `None` when drops cannot be counted (libp2p-gossipsub feeders); else whether every
    /// message is accounted for and none was delivered twice.
    fn consistent(&self) -> Option<bool> {
        let drops = self.feeder_drops? + self.nut_drops.unwrap_or(0);
        Some(self.received <= self.published && self.received + drops >= self.published)
    }

    fn describe(&self) -> String {
        let opt = |v: Option<u64>| v.map_or("n/a".to_owned(), |v| v.to_string());
        let verdict = match self.consistent() {
            Some(true) => "ok",
            Some(false) => "VIOLATED",
            None => "not checkable (libp2p-gossipsub feeders count no drops)",
        };
        format!(
            "published {} = received {} + feeder drops {} + NUT drops {} (unaccounted {}): {verdict}; feeder streams reopened {}",
            self.published,
            self.received,
            opt(self.feeder_drops),
            opt(self.nut_drops),
            self.published as i64
                - self.received as i64
                - self.feeder_drops.unwrap_or(0) as i64
                - self.nut_drops.unwrap_or(0) as i64,
            opt(self.feeder_streams_reopened),
        )
    }
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
            MESH_N_HIGH,
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
    let deadline = Instant::now() + Duration::from_secs(60);
    while subscribed.load(Ordering::Relaxed) < FEEDERS as u64 {
        assert!(Instant::now() < deadline, "feeders did not subscribe");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(HEARTBEAT * 4).await;
    let nut_ref = &nut;
    let mark_cg = move |cg: Cg| async move {
        let (reply, rx) = oneshot::channel();
        nut_ref
            .send(NutCmd::Mark(reply, cg))
            .expect("node under test alive");
        rx.await.expect("mark")
    };
    let mark = || mark_cg(Cg::Nothing);
    let sends_dropped = |m: &NutMark| m.counters.map(|c| c.send_queue_full + c.send_queue_expired);
    running.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m0 = mark_cg(Cg::Zero).await;
    let fwd0 = received.load(Ordering::Relaxed);
    let pub0 = published.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let m1 = mark_cg(Cg::Dump).await;
    let fwd1 = received.load(Ordering::Relaxed);
    let pub1 = published.load(Ordering::Relaxed);
    // Stop publishing and let the backlog drain (until the NUT receives nothing new for three
    // heartbeats, at most 20 s), then account for every message of the run.
    running.store(false, Ordering::Relaxed);
    let mut last = mark().await;
    let drain_deadline = Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(HEARTBEAT * 3).await;
        let now = mark().await;
        if now.received == last.received || Instant::now() > drain_deadline {
            last = now;
            break;
        }
        last = now;
    }
    stop.store(true, Ordering::Relaxed);
    let mut feeder_counters = Some(gossipsub::Counters::default());
    for h in handles {
        let c = h.await.ok().flatten();
        feeder_counters = match (feeder_counters, c) {
            (Some(mut sum), Some(c)) => {
                sum.send_queue_full += c.send_queue_full;
                sum.send_queue_expired += c.send_queue_expired;
                sum.outbound_streams_reopened += c.outbound_streams_reopened;
                Some(sum)
            }
            _ => None,
        };
    }
    drop(nut);
    let _ = tokio::task::spawn_blocking(move || nut_thread.join()).await;
    let accounting = Accounting {
        published: published.load(Ordering::Relaxed),
        received: last.received,
        feeder_drops: feeder_counters.map(|c| c.send_queue_full + c.send_queue_expired),
        nut_drops: last.counters.map(|c| c.signature_checks_over_budget),
        feeder_streams_reopened: feeder_counters.map(|c| c.outbound_streams_reopened),
    };
    FwdResult {
        cpu: m1.cpu - m0.cpu,
        forwarded: fwd1 - fwd0,
        received: m1.received - m0.received,
        published: pub1 - pub0,
        mesh: m1.mesh,
        nut_send_drops: sends_dropped(&m1)
            .zip(sends_dropped(&m0))
            .map(|(b, a)| b - a),
        accounting,
    }
}

// ---------------------------------------------------------------------------------------------
// The single-core Ed25519 verification rate, the physical limit of a node that verifies every
// message it receives.

/// Verifies the signature of a signed 1 KiB message (as our node checks it) `n` times on this
/// thread; returns the thread CPU it took.
fn verify_rate(n: usize) -> Duration {
    let key = Keypair::generate_ed25519();
    let mut signed = b"libp2p-pubsub:".to_vec();
    signed.extend_from_slice(&payload(1));
    let signature = key.sign(&signed).expect("sign");
    let public = key.public();
    let t0 = thread_cpu();
    callgrind::zero_stats();
    let mut ok = 0;
    for _ in 0..n {
        ok += usize::from(public.verify(std::hint::black_box(&signed), &signature));
    }
    callgrind::dump_stats();
    assert_eq!(ok, n, "every signature verifies");
    thread_cpu() - t0
}

// ---------------------------------------------------------------------------------------------
// Callgrind client requests: with `--callgrind`, the measured window is bracketed by
// CALLGRIND_ZERO_STATS and CALLGRIND_DUMP_STATS, so `benches/callgrind.sh` reads the
// instructions of exactly that window (per thread with `--separate-threads=yes`).

mod callgrind {
    use std::sync::atomic::{AtomicBool, Ordering};

    pub(crate) static ENABLED: AtomicBool = AtomicBool::new(false);

    /// Valgrind's client-request base of callgrind ('C', 'T').
    const BASE: u64 = (b'C' as u64) << 24 | (b'T' as u64) << 16;

    #[cfg(target_arch = "x86_64")]
    fn request(code: u64) {
        if !ENABLED.load(Ordering::Relaxed) {
            return;
        }
        let args: [u64; 6] = [code, 0, 0, 0, 0, 0];
        // SAFETY: valgrind's documented client-request sequence for amd64: the four rotations
        // of rdi add up to 128 bits (rdi is unchanged) and `xchg rbx, rbx` is a no-op; outside
        // valgrind the sequence does nothing and rdx keeps its default (0). Valgrind reads
        // `args` through rax.
        unsafe {
            std::arch::asm!(
                "rol rdi, 3",
                "rol rdi, 13",
                "rol rdi, 61",
                "rol rdi, 51",
                "xchg rbx, rbx",
                in("rax") args.as_ptr(),
                inout("rdx") 0u64 => _,
                inout("rdi") 0u64 => _,
                options(nostack),
            );
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn request(_code: u64) {}

    /// CALLGRIND_ZERO_STATS.
    pub(crate) fn zero_stats() {
        request(BASE + 1);
    }

    /// CALLGRIND_DUMP_STATS.
    pub(crate) fn dump_stats() {
        request(BASE);
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

/// Min / median / max of `values`.
fn spread(values: &[f64], digits: usize) -> String {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return "n/a".to_owned();
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    format!(
        "{:.digits$} / {:.digits$} / {:.digits$}",
        v[0],
        median,
        v[v.len() - 1]
    )
}

/// Figures collected over the runs, by name, for the min/median/max summary.
#[derive(Default)]
struct Summary(std::collections::BTreeMap<String, Vec<f64>>);

impl Summary {
    fn add(&mut self, name: impl Into<String>, value: f64) {
        self.0.entry(name.into()).or_default().push(value);
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
    callgrind::ENABLED.store(args.callgrind, Ordering::Relaxed);
    if let Some(s) = args.queue_seconds {
        let _ = QUEUE_DURATION.set(Duration::from_secs(s));
    }
    if let Some(n) = args.verify_only {
        let cpu = verify_rate(n);
        println!(
            "verify: {n} Ed25519 verifications of a signed 1 KiB message, thread cpu {:.3} s ({:.0}/cpu-s)",
            cpu.as_secs_f64(),
            n as f64 / cpu.as_secs_f64().max(1e-9)
        );
        return;
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
        "# compare: memory transport + plaintext + yamux; D=8/6/{MESH_N_HIGH} (forward test's node under test: D_hi=8 for both), heartbeat {} ms, signed (Strict), flood publish, {} B messages",
        HEARTBEAT.as_millis(),
        MSG_SIZE
    );
    // The physical limit, measured in the same run: single-core Ed25519 verification.
    let verify_per_cpu_s = if args.callgrind {
        None
    } else {
        let n = 20_000;
        let cpu = verify_rate(n);
        let per_s = n as f64 / cpu.as_secs_f64().max(1e-9);
        println!(
            "verify: single-core Ed25519 verification of a signed 1 KiB message: {per_s:.0}/cpu-s ({:.1} us each)",
            1e6 / per_s
        );
        Some(per_s)
    };
    let mut summary = Summary::default();
    let mut violations = 0;
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
                let check = if r.delivered == r.expected && r.app_duplicates == 0 {
                    "ok"
                } else {
                    violations += 1;
                    "VIOLATED"
                };
                println!(
                    "network[{}]: 50 nodes, {messages} msgs at {publish_rate}/s: wall {:.3} s, cpu {:.3} s, cpu/delivery {:.1} us, delivered {}/{}, app duplicates {}, wire duplicates/delivery {dup}, mean mesh {:.1}; check (every message delivered once): {check}",
                    which.name(),
                    r.wall.as_secs_f64(),
                    r.cpu.as_secs_f64(),
                    per_msg,
                    r.delivered,
                    r.expected,
                    r.app_duplicates,
                    r.mean_mesh,
                );
                if args.callgrind {
                    println!(
                        "callgrind-window: test=network impl={} delivered={}",
                        which.name(),
                        r.delivered
                    );
                }
                summary.add(
                    format!("network[{}] cpu/delivery us", which.name()),
                    per_msg,
                );
                rows.push((r, per_msg));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            if rows.len() < 2 {
                continue;
            }
            let (o, t) = (&rows[0], &rows[1]);
            summary.add("network ratio cpu/delivery", o.1 / t.1);
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
                let drops = r.nut_send_drops.map_or("n/a".to_owned(), |d| d.to_string());
                let of_verify = verify_per_cpu_s
                    .map(|v| format!(" = {:.0} % of the verify rate", 100.0 * recv_rate / v))
                    .unwrap_or_default();
                println!(
                    "forward[{}] at {load}: 30 feeders ({}), {seconds} s: node cpu {:.3} s, received {} ({:.0}/cpu-s{of_verify}), forwarded {} ({:.0}/cpu-s, {:.1} us cpu/forward), mesh {}, feeders published {}, node sends dropped (full or expired queue) {drops}",
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
                let consistent = r.accounting.consistent();
                if consistent == Some(false) {
                    violations += 1;
                }
                println!(
                    "  accounting[{}] at {load}, whole run: {}",
                    which.name(),
                    r.accounting.describe()
                );
                if args.callgrind {
                    println!(
                        "callgrind-window: test=forward impl={} received={} forwarded={}",
                        which.name(),
                        r.received,
                        r.forwarded
                    );
                }
                summary.add(
                    format!("forward[{}] at {load}: received/cpu-s", which.name()),
                    recv_rate,
                );
                summary.add(
                    format!("forward[{}] at {load}: forwarded/cpu-s", which.name()),
                    fwd_rate,
                );
                summary.add(
                    format!("forward[{}] at {load}: us cpu/forward", which.name()),
                    cpu * 1e6 / r.forwarded.max(1) as f64,
                );
                rows.push((fwd_rate, recv_rate));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            if rows.len() < 2 {
                continue;
            }
            summary.add(
                format!("forward ratio at {load}: cpu per forward ours/theirs"),
                rows[1].0 / rows[0].0,
            );
            println!(
                "forward ratio ours/libp2p-gossipsub at {load}: forwarded/cpu-s {}, received/cpu-s {} (higher is better; cpu per forward ratio {})",
                ratio(rows[0].0, rows[1].0),
                ratio(rows[0].1, rows[1].1),
                ratio(1.0 / rows[0].0, 1.0 / rows[1].0),
            );
        }
    }
    if args.runs > 1 {
        println!("# summary over {} runs: min / median / max", args.runs);
        for (name, values) in &summary.0 {
            let large = values.iter().any(|v| v.abs() >= 100.0);
            println!("{name}: {}", spread(values, if large { 0 } else { 2 }));
        }
    }
    if violations > 0 {
        println!("# CONSISTENCY CHECK FAILED {violations} time(s): see the accounting lines");
        std::process::exit(1);
    }
}
