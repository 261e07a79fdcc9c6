//! What libp2p-gossipsub 0.50 (default config) refuses on receipt, and that we therefore must
//! never send it: its decoder pre-scans every RPC and fails the whole stream read when the
//! RPC's subscriptions and control together exceed 16 KiB (`max_control_message_size`) or
//! when it carries more than 500 messages (its protocol's default `max_publish_messages`).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Net, NodeEvent, Ours, Theirs, fast_config};
use libp2p::identity::{Keypair, PeerId};

const TIMEOUT: Duration = Duration::from_secs(20);

/// `n` topics of `len` bytes each.
fn topics(n: usize, len: usize) -> Vec<String> {
    (0..n).map(|i| format!("{i:0>len$}")).collect()
}

fn subscribed(events: &[NodeEvent], peer: PeerId) -> HashSet<String> {
    events
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Subscribed { peer: p, topic } if *p == peer => Some(topic.clone()),
            _ => None,
        })
        .collect()
}

/// Our node subscribed to `all` meets a default libp2p-gossipsub node; returns how many of
/// our topics it learned once it learned `expected` of them (or the time ran out).
async fn topics_learned_by_theirs(all: &[String], expected: usize) -> usize {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let key = Keypair::generate_ed25519();
    let ours = Ours::new(
        key.clone(),
        gossipsub::MessageAuthenticity::Signed(key),
        fast_config().build().expect("valid config"),
    );
    let their_key = Keypair::generate_ed25519();
    let theirs = Theirs::new(
        their_key.clone(),
        libp2p_gossipsub::MessageAuthenticity::Signed(their_key),
        libp2p_gossipsub::Config::default(),
    );
    let mut net = Net::new(vec![Box::new(ours), Box::new(theirs)]);
    let our_id = net.nodes[0].peer_id();
    for topic in all {
        net.nodes[0].subscribe(topic);
    }
    net.connect(0, 1);
    net.run_until(TIMEOUT, |ev| subscribed(&ev[1], our_id).len() >= expected)
        .await;
    subscribed(&net.events[1], our_id).len()
}

/// 100 topics of 200 bytes: our first RPC announces about 20 KiB of subscriptions. Split only
/// by our 64 KiB frame limit, it went out whole and theirs refused it (over its 16 KiB
/// `max_control_message_size`): it learned none of our topics.
#[tokio::test]
async fn subscriptions_over_16_kib_reach_a_default_libp2p_gossipsub_peer() {
    let all = topics(100, 200);
    assert_eq!(topics_learned_by_theirs(&all, all.len()).await, all.len());
}

/// 150 short topics: one RPC of 150 subscriptions, which the default subscription filter of
/// theirs refused whole (100 per request), so it learned none. In pieces of at most 100 it
/// learns 100, its own per-peer cap (the rest are refused by that cap, whatever we do).
#[tokio::test]
async fn more_than_100_subscriptions_reach_a_default_libp2p_gossipsub_peer() {
    let all = topics(150, 20);
    assert_eq!(topics_learned_by_theirs(&all, 100).await, 100);
}
