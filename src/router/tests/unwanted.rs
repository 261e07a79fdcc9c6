//! The store of unwanted ids shared by all peers (`router/unwanted.rs`): each peer's record is
//! its own, a peer that leaves takes its records with it, and a newcomer given the slot of a
//! departed peer inherits nothing.

use super::*;

fn idontwant(ids: Vec<MessageId>) -> Rpc {
    control_rpc(ControlAction::IDontWant { message_ids: ids })
}

fn assert_consistent(h: &Harness) {
    let report = h.router.__invariants(h.now);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}

/// A peer that sent IDONTWANT leaves; a peer connecting before the next heartbeat gets
/// another slot, and the next peer to connect after it takes the departed peer's slot and
/// joins the mesh: it is sent the message all the same.
#[test]
fn a_newcomer_on_a_departed_peers_slot_inherits_none_of_its_idontwant() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(4, &topic, false);
    h.heartbeat();
    assert_eq!(h.mesh_len(&topic), 4);
    let m = message(PeerId::random(), 1, &topic, 64);
    let id = id_of(&h, &m);
    let departed_slot = h.router.peers[&h.router.hashed(peers[0])].slot;
    h.router
        .handle_rpc(h.now, peers[0], idontwant(vec![id.clone()]));
    h.router.remove_peer(&peers[0]);
    assert_consistent(&h);
    let early = h.add_peers(1, &topic, false)[0];
    assert_ne!(h.router.peers[&h.router.hashed(early)].slot, departed_slot);
    assert_consistent(&h);
    h.heartbeat();
    assert_consistent(&h);
    let newcomer = h.add_peers(1, &topic, false)[0];
    assert_eq!(
        h.router.peers[&h.router.hashed(newcomer)].slot,
        departed_slot
    );
    h.heartbeat();
    assert!(h.router.mesh_peers(&topic).any(|p| *p == newcomer));
    assert!(h.router.mesh_peers(&topic).any(|p| *p == early));
    h.drain();
    h.router.handle_rpc(h.now, peers[1], msg_rpc(m));
    let mut sent: Vec<PeerId> = message_sends(&h.drain(), &id)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    sent.sort();
    let mut expected = vec![peers[2], peers[3], newcomer, early];
    expected.sort();
    assert_eq!(sent, expected);
    assert_consistent(&h);
}

/// Peers beyond the 64 kept as bits (a node with many peers): IDONTWANT is still per peer.
#[test]
fn idontwant_is_per_peer_beyond_the_first_64_peers() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(70, &topic, false);
    h.heartbeat();
    let id = h
        .router
        .publish(h.now, topic.clone(), vec![7u8; 64])
        .unwrap();
    h.drain();
    let slot = |h: &Harness, p: &PeerId| h.router.peers[&h.router.hashed(*p)].slot;
    let (high, low): (Vec<PeerId>, Vec<PeerId>) = peers.iter().partition(|p| slot(&h, p) >= 64);
    assert_eq!((high.len(), low.len()), (6, 64));
    // One low and one high peer do not want it; the others ask for it all the same.
    for p in [high[0], low[0]] {
        h.router.handle_rpc(h.now, p, idontwant(vec![id.clone()]));
    }
    h.drain();
    for p in [high[0], low[0], high[1], low[1]] {
        h.router.handle_rpc(
            h.now,
            p,
            control_rpc(ControlAction::IWant {
                message_ids: vec![id.clone()],
            }),
        );
    }
    let mut served: Vec<PeerId> = message_sends(&h.drain(), &id)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    served.sort();
    let mut expected = vec![high[1], low[1]];
    expected.sort();
    assert_eq!(served, expected);
    assert_eq!(h.router.counters.iwant_unwanted, 2);
    assert_consistent(&h);
}

/// A peer's records leave the shared store at the first heartbeat after it disconnects (not
/// at their expiry), and expire after `history_length` heartbeats otherwise.
#[test]
fn a_peers_unwanted_ids_go_when_it_disconnects_or_they_expire() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(3, &topic, false);
    let ids: Vec<MessageId> = (0..10u32)
        .map(|i| MessageId::new(i.to_be_bytes()))
        .collect();
    h.router.handle_rpc(h.now, peers[0], idontwant(ids.clone()));
    h.router
        .handle_rpc(h.now, peers[1], idontwant(ids[..5].to_vec()));
    assert_eq!(h.router.unwanted.len(), 10);
    assert_consistent(&h);
    h.router.remove_peer(&peers[0]);
    assert_consistent(&h);
    h.heartbeat();
    assert_eq!(h.router.unwanted.len(), 5, "only peers[1]'s ids are left");
    assert_consistent(&h);
    for _ in 1..h.router.config.history_length() {
        assert_eq!(h.router.unwanted.len(), 5, "not expired yet");
        h.heartbeat();
    }
    assert_eq!(
        h.router.unwanted.len(),
        0,
        "expired after history_length heartbeats"
    );
    assert_consistent(&h);
}

/// The IDONTWANT allowance (`max_idontwant_messages` new ids per heartbeat) is the peer's,
/// not its connection's: spent, it stays spent across a reconnect within the heartbeat, and a
/// heartbeat refills it. Another peer's allowance is its own.
#[test]
fn the_idontwant_allowance_survives_a_reconnect_and_refills_at_the_heartbeat() {
    let mut b = config();
    b.max_idontwant_messages(3);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(2, &topic, false);
    h.heartbeat();
    let ids: Vec<MessageId> = (0..10u32)
        .map(|i| MessageId::new(i.to_be_bytes()))
        .collect();
    h.router
        .handle_rpc(h.now, peers[0], idontwant(ids[..2].to_vec()));
    assert_eq!(h.router.counters.idontwant_received, 2);
    h.router.remove_peer(&peers[0]);
    h.router.add_peer(h.now, peers[0], false);
    h.router.set_peer_kind(peers[0], PeerKind::Gossipsubv1_2);
    h.router
        .handle_rpc(h.now, peers[0], idontwant(ids[2..5].to_vec()));
    assert_eq!(
        (
            h.router.counters.idontwant_received,
            h.router.counters.idontwant_ignored
        ),
        (3, 2),
        "one id left of the allowance after the reconnect"
    );
    h.router
        .handle_rpc(h.now, peers[1], idontwant(ids[..3].to_vec()));
    assert_eq!(h.router.counters.idontwant_received, 6, "peers[1]'s own");
    h.heartbeat();
    h.router
        .handle_rpc(h.now, peers[0], idontwant(ids[5..9].to_vec()));
    assert_eq!(
        (
            h.router.counters.idontwant_received,
            h.router.counters.idontwant_ignored
        ),
        (9, 3),
        "refilled at the heartbeat"
    );
    assert_consistent(&h);
}
