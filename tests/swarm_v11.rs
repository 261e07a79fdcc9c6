//! Swarm-level tests of the GossipSub v1.1 hardening features: peer scoring against invalid
//! messages (P4, mesh pruning, graylisting), peer exchange with signed peer records, refusal of
//! forged records, direct peers, and the score breakdown.
//!
//! Real swarms on the memory transport (see `tests/common`), all driven from one task. Waits
//! are on conditions with generous timeouts; fixed spans are only used where the point is that
//! something does *not* happen. Set `RUST_LOG=gossipsub=debug` to see our node's logs.

mod common;
#[path = "swarm_v11/px.rs"]
mod px;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use common::raw::{RawNode, forged_peer_record, prune_rpc, put_frame, subscribe_rpc};
use common::{Net, Node, NodeEvent, fast_config, memory_addr, memory_swarm};
use futures::StreamExt;
use gossipsub::{
    Behaviour, Config, Event, IdentTopic, MessageAcceptance, MessageAuthenticity, PeerKind,
    PeerScoreParams, PeerScoreThresholds, ScoreThreshold, TopicHash, TopicScoreParams,
};
use libp2p::core::multiaddr::Protocol;
use libp2p::core::{Multiaddr, PeerRecord};
use libp2p::identity::{Keypair, PeerId};
use libp2p::swarm::{Swarm, SwarmEvent};

/// The topic every test uses.
const TOPIC: &str = "v11-topic";

/// Generous bound for anything that should happen "soon" on the memory transport.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Long enough for several 100 ms heartbeats to pass.
const SETTLE: Duration = Duration::from_millis(500);

/// Logs to the test output if `RUST_LOG` is set.
fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn topic() -> IdentTopic {
    IdentTopic::new(TOPIC)
}

fn topic_hash() -> TopicHash {
    topic().hash()
}

// ---------------------------------------------------------------------------------------------
// A node of ours that records what the harness's `NodeEvent` leaves out.
// ---------------------------------------------------------------------------------------------

/// What a [`Probe`] saw beyond the harness's [`NodeEvent`]s.
#[derive(Default)]
struct Log {
    /// Peers the swarm started dialling (`SwarmEvent::Dialing` with a peer id), in order.
    dialing: Vec<PeerId>,
    /// Connections this node dialled, with the address they were established on (without its
    /// `/p2p` suffix).
    dialed: Vec<(PeerId, Multiaddr)>,
    /// `Event::PeerExchange`: the pruning peer and the verified records it offered.
    px: Vec<(PeerId, Vec<PeerRecord>)>,
    /// `Event::PeerScoreBelowThreshold`: the peer and the threshold it crossed.
    below: Vec<(PeerId, ScoreThreshold)>,
    /// Delivered messages: propagation source and data.
    messages: Vec<(PeerId, Vec<u8>)>,
}

/// Our behaviour in a swarm. With `validate` on (and `validate_messages` in its config) it
/// plays the application: every delivered message whose data starts with `b"bad"` is reported
/// `Reject`, every other one `Accept`, as soon as it is delivered.
struct Probe {
    swarm: Swarm<Behaviour>,
    addr: Multiaddr,
    validate: bool,
    log: Log,
}

impl Probe {
    fn new(config: Config, validate: bool) -> Self {
        let key = Keypair::generate_ed25519();
        let behaviour =
            Behaviour::new(MessageAuthenticity::Signed(key.clone()), config).expect("config");
        let mut swarm = memory_swarm(key, behaviour);
        let addr = memory_addr();
        swarm.listen_on(addr.clone()).expect("listen on memory");
        Probe {
            swarm,
            addr,
            validate,
            log: Log::default(),
        }
    }

    fn behaviour(&self) -> &Behaviour {
        self.swarm.behaviour()
    }

    fn behaviour_mut(&mut self) -> &mut Behaviour {
        self.swarm.behaviour_mut()
    }

    fn mesh(&self) -> HashSet<PeerId> {
        self.behaviour()
            .mesh_peers(&topic_hash())
            .copied()
            .collect()
    }

    /// Whether `peer` is connected and known to be subscribed to [`TOPIC`].
    fn knows_subscriber(&self, peer: &PeerId) -> bool {
        self.behaviour()
            .all_peers()
            .any(|(p, topics)| p == peer && topics.contains(&&topic_hash()))
    }

