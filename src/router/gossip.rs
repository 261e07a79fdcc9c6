//! Gossip: IHAVE emission at the heartbeat, IHAVE/IWANT/IDONTWANT handling with per-heartbeat
//! budgets, and the control-message dispatch.

use web_time::Instant;

use rand::seq::SliceRandom;

use super::prehashed::HashedPeer;
use super::unwanted::{PeerSlot, Recorded};
use super::{Router, SendClass, Set};
use crate::types::{ControlAction, MessageId, PeerKind, TopicHash};

impl Router {
    /// Handles the control messages of an RPC from `from`, whose slot in the store of unwanted
    /// ids is `from_slot` (read with its state when the RPC arrived).
    pub(super) fn handle_control(
        &mut self,
        now: Instant,
        from: HashedPeer,
        from_slot: PeerSlot,
        kind: Option<PeerKind>,
        control: Vec<ControlAction>,
    ) {
        if control.is_empty() {
            return;
        }
        if !kind.is_some_and(PeerKind::supports_control) {
            self.counters.control_ignored += control.len() as u64;
            tracing::debug!(peer = %from, ?kind, "control messages from a peer without meshsub ignored");
            return;
        }
        // Below gossip_threshold: no IHAVE/IWANT either way.
        let gossip_ok = !self.below_gossip_threshold(&from);
        // `max_ihave_messages` counts RPCs carrying IHAVE (go's peerhave), not IHAVE entries:
        // one RPC may gossip many topics. Counted by the RPC's first IHAVE, before its check.
        let mut first_ihave = true;
        let mut iwant_ids = self.new_set();
        for action in control {
            match action {
                ControlAction::IHave { .. } | ControlAction::IWant { .. } if !gossip_ok => {
                    self.counters.ihave_ignored += 1;
                    tracing::debug!(peer = %from, "gossip from a peer below gossip_threshold ignored");
                }
                ControlAction::IHave { topic, message_ids } => {
                    let first = std::mem::replace(&mut first_ihave, false);
                    self.handle_ihave(from, &topic, message_ids, first, &mut iwant_ids)
                }
                ControlAction::IWant { message_ids } => self.handle_iwant(from, message_ids),
                ControlAction::Graft { topic } => self.handle_graft(now, from, topic),
                ControlAction::Prune {
                    topic,
                    peers,
                    backoff,
                } => self.handle_prune(now, from, &topic, peers, backoff),
                ControlAction::IDontWant { message_ids } => {
                    self.handle_idontwant(from, from_slot, message_ids)
                }
            }
        }
        if !iwant_ids.is_empty() {
            let message_ids: Vec<MessageId> = iwant_ids.into_iter().collect();
            let deadline = now + self.config.iwant_followup_time();
            self.promises
                .add(&mut self.rng, *from.id(), &message_ids, deadline);
            self.send_control(from, ControlAction::IWant { message_ids });
        }
    }

    /// Collects the ids of an IHAVE we have not seen into `iwant`, within the per-heartbeat
    /// budgets `max_ihave_messages` (IHAVEs per peer) and `max_ihave_length` (ids asked).
    /// `first`: the RPC's first IHAVE, which counts the RPC toward `max_ihave_messages`.
    fn handle_ihave(
        &mut self,
        from: HashedPeer,
        topic: &TopicHash,
        message_ids: Vec<MessageId>,
        first: bool,
        iwant: &mut Set<MessageId>,
    ) {
        let max_messages = self.config.max_ihave_messages();
        let max_length = self.config.max_ihave_length();
        let Some(state) = self.peers.get_mut(&from) else {
            return;
        };
        if first {
            state.ihave_received += 1;
        }
        if state.ihave_received > max_messages {
            self.counters.ihave_ignored += 1;
            tracing::debug!(peer = %from, "IHAVE over max_ihave_messages this heartbeat ignored");
            return;
        }
        // Ids looked at per heartbeat are bounded too (what `max_ihave_messages` IHAVEs of
        // `max_ihave_length` ids may show), so IHAVEs of ids we already have, which ask for
        // nothing, cannot make us look up ids without end.
        let allowance = max_length
            .saturating_mul(max_messages.max(1))
            .saturating_sub(state.ihave_examined);
        if state.iwant_asked >= max_length || allowance == 0 || !self.mesh.contains_key(topic) {
            self.counters.ihave_ignored += 1;
            tracing::trace!(peer = %from, %topic, "IHAVE ignored (budget spent or topic not joined)");
            return;
        }
        // The budget cuts the IHAVE before any per-id work: a random `budget` of its ids (a
        // partial shuffle, O(budget)) are looked at, the rest are dropped unexamined.
        let budget = (max_length - state.iwant_asked).min(allowance);
        let mut message_ids = message_ids;
        let candidates: &[MessageId] = if message_ids.len() > budget {
            let excess = message_ids.len() - budget;
            self.counters.ihave_ids_over_budget += excess as u64;
            tracing::debug!(peer = %from, %topic, excess, "IHAVE ids over max_ihave_length dropped");
            message_ids.partial_shuffle(&mut self.rng, budget).0
        } else {
            &message_ids
        };
        state.ihave_examined += candidates.len();
        let mut asked = 0;
        for id in candidates {
            if !self.seen.contains(id) && iwant.insert(id.clone()) {
                asked += 1;
            }
        }
        state.iwant_asked += asked;
    }

