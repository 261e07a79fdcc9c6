//! Tests of the meshsub 1.0–1.2 core: mesh, fanout, gossip, IDONTWANT, validation.

use super::*;

#[test]
fn mesh_size_stays_within_bounds_after_every_heartbeat() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let cfg = h.router.config().clone();
    h.add_peers(3, &topic, false);
    h.router.subscribe(h.now, topic.clone()).unwrap();
    assert_eq!(h.mesh_len(&topic), 3, "all available peers joined");
    // More peers arrive, some of which GRAFT us, pushing the mesh over D_hi.
    let more = h.add_peers(30, &topic, false);
    for p in &more {
        h.router.handle_rpc(
            h.now,
            *p,
            control_rpc(ControlAction::Graft {
                topic: topic.clone(),
            }),
        );
    }
    assert!(
        h.mesh_len(&topic) <= cfg.mesh_n_high(),
        "GRAFT above D_hi from inbound peers refused"
    );
    for _ in 0..10 {
        h.heartbeat();
        let len = h.mesh_len(&topic);
        assert!(
            (cfg.mesh_n_low()..=cfg.mesh_n_high()).contains(&len),
            "mesh size {len} outside [D_lo, D_hi]"
        );
    }
    // Peers leave: the mesh is refilled from the remaining subscribers (the ones the trims
    // pruned, once their prune backoff is over).
    let mesh: Vec<PeerId> = h.router.mesh_peers(&topic).copied().collect();
    for p in mesh.iter().take(4) {
        h.router.remove_peer(p);
    }
    h.advance(cfg.prune_backoff() + 3 * cfg.heartbeat_interval());
    h.heartbeat();
    let len = h.mesh_len(&topic);
    assert!(
        (cfg.mesh_n_low()..=cfg.mesh_n_high()).contains(&len),
        "refilled to {len}"
    );
}

#[test]
fn oversubscribed_mesh_is_pruned_to_d_keeping_outbound_quota() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let inbound = h.add_peers(20, &topic, false);
    let outbound = h.add_peers(3, &topic, true);
    // Everyone GRAFTs us: inbound ones until D_hi, outbound ones always.
    for p in inbound.iter().chain(&outbound) {
        h.router.handle_rpc(
            h.now,
            *p,
            control_rpc(ControlAction::Graft {
                topic: topic.clone(),
            }),
        );
    }
    h.drain();
    let before = h.mesh_len(&topic);
    assert!(before > h.router.config().mesh_n_high());
    let actions = h.heartbeat();
    assert_eq!(h.mesh_len(&topic), h.router.config().mesh_n());
    let outbound_kept = h
        .router
        .mesh_peers(&topic)
        .filter(|p| outbound.contains(p))
        .count();
    assert!(outbound_kept >= h.router.config().mesh_outbound_min());
    let prunes = inbound
        .iter()
        .chain(&outbound)
        .filter(|p| {
            control_to(&actions, **p).iter().any(|c| {
                matches!(
                    c,
                    ControlAction::Prune {
                        backoff: Some(_),
                        ..
                    }
                )
            })
        })
        .count();
    assert_eq!(
        prunes,
        before - h.router.config().mesh_n(),
        "every removed peer got a PRUNE with backoff"
    );
}

#[test]
fn fanout_expires_after_fanout_ttl() {
    let mut b = config();
    b.flood_publish(false);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.add_peers(10, &topic, false);
    h.router.publish(h.now, topic.clone(), vec![1u8]).unwrap();
    assert_eq!(
        h.router.fanout_peers(&topic).count(),
        h.router.config().mesh_n()
    );
    let ttl = h.router.config().fanout_ttl();
    let published_at = h.now;
    while h.router.poll_timeout() < published_at + ttl {
        h.heartbeat();
        assert!(
            h.router.fanout_peers(&topic).count() > 0,
            "fanout kept before the TTL"
        );
    }
    h.heartbeat();
    assert_eq!(
        h.router.fanout_peers(&topic).count(),
        0,
        "fanout dropped after the TTL"
    );
}

