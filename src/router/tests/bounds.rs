//! Tests of the router's resource bounds: IHAVE budgets before per-id work, remote
//! subscriptions, peer-exchange records and dials, signature checks.

use super::*;

/// An IHAVE far larger than the per-heartbeat budget costs O(budget) lookups, not O(ids).
#[test]
fn oversize_ihave_costs_only_its_budget() {
    let mut b = config();
    b.max_ihave_length(100);
    let (mut h, topic, p) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    h.drain();
    let ids: Vec<MessageId> = (0..100_000u32)
        .map(|i| MessageId::new(i.to_be_bytes().to_vec()))
        .collect();
    let before = h.router.seen.lookups.get();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::IHave {
            topic: topic.clone(),
            message_ids: ids,
        }),
    );
    let lookups = h.router.seen.lookups.get() - before;
    assert!(
        lookups <= 100,
        "{lookups} seen-cache lookups for a budget of 100"
    );
    let asked: usize = control_to(&h.drain(), p)
        .iter()
        .map(|c| match c {
            ControlAction::IWant { message_ids } => message_ids.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(asked, 100);
    assert_eq!(h.router.counters().ihave_ids_over_budget, 99_900);
}

fn subscribe_rpc(topics: impl IntoIterator<Item = TopicHash>) -> Rpc {
    Rpc {
        subscriptions: topics
            .into_iter()
            .map(|topic| Subscription {
                options: Default::default(),
                subscribe: true,
                topic,
            })
            .collect(),
        ..Rpc::default()
    }
}

fn held_topics(h: &Harness, p: PeerId) -> usize {
    h.router
        .all_peers()
        .find(|(q, _)| **q == p)
        .map_or(0, |(_, t)| t.len())
}

/// A remote subscription to a topic longer than `max_topic_len` is ignored and counted, and
/// a peer's subscriptions are accounted in bytes.
#[test]
fn remote_topic_longer_than_max_topic_len_is_ignored() {
    let mut b = config();
    b.max_topic_len(16);
    let mut h = Harness::new(b.build().unwrap());
    let p = PeerId::random();
    h.router.add_peer(h.now, p, false);
    h.router.set_peer_kind(p, PeerKind::Gossipsubv1_2);
    h.router.handle_rpc(
        h.now,
        p,
        subscribe_rpc([
            TopicHash::from_raw("x".repeat(16)),
            TopicHash::from_raw("y".repeat(17)),
            TopicHash::from_raw("z".repeat(1 << 20)),
        ]),
    );
    assert_eq!(held_topics(&h, p), 1);
    assert_eq!(h.router.counters().subscriptions_topic_too_long, 2);
    assert_eq!(h.router.peer_subscription_bytes(&p), 16);
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            subscriptions: vec![Subscription {
                options: Default::default(),
                subscribe: false,
                topic: TopicHash::from_raw("x".repeat(16)),
            }],
            ..Rpc::default()
        },
    );
    assert_eq!(h.router.peer_subscription_bytes(&p), 0);
}

/// The default bound on a peer's topics is libp2p-gossipsub's 100.
#[test]
fn default_topics_per_peer_is_100() {
    let mut h = Harness::new(config().build().unwrap());
    let p = PeerId::random();
    h.router.add_peer(h.now, p, false);
    h.router.set_peer_kind(p, PeerKind::Gossipsubv1_2);
    h.router.handle_rpc(
        h.now,
        p,
        subscribe_rpc((0..1000).map(|i| TopicHash::from_raw(format!("t{i}")))),
    );
    assert_eq!(held_topics(&h, p), 100);
}

// ---- peer exchange ----

use libp2p_core::{Multiaddr, PeerRecord};
use libp2p_identity::Keypair;

use crate::types::PeerInfo;

/// A fresh signed record with `n` addresses: (peer, envelope bytes).
fn px_record(n: u16) -> (PeerId, Bytes) {
    let key = Keypair::generate_ed25519();
    let addrs: Vec<Multiaddr> = (0..n)
        .map(|i| format!("/ip4/10.0.0.1/tcp/{}", 1000 + i).parse().unwrap())
        .collect();
    let rec = PeerRecord::new_interop(&key, addrs).unwrap();
    (
        key.public().to_peer_id(),
        Bytes::from(rec.into_signed_envelope().into_protobuf_encoding()),
    )
}