    fn publish(&mut self, data: &[u8]) {
        self.behaviour_mut()
            .publish(topic(), data.to_vec())
            .unwrap_or_else(|e| panic!("publish {:?}: {e}", String::from_utf8_lossy(data)));
    }

    fn on_event(&mut self, event: SwarmEvent<Event>) -> NodeEvent {
        match event {
            SwarmEvent::Behaviour(Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                if self.validate {
                    let acceptance = if message.data.starts_with(b"bad") {
                        MessageAcceptance::Reject
                    } else {
                        MessageAcceptance::Accept
                    };
                    self.behaviour_mut().report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        acceptance,
                    );
                }
                self.log
                    .messages
                    .push((propagation_source, message.data.to_vec()));
                NodeEvent::Message {
                    source: message.source,
                    topic: message.topic.as_str().to_owned(),
                    data: message.data.to_vec(),
                }
            }
            SwarmEvent::Behaviour(Event::Subscribed { peer_id, topic }) => NodeEvent::Subscribed {
                peer: peer_id,
                topic: topic.as_str().to_owned(),
            },
            SwarmEvent::Behaviour(Event::PeerExchange {
                propagation_source,
                records,
            }) => {
                self.log.px.push((propagation_source, records));
                NodeEvent::Other
            }
            SwarmEvent::Behaviour(Event::PeerScoreBelowThreshold {
                peer_id, threshold, ..
            }) => {
                self.log.below.push((peer_id, threshold));
                NodeEvent::Other
            }
            SwarmEvent::Dialing {
                peer_id: Some(peer),
                ..
            } => {
                self.log.dialing.push(peer);
                NodeEvent::Other
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                if endpoint.is_dialer() {
                    // The swarm appends `/p2p/<peer>` to the address it dialled; drop it.
                    let mut addr = endpoint.get_remote_address().clone();
                    if let Some(Protocol::P2p(_)) = addr.iter().last() {
                        addr.pop();
                    }
                    self.log.dialed.push((peer_id, addr));
                }
                NodeEvent::Connected { peer: peer_id }
            }
            SwarmEvent::ConnectionClosed { peer_id, .. } => {
                NodeEvent::Disconnected { peer: peer_id }
            }
            _ => NodeEvent::Other,
        }
    }
}

/// A [`Probe`] that the [`Net`] drives while the test keeps a handle on it; the test locks
/// the handle between `run_until` calls (never across an await).
struct Shared(Arc<Mutex<Probe>>);

type Handle = Arc<Mutex<Probe>>;

fn shared(probe: Probe) -> (Handle, Box<dyn Node>) {
    let handle = Arc::new(Mutex::new(probe));
    (handle.clone(), Box::new(Shared(handle)))
}

fn lock(handle: &Handle) -> MutexGuard<'_, Probe> {
    handle.lock().expect("probe lock")
}

