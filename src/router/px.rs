//! Peer exchange: verification of signed peer records received in PRUNE, the bounded store
//! of records we know of other peers (to offer in our own PRUNEs and to dial), and the
//! per-peer and global budgets on what PX may cost us.

use std::collections::BTreeMap;
use std::time::Duration;

use web_time::Instant;

use bytes::Bytes;
use libp2p_core::signed_envelope::SignedEnvelope;
use libp2p_core::{Multiaddr, PeerRecord};
use libp2p_identity::PeerId;
use rand::seq::SliceRandom;

use super::prehashed::HashedPeer;
use super::{Action, Map, Router};
use crate::event::Event;
use crate::types::PeerInfo;

/// How long a stored signed peer record is kept (refreshed when the record is received again).
pub(crate) const PEER_RECORD_TTL: Duration = Duration::from_secs(3600);

/// How long a PX dial counts as pending if the peer does not connect (go's connection
/// timeout for PX is 30 s as well).
pub(crate) const PX_DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// The most signed peer records kept; beyond it the oldest is evicted.
#[cfg(not(test))]
pub(crate) const MAX_PEER_RECORDS: usize = 10_000;
#[cfg(test)]
pub(crate) const MAX_PEER_RECORDS: usize = 4;

/// The most bytes (envelopes plus decoded addresses) the record store holds; beyond it the
/// oldest records are evicted. 4 MiB: 10,000 typical records of about 400 bytes.
const MAX_PEER_RECORD_BYTES: usize = 4 * 1024 * 1024;

/// One stored record: its envelope (copied out of whatever frame it came in) and its
/// verified addresses.
struct StoredRecord {
    envelope: Bytes,
    addresses: Vec<Multiaddr>,
    /// The record's own sequence number: an older one (lower) never replaces it.
    record_seq: u64,
    /// Key in `PeerRecordStore::order`.
    seq: u64,
    stored: Instant,
}

impl StoredRecord {
    fn bytes(&self) -> usize {
        self.envelope.len() + self.addresses.iter().map(|a| a.len()).sum::<usize>()
    }
}

/// Signed peer records of other peers, bounded in count, bytes and age; the oldest record
/// is evicted first, so a new record is never refused for lack of room.
pub(crate) struct PeerRecordStore {
    records: Map<PeerId, StoredRecord>,
    /// Insertion order (oldest first): `seq -> peer`.
    order: BTreeMap<u64, PeerId>,
    next_seq: u64,
    bytes: usize,
}

impl PeerRecordStore {
    pub(crate) fn new(hasher: ahash::RandomState) -> Self {
        PeerRecordStore {
            records: Map::with_hasher(hasher),
            order: BTreeMap::new(),
            next_seq: 0,
            bytes: 0,
        }
    }

    /// The envelope stored for `peer`.
    pub(crate) fn get(&self, peer: &PeerId) -> Option<&Bytes> {
        self.records.get(peer).map(|r| &r.envelope)
    }

    /// The verified addresses of `peer`'s stored record (empty without one).
    pub(crate) fn addresses(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.records
            .get(peer)
            .map(|r| r.addresses.clone())
            .unwrap_or_default()
    }

    /// The `seq` of the record stored for `peer`.
    fn record_seq(&self, peer: &PeerId) -> Option<u64> {
        self.records.get(peer).map(|r| r.record_seq)
    }

    /// Stores a verified record (a copy of `envelope`) with sequence number `record_seq`,
    /// replacing `peer`'s previous one (the caller has checked it is not newer); returns how
    /// many older records were evicted to make room.
    pub(crate) fn insert(
        &mut self,
        now: Instant,
        peer: PeerId,
        envelope: &[u8],
        addresses: Vec<Multiaddr>,
        record_seq: u64,
    ) -> usize {
        self.remove(&peer);
        let seq = self.next_seq;
        self.next_seq += 1;
        let record = StoredRecord {
            envelope: Bytes::copy_from_slice(envelope),
            addresses,
            record_seq,
            seq,
            stored: now,
        };
        self.bytes += record.bytes();
        self.records.insert(peer, record);
        self.order.insert(seq, peer);
        let mut evicted = 0;
        while self.records.len() > MAX_PEER_RECORDS || self.bytes > MAX_PEER_RECORD_BYTES {
            let Some((_, oldest)) = self.order.first_key_value() else {
                break;
            };
            let oldest = *oldest;
            self.remove(&oldest);
            evicted += 1;
        }
        evicted
    }

    fn remove(&mut self, peer: &PeerId) {
        if let Some(old) = self.records.remove(peer) {
            self.bytes -= old.bytes();
            self.order.remove(&old.seq);
        }
    }

