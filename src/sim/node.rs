//! The node seam: every simulated node is a [`NodeBehaviour`] trait object. [`HonestNode`]
//! wraps a real [`Router`]; attack strategies implement the trait themselves (or wrap an
//! `HonestNode` and tamper with what goes in and out) without touching the router.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use web_time::Instant;

use bytes::Bytes;
use libp2p_identity::{Keypair, PeerId};

use crate::authenticity::MessageAuthenticity;
use crate::config::Config;
use crate::event::{Event, MessageAcceptance};
use crate::router::{Action, Router};
use crate::types::{MessageId, PeerKind, Rpc, TopicHash};

/// What a node hands back to the network after an input.
#[derive(Debug, Clone)]
pub enum NodeOutput {
    /// Send `rpc` to the connected peer `to` over the simulated link.
    Send {
        /// The recipient.
        to: PeerId,
        /// The RPC.
        rpc: Rpc,
        /// The id of the message the RPC carries, if it carries one (for duplicate accounting).
        message_id: Option<MessageId>,
    },
    /// The node delivered message `message_id` to its application.
    Delivered {
        /// The message.
        message_id: MessageId,
    },
}

thread_local! {
    /// The action buffer lent to each router for one input (see
    /// [`HonestNode::swap_hot_actions`]); empty between inputs.
    static HOT_ACTIONS: RefCell<VecDeque<Action>> = const { RefCell::new(VecDeque::new()) };
}

/// The context of one input: the current instant and the outbox.
pub struct NodeCtx<'a> {
    now: Instant,
    out: &'a mut Vec<NodeOutput>,
}

impl<'a> NodeCtx<'a> {
    pub(crate) fn new(now: Instant, out: &'a mut Vec<NodeOutput>) -> Self {
        NodeCtx { now, out }
    }

    /// The current simulated instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Queues an output.
    pub fn output(&mut self, output: NodeOutput) {
        self.out.push(output);
    }
}

/// Everything a node is built from. Passed to the node factory of
/// [`Network::with_factory`](super::Network::with_factory).
#[derive(Debug, Clone)]
pub struct NodeInit {
    /// The node's index in the network.
    pub index: usize,
    /// The node's identity key (derived from the run's seed).
    pub keypair: Keypair,
    /// The seed for the node's own randomness (derived from the run's seed).
    pub seed: u64,
    /// The router configuration of the run.
    pub config: Config,
    /// Whether the run signs messages (`true`) or publishes them anonymously.
    pub signed: bool,
    /// The instant the node starts at.
    pub now: Instant,
    /// How long validating a message takes, for the topics where it takes time (see
    /// [`ValidationDelay`](super::ValidationDelay)); other topics validate at once.
    pub validation_delays: Vec<(TopicHash, Duration)>,
}

