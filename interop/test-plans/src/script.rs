//! `params.json`: the experiment script (test-plans `script_instruction.py`).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// A node of the experiment, `0..node_count`.
pub type NodeId = i32;

/// The content of `params.json` (`ExperimentParams` in `experiment.py`).
#[derive(Debug, Clone, Deserialize)]
pub struct ExperimentParams {
    /// The instructions every node runs, in order.
    pub script: Vec<Instruction>,
}

impl ExperimentParams {
    /// Reads and parses a `params.json` file.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Self::from_json(&text)
    }

    /// Parses the JSON text of a `params.json` file.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("parsing params: {e}"))
    }

    /// The GossipSub parameters `node` is initialised with: the first `initGossipSub` that
    /// applies to it (at the top level or inside an `ifNodeIDEquals` naming it), if any.
    pub fn gossipsub_params(&self, node: NodeId) -> Option<&GossipSubParams> {
        fn find(i: &Instruction, node: NodeId) -> Option<&GossipSubParams> {
            match i {
                Instruction::InitGossipSub { gossip_sub_params } => {
                    Some(gossip_sub_params.as_ref())
                }
                Instruction::IfNodeIdEquals {
                    node_id,
                    instruction,
                } if *node_id == node => find(instruction, node),
                _ => None,
            }
        }
        self.script.iter().find_map(|i| find(i, node))
    }
}

/// One script instruction, tagged by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
pub enum Instruction {
    /// Connect to each of these nodes (before the next instruction).
    #[serde(rename = "connect")]
    Connect {
        /// The nodes to dial.
        #[serde(rename = "connectTo")]
        connect_to: Vec<NodeId>,
    },
    /// Run `instruction` only on node `node_id`.
    #[serde(rename = "ifNodeIDEquals")]
    IfNodeIdEquals {
        /// The node that runs it.
        #[serde(rename = "nodeID")]
        node_id: NodeId,
        /// The instruction.
        instruction: Box<Instruction>,
    },
    /// Wait until this many seconds have elapsed since the start, handling traffic meanwhile.
    #[serde(rename = "waitUntil")]
    WaitUntil {
        /// Seconds since the node started.
        #[serde(rename = "elapsedSeconds")]
        elapsed_seconds: u64,
    },
    /// Publish a message whose first 8 bytes are `message_id` (big-endian).
    #[serde(rename = "publish")]
    Publish {
        /// The message id, written into the payload.
        #[serde(rename = "messageID")]
        message_id: u64,
        /// The payload size.
        #[serde(rename = "messageSizeBytes")]
        message_size_bytes: usize,
        /// The topic.
        #[serde(rename = "topicID")]
        topic_id: String,
    },
    /// Subscribe to a topic (`partial`: request partial messages).
    #[serde(rename = "subscribeToTopic")]
    SubscribeToTopic {
        /// The topic.
        #[serde(rename = "topicID")]
        topic_id: String,
        /// Whether partial messages are requested.
        #[serde(default)]
        partial: bool,
    },
    /// Delay the validation verdict of every message on a topic.
    #[serde(rename = "setTopicValidationDelay")]
    SetTopicValidationDelay {
        /// The topic.
        #[serde(rename = "topicID")]
        topic_id: String,
        /// The delay in seconds.
        #[serde(rename = "delaySeconds")]
        delay_seconds: f64,
    },
    /// Initialise GossipSub with these parameters (applied when the node starts).
    #[serde(rename = "initGossipSub")]
    InitGossipSub {
        /// go-libp2p-pubsub `GossipSubParams`, durations in nanoseconds.
        #[serde(rename = "gossipSubParams", default)]
        gossip_sub_params: Box<GossipSubParams>,
    },
    /// Add the parts of a partial message (a bitmap) this node holds.
    #[serde(rename = "addPartialMessage")]
    AddPartialMessage {
        /// Bitmap of the parts held.
        parts: u8,
        /// The topic.
        #[serde(rename = "topicID")]
        topic_id: String,
        /// The group id.
        #[serde(rename = "groupID")]
        group_id: u64,
    },
    /// Publish the partial message of a group.
    #[serde(rename = "publishPartial")]
    PublishPartial {
        /// The topic.
        #[serde(rename = "topicID")]
        topic_id: String,
        /// The group id.
        #[serde(rename = "groupID")]
        group_id: u64,
        /// Only to these nodes (fanout), when given.
        #[serde(rename = "publishToNodeIDs", default)]
        publish_to_node_ids: Option<Vec<NodeId>>,
    },
}

