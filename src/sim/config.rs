//! The knobs of a run: network size, router preset, links, topology and workload.

use std::time::Duration;

use super::link::LinkConfig;
use super::topology::TopologyConfig;
use crate::config::{Config, ConfigBuilder};

/// Which router configuration every honest node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// [`Config::default`] with signed messages ([`crate::MessageAuthenticity::Signed`] by each
    /// node's key): each unique message is verified once per node.
    Default,
    /// [`Config::ethereum`] with anonymous messages ([`crate::MessageAuthenticity::Anonymous`]);
    /// the simulated application accepts every message at once.
    Ethereum,
}

impl Preset {
    /// The router configuration of this preset.
    pub fn config(self) -> Config {
        match self {
            Preset::Default => Config::default(),
            Preset::Ethereum => Config::ethereum(),
        }
    }

    /// The builder of this preset's router configuration, to change it.
    pub fn builder(self) -> ConfigBuilder {
        match self {
            Preset::Default => ConfigBuilder::default(),
            Preset::Ethereum => ConfigBuilder::ethereum(),
        }
    }

    /// Whether nodes sign their messages under this preset.
    pub fn signed(self) -> bool {
        matches!(self, Preset::Default)
    }
}

/// What the nodes do: who publishes what, when, and how subscriptions and membership change.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadConfig {
    /// Number of publishing nodes (chosen at random; they never churn).
    pub publishers: usize,
    /// Messages per second of each publisher.
    pub rate: f64,
    /// Payload size in bytes.
    pub message_size: usize,
    /// Number of topics. Publishers publish on them in turn.
    pub topics: usize,
    /// Probability that a node subscribes to each topic at start (publishers always subscribe
    /// to the topics they publish on).
    pub subscribe_fraction: f64,
    /// Subscription changes per minute over the whole network: a random non-publisher
    /// toggles its subscription to a random topic.
    pub subscription_changes_per_min: f64,
    /// Nodes leaving per minute over the whole network (publishers excepted).
    pub churn_per_min: f64,
    /// How long a node that left stays away before it rejoins with a fresh router and
    /// dials new peers.
    pub churn_downtime: Duration,
    /// Messages each publish event publishes at once, on the same topic (e.g. 6 blobs of a
    /// block). Default 1. See [`batch_completion`](super::batch_completion).
    pub batch_size: usize,
    /// Whether a batch is published with [`Router::publish_batch`](crate::router::Router::publish_batch)
    /// (first copies interleaved) rather than message after message. Default `false`.
    pub batch_interleave: bool,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            publishers: 3,
            rate: 1.0,
            message_size: 1024,
            topics: 1,
            subscribe_fraction: 1.0,
            subscription_changes_per_min: 0.0,
            churn_per_min: 0.0,
            churn_downtime: Duration::from_secs(30),
            batch_size: 1,
            batch_interleave: false,
        }
    }
}

/// The full description of a run. Same configuration and seed: identical results.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of honest nodes.
    pub nodes: usize,
    /// Number of outsiders (attackers) after the honest nodes: indices `nodes..nodes +
    /// outsiders`. They are built by the factory like every node, but are left out of the
    /// random graph (connect them with [`Network::schedule_connection`](super::Network::schedule_connection)),
    /// never publish, churn or count in deliveries, duplicates and mesh samples. Default 0.
    pub outsiders: usize,
    /// The seed every random choice derives from.
    pub seed: u64,
    /// The router configuration.
    pub preset: Preset,
    /// Link properties.
    pub link: LinkConfig,
    /// Initial connections.
    pub topology: TopologyConfig,
    /// Publishers, subscriptions and churn.
    pub workload: WorkloadConfig,
    /// Time before the first publish, for meshes to form.
    pub warmup: Duration,
    /// How long publishers publish.
    pub duration: Duration,
    /// Time after the last publish for deliveries to finish.
    pub drain: Duration,
    /// How often mesh degrees are sampled.
    pub sample_interval: Duration,
    /// How long honest nodes take to validate a message before accepting (and forwarding)
    /// it. Zero (the default) accepts at once.
    pub validation: ValidationDelay,
    /// Whether honest nodes send IDONTWANT (meshsub 1.2) as the preset says (`true`, the
    /// default) or never (`false`), to measure what it saves.
    pub idontwant: bool,
    /// An RPC that carries only IDONTWANT travels with the next message a node sends the
    /// same peer in the same input (one delivery event instead of two) if at most this many
    /// payload bytes of messages (that one included) leave the uplink from the IDONTWANT until
    /// that message is uploaded; 0 sends every
    /// IDONTWANT on its own. The bound keeps what an IDONTWANT is delayed by small (16 KiB, the
    /// default, is 2.6 ms at 50 Mbit/s): forwarding 1 KiB messages to a mesh merges every
    /// IDONTWANT (half the events), a batch of 128 KiB blobs merges none.
    pub idontwant_merge_bytes: usize,
    /// Threads this run uses (0: every available core). The nodes are split into this many
    /// contiguous partitions that run in parallel in windows shorter than the smallest link
    /// latency (one partition if a link can have zero latency). The results are identical
    /// for every value. Default 1: independent runs ([`run_many`](super::run_many)) and tests
    /// already keep the cores busy.
    pub threads: usize,
}

impl SimConfig {
    /// The router configuration every honest node runs: the preset's, without IDONTWANT
    /// when [`SimConfig::idontwant`] is off.
    pub fn router_config(&self) -> Config {
        if self.idontwant {
            return self.preset.config();
        }
        let mut builder = self.preset.builder();
        builder
            .idontwant_message_size_threshold(usize::MAX)
            .idontwant_on_publish(false);
        builder
            .build()
            .expect("a preset without IDONTWANT is valid")
    }
}

/// How long the simulated application of an honest node takes to validate a message, by
/// topic number. Validations run concurrently: each message is accepted `delay` after it
/// arrived, whatever else is being validated. The router sends IDONTWANT when a message
/// arrives and forwards it once accepted, so a delay gives IDONTWANT time to take effect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationDelay {
    /// The delay of every topic not listed in `per_topic`.
    pub default: Duration,
    /// (topic number, delay) overrides.
    pub per_topic: Vec<(usize, Duration)>,
}

impl ValidationDelay {
    /// The same delay on every topic.
    pub fn uniform(delay: Duration) -> Self {
        ValidationDelay {
            default: delay,
            per_topic: Vec::new(),
        }
    }

    /// The delay of topic number `topic`.
    pub fn of(&self, topic: usize) -> Duration {
        self.per_topic
            .iter()
            .rev()
            .find(|(t, _)| *t == topic)
            .map_or(self.default, |(_, d)| *d)
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 100,
            outsiders: 0,
            seed: 1,
            preset: Preset::Ethereum,
            link: LinkConfig::default(),
            topology: TopologyConfig::default(),
            workload: WorkloadConfig::default(),
            warmup: Duration::from_secs(10),
            duration: Duration::from_secs(60),
            drain: Duration::from_secs(10),
            sample_interval: Duration::from_secs(5),
            validation: ValidationDelay::default(),
            idontwant: true,
            idontwant_merge_bytes: 16 * 1024,
            threads: 1,
        }
    }
}

/// The name of topic number `i`.
pub(crate) fn topic_name(i: usize) -> String {
    format!("/sim/topic-{i}")
}