#[test]
fn publish_without_flood_uses_mesh_and_with_flood_uses_all_subscribers() {
    let mut b = config();
    b.flood_publish(false);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.add_peers(20, &topic, false);
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.drain();
    let id = h.router.publish(h.now, topic.clone(), vec![1u8]).unwrap();
    let sends = message_sends(&h.drain(), &id);
    assert_eq!(sends.len(), h.router.config().mesh_n());
    assert!(sends.iter().all(|(_, c)| *c == SendClass::Publish));

    let mut h = Harness::new(config().build().unwrap());
    h.add_peers(20, &topic, false);
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.drain();
    let id = h.router.publish(h.now, topic.clone(), vec![1u8]).unwrap();
    assert_eq!(message_sends(&h.drain(), &id).len(), 20);
}

#[test]
fn ihave_iwant_message_round_trip() {
    let topic = Harness::topic();
    // Node A has a message in its cache; node B is subscribed but outside A's mesh.
    let mut a = Harness::new(config().build().unwrap());
    let mut b = Harness::new(config().build().unwrap());
    a.router.subscribe(a.now, topic.clone()).unwrap();
    b.router.subscribe(b.now, topic.clone()).unwrap();
    let a_mesh = a.add_peers(6, &topic, false);
    a.heartbeat();
    // B connects to A after A's mesh is full, so B is a gossip target of A.
    for (r, other, now) in [
        (&mut a.router, b.local, a.now),
        (&mut b.router, a.local, b.now),
    ] {
        r.add_peer(now, other, false);
        r.set_peer_kind(other, PeerKind::Gossipsubv1_2);
        r.handle_rpc(
            now,
            other,
            Rpc {
                subscriptions: vec![Subscription {
                    options: Default::default(),
                    subscribe: true,
                    topic: topic.clone(),
                }],
                ..Rpc::default()
            },
        );
    }
    a.drain();
    b.drain();
    let m = message(a_mesh[0], 42, &topic, 10);
    let id = id_of(&a, &m);
    a.router.handle_rpc(a.now, a_mesh[0], msg_rpc(m));
    a.drain();
    // Heartbeats until A gossips to B (D_lazy covers all non-mesh peers here).
    let ihave = loop {
        let actions = a.heartbeat();
        if let Some(c) = control_to(&actions, b.local)
            .into_iter()
            .find(|c| matches!(c, ControlAction::IHave { .. }))
        {
            break c;
        }
        assert!(a.router.heartbeat_ticks() < 5, "A never sent IHAVE to B");
    };
    let ControlAction::IHave { message_ids, .. } = &ihave else {
        unreachable!()
    };
    assert_eq!(message_ids, &vec![id.clone()]);
    // B answers with IWANT.
    b.router.handle_rpc(b.now, a.local, control_rpc(ihave));
    let iwant = control_to(&b.drain(), a.local);
    assert_eq!(
        iwant,
        vec![ControlAction::IWant {
            message_ids: vec![id.clone()]
        }]
    );
    // A serves the message; B delivers it.
    a.router
        .handle_rpc(a.now, b.local, control_rpc(iwant[0].clone()));
    let served: Vec<Rpc> = a
        .drain()
        .into_iter()
        .filter_map(|x| match x {
            Action::Send { peer, rpc, .. } if peer == b.local && !rpc.messages.is_empty() => {
                Some(rpc)
            }
            _ => None,
        })
        .collect();
    assert_eq!(served.len(), 1);
    b.router.handle_rpc(b.now, a.local, served[0].clone());
    assert_eq!(delivered(&b.drain()), vec![id.clone()]);
    // A second IHAVE for the same id no longer triggers an IWANT.
    b.router.handle_rpc(
        b.now,
        a.local,
        control_rpc(ControlAction::IHave {
            topic: topic.clone(),
            message_ids: vec![id],
        }),
    );
    assert!(control_to(&b.drain(), a.local).is_empty());
}

