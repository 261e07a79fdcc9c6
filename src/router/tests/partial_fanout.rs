//! Partial messages to chosen peers: `enable_partial` (a topic enabled without subscribing)
//! and `publish_partial_to` (recipients given by the application).

use super::partial::{add_partial_peer as peer, opts, partials_to};
use super::*;
use crate::partial::{Partial, PartialError, PartsForPeer, PublishPartialError};
use crate::types::PartialMessage;

/// Eight one-byte parts; metadata: one byte, bit `i` when part `i` is held; parts travel as
/// `(index, value)` pairs; metadata merges by union.
struct Bits {
    group: &'static [u8],
    held: u8,
}

fn one(metadata: &[u8]) -> Result<u8, PartialError> {
    match metadata {
        [b] => Ok(*b),
        _ => Err(PartialError::InvalidMetadata),
    }
}

impl Partial for Bits {
    fn group_id(&self) -> Bytes {
        Bytes::from_static(self.group)
    }

    fn parts_metadata(&self) -> Bytes {
        Bytes::from(vec![self.held])
    }

    fn parts_for_peer(
        &self,
        _peer: &PeerId,
        peer_metadata: Option<&[u8]>,
    ) -> Result<PartsForPeer, PartialError> {
        let has = peer_metadata.map(one).transpose()?.unwrap_or(0);
        let lacks = self.held & !has;
        if lacks == 0 {
            return Ok(PartsForPeer::default());
        }
        let parts: Vec<u8> = (0..8u8)
            .filter(|i| lacks & (1 << i) != 0)
            .flat_map(|i| [i, i + 100])
            .collect();
        Ok(PartsForPeer {
            parts: Some(Bytes::from(parts)),
            peer_metadata: Some(Bytes::from(vec![has | self.held])),
        })
    }

    fn merge_metadata(&self, known: &[u8], update: &[u8]) -> Result<Bytes, PartialError> {
        Ok(Bytes::from(vec![one(known)? | one(update)?]))
    }
}

fn bits(group: &'static [u8], held: u8) -> Bits {
    Bits { group, held }
}

fn subscriptions_sent(actions: &[Action]) -> usize {
    actions
        .iter()
        .map(|a| match a {
            Action::Send { rpc, .. } => rpc.subscriptions.len(),
            _ => 0,
        })
        .sum()
}

fn metadata_rpc(topic: &TopicHash, group: &'static [u8], metadata: u8) -> Rpc {
    Rpc {
        partial: Some(Box::new(PartialMessage {
            topic: topic.clone(),
            group_id: Bytes::from_static(group),
            message: None,
            metadata: Some(Bytes::from(vec![metadata])),
        })),
        ..Rpc::default()
    }
}

/// Subscribed: only the chosen peers get anything, each what its options call for, and
/// repeated peers count once.
#[test]
fn publish_partial_to_sends_only_to_the_chosen_peers() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let a = peer(&mut h, &topic, opts(true, true), true);
    let b = peer(&mut h, &topic, opts(false, true), true);
    let d = peer(&mut h, &topic, opts(true, true), true);
    h.router
        .subscribe_partial(h.now, topic.clone(), true)
        .unwrap();
    h.drain();
    assert_eq!(h.mesh_len(&topic), 3, "d is a mesh peer, yet not chosen");
    let sent = h
        .router
        .publish_partial_to(h.now, topic.clone(), bits(b"g", 0b101), &[a, b, a])
        .unwrap();
    assert_eq!(sent, 2);
    let actions = h.drain();
    let to_a = partials_to(&actions, a);
    assert_eq!(to_a.len(), 1, "a repeated peer is sent to once");
    assert_eq!(to_a[0].message.as_deref(), Some(&[0, 100, 2, 102][..]));
    assert_eq!(to_a[0].metadata.as_deref(), Some(&[0b101][..]));
    let to_b = partials_to(&actions, b);
    assert_eq!(to_b.len(), 1);
    assert_eq!(to_b[0].message, None, "metadata only to a supporter");
    assert!(partials_to(&actions, d).is_empty(), "d was not chosen");
    // The same state again: nothing new for them.
    assert_eq!(
        h.router
            .publish_partial_to(h.now, topic.clone(), bits(b"g", 0b101), &[a, b])
            .unwrap(),
        0
    );
    assert!(h.drain().is_empty());
}

