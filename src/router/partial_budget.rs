//! Byte and count bounds of the Partial Messages extension against remote peers (cargo feature
//! `partial-messages`): the bytes of parts metadata held per peer and in total, and the partial
//! messages taken per peer and heartbeat.
//!
//! A [`PeerView`] (what we know of one peer in one group) can only change its metadata through
//! [`PeerView::update`], which charges the [`MetadataAccount`] first and refuses what would go
//! over [`PartialLimits::metadata_bytes_per_peer`] or [`PartialLimits::metadata_bytes_total`];
//! a dropped view is handed back to [`MetadataAccount::release`]. So the bytes held are bounded
//! whatever a peer sends, and [`Router::partial_invariant_violations`] checks that the account
//! matches what the views hold.

use bytes::Bytes;
use libp2p_identity::PeerId;

use super::{Map, Router};
use crate::partial::PartialLimits;

/// What a view that a peer spoke about (sent us a partial message for its group) costs on top
/// of its metadata: the view itself and its map entry. Views we made to send to a peer are not
/// charged to it (our own groups bound them).
pub(super) const VIEW_CHARGE: usize = crate::partial::GROUP_PEER_CHARGE;

/// What we know of one peer in one group.
#[derive(Default)]
pub(super) struct PeerView {
    /// The peer's parts metadata as we know it (merged). Changed only by [`PeerView::update`].
    metadata: Option<Bytes>,
    /// Whether the peer sent us a partial message for the group: it is then a recipient of our
    /// publishes to the group. Peers we only gossiped our metadata to are not.
    spoke: bool,
    /// The bytes this view holds in the [`MetadataAccount`] for its peer.
    charged: usize,
    /// Our parts metadata as we last sent it to the peer.
    pub(super) sent: Option<Bytes>,
    /// The heartbeat tick in which we last answered the peer's metadata with parts: at
    /// most one answer per heartbeat, whatever it claims to lack.
    pub(super) answered: Option<u64>,
}

impl PeerView {
    /// The peer's parts metadata as we know it.
    pub(super) fn metadata(&self) -> Option<&Bytes> {
        self.metadata.as_ref()
    }

    /// Whether the peer sent us a partial message for the group.
    pub(super) fn spoke(&self) -> bool {
        self.spoke
    }

    /// Sets the peer's metadata (and marks it as having spoken if `spoke`) when `account`
    /// can hold the new charge for `peer`; returns whether it did (else nothing changed).
    /// Shrinking always succeeds.
    pub(super) fn update(
        &mut self,
        peer: &PeerId,
        account: &mut MetadataAccount,
        limits: &PartialLimits,
        metadata: Option<Bytes>,
        spoke: bool,
    ) -> bool {
        let spoke = self.spoke || spoke;
        let new = usize::from(spoke) * VIEW_CHARGE + metadata.as_ref().map_or(0, Bytes::len);
        if !account.recharge(peer, self.charged, new, limits) {
            return false;
        }
        self.metadata = metadata;
        self.spoke = spoke;
        self.charged = new;
        true
    }

    /// Forgets the peer's metadata (always within bounds).
    pub(super) fn clear_metadata(&mut self, peer: &PeerId, account: &mut MetadataAccount) {
        let new = usize::from(self.spoke) * VIEW_CHARGE;
        account.release(peer, self.charged.saturating_sub(new));
        self.charged = new;
        self.metadata = None;
    }
}

/// Bytes of parts metadata (and spoken-about views) held per peer and in total.
pub(super) struct MetadataAccount {
    per_peer: Map<PeerId, usize>,
    total: usize,
}

impl MetadataAccount {
    pub(super) fn new(hasher: &ahash::RandomState) -> Self {
        MetadataAccount {
            per_peer: Map::with_hasher(hasher.clone()),
            total: 0,
        }
    }

    /// Moves `peer`'s charge of one view from `old` to `new` bytes if the result is within
    /// `limits` (or smaller than before); returns whether it did.
    fn recharge(&mut self, peer: &PeerId, old: usize, new: usize, limits: &PartialLimits) -> bool {
        let held = self.per_peer.get(peer).copied().unwrap_or(0);
        let peer_after = held.saturating_sub(old).saturating_add(new);
        let total_after = self.total.saturating_sub(old).saturating_add(new);
        if new > old
            && (peer_after > limits.metadata_bytes_per_peer
                || total_after > limits.metadata_bytes_total)
        {
            return false;
        }
        self.total = total_after;
        if peer_after == 0 {
            self.per_peer.remove(peer);
        } else {
            self.per_peer.insert(*peer, peer_after);
        }
        true
    }

