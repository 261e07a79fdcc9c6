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
//! What is retained stays bounded per peer: each peer keeps the ids it recorded in its own
//! expiry queue (`PeerState::dont_send_order`), within `max_idontwant_messages` per heartbeat,
//! and removes them here on expiry and when it disconnects. Keys are peer-controlled, so the
//! table uses the router's randomly seeded hasher.
//!
//! The table is cold when an IDONTWANT arrives (a simulated node's tables are evicted by its
//! neighbours' work, a real node's by everything else), so its layout is chosen for cache
//! lines: an entry (the id, the low holder bits, the rarely used high list and the id's hash)
//! is one aligned line, so a lookup reads the control bytes and that one line; and each
//! operation hashes its id once (a removal finds the entry and drops it through the same
//! probe). The hash kept in the entry lets the table grow without hashing its ids again.
//! Nothing iterates the table but the invariant check, so its order does not matter.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::Map;
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
    /// (boxed: one word in the entry, which must fit a cache line).
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

/// Message id -> the peers (slots) that do not want it.
pub(crate) struct Unwanted {
    by_id: HashTable<IdEntry>,
    /// The router's seeded hasher (ids are peer-controlled).
    hasher: ahash::RandomState,
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
            free: BinaryHeap::new(),
            next: 0,
        }
    }

    /// A slot for a peer that just connected: the lowest free one. `None` only if u32::MAX
    /// peers are connected at once.
    pub(crate) fn alloc_slot(&mut self) -> Option<PeerSlot> {
        if let Some(Reverse(slot)) = self.free.pop() {
            return Some(slot);
        }
        let slot = self.next;
        self.next = self.next.checked_add(1)?;
        Some(slot)
    }

    /// Gives back the slot of a departed peer. Its ids must have been removed first.
    pub(crate) fn free_slot(&mut self, slot: PeerSlot) {
        self.free.push(Reverse(slot));
        if self.free.len() == self.next as usize {
            // Every peer has left: start again from slot 0 with an empty heap.
            self.free.clear();
            self.next = 0;
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

    /// Records that the peer in `slot` does not want `id`, if it is not recorded yet and
    /// `allowed` (the peer's allowance is not spent). One lookup of `id` whatever the outcome.
    pub(crate) fn record(&mut self, id: MessageId, slot: PeerSlot, allowed: bool) -> Recorded {
        let hash = self.hasher.hash_one(&id);
        match self
            .by_id
            .entry(hash, |entry| entry.id == id, |entry| entry.hash)
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
                vacant.insert(IdEntry { id, holders, hash });
                Recorded::New
            }
        }
    }

    /// Forgets that the peer in `slot` does not want `id` (its record expired, or it left).
    /// One hash and one probe, also when the id's entry goes with it.
    pub(crate) fn remove(&mut self, id: &MessageId, slot: PeerSlot) {
        let hash = self.hasher.hash_one(id);
        if let Ok(mut entry) = self.by_id.find_entry(hash, |entry| entry.id == *id) {
            let holders = &mut entry.get_mut().holders;
            if holders.remove(slot) && holders.is_empty() {
                entry.remove();
            }
        }
    }

    /// Gives back the memory of a table left sparse by a burst (as
    /// [`super::shrink::ShrinkIfSparse`] does for the other tables).
    pub(crate) fn shrink_if_sparse(&mut self) {
        if super::shrink::sparse(self.by_id.len(), self.by_id.capacity()) {
            self.by_id
                .shrink_to(self.by_id.len() * 2, |entry| entry.hash);
        }
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

    #[test]
    fn low_and_high_slots_are_kept_apart_per_id() {
        let mut u = Unwanted::new(ahash::RandomState::with_seeds(1, 2, 3, 4));
        for slot in [0, 5, 63, 64, 200, 70] {
            assert_eq!(u.record(id(1), slot, true), Recorded::New);
            assert_eq!(u.record(id(1), slot, false), Recorded::Already);
        }
        assert_eq!(u.record(id(2), 64, true), Recorded::New);
        assert_eq!(u.record(id(2), 65, false), Recorded::Refused);
        assert_eq!(u.record(id(3), 1, false), Recorded::Refused);
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
        for slot in [0, 5, 63, 64, 200] {
            u.remove(&id(1), slot);
        }
        assert_eq!(u.len(), 2);
        u.remove(&id(1), 70);
        assert_eq!(u.len(), 1, "an id no peer holds is dropped");
        assert!(!u.contains(&id(1), 70));
        let counts = u.per_slot_counts();
        assert_eq!((counts.len(), counts.get(&64)), (1, Some(&1)));
    }

    #[test]
    fn slots_are_reused_lowest_first() {
        let mut u = Unwanted::new(ahash::RandomState::with_seeds(1, 2, 3, 4));
        let slots: Vec<PeerSlot> = (0..5).map(|_| u.alloc_slot().unwrap()).collect();
        assert_eq!(slots, vec![0, 1, 2, 3, 4]);
        u.free_slot(3);
        u.free_slot(1);
        assert_eq!(u.alloc_slot(), Some(1));
        assert_eq!(u.alloc_slot(), Some(3));
        assert_eq!(u.alloc_slot(), Some(5));
        for slot in 0..6 {
            u.free_slot(slot);
        }
        assert_eq!(u.alloc_slot(), Some(0), "all gone: numbering starts again");
        assert_eq!(u.alloc_slot(), Some(1));
    }
}
