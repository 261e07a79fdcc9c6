//! Conservative parallel execution of one run: the nodes are split into contiguous
//! partitions ([`super::partition`]), and time into windows no longer than the smallest
//! latency a link can have (the lookahead). Whatever a node does in a window reaches a node
//! of another partition at least one lookahead later, so after the window: each partition
//! runs its window alone (on its own thread), and the events that cross partitions are
//! handed over between windows. A window also ends at the next global event, which runs
//! alone, before the node events of its instant.
//!
//! Events are keyed by (time, creator, creator's count) and every random draw of a node's
//! links comes from that node's own generator, so every node sees the same inputs in the
//! same order for any number of partitions: the results do not depend on
//! [`SimConfig::threads`].

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use super::config::SimConfig;
use super::network::Network;
use super::partition::{Part, Partition, Shared};
use super::results::Results;

/// How the work of one run split between its partitions, from each thread's own CPU time
/// (Linux `/proc/thread-self/schedstat`; all zero elsewhere), so the parallel speed-up can be
/// judged on a busy machine. See [`Network::run_profiled`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ParallelProfile {
    /// Partitions the nodes were split into.
    pub partitions: usize,
    /// Windows run.
    pub windows: u64,
    /// CPU time on the calling thread outside windows: building the nodes, global events,
    /// handing events over between partitions, starting the threads of each window.
    pub serial: Duration,
    /// Sum over windows of the CPU time of the slowest partition in that window.
    pub critical: Duration,
    /// CPU time of all partitions in windows.
    pub parallel: Duration,
}

impl ParallelProfile {
    /// The CPU time of the whole run on one core.
    pub fn total(&self) -> Duration {
        self.serial + self.parallel
    }

    /// The wall time of the run on idle cores, one per partition, if starting and joining
    /// threads cost nothing beyond what [`ParallelProfile::serial`] counts.
    pub fn critical_path(&self) -> Duration {
        self.serial + self.critical
    }

    /// How much faster than one core the run can be: total CPU over the critical path.
    pub fn speedup(&self) -> f64 {
        self.total().as_secs_f64() / self.critical_path().as_secs_f64().max(1e-9)
    }
}

/// CPU time of the calling thread so far (zero where it cannot be read). The kernel brings a
/// running thread's figure up to date only when it schedules, so the thread yields first:
/// without that, a window's end is read up to a scheduler tick late and short windows look
/// cheaper than they are.
fn thread_cpu() -> Duration {
    std::thread::yield_now();
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Runs `part` until `until`, returning its CPU time if `profile`.
fn run_part(part: &mut Part<'_>, until: u64, profile: bool) -> Duration {
    if !profile {
        part.run_until(until);
        return Duration::ZERO;
    }
    let start = thread_cpu();
    part.run_until(until);
    thread_cpu().saturating_sub(start)
}

/// The number of partitions of a run of `nodes` nodes: [`SimConfig::threads`] (0: the
/// available cores), at most one per node, and 1 if some link may have no latency (no
/// lookahead).
pub(crate) fn partitions(cfg: &SimConfig, nodes: usize) -> usize {
    let threads = match cfg.threads {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        t => t,
    };
    if cfg.link.latency.min_latency() == 0 {
        return 1;
    }
    threads.clamp(1, nodes.max(1))
}

/// A window of one partition, for a worker thread.
struct Job {
    part: Partition,
    shared: Arc<Shared>,
    until: u64,
    profile: bool,
}

/// A worker thread of a run: runs the windows it is sent and sends each partition back
/// with its CPU time.
struct Worker {
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<(Partition, Duration)>,
    handle: JoinHandle<()>,
}

impl Worker {
    fn spawn() -> Self {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done) = mpsc::channel();
        let handle = std::thread::spawn(move || {
            while let Ok(job) = job_rx.recv() {
                let Job {
                    mut part,
                    shared,
                    until,
                    profile,
                } = job;
                let cpu = run_part(&mut part.view(&shared), until, profile);
                // Released before the partition goes back, so the calling thread can change
                // the shared state once it has every partition back.
                drop(shared);
                if done_tx.send((part, cpu)).is_err() {
                    return;
                }
            }
        });
        Worker { jobs, done, handle }
    }

    /// The partition back from this worker; a panic of the worker continues here.
    fn receive(slot: &mut Option<Self>) -> (Partition, Duration) {
        let worker = slot.as_mut().expect("a worker is running");
        match worker.done.recv() {
            Ok(done) => done,
            Err(_) => {
                let worker = slot.take().expect("a worker is running");
                drop(worker.jobs);
                match worker.handle.join() {
                    Err(panic) => std::panic::resume_unwind(panic),
                    Ok(()) => unreachable!("a worker only stops when the network is dropped"),
                }
            }
        }
    }
}

/// The worker threads of one run (one per partition but the first, which runs on the
/// calling thread), with placeholders for the partitions they hold.
pub(crate) struct Pool {
    workers: Vec<Option<Worker>>,
    spare: Vec<Partition>,
}

impl Pool {
    fn new(partitions: usize) -> Self {
        let others = partitions.saturating_sub(1);
        Pool {
            workers: (0..others).map(|_| Some(Worker::spawn())).collect(),
            spare: (0..others)
                .map(|_| Partition::new(0, 0, 0, Vec::new()))
                .collect(),
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for worker in self.workers.drain(..).flatten() {
            drop(worker.jobs);
            // A worker that panicked has reported it already (or the run is unwinding).
            let _ = worker.handle.join();
        }
    }
}

impl Network {
    /// Runs the whole simulation as [`Network::run`] does (same results) and measures how
    /// its work split between partitions.
    pub fn run_profiled(mut self) -> (Results, ParallelProfile) {
        let start = thread_cpu();
        self.profile = Some(ParallelProfile {
            partitions: self.parts.len(),
            ..ParallelProfile::default()
        });
        let (results, profile) = self.finish();
        let mut profile = profile.unwrap_or_default();
        let main = thread_cpu().saturating_sub(start);
        profile.serial = main.saturating_sub(profile.serial);
        (results, profile)
    }

