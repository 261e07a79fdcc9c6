//! Gossip promises: for each IWANT we send, one of its ids is tracked; a peer that does not
//! deliver it within `iwant_followup_time` broke its promise (a P7 behaviour penalty).

use web_time::Instant;

use libp2p_identity::PeerId;
use rand::Rng;

use super::Map;
use crate::types::MessageId;

pub(crate) struct GossipPromises {
    /// message id -> peers that promised it, with the deadline.
    promises: Map<MessageId, Map<PeerId, Instant>>,
    hasher: ahash::RandomState,
}

impl GossipPromises {
    pub(crate) fn new(hasher: ahash::RandomState) -> Self {
        GossipPromises {
            promises: Map::with_hasher(hasher.clone()),
            hasher,
        }
    }

    /// Tracks one random id of an IWANT sent to `peer`, due by `deadline`.
    pub(crate) fn add(
        &mut self,
        rng: &mut impl Rng,
        peer: PeerId,
        ids: &[MessageId],
        deadline: Instant,
    ) {
        if ids.is_empty() {
            return;
        }
        let id = ids[rng.gen_range(0..ids.len())].clone();
        let hasher = self.hasher.clone();
        self.promises
            .entry(id)
            .or_insert_with(|| Map::with_hasher(hasher))
            .entry(peer)
            .or_insert(deadline);
    }

    /// The message arrived (from anyone, valid or not yet validated): every promise of it is
    /// kept.
    pub(crate) fn message_delivered(&mut self, id: &MessageId) {
        self.promises.remove(id);
    }

    /// Removes the promises past their deadline and returns, per peer, how many it broke.
    pub(crate) fn broken_promises(&mut self, now: Instant) -> Map<PeerId, usize> {
        let mut broken: Map<PeerId, usize> = Map::with_hasher(self.hasher.clone());
        self.promises.retain(|_, peers| {
            peers.retain(|peer, deadline| {
                if *deadline <= now {
                    *broken.entry(*peer).or_default() += 1;
                    false
                } else {
                    true
                }
            });
            !peers.is_empty()
        });
        broken
    }

    /// Drops every promise of a disconnected peer; returns how many it had (all unkept: a kept
    /// promise is removed when its message arrives).
    pub(crate) fn remove_peer(&mut self, peer: &PeerId) -> usize {
        let mut count = 0;
        self.promises.retain(|_, peers| {
            if peers.remove(peer).is_some() {
                count += 1;
            }
            !peers.is_empty()
        });
        count
    }

    /// Message ids with an open promise.
    pub(crate) fn len(&self) -> usize {
        self.promises.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::SeedableRng;

    use super::*;

    #[test]
    fn undelivered_promises_break_after_the_deadline_only() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut p = GossipPromises::new(ahash::RandomState::with_seeds(1, 2, 3, 4));
        let t0 = crate::test_util::epoch();
        let (a, b) = (PeerId::random(), PeerId::random());
        let id1 = MessageId::new(vec![1]);
        let id2 = MessageId::new(vec![2]);
        p.add(
            &mut rng,
            a,
            std::slice::from_ref(&id1),
            t0 + Duration::from_secs(3),
        );
        p.add(
            &mut rng,
            b,
            std::slice::from_ref(&id2),
            t0 + Duration::from_secs(3),
        );
        assert!(p.broken_promises(t0 + Duration::from_secs(2)).is_empty());
        p.message_delivered(&id1);
        let broken = p.broken_promises(t0 + Duration::from_secs(3));
        assert_eq!(broken.get(&b), Some(&1));
        assert!(!broken.contains_key(&a), "a delivered");
        assert_eq!(p.len(), 0);
    }
}
