//! The Partial Messages extension (feature `partial-messages`): subscription options, eager
//! push by peer preference, delivery of every partial to the application, no full messages or
//! IDONTWANT where partials flow, group bounds and TTL, scoring feedback.

use super::*;
use crate::partial::{
    Partial, PartialError, PartialFeedback, PartialLimits, PartialLimitsError, PartsForPeer,
    PublishPartialError,
};
use crate::score::{PeerScoreParams, PeerScoreThresholds, TopicScoreParams};
use crate::types::{Extensions, PartialMessage, SubscriptionOptions};

/// A message of eight one-byte parts. Parts metadata: one byte, bit `i` set when part `i` is
/// held. Parts encoding: `(index, value)` pairs. Metadata merge: bitwise OR; metadata of any
/// other length is invalid.
#[derive(Clone)]
pub(super) struct Parts {
    group: &'static [u8],
    parts: [Option<u8>; 8],
}

impl Parts {
    pub(super) fn new(group: &'static [u8], held: &[usize]) -> Self {
        let mut parts = [None; 8];
        for &i in held {
            parts[i] = Some(i as u8 + 100);
        }
        Parts { group, parts }
    }

    fn bits(&self) -> u8 {
        self.parts
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_some())
            .fold(0, |acc, (i, _)| acc | (1 << i))
    }
}

fn one_byte(metadata: &[u8]) -> Result<u8, PartialError> {
    match metadata {
        [b] => Ok(*b),
        _ => Err(PartialError::InvalidMetadata),
    }
}

impl Partial for Parts {
    fn group_id(&self) -> Bytes {
        Bytes::from_static(self.group)
    }

    fn parts_metadata(&self) -> Bytes {
        Bytes::from(vec![self.bits()])
    }

    fn parts_for_peer(
        &self,
        _peer: &PeerId,
        peer_metadata: Option<&[u8]>,
    ) -> Result<PartsForPeer, PartialError> {
        let has = peer_metadata.map(one_byte).transpose()?.unwrap_or(0);
        let mut out = Vec::new();
        for (i, part) in self.parts.iter().enumerate() {
            if let Some(v) = part
                && has & (1 << i) == 0
            {
                out.extend_from_slice(&[i as u8, *v]);
            }
        }
        if out.is_empty() {
            return Ok(PartsForPeer::default());
        }
        Ok(PartsForPeer {
            parts: Some(Bytes::from(out)),
            peer_metadata: Some(Bytes::from(vec![has | self.bits()])),
        })
    }

    fn merge_metadata(&self, known: &[u8], update: &[u8]) -> Result<Bytes, PartialError> {
        Ok(Bytes::from(vec![one_byte(known)? | one_byte(update)?]))
    }
}

pub(super) fn opts(requests: bool, supports: bool) -> SubscriptionOptions {
    SubscriptionOptions {
        requests_partial: requests,
        supports_partial: supports,
    }
}

/// Connects a meshsub-1.3 peer that announces the partial extension (if `extension`) and
/// subscribes to `topic` with `options`.
pub(super) fn add_partial_peer(
    h: &mut Harness,
    topic: &TopicHash,
    options: SubscriptionOptions,
    extension: bool,
) -> PeerId {
    let p = PeerId::random();
    h.router.add_peer(h.now, p, false);
    h.router.set_peer_kind(p, PeerKind::Gossipsubv1_3);
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            extensions: Some(Extensions {
                partial_messages: extension,
                test_extension: false,
            }),
            subscriptions: vec![Subscription {
                options,
                subscribe: true,
                topic: topic.clone(),
            }],
            ..Rpc::default()
        },
    );
    p
}

