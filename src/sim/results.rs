//! The results of a run: delivery ratio, latency percentiles, duplicates, bytes by class, mesh
//! degrees over time; a summary table and CSV output.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use super::metrics::{NodeBytes, Recorder};

/// The outcome of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageResult {
    /// Index of the publishing node.
    pub publisher: usize,
    /// Topic number.
    pub topic: usize,
    /// Publish time since the start of the run.
    pub published_at: Duration,
    /// Nodes expected to deliver it (subscribed and online at publish time, still there).
    pub expected: usize,
    /// Nodes that delivered it.
    pub delivered: usize,
    /// Copies received over all nodes, first copies included.
    pub receipts: u64,
    /// Median delivery latency.
    pub p50: Duration,
    /// 99th percentile delivery latency.
    pub p99: Duration,
    /// Largest delivery latency.
    pub max: Duration,
}

/// Mesh degrees of every online subscribed node in every topic at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshSample {
    /// Time since the start of the run.
    pub at: Duration,
    /// `histogram[d]` is the number of (node, topic) meshes of degree `d`.
    pub histogram: Vec<u32>,
}

impl MeshSample {
    /// Number of meshes sampled.
    pub fn count(&self) -> u64 {
        self.histogram.iter().map(|c| u64::from(*c)).sum()
    }

    /// Smallest and largest degree, if any mesh was sampled.
    pub fn min_max(&self) -> Option<(usize, usize)> {
        let min = self.histogram.iter().position(|c| *c > 0)?;
        let max = self.histogram.iter().rposition(|c| *c > 0)?;
        Some((min, max))
    }

    /// Mean degree.
    pub fn mean(&self) -> f64 {
        let sum: u64 = self
            .histogram
            .iter()
            .enumerate()
            .map(|(d, c)| d as u64 * u64::from(*c))
            .sum();
        sum as f64 / self.count().max(1) as f64
    }

    /// Fraction of meshes with degree in `[lo, hi]`.
    pub fn fraction_within(&self, lo: usize, hi: usize) -> f64 {
        let inside: u64 = self
            .histogram
            .iter()
            .enumerate()
            .filter(|(d, _)| (lo..=hi).contains(d))
            .map(|(_, c)| u64::from(*c))
            .sum();
        inside as f64 / self.count().max(1) as f64
    }
}

/// Latency percentiles over all deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Maximum.
    pub max: Duration,
}

/// Everything measured in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    /// Number of nodes.
    pub nodes: usize,
    /// Simulated time.
    pub simulated: Duration,
    /// Publishes that failed (no subscribed peer known yet).
    pub publish_failures: u64,
    /// Per message outcome, in publish order.
    pub messages: Vec<MessageResult>,
    /// All delivery latencies in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Latency percentiles.
    pub latency: Latency,
    /// `copies[k]`: (node, message) pairs of delivered messages where the node received `k`
    /// copies (saturating at 255).
    pub copies: Vec<u64>,
    /// Bytes sent by each node.
    pub bytes: Vec<NodeBytes>,
    /// Mesh degree samples over time.
    pub mesh: Vec<MeshSample>,
    /// RPCs sent and lost on links.
    pub rpcs_sent: u64,
    /// RPCs lost on links.
    pub rpcs_lost: u64,
    /// Events processed.
    pub events: u64,
    /// A hash over every delivery (message, node, latency), byte counter and mesh sample:
    /// equal digests mean identical runs.
    pub digest: u64,
}

impl Results {
    pub(crate) fn build(
        mut rec: Recorder,
        mesh: Vec<MeshSample>,
        simulated: Duration,
        events: u64,
    ) -> Results {
        let nodes = rec.bytes.len();
        let mut messages = Vec::with_capacity(rec.messages.len());
        let mut all = Vec::new();
        let mut copies = vec![0u64; 256];
        for record in &mut rec.messages {
            let expected = record.flags.iter().filter(|f| **f != 0).count();
            for (flags, c) in record.flags.iter().zip(&record.copies) {
                if *flags == 3 {
                    copies[usize::from(*c)] += 1;
                }
            }
            record.latencies_us.sort_unstable();
            let l = &record.latencies_us;
            messages.push(MessageResult {
                publisher: record.publisher as usize,
                topic: record.topic as usize,
                published_at: Duration::from_nanos(record.published_at),
                expected,
                delivered: l.len(),
                receipts: record.receipts,
                p50: us(percentile(l, 0.50)),
                p99: us(percentile(l, 0.99)),
                max: us(l.last().copied().unwrap_or(0)),
            });
            all.extend_from_slice(l);
            record.flags = Vec::new();
            record.copies = Vec::new();
            record.latencies_us = Vec::new();
        }
        while copies.len() > 1 && copies.last() == Some(&0) {
            copies.pop();
        }
        all.sort_unstable();
        let latency = Latency {
            p50: us(percentile(&all, 0.50)),
            p90: us(percentile(&all, 0.90)),
            p99: us(percentile(&all, 0.99)),
            max: us(all.last().copied().unwrap_or(0)),
        };
        for i in 0..rec.bytes.len() {
            let b = rec.bytes[i];
            rec.mix(b.data ^ b.gossip.rotate_left(16) ^ b.mesh.rotate_left(32) ^ b.other);
        }
        for s in &mesh {
            for (d, c) in s.histogram.iter().enumerate() {
                rec.mix((d as u64) << 32 | u64::from(*c));
            }
        }
        Results {
            nodes,
            simulated,
            publish_failures: rec.publish_failures,
            messages,
            latencies_us: all,
            latency,
            copies,
            bytes: rec.bytes,
            mesh,
            rpcs_sent: rec.rpcs_sent,
            rpcs_lost: rec.rpcs_lost,
            events,
            digest: rec.digest,
        }
    }

