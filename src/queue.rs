//! The bounded, prioritised send queue of one peer, shared by all of its connection handlers.
//!
//! `NotifyHandler` has no backpressure, so the behaviour does not hand RPCs to handlers
//! directly: it pushes them into the peer's [`PeerQueue`], and whichever of the peer's
//! connection handlers has a writable outbound stream pops them.
//!
//! - Three classes, each with its own bound: [`Class::Control`] is always popped first, then
//!   [`Class::Publish`], then [`Class::Forward`]. A full class refuses the item (it is handed
//!   back to the caller, never grown past its bound), so a slow peer costs bounded memory.
//! - Stale publishes and forwards are dropped by [`PeerQueue::purge_expired`]; forwards the
//!   peer told us it does not want (IDONTWANT) are dropped by [`PeerQueue::cancel_forward`].
//! - The queue never reads the clock: every time is passed in by the caller.
//!
//! The lock is a `std::sync::Mutex` held only for a few pointer moves; wakers are woken after
//! it is released. A poisoned lock is recovered (the queue's invariants hold after every
//! statement that can panic, and none of them does), so no operation ever panics.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll, Waker},
    time::Instant,
};

use libp2p_swarm::ConnectionId;

use crate::types::{MessageId, Rpc};

/// The priority class of a queued RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Control traffic (GRAFT, PRUNE, IHAVE, IWANT, IDONTWANT, subscriptions): sent first.
    Control,
    /// Messages we publish ourselves.
    Publish,
    /// Messages we forward for others: sent last, may be cancelled by IDONTWANT.
    Forward,
}

/// One RPC waiting to be written to the peer.
#[derive(Debug)]
pub(crate) struct QueuedRpc {
    /// What to send.
    pub(crate) rpc: Rpc,
    /// Its priority class.
    pub(crate) class: Class,
    /// When it becomes stale; `None` never expires. Ignored for [`Class::Control`].
    pub(crate) expires: Option<Instant>,
    /// The id of the message it carries, used to cancel forwards on IDONTWANT.
    pub(crate) message_id: Option<MessageId>,
}

/// The send queue of one peer. Cloning shares the queue.
#[derive(Clone, Debug)]
pub(crate) struct PeerQueue {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    /// The bound of each class.
    capacity: usize,
    control: VecDeque<QueuedRpc>,
    publish: VecDeque<QueuedRpc>,
    forward: VecDeque<QueuedRpc>,
    /// How many queued forwards carry each message id, so an IDONTWANT for a message we are
    /// not forwarding to this peer (the common case) costs one hash lookup, not a scan.
    forward_ids: HashMap<MessageId, usize>,
    /// Handlers waiting for an item, at most one waker per connection.
    wakers: Vec<(ConnectionId, Waker)>,
}

impl Inner {
    fn deque_mut(&mut self, class: Class) -> &mut VecDeque<QueuedRpc> {
        match class {
            Class::Control => &mut self.control,
            Class::Publish => &mut self.publish,
            Class::Forward => &mut self.forward,
        }
    }

    fn deque(&self, class: Class) -> &VecDeque<QueuedRpc> {
        match class {
            Class::Control => &self.control,
            Class::Publish => &self.publish,
            Class::Forward => &self.forward,
        }
    }

    /// Records that a forward carrying `id` entered the queue.
    fn track_forward(&mut self, item: &QueuedRpc) {
        if item.class == Class::Forward
            && let Some(id) = &item.message_id
        {
            *self.forward_ids.entry(id.clone()).or_insert(0) += 1;
        }
    }

    /// Records that a forward carrying `id` left the queue.
    fn untrack_forward(forward_ids: &mut HashMap<MessageId, usize>, item: &QueuedRpc) {
        if item.class != Class::Forward {
            return;
        }
        let Some(id) = &item.message_id else { return };
        if let Some(count) = forward_ids.get_mut(id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                forward_ids.remove(id);
            }
        }
    }

    fn pop(&mut self) -> Option<QueuedRpc> {
        if let Some(item) = self.control.pop_front() {
            return Some(item);
        }
        if let Some(item) = self.publish.pop_front() {
            return Some(item);
        }
        let item = self.forward.pop_front()?;
        Self::untrack_forward(&mut self.forward_ids, &item);
        Some(item)
    }
}

