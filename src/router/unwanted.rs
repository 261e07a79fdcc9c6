//! The ids each peer does not want from us (it sent IDONTWANT for them, or a copy of the
//! message): one store for all peers, keyed by message id.
//!
//! A message reaches a node from about D peers and its IDONTWANT from the rest of its mesh, so
//! the same id is recorded for many peers within a few milliseconds, and forwarding checks it
//! for every mesh peer. One table keyed by id turns those per-peer probes (one cold hash table
//! per peer) into one probe of a hot table plus a bit test per peer.
//!
//! Peers are named here by a small [`PeerSlot`], handed out lowest first and reused after the
//! peer leaves (once its ids are removed, so a new peer never inherits them). The first 64
//! slots are bits of one word; higher ones (a node with more than 64 peers) a sorted list.
//!
//! What is retained stays bounded per peer: a peer records at most `max_idontwant_messages`
//! ids per heartbeat (counted here per slot, so recording an id needs the sender's slot only,
//! not a lookup of its state by peer id), and each record leaves `history_length` heartbeats
//! later. The records wait in one expiry queue for the whole store, oldest first: the
//! heartbeat pops the expired records from its front instead of visiting every peer's queue.
//! A record is a slot and an id (48 bytes); their heartbeats are kept apart as runs (a
//! heartbeat and how many records were made at it), since every record of a heartbeat is
//! appended before any of the next. A departed peer's slot is not handed out again
//! until its records are gone: they are purged at the next heartbeat, before any expiry, in
//! one pass over the queue (or at once when `MAX_DEPARTING` peers wait: churn cannot pile up
//! departed peers' records), and no connected peer has the slot meanwhile, so nothing reads
//! them. Keys are peer-controlled, so the table uses the router's randomly seeded hasher.
//!
//! The table is cold when an IDONTWANT arrives (a simulated node's tables are evicted by its
//! neighbours' work, a real node's by everything else), so its layout is chosen for cache
//! lines: an entry (the id, the low holder bits, the rarely used high list and the id's hash)
//! is one aligned line, so a lookup reads the control bytes and that one line; and each
//! operation hashes its id once (a removal finds the entry and drops it through the same
//! probe). The hash kept in the entry lets the table grow without hashing its ids again.
//! Nothing iterates the table but the invariant check, so its order does not matter.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::Map;
use super::shrink::ShrinkIfSparse;
use crate::types::MessageId;

/// A connected peer's index in the [`Unwanted`] store (unique among connected peers).
pub(crate) type PeerSlot = u32;

/// Slots below this are bits of [`Holders::low`].
const LOW_SLOTS: u32 = u64::BITS;

/// The peers that do not want one id.
#[derive(Debug, Default)]
pub(crate) struct Holders {
    /// Bit `s` set: slot `s` (< 64) holds the id.
    low: u64,
    /// Slots of 64 and above holding the id, sorted ascending; `None` when there are none
    /// (boxed: one word in the entry, which must fit a cache line; a boxed slice is two).
    #[allow(clippy::box_collection)]
    high: Option<Box<Vec<PeerSlot>>>,
}

impl Holders {
    /// Whether `slot` holds the id.
    pub(crate) fn contains(&self, slot: PeerSlot) -> bool {
        if slot < LOW_SLOTS {
            self.low & (1 << slot) != 0
        } else {
            self.high
                .as_ref()
                .is_some_and(|high| high.binary_search(&slot).is_ok())
        }
    }

    /// Adds `slot`; returns whether it was absent.
    #[inline]
    fn insert(&mut self, slot: PeerSlot) -> bool {
        if slot < LOW_SLOTS {
            let bit = 1 << slot;
            let absent = self.low & bit == 0;
            self.low |= bit;
            absent
        } else {
            let high = self.high.get_or_insert_with(Box::default);
            match high.binary_search(&slot) {
                Ok(_) => false,
                Err(at) => {
                    high.insert(at, slot);
                    true
                }
            }
        }
    }

