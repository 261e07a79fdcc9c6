//! Unit tests of the per-peer send queue: priorities, item and byte bounds, IDONTWANT
//! cancellation, expiry of stale messages and gossip, control merging, wakers, keep-alive.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use futures::task::{ArcWake, noop_waker, waker};

use super::*;
use crate::types::{Subscription, TopicHash};

fn item(class: Class, id: Option<&'static str>, expires: Option<Instant>) -> QueuedRpc {
    QueuedRpc {
        rpc: Rpc::default(),
        class,
        expires,
        message_id: id.map(|s| MessageId::new(s.as_bytes())),
    }
}

/// A queue of `items` per class with a byte bound that never binds.
fn queue(items: usize) -> PeerQueue {
    PeerQueue::new(QueueLimits {
        items,
        bytes: usize::MAX,
        merge_bytes: 0,
        decode: crate::wire::DecodeLimits::UNLIMITED,
    })
}

fn conn(n: usize) -> ConnectionId {
    ConnectionId::new_unchecked(n)
}

fn pop_now(q: &PeerQueue) -> Option<QueuedRpc> {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    match q.poll_pop(&mut cx, conn(0)) {
        Poll::Ready(item) => Some(item),
        Poll::Pending => None,
    }
}

fn drain(q: &PeerQueue) -> Vec<(Class, Option<MessageId>)> {
    std::iter::from_fn(|| pop_now(q))
        .map(|i| (i.class, i.message_id))
        .collect()
}

fn mid(s: &'static str) -> Option<MessageId> {
    Some(MessageId::new(s.as_bytes()))
}

#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl ArcWake for CountingWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn pops_control_then_publish_then_forward() {
    let q = queue(10);
    q.push(item(Class::Forward, Some("f1"), None)).unwrap();
    q.push(item(Class::Publish, Some("p1"), None)).unwrap();
    q.push(item(Class::Control, None, None)).unwrap();
    q.push(item(Class::Forward, Some("f2"), None)).unwrap();
    q.push(item(Class::Publish, Some("p2"), None)).unwrap();
    q.push(item(Class::Control, Some("c2"), None)).unwrap();
    assert_eq!(q.len(), 6);
    assert_eq!(
        drain(&q),
        vec![
            (Class::Control, None),
            (Class::Control, mid("c2")),
            (Class::Publish, mid("p1")),
            (Class::Publish, mid("p2")),
            (Class::Forward, mid("f1")),
            (Class::Forward, mid("f2")),
        ]
    );
    assert!(q.is_empty());
}

#[test]
fn each_class_is_bounded_separately() {
    let q = queue(2);
    for class in [Class::Control, Class::Publish, Class::Forward] {
        assert!(q.push(item(class, Some("a"), None)).is_ok());
        assert!(q.push(item(class, Some("b"), None)).is_ok());
        let refused = q.push(item(class, Some("c"), None)).unwrap_err();
        assert_eq!(refused.class, class);
        assert_eq!(refused.message_id, mid("c"));
        assert_eq!(q.len_of(class), 2);
    }
    assert_eq!(q.len(), 6);
    // Popping makes room again, but never beyond the bound.
    let _ = pop_now(&q);
    assert_eq!(q.len_of(Class::Control), 1);
    assert!(q.push(item(Class::Control, None, None)).is_ok());
    assert!(q.push(item(Class::Control, None, None)).is_err());
    assert_eq!(q.len_of(Class::Control), 2);
}

#[test]
fn zero_capacity_refuses_everything() {
    let q = queue(0);
    assert!(q.push(item(Class::Control, None, None)).is_err());
    assert!(q.is_empty());
}

