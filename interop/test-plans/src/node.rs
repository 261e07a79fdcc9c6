//! The script interpreter, shared by both nodes: the only difference between them is the
//! [`Gossip`] behaviour.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use libp2p::identity::Keypair;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError, NetworkBehaviour, SwarmEvent};
use libp2p::{PeerId, Swarm, identify, noise, tcp, yamux};
use serde_json::Value;
use tokio::time::{Instant, sleep_until};

use crate::groups::{Groups, MAX_REMOTE_GROUPS};
use crate::identity::{self, Network};
use crate::output;
use crate::partial::PartialGroup;
use crate::script::{ExperimentParams, GossipSubParams, Instruction, NodeId};

/// The largest message either node accepts (go-libp2p's node: `WithMaxMessageSize(10 MiB)`).
pub const MAX_MESSAGE_SIZE: usize = 10 << 20;

/// What the interpreter needs from a GossipSub implementation.
pub trait Gossip: NetworkBehaviour + Sized {
    /// Its message id type.
    type Id: Clone + Send + 'static;

    /// Builds the behaviour: anonymous messages (go's `StrictNoSign`), application
    /// validation on, message id = the payload's first 8 bytes, `params` applied over the
    /// implementation's defaults. Parameters it cannot apply are named on stderr.
    fn build(key: &Keypair, params: &GossipSubParams) -> Result<Self, String>;

    /// Subscribes to a topic (the topic hash is the topic string).
    fn subscribe(&mut self, topic: &str) -> Result<(), String>;

    /// Publishes `data` on `topic`.
    fn publish(&mut self, topic: &str, data: Vec<u8>) -> Result<(), String>;

    /// Reports a received message as valid.
    fn accept(&mut self, id: &Self::Id, from: &PeerId);

    /// Translates an event of the behaviour into a received message, if it is one.
    fn received(event: Self::ToSwarm) -> Option<Received<Self::Id>>;

    /// Subscribes to a topic announcing that we support and request partial messages
    /// (`subscribeToTopic` with `partial`).
    fn subscribe_partial(&mut self, topic: &str) -> Result<(), String>;

    /// Publishes our copy of a group on a topic enabled with [`Gossip::subscribe_partial`]:
    /// our parts metadata to the topic's peers, and the parts each peer lacks to those that
    /// told us what they hold.
    fn publish_partial(&mut self, topic: &str, group: &PartialGroup) -> Result<(), String>;

    /// Publishes our copy of a group to `peers` only (`publishPartial` with
    /// `publishToNodeIDs`), enabling partial messages on the topic first if we are not
    /// subscribed to it. Returns the number of peers sent to, if the library tells.
    fn publish_partial_to(
        &mut self,
        topic: &str,
        group: &PartialGroup,
        peers: &[PeerId],
    ) -> Result<Option<usize>, String>;

    /// The application's verdict on the parts `from` sent on `topic`: new and valid (`true`)
    /// or invalid (`false`).
    fn report_partial(&mut self, from: &PeerId, topic: &str, valid: bool);

    /// A tracing layer the node installs next to the stderr diagnostics (libp2p-gossipsub
    /// reports duplicates only through a debug log line).
    fn tracing_layer()
    -> Option<Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>> {
        None
    }

    /// Diagnostics on stderr (`info`) at each `waitUntil` and once the script ended: mesh
    /// sizes, and ours also its router's counters. `stage` names the moment.
    fn diagnostics(&self, _stage: &'static str) {}
}

/// A message reported by the behaviour.
#[derive(Debug)]
pub enum Received<Id> {
    /// The first copy: logged, then validated (after the topic's validation delay).
    Message {
        /// The behaviour's id, for the validation verdict.
        id: Id,
        /// The harness' id of the payload, `None` if shorter than 8 bytes.
        log_id: Option<String>,
        /// The peer it came from.
        from: PeerId,
        /// The topic.
        topic: String,
    },
    /// A partial message: parts and/or the sender's parts metadata of a group.
    Partial {
        /// The peer it came from.
        from: PeerId,
        /// The topic.
        topic: String,
        /// The group id on the wire.
        group_id: Vec<u8>,
        /// The encoded parts, if any.
        parts: Option<Vec<u8>>,
    },
    /// A later copy: logged only.
    Duplicate {
        /// The harness' id.
        log_id: Option<String>,
        /// The peer it came from.
        from: PeerId,
        /// The topic.
        topic: String,
    },
}

pub use behaviour::{NodeBehaviour, NodeBehaviourEvent};

mod behaviour {
    // The derived event enum carries no docs.
    #![allow(missing_docs)]
    use super::*;

