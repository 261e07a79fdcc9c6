//! The seen cache: message ids received or published within `seen_ttl`.
//!
//! Time only moves forward through the router, so entries expire in insertion order: a map for
//! lookups plus a FIFO of (expiry, id) for eviction keeps both operations O(1) amortised.
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

pub(crate) struct SeenCache {
    ttl: Duration,
    ids: Map<MessageId, ()>,
    expiry: VecDeque<(Instant, MessageId)>,
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
        self.ids.contains_key(id)
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
}
