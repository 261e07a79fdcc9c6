//! The seen cache: message ids received or published within `seen_ttl`.
//!
//! Time only moves forward through the router, so entries expire in insertion order: a map for
//! lookups plus a FIFO of (expiry, id) for eviction keeps both operations O(1) amortised.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Map;
use crate::types::MessageId;

pub(crate) struct SeenCache {
    ttl: Duration,
    ids: Map<MessageId, ()>,
    expiry: VecDeque<(Instant, MessageId)>,
    /// Lookups made, so tests can check that remote input costs no more than its budget.
    #[cfg(test)]
    pub(crate) lookups: std::cell::Cell<u64>,
}

impl SeenCache {
    pub(crate) fn new(ttl: Duration, ids: Map<MessageId, ()>) -> Self {
        SeenCache {
            ttl,
            ids,
            expiry: VecDeque::new(),
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
    pub(crate) fn insert(&mut self, now: Instant, id: MessageId) -> bool {
        if self.ids.insert(id.clone(), ()).is_some() {
            return false;
        }
        self.expiry.push_back((now + self.ttl, id));
        true
    }

    /// Forgets every id whose TTL has passed.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.expiry.front() {
            if *at > now {
                break;
            }
            if let Some((_, id)) = self.expiry.pop_front() {
                self.ids.remove(&id);
            }
        }
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
        let mut seen = SeenCache::new(Duration::from_secs(10), Map::default());
        assert!(seen.insert(t0, MessageId::new(vec![1])));
        assert!(!seen.insert(t0 + Duration::from_secs(5), MessageId::new(vec![1])));
        seen.insert(t0 + Duration::from_secs(5), MessageId::new(vec![2]));
        seen.expire(t0 + Duration::from_secs(9));
        assert!(seen.contains(&MessageId::new(vec![1])));
        seen.expire(t0 + Duration::from_secs(10));
        assert!(!seen.contains(&MessageId::new(vec![1])));
        assert!(seen.contains(&MessageId::new(vec![2])));
        seen.expire(t0 + Duration::from_secs(15));
        assert_eq!(seen.len(), 0);
    }
}