#[test]
fn cancel_forward_drops_only_messages_of_that_id() {
    let q = queue(10);
    q.push(item(Class::Forward, Some("x"), None)).unwrap();
    q.push(item(Class::Forward, Some("y"), None)).unwrap();
    q.push(item(Class::Forward, Some("x"), None)).unwrap();
    q.push(item(Class::Forward, None, None)).unwrap();
    q.push(item(Class::Publish, Some("x"), None)).unwrap();
    q.push(item(Class::Control, Some("x"), None)).unwrap();

    let x = MessageId::new(&b"x"[..]);
    // Both forwards and the publish of x; the control RPC is not a copy of the message.
    assert_eq!(q.cancel_forward(&x), 3);
    assert_eq!(q.cancel_forward(&x), 0);
    assert_eq!(q.cancel_forward(&MessageId::new(&b"z"[..])), 0);
    assert_eq!(q.len_of(Class::Forward), 2);
    assert_eq!(
        drain(&q),
        vec![
            (Class::Control, mid("x")),
            (Class::Forward, mid("y")),
            (Class::Forward, None),
        ]
    );
}

/// IDONTWANT cancels our own queued publish of the message too, as libp2p-gossipsub's queue
/// does (issue 11): a flood publish of a large message takes long enough to reach every
/// peer that the last ones got it from others first, and said so.
#[test]
fn cancel_forward_drops_a_queued_publish_of_that_id() {
    let q = queue(10);
    q.push(item(Class::Publish, Some("x"), None)).unwrap();
    q.push(item(Class::Publish, Some("y"), None)).unwrap();
    q.push(item(Class::Forward, Some("x"), None)).unwrap();
    assert_eq!(q.cancel_forward(&MessageId::new(&b"x"[..])), 2);
    assert_eq!(q.len_of(Class::Publish), 1);
    assert_eq!(drain(&q), vec![(Class::Publish, mid("y"))]);
    // A publish already popped (written) is not tracked any more.
    q.push(item(Class::Publish, Some("z"), None)).unwrap();
    assert_eq!(drain(&q).len(), 1);
    assert_eq!(q.cancel_forward(&MessageId::new(&b"z"[..])), 0);
}

#[test]
fn cancel_forward_after_pop_finds_nothing() {
    let q = queue(10);
    q.push(item(Class::Forward, Some("x"), None)).unwrap();
    assert_eq!(drain(&q).len(), 1);
    assert_eq!(q.cancel_forward(&MessageId::new(&b"x"[..])), 0);
    // A re-queued forward of the same id is tracked afresh.
    q.push(item(Class::Forward, Some("x"), None)).unwrap();
    assert_eq!(q.cancel_forward(&MessageId::new(&b"x"[..])), 1);
    assert!(q.is_empty());
}

#[test]
fn purge_expired_drops_stale_publishes_and_forwards() {
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(1);
    let t2 = t0 + Duration::from_secs(2);
    let q = queue(10);
    q.push(item(Class::Control, Some("c"), Some(t0))).unwrap();
    q.push(item(Class::Publish, Some("p0"), Some(t0))).unwrap();
    q.push(item(Class::Publish, Some("p2"), Some(t2))).unwrap();
    q.push(item(Class::Publish, Some("pn"), None)).unwrap();
    q.push(item(Class::Forward, Some("f1"), Some(t1))).unwrap();
    q.push(item(Class::Forward, Some("f2"), Some(t2))).unwrap();

    assert_eq!(
        q.purge_expired(t0 - Duration::from_millis(1)),
        Purged::default()
    );
    // `expires <= now` is stale. The control item carried no gossip: it is kept.
    assert_eq!(
        q.purge_expired(t1),
        Purged {
            messages: 2,
            gossip: 0
        }
    );
    assert_eq!(q.len(), 4);
    // The purged forward no longer counts for IDONTWANT.
    assert_eq!(q.cancel_forward(&MessageId::new(&b"f1"[..])), 0);
    assert_eq!(
        drain(&q),
        vec![
            (Class::Control, mid("c")),
            (Class::Publish, mid("p2")),
            (Class::Publish, mid("pn")),
            (Class::Forward, mid("f2")),
        ]
    );
}

