//! Per-topic mesh degrees and message size limits (`set_topic_config`,
//! `max_transmit_size_for_topic`): the heartbeat, GRAFT handling, fanout, publish and the
//! inbound size check use the topic's values; other topics keep the global ones.

use super::*;
use crate::config::TopicMeshConfig;
use crate::error::PublishError;

fn small() -> TopicHash {
    TopicHash::from_raw("small-mesh")
}

fn degrees() -> TopicMeshConfig {
    TopicMeshConfig {
        mesh_n: 3,
        mesh_n_low: 2,
        mesh_n_high: 4,
        mesh_outbound_min: 1,
    }
}

fn per_topic_config() -> Config {
    let mut b = config();
    b.set_topic_config(small(), degrees());
    b.build().unwrap()
}

#[test]
fn join_and_heartbeat_use_the_topic_degrees() {
    let mut h = Harness::new(per_topic_config());
    let global = Harness::topic();
    for topic in [&small(), &global] {
        h.add_peers(20, topic, false);
        h.router.subscribe(h.now, topic.clone()).unwrap();
    }
    // Join fills to the topic's D.
    assert_eq!(h.mesh_len(&small()), 3);
    assert_eq!(h.mesh_len(&global), 6);
    h.heartbeat();
    assert_eq!(h.mesh_len(&small()), 3);
    assert_eq!(h.mesh_len(&global), 6);
}

#[test]
fn grafts_are_refused_at_the_topic_d_hi_and_trimmed_to_its_d() {
    let mut h = Harness::new(per_topic_config());
    h.router.subscribe(h.now, small()).unwrap();
    let peers = h.add_peers(8, &small(), false);
    h.drain();
    for p in &peers {
        h.router.handle_rpc(
            h.now,
            *p,
            control_rpc(ControlAction::Graft { topic: small() }),
        );
    }
    // Inbound GRAFTs are refused once the mesh holds D_hi (4) peers, not the global 12.
    assert_eq!(h.mesh_len(&small()), 4);
    let actions = h.drain();
    let pruned = peers
        .iter()
        .filter(|p| {
            control_to(&actions, **p)
                .iter()
                .any(|c| matches!(c, ControlAction::Prune { .. }))
        })
        .count();
    assert_eq!(pruned, 4);

    // An over-full mesh (outbound GRAFTs are let in past D_hi) is trimmed to the topic's D.
    let outbound = h.add_peers(4, &small(), true);
    for p in &outbound {
        h.router.handle_rpc(
            h.now,
            *p,
            control_rpc(ControlAction::Graft { topic: small() }),
        );
    }
    assert_eq!(h.mesh_len(&small()), 8);
    h.heartbeat();
    assert_eq!(h.mesh_len(&small()), 3);
    let mesh: Vec<PeerId> = h.router.mesh_peers(&small()).copied().collect();
    assert!(mesh.iter().any(|p| outbound.contains(p)), "D_out 1 kept");
}

#[test]
fn the_topic_d_out_is_filled_at_the_heartbeat() {
    let mut b = config();
    b.set_topic_config(
        small(),
        TopicMeshConfig {
            mesh_n: 4,
            mesh_n_low: 3,
            mesh_n_high: 8,
            mesh_outbound_min: 2,
        },
    )
    .mesh_outbound_min(0)
    .mesh_n_low(4);
    let mut h = Harness::new(b.build().unwrap());
    h.router.subscribe(h.now, small()).unwrap();
    let inbound = h.add_peers(4, &small(), false);
    for p in &inbound {
        h.router.handle_rpc(
            h.now,
            *p,
            control_rpc(ControlAction::Graft { topic: small() }),
        );
    }
    let outbound = h.add_peers(3, &small(), true);
    h.heartbeat();
    let in_mesh_outbound = h
        .router
        .mesh_peers(&small())
        .filter(|p| outbound.contains(p))
        .count();
    assert_eq!(in_mesh_outbound, 2, "the topic's D_out, not the global 0");
}

