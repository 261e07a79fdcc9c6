//! Hostile-peer review (what a remote peer controls, outside partial messages): regression
//! tests for inputs that cost us CPU or memory past a bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use libp2p_core::signed_envelope::SignedEnvelope;
use libp2p_identity::Keypair;

use super::*;
use crate::transform::{DataTransform, TransformError};
use crate::types::PeerInfo;

/// The identity transform, counting inbound calls (each stands for a snappy decompression and
/// the id hash over its output in the Ethereum setup).
#[derive(Clone, Default)]
struct CountingIdentity(Arc<AtomicUsize>);

impl CountingIdentity {
    fn calls(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl DataTransform for CountingIdentity {
    fn inbound_transform(&self, _t: &TopicHash, data: Bytes) -> Result<Bytes, TransformError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(data)
    }

    fn outbound_transform(&self, _t: &TopicHash, data: Bytes) -> Result<Bytes, TransformError> {
        Ok(data)
    }
}

fn budgeted(bytes: usize) -> (Harness, TopicHash, PeerId, CountingIdentity) {
    let mut b = config();
    b.max_message_bytes_per_peer_per_heartbeat(bytes);
    let (mut h, topic, p) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    let t = CountingIdentity::default();
    h.router.set_data_transform(t.clone());
    h.drain();
    (h, topic, p, t)
}

/// New messages over the sender's byte budget are dropped before the inbound transform and the
/// message-id function run: before, every message of an RPC was transformed (decompressed)
/// and hashed first and only then checked against the budget.
#[test]
fn messages_over_the_peer_budget_are_not_transformed() {
    let (mut h, topic, p, t) = budgeted(1000);
    let author = PeerId::random();
    let flood: Vec<RawMessage> = (1..=20).map(|s| message(author, s, &topic, 600)).collect();
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            messages: flood,
            ..Rpc::default()
        },
    );
    assert_eq!(delivered(&h.drain()).len(), 1);
    assert_eq!(t.calls(), 1);
    assert_eq!(h.router.counters().messages_over_peer_budget, 19);
}

/// A message we have seen but no longer cache (the cache lives `history_length` heartbeats,
/// the seen cache `seen_ttl`) must be transformed again to find its id. Replays of such
/// messages are charged to the sender's budget: before, they cost a transform each without
/// any bound (a duplicate was never charged).
#[test]
fn replays_of_uncached_messages_are_charged_to_the_peer_budget() {
    let (mut h, topic, p, t) = budgeted(1000);
    let old = message(PeerId::random(), 1, &topic, 600);
    h.router.handle_rpc(h.now, p, msg_rpc(old.clone()));
    assert_eq!(delivered(&h.drain()).len(), 1);
    for _ in 0..=h.router.config().history_length() {
        h.heartbeat();
    }
    assert_eq!(h.router.cache_sizes().0, 0, "the message left the cache");
    let before = t.calls();
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            messages: vec![old; 20],
            ..Rpc::default()
        },
    );
    assert!(delivered(&h.drain()).is_empty());
    assert_eq!(t.calls() - before, 1);
    assert_eq!(h.router.counters().messages_over_peer_budget, 19);
}

/// Messages without data are not free: each is charged its encoded size plus what a message
/// costs us to track. Before, only data bytes were charged, so one peer could send any number
/// of empty messages per heartbeat (each a seen entry, a cache entry, a delivery record, an
/// event and D forwards).
#[test]
fn empty_messages_are_charged_to_the_peer_budget() {
    let (mut h, topic, p, _) = budgeted(4096);
    let author = PeerId::random();
    let flood: Vec<RawMessage> = (1..=200).map(|s| message(author, s, &topic, 0)).collect();
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            messages: flood,
            ..Rpc::default()
        },
    );
    let taken = delivered(&h.drain()).len();
    assert!((1..=8).contains(&taken), "{taken} empty messages taken");
    assert_eq!(
        h.router.counters().messages_over_peer_budget,
        200 - taken as u64
    );
}

/// A signed peer record (standard libp2p-peer-record envelope) with an explicit `seq`.
fn record_with_seq(key: &Keypair, seq: u64, addr: &libp2p_core::Multiaddr) -> Bytes {
    fn field(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
        out.push(tag);
        let mut len = body.len();
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(body);
    }
    let mut payload = Vec::new();
    field(&mut payload, 0x0a, &key.public().to_peer_id().to_bytes());
    payload.push(0x10);
    let mut s = seq;
    while s >= 0x80 {
        payload.push((s as u8) | 0x80);
        s >>= 7;
    }
    payload.push(s as u8);
    let mut address = Vec::new();
    field(&mut address, 0x0a, &addr.to_vec());
    field(&mut payload, 0x1a, &address);
    let envelope = SignedEnvelope::new(
        key,
        "libp2p-peer-record".to_owned(),
        vec![0x03, 0x01],
        payload,
    )
    .unwrap();
    Bytes::from(envelope.into_protobuf_encoding())
}

