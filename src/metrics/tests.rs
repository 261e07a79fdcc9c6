//! Unit tests of the metrics fed directly from a sans-IO router (no swarm).

use std::collections::BTreeSet;

use bytes::Bytes;
use libp2p_identity::PeerId;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use super::{Metrics, MetricsConfig, OTHER_TOPIC};
use crate::authenticity::{MessageAuthenticity, ValidationMode};
use crate::config::ConfigBuilder;
use crate::router::{Action, Router};
use crate::types::{PeerKind, RawMessage, Rpc, Subscription, TopicHash};

const TOPICS: usize = 1_000;

fn router(max_topics: usize) -> Router {
    let mut b = ConfigBuilder::default();
    b.validation_mode(ValidationMode::Anonymous)
        .max_topics_per_peer(max_topics)
        .max_subscriptions_per_rpc(max_topics);
    let config = b.build().expect("valid config");
    let now = crate::test_util::epoch();
    Router::new(config, MessageAuthenticity::Anonymous, 7, 1, now).expect("router")
}

fn text(registry: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, registry).expect("encodes");
    out
}

/// Every value of label `name` in the exposition.
fn label_values(text: &str, name: &str) -> BTreeSet<String> {
    let key = format!("{name}=\"");
    let mut values = BTreeSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        for (i, _) in line.match_indices(&key) {
            let rest = &line[i + key.len()..];
            values.insert(rest[..rest.find('"').expect("closing quote")].to_owned());
        }
    }
    values
}

/// The value of the sample `series` (name and labels exactly as encoded).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("numeric sample"))
}

fn message(topic: &TopicHash, n: u64) -> RawMessage {
    RawMessage {
        source: None,
        data: Bytes::from(vec![n as u8; 10]),
        data_absent: false,
        sequence_number: None,
        topic: topic.clone(),
        signature: None,
        key: None,
    }
}

fn drain(router: &mut Router, metrics: &mut Metrics) {
    while let Some(action) = router.poll_action() {
        match action {
            Action::Send { rpc, .. } => metrics.on_send(&rpc),
            Action::Event(event) => metrics.on_event(&event),
            _ => {}
        }
    }
}

/// A remote peer that subscribes to 1,000 topics and sends a message on each adds no label
/// value: every one of them is counted under `other`, next to the configured topic.
#[test]
fn remote_topics_create_no_label_values() {
    let mut registry = Registry::default();
    let ours = TopicHash::from_raw("ours");
    let mut metrics = Metrics::new(
        &mut registry,
        &MetricsConfig::new().with_topic(ours.clone()),
        false,
    );
    let before = label_values(&text(&registry), "topic");
    let expected: BTreeSet<String> = [ours.as_str().to_owned(), OTHER_TOPIC.to_owned()].into();
    assert_eq!(before, expected);

    let mut router = router(TOPICS);
    let now = crate::test_util::epoch();
    router.subscribe(now, ours.clone()).expect("subscribe");
    let peer = PeerId::random();
    router.add_peer(now, peer, false);
    router.set_peer_kind(peer, PeerKind::Gossipsubv1_2);
    let topics: Vec<TopicHash> = (0..TOPICS)
        .map(|i| TopicHash::from_raw(format!("remote-{i}")))
        .collect();
    let rpc = Rpc {
        subscriptions: topics
            .iter()
            .map(|t| Subscription {
                options: Default::default(),
                subscribe: true,
                topic: t.clone(),
            })
            .collect(),
        messages: Vec::new(),
        control: Vec::new(),
        ..Rpc::default()
    };
    metrics.on_receive(&rpc);
    router.handle_rpc(now, peer, rpc);
    for (i, topic) in topics.iter().enumerate() {
        let rpc = Rpc {
            subscriptions: Vec::new(),
            messages: vec![message(topic, i as u64)],
            control: Vec::new(),
            ..Rpc::default()
        };
        metrics.on_receive(&rpc);
        router.handle_rpc(now, peer, rpc);
    }
    drain(&mut router, &mut metrics);
    router.handle_timeout(router.poll_timeout());
    drain(&mut router, &mut metrics);
    metrics.on_heartbeat(&router, std::iter::empty());

    let scrape = text(&registry);
    assert_eq!(label_values(&scrape, "topic"), expected, "{scrape}");
    assert_eq!(metrics.topic_label_count(), 2);
    // The peer's subscriptions and messages were seen, under `other`.
    assert_eq!(
        sample(&scrape, "gossipsub_peers_total{topic=\"other\"}"),
        Some(TOPICS as f64)
    );
    assert_eq!(
        sample(
            &scrape,
            "gossipsub_topic_msg_recv_counts_unfiltered_total{topic=\"other\"}"
        ),
        Some(TOPICS as f64)
    );
    assert_eq!(
        sample(&scrape, "gossipsub_topics_active_total{topic=\"ours\"}"),
        Some(1.0)
    );
}

