use bytes::Bytes;
use libp2p_identity::Keypair;
use sha2::{Digest, Sha256};

use super::message_id::CONTENT_ID_LEN;
use super::*;
use crate::types::TopicHash;

fn message(source: Option<PeerId>, seqno: Option<u64>, data: &'static [u8]) -> Message {
    Message {
        source,
        data: Bytes::from_static(data),
        sequence_number: seqno,
        topic: TopicHash::from("topic"),
    }
}

#[test]
fn defaults_are_the_documented_values() {
    let c = Config::default();
    assert_eq!((c.mesh_n(), c.mesh_n_low(), c.mesh_n_high()), (6, 5, 12));
    assert_eq!(c.retain_scores(), 4);
    assert_eq!(c.mesh_outbound_min(), 2);
    assert_eq!(c.gossip_lazy(), 6);
    assert_eq!(c.gossip_factor(), 0.25);
    assert_eq!(c.heartbeat_interval(), Duration::from_secs(1));
    assert_eq!(c.heartbeat_initial_delay(), Duration::from_millis(100));
    assert_eq!(c.fanout_ttl(), Duration::from_secs(60));
    assert_eq!((c.history_length(), c.history_gossip()), (5, 3));
    assert_eq!(c.seen_ttl(), Duration::from_secs(120));
    assert_eq!(c.max_transmit_size(), 65_536);
    assert_eq!(c.max_ihave_length(), 5000);
    assert_eq!(c.max_ihave_messages(), 10);
    assert_eq!(c.gossip_retransmission(), 3);
    assert_eq!(c.iwant_followup_time(), Duration::from_secs(3));
    assert_eq!(c.idontwant_message_size_threshold(), 1024);
    assert_eq!(c.max_idontwant_messages(), 1000);
    assert!(!c.idontwant_on_publish());
    assert!(c.flood_publish());
    assert_eq!(c.validation_mode(), ValidationMode::Strict);
    assert!(!c.validate_messages());
    assert!(!c.allow_self_origin());
    assert!(!c.support_floodsub());
    assert_eq!(c.prune_backoff(), Duration::from_secs(60));
    assert_eq!(c.unsubscribe_backoff(), Duration::from_secs(10));
    assert_eq!(c.backoff_slack(), 1);
    assert_eq!(c.graft_flood_threshold(), Duration::from_secs(10));
    assert_eq!(c.max_retained_backoffs(), 10_000);
    assert_eq!(c.opportunistic_graft_ticks(), 60);
    assert_eq!(c.opportunistic_graft_peers(), 2);
    assert!(!c.do_px());
    assert_eq!(c.prune_peers(), 16);
    assert!(c.direct_peers().is_empty());
    assert_eq!(c.direct_connect_ticks(), 300);
    assert_eq!(c.max_topics_per_peer(), 100);
    assert_eq!(c.max_messages_per_rpc(), Some(5000));
    assert_eq!(c.max_topic_len(), 256);
    assert_eq!(c.max_message_id_len(), 100);
    assert_eq!(c.max_control_entries_per_rpc(), 1000);
    assert_eq!(c.max_control_bytes_per_rpc(), 1 << 20);
    assert_eq!(c.max_px_peers_per_rpc(), 256);
    assert_eq!(c.max_subscriptions_per_rpc(), 1000);
    assert_eq!(c.max_topic_len(), 256);
    assert_eq!(c.max_peer_record_size(), 4096);
    assert_eq!(c.max_peer_record_addresses(), 16);
    assert_eq!(c.max_px_records_per_heartbeat(), 16);
    assert_eq!(c.max_pending_px_dials(), 128);
    assert_eq!(c.max_signature_checks_per_heartbeat(), 1024);
    assert_eq!(c.max_invalid_signatures(), 16);
    assert_eq!(c.send_queue_size(), 5000);
    assert_eq!(c.send_queue_bytes(), 8 << 20);
    assert_eq!(c.forward_queue_duration(), Duration::from_secs(1));
    assert_eq!(c.publish_queue_duration(), Duration::from_secs(5));
}

#[test]
fn default_id_of_authored_message_matches_libp2p_gossipsub() {
    let source = PeerId::random();
    let c = Config::default();
    let id = c.message_id(&message(Some(source), Some(42), b"x"));
    assert_eq!(
        id.as_bytes(),
        format!("{}42", source.to_base58()).as_bytes()
    );
}

