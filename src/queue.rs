//! The bounded, prioritised send queue of one peer, shared by all of its connection handlers.
//!
//! `NotifyHandler` has no backpressure, so the behaviour does not hand RPCs to handlers
//! directly: it pushes them into the peer's [`PeerQueue`], and whichever of the peer's
//! connection handlers has a writable outbound stream pops them.
//!
//! - Three classes, each bounded in items and in bytes ([`QueueLimits`]): [`Class::Control`] is
//!   always popped first, then [`Class::Publish`], then [`Class::Forward`]. A full class refuses
//!   the item (it is handed back to the caller, never grown past its bound), so a slow peer
//!   costs bounded memory. The behaviour queues forwards with
//!   [`PeerQueue::push_evicting_stalest`]: a full forward class drops its oldest forwards
//!   instead, so an overloaded peer gets the freshest messages. An item larger than the byte bound is still taken by an empty class,
//!   so any RPC that fits the wire limit can be sent.
//! - The pieces of an RPC a handler had to split are put back at the front of their class
//!   ([`PeerQueue::requeue_front`]) without ever taking it past its bounds: the stalest
//!   messages, then stale-able gossip (IHAVE) are shed first; control a peer needs is shed only
//!   as a last resort, and reported so the peer is treated as too slow (disconnected).
//! - Our Extensions control message (meshsub 1.3) waits in a reserved slot outside the classes,
//!   popped before everything else and never refused or merged, so it is in the first RPC on
//!   our stream whatever the classes hold; a second one is stripped.
//! - A control RPC is merged into the last queued one while that one is not sent yet, so a
//!   burst of control (subscribing to many topics, a heartbeat's GRAFTs and PRUNEs) takes one
//!   item, not one per input. Merging never reorders what the peer processes and stays below
//!   `limits.merge_bytes`, half the peer's learned frame limit, and the per-RPC decode limits
//!   of a receiver with our configuration (`limits.decode`).
//! - Stale publishes and forwards are dropped by [`PeerQueue::purge_expired`], which also strips
//!   stale gossip (IHAVE) from queued control RPCs: GRAFT, PRUNE, IWANT, IDONTWANT and
//!   subscriptions are kept. Forwards and publishes the peer told us it does not want
//!   (IDONTWANT) are dropped by [`PeerQueue::cancel_forward`].
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
};

use web_time::Instant;

use libp2p_swarm::ConnectionId;

use crate::types::{ControlAction, MessageId, Rpc};
use crate::wire::{DecodeLimits, Usage};
use control::{can_merge, merge_control, shed_control, strip_gossip};

/// The priority class of a queued RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Control traffic (GRAFT, PRUNE, IHAVE, IWANT, IDONTWANT, subscriptions): sent first.
    Control,
    /// Messages we publish ourselves: sent before forwards, cancelled by IDONTWANT too.
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
    /// below this many bytes (see [`rpc_bytes`]) and half the peer's learned frame limit
    /// ([`PeerQueue::frame_limit`]); 0 never merges. Keep it well below the frame limit:
    /// [`rpc_bytes`] estimates.
    pub(crate) merge_bytes: usize,
    /// The per-RPC limits of a receiver with our configuration: merged control stays within
    /// them, so a peer with our limits decodes all of it.
    pub(crate) decode: DecodeLimits,
}

