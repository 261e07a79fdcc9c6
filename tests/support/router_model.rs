//! A model of a router's environment for fuzzing and property tests: a [`Scenario`] (a small
//! configuration) and a sequence of [`Op`]s over small pools of peers, topics, messages and
//! signed peer records, so that meshes, backoffs, caches and PX are actually reached.
//!
//! [`run`] feeds the operations to a [`Router`] and checks after every one of them:
//! - no panic;
//! - [`Router::__invariants`] reports no violation (consistent indexes; no direct,
//!   blacklisted or disconnected peer in a mesh; inbound mesh peers within D_hi; ...);
//! - no GRAFT to a direct peer or to a peer in backoff, nothing sent to a disconnected peer;
//! - after a heartbeat, each mesh within bounds given the peers available: below D_lo only when
//!   no candidate is left, below D_out outbound peers only when no outbound candidate is left,
//!   at most D_hi + D_out (+ opportunistic grafts), no negatively scored peer;
//! - every store within the bound its configuration and the inputs so far allow: topics per
//!   peer, message cache, seen cache, promises, backoff table, peer records, IDONTWANT ids,
//!   actions per input;
//! - with the `partial-messages` feature (meshsub 1.3 peers announcing the extension, partial
//!   subscriptions, partial messages, publishes of partial messages): peer-opened groups per
//!   topic and bytes of parts metadata per peer and in total within the limits the model sets.
//!
//! Used by `fuzz/fuzz_targets/router_ops.rs` (cargo-fuzz) and `tests/router_props.rs`
//! (proptest), which both include this file.
//!
//! Checks that today's code is known to fail (issue 7) are made only when `known` says so: a
//! direct peer in a fanout (B5), an outgoing RPC over the maximum size (A2). Without B5, the
//! model also avoids the input that makes today's code GRAFT a direct or backed-off peer
//! (B5: subscribing to a topic whose fanout holds one).

use std::collections::{HashSet, VecDeque};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use gossipsub::router::{Action, Router};
use gossipsub::{
    ConfigBuilder, ControlAction, MessageAcceptance, MessageAuthenticity, MessageId, PeerInfo,
    PeerKind, PeerScoreParams, PeerScoreThresholds, RawMessage, Rpc, Subscription, TopicHash,
    TopicScoreParams, ValidationMode,
};
use libp2p_core::{Multiaddr, PeerRecord};
use libp2p_identity::{Keypair, PeerId};

/// Peers the router may meet.
pub const PEERS: usize = 8;
/// Topics used (index `TOPICS` is an extra topic nobody subscribes to on purpose).
pub const TOPICS: usize = 4;
/// Distinct message payloads (the message id is the payload).
pub const MESSAGES: u8 = 16;

/// Signed peer records: one per pool peer, and some for peers outside the pool (PX targets).
const OUTSIDE_PEERS: usize = 4;

/// The configuration the router is built with.
#[derive(Arbitrary, Debug, Clone)]
pub struct Scenario {
    /// D (1..=6); D_lo and D_hi and D_out are derived from the next fields.
    pub d: u8,
    pub d_lo_minus: u8,
    pub d_hi_plus: u8,
    pub d_out: u8,
    pub mode: Mode,
    pub validate_messages: bool,
    pub flood_publish: bool,
    pub scoring: bool,
    pub do_px: bool,
    /// Peer index of a direct peer, if any (taken modulo `PEERS`).
    pub direct: Option<u8>,
    pub max_topics_per_peer: u8,
    /// A small maximum RPC size (512 bytes), so that merged control and PX outgrow it.
    pub small_max_size: bool,
    pub seed: u64,
}

/// Validation mode and matching authenticity.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Mode {
    Strict,
    Permissive,
    Anonymous,
    None,
}

