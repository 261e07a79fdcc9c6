//! The network: N nodes, their links, the global events (publishes, churn, subscription
//! changes, connections, mesh samples) and the run loop that drives them.
//!
//! The nodes are split into contiguous partitions ([`super::partition`]) that run their own
//! events in windows shorter than the smallest link latency, in parallel when
//! [`SimConfig::threads`] asks for it ([`super::window`]). Global events run between windows
//! on the calling thread, at their exact time, before any node event of that time.

use std::sync::Arc;
use std::time::Duration;

use web_time::Instant;

use bytes::Bytes;
use libp2p_identity::{Keypair, PeerId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::{SimConfig, topic_name};
use super::link::{Link, nanos};
use super::metrics::{Registry, merge};
use super::node::{HonestNode, NodeBehaviour, NodeInit};
use super::partition::{NodeState, Part, Partition, Shared};
use super::queue::EventQueue;
use super::results::{MeshSample, Results};
use super::topology::{assign_regions, pick_peers, random_graph};
use crate::config::Config;
use crate::types::TopicHash;

#[path = "batch.rs"]
mod batch;
pub use batch::batch_completion;

/// Builds the behaviour of each node; see [`Network::with_factory`]. Called only on the
/// thread that runs [`Network::run`].
pub type NodeFactory = Box<dyn FnMut(&NodeInit) -> Box<dyn NodeBehaviour>>;

/// Called at every mesh sample with the simulated time and every node (honest nodes first,
/// then [outsiders](SimConfig::outsiders)); see [`Network::set_observer`]. Called only on the
/// thread that runs [`Network::run`], between windows.
pub type Observer = Box<dyn FnMut(Duration, &[Box<dyn NodeBehaviour>])>;

/// An event that touches state beyond one node; runs between windows.
pub(super) enum Global {
    Publish(u32),
    SubscriptionChange,
    Leave,
    Join(u32),
    Sample,
    /// A scheduled connection (dialer, listener); see [`Network::schedule_connection`].
    Connect(u32, u32),
    /// The honest random graph connects (when delayed; see [`Network::delay_honest_graph`]).
    Graph,
}

/// A simulated network of [`NodeBehaviour`]s (real routers by default). No sockets or wall
/// clock: the same [`SimConfig`] gives identical [`Results`], whatever
/// [`SimConfig::threads`] is.
pub struct Network {
    /// Shared with the worker threads during a window; only this thread holds it between
    /// windows (see [`Network::shared_mut`]).
    pub(super) shared: Arc<Shared>,
    pub(super) now: u64,
    pub(super) end: u64,
    pub(super) publish_end: u64,
    factory: NodeFactory,
    /// The partitions, in node order.
    pub(super) parts: Vec<Partition>,
    /// Nodes in the network (honest and outsiders).
    n: usize,
    /// Global events, in (time, scheduling order).
    pub(super) global: EventQueue<Global>,
    router_config: Config,
    keypairs: Vec<Keypair>,
    regions: Vec<u8>,
    topics: Vec<TopicHash>,
    /// `subscribed[node * topics + topic]`.
    subscribed: Vec<bool>,
    publishers: Vec<u32>,
    is_publisher: Vec<bool>,
    published: Vec<u64>,
    work_rng: StdRng,
    topo_rng: StdRng,
    seed_rng: StdRng,
    /// Every draw about outsiders (keys, regions, subscriptions, router seeds, latencies of
    /// their links).
    outsider_rng: StdRng,
    mesh: Vec<MeshSample>,
    /// Global events processed.
    pub(super) events: u64,
    /// When the honest random graph connects, in nanoseconds.
    graph_at: u64,
    /// Connections scheduled before the run: (time, dialer, listener).
    scheduled: Vec<(u64, u32, u32)>,
    observer: Option<Observer>,
    /// Measured work split, when profiling ([`Network::run_profiled`]).
    pub(super) profile: Option<super::window::ParallelProfile>,
}

impl Network {
    /// A network of honest nodes.
    pub fn new(cfg: SimConfig) -> Self {
        Self::with_factory(cfg, Box::new(|init| Box::new(HonestNode::new(init))))
    }

    /// A network whose nodes are built by `factory` (called again, with a fresh seed, when a
    /// node rejoins after churn). This is the seam for adversaries: return an attacker's
    /// behaviour for the indices it should control.
    pub fn with_factory(cfg: SimConfig, factory: NodeFactory) -> Self {
        let n = cfg.nodes + cfg.outsiders;
        let honest = cfg.nodes;
        let mut master = StdRng::seed_from_u64(cfg.seed);
        let mut topo_rng = StdRng::seed_from_u64(master.r#gen());
        let link_seed: u64 = master.r#gen();
        let mut work_rng = StdRng::seed_from_u64(master.r#gen());
        let mut seed_rng = StdRng::seed_from_u64(master.r#gen());
        // Everything about outsiders is drawn from a stream of its own, so the honest network
        // (keys, regions, subscriptions, graph, latencies, router seeds) is the same with or
        // without them: an attack run and its reference run differ only by the attack.
        let mut outsider_rng = StdRng::seed_from_u64(master.r#gen());
        let keypairs: Vec<Keypair> = (0..n)
            .map(|i| {
                let rng = if i < honest {
                    &mut seed_rng
                } else {
                    &mut outsider_rng
                };
                let mut secret: [u8; 32] = rng.r#gen();
                Keypair::ed25519_from_bytes(&mut secret).expect("32 bytes are a valid key")
            })
            .collect();
        let peer_ids: Vec<PeerId> = keypairs.iter().map(|k| k.public().to_peer_id()).collect();
        let index = super::peer_index::PeerIndex::new(&peer_ids);
        let mut regions = assign_regions(&mut topo_rng, honest, cfg.link.latency.regions());
        regions.extend(assign_regions(
            &mut outsider_rng,
            n - honest,
            cfg.link.latency.regions(),
        ));
        let topic_count = cfg.workload.topics.max(1);
        let topics: Vec<TopicHash> = (0..topic_count)
            .map(|i| TopicHash::from(topic_name(i)))
            .collect();
        // Publishers are honest nodes.
        let mut order: Vec<u32> = (0..honest as u32).collect();
        for i in 0..honest.min(cfg.workload.publishers) {
            let j = work_rng.gen_range(i..honest);
            order.swap(i, j);
        }
        let publishers: Vec<u32> = order[..honest.min(cfg.workload.publishers)].to_vec();
        let mut is_publisher = vec![false; n];
        let mut subscribed = vec![false; n * topic_count];
        for node in 0..n {
            let rng = if node < honest {
                &mut work_rng
            } else {
                &mut outsider_rng
            };
            for t in 0..topic_count {
                subscribed[node * topic_count + t] =
                    rng.gen_bool(cfg.workload.subscribe_fraction.clamp(0.0, 1.0));
            }
        }
        for p in &publishers {
            is_publisher[*p as usize] = true;
            // Publishers publish on every topic in turn: they subscribe to all of them.
            for t in 0..topic_count {
                subscribed[*p as usize * topic_count + t] = true;
            }
        }
        let publish_end = nanos(cfg.warmup + cfg.duration);
        let end = publish_end + nanos(cfg.drain);
        let router_config = cfg.router_config();
        let npub = publishers.len();
        // Every sender draws its links' loss and jitter from a generator of its own, so the
        // draws do not depend on the order in which partitions run.
        let mut state = (0..n).map(|i| NodeState {
            timer: u64::MAX,
            links: Vec::new(),
            uplink_free: 0,
            downlink_free: 0,
            rng: Box::new(StdRng::seed_from_u64(
                link_seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            )),
            created: 0,
        });
        let partitions = super::window::partitions(&cfg, n);
        let block = n.div_ceil(partitions).max(1);
        let parts = (0..n.div_ceil(block).max(1))
            .map(|p| {
                let start = p * block;
                let len = block.min(n.saturating_sub(start));
                Partition::new(start, len, n, state.by_ref().take(len).collect())
            })
            .collect();
        Network {
            shared: Arc::new(Shared {
                base: Instant::now(),
                peer_ids,
                index,
                online: vec![true; n],
                epoch: vec![0; n],
                registry: Registry::new(),
                honest,
                block,
                cfg,
            }),
            now: 0,
            end,
            publish_end,
            factory,
            parts,
            n,
            global: EventQueue::new(),
            router_config,
            keypairs,
            regions,
            topics,
            subscribed,
            publishers,
            is_publisher,
            published: vec![0; npub],
            work_rng,
            topo_rng,
            seed_rng,
            outsider_rng,
            mesh: Vec::new(),
            events: 0,
            graph_at: 0,
            scheduled: Vec::new(),
            observer: None,
            profile: None,
        }
    }

    /// The peer id of node `index`.
    pub fn peer_id(&self, index: usize) -> PeerId {
        self.shared.peer_ids[index]
    }

    /// The indices of the publishing nodes (always honest).
    pub fn publishers(&self) -> Vec<usize> {
        self.publishers.iter().map(|p| *p as usize).collect()
    }

    /// Connects `dialer` and `listener` (node indices) at `at` into the run, if neither has
    /// left by then. Outsiders are connected only this way.
    pub fn schedule_connection(&mut self, at: Duration, dialer: usize, listener: usize) {
        self.scheduled
            .push((nanos(at), dialer as u32, listener as u32));
    }

    /// Connects the honest random graph `delay` into the run instead of at the start (the
    /// "attack at dawn" setup: outsiders connect first).
    pub fn delay_honest_graph(&mut self, delay: Duration) {
        self.graph_at = nanos(delay);
    }

    /// Calls `observer` at every mesh sample (every [`SimConfig::sample_interval`]), e.g. to
    /// record honest routers' scores and meshes.
    pub fn set_observer(&mut self, observer: Observer) {
        self.observer = Some(observer);
    }

    /// Runs the whole simulation (warm-up, publishing, drain) and returns its results.
    pub fn run(self) -> Results {
        self.finish().0
    }

    /// Runs the simulation; returns its results and the profile, if profiling.
    pub(super) fn finish(mut self) -> (Results, Option<super::window::ParallelProfile>) {
        self.start();
        self.run_loop();
        let simulated = Duration::from_nanos(self.end);
        let events = self.events + self.parts.iter().map(|p| p.lane.events).sum::<u64>();
        let parts = self.parts.into_iter().map(|p| p.lane.rec).collect();
        let shared = Arc::try_unwrap(self.shared)
            .unwrap_or_else(|_| unreachable!("the worker threads have ended"));
        let rec = merge(shared.registry, parts);
        (
            Results::build(rec, self.mesh, simulated, events),
            self.profile,
        )
    }

    /// Runs the global event due now.
    pub(super) fn handle_global(&mut self) {
        let Some((t, event)) = self.global.pop() else {
            return;
        };
        self.now = t;
        self.events += 1;
        match event {
            Global::Publish(k) => self.publish(k as usize),
            Global::SubscriptionChange => self.change_subscription(),
            Global::Leave => self.leave(),
            Global::Join(node) => self.join(node as usize),
            Global::Sample => self.sample(),
            Global::Connect(a, b) => {
                let (ai, bi) = (a as usize, b as usize);
                let linked = self.node_state(ai).links.iter().any(|l| l.peer == b);
                if self.shared.online[ai] && self.shared.online[bi] && ai != bi && !linked {
                    self.connect(a, b);
                }
            }
            Global::Graph => self.connect_graph(),
        }
    }

    /// The partition of node `node`, at the current time.
    pub(super) fn part(&mut self, node: usize) -> Part<'_> {
        let p = self.shared.partition_of(node as u32);
        let part = &mut self.parts[p];
        part.lane.now = self.now;
        part.lane.until = self.now;
        part.view(&self.shared)
    }

    /// The shared state, to change it between windows.
    pub(super) fn shared_mut(&mut self) -> &mut Shared {
        Arc::get_mut(&mut self.shared)
            .expect("between windows, no worker thread holds the shared state")
    }

    /// Node `i`'s state.
    fn node_state(&mut self, i: usize) -> &mut NodeState {
        let p = self.shared.partition_of(i as u32);
        self.parts[p].state(i)
    }

    fn instant(&self) -> Instant {
        self.shared.base + Duration::from_nanos(self.now)
    }

    fn topic_count(&self) -> usize {
        self.topics.len()
    }

    fn start(&mut self) {
        let n = self.n;
        for i in 0..n {
            let node = self.build_node(i);
            let p = self.shared.partition_of(i as u32);
            self.parts[p].nodes.push(node);
        }
        for i in 0..n {
            self.subscribe_all(i);
        }
        for (at, a, b) in std::mem::take(&mut self.scheduled) {
            if at == 0 {
                self.connect(a, b);
            } else {
                self.global.push(at, Global::Connect(a, b));
            }
        }
        if self.graph_at == 0 {
            self.connect_graph();
        } else {
            self.global.push(self.graph_at, Global::Graph);
        }
        for i in 0..n {
            self.part(i).reschedule(i, false);
        }
        let cfg = &self.shared.cfg;
        let warmup = nanos(cfg.warmup);
        let rate = cfg.workload.rate;
        let (sub_changes, churn) = (
            cfg.workload.subscription_changes_per_min,
            cfg.workload.churn_per_min,
        );
        let sample = nanos(cfg.sample_interval);
        if rate > 0.0 {
            let interval = 1e9 / rate;
            for k in 0..self.publishers.len() {
                let phase = (self.work_rng.r#gen::<f64>() * interval) as u64;
                self.global.push(warmup + phase, Global::Publish(k as u32));
            }
        }
        if sub_changes > 0.0 {
            let t = self.exponential(sub_changes);
            self.global.push(t, Global::SubscriptionChange);
        }
        if churn > 0.0 {
            let t = self.exponential(churn);
            self.global.push(t, Global::Leave);
        }
        if sample > 0 {
            self.global.push(sample, Global::Sample);
        }
    }

    /// Connects the random graph of the honest nodes.
    fn connect_graph(&mut self) {
        let edges = random_graph(
            &mut self.topo_rng,
            self.shared.honest,
            self.shared.cfg.topology.connections,
        );
        for (a, b) in edges {
            self.connect(a, b);
        }
    }

    /// Time of the next event of a Poisson process with `per_min` events a minute.
    fn exponential(&mut self, per_min: f64) -> u64 {
        let u: f64 = self.work_rng.r#gen::<f64>().max(f64::MIN_POSITIVE);
        self.now.saturating_add((-u.ln() * 60e9 / per_min) as u64)
    }

    fn build_node(&mut self, i: usize) -> Box<dyn NodeBehaviour> {
        let init = NodeInit {
            index: i,
            keypair: self.keypairs[i].clone(),
            seed: if i < self.shared.honest {
                self.seed_rng.r#gen()
            } else {
                self.outsider_rng.r#gen()
            },
            config: self.router_config.clone(),
            signed: self.shared.cfg.preset.signed(),
            now: self.instant(),
            validation_delays: self
                .topics
                .iter()
                .enumerate()
                .map(|(t, topic)| (topic.clone(), self.shared.cfg.validation.of(t)))
                .filter(|(_, d)| !d.is_zero())
                .collect(),
        };
        (self.factory)(&init)
    }

    fn subscribe_all(&mut self, i: usize) {
        let tc = self.topic_count();
        let topics: Vec<TopicHash> = (0..tc)
            .filter(|t| self.subscribed[i * tc + t])
            .map(|t| self.topics[t].clone())
            .collect();
        self.part(i).input(i, |node, ctx| {
            for topic in topics {
                node.subscribe(ctx, topic);
            }
        });
    }

    /// Connects `a` (dialer) and `b`, both online.
    fn connect(&mut self, a: u32, b: u32) {
        let (ai, bi) = (a as usize, b as usize);
        let rng = if ai < self.shared.honest && bi < self.shared.honest {
            &mut self.topo_rng
        } else {
            &mut self.outsider_rng
        };
        let latency = self.shared.cfg.link.latency.sample(
            rng,
            usize::from(self.regions[ai]),
            usize::from(self.regions[bi]),
        );
        for (from, to) in [(ai, b), (bi, a)] {
            let tag = super::peer_index::fingerprint(&self.shared.peer_ids[to as usize]) as u32;
            self.node_state(from).links.push(Link {
                peer: to,
                tag,
                latency,
                last_arrival: 0,
            });
        }
        for (x, y, outbound) in [(ai, bi, true), (bi, ai, false)] {
            let peer = self.shared.peer_ids[y];
            self.part(x)
                .input(x, |node, ctx| node.on_connect(ctx, peer, outbound));
        }
    }

    fn publish(&mut self, k: usize) {
        if self.shared.cfg.workload.batch_size > 1 {
            return self.publish_batch(k);
        }
        let p = self.publishers[k] as usize;
        let count = self.published[k];
        self.published[k] += 1;
        let topic_index = (count as usize + k) % self.topic_count();
        let topic = self.topics[topic_index].clone();
        let size = self.shared.cfg.workload.message_size.max(16);
        let mut data = vec![0u8; size];
        data[..8].copy_from_slice(&count.to_be_bytes());
        data[8..12].copy_from_slice(&(p as u32).to_be_bytes());
        // The message is registered before the publisher's sends are flushed, so they count
        // as carrying it.
        let mut part = self.part(p);
        let now = part.instant();
        let mut ctx_out = Vec::new();
        let id = {
            let mut ctx = super::node::NodeCtx::new(now, &mut ctx_out);
            part.node(p).publish(&mut ctx, topic, Bytes::from(data))
        };
        self.register(id, p, topic_index);
        self.flush_outputs(p, ctx_out);
        let next = self.now + (1e9 / self.shared.cfg.workload.rate) as u64;
        if next < self.publish_end {
            self.global.push(next, Global::Publish(k as u32));
        }
    }

    /// Registers a message `p` published (or counts a failed publish).
    fn register(&mut self, id: Option<crate::types::MessageId>, p: usize, topic_index: usize) {
        match id {
            Some(id) => {
                let tc = self.topic_count();
                let (n, now, subscribed) = (self.n, self.now, &self.subscribed);
                let shared = Arc::get_mut(&mut self.shared)
                    .expect("between windows, no worker thread holds the shared state");
                let online = &shared.online;
                let expected = (0..shared.honest)
                    .filter(|n| *n != p && online[*n] && subscribed[n * tc + topic_index]);
                shared
                    .registry
                    .published(id, p as u32, topic_index as u32, now, n, expected);
            }
            None => self.shared_mut().registry.publish_failures += 1,
        }
    }

    /// Hands outputs node `p` produced (before its messages were registered) to its
    /// partition and flushes them.
    fn flush_outputs(&mut self, p: usize, outputs: Vec<super::node::NodeOutput>) {
        let mut part = self.part(p);
        part.input(p, |_, ctx| {
            for output in outputs {
                ctx.output(output);
            }
        });
    }

    /// A random online non-publisher, if any.
    fn random_member(&mut self) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.shared.honest)
            .filter(|n| self.shared.online[*n] && !self.is_publisher[*n])
            .collect();
        if candidates.is_empty() {
            return None;
        }
        Some(candidates[self.work_rng.gen_range(0..candidates.len())])
    }

    fn change_subscription(&mut self) {
        if let Some(node) = self.random_member() {
            let t = self.work_rng.gen_range(0..self.topic_count());
            let slot = node * self.topic_count() + t;
            let topic = self.topics[t].clone();
            if self.subscribed[slot] {
                self.subscribed[slot] = false;
                self.part(node)
                    .input(node, |n, ctx| n.unsubscribe(ctx, topic));
                self.excuse(node, Some(t as u32));
            } else {
                self.subscribed[slot] = true;
                self.part(node)
                    .input(node, |n, ctx| n.subscribe(ctx, topic));
            }
        }
        let next = self.exponential(self.shared.cfg.workload.subscription_changes_per_min);
        self.global.push(next, Global::SubscriptionChange);
    }

    /// Messages `node` had not delivered are no longer expected of it (in `topic`, or all).
    fn excuse(&mut self, node: usize, topic: Option<u32>) {
        let p = self.shared.partition_of(node as u32);
        let shared = Arc::get_mut(&mut self.shared)
            .expect("between windows, no worker thread holds the shared state");
        shared.registry.excuse(&self.parts[p].lane.rec, node, topic);
    }

    fn leave(&mut self) {
        if let Some(node) = self.random_member() {
            let shared = self.shared_mut();
            shared.online[node] = false;
            shared.epoch[node] += 1;
            self.node_state(node).timer = u64::MAX;
            self.excuse(node, None);
            let links = std::mem::take(&mut self.node_state(node).links);
            let gone = self.shared.peer_ids[node];
            for link in links {
                let peer = link.peer as usize;
                self.node_state(peer)
                    .links
                    .retain(|l| l.peer != node as u32);
                self.part(peer)
                    .input(peer, |n, ctx| n.on_disconnect(ctx, gone));
            }
            let back = self.now + nanos(self.shared.cfg.workload.churn_downtime);
            self.global.push(back, Global::Join(node as u32));
        }
        let next = self.exponential(self.shared.cfg.workload.churn_per_min);
        self.global.push(next, Global::Leave);
    }

    fn join(&mut self, node: usize) {
        self.shared_mut().online[node] = true;
        let now = self.now;
        self.node_state(node).uplink_free = now;
        self.node_state(node).downlink_free = now;
        let fresh = self.build_node(node);
        *self.part(node).node(node) = fresh;
        self.subscribe_all(node);
        let online: Vec<u32> = (0..self.shared.cfg.nodes as u32)
            .filter(|n| self.shared.online[*n as usize])
            .collect();
        let dials = self.shared.cfg.topology.connections.div_ceil(2);
        let peers = pick_peers(&mut self.topo_rng, &online, dials, &[node as u32]);
        for peer in peers {
            self.connect(node as u32, peer);
        }
        self.part(node).reschedule(node, false);
    }

    fn sample(&mut self) {
        let mut histogram = Vec::new();
        for node in 0..self.shared.cfg.nodes {
            if !self.shared.online[node] {
                continue;
            }
            let p = self.shared.partition_of(node as u32);
            let behaviour = &self.parts[p].nodes[node - self.parts[p].start];
            for topic in &self.topics {
                if let Some(d) = behaviour.mesh_degree(topic) {
                    if histogram.len() <= d {
                        histogram.resize(d + 1, 0);
                    }
                    histogram[d] += 1;
                }
            }
        }
        self.mesh.push(MeshSample {
            at: Duration::from_nanos(self.now),
            histogram,
        });
        if let Some(observer) = self.observer.as_mut() {
            // The observer sees every node in one slice: the partitions lend theirs.
            let mut all = Vec::with_capacity(self.n);
            for part in &mut self.parts {
                all.append(&mut part.nodes);
            }
            observer(Duration::from_nanos(self.now), &all);
            let mut all = all.into_iter();
            for part in &mut self.parts {
                let len = part.state.len();
                part.nodes.extend(all.by_ref().take(len));
            }
        }
        let next = self.now + nanos(self.shared.cfg.sample_interval);
        if next <= self.end {
            self.global.push(next, Global::Sample);
        }
    }
}
