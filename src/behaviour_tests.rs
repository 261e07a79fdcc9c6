//! Unit tests of the behaviour's send path, driven without a swarm: swarm events are fed in
//! directly and the behaviour is polled with a no-op waker.

use std::task::{Context, Poll};

use futures::task::noop_waker;
use libp2p_core::ConnectedPoint;
use libp2p_core::Endpoint;
use libp2p_core::transport::PortUse;
use libp2p_swarm::behaviour::ConnectionEstablished;
use libp2p_swarm::{ConnectionId, FromSwarm, NetworkBehaviour, ToSwarm};

use super::*;
use crate::handler::{HandlerEvent, SendEvent};
use crate::queue::Class;
use crate::types::IdentTopic;

/// A control RPC that is split into several pieces, all refused by a full control queue,
/// disconnects the peer once: one `CloseConnection`, one count in `slow_peers_disconnected`.
#[test]
fn a_refused_multi_piece_control_rpc_disconnects_once() {
    let mut b = crate::ConfigBuilder::default();
    // One subscription per RPC and one control RPC per queue: the subscriptions announced to
    // a new peer become several pieces, and all but the first are refused.
    b.max_subscriptions_per_rpc(1)
        .send_queue_size(1)
        .validation_mode(crate::ValidationMode::None);
    let local = PeerId::random();
    let mut behaviour =
        Behaviour::new(MessageAuthenticity::Author(local), b.build().unwrap()).unwrap();
    for t in 0..4 {
        behaviour
            .subscribe(&IdentTopic::new(format!("topic-{t}")))
            .unwrap();
    }
    // Our subscriptions go out once the peer's protocol is known.
    let (peer, _) = connect_meshsub_1_2(&mut behaviour);

    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut closes = 0;
    while let Poll::Ready(event) = behaviour.poll(&mut cx) {
        if matches!(event, ToSwarm::CloseConnection { peer_id, .. } if peer_id == peer) {
            closes += 1;
        }
    }
    assert_eq!(closes, 1);
    assert_eq!(behaviour.counters().slow_peers_disconnected, 1);
    assert_eq!(behaviour.counters().send_queue_full, 3);
}

/// A publish whose message every recipient's publish queue refuses fails with
/// `AllQueuesFull`, even when the IDONTWANT sent ahead of it (`idontwant_on_publish`) was
/// queued: that control RPC is not the message.
#[test]
fn a_publish_refused_everywhere_fails_even_if_its_idontwant_was_queued() {
    use crate::wire::DecodedRpc;
    let mut b = crate::ConfigBuilder::default();
    b.send_queue_size(1)
        .idontwant_on_publish(true)
        .validation_mode(crate::ValidationMode::None);
    let local = PeerId::random();
    let mut behaviour =
        Behaviour::new(MessageAuthenticity::Author(local), b.build().unwrap()).unwrap();
    let topic = IdentTopic::new("t");
    let (peer, connection) = connect_meshsub_1_2(&mut behaviour);
    behaviour.on_connection_handler_event(
        peer,
        connection,
        crate::handler::HandlerOut(HandlerEvent::Rpc(DecodedRpc {
            rpc: crate::types::Rpc {
                subscriptions: vec![crate::types::Subscription {
                    options: Default::default(),
                    subscribe: true,
                    topic: topic.hash(),
                }],
                ..Default::default()
            },
            malformed_messages: Vec::new(),
            unknown_control: 0,
            drops: Default::default(),
        })),
    );
    let large = vec![
        1u8;
        behaviour
            .router()
            .config()
            .idontwant_message_size_threshold()
    ];
    // The first publish fills the peer's publish queue (nothing drains it here).
    behaviour.publish(topic.clone(), large.clone()).unwrap();
    let mut second = large;
    second[0] = 2;
    assert_eq!(
        behaviour.publish(topic, second),
        Err(PublishError::AllQueuesFull(1))
    );
}

