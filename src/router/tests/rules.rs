//! Tests of protocol rules where we must agree with compliant peers (go-libp2p-pubsub,
//! libp2p-gossipsub, nim-libp2p): backoff timing, implicit subscriptions by GRAFT, graylisting,
//! direct peers, fanout selection, gossip budgets, D_out, IDONTWANT, PX and the bootstrapper
//! setup; and the bounded replies to remote input (one PRUNE per heartbeat, the backoff table,
//! promises of departed peers, forged self-origin messages).

use super::*;
use crate::filter::AllowListSubscriptionFilter;
use crate::score::{PeerScoreParams, PeerScoreThresholds};

fn graft(topic: &TopicHash) -> Rpc {
    control_rpc(ControlAction::Graft {
        topic: topic.clone(),
    })
}

fn prunes(actions: &[Action], peer: PeerId) -> Vec<ControlAction> {
    control_to(actions, peer)
        .into_iter()
        .filter(|c| matches!(c, ControlAction::Prune { .. }))
        .collect()
}

fn grafts(actions: &[Action], peer: PeerId) -> usize {
    control_to(actions, peer)
        .iter()
        .filter(|c| matches!(c, ControlAction::Graft { .. }))
        .count()
}

fn dials(actions: &[Action]) -> Vec<PeerId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Dial { peer, .. } => Some(*peer),
            _ => None,
        })
        .collect()
}

/// A harness with scoring on; `set_score` gives a peer an exact score through P5.
fn scored(b: ConfigBuilder) -> Harness {
    let mut h = Harness::new(b.build().unwrap());
    h.router
        .with_peer_score(PeerScoreParams::default(), PeerScoreThresholds::default())
        .unwrap();
    h
}

fn set_score(h: &mut Harness, peer: PeerId, score: f64) {
    assert!(h.router.set_application_score(&peer, score / 10.0));
}

fn subscribe_rpc(topic: &TopicHash) -> Rpc {
    Rpc {
        subscriptions: vec![Subscription {
            options: Default::default(),
            subscribe: true,
            topic: topic.clone(),
        }],
        ..Rpc::default()
    }
}

/// A connected meshsub-1.2 peer that has not announced any subscription.
fn add_silent_peer(h: &mut Harness, outbound: bool) -> PeerId {
    let p = PeerId::random();
    h.router.add_peer(h.now, p, outbound);
    h.router.set_peer_kind(p, PeerKind::Gossipsubv1_2);
    p
}

// ---- B1: inbound GRAFTs are checked against the exact backoff ----

#[test]
fn inbound_graft_right_when_backoff_ends_is_accepted() {
    let mut b = config();
    b.mesh_n(2)
        .mesh_n_low(1)
        .mesh_n_high(2)
        .mesh_outbound_min(0);
    b.retain_scores(1);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let full = h.add_peers(2, &topic, false);
    h.heartbeat();
    assert_eq!(h.mesh_len(&topic), 2);
    // The mesh is at D_hi: an inbound GRAFT is refused with PRUNE and the prune backoff.
    let p = h.add_peers(1, &topic, false)[0];
    h.drain();
    h.router.handle_rpc(h.now, p, graft(&topic));
    let pruned_at = h.now;
    assert_eq!(prunes(&h.drain(), p).len(), 1);
    // Room appears; the peer GRAFTs exactly when the backoff it was told ends.
    h.router.remove_peer(&full[0]);
    let backoff = h.router.config().prune_backoff();
    h.now = pruned_at + backoff;
    h.router.handle_rpc(h.now, p, graft(&topic));
    assert!(
        prunes(&h.drain(), p).is_empty(),
        "a GRAFT at the end of the backoff is legitimate"
    );
    assert!(h.router.mesh_peers(&topic).any(|m| *m == p));
}