#[test]
fn duplicates_are_delivered_and_forwarded_once() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(8, &topic, false);
    h.heartbeat();
    let m = message(peers[0], 1, &topic, 10);
    let id = id_of(&h, &m);
    h.router.handle_rpc(h.now, peers[0], msg_rpc(m.clone()));
    let first = h.drain();
    assert_eq!(delivered(&first), vec![id.clone()]);
    let forwards = message_sends(&first, &id);
    assert!(!forwards.is_empty());
    assert!(
        forwards
            .iter()
            .all(|(p, c)| *p != peers[0] && *c == SendClass::Forward)
    );
    for p in &peers[1..] {
        h.router.handle_rpc(h.now, *p, msg_rpc(m.clone()));
    }
    let later = h.drain();
    assert!(delivered(&later).is_empty());
    assert!(message_sends(&later, &id).is_empty());
    assert_eq!(h.router.counters().messages_duplicate, 7);
}

/// With `report_duplicates`, every duplicate reaches the application as an event (the
/// test-plans node logs each one); without it, none does.
#[test]
fn duplicates_are_reported_only_when_asked() {
    for report in [false, true] {
        let mut c = config();
        c.report_duplicates(report);
        let mut h = Harness::new(c.build().unwrap());
        let topic = Harness::topic();
        h.router.subscribe(h.now, topic.clone()).unwrap();
        let peers = h.add_peers(4, &topic, false);
        h.heartbeat();
        let m = message(peers[0], 1, &topic, 10);
        let id = id_of(&h, &m);
        for p in &peers {
            h.router.handle_rpc(h.now, *p, msg_rpc(m.clone()));
        }
        let duplicates: Vec<(PeerId, MessageId, TopicHash)> = h
            .drain()
            .into_iter()
            .filter_map(|a| match a {
                Action::Event(Event::Duplicate {
                    propagation_source,
                    message_id,
                    topic,
                }) => Some((propagation_source, message_id, topic)),
                _ => None,
            })
            .collect();
        let expected: Vec<_> = if report {
            peers[1..]
                .iter()
                .map(|p| (*p, id.clone(), topic.clone()))
                .collect()
        } else {
            Vec::new()
        };
        assert_eq!(duplicates, expected, "report_duplicates({report})");
        assert_eq!(h.router.counters().messages_duplicate, 3);
    }
}