fn prune_with(topic: &TopicHash, offers: Vec<(PeerId, Bytes)>) -> ControlAction {
    ControlAction::Prune {
        topic: topic.clone(),
        peers: offers
            .into_iter()
            .map(|(p, b)| PeerInfo {
                peer_id: Some(p),
                signed_peer_record: Some(b),
            })
            .collect(),
        backoff: Some(60),
    }
}

fn dialled(actions: &[Action]) -> Vec<PeerId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Dial { peer, .. } => Some(*peer),
            _ => None,
        })
        .collect()
}

/// A harness subscribed to the test topic with one pruner peer past its first heartbeat.
fn px_harness(edit: impl FnOnce(&mut ConfigBuilder)) -> (Harness, TopicHash, PeerId) {
    let mut b = config();
    edit(&mut b);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let pruner = h.add_peers(1, &topic, true)[0];
    h.heartbeat();
    (h, topic, pruner)
}

/// A record taken from PX is copied out of the received frame, so keeping it does not keep
/// the (up to max_transmit_size) frame alive.
#[test]
fn px_record_is_copied_out_of_the_frame() {
    let (mut h, topic, pruner) = px_harness(|_| {});
    let (peer, record) = px_record(1);
    let mut frame = vec![0u8; 64 * 1024];
    frame[1000..1000 + record.len()].copy_from_slice(&record);
    let frame = Bytes::from(frame);
    let slice = frame.slice(1000..1000 + record.len());
    h.router.handle_rpc(
        h.now,
        pruner,
        control_rpc(prune_with(&topic, vec![(peer, slice)])),
    );
    assert_eq!(dialled(&h.drain()), vec![peer]);
    let stored = h.router.peer_record(&peer).expect("record kept").clone();
    assert_eq!(stored, record);
    let frame_range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
    assert!(
        !frame_range.contains(&(stored.as_ptr() as usize)),
        "the stored record points into the received frame"
    );
}

/// When the store is full, the oldest record is evicted and the new one kept.
#[test]
fn px_store_evicts_the_oldest_record_when_full() {
    let mut h = Harness::new(config().build().unwrap());
    let records: Vec<(PeerId, Bytes)> = (0..=super::super::px::MAX_PEER_RECORDS)
        .map(|_| px_record(1))
        .collect();
    for (peer, bytes) in &records {
        assert_eq!(h.router.add_peer_record(bytes.clone()), Ok(*peer));
    }
    assert!(
        h.router.peer_record(&records[0].0).is_none(),
        "oldest evicted"
    );
    let newest = records.last().unwrap().0;
    assert!(h.router.peer_record(&newest).is_some(), "newest kept");
    assert_eq!(h.router.counters().px_records_evicted, 1);
    let (count, bytes) = h.router.peer_record_sizes();
    assert_eq!(count, super::super::px::MAX_PEER_RECORDS);
    assert!(bytes >= records[1..].iter().map(|(_, b)| b.len()).sum::<usize>());
}

/// Stored records expire after the store's TTL.
#[test]
fn px_records_expire() {
    let mut h = Harness::new(config().build().unwrap());
    let (peer, bytes) = px_record(1);
    h.router.add_peer_record(bytes).unwrap();
    h.advance(super::super::px::PEER_RECORD_TTL / 2);
    h.heartbeat();
    assert!(h.router.peer_record(&peer).is_some());
    h.advance(super::super::px::PEER_RECORD_TTL);
    h.heartbeat();
    assert!(h.router.peer_record(&peer).is_none(), "expired");
}

/// Records over the size or address bounds are refused: the oversize one before any
/// signature check, neither is kept or dialled.
#[test]
fn px_records_over_size_or_address_bounds_are_refused() {
    let (mut h, topic, pruner) = px_harness(|b| {
        b.max_peer_record_addresses(4).max_peer_record_size(600);
    });
    let (ok_peer, ok) = px_record(4);
    let (many_peer, many) = px_record(5);
    let (big_peer, _) = px_record(1);
    let big = Bytes::from(vec![7u8; 601]);
    h.router.handle_rpc(
        h.now,
        pruner,
        control_rpc(prune_with(
            &topic,
            vec![(ok_peer, ok), (many_peer, many), (big_peer, big)],
        )),
    );
    assert_eq!(dialled(&h.drain()), vec![ok_peer]);
    assert_eq!(h.router.counters().px_records_too_large, 2);
    assert!(h.router.peer_record(&many_peer).is_none());
    assert_eq!(
        h.router.add_peer_record(px_record(5).1),
        Err(crate::router::PeerRecordError::TooManyAddresses { count: 5, max: 4 })
    );
}