#[test]
fn our_own_grafts_wait_for_the_backoff_slack() {
    let mut b = config();
    b.backoff_slack(2);
    let (mut h, topic, p) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    h.heartbeat();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::Prune {
            topic: topic.clone(),
            peers: vec![],
            backoff: Some(10),
        }),
    );
    let pruned_at = h.now;
    let interval = h.router.config().heartbeat_interval();
    let mut first_graft = None;
    for _ in 0..30 {
        let actions = h.heartbeat();
        if grafts(&actions, p) > 0 {
            first_graft = Some(h.now);
            break;
        }
    }
    let at = first_graft.expect("grafted again after the backoff");
    assert!(
        at >= pruned_at + Duration::from_secs(10) + interval * 2,
        "our GRAFT came {:?} after the PRUNE, before backoff + slack",
        at - pruned_at
    );
}

#[test]
fn graft_flood_penalty_follows_the_prune_backoff_rule() {
    // go and js: the extra penalty applies before `expiry - prune_backoff + threshold`. After
    // our unsubscribe (10 s backoff) that instant is already past: one penalty, not two.
    let mut h = scored(config());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let p = h.add_peers(1, &topic, false)[0];
    h.heartbeat();
    h.router.unsubscribe(h.now, &topic);
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.drain();
    h.router.handle_rpc(h.now, p, graft(&topic));
    let b = h.router.peer_score_breakdown(&p).unwrap();
    assert_eq!(b.behaviour_penalty.counter, 1.0, "{b}");
}

// ---- B2: GRAFT from a peer whose SUBSCRIBE we have not seen ----

#[test]
fn graft_without_subscribe_is_an_implicit_subscription() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let p = add_silent_peer(&mut h, false);
    h.drain();
    h.router.handle_rpc(h.now, p, graft(&topic));
    let actions = h.drain();
    assert!(prunes(&actions, p).is_empty());
    assert!(h.router.mesh_peers(&topic).any(|m| *m == p));
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Event(Event::Subscribed { peer_id, .. }) if *peer_id == p
    )));
    // It stays in the mesh through the heartbeat (it is subscribed now).
    h.heartbeat();
    assert!(h.router.mesh_peers(&topic).any(|m| *m == p));
}

#[test]
fn graft_without_subscribe_for_a_filtered_topic_is_pruned() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    // The filter changes after we joined: the topic is no longer tracked for remote peers.
    h.router
        .set_subscription_filter(AllowListSubscriptionFilter(Default::default()));
    let p = add_silent_peer(&mut h, false);
    h.drain();
    h.router.handle_rpc(h.now, p, graft(&topic));
    assert_eq!(prunes(&h.drain(), p).len(), 1);
    assert!(!h.router.mesh_peers(&topic).any(|m| *m == p));

    // The per-peer topic cap also applies.
    let mut b = config();
    b.max_topics_per_peer(1);
    let mut h = Harness::new(b.build().unwrap());
    let other = TopicHash::from_raw("other");
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let q = h.add_peers(1, &other, false)[0];
    h.drain();
    h.router.handle_rpc(h.now, q, graft(&topic));
    assert_eq!(prunes(&h.drain(), q).len(), 1);
    assert!(!h.router.mesh_peers(&topic).any(|m| *m == q));
}

// ---- B3: graylisted peers' subscriptions, direct peers never graylisted ----

#[test]
fn graylisted_peer_subscriptions_are_still_tracked() {
    let mut h = scored(config());
    let topic = Harness::topic();
    let p = add_silent_peer(&mut h, false);
    set_score(&mut h, p, -100.0);
    h.router.handle_rpc(h.now, p, subscribe_rpc(&topic));
    assert_eq!(h.router.counters().rpcs_graylisted, 1);
    let topics: Vec<TopicHash> = h
        .router
        .all_peers()
        .find(|(q, _)| **q == p)
        .map(|(_, t)| t.into_iter().cloned().collect())
        .unwrap();
    assert_eq!(topics, vec![topic]);
}

#[test]
fn direct_peers_are_never_graylisted() {
    let direct = PeerId::random();
    let mut b = config();
    b.direct_peers([direct]);
    let mut h = scored(b);
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.router.add_peer(h.now, direct, true);
    h.router.set_peer_kind(direct, PeerKind::Gossipsubv1_2);
    h.router.handle_rpc(h.now, direct, subscribe_rpc(&topic));
    set_score(&mut h, direct, -100.0);
    h.drain();
    h.router
        .handle_rpc(h.now, direct, msg_rpc(message(direct, 1, &topic, 5)));
    assert_eq!(delivered(&h.drain()).len(), 1);
    assert_eq!(h.router.counters().rpcs_graylisted, 0);
}