/// Enabled without subscribing (test-plans' `partial-messages-fanout`: the publisher is not
/// subscribed): no subscription is announced, the chosen peer gets the group, its answer is
/// answered with what it lacks, and a later subscribe announces the options.
#[test]
fn an_enabled_topic_publishes_to_chosen_peers_without_subscribing() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let a = peer(&mut h, &topic, opts(true, true), true);
    h.drain();
    assert_eq!(
        h.router
            .publish_partial_to(h.now, topic.clone(), bits(b"g", 0xff), &[a]),
        Err(PublishPartialError::NotEnabled(topic.clone())),
        "not enabled yet"
    );
    assert!(
        h.router
            .enable_partial(h.now, topic.clone(), false)
            .unwrap()
    );
    assert!(
        !h.router
            .enable_partial(h.now, topic.clone(), false)
            .unwrap()
    );
    assert!(h.router.partial_enabled(&topic));
    assert_eq!(
        subscriptions_sent(&h.drain()),
        0,
        "enabling announces nothing"
    );
    assert_eq!(h.mesh_len(&topic), 0);
    // Our copy, told to `a` as metadata plus every part (`Bits` pushes eagerly).
    let sent = h
        .router
        .publish_partial_to(h.now, topic.clone(), bits(b"g", 0b1111), &[a])
        .unwrap();
    assert_eq!(sent, 1);
    let to_a = partials_to(&h.drain(), a);
    assert_eq!(to_a[0].metadata.as_deref(), Some(&[0b1111][..]));
    // `a` answers with its metadata (parts 0 and 4): merged with what we pushed, it lacks
    // nothing of ours, so no parts go back; the partial goes to the application.
    h.advance(Duration::from_millis(1));
    h.router
        .handle_rpc(h.now, a, metadata_rpc(&topic, b"g", 0b1_0001));
    let actions = h.drain();
    assert!(actions.iter().any(|x| matches!(
        x,
        Action::Event(crate::event::Event::Partial { propagation_source, .. }) if *propagation_source == a
    )));
    assert_eq!(
        partials_to(&actions, a).len(),
        0,
        "what we pushed counts as held by a: nothing more to send"
    );
    assert_eq!(h.router.partial_groups(&topic), (1, 0), "the group is ours");
    // Subscribing later announces the options set by enable_partial.
    h.router.subscribe(h.now, topic.clone()).unwrap();
    let subs: Vec<Subscription> = h
        .drain()
        .into_iter()
        .filter_map(|x| match x {
            Action::Send { rpc, .. } => Some(rpc.subscriptions),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].options, opts(false, true));
}

/// The router answers a chosen peer's metadata with what it lacks (no eager push from the
/// application: go's and the harness' nodes wait for the peer's metadata).
#[test]
fn a_chosen_peer_that_answers_with_its_metadata_gets_what_it_lacks() {
    struct Lazy(Bits);
    impl Partial for Lazy {
        fn group_id(&self) -> Bytes {
            self.0.group_id()
        }
        fn parts_metadata(&self) -> Bytes {
            self.0.parts_metadata()
        }
        fn parts_for_peer(
            &self,
            peer: &PeerId,
            peer_metadata: Option<&[u8]>,
        ) -> Result<PartsForPeer, PartialError> {
            match peer_metadata {
                None => Ok(PartsForPeer::default()),
                some => self.0.parts_for_peer(peer, some),
            }
        }
        fn merge_metadata(&self, known: &[u8], update: &[u8]) -> Result<Bytes, PartialError> {
            self.0.merge_metadata(known, update)
        }
    }
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let a = peer(&mut h, &topic, opts(true, true), true);
    h.router
        .enable_partial(h.now, topic.clone(), false)
        .unwrap();
    h.drain();
    h.router
        .publish_partial_to(h.now, topic.clone(), Lazy(bits(b"g", 0b11)), &[a])
        .unwrap();
    let first = partials_to(&h.drain(), a);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].message, None, "metadata first");
    h.router
        .handle_rpc(h.now, a, metadata_rpc(&topic, b"g", 0b10));
    let answer = partials_to(&h.drain(), a);
    assert_eq!(answer.len(), 1);
    assert_eq!(
        answer[0].message.as_deref(),
        Some(&[0, 100][..]),
        "only part 0"
    );
}