/// One input to the router.
#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    AddPeer {
        peer: u8,
        outbound: bool,
        kind: Kind,
    },
    SetKind {
        peer: u8,
        kind: Kind,
    },
    RemovePeer {
        peer: u8,
    },
    Rpc {
        from: u8,
        rpc: ModelRpc,
    },
    Subscribe {
        topic: u8,
    },
    Unsubscribe {
        topic: u8,
    },
    Publish {
        topic: u8,
        data: u8,
    },
    Validate {
        data: u8,
        from: u8,
        verdict: u8,
    },
    /// Moves time forward by `millis` × 10 ms (0..655 s) and calls `handle_timeout`.
    Tick {
        millis: u16,
    },
    AddDirect {
        peer: u8,
    },
    RemoveDirect {
        peer: u8,
    },
    Blacklist {
        peer: u8,
    },
    Unblacklist {
        peer: u8,
    },
    AppScore {
        peer: u8,
        score: i8,
    },
    /// Subscribes with partial messages enabled (feature `partial-messages`; else nothing).
    SubscribePartial {
        topic: u8,
        requests: bool,
    },
    /// Publishes a partial message of group `group` holding the parts set in `held`.
    PublishPartial {
        topic: u8,
        group: u8,
        held: u8,
    },
}

/// The protocol a peer negotiates.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Kind {
    Floodsub,
    V1_0,
    V1_1,
    V1_2,
    NotSupported,
    V1_3,
}

/// An RPC from a peer, built from the pools.
#[derive(Arbitrary, Debug, Clone, Default)]
pub struct ModelRpc {
    pub subscriptions: Vec<(bool, u8)>,
    pub messages: Vec<ModelMessage>,
    pub control: Vec<ModelControl>,
    /// The Partial Messages options of every subscription: bit 0 requests, bit 1 supports.
    pub partial_options: u8,
    /// An Extensions control message announcing partial messages.
    pub extensions: bool,
    pub partial: Option<ModelPartial>,
}

/// A partial message: topic and group from small pools, parts of `parts` bytes, metadata of
/// `metadata` (at most 1 KiB, as the decoder lets through).
#[derive(Arbitrary, Debug, Clone)]
pub struct ModelPartial {
    pub topic: u8,
    pub group: u8,
    pub parts: Option<u8>,
    pub metadata: Option<(u8, u16)>,
}

/// A message from the pools: author, topic, payload (= id) and what signature it carries.
#[derive(Arbitrary, Debug, Clone)]
pub struct ModelMessage {
    pub author: u8,
    pub seqno: u8,
    pub topic: u8,
    pub data: u8,
    pub signature: Sig,
}

/// The authenticity fields of a [`ModelMessage`].
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Sig {
    /// Signed by its author.
    Valid,
    /// Author and seqno, no signature.
    Unsigned,
    /// Author and seqno, a garbage signature.
    Invalid,
    /// No author, no seqno, no signature.
    Anonymous,
}

/// A control message from the pools.
#[derive(Arbitrary, Debug, Clone)]
pub enum ModelControl {
    IHave {
        topic: u8,
        ids: Vec<u8>,
    },
    IWant {
        ids: Vec<u8>,
    },
    Graft {
        topic: u8,
    },
    Prune {
        topic: u8,
        peers: Vec<(u8, u8)>,
        backoff: Option<u16>,
    },
    IDontWant {
        ids: Vec<u8>,
    },
}

/// The fixed pools: keys of the peers and signed records.
struct Pools {
    keys: Vec<Keypair>,
    peers: Vec<PeerId>,
    /// `records[i]` describes `record_peers[i]`.
    record_peers: Vec<PeerId>,
    records: Vec<Bytes>,
}

fn pools() -> &'static Pools {
    static POOLS: OnceLock<Pools> = OnceLock::new();
    POOLS.get_or_init(|| {
        let keys: Vec<Keypair> = (0..PEERS + OUTSIDE_PEERS + 1)
            .map(|i| {
                let mut seed = [0u8; 32];
                seed[0] = i as u8 + 1;
                Keypair::ed25519_from_bytes(&mut seed).expect("32 bytes are an ed25519 secret")
            })
            .collect();
        let peers = keys.iter().map(|k| k.public().to_peer_id()).collect();
        let mut record_peers = Vec::new();
        let mut records = Vec::new();
        for key in keys.iter().take(PEERS + OUTSIDE_PEERS) {
            let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().expect("a valid address");
            let record = PeerRecord::new_interop(key, vec![addr]).expect("signing works");
            record_peers.push(key.public().to_peer_id());
            records.push(Bytes::from(
                record.to_signed_envelope().into_protobuf_encoding(),
            ));
        }
        Pools {
            keys,
            peers,
            record_peers,
            records,
        }
    })
}

fn peer(i: u8) -> PeerId {
    pools().peers[usize::from(i) % PEERS]
}

