//! (c) `overload`: the node under test (NUT) fed by 30 raw feeders ([`rawfeed`]) with
//! pre-signed messages at 1x, 2x and 4x its sustainable rate.
//!
//! The sustainable rate of an implementation is the highest aggregate rate at which its NUT
//! delivers (receives and verifies) at least 99 % of the messages due in the window, with no
//! feeder frame dropped stale; it is searched by doubling from `--overload-start` and then
//! bisecting (2 s windows; a failed probe is retried once), unless `--overload-base` gives it.
//! It depends on the CPU share the NUT's thread gets, so on a shared machine compare the
//! per-CPU-second figures, not the rates. Each implementation is then run
//! at multiples of its own sustainable rate.

use super::*;
use crate::accounting::{Accounting, Link};
use crate::forward::{Cg, NutCmd, NutMark, books, spawn_nut};
use crate::rawfeed::{MAX_AGE, Pool, RawReport, Schedule, Shared, raw_feeder};

pub(crate) const FEEDERS: usize = 30;

/// Time from the start of the schedule to the start of the window.
const LEAD_IN: Duration = Duration::from_millis(500);

/// The figures of one overload run.
pub(crate) struct OverloadResult {
    /// Aggregate rate the feeders were scheduled at, messages/s.
    pub(crate) rate: f64,
    /// NUT thread CPU over the window.
    pub(crate) cpu: Duration,
    /// The share of the window the NUT thread was runnable (on a CPU or waiting for one):
    /// near 1 when it is CPU-bound, lower when it waits for input (or its writes wait).
    pub(crate) busy: Option<f64>,
    /// CPU of the rest of the process (the feeders) over the window.
    pub(crate) feeders_cpu: Duration,
    /// Frames due by the end of the window but neither written nor dropped stale: the
    /// feeders' write backlog (blocked by the NUT's flow control, or starved of CPU).
    pub(crate) backlog: u64,
    /// Frames due in the window.
    pub(crate) due: u64,
    /// Frames written to the NUT in the window.
    pub(crate) written: u64,
    /// Frames the feeders dropped stale in the window (the NUT did not read them in time).
    pub(crate) stale: u64,
    /// New messages the NUT delivered to its application in the window.
    pub(crate) delivered: u64,
    /// Ours only: signatures the NUT verified in the window.
    pub(crate) verified: Option<u64>,
    /// Messages the NUT sent to the feeders in the window.
    pub(crate) forwarded: u64,
    /// Ours only: messages the NUT dropped on arrival in the window (per-peer budgets).
    pub(crate) inbound_drops: Option<u64>,
    /// Ours only: sends the NUT dropped in the window, on full queues and expired in them.
    pub(crate) send_drops: Option<(u64, u64)>,
    /// Median and 90th percentile of the forwards' ages (time since due) in the window.
    pub(crate) forward_age: Option<(Duration, Duration)>,
    pub(crate) mesh: usize,
    /// Frames due beyond the pre-signed pool (must be 0).
    pub(crate) pool_exhausted: u64,
    /// Inbound frames the feeders could not parse (must be 0).
    pub(crate) malformed: u64,
    /// The whole run's accounting.
    pub(crate) accounting: Accounting,
}

impl OverloadResult {
    /// Whether the NUT kept up: at least 99 % of what was due delivered, nothing stale.
    pub(crate) fn sustained(&self) -> bool {
        self.stale == 0 && self.delivered as f64 >= 0.99 * self.due as f64
    }
}

/// Frames each feeder needs for a run at `rate` with a `window`.
pub(crate) fn frames_needed(rate: f64, window: Duration) -> usize {
    let seconds = (LEAD_IN + window).as_secs_f64() + 1.0;
    (rate / FEEDERS as f64 * seconds).ceil() as usize + 16
}