/// A router with three mesh peers on a partial-enabled topic that we request partials on:
/// `a` requests partials, `b` only supports them, `c` neither.
pub(super) fn three_peers(requests: bool) -> (Harness, TopicHash, [PeerId; 3]) {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let a = add_partial_peer(&mut h, &topic, opts(true, true), true);
    let b = add_partial_peer(&mut h, &topic, opts(false, true), true);
    let c = add_partial_peer(&mut h, &topic, opts(false, false), true);
    h.router
        .subscribe_partial(h.now, topic.clone(), requests)
        .unwrap();
    h.drain();
    assert_eq!(h.mesh_len(&topic), 3);
    (h, topic, [a, b, c])
}

/// The partial messages sent to `peer` in `actions`.
pub(super) fn partials_to(actions: &[Action], peer: PeerId) -> Vec<PartialMessage> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { peer: p, rpc, .. } if *p == peer => rpc.partial.as_deref().cloned(),
            _ => None,
        })
        .collect()
}

pub(super) fn partial_events(actions: &[Action]) -> Vec<(PeerId, PartialMessage)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(Event::Partial {
                propagation_source,
                message,
            }) => Some((*propagation_source, message.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn partial_rpc(topic: &TopicHash, group: &'static [u8], metadata: Option<u8>) -> Rpc {
    Rpc {
        partial: Some(Box::new(PartialMessage {
            topic: topic.clone(),
            group_id: Bytes::from_static(group),
            message: Some(Bytes::from_static(b"\x00\x01")),
            metadata: metadata.map(|m| Bytes::from(vec![m])),
        })),
        ..Rpc::default()
    }
}

#[test]
fn our_subscription_announces_the_options_and_only_on_subscribe() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let early = add_partial_peer(&mut h, &topic, opts(false, false), true);
    h.drain();
    h.router
        .subscribe_partial(h.now, topic.clone(), true)
        .unwrap();
    let subs = |actions: &[Action], peer: PeerId| -> Vec<Subscription> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send { peer: p, rpc, .. } if *p == peer => Some(rpc.subscriptions.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    assert_eq!(subs(&h.drain(), early)[0].options, opts(true, true));
    assert_eq!(
        h.router.peer_partial_options(&early, &topic),
        opts(false, false)
    );
    // A peer greeted later gets the options in its greeting.
    let late = PeerId::random();
    h.router.add_peer(h.now, late, false);
    h.router.set_peer_kind(late, PeerKind::Gossipsubv1_3);
    let greeting = h.drain();
    assert_eq!(subs(&greeting, late)[0].options, opts(true, true));
    let extensions = greeting.iter().find_map(|a| match a {
        Action::Send { peer, rpc, .. } if *peer == late => rpc.extensions,
        _ => None,
    });
    assert!(extensions.is_some_and(|e| e.partial_messages));
    // Support without request; re-announced when the options change.
    h.router
        .subscribe_partial(h.now, topic.clone(), false)
        .unwrap();
    assert_eq!(subs(&h.drain(), early)[0].options, opts(false, true));
    // The unsubscribe carries none, and the topic is no longer enabled.
    assert!(h.router.unsubscribe(h.now, &topic));
    assert_eq!(subs(&h.drain(), early)[0].options, opts(false, false));
    assert_eq!(
        h.router
            .publish_partial(h.now, topic.clone(), Parts::new(b"g", &[0])),
        Err(PublishPartialError::NotEnabled(topic))
    );
}

#[test]
fn publish_partial_pushes_parts_to_requesters_and_metadata_to_supporters() {
    let (mut h, topic, [a, b, c]) = three_peers(true);
    assert_eq!(h.router.peer_partial_options(&a, &topic), opts(true, true));
    assert_eq!(h.router.peer_partial_options(&b, &topic), opts(false, true));
    let sent = h
        .router
        .publish_partial(h.now, topic.clone(), Parts::new(b"g", &[0, 2]))
        .unwrap();
    assert_eq!(sent, 2);
    let actions = h.drain();
    let to_a = partials_to(&actions, a);
    assert_eq!(to_a.len(), 1);
    assert_eq!(to_a[0].message.as_deref(), Some(&[0, 100, 2, 102][..]));
    assert_eq!(to_a[0].metadata.as_deref(), Some(&[0b101][..]));
    assert_eq!(to_a[0].group_id.as_ref(), b"g");
    let to_b = partials_to(&actions, b);
    assert_eq!(to_b.len(), 1);
    assert_eq!(
        to_b[0].message, None,
        "metadata only to a peer that did not request"
    );
    assert_eq!(to_b[0].metadata.as_deref(), Some(&[0b101][..]));
    assert!(partials_to(&actions, c).is_empty(), "c supports neither");
    // Publishing the same state again sends nothing; a new part goes to `a` only, with the
    // changed metadata to both.
    h.router
        .publish_partial(h.now, topic.clone(), Parts::new(b"g", &[0, 2]))
        .unwrap();
    assert!(h.drain().is_empty());
    h.router
        .publish_partial(h.now, topic.clone(), Parts::new(b"g", &[0, 2, 3]))
        .unwrap();
    let actions = h.drain();
    let to_a = partials_to(&actions, a);
    assert_eq!(
        to_a[0].message.as_deref(),
        Some(&[3, 103][..]),
        "only what a lacks"
    );
    assert_eq!(to_a[0].metadata.as_deref(), Some(&[0b1101][..]));
    assert_eq!(partials_to(&actions, b)[0].message, None);
    assert!(partials_to(&actions, c).is_empty());
}

#[test]
fn full_messages_skip_peers_that_requested_partials() {
    let (mut h, topic, [a, b, c]) = three_peers(true);
    // Our own publish.
    let id = h
        .router
        .publish(h.now, topic.clone(), vec![1u8; 10])
        .unwrap();
    let mut to: Vec<PeerId> = message_sends(&h.drain(), &id)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    to.sort();
    let mut expected = vec![b, c];
    expected.sort();
    assert_eq!(to, expected, "not to {a}");
    // A forward of a message from `c`.
    let m = message(PeerId::random(), 9, &topic, 10);
    let id = id_of(&h, &m);
    h.router.handle_rpc(h.now, c, msg_rpc(m));
    let to: Vec<PeerId> = message_sends(&h.drain(), &id)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(to, vec![b]);
}

#[test]
fn a_topic_without_partials_sends_full_messages_to_everyone() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let a = add_partial_peer(&mut h, &topic, opts(true, true), true);
    h.router.subscribe(h.now, topic.clone()).unwrap();
    h.drain();
    let id = h
        .router
        .publish(h.now, topic.clone(), vec![1u8; 10])
        .unwrap();
    assert_eq!(
        message_sends(&h.drain(), &id).len(),
        1,
        "{a} gets the full message"
    );
}

#[test]
fn no_idontwant_to_peers_exchanging_partials() {
    let (mut h, topic, [a, b, c]) = three_peers(true);
    let m = message(PeerId::random(), 9, &topic, 2000);
    let id = id_of(&h, &m);
    h.router.handle_rpc(h.now, c, msg_rpc(m));
    let actions = h.drain();
    let idontwant = |peer| {
        control_to(&actions, peer).iter().any(
            |c| matches!(c, ControlAction::IDontWant { message_ids } if message_ids.contains(&id)),
        )
    };
    assert!(!idontwant(a), "a requested partials");
    assert!(!idontwant(b), "we requested partials and b can send them");
    // `c` sent it, so no IDONTWANT to it either; a fourth plain peer gets one.
    let (mut h, topic, [a, b, _]) = three_peers(false);
    let d = add_partial_peer(&mut h, &topic, opts(false, false), false);
    h.heartbeat();
    let m = message(PeerId::random(), 9, &topic, 2000);
    let id = id_of(&h, &m);
    h.router.handle_rpc(h.now, a, msg_rpc(m));
    let actions = h.drain();
    let idontwant = |peer| {
        control_to(&actions, peer).iter().any(
            |c| matches!(c, ControlAction::IDontWant { message_ids } if message_ids.contains(&id)),
        )
    };
    assert!(
        idontwant(b),
        "we do not request partials: b sends full messages"
    );
    assert!(idontwant(d));
}

#[test]
fn every_received_partial_goes_to_the_application_and_requesters_get_what_they_lack() {
    let (mut h, topic, [a, b, _]) = three_peers(true);
    // A group we have not published: handed up as is.
    h.router
        .handle_rpc(h.now, b, partial_rpc(&topic, b"new", Some(1)));
    let events = partial_events(&h.drain());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, b);
    assert_eq!(events[0].1.group_id.as_ref(), b"new");
    // Our own group: still handed up, and `a` (which requested partials) is sent the parts
    // its metadata says it lacks.
    h.router
        .publish_partial(h.now, topic.clone(), Parts::new(b"g", &[0, 1, 2]))
        .unwrap();
    h.drain();
    h.router
        .handle_rpc(h.now, a, partial_rpc(&topic, b"g", Some(0b1000_0000)));
    let actions = h.drain();
    assert_eq!(partial_events(&actions).len(), 1);
    assert!(
        partials_to(&actions, a).is_empty(),
        "a already got parts 0..2 by eager push"
    );
    // After a metadata showing it lost nothing new, nothing is sent; a peer whose view
    // we do not have yet asks: a fresh requester gets everything it lacks.
    let e = add_partial_peer(&mut h, &topic, opts(true, true), true);
    h.router
        .handle_rpc(h.now, e, partial_rpc(&topic, b"g", Some(0b0000_0001)));
    let actions = h.drain();
    assert_eq!(partial_events(&actions).len(), 1);
    let to_e = partials_to(&actions, e);
    assert_eq!(to_e.len(), 1);
    assert_eq!(to_e[0].message.as_deref(), Some(&[1, 101, 2, 102][..]));
    assert_eq!(h.router.counters().partials_received, 3);
}

