//! A deterministic network simulator (cargo feature `sim`).
//!
//! Because the [`Router`](crate::router::Router) never reads the clock, thousands of real
//! routers run in one process, driven by events ordered by (time, creating node, that node's
//! count of events): deliveries after upload serialisation, link latency and download
//! serialisation, heartbeats, validations, publishes, subscription changes and churn. No
//! sockets or wall clock: the same [`SimConfig`] (seed included) gives identical [`Results`],
//! bit for bit, for any [`SimConfig::threads`].
//!
//! One run can use several cores (conservative parallel simulation): the nodes are split
//! into [`SimConfig::threads`] contiguous partitions, each with its own event queue, and time
//! into windows no longer than the smallest link latency, so nothing a node does within a
//! window reaches another partition before the window ends. Partitions run a window in
//! parallel and hand over the deliveries between them at its end; global events (publishes,
//! churn, subscription changes, scheduled connections, mesh samples) run alone between
//! windows. Every node draws its links' loss and jitter from its own generator, so the
//! results do not depend on the partitioning. [`Network::run_profiled`] reports how the work
//! split ([`ParallelProfile`]).
//!
//! Consecutive RPCs that one input of a node (an arriving batch, a heartbeat, a publish)
//! sends to one peer travel as one batch, as a connection handler writes what was queued
//! together: the RPCs leave the uplink one after another and arrive together, in order. The
//! uplink keeps the order in which the node produced its RPCs across peers. Honest nodes accept
//! each message after its topic's [`ValidationDelay`] (zero by default); the router sends
//! IDONTWANT on arrival and forwards on acceptance. Independent runs (seeds, parameter
//! sweeps) go on several threads with [`run_many`], each giving exactly what it gives alone.
//!
//! ```no_run
//! use gossipsub::sim::{Network, SimConfig};
//!
//! let results = Network::new(SimConfig::default()).run();
//! println!("{results}");
//! assert_eq!(results.delivery_ratio(), 1.0);
//! ```
//!
//! Nodes are [`NodeBehaviour`] trait objects: [`HonestNode`] wraps a real router, and
//! adversaries plug in through [`Network::with_factory`] (as [`SimConfig::outsiders`],
//! connected with [`Network::schedule_connection`]). [`attacks`] is the v1.1 evaluation's
//! attack suite built on that seam.

pub mod attacks;
mod config;
mod link;
mod metrics;
mod network;
mod node;
mod parallel;
mod partition;
mod peer_index;
mod plot;
mod queue;
mod results;
mod topology;
mod window;

pub use config::{Preset, SimConfig, ValidationDelay, WorkloadConfig};
pub use link::{DEFAULT_REGION_MATRIX_MS, LatencyModel, LinkConfig};
pub use metrics::NodeBytes;
pub use network::{Network, NodeFactory, Observer, batch_completion};
pub use node::{HonestNode, NodeBehaviour, NodeCtx, NodeInit, NodeOutput, Validator};
pub use parallel::{run_many, run_many_with};
pub use plot::{PlotResult, plot_duplicates, plot_latency_cdf};
pub use results::{Latency, MeshSample, MessageResult, Results};
pub use topology::TopologyConfig;
pub use window::ParallelProfile;