fn topic(i: u8) -> TopicHash {
    TopicHash::from_raw(format!("t{}", usize::from(i) % (TOPICS + 1)))
}

fn message_id(data: u8) -> MessageId {
    MessageId::new(vec![data % MESSAGES])
}

fn kind(k: Kind) -> PeerKind {
    match k {
        Kind::Floodsub => PeerKind::Floodsub,
        Kind::V1_0 => PeerKind::Gossipsub,
        Kind::V1_1 => PeerKind::Gossipsubv1_1,
        Kind::V1_2 => PeerKind::Gossipsubv1_2,
        Kind::NotSupported => PeerKind::NotSupported,
        Kind::V1_3 => PeerKind::Gossipsubv1_3,
    }
}

/// Partial-message groups: a small pool, so groups are shared and their bounds are reached.
const GROUPS: u8 = 12;

/// The limits on partial messages the model sets: small, so they bind.
#[cfg(feature = "partial-messages")]
fn partial_limits() -> gossipsub::partial::PartialLimits {
    gossipsub::partial::PartialLimits {
        groups_per_topic: 6,
        groups_per_peer: 2,
        group_ttl_heartbeats: 3,
        metadata_bytes_per_peer: 2 * (1024 + gossipsub::partial::GROUP_PEER_CHARGE),
        metadata_bytes_total: 5 * (1024 + gossipsub::partial::GROUP_PEER_CHARGE),
        partials_per_peer_per_heartbeat: 6,
    }
}

/// A message of eight parts for the model: metadata is one byte, bit `i` set when part `i` is
/// held (other lengths are invalid); parts travel as their indexes.
#[cfg(feature = "partial-messages")]
struct ModelParts {
    group: u8,
    held: u8,
}

#[cfg(feature = "partial-messages")]
impl gossipsub::partial::Partial for ModelParts {
    fn group_id(&self) -> Bytes {
        Bytes::from(vec![self.group % GROUPS])
    }

    fn parts_metadata(&self) -> Bytes {
        Bytes::from(vec![self.held])
    }

    fn parts_for_peer(
        &self,
        _peer: &PeerId,
        peer_metadata: Option<&[u8]>,
    ) -> Result<gossipsub::partial::PartsForPeer, gossipsub::partial::PartialError> {
        let has = match peer_metadata {
            None => 0,
            Some([b]) => *b,
            Some(_) => return Err(gossipsub::partial::PartialError::InvalidMetadata),
        };
        let missing = self.held & !has;
        let parts: Vec<u8> = (0..8).filter(|i| missing & (1 << i) != 0).collect();
        Ok(gossipsub::partial::PartsForPeer {
            parts: (!parts.is_empty()).then(|| Bytes::from(parts)),
            peer_metadata: Some(Bytes::from(vec![has | self.held])),
        })
    }

    fn merge_metadata(
        &self,
        known: &[u8],
        update: &[u8],
    ) -> Result<Bytes, gossipsub::partial::PartialError> {
        match (known, update) {
            ([a], [b]) => Ok(Bytes::from(vec![a | b])),
            _ => Err(gossipsub::partial::PartialError::InvalidMetadata),
        }
    }
}