#[test]
fn partials_without_the_extension_or_on_other_topics_are_ignored() {
    let (mut h, topic, _) = three_peers(true);
    let silent = add_partial_peer(&mut h, &topic, opts(true, true), false);
    h.drain();
    h.router
        .handle_rpc(h.now, silent, partial_rpc(&topic, b"g", Some(1)));
    let other = TopicHash::from_raw("other");
    let a = add_partial_peer(&mut h, &other, opts(true, true), true);
    h.router
        .handle_rpc(h.now, a, partial_rpc(&other, b"g", Some(1)));
    assert!(partial_events(&h.drain()).is_empty());
    assert_eq!(h.router.counters().partials_ignored, 2);
    assert_eq!(h.router.partial_groups(&topic), (0, 0));
}

#[test]
fn peer_opened_groups_are_bounded_per_peer_and_per_topic() {
    let (mut h, topic, [a, ..]) = three_peers(true);
    let groups: Vec<&'static [u8]> = (0..=255u8)
        .map(|i| &*Box::leak(vec![b'g', i].into_boxed_slice()))
        .collect();
    // One peer: 8 groups, the ninth refused (and not handed up).
    for g in &groups[..9] {
        h.router
            .handle_rpc(h.now, a, partial_rpc(&topic, g, Some(1)));
    }
    assert_eq!(partial_events(&h.drain()).len(), 8);
    assert_eq!(h.router.counters().partial_groups_over_cap, 1);
    assert_eq!(h.router.partial_groups(&topic), (8, 8));
    // A partial for a group the peer already opened is still taken.
    h.router
        .handle_rpc(h.now, a, partial_rpc(&topic, groups[0], Some(1)));
    assert_eq!(partial_events(&h.drain()).len(), 1);
    // 255 groups per topic over all peers: 31 more peers open 8 each = 256 attempts.
    let mut over = 0;
    let mut opened = 8;
    for chunk in groups[8..].chunks(8).chain(std::iter::once(&groups[..1])) {
        let p = add_partial_peer(&mut h, &topic, opts(false, true), true);
        for g in chunk {
            h.router
                .handle_rpc(h.now, p, partial_rpc(&topic, g, Some(1)));
        }
        let events = partial_events(&h.drain()).len();
        opened += events;
        over += chunk.len() - events;
    }
    assert_eq!(h.router.partial_groups(&topic).1, 255);
    assert!(opened >= 255);
    assert_eq!(
        h.router.counters().partial_groups_over_cap as usize,
        1 + over
    );
    assert!(over >= 1, "the 256th group is refused");
}