#[test]
fn push_wakes_every_waiting_connection() {
    let q = queue(10);
    let a = Arc::new(CountingWaker::default());
    let b = Arc::new(CountingWaker::default());
    let (wa, wb) = (waker(a.clone()), waker(b.clone()));
    assert!(
        q.poll_pop(&mut Context::from_waker(&wa), conn(1))
            .is_pending()
    );
    assert!(
        q.poll_pop(&mut Context::from_waker(&wb), conn(2))
            .is_pending()
    );
    // Registering again for the same connection does not duplicate its waker.
    assert!(
        q.poll_pop(&mut Context::from_waker(&wa), conn(1))
            .is_pending()
    );

    q.push(item(Class::Forward, None, None)).unwrap();
    assert_eq!(a.0.load(Ordering::SeqCst), 1);
    assert_eq!(b.0.load(Ordering::SeqCst), 1);

    // Woken wakers are consumed: a second push wakes nobody until they register again.
    q.push(item(Class::Forward, None, None)).unwrap();
    assert_eq!(a.0.load(Ordering::SeqCst), 1);
    assert_eq!(b.0.load(Ordering::SeqCst), 1);
}

#[test]
fn removed_waker_is_not_woken() {
    let q = queue(10);
    let a = Arc::new(CountingWaker::default());
    let b = Arc::new(CountingWaker::default());
    let (wa, wb) = (waker(a.clone()), waker(b.clone()));
    assert!(
        q.poll_pop(&mut Context::from_waker(&wa), conn(1))
            .is_pending()
    );
    assert!(
        q.poll_pop(&mut Context::from_waker(&wb), conn(2))
            .is_pending()
    );
    q.remove_waker(conn(1));
    q.push(item(Class::Control, None, None)).unwrap();
    assert_eq!(a.0.load(Ordering::SeqCst), 0);
    assert_eq!(b.0.load(Ordering::SeqCst), 1);
}

#[test]
fn refused_push_does_not_wake() {
    let q = queue(0);
    let a = Arc::new(CountingWaker::default());
    let wa = waker(a.clone());
    assert!(
        q.poll_pop(&mut Context::from_waker(&wa), conn(1))
            .is_pending()
    );
    assert!(q.push(item(Class::Control, None, None)).is_err());
    assert_eq!(a.0.load(Ordering::SeqCst), 0);
}

#[test]
fn clones_share_the_queue() {
    let q = queue(4);
    let q2 = q.clone();
    q.push(item(Class::Publish, Some("p"), None)).unwrap();
    assert_eq!(q2.len_of(Class::Publish), 1);
    assert_eq!(drain(&q2).len(), 1);
    assert!(q.is_empty());
}

fn message_rpc(data: usize) -> Rpc {
    Rpc {
        messages: vec![crate::types::RawMessage {
            source: None,
            data: vec![0u8; data].into(),
            sequence_number: None,
            topic: TopicHash::from("t"),
            signature: None,
            key: None,
            data_absent: false,
        }],
        ..Rpc::default()
    }
}

fn sized(class: Class, data: usize) -> QueuedRpc {
    QueuedRpc {
        rpc: message_rpc(data),
        class,
        expires: None,
        message_id: None,
    }
}

#[test]
fn each_class_is_bounded_in_bytes() {
    let q = PeerQueue::new(QueueLimits {
        items: 1000,
        bytes: 10_000,
        merge_bytes: 0,
        decode: crate::wire::DecodeLimits::UNLIMITED,
    });
    let one = rpc_bytes(&message_rpc(3000));
    assert!(one >= 3000);
    for class in [Class::Control, Class::Publish, Class::Forward] {
        for _ in 0..3 {
            q.push(sized(class, 3000)).expect("room");
        }
        // A fourth would pass 10,000 bytes.
        assert!(q.push(sized(class, 3000)).is_err());
        assert_eq!(q.len_of(class), 3);
        assert_eq!(q.bytes_of(class), 3 * one);
        assert!(q.bytes_of(class) <= 10_000);
        // Something small still fits.
        let small = rpc_bytes(&message_rpc(10));
        assert!(3 * one + small <= 10_000);
        q.push(sized(class, 10)).expect("small fits");
    }
    // Popping frees the bytes.
    let _ = pop_now(&q);
    assert_eq!(
        q.bytes_of(Class::Control),
        2 * one + rpc_bytes(&message_rpc(10))
    );
    drain(&q);
    for class in [Class::Control, Class::Publish, Class::Forward] {
        assert_eq!(q.bytes_of(class), 0);
    }
}

