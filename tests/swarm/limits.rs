//! Size limits and malformed input at the swarm level: oversized publishes and subscription
//! RPCs, topics over `max_topic_len`, and malformed frames from a raw peer.

use super::*;

// ---------------------------------------------------------------------------------------------
// 6. Oversized publish.
// ---------------------------------------------------------------------------------------------

/// Publishing data larger than `max_transmit_size` fails with the typed
/// `PublishError::MessageTooLarge` (carrying the limit), and nothing reaches the peer; a
/// normal publish right after still works.
#[tokio::test]
async fn oversized_publish_is_refused_and_not_sent() {
    const MAX: usize = 1024;
    let config = fast_config()
        .max_transmit_size(MAX)
        .build()
        .expect("config");
    let (a, a_node) = shared_ours(config.clone());
    let b = Ours::signed(config);
    let mut net = Net::new(vec![a_node, Box::new(b)]);
    net.connect(0, 1);
    net.nodes[0].subscribe(TOPIC);
    net.nodes[1].subscribe(TOPIC);
    assert!(net.wait_subscribed(&[0, 1], TOPIC, 1, TIMEOUT).await);

    let big = vec![0xab; 2 * MAX];
    let result = lock(&a)
        .swarm
        .behaviour_mut()
        .publish(IdentTopic::new(TOPIC), big.clone());
    assert!(
        matches!(result, Err(PublishError::MessageTooLarge { size, max: MAX }) if size > MAX),
        "expected MessageTooLarge, got {result:?}"
    );

    net.run_for(SETTLE).await;
    assert!(
        net.received(1).is_empty(),
        "B received {:?}",
        net.received(1)
    );

    publish_and_wait(&mut net, 0, &[1], b"small").await;
    net.run_for(Duration::from_millis(200)).await;
    assert_eq!(net.received(1), vec![(TOPIC.to_owned(), b"small".to_vec())]);
}

/// An RPC larger than `max_transmit_size` is split, never refused whole: a node subscribed to
/// 40 topics of 100 bytes (their subscription RPC is ~4.3 KiB) tells a new peer about every
/// one of them under a 1 KiB limit, and messages still flow afterwards.
#[tokio::test]
async fn oversized_subscription_rpc_is_split_and_delivered() {
    const MAX: usize = 1024;
    let config = fast_config()
        .max_transmit_size(MAX)
        .build()
        .expect("config");
    let (a, a_node) = shared_ours(config.clone());
    let b = Ours::signed(config);
    let mut net = Net::new(vec![a_node, Box::new(b)]);
    let topics: Vec<String> = (0..40).map(|i| format!("{i:0>100}")).collect();
    for topic in &topics {
        net.nodes[0].subscribe(topic);
    }
    net.nodes[0].subscribe(TOPIC);
    net.nodes[1].subscribe(TOPIC);
    net.connect(0, 1);
    let a_id = net.nodes[0].peer_id();
    let ok = net
        .run_until(TIMEOUT, |ev| {
            ev[1]
                .iter()
                .filter(|e| matches!(e, NodeEvent::Subscribed { peer, .. } if *peer == a_id))
                .count()
                == topics.len() + 1
        })
        .await;
    assert!(
        ok,
        "B learnt only some of A's subscriptions: {:?}",
        net.events[1]
    );
    publish_and_wait(&mut net, 0, &[1], b"after the split").await;
    assert_eq!(
        lock(&a)
            .swarm
            .behaviour()
            .counters()
            .control_too_large_to_send,
        0
    );
}

