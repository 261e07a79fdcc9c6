//! The attack suite: the GossipSub v1.1 evaluation's attacks (Protocol Labs report
//! PL-TechRep-2020-001, libp2p/gossipsub-hardening test plans) and a few more, run against
//! real routers with the evaluation's score parameters.
//!
//! A [`Scenario`] names the attack; [`AttackConfig`] sizes it ([`AttackConfig::evaluation`]
//! for the evaluation's 1,000 honest nodes, [`AttackConfig::small`] for tests); [`run`] runs
//! the attack and the same network without attackers, and returns both with what honest
//! routers thought of the attackers ([`AttackReport`]).
//!
//! Honest nodes keep 20 connections (each dials 10), run [`evaluation_config`] with
//! [`evaluation_score`], and reject payloads starting with [`INVALID_MARKER`]. Attackers are
//! [`Sybil`]s that connect to `sybil_degree` honest nodes each (100 by default).

mod observe;
mod params;
mod plot;
mod sybil;

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

pub use observe::{AttackSample, Observed};
pub use params::{
    BEHAVIOUR_PENALTY_WEIGHT, EVALUATION_ACTIVATION, EVALUATION_P3_THRESHOLD, EVALUATION_RATE,
    EVALUATION_SEEN_TTL, evaluation_config, evaluation_score, evaluation_topic_params,
};
pub use plot::plot_attack_timeline;
pub use sybil::{INVALID_MARKER, Strategy, Sybil, SybilConfig};

use super::config::topic_name;
use super::link::LatencyModel;
use super::node::{HonestNode, NodeBehaviour, NodeInit};
use super::{LinkConfig, Network, Results, SimConfig, TopologyConfig, WorkloadConfig};
use crate::authenticity::MessageAuthenticity;
use crate::event::MessageAcceptance;
use crate::router::Router;
use crate::types::{Message, TopicHash};

/// How long honest nodes wait before connecting to each other in [`Scenario::AttackAtDawn`].
pub(crate) const DAWN_HONEST_DELAY: Duration = Duration::from_secs(10);

/// An attack scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// No attackers (the reference run).
    Baseline,
    /// Sybils connect after the warm-up and publish invalid messages.
    SybilSpam,
    /// Sybils connect after the warm-up, join meshes and drop everything.
    Censorship,
    /// Sybils connect at the start and forward like honest peers, building score, then all
    /// stop forwarding at once (the evaluation's covert flash attack).
    CovertFlash,
    /// After the warm-up every sybil connects to one publisher and tries to take over its
    /// mesh, dropping everything (eclipse of a single target).
    EclipseSingle,
    /// After the warm-up sybils connect to publishers only and drop everything (eclipse of all
    /// publishers).
    EclipsePublishers,
    /// Sybils connect after the warm-up and send IHAVEs of fake ids, never answering IWANTs.
    IHaveFlood,
    /// Sybils connect after the warm-up and GRAFT every second during the PRUNE backoff.
    GraftFlood,
    /// Sybils connect after the warm-up and ask again and again for messages they heard of.
    IWantSpam,
    /// Sybils are connected from the start, when every honest score is zero; they drop
    /// everything.
    ColdBoot,
    /// Sybils connect first; honest nodes connect to each other 10 s later; sybils drop
    /// everything.
    AttackAtDawn,
    /// The censorship attack over degraded honest links: 5 % RPC loss and 100-300 ms latency.
    Degradation,
}

impl Scenario {
    /// Every scenario, the baseline first.
    pub const ALL: [Scenario; 12] = [
        Scenario::Baseline,
        Scenario::SybilSpam,
        Scenario::Censorship,
        Scenario::CovertFlash,
        Scenario::EclipseSingle,
        Scenario::EclipsePublishers,
        Scenario::IHaveFlood,
        Scenario::GraftFlood,
        Scenario::IWantSpam,
        Scenario::ColdBoot,
        Scenario::AttackAtDawn,
        Scenario::Degradation,
    ];

