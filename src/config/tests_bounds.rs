//! Tests of the upper bounds on configured durations (no `Instant` overflow).

use std::time::Duration;

use libp2p_identity::PeerId;

use super::ConfigBuilder;
use super::validate::MAX_DURATION;
use crate::authenticity::ValidationMode;
use crate::error::ConfigError;

/// Every configured duration is added to an `Instant` somewhere; `Duration::MAX` would
/// overflow it, so `build` refuses values above the documented bound.
#[test]
fn huge_durations_are_refused_with_the_field_named() {
    type Edit = fn(&mut ConfigBuilder, Duration);
    let cases: &[(&str, Edit)] = &[
        ("heartbeat_interval", |b, d| {
            b.heartbeat_interval(d);
        }),
        ("heartbeat_initial_delay", |b, d| {
            b.heartbeat_initial_delay(d);
        }),
        ("fanout_ttl", |b, d| {
            b.fanout_ttl(d);
        }),
        ("seen_ttl", |b, d| {
            b.seen_ttl(d);
        }),
        ("iwant_followup_time", |b, d| {
            b.iwant_followup_time(d);
        }),
        ("prune_backoff", |b, d| {
            b.prune_backoff(d);
        }),
        ("unsubscribe_backoff", |b, d| {
            b.unsubscribe_backoff(d);
        }),
        ("graft_flood_threshold", |b, d| {
            b.graft_flood_threshold(d);
        }),
        ("forward_queue_duration", |b, d| {
            b.forward_queue_duration(d);
        }),
        ("publish_queue_duration", |b, d| {
            b.publish_queue_duration(d);
        }),
    ];
    for (field, edit) in cases {
        let mut builder = ConfigBuilder::default();
        edit(&mut builder, Duration::MAX);
        match builder.build() {
            Err(ConfigError::InvalidField { field: f, .. }) => assert_eq!(f, *field),
            other => panic!("{field} = Duration::MAX gave {other:?}"),
        }
        // The bound itself is accepted.
        let mut builder = ConfigBuilder::default();
        edit(&mut builder, MAX_DURATION);
        if *field == "heartbeat_interval" {
            builder.prune_backoff(MAX_DURATION);
        }
        assert!(builder.build().is_ok(), "{field} = MAX_DURATION refused");
    }
    let mut builder = ConfigBuilder::default();
    builder
        .backoff_slack(u32::MAX)
        .heartbeat_interval(MAX_DURATION);
    builder.prune_backoff(MAX_DURATION);
    assert!(matches!(
        builder.build(),
        Err(ConfigError::InvalidField {
            field: "backoff_slack",
            ..
        })
    ));
}

/// A router with every duration at its bound survives start, heartbeats, a GRAFT/PRUNE
/// and a publish without overflowing an `Instant`.
#[test]
fn router_survives_the_largest_accepted_durations() {
    use crate::authenticity::MessageAuthenticity;
    use crate::router::Router;
    use crate::types::{ControlAction, PeerKind, Rpc, Subscription, TopicHash};
    let mut b = ConfigBuilder::default();
    b.validation_mode(ValidationMode::None)
        .heartbeat_interval(MAX_DURATION)
        .heartbeat_initial_delay(MAX_DURATION)
        .fanout_ttl(MAX_DURATION)
        .seen_ttl(MAX_DURATION)
        .iwant_followup_time(MAX_DURATION)
        .prune_backoff(MAX_DURATION)
        .unsubscribe_backoff(MAX_DURATION)
        .graft_flood_threshold(MAX_DURATION)
        .forward_queue_duration(MAX_DURATION)
        .publish_queue_duration(MAX_DURATION)
        .backoff_slack(1);
    let config = b.build().unwrap();
    let local = PeerId::random();
    let now = crate::test_util::epoch();
    let mut router = Router::new(config, MessageAuthenticity::Author(local), 1, 1, now).unwrap();
    let topic = TopicHash::from_raw("t");
    router.subscribe(now, topic.clone()).unwrap();
    let peer = PeerId::random();
    router.add_peer(now, peer, true);
    router.set_peer_kind(peer, PeerKind::Gossipsubv1_2);
    router.handle_rpc(
        now,
        peer,
        Rpc {
            subscriptions: vec![Subscription {
                options: Default::default(),
                subscribe: true,
                topic: topic.clone(),
            }],
            ..Rpc::default()
        },
    );
    let later = router.poll_timeout();
    router.handle_timeout(later);
    router.handle_timeout(router.poll_timeout());
    router.handle_rpc(
        later,
        peer,
        Rpc {
            control: vec![ControlAction::Prune {
                topic: topic.clone(),
                peers: vec![],
                backoff: None,
            }],
            ..Rpc::default()
        },
    );
    router.publish(later, topic.clone(), vec![1u8]).unwrap();
    router.unsubscribe(later, &topic);
    while router.poll_action().is_some() {}
}
