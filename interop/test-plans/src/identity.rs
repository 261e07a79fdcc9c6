//! Who a node is: its id (from the hostname `nodeN`, or `--node-id`), its Ed25519 key (the
//! little-endian id as the secret key seed) and its addresses.

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};

use crate::script::NodeId;

/// The Ed25519 keypair of a node: a 32-byte seed holding the node id as a little-endian i32
/// in its first 4 bytes, zeros after (test-specs/implementation.md, "Peer IDs").
pub fn keypair(node: NodeId) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&node.to_le_bytes());
    Keypair::ed25519_from_bytes(seed).expect("any 32 bytes are an Ed25519 secret key")
}

/// The peer id of a node.
pub fn peer_id(node: NodeId) -> PeerId {
    keypair(node).public().to_peer_id()
}

/// Parses a hostname of the form `nodeN`.
pub fn node_id_from_hostname(hostname: &str) -> Result<NodeId, String> {
    hostname
        .strip_prefix("node")
        .and_then(|n| n.parse::<NodeId>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("hostname {hostname:?} is not of the form nodeN"))
}

/// This machine's hostname (`gethostname`, which Shadow emulates).
pub fn hostname() -> Result<String, String> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return Err(format!("gethostname: {}", std::io::Error::last_os_error()));
    }
    let len = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..len].to_vec()).map_err(|e| format!("hostname: {e}"))
}

/// Where nodes listen and are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Under Shadow (or any network where `nodeN` resolves): every node listens on
    /// `0.0.0.0:9000` and node M is `nodeM:9000`.
    Hostnames,
    /// One machine: node N listens on `127.0.0.1:(base+N)`, `base` 9000 unless
    /// `--port-base` says otherwise.
    Loopback {
        /// The port of node 0.
        base: u16,
    },
}

/// The TCP port of node `node`.
pub fn port(network: Network, node: NodeId) -> Result<u16, String> {
    match network {
        Network::Hostnames => Ok(9000),
        Network::Loopback { base } => u16::try_from(i64::from(base) + i64::from(node))
            .map_err(|_| format!("node {node} has no loopback port ({base} + id > 65535)")),
    }
}

/// The address a node listens on.
pub fn listen_addr(network: Network, node: NodeId) -> Result<Multiaddr, String> {
    let host = match network {
        Network::Hostnames => "0.0.0.0",
        Network::Loopback { .. } => "127.0.0.1",
    };
    format!("/ip4/{host}/tcp/{}", port(network, node)?)
        .parse()
        .map_err(|e| format!("listen address: {e}"))
}

/// The TCP address of node `node` (without `/p2p`): resolves `nodeM` in
/// [`Network::Hostnames`].
pub async fn dial_addr(network: Network, node: NodeId) -> Result<Multiaddr, String> {
    let port = port(network, node)?;
    let ip = match network {
        Network::Loopback { .. } => std::net::IpAddr::from([127, 0, 0, 1]),
        Network::Hostnames => {
            let host = format!("node{node}:{port}");
            tokio::net::lookup_host(&host)
                .await
                .map_err(|e| format!("resolving {host}: {e}"))?
                .find(|a| a.is_ipv4())
                .ok_or_else(|| format!("{host} has no IPv4 address"))?
                .ip()
        }
    };
    format!("/ip4/{ip}/tcp/{port}")
        .parse()
        .map_err(|e| format!("dial address: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// The harness' own check of the key derivation (rust-libp2p node, `key.rs`): the SHA-256
    /// of the lines `>{id}:{peer id}\n` for ids 0..10000.
    #[test]
    fn peer_ids_match_the_harness() {
        let mut hasher = Sha256::new();
        for node in 0..10_000 {
            hasher.update(format!(">{node}:{}\n", peer_id(node)).as_bytes());
        }
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "11395ea896d00ca25f7f648ebb336488ee092096a5498d90d76b92eaec27867a"
        );
    }

    #[test]
    fn hostnames_and_ports() {
        assert_eq!(node_id_from_hostname("node0"), Ok(0));
        assert_eq!(node_id_from_hostname("node42"), Ok(42));
        assert!(node_id_from_hostname("nodex").is_err());
        assert!(node_id_from_hostname("host1").is_err());
        assert!(node_id_from_hostname("node-1").is_err());
        assert_eq!(port(Network::Hostnames, 7), Ok(9000));
        let loopback = Network::Loopback { base: 9000 };
        assert_eq!(port(loopback, 7), Ok(9007));
        assert_eq!(port(Network::Loopback { base: 20_000 }, 7), Ok(20_007));
        assert!(port(loopback, 60_000).is_err());
        assert_eq!(
            listen_addr(loopback, 3).unwrap().to_string(),
            "/ip4/127.0.0.1/tcp/9003"
        );
        assert_eq!(
            listen_addr(Network::Hostnames, 3).unwrap().to_string(),
            "/ip4/0.0.0.0/tcp/9000"
        );
    }
}