    /// Serves an IWANT from the message cache: only validated messages, each at most
    /// `gossip_retransmission` times per peer, and none the peer sent IDONTWANT for.
    fn handle_iwant(&mut self, from: HashedPeer, message_ids: Vec<MessageId>) {
        let max = self.config.gossip_retransmission();
        // One IWANT may not ask for more than an IHAVE may advertise.
        let limit = self.config.max_ihave_length();
        if message_ids.len() > limit {
            let skipped = (message_ids.len() - limit) as u64;
            self.counters.iwant_not_served += skipped;
            self.counters.iwant_over_cap += skipped;
        }
        for id in message_ids.into_iter().take(limit) {
            if self
                .peers
                .get(&from)
                .is_some_and(|s| self.unwanted.contains(&id, s.slot))
            {
                self.counters.iwant_unwanted += 1;
                tracing::trace!(peer = %from, %id, "IWANT for an id it sent IDONTWANT for not served");
                continue;
            }
            let cached = self.mcache.get(&id).is_some();
            match self.mcache.get_for_iwant(&id, *from.id(), max) {
                Some(message) => {
                    let message = message.clone();
                    self.counters.iwant_served += 1;
                    self.send_message(*from.id(), &id, &message, SendClass::Forward);
                }
                None => {
                    self.counters.iwant_not_served += 1;
                    if cached {
                        self.counters.iwant_not_allowed += 1;
                    } else {
                        self.counters.iwant_unknown += 1;
                    }
                    tracing::trace!(peer = %from, %id, "IWANT not served");
                }
            }
        }
        // Remembering transmissions is charged to the cache's byte bound.
        self.count_cache_evictions();
    }

    /// Records IDONTWANT ids (within `max_idontwant_messages` per heartbeat) and cancels any
    /// queued forward of them.
    fn handle_idontwant(
        &mut self,
        from: HashedPeer,
        from_slot: PeerSlot,
        message_ids: Vec<MessageId>,
    ) {
        for id in message_ids {
            if self.record_unwanted(from, from_slot, id) {
                self.counters.idontwant_received += 1;
            } else {
                self.counters.idontwant_ignored += 1;
            }
        }
    }

    /// `from` has message `id` (it said so with IDONTWANT, or sent us a copy): it is not sent
    /// `id` again (forward after validation, IWANT) and a send of it already queued to it is
    /// cancelled. A new id is recorded within the peer's `max_idontwant_messages` per
    /// heartbeat, which bounds what is retained; an id already recorded costs nothing. Returns
    /// `false` (nothing recorded) over the allowance. `slot` is `from`'s (a connected peer's):
    /// the store counts the allowance by slot, so `from`'s state is not looked up.
    pub(super) fn record_unwanted(
        &mut self,
        from: HashedPeer,
        slot: PeerSlot,
        id: MessageId,
    ) -> bool {
        let max = self.config.max_idontwant_messages();
        match self.unwanted.record(&id, slot, max, self.heartbeat_ticks) {
            Recorded::Already => return true,
            Recorded::Refused => return false,
            Recorded::New => {}
        }
        if self.cancel_forwards {
            self.actions.push_back(super::Action::CancelForward {
                peer: *from.id(),
                message_id: id,
            });
        }
        true
    }

    /// Heartbeat step: sends IHAVE for the recent messages of each mesh and fanout topic to
    /// `max(D_lazy, gossip_factor * candidates)` random non-mesh peers of the topic.
    pub(super) fn emit_gossip(&mut self) {
        let mut by_topic = self.mcache.gossip_ids();
        if by_topic.is_empty() {
            return;
        }
        let topics: Vec<TopicHash> = self
            .mesh
            .keys()
            .chain(self.fanout.keys())
            .filter(|t| by_topic.contains_key(*t))
            .cloned()
            .collect();
        let max_length = self.config.max_ihave_length();
        for topic in topics {
            let Some(mut ids) = by_topic.remove(&topic) else {
                continue;
            };
            let excluded = self.mesh.get(&topic).or_else(|| self.fanout.get(&topic));
            let mut candidates: Vec<HashedPeer> = self
                .gossipsub_peers_in(&topic)
                .into_iter()
                .filter(|p| {
                    !excluded.is_some_and(|set| set.contains(p))
                        && !self.direct_peers.contains(p)
                        && !self.below_gossip_threshold(p)
                        // It gets parts metadata, not message ids (Partial Messages).
                        && !self.wants_partial_only(p, &topic)
                })
                .collect();
            let count = self
                .config
                .gossip_lazy()
                .max((self.config.gossip_factor() * candidates.len() as f64) as usize);
            candidates.shuffle(&mut self.rng);
            candidates.truncate(count);
            let last = candidates.len().checked_sub(1);
            for (i, peer) in candidates.into_iter().enumerate() {
                if ids.len() > max_length {
                    ids.shuffle(&mut self.rng);
                }
                // The last peer takes the ids themselves rather than a copy.
                let message_ids: Vec<MessageId> = if Some(i) == last {
                    ids.truncate(max_length);
                    std::mem::take(&mut ids)
                } else {
                    ids.iter().take(max_length).cloned().collect()
                };
                self.send_control(
                    peer,
                    ControlAction::IHave {
                        topic: topic.clone(),
                        message_ids,
                    },
                );
            }
        }
    }
}
