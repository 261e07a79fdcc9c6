//! The queue's bounds hold under every sequence of push, pop and requeue (the pieces of a split
//! RPC put back), and the Extensions control message (meshsub 1.3) always goes out first,
//! once, whatever the classes hold.

use std::task::Context;

use futures::task::noop_waker;
use proptest::prelude::*;

use super::*;
use crate::types::{Extensions, Subscription, TopicHash};

fn limits(items: usize, bytes: usize, merge_bytes: usize) -> QueueLimits {
    QueueLimits {
        items,
        bytes,
        merge_bytes,
        decode: crate::wire::DecodeLimits::UNLIMITED,
    }
}

fn pop(q: &PeerQueue) -> Option<QueuedRpc> {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    match q.poll_pop(&mut cx, ConnectionId::new_unchecked(0)) {
        Poll::Ready(item) => Some(item),
        Poll::Pending => None,
    }
}

fn message(class: Class, id: &str, data: usize) -> QueuedRpc {
    QueuedRpc {
        rpc: Rpc {
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
        },
        class,
        expires: None,
        message_id: Some(MessageId::new(id.as_bytes().to_vec())),
    }
}

fn ihave(ids: usize) -> ControlAction {
    ControlAction::IHave {
        topic: TopicHash::from("t"),
        message_ids: (0..ids)
            .map(|i| MessageId::new(vec![i as u8; 20]))
            .collect(),
    }
}

fn graft(topic: &str) -> ControlAction {
    ControlAction::Graft {
        topic: TopicHash::from(topic),
    }
}

fn control(control: Vec<ControlAction>) -> QueuedRpc {
    QueuedRpc {
        rpc: Rpc {
            control,
            ..Rpc::default()
        },
        class: Class::Control,
        expires: None,
        message_id: None,
    }
}

fn greeting(topics: &[&str]) -> QueuedRpc {
    QueuedRpc {
        rpc: Rpc {
            extensions: Some(Extensions::default()),
            subscriptions: topics
                .iter()
                .map(|t| Subscription {
                    options: Default::default(),
                    subscribe: true,
                    topic: TopicHash::from(*t),
                })
                .collect(),
            ..Rpc::default()
        },
        class: Class::Control,
        expires: None,
        message_id: None,
    }
}

/// Splits a popped item into `n` pieces the way the handler does (each piece keeps the class,
/// expiry and id): messages and control entries dealt out in order.
fn split(item: QueuedRpc, n: usize) -> Vec<QueuedRpc> {
    let n = n.max(1);
    let mut pieces: Vec<Rpc> = (0..n).map(|_| Rpc::default()).collect();
    pieces[0].extensions = item.rpc.extensions;
    for (i, m) in item.rpc.messages.into_iter().enumerate() {
        pieces[i % n].messages.push(m);
    }
    for (i, c) in item.rpc.control.into_iter().enumerate() {
        pieces[i % n].control.push(c);
    }
    for (i, s) in item.rpc.subscriptions.into_iter().enumerate() {
        pieces[i % n].subscriptions.push(s);
    }
    pieces
        .into_iter()
        .filter(|rpc| !rpc.is_empty())
        .map(|rpc| QueuedRpc {
            rpc,
            class: item.class,
            expires: item.expires,
            message_id: item.message_id.clone(),
        })
        .collect()
}

/// Each class holds at most `items` items, and at most `bytes` bytes unless it holds one item.
fn assert_within(q: &PeerQueue, l: &QueueLimits) {
    for class in [Class::Control, Class::Publish, Class::Forward] {
        let (len, bytes) = (q.len_of(class), q.bytes_of(class));
        assert!(
            len <= l.items,
            "{class:?} holds {len} items, bound {}",
            l.items
        );
        assert!(
            len <= 1 || bytes <= l.bytes,
            "{class:?} holds {bytes} bytes in {len} items, bound {}",
            l.bytes
        );
    }
}