    /// Deliveries over expected deliveries (1.0 when nothing was expected).
    pub fn delivery_ratio(&self) -> f64 {
        let expected: usize = self.messages.iter().map(|m| m.expected).sum();
        let delivered: usize = self.messages.iter().map(|m| m.delivered).sum();
        if expected == 0 {
            1.0
        } else {
            delivered as f64 / expected as f64
        }
    }

    /// Copies received beyond the first, per delivery.
    pub fn duplicates_per_delivery(&self) -> f64 {
        let receipts: u64 = self.messages.iter().map(|m| m.receipts).sum();
        let delivered: u64 = self.messages.iter().map(|m| m.delivered as u64).sum();
        receipts.saturating_sub(delivered) as f64 / delivered.max(1) as f64
    }

    /// Mean bytes sent per node, by class.
    pub fn mean_bytes(&self) -> NodeBytes {
        let n = self.bytes.len().max(1) as u64;
        let sum = self
            .bytes
            .iter()
            .fold(NodeBytes::default(), |a, b| NodeBytes {
                data: a.data + b.data,
                gossip: a.gossip + b.gossip,
                mesh: a.mesh + b.mesh,
                other: a.other + b.other,
            });
        NodeBytes {
            data: sum.data / n,
            gossip: sum.gossip / n,
            mesh: sum.mesh / n,
            other: sum.other / n,
        }
    }

    /// Writes one CSV line per message.
    pub fn write_messages_csv(&self, mut out: impl Write) -> io::Result<()> {
        writeln!(
            out,
            "message,publisher,topic,published_at_ms,expected,delivered,duplicates,p50_ms,p99_ms,max_ms"
        )?;
        for (i, m) in self.messages.iter().enumerate() {
            writeln!(
                out,
                "{i},{},{},{:.3},{},{},{},{:.3},{:.3},{:.3}",
                m.publisher,
                m.topic,
                ms(m.published_at),
                m.expected,
                m.delivered,
                m.receipts.saturating_sub(m.delivered as u64),
                ms(m.p50),
                ms(m.p99),
                ms(m.max)
            )?;
        }
        Ok(())
    }

    /// Writes one CSV line per mesh sample: time, count, min, mean, max, then the histogram.
    pub fn write_mesh_csv(&self, mut out: impl Write) -> io::Result<()> {
        writeln!(out, "at_s,meshes,min,mean,max,histogram")?;
        for s in &self.mesh {
            let (min, max) = s.min_max().unwrap_or((0, 0));
            let hist: Vec<String> = s.histogram.iter().map(u32::to_string).collect();
            writeln!(
                out,
                "{:.3},{},{min},{:.3},{max},{}",
                s.at.as_secs_f64(),
                s.count(),
                s.mean(),
                hist.join(" ")
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Results {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expected: usize = self.messages.iter().map(|m| m.expected).sum();
        let delivered: usize = self.messages.iter().map(|m| m.delivered).sum();
        let b = self.mean_bytes();
        let secs = self.simulated.as_secs_f64().max(1e-9);
        let rate = |x: u64| x as f64 / secs / 1024.0;
        writeln!(f, "{:<28} {}", "nodes", self.nodes)?;
        writeln!(f, "{:<28} {:.1} s", "simulated time", secs)?;
        writeln!(f, "{:<28} {}", "messages published", self.messages.len())?;
        writeln!(f, "{:<28} {}", "publish failures", self.publish_failures)?;
        writeln!(f, "{:<28} {delivered} / {expected}", "deliveries")?;
        writeln!(f, "{:<28} {:.6}", "delivery ratio", self.delivery_ratio())?;
        let l = &self.latency;
        writeln!(
            f,
            "{:<28} p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            "latency",
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.max)
        )?;
        writeln!(
            f,
            "{:<28} {:.3}",
            "duplicates per delivery",
            self.duplicates_per_delivery()
        )?;
        writeln!(
            f,
            "{:<28} data {:.1}, gossip {:.1}, mesh {:.2}, other {:.2} (KiB/s)",
            "mean upload per node",
            rate(b.data),
            rate(b.gossip),
            rate(b.mesh),
            rate(b.other)
        )?;
        let max_total = self.bytes.iter().map(NodeBytes::total).max().unwrap_or(0);
        writeln!(
            f,
            "{:<28} {:.1} KiB/s",
            "max upload of a node",
            rate(max_total)
        )?;
        writeln!(
            f,
            "{:<28} {} sent, {} lost",
            "rpcs", self.rpcs_sent, self.rpcs_lost
        )?;
        if let Some(s) = self.mesh.last() {
            let (min, max) = s.min_max().unwrap_or((0, 0));
            writeln!(
                f,
                "{:<28} min {min}, mean {:.2}, max {max} (at {:.0} s)",
                "mesh degree (last sample)",
                s.mean(),
                s.at.as_secs_f64()
            )?;
        }
        writeln!(f, "{:<28} {}", "events", self.events)?;
        write!(f, "{:<28} {:016x}", "digest", self.digest)
    }
}

fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn us(x: u32) -> Duration {
    Duration::from_micros(u64::from(x))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
