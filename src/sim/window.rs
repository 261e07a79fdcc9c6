//! Conservative parallel execution of one run: the nodes are split into contiguous
//! partitions ([`super::partition`]), and time into windows no longer than the smallest
//! latency a link can have (the lookahead). Whatever a node does in a window reaches a node
//! of another partition at least one lookahead later, so after the window: each partition
//! runs its window alone (on its own thread), and the events that cross partitions are
//! handed over between windows. A window also ends at the next global event, which runs
//! alone, before the node events of its instant.
//!
//! Events are keyed by (time, creator, creator's count) and every random draw of a node's
//! links comes from that node's own generator, so every node sees the same inputs in the
//! same order for any number of partitions: the results do not depend on
//! [`SimConfig::threads`].

use super::config::SimConfig;
use super::network::Network;
use super::partition::Part;

/// The number of partitions of a run of `nodes` nodes: [`SimConfig::threads`] (0: the
/// available cores), at most one per node, and 1 if some link may have no latency (no
/// lookahead).
pub(crate) fn partitions(cfg: &SimConfig, nodes: usize) -> usize {
    let threads = match cfg.threads {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        t => t,
    };
    if cfg.link.latency.min_latency() == 0 {
        return 1;
    }
    threads.clamp(1, nodes.max(1))
}

impl Network {
    /// Runs global events and windows of node events until the end of the run.
    pub(super) fn run_loop(&mut self) {
        // One partition needs no lookahead: its window runs until the next global event.
        let lookahead = if self.lanes.len() > 1 {
            self.shared.cfg.link.latency.min_latency()
        } else {
            u64::MAX
        };
        let stop = self.end.saturating_add(1);
        loop {
            self.exchange();
            let global = self.global.peek_time().unwrap_or(u64::MAX);
            let node = self
                .lanes
                .iter_mut()
                .filter_map(|l| l.queue.peek_time())
                .min()
                .unwrap_or(u64::MAX);
            if global.min(node) > self.end {
                break;
            }
            if global <= node {
                self.handle_global();
                continue;
            }
            let until = node.saturating_add(lookahead).min(global).min(stop);
            self.run_window(until);
        }
    }

    /// Moves the events every partition created for other partitions into their queues.
    fn exchange(&mut self) {
        for p in 0..self.lanes.len() {
            if self.lanes[p].outbox.is_empty() {
                continue;
            }
            let mut outbox = std::mem::take(&mut self.lanes[p].outbox);
            for (time, creator, count, event) in outbox.drain(..) {
                let q = self.shared.partition_of(event.node());
                self.lanes[q]
                    .queue
                    .push_keyed(time, creator, count, event);
            }
            self.lanes[p].outbox = outbox;
        }
    }

    /// Runs every partition's events before `until`, the partitions with work in parallel.
    fn run_window(&mut self, until: u64) {
        let shared = &self.shared;
        let block = shared.block;
        let mut nodes = &mut self.nodes[..];
        let mut state = &mut self.state[..];
        let mut busy = Vec::with_capacity(self.lanes.len());
        for (p, lane) in self.lanes.iter_mut().enumerate() {
            let len = block.min(nodes.len());
            let (n, rest) = std::mem::take(&mut nodes).split_at_mut(len);
            nodes = rest;
            let (s, rest) = std::mem::take(&mut state).split_at_mut(len);
            state = rest;
            if lane.queue.peek_time().is_some_and(|t| t < until) {
                busy.push(Part {
                    shared,
                    start: p * block,
                    nodes: n,
                    state: s,
                    lane,
                });
            }
        }
        let Some(mut first) = busy.pop() else {
            return;
        };
        if busy.is_empty() {
            first.run_until(until);
            return;
        }
        std::thread::scope(|scope| {
            for mut part in busy {
                scope.spawn(move || part.run_until(until));
            }
            first.run_until(until);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sim::{LatencyModel, LinkConfig};

    fn cfg(threads: usize, latency: LatencyModel) -> SimConfig {
        SimConfig {
            threads,
            link: LinkConfig {
                latency,
                ..LinkConfig::default()
            },
            ..SimConfig::default()
        }
    }

    #[test]
    fn partitions_follow_threads_nodes_and_lookahead() {
        let ms = |m| LatencyModel::Fixed(Duration::from_millis(m));
        assert_eq!(partitions(&cfg(3, ms(10)), 100), 3);
        assert_eq!(partitions(&cfg(1, ms(10)), 100), 1);
        // At most one partition per node.
        assert_eq!(partitions(&cfg(8, ms(10)), 5), 5);
        assert!(partitions(&cfg(0, ms(10)), 100) >= 1);
        // A link without latency leaves no lookahead: one partition.
        assert_eq!(partitions(&cfg(4, ms(0)), 100), 1);
        let uniform = LatencyModel::Uniform {
            min: Duration::ZERO,
            max: Duration::from_millis(5),
        };
        assert_eq!(partitions(&cfg(4, uniform), 100), 1);
        // A region matrix with a short row gives that pair no latency.
        let ragged = LatencyModel::Regions(vec![
            vec![Duration::from_millis(5), Duration::from_millis(5)],
            vec![Duration::from_millis(5)],
        ]);
        assert_eq!(partitions(&cfg(4, ragged), 100), 1);
        assert_eq!(
            partitions(&cfg(4, LatencyModel::default_regions()), 100),
            4
        );
    }

    /// The partitions of a network cover every node once, in order.
    #[test]
    fn partitions_cover_every_node() {
        for (nodes, threads) in [(10, 3), (9, 3), (7, 7), (100, 2), (5, 8)] {
            let net = Network::new(SimConfig {
                nodes,
                threads,
                ..SimConfig::default()
            });
            let block = net.shared.block;
            assert_eq!(net.lanes.len(), nodes.div_ceil(block));
            assert!(net.lanes.len() <= threads);
            for node in 0..nodes {
                assert!(net.shared.partition_of(node as u32) < net.lanes.len());
            }
        }
    }
}
