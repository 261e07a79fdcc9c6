//! Batch publishing in the simulator: six 128 KiB blobs per slot under the Ethereum preset on
//! bandwidth-limited links, published one after the other or interleaved
//! (`Router::publish_batch`). Deterministic from the seed.
#![cfg(feature = "sim")]

use std::time::Duration;

use gossipsub::sim::{
    LinkConfig, Network, Preset, SimConfig, TopologyConfig, WorkloadConfig, batch_completion,
};

const BLOBS: usize = 6;
const BLOB_SIZE: usize = 128 * 1024;

fn blobs(nodes: usize, slots: u32, seed: u64, interleave: bool) -> SimConfig {
    SimConfig {
        nodes,
        seed,
        preset: Preset::Ethereum,
        link: LinkConfig {
            upload_bps: 50_000_000,
            ..LinkConfig::default()
        },
        topology: TopologyConfig { connections: 20 },
        workload: WorkloadConfig {
            publishers: 1,
            // One batch per 12 s slot.
            rate: 1.0 / 12.0,
            message_size: BLOB_SIZE,
            topics: 1,
            batch_size: BLOBS,
            batch_interleave: interleave,
            ..WorkloadConfig::default()
        },
        warmup: Duration::from_secs(5),
        duration: Duration::from_secs(12) * slots,
        drain: Duration::from_secs(6),
        sample_interval: Duration::from_secs(60),
        ..SimConfig::default()
    }
}

/// Completion time of every batch (all delivered), and the mean.
fn completion(cfg: SimConfig) -> (Vec<Duration>, Duration) {
    let results = Network::new(cfg).run();
    assert_eq!(results.delivery_ratio(), 1.0);
    let times: Vec<Duration> = batch_completion(&results, BLOBS)
        .into_iter()
        .map(|t| t.expect("every batch completes"))
        .collect();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    (times, mean)
}

#[test]
fn interleaved_batches_complete_sooner() {
    let (one_by_one, a) = completion(blobs(20, 1, 3, false));
    let (interleaved, b) = completion(blobs(20, 1, 3, true));
    println!(
        "20 nodes: one by one {one_by_one:?} (mean {a:?}), interleaved {interleaved:?} (mean {b:?})"
    );
    assert_eq!(one_by_one.len(), 1);
    assert!(b < a, "interleaved {b:?} should beat one by one {a:?}");
}

/// A blob is far over `idontwant_merge_bytes`: the batch's IDONTWANTs keep their own place
/// on the uplink ahead of the blobs (results identical to never merging), which is what lets
/// them act before the first copies arrive. Merging without a bound would change the run.
#[test]
fn blob_idontwants_keep_their_place_on_the_uplink() {
    let run = |merge_bytes: usize| {
        Network::new(SimConfig {
            idontwant_merge_bytes: merge_bytes,
            ..blobs(20, 1, 3, true)
        })
        .run()
    };
    let default = run(SimConfig::default().idontwant_merge_bytes);
    assert_eq!(default.digest, run(0).digest);
    assert_ne!(default.digest, run(usize::MAX).digest);
}

#[test]
fn batch_runs_are_deterministic() {
    let (x, _) = completion(blobs(12, 1, 9, true));
    let (y, _) = completion(blobs(12, 1, 9, true));
    assert_eq!(x, y);
}

/// The README figure: `cargo test --release --features sim --test sim_batch -- --ignored
/// --nocapture`.
#[test]
#[ignore = "the README figure; a minute in release mode"]
fn batch_figure() {
    for seed in [1, 2, 3] {
        let (_, a) = completion(blobs(200, 10, seed, false));
        let (_, b) = completion(blobs(200, 10, seed, true));
        println!(
            "seed {seed}: 200 nodes, 10 slots of 6 x 128 KiB blobs, 50 Mbit/s uplinks: \
             one by one {a:?}, interleaved {b:?} ({:.0}% less)",
            100.0 * (1.0 - b.as_secs_f64() / a.as_secs_f64())
        );
    }
}