/// Without `CancelForward` actions (the simulator's setting) an IDONTWANT still stops the
/// forward to the peer that sent it, and the router's other outputs stay the same.
#[test]
fn idontwant_without_cancel_actions_still_suppresses_forwarding() {
    let mut outputs = Vec::new();
    for cancel in [true, false] {
        let mut h = Harness::new(config().build().unwrap());
        h.router.set_cancel_forwards(cancel);
        let topic = Harness::topic();
        h.router.subscribe(h.now, topic.clone()).unwrap();
        let peers = h.add_peers(6, &topic, false);
        h.heartbeat();
        let threshold = h.router.config().idontwant_message_size_threshold();
        let m = message(peers[0], 9, &topic, threshold);
        let id = id_of(&h, &m);
        let refuser = peers[1];
        h.router.handle_rpc(
            h.now,
            refuser,
            control_rpc(ControlAction::IDontWant {
                message_ids: vec![id.clone()],
            }),
        );
        let cancels = h.drain();
        assert_eq!(
            cancels
                .iter()
                .any(|a| matches!(a, Action::CancelForward { peer, .. } if *peer == refuser)),
            cancel
        );
        h.router.handle_rpc(h.now, peers[0], msg_rpc(m));
        let actions = h.drain();
        let sends = message_sends(&actions, &id);
        assert!(!sends.iter().any(|(p, _)| *p == refuser), "cancel {cancel}");
        assert_eq!(sends.len(), 4, "cancel {cancel}");
        // The outputs with peers named by their index (the peers are random per run).
        let shape: Vec<String> = actions
            .iter()
            .map(|a| match a {
                Action::Send {
                    peer, rpc, class, ..
                } => format!(
                    "send {:?} {class:?}: {} messages, {} control, IDONTWANT for it: {}",
                    peers.iter().position(|p| p == peer),
                    rpc.messages.len(),
                    rpc.control.len(),
                    control_to(&actions, *peer)
                        .iter()
                        .any(|c| matches!(c, ControlAction::IDontWant { message_ids } if message_ids == std::slice::from_ref(&id))),
                ),
                Action::Event(Event::Message { .. }) => "message".to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        // Peer ids are random per run, so map iteration orders differ between the two.
        let mut shape = shape;
        shape.sort();
        outputs.push(shape);
    }
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn idontwant_is_sent_for_large_messages_and_suppresses_forwarding() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    // D = 6 subscribers, so all of them end up in the mesh.
    let peers = h.add_peers(5, &topic, false);
    let v11 = h.add_peers_kind(1, &topic, false, PeerKind::Gossipsubv1_1)[0];
    h.heartbeat();
    let mesh: Vec<PeerId> = h.router.mesh_peers(&topic).copied().collect();
    assert!(mesh.contains(&v11));
    let threshold = h.router.config().idontwant_message_size_threshold();
    let m = message(peers[0], 9, &topic, threshold);
    let id = id_of(&h, &m);
    // A mesh peer tells us it does not want the message before we get it.
    let refuser = *mesh.iter().find(|p| **p != peers[0] && **p != v11).unwrap();
    h.router.handle_rpc(
        h.now,
        refuser,
        control_rpc(ControlAction::IDontWant {
            message_ids: vec![id.clone()],
        }),
    );
    let cancel = h.drain();
    assert!(
        cancel
            .iter()
            .any(|a| matches!(a, Action::CancelForward { peer, .. } if *peer == refuser))
    );
    h.router.handle_rpc(h.now, peers[0], msg_rpc(m));
    let actions = h.drain();
    let sends = message_sends(&actions, &id);
    assert!(
        !sends.iter().any(|(p, _)| *p == refuser),
        "IDONTWANT honoured"
    );
    assert!(
        !sends.iter().any(|(p, _)| *p == peers[0]),
        "not sent back to its source"
    );
    // IDONTWANT went to meshsub-1.2 mesh peers other than the source, never to the 1.1 peer.
    for p in &mesh {
        let got = control_to(&actions, *p)
            .iter()
            .any(|c| matches!(c, ControlAction::IDontWant { .. }));
        assert_eq!(got, *p != peers[0] && *p != v11, "peer {p}");
    }
    // Small messages trigger no IDONTWANT.
    let small = message(peers[0], 10, &topic, 1);
    h.router.handle_rpc(h.now, peers[0], msg_rpc(small));
    let actions = h.drain();
    assert!(mesh.iter().all(|p| {
        !control_to(&actions, *p)
            .iter()
            .any(|c| matches!(c, ControlAction::IDontWant { .. }))
    }));
}

#[test]
fn unsubscribe_prunes_the_mesh_with_unsubscribe_backoff() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.add_peers(8, &topic, false);
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.drain();
    let mesh: Vec<PeerId> = h.router.mesh_peers(&topic).copied().collect();
    assert_eq!(mesh.len(), h.router.config().mesh_n());
    assert!(h.router.unsubscribe(h.now, &topic));
    let actions = h.drain();
    let backoff = h.router.config().unsubscribe_backoff().as_secs();
    for p in &mesh {
        let control = control_to(&actions, *p);
        assert!(
            control.contains(&ControlAction::Prune {
                topic: topic.clone(),
                peers: vec![],
                backoff: Some(backoff)
            }),
            "{p} not pruned: {control:?}"
        );
    }
    // The unsubscription is announced to every peer.
    let announced = actions
        .iter()
        .filter(|a| matches!(a, Action::Send { rpc, .. } if rpc.subscriptions.iter().any(|s| !s.subscribe)))
        .count();
    assert_eq!(announced, 8);
    assert_eq!(h.mesh_len(&topic), 0);
    assert_eq!(h.router.topics().count(), 0);
}

#[test]
fn graft_and_prune_for_unknown_topics_create_no_state() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let p = h.add_peers(1, &topic, false)[0];
    let unknown = TopicHash::from_raw("unknown");
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::Graft {
            topic: unknown.clone(),
        }),
    );
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::Prune {
            topic: unknown.clone(),
            peers: vec![],
            backoff: Some(10),
        }),
    );
    assert!(
        h.drain().iter().all(|a| !matches!(a, Action::Send { .. })),
        "no PRUNE reply"
    );
    assert_eq!(h.router.mesh_peers(&unknown).count(), 0);
    assert!(h.router.backoff.is_empty());
    assert_eq!(h.router.counters().graft_refused, 1);
    assert_eq!(h.router.counters().prune_ignored, 1);
}