#[test]
fn fanout_takes_the_topic_d() {
    let mut h = Harness::new(per_topic_config());
    h.add_peers(10, &small(), false);
    h.router.publish(h.now, small(), b"x".to_vec()).unwrap();
    let actions = h.drain();
    let sends = actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Send {
                    message_id: Some(_),
                    ..
                }
            )
        })
        .count();
    // Flood publish is on by default: every subscribed peer. Turn it off for the fanout.
    assert_eq!(sends, 10);
    let mut b = config();
    b.set_topic_config(small(), degrees()).flood_publish(false);
    let mut h = Harness::new(b.build().unwrap());
    h.add_peers(10, &small(), false);
    h.router.publish(h.now, small(), b"x".to_vec()).unwrap();
    let actions = h.drain();
    let sends = actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Send {
                    message_id: Some(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(sends, 3);
}

fn size_limited() -> (Harness, TopicHash, PeerId) {
    let mut b = config();
    b.max_transmit_size_for_topic(200, Harness::topic());
    let (mut h, topic, peer) = Harness::subscribed_with_peer(b.build().unwrap(), false);
    h.router.subscribe(h.now, small()).unwrap();
    h.add_peers(1, &small(), false);
    h.drain();
    (h, topic, peer)
}

#[test]
fn publishing_over_the_topic_size_fails_and_other_topics_keep_the_global_size() {
    let (mut h, topic, _) = size_limited();
    match h.router.publish(h.now, topic.clone(), vec![1u8; 300]) {
        Err(PublishError::MessageTooLarge { max, .. }) => assert_eq!(max, 200),
        other => panic!("{other:?}"),
    }
    h.router.publish(h.now, topic, vec![1u8; 100]).unwrap();
    h.router.publish(h.now, small(), vec![1u8; 300]).unwrap();
}

#[test]
fn received_messages_over_the_topic_size_are_rejected_and_counted() {
    let (mut h, topic, peer) = size_limited();
    let big = message(peer, 1, &topic, 300);
    h.router.handle_rpc(h.now, peer, msg_rpc(big.clone()));
    assert!(delivered(&h.drain()).is_empty());
    assert_eq!(h.router.counters().messages_over_topic_size, 1);

    let fits = message(peer, 2, &topic, 100);
    h.router.handle_rpc(h.now, peer, msg_rpc(fits.clone()));
    assert_eq!(delivered(&h.drain()), vec![id_of(&h, &fits)]);
    // The same size on a topic without its own limit is fine.
    let other = h.router.mesh_peers(&small()).next().copied();
    let from = other.unwrap_or(peer);
    let elsewhere = message(from, 3, &small(), 300);
    h.router.handle_rpc(h.now, from, msg_rpc(elsewhere.clone()));
    assert_eq!(delivered(&h.drain()), vec![id_of(&h, &elsewhere)]);
    assert_eq!(h.router.counters().messages_over_topic_size, 1);
}

/// With `message_id_len` set, a receiver with our configuration drops every IHAVE, IWANT and
/// IDONTWANT id of another length: a message whose id (from the application's id function)
/// has another length could be pushed through the mesh but never gossiped or cancelled. The
/// mismatch is a local configuration error: the publish says so instead of going quiet.
#[test]
fn publishing_with_an_id_other_receivers_drop_in_gossip_is_a_typed_error() {
    let mut b = config();
    b.message_id_len(Some(20))
        .message_id_fn(|m: &crate::types::Message| MessageId::new(m.data.to_vec()));
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.add_peers(3, &topic, false);
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.drain();
    assert_eq!(
        h.router.publish(h.now, topic.clone(), vec![7u8; 32]),
        Err(PublishError::MessageIdLength { len: 32 })
    );
    assert!(h.drain().iter().all(|a| !matches!(a, Action::Send { .. })));
    // An id of the configured length goes out.
    assert!(h.router.publish(h.now, topic, vec![8u8; 20]).is_ok());
}