/// A replayed older record of a peer does not replace the newer one we hold (go's peerstore
/// keeps the highest `seq` as well): before, any validly signed record of the peer, however
/// old, overwrote it, so a hostile peer could make us offer and dial addresses the peer had
/// since given up.
#[test]
fn an_older_peer_record_does_not_replace_a_newer_one() {
    let (mut h, topic, p) = Harness::subscribed_with_peer(config().build().unwrap(), false);
    let key = Keypair::generate_ed25519();
    let x = key.public().to_peer_id();
    let new_addr: libp2p_core::Multiaddr = "/ip4/127.0.0.1/tcp/2002".parse().unwrap();
    let old_addr: libp2p_core::Multiaddr = "/ip4/127.0.0.1/tcp/1001".parse().unwrap();
    let newer = record_with_seq(&key, 20, &new_addr);
    let older = record_with_seq(&key, 10, &old_addr);
    assert_eq!(h.router.add_peer_record(newer.clone()), Ok(x));
    assert!(matches!(
        h.router.add_peer_record(older.clone()),
        Err(crate::router::PeerRecordError::Stale { .. })
    ));
    h.drain();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::Prune {
            topic,
            peers: vec![PeerInfo {
                peer_id: Some(x),
                signed_peer_record: Some(older),
            }],
            backoff: Some(60),
        }),
    );
    assert_eq!(h.router.peer_record(&x), Some(&newer));
    assert_eq!(h.router.counters().px_records_stale, 1);
    // The peer is still worth dialling, at the addresses of the newer record.
    let dials: Vec<Vec<libp2p_core::Multiaddr>> = h
        .drain()
        .into_iter()
        .filter_map(|a| match a {
            Action::Dial { peer, addresses } if peer == x => Some(addresses),
            _ => None,
        })
        .collect();
    assert_eq!(dials, vec![vec![new_addr]]);
}

/// Delivery records (peer scoring, two minutes per message) are bounded in bytes like the
/// seen cache whose ids they track (`max_seen_bytes`), oldest forgotten first and counted:
/// before, unique messages grew them for two minutes whatever the seen cache's bound.
#[test]
fn delivery_records_are_bounded_by_max_seen_bytes() {
    use crate::score::{PeerScoreParams, PeerScoreThresholds};
    let max = 16 << 10;
    let mut b = config();
    b.max_seen_bytes(max);
    let mut h = Harness::new(b.build().unwrap());
    h.router
        .with_peer_score(PeerScoreParams::default(), PeerScoreThresholds::default())
        .unwrap();
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(4, &topic, false);
    let author = PeerId::random();
    for (i, p) in peers.iter().enumerate() {
        let batch: Vec<RawMessage> = (0..250u64)
            .map(|s| message(author, i as u64 * 1000 + s, &topic, 8))
            .collect();
        h.router.handle_rpc(
            h.now,
            *p,
            Rpc {
                messages: batch,
                ..Rpc::default()
            },
        );
    }
    assert_eq!(delivered(&h.drain()).len(), 1000);
    let records = h
        .router
        .scoring
        .as_ref()
        .unwrap()
        .score
        .tracked_deliveries();
    let per_record = crate::score::DELIVERY_RECORD_OVERHEAD;
    assert!(
        records * per_record <= max + per_record,
        "{records} delivery records held"
    );
    h.heartbeat();
    assert_eq!(
        h.router.counters().delivery_records_evicted,
        1000 - records as u64
    );
}

/// What the message cache remembers of IWANT (how often each peer had each message, for
/// `gossip_retransmission`) counts toward `max_cache_bytes`: before, every peer asking for
/// every cached message added an uncharged entry, peers x messages of them.
#[test]
fn iwant_bookkeeping_counts_toward_the_cache_bound() {
    let max = 64 << 10;
    let mut b = config();
    b.max_cache_bytes(max);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(100, &topic, false);
    let author = PeerId::random();
    let messages: Vec<RawMessage> = (1..=20).map(|s| message(author, s, &topic, 100)).collect();
    let ids: Vec<MessageId> = messages.iter().map(|m| id_of(&h, m)).collect();
    h.router.handle_rpc(
        h.now,
        peers[0],
        Rpc {
            messages,
            ..Rpc::default()
        },
    );
    h.drain();
    for p in &peers[1..] {
        h.router.handle_rpc(
            h.now,
            *p,
            control_rpc(ControlAction::IWant {
                message_ids: ids.clone(),
            }),
        );
        h.drain();
        let charged = h.router.mcache.window_bytes()
            + h.router.mcache.served_entries() * crate::router::mcache::IWANT_SERVED_CHARGE;
        assert!(charged <= max, "{charged} bytes held for the cache");
        assert_eq!(charged, h.router.cache_bytes().0);
    }
    assert!(h.router.counters().iwant_served > 0);
    assert!(h.router.counters().mcache_evicted > 0);
    // Dropped with their messages.
    for _ in 0..=h.router.config().history_length() {
        h.heartbeat();
    }
    assert_eq!(h.router.cache_bytes().0, 0);
}