#[test]
fn groups_expire_after_their_ttl_and_publishing_adopts_a_peer_opened_group() {
    let (mut h, topic, [a, ..]) = three_peers(true);
    assert_eq!(
        h.router.set_partial_limits(PartialLimits {
            group_ttl_heartbeats: 2,
            ..PartialLimits::default()
        }),
        Err(PartialLimitsError::TtlTooShort(2))
    );
    assert_eq!(
        h.router.set_partial_limits(PartialLimits {
            groups_per_peer: 9,
            groups_per_topic: 8,
            ..PartialLimits::default()
        }),
        Err(PartialLimitsError::InvalidGroupBounds {
            per_peer: 9,
            per_topic: 8
        })
    );
    h.router
        .set_partial_limits(PartialLimits {
            group_ttl_heartbeats: 3,
            ..PartialLimits::default()
        })
        .unwrap();
    h.router
        .handle_rpc(h.now, a, partial_rpc(&topic, b"x", Some(1)));
    h.router
        .handle_rpc(h.now, a, partial_rpc(&topic, b"y", Some(1)));
    assert_eq!(h.router.partial_groups(&topic), (2, 2));
    // Publishing to `y` makes it ours: no longer counted against `a`.
    h.router
        .publish_partial(h.now, topic.clone(), Parts::new(b"y", &[1]))
        .unwrap();
    assert_eq!(h.router.partial_groups(&topic), (2, 1));
    h.heartbeat();
    h.heartbeat();
    assert_eq!(
        h.router.partial_groups(&topic),
        (2, 1),
        "kept for 3 heartbeats"
    );
    // Republishing refreshes `y`; `x` expires.
    h.router
        .publish_partial(h.now, topic.clone(), Parts::new(b"y", &[1, 2]))
        .unwrap();
    h.heartbeat();
    assert_eq!(h.router.partial_groups(&topic), (1, 0));
    h.heartbeat();
    h.heartbeat();
    h.heartbeat();
    assert_eq!(h.router.partial_groups(&topic), (0, 0));
}

