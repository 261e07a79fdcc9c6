//! Runs the deterministic network simulator and reports on the run.
//!
//! ```text
//! cargo run --release --features sim --example simulate -- \
//!     --nodes 1000 --seed 1 --preset ethereum --duration 600s
//! ```
//!
//! Prints a summary table, writes `messages.csv` and `mesh.csv`, and draws
//! `latency_cdf.svg` and `duplicates.svg` into `--out`.
//!
//! `--runs N` runs seeds `seed .. seed + N` (or `--seeds 1,5,9` those seeds) as independent
//! runs on `--threads` threads: each run's results are exactly those of running it alone.
//! `--threads-per-run N` splits each run's nodes into N partitions run in parallel (default:
//! every core for a single run); the results are the same for every N.
//! Each run then writes into `--out/seed-<seed>/`, and a table compares the runs.
//!
//! `--attack <name>` (or `--attack all`) runs the attack suite instead (see
//! `gossipsub::sim::attacks`): each scenario and its attack-free reference run, a markdown
//! table, and `<name>-delivery.svg` / `<name>-latency-cdf.svg` per scenario in `--out`.

mod attack;
mod memory;

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use gossipsub::sim::{
    LatencyModel, LinkConfig, Network, Preset, Results, SimConfig, TopologyConfig, ValidationDelay,
    WorkloadConfig, plot_duplicates, plot_latency_cdf, run_many,
};

#[global_allocator]
// mimalloc: about a fifth less CPU time than the system allocator on a 1,000-node run.
// Live bytes are counted only for `--memory` (see `memory::Switched`).
static ALLOCATOR: memory::Switched = memory::Switched;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PresetArg {
    Default,
    Ethereum,
}

/// Deterministic GossipSub network simulation: same flags and seed, same results.
#[derive(Debug, Parser)]
struct Args {
    /// Number of nodes.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Router configuration: `default` (signed messages) or `ethereum` (anonymous).
    #[arg(long, value_enum, default_value = "ethereum")]
    preset: PresetArg,
    /// How long publishers publish (e.g. 600s, 10m, 1500ms).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Time before the first publish, for meshes to form.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    warmup: Duration,
    /// Time after the last publish for deliveries to finish.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    drain: Duration,
    /// Connections per node (each node dials half of them).
    #[arg(long, default_value_t = 20)]
    connections: usize,
    /// Link latency: `fixed:50ms`, `uniform:20ms-80ms`, `regions` (built-in 4-region
    /// matrix) or `regions:10,45;45,10` (one-way ms, rows separated by `;`).
    #[arg(long, default_value = "uniform:20ms-80ms")]
    latency: String,
    /// Per-RPC jitter, uniform in [0, jitter].
    #[arg(long, default_value = "2ms", value_parser = parse_duration)]
    jitter: Duration,
    /// Probability that an RPC is lost.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Upload bandwidth per node in Mbit/s (0: unlimited).
    #[arg(long, default_value_t = 50.0)]
    upload_mbps: f64,
    /// Download bandwidth per node in Mbit/s (0: unlimited).
    #[arg(long, default_value_t = 50.0)]
    download_mbps: f64,
    /// How long honest nodes take to validate a message before forwarding it.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    validation_delay: Duration,
    /// Per-topic validation delays overriding --validation-delay: `0=5ms,2=1ms`.
    #[arg(long)]
    topic_validation_delay: Option<String>,
    /// Honest nodes never send IDONTWANT.
    #[arg(long)]
    no_idontwant: bool,
    /// An IDONTWANT rides with the next message to the same peer (one event) if at most
    /// this many payload bytes of messages (that one included) go out until that message is
    /// uploaded; 0: always on its own
    #[arg(long, default_value_t = 16 * 1024)]
    idontwant_merge_bytes: usize,
    /// Number of independent runs, with seeds --seed, --seed + 1, ...
    #[arg(long, default_value_t = 1)]
    runs: u64,
    /// Seeds of independent runs (overrides --seed and --runs): `1,2,7`.
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    /// Threads for independent runs (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Threads within each run: its nodes are split into this many partitions run in
    /// parallel (default: available cores for a single run, 1 with several runs). The
    /// results are identical for every value.
    #[arg(long)]
    threads_per_run: Option<usize>,
    /// For a single run: measure each thread's CPU time per window and print the critical
    /// path (the wall time on idle cores) and the speed-up it allows.
    #[arg(long)]
    profile_parallel: bool,
    /// Number of publishing nodes.
    #[arg(long, default_value_t = 10)]
    publishers: usize,
    /// Messages per second per publisher.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Number of topics.
    #[arg(long, default_value_t = 1)]
    topics: usize,
    /// Probability that a node subscribes to each topic at start.
    #[arg(long, default_value_t = 1.0)]
    subscribe_fraction: f64,
    /// Subscription changes per minute (network-wide).
    #[arg(long, default_value_t = 0.0)]
    sub_changes_per_min: f64,
    /// Nodes leaving per minute (network-wide); each rejoins after --churn-downtime.
    #[arg(long, default_value_t = 0.0)]
    churn_per_min: f64,
    /// How long a churned node stays away.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    churn_downtime: Duration,
    /// Interval of mesh degree samples.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    sample_interval: Duration,
    /// Directory for CSV files and charts.
    #[arg(long, default_value = "sim-out")]
    out: PathBuf,
    /// Skip the charts.
    #[arg(long)]
    no_plots: bool,
    /// Also measure bytes per seen-cache entry and per cached message.
    #[arg(long)]
    memory: bool,
    /// The attack suite.
    #[command(flatten)]
    attack: attack::AttackArgs,
}

