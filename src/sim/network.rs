//! The network: N nodes, their links, and one event queue that drives them.

use std::collections::HashMap;
use std::time::Duration;

use web_time::Instant;

use bytes::Bytes;
use libp2p_identity::{Keypair, PeerId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::{SimConfig, topic_name};
use super::link::{Link, nanos};
use super::metrics::Recorder;
use super::node::{HonestNode, NodeBehaviour, NodeCtx, NodeInit, NodeOutput};
use super::queue::EventQueue;
use super::results::{MeshSample, Results};
use super::topology::{assign_regions, pick_peers, random_graph};
use crate::config::Config;
use crate::types::{ControlAction, Rpc, TopicHash};

#[path = "batch.rs"]
mod batch;
pub use batch::batch_completion;

/// Builds the behaviour of each node; see [`Network::with_factory`].
pub type NodeFactory = Box<dyn FnMut(&NodeInit) -> Box<dyn NodeBehaviour>>;

/// Called at every mesh sample with the simulated time and every node (honest nodes first,
/// then [outsiders](SimConfig::outsiders)); see [`Network::set_observer`].
pub type Observer = Box<dyn FnMut(Duration, &[Box<dyn NodeBehaviour>])>;

/// Marks "no message" in a delivery event.
const NO_MESSAGE: u32 = u32::MAX;

/// RPCs of one input of a node to one peer, in sending order, each with the index of the
/// recorded message it carries (or [`NO_MESSAGE`]).
type Batch = Vec<(Rpc, u32)>;

/// One RPC a node's input produced: its recipient, the recorded message it carries (or
/// [`NO_MESSAGE`]) and its place on the uplink (see [`Network::merge_idontwant`]).
struct Send {
    to: u32,
    rpc: Rpc,
    message: u32,
    slot: u32,
}

/// Whether `rpc` carries IDONTWANT and nothing else.
fn idontwant_only(rpc: &Rpc) -> bool {
    rpc.messages.is_empty()
        && rpc.subscriptions.is_empty()
        && rpc.extensions.is_none()
        && !rpc.test_extension
        && rpc.partial.is_none()
        && !rpc.control.is_empty()
        && rpc
            .control
            .iter()
            .all(|c| matches!(c, ControlAction::IDontWant { .. }))
}

enum Event {
    /// RPCs arrive at `to`, if both ends are still the incarnations that sent them: everything
    /// one input of `from` sent to `to` travels as one write and arrives together.
    Deliver {
        to: u32,
        from: u32,
        to_epoch: u32,
        from_epoch: u32,
        /// Bytes on the wire and the time the sender's uplink took for them.
        bytes: u64,
        upload: u64,
        /// Whether the receiver's downlink has already taken them in (a delivery that found
        /// the downlink busy is put back until it is done).
        received: bool,
        rpcs: Batch,
    },
    Timeout(u32),
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

/// A simulated network of [`NodeBehaviour`]s (real routers by default) driven by one event
/// queue ordered by (time, sequence). No threads, sockets or wall clock: the same
/// [`SimConfig`] gives identical [`Results`].
pub struct Network {
    cfg: SimConfig,
    router_config: Config,
    base: Instant,
    now: u64,
    end: u64,
    publish_end: u64,
    factory: NodeFactory,
    nodes: Vec<Box<dyn NodeBehaviour>>,
    keypairs: Vec<Keypair>,
    peer_ids: Vec<PeerId>,
    index: HashMap<PeerId, u32, ahash::RandomState>,
    online: Vec<bool>,
    epoch: Vec<u32>,
    timer: Vec<u64>,
    links: Vec<Vec<Link>>,
    uplink_free: Vec<u64>,
    downlink_free: Vec<u64>,
    regions: Vec<u8>,
    topics: Vec<TopicHash>,
    /// `subscribed[node * topics + topic]`.
    subscribed: Vec<bool>,
    publishers: Vec<u32>,
    is_publisher: Vec<bool>,
    published: Vec<u64>,
    queue: EventQueue<Event>,
    link_rng: StdRng,
    work_rng: StdRng,
    topo_rng: StdRng,
    seed_rng: StdRng,
    /// Every draw about outsiders (keys, regions, subscriptions, router seeds, latencies of
    /// their links).
    outsider_rng: StdRng,
    out: Vec<NodeOutput>,
    /// Per flush: runs of consecutive RPCs to one destination, in the order produced.
    batches: Vec<(u32, Batch)>,
    /// Emptied batches, kept for their allocations.
    pool: Vec<Batch>,
    /// The sends of one flush (kept for its allocation).
    sends: Vec<Send>,
    /// Per node: the index in `sends` of the next send to it that carries a message and the
    /// payload bytes after that send (`u32::MAX` outside [`Network::merge_idontwant`]).
    next_message: Vec<(u32, u64)>,
    rec: Recorder,
    mesh: Vec<MeshSample>,
    events: u64,
    /// Nodes `0..honest` are honest; the rest are outsiders (attackers).
    honest: usize,
    /// When the honest random graph connects, in nanoseconds.
    graph_at: u64,
    /// Connections scheduled before the run: (time, dialer, listener).
    scheduled: Vec<(u64, u32, u32)>,
    observer: Option<Observer>,
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
        let link_rng = StdRng::seed_from_u64(master.r#gen());
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
        let mut index = HashMap::with_hasher(ahash::RandomState::with_seeds(5, 6, 7, 8));
        index.extend(peer_ids.iter().enumerate().map(|(i, p)| (*p, i as u32)));
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
        Network {
            router_config,
            base: Instant::now(),
            now: 0,
            end,
            publish_end,
            factory,
            nodes: Vec::with_capacity(n),
            keypairs,
            peer_ids,
            index,
            online: vec![true; n],
            epoch: vec![0; n],
            timer: vec![u64::MAX; n],
            links: vec![Vec::new(); n],
            uplink_free: vec![0; n],
            downlink_free: vec![0; n],
            regions,
            topics,
            subscribed,
            publishers,
            is_publisher,
            published: vec![0; npub],
            queue: EventQueue::new(),
            link_rng,
            work_rng,
            topo_rng,
            seed_rng,
            outsider_rng,
            out: Vec::new(),
            batches: Vec::new(),
            pool: Vec::new(),
            sends: Vec::new(),
            next_message: vec![(u32::MAX, 0); n],
            rec: Recorder::new(n),
            mesh: Vec::new(),
            events: 0,
            honest,
            graph_at: 0,
            scheduled: Vec::new(),
            observer: None,
            cfg,
        }
    }

    /// The peer id of node `index`.
    pub fn peer_id(&self, index: usize) -> PeerId {
        self.peer_ids[index]
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
    pub fn run(mut self) -> Results {
        self.start();
        while let Some(t) = self.queue.peek_time() {
            if t > self.end {
                break;
            }
            let Some((t, event)) = self.queue.pop() else {
                break;
            };
            self.now = t;
            self.events += 1;
            self.handle(event);
        }
        let simulated = Duration::from_nanos(self.end);
        Results::build(self.rec, self.mesh, simulated, self.events)
    }

    fn instant(&self) -> Instant {
        self.base + Duration::from_nanos(self.now)
    }

    fn topic_count(&self) -> usize {
        self.topics.len()
    }

    fn start(&mut self) {
        let n = self.cfg.nodes + self.cfg.outsiders;
        for i in 0..n {
            let node = self.build_node(i);
            self.nodes.push(node);
        }
        for i in 0..n {
            self.subscribe_all(i);
        }
        for (at, a, b) in std::mem::take(&mut self.scheduled) {
            if at == 0 {
                self.connect(a, b);
            } else {
                self.queue.push(at, Event::Connect(a, b));
            }
        }
        if self.graph_at == 0 {
            self.connect_graph();
        } else {
            self.queue.push(self.graph_at, Event::Graph);
        }
        for i in 0..n {
            self.reschedule(i, false);
        }
        let warmup = nanos(self.cfg.warmup);
        let rate = self.cfg.workload.rate;
        if rate > 0.0 {
            let interval = 1e9 / rate;
            for k in 0..self.publishers.len() {
                let phase = (self.work_rng.r#gen::<f64>() * interval) as u64;
                self.queue.push(warmup + phase, Event::Publish(k as u32));
            }
        }
        if self.cfg.workload.subscription_changes_per_min > 0.0 {
            let t = self.exponential(self.cfg.workload.subscription_changes_per_min);
            self.queue.push(t, Event::SubscriptionChange);
        }
        if self.cfg.workload.churn_per_min > 0.0 {
            let t = self.exponential(self.cfg.workload.churn_per_min);
            self.queue.push(t, Event::Leave);
        }
        let sample = nanos(self.cfg.sample_interval);
        if sample > 0 {
            self.queue.push(sample, Event::Sample);
        }
    }

    /// Connects the random graph of the honest nodes.
    fn connect_graph(&mut self) {
        let edges = random_graph(
            &mut self.topo_rng,
            self.honest,
            self.cfg.topology.connections,
        );
        for (a, b) in edges {
            self.connect(a, b);
        }
    }

    /// Time of the next event of a Poisson process with `per_min` events a minute.
    fn exponential(&mut self, per_min: f64) -> u64 {
        let u: f64 = self.work_rng.r#gen::<f64>().max(f64::MIN_POSITIVE);
        self.now + (-u.ln() * 60e9 / per_min) as u64
    }

    fn build_node(&mut self, i: usize) -> Box<dyn NodeBehaviour> {
        let init = NodeInit {
            index: i,
            keypair: self.keypairs[i].clone(),
            seed: if i < self.honest {
                self.seed_rng.r#gen()
            } else {
                self.outsider_rng.r#gen()
            },
            config: self.router_config.clone(),
            signed: self.cfg.preset.signed(),
            now: self.instant(),
            validation_delays: self
                .topics
                .iter()
                .enumerate()
                .map(|(t, topic)| (topic.clone(), self.cfg.validation.of(t)))
                .filter(|(_, d)| !d.is_zero())
                .collect(),
        };
        (self.factory)(&init)
    }

    fn subscribe_all(&mut self, i: usize) {
        let now = self.instant();
        for t in 0..self.topic_count() {
            if self.subscribed[i * self.topic_count() + t] {
                let topic = self.topics[t].clone();
                let mut ctx = NodeCtx::new(now, &mut self.out);
                self.nodes[i].subscribe(&mut ctx, topic);
            }
        }
        self.flush(i);
    }

    /// Connects `a` (dialer) and `b`, both online.
    fn connect(&mut self, a: u32, b: u32) {
        let (ai, bi) = (a as usize, b as usize);
        let rng = if ai < self.honest && bi < self.honest {
            &mut self.topo_rng
        } else {
            &mut self.outsider_rng
        };
        let latency = self.cfg.link.latency.sample(
            rng,
            usize::from(self.regions[ai]),
            usize::from(self.regions[bi]),
        );
        for (from, to) in [(ai, b), (bi, a)] {
            self.links[from].push(Link {
                peer: to,
                latency,
                last_arrival: 0,
            });
        }
        let now = self.instant();
        for (x, y, outbound) in [(ai, bi, true), (bi, ai, false)] {
            let peer = self.peer_ids[y];
            let mut ctx = NodeCtx::new(now, &mut self.out);
            self.nodes[x].on_connect(&mut ctx, peer, outbound);
            self.flush(x);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver {
                to,
                from,
                to_epoch,
                from_epoch,
                bytes,
                upload,
                received,
                mut rpcs,
            } => {
                let (t, f) = (to as usize, from as usize);
                if !self.online[t]
                    || !self.online[f]
                    || self.epoch[t] != to_epoch
                    || self.epoch[f] != from_epoch
                {
                    self.recycle(rpcs);
                    return;
                }
                if !received && self.cfg.link.download_bps > 0 {
                    // The downlink takes the bytes in as they come (from `now - upload`) at
                    // its own rate, after what it is still taking in.
                    let start = self.now.saturating_sub(upload).max(self.downlink_free[t]);
                    let done = self
                        .now
                        .max(start.saturating_add(self.cfg.link.receive_time(bytes)));
                    self.downlink_free[t] = done;
                    if done > self.now {
                        let event = Event::Deliver {
                            to,
                            from,
                            to_epoch,
                            from_epoch,
                            bytes,
                            upload,
                            received: true,
                            rpcs,
                        };
                        self.queue.push(done, event);
                        return;
                    }
                }
                let now = self.instant();
                let peer = self.peer_ids[f];
                for (rpc, message) in rpcs.drain(..) {
                    if message != NO_MESSAGE && t < self.honest {
                        self.rec.received(t, message);
                    }
                    let mut ctx = NodeCtx::new(now, &mut self.out);
                    self.nodes[t].on_rpc(&mut ctx, peer, rpc);
                }
                self.recycle(rpcs);
                self.flush(t);
            }
            Event::Timeout(node) => {
                let i = node as usize;
                if !self.online[i] || self.timer[i] != self.now {
                    return;
                }
                self.timer[i] = u64::MAX;
                let now = self.instant();
                let mut ctx = NodeCtx::new(now, &mut self.out);
                self.nodes[i].on_timeout(&mut ctx);
                self.flush(i);
                self.reschedule(i, true);
            }
            Event::Publish(k) => self.publish(k as usize),
            Event::SubscriptionChange => self.change_subscription(),
            Event::Leave => self.leave(),
            Event::Join(node) => self.join(node as usize),
            Event::Sample => self.sample(),
            Event::Connect(a, b) => {
                let (ai, bi) = (a as usize, b as usize);
                let linked = self.links[ai].iter().any(|l| l.peer == b);
                if self.online[ai] && self.online[bi] && ai != bi && !linked {
                    self.connect(a, b);
                }
            }
            Event::Graph => self.connect_graph(),
        }
    }

    /// Returns an emptied batch to the pool.
    fn recycle(&mut self, mut rpcs: Batch) {
        rpcs.clear();
        self.pool.push(rpcs);
    }

    /// Hands node `i`'s outputs to the recorder and the links: each run of consecutive RPCs
    /// to one peer goes as one batch, and the batches leave in the order they were produced.
    /// With [`SimConfig::idontwant_merge_bytes`], an IDONTWANT-only RPC first moves to just
    /// before the next message this input sends the same peer (if close enough), so the two
    /// are one batch.
    fn flush(&mut self, i: usize) {
        let mut out = std::mem::take(&mut self.out);
        let mut sends = std::mem::take(&mut self.sends);
        for output in out.drain(..) {
            match output {
                NodeOutput::Send {
                    to,
                    rpc,
                    message_id,
                } => {
                    let Some(&to) = self.index.get(&to) else {
                        continue;
                    };
                    let message = message_id
                        .and_then(|id| self.rec.message_index(&id))
                        .unwrap_or(NO_MESSAGE);
                    sends.push(Send {
                        to,
                        rpc,
                        message,
                        slot: 0,
                    });
                }
                NodeOutput::Delivered { message_id } => {
                    self.rec.delivered(i, &message_id, self.now);
                }
            }
        }
        self.out = out;
        if self.cfg.idontwant_merge_bytes > 0 && sends.len() > 1 {
            self.merge_idontwant(&mut sends);
        }
        let mut batches = std::mem::take(&mut self.batches);
        for send in sends.drain(..) {
            // Only consecutive RPCs to one peer share a batch: the uplink sends everything
            // in the order the node produced it, so a batch never holds back an RPC behind
            // ones to other peers.
            if batches.last().is_none_or(|(peer, _)| *peer != send.to) {
                batches.push((send.to, self.pool.pop().unwrap_or_default()));
            }
            if let Some((_, batch)) = batches.last_mut() {
                batch.push((send.rpc, send.message));
            }
        }
        self.sends = sends;
        for (to, rpcs) in batches.drain(..) {
            self.transmit(i, to, rpcs);
        }
        self.batches = batches;
        if self.online[i] {
            self.reschedule(i, false);
        }
    }

    /// Reorders `sends` so that every IDONTWANT-only RPC stands just before the next RPC to
    /// the same peer that carries a message, if at most [`SimConfig::idontwant_merge_bytes`]
    /// payload bytes of messages (that one included) go out after the IDONTWANT until that
    /// message is uploaded and no other RPC to that peer lies between them (staying where it
    /// is otherwise); everything else keeps its order. Stable and a pure function of `sends`.
    fn merge_idontwant(&mut self, sends: &mut [Send]) {
        let limit = self.cfg.idontwant_merge_bytes as u64;
        // Payload bytes of the messages after `sends[k]`, as `slot` is computed backwards.
        let mut after = 0u64;
        let mut moved = false;
        for k in (0..sends.len()).rev() {
            let to = sends[k].to as usize;
            let (next, next_after) = self.next_message[to];
            let payload: u64 = sends[k]
                .rpc
                .messages
                .iter()
                .map(|m| m.data.len() as u64)
                .sum();
            if !sends[k].rpc.messages.is_empty() {
                // Bytes after this message (it is the one a merged IDONTWANT rides with).
                self.next_message[to] = (k as u32, after);
                sends[k].slot = k as u32;
            } else if next != u32::MAX
                && idontwant_only(&sends[k].rpc)
                // What the IDONTWANT would wait for: the messages up to and including the one
                // it rides with (a batch arrives once all of it is uploaded).
                && after.saturating_sub(next_after) <= limit
            {
                sends[k].slot = next;
                moved = true;
            } else {
                // Nothing earlier to this peer moves past an RPC that stays.
                self.next_message[to] = (u32::MAX, 0);
                sends[k].slot = k as u32;
            }
            after += payload;
        }
        for send in sends.iter() {
            self.next_message[send.to as usize] = (u32::MAX, 0);
        }
        if moved {
            // Stable: a moved IDONTWANT (earlier in `sends`) stays before the message whose
            // slot it took, and several moved to one message keep their order.
            sends.sort_by_key(|s| s.slot);
        }
    }

    /// Puts a batch of RPCs on node `from`'s uplink towards `to`. Each RPC costs upload time
    /// and may be lost on its own; the rest arrive together.
    fn transmit(&mut self, from: usize, to: u32, mut rpcs: Batch) {
        let Some(link) = self.links[from].iter().position(|l| l.peer == to) else {
            self.recycle(rpcs);
            return;
        };
        let mut depart = self.now.max(self.uplink_free[from]);
        let (mut bytes, mut upload) = (0, 0);
        let (rec, cfg, rng) = (&mut self.rec, &self.cfg.link, &mut self.link_rng);
        rpcs.retain(|(rpc, message)| {
            let message_index = (*message != NO_MESSAGE).then_some(*message);
            let size = rec.sent(from, rpc, message_index);
            let time = cfg.transmit_time(size);
            depart += time;
            if cfg.sample_loss(rng) {
                rec.rpcs_lost += 1;
                return false;
            }
            bytes += size;
            upload += time;
            true
        });
        self.uplink_free[from] = depart;
        if rpcs.is_empty() {
            self.recycle(rpcs);
            return;
        }
        let jitter = self.cfg.link.sample_jitter(&mut self.link_rng);
        let link = &mut self.links[from][link];
        let arrive = (depart + link.latency + jitter).max(link.last_arrival);
        link.last_arrival = arrive;
        let event = Event::Deliver {
            to,
            from: from as u32,
            to_epoch: self.epoch[to as usize],
            from_epoch: self.epoch[from],
            bytes,
            upload,
            received: false,
            rpcs,
        };
        self.queue.push(arrive, event);
    }

    /// Schedules node `i`'s next timeout if it is earlier than the one scheduled.
    fn reschedule(&mut self, i: usize, after_timeout: bool) {
        let next = self.nodes[i].next_timeout();
        let mut t = nanos(next.saturating_duration_since(self.base));
        if after_timeout {
            // Never let a node spin at one instant.
            t = t.max(self.now + 1);
        }
        if t < self.timer[i] {
            self.timer[i] = t;
            self.queue.push(t, Event::Timeout(i as u32));
        }
    }

    fn publish(&mut self, k: usize) {
        if self.cfg.workload.batch_size > 1 {
            return self.publish_batch(k);
        }
        let p = self.publishers[k] as usize;
        let count = self.published[k];
        self.published[k] += 1;
        let topic_index = (count as usize + k) % self.topic_count();
        let topic = self.topics[topic_index].clone();
        let size = self.cfg.workload.message_size.max(16);
        let mut data = vec![0u8; size];
        data[..8].copy_from_slice(&count.to_be_bytes());
        data[8..12].copy_from_slice(&(p as u32).to_be_bytes());
        let now = self.instant();
        let mut ctx = NodeCtx::new(now, &mut self.out);
        match self.nodes[p].publish(&mut ctx, topic, Bytes::from(data)) {
            Some(id) => {
                let tc = self.topic_count();
                let expected = (0..self.honest).filter(|n| {
                    *n != p && self.online[*n] && self.subscribed[n * tc + topic_index]
                });
                self.rec
                    .published(id, p as u32, topic_index as u32, self.now, expected);
            }
            None => self.rec.publish_failures += 1,
        }
        self.flush(p);
        let next = self.now + (1e9 / self.cfg.workload.rate) as u64;
        if next < self.publish_end {
            self.queue.push(next, Event::Publish(k as u32));
        }
    }

    /// A random online non-publisher, if any.
    fn random_member(&mut self) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.honest)
            .filter(|n| self.online[*n] && !self.is_publisher[*n])
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
            let now = self.instant();
            let mut ctx = NodeCtx::new(now, &mut self.out);
            if self.subscribed[slot] {
                self.subscribed[slot] = false;
                self.nodes[node].unsubscribe(&mut ctx, topic);
                self.rec.excuse(node, Some(t as u32));
            } else {
                self.subscribed[slot] = true;
                self.nodes[node].subscribe(&mut ctx, topic);
            }
            self.flush(node);
        }
        let next = self.exponential(self.cfg.workload.subscription_changes_per_min);
        self.queue.push(next, Event::SubscriptionChange);
    }

    fn leave(&mut self) {
        if let Some(node) = self.random_member() {
            self.online[node] = false;
            self.epoch[node] += 1;
            self.timer[node] = u64::MAX;
            self.rec.excuse(node, None);
            let links = std::mem::take(&mut self.links[node]);
            let gone = self.peer_ids[node];
            let now = self.instant();
            for link in links {
                let peer = link.peer as usize;
                self.links[peer].retain(|l| l.peer != node as u32);
                let mut ctx = NodeCtx::new(now, &mut self.out);
                self.nodes[peer].on_disconnect(&mut ctx, gone);
                self.flush(peer);
            }
            let back = self.now + nanos(self.cfg.workload.churn_downtime);
            self.queue.push(back, Event::Join(node as u32));
        }
        let next = self.exponential(self.cfg.workload.churn_per_min);
        self.queue.push(next, Event::Leave);
    }

    fn join(&mut self, node: usize) {
        self.online[node] = true;
        self.uplink_free[node] = self.now;
        self.downlink_free[node] = self.now;
        self.nodes[node] = self.build_node(node);
        self.subscribe_all(node);
        let online: Vec<u32> = (0..self.cfg.nodes as u32)
            .filter(|n| self.online[*n as usize])
            .collect();
        let dials = self.cfg.topology.connections.div_ceil(2);
        let peers = pick_peers(&mut self.topo_rng, &online, dials, &[node as u32]);
        for peer in peers {
            self.connect(node as u32, peer);
        }
        self.reschedule(node, false);
    }

    fn sample(&mut self) {
        let mut histogram = Vec::new();
        for node in 0..self.cfg.nodes {
            if !self.online[node] {
                continue;
            }
            for topic in &self.topics {
                if let Some(d) = self.nodes[node].mesh_degree(topic) {
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
            observer(Duration::from_nanos(self.now), &self.nodes);
        }
        let next = self.now + nanos(self.cfg.sample_interval);
        if next <= self.end {
            self.queue.push(next, Event::Sample);
        }
    }
}