impl QueueLimits {
    /// The limits of `config`: `send_queue_size` items and `send_queue_bytes` bytes per class;
    /// control merged up to half the frame limit.
    pub(crate) fn from_config(config: &crate::Config) -> Self {
        QueueLimits {
            items: config.send_queue_size(),
            bytes: config.send_queue_bytes(),
            // Half the frame limit: merged control stays far from it. And never above what a
            // default libp2p-gossipsub peer accepts in subscriptions and control together
            // (control RPCs hold nothing else, and merging only saves framing).
            merge_bytes: (config.max_transmit_size() / 2)
                .min(crate::wire::LIBP2P_MAX_CONTROL_MESSAGE_SIZE),
            // What we send stays within what default libp2p-gossipsub peers accept too.
            decode: crate::wire::outbound_limits(config),
        }
    }
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
/// without encoding (O(entries)). Every field of [`Rpc`] is named below, so a new one does not
/// compile until it is counted.
pub(crate) fn rpc_bytes(rpc: &Rpc) -> usize {
    const ENTRY: usize = 4;
    let Rpc {
        subscriptions,
        messages,
        control,
        extensions,
        test_extension,
        partial,
    } = rpc;
    let ids = |ids: &[MessageId]| -> usize { ids.iter().map(|id| id.as_bytes().len() + 2).sum() };
    let subscriptions: usize = subscriptions
        .iter()
        .map(|s| s.topic.as_str().len() + ENTRY)
        .sum();
    let messages: usize = messages.iter().map(|m| m.encoded_len() + ENTRY).sum();
    // A few bytes each: the Extensions message and the empty TestExtension.
    let extensions =
        usize::from(extensions.is_some()) * ENTRY + usize::from(*test_extension) * ENTRY;
    // A partial message: its parts, parts metadata, group id and topic.
    let partial = partial.as_ref().map_or(0, |p| {
        ENTRY
            + p.topic.as_str().len()
            + p.group_id.len()
            + p.message.as_ref().map_or(0, |m| m.len())
            + p.metadata.as_ref().map_or(0, |m| m.len())
    });
    let control: usize = control
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
    subscriptions + messages + control + extensions + partial
}

/// What [`PeerQueue::requeue_front`] shed to keep each class within its bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Shed {
    /// Publishes and forwards dropped, the stalest (front) first.
    pub(crate) messages: usize,
    /// IHAVE entries stripped from control RPCs, the oldest first.
    pub(crate) gossip: usize,
    /// Control RPCs without gossip dropped, the newest first: the peer misses control it
    /// needs, so the caller treats this like a refused control push (a slow peer).
    pub(crate) control: usize,
}

impl Shed {
    /// Whether nothing was shed.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Shed::default()
    }
}

/// A queued RPC with its accounted size.
#[derive(Debug)]
struct Entry {
    bytes: usize,
    /// What a control RPC holds against the receiver's decode limits (default otherwise).
    usage: Usage,
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

    /// Whether the lane is within `limits`: at most `limits.items` entries, and at most
    /// `limits.bytes` bytes unless it holds a single entry.
    fn within(&self, limits: &QueueLimits) -> bool {
        self.entries.len() <= limits.items
            && (self.entries.len() <= 1 || self.bytes <= limits.bytes)
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
    /// The RPC carrying our Extensions control message (meshsub 1.3) until it is popped: a
    /// reserved slot outside the class bounds, popped before everything else, so the peer
    /// gets it in the first RPC on our stream whatever the state of the classes. One RPC per
    /// queue, ever (see `greeted`).
    greeting: Option<Entry>,
    /// Whether an Extensions control message entered this queue: a second one is stripped.
    greeted: bool,
    control: Lane,
    publish: Lane,
    forward: Lane,
    /// How many queued publishes and forwards carry each message id, so an IDONTWANT for a
    /// message we are not sending to this peer (the common case) costs one hash lookup, not a
    /// scan.
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
        usize::from(self.greeting.is_some())
            + self.control.entries.len()
            + self.publish.entries.len()
            + self.forward.entries.len()
    }

    /// Records that a publish or forward carrying `id` entered the queue.
    fn track_forward(&mut self, item: &QueuedRpc) {
        if item.class != Class::Control
            && let Some(id) = &item.message_id
        {
            *self.forward_ids.entry(id.clone()).or_insert(0) += 1;
        }
    }

