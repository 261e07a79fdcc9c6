//! A peer's score taken apart term by term, for operators and tests.

use std::fmt;

use crate::types::TopicHash;

/// One term of the score function.
///
/// `contribution` is the term's value as it enters its sum: `weight * P`, where `P` is the
/// parameter derived from `counter` (capped, squared, deficit squared... see the field docs
/// of [`TopicScoreBreakdown`] and [`ScoreBreakdown`]). For topic terms it is taken *before*
/// the topic weight is applied; [`TopicScoreBreakdown::total`] applies it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Term {
    /// The raw tracked quantity (documented per term).
    pub counter: f64,
    /// The term's weight from the parameters.
    pub weight: f64,
    /// `weight * P`: what the term adds to its sum.
    pub contribution: f64,
}

/// The score a peer earns in one scored topic.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicScoreBreakdown {
    /// The topic.
    pub topic: TopicHash,
    /// The topic's weight (`topic_weight`).
    pub topic_weight: f64,
    /// Whether the peer is currently in our mesh for the topic.
    pub in_mesh: bool,
    /// `P1`: counter = whole quanta of time in the mesh (uncapped, 0 outside the mesh);
    /// `P1 = min(counter, time_in_mesh_cap)`.
    pub time_in_mesh: Term,
    /// `P2`: counter = first-delivery counter (capped on increment); `P2 = counter`.
    pub first_message_deliveries: Term,
    /// `P3`: counter = mesh-delivery counter; `P3 = (threshold - counter)^2` while the peer
    /// has been in the mesh for at least the activation time and the counter is below the
    /// threshold, else 0.
    pub mesh_message_deliveries: Term,
    /// `P3b`: counter = sticky mesh failure penalty; `P3b = counter`.
    pub mesh_failure_penalty: Term,
    /// `P4`: counter = invalid-delivery counter; `P4 = counter^2`.
    pub invalid_message_deliveries: Term,
    /// `topic_weight * (sum of the five contributions)`: what the topic adds to the topic sum.
    pub total: f64,
}

/// A peer's score and how it is made up.
///
/// `score == topic_total + application.contribution + ip_colocation.contribution +
/// behaviour_penalty.contribution + slow_peer.contribution`, and `topic_total_before_cap` is the sum of the topics'
/// [`total`](TopicScoreBreakdown::total)s.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreBreakdown {
    /// The score.
    pub score: f64,
    /// `false` while the peer is disconnected and its record is retained.
    pub connected: bool,
    /// The scored topics in which the peer has state, in topic order.
    pub topics: Vec<TopicScoreBreakdown>,
    /// Sum of the topics' totals.
    pub topic_total_before_cap: f64,
    /// The `topic_score_cap` parameter (0 = no cap).
    pub topic_score_cap: f64,
    /// The topic sum after the cap (the cap only lowers a positive sum).
    pub topic_total: f64,
    /// `P5`: counter = the application-specific score; `P5 = counter`.
    pub application: Term,
    /// `P6`: counter = the number of connected peers sharing this peer's most shared
    /// non-whitelisted IP (0 without IPs); `P6 = sum over its non-whitelisted IPs of
    /// (peers on the IP - threshold)^2`, for the IPs above the threshold.
    pub ip_colocation: Term,
    /// `P7`: counter = the behaviour penalty counter; `P7 = (counter - threshold)^2` above
    /// the threshold, else 0.
    pub behaviour_penalty: Term,
    /// Slow peer (not in the spec): counter = RPCs dropped because the peer did not read
    /// them (decaying); `P-slow = counter - threshold` above the threshold, else 0 (linear).
    pub slow_peer: Term,
}

fn term_row(f: &mut fmt::Formatter<'_>, name: &str, term: &Term) -> fmt::Result {
    writeln!(
        f,
        "    {name:<28} {:>14.4} {:>10.4} {:>14.4}",
        term.counter, term.weight, term.contribution
    )
}

impl fmt::Display for ScoreBreakdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.connected {
            "connected"
        } else {
            "disconnected, retained"
        };
        writeln!(f, "score {:.4} ({state})", self.score)?;
        writeln!(
            f,
            "    {:<28} {:>14} {:>10} {:>14}",
            "term", "counter", "weight", "contribution"
        )?;
        for topic in &self.topics {
            let mesh = if topic.in_mesh {
                "in mesh"
            } else {
                "not in mesh"
            };
            writeln!(
                f,
                "  topic {} (weight {}, {mesh}): total {:.4}",
                topic.topic, topic.topic_weight, topic.total
            )?;
            term_row(f, "P1  time in mesh", &topic.time_in_mesh)?;
            term_row(f, "P2  first deliveries", &topic.first_message_deliveries)?;
            term_row(f, "P3  mesh deliveries", &topic.mesh_message_deliveries)?;
            term_row(f, "P3b mesh failure penalty", &topic.mesh_failure_penalty)?;
            term_row(f, "P4  invalid messages", &topic.invalid_message_deliveries)?;
        }
        if self.topic_score_cap > 0.0 {
            writeln!(
                f,
                "  topics: sum {:.4}, cap {}, counted {:.4}",
                self.topic_total_before_cap, self.topic_score_cap, self.topic_total
            )?;
        } else {
            writeln!(f, "  topics: sum {:.4} (no cap)", self.topic_total)?;
        }
        term_row(f, "P5  application", &self.application)?;
        term_row(f, "P6  ip colocation", &self.ip_colocation)?;
        term_row(f, "P7  behaviour penalty", &self.behaviour_penalty)?;
        term_row(f, "P-slow slow peer", &self.slow_peer)
    }
}
