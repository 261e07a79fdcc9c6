//! The parallel simulator's memory stays that of a sequential run under an IWANT spam.
//!
//! Sybils that spam IWANTs receive many large batches of messages (the honest answers) and
//! send few, while honest nodes send many: with several partitions, every emptied batch went
//! back to the pool of the partition that received it and was never reused there, so the
//! sybils' partition kept every batch it ever received (0.8-4.2 GB at 200 nodes). A counting
//! global allocator measures the peak live heap of a run with one thread and with two: they
//! must stay close. The allocator is process-global, so everything runs inside the one test
//! of this file, sequentially.
#![cfg(feature = "sim")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::Duration;

use gossipsub::sim::attacks::{AttackConfig, Scenario, run_attack};

#[path = "../benches/support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

/// Runs the small IWANT spam with `threads` threads per run; returns the peak live heap in
/// bytes above the live heap before the run, sampled every millisecond, and the results.
fn peak_heap(threads: usize) -> (isize, gossipsub::sim::Results) {
    let config = AttackConfig {
        threads,
        duration: Duration::from_secs(40),
        ..AttackConfig::small(Scenario::IWantSpam)
    };
    let before = counting_alloc::live();
    let peak = Arc::new(AtomicIsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(counting_alloc::live() - before, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let (results, _) = run_attack(&config);
    stop.store(true, Ordering::Relaxed);
    sampler.join().expect("the sampler does not panic");
    (peak.load(Ordering::Relaxed), results)
}

#[test]
fn iwant_spam_needs_no_more_memory_with_two_threads_than_with_one() {
    let (one, one_results) = peak_heap(1);
    let (two, two_results) = peak_heap(2);
    println!(
        "peak live heap: {:.1} MB with one thread, {:.1} MB with two",
        one as f64 / 1e6,
        two as f64 / 1e6
    );
    assert_eq!(one_results, two_results, "two threads differ from one");
    assert!(one > 0, "the run allocates");
    // Two partitions hold two event queues and pools instead of one: a few MB at most.
    assert!(
        two <= one + one / 4 + (4 << 20),
        "two threads peak at {two} bytes of live heap, one thread at {one}"
    );
}