#[test]
fn graft_during_backoff_is_answered_with_prune() {
    let (mut h, topic, p) = Harness::subscribed_with_peer(config().build().unwrap(), false);
    h.heartbeat();
    assert_eq!(h.mesh_len(&topic), 1);
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::Prune {
            topic: topic.clone(),
            peers: vec![],
            backoff: Some(30),
        }),
    );
    assert_eq!(h.mesh_len(&topic), 0);
    // Our heartbeat does not re-GRAFT it during the backoff.
    let actions = h.heartbeat();
    assert!(
        !control_to(&actions, p)
            .iter()
            .any(|c| matches!(c, ControlAction::Graft { .. }))
    );
    // Its own GRAFT during the backoff is refused.
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::Graft {
            topic: topic.clone(),
        }),
    );
    let reply = control_to(&h.drain(), p);
    assert!(
        reply
            .iter()
            .any(|c| matches!(c, ControlAction::Prune { .. }))
    );
    assert_eq!(h.mesh_len(&topic), 0);
    // After the backoff (plus slack) the heartbeat grafts it again.
    h.advance(Duration::from_secs(65));
    let actions = h.heartbeat();
    assert!(
        control_to(&actions, p)
            .iter()
            .any(|c| matches!(c, ControlAction::Graft { .. }))
    );
}

#[test]
fn ihave_budget_per_heartbeat_is_respected() {
    let mut b = config();
    b.max_ihave_messages(2).max_ihave_length(5);
    let (mut h, topic, p) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    h.drain();
    let ids = |start: u8| {
        (start..start + 4)
            .map(|i| MessageId::new(vec![i]))
            .collect::<Vec<_>>()
    };
    let mut asked = 0;
    for round in 0..3u8 {
        h.router.handle_rpc(
            h.now,
            p,
            control_rpc(ControlAction::IHave {
                topic: topic.clone(),
                message_ids: ids(round * 10),
            }),
        );
        for c in control_to(&h.drain(), p) {
            if let ControlAction::IWant { message_ids } = c {
                asked += message_ids.len();
            }
        }
    }
    assert_eq!(
        asked, 5,
        "max_ihave_length caps the ids asked per heartbeat"
    );
    assert_eq!(
        h.router.counters().ihave_ignored,
        1,
        "the third IHAVE is over max_ihave_messages"
    );
    // The budget is refreshed at the heartbeat.
    h.heartbeat();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::IHave {
            topic: topic.clone(),
            message_ids: ids(100),
        }),
    );
    assert!(
        control_to(&h.drain(), p)
            .iter()
            .any(|c| matches!(c, ControlAction::IWant { .. }))
    );
}

#[test]
fn iwant_is_served_at_most_gossip_retransmission_times() {
    let (mut h, topic, p) = Harness::subscribed_with_peer(config().build().unwrap(), false);
    h.drain();
    let id = h.router.publish(h.now, topic.clone(), vec![5u8]).unwrap();
    h.drain();
    let retransmissions = h.router.config().gossip_retransmission();
    let mut served = 0;
    for _ in 0..retransmissions + 2 {
        h.router.handle_rpc(
            h.now,
            p,
            control_rpc(ControlAction::IWant {
                message_ids: vec![id.clone()],
            }),
        );
        served += message_sends(&h.drain(), &id).len();
    }
    assert_eq!(served, retransmissions as usize);
}

