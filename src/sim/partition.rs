//! One partition of the network: a contiguous block of nodes with their timers, links,
//! uplink and downlink state, their own event queue and their own records. During a window
//! (see [`super::window`]) each partition runs its events alone, possibly on its own thread;
//! what its nodes send to another partition waits in its outbox until the window ends.
//!
//! Events are ordered by a key that does not depend on the partitioning: (time, creating
//! node, that node's own count of events created). Every random draw of a link (loss,
//! jitter) comes from the sending node's own generator. So a node sees the same events in
//! the same order however many partitions there are.

use web_time::Instant;

use libp2p_identity::PeerId;
use rand::rngs::StdRng;

use super::config::SimConfig;
use super::link::Link;
use super::metrics::{PartRecorder, Registry};
use super::node::{NodeBehaviour, NodeCtx, NodeOutput};
use super::queue::{EventQueue, Key};
use crate::types::{ControlAction, MessageId, Rpc};

/// Marks "no message" in a delivery event.
pub(crate) const NO_MESSAGE: u32 = u32::MAX;

/// Marks a send to a node the sender has no link to (it is dropped when transmitted).
const NO_LINK: u32 = u32::MAX;

/// RPCs of one input of a node to one peer, in sending order, each with the index of the
/// recorded message it carries (or [`NO_MESSAGE`]).
pub(crate) type Batch = Vec<(Rpc, u32)>;

/// Emptied batches kept for their allocations, at most [`BatchPool::MAX_BATCHES`] of them and
/// none with room for more than [`BatchPool::MAX_CAPACITY`] RPCs, so what a pool retains is
/// bounded whatever the traffic. A batch is emptied in the partition of its receiver, which
/// may create far fewer batches than it receives (IWANT spammers receive every answer and
/// send little): without the bound, that partition's pool kept every batch ever sent to it.
pub(crate) struct BatchPool {
    batches: Vec<Batch>,
}

impl BatchPool {
    /// Batches kept at most (each flush takes one per run of RPCs to one peer).
    pub(crate) const MAX_BATCHES: usize = 1024;
    /// Largest capacity, in RPCs, of a batch worth keeping (most batches hold one to four
    /// RPCs; a larger one is freed rather than pinned).
    pub(crate) const MAX_CAPACITY: usize = 16;

    pub(crate) fn new() -> Self {
        BatchPool {
            batches: Vec::new(),
        }
    }

    /// An empty batch, reused if one is kept.
    pub(crate) fn take(&mut self) -> Batch {
        self.batches.pop().unwrap_or_default()
    }

    /// Keeps `batch`'s allocation for a later [`BatchPool::take`] if the pool has room and
    /// the batch is not oversized; frees it otherwise.
    pub(crate) fn put(&mut self, mut batch: Batch) {
        if self.batches.len() >= Self::MAX_BATCHES || batch.capacity() > Self::MAX_CAPACITY {
            return;
        }
        batch.clear();
        self.batches.push(batch);
    }

    /// Batches kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.batches.len()
    }

    /// RPCs the kept batches have room for.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.batches.iter().map(Vec::capacity).sum()
    }
}

/// One RPC a node's input produced: its recipient, the sender's link to it (or [`NO_LINK`]),
/// the recorded message it carries (or [`NO_MESSAGE`]), its place on the uplink (see
/// [`Part::merge_idontwant`]) and the index of its output. The RPC stays in the output until
/// it goes into its batch: moved once, not through this list.
pub(crate) struct Outgoing {
    to: u32,
    link: u32,
    message: u32,
    slot: u32,
    at: u32,
}

/// The RPC of output `output` (an [`Outgoing`] only indexes sends).
fn rpc_of(output: &mut NodeOutput) -> &mut Rpc {
    match output {
        NodeOutput::Send { rpc, .. } => rpc,
        NodeOutput::Delivered { .. } => unreachable!("an outgoing RPC indexes a send"),
    }
}

/// Whether `rpc` carries IDONTWANT and nothing else.
fn idontwant_only(rpc: &Rpc) -> bool {
    rpc.messages.is_empty()
        && rpc.subscriptions.is_empty()
        && rpc.extensions.is_none()
        && !rpc.test_extension
        && rpc.partial.is_none()
        && !rpc.control.is_empty()
        && rpc
            .control
            .iter()
            .all(|c| matches!(c, ControlAction::IDontWant { .. }))
}

