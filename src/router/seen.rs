//! The seen cache: message ids received or published within `seen_ttl`.
//!
//! Time only moves forward through the router, so entries expire in insertion order: a map for
//! lookups plus a FIFO of (expiry, id) for eviction keeps both operations O(1) amortised.
//!
//! Most lookups are of ids seen moments ago: the copies of a message arriving from several
//! peers, and IHAVEs, which advertise what the sender received in its last few heartbeats.
//! A small direct-mapped index of the newest insertions (slot by hash, each slot one cache
//! line holding an id and its insertion number) answers those with one line, where the table,
//! which holds `seen_ttl` worth of ids, needs two (its control bytes, then its slot); the
//! table answers the rest. The index only answers for an id whose insertion is still in the
//! FIFO, so it never disagrees with the table.
//!
//! The cache is also bounded in bytes (`max_seen_bytes`): each entry is charged its id's length
//! plus [`ENTRY_OVERHEAD`], and when an insert goes over the bound the oldest entries are
//! forgotten first. Without it, a peer sending unique messages as fast as it can (nothing to
//! verify in the anonymous modes) would grow the cache for `seen_ttl`.

use std::collections::VecDeque;
use std::time::Duration;

use web_time::Instant;

use super::Map;
use super::shrink::ShrinkIfSparse;
use crate::types::MessageId;

/// Bytes charged per entry besides its id's length: its map slot (an id and a control byte)
/// in a table just doubled (16/7 slots per entry) and its FIFO slot in a queue just doubled,
/// the worst points of growth. (It was 164: 1,025 entries of 20-byte ids held 210 bytes each,
/// measured with a counting allocator; 234 B for an entry with a 71-byte id, shared, was
/// measured with `benches/memory.rs`.)
pub(crate) const ENTRY_OVERHEAD: usize = 208;

// The charge follows the types: a larger id or expiry slot must raise it.
const _: () = assert!(
    ENTRY_OVERHEAD
        >= (std::mem::size_of::<MessageId>() + 1) * 16 / 7
            + 1
            + 2 * std::mem::size_of::<(Instant, MessageId)>()
);

/// Slots of the recent index (a power of two): 16 KiB, for the few dozen ids inserted in the
/// last seconds of a busy topic.
const RECENT: usize = 256;

/// A slot of the recent index: an id and its insertion number (counted from 1; 0 for a slot
/// never written), in one cache line of their own.
#[derive(Clone)]
#[repr(align(64))]
struct RecentSlot {
    insertion: u64,
    id: MessageId,
}

pub(crate) struct SeenCache {
    ttl: Duration,
    ids: Map<MessageId, ()>,
    expiry: VecDeque<(Instant, MessageId)>,
    /// The recent index: by an id's hash, the id and its insertion number; a later id with
    /// the same slot takes it over. Only inline ids (the usual) are indexed: a slot never pins
    /// the buffer of a long id.
    recent: Box<[RecentSlot]>,
    /// Insertions ever made; `inserted - expiry.len()` of them have left the FIFO.
    inserted: u64,
    /// Bytes charged for the entries held, and their bound.
    bytes: usize,
    max_bytes: usize,
    /// Entries forgotten before their TTL because of the byte bound (not yet reported).
    evicted: u64,
    /// Lookups made, so tests can check that remote input costs no more than its budget.
    #[cfg(test)]
    pub(crate) lookups: std::cell::Cell<u64>,
}

impl SeenCache {
    pub(crate) fn new(ttl: Duration, max_bytes: usize, ids: Map<MessageId, ()>) -> Self {
        SeenCache {
            ttl,
            ids,
            expiry: VecDeque::new(),
            recent: vec![
                RecentSlot {
                    insertion: 0,
                    id: MessageId::new([]),
                };
                RECENT
            ]
            .into_boxed_slice(),
            inserted: 0,
            bytes: 0,
            max_bytes,
            evicted: 0,
            #[cfg(test)]
            lookups: std::cell::Cell::new(0),
        }
    }

