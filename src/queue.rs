//! The bounded, prioritised send queue of one peer, shared by all of its connection handlers.
//!
//! `NotifyHandler` has no backpressure, so the behaviour does not hand RPCs to handlers
//! directly: it pushes them into the peer's [`PeerQueue`], and whichever of the peer's
//! connection handlers has a writable outbound stream pops them.
//!
//! - Three classes, each bounded in items and in bytes ([`QueueLimits`]): [`Class::Control`] is
//!   always popped first, then [`Class::Publish`], then [`Class::Forward`]. A full class refuses
//!   the item (it is handed back to the caller, never grown past its bound), so a slow peer
//!   costs bounded memory. An item larger than the byte bound is still taken by an empty class,
//!   so any RPC that fits the wire limit can be sent.
//! - A control RPC is merged into the last queued one while that one is not sent yet, so a
//!   burst of control (subscribing to many topics, a heartbeat's GRAFTs and PRUNEs) takes one
//!   item, not one per input. Merging never reorders what the peer processes and stays below
//!   `limits.merge_bytes`.
//! - Stale publishes and forwards are dropped by [`PeerQueue::purge_expired`], which also strips
//!   stale gossip (IHAVE) from queued control RPCs: GRAFT, PRUNE, IWANT, IDONTWANT and
//!   subscriptions are kept. Forwards the peer told us it does not want (IDONTWANT) are dropped
//!   by [`PeerQueue::cancel_forward`].
//! - The queue also carries the connection keep-alive decision shared with the handlers
//!   ([`PeerQueue::keep_alive`]): wanted by the behaviour, or something queued.
//! - The queue never reads the clock: every time is passed in by the caller.
//!
//! The lock is a `std::sync::Mutex` held only for a few pointer moves; wakers are woken after
//! it is released. A poisoned lock is recovered (the queue's invariants hold after every
//! statement that can panic, and none of them does), so no operation ever panics.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Instant,
};

use libp2p_swarm::ConnectionId;

use crate::types::{ControlAction, MessageId, Rpc};

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
    /// When it becomes stale; `None` never expires. For [`Class::Control`] only the gossip
    /// (IHAVE) it carries goes stale: it is stripped, the rest is kept.
    pub(crate) expires: Option<Instant>,
    /// The id of the message it carries, used to cancel forwards on IDONTWANT.
    pub(crate) message_id: Option<MessageId>,
}

/// The bounds of each class of a [`PeerQueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueLimits {
    /// The most items of one class (0 refuses every push).
    pub(crate) items: usize,
    /// The most bytes (see [`rpc_bytes`]) of one class; a single larger item is still taken
    /// by an empty class.
    pub(crate) bytes: usize,
    /// A control RPC is merged into the queued tail only while the merged RPC stays at or
    /// below this many bytes (see [`rpc_bytes`]); 0 never merges. Keep it well below the frame
    /// limit: [`rpc_bytes`] estimates.
    pub(crate) merge_bytes: usize,
}

/// What [`PeerQueue::purge_expired`] dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Purged {
    /// Publishes and forwards dropped as stale.
    pub(crate) messages: usize,
    /// Stale IHAVE entries stripped from control RPCs.
    pub(crate) gossip: usize,
}

/// The bytes an RPC holds in the queue: the payload and id bytes it carries plus a small
/// per-entry overhead. Close to its encoded size and never below the payload bytes, computed
/// without encoding (O(entries)).
pub(crate) fn rpc_bytes(rpc: &Rpc) -> usize {
    const ENTRY: usize = 4;
    let ids = |ids: &[MessageId]| -> usize { ids.iter().map(|id| id.as_bytes().len() + 2).sum() };
    let subscriptions: usize = rpc
        .subscriptions
        .iter()
        .map(|s| s.topic.as_str().len() + ENTRY)
        .sum();
    let messages: usize = rpc.messages.iter().map(|m| m.encoded_len() + ENTRY).sum();
    let control: usize = rpc
        .control
        .iter()
        .map(|c| {
            ENTRY
                + match c {
                    ControlAction::IHave { topic, message_ids } => {
                        topic.as_str().len() + ids(message_ids)
                    }
                    ControlAction::IWant { message_ids }
                    | ControlAction::IDontWant { message_ids } => ids(message_ids),
                    ControlAction::Graft { topic } => topic.as_str().len(),
                    ControlAction::Prune { topic, peers, .. } => {
                        topic.as_str().len()
                            + peers
                                .iter()
                                .map(|p| {
                                    ENTRY
                                        + 40
                                        + p.signed_peer_record.as_ref().map_or(0, |r| r.len())
                                })
                                .sum::<usize>()
                            + 10
                    }
                }
        })
        .sum();
    subscriptions + messages + control
}

