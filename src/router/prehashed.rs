//! Peer ids hashed once, for the tables the router consults per peer on its hot path.
//!
//! Hashing a [`PeerId`] (an 80-byte multihash) with the router's seeded hasher costs about
//! seventy instructions, and comparing two ids is a call to `memcmp`. A fan-out touches each
//! of its ~8 peers in several tables (the peer table, the mesh, the pending control RPCs), so
//! the router's peer-keyed tables ([`PrehashedMap`], [`PrehashedSet`]) are keyed by
//! [`HashedPeer`]: the id with its hash, computed once where an id enters the router (an RPC's
//! sender, an added peer, a call of the public API) and carried along from there. Lookups then
//! hash nothing, and a probe that meets another peer's entry tells them apart by the stored
//! hashes (compared before the ids).
//!
//! The stored hash is the very hash a `Map<PeerId, _>` with the router's hasher computes, so
//! these tables place entries in the same buckets, and iterate in the same order, as that map
//! after the same inserts, removes and capacity changes: results that depend on the order stay
//! identical, and remote peers still cannot predict buckets. What leaves the router (actions,
//! events, the public API) is keyed by the bare [`PeerId`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Deref;

use libp2p_identity::PeerId;

/// A peer id with its hash under the router's hasher.
///
/// Equality compares the hashes first, so two different peers are told apart without
/// comparing their 80-byte ids, but for a hash collision; equal hashes then compare the ids
/// ([`same_id`]). `repr(C)` keeps the hash at the front, next to the multihash's code, length
/// and first digest bytes that an equal peer's comparison reads next (left to the compiler,
/// it went after the id: a probe then read both ends of the key).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct HashedPeer {
    /// `hasher.hash_one(peer)` for the router's hasher. Keep it first (see above).
    hash: u64,
    /// The peer.
    peer: PeerId,
}

impl HashedPeer {
    /// Hashes `peer` with `hasher` (the router's).
    pub(crate) fn new(hasher: &ahash::RandomState, peer: PeerId) -> Self {
        HashedPeer {
            hash: hasher.hash_one(peer),
            peer,
        }
    }

    /// The peer's id (read-only: the stored hash is the router's hash of exactly this id).
    pub(crate) fn id(&self) -> &PeerId {
        &self.peer
    }

    /// `peer` with the given hash (tests: colliding hashes).
    #[cfg(test)]
    pub(crate) fn with_hash(peer: PeerId, hash: u64) -> Self {
        HashedPeer { hash, peer }
    }
}

impl PartialEq for HashedPeer {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && same_id(&self.peer, &other.peer)
    }
}

impl Eq for HashedPeer {}

/// `a == b`, without a `memcmp` call for the usual digest lengths.
///
/// `PeerId` equality is its multihash's: same code and same digest bytes. Every lookup that
/// finds its peer ends with this comparison; a slice comparison of unknown length is a call
/// to `memcmp`, where one of a length known at compile time is a few inline loads. The
/// digests of ids from Ed25519 keys (36 bytes), secp256k1 keys (37) and SHA-256 multihashes
/// (32) take the inline path; others compare as slices.
fn same_id(a: &PeerId, b: &PeerId) -> bool {
    fn fixed<const N: usize>(x: &[u8], y: &[u8]) -> Option<bool> {
        Some(<&[u8; N]>::try_from(x).ok()? == <&[u8; N]>::try_from(y).ok()?)
    }
    let (a, b) = (a.as_ref(), b.as_ref());
    let (x, y) = (a.digest(), b.digest());
    a.code() == b.code()
        && match x.len() {
            36 => fixed::<36>(x, y),
            37 => fixed::<37>(x, y),
            32 => fixed::<32>(x, y),
            _ => None,
        }
        .unwrap_or_else(|| x == y)
}

/// A hashed peer is used where its id is wanted (scoring, backoffs, actions) as that id.
impl Deref for HashedPeer {
    type Target = PeerId;

    fn deref(&self) -> &PeerId {
        &self.peer
    }
}

impl fmt::Display for HashedPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.peer.fmt(f)
    }
}

// No `Borrow<PeerId>`: a bare id would be hashed with another hasher than the stored hash.
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