/// Builds the router of a scenario; `None` when the scenario is not a valid configuration.
fn build(s: &Scenario, now: Instant) -> Option<Router> {
    let d = usize::from(s.d % 6) + 1;
    let d_lo = d.saturating_sub(usize::from(s.d_lo_minus % 3)).max(1);
    let d_hi = d + usize::from(s.d_hi_plus % 4);
    let d_out = usize::from(s.d_out) % d_lo.min(d / 2 + 1);
    let local = pools().keys[PEERS + OUTSIDE_PEERS].clone();
    let (mode, authenticity) = match s.mode {
        Mode::Strict => (ValidationMode::Strict, MessageAuthenticity::Signed(local)),
        Mode::Permissive => (
            ValidationMode::Permissive,
            MessageAuthenticity::Author(local.public().to_peer_id()),
        ),
        Mode::Anonymous => (ValidationMode::Anonymous, MessageAuthenticity::Anonymous),
        Mode::None => (ValidationMode::None, MessageAuthenticity::RandomAuthor),
    };
    let mut b = ConfigBuilder::default();
    b.mesh_n(d)
        .mesh_n_low(d_lo)
        .mesh_n_high(d_hi)
        .mesh_outbound_min(d_out)
        .retain_scores(d.min(2))
        .gossip_lazy(2)
        .heartbeat_interval(Duration::from_secs(1))
        .heartbeat_initial_delay(Duration::from_millis(100))
        .history_length(4)
        .history_gossip(2)
        .seen_ttl(Duration::from_secs(20))
        .fanout_ttl(Duration::from_secs(15))
        .prune_backoff(Duration::from_secs(5))
        .unsubscribe_backoff(Duration::from_secs(2))
        .iwant_followup_time(Duration::from_secs(2))
        .max_ihave_length(6)
        .max_ihave_messages(3)
        .max_idontwant_messages(8)
        .validation_mode(mode)
        .validate_messages(s.validate_messages)
        .flood_publish(s.flood_publish)
        .do_px(s.do_px)
        .prune_peers(4)
        .max_px_dials(3)
        .opportunistic_graft_ticks(3)
        .direct_connect_ticks(5)
        .max_topics_per_peer(usize::from(s.max_topics_per_peer % 4) + 1)
        .message_id_fn(|m| MessageId::new(m.data.clone()));
    if s.small_max_size {
        b.max_transmit_size(512);
    }
    if let Some(direct) = s.direct {
        b.add_direct_peer(peer(direct));
    }
    let config = b.build().ok()?;
    let mut router = Router::new(config, authenticity, s.seed, 1, now).ok()?;
    if s.scoring {
        let mut params = PeerScoreParams::default();
        params.topics.insert(topic(0), TopicScoreParams::default());
        router
            .with_peer_score(params, PeerScoreThresholds::default())
            .ok()?;
    }
    Some(router)
}

fn model_message(m: &ModelMessage) -> RawMessage {
    let author = usize::from(m.author) % PEERS;
    let key = &pools().keys[author];
    let mut message = RawMessage {
        source: Some(pools().peers[author]),
        data: Bytes::from(vec![m.data % MESSAGES]),
        data_absent: false,
        sequence_number: Some(u64::from(m.seqno)),
        topic: topic(m.topic),
        signature: None,
        key: None,
    };
    match m.signature {
        Sig::Valid => {
            let (signature, key) =
                gossipsub::__fuzz::sign(key, &message).expect("signing with a local key");
            message.signature = Some(signature);
            message.key = key;
        }
        Sig::Unsigned => {}
        Sig::Invalid => message.signature = Some(Bytes::from_static(&[7; 64])),
        Sig::Anonymous => {
            message.source = None;
            message.sequence_number = None;
        }
    }
    message
}

fn ids(ids: &[u8]) -> Vec<MessageId> {
    ids.iter().map(|i| message_id(*i)).collect()
}

fn model_rpc(r: &ModelRpc) -> Rpc {
    let options = gossipsub::SubscriptionOptions {
        requests_partial: r.partial_options & 1 != 0,
        supports_partial: r.partial_options & 2 != 0,
    }
    .normalised(true);
    let subscriptions = r
        .subscriptions
        .iter()
        .map(|(subscribe, t)| Subscription {
            options: options.normalised(*subscribe),
            subscribe: *subscribe,
            topic: topic(*t),
        })
        .collect();
    let messages = r.messages.iter().map(model_message).collect();
    let control = r
        .control
        .iter()
        .map(|c| match c {
            ModelControl::IHave { topic: t, ids: i } => ControlAction::IHave {
                topic: topic(*t),
                message_ids: ids(i),
            },
            ModelControl::IWant { ids: i } => ControlAction::IWant {
                message_ids: ids(i),
            },
            ModelControl::Graft { topic: t } => ControlAction::Graft { topic: topic(*t) },
            ModelControl::Prune {
                topic: t,
                peers,
                backoff,
            } => ControlAction::Prune {
                topic: topic(*t),
                peers: peers
                    .iter()
                    .map(|(p, r)| {
                        let pools = pools();
                        let all = pools.record_peers.len();
                        // The peer: any record peer (pool or outside); the record: its own,
                        // another one (wrong signer), garbage, or none.
                        let peer_id = pools.record_peers[usize::from(*p) % all];
                        let record = match r % 4 {
                            0 => Some(pools.records[usize::from(*p) % all].clone()),
                            1 => Some(pools.records[usize::from(*r) % all].clone()),
                            2 => Some(Bytes::from_static(b"not an envelope")),
                            _ => None,
                        };
                        PeerInfo {
                            peer_id: Some(peer_id),
                            signed_peer_record: record,
                        }
                    })
                    .collect(),
                backoff: backoff.map(u64::from),
            },
            ModelControl::IDontWant { ids: i } => ControlAction::IDontWant {
                message_ids: ids(i),
            },
        })
        .collect();
    Rpc {
        subscriptions,
        messages,
        control,
        extensions: r.extensions.then_some(gossipsub::Extensions {
            partial_messages: true,
            test_extension: false,
        }),
        partial: r.partial.as_ref().map(|p| {
            Box::new(gossipsub::PartialMessage {
                topic: topic(p.topic),
                group_id: Bytes::from(vec![p.group % GROUPS]),
                message: p.parts.map(|n| Bytes::from(vec![7; usize::from(n)])),
                metadata: p
                    .metadata
                    .map(|(b, n)| Bytes::from(vec![b; usize::from(n) % 1025])),
            })
        }),
        ..Rpc::default()
    }
}