/// Bad recipients are refused whole, with the first failing peer named, and nothing is kept
/// or sent.
#[test]
fn publish_partial_to_refuses_unusable_peers_and_keeps_nothing() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let good = peer(&mut h, &topic, opts(true, true), true);
    let no_extension = peer(&mut h, &topic, opts(true, true), false);
    let no_options = peer(&mut h, &topic, opts(false, false), true);
    let other_topic = peer(&mut h, &TopicHash::from_raw("u"), opts(true, true), true);
    let old = h.add_peers_kind(1, &topic, false, PeerKind::Gossipsubv1_2)[0];
    let banned = peer(&mut h, &topic, opts(true, true), true);
    h.router.blacklist_peer(banned);
    let stranger = PeerId::random();
    h.router.enable_partial(h.now, topic.clone(), true).unwrap();
    h.drain();
    let cases = [
        (stranger, PublishPartialError::PeerNotConnected(stranger)),
        (banned, PublishPartialError::PeerBlacklisted(banned)),
        (
            no_extension,
            PublishPartialError::PeerWithoutPartials {
                peer: no_extension,
                topic: topic.clone(),
            },
        ),
        (
            no_options,
            PublishPartialError::PeerWithoutPartials {
                peer: no_options,
                topic: topic.clone(),
            },
        ),
        (
            other_topic,
            PublishPartialError::PeerWithoutPartials {
                peer: other_topic,
                topic: topic.clone(),
            },
        ),
        (
            old,
            PublishPartialError::PeerWithoutPartials {
                peer: old,
                topic: topic.clone(),
            },
        ),
    ];
    for (bad, error) in cases {
        let r = h
            .router
            .publish_partial_to(h.now, topic.clone(), bits(b"g", 1), &[good, bad]);
        if bad == banned && r == Err(PublishPartialError::PeerNotConnected(banned)) {
            // Blacklisting may disconnect the peer: either refusal is right.
        } else {
            assert_eq!(r, Err(error));
        }
        assert!(
            partials_to(&h.drain(), good).is_empty(),
            "nothing sent to {bad}"
        );
        assert_eq!(h.router.partial_groups(&topic), (0, 0), "nothing kept");
    }
    let long = Bytes::from(vec![0u8; crate::partial::MAX_PARTIAL_GROUP_ID_LEN + 1]);
    struct Long(Bytes);
    impl Partial for Long {
        fn group_id(&self) -> Bytes {
            self.0.clone()
        }
        fn parts_metadata(&self) -> Bytes {
            Bytes::new()
        }
        fn parts_for_peer(
            &self,
            _: &PeerId,
            _: Option<&[u8]>,
        ) -> Result<PartsForPeer, PartialError> {
            Ok(PartsForPeer::default())
        }
    }
    assert!(matches!(
        h.router
            .publish_partial_to(h.now, topic.clone(), Long(long), &[good]),
        Err(PublishPartialError::GroupIdTooLong { .. })
    ));
    assert_eq!(
        h.router
            .publish_partial_to(h.now, topic.clone(), bits(b"g", 1), &[]),
        Ok(0)
    );
    assert_eq!(
        h.router.partial_groups(&topic),
        (1, 0),
        "an empty list keeps our copy"
    );
}

/// A topic only enabled has no mesh and no fanout: no lazy metadata gossip goes to its other
/// peers, so a partial reaches exactly the chosen peers.
#[test]
fn an_only_enabled_topic_gossips_no_partial_metadata() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let peers: Vec<PeerId> = (0..10)
        .map(|_| peer(&mut h, &topic, opts(true, true), true))
        .collect();
    h.router
        .enable_partial(h.now, topic.clone(), false)
        .unwrap();
    h.drain();
    h.router
        .publish_partial_to(h.now, topic.clone(), bits(b"g", 0b11), &peers[..2])
        .unwrap();
    h.drain();
    for _ in 0..3 {
        let actions = h.heartbeat();
        for p in &peers[2..] {
            assert!(partials_to(&actions, *p).is_empty(), "{p} was not chosen");
        }
    }
}