    /// Removes `slot`; returns whether it was present.
    #[inline]
    fn remove(&mut self, slot: PeerSlot) -> bool {
        if slot < LOW_SLOTS {
            let bit = 1 << slot;
            let present = self.low & bit != 0;
            self.low &= !bit;
            present
        } else {
            let Some(high) = self.high.as_mut() else {
                return false;
            };
            match high.binary_search(&slot) {
                Ok(at) => {
                    high.remove(at);
                    if high.is_empty() {
                        self.high = None;
                    }
                    true
                }
                Err(_) => false,
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.low == 0 && self.high.is_none()
    }

    /// Every slot holding the id, ascending.
    fn slots(&self) -> impl Iterator<Item = PeerSlot> + '_ {
        let mut low = self.low;
        std::iter::from_fn(move || {
            (low != 0).then(|| {
                let slot = low.trailing_zeros();
                low &= low - 1;
                slot
            })
        })
        .chain(self.high.iter().flat_map(|high| high.iter().copied()))
    }
}

/// One id's entry in the table: one cache line (see the module docs), the id first so that a
/// probe's comparison and the holder bits it then reads share it.
#[repr(C, align(64))]
struct IdEntry {
    id: MessageId,
    holders: Holders,
    /// The id's hash under the store's hasher.
    hash: u64,
}

// An entry is one cache line: a larger id or holder set must revisit the layout.
const _: () = assert!(std::mem::size_of::<IdEntry>() == 64);
// A record is a slot and an id: its heartbeat is in the runs.
const _: () = assert!(std::mem::size_of::<Record>() <= 48);

/// What [`Unwanted::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// The id was already recorded for the peer.
    Already,
    /// Newly recorded.
    New,
    /// Not recorded: the peer's allowance is spent.
    Refused,
}

/// The most departed peers whose records wait for the next heartbeat; one more leaving purges
/// them at once (a pass over the expiry queue), so churn within a heartbeat cannot make the
/// store hold more than this many departed peers' records.
const MAX_DEPARTING: usize = 32;

/// One record in the expiry queue: `slot` does not want `id` (since the heartbeat of its run).
struct Record {
    slot: PeerSlot,
    id: MessageId,
}

/// Message id -> the peers (slots) that do not want it.
pub(crate) struct Unwanted {
    by_id: HashTable<IdEntry>,
    /// The router's seeded hasher (ids are peer-controlled).
    hasher: ahash::RandomState,
    /// Every record held, in the order they were made (so by heartbeat).
    order: VecDeque<Record>,
    /// The heartbeats of `order`'s records, oldest first: (heartbeat, how many consecutive
    /// records were made at it). The counts sum to `order.len()`; none is zero.
    ticks: VecDeque<(u64, usize)>,
    /// Slots of peers that left since the last expiry pass: their records are still held
    /// (read by no one: no connected peer has these slots) and the slots are not free yet.
    departed: Vec<PeerSlot>,
    /// Ids recorded this heartbeat, by slot (the peers' `max_idontwant_messages` allowance);
    /// as long as the highest slot handed out.
    spent: Vec<usize>,
    /// Slots given back by departed peers, lowest reused first.
    free: BinaryHeap<Reverse<PeerSlot>>,
    /// The lowest slot never handed out.
    next: PeerSlot,
}

impl Unwanted {
    pub(crate) fn new(hasher: ahash::RandomState) -> Self {
        Unwanted {
            by_id: HashTable::new(),
            hasher,
            order: VecDeque::new(),
            ticks: VecDeque::new(),
            departed: Vec::new(),
            spent: Vec::new(),
            free: BinaryHeap::new(),
            next: 0,
        }
    }

    /// A slot for a peer that just connected: the lowest free one. `None` only if u32::MAX
    /// peers are connected at once.
    pub(crate) fn alloc_slot(&mut self) -> Option<PeerSlot> {
        let slot = match self.free.pop() {
            Some(Reverse(slot)) => slot,
            None => {
                let slot = self.next;
                self.next = self.next.checked_add(1)?;
                slot
            }
        };
        let at = slot as usize;
        if self.spent.len() <= at {
            self.spent.resize(at + 1, 0);
        }
        self.spent[at] = 0;
        Some(slot)
    }