/// One peer's PX entries are budgeted per heartbeat across all its PRUNEs (each is a
/// signature check and a dial), however many PRUNEs one RPC carries.
#[test]
fn px_is_budgeted_per_peer_and_heartbeat() {
    let (mut h, topic, pruner) = px_harness(|b| {
        b.max_px_records_per_heartbeat(3);
    });
    let control: Vec<ControlAction> = (0..5)
        .map(|_| prune_with(&topic, vec![px_record(1), px_record(1)]))
        .collect();
    h.router.handle_rpc(
        h.now,
        pruner,
        Rpc {
            control,
            ..Rpc::default()
        },
    );
    assert_eq!(dialled(&h.drain()).len(), 3);
    assert_eq!(h.router.counters().px_over_budget, 7);
    // The budget is refreshed at the heartbeat.
    h.heartbeat();
    h.router.handle_rpc(
        h.now,
        pruner,
        control_rpc(prune_with(&topic, vec![px_record(1)])),
    );
    assert_eq!(dialled(&h.drain()).len(), 1);
}

/// One peer's PX cannot take every pending-dial slot: the dials it started that are still
/// pending are capped at `max_px_dials` (one PRUNE's worth), so PX from other peers is still
/// dialled. Before, one peer filled all `max_pending_px_dials` slots in eight heartbeats and
/// blocked PX from everyone else for 30 s.
#[test]
fn one_peers_px_cannot_fill_every_pending_dial_slot() {
    let (mut h, topic, pruner) = px_harness(|b| {
        b.max_px_dials(4)
            .max_pending_px_dials(16)
            .max_px_records_per_heartbeat(4);
    });
    let mut from_pruner = 0;
    for _ in 0..8 {
        let offers = (0..4).map(|_| px_record(1)).collect();
        h.router
            .handle_rpc(h.now, pruner, control_rpc(prune_with(&topic, offers)));
        from_pruner += dialled(&h.drain()).len();
        h.heartbeat();
    }
    assert_eq!(
        from_pruner, 4,
        "one peer's pending PX dials are capped at max_px_dials"
    );
    let honest = h.add_peers(1, &topic, true)[0];
    h.heartbeat();
    let offers = (0..4).map(|_| px_record(1)).collect();
    h.router
        .handle_rpc(h.now, honest, control_rpc(prune_with(&topic, offers)));
    assert_eq!(
        dialled(&h.drain()).len(),
        4,
        "another peer's PX is still dialled"
    );
    assert!(h.router.counters().px_dials_over_cap >= 28);
    // Once the first peer's dials time out, its PX is dialled again.
    h.advance(super::super::px::PX_DIAL_TIMEOUT);
    h.heartbeat();
    let offers = (0..4).map(|_| px_record(1)).collect();
    h.router
        .handle_rpc(h.now, pruner, control_rpc(prune_with(&topic, offers)));
    assert_eq!(dialled(&h.drain()).len(), 4);
}

/// PX dials outstanding at once are capped globally; a connection or the dial timeout frees
/// a slot.
#[test]
fn pending_px_dials_are_capped() {
    let (mut h, topic, _) = px_harness(|b| {
        b.max_pending_px_dials(4);
    });
    let pruners = h.add_peers(3, &topic, true);
    h.heartbeat();
    let mut dials = Vec::new();
    for p in &pruners {
        let offers = (0..3).map(|_| px_record(1)).collect();
        h.router
            .handle_rpc(h.now, *p, control_rpc(prune_with(&topic, offers)));
        dials.extend(dialled(&h.drain()));
    }
    assert_eq!(dials.len(), 4);
    assert_eq!(h.router.counters().px_dials_over_cap, 5);
    // One of them connects: one slot frees.
    h.router.add_peer(h.now, dials[0], true);
    let p = h.add_peers(1, &topic, true)[0];
    h.heartbeat();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(prune_with(&topic, vec![px_record(1), px_record(1)])),
    );
    assert_eq!(dialled(&h.drain()).len(), 1);
    // The rest time out.
    h.advance(super::super::px::PX_DIAL_TIMEOUT);
    h.heartbeat();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(prune_with(&topic, vec![px_record(1), px_record(1)])),
    );
    assert_eq!(dialled(&h.drain()).len(), 2);
}

// ---- signature checks ----

