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
    LatencyModel, LinkConfig, Network, Preset, SimConfig, TopologyConfig, WorkloadConfig,
    plot_duplicates, plot_latency_cdf,
};

#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

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

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(name) = &args.attack.attack {
        return attack::main(
            &args.attack,
            name,
            args.nodes,
            args.seed,
            &args.out,
            !args.no_plots,
        );
    }
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
    };
    let mesh_bounds = {
        let c = cfg.preset.config();
        (c.mesh_n_low(), c.mesh_n_high())
    };
    let wall = Instant::now();
    let results = Network::new(cfg).run();
    let wall = wall.elapsed();
    println!("{results}");
    if let Some(s) = results.mesh.last() {
        println!(
            "{:<28} {:.4}",
            format!("mesh in [{}, {}]", mesh_bounds.0, mesh_bounds.1),
            s.fraction_within(mesh_bounds.0, mesh_bounds.1)
        );
    }
    println!("{:<28} {:.2} s", "wall time", wall.as_secs_f64());
    if args.memory {
        let (seen, cached) = memory::report(10_000, args.size);
        println!("{:<28} {seen:.0} B", "bytes per seen entry");
        println!(
            "{:<28} {cached:.0} B (payload shared)",
            "bytes per cached message"
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let csv = args.out.join("messages.csv");
    results.write_messages_csv(BufWriter::new(File::create(&csv)?))?;
    let mesh_csv = args.out.join("mesh.csv");
    results.write_mesh_csv(BufWriter::new(File::create(&mesh_csv)?))?;
    println!("wrote {} and {}", csv.display(), mesh_csv.display());
    if !args.no_plots {
        let label = format!("{} nodes, seed {}", args.nodes, args.seed);
        let cdf = args.out.join("latency_cdf.svg");
        plot_latency_cdf(&cdf, &[(label.as_str(), &results)])
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let dup = args.out.join("duplicates.svg");
        plot_duplicates(&dup, &results).map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("drew {} and {}", cdf.display(), dup.display());
    }
    Ok(())
}