    /// Ids the peer in `slot` recorded this heartbeat.
    pub(crate) fn spent(&self, slot: PeerSlot) -> usize {
        self.spent.get(slot as usize).copied().unwrap_or(0)
    }

    /// The peer in `slot` already recorded `spent` ids this heartbeat (it reconnected within
    /// the heartbeat: its allowance is not refilled).
    pub(crate) fn set_spent(&mut self, slot: PeerSlot, spent: usize) {
        if let Some(at) = self.spent.get_mut(slot as usize) {
            *at = spent;
        }
    }

    /// A new heartbeat: every peer's allowance is whole again.
    pub(crate) fn refill_allowances(&mut self) {
        self.spent.fill(0);
    }

    /// The peer in `slot` left: its records go, and its slot is handed out again, at the next
    /// [`Unwanted::expire`], or at once with the others waiting when `MAX_DEPARTING` peers
    /// have left since.
    pub(crate) fn peer_left(&mut self, slot: PeerSlot) {
        self.departed.push(slot);
        if self.departed.len() >= MAX_DEPARTING {
            self.purge_departed();
        }
    }

    /// Gives back the slot of a departed peer whose ids are all removed.
    fn free_slot(&mut self, slot: PeerSlot) {
        self.free.push(Reverse(slot));
        if self.free.len() == self.next as usize {
            // Every peer has left: start again from slot 0 with an empty heap.
            self.free.clear();
            self.next = 0;
            self.spent = Vec::new();
        }
    }

    /// The peers that do not want `id` (one lookup for any number of peers).
    pub(crate) fn holders(&self, id: &MessageId) -> Option<&Holders> {
        let hash = self.hasher.hash_one(id);
        self.by_id
            .find(hash, |entry| entry.id == *id)
            .map(|entry| &entry.holders)
    }

    /// Whether the peer in `slot` does not want `id`.
    pub(crate) fn contains(&self, id: &MessageId, slot: PeerSlot) -> bool {
        self.holders(id).is_some_and(|h| h.contains(slot))
    }

    /// Records at heartbeat `tick` that the peer in `slot` does not want `id`, if it is not
    /// recorded yet and the peer recorded fewer than `max` ids this heartbeat. One lookup of
    /// `id` whatever the outcome.
    pub(crate) fn record(
        &mut self,
        id: &MessageId,
        slot: PeerSlot,
        max: usize,
        tick: u64,
    ) -> Recorded {
        let allowed = self.spent(slot) < max;
        let recorded = self.insert(id, slot, allowed);
        if recorded == Recorded::New {
            // `allowed`: the slot has its counter.
            if let Some(spent) = self.spent.get_mut(slot as usize) {
                *spent += 1;
            }
            self.order.push_back(Record {
                slot,
                id: id.clone(),
            });
            // Heartbeats only move forward: a record joins the newest run or starts one.
            match self.ticks.back_mut() {
                Some((last, count)) if *last == tick => *count += 1,
                _ => self.ticks.push_back((tick, 1)),
            }
        }
        recorded
    }

    /// The table half of [`Unwanted::record`].
    fn insert(&mut self, id: &MessageId, slot: PeerSlot, allowed: bool) -> Recorded {
        let hash = self.hasher.hash_one(id);
        match self
            .by_id
            .entry(hash, |entry| entry.id == *id, |entry| entry.hash)
        {
            Entry::Occupied(mut entry) => {
                let holders = &mut entry.get_mut().holders;
                if holders.contains(slot) {
                    Recorded::Already
                } else if allowed {
                    holders.insert(slot);
                    Recorded::New
                } else {
                    Recorded::Refused
                }
            }
            Entry::Vacant(vacant) => {
                if !allowed {
                    return Recorded::Refused;
                }
                let mut holders = Holders::default();
                holders.insert(slot);
                vacant.insert(IdEntry {
                    id: id.clone(),
                    holders,
                    hash,
                });
                Recorded::New
            }
        }
    }

    /// Forgets that the peer in `slot` does not want `id` (its record expired, or it left).
    /// One hash and one probe, also when the id's entry goes with it.
    fn remove(by_id: &mut HashTable<IdEntry>, hash: u64, id: &MessageId, slot: PeerSlot) {
        if let Ok(mut entry) = by_id.find_entry(hash, |entry| entry.id == *id) {
            let holders = &mut entry.get_mut().holders;
            if holders.remove(slot) && holders.is_empty() {
                entry.remove();
            }
        }
    }