fn scored_three_peers() -> (Harness, TopicHash, [PeerId; 3]) {
    let (mut h, topic, peers) = three_peers(true);
    let mut params = PeerScoreParams::default();
    params
        .topics
        .insert(topic.clone(), TopicScoreParams::default());
    h.router
        .with_peer_score(params, PeerScoreThresholds::default())
        .unwrap();
    for p in peers {
        h.router.add_peer(h.now, p, false);
    }
    (h, topic, peers)
}

fn topic_term(
    h: &Harness,
    peer: &PeerId,
    pick: fn(&crate::score::TopicScoreBreakdown) -> f64,
) -> f64 {
    h.router
        .peer_score_breakdown(peer)
        .and_then(|b| b.topics.first().map(pick))
        .unwrap_or(0.0)
}

#[test]
fn invalid_metadata_and_reported_invalid_parts_are_penalised() {
    let (mut h, topic, [a, b, _]) = scored_three_peers();
    h.router
        .publish_partial(h.now, topic.clone(), Parts::new(b"g", &[0]))
        .unwrap();
    h.drain();
    // Two bytes of metadata: refused by the application's merge.
    h.router
        .handle_rpc(h.now, a, partial_rpc(&topic, b"g", Some(1)));
    let mut bad = partial_rpc(&topic, b"g", None);
    bad.partial.as_mut().unwrap().metadata = Some(Bytes::from_static(&[1, 2]));
    h.router.handle_rpc(h.now, a, bad);
    assert_eq!(h.router.counters().partials_invalid, 1);
    let p4 = |h: &Harness, p| topic_term(h, p, |t| t.invalid_message_deliveries.counter);
    assert_eq!(p4(&h, &a), 1.0);
    // The application reports `b`'s parts invalid.
    h.router
        .report_partial(&b, &topic, PartialFeedback::Invalid);
    assert_eq!(p4(&h, &b), 1.0);
    assert!(h.router.peer_score(&b).unwrap() < 0.0);
    assert_eq!(h.router.counters().partials_invalid, 2);
}

