//! Authenticity checks of received messages, bounded: a per-peer budget of signature
//! verifications per heartbeat, a bounded memory of messages whose check failed (so copies
//! are not verified again), a penalty for every invalid copy, and graylisting of a peer that
//! keeps sending them.
//!
//! A graylisted peer's RPCs are ignored (subscriptions aside) and it leaves every mesh; the
//! router also asks for it to be disconnected ([`Action::Disconnect`](super::Action)), so it
//! does not keep a connection slot. A peer that redials within the same heartbeat keeps its
//! count and its spent signature checks (see `peers::SpentBudgets`); one that redials later
//! starts with a fresh count, which costs it another `max_invalid_signatures` penalised messages
//! (each at most one verification), and with scoring on its penalty outlives the reconnect in
//! the retained score record.

use std::collections::VecDeque;

use super::prehashed::HashedPeer;
use super::{MeshChurn, Router, Set};
use crate::authenticity::ValidationMode;
use crate::score::RejectReason;
use crate::types::{MessageId, RawMessage, TopicHash};
use crate::wire;

/// How many failed messages are remembered (8-byte fingerprints; oldest forgotten first).
const MAX_FAILED: usize = 4096;

/// Fingerprints of recently received messages whose authenticity check failed: a keyed
/// hash of author, seqno, topic, data, signature and key. The signature is part of it, so a
/// forged copy of an honest message never taints the honest one.
pub(crate) struct FailedChecks {
    set: Set<u64>,
    order: VecDeque<u64>,
}

impl FailedChecks {
    pub(crate) fn new(hasher: ahash::RandomState) -> Self {
        FailedChecks {
            set: Set::with_hasher(hasher),
            order: VecDeque::new(),
        }
    }

    fn contains(&self, fingerprint: u64) -> bool {
        self.set.contains(&fingerprint)
    }

    fn insert(&mut self, fingerprint: u64) {
        if !self.set.insert(fingerprint) {
            return;
        }
        self.order.push_back(fingerprint);
        if self.order.len() > MAX_FAILED
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
    }
}

impl Router {
    /// Checks the authenticity fields of a new message from `from` (`content_key` is the
    /// message cache's content hash of it). Returns `false` if the message must be dropped:
    /// its check failed now or before (counted, penalised), or `from` has used up its
    /// signature checks for this heartbeat (counted, not penalised, not marked seen).
    pub(super) fn check_authenticity(
        &mut self,
        from: HashedPeer,
        id: &MessageId,
        message: &RawMessage,
        content_key: u64,
    ) -> bool {
        if self.is_graylisted(&from) {
            // Graylisted by an earlier message of this RPC: the rest of it is not looked at.
            tracing::trace!(peer = %from, %id, "message from a graylisted peer dropped");
            return false;
        }
        let mode = self.config.validation_mode();
        let fingerprint = self.hasher.hash_one((
            content_key,
            message.signature.as_deref(),
            message.key.as_deref(),
        ));
        if self.failed_checks.contains(fingerprint) {
            self.counters.messages_invalid += 1;
            self.counters.invalid_signature_repeats += 1;
            tracing::debug!(peer = %from, %id, "copy of a message that failed validation dropped");
            self.invalid_message(from, id, &message.topic);
            return false;
        }
        let verifies = message.signature.is_some()
            && matches!(mode, ValidationMode::Strict | ValidationMode::Permissive);
        if verifies {
            let budget = self.config.max_signature_checks_per_heartbeat();
            let Some(state) = self.peers.get_mut(&from) else {
                return false;
            };
            let cost = wire::verification_cost(message);
            // A check starts while any budget is left (so a budget below one check's cost
            // still admits one per heartbeat), and is charged its whole cost.
            if state.signature_checks >= budget {
                self.counters.signature_checks_over_budget += 1;
                tracing::debug!(peer = %from, %id, budget, cost, "message over max_signature_checks_per_heartbeat dropped unverified");
                return false;
            }
            state.signature_checks = state.signature_checks.saturating_add(cost);
            self.counters.signatures_verified += 1;
        }
        if let Err(error) = wire::validate(mode, message) {
            self.counters.messages_invalid += 1;
            tracing::debug!(peer = %from, %id, %error, "invalid message dropped");
            self.failed_checks.insert(fingerprint);
            self.invalid_message(from, id, &message.topic);
            return false;
        }
        true
    }

    /// `from` sent a message that failed its authenticity check: P4 (P7 in topics without
    /// score parameters), and graylisting once its count reaches `max_invalid_signatures`.
    fn invalid_message(&mut self, from: HashedPeer, id: &MessageId, topic: &TopicHash) {
        self.score_rejected(&from, id, topic, RejectReason::InvalidSignature);
        let limit = self.config.max_invalid_signatures();
        let direct = self.direct_peers.contains(&from);
        let Some(state) = self.peers.get_mut(&from) else {
            return;
        };
        state.invalid_signatures = state.invalid_signatures.saturating_add(1);
        if state.invalid_signatures < limit || state.graylisted || direct {
            return;
        }
        state.graylisted = true;
        self.counters.peers_graylisted += 1;
        tracing::warn!(peer = %from, limit, "peer graylisted after repeated invalid messages");
        self.leave_all_meshes(&from, MeshChurn::Excluded);
        for fanout in self.fanout.values_mut() {
            fanout.remove(&from);
        }
        self.actions
            .push_back(super::Action::Disconnect { peer: *from.id() });
    }

    /// Whether `peer` is graylisted for invalid messages.
    pub(super) fn is_graylisted(&self, peer: &HashedPeer) -> bool {
        self.peers.get(peer).is_some_and(|s| s.graylisted)
    }
}
