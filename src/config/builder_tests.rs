use super::*;

/// The field named by the error of `build`, or `None` when the config is valid.
fn failing_field(builder: &ConfigBuilder) -> Option<&'static str> {
    match builder.build() {
        Ok(_) => None,
        Err(ConfigError::InvalidField { field, .. }) => Some(field),
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn default_builder_is_valid() {
    assert_eq!(failing_field(&ConfigBuilder::default()), None);
}

#[test]
fn each_rule_names_its_field() {
    type Edit = fn(&mut ConfigBuilder);
    let cases: &[(&str, Edit)] = &[
        ("mesh_n_low", |b| {
            b.mesh_n_low(0).mesh_outbound_min(0);
        }),
        ("mesh_n_low", |b| {
            b.mesh_n_low(7);
        }),
        ("mesh_n_low", |b| {
            b.mesh_n(4);
        }),
        ("mesh_n_high", |b| {
            b.mesh_n_high(5);
        }),
        ("mesh_n_high", |b| {
            b.mesh_n(13);
        }),
        ("retain_scores", |b| {
            b.retain_scores(13);
        }),
        ("retain_scores", |b| {
            b.mesh_n(0)
                .mesh_n_low(0)
                .mesh_n_high(0)
                .mesh_outbound_min(0);
        }),
        ("mesh_n_low", |b| {
            b.mesh_n(0)
                .mesh_n_low(0)
                .mesh_outbound_min(0)
                .retain_scores(0);
        }),
        ("mesh_outbound_min", |b| {
            b.mesh_outbound_min(5);
        }),
        ("mesh_outbound_min", |b| {
            b.mesh_outbound_min(4);
        }),
        ("gossip_factor", |b| {
            b.gossip_factor(-0.1);
        }),
        ("gossip_factor", |b| {
            b.gossip_factor(1.5);
        }),
        ("gossip_factor", |b| {
            b.gossip_factor(f64::NAN);
        }),
        ("gossip_factor", |b| {
            b.gossip_factor(f64::INFINITY);
        }),
        ("history_length", |b| {
            b.history_length(0).history_gossip(0);
        }),
        ("history_length", |b| {
            b.history_length(usize::MAX);
        }),
        ("history_gossip", |b| {
            b.history_gossip(0);
        }),
        ("history_gossip", |b| {
            b.history_gossip(6);
        }),
        ("heartbeat_interval", |b| {
            b.heartbeat_interval(Duration::ZERO);
        }),
        ("seen_ttl", |b| {
            b.seen_ttl(Duration::ZERO);
        }),
        ("fanout_ttl", |b| {
            b.fanout_ttl(Duration::ZERO);
        }),
        ("max_transmit_size", |b| {
            b.max_transmit_size(MIN_TRANSMIT_SIZE - 1);
        }),
        ("max_ihave_length", |b| {
            b.max_ihave_length(0);
        }),
        ("send_queue_size", |b| {
            b.send_queue_size(0);
        }),
        ("send_queue_bytes", |b| {
            b.send_queue_bytes(0);
        }),
        ("opportunistic_graft_ticks", |b| {
            b.opportunistic_graft_ticks(0);
        }),
        ("direct_connect_ticks", |b| {
            b.direct_connect_ticks(0);
        }),
        ("prune_backoff", |b| {
            b.prune_backoff(Duration::from_millis(999));
        }),
        ("max_messages_per_rpc", |b| {
            b.max_messages_per_rpc(Some(0));
        }),
        ("max_subscriptions_per_rpc", |b| {
            b.max_subscriptions_per_rpc(0);
        }),
        ("max_topics_per_peer", |b| {
            b.max_topics_per_peer(0);
        }),
        ("max_topic_len", |b| {
            b.max_topic_len(0);
        }),
        ("max_peer_record_size", |b| {
            b.max_peer_record_size(0);
        }),
        ("max_peer_record_addresses", |b| {
            b.max_peer_record_addresses(0);
        }),
        ("max_signature_checks_per_heartbeat", |b| {
            b.max_signature_checks_per_heartbeat(0);
        }),
        ("max_invalid_signatures", |b| {
            b.max_invalid_signatures(0);
        }),
        ("max_message_id_len", |b| {
            b.max_message_id_len(0);
        }),
        ("max_control_entries_per_rpc", |b| {
            b.max_control_entries_per_rpc(0);
        }),
        ("max_control_bytes_per_rpc", |b| {
            b.max_control_bytes_per_rpc(0);
        }),
    ];
    for (i, (field, edit)) in cases.iter().enumerate() {
        let mut builder = ConfigBuilder::default();
        edit(&mut builder);
        assert_eq!(failing_field(&builder), Some(*field), "case {i}");
    }
}

#[test]
fn boundary_values_are_accepted() {
    type Edit = fn(&mut ConfigBuilder);
    let cases: &[Edit] = &[
        |b| {
            b.mesh_n(1).mesh_n_low(1).mesh_n_high(1);
            b.mesh_outbound_min(0).retain_scores(1);
        },
        |b| {
            b.mesh_n_low(6).mesh_n_high(6).retain_scores(6);
        },
        |b| {
            b.mesh_outbound_min(3).mesh_n_low(4);
        },
        |b| {
            b.gossip_factor(0.0);
        },
        |b| {
            b.gossip_factor(1.0);
        },
        |b| {
            b.history_length(1).history_gossip(1);
        },
        |b| {
            b.history_gossip(5);
        },
        |b| {
            b.max_transmit_size(MIN_TRANSMIT_SIZE);
        },
        |b| {
            b.prune_backoff(Duration::from_secs(1));
        },
        |b| {
            b.max_messages_per_rpc(Some(1));
        },
        |b| {
            b.gossip_lazy(0)
                .max_ihave_messages(0)
                .max_idontwant_messages(0);
        },
        |b| {
            b.mesh_n(0).mesh_n_low(0).mesh_n_high(0);
            b.mesh_outbound_min(0).retain_scores(0);
        },
    ];
    for (i, edit) in cases.iter().enumerate() {
        let mut builder = ConfigBuilder::default();
        edit(&mut builder);
        assert_eq!(failing_field(&builder), None, "case {i}");
    }
}

#[test]
fn first_failing_rule_is_reported() {
    let mut builder = ConfigBuilder::default();
    builder.send_queue_size(0).history_gossip(0);
    assert_eq!(failing_field(&builder), Some("history_gossip"));
}

#[test]
fn error_message_names_field_and_values() {
    let err = ConfigBuilder::default().mesh_n_high(3).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid config field `mesh_n_high`: 3 is below mesh_n (6)"
    );
}

#[test]
fn setters_store_their_values() {
    let peer = PeerId::random();
    let c = ConfigBuilder::default()
        .mesh_n(8)
        .mesh_n_low(6)
        .gossip_factor(0.5)
        .heartbeat_interval(Duration::from_millis(500))
        .validation_mode(ValidationMode::Permissive)
        .direct_peers([peer])
        .add_direct_peer(peer)
        .max_messages_per_rpc(Some(7))
        .publish_queue_duration(Duration::from_secs(9))
        .build()
        .unwrap();
    assert_eq!((c.mesh_n(), c.mesh_n_low()), (8, 6));
    assert_eq!(c.gossip_factor(), 0.5);
    assert_eq!(c.heartbeat_interval(), Duration::from_millis(500));
    assert_eq!(c.validation_mode(), ValidationMode::Permissive);
    assert_eq!(c.direct_peers(), &[peer, peer]);
    assert_eq!(c.max_messages_per_rpc(), Some(7));
    assert_eq!(c.publish_queue_duration(), Duration::from_secs(9));
}