/// A topic longer than `max_topic_len` is refused at subscribe with a typed error: peers with
/// the same limit would skip every message and control entry naming it.
#[test]
fn subscribing_to_a_topic_over_max_topic_len_is_refused() {
    let config = fast_config().max_topic_len(32).build().expect("config");
    let mut node = Ours::signed(config);
    let behaviour = node.swarm.behaviour_mut();
    let long = IdentTopic::new("t".repeat(33));
    assert!(matches!(
        behaviour.subscribe(&long),
        Err(gossipsub::SubscriptionError::TopicTooLong(_))
    ));
    assert_eq!(
        behaviour.subscribe(&IdentTopic::new("t".repeat(32))),
        Ok(true)
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Malformed RPCs from a raw peer.
// ---------------------------------------------------------------------------------------------

/// The protobuf `RPC { subscriptions: [{subscribe: true, topicid}], publish: [{data, topic}] }`:
/// a subscription and an anonymous message, encoded by hand (field numbers from rpc.proto).
fn subscribe_and_publish_rpc(topic: &str, data: &[u8]) -> Vec<u8> {
    let mut sub = vec![0x08, 0x01]; // SubOpts.subscribe = true
    put_bytes_field(&mut sub, 2, topic.as_bytes()); // SubOpts.topicid
    let mut message = Vec::new();
    put_bytes_field(&mut message, 2, data); // Message.data
    put_bytes_field(&mut message, 4, topic.as_bytes()); // Message.topic
    let mut rpc = Vec::new();
    put_bytes_field(&mut rpc, 1, &sub); // RPC.subscriptions
    put_bytes_field(&mut rpc, 2, &message); // RPC.publish
    rpc
}

/// A raw peer writes, on one `/meshsub/1.1.0` stream: three malformed frames, one frame whose
/// length prefix exceeds our `max_transmit_size` (followed by that many bytes), and then a valid
/// RPC with a subscription and an anonymous message. Our node neither panics nor drops the
/// stream: it counts each bad frame (`rpcs_malformed`, `rpcs_too_large`), resynchronises after
/// the oversized one, and delivers the valid message and subscription.
#[tokio::test]
async fn malformed_frames_are_counted_and_skipped() {
    const MAX: usize = 256;
    let config = fast_config()
        .max_transmit_size(MAX)
        .validation_mode(ValidationMode::Anonymous)
        .build()
        .expect("config");
    let ours = Ours::new(
        Keypair::generate_ed25519(),
        MessageAuthenticity::Anonymous,
        config,
    );
    let (ours, ours_node) = Shared::wrap(ours);

    let mut stream_bytes = Vec::new();
    // 1. RPC.subscriptions claims 80 bytes but the frame holds only one.
    put_frame(&mut stream_bytes, &[0x0a, 0x50, 0x01]);
    // 2. A field with the (deprecated) start-group wire type.
    put_frame(&mut stream_bytes, &[0x0b, 0x00]);
    // 3. A tag varint that never ends within the frame.
    put_frame(&mut stream_bytes, &[0xff, 0xff, 0xff, 0xff]);
    // 4. An oversized frame: its bytes must be skipped, not parsed as frames.
    let oversized: Vec<u8> = (0..MAX as u32 + 50).map(|i| (i % 251) as u8).collect();
    put_frame(&mut stream_bytes, &oversized);
    // 5. A valid RPC.
    put_frame(
        &mut stream_bytes,
        &subscribe_and_publish_rpc(TOPIC, b"valid after garbage"),
    );

    let raw = RawNode::new(Keypair::generate_ed25519(), stream_bytes);
    let raw_id = raw.peer_id();
    let mut net = Net::new(vec![ours_node, Box::new(raw)]);
    net.nodes[0].subscribe(TOPIC);
    net.connect(1, 0);

    let expected = NodeEvent::Message {
        source: None,
        topic: TOPIC.into(),
        data: b"valid after garbage".to_vec(),
    };
    let delivered = net.run_until(TIMEOUT, |ev| ev[0].contains(&expected)).await;
    let counters = *lock(&ours).swarm.behaviour().counters();
    assert!(
        delivered,
        "the valid message after the garbage was not delivered; counters: {counters:?}"
    );
    assert_eq!(counters.rpcs_malformed, 3, "{counters:?}");
    assert_eq!(counters.rpcs_too_large, 1, "{counters:?}");
    assert!(
        has_subscribed(&net.events[0], raw_id),
        "the subscription in the valid RPC was not applied"
    );

    // The node keeps running normally afterwards.
    net.run_for(Duration::from_millis(300)).await;
    assert_eq!(net.count(0, b"valid after garbage"), 1);
    assert!(
        lock(&ours)
            .swarm
            .behaviour()
            .all_peers()
            .any(|(p, topics)| *p == raw_id && topics.contains(&&topic_hash())),
        "the raw peer is not known as a subscriber"
    );
}