/// Reconnecting does not refill a peer's per-heartbeat budgets: before, a peer that spent
/// its message byte budget (or its signature checks, PX records, IHAVE and IDONTWANT
/// allowances) disconnected and came back within the heartbeat with all of them fresh, one
/// handshake buying another full budget of our CPU.
#[test]
fn reconnecting_within_a_heartbeat_keeps_the_spent_budgets() {
    let (mut h, topic, p, _) = budgeted(2000);
    let author = PeerId::random();
    h.router
        .handle_rpc(h.now, p, msg_rpc(message(author, 1, &topic, 600)));
    h.router
        .handle_rpc(h.now, p, msg_rpc(message(author, 2, &topic, 600)));
    assert_eq!(delivered(&h.drain()).len(), 1);
    assert_eq!(h.router.counters().messages_over_peer_budget, 1);
    h.router.remove_peer(&p);
    h.router.add_peer(h.now, p, false);
    h.router.set_peer_kind(p, PeerKind::Gossipsubv1_2);
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            subscriptions: vec![Subscription {
                options: Default::default(),
                subscribe: true,
                topic: topic.clone(),
            }],
            messages: vec![message(author, 3, &topic, 600)],
            ..Rpc::default()
        },
    );
    assert!(delivered(&h.drain()).is_empty());
    assert_eq!(h.router.counters().messages_over_peer_budget, 2);
    // The next heartbeat refills them as for any peer.
    h.heartbeat();
    h.router
        .handle_rpc(h.now, p, msg_rpc(message(author, 4, &topic, 600)));
    assert_eq!(delivered(&h.drain()).len(), 1);
}

/// Score parameters whose products can overflow are refused: with a first-delivery weight of
/// 1e307 and an invalid-delivery weight of -1e307 (both finite, both accepted before), a peer
/// that delivered 100 messages first and 10 invalid ones scored +inf + -inf = NaN, reported as
/// 0: never graylisted whatever it sent. Every weight, cap and threshold is bounded in
/// magnitude (1e50), which keeps every term finite for any count a peer can reach.
#[test]
fn score_parameters_that_can_overflow_are_refused() {
    use crate::score::{PeerScoreParams, PeerScoreThresholds, TopicScoreParams};
    let mut h = Harness::new(config().build().unwrap());
    let mut params = PeerScoreParams::default();
    params.topics.insert(
        Harness::topic(),
        TopicScoreParams {
            topic_weight: 1.0,
            first_message_deliveries_weight: 1e307,
            first_message_deliveries_cap: 1e307,
            invalid_message_deliveries_weight: -1e307,
            ..TopicScoreParams::default()
        },
    );
    let refused = h
        .router
        .with_peer_score(params.clone(), PeerScoreThresholds::default());
    assert!(refused.is_err(), "{refused:?}");
    // Within the bound the same shape of parameters is taken.
    let t = params.topics.get_mut(&Harness::topic()).unwrap();
    t.first_message_deliveries_weight = 1e50;
    t.first_message_deliveries_cap = 1e50;
    t.invalid_message_deliveries_weight = -1e50;
    h.router
        .with_peer_score(params, PeerScoreThresholds::default())
        .unwrap();
    // The application score is bounded the same way.
    let p = h.add_peers(1, &Harness::topic(), false)[0];
    assert!(!h.router.set_application_score(&p, 1e300));
    assert!(h.router.set_application_score(&p, -1e50));
}

/// A PRUNE backoff of u64::MAX seconds is clamped to an hour, counted and logged (before, it
/// was clamped silently); zero means the default.
#[test]
fn huge_prune_backoffs_are_clamped_and_counted() {
    let (mut h, topic, p) = Harness::subscribed_with_peer(config().build().unwrap(), false);
    for backoff in [u64::MAX, 0] {
        h.router.handle_rpc(
            h.now,
            p,
            control_rpc(ControlAction::Prune {
                topic: topic.clone(),
                peers: Vec::new(),
                backoff: Some(backoff),
            }),
        );
    }
    assert_eq!(h.router.counters().prune_backoffs_clamped, 1);
    let until = h.router.backoff.until(&topic, &p).unwrap();
    assert_eq!(until, h.now + Duration::from_secs(3600));
}

/// PX naming our own peer id (unsigned, or with a replay of our own signed record) is not
/// dialled and takes no pending-dial slot: before, it became a dial of ourselves that held
/// one of the `max_pending_px_dials` slots for 30 s.
#[test]
fn px_naming_ourselves_is_not_dialled() {
    let mut b = config();
    b.px_dial_unsigned(true);
    let (mut h, topic, p) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    h.drain();
    let local = h.local;
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::Prune {
            topic,
            peers: vec![PeerInfo {
                peer_id: Some(local),
                signed_peer_record: None,
            }],
            backoff: Some(60),
        }),
    );
    let dials = h
        .drain()
        .into_iter()
        .filter(|a| matches!(a, Action::Dial { .. }))
        .count();
    assert_eq!(dials, 0);
    assert_eq!(h.router.counters().px_records_invalid, 1);
}