#[test]
fn an_item_over_the_byte_bound_is_taken_only_by_an_empty_class() {
    let q = PeerQueue::new(QueueLimits {
        items: 10,
        bytes: 1000,
        merge_bytes: 0,
        decode: crate::wire::DecodeLimits::UNLIMITED,
    });
    q.push(sized(Class::Publish, 5000))
        .expect("an empty class takes it");
    assert!(q.push(sized(Class::Publish, 1)).is_err());
    assert!(q.push(sized(Class::Publish, 5000)).is_err());
    assert_eq!(drain(&q).len(), 1);
    assert_eq!(q.bytes_of(Class::Publish), 0);
}

#[test]
fn byte_accounting_follows_cancel_and_purge() {
    let t0 = Instant::now();
    let q = PeerQueue::new(QueueLimits {
        items: 10,
        bytes: 100_000,
        merge_bytes: 0,
        decode: crate::wire::DecodeLimits::UNLIMITED,
    });
    let mut f = sized(Class::Forward, 1000);
    f.message_id = mid("x");
    q.push(f).unwrap();
    let mut f = sized(Class::Forward, 2000);
    f.expires = Some(t0);
    q.push(f).unwrap();
    assert_eq!(q.cancel_forward(&MessageId::new(&b"x"[..])), 1);
    assert_eq!(q.bytes_of(Class::Forward), rpc_bytes(&message_rpc(2000)));
    assert_eq!(q.purge_expired(t0).messages, 1);
    assert_eq!(q.bytes_of(Class::Forward), 0);
    assert!(q.is_empty());
}

fn ihave(n: u8) -> ControlAction {
    ControlAction::IHave {
        topic: TopicHash::from("t"),
        message_ids: vec![MessageId::new(vec![n; 20])],
    }
}

#[test]
fn stale_gossip_is_stripped_and_the_rest_of_control_kept() {
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(1);
    let q = queue(10);
    let control = |control: Vec<ControlAction>, expires| QueuedRpc {
        rpc: Rpc {
            control,
            ..Rpc::default()
        },
        class: Class::Control,
        expires: Some(expires),
        message_id: None,
    };
    let graft = ControlAction::Graft {
        topic: TopicHash::from("t"),
    };
    // Only gossip: dropped whole once stale.
    q.push(control(vec![ihave(1), ihave(2)], t0)).unwrap();
    // Gossip and a GRAFT: the GRAFT survives.
    q.push(control(vec![ihave(3), graft.clone()], t0)).unwrap();
    // Gossip that is not stale yet.
    q.push(control(vec![ihave(4)], t1)).unwrap();
    let before = q.bytes_of(Class::Control);

    let purged = q.purge_expired(t0);
    assert_eq!(
        purged,
        Purged {
            messages: 0,
            gossip: 3
        }
    );
    assert_eq!(q.len_of(Class::Control), 2);
    assert!(q.bytes_of(Class::Control) < before);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let Poll::Ready(first) = q.poll_pop(&mut cx, conn(0)) else {
        panic!("queued")
    };
    assert_eq!(first.rpc.control, vec![graft]);
    // Later purges leave the stripped RPC alone and strip the other when it is stale.
    assert_eq!(q.purge_expired(t1).gossip, 1);
    assert!(q.is_empty());
    assert_eq!(q.bytes_of(Class::Control), 0);
}

#[test]
fn keep_alive_follows_the_flag_and_the_queue() {
    let q = queue(10);
    assert!(q.keep_alive(), "a new peer is wanted until told otherwise");
    q.set_wanted(false);
    assert!(!q.keep_alive());
    q.push(item(Class::Forward, None, None)).unwrap();
    assert!(q.keep_alive(), "queued sends keep the connection");
    drain(&q);
    assert!(!q.keep_alive());
    q.set_wanted(true);
    assert!(q.keep_alive());
}

