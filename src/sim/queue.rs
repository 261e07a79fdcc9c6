//! The event queue: events ordered by (time, creator, creator's count), so events at the same
//! instant run in an order that depends only on who created them and how many events each
//! creator had created before: a run is reproducible bit for bit, however its nodes are
//! partitioned. [`EventQueue::push`] keys an event by the queue's own count (creator 0).
//!
//! A calendar queue: the near future is a ring of [`BUCKETS`] buckets of [`BUCKET_NS`]
//! nanoseconds each (link latencies put most events there), only the bucket being drained is
//! kept sorted, and events beyond the ring wait in a binary heap until the ring reaches them.
//! Pushing and popping a near event therefore costs O(1) amortised instead of a heap's
//! O(log n) cache-missing sift; the order is exactly the heap's. Events are stored with their
//! keys, so the next event is read from the bucket being drained, in order, rather than from
//! a slot anywhere in memory written long before (a cache miss per event).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Width of a bucket in nanoseconds.
const BUCKET_NS: u64 = 1_000_000;
/// Buckets in the ring: the ring covers `BUCKETS * BUCKET_NS` (256 ms) ahead of the current
/// bucket.
const BUCKETS: u64 = 256;

/// A queued event's key: (time, creator, creator's count), unique in the queue.
pub(crate) type Key = (u64, u32, u64);

/// An event with its key, ordered by the key alone.
struct Entry<E> {
    key: Key,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

/// A min-queue of events keyed by simulated time in nanoseconds.
pub(crate) struct EventQueue<E> {
    /// `ring[b % BUCKETS]` holds the events of bucket `b`, for `current <= b < current +
    /// BUCKETS`; bucket `current` is sorted with its earliest key last.
    ring: Vec<Vec<Entry<E>>>,
    /// Events in the ring.
    in_ring: usize,
    /// Events of buckets `current + BUCKETS` and later.
    far: BinaryHeap<Reverse<Entry<E>>>,
    /// The bucket being drained: that of the last event popped (or earlier), never moved
    /// on by a peek. Time only reaches an event when it is popped, so whatever is pushed
    /// afterwards is at the current bucket or later; had a peek moved `current` on to a
    /// distant event (a quiet network's next heartbeat, 600 ms away), what a global event
    /// scheduled before it would all have joined the current bucket, one sorted insert
    /// each, moving the bucket's events for every one.
    current: u64,
    /// The time of the earliest event while the current bucket is empty (`None`: not known).
    peeked: Option<u64>,
    next_seq: u64,
}

impl<E> EventQueue<E> {
    pub(crate) fn new() -> Self {
        EventQueue {
            ring: (0..BUCKETS).map(|_| Vec::new()).collect(),
            in_ring: 0,
            far: BinaryHeap::new(),
            current: 0,
            peeked: None,
            next_seq: 0,
        }
    }

    /// Schedules `event` at `time` (nanoseconds since the start of the run).
    pub(crate) fn push(&mut self, time: u64, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.push_keyed(time, 0, seq, event);
    }

    /// Schedules `event` at `time`, after every event at `time` of a smaller creator, or of
    /// the same creator with a smaller `count`. (`creator`, `count`) must be unique in the
    /// queue.
    pub(crate) fn push_keyed(&mut self, time: u64, creator: u32, count: u64, event: E) {
        self.insert(Entry {
            key: (time, creator, count),
            event,
        });
    }

    /// Files `entry` into its bucket (an event earlier than the current bucket joins it: it
    /// still comes out in key order).
    fn insert(&mut self, entry: Entry<E>) {
        if let Some(peeked) = self.peeked.as_mut() {
            *peeked = (*peeked).min(entry.key.0);
        }
        let bucket = (entry.key.0 / BUCKET_NS).max(self.current);
        if bucket >= self.current + BUCKETS {
            self.far.push(Reverse(entry));
            return;
        }
        let ring = &mut self.ring[(bucket % BUCKETS) as usize];
        if bucket == self.current {
            // Sorted, earliest last.
            let at = ring.partition_point(|e| e.key > entry.key);
            ring.insert(at, entry);
        } else {
            ring.push(entry);
        }
        self.in_ring += 1;
    }

    /// Makes the earliest event the last of the current bucket; `false` if the queue is empty.
    fn settle(&mut self) -> bool {
        self.settle_sorting_after(0)
    }