#[derive(Debug, Clone)]
enum Op {
    Message(u8, usize),
    Control(usize, bool),
    Pop,
    /// Pop the next item and requeue it split into this many pieces.
    Split(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..2, 0usize..400).prop_map(|(c, n)| Op::Message(c, n)),
        (0usize..12, any::<bool>()).prop_map(|(n, g)| Op::Control(n, g)),
        Just(Op::Pop),
        (1usize..5).prop_map(Op::Split),
    ]
}

proptest! {
    #[test]
    fn no_sequence_of_push_pop_and_requeue_takes_a_class_past_its_bounds(
        items in 1usize..5,
        bytes in 100usize..1200,
        merge in prop_oneof![Just(0usize), Just(600)],
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let l = limits(items, bytes, merge);
        let q = PeerQueue::new(l);
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Message(class, data) => {
                    let class = if class == 0 { Class::Publish } else { Class::Forward };
                    let _ = q.push(message(class, &i.to_string(), data));
                }
                Op::Control(ids, with_graft) => {
                    let mut c = vec![ihave(ids)];
                    if with_graft {
                        c.push(graft(&i.to_string()));
                    }
                    let _ = q.push(control(c));
                }
                Op::Pop => {
                    pop(&q);
                }
                Op::Split(n) => {
                    if let Some(item) = pop(&q) {
                        let _ = q.requeue_front(split(item, n));
                    }
                }
            }
            assert_within(&q, &l);
        }
    }
}

#[test]
fn requeued_pieces_over_a_full_message_class_are_bounded() {
    let l = limits(2, usize::MAX, 0);
    let q = PeerQueue::new(l);
    let mut first = message(Class::Forward, "f1", 10);
    first.rpc.messages.push(first.rpc.messages[0].clone());
    q.push(first).unwrap();
    let popped = pop(&q).unwrap();
    // While the handler held it, the class filled up again.
    q.push(message(Class::Forward, "f2", 10)).unwrap();
    q.push(message(Class::Forward, "f3", 10)).unwrap();
    let shed = q.requeue_front(split(popped, 2));
    assert_within(&q, &l);
    // The stalest go: the requeued pieces, not the fresher forwards queued since.
    assert_eq!(
        shed,
        Shed {
            messages: 2,
            ..Shed::default()
        }
    );
    let ids: Vec<_> = std::iter::from_fn(|| pop(&q))
        .map(|i| i.message_id.unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            MessageId::new(b"f2".to_vec()),
            MessageId::new(b"f3".to_vec())
        ]
    );
}

#[test]
fn requeued_control_keeps_grafts_and_stays_bounded() {
    let l = limits(2, usize::MAX, 0);
    let q = PeerQueue::new(l);
    q.push(control(vec![ihave(3), graft("a")])).unwrap();
    let popped = pop(&q).unwrap();
    q.push(control(vec![ihave(2)])).unwrap();
    q.push(control(vec![graft("b")])).unwrap();
    let shed = q.requeue_front(split(popped, 2));
    assert_within(&q, &l);
    // Gossip is shed, the oldest first; no GRAFT is lost.
    assert_eq!(
        shed,
        Shed {
            gossip: 2,
            ..Shed::default()
        }
    );
    let grafts: Vec<_> = std::iter::from_fn(|| pop(&q))
        .flat_map(|i| i.rpc.control)
        .filter(|c| matches!(c, ControlAction::Graft { .. }))
        .collect();
    assert_eq!(grafts, vec![graft("a"), graft("b")]);
}

#[test]
fn extensions_go_first_whatever_the_control_class_holds() {
    let q = PeerQueue::new(limits(1, usize::MAX, 0));
    q.push(control(vec![graft("a")])).unwrap();
    q.push(greeting(&["t"]))
        .expect("the greeting is never refused");
    let first = pop(&q).unwrap();
    assert_eq!(first.rpc.extensions, Some(Extensions::default()));
    assert_eq!(pop(&q).unwrap().rpc.control, vec![graft("a")]);
}