// ---- B4: direct peers are dialled right after start ----

#[test]
fn direct_peers_are_dialled_at_the_first_heartbeat() {
    let direct = PeerId::random();
    let mut b = config();
    b.direct_peers([direct]);
    let mut h = Harness::new(b.build().unwrap());
    let actions = h.heartbeat();
    assert_eq!(dials(&actions), vec![direct]);
    // Then only every direct_connect_ticks.
    let mut later = Vec::new();
    for _ in 2..h.router.config().direct_connect_ticks() {
        later.extend(dials(&h.heartbeat()));
    }
    assert!(
        later.is_empty(),
        "dialled again before direct_connect_ticks"
    );
    assert_eq!(dials(&h.heartbeat()), vec![direct]);
}

// ---- B5: fanout and floodsub peer selection ----

#[test]
fn join_takes_only_graftable_fanout_peers() {
    let direct = PeerId::random();
    let mut b = config();
    b.flood_publish(false).direct_peers([direct]);
    let mut h = scored(b);
    let topic = Harness::topic();
    let peers = h.add_peers(6, &topic, false);
    h.router.add_peer(h.now, direct, true);
    h.router.set_peer_kind(direct, PeerKind::Gossipsubv1_2);
    h.router.handle_rpc(h.now, direct, subscribe_rpc(&topic));
    // While subscribed, one peer PRUNEs us with a long backoff; then we leave the topic and
    // wait out the unsubscribe backoff.
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.heartbeat();
    let (negative, backed_off) = (peers[0], peers[1]);
    h.router.handle_rpc(
        h.now,
        backed_off,
        control_rpc(ControlAction::Prune {
            topic: topic.clone(),
            peers: vec![],
            backoff: Some(600),
        }),
    );
    h.router.unsubscribe(h.now, &topic);
    let left = h.now;
    while h.now < left + Duration::from_secs(15) {
        h.heartbeat();
    }
    h.router.publish(h.now, topic.clone(), vec![1u8]).unwrap();
    let fanout: Vec<PeerId> = h.router.fanout_peers(&topic).copied().collect();
    assert!(
        !fanout.contains(&direct),
        "direct peers are not fanout peers"
    );
    assert_eq!(fanout.len(), 6);
    // One fanout peer goes negative before we join again.
    set_score(&mut h, negative, -5.0);
    h.drain();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let actions = h.drain();
    let mesh: Vec<PeerId> = h.router.mesh_peers(&topic).copied().collect();
    assert!(!mesh.contains(&negative), "negative peer joined the mesh");
    assert!(
        !mesh.contains(&backed_off),
        "backed-off peer joined the mesh"
    );
    assert_eq!(grafts(&actions, negative) + grafts(&actions, backed_off), 0);
    assert!(!mesh.contains(&direct));
    assert_eq!(mesh.len(), 4);
}

#[test]
fn fanout_upkeep_skips_direct_peers_and_peers_below_publish_threshold() {
    let direct = PeerId::random();
    let mut b = config();
    b.flood_publish(false).direct_peers([direct]).mesh_n(3);
    b.mesh_n_low(2).mesh_outbound_min(1).retain_scores(2);
    let mut h = scored(b);
    let topic = Harness::topic();
    let first = h.add_peers(3, &topic, false);
    h.router.publish(h.now, topic.clone(), vec![1u8]).unwrap();
    // Fanout peers: the first three. New subscribers: a direct peer and a low-scored one.
    h.router.add_peer(h.now, direct, true);
    h.router.set_peer_kind(direct, PeerKind::Gossipsubv1_2);
    h.router.handle_rpc(h.now, direct, subscribe_rpc(&topic));
    let low = h.add_peers(1, &topic, false)[0];
    set_score(&mut h, low, -60.0);
    // A fanout peer leaves; upkeep has only the direct and the low-scored peer to add.
    h.router.remove_peer(&first[0]);
    h.heartbeat();
    let fanout: Vec<PeerId> = h.router.fanout_peers(&topic).copied().collect();
    assert!(!fanout.contains(&direct));
    assert!(!fanout.contains(&low));
    // A fanout peer that fell below publish_threshold is dropped.
    set_score(&mut h, first[1], -60.0);
    h.heartbeat();
    assert!(!h.router.fanout_peers(&topic).any(|p| *p == first[1]));
}

