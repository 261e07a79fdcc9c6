//! Independent runs on several threads: each run is built and driven on one thread from its
//! own [`SimConfig`], so its results are bit for bit those of a sequential run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::config::SimConfig;
use super::network::Network;
use super::results::Results;

/// Runs every configuration with honest nodes on up to `threads` threads (at least one) and
/// returns the results in the order of `configs`. Each result equals that of
/// `Network::new(config).run()`: runs share nothing.
pub fn run_many(configs: Vec<SimConfig>, threads: usize) -> Vec<Results> {
    run_many_with(configs, threads, |config| Network::new(config.clone()))
}

/// As [`run_many`], with each network built by `build` on the thread that runs it (use
/// [`Network::with_factory`] there for adversaries; a [`NodeFactory`](super::NodeFactory) is not `Send`, so it is
/// made on that thread too).
pub fn run_many_with<B>(configs: Vec<SimConfig>, threads: usize, build: B) -> Vec<Results>
where
    B: Fn(&SimConfig) -> Network + Sync,
{
    let count = configs.len();
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Results>>> = (0..count).map(|_| Mutex::new(None)).collect();
    let threads = threads.clamp(1, count.max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(config) = configs.get(i) else {
                        return;
                    };
                    let results = build(config).run();
                    *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(results);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every run finished (a panicking run ends the scope first)")
        })
        .collect()
}
