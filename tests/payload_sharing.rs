//! Payloads are shared, never copied per peer: every RPC the router emits for a message holds
//! a `Bytes` handle to the same buffer, which for a received message is its frame (copied once
//! out of the stream's read buffer).

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gossipsub::__bench::{Codec, signed_message};
use gossipsub::router::{Action, Router};
use gossipsub::{ConfigBuilder, MessageAuthenticity, PeerKind, Rpc, Subscription, TopicHash};
use libp2p::identity::{Keypair, PeerId};

fn router_with_mesh(topic: &TopicHash, peers: &[PeerId]) -> (Router, Instant) {
    let t0 = Instant::now();
    let config = ConfigBuilder::default()
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .build()
        .expect("config");
    let key = Keypair::generate_ed25519();
    let mut router =
        Router::new(config, MessageAuthenticity::Signed(key), 1, 1, t0).expect("router");
    router.subscribe(t0, topic.clone()).expect("subscribe");
    for peer in peers {
        router.add_peer(t0, *peer, true);
        router.set_peer_kind(*peer, PeerKind::Gossipsubv1_2);
        router.handle_rpc(
            t0,
            *peer,
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
    let now = t0 + Duration::from_secs(2);
    router.handle_timeout(now);
    while router.poll_action().is_some() {}
    (router, now)
}

/// The payload pointers of every message-carrying `Send`.
fn sent_payloads(router: &mut Router) -> Vec<*const u8> {
    let mut out = Vec::new();
    while let Some(action) = router.poll_action() {
        if let Action::Send { rpc, .. } = action {
            out.extend(rpc.messages.iter().map(|m| m.data.as_ptr()));
        }
    }
    out
}

#[test]
fn forwarded_payloads_share_the_received_frame() {
    let topic = TopicHash::from_raw("t");
    let peers: Vec<PeerId> = (0..20).map(|_| PeerId::random()).collect();
    let (mut router, now) = router_with_mesh(&topic, &peers);
    let mesh: Vec<PeerId> = router.mesh_peers(&topic).copied().collect();
    assert_eq!(mesh.len(), 8);

    let author = Keypair::generate_ed25519();
    let message = signed_message(&author, topic.clone(), Bytes::from(vec![9u8; 1024]), 1);
    let mut codec = Codec::new(1 << 20);
    let mut frame = BytesMut::new();
    codec
        .encode(
            &Rpc {
                messages: vec![message],
                ..Rpc::default()
            },
            &mut frame,
        )
        .expect("encode");
    let rpc = codec.decode(&mut frame).expect("decode").expect("frame");
    // The frame is copied once out of the read buffer (a slice of the buffer would pin all of
    // it); the payload is a slice of that copy, shared by every forward.
    let received = rpc.messages[0].data.as_ptr();

    router.handle_rpc(now, mesh[0], rpc);
    let sent = sent_payloads(&mut router);
    assert_eq!(sent.len(), 7, "forwarded to the 7 other mesh peers");
    assert!(
        sent.iter().all(|p| *p == received),
        "every forward shares the frame"
    );
}

#[test]
fn published_payloads_are_shared_by_all_recipients() {
    let topic = TopicHash::from_raw("t");
    let peers: Vec<PeerId> = (0..20).map(|_| PeerId::random()).collect();
    let (mut router, now) = router_with_mesh(&topic, &peers);
    let data = Bytes::from(vec![3u8; 4096]);
    let ptr = data.as_ptr();
    router.publish(now, topic, data).expect("publish");
    let sent = sent_payloads(&mut router);
    assert_eq!(sent.len(), 20, "flood publish to every subscribed peer");
    assert!(sent.iter().all(|p| *p == ptr));
}