#[test]
fn floodsub_peers_below_publish_threshold_get_no_publish() {
    let mut b = config();
    b.support_floodsub(true);
    let mut h = scored(b);
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.add_peers(2, &topic, false);
    let flood = h.add_peers_kind(2, &topic, false, PeerKind::Floodsub);
    set_score(&mut h, flood[0], -60.0);
    h.drain();
    let id = h.router.publish(h.now, topic.clone(), vec![7u8]).unwrap();
    let sent: Vec<PeerId> = message_sends(&h.drain(), &id)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert!(sent.contains(&flood[1]));
    assert!(!sent.contains(&flood[0]));
}

// ---- B6: max_ihave_messages counts RPCs ----

#[test]
fn ihave_budget_counts_rpcs_not_entries() {
    let mut b = config();
    b.max_ihave_messages(2);
    let mut h = Harness::new(b.build().unwrap());
    let topics: Vec<TopicHash> = (0..11)
        .map(|i| TopicHash::from_raw(format!("t{i}")))
        .collect();
    let p = add_silent_peer(&mut h, false);
    for t in &topics {
        h.router.subscribe(h.now, t.clone()).unwrap();
        h.router.handle_rpc(h.now, p, subscribe_rpc(t));
    }
    h.drain();
    // One RPC gossiping all 11 topics is one IHAVE message.
    let rpc = Rpc {
        control: topics
            .iter()
            .enumerate()
            .map(|(i, t)| ControlAction::IHave {
                topic: t.clone(),
                message_ids: vec![MessageId::new(vec![i as u8])],
            })
            .collect(),
        ..Rpc::default()
    };
    h.router.handle_rpc(h.now, p, rpc);
    let asked: usize = control_to(&h.drain(), p)
        .iter()
        .map(|c| match c {
            ControlAction::IWant { message_ids } => message_ids.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(asked, 11);
    assert_eq!(h.router.counters().ihave_ignored, 0);
    // The third RPC with IHAVE in one heartbeat is over the budget of 2.
    for i in 0..2u8 {
        h.router.handle_rpc(
            h.now,
            p,
            control_rpc(ControlAction::IHave {
                topic: topics[0].clone(),
                message_ids: vec![MessageId::new(vec![100 + i])],
            }),
        );
    }
    let asked = control_to(&h.drain(), p)
        .iter()
        .filter(|c| matches!(c, ControlAction::IWant { .. }))
        .count();
    assert_eq!(asked, 1);
}

// ---- B7: trimming keeps D_out outbound peers whatever D_score is ----

#[test]
fn trimming_keeps_outbound_quota_when_retain_scores_is_large() {
    let mut b = config();
    b.retain_scores(6); // D_score = D, > D - D_out
    let mut h = scored(b);
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let inbound = h.add_peers(12, &topic, false);
    let outbound = h.add_peers(2, &topic, true);
    for p in inbound.iter().chain(&outbound) {
        h.router.handle_rpc(h.now, *p, graft(&topic));
    }
    // The inbound peers score best.
    for p in &inbound {
        set_score(&mut h, *p, 50.0);
    }
    h.drain();
    assert!(h.mesh_len(&topic) > h.router.config().mesh_n_high());
    h.heartbeat();
    assert_eq!(h.mesh_len(&topic), h.router.config().mesh_n());
    let kept_outbound = h
        .router
        .mesh_peers(&topic)
        .filter(|p| outbound.contains(p))
        .count();
    assert_eq!(kept_outbound, h.router.config().mesh_outbound_min());
}

// ---- B9: IWANT vs IDONTWANT, PRUNE backoff 0, PX on leave, bootstrapper ----

#[test]
fn iwant_for_an_id_the_peer_said_it_does_not_want_is_not_served() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(2, &topic, false);
    let m = message(peers[0], 1, &topic, 5);
    let id = id_of(&h, &m);
    h.router.handle_rpc(h.now, peers[0], msg_rpc(m));
    h.drain();
    h.router.handle_rpc(
        h.now,
        peers[1],
        control_rpc(ControlAction::IDontWant {
            message_ids: vec![id.clone()],
        }),
    );
    h.router.handle_rpc(
        h.now,
        peers[1],
        control_rpc(ControlAction::IWant {
            message_ids: vec![id.clone()],
        }),
    );
    assert!(message_sends(&h.drain(), &id).is_empty());
}

#[test]
fn prune_with_zero_backoff_uses_the_default() {
    let (mut h, topic, p) = Harness::subscribed_with_peer(config().build().unwrap(), false);
    h.heartbeat();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::Prune {
            topic: topic.clone(),
            peers: vec![],
            backoff: Some(0),
        }),
    );
    let pruned_at = h.now;
    let backoff = h.router.config().prune_backoff();
    while h.router.poll_timeout() < pruned_at + backoff {
        let actions = h.heartbeat();
        assert_eq!(
            grafts(&actions, p),
            0,
            "re-GRAFTed before the default backoff"
        );
    }
}

