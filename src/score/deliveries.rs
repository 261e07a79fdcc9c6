//! Message delivery records: which peers delivered a message and what validation decided,
//! kept for [`DELIVERY_RECORD_TTL`] so that `P3` near-first deliveries and `P4` penalties for
//! duplicates can be attributed.
//!
//! Bounded in bytes as the seen cache is (the router passes `max_seen_bytes`): each record is
//! charged [`RECORD_OVERHEAD`] plus its id's length, and [`PEER_CHARGE`] per deliverer it
//! remembers; over the bound the oldest records are forgotten first (counted). Without it,
//! records of unique messages (one per message for two minutes, whatever the seen cache
//! evicted) grew with the rate of messages peers sent.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use web_time::Instant;

use libp2p_identity::PeerId;

use crate::types::MessageId;

/// How long a delivery record is kept after the message was first seen (go keeps them for
/// its seen-messages TTL, 2 minutes by default).
pub(crate) const DELIVERY_RECORD_TTL: Duration = Duration::from_secs(120);

/// Bytes charged per record besides its id's heap bytes and its deliverers: its entry (id and
/// record, 168 bytes) in a B-tree whose nodes are about half full when the oldest records
/// leave first, and its expiry slot (56 bytes) in a queue whose capacity doubles: 448.
/// Measured with a counting allocator, 100,000 records in steady state: 369 bytes per record
/// with random ids, 397 with ascending ones. (It was 192: a store at its bound held up to
/// twice the bytes it was charged.)
pub(crate) const RECORD_OVERHEAD: usize = 448;

// The charge follows the types: a larger record must raise it.
const _: () = assert!(
    RECORD_OVERHEAD
        >= 2 * (std::mem::size_of::<MessageId>() + std::mem::size_of::<DeliveryRecord>())
            + 2 * std::mem::size_of::<(Instant, MessageId)>()
);

/// Bytes charged per deliverer a record remembers: a peer id (80 bytes) in an exact-size
/// vector, plus the allocator's rounding. (A `BTreeSet` took a whole 11-slot node, about
/// 900 bytes, for the first deliverer: real memory was about 1.5 times the charge.)
pub(crate) const PEER_CHARGE: usize = 96;

/// The bound used until the router sets its own (`max_seen_bytes`' default).
const DEFAULT_MAX_BYTES: usize = 128 << 20;

/// What validation decided about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeliveryStatus {
    /// Validation is pending.
    Unknown,
    /// Valid; validated at this instant.
    Valid(Instant),
    /// Invalid: every delivery of it is penalised.
    Invalid,
    /// Ignored (application `Ignore`, or validation throttled): nobody is credited or
    /// penalised.
    Ignored,
}

/// What we know about one message.
#[derive(Debug)]
pub(crate) struct DeliveryRecord {
    pub(crate) status: DeliveryStatus,
    /// The peer whose copy is being validated (the first deliverer), if known.
    pub(crate) first_from: Option<PeerId>,
    /// Other peers that delivered the message, each counted once, sorted, with no spare
    /// capacity (changed only through [`Deliveries`], which charges them).
    peers: Vec<PeerId>,
}

impl DeliveryRecord {
    /// The other peers that delivered the message, in ascending order.
    pub(crate) fn peers(&self) -> &[PeerId] {
        &self.peers
    }

    /// Adds `peer` in order, growing the vector by exactly one slot; `false` if it was there.
    fn insert(&mut self, peer: PeerId) -> bool {
        match self.peers.binary_search(&peer) {
            Ok(_) => false,
            Err(at) => {
                self.peers.reserve_exact(1);
                self.peers.insert(at, peer);
                true
            }
        }
    }

    fn charge(&self, id: &MessageId) -> usize {
        RECORD_OVERHEAD + id.as_bytes().len() + self.peers.len() * PEER_CHARGE
    }
}

/// All delivery records, with an expiry queue in insertion order, bounded in bytes.
#[derive(Debug)]
pub(crate) struct Deliveries {
    records: BTreeMap<MessageId, DeliveryRecord>,
    /// (expiry, id) in insertion order. Instants passed in are expected to be non-decreasing;
    /// if they are not, an entry may expire a little late, never early.
    expiry: VecDeque<(Instant, MessageId)>,
    /// Bytes charged for the records held (see the module docs), and their bound.
    bytes: usize,
    max_bytes: usize,
    /// Records forgotten before their TTL because of the byte bound (not yet reported).
    evicted: u64,
}

impl Default for Deliveries {
    fn default() -> Self {
        Deliveries {
            records: BTreeMap::new(),
            expiry: VecDeque::new(),
            bytes: 0,
            max_bytes: DEFAULT_MAX_BYTES,
            evicted: 0,
        }
    }
}

impl Deliveries {
    /// The record of `id`, if any.
    pub(crate) fn get_mut(&mut self, id: &MessageId) -> Option<&mut DeliveryRecord> {
        self.records.get_mut(id)
    }

    /// Sets the byte bound (at least one record is always kept).
    pub(crate) fn set_max_bytes(&mut self, max_bytes: usize) {
        self.max_bytes = max_bytes;
        self.shed(None);
    }

    /// Records forgotten early because of the byte bound since the last call.
    pub(crate) fn take_evicted(&mut self) -> u64 {
        std::mem::take(&mut self.evicted)
    }

