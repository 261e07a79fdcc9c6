//! Hostile input through the Partial Messages extension: regression tests for what a remote
//! peer could do past a bound (groups held after a disconnect, recipients added by gossip,
//! parts metadata held without a byte bound, empty partials charged nothing).

use super::partial::{
    Parts, add_partial_peer, opts, partial_events, partial_rpc, partials_to, three_peers,
};
use super::*;
use crate::types::PartialMessage;

/// The router's invariants hold (the partial-message bookkeeping among them).
fn assert_consistent(h: &Harness) {
    let report = h.router.__invariants(h.now);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}

/// `n` distinct static group ids starting with `prefix`.
fn group_ids(prefix: u8, n: usize) -> Vec<&'static [u8]> {
    (0..n)
        .map(|i| &*Box::leak(vec![prefix, (i >> 8) as u8, i as u8].into_boxed_slice()))
        .collect()
}

/// A partial message on `group` with `metadata` as its parts metadata and no parts.
fn metadata_rpc(topic: &TopicHash, group: &'static [u8], metadata: Vec<u8>) -> Rpc {
    Rpc {
        partial: Some(Box::new(PartialMessage {
            topic: topic.clone(),
            group_id: Bytes::from_static(group),
            message: None,
            metadata: Some(Bytes::from(metadata)),
        })),
        ..Rpc::default()
    }
}

/// Groups a peer opened are released when it disconnects (as go-libp2p-pubsub does). Before,
/// they kept counting against the topic until they expired: 32 sybils opening 8 groups each
/// filled the 255 slots of a topic, disconnected, and honest peers' groups were then refused.
#[test]
fn groups_opened_by_a_peer_are_released_when_it_disconnects() {
    let (mut h, topic, [a, ..]) = three_peers(true);
    let groups = group_ids(b's', 256);
    let mut sybils = Vec::new();
    for chunk in groups.chunks(8) {
        let p = add_partial_peer(&mut h, &topic, opts(false, true), true);
        for g in chunk {
            h.router
                .handle_rpc(h.now, p, partial_rpc(&topic, g, Some(1)));
        }
        sybils.push(p);
    }
    h.drain();
    assert_eq!(
        h.router.partial_groups(&topic),
        (255, 255),
        "the topic is full"
    );
    // We publish to one of the groups: it is ours from then on and stays.
    h.router
        .publish_partial(h.now, topic.clone(), Parts::new(groups[0], &[0]))
        .unwrap();
    h.drain();
    for p in &sybils {
        h.router.remove_peer(p);
    }
    assert_eq!(
        h.router.partial_groups(&topic),
        (1, 0),
        "only the group we published to is left"
    );
    for p in &sybils {
        assert_eq!(h.router.partial_metadata_bytes(Some(p)), 0);
    }
    assert_consistent(&h);
    let refused = h.router.counters().partial_groups_over_cap;
    h.router
        .handle_rpc(h.now, a, partial_rpc(&topic, b"honest", Some(1)));
    assert_eq!(partial_events(&h.drain()).len(), 1, "an honest group opens");
    assert_eq!(h.router.counters().partial_groups_over_cap, refused);
    assert_eq!(h.router.partial_groups(&topic), (2, 1));
    assert_consistent(&h);
}

/// Lazy gossip tells peers outside the mesh our parts metadata; that does not make them
/// recipients of every later publish to the group (before, each heartbeat added a few more,
/// until a publish went to every partial peer of the topic). A gossiped peer that answers
/// becomes one.
#[test]
fn lazy_gossip_does_not_add_publish_recipients() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let peers: Vec<PeerId> = (0..30)
        .map(|_| add_partial_peer(&mut h, &topic, opts(true, true), true))
        .collect();
    h.router
        .subscribe_partial(h.now, topic.clone(), true)
        .unwrap();
    h.drain();
    h.router
        .publish_partial(h.now, topic.clone(), Parts::new(b"g", &[0]))
        .unwrap();
    h.drain();
    let mut gossiped: Vec<PeerId> = Vec::new();
    for _ in 0..3 {
        let actions = h.heartbeat();
        gossiped.extend(
            peers
                .iter()
                .filter(|p| !partials_to(&actions, **p).is_empty())
                .copied(),
        );
    }
    let mesh: Vec<PeerId> = h.router.mesh_peers(&topic).copied().collect();
    gossiped.retain(|p| !mesh.contains(p));
    assert!(!gossiped.is_empty());
    h.router
        .publish_partial(h.now, topic.clone(), Parts::new(b"g", &[0, 1]))
        .unwrap();
    let actions = h.drain();
    let sent_to: Vec<PeerId> = peers
        .iter()
        .filter(|p| !partials_to(&actions, **p).is_empty())
        .copied()
        .collect();
    for p in &sent_to {
        assert!(mesh.contains(p), "{p} is no mesh peer and never asked");
    }
    // A gossiped peer that answers with its metadata gets what it lacks, and later publishes.
    let asker = gossiped[0];
    h.router
        .handle_rpc(h.now, asker, partial_rpc(&topic, b"g", Some(0b01)));
    assert_eq!(partials_to(&h.drain(), asker).len(), 1);
    h.router
        .publish_partial(h.now, topic.clone(), Parts::new(b"g", &[0, 1, 2]))
        .unwrap();
    assert_eq!(partials_to(&h.drain(), asker).len(), 1);
    assert_consistent(&h);
}