/// A queued RPC with its accounted size.
#[derive(Debug)]
struct Entry {
    bytes: usize,
    item: QueuedRpc,
}

/// One class: its items and their total bytes.
#[derive(Debug, Default)]
struct Lane {
    entries: VecDeque<Entry>,
    bytes: usize,
}

impl Lane {
    fn pop(&mut self) -> Option<QueuedRpc> {
        let entry = self.entries.pop_front()?;
        self.bytes = self.bytes.saturating_sub(entry.bytes);
        Some(entry.item)
    }

    /// Keeps the entries for which `keep` returns true, handing the others to `dropped`.
    fn retain(&mut self, mut keep: impl FnMut(&mut Entry) -> bool, dropped: &mut Vec<QueuedRpc>) {
        let mut kept = VecDeque::with_capacity(self.entries.len());
        let mut bytes = 0;
        for mut entry in self.entries.drain(..) {
            if keep(&mut entry) {
                bytes += entry.bytes;
                kept.push_back(entry);
            } else {
                dropped.push(entry.item);
            }
        }
        self.entries = kept;
        self.bytes = bytes;
    }
}

/// The send queue of one peer. Cloning shares the queue.
#[derive(Clone, Debug)]
pub(crate) struct PeerQueue {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    /// Set by the behaviour while it wants the connection kept alive.
    wanted: AtomicBool,
    /// Items queued, all classes; mirrors `Inner` so keep-alive checks take no lock.
    queued: AtomicUsize,
    /// The largest RPC (protobuf bytes) the peer is believed to accept; `usize::MAX` until
    /// learned (see the handler).
    frame_limit: AtomicUsize,
}

#[derive(Debug)]
struct Inner {
    limits: QueueLimits,
    control: Lane,
    publish: Lane,
    forward: Lane,
    /// How many queued forwards carry each message id, so an IDONTWANT for a message we are
    /// not forwarding to this peer (the common case) costs one hash lookup, not a scan.
    forward_ids: HashMap<MessageId, usize>,
    /// Handlers waiting for an item, at most one waker per connection.
    wakers: Vec<(ConnectionId, Waker)>,
}

impl Inner {
    fn lane_mut(&mut self, class: Class) -> &mut Lane {
        match class {
            Class::Control => &mut self.control,
            Class::Publish => &mut self.publish,
            Class::Forward => &mut self.forward,
        }
    }

    fn lane(&self, class: Class) -> &Lane {
        match class {
            Class::Control => &self.control,
            Class::Publish => &self.publish,
            Class::Forward => &self.forward,
        }
    }

    fn len(&self) -> usize {
        self.control.entries.len() + self.publish.entries.len() + self.forward.entries.len()
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
        if let Some(item) = self.control.pop() {
            return Some(item);
        }
        if let Some(item) = self.publish.pop() {
            return Some(item);
        }
        let item = self.forward.pop()?;
        Self::untrack_forward(&mut self.forward_ids, &item);
        Some(item)
    }
}