    /// Returns `bytes` of `peer`'s charge (a view was dropped or shrank).
    pub(super) fn release(&mut self, peer: &PeerId, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.total = self.total.saturating_sub(bytes);
        if let Some(held) = self.per_peer.get_mut(peer) {
            *held = held.saturating_sub(bytes);
            if *held == 0 {
                self.per_peer.remove(peer);
            }
        }
    }

    /// Returns the charge of every view in `views` (they are being dropped).
    pub(super) fn release_views<'a>(
        &mut self,
        views: impl IntoIterator<Item = (&'a PeerId, &'a PeerView)>,
    ) {
        for (peer, view) in views {
            self.release(peer, view.charged);
        }
    }

    /// Bytes held for `peer`, or for all peers.
    pub(super) fn held(&self, peer: Option<&PeerId>) -> usize {
        match peer {
            Some(p) => self.per_peer.get(p).copied().unwrap_or(0),
            None => self.total,
        }
    }
}

/// Partial messages taken from each peer in the current heartbeat.
pub(super) struct PartialCounts {
    taken: Map<PeerId, usize>,
}

impl PartialCounts {
    pub(super) fn new(hasher: &ahash::RandomState) -> Self {
        PartialCounts {
            taken: Map::with_hasher(hasher.clone()),
        }
    }

    /// Counts one more partial message from `peer` if it has taken fewer than `max` in this
    /// heartbeat; returns whether it did.
    pub(super) fn take(&mut self, peer: PeerId, max: usize) -> bool {
        let n = self.taken.entry(peer).or_insert(0);
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    /// A new heartbeat: every peer starts from zero.
    pub(super) fn reset(&mut self) {
        self.taken.clear();
    }

    /// Forgets a disconnected peer.
    pub(super) fn remove(&mut self, peer: &PeerId) {
        self.taken.remove(peer);
    }

    pub(super) fn len(&self) -> usize {
        self.taken.len()
    }
}

impl Router {
    /// Checks the extension's bookkeeping (for [`Router::__invariants`]): the group counts per
    /// topic and per peer match the peer-opened groups held, the metadata account matches what
    /// the views hold, and nothing is kept for a disconnected peer.
    pub(super) fn partial_invariant_violations(&self, v: &mut Vec<String>) {
        let state = &self.partial;
        let mut charged: Map<PeerId, usize> = Map::with_hasher(self.hasher.clone());
        for (topic, groups) in &state.groups {
            let mut per_peer: Map<PeerId, usize> = Map::with_hasher(self.hasher.clone());
            for group in groups.values() {
                if let Some(opener) = group.opened_by {
                    *per_peer.entry(opener).or_insert(0) += 1;
                    if !self.peers.contains_key(&self.hashed(opener)) {
                        v.push(format!(
                            "partial group on {topic} kept for disconnected opener {opener}"
                        ));
                    }
                }
                for (peer, view) in &group.peers {
                    *charged.entry(*peer).or_insert(0) += view.charged;
                    let expect = usize::from(view.spoke) * VIEW_CHARGE
                        + view.metadata.as_ref().map_or(0, Bytes::len);
                    if view.charged != expect {
                        v.push(format!(
                            "partial view of {peer} on {topic} charged {} for {expect} bytes",
                            view.charged
                        ));
                    }
                    if !self.peers.contains_key(&self.hashed(*peer)) {
                        v.push(format!("partial view of disconnected {peer} on {topic}"));
                    }
                }
            }
            let total: usize = per_peer.values().sum();
            let opened = state.opened.get(topic);
            if opened.map_or(0, |o| o.total) != total {
                v.push(format!(
                    "{topic}: {} peer-opened groups counted, {total} held",
                    opened.map_or(0, |o| o.total)
                ));
            }
            for (peer, n) in &per_peer {
                if opened.and_then(|o| o.per_peer.get(peer)).copied() != Some(*n) {
                    v.push(format!("{topic}: groups opened by {peer} miscounted"));
                }
            }
        }
        for (topic, opened) in &state.opened {
            if !state.groups.contains_key(topic) && opened.total > 0 {
                v.push(format!(
                    "{topic}: peer-opened groups counted without groups"
                ));
            }
        }
        let total: usize = charged.values().sum();
        if total != state.account.held(None) {
            v.push(format!(
                "partial metadata account holds {}, views {total}",
                state.account.held(None)
            ));
        }
        for (peer, bytes) in &charged {
            if state.account.held(Some(peer)) != *bytes {
                v.push(format!("partial metadata of {peer} miscounted"));
            }
        }
        if state.counts.len() > self.peers.len() {
            v.push("partial counts kept for disconnected peers".to_owned());
        }
    }
}
