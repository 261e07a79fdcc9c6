//! The send path and the router: what the behaviour observes on the per-peer send queues
//! (drops) is fed back into the router, and the router tells the behaviour which peers are
//! worth keeping a connection to.

use web_time::Instant;

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
        let failed = failed.normalized();
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
        let peer = self.hashed(*peer);
        if self.direct_peers.contains(&peer) {
            return true;
        }
        let Some(state) = self.peers.get(&peer) else {
            return false;
        };
        state.topics.iter().any(|topic| {
            self.mesh.contains_key(topic)
                || self.fanout.get(topic).is_some_and(|f| f.contains(&peer))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::router::Action;
    use crate::router::tests::{Harness, config};
    use crate::score::{PeerScoreParams, PeerScoreThresholds};
    use crate::types::TopicHash;

    fn slow_peer_events(actions: &[Action]) -> Vec<(PeerId, FailedMessages)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Event(Event::SlowPeer {
                    peer_id,
                    failed_messages,
                }) => Some((*peer_id, *failed_messages)),
                _ => None,
            })
            .collect()
    }

    fn failed(forward: usize, timeout: usize) -> FailedMessages {
        FailedMessages::new(0, forward, 0, timeout)
    }

    #[test]
    fn reported_drops_lower_the_score_and_emit_the_event() {
        let mut h = Harness::new(config().build().unwrap());
        h.router
            .with_peer_score(PeerScoreParams::default(), PeerScoreThresholds::default())
            .unwrap();
        let topic = Harness::topic();
        let peers = h.add_peers(2, &topic, true);
        h.drain();
        let (slow, fine) = (peers[0], peers[1]);
        assert_eq!(h.router.peer_score(&slow), Some(0.0));

        h.router.report_send_failures(h.now, slow, failed(3, 2));
        let events = slow_peer_events(&h.drain());
        assert_eq!(events, vec![(slow, failed(3, 2))]);
        // Default weight -0.2, threshold 0: five drops cost 1.
        let score = h.router.peer_score(&slow).unwrap();
        assert!((score - -1.0).abs() < 1e-9, "score {score}");
        assert_eq!(h.router.peer_score(&fine), Some(0.0));
        let breakdown = h.router.peer_score_breakdown(&slow).unwrap();
        assert_eq!(breakdown.slow_peer.counter, 5.0);

        // Nothing dropped: no event, no change.
        h.router
            .report_send_failures(h.now, fine, FailedMessages::default());
        assert!(slow_peer_events(&h.drain()).is_empty());
        assert_eq!(h.router.peer_score(&fine), Some(0.0));

        // The penalty decays with the other counters.
        for _ in 0..5 {
            h.now += Duration::from_secs(1);
            h.router.handle_timeout(h.now);
        }
        h.drain();
        let later = h.router.peer_score(&slow).unwrap();
        assert!(later > score, "{later} should have decayed from {score}");
    }

    #[test]
    fn reports_without_scoring_still_emit_the_event() {
        let mut h = Harness::new(config().build().unwrap());
        let topic = Harness::topic();
        let peer = h.add_peers(1, &topic, true)[0];
        h.drain();
        h.router.report_send_failures(h.now, peer, failed(0, 1));
        assert_eq!(slow_peer_events(&h.drain()), vec![(peer, failed(0, 1))]);
        assert_eq!(h.router.peer_score(&peer), None);
    }

    #[test]
    fn a_connection_is_wanted_for_shared_topics_and_direct_peers() {
        let mut h = Harness::new(config().build().unwrap());
        let topic = Harness::topic();
        let other = TopicHash::from_raw("other");
        let on_topic = h.add_peers(1, &topic, true)[0];
        let elsewhere = h.add_peers(1, &other, true)[0];
        assert!(!h.router.wants_connection(&on_topic), "not subscribed yet");
        h.router.subscribe(h.now, topic.clone()).unwrap();
        h.drain();
        assert!(h.router.wants_connection(&on_topic));
        assert!(!h.router.wants_connection(&elsewhere));
        assert!(!h.router.wants_connection(&PeerId::random()));
        h.router.add_direct_peer(elsewhere);
        assert!(h.router.wants_connection(&elsewhere));
        h.router.unsubscribe(h.now, &topic);
        assert!(!h.router.wants_connection(&on_topic));
    }
}