#[test]
fn messages_for_unsubscribed_topics_and_invalid_ones_are_dropped() {
    let mut b = config();
    b.validation_mode(ValidationMode::Anonymous);
    let config = b.build().unwrap();
    let local = PeerId::random();
    let now = crate::test_util::epoch();
    let mut router = Router::new(config, MessageAuthenticity::Anonymous, 1, 1, now).unwrap();
    let topic = Harness::topic();
    router.subscribe(now, topic.clone()).unwrap();
    let p = PeerId::random();
    router.add_peer(now, p, false);
    router.set_peer_kind(p, PeerKind::Gossipsubv1_2);
    // Signed-style fields are invalid in anonymous mode.
    router.handle_rpc(now, p, msg_rpc(message(local, 1, &topic, 3)));
    router.handle_rpc(
        now,
        p,
        msg_rpc(message(local, 1, &TopicHash::from_raw("other"), 3)),
    );
    let delivered_any = std::iter::from_fn(|| router.poll_action())
        .any(|a| matches!(a, Action::Event(Event::Message { .. })));
    assert!(!delivered_any);
    assert_eq!(router.counters().messages_invalid, 1);
    assert_eq!(router.counters().messages_unsubscribed_topic, 1);
    // A valid anonymous message still gets through afterwards.
    let mut ok = message(local, 0, &topic, 3);
    ok.source = None;
    ok.sequence_number = None;
    router.handle_rpc(now, p, msg_rpc(ok));
    assert!(
        std::iter::from_fn(|| router.poll_action())
            .any(|a| matches!(a, Action::Event(Event::Message { .. })))
    );
}

#[test]
fn validation_mode_holds_forwarding_until_accept() {
    let mut b = config();
    b.validate_messages(true);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(6, &topic, false);
    h.heartbeat();
    let m1 = message(peers[0], 1, &topic, 4);
    let m2 = message(peers[0], 2, &topic, 4);
    let (id1, id2) = (id_of(&h, &m1), id_of(&h, &m2));
    h.router.handle_rpc(
        h.now,
        peers[0],
        Rpc {
            messages: vec![m1, m2],
            ..Rpc::default()
        },
    );
    let actions = h.drain();
    assert_eq!(delivered(&actions).len(), 2);
    assert!(
        message_sends(&actions, &id1).is_empty(),
        "not forwarded before validation"
    );
    assert!(
        h.router
            .report_validation(h.now, &id1, &peers[0], MessageAcceptance::Accept)
    );
    assert!(!message_sends(&h.drain(), &id1).is_empty());
    assert!(
        h.router
            .report_validation(h.now, &id2, &peers[0], MessageAcceptance::Reject)
    );
    assert!(message_sends(&h.drain(), &id2).is_empty());
    assert!(
        !h.router
            .report_validation(h.now, &id2, &peers[0], MessageAcceptance::Accept),
        "already reported"
    );
    assert_eq!(h.router.counters().messages_rejected, 1);
}

