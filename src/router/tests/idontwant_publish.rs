//! IDONTWANT on our own publish (`idontwant_on_publish`, go #612, rust-libp2p #6017): every
//! meshsub-1.2 recipient of a large message we publish (mesh, fanout or flood) is told first.

use super::*;

fn builder(on: bool, flood: bool) -> ConfigBuilder {
    let mut b = config();
    b.idontwant_on_publish(on).flood_publish(flood);
    b
}

/// For each peer: whether it got an IDONTWANT of `id` before the message `id` itself.
fn told_before_sent(actions: &[Action], id: &MessageId, peer: PeerId) -> (bool, bool) {
    let mut told = false;
    for a in actions {
        if let Action::Send {
            peer: p,
            rpc,
            message_id,
            ..
        } = a
        {
            if *p != peer {
                continue;
            }
            if rpc.control.iter().any(|c| {
                matches!(c, ControlAction::IDontWant { message_ids } if message_ids.contains(id))
            }) {
                told = true;
            }
            if message_id.as_ref() == Some(id) {
                return (told, true);
            }
        }
    }
    (told, false)
}

fn large(h: &Harness) -> Vec<u8> {
    vec![9u8; h.router.config().idontwant_message_size_threshold()]
}

#[test]
fn idontwant_on_publish_reaches_mesh_peers_first() {
    let mut h = Harness::new(builder(true, false).build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(4, &topic, false);
    let old = h.add_peers_kind(1, &topic, false, PeerKind::Gossipsubv1_1);
    h.heartbeat();
    let data = large(&h);
    let id = h.router.publish(h.now, topic.clone(), data).unwrap();
    let actions = h.drain();
    let mesh: Vec<PeerId> = h.router.mesh_peers(&topic).copied().collect();
    assert!(!mesh.is_empty());
    for peer in mesh {
        let (told, sent) = told_before_sent(&actions, &id, peer);
        assert!(sent);
        assert_eq!(told, peers.contains(&peer), "v1.2 peers only: {peer}");
    }
    assert!(!told_before_sent(&actions, &id, old[0]).0);
}

#[test]
fn idontwant_on_publish_reaches_fanout_peers_first() {
    let mut h = Harness::new(builder(true, false).build().unwrap());
    let topic = Harness::topic();
    let peers = h.add_peers(3, &topic, false);
    let data = large(&h);
    let id = h.router.publish(h.now, topic.clone(), data).unwrap();
    let actions = h.drain();
    for peer in peers {
        assert_eq!(
            told_before_sent(&actions, &id, peer),
            (true, true),
            "{peer}"
        );
    }
}

#[test]
fn idontwant_on_publish_reaches_flood_publish_recipients_first() {
    let mut h = Harness::new(
        builder(true, true)
            .mesh_n_high(3)
            .mesh_n(2)
            .mesh_n_low(1)
            .mesh_outbound_min(0)
            .retain_scores(1)
            .build()
            .unwrap(),
    );
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(6, &topic, false);
    h.heartbeat();
    assert!(h.mesh_len(&topic) < peers.len());
    let data = large(&h);
    let id = h.router.publish(h.now, topic.clone(), data).unwrap();
    let actions = h.drain();
    for peer in peers {
        assert_eq!(
            told_before_sent(&actions, &id, peer),
            (true, true),
            "{peer}"
        );
    }
}

#[test]
fn no_idontwant_on_publish_when_off_or_small() {
    for (on, len_delta) in [(false, 0usize), (true, 1)] {
        let mut h = Harness::new(builder(on, false).build().unwrap());
        let topic = Harness::topic();
        h.router.subscribe(h.now, topic.clone()).unwrap();
        let peers = h.add_peers(3, &topic, false);
        h.heartbeat();
        let mut data = large(&h);
        data.truncate(data.len() - len_delta);
        let id = h.router.publish(h.now, topic.clone(), data).unwrap();
        let actions = h.drain();
        for peer in &peers {
            assert!(!told_before_sent(&actions, &id, *peer).0);
        }
    }
}

#[test]
fn ethereum_preset_sends_idontwant_on_publish() {
    assert!(Config::ethereum().idontwant_on_publish());
}