#[test]
fn useful_parts_are_rewarded_as_first_deliveries() {
    let (mut h, topic, [a, ..]) = scored_three_peers();
    let p2 = |h: &Harness| topic_term(h, &a, |t| t.first_message_deliveries.counter);
    assert_eq!(p2(&h), 0.0);
    h.router.report_partial(&a, &topic, PartialFeedback::Useful);
    h.router.report_partial(&a, &topic, PartialFeedback::Useful);
    assert_eq!(p2(&h), 2.0);
}

#[test]
fn no_ihave_to_peers_that_requested_partials() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let requesters: Vec<PeerId> = (0..10)
        .map(|_| add_partial_peer(&mut h, &topic, opts(true, true), true))
        .collect();
    let plain: Vec<PeerId> = (0..10)
        .map(|_| add_partial_peer(&mut h, &topic, opts(false, false), true))
        .collect();
    h.router
        .subscribe_partial(h.now, topic.clone(), true)
        .unwrap();
    h.drain();
    h.router
        .publish(h.now, topic.clone(), vec![1u8; 10])
        .unwrap();
    h.drain();
    let actions = h.heartbeat();
    let ihave = |peer: &PeerId| {
        control_to(&actions, *peer)
            .iter()
            .any(|c| matches!(c, ControlAction::IHave { .. }))
    };
    assert!(
        plain.iter().any(ihave),
        "plain peers outside the mesh get gossip"
    );
    assert!(!requesters.iter().any(ihave));
}

#[test]
fn peer_options_are_kept_only_for_topics_the_peer_is_subscribed_to() {
    let mut b = config();
    b.max_topics_per_peer(4);
    let mut h = Harness::new(b.build().unwrap());
    let topic = Harness::topic();
    let p = add_partial_peer(&mut h, &topic, opts(true, true), true);
    for i in 0..50 {
        h.router.handle_rpc(
            h.now,
            p,
            Rpc {
                subscriptions: vec![Subscription {
                    options: opts(true, true),
                    subscribe: true,
                    topic: TopicHash::from_raw(format!("topic-{i}")),
                }],
                ..Rpc::default()
            },
        );
    }
    assert!(h.router.peer_subscription_bytes(&p) > 0);
    assert!(
        h.router.partial_option_entries() <= 4,
        "{} option entries for a peer capped at 4 topics",
        h.router.partial_option_entries()
    );
    // Unsubscribing forgets them; so does disconnecting.
    h.router.handle_rpc(
        h.now,
        p,
        Rpc {
            subscriptions: vec![Subscription {
                options: Default::default(),
                subscribe: false,
                topic: topic.clone(),
            }],
            ..Rpc::default()
        },
    );
    assert!(h.router.partial_option_entries() <= 3);
    h.router.remove_peer(&p);
    assert_eq!(h.router.partial_option_entries(), 0);
}