/// A set of peers whose hashes are already known (see the module docs).
pub(crate) type PrehashedSet = HashSet<HashedPeer, PassThrough>;

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::router::shrink::ShrinkIfSparse;
    use crate::router::{Map, Set};

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

    /// The set operations the router uses (insert, remove, retain, extend from iterators with
    /// and without an exact size, with_capacity, shrink, clear) leave a [`PrehashedSet`] in
    /// the order of a `Set<PeerId>` with the same hasher.
    #[test]
    fn sets_iterate_in_the_order_of_a_peer_id_set_with_the_same_hasher() {
        let hasher = ahash::RandomState::with_seeds(5, 6, 7, 8);
        let peers: Vec<PeerId> = (0..300).map(|_| PeerId::random()).collect();
        let key = |p: &PeerId| HashedPeer::new(&hasher, *p);
        let mut rng = StdRng::seed_from_u64(11);
        let mut plain: Set<PeerId> = Set::with_capacity_and_hasher(3, hasher.clone());
        let mut pre = PrehashedSet::with_capacity_and_hasher(3, PassThrough);
        for round in 0..3_000u32 {
            let peer = peers[rng.gen_range(0..peers.len())];
            match rng.gen_range(0..10) {
                0 => {
                    let a = plain.remove(&peer);
                    let b = pre.remove(&key(&peer));
                    assert_eq!(a, b);
                }
                1 => {
                    let bit = rng.gen_range(0..8u8);
                    plain.retain(|p| p.to_bytes()[7] & (1 << bit) == 0);
                    pre.retain(|p| p.peer.to_bytes()[7] & (1 << bit) == 0);
                }
                2 => {
                    // An exact size hint (a Vec), as when a list of candidates is added.
                    let n = rng.gen_range(0..20);
                    let start = rng.gen_range(0..peers.len() - n);
                    let batch: Vec<PeerId> = peers[start..start + n].to_vec();
                    let hashed: Vec<HashedPeer> = batch.iter().map(key).collect();
                    plain.extend(batch);
                    pre.extend(hashed);
                }
                3 => {
                    // A lower bound of zero (a filter), then a `take`.
                    let n = rng.gen_range(0..20);
                    let bit = rng.gen_range(0..8u8);
                    let keep = |p: &PeerId| p.to_bytes()[9] & (1 << bit) != 0;
                    plain.extend(peers.iter().copied().filter(keep).take(n));
                    pre.extend(peers.iter().filter(|p| keep(p)).map(key).take(n));
                }
                4 if round % 50 == 0 => {
                    plain.shrink_if_sparse();
                    pre.shrink_if_sparse();
                    plain.shrink_to(plain.len() + 3);
                    pre.shrink_to(pre.len() + 3);
                }
                5 if round % 400 == 0 => {
                    plain.clear();
                    pre.clear();
                }
                _ => {
                    assert_eq!(plain.insert(peer), pre.insert(key(&peer)));
                }
            }
            assert_eq!(
                plain.capacity(),
                pre.capacity(),
                "capacity at round {round}"
            );
            let a: Vec<&PeerId> = plain.iter().collect();
            let b: Vec<&PeerId> = pre.iter().map(|k| &k.peer).collect();
            assert_eq!(a, b, "iteration order at round {round}");
        }
        // A set built from an iterator of known length, as when a fanout is made.
        let a: Set<PeerId> = {
            let mut s = Set::with_hasher(hasher.clone());
            s.extend(peers.iter().copied());
            s
        };
        let mut b = PrehashedSet::default();
        b.extend(peers.iter().map(key));
        assert!(a.iter().eq(b.iter().map(|k| &k.peer)));
    }

    /// `same_id` is `PeerId` equality, for ids of every key type and digest length, equal
    /// or not, with the same or different codes and lengths.
    #[test]
    fn same_id_is_peer_id_equality() {
        use libp2p_identity::Keypair;
        let mut ids: Vec<PeerId> = vec![
            Keypair::generate_ed25519().public().to_peer_id(),
            Keypair::generate_ed25519().public().to_peer_id(),
            Keypair::generate_secp256k1().public().to_peer_id(),
            Keypair::generate_secp256k1().public().to_peer_id(),
            Keypair::generate_ecdsa().public().to_peer_id(),
            PeerId::random(),
            PeerId::random(),
        ];
        // Ids differing only in their code, their length or their last byte.
        let ed = ids[0].as_ref();
        let (code, digest) = (ed.code(), ed.digest().to_vec());
        // A multihash with a code and a length below 128: one byte each, then the digest.
        let wrap = |code: u64, digest: &[u8]| {
            let mut bytes = vec![code as u8, digest.len() as u8];
            bytes.extend_from_slice(digest);
            PeerId::from_bytes(&bytes).unwrap()
        };
        let mut last = digest.clone();
        *last.last_mut().unwrap() ^= 1;
        ids.push(wrap(code, &last));
        ids.push(wrap(code, &digest[..35]));
        ids.push(wrap(0x12, &digest[..32]));
        let random = ids[5].as_ref().digest().to_vec();
        ids.push(wrap(0x12, &random));
        for n in [0, 1, 8, 31, 33, 40, 42] {
            ids.push(wrap(0, &vec![7u8; n]));
        }
        for a in &ids {
            for b in &ids {
                assert_eq!(same_id(a, b), a == b, "{a} vs {b}");
                assert!(same_id(a, &PeerId::from_bytes(&a.to_bytes()).unwrap()));
            }
        }
        assert!(ids.iter().any(|p| p.as_ref().digest().len() == 37));
        assert!(ids.iter().any(|p| p.as_ref().digest().len() == 36));
    }

    #[test]
    fn the_hash_comes_first() {
        assert_eq!(std::mem::offset_of!(HashedPeer, hash), 0);
    }

    #[test]
    fn equal_hashes_of_different_peers_are_told_apart() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let (ka, kb) = (HashedPeer::with_hash(a, 42), HashedPeer::with_hash(b, 42));
        assert_ne!(ka, kb);
        let mut set = PrehashedSet::default();
        assert!(set.insert(ka) && set.insert(kb));
        assert!(set.contains(&ka) && set.contains(&kb) && set.len() == 2);
    }
}
