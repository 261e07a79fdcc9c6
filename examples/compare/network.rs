//! (a) A network of 50 nodes.

use super::*;

pub(crate) enum NetCmd {
    Dial(Multiaddr),
    Publish(u64),
    /// Wire duplicates (if known) and mesh size.
    Stats(oneshot::Sender<(Option<u64>, usize)>),
}

pub(crate) struct NetShared {
    pub(crate) messages: usize,
    /// Per node and message: how many times it was delivered to the application.
    pub(crate) received: Vec<AtomicU8>,
    pub(crate) delivered: AtomicU64,
    pub(crate) app_duplicates: AtomicU64,
    pub(crate) subscribed: Vec<AtomicU64>,
    pub(crate) publish_failures: AtomicU64,
}

pub(crate) async fn net_node(
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
                Ev::SlowPeer { .. } | Ev::Other => {}
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

pub(crate) struct NetResult {
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
    pub(crate) delivered: u64,
    pub(crate) expected: u64,
    pub(crate) app_duplicates: u64,
    pub(crate) wire_duplicates: Option<u64>,
    pub(crate) mean_mesh: f64,
}

pub(crate) async fn network(
    which: Impl,
    args: &Args,
    nodes: usize,
    messages: usize,
    rate: u64,
) -> NetResult {
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
