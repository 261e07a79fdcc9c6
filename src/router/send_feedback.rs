//! The send path and the router: what the behaviour observes on the per-peer send queues
//! (drops) is fed back into the router, and the router tells the behaviour which peers are
//! worth keeping a connection to.

use std::time::Instant;

use libp2p_identity::PeerId;

use super::Router;
use crate::event::{Event, FailedMessages};

impl Router {
    /// Reports RPCs to `peer` that were dropped since the last report because the peer did
    /// not read them fast enough (full queue per class, or expired). Call at most once per
    /// heartbeat per peer. With peer scoring, each drop adds 1 to the peer's slow-peer counter;
    /// an [`Event::SlowPeer`] is emitted. Nothing happens when nothing was dropped.
    pub fn report_send_failures(&mut self, now: Instant, peer: PeerId, failed: FailedMessages) {
        self.touch(now);
        let total = failed.total();
        if total == 0 {
            return;
        }
        if let Some(scoring) = self.scoring.as_mut() {
            scoring.score.add_slow_peer_penalty(&peer, total);
        }
        tracing::debug!(
            %peer,
            publish = failed.publish,
            forward = failed.forward,
            control = failed.control,
            timeout = failed.timeout,
            "slow peer: RPCs to it were dropped"
        );
        self.emit(Event::SlowPeer {
            peer_id: peer,
            failed_messages: failed,
        });
    }

    /// Whether the connection to `peer` is worth keeping for gossipsub: it is a direct peer,
    /// in one of our meshes or fanouts, or subscribed to a topic we are subscribed to. Costs
    /// O(topics of the peer).
    pub fn wants_connection(&self, peer: &PeerId) -> bool {
        if self.direct_peers.contains(peer) {
            return true;
        }
        let Some(state) = self.peers.get(peer) else {
            return false;
        };
        state.topics.iter().any(|topic| {
            self.mesh.contains_key(topic)
                || self.fanout.get(topic).is_some_and(|f| f.contains(peer))
        })
    }
}
