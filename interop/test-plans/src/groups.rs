//! The node's copies of partial-message groups, with a lifecycle: a group is forgotten once
//! nothing (no script instruction, no partial message from a peer) touched it for
//! [`GROUP_IDLE_TTL`], except a group the script added parts to and has not published yet
//! (`partial-messages-chain` adds 16 groups at once and publishes the last one 32 s later);
//! peers open new groups on a topic only while it holds fewer than [`MAX_REMOTE_GROUPS`] that
//! peers opened. Groups the script names are always admitted (the script bounds them).
//!
//! The libraries bound their own group state the same way (go-libp2p-pubsub and ours: 255
//! peer-opened groups per topic, a TTL of a few heartbeats after the last publish); the
//! application's copy, 8 KiB per group once filled, must not outlive them unboundedly.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::partial::PartialGroup;

/// A group untouched for this long is forgotten. The harness' scenarios finish a group
/// within milliseconds of its last publish; a peer talking about a forgotten group again
/// opens a new, empty copy (which asks for every part).
pub const GROUP_IDLE_TTL: Duration = Duration::from_secs(30);

/// Peers open groups (an empty copy each, up to 8 KiB once filled) only while a topic holds
/// fewer than this many peer-opened groups (the harness uses at most 16 per topic).
pub const MAX_REMOTE_GROUPS: usize = 1024;

/// Idle groups are looked for at most this often.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

struct Entry {
    group: PartialGroup,
    last_active: Instant,
    /// Opened by a peer's partial message and not named by the script since.
    remote: bool,
    /// Given parts by the script and not published since: kept whatever its idle time.
    pinned: bool,
}

#[derive(Default)]
struct Topic {
    groups: HashMap<u64, Entry>,
    remote: usize,
}

/// Our copy of every live group, by topic and group id.
pub struct Groups {
    topics: HashMap<String, Topic>,
    next_sweep: Option<Instant>,
}

impl Default for Groups {
    fn default() -> Self {
        Self::new()
    }
}

impl Groups {
    /// No groups.
    pub fn new() -> Self {
        Groups {
            topics: HashMap::new(),
            next_sweep: None,
        }
    }

    /// The group `addPartialMessage` names: created empty if absent, adopted if a peer opened
    /// it, and kept until the script publishes it.
    pub fn added(&mut self, topic: &str, id: u64, now: Instant) -> &mut PartialGroup {
        let entry = self.local(topic, id, now);
        entry.pinned = true;
        &mut entry.group
    }

    /// The group `publishPartial` names: created empty if absent, adopted if a peer opened it;
    /// from now on forgotten when idle.
    pub fn published(&mut self, topic: &str, id: u64, now: Instant) -> &mut PartialGroup {
        let entry = self.local(topic, id, now);
        entry.pinned = false;
        &mut entry.group
    }

    fn local(&mut self, topic: &str, id: u64, now: Instant) -> &mut Entry {
        self.sweep(now);
        let t = self.topics.entry(topic.to_string()).or_default();
        let entry = t.groups.entry(id).or_insert_with(|| Entry {
            group: PartialGroup::new(id),
            last_active: now,
            remote: false,
            pinned: false,
        });
        if entry.remote {
            entry.remote = false;
            t.remote = t.remote.saturating_sub(1);
        }
        entry.last_active = now;
        entry
    }

    /// The group a peer's partial message is about: created empty if absent and the topic
    /// holds fewer than [`MAX_REMOTE_GROUPS`] peer-opened groups; `None` otherwise.
    pub fn remote(&mut self, topic: &str, id: u64, now: Instant) -> Option<&mut PartialGroup> {
        self.sweep(now);
        let t = self.topics.entry(topic.to_string()).or_default();
        if !t.groups.contains_key(&id) {
            if t.remote >= MAX_REMOTE_GROUPS {
                return None;
            }
            t.remote += 1;
            t.groups.insert(
                id,
                Entry {
                    group: PartialGroup::new(id),
                    last_active: now,
                    remote: true,
                    pinned: false,
                },
            );
        }
        let entry = t.groups.get_mut(&id)?;
        entry.last_active = now;
        Some(&mut entry.group)
    }

    /// Our copy of a group, if live.
    pub fn get(&self, topic: &str, id: u64) -> Option<&PartialGroup> {
        self.topics.get(topic)?.groups.get(&id).map(|e| &e.group)
    }