    /// The record of `id`, created as pending (first seen `now`) if it does not exist.
    pub(crate) fn get_or_create(&mut self, id: &MessageId, now: Instant) -> &mut DeliveryRecord {
        if !self.records.contains_key(id) {
            // If the expiry overflows `Instant`, expire at the next `expire` call instead of
            // never: records must not pile up.
            let expires = now.checked_add(DELIVERY_RECORD_TTL).unwrap_or(now);
            self.expiry.push_back((expires, id.clone()));
            self.bytes += RECORD_OVERHEAD + id.as_bytes().len();
            self.shed(Some(id));
        }
        self.records
            .entry(id.clone())
            .or_insert_with(|| DeliveryRecord {
                status: DeliveryStatus::Unknown,
                first_from: None,
                peers: Vec::new(),
            })
    }

    /// Adds `peer` to the deliverers of `id`'s record; `false` if it was there already (or
    /// there is no record).
    pub(crate) fn insert_peer(&mut self, id: &MessageId, peer: PeerId) -> bool {
        let inserted = self.records.get_mut(id).is_some_and(|r| r.insert(peer));
        if inserted {
            self.bytes += PEER_CHARGE;
            self.shed(Some(id));
        }
        inserted
    }

    /// Forgets the deliverers of `id`'s record.
    pub(crate) fn clear_peers(&mut self, id: &MessageId) {
        if let Some(r) = self.records.get_mut(id) {
            self.bytes -= r.peers.len() * PEER_CHARGE;
            // Freed, not only emptied: the charge no longer covers its memory.
            r.peers = Vec::new();
        }
    }

    /// Drops records whose TTL has passed at `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some((expires, _)) = self.expiry.front() {
            if *expires > now {
                break;
            }
            self.pop_oldest();
        }
    }

    /// Forgets the oldest records while over the byte bound, never `keep` (the record being
    /// worked on, which is then the only one left).
    fn shed(&mut self, keep: Option<&MessageId>) {
        while self.bytes > self.max_bytes {
            match self.expiry.front() {
                Some((_, oldest)) if Some(oldest) != keep => {}
                _ => break,
            }
            if self.pop_oldest() {
                self.evicted += 1;
            }
        }
    }

    /// Drops the oldest entry of the expiry queue and its record; whether there was one.
    fn pop_oldest(&mut self) -> bool {
        let Some((_, id)) = self.expiry.pop_front() else {
            return false;
        };
        match self.records.remove(&id) {
            Some(record) => {
                self.bytes -= record.charge(&id);
                true
            }
            None => false,
        }
    }

    /// Number of records held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recount(d: &Deliveries) -> usize {
        d.records.iter().map(|(id, r)| r.charge(id)).sum()
    }

    /// The charged bytes always equal what the records hold, through creation, deliverers,
    /// clearing, eviction and expiry; the bound holds and the oldest go first.
    #[test]
    fn charges_track_the_records_and_the_bound_holds() {
        let t0 = crate::test_util::epoch();
        let mut d = Deliveries::default();
        let id = |n: u32| MessageId::new(n.to_be_bytes().to_vec());
        let max = 10 * (RECORD_OVERHEAD + 4) + 5 * PEER_CHARGE;
        d.set_max_bytes(max);
        for n in 0..40 {
            d.get_or_create(&id(n), t0 + Duration::from_millis(n.into()));
            for _ in 0..(n % 3) {
                d.insert_peer(&id(n), PeerId::random());
            }
            if n % 7 == 0 {
                d.clear_peers(&id(n));
            }
            assert_eq!(d.bytes, recount(&d));
            assert!(d.bytes <= max, "{} > {max}", d.bytes);
        }
        assert!(d.records.contains_key(&id(39)));
        assert!(!d.records.contains_key(&id(0)));
        assert_eq!(d.take_evicted() as usize, 40 - d.len());
        d.expire(t0 + DELIVERY_RECORD_TTL + Duration::from_secs(1));
        assert_eq!((d.len(), d.bytes), (0, 0));
    }

    /// What `PEER_CHARGE` covers is all a record's deliverers hold: the vector has no spare
    /// capacity, keeps each peer once and in order, and is freed when cleared.
    #[test]
    fn deliverers_hold_no_spare_capacity_and_are_freed_when_cleared() {
        let t0 = crate::test_util::epoch();
        let mut d = Deliveries::default();
        let id = MessageId::new(b"m".to_vec());
        d.get_or_create(&id, t0);
        let peers: Vec<PeerId> = (0..20).map(|_| PeerId::random()).collect();
        for (n, peer) in peers.iter().enumerate() {
            assert!(d.insert_peer(&id, *peer));
            assert!(!d.insert_peer(&id, *peer), "a deliverer is kept once");
            let record = d.get_mut(&id).expect("record");
            assert_eq!(record.peers.len(), n + 1);
            assert_eq!(
                record.peers.capacity(),
                n + 1,
                "spare capacity is not charged"
            );
        }
        let mut sorted = peers.clone();
        sorted.sort();
        assert_eq!(d.get_mut(&id).expect("record").peers(), &sorted[..]);
        d.clear_peers(&id);
        assert_eq!(d.get_mut(&id).expect("record").peers.capacity(), 0);
        assert_eq!(d.bytes, recount(&d));
    }
}
