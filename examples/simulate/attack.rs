//! `simulate --attack <name>|all`: the attack suite of `gossipsub::sim::attacks` from the
//! command line, with its attack-free reference runs, a markdown table and charts.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args as ClapArgs;
use gossipsub::sim::attacks::{
    AttackConfig, AttackReport, Scenario, plot_attack_timeline, run_attack,
};
use gossipsub::sim::{Results, plot_latency_cdf};

/// Flags of the attack suite (used with `--attack`).
#[derive(Debug, Clone, ClapArgs)]
pub struct AttackArgs {
    /// Run attack scenarios (a comma-separated list, or `all`) against the attack-free run:
    /// baseline, sybil-spam,
    /// censorship, covert-flash, eclipse-single, eclipse-publishers, ihave-flood, graft-flood,
    /// iwant-spam, cold-boot, attack-at-dawn, degradation. Uses the evaluation's setup
    /// (flags below), `--nodes` honest nodes, `--seed` and `--out`.
    #[arg(long)]
    pub attack: Option<String>,
    /// Attackers (default: a quarter of --nodes, the evaluation's 250 per 1,000).
    #[arg(long)]
    pub sybils: Option<usize>,
    /// Honest nodes each attacker connects to.
    #[arg(long, default_value_t = 100)]
    pub sybil_degree: usize,
    /// Publishers (default: a tenth of --nodes, at most 100).
    #[arg(long)]
    pub attack_publishers: Option<usize>,
    /// Messages per second over the whole network.
    #[arg(long, default_value_t = 120.0)]
    pub attack_rate: f64,
    /// Publishing time of an attack run (warm-up 30 s and drain 30 s come on top).
    #[arg(long, default_value = "180s", value_parser = super::parse_duration)]
    pub attack_duration: Duration,
    /// Use the small configuration of the tests (`AttackConfig::small`: 60 honest nodes, 15
    /// sybils, compressed 60 s timeline) instead; only --seed, --sybils, --p3-scale and
    /// --opportunistic-graft apply.
    #[arg(long)]
    pub attack_small: bool,
    /// The evaluation's `-oppgraft` variant: honest nodes graft opportunistically every 10
    /// heartbeats when their mesh's median score is below 10 (default: every 60, below 0).
    #[arg(long)]
    pub opportunistic_graft: bool,
    /// Scale honest nodes' P3 by this factor: threshold and cap times it, P3 and P3b weights
    /// divided by its square (`AttackConfig::p3_scale`). Default: the run's message rate
    /// against the evaluation's 120 msg/s times P3's activation against 90 s; 1 keeps the
    /// evaluation's parameters unchanged.
    #[arg(long)]
    pub p3_scale: Option<f64>,
}

fn config(args: &AttackArgs, scenario: Scenario, nodes: usize, seed: u64) -> AttackConfig {
    let mut c = base_config(args, scenario, nodes, seed);
    c.p3_scale = args.p3_scale;
    if args.opportunistic_graft {
        c.with_evaluation_oppgraft()
    } else {
        c
    }
}

fn base_config(args: &AttackArgs, scenario: Scenario, nodes: usize, seed: u64) -> AttackConfig {
    if args.attack_small {
        let mut c = AttackConfig::small(scenario);
        c.seed = seed;
        if scenario != Scenario::Baseline {
            c.sybils = args.sybils.unwrap_or(c.sybils);
        }
        return c;
    }
    let mut c = AttackConfig::evaluation(scenario);
    c.honest = nodes;
    c.seed = seed;
    c.sybils = if scenario == Scenario::Baseline {
        0
    } else {
        args.sybils.unwrap_or(nodes / 4)
    };
    c.sybil_degree = args.sybil_degree;
    c.publishers = args.attack_publishers.unwrap_or((nodes / 10).clamp(1, 100));
    c.total_rate = args.attack_rate;
    c.duration = args.attack_duration;
    c
}

/// Runs the scenario(s) named by `--attack`, prints one report each and the markdown table,
/// and draws the charts into `out`.
pub fn main(
    args: &AttackArgs,
    name: &str,
    (nodes, threads): (usize, usize),
    seed: u64,
    out: &Path,
    plots: bool,
) -> anyhow::Result<()> {
    let scenarios: Vec<Scenario> = if name == "all" {
        Scenario::ALL.to_vec()
    } else {
        name.split(',')
            .map(|n| Scenario::from_name(n.trim()).with_context(|| format!("unknown attack {n:?}")))
            .collect::<anyhow::Result<_>>()?
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // Reference runs, one per link setup (the degradation scenario degrades the links).
    let mut baselines: Vec<(bool, Results)> = Vec::new();
    let mut rows = Vec::new();
    for scenario in scenarios {
        let mut c = config(args, scenario, nodes, seed);
        // Threads within each run (`--threads-per-run`): the results do not depend on it.
        c.threads = threads;
        let degraded = scenario == Scenario::Degradation;
        let wall = Instant::now();
        let (attack, observed) = run_attack(&c);
        let attack_wall = wall.elapsed();
        let baseline = if scenario == Scenario::Baseline {
            None
        } else {
            if !baselines.iter().any(|(d, _)| *d == degraded) {
                let wall = Instant::now();
                let (b, _) = run_attack(&c.baseline());
                println!(
                    "reference run ({}links): {:.1} s wall",
                    if degraded { "degraded " } else { "" },
                    wall.elapsed().as_secs_f64()
                );
                baselines.push((degraded, b));
            }
            baselines
                .iter()
                .find(|(d, _)| *d == degraded)
                .map(|(_, b)| b.clone())
        };
        let report = AttackReport {
            config: c,
            attack,
            observed,
            baseline,
        };
        println!("{report}");
        println!(
            "{:<28} {:.1} s\n",
            "wall time (attack run)",
            attack_wall.as_secs_f64()
        );
        if plots {
            draw(&report, out)?;
        }
        rows.push(report.table_row());
    }
    println!("{}", AttackReport::table_header());
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

fn draw(report: &AttackReport, out: &Path) -> anyhow::Result<()> {
    let name = report.config.scenario.name();
    let mut runs: Vec<(&str, &Results)> = vec![(name, &report.attack)];
    if let Some(b) = &report.baseline {
        runs.push(("attack-free", b));
    }
    let delivery = out.join(format!("{name}-delivery.svg"));
    plot_attack_timeline(&delivery, report).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cdf = out.join(format!("{name}-latency-cdf.svg"));
    plot_latency_cdf(&cdf, &runs).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("drew {} and {}", delivery.display(), cdf.display());
    Ok(())
}
