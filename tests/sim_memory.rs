//! The parallel simulator's memory stays that of a sequential run under an IWANT spam.
//!
//! Sybils that spam IWANTs receive many large batches of messages (the honest answers) and
//! send few, while honest nodes send many. With several partitions every emptied batch went
//! back to the pool of the partition that received it, where few were taken again, so the
//! sybils' partition kept every batch it ever received: 4.2 GB of peak RSS for the 200-node
//! command of the README. A counting global allocator measures the exact peak live heap of a
//! run with one thread and with two: they must stay close (before the fix: 40.7 MB with one
//! thread, 58.4 MB with two; after it, 35.4 and 35.8 MB). The allocator is process-global,
//! so everything runs inside the one test of this file, sequentially.
#![cfg(feature = "sim")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use gossipsub::sim::Results;
use gossipsub::sim::attacks::{AttackConfig, Scenario, run_attack};

/// Live heap bytes.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The largest value `LIVE` reached since the last reset.
static PEAK: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, counting live heap bytes and their peak (exact: updated on every
/// allocation, not sampled).
struct PeakCounting;

impl PeakCounting {
    fn grew(by: isize) {
        let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(live, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for PeakCounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::grew(layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::grew(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: PeakCounting = PeakCounting;

/// Runs a small IWANT spam with `threads` threads per run; returns the peak live heap in
/// bytes above the live heap before the run, and the results.
fn peak_heap(threads: usize) -> (isize, Results) {
    let config = AttackConfig {
        threads,
        honest: 40,
        sybils: 10,
        duration: Duration::from_secs(25),
        ..AttackConfig::small(Scenario::IWantSpam)
    };
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let (results, _) = run_attack(&config);
    (PEAK.load(Ordering::Relaxed) - before, results)
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
    // Two partitions hold two event queues and pools instead of one, and their allocations
    // within a window interleave: a few MB at most.
    assert!(
        two <= one + one / 10 + (2 << 20),
        "two threads peak at {two} bytes of live heap, one thread at {one}"
    );
}