/// go-libp2p-pubsub's `GossipSubParams` as the harness writes them: every field optional,
/// durations in nanoseconds (JSON numbers, possibly fractional). Absent fields keep the
/// implementation's defaults.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct GossipSubParams {
    #[serde(rename = "D")]
    pub d: Option<usize>,
    #[serde(rename = "Dlo")]
    pub d_lo: Option<usize>,
    #[serde(rename = "Dhi")]
    pub d_hi: Option<usize>,
    #[serde(rename = "Dscore")]
    pub d_score: Option<usize>,
    #[serde(rename = "Dout")]
    pub d_out: Option<usize>,
    pub history_length: Option<usize>,
    pub history_gossip: Option<usize>,
    #[serde(rename = "Dlazy")]
    pub d_lazy: Option<usize>,
    pub gossip_factor: Option<f64>,
    pub gossip_retransmission: Option<u32>,
    pub heartbeat_initial_delay: Option<f64>,
    pub heartbeat_interval: Option<f64>,
    pub slow_heartbeat_warning: Option<f64>,
    #[serde(rename = "FanoutTTL")]
    pub fanout_ttl: Option<f64>,
    pub prune_peers: Option<usize>,
    pub prune_backoff: Option<f64>,
    pub unsubscribe_backoff: Option<f64>,
    pub connectors: Option<usize>,
    pub max_pending_connections: Option<usize>,
    pub connection_timeout: Option<f64>,
    pub direct_connect_ticks: Option<u64>,
    pub direct_connect_initial_delay: Option<f64>,
    pub opportunistic_graft_ticks: Option<u64>,
    pub opportunistic_graft_peers: Option<usize>,
    pub graft_flood_threshold: Option<f64>,
    #[serde(rename = "MaxIHaveLength")]
    pub max_ihave_length: Option<usize>,
    #[serde(rename = "MaxIHaveMessages")]
    pub max_ihave_messages: Option<usize>,
    #[serde(rename = "MaxIDontWantLength")]
    pub max_idontwant_length: Option<usize>,
    #[serde(rename = "MaxIDontWantMessages")]
    pub max_idontwant_messages: Option<usize>,
    #[serde(rename = "IWantFollowupTime")]
    pub iwant_followup_time: Option<f64>,
    #[serde(rename = "IDontWantMessageThreshold")]
    pub idontwant_message_threshold: Option<usize>,
    #[serde(rename = "IDontWantMessageTTL")]
    pub idontwant_message_ttl: Option<f64>,
}

/// A go duration in nanoseconds as a [`Duration`]; `None` for negative, non-finite or
/// absurd (over a year) values.
pub fn nanos(value: f64) -> Option<Duration> {
    const YEAR_NANOS: f64 = 365.0 * 24.0 * 3600.0 * 1e9;
    (value.is_finite() && (0.0..=YEAR_NANOS).contains(&value))
        .then(|| Duration::from_nanos(value as u64))
}