#[test]
fn a_keep_alive_change_wakes_the_handlers() {
    let q = queue(10);
    let a = Arc::new(CountingWaker::default());
    let wa = waker(a.clone());
    assert!(
        q.poll_pop(&mut Context::from_waker(&wa), conn(1))
            .is_pending()
    );
    q.set_wanted(true);
    assert_eq!(a.0.load(Ordering::SeqCst), 0, "no change, no wake-up");
    q.set_wanted(false);
    assert_eq!(a.0.load(Ordering::SeqCst), 1);
}

fn sub(topic: &str) -> Subscription {
    Subscription {
        options: Default::default(),
        subscribe: true,
        topic: TopicHash::from(topic),
    }
}

fn control(subscriptions: Vec<Subscription>, control: Vec<ControlAction>) -> QueuedRpc {
    QueuedRpc {
        rpc: Rpc {
            subscriptions,
            control,
            ..Rpc::default()
        },
        class: Class::Control,
        expires: None,
        message_id: None,
    }
}

#[test]
fn control_merges_into_the_unsent_tail_without_reordering() {
    let q = PeerQueue::new(QueueLimits {
        items: 2,
        bytes: 100_000,
        merge_bytes: 1000,
        decode: crate::wire::DecodeLimits::UNLIMITED,
    });
    let graft = |t: &str| ControlAction::Graft {
        topic: TopicHash::from(t),
    };
    // A burst of subscriptions takes one item.
    for t in ["a", "b", "c"] {
        q.push(control(vec![sub(t)], vec![])).unwrap();
    }
    assert_eq!(q.len_of(Class::Control), 1);
    // Control after subscriptions merges too.
    q.push(control(vec![], vec![graft("a")])).unwrap();
    assert_eq!(q.len_of(Class::Control), 1);
    // A subscription after control would be processed before it if merged: a new item.
    q.push(control(vec![sub("d")], vec![])).unwrap();
    assert_eq!(q.len_of(Class::Control), 2);
    assert_eq!(
        q.bytes_of(Class::Control),
        rpc_bytes(&control(vec![sub("a"), sub("b"), sub("c")], vec![graft("a")]).rpc)
            + rpc_bytes(&control(vec![sub("d")], vec![]).rpc)
    );
    // Merging stops at merge_bytes; the class is then full.
    let big = control(vec![sub(&"x".repeat(2000))], vec![]);
    assert!(q.push(big).is_err());
    let popped: Vec<Rpc> = std::iter::from_fn(|| pop_now(&q)).map(|i| i.rpc).collect();
    assert_eq!(
        popped,
        vec![
            control(vec![sub("a"), sub("b"), sub("c")], vec![graft("a")]).rpc,
            control(vec![sub("d")], vec![]).rpc,
        ]
    );
}

#[test]
fn merged_gossip_expires_with_the_oldest() {
    let t0 = Instant::now();
    let q = PeerQueue::new(QueueLimits {
        items: 10,
        bytes: 100_000,
        merge_bytes: 10_000,
        decode: crate::wire::DecodeLimits::UNLIMITED,
    });
    let mut first = control(vec![], vec![ihave(1)]);
    first.expires = Some(t0);
    let mut second = control(vec![], vec![ihave(2)]);
    second.expires = Some(t0 + Duration::from_secs(5));
    q.push(first).unwrap();
    q.push(second).unwrap();
    assert_eq!(q.len_of(Class::Control), 1);
    assert_eq!(q.purge_expired(t0).gossip, 2);
    assert!(q.is_empty());
}