#[test]
fn default_id_of_anonymous_message_is_content_addressed() {
    let c = Config::default();
    let a = c.message_id(&message(None, None, b"one"));
    let b = c.message_id(&message(None, None, b"two"));
    assert_ne!(a, b);
    assert_eq!(a, c.message_id(&message(None, None, b"one")));
    assert_eq!(a.as_bytes().len(), CONTENT_ID_LEN);

    let mut digest_input = 5u64.to_le_bytes().to_vec();
    digest_input.extend_from_slice(b"topic");
    digest_input.extend_from_slice(b"one");
    assert_eq!(
        a.as_bytes(),
        &Sha256::digest(&digest_input)[..CONTENT_ID_LEN]
    );
}

#[test]
fn default_id_without_seqno_is_content_addressed() {
    let c = Config::default();
    let with_source = message(Some(PeerId::random()), None, b"one");
    assert_eq!(
        c.message_id(&with_source),
        c.message_id(&message(None, None, b"one"))
    );
}

#[test]
fn per_topic_message_id_fns_take_precedence() {
    let c = ConfigBuilder::default()
        .message_id_fn(|_: &Message| MessageId::from("global"))
        .message_id_fn_for_topic("old", |_: &Message| MessageId::from("old-topic"))
        .invalid_message_id_fn(|_: &Message| MessageId::from("invalid"))
        .invalid_message_id_fn_for_topic("old", |_: &Message| MessageId::from("old-invalid"))
        .build()
        .unwrap();
    let on = |topic: &str| Message {
        topic: TopicHash::from(topic),
        ..message(None, None, b"x")
    };
    assert_eq!(c.message_id(&on("new")).as_bytes(), b"global");
    assert_eq!(c.message_id(&on("old")).as_bytes(), b"old-topic");
    assert_eq!(c.invalid_message_id(&on("new")).as_bytes(), b"invalid");
    assert_eq!(c.invalid_message_id(&on("old")).as_bytes(), b"old-invalid");
}

#[test]
fn default_invalid_message_id_is_content_addressed() {
    let c = Config::default();
    let m = message(Some(PeerId::random()), Some(1), b"wire");
    assert_eq!(c.invalid_message_id(&m), content_message_id(&m));
    assert_ne!(c.message_id(&m), c.invalid_message_id(&m));
}

#[test]
fn custom_message_id_fn_is_used() {
    let c = ConfigBuilder::default()
        .message_id_fn(|m: &Message| MessageId::from(m.data.clone()))
        .build()
        .unwrap();
    assert_eq!(
        c.message_id(&message(None, None, b"raw")).as_bytes(),
        b"raw"
    );
}

#[test]
fn validate_with_accepts_only_sensible_pairs() {
    use ValidationMode as V;
    let signed = MessageAuthenticity::Signed(Keypair::generate_ed25519());
    let author = MessageAuthenticity::Author(PeerId::random());
    let cases = [
        (&signed, V::Strict, true),
        (&signed, V::Permissive, true),
        (&signed, V::None, true),
        (&signed, V::Anonymous, false),
        (&author, V::Strict, false),
        (&author, V::Permissive, true),
        (&author, V::None, true),
        (&author, V::Anonymous, false),
        (&MessageAuthenticity::RandomAuthor, V::Strict, false),
        (&MessageAuthenticity::RandomAuthor, V::Permissive, true),
        (&MessageAuthenticity::RandomAuthor, V::None, true),
        (&MessageAuthenticity::RandomAuthor, V::Anonymous, false),
        (&MessageAuthenticity::Anonymous, V::Strict, false),
        (&MessageAuthenticity::Anonymous, V::Permissive, false),
        (&MessageAuthenticity::Anonymous, V::None, true),
        (&MessageAuthenticity::Anonymous, V::Anonymous, true),
    ];
    for (authenticity, mode, ok) in cases {
        let c = ConfigBuilder::default()
            .validation_mode(mode)
            .build()
            .unwrap();
        let result = c.validate_with(authenticity);
        if ok {
            assert_eq!(result, Ok(()), "{authenticity:?} with {mode:?}");
        } else {
            assert_eq!(
                result,
                Err(ConfigError::IncompatibleAuthenticity {
                    authenticity: authenticity.name(),
                    validation: mode.name(),
                }),
                "{authenticity:?} with {mode:?}"
            );
        }
    }
}

#[test]
fn debug_lists_fields_without_the_closure() {
    let mut builder = ConfigBuilder::default();
    builder.direct_peers([PeerId::random()]);
    let text = format!("{:?}", builder.build().unwrap());
    assert!(text.starts_with("Config {"));
    assert!(text.contains("mesh_n_low: 5"));
    assert!(text.contains("direct_peers: ["));
    assert!(!text.contains("message_id_fn"));
    assert!(!format!("{builder:?}").is_empty());
}