impl GossipSubParams {
    /// The names of the fields that are set but that `supported` does not list: the
    /// parameters an implementation ignores (reported on stderr).
    pub fn unsupported(&self, supported: &[&str]) -> Vec<&'static str> {
        let set: [(&'static str, bool); 7] = [
            (
                "SlowHeartbeatWarning",
                self.slow_heartbeat_warning.is_some(),
            ),
            ("Connectors", self.connectors.is_some()),
            (
                "MaxPendingConnections",
                self.max_pending_connections.is_some(),
            ),
            ("ConnectionTimeout", self.connection_timeout.is_some()),
            (
                "DirectConnectInitialDelay",
                self.direct_connect_initial_delay.is_some(),
            ),
            ("MaxIDontWantLength", self.max_idontwant_length.is_some()),
            ("IDontWantMessageTTL", self.idontwant_message_ttl.is_some()),
        ];
        let more: [(&'static str, bool); 4] = [
            ("MaxIHaveLength", self.max_ihave_length.is_some()),
            (
                "MaxIDontWantMessages",
                self.max_idontwant_messages.is_some(),
            ),
            ("DirectConnectTicks", self.direct_connect_ticks.is_some()),
            ("PrunePeers", self.prune_peers.is_some()),
        ];
        set.into_iter()
            .chain(more)
            .filter(|(name, is_set)| *is_set && !supported.contains(name))
            .map(|(name, _)| name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every instruction kind of `script_instruction.py`, as `run.py` writes them
    /// (`model_dump(exclude_none=True)`).
    #[test]
    fn every_instruction_parses() {
        let json = r#"{"script": [
            {"type": "ifNodeIDEquals", "nodeID": 3, "instruction":
                {"type": "initGossipSub", "gossipSubParams":
                    {"HeartbeatInitialDelay": 100400000, "D": 8, "Dlazy": 0, "GossipFactor": 0.0,
                     "FanoutTTL": 6e10, "IDontWantMessageThreshold": 1024}}},
            {"type": "setTopicValidationDelay", "topicID": "a-subnet", "delaySeconds": 0.005},
            {"type": "connect", "connectTo": [1, 7]},
            {"type": "subscribeToTopic", "topicID": "a-subnet"},
            {"type": "subscribeToTopic", "topicID": "p", "partial": true},
            {"type": "waitUntil", "elapsedSeconds": 120},
            {"type": "ifNodeIDEquals", "nodeID": 2, "instruction":
                {"type": "publish", "messageID": 5, "topicID": "a-subnet", "messageSizeBytes": 98304}},
            {"type": "addPartialMessage", "parts": 255, "topicID": "p", "groupID": 17},
            {"type": "publishPartial", "topicID": "p", "groupID": 17},
            {"type": "publishPartial", "topicID": "p", "groupID": 17, "publishToNodeIDs": [1, 2]}
        ]}"#;
        let params = ExperimentParams::from_json(json).unwrap();
        assert_eq!(params.script.len(), 10);
        let gs = params.gossipsub_params(3).unwrap();
        assert_eq!(gs.d, Some(8));
        assert_eq!(gs.d_lazy, Some(0));
        assert_eq!(gs.gossip_factor, Some(0.0));
        assert_eq!(
            gs.heartbeat_initial_delay.and_then(nanos),
            Some(Duration::from_micros(100_400))
        );
        assert_eq!(gs.fanout_ttl.and_then(nanos), Some(Duration::from_secs(60)));
        assert!(params.gossipsub_params(4).is_none());
        assert!(matches!(
            &params.script[4],
            Instruction::SubscribeToTopic { partial: true, .. }
        ));
        assert!(matches!(
            &params.script[3],
            Instruction::SubscribeToTopic { partial: false, .. }
        ));
        assert!(matches!(
            &params.script[9],
            Instruction::PublishPartial { publish_to_node_ids: Some(ids), .. } if ids == &[1, 2]
        ));
    }

    #[test]
    fn unknown_instructions_and_bad_durations_are_refused() {
        assert!(ExperimentParams::from_json(r#"{"script":[{"type":"reboot"}]}"#).is_err());
        assert_eq!(nanos(-1.0), None);
        assert_eq!(nanos(f64::NAN), None);
        assert_eq!(nanos(1e30), None);
    }

    #[test]
    fn unsupported_parameters_are_named() {
        let p = GossipSubParams {
            connectors: Some(8),
            prune_peers: Some(16),
            d: Some(8),
            ..Default::default()
        };
        assert_eq!(p.unsupported(&["PrunePeers"]), vec!["Connectors"]);
        assert_eq!(p.unsupported(&[]), vec!["Connectors", "PrunePeers"]);
    }
}