    pub(crate) fn contains(&self, id: &MessageId) -> bool {
        #[cfg(test)]
        self.lookups.set(self.lookups.get() + 1);
        self.recently_inserted(id, self.hash(id)) || self.ids.contains_key(id)
    }

    /// The table's seeded hash of `id`: remote peers cannot aim collisions at the recent index.
    fn hash(&self, id: &MessageId) -> u64 {
        self.ids.hasher().hash_one(id)
    }

    /// Whether `id` is held and was inserted recently enough to still own its slot of the
    /// recent index. `false` means only "not found there": the table may still hold it.
    fn recently_inserted(&self, id: &MessageId, hash: u64) -> bool {
        let slot = &self.recent[hash as usize % RECENT];
        // Insertions up to `gone` have left the FIFO (expired or evicted) and the table with
        // it; any later one is still held, and the slot holds its id.
        let gone = self.inserted - self.expiry.len() as u64;
        slot.insertion > gone && slot.id == *id
    }

    /// Records `id` as seen at `now`. Returns `false` when it was already present (the
    /// expiry is not extended, as in go: a message is forgotten `seen_ttl` after first sight).
    /// Past the byte bound, the oldest entries are forgotten (never the one just inserted),
    /// each passed to `forgotten`.
    pub(crate) fn insert(
        &mut self,
        now: Instant,
        id: MessageId,
        mut forgotten: impl FnMut(&MessageId),
    ) -> bool {
        if self.ids.insert(id.clone(), ()).is_some() {
            return false;
        }
        self.bytes += ENTRY_OVERHEAD + id.as_bytes().len();
        self.inserted += 1;
        if id.as_bytes().len() <= MessageId::INLINE_LEN {
            let hash = self.hash(&id);
            self.recent[hash as usize % RECENT] = RecentSlot {
                insertion: self.inserted,
                id: id.clone(),
            };
        }
        // `seen_ttl` is bounded to a year in config validation, so this cannot overflow.
        let expires = now.checked_add(self.ttl).unwrap_or(now);
        self.expiry.push_back((expires, id));
        while self.bytes > self.max_bytes && self.expiry.len() > 1 {
            self.pop_oldest(&mut forgotten);
            self.evicted += 1;
        }
        true
    }

    /// Forgets every id whose TTL has passed (each passed to `forgotten`), and gives back the
    /// memory of a table left sparse by a burst.
    pub(crate) fn expire(&mut self, now: Instant, mut forgotten: impl FnMut(&MessageId)) {
        while self.expiry.front().is_some_and(|(at, _)| *at <= now) {
            self.pop_oldest(&mut forgotten);
        }
        self.ids.shrink_if_sparse();
        self.expiry.shrink_if_sparse();
    }

    fn pop_oldest(&mut self, forgotten: &mut impl FnMut(&MessageId)) {
        if let Some((_, id)) = self.expiry.pop_front() {
            self.bytes -= ENTRY_OVERHEAD + id.as_bytes().len();
            self.ids.remove(&id);
            forgotten(&id);
        }
    }

