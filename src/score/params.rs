//! Peer-score parameters: global ([`PeerScoreParams`]) and per topic ([`TopicScoreParams`]).
//!
//! The spec (gossipsub v1.1, "Overview of New Parameters") gives constraints but no defaults;
//! go-libp2p-pubsub defines only the decay interval (1 s) and decay-to-zero (0.01). The
//! remaining defaults below are the values rust-libp2p's gossipsub ships, so configurations
//! ported from it behave the same. Real deployments should tune every value for their traffic.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::cidr::IpCidr;
use super::decay::{DEFAULT_DECAY_INTERVAL, DEFAULT_DECAY_TO_ZERO};
use super::error::{
    Check, ScoreParamsError, finite, non_negative, non_positive, positive, unit_open,
};
use super::slow_peer::{
    DEFAULT_SLOW_PEER_DECAY, DEFAULT_SLOW_PEER_THRESHOLD, DEFAULT_SLOW_PEER_WEIGHT,
};
use crate::types::TopicHash;

/// Parameters of the score a peer earns in one topic (`P1`..`P4`).
///
/// The topic's contribution to the score is
/// `topic_weight * (w1 P1 + w2 P2 + w3 P3 + w3b P3b + w4 P4)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicScoreParams {
    /// Spec `TopicWeight`: how much this topic contributes to the score. Must be `>= 0`.
    /// Default `0.5`.
    pub topic_weight: f64,

    /// Spec `TimeInMeshWeight` (`w1`): weight of `P1`, time in mesh. Must be `>= 0`.
    /// Default `1.0`.
    pub time_in_mesh_weight: f64,
    /// Spec `TimeInMeshQuantum`: time in the mesh that earns one point of `P1`. Must be
    /// non-zero. Default 1 ms.
    pub time_in_mesh_quantum: Duration,
    /// Spec `TimeInMeshCap`: maximum value of `P1`. Must be `> 0` when `w1` is non-zero.
    /// Default `3600.0`.
    pub time_in_mesh_cap: f64,

    /// Spec `FirstMessageDeliveriesWeight` (`w2`): weight of `P2`, first deliveries. Must be
    /// `>= 0`. Default `1.0`.
    pub first_message_deliveries_weight: f64,
    /// Spec `FirstMessageDeliveriesDecay`: decay factor of the `P2` counter, in (0, 1) when
    /// `w2` is non-zero. Default `0.5`.
    pub first_message_deliveries_decay: f64,
    /// Spec `FirstMessageDeliveriesCap`: maximum of the `P2` counter, applied on increment.
    /// Must be `> 0` when `w2` is non-zero. Default `2000.0`.
    pub first_message_deliveries_cap: f64,

    /// Spec `MeshMessageDeliveriesWeight` (`w3`): weight of `P3`, the squared mesh delivery
    /// deficit. Must be `<= 0`. Default `-1.0`.
    pub mesh_message_deliveries_weight: f64,
    /// Spec `MeshMessageDeliveriesDecay`: decay factor of the `P3` counter, in (0, 1) when
    /// `w3` is non-zero. Default `0.5`.
    pub mesh_message_deliveries_decay: f64,
    /// Spec `MeshMessageDeliveriesCap`: maximum of the `P3` counter, applied on increment.
    /// Must be `> 0` and `>= mesh_message_deliveries_threshold` when `w3` is non-zero.
    /// Default `100.0`.
    pub mesh_message_deliveries_cap: f64,
    /// Spec `MeshMessageDeliveriesThreshold`: deliveries below which `P3` penalises a mesh
    /// peer. Must be `> 0` when `w3` is non-zero. Default `20.0`.
    pub mesh_message_deliveries_threshold: f64,
    /// Spec `MeshMessageDeliveryWindow`: how long after the first delivery was validated a
    /// duplicate from a mesh peer still counts as a "near-first" delivery. Must be non-zero
    /// when `w3` is non-zero. Default 10 ms.
    pub mesh_message_deliveries_window: Duration,
    /// Spec `MeshMessageDeliveriesActivation`: time a peer must have been in the mesh before
    /// `P3` applies. Must be non-zero when `w3` is non-zero. Default 5 s.
    pub mesh_message_deliveries_activation: Duration,

    /// Spec `MeshFailurePenaltyWeight` (`w3b`): weight of `P3b`, the sticky penalty added
    /// when a peer leaves the mesh with a delivery deficit. Must be `<= 0`. Default `-1.0`.
    pub mesh_failure_penalty_weight: f64,
    /// Spec `MeshFailurePenaltyDecay`: decay factor of `P3b`, in (0, 1) when `w3b` is
    /// non-zero. Default `0.5`.
    pub mesh_failure_penalty_decay: f64,

    /// Spec `InvalidMessageDeliveriesWeight` (`w4`): weight of `P4`, the squared count of
    /// invalid messages. Must be `<= 0`. Default `-1.0`.
    pub invalid_message_deliveries_weight: f64,
    /// Spec `InvalidMessageDeliveriesDecay`: decay factor of the `P4` counter. Must be in
    /// (0, 1). Default `0.3`.
    pub invalid_message_deliveries_decay: f64,
}

