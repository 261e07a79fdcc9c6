//! The slow-peer term (`P-slow`, not in the spec; libp2p-gossipsub 0.50 has the same term):
//! every RPC we had to drop because the peer did not read fast enough (full send queue or a
//! queued message that expired) adds 1 to the peer's slow-peer counter, which decays like the
//! other counters. The term is linear:
//!
//! ```text
//! P-slow = max(0, counter - slow_peer_threshold),   contribution = slow_peer_weight * P-slow
//! ```
//!
//! With the defaults (weight `-0.2`, threshold `0`, decay `0.2`), 50 drops weigh as much as one
//! behaviour penalty point, and a peer that catches up is forgiven within a few decay
//! intervals.

use libp2p_identity::PeerId;

use super::PeerScore;
use super::error::{Check, finite, non_negative, non_positive, unit_open};
use super::explain::Term;
use super::params::PeerScoreParams;
use super::peer_stats::term;

/// Default [`PeerScoreParams::slow_peer_weight`] (libp2p-gossipsub's).
pub(crate) const DEFAULT_SLOW_PEER_WEIGHT: f64 = -0.2;
/// Default [`PeerScoreParams::slow_peer_threshold`] (libp2p-gossipsub's).
pub(crate) const DEFAULT_SLOW_PEER_THRESHOLD: f64 = 0.0;
/// Default [`PeerScoreParams::slow_peer_decay`] (libp2p-gossipsub's).
pub(crate) const DEFAULT_SLOW_PEER_DECAY: f64 = 0.2;

/// Validates the slow-peer parameters.
pub(crate) fn check(params: &PeerScoreParams) -> Check {
    non_positive("slow_peer_weight", params.slow_peer_weight)?;
    non_negative("slow_peer_threshold", params.slow_peer_threshold)?;
    finite("slow_peer_decay", params.slow_peer_decay)?;
    if params.slow_peer_weight != 0.0 {
        unit_open("slow_peer_decay", params.slow_peer_decay)?;
    }
    Ok(())
}

/// The slow-peer term for a counter value.
pub(crate) fn slow_peer_term(counter: f64, params: &PeerScoreParams) -> Term {
    let excess = counter - params.slow_peer_threshold;
    let value = if excess > 0.0 { excess } else { 0.0 };
    term(counter, params.slow_peer_weight, value)
}

impl PeerScore {
    /// Adds `count` dropped RPCs to the slow-peer counter of `peer` (connected or retained).
    pub(crate) fn add_slow_peer_penalty(&mut self, peer: &PeerId, count: usize) {
        if let Some(stats) = self.peers.get_mut(peer) {
            stats.slow_peer_penalty += count as f64;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use web_time::Instant;

    use super::*;
    use crate::score::tests::{quiet_params, with_peer};
    use crate::score::{ScoreParamsError, TopicScoreParams};

    fn params() -> PeerScoreParams {
        PeerScoreParams {
            slow_peer_weight: -0.5,
            slow_peer_threshold: 2.0,
            slow_peer_decay: 0.5,
            ..quiet_params(TopicScoreParams::default())
        }
    }

    #[test]
    fn drops_above_the_threshold_lower_the_score_linearly() {
        let t0 = Instant::now();
        let (mut score, peer) = with_peer(params(), t0);
        score.add_slow_peer_penalty(&peer, 2);
        assert_eq!(score.score(&peer, t0), 0.0, "at the threshold");
        score.add_slow_peer_penalty(&peer, 4);
        assert_eq!(score.score(&peer, t0), -0.5 * 4.0);
        let breakdown = score.explain(&peer, t0).expect("known peer");
        assert_eq!(breakdown.slow_peer.counter, 6.0);
        assert_eq!(breakdown.slow_peer.contribution, -2.0);
        assert!(breakdown.to_string().contains("P-slow"));
        // Unknown peers are ignored.
        score.add_slow_peer_penalty(&PeerId::random(), 100);
    }

    #[test]
    fn the_counter_decays_and_a_record_with_it_is_retained() {
        let t0 = Instant::now();
        let (mut score, peer) = with_peer(params(), t0);
        score.refresh(t0);
        score.add_slow_peer_penalty(&peer, 10);
        score.refresh(t0 + Duration::from_secs(1));
        assert_eq!(
            score.explain(&peer, t0).expect("peer").slow_peer.counter,
            5.0
        );
        // A slow peer that disconnects is remembered (the record is not blank).
        score.remove_peer(&peer, t0 + Duration::from_secs(1));
        assert_eq!(score.tracked_peers(), 1);
    }

    #[test]
    fn parameters_are_validated() {
        let field = |f: fn(&mut PeerScoreParams)| {
            let mut p = PeerScoreParams::default();
            f(&mut p);
            match p.validate() {
                Err(ScoreParamsError::InvalidField { field, .. }) => field,
                other => panic!("expected an invalid field, got {other:?}"),
            }
        };
        assert_eq!(field(|p| p.slow_peer_weight = 0.1), "slow_peer_weight");
        assert_eq!(
            field(|p| p.slow_peer_threshold = -1.0),
            "slow_peer_threshold"
        );
        assert_eq!(field(|p| p.slow_peer_decay = 1.0), "slow_peer_decay");
        assert!(PeerScoreParams::default().validate().is_ok());
        let defaults = PeerScoreParams::default();
        assert_eq!(
            (
                defaults.slow_peer_weight,
                defaults.slow_peer_threshold,
                defaults.slow_peer_decay
            ),
            (-0.2, 0.0, 0.2)
        );
    }
}