    /// Drops the records stored `PEER_RECORD_TTL` or longer ago (oldest first, O(expired)).
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some((_, &peer)) = self.order.first_key_value() {
            let fresh = self
                .records
                .get(&peer)
                .is_some_and(|r| now.saturating_duration_since(r.stored) < PEER_RECORD_TTL);
            if fresh {
                break;
            }
            self.order.pop_first();
            if let Some(old) = self.records.remove(&peer) {
                self.bytes -= old.bytes();
            }
        }
    }

    /// Number of records and their bytes, for memory accounting.
    pub(crate) fn size(&self) -> (usize, usize) {
        (self.records.len(), self.bytes)
    }
}

/// PX dials made and not yet answered by a connection, bounded globally and per peer whose PX
/// started them.
pub(crate) struct PendingDials {
    /// Dialled peer → when, and the peer whose PX named it.
    dials: Map<PeerId, (Instant, PeerId)>,
    /// Pending dials per source (at most one entry per pending dial).
    per_source: Map<PeerId, usize>,
}

/// Why a PX dial was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DialRefused {
    /// `max_pending_px_dials` dials are pending.
    Global,
    /// The source's PX already has `max_px_dials` dials pending.
    Source,
}

impl PendingDials {
    pub(crate) fn new(hasher: ahash::RandomState) -> Self {
        PendingDials {
            dials: Map::with_hasher(hasher.clone()),
            per_source: Map::with_hasher(hasher),
        }
    }

    /// Records a dial of `peer`, named by `source`'s PX, at `now`, unless `max` dials are
    /// pending or `max_per_source` of `source`'s are.
    fn try_add(
        &mut self,
        now: Instant,
        peer: PeerId,
        source: PeerId,
        max: usize,
        max_per_source: usize,
    ) -> Result<(), DialRefused> {
        if self.dials.len() >= max {
            return Err(DialRefused::Global);
        }
        let of_source = self.per_source.get(&source).copied().unwrap_or(0);
        if of_source >= max_per_source {
            return Err(DialRefused::Source);
        }
        if let Some((_, old)) = self.dials.insert(peer, (now, source)) {
            self.release(&old);
        }
        *self.per_source.entry(source).or_insert(0) += 1;
        Ok(())
    }

    /// One pending dial of `source` ended.
    fn release(&mut self, source: &PeerId) {
        if let Some(n) = self.per_source.get_mut(source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(source);
            }
        }
    }

    /// Whether a dial of `peer` is pending.
    fn is_pending(&self, peer: &PeerId) -> bool {
        self.dials.contains_key(peer)
    }

    /// `peer` connected: its dial is no longer pending.
    pub(crate) fn connected(&mut self, peer: &PeerId) {
        if let Some((_, source)) = self.dials.remove(peer) {
            self.release(&source);
        }
    }

    /// Forgets dials older than `PX_DIAL_TIMEOUT` (at most `max_pending_px_dials` entries).
    pub(crate) fn expire(&mut self, now: Instant) {
        let per_source = &mut self.per_source;
        self.dials.retain(|_, (at, source)| {
            let keep = now.saturating_duration_since(*at) < PX_DIAL_TIMEOUT;
            if !keep && let Some(n) = per_source.get_mut(source) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per_source.remove(source);
                }
            }
            keep
        });
    }
}

impl Router {
    /// Heartbeat step: expires stored records and pending PX dials.
    pub(super) fn expire_px(&mut self, now: Instant) {
        self.peer_records.expire(now);
        self.px_dials.expire(now);
    }

    /// Verifies and stores a signed record of `expected` (or of whoever signed it), within
    /// the configured size and address bounds; the size is checked before the signature. A
    /// record older (lower `seq`) than the one stored for its peer is refused
    /// ([`PeerRecordError::Stale`]): a replay cannot roll back a peer's addresses.
    pub(super) fn take_peer_record(
        &mut self,
        bytes: &[u8],
        expected: Option<&PeerId>,
    ) -> Result<PeerRecord, PeerRecordError> {
        let max = self.config.max_peer_record_size();
        if bytes.len() > max {
            return Err(PeerRecordError::TooLarge {
                size: bytes.len(),
                max,
            });
        }
        let record = verify_peer_record(bytes, expected)?;
        let max = self.config.max_peer_record_addresses();
        let count = record.addresses().len();
        if count > max {
            return Err(PeerRecordError::TooManyAddresses { count, max });
        }
        if let Some(stored) = self.peer_records.record_seq(&record.peer_id())
            && stored > record.seq()
        {
            return Err(PeerRecordError::Stale {
                seq: record.seq(),
                stored,
            });
        }
        let evicted = self.peer_records.insert(
            self.now,
            record.peer_id(),
            bytes,
            record.addresses().to_vec(),
            record.seq(),
        );
        if evicted > 0 {
            self.counters.px_records_evicted += evicted as u64;
            tracing::debug!(evicted, "peer record store full; oldest records evicted");
        }
        Ok(record)
    }

