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
//! (c) `overload` (only with `--only overload`): the node under test fed by 30 *raw* feeders
//!     that cost almost nothing per message: all messages are signed (64 authors, distinct
//!     seqnos) and encoded as RPC frames before the measurement, and a feeder only copies the
//!     frames due onto its `/meshsub/1.2.0` stream at a paced rate (dropping, stalest first,
//!     what it could not write within 1 s) and scans what the node sends back. The sustainable
//!     rate of each implementation is searched (>= 99 % delivered, nothing stale), then each runs
//!     at 1x, 2x and 4x of its own. Reported per run: due, written, delivered, verified,
//!     forwarded (and per NUT CPU second), the forwards' age, the drops and where (stale at the
//!     feeders, NUT inbound budgets, NUT send queues full / expired), the share of the window
//!     the NUT thread was runnable, and the strict per-link accounting (`accounting.rs`).
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

mod accounting;
mod forward;
mod network;
mod node;
mod overload;
mod rawfeed;

use forward::forward;
use network::network;
use node::{Ev, MESH_N_HIGH, Node, QUEUE_DURATION, payload, process_cpu, thread_cpu};

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
    /// Overload test (`--only overload`): the sustainable aggregate rate (messages/s) of the
    /// node under test, for both implementations; without it each one's is searched.
    #[arg(long)]
    overload_base: Option<f64>,
    /// Overload test: the first rate of the sustainable-rate search (messages/s).
    #[arg(long, default_value_t = 2000.0)]
    overload_start: f64,
    /// Overload test: seconds of each measured window at 1x/2x/4x (default 3 quick, 10 full).
    #[arg(long)]
    overload_seconds: Option<u64>,
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

#[path = "../../benches/support/callgrind.rs"]
mod callgrind;

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

/// The implementations to run (`--impl-only`).
fn impls_of(args: &Args) -> Vec<Impl> {
    [Impl::Ours, Impl::Theirs]
        .into_iter()
        .filter(|i| match args.impl_only.as_deref() {
            Some("ours") => *i == Impl::Ours,
            Some("theirs") => *i == Impl::Theirs,
            _ => true,
        })
        .collect()
}

/// The physical limit, measured in the same run: single-core Ed25519 verification (not under
/// callgrind).
fn verify_rate_line(args: &Args) -> Option<f64> {
    if args.callgrind {
        return None;
    }
    let n = 20_000;
    let cpu = verify_rate(n);
    let per_s = n as f64 / cpu.as_secs_f64().max(1e-9);
    println!(
        "verify: single-core Ed25519 verification of a signed 1 KiB message: {per_s:.0}/cpu-s ({:.1} us each)",
        1e6 / per_s
    );
    Some(per_s)
}

