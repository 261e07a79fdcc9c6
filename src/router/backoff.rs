//! The PRUNE backoff table: per (peer, topic), the instant before which the two peers must not
//! GRAFT each other.
//!
//! Entries hold the exact end of the backoff, as advertised in the PRUNE (ours or the peer's).
//! An inbound GRAFT is judged against that exact instant, since a compliant peer GRAFTs as soon as
//! the backoff it was told ends; our own GRAFTs wait `backoff_slack` heartbeats more, to absorb
//! clock and heartbeat skew.
//!
//! Bound: entries of connected peers are at most connected peers × our topics (a PRUNE is only
//! recorded for a topic we are in). Entries of peers that disconnected are kept (a reconnect must
//! not reset a backoff) up to `max_retained_backoffs`; beyond it the entries of the peer that left
//! first are forgotten.

use std::collections::VecDeque;
use std::time::Duration;

use web_time::Instant;

use libp2p_identity::PeerId;

use super::Map;
use crate::types::TopicHash;

/// The longest backoff recorded, ours or a peer's: longer ones are clamped, so adding it to an
/// instant cannot overflow in practice and a bogus value cannot pin an entry for years.
const MAX_BACKOFF: Duration = Duration::from_secs(24 * 60 * 60);

/// The backoffs with one peer.
struct PeerBackoffs {
    /// Topic -> exact end of the backoff.
    topics: Map<TopicHash, Instant>,
    /// `Some(n)` while the peer is disconnected: the departure number queued in
    /// [`Backoffs::departed`].
    departure: Option<u64>,
}

/// The backoff table. See the [module docs](self).
pub(crate) struct Backoffs {
    peers: Map<PeerId, PeerBackoffs>,
    /// Total entries, all peers.
    len: usize,
    /// Entries of disconnected peers.
    departed_len: usize,
    /// Disconnected peers with entries, oldest departure first; stale items (the peer came
    /// back, or left again later) are skipped when popped.
    departed: VecDeque<(PeerId, u64)>,
    next_departure: u64,
    hasher: ahash::RandomState,
}

impl Backoffs {
    pub(crate) fn new(hasher: ahash::RandomState) -> Self {
        Backoffs {
            peers: Map::with_hasher(hasher.clone()),
            len: 0,
            departed_len: 0,
            departed: VecDeque::new(),
            next_departure: 0,
            hasher,
        }
    }

    /// Number of (peer, topic) entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records a backoff of `duration` from `now` (clamped to a day); an existing later end is
    /// kept.
    pub(crate) fn insert(
        &mut self,
        now: Instant,
        topic: &TopicHash,
        peer: PeerId,
        duration: Duration,
    ) {
        let until = now.checked_add(duration.min(MAX_BACKOFF)).unwrap_or(now);
        let hasher = self.hasher.clone();
        let state = self.peers.entry(peer).or_insert_with(|| PeerBackoffs {
            topics: Map::with_hasher(hasher),
            departure: None,
        });
        match state.topics.get_mut(topic) {
            Some(end) => {
                if *end < until {
                    *end = until;
                }
            }
            None => {
                state.topics.insert(topic.clone(), until);
                self.len += 1;
                if state.departure.is_some() {
                    self.departed_len += 1;
                }
            }
        }
    }

    /// The exact end of the backoff with `peer` in `topic`, if any.
    pub(crate) fn until(&self, topic: &TopicHash, peer: &PeerId) -> Option<Instant> {
        self.peers
            .get(peer)
            .and_then(|s| s.topics.get(topic))
            .copied()
    }

    /// `peer` disconnected: its entries are kept, counted against `max_retained`. Returns how
    /// many entries (of peers that left earlier, or of this one) were forgotten to stay within
    /// it.
    pub(crate) fn peer_departed(&mut self, peer: &PeerId, max_retained: usize) -> usize {
        let Some(state) = self.peers.get_mut(peer) else {
            return 0;
        };
        if state.departure.is_some() {
            return 0;
        }
        let n = self.next_departure;
        self.next_departure += 1;
        state.departure = Some(n);
        self.departed_len += state.topics.len();
        self.departed.push_back((*peer, n));
        let mut evicted = 0;
        while self.departed_len > max_retained {
            let Some((oldest, n)) = self.departed.pop_front() else {
                break;
            };
            let current = self.peers.get(&oldest).and_then(|s| s.departure);
            if current != Some(n) {
                continue;
            }
            if let Some(state) = self.peers.remove(&oldest) {
                let count = state.topics.len();
                self.len -= count;
                self.departed_len -= count;
                evicted += count;
            }
        }
        self.compact_departed();
        evicted
    }