/// Groups of an enabled topic expire like any other; disabling forgets them; a subscribed
/// topic cannot be disabled (unsubscribe instead).
#[test]
fn enabled_topic_groups_expire_and_disable_forgets_them() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let a = peer(&mut h, &topic, opts(true, true), true);
    h.router.enable_partial(h.now, topic.clone(), true).unwrap();
    h.router
        .publish_partial_to(h.now, topic.clone(), bits(b"g", 1), &[a])
        .unwrap();
    h.router
        .publish_partial_to(h.now, topic.clone(), bits(b"h", 1), &[a])
        .unwrap();
    assert_eq!(h.router.partial_groups(&topic), (2, 0));
    let ttl = crate::partial::PartialLimits::default().group_ttl_heartbeats;
    for _ in 0..=ttl {
        h.heartbeat();
    }
    assert_eq!(h.router.partial_groups(&topic), (0, 0), "expired");
    h.router
        .publish_partial_to(h.now, topic.clone(), bits(b"g", 1), &[a])
        .unwrap();
    assert!(h.router.disable_partial(h.now, &topic));
    assert_eq!(h.router.partial_groups(&topic), (0, 0));
    assert!(!h.router.partial_enabled(&topic));
    assert!(!h.router.disable_partial(h.now, &topic));
    let subscribed = TopicHash::from_raw("s");
    h.router
        .subscribe_partial(h.now, subscribed.clone(), true)
        .unwrap();
    assert!(
        !h.router.disable_partial(h.now, &subscribed),
        "subscribed: left alone"
    );
    assert!(h.router.partial_enabled(&subscribed));
}

/// A peer that is not subscribed (so it announced no partial options on the topic) but sent
/// us a partial message about a group, as the publisher of `partial-messages-fanout` does,
/// evidently speaks partial messages there: our next publish of the group answers it with our
/// metadata (go's extension answers every peer of the group). Before, it was skipped as
/// "does not support partial messages" and the group never reached the rest of the network.
#[test]
fn a_peer_that_sent_us_a_partial_gets_our_metadata_without_announced_options() {
    let mut h = Harness::new(config().build().unwrap());
    let topic = Harness::topic();
    let publisher = peer(
        &mut h,
        &TopicHash::from_raw("elsewhere"),
        opts(false, false),
        true,
    );
    h.router
        .subscribe_partial(h.now, topic.clone(), true)
        .unwrap();
    h.drain();
    h.router
        .handle_rpc(h.now, publisher, metadata_rpc(&topic, b"g", 0xff));
    assert_eq!(h.drain().len(), 1, "the partial event");
    // Our application answers with its empty copy: the publisher must hear what we hold.
    h.router
        .publish_partial(h.now, topic.clone(), bits(b"g", 0))
        .unwrap();
    let to_publisher = partials_to(&h.drain(), publisher);
    assert_eq!(
        to_publisher.len(),
        1,
        "our metadata goes back to the publisher"
    );
    assert_eq!(to_publisher[0].metadata.as_deref(), Some(&[0][..]));
    assert_eq!(
        to_publisher[0].message, None,
        "it requested nothing: metadata only"
    );
    // It can be chosen by name as well.
    assert_eq!(
        h.router
            .publish_partial_to(h.now, topic.clone(), bits(b"g", 1), &[publisher]),
        Ok(1)
    );
    // A peer that never spoke about the group still needs announced options.
    let silent = peer(
        &mut h,
        &TopicHash::from_raw("elsewhere"),
        opts(false, false),
        true,
    );
    assert_eq!(
        h.router
            .publish_partial_to(h.now, topic.clone(), bits(b"g", 1), &[silent]),
        Err(PublishPartialError::PeerWithoutPartials {
            peer: silent,
            topic: topic.clone()
        })
    );
}
