//! Message delivery records: which peers delivered a message and what validation decided,
//! kept for [`DELIVERY_RECORD_TTL`] so that `P3` near-first deliveries and `P4` penalties for
//! duplicates can be attributed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use web_time::Instant;

use libp2p_identity::PeerId;

use crate::types::MessageId;

/// How long a delivery record is kept after the message was first seen (go keeps them for
/// its seen-messages TTL, 2 minutes by default).
pub(crate) const DELIVERY_RECORD_TTL: Duration = Duration::from_secs(120);

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
    /// Other peers that delivered the message, each counted once.
    pub(crate) peers: BTreeSet<PeerId>,
}

/// All delivery records, with an expiry queue in insertion order.
#[derive(Debug, Default)]
pub(crate) struct Deliveries {
    records: BTreeMap<MessageId, DeliveryRecord>,
    /// (expiry, id) in insertion order. Instants passed in are expected to be non-decreasing;
    /// if they are not, an entry may expire a little late, never early.
    expiry: VecDeque<(Instant, MessageId)>,
}

impl Deliveries {
    /// The record of `id`, if any.
    pub(crate) fn get_mut(&mut self, id: &MessageId) -> Option<&mut DeliveryRecord> {
        self.records.get_mut(id)
    }

    /// The record of `id`, created as pending (first seen `now`) if it does not exist.
    pub(crate) fn get_or_create(&mut self, id: &MessageId, now: Instant) -> &mut DeliveryRecord {
        if !self.records.contains_key(id) {
            // If the expiry overflows `Instant`, expire at the next `expire` call instead of
            // never: records must not pile up.
            let expires = now.checked_add(DELIVERY_RECORD_TTL).unwrap_or(now);
            self.expiry.push_back((expires, id.clone()));
        }
        self.records
            .entry(id.clone())
            .or_insert_with(|| DeliveryRecord {
                status: DeliveryStatus::Unknown,
                first_from: None,
                peers: BTreeSet::new(),
            })
    }

    /// Drops records whose TTL has passed at `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some((expires, _)) = self.expiry.front() {
            if *expires > now {
                break;
            }
            if let Some((_, id)) = self.expiry.pop_front() {
                self.records.remove(&id);
            }
        }
    }

    /// Number of records held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }
}
