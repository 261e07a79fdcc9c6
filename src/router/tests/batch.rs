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

#[test]
fn idontwant_for_the_whole_batch_goes_before_the_first_message() {
    let mut b = config();
    b.flood_publish(false).idontwant_on_publish(true);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.add_peers(4, &topic, false);
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.drain();
    let size = h.router.config().idontwant_message_size_threshold();
    let ids: Vec<MessageId> = h
        .router
        .publish_batch(
            h.now,
            (0..3u8).map(|i| (topic.clone(), Bytes::from(vec![i; size]))),
        )
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let actions = h.drain();
    let first_message = actions
        .iter()
        .position(|a| {
            matches!(
                a,
                Action::Send {
                    message_id: Some(_),
                    ..
                }
            )
        })
        .unwrap();
    for peer in h.router.mesh_peers(&topic).copied().collect::<Vec<_>>() {
        let told: Vec<MessageId> = actions[..first_message]
            .iter()
            .filter_map(|a| match a {
                Action::Send { peer: p, rpc, .. } if *p == peer => Some(rpc.control.clone()),
                _ => None,
            })
            .flatten()
            .flat_map(|c| match c {
                ControlAction::IDontWant { message_ids } => message_ids,
                _ => Vec::new(),
            })
            .collect();
        for id in &ids {
            assert!(told.contains(id), "{peer} not told of {id} first");
        }
    }
}

/// A batch longer than a peer's publish queue (`send_queue_size` items) could never be queued
/// whole to any peer, while preparing it would materialise one send per item and recipient
/// (a million one-byte items to 50 peers: 50 million sends). It is refused whole, with a
/// typed error per item: nothing signed, cached or sent.
#[test]
fn a_batch_longer_than_the_send_queue_is_refused_whole() {
    let mut b = config();
    b.flood_publish(false).send_queue_size(4);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.add_peers(3, &topic, false);
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.drain();
    let results = h.router.publish_batch(
        h.now,
        (0..5u8).map(|i| (topic.clone(), Bytes::from(vec![i; 10]))),
    );
    assert_eq!(
        results,
        vec![Err(PublishError::BatchTooLarge { len: 5, max: 4 }); 5]
    );
    assert_eq!(h.router.counters().publish_batches_too_large, 1);
    assert!(send_order(&h.drain()).is_empty());
    // At the bound, the batch goes out.
    let results = h.router.publish_batch(
        h.now,
        (0..4u8).map(|i| (topic.clone(), Bytes::from(vec![i; 10]))),
    );
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(send_order(&h.drain()).len(), 4 * 3);
}

#[test]
fn an_empty_batch_publishes_nothing() {
    let (mut h, _) = mesh_harness(3);
    assert!(h.router.publish_batch(h.now, []).is_empty());
    assert!(h.drain().is_empty());
}

/// A batch whose messages together hold more bytes than a peer's publish queue
/// (`send_queue_bytes`) could never be queued whole either: before, it was signed and cached,
/// one send per message and recipient was built, and every peer's queue then refused the tail
/// (the application saw `Ok` for all of it). It is refused whole, with a typed error per item.
#[test]
fn a_batch_over_the_send_queue_bytes_is_refused_whole() {
    let mut b = config();
    b.flood_publish(false).send_queue_bytes(1000);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    h.add_peers(3, &topic, false);
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.drain();
    let results = h.router.publish_batch(
        h.now,
        (0..4u8).map(|i| (topic.clone(), Bytes::from(vec![i; 300]))),
    );
    assert_eq!(
        results,
        vec![
            Err(PublishError::BatchTooManyBytes {
                bytes: 1200,
                max: 1000
            });
            4
        ]
    );
    assert_eq!(h.router.counters().publish_batches_too_large, 1);
    assert!(send_order(&h.drain()).is_empty());
    // Nothing was cached: the same data goes out in a batch that fits.
    let results = h.router.publish_batch(
        h.now,
        (0..3u8).map(|i| (topic.clone(), Bytes::from(vec![i; 300]))),
    );
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(send_order(&h.drain()).len(), 3 * 3);
    // One message larger than the queue's bytes still goes (an empty queue takes it).
    let results = h
        .router
        .publish_batch(h.now, [(topic.clone(), Bytes::from(vec![9u8; 2000]))]);
    assert!(results[0].is_ok(), "{results:?}");
}
