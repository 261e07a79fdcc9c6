//! The router configuration and score parameters of the v1.1 evaluation
//! (libp2p/gossipsub-hardening test plans, `scripts/configs/1k-attack-*.json`).

use std::time::Duration;

use crate::config::{Config, ConfigBuilder};
use crate::score::{PeerScoreParams, PeerScoreThresholds, TopicScoreParams};
use crate::types::TopicHash;

/// The evaluation's overlay: D 8, D_lo 6, D_hi 12, D_score 6, D_lazy 12, heartbeat 1 s
/// (first after 100 ms), flood publishing, opportunistic grafting every 60 heartbeats, seen
/// ids kept for [`EVALUATION_SEEN_TTL`].
/// Messages are anonymous and validated (our Ethereum preset's message handling).
pub fn evaluation_config() -> Config {
    evaluation_builder()
        .build()
        .expect("the evaluation's configuration is valid")
}

/// The builder of [`evaluation_config`], for variants.
pub(crate) fn evaluation_builder() -> ConfigBuilder {
    let mut builder = ConfigBuilder::ethereum();
    builder
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .retain_scores(6)
        .gossip_lazy(12)
        .heartbeat_interval(Duration::from_secs(1))
        .heartbeat_initial_delay(Duration::from_millis(100))
        .flood_publish(true)
        .opportunistic_graft_ticks(60)
        .seen_ttl(EVALUATION_SEEN_TTL);
    builder
}

/// How long the evaluation's honest nodes remember seen message ids: go-libp2p-pubsub's
/// default `TimeCacheDuration`, which the test plans leave unchanged (the Ethereum preset's
/// 768 s would keep every id of a whole attack run in every honest router).
pub const EVALUATION_SEEN_TTL: Duration = Duration::from_secs(120);

/// The evaluation's total message rate (the "blocks" topic, 120 msg/s).
pub const EVALUATION_RATE: f64 = 120.0;

/// The evaluation's P3 activation as these runs count it: 1 min plus the 30 s warm-up.
pub const EVALUATION_ACTIVATION: Duration = Duration::from_secs(90);

/// The evaluation's P3 threshold (mesh message deliveries), for [`EVALUATION_RATE`] and
/// [`EVALUATION_ACTIVATION`]; see `AttackConfig::p3_scale` for other workloads.
pub const EVALUATION_P3_THRESHOLD: f64 = 10.0;

/// The evaluation's topic parameters ("blocks" topic, 120 msg/s). `activation` is P3's
/// activation time; the test plans add the warm-up to their 1 min.
pub fn evaluation_topic_params(activation: Duration) -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 0.25,
        time_in_mesh_weight: 0.0027,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 3600.0,
        first_message_deliveries_weight: 0.664,
        first_message_deliveries_decay: 0.9916,
        first_message_deliveries_cap: 1500.0,
        mesh_message_deliveries_weight: -0.25,
        mesh_message_deliveries_decay: 0.997,
        mesh_message_deliveries_cap: 400.0,
        mesh_message_deliveries_threshold: EVALUATION_P3_THRESHOLD,
        mesh_message_deliveries_window: Duration::from_millis(5),
        mesh_message_deliveries_activation: activation,
        mesh_failure_penalty_weight: -0.25,
        mesh_failure_penalty_decay: 0.997,
        invalid_message_deliveries_weight: -99.0,
        invalid_message_deliveries_decay: 0.9994,
    }
}

/// Weight of the behaviour penalty (P7). The evaluation leaves P7 off; the IHAVE-flood and
/// GRAFT-flood scenarios (not in the evaluation) need it. With the threshold of 2 and the
/// graylist at -10 000, a peer is graylisted at 12 penalties (decaying 1 % a second).
pub const BEHAVIOUR_PENALTY_WEIGHT: f64 = -100.0;

/// The evaluation's global score parameters for `topics` (plus P7, see
/// [`BEHAVIOUR_PENALTY_WEIGHT`]) and its thresholds: gossip -4000, publish -5000, graylist
/// -10 000, accept-PX 0, opportunistic graft 0; no IP colocation penalty, no topic cap,
/// decay every 1 s to zero below 0.01, scores retained 30 s.
pub fn evaluation_score(
    topics: &[TopicHash],
    activation: Duration,
) -> (PeerScoreParams, PeerScoreThresholds) {
    let params = PeerScoreParams {
        topics: topics
            .iter()
            .map(|t| (t.clone(), evaluation_topic_params(activation)))
            .collect(),
        topic_score_cap: 0.0,
        app_specific_weight: 0.0,
        ip_colocation_factor_weight: 0.0,
        behaviour_penalty_weight: BEHAVIOUR_PENALTY_WEIGHT,
        behaviour_penalty_threshold: 2.0,
        behaviour_penalty_decay: 0.99,
        decay_interval: Duration::from_secs(1),
        decay_to_zero: 0.01,
        retain_score: Duration::from_secs(30),
        ..PeerScoreParams::default()
    };
    let thresholds = PeerScoreThresholds {
        gossip_threshold: -4000.0,
        publish_threshold: -5000.0,
        graylist_threshold: -10_000.0,
        accept_px_threshold: 0.0,
        opportunistic_graft_threshold: 0.0,
    };
    (params, thresholds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_run_of_the_degradation_keeps_the_degraded_links() {
        use crate::sim::attacks::{AttackConfig, Scenario};
        let attack = AttackConfig::small(Scenario::Degradation);
        let reference = attack.baseline();
        assert_eq!(reference.sybils, 0);
        assert_eq!(reference.sim_config().link, attack.sim_config().link);
        assert!(attack.sim_config().link.loss > 0.0);
        let plain = AttackConfig::small(Scenario::Censorship).baseline();
        assert_eq!(plain.sim_config().link.loss, 0.0);
    }

    #[test]
    fn p3_scale_is_one_at_the_evaluations_size_and_follows_rate_and_activation() {
        use crate::sim::attacks::{AttackConfig, Scenario};
        assert_eq!(
            AttackConfig::evaluation(Scenario::Censorship).p3_scale(),
            1.0
        );
        let small = AttackConfig::small(Scenario::Censorship);
        let expected = 8.0 / 120.0 * (20.0 / 90.0);
        assert!((small.p3_scale() - expected).abs() < 1e-12);
        let mut unscaled = small.clone();
        unscaled.p3_scale = Some(1.0);
        assert_eq!(unscaled.p3_scale(), 1.0);
        // The baseline of a run keeps its scale.
        assert_eq!(small.baseline().p3_scale(), small.p3_scale());
    }

    #[test]
    fn evaluation_parameters_are_valid() {
        let c = evaluation_config();
        assert_eq!((c.mesh_n(), c.mesh_n_low(), c.mesh_n_high()), (8, 6, 12));
        let (p, t) = evaluation_score(&[TopicHash::from("t")], Duration::from_secs(90));
        p.validate().expect("valid params");
        t.validate().expect("valid thresholds");
    }

    /// The evaluation's nodes keep go-libp2p-pubsub's default seen TTL (2 minutes), not the
    /// Ethereum preset's 768 s: with the longer TTL every honest router of a 1,000-node run
    /// remembered every id of the whole run.
    #[test]
    fn evaluation_seen_ttl_is_go_default() {
        assert_eq!(evaluation_config().seen_ttl(), Duration::from_secs(120));
    }
}
