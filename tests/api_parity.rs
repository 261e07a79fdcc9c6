//! API parity with libp2p-gossipsub 0.50: the items a typical user of that crate touches,
//! written the way such a user writes them, against our crate. If this file stops compiling, a
//! user's code stopped compiling too: update MIGRATING.md (the table of items and the list of
//! deliberate differences) in the same change.
//!
//! Where our design differs on purpose, the line here uses our form and MIGRATING.md says why
//! (for example `validate_messages(true)` instead of `validate_messages()`).

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher as _};
use std::time::Duration;

use bytes::Bytes;
use gossipsub as gs;
use libp2p::identity::{Keypair, PeerId};
use sha2::{Digest, Sha256};

/// A content-addressed message id, as chat-style applications write it.
fn hash_id(message: &gs::Message) -> gs::MessageId {
    let mut s = DefaultHasher::new();
    message.data.hash(&mut s);
    gs::MessageId::from(s.finish().to_string())
}

/// A truncated-digest message id, as beacon clients write it: built from a borrowed slice.
fn digest_id(message: &gs::Message) -> gs::MessageId {
    let digest = Sha256::digest(&message.data);
    gs::MessageId::new(&digest[..20])
}

/// Every libp2p-gossipsub `ConfigBuilder` setter a typical application calls, under the names
/// that crate uses.
fn libp2p_style_builder() -> gs::ConfigBuilder {
    let mut builder = gs::ConfigBuilder::default();
    builder
        .heartbeat_interval(Duration::from_millis(700))
        .heartbeat_initial_delay(Duration::from_secs(5))
        .validation_mode(gs::ValidationMode::Strict)
        .message_id_fn(hash_id)
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .mesh_outbound_min(2)
        .retain_scores(4)
        .gossip_lazy(6)
        .gossip_factor(0.25)
        .history_length(6)
        .history_gossip(3)
        .fanout_ttl(Duration::from_secs(60))
        .duplicate_cache_time(Duration::from_secs(60))
        .check_explicit_peers_ticks(300)
        .max_transmit_size(1 << 20)
        .max_ihave_messages_heartbeat(10)
        .gossip_retransimission(3)
        .max_publish_messages(5000)
        .max_control_message_size(16384)
        .connection_handler_queue_len(5000)
        .publish_queue_duration(Duration::from_secs(5))
        .forward_queue_duration(Duration::from_secs(1))
        .idontwant_message_size_threshold(1000)
        .idontwant_on_publish(false)
        .allow_self_origin(false)
        .flood_publish(true)
        .prune_peers(16)
        .prune_backoff(Duration::from_secs(60))
        .unsubscribe_backoff(Duration::from_secs(10))
        .backoff_slack(1)
        .graft_flood_threshold(Duration::from_secs(10))
        .opportunistic_graft_ticks(60)
        .opportunistic_graft_peers(2)
        .iwant_followup_time(Duration::from_secs(3))
        // libp2p-gossipsub: `.validate_messages()`, `.do_px()` (no argument).
        .validate_messages(true)
        .do_px(true);
    builder
}

#[test]
fn config_builder_takes_libp2p_gossipsub_names() {
    // `build` returns `Result<Config, ConfigBuilderError>` in both crates.
    let built: Result<gs::Config, gs::ConfigBuilderError> = libp2p_style_builder().build();
    let config = built.expect("valid config");
    // The aliases set the same values their getters (under both names) read back.
    assert_eq!(config.duplicate_cache_time(), Duration::from_secs(60));
    assert_eq!(config.seen_ttl(), Duration::from_secs(60));
    assert_eq!(config.check_explicit_peers_ticks(), 300);
    assert_eq!(config.direct_connect_ticks(), 300);
    assert_eq!(config.max_ihave_messages_heartbeat(), 10);
    assert_eq!(config.gossip_retransimission(), 3);
    assert_eq!(config.max_publish_messages(), 5000);
    assert_eq!(config.max_messages_per_rpc(), Some(5000));
    assert_eq!(config.max_control_message_size(), 16384);
    assert_eq!(config.connection_handler_queue_len(), 5000);
    assert_eq!(config.send_queue_size(), 5000);
    assert!(config.validate_messages() && config.do_px());
    assert_eq!(config.max_transmit_size(), 1 << 20);
    // A builder can be made from a config, as in libp2p-gossipsub.
    let again = gs::ConfigBuilder::from(config.clone())
        .build()
        .expect("valid");
    assert_eq!(again.mesh_n(), config.mesh_n());
    // The digest-style id function is accepted too.
    gs::ConfigBuilder::default()
        .message_id_fn(digest_id)
        .build()
        .expect("valid");
}