#[test]
fn extensions_are_never_merged_into_a_queued_rpc() {
    let q = PeerQueue::new(limits(10, usize::MAX, 10_000));
    // A mergeable control RPC (subscriptions only) queued first, then the greeting.
    let mut subs = control(vec![]);
    subs.rpc.subscriptions.push(Subscription {
        options: Default::default(),
        subscribe: true,
        topic: TopicHash::from("s"),
    });
    q.push(subs).unwrap();
    q.push(greeting(&["t"])).unwrap();
    let first = pop(&q).unwrap();
    assert_eq!(first.rpc.extensions, Some(Extensions::default()));
    assert_eq!(first.rpc.subscriptions.len(), 1);
    assert_eq!(first.rpc.subscriptions[0].topic, TopicHash::from("t"));
}

#[test]
fn a_second_extensions_message_is_stripped() {
    let q = PeerQueue::new(limits(10, usize::MAX, 0));
    q.push(greeting(&["t"])).unwrap();
    assert!(pop(&q).unwrap().rpc.extensions.is_some());
    q.push(greeting(&["u"])).unwrap();
    let again = pop(&q).unwrap();
    assert_eq!(again.rpc.extensions, None);
    assert_eq!(again.rpc.subscriptions[0].topic, TopicHash::from("u"));
}

#[test]
fn a_split_greeting_keeps_its_extensions_first() {
    let q = PeerQueue::new(limits(1, usize::MAX, 0));
    q.push(greeting(&["a", "b"])).unwrap();
    let popped = pop(&q).unwrap();
    q.push(control(vec![graft("c")])).unwrap();
    let _ = q.requeue_front(split(popped, 2));
    let first = pop(&q).unwrap();
    assert_eq!(first.rpc.extensions, Some(Extensions::default()));
    assert!(std::iter::from_fn(|| pop(&q)).all(|i| i.rpc.extensions.is_none()));
}

#[test]
fn control_that_cannot_fit_even_without_gossip_is_reported() {
    let l = limits(1, usize::MAX, 0);
    let q = PeerQueue::new(l);
    q.push(control(vec![graft("a"), graft("b")])).unwrap();
    let popped = pop(&q).unwrap();
    let shed = q.requeue_front(split(popped, 2));
    assert_within(&q, &l);
    assert_eq!(
        shed,
        Shed {
            control: 1,
            ..Shed::default()
        }
    );
    // The newest piece went; the first is next.
    assert_eq!(pop(&q).unwrap().rpc.control, vec![graft("a")]);
}

#[test]
fn a_test_extension_rpc_is_never_merged_away() {
    let q = PeerQueue::new(limits(10, usize::MAX, 10_000));
    q.push(control(vec![graft("a")])).unwrap();
    let mut test = control(vec![]);
    test.rpc.test_extension = true;
    q.push(test).unwrap();
    let sent: Vec<_> = std::iter::from_fn(|| pop(&q)).collect();
    assert_eq!(sent.iter().filter(|i| i.rpc.test_extension).count(), 1);
}

/// IDONTWANT for forwards queued to a peer that does not read: 1,000 cancellations of the
/// newest of 5,000 queued forwards (what one peer may send per heartbeat). Each removes exactly
/// its item and keeps the byte count; run under callgrind to compare the cost per cancellation
/// (`benches/callgrind.sh`-style: `valgrind --tool=callgrind <test binary> --exact
/// queue::bound_tests::cancelling_forwards_of_a_full_queue`).
#[test]
fn cancelling_forwards_of_a_full_queue() {
    let q = PeerQueue::new(limits(5000, usize::MAX, 0));
    let ids: Vec<String> = (0..6000).map(|n| format!("id{n:05}")).collect();
    for id in &ids[..5000] {
        q.push(message(Class::Forward, id, 8)).unwrap();
    }
    let one = q.bytes_of(Class::Forward) / 5000;
    for n in 0..1000 {
        let newest = MessageId::new(ids[4999 - n].as_bytes());
        assert_eq!(q.cancel_forward(&newest), 1);
        q.push(message(Class::Forward, &ids[5000 + n], 8)).unwrap();
    }
    assert_eq!(q.len_of(Class::Forward), 5000);
    assert_eq!(q.bytes_of(Class::Forward), 5000 * one);
}