/// Merging must respect the frame limit learned for the peer, not only `merge_bytes` (half
/// our own `max_transmit_size`): the behaviour splits control to fit the learned limit, and
/// merging the pieces back together would make an RPC the handler cannot encode, dropping
/// GRAFTs, PRUNEs and subscriptions with it.
#[test]
fn merging_stays_within_the_learned_frame_limit() {
    let q = PeerQueue::new(QueueLimits {
        items: 1000,
        bytes: usize::MAX,
        merge_bytes: 5 << 20,
        decode: crate::wire::DecodeLimits::UNLIMITED,
    });
    q.lower_frame_limit(65_536);
    let grafts = |n: usize| {
        (0..n)
            .map(|i| ControlAction::Graft {
                topic: TopicHash::from(format!("{i:0>200}")),
            })
            .collect::<Vec<_>>()
    };
    // Twenty RPCs of ~20 KiB each, every one well within 64 KiB.
    for _ in 0..20 {
        q.push(control(vec![], grafts(100))).unwrap();
    }
    for item in std::iter::from_fn(|| pop_now(&q)) {
        let len = crate::wire::encoded_len(&item.rpc);
        assert!(len <= 65_536, "a merged control RPC of {len} bytes");
    }
}

/// Merged control must stay within the per-RPC limits a receiver with our configuration
/// decodes (here 1000 entries per control type): the Ethereum preset's frame limit lets
/// `merge_bytes` alone admit tens of thousands of IDONTWANT entries in one RPC, and a peer with
/// our limits would skip everything past its caps.
#[test]
fn merging_stays_within_the_receivers_decode_limits() {
    use asynchronous_codec::{Decoder, Encoder};
    use bytes::BytesMut;

    use crate::wire::{Codec, DecodeLimits, Inbound};

    let config = crate::ConfigBuilder::ethereum().build().unwrap();
    let q = PeerQueue::new(QueueLimits::from_config(&config));
    for batch in 0..3u32 {
        let idontwant = (0..600u32)
            .map(|i| ControlAction::IDontWant {
                // 20 bytes: the Ethereum preset drops ids of any other length.
                message_ids: vec![MessageId::new({
                    let mut id = vec![0u8; 20];
                    id[..4].copy_from_slice(&(batch * 1000 + i).to_be_bytes());
                    id
                })],
            })
            .collect();
        q.push(control(vec![], idontwant)).unwrap();
    }
    let mut entries = 0;
    for item in std::iter::from_fn(|| pop_now(&q)) {
        let mut buf = BytesMut::new();
        let mut codec = Codec::with_limits(
            config.max_transmit_size(),
            DecodeLimits::from_config(&config),
        );
        codec.encode(&item.rpc, &mut buf).unwrap();
        let Some(Inbound::Rpc(decoded)) = codec.decode(&mut buf).unwrap() else {
            panic!("expected an RPC");
        };
        assert!(decoded.drops.is_empty(), "{:?}", decoded.drops);
        entries += decoded.rpc.control.len();
    }
    assert_eq!(entries, 1800);
}

/// Control merged in the queue (a backlog of IWANTs and IDONTWANTs behind a busy stream) must
/// stay within libp2p-gossipsub 0.50's `max_control_message_size` (16 KiB by default): over
/// it, that peer's decoder fails and it closes our stream with everything written behind the
/// frame (its node under test in `examples/compare` lost ~20 % of our feeders' messages so).
#[test]
fn merged_control_fits_libp2p_gossipsubs_control_cap() {
    use crate::wire::fragment_tests::{LIBP2P_CONTROL_LIMIT, libp2p_control_section};

    let config = crate::Config::default();
    let q = PeerQueue::new(QueueLimits::from_config(&config));
    let long_id = |n: u32| MessageId::new(format!("{n:0>71}").into_bytes());
    for batch in 0..40u32 {
        let iwant = ControlAction::IWant {
            message_ids: (0..20).map(|i| long_id(batch * 100 + i)).collect(),
        };
        let idontwant = ControlAction::IDontWant {
            message_ids: vec![long_id(batch * 100 + 50)],
        };
        q.push(control(vec![], vec![iwant, idontwant])).unwrap();
    }
    let mut entries = 0;
    for item in std::iter::from_fn(|| pop_now(&q)) {
        let mut bytes = Vec::new();
        crate::wire::convert::write_proto(
            &crate::wire::convert::rpc_to_proto(&item.rpc),
            &mut bytes,
        );
        let section = libp2p_control_section(&bytes);
        assert!(
            section <= LIBP2P_CONTROL_LIMIT,
            "a merged control RPC with a control section of {section} bytes"
        );
        entries += item.rpc.control.len();
    }
    assert_eq!(entries, 80);
}