/// A router that signs and verifies strictly, subscribed to the test topic with one mesh
/// peer (connected, subscribed, one heartbeat run).
fn strict_harness(edit: impl FnOnce(&mut ConfigBuilder)) -> (Harness, TopicHash, PeerId) {
    let mut b = ConfigBuilder::default();
    b.validation_mode(ValidationMode::Strict);
    edit(&mut b);
    let key = Keypair::generate_ed25519();
    let local = key.public().to_peer_id();
    let now = crate::test_util::epoch();
    let router = Router::new(
        b.build().unwrap(),
        MessageAuthenticity::Signed(key),
        7,
        1,
        now,
    )
    .unwrap();
    let mut h = Harness { router, now, local };
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let p = h.add_peers(1, &topic, true)[0];
    h.heartbeat();
    (h, topic, p)
}

/// A message by `author` with seqno `seqno`, signed correctly.
fn signed(author: &Keypair, seqno: u64, topic: &TopicHash) -> RawMessage {
    let mut m = message(author.public().to_peer_id(), seqno, topic, 8);
    let (signature, key) = crate::wire::sign(author, &m).unwrap();
    m.signature = Some(signature);
    m.key = key;
    m
}

/// A message by `author` with a signature that does not verify.
fn badly_signed(author: &Keypair, seqno: u64, topic: &TopicHash) -> RawMessage {
    let mut m = signed(author, seqno, topic);
    m.signature = Some(Bytes::from(vec![0u8; 64]));
    m
}

/// 100 copies of one badly signed message cost one signature verification; every copy is
/// still counted invalid.
#[test]
fn copies_of_a_badly_signed_message_are_verified_once() {
    let (mut h, topic, p) = strict_harness(|b| {
        b.max_invalid_signatures(1000);
    });
    let author = Keypair::generate_ed25519();
    let bad = badly_signed(&author, 1, &topic);
    for _ in 0..100 {
        h.router.handle_rpc(h.now, p, msg_rpc(bad.clone()));
    }
    assert!(delivered(&h.drain()).is_empty());
    assert_eq!(h.router.counters().signatures_verified, 1);
    assert_eq!(h.router.counters().messages_invalid, 100);
    // The same content with a valid signature is not tainted by the bad copy.
    h.router
        .handle_rpc(h.now, p, msg_rpc(signed(&author, 1, &topic)));
    assert_eq!(delivered(&h.drain()).len(), 1);
}

/// Invalid signatures lower the sender's score even with the default score parameters
/// (which score no topic).
#[test]
fn invalid_signature_is_penalised_with_default_score_params() {
    let (mut h, topic, p) = strict_harness(|_| {});
    h.router
        .with_peer_score(
            crate::score::PeerScoreParams::default(),
            crate::score::PeerScoreThresholds::default(),
        )
        .unwrap();
    let author = Keypair::generate_ed25519();
    h.router
        .handle_rpc(h.now, p, msg_rpc(badly_signed(&author, 1, &topic)));
    let score = h.router.peer_score(&p).unwrap();
    assert!(score < 0.0, "score {score} after an invalid signature");
}

/// A peer that keeps sending invalid signatures is graylisted: removed from the mesh, its
/// later RPCs (even valid messages) ignored, never grafted again while connected.
#[test]
fn repeated_invalid_signatures_graylist_the_peer() {
    let (mut h, topic, p) = strict_harness(|b| {
        b.max_invalid_signatures(3);
    });
    assert_eq!(h.mesh_len(&topic), 1);
    let author = Keypair::generate_ed25519();
    let bad: Vec<RawMessage> = (1..=5).map(|i| badly_signed(&author, i, &topic)).collect();
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            messages: bad,
            ..Rpc::default()
        },
    );
    assert_eq!(
        h.router.counters().signatures_verified,
        3,
        "stops at the limit"
    );
    assert_eq!(h.router.counters().peers_graylisted, 1);
    assert_eq!(h.mesh_len(&topic), 0);
    h.router
        .handle_rpc(h.now, p, msg_rpc(signed(&author, 9, &topic)));
    assert!(delivered(&h.drain()).is_empty(), "graylisted peer ignored");
    h.heartbeat();
    assert_eq!(h.mesh_len(&topic), 0, "not grafted again");
}

