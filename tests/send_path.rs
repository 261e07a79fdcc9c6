//! The send path against real peers: a closed outbound stream is noticed and reopened, a slow
//! peer is bounded, reported and penalised without stalling the others, and idle connections
//! are not kept alive for nothing.
//!
//! Set `RUST_LOG` (e.g. `RUST_LOG=gossipsub=debug`) to see the logs.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Net, NodeEvent, Ours, Shared, Theirs, fast_config};
use libp2p::identity::Keypair;

const TOPIC: &str = "send-path";
/// Upper bound for any single wait; a passing test needs a small fraction of it.
const TIMEOUT: Duration = Duration::from_secs(15);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A libp2p-gossipsub 0.50 node with its defaults (max_transmit_size 64 KiB) and a fast
/// heartbeat.
fn default_theirs() -> Theirs {
    let mut b = libp2p_gossipsub::ConfigBuilder::default();
    b.heartbeat_interval(Duration::from_millis(100))
        .heartbeat_initial_delay(Duration::from_millis(10))
        .validation_mode(libp2p_gossipsub::ValidationMode::Strict);
    let key = Keypair::generate_ed25519();
    Theirs::new(
        key.clone(),
        libp2p_gossipsub::MessageAuthenticity::Signed(key),
        b.build().expect("valid config"),
    )
}

/// A default libp2p-gossipsub peer refuses a 100 kB frame and closes its side of our outbound
/// stream. We must notice, open a new stream, and keep delivering: the small message published
/// afterwards has to arrive.
#[tokio::test]
async fn peer_refusing_an_oversized_frame_still_gets_later_messages() {
    init_tracing();
    let mut config = fast_config();
    config.max_transmit_size(1 << 20);
    let (ours, ours_box): (Arc<Mutex<Ours>>, _) =
        Shared::wrap(Ours::signed(config.build().expect("valid config")));
    let (_theirs, theirs_box) = Shared::wrap(default_theirs());
    let mut net = Net::new(vec![ours_box, theirs_box]);
    net.connect(0, 1);
    net.nodes[0].subscribe(TOPIC);
    net.nodes[1].subscribe(TOPIC);
    assert!(net.wait_subscribed(&[0, 1], TOPIC, 1, TIMEOUT).await);
    // Let both meshes form.
    net.run_for(Duration::from_millis(500)).await;

    let big = vec![7u8; 100_000];
    net.nodes[0]
        .publish(TOPIC, big.clone())
        .expect("ours accepts 100 kB with a 1 MiB limit");
    // Give theirs time to refuse the frame and close its side.
    net.run_for(Duration::from_millis(500)).await;
    assert_eq!(net.count(1, &big), 0, "theirs cannot take 100 kB");

    let small = b"small message after the big one".to_vec();
    net.nodes[0].publish(TOPIC, small.clone()).expect("publish");
    let delivered = net
        .run_until(TIMEOUT, |ev| common::count_in(&ev[1], &small) == 1)
        .await;
    assert!(
        delivered,
        "the small message never reached the libp2p-gossipsub peer"
    );
    let counters = *ours.lock().expect("lock").swarm.behaviour().counters();
    assert!(
        counters.outbound_streams_reopened >= 1,
        "the closed stream was not counted: {counters:?}"
    );
    let _ = NodeEvent::Other;
}