impl Node for Shared {
    fn peer_id(&self) -> PeerId {
        *lock(&self.0).swarm.local_peer_id()
    }
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<NodeEvent> {
        let mut probe = lock(&self.0);
        match probe.swarm.poll_next_unpin(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(probe.on_event(event)),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
    fn dial(&mut self, addr: Multiaddr) {
        lock(&self.0).swarm.dial(addr).expect("dial");
    }
    fn subscribe(&mut self, topic: &str) {
        lock(&self.0)
            .behaviour_mut()
            .subscribe(&IdentTopic::new(topic))
            .expect("subscribe");
    }
    fn unsubscribe(&mut self, topic: &str) {
        lock(&self.0)
            .behaviour_mut()
            .unsubscribe(&IdentTopic::new(topic));
    }
    fn publish(&mut self, topic: &str, data: Vec<u8>) -> Result<(), String> {
        lock(&self.0)
            .behaviour_mut()
            .publish(IdentTopic::new(topic), data)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    fn disconnect(&mut self, peer: PeerId) {
        let _ = lock(&self.0).swarm.disconnect_peer_id(peer);
    }
    fn listen_addr(&self) -> Multiaddr {
        lock(&self.0).addr.clone()
    }
}

fn id(handle: &Handle) -> PeerId {
    *lock(handle).swarm.local_peer_id()
}

/// How many times the node behind `handle` got a message with `data`.
fn received(handle: &Handle, data: &[u8]) -> usize {
    lock(handle)
        .log
        .messages
        .iter()
        .filter(|(_, d)| d == data)
        .count()
}

/// Publishes `data` from `from` and waits until every node of `to` has it.
async fn publish_and_wait(net: &mut Net, from: &Handle, to: &[Handle], data: &[u8]) {
    lock(from).publish(data);
    let arrived = net
        .wait_for(TIMEOUT, |_| to.iter().all(|h| received(h, data) > 0))
        .await;
    let missing: Vec<PeerId> = to
        .iter()
        .filter(|h| received(h, data) == 0)
        .map(id)
        .collect();
    assert!(
        arrived,
        "{:?} from {} never reached {missing:?}",
        String::from_utf8_lossy(data),
        id(from)
    );
}

/// Peer scoring where only invalid messages count: `P4` with weight -100 in [`TOPIC`] (topic
/// weight 1; P1-P3b off, no IP colocation), so `n` invalid messages score `-100 n^2`:
/// gossip at -100 (1), publish at -500 (3), graylist at -1000 (4 invalid messages).
fn p4_scoring() -> (PeerScoreParams, PeerScoreThresholds) {
    let topic_params = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        ..TopicScoreParams::default()
    };
    let mut params = PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    params.topics.insert(topic_hash(), topic_params);
    let thresholds = PeerScoreThresholds {
        gossip_threshold: -100.0,
        publish_threshold: -500.0,
        graylist_threshold: -1000.0,
        accept_px_threshold: 0.0,
        opportunistic_graft_threshold: 0.0,
    };
    (params, thresholds)
}

/// An honest node: validates every message (through [`Probe`]) and scores its peers with
/// [`p4_scoring`].
fn honest() -> Probe {
    let config = fast_config()
        .validate_messages(true)
        .build()
        .expect("config");
    let mut probe = Probe::new(config, true);
    let (params, thresholds) = p4_scoring();
    probe
        .behaviour_mut()
        .with_peer_score(params, thresholds)
        .expect("score params");
    probe
}

// ---------------------------------------------------------------------------------------------
// (a) Invalid messages: pruned, then graylisted; honest traffic keeps flowing.
// ---------------------------------------------------------------------------------------------

/// Four honest nodes (full mesh, application validation, P4 scoring) and a bad node connected
/// to all of them. The bad node starts in every honest mesh; after it publishes messages the
/// application rejects, every honest node scores it below the graylist threshold (and reports
/// the crossing), drops it from its mesh, counts its later RPCs as graylisted, and never
/// forwards its messages; honest messages published afterwards still reach every honest node.
#[tokio::test]
async fn invalid_messages_get_the_sender_pruned_and_graylisted() {
    init_tracing();
    let honest: Vec<(Handle, Box<dyn Node>)> = (0..4).map(|_| shared(honest())).collect();
    let (bad, bad_node) = shared(Probe::new(fast_config().build().expect("config"), false));
    let bad_id = id(&bad);
    let (handles, mut nodes): (Vec<Handle>, Vec<Box<dyn Node>>) = honest.into_iter().unzip();
    nodes.push(bad_node);
    let mut net = Net::new(nodes);
    for i in 0..5 {
        net.nodes[i].subscribe(TOPIC);
    }
    for i in 0..4 {
        for j in i + 1..4 {
            net.connect(i, j);
        }
        net.connect(4, i);
    }
    let ids: Vec<PeerId> = handles.iter().map(id).collect();

    // Every honest mesh holds the other three honest nodes and the bad node.
    let formed = net
        .wait_for(TIMEOUT, |_| {
            handles.iter().enumerate().all(|(i, h)| {
                let mesh = lock(h).mesh();
                mesh.contains(&bad_id) && (0..4).filter(|j| *j != i).all(|j| mesh.contains(&ids[j]))
            })
        })
        .await;
    let meshes: Vec<_> = handles.iter().map(|h| lock(h).mesh()).collect();
    assert!(formed, "meshes did not form: {meshes:?}");
    let others = |i: usize| -> Vec<Handle> {
        handles
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, h)| h.clone())
            .collect()
    };
    publish_and_wait(&mut net, &handles[0], &others(0), b"good before").await;