    /// [`EventQueue::settle`], except that a bucket the queue moves on to is not sorted if it
    /// ends by `whole_before` (the caller takes all of it, in any order: see
    /// [`EventQueue::drain_before`]).
    fn settle_sorting_after(&mut self, whole_before: u64) -> bool {
        // A pop follows: what was peeked may be gone.
        self.peeked = None;
        loop {
            if !self.ring[(self.current % BUCKETS) as usize].is_empty() {
                return true;
            }
            if self.in_ring == 0 {
                // Jump straight to the bucket of the earliest far event.
                let Some(Reverse(first)) = self.far.peek() else {
                    return false;
                };
                self.current = (first.key.0 / BUCKET_NS).max(self.current + 1);
            } else {
                self.current += 1;
            }
            // Far events the ring now reaches move in.
            let horizon = (self.current + BUCKETS).saturating_mul(BUCKET_NS);
            while self.far.peek().is_some_and(|Reverse(e)| e.key.0 < horizon) {
                let Some(Reverse(entry)) = self.far.pop() else {
                    break;
                };
                let bucket = (entry.key.0 / BUCKET_NS).max(self.current);
                self.ring[(bucket % BUCKETS) as usize].push(entry);
                self.in_ring += 1;
            }
            if (self.current + 1).saturating_mul(BUCKET_NS) > whole_before {
                self.ring[(self.current % BUCKETS) as usize]
                    .sort_unstable_by_key(|e| Reverse(e.key));
            }
        }
    }

    /// Hands every event before `end` to `f` with its key, in no particular order: buckets
    /// that end by `end` are taken whole, without being sorted (a caller that orders the
    /// events its own way would otherwise sort them twice). Like a pop, moves the queue on
    /// no further than the last event taken (or the bucket of `end`).
    pub(crate) fn drain_before(&mut self, end: u64, mut f: impl FnMut(Key, E)) {
        self.peeked = None;
        loop {
            let whole = (self.current + 1).saturating_mul(BUCKET_NS) <= end;
            let bucket = &mut self.ring[(self.current % BUCKETS) as usize];
            if whole {
                self.in_ring -= bucket.len();
                for entry in bucket.drain(..) {
                    f(entry.key, entry.event);
                }
            } else {
                // The current bucket is sorted, earliest last.
                while let Some(entry) = bucket.pop_if(|e| e.key.0 < end) {
                    self.in_ring -= 1;
                    f(entry.key, entry.event);
                }
                if !bucket.is_empty() {
                    return;
                }
            }
            if self.peek_time().is_none_or(|t| t >= end) {
                return;
            }
            self.settle_sorting_after(end);
        }
    }

    /// The time of the earliest event. Does not move the queue on to it (see `current`):
    /// with the current bucket empty, the earliest event is the first of the next bucket
    /// that has any (its events are not sorted yet), or the far heap's first.
    pub(crate) fn peek_time(&mut self) -> Option<u64> {
        if let Some(last) = self.ring[(self.current % BUCKETS) as usize].last() {
            return Some(last.key.0);
        }
        if self.peeked.is_none() {
            self.peeked = if self.in_ring == 0 {
                self.far.peek().map(|Reverse(e)| e.key.0)
            } else {
                (self.current + 1..self.current + BUCKETS)
                    .map(|b| &self.ring[(b % BUCKETS) as usize])
                    .find(|bucket| !bucket.is_empty())
                    .and_then(|bucket| bucket.iter().map(|e| e.key.0).min())
            };
        }
        self.peeked
    }

    /// Removes and returns the earliest event with its key (time, creator, creator's count).
    pub(crate) fn pop_keyed(&mut self) -> Option<(Key, E)> {
        if !self.settle() {
            return None;
        }
        let entry = self.ring[(self.current % BUCKETS) as usize].pop()?;
        self.in_ring -= 1;
        Some((entry.key, entry.event))
    }