#[test]
fn leaving_a_topic_offers_px_when_enabled() {
    let mut b = config();
    b.do_px(true);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(3, &topic, false);
    h.heartbeat();
    h.router.unsubscribe(h.now, &topic);
    let actions = h.drain();
    for p in &peers {
        let offered = prunes(&actions, *p)
            .into_iter()
            .map(|c| match c {
                ControlAction::Prune { peers, backoff, .. } => (peers.len(), backoff),
                _ => unreachable!(),
            })
            .next()
            .expect("PRUNE on leave");
        assert_eq!(
            offered,
            (2, Some(10)),
            "PX of the other peers, unsubscribe backoff"
        );
    }
}

#[test]
fn bootstrapper_configuration_is_valid_and_prunes_with_px() {
    let mut b = config();
    b.mesh_n(0)
        .mesh_n_low(0)
        .mesh_n_high(0)
        .mesh_outbound_min(0)
        .retain_scores(0)
        .do_px(true);
    let mut h = Harness::new(b.build().expect("bootstrapper setup is valid"));
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(4, &topic, false);
    h.heartbeat();
    assert_eq!(h.mesh_len(&topic), 0);
    h.router.handle_rpc(h.now, peers[0], graft(&topic));
    let reply = prunes(&h.drain(), peers[0]);
    assert!(matches!(
        reply.as_slice(),
        [ControlAction::Prune { peers, .. }] if peers.len() == 3
    ));
    assert_eq!(h.mesh_len(&topic), 0);
    // Half-zero setups stay invalid.
    assert!(config().mesh_n(0).mesh_n_low(0).build().is_err());
}

// ---- A4: one PRUNE per (peer, topic) per heartbeat ----

#[test]
fn grafts_in_backoff_get_one_prune_per_heartbeat() {
    let (mut h, topic, p) = Harness::subscribed_with_peer(config().build().unwrap(), false);
    h.heartbeat();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::Prune {
            topic: topic.clone(),
            peers: vec![],
            backoff: Some(60),
        }),
    );
    h.drain();
    let many = Rpc {
        control: (0..1_000)
            .map(|_| ControlAction::Graft {
                topic: topic.clone(),
            })
            .collect(),
        ..Rpc::default()
    };
    h.router.handle_rpc(h.now, p, many.clone());
    h.router.handle_rpc(h.now, p, many.clone());
    assert_eq!(prunes(&h.drain(), p).len(), 1);
    assert!(h.router.counters().prunes_suppressed >= 1_999);
    // Next heartbeat: one more.
    h.heartbeat();
    h.router.handle_rpc(h.now, p, many);
    assert_eq!(prunes(&h.drain(), p).len(), 1);
}

// ---- A10: forged self-origin messages ----