/// Signature checks are budgeted per peer and heartbeat: over the budget, new messages are
/// dropped unverified and not marked seen, so a later copy is taken.
#[test]
fn signature_checks_are_budgeted_per_peer_and_heartbeat() {
    let (mut h, topic, p) = strict_harness(|b| {
        b.max_signature_checks_per_heartbeat(5);
    });
    let author = Keypair::generate_ed25519();
    let msgs: Vec<RawMessage> = (1..=10).map(|i| signed(&author, i, &topic)).collect();
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            messages: msgs.clone(),
            ..Rpc::default()
        },
    );
    assert_eq!(delivered(&h.drain()).len(), 5);
    assert_eq!(h.router.counters().signature_checks_over_budget, 5);
    h.heartbeat();
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            messages: msgs,
            ..Rpc::default()
        },
    );
    assert_eq!(
        delivered(&h.drain()).len(),
        5,
        "the dropped ones are taken now"
    );
}

/// The signature budget counts CPU, not messages: an ECDSA (P-256) verification costs about
/// seven Ed25519 ones and a secp256k1 one about two, so a peer relaying messages of such
/// authors gets proportionally fewer checks per heartbeat. Before, 1,024 ECDSA checks cost a
/// peer's budget what 1,024 Ed25519 ones do, seven times the CPU.
#[test]
fn the_signature_budget_is_charged_by_key_type() {
    for (author, cost) in [
        (Keypair::generate_ed25519(), 1),
        (Keypair::generate_secp256k1(), 3),
        (Keypair::generate_ecdsa(), 8),
    ] {
        let (mut h, topic, p) = strict_harness(|b| {
            b.max_signature_checks_per_heartbeat(24);
        });
        let msgs: Vec<RawMessage> = (1..=30).map(|i| signed(&author, i, &topic)).collect();
        h.router.handle_rpc(
            h.now,
            p,
            Rpc {
                messages: msgs,
                ..Rpc::default()
            },
        );
        let taken = (24 / cost).min(30);
        assert_eq!(delivered(&h.drain()).len(), taken, "cost {cost}");
        assert_eq!(h.router.counters().signatures_verified, taken as u64);
        assert_eq!(
            h.router.counters().signature_checks_over_budget,
            (30 - taken) as u64
        );
    }
}

// ---- P6 across disconnects ----

/// Through the router: peers that disconnect with a non-positive score keep their IP
/// counted for the P6 of those still connected.
#[test]
fn disconnected_sybils_still_count_for_p6() {
    let mut h = Harness::new(config().build().unwrap());
    let params = crate::score::PeerScoreParams {
        ip_colocation_factor_threshold: 1.0,
        ..Default::default()
    };
    h.router
        .with_peer_score(params, crate::score::PeerScoreThresholds::default())
        .unwrap();
    let topic = Harness::topic();
    let peers = h.add_peers(4, &topic, false);
    let ip: std::net::IpAddr = "192.0.2.1".parse().unwrap();
    for p in &peers {
        h.router.add_peer_ip(p, ip);
    }
    let before = h.router.peer_score(&peers[0]).unwrap();
    assert!(before < 0.0);
    for p in &peers[1..] {
        h.router.remove_peer(p);
    }
    assert_eq!(h.router.peer_score(&peers[0]).unwrap(), before);
}

/// A peer already being dialled for PX is not dialled again when offered again.
#[test]
fn pending_px_peer_is_not_dialled_twice() {
    let (mut h, topic, pruner) = px_harness(|_| {});
    let other = h.add_peers(1, &topic, true)[0];
    h.drain();
    let offer = px_record(1);
    h.router.handle_rpc(
        h.now,
        pruner,
        control_rpc(prune_with(&topic, vec![offer.clone()])),
    );
    h.router
        .handle_rpc(h.now, other, control_rpc(prune_with(&topic, vec![offer])));
    assert_eq!(dialled(&h.drain()).len(), 1);
}

/// Direct peers are penalised for invalid messages but never graylisted.
#[test]
fn direct_peer_is_not_graylisted_for_invalid_signatures() {
    let (mut h, topic, p) = strict_harness(|b| {
        b.max_invalid_signatures(2);
    });
    h.router.add_direct_peer(p);
    let author = Keypair::generate_ed25519();
    let bad: Vec<RawMessage> = (1..=4).map(|i| badly_signed(&author, i, &topic)).collect();
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            messages: bad,
            ..Rpc::default()
        },
    );
    assert_eq!(h.router.counters().messages_invalid, 4);
    assert_eq!(h.router.counters().peers_graylisted, 0);
    h.router
        .handle_rpc(h.now, p, msg_rpc(signed(&author, 9, &topic)));
    assert_eq!(delivered(&h.drain()).len(), 1);
}