    /// Slots allocated for ids (the lookup table's capacity).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.ids.capacity()
    }

    /// Bytes charged for the entries held (see [`ENTRY_OVERHEAD`]).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Entries forgotten early because of the byte bound since the last call.
    pub(crate) fn take_evicted(&mut self) -> u64 {
        std::mem::take(&mut self.evicted)
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_ttl_and_not_before() {
        let t0 = crate::test_util::epoch();
        let mut seen = SeenCache::new(Duration::from_secs(10), usize::MAX, Map::default());
        assert!(seen.insert(t0, MessageId::new(vec![1]), |_| {}));
        assert!(!seen.insert(t0 + Duration::from_secs(5), MessageId::new(vec![1]), |_| {}));
        seen.insert(t0 + Duration::from_secs(5), MessageId::new(vec![2]), |_| {});
        seen.expire(t0 + Duration::from_secs(9), |_| {});
        assert!(seen.contains(&MessageId::new(vec![1])));
        seen.expire(t0 + Duration::from_secs(10), |_| {});
        assert!(!seen.contains(&MessageId::new(vec![1])));
        assert!(seen.contains(&MessageId::new(vec![2])));
        seen.expire(t0 + Duration::from_secs(15), |_| {});
        assert_eq!(seen.len(), 0);
    }

    #[test]
    fn oldest_entries_are_forgotten_past_the_byte_bound() {
        let t0 = crate::test_util::epoch();
        let entry = ENTRY_OVERHEAD + 1;
        let mut seen = SeenCache::new(Duration::from_secs(10), 3 * entry, Map::default());
        let mut forgotten = Vec::new();
        for i in 0..5u8 {
            assert!(seen.insert(t0, MessageId::new(vec![i]), |id| forgotten.push(id.clone())));
            assert!(seen.bytes() <= 3 * entry);
        }
        let ids =
            |range: std::ops::Range<u8>| range.map(|i| MessageId::new(vec![i])).collect::<Vec<_>>();
        assert_eq!(forgotten, ids(0..2), "each id forgotten early is reported");
        assert_eq!(seen.len(), 3);
        assert_eq!(seen.take_evicted(), 2);
        assert_eq!(seen.take_evicted(), 0);
        assert!(!seen.contains(&MessageId::new(vec![1])));
        assert!(seen.contains(&MessageId::new(vec![4])));
        forgotten.clear();
        seen.expire(t0 + Duration::from_secs(10), |id| {
            forgotten.push(id.clone())
        });
        assert_eq!(forgotten, ids(2..5), "each expired id is reported");
        assert_eq!((seen.len(), seen.bytes()), (0, 0));
    }

    /// The recent index never answers for an id not held (expired, evicted or never
    /// inserted), always answers for the id inserted last, and `contains` agrees with a plain
    /// set throughout.
    #[test]
    fn recent_index_answers_only_for_held_ids_and_always_for_the_newest() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let t0 = crate::test_util::epoch();
        let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
        // Room for about 100 entries of 2-byte ids, so the bound evicts now and then.
        let bound = 100 * (ENTRY_OVERHEAD + 2);
        let mut seen = SeenCache::new(Duration::from_secs(10), bound, Map::with_hasher(hasher));
        let mut held = std::collections::BTreeSet::new();
        let mut now = t0;
        let (mut index_hits, mut stale_slots) = (0, 0);
        for step in 0..5_000u32 {
            let id = MessageId::new(rng.gen_range(0..300u16).to_be_bytes());
            if rng.gen_bool(0.02) {
                now += Duration::from_millis(rng.gen_range(0..3_000));
                seen.expire(now, |gone| assert!(held.remove(gone)));
            } else if seen.insert(now, id.clone(), |gone| assert!(held.remove(gone))) {
                held.insert(id.clone());
                assert!(seen.recently_inserted(&id, seen.hash(&id)), "step {step}");
            }
            assert_eq!(seen.contains(&id), held.contains(&id), "step {step}");
            for probe in (0..300u16).map(|n| MessageId::new(n.to_be_bytes())) {
                let hash = seen.hash(&probe);
                let found = seen.recently_inserted(&probe, hash);
                assert!(
                    !found || held.contains(&probe),
                    "step {step}: {probe} not held"
                );
                index_hits += usize::from(found);
                stale_slots +=
                    usize::from(!found && seen.recent[hash as usize % RECENT].id == probe);
            }
        }
        // Most held ids are found in the index (at most 100 held, 256 slots), and slots of
        // forgotten ids were met and rejected.
        assert!(index_hits > 5_000 * 60, "{index_hits}");
        assert!(stale_slots > 0);
    }
}