    /// Removes and returns the earliest event.
    pub(crate) fn pop(&mut self) -> Option<(u64, E)> {
        if !self.settle() {
            return None;
        }
        let entry = self.ring[(self.current % BUCKETS) as usize].pop()?;
        self.in_ring -= 1;
        Some((entry.key.0, entry.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn orders_by_time_then_insertion() {
        let mut q = EventQueue::new();
        q.push(5, "c");
        q.push(1, "a");
        q.push(5, "d");
        q.push(1, "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(1, "a"), (1, "b"), (5, "c"), (5, "d")]);
        q.push(7, "e");
        assert_eq!(q.peek_time(), Some(7));
    }

    /// Events at one instant come out by creator, then by the creator's count, whatever
    /// the order they were pushed in.
    #[test]
    fn keyed_events_order_by_time_creator_and_count() {
        let mut q = EventQueue::new();
        q.push_keyed(5, 2, 0, "c");
        q.push_keyed(5, 1, 7, "b");
        q.push_keyed(9, 0, 0, "d");
        q.push_keyed(5, 1, 3, "a");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(5, "a"), (5, "b"), (5, "c"), (9, "d")]);
    }

    /// A peek does not move the queue on to a distant event: events pushed afterwards,
    /// earlier than it, are filed in their own buckets (not in one sorted list with it), and
    /// everything still pops in key order.
    #[test]
    fn a_peek_leaves_the_queue_at_the_last_pop() {
        let mut q = EventQueue::new();
        q.push(3 * BUCKET_NS, "a");
        assert_eq!(q.pop(), Some((3 * BUCKET_NS, "a")));
        // Far beyond the ring, then within it: neither peek moves the queue.
        q.push(600 * BUCKET_NS, "far");
        assert_eq!(q.peek_time(), Some(600 * BUCKET_NS));
        assert_eq!(q.current, 3);
        q.push(40 * BUCKET_NS + 5, "later");
        q.push(40 * BUCKET_NS + 1, "ring");
        assert_eq!(q.peek_time(), Some(40 * BUCKET_NS + 1));
        assert_eq!(q.current, 3);
        // What a global event schedules before the peeked events goes to its own buckets.
        for k in 0..10 {
            q.push((5 + k) * BUCKET_NS, "early");
        }
        assert_eq!(q.ring[(3 % BUCKETS) as usize].len(), 0);
        assert_eq!(q.peek_time(), Some(5 * BUCKET_NS));
        let times: Vec<u64> = std::iter::from_fn(|| q.pop()).map(|(t, _)| t).collect();
        let mut sorted = times.clone();
        sorted.sort_unstable();
        assert_eq!(times, sorted);
        assert_eq!(times.len(), 13);
    }

    /// `drain_before` hands over exactly the events a heap would pop before the limit, and
    /// the queue pops the rest in key order afterwards, with pushes and drains interleaved
    /// at every distance (within a bucket, across buckets, beyond the ring).
    #[test]
    fn drain_before_takes_exactly_the_events_before_the_limit() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut q = EventQueue::new();
        let mut reference = BinaryHeap::new();
        let (mut seq, mut now, mut drained) = (0u64, 0u64, 0);
        for _ in 0..5_000 {
            if rng.gen_bool(0.6) {
                let time = now + rng.gen_range(0..3 * BUCKETS * BUCKET_NS);
                q.push(time, seq);
                reference.push(Reverse((time, seq)));
                seq += 1;
            } else if rng.gen_bool(0.5) {
                let end = now + rng.gen_range(0..40 * BUCKET_NS);
                let mut expected = Vec::new();
                while reference.peek().is_some_and(|Reverse((t, _))| *t < end) {
                    expected.extend(reference.pop().map(|Reverse(k)| k));
                }
                let mut got = Vec::new();
                q.drain_before(end, |key, s| got.push((key.0, s)));
                got.sort_unstable();
                assert_eq!(got, expected);
                drained += got.len();
                now = end;
            } else {
                let expected = reference.pop().map(|Reverse(k)| k);
                assert_eq!(q.peek_time(), expected.map(|(t, _)| t));
                assert_eq!(q.pop(), expected);
                if let Some((t, _)) = expected {
                    now = now.max(t);
                }
            }
        }
        while let Some(Reverse(k)) = reference.pop() {
            assert_eq!(q.pop(), Some(k));
        }
        assert_eq!(q.pop(), None);
        assert!(drained > 1000);
    }

    /// The calendar queue pops exactly what a binary heap of (time, sequence) pops, with
    /// pushes interleaved with pops at the current time, inside the ring, beyond it and
    /// after long gaps.
    #[test]
    fn pops_in_the_order_of_a_binary_heap() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut q = EventQueue::new();
        let mut reference = BinaryHeap::new();
        let mut seq = 0u64;
        let mut now = 0u64;
        let mut popped = 0;
        for _ in 0..20_000 {
            if rng.gen_bool(0.55) {
                let delay = match rng.gen_range(0..5) {
                    0 => 0,
                    1 => rng.gen_range(0..BUCKET_NS),
                    2 => rng.gen_range(0..BUCKETS * BUCKET_NS),
                    3 => rng.gen_range(0..4 * BUCKETS * BUCKET_NS),
                    _ => rng.gen_range(0..100 * BUCKETS * BUCKET_NS),
                };
                let time = now + delay;
                q.push(time, seq);
                reference.push(Reverse((time, seq)));
                seq += 1;
            } else {
                let expected = reference.pop().map(|Reverse(k)| k);
                assert_eq!(q.peek_time(), expected.map(|(t, _)| t));
                let got = q.pop();
                assert_eq!(got, expected);
                if let Some((t, _)) = got {
                    assert!(t >= now);
                    now = t;
                    popped += 1;
                }
            }
        }
        while let Some(Reverse(k)) = reference.pop() {
            assert_eq!(q.pop(), Some(k));
        }
        assert_eq!(q.pop(), None);
        assert!(popped > 1000);
    }
}
