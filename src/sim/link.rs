//! Links between nodes: latency models, jitter, loss and per-node upload bandwidth.

use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;

/// One-way latencies in milliseconds between four regions (North America, Europe, Asia,
/// Oceania), rough public-internet figures. Used by [`LatencyModel::Regions`] by default.
pub const DEFAULT_REGION_MATRIX_MS: [[u64; 4]; 4] = [
    [15, 45, 80, 85],
    [45, 10, 90, 130],
    [80, 90, 20, 60],
    [85, 130, 60, 10],
];

/// How the base one-way latency of a link is chosen (once, when the link is created).
#[derive(Debug, Clone, PartialEq)]
pub enum LatencyModel {
    /// Every link has this latency.
    Fixed(Duration),
    /// Each link draws its latency uniformly from `[min, max]`.
    Uniform {
        /// Smallest latency.
        min: Duration,
        /// Largest latency.
        max: Duration,
    },
    /// Nodes are spread uniformly over regions; a link's latency is the matrix entry of its
    /// endpoints' regions. The matrix must be square and non-empty.
    Regions(Vec<Vec<Duration>>),
}

impl LatencyModel {
    /// The region model with [`DEFAULT_REGION_MATRIX_MS`].
    pub fn default_regions() -> Self {
        LatencyModel::Regions(
            DEFAULT_REGION_MATRIX_MS
                .iter()
                .map(|row| row.iter().map(|ms| Duration::from_millis(*ms)).collect())
                .collect(),
        )
    }

    /// Number of regions nodes are spread over (1 unless [`LatencyModel::Regions`]).
    pub fn regions(&self) -> usize {
        match self {
            LatencyModel::Regions(m) => m.len().max(1),
            _ => 1,
        }
    }

    /// The smallest base latency a link can draw, in nanoseconds: the lookahead of parallel
    /// execution (jitter and upload time only add to it).
    pub(crate) fn min_latency(&self) -> u64 {
        match self {
            LatencyModel::Fixed(d) => nanos(*d),
            LatencyModel::Uniform { min, .. } => nanos(*min),
            LatencyModel::Regions(m) => {
                let k = self.regions();
                (0..k)
                    .flat_map(|a| (0..k).map(move |b| (a, b)))
                    .map(|(a, b)| m.get(a).and_then(|row| row.get(b)).map_or(0, |d| nanos(*d)))
                    .min()
                    .unwrap_or(0)
            }
        }
    }

    /// Draws the base latency of a link between nodes in regions `a` and `b`, in nanoseconds.
    pub(crate) fn sample(&self, rng: &mut StdRng, a: usize, b: usize) -> u64 {
        match self {
            LatencyModel::Fixed(d) => nanos(*d),
            LatencyModel::Uniform { min, max } => {
                let (lo, hi) = (nanos(*min), nanos(*max));
                if hi <= lo { lo } else { rng.gen_range(lo..=hi) }
            }
            LatencyModel::Regions(m) => {
                m.get(a).and_then(|row| row.get(b)).map_or(0, |d| nanos(*d))
            }
        }
    }
}

/// Properties shared by every link of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// Base one-way latency of each link.
    pub latency: LatencyModel,
    /// Extra delay drawn uniformly from `[0, jitter]` for each RPC. Links stay FIFO: an RPC
    /// never overtakes an earlier one on the same link, as on a TCP or QUIC stream.
    pub jitter: Duration,
    /// Probability that an RPC is lost (it still costs its sender upload time).
    pub loss: f64,
    /// Upload bandwidth of each node in bits per second; 0 means unlimited. A node's RPCs
    /// leave one after another, each taking `bytes * 8 / bandwidth`.
    pub upload_bps: u64,
    /// Download bandwidth of each node in bits per second; 0 means unlimited. What arrives
    /// at a node is taken in one after another, in order of arrival, each taking
    /// `bytes * 8 / bandwidth`; an idle downlink takes an RPC in while it is being uploaded,
    /// so it then adds no delay unless it is slower than the sender's uplink.
    pub download_bps: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: LatencyModel::Uniform {
                min: Duration::from_millis(20),
                max: Duration::from_millis(80),
            },
            jitter: Duration::from_millis(2),
            loss: 0.0,
            upload_bps: 50_000_000,
            download_bps: 50_000_000,
        }
    }
}

/// One direction of a connection, as seen from its sender.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    /// The receiving node.
    pub(crate) peer: u32,
    /// Low bits of the receiver's peer id fingerprint ([`super::peer_index::fingerprint`]):
    /// a send finds its link by this tag (confirmed by comparing the whole id), without a
    /// network-wide lookup. Fits in what was padding.
    pub(crate) tag: u32,
    /// Base one-way latency in nanoseconds.
    pub(crate) latency: u64,
    /// Arrival time of the last RPC sent on this link, to keep the link FIFO.
    pub(crate) last_arrival: u64,
}