    // The bad node publishes invalid messages; each honest node rejects what it receives.
    for n in 0..8 {
        lock(&bad).publish(format!("bad {n}").as_bytes());
    }
    let graylist = p4_scoring().1.graylist_threshold;
    let punished = net
        .wait_for(TIMEOUT, |_| {
            handles.iter().all(|h| {
                let p = lock(h);
                !p.mesh().contains(&bad_id)
                    && p.behaviour().peer_score(&bad_id).expect("scoring on") < graylist
                    && p.log.below.contains(&(bad_id, ScoreThreshold::Graylist))
            })
        })
        .await;
    let state: Vec<_> = handles
        .iter()
        .map(|h| {
            let p = lock(h);
            (
                p.mesh().contains(&bad_id),
                p.behaviour().peer_score(&bad_id).expect("scoring on"),
                p.log.below.clone(),
                p.behaviour().counters().messages_rejected,
            )
        })
        .collect();
    assert!(
        punished,
        "the bad node was not pruned and graylisted everywhere \
         (in mesh, score, crossings, rejected): {state:?}"
    );
    for (h, (_, _, _, rejected)) in handles.iter().zip(&state) {
        assert!(
            *rejected >= 4,
            "{} rejected only {rejected} messages",
            id(h)
        );
    }

    // Its RPCs are now ignored unread.
    let graylisted_before: Vec<u64> = handles
        .iter()
        .map(|h| lock(h).behaviour().counters().rpcs_graylisted)
        .collect();
    for n in 0..3 {
        lock(&bad).publish(format!("bad late {n}").as_bytes());
    }
    let ignored = net
        .wait_for(TIMEOUT, |_| {
            handles
                .iter()
                .zip(&graylisted_before)
                .all(|(h, before)| lock(h).behaviour().counters().rpcs_graylisted > *before)
        })
        .await;
    let graylisted_after: Vec<u64> = handles
        .iter()
        .map(|h| lock(h).behaviour().counters().rpcs_graylisted)
        .collect();
    assert!(
        ignored,
        "rpcs_graylisted did not grow: before {graylisted_before:?}, after {graylisted_after:?}"
    );
    for h in &handles {
        assert_eq!(
            received(h, b"bad late 0"),
            0,
            "a graylisted RPC was delivered"
        );
    }

    // Honest traffic still flows, from every honest node to every other one.
    for (i, h) in handles.iter().enumerate() {
        let data = format!("good after {i}");
        publish_and_wait(&mut net, h, &others(i), data.as_bytes()).await;
    }
    net.run_for(SETTLE).await;