    /// Live groups on `topic`: (all, peer-opened).
    pub fn count(&self, topic: &str) -> (usize, usize) {
        self.topics
            .get(topic)
            .map_or((0, 0), |t| (t.groups.len(), t.remote))
    }

    /// Forgets groups idle for [`GROUP_IDLE_TTL`] (at most once per [`SWEEP_INTERVAL`]).
    fn sweep(&mut self, now: Instant) {
        if self.next_sweep.is_some_and(|at| now < at) {
            return;
        }
        self.next_sweep = Some(now + SWEEP_INTERVAL);
        for t in self.topics.values_mut() {
            let mut freed = 0;
            t.groups.retain(|id, e| {
                let live =
                    e.pinned || now.saturating_duration_since(e.last_active) < GROUP_IDLE_TTL;
                if !live {
                    tracing::debug!(group_id = id, "partial group forgotten: idle");
                    freed += usize::from(e.remote);
                }
                live
            });
            t.remote = t.remote.saturating_sub(freed);
        }
        self.topics.retain(|_, t| !t.groups.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_groups_are_forgotten_and_activity_keeps_them() {
        let t0 = Instant::now();
        let mut g = Groups::new();
        g.published("t", 1, t0)
            .merge(&PartialGroup::filled(1, 0xff));
        g.remote("t", 2, t0).expect("room");
        assert_eq!(g.count("t"), (2, 1));
        // Group 1 is touched at 20 s; group 2 is not.
        let _ = g.published("t", 1, t0 + Duration::from_secs(20));
        let _ = g.published("u", 9, t0 + GROUP_IDLE_TTL + Duration::from_secs(1));
        assert_eq!(g.count("t"), (1, 0), "group 2 idle for the TTL: gone");
        assert!(
            g.get("t", 1).is_some_and(PartialGroup::complete),
            "group 1 kept"
        );
        let _ = g.published("u", 9, t0 + Duration::from_secs(60));
        assert_eq!(g.count("t"), (0, 0));
        assert!(g.get("t", 1).is_none());
    }

    /// `partial-messages-chain` adds every group at the start and publishes the last one
    /// 32 s later (16 groups, 2 s apart): an added group waits for its publish however long.
    /// Before, group 15 was forgotten as idle and never completed (seen in a 3-run table).
    #[test]
    fn an_added_group_is_kept_until_the_script_publishes_it() {
        let t0 = Instant::now();
        let mut g = Groups::new();
        g.added("chain", 15, t0)
            .merge(&PartialGroup::filled(15, 0b1));
        let publish_at = t0 + GROUP_IDLE_TTL * 3;
        let _ = g.published("other", 0, publish_at - Duration::from_secs(1));
        assert_eq!(
            g.get("chain", 15).map(PartialGroup::bitmap),
            Some(0b1),
            "still held when its publish comes"
        );
        assert_eq!(g.published("chain", 15, publish_at).bitmap(), 0b1);
        let _ = g.published("other", 0, publish_at + GROUP_IDLE_TTL);
        assert!(
            g.get("chain", 15).is_none(),
            "published, then idle: forgotten"
        );
    }

    #[test]
    fn peers_open_at_most_max_remote_groups_per_topic_and_the_script_adopts_them() {
        let now = Instant::now();
        let mut g = Groups::new();
        for id in 0..MAX_REMOTE_GROUPS as u64 {
            assert!(g.remote("t", id, now).is_some());
        }
        assert!(g.remote("t", u64::MAX, now).is_none(), "over the bound");
        assert!(
            g.remote("t", 5, now).is_some(),
            "a live group stays reachable"
        );
        assert!(g.remote("other", 0, now).is_some(), "per topic");
        // The script names group 5: no longer peer-opened, so a peer can open one more.
        let _ = g.published("t", 5, now);
        assert_eq!(g.count("t"), (MAX_REMOTE_GROUPS, MAX_REMOTE_GROUPS - 1));
        assert!(g.remote("t", u64::MAX, now).is_some());
        assert!(g.remote("t", u64::MAX - 1, now).is_none());
        // Script groups are never refused.
        let _ = g.published("t", u64::MAX - 2, now);
        assert_eq!(g.count("t").0, MAX_REMOTE_GROUPS + 2);
        // Once idle, the peer-opened ones free their slots.
        let later = now + GROUP_IDLE_TTL;
        assert!(g.remote("t", u64::MAX - 1, later).is_some());
        assert_eq!(g.count("t"), (1, 1));
    }
}
