//! No signature verification for a message the router then drops: every drop decided by
//! what is known without the signature (topic, duplicate, author, budgets) is decided first.
//!
//! Each case receives correctly signed messages in strict mode, so every verification that
//! happens is one of a message that passes: the number of verifications must equal the number
//! of messages delivered.

use libp2p_identity::Keypair;

use super::*;

/// A strict router with `local` as its signing key, subscribed to the test topic with
/// `peers` mesh peers (one heartbeat run).
fn strict(local: &Keypair, peers: usize, edit: impl FnOnce(&mut ConfigBuilder)) -> Harness {
    let mut b = ConfigBuilder::default();
    b.validation_mode(ValidationMode::Strict);
    edit(&mut b);
    let now = crate::test_util::epoch();
    let router = Router::new(
        b.build().unwrap(),
        MessageAuthenticity::Signed(local.clone()),
        7,
        1,
        now,
    )
    .unwrap();
    let mut h = Harness {
        router,
        now,
        local: local.public().to_peer_id(),
    };
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.add_peers(peers, &topic, true);
    h.heartbeat();
    h
}

fn signed(author: &Keypair, seqno: u64, topic: &TopicHash, len: usize) -> RawMessage {
    let mut m = message(author.public().to_peer_id(), seqno, topic, len);
    let (signature, key) = crate::wire::sign(author, &m).unwrap();
    m.signature = Some(signature);
    m.key = key;
    m
}

/// Sends each `(from index, message)` and returns (messages delivered, signatures verified).
fn run(h: &mut Harness, peers: &[PeerId], sends: Vec<(usize, RawMessage)>) -> (usize, u64) {
    let mut delivered_n = 0;
    for (i, m) in sends {
        h.router.handle_rpc(h.now, peers[i], msg_rpc(m));
        delivered_n += delivered(&h.drain()).len();
    }
    (delivered_n, h.router.counters().signatures_verified)
}

fn peers_of(h: &Harness) -> Vec<PeerId> {
    let mut peers: Vec<PeerId> = h.router.mesh_peers(&Harness::topic()).copied().collect();
    peers.sort();
    peers
}

#[test]
fn duplicates_are_not_verified() {
    let local = Keypair::generate_ed25519();
    let mut h = strict(&local, 3, |_| {});
    let peers = peers_of(&h);
    let author = Keypair::generate_ed25519();
    let m = signed(&author, 1, &Harness::topic(), 8);
    let sends = (0..3).map(|i| (i, m.clone())).collect();
    assert_eq!(run(&mut h, &peers, sends), (1, 1));
}

#[test]
fn messages_of_unsubscribed_topics_are_not_verified() {
    let local = Keypair::generate_ed25519();
    let mut h = strict(&local, 2, |_| {});
    let peers = peers_of(&h);
    let author = Keypair::generate_ed25519();
    let other = TopicHash::from_raw("not subscribed");
    let sends = vec![(0, signed(&author, 1, &other, 8))];
    assert_eq!(run(&mut h, &peers, sends), (0, 0));
    assert_eq!(h.router.counters().messages_unsubscribed_topic, 1);
}

#[test]
fn messages_by_blacklisted_authors_are_not_verified() {
    let local = Keypair::generate_ed25519();
    let mut h = strict(&local, 2, |_| {});
    let peers = peers_of(&h);
    let author = Keypair::generate_ed25519();
    h.router.blacklist_peer(author.public().to_peer_id());
    h.drain();
    let sends = vec![(0, signed(&author, 1, &Harness::topic(), 8))];
    assert_eq!(run(&mut h, &peers, sends), (0, 0));
    assert_eq!(h.router.counters().messages_from_blacklisted, 1);
}

#[test]
fn messages_claiming_to_be_ours_are_not_verified() {
    let local = Keypair::generate_ed25519();
    let mut h = strict(&local, 2, |_| {});
    let peers = peers_of(&h);
    // Signed by our own key (an echo of a message of ours we no longer remember).
    let sends = vec![(0, signed(&local, 1_000, &Harness::topic(), 8))];
    assert_eq!(run(&mut h, &peers, sends), (0, 0));
    assert_eq!(h.router.counters().messages_self_origin, 1);
}

#[test]
fn messages_over_the_byte_budget_are_not_verified() {
    let local = Keypair::generate_ed25519();
    let mut h = strict(&local, 2, |b| {
        b.max_message_bytes_per_peer_per_heartbeat(100);
    });
    let peers = peers_of(&h);
    let author = Keypair::generate_ed25519();
    let topic = Harness::topic();
    let sends = (1..=3)
        .map(|s| (0, signed(&author, s, &topic, 80)))
        .collect();
    assert_eq!(run(&mut h, &peers, sends), (1, 1));
    assert_eq!(h.router.counters().messages_over_peer_budget, 2);
}

#[test]
fn messages_over_the_signature_budget_are_not_verified() {
    let local = Keypair::generate_ed25519();
    let mut h = strict(&local, 2, |b| {
        b.max_signature_checks_per_heartbeat(2);
    });
    let peers = peers_of(&h);
    let author = Keypair::generate_ed25519();
    let topic = Harness::topic();
    let sends = (1..=4)
        .map(|s| (0, signed(&author, s, &topic, 8)))
        .collect();
    assert_eq!(run(&mut h, &peers, sends), (2, 2));
    assert_eq!(h.router.counters().signature_checks_over_budget, 2);
}
