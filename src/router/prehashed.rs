//! Peer ids hashed once, for tables the router fills on its hot path.
//!
//! Hashing a [`PeerId`] (an 80-byte multihash) costs about a hundred instructions. A peer's
//! hash under the router's seeded hasher is computed when it connects and kept in its state;
//! a [`PrehashedMap`] keyed by [`HashedPeer`] then hashes nothing. It uses the very hash a
//! `Map<PeerId, _>` with the router's hasher would compute, so its buckets, and therefore its
//! iteration order, are the same as that map's after the same inserts and removes: results
//! that depend on the order stay identical, and remote peers still cannot predict buckets.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use libp2p_identity::PeerId;

/// A peer id with its hash under the router's hasher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HashedPeer {
    /// `hasher.hash_one(peer)` for the router's hasher.
    hash: u64,
    /// The peer.
    pub(crate) peer: PeerId,
}

impl HashedPeer {
    /// Hashes `peer` with `hasher` (the router's).
    pub(crate) fn new(hasher: &ahash::RandomState, peer: PeerId) -> Self {
        HashedPeer {
            hash: hasher.hash_one(peer),
            peer,
        }
    }

    /// The hash computed by [`HashedPeer::new`].
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    /// `peer` with a hash computed before by [`HashedPeer::new`] with the router's hasher.
    pub(crate) fn with_hash(peer: PeerId, hash: u64) -> Self {
        HashedPeer { hash, peer }
    }
}

impl Hash for HashedPeer {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The hasher of a [`PrehashedMap`]: the key's stored hash, unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PassThrough;

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;

    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

/// See [`PassThrough`].
#[derive(Debug)]
pub(crate) struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (by `HashedPeer`); any other input is folded in all the same.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by peers whose hashes are already known (see the module docs).
pub(crate) type PrehashedMap<V> = HashMap<HashedPeer, V, PassThrough>;

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::router::Map;

    #[test]
    fn iterates_in_the_order_of_a_peer_id_map_with_the_same_hasher() {
        let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let peers: Vec<PeerId> = (0..200).map(|_| PeerId::random()).collect();
        let mut rng = StdRng::seed_from_u64(7);
        let mut plain: Map<PeerId, u32> = Map::with_hasher(hasher.clone());
        let mut pre: PrehashedMap<u32> = PrehashedMap::default();
        for round in 0..2_000u32 {
            let peer = peers[rng.gen_range(0..peers.len())];
            let key = HashedPeer::new(&hasher, peer);
            match rng.gen_range(0..4) {
                0 => {
                    plain.remove(&peer);
                    pre.remove(&key);
                }
                1 if round % 97 == 0 => {
                    let a: Vec<(PeerId, u32)> = plain.drain().collect();
                    let b: Vec<(PeerId, u32)> = pre.drain().map(|(k, v)| (k.peer, v)).collect();
                    assert_eq!(a, b, "drain order at round {round}");
                }
                _ => {
                    *plain.entry(peer).or_default() += round;
                    *pre.entry(key).or_default() += round;
                }
            }
            let a: Vec<(&PeerId, &u32)> = plain.iter().collect();
            let b: Vec<(&PeerId, &u32)> = pre.iter().map(|(k, v)| (&k.peer, v)).collect();
            assert_eq!(a, b, "iteration order at round {round}");
        }
        assert!(!plain.is_empty());
    }
}