#[test]
fn heartbeat_gossips_our_parts_metadata_to_partial_peers_outside_the_mesh() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let peers: Vec<PeerId> = (0..20)
        .map(|_| add_partial_peer(&mut h, &topic, opts(true, true), true))
        .collect();
    h.router
        .subscribe_partial(h.now, topic.clone(), true)
        .unwrap();
    h.drain();
    let mesh: Vec<PeerId> = h.router.mesh_peers(&topic).copied().collect();
    h.router
        .publish_partial(h.now, topic.clone(), Parts::new(b"g", &[0, 1]))
        .unwrap();
    let pushed = h.drain();
    for p in &peers {
        assert_eq!(
            partials_to(&pushed, *p).len(),
            usize::from(mesh.contains(p))
        );
    }
    let actions = h.heartbeat();
    let gossiped: Vec<PeerId> = peers
        .iter()
        .filter(|p| !partials_to(&actions, **p).is_empty())
        .copied()
        .collect();
    assert!(
        !gossiped.is_empty(),
        "some peers outside the mesh learn our metadata"
    );
    for p in &gossiped {
        assert!(!mesh.contains(p), "mesh peers already have it");
        let sent = partials_to(&actions, *p);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].message, None, "gossip is metadata only");
        assert_eq!(sent[0].metadata.as_deref(), Some(&[0b11][..]));
    }
    // Told once: the same metadata is not gossiped to them again.
    for _ in 0..3 {
        let actions = h.heartbeat();
        for p in &gossiped {
            assert!(partials_to(&actions, *p).is_empty());
        }
    }
}

/// An invalid parts-metadata update is ignored: what we knew of the peer stays. Before, it
/// was forgotten, so a peer alternating an invalid update and an empty one was sent every
/// part again each time (a few bytes in, the whole message out), unbounded without scoring.
#[test]
fn invalid_metadata_does_not_make_us_resend_parts() {
    let (mut h, topic, [a, ..]) = three_peers(true);
    h.router
        .publish_partial(h.now, topic.clone(), Parts::new(b"g", &[0, 1, 2]))
        .unwrap();
    assert_eq!(
        partials_to(&h.drain(), a).len(),
        1,
        "eager push of the parts"
    );
    let mut resent = 0;
    for _ in 0..5 {
        let mut bad = partial_rpc(&topic, b"g", None);
        if let Some(p) = bad.partial.as_mut() {
            p.metadata = Some(Bytes::from_static(&[0, 0]));
        }
        h.router.handle_rpc(h.now, a, bad);
        h.router
            .handle_rpc(h.now, a, partial_rpc(&topic, b"g", Some(0)));
        resent += partials_to(&h.drain(), a)
            .iter()
            .filter(|p| p.message.is_some())
            .count();
    }
    assert_eq!(resent, 0);
    assert_eq!(h.router.counters().partials_invalid, 5);
}

/// The Extensions message is a meshsub 1.3 control message. libp2p-gossipsub sends its
/// Extensions to peers on older protocols too; a peer on meshsub 1.2 that announces the
/// partial extension must still not be treated as speaking it: its partials are ignored and
/// it gets full messages, never parts.
#[test]
fn a_peer_below_meshsub_1_3_never_counts_as_speaking_partials() {
    let (mut h, topic, [a, ..]) = three_peers(true);
    let old = PeerId::random();
    h.router.add_peer(h.now, old, false);
    h.router.set_peer_kind(old, PeerKind::Gossipsubv1_2);
    h.router.handle_rpc(
        h.now,
        old,
        Rpc {
            extensions: Some(Extensions {
                partial_messages: true,
                test_extension: false,
            }),
            subscriptions: vec![Subscription {
                options: opts(true, true),
                subscribe: true,
                topic: topic.clone(),
            }],
            ..Rpc::default()
        },
    );
    h.drain();
    let ignored = h.router.counters().partials_ignored;
    h.router
        .handle_rpc(h.now, old, partial_rpc(&topic, b"g", Some(1)));
    assert!(partial_events(&h.drain()).is_empty());
    assert_eq!(h.router.counters().partials_ignored, ignored + 1);
    h.router
        .publish_partial(h.now, topic.clone(), Parts::new(b"h", &[0, 1]))
        .unwrap();
    let actions = h.drain();
    assert!(partials_to(&actions, old).is_empty());
    assert!(!partials_to(&actions, a).is_empty());
}