    // No honest node ever forwarded an invalid message: each got them from the bad node only.
    for h in &handles {
        let p = lock(h);
        let relayed: Vec<_> = p
            .log
            .messages
            .iter()
            .filter(|(from, data)| data.starts_with(b"bad") && *from != bad_id)
            .collect();
        assert!(relayed.is_empty(), "invalid messages relayed: {relayed:?}");
        assert!(
            !p.mesh().contains(&bad_id),
            "the bad node was grafted again"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// (e) Score breakdown.
// ---------------------------------------------------------------------------------------------

/// After a peer sent messages the application rejected, `peer_score_breakdown` shows the P4
/// term of the topic (counter, weight -100, contribution `weight * counter^2`, negative),
/// adds up to `peer_score`, and its `Display` names the topic and the P4 row.
#[tokio::test]
async fn score_breakdown_explains_invalid_message_penalty() {
    init_tracing();
    let (h, h_node) = shared(honest());
    let (bad, bad_node) = shared(Probe::new(fast_config().build().expect("config"), false));
    let bad_id = id(&bad);
    let mut net = Net::new(vec![h_node, bad_node]);
    net.nodes[0].subscribe(TOPIC);
    net.nodes[1].subscribe(TOPIC);
    net.connect(1, 0);
    assert!(
        net.wait_for(TIMEOUT, |_| lock(&bad).knows_subscriber(&id(&h)))
            .await,
        "the bad node never saw the honest node's subscription"
    );

    for n in 0..3 {
        lock(&bad).publish(format!("bad {n}").as_bytes());
    }
    let penalised = net
        .wait_for(TIMEOUT, |_| {
            lock(&h).behaviour().counters().messages_rejected >= 3
        })
        .await;
    assert!(
        penalised,
        "the three invalid messages were not all rejected"
    );

    let p = lock(&h);
    let breakdown = p
        .behaviour()
        .peer_score_breakdown(&bad_id)
        .expect("a breakdown for a connected peer");
    let score = p.behaviour().peer_score(&bad_id).expect("scoring on");
    let text = breakdown.to_string();
    let t = breakdown
        .topics
        .iter()
        .find(|t| t.topic == topic_hash())
        .unwrap_or_else(|| panic!("no entry for the topic:\n{text}"));
    let p4 = t.invalid_message_deliveries;
    assert!(p4.counter > 0.0, "P4 counter is zero:\n{text}");
    assert_eq!(p4.weight, -100.0, "{text}");
    assert!(p4.contribution < 0.0, "P4 contributes nothing:\n{text}");
    assert!(
        (p4.contribution - p4.weight * p4.counter * p4.counter).abs() < 1e-9,
        "P4 contribution is not weight * counter^2:\n{text}"
    );
    assert!(
        (breakdown.score - score).abs() < 1e-9,
        "breakdown {} != peer_score {score}:\n{text}",
        breakdown.score
    );
    assert!(breakdown.score < 0.0, "{text}");
    assert!(text.contains(TOPIC), "the topic is not named:\n{text}");
    assert!(text.contains("P4"), "no P4 row:\n{text}");
}

// ---------------------------------------------------------------------------------------------
// (d) Direct peers.
// ---------------------------------------------------------------------------------------------

/// The five nodes of the direct-peer tests: A and B are direct peers of each other (added with
/// their addresses), C, D, E ordinary nodes connected to A (and C-D, D-E); B is connected to
/// nothing but A. Nobody flood-publishes, so B can only get messages by A's direct
/// forwarding. B's own redial interval is huge, so reconnections come from A
/// (`direct_connect_ticks` 2 at a 100 ms heartbeat).
struct DirectNet {
    net: Net,
    a: Handle,
    b: Handle,
    c: Handle,
    d: Handle,
    e: Handle,
}

impl DirectNet {
    /// Builds the network; with `connect_a_b` the test also connects B to A itself.
    fn new(connect_a_b: bool) -> Self {
        let config = |ticks: u64| {
            fast_config()
                .flood_publish(false)
                .direct_connect_ticks(ticks)
                .build()
                .expect("config")
        };
        let (a, a_node) = shared(Probe::new(config(2), false));
        let (b, b_node) = shared(Probe::new(config(100_000), false));
        let (c, c_node) = shared(Probe::new(config(300), false));
        let (d, d_node) = shared(Probe::new(config(300), false));
        let (e, e_node) = shared(Probe::new(config(300), false));
        let mut net = Net::new(vec![a_node, b_node, c_node, d_node, e_node]);
        for i in 0..5 {
            net.nodes[i].subscribe(TOPIC);
        }
        for (x, y) in [(2, 0), (3, 0), (4, 0), (2, 3), (3, 4)] {
            net.connect(x, y);
        }
        let (a_id, b_id) = (id(&a), id(&b));
        let (a_addr, b_addr) = (lock(&a).addr.clone(), lock(&b).addr.clone());
        lock(&a).behaviour_mut().add_direct_peer(b_id, vec![b_addr]);
        lock(&b).behaviour_mut().add_direct_peer(a_id, vec![a_addr]);
        if connect_a_b {
            net.connect(1, 0);
        }
        DirectNet { net, a, b, c, d, e }
    }

    fn everyone_but(&self, skip: &Handle) -> Vec<Handle> {
        [&self.a, &self.b, &self.c, &self.d, &self.e]
            .into_iter()
            .filter(|h| !Arc::ptr_eq(h, skip))
            .cloned()
            .collect()
    }

    /// Waits until A and B know each other's subscription and A's mesh holds C, D and E.
    async fn wait_ready(&mut self) {
        let (a, b) = (&self.a, &self.b);
        let (a_id, b_id) = (id(a), id(b));
        let ordinary: Vec<PeerId> = [&self.c, &self.d, &self.e].iter().map(|h| id(h)).collect();
        let ready = self
            .net
            .wait_for(TIMEOUT, |_| {
                let a = lock(a);
                a.knows_subscriber(&b_id)
                    && lock(b).knows_subscriber(&a_id)
                    && ordinary.iter().all(|p| a.mesh().contains(p))
            })
            .await;
        let (a, b) = (lock(a), lock(b));
        assert!(
            ready,
            "A-B connected: {}, A knows B subscribed: {}, B knows A subscribed: {}, \
             A dialled {:?}, B dialled {:?}, A's mesh {:?}",
            a.swarm.is_connected(&b_id),
            a.knows_subscriber(&b_id),
            b.knows_subscriber(&a_id),
            a.log.dialing,
            b.log.dialing,
            a.mesh()
        );
    }

    /// B is not in A's mesh and A is not in B's.
    fn check_meshes(&self, when: &str) {
        let (a_id, b_id) = (id(&self.a), id(&self.b));
        assert!(
            !lock(&self.a).mesh().contains(&b_id),
            "B is in A's mesh ({when})"
        );
        assert!(
            !lock(&self.b).mesh().contains(&a_id),
            "A is in B's mesh ({when})"
        );
    }

    /// A, C and B each publish (tagged with `tag`); everything reaches everyone, and B gets
    /// what A published and what A relayed from C exactly once.
    async fn exchange(&mut self, tag: &str) {
        let from_a: Vec<Vec<u8>> = (0..3)
            .map(|n| format!("from A {tag} {n}").into_bytes())
            .collect();
        let from_c = format!("from C {tag}").into_bytes();
        let from_b = format!("from B {tag}").into_bytes();
        for data in &from_a {
            let to = self.everyone_but(&self.a);
            publish_and_wait(&mut self.net, &self.a, &to, data).await;
        }
        let to = self.everyone_but(&self.c);
        publish_and_wait(&mut self.net, &self.c, &to, &from_c).await;
        let to = self.everyone_but(&self.b);
        publish_and_wait(&mut self.net, &self.b, &to, &from_b).await;
        self.net.run_for(SETTLE).await;
        for data in from_a.iter().chain([&from_c]) {
            assert_eq!(
                received(&self.b, data),
                1,
                "B got {:?} a wrong number of times",
                String::from_utf8_lossy(data)
            );
        }
        self.check_meshes(tag);
    }
}

/// Direct peers exchange every message without being in each other's mesh: with A and B
/// direct peers of each other (and connected), every message A publishes, and every message A
/// relays from an ordinary node, reaches B (whose only link is A, with no flood publishing)
/// exactly once; B's messages reach everyone; B never enters A's mesh nor A B's.
#[tokio::test]
async fn direct_peers_get_every_message_outside_the_mesh() {
    init_tracing();
    let mut dn = DirectNet::new(true);
    dn.wait_ready().await;
    dn.check_meshes("after connecting");
    dn.exchange("first").await;
    dn.exchange("second").await;
}

/// A direct peer added with its addresses is dialled by us, and redialled by us after a
/// disconnect: A connects to B on its own (the test never connects them), messages flow;
/// after `disconnect_peer_id(B)` on A, A dials B again within a couple of seconds
/// (`direct_connect_ticks` 2 at a 100 ms heartbeat) and messages flow again.
#[tokio::test]
async fn direct_peer_is_dialled_and_redialled_by_us() {
    init_tracing();
    let mut dn = DirectNet::new(false);
    dn.wait_ready().await;
    let (a_id, b_id) = (id(&dn.a), id(&dn.b));
    let dialled_by_a = lock(&dn.a).log.dialed.iter().any(|(p, _)| *p == b_id);
    let dialled_by_b = lock(&dn.b).log.dialed.iter().any(|(p, _)| *p == a_id);
    assert!(dialled_by_a || dialled_by_b, "A and B connected unprompted");
    dn.exchange("before").await;

    // A drops B; A alone redials it.
    let dial_mark = lock(&dn.a).log.dialing.len();
    let count = |events: &[NodeEvent], connected: bool| {
        events
            .iter()
            .filter(|ev| match ev {
                NodeEvent::Connected { peer } => connected && *peer == b_id,
                NodeEvent::Disconnected { peer } => !connected && *peer == b_id,
                _ => false,
            })
            .count()
    };
    let conn_mark = count(&dn.net.events[0], true);
    let disc_mark = count(&dn.net.events[0], false);
    lock(&dn.a)
        .swarm
        .disconnect_peer_id(b_id)
        .expect("A is connected to B");
    let started = tokio::time::Instant::now();
    let reconnected = dn
        .net
        .run_until(TIMEOUT, |ev| {
            count(&ev[0], false) > disc_mark && count(&ev[0], true) > conn_mark
        })
        .await;
    let elapsed = started.elapsed();
    assert!(reconnected, "A did not reconnect to B");
    assert!(
        elapsed < Duration::from_secs(3),
        "reconnecting took {elapsed:?}"
    );
    assert!(
        lock(&dn.a).log.dialing[dial_mark..].contains(&b_id),
        "the new connection was not dialled by A"
    );
    dn.wait_ready().await;
    dn.exchange("after").await;
}