/// Under overload the freshest forwards are the ones worth sending: a full forward class
/// makes room by dropping its oldest forwards (counted by the caller), not by refusing the
/// new one. Control and publishes are never evicted.
#[test]
fn a_full_forward_class_drops_its_stalest_forwards_first() {
    let q = queue(2);
    q.push(item(Class::Forward, Some("a"), None)).unwrap();
    q.push(item(Class::Forward, Some("b"), None)).unwrap();
    assert_eq!(
        q.push_evicting_stalest(item(Class::Forward, Some("c"), None))
            .unwrap(),
        1
    );
    // The evicted forward is forgotten: an IDONTWANT for it finds nothing to cancel.
    assert_eq!(q.cancel_forward(&MessageId::new(&b"a"[..])), 0);
    for class in [Class::Control, Class::Publish] {
        q.push(item(class, Some("x"), None)).unwrap();
        q.push(item(class, Some("y"), None)).unwrap();
        let refused = q
            .push_evicting_stalest(item(class, Some("z"), None))
            .unwrap_err();
        assert_eq!(refused.message_id, mid("z"));
    }
    let forwards: Vec<_> = drain(&q)
        .into_iter()
        .filter(|(class, _)| *class == Class::Forward)
        .collect();
    assert_eq!(
        forwards,
        vec![(Class::Forward, mid("b")), (Class::Forward, mid("c"))]
    );
}

/// The byte bound evicts too: a large new forward pushes out as many old ones as it needs.
#[test]
fn a_forward_over_the_byte_bound_evicts_enough_stale_forwards() {
    let q = PeerQueue::new(QueueLimits {
        items: 100,
        bytes: 3000,
        merge_bytes: 0,
        decode: crate::wire::DecodeLimits::UNLIMITED,
    });
    for _ in 0..2 {
        q.push(sized(Class::Forward, 1000)).unwrap();
    }
    assert_eq!(
        q.push_evicting_stalest(sized(Class::Forward, 2000))
            .unwrap(),
        2
    );
    assert_eq!(q.len_of(Class::Forward), 1);
    assert!(q.bytes_of(Class::Forward) <= 3000);
}

/// A partial message (Partial Messages extension) holds its parts, parts metadata, group id
/// and topic in the queue. Before, [`rpc_bytes`] counted it as 0 bytes: partials sent to a slow
/// peer (answers to its metadata, our publishes) grew its publish class past
/// `send_queue_bytes`, up to `send_queue_size` items of up to `max_transmit_size` each.
#[test]
fn a_partial_message_counts_its_bytes_in_the_queue() {
    let rpc = Rpc {
        partial: Some(Box::new(crate::types::PartialMessage {
            topic: TopicHash::from_raw("t"),
            group_id: bytes::Bytes::from(vec![1u8; 32]),
            message: Some(bytes::Bytes::from(vec![2u8; 3000])),
            metadata: Some(bytes::Bytes::from(vec![3u8; 100])),
        })),
        ..Rpc::default()
    };
    let topic_len = 1;
    assert!(rpc_bytes(&rpc) >= 3000 + 100 + 32 + topic_len);
    let q = PeerQueue::new(QueueLimits {
        items: 1000,
        bytes: 10_000,
        merge_bytes: 0,
        decode: crate::wire::DecodeLimits::UNLIMITED,
    });
    let item = || QueuedRpc {
        rpc: rpc.clone(),
        class: Class::Publish,
        expires: None,
        message_id: None,
    };
    for _ in 0..3 {
        q.push(item()).expect("room");
    }
    assert!(q.push(item()).is_err(), "a fourth passes 10,000 bytes");
    assert_eq!(q.len_of(Class::Publish), 3);
}
