//! (b) One node under test, 30 feeders.

use super::*;

/// What the node under test reports at a mark.
#[derive(Clone, Copy)]
pub(crate) struct NutMark {
    /// Its thread's CPU time.
    pub(crate) cpu: Duration,
    /// New messages delivered to its application since it started.
    pub(crate) received: u64,
    pub(crate) mesh: usize,
    /// Ours only: its counters (drops).
    pub(crate) counters: Option<gossipsub::Counters>,
}

/// What the node-under-test thread does with callgrind at a mark (`--callgrind`): client
/// requests act on the calling thread's profile, so the NUT thread issues them itself.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cg {
    Nothing,
    /// CALLGRIND_ZERO_STATS after the mark: the window starts.
    Zero,
    /// CALLGRIND_DUMP_STATS before the mark: the window ends.
    Dump,
}

pub(crate) enum NutCmd {
    Mark(oneshot::Sender<NutMark>, Cg),
}

/// Runs the node under test on a dedicated thread (current-thread runtime: its connection
/// tasks run there too), for either implementation; its CPU is that thread's CPU.
pub(crate) fn spawn_nut(
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
pub(crate) async fn feeder(
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

pub(crate) struct FwdResult {
    /// NUT thread CPU over the measured window.
    pub(crate) cpu: Duration,
    /// Messages the NUT sent that feeders delivered (mesh forwards and IWANT answers).
    pub(crate) forwarded: u64,
    /// New messages the NUT delivered to its application in the window.
    pub(crate) received: u64,
    /// Messages the feeders published in the window.
    pub(crate) published: u64,
    pub(crate) mesh: usize,
    /// NUT sends dropped in the window (ours only): full queues, expired in the queue.
    pub(crate) nut_send_drops: Option<u64>,
    /// The whole-run accounting of the feeders' messages (see [`Accounting`]).
    pub(crate) accounting: Accounting,
}

/// The whole-run accounting of the messages the feeders published: every one must be
/// received by the node under test or counted as dropped by someone.
pub(crate) struct Accounting {
    pub(crate) published: u64,
    pub(crate) received: u64,
    /// Feeders' publishes dropped on their side (full or expired send queue; ours only).
    pub(crate) feeder_drops: Option<u64>,
    /// Copies the NUT dropped unverified over its per-peer signature budget (ours only).
    pub(crate) nut_drops: Option<u64>,
    /// The feeders' outbound streams to the NUT that were closed under them and reopened
    /// (ours only): what was written into a closed stream is lost.
    pub(crate) feeder_streams_reopened: Option<u64>,
}

impl Accounting {
    /// `None` when drops cannot be counted (libp2p-gossipsub feeders); else whether every
    /// message is accounted for and none was delivered twice.
    pub(crate) fn consistent(&self) -> Option<bool> {
        let drops = self.feeder_drops? + self.nut_drops.unwrap_or(0);
        Some(self.received <= self.published && self.received + drops >= self.published)
    }

    pub(crate) fn describe(&self) -> String {
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

pub(crate) async fn forward(which: Impl, feeders: Impl, seconds: u64, rate: u64) -> FwdResult {
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
