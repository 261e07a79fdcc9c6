//! Prometheus metrics of two real swarms (memory transport) exchanging messages: the scrape
//! carries plausible values.

#![cfg(feature = "metrics")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Net, Ours, Shared, fast_config, memory_addr, memory_swarm};
use gossipsub::metrics::MetricsConfig;
use gossipsub::{IdentTopic, MessageAuthenticity};
use libp2p::identity::Keypair;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

const TOPIC: &str = "metrics-topic";
const TIMEOUT: Duration = Duration::from_secs(10);
const MESSAGES: usize = 3;
const PAYLOAD: usize = 100;

fn node(registry: &mut Registry, config: MetricsConfig) -> Ours {
    let key = Keypair::generate_ed25519();
    let behaviour = gossipsub::Behaviour::new(
        MessageAuthenticity::Signed(key.clone()),
        // Messages stay cached for 10 s (100 heartbeats), well past the scrape: the cache
        // size the scrape checks does not race the windows' expiry.
        fast_config()
            .history_length(100)
            .build()
            .expect("valid config"),
    )
    .expect("behaviour")
    .with_metrics(registry, config);
    let mut swarm = memory_swarm(key, behaviour);
    let addr = memory_addr();
    swarm.listen_on(addr.clone()).expect("listen");
    Ours { swarm, addr }
}

fn scrape(registry: &Arc<Mutex<Registry>>) -> String {
    let mut out = String::new();
    encode(&mut out, &registry.lock().expect("registry lock")).expect("encodes");
    out
}

/// The value of the sample `series` (name and labels exactly as encoded), or 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("numeric sample"))
}

#[tokio::test]
async fn two_nodes_exchanging_messages_show_in_the_scrape() {
    let topic = IdentTopic::new(TOPIC);
    let reg_a = Arc::new(Mutex::new(Registry::default()));
    let reg_b = Arc::new(Mutex::new(Registry::default()));
    // A labels the topic; B counts it under `other`.
    let a = node(
        &mut reg_a.lock().unwrap(),
        MetricsConfig::new().with_topic(topic.hash()),
    );
    let b = node(&mut reg_b.lock().unwrap(), MetricsConfig::new());
    let (a, node_a) = Shared::wrap(a);
    let (b, node_b) = Shared::wrap(b);
    let mut net = Net::new(vec![node_a, node_b]);
    net.nodes[0].subscribe(TOPIC);
    net.nodes[1].subscribe(TOPIC);
    net.connect(0, 1);
    let meshed = net
        .wait_for(TIMEOUT, |_| {
            let a = a.lock().unwrap();
            let b = b.lock().unwrap();
            a.swarm.behaviour().mesh_peers(&topic.hash()).count() == 1
                && b.swarm.behaviour().mesh_peers(&topic.hash()).count() == 1
        })
        .await;
    assert!(meshed, "the two nodes never meshed");
    for i in 0..MESSAGES {
        net.nodes[0]
            .publish(TOPIC, vec![i as u8; PAYLOAD])
            .expect("publish");
    }
    let delivered = net
        .run_until(TIMEOUT, |ev| {
            ev[1]
                .iter()
                .filter(|e| matches!(e, common::NodeEvent::Message { .. }))
                .count()
                == MESSAGES
        })
        .await;
    assert!(delivered, "B did not receive every message");
    // Let a few 100 ms heartbeats sample the state.
    net.run_for(Duration::from_millis(400)).await;

    let a_text = scrape(&reg_a);
    let b_text = scrape(&reg_b);
    let t = format!("topic=\"{TOPIC}\"");
    let m = MESSAGES as f64;
    let bytes = (MESSAGES * PAYLOAD) as f64;
    // A: mesh of one, what it published and sent, under its own label.
    assert_eq!(
        sample(&a_text, &format!("gossipsub_mesh_peers{{{t}}}")),
        1.0,
        "{a_text}"
    );
    assert_eq!(
        sample(&a_text, &format!("gossipsub_topics_active_total{{{t}}}")),
        1.0
    );
    assert_eq!(
        sample(&a_text, &format!("gossipsub_peers_total{{{t}}}")),
        1.0
    );
    assert_eq!(
        sample(
            &a_text,
            &format!("gossipsub_topic_msg_published_total{{{t}}}")
        ),
        m
    );
    assert_eq!(
        sample(
            &a_text,
            &format!("gossipsub_topic_msg_published_bytes_total{{{t}}}")
        ),
        bytes
    );
    assert_eq!(
        sample(
            &a_text,
            &format!("gossipsub_topic_msg_sent_counts_total{{{t}}}")
        ),
        m
    );
    assert_eq!(
        sample(
            &a_text,
            &format!("gossipsub_topic_msg_sent_bytes_total{{{t}}}")
        ),
        bytes
    );
    assert_eq!(
        sample(&a_text, "gossipsub_topics_healthy"),
        0.0,
        "D_lo is 5 by default"
    );
    assert_eq!(sample(&a_text, "gossipsub_topics_below_d_lo"), 1.0);
    assert_eq!(
        sample(
            &a_text,
            "gossipsub_peers_per_protocol{protocol=\"meshsub_1.3\"}"
        ),
        1.0
    );
    assert!(sample(&a_text, "gossipsub_heartbeat_duration_seconds_count") >= 1.0);
    // The mesh of two forms from whichever GRAFT arrives first: the other
    // side then takes the peer in without sending its own.
    let grafts = |text: &str| sample(text, "gossipsub_control_sent_total{kind=\"graft\"}");
    assert!(grafts(&a_text) + grafts(&b_text) >= 1.0);
    assert_eq!(
        sample(
            &a_text,
            "gossipsub_topic_msg_published_total{topic=\"other\"}"
        ),
        0.0
    );
    // B: the topic is not labelled there, so it is `other`.
    let o = "topic=\"other\"";
    assert_eq!(
        sample(&b_text, &format!("gossipsub_mesh_peers{{{o}}}")),
        1.0,
        "{b_text}"
    );
    assert_eq!(
        sample(
            &b_text,
            &format!("gossipsub_topic_msg_recv_counts_total{{{o}}}")
        ),
        m
    );
    assert_eq!(
        sample(
            &b_text,
            &format!("gossipsub_topic_msg_recv_bytes_total{{{o}}}")
        ),
        bytes
    );
    assert!(
        sample(
            &b_text,
            &format!("gossipsub_topic_msg_recv_counts_unfiltered_total{{{o}}}")
        ) >= m
    );
    assert_eq!(
        sample(
            &b_text,
            &format!("gossipsub_message_received_total{{{o},validation_result=\"accepted\"}}")
        ),
        m
    );
    assert_eq!(
        sample(
            &b_text,
            &format!("gossipsub_message_delivered_total{{{o}}}")
        ),
        m
    );
    assert!(sample(&b_text, "gossipsub_seen_cache_size") >= m);
    assert!(sample(&b_text, "gossipsub_mcache_size") >= m);
    // Which rule put A in B's mesh depends on timing (our SUBSCRIBE, their GRAFT, or a
    // heartbeat graft below D_lo): at least one inclusion, whatever its reason.
    let inclusions: f64 = [
        "subscribed",
        "graft_received",
        "below_d_lo",
        "outbound",
        "opportunistic",
    ]
    .iter()
    .map(|reason| {
        sample(
            &b_text,
            &format!("gossipsub_mesh_peer_inclusion_events_total{{{o},reason=\"{reason}\"}}"),
        )
    })
    .sum();
    assert!(inclusions >= 1.0, "{b_text}");
    // B never labels the topic by name.
    assert!(!b_text.contains(TOPIC), "{b_text}");
}
