//! Score thresholds: the score levels at which the router changes how it treats a peer.

use super::error::{Check, ScoreParamsError, finite, non_negative, non_positive};

/// The score thresholds of gossipsub v1.1 ("Score Thresholds").
///
/// Defaults are those rust-libp2p ships (go has none).
#[derive(Debug, Clone, PartialEq)]
pub struct PeerScoreThresholds {
    /// Spec `GossipThreshold`: below it no gossip is emitted to the peer and its gossip is
    /// ignored. Must be `<= 0`. Default `-10.0`.
    pub gossip_threshold: f64,
    /// Spec `PublishThreshold`: below it our own messages are not flood-published to the peer.
    /// Must be `<= gossip_threshold`. Default `-50.0`.
    pub publish_threshold: f64,
    /// Spec `GraylistThreshold`: below it every RPC from the peer is ignored. Must be
    /// `<= publish_threshold`. Default `-80.0`.
    pub graylist_threshold: f64,
    /// Spec `AcceptPXThreshold`: peer exchange from peers below it is ignored. Must be `>= 0`.
    /// Default `10.0`.
    pub accept_px_threshold: f64,
    /// Spec `OpportunisticGraftThreshold`: when the median mesh score is below it, better
    /// peers are grafted opportunistically. Must be `>= 0`. Default `20.0`.
    pub opportunistic_graft_threshold: f64,
}

impl Default for PeerScoreThresholds {
    fn default() -> Self {
        PeerScoreThresholds {
            gossip_threshold: -10.0,
            publish_threshold: -50.0,
            graylist_threshold: -80.0,
            accept_px_threshold: 10.0,
            opportunistic_graft_threshold: 20.0,
        }
    }
}

impl PeerScoreThresholds {
    /// Checks `graylist <= publish <= gossip <= 0`, `accept_px >= 0` and
    /// `opportunistic_graft >= 0`, all finite (go's rules; the spec asks for strict
    /// inequalities, which go and rust-libp2p do not enforce).
    pub fn validate(&self) -> Result<(), ScoreParamsError> {
        self.check()
            .map_err(|(field, reason)| ScoreParamsError::InvalidThreshold { field, reason })
    }

    fn check(&self) -> Check {
        non_positive("gossip_threshold", self.gossip_threshold)?;
        finite("publish_threshold", self.publish_threshold)?;
        if self.publish_threshold > self.gossip_threshold {
            return Err((
                "publish_threshold",
                format!(
                    "must be <= gossip_threshold ({}), got {}",
                    self.gossip_threshold, self.publish_threshold
                ),
            ));
        }
        finite("graylist_threshold", self.graylist_threshold)?;
        if self.graylist_threshold > self.publish_threshold {
            return Err((
                "graylist_threshold",
                format!(
                    "must be <= publish_threshold ({}), got {}",
                    self.publish_threshold, self.graylist_threshold
                ),
            ));
        }
        non_negative("accept_px_threshold", self.accept_px_threshold)?;
        non_negative(
            "opportunistic_graft_threshold",
            self.opportunistic_graft_threshold,
        )?;
        Ok(())
    }
}
