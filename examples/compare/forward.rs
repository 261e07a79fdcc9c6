//! (b) One node under test, 30 feeders.

use super::*;
use crate::accounting::{Accounting, Link};

/// What the node under test reports at a mark.
#[derive(Clone)]
pub(crate) struct NutMark {
    /// Its thread's CPU time.
    pub(crate) cpu: Duration,
    /// Its thread's time on a CPU plus waiting for one (runnable), from
    /// `/proc/thread-self/schedstat` (Linux; `None` elsewhere): close to the wall time when
    /// the thread never waits for input, well below it when it does.
    pub(crate) runnable: Option<Duration>,
    /// New messages delivered to its application since it started.
    pub(crate) received: u64,
    /// Of `received`, how many came from each feeder (index = feeder id, the top bits of the
    /// payload index: [`feeder_of`]).
    pub(crate) by_feeder: Vec<u64>,
    /// Payload indices delivered more than once.
    pub(crate) received_twice: u64,
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
            let mut by_feeder = Vec::new();
            let mut seen = std::collections::HashSet::new();
            let mut received_twice = 0;
            loop {
                tokio::select! {
                    ev = node.next_event() => match ev {
                        Ev::Message(index) => {
                            received += 1;
                            if !seen.insert(index) {
                                received_twice += 1;
                            }
                            let f = feeder_of(index);
                            if by_feeder.len() <= f {
                                by_feeder.resize(f + 1, 0);
                            }
                            by_feeder[f] += 1;
                        }
                        Ev::Subscribed => {
                            subscribed.fetch_add(1, Ordering::Relaxed);
                        }
                        Ev::SlowPeer { .. } | Ev::Other => {}
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
                                runnable: runnable_time(),
                                received,
                                by_feeder: by_feeder.clone(),
                                received_twice,
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

/// Feeder `id` publishes payload indices `id << FEEDER_SHIFT | n`.
pub(crate) const FEEDER_SHIFT: u32 = 40;

/// The feeder that published payload index `index`.
pub(crate) fn feeder_of(index: u64) -> usize {
    usize::try_from(index >> FEEDER_SHIFT).unwrap_or(usize::MAX)
}

/// What a feeder reports when it stops.
pub(crate) struct FeederReport {
    /// Messages it published (all meant for the node under test, its only peer).
    pub(crate) published: u64,
    /// Publishes to the node under test it dropped (full or expired queue), if it can tell.
    pub(crate) dropped: Option<u64>,
    /// Ours only: its counters.
    pub(crate) counters: Option<gossipsub::Counters>,
}

/// A feeder: publishing while `running`, counting what it receives and what it drops on its
/// link to `nut`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn feeder(
    mut node: Node,
    id: u64,
    nut: PeerId,
    running: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    pace: Option<Duration>,
    received: Arc<AtomicU64>,
    published: Arc<AtomicU64>,
) -> FeederReport {
    let mut seq = id << FEEDER_SHIFT;
    let mut next = tokio::time::Instant::now();
    let mut mine = 0u64;
    let mut dropped = Some(0u64);
    let mut on_event = |ev: Ev| match ev {
        Ev::Message(_) => {
            received.fetch_add(1, Ordering::Relaxed);
        }
        Ev::SlowPeer { peer, publishes } if peer == nut => {
            dropped = dropped.zip(publishes).map(|(a, b)| a + b);
        }
        _ => {}
    };
    while !stop.load(Ordering::Relaxed) {
        if running.load(Ordering::Relaxed) {
            if let Some(pace) = pace {
                if tokio::time::Instant::now() >= next {
                    next += pace;
                    seq += 1;
                    if node.publish_offered(payload(seq)) {
                        published.fetch_add(1, Ordering::Relaxed);
                        mine += 1;
                    }
                }
                tokio::select! {
                    ev = node.next_event() => on_event(ev),
                    _ = tokio::time::sleep_until(next) => {}
                }
            } else {
                seq += 1;
                if node.publish_offered(payload(seq)) {
                    published.fetch_add(1, Ordering::Relaxed);
                    mine += 1;
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
    let counters = match &node {
        Node::Ours(s) => Some(*s.behaviour().counters()),
        Node::Theirs(..) => None,
    };
    FeederReport {
        published: mine,
        dropped,
        counters,
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

pub(crate) async fn forward(which: Impl, feeders: Impl, seconds: u64, rate: u64) -> FwdResult {
    const FEEDERS: usize = 30;
    let (ready_tx, ready_rx) = oneshot::channel();
    let subscribed = Arc::new(AtomicU64::new(0));
    let (nut, nut_thread) = spawn_nut(which, ready_tx, subscribed.clone());
    let (nut_peer, nut_addr) = ready_rx.await.expect("node under test ready");
    let running = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let published = Arc::new(AtomicU64::new(0));
    let pace = (rate > 0).then(|| Duration::from_secs_f64(FEEDERS as f64 / rate as f64));
    let mut handles = Vec::new();
    for i in 0..FEEDERS {
        let mut node = Node::feeder(feeders, Keypair::generate_ed25519());
        node.subscribe();
        node.dial(nut_addr.clone());
        handles.push(tokio::spawn(feeder(
            node,
            i as u64 + 1,
            nut_peer,
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
    let mut links = vec![Link::default(); FEEDERS];
    let mut streams_reopened = Some(0);
    for (i, h) in handles.into_iter().enumerate() {
        let report = h.await.expect("feeder task");
        links[i].published = report.published;
        links[i].dropped = report.dropped;
        streams_reopened = streams_reopened
            .zip(report.counters)
            .map(|(a, c)| a + c.outbound_streams_reopened);
    }
    drop(nut);
    let _ = tokio::task::spawn_blocking(move || nut_thread.join()).await;
    let accounting = books(links, &last, streams_reopened);
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

/// The accounting of a run: `links[i]` is feeder `i + 1`'s link (its published and dropped
/// counts set), `last` the NUT's mark after the drain.
pub(crate) fn books(
    mut links: Vec<Link>,
    last: &NutMark,
    streams_reopened: Option<u64>,
) -> Accounting {
    let mut unattributed = 0;
    for (f, &n) in last.by_feeder.iter().enumerate() {
        match f.checked_sub(1).and_then(|i| links.get_mut(i)) {
            Some(link) => link.received = n,
            None => unattributed += n,
        }
    }
    Accounting {
        links,
        received_unattributed: unattributed,
        received_twice: last.received_twice,
        nut_dropped: last
            .counters
            .map(|c| c.signature_checks_over_budget + c.messages_over_peer_budget),
        streams_reopened,
    }
}

/// The calling thread's time running plus waiting to run (`/proc/thread-self/schedstat`: ns on
/// the CPU, ns waiting on a run queue, timeslices).
pub(crate) fn runnable_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<u64>().ok());
    let on_cpu = it.next()??;
    let waiting = it.next()??;
    Some(Duration::from_nanos(on_cpu.saturating_add(waiting)))
}