/// The greeting of a meshsub 1.3 peer (Extensions and our subscriptions), split into pieces,
/// is queued whole whatever the control class can hold, with the Extensions piece first.
/// Before the reserved slot, a one-item control class refused the second piece and the peer
/// was disconnected as slow before anything was sent.
#[test]
fn a_meshsub_1_3_greeting_is_queued_first_whatever_the_control_class_holds() {
    let mut b = crate::ConfigBuilder::default();
    b.max_subscriptions_per_rpc(1)
        .send_queue_size(1)
        .validation_mode(crate::ValidationMode::None);
    let mut behaviour = Behaviour::new(
        MessageAuthenticity::Author(PeerId::random()),
        b.build().unwrap(),
    )
    .unwrap();
    for t in 0..2 {
        behaviour
            .subscribe(&IdentTopic::new(format!("topic-{t}")))
            .unwrap();
    }
    let (peer, _) = connect_kind(&mut behaviour, PeerKind::Gossipsubv1_3);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    while let Poll::Ready(event) = behaviour.poll(&mut cx) {
        assert!(
            !matches!(event, ToSwarm::CloseConnection { .. }),
            "greeting refused"
        );
    }
    assert_eq!(behaviour.counters().send_queue_full, 0);
    let queue = behaviour.queues[&peer].clone();
    let mut sent = Vec::new();
    while let Poll::Ready(item) = queue.poll_pop(&mut cx, ConnectionId::new_unchecked(1)) {
        sent.push(item.rpc);
    }
    assert_eq!(sent.len(), 2);
    assert!(sent[0].extensions.is_some());
    assert!(sent[1].extensions.is_none());
}

/// A handler that had to shed requeued pieces reports it: shed messages count as refused
/// pushes, shed control disconnects the peer (it missed control it needs).
#[test]
fn requeue_shedding_is_counted_and_lost_control_disconnects() {
    let mut b = crate::ConfigBuilder::default();
    b.validation_mode(crate::ValidationMode::None);
    let mut behaviour = Behaviour::new(
        MessageAuthenticity::Author(PeerId::random()),
        b.build().unwrap(),
    )
    .unwrap();
    let (peer, connection) = connect_meshsub_1_2(&mut behaviour);
    let shed = |class, messages, gossip, control| {
        crate::handler::HandlerOut(HandlerEvent::Send(SendEvent::RequeueShed {
            class,
            messages,
            gossip,
            control,
        }))
    };
    behaviour.on_connection_handler_event(peer, connection, shed(Class::Forward, 2, 0, 0));
    behaviour.on_connection_handler_event(peer, connection, shed(Class::Control, 0, 3, 0));
    assert_eq!(behaviour.counters().send_queue_requeue_shed, 5);
    assert_eq!(behaviour.counters().send_queue_full, 2);
    assert_eq!(behaviour.counters().slow_peers_disconnected, 0);
    behaviour.on_connection_handler_event(peer, connection, shed(Class::Control, 0, 0, 1));
    assert_eq!(behaviour.counters().slow_peers_disconnected, 1);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut closes = 0;
    while let Poll::Ready(event) = behaviour.poll(&mut cx) {
        if matches!(event, ToSwarm::CloseConnection { peer_id, .. } if peer_id == peer) {
            closes += 1;
        }
    }
    assert_eq!(closes, 1);
}

/// Connects a new peer over one outbound connection and reports its protocol as meshsub 1.2,
/// as the swarm and the handler would; returns the peer and the connection.
fn connect_meshsub_1_2(behaviour: &mut Behaviour) -> (PeerId, ConnectionId) {
    connect_kind(behaviour, PeerKind::Gossipsubv1_2)
}

/// [`connect_meshsub_1_2`] with the protocol `kind`.
fn connect_kind(behaviour: &mut Behaviour, kind: PeerKind) -> (PeerId, ConnectionId) {
    let peer = PeerId::random();
    let connection = ConnectionId::new_unchecked(1);
    let address: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
    let endpoint = ConnectedPoint::Dialer {
        address: address.clone(),
        role_override: Endpoint::Dialer,
        port_use: PortUse::Reuse,
    };
    let _handler = behaviour
        .handle_established_outbound_connection(
            connection,
            peer,
            &address,
            Endpoint::Dialer,
            PortUse::Reuse,
        )
        .unwrap();
    behaviour.on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished {
        peer_id: peer,
        connection_id: connection,
        endpoint: &endpoint,
        failed_addresses: &[],
        other_established: 0,
    }));
    behaviour.on_connection_handler_event(
        peer,
        connection,
        crate::handler::HandlerOut(HandlerEvent::PeerKind(kind)),
    );
    (peer, connection)
}