/// Parts metadata is at most 1 KiB per peer and group, but one peer could put 1 KiB in every
/// group of every topic (255 peer-opened groups per topic, plus ours): bytes held grew with
/// groups × peers. It is bounded per peer and in total, in bytes.
#[test]
fn parts_metadata_held_from_one_peer_is_bounded_in_bytes() {
    let (mut h, topic, [a, ..]) = three_peers(true);
    let groups = group_ids(b'm', 255);
    for chunk in groups.chunks(8) {
        let p = add_partial_peer(&mut h, &topic, opts(false, true), true);
        for g in chunk {
            h.router
                .handle_rpc(h.now, p, partial_rpc(&topic, g, Some(1)));
        }
    }
    h.drain();
    for g in &groups {
        h.router
            .handle_rpc(h.now, a, metadata_rpc(&topic, g, vec![0xff; 1024]));
    }
    h.drain();
    let held = h.router.partial_metadata_bytes(Some(&a));
    let max = crate::partial::PartialLimits::default().metadata_bytes_per_peer;
    assert!(held <= max, "{held} bytes held from one peer, over {max}");
    assert!(h.router.counters().partial_metadata_over_budget > 0);
    assert_consistent(&h);
    // The peer's groups expire: what it held is released.
    for _ in 0..6 {
        h.heartbeat();
    }
    assert_eq!(h.router.partial_groups(&topic), (0, 0));
    assert_eq!(h.router.partial_metadata_bytes(None), 0);
    assert_consistent(&h);
}

/// All peers together hold at most `metadata_bytes_total`; the limits are checked.
#[test]
fn parts_metadata_held_from_all_peers_is_bounded_in_bytes() {
    let (mut h, topic, _) = three_peers(true);
    let per_peer = 4 * 1024;
    let total = 3 * per_peer;
    let limits = crate::partial::PartialLimits {
        metadata_bytes_per_peer: per_peer,
        metadata_bytes_total: total,
        ..Default::default()
    };
    h.router.set_partial_limits(limits).unwrap();
    let groups = group_ids(b't', 8);
    for _ in 0..10 {
        let p = add_partial_peer(&mut h, &topic, opts(false, true), true);
        for g in &groups {
            h.router
                .handle_rpc(h.now, p, metadata_rpc(&topic, g, vec![1; 1024]));
        }
        assert!(h.router.partial_metadata_bytes(Some(&p)) <= per_peer);
    }
    h.drain();
    assert!(h.router.partial_metadata_bytes(None) <= total);
    assert!(h.router.counters().partial_metadata_over_budget > 0);
    assert_consistent(&h);
    // The limits are checked.
    assert!(matches!(
        h.router.set_partial_limits(crate::partial::PartialLimits {
            metadata_bytes_per_peer: 1024,
            ..limits
        }),
        Err(crate::partial::PartialLimitsError::InvalidMetadataBounds { .. })
    ));
    assert!(matches!(
        h.router.set_partial_limits(crate::partial::PartialLimits {
            metadata_bytes_total: per_peer - 1,
            ..limits
        }),
        Err(crate::partial::PartialLimitsError::InvalidMetadataBounds { .. })
    ));
    assert_eq!(
        h.router.set_partial_limits(crate::partial::PartialLimits {
            partials_per_peer_per_heartbeat: 0,
            ..limits
        }),
        Err(crate::partial::PartialLimitsError::NoPartialsPerHeartbeat)
    );
}

/// A partial message with neither parts nor metadata was charged 0 bytes against the sender's
/// per-heartbeat budget: a peer could send any number of them, each handed to the
/// application. Each is now charged a minimum, and partials are counted per heartbeat too.
#[test]
fn empty_partials_are_charged_and_counted() {
    let mut h = Harness::new(
        config()
            .max_message_bytes_per_peer_per_heartbeat(1000)
            .build()
            .unwrap(),
    );
    let topic = Harness::topic();
    let a = add_partial_peer(&mut h, &topic, opts(true, true), true);
    h.router
        .subscribe_partial(h.now, topic.clone(), true)
        .unwrap();
    h.drain();
    let empty = || Rpc {
        partial: Some(Box::new(PartialMessage {
            topic: topic.clone(),
            group_id: Bytes::from_static(b"g"),
            message: None,
            metadata: None,
        })),
        ..Rpc::default()
    };
    for _ in 0..10_000 {
        h.router.handle_rpc(h.now, a, empty());
    }
    let delivered = partial_events(&h.drain()).len();
    assert!(
        delivered <= 1000 / crate::partial::PARTIAL_MIN_CHARGE + 1,
        "{delivered} empty partials handed up within a 1000-byte budget"
    );
    assert!(h.router.counters().partials_over_peer_budget > 0);

    // With a large byte budget, the count per heartbeat still bounds them.
    let mut h = Harness::new(config().build().unwrap());
    let a = add_partial_peer(&mut h, &topic, opts(true, true), true);
    h.router
        .subscribe_partial(h.now, topic.clone(), true)
        .unwrap();
    h.drain();
    let max = crate::partial::PartialLimits::default().partials_per_peer_per_heartbeat;
    for _ in 0..max + 100 {
        h.router.handle_rpc(h.now, a, empty());
    }
    assert_eq!(partial_events(&h.drain()).len(), max);
    assert_eq!(h.router.counters().partials_over_peer_count, 100);
    // The next heartbeat gives a fresh count.
    h.heartbeat();
    h.router.handle_rpc(h.now, a, empty());
    assert_eq!(partial_events(&h.drain()).len(), 1);
    assert_consistent(&h);
}