#[test]
fn message_id_from_borrowed_and_owned_bytes() {
    let digest = Sha256::digest(b"payload");
    let from_slice = gs::MessageId::new(&digest[..20]);
    let from_vec = gs::MessageId::from(digest[..20].to_vec());
    let from_array_ref = gs::MessageId::from(&<[u8; 32]>::from(digest));
    assert_eq!(from_slice, from_vec);
    assert_eq!(from_array_ref.as_bytes(), &digest[..]);
    assert_eq!(gs::MessageId::from("abc"), gs::MessageId::new(b"abc"));
    assert_eq!(
        gs::MessageId::from(String::from("abc")),
        gs::MessageId::from(Bytes::from_static(b"abc"))
    );
    assert_eq!(gs::MessageId::from([1u8, 2]).to_string(), "0102");
}

fn offline_behaviour(config: gs::Config) -> gs::Behaviour {
    let key = Keypair::generate_ed25519();
    gs::Behaviour::new(gs::MessageAuthenticity::Signed(key), config).expect("valid config")
}

#[test]
fn publish_accepts_what_libp2p_gossipsub_accepts() {
    let mut behaviour = offline_behaviour(gs::Config::default());
    let topic = gs::IdentTopic::new("chat");
    behaviour.subscribe(&topic).expect("subscribe");
    let line = String::from("a line typed by the user");
    let owned: Vec<u8> = vec![1, 2, 3];
    let borrowed: &[u8] = &owned;
    // Each call compiles; with nobody to send to, each fails the same way.
    let results = [
        behaviour.publish(topic.clone(), line.as_bytes()),
        behaviour.publish(topic.clone(), line.clone()),
        behaviour.publish(topic.clone(), "static str"),
        behaviour.publish(topic.clone(), borrowed),
        behaviour.publish(topic.hash(), owned.clone()),
        behaviour.publish(topic.clone(), [7u8; 4]),
        behaviour.publish(topic.clone(), &owned[..2]),
        behaviour.publish(topic.clone(), Bytes::from_static(b"bytes")),
    ];
    for result in results {
        match result {
            Err(gs::PublishError::NoPeersSubscribedToTopic(..)) => {}
            Err(gs::PublishError::Duplicate) => panic!("distinct payloads"),
            Err(gs::PublishError::AllQueuesFull(n)) => panic!("no queue exists: {n}"),
            other => panic!("expected NoPeersSubscribedToTopic, got {other:?}"),
        }
    }
}

#[test]
fn behaviour_methods_under_libp2p_gossipsub_names() {
    let mut behaviour = offline_behaviour(gs::Config::default());
    let peer = PeerId::random();
    behaviour.add_explicit_peer(&peer);
    assert!(behaviour.router().direct_peers().any(|p| *p == peer));
    behaviour.remove_explicit_peer(&peer);
    assert!(!behaviour.router().direct_peers().any(|p| *p == peer));
    behaviour.blacklist_peer(&peer);
    behaviour.remove_blacklisted_peer(&peer);

    let topic = gs::Sha256Topic::new("blocks");
    let mut params = gs::PeerScoreParams::default();
    params
        .ip_colocation_factor_whitelist
        .insert(std::net::IpAddr::from([127, 0, 0, 1]).into());
    behaviour
        .with_peer_score(params, gs::PeerScoreThresholds::default())
        .expect("valid score params");
    let topic_params = gs::TopicScoreParams {
        topic_weight: 0.5,
        // libp2p-gossipsub: `score_parameter_decay(decay)`, which assumes a 1 s interval.
        first_message_deliveries_decay: gs::score_parameter_decay(
            Duration::from_secs(60),
            Duration::from_secs(1),
        ),
        ..Default::default()
    };
    // libp2p-gossipsub takes the topic by value; a reference works as well.
    behaviour
        .set_topic_params(topic.clone(), topic_params.clone())
        .expect("valid topic params");
    behaviour
        .set_topic_params(&topic, topic_params)
        .expect("valid topic params");
    assert_eq!(
        behaviour.get_topic_params(&topic).map(|p| p.topic_weight),
        Some(0.5)
    );
    assert!(!behaviour.set_application_score(&peer, 1.0));
    assert_eq!(behaviour.peer_score(&peer), Some(0.0));
    assert_eq!(behaviour.topics().count(), 0);
    assert_eq!(behaviour.mesh_peers(&topic.hash()).count(), 0);
    assert_eq!(behaviour.all_mesh_peers().count(), 0);
    assert_eq!(behaviour.all_peers().count(), 0);
    assert_eq!(behaviour.peer_protocol().count(), 0);
    let unknown = gs::MessageId::new(b"unknown");
    assert!(!behaviour.report_message_validation_result(
        &unknown,
        &peer,
        gs::MessageAcceptance::Accept
    ));
}

