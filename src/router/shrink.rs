//! Giving memory back after a flood: hash tables and queues keep their peak capacity when
//! their entries expire, so a table filled once by a burst of remote input would hold that
//! memory until the router is dropped. The heartbeat shrinks a table whose length fell below a
//! quarter of its capacity to twice its length (halving at least, so a table that shrinks is
//! not rebuilt again at the next heartbeat).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash};

/// Below this capacity a table is left alone: shrinking it saves little and costs a rebuild.
const MIN_CAPACITY: usize = 64;

/// A collection that can give back unused capacity.
pub(crate) trait ShrinkIfSparse {
    /// Shrinks to twice the length when the length is below a quarter of the capacity.
    fn shrink_if_sparse(&mut self);
}

/// Whether a table of `len` entries in `capacity` slots is sparse enough to shrink (for tables
/// that shrink through their own hasher, such as `hashbrown::HashTable`).
pub(crate) fn sparse(len: usize, capacity: usize) -> bool {
    capacity > MIN_CAPACITY && len.saturating_mul(4) < capacity
}

impl<K: Eq + Hash, V, S: BuildHasher> ShrinkIfSparse for HashMap<K, V, S> {
    fn shrink_if_sparse(&mut self) {
        if sparse(self.len(), self.capacity()) {
            self.shrink_to(self.len() * 2);
        }
    }
}

impl<K: Eq + Hash, S: BuildHasher> ShrinkIfSparse for HashSet<K, S> {
    fn shrink_if_sparse(&mut self) {
        if sparse(self.len(), self.capacity()) {
            self.shrink_to(self.len() * 2);
        }
    }
}

impl<T> ShrinkIfSparse for VecDeque<T> {
    fn shrink_if_sparse(&mut self) {
        if sparse(self.len(), self.capacity()) {
            self.shrink_to(self.len() * 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinks_only_sparse_tables() {
        let mut map: HashMap<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
        map.retain(|k, _| *k < 4_000);
        let before = map.capacity();
        map.shrink_if_sparse();
        assert_eq!(
            map.capacity(),
            before,
            "4,000 of ~14,000 slots is not sparse"
        );
        map.retain(|k, _| *k < 100);
        map.shrink_if_sparse();
        assert!(map.capacity() < before / 4 && map.capacity() >= 100);
        let mut small: HashSet<u32> = (0..50).collect();
        small.clear();
        let cap = small.capacity();
        small.shrink_if_sparse();
        assert_eq!(small.capacity(), cap, "small tables are left alone");
        let mut queue: VecDeque<u32> = (0..1_000).collect();
        queue.drain(..990);
        queue.shrink_if_sparse();
        assert!(queue.capacity() < 100);
    }
}