impl Default for TopicScoreParams {
    fn default() -> Self {
        TopicScoreParams {
            topic_weight: 0.5,
            time_in_mesh_weight: 1.0,
            time_in_mesh_quantum: Duration::from_millis(1),
            time_in_mesh_cap: 3600.0,
            first_message_deliveries_weight: 1.0,
            first_message_deliveries_decay: 0.5,
            first_message_deliveries_cap: 2000.0,
            mesh_message_deliveries_weight: -1.0,
            mesh_message_deliveries_decay: 0.5,
            mesh_message_deliveries_cap: 100.0,
            mesh_message_deliveries_threshold: 20.0,
            mesh_message_deliveries_window: Duration::from_millis(10),
            mesh_message_deliveries_activation: Duration::from_secs(5),
            mesh_failure_penalty_weight: -1.0,
            mesh_failure_penalty_decay: 0.5,
            invalid_message_deliveries_weight: -1.0,
            invalid_message_deliveries_decay: 0.3,
        }
    }
}

impl TopicScoreParams {
    /// Checks the constraints of the spec and of go-libp2p-pubsub. Every float must be finite;
    /// weights must have the documented sign; decays, caps, thresholds and durations are only
    /// checked when their weight is non-zero (except `P4`'s decay, always checked, as in go).
    ///
    /// The error is [`ScoreParamsError::InvalidField`]; [`PeerScoreParams::validate`] reports
    /// it as [`ScoreParamsError::InvalidTopicField`] with the topic.
    pub fn validate(&self) -> Result<(), ScoreParamsError> {
        self.check()
            .map_err(|(field, reason)| ScoreParamsError::InvalidField { field, reason })
    }

    fn check(&self) -> Check {
        non_negative("topic_weight", self.topic_weight)?;

        // P1
        non_negative("time_in_mesh_weight", self.time_in_mesh_weight)?;
        finite("time_in_mesh_cap", self.time_in_mesh_cap)?;
        if self.time_in_mesh_quantum.is_zero() {
            return Err(("time_in_mesh_quantum", "must be non-zero".into()));
        }
        if self.time_in_mesh_weight != 0.0 {
            positive("time_in_mesh_cap", self.time_in_mesh_cap)?;
        }

        // P2
        non_negative(
            "first_message_deliveries_weight",
            self.first_message_deliveries_weight,
        )?;
        finite(
            "first_message_deliveries_decay",
            self.first_message_deliveries_decay,
        )?;
        finite(
            "first_message_deliveries_cap",
            self.first_message_deliveries_cap,
        )?;
        if self.first_message_deliveries_weight != 0.0 {
            unit_open(
                "first_message_deliveries_decay",
                self.first_message_deliveries_decay,
            )?;
            positive(
                "first_message_deliveries_cap",
                self.first_message_deliveries_cap,
            )?;
        }

        // P3
        non_positive(
            "mesh_message_deliveries_weight",
            self.mesh_message_deliveries_weight,
        )?;
        finite(
            "mesh_message_deliveries_decay",
            self.mesh_message_deliveries_decay,
        )?;
        finite(
            "mesh_message_deliveries_cap",
            self.mesh_message_deliveries_cap,
        )?;
        finite(
            "mesh_message_deliveries_threshold",
            self.mesh_message_deliveries_threshold,
        )?;
        if self.mesh_message_deliveries_weight != 0.0 {
            unit_open(
                "mesh_message_deliveries_decay",
                self.mesh_message_deliveries_decay,
            )?;
            positive(
                "mesh_message_deliveries_cap",
                self.mesh_message_deliveries_cap,
            )?;
            positive(
                "mesh_message_deliveries_threshold",
                self.mesh_message_deliveries_threshold,
            )?;
            if self.mesh_message_deliveries_cap < self.mesh_message_deliveries_threshold {
                return Err((
                    "mesh_message_deliveries_cap",
                    format!(
                        "must be >= mesh_message_deliveries_threshold ({}), got {}",
                        self.mesh_message_deliveries_threshold, self.mesh_message_deliveries_cap
                    ),
                ));
            }
            if self.mesh_message_deliveries_window.is_zero() {
                return Err((
                    "mesh_message_deliveries_window",
                    "must be non-zero when mesh_message_deliveries_weight is non-zero".into(),
                ));
            }
            if self.mesh_message_deliveries_activation.is_zero() {
                return Err((
                    "mesh_message_deliveries_activation",
                    "must be non-zero when mesh_message_deliveries_weight is non-zero".into(),
                ));
            }
        }

        // P3b
        non_positive(
            "mesh_failure_penalty_weight",
            self.mesh_failure_penalty_weight,
        )?;
        finite(
            "mesh_failure_penalty_decay",
            self.mesh_failure_penalty_decay,
        )?;
        if self.mesh_failure_penalty_weight != 0.0 {
            unit_open(
                "mesh_failure_penalty_decay",
                self.mesh_failure_penalty_decay,
            )?;
        }

        // P4
        non_positive(
            "invalid_message_deliveries_weight",
            self.invalid_message_deliveries_weight,
        )?;
        unit_open(
            "invalid_message_deliveries_decay",
            self.invalid_message_deliveries_decay,
        )?;
        Ok(())
    }
}

