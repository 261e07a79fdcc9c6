//! Topologies: which nodes are connected, and in which region each node sits.

use rand::Rng;
use rand::rngs::StdRng;

/// How the initial connections are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyConfig {
    /// Target number of connections per node. Each node dials `ceil(connections / 2)`
    /// distinct random peers, so the mean degree is about `connections` and every node has at
    /// least half of it (and outbound peers for D_out).
    pub connections: usize,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig { connections: 20 }
    }
}

/// Assigns each of `n` nodes a region in `0..regions`, uniformly at random.
pub(crate) fn assign_regions(rng: &mut StdRng, n: usize, regions: usize) -> Vec<u8> {
    let regions = regions.clamp(1, 256);
    (0..n).map(|_| rng.gen_range(0..regions) as u8).collect()
}

/// The random graph: a list of (dialer, listener) pairs, each unordered pair at most once.
pub(crate) fn random_graph(rng: &mut StdRng, n: usize, connections: usize) -> Vec<(u32, u32)> {
    let dials = connections.div_ceil(2).min(n.saturating_sub(1));
    let mut adjacency: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut edges = Vec::with_capacity(n * dials);
    for a in 0..n {
        let mut made = 0;
        let mut attempts = 0;
        while made < dials && attempts < dials * 20 {
            attempts += 1;
            let b = rng.gen_range(0..n);
            if b == a || adjacency[a].contains(&(b as u32)) {
                continue;
            }
            adjacency[a].push(b as u32);
            adjacency[b].push(a as u32);
            edges.push((a as u32, b as u32));
            made += 1;
        }
    }
    edges
}

/// Picks up to `k` distinct nodes among `candidates` (in random order), excluding `exclude`.
pub(crate) fn pick_peers(
    rng: &mut StdRng,
    candidates: &[u32],
    k: usize,
    exclude: &[u32],
) -> Vec<u32> {
    let mut pool: Vec<u32> = candidates
        .iter()
        .copied()
        .filter(|c| !exclude.contains(c))
        .collect();
    let k = k.min(pool.len());
    for i in 0..k {
        let j = rng.gen_range(i..pool.len());
        pool.swap(i, j);
    }
    pool.truncate(k);
    pool
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn random_graph_has_target_mean_degree_and_no_duplicates() {
        let mut rng = StdRng::seed_from_u64(7);
        let edges = random_graph(&mut rng, 200, 20);
        assert_eq!(edges.len(), 200 * 10);
        let mut seen = std::collections::BTreeSet::new();
        for (a, b) in &edges {
            assert_ne!(a, b);
            assert!(seen.insert((*a.min(b), *a.max(b))), "duplicate edge");
        }
    }

    #[test]
    fn pick_peers_excludes_and_caps() {
        let mut rng = StdRng::seed_from_u64(1);
        let picked = pick_peers(&mut rng, &[1, 2, 3, 4], 10, &[2]);
        assert_eq!(picked.len(), 3);
        assert!(!picked.contains(&2));
    }
}
