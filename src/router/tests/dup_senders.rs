//! A peer that sent us a message has it: we never send it that message back (issue 11, the
//! duplicates of big messages in test-plans' subnet-blob-msg). A copy received from a peer
//! counts as that peer's IDONTWANT: it is left out of the forward after validation and a
//! forward already queued to it is cancelled.

use super::*;

fn validating() -> Harness {
    let mut b = config();
    b.validate_messages(true);
    Harness::new(b.build().unwrap())
}

/// A mesh peer whose copy arrives while ours awaits validation (it sent no IDONTWANT: a
/// flood-publishing author, or a meshsub-1.1 peer) is not sent the message after the
/// application accepts it.
#[test]
fn a_copy_received_during_validation_keeps_its_sender_out_of_the_forward() {
    let mut h = validating();
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(4, &topic, false);
    h.heartbeat();
    assert_eq!(h.mesh_len(&topic), 4);
    let author = PeerId::random();
    let m = message(author, 1, &topic, 64);
    let id = id_of(&h, &m);
    h.router.handle_rpc(h.now, peers[0], msg_rpc(m.clone()));
    h.router.handle_rpc(h.now, peers[1], msg_rpc(m));
    h.drain();
    assert!(
        h.router
            .report_validation(h.now, &id, &peers[0], MessageAcceptance::Accept)
    );
    let mut sent: Vec<PeerId> = message_sends(&h.drain(), &id)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    sent.sort();
    let mut expected = vec![peers[2], peers[3]];
    expected.sort();
    assert_eq!(sent, expected, "neither the first sender nor the second");
}

/// Without validation: a forward already queued to a peer is cancelled when that peer's own
/// copy arrives, as an IDONTWANT would.
#[test]
fn a_copy_received_cancels_the_forward_queued_to_its_sender() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(3, &topic, false);
    h.heartbeat();
    let m = message(PeerId::random(), 1, &topic, 64);
    let id = id_of(&h, &m);
    h.router.handle_rpc(h.now, peers[0], msg_rpc(m.clone()));
    let first = h.drain();
    assert!(
        message_sends(&first, &id)
            .iter()
            .any(|(p, _)| *p == peers[1])
    );
    h.router.handle_rpc(h.now, peers[1], msg_rpc(m.clone()));
    let actions = h.drain();
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::CancelForward { peer, message_id } if *peer == peers[1] && *message_id == id
        )),
        "the queued forward to the sender of the copy is cancelled"
    );
    // Counted once per peer and id: a third copy from the same peer cancels nothing more.
    h.router.handle_rpc(h.now, peers[1], msg_rpc(m));
    assert!(
        !h.drain()
            .iter()
            .any(|a| matches!(a, Action::CancelForward { .. }))
    );
}

/// The implied IDONTWANTs share the explicit ones' per-heartbeat cap
/// (`max_idontwant_messages`): a peer replaying cached messages grows nothing past it.
#[test]
fn implied_idontwants_share_the_per_heartbeat_cap() {
    let mut b = config();
    b.max_idontwant_messages(2);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(2, &topic, false);
    h.heartbeat();
    let author = PeerId::random();
    let ms: Vec<RawMessage> = (1..=4).map(|i| message(author, i, &topic, 64)).collect();
    for m in &ms {
        h.router.handle_rpc(h.now, peers[0], msg_rpc(m.clone()));
    }
    h.drain();
    for m in &ms {
        h.router.handle_rpc(h.now, peers[1], msg_rpc(m.clone()));
    }
    let cancels = h
        .drain()
        .iter()
        .filter(|a| matches!(a, Action::CancelForward { .. }))
        .count();
    assert_eq!(cancels, 2);
}