    /// The heartbeat's pass, at heartbeat `tick`: the records of peers that left go and their
    /// slots are handed out again, then every record made `horizon` or more heartbeats ago
    /// expires. Memory a burst left unused is given back.
    pub(crate) fn expire(&mut self, tick: u64, horizon: u64) {
        self.purge_departed();
        while let Some(&(at, count)) = self.ticks.front() {
            if at + horizon > tick {
                break;
            }
            self.ticks.pop_front();
            for _ in 0..count {
                let Some(record) = self.order.pop_front() else {
                    break;
                };
                let hash = self.hasher.hash_one(&record.id);
                Self::remove(&mut self.by_id, hash, &record.id, record.slot);
            }
        }
        self.order.shrink_if_sparse();
        self.ticks.shrink_if_sparse();
        if super::shrink::sparse(self.by_id.len(), self.by_id.capacity()) {
            self.by_id
                .shrink_to(self.by_id.len() * 2, |entry| entry.hash);
        }
    }

    /// Removes the records of the peers that left and hands their slots out again (one pass
    /// over the expiry queue).
    fn purge_departed(&mut self) {
        if self.departed.is_empty() {
            return;
        }
        let mut departed = std::mem::take(&mut self.departed);
        departed.sort_unstable();
        // Each record is taken from the front and put back at the end unless it goes, run by
        // run: the order, and the runs' counts, come out as before, without the departed
        // peers' records.
        for _ in 0..self.ticks.len() {
            let Some((at, count)) = self.ticks.pop_front() else {
                break;
            };
            let mut kept = 0;
            for _ in 0..count {
                let Some(record) = self.order.pop_front() else {
                    break;
                };
                if departed.binary_search(&record.slot).is_ok() {
                    let hash = self.hasher.hash_one(&record.id);
                    Self::remove(&mut self.by_id, hash, &record.id, record.slot);
                } else {
                    self.order.push_back(record);
                    kept += 1;
                }
            }
            if kept > 0 {
                self.ticks.push_back((at, kept));
            }
        }
        for slot in departed.drain(..) {
            self.free_slot(slot);
        }
        // The allocation is kept for the next departures.
        self.departed = departed;
    }

    /// Whether the slot's peer left and its records wait for the next expiry pass.
    pub(crate) fn is_departed(&self, slot: PeerSlot) -> bool {
        self.departed.contains(&slot)
    }

    /// Whether the heartbeat runs account for every record of the expiry queue, with no empty
    /// run and heartbeats ascending (for the invariant check).
    pub(crate) fn runs_consistent(&self) -> bool {
        self.ticks.iter().map(|(_, count)| count).sum::<usize>() == self.order.len()
            && self.ticks.iter().all(|(_, count)| *count > 0)
            && self
                .ticks
                .iter()
                .zip(self.ticks.iter().skip(1))
                .all(|(a, b)| a.0 < b.0)
    }

    /// Records held per slot, with the bytes of their ids, from the expiry queue (for the
    /// invariant check; O(records)).
    pub(crate) fn queued_per_slot(&self) -> Map<PeerSlot, (usize, usize)> {
        let mut counts: Map<PeerSlot, (usize, usize)> = Map::with_hasher(self.hasher.clone());
        for record in &self.order {
            let count = counts.entry(record.slot).or_default();
            count.0 += 1;
            count.1 += record.id.as_bytes().len();
        }
        counts
    }