    /// The scenario's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Baseline => "baseline",
            Scenario::SybilSpam => "sybil-spam",
            Scenario::Censorship => "censorship",
            Scenario::CovertFlash => "covert-flash",
            Scenario::EclipseSingle => "eclipse-single",
            Scenario::EclipsePublishers => "eclipse-publishers",
            Scenario::IHaveFlood => "ihave-flood",
            Scenario::GraftFlood => "graft-flood",
            Scenario::IWantSpam => "iwant-spam",
            Scenario::ColdBoot => "cold-boot",
            Scenario::AttackAtDawn => "attack-at-dawn",
            Scenario::Degradation => "degradation",
        }
    }

    /// The scenario called `name`.
    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    fn strategy(self) -> Strategy {
        match self {
            Scenario::SybilSpam => Strategy::SpamInvalid,
            Scenario::IHaveFlood => Strategy::IHaveFlood,
            Scenario::GraftFlood => Strategy::GraftFlood,
            Scenario::IWantSpam => Strategy::IWantSpam,
            _ => Strategy::BlackHole,
        }
    }

    /// Whether the sybils connect at the start (rather than after the warm-up).
    pub(crate) fn connects_at_start(self) -> bool {
        matches!(
            self,
            Scenario::CovertFlash | Scenario::ColdBoot | Scenario::AttackAtDawn
        )
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The size and timing of an attack run.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackConfig {
    /// The attack.
    pub scenario: Scenario,
    /// Honest nodes (20 connections each).
    pub honest: usize,
    /// Attackers.
    pub sybils: usize,
    /// Honest nodes each attacker connects to.
    pub sybil_degree: usize,
    /// Publishing honest nodes.
    pub publishers: usize,
    /// Messages per second over the whole network.
    pub total_rate: f64,
    /// Payload bytes.
    pub message_size: usize,
    /// Time before the first publish.
    pub warmup: Duration,
    /// Publishing time.
    pub duration: Duration,
    /// Time after the last publish.
    pub drain: Duration,
    /// When attackers that do not connect at the start connect (and attack).
    pub attack_at: Duration,
    /// When covert-flash attackers stop forwarding.
    pub flash_at: Duration,
    /// P3's activation time (the test plans: 1 min plus the warm-up).
    pub activation: Duration,
    /// Degraded honest links (5 % RPC loss, 100-300 ms latency); on for
    /// [`Scenario::Degradation`] and kept by its [`AttackConfig::baseline`].
    pub degraded_links: bool,
    /// The run's seed.
    pub seed: u64,
    /// Opportunistic grafting of honest nodes: (threshold, every so many heartbeats, at least
    /// 1). The
    /// evaluation's default is (0, 60); its `-oppgraft` variants use (10, 10)
    /// ([`AttackConfig::with_evaluation_oppgraft`]).
    pub opportunistic_graft: (f64, u64),
    /// How honest nodes scale the evaluation's P3 and P3b parameters to this run's workload
    /// ([`AttackConfig::p3_scale`]); `None` (the default): by rate and activation time.
    /// `Some(1.0)` keeps the evaluation's parameters as they are.
    pub p3_scale: Option<f64>,
    /// Threads each run uses ([`SimConfig::threads`]; the results do not depend on it).
    /// Default 1.
    pub threads: usize,
}

impl AttackConfig {
    /// The evaluation's setup: 1,000 honest nodes (100 publishers, 120 msg/s of 2 KiB in
    /// total), 250 sybils with 100 connections each (all of them to one publisher for
    /// [`Scenario::EclipseSingle`]); 30 s warm-up, 3 min of publishing, attackers connect at
    /// 1 min, covert flash at 2 min.
    pub fn evaluation(scenario: Scenario) -> Self {
        AttackConfig {
            scenario,
            honest: 1000,
            sybils: if scenario == Scenario::Baseline {
                0
            } else {
                250
            },
            sybil_degree: 100,
            publishers: 100,
            total_rate: EVALUATION_RATE,
            message_size: 2048,
            warmup: Duration::from_secs(30),
            duration: Duration::from_secs(180),
            drain: Duration::from_secs(30),
            attack_at: Duration::from_secs(60),
            flash_at: Duration::from_secs(120),
            activation: EVALUATION_ACTIVATION,
            degraded_links: scenario == Scenario::Degradation,
            seed: 1,
            opportunistic_graft: (0.0, 60),
            p3_scale: None,
            threads: 1,
        }
    }

    /// A small version for tests: 60 honest nodes, 15 sybils with 30 connections each, 20
    /// publishers at 8 msg/s in total, 60 s of simulated time; the timeline is compressed
    /// (attack at 15 s, covert flash at 30 s, P3 active 20 s after a GRAFT) and P3 is scaled
    /// to it ([`AttackConfig::p3_scale`]). With fixed link latencies each publisher's messages
    /// reach a node first through the same mesh peer, so P3 credits a mesh peer per
    /// publisher it is first for: with the evaluation's share of publishers (6 here) about
    /// one honest mesh link in ten was first for none and was pruned when P3 activated.
    pub fn small(scenario: Scenario) -> Self {
        AttackConfig {
            honest: 60,
            sybils: if scenario == Scenario::Baseline {
                0
            } else {
                15
            },
            sybil_degree: 30,
            publishers: 20,
            total_rate: 8.0,
            warmup: Duration::from_secs(10),
            duration: Duration::from_secs(45),
            drain: Duration::from_secs(5),
            attack_at: Duration::from_secs(15),
            flash_at: Duration::from_secs(30),
            activation: Duration::from_secs(20),
            ..Self::evaluation(scenario)
        }
    }

    /// The evaluation's `-oppgraft` variant (`1k-attack-dawn-oppgraft.json`,
    /// `1k-attack-cold-boot-oppgraft.json`): opportunistic grafting every 10 heartbeats when
    /// the median mesh score is below 10.
    pub fn with_evaluation_oppgraft(mut self) -> Self {
        self.opportunistic_graft = (10.0, 10);
        self
    }

    /// When the attack starts: the flash for [`Scenario::CovertFlash`], the start for attackers
    /// connected at the start, [`AttackConfig::attack_at`] otherwise.
    pub fn attack_start(&self) -> Duration {
        match self.scenario {
            Scenario::CovertFlash => self.flash_at,
            s if s.connects_at_start() => Duration::ZERO,
            _ => self.attack_at,
        }
    }

    /// The factor `s` by which honest nodes scale P3 (mesh message deliveries) to this run's
    /// workload: [`AttackConfig::p3_scale`] if set, else the run's rate against the
    /// evaluation's [`EVALUATION_RATE`] times its P3 activation against
    /// [`EVALUATION_ACTIVATION`] (1 for the evaluation's own setup). P3 counts a mesh peer's
    /// first and near-first deliveries, so its threshold (10) and cap (400) only keep their
    /// meaning, the same share of a mesh peer's expected deliveries by the time P3 activates,
    /// when they move with rate x activation; both are multiplied by `s`, and the P3 and P3b
    /// weights divided by `s`² so that a silent mesh peer (a deficit of the whole threshold)
    /// costs what it costs in the evaluation. Unscaled, the small setup (8 msg/s, P3 active
    /// after 20 s) would ask each mesh peer to be first in 6 % of all messages (0.14 % in the
    /// evaluation): honest peers that mostly receive from us are pruned and scored negative,
    /// and meshes thin out (`--p3-scale 1` shows it).
    pub fn p3_scale(&self) -> f64 {
        self.p3_scale.unwrap_or_else(|| {
            let rate = self.total_rate / EVALUATION_RATE;
            let activation = self.activation.as_secs_f64() / EVALUATION_ACTIVATION.as_secs_f64();
            rate * activation
        })
    }

    /// The same setup (links included) without attackers.
    pub fn baseline(&self) -> Self {
        AttackConfig {
            sybils: 0,
            scenario: Scenario::Baseline,
            ..self.clone()
        }
    }

    /// The simulator configuration of this run.
    pub fn sim_config(&self) -> SimConfig {
        let publishers = self.publishers.clamp(1, self.honest.max(1));
        let mut link = LinkConfig {
            // The evaluation: 25 ms with 10 % jitter, 10 GB/s links.
            latency: LatencyModel::Fixed(Duration::from_millis(25)),
            jitter: Duration::from_micros(2500),
            loss: 0.0,
            upload_bps: 0,
            download_bps: 0,
        };
        if self.degraded_links {
            link.latency = LatencyModel::Uniform {
                min: Duration::from_millis(100),
                max: Duration::from_millis(300),
            };
            link.loss = 0.05;
        }
        SimConfig {
            nodes: self.honest,
            outsiders: self.sybils,
            seed: self.seed,
            link,
            topology: TopologyConfig { connections: 20 },
            workload: WorkloadConfig {
                publishers,
                rate: self.total_rate / publishers as f64,
                message_size: self.message_size,
                topics: 1,
                ..WorkloadConfig::default()
            },
            warmup: self.warmup,
            duration: self.duration,
            drain: self.drain,
            sample_interval: Duration::from_secs(1),
            threads: self.threads,
            ..SimConfig::default()
        }
    }
}

/// The outcome of one scenario and of its attack-free reference run.
pub struct AttackReport {
    /// The configuration.
    pub config: AttackConfig,
    /// The attack run.
    pub attack: Results,
    /// What honest routers thought during the attack run.
    pub observed: Observed,
    /// The same network without attackers, if it was run.
    pub baseline: Option<Results>,
}

/// The honest validator of attack runs: rejects sybil spam.
fn validate(message: &Message) -> MessageAcceptance {
    if message.data.starts_with(INVALID_MARKER) {
        MessageAcceptance::Reject
    } else {
        MessageAcceptance::Accept
    }
}

/// Builds an honest node with the evaluation's configuration and scores.
fn honest_node(init: &NodeInit, topics: &[TopicHash], config: &AttackConfig) -> HonestNode {
    let peer_id = init.keypair.public().to_peer_id();
    let (graft_threshold, graft_ticks) = config.opportunistic_graft;
    let overlay = params::evaluation_builder()
        .opportunistic_graft_ticks(graft_ticks.max(1))
        .build()
        .expect("the evaluation's configuration is valid");
    let mut router = Router::new(
        overlay,
        MessageAuthenticity::Anonymous,
        init.seed,
        1,
        init.now,
    )
    .expect("the evaluation's configuration is valid");
    let (mut params, mut thresholds) = evaluation_score(topics, config.activation);
    let scale = config.p3_scale();
    if scale > 0.0 && scale.is_finite() {
        for topic in params.topics.values_mut() {
            topic.mesh_message_deliveries_threshold *= scale;
            topic.mesh_message_deliveries_cap *= scale;
            topic.mesh_message_deliveries_weight /= scale * scale;
            topic.mesh_failure_penalty_weight /= scale * scale;
        }
    }
    thresholds.opportunistic_graft_threshold = graft_threshold;
    router
        .with_peer_score(params, thresholds)
        .expect("the evaluation's score parameters are valid");
    HonestNode::from_router(peer_id, router).with_validator(validate)
}

/// Runs the attack of `config` alone (no reference run).
pub fn run_attack(config: &AttackConfig) -> (Results, Observed) {
    let sim = config.sim_config();
    let honest = config.honest;
    let topics: Vec<TopicHash> = (0..sim.workload.topics.max(1))
        .map(|i| TopicHash::from(topic_name(i)))
        .collect();
    let honest_config = config.clone();
    let mut sybil = SybilConfig::new(config.scenario.strategy());
    if config.scenario == Scenario::CovertFlash {
        sybil.attack_after = config.flash_at;
    }
    let factory_topics = topics.clone();
    let mut network = Network::with_factory(
        sim.clone(),
        Box::new(move |init: &NodeInit| -> Box<dyn NodeBehaviour> {
            if init.index < honest {
                Box::new(honest_node(init, &factory_topics, &honest_config))
            } else {
                Box::new(Sybil::new(init, sybil))
            }
        }),
    );
    let attackers: HashSet<_> = (honest..honest + config.sybils)
        .map(|i| network.peer_id(i))
        .collect();
    let (observer, handle) = observe::observer(honest, attackers);
    network.set_observer(observer);
    schedule(config, &mut network);
    let results = network.run();
    (results, handle.take())
}

/// Runs the attack of `config` and, unless it is the baseline, the same network without
/// attackers.
pub fn run(config: &AttackConfig) -> AttackReport {
    let (attack, observed) = run_attack(config);
    let baseline = (config.scenario != Scenario::Baseline && config.sybils > 0)
        .then(|| run_attack(&config.baseline()).0);
    AttackReport {
        config: config.clone(),
        attack,
        observed,
        baseline,
    }
}

/// Schedules the attackers' connections (and the delayed honest graph of the attack at
/// dawn).
fn schedule(config: &AttackConfig, network: &mut Network) {
    let honest = config.honest;
    if honest == 0 || config.sybils == 0 {
        return;
    }
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5b11_a77a_c4ed);
    let publishers = network.publishers();
    let at_start = config.scenario.connects_at_start();
    if config.scenario == Scenario::AttackAtDawn {
        network.delay_honest_graph(DAWN_HONEST_DELAY);
    }
    let all: Vec<usize> = (0..honest).collect();
    for s in 0..config.sybils {
        let sybil = honest + s;
        let targets: Vec<usize> = match config.scenario {
            Scenario::EclipseSingle => vec![publishers[0]],
            Scenario::EclipsePublishers => publishers
                .choose_multiple(&mut rng, config.sybil_degree.min(publishers.len()))
                .copied()
                .collect(),
            _ => all
                .choose_multiple(&mut rng, config.sybil_degree.min(honest))
                .copied()
                .collect(),
        };
        for target in targets {
            // Connections spread over the first second of the attack (or of the run).
            let base = if at_start {
                Duration::ZERO
            } else {
                config.attack_at
            };
            let at = base + Duration::from_millis(rng.gen_range(0..1000));
            // Sybils dial: honest nodes see them as inbound peers.
            network.schedule_connection(at, sybil, target);
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(
        || "never".to_string(),
        |d| format!("{:.0} s", d.as_secs_f64()),
    )
}

impl AttackReport {
    /// Time from the attack's start until attackers held no honest mesh slot.
    pub fn time_to_prune(&self) -> Option<Duration> {
        self.observed.time_to_prune(self.config.attack_start())
    }

    /// Time from the attack's start until every honest connection to an attacker
    /// graylisted it.
    pub fn time_to_graylist(&self) -> Option<Duration> {
        self.observed.time_to_graylist(self.config.attack_start())
    }

    /// A markdown table header matching [`AttackReport::table_row`].
    pub fn table_header() -> &'static str {
        "| scenario | delivery | p50 / p99 / max latency | duplicates per delivery | attackers pruned from meshes | attackers graylisted | honest peers penalised / graylisted |\n\
         |---|---|---|---|---|---|---|"
    }

    /// One markdown table row: the attack run, with the reference run's figures in brackets.
    pub fn table_row(&self) -> String {
        let a = &self.attack;
        let l = a.latency;
        let mut delivery = format!("{:.4} %", a.delivery_ratio() * 100.0);
        let mut latency = format!("{:.0} / {:.0} / {:.0} ms", ms(l.p50), ms(l.p99), ms(l.max));
        let mut dups = format!("{:.2}", a.duplicates_per_delivery());
        if let Some(b) = &self.baseline {
            delivery += &format!(" ({:.4} %)", b.delivery_ratio() * 100.0);
            latency += &format!(
                " ({:.0} / {:.0} / {:.0})",
                ms(b.latency.p50),
                ms(b.latency.p99),
                ms(b.latency.max)
            );
            dups += &format!(" ({:.2})", b.duplicates_per_delivery());
        }
        let pruned = if self.config.sybils == 0 {
            "-".to_string()
        } else {
            match self.time_to_prune() {
                Some(t) => format!(
                    "{} (peak {} slots)",
                    secs(Some(t)),
                    self.observed.peak_attacker_mesh_slots()
                ),
                None => format!(
                    "not all: {} of peak {} slots at end ({:.1} % of honest mesh slots)",
                    self.observed
                        .samples
                        .last()
                        .map_or(0, |s| s.attacker_mesh_slots),
                    self.observed.peak_attacker_mesh_slots(),
                    self.observed.attacker_mesh_share_at_end() * 100.0
                ),
            }
        };
        let graylisted = if self.config.sybils == 0 {
            "-".to_string()
        } else {
            match self.time_to_graylist() {
                Some(t) => secs(Some(t)),
                None => {
                    let (below_gossip, negative) =
                        self.observed.samples.last().map_or((0.0, 0.0), |s| {
                            let n = f64::from(s.attacker_connections.max(1));
                            (
                                f64::from(s.attackers_below_gossip) / n,
                                f64::from(s.attackers_negative) / n,
                            )
                        });
                    format!(
                        "never (at end {:.0} % graylisted, {:.0} % below gossip threshold, {:.0} % negative)",
                        self.observed.graylisted_at_end() * 100.0,
                        below_gossip * 100.0,
                        negative * 100.0
                    )
                }
            }
        };
        format!(
            "| {} | {delivery} | {latency} | {dups} | {pruned} | {graylisted} | {} / {} |",
            self.config.scenario,
            self.observed.honest_ever_negative,
            self.observed.honest_ever_graylisted
        )
    }

    /// Which score term made honest peers negative (see [`Observed::honest_negative_causes`]).
    pub fn honest_negative_causes(&self) -> String {
        let [p3, p3b, p4, p7, other] = self.observed.honest_negative_causes;
        format!(
            "P3 {p3}, P3b {p3b}, P4 {p4}, P7 {p7}, other {other} (negative pair-samples by worst term)"
        )
    }
}

impl fmt::Display for AttackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "scenario {}: {} honest nodes, {} sybils x {} connections, attack at {:.0} s",
            c.scenario,
            c.honest,
            c.sybils,
            c.sybil_degree,
            c.attack_start().as_secs_f64()
        )?;
        writeln!(
            f,
            "honest negative causes: {}",
            self.honest_negative_causes()
        )?;
        // Equal digests mean identical runs (to check that a change leaves results alone).
        write!(f, "digest {:016x}", self.attack.digest)?;
        if let Some(b) = &self.baseline {
            write!(f, " (reference run {:016x})", b.digest)?;
        }
        writeln!(f)?;
        writeln!(f, "{}", Self::table_header())?;
        write!(f, "{}", self.table_row())
    }
}