/// Every field of the router's `Counters` is exported in `gossipsub_router_events_total`,
/// and a counter the router moved shows its increment.
#[test]
fn every_router_counter_is_exported() {
    let mut registry = Registry::default();
    let mut metrics = Metrics::new(&mut registry, &MetricsConfig::new(), false);
    let mut router = router(10);
    let now = crate::test_util::epoch();
    let peer = PeerId::random();
    router.add_peer(now, peer, false);
    router.set_peer_kind(peer, PeerKind::Gossipsubv1_2);
    // A message for a topic we are not subscribed to is dropped and counted.
    router.handle_rpc(
        now,
        peer,
        Rpc {
            subscriptions: Vec::new(),
            messages: vec![message(&TopicHash::from_raw("x"), 1)],
            control: Vec::new(),
            ..Rpc::default()
        },
    );
    drain(&mut router, &mut metrics);
    metrics.on_heartbeat(&router, std::iter::empty());
    let scrape = text(&registry);
    let exported = label_values(&scrape, "event");
    let fields = router.counters().fields();
    assert_eq!(exported.len(), fields.len());
    for (name, _) in fields {
        assert!(exported.contains(name), "{name} not exported");
    }
    // Field names come from the struct itself (Debug), not from a hand-kept list.
    let debug = format!("{:?}", router.counters());
    for (name, _) in fields {
        assert!(debug.contains(&format!("{name}: ")), "{name}");
    }
    assert_eq!(
        debug.matches(": ").count(),
        fields.len(),
        "Counters has fields that fields() does not list: {debug}"
    );
    assert_eq!(
        sample(
            &scrape,
            "gossipsub_router_events_total{event=\"messages_unsubscribed_topic\"}"
        ),
        Some(1.0)
    );
    // A second heartbeat adds nothing more: values are increments, not re-added totals.
    metrics.on_heartbeat(&router, std::iter::empty());
    assert_eq!(
        sample(
            &text(&registry),
            "gossipsub_router_events_total{event=\"messages_unsubscribed_topic\"}"
        ),
        Some(1.0)
    );
}

/// Mesh inclusions are counted by reason from the router's mesh statistics.
#[test]
fn mesh_inclusion_is_counted_by_reason() {
    let mut registry = Registry::default();
    let topic = TopicHash::from_raw("t");
    let mut metrics = Metrics::new(
        &mut registry,
        &MetricsConfig::new().with_topic(topic.clone()),
        false,
    );
    let mut router = router(10);
    let now = crate::test_util::epoch();
    let peers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
    for peer in &peers {
        router.add_peer(now, *peer, true);
        router.set_peer_kind(*peer, PeerKind::Gossipsubv1_2);
        router.handle_rpc(
            now,
            *peer,
            Rpc {
                subscriptions: vec![Subscription {
                    options: Default::default(),
                    subscribe: true,
                    topic: topic.clone(),
                }],
                messages: Vec::new(),
                control: Vec::new(),
                ..Rpc::default()
            },
        );
    }
    router.subscribe(now, topic.clone()).expect("subscribe");
    router.remove_peer(&peers[0]);
    drain(&mut router, &mut metrics);
    metrics.on_heartbeat(&router, std::iter::empty());
    let scrape = text(&registry);
    assert_eq!(
        sample(
            &scrape,
            "gossipsub_mesh_peer_inclusion_events_total{topic=\"t\",reason=\"subscribed\"}"
        ),
        Some(3.0),
        "{scrape}"
    );
    assert_eq!(
        sample(
            &scrape,
            "gossipsub_mesh_peer_churn_events_total{topic=\"t\",reason=\"disconnected\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&scrape, "gossipsub_mesh_peers{topic=\"t\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(&scrape, "gossipsub_control_sent_total{kind=\"graft\"}"),
        Some(3.0)
    );
}

/// With `validate_messages` on, a message counts as accepted, rejected or ignored when the
/// application reports its verdict (under its topic's label), not when it is delivered; a
/// verdict on an unknown or already reported message counts nothing.
#[test]
fn validation_results_are_counted_per_topic() {
    let mut registry = Registry::default();
    let topic = TopicHash::from_raw("v");
    let metrics = Metrics::new(
        &mut registry,
        &MetricsConfig::new().with_topic(topic.clone()),
        true,
    );
    let mut b = ConfigBuilder::default();
    b.validation_mode(ValidationMode::Anonymous)
        .validate_messages(true);
    let now = crate::test_util::epoch();
    let mut router = Router::new(
        b.build().expect("config"),
        MessageAuthenticity::Anonymous,
        7,
        1,
        now,
    )
    .expect("router");
    router.subscribe(now, topic.clone()).expect("subscribe");
    let peer = PeerId::random();
    router.add_peer(now, peer, false);
    router.set_peer_kind(peer, PeerKind::Gossipsubv1_2);
    let mut ids = Vec::new();
    for n in 0..3 {
        router.handle_rpc(
            now,
            peer,
            Rpc {
                subscriptions: Vec::new(),
                messages: vec![message(&topic, n)],
                control: Vec::new(),
                ..Rpc::default()
            },
        );
        while let Some(action) = router.poll_action() {
            if let Action::Event(event) = &action {
                if let crate::Event::Message { message_id, .. } = event {
                    ids.push(message_id.clone());
                }
                metrics.on_event(event);
            }
        }
    }
    assert_eq!(ids.len(), 3);
    let verdicts = [
        crate::MessageAcceptance::Accept,
        crate::MessageAcceptance::Reject,
        crate::MessageAcceptance::Ignore,
    ];
    for (id, verdict) in ids.iter().zip(verdicts) {
        metrics.on_validation(router.awaiting_validation_topic(id), verdict);
        assert!(router.report_validation(now, id, &peer, verdict));
    }
    // Reported already: no longer awaiting a verdict, so not counted twice.
    metrics.on_validation(
        router.awaiting_validation_topic(&ids[1]),
        crate::MessageAcceptance::Reject,
    );
    let scrape = text(&registry);
    for (result, expected) in [("accepted", 1.0), ("rejected", 1.0), ("ignored", 1.0)] {
        let series = format!(
            "gossipsub_message_received_total{{topic=\"v\",validation_result=\"{result}\"}}"
        );
        assert_eq!(
            sample(&scrape, &series),
            Some(expected),
            "{series}\n{scrape}"
        );
    }
    assert_eq!(
        sample(&scrape, "gossipsub_message_delivered_total{topic=\"v\"}"),
        Some(3.0)
    );
}