/// One run at `rate` (aggregate messages/s) with the window `window`.
pub(crate) async fn overload_run(
    which: Impl,
    pool: Arc<Pool>,
    rate: f64,
    window: Duration,
) -> OverloadResult {
    let (ready_tx, ready_rx) = oneshot::channel();
    let subscribed = Arc::new(AtomicU64::new(0));
    let (nut, nut_thread) = spawn_nut(which, ready_tx, subscribed.clone());
    let (_, nut_addr) = ready_rx.await.expect("node under test ready");
    let shared = Arc::new(Shared::default());
    let (go_tx, go_rx) = tokio::sync::watch::channel(None);
    let in_window = Arc::new(AtomicBool::new(false));
    let halt = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let feeders_ready = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..FEEDERS)
        .map(|f| {
            tokio::spawn(raw_feeder(
                f,
                pool.clone(),
                nut_addr.clone(),
                shared.clone(),
                feeders_ready.clone(),
                go_rx.clone(),
                in_window.clone(),
                halt.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while subscribed.load(Ordering::Relaxed) < FEEDERS as u64 {
        assert!(
            Instant::now() < deadline,
            "the node under test saw {} of {FEEDERS} raw feeders subscribe",
            subscribed.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the NUT build its mesh.
    tokio::time::sleep(HEARTBEAT * 4).await;
    let nut_ref = &nut;
    let mark = move |cg: Cg| async move {
        let (reply, rx) = oneshot::channel();
        nut_ref
            .send(NutCmd::Mark(reply, cg))
            .expect("node under test alive");
        rx.await.expect("mark")
    };
    let _ = go_tx.send(Some(Schedule {
        start: tokio::time::Instant::now(),
        rate_per_feeder: rate / FEEDERS as f64,
    }));
    tokio::time::sleep(LEAD_IN).await;
    let snap = |s: &Shared| {
        (
            s.written.load(Ordering::Relaxed),
            s.stale.load(Ordering::Relaxed),
            s.forwarded.load(Ordering::Relaxed),
        )
    };
    let m0 = mark(Cg::Zero).await;
    let p0 = process_cpu();
    in_window.store(true, Ordering::Relaxed);
    let s0 = snap(&shared);
    let t0 = Instant::now();
    tokio::time::sleep(window).await;
    let m1 = mark(Cg::Dump).await;
    let p1 = process_cpu();
    let due_total = (rate * (LEAD_IN + t0.elapsed()).as_secs_f64()) as u64;
    let elapsed = t0.elapsed();
    in_window.store(false, Ordering::Relaxed);
    let s1 = snap(&shared);
    // Stop writing, let the NUT drain (nothing new for three heartbeats, at most 20 s).
    halt.store(true, Ordering::Relaxed);
    let mut last = mark(Cg::Nothing).await;
    let drain_deadline = Instant::now() + Duration::from_secs(20) + MAX_AGE;
    loop {
        tokio::time::sleep(HEARTBEAT * 3).await;
        let now = mark(Cg::Nothing).await;
        let done = now.received == last.received || Instant::now() > drain_deadline;
        last = now;
        if done {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut links = Vec::with_capacity(FEEDERS);
    let mut ages = Vec::new();
    for h in handles {
        let RawReport {
            published,
            dropped,
            forward_ages,
        } = h.await.expect("raw feeder task");
        links.push(Link {
            published,
            received: 0,
            dropped: Some(dropped),
        });
        ages.extend(forward_ages);
    }
    drop(nut);
    let _ = tokio::task::spawn_blocking(move || nut_thread.join()).await;
    ages.sort();
    let forward_age = (!ages.is_empty()).then(|| (ages[ages.len() / 2], ages[ages.len() * 9 / 10]));
    let diff = |f: fn(&gossipsub::Counters) -> u64, a: &NutMark, b: &NutMark| {
        a.counters.zip(b.counters).map(|(a, b)| f(&b) - f(&a))
    };
    OverloadResult {
        rate,
        cpu: m1.cpu - m0.cpu,
        busy: m1
            .runnable
            .zip(m0.runnable)
            .map(|(b, a)| (b - a).as_secs_f64() / elapsed.as_secs_f64()),
        feeders_cpu: (p1 - p0).saturating_sub(m1.cpu - m0.cpu),
        backlog: due_total.saturating_sub(s1.0 + s1.1),
        due: (rate * elapsed.as_secs_f64()) as u64,
        written: s1.0 - s0.0,
        stale: s1.1 - s0.1,
        delivered: m1.received - m0.received,
        verified: diff(|c| c.signatures_verified, &m0, &m1),
        forwarded: s1.2 - s0.2,
        inbound_drops: diff(
            |c| c.signature_checks_over_budget + c.messages_over_peer_budget,
            &m0,
            &m1,
        ),
        send_drops: diff(|c| c.send_queue_full, &m0, &m1).zip(diff(
            |c| c.send_queue_expired,
            &m0,
            &m1,
        )),
        forward_age,
        mesh: m1.mesh,
        pool_exhausted: shared.pool_exhausted.load(Ordering::Relaxed),
        malformed: shared.malformed.load(Ordering::Relaxed),
        accounting: books(links, &last, None),
    }
}

/// Makes `pool` hold enough frames for a run at `rate`.
async fn ensure_pool(pool: &mut Arc<Pool>, rate: f64, window: Duration) {
    let need = frames_needed(rate, window);
    if pool.per_feeder() >= need {
        return;
    }
    let (p, took) = Pool::sign(FEEDERS, need).await;
    println!(
        "overload: pre-signed {} messages ({} per feeder) in {:.1} s",
        need * FEEDERS,
        need,
        took.as_secs_f64()
    );
    *pool = Arc::new(p);
}

/// The sustainable rate of `which`: doubling from `start` while sustained, then `steps`
/// bisections; every probe has a window of `window`.
pub(crate) async fn sustainable_rate(
    which: Impl,
    pool: &mut Arc<Pool>,
    start: f64,
    window: Duration,
) -> f64 {
    let mut ok = 0.0f64;
    let mut bad = None;
    let mut rate = start;
    for _ in 0..8 {
        ensure_pool(pool, rate, window).await;
        let mut r = overload_run(which, pool.clone(), rate, window).await;
        if !r.sustained() {
            // One retry: on a shared machine a neighbour's burst can fail a probe.
            r = overload_run(which, pool.clone(), rate, window).await;
        }
        let sustained = r.sustained();
        println!(
            "  probe[{}] {rate:.0} msgs/s: due {}, delivered {} ({:.1} %), stale {}: {}",
            which.name(),
            r.due,
            r.delivered,
            100.0 * r.delivered as f64 / r.due.max(1) as f64,
            r.stale,
            if sustained {
                "sustained"
            } else {
                "not sustained"
            }
        );
        if sustained {
            ok = rate;
            rate *= 2.0;
        } else {
            bad = Some(rate);
            break;
        }
    }
    let Some(mut bad) = bad else {
        return ok;
    };
    for _ in 0..2 {
        let mid = if ok == 0.0 {
            bad / 2.0
        } else {
            (ok + bad) / 2.0
        };
        ensure_pool(pool, mid, window).await;
        let mut r = overload_run(which, pool.clone(), mid, window).await;
        if !r.sustained() {
            r = overload_run(which, pool.clone(), mid, window).await;
        }
        println!(
            "  probe[{}] {mid:.0} msgs/s: due {}, delivered {} ({:.1} %), stale {}: {}",
            which.name(),
            r.due,
            r.delivered,
            100.0 * r.delivered as f64 / r.due.max(1) as f64,
            r.stale,
            if r.sustained() {
                "sustained"
            } else {
                "not sustained"
            }
        );
        if r.sustained() {
            ok = mid;
        } else {
            bad = mid;
        }
    }
    if ok == 0.0 { bad / 2.0 } else { ok }
}

/// Runs `which` at `rate` with enough frames signed.
pub(crate) async fn overload(
    which: Impl,
    pool: &mut Arc<Pool>,
    rate: f64,
    window: Duration,
) -> OverloadResult {
    ensure_pool(pool, rate, window).await;
    overload_run(which, pool.clone(), rate, window).await
}