/// Whether `new` may be appended to `tail`: the peer must process the result exactly as the
/// two RPCs one after the other (a receiver handles an RPC's subscriptions before its control,
/// so `new`'s subscriptions may not move ahead of `tail`'s control), and the result must stay
/// within `max_bytes` (0: never merge).
fn can_merge(tail: &Entry, new: &QueuedRpc, new_bytes: usize, max_bytes: usize) -> bool {
    let reorders = !tail.item.rpc.control.is_empty() && !new.rpc.subscriptions.is_empty();
    max_bytes != 0
        && !reorders
        && new.rpc.messages.is_empty()
        && tail.bytes.saturating_add(new_bytes) <= max_bytes
}

/// Appends `new` to `tail` (see [`can_merge`]).
fn merge_control(tail: &mut Entry, new: QueuedRpc, new_bytes: usize) {
    let QueuedRpc { rpc, expires, .. } = new;
    tail.item.rpc.subscriptions.extend(rpc.subscriptions);
    tail.item.rpc.control.extend(rpc.control);
    // Gossip never outlives its own expiry; fresher gossip may go a little early.
    tail.item.expires = match (tail.item.expires, expires) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    tail.bytes = tail.bytes.saturating_add(new_bytes);
}

/// Strips the IHAVE entries of a control RPC; returns how many were removed.
fn strip_gossip(rpc: &mut Rpc) -> usize {
    let before = rpc.control.len();
    rpc.control
        .retain(|c| !matches!(c, ControlAction::IHave { .. }));
    before - rpc.control.len()
}

impl PeerQueue {
    /// Creates an empty queue; each class holds at most `limits.items` items and
    /// `limits.bytes` bytes.
    pub(crate) fn new(limits: QueueLimits) -> Self {
        PeerQueue {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    limits,
                    control: Lane::default(),
                    publish: Lane::default(),
                    forward: Lane::default(),
                    forward_ids: HashMap::new(),
                    wakers: Vec::new(),
                }),
                wanted: AtomicBool::new(true),
                queued: AtomicUsize::new(0),
                frame_limit: AtomicUsize::new(usize::MAX),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes the item count for [`keep_alive`](Self::keep_alive) (call with the lock held).
    fn sync_len(&self, inner: &Inner) {
        self.shared.queued.store(inner.len(), Ordering::Relaxed);
    }

    /// Whether the connections of this peer should be kept alive: the behaviour wants the
    /// peer (see [`set_wanted`](Self::set_wanted); true for a new queue) or RPCs are queued.
    /// Takes no lock.
    pub(crate) fn keep_alive(&self) -> bool {
        self.shared.wanted.load(Ordering::Relaxed) || self.shared.queued.load(Ordering::Relaxed) > 0
    }

    /// The largest RPC (protobuf bytes) the peer is believed to accept; `usize::MAX` until a
    /// handler learned a lower one.
    pub(crate) fn frame_limit(&self) -> usize {
        self.shared.frame_limit.load(Ordering::Relaxed)
    }

    /// Lowers [`frame_limit`](Self::frame_limit) to `limit` (never raises it).
    pub(crate) fn lower_frame_limit(&self, limit: usize) {
        self.shared.frame_limit.fetch_min(limit, Ordering::Relaxed);
    }

    /// Sets whether the behaviour wants this peer's connections kept alive. On a change the
    /// waiting handlers are woken: the swarm only asks a handler about keep-alive when it polls
    /// it.
    pub(crate) fn set_wanted(&self, wanted: bool) {
        if self.shared.wanted.swap(wanted, Ordering::Relaxed) == wanted {
            return;
        }
        let wakers = std::mem::take(&mut self.lock().wakers);
        for (_, waker) in wakers {
            waker.wake();
        }
    }