    /// Takes the peers offered in a PRUNE from `from`: each entry costs one unit of the
    /// sender's per-heartbeat PX budget before any work; each signed record is size-checked,
    /// verified (signature valid, signer = the listed peer), stored and its peer dialled with
    /// the record's addresses while fewer than `max_pending_px_dials` dials are pending and
    /// fewer than `max_px_dials` of them were started by `from`'s PX.
    /// Verified records are reported to the application. Every refusal is counted.
    pub(super) fn accept_px(&mut self, from: HashedPeer, mut offered: Vec<PeerInfo>) {
        if self.below_accept_px_threshold(&from) {
            self.counters.px_ignored += 1;
            tracing::debug!(peer = %from, "PX from a peer below accept_px_threshold ignored");
            return;
        }
        if offered.len() > self.config.prune_peers() {
            offered.shuffle(&mut self.rng);
            offered.truncate(self.config.prune_peers());
        }
        let budget = self.config.max_px_records_per_heartbeat();
        let max_pending = self.config.max_pending_px_dials();
        let now = self.now;
        let mut records = Vec::new();
        let mut dials = 0;
        for info in offered {
            if dials >= self.config.max_px_dials() {
                break;
            }
            let Some(state) = self.peers.get_mut(&from) else {
                return;
            };
            if state.px_taken >= budget {
                self.counters.px_over_budget += 1;
                tracing::debug!(peer = %from, "PX entry over max_px_records_per_heartbeat skipped");
                continue;
            }
            state.px_taken += 1;
            let Some(peer) = info.peer_id else {
                self.counters.px_records_invalid += 1;
                continue;
            };
            if Some(peer) == self.local_peer_id {
                self.counters.px_records_invalid += 1;
                tracing::debug!(%from, "PX entry naming us ignored");
                continue;
            }
            // Connected, blacklisted or being dialled already: nothing to verify or dial.
            let key = self.hashed(peer);
            if self.peers.contains_key(&key)
                || self.blacklist.contains(&key)
                || self.px_dials.is_pending(&peer)
            {
                continue;
            }
            let addresses = match info.signed_peer_record {
                Some(bytes) => match self.take_peer_record(&bytes, Some(&peer)) {
                    Ok(record) => {
                        let addresses = record.addresses().to_vec();
                        records.push(record);
                        addresses
                    }
                    Err(PeerRecordError::Stale { seq, stored }) => {
                        // A replay of an old record: the newer one we hold is kept, and the
                        // peer is dialled at its addresses.
                        self.counters.px_records_stale += 1;
                        tracing::debug!(%from, %peer, seq, stored, "older signed peer record in PX ignored; dialling the stored one's addresses");
                        self.peer_records.addresses(&peer)
                    }
                    Err(error) => {
                        if matches!(
                            error,
                            PeerRecordError::TooLarge { .. }
                                | PeerRecordError::TooManyAddresses { .. }
                        ) {
                            self.counters.px_records_too_large += 1;
                        } else {
                            self.counters.px_records_invalid += 1;
                        }
                        tracing::debug!(%from, %peer, %error, "signed peer record in PX refused");
                        continue;
                    }
                },
                None if self.config.px_dial_unsigned() => Vec::new(),
                None => {
                    tracing::trace!(%from, %peer, "PX peer without a signed record not dialled");
                    continue;
                }
            };
            match self.px_dials.try_add(
                now,
                peer,
                *from.id(),
                max_pending,
                self.config.max_px_dials(),
            ) {
                Ok(()) => {}
                Err(DialRefused::Global) => {
                    self.counters.px_dials_over_cap += 1;
                    tracing::debug!(%from, %peer, max_pending, "PX dial skipped: max_pending_px_dials reached");
                    continue;
                }
                Err(DialRefused::Source) => {
                    self.counters.px_dials_over_cap += 1;
                    tracing::debug!(%from, %peer, "PX dial skipped: the sender's PX already has max_px_dials dials pending");
                    continue;
                }
            }
            self.actions.push_back(Action::Dial { peer, addresses });
            dials += 1;
        }
        if !records.is_empty() {
            self.emit(Event::PeerExchange {
                propagation_source: *from.id(),
                records,
            });
        }
    }
}