/// `--only overload`: the sustainable rate of each implementation, then 1x, 2x and 4x of it,
/// `--runs` times, with min / median / max.
async fn overload_main(args: &Args, impls: &[Impl], verify_per_cpu_s: Option<f64>) {
    use overload::{FEEDERS, overload, sustainable_rate};
    let window =
        Duration::from_secs(
            args.overload_seconds
                .unwrap_or(if args.quick { 3 } else { 10 }),
        );
    let probe = Duration::from_secs(2);
    println!(
        "# overload: {FEEDERS} raw feeders writing pre-signed {MSG_SIZE} B messages (64 authors) on /meshsub/1.2.0, stale after {} ms; node under test D=8, D_hi=8, own thread; window {} s",
        rawfeed::MAX_AGE.as_millis(),
        window.as_secs()
    );
    let mut pool = Arc::new(rawfeed::Pool { frames: Vec::new() });
    let mut summary = Summary::default();
    let mut violations = 0;
    let mut bases = Vec::new();
    for &which in impls {
        let base = match args.overload_base {
            Some(b) => b,
            None => sustainable_rate(which, &mut pool, args.overload_start, probe).await,
        };
        println!(
            "overload[{}]: sustainable rate {base:.0} msgs/s",
            which.name()
        );
        bases.push((which, base));
    }
    for run in 1..=args.runs {
        println!("# run {run}");
        for &(which, base) in &bases {
            for mult in [1u32, 2, 4] {
                let r = overload(which, &mut pool, base * f64::from(mult), window).await;
                let cpu = r.cpu.as_secs_f64().max(1e-9);
                let per = |n: u64| n as f64 / cpu;
                let opt = |v: Option<u64>| v.map_or("n/a".to_owned(), |v| v.to_string());
                let of_verify = verify_per_cpu_s
                    .map(|v| {
                        format!(
                            " ({:.0} % of the verify rate)",
                            100.0 * per(r.delivered) / v
                        )
                    })
                    .unwrap_or_default();
                let age = r.forward_age.map_or("n/a".to_owned(), |(m, p)| {
                    format!(
                        "{:.0} / {:.0} ms",
                        m.as_secs_f64() * 1e3,
                        p.as_secs_f64() * 1e3
                    )
                });
                println!(
                    "overload[{}] {mult}x = {:.0} msgs/s: node cpu {:.3} s (runnable {} of the window; feeders {:.3} s); due {}, written {}, feeder backlog at the end {}, delivered {} ({:.0}/cpu-s{of_verify}), verified {}, forwarded {} ({:.0}/cpu-s), forward age median/p90 {age}; dropped: stale at the feeders (not read in time) {}, NUT inbound (budgets) {}, NUT send queues {} (full / expired); mesh {}",
                    which.name(),
                    r.rate,
                    r.cpu.as_secs_f64(),
                    r.busy
                        .map_or("n/a".to_owned(), |b| format!("{:.0} %", 100.0 * b)),
                    r.feeders_cpu.as_secs_f64(),
                    r.due,
                    r.written,
                    r.backlog,
                    r.delivered,
                    per(r.delivered),
                    opt(r.verified),
                    r.forwarded,
                    per(r.forwarded),
                    r.stale,
                    opt(r.inbound_drops),
                    r.send_drops
                        .map_or("n/a".to_owned(), |(f, e)| format!("{f} / {e}")),
                    r.mesh,
                );
                if r.pool_exhausted > 0 || r.malformed > 0 {
                    violations += 1;
                    println!(
                        "  INVALID RUN: {} frames due beyond the pre-signed pool, {} malformed frames from the NUT",
                        r.pool_exhausted, r.malformed
                    );
                }
                if matches!(r.accounting.check(), accounting::Verdict::Violated(_)) {
                    violations += 1;
                }
                println!(
                    "  accounting[{}] {mult}x, whole run: {}",
                    which.name(),
                    r.accounting.describe()
                );
                let name = |what: &str| format!("overload[{}] {mult}x: {what}", which.name());
                summary.add(name("delivered/cpu-s"), per(r.delivered));
                summary.add(name("forwarded/cpu-s"), per(r.forwarded));
                summary.add(name("node cpu s"), r.cpu.as_secs_f64());
                if let Some(b) = r.busy {
                    summary.add(name("node runnable share"), b);
                }
                summary.add(
                    name("share delivered of due"),
                    r.delivered as f64 / r.due.max(1) as f64,
                );
                if let Some((m, _)) = r.forward_age {
                    summary.add(name("forward age median ms"), m.as_secs_f64() * 1e3);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    println!("# summary over {} run(s): min / median / max", args.runs);
    for (name, values) in &summary.0 {
        let large = values.iter().any(|v| v.abs() >= 100.0);
        println!("{name}: {}", spread(values, if large { 0 } else { 2 }));
    }
    if violations > 0 {
        println!("# CONSISTENCY CHECK FAILED {violations} time(s): see the accounting lines");
        std::process::exit(1);
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
    if args.only.as_deref() == Some("overload") {
        overload_main(&args, &impls_of(&args), verify_rate_line(&args)).await;
        return;
    }
    let feeders = if args.feeders == "theirs" {
        Impl::Theirs
    } else {
        Impl::Ours
    };
    let impls = impls_of(&args);
    println!(
        "# compare: memory transport + plaintext + yamux; D=8/6/{MESH_N_HIGH} (forward test's node under test: D_hi=8 for both), heartbeat {} ms, signed (Strict), flood publish, {} B messages",
        HEARTBEAT.as_millis(),
        MSG_SIZE
    );
    let verify_per_cpu_s = verify_rate_line(&args);
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
                if matches!(r.accounting.check(), accounting::Verdict::Violated(_)) {
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