    /// Records that a publish or forward carrying `id` left the queue.
    fn untrack_forward(forward_ids: &mut HashMap<MessageId, usize>, item: &QueuedRpc) {
        if item.class == Class::Control {
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
        if let Some(entry) = self.greeting.take() {
            return Some(entry.item);
        }
        if let Some(item) = self.control.pop() {
            return Some(item);
        }
        if let Some(item) = self.publish.pop() {
            Self::untrack_forward(&mut self.forward_ids, &item);
            return Some(item);
        }
        let item = self.forward.pop()?;
        Self::untrack_forward(&mut self.forward_ids, &item);
        Some(item)
    }
}

impl PeerQueue {
    /// Creates an empty queue; each class holds at most `limits.items` items and
    /// `limits.bytes` bytes.
    pub(crate) fn new(limits: QueueLimits) -> Self {
        PeerQueue {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    limits,
                    greeting: None,
                    greeted: false,
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
    ///
    /// An RPC carrying our Extensions control message (meshsub 1.3) goes to a reserved slot
    /// instead, popped before everything else and never refused, so the peer gets our
    /// extensions in the first RPC whatever the classes hold; it is never merged. The slot is
    /// used once per queue: a second Extensions message (the router sends one per peer) is
    /// stripped, as the peer may penalise a repeat.
    pub(crate) fn push(&self, mut item: QueuedRpc) -> Result<(), QueuedRpc> {
        if item.rpc.extensions.is_some() {
            let mut inner = self.lock();
            if !inner.greeted && inner.greeting.is_none() {
                inner.greeted = true;
                inner.greeting = Some(Entry {
                    bytes: rpc_bytes(&item.rpc),
                    usage: Usage::default(),
                    item,
                });
                self.sync_len(&inner);
                let wakers = std::mem::take(&mut inner.wakers);
                drop(inner);
                for (_, waker) in wakers {
                    waker.wake();
                }
                return Ok(());
            }
            drop(inner);
            tracing::warn!("second Extensions control message to one peer stripped");
            item.rpc.extensions = None;
            if item.rpc.is_empty() {
                return Ok(());
            }
        }
        let bytes = rpc_bytes(&item.rpc);
        // Only control is merged: only control needs its usage.
        let usage = if item.class == Class::Control {
            Usage::of_rpc(&item.rpc)
        } else {
            Usage::default()
        };
        let wakers = {
            let mut inner = self.lock();
            let limits = inner.limits;
            // Merged control stays within half the peer's learned frame limit as well: what
            // was split to fit it must not be merged back beyond it.
            let merge_bytes = limits.merge_bytes.min(self.frame_limit() / 2);
            if item.class == Class::Control
                && inner.control.bytes.saturating_add(bytes) <= limits.bytes
                && let Some(tail) = inner.control.entries.back_mut()
                && can_merge(tail, &item, bytes, &usage, merge_bytes, &limits.decode)
            {
                merge_control(tail, item, bytes, &usage);
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
            lane.entries.push_back(Entry { bytes, usage, item });
            self.sync_len(&inner);
            std::mem::take(&mut inner.wakers)
        };
        for (_, waker) in wakers {
            waker.wake();
        }
        Ok(())
    }

    /// Like [`push`](Self::push), but a full [`Class::Forward`] makes room by dropping its
    /// oldest forwards (the stalest, least worth sending) instead of refusing `item`. Returns
    /// how many were dropped. Control and publishes are never evicted: a full class refuses
    /// them as `push` does.
    #[allow(clippy::result_large_err)]
    pub(crate) fn push_evicting_stalest(&self, item: QueuedRpc) -> Result<usize, QueuedRpc> {
        if item.class != Class::Forward {
            return self.push(item).map(|()| 0);
        }
        let bytes = rpc_bytes(&item.rpc);
        let mut evicted = Vec::new();
        let wakers = {
            let mut inner = self.lock();
            let limits = inner.limits;
            if limits.items == 0 {
                return Err(item);
            }
            loop {
                let lane = &inner.forward;
                let over_bytes =
                    !lane.entries.is_empty() && lane.bytes.saturating_add(bytes) > limits.bytes;
                if lane.entries.len() < limits.items && !over_bytes {
                    break;
                }
                let Some(stale) = inner.forward.pop() else {
                    break;
                };
                Inner::untrack_forward(&mut inner.forward_ids, &stale);
                evicted.push(stale);
            }
            inner.track_forward(&item);
            let lane = &mut inner.forward;
            lane.bytes = lane.bytes.saturating_add(bytes);
            lane.entries.push_back(Entry {
                bytes,
                usage: Usage::default(),
                item,
            });
            self.sync_len(&inner);
            std::mem::take(&mut inner.wakers)
        };
        for (_, waker) in wakers {
            waker.wake();
        }
        // The evicted RPCs are freed outside the lock.
        Ok(evicted.len())
    }

    /// Puts `items`, the pieces (in order) of an item just popped that had to be split, back at
    /// the front of their class, so they are sent next and in order. A piece carrying our
    /// Extensions control message goes back to its reserved slot (see [`push`](Self::push)).
    ///
    /// Other pushes may have filled the class since the item was popped, and splitting adds
    /// items, so the bounds are enforced again afterwards and never exceeded: a message class
    /// drops its stalest items (the front: the pieces themselves first); the control class
    /// first strips its gossip (IHAVE, which only goes stale), the oldest first, and only then
    /// drops whole control RPCs, the newest first, like a refused push. Returns what was shed.
    pub(crate) fn requeue_front(&self, items: Vec<QueuedRpc>) -> Shed {
        let mut shed = Shed::default();
        let mut dropped = Vec::new();
        {
            let mut inner = self.lock();
            let mut touched = [false; 3];
            for item in items.into_iter().rev() {
                let bytes = rpc_bytes(&item.rpc);
                if item.rpc.extensions.is_some() && inner.greeting.is_none() {
                    inner.greeting = Some(Entry {
                        bytes,
                        usage: Usage::default(),
                        item,
                    });
                    continue;
                }
                let usage = if item.class == Class::Control {
                    Usage::of_rpc(&item.rpc)
                } else {
                    Usage::default()
                };
                touched[item.class as usize] = true;
                inner.track_forward(&item);
                let lane = inner.lane_mut(item.class);
                lane.bytes = lane.bytes.saturating_add(bytes);
                lane.entries.push_front(Entry { bytes, usage, item });
            }
            let limits = inner.limits;
            let Inner {
                control,
                publish,
                forward,
                forward_ids,
                ..
            } = &mut *inner;
            if touched[Class::Control as usize] {
                shed_control(control, &limits, &mut shed, &mut dropped);
            }
            for (class, lane) in [(Class::Publish, publish), (Class::Forward, forward)] {
                if !touched[class as usize] {
                    continue;
                }
                while !lane.within(&limits)
                    && let Some(item) = lane.pop()
                {
                    Inner::untrack_forward(forward_ids, &item);
                    shed.messages += 1;
                    dropped.push(item);
                }
            }
            self.sync_len(&inner);
        }
        // The dropped RPCs are freed outside the lock.
        drop(dropped);
        shed
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

    /// Drops every queued forward and publish of message `id` (the peer sent IDONTWANT for
    /// it, or a copy of it) and returns how many were dropped. Our own publish goes too, as in
    /// libp2p-gossipsub: a flood publish of a large message reaches its last recipients after
    /// others forwarded it to them.
    ///
    /// Costs one hash lookup when no such message is queued; otherwise, per queued copy
    /// (`forward_ids` knows how many), a search from the newest end of the forward class, then
    /// of the publish class (an IDONTWANT usually follows the message closely) and an
    /// in-place removal: no reallocation of the class, which a peer sending IDONTWANT for
    /// each queued forward would otherwise cost us once per id.
    pub(crate) fn cancel_forward(&self, id: &MessageId) -> usize {
        let mut dropped = Vec::new();
        {
            let mut inner = self.lock();
            let Some(count) = inner.forward_ids.remove(id) else {
                return 0;
            };
            let Inner {
                publish, forward, ..
            } = &mut *inner;
            for lane in [forward, publish] {
                while dropped.len() < count {
                    let Some(entry) = lane
                        .entries
                        .iter()
                        .rposition(|e| e.item.message_id.as_ref() == Some(id))
                        .and_then(|pos| lane.entries.remove(pos))
                    else {
                        break;
                    };
                    lane.bytes = lane.bytes.saturating_sub(entry.bytes);
                    dropped.push(entry.item);
                }
            }
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
                        entry.usage = Usage::of_rpc(&entry.item.rpc);
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

    /// The items and bytes queued per class: control, publish, forward.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn usage_by_class(&self) -> [(usize, usize); 3] {
        let inner = self.lock();
        [&inner.control, &inner.publish, &inner.forward].map(|l| (l.entries.len(), l.bytes))
    }

    /// The bytes queued, all classes together.
    pub(crate) fn bytes(&self) -> usize {
        let inner = self.lock();
        inner.greeting.as_ref().map_or(0, |e| e.bytes)
            + inner.control.bytes
            + inner.publish.bytes
            + inner.forward.bytes
    }
}

mod control;

#[cfg(test)]
mod bound_tests;
#[cfg(test)]
mod tests;