    /// Both nodes run GossipSub next to identify (go-libp2p hosts always run identify).
    #[derive(NetworkBehaviour)]
    #[behaviour(prelude = "libp2p::swarm::derive_prelude")]
    pub struct NodeBehaviour<G: Gossip> {
        /// The implementation under test.
        pub gossipsub: G,
        /// Identify.
        pub identify: identify::Behaviour,
    }
}

/// Command-line options: `--params <file>` always; `--node-id N` overrides the hostname;
/// `--loopback` selects the one-machine addresses, `127.0.0.1:(9000+N)`; `--port-base P`
/// (loopback only) moves them to `P+N` so that two runs can share a machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The `params.json` path.
    pub params: PathBuf,
    /// The node id, if given on the command line.
    pub node_id: Option<NodeId>,
    /// Where nodes listen and are reached.
    pub network: Network,
}

impl Options {
    /// Parses the arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut params = None;
        let mut node_id = None;
        let mut loopback = false;
        let mut base = 9000u16;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_string(), Some(v.to_string())),
                None => (arg, None),
            };
            let mut value = |name: &str| {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match flag.as_str() {
                "--params" => params = Some(PathBuf::from(value("--params")?)),
                "--node-id" => {
                    let v = value("--node-id")?;
                    let id = v
                        .parse::<NodeId>()
                        .ok()
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| format!("--node-id {v:?} is not a node id"))?;
                    node_id = Some(id);
                }
                "--loopback" => loopback = true,
                "--port-base" => {
                    let v = value("--port-base")?;
                    base = v
                        .parse()
                        .map_err(|_| format!("--port-base {v:?} is not a port"))?;
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(Options {
            params: params.ok_or("--params <params.json> is required")?,
            node_id,
            network: if loopback {
                Network::Loopback { base }
            } else {
                Network::Hostnames
            },
        })
    }
}

/// Runs a node: the process' `main`. Exit status 0 once the script ended, 1 on a setup
/// error, 2 on an instruction this node does not support.
pub fn main<G: Gossip>() -> std::process::ExitCode
where
    <G as NetworkBehaviour>::ToSwarm: std::fmt::Debug,
{
    use tracing_subscriber::prelude::*;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        );
    tracing_subscriber::registry()
        .with(G::tracing_layer())
        .with(stderr)
        .init();
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!("{e}");
            return std::process::ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("tokio runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(run::<G>(options)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(Failure::Setup(e)) => {
            tracing::error!("{e}");
            std::process::ExitCode::from(1)
        }
        Err(Failure::Unsupported(e)) => {
            tracing::error!(unsupported = true, "{e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Why a node stopped early.
#[derive(Debug)]
pub enum Failure {
    /// Bad input or environment.
    Setup(String),
    /// A script instruction this node does not support yet.
    Unsupported(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Setup(e)
    }
}

/// Runs the script of `options` to its end.
pub async fn run<G: Gossip>(options: Options) -> Result<(), Failure>
where
    <G as NetworkBehaviour>::ToSwarm: std::fmt::Debug,
{
    let start = Instant::now();
    let params = ExperimentParams::from_file(&options.params)?;
    let node = match options.node_id {
        Some(n) => n,
        None => identity::node_id_from_hostname(&identity::hostname()?)?,
    };
    let key = identity::keypair(node);
    let gossip_params = params.gossipsub_params(node).cloned().unwrap_or_default();
    let behaviour = NodeBehaviour {
        gossipsub: G::build(&key, &gossip_params)?,
        identify: identify::Behaviour::new(identify::Config::new(
            "/interop/1.0.0".into(),
            key.public(),
        )),
    };
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| format!("transport: {e}"))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| format!("behaviour: {e}"))?
        // Connections are made before any subscription: never close them as idle.
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(24 * 3600)))
        .build();
    let listen = identity::listen_addr(options.network, node)?;
    swarm
        .listen_on(listen.clone())
        .map_err(|e| format!("listen on {listen}: {e}"))?;
    output::emit(
        "PeerID",
        &[
            ("id", Value::String(swarm.local_peer_id().to_string())),
            ("node_id", Value::from(node)),
        ],
    );
    tracing::info!(node, peer = %swarm.local_peer_id(), %listen, "started");
    let mut interpreter = Interpreter {
        swarm,
        start,
        node,
        network: options.network,
        validation_delays: HashMap::new(),
        validations: FuturesUnordered::new(),
        dials: HashMap::new(),
        dial_results: Vec::new(),
        partials: Groups::new(),
    };
    for instruction in &params.script {
        interpreter.execute(instruction).await?;
    }
    interpreter.swarm.behaviour().gossipsub.diagnostics("final");
    tracing::info!(node, "script finished");
    Ok(())
}

