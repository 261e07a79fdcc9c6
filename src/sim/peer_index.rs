//! The node index of a peer id, looked up for every RPC a node sends.
//!
//! A general hash map hashes all of a [`PeerId`] (about 70 bytes) and probes 88-byte
//! entries spread over the whole table. Peer ids of the simulated nodes are random, so a few
//! bytes of each already spread well: this table keys by eight of them, keeps 16-byte slots
//! (1,000 nodes fit in 32 KiB) and confirms a hit by comparing the whole id with the node's.
//! Only lookups: nothing iterates it, so it has no order that results could depend on.

use libp2p_identity::PeerId;

/// An empty slot.
const EMPTY: u32 = u32::MAX;

/// Maps the peer ids of a network's nodes to their indices.
pub(crate) struct PeerIndex {
    /// Open addressing, linear probing: (fingerprint, node), `node == EMPTY` when free.
    slots: Vec<(u64, u32)>,
    /// `slots.len() - 1` (the length is a power of two).
    mask: usize,
}

/// Eight bytes of `peer`'s multihash digest (its last ones: the first ones of an identity
/// multihash are the key type's constant prefix), mixed so that the low bits spread.
pub(crate) fn fingerprint(peer: &PeerId) -> u64 {
    let digest = peer.as_ref().digest();
    let tail = match digest.last_chunk::<8>() {
        Some(tail) => *tail,
        None => {
            let mut tail = [0u8; 8];
            tail[8 - digest.len()..].copy_from_slice(digest);
            tail
        }
    };
    let x = u64::from_le_bytes(tail) ^ (digest.len() as u64).rotate_left(56);
    // A multiply-xorshift finaliser: every input bit reaches the low bits the mask keeps.
    let x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

impl PeerIndex {
    /// The index of `peers`: node `i` is `peers[i]`. A peer id listed twice maps to its
    /// last node (as a map filled in node order would).
    pub(crate) fn new(peers: &[PeerId]) -> Self {
        let len = (peers.len().max(1) * 2).next_power_of_two();
        let mut index = PeerIndex {
            slots: vec![(0, EMPTY); len],
            mask: len - 1,
        };
        for (node, peer) in peers.iter().enumerate() {
            let node = u32::try_from(node).expect("fewer than 2^32 - 1 nodes");
            let key = fingerprint(peer);
            let mut at = key as usize & index.mask;
            loop {
                let (k, n) = index.slots[at];
                if n == EMPTY || (k == key && peers[n as usize] == *peer) {
                    break;
                }
                at = (at + 1) & index.mask;
            }
            index.slots[at] = (key, node);
        }
        index
    }

    /// The node whose peer id is `peer`, if any; `peers` is the list the index was built
    /// from.
    pub(crate) fn get(&self, peers: &[PeerId], peer: &PeerId) -> Option<u32> {
        self.get_keyed(peers, peer, fingerprint(peer))
    }

    /// [`PeerIndex::get`] with `peer`'s [`fingerprint`] already computed.
    pub(crate) fn get_keyed(&self, peers: &[PeerId], peer: &PeerId, key: u64) -> Option<u32> {
        let mut at = key as usize & self.mask;
        loop {
            let (k, node) = self.slots[at];
            if node == EMPTY {
                return None;
            }
            if k == key && peers.get(node as usize) == Some(peer) {
                return Some(node);
            }
            at = (at + 1) & self.mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every node is found under its own id, and ids of no node are not found.
    #[test]
    fn finds_every_node_and_nothing_else() {
        let peers: Vec<PeerId> = (0..2000).map(|_| PeerId::random()).collect();
        let index = PeerIndex::new(&peers);
        for (i, p) in peers.iter().enumerate() {
            assert_eq!(index.get(&peers, p), Some(i as u32));
        }
        for _ in 0..2000 {
            assert_eq!(index.get(&peers, &PeerId::random()), None);
        }
        // Ed25519 ids (identity multihash) as the simulator makes them.
        let keyed: Vec<PeerId> = (1..=250u8)
            .map(|i| {
                let mut secret = [i; 32];
                libp2p_identity::Keypair::ed25519_from_bytes(&mut secret)
                    .expect("32 bytes are a valid key")
                    .public()
                    .to_peer_id()
            })
            .collect();
        let index = PeerIndex::new(&keyed);
        for (i, p) in keyed.iter().enumerate() {
            assert_eq!(index.get(&keyed, p), Some(i as u32));
        }
        assert_eq!(PeerIndex::new(&[]).get(&[], &peers[0]), None);
    }

    /// In tiny tables (four slots for two or three ids) ids often share a home slot and
    /// probe past each other; each still resolves to its node, and a duplicate id maps to
    /// its last node.
    #[test]
    fn probing_and_duplicate_ids_resolve_exactly() {
        let mut shared_home = 0;
        for _ in 0..200 {
            let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
            let peers = vec![a, b, a, c];
            let index = PeerIndex::new(&peers);
            assert_eq!(index.get(&peers, &a), Some(2));
            assert_eq!(index.get(&peers, &b), Some(1));
            assert_eq!(index.get(&peers, &c), Some(3));
            let home = |p: &PeerId| fingerprint(p) as usize & index.mask;
            if home(&a) == home(&b) || home(&a) == home(&c) || home(&b) == home(&c) {
                shared_home += 1;
            }
        }
        assert!(shared_home > 10, "the probing path was exercised");
    }
}