/// The behaviour of one simulated node. Every method gets the current instant through
/// [`NodeCtx`] and reports sends and deliveries through it. `Send`: the partitions of one run
/// may run on different threads ([`SimConfig::threads`](super::SimConfig::threads)), so
/// nodes must not share state without synchronisation.
pub trait NodeBehaviour: Send {
    /// The node's peer id.
    fn peer_id(&self) -> PeerId;
    /// A connection to `peer` was established; `outbound` if this node dialled.
    fn on_connect(&mut self, ctx: &mut NodeCtx<'_>, peer: PeerId, outbound: bool);
    /// The connection to `peer` closed.
    fn on_disconnect(&mut self, ctx: &mut NodeCtx<'_>, peer: PeerId);
    /// An RPC arrived from `from`.
    fn on_rpc(&mut self, ctx: &mut NodeCtx<'_>, from: PeerId, rpc: Rpc);
    /// The instant [`NodeBehaviour::on_timeout`] is next due.
    fn next_timeout(&self) -> Instant;
    /// The instant returned by [`NodeBehaviour::next_timeout`] has come.
    fn on_timeout(&mut self, ctx: &mut NodeCtx<'_>);
    /// The workload subscribes the node to `topic`.
    fn subscribe(&mut self, ctx: &mut NodeCtx<'_>, topic: TopicHash);
    /// The workload unsubscribes the node from `topic`.
    fn unsubscribe(&mut self, ctx: &mut NodeCtx<'_>, topic: TopicHash);
    /// The workload publishes `data` on `topic`; returns the message id if published.
    fn publish(
        &mut self,
        ctx: &mut NodeCtx<'_>,
        topic: TopicHash,
        data: Bytes,
    ) -> Option<MessageId>;
    /// The workload publishes a batch of messages at once (`WorkloadConfig::batch_size`):
    /// `interleave` asks for first copies interleaved across peers. Returns the id of each
    /// message published. By default the messages are published one after the other.
    fn publish_batch(
        &mut self,
        ctx: &mut NodeCtx<'_>,
        batch: Vec<(TopicHash, Bytes)>,
        interleave: bool,
    ) -> Vec<Option<MessageId>> {
        let _ = interleave;
        batch
            .into_iter()
            .map(|(topic, data)| self.publish(ctx, topic, data))
            .collect()
    }
    /// The node's mesh degree in `topic`, if it keeps a mesh for it.
    fn mesh_degree(&self, topic: &TopicHash) -> Option<usize>;
    /// The router, for nodes that have one (statistics and memory accounting).
    fn router(&self) -> Option<&Router> {
        None
    }
    /// A hint that an RPC from `from` may arrive soon: the node may start loading the state
    /// it will read for it (the default does nothing). It may be called any number of times
    /// or not at all, and the calls depend on the number of threads: an implementation must
    /// not change any observable state.
    fn warm(&self, from: &PeerId) {
        let _ = from;
    }
}

/// The application's verdict on a message; see [`HonestNode::with_validator`].
pub type Validator = fn(&crate::types::Message) -> MessageAcceptance;

/// A message being validated: (due, id, propagation source, verdict).
type Pending = (Instant, MessageId, PeerId, MessageAcceptance);

/// An honest node: a real [`Router`] that accepts every message it validates (or asks its
/// [`Validator`]), at once or after the topic's validation delay.
pub struct HonestNode {
    peer_id: PeerId,
    router: Router,
    validator: Option<Validator>,
    /// Messages being validated, one FIFO per distinct delay (so each stays in time order):
    /// (delay, [(due, id, propagation source, verdict)]).
    validating: Vec<(Duration, VecDeque<Pending>)>,
    /// The delay of each topic that has one.
    delays: Vec<(TopicHash, Duration)>,
    /// Validations of the messages of one round of [`HonestNode::drain`], started after it
    /// (empty between inputs; kept for its allocation): (delay, id, source, verdict).
    reports: Vec<(Duration, MessageId, PeerId, MessageAcceptance)>,
}

impl HonestNode {
    /// Builds an honest node from `init`: signed messages use the node's key, anonymous runs
    /// use [`MessageAuthenticity::Anonymous`].
    pub fn new(init: &NodeInit) -> Self {
        let peer_id = init.keypair.public().to_peer_id();
        let authenticity = if init.signed {
            MessageAuthenticity::Signed(init.keypair.clone())
        } else {
            MessageAuthenticity::Anonymous
        };
        let mut router = Router::new(init.config.clone(), authenticity, init.seed, 1, init.now)
            .expect("the simulation's router configuration is valid");
        // The simulated uplink holds no queued forward to cancel.
        router.set_cancel_forwards(false);
        HonestNode {
            peer_id,
            router,
            validator: None,
            validating: Vec::new(),
            delays: init
                .validation_delays
                .iter()
                .filter(|(_, d)| !d.is_zero())
                .cloned()
                .collect(),
            reports: Vec::new(),
        }
    }

    /// The validation delay of `topic`.
    fn delay_of(&self, topic: &TopicHash) -> Duration {
        self.delays
            .iter()
            .find(|(t, _)| t == topic)
            .map_or(Duration::ZERO, |(_, d)| *d)
    }

    /// Starts validating `id`: accepted at once without a delay, else queued.
    fn validate(
        &mut self,
        now: Instant,
        delay: Duration,
        id: MessageId,
        source: PeerId,
        verdict: MessageAcceptance,
    ) {
        if delay.is_zero() {
            self.router.report_validation(now, &id, &source, verdict);
            return;
        }
        let due = now + delay;
        let queue = match self.validating.iter().position(|(d, _)| *d == delay) {
            Some(i) => &mut self.validating[i].1,
            None => {
                self.validating.push((delay, VecDeque::new()));
                &mut self.validating.last_mut().expect("just pushed").1
            }
        };
        queue.push_back((due, id, source, verdict));
    }

    /// The earliest validation due, if any.
    fn next_validation(&self) -> Option<Instant> {
        self.validating
            .iter()
            .filter_map(|(_, q)| q.front().map(|(due, _, _, _)| *due))
            .min()
    }

    /// Accepts every validation due at `now`, earliest first.
    fn finish_validations(&mut self, now: Instant) {
        loop {
            let next = self
                .validating
                .iter()
                .enumerate()
                .filter_map(|(i, (_, q))| q.front().map(|(due, _, _, _)| (*due, i)))
                .filter(|(due, _)| *due <= now)
                .min();
            let Some((_, i)) = next else {
                return;
            };
            if let Some((_, id, source, verdict)) = self.validating[i].1.pop_front() {
                self.router.report_validation(now, &id, &source, verdict);
            }
        }
    }

    /// Builds an honest node around a router built by the caller (e.g. with peer scoring on).
    pub fn from_router(peer_id: PeerId, mut router: Router) -> Self {
        // The simulated uplink holds no queued forward to cancel.
        router.set_cancel_forwards(false);
        HonestNode {
            peer_id,
            router,
            validator: None,
            validating: Vec::new(),
            delays: Vec::new(),
            reports: Vec::new(),
        }
    }

    /// Validates messages with `validator` instead of accepting all of them; rejected and
    /// ignored messages are not delivered.
    pub fn with_validator(mut self, validator: Validator) -> Self {
        self.validator = Some(validator);
        self
    }

    /// Moves the router's actions to the outbox, accepting messages as they are delivered.
    ///
    /// Swaps the router's action buffer with this thread's spare one; called before an input
    /// and again once its actions are drained, so the router writes them into the same few
    /// lines for every node a thread runs (in cache) and keeps no buffer of its own. Results
    /// do not depend on which buffer holds the actions.
    fn swap_hot_actions(&mut self) {
        HOT_ACTIONS.with(|hot| self.router.swap_actions(&mut hot.borrow_mut()));
    }

    /// A message's validation starts once every action queued with it is taken: accepting
    /// it makes the router queue forwards behind those actions, which is where they are
    /// taken from either way, but into an empty buffer, so it writes them at its start
    /// (lines it has just written) rather than past the actions not yet taken.
    fn drain(&mut self, ctx: &mut NodeCtx<'_>) {
        loop {
            // Whether this round took a message to validate. A local: `reports` lies far
            // from the router's hot fields (the router is inline in the node), and most
            // inputs take no message.
            let mut validations = false;
            while let Some(action) = self.router.poll_action() {
                match action {
                    Action::Send {
                        peer,
                        rpc,
                        message_id,
                        ..
                    } => ctx.output(NodeOutput::Send {
                        to: peer,
                        rpc,
                        message_id,
                    }),
                    Action::Event(Event::Message {
                        propagation_source,
                        message_id,
                        message,
                    }) => {
                        let verdict = self
                            .validator
                            .map_or(MessageAcceptance::Accept, |v| v(&message));
                        if self.router.config().validate_messages() {
                            validations = true;
                            let delay = self.delay_of(&message.topic);
                            self.reports.push((
                                delay,
                                message_id.clone(),
                                propagation_source,
                                verdict,
                            ));
                        }
                        if verdict == MessageAcceptance::Accept {
                            ctx.output(NodeOutput::Delivered { message_id });
                        }
                    }
                    // The simulated uplink sends each RPC as soon as it is handed over, so
                    // there is no queued forward left to cancel (the router is told not to
                    // emit these). Nodes are connected by the topology alone: PX and
                    // direct-peer dials are not simulated.
                    Action::CancelForward { .. }
                    | Action::Event(_)
                    | Action::Dial { .. }
                    | Action::Disconnect { .. } => {}
                }
            }
            if !validations {
                return;
            }
            let mut reports = std::mem::take(&mut self.reports);
            for (delay, id, source, verdict) in reports.drain(..) {
                self.validate(ctx.now(), delay, id, source, verdict);
            }
            self.reports = reports;
        }
    }
}

impl NodeBehaviour for HonestNode {
    fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    fn on_connect(&mut self, ctx: &mut NodeCtx<'_>, peer: PeerId, outbound: bool) {
        self.swap_hot_actions();
        self.router.add_peer(ctx.now(), peer, outbound);
        self.router.set_peer_kind(peer, PeerKind::Gossipsubv1_2);
        self.drain(ctx);
        self.swap_hot_actions();
    }

    fn on_disconnect(&mut self, ctx: &mut NodeCtx<'_>, peer: PeerId) {
        self.swap_hot_actions();
        self.router.remove_peer(&peer);
        self.drain(ctx);
        self.swap_hot_actions();
    }

    fn on_rpc(&mut self, ctx: &mut NodeCtx<'_>, from: PeerId, rpc: Rpc) {
        self.swap_hot_actions();
        self.router.handle_rpc(ctx.now(), from, rpc);
        self.drain(ctx);
        self.swap_hot_actions();
    }

    fn next_timeout(&self) -> Instant {
        let heartbeat = self.router.poll_timeout();
        self.next_validation()
            .map_or(heartbeat, |v| v.min(heartbeat))
    }

    fn on_timeout(&mut self, ctx: &mut NodeCtx<'_>) {
        let now = ctx.now();
        self.swap_hot_actions();
        self.finish_validations(now);
        if now >= self.router.poll_timeout() {
            self.router.handle_timeout(now);
        }
        self.drain(ctx);
        self.swap_hot_actions();
    }

    fn subscribe(&mut self, ctx: &mut NodeCtx<'_>, topic: TopicHash) {
        self.swap_hot_actions();
        if let Err(error) = self.router.subscribe(ctx.now(), topic) {
            tracing::warn!(%error, "simulated subscription refused");
        }
        self.drain(ctx);
        self.swap_hot_actions();
    }

    fn unsubscribe(&mut self, ctx: &mut NodeCtx<'_>, topic: TopicHash) {
        self.swap_hot_actions();
        self.router.unsubscribe(ctx.now(), &topic);
        self.drain(ctx);
        self.swap_hot_actions();
    }

    fn publish(
        &mut self,
        ctx: &mut NodeCtx<'_>,
        topic: TopicHash,
        data: Bytes,
    ) -> Option<MessageId> {
        self.swap_hot_actions();
        let id = self.router.publish(ctx.now(), topic, data).ok();
        self.drain(ctx);
        self.swap_hot_actions();
        id
    }

    fn publish_batch(
        &mut self,
        ctx: &mut NodeCtx<'_>,
        batch: Vec<(TopicHash, Bytes)>,
        interleave: bool,
    ) -> Vec<Option<MessageId>> {
        self.swap_hot_actions();
        let ids = if interleave {
            self.router
                .publish_batch(ctx.now(), batch)
                .into_iter()
                .map(Result::ok)
                .collect()
        } else {
            batch
                .into_iter()
                .map(|(topic, data)| self.router.publish(ctx.now(), topic, data).ok())
                .collect()
        };
        self.drain(ctx);
        self.swap_hot_actions();
        ids
    }

    fn warm(&self, from: &PeerId) {
        self.router.warm(from);
    }

    fn mesh_degree(&self, topic: &TopicHash) -> Option<usize> {
        self.router
            .topics()
            .any(|t| t == topic)
            .then(|| self.router.mesh_peers(topic).count())
    }

    fn router(&self) -> Option<&Router> {
        Some(&self.router)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Preset;
    use crate::types::{RawMessage, Subscription, SubscriptionOptions};

    /// The drain before it took the actions in rounds: one `poll_action` at a time, each
    /// message accepted as soon as it is taken (the reference order of the outputs).
    fn drain_one_by_one(node: &mut HonestNode, ctx: &mut NodeCtx<'_>) {
        while let Some(action) = node.router.poll_action() {
            match action {
                Action::Send {
                    peer,
                    rpc,
                    message_id,
                    ..
                } => ctx.output(NodeOutput::Send {
                    to: peer,
                    rpc,
                    message_id,
                }),
                Action::Event(Event::Message {
                    propagation_source,
                    message_id,
                    ..
                }) => {
                    let accept = MessageAcceptance::Accept;
                    node.router.report_validation(
                        ctx.now(),
                        &message_id,
                        &propagation_source,
                        accept,
                    );
                    ctx.output(NodeOutput::Delivered { message_id });
                }
                _ => {}
            }
        }
    }

    /// Runs `input` on the router of `node` and drains it the current way (`rounds`) or the
    /// reference way; returns the outputs, printed.
    fn run(
        node: &mut HonestNode,
        now: Instant,
        rounds: bool,
        input: impl FnOnce(&mut Router),
    ) -> Vec<String> {
        let mut out = Vec::new();
        let mut ctx = NodeCtx::new(now, &mut out);
        input(&mut node.router);
        if rounds {
            node.drain(&mut ctx);
        } else {
            drain_one_by_one(node, &mut ctx);
        }
        out.iter().map(|o| format!("{o:?}")).collect()
    }

    /// Taking the actions in rounds, with the messages' validations after each round, gives
    /// exactly the outputs, in the order, of taking them one by one and validating each
    /// message as it comes: here for an RPC of three messages, each delivered and forwarded
    /// to the mesh, with IDONTWANTs around them.
    #[test]
    fn drain_in_rounds_gives_the_outputs_of_polling_one_by_one() {
        let start = Instant::now();
        let topic = TopicHash::from("blocks");
        let peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
        let init = NodeInit {
            index: 0,
            keypair: Keypair::ed25519_from_bytes([7; 32]).expect("32 bytes are a valid key"),
            seed: 3,
            config: Preset::Ethereum.config(),
            signed: false,
            now: start,
            validation_delays: Vec::new(),
        };
        assert!(init.config.validate_messages());
        let script = |node: &mut HonestNode, rounds: bool| {
            let mut outputs = Vec::new();
            for (k, &peer) in peers.iter().enumerate() {
                outputs.extend(run(node, start, rounds, |r| {
                    r.add_peer(start, peer, k % 2 == 0);
                    r.set_peer_kind(peer, PeerKind::Gossipsubv1_2);
                    let subscription = Subscription {
                        subscribe: true,
                        topic: topic.clone(),
                        options: SubscriptionOptions::default(),
                    };
                    let rpc = Rpc {
                        subscriptions: vec![subscription],
                        ..Rpc::default()
                    };
                    r.handle_rpc(start, peer, rpc);
                }));
            }
            outputs.extend(run(node, start, rounds, |r| {
                r.subscribe(start, topic.clone()).expect("a valid topic");
            }));
            let now = start + Duration::from_millis(10);
            let messages = (0..3u8)
                .map(|i| RawMessage {
                    source: None,
                    data: Bytes::from(vec![i; 2000]),
                    data_absent: false,
                    sequence_number: None,
                    topic: topic.clone(),
                    signature: None,
                    key: None,
                })
                .collect();
            let rpc = Rpc {
                messages,
                ..Rpc::default()
            };
            outputs.extend(run(node, now, rounds, |r| r.handle_rpc(now, peers[0], rpc)));
            outputs
        };
        let reference = script(&mut HonestNode::new(&init), false);
        let rounds = script(&mut HonestNode::new(&init), true);
        let delivered = reference
            .iter()
            .filter(|o| o.starts_with("Delivered"))
            .count();
        let forwards = reference
            .iter()
            .filter(|o| o.starts_with("Send") && o.contains("message_id: Some"))
            .count();
        assert_eq!(delivered, 3, "{reference:#?}");
        assert!(forwards >= 6, "{reference:#?}");
        assert_eq!(rounds, reference);
    }

    /// A router handed over with actions already queued (`from_router`) still emits them, first,
    /// at its first input, although each input runs on the thread's lent action buffer.
    #[test]
    fn actions_queued_before_the_node_was_built_come_out_first() {
        let start = Instant::now();
        let topic = TopicHash::from("blocks");
        let (peer, other) = (PeerId::random(), PeerId::random());
        let mut router = Router::new(
            Preset::Ethereum.config(),
            MessageAuthenticity::Anonymous,
            1,
            1,
            start,
        )
        .expect("valid config");
        router.subscribe(start, topic.clone()).expect("subscribed");
        router.add_peer(start, peer, true);
        router.set_peer_kind(peer, PeerKind::Gossipsubv1_2);
        let mut node = HonestNode::from_router(PeerId::random(), router);
        let mut out = Vec::new();
        let mut ctx = NodeCtx::new(start, &mut out);
        node.on_connect(&mut ctx, other, true);
        let sent: Vec<PeerId> = out
            .iter()
            .filter_map(|o| match o {
                NodeOutput::Send { to, .. } => Some(*to),
                NodeOutput::Delivered { .. } => None,
            })
            .collect();
        assert_eq!(
            sent,
            vec![peer, other],
            "the queued announcement first, then the new one"
        );
        HOT_ACTIONS.with(|hot| assert!(hot.borrow().is_empty(), "the lent buffer is back, empty"));
    }
}