/// A validation verdict due at some time.
type PendingValidation<Id> = Pin<Box<dyn Future<Output = (Id, PeerId)> + Send>>;

/// Loopback connects retry a refused dial this many times...
const LOOPBACK_DIAL_ATTEMPTS: u32 = 20;
/// ...waiting 50 ms, doubling, at most this long between attempts.
const LOOPBACK_MAX_BACKOFF: Duration = Duration::from_secs(1);
/// A `connect` instruction gives up on dials still pending after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

struct Interpreter<G: Gossip> {
    swarm: Swarm<NodeBehaviour<G>>,
    start: Instant,
    node: NodeId,
    network: Network,
    validation_delays: HashMap<String, Duration>,
    validations: FuturesUnordered<PendingValidation<G::Id>>,
    /// Our outstanding dials, by connection.
    dials: HashMap<ConnectionId, NodeId>,
    /// Outcomes of those dials not yet consumed by `connect`.
    dial_results: Vec<(NodeId, Result<(), String>)>,
    /// Our copy of every live partial message group, by topic and group id.
    partials: Groups,
}

impl<G: Gossip> Interpreter<G>
where
    <G as NetworkBehaviour>::ToSwarm: std::fmt::Debug,
{
    async fn execute(&mut self, instruction: &Instruction) -> Result<(), Failure> {
        match instruction {
            Instruction::Connect { connect_to } => self.connect(connect_to).await?,
            Instruction::IfNodeIdEquals {
                node_id,
                instruction,
            } => {
                if *node_id == self.node {
                    Box::pin(self.execute(instruction)).await?;
                }
            }
            Instruction::WaitUntil { elapsed_seconds } => {
                let until = self.start + Duration::from_secs(*elapsed_seconds);
                self.swarm.behaviour().gossipsub.diagnostics("waitUntil");
                while Instant::now() < until {
                    self.step(Some(until)).await;
                }
            }
            Instruction::Publish {
                message_id,
                message_size_bytes,
                topic_id,
            } => self.publish(*message_id, *message_size_bytes, topic_id),
            Instruction::SubscribeToTopic { topic_id, partial } => {
                let gossip = &mut self.swarm.behaviour_mut().gossipsub;
                let result = if *partial {
                    gossip.subscribe_partial(topic_id)
                } else {
                    gossip.subscribe(topic_id)
                };
                match result {
                    Ok(()) => tracing::info!(topic = %topic_id, partial, "subscribed"),
                    Err(e) => tracing::error!(topic = %topic_id, "subscribe failed: {e}"),
                }
            }
            Instruction::SetTopicValidationDelay {
                topic_id,
                delay_seconds,
            } => {
                let delay = Duration::try_from_secs_f64(*delay_seconds)
                    .map_err(|e| format!("validation delay {delay_seconds}: {e}"))?;
                self.validation_delays.insert(topic_id.clone(), delay);
            }
            // Applied when the behaviour was built.
            Instruction::InitGossipSub { .. } => {}
            Instruction::AddPartialMessage {
                parts,
                topic_id,
                group_id,
            } => self.add_partial(topic_id, *group_id, *parts),
            Instruction::PublishPartial {
                topic_id,
                group_id,
                publish_to_node_ids,
            } => match publish_to_node_ids.as_deref() {
                Some(ids) if !ids.is_empty() => self.publish_partial_to(topic_id, *group_id, ids),
                _ => self.publish_partial(topic_id, *group_id),
            },
        }
        Ok(())
    }

    /// `addPartialMessage`: our copy of the group gains the parts of `bitmap`. A copy may
    /// already exist (a peer's partial message about the group can arrive before this
    /// instruction runs): the parts are merged into it. (go's node keeps the existing copy
    /// and drops the instruction's parts, which loses them when a peer was faster.)
    fn add_partial(&mut self, topic: &str, group_id: u64, bitmap: u8) {
        let group = self.partials.added(topic, group_id, Instant::now());
        let was_complete = group.complete();
        group.merge(&PartialGroup::filled(group_id, bitmap));
        tracing::info!(
            topic,
            group_id,
            parts = bitmap,
            held = group.bitmap(),
            "added partial message"
        );
        if group.complete() && !was_complete {
            output::all_parts_received(group_id);
        }
    }

    /// `publishPartial`: publishes our copy of the group (an empty one if we hold none).
    fn publish_partial(&mut self, topic: &str, group_id: u64) {
        let group = self.partials.published(topic, group_id, Instant::now());
        output::emit(
            "Publish Partial",
            &[
                ("topic", Value::String(topic.to_string())),
                ("group id", Value::from(group_id)),
            ],
        );
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish_partial(topic, group)
        {
            Ok(()) => tracing::info!(topic, group_id, "published partial message"),
            Err(e) => tracing::warn!(topic, group_id, "publish partial failed: {e}"),
        }
    }

    /// `publishPartial` with `publishToNodeIDs`: publishes our copy of the group (an empty
    /// one if we hold none) to those nodes only, enabling partial messages on the topic first
    /// if we are not subscribed to it (go's node: `PublishPartial` with `peersToPublishTo`).
    fn publish_partial_to(&mut self, topic: &str, group_id: u64, nodes: &[NodeId]) {
        let peers: Vec<PeerId> = nodes.iter().map(|&n| identity::peer_id(n)).collect();
        let group = self.partials.published(topic, group_id, Instant::now());
        output::emit(
            "Publish Partial",
            &[
                ("topic", Value::String(topic.to_string())),
                ("group id", Value::from(group_id)),
            ],
        );
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish_partial_to(topic, group, &peers)
        {
            Ok(sent) => {
                tracing::info!(
                    topic,
                    group_id,
                    ?nodes,
                    sent,
                    "published partial message to chosen nodes"
                )
            }
            Err(e) => tracing::warn!(
                topic,
                group_id,
                ?nodes,
                "publish partial to chosen nodes failed: {e}"
            ),
        }
    }

    /// A received partial message: merge its parts into our copy of the group, log when the
    /// copy becomes complete, and publish the copy again (so peers learn what we now hold and
    /// the sender gets the parts it told us it lacks), as go's node does.
    fn on_partial(&mut self, from: PeerId, topic: String, group_id: &[u8], parts: Option<&[u8]>) {
        let Some(id) = PartialGroup::parse_group_id(group_id) else {
            tracing::warn!(%from, topic, len = group_id.len(), "partial message: group id is not 8 bytes");
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_partial(&from, &topic, false);
            return;
        };
        let Some(group) = self.partials.remote(&topic, id, Instant::now()) else {
            tracing::warn!(%from, topic, group_id = id, "partial message for a new group dropped: {MAX_REMOTE_GROUPS} peer-opened groups held");
            return;
        };
        if let Some(parts) = parts {
            let was_complete = group.complete();
            match group.extend(parts) {
                Ok(true) => {
                    tracing::debug!(%from, topic, group_id = id, parts = group.bitmap(), "extended partial message");
                    if group.complete() && !was_complete {
                        output::all_parts_received(id);
                    }
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_partial(&from, &topic, true);
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(%from, topic, group_id = id, "invalid parts: {e:?}");
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_partial(&from, &topic, false);
                    return;
                }
            }
        }
        let Some(group) = self.partials.get(&topic, id) else {
            return;
        };
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish_partial(&topic, group)
        {
            tracing::debug!(topic, group_id = id, "republish partial failed: {e}");
        }
    }

    fn publish(&mut self, id: u64, size: usize, topic: &str) {
        if size < 8 {
            tracing::error!(
                id,
                size,
                "publish skipped: a message needs 8 bytes for its id"
            );
            return;
        }
        let mut data = vec![0u8; size];
        data[..8].copy_from_slice(&id.to_be_bytes());
        match self.swarm.behaviour_mut().gossipsub.publish(topic, data) {
            Ok(()) => tracing::info!(id, size, topic, "published"),
            Err(e) => tracing::error!(id, size, topic, "publish failed: {e}"),
        }
    }

    /// Dials every target and returns once each is connected or has failed. Only in
    /// loopback mode is a failed dial retried (the target may not listen yet).
    async fn connect(&mut self, targets: &[NodeId]) -> Result<(), String> {
        struct Target {
            node: NodeId,
            attempts: u32,
            retry_at: Option<Instant>,
            done: bool,
        }
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let mut pending: Vec<Target> = Vec::new();
        for &node in targets {
            let mut t = Target {
                node,
                attempts: 1,
                retry_at: None,
                done: false,
            };
            t.done = self.dial(node).await?;
            pending.push(t);
        }
        loop {
            for (node, result) in std::mem::take(&mut self.dial_results) {
                let Some(t) = pending.iter_mut().find(|t| t.node == node && !t.done) else {
                    continue;
                };
                match result {
                    Ok(()) => {
                        t.done = true;
                        tracing::info!(target_node = node, attempts = t.attempts, "connected");
                    }
                    Err(e)
                        if matches!(self.network, Network::Loopback { .. })
                            && t.attempts < LOOPBACK_DIAL_ATTEMPTS =>
                    {
                        let backoff = Duration::from_millis(50)
                            .saturating_mul(1 << t.attempts.min(10))
                            .min(LOOPBACK_MAX_BACKOFF);
                        tracing::debug!(
                            target_node = node,
                            attempts = t.attempts,
                            "dial failed, retrying: {e}"
                        );
                        t.retry_at = Some(Instant::now() + backoff);
                    }
                    Err(e) => {
                        t.done = true;
                        tracing::error!(
                            target_node = node,
                            attempts = t.attempts,
                            "failed to connect: {e}"
                        );
                    }
                }
            }
            let now = Instant::now();
            for t in pending.iter_mut().filter(|t| !t.done) {
                if t.retry_at.is_some_and(|at| at <= now) {
                    t.retry_at = None;
                    t.attempts += 1;
                    t.done = self.dial(t.node).await?;
                }
            }
            if pending.iter().all(|t| t.done) {
                break;
            }
            if now >= deadline {
                for t in pending.iter().filter(|t| !t.done) {
                    tracing::error!(
                        target_node = t.node,
                        attempts = t.attempts,
                        "failed to connect: timed out"
                    );
                }
                self.dials
                    .retain(|_, n| !pending.iter().any(|t| t.node == *n));
                break;
            }
            let wake = pending
                .iter()
                .filter_map(|t| t.retry_at)
                .min()
                .map_or(deadline, |at| at.min(deadline));
            self.step(Some(wake)).await;
        }
        tracing::info!(
            peers = self.swarm.connected_peers().count(),
            "connect instruction done"
        );
        Ok(())
    }

    /// Starts a dial to `node`; `Ok(true)` if we are already connected to it.
    async fn dial(&mut self, node: NodeId) -> Result<bool, String> {
        let peer = identity::peer_id(node);
        let addr = match identity::dial_addr(self.network, node).await {
            Ok(a) => a,
            Err(e) => {
                // Unresolvable now: report it as a failed dial (loopback never gets here).
                self.dial_results.push((node, Err(e)));
                return Ok(false);
            }
        };
        let opts = DialOpts::peer_id(peer)
            .addresses(vec![addr])
            .condition(PeerCondition::Disconnected)
            .build();
        let connection = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(connection, node);
                Ok(false)
            }
            Err(DialError::DialPeerConditionFalse(_)) => {
                tracing::info!(target_node = node, "already connected");
                Ok(true)
            }
            Err(e) => {
                self.dial_results.push((node, Err(e.to_string())));
                Ok(false)
            }
        }
    }

    /// Handles one swarm event or validation verdict, or returns at `wake`.
    async fn step(&mut self, wake: Option<Instant>) {
        let wake = wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            event = self.swarm.select_next_some() => self.on_swarm_event(event),
            Some((id, from)) = self.validations.next(), if !self.validations.is_empty() => {
                self.swarm.behaviour_mut().gossipsub.accept(&id, &from);
            }
            () = sleep_until(wake) => {}
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<NodeBehaviourEvent<G>>) {
        match event {
            SwarmEvent::Behaviour(NodeBehaviourEvent::Gossipsub(event)) => {
                match G::received(event) {
                    Some(Received::Message {
                        id,
                        log_id,
                        from,
                        topic,
                    }) => {
                        log_received(log_id, from, &topic);
                        match self.validation_delays.get(&topic) {
                            Some(delay) if !delay.is_zero() => {
                                let at = Instant::now() + *delay;
                                self.validations.push(Box::pin(async move {
                                    sleep_until(at).await;
                                    (id, from)
                                }));
                            }
                            _ => self.swarm.behaviour_mut().gossipsub.accept(&id, &from),
                        }
                    }
                    Some(Received::Duplicate {
                        log_id,
                        from,
                        topic,
                    }) => log_received(log_id, from, &topic),
                    Some(Received::Partial {
                        from,
                        topic,
                        group_id,
                        parts,
                    }) => self.on_partial(from, topic, &group_id, parts.as_deref()),
                    None => {}
                }
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(_)) => {}
            SwarmEvent::ConnectionEstablished { connection_id, .. } => {
                if let Some(node) = self.dials.remove(&connection_id) {
                    self.dial_results.push((node, Ok(())));
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some(node) = self.dials.remove(&connection_id) {
                    self.dial_results.push((node, Err(error.to_string())));
                }
            }
            SwarmEvent::ListenerClosed { reason, .. } => {
                tracing::error!("listener closed: {reason:?}");
            }
            SwarmEvent::ListenerError { error, .. } => tracing::error!("listener error: {error}"),
            other => tracing::trace!("{other:?}"),
        }
    }
}

fn log_received(log_id: Option<String>, from: PeerId, topic: &str) {
    match log_id {
        Some(id) => output::received(&id, Some(from.to_string()), Some(topic.to_string())),
        None => tracing::warn!(%from, topic, "message shorter than 8 bytes: no id to log"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = Options::parse(args(&["--params", "p.json"])).unwrap();
        assert_eq!(o.params, PathBuf::from("p.json"));
        assert_eq!((o.node_id, o.network), (None, Network::Hostnames));
        let o = Options::parse(args(&["--params=p.json", "--node-id", "7", "--loopback"])).unwrap();
        assert_eq!(
            (o.node_id, o.network),
            (Some(7), Network::Loopback { base: 9000 })
        );
        let o = Options::parse(args(&[
            "--params",
            "p",
            "--loopback",
            "--port-base",
            "20000",
        ]));
        assert_eq!(o.unwrap().network, Network::Loopback { base: 20_000 });
        assert!(Options::parse(args(&["--node-id", "7"])).is_err());
        assert!(Options::parse(args(&["--params", "p.json", "--node-id", "-1"])).is_err());
        assert!(Options::parse(args(&["--params", "p.json", "--verbose"])).is_err());
        assert!(Options::parse(args(&["--params"])).is_err());
    }
}