/// An item of a batch that no recipient's publish queue took fails with `AllQueuesFull`, as a
/// single publish does. Before, every item of the batch was `Ok` whatever the queues refused:
/// the application lost messages silently.
#[test]
fn a_batch_item_refused_by_every_queue_fails() {
    use crate::wire::DecodedRpc;
    let mut b = crate::ConfigBuilder::default();
    b.send_queue_size(2)
        .validation_mode(crate::ValidationMode::None);
    let local = PeerId::random();
    let mut behaviour =
        Behaviour::new(MessageAuthenticity::Author(local), b.build().unwrap()).unwrap();
    let topic = IdentTopic::new("t");
    let (peer, connection) = connect_meshsub_1_2(&mut behaviour);
    behaviour.on_connection_handler_event(
        peer,
        connection,
        crate::handler::HandlerOut(HandlerEvent::Rpc(DecodedRpc {
            rpc: crate::types::Rpc {
                subscriptions: vec![crate::types::Subscription {
                    options: Default::default(),
                    subscribe: true,
                    topic: topic.hash(),
                }],
                ..Default::default()
            },
            malformed_messages: Vec::new(),
            unknown_control: 0,
            drops: Default::default(),
        })),
    );
    // One publish takes one of the two slots of the peer's publish queue.
    behaviour.publish(topic.clone(), vec![0u8; 10]).unwrap();
    let results =
        behaviour.publish_batch((1..=2u8).map(|i| (topic.hash(), bytes::Bytes::from(vec![i; 10]))));
    assert!(results[0].is_ok(), "{results:?}");
    assert_eq!(results[1], Err(PublishError::AllQueuesFull(1)));
}

/// The handler path of IDONTWANT (issue 11): a peer's IDONTWANT for a message we published
/// drops our copy still waiting in its send queue, so nothing carrying that message is
/// written to it; other queued RPCs stay.
#[test]
fn idontwant_drops_our_queued_publish_of_that_message() {
    use crate::wire::DecodedRpc;
    let mut b = crate::ConfigBuilder::default();
    b.validation_mode(crate::ValidationMode::None);
    let mut behaviour = Behaviour::new(
        MessageAuthenticity::Author(PeerId::random()),
        b.build().unwrap(),
    )
    .unwrap();
    let topic = IdentTopic::new("t");
    let (peer, connection) = connect_meshsub_1_2(&mut behaviour);
    let rpc = |rpc: crate::types::Rpc| {
        crate::handler::HandlerOut(HandlerEvent::Rpc(DecodedRpc {
            rpc,
            malformed_messages: Vec::new(),
            unknown_control: 0,
            drops: Default::default(),
        }))
    };
    behaviour.on_connection_handler_event(
        peer,
        connection,
        rpc(crate::types::Rpc {
            subscriptions: vec![crate::types::Subscription {
                options: Default::default(),
                subscribe: true,
                topic: topic.hash(),
            }],
            ..Default::default()
        }),
    );
    let id = behaviour.publish(topic.clone(), vec![1u8; 2048]).unwrap();
    let kept = behaviour.publish(topic, vec![2u8; 2048]).unwrap();
    behaviour.on_connection_handler_event(
        peer,
        connection,
        rpc(crate::types::Rpc {
            control: vec![crate::types::ControlAction::IDontWant {
                message_ids: vec![id.clone()],
            }],
            ..Default::default()
        }),
    );
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    while behaviour.poll(&mut cx).is_ready() {}
    let queue = behaviour.queues[&peer].clone();
    let mut carried = Vec::new();
    while let Poll::Ready(item) = queue.poll_pop(&mut cx, ConnectionId::new_unchecked(1)) {
        carried.extend(item.message_id);
    }
    assert_eq!(carried, vec![kept], "only the message the peer still wants");
}
