//! meshsub 1.3: the Extensions control message in the first RPC to a 1.3 peer (once), a
//! second one from a peer penalised, and the test extension.

use super::*;
use crate::score::{PeerScoreParams, PeerScoreThresholds};
use crate::types::Extensions;

/// The RPCs sent to `peer` in `actions`, in order.
fn sent_to(actions: &[Action], peer: PeerId) -> Vec<Rpc> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { peer: p, rpc, .. } if *p == peer => Some(rpc.clone()),
            _ => None,
        })
        .collect()
}

fn extensions_rpc(extensions: Extensions) -> Rpc {
    Rpc {
        extensions: Some(extensions),
        ..Rpc::default()
    }
}

/// A 1.3 peer connected and greeted; returns it (its greeting drained).
fn greeted_peer(h: &mut Harness, kind: PeerKind) -> (PeerId, Vec<Rpc>) {
    let p = PeerId::random();
    h.router.add_peer(h.now, p, false);
    h.router.set_peer_kind(p, kind);
    let sent = sent_to(&h.drain(), p);
    (p, sent)
}

#[test]
fn the_first_rpc_to_a_meshsub_1_3_peer_carries_extensions_exactly_once() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let p = PeerId::random();
    h.router.add_peer(h.now, p, false);
    // Nothing goes out before the protocol is known: the greeting must be first.
    assert!(sent_to(&h.drain(), p).is_empty());
    h.router.set_peer_kind(p, PeerKind::Gossipsubv1_3);
    let sent = sent_to(&h.drain(), p);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].extensions,
        Some(Extensions {
            partial_messages: cfg!(feature = "partial-messages"),
            ..Extensions::default()
        })
    );
    assert_eq!(
        sent[0].subscriptions,
        vec![Subscription {
            options: Default::default(),
            subscribe: true,
            topic: topic.clone()
        }]
    );
    // A second connection, more subscriptions, control and heartbeats: never again.
    h.router.set_peer_kind(p, PeerKind::Gossipsubv1_3);
    h.router.subscribe(h.now, TopicHash::from_raw("u")).unwrap();
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            subscriptions: vec![Subscription {
                options: Default::default(),
                subscribe: true,
                topic: topic.clone(),
            }],
            ..Rpc::default()
        },
    );
    let mut later = sent_to(&h.drain(), p);
    for _ in 0..3 {
        later.extend(sent_to(&h.heartbeat(), p));
    }
    assert!(!later.is_empty());
    assert!(later.iter().all(|rpc| rpc.extensions.is_none()));
}

#[test]
fn meshsub_1_2_and_older_peers_never_get_extensions() {
    let mut b = config();
    b.test_extension(true).support_floodsub(true);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    for kind in [
        PeerKind::Gossipsubv1_2,
        PeerKind::Gossipsubv1_1,
        PeerKind::Gossipsub,
        PeerKind::Floodsub,
    ] {
        let (p, sent) = greeted_peer(&mut h, kind);
        assert_eq!(sent.len(), 1, "{kind}: subscriptions announced");
        assert_eq!(sent[0].subscriptions.len(), 1);
        assert!(sent[0].extensions.is_none(), "{kind}");
        // Extensions from a peer that did not negotiate 1.3 (libp2p-gossipsub 0.50 sends them
        // before negotiation) are taken but never answered with a TestExtension.
        let announce = Extensions {
            partial_messages: false,
            test_extension: true,
        };
        h.router.handle_rpc(h.now, p, extensions_rpc(announce));
        assert_eq!(h.router.peer_extensions(&p), Some(announce));
        let sent = sent_to(&h.drain(), p);
        assert!(
            sent.iter()
                .all(|r| r.extensions.is_none() && !r.test_extension)
        );
    }
    assert_eq!(h.router.counters().control_ignored, 0);
    assert_eq!(h.router.counters().extensions_duplicate, 0);
}

#[test]
fn a_second_extensions_message_is_penalised_and_ignored() {
    let mut b = config();
    b.test_extension(true);
    let mut h = Harness::new(b.build().unwrap());
    h.router
        .with_peer_score(PeerScoreParams::default(), PeerScoreThresholds::default())
        .unwrap();
    let (p, _) = greeted_peer(&mut h, PeerKind::Gossipsubv1_3);
    // An announcement of only extensions we do not know: accepted, nothing to answer.
    h.router
        .handle_rpc(h.now, p, extensions_rpc(Extensions::default()));
    assert!(sent_to(&h.drain(), p).is_empty());
    assert_eq!(h.router.counters().extensions_duplicate, 0);
    let p7 = |h: &Harness| {
        h.router
            .peer_score_breakdown(&p)
            .unwrap()
            .behaviour_penalty
            .counter
    };
    assert_eq!(p7(&h), 0.0);
    // The second one (now announcing the test extension) is a violation and ignored: no
    // TestExtension is sent in answer.
    h.router.handle_rpc(
        h.now,
        p,
        extensions_rpc(Extensions {
            partial_messages: false,
            test_extension: true,
        }),
    );
    assert!(sent_to(&h.drain(), p).is_empty());
    assert_eq!(h.router.counters().extensions_duplicate, 1);
    assert!(p7(&h) > 0.0);
}

#[test]
fn the_test_extension_is_exchanged_once_when_both_sides_announce_it() {
    let mut b = config();
    b.test_extension(true);
    let mut h = Harness::new(b.build().unwrap());
    let (p, greeting) = greeted_peer(&mut h, PeerKind::Gossipsubv1_3);
    assert_eq!(
        greeting[0].extensions,
        Some(Extensions {
            partial_messages: cfg!(feature = "partial-messages"),
            test_extension: true
        })
    );
    assert!(
        !greeting[0].test_extension,
        "not before the peer announced it"
    );
    let announce = extensions_rpc(Extensions {
        partial_messages: false,
        test_extension: true,
    });
    h.router.handle_rpc(h.now, p, announce.clone());
    let sent = sent_to(&h.drain(), p);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].test_extension);
    assert!(sent[0].extensions.is_none());
    // Its TestExtension is counted; a repeated announcement gets no second one.
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            test_extension: true,
            ..Rpc::default()
        },
    );
    assert_eq!(h.router.counters().test_extensions_received, 1);
    h.router.handle_rpc(h.now, p, announce);
    assert!(sent_to(&h.drain(), p).iter().all(|r| !r.test_extension));
}

#[test]
fn no_test_extension_unless_both_sides_announce_it() {
    // We do not announce it (the default); the peer does.
    let mut h = Harness::new(config().build().unwrap());
    let (p, greeting) = greeted_peer(&mut h, PeerKind::Gossipsubv1_3);
    assert_eq!(
        greeting[0].extensions,
        Some(Extensions {
            partial_messages: cfg!(feature = "partial-messages"),
            test_extension: false
        })
    );
    h.router.handle_rpc(
        h.now,
        p,
        extensions_rpc(Extensions {
            partial_messages: false,
            test_extension: true,
        }),
    );
    assert!(sent_to(&h.drain(), p).is_empty());
    // We announce it; the peer does not.
    let mut b = config();
    b.test_extension(true);
    let mut h = Harness::new(b.build().unwrap());
    let (p, _) = greeted_peer(&mut h, PeerKind::Gossipsubv1_3);
    h.router
        .handle_rpc(h.now, p, extensions_rpc(Extensions::default()));
    assert!(sent_to(&h.drain(), p).is_empty());
}