impl LinkConfig {
    /// Serialisation time of `bytes` on a node's uplink, in nanoseconds.
    pub(crate) fn transmit_time(&self, bytes: u64) -> u64 {
        wire_time(bytes, self.upload_bps)
    }

    /// Time for a node's downlink to take in `bytes`, in nanoseconds.
    pub(crate) fn receive_time(&self, bytes: u64) -> u64 {
        wire_time(bytes, self.download_bps)
    }

    /// Draws the jitter of one RPC in nanoseconds.
    pub(crate) fn sample_jitter(&self, rng: &mut StdRng) -> u64 {
        let j = nanos(self.jitter);
        if j == 0 { 0 } else { rng.gen_range(0..=j) }
    }

    /// Decides whether one RPC is lost.
    pub(crate) fn sample_loss(&self, rng: &mut StdRng) -> bool {
        self.loss > 0.0 && rng.gen_bool(self.loss.min(1.0))
    }
}

/// Nanoseconds `bytes` take at `bps` bits per second (0: unlimited, no time), rounded down
/// (and truncated to 64 bits). Computed in 64 bits when `bytes * 8e9` fits (any RPC below
/// 2.3 GB), which gives the same quotient as 128 bits without a 128-bit division per RPC.
fn wire_time(bytes: u64, bps: u64) -> u64 {
    if bps == 0 {
        return 0;
    }
    match bytes.checked_mul(8 * 1_000_000_000) {
        Some(bit_nanos) => bit_nanos / bps,
        None => ((u128::from(bytes) * 8 * 1_000_000_000) / u128::from(bps)) as u64,
    }
}

/// A duration in whole nanoseconds, saturating.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn transmit_time_is_proportional_to_bytes() {
        let link = LinkConfig {
            upload_bps: 8_000_000,
            ..LinkConfig::default()
        };
        // 1 MB/s: 1000 bytes take 1 ms.
        assert_eq!(link.transmit_time(1000), 1_000_000);
        let unlimited = LinkConfig {
            upload_bps: 0,
            ..LinkConfig::default()
        };
        assert_eq!(unlimited.transmit_time(1000), 0);
    }

    /// The 64-bit path gives the 128-bit quotient, at its edge and beyond it.
    #[test]
    fn wire_time_matches_128_bit_arithmetic() {
        let reference = |bytes: u64, bps: u64| {
            ((u128::from(bytes) * 8 * 1_000_000_000) / u128::from(bps)) as u64
        };
        let edge = u64::MAX / 8_000_000_000;
        let mut rng = StdRng::seed_from_u64(4);
        let mut cases = vec![0, 1, 999, 1024, edge - 1, edge, edge + 1, u64::MAX];
        cases.extend((0..2000).map(|_| rng.gen_range(0..2 * edge)));
        for bytes in cases {
            for bps in [1, 7, 8_000_000, 50_000_000, 1_000_000_007, u64::MAX] {
                assert_eq!(
                    wire_time(bytes, bps),
                    reference(bytes, bps),
                    "{bytes} B at {bps}"
                );
            }
            assert_eq!(wire_time(bytes, 0), 0);
        }
    }

    #[test]
    fn region_latency_comes_from_the_matrix() {
        let mut rng = StdRng::seed_from_u64(1);
        let m = LatencyModel::default_regions();
        assert_eq!(m.regions(), 4);
        assert_eq!(m.sample(&mut rng, 0, 1), 45_000_000);
        assert_eq!(m.sample(&mut rng, 3, 3), 10_000_000);
        assert_eq!(m.min_latency(), 10_000_000);
    }

    /// The smallest latency of a model is never above a latency it draws.
    #[test]
    fn min_latency_bounds_every_draw() {
        let mut rng = StdRng::seed_from_u64(2);
        let uniform = LatencyModel::Uniform {
            min: Duration::from_millis(20),
            max: Duration::from_millis(80),
        };
        assert_eq!(uniform.min_latency(), 20_000_000);
        for _ in 0..1000 {
            assert!(uniform.sample(&mut rng, 0, 0) >= uniform.min_latency());
        }
        let inverted = LatencyModel::Uniform {
            min: Duration::from_millis(30),
            max: Duration::from_millis(10),
        };
        assert_eq!(inverted.sample(&mut rng, 0, 0), inverted.min_latency());
        let fixed = LatencyModel::Fixed(Duration::from_millis(7));
        assert_eq!(fixed.min_latency(), fixed.sample(&mut rng, 0, 0));
    }
}