/// Builds a scenario and as many operations as `bytes` hold (an operation cut short by the end
/// of the input is left out, rather than the whole input refused).
pub fn decode(bytes: &[u8]) -> Option<(Scenario, Vec<Op>)> {
    let mut u = arbitrary::Unstructured::new(bytes);
    let scenario = Scenario::arbitrary(&mut u).ok()?;
    let mut ops = Vec::new();
    while !u.is_empty() {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    Some((scenario, ops))
}

/// Input counts over time, to bound the caches.
#[derive(Default)]
struct History {
    /// (instant, heartbeat tick, messages handed to the router).
    messages: VecDeque<(Instant, u64, usize)>,
    /// (instant, IWANT ids we sent).
    iwants: VecDeque<(Instant, usize)>,
    last_heartbeat: Option<Instant>,
}

impl History {
    fn messages_since_tick(&self, tick: u64) -> usize {
        self.messages
            .iter()
            .filter(|(_, t, _)| *t >= tick)
            .map(|(_, _, n)| n)
            .sum()
    }

    fn messages_since(&self, at: Instant) -> usize {
        self.messages
            .iter()
            .filter(|(i, _, _)| *i >= at)
            .map(|(_, _, n)| n)
            .sum()
    }

    fn iwants_since(&self, at: Instant) -> usize {
        self.iwants
            .iter()
            .filter(|(i, _)| *i >= at)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Whether the fanout of `t` holds a peer we may not GRAFT (direct, in backoff, negative score).
fn fanout_has_ungraftable_peer(router: &Router, now: Instant, t: &TopicHash) -> bool {
    let backoffs = router.__invariants(now).active_backoffs;
    let direct: HashSet<&PeerId> = router.direct_peers().collect();
    router.fanout_peers(t).any(|p| {
        direct.contains(p)
            || backoffs.contains(&(t.clone(), *p))
            || router.peer_score(p).is_some_and(|s| s < 0.0)
    })
}

/// The largest state a run reached, to show that the model gets somewhere.
#[derive(Debug, Default, Clone)]
pub struct Reached {
    pub valid_scenario: bool,
    pub max_mesh: usize,
    pub max_backoffs: usize,
    pub max_mcache: usize,
    pub max_seen: usize,
    pub max_promises: usize,
    pub max_peer_records: usize,
    pub grafts_sent: usize,
    pub heartbeats: u64,
    /// The most peer-opened partial-message groups on one topic.
    pub max_partial_groups: usize,
    /// The most bytes of parts metadata held from all peers.
    pub max_partial_metadata: usize,
}

/// Runs `ops` under `scenario`, panicking with a description at the first broken invariant.
/// `known(item)`: whether to check what issue 7 item `item` ("A2", "B5") says today's code
/// gets wrong (or a known fuzz finding, named the same way).
pub fn run(scenario: &Scenario, ops: &[Op], known: &dyn Fn(&str) -> bool) -> Reached {
    let start = Instant::now();
    let mut now = start;
    let mut reached = Reached::default();
    let Some(mut router) = build(scenario, now) else {
        return reached;
    };
    reached.valid_scenario = true;
    #[cfg(feature = "partial-messages")]
    router
        .set_partial_limits(partial_limits())
        .expect("valid partial limits");
    let mut history = History::default();
    let mut connected: HashSet<PeerId> = HashSet::new();
    for (step, op) in ops.iter().enumerate() {
        let ticks_before = router.heartbeat_ticks();
        // How much input this step carries, for the bound on its output.
        let mut input_items = 1;
        let mut messages_in = 0;
        match op {
            Op::AddPeer {
                peer: p,
                outbound,
                kind: k,
            } => {
                router.add_peer(now, peer(*p), *outbound);
                router.set_peer_kind(peer(*p), kind(*k));
                connected.insert(peer(*p));
            }
            Op::SetKind { peer: p, kind: k } => router.set_peer_kind(peer(*p), kind(*k)),
            Op::RemovePeer { peer: p } => {
                router.remove_peer(&peer(*p));
                connected.remove(&peer(*p));
            }
            Op::Rpc { from, rpc } => {
                let rpc = model_rpc(rpc);
                messages_in = rpc.messages.len();
                input_items += rpc.subscriptions.len() + rpc.messages.len();
                for c in &rpc.control {
                    input_items += 1 + match c {
                        ControlAction::IHave { message_ids, .. }
                        | ControlAction::IWant { message_ids }
                        | ControlAction::IDontWant { message_ids } => message_ids.len(),
                        ControlAction::Prune { peers, .. } => peers.len(),
                        ControlAction::Graft { .. } => 0,
                    };
                }
                router.handle_rpc(now, peer(*from), rpc);
            }
            Op::Subscribe { topic: t } => {
                // Issue 7 B5: `join` takes fanout peers unfiltered, so subscribing to a topic
                // whose fanout holds a direct, backed-off or negatively scored peer GRAFTs it.
                if known("B5") || !fanout_has_ungraftable_peer(&router, now, &topic(*t)) {
                    let _ = router.subscribe(now, topic(*t));
                }
            }
            Op::Unsubscribe { topic: t } => {
                router.unsubscribe(now, &topic(*t));
            }
            Op::Publish { topic: t, data } => {
                messages_in = 1;
                let _ = router.publish(now, topic(*t), vec![data % MESSAGES]);
            }
            Op::Validate {
                data,
                from,
                verdict,
            } => {
                let acceptance = match verdict % 3 {
                    0 => MessageAcceptance::Accept,
                    1 => MessageAcceptance::Reject,
                    _ => MessageAcceptance::Ignore,
                };
                router.report_validation(now, &message_id(*data), &peer(*from), acceptance);
            }
            Op::Tick { millis } => {
                now += Duration::from_millis(u64::from(*millis) * 10);
                router.handle_timeout(now);
            }
            Op::AddDirect { peer: p } => router.add_direct_peer(peer(*p)),
            Op::RemoveDirect { peer: p } => router.remove_direct_peer(&peer(*p)),
            Op::Blacklist { peer: p } => router.blacklist_peer(peer(*p)),
            Op::Unblacklist { peer: p } => router.remove_blacklisted_peer(&peer(*p)),
            Op::AppScore { peer: p, score } => {
                router.set_application_score(&peer(*p), f64::from(*score));
            }
            #[cfg(feature = "partial-messages")]
            Op::SubscribePartial { topic: t, requests } => {
                if known("B5") || !fanout_has_ungraftable_peer(&router, now, &topic(*t)) {
                    let _ = router.subscribe_partial(now, topic(*t), *requests);
                }
            }
            #[cfg(feature = "partial-messages")]
            Op::PublishPartial {
                topic: t,
                group,
                held,
            } => {
                let _ = router.publish_partial(
                    now,
                    topic(*t),
                    ModelParts {
                        group: *group,
                        held: *held,
                    },
                );
            }
            #[cfg(not(feature = "partial-messages"))]
            Op::SubscribePartial { .. } | Op::PublishPartial { .. } => {}
        }
        let heartbeat = router.heartbeat_ticks() != ticks_before;
        if heartbeat {
            history.last_heartbeat = Some(now);
        }
        history
            .messages
            .push_back((now, router.heartbeat_ticks(), messages_in));

        // Outputs.
        let direct: HashSet<PeerId> = router.direct_peers().copied().collect();
        let mut grafts = Vec::new();
        let mut actions = 0;
        let mut iwant_ids = 0;
        while let Some(action) = router.poll_action() {
            actions += 1;
            let Action::Send { peer, rpc, .. } = action else {
                continue;
            };
            let ctx = || format!("step {step} ({op:?}): send to {peer}");
            assert!(connected.contains(&peer), "{}: not connected", ctx());
            assert!(!rpc.is_empty(), "{}: empty RPC", ctx());
            if known("A2") {
                let size = gossipsub::__fuzz::encoded_len(&rpc);
                let max = router.config().max_transmit_size();
                assert!(
                    size <= max,
                    "{}: RPC of {size} bytes over {max} (A2)",
                    ctx()
                );
            }
            for c in &rpc.control {
                match c {
                    ControlAction::Graft { topic } => {
                        assert!(!direct.contains(&peer), "{}: GRAFT to a direct peer", ctx());
                        grafts.push((topic.clone(), peer));
                    }
                    ControlAction::IWant { message_ids } => iwant_ids += message_ids.len(),
                    _ => {}
                }
            }
        }
        history.iwants.push_back((now, iwant_ids));

        let report = router.__invariants(now);
        let ctx = format!("step {step} ({op:?})");
        assert!(
            report.violations.is_empty(),
            "{ctx}: {:#?}",
            report.violations
        );
        for graft in &grafts {
            assert!(
                !report.active_backoffs.contains(graft),
                "{ctx}: GRAFT to {} for {} in backoff",
                graft.1,
                graft.0
            );
        }
        reached.grafts_sent += grafts.len();
        reached.heartbeats = router.heartbeat_ticks();
        reached.max_backoffs = reached.max_backoffs.max(report.active_backoffs.len());
        reached.max_mcache = reached.max_mcache.max(report.mcache_len);
        reached.max_seen = reached.max_seen.max(report.seen_len);
        reached.max_promises = reached.max_promises.max(report.promises_len);
        reached.max_peer_records = reached.max_peer_records.max(report.peer_records);
        for mesh in &report.meshes {
            reached.max_mesh = reached.max_mesh.max(mesh.size);
        }
        assert_eq!(report.queued_actions, 0, "{ctx}");
        assert_eq!(report.pending_control, 0, "{ctx}: control left unsent");

        // Store bounds.
        let config = router.config();
        let peers_now = report.peers;
        assert!(peers_now <= PEERS, "{ctx}: {peers_now} peers");
        assert!(
            report.max_topics_per_peer <= config.max_topics_per_peer(),
            "{ctx}: topics per peer"
        );
        let all_topics = TOPICS + 1;
        assert!(
            report.backoff_entries <= all_topics * PEERS,
            "{ctx}: {} backoff entries",
            report.backoff_entries
        );
        let longest = Duration::from_secs(3600)
            .max(config.prune_backoff())
            .max(config.unsubscribe_backoff())
            + config.heartbeat_interval() * (config.backoff_slack() + 1);
        assert!(
            report.longest_backoff <= longest,
            "{ctx}: backoff of {:?}",
            report.longest_backoff
        );
        let ticks = router.heartbeat_ticks();
        let window = ticks.saturating_sub(config.history_length() as u64);
        assert!(
            report.mcache_len <= history.messages_since_tick(window),
            "{ctx}: message cache of {} entries, more than the {} messages of its window",
            report.mcache_len,
            history.messages_since_tick(window)
        );
        let last_expiry = history.last_heartbeat.unwrap_or(start);
        let seen_from = last_expiry.checked_sub(config.seen_ttl()).unwrap_or(start);
        assert!(
            report.seen_len <= history.messages_since(seen_from),
            "{ctx}: seen cache of {} ids, more than the {} messages within seen_ttl",
            report.seen_len,
            history.messages_since(seen_from)
        );
        let promise_from = last_expiry
            .checked_sub(config.iwant_followup_time() + config.heartbeat_interval())
            .unwrap_or(start);
        assert!(
            report.promises_len <= history.iwants_since(promise_from),
            "{ctx}: {} promises, more than the IWANT ids sent within the follow-up time",
            report.promises_len
        );
        assert!(
            report.peer_records <= pools().records.len(),
            "{ctx}: {} peer records",
            report.peer_records
        );
        // A stored record counts its envelope and its (one, short) address.
        let record_max = pools().records.iter().map(|r| r.len()).max().unwrap_or(0) + 64;
        assert!(
            report.peer_record_bytes <= report.peer_records * record_max,
            "{ctx}: {} bytes of peer records",
            report.peer_record_bytes
        );
        // Pool ids are 1 byte, pool topics 2 bytes.
        assert!(
            report.max_dont_send_bytes_per_peer <= report.max_dont_send_per_peer
                && report.max_topic_bytes_per_peer <= 2 * config.max_topics_per_peer(),
            "{ctx}: per-peer bytes {report:?}"
        );
        assert!(
            report.max_dont_send_per_peer
                <= config.max_idontwant_messages() * (config.history_length() + 1),
            "{ctx}: {} IDONTWANT ids kept for one peer",
            report.max_dont_send_per_peer
        );
        #[cfg(feature = "partial-messages")]
        {
            let limits = partial_limits();
            for t in 0..=TOPICS as u8 {
                let opened = router.partial_groups(&topic(t)).1;
                assert!(
                    opened <= limits.groups_per_topic,
                    "{ctx}: {opened} peer-opened groups on {}",
                    topic(t)
                );
                reached.max_partial_groups = reached.max_partial_groups.max(opened);
            }
            for p in 0..PEERS as u8 {
                let held = router.partial_metadata_bytes(Some(&peer(p)));
                assert!(
                    held <= limits.metadata_bytes_per_peer,
                    "{ctx}: {held} bytes of parts metadata held from {}",
                    peer(p)
                );
            }
            let held = router.partial_metadata_bytes(None);
            assert!(
                held <= limits.metadata_bytes_total,
                "{ctx}: {held} bytes of parts metadata held"
            );
            reached.max_partial_metadata = reached.max_partial_metadata.max(held);
        }
        let topics_known = all_topics + 1;
        let bound = (input_items + topics_known) * (PEERS + 2) * 4 + 16;
        assert!(actions <= bound, "{ctx}: {actions} actions, bound {bound}");
        // A peer made direct leaves the fanouts at the next heartbeat (`join` filters it out
        // meanwhile).
        if known("B5") && heartbeat {
            assert_eq!(
                report.fanout_direct_peers, 0,
                "{ctx}: direct peer in a fanout (B5)"
            );
        }

        // Meshes after a heartbeat.
        if heartbeat {
            let d_lo = config.mesh_n_low();
            let d_out = config.mesh_outbound_min();
            let extra = if scenario.scoring {
                config.opportunistic_graft_peers()
            } else {
                0
            };
            for mesh in &report.meshes {
                let t = &mesh.topic;
                assert!(
                    mesh.size <= config.mesh_n_high() + d_out + extra,
                    "{ctx}: mesh of {t} has {} peers after a heartbeat",
                    mesh.size
                );
                assert!(
                    mesh.size >= d_lo || mesh.graft_candidates == 0,
                    "{ctx}: mesh of {t} left at {} < D_lo with {} candidates",
                    mesh.size,
                    mesh.graft_candidates
                );
                assert!(
                    mesh.size < d_lo || mesh.outbound >= d_out || mesh.outbound_candidates == 0,
                    "{ctx}: mesh of {t} has {} outbound < D_out with {} outbound candidates",
                    mesh.outbound,
                    mesh.outbound_candidates
                );
                // Fuzz finding S1 (fuzz/findings/router_ops-s1-*, fixed): a peer trimmed from
                // one mesh loses score at once (P3b), possibly below zero after another of its
                // topics was maintained; the heartbeat ends with a pass that prunes it there.
                for p in router.mesh_peers(t) {
                    let score = router.peer_score(p).unwrap_or(0.0);
                    assert!(score >= 0.0, "{ctx}: {p} with score {score} in mesh of {t}");
                }
            }
        }
        // Keep the history short: older entries no longer matter for any bound.
        let horizon = now.checked_sub(Duration::from_secs(60)).unwrap_or(start);
        while history
            .messages
            .front()
            .is_some_and(|(i, t, _)| *i < horizon && *t + (config.history_length() as u64) < ticks)
        {
            history.messages.pop_front();
        }
        while history.iwants.front().is_some_and(|(i, _)| *i < horizon) {
            history.iwants.pop_front();
        }
    }
    reached
}