/// Global peer-score parameters: the per-topic parameters, the topic cap, and `P5`..`P7`.
///
/// Turn scoring on with [`Behaviour::with_peer_score`](crate::Behaviour::with_peer_score);
/// [`Behaviour::peer_score_breakdown`](crate::Behaviour::peer_score_breakdown) then explains a
/// peer's score term by term.
///
/// ```
/// use std::time::Duration;
///
/// use gossipsub::{
///     Behaviour, Config, IdentTopic, MessageAuthenticity, PeerScoreParams, PeerScoreThresholds,
///     TopicScoreParams, score_parameter_decay,
/// };
/// use libp2p::identity::Keypair;
///
/// let topic = IdentTopic::new("blocks");
/// let mut params = PeerScoreParams::default();
/// params.topics.insert(
///     topic.hash(),
///     TopicScoreParams {
///         topic_weight: 1.0,
///         // Each rejected message costs -10 x (count)^2; the count decays to 1 % in 10 min.
///         invalid_message_deliveries_weight: -10.0,
///         invalid_message_deliveries_decay: score_parameter_decay(
///             Duration::from_secs(600),
///             params.decay_interval,
///         ),
///         // No mesh-delivery penalties until tuned to the topic's message rate.
///         mesh_message_deliveries_weight: 0.0,
///         mesh_failure_penalty_weight: 0.0,
///         ..TopicScoreParams::default()
///     },
/// );
/// params.validate()?;
///
/// let key = Keypair::generate_ed25519();
/// let mut gossipsub = Behaviour::new(MessageAuthenticity::Signed(key), Config::default())?;
/// gossipsub.with_peer_score(params, PeerScoreThresholds::default())?;
///
/// // Values outside the spec's ranges are refused with a typed error.
/// let negative_cap = PeerScoreParams { topic_score_cap: -1.0, ..PeerScoreParams::default() };
/// assert!(negative_cap.validate().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PeerScoreParams {
    /// Score parameters per topic. Topics without an entry do not contribute to the score.
    /// Default: none.
    pub topics: HashMap<TopicHash, TopicScoreParams>,
    /// Spec `TopicCap`: upper bound of the summed topic contributions; it only limits a
    /// positive sum. `0` means no cap. Must be `>= 0`. Default `3600.0`.
    pub topic_score_cap: f64,

    /// Spec `AppSpecificWeight` (`w5`): weight of `P5`, the application-specific score set
    /// with the router. Must be finite (the spec expects it positive; go allows any sign).
    /// Default `10.0`.
    pub app_specific_weight: f64,

    /// Spec `IPColocationFactorWeight` (`w6`): weight of `P6`, the squared surplus of peers
    /// sharing an IP. Must be `<= 0` (0 disables it). Default `-5.0`.
    pub ip_colocation_factor_weight: f64,
    /// Spec `IPColocationFactorThreshold`: number of peers that may share an IP before `P6`
    /// applies. Must be `>= 1` when `w6` is non-zero. Default `10.0`.
    pub ip_colocation_factor_threshold: f64,
    /// IP networks exempt from `P6` (CIDR ranges as go takes; a single address is a `/32` or
    /// `/128` network: `IpCidr::from(ip)`). Default: empty.
    pub ip_colocation_factor_whitelist: HashSet<IpCidr>,

    /// Spec `BehaviourPenaltyWeight` (`w7`): weight of `P7`, the squared excess of the
    /// behaviour penalty counter. Must be `<= 0`. Default `-10.0`.
    pub behaviour_penalty_weight: f64,
    /// Behaviour penalty counter value up to which `P7` is zero (go
    /// `BehaviourPenaltyThreshold`). Must be `>= 0`. Default `0.0`.
    pub behaviour_penalty_threshold: f64,
    /// Spec `BehaviourPenaltyDecay`: decay factor of the `P7` counter, in (0, 1) when `w7` is
    /// non-zero. Default `0.2`.
    pub behaviour_penalty_decay: f64,

    /// Weight of the slow-peer term (not in the spec; libp2p-gossipsub's
    /// `slow_peer_weight`): each RPC dropped because the peer did not read it adds 1 to a
    /// counter, and `weight * (counter - slow_peer_threshold)` is added above the threshold.
    /// Must be `<= 0` (0 disables it). Default `-0.2`: 50 drops weigh one behaviour penalty
    /// point.
    pub slow_peer_weight: f64,
    /// Slow-peer counter value up to which the term is zero. Must be `>= 0`. Default `0.0`.
    pub slow_peer_threshold: f64,
    /// Decay factor of the slow-peer counter, in (0, 1) when the weight is non-zero.
    /// Default `0.2`.
    pub slow_peer_decay: f64,

    /// Spec `DecayInterval`: how often counters decay. Must be at least 1 s (go).
    /// Default 1 s.
    pub decay_interval: Duration,
    /// Spec `DecayToZero`: a decayed counter below this becomes 0. Must be in (0, 1).
    /// Default `0.01`.
    pub decay_to_zero: f64,
    /// Spec `RetainScore`: how long the record of a disconnected peer with a non-positive
    /// score is kept, so that reconnecting does not reset it. Default 1 hour.
    pub retain_score: Duration,
}