#[test]
fn forged_message_with_our_next_id_does_not_block_our_publish() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(2, &topic, false);
    h.heartbeat();
    // The harness publishes with Author(local) and first seqno 1.
    let forged = message(h.local, 1, &topic, 5);
    h.router.handle_rpc(h.now, peers[0], msg_rpc(forged));
    assert_eq!(h.router.counters().messages_self_origin, 1);
    h.drain();
    h.router
        .publish(h.now, topic.clone(), vec![1u8])
        .expect("our next message id was not marked seen");
}

#[test]
fn self_origin_forgery_relayed_by_an_honest_peer_is_not_penalised() {
    // Without signatures anyone can claim to be us; the peer that relays such a message
    // cannot tell, so it must not lose score (P4) for it.
    let mut h = scored(config());
    let topic = Harness::topic();
    h.router
        .set_topic_params(topic.clone(), crate::score::TopicScoreParams::default())
        .unwrap();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(2, &topic, false);
    h.heartbeat();
    h.router
        .handle_rpc(h.now, peers[0], msg_rpc(message(h.local, 1_000, &topic, 5)));
    assert_eq!(h.router.counters().messages_self_origin, 1);
    let b = h.router.peer_score_breakdown(&peers[0]).unwrap();
    assert!(h.router.peer_score(&peers[0]).unwrap() >= 0.0, "{b}");
}

#[test]
fn message_by_blacklisted_author_does_not_mark_its_id_seen() {
    let mut b = config();
    b.message_id_fn(|m: &crate::types::Message| MessageId::from(m.data.to_vec()));
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(2, &topic, false);
    let bad = PeerId::random();
    h.router.blacklist_peer(bad);
    h.drain();
    // Same content (same id under a content id function), forged as authored by `bad`.
    h.router
        .handle_rpc(h.now, peers[0], msg_rpc(message(bad, 9, &topic, 5)));
    h.router
        .handle_rpc(h.now, peers[1], msg_rpc(message(peers[1], 9, &topic, 5)));
    assert_eq!(delivered(&h.drain()).len(), 1);
}

// ---- A12: backoff table and promises of departed peers ----

#[test]
fn backoff_table_is_bounded_under_churn() {
    let mut b = config();
    b.max_retained_backoffs(50);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    for _ in 0..500 {
        let p = h.add_peers(1, &topic, false)[0];
        h.router.handle_rpc(
            h.now,
            p,
            control_rpc(ControlAction::Prune {
                topic: topic.clone(),
                peers: vec![],
                backoff: Some(3_600),
            }),
        );
        h.router.remove_peer(&p);
    }
    h.drain();
    assert!(h.router.backoff_len() <= 50, "{}", h.router.backoff_len());
    assert!(h.router.counters().backoffs_evicted >= 450);
}

#[test]
fn connected_peers_keep_their_backoff_when_the_table_is_full() {
    let mut b = config();
    b.max_retained_backoffs(5);
    let (mut h, topic, p) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    h.heartbeat();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::Prune {
            topic: topic.clone(),
            peers: vec![],
            backoff: Some(60),
        }),
    );
    for _ in 0..100 {
        let q = h.add_peers(1, &topic, false)[0];
        h.router.handle_rpc(
            h.now,
            q,
            control_rpc(ControlAction::Prune {
                topic: topic.clone(),
                peers: vec![],
                backoff: Some(3_600),
            }),
        );
        h.router.remove_peer(&q);
    }
    h.drain();
    h.router.handle_rpc(h.now, p, graft(&topic));
    assert_eq!(prunes(&h.drain(), p).len(), 1, "p is still in backoff");
}

#[test]
fn broken_promises_of_a_departed_peer_are_penalised() {
    let mut h = scored(config());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let p = h.add_peers(1, &topic, false)[0];
    h.drain();
    h.router.handle_rpc(
        h.now,
        p,
        control_rpc(ControlAction::IHave {
            topic: topic.clone(),
            message_ids: vec![MessageId::new(vec![1])],
        }),
    );
    h.drain();
    // It advertised, we asked, and it left without delivering.
    h.router.remove_peer(&p);
    assert_eq!(h.router.counters().broken_promises, 1);
    h.router.add_peer(h.now, p, false);
    let b = h.router.peer_score_breakdown(&p).unwrap();
    assert_eq!(b.behaviour_penalty.counter, 1.0, "{b}");
}