    /// Runs global events and windows of node events until the end of the run.
    pub(super) fn run_loop(&mut self) {
        // One partition needs no lookahead: its window runs until the next global event.
        let lookahead = if self.parts.len() > 1 {
            self.shared.cfg.link.latency.min_latency()
        } else {
            u64::MAX
        };
        let mut pool = Pool::new(self.parts.len());
        let stop = self.end.saturating_add(1);
        loop {
            self.exchange();
            let global = self.global.peek_time().unwrap_or(u64::MAX);
            let node = self
                .parts
                .iter_mut()
                .filter_map(|p| p.lane.queue.peek_time())
                .min()
                .unwrap_or(u64::MAX);
            if global.min(node) > self.end {
                break;
            }
            if global <= node {
                self.handle_global();
                continue;
            }
            let until = node.saturating_add(lookahead).min(global).min(stop);
            self.run_window(until, &mut pool);
        }
    }

    /// Moves the events every partition created for other partitions into their queues.
    fn exchange(&mut self) {
        for p in 0..self.parts.len() {
            if self.parts[p].lane.outbox.is_empty() {
                continue;
            }
            let mut outbox = std::mem::take(&mut self.parts[p].lane.outbox);
            for (time, creator, count, event) in outbox.drain(..) {
                let q = self.shared.partition_of(event.node());
                self.parts[q]
                    .lane
                    .queue
                    .push_keyed(time, creator, count, event);
            }
            self.parts[p].lane.outbox = outbox;
        }
    }

    /// Runs every partition's events before `until`: the first partition with work on this
    /// thread, the others on the pool's workers.
    fn run_window(&mut self, until: u64, pool: &mut Pool) {
        let busy: Vec<usize> = (0..self.parts.len())
            .filter(|p| {
                self.parts[*p]
                    .lane
                    .queue
                    .peek_time()
                    .is_some_and(|t| t < until)
            })
            .collect();
        let Some((&first, rest)) = busy.split_first() else {
            return;
        };
        let profile = self.profile.is_some();
        for (k, &p) in rest.iter().enumerate() {
            let spare = pool.spare.pop().expect("a placeholder per worker");
            let part = std::mem::replace(&mut self.parts[p], spare);
            let job = Job {
                part,
                shared: Arc::clone(&self.shared),
                until,
                profile,
            };
            let worker = pool.workers[k].as_ref().expect("the workers are running");
            if let Err(mpsc::SendError(job)) = worker.jobs.send(job) {
                // The worker is gone (it panicked): run here; `receive` reports its panic.
                drop(job);
            }
        }
        let here = run_part(&mut self.parts[first].view(&self.shared), until, profile);
        let mut slowest = here;
        let mut total = here;
        for (k, &p) in rest.iter().enumerate() {
            let (part, cpu) = Worker::receive(&mut pool.workers[k]);
            let spare = std::mem::replace(&mut self.parts[p], part);
            pool.spare.push(spare);
            slowest = slowest.max(cpu);
            total += cpu;
        }
        if let Some(p) = self.profile.as_mut() {
            p.windows += 1;
            // `serial` holds the calling thread's CPU time in windows until the run ends.
            p.serial += here;
            p.critical += slowest;
            p.parallel += total;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sim::{LatencyModel, LinkConfig};

    fn cfg(threads: usize, latency: LatencyModel) -> SimConfig {
        SimConfig {
            threads,
            link: LinkConfig {
                latency,
                ..LinkConfig::default()
            },
            ..SimConfig::default()
        }
    }

    #[test]
    fn partitions_follow_threads_nodes_and_lookahead() {
        let ms = |m| LatencyModel::Fixed(Duration::from_millis(m));
        assert_eq!(partitions(&cfg(3, ms(10)), 100), 3);
        assert_eq!(partitions(&cfg(1, ms(10)), 100), 1);
        // At most one partition per node.
        assert_eq!(partitions(&cfg(8, ms(10)), 5), 5);
        assert!(partitions(&cfg(0, ms(10)), 100) >= 1);
        // A link without latency leaves no lookahead: one partition.
        assert_eq!(partitions(&cfg(4, ms(0)), 100), 1);
        let uniform = LatencyModel::Uniform {
            min: Duration::ZERO,
            max: Duration::from_millis(5),
        };
        assert_eq!(partitions(&cfg(4, uniform), 100), 1);
        // A region matrix with a short row gives that pair no latency.
        let ragged = LatencyModel::Regions(vec![
            vec![Duration::from_millis(5), Duration::from_millis(5)],
            vec![Duration::from_millis(5)],
        ]);
        assert_eq!(partitions(&cfg(4, ragged), 100), 1);
        assert_eq!(partitions(&cfg(4, LatencyModel::default_regions()), 100), 4);
    }

    /// The partitions of a network cover every node once, in order.
    #[test]
    fn partitions_cover_every_node() {
        for (nodes, threads) in [(10, 3), (9, 3), (7, 7), (100, 2), (5, 8)] {
            let net = Network::new(SimConfig {
                nodes,
                threads,
                ..SimConfig::default()
            });
            let block = net.shared.block;
            assert_eq!(net.parts.len(), nodes.div_ceil(block));
            assert!(net.parts.len() <= threads);
            for node in 0..nodes {
                let p = net.shared.partition_of(node as u32);
                let part = &net.parts[p];
                assert!((part.start..part.start + part.state.len()).contains(&node));
            }
        }
    }
}