impl Default for PeerScoreParams {
    fn default() -> Self {
        PeerScoreParams {
            topics: HashMap::new(),
            topic_score_cap: 3600.0,
            app_specific_weight: 10.0,
            ip_colocation_factor_weight: -5.0,
            ip_colocation_factor_threshold: 10.0,
            ip_colocation_factor_whitelist: HashSet::new(),
            behaviour_penalty_weight: -10.0,
            behaviour_penalty_threshold: 0.0,
            behaviour_penalty_decay: 0.2,
            slow_peer_weight: DEFAULT_SLOW_PEER_WEIGHT,
            slow_peer_threshold: DEFAULT_SLOW_PEER_THRESHOLD,
            slow_peer_decay: DEFAULT_SLOW_PEER_DECAY,
            decay_interval: DEFAULT_DECAY_INTERVAL,
            decay_to_zero: DEFAULT_DECAY_TO_ZERO,
            retain_score: Duration::from_secs(3600),
        }
    }
}

impl PeerScoreParams {
    /// Checks every topic's parameters (in topic order, so the reported error is
    /// reproducible) and the global ones, following the spec and go-libp2p-pubsub.
    pub fn validate(&self) -> Result<(), ScoreParamsError> {
        let mut topics: Vec<&TopicHash> = self.topics.keys().collect();
        topics.sort();
        for topic in topics {
            if let Some(params) = self.topics.get(topic) {
                params.validate().map_err(|e| e.in_topic(topic))?;
            }
        }
        self.check()
            .map_err(|(field, reason)| ScoreParamsError::InvalidField { field, reason })
    }

    fn check(&self) -> Check {
        non_negative("topic_score_cap", self.topic_score_cap)?;
        finite("app_specific_weight", self.app_specific_weight)?;

        non_positive(
            "ip_colocation_factor_weight",
            self.ip_colocation_factor_weight,
        )?;
        finite(
            "ip_colocation_factor_threshold",
            self.ip_colocation_factor_threshold,
        )?;
        if self.ip_colocation_factor_weight != 0.0 && self.ip_colocation_factor_threshold < 1.0 {
            return Err((
                "ip_colocation_factor_threshold",
                format!(
                    "must be >= 1 when ip_colocation_factor_weight is non-zero, got {}",
                    self.ip_colocation_factor_threshold
                ),
            ));
        }

        non_positive("behaviour_penalty_weight", self.behaviour_penalty_weight)?;
        non_negative(
            "behaviour_penalty_threshold",
            self.behaviour_penalty_threshold,
        )?;
        finite("behaviour_penalty_decay", self.behaviour_penalty_decay)?;
        if self.behaviour_penalty_weight != 0.0 {
            unit_open("behaviour_penalty_decay", self.behaviour_penalty_decay)?;
        }

        super::slow_peer::check(self)?;

        if self.decay_interval < Duration::from_secs(1) {
            return Err((
                "decay_interval",
                format!("must be at least 1s, got {:?}", self.decay_interval),
            ));
        }
        unit_open("decay_to_zero", self.decay_to_zero)?;
        Ok(())
    }
}