    /// Queues `item` behind the others of its class and wakes the handlers waiting for work.
    ///
    /// Returns `Err(item)` when its class already holds `limits.items` items, or holds items
    /// and `item` would take it past `limits.bytes`; the queue never grows past its bounds.
    // The refused item is handed back by value (it was moved in by value anyway) so the caller
    // can count or report it; boxing it would cost an allocation per push.
    #[allow(clippy::result_large_err)]
    pub(crate) fn push(&self, item: QueuedRpc) -> Result<(), QueuedRpc> {
        let bytes = rpc_bytes(&item.rpc);
        let wakers = {
            let mut inner = self.lock();
            let limits = inner.limits;
            if item.class == Class::Control
                && inner.control.bytes.saturating_add(bytes) <= limits.bytes
                && let Some(tail) = inner.control.entries.back_mut()
                && can_merge(tail, &item, bytes, limits.merge_bytes)
            {
                merge_control(tail, item, bytes);
                inner.control.bytes = inner.control.bytes.saturating_add(bytes);
                return Ok(());
            }
            let lane = inner.lane(item.class);
            let over_bytes =
                !lane.entries.is_empty() && lane.bytes.saturating_add(bytes) > limits.bytes;
            if lane.entries.len() >= limits.items || over_bytes {
                return Err(item);
            }
            inner.track_forward(&item);
            let lane = inner.lane_mut(item.class);
            lane.bytes = lane.bytes.saturating_add(bytes);
            lane.entries.push_back(Entry { bytes, item });
            self.sync_len(&inner);
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
            self.sync_len(&inner);
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
    /// class (at most `limits.items` items).
    pub(crate) fn cancel_forward(&self, id: &MessageId) -> usize {
        let mut dropped = Vec::new();
        {
            let mut inner = self.lock();
            if inner.forward_ids.remove(id).is_none() {
                return 0;
            }
            inner
                .forward
                .retain(|e| e.item.message_id.as_ref() != Some(id), &mut dropped);
            self.sync_len(&inner);
        }
        // The dropped RPCs are freed outside the lock.
        dropped.len()
    }

    /// Drops every publish and forward whose `expires` is at or before `now`, and strips the
    /// IHAVE entries of control RPCs whose `expires` is at or before `now` (dropping those left
    /// empty). Scans the three classes.
    pub(crate) fn purge_expired(&self, now: Instant) -> Purged {
        let expired = |item: &QueuedRpc| item.expires.is_some_and(|at| at <= now);
        let mut dropped = Vec::new();
        let mut purged = Purged::default();
        {
            let mut inner = self.lock();
            let Inner {
                control,
                publish,
                forward,
                forward_ids,
                ..
            } = &mut *inner;
            if control.entries.iter().any(|e| expired(&e.item)) {
                control.retain(
                    |entry| {
                        if !expired(&entry.item) {
                            return true;
                        }
                        // Only the gossip goes stale; it is stripped once.
                        entry.item.expires = None;
                        let stripped = strip_gossip(&mut entry.item.rpc);
                        if stripped == 0 {
                            return true;
                        }
                        purged.gossip += stripped;
                        entry.bytes = rpc_bytes(&entry.item.rpc);
                        !entry.item.rpc.is_empty()
                    },
                    &mut dropped,
                );
            }
            for lane in [publish, forward] {
                if !lane.entries.iter().any(|e| expired(&e.item)) {
                    continue;
                }
                let before = dropped.len();
                lane.retain(|e| !expired(&e.item), &mut dropped);
                for item in &dropped[before..] {
                    Inner::untrack_forward(forward_ids, item);
                }
                purged.messages += dropped.len() - before;
            }
            self.sync_len(&inner);
        }
        // The dropped RPCs are freed outside the lock.
        purged
    }

    /// The number of queued items, all classes together.
    pub(crate) fn len(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Whether nothing is queued.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of queued items of `class`.
    #[cfg(test)]
    pub(crate) fn len_of(&self, class: Class) -> usize {
        self.lock().lane(class).entries.len()
    }

    /// The bytes queued in `class`.
    #[cfg(test)]
    pub(crate) fn bytes_of(&self, class: Class) -> usize {
        self.lock().lane(class).bytes
    }

    /// The bytes queued, all classes together.
    pub(crate) fn bytes(&self) -> usize {
        let inner = self.lock();
        inner.control.bytes + inner.publish.bytes + inner.forward.bytes
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
    fn cancel_forward_drops_only_forwards_of_that_id() {
        let q = queue(10);
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
}