#[test]
fn constructors_filters_and_transforms() {
    let key = Keypair::generate_ed25519();
    let auth = || gs::MessageAuthenticity::Signed(key.clone());
    let config = gs::Config::default;
    let allowed: HashSet<gs::TopicHash> = [gs::IdentTopic::new("a").hash()].into();

    let _ = gs::Behaviour::new_with_subscription_filter(
        auth(),
        config(),
        gs::WhitelistSubscriptionFilter(allowed.clone()),
    )
    .expect("valid");
    let _ = gs::Behaviour::new_with_subscription_filter(
        auth(),
        config(),
        gs::AllowAllSubscriptionFilter {},
    )
    .expect("valid");
    let capped = gs::MaxCountSubscriptionFilter {
        filter: gs::WhitelistSubscriptionFilter(allowed.clone()),
        max_subscribed_topics: 200,
        max_subscriptions_per_request: 150,
    };
    let mut behaviour =
        gs::Behaviour::new_with_subscription_filter(auth(), config(), capped).expect("valid");
    assert!(behaviour.subscribe(&gs::IdentTopic::new("a")).is_ok());
    assert!(matches!(
        behaviour.subscribe(&gs::IdentTopic::new("b")),
        Err(gs::SubscriptionError::NotAllowed(..))
    ));
    let combined = gs::CombinedSubscriptionFilters {
        filter1: gs::RegexSubscriptionFilter(regex::Regex::new("^/eth2/").expect("regex")),
        filter2: gs::CallbackSubscriptionFilter(|t: &gs::TopicHash| t.as_str().ends_with("/ssz")),
    };
    let _ = gs::Behaviour::new_with_subscription_filter_and_transform(
        auth(),
        config(),
        combined,
        gs::IdentityTransform,
    )
    .expect("valid");
    let _ =
        gs::Behaviour::new_with_transform(auth(), config(), gs::IdentityTransform).expect("valid");

    // Metrics: the config type under libp2p-gossipsub's root name.
    let mut registry = prometheus_client::registry::Registry::default();
    let _ = gs::Behaviour::new(auth(), config())
        .expect("valid")
        .with_metrics(&mut registry, gs::MetricsConfig::default());
}

/// The event arms a libp2p-gossipsub application writes, including the slow-peer counts in
/// their two-class shape.
#[allow(dead_code)]
fn handle(event: gs::Event) -> String {
    match event {
        gs::Event::Message {
            propagation_source,
            message_id,
            message,
        } => format!(
            "{propagation_source} {message_id} {:?} {} {:?} {}",
            message.source,
            message.topic,
            message.sequence_number,
            String::from_utf8_lossy(&message.data)
        ),
        gs::Event::Subscribed { peer_id, topic } => format!("{peer_id} +{topic}"),
        gs::Event::Unsubscribed { peer_id, topic } => format!("{peer_id} -{topic}"),
        gs::Event::GossipsubNotSupported { peer_id } => format!("{peer_id} no gossipsub"),
        gs::Event::SlowPeer {
            peer_id,
            failed_messages,
        } => format!(
            "{peer_id} slow: {} priority, {} non-priority",
            failed_messages.priority, failed_messages.non_priority
        ),
        _ => String::new(),
    }
}

#[test]
fn failed_messages_have_libp2p_gossipsub_classes() {
    // Their priority class is control (subscriptions, GRAFT, PRUNE, IDONTWANT); everything
    // else (publishes, forwards, expiries) is non-priority.
    let failed = gs::FailedMessages::new(1, 2, 3, 4);
    assert_eq!(failed.publish, 1);
    assert_eq!(failed.forward, 2);
    assert_eq!(failed.control, 3);
    assert_eq!(failed.timeout, 4);
    assert_eq!(failed.priority, 3);
    assert_eq!(failed.non_priority, 1 + 2 + 4);
    let mut sum = failed;
    sum.add(&failed);
    assert_eq!((sum.priority, sum.non_priority), (6, 14));
}