/// A duration such as `60s`, `2ms`, `1m 30s` (humantime's format).
fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("bad duration {s:?}: {e}"))
}

fn parse_latency(s: &str) -> anyhow::Result<LatencyModel> {
    let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
    Ok(match kind {
        "fixed" => LatencyModel::Fixed(parse_duration(rest).map_err(anyhow::Error::msg)?),
        "uniform" => {
            let (min, max) = rest
                .split_once('-')
                .context("uniform latency is uniform:MIN-MAX")?;
            LatencyModel::Uniform {
                min: parse_duration(min).map_err(anyhow::Error::msg)?,
                max: parse_duration(max).map_err(anyhow::Error::msg)?,
            }
        }
        "regions" if rest.is_empty() => LatencyModel::default_regions(),
        "regions" => {
            let matrix = rest
                .split(';')
                .map(|row| {
                    row.split(',')
                        .map(|ms| Ok(Duration::from_secs_f64(ms.trim().parse::<f64>()? / 1e3)))
                        .collect::<anyhow::Result<Vec<_>>>()
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            if matrix.iter().any(|row| row.len() != matrix.len()) {
                bail!("the region matrix must be square");
            }
            LatencyModel::Regions(matrix)
        }
        _ => bail!("unknown latency model {s:?}"),
    })
}

fn parse_topic_delays(s: &str) -> anyhow::Result<Vec<(usize, Duration)>> {
    s.split(',')
        .map(|entry| {
            let (topic, delay) = entry
                .split_once('=')
                .context("per-topic validation delay is TOPIC=DELAY")?;
            Ok((
                topic.trim().parse()?,
                parse_duration(delay).map_err(anyhow::Error::msg)?,
            ))
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--memory") {
        memory::start_counting();
    }
    memory::keep_freed_memory();
    let args = Args::parse();
    if let Some(name) = &args.attack.attack {
        let threads = args.threads_per_run.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        return attack::main(
            &args.attack,
            name,
            (args.nodes, threads),
            args.seed,
            &args.out,
            !args.no_plots,
        );
    }
    let validation = ValidationDelay {
        default: args.validation_delay,
        per_topic: match &args.topic_validation_delay {
            Some(s) => parse_topic_delays(s)?,
            None => Vec::new(),
        },
    };
    let cfg = SimConfig {
        nodes: args.nodes,
        outsiders: 0,
        seed: args.seed,
        preset: match args.preset {
            PresetArg::Default => Preset::Default,
            PresetArg::Ethereum => Preset::Ethereum,
        },
        link: LinkConfig {
            latency: parse_latency(&args.latency)?,
            jitter: args.jitter,
            loss: args.loss,
            upload_bps: (args.upload_mbps * 1e6) as u64,
            download_bps: (args.download_mbps * 1e6) as u64,
        },
        topology: TopologyConfig {
            connections: args.connections,
        },
        workload: WorkloadConfig {
            publishers: args.publishers,
            rate: args.rate,
            message_size: args.size,
            topics: args.topics,
            subscribe_fraction: args.subscribe_fraction,
            subscription_changes_per_min: args.sub_changes_per_min,
            churn_per_min: args.churn_per_min,
            churn_downtime: args.churn_downtime,
            ..WorkloadConfig::default()
        },
        warmup: args.warmup,
        duration: args.duration,
        drain: args.drain,
        sample_interval: args.sample_interval,
        validation,
        idontwant: !args.no_idontwant,
        idontwant_merge_bytes: args.idontwant_merge_bytes,
        threads: 1,
    };
    let seeds: Vec<u64> = if args.seeds.is_empty() {
        (0..args.runs.max(1)).map(|k| args.seed + k).collect()
    } else {
        args.seeds.clone()
    };
    let mesh_bounds = {
        let c = cfg.preset.config();
        (c.mesh_n_low(), c.mesh_n_high())
    };
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let threads_per_run = args
        .threads_per_run
        .unwrap_or(if seeds.len() > 1 { 1 } else { threads });
    let configs: Vec<SimConfig> = seeds
        .iter()
        .map(|seed| SimConfig {
            seed: *seed,
            threads: threads_per_run,
            ..cfg.clone()
        })
        .collect();
    let wall = Instant::now();
    let (all, profile) = match configs.as_slice() {
        [config] if args.profile_parallel => {
            let (results, profile) = Network::new(config.clone()).run_profiled();
            (vec![results], Some(profile))
        }
        _ => (run_many(configs, threads), None),
    };
    let wall = wall.elapsed();
    let several = all.len() > 1;
    for (seed, results) in seeds.iter().zip(&all) {
        if several {
            println!("== seed {seed}");
        }
        println!("{results}");
        if let Some(s) = results.mesh.last() {
            println!(
                "{:<28} {:.4}",
                format!("mesh in [{}, {}]", mesh_bounds.0, mesh_bounds.1),
                s.fraction_within(mesh_bounds.0, mesh_bounds.1)
            );
        }
        let out = if several {
            args.out.join(format!("seed-{seed}"))
        } else {
            args.out.clone()
        };
        write_outputs(&args, &out, *seed, results)?;
    }
    if several {
        println!(
            "\n{:>8} {:>10} {:>10} {:>10} {:>10} {:>12}",
            "seed", "delivery", "p50 ms", "p99 ms", "dup/deliv", "events"
        );
        for (seed, r) in seeds.iter().zip(&all) {
            println!(
                "{seed:>8} {:>10.6} {:>10.1} {:>10.1} {:>10.3} {:>12}",
                r.delivery_ratio(),
                r.latency.p50.as_secs_f64() * 1e3,
                r.latency.p99.as_secs_f64() * 1e3,
                r.duplicates_per_delivery(),
                r.events
            );
        }
    }
    println!(
        "{:<28} {:.2} s ({} run(s) on {} thread(s), {} thread(s) per run)",
        "wall time",
        wall.as_secs_f64(),
        all.len(),
        threads.min(all.len()),
        threads_per_run
    );
    if let Some(p) = profile {
        println!(
            "{:<28} {} partitions, {} windows: CPU {:.2} s (serial {:.2} s, in windows {:.2} s), \
             critical path {:.2} s, speed-up {:.2}",
            "parallel profile",
            p.partitions,
            p.windows,
            p.total().as_secs_f64(),
            p.serial.as_secs_f64(),
            p.parallel.as_secs_f64(),
            p.critical_path().as_secs_f64(),
            p.speedup()
        );
    }
    if args.memory {
        let (seen, cached) = memory::report(10_000, args.size);
        println!("{:<28} {seen:.0} B", "bytes per seen entry");
        println!(
            "{:<28} {cached:.0} B (payload shared)",
            "bytes per cached message"
        );
    }
    Ok(())
}

/// Writes the CSV files and charts of one run into `out`.
fn write_outputs(
    args: &Args,
    out: &std::path::Path,
    seed: u64,
    results: &Results,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let csv = out.join("messages.csv");
    results.write_messages_csv(BufWriter::new(File::create(&csv)?))?;
    let mesh_csv = out.join("mesh.csv");
    results.write_mesh_csv(BufWriter::new(File::create(&mesh_csv)?))?;
    println!("wrote {} and {}", csv.display(), mesh_csv.display());
    if !args.no_plots {
        let label = format!("{} nodes, seed {seed}", args.nodes);
        let cdf = out.join("latency_cdf.svg");
        plot_latency_cdf(&cdf, &[(label.as_str(), results)]).map_err(|e| anyhow::anyhow!("{e}"))?;
        let dup = out.join("duplicates.svg");
        plot_duplicates(&dup, results).map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("drew {} and {}", cdf.display(), dup.display());
    }
    Ok(())
}