/// However many IHAVE entries one peer's RPCs carry in a heartbeat, the ids looked at are
/// bounded by `max_ihave_length * max_ihave_messages`, even when every id was already seen
/// (and so none is asked for).
#[test]
fn ihave_lookups_per_heartbeat_are_bounded_across_entries() {
    let mut b = config();
    b.max_ihave_length(100).max_ihave_messages(2);
    let (mut h, topic, p) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    let author = PeerId::random();
    let mut ids = Vec::new();
    for i in 0..100 {
        let m = message(author, i, &topic, 1);
        ids.push(id_of(&h, &m));
        h.router.handle_rpc(h.now, p, msg_rpc(m));
    }
    h.drain();
    let control: Vec<ControlAction> = (0..50)
        .map(|_| ControlAction::IHave {
            topic: topic.clone(),
            message_ids: ids.clone(),
        })
        .collect();
    let before = h.router.seen.lookups.get();
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            control,
            ..Rpc::default()
        },
    );
    let lookups = h.router.seen.lookups.get() - before;
    assert!(lookups <= 200, "{lookups} lookups for a bound of 200");
}

/// A custom message-id function that returns a slice of the payload (e.g. its first 20
/// bytes) must not make the id, kept in the seen cache for `seen_ttl`, pin the whole payload
/// (and the frame it shares) long after the message left the message cache.
#[test]
fn message_id_slicing_the_payload_does_not_pin_it() {
    let mut b = config();
    b.message_id_fn(|m: &crate::types::Message| MessageId::new(m.data.slice(..20)));
    let (mut h, topic, p) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    h.drain();
    let m = message(p, 1, &topic, 64 * 1024);
    let start = m.data.as_ptr() as usize;
    let payload = start..start + m.data.len();
    h.router.handle_rpc(h.now, p, msg_rpc(m));
    let ids = delivered(&h.drain());
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].as_bytes().len(), 20);
    assert!(
        !payload.contains(&(ids[0].as_bytes().as_ptr() as usize)),
        "the 20-byte id shares the 64 KiB payload"
    );
    // An id that is (most of) the payload is kept shared: copying it would double the memory.
    let mut b = config();
    b.message_id_fn(|m: &crate::types::Message| MessageId::new(m.data.clone()));
    let config = b.build().unwrap();
    let m = message(p, 2, &topic, 1024);
    let id = config.message_id(&m.to_message());
    assert_eq!(id.as_bytes().as_ptr(), m.data.as_ptr());
}

/// The router refuses to subscribe to a topic over `max_topic_len` itself (not only the
/// behaviour): peers with our limits skip every entry naming it, so the subscription would
/// be announced to nobody.
#[test]
fn router_subscribe_refuses_topics_over_max_topic_len() {
    let mut h = Harness::new(config().build().unwrap());
    let long = TopicHash::from_raw("x".repeat(h.router.config().max_topic_len() + 1));
    assert!(matches!(
        h.router.subscribe(h.now, long.clone()),
        Err(crate::error::SubscriptionError::TopicTooLong(t)) if t == long
    ));
    assert_eq!(h.router.topics().count(), 0);
    let fits = TopicHash::from_raw("x".repeat(h.router.config().max_topic_len()));
    assert!(h.router.subscribe(h.now, fits).unwrap());
}

/// A peer graylisted for repeated invalid messages is also disconnected (once): it is dropped,
/// not only ignored, so it does not keep a connection slot. Its retained score (with scoring
/// on) keeps the penalty across a reconnect.
#[test]
fn peer_graylisted_for_invalid_signatures_is_disconnected_once() {
    let (mut h, topic, p) = strict_harness(|b| {
        b.max_invalid_signatures(3);
    });
    let author = Keypair::generate_ed25519();
    let bad: Vec<RawMessage> = (1..=5).map(|i| badly_signed(&author, i, &topic)).collect();
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            messages: bad.clone(),
            ..Rpc::default()
        },
    );
    let disconnects = |actions: &[Action]| {
        actions
            .iter()
            .filter(|a| matches!(a, Action::Disconnect { peer } if *peer == p))
            .count()
    };
    assert_eq!(disconnects(&h.drain()), 1);
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            messages: bad,
            ..Rpc::default()
        },
    );
    assert_eq!(disconnects(&h.drain()), 0, "asked once");
}