    /// `peer` connected again: its entries are no longer counted as retained.
    pub(crate) fn peer_returned(&mut self, peer: &PeerId) {
        if let Some(state) = self.peers.get_mut(peer)
            && state.departure.take().is_some()
        {
            self.departed_len -= state.topics.len();
        }
    }

    /// Forgets the backoffs that ended more than `slack` before `now`.
    pub(crate) fn expire(&mut self, now: Instant, slack: Duration) {
        let (mut removed, mut removed_departed) = (0, 0);
        self.peers.retain(|_, state| {
            let before = state.topics.len();
            state
                .topics
                .retain(|_, until| until.checked_add(slack).is_none_or(|end| end > now));
            let gone = before - state.topics.len();
            removed += gone;
            if state.departure.is_some() {
                removed_departed += gone;
            }
            !state.topics.is_empty()
        });
        self.len -= removed;
        self.departed_len -= removed_departed;
        self.compact_departed();
    }

    /// Drops stale items from the departure queue once they outnumber the live ones, so the
    /// queue stays within twice the number of disconnected peers with entries (plus a little).
    fn compact_departed(&mut self) {
        if self.departed.len() <= 2 * self.departed_len.max(16) {
            return;
        }
        let peers = &self.peers;
        self.departed
            .retain(|(p, n)| peers.get(p).and_then(|s| s.departure) == Some(*n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Backoffs {
        Backoffs::new(ahash::RandomState::with_seeds(1, 2, 3, 4))
    }

    #[test]
    fn later_end_wins_and_expiry_waits_for_the_slack() {
        let t0 = crate::test_util::epoch();
        let topic = TopicHash::from_raw("t");
        let p = PeerId::random();
        let mut b = table();
        b.insert(t0, &topic, p, Duration::from_secs(10));
        b.insert(t0, &topic, p, Duration::from_secs(5));
        assert_eq!(b.until(&topic, &p), Some(t0 + Duration::from_secs(10)));
        b.expire(t0 + Duration::from_secs(11), Duration::from_secs(2));
        assert_eq!(b.len(), 1);
        b.expire(t0 + Duration::from_secs(12), Duration::from_secs(2));
        assert!(b.is_empty());
        b.insert(t0, &topic, p, Duration::MAX);
        assert_eq!(b.until(&topic, &p), Some(t0 + MAX_BACKOFF));
    }

    #[test]
    fn departed_entries_are_bounded_oldest_first_and_returning_peers_are_exempt() {
        let t0 = crate::test_util::epoch();
        let topic = TopicHash::from_raw("t");
        let mut b = table();
        let peers: Vec<PeerId> = (0..10).map(|_| PeerId::random()).collect();
        for p in &peers {
            b.insert(t0, &topic, *p, Duration::from_secs(60));
        }
        for p in &peers[..3] {
            assert_eq!(b.peer_departed(p, 3), 0);
        }
        // peers[0] comes back; peers[3] leaves: nothing over the bound.
        b.peer_returned(&peers[0]);
        assert_eq!(b.peer_departed(&peers[3], 3), 0);
        // peers[4] leaves: the oldest departed still away (peers[1]) is forgotten.
        assert_eq!(b.peer_departed(&peers[4], 3), 1);
        assert!(b.until(&topic, &peers[1]).is_none());
        assert!(b.until(&topic, &peers[0]).is_some());
        assert!(b.until(&topic, &peers[2]).is_some());
        assert_eq!(b.len(), 9);
        // Leaving and coming back repeatedly does not grow the queue without bound.
        for _ in 0..1000 {
            b.peer_departed(&peers[5], 3);
            b.peer_returned(&peers[5]);
        }
        assert!(b.departed.len() <= 2 * 16 + 1, "{}", b.departed.len());
    }
}