    /// Ids held for any peer.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Slots allocated for ids (the table's capacity).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.by_id.capacity()
    }

    /// How many ids each slot holds (for the invariant check; O(entries)).
    pub(crate) fn per_slot_counts(&self) -> Map<PeerSlot, usize> {
        let mut counts: Map<PeerSlot, usize> = Map::with_hasher(self.hasher.clone());
        for entry in &self.by_id {
            for slot in entry.holders.slots() {
                *counts.entry(slot).or_default() += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u32) -> MessageId {
        MessageId::new(i.to_be_bytes())
    }

    /// Allowances for `record`: no limit, and none left.
    const ANY: usize = usize::MAX;
    const NONE: usize = 0;

    fn store() -> Unwanted {
        Unwanted::new(ahash::RandomState::with_seeds(1, 2, 3, 4))
    }

    #[test]
    fn low_and_high_slots_are_kept_apart_per_id() {
        let mut u = store();
        for slot in [0, 5, 63, 64, 200, 70] {
            let tick = u64::from(slot == 70);
            assert_eq!(u.record(&id(1), slot, ANY, tick), Recorded::New);
            assert_eq!(u.record(&id(1), slot, NONE, tick), Recorded::Already);
        }
        assert_eq!(u.record(&id(2), 64, ANY, 2), Recorded::New);
        assert_eq!(u.record(&id(2), 65, NONE, 2), Recorded::Refused);
        assert_eq!(u.record(&id(3), 1, NONE, 2), Recorded::Refused);
        assert!(
            u.holders(&id(3)).is_none(),
            "a refused record leaves no entry"
        );
        for slot in [0, 5, 63, 64, 70, 200] {
            assert!(u.contains(&id(1), slot), "{slot}");
        }
        for slot in [1, 62, 65, 199, 201] {
            assert!(!u.contains(&id(1), slot), "{slot}");
        }
        assert!(!u.contains(&id(2), 0) && u.contains(&id(2), 64));
        let holders: Vec<PeerSlot> = u.holders(&id(1)).unwrap().slots().collect();
        assert_eq!(holders, vec![0, 5, 63, 64, 70, 200]);
        // Horizon 3: the records of tick 0 expire at tick 3.
        u.expire(2, 3);
        assert_eq!(u.len(), 2, "nothing expires early");
        u.expire(3, 3);
        assert_eq!(u.len(), 2);
        assert!(u.contains(&id(1), 70) && !u.contains(&id(1), 64));
        u.expire(4, 3);
        assert_eq!(u.len(), 1, "an id no peer holds is dropped");
        assert!(!u.contains(&id(1), 70));
        let counts = u.per_slot_counts();
        assert_eq!((counts.len(), counts.get(&64)), (1, Some(&1)));
        assert_eq!(u.queued_per_slot().get(&64), Some(&(1, 4)));
        u.expire(5, 3);
        assert_eq!((u.len(), u.queued_per_slot().len()), (0, 0));
    }

    #[test]
    fn slots_are_reused_lowest_first() {
        let mut u = store();
        let slots: Vec<PeerSlot> = (0..5).map(|_| u.alloc_slot().unwrap()).collect();
        assert_eq!(slots, vec![0, 1, 2, 3, 4]);
        u.peer_left(3);
        u.peer_left(1);
        u.expire(0, 5);
        assert_eq!(u.alloc_slot(), Some(1));
        assert_eq!(u.alloc_slot(), Some(3));
        assert_eq!(u.alloc_slot(), Some(5));
        for slot in 0..6 {
            u.peer_left(slot);
        }
        u.expire(0, 5);
        assert_eq!(u.alloc_slot(), Some(0), "all gone: numbering starts again");
        assert_eq!(u.alloc_slot(), Some(1));
    }

    /// A departed peer's slot is handed out again only after the expiry pass that removes
    /// its records (before their own expiry), so a newcomer never inherits them; the other
    /// peers' records of the same ids stay.
    #[test]
    fn a_departed_slot_returns_only_with_its_records_gone() {
        let mut u = store();
        let (a, b) = (u.alloc_slot().unwrap(), u.alloc_slot().unwrap());
        for i in 0..4 {
            u.record(&id(i), a, ANY, 0);
            u.record(&id(i), b, ANY, 0);
        }
        u.record(&id(9), b, ANY, 0);
        u.peer_left(b);
        assert_eq!(u.alloc_slot(), Some(2), "not the departed slot");
        u.expire(1, 5);
        assert_eq!(u.len(), 4, "b's id 9 went with it");
        assert!((0..4).all(|i| u.contains(&id(i), a) && !u.contains(&id(i), b)));
        assert_eq!(u.per_slot_counts().get(&b), None);
        assert_eq!(u.queued_per_slot().get(&b), None);
        assert_eq!(u.alloc_slot(), Some(b));
        assert!(!u.contains(&id(9), b), "the newcomer inherits nothing");
        assert!(u.runs_consistent());
    }

    /// Peers that connect, record their allowance and leave within one heartbeat (fresh
    /// identities, so no budget carries over) do not pile up records until the heartbeat: at
    /// most `MAX_DEPARTING` departed peers' records are held at any time, so what is retained
    /// stays bounded by the peers connected (plus that many).
    #[test]
    fn churn_within_a_heartbeat_holds_few_departed_peers_records() {
        let mut u = store();
        let mut most_held = 0;
        for round in 0..200u32 {
            let slot = u.alloc_slot().unwrap();
            for i in 0..10 {
                u.record(&id(round * 10 + i), slot, ANY, 0);
            }
            u.peer_left(slot);
            most_held = most_held.max(u.len());
        }
        assert!(most_held <= 10 * MAX_DEPARTING, "{most_held} ids held");
        assert!(u.runs_consistent());
        u.expire(0, 5);
        assert_eq!(u.len(), 0);
        assert_eq!(u.alloc_slot(), Some(0), "every slot given back");
    }

    /// Against a model (each slot's records in its own queue with their heartbeats, as the
    /// router kept them per peer before): random records over heartbeats, departures (purged
    /// at the next pass) and expiry leave the store holding exactly the model's records, with
    /// the runs accounting for the queue.
    #[test]
    fn the_store_agrees_with_per_peer_queues() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut u = store();
        let horizon = 3;
        let mut model: std::collections::BTreeMap<PeerSlot, VecDeque<(u64, MessageId)>> =
            Default::default();
        let mut departing: Vec<PeerSlot> = Vec::new();
        for _ in 0..4 {
            let slot = u.alloc_slot().unwrap();
            model.insert(slot, VecDeque::new());
        }
        for tick in 0..300u64 {
            for _ in 0..rng.gen_range(0..12) {
                let slots: Vec<PeerSlot> = model.keys().copied().collect();
                let Some(&slot) = slots.get(rng.gen_range(0..slots.len().max(1))) else {
                    break;
                };
                let i = id(rng.gen_range(0..20));
                let queue = model.get_mut(&slot).unwrap();
                let held = queue.iter().any(|(_, held)| *held == i);
                let expected = if held {
                    Recorded::Already
                } else {
                    Recorded::New
                };
                assert_eq!(u.record(&i, slot, ANY, tick), expected);
                if !held {
                    queue.push_back((tick, i));
                }
            }
            if rng.gen_bool(0.1) && model.len() > 1 {
                let slots: Vec<PeerSlot> = model.keys().copied().collect();
                let slot = slots[rng.gen_range(0..slots.len())];
                model.remove(&slot);
                u.peer_left(slot);
                departing.push(slot);
            }
            if rng.gen_bool(0.1) {
                let slot = u.alloc_slot().unwrap();
                assert!(!departing.contains(&slot), "a departing slot handed out");
                model.insert(slot, VecDeque::new());
            }
            if rng.gen_bool(0.7) {
                // A heartbeat: departures purged, then expiry, as the router does.
                u.expire(tick, horizon);
                departing.clear();
                for queue in model.values_mut() {
                    while queue.front().is_some_and(|(at, _)| at + horizon <= tick) {
                        queue.pop_front();
                    }
                }
                let queued = u.queued_per_slot();
                for (slot, queue) in &model {
                    assert_eq!(
                        queued.get(slot).map_or(0, |q| q.0),
                        queue.len(),
                        "tick {tick} slot {slot}"
                    );
                    for n in 0..20 {
                        let held = queue.iter().any(|(_, i)| *i == id(n));
                        assert_eq!(u.contains(&id(n), *slot), held, "tick {tick} slot {slot}");
                    }
                }
                assert_eq!(
                    queued.len(),
                    model.values().filter(|q| !q.is_empty()).count()
                );
            }
            assert!(u.runs_consistent(), "tick {tick}");
        }
    }
}