/// Asks the CPU to start loading the cache line at `p` into its caches: a hint, which never
/// faults and changes nothing but timing.
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the intrinsic's only requirement is the `sse` target feature, part of the
    // x86-64 baseline; a prefetch has no effect on the program's behaviour and never faults,
    // whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Before the span's `k`-th event runs, starts loading what the next ones will read first:
/// the memory of a delivery was written by its sender one link latency ago and has left the
/// caches since. Each level of indirection is requested one event earlier than the next:
/// the batch three events ahead, its RPCs' buffers two ahead (the batch has arrived by
/// then), their id lists one ahead.
#[inline(always)]
fn prefetch_ahead(span: &[Option<Event>], order: &[(u32, Key, u32)], k: usize) {
    let batch = |d: usize| match order.get(k + d).and_then(|e| span[e.2 as usize].as_ref()) {
        Some(Event::Deliver { rpcs, .. }) => Some(rpcs),
        _ => None,
    };
    if let Some(rpcs) = batch(3) {
        prefetch(rpcs.as_ptr());
    }
    if let Some(rpcs) = batch(2) {
        for (rpc, _) in rpcs.iter().take(2) {
            prefetch(rpc.control.as_ptr());
            prefetch(rpc.messages.as_ptr());
        }
    }
    if let Some(rpcs) = batch(1) {
        for (rpc, _) in rpcs.iter().take(2) {
            match rpc.control.first() {
                Some(ControlAction::IDontWant { message_ids })
                | Some(ControlAction::IHave { message_ids, .. })
                | Some(ControlAction::IWant { message_ids }) => prefetch(message_ids.as_ptr()),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Tests only: run every event alone, in global key order (the reference order that
    /// running spans node by node must reproduce).
    static KEY_ORDER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a test asked for the reference order (see `KEY_ORDER`).
fn key_order_for_tests() -> bool {
    #[cfg(test)]
    {
        KEY_ORDER.get()
    }
    #[cfg(not(test))]
    {
        false
    }
}

/// An event of one node, queued in the node's partition.
pub(crate) enum Event {
    /// RPCs arrive at `to`, if both ends are still the incarnations that sent them: everything
    /// one input of `from` sent to `to` travels as one write and arrives together.
    Deliver {
        to: u32,
        from: u32,
        to_epoch: u32,
        from_epoch: u32,
        /// Bytes on the wire and the time the sender's uplink took for them.
        bytes: u64,
        upload: u64,
        /// Whether the receiver's downlink has already taken them in (a delivery that found
        /// the downlink busy is put back until it is done).
        received: bool,
        rpcs: Batch,
    },
    Timeout(u32),
}

impl Event {
    /// The node the event happens at.
    pub(crate) fn node(&self) -> u32 {
        match self {
            Event::Deliver { to, .. } => *to,
            Event::Timeout(node) => *node,
        }
    }
}

/// An event on its way to another partition: (time, creator, creator's count, event).
pub(crate) type Crossing = (u64, u32, u64, Event);

/// What every partition reads and nobody changes during a window (changed only by global
/// events, between windows).
pub(crate) struct Shared {
    pub(crate) cfg: SimConfig,
    pub(crate) base: Instant,
    pub(crate) peer_ids: Vec<PeerId>,
    pub(crate) index: super::peer_index::PeerIndex,
    pub(crate) online: Vec<bool>,
    pub(crate) epoch: Vec<u32>,
    pub(crate) registry: Registry,
    /// Nodes `0..honest` are honest; the rest are outsiders (attackers).
    pub(crate) honest: usize,
    /// Nodes per partition (the last one may have fewer).
    pub(crate) block: usize,
}

impl Shared {
    /// The partition of node `node`.
    pub(crate) fn partition_of(&self, node: u32) -> usize {
        node as usize / self.block
    }
}

/// The per-node state a partition owns besides the behaviour.
pub(crate) struct NodeState {
    /// When the node's scheduled timeout is due (`u64::MAX`: none).
    pub(crate) timer: u64,
    /// The node's outgoing links.
    pub(crate) links: Vec<Link>,
    pub(crate) uplink_free: u64,
    pub(crate) downlink_free: u64,
    /// Loss and jitter draws of what the node sends. Boxed (the generator is 300 bytes) so
    /// that the state of a node is one cache line: it is read for every event of the node.
    pub(crate) rng: Box<StdRng>,
    /// Events this node created so far (the last part of their keys).
    pub(crate) created: u64,
}

/// A partition's own state, kept across windows.
pub(crate) struct Lane {
    pub(crate) queue: EventQueue<Event>,
    /// Events for other partitions, created during the current window.
    pub(crate) outbox: Vec<Crossing>,
    pub(crate) rec: PartRecorder,
    pub(crate) events: u64,
    pub(crate) now: u64,
    /// The end of the current window (the current time during a global event): nothing
    /// this partition sends to another may arrive before it.
    pub(crate) until: u64,
    out: Vec<NodeOutput>,
    /// Per flush: runs of consecutive RPCs to one destination (node, sender's link to it),
    /// in the order produced.
    batches: Vec<(u32, u32, Batch)>,
    /// The last message id a send was found to carry, with its index in the registry (a
    /// node forwards a message to all its mesh peers in one input: one registry lookup
    /// for all of them). Indices never change once registered.
    last_message: Option<(MessageId, u32)>,
    /// Emptied batches, kept for their allocations (bounded).
    pool: BatchPool,
    /// The sends of one flush (kept for its allocation).
    sends: Vec<Outgoing>,
    /// Per node of the network: the index in `sends` of the next send to it that carries a
    /// message and the payload bytes after that send (`u32::MAX` outside
    /// [`Part::merge_idontwant`]).
    next_message: Vec<(u32, u64)>,
    /// The events of the span being run, in the order the queue handed them over (kept for
    /// its allocation; see [`Part::run_until`]); taken as they run.
    span: Vec<Option<Event>>,
    /// The span's events in running order: (node, key, position in `span`), sorted.
    order: Vec<(u32, Key, u32)>,
    /// The same, in the order the queue handed them over (before they are sorted).
    handed: Vec<(u32, Key, u32)>,
    /// Per node of the partition, plus one: a counting sort's counts, then where the node's
    /// events go in `order`.
    counts: Vec<u32>,
    /// The end of the span being run (0 outside one).
    span_end: u64,
    /// The node being run in the span.
    span_node: u32,
    /// The last next-timeout instant converted to nanoseconds since the start, with the
    /// result: most nodes' next timeout is their heartbeat, at the same instant for all.
    last_timeout: Option<(Instant, u64)>,
    /// Events the node being run created for itself inside the span, earliest last.
    own: Vec<(Key, Event)>,
}

impl Lane {
    /// The lane of the partition of nodes `start..start + len` in a network of `nodes`.
    pub(crate) fn new(start: usize, len: usize, nodes: usize) -> Self {
        Lane {
            queue: EventQueue::new(),
            outbox: Vec::new(),
            rec: PartRecorder::new(start, len),
            events: 0,
            now: 0,
            until: 0,
            out: Vec::new(),
            batches: Vec::new(),
            last_message: None,
            pool: BatchPool::new(),
            sends: Vec::new(),
            next_message: vec![(u32::MAX, 0); nodes],
            span: Vec::new(),
            order: Vec::new(),
            handed: Vec::new(),
            counts: Vec::new(),
            span_end: 0,
            span_node: 0,
            last_timeout: None,
            own: Vec::new(),
        }
    }
}

/// A partition's nodes, their state and its lane, owned: moved to a worker thread for a
/// window and back.
pub(crate) struct Partition {
    /// The first node of the partition.
    pub(crate) start: usize,
    pub(crate) nodes: Vec<Box<dyn NodeBehaviour>>,
    pub(crate) state: Vec<NodeState>,
    pub(crate) lane: Lane,
}

impl Partition {
    /// The partition of nodes `start..start + len` in a network of `nodes` (its nodes are
    /// added as they are built).
    pub(crate) fn new(start: usize, len: usize, nodes: usize, state: Vec<NodeState>) -> Self {
        Partition {
            start,
            nodes: Vec::with_capacity(len),
            state,
            lane: Lane::new(start, len, nodes),
        }
    }

    /// Node `i`'s state.
    pub(crate) fn state(&mut self, i: usize) -> &mut NodeState {
        &mut self.state[i - self.start]
    }

    /// The partition with read access to the shared state.
    pub(crate) fn view<'a>(&'a mut self, shared: &'a Shared) -> Part<'a> {
        Part {
            shared,
            start: self.start,
            nodes: &mut self.nodes,
            state: &mut self.state,
            lane: &mut self.lane,
        }
    }
}

/// A partition for the time of a window or of one global event: its nodes, their state and
/// its lane, with read access to the shared state.
pub(crate) struct Part<'a> {
    pub(crate) shared: &'a Shared,
    /// The first node of the partition.
    pub(crate) start: usize,
    pub(crate) nodes: &'a mut [Box<dyn NodeBehaviour>],
    pub(crate) state: &'a mut [NodeState],
    pub(crate) lane: &'a mut Lane,
}

impl Part<'_> {
    /// The current instant.
    pub(crate) fn instant(&self) -> Instant {
        self.shared.base + std::time::Duration::from_nanos(self.lane.now)
    }

    /// Runs node `i`'s input `f` at the current instant and flushes what it produced.
    pub(crate) fn input<R>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut dyn NodeBehaviour, &mut NodeCtx<'_>) -> R,
    ) -> R {
        let now = self.instant();
        let mut ctx = NodeCtx::new(now, &mut self.lane.out);
        let r = f(self.nodes[i - self.start].as_mut(), &mut ctx);
        self.flush(i);
        r
    }

    /// Node `i`'s behaviour.
    pub(crate) fn node(&mut self, i: usize) -> &mut Box<dyn NodeBehaviour> {
        &mut self.nodes[i - self.start]
    }

    /// Node `i`'s state.
    pub(crate) fn state(&mut self, i: usize) -> &mut NodeState {
        &mut self.state[i - self.start]
    }

    /// Runs the partition's events before `until`: each node's in key order.
    ///
    /// Time is cut into spans no longer than the smallest link latency (the lookahead): what
    /// a node sends during a span reaches another node only after the span, so within it each
    /// node's events depend on that node alone. A span's events therefore run node by node,
    /// each node's in key order, interleaved with the events the node creates for itself
    /// inside the span (timeouts, downlink waits). Every node sees exactly the events, in the
    /// order, of a run in global key order, and its state is warm in the CPU caches for all
    /// of its events of the span rather than reloaded for each.
    pub(crate) fn run_until(&mut self, until: u64) {
        self.lane.until = until;
        let lookahead = self.shared.cfg.link.latency.min_latency();
        let mut span = std::mem::take(&mut self.lane.span);
        while let Some(first) = self.lane.queue.peek_time() {
            if first >= until {
                break;
            }
            if lookahead == 0 || key_order_for_tests() {
                // No lookahead: one event at a time, in global key order.
                let Some((key, event)) = self.lane.queue.pop_keyed() else {
                    break;
                };
                self.run_event(key.0, event);
                continue;
            }
            let end = first.saturating_add(lookahead).min(until);
            // The span's events come in any order; sorting (node, key, position) puts each
            // node's events together in key order, without moving the events themselves.
            let mut order = std::mem::take(&mut self.lane.order);
            self.sort_span(end, &mut span, &mut order);
            self.lane.span_end = end;
            let mut k = 0;
            while let Some(&(node, _, _)) = order.get(k) {
                self.lane.span_node = node;
                // The node's events of the span, merged in key order with those it creates
                // for itself inside the span.
                loop {
                    let next = order
                        .get(k)
                        .filter(|(n, _, _)| *n == node)
                        .map(|(_, key, _)| *key);
                    let own = self.lane.own.last().map(|(key, _)| *key);
                    match (next, own) {
                        (Some(next), Some(own)) if own < next => self.run_own(),
                        (Some(next), _) => {
                            let at = order[k].2 as usize;
                            prefetch_ahead(&span, &order, k);
                            if let Some(Some(Event::Deliver { to, from, .. })) =
                                order.get(k + 1).map(|e| &span[e.2 as usize])
                            {
                                let peer = &self.shared.peer_ids[*from as usize];
                                self.nodes[*to as usize - self.start].warm(peer);
                            }
                            k += 1;
                            if let Some(event) = span[at].take() {
                                self.run_event(next.0, event);
                            }
                        }
                        (None, Some(_)) => self.run_own(),
                        (None, None) => break,
                    }
                }
            }
            span.clear();
            order.clear();
            self.lane.order = order;
            self.lane.span_end = 0;
        }
        self.lane.span = span;
    }

    /// Takes the partition's events before `end` from the queue into `span` and puts them in
    /// running order in `order`: sorted by (node, key). A counting sort groups them by node
    /// (most nodes have one to three events in a span), then each node's few are sorted by
    /// key: cheaper than one comparison sort of them all.
    fn sort_span(
        &mut self,
        end: u64,
        span: &mut Vec<Option<Event>>,
        order: &mut Vec<(u32, Key, u32)>,
    ) {
        let start = self.start;
        let lane = &mut *self.lane;
        let (handed, counts) = (&mut lane.handed, &mut lane.counts);
        counts.clear();
        counts.resize(self.state.len() + 1, 0);
        lane.queue.drain_before(end, |key, event| {
            let node = event.node();
            counts[node as usize - start + 1] += 1;
            handed.push((node, key, span.len() as u32));
            span.push(Some(event));
        });
        // counts[j]: where node j's events start.
        for j in 1..counts.len() {
            counts[j] += counts[j - 1];
        }
        order.resize(handed.len(), (0, (0, 0, 0), 0));
        for &entry in handed.iter() {
            let at = &mut counts[entry.0 as usize - start];
            order[*at as usize] = entry;
            *at += 1;
        }
        handed.clear();
        // Keys are unique: within a node, the key alone decides.
        for group in order.chunk_by_mut(|a, b| a.0 == b.0) {
            if group.len() > 1 {
                group.sort_unstable_by_key(|&(_, key, _)| key);
            }
        }
    }

    /// Runs the earliest event the current node created for itself inside the span.
    fn run_own(&mut self) {
        if let Some((key, event)) = self.lane.own.pop() {
            self.run_event(key.0, event);
        }
    }

    /// Runs one event at `time`.
    fn run_event(&mut self, time: u64, event: Event) {
        self.lane.now = time;
        self.lane.events += 1;
        self.handle(event);
    }

    /// Queues `event`, created by node `creator`, at `time`: in this partition's queue, or
    /// in the outbox if it happens in another partition.
    fn push(&mut self, time: u64, creator: usize, event: Event) {
        let state = &mut self.state[creator - self.start];
        let count = state.created;
        state.created += 1;
        let creator = creator as u32;
        let node = event.node() as usize;
        if time < self.lane.span_end {
            // Inside the span being run (see `run_until`): only the node being run can have
            // an event there, and it runs before the span ends, merged with its other events.
            assert!(
                event.node() == self.lane.span_node && creator == self.lane.span_node,
                "node {creator} created an event for node {node} inside the lookahead"
            );
            let key = (time, creator, count);
            let own = &mut self.lane.own;
            // Sorted, earliest last.
            let at = own.partition_point(|(k, _)| *k > key);
            own.insert(at, (key, event));
        } else if (self.start..self.start + self.state.len()).contains(&node) {
            self.lane.queue.push_keyed(time, creator, count, event);
        } else {
            // The other partition may already have run up to `until`: an event before it
            // would arrive in its past, and the order would depend on the partitioning. The
            // lookahead (the smallest link latency) rules this out; this keeps it so.
            assert!(
                time >= self.lane.until,
                "an event crosses partitions {} ns before the window ends",
                self.lane.until - time
            );
            self.lane.outbox.push((time, creator, count, event));
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver {
                to,
                from,
                to_epoch,
                from_epoch,
                bytes,
                upload,
                received,
                mut rpcs,
            } => {
                let (t, f) = (to as usize, from as usize);
                let shared = self.shared;
                if !shared.online[t]
                    || !shared.online[f]
                    || shared.epoch[t] != to_epoch
                    || shared.epoch[f] != from_epoch
                {
                    self.recycle(rpcs);
                    return;
                }
                let now = self.lane.now;
                if !received && shared.cfg.link.download_bps > 0 {
                    // The downlink takes the bytes in as they come (from `now - upload`) at
                    // its own rate, after what it is still taking in.
                    let receive = shared.cfg.link.receive_time(bytes);
                    let state = self.state(t);
                    let start = now.saturating_sub(upload).max(state.downlink_free);
                    let done = now.max(start.saturating_add(receive));
                    state.downlink_free = done;
                    if done > now {
                        let event = Event::Deliver {
                            to,
                            from,
                            to_epoch,
                            from_epoch,
                            bytes,
                            upload,
                            received: true,
                            rpcs,
                        };
                        self.push(done, t, event);
                        return;
                    }
                }
                let instant = self.instant();
                let peer = shared.peer_ids[f];
                for (rpc, message) in rpcs.drain(..) {
                    if message != NO_MESSAGE && t < shared.honest {
                        self.lane.rec.received(t, message);
                    }
                    let mut ctx = NodeCtx::new(instant, &mut self.lane.out);
                    self.nodes[t - self.start].on_rpc(&mut ctx, peer, rpc);
                }
                self.recycle(rpcs);
                self.flush(t);
            }
            Event::Timeout(node) => {
                let i = node as usize;
                let now = self.lane.now;
                if !self.shared.online[i] || self.state(i).timer != now {
                    return;
                }
                self.state(i).timer = u64::MAX;
                let instant = self.instant();
                let mut ctx = NodeCtx::new(instant, &mut self.lane.out);
                self.nodes[i - self.start].on_timeout(&mut ctx);
                self.flush(i);
                self.reschedule(i, true);
            }
        }
    }

    /// Returns an emptied batch to the pool (which frees it if the pool is full).
    fn recycle(&mut self, rpcs: Batch) {
        self.lane.pool.put(rpcs);
    }

    /// Hands node `i`'s outputs to the recorder and the links: each run of consecutive RPCs
    /// to one peer goes as one batch, and the batches leave in the order they were produced.
    /// With [`SimConfig::idontwant_merge_bytes`], an IDONTWANT-only RPC first moves to just
    /// before the next message this input sends the same peer (if close enough), so the two
    /// are one batch.
    pub(crate) fn flush(&mut self, i: usize) {
        let shared = self.shared;
        let mut out = std::mem::take(&mut self.lane.out);
        let mut sends = std::mem::take(&mut self.lane.sends);
        for (at, output) in out.iter().enumerate() {
            match output {
                NodeOutput::Send { to, message_id, .. } => {
                    // The sender's link to `to`, found by its tag among the sender's links
                    // (read anyway to transmit); a node it has no link to (or no node) is
                    // looked up in the whole network.
                    let key = super::peer_index::fingerprint(to);
                    let links = &self.state[i - self.start].links;
                    let (node, link) = match links.iter().position(|l| {
                        l.tag == key as u32 && shared.peer_ids[l.peer as usize] == *to
                    }) {
                        Some(link) => (links[link].peer, link as u32),
                        None => match shared.index.get_keyed(&shared.peer_ids, to, key) {
                            Some(node) => (node, NO_LINK),
                            None => continue,
                        },
                    };
                    debug_assert_eq!(Some(node), shared.index.get(&shared.peer_ids, to));
                    let message = match message_id {
                        None => NO_MESSAGE,
                        Some(id) => match &self.lane.last_message {
                            Some((last, m)) if last == id => *m,
                            _ => match shared.registry.message_index(id) {
                                Some(m) => {
                                    self.lane.last_message = Some((id.clone(), m));
                                    m
                                }
                                None => NO_MESSAGE,
                            },
                        },
                    };
                    sends.push(Outgoing {
                        to: node,
                        link,
                        message,
                        slot: 0,
                        at: at as u32,
                    });
                }
                NodeOutput::Delivered { message_id } => {
                    self.lane
                        .rec
                        .delivered(&shared.registry, i, message_id, self.lane.now);
                }
            }
        }
        if shared.cfg.idontwant_merge_bytes > 0 && sends.len() > 1 {
            self.merge_idontwant(&mut sends, &mut out);
        }
        let mut batches = std::mem::take(&mut self.lane.batches);
        for send in sends.drain(..) {
            // Only consecutive RPCs to one peer share a batch: the uplink sends everything
            // in the order the node produced it, so a batch never holds back an RPC behind
            // ones to other peers.
            if batches.last().is_none_or(|(peer, _, _)| *peer != send.to) {
                batches.push((send.to, send.link, self.lane.pool.take()));
            }
            if let Some((_, _, batch)) = batches.last_mut() {
                let rpc = std::mem::take(rpc_of(&mut out[send.at as usize]));
                batch.push((rpc, send.message));
            }
        }
        self.lane.sends = sends;
        out.clear();
        self.lane.out = out;
        for (to, link, rpcs) in batches.drain(..) {
            self.transmit(i, to, link, rpcs);
        }
        self.lane.batches = batches;
        if shared.online[i] {
            self.reschedule(i, false);
        }
    }

    /// Reorders `sends` so that every IDONTWANT-only RPC stands just before the next RPC to
    /// the same peer that carries a message, if at most [`SimConfig::idontwant_merge_bytes`]
    /// payload bytes of messages (that one included) go out after the IDONTWANT until that
    /// message is uploaded and no other RPC to that peer lies between them (staying where it
    /// is otherwise); everything else keeps its order. Stable and a pure function of `sends`.
    fn merge_idontwant(&mut self, sends: &mut [Outgoing], out: &mut [NodeOutput]) {
        let limit = self.shared.cfg.idontwant_merge_bytes as u64;
        let next_message = &mut self.lane.next_message;
        // Payload bytes of the messages after `sends[k]`, as `slot` is computed backwards.
        let mut after = 0u64;
        let mut moved = false;
        for k in (0..sends.len()).rev() {
            let to = sends[k].to as usize;
            let (next, next_after) = next_message[to];
            let rpc = rpc_of(&mut out[sends[k].at as usize]);
            let payload: u64 = rpc.messages.iter().map(|m| m.data.len() as u64).sum();
            if !rpc.messages.is_empty() {
                // Bytes after this message (it is the one a merged IDONTWANT rides with).
                next_message[to] = (k as u32, after);
                sends[k].slot = k as u32;
            } else if next != u32::MAX
                && idontwant_only(rpc)
                // What the IDONTWANT would wait for: the messages up to and including the one
                // it rides with (a batch arrives once all of it is uploaded).
                && after.saturating_sub(next_after) <= limit
            {
                sends[k].slot = next;
                moved = true;
            } else {
                // Nothing earlier to this peer moves past an RPC that stays.
                next_message[to] = (u32::MAX, 0);
                sends[k].slot = k as u32;
            }
            after += payload;
        }
        for send in sends.iter() {
            next_message[send.to as usize] = (u32::MAX, 0);
        }
        if moved {
            // Stable: a moved IDONTWANT (earlier in `sends`) stays before the message whose
            // slot it took, and several moved to one message keep their order.
            sends.sort_by_key(|s| s.slot);
        }
    }

    /// Puts a batch of RPCs on node `from`'s uplink towards `to`, over its link `link` (the
    /// batch is dropped if [`NO_LINK`]). Each RPC costs upload time and may be lost on its
    /// own; the rest arrive together.
    fn transmit(&mut self, from: usize, to: u32, link: u32, mut rpcs: Batch) {
        let shared = self.shared;
        let now = self.lane.now;
        let local = from - self.start;
        let state = &mut self.state[local];
        if link == NO_LINK {
            self.recycle(rpcs);
            return;
        }
        let link = link as usize;
        debug_assert_eq!(state.links[link].peer, to);
        let mut depart = now.max(state.uplink_free);
        let (mut bytes, mut upload) = (0, 0);
        let (rec, cfg, rng) = (&mut self.lane.rec, &shared.cfg.link, &mut state.rng);
        // Accounts one RPC: its size on the wire and the uplink time it takes.
        let mut send = |rpc: &Rpc, message: u32| {
            let message_index = (message != NO_MESSAGE).then_some(message);
            let size = rec.sent(from, rpc, message_index);
            let time = cfg.transmit_time(size);
            depart = depart.saturating_add(time);
            (size, time)
        };
        let mut lost = 0;
        if cfg.loss > 0.0 {
            rpcs.retain(|(rpc, message)| {
                let (size, time) = send(rpc, *message);
                if cfg.sample_loss(rng) {
                    lost += 1;
                    return false;
                }
                bytes += size;
                upload += time;
                true
            });
        } else {
            // Nothing is lost (and no loss is drawn): a plain pass, without retain's
            // bookkeeping for removals.
            for (rpc, message) in &rpcs {
                let (size, time) = send(rpc, *message);
                bytes += size;
                upload += time;
            }
        }
        self.lane.rec.rpcs_lost += lost;
        state.uplink_free = depart;
        if rpcs.is_empty() {
            self.recycle(rpcs);
            return;
        }
        let jitter = cfg.sample_jitter(&mut state.rng);
        let link = &mut state.links[link];
        let arrive = depart
            .saturating_add(link.latency)
            .saturating_add(jitter)
            .max(link.last_arrival);
        link.last_arrival = arrive;
        let event = Event::Deliver {
            to,
            from: from as u32,
            to_epoch: shared.epoch[to as usize],
            from_epoch: shared.epoch[from],
            bytes,
            upload,
            received: false,
            rpcs,
        };
        self.push(arrive, from, event);
    }

    /// Schedules node `i`'s next timeout if it is earlier than the one scheduled.
    pub(crate) fn reschedule(&mut self, i: usize, after_timeout: bool) {
        let next = self.nodes[i - self.start].next_timeout();
        let now = self.lane.now;
        let mut t = match self.lane.last_timeout {
            Some((instant, t)) if instant == next => t,
            _ => {
                let t = super::link::nanos(next.saturating_duration_since(self.shared.base));
                self.lane.last_timeout = Some((next, t));
                t
            }
        };
        // Never in the past (a partition's window may already be past it); after a timeout,
        // never at the same instant either (a node must not spin).
        t = t.max(if after_timeout {
            now.saturating_add(1)
        } else {
            now
        });
        if t < self.state(i).timer {
            self.state(i).timer = t;
            self.push(t, i, Event::Timeout(i as u32));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{LinkConfig, Network, Preset, SimConfig, ValidationDelay, WorkloadConfig};
    use std::time::Duration;

    /// Running each span's events node by node gives exactly the results of running every
    /// event alone in global key order, with the events a node creates for itself inside a
    /// span (validation delays, downlink waits, timeouts) and churn.
    #[test]
    fn spans_run_node_by_node_give_the_results_of_global_key_order() {
        let cfg = SimConfig {
            nodes: 40,
            seed: 11,
            preset: Preset::Ethereum,
            link: LinkConfig {
                loss: 0.01,
                download_bps: 5_000_000,
                ..LinkConfig::default()
            },
            workload: WorkloadConfig {
                publishers: 4,
                rate: 4.0,
                churn_per_min: 12.0,
                churn_downtime: Duration::from_secs(3),
                ..WorkloadConfig::default()
            },
            warmup: Duration::from_secs(3),
            duration: Duration::from_secs(8),
            drain: Duration::from_secs(4),
            validation: ValidationDelay::uniform(Duration::from_millis(3)),
            threads: 1,
            ..SimConfig::default()
        };
        let run = |key_order: bool| {
            KEY_ORDER.set(key_order);
            let results = Network::new(cfg.clone()).run();
            KEY_ORDER.set(false);
            results
        };
        let reference = run(true);
        assert!(reference.messages.len() >= 100, "{reference}");
        assert!(reference.delivery_ratio() > 0.95, "{reference}");
        let spans = run(false);
        assert!(
            spans == reference,
            "digest {:x} against {:x} in key order",
            spans.digest,
            reference.digest
        );
    }

    fn batch(capacity: usize) -> Batch {
        let mut batch = Batch::with_capacity(capacity);
        batch.push((Rpc::default(), NO_MESSAGE));
        batch
    }

    /// A partition that receives far more batches than it sends (an IWANT spammer's) keeps
    /// at most `MAX_BATCHES` of them, none oversized, each emptied.
    #[test]
    fn the_batch_pool_stays_bounded_when_batches_only_come_back() {
        let mut pool = BatchPool::new();
        for _ in 0..10 * BatchPool::MAX_BATCHES {
            pool.put(batch(4));
        }
        assert_eq!(pool.len(), BatchPool::MAX_BATCHES);
        assert!(pool.capacity() <= BatchPool::MAX_BATCHES * BatchPool::MAX_CAPACITY);
        for _ in 0..BatchPool::MAX_BATCHES {
            let b = pool.take();
            assert!(b.is_empty());
            assert!(b.capacity() >= 4, "a kept batch is reused");
        }
        assert_eq!(pool.len(), 0);
        // An oversized batch is freed, not kept.
        pool.put(batch(BatchPool::MAX_CAPACITY + 1));
        assert_eq!(pool.len(), 0);
        pool.put(batch(BatchPool::MAX_CAPACITY));
        assert_eq!(pool.len(), 1);
        // An empty pool hands out new batches.
        let _ = pool.take();
        assert_eq!(pool.take().capacity(), 0);
    }
}