#[test]
fn reconnecting_peer_learns_subscriptions_again_and_floodsub_gets_no_control() {
    let mut b = config();
    b.support_floodsub(true);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let p = PeerId::random();
    for _ in 0..2 {
        h.router.add_peer(h.now, p, false);
        // Our subscriptions go out once its protocol is known (nothing before).
        assert!(h.drain().is_empty());
        h.router.set_peer_kind(p, PeerKind::Gossipsubv1_2);
        let actions = h.drain();
        let subs: Vec<_> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Send {
                    peer,
                    rpc,
                    class: SendClass::Control,
                    ..
                } if *peer == p => Some(rpc.subscriptions.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(
            subs,
            vec![Subscription {
                options: Default::default(),
                subscribe: true,
                topic: topic.clone()
            }]
        );
        h.router.remove_peer(&p);
    }
    let flood = h.add_peers_kind(1, &topic, false, PeerKind::Floodsub)[0];
    let actions = h.heartbeat();
    assert!(control_to(&actions, flood).is_empty());
    assert_eq!(
        h.mesh_len(&topic),
        0,
        "floodsub peers are never in the mesh"
    );
    let id = h.router.publish(h.now, topic.clone(), vec![1u8]).unwrap();
    assert_eq!(
        message_sends(&h.drain(), &id),
        vec![(flood, SendClass::Publish)]
    );
}

#[test]
fn unsupported_peer_is_reported_once_and_ignored() {
    let mut h = Harness::new(config().build().unwrap());
    let p = PeerId::random();
    h.router.add_peer(h.now, p, true);
    h.router.set_peer_kind(p, PeerKind::NotSupported);
    h.router.set_peer_kind(p, PeerKind::NotSupported);
    let events = h
        .drain()
        .into_iter()
        .filter(|a| matches!(a, Action::Event(Event::GossipsubNotSupported { .. })))
        .count();
    assert_eq!(events, 1);
    h.router.handle_rpc(h.now, p, Rpc::default());
    assert_eq!(h.router.counters().rpcs_from_unsupported_peer, 1);
}

#[test]
fn same_seed_same_decisions() {
    let run = || {
        let local = PeerId::from_bytes(&[0, 2, 8, 1]).ok();
        let _ = local;
        let now = crate::test_util::epoch();
        let peers: Vec<PeerId> = (0..30u8)
            .map(|i| {
                libp2p_identity::Keypair::ed25519_from_bytes([i; 32])
                    .unwrap()
                    .public()
                    .to_peer_id()
            })
            .collect();
        let mut r = Router::new(
            config().build().unwrap(),
            MessageAuthenticity::Anonymous,
            99,
            1,
            now,
        );
        // Anonymous authenticity needs anonymous-compatible validation: None is fine.
        let r = r.as_mut().unwrap();
        let topic = Harness::topic();
        for p in &peers {
            r.add_peer(now, *p, false);
            r.set_peer_kind(*p, PeerKind::Gossipsubv1_2);
            r.handle_rpc(
                now,
                *p,
                Rpc {
                    subscriptions: vec![Subscription {
                        options: Default::default(),
                        subscribe: true,
                        topic: topic.clone(),
                    }],
                    ..Rpc::default()
                },
            );
        }
        r.subscribe(now, topic.clone()).unwrap();
        let mut mesh: Vec<PeerId> = r.mesh_peers(&topic).copied().collect();
        mesh.sort();
        mesh
    };
    assert_eq!(run(), run());
}

/// Every IHAVE target of a heartbeat gets the topic's gossip ids, cut to `max_ihave_length`
/// (a random choice when there are more): the first and the last target alike.
#[test]
fn every_gossip_target_gets_the_ids_cut_to_max_ihave_length() {
    for (max_length, published) in [(5, 12u64), (5000, 12)] {
        let mut b = config();
        b.max_ihave_length(max_length);
        let mut h = Harness::new(b.build().unwrap());
        let topic = Harness::topic();
        h.router.subscribe(h.now, topic.clone()).unwrap();
        let peers = h.add_peers(30, &topic, false);
        h.heartbeat();
        let mesh: Vec<PeerId> = h.router.mesh_peers(&topic).copied().collect();
        let mut ids = std::collections::BTreeSet::new();
        for seqno in 0..published {
            let m = message(mesh[0], seqno, &topic, 10);
            ids.insert(id_of(&h, &m));
            h.router.handle_rpc(h.now, mesh[0], msg_rpc(m));
        }
        h.drain();
        let actions = h.heartbeat();
        let mut targets = 0;
        for p in peers.iter().filter(|p| !mesh.contains(p)) {
            for c in control_to(&actions, *p) {
                let ControlAction::IHave { message_ids, .. } = c else {
                    continue;
                };
                targets += 1;
                let got: std::collections::BTreeSet<_> = message_ids.iter().cloned().collect();
                assert_eq!(got.len(), message_ids.len(), "no id twice");
                assert_eq!(got.len(), ids.len().min(max_length), "to {p}");
                assert!(got.is_subset(&ids));
            }
        }
        assert!(
            targets >= h.router.config().gossip_lazy(),
            "{targets} targets"
        );
    }
}