/// Why a signed peer record was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerRecordError {
    /// The bytes are not a `SignedEnvelope`.
    #[error("not a signed envelope: {0}")]
    Decode(String),
    /// The signature, domain or payload type is wrong, or the payload is not a peer record.
    #[error("invalid peer record: {0}")]
    Invalid(String),
    /// The record is signed by, and describes, another peer than the one it was listed for.
    #[error("record of {actual} listed for {expected}")]
    PeerIdMismatch {
        /// The peer the record was offered for.
        expected: Box<PeerId>,
        /// The peer the record describes.
        actual: Box<PeerId>,
    },
    /// The serialised record is larger than `max_peer_record_size`.
    #[error("record of {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The record lists more than `max_peer_record_addresses` addresses.
    #[error("record with {count} addresses exceeds the maximum of {max}")]
    TooManyAddresses {
        /// How many it lists.
        count: usize,
        /// The configured maximum.
        max: usize,
    },
    /// We hold a record of the same peer with a higher `seq`: this one is older (a replay).
    #[error("record with seq {seq} is older than the stored one (seq {stored})")]
    Stale {
        /// Its sequence number.
        seq: u64,
        /// The sequence number of the record we hold.
        stored: u64,
    },
}

/// Decodes and verifies a signed peer record: the envelope's signature must be valid, its
/// signer must be the peer the record describes (checked by libp2p-core), the domain and
/// payload type those of a libp2p peer record (the standard `libp2p-peer-record` one that go
/// and js use, or rust-libp2p identify's legacy `libp2p-routing-state`), and the record must
/// describe `expected` when given.
pub fn verify_peer_record(
    bytes: &[u8],
    expected: Option<&PeerId>,
) -> Result<PeerRecord, PeerRecordError> {
    let envelope = SignedEnvelope::from_protobuf_encoding(bytes)
        .map_err(|e| PeerRecordError::Decode(e.to_string()))?;
    verify_envelope(envelope, expected)
}

/// As [`verify_peer_record`], from a decoded envelope.
pub fn verify_envelope(
    envelope: SignedEnvelope,
    expected: Option<&PeerId>,
) -> Result<PeerRecord, PeerRecordError> {
    let record = match PeerRecord::from_signed_envelope_interop(envelope.clone()) {
        Ok(record) => record,
        Err(standard) => PeerRecord::from_signed_envelope(envelope).map_err(|legacy| {
            PeerRecordError::Invalid(format!("{standard}; as legacy record: {legacy}"))
        })?,
    };
    if let Some(expected) = expected
        && record.peer_id() != *expected
    {
        return Err(PeerRecordError::PeerIdMismatch {
            expected: Box::new(*expected),
            actual: Box::new(record.peer_id()),
        });
    }
    Ok(record)
}

/// The protobuf encoding of a record's envelope, as carried in PRUNE.
#[cfg(test)]
pub(crate) fn encode(record: &PeerRecord) -> bytes::Bytes {
    bytes::Bytes::from(record.to_signed_envelope().into_protobuf_encoding())
}

#[cfg(test)]
mod tests {
    use libp2p_identity::Keypair;

    use super::*;

    fn addr() -> libp2p_core::Multiaddr {
        "/ip4/127.0.0.1/tcp/4001".parse().unwrap()
    }

    #[test]
    fn standard_and_legacy_records_verify() {
        let key = Keypair::generate_ed25519();
        let peer = key.public().to_peer_id();
        for record in [
            PeerRecord::new_interop(&key, vec![addr()]).unwrap(),
            PeerRecord::new(&key, vec![addr()]).unwrap(),
        ] {
            let verified = verify_peer_record(&encode(&record), Some(&peer)).unwrap();
            assert_eq!(verified.addresses(), &[addr()]);
        }
    }

    #[test]
    fn record_listed_for_another_peer_is_refused() {
        let key = Keypair::generate_ed25519();
        let other = PeerId::random();
        let record = PeerRecord::new_interop(&key, vec![addr()]).unwrap();
        assert!(matches!(
            verify_peer_record(&encode(&record), Some(&other)),
            Err(PeerRecordError::PeerIdMismatch { .. })
        ));
    }

    #[test]
    fn tampered_record_is_refused() {
        let key = Keypair::generate_ed25519();
        let record = PeerRecord::new_interop(&key, vec![addr()]).unwrap();
        let mut bytes = encode(&record).to_vec();
        // Flip a byte of the signature, stored last in the envelope.
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        assert!(verify_peer_record(&bytes, None).is_err());
        assert!(matches!(
            verify_peer_record(b"garbage", None),
            Err(PeerRecordError::Decode(_))
        ));
    }
}