/// An id the peer already has on record (here: from a copy it sent) costs no allowance when
/// it comes again, in an IDONTWANT or another copy: only new ids are retained.
#[test]
fn a_repeated_id_costs_no_idontwant_allowance() {
    let mut b = config();
    b.max_idontwant_messages(2);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(2, &topic, false);
    h.heartbeat();
    let author = PeerId::random();
    let ms: Vec<RawMessage> = (1..=2).map(|i| message(author, i, &topic, 64)).collect();
    let ids: Vec<MessageId> = ms.iter().map(|m| id_of(&h, m)).collect();
    h.router.handle_rpc(h.now, peers[0], msg_rpc(ms[0].clone()));
    h.router.handle_rpc(h.now, peers[0], msg_rpc(ms[1].clone()));
    h.drain();
    // peers[1]'s copy of the first message records it; repeats of that id are free.
    h.router.handle_rpc(h.now, peers[1], msg_rpc(ms[0].clone()));
    for _ in 0..5 {
        h.router.handle_rpc(
            h.now,
            peers[1],
            control_rpc(ControlAction::IDontWant {
                message_ids: vec![ids[0].clone()],
            }),
        );
    }
    h.drain();
    // The second new id still fits the allowance of 2.
    h.router.handle_rpc(h.now, peers[1], msg_rpc(ms[1].clone()));
    let cancels: Vec<MessageId> = h
        .drain()
        .into_iter()
        .filter_map(|a| match a {
            Action::CancelForward { message_id, .. } => Some(message_id),
            _ => None,
        })
        .collect();
    assert_eq!(cancels, vec![ids[1].clone()]);
}

/// test-plans' scoring (issue 11): a node logs every copy it receives, its own publish never.
/// Under the harness' signing policy (go's StrictNoSign: no author, no seqno) a peer cannot
/// tell that we wrote a message, so a mesh peer that got our message from someone else first
/// forwards it to us. That echo reaches the application as a duplicate from that peer (go's
/// node logs it too, and the harness' analysis expects it: "the original publisher received
/// a duplicate message"); our own publish is no `Event::Message`.
#[test]
fn an_echo_of_our_anonymous_publish_is_reported_as_a_duplicate() {
    let mut b = ConfigBuilder::default();
    b.validation_mode(ValidationMode::Anonymous)
        .report_duplicates(true);
    let now = crate::test_util::epoch();
    let router = Router::new(
        b.build().unwrap(),
        MessageAuthenticity::Anonymous,
        7,
        1,
        now,
    )
    .unwrap();
    let mut h = Harness {
        router,
        now,
        local: PeerId::random(),
    };
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(3, &topic, false);
    h.heartbeat();
    let id = h
        .router
        .publish(h.now, topic.clone(), vec![7u8; 2048])
        .unwrap();
    let published = h.drain();
    assert!(
        !published
            .iter()
            .any(|a| matches!(a, Action::Event(Event::Message { .. }))),
        "our own publish is not a received message"
    );
    let sent = published
        .iter()
        .find_map(|a| match a {
            Action::Send {
                rpc, message_id, ..
            } if message_id.as_ref() == Some(&id) => Some(rpc.messages[0].clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(sent.source, None, "anonymous: no author to exclude");
    h.router.handle_rpc(h.now, peers[1], msg_rpc(sent));
    let echoed = h.drain();
    let reported: Vec<(PeerId, MessageId)> = echoed
        .iter()
        .filter_map(|a| match a {
            Action::Event(Event::Duplicate {
                propagation_source,
                message_id,
                ..
            }) => Some((*propagation_source, message_id.clone())),
            Action::Event(Event::Message { .. }) => panic!("an echo is no new message"),
            _ => None,
        })
        .collect();
    assert_eq!(reported, vec![(peers[1], id)]);
    assert_eq!(h.router.counters().messages_duplicate, 1);
}

/// A copy whose id another peer already sent IDONTWANT for still keeps its own sender out of
/// the forward: the receive path checks the sender's own record of the id (by its slot), not
/// any peer's.
#[test]
fn a_copy_is_recorded_for_its_sender_when_another_peer_already_declined_the_id() {
    let mut h = validating();
    let topic = Harness::topic();
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let peers = h.add_peers(4, &topic, false);
    h.heartbeat();
    assert_eq!(h.mesh_len(&topic), 4);
    let m = message(PeerId::random(), 1, &topic, 64);
    let id = id_of(&h, &m);
    // Another peer (the one in the slot next to the copy's sender) declines the id first.
    h.router.handle_rpc(
        h.now,
        peers[0],
        control_rpc(ControlAction::IDontWant {
            message_ids: vec![id.clone()],
        }),
    );
    h.router.handle_rpc(h.now, peers[3], msg_rpc(m.clone()));
    h.router.handle_rpc(h.now, peers[1], msg_rpc(m));
    h.drain();
    assert!(
        h.router
            .report_validation(h.now, &id, &peers[3], MessageAcceptance::Accept)
    );
    let sent: Vec<PeerId> = message_sends(&h.drain(), &id)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        sent,
        vec![peers[2]],
        "only the peer that neither has it nor declined it"
    );
}