impl PeerQueue {
    /// Creates an empty queue holding at most `capacity` items of each class. A capacity of 0
    /// refuses every push.
    pub(crate) fn new(capacity: usize) -> Self {
        PeerQueue {
            inner: Arc::new(Mutex::new(Inner {
                capacity,
                control: VecDeque::new(),
                publish: VecDeque::new(),
                forward: VecDeque::new(),
                forward_ids: HashMap::new(),
                wakers: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `item` behind the others of its class and wakes the handlers waiting for work.
    ///
    /// Returns `Err(item)` when its class already holds `capacity` items; the queue never
    /// grows past its bound.
    // The refused item is handed back by value (it was moved in by value anyway) so the caller
    // can count or report it; boxing it would cost an allocation per push.
    #[allow(clippy::result_large_err)]
    pub(crate) fn push(&self, item: QueuedRpc) -> Result<(), QueuedRpc> {
        let wakers = {
            let mut inner = self.lock();
            let capacity = inner.capacity;
            if inner.deque(item.class).len() >= capacity {
                return Err(item);
            }
            inner.track_forward(&item);
            inner.deque_mut(item.class).push_back(item);
            std::mem::take(&mut inner.wakers)
        };
        for (_, waker) in wakers {
            waker.wake();
        }
        Ok(())
    }

    /// Takes the next item to send: control first, then publish, then forward.
    ///
    /// When the queue is empty, registers `cx`'s waker for connection `conn` (replacing that
    /// connection's previous one) and returns `Pending`; the next [`push`](Self::push) wakes it.
    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>, conn: ConnectionId) -> Poll<QueuedRpc> {
        let mut inner = self.lock();
        if let Some(item) = inner.pop() {
            return Poll::Ready(item);
        }
        let waker = cx.waker();
        match inner.wakers.iter_mut().find(|(c, _)| *c == conn) {
            Some((_, registered)) => {
                if !registered.will_wake(waker) {
                    registered.clone_from(waker);
                }
            }
            None => inner.wakers.push((conn, waker.clone())),
        }
        Poll::Pending
    }

    /// Forgets the waker of connection `conn` (call when its handler goes away).
    pub(crate) fn remove_waker(&self, conn: ConnectionId) {
        self.lock().wakers.retain(|(c, _)| *c != conn);
    }

    /// Drops every queued forward of message `id` (the peer sent IDONTWANT for it) and
    /// returns how many were dropped.
    ///
    /// Costs one hash lookup when no such forward is queued; otherwise a scan of the forward
    /// class (at most `capacity` items).
    pub(crate) fn cancel_forward(&self, id: &MessageId) -> usize {
        let dropped = {
            let mut inner = self.lock();
            if inner.forward_ids.remove(id).is_none() {
                return 0;
            }
            let mut dropped = Vec::new();
            let kept: VecDeque<QueuedRpc> = std::mem::take(&mut inner.forward)
                .into_iter()
                .filter_map(|item| {
                    if item.message_id.as_ref() == Some(id) {
                        dropped.push(item);
                        None
                    } else {
                        Some(item)
                    }
                })
                .collect();
            inner.forward = kept;
            dropped
        };
        // The dropped RPCs are freed outside the lock.
        dropped.len()
    }

    /// Drops every publish and forward whose `expires` is at or before `now` and returns how
    /// many were dropped. Control items never expire. Scans both classes.
    pub(crate) fn purge_expired(&self, now: Instant) -> usize {
        let expired = |item: &QueuedRpc| item.expires.is_some_and(|at| at <= now);
        let mut dropped = Vec::new();
        {
            let mut inner = self.lock();
            let Inner {
                publish,
                forward,
                forward_ids,
                ..
            } = &mut *inner;
            for deque in [publish, forward] {
                if !deque.iter().any(expired) {
                    continue;
                }
                let mut kept = VecDeque::with_capacity(deque.len());
                for item in deque.drain(..) {
                    if expired(&item) {
                        Inner::untrack_forward(forward_ids, &item);
                        dropped.push(item);
                    } else {
                        kept.push_back(item);
                    }
                }
                *deque = kept;
            }
        }
        // The dropped RPCs are freed outside the lock.
        dropped.len()
    }

    /// The number of queued items, all classes together.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let inner = self.lock();
        inner.control.len() + inner.publish.len() + inner.forward.len()
    }

    /// Whether nothing is queued.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of queued items of `class`.
    #[cfg(test)]
    pub(crate) fn len_of(&self, class: Class) -> usize {
        self.lock().deque(class).len()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Duration,
    };

    use futures::task::{ArcWake, noop_waker, waker};

    use super::*;

    fn item(class: Class, id: Option<&'static str>, expires: Option<Instant>) -> QueuedRpc {
        QueuedRpc {
            rpc: Rpc::default(),
            class,
            expires,
            message_id: id.map(|s| MessageId::new(s.as_bytes())),
        }
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
        let q = PeerQueue::new(10);
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
        let q = PeerQueue::new(2);
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
        let q = PeerQueue::new(0);
        assert!(q.push(item(Class::Control, None, None)).is_err());
        assert!(q.is_empty());
    }

    #[test]
    fn cancel_forward_drops_only_forwards_of_that_id() {
        let q = PeerQueue::new(10);
        q.push(item(Class::Forward, Some("x"), None)).unwrap();
        q.push(item(Class::Forward, Some("y"), None)).unwrap();
        q.push(item(Class::Forward, Some("x"), None)).unwrap();
        q.push(item(Class::Forward, None, None)).unwrap();
        q.push(item(Class::Publish, Some("x"), None)).unwrap();
        q.push(item(Class::Control, Some("x"), None)).unwrap();

        let x = MessageId::new(&b"x"[..]);
        assert_eq!(q.cancel_forward(&x), 2);
        assert_eq!(q.cancel_forward(&x), 0);
        assert_eq!(q.cancel_forward(&MessageId::new(&b"z"[..])), 0);
        assert_eq!(q.len_of(Class::Forward), 2);
        assert_eq!(
            drain(&q),
            vec![
                (Class::Control, mid("x")),
                (Class::Publish, mid("x")),
                (Class::Forward, mid("y")),
                (Class::Forward, None),
            ]
        );
    }

    #[test]
    fn cancel_forward_after_pop_finds_nothing() {
        let q = PeerQueue::new(10);
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
        let q = PeerQueue::new(10);
        q.push(item(Class::Control, Some("c"), Some(t0))).unwrap();
        q.push(item(Class::Publish, Some("p0"), Some(t0))).unwrap();
        q.push(item(Class::Publish, Some("p2"), Some(t2))).unwrap();
        q.push(item(Class::Publish, Some("pn"), None)).unwrap();
        q.push(item(Class::Forward, Some("f1"), Some(t1))).unwrap();
        q.push(item(Class::Forward, Some("f2"), Some(t2))).unwrap();

        assert_eq!(q.purge_expired(t0 - Duration::from_millis(1)), 0);
        // `expires <= now` is stale.
        assert_eq!(q.purge_expired(t1), 2);
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
        let q = PeerQueue::new(10);
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
        let q = PeerQueue::new(10);
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
        let q = PeerQueue::new(0);
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
        let q = PeerQueue::new(4);
        let q2 = q.clone();
        q.push(item(Class::Publish, Some("p"), None)).unwrap();
        assert_eq!(q2.len_of(Class::Publish), 1);
        assert_eq!(drain(&q2).len(), 1);
        assert!(q.is_empty());
    }
}
