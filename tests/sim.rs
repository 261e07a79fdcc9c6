//! Small deterministic simulations: delivery, mesh degrees, reproducibility, loss recovery.
#![cfg(feature = "sim")]

use std::time::Duration;

use gossipsub::sim::{LinkConfig, Network, Preset, Results, SimConfig, WorkloadConfig};

fn small(preset: Preset, loss: f64) -> SimConfig {
    SimConfig {
        nodes: 50,
        seed: 7,
        preset,
        link: LinkConfig {
            loss,
            ..LinkConfig::default()
        },
        workload: WorkloadConfig {
            publishers: 3,
            rate: 1.0,
            ..WorkloadConfig::default()
        },
        warmup: Duration::from_secs(5),
        duration: Duration::from_secs(15),
        drain: Duration::from_secs(8),
        sample_interval: Duration::from_secs(2),
        ..SimConfig::default()
    }
}

fn assert_meshes_within_bounds(results: &Results, preset: Preset, warmup: Duration) {
    let config = preset.config();
    let (lo, hi) = (config.mesh_n_low(), config.mesh_n_high());
    let after: Vec<_> = results.mesh.iter().filter(|s| s.at > warmup).collect();
    assert!(!after.is_empty());
    for sample in after {
        let (min, max) = sample.min_max().expect("meshes were sampled");
        assert!(
            lo <= min && max <= hi,
            "mesh degrees {min}..={max} outside [{lo}, {hi}] at {:?}",
            sample.at
        );
    }
}

#[test]
fn lossless_run_delivers_everything_and_is_reproducible() {
    let cfg = small(Preset::Ethereum, 0.0);
    let warmup = cfg.warmup;
    let first = Network::new(cfg.clone()).run();
    assert!(
        first.messages.len() >= 40,
        "{} published",
        first.messages.len()
    );
    assert_eq!(first.publish_failures, 0);
    assert_eq!(first.delivery_ratio(), 1.0, "{first}");
    assert_meshes_within_bounds(&first, Preset::Ethereum, warmup);

    let second = Network::new(cfg.clone()).run();
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.messages, second.messages);
    assert_eq!(first.bytes, second.bytes);
    assert_eq!(first.latencies_us, second.latencies_us);

    let other_seed = Network::new(SimConfig { seed: 8, ..cfg }).run();
    assert_ne!(first.digest, other_seed.digest);
}

#[test]
fn lossy_run_still_delivers_everything_via_gossip() {
    let results = Network::new(small(Preset::Default, 0.05)).run();
    assert!(results.rpcs_lost > 0);
    assert_eq!(results.delivery_ratio(), 1.0, "{results}");
    assert!(results.mean_bytes().gossip > 0);
}
