//! Batch publishing: first copies interleaved across peers.

use super::*;
use crate::error::PublishError;

/// The (peer, message) order of the message sends in `actions`.
fn send_order(actions: &[Action]) -> Vec<(PeerId, MessageId)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                peer,
                message_id: Some(id),
                class: SendClass::Publish,
                ..
            } => Some((*peer, id.clone())),
            _ => None,
        })
        .collect()
}

fn mesh_harness(peers: usize) -> (Harness, TopicHash) {
    let mut b = config();
    // Content ids, so that the same data twice is a duplicate.
    b.flood_publish(false)
        .message_id_fn(|m: &crate::types::Message| MessageId::new(m.data.to_vec()));
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.add_peers(peers, &topic, false);
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.drain();
    (h, topic)
}

#[test]
fn every_message_gets_one_copy_out_before_any_gets_a_second() {
    let (mut h, topic) = mesh_harness(10);
    let d = h.mesh_len(&topic);
    assert_eq!(d, 6);
    let batch: Vec<(TopicHash, Bytes)> = (0..4u8)
        .map(|i| (topic.clone(), Bytes::from(vec![i; 100])))
        .collect();
    let ids: Vec<MessageId> = h
        .router
        .publish_batch(h.now, batch)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let order = send_order(&h.drain());
    assert_eq!(order.len(), 4 * d);
    // Round by round: the k-th block of 4 sends carries each message once.
    for (round, chunk) in order.chunks(4).enumerate() {
        let got: Vec<&MessageId> = chunk.iter().map(|(_, id)| id).collect();
        assert_eq!(got, ids.iter().collect::<Vec<_>>(), "round {round}");
    }
    // The first copies go to four different peers.
    let first: std::collections::HashSet<PeerId> = order[..4].iter().map(|(p, _)| *p).collect();
    assert_eq!(first.len(), 4);
    // Every message still reaches every mesh peer exactly once.
    for id in &ids {
        let mut to: Vec<PeerId> = order
            .iter()
            .filter(|(_, m)| m == id)
            .map(|(p, _)| *p)
            .collect();
        to.sort();
        to.dedup();
        assert_eq!(to.len(), d);
    }

    // One by one, the first message gets all its copies before the second gets any.
    let (mut h, topic) = mesh_harness(10);
    let first = h
        .router
        .publish(h.now, topic.clone(), vec![0u8; 100])
        .unwrap();
    h.router.publish(h.now, topic, vec![1u8; 100]).unwrap();
    let order = send_order(&h.drain());
    assert!(order[..d].iter().all(|(_, id)| *id == first));
}

#[test]
fn a_failing_item_does_not_stop_the_batch() {
    let (mut h, topic) = mesh_harness(3);
    let results = h.router.publish_batch(
        h.now,
        [
            (topic.clone(), Bytes::from_static(b"a")),
            (topic.clone(), Bytes::from_static(b"a")),
            (TopicHash::from_raw("nobody"), Bytes::from_static(b"b")),
            (topic.clone(), Bytes::from(vec![0u8; 70_000])),
            (topic, Bytes::from_static(b"c")),
        ],
    );
    assert!(results[0].is_ok());
    assert_eq!(results[1], Err(PublishError::Duplicate));
    assert!(matches!(
        results[2],
        Err(PublishError::NoPeersSubscribedToTopic(_))
    ));
    assert!(matches!(
        results[3],
        Err(PublishError::MessageTooLarge { .. })
    ));
    assert!(results[4].is_ok());
    assert_eq!(send_order(&h.drain()).len(), 2 * 3);
}
